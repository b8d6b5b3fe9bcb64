// Scheduler: the daemon's brain. Knows the loaded DAGs and their versions,
// creates scheduled runs at their ticks (exactly once per tick, across
// restarts: the store refuses a second run for a tick), takes triggers and
// backfills, and starts queued runs on the executor as max_active_runs allows.
//
// Event-driven: a trigger or a run's end starts the next run at once; the
// loop thread sleeps until the next cron tick or until poked. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/dag_spec.h"
#include "core/diagnostic.h"
#include "core/time.h"
#include "scheduler/sla.h"
#include "store/state_store.h"

namespace pipeline {

class DagLoader;
class Executor;
class RunObserver;
struct FolderLoadResult;

struct DagStatus {
  std::shared_ptr<const DagSpec> spec;  // the newest loaded version
  int version = 0;
  bool paused = false;
  std::optional<TimePoint> next_tick;
  std::optional<RunRecord> last_run;
};

// What Scheduler::Dag says of a loaded DAG, for a reader without a
// scheduler (pipectl dags on the store): the newest stored version, read
// again by `loader`. nullopt when the store has no such DAG, or when its
// stored text no longer loads (*error says why then).
std::optional<DagStatus> StoredDagStatus(StateStore& store, const DagLoader& loader, const std::string& dag_id,
                                         TimePoint now, std::string* error);

struct SchedulerStats {
  int64_t runs_started = 0;
  int64_t queued_runs = 0;          // created, waiting for a slot
  std::chrono::microseconds loop_lag{0};  // how long the last turn of the loop took
  std::optional<TimePoint> last_heartbeat;
};

struct SchedulerOptions {
  // How often the loop records its heartbeat (GET /api/v1/health shows it).
  Duration heartbeat_every = std::chrono::seconds(5);
  // How often the loop looks for runs other processes queued.
  Duration queued_poll = std::chrono::seconds(1);
  RunObserver* observer = nullptr;  // sees every run's progress; may be null
  // Active-active: this scheduler's name in run leases (unique among the
  // schedulers of a database, the same across its restarts), and how long a
  // lease holds without renewal (renewed every queued_poll). A run whose
  // scheduler stopped renewing is taken over by another once it ran out.
  std::string name = "scheduler";
  Duration run_lease = std::chrono::seconds(30);
};

class Scheduler {
 public:
  // `store`, `executor`, `loader` and `clock` must outlive the scheduler.
  Scheduler(StateStore& store, Executor& executor, const DagLoader& loader, Clock& clock,
            SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the known DAGs with a folder's load result. A changed file
  // becomes a new version; runs already started keep theirs. A DAG whose file
  // turned invalid keeps its last good version; the errors are reported.
  void SetDags(const FolderLoadResult& loaded);

  // Resumes the runs a previous process of the same name left running, or
  // whose scheduler's lease ran out (their running tries here are lost and
  // retried; those on workers are waited for), then starts the loop thread.
  // Throws Error(kInvalidArgument) when another live process uses this
  // scheduler's name (CheckNameNotInUse).
  void Start();
  // Stops creating and starting runs, lets running tries finish for `grace`,
  // hands back the rest, and waits for every run thread. Idempotent.
  void Stop(Duration grace);

  // Creates a manual run with `overrides` (NAME -> value read as YAML) and
  // starts it if max_active_runs allows, else leaves it queued. Throws
  // Error: kNotFound (unknown DAG), kInvalidArgument (unknown parameter or
  // wrong type), kConflict (no room and `queue` is false).
  RunRecord Trigger(const std::string& dag_id,
                    const std::vector<std::pair<std::string, std::string>>& overrides, bool queue);
  // Creates a run for every tick in [from, to] (trigger "backfill"), skipping
  // ticks that have a scheduled or backfill run unless `rerun`. Throws
  // kNotFound, kInvalidArgument (no schedule, from > to, over 10,000 ticks).
  // `skipped` (optional): how many ticks of the range already had a run (and got none, without rerun).
  std::vector<RunRecord> Backfill(const std::string& dag_id, TimePoint from, TimePoint to, bool rerun,
                                  int* skipped = nullptr);
  // Cancels a queued or running run; false when it has already ended.
  // Throws kNotFound for an unknown run.
  bool Cancel(const std::string& run_id);
  // Runs a task of an ended run again (with `downstream`, every task after
  // it too): they go back to pending and the run to queued; returns the run
  // as cleared (queued), before it starts again. TASK[INDEX] clears one
  // instance of a mapped task. Throws kNotFound (run or task), kConflict
  // (the run has not ended).
  RunRecord Clear(const std::string& run_id, const std::string& task_id, bool downstream);
  // Throws kNotFound for an unknown DAG.
  void SetPaused(const std::string& dag_id, bool paused);

  std::vector<DagStatus> Dags();
  // The newest loaded version of every DAG, without reading the store.
  std::vector<std::shared_ptr<const DagSpec>> Specs();
  std::optional<DagStatus> Dag(const std::string& dag_id);
  // The DAG spec a run executes (its own version).
  std::shared_ptr<const DagSpec> SpecFor(const std::string& dag_id, int version);
  std::vector<Diagnostic> LoadErrors();
  // Reads the store (queue depth).
  SchedulerStats Stats();
  // Lock-free and in memory: safe while the store does not answer.
  std::optional<TimePoint> LastHeartbeat();

  // Wakes the loop now (tests and the folder watcher use it).
  void Poke();

 private:
  struct Loaded {
    std::shared_ptr<const DagSpec> spec;
    int version = 0;
  };

  void Loop();
  void CreateDueRuns(TimePoint now);
  // schedule.after: a run of `dag_id` when each upstream task has succeeded
  // since the last such run (trigger "upstream").
  void CreateUpstreamRun(const std::string& dag_id, const Loaded& entry, TimePoint now);
  // Renews the leases of the runs executing here, abandoning those taken
  // over and cancelling those another scheduler was asked to cancel (also
  // while stopping, during the grace).
  void RenewLeases(TimePoint now);
  // RenewLeases, then takes over runs whose scheduler's lease ran out.
  void KeepRuns(TimePoint now);
  // Looks at the active scheduled runs of DAGs with SLAs (SlaWatch).
  void CheckSlas(TimePoint now);
  // A run that ended here: its SLA points that passed before its end.
  void CheckEndedRunSlas(const std::string& run_id, const DagSpec& spec);
  // Starts queued runs of `dag_id` while it has room. Requires mu_.
  void StartQueued(const std::string& dag_id);
  // `fresh`: created just now by this process, every task pending.
  void Launch(const RunRecord& run, std::shared_ptr<const DagSpec> spec, bool fresh = false);  // requires mu_
  // Throws Error(kInvalidArgument) when a live process coordinates runs
  // under this scheduler's name (it would take them over from it).
  void CheckNameNotInUse();
  // Launches a run claimed from another coordinator (or a previous process
  // of this name); a cancel asked of that one is honoured before anything
  // starts again. Requires mu_.
  void LaunchTakenOver(const RunRecord& run);
  std::shared_ptr<const DagSpec> SpecForLocked(const std::string& dag_id, int version);  // requires mu_
  int RunningHere(const std::string& dag_id) const;  // requires mu_
  // After a run lost its database: waits until the store answers again and
  // refreshes `run`; false when stopping or the run has ended meanwhile.
  bool WaitToRetry(RunRecord& run);
  std::optional<TimePoint> NextWake(TimePoint now);  // requires mu_

  StateStore& store_;
  Executor& executor_;
  const DagLoader& loader_;
  Clock& clock_;
  SchedulerOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Loaded> dags_;                                        // guarded by mu_
  std::map<std::pair<std::string, int>, std::shared_ptr<const DagSpec>> versions_;  // guarded by mu_
  std::vector<Diagnostic> load_errors_;                                       // guarded by mu_
  std::map<std::string, std::string> launched_;  // run id -> dag id, executing here; guarded by mu_
  SchedulerStats stats_;                          // guarded by mu_
  bool poked_ = false;                            // guarded by mu_
  bool has_after_ = false;                        // a loaded DAG has schedule.after; guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  int run_threads_ = 0;                           // guarded by mu_
  std::atomic<int64_t> last_heartbeat_us_{0};     // readable without mu_ (health checks)
  SlaWatch sla_;                                  // thread-safe
  std::thread loop_;
};

}  // namespace pipeline
