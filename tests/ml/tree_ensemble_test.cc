// The compiled trees against libxgboost itself: every objective it claims,
// bit for bit, on rows with missing values and values on the split points;
// what it does not score goes back to XGBoost with a reason.
#include "ml/tree_ensemble.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ml/xgboost.h"

namespace pipeline::ml {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kFeatures = 7;

// Seven features: normal, heavy-tailed, a few integers (values on the
// split points), one mostly missing, and values that round differently in
// float32; a label of each kind. Values are missing in the first half of
// the rows only (rows without any walk another way).
struct Data {
  std::vector<std::vector<double>> x = std::vector<std::vector<double>>(kFeatures);
  std::vector<double> binary, real, positive, counts;
  Design design(const std::vector<double>& target) const {
    Design d;
    d.rows = int64_t(target.size());
    for (const auto& c : x) d.columns.push_back(c.data());
    d.target = target.data();
    return d;
  }
};

Data Make(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> small(0, 4);
  std::uniform_real_distribution<double> unit(0, 1);
  Data d;
  for (int i = 0; i < n; ++i) {
    const double a = normal(rng), b = std::pow(normal(rng), 3), c = small(rng);
    const bool gaps = i < n / 2;
    d.x[0].push_back(gaps && unit(rng) < 0.1 ? std::nan("") : a);
    d.x[1].push_back(b);
    d.x[2].push_back(c);
    d.x[3].push_back(gaps && unit(rng) < 0.7 ? std::nan("") : normal(rng));
    d.x[4].push_back(1 + 1e-9 * normal(rng));  // many doubles, few floats
    d.x[5].push_back(normal(rng) * 1e6);
    d.x[6].push_back(unit(rng) < 0.5 ? -0.0 : 0.0);
    const double signal = (std::isnan(d.x[0].back()) ? 0.3 : a) + 0.2 * c - 0.1 * b;
    d.binary.push_back(signal + normal(rng) > 0 ? 1 : 0);
    d.real.push_back(3 * signal + normal(rng));
    d.positive.push_back(std::exp(0.5 * signal + 0.2 * normal(rng)));
    d.counts.push_back(std::floor(std::exp(0.4 * signal) * unit(rng) * 4));
  }
  return d;
}

std::vector<double> Scores(const XgbModel& model, const Data& data, int64_t begin, int64_t count, bool xgboost) {
  std::vector<const double*> columns;
  for (const auto& c : data.x) columns.push_back(c.data() + begin);
  std::vector<double> out(size_t(count), -7);
  if (xgboost) {
    model.PredictWithXgboost(columns, count, out.data(), true);
  } else {
    model.compiled()->Predict(columns, count, out.data(), 2);
  }
  return out;
}

// Bit for bit (EXPECT_EQ on doubles would call -0.0 and 0.0 equal).
void ExpectSameBits(const std::vector<double>& ours, const std::vector<double>& theirs, const std::string& what) {
  ASSERT_EQ(ours.size(), theirs.size()) << what;
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (std::memcmp(&ours[i], &theirs[i], sizeof(double)) != 0 && differ++ == 0) first = i;
  }
  EXPECT_EQ(differ, 0u) << what << ": first at row " << first << ": " << ours[first] << " vs xgboost's "
                        << theirs[first];
}

struct Case {
  std::string objective;
  std::map<std::string, std::string> extra;
};

class TreeEnsembleDifferentialTest : public ::testing::TestWithParam<Case> {};

TEST_P(TreeEnsembleDifferentialTest, PredictsWhatXgboostPredictsBitForBit) {
  const Case& c = GetParam();
  const Data train = Make(3000, 11), test = Make(5000, 12);
  const std::string& obj = c.objective;
  const std::vector<double>& label = obj.find("logist") != std::string::npos || obj == "binary:logitraw" ? train.binary
                                     : obj == "count:poisson" || obj == "reg:tweedie"                    ? train.counts
                                     : obj == "reg:gamma" || obj == "reg:squaredlogerror"                ? train.positive
                                                                                                         : train.real;
  XgbOptions options;
  options.params = {{"objective", obj}, {"max_depth", "6"}, {"eta", "0.3"}};
  for (const auto& [k, v] : c.extra) options.params[k] = v;
  options.num_round = 40;
  XgbModel model = XgbModel::Train(train.design(label), nullptr, options);
  ASSERT_NE(model.compiled(), nullptr) << model.compile_note();
  EXPECT_EQ(model.compiled()->trees(), size_t(40 * (c.extra.count("num_parallel_tree") ? 3 : 1)));
  // Every way in: one row, a few (eight trees at once), whole and partial
  // tiles of eight rows, with missing values (the first half) and without,
  // and several blocks on two threads.
  for (auto [begin, count] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 1}, {17, 1}, {3, 5}, {9, 7}, {100, 8}, {200, 100}, {301, 13}, {2496, 100},
           {2600, 1}, {2601, 5}, {2700, 8}, {2800, 100}, {3001, 14}, {2500, 2500}, {0, 5000}}) {
    ExpectSameBits(Scores(model, test, begin, count, false), Scores(model, test, begin, count, true),
                   obj + " rows " + std::to_string(begin) + "+" + std::to_string(count));
  }
  // The public entry points score with the trees, and a saved model loads compiled.
  std::vector<const double*> columns;
  for (const auto& col : test.x) columns.push_back(col.data());
  std::vector<double> all(5000), one(5000);
  model.Predict(columns, 5000, all.data());
  model.PredictInPlace(columns, 5000, one.data());
  ExpectSameBits(all, Scores(model, test, 0, 5000, true), obj + " Predict");
  ExpectSameBits(one, all, obj + " PredictInPlace");
  const fs::path path = fs::temp_directory_path() / ("pipe_trees_" + std::to_string(getpid()) + ".json");
  model.Save(path.string());
  XgbModel loaded = XgbModel::Load(path.string(), 1);
  fs::remove(path);
  ASSERT_NE(loaded.compiled(), nullptr) << loaded.compile_note();
  ExpectSameBits(Scores(loaded, test, 0, 5000, false), all, obj + " after loading");
}

