// The shared backend. A small pool of connections (one per concurrent
// operation); reconnects with backoff when the server goes away. pqxx errors
// become pipeline::Error here and never leave this file.

#include "store/postgres_store.h"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/dag_spec.h"
#include "core/error.h"
#include "store/sql_filter.h"

namespace pipeline {

namespace {

// The transition function, at its latest text. Version 2 created it,
// version 3 added the `process` of a try, version 6 the worker that ended a
// try, version 7 the fence, version 9 the watermark, version 13 the `waiting` state (a sensor's
// try stays open between its checks), version 17 what an ending try read; Migrate installs this text after any step (CREATE OR REPLACE).
const char* const kTransitionFunction = R"sql(
CREATE OR REPLACE FUNCTION pipe_transition_tasks(batch jsonb, retry boolean) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  t jsonb;
  v_run text;
  v_task text;
  v_state text;  -- the task's state as the batch moves it
  v_try integer;
  v_to text;
  v_at bigint;
  v_starting boolean;
  l_run text[] := '{}';
  l_task text[] := '{}';
  l_try integer[] := '{}';
  l_from text[] := '{}';
  l_to text[] := '{}';
  l_at bigint[] := '{}';
  l_reason text[] := '{}';
BEGIN
  IF retry AND NOT EXISTS (
      SELECT 1
      FROM (SELECT DISTINCT ON (e->>'run', e->>'task') e->>'run' AS run, e->>'task' AS task, e->>'to' AS final
            FROM jsonb_array_elements(batch) WITH ORDINALITY AS x(e, n)
            ORDER BY e->>'run', e->>'task', n DESC) f
      LEFT JOIN task_instances i ON i.run_id = f.run AND i.task_id = f.task
      WHERE i.state IS DISTINCT FROM f.final) THEN
    RETURN true;
  END IF;
  FOR t IN SELECT e FROM jsonb_array_elements(batch) AS x(e) LOOP
    -- Consecutive moves of one task lock and read its row once.
    IF v_task IS DISTINCT FROM t->>'task' OR v_run IS DISTINCT FROM t->>'run' THEN
      IF COALESCE(t->>'fence', '') <> '' AND v_run IS DISTINCT FROM t->>'run' AND NOT EXISTS (
          SELECT 1 FROM runs WHERE run_id = t->>'run' AND coordinator = t->>'fence') THEN
        RAISE EXCEPTION 'run % is coordinated by another scheduler than %', t->>'run', t->>'fence'
          USING ERRCODE = 'PX001';
      END IF;
      v_run := t->>'run';
      v_task := t->>'task';
      SELECT state, try_number INTO v_state, v_try FROM task_instances
        WHERE run_id = v_run AND task_id = v_task FOR UPDATE;
    END IF;
    IF v_state IS NULL OR NOT (t->'from' ? v_state) THEN
      RAISE EXCEPTION 'task % of run % is %, not one of %', v_task, v_run, v_state, t->'from'
        USING ERRCODE = 'PX001';
    END IF;
    v_to := t->>'to';
    v_at := (t->>'at')::bigint;
    -- waiting -> running is a sensor's next check: the same try.
    v_starting := v_to = 'running' AND v_state <> 'waiting';
    IF v_starting THEN
      v_try := v_try + 1;
    END IF;
    UPDATE task_instances SET state = v_to, try_number = v_try,
        started_at = CASE WHEN v_starting AND started_at IS NULL THEN v_at ELSE started_at END,
        ended_at = CASE WHEN (t->>'terminal')::boolean THEN v_at ELSE NULL END,
        next_try_at = (t->>'next_try_at')::bigint,
        error = CASE WHEN t->>'reason' = '' AND v_to <> 'success' THEN error ELSE t->>'reason' END,
        metrics = COALESCE(t->>'metrics', metrics),
        max_tries = COALESCE((t->>'max_tries')::integer, max_tries)
      WHERE run_id = v_run AND task_id = v_task;
    IF v_to = 'success' AND jsonb_typeof(t->'watermark') = 'string' THEN
      INSERT INTO watermarks(dag_id, task_id, value, run_id, updated_at)
        SELECT dag_id, v_task, t->>'watermark', v_run, v_at FROM runs WHERE run_id = v_run
      ON CONFLICT (dag_id, task_id) DO UPDATE SET value = EXCLUDED.value, run_id = EXCLUDED.run_id,
        updated_at = EXCLUDED.updated_at;
    END IF;
    IF v_starting THEN
      INSERT INTO task_tries(run_id, task_id, try_number, state, started_at, log_path, worker, process)
        VALUES (v_run, v_task, v_try, 'running', v_at, t->>'log_path', t->>'worker', COALESCE(t->>'process', ''));
    ELSIF v_state IN ('running', 'waiting') AND v_to NOT IN ('running', 'waiting') THEN
      UPDATE task_tries SET state = v_to, ended_at = v_at, exit_code = (t->>'exit_code')::integer,
          error = t->>'reason', worker = COALESCE(NULLIF(t->>'worker', ''), worker),
          inputs = COALESCE(t->>'inputs', inputs)
        WHERE run_id = v_run AND task_id = v_task AND try_number = v_try;
    ELSIF v_state IN ('running', 'waiting') THEN
      UPDATE task_tries SET state = v_to WHERE run_id = v_run AND task_id = v_task AND try_number = v_try;
    END IF;
    l_run := l_run || v_run;
    l_task := l_task || v_task;
    l_try := l_try || v_try;
    l_from := l_from || v_state;
    l_to := l_to || v_to;
    l_at := l_at || v_at;
    l_reason := l_reason || (t->>'reason');
    v_state := v_to;
  END LOOP;
  -- The state log, in the batch's order, in one statement.
  INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, reason)
    SELECT r, k, n, f, o, a, w FROM unnest(l_run, l_task, l_try, l_from, l_to, l_at, l_reason)
      WITH ORDINALITY AS x(r, k, n, f, o, a, w, i)
    ORDER BY i;
  RETURN true;
END
$fn$;
)sql";

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE dags (
  dag_id TEXT PRIMARY KEY,
  latest_version INTEGER NOT NULL,
  paused BOOLEAN NOT NULL DEFAULT FALSE,
  file TEXT NOT NULL,
  schedule TEXT,
  updated_at BIGINT NOT NULL
);
CREATE TABLE dag_versions (
  dag_id TEXT NOT NULL REFERENCES dags(dag_id),
  version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  file TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (dag_id, version)
);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  dag_id TEXT NOT NULL,
  dag_version INTEGER NOT NULL,
  state TEXT NOT NULL,
  trigger TEXT NOT NULL,
  logical_date BIGINT NOT NULL,
  data_interval_start BIGINT NOT NULL,
  data_interval_end BIGINT NOT NULL,
  params TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  ended_at BIGINT
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
  started_at BIGINT,
  ended_at BIGINT,
  next_try_at BIGINT,
  error TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, task_id)
);
CREATE TABLE task_tries (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  state TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  exit_code INTEGER,
  error TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL,
  worker TEXT NOT NULL,
  process TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, task_id, try_number)
);
CREATE TABLE transitions (
  id BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  at BIGINT NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX transitions_by_run ON transitions(run_id, id);
CREATE TABLE artifacts (
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  uri TEXT NOT NULL,
  schema_json TEXT NOT NULL,
  row_count BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, task_id, name)
);
)sql",
    // Version 2: a batch of task transitions in one statement (one round trip,
    // one implicit transaction). Each is a compare-and-set on the task's row
    // (locked FOR UPDATE); a task not in an expected state raises PX001, which
    // undoes the whole batch. `retry`: the call is repeated after a lost
    // connection, so the first one may have committed: when every task of
    // the batch is already in its last target state, nothing more is done.
    kTransitionFunction,
    // Version 3: the function also records a try's process when the batch
    // knows it at the start (a warm start).
    kTransitionFunction,
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
  id BIGSERIAL PRIMARY KEY,
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
    // Version 6: a coordinator asks a worker to stop a try; a try records
    // the worker that ended it (the transition function).
    R"sql(
ALTER TABLE work ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
)sql",
    // Version 7: run leases of active-active schedulers; the transition
    // function refuses a batch whose `fence` is not the run's coordinator.
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
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX runs_running ON runs(created_at) WHERE state = 'running';
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
    // Version 9: high-water marks of incremental tasks, by DAG and task (the
    // function, installed after any step, stores them with a success).
    R"sql(
CREATE TABLE watermarks (
  dag_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  value TEXT NOT NULL,
  run_id TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
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
  id BIGSERIAL PRIMARY KEY,
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  event TEXT NOT NULL,
  target TEXT NOT NULL,
  delivered BOOLEAN NOT NULL,
  attempts INTEGER NOT NULL,
  error TEXT NOT NULL,
  at BIGINT NOT NULL
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
    // Version 13: the `waiting` state (sensors): the transition function again.
    kTransitionFunction,
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
    // Version 17: what each try read (lineage through a task that persists
    // nothing); the transition function stores it.
    "ALTER TABLE task_tries ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]';",
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion);

// An arbitrary constant naming the advisory lock that serialises migrations.
constexpr int64_t kMigrationLock = 0x70697065;  // "pipe"

// Thrown inside a transaction to roll it back and report "not applied".
struct Undo {};

TimePoint Time(const pqxx::field& f) { return FromMicros(f.as<int64_t>()); }
std::optional<TimePoint> OptTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return Time(f);
}

TaskState ReadTaskState(const pqxx::field& f) {
  auto s = ParseTaskState(f.as<std::string>());
  if (!s) throw Error::Corruption("unknown task state '" + f.as<std::string>() + "' in the store");
  return *s;
}

RunState ReadRunState(const pqxx::field& f) {
  auto s = ParseRunState(f.as<std::string>());
  if (!s) throw Error::Corruption("unknown run state '" + f.as<std::string>() + "' in the store");
  return *s;
}

