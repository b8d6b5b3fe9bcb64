// serve: deploys a registered model version by pointing an alias of its
// model (the endpoint, `production` by default) at it, behind an optional
// promotion gate. A running piped serves the alias's version at
// POST /api/v1/models/NAME/predict and swaps it in when the alias moves.
// A gate that does not hold is no failure: the task succeeds, records "not
// promoted" and why, and the alias stays where it was.
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "columnar/parquet.h"
#include "core/error.h"
#include "core/names.h"
#include "ml/predictor.h"
#include "ops/args.h"
#include "ops/model_data.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using nlohmann::json;

const std::vector<std::string> kHigherIsBetter = {"auc", "accuracy", "f1", "precision", "recall", "r2"};
const std::vector<std::string> kLowerIsBetter = {"rmse", "mae", "logloss"};

struct ServeArgs {
  std::string model;
  std::string endpoint = "production";
  std::string metric;  // "" : the kind's default (auc, rmse)
  std::optional<double> min, max;
  bool better_than_current = false;
};

bool Known(const std::string& metric) {
  return std::find(kHigherIsBetter.begin(), kHigherIsBetter.end(), metric) != kHigherIsBetter.end() ||
         std::find(kLowerIsBetter.begin(), kLowerIsBetter.end(), metric) != kLowerIsBetter.end();
}

