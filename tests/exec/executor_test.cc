#include "exec/executor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/cancel_token.h"
#include "exec/fakes.h"
#include "exec/remote_try.h"
#include "exec/worker.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const TimePoint kStart = FromMicros(int64_t{1'800'000'000} * 1'000'000);

class ExecutorTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_exec");
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
    auto fake = std::make_unique<ScriptedOperator>();
    fake_ = fake.get();
    ops_.Register(std::move(fake));
    RegisterBuiltinOperators(ops_, ShellOptions{std::chrono::milliseconds(500)});
  }
  void TearDown() override {
    store_.reset();  // closed before its folder goes
    fs::remove_all(dir_);
  }

  // Three runs at once of a DAG of four 30 ms fake tasks (`head` first in its
  // file) on `workers` threads: every run succeeds, every task runs once;
  // returns how many tries ran at once at most.
  int PeakOfThreeRuns(const std::string& head, int workers) {
    std::string yaml = head + "tasks:\n";
    for (int idx = 0; idx < 4; ++idx) yaml += "  t" + std::to_string(idx) + ": {op: fake}\n";
    DagSpec dag = Load(yaml);
    fake_->set_hold_ms(30);
    ExecutorOptions options;
    options.workers = workers;
    options.log_root = (dir_ / "logs").string();
    Executor executor(*store_, ops_, clock_, options);
    std::vector<RunRequest> requests = {NewRequest(dag, "r1"), NewRequest(dag, "r2"), NewRequest(dag, "r3")};
    std::vector<RunState> states(3);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { states[i] = executor.Execute(requests[i], nullptr); });
    for (auto& t : threads) t.join();
    for (RunState s : states) EXPECT_EQ(s, RunState::kSuccess);
    EXPECT_EQ(fake_->starts().size(), 12u);
    return fake_->peak();
  }

  DagSpec Load(const std::string& yaml) {
    LoadResult r = DagLoader(ops_).LoadText(yaml, (dir_ / "dag.yaml").string());
    std::string errors;
    for (const auto& d : r.diagnostics) errors += d.ToString() + "\n";
    EXPECT_TRUE(r.dag) << errors;
    return r.dag ? *r.dag : DagSpec{};
  }

  RunState Execute(const DagSpec& dag, int workers, Executor** out = nullptr,
                   RunObserver* observer = nullptr) {
    ExecutorOptions options;
    options.workers = workers;
    options.log_root = (dir_ / "logs").string();
    Executor executor(*store_, ops_, clock_, options);
    if (out) *out = &executor;
    RunRequest request = NewRequest(dag, "run" + std::to_string(++runs_));
    run_id_ = request.run.run_id;
    return executor.Execute(request, observer);
  }

  // A manual run of `dag` at kStart with its default parameters.
  static RunRequest NewRequest(const DagSpec& dag, const std::string& run_id) {
    RunRequest request;
    request.dag = &dag;
    request.run.run_id = run_id;
    request.run.dag_id = dag.id;
    request.run.dag_version = 1;
    request.run.trigger = "manual";
    request.run.logical_date = request.run.data_interval_start = request.run.data_interval_end = kStart;
    request.run.params_json = "{}";
    request.run.created_at = kStart;
    std::string error;
    request.params = *ResolveParams(dag, {}, &error);
    return request;
  }

  TaskState StateOf(const std::string& task) {
    return store_->GetTaskInstance(run_id_, task)->state;
  }
  std::vector<TaskTryRecord> Tries(const std::string& task) { return store_->GetTries(run_id_, task); }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  OperatorRegistry ops_;
  ScriptedOperator* fake_ = nullptr;
  FakeClock clock_{kStart};
  std::string run_id_;
  int runs_ = 0;
};

const char* kDiamond = R"(dag: diamond
tasks:
  a: {op: fake}
  b: {op: fake, depends_on: [a]}
  c: {op: fake, depends_on: [a]}
  d: {op: fake, depends_on: [b, c]}
)";

TEST_F(ExecutorTest, DiamondRunsInDependencyOrder) {
  // Given a diamond, then a starts first, d last, and the run succeeds.
  DagSpec dag = Load(kDiamond);
  EXPECT_EQ(Execute(dag, 2), RunState::kSuccess);
  auto starts = fake_->starts();
  ASSERT_EQ(starts.size(), 4u);
  EXPECT_EQ(starts.front(), "a#1");
  EXPECT_EQ(starts.back(), "d#1");
  for (const char* t : {"a", "b", "c", "d"}) EXPECT_EQ(StateOf(t), TaskState::kSuccess) << t;
  EXPECT_EQ(store_->GetRun(run_id_)->state, RunState::kSuccess);
}

TEST_F(ExecutorTest, ParallelismFollowsWorkers) {
  // Given 6 independent tasks that each hold a slot, then the peak equals the limit.
  std::string yaml = "dag: wide\ntasks:\n";
  for (int idx = 0; idx < 6; ++idx) yaml += "  t" + std::to_string(idx) + ": {op: fake}\n";
  fake_->set_hold_ms(60);
  EXPECT_EQ(Execute(Load(yaml), 3), RunState::kSuccess);
  EXPECT_EQ(fake_->peak(), 3);
}

// Tries handed to workers are not bound by the pool of this process: six
// remote tries wait for each other on a worker with six slots while the
// executor has one thread.
TEST_F(ExecutorTest, TriesOnWorkersAreNotBoundByTheLocalPool) {
  std::string yaml = "dag: wide\ntasks:\n";
  for (int idx = 0; idx < 6; ++idx) yaml += "  t" + std::to_string(idx) + ": {op: fake, queue: far}\n";
  DagSpec dag = Load(yaml);
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  WorkerOptions wo;
  wo.name = "w1";
  wo.slots = 6;
  wo.poll = std::chrono::milliseconds(20);
  wo.queues = {"far"};
  SystemClock real;
  Worker worker(*store_, real, wo, [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>&) {
    std::unique_lock lock(mu);
    ++started;

    cv.notify_all();
    bool all = cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == 6; });
    return TaskResultJson(all ? TaskResult::Success() : TaskResult::Failure("only " + std::to_string(started)));
  });
  std::thread loop([&] { worker.Run(); });
  ExecutorOptions options;
  options.workers = 1;
  options.log_root = (dir_ / "logs").string();
  options.local_queues = std::vector<std::string>{"default"};
  Executor executor(*store_, ops_, real, options);  // leases are real time
  RunRequest request = NewRequest(dag, "remote1");
  run_id_ = request.run.run_id;
  EXPECT_EQ(executor.Execute(request, nullptr), RunState::kSuccess);
  worker.Stop(real.Now());
  loop.join();
  EXPECT_EQ(started, 6);
  EXPECT_EQ(Tries("t0").at(0).worker, "w1");
}

