// train: fits a model on a table and registers it as a new version in the
// model registry (docs/models.md): the model file, the input signature, the
// fitted transform chain of the table, params, metrics on the test split,
// feature importance and lineage. The solvers live in src/ml.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/parallel.h"
#include "core/error.h"
#include "core/names.h"
#include "ml/linear.h"
#include "ml/metrics.h"
#include "ml/xgboost.h"
#include "ops/args.h"
#include "ops/model_data.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using columnar::DataType;
using nlohmann::json;

const std::vector<std::string> kModels = {"logistic_regression", "linear_regression", "xgboost"};
const std::vector<std::string> kLogisticParams = {"l2", "max_iter", "tol", "class_weight"};
const std::vector<std::string> kLinearParams = {"l2"};
const std::vector<std::string> kFeatureTypes = {"int64", "float64", "bool"};
const std::vector<std::string> kTimeTypes = {"timestamp", "int64", "float64"};

struct TrainArgs {
  std::string target;
  std::optional<std::vector<std::string>> features;
  std::string model;
  const DocNode* params = nullptr;
  double test_fraction = 0.2;
  uint64_t seed = 42;
  std::string by_time;
  std::string name;
  // The parsed params.
  ml::LinearRegressionOptions linear;
  ml::LogisticRegressionOptions logistic;
  ml::XgbOptions xgb;
};

bool WholeNumber(double v, double min) { return v >= min && v == std::floor(v) && v < 1e9; }

void ParseParams(const DocNode& params, TrainArgs& a, const std::string& context, Diagnostics& diags, Mark mark) {
  ArgReader r(params, context + ": params", diags, Within(params, mark));
  if (!params.is_map()) {
    r.Error(&params, "'params' must be a map of hyper-parameters");
    return;
  }
  if (a.model == "xgboost") {
    for (const auto& [key, value] : params.entries()) {
      if (!key->is_scalar()) continue;
      const std::string k = key->text();
      r.Get(k);
      if (!value->is_scalar()) {
        r.Error(value.get(), "xgboost parameter '" + k + "' must be a scalar");
        continue;
      }
      if (HasPlaceholder(*value)) continue;
      if (k == "num_round" || k == "early_stopping_rounds") {
        auto v = value->AsDouble();
        if (!v || !std::isfinite(*v) || !WholeNumber(*v, k == "num_round" ? 1 : 0)) {
          r.Error(value.get(), "'" + k + "' must be a whole number >= " + (k == "num_round" ? "1" : "0"));
        } else {
          (k == "num_round" ? a.xgb.num_round : a.xgb.early_stopping_rounds) = int(*v);
        }
      } else if (k == "nthread") {
        r.Error(key.get(), "'nthread' is set by pipe (one thread per core)");
      } else if (k == "objective" && !ModelKind(a.model, value->text())) {
        r.Error(value.get(), "xgboost objective '" + value->text() +
                                 "' is not supported: use binary:logistic (a classifier: probabilities) or reg:* / "
                                 "count:* (a regressor)");
      } else {
        a.xgb.params[k] = value->text();
      }
    }
    // XGBoost only warns about a name it does not know: ask it now, so the
    // mistake shows at validation with its place.
    if (r.ok()) {
      for (const std::string& unknown : ml::UnknownXgbParameters(a.xgb.params)) {
        const DocNode* at = nullptr;
        for (const auto& [key, value] : params.entries()) {
          if (key->is_scalar() && key->text() == unknown) at = key.get();
        }
        r.Error(at, "xgboost does not know the parameter '" + unknown +
                        "' (see https://xgboost.readthedocs.io/en/release_1.7.0/parameter.html)");
      }
    }
    return;
  }
  if (auto v = r.Number("l2")) {
    if (!(*v >= 0) || !std::isfinite(*v)) {
      r.Error(r.Get("l2"), "'l2' must be a finite number >= 0");
    } else {
      a.linear.l2 = a.logistic.l2 = *v;
    }
  }
  if (a.model == "logistic_regression") {
    if (auto v = r.Number("max_iter")) {
      if (!std::isfinite(*v) || !WholeNumber(*v, 1)) {
        r.Error(r.Get("max_iter"), "'max_iter' must be a whole number >= 1");
      } else {
        a.logistic.max_iter = int(*v);
      }
    }
    if (auto v = r.Number("tol")) {
      if (!(*v > 0) || !std::isfinite(*v)) {
        r.Error(r.Get("tol"), "'tol' must be a finite number > 0");
      } else {
        a.logistic.tol = *v;
      }
    }
    if (auto v = r.Choice("class_weight", {"balanced", "none"})) a.logistic.balanced = *v == "balanced";
    r.RejectUnknown(kLogisticParams);
  } else {
    r.RejectUnknown(kLinearParams);
  }
}

