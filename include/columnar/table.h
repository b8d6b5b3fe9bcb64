// A table: a schema plus batches of equal-length columns. Row-local
// operators stream batch by batch; whole-table steps (sorts, group-bys) see
// all batches. Tables are immutable once built and shared by pointer; a step
// that keeps a column passes the same ColumnPtr on.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "columnar/column.h"
#include "columnar/types.h"

namespace pipeline::columnar {

// Readers aim for batches of about this many rows.
inline constexpr int64_t kDefaultBatchRows = 1 << 17;

struct Batch {
  int64_t num_rows = 0;
  std::vector<ColumnPtr> columns;  // one per schema field, each num_rows long
};

class Table;
using TablePtr = std::shared_ptr<const Table>;

class Table {
 public:
  Table() = default;
  explicit Table(Schema schema) : schema_(std::move(schema)) {}

  const Schema& schema() const { return schema_; }
  int num_columns() const { return schema_.num_fields(); }
  int64_t num_rows() const { return num_rows_; }
  const std::vector<Batch>& batches() const { return batches_; }
  int num_batches() const { return static_cast<int>(batches_.size()); }
  const Batch& batch(int index) const { return batches_[index]; }

  // Bytes the table's buffers hold (values, validity, string bytes).
  int64_t MemoryBytes() const;

  // Throws FormatError when the batch does not match the schema (count,
  // types, lengths).
  void AddBatch(Batch batch);

  // Free-form key/value metadata saved with the table (Parquet key_value
  // metadata), e.g. "pipe.transform" -> fitted parameters as JSON.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  void SetMetadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

 private:
  Schema schema_;
  std::vector<Batch> batches_;
  int64_t num_rows_ = 0;
  std::map<std::string, std::string> metadata_;
};

}  // namespace pipeline::columnar
