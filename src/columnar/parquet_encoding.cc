#include "columnar/parquet_encoding.h"

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "columnar/types.h"

namespace pipeline::columnar::parquet {
namespace {

[[noreturn]] void Truncated() { throw FormatError("truncated page"); }

uint64_t Load64(const uint8_t* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

uint64_t LowMask(int bits) { return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

// The `width`-bit value at bit `bit`; p must hold 9 readable bytes from
// byte bit / 8.
inline uint64_t ReadPacked(const uint8_t* p, int width, uint64_t bit) {
  const uint8_t* at = p + (bit >> 3);
  int shift = static_cast<int>(bit & 7);
  uint64_t value = Load64(at) >> shift;
  if (width + shift > 64) value |= static_cast<uint64_t>(at[8]) << (64 - shift);
  return value & LowMask(width);
}

// Unpacks values [first, first + n) of `width` bits (0..64) from
// data[0, size), which must hold them all.
template <class T>
void UnpackBits(const uint8_t* data, size_t size, int width, int64_t first, int64_t n, T* out) {
  if (width == 0) {
    std::fill(out, out + n, T{0});
    return;
  }
  // Values whose 9-byte window stays inside the data are read in place.
  int64_t safe = size >= 9 ? static_cast<int64_t>((size - 9) * 8 / width) + 1 : 0;
  int64_t fast_end = std::clamp<int64_t>(safe, first, first + n);
  for (int64_t idx = first; idx < fast_end; ++idx) {
    *out++ = static_cast<T>(ReadPacked(data, width, static_cast<uint64_t>(idx) * width));
  }
  if (fast_end == first + n) return;
  // The tail (at most 9 bytes): read it from a zero-padded copy.
  size_t start = static_cast<size_t>((static_cast<uint64_t>(fast_end) * width) >> 3);
  uint8_t tail[32] = {};
  std::memcpy(tail, data + start, std::min<size_t>(size - start, 16));
  for (int64_t idx = fast_end; idx < first + n; ++idx) {
    *out++ = static_cast<T>(ReadPacked(tail, width, static_cast<uint64_t>(idx) * width - start * 8));
  }
}

// Unpacks `groups` groups of eight W-bit values (W bytes each).
template <int W>
void UnpackGroups(const uint8_t* in, int64_t groups, uint32_t* out) {
  using Acc = std::conditional_t<(W <= 8), uint64_t, unsigned __int128>;
  constexpr uint32_t kMask = (uint32_t{1} << W) - 1;
  for (int64_t group = 0; group < groups; ++group, in += W, out += 8) {
    Acc acc = 0;
    std::memcpy(&acc, in, W);
    for (int idx = 0; idx < 8; ++idx) out[idx] = static_cast<uint32_t>(acc >> (idx * W)) & kMask;
  }
}

using UnpackFn = void (*)(const uint8_t*, int64_t, uint32_t*);

template <int... W>
constexpr std::array<UnpackFn, sizeof...(W) + 1> UnpackTable(std::integer_sequence<int, W...>) {
  return {nullptr, &UnpackGroups<W + 1>...};
}
constexpr auto kUnpackGroups = UnpackTable(std::make_integer_sequence<int, 16>());

// ORs the low `bits` bits of `word` into bitmap bits [pos, pos + bits).
inline void OrBits(uint64_t* bitmap, int64_t pos, uint64_t word, int bits) {
  int64_t w = pos >> 6;
  int shift = static_cast<int>(pos & 63);
  bitmap[w] |= word << shift;
  if (shift && shift + bits > 64) bitmap[w + 1] |= word >> (64 - shift);
}

// ORs n bits from LSB-first bytes (ceil(n / 8) of them) into the bitmap.
void CopyBitsToBitmap(const uint8_t* src, int64_t n, uint64_t* bitmap, int64_t pos) {
  int64_t full = n / 64;
  for (int64_t idx = 0; idx < full; ++idx) OrBits(bitmap, pos + idx * 64, Load64(src + idx * 8), 64);
  int rest = static_cast<int>(n % 64);
  if (rest) {
    uint64_t word = 0;
    std::memcpy(&word, src + full * 8, (rest + 7) / 8);
    OrBits(bitmap, pos + full * 64, word & LowMask(rest), rest);
  }
}

void SetBits(uint64_t* bitmap, int64_t pos, int64_t n) {
  while (n > 0) {
    int shift = static_cast<int>(pos & 63);
    int take = static_cast<int>(std::min<int64_t>(64 - shift, n));
    bitmap[pos >> 6] |= LowMask(take) << shift;
    pos += take;
    n -= take;
  }
}

int64_t CountBits(const uint64_t* bitmap, int64_t pos, int64_t n) {
  int64_t count = 0;
  while (n > 0) {
    int shift = static_cast<int>(pos & 63);
    int take = static_cast<int>(std::min<int64_t>(64 - shift, n));
    count += std::popcount((bitmap[pos >> 6] >> shift) & LowMask(take));
    pos += take;
    n -= take;
  }
  return count;
}

// Bitmap bits [pos, pos + n) as LSB-first bytes, ceil(n / 8) of them.
void ExtractBits(const uint64_t* bitmap, int64_t pos, int64_t n, uint8_t* out) {
  for (int64_t done = 0; done < n; done += 64) {
    int take = static_cast<int>(std::min<int64_t>(64, n - done));
    int64_t at = pos + done;
    int shift = static_cast<int>(at & 63);
    uint64_t word = bitmap[at >> 6] >> shift;
    if (shift && shift + take > 64) word |= bitmap[(at >> 6) + 1] << (64 - shift);
    word &= LowMask(take);
    std::memcpy(out + done / 8, &word, static_cast<size_t>((take + 7) / 8));
  }
}

// Packs n values of bit_width <= 32 LSB-first; returns the bytes written.
size_t PackBits(const uint32_t* values, int64_t n, int bit_width, uint8_t* out) {
  uint8_t* start = out;
  uint64_t acc = 0;
  int bits = 0;
  for (int64_t idx = 0; idx < n; ++idx) {
    acc |= static_cast<uint64_t>(values[idx]) << bits;
    bits += bit_width;
    if (bits >= 32) {
      uint32_t low = static_cast<uint32_t>(acc);
      std::memcpy(out, &low, 4);
      out += 4;
      acc >>= 32;
      bits -= 32;
    }
  }
  for (; bits > 0; bits -= 8, acc >>= 8) *out++ = static_cast<uint8_t>(acc);
  return static_cast<size_t>(out - start);
}

// Whether the group of eight values at v is one value repeated; a partial
// last group of n < 8 values compares only those.
inline bool Uniform(const uint32_t* v, int64_t n) {
  if (n < 8) {
    for (int64_t idx = 1; idx < n; ++idx) {
      if (v[idx] != v[0]) return false;
    }
    return true;
  }
  uint32_t diff = 0;
  for (int idx = 1; idx < 8; ++idx) diff |= v[idx] ^ v[0];
  return diff == 0;
}

// Packs `groups` full groups of eight values of W bits (each < 2^W) into
// W bytes per group.
template <int W>
uint8_t* PackGroups(const uint32_t* v, int64_t groups, uint8_t* out) {
  using Acc = std::conditional_t<(W <= 8), uint64_t, unsigned __int128>;
  for (int64_t group = 0; group < groups; ++group, v += 8, out += W) {
    Acc acc = 0;
    for (int idx = 0; idx < 8; ++idx) acc |= static_cast<Acc>(v[idx]) << (idx * W);
    std::memcpy(out, &acc, W);
  }
  return out;
}

using PackFn = uint8_t* (*)(const uint32_t*, int64_t, uint8_t*);

template <int... W>
constexpr std::array<PackFn, sizeof...(W) + 1> PackTable(std::integer_sequence<int, W...>) {
  return {nullptr, &PackGroups<W + 1>...};
}
constexpr auto kPackGroups = PackTable(std::make_integer_sequence<int, 16>());

// Packs n values (the last group zero-padded) as whole groups.
uint8_t* PackLiteral(const uint32_t* values, int64_t n, int bit_width, uint8_t* out) {
  if (bit_width == 0) return out;
  int64_t full = n / 8;
  uint32_t last[8] = {};
  std::copy(values + full * 8, values + n, last);
  if (bit_width > 16) {
    out += PackBits(values, full * 8, bit_width, out);
    return n % 8 ? out + PackBits(last, 8, bit_width, out) : out;
  }
  out = kPackGroups[bit_width](values, full, out);
  return n % 8 ? kPackGroups[bit_width](last, 1, out) : out;
}

}  // namespace

int BitWidth(uint64_t max_value) { return max_value == 0 ? 0 : 64 - std::countl_zero(max_value); }

int64_t CountSetBits(const uint64_t* bitmap, int64_t offset, int64_t n) { return CountBits(bitmap, offset, n); }

size_t PutVarint(uint64_t value, uint8_t* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<uint8_t>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<uint8_t>(value);
  return n;
}

void PackBools(const uint8_t* values, int64_t n, uint8_t* out) {
  int64_t full = n / 8;
  for (int64_t idx = 0; idx < full; ++idx) {
    // Bytes holding 0/1: the multiply gathers bit 0 of each byte into the top byte.
    out[idx] = static_cast<uint8_t>((Load64(values + idx * 8) * 0x0102040810204080ULL) >> 56);
  }
  if (n % 8) {
    uint8_t last = 0;
    for (int64_t idx = full * 8; idx < n; ++idx) last |= static_cast<uint8_t>(values[idx] << (idx % 8));
    out[full] = last;
  }
}

size_t MaxDefinitionLevelsSize(int64_t n) { return 10 + static_cast<size_t>((n + 7) / 8); }

size_t EncodeDefinitionLevels(const uint64_t* validity, int64_t offset, int64_t n, uint8_t* out) {
  int64_t valid = validity ? CountBits(validity, offset, n) : n;
  if (valid == n || valid == 0) {
    size_t size = PutVarint(static_cast<uint64_t>(n) << 1, out);
    out[size++] = valid == n ? 1 : 0;
    return size;
  }
  uint64_t groups = static_cast<uint64_t>((n + 7) / 8);
  size_t size = PutVarint((groups << 1) | 1, out);
  ExtractBits(validity, offset, n, out + size);
  return size + groups;
}

size_t MaxRleHybridSize(int64_t n, int bit_width) {
  // Worst case: alternating literal and RLE runs, each with a header.
  int64_t groups = (n + 7) / 8;
  return static_cast<size_t>(groups) * (static_cast<size_t>(bit_width) + 10) + 16;
}

size_t EncodeRleHybrid(const uint32_t* values, int64_t n, int bit_width, uint8_t* out) {
  uint8_t* start = out;
  const int64_t groups = (n + 7) / 8;
  std::vector<uint8_t> uniform(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) uniform[g] = Uniform(values + g * 8, std::min<int64_t>(8, n - g * 8));
  // Whether an RLE run of two or more groups starts at group g.
  auto run_starts = [&](int64_t g) {
    return g + 1 < groups && uniform[g] && uniform[g + 1] && values[g * 8] == values[(g + 1) * 8];
  };
  int64_t g = 0;
  while (g < groups) {
    int64_t end = g + 1;
    if (run_starts(g)) {
      for (end = g + 2; end < groups && uniform[end] && values[end * 8] == values[g * 8];) ++end;
      int64_t count = std::min<int64_t>(n, end * 8) - g * 8;
      out += PutVarint(static_cast<uint64_t>(count) << 1, out);
      std::memcpy(out, &values[g * 8], static_cast<size_t>((bit_width + 7) / 8));
      out += (bit_width + 7) / 8;
    } else {
      while (end < groups && !run_starts(end)) ++end;
      out += PutVarint((static_cast<uint64_t>(end - g) << 1) | 1, out);
      out = PackLiteral(values + g * 8, std::min<int64_t>(n, end * 8) - g * 8, bit_width, out);
    }
    g = end;
  }
  return static_cast<size_t>(out - start);
}

uint64_t GetVarint(const uint8_t** pos, const uint8_t* end) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= end) Truncated();
    uint8_t byte = *(*pos)++;
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  throw FormatError("corrupt page (varint too long)");
}

void UnpackBools(const uint8_t* data, int64_t n, uint8_t* out) {
  for (int64_t idx = 0; idx < n; ++idx) out[idx] = (data[idx >> 3] >> (idx & 7)) & 1;
}

int64_t DecodeDefinitionLevels(const uint8_t* data, size_t size, int64_t n, uint64_t* bitmap, int64_t offset) {
  const uint8_t* pos = data;
  const uint8_t* end = data + size;
  int64_t done = 0;
  while (done < n) {
    uint64_t header = GetVarint(&pos, end);
    int64_t left = n - done;
    if (header & 1) {
      uint64_t groups = header >> 1;
      size_t avail = static_cast<size_t>(end - pos);
      int64_t take = groups >= static_cast<uint64_t>(left + 7) / 8 ? left : static_cast<int64_t>(groups) * 8;
      if (static_cast<size_t>((take + 7) / 8) > avail) Truncated();
      CopyBitsToBitmap(pos, take, bitmap, offset + done);
      pos += std::min<uint64_t>(groups, avail);
      done += take;
    } else {
      if (pos >= end) Truncated();
      uint8_t level = *pos++;
      if (level > 1) throw FormatError("corrupt page (definition level " + std::to_string(level) + " > 1)");
      int64_t take = static_cast<int64_t>(std::min<uint64_t>(header >> 1, static_cast<uint64_t>(left)));
      if (level) SetBits(bitmap, offset + done, take);
      done += take;
    }
  }
  return CountBits(bitmap, offset, n);
}

RleHybridDecoder::RleHybridDecoder(const uint8_t* data, size_t size, int bit_width)
    : pos_(data), end_(data + size), bit_width_(bit_width) {
  if (bit_width < 0 || bit_width > 32) throw FormatError("corrupt page (bit width " + std::to_string(bit_width) + ")");
}

void RleHybridDecoder::NextRun() {
  uint64_t header = GetVarint(&pos_, end_);
  constexpr uint64_t kMaxRun = uint64_t{1} << 40;  // far above any page's value count
  if (header & 1) {
    uint64_t groups = std::min(header >> 1, kMaxRun);
    size_t avail = static_cast<size_t>(end_ - pos_);
    uint64_t bytes = std::min<uint64_t>(groups * bit_width_, avail);
    uint64_t values = groups * 8;
    if (bit_width_) values = std::min<uint64_t>(values, bytes * 8 / bit_width_);
    literal_data_ = pos_;
    literal_bytes_ = bytes;
    literal_left_ = static_cast<int64_t>(values);
    literal_index_ = 0;
    pos_ += bytes;
  } else {
    int value_bytes = (bit_width_ + 7) / 8;
    if (end_ - pos_ < value_bytes) Truncated();
    uint32_t value = 0;
    std::memcpy(&value, pos_, static_cast<size_t>(value_bytes));
    pos_ += value_bytes;
    if (bit_width_ < 32 && (value >> bit_width_) != 0) throw FormatError("corrupt page (RLE value out of range)");
    repeat_value_ = value;
    repeat_left_ = static_cast<int64_t>(std::min(header >> 1, kMaxRun));
  }
}

void RleHybridDecoder::Decode(uint32_t* out, int64_t n) {
  while (n > 0) {
    if (repeat_left_ > 0) {
      int64_t take = std::min(repeat_left_, n);
      std::fill(out, out + take, repeat_value_);
      repeat_left_ -= take;
      out += take;
      n -= take;
    } else if (literal_left_ > 0) {
      int64_t take = std::min(literal_left_, n);
      if (bit_width_ >= 1 && bit_width_ <= 16 && literal_index_ % 8 == 0 && take >= 8) {
        take &= ~int64_t{7};  // whole groups, unpacked eight at a time
        kUnpackGroups[bit_width_](literal_data_ + literal_index_ / 8 * bit_width_, take / 8, out);
      } else {
        UnpackBits(literal_data_, literal_bytes_, bit_width_, literal_index_, take, out);
      }
      literal_index_ += take;
      literal_left_ -= take;
      out += take;
      n -= take;
    } else {
      if (pos_ >= end_) Truncated();
      NextRun();
    }
  }
}

size_t DecodeDeltaBinaryPacked(const uint8_t* data, size_t size, int64_t count, uint64_t* out) {
  const uint8_t* pos = data;
  const uint8_t* end = data + size;
  uint64_t block_size = GetVarint(&pos, end);
  uint64_t miniblocks = GetVarint(&pos, end);
  uint64_t total = GetVarint(&pos, end);
  uint64_t first = GetVarint(&pos, end);
  if (block_size == 0 || block_size % 128 != 0 || block_size > (1u << 20) || miniblocks == 0 ||
      block_size % miniblocks != 0 || (block_size / miniblocks) % 32 != 0) {
    throw FormatError("corrupt page (DELTA_BINARY_PACKED block header)");
  }
  if (total != static_cast<uint64_t>(count)) {
    throw FormatError("corrupt page (DELTA_BINARY_PACKED holds " + std::to_string(total) + " values, expected " +
                      std::to_string(count) + ")");
  }
  if (count == 0) return static_cast<size_t>(pos - data);
  const int64_t per_mini = static_cast<int64_t>(block_size / miniblocks);
  out[0] = (first >> 1) ^ (~(first & 1) + 1);
  int64_t done = 1;
  while (done < count) {
    uint64_t raw = GetVarint(&pos, end);
    uint64_t min_delta = (raw >> 1) ^ (~(raw & 1) + 1);
    if (static_cast<uint64_t>(end - pos) < miniblocks) Truncated();
    const uint8_t* widths = pos;
    pos += miniblocks;
    for (uint64_t mini = 0; mini < miniblocks && done < count; ++mini) {
      int width = widths[mini];
      if (width > 64) throw FormatError("corrupt page (DELTA_BINARY_PACKED bit width " + std::to_string(width) + ")");
      int64_t take = std::min(per_mini, count - done);
      size_t full = static_cast<size_t>(per_mini) * width / 8;
      size_t needed = static_cast<size_t>((take * width + 7) / 8);
      size_t avail = static_cast<size_t>(end - pos);
      if (avail < needed) Truncated();
      UnpackBits(pos, needed, width, 0, take, out + done);
      for (int64_t idx = done; idx < done + take; ++idx) out[idx] += out[idx - 1] + min_delta;
      pos += std::min(full, avail);
      done += take;
    }
  }
  return static_cast<size_t>(pos - data);
}

void DecodeByteStreamSplit(const uint8_t* data, int64_t stride, int64_t n, int width, uint8_t* out) {
  for (int stream = 0; stream < width; ++stream) {
    const uint8_t* src = data + stream * stride;
    for (int64_t idx = 0; idx < n; ++idx) out[idx * width + stream] = src[idx];
  }
}

}  // namespace pipeline::columnar::parquet
