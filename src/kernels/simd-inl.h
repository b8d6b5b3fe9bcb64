// Per-target helpers shared by the kernel files: included once per SIMD
// target from each kernels_*.cc after hwy/highway.h (hence the toggled guard,
// as Highway's own -inl.h headers do).
#if defined(PIPE_KERNELS_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PIPE_KERNELS_SIMD_INL_H_
#undef PIPE_KERNELS_SIMD_INL_H_
#else
#define PIPE_KERNELS_SIMD_INL_H_
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows per validity word; the loops walk words so that each vector's bits
// are a shift away. Lanes(d) divides 64 on every x86 target.
constexpr int64_t kWordRows = 64;

HWY_INLINE uint64_t LowBits(int64_t count) {
  return count >= 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
}

// The validity bits of word `word` restricted to the `rows` rows that exist.
HWY_INLINE uint64_t ValidityWord(const uint64_t* validity, int64_t word, int64_t rows) {
  return validity == nullptr ? LowBits(rows) : validity[word] & LowBits(rows);
}

// The mask type of D (MFromD is missing on the scalar target of 1.0.3).
template <class D>
using MaskOf = decltype(hn::FirstN(D(), 0));

// Lane i of the mask is bit i of `bits` (only the low Lanes(d) bits count).
template <class D>
HWY_INLINE MaskOf<D> MaskFromBits(D d, uint64_t bits) {
  uint8_t bytes[8];
  std::memcpy(bytes, &bits, sizeof(bits));  // little-endian, as LoadMaskBits wants
  return hn::LoadMaskBits(d, bytes);
}

// Bit i of the result is lane i of the mask; higher bits are 0.
template <class D>
HWY_INLINE uint64_t BitsFromMask(D d, MaskOf<D> mask) {
  uint8_t bytes[8] = {0};
  hn::StoreMaskBits(d, mask, bytes);
  uint64_t bits;
  std::memcpy(&bits, bytes, sizeof(bits));
  return bits & LowBits(static_cast<int64_t>(hn::Lanes(d)));
}

// a >= b and a <= b; 1.0.3 lacks them for int64 lanes on x86, where
// !(a < b) is the same thing (no NaN).
template <class V>
HWY_INLINE auto GreaterEq(V a, V b) {
  if constexpr (hwy::IsFloat<hn::TFromV<V>>()) {
    return hn::Ge(a, b);
  } else {
    return hn::Not(hn::Lt(a, b));
  }
}
template <class V>
HWY_INLINE auto LessEq(V a, V b) {
  return GreaterEq(b, a);
}

// Masking through a mask *vector* (vpmovm2q + a logic op): on the Zen 5 we
// measured, AVX-512 zero- or merge-masked moves, loads and adds run at a
// third of the speed of the unmasked ones (16 vs 44 GB/s for a masked sum),
// and IfThenElse/IfThenElseZero compile to exactly those. Elsewhere this is
// what IfThenElseZero does anyway.
template <class D, class V>
HWY_INLINE V ZeroUnless(D d, MaskOf<D> mask, V v) {
  return hn::And(v, hn::VecFromMask(d, mask));
}
template <class D, class V>
HWY_INLINE V Select(D d, MaskOf<D> mask, V yes, V no) {
  return hn::IfVecThenElse(hn::VecFromMask(d, mask), yes, no);
}

using AllValid = std::true_type;
using SomeInvalid = std::false_type;

// Software prefetch this far ahead of a streamed column. The hardware
// prefetchers alone left a range scan at 40 GB/s on the Zen 5 we measured;
// prefetching 8-16 KiB ahead brought it to 52 GB/s, near the 57 GB/s of a
// bare 4-accumulator sum (1-4 KiB: little or no gain). Prefetches past the
// end of the array are harmless (they never fault).
constexpr int64_t kPrefetchBytes = 8192;