std::optional<TrainArgs> ParseTrainArgs(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark) {
  ArgReader r(with, context, diags, mark);
  TrainArgs a;
  r.Get("input");
  a.target = r.String("target", true).value_or("");
  a.features = r.StringList("features");
  if (a.features) {
    if (a.features->empty()) r.Error(r.Get("features"), "'features' must name at least one column (or be left out: every number and bool column)");
    std::vector<std::string> sorted = *a.features;
    std::sort(sorted.begin(), sorted.end());
    if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
      r.Error(r.Get("features"), "feature '" + *dup + "' is listed twice");
    }
    if (std::find(a.features->begin(), a.features->end(), a.target) != a.features->end() && !a.target.empty()) {
      r.Error(r.Get("features"), "feature '" + a.target + "' is the target");
    }
  }
  if (auto m = r.Choice("model", kModels)) a.model = *m;
  if (!r.Get("model")) r.Error(nullptr, "missing required argument 'model' (" + JoinNames(kModels) + ")");
  a.name = r.String("name").value_or("");
  if (!a.name.empty() && !IsName(a.name) && !HasPlaceholder(*r.Get("name"))) {
    r.Error(r.Get("name"), "'name' must be a lower-case letter, then lower-case letters, digits and '_' (at most 64), found '" +
                               a.name + "'");
  }
  if (const DocNode* split = r.Get("split")) {
    ArgReader s(*split, context + ": split", diags, Within(*split, mark));
    if (!split->is_map()) {
      s.Error(split, "'split' must be {test_fraction: 0.2, seed: 42} or {by_time: COLUMN, test_fraction: 0.2}");
    } else {
      if (auto f = s.Number("test_fraction")) {
        if (!(*f > 0 && *f < 1)) {
          s.Error(s.Get("test_fraction"), "'test_fraction' must be between 0 and 1 (exclusive)");
        } else {
          a.test_fraction = *f;
        }
      }
      if (auto seed = s.Number("seed")) {
        if (!std::isfinite(*seed) || !WholeNumber(*seed, 0)) {
          s.Error(s.Get("seed"), "'seed' must be a whole number >= 0");
        } else {
          a.seed = uint64_t(*seed);
        }
      }
      a.by_time = s.String("by_time").value_or("");
      if (!a.by_time.empty() && s.Get("seed")) s.Error(s.Get("seed"), "'seed' is for a random split, not 'by_time'");
      s.RejectUnknown({"test_fraction", "seed", "by_time"});
    }
  }
  if (const DocNode* params = r.Get("params"); params && !a.model.empty()) ParseParams(*params, a, context, diags, mark);
  r.RejectUnknown({"input", "target", "features", "model", "params", "split", "name"});
  if (!r.ok()) return std::nullopt;
  return a;
}

std::vector<double> Gather(const std::vector<double>& values, const std::vector<int64_t>& rows) {
  std::vector<double> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) out[i] = values[size_t(rows[i])];
  return out;
}

// Rows `rows` of every column of `table`, in table order, as one batch.
columnar::TablePtr TakeRows(const columnar::Table& table, std::vector<int64_t> rows) {
  std::sort(rows.begin(), rows.end());
  const columnar::Schema& schema = table.schema();
  std::vector<std::vector<columnar::ColumnPtr>> parts(size_t(schema.num_fields()));
  size_t next = 0;
  int64_t offset = 0;
  for (const columnar::Batch& b : table.batches()) {
    std::vector<int64_t> local;
    while (next < rows.size() && rows[next] < offset + b.num_rows) local.push_back(rows[next++] - offset);
    if (!local.empty()) {
      for (size_t c = 0; c < parts.size(); ++c) parts[c].push_back(columnar::Take(*b.columns[c], local));
    }
    offset += b.num_rows;
  }
  columnar::Batch out;
  out.num_rows = int64_t(rows.size());
  for (size_t c = 0; c < parts.size(); ++c) {
    const columnar::Field& f = schema.field(int(c));
    out.columns.push_back(parts[c].empty() ? std::make_shared<columnar::Column>(f.type, 0)
                                           : columnar::ConcatColumns(f.type, parts[c], f.name));
  }
  auto taken = std::make_shared<columnar::Table>(schema);
  taken->AddBatch(std::move(out));
  return taken;
}

