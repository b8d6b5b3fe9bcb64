#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"
#include "exec/fakes.h"
#include "store/upstream.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

TimePoint T(const char* iso) { return ParseIso8601(iso)->utc; }

class SchedulerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_sched");
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
    auto fake = std::make_unique<ScriptedOperator>();
    fake_ = fake.get();
    ops_.Register(std::move(fake));
    ExecutorOptions options;
    options.workers = 4;
    options.log_root = (dir_ / "logs").string();
    executor_ = std::make_unique<Executor>(*store_, ops_, clock_, options);
    SchedulerOptions sched;
    sched.heartbeat_every = hours(1000);  // the fake clock jumps to every wake
    sched.queued_poll = hours(1000);
    sched.run_lease = hours(3000);  // renewed every lease/3: no wake of its own
    scheduler_ = std::make_unique<Scheduler>(*store_, *executor_, loader_, clock_, sched);
  }
  void TearDown() override {
    if (scheduler_) scheduler_->Stop(Duration(0));
    scheduler_.reset();
    executor_.reset();
    fs::remove_all(dir_);
  }

  // Replaces the scheduler and its executor with those of a fresh process
  // (a stopped scheduler drains its executor) reporting to `observer`, loads
  // `files` and starts it.
  void Restart(const std::map<std::string, std::string>& files, RunObserver* observer = nullptr) {
    scheduler_.reset();
    ExecutorOptions options;
    options.workers = 4;
    options.log_root = (dir_ / "logs").string();
    executor_ = std::make_unique<Executor>(*store_, ops_, clock_, options);
    SchedulerOptions sched;
    sched.heartbeat_every = hours(1000);
    sched.queued_poll = hours(1000);
    sched.run_lease = hours(3000);  // renewed every lease/3: no wake of its own
    sched.observer = observer;
    scheduler_ = std::make_unique<Scheduler>(*store_, *executor_, loader_, clock_, sched);
    Dags(files);
    scheduler_->Start();
  }

  // Writes the DAG files and loads the folder into the scheduler.
  void Dags(const std::map<std::string, std::string>& files) {
    for (const auto& [name, text] : files) std::ofstream(dir_ / name) << text;
    scheduler_->SetDags(loader_.LoadFolder(dir_.string()));
  }

  // Waits (real time, bounded) until `done` holds.
  template <typename Pred>
  bool Eventually(Pred done) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  bool Ended(const std::string& run_id) {
    auto run = store_->GetRun(run_id);
    return run && IsTerminal(run->state);
  }

  std::vector<std::string> ScheduledDates() {
    RunFilter f;
    f.trigger = "scheduled";
    f.limit = 1000;
    std::vector<std::string> out;
    for (const RunRecord& r : store_->ListRuns(f)) out.insert(out.begin(), FormatIso8601(r.logical_date));
    return out;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  OperatorRegistry ops_;
  ScriptedOperator* fake_ = nullptr;
  DagLoader loader_{ops_};
  FakeClock clock_{T("2026-06-01T10:30:00Z")};
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Scheduler> scheduler_;
};

const char* kSimple = "dag: simple\nparams: {n: 1}\ntasks:\n  a: {op: fake}\n  b: {op: fake, depends_on: [a]}\n";

TEST_F(SchedulerTest, TriggerRunsTheDagAtOnce) {
  Dags({{"simple.yaml", kSimple}});
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("simple", {{"n", "5"}}, true);
  EXPECT_EQ(run.trigger, "manual");
  EXPECT_EQ(run.params_json, R"({"n":5})");
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kSuccess);
  EXPECT_EQ(fake_->starts(), (std::vector<std::string>{"a#1", "b#1"}));
}

TEST_F(SchedulerTest, TheHeartbeatIsStoredBeforeStartReturns) {
  // A trigger_dag task that waits judges by the heartbeat whether a
  // scheduler runs on the store: one made by the API's first request (right
  // after Start) saw none yet and failed, on a loaded CI.
  Dags({{"simple.yaml", kSimple}});
  EXPECT_FALSE(store_->GetMeta("scheduler_heartbeat"));
  scheduler_->Start();
  EXPECT_TRUE(store_->GetMeta("scheduler_heartbeat"));
}

