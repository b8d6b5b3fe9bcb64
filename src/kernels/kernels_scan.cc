// Scans over one column: extremes, sums and moments, range and set
// selections.

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_scan.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {

// ------------------------------------------------------------ extremes

// Starts from (highest, lowest): the result has min <= max iff a row counted.
template <typename T>
HWY_INLINE void MinMaxLoop(const T* values, const uint64_t* validity, int64_t n, T* min, T* max) {
  const hn::ScalableTag<T> d;
  using Limits = std::numeric_limits<T>;
  auto vmin = hn::Set(d, Limits::has_infinity ? Limits::infinity() : Limits::max());
  auto vmax = hn::Set(d, Limits::has_infinity ? -Limits::infinity() : Limits::lowest());
  const auto highest = vmin;
  const auto lowest = vmax;
  ForEachVector(d, validity, 0, n, values, [&](int64_t row, uint64_t bits, auto all_valid) {
    const auto v = hn::LoadU(d, values + row);
    if constexpr (hwy::IsFloat<T>() || !decltype(all_valid)::value) {
      // Rows to skip (null, NaN) compete with the neutral values instead.
      auto keep = hn::Eq(v, v);
      if constexpr (!decltype(all_valid)::value) keep = hn::And(keep, MaskFromBits(d, bits));
      vmin = hn::Min(vmin, Select(d, keep, v, highest));
      vmax = hn::Max(vmax, Select(d, keep, v, lowest));
    } else {
      vmin = hn::Min(vmin, v);
      vmax = hn::Max(vmax, v);
    }
  });
  // Folded lane by lane: Highway 1.0's EMU128 MaxOfLanes starts from the
  // lowest finite value, so lanes of -inf came out as -DBL_MAX.
  HWY_ALIGN T lanes_min[hn::MaxLanes(d)], lanes_max[hn::MaxLanes(d)];
  hn::Store(vmin, d, lanes_min);
  hn::Store(vmax, d, lanes_max);
  *min = lanes_min[0];
  *max = lanes_max[0];
  for (size_t i = 1; i < hn::Lanes(d); ++i) {
    *min = std::min(*min, lanes_min[i]);
    *max = std::max(*max, lanes_max[i]);
  }
}

Int64MinMax MinMaxI64(const int64_t* values, const uint64_t* validity, int64_t n) {
  Int64MinMax result;
  int64_t min, max;
  MinMaxLoop(values, validity, n, &min, &max);
  if (min <= max) result = {min, max, true};
  return result;
}

DoubleMinMax MinMaxF64(const double* values, const uint64_t* validity, int64_t n) {
  DoubleMinMax result;
  double min, max;
  MinMaxLoop(values, validity, n, &min, &max);
  if (min <= max) result = {min, max, true};
  return result;
}

// ------------------------------------------------------------ sums

// Sums term(row) (a vector of doubles for the rows at `row`) over the valid
// rows: per block of kBlockRows in vector lanes, then the blocks compensated.
// With kSquares, also sums term(row)^2 into *squares.
template <bool kSquares, typename T, class Term>
HWY_INLINE double BlockedSum(const T* values, const uint64_t* validity, int64_t n, const Term& term,
                             double* squares) {
  const hn::ScalableTag<double> d;
  CompensatedSum sum, sum_sq;
  for (int64_t begin = 0; begin < n; begin += kBlockRows) {
    const int64_t end = n - begin < kBlockRows ? n : begin + kBlockRows;
    // Two accumulators each, swapped after every vector (the moves are free
    // at register renaming): two add chains in flight, not one.
    auto acc = hn::Zero(d), acc_other = hn::Zero(d);
    auto acc_sq = hn::Zero(d), acc_sq_other = hn::Zero(d);
    ForEachVector(d, validity, begin, end, values, [&](int64_t row, uint64_t bits, auto all_valid) {
      const auto t = ZeroInvalid(d, bits, all_valid, term(row));
      acc = hn::Add(acc, t);
      std::swap(acc, acc_other);
      if constexpr (kSquares) {
        acc_sq = hn::MulAdd(t, t, acc_sq);
        std::swap(acc_sq, acc_sq_other);
      }
    });
    sum.Add(hn::GetLane(hn::SumOfLanes(d, hn::Add(acc, acc_other))));
    if constexpr (kSquares) sum_sq.Add(hn::GetLane(hn::SumOfLanes(d, hn::Add(acc_sq, acc_sq_other))));
  }
  if (kSquares) *squares = sum_sq.Total();
  return sum.Total();
}

double SumF64(const double* values, const uint64_t* validity, int64_t n) {
  const hn::ScalableTag<double> d;
  return BlockedSum<false>(values, validity, n, [&](int64_t row) { return hn::LoadU(d, values + row); },
                           nullptr);
}

double SumSquaresF64(const double* values, const uint64_t* validity, int64_t n) {
  const hn::ScalableTag<double> d;
  double squares;
  BlockedSum<true>(values, validity, n, [&](int64_t row) { return hn::LoadU(d, values + row); }, &squares);
  return squares;
}

double SumSquaresI64(const int64_t* values, const uint64_t* validity, int64_t n) {
  const hn::ScalableTag<double> d;
  const hn::RebindToSigned<decltype(d)> di;
  double squares;
  BlockedSum<true>(
      values, validity, n, [&](int64_t row) { return hn::ConvertTo(d, hn::LoadU(di, values + row)); },
      &squares);
  return squares;
}

// Exact: each value splits into a signed high and an unsigned low 32-bit
// half, summed in separate 64-bit lanes that cannot overflow within a chunk
// of 2^30 rows, then joined in 128 bits.
__int128 SumExactI64(const int64_t* values, const uint64_t* validity, int64_t n) {
  const hn::ScalableTag<int64_t> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  constexpr int64_t kChunkRows = int64_t{1} << 30;
  const auto low_mask = hn::Set(du, 0xFFFFFFFFull);
  __int128 total = 0;
  for (int64_t begin = 0; begin < n; begin += kChunkRows) {
    const int64_t end = n - begin < kChunkRows ? n : begin + kChunkRows;
    auto low = hn::Zero(du);
    auto high = hn::Zero(d);
    ForEachVector(d, validity, begin, end, values, [&](int64_t row, uint64_t bits, auto all_valid) {
      const auto v = ZeroInvalid(d, bits, all_valid, hn::LoadU(d, values + row));
      low = hn::Add(low, hn::And(hn::BitCast(du, v), low_mask));
      high = hn::Add(high, hn::ShiftRight<32>(v));
    });
    total += static_cast<__int128>(hn::GetLane(hn::SumOfLanes(d, high))) * (int64_t{1} << 32);
    total += static_cast<__int128>(hn::GetLane(hn::SumOfLanes(du, low)));
  }
  return total;
}

// Sums of d and d^2 for d = x - mean of the valid rows.
double DeviationsF64(const double* values, const uint64_t* validity, int64_t n, double mean,
                     double* squares) {
  const hn::ScalableTag<double> d;
  const auto vmean = hn::Set(d, mean);
  return BlockedSum<true>(
      values, validity, n, [&](int64_t row) { return hn::Sub(hn::LoadU(d, values + row), vmean); },
      squares);
}

// As DeviationsF64 with mean = base + fraction (base integral, |fraction| <
// 1): x - base is taken in wrapping int64 arithmetic and converted to double
// with the lost 2^64 added back, so values near 2^62 keep their small spread.
double DeviationsI64(const int64_t* values, const uint64_t* validity, int64_t n, int64_t base,
                     double fraction, double* squares) {
  const hn::ScalableTag<double> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::RebindToUnsigned<decltype(d)> du;
  const auto vbase = hn::Set(di, base);
  const auto vfraction = hn::Set(d, fraction);
  const auto zero = hn::Zero(di);
  const auto two64 = hn::Set(d, 18446744073709551616.0);
  return BlockedSum<true>(
      values, validity, n,
      [&](int64_t row) {
        const auto x = hn::LoadU(di, values + row);
        const auto diff = hn::BitCast(di, hn::Sub(hn::BitCast(du, x), hn::BitCast(du, vbase)));
        const auto x_ge_base = GreaterEq(x, vbase);
        const auto diff_ge_zero = GreaterEq(diff, zero);
        // Wrapped iff the sign of diff disagrees with x >= base.
        const auto wrapped = hn::Xor(hn::VecFromMask(di, x_ge_base), hn::VecFromMask(di, diff_ge_zero));
        const auto fix = Select(d, hn::RebindMask(d, x_ge_base), two64, hn::Neg(two64));
        const auto value = hn::Add(hn::ConvertTo(d, diff), hn::And(hn::BitCast(d, wrapped), fix));
        return hn::Sub(value, vfraction);
      },
      squares);
}

// ------------------------------------------------------------ selections

// Writes one selection word per 64 rows from pred(v) & validity.
template <typename T, class Pred>
HWY_INLINE RangeCounts SelectLoop(const T* values, const uint64_t* validity, int64_t n,
                                  uint64_t* out, const Pred& pred) {
  const hn::ScalableTag<T> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  RangeCounts counts;
  int64_t valid = 0;
  for (int64_t base = 0; base < n; base += kWordRows) {
    const int64_t rows = n - base < kWordRows ? n - base : kWordRows;
    PrefetchWord(values, base);
    uint64_t word = 0;
    for (int64_t offset = 0; offset < rows; offset += lanes) {
      word |= BitsFromMask(d, pred(d, hn::LoadU(d, values + base + offset))) << offset;
    }
    const uint64_t valid_bits = ValidityWord(validity, base / kWordRows, rows);
    word &= valid_bits;
    out[base / kWordRows] = word;
    counts.selected += static_cast<int64_t>(hwy::PopCount(word));
    valid += static_cast<int64_t>(hwy::PopCount(valid_bits));
  }
  counts.out_of_range = valid - counts.selected;
  return counts;
}

template <typename T>
HWY_INLINE RangeCounts RangeLoop(const T* values, const uint64_t* validity, int64_t n, T lo, T hi,
                                 uint64_t* out) {
  return SelectLoop(values, validity, n, out, [lo, hi](auto d, auto v) {
    return hn::And(GreaterEq(v, hn::Set(d, lo)), LessEq(v, hn::Set(d, hi)));
  });
}

RangeCounts RangeI64(const int64_t* values, const uint64_t* validity, int64_t n, int64_t lo,
                     int64_t hi, uint64_t* out) {
  return RangeLoop(values, validity, n, lo, hi, out);
}
RangeCounts RangeF64(const double* values, const uint64_t* validity, int64_t n, double lo,
                     double hi, uint64_t* out) {
  return RangeLoop(values, validity, n, lo, hi, out);
}

int64_t InI64(const int64_t* values, const uint64_t* validity, int64_t n, const int64_t* set,
              int64_t set_size, uint64_t* out) {
  return SelectLoop(values, validity, n, out,
                    [set, set_size](auto d, auto v) {
                      auto found = hn::FirstN(d, 0);
                      for (int64_t idx = 0; idx < set_size; ++idx) {
                        found = hn::Or(found, hn::Eq(v, hn::Set(d, set[idx])));
                      }
                      return found;
                    })
      .selected;
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(MinMaxI64);
HWY_EXPORT(MinMaxF64);
HWY_EXPORT(SumF64);
HWY_EXPORT(SumSquaresF64);
HWY_EXPORT(SumSquaresI64);
HWY_EXPORT(SumExactI64);
HWY_EXPORT(DeviationsF64);
HWY_EXPORT(DeviationsI64);
HWY_EXPORT(RangeI64);
HWY_EXPORT(RangeF64);
HWY_EXPORT(InI64);

Int64MinMax MinMax(const int64_t* values, const uint64_t* validity, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(MinMaxI64)(values, validity, n);
}
DoubleMinMax MinMax(const double* values, const uint64_t* validity, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(MinMaxF64)(values, validity, n);
}

double Sum(const double* values, const uint64_t* validity, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SumF64)(values, validity, n);
}
double Sum(const int64_t* values, const uint64_t* validity, int64_t n) {
  return static_cast<double>(HWY_DYNAMIC_DISPATCH(SumExactI64)(values, validity, n));
}
double SumSquares(const double* values, const uint64_t* validity, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SumSquaresF64)(values, validity, n);
}
double SumSquares(const int64_t* values, const uint64_t* validity, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SumSquaresI64)(values, validity, n);
}
bool SumChecked(const int64_t* values, const uint64_t* validity, int64_t n, int64_t* sum) {
  const __int128 total = HWY_DYNAMIC_DISPATCH(SumExactI64)(values, validity, n);
  if (total < std::numeric_limits<int64_t>::min() || total > std::numeric_limits<int64_t>::max()) {
    return false;
  }
  *sum = static_cast<int64_t>(total);
  return true;
}

