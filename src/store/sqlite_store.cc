// The embedded backend: one SQLite database in WAL mode, one connection per
// store object, serialised by a mutex (SQLite has one writer anyway).

#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <unordered_map>
#include <mutex>

#include "core/dag_spec.h"
#include "core/error.h"
#include "store/sql_filter.h"

namespace pipeline {

namespace {

// Each step brings the schema from version (index) to (index + 1).
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE dags (
  dag_id TEXT PRIMARY KEY,
  latest_version INTEGER NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  file TEXT NOT NULL,
  schedule TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE dag_versions (
  dag_id TEXT NOT NULL REFERENCES dags(dag_id),
  version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  file TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (dag_id, version)
);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  dag_id TEXT NOT NULL,
  dag_version INTEGER NOT NULL,
  state TEXT NOT NULL,
  trigger TEXT NOT NULL,
  logical_date INTEGER NOT NULL,
  data_interval_start INTEGER NOT NULL,
  data_interval_end INTEGER NOT NULL,
  params TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX runs_by_dag ON runs(dag_id, created_at);
CREATE UNIQUE INDEX runs_one_per_tick ON runs(dag_id, logical_date) WHERE trigger = 'scheduled';
CREATE INDEX runs_by_created ON runs(created_at);
CREATE TABLE task_instances (
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  task_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  state TEXT NOT NULL,
  try_number INTEGER NOT NULL DEFAULT 0,
  max_tries INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  next_try_at INTEGER,
  error TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, task_id)
) WITHOUT ROWID;
CREATE TABLE task_tries (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  state TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  exit_code INTEGER,
  error TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL,
  worker TEXT NOT NULL,
  process TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, task_id, try_number)
) WITHOUT ROWID;
CREATE TABLE transitions (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  at INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX transitions_by_run ON transitions(run_id, id);
CREATE TABLE artifacts (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  uri TEXT NOT NULL,
  schema_json TEXT NOT NULL,
  row_count INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, task_id, name)
);
)sql",
    // Versions 2 and 3 change PostgreSQL's transition function; nothing here.
    "-- version 2",
    "-- version 3",
    // Version 4: the model registry.
    R"sql(
CREATE TABLE model_versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  model_type TEXT NOT NULL,
  kind TEXT NOT NULL,
  uri TEXT NOT NULL,
  format TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  target TEXT NOT NULL,
  features TEXT NOT NULL,
  transforms TEXT NOT NULL,
  params TEXT NOT NULL,
  metrics TEXT NOT NULL,
  importance TEXT NOT NULL,
  lineage TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE model_aliases (
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  set_at BIGINT NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE model_alias_history (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  set_at BIGINT NOT NULL
);
CREATE INDEX model_alias_history_by_name ON model_alias_history(name, id);
)sql",
    R"sql(
CREATE TABLE work (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  queue TEXT NOT NULL,
  state TEXT NOT NULL,
  payload TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT '',
  worker TEXT NOT NULL DEFAULT '',
  lease_until BIGINT,
  enqueued_at BIGINT NOT NULL,
  ended_at BIGINT,
  PRIMARY KEY (run_id, task_id, try_number)
);
CREATE INDEX work_ready ON work(queue, enqueued_at) WHERE state = 'ready';
CREATE INDEX work_claimed ON work(lease_until) WHERE state = 'claimed';
)sql",
    // Version 6: a coordinator asks a worker to stop a try.
    R"sql(
ALTER TABLE work ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
)sql",
    // Version 7: run leases of active-active schedulers.
    R"sql(
ALTER TABLE runs ADD COLUMN coordinator TEXT NOT NULL DEFAULT '';
ALTER TABLE work ADD COLUMN claimed_at BIGINT;
CREATE TABLE workers (
  name TEXT PRIMARY KEY,
  queues TEXT NOT NULL,
  slots INTEGER NOT NULL,
  running INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  live_until BIGINT NOT NULL
);
ALTER TABLE runs ADD COLUMN coordinator_until BIGINT;
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
)sql",
    // Version 8: the instances of mapped tasks; the worker a work item prefers.
    R"sql(
ALTER TABLE task_instances ADD COLUMN map_index INTEGER;
ALTER TABLE task_instances ADD COLUMN map_item TEXT NOT NULL DEFAULT '';
ALTER TABLE work ADD COLUMN prefer TEXT NOT NULL DEFAULT '';
ALTER TABLE work ADD COLUMN prefer_until BIGINT;
DROP INDEX work_ready;
CREATE INDEX work_ready ON work(queue, enqueued_at, run_id, task_id, try_number) WHERE state = 'ready';
)sql",
    // Version 9: high-water marks of incremental tasks, by DAG and task.
    R"sql(
CREATE TABLE watermarks (
  dag_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  value TEXT NOT NULL,
  run_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (dag_id, task_id)
);
)sql",
    // Version 10: lineage (what each artifact was made from) and the cache key.
    R"sql(
ALTER TABLE artifacts ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE artifacts ADD COLUMN cache_key TEXT NOT NULL DEFAULT '';
CREATE INDEX artifacts_cache ON artifacts(cache_key, created_at) WHERE cache_key <> '';
)sql",
    // Version 11: notifications as delivered.
    R"sql(
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  event TEXT NOT NULL,
  target TEXT NOT NULL,
  delivered INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  error TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX notifications_run ON notifications(run_id);
CREATE INDEX notifications_dag ON notifications(dag_id, id);
)sql",
    // Version 12: missed SLAs, one per run and task.
    R"sql(
CREATE TABLE sla_misses (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  dag_id TEXT NOT NULL,
  due BIGINT NOT NULL,
  detected_at BIGINT NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (run_id, task_id)
);
CREATE INDEX sla_misses_dag ON sla_misses(dag_id, detected_at);
)sql",
    // Version 13: the `waiting` state (sensors) needs no change here (states are text).
    "SELECT 1;",
    // Version 14: schedule.after: a run records the upstream successes it consumed.
    R"sql(
ALTER TABLE runs ADD COLUMN upstream TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX runs_one_per_upstream ON runs(dag_id, data_interval_start) WHERE trigger = 'upstream';
CREATE INDEX task_instances_success ON task_instances(task_id, ended_at) WHERE state = 'success';
)sql",
    // Version 15: a rerun names the run it repeats.
    "ALTER TABLE runs ADD COLUMN rerun_of TEXT NOT NULL DEFAULT '';",
    // Version 16: a run a trigger_dag task made names that task's run.
    "ALTER TABLE runs ADD COLUMN triggered_by TEXT NOT NULL DEFAULT '';",
    // Version 17: what each try read (lineage through a task that persists nothing).
    "ALTER TABLE task_tries ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';",
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion);

// Prepared statements of one connection, kept for reuse (preparing costs
// more than running most of ours). Guarded by the store's mutex.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  }
  sqlite3* db() const { return db_; }
  // nullptr when the SQL does not compile.
  sqlite3_stmt* Get(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return nullptr;
    }
    cache_.emplace(sql, stmt);
    return stmt;
  }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// A cached prepared statement, reset on destruction. Bind and read by
