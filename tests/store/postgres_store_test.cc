#include <atomic>
#include <memory>

#include "core/error.h"
#include <pqxx/pqxx>

#include "pg_cluster.h"
#include "store/postgres_store.h"
#include "store/state_store_test.h"

namespace pipeline {
namespace {

using testing_util::TempPgCluster;

TempPgCluster& Cluster() { return testing_util::SharedCluster(); }

std::string last_url;

INSTANTIATE_TEST_SUITE_P(
    Postgres, StateStoreTest,
    testing::Values(StoreBackend{
        "postgres",
        [] {
          static std::atomic<int> counter{0};
          last_url = Cluster().CreateDatabase("t" + std::to_string(counter++));
          return std::unique_ptr<StateStore>(OpenStateStore(last_url));
        },
        [] { return std::unique_ptr<StateStore>(OpenStateStore(last_url)); }}),
    [](const auto& p) { return p.param.name; });

TEST(PostgresStoreTest, SurvivesAServerRestart) {
  // Given a store whose server restarts, then the next call reconnects and works.
  std::string url = Cluster().CreateDatabase("restart");
  PostgresStore store(url);
  EXPECT_FALSE(store.GetRun("r1"));
  Cluster().Pause();
  Cluster().StartAgain();
  EXPECT_FALSE(store.GetRun("r1"));
  EXPECT_EQ(store.schema_version(), kSchemaVersion);
}

TEST(PostgresStoreTest, UnreachableServerIsUnavailable) {
  PostgresOptions options;
  options.connect_budget = std::chrono::milliseconds(300);
  try {
    PostgresStore store("postgresql://postgres@/none?host=/nonexistent&port=1", options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
}

TEST(PostgresStoreTest, RefusesANewerSchema) {
  std::string url = Cluster().CreateDatabase("newer");
  { PostgresStore store(url); }
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    tx.commit();
  }
  try {
    PostgresStore store(url);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);  // exit 3: a database this build cannot use
    EXPECT_EQ(std::string(e.what()),
              std::string("state database has schema version 99, newer than this build knows (") + std::to_string(kSchemaVersion) + "); upgrade pipectl and piped");
  }
}

// A batch repeated after a lost connection (its first call may have
// committed) is not applied twice; a repeat that did not commit still applies.
TEST(PostgresStoreTest, RepeatedTransitionBatchAppliesOnce) {
  std::string url = Cluster().CreateDatabase("retry");
  PostgresStore store(url);
  RunRecord run;
  run.run_id = "r1";
  run.dag_id = "d";
  run.dag_version = 1;
  run.trigger = "manual";
  run.logical_date = run.data_interval_start = run.data_interval_end = run.created_at = FromMicros(1'000'000);
  run.params_json = "{}";
  store.CreateRun(run, {{"a", 1}});
  const std::string batch =
      R"([{"run":"r1","task":"a","from":["pending"],"to":"queued","at":2000000,"terminal":false,"next_try_at":null,)"
      R"("reason":"","metrics":null,"exit_code":null,"log_path":"","worker":""},)"
      R"({"run":"r1","task":"a","from":["queued"],"to":"running","at":2000000,"terminal":false,"next_try_at":null,)"
      R"("reason":"","metrics":null,"exit_code":null,"log_path":"a.log","worker":"w"}])";
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  auto call = [&](bool retry) {
    return tx.exec_params("SELECT pipe_transition_tasks($1::jsonb, $2)", batch, retry)[0][0].as<bool>();
  };
  EXPECT_TRUE(call(true)) << "a first call marked as a repeat applies normally";
  EXPECT_TRUE(call(true)) << "the repeat finds it applied";
  try {
    call(false);
    ADD_FAILURE() << "a fresh call from the wrong state must conflict";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "PX001");
  }
  EXPECT_EQ(store.GetTaskInstance("r1", "a")->state, TaskState::kRunning);
  EXPECT_EQ(store.GetTries("r1", "a").size(), 1u);
  EXPECT_EQ(store.GetTransitions("r1").size(), 3u);  // the creation and the two of the batch
}

// A database made by the first schema version is migrated: the transition
// function appears and a batch of transitions goes through it.
TEST(PostgresStoreTest, MigratesAVersionOneDatabase) {
  std::string url = Cluster().CreateDatabase("v1");
  { PostgresStore store(url); }
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec("DROP FUNCTION pipe_transition_tasks(jsonb, boolean)");
    tx.exec("DROP TABLE model_alias_history, model_aliases, model_versions, work");  // versions 4 to 6
    tx.exec("DROP INDEX runs_running; DROP TABLE workers");  // version 7
    tx.exec("ALTER TABLE runs DROP COLUMN coordinator, DROP COLUMN coordinator_until, DROP COLUMN cancel_requested");
    tx.exec("ALTER TABLE task_instances DROP COLUMN map_index, DROP COLUMN map_item");  // version 8
    tx.exec("DROP TABLE watermarks");  // version 9
    tx.exec("DROP INDEX artifacts_cache; ALTER TABLE artifacts DROP COLUMN inputs, DROP COLUMN cache_key");  // version 10
    tx.exec("DROP TABLE notifications");  // version 11
    tx.exec("DROP TABLE sla_misses");     // version 12
    tx.exec("DROP INDEX runs_one_per_upstream; DROP INDEX task_instances_success; "
            "ALTER TABLE runs DROP COLUMN upstream");  // version 14
    tx.exec("ALTER TABLE runs DROP COLUMN rerun_of");  // version 15
    tx.exec("ALTER TABLE runs DROP COLUMN triggered_by");  // version 16
    tx.exec("ALTER TABLE task_tries DROP COLUMN inputs");  // version 17
    tx.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    tx.commit();
  }
  PostgresStore store(url);
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT value FROM meta WHERE key = 'schema_version'")[0][0].as<std::string>(),
            std::to_string(kSchemaVersion));
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_proc WHERE proname = 'pipe_transition_tasks'")[0][0].as<int>(), 1);
}