TEST_F(ExecutorTest, MaxActiveTasksCapsConcurrency) {
  std::string yaml = "dag: wide\nmax_active_tasks: 2\ntasks:\n";
  for (int idx = 0; idx < 6; ++idx) yaml += "  t" + std::to_string(idx) + ": {op: fake}\n";
  fake_->set_hold_ms(60);
  EXPECT_EQ(Execute(Load(yaml), 4), RunState::kSuccess);
  EXPECT_EQ(fake_->peak(), 2);
}

TEST_F(ExecutorTest, RetriesWithExponentialBackoffOnTheClock) {
  // Given two failures then success, 10s doubling, then tries start at +0, +10s, +30s.
  fake_->Script("a", {Outcome::kFail, Outcome::kFail, Outcome::kSucceed});
  DagSpec dag = Load(R"(dag: r
tasks:
  a: {op: fake, retries: 3, retry_delay: 10s, retry_backoff: exponential}
)");
  EXPECT_EQ(Execute(dag, 1), RunState::kSuccess);
  auto tries = Tries("a");
  ASSERT_EQ(tries.size(), 3u);
  EXPECT_EQ(tries[0].state, TaskState::kUpForRetry);
  EXPECT_EQ(tries[0].error, "scripted failure");
  EXPECT_EQ(tries[1].started_at - tries[0].ended_at.value(), seconds(10));
  EXPECT_EQ(tries[2].started_at - tries[1].ended_at.value(), seconds(20));
  EXPECT_EQ(tries[2].state, TaskState::kSuccess);
  EXPECT_EQ(store_->GetTaskInstance(run_id_, "a")->try_number, 3);
}

TEST_F(ExecutorTest, BackoffIsCappedAndFixedIsConstant) {
  fake_->Script("capped", {Outcome::kFail});
  fake_->Script("fixed", {Outcome::kFail});
  DagSpec dag = Load(R"(dag: r
tasks:
  capped: {op: fake, retries: 3, retry_delay: 10s, retry_backoff: exponential, max_retry_delay: 15s}
  fixed: {op: fake, retries: 2, retry_delay: 7s}
)");
  EXPECT_EQ(Execute(dag, 1), RunState::kFailed);
  auto capped = Tries("capped");
  ASSERT_EQ(capped.size(), 4u);
  EXPECT_EQ(capped[1].started_at - *capped[0].ended_at, seconds(10));
  EXPECT_EQ(capped[2].started_at - *capped[1].ended_at, seconds(15));
  EXPECT_EQ(capped[3].started_at - *capped[2].ended_at, seconds(15));
  EXPECT_EQ(capped[3].state, TaskState::kFailed);
  auto fixed = Tries("fixed");
  ASSERT_EQ(fixed.size(), 3u);
  EXPECT_EQ(fixed[1].started_at - *fixed[0].ended_at, seconds(7));
  EXPECT_EQ(fixed[2].started_at - *fixed[1].ended_at, seconds(7));
}

TEST_F(ExecutorTest, ExhaustedRetriesFailTheRunAndDownstream) {
  fake_->Script("a", {Outcome::kFail});
  DagSpec dag = Load(R"(dag: r
tasks:
  a: {op: fake, retries: 1, retry_delay: 1s}
  b: {op: fake, depends_on: [a]}
  c: {op: fake, depends_on: [b]}
)");
  EXPECT_EQ(Execute(dag, 2), RunState::kFailed);
  EXPECT_EQ(StateOf("a"), TaskState::kFailed);
  EXPECT_EQ(Tries("a").size(), 2u);
  EXPECT_EQ(StateOf("b"), TaskState::kUpstreamFailed);
  EXPECT_EQ(StateOf("c"), TaskState::kUpstreamFailed);
  EXPECT_EQ(fake_->starts(), (std::vector<std::string>{"a#1", "a#2"}));
}

TEST_F(ExecutorTest, TimeoutFailsTheTryAtTheDeadline) {
  // Given a try that never ends and a 5s timeout, then it is cancelled at +5s and fails.
  fake_->Script("slow", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load("dag: t\ntasks:\n  slow: {op: fake, timeout: 5s}\n");
  EXPECT_EQ(Execute(dag, 1), RunState::kFailed);
  auto tries = Tries("slow");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kFailed);
  EXPECT_EQ(tries[0].error, "timeout after 5s");
  EXPECT_EQ(*tries[0].ended_at - tries[0].started_at, seconds(5));
}

TEST_F(ExecutorTest, TimedOutTryIsRetried) {
  fake_->Script("slow", {Outcome::kBlockUntilCancelled, Outcome::kSucceed});
  DagSpec dag = Load("dag: t\ntasks:\n  slow: {op: fake, timeout: 5s, retries: 1, retry_delay: 1s}\n");
  EXPECT_EQ(Execute(dag, 1), RunState::kSuccess);
  auto tries = Tries("slow");
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].error, "timeout after 5s");
  EXPECT_EQ(tries[1].state, TaskState::kSuccess);
}

// Trigger rules: two upstream tasks with given outcomes, one downstream with the rule.
struct RuleCase {
  const char* rule;
  const char* up1;  // "ok", "fail" or "skip"
  const char* up2;
  TaskState expected;
};

void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.rule << "(" << c.up1 << ", " << c.up2 << ")"; }

std::string Upstream(const std::string& id, const std::string& outcome) {
  // A skipped task: all_failed over a successful upstream.
  if (outcome == "skip") {
    return "  " + id + "_src: {op: fake}\n  " + id + ": {op: fake, depends_on: [" + id +
           "_src], trigger_rule: all_failed}\n";
  }
  return "  " + id + ": {op: fake}\n";
}

class TriggerRules : public ExecutorTest, public testing::WithParamInterface<RuleCase> {};

