// The working table of the row-local operators (validate, clean, transform,
// features): the input's batches, worked on batch by batch.
//
// A step runs over every batch before the next step starts. What a step
// needs from the whole table (a mean, min and max, a distinct count) is
// combined from every batch first; then the step maps each batch on its own,
// the batches spread over the cores. Steps that group rows do so batch by
// batch (Group); steps that need one column whole (a median, the categories
// of an encoding) gather just that column; no step concatenates the table.
// The output keeps the
// input's batches (fewer rows where a step drops some), so the next operator
// works batch by batch too, and a column a step leaves alone is shared with
// the input, not copied.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "columnar/hash_group.h"
#include "columnar/spill.h"
#include "columnar/table.h"

namespace pipeline::ops {

// A zeroed bitmap for `rows` bits, padded for the kernels; `ones` sets the
// `rows` bits.
std::vector<uint64_t> NewBitmap(int64_t rows, bool ones = false);

// ORs the `n` bits of `src` into `dst` starting at bit `offset`.
void OrBitsAt(uint64_t* dst, int64_t offset, const uint64_t* src, int64_t n);

class Batches {
 public:
  // Shares the table's columns; empty batches are left out.
  static Batches Of(const columnar::Table& table);

  // From now on, the columns and batches steps make move to `file` as they
  // are made (nullptr: they stay in memory).
  void SpillTo(std::shared_ptr<columnar::SpillFile> file) { spill_ = std::move(file); }

  const std::vector<columnar::Field>& fields() const { return fields_; }
  std::vector<std::string> names() const;
  columnar::Schema schema() const { return columnar::Schema(fields_); }
  int64_t rows() const { return rows_; }
  int num_batches() const { return static_cast<int>(batches_.size()); }
  const columnar::Batch& batch(int b) const { return batches_[b]; }
  // The table-wide number of batch b's first row.
  int64_t offset(int b) const { return offsets_[b]; }

  // The batch holding table-wide row `row`, and the row's place in it.
  std::pair<int, int64_t> Locate(int64_t row) const;

  // The index of column `name`; OpError naming `where` and the columns
  // (ThrowMissingColumn) when there is none.
  int Index(const std::string& name, const std::string& where, const char* in = "the input") const;

  // Column `index` over all batches as one column (the column itself when
  // there is one batch; an empty one when there are none).
  columnar::ColumnPtr Gather(int index) const;
  // The inverse: a rows()-long column cut at the batch boundaries.
  std::vector<columnar::ColumnPtr> Split(const columnar::Column& whole) const;
  // Column `index` of every batch.
  std::vector<columnar::ColumnPtr> Parts(int index) const;
  // The rows grouped by the values of columns `indices`, batch by batch
  // (nothing gathered); row numbers are table-wide.
  columnar::Grouping Group(const std::vector<int>& indices) const;

  // Calls fn(b) for every batch, the batches spread over the cores. When
  // calls throw, the exception of the lowest batch is rethrown (so a message
  // names the first bad row of the table), after every call has ended.
  void ForEach(const std::function<void(int b)>& fn) const;

  // Replaces column `name`'s parts (one per batch) and type, or appends the
  // column when there is none of that name.
  void Set(const std::string& name, columnar::DataType type, std::vector<columnar::ColumnPtr> parts);
  void Rename(int index, const std::string& name) { fields_[index].name = name; }
  // Keeps the columns `indices`, in that order.
  void Project(const std::vector<int>& indices);

  // Keeps, in batch b, the rows whose bit is set in keep[b] (keep[b] empty:
  // the whole batch); drops batches left empty.
  void Keep(const std::vector<std::vector<uint64_t>>& keep);
  // A table-wide bitmap (rows() bits) cut into one bitmap per batch.
  std::vector<std::vector<uint64_t>> SplitBits(const uint64_t* bits) const;

  // The result as a table with `metadata`.
  columnar::TablePtr ToTable(const std::map<std::string, std::string>& metadata) const;

 private:
  void Reindex();

  std::vector<columnar::Field> fields_;
  std::vector<columnar::Batch> batches_;
  std::vector<int64_t> offsets_;
  int64_t rows_ = 0;
  std::shared_ptr<columnar::SpillFile> spill_;
};

}  // namespace pipeline::ops
