#include <gtest/gtest.h>
#include <sqlite3.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"
#include "exec/subprocess.h"
#include "exec/cancel_token.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;

class ShellOperatorTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_shell");
    fs::create_directories(dir_ / "sub");
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
    RegisterBuiltinOperators(ops_, ShellOptions{std::chrono::milliseconds(300)});
  }
  void TearDown() override {
    store_.reset();  // closed before its folder goes
    fs::remove_all(dir_);
  }

  RunState Run(const std::string& yaml) {
    LoadResult r = DagLoader(ops_).LoadText(yaml, (dir_ / "dag.yaml").string());
    EXPECT_TRUE(r.dag) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
    dag_ = *r.dag;
    ExecutorOptions options;
    options.workers = 2;
    options.log_root = (dir_ / "logs").string();
    options.record_processes = record_processes_;
    Executor executor(*store_, ops_, *SystemClock::Default(), options);
    RunRequest request;
    request.dag = &dag_;
    request.run.run_id = "r1";
    request.run.dag_id = dag_.id;
    request.run.trigger = "manual";
    TimePoint now = SystemClock::Default()->Now();
    request.run.logical_date = request.run.data_interval_start = request.run.data_interval_end = now;
    request.run.params_json = "{}";
    request.run.created_at = now;
    std::string error;
    request.params = *ResolveParams(dag_, {}, &error);
    return executor.Execute(request, nullptr);
  }

  std::string Log(const std::string& task, int try_number = 1) {
    auto tries = store_->GetTries("r1", task);
    EXPECT_GE(tries.size(), size_t(try_number));
    std::ifstream in(tries[try_number - 1].log_path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  OperatorRegistry ops_;
  DagSpec dag_;
  bool record_processes_ = false;
};

TEST_F(ShellOperatorTest, OutputAndErrorGoToTheLog) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'echo out; echo err >&2'}\n"), RunState::kSuccess);
  EXPECT_EQ(Log("a"), "out\nerr\n");
  EXPECT_EQ(store_->GetTries("r1", "a")[0].exit_code, 0);
}

TEST_F(ShellOperatorTest, ASilentRunMakesNoLogFolder) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'true'}\n  b: {op: shell, run: 'true', depends_on: [a]}\n"),
            RunState::kSuccess);
  EXPECT_TRUE(fs::is_directory(dir_ / "logs"));
  EXPECT_FALSE(fs::exists(dir_ / "logs" / "s"));
}

TEST_F(ShellOperatorTest, NonZeroExitFailsWithItsStatus) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'exit 3'}\n"), RunState::kFailed);
  auto tries = store_->GetTries("r1", "a");
  EXPECT_EQ(tries[0].exit_code, 3);
  EXPECT_EQ(tries[0].error, "exit status 3");
}

TEST_F(ShellOperatorTest, TemplatesEnvAndWorkingFolder) {
  // Given env, params and workdir, then the command sees them rendered.
  EXPECT_EQ(Run(R"(dag: s
params: {who: world}
tasks:
  a:
    op: shell
    run: 'echo "$GREETING {{ params.who }} $PIPE_TASK_ID $PIPE_TRY_NUMBER"; pwd'
    env: {GREETING: "hello {{ dag.id }}"}
  b:
    op: shell
    run: pwd
    with: {workdir: sub}
)"), RunState::kSuccess);
  EXPECT_EQ(Log("a"), "hello s world a 1\n" + fs::canonical(dir_).string() + "\n");
  EXPECT_EQ(Log("b"), fs::canonical(dir_ / "sub").string() + "\n");
}

TEST_F(ShellOperatorTest, KilledBySignalIsReported) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'kill -9 $$'}\n"), RunState::kFailed);
  EXPECT_EQ(store_->GetTries("r1", "a")[0].error, "killed by signal 9 (Killed)");
}

TEST_F(ShellOperatorTest, TimeoutKillsTheWholeProcessGroup) {
  // Given a command whose child ignores SIGTERM, then after the timeout
  // neither the shell nor the child is left.
  std::string pidfile = (dir_ / "child.pid").string();
  EXPECT_EQ(Run("dag: s\ntasks:\n  a:\n    op: shell\n    timeout: 300ms\n    run: \"sh -c 'trap \\\"\\\" TERM; echo $$ > " +
                pidfile + "; exec sleep 30' & wait\"\n"),
            RunState::kFailed);
  EXPECT_EQ(store_->GetTries("r1", "a")[0].error, "timeout after 300ms");
  std::ifstream in(pidfile);
  pid_t child = 0;
  in >> child;
  ASSERT_GT(child, 0);
  EXPECT_TRUE(testing_util::ProcessGone(child)) << "child " << child << " survived";
}