class TrainOperator final : public Operator {
 public:
  std::string_view name() const override { return "train"; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseTrainArgs(*task.with, "task '" + task.id + "': train", diags, task.mark);
  }

  // Train tasks registering the same model name (the DAG id when they set
  // none) add versions of one model, as a champion and its challenger do;
  // a classifier and a regressor under one name cannot be (a serve gate
  // compares them, an endpoint swaps one for the other).
  void CheckTasks(const DagSpec& dag, const std::vector<const TaskSpec*>& tasks, Diagnostics& diags) const override {
    std::map<std::string, std::pair<const TaskSpec*, std::string>> first;  // name -> its first task of a known kind
    for (const TaskSpec* task : tasks) {
      const DocNode* name = task->with ? task->with->Find("name") : nullptr;
      if (name && (!name->is_scalar() || HasPlaceholder(*name))) continue;
      const std::string model_name = name ? name->text() : dag.id;
      std::optional<std::string> kind = TrainTaskKind(*task);
      if (!kind) continue;
      auto [at, added] = first.try_emplace(model_name, task, *kind);
      if (added || at->second.second == *kind) continue;
      const DocNode* model = task->with->Find("model");
      diags.Add(model ? model->mark() : task->mark,
                "task '" + task->id + "' registers model '" + model_name + "' as a " + std::string(KindNoun(*kind)) +
                    ", and task '" + at->second.first->id + "' as a " + std::string(KindNoun(at->second.second)) +
                    ": give one its own 'name'");
    }
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': train";
    auto args = ParseTrainArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark);
    if (!args || !c.active()) return std::nullopt;
    const DocNode& with = *task.with;
    c.NeedType(with.Find("target"), "target", args->target, kFeatureTypes, "a number or bool");
    for (const std::string& f : args->features.value_or(std::vector<std::string>{})) {
      c.NeedType(with.Find("features"), "features", f, kFeatureTypes, "a number or bool");
    }
    if (!args->by_time.empty()) {
      const DocNode* split = with.Find("split");
      c.NeedType(split ? split->Find("by_time") : nullptr, "split.by_time", args->by_time, kTimeTypes,
                 "a timestamp or number");
    }
    // What the model learns from: the target and the features (when not
    // listed, every number and bool column but the split's time column).
    std::vector<std::string> used = {args->target};
    if (args->features) {
      used.insert(used.end(), args->features->begin(), args->features->end());
    } else if (auto known = c.Result()) {
      for (const auto& [name, type] : known->columns) {
        const bool feature = type.empty() || std::find(kFeatureTypes.begin(), kFeatureTypes.end(), type) != kFeatureTypes.end();
        if (feature && name != args->target && name != args->by_time) used.push_back(name);
      }
      c.RefuseUnnamedPii(task, with.Find("target"));  // the columns a one_hot made would be features
    }
    c.RefusePii(task, used, args->features ? with.Find("features") : nullptr);
    return std::nullopt;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseTrainArgs(ctx.args(), "train", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    try {
      return Train(ctx, *args);
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    } catch (const ml::Stopped&) {  // a cancel or a timeout, between two steps of the fit
      return TaskResult::Failure("cancelled");
    } catch (const ml::ModelError& e) {
      return TaskResult::Failure("train: " + std::string(e.what()));
    }
  }

