// The values a model is fitted and scored on, and its test metrics, as
// `train` records them and `serve`'s gate compares them: one definition
// for both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "columnar/table.h"
#include "core/dag_spec.h"

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

// "classification" or "regression": what a `model` (train's argument) with
// XGBoost objective `objective` predicts. nullopt for xgboost with no
// objective (the target's values decide) or one train does not support
// (binary:logistic, reg:*, count:* are).
std::optional<std::string> ModelKind(std::string_view model, std::string_view objective);
// The kind a train task's arguments fix (its `model`, its `params.objective`),
// nullopt when they do not (or are templates).
std::optional<std::string> TrainTaskKind(const TaskSpec& train);
// The kind of model a test metric describes: "classification" for auc,
// accuracy, f1, precision, recall and logloss, "regression" for rmse, mae, r2.
std::string_view MetricKind(std::string_view metric);
// "classifier" or "regressor": a model of `kind`, for messages.
std::string_view KindNoun(std::string_view kind);

}  // namespace pipeline::ops
