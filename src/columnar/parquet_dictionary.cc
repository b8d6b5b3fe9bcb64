#include "columnar/parquet_dictionary.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

namespace pipeline::columnar::parquet {
namespace {

constexpr uint32_t kGiveUp = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
// Integer ranges below this use a direct-mapped table instead of hashing;
// larger ones up to kMaxDirectRange too when the chunk has several values
// per table slot.
constexpr uint64_t kSmallDirectRange = uint64_t{1} << 16;
constexpr uint64_t kMaxDirectRange = uint64_t{1} << 20;
constexpr int kInitialSlotsLog2 = 10;
// After this many values, a chunk whose values were nearly all distinct
// is written PLAIN (only chunks several times larger are probed).
constexpr int64_t kProbeValues = 8192;

bool LooksUnique(int64_t seen, size_t distinct, int64_t total) {
  return seen == kProbeValues && total >= 4 * kProbeValues && distinct * 100 > 97 * kProbeValues;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  unsigned __int128 product = static_cast<unsigned __int128>(a ^ kGolden) * (b ^ 0xFF51AFD7ED558CCDULL);
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

// Short strings (most dictionary candidates) take two loads and one
// multiply; longer ones a loop.
uint64_t HashBytes(const char* data, size_t n) {
  if (n <= 16) {
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (n >= 8) {
      std::memcpy(&lo, data, 8);
      std::memcpy(&hi, data + n - 8, 8);
    } else if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, data, 4);
      std::memcpy(&b, data + n - 4, 4);
      lo = a;
      hi = b;
    } else if (n > 0) {
      lo = (uint64_t{static_cast<uint8_t>(data[0])} << 16) | (uint64_t{static_cast<uint8_t>(data[n / 2])} << 8) |
           static_cast<uint8_t>(data[n - 1]);
    }
    return Mix(lo ^ n, hi);
  }
  constexpr uint64_t kMul = 0x9FB21C651E98DF25ULL;
  uint64_t h = kGolden ^ (n * 0xFF51AFD7ED558CCDULL);
  for (; n >= 8; data += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
  }
  if (n) {
    uint64_t word = 0;
    std::memcpy(&word, data, n);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
  }
  h *= kGolden;
  return h ^ (h >> 32);
}

// Byte equality without a library call for the short strings dictionaries
// mostly hold (overlapping head and tail loads).
bool SameBytes(const char* a, const char* b, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + n - 8, 8);
    std::memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  if (n >= 4 && n < 8) {
    uint32_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 4);
    std::memcpy(&b0, b, 4);
    std::memcpy(&a1, a + n - 4, 4);
    std::memcpy(&b1, b + n - 4, 4);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return std::memcmp(a, b, n) == 0;
}

// Calls lookup(value) for each non-null value of the slices (values read as
// T), storing the indices; stops with false when lookup gives up or the
// first values look unique (distinct() tells the dictionary's size).
template <class T, class Lookup, class Distinct>
bool ScanSlices(const std::vector<ColumnSlice>& slices, std::vector<uint32_t>* indices, Lookup&& lookup,
                Distinct&& distinct) {
  uint32_t* out = indices->data();
  const int64_t total = static_cast<int64_t>(indices->size());
  int64_t seen = 0;
  auto add = [&](const T& value) {
    uint32_t index = lookup(value);
    if (index == kGiveUp) return false;
    out[seen++] = index;
    return !LooksUnique(seen, distinct(), total);
  };
  for (const ColumnSlice& slice : slices) {
    const uint64_t* validity = slice.column->validity();
    for (int64_t row = slice.offset; row < slice.offset + slice.length; ++row) {
      if (validity && !BitIsSet(validity, row)) continue;
      T value;
      if constexpr (std::is_same_v<T, std::string_view>) value = slice.column->StringAt(row);
      else value = slice.column->data<T>()[row];
      if (!add(value)) return false;
    }
  }
  return true;
}

}  // namespace

bool Dictionary64::Build(const std::vector<ColumnSlice>& slices, int64_t min, uint64_t int_range,
                         std::vector<uint32_t>* indices) {
  values_.clear();
  uint64_t direct_limit = std::max(kSmallDirectRange, std::min<uint64_t>(kMaxDirectRange, indices->size() / 4));
  if (int_range < direct_limit) return BuildDirect(slices, static_cast<uint64_t>(min), int_range, indices->data());
  slots_.assign(size_t{1} << kInitialSlotsLog2, Slot{0, 0});
  shift_ = 64 - kInitialSlotsLog2;
  return ScanSlices<uint64_t>(slices, indices, [&](uint64_t key) { return HashLookup(key); },
                              [&] { return values_.size(); });
}