 private:
  static TaskResult Train(TaskContext& ctx, const TrainArgs& a) {
    columnar::TablePtr input = MainInput(ctx);
    const columnar::Schema& schema = input->schema();
    const std::vector<std::string> columns = schema.names();
    auto target_idx = schema.IndexOf(a.target);
    if (!target_idx) ThrowMissingColumn("train: target", a.target, columns);
    // Features: as given, or every number and bool column but the target
    // and the split's time column.
    std::vector<int> feature_idx;
    if (a.features) {
      for (const std::string& f : *a.features) {
        auto idx = schema.IndexOf(f);
        if (!idx) ThrowMissingColumn("train: features", f, columns);
        if (f == a.target) throw OpError("train: feature '" + f + "' is the target");
        feature_idx.push_back(*idx);
      }
    } else {
      for (int i = 0; i < schema.num_fields(); ++i) {
        const columnar::Field& f = schema.field(i);
        if (i == *target_idx || f.name == a.by_time) continue;
        if (f.type == DataType::kInt64 || f.type == DataType::kFloat64 || f.type == DataType::kBool) feature_idx.push_back(i);
      }
      if (feature_idx.empty()) throw OpError("train: the input has no number or bool column besides the target to use as a feature");
    }
    const bool native = a.model != "xgboost";
    const int64_t n = input->num_rows();
    std::vector<double> y = ColumnAsDoubles(*input, *target_idx, false, true, "train", "target");
    std::vector<std::vector<double>> x;
    std::vector<std::string> names;
    json features = json::array();
    for (int idx : feature_idx) {
      if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
      x.push_back(ColumnAsDoubles(*input, idx, !native, native, "train", "feature"));
      names.push_back(schema.field(idx).name);
      features.push_back({{"name", schema.field(idx).name}, {"type", columnar::TypeName(schema.field(idx).type)}});
    }

    // XGBoost reads float32 and refuses infinities (NaN and null are its
    // missing values): say which value, where, before it says "inf or nan".
    if (!native) {
      for (size_t j = 0; j < x.size(); ++j) {
        const auto bad = std::find_if(x[j].begin(), x[j].end(), [](double v) {
          return std::isinf(v) || std::fabs(v) > double(std::numeric_limits<float>::max());
        });
        if (bad == x[j].end()) continue;
        throw OpError("train: feature '" + names[j] + "' holds " +
                      (std::isinf(*bad) ? std::string("an infinity") : FormatFraction(*bad)) + " in row " +
                      std::to_string(bad - x[j].begin()) +
                      ": xgboost takes finite float32 values (up to 3.4e38); NaN and null are missing values");
      }
    }
    // A classifier's target is 0 and 1 (a bool reads so): the first other
    // value is named by its row in the table, before any split.
    const bool binary_target = IsBinary(y) || schema.field(*target_idx).type == DataType::kBool;
    bool classifier = a.model == "logistic_regression";
    if (a.model == "xgboost") {
      auto objective = a.xgb.params.find("objective");
      classifier = objective == a.xgb.params.end() ? binary_target
                                                   : ModelKind(a.model, objective->second) == std::optional<std::string>("classification");
    }
    if (classifier && !binary_target) {
      const auto other = std::find_if(y.begin(), y.end(), [](double v) { return v != 0 && v != 1; });
      throw OpError("train: a classifier needs a target of 0 and 1 (or bool); '" + a.target + "' holds " +
                    FormatFraction(*other) + " in row " + std::to_string(other - y.begin()));
    }

    // The split: row numbers of the training and the test rows, each in
    // table order (by time: the test rows are the latest).
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    if (!a.by_time.empty()) {
      auto time_idx = schema.IndexOf(a.by_time);
      if (!time_idx) ThrowMissingColumn("train: split.by_time", a.by_time, columns);
      std::vector<double> t = ColumnAsDoubles(*input, *time_idx, false, true, "train", "split.by_time column");
      std::stable_sort(order.begin(), order.end(), [&](int64_t l, int64_t r) { return t[size_t(l)] < t[size_t(r)]; });
    } else {
      std::mt19937_64 rng(a.seed);
      for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates: the same split on every platform
        std::uniform_int_distribution<int64_t> pick(0, i);
        std::swap(order[size_t(i)], order[size_t(pick(rng))]);
      }
    }
    const int64_t test_rows = int64_t(std::llround(double(n) * a.test_fraction));
    const int64_t train_rows = n - test_rows;
    if (test_rows == 0 || train_rows == 0) {
      throw OpError("train: " + std::to_string(n) + " rows leave " + (test_rows == 0 ? "no test rows" : "no training rows") +
                    " at test_fraction " + FormatFraction(a.test_fraction));
    }
    std::vector<int64_t> train(order.begin(), order.begin() + train_rows);
    std::vector<int64_t> test(order.begin() + train_rows, order.end());
    if (a.by_time.empty()) {
      std::sort(train.begin(), train.end());
      std::sort(test.begin(), test.end());
    }
    // Early stopping watches the last fifth of the training rows: in table
    // order, or the latest by time.
    std::vector<int64_t> valid;
    if (a.model == "xgboost" && a.xgb.early_stopping_rounds > 0) {
      const int64_t valid_rows = std::max<int64_t>(1, train_rows / 5);
      if (train_rows - valid_rows < 1) throw OpError("train: too few training rows to hold some back for early stopping");
      valid.assign(train.end() - valid_rows, train.end());
      train.resize(size_t(train_rows - valid_rows));
    }
    // Each part's columns lie at equal distances in one buffer: XGBoost reads
    // them in place (a strided column-major matrix).
    struct Part {
      std::vector<double> values;  // column after column
      int64_t rows = 0;
      std::vector<double> y;
      ml::Design design(const std::vector<std::string>& n) const {
        ml::Design d;
        d.rows = rows;
        for (size_t j = 0; j < n.size(); ++j) d.columns.push_back(values.data() + j * size_t(rows));
        d.names = n;
        d.target = y.data();
        return d;
      }
    };
    auto part = [&](const std::vector<int64_t>& rows) {
      Part p;
      p.rows = int64_t(rows.size());
      p.values.resize(x.size() * rows.size());
      columnar::ParallelFor(x.size(), columnar::DefaultThreads(), [&](size_t j) {
        double* dst = p.values.data() + j * rows.size();
        for (size_t i = 0; i < rows.size(); ++i) dst[i] = x[j][size_t(rows[i])];
      });
      p.y = Gather(y, rows);
      return p;
    };
    Part train_part = part(train), test_part = part(test), valid_part = part(valid);
    x.clear();
    x.shrink_to_fit();
    ml::Design train_design = train_part.design(names), test_design = test_part.design(names);
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");