TEST_F(SchedulerTest, LoopLagIsTheRealTimeOfATurnInMicroseconds) {
  // Given a turn that stores a heartbeat (microseconds of real time even
  // though the fake clock stands still), then the lag is above zero.
  Dags({{"simple.yaml", kSimple}});
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return scheduler_->LastHeartbeat().has_value(); }));
  ASSERT_TRUE(Eventually([&] { return scheduler_->Stats().loop_lag > std::chrono::microseconds(0); }));
  EXPECT_LT(scheduler_->Stats().loop_lag, std::chrono::seconds(10));
}

TEST_F(SchedulerTest, AnInvalidEditKeepsTheLastGoodVersionOfAFolderGivenRelative) {
  // Given the folder by a relative path (piped --dags dags), then a file
  // made invalid keeps its DAG loaded at its last good version, as with an
  // absolute one (the invalid file, as given, was compared with the DAG's
  // absolute file, and the DAG dropped out).
  struct Back {  // to the working directory whatever happens
    fs::path cwd = fs::current_path();
    ~Back() { fs::current_path(cwd); }
  } back;
  fs::current_path(dir_.parent_path());
  const std::string relative = dir_.filename().string();
  std::ofstream(dir_ / "simple.yaml") << kSimple;
  scheduler_->SetDags(loader_.LoadFolder(relative));
  std::ofstream(dir_ / "simple.yaml") << "dag: simple\ntasks:\n  a: {op: shel}\n";
  FolderLoadResult broken = loader_.LoadFolder(relative);
  scheduler_->SetDags(broken);  // (in the same folder, as piped)
  fs::current_path(back.cwd);
  ASSERT_EQ(broken.invalid_files.size(), 1u);
  EXPECT_EQ(scheduler_->Trigger("simple", {}, true).dag_version, 1);
}

TEST_F(SchedulerTest, TriggerRefusesUnknownDagsAndParams) {
  Dags({{"simple.yaml", kSimple}});
  try {
    scheduler_->Trigger("nope", {}, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
  try {
    scheduler_->Trigger("simple", {{"m", "1"}}, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()), "unknown parameter 'm' for DAG 'simple' (known: n)");
  }
}

TEST_F(SchedulerTest, CronFiresEveryTickOnTheClock) {
  // Given an hourly DAG, when the (fake) clock runs on, then one run per
  // hour is created, at exactly each tick, with its data interval. Each try
  // holds its slot past the fake clock's next jump (50 ms of real time), as a
  // slow machine does: with room for several runs, no tick waits on the last
  // run (with max_active_runs 1 and no catchup, a tick met while the last
  // run is still active is skipped, by design).
  fake_->set_hold_ms(120);
  Dags({{"hourly.yaml", "dag: hourly\nschedule: '@hourly'\nstart_date: 2026-06-01T00:00:00Z\n"
                        "max_active_runs: 8\ntasks:\n  a: {op: fake}\n"}});
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return ScheduledDates().size() >= 4; }));
  scheduler_->Stop(Duration(0));
  auto dates = ScheduledDates();
  EXPECT_EQ(std::vector<std::string>(dates.begin(), dates.begin() + 4),
            (std::vector<std::string>{"2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z",
                                      "2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z"}));
  RunFilter f;
  f.trigger = "scheduled";
  f.limit = 1000;
  RunRecord first = store_->ListRuns(f).back();
  EXPECT_EQ(FormatIso8601(first.data_interval_start), "2026-06-01T09:00:00Z");
  EXPECT_EQ(FormatIso8601(first.data_interval_end), "2026-06-01T10:00:00Z");
}

TEST_F(SchedulerTest, CatchupCreatesEveryMissedTickOldestFirst) {
  Dags({{"c.yaml", "dag: c\nschedule: '@hourly'\nstart_date: 2026-06-01T06:00:00Z\ncatchup: true\n"
                   "max_active_runs: 16\ntasks:\n  a: {op: fake}\n"}});
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return ScheduledDates().size() >= 5; }));
  auto dates = ScheduledDates();
  EXPECT_EQ(std::vector<std::string>(dates.begin(), dates.begin() + 5),
            (std::vector<std::string>{"2026-06-01T06:00:00Z", "2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z",
                                      "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"}));
}

