// The OpenLineage emitter on a real SQLite store with a file target: the
// events of a try and a run, their datasets from the recorded artifacts,
// and what is left out (a try that never started).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <mutex>
#include <sstream>
#include <thread>
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

// The events of one try of task `task` of run r1 that ran from t0 for a
// second and succeeded, written to DIR/events.jsonl.
std::vector<json> OneTryEvents(SqliteStore& store, const fs::path& dir, const std::string& task, TimePoint t0) {
  const fs::path file = dir / "events.jsonl";
  {
    Emitter emitter(store, {"file:" + file.string()}, nullptr);
    const std::string none;
    emitter.OnTaskState({"r1", task, TaskState::kRunning, 1, t0, none, "d"});
    emitter.OnTaskState({"r1", task, TaskState::kSuccess, 1, t0 + std::chrono::seconds(1), none, "d"});
  }
  return Events(file);
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
    run.data_interval_start = at - std::chrono::hours(24);
    run.data_interval_end = at;
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
  // A task's table: one dataset across runs (DAG.TASK.NAME), its file as a symlink.
  EXPECT_EQ(events[2]["outputs"][0]["namespace"], "pipe");
  EXPECT_EQ(events[2]["outputs"][0]["name"], "d.load.output");
  EXPECT_EQ(events[2]["outputs"][0]["facets"]["symlinks"]["identifiers"],
            json::parse(R"([{"namespace": "file", "name": "/a/load.parquet", "type": "LOCATION"}])"));
  EXPECT_EQ(events[2]["outputs"][0]["facets"]["schema"]["fields"], json::parse(R"([{"name": "id", "type": "int64"}])"));
  EXPECT_EQ(events[4]["run"]["facets"]["errorMessage"]["message"], "exit status 3");
  // (A PostgreSQL source's namespace is postgres://HOST:PORT, as the naming spec has it.)
  EXPECT_EQ(events[6]["inputs"], json::parse(R"([{"namespace": "pipe", "name": "d.load.output"},
                                                 {"namespace": "postgres://db:5432", "name": "SELECT 1"}])"));
  EXPECT_TRUE(events[0]["inputs"].empty());
  // The kind of each job, as Airflow's integration says it.
  EXPECT_EQ(events[0]["job"]["facets"]["jobType"]["jobType"], "DAG");
  EXPECT_EQ(events[1]["job"]["facets"]["jobType"]["jobType"], "TASK");
  EXPECT_EQ(events[1]["job"]["facets"]["jobType"]["processingType"], "BATCH");
  EXPECT_EQ(events[1]["job"]["facets"]["jobType"]["integration"], "PIPE");
  // The DAG run's data interval, as Airflow's nominalTime facet.
  EXPECT_EQ(events[0]["run"]["facets"]["nominalTime"]["nominalStartTime"], FormatIso8601(at - std::chrono::hours(24)));
  EXPECT_EQ(events[7]["run"]["facets"]["nominalTime"]["nominalEndTime"], FormatIso8601(at));
  EXPECT_EQ(events[7]["run"]["facets"]["nominalTime"]["_schemaURL"],
            "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet");
}