bool Dictionary64::BuildDirect(const std::vector<ColumnSlice>& slices, uint64_t base, uint64_t range,
                               uint32_t* out) {
  direct_.assign(range + 1, 0);
  uint32_t* table = direct_.data();
  uint32_t count = 0;
  constexpr uint32_t kMaxEntries = kMaxDictionaryBytes / 8;
  for (const ColumnSlice& slice : slices) {
    const uint64_t* values = slice.column->data<uint64_t>();
    const uint64_t* validity = slice.column->validity();
    for (int64_t row = slice.offset; row < slice.offset + slice.length; ++row) {
      if (validity && !BitIsSet(validity, row)) continue;
      uint32_t& slot = table[values[row] - base];
      if (slot == 0) {
        if (count == kMaxEntries) return false;
        slot = ++count;
      }
      *out++ = slot - 1;
    }
  }
  values_.resize(count);
  for (uint64_t offset = 0; offset <= range; ++offset) {
    if (table[offset]) values_[table[offset] - 1] = base + offset;
  }
  return true;
}

uint32_t Dictionary64::HashLookup(uint64_t key) {
  size_t mask = slots_.size() - 1;
  for (size_t pos = (key * kGolden) >> shift_;; pos = (pos + 1) & mask) {
    Slot& slot = slots_[pos];
    if (slot.index_plus_one == 0) {
      if ((values_.size() + 1) * 8 > kMaxDictionaryBytes) return kGiveUp;
      values_.push_back(key);
      slot = Slot{key, static_cast<uint32_t>(values_.size())};
      if (values_.size() * 2 > slots_.size()) Grow();
      return static_cast<uint32_t>(values_.size() - 1);
    }
    if (slot.key == key) return slot.index_plus_one - 1;
  }
}

void Dictionary64::Grow() {
  slots_.assign(slots_.size() * 2, Slot{0, 0});
  --shift_;
  size_t mask = slots_.size() - 1;
  for (size_t idx = 0; idx < values_.size(); ++idx) {
    size_t pos = (values_[idx] * kGolden) >> shift_;
    while (slots_[pos].index_plus_one) pos = (pos + 1) & mask;
    slots_[pos] = Slot{values_[idx], static_cast<uint32_t>(idx + 1)};
  }
}

bool StringDictionary::Build(const std::vector<ColumnSlice>& slices, std::vector<uint32_t>* indices) {
  offsets_.assign(1, 0);
  chars_.clear();
  slots_.assign(size_t{1} << kInitialSlotsLog2, Slot{0, 0});
  shift_ = 64 - kInitialSlotsLog2;
  return ScanSlices<std::string_view>(
      slices, indices, [&](std::string_view value) { return Lookup(value); }, [&] { return size(); });
}

uint32_t StringDictionary::Lookup(std::string_view value) {
  uint64_t hash = HashBytes(value.data(), value.size());
  size_t mask = slots_.size() - 1;
  for (size_t pos = hash >> shift_;; pos = (pos + 1) & mask) {
    Slot& slot = slots_[pos];
    if (slot.index_plus_one == 0) {
      if (chars_.size() + value.size() + 4 * (size() + 1) > kMaxDictionaryBytes) return kGiveUp;
      chars_.append(value);
      offsets_.push_back(static_cast<uint32_t>(chars_.size()));
      slot = Slot{hash, static_cast<uint32_t>(size())};
      if (size() * 2 > slots_.size()) Grow();
      return static_cast<uint32_t>(size() - 1);
    }
    if (slot.hash == hash) {
      std::string_view entry = at(slot.index_plus_one - 1);
      if (entry.size() == value.size() && SameBytes(entry.data(), value.data(), value.size())) {
        return slot.index_plus_one - 1;
      }
    }
  }
}

void StringDictionary::Grow() {
  slots_.assign(slots_.size() * 2, Slot{0, 0});
  --shift_;
  size_t mask = slots_.size() - 1;
  for (size_t idx = 0; idx < size(); ++idx) {
    uint64_t hash = HashBytes(at(idx).data(), at(idx).size());
    size_t pos = hash >> shift_;
    while (slots_[pos].index_plus_one) pos = (pos + 1) & mask;
    slots_[pos] = Slot{hash, static_cast<uint32_t>(idx + 1)};
  }
}

}  // namespace pipeline::columnar::parquet