TEST_F(ShellOperatorTest, MissingWorkdirFailsTheTry) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'true', with: {workdir: nope}}\n"),
            RunState::kFailed);
  // Named as what is missing: the folder, not the shell.
  const std::string error = store_->GetTries("r1", "a")[0].error;
  EXPECT_EQ(error.rfind("cannot start /bin/sh: its working directory ", 0), 0u) << error;
  EXPECT_TRUE(error.ends_with("/nope does not exist")) << error;
}

using testing_util::ProcessesMentioning;

// A command listing the shells that wait at their gate (fd 3 still open) to
// run a command mentioning `token`.
std::string FindGated(const std::string& token) {
  return "for p in $(grep -ls '" + token + "' /proc/[0-9]*/cmdline | xargs -r grep -ls 'PIPE_[G]ATE'); do " +
         "[ -e \"${p%/cmdline}/fd/3\" ] && echo \"$p\"; done";
}

// A command that waits (up to 5 s) until a shell waits at its gate to run a
// command mentioning `token`, and writes how many there are to `file`.
std::string AwaitGated(const std::string& token, const std::string& file) {
  std::string find = FindGated(token);
  return "for i in $(seq 100); do [ -n \"$(" + find + ")\" ] && break; sleep 0.05; done; (" + find +
         ") | wc -l > " + file;
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A DAG of shell tasks `a` and `b` (depending on a) with these commands;
// `a_extra` adds keys to a.
std::string TwoTasks(const std::string& a_run, const std::string& b_run, const std::string& a_extra = "") {
  return "dag: s\ntasks:\n  a:\n    op: shell\n" + a_extra + "    run: |\n      " + a_run +
         "\n  b:\n    op: shell\n    depends_on: [a]\n    run: |\n      " + b_run + "\n";
}

TEST_F(ShellOperatorTest, ATaskSeesOnlyItsStandardDescriptors) {
  // Given descriptors this process opened without O_CLOEXEC (as a listening
  // socket of a server library would be), then neither a cold shell (a) nor
  // a prepared one (b, started at its gate while a runs) inherits them.
  int leaked_file = open("/dev/null", O_RDONLY);
  int leaked_socket = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(leaked_file, 3);
  ASSERT_GE(leaked_socket, 3);
  // ls is not the last command, so the shell forks it and ls lists the
  // shell's descriptors, not its own.
  const std::string list = "ls /proc/$$/fd; true";
  EXPECT_EQ(Run(TwoTasks("sleep 0.2; " + list, list)), RunState::kSuccess);
  close(leaked_file);
  close(leaked_socket);
  EXPECT_EQ(Log("a"), "0\n1\n2\n");
  EXPECT_EQ(Log("b"), "0\n1\n2\n");
}

TEST_F(ShellOperatorTest, DownstreamShellWaitsAtItsGateAndRunsOnceAfterTheUpstreamSucceeds) {
  // Given a -> b, then while a runs b's shell is already started, waiting at
  // its gate, has run nothing; after a, b's command runs once as `sh -c` would.
  std::string token = "warm_ok_" + std::to_string(getpid());
  EXPECT_EQ(Run(TwoTasks(AwaitGated(token, "gated") + "; test -e b_ran && echo early || true",
                         "echo \"$0 $# $PIPE_TRY_NUMBER {{ task.id }}\" # " + token + "\n      touch b_ran; pwd")),
            RunState::kSuccess);
  EXPECT_EQ(Slurp(dir_ / "gated"), "1\n");
  EXPECT_EQ(Log("a"), "");
  EXPECT_EQ(Log("b"), "sh 0 1 b\n" + fs::canonical(dir_).string() + "\n");
  EXPECT_TRUE(ProcessesMentioning(token).empty());
}

TEST_F(ShellOperatorTest, PreparedShellNeverRunsWhenTheUpstreamFails) {
  std::string token = "warm_fail_" + std::to_string(getpid());
  EXPECT_EQ(Run(TwoTasks(AwaitGated(token, "gated") + "; exit 1", "touch b_ran # " + token)), RunState::kFailed);
  EXPECT_EQ(Slurp(dir_ / "gated"), "1\n");
  EXPECT_EQ(store_->GetTaskInstance("r1", "b")->state, TaskState::kUpstreamFailed);
  EXPECT_FALSE(fs::exists(dir_ / "b_ran"));
  EXPECT_TRUE(ProcessesMentioning(token).empty());
}

TEST_F(ShellOperatorTest, PreparedShellOutlivesAnUpstreamRetry) {
  // Given a that fails its first try, then b's prepared shell waits through
  // the retry and b runs once.
  std::string token = "warm_retry_" + std::to_string(getpid());
  EXPECT_EQ(Run(TwoTasks(AwaitGated(token, "gated.$PIPE_TRY_NUMBER") + "; test $PIPE_TRY_NUMBER = 2",
                         "echo x >> b_ran # " + token, "    retries: 1\n    retry_delay: 10ms\n")),
            RunState::kSuccess);
  EXPECT_EQ(Slurp(dir_ / "gated.1"), "1\n");
  EXPECT_EQ(Slurp(dir_ / "gated.2"), "1\n");
  EXPECT_EQ(Slurp(dir_ / "b_ran"), "x\n");
  EXPECT_EQ(store_->GetTries("r1", "b").size(), 1u);
}

TEST_F(ShellOperatorTest, PreparedShellsAreAtMostTheWorkerCount) {
  // Given a fanning out to four shell tasks and 2 workers, then two of them
  // are prepared while a runs, and all four run once.
  std::string token = "warm_cap_" + std::to_string(getpid());
  std::string yaml = TwoTasks(AwaitGated(token, "gated") + "; sleep 0.3; (" + FindGated(token) + ") | wc -l > gated",
                              "echo b >> ran # " + token);
  for (const char* id : {"c", "d", "e"}) {
    yaml += std::string("  ") + id + ":\n    op: shell\n    depends_on: [a]\n    run: 'echo " + id + " >> ran # " + token + "'\n";
  }
  EXPECT_EQ(Run(yaml), RunState::kSuccess);
  EXPECT_EQ(Slurp(dir_ / "gated"), "2\n");
  std::string ran = Slurp(dir_ / "ran");
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, "\n\n\n\nbcde");
}