TEST_P(TriggerRules, DownstreamEndsAsExpected) {
  const RuleCase& c = GetParam();
  if (std::string(c.up1) == "fail") fake_->Script("u1", {Outcome::kFail});
  if (std::string(c.up2) == "fail") fake_->Script("u2", {Outcome::kFail});
  std::string yaml = "dag: rules\ntasks:\n" + Upstream("u1", c.up1) + Upstream("u2", c.up2) +
                     "  down: {op: fake, depends_on: [u1, u2], trigger_rule: " + c.rule + "}\n";
  Execute(Load(yaml), 2);
  EXPECT_EQ(StateOf("down"), c.expected) << c.rule << " " << c.up1 << " " << c.up2 << " got "
                                         << ToString(StateOf("down"));
}

INSTANTIATE_TEST_SUITE_P(
    AllRules, TriggerRules,
    testing::Values(
        RuleCase{"all_success", "ok", "ok", TaskState::kSuccess},
        RuleCase{"all_success", "ok", "fail", TaskState::kUpstreamFailed},
        RuleCase{"all_success", "ok", "skip", TaskState::kSkipped},
        RuleCase{"all_done", "ok", "fail", TaskState::kSuccess},
        RuleCase{"all_done", "skip", "fail", TaskState::kSuccess},
        RuleCase{"all_failed", "fail", "fail", TaskState::kSuccess},
        RuleCase{"all_failed", "ok", "fail", TaskState::kSkipped},
        RuleCase{"one_success", "ok", "fail", TaskState::kSuccess},
        // A rule that can never hold: upstream_failed only under all_success, else skipped (the contract).
        RuleCase{"one_success", "fail", "fail", TaskState::kSkipped},
        RuleCase{"one_success", "skip", "skip", TaskState::kSkipped},
        RuleCase{"one_failed", "ok", "fail", TaskState::kSuccess},
        RuleCase{"one_failed", "ok", "ok", TaskState::kSkipped},
        RuleCase{"none_failed", "ok", "skip", TaskState::kSuccess},
        RuleCase{"none_failed", "ok", "fail", TaskState::kSkipped}),
    [](const auto& p) { return std::string(p.param.rule) + "_" + p.param.up1 + "_" + p.param.up2; });

TEST_F(ExecutorTest, SkippedTaskPropagatesAndRunSucceeds) {
  DagSpec dag = Load(R"(dag: s
tasks:
  a: {op: fake}
  b: {op: fake, depends_on: [a], trigger_rule: all_failed}
  c: {op: fake, depends_on: [b]}
)");
  EXPECT_EQ(Execute(dag, 2), RunState::kSuccess);
  EXPECT_EQ(StateOf("b"), TaskState::kSkipped);
  EXPECT_EQ(StateOf("c"), TaskState::kSkipped);
}

TEST_F(ExecutorTest, OneSuccessFiresBeforeOtherUpstreamsEnd) {
  // Given a fast and a blocked upstream, then one_success starts without waiting.
  fake_->Script("slow", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load(R"(dag: s
tasks:
  fast: {op: fake}
  slow: {op: fake, timeout: 1h}
  down: {op: fake, depends_on: [fast, slow], trigger_rule: one_success}
)");
  Execute(dag, 2);
  auto starts = fake_->starts();
  EXPECT_NE(std::find(starts.begin(), starts.end(), "down#1"), starts.end());
  EXPECT_EQ(StateOf("down"), TaskState::kSuccess);
}

class Canceller final : public RunObserver {
 public:
  explicit Canceller(Executor** ex) : ex_(ex) {}
  void OnRunState(const RunRecord&, RunState) override {}
  void OnTaskState(const TaskEvent& e) override {
    if (e.task_id == "blocker" && e.state == TaskState::kRunning) {
      std::thread([ex = *ex_] { ex->Cancel(); }).detach();
    }
  }

 private:
  Executor** ex_;
};

TEST_F(ExecutorTest, ObserversSeeTheRunAsStoredWithItsEnd) {
  // (OpenLineage dated a run's end event by its start: the record it got
  // was the one from the run's start.)
  class Runs final : public RunObserver {
   public:
    void OnRunState(const RunRecord& run, RunState state) override { seen.push_back({run, state}); }
    void OnTaskState(const TaskEvent&) override {}
    std::vector<std::pair<RunRecord, RunState>> seen;
  } runs;
  DagSpec dag = Load("dag: o\ntasks:\n  a: {op: fake}\n");
  ASSERT_EQ(Execute(dag, 1, nullptr, &runs), RunState::kSuccess);
  ASSERT_FALSE(runs.seen.empty());
  const auto& [last, state] = runs.seen.back();
  EXPECT_EQ(state, RunState::kSuccess);
  EXPECT_EQ(last.state, RunState::kSuccess);
  ASSERT_TRUE(last.ended_at.has_value());
  EXPECT_EQ(*last.ended_at, *store_->GetRun(run_id_)->ended_at);
}

TEST_F(ExecutorTest, UnwritableLogRootIsAClearErrorAtTheStart) {
  ExecutorOptions options;
  options.log_root = "/proc/pipe-logs";
  try {
    Executor executor(*store_, ops_, clock_, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(std::string(e.what()).rfind("cannot write task logs to /proc/pipe-logs: ", 0), 0u) << e.what();
  }
}

TEST_F(ExecutorTest, CancelStopsRunningAndPendingTasks) {
  // Given a running task and tasks waiting on it, when cancelled, then all end cancelled.
  fake_->Script("blocker", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load(R"(dag: c
tasks:
  blocker: {op: fake}
  after: {op: fake, depends_on: [blocker]}
  other: {op: fake, depends_on: [after]}
)");
  Executor* ex = nullptr;
  Canceller canceller(&ex);
  EXPECT_EQ(Execute(dag, 2, &ex, &canceller), RunState::kCancelled);
  EXPECT_EQ(StateOf("blocker"), TaskState::kCancelled);
  EXPECT_EQ(StateOf("after"), TaskState::kCancelled);
  EXPECT_EQ(StateOf("other"), TaskState::kCancelled);
  EXPECT_EQ(store_->GetRun(run_id_)->state, RunState::kCancelled);
}

TEST_F(ExecutorTest, EveryStateChangeIsPersistedInOrder) {
  DagSpec dag = Load("dag: p\ntasks:\n  a: {op: fake}\n");
  Execute(dag, 1);
  std::vector<std::string> seen;
  for (const auto& t : store_->GetTransitions(run_id_)) seen.push_back(t.task_id + ":" + t.to_state);
  EXPECT_EQ(seen, (std::vector<std::string>{":queued", ":running", "a:queued", "a:running",
                                            "a:success", ":success"}));
}

// Moves a stored task along the given states, as another process would have.
void Drive(StateStore& store, const std::string& run, const std::string& task,
           std::vector<std::pair<TaskState, std::string>> steps) {
  TaskState from = store.GetTaskInstance(run, task)->state;
  for (auto& [to, reason] : steps) {
    TaskTransition t;
    t.run_id = run;
    t.task_id = task;
    t.from = {from};
    t.to = to;
    t.at = kStart;
    t.reason = reason;
    t.worker = "gone:1";
    ASSERT_TRUE(store.TransitionTask(t)) << task << " " << ToString(from) << "->" << ToString(to);
    from = to;
  }
}

class ResumeTest : public ExecutorTest {
 protected:
  // Creates run "crashed" of `dag` as a dead process left it: a succeeded,
  // b running.
  RunRequest Crashed(const DagSpec& dag) {
    RunRequest request = NewRequest(dag, "crashed");
    std::vector<NewTaskInstance> tasks;
    for (const TaskSpec& t : dag.tasks) tasks.push_back({t.id, 1 + t.retry.retries});
    store_->CreateRun(request.run, tasks);
    store_->TransitionRun("crashed", {RunState::kQueued}, RunState::kRunning, kStart, "");
    request.run = *store_->GetRun("crashed");
    request.create = false;
    run_id_ = "crashed";
    return request;
  }

  RunState Resume(const RunRequest& request) {
    ExecutorOptions options;
    options.workers = 2;
    options.log_root = (dir_ / "logs").string();
    Executor executor(*store_, ops_, clock_, options);
    return executor.Execute(request, nullptr);
  }
};

const char* kChain = R"(dag: chain
tasks:
  a: {op: fake}
  b: {op: fake, depends_on: [a]}
  c: {op: fake, depends_on: [b]}
)";

TEST_F(ResumeTest, LostTryIsRetriedWithoutUsingARetry) {
  // Given b was running in a process that died, then b runs again as try 2
  // (though it has no retries), c follows, and the run succeeds.
  DagSpec dag = Load(kChain);
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "a", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kSuccess, ""}});
  Drive(*store_, "crashed", "b", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}});
  EXPECT_EQ(Resume(request), RunState::kSuccess);
  EXPECT_EQ(fake_->starts(), (std::vector<std::string>{"b#2", "c#1"}));
  auto tries = Tries("b");
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].state, TaskState::kQueued);
  EXPECT_EQ(tries[0].error, "lost: the process running try 1 ended");
  EXPECT_EQ(tries[1].state, TaskState::kSuccess);
  EXPECT_EQ(store_->GetRun("crashed")->state, RunState::kSuccess);
}

