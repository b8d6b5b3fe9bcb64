// End-to-end: the real pipectl binary on real DAG files.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "pg_cluster.h"
#include "test_util.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace columnar = pipeline::columnar;
using columnar::TablePtr;
using nlohmann::json;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class PipectlTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = pipeline::testing_util::FreshTestDir("pipe_e2e");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void InterruptOnce(int signal);  // InterruptCancelsTheRunAndKillsTasks

  fs::path Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }

  // Starts pipectl with PIPE_HOME in the test folder; output to files.
  pid_t Start(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {PIPECTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = env_;
    env.push_back("PIPE_HOME=" + (dir_ / ".pipe").string());
    pid_t pid = pipeline::testing_util::SpawnProcess(argv, env, dir_ / "stdout", dir_ / "stderr", dir_, false);
    EXPECT_GT(pid, 0);
    return pid;
  }

  Result Wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFile(dir_ / "stdout");
    r.err = ReadFile(dir_ / "stderr");
    return r;
  }

  Result Pipectl(const std::vector<std::string>& args) { return Wait(Start(args)); }

  json RunJson(const std::string& run_id) {
    Result r = Pipectl({"runs", "show", run_id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  // Runs FILE with --json; returns the run document.
  json RunDag(const fs::path& file, std::vector<std::string> extra = {}, int expect_exit = 0) {
    std::vector<std::string> args = {"run", file.string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = Pipectl(args);
    EXPECT_EQ(r.exit_code, expect_exit) << r.err << r.out;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  // The file of task `id`'s artifact `name` in a run document; "" when it has none.
  static std::string ArtifactUri(const json& run, const std::string& id, const std::string& name) {
    const json task = Task(run, id);  // (a loop over a temporary's member would dangle)
    for (const auto& a : task["artifacts"]) {
      if (a["name"] == name) return a["uri"];
    }
    return "";
  }

  // "x,y" and `rows` rows of y = slope * x + 1, x = 0, 1, ...
  static std::string LineCsv(int rows, int slope) {
    std::string csv = "x,y\n";
    for (int i = 0; i < rows; ++i) csv += std::to_string(i) + "," + std::to_string(slope * i + 1) + "\n";
    return csv;
  }

  static json Task(const json& run, const std::string& id) {
    for (const auto& t : run["tasks"]) {
      if (t["task_id"] == id) return t;
    }
    ADD_FAILURE() << "no task " << id;
    return json::object();
  }

  // dags/example.yaml and its generator, into the test folder.
  void CopyExample() {
    for (const char* dag : {"example.yaml", "scoring.yaml", "monitoring.yaml"}) {
      fs::copy(fs::path(PIPE_SOURCE_DIR) / "dags" / dag, dir_ / dag);
    }
    fs::create_directories(dir_ / "scripts");
    fs::copy(fs::path(PIPE_SOURCE_DIR) / "dags" / "scripts" / "gen_transactions.sh", dir_ / "scripts" / "gen_transactions.sh");
  }

  fs::path dir_;
  std::vector<std::string> env_;  // more environment for pipectl
};

TEST_F(PipectlTest, GnuTlsFindsTheProgramsSkipOfItsStartUpInitialisation) {
  // Given pipectl, whose libpq brings GnuTLS in (through OpenLDAP), when it
  // starts, then GnuTLS's constructor binds _gnutls_global_init_skip to the
  // program's (which skips ~10 ms of start-up), not to its own weak default:
  // a link that stops exporting the symbol fails here.
  env_.push_back("LD_DEBUG=bindings");
  Result r = Pipectl({"--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.err);
  std::string binding;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("`_gnutls_global_init_skip'") != std::string::npos) binding = line;
  }
  if (binding.empty() && r.err.find("libgnutls") == std::string::npos) GTEST_SKIP() << "pipectl does not load GnuTLS here";
  EXPECT_NE(binding.find(std::string(PIPECTL_PATH) + " [0]: normal symbol"), std::string::npos) << binding;
}

TEST_F(PipectlTest, ValidateReportsEveryErrorWithExitTwo) {
  fs::path ok = Write("ok.yaml", "dag: ok\ntasks:\n  a: {op: shell, run: 'true'}\n");
  fs::path bad = Write("bad.yaml", "dag: bad\ntasks:\n  a: {op: shell, run: 'true', depends_on: [b]}\n  c: {op: shel}\n");
  Result good = Pipectl({"validate", ok.string()});
  EXPECT_EQ(good.exit_code, 0);
  EXPECT_EQ(good.out, "ok  " + ok.string() + ": dag 'ok', 1 task\n");
  Result r = Pipectl({"validate", ok.string(), bad.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, bad.string() + ":3:44: task 'a' depends on unknown task 'b'\n" + bad.string() +
                       ":4:11: task 'c': unknown operator 'shel' (did you mean 'shell'?)\n");
  Result folder = Pipectl({"validate", dir_.string(), "--json"});
  EXPECT_EQ(folder.exit_code, 2);
  json j = json::parse(folder.out);
  EXPECT_FALSE(j["valid"].get<bool>());
  EXPECT_EQ(j["files"].size(), 2u);
  // A folder without a DAG file is not valid: nothing was checked.
  fs::create_directories(dir_ / "empty");
  Write("empty/notes.txt", "dag: not here\n");
  Result empty = Pipectl({"validate", (dir_ / "empty").string()});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_EQ(empty.err, (dir_ / "empty").string() + ": no DAG file (*.yaml or *.yml) in this folder\n");
}

TEST_F(PipectlTest, ValidateWarnsOfAScheduleThatNeverFires) {
  fs::path never = Write("never.yaml", "dag: never\nschedule: '0 0 30 2 *'\nstart_date: 2026-01-01\n"
                                       "tasks:\n  a: {op: shell, run: 'true'}\n");
  Result r = Pipectl({"validate", never.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "warning: " + never.string() + ": schedule '0 0 30 2 *' has no tick within five years of start_date "
                   "2026-01-01T00:00:00Z: no scheduled run starts\n");
  // Named as given, as the ok line names it (a relative path stays relative).
  Result relative = Pipectl({"validate", "never.yaml"});
  EXPECT_EQ(relative.out, "ok  never.yaml: dag 'never', 1 task\n");
  EXPECT_EQ(relative.err.rfind("warning: never.yaml: schedule '0 0 30 2 *'", 0), 0u) << relative.err;
  json j = json::parse(Pipectl({"validate", dir_.string(), "--json"}).out);
  EXPECT_EQ(j["files"][0]["warnings"].size(), 1u) << j.dump();
  EXPECT_TRUE(Pipectl({"validate", Write("daily.yaml", "dag: daily\nschedule: '@daily'\nstart_date: 2026-01-01\n"
                                                       "tasks:\n  a: {op: shell, run: 'true'}\n")
                                        .string()})
                  .err.empty());
}

TEST_F(PipectlTest, ValidateOfAFolderWarnsOfAfterTasksItLacks) {
  // Given a folder where `down` comes after up.load (there) and other.x (not),
  Write("up.yaml", "dag: up\ntasks:\n  load: {op: shell, run: 'true'}\n");
  fs::path down = Write("down.yaml", "dag: down\nschedule: {after: [up.load, up.nope, other.x]}\n"
                                     "tasks:\n  a: {op: shell, run: 'true'}\n");
  // then the folder is valid, with a warning for each upstream task it lacks.
  Result r = Pipectl({"validate", dir_.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "warning: " + down.string() + ": schedule.after names 'up.nope', which no DAG of this folder has: "
                   "no run starts until one does\n"
                   "warning: " + down.string() + ": schedule.after names 'other.x', which no DAG of this folder has: "
                   "no run starts until one does\n");
  json j = json::parse(Pipectl({"validate", dir_.string(), "--json"}).out);
  EXPECT_TRUE(j["valid"].get<bool>());
  for (const json& f : j["files"]) {
    EXPECT_EQ(f.contains("warnings"), f["dag"] == "down") << f.dump();
  }
}

TEST_F(PipectlTest, NumbersGivenAsTemplatesAreNumbersWhenTheTaskRuns) {
  // Given thresholds that are params (YAML needs quotes around a
  // placeholder), when the run renders them, then each is the number it
  // renders to, and --param overrides them the same way.
  Write("n.csv", "a,b\nx,1\ny,2\nz,oops\nx,3\n");
  fs::path dag = Write("t.yaml",
                       "dag: t\nparams: {rate: 0.5, lo: 0.5, n: 2}\ntasks:\n"
                       "  i: {op: ingest, with: {path: n.csv, schema: {a: string, b: int64}, on_bad_row: quarantine,\n"
                       "                         max_bad_rows: '{{ params.rate }}'}}\n"
                       "  v: {op: validate, depends_on: [i], with: {checks: [{column: b, max: 2}], on_failure: warn,\n"
                       "                                             max_failure_rate: '{{ params.lo }}'}}\n"
                       "  o: {op: transform, depends_on: [v], with: {steps: [{one_hot: {column: a, max_categories: '{{ params.n }}'}}]}}\n");
  Result r = Pipectl({"run", dag.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Pipectl({"run", dag.string(), "--param", "rate=0"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("1 of 4 rows could not be parsed, more than max_bad_rows 0 "), std::string::npos) << r.out;
}

TEST_F(PipectlTest, TriggerDagThatWaitsSaysSoWhenNoPipedSchedulesTheStore) {
  // Given a DAG the store knows and, on a store no piped schedules, a task
  // that triggers it and waits, then the task fails at once saying why (it
  // waited until cancelled before), and the run it made stays queued.
  RunDag(Write("target.yaml", "dag: target\ntasks:\n  a: {op: shell, run: 'true'}\n"));
  json run = RunDag(Write("waiter.yaml", "dag: waiter\ntasks:\n  go: {op: trigger_dag, with: {dag: target, wait: true}}\n"),
                    {}, 1);
  const std::string error = Task(run, "go")["error"];
  EXPECT_NE(error.find("is queued, and no piped schedules this store (no scheduler heartbeat, ever): start piped on "
                       "it, or set wait: false"),
            std::string::npos)
      << error;
  Result queued = Pipectl({"runs", "list", "--dag", "target", "--json"});
  EXPECT_NE(queued.out.find("\"queued\""), std::string::npos) << queued.out;
}

TEST_F(PipectlTest, TriggerDagPassesParamsAsWritten) {
  // Given a target with a number and an integer parameter, then trigger_dag
  // hands it 0.80 and 007 (typed as YAML reads them: accepted) as written.
  RunDag(Write("target.yaml", "dag: target\nparams: {ratio: 0.5, zip: 1}\n"
                              "tasks:\n  a: {op: shell, run: 'echo ratio={{ params.ratio }} zip={{ params.zip }}'}\n"));
  json run = RunDag(Write("starter.yaml", "dag: starter\ntasks:\n"
                                          "  go: {op: trigger_dag, with: {dag: target, params: {ratio: 0.80, zip: 007}}}\n"));
  ASSERT_EQ(Task(run, "go")["state"], "success") << run.dump();
  json queued = json::parse(Pipectl({"runs", "list", "--dag", "target", "--state", "queued", "--json"}).out);
  ASSERT_EQ(queued.size(), 1u) << queued.dump();
  EXPECT_EQ(queued[0]["params"], json::parse(R"({"ratio": "0.80", "zip": "007"})"));
}

TEST_F(PipectlTest, DagsListFromTheStoreHasTheDaemonsColumns) {
  // Given a DAG scheduled at 06:00 UTC that ran once and one that comes after it,
  RunDag(Write("daily.yaml", "dag: daily\nschedule: '0 6 * * *'\nstart_date: 2020-01-01\n"
                             "tasks:\n  a: {op: shell, run: 'true'}\n"));
  Write("later.yaml", "dag: later\nschedule: {after: [daily.a]}\ntasks:\n  b: {op: shell, run: 'exit 1'}\n");
  RunDag(dir_ / "later.yaml", {}, 1);
  // then `dags list` on the store shows what the daemon's does: the schedule
  // as written, the next tick and the last run's state;
  Result r = Pipectl({"dags", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto now = std::chrono::system_clock::now();
  const auto day = std::chrono::floor<std::chrono::days>(now);
  const auto next = day + std::chrono::hours(day + std::chrono::hours(6) <= now ? 30 : 6);
  const time_t next_t = std::chrono::system_clock::to_time_t(next);
  char tick[32];
  std::strftime(tick, sizeof tick, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&next_t));
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^DAG +SCHEDULE +PAUSED +VERSION +NEXT TICK +LAST RUN\n"
                                                  "daily +0 6 \\* \\* \\* +false +1 +" + std::string(tick) + " +success\n"
                                                  "later +after daily\\.a +false +1 + failed\n$")))
      << r.out;
  // and --json the same fields as GET /api/v1/dags.
  json listed = json::parse(Pipectl({"dags", "list", "--json"}).out)["dags"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["next_tick"], tick);
  EXPECT_EQ(listed[0]["schedule"], "0 6 * * *");
  EXPECT_EQ(listed[1]["after"], json::array({"daily.a"}));
  EXPECT_EQ(listed[1]["last_run_state"], "failed");
  EXPECT_TRUE(listed[1]["last_run_id"].is_string());
}

TEST_F(PipectlTest, AReadingCommandOnASqliteFileThatDoesNotExistSaysSoAndCreatesNothing) {
  // A typo in --db (or PIPE_DB) is said, exit 3, rather than answered from a
  // new empty database made at that path (folders included).
  const fs::path missing = dir_ / "no" / "such" / "state.db";
  for (std::vector<std::string> args : {std::vector<std::string>{"runs", "list"}, {"dags", "list"}, {"models", "list"}}) {
    args.insert(args.end(), {"--db", "sqlite:" + missing.string()});
    Result r = Pipectl(args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << " " << r.out;
    EXPECT_EQ(r.err, "pipectl: database sqlite:" + missing.string() +
                         " does not exist (check --db or PIPE_DB; `pipectl run` creates one)\n");
  }
  EXPECT_FALSE(fs::exists(dir_ / "no"));
  // pipectl run creates it, after which it reads.
  fs::path dag = Write("one.yaml", "dag: one\ntasks:\n  a: {op: shell, run: 'true'}\n");
  EXPECT_EQ(Pipectl({"run", dag.string(), "--db", "sqlite:" + missing.string()}).exit_code, 0);
  EXPECT_EQ(Pipectl({"runs", "list", "--db", "sqlite:" + missing.string()}).exit_code, 0);
  // The default store (PIPE_HOME's) too: a wrong PIPE_HOME is no empty store.
  const fs::path home = dir_ / ".pipe";
  ASSERT_FALSE(fs::exists(home / "state.db"));  // (run made the folder: its logs and artifacts)
  for (std::vector<std::string> args : {std::vector<std::string>{"runs", "list"}, {"models", "list"},
                                        {"models", "alias", "fraud", "1", "production"}}) {
    Result r = Pipectl(args);
    EXPECT_EQ(r.exit_code, 3) << args[1];
    EXPECT_EQ(r.err, "pipectl: no state database at " + home.string() + "/state.db (PIPE_HOME is " + home.string() +
                         "; `pipectl run` creates it; --db, PIPE_DB or PIPE_SERVER name another)\n");
  }
  // With PIPE_SERVER set, a command that reads the store itself says that the daemon is not it.
  env_.push_back("PIPE_SERVER=http://127.0.0.1:9");
  Result local = Pipectl({"predict", "fraud", "--local", "--json", "[]"});
  EXPECT_EQ(local.exit_code, 3);
  EXPECT_EQ(local.err, "pipectl: no state database at " + home.string() + "/state.db (PIPE_HOME is " + home.string() +
                           "; `pipectl run` creates it; --db or PIPE_DB name another: this command reads the store "
                           "itself, not PIPE_SERVER)\n");
  EXPECT_FALSE(fs::exists(home / "state.db"));
}

TEST_F(PipectlTest, VersionIsTheProjects) {
  // `--version` of both binaries is the VERSION of CMakeLists.txt's project().
  const std::string cmake = ReadFile(fs::path(PIPE_SOURCE_DIR) / "CMakeLists.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(cmake, m, std::regex("project\\(pipe VERSION ([0-9.]+)")));
  Result r = Pipectl({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "pipectl " + m[1].str() + "\n");
  pid_t pid = pipeline::testing_util::SpawnProcess({PIPED_PATH, "--version"}, {}, dir_ / "stdout", dir_ / "stderr",
                                                   dir_, false);
  Result piped = Wait(pid);
  EXPECT_EQ(piped.exit_code, 0);
  EXPECT_EQ(piped.out, "piped " + m[1].str() + "\n");
}

TEST_F(PipectlTest, EachCommandTakesTheStoreOrTheDaemonItUses) {
  // An option a command would ignore is an error naming what it takes.
  Result rerun = Pipectl({"runs", "rerun", "20261206T143349-14cee657", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(rerun.exit_code, 2);
  EXPECT_EQ(rerun.err, "pipectl: runs rerun works on the state store, not through the daemon: give --db (the "
                       "daemon's database), not --server or --token\n");
  Result before = Pipectl({"--server", "http://127.0.0.1:1", "runs", "rerun", "20261206T143349-14cee657"});
  EXPECT_EQ(before.exit_code, 2);
  EXPECT_NE(before.err.find("runs rerun works on the state store"), std::string::npos) << before.err;
  // models alias and rollback take either (through the daemon: PUT and POST).
  Result alias = Pipectl({"models", "alias", "fraud", "1", "production", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(alias.exit_code, 3) << alias.err;  // nothing listens there
  Result trigger = Pipectl({"trigger", "x", "--db", "sqlite:x.db"});
  EXPECT_EQ(trigger.exit_code, 2);
  EXPECT_EQ(trigger.err, "pipectl: trigger goes through the daemon: give --server, not --db\n");
  Result validate = Pipectl({"--db", "sqlite:x.db", "validate", "x.yaml"});
  EXPECT_EQ(validate.err, "pipectl: validate reads no database: --db does not apply\n");
  // --help lists what a command takes.
  Result help = Pipectl({"trigger", "--help"});
  EXPECT_NE(help.out.find("--server"), std::string::npos) << help.out;
  Result clear = Pipectl({"runs", "clear", "--help"});
  EXPECT_NE(clear.out.find("--token"), std::string::npos) << clear.out;
}

TEST_F(PipectlTest, AServerUrlIsCheckedBeforeAnyConnection) {
  // A malformed --server is a usage error naming what is wrong (a port out
  // of range wrapped around to another port; a path was taken for the port).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://127.0.0.1:107686", "the port must be 1..65535, not '107686'"},
      {"http://127.0.0.1:0", "the port must be 1..65535, not '0'"},
      {"http://127.0.0.1:80a", "the port must be 1..65535, not '80a'"},
      {"http://127.0.0.1:8080/api", "a path is not supported, piped serves at its root"},
      {"ftp://127.0.0.1:21", "the scheme must be http"},
      {"http://::1:8080", "write an IPv6 address in brackets, [::1]"},
      {"http://[::1]", "a port must follow ']'"},
      {"http://localhost", "no port"},
      {"http://:8080", "no host"},
      {"http://me:pw@127.0.0.1:8080", "no user or password in it: give a token with --token or PIPE_TOKEN"},
  };
  for (const auto& [url, why] : cases) {
    Result r = Pipectl({"runs", "list", "--server", url});
    EXPECT_EQ(r.exit_code, 2) << url;
    EXPECT_EQ(r.err, "pipectl: server URL '" + url + "': " + why + " (expected http://HOST:PORT)\n") << url;
  }
  // IPv6 in brackets and a trailing slash are fine: nothing listens there (exit 3, not 2).
  for (const std::string url : {"http://[::1]:9", "http://127.0.0.1:9/", "127.0.0.1:9"}) {
    Result r = Pipectl({"runs", "list", "--server", url});
    EXPECT_EQ(r.exit_code, 3) << url << ": " << r.err;
    EXPECT_NE(r.err.find("cannot reach the daemon at " + url), std::string::npos) << r.err;
  }
}

TEST_F(PipectlTest, DiamondRunsInOrderWithParallelBranches) {
  // Given a diamond whose branches each wait (up to 30 s) for the other to
  // have started, then a < {b, c} < d and b, c meet: they run at once.
  fs::path trace = dir_ / "trace";
  fs::path dag = Write("diamond.yaml", R"yaml(dag: diamond
tasks:
  a: {op: shell, run: 'echo "a $(date +%s%N) $(date +%s%N)" >> trace'}
  b: {op: shell, depends_on: [a], run: 's=$(date +%s%N); touch b.on; i=0; while [ ! -e c.on ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e c.on ] && echo b >> met; echo "b $s $(date +%s%N)" >> trace'}
  c: {op: shell, depends_on: [a], run: 's=$(date +%s%N); touch c.on; i=0; while [ ! -e b.on ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e b.on ] && echo c >> met; echo "c $s $(date +%s%N)" >> trace'}
  d: {op: shell, depends_on: [b, c], run: 'echo "d $(date +%s%N) $(date +%s%N)" >> trace'}
)yaml");
  json run = RunDag(dag, {"--workers", "2"});
  EXPECT_EQ(run["state"], "success");
  std::map<std::string, std::pair<long long, long long>> span;
  std::istringstream lines(ReadFile(trace));
  std::string name;
  long long s, e;
  while (lines >> name >> s >> e) span[name] = {s, e};
  ASSERT_EQ(span.size(), 4u);
  EXPECT_LE(span["a"].second, span["b"].first);
  EXPECT_LE(span["a"].second, span["c"].first);
  std::string met = ReadFile(dir_ / "met");
  std::sort(met.begin(), met.end());
  EXPECT_EQ(met, "\n\nbc");  // each saw the other start while it ran
  EXPECT_GE(span["d"].first, std::max(span["b"].second, span["c"].second));
}

TEST_F(PipectlTest, RetriesAreVisibleInTaskTry) {
  fs::path dag = Write("retry.yaml", R"yaml(dag: retry
tasks:
  flaky:
    op: shell
    retries: 3
    retry_delay: 50ms
    run: 'echo {{ task.try }} >> tries.txt; test {{ task.try }} -ge 3'
)yaml");
  json run = RunDag(dag);
  EXPECT_EQ(ReadFile(dir_ / "tries.txt"), "1\n2\n3\n");
  json t = Task(run, "flaky");
  EXPECT_EQ(t["state"], "success");
  EXPECT_EQ(t["try"], 3);
  ASSERT_EQ(t["tries"].size(), 3u);
  EXPECT_EQ(t["tries"][0]["state"], "up_for_retry");
  EXPECT_EQ(t["tries"][0]["exit_code"], 1);
  Result log = Pipectl({"logs", run["run_id"], "flaky", "--try", "2"});
  EXPECT_EQ(log.exit_code, 0);
  Result missing = Pipectl({"logs", run["run_id"], "flaky", "--try", "9"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "pipectl: task 'flaky' has no try 9 (tries: 1-3)\n");
}

TEST_F(PipectlTest, TimeoutLeavesNoOrphanProcess) {
  fs::path dag = Write("timeout.yaml", R"yaml(dag: timeout
tasks:
  slow:
    op: shell
    timeout: 300ms
    run: 'sleep 30 & echo $! > child.pid; wait'
)yaml");
  json run = RunDag(dag, {}, 1);
  json t = Task(run, "slow");
  EXPECT_EQ(t["state"], "failed");
  EXPECT_EQ(t["error"], "timeout after 300ms");
  pid_t child = std::stoi(ReadFile(dir_ / "child.pid"));
  EXPECT_TRUE(pipeline::testing_util::ProcessGone(child));
}

TEST_F(PipectlTest, TriggerRulesDecideAfterAFailure) {
  fs::path dag = Write("rules.yaml", R"yaml(dag: rules
tasks:
  boom: {op: shell, run: 'exit 4'}
  fine: {op: shell, run: 'true'}
  after_success: {op: shell, depends_on: [boom], run: 'true'}
  cleanup: {op: shell, depends_on: [boom, fine], trigger_rule: all_done, run: 'true'}
  alert: {op: shell, depends_on: [boom], trigger_rule: one_failed, run: 'true'}
  no_failures: {op: shell, depends_on: [fine], trigger_rule: all_failed, run: 'true'}
)yaml");
  json run = RunDag(dag, {}, 1);
  EXPECT_EQ(run["state"], "failed");
  EXPECT_EQ(Task(run, "boom")["state"], "failed");
  EXPECT_EQ(Task(run, "boom")["error"], "exit status 4");
  EXPECT_EQ(Task(run, "after_success")["state"], "upstream_failed");
  EXPECT_EQ(Task(run, "cleanup")["state"], "success");
  EXPECT_EQ(Task(run, "alert")["state"], "success");
  EXPECT_EQ(Task(run, "no_failures")["state"], "skipped");
}

TEST_F(PipectlTest, ParamsOverrideAndUnknownParamsAreRefused) {
  fs::path dag = Write("params.yaml", R"yaml(dag: params
params: {who: world, n: 1}
tasks:
  say: {op: shell, run: 'echo "{{ params.who }} {{ params.n }}" > said.txt'}
)yaml");
  json run = RunDag(dag, {"--param", "who=there", "--param", "n=5"});
  EXPECT_EQ(ReadFile(dir_ / "said.txt"), "there 5\n");
  EXPECT_EQ(run["params"]["who"], "there");
  Result unknown = Pipectl({"run", dag.string(), "--param", "whom=x"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err, "pipectl: unknown parameter 'whom' for DAG 'params' (known: who, n)\n");
  Result wrong = Pipectl({"run", dag.string(), "--param", "n=many"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_EQ(wrong.err, "pipectl: parameter 'n' expects an integer (default 1), got 'many'\n");
  Result malformed = Pipectl({"run", dag.string(), "--param", "who"});
  EXPECT_EQ(malformed.exit_code, 2);
  // nan and inf are no numbers a parameter takes (JSON has neither: they became null).
  Result nan = Pipectl({"run", dag.string(), "--param", "n=nan"});
  EXPECT_EQ(nan.exit_code, 2);
  EXPECT_EQ(nan.err, "pipectl: parameter 'n' expects an integer (default 1), got 'nan'\n");
  // Nothing ran for the refused invocations.
  Result list = Pipectl({"runs", "list", "--json"});
  EXPECT_EQ(json::parse(list.out).size(), 1u);
}

TEST_F(PipectlTest, TwoHundredTasksEachRunExactlyOnce) {
  std::string yaml = "dag: many\ntasks:\n";
  for (int idx = 0; idx < 200; ++idx) {
    yaml += "  t" + std::to_string(idx) + ": {op: shell, run: 'echo t" + std::to_string(idx) + " >> ran.txt'";
    if (idx >= 10) yaml += ", depends_on: [t" + std::to_string(idx - 10) + ", t" + std::to_string(idx - 7) + "]";
    yaml += "}\n";
  }
  json run = RunDag(Write("many.yaml", yaml));
  EXPECT_EQ(run["state"], "success");
  std::istringstream lines(ReadFile(dir_ / "ran.txt"));
  std::multiset<std::string> seen;
  std::string line;
  while (std::getline(lines, line)) seen.insert(line);
  EXPECT_EQ(seen.size(), 200u);
  for (int idx = 0; idx < 200; ++idx) EXPECT_EQ(seen.count("t" + std::to_string(idx)), 1u) << idx;
}

TEST_F(PipectlTest, InterruptCancelsTheRunAndKillsTasks) {
  // Given a running sleep, when pipectl gets SIGINT (Ctrl-C), SIGTERM or
  // SIGHUP (its terminal closed), then it exits 1 with every task cancelled
  // and the sleep gone: no run is left `running` with nobody to end it.
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(strsignal(signal));
    fs::remove(dir_ / "sleeper.pid");
    fs::remove_all(dir_ / ".pipe");
    InterruptOnce(signal);
  }
}

void PipectlTest::InterruptOnce(int signal) {
  fs::path dag = Write("long.yaml", R"yaml(dag: long
tasks:
  sleeper: {op: shell, run: 'echo $$ > sleeper.pid; exec sleep 30'}
  later: {op: shell, depends_on: [sleeper], run: 'true'}
)yaml");
  pid_t pid = Start({"run", dag.string()});
  fs::path pidfile = dir_ / "sleeper.pid";
  for (int attempt = 0; attempt < 500 && ReadFile(pidfile).empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(ReadFile(pidfile).empty());
  pid_t sleeper = std::stoi(ReadFile(pidfile));
  kill(pid, signal);
  Result r = Wait(pid);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("cancelled"), std::string::npos) << r.out;
  EXPECT_TRUE(pipeline::testing_util::ProcessGone(sleeper));
  json list = json::parse(Pipectl({"runs", "list", "--json"}).out);
  ASSERT_EQ(list.size(), 1u);
  json run = RunJson(list[0]["run_id"]);
  EXPECT_EQ(run["state"], "cancelled");
  EXPECT_EQ(Task(run, "sleeper")["state"], "cancelled");
  EXPECT_EQ(Task(run, "later")["state"], "cancelled");
}

TEST_F(PipectlTest, RunsListShowAndLogs) {
  fs::path dag = Write("hello.yaml", "dag: hello\ntasks:\n  greet: {op: shell, run: 'echo hi from {{ task.id }}'}\n");
  json run = RunDag(dag);
  std::string run_id = run["run_id"];
  Result list = Pipectl({"runs", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find(run_id + "  hello  success  manual"), std::string::npos) << list.out;
  Result show = Pipectl({"runs", "show", run_id});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("greet  success  1/1"), std::string::npos) << show.out;
  Result logs = Pipectl({"logs", run_id, "greet"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_EQ(logs.out, "hi from greet\n");
  Result missing = Pipectl({"runs", "show", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "pipectl: no run 'nope'\n");
  Result filtered = Pipectl({"runs", "list", "--state", "failed", "--json"});
  EXPECT_EQ(json::parse(filtered.out).size(), 0u);
  Result bad_state = Pipectl({"runs", "list", "--state", "done"});
  EXPECT_EQ(bad_state.exit_code, 2);
}

TEST_F(PipectlTest, InvalidDagFileIsExitTwoAndRunsNothing) {
  fs::path dag = Write("bad.yaml", "dag: bad\ntasks:\n  a: {op: shell, run: '{{ params.x }}'}\n");
  Result r = Pipectl({"run", dag.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, dag.string() + ":3:23: unknown template variable 'params.x'\n");
  EXPECT_FALSE(fs::exists(dir_ / ".pipe" / "state.db"));
  // With --json, stdout says so as `validate --json` does (stderr as before).
  Result j = Pipectl({"run", dag.string(), "--json"});
  EXPECT_EQ(j.exit_code, 2);
  EXPECT_EQ(j.err, r.err);
  json doc = json::parse(j.out);
  EXPECT_EQ(doc, json::parse(Pipectl({"validate", dag.string(), "--json"}).out)) << j.out;
  EXPECT_EQ(doc["files"][0]["errors"][0]["message"], "unknown template variable 'params.x'");
  EXPECT_FALSE(fs::exists(dir_ / ".pipe" / "state.db"));
}

TEST_F(PipectlTest, UnreachableDatabaseIsExitThree) {
  fs::path dag = Write("ok.yaml", "dag: ok\ntasks:\n  a: {op: shell, run: 'true'}\n");
  Result r = Pipectl({"run", dag.string(), "--db", "sqlite:/proc/none/state.db"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot open state database"), std::string::npos) << r.err;
}

TEST_F(PipectlTest, RunsOnPostgresql) {
  // Given --db with a PostgreSQL URL, then the run's state lives there.
  pipeline::testing_util::TempPgCluster cluster;
  cluster.Start();
  std::string url = cluster.CreateDatabase("e2e");
  fs::path dag = Write("pg.yaml", "dag: pg\ntasks:\n  a: {op: shell, run: 'echo on pg'}\n  b: {op: shell, depends_on: [a], run: 'true'}\n");
  json run = RunDag(dag, {"--db", url});
  EXPECT_EQ(run["state"], "success");
  Result show = Pipectl({"runs", "show", run["run_id"], "--json", "--db", url});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  json shown = json::parse(show.out);
  EXPECT_EQ(Task(shown, "b")["state"], "success");
  Result logs = Pipectl({"logs", run["run_id"], "a", "--db", url});
  EXPECT_EQ(logs.out, "on pg\n");
  // Nothing went to the embedded store.
  EXPECT_FALSE(fs::exists(dir_ / ".pipe" / "state.db"));
}

TEST_F(PipectlTest, IngestReadsAPostgresqlQueryAndExportsIt) {
  // Given a table in PostgreSQL and a DAG whose ingest reads a templated
  // query from it, then the rows arrive typed and pass on to an export.
  pipeline::testing_util::TempPgCluster cluster;
  cluster.Start();
  std::string url = cluster.CreateDatabase("source");
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec0("CREATE TABLE orders (id bigint, amount numeric(10, 2), country text, at timestamptz)");
    tx.exec0("INSERT INTO orders SELECT g, g * 1.5, CASE WHEN g % 2 = 0 THEN 'DE' END, "
             "'2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute' FROM generate_series(1, 2500) g");
    tx.commit();
  }
  fs::path dag = Write("orders.yaml", "dag: orders\nparams: {min_id: 1001}\ntasks:\n"
                                      "  load:\n    op: ingest\n    with:\n      source: '" + url + "'\n"
                                      "      query: 'SELECT id, amount, country, at FROM orders WHERE id >= {{ params.min_id }} ORDER BY id'\n"
                                      "  save: {op: export, depends_on: [load], with: {path: out/orders.csv}}\n"
                                      "  copy: {op: export, depends_on: [load], with: {target: '" + url + "', table: orders_copy, "
                                      "mode: upsert, key: [id]}}\n");
  json run = RunDag(dag);
  ASSERT_EQ(run["state"], "success") << run.dump();
  EXPECT_EQ(Task(run, "load")["metrics"]["rows_out"], 1500);
  EXPECT_EQ(Task(run, "load")["metrics"]["summary"], "4 columns from " + url);
  std::ifstream in(dir_ / "out" / "orders.csv");
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  EXPECT_EQ(header, "id,amount,country,at");
  EXPECT_EQ(first, "1001,1501.5,,2026-01-01 16:41:00");
  // The copy: created with the rows; a second run upserts an overlap.
  EXPECT_EQ(Task(run, "copy")["metrics"]["summary"], "upserted 1500 rows into orders_copy (created) of " + url);
  json again = RunDag(dag, {"--param", "min_id=2001"});
  ASSERT_EQ(again["state"], "success") << again.dump();
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    pqxx::row r = tx.exec1("SELECT count(*), min(id), max(id), sum(amount)::text, count(country) FROM orders_copy");
    EXPECT_EQ(r[0].as<int64_t>(), 1500);
    EXPECT_EQ(r[1].as<int64_t>(), 1001);
    EXPECT_EQ(r[2].as<int64_t>(), 2500);
    EXPECT_EQ(r[3].as<std::string>(), "3938625");  // 1.5 * (1001 + ... + 2500)
    EXPECT_EQ(r[4].as<int64_t>(), 750);
  }
  // A query the database refuses fails the task with the database's words.
  fs::path bad = Write("bad.yaml", "dag: bad\ntasks:\n  load: {op: ingest, with: {source: '" + url +
                                       "', query: 'SELECT * FROM nope'}}\n");
  json failed = RunDag(bad, {}, 1);
  EXPECT_NE(Task(failed, "load")["error"].get<std::string>().find("relation \"nope\" does not exist"), std::string::npos)
      << failed.dump();

  // A query's rows cannot be read again as they were, unless the ingest kept a snapshot.
  Result refused = Pipectl({"runs", "rerun", run["run_id"], "--same-data"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("task 'load' read a database query, whose rows cannot be read again as they were, and "
                             "kept no snapshot of them (ingest's snapshot: true)"),
            std::string::npos)
      << refused.err;
  fs::path kept = Write("kept.yaml", "dag: kept\ntasks:\n  load: {op: ingest, with: {source: '" + url +
                                         "', query: 'SELECT id, amount FROM orders WHERE id <= 3 ORDER BY id', snapshot: true}}\n"
                                         "  save: {op: export, depends_on: [load], with: {path: 'out/{{ run.id }}.csv'}}\n");
  json kept_run = RunDag(kept);
  ASSERT_EQ(kept_run["state"], "success") << kept_run.dump();
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec0("UPDATE orders SET amount = 0 WHERE id <= 3");
    tx.commit();
  }
  Result same = Pipectl({"runs", "rerun", kept_run["run_id"], "--same-data", "--json"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  const std::string same_id = json::parse(same.out)["run_id"];
  EXPECT_EQ(ReadFile(dir_ / "out" / (same_id + ".csv")), "id,amount\n1,1.5\n2,3\n3,4.5\n");
  EXPECT_EQ(ReadFile(dir_ / "out" / (same_id + ".csv")),
            ReadFile(dir_ / "out" / (kept_run["run_id"].get<std::string>() + ".csv")));
}

TEST_F(PipectlTest, IncrementalIngestReadsEachRowOnceOverRuns) {
  // Given a table that grows between runs, then each run reads only the rows
  // past the mark the last successful run stored; a failed run moves nothing.
  pipeline::testing_util::TempPgCluster cluster;
  cluster.Start();
  std::string url = cluster.CreateDatabase("feed");
  auto sql = [&](const std::string& statement) {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec0(statement);
    tx.commit();
  };
  sql("CREATE TABLE events (id bigint, at timestamptz, what text)");
  auto add = [&](int from, int to) {
    sql("INSERT INTO events SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'e' || g "
        "FROM generate_series(" + std::to_string(from) + ", " + std::to_string(to) + ") g");
  };
  add(1, 1000);
  fs::path dag = Write("feed.yaml", "dag: feed\ntasks:\n  load:\n    op: ingest\n    with:\n      source: '" + url +
                                        "'\n      query: 'SELECT id, at, what FROM events'\n      incremental: {column: at}\n"
                                        "  save: {op: export, depends_on: [load], with: {target: '" + url +
                                        "', table: copied, mode: append}}\n");
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump();
  EXPECT_EQ(Task(first, "load")["metrics"]["rows_out"], 1000);
  EXPECT_EQ(Task(first, "load")["metrics"]["summary"], "3 columns from " + url + "; at from the start");
  json nothing_new = RunDag(dag);
  EXPECT_EQ(Task(nothing_new, "load")["metrics"]["rows_out"], 0);
  EXPECT_EQ(Task(nothing_new, "load")["metrics"]["summary"], "3 columns from " + url + "; at past 2026-01-01 00:16:40");
  add(1001, 1250);
  // A run whose ingest fails (the table is away) stores no mark...
  sql("ALTER TABLE events RENAME TO events_away");
  json failed = RunDag(dag, {}, 1);
  EXPECT_EQ(Task(failed, "load")["state"], "failed");
  sql("ALTER TABLE events_away RENAME TO events");
  // ...so the next one reads the 250 new rows, and only them.
  json second = RunDag(dag);
  ASSERT_EQ(second["state"], "success") << second.dump();
  EXPECT_EQ(Task(second, "load")["metrics"]["rows_out"], 250);
  pqxx::connection c(url);
  pqxx::work tx(c);
  pqxx::row r = tx.exec1("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM copied");
  EXPECT_EQ(r[0].as<int64_t>(), 1250);  // every source row exactly once over all runs
  EXPECT_EQ(r[1].as<int64_t>(), 1250);
  EXPECT_EQ(r[2].as<int64_t>(), 1);
  EXPECT_EQ(r[3].as<int64_t>(), 1250);
  tx.commit();

  // A mark is kept per column: a column given by a parameter that changes
  // starts from the beginning (it used the other column's mark, which on a
  // text column failed every run after), and the first takes up its own
  // mark again when it comes back.
  fs::path by_param = Write("by.yaml", "dag: by\nparams: {col: id}\ntasks:\n  load:\n    op: ingest\n    with:\n"
                                       "      source: '" + url + "'\n      query: 'SELECT id, what FROM events'\n"
                                       "      incremental: {column: '{{ params.col }}'}\n");
  json by_id = RunDag(by_param);
  EXPECT_EQ(Task(by_id, "load")["metrics"]["summary"], "2 columns from " + url + "; id from the start");
  add(1251, 1260);
  json by_what = RunDag(by_param, {"--param", "col=what"});
  ASSERT_EQ(by_what["state"], "success") << by_what.dump();
  EXPECT_EQ(Task(by_what, "load")["metrics"]["summary"], "2 columns from " + url + "; what from the start");
  EXPECT_EQ(Task(by_what, "load")["metrics"]["rows_out"], 1260);
  json back = RunDag(by_param);
  ASSERT_EQ(back["state"], "success") << back.dump();
  EXPECT_EQ(Task(back, "load")["metrics"]["summary"], "2 columns from " + url + "; id past 1250");
  EXPECT_EQ(Task(back, "load")["metrics"]["rows_out"], 10);

  // A mapped ingest whose list is reordered: each item takes its own mark
  // up from the instance that had it (it started from the beginning).
  sql("CREATE TABLE regional (region text, id bigint)");
  auto add_regional = [&](const std::string& region, int from, int to) {
    sql("INSERT INTO regional SELECT '" + region + "', g FROM generate_series(" + std::to_string(from) + ", " +
        std::to_string(to) + ") g");
  };
  add_regional("eu", 1, 100);
  add_regional("us", 1, 30);
  fs::path mapped = Write("mapped.yaml",
                          "dag: mapped\nparams: {regions: [eu, us]}\ntasks:\n  load:\n    op: ingest\n"
                          "    map_over: '{{ params.regions }}'\n    with:\n      source: '" + url + "'\n"
                          "      query: \"SELECT id FROM regional WHERE region = '{{ item }}'\"\n"
                          "      incremental: {column: id}\n");
  json in_order = RunDag(mapped);
  ASSERT_EQ(in_order["state"], "success") << in_order.dump();
  EXPECT_EQ(Task(in_order, "load[0]")["metrics"]["rows_out"], 100);
  EXPECT_EQ(Task(in_order, "load[1]")["metrics"]["rows_out"], 30);
  add_regional("eu", 101, 110);
  add_regional("us", 31, 33);
  json reordered = RunDag(mapped, {"--param", "regions=[us, eu]"});
  ASSERT_EQ(reordered["state"], "success") << reordered.dump();
  EXPECT_EQ(Task(reordered, "load[0]")["metrics"]["summary"], "1 column from " + url + "; id past 30");
  EXPECT_EQ(Task(reordered, "load[0]")["metrics"]["rows_out"], 3);   // us, now first
  EXPECT_EQ(Task(reordered, "load[1]")["metrics"]["rows_out"], 10);  // eu
  add_regional("eu", 111, 111);
  json back_again = RunDag(mapped);
  ASSERT_EQ(back_again["state"], "success") << back_again.dump();
  EXPECT_EQ(Task(back_again, "load[0]")["metrics"]["rows_out"], 1);  // eu past 110, not its old 100
  EXPECT_EQ(Task(back_again, "load[1]")["metrics"]["rows_out"], 0);  // us past 33
}

TEST_F(PipectlTest, IncrementalIngestOfALandingFolderReadsEachFileOnce) {
  // Given a folder that receives files between runs, then each run reads the
  // files no successful run read before, into an SQLite table. The DAGs are
  // in a folder of their own: their relative paths, the database's too,
  // resolve there, not in pipectl's working directory.
  fs::create_directories(dir_ / "dags" / "landing");
  Write("dags/landing/1.csv", "id,v\n1,a\n2,b\n");
  fs::path dag = Write("dags/landing.yaml", "dag: landing\ntasks:\n"
                                            "  load: {op: ingest, with: {path: 'landing/*.csv', schema: {id: int64, v: string}, incremental: true}}\n"
                                            "  save: {op: export, depends_on: [load], with: {target: 'sqlite:out.db', "
                                            "table: rows, mode: append}}\n");
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump();
  EXPECT_EQ(Task(first, "load")["metrics"]["summary"], "2 columns from 1 file (new)");
  EXPECT_TRUE(fs::exists(dir_ / "dags" / "out.db"));
  EXPECT_FALSE(fs::exists(dir_ / "out.db"));
  json none = RunDag(dag);
  EXPECT_EQ(Task(none, "load")["metrics"]["summary"], "no new file (1 read before)");
  Write("dags/landing/2.csv", "id,v\n3,c\n");
  json second = RunDag(dag);
  EXPECT_EQ(Task(second, "load")["metrics"]["rows_out"], 1);
  // Three rows, each once: counted by SQLite, read back with ingest.
  json check = RunDag(Write("dags/check.yaml", "dag: check\ntasks:\n  q: {op: ingest, with: {source: 'sqlite:out.db', "
                                               "query: 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM rows'}}\n"));
  ASSERT_EQ(check["state"], "success") << check.dump();
  auto counts = columnar::ReadParquetFile(Task(check, "q")["artifacts"][0]["uri"].get<std::string>());
  EXPECT_EQ(counts->batch(0).columns[0]->ints()[0], 3);
  EXPECT_EQ(counts->batch(0).columns[1]->ints()[0], 3);

  // Mapped over folders whose list is reordered: a folder's files read
  // before stay read whichever instance has the folder now.
  fs::create_directories(dir_ / "dags" / "eu");
  fs::create_directories(dir_ / "dags" / "us");
  Write("dags/eu/1.csv", "id\n1\n2\n");
  Write("dags/us/1.csv", "id\n7\n");
  fs::path mapped = Write("dags/regions.yaml",
                          "dag: regions\nparams: {regions: [eu, us]}\ntasks:\n  load:\n    op: ingest\n"
                          "    map_over: '{{ params.regions }}'\n"
                          "    with: {path: '{{ item }}/*.csv', schema: {id: int64}, incremental: true}\n");
  json in_order = RunDag(mapped);
  ASSERT_EQ(in_order["state"], "success") << in_order.dump();
  EXPECT_EQ(Task(in_order, "load[0]")["metrics"]["rows_out"], 2);
  Write("dags/eu/2.csv", "id\n3\n");
  json reordered = RunDag(mapped, {"--param", "regions=[us, eu]"});
  ASSERT_EQ(reordered["state"], "success") << reordered.dump();
  EXPECT_EQ(Task(reordered, "load[0]")["metrics"]["summary"], "no new file (1 read before)");  // us (its record: eu)
  EXPECT_EQ(Task(reordered, "load[1]")["metrics"]["rows_out"], 1);                              // eu's new file only
}

TEST_F(PipectlTest, PersonalDataIsRefusedUnmaskedAndHashedAsAnIndependentHmacSays) {
  // Given users with personal columns, a suppression list and a secrets
  // file holding the mask key, then an export of the raw columns is refused
  // before anything runs, and the masked pipeline writes each kept user's
  // email as HMAC-SHA256 under that key, checked with Python's hmac module.
  Write("users.csv", "id,email,zip,salary\n1,ann@x.org,75011,10.5\n2,bo@y.com,10115,20\n3,cy@z.net,NA,30\n"
                     "4,ann@x.org,75012,40\n");
  Write("erase.csv", "id\n2\n");
  const std::string key = "e2e-mask-key-0123456789";
  fs::path secrets = Write("secrets", "mask_key:" + key + "\n");
  fs::permissions(secrets, fs::perms::owner_read | fs::perms::owner_write);
  const std::string ingest =
      "dag: users\ntasks:\n"
      "  users:\n    op: ingest\n    with:\n      path: users.csv\n"
      "      schema: {id: int64, email: {type: string, pii: true}, zip: {type: string, pii: true}, salary: {type: float64, pii: true}}\n";
  fs::path raw = Write("raw.yaml", ingest + "  out: {op: export, depends_on: [users], with: {path: out.csv}}\n");
  Result refused = Pipectl({"validate", raw.string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(raw.string() + ":8:3: task 'out': export: column 'email' is personal data (pii: true in task "
                             "'users'); mask it (a clean or transform step 'mask'), drop it, or set allow_pii: true on the task"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(Pipectl({"run", raw.string()}).exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));

  fs::path masked = Write("masked.yaml", ingest +
                                             "  private:\n    op: clean\n    depends_on: [users]\n    with:\n      steps:\n"
                                             "        - drop_keys: {column: id, from: erase.csv}\n"
                                             "        - mask: {email: hash, zip: {truncate: 2}}\n"
                                             "  narrow: {op: transform, depends_on: [private], with: {steps: [drop: [salary]]}}\n"
                                             "  out: {op: export, depends_on: [narrow], with: {path: out.csv}}\n");
  json run = RunDag(masked, {"--secrets", secrets.string()});
  ASSERT_EQ(run["state"], "success") << run.dump();
  Write("expect_hashes.py",
        "import csv, hashlib, hmac, sys\n"
        "key = sys.argv[1].encode()\n"
        "erased = {r['id'] for r in csv.DictReader(open('erase.csv'))}\n"
        "print('id,email,zip')\n"
        "for r in csv.DictReader(open('users.csv')):\n"
        "    if r['id'] in erased: continue\n"
        "    zip = '' if r['zip'] == 'NA' else r['zip'][:2]\n"
        "    print(','.join([r['id'], hmac.new(key, r['email'].encode(), hashlib.sha256).hexdigest(), zip]))\n");
  pid_t py = pipeline::testing_util::SpawnProcess({"/usr/bin/python3", (dir_ / "expect_hashes.py").string(), key}, {},
                                                  dir_ / "expected.csv", dir_ / "py.err", dir_, false);
  int status = 0;
  waitpid(py, &status, 0);
  ASSERT_EQ(status, 0) << ReadFile(dir_ / "py.err");
  EXPECT_EQ(ReadFile(dir_ / "out.csv"), ReadFile(dir_ / "expected.csv"));
  // The key is in no log.
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / ".pipe")) {
    if (entry.is_regular_file() && entry.path().extension() == ".log") {
      EXPECT_EQ(ReadFile(entry.path()).find(key), std::string::npos) << entry.path();
    }
  }
}

TEST_F(PipectlTest, CachedTasksReuseUnchangedWorkAndLineageLeadsAModelBackToItsFile) {
  // Given a DAG whose data tasks say cache: true, then a second run reuses
  // their outputs, a changed source byte runs them again, --no-cache runs
  // them anyway, and every model version's lineage reaches the source file.
  std::string csv = LineCsv(50, 3);
  Write("data.csv", csv);
  fs::path dag = Write("fit.yaml", "dag: fit\ntasks:\n"
                                   "  load: {op: ingest, cache: true, with: {path: data.csv}}\n"
                                   "  prep: {op: transform, cache: true, cache_ttl: 1h, depends_on: [load], with: {steps: [standardize: {x: xs}]}}\n"
                                   "  model: {op: train, depends_on: [prep], with: {model: linear_regression, target: y, features: [xs], name: lin}}\n");
  auto summaries = [&](const json& run) {
    return Task(run, "load")["metrics"]["summary"].get<std::string>() + " | " +
           Task(run, "prep")["metrics"]["summary"].get<std::string>();
  };
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump();
  const std::string first_id = first["run_id"];
  EXPECT_EQ(summaries(first), "2 columns from 1 file | 1 step, 3 columns");
  json second = RunDag(dag);
  ASSERT_EQ(second["state"], "success") << second.dump();
  EXPECT_EQ(summaries(second), "cached from " + first_id + "/load | cached from " + first_id + "/prep");
  EXPECT_NE(Pipectl({"logs", second["run_id"], "prep"}).out.find("cache: reused the result of " + first_id + "/prep"),
            std::string::npos);
  // The cached output is the same file, read by the train task of the second run.
  EXPECT_EQ(Task(second, "prep")["artifacts"][0]["uri"], Task(first, "prep")["artifacts"][0]["uri"]);
  EXPECT_EQ(Task(second, "model")["state"], "success");
  json no_cache = RunDag(dag, {"--no-cache"});
  EXPECT_EQ(summaries(no_cache), "2 columns from 1 file | 1 step, 3 columns");
  csv[csv.size() - 2] = '9';  // one byte of the last row's y
  Write("data.csv", csv);
  json changed = RunDag(dag);
  EXPECT_EQ(summaries(changed), "2 columns from 1 file | 1 step, 3 columns");

  // Version 2 was trained in the second run on the cached table: its lineage
  // stays in the second run (whose load, cached too, holds the same table)
  // down to the file.
  Result text = Pipectl({"lineage", "lin:2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::string second_id = second["run_id"];
  EXPECT_NE(text.out.find("model lin:2 (run " + second_id + ", task model)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("└─ " + second_id + "/prep/output  50 rows"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("└─ " + second_id + "/load/output  50 rows"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("└─ file " + (dir_ / "data.csv").string() + "  xxh3:"), std::string::npos) << text.out;
  EXPECT_EQ(Pipectl({"lineage", "lin@2"}).out, text.out);  // NAME@VERSION too
  Result as_json = Pipectl({"lineage", "lin:4", "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  json tree = json::parse(as_json.out);
  EXPECT_EQ(tree["kind"], "model");
  const json& prep = tree["inputs"][0];
  EXPECT_EQ(prep["task"], "prep");
  EXPECT_EQ(prep["schema"]["columns"][2]["name"], "xs");
  const json& file = prep["inputs"][0]["inputs"][0];
  EXPECT_EQ(file["kind"], "file");
  EXPECT_EQ(file["path"], (dir_ / "data.csv").string());
  // The file's hash then and now: version 4 saw the changed file, version 1 the first.
  json v1 = json::parse(Pipectl({"lineage", "lin:1", "--json"}).out);
  EXPECT_NE(v1["inputs"][0]["inputs"][0]["inputs"][0]["hash"], file["hash"]);
  EXPECT_EQ(Pipectl({"lineage", "lin:9"}).exit_code, 1);
  Result no_task = Pipectl({"lineage", first_id + "/nope"});
  EXPECT_EQ(no_task.exit_code, 1);
  EXPECT_NE(no_task.err.find("run '" + first_id + "' has no task 'nope'"), std::string::npos) << no_task.err;
  Result no_run = Pipectl({"lineage", "nosuchrun/load"});
  EXPECT_EQ(no_run.exit_code, 1);
  EXPECT_NE(no_run.err.find("no run 'nosuchrun'"), std::string::npos) << no_run.err;

  // Another DAG doing the same work reuses the results, and its lineage is
  // its own run's: its prep read its own load, not the other DAG's.
  fs::path twin = Write("twin.yaml", "dag: twin\ntasks:\n"
                                     "  load: {op: ingest, cache: true, with: {path: data.csv}}\n"
                                     "  prep: {op: transform, cache: true, depends_on: [load], with: {steps: [standardize: {x: xs}]}}\n");
  json twin_run = RunDag(twin);
  ASSERT_EQ(twin_run["state"], "success") << twin_run.dump();
  EXPECT_EQ(Task(twin_run, "prep")["metrics"]["summary"].get<std::string>().rfind("cached from ", 0), 0u);
  const std::string twin_id = twin_run["run_id"];
  json twin_tree = json::parse(Pipectl({"lineage", twin_id + "/prep", "--json"}).out);
  EXPECT_EQ(twin_tree["run"], twin_id);
  EXPECT_EQ(twin_tree["inputs"][0]["run"], twin_id) << twin_tree.dump();
  EXPECT_EQ(twin_tree["inputs"][0]["task"], "load");
}

TEST_F(PipectlTest, LineageGoesOnThroughATaskThatPersistsNothing) {
  // Given a middle task with persist: false (no artifact of its table), then
  // the lineage of what read it goes on through it to the source file, from
  // what its try read.
  Write("in.csv", "a,b\n1,x\n2,y\n2,y\n");
  fs::path dag = Write("mid.yaml", "dag: mid\ntasks:\n"
                                   "  load: {op: ingest, with: {path: in.csv}}\n"
                                   "  tidy: {op: clean, depends_on: [load], persist: false, with: {steps: [{drop_duplicates: all}]}}\n"
                                   "  out: {op: export, depends_on: [tidy], with: {path: out.csv}}\n");
  json run = RunDag(dag);
  ASSERT_EQ(run["state"], "success") << run.dump();
  const std::string id = run["run_id"];
  Result text = Pipectl({"lineage", id + "/out"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("└─ " + id + "/tidy/output  (not persisted)\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("   └─ " + id + "/load/output  3 rows  xxh3:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("      └─ file " + (dir_ / "in.csv").string() + "  xxh3:"), std::string::npos) << text.out;
  json tree = json::parse(Pipectl({"lineage", id + "/out", "--json"}).out);
  const json& tidy = tree["inputs"][0];
  EXPECT_EQ(tidy["task"], "tidy");
  EXPECT_EQ(tidy["persisted"], false);
  EXPECT_EQ(tidy["try"], 1);
  EXPECT_FALSE(tidy.contains("missing")) << tidy.dump();
  ASSERT_EQ(tidy["inputs"].size(), 1u) << tidy.dump();
  EXPECT_EQ(tidy["inputs"][0]["task"], "load");
  EXPECT_EQ(tidy["inputs"][0]["hash"], Task(run, "load")["artifacts"][0]["content_hash"]);
}

TEST_F(PipectlTest, AValidateReportShowsNoValueOfAColumnMarkedPersonalData) {
  // Given an email column marked pii that fails a check, then the report
  // counts the failures but shows no address, and profiles the column by
  // counts only; an unmarked column keeps its examples and profile.
  Write("people.csv", "email,age,born\nann@x.org,30,1996-02-03T00:00:00Z\nnot-an-address,-4,2030-01-01T00:00:00Z\n"
                     "bob@y.org,41,1985-07-08T00:00:00Z\n");
  fs::path dag = Write("pii.yaml", "dag: pii\ntasks:\n"
                                   "  load: {op: ingest, with: {path: people.csv, schema: {email: {type: string, pii: true}, age: int64, "
                                   "born: {type: timestamp, pii: true}}}}\n"
                                   "  check: {op: validate, depends_on: [load], with: {on_failure: warn, checks: "
                                   "[{column: email, matches: '^[^@]+@[^@]+$'}, {column: age, min: 0}], "
                                   "table: {freshness: {column: born, max_age: 1h}}}}\n");
  json run = RunDag(dag);
  ASSERT_EQ(run["state"], "success") << run.dump();
  const std::string uri = ArtifactUri(run, "check", "report");
  ASSERT_FALSE(uri.empty()) << run.dump();
  const std::string text = ReadFile(uri);
  EXPECT_EQ(text.find("not-an-address"), std::string::npos) << text;
  EXPECT_EQ(text.find("ann@x.org"), std::string::npos) << text;
  json report = json::parse(text);
  EXPECT_EQ(report["checks"][0]["rows_failed"], 1);
  EXPECT_EQ(report["checks"][0]["examples"], json::parse(R"j(["(personal data)"])j"));
  EXPECT_EQ(report["checks"][1]["examples"], json::parse(R"(["-4"])"));
  EXPECT_EQ(report["profile"]["email"]["pii"], true);
  EXPECT_FALSE(report["profile"]["email"].contains("top"));
  EXPECT_TRUE(report["profile"]["age"].contains("min"));
  // A freshness check of a marked column (a birth date) says no date either.
  EXPECT_EQ(text.find("2030-01-01"), std::string::npos) << text;
  EXPECT_EQ(report["table_checks"][0]["newest"], "(personal data)");
  EXPECT_EQ(Task(run, "check")["metrics"]["summary"].get<std::string>().find("2030"), std::string::npos);
}

TEST_F(PipectlTest, ADriftReportShowsNoValueOfAColumnMarkedPersonalData) {
  // Given a monitor over a table whose email column is marked pii, then its
  // report has the column's figures but no address (categories, new ones)
  // and an unmarked column keeps its cut points.
  std::string old_rows = "email,age\n", new_rows = "email,age\n";
  for (int i = 0; i < 40; ++i) {
    old_rows += "user" + std::to_string(i % 5) + "@x.org," + std::to_string(20 + i) + "\n";
    new_rows += "fresh" + std::to_string(i % 7) + "@y.org," + std::to_string(40 + i) + "\n";
  }
  Write("old.csv", old_rows);
  Write("new.csv", new_rows);
  const std::string schema = "{email: {type: string, pii: true}, age: int64}";
  fs::path dag = Write("drift.yaml", "dag: drift\ntasks:\n"
                                     "  before: {op: ingest, with: {path: old.csv, schema: " + schema + "}}\n"
                                     "  after: {op: ingest, with: {path: new.csv, schema: " + schema + "}}\n"
                                     "  watch: {op: monitor, depends_on: [before, after], with: {reference: before, "
                                     "current: after, on_drift: warn}}\n");
  json run = RunDag(dag);
  ASSERT_EQ(run["state"], "success") << run.dump();
  const std::string uri = ArtifactUri(run, "watch", "drift");
  ASSERT_FALSE(uri.empty()) << run.dump();
  const std::string text = ReadFile(uri);
  EXPECT_EQ(text.find("@x.org"), std::string::npos) << text;
  EXPECT_EQ(text.find("@y.org"), std::string::npos) << text;
  json report = json::parse(text);
  for (const json& c : report["columns"]) {
    if (c["column"] == "email") {
      EXPECT_EQ(c["pii"], true) << c.dump();
      EXPECT_TRUE(c["drifted"].get<bool>()) << c.dump();
    } else {
      EXPECT_TRUE(c.contains("cuts")) << c.dump();
    }
  }
}

TEST_F(PipectlTest, AnExplicitDbWinsOverPipeServer) {
  // Given PIPE_SERVER naming a daemon that is not there, then read commands
  // ask it (and say it is unreachable), but --db on the command line reads
  // that database.
  RunDag(Write("dbwin.yaml", "dag: dbwin\ntasks:\n  a: {op: shell, run: 'true'}\n"));
  env_.push_back("PIPE_SERVER=http://127.0.0.1:9");
  EXPECT_EQ(Pipectl({"runs", "list"}).exit_code, 3);
  Result flag = Pipectl({"runs", "list", "--db", "sqlite:" + (dir_ / ".pipe" / "state.db").string()});
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  EXPECT_NE(flag.out.find("dbwin"), std::string::npos) << flag.out;
}

TEST_F(PipectlTest, ARunWhoseOutputPipeClosesGoesOnToItsEnd) {
  // Given `pipectl run ... | head -c 1` (the reader gone after one byte),
  // then the run still ends, recorded as it ended, not left running.
  fs::path dag = Write("piped_out.yaml", "dag: piped_out\ntasks:\n  a: {op: shell, run: 'sleep 1'}\n"
                                         "  b: {op: shell, depends_on: [a], run: 'true'}\n");
  const std::string command = "cd '" + dir_.string() + "' && PIPE_HOME='" + (dir_ / ".pipe").string() + "' '" +
                              PIPECTL_PATH + "' run '" + dag.string() + "' | head -c 1 > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  Result list = Pipectl({"runs", "list", "--dag", "piped_out", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json runs = json::parse(list.out);
  ASSERT_EQ(runs.size(), 1u) << list.out;
  // pipectl may still be finishing when head has exited: wait for the end.
  json run;
  for (int i = 0; i < 100; ++i) {
    run = RunJson(runs[0]["run_id"]);
    if (run["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(run["state"], "success") << run.dump();
}

TEST_F(PipectlTest, AFreshnessCheckIsNeverTakenFromTheCache) {
  // Given a cached validate with a freshness check, then a second run on
  // the same data checks again: the answer depends on the clock.
  Write("fresh.csv", "ts,x\n2026-01-01T00:00:00Z,1\n");
  fs::path dag = Write("fresh.yaml", "dag: fresh\ntasks:\n  load: {op: ingest, with: {path: fresh.csv}}\n"
                                     "  check: {op: validate, cache: true, depends_on: [load], "
                                     "with: {table: {freshness: {column: ts, max_age: 3650d}}}}\n");
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump();
  json second = RunDag(dag);
  ASSERT_EQ(second["state"], "success") << second.dump();
  EXPECT_EQ(Task(second, "check")["metrics"]["summary"].get<std::string>().rfind("cached from", 0), std::string::npos);
  EXPECT_NE(Pipectl({"logs", second["run_id"], "check"}).out.find("cache: not reused: a freshness check depends on the time it runs"),
            std::string::npos);
}

TEST_F(PipectlTest, RerunRunsTheSameDagVersionWithTheSameParams) {
  // Given a run, then the DAG file edited, then `runs rerun` runs the text
  // and the params of that run, not the file's new text or its defaults.
  fs::path dag = Write("rr.yaml", "dag: rr\nparams: {n: 1}\ntasks:\n  a: {op: shell, run: 'echo v1 n={{ params.n }}'}\n");
  json first = RunDag(dag, {"--param", "n=5"});
  const std::string first_id = first["run_id"];
  Write("rr.yaml", "dag: rr\nparams: {n: 1}\ntasks:\n  a: {op: shell, run: 'echo v2 n={{ params.n }}'}\n");
  json edited = RunDag(dag);
  EXPECT_EQ(edited["dag_version"], 2);
  Result again = Pipectl({"runs", "rerun", first_id, "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json rerun = json::parse(again.out);
  EXPECT_NE(rerun["run_id"], first_id);
  EXPECT_EQ(rerun["dag_version"], 1);
  EXPECT_EQ(rerun["params"], json::parse(R"({"n": 5})"));
  EXPECT_EQ(Pipectl({"logs", rerun["run_id"], "a"}).out, "v1 n=5\n");
  // The rerun names the run it repeats (the store keeps it; runs show says it).
  EXPECT_EQ(rerun["rerun_of"], first_id);
  EXPECT_TRUE(first["rerun_of"].is_null()) << first.dump();
  Result shown = Pipectl({"runs", "show", rerun["run_id"]});
  EXPECT_NE(shown.out.find("\ntrigger manual, logical date "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\nrerun   of " + first_id + " (its DAG version and params)\nparams  {\"n\":5}\n"),
            std::string::npos) << shown.out;
  EXPECT_EQ(json::parse(Pipectl({"runs", "show", rerun["run_id"], "--json"}).out)["rerun_of"], first_id);
  EXPECT_EQ(Pipectl({"runs", "show", first_id}).out.find("rerun "), std::string::npos);
  // No ingest: the same data is no data to check.
  Result same_data = Pipectl({"runs", "rerun", first_id, "--same-data"});
  EXPECT_EQ(same_data.exit_code, 0) << same_data.err;
  Result missing = Pipectl({"runs", "rerun", "no-such-run"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no run 'no-such-run'"), std::string::npos) << missing.err;
  // A store that does not exist is named, not created.
  const fs::path typo = dir_ / "typo.db";
  Result no_store = Pipectl({"runs", "rerun", first_id, "--db", "sqlite:" + typo.string()});
  EXPECT_EQ(no_store.exit_code, 3) << no_store.err;
  EXPECT_NE(no_store.err.find("database sqlite:" + typo.string() + " does not exist"), std::string::npos) << no_store.err;
  EXPECT_FALSE(fs::exists(typo));
}

TEST_F(PipectlTest, RerunOnTheSameDataReproducesTheOutputByteForByteAfterTheSourceChanged) {
  // Given a run whose ingest kept a snapshot, then the source file edited,
  // then `runs rerun --same-data` writes the same Parquet bytes (a plain
  // rerun does not); without a snapshot it refuses, naming the file.
  Write("orders.csv", "id,amount\n1,10.5\n2,NA\n3,7.25\n");
  const std::string tail = "  tidy: {op: clean, depends_on: [load], with: {steps: [fill_nulls: {amount: mean}]}}\n"
                           "  out: {op: export, depends_on: [tidy], with: {path: 'out/{{ run.id }}.parquet'}}\n";
  fs::path dag = Write("orders.yaml", "dag: orders\ntasks:\n"
                                      "  load: {op: ingest, with: {path: orders.csv, snapshot: true}}\n" + tail);
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump();
  const std::string first_id = first["run_id"];
  EXPECT_NE(Pipectl({"logs", first_id, "load"}).out.find("kept a snapshot of 1 file"), std::string::npos);
  Write("orders.csv", "id,amount\n1,10.5\n2,NA\n3,99\n4,1\n");
  Result again = Pipectl({"runs", "rerun", first_id, "--same-data", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json same = json::parse(again.out);
  ASSERT_EQ(same["state"], "success") << same.dump();
  EXPECT_EQ(Task(same, "load")["metrics"]["rows_out"], 3);
  const std::string original = ReadFile(dir_ / "out" / (first_id + ".parquet"));
  ASSERT_FALSE(original.empty());
  EXPECT_EQ(ReadFile(dir_ / "out" / (same["run_id"].get<std::string>() + ".parquet")), original);
  // The rerun kept a snapshot of what it read again: it can be rerun on the same data in turn.
  Result twice = Pipectl({"runs", "rerun", same["run_id"], "--same-data", "--json"});
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_EQ(ReadFile(dir_ / "out" / (json::parse(twice.out)["run_id"].get<std::string>() + ".parquet")), original);
  // A snapshot copy that is gone is named.
  const std::string list = ArtifactUri(first, "load", "snapshot");
  ASSERT_FALSE(list.empty());
  const fs::path copy = json::parse(ReadFile(list))["files"][0]["copy"].get<std::string>();
  const std::string kept_copy = ReadFile(copy);
  fs::remove(copy);
  Result gone = Pipectl({"runs", "rerun", first_id, "--same-data"});
  EXPECT_EQ(gone.exit_code, 2);
  EXPECT_NE(gone.err.find("and its snapshot copy " + copy.string() + " is gone"), std::string::npos) << gone.err;
  std::ofstream(copy, std::ios::binary) << kept_copy;
  // A plain rerun reads the file as it is now.
  json plain = json::parse(Pipectl({"runs", "rerun", first_id, "--json"}).out);
  EXPECT_EQ(Task(plain, "load")["metrics"]["rows_out"], 4);
  EXPECT_NE(ReadFile(dir_ / "out" / (plain["run_id"].get<std::string>() + ".parquet")), original);

  // With cache: true, a same-data rerun keeps no result under the key of the
  // file as it is now: the next plain run reads the new rows, not the old.
  Write("orders.csv", "id,amount\n1,10.5\n2,NA\n3,7.25\n");
  fs::path cached = Write("cached.yaml", "dag: cached\ntasks:\n"
                                         "  load: {op: ingest, cache: true, with: {path: orders.csv, snapshot: true}}\n");
  json cached_first = RunDag(cached);
  ASSERT_EQ(cached_first["state"], "success") << cached_first.dump();
  Write("orders.csv", "id,amount\n1,10.5\n2,NA\n3,99\n4,1\n5,2\n");
  Result replayed = Pipectl({"runs", "rerun", cached_first["run_id"], "--same-data", "--json"});
  ASSERT_EQ(replayed.exit_code, 0) << replayed.err;
  EXPECT_EQ(Task(json::parse(replayed.out), "load")["metrics"]["rows_out"], 3);
  json after = RunDag(cached);
  EXPECT_EQ(Task(after, "load")["metrics"]["rows_out"], 5) << after.dump();

  // Without a snapshot: an unchanged file is read again as it is; a changed one is refused.
  fs::path bare = Write("bare.yaml", "dag: bare\ntasks:\n  load: {op: ingest, with: {path: orders.csv}}\n" + tail);
  json bare_run = RunDag(bare);
  const std::string bare_id = bare_run["run_id"];
  EXPECT_EQ(Pipectl({"runs", "rerun", bare_id, "--same-data"}).exit_code, 0);
  Write("orders.csv", "id,amount\n1,10.5\n");
  Result refused = Pipectl({"runs", "rerun", bare_id, "--same-data"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("pipectl: --same-data: " + (dir_ / "orders.csv").string() + " changed since run " + bare_id +
                             " read it (xxh3:"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("and task 'load' kept no snapshot of it (ingest's snapshot: true)"), std::string::npos)
      << refused.err;
}

TEST_F(PipectlTest, OpenLineageEventsReachAnHttpReceiverWithDatasetsAndSchemas) {
  // Given a receiver of OpenLineage events (Marquez's endpoint shape), then
  // each try's START and COMPLETE (or FAIL) arrive with one run id, the
  // ingest's file as input, the export's file as output with its columns,
  // and the DAG run as their parent; with no receiver the run still ends.
  Write("receiver.py",
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        "        with open('events.jsonl', 'ab') as f: f.write(body + b'\\n')\n"
        "        self.send_response(201); self.send_header('Content-Length', '0'); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "open('port.tmp', 'w').write(str(s.server_address[1])); __import__('os').rename('port.tmp', 'port')\n"
        "s.serve_forever()\n");
  pid_t receiver = pipeline::testing_util::SpawnProcess({"/usr/bin/python3", (dir_ / "receiver.py").string()}, {},
                                                        dir_ / "receiver.out", dir_ / "receiver.err", dir_, false);
  for (int i = 0; i < 100 && !fs::exists(dir_ / "port"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(dir_ / "port")) << ReadFile(dir_ / "receiver.err");
  const std::string url = "http://127.0.0.1:" + ReadFile(dir_ / "port") + "/api/v1/lineage";
  Write("people.csv", "id,name\n1,ada\n2,grace\n");
  fs::path dag = Write("people.yaml", "dag: people\ntasks:\n"
                                      "  load: {op: ingest, with: {path: people.csv}}\n"
                                      "  out: {op: export, depends_on: [load], with: {path: out/people.csv}}\n"
                                      "  boom: {op: shell, depends_on: [out], run: 'exit 3'}\n");
  json run = RunDag(dag, {"--openlineage", url}, 1);
  kill(receiver, SIGTERM);
  waitpid(receiver, nullptr, 0);
  std::map<std::string, std::vector<json>> by_job;  // job name -> its events in order
  std::istringstream lines(ReadFile(dir_ / "events.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line);
    EXPECT_EQ(e["schemaURL"], "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent");
    EXPECT_EQ(e["job"]["namespace"], "pipe");
    EXPECT_EQ(e["run"]["runId"].get<std::string>().size(), 36u);
    EXPECT_TRUE(e["eventTime"].get<std::string>().ends_with("Z"));
    by_job[e["job"]["name"]].push_back(e);
  }
  ASSERT_EQ(by_job.size(), 4u) << ReadFile(dir_ / "events.jsonl");
  auto types = [&](const std::string& job) {
    std::string out;
    for (const json& e : by_job[job]) out += e["eventType"].get<std::string>() + " ";
    return out;
  };
  EXPECT_EQ(types("people"), "START FAIL ");
  EXPECT_EQ(types("people.load"), "START COMPLETE ");
  EXPECT_EQ(types("people.out"), "START COMPLETE ");
  EXPECT_EQ(types("people.boom"), "START FAIL ");
  const json& load = by_job["people.load"][1];
  EXPECT_EQ(load["run"]["runId"], by_job["people.load"][0]["run"]["runId"]);
  EXPECT_EQ(load["run"]["facets"]["parent"]["run"]["runId"], by_job["people"][0]["run"]["runId"]);
  EXPECT_EQ(load["run"]["facets"]["parent"]["job"]["name"], "people");
  EXPECT_EQ(load["inputs"], json::parse(R"([{"namespace": "file", "name": ")" + (dir_ / "people.csv").string() + R"("}])"));
  const json& out = by_job["people.out"][1];
  ASSERT_EQ(out["inputs"].size(), 1u);
  EXPECT_EQ(out["inputs"][0]["name"], load["outputs"][0]["name"]);  // the table the ingest wrote
  ASSERT_EQ(out["outputs"].size(), 1u);
  EXPECT_EQ(out["outputs"][0]["name"], (dir_ / "out" / "people.csv").string());
  EXPECT_EQ(out["outputs"][0]["facets"]["schema"]["fields"],
            json::parse(R"([{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}])"));
  EXPECT_EQ(by_job["people.boom"][1]["run"]["facets"]["errorMessage"]["message"], "exit status 3");
  // The DAG run's FAIL says which task failed and why.
  EXPECT_EQ(by_job["people"][1]["run"]["facets"]["errorMessage"]["message"], "task 'boom' failed: exit status 3");
  EXPECT_TRUE(by_job["people"][0]["run"]["facets"].contains("nominalTime"));

  // The receiver is gone now: the run is not held up, and says why events are lost.
  const auto start = std::chrono::steady_clock::now();
  Result r = Pipectl({"run", dag.string(), "--openlineage", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_NE(r.err.find("openlineage: cannot deliver an event to http://127.0.0.1:" + ReadFile(dir_ / "port") + "/api/..."),
            std::string::npos)
      << r.err;
  // ...and, at the end, how many were lost.
  EXPECT_NE(r.err.find(" events were not delivered"), std::string::npos) << r.err;
  EXPECT_EQ(Pipectl({"run", dag.string(), "--openlineage", "ftp://x"}).exit_code, 2);
  Result port = Pipectl({"run", dag.string(), "--openlineage", "http://127.0.0.1:99999/api"});
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_NE(port.err.find("a port is 1 to 65535"), std::string::npos) << port.err;
}

TEST_F(PipectlTest, APredictsLineageNamesTheModelVersionItScoredWith) {
  // Given a DAG that trains and then scores, then the predictions' lineage
  // (pipectl lineage, and the OpenLineage inputs of the predict task) names
  // the model version as well as the scored table; and an ingest that fails
  // on a bad row names the file it read in its FAIL event (it has no
  // artifact that would).
  Write("fit.csv", LineCsv(40, 2));
  fs::path dag = Write("scoring.yaml", "dag: scoring\ntasks:\n"
                                       "  load: {op: ingest, with: {path: fit.csv}}\n"
                                       "  fit: {op: train, depends_on: [load], with: {model: linear_regression, target: y, features: [x], name: lin}}\n"
                                       "  score: {op: predict, depends_on: [fit], with: {input: load, model: fit}}\n"
                                       "  deploy: {op: serve, depends_on: [fit], with: {model: fit}}\n"
                                       "  bad: {op: ingest, with: {path: bad.csv, schema: {x: int64}}}\n");
  Write("bad.csv", "x\n1\nseven\n");
  const fs::path events = dir_ / "events.jsonl";
  json run = RunDag(dag, {"--openlineage", "file:" + events.string()}, 1);
  ASSERT_EQ(Task(run, "score")["state"], "success") << run.dump();
  ASSERT_EQ(Task(run, "bad")["state"], "failed") << run.dump();
  const std::string run_id = run["run_id"];
  Result text = Pipectl({"lineage", run_id + "/score"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("├─ " + run_id + "/load/output  40 rows"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("└─ model lin:1 (run " + run_id + ", task fit)  xxh3:"), std::string::npos) << text.out;
  // A deployment's lineage is the version it deployed; a JSON document or a model file has no rows to count.
  Result deployed = Pipectl({"lineage", run_id + "/deploy"});
  ASSERT_EQ(deployed.exit_code, 0) << deployed.err;
  EXPECT_EQ(deployed.out.rfind(run_id + "/deploy/deployment  xxh3:", 0), 0u) << deployed.out;
  EXPECT_NE(deployed.out.find("└─ model lin:1 (run " + run_id + ", task fit)  xxh3:"), std::string::npos) << deployed.out;
  EXPECT_NE(deployed.out.find("/load/output  40 rows"), std::string::npos) << deployed.out;
  Result file = Pipectl({"lineage", run_id + "/fit/model"});
  EXPECT_EQ(file.out.rfind(run_id + "/fit/model  xxh3:", 0), 0u) << file.out;
  bool named = false, failed_read = false;
  std::istringstream lines(ReadFile(events));
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line);
    if (e["job"]["name"] == "scoring.score" && e["eventType"] == "COMPLETE") {
      for (const auto& in : e["inputs"]) named = named || in["name"] == "scoring.fit.model";
    }
    if (e["job"]["name"] == "scoring.bad" && e["eventType"] == "FAIL") {
      for (const auto& in : e["inputs"]) failed_read = failed_read || in["name"] == (dir_ / "bad.csv").string();
    }
  }
  EXPECT_TRUE(named) << ReadFile(events);
  EXPECT_TRUE(failed_read) << ReadFile(events);
}

TEST_F(PipectlTest, AValidationAboveItsAlertRateIsAQualityNotification) {
  // Given a validate task with alert_rate and a DAG notifying a command of
  // quality events, then a run whose rows fail above the rate succeeds and
  // runs the command once with the finding; below the rate, nothing.
  Write("rows.csv", "id,amount\n1,5\n2,-1\n3,7\n4,-3\n");
  const std::string dag_text =
      "dag: quality\nnotify:\n  - {on: [quality], command: 'echo \"$PIPE_EVENT|$PIPE_TASK_ID|$PIPE_ERROR\" >> " +
      (dir_ / "quality.txt").string() + "'}\ntasks:\n"
      "  load: {op: ingest, with: {path: rows.csv}}\n"
      "  check: {op: validate, depends_on: [load], with: {checks: [{column: amount, min: 0}], "
      "on_failure: warn, alert_rate: ALERT}}\n";
  auto with_rate = [&](const std::string& rate) {
    std::string text = dag_text;
    text.replace(text.find("ALERT"), 5, rate);
    return Write("quality.yaml", text);
  };
  json run = RunDag(with_rate("0.25"));
  ASSERT_EQ(run["state"], "success") << run.dump();
  EXPECT_EQ(ReadFile(dir_ / "quality.txt"),
            "quality|check|2 of 4 rows (50.00%) failed checks, more than alert_rate 0.25 (first: amount >= 0: 2 rows, "
            "e.g. -1)\n");
  json quiet = RunDag(with_rate("0.5"));
  ASSERT_EQ(quiet["state"], "success") << quiet.dump();
  EXPECT_EQ(ReadFile(dir_ / "quality.txt").size(), 114u);  // still the one line
}

TEST_F(PipectlTest, UnreachablePostgresqlIsExitThree) {
  fs::path dag = Write("ok.yaml", "dag: ok\ntasks:\n  a: {op: shell, run: 'true'}\n");
  Result r = Pipectl({"run", dag.string(), "--db", "postgresql://postgres@/x?host=/nonexistent&port=1&connect_timeout=1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("PostgreSQL unreachable"), std::string::npos) << r.err;
}

TEST_F(PipectlTest, UsageErrorsAreExitTwo) {
  EXPECT_EQ(Pipectl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Pipectl({"run"}).exit_code, 2);
  EXPECT_EQ(Pipectl({"logs", "x"}).exit_code, 2);
  // An unknown or missing command is named, with the commands of its level.
  Result unknown = Pipectl({"runz"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err, "pipectl: unknown command 'runz' (did you mean 'run'?); one of validate, run, runs, logs, "
                         "trigger, dags, backfill, models, lineage, predict\n");
  Result sub = Pipectl({"runs", "shwo", "x"});
  EXPECT_EQ(sub.exit_code, 2);
  EXPECT_EQ(sub.err, "pipectl runs: unknown command 'shwo' (did you mean 'show'?); one of list, show, rerun, cancel, clear\n");
  Result none = Pipectl({"models"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err.rfind("pipectl models: a command is required: one of list, show, ", 0), 0u) << none.err;
  // Numbers and ids named in their own terms.
  Result version = Pipectl({"models", "show", "fraud", "--version", "0"});
  EXPECT_EQ(version.exit_code, 2);
  EXPECT_EQ(version.err.rfind("--version: '0' is not a whole number from 1 (1, 2, ...)\n", 0), 0u) << version.err;
  Result dag = Pipectl({"runs", "list", "--dag", "Not-An-Id"});
  EXPECT_EQ(dag.exit_code, 2);
  EXPECT_EQ(dag.err, "pipectl: --dag: 'Not-An-Id' is not a DAG id (a lower-case letter, then lower-case letters, "
                     "digits and '_')\n");
}

}  // namespace

namespace {

// The data pipeline of dags/example.yaml, on a smaller day of transactions.
TEST_F(PipectlTest, ExampleFraudPipelineRunsEndToEnd) {
  CopyExample();
  json run = RunDag(dir_ / "example.yaml", {"--param", "rows=20000"});
  ASSERT_EQ(run["state"], "success") << run.dump(2);
  json ingest = Task(run, "ingest"), validate = Task(run, "validate"), clean = Task(run, "clean");
  json features = Task(run, "features"), exported = Task(run, "export");
  EXPECT_EQ(ingest["metrics"]["rows_in"], 20000);
  // Rows in = rows out + rows quarantined, at every step that drops rows.
  EXPECT_EQ(validate["metrics"]["rows_in"].get<int64_t>(),
            validate["metrics"]["rows_out"].get<int64_t>() + validate["metrics"]["rows_quarantined"].get<int64_t>());
  EXPECT_GT(validate["metrics"]["rows_quarantined"].get<int64_t>(), 0);
  EXPECT_LT(clean["metrics"]["rows_out"].get<int64_t>(), clean["metrics"]["rows_in"].get<int64_t>());
  EXPECT_EQ(features["metrics"]["rows_out"], clean["metrics"]["rows_out"]);
  EXPECT_EQ(exported["metrics"]["rows_out"], clean["metrics"]["rows_out"]);
  EXPECT_TRUE(fs::exists(dir_ / "out" / "fraud_features.parquet"));
  // Every data step persisted its output; validate its report and quarantine.
  fs::path artifacts = dir_ / ".pipe" / "artifacts" / "fraud_features" / run["run_id"].get<std::string>();
  for (const char* task : {"ingest", "validate", "clean", "transform", "features"}) {
    EXPECT_TRUE(fs::exists(artifacts / task / "output.parquet")) << task;
  }
  json report = json::parse(ReadFile(artifacts / "validate" / "report.json"));
  EXPECT_EQ(report["checks"][1]["check"], "amount between 0 and 10000");
  EXPECT_GT(report["checks"][1]["rows_failed"].get<int64_t>(), 0);
  EXPECT_TRUE(fs::exists(artifacts / "validate" / "quarantine.parquet"));
  // `runs show` has rows in/out, quarantined rows and the report's gist.
  Result show = Pipectl({"runs", "show", run["run_id"]});
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("rows failed"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("quarantined"), std::string::npos) << show.out;
  // and, below the tasks, the validation report: each check's rows checked
  // and failed with failing examples, the table checks, a profile.
  EXPECT_NE(show.out.find("\nvalidation report of validate:\nCHECK "), std::string::npos) << show.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(show.out, m, std::regex("\namount between 0 and 10000 +([0-9]+) +([0-9]+) +(\\S[^\n]*)\n")))
      << show.out;
  EXPECT_EQ(m[1].str(), report["checks"][1]["rows_checked"].dump());
  EXPECT_EQ(m[2].str(), report["checks"][1]["rows_failed"].dump());
  EXPECT_EQ(m[3].str().substr(0, report["checks"][1]["examples"][0].get<std::string>().size()),
            report["checks"][1]["examples"][0].get<std::string>());
  EXPECT_NE(show.out.find("\ntable: row count >= 1 "), std::string::npos) << show.out;
  EXPECT_TRUE(std::regex_search(show.out, std::regex("\nCOLUMN +TYPE +NULLS +DISTINCT +MIN +MAX +MEAN / TOP\n")));
  EXPECT_TRUE(std::regex_search(show.out, std::regex("\namount +float64 +" + report["profile"]["amount"]["nulls"].dump() + " ")))
      << show.out;
  // The train task registered version 1 of model 'fraud', its headline
  // metrics in the DETAIL column.
  EXPECT_NE(show.out.find("fraud v1 (xgboost): auc "), std::string::npos) << show.out;
  EXPECT_TRUE(fs::exists(artifacts / "train" / "model.try1.json"));
  EXPECT_EQ(Task(run, "deploy")["metrics"]["summary"].get<std::string>().substr(0, 32), "promoted fraud v1 to production ");
  EXPECT_TRUE(fs::exists(artifacts / "features" / "online.parquet"));

  // The scoring DAG scores a new day with the production version.
  json scored = RunDag(dir_ / "scoring.yaml", {"--param", "rows=5000"});
  ASSERT_EQ(scored["state"], "success") << scored.dump(2);
  EXPECT_EQ(Task(scored, "score")["metrics"]["rows_out"], 5000);
  TablePtr scores = columnar::ReadParquetFile((dir_ / "out" / "fraud_scores.parquet").string());
  ASSERT_TRUE(scores->schema().IndexOf("fraud_probability"));
  ASSERT_TRUE(scores->schema().IndexOf("fraud_probability_label"));
  // pipectl predict on one of those rows gives its score.
  TablePtr flat = columnar::Concatenate(*scores);
  json row = json::object();
  for (const char* c : {"ts", "amount", "merchant_category", "device", "user_txn_24h", "user_amount_mean_7d",
                        "user_amount_max", "user_past_frauds", "user_prev_amount", "secs_since_prev_txn"}) {
    const columnar::Column& col = *flat->batch(0).columns[*scores->schema().IndexOf(c)];
    int64_t r = 100;
    if (col.IsNull(r)) {
      row[c] = nullptr;
    } else if (col.type() == columnar::DataType::kFloat64) {
      row[c] = col.doubles()[r];
    } else if (col.type() == columnar::DataType::kInt64) {
      row[c] = col.ints()[r];
    } else {
      row[c] = columnar::ValueText(col, r);
    }
  }
  Result predicted = Pipectl({"predict", "fraud", "--local", "--json", json::array({row}).dump()});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  // Without --local it asks the daemon (none here: unreachable, exit 3); a
  // numbered version, which the daemon does not serve, needs --local.
  Result no_daemon = Pipectl({"predict", "fraud", "--server", "http://127.0.0.1:9", "--json", json::array({row}).dump()});
  EXPECT_EQ(no_daemon.exit_code, 3) << no_daemon.err;
  Result numbered = Pipectl({"predict", "fraud:1", "--json", json::array({row}).dump()});
  EXPECT_EQ(numbered.exit_code, 2);
  EXPECT_EQ(numbered.err, "pipectl: the daemon serves aliases, not numbered versions: use NAME@ALIAS, or score "
                          "version 1 in this process with --local\n");
  EXPECT_EQ(Pipectl({"predict", "fraud:1", "--local", "--json", json::array({row}).dump()}).exit_code, 0);
  Result folder = Pipectl({"predict", "fraud:1", "--local", "--json", "@" + dir_.string()});
  EXPECT_EQ(folder.exit_code, 2);
  EXPECT_EQ(folder.err, "pipectl: cannot read " + dir_.string() + ": it is a folder\n");
  Result missing = Pipectl({"predict", "fraud:1", "--local", "--json", "@nosuch.json"});
  EXPECT_EQ(missing.err, "pipectl: cannot read nosuch.json: No such file or directory\n");
  {
    // A model file changed after it was registered is refused, not scored.
    const fs::path model = artifacts / "train" / "model.try1.json";
    const std::string bytes = ReadFile(model);
    std::ofstream(model, std::ios::app) << " ";
    Result changed = Pipectl({"predict", "fraud", "--local", "--json", json::array({row}).dump()});
    EXPECT_EQ(changed.exit_code, 1);
    EXPECT_NE(changed.err.find("model file " + model.string() + " is not the file the registry recorded"),
              std::string::npos) << changed.err;
    std::ofstream(model, std::ios::trunc | std::ios::binary) << bytes;
  }
  const columnar::Column& p = *flat->batch(0).columns[*scores->schema().IndexOf("fraud_probability")];
  EXPECT_EQ(json::parse(predicted.out)["predictions"][0].get<double>(), p.doubles()[100]) << predicted.out;

  // The monitoring DAG finds today's scaled amounts drifted and queues a retraining run.
  json watched = RunDag(dir_ / "monitoring.yaml", {"--param", "rows=5000"}, 1);
  EXPECT_EQ(Task(watched, "drift")["state"], "failed");
  EXPECT_EQ(Task(watched, "drift")["error"], "drift in 1 of 4 columns: amount");
  EXPECT_EQ(Task(watched, "retrain")["state"], "success");
  Result queued = Pipectl({"runs", "list", "--dag", "fraud_features", "--json"});
  EXPECT_NE(queued.out.find("\"queued\""), std::string::npos) << queued.out;
  json calm = RunDag(dir_ / "monitoring.yaml", {"--param", "rows=5000", "--param", "scale=1"});
  EXPECT_EQ(Task(calm, "drift")["metrics"]["summary"], "no drift in 4 columns");
  EXPECT_EQ(Task(calm, "retrain")["state"], "skipped");
}

// train -> the registry -> pipectl models: versions, aliases, rollback.
TEST_F(PipectlTest, TrainedModelsAreVersionedAliasedAndRolledBack) {
  fs::path dag = Write("m.yaml", R"yaml(dag: churn
tasks:
  data:
    op: shell
    run: |
      awk 'BEGIN { srand(3); print "age,spend,churned"; for (i = 0; i < 600; i++) {
        a = 18 + int(rand() * 60); s = rand() * 100; p = 1 / (1 + exp(-(0.05 * (a - 45) - 0.03 * (s - 50))));
        print a "," s "," (rand() < p ? 1 : 0) } }' > data.csv
  ingest: {op: ingest, depends_on: [data], with: {path: data.csv}}
  train:
    op: train
    depends_on: [ingest]
    with: {target: churned, model: logistic_regression, params: {l2: 10}, split: {test_fraction: 0.25, seed: 1}}
)yaml");
  json first = RunDag(dag);
  ASSERT_EQ(first["state"], "success") << first.dump(2);
  json second = RunDag(dag);
  ASSERT_EQ(second["state"], "success") << second.dump(2);

  Result list = Pipectl({"models", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json models = json::parse(list.out);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["name"], "churn");  // the DAG id
  EXPECT_EQ(models[0]["latest_version"], 2);
  Result v2 = Pipectl({"models", "show", "churn", "--version", "2", "--json"});
  ASSERT_EQ(v2.exit_code, 0) << v2.err;
  json version = json::parse(v2.out);
  EXPECT_EQ(version["params"]["l2"], 10.0);
  EXPECT_EQ(version["lineage"]["run_id"], second["run_id"]);
  EXPECT_EQ(version["lineage"]["task_id"], "train");
  EXPECT_EQ(version["metrics"]["test_rows"], 150);
  EXPECT_TRUE(version["metrics"]["auc"].is_number());
  EXPECT_EQ(version["features"].size(), 2u);

  EXPECT_EQ(Pipectl({"models", "alias", "churn", "1", "production"}).out, "churn@production -> version 1\n");
  EXPECT_EQ(Pipectl({"models", "alias", "churn", "2", "production"}).exit_code, 0);
  Result text = Pipectl({"models", "show", "churn"});
  EXPECT_NE(text.out.find("model    churn version 2 (production)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("FEATURE"), std::string::npos) << text.out;
  Result back = Pipectl({"models", "rollback", "churn"});
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, "churn@production -> version 1 (was 2)\n");
  json history = json::parse(Pipectl({"models", "show", "churn", "--json"}).out)["model"]["alias_history"];
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2]["version"], 1);

  Result missing = Pipectl({"models", "alias", "churn", "9", "production"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "pipectl: model 'churn' has no version 9 (latest: 2)\n");
  EXPECT_EQ(Pipectl({"models", "show", "nope"}).err, "pipectl: no model 'nope'\n");
  EXPECT_EQ(Pipectl({"models", "alias", "churn", "1", "Prod!"}).exit_code, 2);
  Result once = Pipectl({"models", "rollback", "churn", "--alias", "staging"});
  EXPECT_EQ(once.err, "pipectl: model 'churn' has no alias 'staging'\n");
  EXPECT_EQ(Pipectl({"models", "rollback", "nope"}).err, "pipectl: no model 'nope'\n");
}

// Under a memory limit far below its tables, the pipeline moves every table
// to spill files as it is built and writes the same result.
TEST_F(PipectlTest, ExamplePipelineUnderATinyMemoryLimitGivesTheSameResult) {
  CopyExample();
  json free = RunDag(dir_ / "example.yaml", {"--param", "rows=20000"});
  ASSERT_EQ(free["state"], "success") << free.dump(2);
  std::string expected = ReadFile(dir_ / "out" / "fraud_features.parquet");
  env_ = {"PIPE_MEMORY_LIMIT=256K"};
  json limited = RunDag(dir_ / "example.yaml", {"--param", "rows=20000"});
  ASSERT_EQ(limited["state"], "success") << limited.dump(2);
  EXPECT_TRUE(ReadFile(dir_ / "out" / "fraud_features.parquet") == expected) << "the exported file differs";
  for (const char* task : {"ingest", "validate", "clean", "transform", "features"}) {
    json t = Task(limited, task);
    EXPECT_EQ(t["metrics"]["rows_out"], Task(free, task)["metrics"]["rows_out"]) << task;
    Result log = Pipectl({"logs", limited["run_id"], task});
    EXPECT_NE(log.out.find("the output goes to a spill file"), std::string::npos) << task << ": " << log.out;
  }
  // Spill files have no name: nothing is left beside the artifacts.
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / ".pipe" / "artifacts")) {
    EXPECT_TRUE(entry.is_directory() || entry.path().extension() == ".parquet" || entry.path().extension() == ".json")
        << entry.path();
  }
}

TEST_F(PipectlTest, DataOperatorArgumentsAreCheckedAtValidation) {
  fs::path dag = Write("bad.yaml",
                       "dag: bad\n"
                       "tasks:\n"
                       "  load: {op: ingest, with: {path: x.csv, on_bad_row: skip}}\n"
                       "  check:\n"
                       "    op: validate\n"
                       "    depends_on: [load]\n"
                       "    with: {checks: [{column: a, mni: 0}]}\n");
  Result r = Pipectl({"validate", dag.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, dag.string() + ":3:54: task 'load': ingest: 'on_bad_row' must be one of fail, quarantine, found 'skip'\n" +
                       dag.string() + ":7:33: task 'check': validate: checks: unknown argument 'mni' (did you mean 'min'?)\n");
}

TEST_F(PipectlTest, ColumnErrorsAreFoundAtValidationWhereTheColumnsAreKnown) {
  fs::path dag = Write("cols.yaml",
                       "dag: cols\n"
                       "tasks:\n"
                       "  load: {op: ingest, with: {path: x.csv, schema: {id: int64, name: string}}}\n"
                       "  shape:\n"
                       "    op: transform\n"
                       "    depends_on: [load]\n"
                       "    with: {steps: [{standardize: [name]}, {select: [id]}, {log1p: [other]}]}\n");
  Result r = Pipectl({"validate", dag.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, dag.string() + ":7:34: task 'shape': transform: standardize: column 'name' is string, not a number\n" +
                       dag.string() + ":7:67: task 'shape': transform: log1p: column 'other' is not in the table (columns: id)\n");
  // Columns outside a declared schema may be in the file: no error before the run.
  Write("x.csv", "id,name,extra\n1,a,2.5\n");
  fs::path ok = Write("ok.yaml", "dag: ok\ntasks:\n"
                                 "  load: {op: ingest, with: {path: x.csv, schema: {id: int64}}}\n"
                                 "  shape: {op: transform, depends_on: [load], with: {steps: [{log1p: [extra]}]}}\n");
  EXPECT_EQ(Pipectl({"validate", ok.string()}).exit_code, 0);
  EXPECT_EQ(RunDag(ok)["state"], "success");
}

TEST_F(PipectlTest, BadCsvRowFailsTheTaskWithFileAndLine) {
  Write("in.csv", "id,amount\n1,2.5\n2,3.5,extra\n");
  fs::path dag = Write("load.yaml", "dag: load\ntasks:\n  load: {op: ingest, with: {path: in.csv}}\n"
                                    "  save: {op: export, depends_on: [load], with: {path: out.csv}}\n");
  json run = RunDag(dag, {}, 1);
  EXPECT_EQ(run["state"], "failed");
  EXPECT_EQ(Task(run, "load")["error"], (dir_ / "in.csv").string() + ":3: expected 2 fields, found 3");
  EXPECT_EQ(Task(run, "save")["state"], "upstream_failed");
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));
}

}  // namespace

namespace {

TEST_F(PipectlTest, RunJsonListsEachTasksArtifacts) {
  Write("in.csv", "id,name\n1,a\n2,b\n");
  fs::path dag = Write("load.yaml", "dag: load\ntasks:\n  load: {op: ingest, with: {path: in.csv}}\n");
  json run = RunDag(dag);
  json artifacts = Task(run, "load")["artifacts"];
  ASSERT_EQ(artifacts.size(), 1u) << run.dump(2);
  EXPECT_EQ(artifacts[0]["name"], "output");
  EXPECT_EQ(artifacts[0]["rows"], 2);
  EXPECT_EQ(artifacts[0]["columns"], json::parse(R"([{"name":"id","type":"int64"},{"name":"name","type":"string"}])"));
  EXPECT_TRUE(fs::exists(artifacts[0]["uri"].get<std::string>()));
  EXPECT_EQ(artifacts[0]["content_hash"].get<std::string>().size(), 21u);
}

TEST_F(PipectlTest, MappedDataTasksRunPerFileAndTheirOutputsAreConcatenatedInItemOrder) {
  // Given three CSV files (globbed out of order), an ingest mapped over
  // them, a transform mapped over the same files (so item by item) and an
  // export of the transform (so the concatenation in item order), then
  // every file goes through, the exported rows are in file order with the
  // per-file derived column, and the instances show in `runs show`.
  fs::create_directories(dir_ / "parts");
  Write("parts/p2.csv", "id,amount\n3,30\n");
  Write("parts/p1.csv", "id,amount\n1,10\n2,20\n");
  Write("parts/p3.csv", "id,amount\n4,40\n5,50\n6,60\n");
  fs::path dag = Write("fan.yaml", R"(dag: fan
tasks:
  load:
    op: ingest
    map_over: {glob: "parts/*.csv"}
    with: {path: "{{ item }}", schema: {id: int64, amount: float64}}
  double:
    op: transform
    depends_on: [load]
    map_over: {glob: "parts/*.csv"}
    with: {steps: [{derive: {twice: "amount * 2"}}]}
  save: {op: export, depends_on: [double], with: {path: out.csv}}
)");
  json run = RunDag(dag);
  EXPECT_EQ(run["state"], "success") << run.dump(2);
  EXPECT_EQ(ReadFile(dir_ / "out.csv"), "id,amount,twice\n1,10,20\n2,20,40\n3,30,60\n4,40,80\n5,50,100\n6,60,120\n");
  std::vector<std::string> ids;
  for (const auto& t : run["tasks"]) ids.push_back(t["task_id"].get<std::string>() + "=" + t["state"].get<std::string>());
  EXPECT_EQ(ids, (std::vector<std::string>{"load=success", "load[0]=success", "load[1]=success", "load[2]=success",
                                           "double=success", "double[0]=success", "double[1]=success",
                                           "double[2]=success", "save=success"}));
  EXPECT_EQ(Task(run, "double[1]")["map_item"], "parts/p2.csv");
  EXPECT_EQ(Task(run, "double[1]")["map_index"], 1);
  Result show = Pipectl({"runs", "show", run["run_id"].get<std::string>()});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("load[2]"), std::string::npos) << show.out;
}

}  // namespace
