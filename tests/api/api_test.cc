#include "api/api.h"
#include "serving/model_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <condition_variable>
#include <thread>

#include "columnar/csv.h"
#include "columnar/file_hash.h"
#include "columnar/parquet.h"
#include "core/error.h"
#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"
#include "scheduler/scheduler.h"
#include "views/lineage_view.h"
#include "views/run_view.h"
#include "store/state_store.h"
#include "test_util.h"
#include "views/table_view.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ApiTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_api");
    fs::create_directories(dir_ / "dags");
    std::ofstream(dir_ / "dags" / "hello.yaml")
        << "dag: hello\nschedule: '@daily'\nstart_date: 2026-01-01\nparams: {n: 1}\n"
           "tasks:\n  a: {op: shell, run: 'echo hi'}\n  b: {op: shell, depends_on: [a], run: 'true'}\n";
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
    RegisterBuiltinOperators(ops_);
    ExecutorOptions options;
    options.workers = 2;
    options.log_root = (dir_ / "logs").string();
    executor_ = std::make_unique<Executor>(*store_, ops_, *SystemClock::Default(), options);
    scheduler_ = std::make_unique<Scheduler>(*store_, *executor_, loader_, *SystemClock::Default());
    scheduler_->SetDags(loader_.LoadFolder((dir_ / "dags").string()));
    api_ = std::make_unique<Api>(*scheduler_, *store_, tokens_, metrics_, ApiOptions{});
    models_ = std::make_unique<ModelServer>(*store_, ModelServerOptions{});
    api_->SetModelServer(models_.get());
  }
  void TearDown() override {
    scheduler_->Stop(Duration(0));
    fs::remove_all(dir_);
  }

  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& token = "") {
    HttpRequest req;
    req.method = method;
    req.target = target;
    EXPECT_TRUE(ParseTarget(target, &req.path, &req.query));
    req.body = body;
    if (!token.empty()) req.authorization = "Bearer " + token;
    return api_->Handle(req);
  }

  std::string TriggerAndWait() {
    json created = json::parse(Call("POST", "/api/v1/dags/hello/runs", "{}").body);
    std::string id = created["run_id"];
    for (int attempt = 0; attempt < 6000; ++attempt) {
      std::string state = json::parse(Call("GET", "/api/v1/runs/" + id).body)["state"];
      if (state == "success" || state == "failed") return id;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "run " << id << " did not end within 60 s";
    return id;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  OperatorRegistry ops_;
  DagLoader loader_{ops_};
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Scheduler> scheduler_;
  TokenStore tokens_;
  MetricsObserver metrics_;
  std::unique_ptr<ModelServer> models_;
  std::unique_ptr<Api> api_;
};

TEST(ArtifactRowsTest, ATableArtifactsRowsAsJsonAndWhatIsNotATable) {
  // Given a Parquet artifact of 5 rows, then rows 1..3 come back typed
  // (numbers, text, bool, null, timestamps as their text) with the columns
  // and the total; a JSON report is no table; a file that is gone is named.
  auto dir = testing_util::FreshTestDir("pipe_rows");
  auto csv = columnar::ReadCsvText("id,name,ok,ts,x\n1,a,true,2026-01-02T03:04:05Z,0.5\n2,b,false,,1.5\n3,,true,"
                                   "2026-01-02T03:04:06Z,\n4,d,false,2026-01-02T03:04:07Z,2\n5,e,true,,3\n",
                                   "in.csv");
  const std::string path = (dir / "output.parquet").string();
  columnar::WriteParquetFile(*csv.table, path);
  ArtifactRecord a;
  a.run_id = "r1";
  a.task_id = "load";
  a.name = "output";
  a.uri = path;
  a.row_count = 5;
  nlohmann::json rows = views::ArtifactRowsJson(a, 1, 3);
  EXPECT_EQ(rows["total_rows"], 5);
  EXPECT_EQ(rows["columns"], nlohmann::json::parse(R"([{"name":"id","type":"int64"},{"name":"name","type":"string"},)"
                                                   R"({"name":"ok","type":"bool"},{"name":"ts","type":"timestamp"},)"
                                                   R"({"name":"x","type":"float64"}])"));
  EXPECT_EQ(rows["rows"], nlohmann::json::parse(R"([[2,"b",false,null,1.5],[3,null,true,"2026-01-02 03:04:06",null],)"
                                                R"([4,"d",false,"2026-01-02 03:04:07",2.0]])"));
  EXPECT_EQ(views::ArtifactRowsJson(a, 5, 10)["rows"].size(), 0u);
  a.uri = (dir / "report.json").string();
  std::ofstream(a.uri) << "{}";
  try {
    views::ArtifactRowsJson(a, 0, 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()), "artifact 'output' of task 'load' is not a table (report.json)");
  }
  a.uri = (dir / "gone.parquet").string();
  try {
    views::ArtifactRowsJson(a, 0, 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  std::filesystem::remove_all(dir);
}

// A manual run `id` of DAG "d" version 1 at `at`.
RunRecord ManualRun(const std::string& id, TimePoint at) {
  RunRecord run;
  run.run_id = id;
  run.dag_id = "d";
  run.dag_version = 1;
  run.trigger = "manual";
  run.logical_date = run.data_interval_start = run.data_interval_end = run.created_at = at;
  run.params_json = "{}";
  return run;
}

// The lineage tree (views/lineage_view.h) of what the store recorded: a
// model back through two tables to a file and a query, an artifact read
// twice drawn once, one rewritten since and one no longer stored.
TEST(LineageViewTest, AModelLeadsBackToItsSourcesOnceEach) {
  auto dir = testing_util::FreshTestDir("pipe_lineage");
  auto store = OpenStateStore("sqlite:" + (dir / "state.db").string());
  const TimePoint at = TimePoint{} + std::chrono::hours(24 * 20000);
  const std::string cols = R"({"columns":[{"name":"id","type":"int64"}]})";
  store->CreateRun(ManualRun("r1", at), {{"load", 1}, {"users", 1}, {"join", 1}, {"fit", 1}, {"plan", 1}});
  store->PutArtifact({"r1", "load", "output", "/a/load.parquet", cols, 3, "xxh3:1", at,
                      R"([{"file":{"path":"/in/x.csv","hash":"xxh3:f"}}])", ""});
  store->PutArtifact({"r1", "users", "output", "/a/users.parquet", cols, 2, "xxh3:2", at,
                      R"([{"query":{"source":"postgresql://db/crm","query":"SELECT id FROM u","watermark":"41"}}])", ""});
  // join read load twice (as itself and through a mapped read, say), and users as it was before a retry.
  store->PutArtifact({"r1", "join", "output", "/a/join.parquet", cols, 3, "xxh3:3", at,
                      R"([{"artifact":{"run":"r1","task":"load","name":"output","hash":"xxh3:1"}},)"
                      R"({"artifact":{"run":"r1","task":"users","name":"output","hash":"xxh3:0"}},)"
                      R"({"artifact":{"run":"r1","task":"load","name":"output","hash":"xxh3:1"}},)"
                      R"({"artifact":{"run":"r0","task":"gone","name":"output","hash":"xxh3:9"}}])",
                      ""});
  store->PutArtifact({"r1", "fit", "model", "/a/model.json", "{}", 0, "xxh3:m", at,
                      R"([{"artifact":{"run":"r1","task":"join","name":"output","hash":"xxh3:3"}}])", ""});
  ModelVersionRecord v;
  v.name = "churn";
  v.model_type = "xgboost";
  v.kind = "classification";
  v.uri = "/a/model.json";
  v.format = "xgboost-json";
  v.content_hash = "xxh3:m";
  v.lineage_json = R"({"dag_id": "d", "dag_version": 1, "run_id": "r1", "task_id": "fit", "inputs": []})";
  v.created_at = at;
  ASSERT_EQ(store->CreateModelVersion(v), 1);

  nlohmann::json tree = views::LineageJson(*store, "churn@1");
  EXPECT_EQ(tree, views::LineageJson(*store, "churn:1"));
  EXPECT_EQ(tree, views::ModelLineageJson(*store, "churn", 1));
  EXPECT_EQ(tree["kind"], "model");
  const nlohmann::json& join = tree["inputs"][0];
  EXPECT_EQ(join["schema"], nlohmann::json::parse(cols));
  ASSERT_EQ(join["inputs"].size(), 4u);
  EXPECT_EQ(join["inputs"][0]["inputs"][0], nlohmann::json::parse(R"({"kind": "file", "path": "/in/x.csv", "hash": "xxh3:f"})"));
  EXPECT_EQ(join["inputs"][1]["changed"], true);
  EXPECT_EQ(join["inputs"][1]["read_hash"], "xxh3:0");
  EXPECT_EQ(join["inputs"][2]["seen"], true);
  EXPECT_FALSE(join["inputs"][2].contains("inputs"));
  EXPECT_EQ(join["inputs"][3]["missing"], true);
  EXPECT_EQ(views::LineageText(tree),
            "model churn:1 (run r1, task fit)  xxh3:m\n"
            "└─ r1/join/output  3 rows  xxh3:3\n"
            "   ├─ r1/load/output  3 rows  xxh3:1\n"
            "   │  └─ file /in/x.csv  xxh3:f\n"
            "   ├─ r1/users/output  2 rows  xxh3:2  (rewritten since it was read as xxh3:0)\n"
            "   │  └─ query on postgresql://db/crm: SELECT id FROM u  (past 41)\n"
            "   ├─ r1/load/output  xxh3:1  (see above)\n"
            "   └─ r0/gone/output  xxh3:9  (no longer in the store)\n");
  EXPECT_EQ(views::LineageJson(*store, "r1/join"), views::ArtifactLineageJson(*store, "r1", "join", "output"));
  auto error = [&](const std::string& ref) {
    try {
      views::LineageJson(*store, ref);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("r9/load"), "no run 'r9'");
  EXPECT_EQ(error("r1/nope"), "run 'r1' has no task 'nope'");
  EXPECT_EQ(error("r1/plan"), "task 'plan' of run 'r1' recorded no artifact (it is pending)");
  // RUN/TASK of a task with one artifact of another name: that one.
  EXPECT_EQ(error("r1/fit"), "no error");
  EXPECT_EQ(views::LineageJson(*store, "r1/fit"), views::ArtifactLineageJson(*store, "r1", "fit", "model"));
  EXPECT_EQ(error("r1/fit/model"), "no error");
  EXPECT_EQ(error("r1/fit/report"), "no artifact 'report' of task 'fit' in run 'r1' (it has model: name one as "
                                    "RUN_ID/TASK/ARTIFACT)");
  for (const char* bad : {"r1//x", "/fit", "r1/fit/", "r1/fit/model/x"}) {
    EXPECT_EQ(error(bad), "'" + std::string(bad) + "' is not RUN_ID/TASK[/ARTIFACT]: a part is empty or there are more");
  }
  EXPECT_EQ(error("churn:2"), "model 'churn' has no version 2");
  EXPECT_EQ(error("Bad Ref"), "'Bad Ref' is neither RUN_ID/TASK[/ARTIFACT] nor a model (model reference 'Bad Ref': "
                              "'Bad Ref' is not a model name)");
}


TEST(RunViewTest, ALostTryRaisesTheLastTryATaskMayReach) {
  // Given a task without retries whose first try a shutdown handed back (it
  // uses up no retry) and whose second succeeded,
  auto dir = testing_util::FreshTestDir("pipe_run_view");
  auto store = OpenStateStore("sqlite:" + (dir / "state.db").string());
  const TimePoint at = TimePoint{} + std::chrono::hours(24 * 20000);
  RunRecord run = ManualRun("r1", at);
  store->CreateRun(run, {{"s", 1}});
  TaskState from = TaskState::kPending;
  for (auto [to, reason] : std::vector<std::pair<TaskState, std::string>>{
           {TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kQueued, "lost: handed back at shutdown"},
           {TaskState::kRunning, ""}, {TaskState::kSuccess, ""}}) {
    TaskTransition t;
    t.run_id = "r1";
    t.task_id = "s";
    t.from = {from};
    t.to = to;
    t.at = at;
    t.reason = reason;
    ASSERT_TRUE(store->TransitionTask(t)) << ToString(from) << "->" << ToString(to);
    from = to;
  }
  // then it shows try 2 of 2, not 2 of 1.
  nlohmann::json shown = views::RunJson(*store, *store->GetRun("r1"))["tasks"][0];
  EXPECT_EQ(shown["try"], 2);
  EXPECT_EQ(shown["max_tries"], 2);
  EXPECT_EQ(store->GetTaskInstance("r1", "s")->max_tries, 1);  // as stored: the retries it has
}

TEST(RunViewTest, ATasksReportIsNamedWithItsGistAndAnEncodedAddress) {
  // Given an instance of a mapped validate task that wrote its report,
  auto dir = testing_util::FreshTestDir("pipe_run_view_report");
  auto store = OpenStateStore("sqlite:" + (dir / "state.db").string());
  const TimePoint at = TimePoint{} + std::chrono::hours(24 * 20000);
  RunRecord run = ManualRun("r1", at);
  store->CreateRun(run, {{"check[0]", 1}, {"load", 1}});
  ArtifactRecord report;
  report.run_id = "r1";
  report.task_id = "check[0]";
  report.name = "report";
  report.uri = (dir / "report.json").string();
  report.schema_json = "{}";
  report.content_hash = "xxh3:0000000000000000";
  report.created_at = at;
  store->PutArtifact(report);
  // then the run lists it by name and address (its brackets percent-encoded),
  // and the task that wrote none has null.
  nlohmann::json tasks = views::RunJson(*store, *store->GetRun("r1"))["tasks"];
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0]["report"], (nlohmann::json{{"artifact", "report"}, {"summary", ""},
                                                {"url", "/api/v1/runs/r1/tasks/check%5B0%5D/artifacts/report"}}));
  EXPECT_TRUE(tasks[1]["report"].is_null());
  fs::remove_all(dir);
}

TEST(MetricsObserverTest, TheInstancesOfAMappedTaskShareItsDurationSeries) {
  // Given 100 instances of mapped task `m` (m[0] .. m[99]), then /metrics
  // has one duration series for `m` counting 100 tries, not 100 series.
  MetricsObserver metrics;
  const TimePoint start = FromMicros(int64_t{1'800'000'000} * 1'000'000);
  const std::string run = "r1", dag = "fan", none;
  for (int i = 0; i < 100; ++i) {
    const std::string task = "m[" + std::to_string(i) + "]";
    metrics.OnTaskState({run, task, TaskState::kRunning, 1, start, none, dag});
    metrics.OnTaskState({run, task, TaskState::kSuccess, 1, start + std::chrono::milliseconds(20), none, dag});
  }
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("pipe_task_duration_seconds_count{dag=\"fan\",task=\"m\"} 100"), std::string::npos) << text;
  EXPECT_EQ(text.find("m[0]"), std::string::npos);
}

TEST_F(ApiTest, TheVersionsOfADagAndTheirSources) {
  // Given hello loaded, edited and loaded again, then two versions are
  // listed newest first and each gives its own text.
  std::ofstream(dir_ / "dags" / "hello.yaml") << "dag: hello\ntasks:\n  only: {op: shell, run: 'true'}\n";
  scheduler_->SetDags(loader_.LoadFolder((dir_ / "dags").string()));
  json list = json::parse(Call("GET", "/api/v1/dags/hello/versions").body);
  ASSERT_EQ(list["versions"].size(), 2u) << list.dump();
  EXPECT_EQ(list["versions"][0]["version"], 2);
  EXPECT_EQ(list["versions"][1]["version"], 1);
  EXPECT_FALSE(list["versions"][0].contains("source"));
  json v2 = json::parse(Call("GET", "/api/v1/dags/hello/versions/2").body);
  EXPECT_EQ(v2["source"], "dag: hello\ntasks:\n  only: {op: shell, run: 'true'}\n");
  EXPECT_NE(json::parse(Call("GET", "/api/v1/dags/hello/versions/1").body)["source"].get<std::string>().find("b: {op: shell"),
            std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/dags/hello/versions/3").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/dags/hello/versions/0").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/dags/nope/versions").status, 404);
}

TEST_F(ApiTest, TheGridHasARowPerRunAndACellPerTask) {
  // Given two runs of hello (a then b), then the grid lists them
  // newest first with both tasks' states; an unknown DAG is a 404.
  const std::string first = TriggerAndWait();
  const std::string second = TriggerAndWait();
  HttpResponse r = Call("GET", "/api/v1/dags/hello/grid?limit=5");
  ASSERT_EQ(r.status, 200) << r.body;
  json grid = json::parse(r.body);
  ASSERT_EQ(grid["runs"].size(), 2u);
  EXPECT_EQ(grid["runs"][0]["run_id"], second);
  EXPECT_EQ(grid["runs"][1]["run_id"], first);
  const json& tasks = grid["tasks"];
  ASSERT_EQ(tasks.size(), 2u);
  const int success = int(std::find(grid["states"].begin(), grid["states"].end(), "success") - grid["states"].begin());
  EXPECT_EQ(grid["cells"], json::array({json::array({success, success}), json::array({success, success})}));
  EXPECT_EQ(Call("GET", "/api/v1/dags/nope/grid").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/dags/hello/grid?limit=0").status, 400);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/dags/hello/grid?limit=1").body)["runs"].size(), 1u);
}

TEST_F(ApiTest, EveryRouteIsInTheOpenApiFileAndBack) {
  YAML::Node spec = YAML::LoadFile(std::string(PIPE_SOURCE_DIR) + "/docs/api/openapi.yaml");
  std::set<std::string> documented;
  for (const auto& path : spec["paths"]) {
    for (const auto& op : path.second) {
      std::string method = op.first.as<std::string>();
      if (method == "parameters") continue;
      for (char& c : method) c = char(std::toupper(c));
      documented.insert(method + " " + path.first.as<std::string>());
    }
  }
  std::set<std::string> served(ApiRoutes().begin(), ApiRoutes().end());
  EXPECT_EQ(documented, served);
}

TEST_F(ApiTest, EveryListedRouteIsServed) {
  // Given sample ids (and the models loaded, as piped's model server does
  // at start), then no listed route answers "no route".
  models_->Refresh();
  std::string run_id = TriggerAndWait();
  for (std::string route : ApiRoutes()) {
    route = std::regex_replace(route, std::regex("\\{dag_id\\}"), "hello");
    route = std::regex_replace(route, std::regex("\\{run_id\\}"), run_id);
    route = std::regex_replace(route, std::regex("\\{task_id\\}"), "a");
    size_t space = route.find(' ');
    std::string body = route.find("backfill") != std::string::npos
                           ? R"({"from": "2026-01-01", "to": "2026-01-02"})"
                           : route.rfind("PATCH", 0) == 0 ? R"({"paused": false})" : "";
    HttpResponse r = Call(route.substr(0, space), route.substr(space + 1), body);
    EXPECT_EQ(r.body.find("no route"), std::string::npos) << route << " -> " << r.status << " " << r.body;
    EXPECT_LT(r.status, 500) << route << " -> " << r.body;
  }
}

TEST_F(ApiTest, RunsShowTasksAndLogs) {
  std::string run_id = TriggerAndWait();
  json run = json::parse(Call("GET", "/api/v1/runs/" + run_id).body);
  EXPECT_EQ(run["state"], "success");
  ASSERT_EQ(run["tasks"].size(), 2u);
  EXPECT_EQ(run["tasks"][0]["tries"].size(), 1u);
  HttpResponse log = Call("GET", "/api/v1/runs/" + run_id + "/tasks/a/logs");
  EXPECT_EQ(log.status, 200);
  EXPECT_EQ(log.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(log.body, "hi\n");
  json page = json::parse(Call("GET", "/api/v1/dags/hello/runs?limit=1&state=success").body);
  EXPECT_EQ(page["total"], 1);
  EXPECT_EQ(page["runs"].size(), 1u);
  std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("pipe_runs{dag=\"hello\",state=\"success\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("pipe_task_instances{dag=\"hello\",state=\"success\"} 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\npipe_scheduler_loop_lag_seconds "), std::string::npos) << metrics;
}

TEST_F(ApiTest, ErrorsAreJsonWithFittingStatus) {
  auto code = [&](const HttpResponse& r) { return json::parse(r.body)["error"]["code"].get<std::string>(); };
  HttpResponse missing = Call("GET", "/api/v1/dags/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(code(missing), "not_found");
  EXPECT_EQ(Call("GET", "/api/v1/dags/No-Pe").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs/..").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs?limit=abc").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs?state=done").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/runs", "{").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/runs", R"({"params": 5})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/runs", R"({"params": {"n": "x"}})").status, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/dags/hello", R"({"paused": "yes"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/backfill", R"({"from": "bad", "to": "2026-01-02"})").status, 400);
  // A misspelt or unknown field is named, not a silent default.
  HttpResponse misspelt = Call("POST", "/api/v1/dags/hello/runs", R"({"parmas": {"n": 3}})");
  EXPECT_EQ(misspelt.status, 400);
  EXPECT_EQ(json::parse(misspelt.body)["error"]["message"],
            "unknown field 'parmas' in the request body (fields: params, queue)");
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/runs", R"({"logical_date": "2020-01-01T00:00:00Z"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dags/hello/backfill", R"({"from": "2026-01-01", "to": "2026-01-02", "rerunn": true})").status,
            400);
  EXPECT_EQ(Call("PATCH", "/api/v1/dags/hello", R"({"paused": true, "pause": true})").status, 400);
  HttpResponse wrong_method = Call("DELETE", "/api/v1/dags/hello");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(code(wrong_method), "method_not_allowed");
  ASSERT_EQ(wrong_method.headers.size(), 1u);
  EXPECT_EQ(wrong_method.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, HEAD, PATCH"}));
  EXPECT_EQ(Call("DELETE", "/api/v1/nothing/here").status, 404);
  EXPECT_EQ(Call("HEAD", "/api/v1/dags/hello").status, 200);
  EXPECT_EQ(Call("HEAD", "/api/v1/dags/nope").status, 404);
  EXPECT_EQ(Call("HEAD", "/api/v1/dags/hello/backfill").status, 405);
  // An id holding a NUL is named whole, the NUL shown as \x00.
  HttpResponse nul = Call("GET", "/api/v1/runs/ab%00cd");
  EXPECT_EQ(nul.status, 400);
  EXPECT_EQ(json::parse(nul.body)["error"]["message"], "invalid run id 'ab\\x00cd'");
  EXPECT_EQ(Call("POST", "/api/v1/runs/nope/cancel").status, 404);
  // Found by api_fuzzer: invalid UTF-8 echoed into an error message.
  HttpResponse bad_utf8 = Call("GET", "/api/v1/runs?state=%8F%8Bx");
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_FALSE(json::parse(bad_utf8.body, nullptr, false).is_discarded());
}

TEST_F(ApiTest, QueueFalseIsAConflictWhenFull) {
  std::ofstream(dir_ / "dags" / "slow.yaml") << "dag: slow\ntasks:\n  a: {op: shell, run: 'sleep 5'}\n";
  scheduler_->SetDags(loader_.LoadFolder((dir_ / "dags").string()));
  json first = json::parse(Call("POST", "/api/v1/dags/slow/runs", "{}").body);
  HttpResponse refused = Call("POST", "/api/v1/dags/slow/runs", R"({"queue": false})");
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + first["run_id"].get<std::string>() + "/cancel").status, 200);
}

TEST_F(ApiTest, TokensGateReadsAndWrites) {
  tokens_.Add(Role::kViewer, Sha256Hex("v"));
  tokens_.Add(Role::kOperator, Sha256Hex("o"));
  tokens_.Add(Role::kAdmin, Sha256Hex("a"));
  HttpResponse refused = Call("GET", "/api/v1/dags");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.headers, (std::vector<std::pair<std::string, std::string>>{
                                 {"WWW-Authenticate", "Bearer realm=\"piped\""}}));  // RFC 7235: with every 401
  EXPECT_EQ(Call("GET", "/api/v1/dags", "", "v").status, 200);
  EXPECT_EQ(Call("PATCH", "/api/v1/dags/hello", R"({"paused": true})", "v").status, 403);
  EXPECT_EQ(Call("PATCH", "/api/v1/dags/hello", R"({"paused": true})", "o").status, 200);
  EXPECT_EQ(Call("PATCH", "/api/v1/dags/hello", R"({"paused": false})", "a").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/health").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
  // The scheme is case-insensitive (RFC 9110 11.1); the token is not.
  for (const char* scheme : {"bearer ", "BEARER ", "Bearer "}) {
    HttpRequest req;
    req.method = "GET";
    req.target = req.path = "/api/v1/dags";
    req.authorization = std::string(scheme) + "v";
    EXPECT_EQ(api_->Handle(req).status, 200) << scheme;
    req.authorization = std::string(scheme) + "V";
    EXPECT_EQ(api_->Handle(req).status, 401) << scheme;
  }
}

TEST_F(ApiTest, TheWebUiIsItsPageForEveryUiPathAndItsAssets) {
  static const UiAsset kAssets[] = {{"index.html", "text/html; charset=utf-8", "<html>page</html>"},
                                    {"app.js", "text/javascript; charset=utf-8", "run()"}};
  ApiOptions options;
  options.ui_assets = kAssets;
  api_ = std::make_unique<Api>(*scheduler_, *store_, tokens_, metrics_, options);
  tokens_.Add(Role::kViewer, Sha256Hex("v"));  // the page is open; the API is not
  for (const char* path : {"/", "/ui", "/ui/", "/ui/dags/hello/graph", "/ui/runs/r1/tasks/a?x=1"}) {
    HttpResponse page = Call("GET", path);
    EXPECT_EQ(page.status, 200) << path;
    EXPECT_EQ(page.body, "<html>page</html>") << path;
    EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(page.headers, (std::vector<std::pair<std::string, std::string>>{{"Cache-Control", "no-cache"}}));
  }
  HttpResponse js = Call("GET", "/ui/assets/app.js?v=abc");
  EXPECT_EQ(js.body, "run()");
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.headers[0].second, "public, max-age=31536000, immutable");
  EXPECT_EQ(Call("GET", "/ui/assets/nope.js").status, 404);
  EXPECT_EQ(Call("HEAD", "/ui/dags").status, 200);
  EXPECT_EQ(Call("POST", "/ui/dags").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/dags").status, 401);
  // Without a bundle: the one-page fallback.
  api_ = std::make_unique<Api>(*scheduler_, *store_, tokens_, metrics_, ApiOptions{});
  EXPECT_NE(Call("GET", "/ui/runs/x").body.find("<title>piped</title>"), std::string::npos);
  EXPECT_EQ(Call("GET", "/ui/assets/app.js").status, 404);
}

TEST_F(ApiTest, AuthNamesTheCallersRole) {
  json open = json::parse(Call("GET", "/api/v1/auth").body);
  EXPECT_EQ(open, json::parse(R"({"tokens_required": false, "role": "admin"})"));
  tokens_.Add(Role::kViewer, Sha256Hex("v"));
  tokens_.Add(Role::kOperator, Sha256Hex("o"));
  EXPECT_EQ(Call("GET", "/api/v1/auth").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/auth", "", "x").status, 401);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/auth", "", "v").body)["role"], "viewer");
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/auth", "", "o").body),
            json::parse(R"({"tokens_required": true, "role": "operator"})"));
  // Moving a model's alias changes what serves: operator and above.
  EXPECT_EQ(Call("PUT", "/api/v1/models/m/aliases/production", R"({"version": 1})", "v").status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/models/m/aliases/production/rollback", "", "v").status, 403);
  EXPECT_EQ(Call("PUT", "/api/v1/models/m/aliases/production", R"({"version": 1})", "o").status, 404);  // no model m
}

