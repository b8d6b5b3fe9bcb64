// End-to-end: the real piped on a real PostgreSQL, driven by the real pipectl
// and by raw HTTP.

#include <arpa/inet.h>
#include <atomic>
#include <mutex>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "api/auth.h"
#include "store/state_store.h"
#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "core/time.h"
#include "cli/client.h"
#include "pg_cluster.h"
#include "piped/daemon_store.h"

#include <pqxx/pqxx>
#include "test_util.h"

extern char** environ;

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing_util::TempPgCluster;

TempPgCluster& Cluster() { return testing_util::SharedCluster(); }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env, const fs::path& out,
            const fs::path& err, const fs::path& cwd) {
  pid_t pid = testing_util::SpawnProcess(args, extra_env, out, err, cwd, /*append=*/true);
  EXPECT_GT(pid, 0);
  return pid;
}

class PipedTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_piped");
    fs::create_directories(dir_ / "dags");
    static int counter = 0;
    db_ = Cluster().CreateDatabase("piped" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  }
  void TearDown() override {
    const int daemon_status = StopDaemon(SIGTERM);
    // What the daemons said, when the test failed: their logs go with the
    // directory below (a sanitizer's report among them).
    if (HasFailure()) {
      if (daemon_status != -1) std::cerr << "piped's last exit status: " << daemon_status << "\n";
      std::error_code ec;  // (a missing folder must not skip the cleanup below)
      for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        if (entry.path().extension() != ".log") continue;
        std::string text = ReadFile(entry.path());
        if (text.size() > 20000) text = "...\n" + text.substr(text.size() - 20000);
        std::cerr << "---- " << entry.path().filename().string() << " ----\n" << text << "\n";
      }
    }
    // Workers a failed assertion left running (a reaped one is no longer our
    // child: waitpid says so, and its pid is not touched).
    for (pid_t w : workers_) {
      int status = 0;
      if (waitpid(w, &status, WNOHANG) == 0) {
        kill(w, SIGKILL);
        waitpid(w, &status, 0);
      }
    }
    fs::remove_all(dir_);
  }

  void WriteDag(const std::string& name, const std::string& text) {
    fs::path tmp = dir_ / "dags" / (name + ".tmp");
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir_ / "dags" / name);
  }

  // Starts piped on a free port and waits until it answers.
  void StartDaemon(const std::vector<std::string>& extra = {}, const std::string& log_name = "piped.log") {
    size_t log_start = SpawnDaemon(extra, log_name);
    AwaitListening(log_name, log_start, 60);
  }

  // Starts piped (daemon_); returns where its lines start in its log.
  size_t SpawnDaemon(const std::vector<std::string>& extra, const std::string& log_name) {
    std::vector<std::string> args = {PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_,
                                      "--listen", listen_, "--grace", "2s"};
    if (std::find(extra.begin(), extra.end(), "--workers") == extra.end()) {
      args.insert(args.end(), {"--workers", "4"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    fs::path log = dir_ / log_name;
    size_t log_start = fs::exists(log) ? fs::file_size(log) : 0;
    std::vector<std::string> env = {"PIPE_HOME=" + (dir_ / "home").string()};
    if (!test_clock_.empty()) env.push_back("PIPE_TEST_CLOCK=" + test_clock_);
    daemon_ = Spawn(args, env, log, log, dir_);
    return log_start;
  }

  // Waits up to `seconds` for daemon_ to say where it listens (server_).
  void AwaitListening(const std::string& log_name, size_t log_start, int seconds) {
    const fs::path log = dir_ / log_name;
    std::regex listening("piped listening on 127\\.0\\.0\\.1:(\\d+)");
    for (int attempt = 0; attempt < seconds * 100; ++attempt) {
      std::string text = ReadFile(log).substr(log_start);
      std::smatch m;
      if (std::regex_search(text, m, listening)) {
        server_ = "http://127.0.0.1:" + m[1].str();
        return;
      }
      int status;
      if (waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        FAIL() << "piped exited: " << text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "piped did not start: " << ReadFile(log);
  }

  // Starts `piped worker NAME` serving `queues` on this test's database (or
  // `db`) with `flags`; it logs to NAME.log and shares the daemon's PIPE_HOME.
  pid_t StartWorker(const std::string& name, const std::string& queues, const std::vector<std::string>& flags,
                    const std::string& db = "") {
    std::vector<std::string> args = {PIPED_PATH, "worker", "--db", db.empty() ? db_ : db, "--queues", queues,
                                     "--name", name};
    args.insert(args.end(), flags.begin(), flags.end());
    const pid_t pid = Spawn(args, {"PIPE_HOME=" + (dir_ / "home").string()}, dir_ / (name + ".log"),
                            dir_ / (name + ".log"), dir_);
    workers_.push_back(pid);
    return pid;
  }

  // SIGTERM to each worker, then waits for it (a graceful stop).
  static void StopWorkers(const std::vector<pid_t>& workers) {
    for (pid_t w : workers) kill(w, SIGTERM);
    for (pid_t w : workers) {
      int status = 0;
      waitpid(w, &status, 0);
    }
  }

  // Two schedulers on the one database, named sched-a and sched-b (logs
  // a.log, b.log): a is daemon_ and server_; b's pid and URL are returned.
  std::pair<pid_t, std::string> StartTwoSchedulers(const std::vector<std::string>& common) {
    std::vector<std::string> a_args = common, b_args = common;
    a_args.insert(a_args.end(), {"--name", "sched-a"});
    b_args.insert(b_args.end(), {"--name", "sched-b"});
    StartDaemon(b_args, "b.log");
    const pid_t b = std::exchange(daemon_, -1);
    std::string b_server = server_;
    StartDaemon(a_args, "a.log");
    return {b, b_server};
  }

  int StopDaemon(int sig) {
    if (daemon_ <= 0) return -1;
    kill(daemon_, sig);
    int status = 0;
    waitpid(daemon_, &status, 0);
    daemon_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  Result Pipectl(std::vector<std::string> args, const std::string& token = "") {
    args.insert(args.begin(), PIPECTL_PATH);
    std::vector<std::string> env = {"PIPE_SERVER=" + server_, "PIPE_HOME=" + (dir_ / "home").string()};
    if (!token.empty()) env.push_back("PIPE_TOKEN=" + token);
    fs::remove(dir_ / "out");
    fs::remove(dir_ / "err");
    pid_t pid = Spawn(args, env, dir_ / "out", dir_ / "err", dir_);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(dir_ / "out"), ReadFile(dir_ / "err")};
  }

  HttpResponse Http(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& token = "") {
    cli::ApiClient client(server_, token);
    return client.Request(method, target, body);
  }

  json Run(const std::string& run_id) { return json::parse(Http("GET", "/api/v1/runs/" + run_id).body); }

  // A webhook receiver (Python's http.server) that appends each POSTed body
  // as a line to hooks.jsonl; its port in `port`. -1 when it did not start.
  pid_t StartReceiver(std::string* port) {
    std::ofstream(dir_ / "receiver.py")
        << "import http.server\n"
           "class H(http.server.BaseHTTPRequestHandler):\n"
           "    def do_POST(self):\n"
           "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
           "        with open('hooks.jsonl', 'ab') as f: f.write(body + b'\\n')\n"
           "        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()\n"
           "    def log_message(self, *a): pass\n"
           "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
           "open('port.tmp', 'w').write(str(s.server_address[1])); __import__('os').rename('port.tmp', 'port')\n"
           "s.serve_forever()\n";
    pid_t receiver = Spawn({"/usr/bin/python3", (dir_ / "receiver.py").string()}, {}, dir_ / "receiver.log",
                           dir_ / "receiver.log", dir_);
    if (!Eventually([&] { return fs::exists(dir_ / "port"); }, 10)) return -1;
    std::ifstream(dir_ / "port") >> *port;
    return receiver;
  }

  // The bodies hooks.jsonl has received so far.
  std::vector<json> Hooks() {
    std::ifstream hooks(dir_ / "hooks.jsonl");
    std::vector<json> events;
    for (std::string line; std::getline(hooks, line);) events.push_back(json::parse(line));
    return events;
  }

  template <typename Pred>
  bool Eventually(Pred done, int seconds = 20) {
    for (int attempt = 0; attempt < seconds * 100; ++attempt) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  bool RunEnded(const std::string& run_id) {
    std::string state = Run(run_id)["state"];
    return state == "success" || state == "failed" || state == "cancelled";
  }

  // Scheduled runs of `dag_id`, oldest first: their logical dates.
  std::vector<std::string> ScheduledTicks(const std::string& dag_id) {
    json page = json::parse(Http("GET", "/api/v1/dags/" + dag_id + "/runs?limit=1000").body);
    std::vector<std::string> out;
    for (const auto& r : page["runs"]) {
      if (r["trigger"] == "scheduled") out.insert(out.begin(), r["logical_date"].get<std::string>());
    }
    return out;
  }

  fs::path dir_;
  std::string db_;
  std::string server_;
  std::string test_clock_;  // PIPE_TEST_CLOCK for piped
  std::string listen_ = "127.0.0.1:0";
  pid_t daemon_ = -1;
  std::vector<pid_t> workers_;  // every StartWorker, stopped at TearDown if still running
};

// Minutes between two ISO instants.
int64_t MinutesBetween(const std::string& a, const std::string& b) {
  return std::chrono::duration_cast<std::chrono::minutes>(ParseIso8601(b)->utc - ParseIso8601(a)->utc).count();
}

const char* kHello = R"yaml(dag: hello
params: {who: world}
tasks:
  greet: {op: shell, run: 'echo "hello {{ params.who }}"'}
  after: {op: shell, depends_on: [greet], run: 'true'}
)yaml";

// Reads what an open connection sends until `text` has come (or `seconds`
// passed); returns everything read.
std::string ReadUntil(int fd, const std::string& text, int seconds) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (got.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

// Opens GET TARGET on the daemon and returns the connected socket.
int OpenStream(const std::string& server, const std::string& target) {
  const int port = std::stoi(server.substr(server.rfind(':') + 1));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) != ssize_t(request.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// The event stream: a client connected before a run sees its tasks' and
// the run's state changes as they happen; one that comes back with the
// last id it got sees what it missed, and nothing twice.
TEST_F(PipedTest, TheEventStreamShowsStateChangesAsTheyHappen) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  int fd = OpenStream(server_, "/api/v1/events?dag_id=hello");
  ASSERT_GE(fd, 0);
  std::string head = ReadUntil(fd, "retry: 2000\n\n", 10);
  EXPECT_NE(head.find("HTTP/1.1 200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
  Result r = Pipectl({"trigger", "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  // The run's own end is the last: its JSON ends with "to" (keys are sorted; a task's ends with "try").
  std::string events = ReadUntil(fd, "\"to\":\"success\"}\n\n", 30);
  close(fd);
  // Every event: an id, a kind, a JSON object; the run's last one says success.
  std::regex event_re("id: (\\d+)\nevent: (task|run)\ndata: (\\{[^\n]*\\})\n\n");
  std::vector<int64_t> ids;
  std::vector<std::string> seen;
  for (auto it = std::sregex_iterator(events.begin(), events.end(), event_re); it != std::sregex_iterator(); ++it) {
    ids.push_back(std::stoll((*it)[1].str()));
    json data = json::parse((*it)[3].str());
    EXPECT_EQ(data["run_id"], run);
    EXPECT_EQ(data["dag_id"], "hello");
    seen.push_back((*it)[2].str() == "run" ? "run:" + data["to"].get<std::string>()
                                           : data["task_id"].get<std::string>() + ":" + data["to"].get<std::string>());
  }
  ASSERT_FALSE(ids.empty()) << events;
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(seen.back(), "run:success") << events;
  for (const char* want : {"greet:running", "greet:success", "after:success"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), want), seen.end()) << want << " in " << events;
  }
  EXPECT_TRUE(RunEnded(run));
  // Coming back after the first event: the rest again, from the next one on.
  int again = OpenStream(server_, "/api/v1/events?dag_id=hello&after=" + std::to_string(ids.front()));
  ASSERT_GE(again, 0);
  std::string replay = ReadUntil(again, "id: " + std::to_string(ids.back()) + "\n", 10);
  close(again);
  EXPECT_EQ(replay.find("id: " + std::to_string(ids.front()) + "\n"), std::string::npos) << replay;
  EXPECT_NE(replay.find("id: " + std::to_string(ids[1]) + "\n"), std::string::npos) << replay;
}

TEST_F(PipedTest, TriggerAndWaitOnAPausedDagSaysItWaitsForTheUnpause) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  ASSERT_EQ(Http("PATCH", "/api/v1/dags/hello", R"({"paused": true})").status, 200);
  std::vector<std::string> args = {PIPECTL_PATH, "trigger", "hello", "--wait"};
  pid_t pid = Spawn(args, {"PIPE_SERVER=" + server_, "PIPE_HOME=" + (dir_ / "home").string()}, dir_ / "wait_out",
                    dir_ / "wait_err", dir_);
  ASSERT_TRUE(Eventually([&] { return ReadFile(dir_ / "wait_err").find("is paused") != std::string::npos; }, 20))
      << ReadFile(dir_ / "wait_err");
  EXPECT_NE(ReadFile(dir_ / "wait_err").find("pipectl: DAG 'hello' is paused: the run waits in queued until it is "
                                             "unpaused (pipectl dags unpause hello)"),
            std::string::npos);
  ASSERT_EQ(Http("PATCH", "/api/v1/dags/hello", R"({"paused": false})").status, 200);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "wait_err");
}

TEST_F(PipedTest, LogsFollowWaitsForATaskToStartAndSaysWhenOneNeverWill) {
  WriteDag("two.yaml", "dag: two\nparams: {fail: 0}\ntasks:\n  a: {op: shell, run: 'sleep 1.5; exit {{ params.fail }}'}\n"
                       "  b: {op: shell, depends_on: [a], run: 'echo b-done'}\n");
  StartDaemon();
  for (bool remote : {true, false}) {
    SCOPED_TRACE(remote ? "through the daemon" : "on the store");
    std::vector<std::string> where;
    if (!remote) where = {"--db", db_};
    Result r = Pipectl({"trigger", "two"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string run = r.out.substr(0, r.out.find('\n'));
    std::vector<std::string> follow = {"logs", run, "b", "--follow"};
    follow.insert(follow.end(), where.begin(), where.end());
    Result followed = Pipectl(follow);  // b is pending while a sleeps
    EXPECT_EQ(followed.exit_code, 0) << followed.err;
    EXPECT_EQ(followed.out, "b-done\n");

    r = Pipectl({"trigger", "two", "--param", "fail=1", "--wait"});
    std::smatch m;
    const std::string failed_out = r.out;
    ASSERT_TRUE(std::regex_search(failed_out, m, std::regex("run (\\S+) of dag 'two'"))) << r.out;
    std::vector<std::string> logs = {"logs", m[1].str(), "b", "--follow"};
    logs.insert(logs.end(), where.begin(), where.end());
    Result never = Pipectl(logs);
    EXPECT_EQ(never.exit_code, 1);
    EXPECT_EQ(never.err, "pipectl: task 'b' did not run (it ended upstream_failed)\n");
  }
  // runs list: the same table through the daemon and on the store, and the same bound.
  Result remote = Pipectl({"runs", "list"}), local = Pipectl({"runs", "list", "--db", db_});
  EXPECT_EQ(remote.out, local.out);
  EXPECT_NE(remote.out.find("DURATION"), std::string::npos) << remote.out;
  for (bool through_daemon : {true, false}) {
    std::vector<std::string> args = {"runs", "list", "--limit", "2000"};
    if (!through_daemon) args.insert(args.end(), {"--db", db_});
    Result r = Pipectl(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "pipectl: --limit must be 1..1000\n");
    // An unknown DAG is an error, not an empty list (a known one without runs is a list).
    args = {"runs", "list", "--dag", "nosuch"};
    if (!through_daemon) args.insert(args.end(), {"--db", db_});
    Result unknown = Pipectl(args);
    EXPECT_EQ(unknown.exit_code, 1) << through_daemon;
    EXPECT_EQ(unknown.err, "pipectl: no DAG 'nosuch'\n") << through_daemon;
  }
  WriteDag("idle.yaml", "dag: idle\ntasks:\n  a: {op: shell, run: 'true'}\n");
  ASSERT_TRUE(Eventually([&] { return Http("GET", "/api/v1/dags/idle").status == 200; }));
  Result idle = Pipectl({"runs", "list", "--dag", "idle", "--json"});
  EXPECT_EQ(idle.exit_code, 0) << idle.err;
  EXPECT_EQ(idle.out, "[]\n");
}

TEST_F(PipedTest, TriggerAndWait) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  Result r = Pipectl({"trigger", "hello", "--param", "who=piped", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("run (\\S+) of dag 'hello'")));
  json run = Run(m[1].str());
  EXPECT_EQ(run["state"], "success");
  EXPECT_EQ(run["params"]["who"], "piped");
  Result logs = Pipectl({"logs", m[1].str(), "greet"});
  EXPECT_EQ(logs.out, "hello piped\n");
  // --json: the log with what it is of, the same through the daemon and on the store.
  const json expected = {{"run_id", m[1].str()}, {"task_id", "greet"}, {"try", 1}, {"log", "hello piped\n"}};
  EXPECT_EQ(json::parse(Pipectl({"logs", m[1].str(), "greet", "--json"}).out), expected);
  EXPECT_EQ(json::parse(Pipectl({"logs", m[1].str(), "greet", "--json", "--db", db_}).out), expected);
  EXPECT_EQ(json::parse(Pipectl({"logs", m[1].str(), "greet", "--json", "--try", "1"}).out), expected);
  Result followed = Pipectl({"logs", m[1].str(), "greet", "--json", "--follow"});
  EXPECT_EQ(followed.exit_code, 2);
  EXPECT_EQ(followed.err, "pipectl: logs --follow streams the log as it grows: --json does not apply\n");
  Result list = Pipectl({"runs", "list", "--json"});
  EXPECT_EQ(json::parse(list.out).size(), 1u);
  // With --json stdout is the JSON alone (no progress lines before it).
  Result as_json = Pipectl({"trigger", "hello", "--wait", "--json"});
  EXPECT_EQ(as_json.exit_code, 0) << as_json.err;
  json waited = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(waited.is_object()) << as_json.out;
  EXPECT_EQ(waited["state"], "success");
  Result failing = Pipectl({"trigger", "hello", "--param", "nope=1"});
  EXPECT_EQ(failing.exit_code, 2);
  EXPECT_EQ(failing.err, "pipectl: unknown parameter 'nope' for DAG 'hello' (known: who)\n");
}

TEST_F(PipedTest, APipectlRunOnTheDaemonsStoreIsLeftToPipectlAndCancelsThroughTheDaemon) {
  // Given a running piped and, on its database, `pipectl run` of a DAG the
  // daemon does not know, whose task marks its start and end around a 3 s
  // sleep (longer than piped's 1 s lease here, so only renewals keep it),
  const fs::path marks = dir_ / "marks";
  std::ofstream(dir_ / "solo.yaml") << "dag: solo\ntasks:\n  slow: {op: shell, run: 'echo start >> " << marks.string()
                                    << "; sleep 3; echo end >> " << marks.string() << "'}\n";
  StartDaemon({"--run-lease", "1s"});
  std::vector<std::string> env = {"PIPE_HOME=" + (dir_ / "home").string()};
  pid_t run = Spawn({PIPECTL_PATH, "run", (dir_ / "solo.yaml").string(), "--db", db_}, env, dir_ / "run.out",
                    dir_ / "run.out", dir_);
  int status = 0;
  waitpid(run, &status, 0);
  // then the daemon leaves the run to pipectl: one try, run once, success.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "run.out");
  EXPECT_EQ(ReadFile(marks), "start\nend\n");
  std::smatch m;
  std::string out = ReadFile(dir_ / "run.out");
  ASSERT_TRUE(std::regex_search(out, m, std::regex("run (\\S+) of dag 'solo' \\(1 task\\)\n"))) << out;
  json shown = Run(m[1].str());
  EXPECT_EQ(shown["state"], "success");
  EXPECT_EQ(shown["tasks"][0]["try"], 1) << shown.dump();
  EXPECT_EQ(ReadFile(dir_ / "piped.log").find("taken over"), std::string::npos) << ReadFile(dir_ / "piped.log");

  // Given another such run that would sleep a minute, when it is cancelled
  // through the daemon, then pipectl stops it within seconds: cancelled.
  std::ofstream(dir_ / "long.yaml") << "dag: long\ntasks:\n  nap: {op: shell, run: 'sleep 60'}\n";
  run = Spawn({PIPECTL_PATH, "run", (dir_ / "long.yaml").string(), "--db", db_}, env, dir_ / "long.out",
              dir_ / "long.out", dir_);
  ASSERT_TRUE(Eventually([&] {
    out = ReadFile(dir_ / "long.out");
    return std::regex_search(out, m, std::regex("run (\\S+) of dag 'long'")) && Run(m[1].str())["state"] == "running";
  }));
  const auto asked = std::chrono::steady_clock::now();
  Result cancel = Pipectl({"runs", "cancel", m[1].str()});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err << cancel.out;
  waitpid(run, &status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << ReadFile(dir_ / "long.out");
  EXPECT_EQ(Run(m[1].str())["state"], "cancelled") << ReadFile(dir_ / "long.out");
  EXPECT_EQ(ReadFile(dir_ / "piped.log").find("taken over"), std::string::npos) << ReadFile(dir_ / "piped.log");
}

TEST_F(PipedTest, ATaskDiesWithTheProcessRunningItAndRunsOnceMore) {
  // Given tries whose first sleeps 40 s (a unique length, to find it), when
  // the process running it is killed with SIGKILL (a worker, then a pipectl
  // run on the daemon's database), then the try's process dies with it (the
  // task watchdog), not beside the next try, and the run ends with a second
  // try. pipectl's try was its own (the queue is a worker's for this piped):
  // it is lost, not waited for on a worker.
  auto sleeping = [](const char* secs) {
    return system((std::string("pgrep -f 'sleep ") + secs + "' > /dev/null").c_str()) == 0;
  };
  WriteDag("far.yaml", "dag: far\ntasks:\n  a: {op: shell, queue: remote, run: "
                       "'if [ {{ task.try }} = 1 ]; then sleep 40.125; fi; echo far {{ task.try }}'}\n");
  StartDaemon({"--local-queues", "local", "--run-lease", "2s"});
  pid_t w1 = StartWorker("w1", "remote", {"--heartbeat", "200ms", "--lease", "2s"});
  Result r = Pipectl({"trigger", "far"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string far = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return sleeping("40[.]125"); })) << ReadFile(dir_ / "w1.log");
  kill(w1, SIGKILL);
  int status = 0;
  waitpid(w1, &status, 0);
  EXPECT_TRUE(Eventually([&] { return !sleeping("40[.]125"); }, 3)) << "the killed worker's try still runs";
  pid_t w2 = StartWorker("w2", "remote,default", {"--heartbeat", "200ms", "--lease", "2s"});
  ASSERT_TRUE(Eventually([&] { return RunEnded(far); }, 30));
  EXPECT_EQ(Run(far)["state"], "success") << Run(far).dump(2);
  EXPECT_EQ(Pipectl({"logs", far, "a"}).out, "far 2\n");

  std::ofstream(dir_ / "near.yaml") << "dag: near\ntasks:\n  b: {op: shell, run: "
                                       "'if [ {{ task.try }} = 1 ]; then sleep 40.375; fi; echo near {{ task.try }}'}\n";
  pid_t run = Spawn({PIPECTL_PATH, "run", (dir_ / "near.yaml").string(), "--db", db_},
                    {"PIPE_HOME=" + (dir_ / "home").string(), "PIPE_RUN_LEASE=2s"}, dir_ / "run.out", dir_ / "run.out",
                    dir_);
  ASSERT_TRUE(Eventually([&] { return sleeping("40[.]375"); })) << ReadFile(dir_ / "run.out");
  std::smatch m;
  std::string out = ReadFile(dir_ / "run.out");
  ASSERT_TRUE(std::regex_search(out, m, std::regex("run (\\S+) of dag 'near'"))) << out;
  const std::string near = m[1].str();
  kill(run, SIGKILL);
  waitpid(run, &status, 0);
  EXPECT_TRUE(Eventually([&] { return !sleeping("40[.]375"); }, 3)) << "the killed pipectl's try still runs";
  ASSERT_TRUE(Eventually([&] { return RunEnded(near); }, 30)) << ReadFile(dir_ / "piped.log");
  EXPECT_EQ(Run(near)["state"], "success") << Run(near).dump(2);
  auto store = OpenStateStore(db_);
  auto tries = store->GetTries(near, "b");
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].error.rfind("lost", 0), 0u) << tries[0].error;
  EXPECT_EQ(tries[1].worker, "w2");
  EXPECT_EQ(Pipectl({"logs", near, "b"}).out, "near 2\n");
  StopWorkers({w2});
}

TEST_F(PipedTest, ATakenOverWorkersTryKeepsTheTimeoutOfItsStart) {
  // Given a worker's try with `timeout: 5s` whose coordinator dies a second
  // in, the scheduler that takes the run over stops it 5 s after it
  // started, not 5 s after the takeover; and a try that ended on the worker
  // while the run had no coordinator keeps the end the worker recorded.
  WriteDag("slowt.yaml", "dag: slowt\ntasks:\n  t: {op: shell, queue: remote, timeout: 5s, run: 'sleep 40.625'}\n"
                         "  q: {op: shell, queue: remote, run: 'sleep 2'}\n");
  auto sleeping = [] { return system("pgrep -f 'sleep 40[.]625' > /dev/null") == 0; };
  const std::vector<std::string> common = {"--local-queues", "default", "--run-lease", "2s"};
  auto [b, b_server] = StartTwoSchedulers(common);  // daemon_, server_: a
  pid_t worker = StartWorker("w-t", "remote", {"--slots", "2", "--heartbeat", "200ms", "--lease", "20s"});
  Result r = Pipectl({"trigger", "slowt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = r.out.substr(0, r.out.find('\n'));
  auto store = OpenStateStore(db_);
  ASSERT_TRUE(Eventually([&] { return sleeping(); })) << ReadFile(dir_ / "w-t.log");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // Kill the one that coordinates the run; the other (left as daemon_, for
  // TearDown) takes it over once its lease lapses.
  const pid_t a = std::exchange(daemon_, -1);
  const std::string a_server = server_;
  const bool a_coordinates = store->GetRun(id)->coordinator == "sched-a";
  const pid_t victim = a_coordinates ? a : b;
  kill(victim, SIGKILL);
  int status = 0;
  waitpid(victim, &status, 0);
  daemon_ = a_coordinates ? b : a;
  server_ = a_coordinates ? b_server : a_server;
  ASSERT_TRUE(Eventually([&] { return RunEnded(id); }, 30)) << ReadFile(dir_ / "b.log") << ReadFile(dir_ / "a.log");
  auto tries = store->GetTries(id, "t");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].error, "timeout after 5s");
  ASSERT_TRUE(tries[0].ended_at);
  // Stopped before 5 s after the takeover (counted from it, the stop came
  // after); no sooner than 5 s after the start.
  const std::string survivor_log = ReadFile(dir_ / (a_coordinates ? "b.log" : "a.log"));
  const size_t taken = survivor_log.find("run taken over run=" + id);
  ASSERT_NE(taken, std::string::npos) << survivor_log;
  const size_t line = survivor_log.rfind('\n', taken) + 1;  // npos + 1 = 0 on the first line
  auto takeover = ParseIso8601(survivor_log.substr(line, survivor_log.find(' ', line) - line));
  ASSERT_TRUE(takeover) << survivor_log.substr(line, 80);
  EXPECT_LT(*tries[0].ended_at, takeover->utc + std::chrono::seconds(5));
  EXPECT_GE(*tries[0].ended_at - tries[0].started_at, std::chrono::seconds(5));
  EXPECT_TRUE(Eventually([&] { return !sleeping(); }, 5));
  auto quick = store->GetTries(id, "q");
  ASSERT_EQ(quick.size(), 1u);
  ASSERT_TRUE(quick[0].ended_at);
  auto work = store->GetWork(id, "q", 1);
  ASSERT_TRUE(work && work->ended_at);
  EXPECT_EQ(*quick[0].ended_at, *work->ended_at);  // the worker's time, not the takeover's (nor any scheduler's)
  StopWorkers({worker});
}

TEST_F(PipedTest, ASecondPipedUnderALiveOnesNameIsRefused) {
  // Given a piped named sched-a coordinating a run, then another piped given
  // the same name exits 2 saying so (it took the run over and killed the
  // live one's try), and the run goes on under the first.
  WriteDag("hold.yaml", "dag: hold\ntasks:\n  wait: {op: shell, run: 'sleep 20'}\n");
  StartDaemon({"--name", "sched-a", "--run-lease", "3s"});
  Result r = Pipectl({"trigger", "hold"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return Run(run)["state"] == "running"; }));
  pid_t twin = Spawn({PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_, "--listen", "127.0.0.1:0", "--name",
                      "sched-a", "--run-lease", "3s"},
                     {"PIPE_HOME=" + (dir_ / "home").string()}, dir_ / "twin.log", dir_ / "twin.log", dir_);
  int status = 0;
  if (!Eventually([&] { return waitpid(twin, &status, WNOHANG) == twin; }, 60)) {  // it did start: fail, not hang
    kill(twin, SIGKILL);
    waitpid(twin, &status, 0);
    FAIL() << "the twin did not exit: " << ReadFile(dir_ / "twin.log");
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << ReadFile(dir_ / "twin.log");
  EXPECT_NE(ReadFile(dir_ / "twin.log").find("another scheduler named 'sched-a' is alive"), std::string::npos)
      << ReadFile(dir_ / "twin.log");
  EXPECT_EQ(Run(run)["state"], "running");
  EXPECT_EQ(OpenStateStore(db_)->GetTries(run, "wait").size(), 1u);
  EXPECT_EQ(Pipectl({"runs", "cancel", run}).exit_code, 0);
}

TEST_F(PipedTest, RunsClearRunsATaskAgainAndWithDownstreamTheTasksAfterIt) {
  const fs::path marks = dir_ / "marks";
  WriteDag("twice.yaml", "dag: twice\ntasks:\n  a: {op: shell, run: 'echo a >> " + marks.string() +
                             "'}\n  b: {op: shell, depends_on: [a], run: 'echo b >> " + marks.string() + "'}\n");
  StartDaemon();
  Result r = Pipectl({"trigger", "twice", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("run (\\S+) of dag 'twice'")));
  const std::string run_id = m[1].str();
  auto ended_with = [&](const std::string& text) {
    return Eventually([&] { return Run(run_id)["state"] == "success" && ReadFile(marks) == text; });
  };
  // The task alone, then it and the tasks after it.
  r = Pipectl({"runs", "clear", run_id, "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("task 'b' cleared: run " + run_id + " is ", 0), 0u) << r.out;
  EXPECT_TRUE(ended_with("a\nb\nb\n")) << ReadFile(marks);
  r = Pipectl({"runs", "clear", run_id, "a", "--downstream"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ended_with("a\nb\nb\na\nb\n")) << ReadFile(marks);
  json shown = Run(run_id);
  EXPECT_EQ(shown["tasks"][0]["try"], 2);
  EXPECT_EQ(shown["tasks"][1]["try"], 3);
  // A task the run does not have: said, exit 1 (the daemon's 404).
  r = Pipectl({"runs", "clear", run_id, "nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

TEST_F(PipedTest, AWebhookSecretTheSecretsFileLacksIsSaidAtLoad) {
  // Given a DAG whose failures go to webhook secret 'missing', and a secrets
  // file that has only 'ops', then piped says so when it loads the DAG (it
  // said so at the first failure, after four attempts).
  const fs::path secrets = dir_ / "secrets";
  std::ofstream(secrets) << "webhook:ops:http://127.0.0.1:9/hook\n";
  fs::permissions(secrets, fs::perms::owner_read | fs::perms::owner_write);
  WriteDag("loud.yaml", "dag: loud\nnotify:\n  - {on: [failure], webhook: {secret: missing}}\n"
                        "  - {on: [failure], webhook: {secret: ops}}\ntasks:\n  a: {op: shell, run: 'true'}\n");
  StartDaemon({"--secrets", secrets.string()});
  const std::string log = ReadFile(dir_ / "piped.log");
  EXPECT_NE(log.find("notify: no line webhook:missing:URL in the secrets file"), std::string::npos) << log;
  EXPECT_EQ(log.find("webhook:ops:URL"), std::string::npos) << log;
}

TEST_F(PipedTest, NotificationsReachAWebhookAndACommandOncePerEventAndAreListed) {
  // Given a webhook receiver and a DAG that notifies it of failures and runs
  // a command on each retry, then a failing run sends exactly one failure
  // event (run id, task, error) and one retry command; every delivery is
  // listed by the API; with the receiver gone the run ends as fast and the
  // failed delivery is listed with its attempts.
  std::string port;
  pid_t receiver = StartReceiver(&port);
  ASSERT_GT(receiver, 0);
  WriteDag("alerting.yaml", "dag: alerting\n"
                            "notify:\n"
                            "  - {on: [failure], webhook: 'http://127.0.0.1:" + port + "/hooks/T000/secret'}\n"
                            "  - {on: [retry], command: 'echo \"$PIPE_EVENT $PIPE_TASK_ID $PIPE_ERROR\" >> " +
                                (dir_ / "retries.txt").string() + "'}\n"
                            "tasks:\n"
                            "  flaky: {op: shell, run: 'exit 4', retries: 1, retry_delay: 10ms}\n");
  StartDaemon();
  auto trigger = [&] {
    HttpResponse created = Http("POST", "/api/v1/dags/alerting/runs", "{}");
    EXPECT_EQ(created.status, 201) << created.body;
    const std::string run_id = json::parse(created.body)["run_id"];
    EXPECT_TRUE(Eventually([&] { return Run(run_id)["state"] == "failed"; }));
    return run_id;
  };
  auto listed = [&](const std::string& run_id) {
    return json::parse(Http("GET", "/api/v1/notifications?run_id=" + run_id).body)["notifications"];
  };
  const std::string run_id = trigger();
  ASSERT_TRUE(Eventually([&] { return listed(run_id).size() == 2; })) << listed(run_id).dump();
  std::vector<json> events = Hooks();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], "failure");
  EXPECT_EQ(events[0]["run_id"], run_id);
  EXPECT_EQ(events[0]["task_id"], "flaky");
  EXPECT_EQ(events[0]["error"], "exit status 4");
  EXPECT_EQ(events[0]["text"], "DAG alerting run " + run_id + " failed: task flaky: exit status 4");
  std::ifstream retries(dir_ / "retries.txt");
  std::string retry_line;
  std::getline(retries, retry_line);
  EXPECT_EQ(retry_line, "retry flaky exit status 4");
  json list = listed(run_id);
  EXPECT_EQ(list[0]["event"], "failure");  // newest first
  EXPECT_EQ(list[0]["delivered"], true);
  EXPECT_EQ(list[0]["target"], "http://127.0.0.1:" + port + "/hooks/...");  // the secret part of the path hidden
  EXPECT_EQ(list[1]["event"], "retry");
  EXPECT_EQ(list[1]["delivered"], true);

  // The receiver is gone: the run is not held up; the delivery is listed as failed.
  kill(receiver, SIGTERM);
  waitpid(receiver, nullptr, 0);
  const std::string second = trigger();
  ASSERT_TRUE(Eventually([&] {
    json l = listed(second);
    return l.size() == 2 && l[0]["event"] == "failure";
  }, 30)) << listed(second).dump();
  json failed = listed(second)[0];
  EXPECT_EQ(failed["delivered"], false);
  EXPECT_EQ(failed["attempts"], 4);
  EXPECT_EQ(failed["error"], "Connection refused");
}

TEST_F(PipedTest, AnSlaMissIsNotifiedOnceShownEverywhereAndNotAgainAfterARestart) {
  // Given a daily DAG (its newest tick, up to a day ago, is run at the
  // daemon's start) whose task should have ended 1s after the tick and whose
  // run 2s after it, while the task sleeps 2s,
  std::string port;
  pid_t receiver = StartReceiver(&port);
  ASSERT_GT(receiver, 0);
  WriteDag("late.yaml", "dag: late\nschedule: '@daily'\nstart_date: 2026-01-01\ndeadline: 2s\n"
                        "notify:\n  - {on: [sla_miss], webhook: 'http://127.0.0.1:" + port + "/sla'}\n"
                        "tasks:\n  slow: {op: shell, run: 'sleep 2', sla: 1s}\n");
  StartDaemon();
  // then the webhook gets one sla_miss for the task and one for the deadline,
  ASSERT_TRUE(Eventually([&] { return Hooks().size() >= 2; }, 30));
  std::vector<json> hooks = Hooks();
  ASSERT_EQ(hooks.size(), 2u);
  std::sort(hooks.begin(), hooks.end(), [](const json& a, const json& b) { return a["task_id"] < b["task_id"]; });
  const std::string run_id = hooks[0]["run_id"];
  EXPECT_EQ(hooks[0]["event"], "sla_miss");
  EXPECT_EQ(hooks[0]["task_id"], "");  // the deadline
  EXPECT_EQ(hooks[1]["event"], "sla_miss");
  EXPECT_EQ(hooks[1]["task_id"], "slow");
  EXPECT_EQ(hooks[1]["run_id"], run_id);
  json run = Run(run_id);
  EXPECT_EQ(run["trigger"], "scheduled");
  const TimePoint logical = ParseIso8601(run["logical_date"].get<std::string>())->utc;
  EXPECT_EQ(hooks[1]["due"], FormatIso8601(logical + std::chrono::seconds(1)));
  EXPECT_EQ(hooks[0]["due"], FormatIso8601(logical + std::chrono::seconds(2)));
  // Seen as soon as the run exists: the task had not ended (whether it had started yet or not).
  EXPECT_TRUE(hooks[1]["state"] == "pending" || hooks[1]["state"] == "queued" || hooks[1]["state"] == "running")
      << hooks[1].dump();
  EXPECT_EQ(hooks[1]["text"], "DAG late run " + run_id + ": task slow missed its SLA (due " +
                                  hooks[1]["due"].get<std::string>() + ", " + hooks[1]["state"].get<std::string>() +
                                  " then)");
  // and the run, the list, runs show and /metrics show them.
  EXPECT_EQ(run["sla_misses"].size(), 2u) << run.dump();
  json listed = json::parse(Http("GET", "/api/v1/sla_misses?dag_id=late").body)["sla_misses"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["run_id"], run_id);
  Result show = Pipectl({"runs", "show", run_id});
  EXPECT_NE(show.out.find("sla     missed: "), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("slow (due " + hooks[1]["due"].get<std::string>()), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("deadline (due " + hooks[0]["due"].get<std::string>()), std::string::npos) << show.out;
  std::string metrics = Http("GET", "/metrics").body;
  EXPECT_NE(metrics.find("pipe_sla_misses_total{dag=\"late\",task=\"slow\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("pipe_sla_misses_total{dag=\"late\",task=\"\"} 1\n"), std::string::npos) << metrics;

  // Given the run has ended and the daemon restarts, then nothing is sent again.
  ASSERT_TRUE(Eventually([&] { return Run(run_id)["state"] == "success"; }));
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
  StartDaemon();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(Hooks().size(), 2u);
  EXPECT_EQ(json::parse(Http("GET", "/api/v1/sla_misses").body)["sla_misses"].size(), 2u);
  kill(receiver, SIGTERM);
  waitpid(receiver, nullptr, 0);
}

TEST_F(PipedTest, AFileSensorWaitsForTheFileToLandAndSettleAndTimesOutOtherwise) {
  // Given a DAG whose sensor waits for in/data.csv to land and stay unchanged
  // for 1s, and two sensors for a file that never comes (fail, skip),
  WriteDag("landing.yaml",
           "dag: landing\ntasks:\n"
           "  landed: {op: wait_for, with: {path: in/data.csv, settle: 1s, poke_interval: 100ms, timeout: 60s}}\n"
           "  load: {op: shell, depends_on: [landed], run: 'cat in/data.csv'}\n"
           "  never: {op: wait_for, retries: 2, retry_delay: 1s, with: {path: none.csv, poke_interval: 100ms, timeout: 1s}}\n"
           "  skipping: {op: wait_for, with: {path: none.csv, poke_interval: 100ms, timeout: 1s, on_timeout: skip}}\n"
           "  after_skip: {op: shell, depends_on: [skipping], run: 'true'}\n");
  StartDaemon();
  HttpResponse created = Http("POST", "/api/v1/dags/landing/runs", "{}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string run_id = json::parse(created.body)["run_id"];
  auto task = [&](const std::string& id) {
    const json run = Run(run_id);  // kept alive: a range-for over Run(...)["tasks"] would dangle
    for (const json& t : run["tasks"]) {
      if (t["task_id"] == id) return t;
    }
    return json();
  };
  // then the sensor is `waiting` (shown by the API and runs show) while the file is not there,
  // (the task as seen waiting is kept: read again, a check may have it `running`)
  json waiting;
  ASSERT_TRUE(Eventually([&] { return (waiting = task("landed"))["state"] == "waiting"; })) << Run(run_id).dump();
  EXPECT_EQ(waiting["metrics"]["summary"], "waiting: no file matches in/data.csv");
  EXPECT_TRUE(waiting["next_try_at"].is_string());
  EXPECT_EQ(waiting["try"], 1);
  // (a check every 100 ms shows the try `running` while it looks: `runs
  // show` is asked again until it lands between two checks)
  Result show;
  EXPECT_TRUE(Eventually([&] {
    show = Pipectl({"runs", "show", run_id});
    return std::regex_search(show.out, std::regex("landed +waiting +1/1 .*waiting: no file matches in/data\\.csv; "
                                                  "next check 20"));
  })) << show.out;
  // when the file lands, the sensor waits for it to settle, then succeeds and load reads it;
  fs::create_directories(dir_ / "dags" / "in");
  const fs::path landing = dir_ / "dags" / "in" / "data.csv";
  std::ofstream(landing) << "a,b\n1,2\n";
  struct stat landed{};
  ASSERT_EQ(::stat(landing.c_str(), &landed), 0);
  const TimePoint modified = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::time_point(std::chrono::seconds(landed.st_mtim.tv_sec)) +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(landed.st_mtim.tv_nsec)));
  ASSERT_TRUE(Eventually([&] { return task("load")["state"] == "success"; })) << Run(run_id).dump();
  json done = task("landed");
  EXPECT_EQ(done["state"], "success");
  EXPECT_EQ(done["try"], 1);
  EXPECT_EQ(done["tries"].size(), 1u);
  const TimePoint ended = ParseIso8601(done["ended_at"].get<std::string>())->utc;
  // (settled: it ended at least 1s after the file's last change, as the file
  // system records it; not measured from the test's clock, whose reading may
  // come late on a loaded machine)
  EXPECT_GE(ended - modified, std::chrono::seconds(1)) << done.dump();
  EXPECT_EQ(Pipectl({"logs", run_id, "load"}).out, "a,b\n1,2\n");
  // and the sensors for the file that never came time out: one fails, one is skipped (and so what needs it).
  ASSERT_TRUE(Eventually([&] { return Run(run_id)["state"] == "failed"; })) << Run(run_id).dump();
  EXPECT_EQ(task("never")["state"], "failed");
  EXPECT_EQ(task("never")["error"], "wait_for: timed out after 1s: no file matches none.csv");
  EXPECT_EQ(task("never")["tries"].size(), 1u);  // a timed-out wait is not retried (another would wait as long)
  EXPECT_EQ(task("skipping")["state"], "skipped");
  EXPECT_EQ(task("after_skip")["state"], "skipped");
}

TEST_F(PipedTest, AThousandWaitingSensorsOnTwoWorkersStarveNothingAndHoldNoThreads) {
  // Given a DAG of 1,000 sensors waiting for files that do not come and, last
  // in the file, a shell task, on a daemon with 2 workers,
  std::string dag = "dag: many_sensors\ntasks:\n";
  for (int i = 0; i < 1000; ++i) {
    dag += "  s" + std::to_string(i) + ": {op: wait_for, with: {path: none" + std::to_string(i) +
           ".csv, poke_interval: 1h}}\n";
  }
  dag += "  quick: {op: shell, run: 'echo done'}\n";
  WriteDag("many.yaml", dag);
  StartDaemon({"--workers", "2"});
  HttpResponse created = Http("POST", "/api/v1/dags/many_sensors/runs", "{}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string run_id = json::parse(created.body)["run_id"];
  // then the shell task runs at once while every sensor waits,
  auto states = [&] {
    std::map<std::string, int> n;
    const json run = Run(run_id);
    for (const json& t : run["tasks"]) ++n[t["task_id"] == "quick" ? "quick " + t["state"].get<std::string>()
                                                                         : t["state"].get<std::string>()];
    return n;
  };
  // (Generous bounds for the sanitizer builds; the 1,000 first checks take about a second here.)
  ASSERT_TRUE(Eventually([&] { return states()["quick success"] == 1; }, 120)) << json(states()).dump();
  ASSERT_TRUE(Eventually([&] { return states()["waiting"] == 1000; }, 120)) << json(states()).dump();
  EXPECT_EQ(Pipectl({"logs", run_id, "quick"}).out, "done\n");
  // holding no thread each: the daemon's threads stay few,
  std::ifstream status("/proc/" + std::to_string(daemon_) + "/status");
  int threads = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
  }
  EXPECT_GT(threads, 0);
  EXPECT_LT(threads, 40);
  // and a cancel ends every waiting sensor's try.
  ASSERT_EQ(Http("POST", "/api/v1/runs/" + run_id + "/cancel", "").status, 200);
  ASSERT_TRUE(Eventually([&] { return Run(run_id)["state"] == "cancelled"; }, 120));
  EXPECT_EQ(states()["cancelled"], 1000);
}

TEST_F(PipedTest, AnAfterDagRunsOncePerNewUpstreamOutputNotOnFailureAndResumesAfterARestart) {
  // Given `down` that comes after up.load and echoes the upstream run's id,
  WriteDag("up.yaml", "dag: up\nparams: {fail: 'no'}\n"
                      "tasks:\n  load: {op: shell, run: 'test \"{{ params.fail }}\" = no'}\n");
  WriteDag("down.yaml", "dag: down\nschedule: {after: [up.load]}\n"
                        "tasks:\n  show: {op: shell, run: 'echo \"from {{ run.upstream.up }}\"'}\n");
  WriteDag("cycle.yaml", "dag: cycle\ntasks:\n  a: {op: shell, run: 'true', depends_on: [b]}\n"
                         "  b: {op: shell, run: 'true', depends_on: [a]}\n");
  StartDaemon();
  // dags list through the daemon shows the schedule as it is written, and a
  // whole-file load error as validate prints it (no 0:0 position).
  Result listed = Pipectl({"dags", "list"});
  EXPECT_NE(listed.out.find("after up.load"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.err, (dir_ / "dags" / "cycle.yaml").string() + ": cycle: a -> b -> a\n");
  auto down_runs = [&] {
    json page = json::parse(Http("GET", "/api/v1/runs?dag_id=down&limit=100").body);
    std::vector<json> runs(page["runs"].begin(), page["runs"].end());
    std::reverse(runs.begin(), runs.end());  // oldest first
    return runs;
  };
  auto up_run = [&](const std::vector<std::string>& params) {
    std::vector<std::string> args = {"trigger", "up", "--wait"};
    for (const std::string& p : params) args.insert(args.end(), {"--param", p});
    Result r = Pipectl(args);
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, std::regex("run (\\S+) of dag 'up'"))) << r.out << r.err;
    return m.size() > 1 ? m[1].str() : std::string();
  };
  // when up succeeds, then down runs once, with up's run id,
  const std::string first = up_run({});
  ASSERT_TRUE(Eventually([&] { auto r = down_runs(); return r.size() == 1 && r[0]["state"] == "success"; }))
      << json(down_runs()).dump();
  const std::string first_down = down_runs()[0]["run_id"];
  EXPECT_EQ(down_runs()[0]["trigger"], "upstream");
  EXPECT_EQ(Pipectl({"logs", first_down, "show"}).out, "from " + first + "\n");
  // when up fails, then nothing runs;
  up_run({"fail=yes"});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(down_runs().size(), 1u);
  Result show = Pipectl({"dags", "show", "down"});
  EXPECT_NE(show.out.find("schedule  after up.load\n"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("after     up.load: success in run " + first), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("consumed by the last run"), std::string::npos) << show.out;
  // The same from the store as through the daemon (text and JSON; dags list
  // has the daemon's load errors besides).
  EXPECT_EQ(Pipectl({"dags", "show", "down", "--db", db_}).out, show.out);
  EXPECT_EQ(json::parse(Pipectl({"dags", "show", "down", "--db", db_, "--json"}).out),
            json::parse(Pipectl({"dags", "show", "down", "--json"}).out));
  json remote_list = json::parse(Pipectl({"dags", "list", "--json"}).out);
  EXPECT_EQ(json::parse(Pipectl({"dags", "list", "--db", db_, "--json"}).out)["dags"], remote_list["dags"]);
  EXPECT_EQ(remote_list["load_errors"].size(), 1u);

  // Given up succeeds while the daemon is down (pipectl run on its database),
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
  Result offline = Pipectl({"run", (dir_ / "dags" / "up.yaml").string(), "--db", db_});
  ASSERT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(offline.out, m, std::regex("run (\\S+)"))) << offline.out;
  const std::string while_down = m[1].str();
  // then the restarted daemon runs down once for it, and only once.
  StartDaemon();
  ASSERT_TRUE(Eventually([&] { auto r = down_runs(); return r.size() == 2 && r[1]["state"] == "success"; }))
      << json(down_runs()).dump();
  EXPECT_EQ(Pipectl({"logs", down_runs()[1]["run_id"], "show"}).out, "from " + while_down + "\n");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(down_runs().size(), 2u);
  json dag = json::parse(Http("GET", "/api/v1/dags/down").body);
  EXPECT_EQ(dag["after"], json::array({"up.load"}));
  ASSERT_EQ(dag["upstream"].size(), 1u);
  EXPECT_EQ(dag["upstream"][0]["consumed"]["run_id"], while_down);
  EXPECT_EQ(dag["upstream"][0]["fresh"], false);
}

TEST_F(PipedTest, TasksInheritNoDescriptorOfTheDaemon) {
  // Given a daemon with its listening socket, client connections, database
  // connection and log files open, then a task's shell has only 0, 1 and 2.
  WriteDag("fds.yaml", "dag: fds\ntasks:\n  a: {op: shell, run: 'ls /proc/$$/fd; true'}\n"
                       "  b: {op: shell, depends_on: [a], run: 'ls /proc/$$/fd; true'}\n");
  StartDaemon();
  Result r = Pipectl({"trigger", "fds", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("run (\\S+) of dag 'fds'")));
  EXPECT_EQ(Pipectl({"logs", m[1].str(), "a"}).out, "0\n1\n2\n");
  EXPECT_EQ(Pipectl({"logs", m[1].str(), "b"}).out, "0\n1\n2\n");
}

TEST_F(PipedTest, APortInUseIsAClearErrorNamingItsHolder) {
  int held_port = 0;
  int holder = testing_util::ListenOnFreeLoopbackPort(&held_port);
  std::string port = std::to_string(held_port);
  WriteDag("hello.yaml", kHello);
  pid_t pid = Spawn({PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_, "--listen", "127.0.0.1:" + port},
                    {"PIPE_HOME=" + (dir_ / "home").string()}, dir_ / "busy.log", dir_ / "busy.log", dir_);
  int status = 0;
  waitpid(pid, &status, 0);
  close(holder);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << status;
  std::string log = ReadFile(dir_ / "busy.log");
  EXPECT_NE(log.find("cannot listen on 127.0.0.1:" + port + ": Address already in use (held by process " +
                     std::to_string(getpid()) + " ("),
            std::string::npos)
      << log;
}

// CPU seconds (user + system) the process has used.
double CpuSeconds(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int idx = 1; idx <= 13 && fields >> field; ++idx) {
    if (idx >= 12) ticks += std::stod(field);  // utime, stime: fields 14 and 15 of the line
  }
  return ticks / double(sysconf(_SC_CLK_TCK));
}

TEST_F(PipedTest, OutOfDescriptorsNeitherSpinsNorStopsHealthChecks) {
  // Given piped limited to 256 descriptors and 300 connections that never
  // send a request, then it does not spin on accept() (EMFILE), and a health
  // check is still answered: idle connections are closed to make room.
#ifdef PIPE_UBSAN_NEEDS_DESCRIPTORS
  GTEST_SKIP() << "UBSan's vptr check opens a pipe to probe memory; in a process out of descriptors it "
                  "reports every virtual call as an invalid vptr (the main and TSan trees run this test)";
#endif
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  rlimit small{256, 256};
  ASSERT_EQ(prlimit(daemon_, RLIMIT_NOFILE, &small, nullptr), 0);
  rlimit mine{};
  getrlimit(RLIMIT_NOFILE, &mine);
  if (mine.rlim_cur < 1024 && mine.rlim_max >= 1024) {
    mine.rlim_cur = 1024;
    setrlimit(RLIMIT_NOFILE, &mine);
  }
  int port = std::stoi(server_.substr(server_.rfind(':') + 1));
  std::vector<int> idle;
  for (int idx = 0; idx < 300; ++idx) idle.push_back(testing_util::ConnectToLoopback(port));
  double cpu_before = CpuSeconds(daemon_);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double cpu = CpuSeconds(daemon_) - cpu_before;
  EXPECT_LT(cpu, 1.0) << "piped used " << cpu << " s of CPU in 2 s with nothing to do";
  EXPECT_TRUE(Eventually([&] {
    try {
      return Http("GET", "/api/v1/health").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }, 15));
  for (int fd : idle) close(fd);
  int status = 0;
  EXPECT_EQ(waitpid(daemon_, &status, WNOHANG), 0);  // still running (kill(pid, 0) also answers a zombie)
}

TEST_F(PipedTest, UnreachableDaemonIsExitThree) {
  server_ = "http://127.0.0.1:1";
  Result r = Pipectl({"trigger", "hello"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach the daemon at http://127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(PipedTest, TokensAndRoles) {
  WriteDag("hello.yaml", kHello);
  std::ofstream(dir_ / "tokens") << "# role sha256\nviewer " << Sha256Hex("view-secret") << " ci\noperator "
                                 << Sha256Hex("op-secret") << "\n";
  StartDaemon({"--tokens", (dir_ / "tokens").string()});
  EXPECT_EQ(Http("GET", "/api/v1/dags").status, 401);
  EXPECT_EQ(Http("GET", "/api/v1/dags", "", "wrong").status, 401);
  EXPECT_EQ(Http("GET", "/api/v1/dags", "", "view-secret").status, 200);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", "{}", "view-secret").status, 403);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", "{}", "op-secret").status, 201);
  EXPECT_EQ(Http("GET", "/api/v1/health").status, 200);  // open
  Result viewer = Pipectl({"trigger", "hello"}, "view-secret");
  EXPECT_EQ(viewer.exit_code, 1);
  EXPECT_EQ(viewer.err, "pipectl: role 'viewer' may not change state (pass a token of role operator or admin with "
                        "--token or PIPE_TOKEN)\n");
  Result none = Pipectl({"dags", "list"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err, "pipectl: a valid bearer token is required (pass one with --token or PIPE_TOKEN)\n");
  EXPECT_EQ(Pipectl({"trigger", "hello"}, "op-secret").exit_code, 0);
}

TEST_F(PipedTest, AViewerSeesNoValueOfAColumnMarkedPersonalData) {
  // Given a table with an email column marked pii, then its rows through the
  // API hide the addresses from a viewer and show them to an operator.
  std::ofstream(dir_ / "dags" / "people.csv") << "email,age\nann@x.org,30\n,41\n";
  WriteDag("people.yaml", "dag: people\ntasks:\n  load: {op: ingest, with: {path: people.csv, "
                          "schema: {email: {type: string, pii: true}, age: int64}}}\n");
  std::ofstream(dir_ / "tokens") << "viewer " << Sha256Hex("view-secret") << "\noperator " << Sha256Hex("op-secret") << "\n";
  StartDaemon({"--tokens", (dir_ / "tokens").string()});
  HttpResponse created = Http("POST", "/api/v1/dags/people/runs", "{}", "op-secret");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string run = json::parse(created.body)["run_id"];
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = Http("GET", "/api/v1/runs/" + run, "", "op-secret");
    return r.status == 200 && json::parse(r.body)["state"] == "success";
  }));
  const std::string rows = "/api/v1/runs/" + run + "/tasks/load/artifacts/output/rows";
  HttpResponse viewer = Http("GET", rows, "", "view-secret");
  ASSERT_EQ(viewer.status, 200) << viewer.body;
  EXPECT_EQ(json::parse(viewer.body)["rows"], json::parse(R"j([["(personal data)", 30], [null, 41]])j")) << viewer.body;
  HttpResponse op = Http("GET", rows, "", "op-secret");
  EXPECT_EQ(json::parse(op.body)["rows"], json::parse(R"j([["ann@x.org", 30], [null, 41]])j")) << op.body;
}

TEST_F(PipedTest, RefusesNonLoopbackWithoutTokens) {
  WriteDag("hello.yaml", kHello);
  pid_t pid = Spawn({PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_, "--listen", "0.0.0.0:0"},
                    {}, dir_ / "out", dir_ / "err", dir_);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(ReadFile(dir_ / "err").find("refusing to listen on 0.0.0.0:0 without tokens"), std::string::npos);
}

TEST_F(PipedTest, HttpThreadsComeFromTheFlagOrTheConfigFileAndBadValuesAreRefused) {
  WriteDag("hello.yaml", kHello);
  auto exit_of = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_,
                                     "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_t pid = Spawn(args, {}, dir_ / "out", dir_ / "err", dir_);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::ofstream(dir_ / "bad.yaml") << "workers: 2\nhttp_threads: 0\n";
  EXPECT_EQ(exit_of({"--config", (dir_ / "bad.yaml").string()}), 2);
  EXPECT_NE(ReadFile(dir_ / "err").find("bad.yaml:2: bad value for 'http_threads' (a whole number from 1 to 256)"),
            std::string::npos)
      << ReadFile(dir_ / "err");
  EXPECT_NE(exit_of({"--http-threads", "0"}), 0);
  EXPECT_NE(ReadFile(dir_ / "err").find("--http-threads"), std::string::npos) << ReadFile(dir_ / "err");
  // Every setting is checked as its flag is, named by its line (none falls back to its default).
  const std::vector<std::pair<std::string, std::string>> bad_settings = {
      {"workers: 0", "bad value for 'workers' (a whole number from 1 to 4096)"},
      {"workers: -3", "bad value for 'workers' (a whole number from 1 to 4096)"},
      {"workers: \"2\"", "bad value for 'workers' (a whole number from 1 to 4096)"},
      {"max_connections: 0", "bad value for 'max_connections' (a whole number from 1 to 1048576)"},
      {"grace: 5", "bad value for 'grace' (a duration such as 30s)"},
      {"db_wait: soon", "bad value for 'db_wait' (a duration such as 60s or 0s)"},
      {"openlineage: [a]", "bad value for 'openlineage' (http://HOST:PORT/PATH or file:PATH)"},
      {"tokens_file: ''", "bad value for 'tokens_file' (a file)"},
      {"grace: \"5s\"\nworkers: 0", "bad.yaml:3: bad value for 'workers'"},  // a quoted duration is fine
  };  // (not listen, dags or db: this test gives them as flags, which win)
  for (const auto& [line, message] : bad_settings) {
    std::ofstream(dir_ / "bad.yaml") << "# settings\n" << line << "\n";
    EXPECT_EQ(exit_of({"--config", (dir_ / "bad.yaml").string()}), 2) << line;
    const std::string expected = message.rfind("bad.yaml:", 0) == 0 ? message : "bad.yaml:2: " + message;
    EXPECT_NE(ReadFile(dir_ / "err").find(expected), std::string::npos) << line << ": " << ReadFile(dir_ / "err");
  }

  // One thread from the file (the flag overrides nothing here): the API answers.
  std::ofstream(dir_ / "good.yaml") << "http_threads: 1\n";
  StartDaemon({"--config", (dir_ / "good.yaml").string()});
  EXPECT_NE(ReadFile(dir_ / "piped.log").find(" http_threads=1 "), std::string::npos) << ReadFile(dir_ / "piped.log");
  EXPECT_EQ(Http("GET", "/api/v1/health").status, 200);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", "{}").status, 201);
}

TEST_F(PipedTest, SecondDaemonOnTheSameSqliteDatabaseIsRefusedUntilTheFirstIsGone) {
  // Given a running piped on SQLite, then a second one on its database exits
  // 1 without touching its runs; after the first is killed, a new one starts.
  db_ = "sqlite:" + (dir_ / "state.db").string();
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  auto second = [&] {
    pid_t pid = Spawn({PIPED_PATH, "--dags", (dir_ / "dags").string(), "--db", db_, "--listen", "127.0.0.1:0"},
                      {"PIPE_HOME=" + (dir_ / "home2").string()}, dir_ / "out2", dir_ / "err2", dir_);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(second(), 1);
  EXPECT_NE(ReadFile(dir_ / "err2").find("another piped already schedules"), std::string::npos) << ReadFile(dir_ / "err2");
  StopDaemon(SIGKILL);
  StartDaemon();  // the lock died with the killed process
  Result r = Pipectl({"trigger", "hello", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// Two piped on one PostgreSQL database, both scheduling and serving the API.
// The one coordinating a run is killed (-9) mid-run: the other takes the run
// over once its lease ran out. The try on a worker runs on and its result
// counts (one try); the try that ran in the killed daemon is lost, stopped
// and run again; the run succeeds. A cancel asked of the scheduler that does
// not coordinate a run reaches the one that does.
TEST_F(PipedTest, TwoSchedulersShareADatabaseAndOneTakesOverTheRunsOfTheOther) {
  WriteDag("pair.yaml", R"yaml(dag: pair
tasks:
  far: {op: shell, queue: remote, run: 'sleep 4; echo far {{ task.try }}'}
  near: {op: shell, run: 'if [ {{ task.try }} = 1 ]; then sleep 30.25; fi; echo near {{ task.try }}'}
  end: {op: shell, depends_on: [far, near], run: 'echo end'}
)yaml");
  WriteDag("hold.yaml", R"yaml(dag: hold
tasks:
  wait: {op: shell, run: 'sleep 31.25'}
)yaml");
  const std::vector<std::string> common = {"--local-queues", "default", "--run-lease", "2s"};
  auto [b, b_server] = StartTwoSchedulers(common);  // daemon_, server_: a
  pid_t worker = StartWorker("w1", "remote", {"--heartbeat", "200ms", "--lease", "3s"});
  auto store = OpenStateStore(db_);

  // A cancel asked of b for a run a coordinates.
  Result r = Pipectl({"trigger", "hold"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string held = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(store->GetRun(held)->coordinator, "sched-a");
  for (int i = 0; i < 500 && store->GetTaskInstance(held, "wait")->state != TaskState::kRunning; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::swap(server_, b_server);
  EXPECT_EQ(Pipectl({"runs", "cancel", held}).exit_code, 0);
  std::swap(server_, b_server);
  for (int i = 0; i < 500 && !RunEnded(held); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Run(held)["state"], "cancelled");

  r = Pipectl({"trigger", "pair"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  for (int i = 0; i < 500; ++i) {
    auto w = store->GetWork(run, "far", 1);
    if (w && w->state == "claimed" && store->GetTaskInstance(run, "near")->state == TaskState::kRunning) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(store->GetWork(run, "far", 1)->state, "claimed") << ReadFile(dir_ / "w1.log");
  StopDaemon(SIGKILL);  // a, mid-run

  daemon_ = b;
  server_ = b_server;
  for (int i = 0; i < 1000 && !RunEnded(run); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  json finished = Run(run);
  EXPECT_EQ(finished["state"], "success") << finished.dump(2) << ReadFile(dir_ / "b.log");
  EXPECT_EQ(store->GetRun(run)->coordinator, "sched-b");
  EXPECT_EQ(store->GetTries(run, "far").size(), 1u);  // waited for, not run again
  EXPECT_EQ(store->GetWork(run, "far", 1)->state, "done");
  auto near = store->GetTries(run, "near");
  ASSERT_EQ(near.size(), 2u);
  EXPECT_EQ(near[0].error.rfind("lost", 0), 0u) << near[0].error;
  EXPECT_EQ(Pipectl({"logs", run, "near"}).out, "near 2\n");
  EXPECT_NE(ReadFile(dir_ / "b.log").find("run taken over run=" + run), std::string::npos);
  EXPECT_EQ(system("pgrep -f 'sleep 30[.]25' > /dev/null"), 256) << "the lost try's process still runs";
  kill(worker, SIGTERM);
  int status = 0;
  waitpid(worker, &status, 0);
}

TEST_F(PipedTest, BadRequestsGetTheRightStatus) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", "{not json").status, 400);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", "[1]").status, 400);
  EXPECT_EQ(Http("POST", "/api/v1/dags/nope/runs", "{}").status, 404);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", R"({"params": {"whom": 1}})").status, 400);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", R"({"params": {"who": [1, 2]}})").status, 400);
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", std::string(2 << 20, 'x')).status, 413);
  for (const char* bad : {"/api/v1/runs/..", "/api/v1/runs/%2e%2e", "/api/v1/dags/..%2f..%2fetc",
                          "/api/v1/runs/x/tasks/..%2F..%2Fpasswd/logs", "/api/v1/dags/Hello",
                          "/api/v1/runs/a%00b"}) {
    int status = Http("GET", bad).status;
    EXPECT_TRUE(status == 400 || status == 404) << bad << " -> " << status;
  }
  HttpResponse err = Http("GET", "/api/v1/dags/nope");
  EXPECT_EQ(json::parse(err.body)["error"]["code"], "not_found");
  // pipectl sends the ids it is given as they are: the API names a bad one.
  Result bad_id = Pipectl({"runs", "cancel", "bad id"});
  EXPECT_EQ(bad_id.exit_code, 2);
  EXPECT_EQ(bad_id.err, "pipectl: invalid run id 'bad id'\n");
  // Bodies nested 100,000 deep (nlohmann's copy and dump recurse per level:
  // they overflowed piped's stack) are refused before they are read.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const char* route : {"/api/v1/dags/hello/runs", "/api/v1/dags/nope/runs", "/v2/models/nope/infer"}) {
    HttpResponse r = Http("POST", route, std::string(R"({"params": {"who": )") + deep + "}}");
    EXPECT_EQ(r.status, 400) << route << ": " << r.body;
    const json error = json::parse(r.body)["error"];  // OIP's is the message itself
    EXPECT_EQ(error.is_string() ? error : error["message"], "request body nests deeper than 64 levels") << route;
  }
  EXPECT_EQ(Http("POST", "/api/v1/dags/hello/runs", R"({"params": {"who": "[[[\"]]]"}})").status, 201);
  EXPECT_EQ(Http("GET", "/api/v1/health").status, 200);  // still alive
}

TEST_F(PipedTest, TriggerDagThatWaitsHoldsNoWorkerWhileTheRunItMadeRuns) {
  // Given one worker and a task that triggers another DAG and waits for it
  // (it held the worker, so the run it made never started: both hung),
  WriteDag("child.yaml", "dag: child\ntasks:\n  a: {op: shell, run: 'echo child'}\n");
  WriteDag("parent.yaml", "dag: parent\ntasks:\n  t: {op: trigger_dag, with: {dag: child, wait: true}}\n"
                          "  after: {op: shell, depends_on: [t], run: 'true'}\n");
  StartDaemon({"--workers", "1"});
  HttpResponse created = Http("POST", "/api/v1/dags/parent/runs", "{}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string parent = json::parse(created.body)["run_id"];
  // then the parent waits between checks, the child runs, and both succeed.
  ASSERT_TRUE(Eventually([&] { return RunEnded(parent); }, 60)) << ReadFile(dir_ / "piped.log");
  json run = Run(parent);
  EXPECT_EQ(run["state"], "success") << run.dump(2);
  std::string summary;
  for (const auto& t : run["tasks"]) {
    if (t["task_id"] == "t") summary = t["metrics"].value("summary", "");
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(summary, m, std::regex("^run (\\S+) of child succeeded$"))) << summary;
  EXPECT_EQ(Run(m[1].str())["state"], "success");
  EXPECT_EQ(Run(m[1].str())["trigger"], "dag");
  EXPECT_EQ(Run(m[1].str())["triggered_by"], (json{{"run_id", parent}, {"task_id", "t"}}));  // the way back
  EXPECT_TRUE(Run(parent)["triggered_by"].is_null());
  EXPECT_NE(Pipectl({"runs", "show", m[1].str()}).out.find("by      task t of run " + parent + " (trigger_dag)\n"),
            std::string::npos);
  // One child run: every check of the try looked at the run the first made.
  EXPECT_EQ(json::parse(Http("GET", "/api/v1/dags/child/runs").body)["total"], 1);
  EXPECT_NE(ReadFile(dir_ / "piped.log").find("task=t state=waiting"), std::string::npos);
}

TEST_F(PipedTest, TriggerDagThatWaitsOnAPausedDagFailsSayingSo) {
  // Given a paused DAG, a task that triggers it and waits fails at once (its
  // run would stay queued until an unpause, maybe for ever), naming the fix.
  WriteDag("target.yaml", "dag: target\ntasks:\n  a: {op: shell, run: 'true'}\n");
  WriteDag("waiter.yaml", "dag: waiter\ntasks:\n  go: {op: trigger_dag, with: {dag: target, wait: true}}\n");
  StartDaemon();
  ASSERT_EQ(Pipectl({"dags", "pause", "target"}).exit_code, 0);
  HttpResponse created = Http("POST", "/api/v1/dags/waiter/runs", "{}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string parent = json::parse(created.body)["run_id"];
  ASSERT_TRUE(Eventually([&] { return RunEnded(parent); }, 30)) << ReadFile(dir_ / "piped.log");
  json run = Run(parent);
  EXPECT_EQ(run["state"], "failed");
  const std::string error = run["tasks"][0]["error"];
  EXPECT_EQ(error, "dag 'target' is paused: a run of it would wait for an unpause (pipectl dags unpause target), or set "
                   "wait: false (the run then stays queued until the unpause)");
  // and makes no run of it (a retry would make another, each to start at the unpause).
  EXPECT_EQ(json::parse(Http("GET", "/api/v1/dags/target/runs").body)["total"], 0);
}

TEST_F(PipedTest, RunsShowThroughTheDaemonHasTheValidationReport) {
  std::ofstream(dir_ / "dags" / "people.csv") << "id,age\n1,30\n2,-4\n3,51\n";
  WriteDag("checked.yaml", "dag: checked\ntasks:\n  load: {op: ingest, with: {path: people.csv}}\n"
                           "  check: {op: validate, depends_on: [load], with: {checks: [{column: age, min: 0}], "
                           "on_failure: warn}}\n");
  StartDaemon();
  HttpResponse created = Http("POST", "/api/v1/dags/checked/runs", "{}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string run = json::parse(created.body)["run_id"];
  ASSERT_TRUE(Eventually([&] { return RunEnded(run); }));
  Result shown = Pipectl({"runs", "show", run});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\nvalidation report of check:\n"), std::string::npos) << shown.out;
  EXPECT_TRUE(std::regex_search(shown.out, std::regex("\nage >= 0 +3 +1 +-4\n"))) << shown.out;
  EXPECT_TRUE(std::regex_search(shown.out, std::regex("\nage +int64 +0 +~3 +-4 +51 +25.6666"))) << shown.out;
  // GET /api/v1/runs/ID: each task's report, named, with its gist and where its content is.
  json tasks = Run(run)["tasks"];
  ASSERT_EQ(tasks.size(), 2u) << tasks.dump(2);
  EXPECT_TRUE(tasks[0]["report"].is_null()) << tasks[0].dump(2);
  const json report = tasks[1]["report"];
  ASSERT_TRUE(report.is_object()) << tasks[1].dump(2);
  EXPECT_EQ(report["artifact"], "report");
  EXPECT_EQ(report["summary"], tasks[1]["metrics"]["summary"]);
  EXPECT_FALSE(report["summary"].get<std::string>().empty());
  HttpResponse content = Http("GET", report["url"].get<std::string>());
  ASSERT_EQ(content.status, 200) << content.body;
  EXPECT_EQ(json::parse(content.body)["content"]["checks"][0]["rows_failed"], 1) << content.body;
}

TEST_F(PipedTest, PauseHoldsRunsUntilUnpaused) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  EXPECT_EQ(Pipectl({"dags", "pause", "hello"}).exit_code, 0);
  std::string run_id = Pipectl({"trigger", "hello"}).out;
  run_id.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Run(run_id)["state"], "queued");
  EXPECT_EQ(Pipectl({"dags", "unpause", "hello"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return RunEnded(run_id); }));
  EXPECT_EQ(Run(run_id)["state"], "success");
}

TEST_F(PipedTest, DagEditedWhileRunningKeepsTheRunsVersion) {
  WriteDag("slow.yaml", "dag: slow\ntasks:\n  a: {op: shell, run: 'sleep 1; echo v1'}\n");
  StartDaemon();
  std::string first = Pipectl({"trigger", "slow"}).out;
  first.pop_back();
  ASSERT_TRUE(Eventually([&] { return Run(first)["state"] == "running"; }));
  WriteDag("slow.yaml", "dag: slow\ntasks:\n  a: {op: shell, run: 'echo v2'}\n");
  ASSERT_TRUE(Eventually([&] { return json::parse(Http("GET", "/api/v1/dags/slow").body)["version"] == 2; }));
  std::string second = Pipectl({"trigger", "slow"}).out;
  second.pop_back();
  ASSERT_TRUE(Eventually([&] { return RunEnded(first) && RunEnded(second); }));
  EXPECT_EQ(Run(first)["dag_version"], 1);
  EXPECT_EQ(Pipectl({"logs", first, "a"}).out, "v1\n");
  EXPECT_EQ(Run(second)["dag_version"], 2);
  EXPECT_EQ(Pipectl({"logs", second, "a"}).out, "v2\n");
  // An invalid edit is reported and the last good version stays.
  WriteDag("slow.yaml", "dag: slow\ntasks:\n  a: {op: shel}\n");
  ASSERT_TRUE(Eventually([&] { return !json::parse(Http("GET", "/api/v1/dags").body)["load_errors"].empty(); }));
  EXPECT_EQ(json::parse(Http("GET", "/api/v1/dags/slow").body)["version"], 2);
}

TEST_F(PipedTest, BackfillCreatesRunsForEveryTick) {
  WriteDag("daily.yaml", "dag: daily\nschedule: '@daily'\nstart_date: 2026-01-01\nmax_active_runs: 4\n"
                         "tasks:\n  a: {op: shell, run: 'echo {{ run.logical_date }}'}\n");
  StartDaemon();
  Result r = Pipectl({"backfill", "daily", "--from", "2026-01-10", "--to", "2026-01-14", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json ids = json::parse(r.out)["runs"];
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_TRUE(Eventually([&] {
    for (const auto& id : ids) {
      if (!RunEnded(id)) return false;
    }
    return true;
  }));
  EXPECT_EQ(Pipectl({"logs", ids[0], "a"}).out, "2026-01-10T00:00:00Z\n");
  json again = json::parse(Pipectl({"backfill", "daily", "--from", "2026-01-10", "--to", "2026-01-14", "--json"}).out);
  EXPECT_EQ(again["runs"].size(), 0u);
  EXPECT_EQ(again["skipped"], 5);
  // Said, not a bare "0 runs created".
  EXPECT_EQ(Pipectl({"backfill", "daily", "--from", "2026-01-10", "--to", "2026-01-11"}).out,
            "0 runs created (2 ticks of the range already have runs: --rerun runs them again)\n");
}

TEST_F(PipedTest, KillNineThenRestartFinishesEveryTaskOnce) {
  // Given piped killed with SIGKILL while a task runs, when it restarts, then
  // the orphaned try is stopped (never two at once), retried as a new try,
  // and every task ends.
  WriteDag("crash.yaml", R"yaml(dag: crash
tasks:
  long:
    op: shell
    run: 'echo "start $PIPE_TRY_NUMBER" >> marks; sleep $((PIPE_TRY_NUMBER == 1 ? 60 : 1)); echo "end $PIPE_TRY_NUMBER" >> marks'
  after: {op: shell, depends_on: [long], run: 'echo after >> marks'}
)yaml");
  // Try 1 sleeps for a minute, far longer than the test waits before the kill
  // even on a loaded machine: the orphan is still running when piped restarts.
  StartDaemon();
  std::string run_id = Pipectl({"trigger", "crash"}).out;
  run_id.pop_back();
  // The task runs in the DAG file's folder: marks is there.
  fs::path marks = dir_ / "dags" / "marks";
  ASSERT_TRUE(Eventually([&] { return ReadFile(marks) == "start 1\n"; }));
  // The try's process group is stored just after the process starts; a kill
  // inside that window (a few ms) would leave the orphan unknown.
  ASSERT_TRUE(Eventually([&] {
    pqxx::connection db(db_);
    pqxx::nontransaction tx(db);
    pqxx::result r = tx.exec_params("SELECT process FROM task_tries WHERE run_id = $1 AND task_id = 'long'", run_id);
    return !r.empty() && !r[0][0].is_null() && !r[0][0].as<std::string>().empty();
  }));
  // `after` is started ahead, waiting at its gate (a warm start); the crash
  // must not let it run: it sees end of file and exits.
  std::string warm_after = std::string("echo after >> marks") + '\0';
  ASSERT_TRUE(Eventually([&] { return !testing_util::ProcessesMentioning(warm_after).empty(); }));
  // The task watchdog would kill the orphan with piped: it goes first here,
  // so that the second guard (the kill at restart) is what stops the orphan.
  const std::string watchdog = "pkill -KILL -P " + std::to_string(daemon_) + " -f __pipe_task_watchdog";
  ASSERT_EQ(system(watchdog.c_str()), 0);
  EXPECT_EQ(StopDaemon(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(Eventually([&] { return testing_util::ProcessesMentioning(warm_after).empty(); }));
  EXPECT_EQ(ReadFile(marks), "start 1\n");
  // The orphaned try still runs, and the new daemon listens on the same
  // port: the orphan holds none of the dead daemon's sockets.
  ASSERT_FALSE(testing_util::ProcessesMentioning("echo \"end $PIPE_TRY_NUMBER\"").empty());
  listen_ = server_.substr(std::string("http://").size());
  StartDaemon();
  ASSERT_TRUE(Eventually([&] { return RunEnded(run_id); }, 30));
  json run = Run(run_id);
  EXPECT_EQ(run["state"], "success");
  // The orphan was stopped, not left to finish: no process of the task is
  // left, and none wrote "end 1".
  EXPECT_TRUE(Eventually([&] { return testing_util::ProcessesMentioning("echo \"end $PIPE_TRY_NUMBER\"").empty(); }));
  EXPECT_EQ(ReadFile(marks), "start 1\nstart 2\nend 2\nafter\n");
  json tries = run["tasks"][0]["tries"];
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0]["error"], "lost: the process running try 1 ended");
}

TEST_F(PipedTest, KillNineDuringAnIncrementalReadLosesAndRepeatsNoRow) {
  // Given an incremental ingest from PostgreSQL killed (SIGKILL to piped) while
  // it reads, when piped restarts, then the run is taken over, the read is
  // done again from the stored mark, and over all runs every source row
  // reaches the target table exactly once.
  static int counter = 0;
  const std::string source = Cluster().CreateDatabase("feed" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  auto sql = [&](const std::string& statement) {
    pqxx::connection c(source);
    pqxx::work tx(c);
    tx.exec0(statement);
    tx.commit();
  };
  sql("CREATE TABLE events (id bigint, what text)");
  sql("INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 500) g");
  sql("CREATE TABLE slow (seconds double precision)");
  sql("INSERT INTO slow VALUES (3)");
  // The read waits `slow.seconds` inside the query, so the kill finds it reading.
  WriteDag("feed.yaml", "dag: feed\ntasks:\n  load:\n    op: ingest\n    retries: 0\n    with:\n      source: '" + source +
                            "'\n      query: 'SELECT id, what FROM events, (SELECT pg_sleep(seconds) FROM slow) AS w'\n"
                            "      incremental: {column: id}\n"
                            "  save: {op: export, depends_on: [load], with: {target: '" + source +
                            "', table: copied, mode: append}}\n");
  StartDaemon();
  std::string run_id = Pipectl({"trigger", "feed"}).out;
  run_id.pop_back();
  ASSERT_TRUE(Eventually([&] {
    json run = Run(run_id);
    return run["tasks"][0]["state"] == "running";
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(StopDaemon(SIGKILL), 128 + SIGKILL);
  sql("UPDATE slow SET seconds = 0");
  listen_ = server_.substr(std::string("http://").size());
  StartDaemon();
  ASSERT_TRUE(Eventually([&] { return RunEnded(run_id); }, 30));
  json run = Run(run_id);
  EXPECT_EQ(run["state"], "success") << run.dump();
  EXPECT_EQ(run["tasks"][0]["tries"].size(), 2u);  // the lost read, then the one that counted
  EXPECT_EQ(run["tasks"][0]["metrics"]["rows_out"], 500);
  // New rows, a new run: only they are read.
  sql("INSERT INTO events SELECT g, 'e' || g FROM generate_series(501, 620) g");
  std::string second = Pipectl({"trigger", "feed"}).out;
  second.pop_back();
  ASSERT_TRUE(Eventually([&] { return RunEnded(second); }, 30));
  EXPECT_EQ(Run(second)["tasks"][0]["metrics"]["rows_out"], 120);
  pqxx::connection c(source);
  pqxx::work tx(c);
  pqxx::row r = tx.exec1("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM copied");
  EXPECT_EQ(r[0].as<int64_t>(), 620);
  EXPECT_EQ(r[1].as<int64_t>(), 620);
  EXPECT_EQ(r[2].as<int64_t>(), 1);
  EXPECT_EQ(r[3].as<int64_t>(), 620);
}

TEST_F(PipedTest, SurvivesPostgresqlDownForTenSeconds) {
  // Given PostgreSQL stopped for 10 s during a run, then health says 503,
  // then 200 once it is back, and the run finishes.
  WriteDag("steps.yaml", R"yaml(dag: steps
tasks:
  one: {op: shell, run: 'sleep 1'}
  two: {op: shell, depends_on: [one], run: 'sleep 1'}
  three: {op: shell, depends_on: [two], run: 'true'}
)yaml");
  StartDaemon();
  std::string run_id = Pipectl({"trigger", "steps"}).out;
  run_id.pop_back();
  ASSERT_TRUE(Eventually([&] { return Run(run_id)["state"] == "running"; }));
  auto down_at = std::chrono::steady_clock::now();
  Cluster().Pause();
  EXPECT_TRUE(Eventually([&] { return Http("GET", "/api/v1/health").status == 503; }, 5));
  std::this_thread::sleep_until(down_at + std::chrono::seconds(10));
  Cluster().StartAgain();
  EXPECT_TRUE(Eventually([&] { return Http("GET", "/api/v1/health").status == 200; }, 10));
  ASSERT_TRUE(Eventually([&] { return RunEnded(run_id); }, 40));
  EXPECT_EQ(Run(run_id)["state"], "success");
  int status = 0;
  EXPECT_EQ(waitpid(daemon_, &status, WNOHANG), 0);  // the daemon survived (not even a zombie)
}

// Fault test: PostgreSQL stopped for 4 s while workers run tries and the
// scheduler waits for them. Everyone reconnects; nothing is lost or run
// twice: each try's result is written once the database is back.
TEST_F(PipedTest, WorkersAndTheSchedulerRideOutAPostgresqlRestart) {
  std::string dag = "dag: restart\ntasks:\n";
  for (int i = 0; i < 10; ++i) {
    dag += "  r" + std::to_string(i) + ": {op: shell, queue: remote, run: 'sleep 1.5; echo {{ task.id }} >> done'}\n";
  }
  dag += "  end: {op: shell, depends_on: [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9], run: 'echo end >> done'}\n";
  WriteDag("restart.yaml", dag);
  StartDaemon({"--local-queues", "default"});
  std::vector<pid_t> workers;
  for (const char* name : {"w-a", "w-b"}) {
    workers.push_back(StartWorker(name, "remote", {"--slots", "5", "--heartbeat", "200ms", "--lease", "20s"}));
  }
  Result r = Pipectl({"trigger", "restart"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  {
    auto store = OpenStateStore(db_);
    ASSERT_TRUE(Eventually([&] {
      int claimed = 0;
      for (const WorkRecord& w : store->ListWork(run)) claimed += w.state == "claimed";
      return claimed >= 5;
    }));
  }
  Cluster().Pause();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  Cluster().StartAgain();
  ASSERT_TRUE(Eventually([&] { return Http("GET", "/api/v1/health").status == 200 && RunEnded(run); }, 60))
      << ReadFile(dir_ / "w-a.log");
  EXPECT_EQ(Run(run)["state"], "success");
  auto store = OpenStateStore(db_);
  for (int i = 0; i < 10; ++i) {
    const std::string task = "r" + std::to_string(i);
    auto tries = store->GetTries(run, task);
    EXPECT_EQ(tries.size(), 1u) << task << ": " << (tries.empty() ? "" : tries[0].error);
  }
  std::string done = ReadFile(dir_ / "dags" / "done");
  for (int i = 0; i < 10; ++i) {
    const std::string line = "r" + std::to_string(i) + "\n";
    EXPECT_NE(done.find(line), std::string::npos) << done;
    EXPECT_EQ(done.find(line), done.rfind(line)) << "ran twice: " << done;
  }
  for (pid_t w : workers) {
    kill(w, SIGTERM);
    int status = 0;
    waitpid(w, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "w-a.log");
  }
}

TEST_F(PipedTest, ALocalTryEndingDuringAnOutageBeforeAWorkersTryDoesNotHangTheRun) {
  // Given a local task that ends while PostgreSQL is down, whose downstream
  // task goes to a worker: the run is interrupted (its next try could not
  // be stored), resumed once the database is back, and ends; piped stops on
  // SIGTERM. (The worker's try, counted out when its start was not stored,
  // was counted out again when the run was abandoned: piped waited for ever.)
  WriteDag("chain.yaml", "dag: chain\ntasks:\n  s1: {op: shell, run: 'sleep 1'}\n"
                         "  s2: {op: shell, queue: remote, depends_on: [s1], run: 'echo s2 >> chain_done'}\n");
  StartDaemon({"--local-queues", "default"});
  pid_t worker = StartWorker("w-chain", "remote", {"--heartbeat", "200ms", "--lease", "20s"});
  // Live before the outage: a worker that reaches the database only during
  // it exits at start (this test failed so under load).
  {
    auto store = OpenStateStore(db_);
    ASSERT_TRUE(Eventually([&] {
      for (const WorkerRecord& w : store->ListWorkers()) {
        if (w.name == "w-chain") return true;
      }
      return false;
    })) << ReadFile(dir_ / "w-chain.log");
  }
  Result r = Pipectl({"trigger", "chain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  {
    auto store = OpenStateStore(db_);
    ASSERT_TRUE(Eventually([&] {
      auto s1 = store->GetTaskInstance(run, "s1");
      return s1 && s1->state == TaskState::kRunning;
    }));
  }
  Cluster().Pause();  // s1 ends a second later, with nowhere to write
  // Longer than the store's reconnect budget (15 s): the write fails.
  std::this_thread::sleep_for(std::chrono::seconds(17));
  Cluster().StartAgain();
  // (Generous: the test failed once under ASan beside other tests, its cause unseen; a
  // resumed run there may take over a minute.)
  ASSERT_TRUE(Eventually([&] { return Http("GET", "/api/v1/health").status == 200 && RunEnded(run); }, 150))
      << Run(run).dump(2) << "\nthe worker's log:\n" << ReadFile(dir_ / "w-chain.log");
  EXPECT_EQ(Run(run)["state"], "success") << Run(run).dump(2);
  EXPECT_EQ(ReadFile(dir_ / "dags" / "chain_done"), "s2\n");
  kill(worker, SIGTERM);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The worker said when it lost the database and when it had it back.
  const std::string log = ReadFile(dir_ / "w-chain.log");
  EXPECT_NE(log.find("warning worker: the state database does not answer ("), std::string::npos) << log;
  EXPECT_NE(log.find("warning worker: the state database answers again"), std::string::npos) << log;
}

TEST(DaemonStoreTest, AConnectTimeoutIsAddedToAPostgresqlUrlThatSetsNone) {
  EXPECT_EQ(WithConnectTimeout("postgresql://u@db/pipe"), "postgresql://u@db/pipe?connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgres://u@db/pipe?sslmode=require"), "postgres://u@db/pipe?sslmode=require&connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://u@db/pipe?connect_timeout=30"), "postgresql://u@db/pipe?connect_timeout=30");
  EXPECT_EQ(WithConnectTimeout("sqlite:/x/state.db"), "sqlite:/x/state.db");
}

TEST_F(PipedTest, PipedAndAWorkerStartedBeforePostgresqlWaitForIt) {
  // Given PostgreSQL down when piped and two workers start (containers
  // starting together),
  WriteDag("late.yaml", "dag: late\ntasks:\n  far: {op: shell, queue: remote, run: 'echo far'}\n");
  Cluster().Pause();
  const size_t log_start = SpawnDaemon({"--local-queues", "default", "--db-wait", "5m"}, "piped.log");
  pid_t worker = StartWorker("w-late", "remote", {"--heartbeat", "200ms", "--lease", "5s", "--db-wait", "5m"});
  pid_t stopped = StartWorker("w-stop", "remote", {"--db-wait", "5m"});
  pid_t impatient = StartWorker("w-now", "remote", {"--db-wait", "0s"});
  // a worker told not to wait exits at once, naming the database (exit 3),
  int status = 0;
  ASSERT_EQ(waitpid(impatient, &status, 0), impatient);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << status;
  EXPECT_NE(ReadFile(dir_ / "w-now.log").find("PostgreSQL unreachable"), std::string::npos)
      << ReadFile(dir_ / "w-now.log");
  // the others wait, saying so,
  ASSERT_TRUE(Eventually([&] {
    return ReadFile(dir_ / "piped.log").find("waiting for the database") != std::string::npos &&
           ReadFile(dir_ / "w-late.log").find("waiting for the database") != std::string::npos &&
           ReadFile(dir_ / "w-stop.log").find("waiting for the database") != std::string::npos;
  })) << ReadFile(dir_ / "piped.log") << ReadFile(dir_ / "w-late.log");
  EXPECT_EQ(waitpid(daemon_, &status, WNOHANG), 0) << ReadFile(dir_ / "piped.log");
  EXPECT_EQ(waitpid(worker, &status, WNOHANG), 0) << ReadFile(dir_ / "w-late.log");
  // one stopped meanwhile ends at once and cleanly,
  kill(stopped, SIGTERM);
  ASSERT_TRUE(Eventually([&] { return waitpid(stopped, &status, WNOHANG) == stopped; }, 10))
      << ReadFile(dir_ / "w-stop.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(ReadFile(dir_ / "w-stop.log").find("the database was not reached yet"), std::string::npos)
      << ReadFile(dir_ / "w-stop.log");
  // and once the database is up, piped serves and the worker runs tries.
  Cluster().StartAgain();
  AwaitListening("piped.log", log_start, 60);
  Result r = Pipectl({"trigger", "late"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return RunEnded(run); }, 60)) << ReadFile(dir_ / "w-late.log");
  EXPECT_EQ(Run(run)["state"], "success") << Run(run).dump(2);
  EXPECT_EQ(Pipectl({"logs", run, "far"}).out, "far\n");
  StopWorkers({worker});
}

TEST_F(PipedTest, CronFiresOnAnAcceleratedClock) {
  // Given a per-minute schedule and time running 60x, then a run fires every
  // (fake) minute, each at its tick, and succeeds.
  TimePoint origin = SystemClock::Default()->Now();
  test_clock_ = FormatIso8601(origin) + ",60";
  WriteDag("minutely.yaml", "dag: minutely\nschedule: '* * * * *'\nstart_date: " + FormatIso8601(origin) +
                                "\ntasks:\n  a: {op: shell, run: 'echo {{ run.logical_date }}'}\n");
  StartDaemon();
  ASSERT_TRUE(Eventually([&] { return ScheduledTicks("minutely").size() >= 3; }, 15));
  auto ticks = ScheduledTicks("minutely");
  for (size_t idx = 1; idx < ticks.size(); ++idx) EXPECT_EQ(MinutesBetween(ticks[idx - 1], ticks[idx]), 1);
  EXPECT_EQ(ticks[0].substr(17), "00Z");  // on the minute
  json runs = json::parse(Http("GET", "/api/v1/dags/minutely/runs?limit=1000").body)["runs"];
  std::string first_done = runs.back()["run_id"];
  ASSERT_TRUE(Eventually([&] { return RunEnded(first_done); }));
  EXPECT_EQ(Run(first_done)["state"], "success");
  EXPECT_EQ(Pipectl({"logs", first_done, "a"}).out, ticks[0] + "\n");
}

TEST_F(PipedTest, CatchupOnAndOffAfterDowntime) {
  // Given two per-minute DAGs, one with catchup, and the daemon down for
  // about 5 (fake) minutes, then the catchup DAG gets every missed tick and
  // the other only the latest one.
  TimePoint origin = SystemClock::Default()->Now();
  test_clock_ = FormatIso8601(origin) + ",60";
  std::string head = "schedule: '* * * * *'\nstart_date: " + FormatIso8601(origin) + "\nmax_active_runs: 20\n";
  WriteDag("with.yaml", "dag: with_catchup\ncatchup: true\n" + head + "tasks:\n  a: {op: shell, run: 'true'}\n");
  WriteDag("without.yaml", "dag: without_catchup\n" + head + "tasks:\n  a: {op: shell, run: 'true'}\n");
  StartDaemon();
  ASSERT_TRUE(Eventually([&] { return ScheduledTicks("with_catchup").size() >= 1 &&
                                      ScheduledTicks("without_catchup").size() >= 1; }, 15));
  StopDaemon(SIGKILL);
  std::this_thread::sleep_for(std::chrono::seconds(5));
  StartDaemon();
  auto skipped = [](const std::vector<std::string>& ticks) {
    bool gap = false;
    for (size_t idx = 1; idx < ticks.size(); ++idx) gap |= MinutesBetween(ticks[idx - 1], ticks[idx]) > 1;
    return gap;
  };
  std::vector<std::string> with, without;
  Eventually([&] {  // the runs of the restart's first turn (the clock makes any later turn's alike)
    with = ScheduledTicks("with_catchup");
    without = ScheduledTicks("without_catchup");
    return with.size() >= 5 && skipped(without);
  }, 30);
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
  auto join = [](const std::vector<std::string>& ticks) {
    std::string out;
    for (const auto& t : ticks) out += " " + t;
    return out;
  };
  SCOPED_TRACE("with catchup:" + join(with) + "; without:" + join(without));
  ASSERT_GE(with.size(), 5u);
  for (size_t idx = 1; idx < with.size(); ++idx) {
    EXPECT_EQ(MinutesBetween(with[idx - 1], with[idx]), 1) << "catchup missed a tick at " << with[idx];
  }
  EXPECT_TRUE(skipped(without)) << "without catchup, the missed ticks must be skipped";
  EXPECT_LT(without.size(), with.size());
}

// piped runs the "default" queue itself and hands the "remote" queue to a
// piped worker: the run succeeds, the remote task ran on the worker (its
// claim names it), with the run's params rendered there, and its log is
// read like any other.
TEST_F(PipedTest, TasksOfOtherQueuesRunOnAWorker) {
  WriteDag("spread.yaml", R"yaml(dag: spread
params: {who: world}
tasks:
  first: {op: shell, run: 'echo local'}
  away: {op: shell, depends_on: [first], queue: remote, run: 'echo "remote {{ params.who }} try {{ task.try }}"'}
  last: {op: shell, depends_on: [away], run: 'echo done'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  pid_t worker =
      StartWorker("w-remote", "remote", {"--slots", "2", "--heartbeat", "200ms", "--lease", "3s", "--grace", "1s"});
  Result r = Pipectl({"trigger", "spread", "--param", "who=there", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out << ReadFile(dir_ / "w-remote.log");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("run (\\S+) of dag 'spread'")));
  EXPECT_EQ(Run(m[1].str())["state"], "success");
  Result logs = Pipectl({"logs", m[1].str(), "away"});
  EXPECT_EQ(logs.out, "remote there try 1\n");
  auto store = OpenStateStore(db_);
  auto away = store->GetWork(m[1].str(), "away", 1);
  ASSERT_TRUE(away);
  EXPECT_EQ(away->state, "done");
  EXPECT_EQ(away->worker, "w-remote");
  EXPECT_FALSE(store->GetWork(m[1].str(), "first", 1));  // the local queue never went to the work queue
  kill(worker, SIGTERM);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "w-remote.log");
}

// A worker killed (-9) while it runs a try: its lease runs out, the try is
// reaped as lost, and a new try that uses up no retry runs on another
// worker; the run succeeds.
TEST_F(PipedTest, ATryLostWithItsWorkerRunsAgainWithoutUsingARetry) {
  WriteDag("lose.yaml", R"yaml(dag: lose
tasks:
  away: {op: shell, queue: remote, run: 'if [ {{ task.try }} = 1 ]; then sleep 37.25; fi; echo try {{ task.try }}'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  auto worker = [&](const std::string& name) {
    return StartWorker(name, "remote", {"--heartbeat", "100ms", "--lease", "1s", "--grace", "1s"});
  };
  pid_t first = worker("w-first");
  Result r = Pipectl({"trigger", "lose"});  // prints the run id
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  auto store = OpenStateStore(db_);
  for (int i = 0; i < 500; ++i) {
    auto w = store->GetWork(run, "away", 1);
    if (w && w->state == "claimed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(store->GetWork(run, "away", 1)->state, "claimed");
  kill(first, SIGKILL);
  int status = 0;
  waitpid(first, &status, 0);
  pid_t second = worker("w-second");
  for (int i = 0; i < 1000 && !RunEnded(run); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  json finished = Run(run);
  EXPECT_EQ(finished["state"], "success") << finished.dump(2);
  EXPECT_EQ(store->GetWork(run, "away", 1)->state, "lost");
  auto second_try = store->GetWork(run, "away", 2);
  ASSERT_TRUE(second_try);
  EXPECT_EQ(second_try->worker, "w-second");
  auto tries = store->GetTries(run, "away");
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].error.rfind("lost: the worker running try 1 (w-first)", 0), 0u) << tries[0].error;
  EXPECT_EQ(Pipectl({"logs", run, "away"}).out, "try 2\n");
  kill(second, SIGTERM);
  waitpid(second, &status, 0);
  // The killed worker's orphan, if it outlived it (a duration no other test sleeps; [.]: the
  // pattern does not match this shell).
  [[maybe_unused]] int ignored = system("pkill -f 'sleep 37[.]25'");
}

// A remote try's timeout and a cancel of its run reach the worker running
// it: the process is stopped there, the try ends with the coordinator's
// reason, and the try records the worker that ran it.
TEST_F(PipedTest, TimeoutsAndCancelsReachTriesRunningOnWorkers) {
  WriteDag("far.yaml", R"yaml(dag: far
tasks:
  slow: {op: shell, queue: remote, timeout: 1s, run: 'sleep 41.75'}
)yaml");
  WriteDag("stop.yaml", R"yaml(dag: stop
tasks:
  held: {op: shell, queue: remote, run: 'sleep 42.75'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  // Heartbeats far apart: only the cancel notice makes the worker look soon.
  pid_t worker = StartWorker("w-far", "remote", {"--heartbeat", "20s", "--lease", "60s", "--grace", "1s"});
  auto store = OpenStateStore(db_);

  auto start = std::chrono::steady_clock::now();
  Result r = Pipectl({"trigger", "far"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string timed = r.out.substr(0, r.out.find('\n'));
  for (int i = 0; i < 1000 && !RunEnded(timed); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_EQ(Run(timed)["state"], "failed");
  auto tries = store->GetTries(timed, "slow");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].error, "timeout after 1s");
  EXPECT_EQ(tries[0].worker, "w-far");  // recorded when it ended
  EXPECT_EQ(system("pgrep -f 'sleep 41[.]75' > /dev/null"), 256) << "the timed-out process still runs";

  r = Pipectl({"trigger", "stop"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string held = r.out.substr(0, r.out.find('\n'));
  for (int i = 0; i < 500; ++i) {
    auto w = store->GetWork(held, "held", 1);
    if (w && w->state == "claimed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(store->GetWork(held, "held", 1)->state, "claimed") << ReadFile(dir_ / "w-far.log");
  start = std::chrono::steady_clock::now();
  r = Pipectl({"runs", "cancel", held});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  for (int i = 0; i < 1000 && !RunEnded(held); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(Run(held)["state"], "cancelled");
  EXPECT_NE(ReadFile(dir_ / "piped.log").find("run cancelled run=" + held + " (running here)"), std::string::npos);
  EXPECT_EQ(store->GetWork(held, "held", 1)->state, "done");
  EXPECT_EQ(system("pgrep -f 'sleep 42[.]75' > /dev/null"), 256) << "the cancelled process still runs";
  kill(worker, SIGTERM);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir_ / "w-far.log");
}

// Fault test: 100 tasks over 3 workers, a random worker killed (-9) ten
// times during the run and replaced. Every task ends `success`, no task has
// two tries running at once (each try logs its start and end), and the tries
// lost with their workers are marked `lost` and used up no retry.
TEST_F(PipedTest, TasksSurviveTenWorkerKills) {
  std::string dag = "dag: churn\ntasks:\n";
  for (int i = 0; i < 100; ++i) {
    dag += "  t" + std::to_string(i) +
           ": {op: shell, queue: remote, run: 'echo \"{{ task.id }} {{ task.try }} start\" >> trace; sleep 0.4; "
           "echo \"{{ task.id }} {{ task.try }} end\" >> trace'}\n";
  }
  WriteDag("churn.yaml", dag);
  StartDaemon({"--local-queues", "default"});
  int next_name = 0;
  auto worker = [&] {
    const std::string name = "w" + std::to_string(next_name++);
    return StartWorker(name, "remote", {"--slots", "2", "--heartbeat", "100ms", "--lease", "1s"});
  };
  std::vector<pid_t> workers = {worker(), worker(), worker()};
  Result r = Pipectl({"trigger", "churn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  std::mt19937 rng(20261204);
  for (int kill_count = 0; kill_count < 10 && !RunEnded(run); ++kill_count) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    size_t victim = rng() % workers.size();
    kill(workers[victim], SIGKILL);
    int status = 0;
    waitpid(workers[victim], &status, 0);
    workers[victim] = worker();
  }
  for (int i = 0; i < 3000 && !RunEnded(run); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  json finished = Run(run);
  EXPECT_EQ(finished["state"], "success") << finished.dump(2).substr(0, 2000);
  auto store = OpenStateStore(db_);
  int lost = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string task = "t" + std::to_string(i);
    auto tries = store->GetTries(run, task);
    ASSERT_FALSE(tries.empty()) << task;
    EXPECT_EQ(tries.back().state, TaskState::kSuccess) << task;
    for (size_t t = 0; t + 1 < tries.size(); ++t) {
      EXPECT_EQ(tries[t].error.rfind("lost", 0), 0u) << task << " try " << t + 1 << ": " << tries[t].error;
      ++lost;
    }
  }
  // No two tries of a task ran at once: the trace's starts and ends alternate
  // per task, but for a try lost with its worker, killed with it by the
  // worker's task watchdog (so it wrote no end; ATaskDiesWithTheProcess-
  // RunningItAndRunsOnceMore shows that kill is at once).
  std::ifstream trace(dir_ / "dags" / "trace");
  std::map<std::string, std::string> open;  // task -> try that started and has not ended
  std::string task, try_number, what;
  int lines = 0;
  while (trace >> task >> try_number >> what) {
    ++lines;
    if (what == "start") {
      if (open.count(task)) {
        auto tries = store->GetTries(run, task);
        const size_t was = size_t(std::stoi(open[task]));
        EXPECT_TRUE(was >= 1 && was <= tries.size() && tries[was - 1].error.rfind("lost", 0) == 0)
            << task << " try " << try_number << " started while try " << open[task] << " ran";
      }
      open[task] = try_number;
    } else {
      open.erase(task);
    }
  }
  EXPECT_GE(lines, 200);
  RecordProperty("lost_tries", lost);
  for (pid_t w : workers) {
    kill(w, SIGTERM);
    int status = 0;
    waitpid(w, &status, 0);
  }
}

// The log of a try running on a worker is read while it runs (the worker
// writes it where the coordinator's payload says, in the shared folder), and
// `pipectl logs --follow` ends with the try.
TEST_F(PipedTest, TheLogOfATryOnAWorkerIsReadWhileItRuns) {
  WriteDag("talk.yaml", R"yaml(dag: talk
tasks:
  away: {op: shell, queue: remote, run: 'echo first; while [ ! -e go ]; do sleep 0.05; done; echo second'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  pid_t worker = StartWorker("w-talk", "remote", {"--heartbeat", "200ms", "--lease", "3s"});
  Result r = Pipectl({"trigger", "talk"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return Pipectl({"logs", run, "away"}).out == "first\n"; }))
      << Pipectl({"logs", run, "away"}).err;
  EXPECT_EQ(Run(run)["tasks"][0]["state"], "running");
  std::ofstream(dir_ / "dags" / "go") << "\n";
  Result followed = Pipectl({"logs", run, "away", "--follow"});
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.out, "first\nsecond\n");
  EXPECT_TRUE(Eventually([&] { return RunEnded(run); }));
  StopWorkers({worker});
}

// Locality: a chain of data tasks handed to two workers runs on the worker
// that holds each input in memory (it reads it from there, not from the
// shared folder), and the result is the same.
TEST_F(PipedTest, DataTasksOnWorkersPreferTheWorkerHoldingTheirInput) {
  WriteDag("local.yaml", R"yaml(dag: local
tasks:
  load: {op: ingest, queue: remote, with: {path: in.csv, schema: {id: int64, amount: float64}}}
  tidy: {op: clean, queue: remote, depends_on: [load], with: {steps: [{drop_nulls: [amount]}]}}
  more: {op: transform, queue: remote, depends_on: [tidy], with: {steps: [{derive: {twice: "amount * 2"}}]}}
  save: {op: export, queue: remote, depends_on: [more], with: {path: out.csv}}
)yaml");
  std::ofstream(dir_ / "dags" / "in.csv") << "id,amount\n1,10\n2,\n3,30\n";
  StartDaemon({"--local-queues", "default"});
  std::vector<pid_t> workers;
  for (const char* name : {"w-a", "w-b"}) {
    workers.push_back(StartWorker(name, "remote", {"--slots", "2", "--heartbeat", "200ms", "--lease", "5s"}));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both have announced themselves
  Result r = Pipectl({"trigger", "local"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] { return RunEnded(run); }, 60));
  json finished = Run(run);
  EXPECT_EQ(finished["state"], "success") << finished.dump(2).substr(0, 2000);
  EXPECT_EQ(ReadFile(dir_ / "dags" / "out.csv"), "id,amount,twice\n1,10,20\n3,30,60\n");
  std::set<std::string> ran_on;
  for (const json& t : finished["tasks"]) ran_on.insert(t["tries"].back()["worker"].get<std::string>());
  EXPECT_EQ(ran_on.size(), 1u) << finished.dump(2).substr(0, 3000);
  StopWorkers(workers);
  std::string logs = ReadFile(dir_ / "w-a.log") + ReadFile(dir_ / "w-b.log");
  std::regex in_memory("inputs_in_memory=(\\d+)");
  int total = 0;
  for (auto it = std::sregex_iterator(logs.begin(), logs.end(), in_memory); it != std::sregex_iterator(); ++it) {
    total += std::stoi((*it)[1].str());
  }
  EXPECT_EQ(total, 3) << logs;  // tidy, more and save read their input from memory
}

// Fan-out over workers: a task mapped over 1,000 items runs each item
// exactly once over 3 workers (each try appends its identity to a trace),
// and its downstream task runs once after the last of them.
TEST_F(PipedTest, AMappedTaskOverAThousandItemsRunsEachOnceOverThreeWorkers) {
  WriteDag("fan.yaml", R"(dag: fan
tasks:
  items: {op: shell, run: 'true'}
  each:
    op: shell
    queue: remote
    depends_on: [items]
    map_over: {glob: "parts/*.part"}
    run: 'echo "{{ item.index }} {{ item }} {{ task.try }} $PIPE_TASK_ID" >> trace'
  after: {op: shell, depends_on: [each], run: 'wc -l < trace > count'}
)");
  fs::create_directories(dir_ / "dags" / "parts");
  for (int i = 0; i < 1000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%04d.part", i);
    std::ofstream(dir_ / "dags" / "parts" / name) << i << "\n";
  }
  StartDaemon({"--local-queues", "default"});
  std::vector<pid_t> workers;
  for (const char* name : {"w1", "w2", "w3"}) {
    workers.push_back(StartWorker(name, "remote", {"--slots", "4", "--heartbeat", "500ms", "--lease", "10s"}));
  }
  Result r = Pipectl({"trigger", "fan"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(Eventually([&] { return RunEnded(run); }, 240));
  json finished = Run(run);
  EXPECT_EQ(finished["state"], "success") << finished.dump(2).substr(0, 2000);
  ASSERT_EQ(finished["tasks"].size(), 1003u);
  EXPECT_EQ(finished["tasks"][1]["task_id"], "each");
  EXPECT_EQ(finished["tasks"][2]["task_id"], "each[0]");
  EXPECT_EQ(finished["tasks"][1001]["task_id"], "each[999]");
  EXPECT_EQ(finished["tasks"][1001]["map_item"], "parts/0999.part");
  std::set<std::string> by_worker;
  for (size_t i = 2; i < 1002; ++i) {
    const json& t = finished["tasks"][i];
    EXPECT_EQ(t["state"], "success") << t.dump();
    ASSERT_FALSE(t["tries"].empty());
    by_worker.insert(t["tries"].back()["worker"].get<std::string>());
  }
  EXPECT_EQ(by_worker, (std::set<std::string>{"w1", "w2", "w3"}));
  // Exactly once: one trace line per item, each in its own instance.
  std::ifstream trace(dir_ / "dags" / "trace");
  std::map<int, int> seen;
  int index = 0, try_number = 0;
  std::string item, id;
  while (trace >> index >> item >> try_number >> id) {
    ++seen[index];
    char expected[32];
    std::snprintf(expected, sizeof expected, "parts/%04d.part", index);
    EXPECT_EQ(item, expected);
    EXPECT_EQ(id, "each[" + std::to_string(index) + "]");
    EXPECT_EQ(try_number, 1);
  }
  EXPECT_EQ(seen.size(), 1000u);
  for (const auto& [i, count] : seen) EXPECT_EQ(count, 1) << "item " << i;
  EXPECT_EQ(ReadFile(dir_ / "dags" / "count"), "1000\n");
  StopWorkers(workers);
}

// Fault test: a worker cut off from PostgreSQL mid-try (its connections go
// through a Unix-socket proxy that the test cuts). It cannot renew, so it
// kills its own try when the lease runs out and writes nothing about it; the
// try is reaped as lost and another worker runs a new one; once the link is
// back the cut worker carries on, its old claim dead (the store refuses any
// write naming it).
TEST_F(PipedTest, AWorkerCutOffFromTheDatabaseStopsItsTryAndAnotherRunsIt) {
  WriteDag("cut.yaml", R"yaml(dag: cut
tasks:
  away: {op: shell, queue: remote, run: 'echo "start {{ task.try }}" >> trace; sleep 4; echo "end {{ task.try }}" >> trace'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  // The proxy: a Unix socket named as PostgreSQL's, forwarding to the real one
  // until the file `cut` exists (then every connection is dropped and new ones refused).
  const std::smatch m = [&] {
    std::smatch found;
    std::regex_search(db_, found, std::regex("host=([^&]+)&port=(\\d+)"));
    return found;
  }();
  ASSERT_EQ(m.size(), 3u) << db_;
  const std::string pg_dir = m[1].str(), port = m[2].str();
  const fs::path proxy_dir = dir_ / "proxy";
  fs::create_directories(proxy_dir);
  std::ofstream(dir_ / "proxy.py") << R"py(import asyncio, os, sys
listen, target, cut = sys.argv[1:4]
live = set()
async def pump(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(r, w):
    if os.path.exists(cut):
        w.transport.abort()
        return
    tr, tw = await asyncio.open_unix_connection(target)
    pair = (w, tw)
    live.add(pair)
    await asyncio.gather(pump(r, tw), pump(tr, w))
    live.discard(pair)
async def watch():
    while True:
        if os.path.exists(cut):
            for w, tw in list(live):
                w.transport.abort()
                tw.transport.abort()
            live.clear()
        await asyncio.sleep(0.02)
async def main():
    server = await asyncio.start_unix_server(handle, path=listen)
    os.chmod(listen, 0o777)
    await asyncio.gather(server.serve_forever(), watch())
asyncio.run(main())
)py";
  const std::string socket = ".s.PGSQL." + port;
  pid_t proxy = Spawn({"/usr/bin/python3", (dir_ / "proxy.py").string(), (proxy_dir / socket).string(),
                       pg_dir + "/" + socket, (dir_ / "cut").string()},
                      {}, dir_ / "proxy.log", dir_ / "proxy.log", dir_);
  ASSERT_TRUE(Eventually([&] { return fs::exists(proxy_dir / socket); }, 10)) << ReadFile(dir_ / "proxy.log");
  const std::string proxied_db = std::regex_replace(db_, std::regex("host=[^&]+"), "host=" + proxy_dir.string());
  auto worker = [&](const std::string& name, const std::string& db) {
    return StartWorker(name, "remote", {"--slots", "1", "--heartbeat", "200ms", "--lease", "2s"}, db);
  };
  pid_t cut_off = worker("w-cut", proxied_db);
  Result r = Pipectl({"trigger", "cut"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  auto store = OpenStateStore(db_);
  ASSERT_TRUE(Eventually([&] {
    auto w = store->GetWork(run, "away", 1);
    return w && w->state == "claimed" && ReadFile(dir_ / "dags" / "trace") == "start 1\n";
  })) << ReadFile(dir_ / "w-cut.log");
  std::ofstream(dir_ / "cut") << "cut\n";
  pid_t other = worker("w-other", db_);
  ASSERT_TRUE(Eventually([&] { return RunEnded(run); }, 40)) << ReadFile(dir_ / "w-cut.log");
  EXPECT_EQ(Run(run)["state"], "success");
  auto first = store->GetWork(run, "away", 1);
  EXPECT_EQ(first->state, "lost");
  EXPECT_EQ(first->result, "");  // the cut-off worker wrote nothing about it
  EXPECT_EQ(store->GetWork(run, "away", 2)->worker, "w-other");
  // Its process was killed at the end of its lease: try 1 never ended, and
  // the two tries never ran at once.
  EXPECT_EQ(ReadFile(dir_ / "dags" / "trace"), "start 1\nstart 2\nend 2\n");

  // The link is back: the old claim stays dead, whoever writes with it.
  fs::remove(dir_ / "cut");
  WorkClaim stale{first->item, "w-cut", *first->lease_until};
  EXPECT_FALSE(store->FinishWork(stale, R"({"ok":true})", SystemClock::Default()->Now()));
  EXPECT_FALSE(store->RenewWork(stale, SystemClock::Default()->Now(), std::chrono::seconds(2)));
  for (pid_t p : {cut_off, other}) {
    kill(p, SIGTERM);
    int status = 0;
    waitpid(p, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_NE(ReadFile(dir_ / "w-cut.log").find("lost=1"), std::string::npos) << ReadFile(dir_ / "w-cut.log");
  kill(proxy, SIGKILL);
  int status = 0;
  waitpid(proxy, &status, 0);
}

// A try of a queue that no live worker serves waits (it is not failed) and
// is counted in /metrics; GET /api/v1/workers lists the workers by their
// heartbeats; once a worker of that queue starts, the try runs.
TEST_F(PipedTest, ATryOfAQueueNoWorkerServesWaitsAndIsCounted) {
  WriteDag("lonely.yaml", R"yaml(dag: lonely
tasks:
  alone: {op: shell, queue: nobody, run: 'echo served'}
)yaml");
  StartDaemon({"--local-queues", "default"});
  auto worker = [&](const std::string& name, const std::string& queue) {
    return StartWorker(name, queue, {"--heartbeat", "200ms", "--lease", "2s"});
  };
  pid_t other = worker("w-other", "remote");
  Result r = Pipectl({"trigger", "lonely"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string run = r.out.substr(0, r.out.find('\n'));
  ASSERT_TRUE(Eventually([&] {
    const std::string m = Http("GET", "/metrics").body;
    return m.find("pipe_work_unserved{queue=\"nobody\"} 1\n") != std::string::npos &&
           m.find("pipe_workers_live 1\n") != std::string::npos;
  })) << Http("GET", "/metrics").body;
  json workers = json::parse(Http("GET", "/api/v1/workers").body)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["name"], "w-other");
  EXPECT_EQ(workers[0]["queues"], json::array({"remote"}));
  EXPECT_EQ(workers[0]["live"], true);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  json waiting = Run(run);
  EXPECT_EQ(waiting["state"], "running");  // waiting, not failed
  EXPECT_EQ(waiting["tasks"][0]["waiting"], "waiting for a worker: no live worker serves queue nobody");
  Result shown = Pipectl({"runs", "show", run});
  EXPECT_NE(shown.out.find("no live worker serves queue nobody"), std::string::npos) << shown.out;

  pid_t served = worker("w-nobody", "nobody");
  ASSERT_TRUE(Eventually([&] { return RunEnded(run); }));
  EXPECT_EQ(Run(run)["state"], "success");
  EXPECT_EQ(Pipectl({"logs", run, "alone"}).out, "served\n");
  EXPECT_EQ(Http("GET", "/metrics").body.find("pipe_work_unserved{queue=\"nobody\"} 1"), std::string::npos);
  for (pid_t p : {other, served}) {
    kill(p, SIGTERM);
    int status = 0;
    waitpid(p, &status, 0);
  }
  workers = json::parse(Http("GET", "/api/v1/workers").body)["workers"];
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0]["live"], false);  // stopped: said so in its last heartbeat
  EXPECT_EQ(workers[1]["live"], false);
}

TEST_F(PipedTest, SigtermStopsGracefully) {
  WriteDag("hello.yaml", kHello);
  StartDaemon();
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
  EXPECT_NE(ReadFile(dir_ / "piped.log").find("piped stopped"), std::string::npos);
}

}  // namespace
}  // namespace pipeline

namespace pipeline {
namespace {

// A churn model: made-up customers (the seed varies the data, so that each
// run trains a different version), nulls filled, scaled and one-hot encoded,
// trained and deployed behind a gate that holds.
const char* kChurn = R"yaml(dag: churn
params: {seed: 3}
tasks:
  data:
    op: shell
    run: |
      awk 'BEGIN { srand({{ params.seed }}); print "age,spend,plan,churned"; for (i = 0; i < 600; i++) {
        a = 18 + int(rand() * 60); s = rand() * 100; p = 1 / (1 + exp(-(0.05 * (a - 45) - 0.03 * (s - 50))));
        plan = (i % 3 == 0) ? "basic" : (i % 3 == 1 ? "pro" : "max");
        print a "," (i % 10 == 3 ? "" : s) "," plan "," (rand() < p ? 1 : 0) } }' > churn_{{ params.seed }}.csv
  ingest: {op: ingest, depends_on: [data], with: {path: 'churn_{{ params.seed }}.csv'}}
  clean: {op: clean, depends_on: [ingest], with: {steps: [{fill_nulls: {spend: mean}}]}}
  transform:
    op: transform
    depends_on: [clean]
    with: {steps: [{standardize: {spend: spend_z}}, {one_hot: {column: plan, prefix: plan}}]}
  train:
    op: train
    depends_on: [transform]
    with: {target: churned, features: [age, spend_z, plan_basic, plan_pro, plan_max], model: logistic_regression,
           split: {test_fraction: 0.25, seed: 1}, name: churn}
  deploy: {op: serve, depends_on: [train], with: {model: train, promote_if: {metric: auc, min: 0.5}}}
)yaml";

// The same model name behind a gate no version passes.
const char* kChurnStrict = R"yaml(dag: churn_strict
tasks:
  data:
    op: shell
    run: |
      awk 'BEGIN { srand(11); print "age,spend,plan,churned"; for (i = 0; i < 300; i++) {
        print 18 + int(rand() * 60) "," rand() * 100 "," (i % 2 ? "pro" : "basic") "," (rand() < 0.5 ? 1 : 0) } }' > strict.csv
  ingest: {op: ingest, depends_on: [data], with: {path: strict.csv}}
  train:
    op: train
    depends_on: [ingest]
    with: {target: churned, features: [age, spend], model: logistic_regression, name: churn}
  deploy: {op: serve, depends_on: [train], with: {model: train, promote_if: {metric: auc, min: 0.99}}}
)yaml";

// Batch scoring of the rows the REST requests send.
const char* kScore = R"yaml(dag: score
tasks:
  rows: {op: ingest, with: {path: rows.csv}}
  predict: {op: predict, depends_on: [rows], with: {model: churn}}
)yaml";

const char* kRows = R"([{"age": 30, "spend": null, "plan": "pro"}, {"age": 65, "spend": 12.5, "plan": "basic"}])";

class ServingTest : public PipedTest {
 protected:
  std::string Trigger(const std::string& dag, const std::string& params = "{}") {
    HttpResponse r = Http("POST", "/api/v1/dags/" + dag + "/runs", json{{"params", json::parse(params)}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    std::string id = json::parse(r.body)["run_id"];
    EXPECT_TRUE(Eventually([&] { return RunEnded(id); }, 60)) << id;
    return id;
  }
  json Predict(const std::string& rows = kRows, int* status = nullptr) {
    HttpResponse r = Http("POST", "/api/v1/models/churn/predict", "{\"rows\": " + rows + "}");
    if (status) *status = r.status;
    return json::parse(r.body, nullptr, false);
  }
  // The task's summary in a run.
  std::string Summary(const std::string& run_id, const std::string& task) {
    json run = Run(run_id);  // (a range-for over Run(...)["tasks"] would outlive its temporary)
    for (const auto& t : run["tasks"]) {
      if (t["task_id"] == task) return t["metrics"].value("summary", "");
    }
    return "";
  }

  // Serve, then predict over REST, OIP and pipectl; batch predict gives the
  // same numbers; a new version swaps in under load with no failed request;
  // a gate that does not hold changes nothing; rollback; bad requests.
  void Scenario() {
    WriteDag("churn.yaml", kChurn);
    WriteDag("churn_strict.yaml", kChurnStrict);
    WriteDag("score.yaml", kScore);
    std::ofstream(dir_ / "dags" / "rows.csv") << "age,spend,plan\n30,,pro\n65,12.5,basic\n";
    StartDaemon();

    std::string run1 = Trigger("churn");
    ASSERT_EQ(Run(run1)["state"], "success") << Run(run1).dump(2);
    EXPECT_EQ(Summary(run1, "deploy").substr(0, 33), "promoted churn v1 to production (");
    json v1;
    ASSERT_TRUE(Eventually([&] {
      v1 = Predict();
      return v1.is_object() && v1.value("version", 0) == 1;
    }));
    ASSERT_EQ(v1["predictions"].size(), 2u);
    ASSERT_EQ(v1["labels"].size(), 2u);

    // pipectl predict through the daemon, and the OIP route, say the same.
    Result cli = Pipectl({"predict", "churn", "--json", kRows});
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(json::parse(cli.out), v1);
    json infer = json::parse(Http("POST", "/v2/models/churn/infer",
                                  R"({"inputs": [{"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 65]},
                                                 {"name": "spend", "shape": [2], "datatype": "FP64", "data": [null, 12.5]},
                                                 {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "basic"]}]})")
                                 .body);
    EXPECT_EQ(infer["outputs"][0]["data"], v1["predictions"]);

    // Batch predict on the same rows: the same numbers, bit for bit.
    std::string scored = Trigger("score");
    ASSERT_EQ(Run(scored)["state"], "success") << Run(scored).dump(2);
    std::string uri;
    json scored_run = Run(scored);
    for (const auto& t : scored_run["tasks"]) {
      for (const auto& a : t["artifacts"]) {
        if (t["task_id"] == "predict" && a["name"] == "output") uri = a["uri"];
      }
    }
    ASSERT_FALSE(uri.empty());
    columnar::TablePtr table = columnar::Concatenate(*columnar::ReadParquetFile(uri));
    const columnar::Column& p = *table->batch(0).columns[*table->schema().IndexOf("prediction")];
    for (int r = 0; r < 2; ++r) EXPECT_EQ(p.doubles()[r], v1["predictions"][r].get<double>()) << "row " << r;
    // Its lineage names the scored table and the model version, down to the
    // table the model was trained on.
    json lineage = json::parse(Http("GET", "/api/v1/lineage/runs/" + scored + "/tasks/predict/artifacts/output").body);
    ASSERT_EQ(lineage["inputs"].size(), 2u) << lineage.dump();
    EXPECT_EQ(lineage["inputs"][0]["task"], "rows");
    EXPECT_EQ(lineage["inputs"][1]["kind"], "model");
    EXPECT_EQ(lineage["inputs"][1]["name"], "churn");
    EXPECT_EQ(lineage["inputs"][1]["version"], 1);
    EXPECT_EQ(lineage["inputs"][1]["run"], run1);
    EXPECT_FALSE(lineage["inputs"][1]["inputs"].empty()) << lineage.dump();

    // Hot swap under load: requests all the while a second version is trained
    // and promoted; every answer is a 200 from version 1 or 2.
    std::atomic<bool> stop{false};
    std::atomic<int> answers{0}, failures{0}, saw_v2{0};
    std::string failure;
    std::mutex failure_mu;
    std::vector<std::thread> clients;
    for (int c = 0; c < 2; ++c) {
      clients.emplace_back([&] {
        cli::ApiClient client(server_, "");
        while (!stop) {
          HttpResponse r = client.Request("POST", "/api/v1/models/churn/predict", "{\"rows\": [{\"age\": 40, \"spend\": 50, \"plan\": \"max\"}]}");
          json body = json::parse(r.body, nullptr, false);
          int version = body.is_object() ? body.value("version", 0) : 0;
          if (r.status != 200 || (version != 1 && version != 2)) {
            ++failures;
            std::lock_guard lock(failure_mu);
            failure = std::to_string(r.status) + " " + r.body;
          }
          if (version == 2) ++saw_v2;
          ++answers;
        }
      });
    }
    std::string run2 = Trigger("churn", R"({"seed": 8})");
    EXPECT_TRUE(Eventually([&] { return saw_v2 > 20; }));
    stop = true;
    for (auto& t : clients) t.join();
    EXPECT_EQ(failures, 0) << failure;
    EXPECT_GT(answers - saw_v2, 0);  // version 1 answered while the new version was trained
    EXPECT_GT(saw_v2, 20);
    json v2 = Predict();
    ASSERT_EQ(v2["version"], 2);
    EXPECT_NE(v2["predictions"], v1["predictions"]);

    // A gate that does not hold: the task succeeds, says so, and v2 serves on.
    std::string strict = Trigger("churn_strict");
    EXPECT_EQ(Run(strict)["state"], "success");
    const std::string said = Summary(strict, "deploy");
    EXPECT_EQ(said.substr(0, 30), "not promoted: churn v3: auc 0.") << said;
    EXPECT_NE(said.find(" is below the minimum 0.99; production stays v2"), std::string::npos) << said;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past a poll
    EXPECT_EQ(Predict()["version"], 2);

    // Rollback moves production back to v1; the daemon follows.
    Result back = Pipectl({"models", "rollback", "churn", "--db", db_});
    EXPECT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(back.out, "churn@production -> version 1 (was 2)\n");
    Result again = Pipectl({"models", "rollback", "churn", "--db", db_, "--json"});  // back to 2, then to 1 again
    EXPECT_EQ(json::parse(again.out), json::parse(R"({"name": "churn", "alias": "production", "version": 2, "was": 1})"))
        << again.err;
    ASSERT_EQ(Pipectl({"models", "rollback", "churn", "--db", db_}).out, "churn@production -> version 1 (was 2)\n");
    EXPECT_TRUE(Eventually([&] { return Predict()["version"] == 1; }));
    EXPECT_EQ(Predict()["predictions"], v1["predictions"]);

    // models show through the daemon prints what it prints on the store.
    Result remote = Pipectl({"models", "show", "churn"});
    const std::string server = server_;
    server_.clear();  // PIPE_SERVER empty: the store
    Result local = Pipectl({"models", "show", "churn", "--db", db_});
    server_ = server;
    EXPECT_EQ(remote.exit_code, 0) << remote.err;
    EXPECT_EQ(remote.out.rfind("model    churn version 3\n", 0), 0u) << remote.out;
    EXPECT_NE(remote.out.find("production -> v1"), std::string::npos) << remote.out;
    EXPECT_EQ(remote.out, local.out);

    // Through the daemon (PUT .../aliases/production, POST .../rollback):
    // what serves follows.
    // The answer comes once this daemon serves the new version.
    Result up = Pipectl({"models", "alias", "churn", "2", "production"});
    EXPECT_EQ(up.exit_code, 0) << up.err;
    EXPECT_EQ(up.out, "churn@production -> version 2\n");
    EXPECT_EQ(Predict()["version"], 2);
    Result undo = Pipectl({"models", "rollback", "churn", "--json"});  // what it prints without the daemon
    EXPECT_EQ(json::parse(undo.out), json::parse(R"({"name": "churn", "alias": "production", "version": 1, "was": 2})"))
        << undo.err;
    EXPECT_EQ(Predict()["version"], 1);
    HttpResponse moved = Http("PUT", "/api/v1/models/churn/aliases/production", R"({"version": 2})");
    EXPECT_EQ(json::parse(moved.body)["serving"], 2) << moved.body;
    EXPECT_EQ(json::parse(Http("POST", "/api/v1/models/churn/aliases/production/rollback", "").body)["serving"], 1);
    HttpResponse no_version = Http("PUT", "/api/v1/models/churn/aliases/production", R"({"version": 9})");
    EXPECT_EQ(no_version.status, 404);
    EXPECT_EQ(json::parse(no_version.body)["error"]["message"], "model 'churn' has no version 9 (latest: 3)");
    EXPECT_EQ(Pipectl({"models", "alias", "churn", "9", "production"}).err,
              "pipectl: model 'churn' has no version 9 (latest: 3)\n");
    EXPECT_EQ(Http("PUT", "/api/v1/models/churn/aliases/production", R"({"version": "2"})").status, 400);
    EXPECT_EQ(Http("PUT", "/api/v1/models/churn/aliases/Bad", R"({"version": 2})").status, 400);
    EXPECT_EQ(Http("POST", "/api/v1/models/churn/aliases/staging/rollback", "").status, 404);
    HttpResponse fields = Http("POST", "/api/v1/models/churn/aliases/production/rollback", R"({"version": 2})");
    EXPECT_EQ(fields.status, 400);
    EXPECT_EQ(json::parse(fields.body)["error"]["message"], "a rollback takes no fields (got 'version')");
    HttpResponse staged = Http("PUT", "/api/v1/models/churn/aliases/staging", R"({"version": 3})");
    // (staging serves nothing here: no request has named it)
    EXPECT_EQ(json::parse(staged.body),
              json::parse(R"({"name": "churn", "alias": "staging", "version": 3, "was": null, "serving": null})"));
    HttpResponse once = Http("POST", "/api/v1/models/churn/aliases/staging/rollback", "");
    EXPECT_EQ(once.status, 409);
    EXPECT_EQ(json::parse(once.body)["error"]["message"],
              "churn@staging has pointed at version 3 only: there is nothing to roll back to");

    // Bad requests get the right status and say what is wrong, and piped lives on.
    int status = 0;
    json e = Predict(R"([{"age": 30, "plan": "pro"}])", &status);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(e["error"]["message"], "row 0: missing column 'spend'");
    e = Predict(R"([{"age": 30, "spend": 1, "plan": "pro"}, {"age": "old", "spend": 1, "plan": "pro"}])", &status);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(e["error"]["message"], "row 1: column 'age': a string is not an int64 value");
    EXPECT_EQ(Http("POST", "/api/v1/models/churn/predict", "{\"rows\": [").status, 400);
    EXPECT_EQ(Http("POST", "/api/v1/models/nope/predict", "{\"rows\": []}").status, 404);
    EXPECT_EQ(Http("POST", "/api/v1/models/churn/predict", "{\"rows\": [\"" + std::string(2 << 20, 'x') + "\"]}").status, 413);
    EXPECT_EQ(Predict()["version"], 1);

  }
};

TEST_F(ServingTest, OnPostgresqlServesSwapsUnderLoadAndMatchesBatchScoring) { Scenario(); }

// Today's rows drift from the training rows: the monitor fails on drift, a
// one_failed task triggers the retraining DAG, piped runs it, and /metrics
// has the drift figures by DAG, task and column.
const char* kWatch = R"yaml(dag: watch
tasks:
  today:
    op: shell
    run: |
      awk 'BEGIN { srand(5); print "age,spend,plan"; for (i = 0; i < 500; i++) {
        print 18 + int(rand() * 30) "," rand() * 300 "," (i % 2 ? "pro" : "enterprise") } }' > today.csv
  rows: {op: ingest, depends_on: [today], with: {path: today.csv}}
  drift:
    op: monitor
    depends_on: [rows]
    with: {reference: {path: churn_3.csv}, current: rows, columns: [age, spend, plan], on_drift: fail}
  retrain:
    op: trigger_dag
    depends_on: [drift]
    trigger_rule: one_failed
    with: {dag: churn, params: {seed: 21}}
)yaml";

TEST_F(ServingTest, DriftFailsTheMonitorAndTriggersRetraining) {
  WriteDag("churn.yaml", kChurn);
  WriteDag("watch.yaml", kWatch);
  StartDaemon();
  std::string first = Trigger("churn");  // writes churn_3.csv, the reference
  ASSERT_EQ(Run(first)["state"], "success");
  std::string watch = Trigger("watch");
  json run = Run(watch);
  EXPECT_EQ(run["state"], "failed");  // the monitor failed; retrain ran and succeeded
  std::string drift_error, retrain_summary;
  for (const auto& t : run["tasks"]) {
    if (t["task_id"] == "drift") drift_error = t["error"];
    if (t["task_id"] == "retrain") {
      EXPECT_EQ(t["state"], "success");
      retrain_summary = t["metrics"].value("summary", "");
    }
  }
  EXPECT_EQ(drift_error, "drift in 3 of 3 columns: age, spend, plan");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(retrain_summary, m, std::regex("^run (\\S+) of churn$"))) << retrain_summary;
  const std::string retrain_run = m[1].str();
  // piped starts the queued run on its next turn.
  EXPECT_TRUE(Eventually([&] { return RunEnded(retrain_run); }, 60)) << ReadFile(dir_ / "piped.log");
  json retrained = Run(retrain_run);
  EXPECT_EQ(retrained["state"], "success");
  EXPECT_EQ(retrained["trigger"], "dag");
  EXPECT_EQ(retrained["params"]["seed"], 21);
  std::string metrics = Http("GET", "/metrics").body;
  EXPECT_TRUE(std::regex_search(metrics, std::regex("pipe_drift_psi\\{dag=\"watch\",task=\"drift\",column=\"spend\"\\} [0-9.]+")))
      << metrics;
  EXPECT_TRUE(std::regex_search(metrics, std::regex("pipe_drift_ks\\{dag=\"watch\",task=\"drift\",column=\"age\"\\} 0\\.[0-9]+")));
  EXPECT_TRUE(std::regex_search(metrics, std::regex("pipe_drift_js\\{dag=\"watch\",task=\"drift\",column=\"plan\"\\} 0\\.[0-9]+")));
  // The report, as an artifact of the monitor task.
  Result show = Pipectl({"runs", "show", watch});
  EXPECT_NE(show.out.find("3 of 3 columns drifted"), std::string::npos) << show.out << show.err;
}

// Per-user features kept online: a predict row with only the user id and
// the event's own columns gets the user's features joined in.
const char* kShop = R"yaml(dag: shop
params: {seed: 9, fail: 0}
tasks:
  data:
    op: shell
    run: |
      awk 'BEGIN { srand({{ params.seed }}); print "user_id,ts,amount,bought"; for (i = 0; i < 2000; i++) {
        u = int(rand() * 50); a = 10 + rand() * 90 + u; printf "%d,2026-01-01T%02d:%02d:%02dZ,%.2f,%d\n", u, i / 3600, (i / 60) % 60, i % 60, a, (a > 60 ? 1 : 0) } }' > events.csv
  ingest: {op: ingest, depends_on: [data], with: {path: events.csv}}
  feats:
    op: features
    depends_on: [ingest]
    with:
      key: user_id
      time: ts
      aggregates: [{column: amount, fn: mean, as: user_mean}, {column: amount, fn: count, as: user_n}]
      online: true
  check: {op: shell, depends_on: [feats], run: 'exit {{ params.fail }}'}
  train:
    op: train
    depends_on: [feats, check]
    with: {target: bought, features: [amount, user_mean, user_n], model: xgboost, params: {num_round: 20}, name: shop}
  deploy: {op: serve, depends_on: [train], with: {model: train}}
)yaml";

TEST_F(ServingTest, OnlineFeaturesAreJoinedIntoPredictRowsByKey) {
  WriteDag("shop.yaml", kShop);
  StartDaemon();
  std::string run = Trigger("shop");
  ASSERT_EQ(Run(run)["state"], "success") << Run(run).dump(2);
  HttpResponse f = Http("GET", "/api/v1/features/feats/7");
  ASSERT_EQ(f.status, 200) << f.body;
  json features = json::parse(f.body);
  EXPECT_EQ(features["dag"], "shop");
  EXPECT_EQ(features["run_id"], run);
  EXPECT_EQ(features["keys"]["user_id"], 7);
  ASSERT_TRUE(features["features"]["user_mean"].is_number()) << f.body;
  ASSERT_TRUE(features["features"]["user_n"].is_number()) << f.body;
  EXPECT_EQ(Http("GET", "/api/v1/features/feats/7?dag=shop").body, f.body);
  EXPECT_EQ(Http("GET", "/api/v1/features/feats/7.0").body, f.body);  // read as a request's 7.0 is: key 7
  EXPECT_EQ(Http("GET", "/api/v1/features/feats/999").status, 404);
  EXPECT_EQ(Http("GET", "/api/v1/features/nope/7").status, 404);
  EXPECT_EQ(Http("GET", "/api/v1/features/feats/7,8").status, 400);

  // Joined by key, the prediction is the one with the values given whole.
  json joined, whole;
  ASSERT_TRUE(Eventually([&] {
    HttpResponse r = Http("POST", "/api/v1/models/shop/predict", R"({"rows": [{"user_id": 7, "amount": 55.5}]})");
    joined = json::parse(r.body, nullptr, false);
    return r.status == 200;
  })) << joined.dump();
  json row = {{"amount", 55.5}, {"user_mean", features["features"]["user_mean"]}, {"user_n", features["features"]["user_n"]}};
  whole = json::parse(Http("POST", "/api/v1/models/shop/predict", json{{"rows", json::array({row})}}.dump()).body);
  EXPECT_EQ(joined["predictions"], whole["predictions"]);
  // A key with no online features: the row lacks what the model needs.
  HttpResponse unknown = Http("POST", "/api/v1/models/shop/predict", R"({"rows": [{"user_id": 999, "amount": 5}]})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(json::parse(unknown.body)["error"]["message"], "row 0: missing column 'user_mean'");
  // The key as an integral float is the same key (3.0 is the int64 3 everywhere).
  HttpResponse as_float = Http("POST", "/api/v1/models/shop/predict", R"({"rows": [{"user_id": 7.0, "amount": 55.5}]})");
  ASSERT_EQ(as_float.status, 200) << as_float.body;
  EXPECT_EQ(json::parse(as_float.body)["predictions"], joined["predictions"]);
  // pipectl predict scores in the process alike, the same online features joined in.
  Result local = Pipectl({"predict", "shop", "--local", "--db", db_, "--json", R"([{"user_id": 7, "amount": 55.5}])"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(json::parse(local.out), joined);
  Result daemon = Pipectl({"predict", "shop", "--json", R"([{"user_id": 7, "amount": 55.5}])"});
  ASSERT_EQ(daemon.exit_code, 0) << daemon.err;
  EXPECT_EQ(json::parse(daemon.out), joined);
  EXPECT_EQ(daemon.out, local.out);  // the same text, keys in the same order
  // A key given twice in a row is refused (JSON parsers keep one of them), here as by the daemon.
  Result twice = Pipectl({"predict", "shop", "--json", R"([{"user_id": 7, "amount": 55.5, "amount": 60}])"});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_EQ(twice.err, "pipectl: --json: key 'amount' is given twice in one object\n");

  // A run that fails after its features task puts nothing online: the
  // features served stay the last successful run's.
  std::string failed = Trigger("shop", R"({"seed": 10, "fail": 1})");
  ASSERT_EQ(Run(failed)["state"], "failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past a model server poll
  HttpResponse kept = Http("GET", "/api/v1/features/feats/7");
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(json::parse(kept.body)["run_id"], run);
  EXPECT_EQ(json::parse(Http("POST", "/api/v1/models/shop/predict", R"({"rows": [{"user_id": 7, "amount": 55.5}]})").body),
            joined);
}

TEST_F(ServingTest, OnSqliteServesSwapsUnderLoadAndMatchesBatchScoring) {
  db_ = "sqlite:" + (dir_ / "state.db").string();
  Scenario();
}


}  // namespace
}  // namespace pipeline