TEST_F(ResumeTest, FourthLossInARowFailsTheTask) {
  DagSpec dag = Load(kChain);
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "a", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kSuccess, ""}});
  Drive(*store_, "crashed", "b", {{TaskState::kQueued, ""}});
  for (int lost = 1; lost <= 3; ++lost) {
    Drive(*store_, "crashed", "b", {{TaskState::kRunning, ""}, {TaskState::kQueued, "lost: earlier"}});
  }
  Drive(*store_, "crashed", "b", {{TaskState::kRunning, ""}});
  EXPECT_EQ(Resume(request), RunState::kFailed);
  EXPECT_TRUE(fake_->starts().empty());
  auto b = store_->GetTaskInstance("crashed", "b");
  EXPECT_EQ(b->state, TaskState::kFailed);
  EXPECT_EQ(b->error, "lost: the process running try 4 ended (4 times in a row)");
  EXPECT_EQ(StateOf("c"), TaskState::kUpstreamFailed);
}

TEST_F(ResumeTest, GracefulStopsDoNotCountAsLosses) {
  // Given three tries handed back at shutdown, then a crash: the task is
  // retried (one loss in a row), not failed.
  DagSpec dag = Load(kChain);
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "a", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kSuccess, ""}});
  Drive(*store_, "crashed", "b", {{TaskState::kQueued, ""}});
  for (int stop = 1; stop <= 3; ++stop) {
    Drive(*store_, "crashed", "b", {{TaskState::kRunning, ""}, {TaskState::kQueued, "lost: handed back at shutdown"}});
  }
  Drive(*store_, "crashed", "b", {{TaskState::kRunning, ""}});
  EXPECT_EQ(Resume(request), RunState::kSuccess);
  EXPECT_EQ(Tries("b").size(), 5u);
}

TEST_F(ResumeTest, QueuedRetryingAndDecidedTasksResume) {
  // Given a queued task, one waiting for a retry and one whose upstream had
  // already failed, then each goes on from where it was.
  DagSpec dag = Load(R"(dag: mixed
tasks:
  q: {op: fake}
  r: {op: fake, retries: 1, retry_delay: 5s}
  f: {op: fake}
  after_f: {op: fake, depends_on: [f]}
  cleanup: {op: fake, depends_on: [f], trigger_rule: all_done}
)");
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "q", {{TaskState::kQueued, ""}});
  Drive(*store_, "crashed", "r", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kUpForRetry, "boom"}});
  Drive(*store_, "crashed", "f", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kFailed, "boom"}});
  EXPECT_EQ(Resume(request), RunState::kFailed);
  EXPECT_EQ(StateOf("q"), TaskState::kSuccess);
  EXPECT_EQ(StateOf("r"), TaskState::kSuccess);
  EXPECT_EQ(Tries("r").size(), 2u);
  EXPECT_EQ(StateOf("after_f"), TaskState::kUpstreamFailed);
  EXPECT_EQ(StateOf("cleanup"), TaskState::kSuccess);
}

// Asks its executor to drain (30 s of grace) as soon as a try starts: a
// shutdown that cuts the try off.
class DrainOnStart final : public RunObserver {
 public:
  DrainOnStart(Executor& ex, Clock& clock) : ex_(ex), clock_(clock) {}
  void OnRunState(const RunRecord&, RunState) override {}
  void OnTaskState(const TaskEvent& e) override {
    // Not from this thread: observers must not call back into the executor.
    if (e.state == TaskState::kRunning) {
      std::thread([this] { ex_.Drain(clock_.Now() + std::chrono::seconds(30)); }).detach();
    }
  }

 private:
  Executor& ex_;
  Clock& clock_;
};