// 1-/0-based index.
class Statement {
 public:
  Statement(StatementCache& cache, const std::string& sql) : db_(cache.db()), stmt_(cache.Get(sql)) {
    if (!stmt_) Fail("prepare");
  }
  ~Statement() { Reset(); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int idx, const std::string& v) {
    sqlite3_bind_text(stmt_, idx, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int idx, int64_t v) {
    sqlite3_bind_int64(stmt_, idx, v);
    return *this;
  }
  Statement& Bind(int idx, TimePoint v) { return Bind(idx, ToMicros(v)); }
  template <typename T>
  Statement& Bind(int idx, const std::optional<T>& v) {
    if (!v) {
      sqlite3_bind_null(stmt_, idx);
      return *this;
    }
    return Bind(idx, *v);
  }
  Statement& Bind(int idx, int v) { return Bind(idx, int64_t{v}); }

  // Steps once; true when a row is available.
  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    Fail("step");
  }
  void Run() {
    while (Step()) {
    }
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::string Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  TimePoint Time(int col) const { return FromMicros(Int(col)); }
  std::optional<TimePoint> OptTime(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Time(col);
  }

 private:
  [[noreturn]] void Fail(const char* what) const {
    int code = sqlite3_extended_errcode(db_);
    std::string msg = std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_);
    if ((code & 0xff) == SQLITE_CONSTRAINT) throw Error::Conflict(msg);
    throw Error::Unavailable(msg);
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

template <typename E>
std::string StateList(const std::vector<E>& states) {
  std::string out;
  for (E s : states) out += (out.empty() ? "'" : ",'") + std::string(ToString(s)) + "'";
  return out;
}

TaskState ReadTaskState(const std::string& text) {
  auto s = ParseTaskState(text);
  if (!s) throw Error::Corruption("unknown task state '" + text + "' in the store");
  return *s;
}

RunState ReadRunState(const std::string& text) {
  auto s = ParseRunState(text);
  if (!s) throw Error::Corruption("unknown run state '" + text + "' in the store");
  return *s;
}

}  // namespace

class SqliteStore::Impl {
 public:
  explicit Impl(const std::string& path) : path_(path) {
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Error::Unavailable("cannot open state database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10'000);
    try {
      // A new database gets 1 KiB pages (no effect on an existing one): a
      // task's transition rewrites a few small rows in several tables, and
      // each commit appends every page it touched to the log, whole.
      Exec("PRAGMA page_size=1024");
      Exec("PRAGMA journal_mode=WAL");
      // NORMAL in WAL mode survives a crash of the process; only power loss
      // can lose the last commits.
      Exec("PRAGMA synchronous=NORMAL");
      Exec("PRAGMA foreign_keys=ON");
      statements_ = std::make_unique<StatementCache>(db_);
      Migrate(path);
    } catch (...) {
      statements_.reset();
      sqlite3_close(db_);
      throw;
    }
  }
  ~Impl() {
    statements_.reset();
    sqlite3_close(db_);
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the scheduler lock
  }

  void Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw Error::Unavailable("sqlite: " + msg);
    }
  }

  // Runs `fn` in a write transaction; rolls back on any exception.
  template <typename Fn>
  auto Write(Fn&& fn) {
    Statement(*statements_, "BEGIN IMMEDIATE").Run();
    try {
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        Statement(*statements_, "COMMIT").Run();
      } else {
        auto result = fn();
        Statement(*statements_, "COMMIT").Run();
        return result;
      }
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  // Like Write, but rolls back when `fn` returns false.
  template <typename Fn>
  bool WriteIf(Fn&& fn) {
    struct Undo {};
    try {
      return Write([&] {
        if (!fn()) throw Undo{};
        return true;
      });
    } catch (const Undo&) {
      return false;
    }
  }

  void Migrate(const std::string& path) {
    Write([&] {
      Exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      Statement get(*statements_, "SELECT value FROM meta WHERE key = 'schema_version'");
      int version = get.Step() ? std::stoi(get.Text(0)) : 0;
      get.Reset();  // a statement still reading would block the DROPs of a migration
      if (version > kSchemaVersion) {
        throw Error::Unavailable("state database " + path + " has schema version " +
                                     std::to_string(version) + ", newer than this build knows (" +
                                     std::to_string(kSchemaVersion) + "); upgrade pipectl and piped");
      }
      for (int step = version; step < kSchemaVersion; ++step) Exec(kMigrations[step]);
      Statement put(*statements_, "INSERT INTO meta(key, value) VALUES('schema_version', ?1) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      put.Bind(1, std::to_string(kSchemaVersion)).Run();
      version_ = kSchemaVersion;
    });
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<StatementCache> statements_;
  std::mutex mu_;  // guards db_, statements_ and lock_fd_
  // Notices of this process's work queue calls (WaitForNotice), by channel.
  void Notify(unsigned channels) {
    {
      std::lock_guard lock(notice_mu_);
      for (int i = 0; i < kNoticeChannels; ++i) notices_[i] += (channels >> i) & 1;
    }
    notice_cv_.notify_all();
  }
  static constexpr int kNoticeChannels = 3;
  std::mutex notice_mu_;
  std::condition_variable notice_cv_;
  uint64_t notices_[kNoticeChannels] = {};  // sent; guarded by notice_mu_
  uint64_t seen_[kNoticeChannels] = {};     // returned by WaitForNotice; guarded by notice_mu_
  int version_ = 0;
  std::string path_;
  int lock_fd_ = -1;  // holds flock(LOCK_EX) on PATH.lock once the scheduler lock is taken
};

SqliteStore::SqliteStore(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
SqliteStore::~SqliteStore() = default;

int SqliteStore::schema_version() { return impl_->version_; }

bool SqliteStore::TryLockScheduler() {
  std::lock_guard lock(impl_->mu_);
  if (impl_->lock_fd_ >= 0) return true;
  std::string path = impl_->path_ + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return false;
    throw Error::Unavailable("cannot lock " + path + ": " + std::strerror(err));
  }
  impl_->lock_fd_ = fd;
  return true;
}

bool SqliteStore::Ping() {
  std::lock_guard lock(impl_->mu_);
  try {
    Statement(*impl_->statements_, "SELECT 1").Run();
    return true;
  } catch (const Error&) {
    return false;
  }
}

int SqliteStore::PutDagVersion(const DagSpec& dag, TimePoint now) {
  std::lock_guard lock(impl_->mu_);
  return impl_->Write([&] {
    Statement latest(*impl_->statements_,
                     "SELECT v.version, v.content_hash FROM dags d JOIN dag_versions v "
                     "ON v.dag_id = d.dag_id AND v.version = d.latest_version WHERE d.dag_id = ?1");
    latest.Bind(1, dag.id);
    int version = 0;
    if (latest.Step()) {
      version = int(latest.Int(0));
      if (latest.Text(1) == dag.content_hash) return version;
    }
    ++version;
    Statement ins(*impl_->statements_,
                  "INSERT INTO dags(dag_id, latest_version, file, schedule, updated_at) "
                  "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(dag_id) DO UPDATE SET "
                  "latest_version = excluded.latest_version, file = excluded.file, "
                  "schedule = excluded.schedule, updated_at = excluded.updated_at");
    ins.Bind(1, dag.id).Bind(2, version).Bind(3, dag.file).Bind(4, dag.ScheduleText()).Bind(5, now).Run();
    Statement ver(*impl_->statements_,
                  "INSERT INTO dag_versions(dag_id, version, content_hash, file, source, created_at) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    ver.Bind(1, dag.id).Bind(2, version).Bind(3, dag.content_hash).Bind(4, dag.file)
        .Bind(5, dag.source).Bind(6, now).Run();
    return version;
  });
}

namespace {

DagRecord ReadDag(const Statement& s) {
  DagRecord d;
  d.dag_id = s.Text(0);
  d.latest_version = int(s.Int(1));
  d.paused = s.Int(2) != 0;
  d.file = s.Text(3);
  if (!s.IsNull(4)) d.schedule = s.Text(4);
  d.updated_at = s.Time(5);
  return d;
}

constexpr const char* kDagColumns = "dag_id, latest_version, paused, file, schedule, updated_at";

RunRecord ReadRun(const Statement& s) {
  RunRecord r;
  r.run_id = s.Text(0);
  r.dag_id = s.Text(1);
  r.dag_version = int(s.Int(2));
  r.state = ReadRunState(s.Text(3));
  r.trigger = s.Text(4);
  r.logical_date = s.Time(5);
  r.data_interval_start = s.Time(6);
  r.data_interval_end = s.Time(7);
  r.params_json = s.Text(8);
  r.created_at = s.Time(9);
  r.started_at = s.OptTime(10);
  r.ended_at = s.OptTime(11);
  r.coordinator = s.Text(12);
  r.coordinator_until = s.OptTime(13);
  r.cancel_requested = s.Int(14) != 0;
  r.upstream_json = s.Text(15);
  r.rerun_of = s.Text(16);
  r.triggered_by = s.Text(17);
  return r;
}

constexpr const char* kRunColumns =
    "run_id, dag_id, dag_version, state, trigger, logical_date, data_interval_start, "
    "data_interval_end, params, created_at, started_at, ended_at, coordinator, coordinator_until, cancel_requested, "
    "upstream, rerun_of, triggered_by";

TaskInstanceRecord ReadTaskInstance(const Statement& s) {
  TaskInstanceRecord t;
  t.run_id = s.Text(0);
  t.task_id = s.Text(1);
  t.state = ReadTaskState(s.Text(2));
  t.try_number = int(s.Int(3));
  t.max_tries = int(s.Int(4));
  t.started_at = s.OptTime(5);
  t.ended_at = s.OptTime(6);
  t.next_try_at = s.OptTime(7);
  t.error = s.Text(8);
  t.metrics_json = s.Text(9);
  if (!s.IsNull(10)) t.map_index = int(s.Int(10));
  t.map_item = s.Text(11);
  return t;
}

constexpr const char* kTaskColumns =
    "run_id, task_id, state, try_number, max_tries, started_at, ended_at, next_try_at, error, "
    "metrics, map_index, map_item";

}  // namespace

std::optional<DagRecord> SqliteStore::GetDag(const std::string& dag_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, std::string("SELECT ") + kDagColumns + " FROM dags WHERE dag_id = ?1");
  s.Bind(1, dag_id);
  if (!s.Step()) return std::nullopt;
  return ReadDag(s);
}

std::vector<DagRecord> SqliteStore::ListDags() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, (std::string("SELECT ") + kDagColumns + " FROM dags ORDER BY dag_id"));
  std::vector<DagRecord> out;
  while (s.Step()) out.push_back(ReadDag(s));
  return out;
}

std::optional<DagVersionRecord> SqliteStore::GetDagVersion(const std::string& dag_id, int version) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT dag_id, version, content_hash, file, source, created_at FROM dag_versions "
              "WHERE dag_id = ?1 AND version = ?2");
  s.Bind(1, dag_id).Bind(2, version);
  if (!s.Step()) return std::nullopt;
  return DagVersionRecord{s.Text(0), int(s.Int(1)), s.Text(2), s.Text(3), s.Text(4), s.Time(5)};
}

