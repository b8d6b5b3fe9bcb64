#include "ml/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace pipeline::ml {
namespace {

TEST(MetricsTest, ConfusionAndRatiosAtOneHalf) {
  std::vector<double> y = {1, 1, 1, 0, 0, 0, 0, 1};
  std::vector<double> p = {0.9, 0.5, 0.2, 0.6, 0.1, 0.49, 0.3, 0.8};
  ClassificationMetrics m = EvaluateClassifier(y.data(), p.data(), 8);
  EXPECT_EQ(m.tp, 3);  // 0.9, 0.5 (>= 0.5 is positive), 0.8
  EXPECT_EQ(m.fn, 1);
  EXPECT_EQ(m.fp, 1);
  EXPECT_EQ(m.tn, 3);
  EXPECT_DOUBLE_EQ(m.accuracy, 6.0 / 8);
  EXPECT_DOUBLE_EQ(m.precision, 3.0 / 4);
  EXPECT_DOUBLE_EQ(m.recall, 3.0 / 4);
  EXPECT_DOUBLE_EQ(m.f1, 0.75);
}

TEST(MetricsTest, AucCountsTiesAsOneHalf) {
  std::vector<double> y = {0, 1, 0, 1};
  std::vector<double> s = {0.5, 0.5, 0.1, 0.9};
  // Pairs (pos, neg): (0.5,0.5) tie 1/2, (0.5,0.1) 1, (0.9,0.5) 1, (0.9,0.1) 1.
  EXPECT_DOUBLE_EQ(RocAuc(y.data(), s.data(), 4), 3.5 / 4);
  std::vector<double> one_class = {1, 1};
  EXPECT_TRUE(std::isnan(RocAuc(one_class.data(), s.data(), 2)));
}

TEST(MetricsTest, NoPositivePredictionGivesZeroPrecision) {
  std::vector<double> y = {1, 0}, p = {0.1, 0.2};
  ClassificationMetrics m = EvaluateClassifier(y.data(), p.data(), 2);
  EXPECT_EQ(m.precision, 0);
  EXPECT_EQ(m.f1, 0);
}

TEST(MetricsTest, LogLossClipsCertainWrongAnswers) {
  std::vector<double> y = {1}, p = {0.0};
  ClassificationMetrics m = EvaluateClassifier(y.data(), p.data(), 1);
  EXPECT_NEAR(m.logloss, -std::log(2.220446049250313e-16), 1e-9);
}

TEST(MetricsTest, RegressionFigures) {
  std::vector<double> y = {1, 2, 3, 4}, pred = {1, 2, 4, 2};
  RegressionMetrics m = EvaluateRegressor(y.data(), pred.data(), 4);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(5.0 / 4));
  EXPECT_DOUBLE_EQ(m.mae, 3.0 / 4);
  EXPECT_DOUBLE_EQ(m.r2, 1 - 5.0 / 5.0);
  std::vector<double> flat = {2, 2};
  EXPECT_EQ(EvaluateRegressor(flat.data(), flat.data(), 2).r2, 1.0);
}

}  // namespace
}  // namespace pipeline::ml