TEST_F(ExecutorTest, DrainHandsBackRunningTriesAndResumeFinishes) {
  // Given a try that outlives the grace period of a shutdown, then it is
  // stopped and queued again, and a later executor finishes the run.
  fake_->Script("slow", {Outcome::kBlockUntilCancelled, Outcome::kSucceed});
  DagSpec dag = Load("dag: d\ntasks:\n  slow: {op: fake}\n  next: {op: fake, depends_on: [slow]}\n");
  ExecutorOptions options;
  options.workers = 2;
  options.log_root = (dir_ / "logs").string();
  RunRequest request = NewRequest(dag, "drained");
  run_id_ = "drained";
  {
    Executor executor(*store_, ops_, clock_, options);
    DrainOnStart drain(executor, clock_);
    EXPECT_EQ(executor.Execute(request, &drain), RunState::kRunning);
  }
  EXPECT_EQ(store_->GetRun("drained")->state, RunState::kRunning);
  EXPECT_EQ(StateOf("slow"), TaskState::kQueued);
  EXPECT_EQ(Tries("slow")[0].error, "lost: handed back at shutdown");
  EXPECT_EQ(StateOf("next"), TaskState::kPending);

  request.run = *store_->GetRun("drained");
  request.create = false;
  Executor again(*store_, ops_, clock_, options);
  EXPECT_EQ(again.Execute(request, nullptr), RunState::kSuccess);
  EXPECT_EQ(Tries("slow").size(), 2u);
  EXPECT_EQ(StateOf("next"), TaskState::kSuccess);
}