constexpr const char* kDagColumns = "dag_id, latest_version, paused, file, schedule, updated_at";
DagRecord ReadDag(const pqxx::row& r) {
  DagRecord d;
  d.dag_id = r[0].as<std::string>();
  d.latest_version = r[1].as<int>();
  d.paused = r[2].as<bool>();
  d.file = r[3].as<std::string>();
  if (!r[4].is_null()) d.schedule = r[4].as<std::string>();
  d.updated_at = Time(r[5]);
  return d;
}

constexpr const char* kRunColumns =
    "run_id, dag_id, dag_version, state, trigger, logical_date, data_interval_start, "
    "data_interval_end, params, created_at, started_at, ended_at, coordinator, coordinator_until, cancel_requested, "
    "upstream, rerun_of, triggered_by";
RunRecord ReadRun(const pqxx::row& r) {
  RunRecord run;
  run.run_id = r[0].as<std::string>();
  run.dag_id = r[1].as<std::string>();
  run.dag_version = r[2].as<int>();
  run.state = ReadRunState(r[3]);
  run.trigger = r[4].as<std::string>();
  run.logical_date = Time(r[5]);
  run.data_interval_start = Time(r[6]);
  run.data_interval_end = Time(r[7]);
  run.params_json = r[8].as<std::string>();
  run.created_at = Time(r[9]);
  run.started_at = OptTime(r[10]);
  run.ended_at = OptTime(r[11]);
  run.coordinator = r[12].as<std::string>();
  run.coordinator_until = OptTime(r[13]);
  run.cancel_requested = r[14].as<bool>();
  run.upstream_json = r[15].as<std::string>();
  run.rerun_of = r[16].as<std::string>();
  run.triggered_by = r[17].as<std::string>();
  return run;
}

constexpr const char* kTaskColumns =
    "run_id, task_id, state, try_number, max_tries, started_at, ended_at, next_try_at, error, "
    "metrics, map_index, map_item";
TaskInstanceRecord ReadTaskInstance(const pqxx::row& r) {
  TaskInstanceRecord t;
  t.run_id = r[0].as<std::string>();
  t.task_id = r[1].as<std::string>();
  t.state = ReadTaskState(r[2]);
  t.try_number = r[3].as<int>();
  t.max_tries = r[4].as<int>();
  t.started_at = OptTime(r[5]);
  t.ended_at = OptTime(r[6]);
  t.next_try_at = OptTime(r[7]);
  t.error = r[8].as<std::string>();
  t.metrics_json = r[9].as<std::string>();
  if (!r[10].is_null()) t.map_index = r[10].as<int>();
  t.map_item = r[11].as<std::string>();
  return t;
}

template <typename E>
bool Contains(const std::vector<E>& list, E value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// One task transition in the caller's transaction; false when the task is
// not in one of t.from (the caller rolls back).

}  // namespace

class PostgresStore::Impl {
 public:
  Impl(std::string url, PostgresOptions options);
  ~Impl();

  // Runs `fn` in a transaction on a live connection and commits. A
  // connection lost before the commit is re-established (with backoff, within
  // the budget) and `fn` run again: the server rolled the lost transaction
  // back, so nothing happens twice. A connection lost during the commit
  // leaves the outcome unknown: that is reported, never retried.
  template <typename Fn, typename Tx = pqxx::work>
  auto Run(const char* what, Fn&& fn) {
    auto budget = version_ == 0 ? options_.connect_budget : options_.reconnect_budget;
    auto deadline = std::chrono::steady_clock::now() + budget;
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
      Lease lease(*this);
      try {
        Tx tx(lease.get());
        if constexpr (std::is_void_v<decltype(fn(tx))>) {
          fn(tx);
          tx.commit();
          return;
        } else {
          auto result = fn(tx);
          tx.commit();
          return result;
        }
      } catch (const pqxx::in_doubt_error& e) {
        lease.Discard();
        throw Error::Unavailable(std::string("PostgreSQL connection lost while committing (") + what +
                                 "); the outcome is unknown: " + e.what());
      } catch (const pqxx::broken_connection& e) {
        lease.Discard();
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline || (version_ == 0 && options_.on_unreachable && !options_.on_unreachable(e.what()))) {
          throw Error::Unavailable(std::string("PostgreSQL unreachable (") + what + "): " + e.what());
        }
        // The last attempt at the deadline: the whole budget is tried.
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      } catch (const pqxx::unique_violation& e) {
        throw Error::Conflict(std::string(what) + ": " + e.what());
      } catch (const pqxx::sql_error& e) {
        throw Error::Internal(std::string("PostgreSQL error (") + what + "): " + e.what());
      }
    }
  }

  // A read of one statement: no BEGIN/COMMIT around it (one round trip
  // instead of three); the statement alone sees one consistent snapshot.
  template <typename Fn>
  auto Read(const char* what, Fn&& fn) {
    return Run<Fn, pqxx::nontransaction>(what, std::forward<Fn>(fn));
  }

  // Like Run, but rolls back and returns false when `fn` returns false.
  template <typename Tx = pqxx::work, typename Fn>
  bool RunIf(const char* what, Fn&& fn) {
    try {
      return Run<std::function<bool(Tx&)>, Tx>(what, [&](Tx& tx) {
        if (!fn(tx)) throw Undo{};
        return true;
      });
    } catch (const Undo&) {
      return false;
    }
  }

  int version() const { return version_; }

  // WaitForNotice: one thread at a time (the pumper) LISTENs on a
  // connection of its own (reopened when lost) and counts what arrives by
  // channel; other waiters wait for the counts to move.
  std::vector<WorkKey> TakeEndedNotices(bool* complete) {
    std::vector<std::string> payloads;
    {
      std::lock_guard lock(notice_mu_);
      payloads.swap(ended_);
      *complete = ended_complete_;
      ended_complete_ = listening_;
    }
    std::vector<WorkKey> out;
    out.reserve(payloads.size());
    for (const std::string& p : payloads) {
      size_t a = p.find('\t'), b = a == std::string::npos ? a : p.find('\t', a + 1);
      if (b == std::string::npos) {
        *complete = false;
        continue;
      }
      out.push_back({p.substr(0, a), p.substr(a + 1, b - a - 1), std::atoi(p.c_str() + b + 1)});
    }
    return out;
  }

  unsigned WaitForNotice(unsigned channels, Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(notice_mu_);
    auto take = [&] {
      unsigned got = 0;
      for (int i = 0; i < kNoticeChannels; ++i) {
        if ((channels >> i & 1) && notices_[i] != seen_[i]) {
          got |= 1u << i;
          seen_[i] = notices_[i];
        }
      }
      return got;
    };
    for (;;) {
      if (unsigned got = take()) return got;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return 0;
      if (pumping_) {
        notice_cv_.wait_until(lock, deadline);
        continue;
      }
      pumping_ = true;
      lock.unlock();
      Pump(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(250)));
      lock.lock();
      pumping_ = false;
      notice_cv_.notify_all();
    }
  }

  // A fresh connection, so that a health check never waits behind an
  // operation that is reconnecting.
  // Session advisory lock on a connection of its own: the server drops it
  // when that connection ends (process exit, kill -9).
  bool TryLockScheduler() {
    std::lock_guard lock(mu_);
    if (scheduler_lock_) return true;
    try {
      auto conn = std::make_unique<pqxx::connection>(url_);
      pqxx::nontransaction tx(*conn);
      bool got = tx.exec1("SELECT pg_try_advisory_lock(" + std::to_string(kSchedulerLockKey) + ")")[0].as<bool>();
      tx.commit();
      if (got) scheduler_lock_ = std::move(conn);
      return got;
    } catch (const pqxx::broken_connection& e) {
      throw Error::Unavailable(std::string("cannot reach PostgreSQL to take the scheduler lock: ") + e.what());
    }
  }

  bool Ping() const {
    try {
      // Bounded, so that a host that drops packets cannot hang a health check.
      std::string url = url_;
      if (url.rfind("postgres", 0) == 0) {
        url += url.find('?') == std::string::npos ? '?' : '&';
        url += "connect_timeout=2";
      } else {
        url += " connect_timeout=2";
      }
      pqxx::connection probe(url);
      pqxx::nontransaction tx(probe);
      tx.exec("SELECT 1");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

 private:
  // A connection lent to one operation: from the pool, or opened when the
  // pool has fewer than options_.pool_size. Returned on destruction unless
  // discarded (broken).
  class Lease {
   public:
    explicit Lease(Impl& impl) : impl_(impl) {}
    ~Lease() {
      if (conn_ && conn_->is_open()) {
        impl_.Release(std::move(conn_));
      } else if (counted_) {
        impl_.Forget();
      }
    }
    pqxx::connection& get() {
      if (!conn_) {
        conn_ = impl_.Acquire();
        counted_ = true;
      }
      return *conn_;
    }
    void Discard() { conn_.reset(); }

   private:
    Impl& impl_;
    std::unique_ptr<pqxx::connection> conn_;
    bool counted_ = false;
  };

  std::unique_ptr<pqxx::connection> Acquire() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    try {
      auto conn = std::make_unique<pqxx::connection>(url_);
      // Prepared on the server at first use (after the schema is migrated):
      // the hot path skips parsing and planning.
      conn->prepare("transition_tasks", "SELECT pipe_transition_tasks($1::jsonb, $2)");
      return conn;
    } catch (...) {
      Forget();
      throw;
    }
  }

  void Release(std::unique_ptr<pqxx::connection> conn) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(conn));
    cv_.notify_one();
  }

  // A connection of the pool was dropped (broken).
  void Forget() {
    std::lock_guard lock(mu_);
    --open_;
    cv_.notify_one();
  }

  void Migrate(pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    pqxx::result r = tx.exec("SELECT value FROM meta WHERE key = 'schema_version'");
    int version = r.empty() ? 0 : std::stoi(r[0][0].as<std::string>());
    if (version > kSchemaVersion) {
      throw Error::Unavailable("state database has schema version " + std::to_string(version) +
                                   ", newer than this build knows (" +
                                   std::to_string(kSchemaVersion) + "); upgrade pipectl and piped");
    }
    for (int step = version; step < kSchemaVersion; ++step) tx.exec(kMigrations[step]);
    if (version < kSchemaVersion) tx.exec(kTransitionFunction);
    tx.exec_params(
        "INSERT INTO meta(key, value) VALUES('schema_version', $1) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        std::to_string(kSchemaVersion));
    version_ = kSchemaVersion;
  }

  std::string url_;
  PostgresOptions options_;
  std::mutex mu_;  // guards idle_ and open_
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;  // connections lent or idle
  std::unique_ptr<pqxx::connection> scheduler_lock_;  // holds the advisory lock; guarded by mu_
  // Waits up to `wait` for notifications on the listening connection.
  // Called by the pumper only (pumping_), without notice_mu_.
  void Pump(std::chrono::steady_clock::duration wait) {
    try {
      if (!listen_conn_) {
        listen_conn_ = std::make_unique<pqxx::connection>(url_);
        for (int i = 0; i < kNoticeChannels; ++i) {
          receivers_.push_back(std::make_unique<Receiver>(*listen_conn_, kNoticeChannel[i], *this, i));
        }
        std::lock_guard lock(notice_mu_);
        listening_ = true;
        ended_complete_ = false;  // what ended while nobody listened was not heard
      }
      if (listen_conn_->get_notifs() == 0) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(wait).count();
        listen_conn_->await_notification(long(micros / 1'000'000), long(micros % 1'000'000));
      }
    } catch (const std::exception&) {
      // The server is away: notices may have been missed meanwhile, and
      // callers look at the store after a timeout anyway.
      receivers_.clear();
      listen_conn_.reset();
      {
        std::lock_guard lock(notice_mu_);
        listening_ = false;
        ended_complete_ = false;
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(wait, std::chrono::milliseconds(250)));
    }
  }

  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const char* channel, Impl& impl, int index)
        : pqxx::notification_receiver(c, channel), impl_(impl), index_(index) {}
    void operator()(const std::string& payload, int) override {
      std::lock_guard lock(impl_.notice_mu_);
      ++impl_.notices_[index_];
      if (index_ != kDoneChannel) return;
      if (payload.empty() || impl_.ended_.size() >= kMaxEnded) {
        impl_.ended_complete_ = false;  // reaped items, or too many: look at all
      } else {
        impl_.ended_.push_back(payload);
      }
    }

   private:
    Impl& impl_;
    int index_;
  };
  static constexpr int kNoticeChannels = 3;
  static constexpr int kDoneChannel = 2;
  static constexpr size_t kMaxEnded = 100'000;
  // By StoreNotice bit.
  static constexpr const char* kNoticeChannel[kNoticeChannels] = {"pipe_work", "pipe_cancel", "pipe_done"};
  std::mutex notice_mu_;  // guards the four below
  std::condition_variable notice_cv_;
  uint64_t notices_[kNoticeChannels] = {};
  uint64_t seen_[kNoticeChannels] = {};
  std::vector<std::string> ended_;  // pipe_done payloads "RUN\tTASK\tTRY" not taken yet
  bool ended_complete_ = false;     // no pipe_done notice missed since the last take
  bool listening_ = false;          // the pumper's connection listens
  bool pumping_ = false;
  // The pumper's (pumping_).
  std::unique_ptr<pqxx::connection> listen_conn_;
  std::vector<std::unique_ptr<Receiver>> receivers_;  // destroyed before their connection
  static constexpr int64_t kSchedulerLockKey = 0x7069706573636864;  // "pipeschd"
  int version_ = 0;
};

