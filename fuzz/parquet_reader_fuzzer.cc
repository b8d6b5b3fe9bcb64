// libFuzzer target for the Parquet reader: any bytes must give a table or a
// columnar::FormatError, never a crash, a hang or a sanitizer report. A
// table that comes back must keep the column invariants (column.h), and
// writing it and reading it again must give the same values.
// Seeds: fuzz/parquet-seeds/ (files written by our writer).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "columnar/parquet.h"

namespace {

using namespace pipeline::columnar;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// The invariants of column.h, touching every byte a reader would.
void CheckColumn(const Column& column) {
  int64_t n = column.length();
  if (const uint64_t* validity = column.validity()) {
    if (n & 63) Check((validity[BitmapWords(n) - 1] >> (n & 63)) == 0);
  }
  for (int64_t row = 0; row < n; ++row) {
    bool valid = column.IsValid(row);
    switch (column.type()) {
      case DataType::kInt64:
      case DataType::kTimestamp: Check(valid || column.ints()[row] == 0); break;
      case DataType::kFloat64: Check(valid || column.doubles()[row] == 0); break;
      case DataType::kBool: Check(column.bools()[row] <= 1 && (valid || column.bools()[row] == 0)); break;
      case DataType::kString:
        Check(column.offsets()[row] <= column.offsets()[row + 1]);
        Check(valid || column.StringAt(row).empty());
        break;
    }
  }
  if (column.type() == DataType::kString) {
    Check(column.offsets()[0] == 0 && column.offsets()[n] == column.chars_size());
  }
}

bool SameColumn(const Column& a, const Column& b) {
  if (a.type() != b.type() || a.length() != b.length() || a.null_count() != b.null_count()) return false;
  for (int64_t row = 0; row < a.length(); ++row) {
    if (a.IsValid(row) != b.IsValid(row)) return false;
    if (a.type() == DataType::kString) {
      if (a.StringAt(row) != b.StringAt(row)) return false;
    } else if (a.type() == DataType::kBool) {
      if (a.bools()[row] != b.bools()[row]) return false;
    } else if (std::memcmp(a.ints() + row, b.ints() + row, 8) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ParquetReadOptions options;
  options.threads = 1;
  TablePtr table;
  try {
    table = ReadParquetBuffer(data, size, "fuzz.parquet", options);
  } catch (const FormatError&) {
    return 0;
  }
  for (const Batch& batch : table->batches()) {
    for (const ColumnPtr& column : batch.columns) CheckColumn(*column);
  }
  if (table->num_columns() == 0) return 0;
  ParquetWriteOptions write;
  write.threads = 1;
  std::vector<uint8_t> bytes = WriteParquetBuffer(*table, write);
  TablePtr again = ReadParquetBuffer(bytes.data(), bytes.size(), "again.parquet", options);
  Check(again->schema() == table->schema() && again->num_rows() == table->num_rows());
  // Same row groups (the writer's are larger), so compare batch by batch only when they line up.
  if (again->num_batches() == table->num_batches()) {
    for (int b = 0; b < table->num_batches(); ++b) {
      for (int c = 0; c < table->num_columns(); ++c) {
        Check(SameColumn(*table->batch(b).columns[c], *again->batch(b).columns[c]));
      }
    }
  }
  return 0;
}