TEST_F(SchedulerTest, CatchingUpOneRunAtATimeMakesTheNextRunAsSoonAsOneEnds) {
  // Given five missed hourly ticks (06:00 to 10:00; the clock reads 10:30)
  // and room for one run at a time, then each run is made when the one
  // before it ends, not at the next wake-up (the fake clock jumps to each
  // wake-up: it would read 11:00 or later before the last one).
  Dags({{"c.yaml", "dag: c\nschedule: '@hourly'\nstart_date: 2026-06-01T06:00:00Z\ncatchup: true\n"
                   "max_active_runs: 1\ntasks:\n  a: {op: fake}\n"}});
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return ScheduledDates().size() >= 5; }));
  EXPECT_LT(clock_.Now(), T("2026-06-01T11:00:00Z")) << FormatIso8601(clock_.Now());
  auto dates = ScheduledDates();
  EXPECT_EQ(std::vector<std::string>(dates.begin(), dates.begin() + 5),
            (std::vector<std::string>{"2026-06-01T06:00:00Z", "2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z",
                                      "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"}));
}

TEST_F(SchedulerTest, OneRunPerTickAcrossRestarts) {
  // Given a scheduler that made the 10:00 run, then a second one at the same
  // instant makes none.
  const char* dag = "dag: h\nschedule: '0 10 * * *'\nstart_date: 2026-01-01\ntasks:\n  a: {op: fake}\n";
  Dags({{"h.yaml", dag}});
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return ScheduledDates().size() == 1; }));
  scheduler_->Stop(Duration(0));
  SchedulerOptions sched;
  sched.heartbeat_every = hours(1000);
  sched.queued_poll = hours(1000);
  sched.run_lease = hours(3000);  // renewed every lease/3: no wake of its own
  FakeClock same_time{T("2026-06-01T10:30:00Z")};
  Scheduler again(*store_, *executor_, loader_, same_time, sched);
  again.SetDags(loader_.LoadFolder(dir_.string()));
  again.Start();
  again.Poke();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  again.Stop(Duration(0));
  EXPECT_EQ(ScheduledDates(), (std::vector<std::string>{"2026-06-01T10:00:00Z"}));
}

TEST_F(SchedulerTest, MaxActiveRunsQueuesAndConflicts) {
  fake_->Script("a", {Outcome::kBlockUntilCancelled});
  Dags({{"one.yaml", "dag: one\ntasks:\n  a: {op: fake}\n"}});
  scheduler_->Start();
  RunRecord first = scheduler_->Trigger("one", {}, true);
  RunRecord second = scheduler_->Trigger("one", {}, true);
  ASSERT_TRUE(Eventually([&] { return store_->GetRun(first.run_id)->state == RunState::kRunning; }));
  EXPECT_EQ(store_->GetRun(second.run_id)->state, RunState::kQueued);
  try {
    scheduler_->Trigger("one", {}, false);
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
  }
  // Cancelling the first frees its slot: the second starts at once.
  EXPECT_TRUE(scheduler_->Cancel(first.run_id));
  ASSERT_TRUE(Eventually([&] { return store_->GetRun(second.run_id)->state == RunState::kRunning; }));
  EXPECT_EQ(store_->GetRun(first.run_id)->state, RunState::kCancelled);
  EXPECT_TRUE(scheduler_->Cancel(second.run_id));
  ASSERT_TRUE(Eventually([&] { return Ended(second.run_id); }));
  EXPECT_FALSE(scheduler_->Cancel(second.run_id));  // already ended
}