PostgresStore::Impl::Impl(std::string url, PostgresOptions options)
    : url_(std::move(url)), options_(std::move(options)) {
  Run("migrate", [&](pqxx::work& tx) { Migrate(tx); });
  options_.on_unreachable = nullptr;  // for the opening only: it may refer to the opener's locals
}

// The server drops a session lock only once it has noticed the disconnect,
// which may be after another process has already tried to take it; release
// it explicitly so that "closed" means "free" (best effort: a broken
// connection has lost the lock anyway).
PostgresStore::Impl::~Impl() {
  if (!scheduler_lock_) return;
  try {
    pqxx::nontransaction tx(*scheduler_lock_);
    tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kSchedulerLockKey) + ")");
  } catch (const std::exception&) {
  }
}

PostgresStore::PostgresStore(const std::string& url, PostgresOptions options)
    : impl_(std::make_unique<Impl>(url, std::move(options))) {}
PostgresStore::~PostgresStore() = default;

int PostgresStore::schema_version() { return impl_->version(); }

bool PostgresStore::Ping() { return impl_->Ping(); }

bool PostgresStore::TryLockScheduler() { return impl_->TryLockScheduler(); }

int PostgresStore::PutDagVersion(const DagSpec& dag, TimePoint now) {
  return impl_->Run("put dag version", [&](pqxx::work& tx) {
    // Two schedulers load the same folder: one at a time per DAG, and each
    // statement after the lock sees what the one before committed (a row
    // lock alone did not serve a DAG's first version, and its re-check read
    // the versions as they were before the wait: both inserted the same
    // number). The key is the DAG id's hash; a collision only serializes.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('pipe dag version ' || $1, 0))", dag.id);
    pqxx::result latest = tx.exec_params(
        "SELECT v.version, v.content_hash FROM dags d JOIN dag_versions v "
        "ON v.dag_id = d.dag_id AND v.version = d.latest_version WHERE d.dag_id = $1",
        dag.id);
    int version = 0;
    if (!latest.empty()) {
      version = latest[0][0].as<int>();
      if (latest[0][1].as<std::string>() == dag.content_hash) return version;
    }
    ++version;
    tx.exec_params(
        "INSERT INTO dags(dag_id, latest_version, file, schedule, updated_at) "
        "VALUES($1, $2, $3, $4, $5) ON CONFLICT(dag_id) DO UPDATE SET "
        "latest_version = excluded.latest_version, file = excluded.file, "
        "schedule = excluded.schedule, updated_at = excluded.updated_at",
        dag.id, version, dag.file, dag.ScheduleText(), ToMicros(now));
    tx.exec_params(
        "INSERT INTO dag_versions(dag_id, version, content_hash, file, source, created_at) "
        "VALUES($1, $2, $3, $4, $5, $6)",
        dag.id, version, dag.content_hash, dag.file, dag.source, ToMicros(now));
    return version;
  });
}

std::optional<DagRecord> PostgresStore::GetDag(const std::string& dag_id) {
  return impl_->Read("get dag", [&](pqxx::transaction_base& tx) -> std::optional<DagRecord> {
    pqxx::result r = tx.exec_params(std::string("SELECT ") + kDagColumns + " FROM dags WHERE dag_id = $1", dag_id);
    if (r.empty()) return std::nullopt;
    return ReadDag(r[0]);
  });
}

std::vector<DagRecord> PostgresStore::ListDags() {
  return impl_->Read("list dags", [&](pqxx::transaction_base& tx) {
    std::vector<DagRecord> out;
    for (const auto& row : tx.exec(std::string("SELECT ") + kDagColumns + " FROM dags ORDER BY dag_id")) {
      out.push_back(ReadDag(row));
    }
    return out;
  });
}

std::optional<DagVersionRecord> PostgresStore::GetDagVersion(const std::string& dag_id, int version) {
  return impl_->Read("get dag version", [&](pqxx::transaction_base& tx) -> std::optional<DagVersionRecord> {
    pqxx::result r = tx.exec_params(
        "SELECT dag_id, version, content_hash, file, source, created_at FROM dag_versions "
        "WHERE dag_id = $1 AND version = $2",
        dag_id, version);
    if (r.empty()) return std::nullopt;
    return DagVersionRecord{r[0][0].as<std::string>(), r[0][1].as<int>(), r[0][2].as<std::string>(),
                            r[0][3].as<std::string>(), r[0][4].as<std::string>(), Time(r[0][5])};
  });
}

std::vector<DagVersionRecord> PostgresStore::ListDagVersions(const std::string& dag_id) {
  return impl_->Read("list dag versions", [&](pqxx::transaction_base& tx) {
    std::vector<DagVersionRecord> out;
    for (const auto& r : tx.exec_params("SELECT dag_id, version, content_hash, file, created_at FROM dag_versions "
                                        "WHERE dag_id = $1 ORDER BY version DESC",
                                        dag_id)) {
      out.push_back(DagVersionRecord{r[0].as<std::string>(), r[1].as<int>(), r[2].as<std::string>(),
                                     r[3].as<std::string>(), "", Time(r[4])});
    }
    return out;
  });
}

