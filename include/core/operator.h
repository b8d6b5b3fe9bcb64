// The operator seam. The loader asks an operator to check a task's arguments;
// the executor asks it to run a try. Operators never see the executor, the
// store or the thread pool: everything a try needs comes through TaskContext.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dag_spec.h"
#include "core/diagnostic.h"
#include "core/time.h"

namespace pipeline {

// A table or other value one task hands to another in the same run. The data
// operators define concrete types; the executor only moves pointers around.
class Dataset {
 public:
  virtual ~Dataset() = default;
};

// Figures a try reports, shown by `pipectl runs show` and the API.
struct TaskMetrics {
  std::optional<int64_t> rows_in;
  std::optional<int64_t> rows_out;
  std::optional<int64_t> rows_quarantined;
  std::optional<int64_t> bytes_out;  // in-memory size of the output table
  std::string summary;  // one line, e.g. a validation report's gist
  // Figures exported on /metrics as gauges labelled by DAG, task and
  // column (monitor's pipe_drift_psi, pipe_drift_ks, pipe_drift_js).
  struct Gauge {
    std::string name;
    std::string column;
    double value = 0;
  };
  std::vector<Gauge> gauges;
  // A data-quality finding people should hear of though the task succeeded
  // (validate above its alert_rate, monitor drift with on_drift: warn): the
  // `quality` notification.
  std::string alert = {};
};

struct TaskResult {
  bool ok = false;
  std::string error;                 // why it failed ("exit status 3", "timeout after 30s")
  std::optional<int> exit_code;      // shell
  TaskMetrics metrics;
  // An incremental task's new high-water mark (what it read up to), stored
  // for its DAG and task with the try's success (TaskContext::Watermark
  // gives it to the next run's try); ignored when the try fails.
  std::optional<std::string> watermark;
  // The try was lost with whatever ran it (a worker that stopped renewing
  // its lease): the task gets a new try that uses up no retry.
  bool lost = false;
  // The `piped worker` that ran it, when not this process.
  std::string worker;
  // When a worker's try ended, as the worker recorded it: a result read
  // later (by a scheduler that took the run over) keeps its own end time.
  std::optional<TimePoint> ended_at;
  // What the try read (TaskContext::noted_inputs, as an artifact's
  // inputs_json), filled in by whoever ran it: a failed try has no artifact
  // to say so, and its OpenLineage FAIL event lists them from here.
  std::string inputs_json;
  // A sensor whose condition does not hold yet (with ok): the task waits,
  // holding no worker, and the same try checks again at this time.
  std::optional<TimePoint> check_again_at;
  // With ok: the task ends `skipped` (a sensor's on_timeout: skip).
  bool skipped = false;
  // Without ok: a failure another try cannot mend (a sensor that timed
  // out, as Airflow's AirflowSensorTimeout): the task fails, retries left
  // or not.
  bool final = false;