TEST_F(SchedulerTest, CancelQueuedRunAndPause) {
  Dags({{"simple.yaml", kSimple}});
  scheduler_->SetPaused("simple", true);
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("simple", {}, true);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kQueued);  // paused: not started
  EXPECT_TRUE(scheduler_->Cancel(run.run_id));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kCancelled);
  EXPECT_EQ(store_->GetTaskInstance(run.run_id, "a")->state, TaskState::kCancelled);
  RunRecord later = scheduler_->Trigger("simple", {}, true);
  scheduler_->SetPaused("simple", false);
  ASSERT_TRUE(Eventually([&] { return Ended(later.run_id); }));
  EXPECT_EQ(store_->GetRun(later.run_id)->state, RunState::kSuccess);
}

TEST_F(SchedulerTest, BackfillCreatesMissingTicks) {
  Dags({{"d.yaml", "dag: d\nschedule: '@daily'\nstart_date: 2026-01-01\nmax_active_runs: 3\ntasks:\n  a: {op: fake}\n"}});
  auto runs = scheduler_->Backfill("d", T("2026-02-01T00:00:00Z"), T("2026-02-05T00:00:00Z"), false);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(FormatIso8601(runs[0].logical_date), "2026-02-01T00:00:00Z");
  EXPECT_EQ(FormatIso8601(runs[0].data_interval_start), "2026-01-31T00:00:00Z");
  int skipped = -1;
  EXPECT_TRUE(scheduler_->Backfill("d", T("2026-02-01T00:00:00Z"), T("2026-02-05T00:00:00Z"), false, &skipped).empty());
  EXPECT_EQ(skipped, 5);
  EXPECT_EQ(scheduler_->Backfill("d", T("2026-02-04T00:00:00Z"), T("2026-02-05T00:00:00Z"), true).size(), 2u);
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] {
    for (const RunRecord& r : runs) if (!Ended(r.run_id)) return false;
    return true;
  }));
  try {
    scheduler_->Backfill("d", T("2026-02-05T00:00:00Z"), T("2026-02-01T00:00:00Z"), false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "backfill: from (2026-02-05T00:00:00Z) is after to (2026-02-01T00:00:00Z)");
  }
  // A range wholly before the DAG's start_date says so (it said "0 runs").
  try {
    scheduler_->Backfill("d", T("2025-01-01T00:00:00Z"), T("2025-12-31T00:00:00Z"), false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "backfill: the range ends before the DAG's start_date 2026-01-01T00:00:00Z: it has no tick there");
  }
}

TEST_F(SchedulerTest, ABackfilledTickIsNotScheduledAgainAndTheFutureIsNotBackfilled) {
  // Given a catch-up DAG whose 08:00 and 09:00 ticks a backfill made, then
  // the scheduler makes the others and passes over those (one run per
  // tick); a backfill reaching past now is refused.
  Dags({{"c.yaml", "dag: c\nschedule: '@hourly'\nstart_date: 2026-06-01T06:00:00Z\ncatchup: true\n"
                   "max_active_runs: 16\ntasks:\n  a: {op: fake}\n"}});
  ASSERT_EQ(scheduler_->Backfill("c", T("2026-06-01T08:00:00Z"), T("2026-06-01T09:00:00Z"), false).size(), 2u);
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return ScheduledDates().size() >= 3; }));
  auto dates = ScheduledDates();  // (the fake clock moves on to each wake: 11:00 may follow)
  EXPECT_EQ(std::vector<std::string>(dates.begin(), dates.begin() + 3),
            (std::vector<std::string>{"2026-06-01T06:00:00Z", "2026-06-01T07:00:00Z", "2026-06-01T10:00:00Z"}));
  try {
    scheduler_->Backfill("c", T("2026-06-01T10:00:00Z"), T("2027-01-01T00:00:00Z"), false);
    FAIL() << "a backfill of the future was taken";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("backfill: to (2027-01-01T00:00:00Z) is in the future (now 2026-06-01T", 0), 0u)
        << e.what();
  }
}

