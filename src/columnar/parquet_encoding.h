// Bit-level Parquet encodings shared by the reader and the writer: bit
// packing, the RLE / bit-packed hybrid (levels and dictionary indices),
// DELTA_BINARY_PACKED and BYTE_STREAM_SPLIT decoding.
//
// Decoders read only inside the [data, data + size) they are given and throw
// columnar::FormatError (message without a file name) when it ends early or
// holds an impossible value. Encoders write into caller-sized memory; each
// has a Max*Size bound.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeline::columnar::parquet {

// Bits needed for values 0..max_value (0 for max_value 0).
int BitWidth(uint64_t max_value);

// Set bits among bits [offset, offset + n) of a bitmap.
int64_t CountSetBits(const uint64_t* bitmap, int64_t offset, int64_t n);

// ---- writing ----

// Writes `value` as an unsigned LEB128 varint; returns the bytes written (<= 10).
size_t PutVarint(uint64_t value, uint8_t* out);

// Packs n bools (one byte each, 0 or 1) LSB-first into (n + 7) / 8 bytes.
void PackBools(const uint8_t* values, int64_t n, uint8_t* out);

// Definition levels (bit width 1) of `n` rows starting at bit `offset` of a
// validity bitmap (nullptr = all valid), as an RLE/bit-packed hybrid without
// the length prefix: one RLE run when all are valid, else one bit-packed run
// that is the bitmap itself.
size_t MaxDefinitionLevelsSize(int64_t n);
size_t EncodeDefinitionLevels(const uint64_t* validity, int64_t offset, int64_t n, uint8_t* out);

// RLE/bit-packed hybrid of n values < 2^bit_width (bit_width 0..32), groups of
// eight aligned to values[0]; two or more equal groups in a row become an RLE
// run, the rest bit-packed runs.
size_t MaxRleHybridSize(int64_t n, int bit_width);
size_t EncodeRleHybrid(const uint32_t* values, int64_t n, int bit_width, uint8_t* out);

// ---- reading ----

// Reads an unsigned varint at *pos (< end), advancing *pos.
uint64_t GetVarint(const uint8_t** pos, const uint8_t* end);

// Unpacks n LSB-first packed bools from (n + 7) / 8 bytes into 0/1 bytes.
void UnpackBools(const uint8_t* data, int64_t n, uint8_t* out);

// Decodes n definition levels (bit width 1, RLE/bit-packed hybrid without a
// length prefix) into bits [offset, offset + n) of `bitmap`, which must be
// zero there (no bit outside the range is touched). Returns the number of 1
// levels (valid rows).
int64_t DecodeDefinitionLevels(const uint8_t* data, size_t size, int64_t n, uint64_t* bitmap, int64_t offset);

// Decodes RLE/bit-packed hybrid values of bit_width 0..32.
class RleHybridDecoder {
 public:
  RleHybridDecoder(const uint8_t* data, size_t size, int bit_width);

  // Writes exactly n values; throws when the data ends first.
  void Decode(uint32_t* out, int64_t n);

 private:
  void NextRun();

  const uint8_t* pos_;
  const uint8_t* end_;
  int bit_width_;
  int64_t repeat_left_ = 0;
  uint32_t repeat_value_ = 0;
  int64_t literal_left_ = 0;   // values left in the bit-packed run
  int64_t literal_index_ = 0;  // next value's index inside the run
  const uint8_t* literal_data_ = nullptr;
  size_t literal_bytes_ = 0;
};

// DELTA_BINARY_PACKED: decodes exactly `count` values (the header must say
// so) into out as 64-bit two's complement (INT32 readers truncate). Returns
// the bytes consumed (up to the end of the last miniblock holding values).
size_t DecodeDeltaBinaryPacked(const uint8_t* data, size_t size, int64_t count, uint64_t* out);

// BYTE_STREAM_SPLIT: the first n of the values of `width` bytes held in
// `width` streams of `stride` bytes each (stride >= n).
void DecodeByteStreamSplit(const uint8_t* data, int64_t stride, int64_t n, int width, uint8_t* out);

}  // namespace pipeline::columnar::parquet
