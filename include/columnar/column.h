// A column: one type, `length` rows, values apart from a validity bitmap
// (DuckDB's validity_mask, Arrow's layout).
//
// Invariants every producer keeps and every kernel may rely on:
//  - validity: bit (row % 64) of word (row / 64) is 1 when the row is valid;
//    an empty validity buffer means no nulls. Bits past `length` are 0.
//  - the value slot of a null row is zero (numbers, bools) or an empty string,
//    so sums and hashes of the value array need no masking.
//  - strings: offsets[0] == 0, offsets non-decreasing, offsets[length] ==
//    chars().size(); the bytes are valid UTF-8.
// Columns are immutable once built and shared between tables by pointer.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "columnar/buffer.h"
#include "columnar/types.h"

namespace pipeline::columnar {

class Column;
using ColumnPtr = std::shared_ptr<const Column>;

inline bool BitIsSet(const uint64_t* words, int64_t bit) { return (words[bit >> 6] >> (bit & 63)) & 1; }
inline void SetBit(uint64_t* words, int64_t bit) { words[bit >> 6] |= uint64_t{1} << (bit & 63); }
inline void ClearBit(uint64_t* words, int64_t bit) { words[bit >> 6] &= ~(uint64_t{1} << (bit & 63)); }
inline int64_t BitmapWords(int64_t bits) { return (bits + 63) >> 6; }

class Column {
 public:
  // Buffers sized for `length` rows (values zeroed, no validity, strings with
  // all offsets 0 and no bytes yet).
  Column(DataType type, int64_t length);
  Column(DataType type, int64_t length, Buffer values, Buffer validity, Buffer chars = {});

  DataType type() const { return type_; }
  int64_t length() const { return length_; }
  int64_t null_count() const { return null_count_; }
  bool has_nulls() const { return null_count_ > 0; }

  // nullptr when the column has no nulls.
  const uint64_t* validity() const { return validity_.empty() ? nullptr : validity_.as<uint64_t>(); }
  bool IsValid(int64_t row) const { return validity_.empty() || BitIsSet(validity_.as<uint64_t>(), row); }
  bool IsNull(int64_t row) const { return !IsValid(row); }

  template <class T>
  const T* data() const { return values_.as<T>(); }
  const int64_t* ints() const { return values_.as<int64_t>(); }      // int64, timestamp
  const double* doubles() const { return values_.as<double>(); }     // float64
  const uint8_t* bools() const { return values_.as<uint8_t>(); }     // bool
  const uint32_t* offsets() const { return values_.as<uint32_t>(); } // string
  const char* chars() const { return reinterpret_cast<const char*>(chars_.data()); }
  int64_t chars_size() const { return static_cast<int64_t>(chars_.size()); }
  std::string_view StringAt(int64_t row) const {
    const uint32_t* o = offsets();
    return {chars() + o[row], static_cast<size_t>(o[row + 1] - o[row])};
  }

  const Buffer& values_buffer() const { return values_; }
  const Buffer& validity_buffer() const { return validity_; }
  const Buffer& chars_buffer() const { return chars_; }

  // Mutable access while a producer fills a column it has not shared yet.
  Buffer& mutable_values() { return values_; }
  Buffer& mutable_validity() { return validity_; }
  Buffer& mutable_chars() { return chars_; }
  // Allocates an all-valid validity bitmap if there is none (bits past length 0).
  uint64_t* EnsureValidity();
  // Recounts nulls from the bitmap (after a producer edited it); drops an
  // all-valid bitmap.
  void FinishValidity();
  // Marks `row` null and zeroes its slot (not for strings: use ColumnBuilder).
  void SetNull(int64_t row);

 private:
  DataType type_;
  int64_t length_;
  int64_t null_count_ = 0;
  Buffer values_;
  Buffer validity_;
  Buffer chars_;
};

// `length` nulls of `type` (a side of a comparison, an input, that holds no
// value at all, read as the type the other side has).
ColumnPtr NullColumn(DataType type, int64_t length);

// Appends values one by one, for readers that do not know the row count in
// advance (JSONL, tests). Check the type before calling a typed Append.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(DataType type);

  DataType type() const { return type_; }
  int64_t length() const { return length_; }

  void AppendNull();
  void AppendInt(int64_t value);      // int64, timestamp
  void AppendDouble(double value);    // float64
  void AppendBool(bool value);        // bool
  // string; throws FormatError past 4 GiB of text in one column (offsets are 32-bit)
  void AppendString(std::string_view value);
  void Reserve(int64_t rows);

  ColumnPtr Finish();

 private:
  void AppendValidity(bool valid);

  DataType type_;
  int64_t length_ = 0;
  int64_t null_count_ = 0;
  Buffer values_;
  Buffer validity_;  // written only once the first null arrives
  Buffer chars_;
};

}  // namespace pipeline::columnar
