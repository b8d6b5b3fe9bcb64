#include "ml/xgboost.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

namespace pipeline::ml {
namespace {

namespace fs = std::filesystem;

struct Data {
  std::vector<std::vector<double>> x{2};
  std::vector<double> y;
  Design design() const {
    Design d;
    d.rows = int64_t(y.size());
    for (const auto& c : x) d.columns.push_back(c.data());
    d.names = {"a", "b"};
    d.target = y.data();
    return d;
  }
};

Data Make(int n) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  Data d;
  for (int i = 0; i < n; ++i) {
    double a = normal(rng), b = normal(rng);
    d.x[0].push_back(a);
    d.x[1].push_back(i % 10 == 0 ? std::nan("") : b);
    d.y.push_back(a + 0.5 * normal(rng) > 0 ? 1 : 0);
  }
  return d;
}

TEST(XgboostTest, InPlacePredictionReadsEveryLayoutItIsGiven) {
  Data data = Make(300);
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"max_depth", "3"}};
  options.num_round = 15;
  XgbModel model = XgbModel::Train(data.design(), nullptr, options);
  Design d = data.design();
  std::vector<double> expected(300);
  model.Predict(d.columns, d.rows, expected.data());
  auto in_place = [&](const std::vector<const double*>& columns, int64_t rows) {
    std::vector<double> out(size_t(rows), -1);
    model.PredictInPlace(columns, rows, out.data());
    return out;
  };
  // Separate columns (copied), and one buffer column after column.
  EXPECT_EQ(in_place(d.columns, 300), expected);
  std::vector<double> buffer(data.x[0]);
  buffer.insert(buffer.end(), data.x[1].begin(), data.x[1].end());
  EXPECT_EQ(in_place({buffer.data(), buffer.data() + 300}, 300), expected);
  // One row: its values adjacent, or spaced three apart.
  for (int r : {0, 10, 299}) {  // row 10 has a missing value
    double adjacent[2] = {data.x[0][r], data.x[1][r]};
    EXPECT_EQ(in_place({adjacent, adjacent + 1}, 1), std::vector<double>{expected[r]}) << "row " << r;
    double spaced[4] = {data.x[0][r], 99, 99, data.x[1][r]};
    EXPECT_EQ(in_place({spaced, spaced + 3}, 1), std::vector<double>{expected[r]}) << "row " << r;
  }
}

TEST(XgboostTest, SavedModelsPredictTheSameAfterLoading) {
  Data data = Make(500);
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"max_depth", "2"}};
  options.num_round = 10;
  XgbModel model = XgbModel::Train(data.design(), nullptr, options);
  EXPECT_EQ(model.rounds(), 10);
  fs::path path = fs::temp_directory_path() / ("pipe_xgb_" + std::to_string(getpid()) + ".json");
  model.Save(path.string());
  XgbModel loaded = XgbModel::Load(path.string());
  std::vector<double> p1(500), p2(500);
  Design d = data.design();
  model.Predict(d.columns, d.rows, p1.data());
  loaded.Predict(d.columns, d.rows, p2.data());
  EXPECT_EQ(p1, p2);
  auto importance = model.Importance({"a", "b"});
  EXPECT_GT(importance["a"], importance.count("b") ? importance["b"] : 0.0);
  fs::remove(path);
}

TEST(XgboostTest, EarlyStoppingKeepsTheBestRounds) {
  Data train = Make(600), valid = Make(200);
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"eta", "0.9"}, {"max_depth", "6"}, {"eval_metric", "logloss"}};
  options.num_round = 200;
  options.early_stopping_rounds = 3;
  Design valid_design = valid.design();
  XgbModel model = XgbModel::Train(train.design(), &valid_design, options);
  EXPECT_LT(model.rounds(), 200);
  EXPECT_EQ(model.eval_metric(), "valid-logloss");
  EXPECT_EQ(model.best_iteration(), model.rounds() - 1);
}

TEST(XgboostTest, AStopCheckEndsTrainingBetweenRounds) {
  Data train = Make(300);
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}};
  options.num_round = 50;
  int asked = 0;
  options.stop = [&] { return ++asked > 4; };
  EXPECT_THROW(XgbModel::Train(train.design(), nullptr, options), Stopped);
  EXPECT_EQ(asked, 5);  // once before each round: four rounds ran
  options.stop = [] { return false; };
  EXPECT_EQ(XgbModel::Train(train.design(), nullptr, options).rounds(), 50);
}

TEST(XgboostTest, ACorruptModelFileIsAnErrorNamingIt) {
  fs::path path = fs::temp_directory_path() / ("pipe_xgb_bad_" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << "{\"learner\": 5";
  try {
    XgbModel::Load(path.string());
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("model file " + path.string() + " is not an XGBoost model"), std::string::npos)
        << e.what();
  }
  fs::remove(path);
}

TEST(XgboostTest, BadParameterValuesAreXgboostsOwnMessage) {
  Data data = Make(50);
  XgbOptions options;
  options.params = {{"max_depth", "deep"}};
  try {
    XgbModel::Train(data.design(), nullptr, options);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("max_depth"), std::string::npos) << e.what();
  }
  options.params = {};
  options.early_stopping_rounds = 5;
  EXPECT_THROW(XgbModel::Train(data.design(), nullptr, options), ModelError);
}

}  // namespace
}  // namespace pipeline::ml

namespace pipeline::ml {
namespace {

TEST(XgboostTest, UnknownParametersAreNamedAndKnownOnesPass) {
  EXPECT_EQ(UnknownXgbParameters({{"max_depth", "3"}, {"eta", "0.1"}, {"objective", "binary:logistic"}}),
            std::vector<std::string>{});
  EXPECT_EQ(UnknownXgbParameters({{"max_dpth", "3"}, {"eta", "0.1"}, {"colsample", "0.5"}}),
            (std::vector<std::string>{"colsample", "max_dpth"}));
  // The training path refuses them too.
  XgbOptions options;
  options.params = {{"max_dpth", "3"}};
  Design d;
  const double x[4] = {0, 1, 2, 3}, y[4] = {0, 1, 0, 1};
  d.rows = 4;
  d.columns = {x};
  d.target = y;
  EXPECT_THROW(XgbModel::Train(d, nullptr, options), ModelError);
}

}  // namespace
}  // namespace pipeline::ml
