// Predictor::PredictRows, the daemon's request path, against the table path
// it stands for (RowsToTable, then Predict): the same scores bit for bit and
// the same errors, for a linear and an XGBoost model.
#include "ml/predictor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "columnar/file_hash.h"
#include "ml/xgboost.h"

namespace pipeline::ml {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Features in an order their names do not sort in (the inputs do), of
// every type a row may give straight to a model.
const char* kFeatures =
    R"([{"name": "x2", "type": "float64"}, {"name": "x10", "type": "float64"},
        {"name": "flag", "type": "bool"}, {"name": "n", "type": "int64"}])";

class PredictRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pipe_predict_rows_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "linear.json") << R"({"coef": [0.5, -1.25, 2.0, 0.125], "intercept": -0.3})";
    linear_ = Predictor::Load({"pipe-linear-v1", (dir_ / "linear.json").string(), "classification", kFeatures, "[]", ""}, 1);

    std::mt19937_64 rng(11);
    std::normal_distribution<double> normal;
    const int n = 400;
    std::vector<std::vector<double>> x(4);
    std::vector<double> y;
    for (int i = 0; i < n; ++i) {
      x[0].push_back(normal(rng));
      x[1].push_back(i % 7 == 0 ? std::nan("") : normal(rng));
      x[2].push_back(i % 3 == 0 ? 1 : 0);
      x[3].push_back(double(i % 11));
      y.push_back(x[0].back() + 0.3 * x[3].back() - 1.5 + normal(rng) > 0 ? 1 : 0);
    }
    Design d;
    d.rows = n;
    for (const auto& c : x) d.columns.push_back(c.data());
    d.names = {"x2", "x10", "flag", "n"};
    d.target = y.data();
    XgbOptions options;
    options.params = {{"objective", "binary:logistic"}, {"max_depth", "3"}};
    options.num_round = 20;
    XgbModel::Train(d, nullptr, options).Save((dir_ / "xgb.json").string());
    xgb_ = Predictor::Load({"xgboost-json", (dir_ / "xgb.json").string(), "classification", kFeatures, "[]", ""}, 1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // "scores" or "ROW/COLUMN: message", by both paths.
  static std::string Outcome(const std::function<std::vector<double>()>& f) {
    try {
      std::vector<double> s = f();
      std::string out = "scores";
      for (double v : s) {
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        out += " " + std::to_string(bits);
      }
      return out;
    } catch (const RowError& e) {
      return std::to_string(e.row()) + "/" + e.column() + ": " + e.what();
    }
  }
  static void ExpectSame(const Predictor& p, const std::string& body, const Predictor::Extra& extra = {}) {
    std::string table = Outcome([&] { return p.Predict(*p.RowsToTable(body, extra)); });
    std::string direct = Outcome([&] { return p.PredictRows(body, extra); });
    EXPECT_EQ(direct, table) << body;
  }

  fs::path dir_;
  std::shared_ptr<const Predictor> linear_, xgb_;
};

TEST_F(PredictRowsTest, RowsOfNumbersAndBoolsGoStraightToTheModel) {
  EXPECT_TRUE(linear_->scores_rows_directly());
  EXPECT_TRUE(xgb_->scores_rows_directly());
  // A chain, or a feature that is not a number or bool, needs the table.
  auto chained = Predictor::Load({"pipe-linear-v1", (dir_ / "linear.json").string(), "classification", kFeatures,
                                  R"([{"step": "standardize", "params": {"x2": {"mean": 1, "std": 2, "output": "x2"}}}])", ""},
                                 1);
  EXPECT_FALSE(chained->scores_rows_directly());
}

TEST_F(PredictRowsTest, AModelFileThatIsNotTheOneRecordedIsRefused) {
  // Given the content hash the registry recorded, a file whose bytes differ
  // (edited by hand, replaced, truncated) is refused, naming the file and
  // both hashes; the recorded one loads.
  const std::string path = (dir_ / "xgb.json").string();
  const std::string recorded = *columnar::FileContentHash(path);
  EXPECT_EQ(recorded.rfind("xxh3:", 0), 0u);
  EXPECT_EQ(recorded.size(), 5u + 16u);
  EXPECT_NO_THROW(Predictor::Load({"xgboost-json", path, "classification", kFeatures, "[]", recorded}, 1));
  for (std::string format : {"xgboost-json", "pipe-linear-v1"}) {
    const std::string file = format == "xgboost-json" ? path : (dir_ / "linear.json").string();
    try {
      Predictor::Load({format, file, "classification", kFeatures, "[]", "xxh3:0000000000000000"}, 1);
      ADD_FAILURE() << format;
    } catch (const ModelError& e) {
      EXPECT_EQ(std::string(e.what()), "model file " + file +
                                           " is not the file the registry recorded: its content hash is " +
                                           *columnar::FileContentHash(file) + ", recorded xxh3:0000000000000000");
    }
  }
  try {
    Predictor::Load({"xgboost-json", (dir_ / "gone.json").string(), "classification", kFeatures, "[]", recorded}, 1);
    ADD_FAILURE();
  } catch (const ModelError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read model file " + (dir_ / "gone.json").string());
  }
}