std::vector<DagVersionRecord> SqliteStore::ListDagVersions(const std::string& dag_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT dag_id, version, content_hash, file, created_at FROM dag_versions WHERE dag_id = ?1 "
              "ORDER BY version DESC");
  s.Bind(1, dag_id);
  std::vector<DagVersionRecord> out;
  while (s.Step()) out.push_back(DagVersionRecord{s.Text(0), int(s.Int(1)), s.Text(2), s.Text(3), "", s.Time(4)});
  return out;
}

std::optional<std::string> SqliteStore::GetWatermark(const std::string& dag_id, const std::string& task_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT value FROM watermarks WHERE dag_id = ?1 AND task_id = ?2");
  s.Bind(1, dag_id).Bind(2, task_id);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

std::map<std::string, std::string> SqliteStore::ListWatermarks(const std::string& dag_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT task_id, value FROM watermarks WHERE dag_id = ?1");
  s.Bind(1, dag_id);
  std::map<std::string, std::string> out;
  while (s.Step()) out.emplace(s.Text(0), s.Text(1));
  return out;
}

bool SqliteStore::SetPaused(const std::string& dag_id, bool paused) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "UPDATE dags SET paused = ?2 WHERE dag_id = ?1");
  s.Bind(1, dag_id).Bind(2, int64_t{paused}).Run();
  return sqlite3_changes(impl_->db_) > 0;
}

void SqliteStore::CreateRun(const RunRecord& run, const std::vector<NewTaskInstance>& tasks, int max_active) {
  std::lock_guard lock(impl_->mu_);
  impl_->Write([&] {
    if (max_active > 0) {  // BEGIN IMMEDIATE holds the database's write lock: the count stands
      Statement count(*impl_->statements_,
                      "SELECT count(*) FROM runs WHERE dag_id = ?1 AND state IN ('queued', 'running')");
      count.Bind(1, run.dag_id);
      const int64_t active = count.Step() ? count.Int(0) : 0;
      if (active >= max_active) {
        throw Error::Conflict("dag '" + run.dag_id + "' has " + std::to_string(active) + " active runs (max_active_runs " +
                              std::to_string(max_active) + ")");
      }
    }
    const bool running = run.state == RunState::kRunning;
    Statement ins(*impl_->statements_,
                  "INSERT INTO runs(run_id, dag_id, dag_version, state, trigger, logical_date, "
                  "data_interval_start, data_interval_end, params, created_at, started_at, coordinator, "
                  "coordinator_until, upstream, rerun_of, triggered_by) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CASE WHEN ?4 = 'running' THEN ?11 END, ?12, ?13, ?14, ?15, "
                  "?16)");
    ins.Bind(1, run.run_id).Bind(2, run.dag_id).Bind(3, run.dag_version)
        .Bind(4, std::string(ToString(running ? RunState::kRunning : RunState::kQueued))).Bind(5, run.trigger)
        .Bind(6, run.logical_date).Bind(7, run.data_interval_start).Bind(8, run.data_interval_end)
        .Bind(9, run.params_json).Bind(10, run.created_at).Bind(11, run.started_at.value_or(run.created_at))
        .Bind(12, run.coordinator).Bind(13, run.coordinator_until).Bind(14, run.upstream_json)
        .Bind(15, run.rerun_of).Bind(16, run.triggered_by).Run();
    Statement task(*impl_->statements_,
                   "INSERT INTO task_instances(run_id, task_id, position, state, max_tries) "
                   "VALUES(?1, ?2, ?3, 'pending', ?4)");
    for (size_t pos = 0; pos < tasks.size(); ++pos) {
      const NewTaskInstance& t = tasks[pos];
      task.Bind(1, run.run_id).Bind(2, t.task_id).Bind(3, int64_t(pos)).Bind(4, t.max_tries).Run();
      task.Reset();
    }
    Statement tr(*impl_->statements_,
                 "INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, "
                 "reason) VALUES(?1, '', 0, '', ?4, ?2, ?3)");
    tr.Bind(1, run.run_id).Bind(2, run.created_at).Bind(3, run.trigger)
        .Bind(4, std::string(ToString(running ? RunState::kRunning : RunState::kQueued))).Run();
  });
}

bool SqliteStore::AddTaskInstances(const std::string& run_id, const std::string& task_id, const std::string& fence,
                                   const std::vector<NewTaskInstance>& instances) {
  std::lock_guard lock(impl_->mu_);
  return impl_->WriteIf([&] {
    if (!fence.empty()) {
      Statement c(*impl_->statements_, "SELECT coordinator FROM runs WHERE run_id = ?1");
      c.Bind(1, run_id);
      if (!c.Step() || c.Text(0) != fence) return false;
    }
    Statement pos(*impl_->statements_, "SELECT position FROM task_instances WHERE run_id = ?1 AND task_id = ?2");
    pos.Bind(1, run_id).Bind(2, task_id);
    if (!pos.Step()) return false;
    const int64_t position = pos.Int(0);
    Statement ins(*impl_->statements_,
                  "INSERT INTO task_instances(run_id, task_id, position, state, max_tries, map_index, map_item) "
                  "VALUES(?1, ?2, ?3, 'pending', ?4, ?5, ?6) ON CONFLICT DO NOTHING");
    for (const NewTaskInstance& t : instances) {
      ins.Bind(1, run_id).Bind(2, t.task_id).Bind(3, position).Bind(4, t.max_tries);
      ins.Bind(5, t.map_index ? std::optional<int64_t>(*t.map_index) : std::nullopt).Bind(6, t.map_item).Run();
      ins.Reset();
    }
    return true;
  });
}

std::optional<RunRecord> SqliteStore::GetRun(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = ?1"));
  s.Bind(1, run_id);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::vector<RunRecord> SqliteStore::ListRuns(const RunFilter& filter) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, std::string("SELECT ") + kRunColumns + " FROM runs" +
                                       RunFilterWhere(filter, '?') +
                                       " ORDER BY created_at DESC, logical_date DESC, run_id DESC LIMIT ?3 OFFSET ?4");
  s.Bind(1, filter.dag_id).Bind(2, filter.trigger).Bind(3, filter.limit).Bind(4, filter.offset);
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

int64_t SqliteStore::CountRuns(const RunFilter& filter) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT COUNT(*) FROM runs" + RunFilterWhere(filter, '?'));
  s.Bind(1, filter.dag_id).Bind(2, filter.trigger);
  return s.Step() ? s.Int(0) : 0;
}

StateStore::CountsByDagAndState SqliteStore::CountRunsByDagAndState() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT dag_id, state, COUNT(*) FROM runs GROUP BY dag_id, state");
  CountsByDagAndState out;
  while (s.Step()) out[{s.Text(0), s.Text(1)}] = s.Int(2);
  return out;
}

StateStore::CountsByDagAndState SqliteStore::CountTasksByDagAndState() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT r.dag_id, t.state, COUNT(*) FROM task_instances t JOIN runs r ON r.run_id = t.run_id "
              "GROUP BY r.dag_id, t.state");
  CountsByDagAndState out;
  while (s.Step()) out[{s.Text(0), s.Text(1)}] = s.Int(2);
  return out;
}

