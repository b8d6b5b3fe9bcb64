#include "columnar/parquet_values.h"

#include <cstring>

#include "columnar/types.h"

namespace pipeline::columnar::parquet {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;
constexpr int64_t kUnixEpochJulianDay = 2'440'588;

template <class T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <class T>
void Store(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

[[noreturn]] void OutOfRange(const char* what) { throw FormatError(std::string(what) + " out of range"); }

int64_t Int96Micros(const uint8_t* p) {
  uint64_t nanos = Load<uint64_t>(p);
  int64_t day = Load<int32_t>(p + 8);
  int64_t micros;
  if (nanos >= uint64_t{1} << 62 || __builtin_mul_overflow(day - kUnixEpochJulianDay, kMicrosPerDay, &micros) ||
      __builtin_add_overflow(micros, static_cast<int64_t>(nanos / 1000), &micros)) {
    OutOfRange("INT96 timestamp");
  }
  return micros;
}

// Applies op(raw value) -> int64/double for each value of `Width` bytes.
template <int Width, class Op>
void Each(const uint8_t* raw, int64_t n, uint8_t* out, Op op) {
  for (int64_t idx = 0; idx < n; ++idx) Store(out + idx * 8, op(raw + idx * Width));
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// Validates the multi-byte sequence at p (p[0] >= 0x80); returns its
// length, 0 when invalid.
size_t Utf8Sequence(const uint8_t* p, const uint8_t* end) {
  uint8_t lead = p[0];
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (length == 0 || lead > 0xF4 || static_cast<size_t>(end - p) < length) return 0;
  for (size_t idx = 1; idx < length; ++idx) {
    if (!IsContinuation(p[idx])) return 0;
  }
  if (lead == 0xE0 && p[1] < 0xA0) return 0;  // overlong
  if (lead == 0xED && p[1] > 0x9F) return 0;  // surrogate
  if (lead == 0xF0 && p[1] < 0x90) return 0;  // overlong
  if (lead == 0xF4 && p[1] > 0x8F) return 0;  // past U+10FFFF
  return length;
}

bool ValidUtf8(const uint8_t* p, const uint8_t* end) {
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    size_t length = Utf8Sequence(p, end);
    if (length == 0) return false;
    p += length;
  }
  return true;
}

bool AllAscii(const uint8_t* p, size_t n) {
  uint64_t bits = 0;
  size_t idx = 0;
  for (; idx + 8 <= n; idx += 8) bits |= Load<uint64_t>(p + idx);
  for (; idx < n; ++idx) bits |= p[idx];
  return (bits & 0x8080808080808080ULL) == 0;
}

}  // namespace

void ConvertFixed(Conversion conversion, const uint8_t* raw, int64_t n, uint8_t* out) {
  switch (conversion) {
    case Conversion::kNone:
      if (n) std::memcpy(out, raw, static_cast<size_t>(n) * 8);
      return;
    case Conversion::kInt32:
      return Each<4>(raw, n, out, [](const uint8_t* p) { return int64_t{Load<int32_t>(p)}; });
    case Conversion::kUint32:
      return Each<4>(raw, n, out, [](const uint8_t* p) { return int64_t{Load<uint32_t>(p)}; });
    case Conversion::kUint64:
      return Each<8>(raw, n, out, [](const uint8_t* p) {
        int64_t value = Load<int64_t>(p);
        if (value < 0) OutOfRange("unsigned 64-bit value");
        return value;
      });
    case Conversion::kFloat:
      return Each<4>(raw, n, out, [](const uint8_t* p) { return double{Load<float>(p)}; });
    case Conversion::kMillis:
      return Each<8>(raw, n, out, [](const uint8_t* p) {
        int64_t micros;
        if (__builtin_mul_overflow(Load<int64_t>(p), int64_t{1000}, &micros)) OutOfRange("timestamp");
        return micros;
      });
    case Conversion::kNanos:
      return Each<8>(raw, n, out, [](const uint8_t* p) {
        int64_t nanos = Load<int64_t>(p);
        return nanos / 1000 - (nanos % 1000 < 0 ? 1 : 0);
      });
    case Conversion::kDate:
      return Each<4>(raw, n, out, [](const uint8_t* p) {
        int64_t micros;
        if (__builtin_mul_overflow(int64_t{Load<int32_t>(p)}, kMicrosPerDay, &micros)) OutOfRange("date");
        return micros;
      });
    case Conversion::kInt96: return Each<12>(raw, n, out, Int96Micros);
  }
}

bool ValidUtf8Strings(const uint8_t* chars, const uint32_t* ends, int64_t k) {
  if (k == 0 || AllAscii(chars + ends[0], ends[k] - ends[0])) return true;
  for (int64_t idx = 0; idx < k; ++idx) {
    if (!ValidUtf8(chars + ends[idx], chars + ends[idx + 1])) return false;
  }
  return true;
}

}  // namespace pipeline::columnar::parquet
