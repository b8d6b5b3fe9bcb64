// The test metrics of a model, as `train` records them and `serve`'s gate
// compares them: one definition for both.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace pipeline::ops {

// {"accuracy", "auc", "logloss", "precision", "recall", "f1", "confusion"}
// for kind "classification" (p: the probability of class 1), {"rmse",
// "mae", "r2"} for "regression"; a figure that is not finite is null.
nlohmann::json TestMetrics(const std::string& kind, const double* y, const double* p, int64_t n);

}  // namespace pipeline::ops
