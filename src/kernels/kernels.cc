// Bitmaps (popcount, and/or/not), filtering by a selection (compaction) and
// the dispatched target's name. The other families live in kernels_*.cc.

#include <cstring>

#include "kernels/kernels.h"

#ifndef PIPE_KERNELS_KERNELS_CC_ONCE
#define PIPE_KERNELS_KERNELS_CC_ONCE
namespace pipeline::kernels {
enum class BitmapOp : int { kAnd, kOr, kAndNot, kNot };
}  // namespace pipeline::kernels
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {

int64_t DispatchedTarget() { return HWY_TARGET; }

int64_t CountSetImpl(const uint64_t* bits, int64_t n) {
  const hn::ScalableTag<uint64_t> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t full_words = n / kWordRows;
  auto counts = hn::Zero(d);
  int64_t word = 0;
  for (; word + lanes <= full_words; word += lanes) {
    counts = hn::Add(counts, hn::PopulationCount(hn::LoadU(d, bits + word)));
  }
  int64_t total = static_cast<int64_t>(hn::GetLane(hn::SumOfLanes(d, counts)));
  for (; word < full_words; ++word) total += static_cast<int64_t>(hwy::PopCount(bits[word]));
  if (n % kWordRows != 0) {
    total += static_cast<int64_t>(hwy::PopCount(bits[full_words] & LowBits(n % kWordRows)));
  }
  return total;
}

// out = op(a, b) word by word; the last word loses its bits past n.
template <class Op>
HWY_INLINE void BitmapLoop(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n,
                           const Op& op) {
  const hn::ScalableTag<uint64_t> d;
  const hn::CappedTag<uint64_t, 1> d1;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t words = BitmapWords(n);
  int64_t word = 0;
  for (; word + lanes <= words; word += lanes) {
    hn::StoreU(op(hn::LoadU(d, a + word), hn::LoadU(d, b + word)), d, out + word);
  }
  for (; word < words; ++word) {
    hn::StoreU(op(hn::LoadU(d1, a + word), hn::LoadU(d1, b + word)), d1, out + word);
  }
  if (n % kWordRows != 0) out[words - 1] &= LowBits(n % kWordRows);
}

void BitmapOpImpl(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n, BitmapOp op) {
  switch (op) {
    case BitmapOp::kAnd:
      return BitmapLoop(a, b, out, n, [](auto x, auto y) { return hn::And(x, y); });
    case BitmapOp::kOr:
      return BitmapLoop(a, b, out, n, [](auto x, auto y) { return hn::Or(x, y); });
    case BitmapOp::kAndNot:
      return BitmapLoop(a, b, out, n, [](auto x, auto y) { return hn::AndNot(y, x); });
    case BitmapOp::kNot:
      return BitmapLoop(a, a, out, n, [](auto x, auto) { return hn::Not(x); });
  }
}

// 64-bit lanes with AVX-512: the register form of vcompresspd/q, stored
// whole while a whole vector still fits in the `total` outputs, and
// CompressBlendedStore (exact) near the end. Highway 1.0.3's Compress for
// 64-bit lanes is a table lookup (2 GB/s until -fmerge-all-constants kept
// GCC from copying the table to the stack per call).
#undef PIPE_KERNELS_NATIVE_COMPRESS64
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define PIPE_KERNELS_NATIVE_COMPRESS64 1
template <typename T>
HWY_INLINE int64_t CompactWordNative(const T* values, uint64_t sel, int64_t rows, int64_t total,
                                     int64_t written, T* out) {
  const hn::ScalableTag<T> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t offset = 0; offset < rows; offset += lanes) {
    const uint64_t bits = (sel >> offset) & LowBits(lanes);
    if (bits == 0) continue;
    const auto v = hn::LoadU(d, values + offset);
    if (written + lanes <= total) {
      const auto packed = _mm512_maskz_compress_epi64(static_cast<__mmask8>(bits), hn::BitCast(du, v).raw);
      hn::StoreU(hn::BitCast(d, hn::VFromD<decltype(du)>{packed}), d, out + written);
      written += static_cast<int64_t>(hwy::PopCount(bits));
    } else {
      written += static_cast<int64_t>(hn::CompressBlendedStore(v, MaskFromBits(d, bits), d, out + written));
    }
  }
  return written;
}
#else
#define PIPE_KERNELS_NATIVE_COMPRESS64 0
#endif

