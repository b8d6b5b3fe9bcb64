// The fitted transform chain replayed on raw rows, batch `predict` and the
// `serve` gate, each on fake contexts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/parquet.h"
#include "core/operator.h"
#include "ml/chain.h"
#include "ml/mask.h"
#include "ml/metrics.h"
#include "ml/predictor.h"
#include "ops/data_operators.h"
#include "ops/table_io.h"
#include "op_context.h"
#include "test_util.h"

namespace pipeline {
namespace {

using columnar::TablePtr;
using nlohmann::json;
using testing_util::OpContext;
using testing_util::SecretsFileScope;

// Raw rows as an ingest reads them: an id, an amount with nulls, a merchant
// category (five values, one rare), a timestamp, a flag and a label.
std::string RawCsv(int n) {
  const char* merchants[] = {"grocery", "fuel", "travel", "grocery", "online", "fuel", "casino"};
  std::string csv = "id,amount,merchant,ts,flag,y\n";
  for (int i = 0; i < n; ++i) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-03-%02dT%02d:%02d:00Z", 1 + i % 28, i % 24, (i * 7) % 60);
    std::string amount = i % 9 == 4 ? "" : std::to_string(5.0 + (i * 37 % 101) * 1.25);
    std::string merchant = i == 13 ? "casino" : merchants[i % 6];
    csv += std::to_string(i) + "," + amount + "," + merchant + "," + ts + "," + (i % 4 ? "true" : "false") + "," +
           std::to_string((i * 37 % 101) > 50 ? 1 : 0) + "\n";
  }
  return csv;
}

const char* kClean = "{steps: [{fill_nulls: {amount: mean, merchant: mode}}]}";
const char* kTransform =
    "{steps: [{standardize: {amount: amount_std}}, {min_max: {amount: amount_mm}}, {log1p: {amount: amount_log}},"
    " {label_encode: {merchant: merchant_code}}, {one_hot: {column: merchant, max_categories: 3, prefix: m}},"
    " {bucketize: {column: amount, bounds: [20, 60, 100], as: amount_bucket}},"
    " {derive: {a2: 'amount * 2', a3: 'a2 + 1'}}, {datetime_parts: {column: ts, parts: [hour, dayofweek, month]}},"
    " {rename: {a3: amount_plus, a2: amount_twice}}, {drop: [id]}]}";

class PredictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterDataOperators(ops_);
    dir_ = testing_util::FreshTestDir("predict");
  }

  // Runs `op` as task `id` on `input`; returns its output table (fails the
  // test when the task fails).
  TablePtr RunOn(OpContext& ctx, const std::string& op, const TablePtr& input) {
    if (input) ctx.SetInput("up", std::make_shared<ops::TableDataset>(input));
    TaskResult r = ops_.Find(op)->Execute(ctx);
    EXPECT_TRUE(r.ok) << op << ": " << r.error;
    last_ = r;
    auto data = ctx.output();
    return data ? dynamic_cast<const ops::TableDataset&>(*data).table() : nullptr;
  }
  std::unique_ptr<OpContext> Context(const std::string& id, const std::string& with, bool input = true) {
    return std::make_unique<OpContext>(id, with, dir_, input ? std::optional<std::string>("up") : std::nullopt);
  }

  // Raw -> clean -> transform, as a DAG would run them.
  TablePtr Transformed(const TablePtr& raw) {
    auto clean = Context("clean", kClean);
    TablePtr cleaned = RunOn(*clean, "clean", raw);
    auto transform = Context("transform", kTransform);
    return RunOn(*transform, "transform", cleaned);
  }

  // Every value of both tables, bit for bit (doubles by their bytes).
  static void ExpectSameTable(const columnar::Table& a, const columnar::Table& b) {
    ASSERT_EQ(a.schema(), b.schema());
    ASSERT_EQ(a.num_rows(), b.num_rows());
    TablePtr fa = columnar::Concatenate(a), fb = columnar::Concatenate(b);
    for (int c = 0; c < a.num_columns(); ++c) {
      const columnar::Column& x = *fa->batch(0).columns[c];
      const columnar::Column& y = *fb->batch(0).columns[c];
      for (int64_t r = 0; r < a.num_rows(); ++r) {
        ASSERT_EQ(x.IsNull(r), y.IsNull(r)) << a.schema().field(c).name << " row " << r;
        if (x.IsNull(r)) continue;
        if (x.type() == columnar::DataType::kFloat64) {
          ASSERT_EQ(std::memcmp(x.doubles() + r, y.doubles() + r, 8), 0)
              << a.schema().field(c).name << " row " << r << ": " << x.doubles()[r] << " vs " << y.doubles()[r];
        } else {
          ASSERT_EQ(columnar::ValueText(x, r), columnar::ValueText(y, r)) << a.schema().field(c).name << " row " << r;
        }
      }
    }
  }

  OperatorRegistry ops_;
  std::filesystem::path dir_;
  TaskResult last_;
};

