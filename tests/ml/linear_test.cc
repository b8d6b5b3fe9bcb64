#include "ml/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace pipeline::ml {
namespace {

struct Data {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  Design design() const {
    Design d;
    d.rows = int64_t(y.size());
    for (size_t j = 0; j < x.size(); ++j) {
      d.columns.push_back(x[j].data());
      d.names.push_back("x" + std::to_string(j + 1));
    }
    d.target = y.data();
    return d;
  }
};

// y = 3 + 2 x1 - x2 + 0.5 x3 (+ noise), n rows.
Data LinearData(int64_t n, double noise, unsigned seed = 7) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Data data;
  data.x.assign(3, std::vector<double>(size_t(n)));
  data.y.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    for (auto& col : data.x) col[size_t(i)] = normal(rng) * 4 + 10;
    data.y[size_t(i)] = 3 + 2 * data.x[0][size_t(i)] - data.x[1][size_t(i)] + 0.5 * data.x[2][size_t(i)] +
                        noise * normal(rng);
  }
  return data;
}

TEST(LinearRegressionTest, RecoversAnExactRelationAcrossManyBlocks) {
  Data data = LinearData(20000, 0);
  LinearModel m = FitLinearRegression(data.design(), {});
  ASSERT_EQ(m.coef.size(), 3u);
  EXPECT_NEAR(m.coef[0], 2, 1e-10);
  EXPECT_NEAR(m.coef[1], -1, 1e-10);
  EXPECT_NEAR(m.coef[2], 0.5, 1e-10);
  EXPECT_NEAR(m.intercept, 3, 1e-8);
}

TEST(LinearRegressionTest, RidgeSolvesThePenalisedNormalEquations) {
  // One centred feature: coef = sum(x y) / (sum(x x) + l2).
  Data data;
  data.x = {{-2, -1, 0, 1, 2}};
  data.y = {1, 2, 2, 4, 6};
  LinearModel m = FitLinearRegression(data.design(), {.l2 = 5.0});
  EXPECT_DOUBLE_EQ(m.coef[0], (-2.0 * 1 - 2 + 0 + 4 + 12) / (10.0 + 5.0));
  EXPECT_DOUBLE_EQ(m.intercept, 3.0);  // the mean: the intercept is not penalised
}

TEST(LinearRegressionTest, TheResultDoesNotDependOnTheThreadCount) {
  Data data = LinearData(50000, 2.0);
  LinearModel one = FitLinearRegression(data.design(), {.l2 = 0, .threads = 1});
  LinearModel two = FitLinearRegression(data.design(), {.l2 = 0, .threads = 2});
  EXPECT_EQ(one.coef, two.coef);
  EXPECT_EQ(one.intercept, two.intercept);
}

TEST(LinearRegressionTest, TooFewRowsIsAnError) {
  Data data = LinearData(3, 1.0);
  try {
    FitLinearRegression(data.design(), {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(),
                 "linear_regression needs more rows than features: 3 rows for 3 features and the intercept (or set "
                 "params.l2: ridge fits any number)");
  }
  // Ridge is well posed with fewer rows than features: the minimum-norm
  // side of the penalised normal equations.
  LinearModel ridge = FitLinearRegression(data.design(), {.l2 = 1.0});
  std::vector<double> prediction(3);
  PredictLinear(ridge, {data.x[0].data(), data.x[1].data(), data.x[2].data()}, 3, prediction.data());
  for (double v : prediction) EXPECT_TRUE(std::isfinite(v));
}

TEST(LinearRegressionTest, FeaturesFarFromZeroOrHugeFitAsWellAsAnyOther) {
  // Given the same data with a feature moved by 1e9 (epoch seconds) or
  // scaled by 1e200, then the fit is the same model in those units: the
  // coefficients of the others unchanged, the moved one's absorbed by the
  // intercept, the scaled one's divided by 1e200.
  Data data = LinearData(500, 1.0);
  LinearModel base = FitLinearRegression(data.design(), {});
  Data moved = data, huge = data;
  for (double& v : moved.x[0]) v += 1e9;
  for (double& v : huge.x[1]) v *= 1e200;
  LinearModel m = FitLinearRegression(moved.design(), {});
  LinearModel h = FitLinearRegression(huge.design(), {});
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(m.coef[j], base.coef[j], 1e-6 * std::fabs(base.coef[j]));
    EXPECT_NEAR(h.coef[j] * (j == 1 ? 1e200 : 1.0), base.coef[j], 1e-9 * std::fabs(base.coef[j]));
  }
  EXPECT_NEAR(m.intercept + 1e9 * m.coef[0], base.intercept, 1e-3);
  EXPECT_NEAR(h.intercept, base.intercept, 1e-9 * std::fabs(base.intercept));
}

