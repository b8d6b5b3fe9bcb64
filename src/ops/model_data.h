// The values a model is fitted and scored on, and its test metrics, as
// `train` records them and `serve`'s gate compares them: one definition
// for both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "columnar/table.h"

namespace pipeline::ops {

// {"accuracy", "auc", "logloss", "precision", "recall", "f1", "confusion"}
// for kind "classification" (p: the probability of class 1), {"rmse",
// "mae", "r2"} for "regression"; a figure that is not finite is null.
// Column `idx` of `table` as doubles (int64 as is, bool as 0/1; timestamp
// only for `what` "split.by_time column"). A null is NaN when
// `nulls_as_nan`, else an OpError; with `finite`, so is NaN or an infinity.
// Messages start "OP: WHAT 'NAME' ...".
std::vector<double> ColumnAsDoubles(const columnar::Table& table, int idx, bool nulls_as_nan, bool finite,
                                    const std::string& op, const std::string& what);

nlohmann::json TestMetrics(const std::string& kind, const double* y, const double* p, int64_t n);

}  // namespace pipeline::ops