std::optional<std::string> PostgresStore::GetWatermark(const std::string& dag_id, const std::string& task_id) {
  return impl_->Read("get watermark", [&](pqxx::transaction_base& tx) -> std::optional<std::string> {
    pqxx::result r = tx.exec_params("SELECT value FROM watermarks WHERE dag_id = $1 AND task_id = $2", dag_id, task_id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

std::map<std::string, std::string> PostgresStore::ListWatermarks(const std::string& dag_id) {
  return impl_->Read("list watermarks", [&](pqxx::transaction_base& tx) {
    std::map<std::string, std::string> out;
    for (const auto& row : tx.exec_params("SELECT task_id, value FROM watermarks WHERE dag_id = $1", dag_id)) {
      out.emplace(row[0].as<std::string>(), row[1].as<std::string>());
    }
    return out;
  });
}

bool PostgresStore::SetPaused(const std::string& dag_id, bool paused) {
  return impl_->Run("pause dag", [&](pqxx::work& tx) {
    return tx.exec_params("UPDATE dags SET paused = $2 WHERE dag_id = $1", dag_id, paused)
               .affected_rows() > 0;
  });
}

// An arbitrary constant: with the DAG's name, the advisory lock under which
// a scheduler counts a DAG's active runs and creates or starts one.
constexpr int kStartRunLock = 0x70697065;  // "pipe"

void PostgresStore::CreateRun(const RunRecord& run, const std::vector<NewTaskInstance>& tasks, int max_active) {
  impl_->Run("create run", [&](pqxx::work& tx) {
    if (max_active > 0) {
      tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kStartRunLock, run.dag_id);
      const int64_t active = tx.exec_params1("SELECT count(*) FROM runs WHERE dag_id = $1 AND state IN ('queued', 'running')",
                                             run.dag_id)[0].as<int64_t>();
      if (active >= max_active) {
        throw Error::Conflict("dag '" + run.dag_id + "' has " + std::to_string(active) + " active runs (max_active_runs " +
                              std::to_string(max_active) + ")");
      }
    }
    // One round trip for the whole run: the statements go together, every
    // value quoted by libpq.
    const bool running = run.state == RunState::kRunning;
    const std::string state = tx.quote(std::string(ToString(running ? RunState::kRunning : RunState::kQueued)));
    const std::string id = tx.quote(run.run_id);
    std::string sql =
        "INSERT INTO runs(run_id, dag_id, dag_version, state, trigger, logical_date, data_interval_start, "
        "data_interval_end, params, created_at, started_at, coordinator, coordinator_until, upstream, rerun_of, "
        "triggered_by) VALUES(" +
        id + ", " + tx.quote(run.dag_id) + ", " + std::to_string(run.dag_version) + ", " + state + ", " +
        tx.quote(run.trigger) + ", " + std::to_string(ToMicros(run.logical_date)) + ", " +
        std::to_string(ToMicros(run.data_interval_start)) + ", " + std::to_string(ToMicros(run.data_interval_end)) +
        ", " + tx.quote(run.params_json) + ", " + std::to_string(ToMicros(run.created_at)) + ", " +
        (running ? std::to_string(ToMicros(run.started_at.value_or(run.created_at))) : std::string("NULL")) + ", " +
        tx.quote(run.coordinator) + ", " +
        (run.coordinator_until ? std::to_string(ToMicros(*run.coordinator_until)) : std::string("NULL")) + ", " +
        tx.quote(run.upstream_json) + ", " + tx.quote(run.rerun_of) + ", " + tx.quote(run.triggered_by) + ");";
    if (!tasks.empty()) {
      sql += "INSERT INTO task_instances(run_id, task_id, position, state, max_tries) VALUES";
      for (size_t pos = 0; pos < tasks.size(); ++pos) {
        sql += std::string(pos ? ", (" : " (") + id + ", " + tx.quote(tasks[pos].task_id) + ", " +
               std::to_string(pos) + ", 'pending', " + std::to_string(tasks[pos].max_tries) + ")";
      }
      sql += ";";
    }
    sql += "INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, reason) VALUES(" + id +
           ", '', 0, '', " + state + ", " + std::to_string(ToMicros(run.created_at)) + ", " + tx.quote(run.trigger) +
           ");";
    tx.exec(sql);
  });
}

bool PostgresStore::AddTaskInstances(const std::string& run_id, const std::string& task_id, const std::string& fence,
                                     const std::vector<NewTaskInstance>& instances) {
  return impl_->RunIf("add task instances", [&](pqxx::work& tx) {
    if (!fence.empty()) {
      pqxx::result c = tx.exec_params("SELECT 1 FROM runs WHERE run_id = $1 AND coordinator = $2 FOR SHARE", run_id,
                                      fence);
      if (c.empty()) return false;
    }
    pqxx::result pos =
        tx.exec_params("SELECT position FROM task_instances WHERE run_id = $1 AND task_id = $2", run_id, task_id);
    if (pos.empty()) return false;
    const std::string position = pos[0][0].as<std::string>();
    const std::string id = tx.quote(run_id);
    // One statement for them all (up to max_map_length rows), values quoted by libpq.
    for (size_t from = 0; from < instances.size(); from += 1000) {
      std::string sql = "INSERT INTO task_instances(run_id, task_id, position, state, max_tries, map_index, map_item) VALUES";
      for (size_t i = from; i < std::min(instances.size(), from + 1000); ++i) {
        const NewTaskInstance& t = instances[i];
        sql += std::string(i > from ? ", (" : " (") + id + ", " + tx.quote(t.task_id) + ", " + position +
               ", 'pending', " + std::to_string(t.max_tries) + ", " +
               (t.map_index ? std::to_string(*t.map_index) : std::string("NULL")) + ", " + tx.quote(t.map_item) + ")";
      }
      tx.exec(sql + " ON CONFLICT DO NOTHING");
    }
    return true;
  });
}

std::optional<RunRecord> PostgresStore::GetRun(const std::string& run_id) {
  return impl_->Read("get run", [&](pqxx::transaction_base& tx) -> std::optional<RunRecord> {
    pqxx::result r = tx.exec_params(std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = $1", run_id);
    if (r.empty()) return std::nullopt;
    return ReadRun(r[0]);
  });
}

std::vector<RunRecord> PostgresStore::ListRuns(const RunFilter& filter) {
  return impl_->Read("list runs", [&](pqxx::transaction_base& tx) {
    pqxx::result r = tx.exec_params(
        std::string("SELECT ") + kRunColumns + " FROM runs" + RunFilterWhere(filter, '$') +
            " ORDER BY created_at DESC, logical_date DESC, run_id DESC LIMIT $3 OFFSET $4",
        filter.dag_id, filter.trigger, filter.limit, filter.offset);
    std::vector<RunRecord> out;
    for (const auto& row : r) out.push_back(ReadRun(row));
    return out;
  });
}

int64_t PostgresStore::CountRuns(const RunFilter& filter) {
  return impl_->Read("count runs", [&](pqxx::transaction_base& tx) {
    return tx.exec_params("SELECT COUNT(*) FROM runs" + RunFilterWhere(filter, '$'), filter.dag_id,
                          filter.trigger)[0][0].as<int64_t>();
  });
}

namespace {

StateStore::CountsByDagAndState CountsOf(pqxx::transaction_base& tx, const char* sql) {
  StateStore::CountsByDagAndState out;
  for (const auto& row : tx.exec(sql)) {
    out[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<int64_t>();
  }
  return out;
}

}  // namespace

StateStore::CountsByDagAndState PostgresStore::CountRunsByDagAndState() {
  return impl_->Read("count runs", [&](pqxx::transaction_base& tx) {
    return CountsOf(tx, "SELECT dag_id, state, COUNT(*) FROM runs GROUP BY dag_id, state");
  });
}

StateStore::CountsByDagAndState PostgresStore::CountTasksByDagAndState() {
  return impl_->Read("count tasks", [&](pqxx::transaction_base& tx) {
    return CountsOf(tx, "SELECT r.dag_id, t.state, COUNT(*) FROM task_instances t JOIN runs r "
                        "ON r.run_id = t.run_id GROUP BY r.dag_id, t.state");
  });
}

std::optional<TimePoint> PostgresStore::LastScheduledTick(const std::string& dag_id) {
  return impl_->Read("last scheduled tick", [&](pqxx::transaction_base& tx) -> std::optional<TimePoint> {
    pqxx::result r = tx.exec_params(
        "SELECT MAX(logical_date) FROM runs WHERE dag_id = $1 AND trigger = 'scheduled'", dag_id);
    return OptTime(r[0][0]);
  });
}

bool PostgresStore::HasTickRun(const std::string& dag_id, TimePoint logical_date) {
  return impl_->Read("tick run", [&](pqxx::transaction_base& tx) {
    return !tx.exec_params("SELECT 1 FROM runs WHERE dag_id = $1 AND logical_date = $2 AND trigger IN ('scheduled', 'backfill') "
                           "LIMIT 1",
                           dag_id, ToMicros(logical_date))
                .empty();
  });
}

void PostgresStore::PutMeta(const std::string& key, const std::string& value) {
  impl_->Run("put meta", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO meta(key, value) VALUES($1, $2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   key, value);
  });
}

std::optional<std::string> PostgresStore::GetMeta(const std::string& key) {
  return impl_->Read("get meta", [&](pqxx::transaction_base& tx) -> std::optional<std::string> {
    pqxx::result r = tx.exec_params("SELECT value FROM meta WHERE key = $1", key);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

bool PostgresStore::ClaimRun(const std::string& run_id, const std::string& scheduler, TimePoint now,
                             Duration lease) {
  return impl_->RunIf("claim run", [&](pqxx::work& tx) {
    return !tx.exec_params("UPDATE runs SET coordinator = $2, coordinator_until = $4 WHERE run_id = $1 AND "
                           "state = 'running' AND (coordinator = '' OR coordinator = $2 OR coordinator_until IS NULL "
                           "OR coordinator_until <= $3) RETURNING 1",
                           run_id, scheduler, ToMicros(now), ToMicros(now + lease))
                .empty();
  });
}


std::optional<RunRecord> PostgresStore::StartQueuedRun(const std::string& run_id, const std::string& scheduler,
                                                       TimePoint now, Duration lease, int max_active) {
  return impl_->Run("start queued run", [&](pqxx::work& tx) -> std::optional<RunRecord> {
    pqxx::result q = tx.exec_params("SELECT dag_id FROM runs WHERE run_id = $1 AND state = 'queued'", run_id);
    if (q.empty()) return std::nullopt;
    const std::string dag_id = q[0][0].as<std::string>();
    // Schedulers starting runs of one DAG take turns: the count below holds until commit.
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kStartRunLock, dag_id);
    if (tx.exec_params1("SELECT count(*) FROM runs WHERE dag_id = $1 AND state = 'running'", dag_id)[0].as<int64_t>() >=
        max_active) {
      return std::nullopt;
    }
    pqxx::result r = tx.exec_params(
        std::string("UPDATE runs SET state = 'running', started_at = COALESCE(started_at, $2), coordinator = $3, "
                    "coordinator_until = $4 WHERE run_id = $1 AND state = 'queued' RETURNING ") +
            kRunColumns,
        run_id, ToMicros(now), scheduler, ToMicros(now + lease));
    if (r.empty()) return std::nullopt;
    tx.exec_params("INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, reason) "
                   "VALUES($1, '', 0, 'queued', 'running', $2, '')",
                   run_id, ToMicros(now));
    return ReadRun(r[0]);
  });
}

std::vector<RunRecord> PostgresStore::ListOrphanedRuns(TimePoint now, int limit) {
  return impl_->Read("list orphaned runs", [&](pqxx::transaction_base& tx) {
    std::vector<RunRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kRunColumns +
                                            " FROM runs WHERE state = 'running' AND (coordinator = '' OR "
                                            "coordinator_until IS NULL OR coordinator_until <= $1) "
                                            "ORDER BY created_at, run_id LIMIT $2",
                                        ToMicros(now), limit)) {
      out.push_back(ReadRun(r));
    }
    return out;
  });
}

std::vector<RunLease> PostgresStore::RenewRuns(const std::string& scheduler, const std::vector<std::string>& run_ids,
                                               TimePoint now, Duration lease) {
  if (run_ids.empty()) return {};
  pqxx::result rows = impl_->Run("renew runs", [&](pqxx::work& tx) {
    return tx.exec_params(
        "UPDATE runs SET coordinator_until = $3 WHERE run_id IN (SELECT jsonb_array_elements_text($1::jsonb)) "
        "AND coordinator = $2 AND state IN ('queued', 'running') RETURNING run_id, cancel_requested",
        nlohmann::json(run_ids).dump(), scheduler, ToMicros(now + lease));
  });
  std::vector<RunLease> out;
  for (const auto& r : rows) out.push_back({r[0].as<std::string>(), r[1].as<bool>()});
  return out;
}

bool PostgresStore::ReleaseRun(const std::string& run_id, const std::string& scheduler) {
  return impl_->RunIf("release run", [&](pqxx::work& tx) {
    return !tx.exec_params("UPDATE runs SET coordinator = '', coordinator_until = NULL WHERE run_id = $1 AND "
                           "coordinator = $2 RETURNING 1",
                           run_id, scheduler)
                .empty();
  });
}

bool PostgresStore::RequestRunCancel(const std::string& run_id) {
  return impl_->RunIf("request run cancel", [&](pqxx::work& tx) {
    return !tx.exec_params("UPDATE runs SET cancel_requested = TRUE WHERE run_id = $1 AND "
                           "state IN ('queued', 'running') RETURNING 1",
                           run_id)
                .empty();
  });
}

bool PostgresStore::TransitionRun(const std::string& run_id, const std::vector<RunState>& from,
                                  RunState to, TimePoint at, const std::string& reason) {
  std::string from_list = "{";
  for (RunState f : from) from_list += std::string(from_list.size() > 1 ? "," : "") + std::string(ToString(f));
  from_list += "}";
  const std::string to_name(ToString(to));
  int attempt = 0;
  // One statement (an implicit transaction): lock the row, compare, update,
  // log. A repeat after a lost connection finds the run already moved.
  return impl_->RunIf<pqxx::nontransaction>("transition run", [&](pqxx::nontransaction& tx) {
    const bool repeat = ++attempt > 1;
    pqxx::result r = tx.exec_params(
        "WITH cur AS (SELECT state FROM runs WHERE run_id = $1 FOR UPDATE), "
        "upd AS (UPDATE runs SET state = $2, "
        "started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $3 ELSE started_at END, "
        "ended_at = CASE WHEN $4 THEN $3 ELSE ended_at END, "
        // A cancel request ends with the run; a cleared run starts without one.
        "cancel_requested = CASE WHEN $4 OR (SELECT state FROM cur) IN ('success', 'failed', 'cancelled') "
        "THEN FALSE ELSE cancel_requested END "
        "WHERE run_id = $1 AND (SELECT state FROM cur) = ANY($5::text[]) RETURNING 1), "
        "ins AS (INSERT INTO transitions(run_id, task_id, try_number, from_state, to_state, at, reason) "
        "SELECT $1, '', 0, (SELECT state FROM cur), $2, $3, $6 WHERE EXISTS (SELECT 1 FROM upd)) "
        "SELECT (SELECT count(*) FROM upd), (SELECT state FROM cur)",
        run_id, to_name, ToMicros(at), IsTerminal(to), from_list, reason);
    if (r[0][0].as<int64_t>() == 1) return true;
    return repeat && !r[0][1].is_null() && r[0][1].as<std::string>() == to_name;
  });
}

std::vector<TaskInstanceRecord> PostgresStore::GetTaskInstances(const std::string& run_id) {
  return impl_->Read("get task instances", [&](pqxx::transaction_base& tx) {
    std::vector<TaskInstanceRecord> out;
    for (const auto& row : tx.exec_params(std::string("SELECT ") + kTaskColumns +
                                              " FROM task_instances WHERE run_id = $1 ORDER BY position, COALESCE(map_index, -1)",
                                          run_id)) {
      out.push_back(ReadTaskInstance(row));
    }
    return out;
  });
}

std::optional<TaskInstanceRecord> PostgresStore::GetTaskInstance(const std::string& run_id,
                                                                 const std::string& task_id) {
  return impl_->Read("get task instance", [&](pqxx::transaction_base& tx) -> std::optional<TaskInstanceRecord> {
    pqxx::result r = tx.exec_params(std::string("SELECT ") + kTaskColumns +
                                        " FROM task_instances WHERE run_id = $1 AND task_id = $2",
                                    run_id, task_id);
    if (r.empty()) return std::nullopt;
    return ReadTaskInstance(r[0]);
  });
}

bool PostgresStore::TransitionTask(const TaskTransition& t) {
  return TransitionTasks({t});
}

bool PostgresStore::TransitionTasks(const std::vector<TaskTransition>& batch) {
  return TransitionTasksAndEnqueue(batch, {});
}

bool PostgresStore::TransitionTasksAndEnqueue(const std::vector<TaskTransition>& batch,
                                              const std::vector<WorkItem>& work) {
  if (batch.empty() && work.empty()) return true;
  nlohmann::json items = nlohmann::json::array();
  for (const TaskTransition& t : batch) {
    nlohmann::json from = nlohmann::json::array();
    for (TaskState s : t.from) from.push_back(std::string(ToString(s)));
    items.push_back({{"run", t.run_id},
                     {"task", t.task_id},
                     {"from", from},
                     {"to", std::string(ToString(t.to))},
                     {"at", ToMicros(t.at)},
                     {"terminal", IsTerminal(t.to)},
                     {"next_try_at", t.next_try_at ? nlohmann::json(ToMicros(*t.next_try_at)) : nlohmann::json()},
                     {"reason", t.reason},
                     {"metrics", t.metrics_json ? nlohmann::json(*t.metrics_json) : nlohmann::json()},
                     {"inputs", t.inputs_json ? nlohmann::json(*t.inputs_json) : nlohmann::json()},
                     {"watermark", t.watermark ? nlohmann::json(*t.watermark) : nlohmann::json()},
                     {"max_tries", t.max_tries ? nlohmann::json(*t.max_tries) : nlohmann::json()},
                     {"exit_code", t.exit_code ? nlohmann::json(*t.exit_code) : nlohmann::json()},
                     {"log_path", t.log_path},
                     {"worker", t.worker},
                     {"process", t.process},
                     {"fence", t.fence}});
  }
  const std::string json = items.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  int attempt = 0;
  // One statement, so no BEGIN/COMMIT round trips: the server runs it in an
  // implicit transaction.
  nlohmann::json items_to_enqueue = nlohmann::json::array();
  for (const WorkItem& w : work) {
    items_to_enqueue.push_back({{"run_id", w.run_id}, {"task_id", w.task_id}, {"try_number", w.try_number},
                                {"queue", w.queue}, {"payload", w.payload}, {"enqueued_at", ToMicros(w.enqueued_at)},
                                {"prefer", w.prefer},
                                {"prefer_until", w.prefer_until ? nlohmann::json(ToMicros(*w.prefer_until))
                                                                : nlohmann::json()}});
  }
  return impl_->RunIf<pqxx::nontransaction>("transition tasks", [&](pqxx::nontransaction& tx) {
    try {
      const bool repeat = ++attempt > 1;
      if (work.empty()) return tx.exec_prepared("transition_tasks", json, repeat)[0][0].as<bool>();
      // The work rows only when the transitions applied (the function raises
      // otherwise, undoing the statement); NOTIFY goes out at commit.
      return tx.exec_params(
                   "WITH t AS (SELECT pipe_transition_tasks($1::jsonb, $2) AS ok), "
                   "w AS (INSERT INTO work(run_id, task_id, try_number, queue, state, payload, enqueued_at, prefer, "
                   "    prefer_until) "
                   "  SELECT x.run_id, x.task_id, x.try_number, x.queue, 'ready', x.payload, x.enqueued_at, x.prefer, "
                   "    x.prefer_until "
                   "  FROM jsonb_to_recordset($3::jsonb) AS x(run_id text, task_id text, try_number integer, "
                   "    queue text, payload text, enqueued_at bigint, prefer text, prefer_until bigint) "
                   "  WHERE (SELECT ok FROM t) ON CONFLICT DO NOTHING RETURNING queue) "
                   "SELECT (SELECT ok FROM t), (SELECT count(pg_notify('pipe_work', q)) FROM "
                   "  (SELECT DISTINCT queue AS q FROM w) z)",
                   json, repeat, items_to_enqueue.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))[0][0]
          .as<bool>();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "PX001") return false;  // a task was not in an expected state
      throw;
    }
  });
}

void PostgresStore::SetTryProcess(const std::string& run_id, const std::string& task_id, int try_number,
                                  const std::string& process) {
  // One statement, which a repeat after a lost connection makes again harmlessly.
  impl_->Run<std::function<void(pqxx::nontransaction&)>, pqxx::nontransaction>(
      "set try process", [&](pqxx::nontransaction& tx) {
        tx.exec_params("UPDATE task_tries SET process = $4 WHERE run_id = $1 AND task_id = $2 AND try_number = $3",
                       run_id, task_id, try_number, process);
      });
}

namespace {

constexpr const char* kTryColumns =
    "run_id, task_id, try_number, state, started_at, ended_at, exit_code, error, log_path, worker, process, inputs";

TaskTryRecord ReadTry(const pqxx::row& r) {
  TaskTryRecord t;
  t.run_id = r[0].as<std::string>();
  t.task_id = r[1].as<std::string>();
  t.try_number = r[2].as<int>();
  t.state = ReadTaskState(r[3]);
  t.started_at = Time(r[4]);
  t.ended_at = OptTime(r[5]);
  if (!r[6].is_null()) t.exit_code = r[6].as<int>();
  t.error = r[7].as<std::string>();
  t.log_path = r[8].as<std::string>();
  t.worker = r[9].as<std::string>();
  t.process = r[10].as<std::string>();
  t.inputs_json = r[11].as<std::string>();
  return t;
}

}  // namespace

std::vector<TaskTryRecord> PostgresStore::GetTries(const std::string& run_id, const std::string& task_id) {
  return impl_->Read("get tries", [&](pqxx::transaction_base& tx) {
    std::vector<TaskTryRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kTryColumns +
                                            " FROM task_tries WHERE run_id = $1 AND task_id = $2 ORDER BY try_number",
                                        run_id, task_id)) {
      out.push_back(ReadTry(r));
    }
    return out;
  });
}