TEST_F(PredictTest, TheChainReplayedOnRawRowsGivesTheTransformOutputBitForBit) {
  TablePtr raw = columnar::ReadCsvText(RawCsv(500), "raw.csv").table;
  TablePtr expected = Transformed(raw);
  ASSERT_TRUE(expected);
  json chain = ops::FittedChain(*expected);
  ASSERT_EQ(chain[0]["step"], "source");  // the raw columns, recorded by the first step
  ml::TransformChain replay(chain);
  TablePtr got = replay.Apply(*raw);
  ExpectSameTable(*got, *expected);
  // One row at a time (a predict request) gives the same rows.
  for (int64_t r : {0, 4, 13, 499}) {
    columnar::Batch one{1, {}};
    TablePtr flat = columnar::Concatenate(*raw);
    for (const auto& c : flat->batch(0).columns) one.columns.push_back(columnar::Slice(*c, r, 1));
    columnar::Schema schema;
    columnar::Batch out = replay.ApplyBatch(raw->schema(), one, &schema);
    ASSERT_EQ(schema, expected->schema());
    TablePtr e = columnar::Concatenate(*expected);
    for (int c = 0; c < schema.num_fields(); ++c) {
      EXPECT_EQ(columnar::ValueText(*out.columns[c], 0), columnar::ValueText(*e->batch(0).columns[c], r))
          << schema.field(c).name << " row " << r;
    }
  }
}

TEST_F(PredictTest, CleansClipsAndCastsAreReplayedToo) {
  // A model trained on clipped amounts must see request amounts clipped, and
  // a column cast from the text it was ingested as must be cast on request
  // rows too: both join the chain, and replay as clean ran them.
  std::string csv = "id,amount,y\n";
  for (int i = 0; i < 300; ++i) {
    csv += std::to_string(i) + "," + (i % 10 == 3 ? "" : std::to_string(i * 1.5 - 50)) + "," + std::to_string(i % 2) + "\n";
  }
  TablePtr raw = columnar::ReadCsvText(csv, "raw.csv").table;
  auto clean = Context("clean", "{steps: [{fill_nulls: {amount: 0}}, {clip: {amount: [0, 200], id: [null, 250.5]}}]}");
  TablePtr cleaned = RunOn(*clean, "clean", raw);
  ASSERT_TRUE(cleaned);
  json chain = ops::FittedChain(*cleaned);
  ASSERT_EQ(chain.size(), 3u) << chain.dump();
  EXPECT_EQ(chain[2], json::parse(R"({"step": "clip", "params": {"columns": [["amount", 0.0, 200.0], ["id", null, 250.5]]}})"));
  ExpectSameTable(*ml::TransformChain(chain).Apply(*raw), *cleaned);

  // Text ingested, cast by clean: the raw input stays text.
  std::string coded = "code,y\n";
  for (int i = 0; i < 50; ++i) coded += "\"" + std::to_string(i % 5) + ".5\"," + std::to_string(i % 2) + "\n";
  columnar::CsvOptions as_text;
  as_text.types["code"] = columnar::DataType::kString;
  TablePtr text = columnar::ReadCsvText(coded, "coded.csv", as_text).table;
  auto cast = Context("cast", "{steps: [{cast: {code: float64}}, {clip: {code: [1, 3]}}]}");
  TablePtr casted = RunOn(*cast, "clean", text);
  ASSERT_TRUE(casted);
  ml::TransformChain replay(ops::FittedChain(*casted));
  ExpectSameTable(*replay.Apply(*text), *casted);
  EXPECT_EQ(replay.Inputs({{"code", columnar::DataType::kFloat64}}),
            (std::vector<columnar::Field>{{"code", columnar::DataType::kString}}));
  // A value the cast cannot take is named by its row in the table, past the first batch.
  std::vector<std::string> values(3000, "2.5");
  values[2500] = "2.5x";
  columnar::Table many(columnar::Schema({{"code", columnar::DataType::kString}}));
  for (int b = 0; b < 3; ++b) {
    columnar::ColumnBuilder col(columnar::DataType::kString);
    for (int r = 0; r < 1000; ++r) col.AppendString(values[size_t(b * 1000 + r)]);
    many.AddBatch({1000, {col.Finish()}});
  }
  try {
    replay.Apply(many);
    FAIL() << "no error";
  } catch (const ml::RowError& e) {
    EXPECT_EQ(e.row(), 2500);
    EXPECT_EQ(e.column(), "code");
    EXPECT_STREQ(e.what(), "row 2500: column 'code': '2.5x' is not a float64 (the training rows were cast to it)");
  }
}

TEST_F(PredictTest, InputsAreTheRawColumnsTheFeaturesComeFrom) {
  TablePtr raw = columnar::ReadCsvText(RawCsv(100), "raw.csv").table;
  TablePtr t = Transformed(raw);
  ml::TransformChain chain(ops::FittedChain(*t));
  std::vector<columnar::Field> features = {{"amount_std", columnar::DataType::kFloat64},
                                           {"m_fuel", columnar::DataType::kBool},
                                           {"ts_hour", columnar::DataType::kInt64},
                                           {"amount_plus", columnar::DataType::kFloat64},
                                           {"flag", columnar::DataType::kBool}};
  std::vector<columnar::Field> inputs = chain.Inputs(features);
  std::vector<std::string> names;
  for (const auto& f : inputs) names.push_back(f.name + ":" + std::string(columnar::TypeName(f.type)));
  // Not id (dropped) nor y (no feature comes from it); in the raw order, typed as read.
  EXPECT_EQ(names, (std::vector<std::string>{"amount:float64", "merchant:string", "ts:timestamp", "flag:bool"}));
}