TEST_F(PredictRowsTest, ScoresAreTheTablePathsBitForBit) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uniform(-3, 3);
  const std::vector<std::string> names = {"x2", "x10", "flag", "n"};
  for (int body = 0; body < 60; ++body) {
    json rows = json::array();
    const int n = 1 + body % 17;
    for (int r = 0; r < n; ++r) {
      std::vector<std::string> order = names;
      std::shuffle(order.begin(), order.end(), rng);  // keys in any order
      json row = json::object();
      for (const std::string& name : order) {
        const int pick = int(rng() % 10);
        if (name == "flag") {
          row[name] = pick % 2 == 0;
        } else if (name == "n") {
          row[name] = pick < 4 ? json(int64_t(rng() % 100) - 50) : pick < 8 ? json(double(rng() % 9)) : json(uint64_t(7));
        } else {
          row[name] = pick == 0 ? json(int64_t(rng() % 5)) : json(uniform(rng));
        }
      }
      if (r % 5 == 1) row["other"] = "ignored";
      rows.push_back(row);
    }
    const std::string text = body % 2 ? json{{"rows", rows}}.dump() : rows.dump();
    ExpectSame(*linear_, text);
    ExpectSame(*xgb_, text);
  }
  // Nulls: missing values for XGBoost.
  ExpectSame(*xgb_, R"([{"x2": null, "x10": 1, "flag": true, "n": 3}, {"x2": 0.5, "x10": null, "flag": null, "n": null}])");
  // A repeated key: the first one counts.
  ExpectSame(*linear_, R"([{"x2": 1.5, "x10": 1, "flag": true, "n": 3, "x2": "second"}])");
  ExpectSame(*linear_, R"({"rows": []})");
}

TEST_F(PredictRowsTest, ErrorsAreTheTablePathsToo) {
  const char* bodies[] = {
      R"([{"x2": 1, "x10": 2, "flag": true}])",                          // missing n
      R"([{"x2": 1, "x10": 2, "flag": true, "n": 1}, {"n": 1}])",         // row 1 misses three
      R"([{"x2": "1", "x10": 2, "flag": true, "n": 1}])",                 // a string for a float64
      R"([{"x2": 1, "x10": 2, "flag": 1, "n": 1}])",                      // a number for a bool
      R"([{"x2": 1, "x10": 2, "flag": true, "n": 1.5}])",                 // not integral
      R"([{"x2": 1, "x10": 2, "flag": true, "n": 18446744073709551615}])",  // beyond int64
      R"([{"x2": 1, "x10": [2], "flag": true, "n": 1}])",                 // a list
      R"([{"x2": 1, "x10": 2, "flag": true, "n": 1}, 3])",                // a row that is no object
      R"([{"x2": null, "x10": 2, "flag": true, "n": 1}, {"x2": 1, "x10": null, "flag": true, "n": "x"}])",
      R"([{"x2": 1, "x10": 2, "flag": true, "n": null}, {"x2": null, "x10": 2, "flag": true, "n": 1}])",
      R"({"rows": 3})", R"({"rows": [)", "not json", R"("text")",
      R"([{"x2": 1, "x10": 2, "flag": true, "n": 1, "x10": 3}])",         // a key twice
      R"([{"x2": 123456789012345678901234567890, "x10": 2, "flag": true, "n": 1}])",  // beyond 64 bits
  };
  for (const char* body : bodies) {
    ExpectSame(*linear_, body);
    ExpectSame(*xgb_, body);
  }
  // The messages themselves (the table path's, checked above to be the same).
  try {
    linear_->PredictRows(R"([{"x2": 1, "x10": 2, "flag": true, "n": null}, {"x2": null, "x10": 2, "flag": true, "n": 1}])");
    ADD_FAILURE() << "a null for a linear model was scored";
  } catch (const RowError& e) {
    EXPECT_EQ(e.row(), 1);
    EXPECT_EQ(e.column(), "x2");
    EXPECT_STREQ(e.what(), "row 1: feature 'x2' is null, and a linear model cannot score a missing value");
  }
  auto message = [&](const char* body) {
    try {
      xgb_->PredictRows(body);
    } catch (const RowError& e) {
      return std::string(e.what());
    }
    return std::string("scored");
  };
  EXPECT_EQ(message(R"([{"x2": 1, "x10": 2, "flag": true, "n": 1, "x10": 3}])"), "row 0: column 'x10' is given twice");
  EXPECT_EQ(message(R"([{"x2": 123456789012345678901234567890, "x10": 2, "flag": true, "n": 1}])"),
            "the body holds an integer beyond 64 bits (no feature takes one; write it as a float, 1.5e30)");
}