TEST_F(ExecutorTest, CancelRunStopsOnlyThatRun) {
  fake_->Script("block", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load("dag: d\ntasks:\n  block: {op: fake}\n");
  ExecutorOptions options;
  options.workers = 2;
  options.log_root = (dir_ / "logs").string();
  Executor executor(*store_, ops_, clock_, options);
  RunRequest one = NewRequest(dag, "one"), two = NewRequest(dag, "two");
  RunState one_state{}, two_state{};
  std::thread t1([&] { one_state = executor.Execute(one, nullptr); });
  std::thread t2([&] { two_state = executor.Execute(two, nullptr); });
  auto running = [&](const std::string& id) {
    auto ti = store_->GetTaskInstance(id, "block");
    return ti && ti->state == TaskState::kRunning;
  };
  while (!running("one") || !running("two")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(executor.CancelRun("one"));
  EXPECT_FALSE(executor.CancelRun("three"));
  t1.join();
  EXPECT_EQ(one_state, RunState::kCancelled);
  EXPECT_EQ(store_->GetTaskInstance("two", "block")->state, TaskState::kRunning);
  EXPECT_TRUE(executor.CancelRun("two"));
  t2.join();
  EXPECT_EQ(two_state, RunState::kCancelled);
}

TEST_F(ExecutorTest, ATryWaitingForAThreadOfThePoolIsQueuedAndACancelReachesIt) {
  // Given one worker thread busy with run one's task, then run two's task
  // waits `queued` (it was `running` without a thread: its timeout counted
  // the wait and a cancel could not reach it), and a cancel of run two ends
  // it without its task ever starting.
  fake_->Script("block", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load("dag: d\ntasks:\n  block: {op: fake}\n");
  ExecutorOptions options;
  options.workers = 1;
  options.log_root = (dir_ / "logs").string();
  Executor executor(*store_, ops_, clock_, options);
  RunRequest one = NewRequest(dag, "one"), two = NewRequest(dag, "two");
  RunState one_state{}, two_state{};
  std::thread t1([&] { one_state = executor.Execute(one, nullptr); });
  auto state = [&](const std::string& id) {
    auto ti = store_->GetTaskInstance(id, "block");
    return ti ? ti->state : TaskState::kPending;
  };
  auto reaches = [&](const std::string& id, std::vector<TaskState> states) {
    for (int i = 0; i < 1000; ++i) {
      if (std::find(states.begin(), states.end(), state(id)) != states.end()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  ASSERT_TRUE(reaches("one", {TaskState::kRunning}));
  std::thread t2([&] { two_state = executor.Execute(two, nullptr); });
  EXPECT_TRUE(reaches("two", {TaskState::kQueued, TaskState::kRunning}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(state("two"), TaskState::kQueued);
  EXPECT_TRUE(executor.CancelRun("two"));
  t2.join();
  EXPECT_EQ(two_state, RunState::kCancelled);
  EXPECT_EQ(state("two"), TaskState::kCancelled);
  EXPECT_EQ(fake_->starts().size(), 1u);  // run one's only
  EXPECT_TRUE(executor.CancelRun("one"));
  t1.join();
  EXPECT_EQ(one_state, RunState::kCancelled);
}

TEST_F(ExecutorTest, ThePoolsThreadsHoldOverAllRuns) {
  // On 2 workers at most 2 tries run at once over all runs (each run alone may use both).
  EXPECT_EQ(PeakOfThreeRuns("dag: many\n", 2), 2);
}

TEST_F(ExecutorTest, MaxActiveTasksHoldsOverAllRunsOfTheDag) {
  // With max_active_tasks 2 on 6 workers, at most 2 of its tasks run at once over all runs.
  EXPECT_EQ(PeakOfThreeRuns("dag: wide\nmax_active_tasks: 2\n", 6), 2);
}

// A random DAG at 1..8 workers: every task runs once, after all its upstreams.
class RandomDagTest : public ExecutorTest, public testing::WithParamInterface<int> {};

TEST_P(RandomDagTest, EveryTaskRunsOnceAfterItsUpstreams) {
  std::mt19937 rng(42);
  std::string yaml = "dag: random\ntasks:\n";
  std::vector<std::vector<int>> deps(60);
  for (int idx = 0; idx < 60; ++idx) {
    yaml += "  t" + std::to_string(idx) + ": {op: fake";
    if (idx > 0) {
      std::string list;
      for (int k = 0; k < 3; ++k) {
        int up = int(rng() % idx);
        if (std::find(deps[idx].begin(), deps[idx].end(), up) != deps[idx].end()) continue;
        deps[idx].push_back(up);
        list += (list.empty() ? "" : ", ") + std::string("t") + std::to_string(up);
      }
      yaml += ", depends_on: [" + list + "]";
    }
    yaml += "}\n";
  }
  EXPECT_EQ(Execute(Load(yaml), GetParam()), RunState::kSuccess);
  auto starts = fake_->starts();
  auto ends = fake_->ends();
  ASSERT_EQ(starts.size(), 60u);
  std::map<std::string, size_t> end_pos;
  for (size_t pos = 0; pos < ends.size(); ++pos) end_pos[ends[pos]] = pos;
  std::set<std::string> unique(starts.begin(), starts.end());
  EXPECT_EQ(unique.size(), 60u);
  // Ends are recorded before the completion is reported, so an upstream's end
  // precedes the downstream's start; check through the start order.
  std::map<std::string, size_t> start_pos;
  for (size_t pos = 0; pos < starts.size(); ++pos) start_pos[starts[pos].substr(0, starts[pos].find('#'))] = pos;
  for (int idx = 0; idx < 60; ++idx) {
    for (int up : deps[idx]) {
      EXPECT_LT(start_pos["t" + std::to_string(up)], start_pos["t" + std::to_string(idx)]);
    }
  }
}

// --- map_over -----------------------------------------------------------------

std::vector<std::string> Lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(ExecutorTest, MappedTaskRunsOneInstancePerItemThenItsDownstream) {
  // Given a shell task mapped over a literal list, then each item runs once
  // as TASK[INDEX] with {{ item }} and {{ item.index }}, the instances are
  // stored after the task in item order, and the downstream task starts
  // after the last of them.
  DagSpec dag = Load(R"(dag: fan
tasks:
  m:
    op: shell
    map_over: [north, south, "east side"]
    run: echo "{{ item }}|{{ item.index }}|{{ task.id }}" >> items.txt
  after: {op: shell, depends_on: [m], run: wc -l < items.txt > count.txt}
)");
  EXPECT_EQ(Execute(dag, 2), RunState::kSuccess);
  EXPECT_EQ(Lines(dir_ / "items.txt"),
            (std::vector<std::string>{"east side|2|m[2]", "north|0|m[0]", "south|1|m[1]"}));
  EXPECT_EQ(Lines(dir_ / "count.txt"), (std::vector<std::string>{"3"}));
  auto tasks = store_->GetTaskInstances(run_id_);
  std::vector<std::string> ids;
  for (const auto& t : tasks) ids.push_back(t.task_id + "=" + std::string(ToString(t.state)));
  EXPECT_EQ(ids, (std::vector<std::string>{"m=success", "m[0]=success", "m[1]=success", "m[2]=success",
                                           "after=success"}));
  EXPECT_EQ(tasks[1].map_index, 0);
  EXPECT_EQ(tasks[3].map_item, "east side");
  EXPECT_FALSE(tasks[0].map_index);
  EXPECT_EQ(tasks[0].error, "");
  auto transitions = store_->GetTransitions(run_id_);
  auto reason = std::find_if(transitions.begin(), transitions.end(),
                             [](const TransitionRecord& t) { return t.task_id == "m" && t.to_state == "running"; });
  ASSERT_NE(reason, transitions.end());
  EXPECT_EQ(reason->reason, "mapped over 3 items");
}

TEST_F(ExecutorTest, MapOverAListParameterAndAGlob) {
  // Given one task mapped over a list parameter (overridden for the run)
  // and one over a glob relative to the DAG's folder, then the items are
  // the parameter's values and the matching files, sorted, still relative.
  fs::create_directories(dir_ / "in");
  for (const char* f : {"b.csv", "a.csv", "c.txt"}) std::ofstream(dir_ / "in" / f) << "x\n";
  DagSpec dag = Load(R"(dag: fan
params:
  regions: [eu, us]
tasks:
  by_param: {op: fake, map_over: "{{ params.regions }}"}
  by_glob: {op: fake, map_over: {glob: "in/*.csv"}}
)");
  RunRequest request = NewRequest(dag, "p1");
  std::string error;
  request.params = *ResolveParams(dag, {{"regions", "[eu, us, apac]"}}, &error);
  ExecutorOptions options;
  options.workers = 2;
  options.log_root = (dir_ / "logs").string();
  Executor executor(*store_, ops_, clock_, options);
  EXPECT_EQ(executor.Execute(request, nullptr), RunState::kSuccess);
  std::vector<std::string> items;
  for (const auto& t : store_->GetTaskInstances("p1")) {
    if (t.map_index) items.push_back(t.task_id + "=" + t.map_item);
  }
  EXPECT_EQ(items, (std::vector<std::string>{"by_param[0]=eu", "by_param[1]=us", "by_param[2]=apac",
                                             "by_glob[0]=in/a.csv", "by_glob[1]=in/b.csv"}));
}

TEST_F(ExecutorTest, AFailedInstanceFailsTheMappedTaskOnceAllHaveEnded) {
  // Given one instance of three that fails after its retry, then the other
  // two still run, the mapped task fails naming how many failed, and its
  // downstream task is upstream_failed; retries count per instance.
  fake_->Script("m[1]", {Outcome::kFail});
  DagSpec dag = Load(R"(dag: fan
tasks:
  m: {op: fake, map_over: [1, 2, 3], retries: 1, retry_delay: 1s}
  after: {op: fake, depends_on: [m]}
)");
  EXPECT_EQ(Execute(dag, 2), RunState::kFailed);
  EXPECT_EQ(StateOf("m[0]"), TaskState::kSuccess);
  EXPECT_EQ(StateOf("m[1]"), TaskState::kFailed);
  EXPECT_EQ(StateOf("m[2]"), TaskState::kSuccess);
  EXPECT_EQ(Tries("m[1]").size(), 2u);
  EXPECT_EQ(Tries("m[0]").size(), 1u);
  auto m = store_->GetTaskInstance(run_id_, "m");
  EXPECT_EQ(m->state, TaskState::kFailed);
  EXPECT_EQ(m->error, "1 of 3 instances failed");
  EXPECT_EQ(StateOf("after"), TaskState::kUpstreamFailed);
}

TEST_F(ExecutorTest, NoItemsSkipAndTooManyItemsFailTheMappedTask) {
  // Given an empty glob, then the task is skipped (and so is what needs it);
  // given more items than max_map_length, then it fails saying so and no
  // instance is made.
  DagSpec dag = Load(R"(dag: fan
tasks:
  none: {op: fake, map_over: {glob: "nothing/*.csv"}}
  after_none: {op: fake, depends_on: [none]}
  many: {op: fake, map_over: [a, b, c], max_map_length: 2}
)");
  EXPECT_EQ(Execute(dag, 2), RunState::kFailed);
  auto none = store_->GetTaskInstance(run_id_, "none");
  EXPECT_EQ(none->state, TaskState::kSkipped);
  EXPECT_EQ(none->error, "map_over has no items");
  EXPECT_EQ(StateOf("after_none"), TaskState::kSkipped);
  auto many = store_->GetTaskInstance(run_id_, "many");
  EXPECT_EQ(many->state, TaskState::kFailed);
  EXPECT_EQ(many->error, "task 'many': map_over gives 3 items, more than max_map_length 2");
  EXPECT_EQ(store_->GetTaskInstances(run_id_).size(), 3u);
  EXPECT_TRUE(fake_->starts().empty());
}

TEST_F(ExecutorTest, CancelEndsTheInstancesAndThenTheMappedTask) {
  fake_->Script("m[0]", {Outcome::kBlockUntilCancelled});
  fake_->Script("m[1]", {Outcome::kBlockUntilCancelled});
  DagSpec dag = Load("dag: fan\ntasks:\n  m: {op: fake, map_over: [a, b, c, d]}\n");
  Executor* executor = nullptr;
  class CancelWhenBothRun final : public RunObserver {
   public:
    explicit CancelWhenBothRun(Executor** ex) : ex_(ex) {}
    void OnRunState(const RunRecord&, RunState) override {}
    void OnTaskState(const TaskEvent& e) override {
      if (e.state == TaskState::kRunning && e.task_id != "m" && ++running_ == 2) {
        std::thread([this] { (*ex_)->Cancel(); }).detach();
      }
    }
   private:
    Executor** ex_;
    int running_ = 0;
  } cancel(&executor);
  EXPECT_EQ(Execute(dag, 2, &executor, &cancel), RunState::kCancelled);
  for (const char* t : {"m", "m[0]", "m[1]", "m[2]", "m[3]"}) EXPECT_EQ(StateOf(t), TaskState::kCancelled) << t;
}

TEST_F(ResumeTest, AMappedTaskResumesWithTheInstancesItHad) {
  // Given a crash while instance 1 of 3 ran (0 had succeeded, 2 was queued),
  // then the run resumes with the stored items: 1 runs again (lost, no retry
  // used), 2 runs, 0 does not, and the downstream task follows.
  DagSpec dag = Load(R"(dag: fan
tasks:
  m: {op: fake, map_over: [x, y, z]}
  after: {op: fake, depends_on: [m]}
)");
  RunRequest request = Crashed(dag);
  ASSERT_TRUE(store_->AddTaskInstances("crashed", "m", "", {{"m[0]", 1, 0, "x"}, {"m[1]", 1, 1, "y"}, {"m[2]", 1, 2, "z"}}));
  Drive(*store_, "crashed", "m", {{TaskState::kRunning, "mapped over 3 items"}});
  Drive(*store_, "crashed", "m[0]", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kSuccess, ""}});
  Drive(*store_, "crashed", "m[1]", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}});
  Drive(*store_, "crashed", "m[2]", {{TaskState::kQueued, ""}});
  EXPECT_EQ(Resume(request), RunState::kSuccess);
  auto starts = fake_->starts();
  std::sort(starts.begin(), starts.end());
  EXPECT_EQ(starts, (std::vector<std::string>{"after#1", "m[1]#2", "m[2]#1"}));
  EXPECT_EQ(StateOf("m"), TaskState::kSuccess);
}

INSTANTIATE_TEST_SUITE_P(Workers, RandomDagTest, testing::Values(1, 2, 3, 4, 8));

// A sensor whose condition holds from `met_at` on (by the executor's
// clock), checked again a minute after each check that found it unmet.
class FakeSensor final : public Operator {
 public:
  // `block_first`: the first check blocks until its try is cancelled (a
  // check a shutdown cuts off).
  explicit FakeSensor(TimePoint met_at, bool block_first = false) : met_at_(met_at), block_first_(block_first) {}
  std::string_view name() const override { return "sense"; }
  bool is_sensor() const override { return true; }
  void CheckArgs(const TaskSpec&, Diagnostics&) const override {}
  TaskResult Execute(TaskContext& ctx) const override {
    bool block = false;
    {
      std::lock_guard lock(mu_);
      checks_.push_back({ctx.Now(), ctx.try_number(), ctx.try_started_at()});
      block = block_first_ && checks_.size() == 1;
    }
    if (block) {
      pollfd p{ctx.cancel().fd(), POLLIN, 0};
      poll(&p, 1, -1);
    }
    if (ctx.Now() >= met_at_) return TaskResult::Success();
    return TaskResult::CheckAgainAt(ctx.Now() + std::chrono::minutes(1));
  }
  struct Seen {
    TimePoint at;
    int try_number;
    TimePoint try_started;
  };
  std::vector<Seen> checks() const {
    std::lock_guard lock(mu_);
    return checks_;
  }

 private:
  TimePoint met_at_;
  bool block_first_;
  mutable std::mutex mu_;
  mutable std::vector<Seen> checks_;
};

TEST_F(ExecutorTest, AWaitingSensorHoldsNoWorkerAndIsCheckedAgainOnTheClock) {
  // Given one worker, a sensor met 5 minutes in and a task beside it,
  auto sensor = std::make_unique<FakeSensor>(kStart + std::chrono::minutes(5));
  FakeSensor* s = sensor.get();
  ops_.Register(std::move(sensor));
  DagSpec dag = Load(R"(dag: sensing
tasks:
  arrived: {op: sense}
  beside: {op: fake}
  after: {op: fake, depends_on: [arrived]}
)");
  struct Starts final : RunObserver {
    void OnRunState(const RunRecord&, RunState) override {}
    void OnTaskState(const TaskEvent& e) override {
      if (e.task_id == "arrived" && e.state == TaskState::kRunning) seen.emplace_back(e.at, e.try_started);
    }
    std::vector<std::pair<TimePoint, std::optional<TimePoint>>> seen;
  } starts;
  EXPECT_EQ(Execute(dag, 1, nullptr, &starts), RunState::kSuccess);
  // then observers see one try start (begun at its `running`) and checks of it (begun before),
  ASSERT_EQ(starts.seen.size(), 6u);
  for (size_t i = 0; i < starts.seen.size(); ++i) {
    EXPECT_EQ(starts.seen[i].first, kStart + std::chrono::minutes(i));
    EXPECT_EQ(starts.seen[i].second, kStart);
  }
  // the task beside it ran at once (the sensor waited without the worker),
  EXPECT_EQ(store_->GetTaskInstance(run_id_, "beside")->ended_at, kStart);
  // the sensor was checked every minute by one try that spans its checks,
  std::vector<FakeSensor::Seen> checks = s->checks();
  ASSERT_EQ(checks.size(), 6u);
  for (size_t i = 0; i < checks.size(); ++i) {
    EXPECT_EQ(checks[i].at, kStart + std::chrono::minutes(i));
    EXPECT_EQ(checks[i].try_number, 1);
    EXPECT_EQ(checks[i].try_started, kStart);
  }
  std::vector<TaskTryRecord> tries = Tries("arrived");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kSuccess);
  EXPECT_EQ(tries[0].started_at, kStart);
  EXPECT_EQ(tries[0].ended_at, kStart + std::chrono::minutes(5));
  TaskInstanceRecord arrived = *store_->GetTaskInstance(run_id_, "arrived");
  EXPECT_EQ(arrived.try_number, 1);
  EXPECT_FALSE(arrived.next_try_at);
  int waits = 0;
  for (const TransitionRecord& t : store_->GetTransitions(run_id_)) {
    if (t.task_id == "arrived" && t.to_state == "waiting") {
      ++waits;
      EXPECT_EQ(t.try_number, 1);
    }
  }
  EXPECT_EQ(waits, 5);
  // and what waited for it ran after.
  EXPECT_EQ(store_->GetTaskInstance(run_id_, "after")->state, TaskState::kSuccess);
}

TEST_F(ExecutorTest, ATasksTimeoutSpansItsSensorsChecks) {
  // Given a sensor checked every minute that is never met and a task
  // timeout of 3 minutes (each check takes no time: a deadline per check
  // never came), then the try times out 3 minutes after its start.
  auto sensor = std::make_unique<FakeSensor>(kStart + std::chrono::hours(1));
  FakeSensor* s = sensor.get();
  ops_.Register(std::move(sensor));
  DagSpec dag = Load("dag: sensing\ntasks:\n  arrived: {op: sense, timeout: 3m}\n");
  EXPECT_EQ(Execute(dag, 1), RunState::kFailed);
  EXPECT_EQ(StateOf("arrived"), TaskState::kFailed);
  std::vector<TaskTryRecord> tries = Tries("arrived");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].error.rfind("timeout after 3m", 0), 0u) << tries[0].error;
  EXPECT_LE(s->checks().size(), 5u);
  EXPECT_LE(*tries[0].ended_at, kStart + std::chrono::minutes(3) + std::chrono::seconds(10));
}

TEST_F(ResumeTest, ASensorCheckCutOffByACrashGoesOnWithItsTry) {
  // Given a sensor whose check was running (try 1) in a process that died,
  auto sensor = std::make_unique<FakeSensor>(kStart);
  FakeSensor* s = sensor.get();
  ops_.Register(std::move(sensor));
  DagSpec dag = Load("dag: sensing\ntasks:\n  arrived: {op: sense}\n");
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "arrived", {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}});
  // then the next process checks again within the same try (no lost try, no new timeout).
  EXPECT_EQ(Resume(request), RunState::kSuccess);
  ASSERT_EQ(s->checks().size(), 1u);
  EXPECT_EQ(s->checks()[0].try_number, 1);
  EXPECT_EQ(s->checks()[0].try_started, kStart);
  std::vector<TaskTryRecord> tries = Tries("arrived");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kSuccess);
}

