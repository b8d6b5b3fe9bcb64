// pipe's solvers and metrics against scikit-learn 1.2 (python3-sklearn from
// Debian): tests/ml/sklearn_reference.py writes each case's rows and what
// scikit-learn fits and measures on them; this test fits the same rows.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ml/linear.h"
#include "ml/metrics.h"
#include "ml/xgboost.h"

namespace pipeline::ml {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Rows {
  std::vector<std::vector<double>> x;  // columns
  std::vector<double> y;
  Design design() const {
    Design d;
    d.rows = int64_t(y.size());
    for (const auto& col : x) d.columns.push_back(col.data());
    d.target = y.data();
    return d;
  }
};

Rows ReadCsv(const fs::path& path) {
  Rows rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<double> values;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) values.push_back(std::strtod(field.c_str(), nullptr));
    if (rows.x.empty()) rows.x.resize(values.size() - 1);
    for (size_t j = 0; j + 1 < values.size(); ++j) rows.x[j].push_back(values[j]);
    rows.y.push_back(values.back());
  }
  return rows;
}

class SklearnDifferentialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("pipe-sklearn-" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    std::string cmd = "/usr/bin/python3 " PIPE_SOURCE_DIR "/tests/ml/sklearn_reference.py " + dir_->string();
    int rc = std::system(cmd.c_str());
    ASSERT_EQ(rc, 0) << cmd << " failed: the differential tests need python3-sklearn (scripts/install-deps.sh --test)";
    std::ifstream in(*dir_ / "reference.json");
    reference_ = new json(json::parse(in));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (dir_) fs::remove_all(*dir_, ec);
    delete dir_;
    delete reference_;
  }
  static const json& Ref(const std::string& name) { return (*reference_)[name]; }
  static Rows Case(const std::string& name) { return ReadCsv(*dir_ / (name + ".csv")); }

  static fs::path* dir_;
  static json* reference_;
};
fs::path* SklearnDifferentialTest::dir_ = nullptr;
json* SklearnDifferentialTest::reference_ = nullptr;

void ExpectLinearMatches(const std::string& name, const LinearModel& m, const json& ref, double rel, double abs) {
  auto close = [&](double ours, double theirs) { return std::fabs(ours - theirs) <= std::max(abs, rel * std::fabs(theirs)); };
  ASSERT_EQ(m.coef.size(), ref["coef"].size()) << name;
  for (size_t j = 0; j < m.coef.size(); ++j) {
    double theirs = ref["coef"][j];
    EXPECT_TRUE(close(m.coef[j], theirs)) << name << " coef " << j << ": " << m.coef[j] << " vs " << theirs;
  }
  double theirs = ref["intercept"];
  EXPECT_TRUE(close(m.intercept, theirs)) << name << " intercept: " << m.intercept << " vs " << theirs;
}

TEST_F(SklearnDifferentialTest, LinearRegressionEqualsLinearRegressionAndRidgeWithin1e8) {
  for (const char* name : {"linear_generated", "ridge_generated", "linear_diabetes", "ridge_diabetes"}) {
    Rows rows = Case(name);
    LinearModel m = FitLinearRegression(rows.design(), {.l2 = Ref(name)["l2"].get<double>()});
    ExpectLinearMatches(name, m, Ref(name), 1e-8, 1e-9);
  }
}

TEST_F(SklearnDifferentialTest, LogisticRegressionEqualsLbfgsWithin1e4AndAucWithin1e6) {
  for (const char* name : {"logistic_generated", "logistic_weak_penalty", "logistic_balanced", "logistic_breast_cancer"}) {
    Rows rows = Case(name);
    const json& ref = Ref(name);
    LogisticFit fit = FitLogisticRegression(
        rows.design(), {.l2 = ref["l2"].get<double>(), .max_iter = 100, .tol = 1e-10, .balanced = ref["balanced"].get<bool>()});
    EXPECT_TRUE(fit.converged) << name;
    ExpectLinearMatches(name, fit.model, ref, 0, 1e-4);
    std::vector<double> p(rows.y.size());
    Design d = rows.design();
    PredictLogistic(fit.model, d.columns, d.rows, p.data());
    EXPECT_NEAR(RocAuc(rows.y.data(), p.data(), d.rows), ref["auc"].get<double>(), 1e-6) << name;
  }
}

