#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/live_view.h"
#include "views/run_view.h"
#include "core/error.h"
#include "exec/process_watchdog.h"
#include "dag/loader.h"
#include "dag/params.h"
#include "exec/executor.h"
#include "exec/run_lease.h"
#include "notify/notifier.h"
#include "openlineage/emitter.h"
#include "sources/database.h"
#include "ops/table_io.h"

namespace pipeline::cli {

namespace fs = std::filesystem;

namespace {

// Turns SIGINT/SIGTERM/SIGHUP into Executor::Cancel() on a thread of its own, so the
// handler is no async-signal context. Block the signals before any thread
// starts (the constructor does) so that only this thread receives them.
class SignalCanceller {
 public:
  SignalCanceller() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);   // the terminal closed: nobody is left to watch the run
    sigaddset(&set_, SIGUSR1);  // our own "stop listening"
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  ~SignalCanceller() {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
      thread_.join();
    }
  }

  void Start(Executor* executor, bool* interrupted) {
    thread_ = std::thread([this, executor, interrupted] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1) return;
        *interrupted = true;
        executor->Cancel();
      }
    });
  }

 private:
  sigset_t set_;
  std::thread thread_;
};

bool SplitParam(const std::string& text, std::pair<std::string, std::string>* out) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *out = {text.substr(0, eq), text.substr(eq + 1)};
  return true;
}

// How one execution goes: `pipectl run` and `runs rerun` options.
struct ExecuteSettings {
  int workers = 0;
  bool use_cache = true;
  std::map<std::string, std::string> replay_inputs;  // --same-data: ingest task -> what to read
  std::string rerun_of;                              // the run it repeats, if any
  std::string openlineage;                           // where OpenLineage events go ("": nowhere)
};

