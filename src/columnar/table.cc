#include "columnar/table.h"

#include <string>

namespace pipeline::columnar {

int64_t Table::MemoryBytes() const {
  int64_t bytes = 0;
  for (const Batch& b : batches_) {
    for (const ColumnPtr& c : b.columns) {
      bytes += static_cast<int64_t>(c->values_buffer().size() + c->validity_buffer().size() + c->chars_buffer().size());
    }
  }
  return bytes;
}

void Table::AddBatch(Batch batch) {
  if (static_cast<int>(batch.columns.size()) != schema_.num_fields()) {
    throw FormatError("batch has " + std::to_string(batch.columns.size()) + " columns, schema has " +
                      std::to_string(schema_.num_fields()));
  }
  for (int i = 0; i < schema_.num_fields(); ++i) {
    const Column& c = *batch.columns[i];
    if (c.type() != schema_.field(i).type || c.length() != batch.num_rows) {
      throw FormatError("batch column " + schema_.field(i).name + " does not match the schema");
    }
  }
  num_rows_ += batch.num_rows;
  batches_.push_back(std::move(batch));
}

}  // namespace pipeline::columnar