  static TaskResult Success() {
    TaskResult r;
    r.ok = true;
    return r;
  }
  static TaskResult Failure(std::string why) {
    TaskResult r;
    r.error = std::move(why);
    return r;
  }
  static TaskResult CheckAgainAt(TimePoint at) {
    TaskResult r = Success();
    r.check_again_at = at;
    return r;
  }
  static TaskResult Skipped() {
    TaskResult r = Success();
    r.skipped = true;
    return r;
  }
};

// An output a try persisted (a Parquet table, a JSON report), as recorded
// in the state store.
struct ArtifactInfo {
  std::string name;          // "output", "quarantine", "report"
  std::string uri;           // absolute path of the file
  std::string schema_json;   // the table's columns and types; "{}" for reports
  int64_t row_count = 0;
  std::string content_hash;  // "xxh3:HEX" of the file's bytes
  // Lineage: what the try had read when it wrote this, a JSON array of
  // {"artifact": {"run", "task", "name", "hash"}} | {"file": {"path", "hash"}}
  // | {"query": {"source", "query", "watermark"}} | {"model": {"name",
  // "version", "hash"}} (TaskContext::NoteInput).
  std::string inputs_json = "[]";
  std::string cache_key = {};  // TaskContext::cache_key when it was written
};

// What an earlier try whose work had the same cache key left (`cache: true`).
struct CachedWork {
  std::string run_id;
  std::string task_id;
  std::vector<ArtifactInfo> artifacts;
};

// A model version a `train` try registers (docs/models.md); the registry
// adds the lineage it knows (DAG, version, run, task, try) and the time.
struct ModelRegistration {
  std::string name;
  std::string model_type;       // "logistic_regression", "linear_regression", "xgboost"
  std::string kind;             // "classification", "regression"
  std::string uri;              // the model file, written before registering
  std::string format;           // "pipe-linear-v1", "xgboost-json"
  std::string content_hash;     // "xxh3:HEX" of the file
  std::string target;
  std::string features_json;    // [{"name", "type"}]
  std::string transforms_json;  // the fitted steps of the training table's chain
  std::string params_json;
  std::string metrics_json;
  std::string importance_json;
  std::string inputs_json;      // [{"task", "uri", "content_hash"}]: the tables it was trained on
};

// A registered version as operators see it.
struct RegisteredModel {
  int version = 0;
  ModelRegistration model;
  std::string aliases;  // the aliases on it, comma-separated, for messages
};

// Cancellation as an operator sees it. Thread-safe.
class CancelToken {
 public:
  virtual ~CancelToken() = default;
  virtual bool cancelled() const = 0;
  // A file descriptor that becomes readable when cancelled (for poll()).
  virtual int fd() const = 0;
};

// What an operator did for a try before the try started (see
// Operator::Prepare). It has no effect a user can see; destroying it unused
// undoes it.
class PreparedTry {
 public:
  virtual ~PreparedTry() = default;
  // The process group it started (recorded with the try's start, as
  // TaskContext::ProcessStarted would record it), or 0.
  virtual int process_group() const { return 0; }
};

// What one try of a task gets to work with. Valid for the duration of Execute.
class TaskContext {
 public:
  virtual ~TaskContext() = default;
  virtual const TaskSpec& task() const = 0;
  // `with`, with templates rendered for this try.
  virtual const DocNode& args() const = 0;
  // `run` and `env` rendered (shell).
  virtual const std::string& command() const = 0;
  virtual const std::vector<std::pair<std::string, std::string>>& env() const = 0;
  virtual const std::string& dag_dir() const = 0;   // relative paths resolve here
  virtual const std::string& log_path() const = 0;  // this try's log file
  virtual int try_number() const = 0;
  // When this try's first check started (a sensor's try spans its checks).
  virtual TimePoint try_started_at() const { return Now(); }
  // The executor's clock (a test's may be fake).
  virtual TimePoint Now() const { return SystemClock::Default()->Now(); }
  virtual const CancelToken& cancel() const = 0;
  // Appends a line to the try's log.
  virtual void Log(std::string_view line) = 0;
  // The try started process group `pgid` (shell): recorded so that after a
  // crash the new process can make sure it is gone before retrying.
  virtual void ProcessStarted(int pgid) = 0;
  // Another task's output in this run, or nullptr.
  virtual std::shared_ptr<const Dataset> Input(std::string_view task_id) = 0;
  // How many instances task `task_id` of this run was mapped into
  // (map_over), whose outputs stand for its own in item order; 0 when it is
  // not mapped (or not known to this try: it reads no such task).
  virtual int MappedInstances(std::string_view /*task_id*/) const { return 0; }
  virtual void SetOutput(std::shared_ptr<const Dataset> output) = 0;
  virtual const std::string& run_id() const = 0;
  virtual const std::string& dag_id() const = 0;
  // The folder for this task's persisted outputs in this run
  // (ARTIFACT_ROOT/DAG/RUN/TASK); the operator creates it when it writes.
  virtual const std::string& artifact_dir() const = 0;
  // Records a persisted output in the store (replacing one of the same name).
  virtual void RecordArtifact(const ArtifactInfo& artifact) = 0;
  // A persisted output of a task of this run (for a try that runs after a
  // crash, when the in-memory output is gone), or nullopt.
  virtual std::optional<ArtifactInfo> FindArtifact(std::string_view task_id, std::string_view name) = 0;
  // What Prepare() made for this try, or nullptr. Owned by the context.
  virtual PreparedTry* prepared() { return nullptr; }
  // Registers a model version in one transaction; returns its number.
  virtual int RegisterModel(const ModelRegistration& model) = 0;
  // The model version `ref` names (docs/models.md): the id of a task of this
  // run that registered one, "NAME@ALIAS", "NAME:VERSION", or "NAME" (its
  // `production` alias, else its latest version). nullopt when there is none.
  virtual std::optional<RegisteredModel> FindModel(std::string_view ref);
  // Points alias `alias` of model `name` at `version`, recorded in the
  // alias history, if it still points at `from` (0: unset), the version the
  // caller decided on; throws Error(kConflict) when it moved meanwhile.
  virtual void SetModelAlias(const std::string& name, const std::string& alias, int version, int from);
  // Creates a queued run of DAG `dag_id` (the newest version the store
  // has) with `params_json` ({name: value}); returns its id, `run_id` when
  // given (one the caller can find again), else a fresh one.
  virtual std::string TriggerDag(const std::string& dag_id, const std::string& params_json, const std::string& run_id);
  // The state of run `run_id` ("queued", "running", "success", ...), "" if none.
  virtual std::string RunStateOf(const std::string& run_id);
  // When a scheduler (piped) last wrote its heartbeat to this store, if ever
  // ("scheduler_heartbeat"); std::nullopt as well when it cannot be known.
  virtual std::optional<TimePoint> LastSchedulerHeartbeat() { return std::nullopt; }
  // Whether LastSchedulerHeartbeat can answer (false: do not judge by it).
  virtual bool knows_schedulers() const { return false; }
  // Whether DAG `dag_id` is paused (its queued runs wait for an unpause);
  // nullopt when it cannot be known.
  virtual std::optional<bool> DagPaused(const std::string& /*dag_id*/) { return std::nullopt; }
  // The high-water mark that the last successful try of this DAG's task
  // stored (TaskResult::watermark), or nullopt before any.
  virtual std::optional<std::string> Watermark() { return std::nullopt; }
  // For an instance of a mapped task: the marks the task's other instances
  // stored, one each (an item that moved to this instance left its mark
  // with the instance that had it).
  virtual std::vector<std::string> SiblingWatermarks() { return {}; }