// --same-data: what each ingest task of `run` read (its output artifact's
// lineage), each file from where that content still is (the file itself,
// else the task's snapshot copy), as ExecutorOptions::replay_inputs.
// nullopt, with `error` naming the file or task, when some input is gone.
std::optional<std::map<std::string, std::string>> SameDataInputs(StateStore& store, const RunRecord& run,
                                                                 const DagSpec& dag, std::string* error) {
  std::map<std::string, std::string> replay;
  const std::vector<ArtifactRecord> artifacts = store.ListArtifacts(run.run_id);
  auto find = [&](const std::string& task, const std::string& name) -> const ArtifactRecord* {
    for (const ArtifactRecord& a : artifacts) {
      if (a.task_id == task && a.name == name) return &a;
    }
    return nullptr;
  };
  for (const TaskSpec& task : dag.tasks) {
    if (task.op != "ingest") continue;
    if (task.map_over) {
      *error = "task '" + task.id + "' is mapped (map_over), which --same-data does not read again";
      return std::nullopt;
    }
    const ArtifactRecord* output = find(task.id, "output");
    if (!output) {
      *error = "task '" + task.id + "' of run " + run.run_id + " recorded no output, so what it read is not known";
      return std::nullopt;
    }
    nlohmann::json snapshot = nlohmann::json::object();
    const ArtifactRecord* kept = find(task.id, "snapshot");
    if (kept) {
      std::error_code ec;
      if (!fs::is_regular_file(kept->uri, ec)) {
        *error = "the snapshot list of task '" + task.id + "' (" + kept->uri + ") is gone";
        return std::nullopt;
      }
      std::ifstream in(kept->uri);
      snapshot = nlohmann::json::parse(in, nullptr, false);
      if (!snapshot.is_object() || ops::FileHash(kept->uri) != kept->content_hash) {
        *error = "the snapshot list of task '" + task.id + "' (" + kept->uri + ") is damaged";
        return std::nullopt;
      }
    }
    // The snapshot's copy of `path` as it was read; `why` says why there is none.
    auto copy_of = [&](const std::string& path, const std::string& hash, std::string* why) -> std::string {
      *why = kept ? " and task '" + task.id + "' kept no copy of it" : " and task '" + task.id + "' kept no snapshot of it (ingest's snapshot: true)";
      for (const nlohmann::json& f : snapshot.value("files", nlohmann::json::array())) {
        const std::string copy = f.value("copy", "");
        if (f.value("path", "") != path || f.value("hash", "") != hash) continue;
        std::error_code ec;
        if (fs::is_regular_file(copy, ec) && ops::FileHash(copy) == hash) return copy;
        *why = " and its snapshot copy " + copy + (fs::exists(copy, ec) ? " changed" : " is gone");
        return "";
      }
      return "";
    };
    nlohmann::json files = nlohmann::json::array();
    std::optional<nlohmann::json> query;
    for (const nlohmann::json& in : nlohmann::json::parse(output->inputs_json, nullptr, false)) {
      if (!in.is_object()) continue;
      if (in.contains("file")) {
        const std::string path = in["file"].value("path", ""), hash = in["file"].value("hash", "");
        std::error_code ec;
        const std::string now = fs::is_regular_file(path, ec) ? ops::FileHash(path) : "";
        std::string why;
        std::string read = now == hash ? path : copy_of(path, hash, &why);
        if (read.empty()) {
          *error = path + " changed since run " + run.run_id + " read it (" + hash + ", now " +
                   (now.empty() ? "missing" : now) + ")" + why;
          return std::nullopt;
        }
        files.push_back({{"path", path}, {"read", read}, {"hash", hash}});
      } else if (in.contains("query")) {
        query = in["query"];
      }
    }
    if (query) {
      const std::string copy = snapshot.value("copy", ""), hash = snapshot.value("hash", "");
      std::error_code ec;
      if (copy.empty() || !fs::is_regular_file(copy, ec) || ops::FileHash(copy) != hash) {
        *error = "task '" + task.id + "' read a database query, whose rows cannot be read again as they were, and "
                 "kept no snapshot of them (ingest's snapshot: true)";
        return std::nullopt;
      }
      replay[task.id] = nlohmann::json{{"table", copy}, {"query", *query}}.dump();
    } else {
      replay[task.id] = nlohmann::json{{"files", files}}.dump();
    }
  }
  return replay;
}

}  // namespace

static int Execute(const GlobalOptions& g, StateStore& store_ref, const DagSpec& dag, int version,
                   const ParamValues& params, const ExecuteSettings& settings, SignalCanceller& signals);

int Run(const GlobalOptions& g, const RunOptions& options) {
  SignalCanceller signals;  // first: the threads started below inherit the mask
  DagLoader loader(Operators());
  LoadResult loaded = loader.LoadFile(options.file);
  if (!loaded.dag) {
    for (const Diagnostic& d : loaded.diagnostics) std::cerr << d.ToString() << "\n";
    if (g.json) {  // what `validate --json` says of the file, for a script reading stdout
      nlohmann::json file = {{"file", options.file}, {"valid", false},
                             {"errors", DiagnosticsJson(loaded.diagnostics, options.file)}};
      std::cout << nlohmann::json{{"valid", false}, {"files", nlohmann::json::array({file})}}.dump(2, ' ', false,
                                                                          nlohmann::json::error_handler_t::replace)
                << "\n";
    }
    return kExitUsage;
  }
  const DagSpec& dag = *loaded.dag;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const std::string& p : options.params) {
    std::pair<std::string, std::string> kv;
    if (!SplitParam(p, &kv)) {
      std::cerr << "pipectl: --param " << p << ": expected NAME=VALUE\n";
      return kExitUsage;
    }
    overrides.push_back(kv);
  }
  std::string error;
  auto params = ResolveParams(dag, overrides, &error);
  if (!params) {
    std::cerr << "pipectl: " << error << "\n";
    return kExitUsage;
  }

  std::unique_ptr<StateStore> store = OpenStore(g, /*create=*/true);
  const int version = store->PutDagVersion(dag, SystemClock::Default()->Now());
  ExecuteSettings settings;
  settings.workers = options.workers;
  settings.use_cache = !options.no_cache;
  settings.openlineage = options.openlineage;
  return Execute(g, *store, dag, version, *params, settings, signals);
}