TEST(EmitterTest, ASensorsChecksAreOneRunAcrossARestartAndATryBegunBeforeItIsClosed) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_restart");
  SqliteStore store((dir / "state.db").string());
  const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 20000);
  auto at = [&](int seconds) { return t0 + std::chrono::seconds(seconds); };
  const fs::path file = dir / "events.jsonl";
  const std::string none, lost = "lost: its process was gone after a restart";
  {
    Emitter emitter(store, {"file:" + file.string()}, nullptr);
    emitter.OnTaskState({"r1", "sensor", TaskState::kRunning, 1, at(0), none, "d", at(0)});    // a new try
    emitter.OnTaskState({"r1", "sensor", TaskState::kWaiting, 1, at(1), none, "d", at(0)});
    emitter.OnTaskState({"r1", "sensor", TaskState::kRunning, 1, at(60), none, "d", at(0)});   // the next check
    emitter.OnTaskState({"r1", "sensor", TaskState::kWaiting, 1, at(61), none, "d", at(0)});
    emitter.OnTaskState({"r1", "shell", TaskState::kRunning, 1, at(2), none, "d", at(2)});
  }  // piped stops; another takes the run over
  {
    Emitter emitter(store, {"file:" + file.string()}, nullptr);
    emitter.OnTaskState({"r1", "sensor", TaskState::kRunning, 1, at(120), none, "d", at(0)});  // resumed from the store
    emitter.OnTaskState({"r1", "sensor", TaskState::kSuccess, 1, at(121), none, "d", at(0)});
    emitter.OnTaskState({"r1", "shell", TaskState::kQueued, 1, at(120), lost, "d", at(2)});  // as the executor ends a lost try
    emitter.OnTaskState({"r1", "shell", TaskState::kRunning, 2, at(121), none, "d", at(121)});
    emitter.OnTaskState({"r1", "shell", TaskState::kSuccess, 2, at(122), none, "d", at(121)});
    emitter.OnTaskState({"r1", "never", TaskState::kQueued, 0, at(122), none, "d"});     // queued to start: no try
    emitter.OnTaskState({"r1", "never", TaskState::kCancelled, 1, at(122), none, "d"});  // no try ran
  }
  std::vector<json> events = Events(file);
  std::vector<std::string> seq;
  for (const json& e : events) {
    seq.push_back(e["eventType"].get<std::string>() + " " + e["job"]["name"].get<std::string>() + " " +
                  e["eventTime"].get<std::string>());
  }
  auto when = [&](int seconds) { return FormatIso8601(at(seconds)); };
  EXPECT_EQ(seq, (std::vector<std::string>{"START d.sensor " + when(0), "START d.shell " + when(2),
                                           "COMPLETE d.sensor " + when(121), "FAIL d.shell " + when(120),
                                           "START d.shell " + when(121), "COMPLETE d.shell " + when(122)}));
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0]["run"]["runId"], events[2]["run"]["runId"]);  // one try, one run, across the restart
  EXPECT_EQ(events[1]["run"]["runId"], events[3]["run"]["runId"]);
  EXPECT_EQ(events[3]["run"]["facets"]["errorMessage"]["message"], lost);
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
  ASSERT_EQ(logged.size(), 2u);  // the first failure, and at the stop how many were lost
  EXPECT_NE(logged[0].find("openlineage: cannot deliver an event to http://127.0.0.1:"), std::string::npos) << logged[0];
  EXPECT_EQ(logged[1], "openlineage: 5 of 5 events were not delivered");
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
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_NE(logged[0].find("openlineage: cannot append to "), std::string::npos) << logged[0];
  EXPECT_EQ(logged[1], "openlineage: 8 of 8 events were not delivered");
}

TEST(EmitterTest, DatasetsAreTheTrysOwnTablesAreNamedAsTheSpecSaysAndMapIndexesAreRunsOfOneJob) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_datasets");
  SqliteStore store((dir / "state.db").string());
  const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 20000);
  auto at = [&](int seconds) { return t0 + std::chrono::seconds(seconds); };
  // Try 2 of `load` wrote its table at t0+5 (try 1 ran t0..t0+1 and wrote
  // nothing); `out` exported to a PostgreSQL table; `part[1]` is a mapped
  // instance.
  store.PutArtifact({"r1", "load", "output", "/a/load.parquet", R"({"columns":[]})", 1, "xxh3:1", at(5), "[]", ""});
  std::ofstream(dir / "export.json") << R"({"datasets": [{"namespace": "postgresql://etl@db.internal/shop?sslmode=require",
                                                         "name": "orders"}], "schema": {"columns": []}})";
  store.PutArtifact({"r1", "out", "export", (dir / "export.json").string(), "{}", 0, "xxh3:2", at(7),
                     R"([{"query":{"source":"postgres://db.internal:5432/shop","query":"SELECT * FROM public.orders","watermark":null}}])",
                     ""});
  const fs::path file = dir / "events.jsonl";
  {
    Emitter emitter(store, {"file:" + file.string()}, nullptr);
    const std::string none, why = "bad row";
    emitter.OnTaskState({"r1", "load", TaskState::kRunning, 1, at(0), none, "d"});
    emitter.OnTaskState({"r1", "load", TaskState::kUpForRetry, 1, at(1), why, "d"});
    emitter.OnTaskState({"r1", "load", TaskState::kRunning, 2, at(4), none, "d"});
    emitter.OnTaskState({"r1", "load", TaskState::kSuccess, 2, at(6), none, "d"});
    emitter.OnTaskState({"r1", "out", TaskState::kRunning, 1, at(6), none, "d"});
    emitter.OnTaskState({"r1", "out", TaskState::kSuccess, 1, at(8), none, "d"});
    emitter.OnTaskState({"r1", "part[1]", TaskState::kRunning, 1, at(8), none, "d"});
    emitter.OnTaskState({"r1", "part[1]", TaskState::kSuccess, 1, at(9), none, "d"});
  }
  std::vector<json> events = Events(file);
  ASSERT_EQ(events.size(), 8u);
  // Try 1's FAIL lists nothing (the table is try 2's, written after it ended).
  EXPECT_EQ(events[1]["eventType"], "FAIL");
  EXPECT_TRUE(events[1]["outputs"].empty()) << events[1].dump();
  EXPECT_EQ(events[3]["outputs"][0]["name"], "d.load.output");
  // The table: postgres://HOST:PORT and DATABASE.SCHEMA.TABLE, whatever the URL's user and options.
  EXPECT_EQ(events[5]["outputs"][0]["namespace"], "postgres://db.internal:5432");
  EXPECT_EQ(events[5]["outputs"][0]["name"], "shop.public.orders");
  EXPECT_EQ(events[5]["inputs"][0]["namespace"], "postgres://db.internal:5432");
  // A query of one table is that table, named as an export to it is.
  EXPECT_EQ(events[5]["inputs"][0]["name"], "shop.public.orders");
  // A mapped instance is a run of the task's job, with a run id of its own.
  EXPECT_EQ(events[7]["job"]["name"], "d.part");
  EXPECT_EQ(events[7]["run"]["runId"], Emitter::RunUuid("r1/part[1]/1"));
}