TEST_F(ShellOperatorTest, ShellTriesRecordTheirProcessWithTheirStart) {
  // Given processes recorded (crash recovery), then each try row is made
  // with its process (a's shell started just before its start, b's while a
  // ran): no window where a crash would leave a running try's process unknown.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "state.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE started_without_process(task TEXT);"
                         "CREATE TRIGGER note AFTER INSERT ON task_tries WHEN NEW.process = '' "
                         "BEGIN INSERT INTO started_without_process VALUES (NEW.task_id); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  record_processes_ = true;
  std::string token = "warm_record_" + std::to_string(getpid());
  EXPECT_EQ(Run(TwoTasks(AwaitGated(token, "gated"), "echo $$ > b_pid # " + token)), RunState::kSuccess);
  EXPECT_EQ(Slurp(dir_ / "gated"), "1\n");
  std::vector<std::string> noted;
  sqlite3_exec(
      db, "SELECT task FROM started_without_process",
      [](void* out, int, char** values, char**) {
        static_cast<std::vector<std::string>*>(out)->push_back(values[0]);
        return 0;
      },
      &noted, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(noted, std::vector<std::string>{});
  std::string pid = Slurp(dir_ / "b_pid");
  ASSERT_FALSE(pid.empty());
  pid.pop_back();
  EXPECT_EQ(store_->GetTries("r1", "b").at(0).process.rfind(pid + "@", 0), 0u);
  EXPECT_FALSE(store_->GetTries("r1", "a").at(0).process.empty());
}

TEST_F(ShellOperatorTest, DownstreamWithAMissingWorkdirFailsAsItWouldCold) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'sleep 0.1'}\n"
                "  b: {op: shell, depends_on: [a], run: 'true', with: {workdir: nope}}\n"),
            RunState::kFailed);
  const std::string error = store_->GetTries("r1", "b")[0].error;
  EXPECT_EQ(error.rfind("cannot start /bin/sh: its working directory ", 0), 0u) << error;
  EXPECT_TRUE(error.ends_with("/nope does not exist")) << error;
}

// A gated child that creates DIR/ran once released.
std::unique_ptr<Subprocess> StartGatedTouch(const fs::path& dir, std::string* error) {
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "read -r go <&3 || exit 125; touch ran"};
  spec.cwd = dir.string();
  spec.output_path = (dir / "out.log").string();
  spec.gated = true;
  return Subprocess::Start(spec, error);
}

TEST(SubprocessTest, GatedChildRunsNothingUntilReleased) {
  fs::path dir = testing_util::FreshTestDir("pipe_gate");
  std::string error;
  auto child = StartGatedTouch(dir, &error);
  ASSERT_TRUE(child) << error;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fs::exists(dir / "ran"));
  ASSERT_TRUE(child->Release());
  EventCancelToken never;
  SubprocessResult r = child->Wait(never, std::chrono::milliseconds(100));
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "ran"));
  fs::remove_all(dir);
}