    // Fit, predict the test rows, write the model file.
    std::string kind;
    std::vector<double> prediction(test.size());
    json params, importance = json::object();
    std::string format, file;
    std::unique_ptr<ml::XgbModel> booster;
    json linear_file;
    // A cancel or a timeout stops a long fit between two of its steps.
    const ml::StopCheck stop = [&ctx] { return ctx.cancel().cancelled(); };
    if (a.model == "linear_regression") {
      kind = "regression";
      ml::LinearModel m = ml::FitLinearRegression(train_design, a.linear);
      ml::PredictLinear(m, test_design.columns, test_design.rows, prediction.data());
      params = {{"l2", a.linear.l2}};
      linear_file = {{"coef", m.coef}, {"intercept", m.intercept}};
      Standardized(train_design, m, names, importance);
    } else if (a.model == "logistic_regression") {
      kind = "classification";
      ml::LogisticRegressionOptions options = a.logistic;
      options.stop = stop;
      ml::LogisticFit fit = ml::FitLogisticRegression(train_design, options);
      if (!fit.converged) {
        ctx.Log("train: logistic_regression did not converge in " + std::to_string(fit.iterations) +
                " iterations (params.max_iter); the model is the last iterate");
      }
      ml::PredictLogistic(fit.model, test_design.columns, test_design.rows, prediction.data());
      params = {{"l2", a.logistic.l2},
                {"max_iter", a.logistic.max_iter},
                {"tol", a.logistic.tol},
                {"class_weight", a.logistic.balanced ? json("balanced") : json(nullptr)},
                {"iterations", fit.iterations},
                {"converged", fit.converged}};
      linear_file = {{"coef", fit.model.coef}, {"intercept", fit.model.intercept}};
      Standardized(train_design, fit.model, names, importance);
    } else {
      ml::XgbOptions options = a.xgb;
      options.stop = stop;
      if (options.params.emplace("objective", binary_target ? "binary:logistic" : "reg:squarederror").second &&
          !binary_target) {
        ctx.Log("train: '" + a.target + "' holds values other than 0 and 1, so xgboost trains a regressor "
                "(reg:squarederror); a classifier needs a target of 0 and 1");
      }
      const std::string& objective = options.params["objective"];
      // A classifier's predictions are probabilities; a regressor's, values.
      std::optional<std::string> of = ModelKind(a.model, objective);
      if (!of) {
        throw OpError("train: xgboost objective '" + objective +
                      "' is not supported: use binary:logistic (a classifier: probabilities) or reg:* / count:* "
                      "(a regressor)");
      }
      kind = *of;
      if (kind == "classification") {
        const auto ones = std::count(train_part.y.begin(), train_part.y.end(), 1.0);
        if (ones == 0 || size_t(ones) == train_part.y.size()) {
          throw OpError(std::string("train: the training rows hold one class only (every target is ") +
                        (ones ? "1" : "0") + "): a classifier needs both");
        }
      }
      ml::Design valid_design = valid_part.design(names);
      booster = std::make_unique<ml::XgbModel>(
          ml::XgbModel::Train(train_design, valid.empty() ? nullptr : &valid_design, options));
      booster->Predict(test_design.columns, test_design.rows, prediction.data());
      // As the DAG gave them: numbers as numbers (XGBoost takes every value as text).
      params = json::object();
      for (const auto& [key, text] : options.params) {
        int64_t i = 0;
        double d = 0;
        const char* end = text.data() + text.size();
        if (auto r = std::from_chars(text.data(), end, i); r.ec == std::errc() && r.ptr == end) {
          params[key] = i;
        } else if (auto f = std::from_chars(text.data(), end, d); f.ec == std::errc() && f.ptr == end && std::isfinite(d)) {
          params[key] = d;
        } else {
          params[key] = text;
        }
      }
      params.emplace("tree_method", "hist");  // what XgbModel::Train defaults to
      params["num_round"] = options.num_round;
      params["early_stopping_rounds"] = options.early_stopping_rounds;
      params["rounds"] = booster->rounds();
      if (!valid.empty()) params["best_iteration"] = booster->best_iteration();
      for (const auto& [feature, gain] : booster->Importance(names)) importance[feature] = gain;
    }
    if (kind == "classification" && !IsBinary(test_part.y)) {
      throw OpError("train: a classifier needs a target of 0 and 1 (or bool); '" + a.target + "' holds other values");
    }

    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");  // before any file is written
    json metrics = TestMetrics(kind, test_part.y.data(), prediction.data(), int64_t(test.size()));
    // The test rows, every column of the input: `serve`'s gate scores the
    // version it would replace on the same rows (champion against challenger).
    PersistTable(ctx, *TakeRows(*input, test), "test_split");
    metrics["train_rows"] = int64_t(train.size());
    metrics["test_rows"] = int64_t(test.size());
    if (!valid.empty()) metrics["validation_rows"] = int64_t(valid.size());