// Run "left" of DAG simple, left running by a coordinator that died while
// its task `a` ran try 1 (worker "dead:1").
void LeaveRunRunning(StateStore& store, TimePoint at) {
  RunRecord run;
  run.run_id = "left";
  run.dag_id = "simple";
  run.dag_version = 1;
  run.trigger = "manual";
  run.params_json = "{\"n\":1}";
  store.CreateRun(run, {{"a", 1}, {"b", 1}});
  store.TransitionRun("left", {RunState::kQueued}, RunState::kRunning, at, "");
  TaskTransition t;
  t.run_id = "left";
  t.task_id = "a";
  t.from = {TaskState::kPending};
  t.to = TaskState::kQueued;
  store.TransitionTask(t);
  t.from = {TaskState::kQueued};
  t.to = TaskState::kRunning;
  t.worker = "dead:1";
  store.TransitionTask(t);
}

TEST_F(SchedulerTest, StartResumesRunsLeftRunning) {
  Dags({{"simple.yaml", kSimple}});
  LeaveRunRunning(*store_, clock_.Now());
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return Ended("left"); }));
  EXPECT_EQ(store_->GetRun("left")->state, RunState::kSuccess);
  EXPECT_EQ(store_->GetTries("left", "a").size(), 2u);
}

TEST_F(SchedulerTest, ARunTakenOverWithACancelAskedIsCancelledStartingNothing) {
  // Given a run left running by a dead coordinator, with a cancel asked of it
  // through the store, then the scheduler taking it over cancels it and
  // starts no new try (it started one, then cancelled it).
  Dags({{"simple.yaml", kSimple}});
  LeaveRunRunning(*store_, clock_.Now());
  ASSERT_TRUE(store_->RequestRunCancel("left"));
  scheduler_->Start();
  ASSERT_TRUE(Eventually([&] { return Ended("left"); }));
  EXPECT_EQ(store_->GetRun("left")->state, RunState::kCancelled);
  EXPECT_EQ(store_->GetTries("left", "a").size(), 1u);
  EXPECT_TRUE(fake_->starts().empty());
}

