// Row hashes: murmur3's fmix64 avalanche on 64-bit lanes for fixed-width
// values, XXH3 for strings, and the combiner for multi-column keys.

#include <xxhash.h>

#include "kernels/kernels.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_hash.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::kernels::HWY_NAMESPACE {

// The seed keeps 0 from hashing to 0; the multiplier makes CombineHashes
// order-sensitive.
constexpr uint64_t kHashSeed = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kCombineMul = 0xC2B2AE3D27D4EB4FULL;

template <class DU>
HWY_INLINE hn::VFromD<DU> Fmix64(DU du, hn::VFromD<DU> x) {
  x = hn::Xor(x, hn::ShiftRight<33>(x));
  x = hn::Mul(x, hn::Set(du, 0xFF51AFD7ED558CCDULL));
  x = hn::Xor(x, hn::ShiftRight<33>(x));
  x = hn::Mul(x, hn::Set(du, 0xC4CEB9FE1A85EC53ULL));
  return hn::Xor(x, hn::ShiftRight<33>(x));
}

// out[row] = valid ? Fmix64(bits(row) ^ seed) : kNullHash, where bits(row)
// gives the rows' values as u64 lanes.
template <typename T, class Bits>
HWY_INLINE void HashLoop(const T* values, const uint64_t* validity, int64_t n, uint64_t* out,
                         const Bits& bits_of) {
  const hn::ScalableTag<uint64_t> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(du));
  const auto seed = hn::Set(du, kHashSeed);
  const auto null_hash = hn::Set(du, kNullHash);
  ForEachVector(du, validity, 0, n, values, [&](int64_t row, uint64_t bits, auto all_valid) {
    auto h = Fmix64(du, hn::Xor(bits_of(row), seed));
    if constexpr (!decltype(all_valid)::value) h = Select(du, MaskFromBits(du, bits), h, null_hash);
    if (row + lanes <= n) {
      hn::StoreU(h, du, out + row);
    } else {
      StorePartial(du, h, n - row, out + row);
    }
  });
}

void HashI64(const int64_t* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  const hn::ScalableTag<uint64_t> du;
  const auto* values_u = reinterpret_cast<const uint64_t*>(values);
  HashLoop(values, validity, n, out, [&](int64_t row) { return hn::LoadU(du, values_u + row); });
}

void HashF64(const double* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  const hn::ScalableTag<uint64_t> du;
  const hn::Rebind<double, decltype(du)> d;
  const auto canonical_nan = hn::Set(du, 0x7FF8000000000000ULL);
  HashLoop(values, validity, n, out, [&](int64_t row) {
    const auto v = hn::LoadU(d, values + row);
    const auto is_zero = hn::VecFromMask(du, hn::RebindMask(du, hn::Eq(v, hn::Zero(d))));
    const auto bits = hn::AndNot(is_zero, hn::BitCast(du, v));  // -0.0 -> 0.0
    return Select(du, hn::RebindMask(du, hn::IsNaN(v)), canonical_nan, bits);
  });
}

void HashU8(const uint8_t* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  const hn::ScalableTag<uint64_t> du;
  const hn::Rebind<uint32_t, decltype(du)> d32;
  const hn::Rebind<uint8_t, decltype(du)> d8;
  HashLoop(values, validity, n, out, [&](int64_t row) {
    return hn::PromoteTo(du, hn::PromoteTo(d32, hn::LoadU(d8, values + row)));
  });
}

void CombineImpl(uint64_t* acc, const uint64_t* h, int64_t n) {
  const hn::ScalableTag<uint64_t> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(du));
  const auto mul = hn::Set(du, kCombineMul);
  int64_t row = 0;
  for (; row + lanes <= n; row += lanes) {
    if (row % kWordRows == 0) {
      PrefetchWord(acc, row);
      PrefetchWord(h, row);
    }
    const auto mixed = hn::Add(hn::Mul(hn::LoadU(du, acc + row), mul), hn::LoadU(du, h + row));
    hn::StoreU(Fmix64(du, mixed), du, acc + row);
  }
  if (row < n) {  // neither array has padding: load the tails through copies
    const size_t tail_bytes = static_cast<size_t>(n - row) * sizeof(uint64_t);
    HWY_ALIGN uint64_t acc_tail[hn::MaxLanes(du)] = {0};
    HWY_ALIGN uint64_t h_tail[hn::MaxLanes(du)] = {0};
    std::memcpy(acc_tail, acc + row, tail_bytes);
    std::memcpy(h_tail, h + row, tail_bytes);
    const auto mixed = hn::Add(hn::Mul(hn::Load(du, acc_tail), mul), hn::Load(du, h_tail));
    StorePartial(du, Fmix64(du, mixed), n - row, acc + row);
  }
}

}  // namespace pipeline::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::kernels {

HWY_EXPORT(HashI64);
HWY_EXPORT(HashF64);
HWY_EXPORT(HashU8);
HWY_EXPORT(CombineImpl);

void Hash(const int64_t* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  HWY_DYNAMIC_DISPATCH(HashI64)(values, validity, n, out);
}
void Hash(const double* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  HWY_DYNAMIC_DISPATCH(HashF64)(values, validity, n, out);
}
void Hash(const uint8_t* values, const uint64_t* validity, int64_t n, uint64_t* out) {
  HWY_DYNAMIC_DISPATCH(HashU8)(values, validity, n, out);
}
void CombineHashes(uint64_t* acc, const uint64_t* h, int64_t n) {
  HWY_DYNAMIC_DISPATCH(CombineImpl)(acc, h, n);
}

void HashStrings(const uint32_t* offsets, const char* chars, const uint64_t* validity, int64_t n,
                 uint64_t* out) {
  for (int64_t row = 0; row < n; ++row) {
    const bool valid = validity == nullptr || ((validity[row >> 6] >> (row & 63)) & 1) != 0;
    out[row] = valid ? XXH3_64bits(chars + offsets[row], offsets[row + 1] - offsets[row]) : kNullHash;
  }
}

}  // namespace pipeline::kernels
#endif  // HWY_ONCE
