#include "columnar/csv_scan.h"

#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "columnar/csv_scan.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace pipeline::columnar {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void ClassifyBlocksImpl(const uint8_t* data, size_t blocks, uint8_t quote, uint8_t delim,
                        uint64_t* quotes, uint64_t* delims, uint64_t* newlines) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  if (lanes < 8 || 64 % lanes != 0) {
    for (size_t b = 0; b < blocks; ++b) {
      uint64_t q = 0, dl = 0, nl = 0;
      for (size_t i = 0; i < 64; ++i) {
        uint8_t c = data[b * 64 + i];
        q |= uint64_t{c == quote} << i;
        dl |= uint64_t{c == delim} << i;
        nl |= uint64_t{c == '\n'} << i;
      }
      quotes[b] = q;
      delims[b] = dl;
      newlines[b] = nl;
    }
    return;
  }
  const auto vq = hn::Set(d, quote);
  const auto vd = hn::Set(d, delim);
  const auto vn = hn::Set(d, static_cast<uint8_t>('\n'));
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t q[8], dl[8], nl[8];
    for (size_t i = 0; i < 64; i += lanes) {
      const auto v = hn::LoadU(d, data + b * 64 + i);
      hn::StoreMaskBits(d, hn::Eq(v, vq), q + i / 8);
      hn::StoreMaskBits(d, hn::Eq(v, vd), dl + i / 8);
      hn::StoreMaskBits(d, hn::Eq(v, vn), nl + i / 8);
    }
    std::memcpy(&quotes[b], q, 8);
    std::memcpy(&delims[b], dl, 8);
    std::memcpy(&newlines[b], nl, 8);
  }
}

size_t CountByteImpl(const uint8_t* data, size_t n, uint8_t byte) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  const auto v = hn::Set(d, byte);
  size_t count = 0, i = 0;
  for (; i + lanes <= n; i += lanes) count += hn::CountTrue(d, hn::Eq(hn::LoadU(d, data + i), v));
  for (; i < n; ++i) count += data[i] == byte;
  return count;
}

bool IsAsciiImpl(const uint8_t* data, size_t n) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  auto acc = hn::Zero(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) acc = hn::Or(acc, hn::LoadU(d, data + i));
  uint8_t tail = 0;
  for (; i < n; ++i) tail |= data[i];
  const auto high = hn::Set(d, static_cast<uint8_t>(0x80));
  return hn::AllFalse(d, hn::TestBit(acc, high)) && !(tail & 0x80);
}

}  // namespace HWY_NAMESPACE
}  // namespace pipeline::columnar
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pipeline::columnar {

HWY_EXPORT(ClassifyBlocksImpl);
HWY_EXPORT(IsAsciiImpl);
HWY_EXPORT(CountByteImpl);

void ClassifyCsvBlocks(const uint8_t* data, size_t blocks, uint8_t quote, uint8_t delim,
                       uint64_t* quotes, uint64_t* delims, uint64_t* newlines) {
  HWY_DYNAMIC_DISPATCH(ClassifyBlocksImpl)(data, blocks, quote, delim, quotes, delims, newlines);
}

bool IsAscii(const uint8_t* data, size_t n) { return HWY_DYNAMIC_DISPATCH(IsAsciiImpl)(data, n); }

size_t CountByte(const uint8_t* data, size_t n, uint8_t byte) {
  return HWY_DYNAMIC_DISPATCH(CountByteImpl)(data, n, byte);
}

}  // namespace pipeline::columnar
#endif