int Rerun(const GlobalOptions& g, const RerunOptions& options) {
  SignalCanceller signals;
  // The run to repeat is in a store that exists: a mistyped --db is named, not made.
  std::unique_ptr<StateStore> store = OpenStore(g);
  auto old = store->GetRun(options.run_id);
  if (!old) throw Error::NotFound("no run '" + options.run_id + "'");
  auto stored = store->GetDagVersion(old->dag_id, old->dag_version);
  if (!stored) {
    throw Error::NotFound("the store has no version " + std::to_string(old->dag_version) + " of DAG '" + old->dag_id + "'");
  }
  // The text that run ran, read as if at its file (relative paths resolve there).
  DagLoader loader(Operators());
  LoadResult loaded = loader.LoadText(stored->source, stored->file);
  if (!loaded.dag) {
    for (const Diagnostic& d : loaded.diagnostics) std::cerr << d.ToString() << "\n";
    std::cerr << "pipectl: version " << old->dag_version << " of DAG '" << old->dag_id
              << "' no longer loads with this pipectl\n";
    return kExitUsage;
  }
  ExecuteSettings settings;
  settings.workers = options.workers;
  settings.use_cache = !options.no_cache;
  settings.rerun_of = old->run_id;
  settings.openlineage = options.openlineage;
  if (options.same_data) {
    std::string error;
    auto replay = SameDataInputs(*store, *old, *loaded.dag, &error);
    if (!replay) {
      std::cerr << "pipectl: --same-data: " << error << "\n";
      return kExitUsage;
    }
    settings.replay_inputs = std::move(*replay);
    settings.use_cache = false;  // the same data, not whatever a cache key matches now
  }
  return Execute(g, *store, *loaded.dag, old->dag_version, ParamsFromJson(old->params_json), settings, signals);
}

