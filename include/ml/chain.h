// The fitted transform chain of a training table (its "pipe.transform"
// metadata: `clean`'s fill values, clips, casts and masks, `transform`'s
// fitted steps, in order),
// replayed on new rows. Every step is row-local once fitted, so a chain
// applies to each batch of a table on its own: to one row of a predict
// request or to a hundred million rows of a nightly scoring run alike.
// Knows nothing of DAGs or the registry: it maps a columnar table to another.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "columnar/table.h"
#include "ml/linear.h"

namespace pipeline::ml {

class TransformChain {
 public:
  TransformChain() = default;
  // `steps`: [{"step": KIND, "params": {...}}, ...] as `clean` and
  // `transform` record them. Throws ModelError for a step kind this version
  // cannot replay or params of the wrong shape.
  explicit TransformChain(const nlohmann::json& steps);

  bool empty() const { return steps_.empty(); }

  // The columns a row must carry: what the steps and `features` read that no
  // earlier step makes, in first-use order, typed as the chain's `source`
  // step recorded them (else, for a feature, its type in `features`; else
  // the type its first step needs: float64 for numeric steps, timestamp for
  // datetime_parts, string otherwise).
  std::vector<columnar::Field> Inputs(const std::vector<columnar::Field>& features) const;

  // The table with every step applied, batch by batch. Throws ModelError
  // naming the step and the column at fault (a column missing or of a type
  // the step cannot take), a RowError for a value a cast cannot take.
  columnar::TablePtr Apply(const columnar::Table& table) const;
  // One batch of a table with `schema`; `out` receives the result's schema.
  // `first_row`: the batch's first row in its table (for messages).
  columnar::Batch ApplyBatch(const columnar::Schema& schema, const columnar::Batch& batch,
                             columnar::Schema* out, int64_t first_row = 0) const;

 private:
  struct Step {
    std::string kind;
    nlohmann::json params;
  };
  std::vector<Step> steps_;
  std::vector<columnar::Field> source_;  // the `source` step's columns, if recorded
};

// The value of a fitted step's category or fill value as a one-row column
// of `type` (JSON numbers, bools, and text for strings and timestamps).
// Throws ModelError when the value does not fit the type.
columnar::ColumnPtr ValueColumn(const nlohmann::json& value, columnar::DataType type, const std::string& what);

// A number column as float64 (int64 converted, validity kept); throws
// ModelError "STEP: column 'NAME' is TYPE, not a number" for another type.
columnar::ColumnPtr AsDoubles(const columnar::ColumnPtr& c, const std::string& name, const std::string& step);
// kernel(values, validity, n, out) over a float64 column, validity kept.
using DoubleKernel = std::function<void(const double*, const uint64_t*, int64_t, double*)>;
columnar::ColumnPtr MapDoubles(const columnar::Column& c, const DoubleKernel& kernel);

// hour, dayofweek (Monday 0), day, month, year of a timestamp column (UTC).
columnar::ColumnPtr DatetimePart(const columnar::Column& c, const std::string& part);

}  // namespace pipeline::ml
