#include "ops/model_metrics.h"

#include <cmath>

#include "ml/metrics.h"

namespace pipeline::ops {

namespace {

nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json TestMetrics(const std::string& kind, const double* y, const double* p, int64_t n) {
  if (kind == "classification") {
    ml::ClassificationMetrics m = ml::EvaluateClassifier(y, p, n);
    return {{"accuracy", Finite(m.accuracy)}, {"auc", Finite(m.auc)},        {"logloss", Finite(m.logloss)},
            {"precision", Finite(m.precision)}, {"recall", Finite(m.recall)}, {"f1", Finite(m.f1)},
            {"confusion", {{"tp", m.tp}, {"fp", m.fp}, {"tn", m.tn}, {"fn", m.fn}}}};
  }
  ml::RegressionMetrics m = ml::EvaluateRegressor(y, p, n);
  return {{"rmse", Finite(m.rmse)}, {"mae", Finite(m.mae)}, {"r2", Finite(m.r2)}};
}

}  // namespace pipeline::ops