// Runs `dag` (stored as `version`) once with `params`, printing progress and
// the task table (or the run's JSON); `rerun_of` names the run it repeats.
static int Execute(const GlobalOptions& g, StateStore& store_ref, const DagSpec& dag, int version,
                   const ParamValues& params, const ExecuteSettings& settings, SignalCanceller& signals) {
  if (std::string why; !StartTaskWatchdog(&why)) {
    std::cerr << "pipectl: warning: " << why << ": tasks would outlive a crash of pipectl\n";
  }
  const std::string& rerun_of = settings.rerun_of;
  StateStore* store = &store_ref;
  SystemClock& clock = *SystemClock::Default();
  TimePoint now = clock.Now();
  RunRequest request;
  request.dag = &dag;
  request.params = params;
  RunRecord& run = request.run;
  run.run_id = NewRunId(now);
  run.dag_id = dag.id;
  run.dag_version = version;
  run.trigger = "manual";
  run.rerun_of = rerun_of;
  run.logical_date = run.data_interval_start = run.data_interval_end = now;
  run.params_json = ParamsToJson(params);
  run.created_at = now;
  // Coordinated by this process under a lease it renews (RunLeaseKeeper):
  // a piped on the same store leaves the run alone while this process
  // lives, and takes it over only once the lease has run out. Every task
  // write is fenced on the name.
  // PIPE_RUN_LEASE: as piped's --run-lease (default 30s), how soon a piped
  // takes the run over should this process die.
  Duration lease = std::chrono::seconds(30);
  if (const char* env = std::getenv("PIPE_RUN_LEASE"); env && *env) {
    auto d = ParseDuration(env);
    if (!d || *d < std::chrono::seconds(1)) {
      std::cerr << "pipectl: PIPE_RUN_LEASE: expected a duration of at least 1s, found '" << env << "'\n";
      return kExitUsage;
    }
    lease = *d;
  }
  request.coordinator = run.coordinator = LocalCoordinatorName("pipectl");
  run.coordinator_until = now + lease;

  ExecutorOptions exec_options;
  exec_options.workers = settings.workers;
  exec_options.use_cache = settings.use_cache;
  exec_options.replay_inputs = settings.replay_inputs;
  // Absolute, so that `pipectl logs` finds the files from any folder.
  exec_options.log_root = std::filesystem::absolute(std::filesystem::path(PipeHome()) / "logs").string();
  exec_options.artifact_root = std::filesystem::absolute(std::filesystem::path(PipeHome()) / "artifacts").string();
  std::string lineage_target = settings.openlineage;
  if (const char* env = std::getenv("PIPE_OPENLINEAGE"); lineage_target.empty() && env) lineage_target = env;
  std::unique_ptr<openlineage::Emitter> lineage_events;  // delivers what is queued when destroyed
  if (!lineage_target.empty()) {
    lineage_events = std::make_unique<openlineage::Emitter>(*store, openlineage::EmitterOptions{lineage_target},
                                                            [](const std::string& line) { std::cerr << line << "\n"; });
  }
  Executor executor(*store, Operators(), clock, exec_options);
  bool interrupted = false;
  signals.Start(&executor, &interrupted);

  bool terminal = !g.json && isatty(STDOUT_FILENO);
  std::ostream& progress = g.json ? std::cerr : std::cout;
  if (!g.json) {
    progress << "run " << run.run_id << " of dag '" << dag.id << "' (" << dag.tasks.size() << (dag.tasks.size() == 1 ? " task" : " tasks")
             << (rerun_of.empty() ? "" : ", version " + std::to_string(version) + ", again as " + rerun_of) << ")\n";
  }
  LiveView view(dag, terminal, progress);
  std::unique_ptr<notify::Notifier> notifier;  // delivers what is queued when destroyed
  if (!dag.notify.empty()) {
    notify::NotifierOptions notify_options;
    notify_options.command_output = (std::filesystem::path(exec_options.log_root) / "notifications.log").string();
    std::filesystem::create_directories(exec_options.log_root);
    notifier = std::make_unique<notify::Notifier>(
        *store, [&dag](const std::string&) { return dag.notify; },
        [](const std::string& name) { return sources::NamedSecret("webhook", name); }, notify_options,
        [](const std::string& line, bool /*problem*/) { std::cerr << line << "\n"; });
  }
  FanoutObserver observer({g.json ? nullptr : &view, lineage_events.get(), notifier.get()});
  RunState final_state;
  {
    // Renewed every 2 s (or a third of the lease), so that a cancel asked
    // through the store (pipectl runs cancel, the REST API) reaches this run
    // as soon as on piped.
    RunLeaseKeeper lease_keeper(*store, run.run_id, run.coordinator, lease,
                                std::min<Duration>(std::chrono::seconds(2), lease / 3),
                                [&executor, id = run.run_id] { executor.CancelRun(id, /*before_start=*/true); });
    final_state = executor.Execute(request, &observer);
  }
  view.Stop();
  lineage_events.reset();
  notifier.reset();

  auto record = store->GetRun(run.run_id);
  if (!record) throw Error::Internal("run " + run.run_id + " vanished from the store");
  if (g.json) {
    std::cout << views::RunJson(*store, *record).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\n" << views::RunTaskTable(*store, *record);
    Duration took = std::chrono::duration_cast<Duration>(record->ended_at.value_or(now) - record->started_at.value_or(now));
    std::cout << "\nrun " << run.run_id << " " << ToString(final_state) << " in " << FormatElapsed(took)
              << (interrupted ? " (interrupted)" : "") << "\n";
  }
  return final_state == RunState::kSuccess ? kExitOk : kExitFailed;
}

}  // namespace pipeline::cli
