#include "ops/model_data.h"

#include <cmath>

#include "ml/metrics.h"
#include "ops/args.h"
#include "ops/operators.h"

namespace pipeline::ops {

namespace {

nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json TestMetrics(const std::string& kind, const double* y, const double* p, int64_t n) {
  if (kind == "classification") {
    ml::ClassificationMetrics m = ml::EvaluateClassifier(y, p, n);
    return {{"accuracy", Finite(m.accuracy)}, {"auc", Finite(m.auc)},        {"logloss", Finite(m.logloss)},
            {"precision", Finite(m.precision)}, {"recall", Finite(m.recall)}, {"f1", Finite(m.f1)},
            {"confusion", {{"tp", m.tp}, {"fp", m.fp}, {"tn", m.tn}, {"fn", m.fn}}}};
  }
  ml::RegressionMetrics m = ml::EvaluateRegressor(y, p, n);
  return {{"rmse", Finite(m.rmse)}, {"mae", Finite(m.mae)}, {"r2", Finite(m.r2)}};
}

std::optional<std::string> ModelKind(std::string_view model, std::string_view objective) {
  if (model == "linear_regression") return "regression";
  if (model == "logistic_regression") return "classification";
  if (objective == "binary:logistic") return "classification";
  if (objective.starts_with("reg:") || objective.starts_with("count:")) return "regression";
  return std::nullopt;
}

std::optional<std::string> TrainTaskKind(const TaskSpec& train) {
  const DocNode* model = train.with ? train.with->Find("model") : nullptr;
  if (!model || !model->is_scalar() || HasPlaceholder(*model)) return std::nullopt;
  std::string objective;
  if (const DocNode* params = train.with->Find("params"); params && params->is_map()) {
    if (const DocNode* o = params->Find("objective"); o && o->is_scalar() && !HasPlaceholder(*o)) objective = o->text();
  }
  return ModelKind(model->text(), objective);
}

std::string_view MetricKind(std::string_view metric) {
  return metric == "rmse" || metric == "mae" || metric == "r2" ? "regression" : "classification";
}

std::string_view KindNoun(std::string_view kind) { return kind == "classification" ? "classifier" : "regressor"; }

std::vector<double> ColumnAsDoubles(const columnar::Table& table, int idx, bool nulls_as_nan, bool finite,
                                    const std::string& op, const std::string& what) {
  const columnar::Field& field = table.schema().field(idx);
  std::vector<double> out(size_t(table.num_rows()));
  int64_t offset = 0;
  for (const columnar::Batch& b : table.batches()) {
    const columnar::Column& c = *b.columns[size_t(idx)];
    double* dst = out.data() + offset;
    switch (field.type) {
      case columnar::DataType::kFloat64: std::copy(c.doubles(), c.doubles() + b.num_rows, dst); break;
      case columnar::DataType::kTimestamp:
        if (what != "split.by_time column") {
          throw OpError(op + ": " + what + " '" + field.name + "' is timestamp, not a number or bool");
        }
        [[fallthrough]];
      case columnar::DataType::kInt64:
        for (int64_t i = 0; i < b.num_rows; ++i) dst[i] = double(c.ints()[i]);
        break;
      case columnar::DataType::kBool:
        for (int64_t i = 0; i < b.num_rows; ++i) dst[i] = c.bools()[i] ? 1.0 : 0.0;
        break;
      default: {
        int64_t nulls = 0;
        for (const columnar::Batch& all : table.batches()) nulls += all.columns[size_t(idx)]->null_count();
        if (nulls == table.num_rows()) {  // a CSV column of empty fields infers as string
          throw OpError(op + ": " + what + " '" + field.name + "' holds no value (every row is null, so its type " +
                        std::string(columnar::TypeName(field.type)) +
                        " was only guessed): declare it in ingest's schema, or leave it out");
        }
        throw OpError(op + ": " + what + " '" + field.name + "' is " + std::string(columnar::TypeName(field.type)) +
                      ", not a number or bool");
      }
    }
    if (c.has_nulls()) {
      for (int64_t i = 0; i < b.num_rows; ++i) {
        if (c.IsValid(i)) continue;
        if (!nulls_as_nan) {
          throw OpError(op + ": " + what + " '" + field.name + "' is null in " + std::to_string(c.null_count()) +
                        (c.null_count() == 1 ? " row" : " rows") + " (first: row " + std::to_string(offset + i) +
                        "); fill them with clean's fill_nulls" +
                        (what == "feature" ? ", or use model xgboost, which handles missing values" : ""));
        }
        dst[i] = std::nan("");
      }
    }
    if (finite) {
      for (int64_t i = 0; i < b.num_rows; ++i) {
        if (!std::isfinite(dst[i]) && c.IsValid(i)) {
          throw OpError(op + ": " + what + " '" + field.name + "' holds " + (std::isnan(dst[i]) ? "NaN" : "an infinity") +
                        " in row " + std::to_string(offset + i) + "; " +
                        (what == "feature" ? "logistic and linear regression need finite values" : "a target must be finite"));
        }
      }
    }
    offset += b.num_rows;
  }
  return out;
}

}  // namespace pipeline::ops
