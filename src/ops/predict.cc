// predict: scores a table with a registered model version (batch scoring,
// e.g. every user nightly). The version's transform chain is replayed on
// the input first, through the same ml::Predictor the daemon's predict
// endpoints use, so batch and real-time scores are the same numbers.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/names.h"
#include "ml/predictor.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using columnar::DataType;

struct PredictArgs {
  std::string model;
  std::string as = "prediction";
};

std::optional<PredictArgs> ParsePredictArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                            Mark mark) {
  ArgReader r(with, context, diags, mark);
  PredictArgs a;
  if (auto m = r.String("model", true)) {
    a.model = *m;
    CheckModelRefSyntax(r, "model");
  }
  if (auto as = r.String("as")) {
    if (!HasPlaceholder(*r.Get("as")) && !IsName(*as)) {
      r.Error(r.Get("as"), "'as' must be a column name of letters, digits, '_' and '-'");
    }
    a.as = *as;
  }
  r.Get("input");
  r.RejectUnknown({"input", "model", "as"});
  if (!r.ok()) return std::nullopt;
  return a;
}

class PredictOperator final : public Operator {
 public:
  std::string_view name() const override { return "predict"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  std::vector<TaskReference> TaskReferences(const TaskSpec& task) const override {
    return TaskReferenceIn(task, "model", "a registered model (NAME, NAME@ALIAS, NAME:VERSION)", "train");
  }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParsePredictArgs(*task.with, "task '" + task.id + "': predict", diags, task.mark);
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': predict";
    auto args = ParsePredictArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark);
    if (!args) return std::nullopt;
    // Which classes the model has is known when it runs: the label column
    // may be added too, so the set is no longer exact.
    c.Set(args->as, "float64");
    c.AddUnknown();
    return c.Result();
  }

  // The model version the reference names now (an alias may have moved).
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* why) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParsePredictArgs(ctx.args(), "predict", diags, ctx.task().mark);
    if (!args) return "";
    std::optional<RegisteredModel> found = ctx.FindModel(args->model);
    if (!found) {
      *why = "no model version '" + args->model + "' yet";
      return std::nullopt;
    }
    return found->model.name + ":" + std::to_string(found->version) + "=" + found->model.content_hash;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParsePredictArgs(ctx.args(), "predict", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    try {
      return Predict(ctx, *args);
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    } catch (const ml::ModelError& e) {
      return TaskResult::Failure("predict: " + std::string(e.what()));
    }
  }

 private:
  static TaskResult Predict(TaskContext& ctx, const PredictArgs& a) {
    std::optional<RegisteredModel> found = ctx.FindModel(a.model);
    if (!found) throw OpError("predict: no model version '" + a.model + "' (a model NAME, NAME@ALIAS, NAME:VERSION or a train task of this run)");
    const ModelRegistration& m = found->model;
    auto predictor = ml::Predictor::Load({m.format, m.uri, m.kind, m.features_json, m.transforms_json, m.content_hash}, 0);
    columnar::TablePtr input = MainInput(ctx);
    // Lineage: the predictions come from this model version too.
    ctx.NoteInput(nlohmann::json{{"model", {{"name", m.name}, {"version", found->version}, {"hash", m.content_hash}}}}.dump());
    const std::string label = a.as + "_label";
    for (const std::string& name : {a.as, label}) {
      if (name == label && !predictor->classifier()) continue;
      if (input->schema().IndexOf(name)) {
        throw OpError("predict: the input already has a column '" + name + "' (choose another name with 'as')");
      }
    }
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    const std::vector<double> scores = predictor->Predict(*input);

    // The input's columns, then the prediction (and the label at 0.5), cut
    // at the input's batch boundaries.
    columnar::Schema schema = input->schema();
    schema.Add({a.as, DataType::kFloat64});
    if (predictor->classifier()) schema.Add({label, DataType::kInt64});
    auto out = std::make_shared<columnar::Table>(schema);
    int64_t offset = 0;
    int64_t positives = 0;
    for (const columnar::Batch& b : input->batches()) {
      columnar::Batch nb = b;
      columnar::Buffer p = columnar::Buffer::Uninitialized(static_cast<size_t>(b.num_rows) * 8);
      std::copy(scores.begin() + offset, scores.begin() + offset + b.num_rows, p.as<double>());
      nb.columns.push_back(std::make_shared<columnar::Column>(DataType::kFloat64, b.num_rows, std::move(p), columnar::Buffer()));
      if (predictor->classifier()) {
        columnar::Buffer l = columnar::Buffer::Uninitialized(static_cast<size_t>(b.num_rows) * 8);
        for (int64_t i = 0; i < b.num_rows; ++i) {
          l.as<int64_t>()[i] = scores[size_t(offset + i)] >= 0.5 ? 1 : 0;
          positives += l.as<int64_t>()[i];
        }
        nb.columns.push_back(std::make_shared<columnar::Column>(DataType::kInt64, b.num_rows, std::move(l), columnar::Buffer()));
      }
      out->AddBatch(std::move(nb));
      offset += b.num_rows;
    }
    for (const auto& [k, v] : input->metadata()) out->SetMetadata(k, v);
    out->SetMetadata("pipe.model", m.name + ":" + std::to_string(found->version));

    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = input->num_rows();
    result.metrics.rows_out = input->num_rows();
    result.metrics.summary = m.name + " v" + std::to_string(found->version) + " scored " +
                             std::to_string(input->num_rows()) + " rows";
    if (predictor->classifier()) result.metrics.summary += ", " + std::to_string(positives) + " labelled 1";
    PublishOutput(ctx, out, result.metrics);
    return result;
  }
};

}  // namespace

std::unique_ptr<Operator> MakePredictOperator() { return std::make_unique<PredictOperator>(); }

}  // namespace pipeline::ops