// Prefetches the cache lines of rows [row, row + 64) of `stream`, shifted
// kPrefetchBytes ahead.
template <typename T>
HWY_INLINE void PrefetchWord(const T* stream, int64_t row) {
  if (stream == nullptr) return;
  const char* bytes = reinterpret_cast<const char*>(stream + row) + kPrefetchBytes;
  for (size_t offset = 0; offset < kWordRows * sizeof(T); offset += 64) hwy::Prefetch(bytes + offset);
}

// Calls visit(row, bits, all_valid) for each vector of Lanes(d) rows
// starting at `row` (a multiple of Lanes(d)) of [begin, end), begin a
// multiple of 64, word by word, prefetching `stream` (the column being read;
// may be nullptr) ahead. all_valid is AllValid for whole vectors of a column
// without validity (the caller may skip masking: it is a compile-time type),
// else SomeInvalid with the rows' validity in the low bits of `bits` (0 for
// rows >= end). The last vector may extend past `end`: its loads read the
// input padding and its extra lanes have 0 bits.
template <class D, typename T, class Visit>
HWY_INLINE void ForEachVector(D d, const uint64_t* validity, int64_t begin, int64_t end,
                              const T* stream, const Visit& visit) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t base = begin; base < end; base += kWordRows) {
    PrefetchWord(stream, base);
    const int64_t rows = end - base < kWordRows ? end - base : kWordRows;
    if (validity == nullptr && rows == kWordRows) {
      for (int64_t offset = 0; offset < kWordRows; offset += lanes) {
        visit(base + offset, ~uint64_t{0}, AllValid());
      }
      continue;
    }
    const uint64_t bits = ValidityWord(validity, base / kWordRows, rows);
    for (int64_t offset = 0; offset < rows; offset += lanes) {
      visit(base + offset, bits >> offset, SomeInvalid());
    }
  }
}

// v with the lanes whose bit is 0 zeroed, unless all_valid says there are none.
template <class D, class V, class Valid>
HWY_INLINE V ZeroInvalid(D d, uint64_t bits, Valid, V v) {
  if constexpr (Valid::value) {
    return v;
  } else {
    return ZeroUnless(d, MaskFromBits(d, bits), v);
  }
}

// Number of 1 bits among the first n bits (scalar POPCNT: a bitmap is 1/64
// of its column, so this is never the bottleneck of a scan).
HWY_INLINE int64_t CountBits(const uint64_t* bits, int64_t n) {
  int64_t total = 0;
  const int64_t full_words = n / kWordRows;
  for (int64_t word = 0; word < full_words; ++word) {
    total += static_cast<int64_t>(hwy::PopCount(bits[word]));
  }
  if (n % kWordRows != 0) {
    total += static_cast<int64_t>(hwy::PopCount(bits[full_words] & LowBits(n % kWordRows)));
  }
  return total;
}

// Writes the first `count` lanes of v to out (count < Lanes(d)), never past.
template <class D>
HWY_INLINE void StorePartial(D d, hn::VFromD<D> v, int64_t count, hn::TFromD<D>* out) {
  HWY_ALIGN hn::TFromD<D> lanes[hn::MaxLanes(d)];
  hn::Store(v, d, lanes);
  std::memcpy(out, lanes, static_cast<size_t>(count) * sizeof(lanes[0]));
}

// Neumaier's compensated sum of the block sums: the vector lanes add up to
// kBlockRows rows each, so the error stays ~ (kBlockRows / lanes) ulp.
constexpr int64_t kBlockRows = 1024;
struct CompensatedSum {
  double sum = 0;
  double compensation = 0;
  // Once the sum is inf or NaN it stays so (IEEE), without the compensation
  // turning inf into NaN.
  void Add(double x) {
    const double t = sum + x;
    if (std::isfinite(t)) {
      compensation += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    }
    sum = t;
  }
  double Total() const { return std::isfinite(sum) ? sum + compensation : sum; }
};

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PIPE_KERNELS_SIMD_INL_H_