TEST(LinearRegressionTest, AConstantFeatureIsNamed) {
  Data data = LinearData(100, 1.0);
  std::fill(data.x[1].begin(), data.x[1].end(), 4.0);
  try {
    FitLinearRegression(data.design(), {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "feature 'x2' is constant in the training rows: drop it, or set params.l2");
  }
}

TEST(LinearRegressionTest, ACollinearFeatureIsNamedAndRidgeFitsAnyway) {
  Data data = LinearData(100, 1.0);
  for (size_t i = 0; i < data.y.size(); ++i) data.x[2][i] = data.x[0][i] - 2 * data.x[1][i];
  try {
    FitLinearRegression(data.design(), {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("feature 'x3' is a combination of the features before it"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("params.l2"), std::string::npos);
  }
  LinearModel m = FitLinearRegression(data.design(), {.l2 = 1.0});
  EXPECT_TRUE(std::isfinite(m.coef[2]));
}

// The gradient of sum w logloss + l2/2 |coef|^2, by plain loops.
std::vector<double> Gradient(const Data& data, const LinearModel& m, double l2, const std::vector<double>& w) {
  std::vector<double> g(data.x.size() + 1, 0.0);
  for (size_t i = 0; i < data.y.size(); ++i) {
    double z = m.intercept;
    for (size_t j = 0; j < data.x.size(); ++j) z += m.coef[j] * data.x[j][i];
    double r = (1 / (1 + std::exp(-z)) - data.y[i]) * (w.empty() ? 1.0 : w[i]);
    for (size_t j = 0; j < data.x.size(); ++j) g[j] += r * data.x[j][i];
    g.back() += r;
  }
  for (size_t j = 0; j < data.x.size(); ++j) g[j] += l2 * m.coef[j];
  return g;
}

Data LogisticData(int64_t n, double shift, unsigned seed = 11) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  Data data;
  data.x.assign(3, std::vector<double>(size_t(n)));
  data.y.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    for (auto& col : data.x) col[size_t(i)] = normal(rng);
    double z = shift + 1.2 * data.x[0][size_t(i)] - 0.8 * data.x[1][size_t(i)];
    data.y[size_t(i)] = uniform(rng) < 1 / (1 + std::exp(-z)) ? 1 : 0;
  }
  return data;
}

TEST(LogisticRegressionTest, ReachesTheOptimumOfThePenalisedLoss) {
  Data data = LogisticData(30000, -0.5);
  LogisticFit fit = FitLogisticRegression(data.design(), {.l2 = 2.0, .max_iter = 100, .tol = 1e-12});
  EXPECT_TRUE(fit.converged);
  EXPECT_LT(fit.iterations, 15);  // Newton: a handful of steps
  for (double g : Gradient(data, fit.model, 2.0, {})) EXPECT_LT(std::fabs(g), 1e-7);
  EXPECT_NEAR(fit.model.coef[0], 1.2, 0.1);
  EXPECT_NEAR(fit.model.coef[1], -0.8, 0.1);
  EXPECT_NEAR(fit.model.coef[2], 0, 0.1);
}

TEST(LogisticRegressionTest, AStopCheckEndsTheFitBetweenNewtonSteps) {
  Data data = LogisticData(3000, -0.5);
  int asked = 0;
  LogisticRegressionOptions options{.tol = 1e-12};
  options.stop = [&] { return ++asked > 2; };
  EXPECT_THROW(FitLogisticRegression(data.design(), options), Stopped);
  EXPECT_EQ(asked, 3);
  options.stop = [] { return false; };
  EXPECT_TRUE(FitLogisticRegression(data.design(), options).converged);
}

TEST(LogisticRegressionTest, BalancedWeightsEachClassByItsShare) {
  Data data = LogisticData(20000, -3.0);  // few positives
  double positives = 0;
  for (double y : data.y) positives += y;
  const double n = double(data.y.size());
  std::vector<double> w;
  for (double y : data.y) w.push_back(y == 1 ? n / (2 * positives) : n / (2 * (n - positives)));
  LogisticFit plain = FitLogisticRegression(data.design(), {.tol = 1e-12});
  LogisticFit balanced = FitLogisticRegression(data.design(), {.tol = 1e-12, .balanced = true});
  for (double g : Gradient(data, balanced.model, 1.0, w)) EXPECT_LT(std::fabs(g), 1e-7);
  EXPECT_GT(balanced.model.intercept, plain.model.intercept + 1.0);  // pushed towards the rare class
}

TEST(LogisticRegressionTest, SeparableClassesWithoutPenaltyStopWithinMaxIter) {
  Data data;
  data.x = {{-3, -2, -1, 1, 2, 3}};
  data.y = {0, 0, 0, 1, 1, 1};
  LogisticFit fit = FitLogisticRegression(data.design(), {.l2 = 0, .max_iter = 50});
  EXPECT_LE(fit.iterations, 50);
  EXPECT_GT(fit.model.coef[0], 1.0);
  EXPECT_TRUE(std::isfinite(fit.model.coef[0]));
}

TEST(LogisticRegressionTest, TargetsOtherThanZeroAndOneAreRefused) {
  Data data = LogisticData(10, 0);
  data.y[4] = 2;
  try {
    FitLogisticRegression(data.design(), {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "logistic_regression needs a target of 0 and 1; the training rows hold 2");
  }
}

TEST(LogisticRegressionTest, FeaturesFarFromZeroOrHugeReachTheSameOptimum) {
  // Given a feature with a mean of 1e6 and a spread of 1 (a Newton step on
  // raw values stalled there, reporting converged at a wrong point), or one
  // of magnitude 1e200 (its square overflowed: an all-zero model), then the
  // fit is the optimum of the same objective: the gradient in the units
  // given vanishes and the model is the plain one in those units.
  Data data = LogisticData(2000, 0.3);
  const LogisticRegressionOptions options{.l2 = 0, .max_iter = 100, .tol = 1e-10};
  LogisticFit base = FitLogisticRegression(data.design(), options);
  ASSERT_TRUE(base.converged);
  Data moved = data, huge = data;
  for (double& v : moved.x[0]) v += 1e6;
  for (double& v : huge.x[1]) v *= 1e200;
  LogisticFit m = FitLogisticRegression(moved.design(), options);
  LogisticFit h = FitLogisticRegression(huge.design(), options);
  EXPECT_TRUE(m.converged);
  EXPECT_TRUE(h.converged);
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(m.model.coef[j], base.model.coef[j], 1e-6) << j;
    EXPECT_NEAR(h.model.coef[j] * (j == 1 ? 1e200 : 1.0), base.model.coef[j], 1e-6) << j;
  }
  EXPECT_NEAR(m.model.intercept + 1e6 * m.model.coef[0], base.model.intercept, 1e-3);
}

TEST(LogisticRegressionTest, WithoutPenaltyAConstantOrDependentFeatureIsNamed) {
  Data data = LogisticData(500, 0);
  Data constant = data, dependent = data;
  std::fill(constant.x[1].begin(), constant.x[1].end(), 5.0);
  for (size_t i = 0; i < data.y.size(); ++i) dependent.x[2][i] = 2 * data.x[0][i] + data.x[1][i];
  try {
    FitLogisticRegression(constant.design(), {.l2 = 0});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "feature 'x2' is constant in the training rows: drop it, or set params.l2");
  }
  try {
    FitLogisticRegression(dependent.design(), {.l2 = 0});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(),
                 "the features are linearly dependent: feature 'x3' is a combination of the features before it; drop "
                 "it, or set params.l2");
  }
  // With a penalty both fit; the constant feature's coefficient is 0 (the
  // intercept, unpenalised, does its work).
  LogisticFit fit = FitLogisticRegression(constant.design(), {.l2 = 1.0});
  EXPECT_EQ(fit.model.coef[1], 0.0);
  EXPECT_TRUE(FitLogisticRegression(dependent.design(), {.l2 = 1.0}).converged);
}