    // The model file, written whole under a temporary name, read back, then
    // registered: a version is never registered without its file.
    const std::string model_name = a.name.empty() ? ctx.dag_id() : a.name;
    ArtifactInfo artifact;
    if (booster) {
      format = "xgboost-json";
      artifact = WriteModelFile(ctx, [&](const std::string& tmp) { booster->Save(tmp); });
      ml::XgbModel::Load(artifact.uri);  // throws when it cannot be read back
    } else {
      format = "pipe-linear-v1";
      json doc = {{"format", format}, {"model_type", a.model}, {"kind", kind},    {"target", a.target},
                  {"features", features}, {"coef", linear_file["coef"]}, {"intercept", linear_file["intercept"]}};
      artifact = WriteModelFile(ctx, [&](const std::string& tmp) {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << doc.dump(1) << '\n';
        if (!out.flush()) throw Error::Unavailable("cannot write " + tmp);
      });
      // Read back: what is registered is what the file holds.
      std::ifstream in(artifact.uri, std::ios::binary);
      json back = json::parse(in, nullptr, false);
      if (back.is_discarded() || back != doc) throw OpError("train: model file " + artifact.uri + " does not read back as written");
    }
    const json transforms = FittedChain(*input);
    json inputs = json::array();
    if (ctx.task().input) {
      json in = {{"task", *ctx.task().input}};
      if (auto art = ctx.FindArtifact(*ctx.task().input, "output")) {
        in["uri"] = art->uri;
        in["content_hash"] = art->content_hash;
      }
      inputs.push_back(in);
    }
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    ModelRegistration reg;
    reg.name = model_name;
    reg.model_type = a.model;
    reg.kind = kind;
    reg.uri = artifact.uri;
    reg.format = format;
    reg.content_hash = artifact.content_hash;
    reg.target = a.target;
    reg.features_json = features.dump();
    reg.transforms_json = transforms.dump();
    reg.params_json = params.dump();
    reg.metrics_json = metrics.dump();
    reg.importance_json = importance.dump();
    reg.inputs_json = inputs.dump();
    const int version = ctx.RegisterModel(reg);

    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = n;
    std::string headline;
    auto figure = [&](const char* key) {
      const json& v = metrics[key];
      char buf[64];
      if (v.is_number() && std::isfinite(v.get<double>())) {
        std::snprintf(buf, sizeof buf, "%s %.4f", key, v.get<double>());
      } else {  // null in the metrics: undefined on these test rows (auc of one class)
        std::snprintf(buf, sizeof buf, "%s n/a", key);
      }
      headline += (headline.empty() ? "" : ", ") + std::string(buf);
    };
    if (kind == "classification") {
      figure("auc");
      figure("accuracy");
      figure("f1");
    } else {
      figure("rmse");
      figure("r2");
    }
    result.metrics.summary = model_name + " v" + std::to_string(version) + " (" + a.model + "): " + headline + " on " +
                             std::to_string(test.size()) + " test rows";
    ctx.Log("train: registered " + model_name + " version " + std::to_string(version) + ": " + metrics.dump());
    return result;
  }

  static bool IsBinary(const std::vector<double>& y) {
    return std::all_of(y.begin(), y.end(), [](double v) { return v == 0 || v == 1; });
  }

  // A linear model's importance: each coefficient times its feature's
  // standard deviation over the training rows (the change of the prediction
  // for one standard deviation of the feature).
  static void Standardized(const ml::Design& d, const ml::LinearModel& m, const std::vector<std::string>& names,
                           json& out) {
    for (size_t j = 0; j < d.columns.size(); ++j) {
      double mean = 0, ss = 0;
      for (int64_t i = 0; i < d.rows; ++i) mean += d.columns[j][i];
      mean /= double(d.rows);
      for (int64_t i = 0; i < d.rows; ++i) ss += (d.columns[j][i] - mean) * (d.columns[j][i] - mean);
      out[names[j]] = m.coef[j] * std::sqrt(ss / double(d.rows));
    }
  }

  // Writes the model file of this try (model.tryN.json: a later try never
  // overwrites the file of a version an earlier one registered), durably:
  // a temporary name, fsync, rename, fsync of the folder. Records it as the
  // task's `model` artifact.
  template <class Write>
  static ArtifactInfo WriteModelFile(TaskContext& ctx, Write&& write) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(ctx.artifact_dir(), ec);
    const std::string stem = (fs::path(ctx.artifact_dir()) / ("model.try" + std::to_string(ctx.try_number()))).string();
    const std::string path = stem + ".json";
    // XGBoost picks the format by the extension: the temporary name ends in .json too.
    const std::string tmp = stem + ".tmp.json";
    try {
      write(tmp);
      Sync(tmp, false);
      fs::rename(tmp, path, ec);
      if (ec) throw Error::Unavailable("cannot rename " + tmp + ": " + ec.message());
      Sync(ctx.artifact_dir(), true);
    } catch (...) {
      fs::remove(tmp, ec);
      throw;
    }
    ArtifactInfo info{"model", path, "{}", 0, FileHash(path), ctx.noted_inputs_json(), ctx.cache_key};
    ctx.RecordArtifact(info);
    return info;
  }

  static void Sync(const std::string& path, bool folder) {
    int fd = ::open(path.c_str(), (folder ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (::fsync(fd) != 0 && !folder)) {
      if (fd >= 0) ::close(fd);
      throw Error::Unavailable("cannot write " + path + " to disk: " + std::strerror(errno));
    }
    ::close(fd);
  }
};

}  // namespace

std::unique_ptr<Operator> MakeTrainOperator() { return std::make_unique<TrainOperator>(); }

}  // namespace pipeline::ops