TEST_F(PredictRowsTest, ATableIsReadAsTheRowsAre) {
  // Batch scoring takes a table's columns as the request path takes the
  // same values: an integer column for a float64 feature, integral floats
  // for an int64 one, a column of nulls of any type (CSV infers string for
  // empty fields); a bool is not a number and 2.5 not an int64.
  auto table = [](columnar::ColumnPtr flag, columnar::ColumnPtr n, columnar::ColumnPtr x10, columnar::ColumnPtr x2) {
    auto t = std::make_shared<columnar::Table>(columnar::Schema(
        {{"flag", flag->type()}, {"n", n->type()}, {"x10", x10->type()}, {"x2", x2->type()}}));
    t->AddBatch({flag->length(), {flag, n, x10, x2}});
    return t;
  };
  auto column = [](columnar::DataType type, const std::vector<double>& values) {
    columnar::ColumnBuilder b(type);
    for (double v : values) {
      if (std::isnan(v)) {
        b.AppendNull();
      } else if (type == columnar::DataType::kFloat64) {
        b.AppendDouble(v);
      } else if (type == columnar::DataType::kInt64) {
        b.AppendInt(int64_t(v));
      } else if (type == columnar::DataType::kBool) {
        b.AppendBool(v != 0);
      } else {
        b.AppendString(std::to_string(v));
      }
    }
    return b.Finish();
  };
  using columnar::DataType;
  const double null = std::nan("");
  const std::string body =
      R"([{"x2": 0.5, "x10": 1, "flag": true, "n": 0}, {"x2": -1, "x10": 2, "flag": false, "n": 7}])";
  auto same = table(column(DataType::kBool, {1, 0}), column(DataType::kFloat64, {0, 7}),
                    column(DataType::kInt64, {1, 2}), column(DataType::kFloat64, {0.5, -1}));
  for (const Predictor* p : {linear_.get(), xgb_.get()}) {
    EXPECT_EQ(Outcome([&] { return p->Predict(*same); }), Outcome([&] { return p->PredictRows(body); }));
  }
  auto fraction = table(column(DataType::kBool, {1, 0}), column(DataType::kFloat64, {0, 2.5}),
                        column(DataType::kInt64, {1, 2}), column(DataType::kFloat64, {0.5, -1}));
  EXPECT_EQ(Outcome([&] { return xgb_->Predict(*fraction); }),
            "1/n: row 1: column 'n': 2.5 is not an int64 value (the model was trained on int64)");
  auto boolean = table(column(DataType::kBool, {1, 0}), column(DataType::kInt64, {0, 7}),
                       column(DataType::kInt64, {1, 2}), column(DataType::kBool, {1, 0}));
  EXPECT_EQ(Outcome([&] { return xgb_->Predict(*boolean); }),
            "0/x2: row 0: column 'x2': a bool is not a float64 value (the model was trained on float64)");
  auto empty = table(column(DataType::kBool, {1, 0}), column(DataType::kInt64, {0, 7}),
                     column(DataType::kString, {null, null}), column(DataType::kFloat64, {0.5, -1}));
  EXPECT_EQ(Outcome([&] { return xgb_->Predict(*empty); }),
            Outcome([&] {
              return xgb_->PredictRows(
                  R"([{"x2": 0.5, "x10": null, "flag": true, "n": 0}, {"x2": -1, "x10": null, "flag": false, "n": 7}])");
            }));
}

