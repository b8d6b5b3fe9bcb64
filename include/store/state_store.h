// StateStore: where every DAG version, run, task instance, try, state
// transition and artifact is recorded. One interface, several backends
// (SQLite now, PostgreSQL next); all pass tests/store/state_store_test.cc.
//
// Thread safety: every method may be called from any thread. Errors: a
// database that cannot be reached or used throws Error(kUnavailable); stored
// data that cannot be read back throws Error(kCorruption). A lookup of a
// missing row returns std::nullopt / false, never throws.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/states.h"
#include "core/time.h"

namespace pipeline {

struct DagSpec;

// The schema version this build writes. Opening a database with a newer one
// fails with kInvalidArgument: an engine never runs against a schema it does not know.
inline constexpr int kSchemaVersion = 17;

struct DagRecord {
  std::string dag_id;
  int latest_version = 0;
  bool paused = false;
  std::string file;
  std::optional<std::string> schedule;
  TimePoint updated_at;
};

struct DagVersionRecord {
  std::string dag_id;
  int version = 0;
  std::string content_hash;
  std::string file;
  std::string source;
  TimePoint created_at;
};

struct RunRecord {
  std::string run_id;
  std::string dag_id;
  int dag_version = 0;
  RunState state = RunState::kQueued;
  std::string trigger;            // "manual", "scheduled", "backfill", "upstream", "dag"
  TimePoint logical_date;
  TimePoint data_interval_start;
  TimePoint data_interval_end;
  std::string params_json;        // the run's resolved parameters, a JSON object
  TimePoint created_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  // The scheduler coordinating the run (active-active `piped`), and until
  // when its lease holds; empty: none (it may be taken over).
  std::string coordinator;
  std::optional<TimePoint> coordinator_until;
  bool cancel_requested = false;  // by a scheduler that does not coordinate it
  // A run started by schedule.after (trigger "upstream"): the upstream
  // successes it consumed, {"DAG.TASK": {"run_id": R, "at": MICROS}}.
  std::string upstream_json = "{}";
  // The run `pipectl runs rerun` repeated (its DAG version and params); empty: none.
  std::string rerun_of;
  // "RUN_ID/TASK_ID": the trigger_dag try that made this run ("" for others).
  std::string triggered_by;
};

// The newest success of a task of some DAG (schedule.after's events).
struct TaskSuccess {
  std::string run_id;
  TimePoint at;  // when the task instance ended
};

// A run lease as renewed (StateStore::RenewRuns).
struct RunLease {
  std::string run_id;
  bool cancel_requested = false;
};

struct TaskInstanceRecord {
  std::string run_id;
  std::string task_id;
  TaskState state = TaskState::kPending;
  int try_number = 0;             // the latest try started, 0 before the first
  int max_tries = 1;              // 1 + retries
  std::optional<TimePoint> started_at;   // first try's start
  std::optional<TimePoint> ended_at;
  std::optional<TimePoint> next_try_at;  // while up_for_retry
  std::string error;              // last failure reason
  std::string metrics_json;       // rows in/out, report summary: a JSON object, "{}" when none
  // An instance of a mapped task ("TASK[INDEX]"): its index and item.
  std::optional<int> map_index;
  std::string map_item;
};

struct TaskTryRecord {
  std::string run_id;
  std::string task_id;
  int try_number = 0;
  TaskState state = TaskState::kRunning;
  TimePoint started_at;
  std::optional<TimePoint> ended_at;
  std::optional<int> exit_code;
  std::string error;
  std::string log_path;
  std::string worker;             // host:pid that ran it
  std::string process;            // "PID@START" of the task's process group, on the worker's host
  // What the try read (TaskResult::inputs_json, an artifact's inputs_json),
  // once it ended: lineage goes on through a task whose output was not
  // persisted. "[]" while running, and for tries ended before version 17.
  std::string inputs_json = "[]";
};

struct TransitionRecord {
  int64_t id = 0;
  std::string run_id;
  std::string task_id;            // "" for run transitions
  int try_number = 0;
  std::string from_state;
  std::string to_state;
  TimePoint at;
  std::string reason;
  std::string dag_id = {};  // ListTransitionsAfter only
};

struct ArtifactRecord {
  std::string run_id;
  std::string task_id;
  std::string name;
  std::string uri;
  std::string schema_json;
  int64_t row_count = 0;
  std::string content_hash;
  TimePoint created_at;
  // Lineage: what the try that wrote it had read (ArtifactInfo::inputs_json).
  std::string inputs_json = "[]";
  // `cache: true`: the key of what made it ("" when not cached).
  std::string cache_key = {};
};

// One notification (a DAG's `notify:`) as it was delivered or given up on.
struct NotificationRecord {
  int64_t id = 0;          // assigned by AddNotification
  std::string dag_id;
  std::string run_id;
  std::string task_id;     // "" for a run's event
  std::string event;       // failure, success, retry, sla_miss, quality
  std::string target;      // the webhook (secrets hidden) or "command: ..."
  bool delivered = false;
  int attempts = 0;
  std::string error;       // why the last attempt failed ("" when delivered)
  TimePoint at;            // when the last attempt ended
};

// A missed SLA: a task (`sla`) or a whole run (the DAG's `deadline`) that
// had not ended when logical date + the duration passed. One per run and task.
struct SlaMissRecord {
  std::string dag_id;
  std::string run_id;
  std::string task_id;     // "" for the DAG's deadline
  TimePoint due;           // the run's logical date + sla (deadline)
  TimePoint detected_at;
  std::string state;       // the task's (run's) state when the miss was seen
};

// One version of a registered model (the model registry; docs/models.md).
// The JSON fields are documents the registry stores and returns as they are.
struct ModelVersionRecord {
  std::string name;
  int version = 0;             // 1, 2, ... per name; assigned by CreateModelVersion
  std::string model_type;      // "logistic_regression", "linear_regression", "xgboost"
  std::string kind;            // "classification" or "regression"
  std::string uri;             // the model file
  std::string format;          // "pipe-linear-v1" or "xgboost-json"
  std::string content_hash;    // "xxh3:HEX" of the model file
  std::string target;
  std::string features_json;   // [{"name", "type"}...]: the input signature, in order
  std::string transforms_json; // the fitted steps the training table went through, in order
  std::string params_json;
  std::string metrics_json;
  std::string importance_json; // {feature: importance}
  std::string lineage_json;    // {"dag_id", "dag_version", "run_id", "task_id", "inputs": [...]}
  TimePoint created_at;
};

// An alias (`production`, any name) and the version it points at. In the
// history, version 0 means the alias was removed.
struct ModelAliasRecord {
  std::string name;
  std::string alias;
  int version = 0;
  TimePoint set_at;
};

struct ModelSummary {
  std::string name;
  int latest_version = 0;
  int version_count = 0;
  TimePoint created_at;  // of version 1
  TimePoint updated_at;  // of the latest version
  std::vector<ModelAliasRecord> aliases;  // current, by alias
};

struct NewTaskInstance {
  NewTaskInstance(std::string id, int tries, std::optional<int> index = std::nullopt, std::string item = {})
      : task_id(std::move(id)), max_tries(tries), map_index(index), map_item(std::move(item)) {}
  std::string task_id;
  int max_tries = 1;
  std::optional<int> map_index;  // an instance of a mapped task (AddTaskInstances)
  std::string map_item;
};

struct RunFilter {
  std::optional<std::string> dag_id;
  std::vector<RunState> states;        // any of these; empty: any state
  std::optional<std::string> trigger;  // "manual", "scheduled", "backfill"
  int limit = 50;
  int offset = 0;
};

// A task state change to make only if the task is still in one of `from`
// (compare-and-set, so two processes can never both start the same try).
struct TaskTransition {
  std::string run_id;
  std::string task_id;
  std::vector<TaskState> from;
  TaskState to = TaskState::kQueued;
  TimePoint at;
  std::string reason;             // failure reason, "timeout after 30s", ...
  // to == kRunning: the try to open (try_number + 1 of the instance).
  std::string log_path;
  std::string worker;
  // The try's process (ProcessToken), when it exists before the try starts
  // (a shell prepared by Operator::Prepare); otherwise SetTryProcess records
  // it once started.
  std::string process;
  // Terminal or up_for_retry: how the try ended.
  std::optional<int> exit_code;
  std::optional<TimePoint> next_try_at;
  std::optional<std::string> metrics_json;
  // Ending a try: what it read (TaskResult::inputs_json), kept with the try.
  std::optional<std::string> inputs_json;
  // to == kSuccess: the task's new high-water mark (an incremental ingest's),
  // stored for its DAG and task in the same transaction as the success, so
  // a failed or lost try never advances it.
  std::optional<std::string> watermark;
  // A clear: the instance's new max_tries, so that it gets its retries again
  // (as Airflow's clear sets max_tries = try_number + retries).
  std::optional<int> max_tries;
  // When set: applied only while the run's coordinator is this scheduler
  // (fencing: a scheduler whose run was taken over cannot write to it).
  std::string fence;
};

// Work for `piped worker` processes: a try its coordinating scheduler hands
// to whichever worker serving the try's queue claims it first. A claim is a
// lease the worker renews (heartbeats); every write it makes about the try
// is a compare-and-set on (worker, try, lease_until), so a worker whose
// lease ran out, and whose try was reaped and run again elsewhere, cannot
// change anything any more (fencing).
struct WorkItem {
  std::string run_id;
  std::string task_id;
  int try_number = 0;
  std::string queue = "default";
  std::string payload;  // what a worker needs to run the try (the coordinator's JSON)
  TimePoint enqueued_at;
  // Locality: the worker that holds the try's input in memory. Until
  // `prefer_until` no other worker claims the item while that one is live
  // with a free slot (as its last heartbeat said). Empty: any worker.
  std::string prefer = {};
  std::optional<TimePoint> prefer_until = std::nullopt;
};

struct WorkClaim {
  WorkItem item;
  std::string worker;
  TimePoint lease_until;  // as last granted: part of every fenced write
  bool cancel_requested = false;  // as seen by the last renewal: stop the try
};

// One try in the work queue.
struct WorkKey {
  std::string run_id;
  std::string task_id;
  int try_number = 0;
};

// A `piped worker` as its heartbeats last described it.
struct WorkerRecord {
  std::string name;
  std::vector<std::string> queues;
  int slots = 0;
  int running = 0;          // tries it held at that heartbeat
  TimePoint started_at;
  TimePoint last_seen;
  TimePoint live_until;     // last_seen + its lease; a stopped worker sets it to when it stopped
};

// What StateStore::WaitForNotice waits for (a bit set).
enum StoreNotice : unsigned {
  kNoticeWork = 1,    // an item became ready (EnqueueWork, ReleaseWork)
  kNoticeCancel = 2,  // a claimed item is to be stopped (CancelWork)
  kNoticeDone = 4,    // an item ended (FinishWork, CancelWork, ReapExpiredWork)
};

struct WorkRecord {
  WorkItem item;
  std::string state;  // "ready", "claimed", "done" or "lost"
  std::string worker;
  std::optional<TimePoint> claimed_at;  // by `worker`, latest claim
  bool cancel_requested = false;
  std::optional<TimePoint> lease_until;
  std::string result;  // the finishing worker's JSON
  std::optional<TimePoint> ended_at;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual int schema_version() = 0;
  // Whether the database answers now: one quick attempt, no retries, never
  // throws (for health checks).
  virtual bool Ping() = 0;
  // Takes the database's scheduler lock: one daemon schedules a database.
  // Held until this store object is destroyed or the process ends (also by
  // kill -9: SQLite uses flock on STATE.db.lock, PostgreSQL a session
  // advisory lock on a connection of its own). False when another process
  // holds it. Throws Error(kUnavailable) when the database cannot be reached.
  virtual bool TryLockScheduler() = 0;

