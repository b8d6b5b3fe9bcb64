#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "core/error.h"
#include "store/sqlite_store.h"
#include "store/state_store_test.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;

fs::path TestDir() { return fs::temp_directory_path() / ("pipe_store_" + std::to_string(getpid())); }

// A path no database is at (a folder left by an earlier process with the
// same pid is emptied first).
std::string FreshPath() {
  static std::atomic<int> counter{0};
  if (counter == 0) fs::remove_all(TestDir());
  fs::create_directories(TestDir());
  return (TestDir() / ("db" + std::to_string(counter++) + ".sqlite")).string();
}

class RemoveTestDir : public testing::Environment {
 public:
  void TearDown() override { fs::remove_all(TestDir()); }
};
[[maybe_unused]] testing::Environment* const kCleanup = testing::AddGlobalTestEnvironment(new RemoveTestDir);

std::string last_path;

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StateStoreTest,
    testing::Values(StoreBackend{
        "sqlite",
        [] {
          last_path = FreshPath();
          return std::unique_ptr<StateStore>(OpenStateStore("sqlite:" + last_path));
        },
        [] { return std::unique_ptr<StateStore>(OpenStateStore("sqlite:" + last_path)); }}),
    [](const auto& p) { return p.param.name; });

TEST(SqliteStoreTest, RefusesANewerSchema) {
  // Given a database stamped with a future schema version, then opening fails clearly.
  std::string path = FreshPath();
  { SqliteStore store(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    SqliteStore store(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);  // exit 3: a database this build cannot use
    EXPECT_EQ(std::string(e.what()), "state database " + path +
                                         " has schema version 99, newer than this build knows (" + std::to_string(kSchemaVersion) + "); upgrade pipectl and piped");
  }
}

TEST(SqliteStoreTest, UnopenablePathIsUnavailable) {
  try {
    SqliteStore store("/proc/no/such/dir/state.db");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
}

TEST(SqliteStoreTest, UnknownUrlSchemeIsRefused) {
  try {
    OpenStateStore("mysql://x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace pipeline

namespace pipeline {
namespace {

// A database of schema version 3 (before the model registry) gets its tables.
TEST(SqliteStoreTest, MigratesAVersionThreeDatabase) {
  std::string path = FreshPath();
  { SqliteStore store(path); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE model_alias_history; DROP TABLE model_aliases; DROP TABLE model_versions; "
                           "DROP TABLE work; "  // versions 5 and 6
                           "ALTER TABLE runs DROP COLUMN coordinator; ALTER TABLE runs DROP COLUMN coordinator_until; "
                           "ALTER TABLE runs DROP COLUMN cancel_requested; DROP TABLE workers; "  // version 7
                           "ALTER TABLE task_instances DROP COLUMN map_index; "
                           "ALTER TABLE task_instances DROP COLUMN map_item; "  // version 8
                           "DROP TABLE watermarks; "                            // version 9
                           "DROP INDEX artifacts_cache; ALTER TABLE artifacts DROP COLUMN inputs; "
                           "ALTER TABLE artifacts DROP COLUMN cache_key; "  // version 10
                           "DROP TABLE notifications; "  // version 11
                           "DROP TABLE sla_misses; "     // version 12
                           "DROP INDEX runs_one_per_upstream; DROP INDEX task_instances_success; "
                           "ALTER TABLE runs DROP COLUMN upstream; "  // version 14
                           "ALTER TABLE runs DROP COLUMN rerun_of; "  // version 15
                           "ALTER TABLE runs DROP COLUMN triggered_by; "  // version 16
                           "ALTER TABLE task_tries DROP COLUMN inputs; "  // version 17
                           "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  SqliteStore store(path);
  EXPECT_EQ(store.schema_version(), kSchemaVersion);
  ModelVersionRecord v;
  v.name = "m";
  EXPECT_EQ(store.CreateModelVersion(v), 1);
}

}  // namespace
}  // namespace pipeline