TEST_F(PredictTest, ReplayNamesAStepThatCannotTakeItsColumn) {
  ml::TransformChain chain(json::parse(R"([{"step":"standardize","params":{"x":{"output":"x","mean":1,"std":2}}}])"));
  columnar::ColumnBuilder b(columnar::DataType::kString);
  b.AppendString("abc");
  auto t = std::make_shared<columnar::Table>(columnar::Schema({{"x", columnar::DataType::kString}}));
  t->AddBatch({1, {b.Finish()}});
  try {
    chain.Apply(*t);
    FAIL() << "no error";
  } catch (const ml::ModelError& e) {
    EXPECT_STREQ(e.what(), "standardize: column 'x' is string, not a number");
  }
  EXPECT_THROW(ml::TransformChain(json::parse(R"([{"step":"pca","params":{}}])")), ml::ModelError);
}

TEST_F(PredictTest, PredictReplaysTheChainAndScoresAsTheModelFileSays) {
  TablePtr raw = columnar::ReadCsvText(RawCsv(600), "raw.csv").table;
  TablePtr t = Transformed(raw);
  auto train = Context("train", "{target: y, features: [amount_std, m_fuel, m_grocery, ts_hour, flag, merchant_code], "
                                "model: logistic_regression, name: fraud}");
  RunOn(*train, "train", t);
  ASSERT_EQ(train->models().size(), 1u);
  ModelRegistration m = train->models()[0];

  auto predict = Context("score", "{model: fraud, as: p}");
  predict->RegisterModel(m);
  TablePtr scored = RunOn(*predict, "predict", raw);
  ASSERT_TRUE(scored);
  EXPECT_EQ(last_.metrics.summary.substr(0, 19), "fraud v1 scored 600");
  ASSERT_EQ(scored->num_columns(), raw->num_columns() + 2);
  EXPECT_EQ(scored->schema().field(raw->num_columns()).name, "p");
  EXPECT_EQ(scored->schema().field(raw->num_columns() + 1).name, "p_label");

  // By hand: the model file's coefficients over the transformed table.
  json file = json::parse(std::ifstream(m.uri));
  TablePtr flat = columnar::Concatenate(*t), out = columnar::Concatenate(*scored);
  std::vector<std::string> features = {"amount_std", "m_fuel", "m_grocery", "ts_hour", "flag", "merchant_code"};
  const columnar::Column& p = *out->batch(0).columns[raw->num_columns()];
  const columnar::Column& label = *out->batch(0).columns[raw->num_columns() + 1];
  for (int64_t r = 0; r < t->num_rows(); ++r) {
    double z = file["intercept"].get<double>();
    for (size_t j = 0; j < features.size(); ++j) {
      const columnar::Column& c = *flat->batch(0).columns[*t->schema().IndexOf(features[j])];
      double x = c.type() == columnar::DataType::kFloat64 ? c.doubles()[r]
                 : c.type() == columnar::DataType::kBool  ? double(c.bools()[r])
                                                          : double(c.ints()[r]);
      z += file["coef"][j].get<double>() * x;
    }
    ASSERT_NEAR(p.doubles()[r], 1 / (1 + std::exp(-z)), 1e-12) << "row " << r;
    ASSERT_EQ(label.ints()[r], p.doubles()[r] >= 0.5 ? 1 : 0);
  }

  // Rows given as JSON (a predict request) score the same, bit for bit.
  auto predictor = ml::Predictor::Load({m.format, m.uri, m.kind, m.features_json, m.transforms_json, m.content_hash}, 1);
  json rows = json::array();
  rows.push_back({{"amount", 42.5}, {"merchant", "fuel"}, {"ts", "2026-03-02T05:07:00Z"}, {"flag", true}});
  rows.push_back({{"amount", nullptr}, {"merchant", "casino"}, {"ts", "2026-03-02 23:00:00"}, {"flag", false}, {"other", 1}});
  std::vector<double> online = predictor->Predict(*predictor->RowsToTable(rows.dump()));
  ASSERT_EQ(online.size(), 2u);
  std::string csv = "amount,merchant,ts,flag\n42.5,fuel,2026-03-02T05:07:00Z,true\n,casino,2026-03-02 23:00:00,false\n";
  TablePtr same = columnar::ReadCsvText(csv, "rows.csv").table;
  std::vector<double> batch = predictor->Predict(*same);
  EXPECT_EQ(std::memcmp(online.data(), batch.data(), 16), 0);
}