TEST_F(ApiTest, ADagListsItsParamsWithTheirTypes) {
  std::ofstream(dir_ / "dags" / "typed.yaml")
      << "dag: typed\nparams: {rows: 5000, rate: 0.5, on: true, name: x, tags: [a, b], none: null, cut: 0.80}\n"
         "tasks:\n  a: {op: shell, run: 'true'}\n";
  scheduler_->SetDags(loader_.LoadFolder((dir_ / "dags").string()));
  json params = json::parse(Call("GET", "/api/v1/dags/typed").body)["params"];
  EXPECT_EQ(params, json::parse(R"([{"name": "rows", "type": "integer", "default": 5000},
                                    {"name": "rate", "type": "number", "default": 0.5},
                                    {"name": "on", "type": "boolean", "default": true},
                                    {"name": "name", "type": "string", "default": "x"},
                                    {"name": "tags", "type": "list", "default": ["a", "b"]},
                                    {"name": "none", "type": "null", "default": null},
                                    {"name": "cut", "type": "number", "default": "0.80"}])"));
}

TEST_F(ApiTest, ALogIsReadFromAnOffsetAndATasksHistoryListsItsRuns) {
  std::string run_id = TriggerAndWait();
  const std::string log = "/api/v1/runs/" + run_id + "/tasks/a/logs";
  using Headers = std::vector<std::pair<std::string, std::string>>;
  HttpResponse from = Call("GET", log + "?offset=1");
  EXPECT_EQ(from.body, "i\n");
  EXPECT_EQ(from.headers, (Headers{{"X-Log-Size", "3"}, {"X-Log-Start", "1"}}));
  HttpResponse past = Call("GET", log + "?offset=10");
  EXPECT_EQ(past.body, "");
  EXPECT_EQ(past.headers, (Headers{{"X-Log-Size", "3"}, {"X-Log-Start", "3"}}));  // read on from the real end
  EXPECT_EQ(Call("GET", log + "?offset=-1").status, 400);
  // The last bytes only (a long log's page opens at its end).
  HttpResponse tail = Call("GET", log + "?tail=1");
  EXPECT_EQ(tail.body, "\n");
  EXPECT_EQ(tail.headers, (Headers{{"X-Log-Size", "3"}, {"X-Log-Start", "2"}}));
  HttpResponse whole = Call("GET", log + "?tail=100&offset=0");
  EXPECT_EQ(whole.body, "hi\n");
  EXPECT_EQ(whole.headers, (Headers{{"X-Log-Size", "3"}, {"X-Log-Start", "0"}}));
  EXPECT_EQ(Call("GET", log + "?offset=1&tail=2").body, "i\n");  // never before offset
  EXPECT_EQ(Call("GET", log + "?tail=0").status, 400);
  std::string second = TriggerAndWait();
  json history = json::parse(Call("GET", "/api/v1/dags/hello/tasks/a/history?limit=5").body);
  ASSERT_EQ(history["runs"].size(), 2u);
  EXPECT_EQ(history["runs"][0]["run_id"], second);  // newest first
  EXPECT_EQ(history["runs"][1]["run_id"], run_id);
  EXPECT_EQ(history["runs"][0]["state"], "success");
  EXPECT_EQ(history["runs"][0]["try"], 1);
  EXPECT_TRUE(history["runs"][0]["metrics"].is_object());
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/dags/hello/tasks/a/history?limit=1").body)["runs"].size(), 1u);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/dags/hello/tasks/zzz/history").body)["runs"].size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/dags/nope/tasks/a/history").status, 404);
}