// BMI2 (AVX2 and up): bytes compact 8 at a time with PEXT, selection bits
// widened to byte masks with PDEP; 8 bytes stored while they fit in `total`.
#undef PIPE_KERNELS_BMI2
#if HWY_ARCH_X86 && (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
#define PIPE_KERNELS_BMI2 1
HWY_INLINE int64_t CompactWordBytes(const uint8_t* values, uint64_t sel, int64_t rows, int64_t total,
                                    int64_t written, uint8_t* out) {
  for (int64_t offset = 0; offset < rows; offset += 8) {
    const uint64_t bits = (sel >> offset) & 0xFF;
    if (bits == 0) continue;
    uint64_t bytes;
    std::memcpy(&bytes, values + offset, sizeof(bytes));  // the tail reads the input padding
    const uint64_t packed = _pext_u64(bytes, _pdep_u64(bits, 0x0101010101010101ULL) * 0xFF);
    const int64_t count = static_cast<int64_t>(hwy::PopCount(bits));
    std::memcpy(out + written, &packed, written + 8 <= total ? 8 : static_cast<size_t>(count));
    written += count;
  }
  return written;
}
#else
#define PIPE_KERNELS_BMI2 0
#endif

// Whole selected words are copied, empty ones skipped; the others go
// through the native compress or PEXT where there is one, else one selected
// row at a time (a find-first-set loop: 26 GB/s for doubles at 50% selected
// on AVX2, as fast as Highway's Compress there and 3-10x faster than it on
// SSSE3 and SCALAR).
template <typename T>
HWY_INLINE int64_t CompactValues(const T* values, const uint64_t* selection, int64_t n, T* out) {
  [[maybe_unused]] const int64_t total =
      PIPE_KERNELS_NATIVE_COMPRESS64 || PIPE_KERNELS_BMI2 ? CountBits(selection, n) : 0;
  int64_t written = 0;
  for (int64_t base = 0; base < n; base += kWordRows) {
    const int64_t rows = n - base < kWordRows ? n - base : kWordRows;
    uint64_t sel = selection[base / kWordRows] & LowBits(rows);
    PrefetchWord(values, base);
    if (sel == 0) continue;
    if (sel == ~uint64_t{0}) {
      std::memcpy(out + written, values + base, kWordRows * sizeof(T));
      written += kWordRows;
      continue;
    }
#if PIPE_KERNELS_NATIVE_COMPRESS64
    if constexpr (sizeof(T) == 8) {
      written = CompactWordNative(values + base, sel, rows, total, written, out);
      continue;
    }
#endif
#if PIPE_KERNELS_BMI2
    if constexpr (sizeof(T) == 1) {
      written = CompactWordBytes(values + base, sel, rows, total, written, out);
      continue;
    }
#endif
    for (; sel != 0; sel &= sel - 1) {
      out[written++] = values[base + hwy::Num0BitsBelowLS1Bit_Nonzero64(sel)];
    }
  }
  return written;
}

int64_t CompactI64(const int64_t* values, const uint64_t* selection, int64_t n, int64_t* out) {
  return CompactValues(values, selection, n, out);
}
int64_t CompactF64(const double* values, const uint64_t* selection, int64_t n, double* out) {
  return CompactValues(values, selection, n, out);
}
int64_t CompactU8(const uint8_t* values, const uint64_t* selection, int64_t n, uint8_t* out) {
  return CompactValues(values, selection, n, out);
}

// The bits of `x` where `mask` is set, packed into the low bits.
HWY_INLINE uint64_t ExtractBits(uint64_t x, uint64_t mask) {
#if PIPE_KERNELS_BMI2
  return _pext_u64(x, mask);
#else
  uint64_t result = 0;
  for (int out_bit = 0; mask != 0; mask &= mask - 1, ++out_bit) {
    result |= ((x >> hwy::Num0BitsBelowLS1Bit_Nonzero64(mask)) & 1) << out_bit;
  }
  return result;
#endif
}