TEST_F(ExecutorTest, ASensorCheckCutOffByAShutdownWaitsAndGoesOnWithItsTry) {
  // Given a sensor whose first check outlives a shutdown's grace period,
  auto sensor = std::make_unique<FakeSensor>(kStart, /*block_first=*/true);
  FakeSensor* s = sensor.get();
  ops_.Register(std::move(sensor));
  DagSpec dag = Load("dag: d\ntasks:\n  arrived: {op: sense}\n");
  ExecutorOptions options;
  options.workers = 2;
  options.log_root = (dir_ / "logs").string();
  RunRequest request = NewRequest(dag, "drained");
  run_id_ = "drained";
  {
    Executor executor(*store_, ops_, clock_, options);
    DrainOnStart drain(executor, clock_);
    EXPECT_EQ(executor.Execute(request, &drain), RunState::kRunning);
  }
  // then it is left waiting with its try open (no lost try),
  EXPECT_EQ(StateOf("arrived"), TaskState::kWaiting);
  ASSERT_EQ(Tries("arrived").size(), 1u);
  EXPECT_FALSE(Tries("arrived")[0].ended_at);
  // and the next executor checks again within that try.
  request.run = *store_->GetRun("drained");
  request.create = false;
  Executor again(*store_, ops_, clock_, options);
  EXPECT_EQ(again.Execute(request, nullptr), RunState::kSuccess);
  ASSERT_EQ(s->checks().size(), 2u);
  EXPECT_EQ(s->checks()[1].try_number, 1);
  EXPECT_EQ(s->checks()[1].try_started, s->checks()[0].try_started);
  ASSERT_EQ(Tries("arrived").size(), 1u);
  EXPECT_EQ(Tries("arrived")[0].state, TaskState::kSuccess);
}