std::vector<TaskTryRecord> PostgresStore::GetRunTries(const std::string& run_id) {
  return impl_->Read("get run tries", [&](pqxx::transaction_base& tx) {
    std::vector<TaskTryRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kTryColumns +
                                            " FROM task_tries WHERE run_id = $1 ORDER BY task_id, try_number",
                                        run_id)) {
      out.push_back(ReadTry(r));
    }
    return out;
  });
}

std::vector<TransitionRecord> PostgresStore::GetTransitions(const std::string& run_id) {
  return impl_->Read("get transitions", [&](pqxx::transaction_base& tx) {
    std::vector<TransitionRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT id, run_id, task_id, try_number, from_state, to_state, at, reason "
             "FROM transitions WHERE run_id = $1 ORDER BY id",
             run_id)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<int>(),
                     r[4].as<std::string>(), r[5].as<std::string>(), Time(r[6]), r[7].as<std::string>()});
    }
    return out;
  });
}

std::vector<TransitionRecord> PostgresStore::ListTransitionsAfter(int64_t after_id, int limit) {
  return impl_->Read("list transitions", [&](pqxx::transaction_base& tx) {
    std::vector<TransitionRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT t.id, t.run_id, t.task_id, t.try_number, t.from_state, t.to_state, t.at, t.reason, r.dag_id "
             "FROM transitions t JOIN runs r ON r.run_id = t.run_id WHERE t.id > $1 ORDER BY t.id LIMIT $2",
             after_id, limit)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<int>(),
                     r[4].as<std::string>(), r[5].as<std::string>(), Time(r[6]), r[7].as<std::string>(),
                     r[8].as<std::string>()});
    }
    return out;
  });
}

