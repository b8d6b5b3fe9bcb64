// piped: the scheduler, the executor and the REST API in one process.
// Flags in, wiring, signals, exit codes out.

#include <charconv>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <unistd.h>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <iostream>

#include "api/api.h"
#ifdef PIPE_WITH_UI
#include "ui/assets.h"
#endif
#include "api/auth.h"
#include "api/http.h"
#include "core/error.h"
#include "core/operator.h"
#include "core/version.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "ops/data_operators.h"
#include "exec/executor.h"
#include "exec/process_watchdog.h"
#include "notify/notifier.h"
#include "openlineage/emitter.h"
#include "piped/dag_watcher.h"
#include "piped/stop_signals.h"
#include "piped/daemon_store.h"
#include "piped/worker_main.h"
#include "scheduler/scheduler.h"
#include "serving/model_server.h"
#include "sources/database.h"
#include "store/state_store.h"

namespace {

using namespace pipeline;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;

struct Config {
  std::string dags = "dags";
  std::string db;
  std::string listen = "127.0.0.1:8080";
  int workers = 0;
  int max_connections = 0;  // 0: a quarter of the descriptor limit, at most 4096
  int http_threads = 0;     // 0: half the cores, at least 1
  std::string tokens_file;
  std::string secrets_file;  // PostgreSQL passwords for ingest/export (libpq's password-file format)
  std::string grace = "30s";
  std::string config_file;
  std::string local_queues;  // empty: every task runs here
  std::string name;          // in run leases; empty: HOST:PORT of the API
  std::string run_lease = "30s";
  std::string openlineage;   // OpenLineage events: http://HOST:PORT/PATH or file:PATH; empty: none
  std::string db_wait = "60s";  // how long the start waits for an unreachable PostgreSQL
};

// Values from --config that no flag overrode.
void ApplyConfigFile(Config& c, const std::set<std::string>& flags_given) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(c.config_file);
  } catch (const YAML::Exception& e) {
    throw Error::InvalidArgument(c.config_file + ": " + e.what());
  }
  if (!root.IsMap()) throw Error::InvalidArgument(c.config_file + ": expected a map of settings");
  static const std::set<std::string> kKeys = {"dags", "db", "listen", "workers", "max_connections",
                                              "http_threads", "tokens_file", "secrets_file", "grace", "openlineage",
                                              "db_wait"};
  for (const auto& entry : root) {
    std::string key = entry.first.as<std::string>();
    if (!kKeys.count(key)) {
      throw Error::InvalidArgument(c.config_file + ":" + std::to_string(entry.first.Mark().line + 1) +
                                   ": unknown setting '" + key + "'");
    }
    if (flags_given.count(key)) continue;
    // Each value is checked here as its flag is, so a bad one is named by
    // its place in the file (never taken for the default).
    const YAML::Node& value = entry.second;
    auto bad = [&](const std::string& expected) {
      return Error::InvalidArgument(c.config_file + ":" + std::to_string(value.Mark().line + 1) + ": bad value for '" +
                                    key + "' (" + expected + ")");
    };
    // A plain scalar (a quoted "2" is text, not a number).
    auto text = [&](const std::string& expected) {
      if (!value.IsScalar() || value.Tag() == "!") throw bad(expected);
      return value.Scalar();
    };
    auto whole = [&](int from, int to) {
      const std::string expected = "a whole number from " + std::to_string(from) + " to " + std::to_string(to);
      const std::string s = text(expected);
      int n = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || end != s.data() + s.size() || n < from || n > to) throw bad(expected);
      return n;
    };
    auto duration = [&](const std::string& expected) {  // ("30s" quoted is a duration too)
      if (!value.IsScalar() || !ParseDuration(value.Scalar())) throw bad(expected);
      return value.Scalar();
    };
    auto string = [&](const std::string& expected) {
      if (!value.IsScalar() || value.Scalar().empty()) throw bad(expected);
      return value.Scalar();
    };
    if (key == "dags") c.dags = string("a folder");
    if (key == "db") c.db = string("sqlite:PATH or postgresql://...");
    if (key == "listen") {
      c.listen = string("HOST:PORT");
      const size_t colon = c.listen.rfind(':');
      const std::string port = colon == std::string::npos ? "" : c.listen.substr(colon + 1);
      int n = -1;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
      if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n < 0 || n > 65535) {
        throw bad("HOST:PORT, the port from 0 to 65535");
      }
    }
    if (key == "workers") c.workers = whole(1, 4096);
    if (key == "max_connections") c.max_connections = whole(1, 1 << 20);
    if (key == "http_threads") c.http_threads = whole(1, 256);
    if (key == "tokens_file") c.tokens_file = string("a file");
    if (key == "secrets_file") c.secrets_file = string("a file");
    if (key == "grace") c.grace = duration("a duration such as 30s");
    if (key == "openlineage") c.openlineage = string("http://HOST:PORT/PATH or file:PATH");
    if (key == "db_wait") c.db_wait = duration("a duration such as 60s or 0s");
  }
}

