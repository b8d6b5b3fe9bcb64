// Model metrics, defined as scikit-learn's `metrics` module defines them.
#pragma once

#include <cstdint>

namespace pipeline::ml {

// For labels y (0 or 1) and predicted probabilities p of class 1; the
// labels predicted are p >= 0.5. A ratio whose denominator is 0 (precision
// with no positive prediction, ...) is 0, as scikit-learn's zero_division
// default gives; AUC needs both classes and is NaN otherwise.
struct ClassificationMetrics {
  double accuracy = 0;
  double auc = 0;      // Mann-Whitney: ties count one half
  double logloss = 0;  // p clipped to [eps, 1 - eps], eps = DBL_EPSILON
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;  // the confusion matrix at 0.5
};
ClassificationMetrics EvaluateClassifier(const double* y, const double* p, int64_t n);

struct RegressionMetrics {
  double rmse = 0;
  double mae = 0;
  double r2 = 0;  // 1 - SSres / SStot; with a constant target 1 if exact, else 0
};
RegressionMetrics EvaluateRegressor(const double* y, const double* prediction, int64_t n);

// Area under the ROC curve of scores against labels (0/1); NaN with one class.
double RocAuc(const double* y, const double* score, int64_t n);

}  // namespace pipeline::ml
