#include "ml/metrics.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace pipeline::ml {

double RocAuc(const double* y, const double* score, int64_t n) {
  // A NaN score has no rank (and would break the sort's ordering).
  if (std::any_of(score, score + n, [](double v) { return std::isnan(v); })) return std::numeric_limits<double>::quiet_NaN();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double rank_sum = 0;
  int64_t positives = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    int64_t tied_positives = 0;
    while (j < n && score[order[size_t(j)]] == score[order[size_t(i)]]) tied_positives += y[order[size_t(j++)]] == 1;
    rank_sum += double(tied_positives) * (double(i + 1) + double(j)) / 2.0;
    positives += tied_positives;
    i = j;
  }
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - double(positives) * double(positives + 1) / 2.0) / (double(positives) * double(negatives));
}

ClassificationMetrics EvaluateClassifier(const double* y, const double* p, int64_t n) {
  ClassificationMetrics m;
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool actual = y[i] == 1;
    const bool predicted = p[i] >= 0.5;
    m.tp += actual && predicted;
    m.fp += !actual && predicted;
    m.tn += !actual && !predicted;
    m.fn += actual && !predicted;
    const double clipped = std::clamp(p[i], DBL_EPSILON, 1.0 - DBL_EPSILON);
    loss -= actual ? std::log(clipped) : std::log1p(-clipped);
  }
  auto ratio = [](double a, double b) { return b == 0 ? 0.0 : a / b; };
  m.accuracy = ratio(double(m.tp + m.tn), double(n));
  m.precision = ratio(double(m.tp), double(m.tp + m.fp));
  m.recall = ratio(double(m.tp), double(m.tp + m.fn));
  m.f1 = ratio(2.0 * double(m.tp), double(2 * m.tp + m.fp + m.fn));
  m.logloss = n == 0 ? 0 : loss / double(n);
  m.auc = RocAuc(y, p, n);
  return m;
}

RegressionMetrics EvaluateRegressor(const double* y, const double* prediction, int64_t n) {
  RegressionMetrics m;
  if (n == 0) return m;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += y[i];
  mean /= double(n);
  double ss_res = 0, ss_tot = 0, abs_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = y[i] - prediction[i];
    ss_res += e * e;
    abs_sum += std::fabs(e);
    ss_tot += (y[i] - mean) * (y[i] - mean);
  }
  m.rmse = std::sqrt(ss_res / double(n));
  m.mae = abs_sum / double(n);
  // scikit-learn's r2_score: undefined (NaN) for fewer than two rows; for a
  // constant target 1 when every prediction is exact, else 0.
  m.r2 = n < 2 ? std::numeric_limits<double>::quiet_NaN()
               : ss_tot == 0 ? (ss_res == 0 ? 1.0 : 0.0) : 1.0 - ss_res / ss_tot;
  return m;
}

}  // namespace pipeline::ml