int64_t PostgresStore::LatestTransitionId() {
  return impl_->Read("latest transition", [&](pqxx::transaction_base& tx) {
    return tx.exec("SELECT COALESCE(MAX(id), 0) FROM transitions")[0][0].as<int64_t>();
  });
}

namespace {

ArtifactRecord ArtifactOf(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
          r[4].as<std::string>(), r[5].as<int64_t>(),     r[6].as<std::string>(), Time(r[7]),
          r[8].as<std::string>(), r[9].as<std::string>()};
}

}  // namespace

void PostgresStore::PutArtifact(const ArtifactRecord& a) {
  impl_->Run("put artifact", [&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO artifacts(run_id, task_id, name, uri, schema_json, row_count, content_hash, "
        "created_at, inputs, cache_key) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT(run_id, task_id, name) DO UPDATE SET uri = excluded.uri, "
        "schema_json = excluded.schema_json, row_count = excluded.row_count, "
        "content_hash = excluded.content_hash, created_at = excluded.created_at, "
        "inputs = excluded.inputs, cache_key = excluded.cache_key",
        a.run_id, a.task_id, a.name, a.uri, a.schema_json, a.row_count, a.content_hash,
        ToMicros(a.created_at), a.inputs_json, a.cache_key);
  });
}

std::vector<ArtifactRecord> PostgresStore::ListArtifacts(const std::string& run_id) {
  return impl_->Read("list artifacts", [&](pqxx::transaction_base& tx) {
    std::vector<ArtifactRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT run_id, task_id, name, uri, schema_json, row_count, content_hash, created_at, inputs, "
             "cache_key FROM artifacts WHERE run_id = $1 ORDER BY task_id, name",
             run_id)) {
      out.push_back(ArtifactOf(r));
    }
    return out;
  });
}

std::vector<ArtifactRecord> PostgresStore::LatestSuccessArtifacts(const std::string& dag_id, const std::string& name) {
  return impl_->Read("list latest artifacts", [&](pqxx::transaction_base& tx) {
    std::vector<ArtifactRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT DISTINCT ON (a.task_id) a.run_id, a.task_id, a.name, a.uri, a.schema_json, a.row_count, "
             "a.content_hash, a.created_at, a.inputs, a.cache_key FROM runs r JOIN artifacts a ON a.run_id = r.run_id "
             "WHERE r.dag_id = $1 AND r.state = 'success' AND a.name = $2 "
             "ORDER BY a.task_id, a.created_at DESC, a.run_id DESC",
             dag_id, name)) {
      out.push_back(ArtifactOf(r));
    }
    return out;
  });
}

void PostgresStore::AddNotification(const NotificationRecord& n) {
  impl_->Run("add notification", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO notifications(dag_id, run_id, task_id, event, target, delivered, attempts, error, at) "
                   "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                   n.dag_id, n.run_id, n.task_id, n.event, n.target, n.delivered, n.attempts, n.error, ToMicros(n.at));
  });
}

std::vector<NotificationRecord> PostgresStore::ListNotifications(const std::string& dag_id, const std::string& run_id,
                                                                 int limit) {
  return impl_->Read("list notifications", [&](pqxx::transaction_base& tx) {
    std::vector<NotificationRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT id, dag_id, run_id, task_id, event, target, delivered, attempts, error, at FROM notifications "
             "WHERE ($1 = '' OR dag_id = $1) AND ($2 = '' OR run_id = $2) ORDER BY id DESC LIMIT $3",
             dag_id, run_id, limit)) {
      out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<bool>(), r[7].as<int>(),
                     r[8].as<std::string>(), Time(r[9])});
    }
    return out;
  });
}

std::optional<TaskSuccess> PostgresStore::LatestSuccess(const std::string& dag_id, const std::string& task_id) {
  return impl_->Read("latest success", [&](pqxx::transaction_base& tx) -> std::optional<TaskSuccess> {
    pqxx::result r = tx.exec_params(
        "SELECT t.run_id, t.ended_at FROM task_instances t JOIN runs r ON r.run_id = t.run_id "
        "WHERE t.task_id = $2 AND t.state = 'success' AND r.dag_id = $1 ORDER BY t.ended_at DESC LIMIT 1",
        dag_id, task_id);
    if (r.empty()) return std::nullopt;
    return TaskSuccess{r[0][0].as<std::string>(), Time(r[0][1])};
  });
}

bool PostgresStore::AddSlaMiss(const SlaMissRecord& m) {
  return impl_->Run("add sla miss", [&](pqxx::work& tx) {
    return tx.exec_params("INSERT INTO sla_misses(run_id, task_id, dag_id, due, detected_at, state) "
                          "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                          m.run_id, m.task_id, m.dag_id, ToMicros(m.due), ToMicros(m.detected_at), m.state)
               .affected_rows() == 1;
  });
}

std::vector<SlaMissRecord> PostgresStore::ListSlaMisses(const std::string& dag_id, const std::string& run_id,
                                                        int limit) {
  return impl_->Read("list sla misses", [&](pqxx::transaction_base& tx) {
    std::vector<SlaMissRecord> out;
    for (const auto& r : tx.exec_params("SELECT dag_id, run_id, task_id, due, detected_at, state FROM sla_misses "
                                        "WHERE ($1 = '' OR dag_id = $1) AND ($2 = '' OR run_id = $2) "
                                        "ORDER BY detected_at DESC, run_id DESC, task_id LIMIT $3",
                                        dag_id, run_id, limit)) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), Time(r[3]), Time(r[4]),
                     r[5].as<std::string>()});
    }
    return out;
  });
}

StateStore::CountsByDagAndState PostgresStore::CountSlaMisses() {
  return impl_->Read("count sla misses", [&](pqxx::transaction_base& tx) {
    CountsByDagAndState out;
    for (const auto& r : tx.exec("SELECT dag_id, task_id, COUNT(*) FROM sla_misses GROUP BY dag_id, task_id")) {
      out[{r[0].as<std::string>(), r[1].as<std::string>()}] = r[2].as<int64_t>();
    }
    return out;
  });
}

std::vector<ArtifactRecord> PostgresStore::FindCachedArtifacts(const std::string& cache_key, TimePoint not_before) {
  return impl_->Read("find cached artifacts", [&](pqxx::transaction_base& tx) {
    std::vector<ArtifactRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT a.run_id, a.task_id, a.name, a.uri, a.schema_json, a.row_count, a.content_hash, a.created_at, "
             "a.inputs, a.cache_key FROM artifacts a JOIN ("
             "  SELECT c.run_id, c.task_id FROM artifacts c JOIN task_instances t "
             "    ON t.run_id = c.run_id AND t.task_id = c.task_id AND t.state = 'success' "
             "  WHERE c.cache_key = $1 AND c.created_at >= $2 ORDER BY c.created_at DESC LIMIT 1"
             ") newest ON a.run_id = newest.run_id AND a.task_id = newest.task_id "
             "WHERE a.cache_key = $1 ORDER BY a.name",
             cache_key, ToMicros(not_before))) {
      out.push_back(ArtifactOf(r));
    }
    return out;
  });
}

}  // namespace pipeline