  // `cache: true`: whether this execution may reuse earlier results
  // (`pipectl run --no-cache` says no), and the newest successful try of any
  // run whose work had `key`, not older than `ttl` when given.
  virtual bool cache_enabled() const { return true; }
  // A rerun on the same data (`pipectl runs rerun --same-data`): for an
  // ingest, what to read instead of its sources, as JSON:
  // {"files": [{"path": ORIGINAL, "read": PATH, "hash": H}, ...]} (exactly
  // these files, in this order) or {"table": PARQUET, "query": {...}}.
  virtual std::optional<std::string> ReplayInputs() const { return std::nullopt; }
  virtual std::optional<CachedWork> FindCached(const std::string& /*key*/, std::optional<Duration> /*ttl*/) {
    return std::nullopt;
  }

  // Lineage: what this try read, one JSON object each (ArtifactInfo::
  // inputs_json), noted by the operators as they read (ops/table_io.h) and
  // recorded with every artifact the try writes after. Once each.
  void NoteInput(const std::string& json) {
    if (std::find(noted_inputs_.begin(), noted_inputs_.end(), json) == noted_inputs_.end()) noted_inputs_.push_back(json);
  }
  const std::vector<std::string>& noted_inputs() const { return noted_inputs_; }
  // They as one JSON array (an artifact's inputs_json).
  std::string noted_inputs_json() const {
    std::string out = "[";
    for (const std::string& input : noted_inputs_) out += (out.size() > 1 ? "," : "") + input;
    return out + "]";
  }
  // `cache: true`: the key of this try's work (set before it runs), recorded
  // with its artifacts so that a later try with the same key can reuse them.
  std::string cache_key;

 private:
  std::vector<std::string> noted_inputs_;
};

// What validation knows of a table's columns before anything runs: names
// and types ("int64", "float64", "bool", "string", "timestamp", or "" when
// only the name is known). `exact`: the table has these columns and no
// others (after a `select`, say); otherwise it has at least these (an
// ingest's declared schema: the file may hold more).
struct KnownColumns {
  bool exact = false;
  std::vector<std::pair<std::string, std::string>> columns;
  // Columns that hold personal data (an ingest schema's `pii: true`, and the
  // columns computed from them), each with the task that marked its source.
  // A `mask` step clears a mark; export, train and online features refuse
  // a marked column unless the task sets allow_pii.
  std::map<std::string, std::string> pii;
  // Set when columns whose names are not known carry personal data (a
  // one_hot of a marked column): says what made them.
  std::string pii_unnamed;