TEST_F(ApiTest, OnlyTheUiAndSmallPredictionsOfALoadedModelAreAnsweredOnTheConnectionThread) {
  auto request = [](std::string method, std::string target, size_t body = 0) {
    HttpRequest r;
    r.method = std::move(method);
    EXPECT_TRUE(ParseTarget(target, &r.path, &r.query));
    r.body.assign(body, ' ');
    return r;
  };
  const std::string model = (dir_ / "model.json").string();
  std::ofstream(model) << R"({"coef": [0.5], "intercept": 0.1})";
  ModelVersionRecord v;
  v.name = "fraud";
  v.model_type = "logistic_regression";
  v.kind = "classification";
  v.uri = model;
  v.format = "pipe-linear-v1";
  v.features_json = R"([{"name": "amount", "type": "float64"}])";
  v.transforms_json = "[]";
  v.lineage_json = "{}";
  const int version = store_->CreateModelVersion(v);
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", version, SystemClock::Default()->Now()));
  // Not loaded yet: its first load reads the store, on a request thread.
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/models/fraud/predict", 900)));
  ASSERT_EQ(Call("POST", "/api/v1/models/fraud/predict", R"({"rows": [{"amount": 2}]})").status, 200);

  EXPECT_TRUE(api_->AnswersInline(request("GET", "/")));
  EXPECT_TRUE(api_->AnswersInline(request("HEAD", "/ui/assets/app.js")));
  EXPECT_TRUE(api_->AnswersInline(request("POST", "/api/v1/models/fraud/predict", 900)));
  EXPECT_TRUE(api_->AnswersInline(request("POST", "/v2/models/fraud/infer", 16 * 1024)));
  // Large bodies, aliases or models not loaded, and everything that may wait for the store.
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/models/fraud/predict", 16 * 1024 + 1)));
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/models/fraud/predict?alias=staging", 900)));
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/models/other/predict", 900)));
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/models//predict", 900)));
  EXPECT_FALSE(api_->AnswersInline(request("GET", "/api/v1/health")));
  EXPECT_FALSE(api_->AnswersInline(request("GET", "/metrics")));
  EXPECT_FALSE(api_->AnswersInline(request("GET", "/api/v1/models/fraud")));
  EXPECT_FALSE(api_->AnswersInline(request("POST", "/api/v1/dags/hello/runs")));
  EXPECT_FALSE(api_->AnswersInline(request("GET", "/api/v1/models/fraud/predict")));
  // The limit is the daemon's (64 KiB when it has several connection threads).
  ApiOptions wide;
  wide.inline_predict_bytes = 64 * 1024;
  Api several(*scheduler_, *store_, tokens_, metrics_, wide);
  several.SetModelServer(models_.get());
  EXPECT_TRUE(several.AnswersInline(request("POST", "/api/v1/models/fraud/predict", 64 * 1024)));
  EXPECT_FALSE(several.AnswersInline(request("POST", "/api/v1/models/fraud/predict", 64 * 1024 + 1)));
  EXPECT_FALSE(several.AnswersInline(request("GET", "/api/v1/health")));
}