INSTANTIATE_TEST_SUITE_P(
    Objectives, TreeEnsembleDifferentialTest,
    ::testing::Values(Case{"binary:logistic", {}}, Case{"binary:logistic", {{"base_score", "0.3"}}},
                      Case{"reg:logistic", {{"base_score", "0.77"}}}, Case{"binary:logitraw", {}},
                      Case{"reg:squarederror", {}}, Case{"reg:squarederror", {{"base_score", "2.5"}}},
                      Case{"reg:squaredlogerror", {}}, Case{"reg:pseudohubererror", {}},
                      Case{"reg:absoluteerror", {}}, Case{"count:poisson", {}},
                      Case{"reg:gamma", {{"base_score", "1.7"}}}, Case{"reg:tweedie", {}},
                      // Deep lopsided trees, random forests inside boosting, exact splits.
                      Case{"binary:logistic", {{"max_depth", "0"}, {"grow_policy", "lossguide"}, {"max_leaves", "48"}}},
                      Case{"reg:squarederror", {{"num_parallel_tree", "3"}, {"subsample", "0.7"}, {"colsample_bynode", "0.6"}}},
                      Case{"binary:logistic", {{"tree_method", "exact"}, {"max_depth", "4"}}}),
    [](const ::testing::TestParamInfo<Case>& param) {
      std::string name = std::to_string(param.index) + "_" + param.param.objective;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(TreeEnsembleTest, ModelsItDoesNotScoreExactlyGoToXgboostWithAReason) {
  const Data train = Make(500, 3);
  XgbOptions options;
  options.num_round = 5;
  options.params = {{"objective", "binary:logistic"}, {"booster", "dart"}};
  XgbModel dart = XgbModel::Train(train.design(train.binary), nullptr, options);
  EXPECT_EQ(dart.compiled(), nullptr);
  EXPECT_EQ(dart.compile_note(), "the booster is dart, not gbtree");
  options.params = {{"objective", "binary:hinge"}};
  XgbModel hinge = XgbModel::Train(train.design(train.binary), nullptr, options);
  EXPECT_EQ(hinge.compiled(), nullptr);
  EXPECT_EQ(hinge.compile_note(), "objective binary:hinge is not one it scores");
  // And they still predict (XGBoost's values).
  std::vector<const double*> columns;
  for (const auto& c : train.x) columns.push_back(c.data());
  std::vector<double> ours(500), theirs(500);
  dart.PredictInPlace(columns, 500, ours.data());
  dart.PredictWithXgboost(columns, 500, theirs.data(), true);
  EXPECT_EQ(ours, theirs);
}

TEST(TreeEnsembleTest, AWideModelScoresInSmallerBlocksAlike) {
  // 3,000 features: a tile is 96 KiB, so a run is one tile and a block 344
  // rows; 1,000 rows make three blocks, two threads take them.
  constexpr int kWide = 3000;
  constexpr int kRows = 1000;
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> x(kWide, std::vector<double>(kRows));
  std::vector<double> y(kRows);
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kWide; ++j) x[size_t(j)][size_t(i)] = (i + j) % 97 == 0 ? std::nan("") : normal(rng);
    y[size_t(i)] = x[5][size_t(i)] + x[2999][size_t(i)] > 0 ? 1 : 0;
  }
  Design d;
  d.rows = kRows;
  for (const auto& c : x) d.columns.push_back(c.data());
  d.target = y.data();
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"max_depth", "4"}, {"colsample_bynode", "0.5"}};
  options.num_round = 10;
  XgbModel model = XgbModel::Train(d, nullptr, options);
  ASSERT_NE(model.compiled(), nullptr) << model.compile_note();
  std::vector<double> ours(kRows), theirs(kRows);
  model.compiled()->Predict(d.columns, kRows, ours.data(), 2);
  model.PredictWithXgboost(d.columns, kRows, theirs.data(), true);
  ExpectSameBits(ours, theirs, "3,000 features");
}