TEST_F(PredictRowsTest, ALinearModelScoresFiniteNumbersOnly) {
  // A value that is NaN or infinite (a table can hold them; JSON cannot) is
  // an error naming the row and the feature, for both linear models, as in
  // scikit-learn; XGBoost takes NaN as missing and infinity as a value.
  auto regression =
      Predictor::Load({"pipe-linear-v1", (dir_ / "linear.json").string(), "regression", kFeatures, "[]", ""}, 1);
  auto table_with = [](double x10_of_row_1) {
    columnar::ColumnBuilder x2(columnar::DataType::kFloat64), x10(columnar::DataType::kFloat64),
        flag(columnar::DataType::kBool), n(columnar::DataType::kInt64);
    for (int r = 0; r < 3; ++r) {
      x2.AppendDouble(0.5);
      x10.AppendDouble(r == 1 ? x10_of_row_1 : 1.0);
      flag.AppendBool(true);
      n.AppendInt(r);
    }
    auto t = std::make_shared<columnar::Table>(columnar::Schema(
        {{"flag", columnar::DataType::kBool}, {"n", columnar::DataType::kInt64}, {"x10", columnar::DataType::kFloat64},
         {"x2", columnar::DataType::kFloat64}}));
    t->AddBatch({3, {flag.Finish(), n.Finish(), x10.Finish(), x2.Finish()}});
    return t;
  };
  const std::pair<double, const char*> cases[] = {{std::nan(""), "NaN"},
                                                   {std::numeric_limits<double>::infinity(), "infinity"},
                                                   {-std::numeric_limits<double>::infinity(), "-infinity"}};
  for (const auto& c : cases) {  // (clang 14 cannot capture a structured binding)
    const double value = c.first;
    const std::string name = c.second;
    for (const Predictor* p : {linear_.get(), regression.get()}) {
      EXPECT_EQ(Outcome([&] { return p->Predict(*table_with(value)); }),
                "1/x10: row 1: feature 'x10' is " + name + ", and a linear model can only score finite numbers");
    }
    // XGBoost: NaN is a missing value; an infinity is refused as training
    // refuses it (xgboost reads float32, finite).
    if (std::isnan(value)) {
      EXPECT_EQ(Outcome([&] { return xgb_->Predict(*table_with(value)); }).rfind("scores ", 0), 0u) << name;
    } else {
      EXPECT_EQ(Outcome([&] { return xgb_->Predict(*table_with(value)); }),
                "1/x10: row 1: feature 'x10' is " + std::string(value < 0 ? "-inf" : "inf") +
                    ": xgboost takes finite float32 values (up to 3.4e38)");
    }
  }
  EXPECT_EQ(Outcome([&] { return xgb_->Predict(*table_with(1e39)); }),
            "1/x10: row 1: feature 'x10' is 1e+39: xgboost takes finite float32 values (up to 3.4e38)");
  // A prediction that overflows: by both paths, the same error.
  const std::string huge = R"([{"x2": 0, "x10": 0, "flag": true, "n": 0}, {"x2": 1.7e308, "x10": -1.7e308, "flag": true, "n": 0}])";
  ExpectSame(*regression, huge);
  EXPECT_EQ(Outcome([&] { return regression->PredictRows(huge); }),
            "1/: row 1: the prediction is not a finite number (the feature values overflow the model)");
  // The logistic model's probability stays finite (0 or 1) there.
  EXPECT_EQ(Outcome([&] { return linear_->PredictRows(huge); }).rfind("scores ", 0), 0u);
}

TEST_F(PredictRowsTest, ExtraValuesFillWhatARowLacks) {
  json flag = true, n = 4, text = "no number";
  Predictor::Extra extra = [&](int64_t, const json& row, const std::string& column) -> const json* {
    if (!row.contains("user")) return nullptr;
    if (column == "flag") return &flag;
    if (column == "n") return row["user"] == "u2" ? &text : &n;
    return nullptr;
  };
  ExpectSame(*linear_, R"([{"x2": 1, "x10": 2, "user": "u1"}, {"x2": 3, "x10": 4, "user": "u1", "n": 9}])", extra);
  ExpectSame(*xgb_, R"([{"x2": 1, "x10": 2, "user": "u1"}])", extra);
  ExpectSame(*linear_, R"([{"x2": 1, "x10": 2, "user": "u2"}])", extra);  // a bad value: the same error
  ExpectSame(*linear_, R"([{"x2": 1, "x10": 2}])", extra);                // no key: missing
}

}  // namespace
}  // namespace pipeline::ml