TEST_F(PredictTest, BadRowsAreErrorsNamingTheRowAndTheColumn) {
  TablePtr raw = columnar::ReadCsvText(RawCsv(200), "raw.csv").table;
  TablePtr t = Transformed(raw);
  auto train = Context("train", "{target: y, features: [amount_std, ts_hour], model: logistic_regression, name: fraud}");
  RunOn(*train, "train", t);
  const ModelRegistration& m = train->models().at(0);
  auto predictor = ml::Predictor::Load({m.format, m.uri, m.kind, m.features_json, m.transforms_json, m.content_hash}, 1);
  auto error = [&](const std::string& rows) -> std::string {
    try {
      predictor->Predict(*predictor->RowsToTable(rows));
    } catch (const ml::RowError& e) {
      return std::to_string(e.row()) + "/" + e.column() + ": " + e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(R"([{"amount": 1, "ts": "2026-01-01"}, {"ts": "2026-01-01"}])"), "1/amount: row 1: missing column 'amount'");
  EXPECT_EQ(error(R"([{"amount": "12", "ts": "2026-01-01"}])"), "0/amount: row 0: column 'amount': a string is not a float64 value");
  EXPECT_EQ(error(R"([{"amount": 1, "ts": "yesterday"}])"), "0/ts: row 0: column 'ts': \"yesterday\" is not an ISO-8601 timestamp");
  EXPECT_EQ(error(R"([3])"), "0/: row 0 is an integer, not an object");
  // A null the chain fills is fine; a linear model cannot score one left null.
  EXPECT_EQ(error(R"([{"amount": null, "ts": "2026-01-01"}])"), "no error");
  EXPECT_EQ(error(R"([{"amount": 1, "ts": null}])"),
            "0/ts_hour: row 0: feature 'ts_hour' is null, and a linear model cannot score a missing value");
}

TEST_F(PredictTest, ServeFailsOnAGateMetricOfTheOtherKind) {
  // Validation says so when the train task fixes the kind; for a registered
  // model, the task fails when it finds the kind (it succeeded "not promoted").
  auto ctx = Context("deploy", "{model: 'fraud:1', promote_if: {metric: rmse, max: 5}}", false);
  ModelRegistration m;
  m.name = "fraud";
  m.kind = "classification";
  m.metrics_json = json{{"auc", 0.8}}.dump();
  ctx->RegisterModel(m);
  TaskResult r = ops_.Find("serve")->Execute(*ctx);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "serve: promote_if metric 'rmse' is a regression metric, and model 'fraud' version 1 is a "
                     "classifier (auc, accuracy, f1, precision, recall, logloss)");
  EXPECT_FALSE(ctx->aliases().count({"fraud", "production"}));
}

TEST_F(PredictTest, ServePromotesBehindItsGateAndRecordsWhenItDoesNot) {
  auto ctx = Context("deploy", "{model: 'fraud:2', promote_if: {metric: auc, min: 0.75, better_than_current: true}}", false);
  ModelRegistration m;
  m.name = "fraud";
  m.kind = "classification";
  for (double auc : {0.8, 0.7, 0.9}) {
    m.metrics_json = json{{"auc", auc}}.dump();
    ctx->RegisterModel(m);
  }
  ctx->SetModelAlias("fraud", "production", 1, 0);
  // v2: auc 0.7 fails both conditions; production stays v1.
  TaskResult r = ops_.Find("serve")->Execute(*ctx);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.metrics.summary,
            "not promoted: fraud v2: auc 0.7 is below the minimum 0.75; auc 0.7 does not beat version 1's 0.8 as "
            "recorded (not scored on these test rows: 'fraud:2' is not a train task of this run with a test split); "
            "production stays v1");
  EXPECT_EQ(ctx->aliases().at({"fraud", "production"}), 1);
  json record = json::parse(std::ifstream(ctx->FindArtifact("deploy", "deployment")->uri));
  EXPECT_EQ(record["promoted"], false);
  EXPECT_EQ(record["serving_version"], 1);
  // Its lineage names the version it decided on (as a predict's names the one it scored with).
  json inputs = json::parse(ctx->FindArtifact("deploy", "deployment")->inputs_json);
  ASSERT_EQ(inputs.size(), 1u) << inputs.dump();
  EXPECT_EQ(inputs[0]["model"]["name"], "fraud");
  EXPECT_EQ(inputs[0]["model"]["version"], 2);
  // A gate that holds v2 back with nothing serving: serving_version null, not 0.
  auto first = Context("deploy", "{model: 'fraud:2', endpoint: staging, promote_if: {metric: auc, min: 0.75}}", false);
  for (double auc : {0.8, 0.7}) {
    m.metrics_json = json{{"auc", auc}}.dump();
    first->RegisterModel(m);
  }
  ASSERT_TRUE(ops_.Find("serve")->Execute(*first).ok);
  json unset = json::parse(std::ifstream(first->FindArtifact("deploy", "deployment")->uri));
  EXPECT_EQ(unset["promoted"], false);
  EXPECT_TRUE(unset["serving_version"].is_null()) << unset.dump();
  EXPECT_TRUE(unset["previous_version"].is_null());

  // v3: auc 0.9 passes; the alias moves.
  auto ctx3 = Context("deploy", "{model: 'fraud:3', endpoint: production, promote_if: {metric: auc, min: 0.75, better_than_current: true}}", false);
  for (double auc : {0.8, 0.7, 0.9}) {
    m.metrics_json = json{{"auc", auc}}.dump();
    ctx3->RegisterModel(m);
  }
  ctx3->SetModelAlias("fraud", "production", 1, 0);
  r = ops_.Find("serve")->Execute(*ctx3);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.metrics.summary,
            "promoted fraud v3 to production (was v1) (auc 0.9 >= 0.75; auc 0.9 beats version 1's 0.8 as recorded "
            "(not scored on these test rows: 'fraud:3' is not a train task of this run with a test split))");
  EXPECT_EQ(ctx3->aliases().at({"fraud", "production"}), 3);
}

