// Dictionary builders for the Parquet writer: map every non-null value of a
// column chunk to its index in a first-seen-order dictionary. A builder gives
// up (returns false) when dictionary encoding would not pay: the dictionary's
// PLAIN size passes kMaxDictionaryBytes, or the chunk's first values are
// nearly all distinct. Not thread-safe; one per thread, reused between chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "columnar/column.h"

namespace pipeline::columnar::parquet {

inline constexpr size_t kMaxDictionaryBytes = size_t{1} << 20;

// Rows [offset, offset + length) of `column`; a row group's column chunk is a
// list of these (one per batch it spans).
struct ColumnSlice {
  const Column* column = nullptr;
  int64_t offset = 0;
  int64_t length = 0;
};

// For 8-byte values (int64, timestamp, double bit patterns).
class Dictionary64 {
 public:
  // `int_range` is max - min of the non-null values when they are integers
  // (a small range uses a direct-mapped table instead of hashing), or
  // UINT64_MAX for doubles. Fills values() and *indices (one per non-null).
  bool Build(const std::vector<ColumnSlice>& slices, int64_t min, uint64_t int_range, std::vector<uint32_t>* indices);
  const std::vector<uint64_t>& values() const { return values_; }

 private:
  struct Slot {
    uint64_t key;
    uint32_t index_plus_one;  // 0: empty
  };
  template <class Lookup>
  bool Scan(const std::vector<ColumnSlice>& slices, std::vector<uint32_t>* indices, Lookup lookup);
  bool BuildDirect(const std::vector<ColumnSlice>& slices, uint64_t base, uint64_t range, uint32_t* out);
  uint32_t HashLookup(uint64_t key);
  void Grow();

  std::vector<uint64_t> values_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> direct_;  // direct-mapped: index + 1 per value - min
  int shift_ = 64;
};

// For strings: the dictionary is offsets (size + 1) into chars().
class StringDictionary {
 public:
  bool Build(const std::vector<ColumnSlice>& slices, std::vector<uint32_t>* indices);
  size_t size() const { return offsets_.size() - 1; }
  std::string_view at(size_t index) const {
    return {chars_.data() + offsets_[index], offsets_[index + 1] - offsets_[index]};
  }

 private:
  struct Slot {
    uint64_t hash;
    uint32_t index_plus_one;  // 0: empty
  };
  uint32_t Lookup(std::string_view value);
  void Grow();

  std::vector<uint32_t> offsets_{0};
  std::string chars_;
  std::vector<Slot> slots_;
  int shift_ = 64;
};

}  // namespace pipeline::columnar::parquet
