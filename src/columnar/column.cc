#include "columnar/column.h"

#include <algorithm>
#include <bit>

namespace pipeline::columnar {
namespace {

size_t ValueWidth(DataType type) {
  switch (type) {
    case DataType::kInt64:
    case DataType::kTimestamp:
    case DataType::kFloat64: return 8;
    case DataType::kBool: return 1;
    case DataType::kString: return 4;
  }
  return 8;
}

size_t ValueBytes(DataType type, int64_t length) {
  return ValueWidth(type) * static_cast<size_t>(length + (type == DataType::kString ? 1 : 0));
}

int64_t CountValid(const uint64_t* words, int64_t length) {
  int64_t valid = 0;
  for (int64_t w = 0; w < BitmapWords(length); ++w) valid += std::popcount(words[w]);
  return valid;
}

}  // namespace

Column::Column(DataType type, int64_t length)
    : type_(type), length_(length), values_(ValueBytes(type, length)) {}

Column::Column(DataType type, int64_t length, Buffer values, Buffer validity, Buffer chars)
    : type_(type), length_(length), values_(std::move(values)), validity_(std::move(validity)),
      chars_(std::move(chars)) {
  FinishValidity();
}

uint64_t* Column::EnsureValidity() {
  if (validity_.empty()) {
    int64_t words = BitmapWords(length_);
    validity_.Resize(static_cast<size_t>(words) * 8);
    uint64_t* w = validity_.as<uint64_t>();
    for (int64_t i = 0; i < words; ++i) w[i] = ~uint64_t{0};
    if (length_ & 63) w[words - 1] = (uint64_t{1} << (length_ & 63)) - 1;
  }
  return validity_.as<uint64_t>();
}

void Column::FinishValidity() {
  if (validity_.empty()) {
    null_count_ = 0;
    return;
  }
  null_count_ = length_ - CountValid(validity_.as<uint64_t>(), length_);
  if (null_count_ == 0) validity_ = Buffer();
}

void Column::SetNull(int64_t row) {
  uint64_t* w = EnsureValidity();
  if (!BitIsSet(w, row)) return;
  ClearBit(w, row);
  ++null_count_;
  switch (type_) {
    case DataType::kInt64:
    case DataType::kTimestamp: values_.as<int64_t>()[row] = 0; break;
    case DataType::kFloat64: values_.as<double>()[row] = 0; break;
    case DataType::kBool: values_.as<uint8_t>()[row] = 0; break;
    case DataType::kString: break;
  }
}

ColumnBuilder::ColumnBuilder(DataType type) : type_(type) {
  if (type_ == DataType::kString) {
    uint32_t zero = 0;
    values_.Append(&zero, sizeof zero);
  }
}

void ColumnBuilder::Reserve(int64_t rows) {
  values_.Reserve(ValueBytes(type_, rows));
}

void ColumnBuilder::AppendValidity(bool valid) {
  if (!valid && validity_.empty()) {
    // First null: materialise the bitmap with every earlier row valid.
    validity_.ResizeZeroed(static_cast<size_t>(BitmapWords(length_ + 1)) * 8);
    uint64_t* w = validity_.as<uint64_t>();
    for (int64_t row = 0; row < length_; ++row) SetBit(w, row);
  }
  if (!validity_.empty()) {
    size_t need = static_cast<size_t>(BitmapWords(length_ + 1)) * 8;
    if (validity_.size() < need) validity_.ResizeZeroed(need);
    if (valid) SetBit(validity_.as<uint64_t>(), length_);
  }
  if (!valid) ++null_count_;
  ++length_;
}

void ColumnBuilder::AppendNull() {
  switch (type_) {
    case DataType::kInt64:
    case DataType::kTimestamp: {
      int64_t zero = 0;
      values_.Append(&zero, 8);
      break;
    }
    case DataType::kFloat64: {
      double zero = 0;
      values_.Append(&zero, 8);
      break;
    }
    case DataType::kBool: {
      uint8_t zero = 0;
      values_.Append(&zero, 1);
      break;
    }
    case DataType::kString: {
      uint32_t end = static_cast<uint32_t>(chars_.size());
      values_.Append(&end, 4);
      break;
    }
  }
  AppendValidity(false);
}

void ColumnBuilder::AppendInt(int64_t value) {
  values_.Append(&value, 8);
  AppendValidity(true);
}

void ColumnBuilder::AppendDouble(double value) {
  values_.Append(&value, 8);
  AppendValidity(true);
}

void ColumnBuilder::AppendBool(bool value) {
  uint8_t v = value ? 1 : 0;
  values_.Append(&v, 1);
  AppendValidity(true);
}

void ColumnBuilder::AppendString(std::string_view value) {
  if (chars_.size() + value.size() > UINT32_MAX) throw FormatError("a string column would hold more than 4 GiB of text");
  chars_.Append(value.data(), value.size());
  uint32_t end = static_cast<uint32_t>(chars_.size());
  values_.Append(&end, 4);
  AppendValidity(true);
}

ColumnPtr NullColumn(DataType type, int64_t length) {
  auto column = std::make_shared<Column>(type, length);
  uint64_t* bits = column->EnsureValidity();
  std::fill(bits, bits + BitmapWords(length), uint64_t{0});
  column->FinishValidity();
  return column;
}

ColumnPtr ColumnBuilder::Finish() {
  auto column = std::make_shared<Column>(type_, length_, std::move(values_), std::move(validity_),
                                         std::move(chars_));
  *this = ColumnBuilder(type_);
  return column;
}

}  // namespace pipeline::columnar