  // Records `dag` as the DAG's newest version unless its content hash equals
  // the newest one's. Returns the version number in force.
  virtual int PutDagVersion(const DagSpec& dag, TimePoint now) = 0;
  virtual std::optional<DagRecord> GetDag(const std::string& dag_id) = 0;
  virtual std::vector<DagRecord> ListDags() = 0;
  virtual std::optional<DagVersionRecord> GetDagVersion(const std::string& dag_id, int version) = 0;
  // Every stored version of the DAG, newest first, without their sources.
  virtual std::vector<DagVersionRecord> ListDagVersions(const std::string& dag_id) = 0;
  // The high-water mark the last successful try of DAG `dag_id`'s task
  // `task_id` stored (TaskTransition::watermark), or nullopt before any.
  virtual std::optional<std::string> GetWatermark(const std::string& dag_id, const std::string& task_id) = 0;
  // Every watermark stored for DAG `dag_id`'s tasks, by task id (each
  // instance of a mapped task has its own: "load[0]", "load[1]", ...).
  virtual std::map<std::string, std::string> ListWatermarks(const std::string& dag_id) = 0;
  virtual bool SetPaused(const std::string& dag_id, bool paused) = 0;

  // Creates the run in `queued` (or in `running` when run.state says so: a
  // run its creator starts at once, started at run.started_at, else
  // created_at) and one task instance per task id in `pending`, atomically. Throws kConflict if the run id exists, or if it is a
  // scheduled run for a tick (dag_id, logical_date) that already has one,
  // or, with `max_active` > 0, if the DAG already has that many runs queued
  // or running (counted under the lock StartQueuedRun takes: two schedulers
  // never create past a DAG's max_active_runs between them).
  virtual void CreateRun(const RunRecord& run, const std::vector<NewTaskInstance>& tasks, int max_active = 0) = 0;
  // Adds the instances of mapped task `task_id` to its run (pending, listed
  // right after it by map_index); those that exist already are kept as they
  // are. False, with nothing added, when the run has no task `task_id` or,
  // with a `fence`, when the run's coordinator is not `fence`.
  virtual bool AddTaskInstances(const std::string& run_id, const std::string& task_id, const std::string& fence,
                                const std::vector<NewTaskInstance>& instances) = 0;
  virtual std::optional<RunRecord> GetRun(const std::string& run_id) = 0;
  // Newest first (created_at, then logical_date, then run_id, descending).
  virtual std::vector<RunRecord> ListRuns(const RunFilter& filter) = 0;
  // How many runs match, ignoring limit and offset.
  virtual int64_t CountRuns(const RunFilter& filter) = 0;
  // Runs, or task instances of all runs, by (DAG id, state name): the
  // per-DAG gauges of GET /metrics.
  using CountsByDagAndState = std::map<std::pair<std::string, std::string>, int64_t>;
  virtual CountsByDagAndState CountRunsByDagAndState() = 0;
  virtual CountsByDagAndState CountTasksByDagAndState() = 0;
  // The newest logical date of the DAG's scheduled runs.
  virtual std::optional<TimePoint> LastScheduledTick(const std::string& dag_id) = 0;
  // Whether the DAG has a run for the tick `logical_date` already, scheduled
  // or backfilled (one run per tick, as Airflow keeps one per logical date).
  virtual bool HasTickRun(const std::string& dag_id, TimePoint logical_date) = 0;
  // Active-active schedulers: a running run is coordinated by one scheduler
  // at a time, under a lease (RunRecord::coordinator). ClaimRun takes a
  // running run for `scheduler` until now + lease when it has no
  // coordinator, its lease ran out, or it is `scheduler`'s already; false
  // otherwise (or when the run is not running).
  virtual bool ClaimRun(const std::string& run_id, const std::string& scheduler, TimePoint now, Duration lease) = 0;
  // Moves a queued run to running, coordinated by `scheduler`, when fewer
  // than `max_active` runs of its DAG are running (checked one scheduler at
  // a time per DAG). Returns the run as it is now, or nothing.
  virtual std::optional<RunRecord> StartQueuedRun(const std::string& run_id, const std::string& scheduler,
                                                  TimePoint now, Duration lease, int max_active) = 0;
  // Running runs with no coordinator or whose lease ran out by `now`, oldest first.
  virtual std::vector<RunRecord> ListOrphanedRuns(TimePoint now, int limit) = 0;
  // Extends the leases `scheduler` holds on `run_ids` (those still running
  // or queued) to now + lease; returns the ones it still holds, with any
  // cancel another scheduler asked for. A run missing from the answer was
  // taken over or ended: its coordinator must stop at once.
  virtual std::vector<RunLease> RenewRuns(const std::string& scheduler, const std::vector<std::string>& run_ids,
                                          TimePoint now, Duration lease) = 0;
  // Gives a run up (a scheduler stopping): another may take it at once.
  virtual bool ReleaseRun(const std::string& run_id, const std::string& scheduler) = 0;
  // Asks the run's coordinator, wherever it is, to cancel it; false when
  // the run is not queued or running.
  virtual bool RequestRunCancel(const std::string& run_id) = 0;
  // Moves the run to `to` if it is in one of `from`; records the transition.
  virtual bool TransitionRun(const std::string& run_id, const std::vector<RunState>& from,
                             RunState to, TimePoint at, const std::string& reason) = 0;