TEST(EmitterTest, APostgresUrlsHostPortAndDatabaseParametersNameItsDatasets) {
  // libpq's ?host=/socket/folder&port=N&dbname=D stand for the URL's own parts.
  const fs::path dir = testing_util::FreshTestDir("openlineage_socket");
  SqliteStore store((dir / "state.db").string());
  const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 20000);
  std::ofstream(dir / "export.json") << R"({"datasets": [{"namespace": "postgresql://etl@/ignored?host=/run/pg&port=5433&dbname=shop",
                                                         "name": "orders"}], "schema": {"columns": []}})";
  store.PutArtifact({"r1", "out", "export", (dir / "export.json").string(), "{}", 0, "xxh3:2", t0,
                     R"([{"query":{"source":"postgresql://etl@db.internal/x?port=6000","query":"SELECT 1","watermark":null}}])",
                     ""});
  std::vector<json> events = OneTryEvents(store, dir, "out", t0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["outputs"][0]["namespace"], "postgres://localhost:5433");
  EXPECT_EQ(events[1]["outputs"][0]["name"], "shop.public.orders");
  EXPECT_EQ(events[1]["inputs"][0]["namespace"], "postgres://db.internal:6000");
  fs::remove_all(dir);
}

TEST(EmitterTest, AQueryOfOneTableIsThatTableAndAnyOtherQueryItsText) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_queries");
  SqliteStore store((dir / "state.db").string());
  const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 20000);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SELECT id, name FROM Users", "shop.public.users"},
      {"select * from crm.accounts a where a.id > 3 order by 1 limit 10;", "shop.crm.accounts"},
      {"SELECT count(*) AS n FROM orders AS o GROUP BY o.day", "shop.public.orders"},
      {"SELECT * FROM (SELECT id FROM events) AS pipe_incremental WHERE id > $1", "shop.public.events"},
      {"SELECT * FROM a JOIN b ON a.id = b.id", "SELECT * FROM a JOIN b ON a.id = b.id"},
      {"SELECT * FROM a, b", "SELECT * FROM a, b"},
      {"SELECT (SELECT max(x) FROM b) FROM a", "SELECT (SELECT max(x) FROM b) FROM a"},
      {"WITH t AS (SELECT 1) SELECT * FROM t", "WITH t AS (SELECT 1) SELECT * FROM t"},
      {"SELECT * FROM \"Mixed\"", "SELECT * FROM \"Mixed\""},
      {"SELECT 'from x' FROM y", "shop.public.y"},  // a FROM in a string is no FROM
      {"SELECT * FROM a; DROP TABLE b", "SELECT * FROM a; DROP TABLE b"},
      {"SELECT 1", "SELECT 1"},
  };
  json inputs = json::array();
  for (const auto& [query, name] : cases) {
    inputs.push_back({{"query", {{"source", "postgresql://db/shop"}, {"query", query}, {"watermark", nullptr}}}});
  }
  store.PutArtifact({"r1", "load", "output", "/a/load.parquet", R"({"columns":[]})", 1, "xxh3:1", t0, inputs.dump(), ""});
  std::vector<json> events = OneTryEvents(store, dir, "load", t0);
  ASSERT_EQ(events.size(), 2u);
  std::set<std::string> named;
  for (const json& in : events[1]["inputs"]) named.insert(in["name"].get<std::string>());
  for (const auto& [query, name] : cases) EXPECT_TRUE(named.count(name)) << query << " -> " << name;
  fs::remove_all(dir);
}