std::optional<TimePoint> SqliteStore::LastScheduledTick(const std::string& dag_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT MAX(logical_date) FROM runs WHERE dag_id = ?1 AND trigger = 'scheduled'");
  s.Bind(1, dag_id);
  if (!s.Step() || s.IsNull(0)) return std::nullopt;
  return s.Time(0);
}

bool SqliteStore::HasTickRun(const std::string& dag_id, TimePoint logical_date) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT 1 FROM runs WHERE dag_id = ?1 AND logical_date = ?2 AND trigger IN ('scheduled', 'backfill') LIMIT 1");
  s.Bind(1, dag_id).Bind(2, logical_date);
  return s.Step();
}

void SqliteStore::PutMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.Bind(1, key).Bind(2, value).Run();
}

std::optional<std::string> SqliteStore::GetMeta(const std::string& key) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT value FROM meta WHERE key = ?1");
  s.Bind(1, key);
  if (!s.Step()) return std::nullopt;
  return s.Text(0);
}

bool SqliteStore::ClaimRun(const std::string& run_id, const std::string& scheduler, TimePoint now, Duration lease) {
  std::lock_guard lock(impl_->mu_);
  return impl_->WriteIf([&] {
    Statement s(*impl_->statements_,
                "UPDATE runs SET coordinator = ?2, coordinator_until = ?4 WHERE run_id = ?1 AND state = 'running' "
                "AND (coordinator = '' OR coordinator = ?2 OR coordinator_until IS NULL OR coordinator_until <= ?3)");
    s.Bind(1, run_id).Bind(2, scheduler).Bind(3, now).Bind(4, now + lease).Run();
    return sqlite3_changes(impl_->db_) == 1;
  });
}

std::optional<RunRecord> SqliteStore::StartQueuedRun(const std::string& run_id, const std::string& scheduler,
                                                     TimePoint now, Duration lease, int max_active) {
  std::lock_guard lock(impl_->mu_);
  std::optional<RunRecord> out;
  impl_->Write([&] {  // one writer at a time: the count cannot move under it
    Statement q(*impl_->statements_, "SELECT dag_id FROM runs WHERE run_id = ?1 AND state = 'queued'");
    q.Bind(1, run_id);
    if (!q.Step()) return false;
    const std::string dag_id = q.Text(0);
    q.Reset();
    Statement n(*impl_->statements_, "SELECT count(*) FROM runs WHERE dag_id = ?1 AND state = 'running'");
    n.Bind(1, dag_id);
    if (!n.Step() || n.Int(0) >= max_active) return false;
    n.Reset();
    Statement up(*impl_->statements_,
                 "UPDATE runs SET state = 'running', started_at = COALESCE(started_at, ?2), coordinator = ?3, "
                 "coordinator_until = ?4 WHERE run_id = ?1 AND state = 'queued'");
    up.Bind(1, run_id).Bind(2, now).Bind(3, scheduler).Bind(4, now + lease).Run();
    Statement tr(*impl_->statements_,
                 "INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, reason) "
                 "VALUES(?1, '', 0, 'queued', 'running', ?2, '')");
    tr.Bind(1, run_id).Bind(2, now).Run();
    Statement back(*impl_->statements_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = ?1");
    back.Bind(1, run_id);
    if (back.Step()) out = ReadRun(back);
    return true;
  });
  return out;
}

std::vector<RunRecord> SqliteStore::ListOrphanedRuns(TimePoint now, int limit) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              std::string("SELECT ") + kRunColumns +
                  " FROM runs WHERE state = 'running' AND (coordinator = '' OR coordinator_until IS NULL OR "
                  "coordinator_until <= ?1) ORDER BY created_at, run_id LIMIT ?2");
  s.Bind(1, now).Bind(2, limit);
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

std::vector<RunLease> SqliteStore::RenewRuns(const std::string& scheduler, const std::vector<std::string>& run_ids,
                                             TimePoint now, Duration lease) {
  std::vector<RunLease> out;
  if (run_ids.empty()) return out;
  std::lock_guard lock(impl_->mu_);
  impl_->Write([&] {
    Statement s(*impl_->statements_,
                "UPDATE runs SET coordinator_until = ?3 WHERE run_id = ?1 AND coordinator = ?2 "
                "AND state IN ('queued', 'running') RETURNING cancel_requested");
    for (const std::string& id : run_ids) {
      s.Bind(1, id).Bind(2, scheduler).Bind(3, now + lease);
      if (s.Step()) out.push_back({id, s.Int(0) != 0});
      s.Reset();
    }
    return true;
  });
  return out;
}

bool SqliteStore::ReleaseRun(const std::string& run_id, const std::string& scheduler) {
  std::lock_guard lock(impl_->mu_);
  return impl_->WriteIf([&] {
    Statement s(*impl_->statements_,
                "UPDATE runs SET coordinator = '', coordinator_until = NULL WHERE run_id = ?1 AND coordinator = ?2");
    s.Bind(1, run_id).Bind(2, scheduler).Run();
    return sqlite3_changes(impl_->db_) == 1;
  });
}

bool SqliteStore::RequestRunCancel(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  return impl_->WriteIf([&] {
    Statement s(*impl_->statements_,
                "UPDATE runs SET cancel_requested = 1 WHERE run_id = ?1 AND state IN ('queued', 'running')");
    s.Bind(1, run_id).Run();
    return sqlite3_changes(impl_->db_) == 1;
  });
}

bool SqliteStore::TransitionRun(const std::string& run_id, const std::vector<RunState>& from,
                                RunState to, TimePoint at, const std::string& reason) {
  std::lock_guard lock(impl_->mu_);
  return impl_->Write([&] {
    Statement cur(*impl_->statements_, "SELECT state FROM runs WHERE run_id = ?1");
    cur.Bind(1, run_id);
    if (!cur.Step()) return false;
    std::string from_state = cur.Text(0);
    std::string sql = "UPDATE runs SET state = ?2, "
                      "started_at = CASE WHEN ?2 = 'running' AND started_at IS NULL THEN ?3 ELSE started_at END, "
                      "ended_at = CASE WHEN ?2 IN ('success','failed','cancelled') THEN ?3 ELSE ended_at END, "
                      // A cancel request ends with the run; a cleared run starts without one.
                      "cancel_requested = CASE WHEN ?2 IN ('success','failed','cancelled') OR "
                      "state IN ('success','failed','cancelled') THEN 0 ELSE cancel_requested END "
                      "WHERE run_id = ?1 AND state IN (" + StateList(from) + ")";
    Statement up(*impl_->statements_, sql);
    up.Bind(1, run_id).Bind(2, std::string(ToString(to))).Bind(3, at).Run();
    if (sqlite3_changes(impl_->db_) == 0) return false;
    Statement tr(*impl_->statements_,
                 "INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, "
                 "reason) VALUES(?1, '', 0, ?2, ?3, ?4, ?5)");
    tr.Bind(1, run_id).Bind(2, from_state).Bind(3, std::string(ToString(to))).Bind(4, at)
        .Bind(5, reason).Run();
    return true;
  });
}

std::vector<TaskInstanceRecord> SqliteStore::GetTaskInstances(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, (std::string("SELECT ") + kTaskColumns +
                           " FROM task_instances WHERE run_id = ?1 ORDER BY position, COALESCE(map_index, -1)"));
  s.Bind(1, run_id);
  std::vector<TaskInstanceRecord> out;
  while (s.Step()) out.push_back(ReadTaskInstance(s));
  return out;
}

std::optional<TaskInstanceRecord> SqliteStore::GetTaskInstance(const std::string& run_id,
                                                               const std::string& task_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, (std::string("SELECT ") + kTaskColumns +
                           " FROM task_instances WHERE run_id = ?1 AND task_id = ?2"));
  s.Bind(1, run_id).Bind(2, task_id);
  if (!s.Step()) return std::nullopt;
  return ReadTaskInstance(s);
}

