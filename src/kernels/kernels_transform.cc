// Elementwise transforms of a double column (null rows written as 0), the
// bucketizer and the int64 -> double cast.

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_transform.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {

// out = op(d, in) over whole vectors; null rows (and, through the validity
// mask, nothing else) become 0. TIn and TOut have the same lane count.
template <typename TIn, typename TOut, class Op>
HWY_INLINE void UnaryLoop(const TIn* values, const uint64_t* validity, int64_t n, TOut* out,
                          const Op& op) {
  const hn::ScalableTag<TOut> d_out;
  const hn::Rebind<TIn, decltype(d_out)> d_in;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d_out));
  const auto store = [&](int64_t row, hn::VFromD<decltype(d_out)> v) {
    if (row + lanes <= n) {
      hn::StoreU(v, d_out, out + row);
    } else {
      StorePartial(d_out, v, n - row, out + row);
    }
  };
  ForEachVector(d_out, validity, 0, n, values, [&](int64_t row, uint64_t bits, auto all_valid) {
    store(row, ZeroInvalid(d_out, bits, all_valid, op(hn::LoadU(d_in, values + row))));
  });
}

using DF = hn::ScalableTag<double>;
using VF = hn::VFromD<DF>;

void StandardizeImpl(const double* values, const uint64_t* validity, int64_t n, double mean,
                     double sd, double* out) {
  const DF d;
  const auto vmean = hn::Set(d, mean);
  const auto vsd = hn::Set(d, sd);
  UnaryLoop(values, validity, n, out, [&](VF x) { return hn::Div(hn::Sub(x, vmean), vsd); });
}

void MinMaxScaleImpl(const double* values, const uint64_t* validity, int64_t n, double min,
                     double max, double* out) {
  const DF d;
  const auto vmin = hn::Set(d, min);
  const auto vrange = hn::Set(d, max - min);
  if (max == min) {
    UnaryLoop(values, validity, n, out, [&](VF) { return hn::Zero(d); });
  } else {
    UnaryLoop(values, validity, n, out, [&](VF x) { return hn::Div(hn::Sub(x, vmin), vrange); });
  }
}

// Highway's Log1p covers [0, DBL_MAX] (and (-1, 0) through the same
// formula); the edges follow std::log1p.
void Log1pImpl(const double* values, const uint64_t* validity, int64_t n, double* out) {
  const DF d;
  const auto minus_one = hn::Set(d, -1.0);
  const auto inf = hn::Set(d, HUGE_VAL);
  const auto nan = hn::Set(d, std::numeric_limits<double>::quiet_NaN());
  UnaryLoop(values, validity, n, out, [&](VF x) {
    auto y = hn::Log1p(d, x);
    y = Select(d, hn::Eq(x, inf), inf, y);
    y = Select(d, hn::Eq(x, minus_one), hn::Neg(inf), y);
    return Select(d, hn::Or(hn::Lt(x, minus_one), hn::IsNaN(x)), hn::Add(x, nan), y);
  });
}

void ClipImpl(const double* values, const uint64_t* validity, int64_t n, double lo, double hi,
              double* out) {
  const DF d;
  const auto vlo = hn::Set(d, lo);
  const auto vhi = hn::Set(d, hi);
  UnaryLoop(values, validity, n, out, [&](VF x) {
    return Select(d, hn::IsNaN(x), x, hn::Min(hn::Max(x, vlo), vhi));
  });
}

void MaxWithImpl(const double* values, const uint64_t* validity, int64_t n, double c,
                 double* out) {
  const DF d;
  const auto vc = hn::Set(d, c);
  UnaryLoop(values, validity, n, out,
            [&](VF x) { return Select(d, hn::IsNaN(x), x, hn::Max(x, vc)); });
}

void BucketizeImpl(const double* values, const uint64_t* validity, int64_t n, const double* bounds,
                   int64_t num_bounds, int64_t* out) {
  const hn::ScalableTag<int64_t> di;
  const hn::Rebind<double, decltype(di)> d;
  UnaryLoop(values, validity, n, out, [&](VF x) {
    // count - (-1) per bound b with !(x < b): NaN passes every bound.
    auto count = hn::Zero(di);
    for (int64_t idx = 0; idx < num_bounds; ++idx) {
      const auto below = hn::Lt(x, hn::Set(d, bounds[idx]));
      count = hn::Sub(count, hn::VecFromMask(di, hn::RebindMask(di, hn::Not(below))));
    }
    return count;
  });
}

void CastI64ToF64(const int64_t* values, const uint64_t* validity, int64_t n, double* out) {
  const DF d;
  UnaryLoop(values, validity, n, out, [&](hn::VFromD<hn::RebindToSigned<DF>> x) {
    return hn::ConvertTo(d, x);
  });
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(StandardizeImpl);
HWY_EXPORT(MinMaxScaleImpl);
HWY_EXPORT(Log1pImpl);
HWY_EXPORT(ClipImpl);
HWY_EXPORT(MaxWithImpl);
HWY_EXPORT(BucketizeImpl);
HWY_EXPORT(CastI64ToF64);

// Past this many bounds a binary search per row beats a compare per bound.
constexpr int64_t kMaxLinearBounds = 32;

void Standardize(const double* values, const uint64_t* validity, int64_t n, double mean, double sd,
                 double* out) {
  HWY_DYNAMIC_DISPATCH(StandardizeImpl)(values, validity, n, mean, sd, out);
}
void MinMaxScale(const double* values, const uint64_t* validity, int64_t n, double min, double max,
                 double* out) {
  HWY_DYNAMIC_DISPATCH(MinMaxScaleImpl)(values, validity, n, min, max, out);
}
void Log1p(const double* values, const uint64_t* validity, int64_t n, double* out) {
  HWY_DYNAMIC_DISPATCH(Log1pImpl)(values, validity, n, out);
}
void Clip(const double* values, const uint64_t* validity, int64_t n, double lo, double hi,
          double* out) {
  HWY_DYNAMIC_DISPATCH(ClipImpl)(values, validity, n, lo, hi, out);
}
void MaxWith(const double* values, const uint64_t* validity, int64_t n, double c, double* out) {
  HWY_DYNAMIC_DISPATCH(MaxWithImpl)(values, validity, n, c, out);
}

void Bucketize(const double* values, const uint64_t* validity, int64_t n, const double* bounds,
               int64_t num_bounds, int64_t* out) {
  if (num_bounds <= kMaxLinearBounds) {
    return HWY_DYNAMIC_DISPATCH(BucketizeImpl)(values, validity, n, bounds, num_bounds, out);
  }
  for (int64_t row = 0; row < n; ++row) {
    const bool valid = validity == nullptr || ((validity[row >> 6] >> (row & 63)) & 1) != 0;
    out[row] = valid ? std::upper_bound(bounds, bounds + num_bounds, values[row]) - bounds : 0;
  }
}

void CastInt64ToDouble(const int64_t* values, const uint64_t* validity, int64_t n, double* out) {
  HWY_DYNAMIC_DISPATCH(CastI64ToF64)(values, validity, n, out);
}

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