  // The known type of `name` ("" if unknown), or nullptr when it is not known.
  const std::string* TypeOf(std::string_view name) const {
    for (const auto& [n, t] : columns) {
      if (n == name) return &t;
    }
    return nullptr;
  }
};

class Operator {
 public:
  virtual ~Operator() = default;
  virtual std::string_view name() const = 0;
  // Whether the task's output is a table other tasks can use as `input`.
  virtual bool produces_table() const { return false; }
  // A sensor: each try is a quick check that may end in CheckAgainAt. Its
  // checks run in the process that coordinates the run, never on workers.
  virtual bool is_sensor() const { return false; }
  // Whether the task reads a table (`with.input`, or its single upstream producer).
  virtual bool consumes_table() const { return false; }
  // Checks the task's operator-specific keys at load time; reports into `diags`.
  virtual void CheckArgs(const TaskSpec& task, Diagnostics& diags) const = 0;
  // A task of the same DAG that this one reads by id in an argument, besides
  // `input` (a monitor's reference, the train task a predict names). The
  // loader checks that it is upstream of this task and of the right kind.
  struct TaskReference {
    std::string key;   // the argument, for messages
    std::string task;  // the id as written
    Mark mark;
    // What else the text may name when no task has that id (a registered
    // model); empty: it must be a task.
    std::string_view otherwise;
    // The operator the task must run; empty: any whose output is a table.
    std::string_view op;
    // Once the task is found upstream and of that operator: what else this
    // task asks of it (serve: a gate's metric of the kind the train task's
    // model predicts), reported into the diagnostics.
    std::function<void(const TaskSpec& referenced, Diagnostics& diags)> check;
  };
  virtual std::vector<TaskReference> TaskReferences(const TaskSpec& /*task*/) const { return {}; }
  // At load time, once per operator with every task of the DAG that runs it
  // (`tasks`, in the file's order; CheckArgs passed for each): what no task
  // can check alone (train: two tasks registering one model name with
  // models of different kinds).
  virtual void CheckTasks(const DagSpec& /*dag*/, const std::vector<const TaskSpec*>& /*tasks*/,
                          Diagnostics& /*diags*/) const {}
  // At load time, after CheckArgs passed: checks the columns the task names
  // against what is known of its input table (`input`, nullptr when nothing
  // is) and returns what is known of its output table.
  virtual std::optional<KnownColumns> CheckColumns(const TaskSpec& /*task*/, const KnownColumns* /*input*/,
                                                   Diagnostics& /*diags*/) const {
    return std::nullopt;
  }
  // May be called for a try before it starts (while its last upstream task
  // runs), so that Execute() can start it sooner: whatever it returns must
  // have no effect a user can see until Execute() acts on it, and is
  // destroyed unused when the try never starts. nullptr: nothing to prepare.
  virtual std::unique_ptr<PreparedTry> Prepare(TaskContext& /*ctx*/) const { return nullptr; }
  // `cache: true`: what the output depends on besides the operator, its
  // rendered arguments and its input tables (the content of the files it
  // reads, a model version), as text for the cache key; nullopt when the
  // output cannot be reused this time, with the reason in `why`.
  virtual std::optional<std::string> CacheInputs(TaskContext& /*ctx*/, std::string* /*why*/) const { return ""; }
  // Runs one try. Must return promptly once ctx.cancel() fires. May throw
  // pipeline::Error for unexpected failures; the executor fails the try.
  virtual TaskResult Execute(TaskContext& ctx) const = 0;
};

// The operators a build knows, by name. Not thread-safe for registration;
// lookups are safe once set up.
class OperatorRegistry {
 public:
  void Register(std::unique_ptr<Operator> op);
  const Operator* Find(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, std::unique_ptr<Operator>, std::less<>> ops_;
};

}  // namespace pipeline
