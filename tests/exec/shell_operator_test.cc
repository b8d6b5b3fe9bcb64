#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"
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
};

TEST_F(ShellOperatorTest, OutputAndErrorGoToTheLog) {
  EXPECT_EQ(Run("dag: s\ntasks:\n  a: {op: shell, run: 'echo out; echo err >&2'}\n"), RunState::kSuccess);
  EXPECT_EQ(Log("a"), "out\nerr\n");
  EXPECT_EQ(store_->GetTries("r1", "a")[0].exit_code, 0);
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
  EXPECT_EQ(store_->GetTries("r1", "a")[0].error.rfind("cannot start /bin/sh: ", 0), 0u);
}

}  // namespace
}  // namespace pipeline