TEST_F(PredictTest, BetterThanCurrentScoresTheServingVersionOnTheCandidatesTestRows) {
  // Given a serving version trained on good features, whose recorded AUC is
  // (falsely) low, and a candidate trained on one weak feature, then the gate
  // scores the serving version on the candidate's test rows and keeps it:
  // the recorded figures, from other test rows, would have promoted.
  TablePtr raw = columnar::ReadCsvText(RawCsv(600), "raw.csv").table;
  TablePtr t = Transformed(raw);
  auto strong = Context("train_strong", "{target: y, features: [amount_std, merchant_code], model: logistic_regression, name: fraud}");
  RunOn(*strong, "train", t);
  auto weak = Context("train_weak", "{target: y, features: [ts_hour], model: logistic_regression, name: fraud}");
  RunOn(*weak, "train", t);
  ModelRegistration champion = strong->models().at(0), challenger = weak->models().at(0);
  const double challenger_auc = json::parse(challenger.metrics_json)["auc"].get<double>();

  auto deploy = Context("deploy", "{model: train_weak, promote_if: {better_than_current: true}}", false);
  champion.metrics_json = json{{"auc", 0.01}}.dump();  // what v1 recorded: far below the candidate
  deploy->RegisterModel(champion);
  deploy->RegisterModel(challenger);
  deploy->SetModelAlias("fraud", "production", 1, 0);
  for (const auto& [key, art] : weak->artifacts()) deploy->AddArtifact(key.first, art);

  // The champion's AUC on the challenger's test rows (every column of the
  // training table), by hand.
  ArtifactInfo split = *deploy->FindArtifact("train_weak", "test_split");
  TablePtr rows = columnar::Concatenate(*columnar::ReadParquetFile(split.uri));
  ASSERT_EQ(rows->schema(), t->schema());
  ASSERT_EQ(rows->num_rows(), json::parse(challenger.metrics_json)["test_rows"].get<int64_t>());
  auto predictor = ml::Predictor::Load({champion.format, champion.uri, champion.kind, champion.features_json,
                                        champion.transforms_json, champion.content_hash}, 1);
  std::vector<double> scores = predictor->PredictFeatures(*rows);
  const columnar::Column& label = *rows->batch(0).columns[*rows->schema().IndexOf("y")];
  std::vector<double> y;
  for (int64_t i = 0; i < rows->num_rows(); ++i) y.push_back(double(label.ints()[i]));
  const double champion_auc = ml::RocAuc(y.data(), scores.data(), rows->num_rows());
  ASSERT_GT(champion_auc, challenger_auc);

  TaskResult r = ops_.Find("serve")->Execute(*deploy);
  ASSERT_TRUE(r.ok) << r.error;
  char figures[128];
  std::snprintf(figures, sizeof figures, "auc %.4g does not beat version 1's %.4g on the same %lld test rows",
                challenger_auc, champion_auc, static_cast<long long>(rows->num_rows()));
  EXPECT_EQ(r.metrics.summary, "not promoted: fraud v2: " + std::string(figures) + "; production stays v1");
  EXPECT_EQ(deploy->aliases().at({"fraud", "production"}), 1);
}

TEST_F(PredictTest, MonitorReportsEachColumnAndExportsGauges) {
  TablePtr a = columnar::ReadCsvText(RawCsv(400), "a.csv").table;
  TablePtr b = columnar::ReadCsvText(RawCsv(300), "b.csv").table;  // the same process: no drift
  auto ctx = Context("watch", "{reference: ref, current: cur, columns: [amount, merchant, flag]}", false);
  ctx->SetInput("ref", std::make_shared<ops::TableDataset>(a));
  ctx->SetInput("cur", std::make_shared<ops::TableDataset>(b));
  TaskResult r = ops_.Find("monitor")->Execute(*ctx);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.metrics.summary, "no drift in 3 columns");
  ASSERT_EQ(r.metrics.gauges.size(), 6u);
  EXPECT_EQ(r.metrics.gauges[0].name, "pipe_drift_psi");
  EXPECT_EQ(r.metrics.gauges[1].name, "pipe_drift_ks");
  EXPECT_EQ(r.metrics.gauges[3].name, "pipe_drift_js");
  json report = json::parse(std::ifstream(ctx->FindArtifact("watch", "drift")->uri));
  EXPECT_EQ(report["columns"][0]["kind"], "numeric");
  EXPECT_EQ(report["columns"][0]["cuts"].size(), 9u);
  EXPECT_EQ(report["columns"][1]["kind"], "categorical");
  // One bin per reference category, and one last for those it lacks.
  EXPECT_EQ(report["columns"][1]["categories"].size() + 1, report["columns"][1]["reference_bins"].size());
  EXPECT_TRUE(report["columns"][1]["new_categories"].is_array());
  EXPECT_GT(report["columns"][0]["current_null_rate"].get<double>(), 0.1);  // every ninth amount is empty

  // A column with values on one side only drifted (PSI and KS have nothing
  // to compare); all null on both sides did not.
  {
    std::string ref_csv = "x,y,z\n", cur_csv = "x,y,z\n";
    for (int i = 0; i < 50; ++i) {
      ref_csv += std::to_string(i) + ",,\n";
      cur_csv += "," + std::to_string(i) + ",\n";
    }
    columnar::CsvOptions typed;
    typed.types = {{"x", columnar::DataType::kFloat64}, {"y", columnar::DataType::kFloat64},
                   {"z", columnar::DataType::kFloat64}};
    auto nulls = Context("nulls", "{reference: ref, current: cur}", false);
    nulls->SetInput("ref", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(ref_csv, "r.csv", typed).table));
    nulls->SetInput("cur", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(cur_csv, "c.csv", typed).table));
    TaskResult n = ops_.Find("monitor")->Execute(*nulls);
    ASSERT_TRUE(n.ok) << n.error;
    EXPECT_EQ(n.metrics.summary, "2 of 3 columns drifted: x (all null now), y (all null in the reference)");
  }

  // A column that is a number in one table and text in the other.
  TablePtr text = columnar::ReadCsvText("amount\nabc\n", "t.csv").table;
  ctx->SetInput("cur", std::make_shared<ops::TableDataset>(text));
  auto ctx2 = Context("watch2", "{reference: ref, current: cur, columns: [amount], on_drift: fail}", false);
  ctx2->SetInput("ref", std::make_shared<ops::TableDataset>(a));
  ctx2->SetInput("cur", std::make_shared<ops::TableDataset>(text));
  EXPECT_EQ(ops_.Find("monitor")->Execute(*ctx2).error,
            "monitor: column 'amount' is float64 in the reference but string in the current table");

  // An empty table (a CSV of a header only) on either side: said as such.
  TablePtr empty = columnar::ReadCsvText("amount,merchant\n", "e.csv").table;
  ctx2->SetInput("cur", std::make_shared<ops::TableDataset>(empty));
  EXPECT_EQ(ops_.Find("monitor")->Execute(*ctx2).error, "monitor: the current table (task 'cur') has no rows");
  ctx2->SetInput("cur", std::make_shared<ops::TableDataset>(b));
  ctx2->SetInput("ref", std::make_shared<ops::TableDataset>(empty));
  EXPECT_EQ(ops_.Find("monitor")->Execute(*ctx2).error, "monitor: the reference (task 'ref') has no rows");
}