// A logistic version of model `name` on one float64 feature, "amount", its
// file at `uri`; with `write`, the file is written (coef 0.5, intercept 0.1)
// and its hash recorded.
ModelVersionRecord AmountModel(const std::string& name, const fs::path& uri, bool write = true) {
  ModelVersionRecord v;
  v.name = name;
  v.model_type = "logistic_regression";
  v.kind = "classification";
  v.uri = uri.string();
  v.format = "pipe-linear-v1";
  v.features_json = R"([{"name": "amount", "type": "float64"}])";
  v.transforms_json = "[]";
  v.lineage_json = "{}";
  if (write) {
    std::ofstream(v.uri) << R"({"coef": [0.5], "intercept": 0.1})";
    v.content_hash = *columnar::FileContentHash(v.uri);
  }
  return v;
}

TEST_F(ApiTest, AnAliasMovedToAVersionThatCannotLoadLeavesTheOneServingAndSaysItOnce) {
  // Given version 1 serving, then production moved to version 2 whose file
  // is not the one recorded: version 1 goes on serving (as KServe keeps the
  // last ready revision), the error is reported once over many polls, and a
  // loadable version 3 swaps in.
  auto version = [&](const std::string& file, const std::string& hash) {
    ModelVersionRecord v = AmountModel("fraud", dir_ / file);
    if (!hash.empty()) v.content_hash = hash;
    return store_->CreateModelVersion(v);
  };
  const TimePoint now = SystemClock::Default()->Now();
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", version("v1.json", ""), now));
  auto served = [&] {
    HttpResponse r = Call("POST", "/api/v1/models/fraud/predict", R"({"rows": [{"amount": 2}]})");
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body)["version"].get<int>();
  };
  EXPECT_EQ(served(), 1);
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", version("v2.json", "xxh3:0000000000000000"), now));
  std::vector<std::string> errors;
  for (int poll = 0; poll < 5; ++poll) EXPECT_EQ(models_->Refresh(&errors), 0);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("model 'fraud' version 2 cannot be loaded: model file "), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("; version 1 goes on serving"), std::string::npos) << errors[0];
  EXPECT_EQ(served(), 1);
  EXPECT_EQ(Call("GET", "/v2/models/fraud/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);  // version 1 serves
  // OIP's version routes: the version the alias serves, and no other.
  EXPECT_EQ(Call("GET", "/v2/models/fraud/versions/1/ready").status, 200);
  EXPECT_EQ(nlohmann::json::parse(Call("GET", "/v2/models/fraud/versions/1").body)["versions"],
            nlohmann::json::array({"1"}));
  HttpResponse infer = Call("POST", "/v2/models/fraud/versions/1/infer",
                            R"({"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [2]}]})");
  EXPECT_EQ(infer.status, 200) << infer.body;
  HttpResponse other = Call("GET", "/v2/models/fraud/versions/2/ready");
  EXPECT_EQ(other.status, 404);
  // OIP's error body: {"error": MESSAGE}.
  EXPECT_EQ(other.body, R"({"error":"model 'fraud' serves version 1 (alias production), not version 2"})");
  EXPECT_EQ(Call("GET", "/v2/models/fraud/versions/x").body, R"j({"error":"invalid version 'x' (1, 2, ...)"})j");
  EXPECT_EQ(Call("GET", "/v2/models/nope").status, 404);
  EXPECT_TRUE(nlohmann::json::parse(Call("GET", "/v2/models/nope").body)["error"].is_string());
  EXPECT_TRUE(nlohmann::json::parse(Call("GET", "/api/v1/models/nope").body)["error"].is_object());

  // A model whose production version cannot load (none serving): not ready.
  ModelVersionRecord broken = AmountModel("other", dir_ / "missing.json", /*write=*/false);
  ASSERT_TRUE(store_->SetModelAlias("other", "production", store_->CreateModelVersion(broken), now));
  models_->Refresh(&errors);
  HttpResponse unready = Call("GET", "/v2/health/ready");
  EXPECT_EQ(unready.status, 503);
  nlohmann::json why = nlohmann::json::parse(unready.body);
  EXPECT_EQ(why["ready"], false);
  // (open to probes: it names the version, not the file the log names)
  EXPECT_EQ(why["reason"], "model 'other' version 1 cannot be loaded (piped's log says why)") << unready.body;
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().find(broken.uri), std::string::npos) << errors.back();
  std::ofstream(broken.uri) << R"({"coef": [0.5], "intercept": 0.1})";  // now it loads
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", version("v3.json", ""), now));
  EXPECT_EQ(models_->Refresh(&errors), 2);
  EXPECT_EQ(served(), 3);
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200) << Call("GET", "/v2/health/ready").body;
}