namespace {

// One task transition inside the caller's transaction; false (and nothing
// written) when the task is not in one of t.from.
constexpr const char* kInsertWork =
    "INSERT INTO work(run_id, task_id, try_number, queue, state, payload, enqueued_at, prefer, prefer_until) "
    "VALUES(?1, ?2, ?3, ?4, 'ready', ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING";
Statement& BindWork(Statement& put, const WorkItem& item) {
  put.Bind(1, item.run_id).Bind(2, item.task_id).Bind(3, item.try_number).Bind(4, item.queue);
  return put.Bind(5, item.payload).Bind(6, item.enqueued_at).Bind(7, item.prefer).Bind(8, item.prefer_until);
}

bool ApplyTransition(StatementCache& statements, const TaskTransition& t) {
  Statement cur(statements,
                "SELECT state, try_number FROM task_instances WHERE run_id = ?1 AND task_id = ?2");
  cur.Bind(1, t.run_id).Bind(2, t.task_id);
  if (!cur.Step()) return false;
  TaskState from = ReadTaskState(cur.Text(0));
  int try_number = int(cur.Int(1));
  if (std::find(t.from.begin(), t.from.end(), from) == t.from.end()) return false;
  std::string to = std::string(ToString(t.to));
  // A try is open while running or waiting (a sensor between its checks);
  // waiting -> running is the same try's next check, not a new try.
  const bool open_before = from == TaskState::kRunning || from == TaskState::kWaiting;
  const bool open_after = t.to == TaskState::kRunning || t.to == TaskState::kWaiting;
  bool starting = t.to == TaskState::kRunning && from != TaskState::kWaiting;
  if (starting) ++try_number;
  bool ends_try = open_before && !open_after;
  bool goes_on = open_before && open_after && !starting;
  Statement up(statements,
               "UPDATE task_instances SET state = ?3, try_number = ?4, "
               "started_at = CASE WHEN ?5 AND started_at IS NULL THEN ?6 ELSE started_at END, "
               "ended_at = CASE WHEN ?3 IN ('success','failed','upstream_failed','skipped','cancelled') "
               "THEN ?6 ELSE NULL END, next_try_at = ?7, "
               "error = CASE WHEN ?8 = '' AND ?3 <> 'success' THEN error ELSE ?8 END, "
               "metrics = COALESCE(?9, metrics), max_tries = COALESCE(?10, max_tries) "
               "WHERE run_id = ?1 AND task_id = ?2");
  up.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, to).Bind(4, try_number)
      .Bind(5, int64_t{starting}).Bind(6, t.at).Bind(7, t.next_try_at).Bind(8, t.reason)
      .Bind(9, t.metrics_json)
      .Bind(10, t.max_tries).Run();
  if (t.to == TaskState::kSuccess && t.watermark) {
    Statement mark(statements,
                   "INSERT INTO watermarks(dag_id, task_id, value, run_id, updated_at) "
                   "SELECT dag_id, ?2, ?3, ?1, ?4 FROM runs WHERE run_id = ?1 "
                   "ON CONFLICT(dag_id, task_id) DO UPDATE SET value = excluded.value, run_id = excluded.run_id, "
                   "updated_at = excluded.updated_at");
    mark.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, *t.watermark).Bind(4, t.at).Run();
  }
  if (starting) {
    Statement ins(statements,
                  "INSERT INTO task_tries(run_id, task_id, try_number, state, started_at, "
                  "log_path, worker, process) VALUES(?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7)");
    ins.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, try_number).Bind(4, t.at)
        .Bind(5, t.log_path).Bind(6, t.worker)
        .Bind(7, t.process).Run();
  } else if (ends_try) {
    Statement end(statements,
                  "UPDATE task_tries SET state = ?4, ended_at = ?5, exit_code = ?6, error = ?7, "
                  "worker = CASE WHEN ?8 = '' THEN worker ELSE ?8 END, inputs = COALESCE(?9, inputs) "
                  "WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3");
    end.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, try_number).Bind(4, to).Bind(5, t.at)
        .Bind(6, t.exit_code ? std::optional<int64_t>(*t.exit_code) : std::nullopt)
        .Bind(7, t.reason).Bind(8, t.worker).Bind(9, t.inputs_json).Run();
  } else if (goes_on) {
    Statement on(statements,
                 "UPDATE task_tries SET state = ?4 WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3");
    on.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, try_number).Bind(4, to).Run();
  }
  Statement tr(statements,
               "INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, "
               "reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  tr.Bind(1, t.run_id).Bind(2, t.task_id).Bind(3, try_number)
      .Bind(4, std::string(ToString(from))).Bind(5, to).Bind(6, t.at).Bind(7, t.reason).Run();
  return true;
}

}  // namespace

bool SqliteStore::TransitionTask(const TaskTransition& t) { return TransitionTasks({t}); }

bool SqliteStore::TransitionTasks(const std::vector<TaskTransition>& batch) {
  return TransitionTasksAndEnqueue(batch, {});
}

bool SqliteStore::TransitionTasksAndEnqueue(const std::vector<TaskTransition>& batch,
                                            const std::vector<WorkItem>& work) {
  std::unique_lock lock(impl_->mu_);
  bool applied = impl_->WriteIf([&] {
    const std::string* fenced_run = nullptr;  // checked once per run of the batch
    for (const TaskTransition& t : batch) {
      if (!t.fence.empty() && (!fenced_run || *fenced_run != t.run_id)) {
        Statement c(*impl_->statements_, "SELECT coordinator FROM runs WHERE run_id = ?1");
        c.Bind(1, t.run_id);
        if (!c.Step() || c.Text(0) != t.fence) return false;
        fenced_run = &t.run_id;
      }
      if (!ApplyTransition(*impl_->statements_, t)) return false;
    }
    if (!work.empty()) {
      Statement put(*impl_->statements_, kInsertWork);
      for (const WorkItem& item : work) {
        BindWork(put, item).Run();
        put.Reset();
      }
    }
    return true;
  });
  lock.unlock();
  if (applied && !work.empty()) impl_->Notify(kNoticeWork);
  return applied;
}

void SqliteStore::SetTryProcess(const std::string& run_id, const std::string& task_id, int try_number,
                                const std::string& process) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "UPDATE task_tries SET process = ?4 WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3");
  s.Bind(1, run_id).Bind(2, task_id).Bind(3, try_number).Bind(4, process).Run();
}

namespace {

constexpr const char* kTryColumns =
    "run_id, task_id, try_number, state, started_at, ended_at, exit_code, error, log_path, worker, process, inputs";

TaskTryRecord ReadTry(const Statement& s) {
  TaskTryRecord t;
  t.run_id = s.Text(0);
  t.task_id = s.Text(1);
  t.try_number = int(s.Int(2));
  t.state = ReadTaskState(s.Text(3));
  t.started_at = s.Time(4);
  t.ended_at = s.OptTime(5);
  if (!s.IsNull(6)) t.exit_code = int(s.Int(6));
  t.error = s.Text(7);
  t.log_path = s.Text(8);
  t.worker = s.Text(9);
  t.process = s.Text(10);
  t.inputs_json = s.Text(11);
  return t;
}

}  // namespace

std::vector<TaskTryRecord> SqliteStore::GetTries(const std::string& run_id, const std::string& task_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, std::string("SELECT ") + kTryColumns +
                                       " FROM task_tries WHERE run_id = ?1 AND task_id = ?2 ORDER BY try_number");
  s.Bind(1, run_id).Bind(2, task_id);
  std::vector<TaskTryRecord> out;
  while (s.Step()) out.push_back(ReadTry(s));
  return out;
}

std::vector<TaskTryRecord> SqliteStore::GetRunTries(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, std::string("SELECT ") + kTryColumns +
                                       " FROM task_tries WHERE run_id = ?1 ORDER BY task_id, try_number");
  s.Bind(1, run_id);
  std::vector<TaskTryRecord> out;
  while (s.Step()) out.push_back(ReadTry(s));
  return out;
}

std::vector<TransitionRecord> SqliteStore::GetTransitions(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT id, run_id, task_id, try_number, from_state, to_state, at, reason "
              "FROM transitions WHERE run_id = ?1 ORDER BY id");
  s.Bind(1, run_id);
  std::vector<TransitionRecord> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Text(1), s.Text(2), int(s.Int(3)), s.Text(4), s.Text(5), s.Time(6),
                   s.Text(7)});
  }
  return out;
}

std::vector<TransitionRecord> SqliteStore::ListTransitionsAfter(int64_t after_id, int limit) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT t.id, t.run_id, t.task_id, t.try_number, t.from_state, t.to_state, t.at, t.reason, r.dag_id "
              "FROM transitions t JOIN runs r ON r.run_id = t.run_id WHERE t.id > ?1 ORDER BY t.id LIMIT ?2");
  s.Bind(1, after_id).Bind(2, limit);
  std::vector<TransitionRecord> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Text(1), s.Text(2), int(s.Int(3)), s.Text(4), s.Text(5), s.Time(6), s.Text(7),
                   s.Text(8)});
  }
  return out;
}