// A receiver on a loopback port: answers each request with `status` after
// `delay`, and keeps the requests it read.
class Receiver {
 public:
  Receiver(int status, std::chrono::milliseconds delay) : status_(status), delay_(delay) {
    fd_ = testing_util::ListenOnFreeLoopbackPort(&port_);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string request;
        char buf[4096];
        // Headers, then a body of Content-Length bytes.
        for (;;) {
          ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          request.append(buf, size_t(n));
          const size_t end = request.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          const size_t cl = request.find("Content-Length: ");
          const size_t length = cl == std::string::npos ? 0 : std::stoul(request.substr(cl + 16));
          if (request.size() >= end + 4 + length) break;
        }
        std::this_thread::sleep_for(delay_);
        const std::string answer = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!::write(c, answer.data(), answer.size());
        ::close(c);
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
    });
  }
  ~Receiver() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/lineage"; }
  void set_status(int status) { status_ = status; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::atomic<int> status_;
  std::chrono::milliseconds delay_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

TEST(EmitterTest, ARefusedEventIsNotRetriedTheKeyIsSentAndLostEventsAreCounted) {
  const fs::path dir = testing_util::FreshTestDir("openlineage_http");
  SqliteStore store((dir / "state.db").string());
  std::vector<std::string> logged;
  std::mutex mu;
  auto log = [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  };
  RunRecord run;
  run.run_id = "r1";
  run.dag_id = "d";
  {
    Receiver refusing(400, std::chrono::milliseconds(0));
    EmitterOptions options{refusing.url()};
    options.api_key = "k3y";
    Emitter emitter(store, options, log);
    emitter.OnRunState(run, RunState::kRunning);
    while (emitter.failed() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::vector<std::string> requests = refusing.requests();
    ASSERT_EQ(requests.size(), 1u);  // a 400 would be refused again: no retry
    EXPECT_NE(requests[0].find("Authorization: Bearer k3y\r\n"), std::string::npos) << requests[0];
    // When the receiver takes events again, the log says how many were lost.
    refusing.set_status(200);
    emitter.OnRunState(run, RunState::kSuccess);
    while (emitter.delivered() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(logged.size(), 3u);
  EXPECT_NE(logged[0].find("after 1 attempt: "), std::string::npos) << logged[0];
  EXPECT_NE(logged[1].find(" again; 1 event was lost meanwhile"), std::string::npos) << logged[1];
  EXPECT_EQ(logged[2], "openlineage: 1 of 2 events were not delivered");
}

TEST(EmitterTest, ASlowReceiverHoldsTheStopForTheDrainLimitOnly) {
  // Given 40 events queued for a receiver that takes 0.3 s each (12 s in
  // all), then the stop delivers for the drain limit, drops the rest, says so.
  const fs::path dir = testing_util::FreshTestDir("openlineage_slow");
  SqliteStore store((dir / "state.db").string());
  Receiver slow(200, std::chrono::milliseconds(300));
  std::vector<std::string> logged;
  std::mutex mu;
  EmitterOptions options{slow.url()};
  options.drain_limit = std::chrono::milliseconds(500);
  RunRecord run;
  run.run_id = "r1";
  run.dag_id = "d";
  std::optional<Emitter> emitter;
  emitter.emplace(store, options, [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  });
  for (int i = 0; i < 40; ++i) emitter->OnRunState(run, RunState::kRunning);
  const auto stop = std::chrono::steady_clock::now();
  emitter.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::seconds(8));  // not 12
  std::lock_guard lock(mu);
  ASSERT_GE(logged.size(), 2u);
  const std::string& stopping = logged[logged.size() - 2];
  EXPECT_NE(stopping.find("openlineage: stopping: "), std::string::npos) << stopping;
  EXPECT_NE(stopping.find(" not delivered within 500ms dropped"), std::string::npos) << stopping;
  EXPECT_NE(logged.back().find(" events were not delivered"), std::string::npos) << logged.back();
  EXPECT_LT(slow.requests().size(), 10u);
}

}  // namespace
}  // namespace pipeline::openlineage