// The secrets file for every connection ingest and export make here and in
// the tasks' processes; "" keeps $PIPE_SECRETS, checked now rather than at the
// first task.
void UseSecrets(const std::string& path) {
  try {
    if (!path.empty()) {
      sources::UseSecretsFile(path);
    } else {
      sources::SecretsFile();
    }
  } catch (const sources::SourceError& e) {
    throw Error::InvalidArgument(e.what());
  }
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Logs every task state change: one line per event, with run and task ids.
class LogObserver final : public RunObserver {
 public:
  void OnRunState(const RunRecord& run, RunState state) override {
    spdlog::info("run state run={} dag={} state={}", run.run_id, run.dag_id, ToString(state));
  }
  void OnTaskState(const TaskEvent& e) override {
    if (e.reason.empty()) {
      spdlog::info("task state run={} task={} state={} try={}", e.run_id, e.task_id, ToString(e.state), e.try_number);
    } else {
      spdlog::info("task state run={} task={} state={} try={} reason=\"{}\"", e.run_id, e.task_id,
                   ToString(e.state), e.try_number, e.reason);
    }
  }
};

// Has the model server look at the aliases as soon as a run ends (a serve
// task may have moved one), not at its next poll.
class ServingObserver final : public RunObserver {
 public:
  explicit ServingObserver(ModelServer& models) : models_(models) {}
  void OnRunState(const RunRecord&, RunState state) override {
    if (IsTerminal(state)) models_.Nudge();
  }
  void OnTaskState(const TaskEvent&) override {}

 private:
  ModelServer& models_;
};

int Serve(Config config) {
  auto grace = ParseDuration(config.grace);
  if (!grace) throw Error::InvalidArgument("--grace: invalid duration '" + config.grace + "'");
  size_t colon = config.listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(config.listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (port < 0 || port > 65535) throw Error::InvalidArgument("--listen: expected HOST:PORT, got '" + config.listen + "'");
  std::string host = config.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";

  TokenStore tokens;
  if (!config.tokens_file.empty()) tokens = TokenStore::Load(config.tokens_file);
  if (!IsLoopback(host) && tokens.empty()) {
    throw Error::InvalidArgument("refusing to listen on " + config.listen +
                                 " without tokens: set tokens_file (or listen on 127.0.0.1)");
  }
  if (!fs::is_directory(config.dags)) throw Error::InvalidArgument("--dags: no folder '" + config.dags + "'");

  std::string home = std::getenv("PIPE_HOME") && *std::getenv("PIPE_HOME") ? std::getenv("PIPE_HOME") : ".pipe";
  if (config.db.empty()) {
    const char* env = std::getenv("PIPE_DB");
    config.db = env && *env ? env : "sqlite:" + home + "/state.db";
  }
  auto run_lease = ParseDuration(config.run_lease);
  if (!run_lease || *run_lease < std::chrono::seconds(1)) {
    throw Error::InvalidArgument("--run-lease: expected a duration of at least 1s, got '" + config.run_lease + "'");
  }
  auto db_wait = ParseDuration(config.db_wait);
  if (!db_wait) throw Error::InvalidArgument("--db-wait: expected a duration such as 60s or 0s, got '" + config.db_wait + "'");
  std::unique_ptr<StateStore> store = OpenDaemonStore(config.db, *db_wait);
  if (!store) {
    spdlog::info("piped stopping on signal {}: the database was not reached yet", WaitForStopSignal());
    return kExitOk;
  }
  const bool shared = config.db.rfind("postgres", 0) == 0;
  // On SQLite one daemon schedules a database (a file of one machine). On
  // PostgreSQL any number do, active-active: each run is coordinated by one
  // of them at a time, under a lease (SchedulerOptions::run_lease).
  if (!shared && !store->TryLockScheduler()) {
    throw Error::Conflict("another piped already schedules " + config.db +
                          " (its scheduler lock is taken); on SQLite run one piped per database, or share "
                          "PostgreSQL between several");
  }

  // Bind the API's port before anything is recovered or scheduled: a daemon
  // that cannot listen exits before it touches a run. Connections wait in the
  // backlog until the server starts below.
  Api* api_ptr = nullptr;
  HttpServerOptions http_options;
  http_options.host = host;
  http_options.port = port;
  http_options.max_connections = config.max_connections;
  // Half the cores read and write connections and answer the cheap requests
  // (small predictions) at once; every core may work on the others.
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  http_options.threads = config.http_threads > 0 ? config.http_threads : std::max(1, cores / 2);
  http_options.request_threads = cores;
  http_options.answer_inline = [&api_ptr](const HttpRequest& r) { return api_ptr->AnswersInline(r); };
  HttpServer server(http_options, [&api_ptr](const HttpRequest& r) { return api_ptr->Handle(r); });
  server.Listen();

  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  RegisterDataOperators(ops);
  DagLoader loader(ops);
  ExecutorOptions exec_options;
  exec_options.workers = config.workers;
  exec_options.log_root = fs::absolute(fs::path(home) / "logs").string();
  exec_options.artifact_root = fs::absolute(fs::path(home) / "artifacts").string();
  exec_options.record_processes = true;  // crash recovery stops orphaned tasks
  if (!config.local_queues.empty()) {
    if (config.db.rfind("postgres", 0) != 0) {
      throw Error::InvalidArgument("--local-queues hands the other queues' tasks to piped worker processes, "
                                   "which need the shared PostgreSQL database (--db postgresql://...)");
    }
    exec_options.local_queues = ParseQueueList("--local-queues", config.local_queues);
  }
  // PIPE_TEST_CLOCK=ORIGIN,SPEED: accelerated time, for end-to-end tests of schedules.
  Clock* clock = SystemClock::Default();
  std::unique_ptr<ScaledClock> scaled;
  if (const char* test_clock = std::getenv("PIPE_TEST_CLOCK"); test_clock && *test_clock) {
    std::string spec = test_clock;
    size_t comma = spec.find(',');
    auto origin = ParseIso8601(spec.substr(0, comma));
    double speed = comma == std::string::npos ? 0 : std::atof(spec.c_str() + comma + 1);
    if (!origin || speed <= 0) throw Error::InvalidArgument("PIPE_TEST_CLOCK: expected ORIGIN_ISO8601,SPEED");
    scaled = std::make_unique<ScaledClock>(origin->utc, speed);
    clock = scaled.get();
    spdlog::warn("test clock: time runs {}x from {}", speed, FormatIso8601(origin->utc));
  }
  if (std::string why; !StartTaskWatchdog(&why)) spdlog::warn("{}: tasks would outlive a crash of piped", why);
  Executor executor(*store, ops, *clock, exec_options);

  MetricsObserver metrics;
  LogObserver log_observer;
  std::unique_ptr<openlineage::Emitter> lineage_events;
  if (!config.openlineage.empty()) {
    lineage_events = std::make_unique<openlineage::Emitter>(
        *store, openlineage::EmitterOptions{config.openlineage}, [](const std::string& line) { spdlog::warn("{}", line); });
    spdlog::info("OpenLineage events go to {}", config.openlineage);
  }
  // Notifications look the DAG's `notify` up when they are delivered (on
  // their own thread), in what the last folder load gave.
  struct NotifyTargets {
    std::mutex mu;
    std::map<std::string, std::vector<NotifySpec>> by_dag;
    void Set(const FolderLoadResult& loaded) {
      // A webhook named by a secret the secrets file lacks is said at load,
      // not at the first failure it should have reported.
      for (const DagSpec& d : loaded.dags) {
        for (const NotifySpec& n : d.notify) {
          if (n.webhook_secret.empty() || sources::NamedSecret("webhook", n.webhook_secret)) continue;
          spdlog::error("dag {} ({}): notify: no line webhook:{}:URL in the secrets file: its notifications to it "
                        "will not be delivered",
                        d.id, d.file, n.webhook_secret);
        }
      }
      std::lock_guard lock(mu);
      by_dag.clear();
      for (const DagSpec& d : loaded.dags) by_dag[d.id] = d.notify;
    }
  };
  auto notify_targets = std::make_shared<NotifyTargets>();
  notify::NotifierOptions notify_options;
  notify_options.command_output = (std::filesystem::path(exec_options.log_root) / "notifications.log").string();
  notify::Notifier notifier(
      *store,
      [notify_targets](const std::string& dag_id) {
        std::lock_guard lock(notify_targets->mu);
        auto it = notify_targets->by_dag.find(dag_id);
        return it == notify_targets->by_dag.end() ? std::vector<NotifySpec>{} : it->second;
      },
      [](const std::string& name) { return sources::NamedSecret("webhook", name); }, notify_options,
      [](const std::string& line, bool problem) {
        if (problem) {
          spdlog::warn("{}", line);
        } else {
          spdlog::info("{}", line);
        }
      });
  // Model versions that aliases point at, loaded and swapped as they move
  // (also by `pipectl run` on the same store): the predict endpoints. A run
  // of this daemon that ends has them looked at again at once.
  ModelServerOptions serving_options;
  serving_options.log = [](const std::string& line) { spdlog::info("models: {}", line); };
  serving_options.warn = [](const std::string& line) { spdlog::warn("models: {}", line); };
  ModelServer models(*store, serving_options);
  ServingObserver serving_observer(models);
  FanoutObserver observer({&metrics, &log_observer, lineage_events.get(), &notifier, &serving_observer});
  SchedulerOptions sched_options;
  sched_options.observer = &observer;
  sched_options.run_lease = *run_lease;
  sched_options.name = config.name;
  if (sched_options.name.empty()) {
    // The same across restarts (a restarted daemon takes its own runs back
    // at once) and unique among daemons of one machine (one port each).
    char hostname[256] = "host";
    gethostname(hostname, sizeof hostname - 1);
    sched_options.name = std::string(hostname) + ":" + std::to_string(server.port());
  }
  Scheduler scheduler(*store, executor, loader, *clock, sched_options);
  std::string dags_dir = config.dags;
  {
    FolderLoadResult loaded = loader.LoadFolder(dags_dir);
    notify_targets->Set(loaded);
    scheduler.SetDags(loaded);
  }
  DagWatcher watcher(dags_dir, [&] {
    spdlog::info("dag folder changed: reloading {}", dags_dir);
    try {
      FolderLoadResult loaded = loader.LoadFolder(dags_dir);
      notify_targets->Set(loaded);
      scheduler.SetDags(loaded);
    } catch (const std::exception& e) {
      spdlog::error("reloading dags: {}", e.what());
    }
  });
  scheduler.Start();

  ApiOptions api_options;
  api_options.db_description = config.db.rfind("sqlite:", 0) == 0 ? "sqlite" : "postgresql";
  api_options.inline_predict_bytes = http_options.threads > 1 ? 64 * 1024 : 16 * 1024;
#ifdef PIPE_WITH_UI
  api_options.ui_assets = WebUiAssets();
#endif
  models.Start();
  Api api(scheduler, *store, tokens, metrics, api_options);
  api.SetModelServer(&models);
  api_ptr = &api;
  server.Start();
  spdlog::info("piped listening on {}:{} dags={} db={} workers={} http_threads={} request_threads={} name={}", host,
               server.port(), dags_dir, api_options.db_description, executor.workers(), http_options.threads,
               http_options.request_threads, sched_options.name);

  const int sig = WaitForStopSignal();
  spdlog::info("piped stopping on signal {}: running tasks get {} to finish", sig, config.grace);
  server.Stop();
  scheduler.Stop(*grace);
  spdlog::info("piped stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // This program started as its own task watchdog (exec/process_watchdog.h).
  if (argc == 2 && std::string_view(argv[1]) == pipeline::kWatchdogArg) return pipeline::RunTaskWatchdog();
  BlockStopSignals();  // before any thread: only WaitForStopSignal() sees them
  spdlog::set_default_logger(spdlog::stderr_color_mt("piped"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);

  CLI::App app{"piped: the scheduler daemon (cron schedules, REST API, executor)"};
  app.set_version_flag("--version", std::string("piped ") + pipeline::kVersion);
  Config config;
  app.add_option("--dags", config.dags, "DAG folder (default ./dags), watched for changes");
  app.add_option("--db", config.db, "state database: sqlite:PATH or postgresql://... (default $PIPE_DB, "
                                    "else sqlite:$PIPE_HOME/state.db)");
  app.add_option("--listen", config.listen, "HOST:PORT of the REST API (default 127.0.0.1:8080)");
  app.add_option("--workers", config.workers, "tasks at once (default: the core count)")->check(CLI::Range(1, 4096));
  app.add_option("--max-connections", config.max_connections,
                 "open API connections at most (default: a quarter of the descriptor limit, at most 4096)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--http-threads", config.http_threads, "connection threads of the API, which also answer small predictions at once "
                 "(default: half the cores, at least 1; other requests go to one thread per core)")
      ->check(CLI::Range(1, 256));
  app.add_option("--config", config.config_file,
                 "YAML file of settings (dags, db, listen, workers, max_connections, http_threads, tokens_file, "
                 "secrets_file, grace, openlineage, db_wait)");
  app.add_option("--tokens", config.tokens_file, "token file: lines 'ROLE SHA256_HEX [name]'");
  app.add_option("--secrets", config.secrets_file,
                 "PostgreSQL passwords for ingest and export (libpq's password-file format) and the mask step's mask_key line (mode 600; "
                 "default $PIPE_SECRETS)");
  app.add_option("--grace", config.grace, "how long running tasks may finish at shutdown (default 30s)");
  constexpr const char* kDbWaitHelp =
      "how long the start waits for a PostgreSQL server it cannot reach yet, trying again (default 60s; 0s: exit at once)";
  app.add_option("--db-wait", config.db_wait, kDbWaitHelp);
  if (const char* env = std::getenv("PIPE_OPENLINEAGE"); env && *env) config.openlineage = env;
  app.add_option("--openlineage", config.openlineage,
                 "send OpenLineage run events to http://HOST:PORT/PATH (e.g. Marquez's /api/v1/lineage) or append "
                 "them to file:PATH (default $PIPE_OPENLINEAGE)");
  app.add_option("--name", config.name,
                 "this scheduler's name in run leases, unique among the piped of a database "
                 "(default HOST:PORT of --listen)");
  app.add_option("--run-lease", config.run_lease,
                 "how long a run stays with this piped without renewal before another takes it over (default 30s)");
  app.add_option("--local-queues", config.local_queues,
                 "run only tasks of these queues here (comma-separated); hand the others to piped worker "
                 "processes (needs PostgreSQL). Default: every task runs here");
  auto* worker = app.add_subcommand("worker", "run tries claimed from the shared PostgreSQL database");
  WorkerConfig worker_config;
  worker->add_option("--db", worker_config.db, "the shared database: postgresql://... (default $PIPE_DB)");
  std::string worker_secrets;
  worker->add_option("--secrets", worker_secrets,
                     "PostgreSQL passwords for ingest and export (libpq's password-file format) and the mask step's mask_key line (default $PIPE_SECRETS)");
  worker->add_option("--queues", worker_config.queues, "queues to serve, comma-separated (default: default)");
  worker->add_option("--slots", worker_config.slots, "tries at once (default: the core count)")
      ->check(CLI::Range(1, 4096));
  worker->add_option("--name", worker_config.name, "the worker's name in claims and logs (default HOST:PID)");
  worker->add_option("--lease", worker_config.lease, "how long a claim holds without a heartbeat (default 30s)");
  worker->add_option("--heartbeat", worker_config.heartbeat, "how often claims are renewed (default 5s)");
  worker->add_option("--keep-outputs", worker_config.keep_outputs_mb,
                     "MiB of output tables kept in memory for the data tasks that read them next (default 1024; 0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  worker->add_option("--db-wait", worker_config.db_wait, kDbWaitHelp);
  worker->add_option("--grace", worker_config.grace,
                     "at SIGTERM, how long running tries may finish before they are handed back (default 30s)");
  auto* hash = app.add_subcommand("hash-token", "print the SHA-256 of a token, for the token file");
  std::string token;
  hash->add_option("TOKEN", token, "the token")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (hash->parsed()) {
    std::cout << Sha256Hex(token) << "\n";
    return kExitOk;
  }
  if (worker->parsed()) {
    try {
      if (worker_config.db.empty()) {
        const char* env = std::getenv("PIPE_DB");
        worker_config.db = env ? env : "";
      }
      UseSecrets(worker_secrets);
      return RunWorker(worker_config);
    } catch (const Error& e) {
      spdlog::critical("{}", e.what());
      return e.code() == ErrorCode::kUnavailable ? kExitUnavailable : kExitUsage;
    }
  }
  try {
    if (!config.config_file.empty()) {
      std::set<std::string> given;
      for (const char* flag : {"dags", "db", "listen", "workers", "grace"}) {
        if (app.count(std::string("--") + flag) > 0) given.insert(flag);
      }
      if (app.count("--max-connections") > 0) given.insert("max_connections");
      if (app.count("--http-threads") > 0) given.insert("http_threads");
      if (app.count("--tokens") > 0) given.insert("tokens_file");
      if (app.count("--secrets") > 0) given.insert("secrets_file");
      if (app.count("--openlineage") > 0) given.insert("openlineage");
      if (app.count("--db-wait") > 0) given.insert("db_wait");
      ApplyConfigFile(config, given);
    }
    UseSecrets(config.secrets_file);
    return Serve(config);
  } catch (const Error& e) {
    spdlog::critical("{}", e.what());
    if (e.code() == ErrorCode::kUnavailable) return kExitUnavailable;
    return e.code() == ErrorCode::kConflict ? 1 : kExitUsage;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return 1;
  }
}
