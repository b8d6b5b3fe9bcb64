// Dense double loops of the model solvers: dot products, axpy, the
// elementwise product and the logistic loss terms.

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_linalg.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {

using DF = hn::ScalableTag<double>;

// Four accumulators: the adds of one do not wait on the last, and the
// rounding error grows with n / (4 lanes), not n.
double DotImpl(const double* a, const double* b, int64_t n) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + lanes), hn::LoadU(d, b + i + lanes), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * lanes), hn::LoadU(d, b + i + 2 * lanes), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * lanes), hn::LoadU(d, b + i + 3 * lanes), s3);
  }
  for (; i + lanes <= n; i += lanes) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Four dot products sharing `a`: each load of a feeds four multiply-adds
// (the Gram and Hessian passes are load-bound with one dot at a time).
void Dot4Impl(const double* a, const double* b0, const double* b1, const double* b2, const double* b3, int64_t n,
              double* out) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  auto t0 = hn::Zero(d), t1 = hn::Zero(d), t2 = hn::Zero(d), t3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto va = hn::LoadU(d, a + i);
    const auto vb = hn::LoadU(d, a + i + lanes);
    s0 = hn::MulAdd(va, hn::LoadU(d, b0 + i), s0);
    s1 = hn::MulAdd(va, hn::LoadU(d, b1 + i), s1);
    s2 = hn::MulAdd(va, hn::LoadU(d, b2 + i), s2);
    s3 = hn::MulAdd(va, hn::LoadU(d, b3 + i), s3);
    t0 = hn::MulAdd(vb, hn::LoadU(d, b0 + i + lanes), t0);
    t1 = hn::MulAdd(vb, hn::LoadU(d, b1 + i + lanes), t1);
    t2 = hn::MulAdd(vb, hn::LoadU(d, b2 + i + lanes), t2);
    t3 = hn::MulAdd(vb, hn::LoadU(d, b3 + i + lanes), t3);
  }
  for (; i + lanes <= n; i += lanes) {
    const auto va = hn::LoadU(d, a + i);
    s0 = hn::MulAdd(va, hn::LoadU(d, b0 + i), s0);
    s1 = hn::MulAdd(va, hn::LoadU(d, b1 + i), s1);
    s2 = hn::MulAdd(va, hn::LoadU(d, b2 + i), s2);
    s3 = hn::MulAdd(va, hn::LoadU(d, b3 + i), s3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, t0)));
  out[1] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s1, t1)));
  out[2] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s2, t2)));
  out[3] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s3, t3)));
  for (; i < n; ++i) {
    out[0] += a[i] * b0[i];
    out[1] += a[i] * b1[i];
    out[2] += a[i] * b2[i];
    out[3] += a[i] * b3[i];
  }
}

double TotalImpl(const double* a, int64_t n) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    s0 = hn::Add(s0, hn::LoadU(d, a + i));
    s1 = hn::Add(s1, hn::LoadU(d, a + i + lanes));
  }
  for (; i + lanes <= n; i += lanes) s0 = hn::Add(s0, hn::LoadU(d, a + i));
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) sum += a[i];
  return sum;
}

void AxpyImpl(double alpha, const double* x, double* y, int64_t n) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, alpha);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void MultiplyImpl(const double* a, const double* b, double* out, int64_t n) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  for (; i < n; ++i) out[i] = a[i] * b[i];
}

// softplus(z) = max(z, 0) + log1p(exp(-|z|)): no overflow for any z.
double LogisticTermsImpl(const double* z, const double* y, const double* s, int64_t n, double* r,
                         double* h) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0);
  const auto zero = hn::Zero(d);
  auto loss = hn::Zero(d);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto vz = hn::LoadU(d, z + i);
    const auto vy = hn::LoadU(d, y + i);
    const auto e = hn::Exp(d, hn::Neg(hn::Abs(vz)));  // in (0, 1]
    // sigmoid(z) = 1 / (1 + e) for z >= 0, e / (1 + e) below.
    const auto inv = hn::Div(one, hn::Add(one, e));
    const auto p = hn::IfThenElse(hn::Ge(vz, zero), inv, hn::Mul(e, inv));
    const auto w = s ? hn::LoadU(d, s + i) : one;
    const auto term = hn::Sub(hn::Add(hn::Max(vz, zero), hn::Log1p(d, e)), hn::Mul(vy, vz));
    loss = hn::MulAdd(w, term, loss);
    hn::StoreU(hn::Mul(w, hn::Sub(p, vy)), d, r + i);
    hn::StoreU(hn::Mul(w, hn::Mul(p, hn::Sub(one, p))), d, h + i);
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, loss));
  for (; i < n; ++i) {
    const double e = std::exp(-std::fabs(z[i]));
    const double inv = 1.0 / (1.0 + e);
    const double p = z[i] >= 0 ? inv : e * inv;
    const double w = s ? s[i] : 1.0;
    sum += w * (std::max(z[i], 0.0) + std::log1p(e) - y[i] * z[i]);
    r[i] = w * (p - y[i]);
    h[i] = w * p * (1.0 - p);
  }
  return sum;
}

void SigmoidImpl(const double* z, double* out, int64_t n) {
  const DF d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0);
  const auto zero = hn::Zero(d);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto vz = hn::LoadU(d, z + i);
    const auto e = hn::Exp(d, hn::Neg(hn::Abs(vz)));
    const auto inv = hn::Div(one, hn::Add(one, e));
    hn::StoreU(hn::IfThenElse(hn::Ge(vz, zero), inv, hn::Mul(e, inv)), d, out + i);
  }
  for (; i < n; ++i) {
    const double e = std::exp(-std::fabs(z[i]));
    out[i] = z[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  }
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(DotImpl);
HWY_EXPORT(TotalImpl);
HWY_EXPORT(Dot4Impl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(MultiplyImpl);
HWY_EXPORT(LogisticTermsImpl);
HWY_EXPORT(SigmoidImpl);

double Dot(const double* a, const double* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }
double Total(const double* a, int64_t n) { return HWY_DYNAMIC_DISPATCH(TotalImpl)(a, n); }
void Dot4(const double* a, const double* b0, const double* b1, const double* b2, const double* b3, int64_t n,
          double* out) {
  HWY_DYNAMIC_DISPATCH(Dot4Impl)(a, b0, b1, b2, b3, n, out);
}
void Axpy(double alpha, const double* x, double* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(alpha, x, y, n); }
void Multiply(const double* a, const double* b, double* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(MultiplyImpl)(a, b, out, n);
}
double LogisticTerms(const double* z, const double* y, const double* s, int64_t n, double* r, double* h) {
  return HWY_DYNAMIC_DISPATCH(LogisticTermsImpl)(z, y, s, n, r, h);
}
void Sigmoid(const double* z, double* out, int64_t n) { HWY_DYNAMIC_DISPATCH(SigmoidImpl)(z, out, n); }

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