  virtual std::vector<TaskInstanceRecord> GetTaskInstances(const std::string& run_id) = 0;
  virtual std::optional<TaskInstanceRecord> GetTaskInstance(const std::string& run_id,
                                                            const std::string& task_id) = 0;
  // Applies `t` atomically with its try row and transition record; false if
  // the task was not in one of t.from (nothing changed).
  virtual bool TransitionTask(const TaskTransition& t) = 0;
  // Applies `batch` in order in one transaction: all of it, or nothing and
  // false when some task is not in its t.from when its turn comes.
  virtual bool TransitionTasks(const std::vector<TaskTransition>& batch) = 0;
  // The same, and in the same transaction, EnqueueWork of each of `work`
  // (the tries the batch starts on workers: stored `running` and put in the
  // work queue at once, or neither).
  virtual bool TransitionTasksAndEnqueue(const std::vector<TaskTransition>& batch,
                                         const std::vector<WorkItem>& work) = 0;
  // Records the process group a running try started (for crash recovery).
  virtual void SetTryProcess(const std::string& run_id, const std::string& task_id, int try_number,
                             const std::string& process) = 0;
  // Every try of every task of the run, by task then try number.
  virtual std::vector<TaskTryRecord> GetRunTries(const std::string& run_id) = 0;
  virtual std::vector<TaskTryRecord> GetTries(const std::string& run_id,
                                              const std::string& task_id) = 0;
  virtual std::vector<TransitionRecord> GetTransitions(const std::string& run_id) = 0;
  // Transitions of every run with an id above `after_id`, oldest first, at
  // most `limit`, each with its run's DAG (the event stream). On PostgreSQL
  // ids are taken before commit, so a lower id may still appear later.
  virtual std::vector<TransitionRecord> ListTransitionsAfter(int64_t after_id, int limit) = 0;
  // The highest transition id so far (0 when there is none).
  virtual int64_t LatestTransitionId() = 0;