namespace {

// variance from the corrected two-pass sums (Chan, Golub, LeVeque 1983).
double SampleVariance(int64_t count, double deviations, double squares) {
  if (count < 2) return std::numeric_limits<double>::quiet_NaN();
  const double c = static_cast<double>(count);
  return (squares - deviations * deviations / c) / (c - 1);
}

}  // namespace

Moments ComputeMoments(const double* values, const uint64_t* validity, int64_t n) {
  Moments m;
  m.count = CountValid(validity, n);
  m.sum = Sum(values, validity, n);
  m.mean = m.count == 0 ? std::numeric_limits<double>::quiet_NaN()
                        : m.sum / static_cast<double>(m.count);
  m.variance = std::numeric_limits<double>::quiet_NaN();
  if (m.count >= 2) {
    double squares;
    const double deviations = HWY_DYNAMIC_DISPATCH(DeviationsF64)(values, validity, n, m.mean, &squares);
    m.variance = SampleVariance(m.count, deviations, squares);
  }
  return m;
}

Moments ComputeMoments(const int64_t* values, const uint64_t* validity, int64_t n) {
  Moments m;
  m.count = CountValid(validity, n);
  const __int128 total = HWY_DYNAMIC_DISPATCH(SumExactI64)(values, validity, n);
  m.sum = static_cast<double>(total);
  m.mean = std::numeric_limits<double>::quiet_NaN();
  m.variance = std::numeric_limits<double>::quiet_NaN();
  if (m.count == 0) return m;
  // mean = base + fraction exactly (base fits: it lies between two values).
  const int64_t base = static_cast<int64_t>(total / m.count);
  const double fraction =
      static_cast<double>(static_cast<int64_t>(total % m.count)) / static_cast<double>(m.count);
  m.mean = static_cast<double>(base) + fraction;
  if (m.count >= 2) {
    double squares;
    const double deviations =
        HWY_DYNAMIC_DISPATCH(DeviationsI64)(values, validity, n, base, fraction, &squares);
    m.variance = SampleVariance(m.count, deviations, squares);
  }
  return m;
}

RangeCounts SelectRange(const int64_t* values, const uint64_t* validity, int64_t n, int64_t lo,
                        int64_t hi, uint64_t* out) {
  return HWY_DYNAMIC_DISPATCH(RangeI64)(values, validity, n, lo, hi, out);
}
RangeCounts SelectRange(const double* values, const uint64_t* validity, int64_t n, double lo,
                        double hi, uint64_t* out) {
  return HWY_DYNAMIC_DISPATCH(RangeF64)(values, validity, n, lo, hi, out);
}
int64_t SelectIn(const int64_t* values, const uint64_t* validity, int64_t n, const int64_t* set,
                 int64_t set_size, uint64_t* out) {
  return HWY_DYNAMIC_DISPATCH(InI64)(values, validity, n, set, set_size, out);
}

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