// ------------------------------------------------------------ model registry
namespace pipeline {

namespace {

constexpr const char* kModelColumns =
    "name, version, model_type, kind, uri, format, content_hash, target, features, transforms, params, "
    "metrics, importance, lineage, created_at";

ModelVersionRecord ReadModelVersion(const pqxx::row& r) {
  ModelVersionRecord v;
  v.name = r[0].as<std::string>();
  v.version = r[1].as<int>();
  v.model_type = r[2].as<std::string>();
  v.kind = r[3].as<std::string>();
  v.uri = r[4].as<std::string>();
  v.format = r[5].as<std::string>();
  v.content_hash = r[6].as<std::string>();
  v.target = r[7].as<std::string>();
  v.features_json = r[8].as<std::string>();
  v.transforms_json = r[9].as<std::string>();
  v.params_json = r[10].as<std::string>();
  v.metrics_json = r[11].as<std::string>();
  v.importance_json = r[12].as<std::string>();
  v.lineage_json = r[13].as<std::string>();
  v.created_at = Time(r[14]);
  return v;
}

ModelAliasRecord ReadAlias(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>(), Time(r[3])};
}

}  // namespace

int PostgresStore::CreateModelVersion(const ModelVersionRecord& v) {
  // Two registrations of one name at once: the second one's insert conflicts
  // on the primary key and takes the next number.
  for (int attempt = 0;; ++attempt) {
    try {
      return impl_->Run("create model version", [&](pqxx::work& tx) {
        pqxx::row r = tx.exec_params1(
            std::string("INSERT INTO model_versions(") + kModelColumns +
                ") SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 "
                "FROM model_versions WHERE name = $1 RETURNING version",
            v.name, v.model_type, v.kind, v.uri, v.format, v.content_hash, v.target, v.features_json,
            v.transforms_json, v.params_json, v.metrics_json, v.importance_json, v.lineage_json,
            ToMicros(v.created_at));
        return r[0].as<int>();
      });
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kConflict || attempt >= 10) throw;
    }
  }
}

std::vector<ModelSummary> PostgresStore::ListModels() {
  return impl_->Run("list models", [&](pqxx::work& tx) {
    std::vector<ModelSummary> out;
    for (const auto& r : tx.exec("SELECT name, MAX(version), COUNT(*), MIN(created_at), MAX(created_at) "
                                 "FROM model_versions GROUP BY name ORDER BY name")) {
      ModelSummary m;
      m.name = r[0].as<std::string>();
      m.latest_version = r[1].as<int>();
      m.version_count = r[2].as<int>();
      m.created_at = Time(r[3]);
      m.updated_at = Time(r[4]);
      out.push_back(std::move(m));
    }
    for (const auto& r : tx.exec("SELECT name, alias, version, set_at FROM model_aliases ORDER BY name, alias")) {
      ModelAliasRecord a = ReadAlias(r);
      for (ModelSummary& m : out) {
        if (m.name == a.name) m.aliases.push_back(a);
      }
    }
    return out;
  });
}

std::vector<ModelVersionRecord> PostgresStore::ListModelVersions(const std::string& name) {
  return impl_->Read("list model versions", [&](pqxx::transaction_base& tx) {
    std::vector<ModelVersionRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kModelColumns +
                                            " FROM model_versions WHERE name = $1 ORDER BY version DESC",
                                        name)) {
      out.push_back(ReadModelVersion(r));
    }
    return out;
  });
}

std::optional<ModelVersionRecord> PostgresStore::GetModelVersion(const std::string& name, int version) {
  return impl_->Read("get model version", [&](pqxx::transaction_base& tx) -> std::optional<ModelVersionRecord> {
    pqxx::result r = tx.exec_params(
        std::string("SELECT ") + kModelColumns + " FROM model_versions WHERE name = $1 AND version = $2", name, version);
    if (r.empty()) return std::nullopt;
    return ReadModelVersion(r[0]);
  });
}

StateStore::AliasSet PostgresStore::SetModelAliasIf(const std::string& name, const std::string& alias,
                                                    std::optional<int> expected, int version, TimePoint at) {
  AliasSet outcome = AliasSet::kSet;
  impl_->RunIf("set model alias", [&](pqxx::work& tx) {
    outcome = AliasSet::kSet;  // (a retried transaction starts over)
    if (tx.exec_params("SELECT 1 FROM model_versions WHERE name = $1 AND version = $2", name, version).empty()) {
      outcome = AliasSet::kNoSuchVersion;
      return false;
    }
    // One move of an alias at a time, set or not yet: what it points at is
    // read after the move before has committed.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('pipe model alias ' || $1 || '@' || $2, 0))", name,
                   alias);
    pqxx::result current = tx.exec_params("SELECT version FROM model_aliases WHERE name = $1 AND alias = $2", name, alias);
    const int now = current.empty() ? 0 : current[0][0].as<int>();
    if (expected && *expected != now) {
      outcome = AliasSet::kMovedMeanwhile;
      return false;
    }
    // Already there: nothing changes, and the history gets no entry.
    if (now == version) return true;
    tx.exec_params(
        "INSERT INTO model_aliases(name, alias, version, set_at) VALUES($1, $2, $3, $4) "
        "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, set_at = excluded.set_at",
        name, alias, version, ToMicros(at));
    tx.exec_params("INSERT INTO model_alias_history(name, alias, version, set_at) VALUES($1, $2, $3, $4)", name,
                   alias, version, ToMicros(at));
    return true;
  });
  return outcome;
}

std::vector<ModelAliasRecord> PostgresStore::GetModelAliases(const std::string& name) {
  return impl_->Read("get model aliases", [&](pqxx::transaction_base& tx) {
    std::vector<ModelAliasRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT name, alias, version, set_at FROM model_aliases WHERE name = $1 ORDER BY alias", name)) {
      out.push_back(ReadAlias(r));
    }
    return out;
  });
}

std::vector<ModelAliasRecord> PostgresStore::GetModelAliasHistory(const std::string& name) {
  return impl_->Read("get model alias history", [&](pqxx::transaction_base& tx) {
    std::vector<ModelAliasRecord> out;
    for (const auto& r : tx.exec_params(
             "SELECT name, alias, version, set_at FROM model_alias_history WHERE name = $1 ORDER BY id", name)) {
      out.push_back(ReadAlias(r));
    }
    return out;
  });
}

namespace {

constexpr const char* kWorkColumns =
    "run_id, task_id, try_number, queue, payload, enqueued_at, state, worker, lease_until, result, ended_at, "
    "cancel_requested, claimed_at";
// The claim is still held: its row, its worker, its lease as last granted.
constexpr const char* kHeld =
    "run_id = $1 AND task_id = $2 AND try_number = $3 AND state = 'claimed' AND worker = $4 AND lease_until = $5";

WorkItem ReadWorkItem(const pqxx::row& r) {
  WorkItem item;
  item.run_id = r[0].as<std::string>();
  item.task_id = r[1].as<std::string>();
  item.try_number = r[2].as<int>();
  item.queue = r[3].as<std::string>();
  item.payload = r[4].as<std::string>();
  item.enqueued_at = Time(r[5]);
  return item;
}

WorkRecord ReadWork(const pqxx::row& r) {
  WorkRecord w;
  w.item = ReadWorkItem(r);
  w.state = r[6].as<std::string>();
  w.worker = r[7].as<std::string>();
  w.lease_until = OptTime(r[8]);
  w.result = r[9].as<std::string>();
  w.ended_at = OptTime(r[10]);
  w.cancel_requested = r[11].as<bool>();
  w.claimed_at = OptTime(r[12]);
  return w;
}

void SortItems(std::vector<WorkItem>& items) {
  std::sort(items.begin(), items.end(), [](const WorkItem& a, const WorkItem& b) {
    return std::tie(a.run_id, a.task_id, a.try_number) < std::tie(b.run_id, b.task_id, b.try_number);
  });
}

}  // namespace

void PostgresStore::EnqueueWork(const WorkItem& item) {
  impl_->Run("enqueue work", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO work(run_id, task_id, try_number, queue, state, payload, enqueued_at, prefer, "
                   "prefer_until) VALUES($1, $2, $3, $4, 'ready', $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                   item.run_id, item.task_id, item.try_number, item.queue, item.payload, ToMicros(item.enqueued_at),
                   item.prefer, item.prefer_until ? std::optional<int64_t>(ToMicros(*item.prefer_until)) : std::nullopt);
    tx.exec_params("SELECT pg_notify('pipe_work', $1)", item.queue);  // delivered at commit
  });
}

std::vector<WorkClaim> PostgresStore::ClaimWork(const std::string& worker, const std::vector<std::string>& queues,
                                                int max, TimePoint now, Duration lease) {
  std::vector<WorkClaim> out;
  if (max <= 0 || queues.empty()) return out;
  const TimePoint until = now + lease;
  pqxx::result rows = impl_->Run("claim work", [&](pqxx::work& tx) {
    // One branch per queue, each an ordered scan of the work_ready index
    // that stops after `max` rows (no sort of everything ready); SKIP
    // LOCKED: claimers running at once each take other rows, none waits.
    const std::string order = " ORDER BY enqueued_at, run_id, task_id, try_number";
    std::string ctes, branches;
    for (size_t i = 0; i < queues.size(); ++i) {
      const std::string name = "q" + std::to_string(i);
      ctes += name + " AS (SELECT run_id, task_id, try_number, enqueued_at FROM work WHERE state = 'ready' AND queue = " +
              tx.quote(queues[i]) + " AND (" + PreferenceAllows("$1", "$4") + ")" + order +
              " LIMIT $3 FOR UPDATE SKIP LOCKED), ";
      branches += std::string(i ? " UNION ALL " : "") + "SELECT * FROM " + name;
    }
    return tx.exec_params(
        "WITH " + ctes + "picked AS (SELECT * FROM (" + branches + ") b" + order + " LIMIT $3) "
        "UPDATE work w SET state = 'claimed', worker = $1, lease_until = $2, claimed_at = $4 FROM picked p "
        "WHERE w.run_id = p.run_id AND w.task_id = p.task_id AND w.try_number = p.try_number "
        "RETURNING w.run_id, w.task_id, w.try_number, w.queue, w.payload, w.enqueued_at",
        worker, ToMicros(until), max, ToMicros(now));
  });
  for (const auto& r : rows) out.push_back({ReadWorkItem(r), worker, until});
  std::sort(out.begin(), out.end(), [](const WorkClaim& a, const WorkClaim& b) {
    return std::tie(a.item.enqueued_at, a.item.run_id, a.item.task_id, a.item.try_number) <
           std::tie(b.item.enqueued_at, b.item.run_id, b.item.task_id, b.item.try_number);
  });
  return out;
}