int64_t SqliteStore::LatestTransitionId() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT COALESCE(MAX(id), 0) FROM transitions");
  return s.Step() ? s.Int(0) : 0;
}

namespace {

// A row of SELECT run_id, task_id, name, uri, schema_json, row_count,
// content_hash, created_at, inputs, cache_key.
ArtifactRecord ArtifactOf(Statement& s) {
  return {s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Int(5), s.Text(6), s.Time(7), s.Text(8), s.Text(9)};
}

}  // namespace

void SqliteStore::PutArtifact(const ArtifactRecord& a) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "INSERT INTO artifacts(run_id, task_id, name, uri, schema_json, row_count, "
              "content_hash, created_at, inputs, cache_key) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
              "ON CONFLICT(run_id, task_id, name) DO UPDATE SET uri = excluded.uri, "
              "schema_json = excluded.schema_json, row_count = excluded.row_count, "
              "content_hash = excluded.content_hash, created_at = excluded.created_at, "
              "inputs = excluded.inputs, cache_key = excluded.cache_key");
  s.Bind(1, a.run_id).Bind(2, a.task_id).Bind(3, a.name).Bind(4, a.uri).Bind(5, a.schema_json)
      .Bind(6, a.row_count).Bind(7, a.content_hash).Bind(8, a.created_at).Bind(9, a.inputs_json)
      .Bind(10, a.cache_key).Run();
}

std::vector<ArtifactRecord> SqliteStore::ListArtifacts(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT run_id, task_id, name, uri, schema_json, row_count, content_hash, created_at, inputs, "
              "cache_key FROM artifacts WHERE run_id = ?1 ORDER BY task_id, name");
  s.Bind(1, run_id);
  std::vector<ArtifactRecord> out;
  while (s.Step()) {
    out.push_back(ArtifactOf(s));
  }
  return out;
}

std::vector<ArtifactRecord> SqliteStore::LatestSuccessArtifacts(const std::string& dag_id, const std::string& name) {
  std::lock_guard lock(impl_->mu_);
  // With MAX(), SQLite takes the other (bare) columns from the row holding the maximum.
  Statement s(*impl_->statements_,
              "SELECT a.run_id, a.task_id, a.name, a.uri, a.schema_json, a.row_count, a.content_hash, "
              "MAX(a.created_at), a.inputs, a.cache_key FROM runs r JOIN artifacts a ON a.run_id = r.run_id "
              "WHERE r.dag_id = ?1 AND r.state = 'success' AND a.name = ?2 GROUP BY a.task_id ORDER BY a.task_id");
  s.Bind(1, dag_id).Bind(2, name);
  std::vector<ArtifactRecord> out;
  while (s.Step()) out.push_back(ArtifactOf(s));
  return out;
}

void SqliteStore::AddNotification(const NotificationRecord& n) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "INSERT INTO notifications(dag_id, run_id, task_id, event, target, delivered, attempts, error, at) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  s.Bind(1, n.dag_id).Bind(2, n.run_id).Bind(3, n.task_id).Bind(4, n.event).Bind(5, n.target)
      .Bind(6, int64_t{n.delivered ? 1 : 0}).Bind(7, int64_t{n.attempts}).Bind(8, n.error).Bind(9, n.at).Run();
}

std::vector<NotificationRecord> SqliteStore::ListNotifications(const std::string& dag_id, const std::string& run_id,
                                                               int limit) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT id, dag_id, run_id, task_id, event, target, delivered, attempts, error, at FROM notifications "
              "WHERE (?1 = '' OR dag_id = ?1) AND (?2 = '' OR run_id = ?2) ORDER BY id DESC LIMIT ?3");
  s.Bind(1, dag_id).Bind(2, run_id).Bind(3, int64_t{limit});
  std::vector<NotificationRecord> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Int(6) != 0,
                   static_cast<int>(s.Int(7)), s.Text(8), s.Time(9)});
  }
  return out;
}

std::optional<TaskSuccess> SqliteStore::LatestSuccess(const std::string& dag_id, const std::string& task_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT t.run_id, t.ended_at FROM task_instances t JOIN runs r ON r.run_id = t.run_id "
              "WHERE t.task_id = ?2 AND t.state = 'success' AND r.dag_id = ?1 ORDER BY t.ended_at DESC LIMIT 1");
  s.Bind(1, dag_id).Bind(2, task_id);
  if (!s.Step()) return std::nullopt;
  return TaskSuccess{s.Text(0), s.Time(1)};
}

bool SqliteStore::AddSlaMiss(const SlaMissRecord& m) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "INSERT INTO sla_misses(run_id, task_id, dag_id, due, detected_at, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
              "ON CONFLICT DO NOTHING");
  s.Bind(1, m.run_id).Bind(2, m.task_id).Bind(3, m.dag_id).Bind(4, m.due).Bind(5, m.detected_at).Bind(6, m.state).Run();
  return sqlite3_changes(impl_->db_) == 1;
}

std::vector<SlaMissRecord> SqliteStore::ListSlaMisses(const std::string& dag_id, const std::string& run_id, int limit) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT dag_id, run_id, task_id, due, detected_at, state FROM sla_misses "
              "WHERE (?1 = '' OR dag_id = ?1) AND (?2 = '' OR run_id = ?2) "
              "ORDER BY detected_at DESC, run_id DESC, task_id LIMIT ?3");
  s.Bind(1, dag_id).Bind(2, run_id).Bind(3, int64_t{limit});
  std::vector<SlaMissRecord> out;
  while (s.Step()) out.push_back({s.Text(0), s.Text(1), s.Text(2), s.Time(3), s.Time(4), s.Text(5)});
  return out;
}

StateStore::CountsByDagAndState SqliteStore::CountSlaMisses() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT dag_id, task_id, COUNT(*) FROM sla_misses GROUP BY dag_id, task_id");
  CountsByDagAndState out;
  while (s.Step()) out[{s.Text(0), s.Text(1)}] = s.Int(2);
  return out;
}

std::vector<ArtifactRecord> SqliteStore::FindCachedArtifacts(const std::string& cache_key, TimePoint not_before) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT a.run_id, a.task_id, a.name, a.uri, a.schema_json, a.row_count, a.content_hash, a.created_at, "
              "a.inputs, a.cache_key FROM artifacts a JOIN ("
              "  SELECT c.run_id, c.task_id FROM artifacts c JOIN task_instances t "
              "    ON t.run_id = c.run_id AND t.task_id = c.task_id AND t.state = 'success' "
              "  WHERE c.cache_key = ?1 AND c.created_at >= ?2 ORDER BY c.created_at DESC LIMIT 1"
              ") newest ON a.run_id = newest.run_id AND a.task_id = newest.task_id "
              "WHERE a.cache_key = ?1 ORDER BY a.name");
  s.Bind(1, cache_key).Bind(2, not_before);
  std::vector<ArtifactRecord> out;
  while (s.Step()) {
    out.push_back(ArtifactOf(s));
  }
  return out;
}

}  // namespace pipeline