TEST(LogisticRegressionTest, OneClassIsRefused) {
  Data data = LogisticData(10, 0);
  std::fill(data.y.begin(), data.y.end(), 0.0);
  try {
    FitLogisticRegression(data.design(), {});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "the training rows hold one class only (every target is 0): a classifier needs both");
  }
}

TEST(LogisticRegressionTest, PredictionsAreTheSigmoidOfTheMargin) {
  LinearModel m{{2.0, -1.0}, 0.5};
  std::vector<double> a = {0, 1, -400}, b = {0, 3, 0};
  std::vector<double> out(3);
  PredictLogistic(m, {a.data(), b.data()}, 3, out.data());
  EXPECT_DOUBLE_EQ(out[0], 1 / (1 + std::exp(-0.5)));
  EXPECT_NEAR(out[1], 1 / (1 + std::exp(0.5)), 1e-15);
  EXPECT_GE(out[2], 0.0);
  EXPECT_LT(out[2], 1e-300);
}

TEST(CholeskyTest, ReportsTheFirstDependentVariable) {
  std::vector<double> a = {4, 0, 0, 2, 1, 0, 6, 3, 9};  // row 2 = row 0 * 1.5 in the lower triangle's terms
  std::vector<double> b = {1, 1, 1};
  // [[4,2,6],[2,1,3],[6,3,9]] is rank 1: the second variable is dependent.
  EXPECT_EQ(CholeskySolve(a, b, 3), 1);
}

}  // namespace
}  // namespace pipeline::ml