TEST(SubprocessTest, GatedChildNotReleasedIsGoneWithItsHandle) {
  fs::path dir = testing_util::FreshTestDir("pipe_gate");
  std::string error;
  auto child = StartGatedTouch(dir, &error);
  ASSERT_TRUE(child) << error;
  pid_t pid = child->pid();
  child.reset();
  EXPECT_TRUE(testing_util::ProcessGone(pid));
  EXPECT_FALSE(fs::exists(dir / "ran"));
  fs::remove_all(dir);
}

TEST(SubprocessTest, ReleasingAChildThatDiedAtItsGateFails) {
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "exit 0"};
  spec.output_path = "/dev/null";
  spec.gated = true;
  std::string error;
  auto child = Subprocess::Start(spec, &error);
  ASSERT_TRUE(child) << error;
  // The child exits without reading its gate; once it is a zombie, Release fails.
  fs::path stat = "/proc/" + std::to_string(child->pid()) + "/stat";
  for (int i = 0; i < 2500 && Slurp(stat).find(") Z ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_NE(Slurp(stat).find(") Z "), std::string::npos);
  EXPECT_FALSE(child->Release());
}

}  // namespace
}  // namespace pipeline

namespace pipeline {
namespace {

TEST(SubprocessTest, ExtraVariablesOverrideTheInheritedOnesOnceEach) {
  // Given names set by the daemon's environment and by the task (one twice),
  // then the child sees each name once, with the task's last value.
  fs::path dir = testing_util::FreshTestDir("pipe_env");
  SubprocessSpec spec;
  spec.argv = {"/bin/sh", "-c", "env | grep -E '^(HOME|PIPE_TEST_[A-Z]+|PATH)=' | sort"};
  spec.env = {{"HOME", "/elsewhere"}, {"PIPE_TEST_A", "1"}, {"PIPE_TEST_A", "2"}};
  spec.output_path = (dir / "out.log").string();
  std::string error;
  auto child = Subprocess::Start(spec, &error);
  ASSERT_TRUE(child) << error;
  EventCancelToken never;
  ASSERT_TRUE(child->Wait(never, std::chrono::milliseconds(100)).exited);
  std::ifstream in(dir / "out.log");
  std::stringstream out;
  out << in.rdbuf();
  EXPECT_EQ(out.str(), "HOME=/elsewhere\nPATH=" + std::string(getenv("PATH")) +
                           "\nPIPE_TEST_A=2\n");
  fs::remove_all(dir);
}

TEST(SubprocessTest, ProcessTokenIsThePidAndItsStartTime) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int idx = 0; idx < 20; ++idx) fields >> field;  // starttime, the 22nd field
  EXPECT_EQ(ProcessToken(getpid()), std::to_string(getpid()) + "@" + field);
  EXPECT_EQ(ProcessToken(0x3fffffff), "");  // no such process
}

// Processes of group `pgid` that are not zombies, from /proc/PID/stat.
int LiveMembersOfGroup(pid_t pgid) {
  int live = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat) || stat.rfind(')') == std::string::npos) continue;
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string state;
    long ppid = 0, pgrp = 0;
    if (fields >> state >> ppid >> pgrp && pgrp == pgid && state != "Z") ++live;
  }
  return live;
}

TEST(SubprocessTest, KillProcessGroupCountsAKilledLeaderNoOneReapsYetAsStopped) {
  // Given a group leader whose parent does not reap it at once (an orphan's
  // init in a container reaps only now and then; here the parent is us),
  pid_t leader = fork();
  ASSERT_GE(leader, 0);
  if (leader == 0) {
    setpgid(0, 0);
    if (fork() == 0) execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));  // a member of its group
    pause();
    _exit(0);
  }
  setpgid(leader, leader);  // whichever of the two runs first
  std::string token;
  for (int i = 0; i < 200 && (token = ProcessToken(leader)).empty(); ++i) usleep(1000);
  ASSERT_FALSE(token.empty());
  // then killing its group stops it without waiting for the reaping (it
  // waited, and said it could not), and the group's other members are gone.
  EXPECT_TRUE(KillProcessGroup(token));
  EXPECT_EQ(ProcessToken(leader), token);  // a zombie still: nobody reaped it
  int live = -1;
  for (int i = 0; i < 500 && (live = LiveMembersOfGroup(leader)) != 0; ++i) usleep(10'000);
  EXPECT_EQ(live, 0);
  int status = 0;
  EXPECT_EQ(waitpid(leader, &status, 0), leader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(KillProcessGroup(token));  // gone for good
}

}  // namespace
}  // namespace pipeline