  // Small named values (scheduler heartbeat and such).
  virtual void PutMeta(const std::string& key, const std::string& value) = 0;
  virtual std::optional<std::string> GetMeta(const std::string& key) = 0;

  virtual void PutArtifact(const ArtifactRecord& artifact) = 0;
  virtual std::vector<ArtifactRecord> ListArtifacts(const std::string& run_id) = 0;
  // Per task of DAG `dag_id`, its artifact `name` most recently written
  // (created_at) by a run that ended in success; by task id.
  virtual std::vector<ArtifactRecord> LatestSuccessArtifacts(const std::string& dag_id, const std::string& name) = 0;
  // The artifacts of the newest task try whose artifacts carry `cache_key`,
  // created at or after `not_before` (a cache_ttl), of a task that ended in
  // success; empty when there is none.
  virtual std::vector<ArtifactRecord> FindCachedArtifacts(const std::string& cache_key, TimePoint not_before) = 0;

  // Notifications: each delivery's outcome, newest first (`dag_id`,
  // `run_id`: "" for any), at most `limit`.
  virtual void AddNotification(const NotificationRecord& n) = 0;
  virtual std::vector<NotificationRecord> ListNotifications(const std::string& dag_id, const std::string& run_id,
                                                            int limit) = 0;

  // The newest successful instance of `task_id` in runs of `dag_id`, by end time.
  virtual std::optional<TaskSuccess> LatestSuccess(const std::string& dag_id, const std::string& task_id) = 0;