TEST_F(PredictTest, MonitorOnOddInputsSaysWhatHappened) {
  auto run = [&](const std::string& task, const std::string& ref_csv, const std::string& cur_csv,
                 const std::string& with = "{reference: ref, current: cur}") {
    auto ctx = Context(task, with, false);
    ctx->SetInput("ref", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(ref_csv, "r.csv").table));
    ctx->SetInput("cur", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(cur_csv, "c.csv").table));
    TaskResult r = ops_.Find("monitor")->Execute(*ctx);
    json report;
    if (auto art = ctx->FindArtifact(task, "drift")) report = json::parse(std::ifstream(art->uri));
    return std::make_pair(r, report);
  };
  // A numeric column that arrives empty (CSV infers such a column as
  // strings): the feed broke, not a type error.
  {
    auto [r, report] = run("empty_feed", "id,x\n1,1.5\n2,2.5\n3,3.5\n", "id,x\n1,\n2,\n3,\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.metrics.summary, "1 of 2 columns drifted: x (all null now)");
    EXPECT_EQ(report["columns"][1]["kind"], "numeric");
  }
  // A time against a number: never compared (microseconds against seconds).
  {
    auto [r, report] = run("times", "x\n2026-01-01\n2026-06-01\n", "x\n1767225600\n1780272000\n",
                           "{reference: ref, current: cur, columns: [x]}");
    EXPECT_EQ(r.error,
              "monitor: column 'x' is timestamp in the reference but int64 in the current table (times are not compared with "
              "numbers)");
  }
  // Integers beyond 2^53 compared as integers.
  {
    auto [r, report] = run("big", "x\n9007199254740992\n9007199254740993\n", "x\n9007199254740993\n9007199254740993\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(report["columns"][0]["ks"], 0.5);
  }
  // Infinite cuts are written as such (JSON has no infinity; null would
  // read as a missing value); a timestamp column's cuts as times.
  {
    auto [r, report] = run("inf", "x,t\n-inf,2026-01-01\n1,2026-01-02\n2,2026-01-03\n3,2026-01-04\ninf,2026-01-05\n",
                           "x,t\n1,2026-01-01\n2,2026-01-02\n", "{reference: ref, current: cur, columns: [x, t]}");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(report["columns"][0]["cuts"][0], "-inf");
    EXPECT_EQ(report["columns"][0]["cuts"][8], "inf");
    EXPECT_EQ(report["columns"][0]["cuts"][4], 2.0);
    EXPECT_EQ(report["columns"][1]["cuts"][4], "2026-01-03 00:00:00");
  }
  // A real category named like the report's words is only a category; the
  // categories the reference lacks are listed apart, the most rows first.
  {
    auto [r, report] = run("cats", "c\n(new)\na\n", "c\n(new)\nb\nz\nz\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(report["columns"][0]["categories"], json::parse(R"j(["(new)", "a"])j"));
    EXPECT_EQ(report["columns"][0]["current_bins"], json::parse("[1, 0, 3]"));
    EXPECT_EQ(report["columns"][0]["new_categories"],
              json::parse(R"([{"category": "z", "rows": 2}, {"category": "b", "rows": 1}])"));
    EXPECT_EQ(report["columns"][0]["new_category_count"], 2);
  }
  // A column one side lacks is said, not silently skipped; one the feed
  // lost is a finding.
  {
    auto [r, report] = run("sides", "a,gone\n1,2\n3,4\n", "a,added\n1,x\n3,y\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.metrics.summary, "no drift in 1 column; not in the current table: gone; new in the current table: added");
    EXPECT_EQ(r.metrics.alert, r.metrics.summary);
    EXPECT_EQ(report["not_compared"]["only_in_reference"], json::parse(R"(["gone"])"));
    EXPECT_EQ(report["not_compared"]["only_in_current"], json::parse(R"(["added"])"));
  }
  // A reference file that is not there: the argument is named.
  {
    auto ctx = Context("missing", "{reference: {path: nope.csv}, current: cur}", false);
    ctx->SetInput("cur", std::make_shared<ops::TableDataset>(columnar::ReadCsvText("x\n1\n", "c.csv").table));
    const std::string error = ops_.Find("monitor")->Execute(*ctx).error;
    EXPECT_EQ(error.rfind("monitor: reference nope.csv: no such file (", 0), 0u) << error;
  }
}

// A reference above the exact-KS size (a profile is kept of it): amount
// normal, merchant one of three; written to `path`. Returns its rows.
int64_t WriteLargeReference(const std::string& path) {
  const int64_t n = (int64_t{1} << 20) + 1;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0, 1);
  auto amount = std::make_shared<columnar::Column>(columnar::DataType::kFloat64, n);
  columnar::ColumnBuilder merchant(columnar::DataType::kString);
  const char* names[] = {"fuel", "grocery", "travel"};
  for (int64_t i = 0; i < n; ++i) {
    amount->mutable_values().as<double>()[i] = normal(rng);
    merchant.AppendString(names[i % 3]);
  }
  auto reference = std::make_shared<columnar::Table>(columnar::Schema(
      {{"amount", columnar::DataType::kFloat64}, {"merchant", columnar::DataType::kString}}));
  reference->AddBatch({n, {amount, merchant.Finish()}});
  columnar::WriteParquetFile(*reference, path);
  return n;
}

TEST_F(PredictTest, ALargeReferenceIsProfiledOnceAndNotReadAgain) {
  // Given a reference file above the exact-KS size, then the first monitor
  // profiles it and keeps the profile beside the DAG's runs; a second one
  // gives the same report from the profile alone: the file, now garbage of
  // the same size and time, is not read.
  const std::string path = (dir_ / "reference.parquet").string();
  const int64_t n = WriteLargeReference(path);
  TablePtr current = columnar::ReadCsvText("amount,merchant\n0.1,fuel\n2.5,casino\n-0.3,travel\n,grocery\n", "c.csv").table;

  auto monitor = [&](const std::string& task) {
    auto ctx = Context(task, "{reference: {path: '" + path + "'}, current: cur}", false);
    ctx->SetInput("cur", std::make_shared<ops::TableDataset>(current));
    TaskResult r = ops_.Find("monitor")->Execute(*ctx);
    EXPECT_TRUE(r.ok) << r.error;
    json report = json::parse(std::ifstream(ctx->FindArtifact(task, "drift")->uri));
    report.erase("reference");
    return report;
  };
  json first = monitor("watch");
  ASSERT_TRUE(std::filesystem::exists(dir_ / "profiles"));
  EXPECT_EQ(first["rows"]["reference"], n);
  EXPECT_EQ(first["columns"][0]["reference_bins"].size(), 10u);
  EXPECT_LE(first["columns"][0]["ks"].get<double>(), first["columns"][0]["ks_max"].get<double>());

  const auto mtime = std::filesystem::last_write_time(path);
  const auto size = std::filesystem::file_size(path);
  {
    std::ofstream garbage(path, std::ios::binary | std::ios::trunc);
    garbage << std::string(size, 'x');
  }
  std::filesystem::last_write_time(path, mtime);
  EXPECT_EQ(monitor("watch_again"), first);
}

TEST_F(PredictTest, AKeptProfileHoldsAMarkedColumnsCategoriesOnlyAsDigests) {
  const std::string path = (dir_ / "reference.parquet").string();
  WriteLargeReference(path);
  TablePtr current = columnar::ReadCsvText("amount,merchant\n0.1,fuel\n2.5,casino\n-0.3,travel\n,grocery\n", "c.csv").table;
  auto monitor = [&](const std::string& task, std::vector<std::string> marked) {
    auto ctx = Context(task, "{reference: {path: '" + path + "'}, current: cur}", false);
    ctx->mutable_task().input_pii = std::move(marked);
    ctx->SetInput("cur", std::make_shared<ops::TableDataset>(current));
    TaskResult r = ops_.Find("monitor")->Execute(*ctx);
    EXPECT_TRUE(r.ok) << r.error;
    if (!r.ok) return json();
    json report = json::parse(std::ifstream(ctx->FindArtifact(task, "drift")->uri));
    report.erase("reference");
    return report;
  };
  auto kept = [&]() -> std::string {  // the one profile file's text, "" when none
    if (!std::filesystem::exists(dir_ / "profiles")) return "";
    for (const auto& f : std::filesystem::directory_iterator(dir_ / "profiles")) {
      std::ifstream in(f.path());
      return std::string(std::istreambuf_iterator<char>(in), {});
    }
    return "";
  };
  // Without a mask_key no profile is kept of a marked column.
  const json plain = monitor("no_key", {"merchant"});
  EXPECT_EQ(plain["columns"][1]["pii"], true);
  EXPECT_EQ(kept(), "");

  // With one, the profile keeps digests; the figures are those of the text
  // (the same bins, in another order).
  std::optional<SecretsFileScope> secrets;
  secrets.emplace(dir_ / "secrets", "mask_key:a-mask-key-of-32-characters-long\n");
  const json first = monitor("with_key", {"merchant"});
  const std::string profile = kept();
  ASSERT_NE(profile, "");
  for (const char* category : {"fuel", "grocery", "travel"}) EXPECT_EQ(profile.find(category), std::string::npos) << category;
  EXPECT_NE(profile.find(ml::HmacSha256Hex("a-mask-key-of-32-characters-long", "grocery")), std::string::npos);
  EXPECT_NEAR(first["columns"][1]["js"].get<double>(), plain["columns"][1]["js"].get<double>(), 1e-15);
  EXPECT_NEAR(first["columns"][1]["psi"].get<double>(), plain["columns"][1]["psi"].get<double>(), 1e-12);
  auto sorted = [](json bins) {
    std::vector<int64_t> v = bins.get<std::vector<int64_t>>();
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(first["columns"][1]["reference_bins"]), sorted(plain["columns"][1]["reference_bins"]));
  EXPECT_EQ(first["columns"][0], plain["columns"][0]);  // amount: not marked, the same

  // The next run reads the profile alone: the reference, garbage now, is not read.
  const auto mtime = std::filesystem::last_write_time(path);
  const auto size = std::filesystem::file_size(path);
  std::filesystem::copy_file(path, dir_ / "saved.parquet");
  {
    std::ofstream garbage(path, std::ios::binary | std::ios::trunc);
    garbage << std::string(size, 'x');
  }
  std::filesystem::last_write_time(path, mtime);
  EXPECT_EQ(monitor("again", {"merchant"}), first);

  // Another key: that profile is not used (the reference is read again).
  secrets.reset();
  secrets.emplace(dir_ / "secrets", "mask_key:another-key-of-32-characters-long\n");
  auto ctx = Context("new_key", "{reference: {path: '" + path + "'}, current: cur}", false);
  ctx->mutable_task().input_pii = {"merchant"};
  ctx->SetInput("cur", std::make_shared<ops::TableDataset>(current));
  EXPECT_FALSE(ops_.Find("monitor")->Execute(*ctx).ok);  // it read the garbage
  std::filesystem::rename(dir_ / "saved.parquet", path);
  std::filesystem::last_write_time(path, mtime);
  monitor("new_key_again", {"merchant"});
  EXPECT_NE(kept().find(ml::HmacSha256Hex("another-key-of-32-characters-long", "grocery")), std::string::npos);

  // Unmarked, the column's profile is made again, with its categories.
  secrets.reset();
  monitor("unmarked", {});
  EXPECT_NE(kept().find("grocery"), std::string::npos);
  // Marked again without a key: the profile with the text is removed.
  monitor("marked_again", {"merchant"});
  EXPECT_EQ(kept(), "");
  // A marked number keeps no profile (its profile is its values), key or not.
  secrets.emplace(dir_ / "secrets", "mask_key:a-mask-key-of-32-characters-long\n");
  monitor("digests_again", {"merchant"});
  EXPECT_NE(kept(), "");
  const json numbers = monitor("number", {"amount"});
  EXPECT_EQ(numbers["columns"][0]["pii"], true);
  EXPECT_EQ(kept(), "");
}

TEST_F(PredictTest, ArgumentsAreCheckedAtValidation) {
  auto check = [&](const std::string& op, const std::string& with) {
    OpContext ctx("t", with, dir_);
    Diagnostics diags("test.yaml");
    ops_.Find(op)->CheckArgs(ctx.task(), diags);
    std::string out;
    for (const Diagnostic& d : diags.items()) out += d.message + "\n";
    return out;
  };
  EXPECT_EQ(check("predict", "{as: p}"), "task 't': predict: missing required argument 'model'\n");
  EXPECT_EQ(check("serve", "{model: m, promote_if: {metric: speed, min: 1}}"),
            "task 't': serve: promote_if: unknown metric 'speed' (auc, accuracy, f1, precision, recall, logloss, rmse, mae, r2)\n");
  EXPECT_EQ(check("serve", "{model: m, promote_if: {}}"),
            "task 't': serve: promote_if: 'promote_if' needs 'min', 'max' or 'better_than_current: true'\n");
  // A bound that is a placeholder is a number once rendered (it was "needs 'min'...").
  EXPECT_EQ(check("serve", "{model: m, promote_if: {metric: auc, min: '{{ params.min_auc }}'}}"), "");
  EXPECT_EQ(check("serve", "{model: m, promote_if: {max: '{{ params.max_rmse }}'}}"),
            "task 't': serve: promote_if: 'min' and 'max' need a 'metric'\n");
  EXPECT_EQ(check("serve", "{model: m, endpoint: 'a b'}"),
            "task 't': serve: 'endpoint' must be an alias name: a lower-case letter, then lower-case letters, digits and '_'\n");
  EXPECT_EQ(check("monitor", "{reference: a, current: b, on_drift: explode}"),
            "task 't': monitor: 'on_drift' must be one of warn, fail, found 'explode'\n");
  EXPECT_EQ(check("monitor", "{reference: {path: ref.json}, current: b}"),
            "task 't': monitor: reference: 'path' must name a .parquet or .csv file, got 'ref.json'\n");
  EXPECT_EQ(check("monitor", "{reference: {path: '{{ params.ref }}'}, current: b}"), "");
  EXPECT_EQ(check("monitor", "{reference: a, current: b, columns: []}"),
            "task 't': monitor: 'columns' must name at least one column (leave it out for every column of both)\n");
  EXPECT_EQ(check("monitor", "{reference: a, current: b, columns: [x, y, x]}"), "task 't': monitor: 'columns' names 'x' twice\n");
  EXPECT_EQ(check("monitor", "{current: b, psi_threshold: 0}"),
            "task 't': monitor: missing required argument 'reference'\ntask 't': monitor: 'psi_threshold' must be a number > 0\n");
}

}  // namespace
}  // namespace pipeline
