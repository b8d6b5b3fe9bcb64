// The OpenLineage emitter on a real SQLite store with a file target: the
// events of a try and a run, their datasets from the recorded artifacts,
// and what is left out (a try that never started).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "openlineage/emitter.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace pipeline::openlineage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> Events(const fs::path& file) {
  std::ifstream in(file);
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

TEST(EmitterTest, TriesAndRunsBecomeEventsWithTheirDatasets) {
  const fs::path dir = testing_util::FreshTestDir("openlineage");
  SqliteStore store((dir / "state.db").string());
  const TimePoint at = TimePoint{} + std::chrono::hours(24 * 20000);
  // What the tries recorded: a table made from a file, and one made from it.
  store.PutArtifact({"r1", "load", "output", "/a/load.parquet", R"({"columns":[{"name":"id","type":"int64"}]})", 2,
                     "xxh3:1", at, R"([{"file":{"path":"/data/in.csv","hash":"xxh3:0"}}])", ""});
  store.PutArtifact({"r1", "tidy", "output", "/a/tidy.parquet", R"({"columns":[{"name":"id","type":"int64"}]})", 2,
                     "xxh3:2", at,
                     R"([{"artifact":{"run":"r1","task":"load","name":"output","hash":"xxh3:1"}},)"
                     R"({"query":{"source":"postgresql://db/shop","query":"SELECT 1","watermark":null}}])",
                     ""});
  const fs::path file = dir / "events.jsonl";
  {
    Emitter emitter(store, {"file:" + file.string()}, nullptr);
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    run.created_at = at;
    const std::string reason;
    emitter.OnRunState(run, RunState::kRunning);
    emitter.OnTaskState({run.run_id, "load", TaskState::kRunning, 1, at, reason, run.dag_id});
    emitter.OnTaskState({run.run_id, "load", TaskState::kSuccess, 1, at, reason, run.dag_id});
    emitter.OnTaskState({run.run_id, "tidy", TaskState::kRunning, 1, at, reason, run.dag_id});
    const std::string why = "exit status 3";
    emitter.OnTaskState({run.run_id, "tidy", TaskState::kUpForRetry, 1, at, why, run.dag_id});
    emitter.OnTaskState({run.run_id, "tidy", TaskState::kRunning, 2, at, reason, run.dag_id});
    emitter.OnTaskState({run.run_id, "tidy", TaskState::kSuccess, 2, at, reason, run.dag_id});
    emitter.OnTaskState({run.run_id, "never", TaskState::kCancelled, 0, at, reason, run.dag_id});  // never started
    emitter.OnTaskState({run.run_id, "skip", TaskState::kUpstreamFailed, 0, at, reason, run.dag_id});
    emitter.OnRunState(run, RunState::kSuccess);
  }  // delivers what is queued
  std::vector<json> events = Events(file);
  ASSERT_EQ(events.size(), 8u);
  std::vector<std::string> seq;
  for (const json& e : events) seq.push_back(e["eventType"].get<std::string>() + " " + e["job"]["name"].get<std::string>());
  EXPECT_EQ(seq, (std::vector<std::string>{"START d", "START d.load", "COMPLETE d.load", "START d.tidy", "FAIL d.tidy",
                                           "START d.tidy", "COMPLETE d.tidy", "COMPLETE d"}));
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (const json& e : events) EXPECT_TRUE(std::regex_match(e["run"]["runId"].get<std::string>(), uuid)) << e.dump();
  EXPECT_EQ(events[1]["run"]["runId"], events[2]["run"]["runId"]);   // one try, one run id
  EXPECT_NE(events[3]["run"]["runId"], events[5]["run"]["runId"]);   // another try, another
  EXPECT_EQ(events[0]["run"]["runId"], events[7]["run"]["runId"]);
  EXPECT_EQ(events[1]["run"]["facets"]["parent"]["run"]["runId"], events[0]["run"]["runId"]);
  EXPECT_EQ(events[2]["eventTime"], FormatIso8601(at));
  EXPECT_EQ(events[2]["inputs"], json::parse(R"([{"namespace": "file", "name": "/data/in.csv"}])"));
  EXPECT_EQ(events[2]["outputs"][0]["name"], "/a/load.parquet");
  EXPECT_EQ(events[2]["outputs"][0]["facets"]["schema"]["fields"], json::parse(R"([{"name": "id", "type": "int64"}])"));
  EXPECT_EQ(events[4]["run"]["facets"]["errorMessage"]["message"], "exit status 3");
  EXPECT_EQ(events[6]["inputs"], json::parse(R"([{"namespace": "file", "name": "/a/load.parquet"},
                                                 {"namespace": "postgresql://db/shop", "name": "SELECT 1"}])"));
  EXPECT_TRUE(events[0]["inputs"].empty());
}

TEST(EmitterTest, TargetsAreCheckedAndUuidsAreStable) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_targets");
  SqliteStore store((dir / "state.db").string());
  for (const char* bad : {"", "ftp://x", "https://user:pw@marquez/api/v1/lineage", "file:", "http://:80/x", "http://h:x/"}) {
    EXPECT_THROW(Emitter(store, {bad}, nullptr), Error) << bad;
  }
  EXPECT_EQ(Emitter::RunUuid("r1/load/1"), Emitter::RunUuid("r1/load/1"));
  EXPECT_NE(Emitter::RunUuid("r1/load/1"), Emitter::RunUuid("r1/load/2"));
}

// A receiver that refuses connections: events are counted as failed, the
// first failure is logged once, and the emitter stops promptly.
TEST(EmitterTest, AnAbsentReceiverIsLoggedOnceAndDoesNotHoldTheStop) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_down");
  SqliteStore store((dir / "state.db").string());
  int port = 0;
  int fd = testing_util::ListenOnFreeLoopbackPort(&port);
  ::close(fd);  // nobody listens there now
  std::vector<std::string> logged;
  std::mutex mu;
  uint64_t failed = 0;
  {
    Emitter emitter(store, {"http://127.0.0.1:" + std::to_string(port) + "/lineage"}, [&](const std::string& line) {
      std::lock_guard lock(mu);
      logged.push_back(line);
    });
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    for (int i = 0; i < 5; ++i) emitter.OnRunState(run, RunState::kRunning);
    while (emitter.failed() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    failed = emitter.failed();
  }
  EXPECT_EQ(failed, 5u);
  std::lock_guard lock(mu);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("openlineage: cannot deliver an event to http://127.0.0.1:"), std::string::npos) << logged[0];
}

TEST(EmitterTest, AFileThatCannotBeWrittenIsLoggedOnce) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_nofile");
  SqliteStore store((dir / "state.db").string());
  std::vector<std::string> logged;
  std::mutex mu;
  {
    Emitter emitter(store, {"file:" + (dir / "no" / "such" / "x.jsonl").string()}, [&](const std::string& line) {
      std::lock_guard lock(mu);
      logged.push_back(line);
    });
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    for (int i = 0; i < 8; ++i) emitter.OnRunState(run, RunState::kRunning);
    while (emitter.failed() < 8) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("openlineage: cannot append to "), std::string::npos) << logged[0];
}

}  // namespace
}  // namespace pipeline::openlineage
