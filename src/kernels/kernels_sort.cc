// Ascending sort of doubles with Highway's vectorised quicksort (VQSort),
// compiled here per target rather than called through hwy::Sorter, whose
// constructor allocates (on fixed-width targets Sort keeps its buffer on the
// stack). The doubles are sorted as order-preserving uint64 keys: 1.0.3's
// VQSort of doubles turns some +-inf into +-DBL_MAX (seen with 4 of 8 keys).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_sort.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/sort/traits-inl.h"
#include "hwy/contrib/sort/vqsort-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// keys[i] = f(keys[i]) over whole vectors; the tail goes through a copy
// (the keys have no padding).
template <class F>
HWY_INLINE void MapInPlace(uint64_t* keys, size_t n, const F& f) {
  const hn::ScalableTag<uint64_t> du;
  const size_t lanes = hn::Lanes(du);
  size_t idx = 0;
  for (; idx + lanes <= n; idx += lanes) hn::StoreU(f(du, hn::LoadU(du, keys + idx)), du, keys + idx);
  if (idx < n) {
    HWY_ALIGN uint64_t tail[hn::MaxLanes(du)] = {0};
    std::memcpy(tail, keys + idx, (n - idx) * sizeof(uint64_t));
    hn::Store(f(du, hn::Load(du, tail)), du, tail);
    std::memcpy(keys + idx, tail, (n - idx) * sizeof(uint64_t));
  }
}

// Flips every bit of negative doubles and the sign bit of the others, so
// that unsigned order is numeric order (-NaN < -inf < ... < -0 < 0 < ... <
// inf < NaN); FromKeys undoes it.
template <class DU, class V>
HWY_INLINE V ToKeys(DU du, V bits) {
  const hn::RebindToSigned<DU> di;
  const auto sign = hn::BitCast(du, hn::ShiftRight<63>(hn::BitCast(di, bits)));
  return hn::Xor(bits, hn::Or(sign, hn::Set(du, uint64_t{1} << 63)));
}
template <class DU, class V>
HWY_INLINE V FromKeys(DU du, V keys) {
  const hn::RebindToSigned<DU> di;
  const auto top = hn::BitCast(du, hn::ShiftRight<63>(hn::BitCast(di, keys)));
  return hn::Xor(keys, hn::Or(hn::Not(top), hn::Set(du, uint64_t{1} << 63)));
}

void SortDoublesImpl(double* values, size_t n) {
  uint64_t* keys = reinterpret_cast<uint64_t*>(values);
  MapInPlace(keys, n, [](auto du, auto v) { return ToKeys(du, v); });
#if VQSORT_ENABLED
  const hn::SortTag<uint64_t> d;
  const hn::detail::SharedTraits<hn::detail::TraitsLane<hn::detail::OrderAscending<uint64_t>>> st;
  hn::Sort(d, st, keys, n, static_cast<uint64_t*>(nullptr));
#else  // HWY_SCALAR
  std::sort(keys, keys + n);
#endif
  MapInPlace(keys, n, [](auto du, auto v) { return FromKeys(du, v); });
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(SortDoublesImpl);

void SortDoubles(double* keys, int64_t n) {
  if (n < 2) return;
  HWY_DYNAMIC_DISPATCH(SortDoublesImpl)(keys, static_cast<size_t>(n));
}

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