TEST_F(ResumeTest, AWaitingSensorTakenOverGoesOnWithItsTry) {
  // Given a sensor left waiting (try 1 open) by a process that died,
  auto sensor = std::make_unique<FakeSensor>(kStart);
  FakeSensor* s = sensor.get();
  ops_.Register(std::move(sensor));
  DagSpec dag = Load("dag: sensing\ntasks:\n  arrived: {op: sense}\n");
  RunRequest request = Crashed(dag);
  Drive(*store_, "crashed", "arrived",
        {{TaskState::kQueued, ""}, {TaskState::kRunning, ""}, {TaskState::kWaiting, ""}});
  ASSERT_EQ(Tries("arrived").size(), 1u);
  EXPECT_EQ(Tries("arrived")[0].state, TaskState::kWaiting);
  EXPECT_FALSE(Tries("arrived")[0].ended_at);
  // then the next process checks it again within the same try, which ends it.
  EXPECT_EQ(Resume(request), RunState::kSuccess);
  ASSERT_EQ(s->checks().size(), 1u);
  EXPECT_EQ(s->checks()[0].try_number, 1);
  std::vector<TaskTryRecord> tries = Tries("arrived");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kSuccess);
  EXPECT_EQ(store_->GetTaskInstance("crashed", "arrived")->try_number, 1);
}

}  // namespace
}  // namespace pipeline
