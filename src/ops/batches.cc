#include "ops/batches.h"

#include <algorithm>
#include <exception>

#include "columnar/compute.h"
#include "columnar/parallel.h"
#include "kernels/kernels.h"
#include "ops/operators.h"

namespace pipeline::ops {

using columnar::ColumnPtr;

std::vector<uint64_t> NewBitmap(int64_t rows, bool ones) {
  std::vector<uint64_t> bits(static_cast<size_t>(columnar::BitmapWords(rows)) + 8, 0);
  if (ones) {
    for (int64_t w = 0; w < rows / 64; ++w) bits[w] = ~uint64_t{0};
    if (rows % 64) bits[rows / 64] = (uint64_t{1} << (rows % 64)) - 1;
  }
  return bits;
}

void OrBitsAt(uint64_t* dst, int64_t offset, const uint64_t* src, int64_t n) {
  const int shift = static_cast<int>(offset & 63);
  uint64_t* out = dst + (offset >> 6);
  const int64_t words = columnar::BitmapWords(n);
  for (int64_t w = 0; w < words; ++w) {
    uint64_t v = src[w];
    if (w == words - 1 && n % 64) v &= (uint64_t{1} << (n % 64)) - 1;
    out[w] |= v << shift;
    if (shift && (v >> (64 - shift))) out[w + 1] |= v >> (64 - shift);
  }
}

Batches Batches::Of(const columnar::Table& table) {
  Batches w;
  w.fields_ = table.schema().fields();
  for (const columnar::Batch& b : table.batches()) {
    if (b.num_rows > 0) w.batches_.push_back(b);
  }
  w.Reindex();
  return w;
}

void Batches::Reindex() {
  offsets_.clear();
  rows_ = 0;
  for (const columnar::Batch& b : batches_) {
    offsets_.push_back(rows_);
    rows_ += b.num_rows;
  }
}

std::vector<std::string> Batches::names() const {
  std::vector<std::string> out;
  for (const columnar::Field& f : fields_) out.push_back(f.name);
  return out;
}

std::pair<int, int64_t> Batches::Locate(int64_t row) const {
  int b = static_cast<int>(std::upper_bound(offsets_.begin(), offsets_.end(), row) - offsets_.begin()) - 1;
  return {b, row - offsets_[b]};
}

int Batches::Index(const std::string& name, const std::string& where, const char* in) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  ThrowMissingColumn(where, name, names(), in);
}

std::vector<ColumnPtr> Batches::Parts(int index) const {
  std::vector<ColumnPtr> parts;
  parts.reserve(batches_.size());
  for (const columnar::Batch& b : batches_) parts.push_back(b.columns[index]);
  return parts;
}

columnar::Grouping Batches::Group(const std::vector<int>& indices) const {
  std::vector<std::vector<ColumnPtr>> keys;
  keys.reserve(batches_.size());
  for (const columnar::Batch& b : batches_) {
    std::vector<ColumnPtr> row;
    for (int i : indices) row.push_back(b.columns[i]);
    keys.push_back(std::move(row));
  }
  return columnar::GroupBatchRows(keys);
}

ColumnPtr Batches::Gather(int index) const {
  const columnar::Field& f = fields_[index];
  if (batches_.empty()) return std::make_shared<columnar::Column>(f.type, 0);
  try {
    return columnar::ConcatColumns(f.type, Parts(index), f.name);
  } catch (const columnar::FormatError& e) {
    throw OpError(e.what());
  }
}

std::vector<ColumnPtr> Batches::Split(const columnar::Column& whole) const {
  std::vector<ColumnPtr> parts(batches_.size());
  ForEach([&](int b) { parts[b] = columnar::Slice(whole, offsets_[b], batches_[b].num_rows); });
  return parts;
}

void Batches::ForEach(const std::function<void(int b)>& fn) const {
  std::vector<std::exception_ptr> errors(batches_.size());
  columnar::ParallelFor(batches_.size(), columnar::DefaultThreads(), [&](size_t b) {
    try {
      fn(static_cast<int>(b));
    } catch (...) {
      errors[b] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

void Batches::Set(const std::string& name, columnar::DataType type, std::vector<ColumnPtr> parts) {
  if (spill_) ForEach([&](int b) { parts[b] = spill_->Move(parts[b]); });
  int index = -1;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) index = static_cast<int>(i);
  }
  if (index < 0) {
    fields_.push_back({name, type});
    for (size_t b = 0; b < batches_.size(); ++b) batches_[b].columns.push_back(std::move(parts[b]));
    return;
  }
  fields_[index].type = type;
  for (size_t b = 0; b < batches_.size(); ++b) batches_[b].columns[index] = std::move(parts[b]);
}

void Batches::Project(const std::vector<int>& indices) {
  std::vector<columnar::Field> fields;
  for (int i : indices) fields.push_back(fields_[i]);
  for (columnar::Batch& b : batches_) {
    std::vector<ColumnPtr> columns;
    for (int i : indices) columns.push_back(b.columns[i]);
    b.columns = std::move(columns);
  }
  fields_ = std::move(fields);
}

void Batches::Keep(const std::vector<std::vector<uint64_t>>& keep) {
  std::vector<columnar::Batch> next(batches_.size());
  ForEach([&](int b) {
    const columnar::Batch& in = batches_[b];
    if (keep[b].empty()) {
      next[b] = in;
      return;
    }
    int64_t selected = kernels::CountSet(keep[b].data(), in.num_rows);
    next[b] = columnar::FilterBatch(in, keep[b].data(), selected);
    if (spill_) next[b] = spill_->Move(next[b]);
  });
  batches_.clear();
  for (columnar::Batch& b : next) {
    if (b.num_rows > 0) batches_.push_back(std::move(b));
  }
  Reindex();
}

std::vector<std::vector<uint64_t>> Batches::SplitBits(const uint64_t* bits) const {
  std::vector<std::vector<uint64_t>> out;
  out.reserve(batches_.size());
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t n = batches_[b].num_rows;
    const int64_t first = offsets_[b];
    std::vector<uint64_t> part = NewBitmap(n);
    const int shift = static_cast<int>(first & 63);
    const uint64_t* src = bits + (first >> 6);
    const int64_t words = columnar::BitmapWords(n);
    for (int64_t w = 0; w < words; ++w) {
      uint64_t v = src[w] >> shift;
      // The next source word exists whenever this one holds fewer bits than wanted.
      if (shift && (w + 1) * 64 - shift < n) v |= src[w + 1] << (64 - shift);
      part[w] = v;
    }
    if (n % 64) part[words - 1] &= (uint64_t{1} << (n % 64)) - 1;
    out.push_back(std::move(part));
  }
  return out;
}

columnar::TablePtr Batches::ToTable(const std::map<std::string, std::string>& metadata) const {
  auto out = std::make_shared<columnar::Table>(columnar::Schema(fields_));
  for (const auto& [k, v] : metadata) out->SetMetadata(k, v);
  for (const columnar::Batch& b : batches_) out->AddBatch(b);
  return out;
}

}  // namespace pipeline::ops
