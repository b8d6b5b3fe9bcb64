// The SIMD half of the CSV reader: classifies 64-byte blocks of text into
// bitmasks of quote, delimiter and newline characters.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeline::columnar {

// For each of `blocks` 64-byte blocks at `data` (reads exactly 64 * blocks
// bytes), bit i of quotes[b] / delims[b] / newlines[b] is
// set when byte 64*b+i equals `quote` / `delim` / '\n'.
void ClassifyCsvBlocks(const uint8_t* data, size_t blocks, uint8_t quote, uint8_t delim,
                       uint64_t* quotes, uint64_t* delims, uint64_t* newlines);

// Bit i of the result is the XOR of bits 0..i of `bits`: with `bits` the quote
// positions, it marks the bytes inside quotes (opening quote included).
inline uint64_t PrefixXor(uint64_t bits) {
  bits ^= bits << 1;
  bits ^= bits << 2;
  bits ^= bits << 4;
  bits ^= bits << 8;
  bits ^= bits << 16;
  bits ^= bits << 32;
  return bits;
}

// Occurrences of `byte` in data[0, n) (reads exactly n bytes).
size_t CountByte(const uint8_t* data, size_t n, uint8_t byte);

// True when no byte of data[0, n) has its high bit set.
bool IsAscii(const uint8_t* data, size_t n);

}  // namespace pipeline::columnar
