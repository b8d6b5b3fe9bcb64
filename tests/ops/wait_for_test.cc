// The wait_for sensor, one check at a time: what it waits for, when it asks
// to be checked again, and what its timeout does.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "exec/builtin_operators.h"
#include "op_context.h"
#include "ops/data_operators.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using testing_util::OpContext;

class WaitForTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterDataOperators(ops_);
    dir_ = testing_util::FreshTestDir("wait_for");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One check with `with`; the try began `waited` before now.
  TaskResult Check(const std::string& with, Duration waited = Duration(0)) {
    ctx_ = std::make_unique<OpContext>("sensor", with, dir_);
    now_ = SystemClock::Default()->Now();
    ctx_->SetClock(now_, now_ - waited);
    return ops_.Find("wait_for")->Execute(*ctx_);
  }

  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }
  // Sets the file's modification time `ago` in the past.
  void Age(const std::string& name, Duration ago) {
    auto when = fs::file_time_type::clock::now() - ago;
    fs::last_write_time(dir_ / name, when);
  }

  OperatorRegistry ops_;
  fs::path dir_;
  std::unique_ptr<OpContext> ctx_;
  TimePoint now_;
};

TEST_F(WaitForTest, AFileOrGlobIsWaitedForAndThenMet) {
  TaskResult r = Check("{path: 'in/*.csv', poke_interval: 2m}");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(*r.check_again_at, now_ + minutes(2));
  EXPECT_EQ(r.metrics.summary, "waiting: no file matches in/*.csv");
  Write("in/a.csv", "x\n1\n");
  r = Check("{path: 'in/*.csv', poke_interval: 2m}", minutes(5));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.check_again_at);
  EXPECT_FALSE(r.skipped);
  EXPECT_EQ(r.metrics.summary, (dir_ / "in/a.csv").string() + " is there (after 5m)");
  Write("in/b.csv", "x\n2\n");
  r = Check("{path: 'in/*.csv'}");
  EXPECT_EQ(r.metrics.summary, "2 files are there (after 0s)");
  EXPECT_NE(ctx_->log().find("wait_for: 2 files are there"), std::string::npos) << ctx_->log();
}

TEST_F(WaitForTest, EveryMatchMustHaveMinSizeAndHaveSettled) {
  Write("in/a.csv", "x\n");
  TaskResult r = Check("{path: in/a.csv, min_size: 10}");
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary, "waiting: " + (dir_ / "in/a.csv").string() + " has 2 bytes, fewer than min_size 10");
  Write("in/a.csv", "x\n1\n2\n3\n4\n");
  EXPECT_FALSE(Check("{path: in/a.csv, min_size: 10}").check_again_at);

  // Just written: it has not been quiet for `settle`; the next check is when
  // it will have been (before the poke interval), unless it changes again.
  r = Check("{path: in/a.csv, settle: 3s, poke_interval: 1h}");
  ASSERT_TRUE(r.check_again_at);
  EXPECT_GT(*r.check_again_at, now_ + seconds(1));
  EXPECT_LE(*r.check_again_at, now_ + seconds(3));
  EXPECT_EQ(r.metrics.summary, "waiting: " + (dir_ / "in/a.csv").string() + " changed less than 3s ago");
  Age("in/a.csv", seconds(4));
  EXPECT_FALSE(Check("{path: in/a.csv, settle: 3s, poke_interval: 1h}").check_again_at);
}

TEST_F(WaitForTest, ATimeoutFailsOrSkipsAndIsCheckedOnTime) {
  TaskResult r = Check("{path: never.csv, timeout: 1h}", hours(1));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "wait_for: timed out after 1h: no file matches never.csv");
  EXPECT_TRUE(r.final);  // not retried
  r = Check("{path: never.csv, timeout: 1h, on_timeout: skip}", hours(2));
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.skipped);
  EXPECT_FALSE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary, "wait_for: timed out after 1h: no file matches never.csv");
  // One minute left of the timeout and a 30m poke interval: checked again
  // when the timeout falls due, not 29 minutes late.
  r = Check("{path: never.csv, timeout: 1h, poke_interval: 30m}", minutes(59));
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(*r.check_again_at, now_ + minutes(1));
  // The default timeout is an hour (the contract's), the default interval 30 seconds.
  r = Check("{path: never.csv}", minutes(59));
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(*r.check_again_at, now_ + seconds(30));
  EXPECT_FALSE(Check("{path: never.csv}", hours(1)).ok);
}

TEST_F(WaitForTest, AQueryWaitsForATrueFirstValue) {
  const std::string db = (dir_ / "flags.db").string();
  auto exec = [&](const char* sql) {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    sqlite3_close(h);
  };
  exec("CREATE TABLE loads(day TEXT, done INTEGER)");
  const std::string with = "{sql: \"SELECT done FROM loads WHERE day = '2026-12-04'\", source: 'sqlite:" + db + "'}";
  TaskResult r = Check(with);
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary, "waiting: the query returned no row");
  exec("INSERT INTO loads VALUES('2026-12-04', 0)");
  r = Check(with);
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary, "waiting: the query's first value is not true");
  exec("UPDATE loads SET done = 1");
  r = Check(with);
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.check_again_at);
  // A query the database refuses is a failure, not a wait.
  r = Check("{sql: 'SELECT nope FROM nowhere', source: 'sqlite:" + db + "'}");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("wait_for: "), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("nowhere"), std::string::npos) << r.error;
}

TEST_F(WaitForTest, AUrlIsWaitedForUntilItAnswers2xx) {
  // A port nobody listens on: refused, so waited for.
  int port = 0;
  close(testing_util::ListenOnFreeLoopbackPort(&port));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  TaskResult r = Check("{http: '" + base + "/ready'}");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary, "waiting: " + base + "/ready: Connection refused");
  // Python's http.server: a missing file is 404 (waited for), a present one 200.
  Write("www/ready", "yes");
  pid_t server = testing_util::SpawnProcess(
      {"/usr/bin/python3", "-m", "http.server", std::to_string(port), "--bind", "127.0.0.1", "--directory",
       (dir_ / "www").string()},
      {}, dir_ / "http.log", dir_ / "http.log", dir_, false);
  ASSERT_GT(server, 0);
  for (int i = 0; i < 200 && Check("{http: '" + base + "/ready'}").check_again_at; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  r = Check("{http: '" + base + "/ready'}");
  EXPECT_FALSE(r.check_again_at) << r.metrics.summary;
  EXPECT_EQ(r.metrics.summary.rfind(base + "/ready answered 200", 0), 0u) << r.metrics.summary;
  r = Check("{http: '" + base + "/missing'}");
  ASSERT_TRUE(r.check_again_at);
  EXPECT_EQ(r.metrics.summary.rfind("waiting: " + base + "/missing: HTTP 404", 0), 0u) << r.metrics.summary;
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
}

}  // namespace
}  // namespace pipeline