bool PostgresStore::RenewWork(WorkClaim& claim, TimePoint now, Duration lease) {
  if (claim.lease_until <= now) return false;  // ran out: another may have it already
  const TimePoint until = now + lease;
  bool cancel = false;
  bool renewed = impl_->RunIf("renew work", [&](pqxx::work& tx) {
    pqxx::result r = tx.exec_params(std::string("UPDATE work SET lease_until = $6 WHERE ") + kHeld +
                                        " RETURNING cancel_requested",
                                    claim.item.run_id, claim.item.task_id, claim.item.try_number, claim.worker,
                                    ToMicros(claim.lease_until), ToMicros(until));
    if (r.empty()) return false;
    cancel = r[0][0].as<bool>();
    return true;
  });
  if (renewed) {
    claim.lease_until = until;
    claim.cancel_requested = cancel;
  }
  return renewed;
}

// The payload of a pipe_done notice: which item ended (TakeEndedNotices).
static std::string EndedNotice(const std::string& run_id, const std::string& task_id, int try_number) {
  return run_id + "\t" + task_id + "\t" + std::to_string(try_number);
}

bool PostgresStore::FinishWork(const WorkClaim& claim, const std::string& result_json, TimePoint at) {
  return impl_->RunIf("finish work", [&](pqxx::work& tx) {
    if (tx.exec_params(std::string("UPDATE work SET state = 'done', result = $6, ended_at = $7 WHERE ") + kHeld +
                           " RETURNING 1",
                       claim.item.run_id, claim.item.task_id, claim.item.try_number, claim.worker,
                       ToMicros(claim.lease_until), result_json, ToMicros(at))
            .empty()) {
      return false;
    }
    tx.exec_params("SELECT pg_notify('pipe_done', $1)", EndedNotice(claim.item.run_id, claim.item.task_id,
                                                                   claim.item.try_number));  // delivered at commit
    return true;
  });
}

bool PostgresStore::ReleaseWork(const WorkClaim& claim) {
  return impl_->RunIf("release work", [&](pqxx::work& tx) {
    if (tx.exec_params(std::string("UPDATE work SET state = 'ready', worker = '', lease_until = NULL WHERE ") + kHeld +
                           " RETURNING 1",
                       claim.item.run_id, claim.item.task_id, claim.item.try_number, claim.worker,
                       ToMicros(claim.lease_until))
            .empty()) {
      return false;
    }
    tx.exec_params("SELECT pg_notify('pipe_work', $1)", claim.item.queue);
    return true;
  });
}

bool PostgresStore::CancelWork(const WorkKey& key, const std::string& result_json, TimePoint at) {
  return impl_->RunIf("cancel work", [&](pqxx::work& tx) {
    pqxx::result r = tx.exec_params(
        "UPDATE work SET cancel_requested = TRUE, "
        "result = CASE WHEN state = 'ready' THEN $4 ELSE result END, "
        "ended_at = CASE WHEN state = 'ready' THEN $5 ELSE ended_at END, "
        "state = CASE WHEN state = 'ready' THEN 'done' ELSE state END "
        "WHERE run_id = $1 AND task_id = $2 AND try_number = $3 AND state IN ('ready', 'claimed') "
        "AND NOT cancel_requested RETURNING state",
        key.run_id, key.task_id, key.try_number, result_json, ToMicros(at));
    if (r.empty()) return false;
    if (r[0][0].as<std::string>() == "done") {
      tx.exec_params("SELECT pg_notify('pipe_done', $1)", EndedNotice(key.run_id, key.task_id, key.try_number));
    } else {
      tx.exec("SELECT pg_notify('pipe_cancel', '')");
    }
    return true;
  });
}

// An arbitrary constant naming the advisory lock of the reaper.
constexpr int64_t kReaperLock = 0x7069706572656170;  // "pipereap"

std::vector<WorkItem> PostgresStore::ReapExpiredWork(TimePoint now) {
  pqxx::result rows = impl_->Run("reap work", [&](pqxx::work& tx) {
    // One reaper at a time, over every scheduler: the others skip this turn.
    if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", kReaperLock)[0].as<bool>()) return pqxx::result();
    pqxx::result reaped = tx.exec_params(
        "UPDATE work SET state = 'lost', ended_at = $1 WHERE state = 'claimed' AND lease_until <= $1 "
        "RETURNING run_id, task_id, try_number, queue, payload, enqueued_at",
        ToMicros(now));
    if (!reaped.empty()) tx.exec("SELECT pg_notify('pipe_done', '')");
    return reaped;
  });
  std::vector<WorkItem> out;
  for (const auto& r : rows) out.push_back(ReadWorkItem(r));
  SortItems(out);
  return out;
}

std::optional<WorkRecord> PostgresStore::GetWork(const std::string& run_id, const std::string& task_id,
                                                 int try_number) {
  return impl_->Read("get work", [&](pqxx::transaction_base& tx) -> std::optional<WorkRecord> {
    pqxx::result r = tx.exec_params(std::string("SELECT ") + kWorkColumns +
                                        " FROM work WHERE run_id = $1 AND task_id = $2 AND try_number = $3",
                                    run_id, task_id, try_number);
    if (r.empty()) return std::nullopt;
    return ReadWork(r[0]);
  });
}

std::vector<WorkRecord> PostgresStore::ListWork(const std::string& run_id) {
  return impl_->Read("list work", [&](pqxx::transaction_base& tx) {
    std::vector<WorkRecord> out;
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kWorkColumns +
                                            " FROM work WHERE run_id = $1 ORDER BY task_id, try_number",
                                        run_id)) {
      out.push_back(ReadWork(r));
    }
    return out;
  });
}

std::vector<WorkRecord> PostgresStore::ListEndedWork(const std::vector<WorkKey>& keys) {
  if (keys.empty()) return {};
  return impl_->Read("list ended work", [&](pqxx::transaction_base& tx) {
    // The keys as a VALUES list (quoted by libpq), so that the planner knows
    // how many there are and looks each up by the primary key.
    std::string values;
    for (const WorkKey& k : keys) {
      values += std::string(values.empty() ? "(" : ", (") + tx.quote(k.run_id) + ", " + tx.quote(k.task_id) + ", " +
                std::to_string(k.try_number) + ")";
    }
    std::vector<WorkRecord> out;
    for (const auto& r : tx.exec(std::string("SELECT ") + kWorkColumns +
                                 " FROM work WHERE (run_id, task_id, try_number) IN (VALUES " + values +
                                 ") AND state IN ('done', 'lost')")) {
      out.push_back(ReadWork(r));
    }
    return out;
  });
}

void PostgresStore::PutWorker(const WorkerRecord& w) {
  impl_->Run<std::function<void(pqxx::nontransaction&)>, pqxx::nontransaction>(
      "put worker", [&](pqxx::nontransaction& tx) {
        tx.exec_params(
            "INSERT INTO workers(name, queues, slots, running, started_at, last_seen, live_until) "
            "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(name) DO UPDATE SET queues = excluded.queues, "
            "slots = excluded.slots, running = excluded.running, started_at = excluded.started_at, "
            "last_seen = excluded.last_seen, live_until = excluded.live_until",
            w.name, nlohmann::json(w.queues).dump(), w.slots, w.running, ToMicros(w.started_at),
            ToMicros(w.last_seen), ToMicros(w.live_until));
      });
}

std::vector<WorkerRecord> PostgresStore::ListWorkers() {
  return impl_->Read("list workers", [&](pqxx::transaction_base& tx) {
    std::vector<WorkerRecord> out;
    for (const auto& r : tx.exec("SELECT name, queues, slots, running, started_at, last_seen, live_until FROM workers "
                                 "ORDER BY name")) {
      WorkerRecord w;
      w.name = r[0].as<std::string>();
      w.queues = nlohmann::json::parse(r[1].as<std::string>()).get<std::vector<std::string>>();
      w.slots = r[2].as<int>();
      w.running = r[3].as<int>();
      w.started_at = Time(r[4]);
      w.last_seen = Time(r[5]);
      w.live_until = Time(r[6]);
      out.push_back(std::move(w));
    }
    return out;
  });
}

std::map<std::string, int64_t> PostgresStore::CountReadyWork() {
  return impl_->Read("count ready work", [&](pqxx::transaction_base& tx) {
    std::map<std::string, int64_t> out;
    for (const auto& r : tx.exec("SELECT queue, count(*) FROM work WHERE state = 'ready' GROUP BY queue")) {
      out[r[0].as<std::string>()] = r[1].as<int64_t>();
    }
    return out;
  });
}

unsigned PostgresStore::WaitForNotice(unsigned channels, Duration timeout) {
  return impl_->WaitForNotice(channels, timeout);
}

std::vector<WorkKey> PostgresStore::TakeEndedNotices(bool* complete) { return impl_->TakeEndedNotices(complete); }

}  // namespace pipeline

// libpq brings in GnuTLS (through OpenLDAP, for its LDAP service lookup),
// and GnuTLS initialises itself in a library constructor unless the program
// defines this function: GnuTLS's documented GNUTLS_SKIP_GLOBAL_INIT. That
// constructor cost every pipectl command ~10 ms of CPU at start. Nothing of
// ours uses GnuTLS (libpq speaks TLS through OpenSSL), and OpenLDAP calls
// gnutls_global_init itself before its first TLS connection. The executable
// exports the symbol (src/store/CMakeLists.txt) so that GnuTLS binds to it.
extern "C" int _gnutls_global_init_skip(void) { return 1; }