  // SLA misses. AddSlaMiss records one unless its run and task have one
  // already; true when it did (so that one miss is notified once, whichever
  // scheduler saw it first). ListSlaMisses: newest first, filters as above.
  virtual bool AddSlaMiss(const SlaMissRecord& miss) = 0;
  virtual std::vector<SlaMissRecord> ListSlaMisses(const std::string& dag_id, const std::string& run_id,
                                                   int limit) = 0;
  // How many misses each (DAG, task) has had (task "" for the deadline).
  virtual CountsByDagAndState CountSlaMisses() = 0;

  // The model registry. CreateModelVersion stores `v` as the next version of
  // v.name (1 for a new name) in one transaction and returns that number.
  virtual int CreateModelVersion(const ModelVersionRecord& v) = 0;
  // Every model, by name.
  virtual std::vector<ModelSummary> ListModels() = 0;
  // The model's versions, newest first; empty for an unknown name.
  virtual std::vector<ModelVersionRecord> ListModelVersions(const std::string& name) = 0;
  virtual std::optional<ModelVersionRecord> GetModelVersion(const std::string& name, int version) = 0;
  // Points `alias` at `version` (recorded in the history) while it points
  // at `expected` (0: unset; nullopt: wherever), in one transaction: a move
  // decided on what the alias was (a rollback) does not overwrite another
  // made meanwhile.
  enum class AliasSet { kSet, kNoSuchVersion, kMovedMeanwhile };
  virtual AliasSet SetModelAliasIf(const std::string& name, const std::string& alias, std::optional<int> expected,
                                   int version, TimePoint at) = 0;
  // Wherever it pointed; false when that version does not exist.
  bool SetModelAlias(const std::string& name, const std::string& alias, int version, TimePoint at) {
    return SetModelAliasIf(name, alias, std::nullopt, version, at) == AliasSet::kSet;
  }
  // The model's aliases now, by alias.
  virtual std::vector<ModelAliasRecord> GetModelAliases(const std::string& name) = 0;
  // Every change of the model's aliases, oldest first.
  virtual std::vector<ModelAliasRecord> GetModelAliasHistory(const std::string& name) = 0;