TEST_F(SchedulerTest, ClearRunsTasksAgain) {
  Dags({{"simple.yaml", kSimple}});
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("simple", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  RunRecord cleared = scheduler_->Clear(run.run_id, "a", true);
  EXPECT_NE(cleared.state, RunState::kSuccess);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kSuccess);
  EXPECT_EQ(fake_->starts(), (std::vector<std::string>{"a#1", "b#1", "a#2", "b#2"}));
  try {
    scheduler_->Clear(run.run_id, "zz", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST_F(SchedulerTest, ClearGivesATaskItsRetriesAgain) {
  // Given a task with one retry that failed both its tries, clearing it gives
  // it one try and one retry again (Airflow: max_tries = try_number +
  // retries), not a single try with no retry.
  Dags({{"retry.yaml", "dag: retry\ntasks:\n  a: {op: fake, retries: 1, retry_delay: 1s}\n"}});
  fake_->Script("a", {Outcome::kFail});  // every try fails
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("retry", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  ASSERT_EQ(store_->GetRun(run.run_id)->state, RunState::kFailed);
  EXPECT_EQ(store_->GetTaskInstances(run.run_id)[0].max_tries, 2);
  scheduler_->Clear(run.run_id, "a", false);
  EXPECT_EQ(store_->GetTaskInstances(run.run_id)[0].max_tries, 4);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kFailed);
  EXPECT_EQ(fake_->starts(), (std::vector<std::string>{"a#1", "a#2", "a#3", "a#4"}));
  TaskInstanceRecord a = store_->GetTaskInstances(run.run_id)[0];
  EXPECT_EQ(a.try_number, 4);
  EXPECT_EQ(a.max_tries, 4);
}

TEST_F(SchedulerTest, ClearingAMappedTaskRunsItsInstancesAgain) {
  // Given a run whose mapped task ran two instances, then clearing the task
  // clears its instances too: each runs again (over the same items), and
  // so does the downstream task.
  Dags({{"fan.yaml", "dag: fan\ntasks:\n  m: {op: fake, map_over: [x, y]}\n  after: {op: fake, depends_on: [m]}\n"}});
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("fan", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  scheduler_->Clear(run.run_id, "m", true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kSuccess);
  std::vector<std::string> starts = fake_->starts();
  std::sort(starts.begin(), starts.end());
  EXPECT_EQ(starts, (std::vector<std::string>{"after#1", "after#2", "m[0]#1", "m[0]#2", "m[1]#1", "m[1]#2"}));
  EXPECT_EQ(store_->GetTaskInstances(run.run_id).size(), 4u);
}

TEST_F(SchedulerTest, ClearingOneInstanceOfAMappedTaskRunsItAloneAgain) {
  // Given a run whose mapped task ran three instances, then clearing m[1]
  // (with downstream) runs that instance again, not the others, then the
  // task after; m ends again with its instances.
  Dags({{"fan.yaml", "dag: fan\ntasks:\n  m: {op: fake, map_over: [x, y, z]}\n  after: {op: fake, depends_on: [m]}\n"}});
  scheduler_->Start();
  RunRecord run = scheduler_->Trigger("fan", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  scheduler_->Clear(run.run_id, "m[1]", true);
  ASSERT_TRUE(Eventually([&] { return Ended(run.run_id); }));
  EXPECT_EQ(store_->GetRun(run.run_id)->state, RunState::kSuccess);
  std::vector<std::string> starts = fake_->starts();
  std::sort(starts.begin(), starts.end());
  EXPECT_EQ(starts, (std::vector<std::string>{"after#1", "after#2", "m[0]#1", "m[1]#1", "m[1]#2", "m[2]#1"}));
  EXPECT_EQ(store_->GetTaskInstance(run.run_id, "m")->state, TaskState::kSuccess);
  EXPECT_EQ(store_->GetTaskInstance(run.run_id, "m[1]")->try_number, 2);
  EXPECT_EQ(store_->GetTaskInstance(run.run_id, "m[0]")->try_number, 1);
  // An instance the run does not have, or an index on a task not mapped, is not there.
  for (const char* id : {"m[7]", "after[0]"}) {
    try {
      scheduler_->Clear(run.run_id, id, false);
      ADD_FAILURE() << id;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kNotFound) << id;
      EXPECT_EQ(std::string(e.what()), "run '" + run.run_id + "' has no task '" + id + "'");
    }
  }
}

TEST_F(SchedulerTest, InvalidEditKeepsTheLastGoodVersion) {
  Dags({{"simple.yaml", kSimple}});
  EXPECT_EQ(scheduler_->Dag("simple")->version, 1);
  Dags({{"simple.yaml", "dag: simple\ntasks:\n  a: {op: fake, depends_on: [zz]}\n"}});
  EXPECT_EQ(scheduler_->Dag("simple")->version, 1);
  ASSERT_EQ(scheduler_->LoadErrors().size(), 1u);
  Dags({{"simple.yaml", "dag: simple\ntasks:\n  a: {op: fake}\n"}});
  EXPECT_EQ(scheduler_->Dag("simple")->version, 2);
  EXPECT_TRUE(scheduler_->LoadErrors().empty());
}

}  // namespace
}  // namespace pipeline

namespace pipeline {
namespace {

// Counts the SLA misses a scheduler reports.
class SlaRecorder final : public RunObserver {
 public:
  void OnRunState(const RunRecord&, RunState) override {}
  void OnTaskState(const TaskEvent&) override {}
  void OnSlaMiss(const SlaMissRecord& miss) override {
    std::lock_guard lock(mu_);
    misses_.push_back(miss);
  }
  std::vector<SlaMissRecord> misses() {
    std::lock_guard lock(mu_);
    return misses_;
  }

 private:
  std::mutex mu_;
  std::vector<SlaMissRecord> misses_;
};

TEST_F(SchedulerTest, AnSlaMissUnderAFakeClockFiresOnceAcrossTurnsAndRestarts) {
  // Given an hourly DAG from 11:00 on (the clock says 10:30) whose `slow`
  // task never ends (sla 30m), whose `quick` task ends at once (sla 10m) and
  // whose runs have a 45m deadline,
  const char* dag =
      "dag: late\nschedule: '@hourly'\nstart_date: 2026-06-01T11:00:00Z\ndeadline: 45m\n"
      "tasks:\n  slow: {op: fake, sla: 30m}\n  quick: {op: fake, sla: 10m}\n";
  fake_->Script("slow", {Outcome::kBlockUntilCancelled});
  auto start = [&](RunObserver* observer) { Restart({{"late.yaml", dag}}, observer); };
  SlaRecorder seen, again;
  struct StopFirst {  // the scheduler reports to the recorders: it goes first
    std::unique_ptr<Scheduler>& scheduler;
    ~StopFirst() { scheduler.reset(); }
  } stop_first{scheduler_};
  start(&seen);
  // when the clock passes 11:00 (the run), 11:30 (slow's SLA) and 11:45 (the
  // deadline) and goes on for hours of turns,
  ASSERT_TRUE(Eventually([&] { return clock_.Now() >= T("2026-06-01T15:00:00Z"); }));
  // then each miss was recorded and reported once, at its due time, and the
  // task that ended in time missed nothing.
  std::vector<SlaMissRecord> misses = seen.misses();
  auto shown = [&] {
    std::string out;
    for (const SlaMissRecord& m : misses) {
      out += m.run_id + "/" + m.task_id + " due " + FormatIso8601(m.due) + " at " + FormatIso8601(m.detected_at) +
             " " + m.state + "\n";
    }
    return out;
  };
  ASSERT_EQ(misses.size(), 2u) << shown();
  EXPECT_EQ(misses[0].task_id, "slow");
  EXPECT_EQ(misses[0].due, T("2026-06-01T11:30:00Z"));
  EXPECT_EQ(misses[0].detected_at, T("2026-06-01T11:30:00Z"));
  EXPECT_EQ(misses[0].state, "running");
  EXPECT_EQ(misses[0].dag_id, "late");
  EXPECT_EQ(misses[1].task_id, "");
  EXPECT_EQ(misses[1].due, T("2026-06-01T11:45:00Z"));
  EXPECT_EQ(misses[1].state, "running");
  EXPECT_EQ(store_->ListSlaMisses("late", "", 10).size(), 2u);
  const std::string run_id = misses[0].run_id;

  // Given a restarted scheduler that takes the run up again, when its clock
  // runs on, then the misses already recorded are not reported again.
  start(&again);
  const TimePoint later = clock_.Now() + hours(3);
  ASSERT_TRUE(Eventually([&] { return clock_.Now() >= later; }));
  EXPECT_TRUE(again.misses().empty());
  EXPECT_EQ(store_->ListSlaMisses("", run_id, 10).size(), 2u);
}

}  // namespace
}  // namespace pipeline

namespace pipeline {
namespace {

TEST_F(SchedulerTest, AnAfterScheduleRunsOncePerNewUpstreamSuccessNotOnFailureAndAcrossRestarts) {
  // Given DAG `down` that comes after up.load,
  const std::map<std::string, std::string> dags = {
      {"up.yaml", "dag: up\ntasks:\n  load: {op: fake}\n"},
      {"down.yaml", "dag: down\nschedule: {after: [up.load]}\ntasks:\n  use: {op: fake}\n"}};
  auto start = [&] { Restart(dags); };
  auto down_runs = [&] {
    RunFilter f;
    f.dag_id = "down";
    f.limit = 100;
    std::vector<RunRecord> runs = store_->ListRuns(f);
    std::reverse(runs.begin(), runs.end());  // oldest first
    return runs;
  };
  auto settle = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
  start();
  settle();
  EXPECT_TRUE(down_runs().empty());  // nothing upstream yet

  // when up.load succeeds, then one run of down starts, naming that run;
  RunRecord first = scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return down_runs().size() == 1 && Ended(down_runs()[0].run_id); }));
  settle();
  std::vector<RunRecord> runs = down_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].trigger, "upstream");
  EXPECT_EQ(store_->GetRun(runs[0].run_id)->state, RunState::kSuccess);
  EXPECT_EQ(UpstreamRunOf(runs[0], "up"), first.run_id);
  const TimePoint load_end = *store_->GetTaskInstance(first.run_id, "load")->ended_at;
  EXPECT_EQ(runs[0].logical_date, load_end);
  EXPECT_EQ(runs[0].data_interval_start, FromMicros(0));  // the first: everything up to it
  EXPECT_EQ(UpstreamRunOf(runs[0], "other"), "");

  // when up fails, then nothing starts;
  fake_->Script("load", {Outcome::kFail});
  RunRecord failed = scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(failed.run_id); }));
  settle();
  EXPECT_EQ(down_runs().size(), 1u);

  // and after a restart the success already consumed starts nothing, while
  // the next success starts one run that covers the time since the last.
  start();
  settle();
  EXPECT_EQ(down_runs().size(), 1u);
  fake_->Script("load", {Outcome::kSucceed});
  RunRecord third = scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return down_runs().size() == 2 && Ended(down_runs()[1].run_id); }));
  settle();
  runs = down_runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(UpstreamRunOf(runs[1], "up"), third.run_id);
  EXPECT_EQ(runs[1].data_interval_start, runs[0].logical_date);
  EXPECT_EQ(runs[1].data_interval_end, runs[1].logical_date);
  UpstreamStates states = ReadUpstreamStates(*store_, "down", {"up.load"});
  ASSERT_EQ(states.upstream.size(), 1u);
  EXPECT_FALSE(states.upstream[0].fresh());
  EXPECT_EQ(states.upstream[0].consumed->run_id, third.run_id);

  // A run of down made otherwise (by hand) after a success consumes it too
  // (the contract: "succeeded again since this DAG's last run"): no run
  // starts for it, and the next success starts one.
  scheduler_->SetPaused("down", true);
  clock_.Advance(std::chrono::minutes(1));
  RunRecord fourth = scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return Ended(fourth.run_id); }));
  clock_.Advance(std::chrono::minutes(1));
  RunRecord by_hand = scheduler_->Trigger("down", {}, true);
  scheduler_->SetPaused("down", false);
  ASSERT_TRUE(Eventually([&] { return Ended(by_hand.run_id); }));
  settle();
  EXPECT_EQ(down_runs().size(), 3u);  // the two upstream runs and the one by hand
  states = ReadUpstreamStates(*store_, "down", {"up.load"});
  EXPECT_FALSE(states.upstream[0].fresh());
  EXPECT_EQ(states.upstream[0].since, by_hand.created_at);
  clock_.Advance(std::chrono::minutes(1));
  RunRecord fifth = scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return down_runs().size() == 4 && Ended(down_runs()[3].run_id); }));
  EXPECT_EQ(UpstreamRunOf(down_runs()[3], "up"), fifth.run_id);
}