TEST_F(ApiTest, ANudgedModelServerLooksAtTheAliasesAtOnceNotAtItsNextPoll) {
  // Given a server that polls once an hour, started before any alias was
  // set, then an alias set and a Nudge (piped's, when one of its runs ends)
  // loads the version without waiting for the poll.
  ModelServerOptions options;
  options.poll = std::chrono::hours(1);
  ModelServer server(*store_, options);
  server.Start();
  const ModelVersionRecord v = AmountModel("fraud", dir_ / "nudged.json");
  const int first = store_->CreateModelVersion(v);
  const int second = store_->CreateModelVersion(v);
  auto loaded = [&] {
    auto d = server.Loaded("fraud", "production");
    return d ? d->version : 0;
  };
  auto eventually = [&](int want) {
    for (int i = 0; i < 500 && loaded() != want; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return loaded();
  };
  const TimePoint now = SystemClock::Default()->Now();
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", first, now));
  server.Nudge();
  EXPECT_EQ(eventually(first), first);
  ASSERT_TRUE(store_->SetModelAlias("fraud", "production", second, now));
  server.Nudge();
  EXPECT_EQ(eventually(second), second);
}

TEST(ArtifactDocumentTest, AJsonArtifactsContentAndWhatIsNotOne) {
  auto dir = testing_util::FreshTestDir("pipe_doc");
  ArtifactRecord a;
  a.run_id = "r1";
  a.task_id = "check";
  a.name = "report";
  a.content_hash = "xxh3:1";
  a.uri = (dir / "report.json").string();
  std::ofstream(a.uri) << R"({"passed": true, "checks": [1, 2]})";
  EXPECT_EQ(views::ArtifactDocumentJson(a, 1000), json::parse(R"({"task_id": "check", "name": "report",
      "content_hash": "xxh3:1", "content": {"passed": true, "checks": [1, 2]}})"));
  auto code = [&](uintmax_t max) {
    try {
      views::ArtifactDocumentJson(a, max);
      return std::string("no error");
    } catch (const Error& e) {
      return std::string(ErrorCodeName(e.code())) + ": " + e.what();
    }
  };
  EXPECT_EQ(code(10), "invalid_argument: artifact 'report' of task 'check' has 34 bytes, more than the 10 the API returns");
  std::ofstream(a.uri) << "{not json";
  EXPECT_EQ(code(1000), "corruption: artifact 'report' of task 'check' is not valid JSON: " + a.uri);
  fs::remove(a.uri);
  EXPECT_EQ(code(1000), "not_found: the file of artifact 'report' of task 'check' is gone: " + a.uri);
  a.uri = (dir / "output.parquet").string();
  EXPECT_EQ(code(1000), "invalid_argument: artifact 'report' of task 'check' is not a JSON document (output.parquet); "
                        "a table's rows are under .../rows");
  fs::remove_all(dir);
}

TEST(AuthTest, TokenFileIsParsedAndChecked) {
  fs::path dir = testing_util::FreshTestDir("pipe_auth");
  std::ofstream(dir / "tokens") << "# comment\n\nviewer " << Sha256Hex("x") << " ci bot\n";
  TokenStore tokens = TokenStore::Load((dir / "tokens").string());
  EXPECT_EQ(tokens.RoleFor("x"), Role::kViewer);
  EXPECT_FALSE(tokens.RoleFor("y"));
  EXPECT_FALSE(tokens.RoleFor(""));
  std::ofstream(dir / "bad") << "root abc\n";
  try {
    TokenStore::Load((dir / "bad").string());
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "bad").string() + ":1: expected 'viewer|operator|admin SHA256_HEX [name]'");
  }
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fs::remove_all(dir);
}

