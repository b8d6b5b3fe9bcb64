// The `trigger_dag` operator: creates a run of another DAG through the state
// store (a running piped on the store starts it), e.g. retraining behind a
// monitor that found drift. `wait: true` follows that run to its end, as a
// sensor: checks a second apart, holding no worker in between.
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/names.h"
#include "core/operator.h"
#include "dag/params.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"

namespace pipeline {

namespace {

// A scheduler writes its heartbeat every 5 s (SchedulerOptions::heartbeat_every):
// none for this long means none runs on the store.
constexpr Duration kSchedulerSilence = std::chrono::seconds(60);
// How often a waiting try looks at the run it made: from every second to
// every 30 s as the wait grows.
constexpr Duration kFirstCheckAfter = std::chrono::seconds(1);
constexpr Duration kLastCheckAfter = std::chrono::seconds(30);

class TriggerDagOperator final : public Operator {
 public:
  std::string_view name() const override { return "trigger_dag"; }
  // Its checks stay with the coordinator, and one cut off by a shutdown or
  // a crash is done again within its try (finding the run it made).
  bool is_sensor() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': trigger_dag: ";
    const DocNode& with = *task.with;
    const DocNode* dag = with.Find("dag");
    if (!dag) {
      diags.Add(task.mark, context + "missing required argument 'dag'");
    } else if (!dag->is_scalar() || (dag->text().find("{{") == std::string::npos && !IsName(dag->text()))) {
      diags.Add(dag->mark(), context + "'dag' must be a DAG id");
    }
    if (const DocNode* params = with.Find("params"); params && !params->is_map()) {
      diags.Add(params->mark(), context + "'params' must be a map {name: value}");
    }
    if (const DocNode* wait = with.Find("wait"); wait && !wait->AsBool()) {
      diags.Add(wait->mark(), context + "'wait' must be true or false");
    }
    for (const auto& [key, value] : with.entries()) {
      const std::string k = key->is_scalar() ? key->text() : "";
      if (k != "dag" && k != "params" && k != "wait") diags.Add(key->mark(), context + "unknown argument '" + k + "' (dag, params, wait)");
    }
  }

  TaskResult Execute(TaskContext& ctx) const override {
    const DocNode& with = ctx.args();
    const std::string dag = with.Find("dag")->text();
    nlohmann::json params = nlohmann::json::object();
    if (const DocNode* p = with.Find("params")) {
      for (const auto& [key, value] : p->entries()) params[key->text()] = nlohmann::json::parse(ParamValueJson(*value));
    }
    const bool wait = with.Find("wait") && with.Find("wait")->AsBool().value_or(false);
    // Waiting is a sensor's: each check is quick and the try waits between
    // checks holding no worker (a task that held one while the run it made
    // needed one could wait forever). Every check of the try names the same
    // run, so a check again after a restart or a shutdown finds the run the
    // first one made instead of making another.
    const std::string run_id = ChildRunId(ctx);
    std::string state = ctx.RunStateOf(run_id);
    TaskResult result = TaskResult::Success();
    result.metrics.summary = "run " + run_id + " of " + dag;
    // A waiting try on a paused DAG: its run would wait for an unpause, which
    // may never come; none is made (a retry would make another).
    if (state.empty() && wait && ctx.DagPaused(dag).value_or(false)) {
      return TaskResult::Failure("dag '" + dag + "' is paused: a run of it would wait for an unpause (pipectl dags unpause " +
                                 dag + "), or set wait: false (the run then stays queued until the unpause)");
    }
    if (state.empty()) {
      try {
        ctx.TriggerDag(dag, params.dump(), run_id);
      } catch (const Error& e) {
        return TaskResult::Failure("trigger_dag: " + std::string(e.what()));
      }
      ctx.Log("created run " + run_id + " of dag '" + dag + "'");
      state = ctx.RunStateOf(run_id);
    }
    if (!wait) return result;
    // A queued run that no scheduler will start (`pipectl run` on a store
    // no piped schedules): said, rather than waited for until cancelled.
    if (state == "queued" && ctx.knows_schedulers()) {
      const std::optional<TimePoint> beat = ctx.LastSchedulerHeartbeat();
      if (!beat || ctx.Now() - *beat > kSchedulerSilence) {
        return TaskResult::Failure("run " + run_id + " of dag '" + dag + "' is queued, and no piped schedules this store " +
                                   (beat ? "(its last scheduler heartbeat was at " + FormatIso8601(*beat) + ")"
                                         : "(no scheduler heartbeat, ever)") +
                                   ": start piped on it, or set wait: false (the run stays queued for a piped)");
      }
    }
    // Paused since the run was made: said, rather than waited for.
    if (state == "queued" && ctx.DagPaused(dag).value_or(false)) {
      return TaskResult::Failure("run " + run_id + " of dag '" + dag + "' is queued and dag '" + dag +
                                 "' is paused: unpause it (pipectl dags unpause " + dag + ")");
    }
    if (state == "success") {
      result.metrics.summary += " succeeded";
      return result;
    }
    if (state == "failed" || state == "cancelled" || state.empty()) {
      return TaskResult::Failure("run " + run_id + " of dag '" + dag + "' " + (state.empty() ? "vanished" : "ended " + state));
    }
    // Checked once a second at first, then less often: a tenth of the wait
    // so far, at most every 30 s (a day-long run costs some 3,000 checks).
    const TimePoint now = ctx.Now();
    const Duration waited = std::chrono::duration_cast<Duration>(now - ctx.try_started_at());
    if (ctx.task().timeout && waited >= *ctx.task().timeout) {  // the task's timeout spans the checks
      return TaskResult::Failure("timeout after " + FormatDuration(*ctx.task().timeout) + " waiting for run " + run_id +
                                 " of dag '" + dag + "' (" + state + ")");
    }
    TimePoint next = now + std::clamp<Duration>(waited / 10, kFirstCheckAfter, kLastCheckAfter);
    if (ctx.task().timeout) next = std::min(next, ctx.try_started_at() + *ctx.task().timeout);  // noticed on time
    TaskResult again = TaskResult::CheckAgainAt(next);
    again.metrics.summary = "waiting for run " + run_id + " of " + dag + " (" + state + ")";
    return again;
  }

 private:
  // The run a waiting try makes: "YYYYMMDDTHHMMSS-HEX8" as NewRunId's, from
  // the try's start and a hash of the run, task and try, so every check of
  // the try (and a retry's own) computes it alike.
  static std::string ChildRunId(const TaskContext& ctx) {
    const std::string key = ctx.run_id() + "\n" + ctx.task().id + "\n" + std::to_string(ctx.try_number());
    return RunIdAt(ctx.try_started_at(), XXH32(key.data(), key.size(), 0));
  }
};

}  // namespace

std::unique_ptr<Operator> MakeTriggerDagOperator() { return std::make_unique<TriggerDagOperator>(); }

}  // namespace pipeline