// A database of schema version 2 gets version 3's transition function, which
// records a try's process given at its start.
TEST(PostgresStoreTest, MigratesAVersionTwoDatabase) {
  std::string url = Cluster().CreateDatabase("v2");
  { PostgresStore store(url); }
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    // Version 2's function inserted no process.
    tx.exec("CREATE OR REPLACE FUNCTION pipe_transition_tasks(batch jsonb, retry boolean) RETURNS boolean "
            "LANGUAGE sql AS 'SELECT false'");
    tx.exec("DROP TABLE model_alias_history, model_aliases, model_versions, work");  // versions 4 to 6
    tx.exec("DROP INDEX runs_running; DROP TABLE workers");  // version 7
    tx.exec("ALTER TABLE runs DROP COLUMN coordinator, DROP COLUMN coordinator_until, DROP COLUMN cancel_requested");
    tx.exec("ALTER TABLE task_instances DROP COLUMN map_index, DROP COLUMN map_item");  // version 8
    tx.exec("DROP TABLE watermarks");  // version 9
    tx.exec("DROP INDEX artifacts_cache; ALTER TABLE artifacts DROP COLUMN inputs, DROP COLUMN cache_key");  // version 10
    tx.exec("DROP TABLE notifications");  // version 11
    tx.exec("DROP TABLE sla_misses");     // version 12
    tx.exec("DROP INDEX runs_one_per_upstream; DROP INDEX task_instances_success; "
            "ALTER TABLE runs DROP COLUMN upstream");  // version 14
    tx.exec("ALTER TABLE runs DROP COLUMN rerun_of");  // version 15
    tx.exec("ALTER TABLE runs DROP COLUMN triggered_by");  // version 16
    tx.exec("ALTER TABLE task_tries DROP COLUMN inputs");  // version 17
    tx.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    tx.commit();
  }
  PostgresStore store(url);
  EXPECT_EQ(store.schema_version(), kSchemaVersion);
  RunRecord run;
  run.run_id = "r1";
  run.dag_id = "d";
  run.dag_version = 1;
  run.trigger = "manual";
  run.params_json = "{}";
  store.CreateRun(run, {{"a", 1}});
  TaskTransition queue, start;
  queue.run_id = start.run_id = "r1";
  queue.task_id = start.task_id = "a";
  queue.from = {TaskState::kPending};
  queue.to = TaskState::kQueued;
  start.from = {TaskState::kQueued};
  start.to = TaskState::kRunning;
  start.process = "77@1";
  EXPECT_TRUE(store.TransitionTasks({queue, start}));
  EXPECT_EQ(store.GetTries("r1", "a").at(0).process, "77@1");
  // Version 17's: an ending try's inputs.
  TaskTransition done;
  done.run_id = "r1";
  done.task_id = "a";
  done.from = {TaskState::kRunning};
  done.to = TaskState::kSuccess;
  done.inputs_json = R"([{"file": {"path": "/x"}}])";
  EXPECT_TRUE(store.TransitionTasks({done}));
  EXPECT_EQ(store.GetTries("r1", "a").at(0).inputs_json, R"([{"file": {"path": "/x"}}])");
}

}  // namespace
}  // namespace pipeline