TEST(HttpTest, ParseTargetDecodes) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/a%20b/c?x=1&y=two+words&z=%2F&flag", &path, &query));
  EXPECT_EQ(path, "/a b/c");
  EXPECT_EQ(query["x"], "1");
  EXPECT_EQ(query["y"], "two words");
  EXPECT_EQ(query["z"], "/");
  EXPECT_EQ(query.count("flag"), 1u);
  EXPECT_FALSE(ParseTarget("/bad%2", &path, &query));
  EXPECT_FALSE(ParseTarget("/bad%zz", &path, &query));
}

// --- the HTTP server on a real socket ------------------------------------------------

using testing_util::ConnectToLoopback;

// Sends `request` as is and reads the answer until the server closes.
std::string Raw(int port, const std::string& request) {
  int fd = ConnectToLoopback(port);
  EXPECT_EQ(write(fd, request.data(), request.size()), ssize_t(request.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fd);
  return out;
}

class HttpServerTest : public testing::Test {
 protected:
  void Serve(HttpServerOptions options = {}) {
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, [this](const HttpRequest& r) {
      std::lock_guard lock(mu_);
      seen_.push_back(r.method + " " + r.path);
      return HttpResponse{200, "text/plain", "hello"};
    });
    server_->Start();
  }
  std::vector<std::string> Seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

TEST_F(HttpServerTest, HeadAnswersTheHeadersOfGetWithoutTheBody) {
  Serve();
  std::string r = Raw(server_->port(), "HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 5\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << r;  // nothing after the headers
  EXPECT_EQ(Seen(), std::vector<std::string>{"HEAD /x"});
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredAtOnce) {
  // A client that waits for "100 Continue" before sending its body gets it
  // at once; one whose body would be too large gets the 413 instead.
  HttpServerOptions options;
  options.body_limit = 1000;
  Serve(options);
  int fd = testing_util::ConnectToLoopback(server_->port());
  const std::string head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(fd, head.data(), head.size()), ssize_t(head.size()));
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);  // before any body byte is sent
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, size_t(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(write(fd, "hello", 5), 5);
  std::string rest;
  while ((n = read(fd, buf, sizeof buf)) > 0) rest.append(buf, size_t(n));
  close(fd);
  EXPECT_EQ(rest.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << rest;
  std::string big = Raw(server_->port(), "POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n"
                                         "Expect: 100-continue\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
  EXPECT_EQ(Seen(), std::vector<std::string>{"POST /x"});
}

TEST_F(HttpServerTest, Http11NeedsExactlyOneHost) {
  Serve();
  int port = server_->port();
  EXPECT_EQ(Raw(port, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(Raw(port, "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 400", 0),
            0u);
  EXPECT_EQ(Raw(port, "GET /x HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);  // 1.0 has no Host rule
  EXPECT_EQ(Seen(), std::vector<std::string>{"GET /x"});
}

TEST_F(HttpServerTest, AbsoluteFormNamingThisServerIsServed) {
  Serve();
  int port = server_->port();
  std::string self = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(Raw(port, "GET http://" + self + "/api/v1/health?x=1 HTTP/1.1\r\nHost: " + self +
                          "\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 200", 0),
            0u);
  std::string other = Raw(port, "GET http://example.com/x HTTP/1.1\r\nHost: example.com:81\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(other.rfind("HTTP/1.1 400", 0), 0u) << other;
  EXPECT_NE(other.find("not a proxy"), std::string::npos) << other;
  // The asterisk-form is OPTIONS's only.
  std::string star = Raw(port, "GET * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(star.rfind("HTTP/1.1 400", 0), 0u) << star;
  EXPECT_NE(star.find("request target '*' is for OPTIONS only"), std::string::npos) << star;
  EXPECT_EQ(Seen(), std::vector<std::string>{"GET /api/v1/health"});
}

TEST_F(HttpServerTest, IdleConnectionsPastTheCapMakeRoomForNewClients) {
  // Given more half-open connections than the cap, then a new client is
  // still answered: the connections that waited longest are closed.
  HttpServerOptions options;
  options.max_connections = 4;
  Serve(options);
  std::vector<int> idle;
  for (int idx = 0; idx < 12; ++idx) idle.push_back(ConnectToLoopback(server_->port()));
  std::string r = Raw(server_->port(), "GET /api/v1/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  // The oldest idle ones were closed by the server: they read end of file.
  char c;
  EXPECT_EQ(read(idle[0], &c, 1), 0);
  for (int attempt = 0; attempt < 1000 && server_->open_connections() > 5; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_LE(server_->open_connections(), 5);
  for (int fd : idle) close(fd);
}

// A server with one connection thread and one request thread, whose handler
// holds "/slow" until the test releases it.
class HttpServerRequestThreadsTest : public testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.request_threads = 1;
    options.answer_inline = [](const HttpRequest& r) { return r.path == "/fast"; };
    server_ = std::make_unique<HttpServer>(options, [this](const HttpRequest& r) {
      if (r.path == "/slow") Hold();
      HttpResponse response{200, "text/plain", r.path};
      if (r.path == "/stream") response.stream = std::make_shared<HeldStream>(*this);
      return response;
    });
    server_->Start();
  }
  void TearDown() override { Release(); }
  // Blocks until Release(), as a handler or a stream waiting for the store.
  void Hold() {
    std::unique_lock lock(mu_);
    slow_started_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }
  // A stream whose first Next() is held, then ends.
  struct HeldStream : HttpStream {
    explicit HeldStream(HttpServerRequestThreadsTest& t) : test(t) { interval = std::chrono::milliseconds(1); }
    std::optional<std::string> Next() override {
      test.Hold();
      return std::nullopt;
    }
    HttpServerRequestThreadsTest& test;
  };
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitSlowStarted() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return slow_started_; });
  }
  // Sends `held` on one connection and, while the server holds it, "/fast"
  // on another, which must be answered meanwhile; then releases the first
  // and returns what it got.
  std::string FastWhileHeld(const std::string& held) {
    std::string out;
    std::thread client([&] { out = Raw(server_->port(), held); });
    if (WaitSlowStarted()) {
      std::string fast = Raw(server_->port(), "GET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      EXPECT_EQ(fast.rfind("HTTP/1.1 200", 0), 0u) << fast;
      EXPECT_EQ(fast.substr(fast.size() - 5), "/fast") << fast;
    } else {
      ADD_FAILURE() << "the server never held " << held;
    }
    Release();
    client.join();
    return out;
  }

  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool slow_started_ = false;
  bool released_ = false;
};

TEST_F(HttpServerRequestThreadsTest, ASlowRequestDoesNotHoldUpTheOtherConnectionsOfItsThread) {
  // Given "/slow" held on the request thread, then "/fast" on another
  // connection (the same, only connection thread) is answered meanwhile, and
  // "/slow" is answered once released.
  std::string slow = FastWhileHeld("GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(slow.rfind("HTTP/1.1 200", 0), 0u) << slow;
  EXPECT_EQ(slow.substr(slow.size() - 5), "/slow") << slow;
}

TEST_F(HttpServerRequestThreadsTest, AStreamWaitingForItsNextBytesDoesNotHoldUpTheOtherConnections) {
  // Given a streamed answer whose Next() is held (an event stream waiting for
  // the store), then "/fast" on another connection is answered meanwhile.
  // The stream ends after its held Next(): the server closes the connection.
  std::string streamed = FastWhileHeld("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(streamed.rfind("HTTP/1.1 200", 0), 0u) << streamed;
  EXPECT_NE(streamed.find("\r\n\r\n/stream"), std::string::npos) << streamed;
}

TEST_F(HttpServerRequestThreadsTest, AKeepAliveConnectionGetsItsAnswersInOrderFromBothKinds) {
  // Given one connection sending a request answered on the request thread,
  // then one answered inline, then another on the request thread: each
  // answer comes back in the order asked.
  Release();
  int fd = testing_util::ConnectToLoopback(server_->port());
  std::string out;
  for (const char* path : {"/other", "/fast", "/slow"}) {
    std::string request = std::string("GET ") + path + " HTTP/1.1\r\nHost: a\r\n" +
                          (std::string(path) == "/slow" ? "Connection: close\r\n" : "") + "\r\n";
    ASSERT_EQ(write(fd, request.data(), request.size()), ssize_t(request.size()));
  }
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fd);
  const size_t other = out.find("\r\n\r\n/other"), fast = out.find("\r\n\r\n/fast"),
               slow = out.find("\r\n\r\n/slow");
  ASSERT_NE(other, std::string::npos) << out;
  ASSERT_NE(fast, std::string::npos) << out;
  ASSERT_NE(slow, std::string::npos) << out;
  EXPECT_LT(other, fast);
  EXPECT_LT(fast, slow);
}

TEST_F(HttpServerRequestThreadsTest, StopWaitsForTheRequestBeingAnswered) {
  // Given "/slow" held on the request thread, then Stop() returns once it is
  // released, and the client's connection ends with the server (no crash,
  // no hang, nothing used after it is freed: the sanitizer runs check).
  std::string slow;
  std::thread client([&] {
    slow = Raw(server_->port(), "GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  });
  ASSERT_TRUE(WaitSlowStarted());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Release();
  });
  server_->Stop();
  releaser.join();
  server_.reset();
  client.join();  // Raw read to the connection's end
  // The answer was written if the connection's thread got to it before it
  // stopped; nothing else was.
  EXPECT_TRUE(slow.empty() || slow.rfind("HTTP/1.1 200", 0) == 0) << slow;
}

TEST(HttpServerListenTest, PortInUseNamesTheProcessHoldingIt) {
  HttpServerOptions options;
  int holder = testing_util::ListenOnFreeLoopbackPort(&options.port);
  HttpServer server(options, [](const HttpRequest&) { return HttpResponse{}; });
  try {
    server.Listen();
    FAIL() << "listened on a taken port";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("held by process " + std::to_string(getpid()) + " ("), std::string::npos)
        << e.what();
  }
  close(holder);
}

}  // namespace
}  // namespace pipeline