// ------------------------------------------------------------ model registry
namespace pipeline {

namespace {

constexpr const char* kModelColumns =
    "name, version, model_type, kind, uri, format, content_hash, target, features, transforms, params, "
    "metrics, importance, lineage, created_at";

ModelVersionRecord ReadModelVersion(Statement& s) {
  ModelVersionRecord v;
  v.name = s.Text(0);
  v.version = int(s.Int(1));
  v.model_type = s.Text(2);
  v.kind = s.Text(3);
  v.uri = s.Text(4);
  v.format = s.Text(5);
  v.content_hash = s.Text(6);
  v.target = s.Text(7);
  v.features_json = s.Text(8);
  v.transforms_json = s.Text(9);
  v.params_json = s.Text(10);
  v.metrics_json = s.Text(11);
  v.importance_json = s.Text(12);
  v.lineage_json = s.Text(13);
  v.created_at = s.Time(14);
  return v;
}

std::vector<ModelAliasRecord> ReadAliases(Statement& s) {
  std::vector<ModelAliasRecord> out;
  while (s.Step()) out.push_back({s.Text(0), s.Text(1), int(s.Int(2)), s.Time(3)});
  return out;
}

}  // namespace

int SqliteStore::CreateModelVersion(const ModelVersionRecord& v) {
  std::lock_guard lock(impl_->mu_);
  return impl_->Write([&] {
    Statement next(*impl_->statements_, "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?1");
    next.Bind(1, v.name);
    next.Step();
    int version = int(next.Int(0));
    Statement ins(*impl_->statements_,
                  std::string("INSERT INTO model_versions(") + kModelColumns +
                      ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    ins.Bind(1, v.name).Bind(2, version).Bind(3, v.model_type).Bind(4, v.kind).Bind(5, v.uri).Bind(6, v.format)
        .Bind(7, v.content_hash).Bind(8, v.target).Bind(9, v.features_json).Bind(10, v.transforms_json)
        .Bind(11, v.params_json).Bind(12, v.metrics_json).Bind(13, v.importance_json).Bind(14, v.lineage_json)
        .Bind(15, v.created_at).Run();
    return version;
  });
}

std::vector<ModelSummary> SqliteStore::ListModels() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT name, MAX(version), COUNT(*), MIN(created_at), MAX(created_at) FROM model_versions "
              "GROUP BY name ORDER BY name");
  std::vector<ModelSummary> out;
  while (s.Step()) {
    ModelSummary m;
    m.name = s.Text(0);
    m.latest_version = int(s.Int(1));
    m.version_count = int(s.Int(2));
    m.created_at = s.Time(3);
    m.updated_at = s.Time(4);
    out.push_back(std::move(m));
  }
  Statement a(*impl_->statements_, "SELECT name, alias, version, set_at FROM model_aliases ORDER BY name, alias");
  std::vector<ModelAliasRecord> aliases = ReadAliases(a);
  for (ModelSummary& m : out) {
    for (const ModelAliasRecord& r : aliases) {
      if (r.name == m.name) m.aliases.push_back(r);
    }
  }
  return out;
}

std::vector<ModelVersionRecord> SqliteStore::ListModelVersions(const std::string& name) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              std::string("SELECT ") + kModelColumns + " FROM model_versions WHERE name = ?1 ORDER BY version DESC");
  s.Bind(1, name);
  std::vector<ModelVersionRecord> out;
  while (s.Step()) out.push_back(ReadModelVersion(s));
  return out;
}

std::optional<ModelVersionRecord> SqliteStore::GetModelVersion(const std::string& name, int version) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              std::string("SELECT ") + kModelColumns + " FROM model_versions WHERE name = ?1 AND version = ?2");
  s.Bind(1, name).Bind(2, version);
  if (!s.Step()) return std::nullopt;
  return ReadModelVersion(s);
}

StateStore::AliasSet SqliteStore::SetModelAliasIf(const std::string& name, const std::string& alias,
                                                  std::optional<int> expected, int version, TimePoint at) {
  std::lock_guard lock(impl_->mu_);
  AliasSet outcome = AliasSet::kSet;
  impl_->WriteIf([&] {
    Statement exists(*impl_->statements_, "SELECT 1 FROM model_versions WHERE name = ?1 AND version = ?2");
    exists.Bind(1, name).Bind(2, version);
    if (!exists.Step()) {
      outcome = AliasSet::kNoSuchVersion;
      return false;
    }
    Statement current(*impl_->statements_, "SELECT version FROM model_aliases WHERE name = ?1 AND alias = ?2");
    current.Bind(1, name).Bind(2, alias);
    const int now = current.Step() ? int(current.Int(0)) : 0;
    if (expected && *expected != now) {
      outcome = AliasSet::kMovedMeanwhile;
      return false;
    }
    // Already there: nothing changes, and the history gets no entry.
    if (now == version) return true;
    Statement put(*impl_->statements_,
                  "INSERT INTO model_aliases(name, alias, version, set_at) VALUES(?1, ?2, ?3, ?4) "
                  "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, set_at = excluded.set_at");
    put.Bind(1, name).Bind(2, alias).Bind(3, version).Bind(4, at).Run();
    Statement log(*impl_->statements_,
                  "INSERT INTO model_alias_history(name, alias, version, set_at) VALUES(?1, ?2, ?3, ?4)");
    log.Bind(1, name).Bind(2, alias).Bind(3, version).Bind(4, at).Run();
    return true;
  });
  return outcome;
}

std::vector<ModelAliasRecord> SqliteStore::GetModelAliases(const std::string& name) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT name, alias, version, set_at FROM model_aliases WHERE name = ?1 ORDER BY alias");
  s.Bind(1, name);
  return ReadAliases(s);
}

std::vector<ModelAliasRecord> SqliteStore::GetModelAliasHistory(const std::string& name) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT name, alias, version, set_at FROM model_alias_history WHERE name = ?1 ORDER BY id");
  s.Bind(1, name);
  return ReadAliases(s);
}

namespace {

WorkRecord ReadWork(const Statement& s) {
  WorkRecord w;
  w.item.run_id = s.Text(0);
  w.item.task_id = s.Text(1);
  w.item.try_number = int(s.Int(2));
  w.item.queue = s.Text(3);
  w.item.payload = s.Text(4);
  w.item.enqueued_at = s.Time(5);
  w.state = s.Text(6);
  w.worker = s.Text(7);
  w.lease_until = s.OptTime(8);
  w.result = s.Text(9);
  w.ended_at = s.OptTime(10);
  w.cancel_requested = s.Int(11) != 0;
  w.claimed_at = s.OptTime(12);
  return w;
}

constexpr const char* kWorkColumns =
    "run_id, task_id, try_number, queue, payload, enqueued_at, state, worker, lease_until, result, ended_at, "
    "cancel_requested, claimed_at";
// The claim is still held: its row, its worker, its lease as last granted.
constexpr const char* kHeld =
    "run_id = ?1 AND task_id = ?2 AND try_number = ?3 AND state = 'claimed' AND worker = ?4 AND lease_until = ?5";

}  // namespace

void SqliteStore::EnqueueWork(const WorkItem& item) {
  {
    std::lock_guard lock(impl_->mu_);
    impl_->Write([&] {
      Statement put(*impl_->statements_, kInsertWork);
      BindWork(put, item).Run();
      return true;
    });
  }
  impl_->Notify(kNoticeWork);
}

