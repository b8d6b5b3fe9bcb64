// The executor: runs the tasks of a DAG run on a thread pool.
//
// Tasks become ready by dependency counting: when a task ends, each
// downstream task's trigger rule is evaluated against its upstream outcomes
// (no polling). Every state change is written to the StateStore before it is
// acted on. Retries wait on the injected Clock, so tests with a fake clock
// check backoff delays without sleeping.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <mutex>
#include <memory>
#include <string>
#include <thread>

#include "core/dag_spec.h"
#include "core/states.h"
#include "core/time.h"
#include "dag/params.h"
#include "store/state_store.h"

namespace pipeline {

class DagSlots;
class OperatorRegistry;
class TryRunner;

struct ExecutorOptions {
  // Tasks running at once (the thread pool's size); 0 means the core count.
  int workers = 0;
  // Task logs go to LOG_ROOT/DAG/RUN/TASK.TRY.log (created on first output).
  std::string log_root = ".pipe/logs";
  // Persisted task outputs go to ARTIFACT_ROOT/DAG/RUN/TASK/.
  std::string artifact_root = ".pipe/artifacts";
  // Recorded with each try ("host:pid" when empty).
  std::string worker_name;
  // Store each try's process group as it starts, so that a later process
  // taking over after a crash can stop it (the daemon); costs a write per try.
  bool record_processes = false;
  // When set, a task whose `queue` is not one of these is handed to
  // `piped worker` processes through the store's work queue (its try's
  // result comes back through the store; a cancel or timeout reaches the
  // worker through the store too). Unset: every task runs here.
  std::optional<std::vector<std::string>> local_queues;
  // false: tasks with `cache: true` run anyway (`pipectl run --no-cache`).
  bool use_cache = true;
  // Task id -> TaskContext::ReplayInputs() of its tries (a rerun on the same data).
  std::map<std::string, std::string> replay_inputs;
};

// One task state change, as observers see it.
struct TaskEvent {
  const std::string& run_id;
  const std::string& task_id;
  TaskState state;
  int try_number;
  TimePoint at;
  const std::string& reason;
  const std::string& dag_id;
  // When the try this event is about began, for `running` and for the end
  // of a try in progress (its start as stored, a takeover's included); a
  // start before `at` is a waiting sensor's next check, not a new try.
  // Empty for a state no try reached (queued, then cancelled).
  std::optional<TimePoint> try_started = std::nullopt;
  // For the end of a try: what it read (TaskResult::inputs_json; "" when
  // unknown, e.g. a try lost with its worker).
  std::string inputs_json = {};
};

// Progress of a run as it happens, for live views and metrics. Called in
// order, on the executor's threads, while the run's state is locked:
// implementations must be quick and must not call back into the executor.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnRunState(const RunRecord& run, RunState state) = 0;
  virtual void OnTaskState(const TaskEvent& event) = 0;
  // Figures a try reported (rows and such), before its final state.
  virtual void OnTaskMetrics(const std::string& /*run_id*/, const std::string& /*task_id*/,
                             const std::string& /*metrics_json*/) {}
  // A missed SLA, once per run and task (the scheduler's SlaWatch).
  virtual void OnSlaMiss(const SlaMissRecord& /*miss*/) {}
};

// Passes every call on to each of `observers` (nullptr entries are skipped), in order.
class FanoutObserver final : public RunObserver {
 public:
  explicit FanoutObserver(std::vector<RunObserver*> observers) : observers_(std::move(observers)) {}
  void OnRunState(const RunRecord& run, RunState state) override {
    for (RunObserver* o : observers_) {
      if (o) o->OnRunState(run, state);
    }
  }
  void OnTaskState(const TaskEvent& event) override {
    for (RunObserver* o : observers_) {
      if (o) o->OnTaskState(event);
    }
  }
  void OnTaskMetrics(const std::string& run_id, const std::string& task_id, const std::string& metrics_json) override {
    for (RunObserver* o : observers_) {
      if (o) o->OnTaskMetrics(run_id, task_id, metrics_json);
    }
  }
  void OnSlaMiss(const SlaMissRecord& miss) override {
    for (RunObserver* o : observers_) {
      if (o) o->OnSlaMiss(miss);
    }
  }

