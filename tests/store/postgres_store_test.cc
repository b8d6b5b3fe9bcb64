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
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()),
              "state database has schema version 99, newer than this build knows (1); upgrade pipectl");
  }
}

}  // namespace
}  // namespace pipeline