std::vector<WorkClaim> SqliteStore::ClaimWork(const std::string& worker, const std::vector<std::string>& queues,
                                              int max, TimePoint now, Duration lease) {
  std::vector<WorkClaim> out;
  if (max <= 0 || queues.empty()) return out;
  std::lock_guard lock(impl_->mu_);
  impl_->Write([&] {  // one writer at a time: no two claims can see the same ready row
    std::string in;
    for (size_t i = 0; i < queues.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(i + 2);
    const int me = int(queues.size()) + 2;  // ?me: this worker; ?me+1: now
    const std::string at_me = "?" + std::to_string(me), at_now = "?" + std::to_string(me + 1);
    Statement pick(*impl_->statements_, "SELECT run_id, task_id, try_number, queue, payload, enqueued_at FROM work "
                                        "WHERE state = 'ready' AND queue IN (" + in + ") AND (" +
                                        PreferenceAllows(at_me, at_now) + ") "
                                        "ORDER BY enqueued_at, run_id, task_id, try_number LIMIT ?1");
    pick.Bind(1, max);
    for (size_t i = 0; i < queues.size(); ++i) pick.Bind(int(i + 2), queues[i]);
    pick.Bind(me, worker).Bind(me + 1, now);
    while (pick.Step()) {
      WorkClaim c;
      c.item.run_id = pick.Text(0);
      c.item.task_id = pick.Text(1);
      c.item.try_number = int(pick.Int(2));
      c.item.queue = pick.Text(3);
      c.item.payload = pick.Text(4);
      c.item.enqueued_at = pick.Time(5);
      c.worker = worker;
      c.lease_until = now + lease;
      out.push_back(std::move(c));
    }
    pick.Reset();
    for (const WorkClaim& c : out) {
      Statement take(*impl_->statements_,
                     "UPDATE work SET state = 'claimed', worker = ?4, lease_until = ?5, claimed_at = ?6 "
                     "WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3 AND state = 'ready'");
      take.Bind(1, c.item.run_id).Bind(2, c.item.task_id).Bind(3, c.item.try_number).Bind(4, worker);
      take.Bind(5, c.lease_until).Bind(6, now).Run();
    }
    return true;
  });
  return out;
}

bool SqliteStore::RenewWork(WorkClaim& claim, TimePoint now, Duration lease) {
  if (claim.lease_until <= now) return false;  // ran out: another may have it already
  std::lock_guard lock(impl_->mu_);
  const TimePoint until = now + lease;
  bool cancel = false;
  bool renewed = impl_->WriteIf([&] {
    Statement s(*impl_->statements_,
                std::string("UPDATE work SET lease_until = ?6 WHERE ") + kHeld + " RETURNING cancel_requested");
    s.Bind(1, claim.item.run_id).Bind(2, claim.item.task_id).Bind(3, claim.item.try_number).Bind(4, claim.worker);
    s.Bind(5, claim.lease_until).Bind(6, until);
    if (!s.Step()) return false;
    cancel = s.Int(0) != 0;
    s.Reset();
    return true;
  });
  if (renewed) {
    claim.lease_until = until;
    claim.cancel_requested = cancel;
  }
  return renewed;
}

bool SqliteStore::FinishWork(const WorkClaim& claim, const std::string& result_json, TimePoint at) {
  bool finished;
  {
    std::lock_guard lock(impl_->mu_);
    finished = impl_->WriteIf([&] {
      Statement s(*impl_->statements_,
                  std::string("UPDATE work SET state = 'done', result = ?6, ended_at = ?7 WHERE ") + kHeld);
      s.Bind(1, claim.item.run_id).Bind(2, claim.item.task_id).Bind(3, claim.item.try_number).Bind(4, claim.worker);
      s.Bind(5, claim.lease_until).Bind(6, result_json).Bind(7, at).Run();
      return sqlite3_changes(impl_->db_) == 1;
    });
  }
  if (finished) impl_->Notify(kNoticeDone);
  return finished;
}

bool SqliteStore::CancelWork(const WorkKey& key, const std::string& result_json, TimePoint at) {
  std::string was;
  {
    std::lock_guard lock(impl_->mu_);
    impl_->Write([&] {
      Statement s(*impl_->statements_,
                  "UPDATE work SET cancel_requested = 1, "
                  "result = CASE WHEN state = 'ready' THEN ?4 ELSE result END, "
                  "ended_at = CASE WHEN state = 'ready' THEN ?5 ELSE ended_at END, "
                  "state = CASE WHEN state = 'ready' THEN 'done' ELSE state END "
                  "WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3 AND state IN ('ready', 'claimed') "
                  "AND cancel_requested = 0 RETURNING state");
      s.Bind(1, key.run_id).Bind(2, key.task_id).Bind(3, key.try_number).Bind(4, result_json).Bind(5, at);
      if (s.Step()) was = s.Text(0);
      s.Reset();
      return true;
    });
  }
  if (was.empty()) return false;
  impl_->Notify(was == "done" ? kNoticeDone : kNoticeCancel);
  return true;
}

bool SqliteStore::ReleaseWork(const WorkClaim& claim) {
  bool released;
  {
    std::lock_guard lock(impl_->mu_);
    released = impl_->WriteIf([&] {
      Statement s(*impl_->statements_,
                  std::string("UPDATE work SET state = 'ready', worker = '', lease_until = NULL WHERE ") + kHeld);
      s.Bind(1, claim.item.run_id).Bind(2, claim.item.task_id).Bind(3, claim.item.try_number).Bind(4, claim.worker);
      s.Bind(5, claim.lease_until).Run();
      return sqlite3_changes(impl_->db_) == 1;
    });
  }
  if (released) impl_->Notify(kNoticeWork);
  return released;
}

std::vector<WorkItem> SqliteStore::ReapExpiredWork(TimePoint now) {
  std::vector<WorkItem> out;
  std::lock_guard lock(impl_->mu_);
  impl_->Write([&] {
    Statement s(*impl_->statements_,
                "UPDATE work SET state = 'lost', ended_at = ?1 WHERE state = 'claimed' AND lease_until <= ?1 "
                "RETURNING run_id, task_id, try_number, queue, payload, enqueued_at");
    s.Bind(1, now);
    while (s.Step()) out.push_back({s.Text(0), s.Text(1), int(s.Int(2)), s.Text(3), s.Text(4), s.Time(5)});
    return true;
  });
  std::sort(out.begin(), out.end(), [](const WorkItem& a, const WorkItem& b) {
    return std::tie(a.run_id, a.task_id, a.try_number) < std::tie(b.run_id, b.task_id, b.try_number);
  });
  if (!out.empty()) impl_->Notify(kNoticeDone);
  return out;
}

std::optional<WorkRecord> SqliteStore::GetWork(const std::string& run_id, const std::string& task_id, int try_number) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, std::string("SELECT ") + kWorkColumns +
                                       " FROM work WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3");
  s.Bind(1, run_id).Bind(2, task_id).Bind(3, try_number);
  if (!s.Step()) return std::nullopt;
  return ReadWork(s);
}

std::vector<WorkRecord> SqliteStore::ListWork(const std::string& run_id) {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              std::string("SELECT ") + kWorkColumns + " FROM work WHERE run_id = ?1 ORDER BY task_id, try_number");
  s.Bind(1, run_id);
  std::vector<WorkRecord> out;
  while (s.Step()) out.push_back(ReadWork(s));
  return out;
}

std::vector<WorkRecord> SqliteStore::ListEndedWork(const std::vector<WorkKey>& keys) {
  std::lock_guard lock(impl_->mu_);
  std::vector<WorkRecord> out;
  Statement s(*impl_->statements_, std::string("SELECT ") + kWorkColumns +
                                       " FROM work WHERE run_id = ?1 AND task_id = ?2 AND try_number = ?3 "
                                       "AND state IN ('done', 'lost')");
  for (const WorkKey& key : keys) {
    s.Bind(1, key.run_id).Bind(2, key.task_id).Bind(3, key.try_number);
    if (s.Step()) out.push_back(ReadWork(s));
    s.Reset();
  }
  return out;
}

void SqliteStore::PutWorker(const WorkerRecord& w) {
  std::lock_guard lock(impl_->mu_);
  impl_->Write([&] {
    Statement s(*impl_->statements_,
                "INSERT INTO workers(name, queues, slots, running, started_at, last_seen, live_until) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO UPDATE SET queues = excluded.queues, "
                "slots = excluded.slots, running = excluded.running, started_at = excluded.started_at, "
                "last_seen = excluded.last_seen, live_until = excluded.live_until");
    s.Bind(1, w.name).Bind(2, nlohmann::json(w.queues).dump()).Bind(3, w.slots).Bind(4, w.running);
    s.Bind(5, w.started_at).Bind(6, w.last_seen).Bind(7, w.live_until).Run();
  });
}

std::vector<WorkerRecord> SqliteStore::ListWorkers() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_,
              "SELECT name, queues, slots, running, started_at, last_seen, live_until FROM workers ORDER BY name");
  std::vector<WorkerRecord> out;
  while (s.Step()) {
    WorkerRecord w;
    w.name = s.Text(0);
    w.queues = nlohmann::json::parse(s.Text(1)).get<std::vector<std::string>>();
    w.slots = int(s.Int(2));
    w.running = int(s.Int(3));
    w.started_at = s.Time(4);
    w.last_seen = s.Time(5);
    w.live_until = s.Time(6);
    out.push_back(std::move(w));
  }
  return out;
}

std::map<std::string, int64_t> SqliteStore::CountReadyWork() {
  std::lock_guard lock(impl_->mu_);
  Statement s(*impl_->statements_, "SELECT queue, count(*) FROM work WHERE state = 'ready' GROUP BY queue");
  std::map<std::string, int64_t> out;
  while (s.Step()) out[s.Text(0)] = s.Int(1);
  return out;
}

unsigned SqliteStore::WaitForNotice(unsigned channels, Duration timeout) {
  std::unique_lock lock(impl_->notice_mu_);
  auto pending = [&] {
    unsigned got = 0;
    for (int i = 0; i < Impl::kNoticeChannels; ++i) {
      if ((channels >> i & 1) && impl_->notices_[i] != impl_->seen_[i]) got |= 1u << i;
    }
    return got;
  };
  impl_->notice_cv_.wait_for(lock, timeout, [&] { return pending() != 0; });
  unsigned got = pending();
  for (int i = 0; i < Impl::kNoticeChannels; ++i) {
    if (got >> i & 1) impl_->seen_[i] = impl_->notices_[i];
  }
  return got;
}

// Notices carry nothing here (one process): every awaited item is looked at.
std::vector<WorkKey> SqliteStore::TakeEndedNotices(bool* complete) {
  *complete = false;
  return {};
}

}  // namespace pipeline