int64_t CompactBitmapImpl(const uint64_t* bits, const uint64_t* selection, int64_t n,
                          uint64_t* out) {
  uint64_t pending = 0;  // the next output word, `fill` bits of it set so far
  int64_t fill = 0;
  int64_t out_word = 0;
  int64_t kept_rows = 0;
  for (int64_t base = 0; base < n; base += kWordRows) {
    const int64_t rows = n - base < kWordRows ? n - base : kWordRows;
    const uint64_t sel = selection[base / kWordRows] & LowBits(rows);
    if (sel == 0) continue;
    const int64_t count = static_cast<int64_t>(hwy::PopCount(sel));
    kept_rows += count;
    const uint64_t kept = bits == nullptr ? LowBits(count) : ExtractBits(bits[base / kWordRows], sel);
    pending |= kept << fill;
    if (fill + count >= kWordRows) {
      out[out_word++] = pending;
      pending = fill == 0 ? 0 : kept >> (kWordRows - fill);
      fill = fill + count - kWordRows;
    } else {
      fill += count;
    }
  }
  if (fill > 0) out[out_word++] = pending;
  return kept_rows;
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(DispatchedTarget);
HWY_EXPORT(CountSetImpl);
HWY_EXPORT(BitmapOpImpl);
HWY_EXPORT(CompactI64);
HWY_EXPORT(CompactF64);
HWY_EXPORT(CompactU8);
HWY_EXPORT(CompactBitmapImpl);

namespace {

void FillOnes(uint64_t* out, int64_t n) {
  const int64_t words = BitmapWords(n);
  for (int64_t word = 0; word < words; ++word) out[word] = ~uint64_t{0};
  if (n % 64 != 0) out[words - 1] = (uint64_t{1} << (n % 64)) - 1;
}

// n == 0 may come with nullptr outputs: no memmove then (UB even
// for 0 bytes).
void CopyBits(const uint64_t* a, uint64_t* out, int64_t n) {
  const int64_t words = BitmapWords(n);
  if (out != a && words > 0) std::memmove(out, a, static_cast<size_t>(words) * sizeof(uint64_t));
  if (n % 64 != 0) out[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
}

void FillZeros(uint64_t* out, int64_t n) {
  for (int64_t word = 0; word < BitmapWords(n); ++word) out[word] = 0;
}

}  // namespace

const char* TargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(DispatchedTarget)()); }

int64_t CountSet(const uint64_t* bits, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(CountSetImpl)(bits, n);
}
int64_t CountValid(const uint64_t* validity, int64_t n) {
  return validity == nullptr ? n : CountSet(validity, n);
}
int64_t CountNulls(const uint64_t* validity, int64_t n) { return n - CountValid(validity, n); }

void BitmapAnd(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n) {
  if (a == nullptr && b == nullptr) return FillOnes(out, n);
  if (a == nullptr || b == nullptr) return CopyBits(a == nullptr ? b : a, out, n);
  HWY_DYNAMIC_DISPATCH(BitmapOpImpl)(a, b, out, n, BitmapOp::kAnd);
}
void BitmapOr(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n) {
  if (a == nullptr || b == nullptr) return FillOnes(out, n);
  HWY_DYNAMIC_DISPATCH(BitmapOpImpl)(a, b, out, n, BitmapOp::kOr);
}
void BitmapAndNot(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n) {
  if (b == nullptr) return FillZeros(out, n);
  if (a == nullptr) return BitmapNot(b, out, n);
  HWY_DYNAMIC_DISPATCH(BitmapOpImpl)(a, b, out, n, BitmapOp::kAndNot);
}
void BitmapNot(const uint64_t* a, uint64_t* out, int64_t n) {
  if (a == nullptr) return FillZeros(out, n);
  HWY_DYNAMIC_DISPATCH(BitmapOpImpl)(a, nullptr, out, n, BitmapOp::kNot);
}

int64_t Compact(const int64_t* values, const uint64_t* selection, int64_t n, int64_t* out) {
  return HWY_DYNAMIC_DISPATCH(CompactI64)(values, selection, n, out);
}
int64_t Compact(const double* values, const uint64_t* selection, int64_t n, double* out) {
  return HWY_DYNAMIC_DISPATCH(CompactF64)(values, selection, n, out);
}
int64_t Compact(const uint8_t* values, const uint64_t* selection, int64_t n, uint8_t* out) {
  return HWY_DYNAMIC_DISPATCH(CompactU8)(values, selection, n, out);
}
int64_t CompactBitmap(const uint64_t* bits, const uint64_t* selection, int64_t n, uint64_t* out) {
  return HWY_DYNAMIC_DISPATCH(CompactBitmapImpl)(bits, selection, n, out);
}

int64_t CompactStrings(const uint32_t* offsets, const char* chars, const uint64_t* selection,
                       int64_t n, uint32_t* out_offsets, char* out_chars) {
  int64_t kept = 0;
  uint32_t size = 0;
  out_offsets[0] = 0;
  for (int64_t base = 0; base < n; base += 64) {
    uint64_t sel = selection[base / 64];
    if (n - base < 64) sel &= (uint64_t{1} << (n - base)) - 1;
    for (; sel != 0; sel &= sel - 1) {
      const int64_t row = base + hwy::Num0BitsBelowLS1Bit_Nonzero64(sel);
      const uint32_t length = offsets[row + 1] - offsets[row];
      if (length > 0) std::memcpy(out_chars + size, chars + offsets[row], length);
      size += length;
      out_offsets[++kept] = size;
    }
  }
  return kept;
}

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