TEST(TreeEnsembleTest, MarginsBeyondTheSigmoidsRangeSaturateAsXgboostDoes) {
  // Given a model whose first tree's leaves are pushed to margins where
  // XGBoost's sigmoid clamps (below -88.7) or goes denormal, then the
  // compiled trees answer its bits.
  const Data train = Make(2000, 21);
  XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"max_depth", "3"}};
  options.num_round = 5;
  XgbModel model = XgbModel::Train(train.design(train.binary), nullptr, options);
  const fs::path path = fs::temp_directory_path() / ("pipe_extreme_" + std::to_string(getpid()) + ".json");
  model.Save(path.string());
  json doc = json::parse(std::ifstream(path));
  json& tree = doc["learner"]["gradient_booster"]["model"]["trees"][0];
  const double extremes[] = {-100.0, -88.71, -88.69, 95.0, -89.5, -1e30};
  size_t leaves = 0;
  for (size_t i = 0; i < tree["left_children"].size(); ++i) {
    if (tree["left_children"][i] == -1) tree["split_conditions"][i] = extremes[leaves++ % std::size(extremes)];
  }
  std::ofstream(path) << doc.dump();
  XgbModel extreme = XgbModel::Load(path.string(), 1);
  fs::remove(path);
  ASSERT_NE(extreme.compiled(), nullptr) << extreme.compile_note();
  const Data test = Make(3000, 22);
  ExpectSameBits(Scores(extreme, test, 0, 3000, false), Scores(extreme, test, 0, 3000, true), "extreme margins");
  std::vector<double> tiny = Scores(extreme, test, 0, 3000, true);
  EXPECT_GT(std::count_if(tiny.begin(), tiny.end(), [](double p) { return p > 0 && p < 1e-38; }), 0);  // reached
}

// A one-split tree by hand, in XGBoost's document layout.
json Document() {
  json tree = {{"left_children", {1, -1, -1}},   {"right_children", {2, -1, -1}},
               {"split_indices", {1, 0, 0}},     {"split_conditions", {0.5, -1.25, 2.0}},
               {"default_left", {0, 0, 0}},      {"split_type", {0, 0, 0}}};
  return {{"learner",
           {{"learner_model_param", {{"base_score", "5E-1"}, {"num_class", "0"}, {"num_feature", "2"}}},
            {"objective", {{"name", "reg:squarederror"}}},
            {"gradient_booster", {{"name", "gbtree"}, {"model", {{"trees", {tree}}, {"tree_info", {0}}}}}}}}};
}

TEST(TreeEnsembleTest, AHandWrittenTreeGoesLeftBelowTheConditionAndMissingGoesTheDefaultWay) {
  std::string why;
  json doc = Document();
  auto trees = TreeEnsemble::FromXgboost(doc, &why);
  ASSERT_NE(trees, nullptr) << why;
  EXPECT_EQ(trees->features(), 2);
  const double a[4] = {0, 0, 0, 0}, b[4] = {0.25, 0.5, std::nan(""), 7};
  std::vector<double> out(4);
  trees->Predict({a, b}, 4, out.data());
  // 0.5 + leaf: below 0.5 left (-1.25); at it, above it and missing (default right) right (2.0).
  EXPECT_EQ(out, (std::vector<double>{-0.75, 2.5, 2.5, 2.5}));
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["default_left"][0] = 1;
  trees = TreeEnsemble::FromXgboost(doc, &why);
  trees->Predict({a, b}, 4, out.data());
  EXPECT_EQ(out[2], -0.75);
  EXPECT_THROW(trees->Predict({a}, 4, out.data()), ModelError);  // one feature of two
}

TEST(TreeEnsembleTest, AMalformedDocumentIsAnErrorSayingWhat) {
  std::string why;
  auto expect_error = [&](json doc, const std::string& part) {
    try {
      TreeEnsemble::FromXgboost(doc, &why);
      ADD_FAILURE() << "no error for " << part;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  json doc = Document();
  doc["learner"].erase("objective");
  expect_error(doc, "learner has no 'objective'");
  doc = Document();
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"] = {0.5, 1.0};
  expect_error(doc, "tree 0's split_conditions does not have one value per node");
  doc = Document();
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_indices"][0] = 9;
  expect_error(doc, "tree 0 splits on feature 9");
  doc = Document();
  doc["learner"]["learner_model_param"]["base_score"] = "half";
  expect_error(doc, "base_score is 'half'");
  // Children that are not a pair after their parent (a cycle, say): XGBoost's.
  doc = Document();
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"] = {0, -1, -1};
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["right_children"] = {1, -1, -1};
  EXPECT_EQ(TreeEnsemble::FromXgboost(doc, &why), nullptr);
  EXPECT_EQ(why, "tree 0 node 0's children are not a pair after it");
  doc = Document();
  doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_type"][0] = 1;
  EXPECT_EQ(TreeEnsemble::FromXgboost(doc, &why), nullptr);
  EXPECT_EQ(why, "tree 0 has a categorical split");
}

}  // namespace
}  // namespace pipeline::ml
