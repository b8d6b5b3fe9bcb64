// End-to-end: the real piped (on SQLite, with tokens) against
// docs/api/openapi.yaml. tests/api/openapi/check_responses.mjs (Node, ajv)
// calls every route of the spec, with its error cases, and validates each
// status, content type and body against the spec; this test gives it a daemon
// with a finished run to look at. Node and the script's packages are required
// (scripts/test.sh installs them): without them the test fails, it does not skip.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "api/auth.h"
#include "cli/client.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// Scheduled (so that backfill has ticks), one run at a time (so that a
// trigger without queueing can be refused), a data task (artifacts and
// metrics in the run) and a shell task (a log).
const char* kDag = R"yaml(dag: openapi_demo
description: The DAG the OpenAPI check drives
schedule: '@daily'
start_date: 2020-01-01
max_active_runs: 1
deadline: 1s
params: {who: world}
tasks:
  load: {op: ingest, with: {path: people.csv, schema: {id: int64, name: string}}}
  greet: {op: shell, depends_on: [load], run: 'echo "hello {{ params.who }}"', retries: 1, timeout: 1m}
  each: {op: shell, depends_on: [greet], map_over: [a, b], run: 'echo "item {{ item }}"'}
  scores: {op: ingest, with: {path: scores.csv}}
  fit:
    op: train
    depends_on: [scores]
    with: {target: y, model: linear_regression, split: {test_fraction: 0.25, seed: 1}, name: openapi_model}
  deploy: {op: serve, depends_on: [fit], with: {model: fit}}
  profile:
    op: features
    depends_on: [scores]
    with: {key: x, aggregates: [{column: y, fn: mean, as: y_mean}], online: true}
  snap: {op: ingest, with: {path: scores.csv, snapshot: true}}
  check:
    op: validate
    depends_on: [snap]
    with: {checks: [{column: y, max: 10}], on_failure: warn, alert_rate: 0.1}
  drift: {op: monitor, depends_on: [scores, snap], with: {reference: scores, current: snap}}
  save: {op: export, depends_on: [snap], with: {path: out/scores.parquet}}
)yaml";

constexpr const char* kAdminToken = "openapi-admin-secret";
constexpr const char* kViewerToken = "openapi-viewer-secret";

class OpenApiTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_openapi");
    fs::create_directories(dir_ / "dags");
  }
  void TearDown() override {
    if (daemon_ > 0) {
      kill(daemon_, SIGTERM);
      int status = 0;
      waitpid(daemon_, &status, 0);
    }
    fs::remove_all(dir_);
  }

  void Write(const fs::path& relative, const std::string& text) {
    fs::path tmp = dir_ / (relative.string() + ".tmp");
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir_ / relative);
  }

  // Starts piped on a free port with the token file and waits until it answers.
  void StartDaemon() {
    std::ofstream(dir_ / "tokens") << "# role sha256 name\nadmin " << Sha256Hex(kAdminToken) << " openapi-admin\n"
                                   << "viewer " << Sha256Hex(kViewerToken) << " openapi-viewer\n";
    std::vector<std::string> args = {PIPED_PATH, "--dags", (dir_ / "dags").string(),
                                     "--db", "sqlite:" + (dir_ / "state.db").string(),
                                     "--listen", "127.0.0.1:0", "--workers", "2", "--grace", "2s",
                                     "--tokens", (dir_ / "tokens").string()};
    fs::path log = dir_ / "piped.log";
    daemon_ = testing_util::SpawnProcess(args, {"PIPE_HOME=" + (dir_ / "home").string()}, log, log, dir_, true);
    ASSERT_GT(daemon_, 0);
    std::regex listening("piped listening on 127\\.0\\.0\\.1:(\\d+)");
    for (int attempt = 0; attempt < 6000 && server_.empty(); ++attempt) {
      std::string text = ReadFile(log);
      std::smatch m;
      if (std::regex_search(text, m, listening)) server_ = "http://127.0.0.1:" + m[1].str();
      int status;
      if (server_.empty() && waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        FAIL() << "piped exited: " << text;
      }
      if (server_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(server_.empty()) << "piped did not start: " << ReadFile(log);
    ASSERT_TRUE(Eventually([&] { return Http("GET", "/api/v1/health").status == 200; }))
        << "piped is not healthy: " << ReadFile(log);
  }

  HttpResponse Http(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& token = "") {
    try {
      return cli::ApiClient(server_, token).Request(method, target, body);
    } catch (const std::exception& e) {
      HttpResponse unreachable;
      unreachable.status = 0;
      unreachable.body = e.what();
      return unreachable;
    }
  }

  template <typename Pred>
  bool Eventually(Pred done, int seconds = 30) {
    for (int attempt = 0; attempt < seconds * 20; ++attempt) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  fs::path dir_;
  std::string server_;
  pid_t daemon_ = -1;
};

TEST_F(OpenApiTest, LiveResponsesMatchTheSpec) {
  const fs::path check_dir = fs::path(PIPE_SOURCE_DIR) / "tests" / "api" / "openapi";
  const std::string node = FindOnPath("node");
  ASSERT_FALSE(node.empty()) << "node is not on PATH: the OpenAPI check runs on Node (apt install nodejs npm)";
  for (const char* package : {"ajv", "ajv-formats", "yaml"}) {
    ASSERT_TRUE(fs::exists(check_dir / "node_modules" / package / "package.json"))
        << "the npm package '" << package << "' of the OpenAPI check is missing: run "
        << "`npm install --prefix tests/api/openapi --no-audit --no-fund` in the source folder "
        << "(scripts/test.sh does)";
  }

  Write("dags/people.csv", "id,name\n1,ada\n2,grace\n3,linus\n");
  Write("dags/scores.csv", "x,z,y\n1,4,3.1\n2,1,4.9\n3,7,7.2\n4,2,8.8\n5,9,11.1\n6,3,13.2\n7,5,14.8\n8,8,17.1\n");
  Write("dags/openapi_demo.yaml", kDag);
  Write("dags/broken.yaml", "dag: broken\ntasks:\n  a: {op: shel}\n");  // a load error to list
  StartDaemon();
  ASSERT_FALSE(HasFatalFailure());

  // One run to completion, so that runs, logs and artifacts have data.
  HttpResponse created = Http("POST", "/api/v1/dags/openapi_demo/runs", R"({"params": {"who": "openapi"}})", kAdminToken);
  ASSERT_EQ(created.status, 201) << created.body << "\n" << Http("GET", "/api/v1/dags", "", kViewerToken).body;
  const std::string run_id = json::parse(created.body)["run_id"];
  std::string state;
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = Http("GET", "/api/v1/runs/" + run_id, "", kViewerToken);
    if (r.status != 200) return false;
    state = json::parse(r.body)["state"];
    return state == "success" || state == "failed" || state == "cancelled";
  }, 60)) << "run " << run_id << " did not end: " << ReadFile(dir_ / "piped.log");
  ASSERT_EQ(state, "success") << Http("GET", "/api/v1/runs/" + run_id, "", kViewerToken).body;
  // An instance of the mapped task, by its TASK[INDEX] id (raw and percent-encoded).
  EXPECT_EQ(Http("GET", "/api/v1/runs/" + run_id + "/tasks/each[1]/logs", "", kViewerToken).body, "item b\n");
  EXPECT_EQ(Http("GET", "/api/v1/runs/" + run_id + "/tasks/each%5B0%5D/logs", "", kViewerToken).body, "item a\n");

  // The scheduled run (its latest tick, made at start, queued behind this
  // one) ends too before the check: a run in progress changes the DAG, the
  // grid and the run lists between a GET and its HEAD.
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = Http("GET", "/api/v1/dags/openapi_demo/runs", "", kViewerToken);
    if (r.status != 200) return false;
    const json page = json::parse(r.body);  // (a member of a temporary would dangle in the loop)
    for (const json& run : page["runs"]) {
      const std::string s = run["state"];
      if (s == "queued" || s == "running") return false;
    }
    return true;
  }, 60)) << Http("GET", "/api/v1/dags/openapi_demo/runs", "", kViewerToken).body;

  std::vector<std::string> args = {node, (check_dir / "check_responses.mjs").string(), server_, kAdminToken,
                                   kViewerToken, "openapi_demo"};
  pid_t pid = testing_util::SpawnProcess(args, {}, dir_ / "check.out", dir_ / "check.out", dir_, false);
  ASSERT_GT(pid, 0) << "cannot start " << node;
  int status = 0;
  bool ended = false;
  for (int attempt = 0; attempt < 270 * 10 && !ended; ++attempt) {  // the script stops itself at 240 s
    ended = waitpid(pid, &status, WNOHANG) == pid;
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::string output = ReadFile(dir_ / "check.out");
  ASSERT_TRUE(ended) << "the OpenAPI check hung:\n" << output;
  int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  EXPECT_EQ(exit_code, 0) << "the live responses do not match docs/api/openapi.yaml (FAIL lines below):\n"
                          << output << "\npiped's log:\n" << ReadFile(dir_ / "piped.log");
  std::smatch summary;
  if (std::regex_search(output, summary, std::regex("\\d+ passed, \\d+ failed"))) {
    std::cout << "[openapi] " << summary.str() << "\n";
  }
}

}  // namespace
}  // namespace pipeline