TEST_F(SchedulerTest, AnAfterScheduleKeepsToTheDagsStartAndEndDates) {
  // Given three DAGs after up.load (the clock reads 2026-06-01): one ended
  // in May, one that starts in July, one without dates,
  const std::map<std::string, std::string> dags = {
      {"up.yaml", "dag: up\ntasks:\n  load: {op: fake}\n"},
      {"ended.yaml", "dag: ended\nschedule: {after: [up.load]}\nend_date: 2026-05-01\ntasks:\n  use: {op: fake}\n"},
      {"later.yaml", "dag: later\nschedule: {after: [up.load]}\nstart_date: 2026-07-01\ntasks:\n  use: {op: fake}\n"},
      {"open.yaml", "dag: open\nschedule: {after: [up.load]}\ntasks:\n  use: {op: fake}\n"}};
  Restart(dags);
  auto runs_of = [&](const std::string& dag) {
    RunFilter f;
    f.dag_id = dag;
    return store_->ListRuns(f).size();
  };
  // when up.load succeeds, then only the DAG without dates runs (an upstream
  // success outside a DAG's dates starts nothing, as its ticks would not).
  scheduler_->Trigger("up", {}, true);
  ASSERT_TRUE(Eventually([&] { return runs_of("open") == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(runs_of("ended"), 0u);
  EXPECT_EQ(runs_of("later"), 0u);
}

}  // namespace
}  // namespace pipeline