std::string Figure(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::optional<ServeArgs> ParseServeArgs(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark) {
  ArgReader r(with, context, diags, mark);
  ServeArgs a;
  if (auto m = r.String("model", true)) {
    a.model = *m;
    CheckModelRefSyntax(r, "model");
  }
  if (auto e = r.String("endpoint")) {
    if (!HasPlaceholder(*r.Get("endpoint")) && !IsName(*e)) {
      r.Error(r.Get("endpoint"), "'endpoint' must be an alias name: a lower-case letter, then lower-case letters, digits and '_'");
    }
    a.endpoint = *e;
  }
  if (const DocNode* gate = r.Get("promote_if")) {
    ArgReader g(*gate, context + ": promote_if", diags, Within(*gate, mark));
    if (!gate->is_map()) {
      g.Error(gate, "'promote_if' must be a map {metric, min, max, better_than_current}");
    } else {
      if (auto m = g.String("metric")) {
        if (!Known(*m)) {
          g.Error(g.Get("metric"), "unknown metric '" + *m + "' (auc, accuracy, f1, precision, recall, logloss, rmse, mae, r2)");
        }
        a.metric = *m;
      }
      a.min = g.Number("min");
      a.max = g.Number("max");
      a.better_than_current = g.Bool("better_than_current").value_or(false);
      // A bound given as a placeholder ("{{ params.min_auc }}") is a number once rendered.
      const bool bound = a.min || a.max || g.Get("min") || g.Get("max");
      if (bound && a.metric.empty()) g.Error(gate, "'min' and 'max' need a 'metric'");
      if (a.min && a.max && *a.min > *a.max) {
        g.Error(g.Get("min"), "'min' " + Figure(*a.min) + " is above 'max' " + Figure(*a.max) + ": no version could pass");
      }
      if (!bound && !a.better_than_current) {
        g.Error(gate, "'promote_if' needs 'min', 'max' or 'better_than_current: true'");
      }
      g.RejectUnknown({"metric", "min", "max", "better_than_current"});
    }
  }
  r.RejectUnknown({"model", "endpoint", "promote_if"});
  if (!r.ok()) return std::nullopt;
  return a;
}

class ServeOperator final : public Operator {
 public:
  std::string_view name() const override { return "serve"; }

  std::vector<TaskReference> TaskReferences(const TaskSpec& task) const override {
    auto refs = TaskReferenceIn(task, "model", "a registered model (NAME, NAME@ALIAS, NAME:VERSION)", "train");
    const DocNode* gate = task.with ? task.with->Find("promote_if") : nullptr;
    const DocNode* metric = gate && gate->is_map() ? gate->Find("metric") : nullptr;
    if (refs.empty() || !metric || !metric->is_scalar() || HasPlaceholder(*metric) || !Known(metric->text())) {
      return refs;
    }
    // A gate on a metric the model will not have fails every run: say so now
    // when the train task's arguments fix its kind.
    refs[0].check = [id = task.id, metric = metric->text(), mark = metric->mark()](const TaskSpec& train,
                                                                                  Diagnostics& diags) {
      std::optional<std::string> kind = TrainTaskKind(train);
      if (!kind || MetricKind(metric) == *kind) return;
      diags.Add(mark, "task '" + id + "': promote_if metric '" + metric + "' is a " + std::string(MetricKind(metric)) +
                          " metric, and '" + train.id + "' trains a " + std::string(KindNoun(*kind)) +
                          (*kind == "classification" ? " (auc, accuracy, f1, precision, recall, logloss)"
                                                     : " (rmse, mae, r2)"));
    };
    return refs;
  }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseServeArgs(*task.with, "task '" + task.id + "': serve", diags, task.mark);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseServeArgs(ctx.args(), "serve", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    try {
      return Serve(ctx, *args);
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
  }

 private:
  static int64_t TestRows(const json& metrics) {
    return metrics.contains("test_rows") && metrics["test_rows"].is_number_integer() ? metrics["test_rows"].get<int64_t>()
                                                                                     : 0;
  }

  // The test metrics of `current` on the test rows `train_task` recorded
  // for `candidate` (its `test_split` artifact); null and `why` when they
  // cannot be had (no such artifact, another target, a feature missing).
  static json ScoreOnTestSplit(TaskContext& ctx, const std::string& train_task, const ModelRegistration& candidate,
                               const RegisteredModel& current, std::string* why) {
    std::optional<ArtifactInfo> split = ctx.FindArtifact(train_task, "test_split");
    if (!split) {
      *why = "'" + train_task + "' is not a train task of this run with a test split";
      return nullptr;
    }
    const ModelRegistration& c = current.model;
    if (c.target != candidate.target || c.kind != candidate.kind) {
      *why = "version " + std::to_string(current.version) + " predicts " + c.kind + " of '" + c.target + "'";
      return nullptr;
    }
    try {
      columnar::TablePtr rows = columnar::ReadParquetFile(split->uri);
      auto target = rows->schema().IndexOf(candidate.target);
      if (!target) throw OpError("serve: the test split has no target column '" + candidate.target + "'");
      std::vector<double> y = ColumnAsDoubles(*rows, *target, false, true, "serve", "target");
      auto predictor = ml::Predictor::Load({c.format, c.uri, c.kind, c.features_json, c.transforms_json, c.content_hash}, 0);
      std::vector<double> p = predictor->PredictFeatures(*rows);
      return TestMetrics(c.kind, y.data(), p.data(), int64_t(y.size()));
    } catch (const std::exception& e) {
      *why = e.what();
      return nullptr;
    }
  }

  static TaskResult Serve(TaskContext& ctx, const ServeArgs& a) {
    std::optional<RegisteredModel> candidate = ctx.FindModel(a.model);
    if (!candidate) throw OpError("serve: no model version '" + a.model + "' (a train task of this run, or NAME, NAME@ALIAS, NAME:VERSION)");
    const ModelRegistration& m = candidate->model;
    const int version = candidate->version;
    if (!a.metric.empty() && MetricKind(a.metric) != m.kind) {  // what validation says when it knows the kind
      throw OpError("serve: promote_if metric '" + a.metric + "' is a " + std::string(MetricKind(a.metric)) +
                    " metric, and model '" + m.name + "' version " + std::to_string(version) + " is a " +
                    std::string(KindNoun(m.kind)) +
                    (m.kind == "classification" ? " (auc, accuracy, f1, precision, recall, logloss)" : " (rmse, mae, r2)"));
    }
    const std::string metric = !a.metric.empty() ? a.metric : m.kind == "classification" ? "auc" : "rmse";
    const bool higher = std::find(kHigherIsBetter.begin(), kHigherIsBetter.end(), metric) != kHigherIsBetter.end();
    json metrics = json::parse(m.metrics_json, nullptr, false);
    auto value_of = [&](const json& ms) -> std::optional<double> {
      if (!ms.is_object() || !ms.contains(metric) || !ms[metric].is_number()) return std::nullopt;
      return ms[metric].get<double>();
    };
    std::optional<RegisteredModel> current = ctx.FindModel(m.name + "@" + a.endpoint);

    // The gate: every condition given must hold.
    std::vector<std::string> held, failed;
    const bool gated = a.min || a.max || a.better_than_current;
    std::optional<double> value = value_of(metrics);
    if (gated && !value) {
      failed.push_back("version " + std::to_string(version) + " has no metric '" + metric + "'");
    } else {
      if (a.min) {
        (*value >= *a.min ? held : failed)
            .push_back(metric + " " + Figure(*value) + (*value >= *a.min ? " >= " : " is below the minimum ") + Figure(*a.min));
      }
      if (a.max) {
        (*value <= *a.max ? held : failed)
            .push_back(metric + " " + Figure(*value) + (*value <= *a.max ? " <= " : " is above the maximum ") + Figure(*a.max));
      }
      if (a.better_than_current && current && current->version != version) {
        // Champion against challenger on the same rows: the serving version
        // scored on the candidate's test split; its recorded figure (from its
        // own test split) only when that cannot be done, and then said so.
        std::string not_scored;
        std::optional<double> theirs = value_of(ScoreOnTestSplit(ctx, a.model, m, *current, &not_scored));
        std::string on = theirs ? " on the same " + std::to_string(TestRows(metrics)) + " test rows" : "";
        if (!theirs) {
          theirs = value_of(json::parse(current->model.metrics_json, nullptr, false));
          on = " as recorded (not scored on these test rows: " + not_scored + ")";
        }
        if (!theirs) {
          held.push_back("the serving version " + std::to_string(current->version) + " has no " + metric);
        } else {
          const bool better = higher ? *value > *theirs : *value < *theirs;
          (better ? held : failed)
              .push_back(metric + " " + Figure(*value) + (better ? " beats " : " does not beat ") + "version " +
                         std::to_string(current->version) + "'s " + Figure(*theirs) + on);
        }
      }
    }
    const bool promote = failed.empty();
    std::string why;
    for (const auto& s : promote ? held : failed) why += (why.empty() ? "" : "; ") + s;
    const std::string where = m.name + "@" + a.endpoint;
    std::string summary;
    if (promote) {
      if (current && current->version == version) {
        summary = where + " already serves version " + std::to_string(version);
      } else {
        ctx.SetModelAlias(m.name, a.endpoint, version, current ? current->version : 0);
        summary = "promoted " + m.name + " v" + std::to_string(version) + " to " + a.endpoint;
        if (current) summary += " (was v" + std::to_string(current->version) + ")";
      }
    } else {
      summary = "not promoted: " + m.name + " v" + std::to_string(version) + ": " + why + "; " + a.endpoint +
                (current ? " stays v" + std::to_string(current->version) : " stays unset");
    }
    if (promote && !why.empty()) summary += " (" + why + ")";
    ctx.Log(summary);
    json record = {{"model", m.name},
                   {"version", version},
                   {"endpoint", a.endpoint},
                   {"promoted", promote},
                   {"reason", why},
                   {"previous_version", current ? json(current->version) : json(nullptr)},
                   // null when the gate held nothing back and nothing serves (the alias stays unset)
                   {"serving_version", promote ? json(version) : current ? json(current->version) : json(nullptr)}};
    // Lineage: the deployment is of this version (drawn as its own tree, as a predict's).
    ctx.NoteInput(json{{"model", {{"name", m.name}, {"version", version}, {"hash", m.content_hash}}}}.dump());
    PersistJson(ctx, record.dump(2), "deployment");
    TaskResult result = TaskResult::Success();
    result.metrics.summary = summary;
    return result;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeServeOperator() { return std::make_unique<ServeOperator>(); }

}  // namespace pipeline::ops