TEST_F(SklearnDifferentialTest, ClassificationMetricsEqualSklearnWithin1e9) {
  Rows rows = Case("metrics_classification");
  const json& ref = Ref("metrics_classification");
  ClassificationMetrics m = EvaluateClassifier(rows.y.data(), rows.x[0].data(), int64_t(rows.y.size()));
  EXPECT_NEAR(m.accuracy, ref["accuracy"].get<double>(), 1e-9);
  EXPECT_NEAR(m.auc, ref["auc"].get<double>(), 1e-9);
  EXPECT_NEAR(m.logloss, ref["logloss"].get<double>(), 1e-9);
  EXPECT_NEAR(m.precision, ref["precision"].get<double>(), 1e-9);
  EXPECT_NEAR(m.recall, ref["recall"].get<double>(), 1e-9);
  EXPECT_NEAR(m.f1, ref["f1"].get<double>(), 1e-9);
  EXPECT_EQ(m.tp, ref["tp"].get<int64_t>());
  EXPECT_EQ(m.fp, ref["fp"].get<int64_t>());
  EXPECT_EQ(m.tn, ref["tn"].get<int64_t>());
  EXPECT_EQ(m.fn, ref["fn"].get<int64_t>());
}

TEST_F(SklearnDifferentialTest, RegressionMetricsEqualSklearnWithin1e9) {
  Rows rows = Case("metrics_regression");
  const json& ref = Ref("metrics_regression");
  RegressionMetrics m = EvaluateRegressor(rows.y.data(), rows.x[0].data(), int64_t(rows.y.size()));
  EXPECT_NEAR(m.rmse, ref["rmse"].get<double>(), 1e-9);
  EXPECT_NEAR(m.mae, ref["mae"].get<double>(), 1e-9);
  EXPECT_NEAR(m.r2, ref["r2"].get<double>(), 1e-9);
}

// Python xgboost 1.7 (python3-xgboost) and libxgboost through pipe: the same
// data (NaN as missing), parameters and rounds give the same predictions.
TEST_F(SklearnDifferentialTest, XgboostPredictionsEqualPythonXgboostWithin1e6) {
  for (const char* name : {"xgboost_binary", "xgboost_regression"}) {
    Rows rows = Case(name);
    const json& ref = Ref(name);
    const size_t train_rows = ref["train_rows"].get<size_t>();
    Rows train, test;
    for (const auto& col : rows.x) {
      train.x.emplace_back(col.begin(), col.begin() + ptrdiff_t(train_rows));
      test.x.emplace_back(col.begin() + ptrdiff_t(train_rows), col.end());
    }
    train.y.assign(rows.y.begin(), rows.y.begin() + ptrdiff_t(train_rows));
    test.y.assign(rows.y.begin() + ptrdiff_t(train_rows), rows.y.end());
    XgbOptions options;
    options.params = {{"objective", ref["objective"]}, {"max_depth", "3"}, {"eta", "0.3"}};
    options.num_round = ref["num_round"];
    options.threads = 2;
    XgbModel model = XgbModel::Train(train.design(), nullptr, options);
    Design d = test.design();
    std::vector<double> p(test.y.size());
    model.Predict(d.columns, d.rows, p.data());
    ASSERT_EQ(p.size(), ref["predictions"].size()) << name;
    double worst = 0;
    for (size_t i = 0; i < p.size(); ++i) worst = std::max(worst, std::fabs(p[i] - ref["predictions"][i].get<double>()));
    EXPECT_LE(worst, 1e-6) << name;
  }
}

}  // namespace
}  // namespace pipeline::ml