  // Work for workers (see WorkItem). EnqueueWork adds a ready item (nothing
  // when that try is there already) and sends kNoticeWork.
  virtual void EnqueueWork(const WorkItem& item) = 0;
  // Claims up to `max` ready items of `queues`, oldest first, for `worker`
  // until now + lease. Two callers, in any processes, never claim the same item.
  virtual std::vector<WorkClaim> ClaimWork(const std::string& worker, const std::vector<std::string>& queues,
                                           int max, TimePoint now, Duration lease) = 0;
  // Extends a claim whose lease has not run out to now + lease (updating
  // claim.lease_until, and claim.cancel_requested from the row). False when
  // the claim is not held any more (it ran out, was reaped or released): the
  // worker must stop the try.
  virtual bool RenewWork(WorkClaim& claim, TimePoint now, Duration lease) = 0;
  // Ends a held claim with the try's result (JSON); false, and nothing
  // written, when it is not held any more (a late write).
  virtual bool FinishWork(const WorkClaim& claim, const std::string& result_json, TimePoint at) = 0;
  // Hands a held claim back (a worker stopping): ready again for any worker.
  virtual bool ReleaseWork(const WorkClaim& claim) = 0;
  // Asks for a try to stop (a cancel or a timeout of its coordinator). A
  // ready item ends at once, "done" with `result_json`; a claimed one is
  // marked, and its worker stops it when it sees the mark (a renewal,
  // woken by kNoticeCancel). False when the item had ended or is unknown.
  virtual bool CancelWork(const WorkKey& key, const std::string& result_json, TimePoint at) = 0;
  // Claimed items whose lease ran out at or before `now` become "lost";
  // returns them (the coordinator starts a new try of each). One caller at
  // a time reaps (PostgreSQL: a transaction-scoped advisory lock; another
  // caller meanwhile gets nothing).
  virtual std::vector<WorkItem> ReapExpiredWork(TimePoint now) = 0;
  virtual std::optional<WorkRecord> GetWork(const std::string& run_id, const std::string& task_id,
                                            int try_number) = 0;
  // The run's items, by task and try.
  virtual std::vector<WorkRecord> ListWork(const std::string& run_id) = 0;
  // Records a worker's heartbeat (inserted or replaced by name).
  virtual void PutWorker(const WorkerRecord& worker) = 0;
  // Every worker that ever beat, by name.
  virtual std::vector<WorkerRecord> ListWorkers() = 0;
  // Ready items (claimed by no worker yet) by queue.
  virtual std::map<std::string, int64_t> CountReadyWork() = 0;
  // Those of `keys` that ended ("done" or "lost"), in one query.
  virtual std::vector<WorkRecord> ListEndedWork(const std::vector<WorkKey>& keys) = 0;
  // The work items whose end this process has heard of (kNoticeDone) since
  // the last call, oldest first, so that a coordinator reads just those. Sets
  // *complete to false when some may have been missed (a notice channel
  // that was down, more than it keeps, a backend without payloads): then
  // look at every item still awaited. One caller per store object.
  virtual std::vector<WorkKey> TakeEndedNotices(bool* complete) = 0;
  // Waits at most `timeout` for a notice of one of `channels` (StoreNotice
  // bits) and returns those of them that came since the last wait for each
  // (0 on timeout). PostgreSQL: LISTEN/NOTIFY, from any process; SQLite:
  // notices of this object's own calls only, so its callers poll. A notice
  // can be lost (a reconnection): callers look at the store after every
  // wake-up and every timeout. Each channel is meant for one waiting thread
  // of a process (a worker's claimer, a scheduler's runner).
  virtual unsigned WaitForNotice(unsigned channels, Duration timeout) = 0;
};

// Opens a store from a URL: "sqlite:PATH" or "postgresql://...". Throws
// kInvalidArgument for an unknown scheme, kUnavailable when the database
// cannot be reached.
std::unique_ptr<StateStore> OpenStateStore(const std::string& url);

// How opening a PostgreSQL store waits for a server it cannot reach yet (a
// daemon started before its database, as containers are).
struct StoreOpenOptions {
  Duration connect_wait = std::chrono::seconds(2);  // then kUnavailable
  // Called after each failed attempt with its error; false gives up at once
  // (kUnavailable), e.g. when a stop signal came.
  std::function<bool(const std::string& error)> on_unreachable;
};
std::unique_ptr<StateStore> OpenStateStore(const std::string& url, const StoreOpenOptions& options);

}  // namespace pipeline