 private:
  std::vector<RunObserver*> observers_;
};

// What one run needs besides the DAG: its record and resolved parameters.
struct RunRequest {
  const DagSpec* dag = nullptr;  // the DAG version the run was created with
  RunRecord run;
  ParamValues params;
  // true: create the run in the store first. false: the run exists (queued,
  // or running when taken over after a crash) and resumes from its stored
  // task states.
  bool create = true;
  // With create false: the caller has just created the run, every task
  // pending, so there is nothing to read back from the store.
  bool fresh = false;
  // The scheduler holding the run's lease (active-active `piped`): every
  // task transition is fenced on it (TaskTransition::fence). Empty: none.
  std::string coordinator;
};

class Executor {
 public:
  // `store`, `ops` and `clock` must outlive the executor.
  Executor(StateStore& store, const OperatorRegistry& ops, Clock& clock, ExecutorOptions options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs the run to the end and returns its final state (kRunning when a
  // Drain stopped it first). Blocks the calling thread, which coordinates the
  // run; several runs may execute at once from different threads, sharing
  // the pool. Throws pipeline::Error when the store fails; tasks still
  // running are then cancelled before it returns.
  RunState Execute(const RunRequest& request, RunObserver* observer);

  // Asks every run in progress, and every later one, to stop: tasks not
  // started are cancelled, running ones get their cancel token fired (shell:
  // process group killed). Thread-safe; returns at once.
  void Cancel();
  // The same for one run; false when it is not executing here. With
  // `before_start`, a run about to be executed here (its Execute call not
  // made yet) is cancelled as it starts, and true is returned.
  bool CancelRun(const std::string& run_id, bool before_start = false);
  // The run is coordinated elsewhere now (its lease was taken over): its
  // Execute stops at once, as after a store failure (tries here stopped,
  // tries on workers left running), and throws Error(kConflict) with `why`.
  // False when it is not executing here. Thread-safe.
  bool AbandonRun(const std::string& run_id, const std::string& why);
  // Graceful stop: no new tries start; tries still running here at
  // `deadline` are stopped and queued again; tries on workers run on, for
  // the run's next coordinator. Execute then returns kRunning for runs left
  // unfinished. Thread-safe; returns at once.
  void Drain(TimePoint deadline);

  int workers() const { return workers_; }
  // Whether tries of `task` go to workers (see ExecutorOptions::local_queues).
  bool Remote(const TaskSpec& task) const;

 private:
  class RunExecution;

  StateStore& store_;
  const OperatorRegistry& ops_;
  Clock& clock_;
  ExecutorOptions options_;
  int workers_;
  std::unique_ptr<TryRunner> runner_;         // where started tries run (in this process)
  std::unique_ptr<TryRunner> remote_runner_;  // tries of queues not local (with local_queues)
  std::unique_ptr<DagSlots> dag_slots_;  // max_active_tasks over the runs of a DAG
  std::atomic<int> warm_total_{0};       // prepared tries over all runs: at most workers_
  std::mutex mu_;
  std::map<std::string, RunExecution*> active_;  // by run id; guarded by mu_
  std::set<std::string> cancel_on_start_;        // guarded by mu_
  bool cancel_requested_ = false;                // guarded by mu_
  std::optional<TimePoint> drain_deadline_;      // guarded by mu_
};

// A fresh run id: "YYYYMMDDTHHMMSS-" plus 8 random hex digits.
std::string NewRunId(TimePoint now);
// The same form with a chosen suffix (a run id one can compute again).
std::string RunIdAt(TimePoint at, uint32_t suffix);

// The max_tries of a task instance being cleared, whose tries so far are
// `tries`: one more try and the task's retries again (tries lost to a crash
// or a shutdown, which use up no retries, do not count).
int MaxTriesAfterClear(const TaskSpec& task, const std::vector<TaskTryRecord>& tries);

}  // namespace pipeline
