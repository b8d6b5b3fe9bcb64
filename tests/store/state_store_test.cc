#include "store/state_store_test.h"

#include <set>
#include <thread>

#include "core/dag_spec.h"
#include "core/error.h"

namespace pipeline {
namespace {

TimePoint At(int seconds) { return FromMicros(int64_t{1'800'000'000} * 1'000'000 + seconds * 1'000'000LL); }

DagSpec Dag(const std::string& id, const std::string& hash) {
  DagSpec d;
  d.id = id;
  d.file = "/dags/" + id + ".yaml";
  d.source = "dag: " + id;
  d.content_hash = hash;
  return d;
}

RunRecord MakeRun(const std::string& run_id, const std::string& dag_id, int created) {
  RunRecord r;
  r.run_id = run_id;
  r.dag_id = dag_id;
  r.dag_version = 1;
  r.trigger = "manual";
  r.logical_date = r.data_interval_start = r.data_interval_end = At(created);
  r.params_json = R"({"a":1})";
  r.created_at = At(created);
  return r;
}

TaskTransition Move(const std::string& run, const std::string& task, std::vector<TaskState> from,
                    TaskState to, int at) {
  TaskTransition t;
  t.run_id = run;
  t.task_id = task;
  t.from = std::move(from);
  t.to = to;
  t.at = At(at);
  return t;
}

TEST_P(StateStoreTest, ReportsCurrentSchemaVersion) {
  EXPECT_EQ(store_->schema_version(), kSchemaVersion);
}

TEST_P(StateStoreTest, DagVersionsChangeOnlyWithContent) {
  // Given the same content twice then new content, then versions 1, 1, 2.
  EXPECT_EQ(store_->PutDagVersion(Dag("d", "h1"), At(1)), 1);
  EXPECT_EQ(store_->PutDagVersion(Dag("d", "h1"), At(2)), 1);
  EXPECT_EQ(store_->PutDagVersion(Dag("d", "h2"), At(3)), 2);
  auto dag = store_->GetDag("d");
  ASSERT_TRUE(dag);
  EXPECT_EQ(dag->latest_version, 2);
  EXPECT_FALSE(dag->paused);
  auto v1 = store_->GetDagVersion("d", 1);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->content_hash, "h1");
  EXPECT_EQ(v1->source, "dag: d");
  EXPECT_EQ(v1->created_at, At(1));
  EXPECT_FALSE(store_->GetDagVersion("d", 3));
  EXPECT_FALSE(store_->GetDag("missing"));
  std::vector<DagVersionRecord> versions = store_->ListDagVersions("d");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 2);
  EXPECT_EQ(versions[0].content_hash, "h2");
  EXPECT_EQ(versions[0].created_at, At(3));
  EXPECT_EQ(versions[0].source, "");  // listed without their texts
  EXPECT_EQ(versions[1].version, 1);
  EXPECT_TRUE(store_->ListDagVersions("missing").empty());
}

TEST_P(StateStoreTest, ListsAndPausesDags) {
  store_->PutDagVersion(Dag("b", "x"), At(1));
  store_->PutDagVersion(Dag("a", "y"), At(1));
  auto dags = store_->ListDags();
  ASSERT_EQ(dags.size(), 2u);
  EXPECT_EQ(dags[0].dag_id, "a");
  EXPECT_TRUE(store_->SetPaused("a", true));
  EXPECT_TRUE(store_->GetDag("a")->paused);
  EXPECT_FALSE(store_->SetPaused("missing", true));
}

TEST_P(StateStoreTest, CreatesRunsWithPendingTasks) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}, {"b", 3}});
  auto run = store_->GetRun("r1");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->state, RunState::kQueued);
  EXPECT_EQ(run->params_json, R"({"a":1})");
  EXPECT_EQ(run->created_at, At(10));
  EXPECT_FALSE(run->started_at);
  auto tasks = store_->GetTaskInstances("r1");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].task_id, "a");
  EXPECT_EQ(tasks[0].state, TaskState::kPending);
  EXPECT_EQ(tasks[1].max_tries, 3);
  EXPECT_EQ(tasks[1].try_number, 0);
  EXPECT_EQ(tasks[1].metrics_json, "{}");
  EXPECT_FALSE(store_->GetRun("r2"));
  EXPECT_EQ(run->rerun_of, "");
  // A rerun names the run it repeats, read back by GetRun and ListRuns.
  // A run a trigger_dag task made names that task, alike.
  RunRecord again = MakeRun("r3", "d", 11);
  again.rerun_of = "r1";
  again.triggered_by = "r0/kick";
  store_->CreateRun(again, {{"a", 1}});
  EXPECT_EQ(store_->GetRun("r3")->rerun_of, "r1");
  EXPECT_EQ(store_->GetRun("r3")->triggered_by, "r0/kick");
  RunFilter filter;
  filter.dag_id = "d";
  std::vector<RunRecord> listed = store_->ListRuns(filter);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].rerun_of, "r1");  // newest first
  EXPECT_EQ(listed[0].triggered_by, "r0/kick");
  EXPECT_EQ(listed[1].rerun_of, "");
  EXPECT_EQ(listed[1].triggered_by, "");
}

TEST_P(StateStoreTest, AClearSetsAnInstancesMaxTries) {
  // Given a task that failed its one try, a transition back to pending that
  // carries max_tries (a clear) sets it; one that carries none keeps it.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  ASSERT_TRUE(store_->TransitionTask(Move("r1", "a", {TaskState::kPending}, TaskState::kRunning, 11)));
  ASSERT_TRUE(store_->TransitionTask(Move("r1", "a", {TaskState::kRunning}, TaskState::kFailed, 12)));
  TaskTransition clear = Move("r1", "a", {TaskState::kFailed}, TaskState::kPending, 13);
  clear.max_tries = 3;
  ASSERT_TRUE(store_->TransitionTask(clear));
  TaskInstanceRecord a = store_->GetTaskInstances("r1")[0];
  EXPECT_EQ(a.max_tries, 3);
  EXPECT_EQ(a.try_number, 1);
  ASSERT_TRUE(store_->TransitionTask(Move("r1", "a", {TaskState::kPending}, TaskState::kRunning, 14)));
  EXPECT_EQ(store_->GetTaskInstances("r1")[0].max_tries, 3);
  EXPECT_EQ(store_->GetTaskInstances("r1")[0].try_number, 2);
}

TEST_P(StateStoreTest, InstancesOfAMappedTaskAreAddedAfterItInIndexOrder) {
  // Given a mapped task reached at run time, then its instances are listed
  // right after it (by index, not by id: m[10] after m[9]), keep their item,
  // move like any task, and adding them again keeps what exists.
  RunRecord run = MakeRun("r1", "d", 10);
  run.state = RunState::kRunning;
  run.coordinator = "s1";
  store_->CreateRun(run, {{"a", 1}, {"m", 2}, {"z", 1}});
  std::vector<NewTaskInstance> instances;
  for (int i = 0; i < 12; ++i) instances.push_back({"m[" + std::to_string(i) + "]", 2, i, "item " + std::to_string(i)});
  EXPECT_FALSE(store_->AddTaskInstances("r1", "m", "s2", instances));  // not its coordinator
  EXPECT_FALSE(store_->AddTaskInstances("r1", "nope", "s1", instances));
  EXPECT_EQ(store_->GetTaskInstances("r1").size(), 3u);
  ASSERT_TRUE(store_->AddTaskInstances("r1", "m", "s1", instances));
  EXPECT_TRUE(store_->TransitionTasks({Move("r1", "m[10]", {TaskState::kPending}, TaskState::kQueued, 11)}));
  ASSERT_TRUE(store_->AddTaskInstances("r1", "m", "", instances));  // again: nothing changes
  auto tasks = store_->GetTaskInstances("r1");
  ASSERT_EQ(tasks.size(), 15u);
  EXPECT_EQ(tasks[0].task_id, "a");
  EXPECT_EQ(tasks[1].task_id, "m");
  EXPECT_FALSE(tasks[1].map_index);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(tasks[2 + i].task_id, "m[" + std::to_string(i) + "]");
    EXPECT_EQ(tasks[2 + i].map_index, i);
    EXPECT_EQ(tasks[2 + i].map_item, "item " + std::to_string(i));
    EXPECT_EQ(tasks[2 + i].max_tries, 2);
  }
  EXPECT_EQ(tasks[12].state, TaskState::kQueued);
  EXPECT_EQ(tasks[14].task_id, "z");
}

TEST_P(StateStoreTest, TransitionsOfEveryRunAreListedAfterAnId) {
  // Given two runs of two DAGs and some task moves, then the transitions
  // after an id come oldest first with their DAG, at most `limit`.
  EXPECT_EQ(store_->LatestTransitionId(), 0);
  store_->CreateRun(MakeRun("r1", "d1", 10), {{"a", 1}});
  store_->CreateRun(MakeRun("r2", "d2", 11), {{"b", 1}});
  ASSERT_TRUE(store_->TransitionTasks({Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 12)}));
  const int64_t latest = store_->LatestTransitionId();
  std::vector<TransitionRecord> all = store_->ListTransitionsAfter(0, 100);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.back().id, latest);
  EXPECT_EQ(all[0].dag_id, "d1");
  EXPECT_EQ(all[0].task_id, "");  // the run's creation
  EXPECT_EQ(all[1].dag_id, "d2");
  EXPECT_EQ(all[2].task_id, "a");
  EXPECT_EQ(all[2].to_state, "queued");
  std::vector<TransitionRecord> after = store_->ListTransitionsAfter(all[0].id, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].id, all[1].id);
  EXPECT_TRUE(store_->ListTransitionsAfter(latest, 100).empty());
}

TEST_P(StateStoreTest, RunCreatedRunningStartsAtOnce) {
  // Given a run its creator starts at once, then it is stored running with
  // its start time and its first transition says so.
  RunRecord run = MakeRun("r1", "d", 10);
  run.state = RunState::kRunning;
  run.started_at = At(11);
  store_->CreateRun(run, {{"a", 1}});
  auto stored = store_->GetRun("r1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->state, RunState::kRunning);
  EXPECT_EQ(stored->started_at, At(11));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kPending);
  EXPECT_TRUE(store_->TransitionRun("r1", {RunState::kRunning}, RunState::kSuccess, At(12), ""));
}

TEST_P(StateStoreTest, ARunIsCoordinatedByOneSchedulerAtATimeUnderALease) {
  const Duration lease(30'000);
  RunRecord run = MakeRun("r1", "d", 10);
  run.state = RunState::kRunning;
  run.coordinator = "s1";
  run.coordinator_until = At(40);
  store_->CreateRun(run, {{"a", 1}});
  EXPECT_EQ(store_->GetRun("r1")->coordinator, "s1");
  EXPECT_EQ(store_->GetRun("r1")->coordinator_until, At(40));

  // Held: nobody else takes it, its holder renews it; the lease runs out: taken over.
  EXPECT_FALSE(store_->ClaimRun("r1", "s2", At(20), lease));
  EXPECT_TRUE(store_->ListOrphanedRuns(At(20), 10).empty());
  EXPECT_TRUE(store_->ClaimRun("r1", "s1", At(20), lease));  // its own: again (a restart)
  EXPECT_EQ(store_->GetRun("r1")->coordinator_until, At(50));
  ASSERT_EQ(store_->ListOrphanedRuns(At(50), 10).size(), 1u);
  EXPECT_TRUE(store_->ClaimRun("r1", "s2", At(50), lease));
  EXPECT_EQ(store_->GetRun("r1")->coordinator, "s2");

  // Fencing: the old coordinator's writes are refused, the new one's applied.
  TaskTransition t = Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 51);
  t.fence = "s1";
  EXPECT_FALSE(store_->TransitionTasks({t}));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kPending);
  t.fence = "s2";
  EXPECT_TRUE(store_->TransitionTasks({t}));

  // Renewals tell each scheduler what it still holds, and cancels asked elsewhere.
  EXPECT_TRUE(store_->RenewRuns("s1", {"r1"}, At(52), lease).empty());
  std::vector<RunLease> held = store_->RenewRuns("s2", {"r1", "r9"}, At(52), lease);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].run_id, "r1");
  EXPECT_FALSE(held[0].cancel_requested);
  EXPECT_TRUE(store_->RequestRunCancel("r1"));
  held = store_->RenewRuns("s2", {"r1"}, At(53), lease);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_TRUE(held[0].cancel_requested);
  EXPECT_EQ(store_->GetRun("r1")->coordinator_until, At(83));

  // Given up: free for anyone at once.
  EXPECT_FALSE(store_->ReleaseRun("r1", "s1"));
  EXPECT_TRUE(store_->ReleaseRun("r1", "s2"));
  EXPECT_EQ(store_->ListOrphanedRuns(At(54), 10).size(), 1u);
  EXPECT_TRUE(store_->ClaimRun("r1", "s3", At(54), lease));
  EXPECT_TRUE(store_->GetRun("r1")->cancel_requested);
  ASSERT_TRUE(store_->TransitionRun("r1", {RunState::kRunning}, RunState::kSuccess, At(55), ""));
  EXPECT_FALSE(store_->GetRun("r1")->cancel_requested);  // the request ended with the run
  EXPECT_FALSE(store_->ClaimRun("r1", "s3", At(56), lease));  // ended
  EXPECT_FALSE(store_->RequestRunCancel("r1"));
  EXPECT_TRUE(store_->RenewRuns("s3", {"r1"}, At(56), lease).empty());
  // Cleared (queued again), it runs with no cancel request left over.
  ASSERT_TRUE(store_->TransitionRun("r1", {RunState::kSuccess}, RunState::kQueued, At(57), "cleared a"));
  held = store_->RenewRuns("s3", {"r1"}, At(59), lease);  // s3 still holds it
  ASSERT_EQ(held.size(), 1u);
  EXPECT_FALSE(held[0].cancel_requested);
}

TEST_P(StateStoreTest, TriesStartedOnWorkersAreEnqueuedWithTheirTransitionsOrNotAtAll) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}, {"b", 1}});
  WorkItem a;
  a.run_id = "r1";
  a.task_id = "a";
  a.try_number = 1;
  a.queue = "far";
  a.payload = R"({"p":1})";
  a.enqueued_at = At(12);
  store_->WaitForNotice(kNoticeWork, Duration(50));  // listening from here on (PostgreSQL)
  // Refused (b is not queued): nothing stored, nothing enqueued.
  std::vector<TaskTransition> bad = {Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11),
                                     Move("r1", "b", {TaskState::kQueued}, TaskState::kRunning, 12)};
  EXPECT_FALSE(store_->TransitionTasksAndEnqueue(bad, {a}));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kPending);
  EXPECT_FALSE(store_->GetWork("r1", "a", 1));
  // Applied: the item is ready for a worker of its queue, and the workers are told.
  std::vector<TaskTransition> good = {Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11),
                                      Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 12)};
  ASSERT_TRUE(store_->TransitionTasksAndEnqueue(good, {a}));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kRunning);
  auto w = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->state, "ready");
  EXPECT_EQ(w->item.queue, "far");
  EXPECT_EQ(w->item.payload, R"({"p":1})");
  EXPECT_EQ(w->item.enqueued_at, At(12));
  EXPECT_EQ(store_->WaitForNotice(kNoticeWork, Duration(20'000)), unsigned(kNoticeWork));
  EXPECT_EQ(store_->ClaimWork("w1", {"far"}, 5, At(13), Duration(1000)).size(), 1u);
}

TEST_P(StateStoreTest, QueuedRunsStartWithinMaxActiveRunsOverAllSchedulers) {
  const Duration lease(30'000);
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  store_->CreateRun(MakeRun("r2", "d", 11), {{"a", 1}});
  store_->CreateRun(MakeRun("r3", "e", 12), {{"a", 1}});
  auto first = store_->StartQueuedRun("r1", "s1", At(20), lease, 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->state, RunState::kRunning);
  EXPECT_EQ(first->coordinator, "s1");
  EXPECT_EQ(first->started_at, At(20));
  EXPECT_FALSE(store_->StartQueuedRun("r2", "s2", At(21), lease, 1));  // d has one running
  EXPECT_EQ(store_->GetRun("r2")->state, RunState::kQueued);
  EXPECT_FALSE(store_->StartQueuedRun("r1", "s2", At(21), lease, 5));  // not queued any more
  EXPECT_TRUE(store_->StartQueuedRun("r3", "s2", At(21), lease, 1));   // another DAG
  EXPECT_TRUE(store_->StartQueuedRun("r2", "s2", At(22), lease, 2));
  std::vector<TransitionRecord> log = store_->GetTransitions("r2");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].from_state, "queued");
  EXPECT_EQ(log[1].to_state, "running");
}

TEST_P(StateStoreTest, DuplicateRunIdIsAConflictAndWritesNothing) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  try {
    store_->CreateRun(MakeRun("r1", "d", 11), {{"z", 1}});
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
  }
  EXPECT_EQ(store_->GetTaskInstances("r1").size(), 1u);
}

TEST_P(StateStoreTest, RunTransitionsAreConditional) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  EXPECT_FALSE(store_->TransitionRun("r1", {RunState::kRunning}, RunState::kSuccess, At(11), ""));
  EXPECT_TRUE(store_->TransitionRun("r1", {RunState::kQueued}, RunState::kRunning, At(12), ""));
  EXPECT_TRUE(store_->TransitionRun("r1", {RunState::kRunning}, RunState::kFailed, At(15), "x"));
  auto run = store_->GetRun("r1");
  EXPECT_EQ(run->state, RunState::kFailed);
  EXPECT_EQ(run->started_at, At(12));
  EXPECT_EQ(run->ended_at, At(15));
  EXPECT_FALSE(store_->TransitionRun("missing", {RunState::kQueued}, RunState::kRunning, At(1), ""));
}

TEST_P(StateStoreTest, AWatermarkIsStoredWithASuccessOnly) {
  // Given tries that end with a high-water mark, then only a success stores
  // it, for the DAG and task, and a later success moves it on.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"load", 2}});
  store_->CreateRun(MakeRun("r2", "d", 20), {{"load", 1}});
  EXPECT_FALSE(store_->GetWatermark("d", "load"));
  auto run_try = [&](const std::string& run, int at, TaskState from_queue) {
    EXPECT_TRUE(store_->TransitionTask(Move(run, "load", {from_queue}, TaskState::kQueued, at)));
    EXPECT_TRUE(store_->TransitionTask(Move(run, "load", {TaskState::kQueued}, TaskState::kRunning, at + 1)));
  };
  run_try("r1", 11, TaskState::kPending);
  auto fail = Move("r1", "load", {TaskState::kRunning}, TaskState::kUpForRetry, 13);
  fail.watermark = "2026-01-01 10:00:00";
  EXPECT_TRUE(store_->TransitionTask(fail));
  EXPECT_FALSE(store_->GetWatermark("d", "load"));  // a failed try advances nothing
  run_try("r1", 14, TaskState::kUpForRetry);
  auto ok = Move("r1", "load", {TaskState::kRunning}, TaskState::kSuccess, 16);
  ok.watermark = "2026-01-01 11:00:00";
  EXPECT_TRUE(store_->TransitionTask(ok));
  EXPECT_EQ(store_->GetWatermark("d", "load"), "2026-01-01 11:00:00");
  EXPECT_FALSE(store_->GetWatermark("d", "other"));
  EXPECT_FALSE(store_->GetWatermark("e", "load"));
  // A conditional move that does not apply stores nothing either.
  auto stale = Move("r2", "load", {TaskState::kRunning}, TaskState::kSuccess, 21);
  stale.watermark = "2099-01-01 00:00:00";
  EXPECT_FALSE(store_->TransitionTask(stale));
  EXPECT_EQ(store_->GetWatermark("d", "load"), "2026-01-01 11:00:00");
  run_try("r2", 21, TaskState::kPending);
  auto later = Move("r2", "load", {TaskState::kRunning}, TaskState::kSuccess, 23);
  later.watermark = "2026-01-02 09:30:00";
  EXPECT_TRUE(store_->TransitionTasks({later}));
  EXPECT_EQ(store_->GetWatermark("d", "load"), "2026-01-02 09:30:00");
  // Every task's mark of a DAG, by task id (a mapped task's instances each).
  store_->CreateRun(MakeRun("r3", "d", 30), {{"part[0]", 1}, {"part[1]", 1}});
  for (const char* part : {"part[0]", "part[1]"}) {
    EXPECT_TRUE(store_->TransitionTask(Move("r3", part, {TaskState::kPending}, TaskState::kQueued, 31)));
    EXPECT_TRUE(store_->TransitionTask(Move("r3", part, {TaskState::kQueued}, TaskState::kRunning, 32)));
    auto done = Move("r3", part, {TaskState::kRunning}, TaskState::kSuccess, 33);
    done.watermark = std::string("mark of ") + part;
    EXPECT_TRUE(store_->TransitionTask(done));
  }
  EXPECT_EQ(store_->ListWatermarks("d"), (std::map<std::string, std::string>{{"load", "2026-01-02 09:30:00"},
                                                                             {"part[0]", "mark of part[0]"},
                                                                             {"part[1]", "mark of part[1]"}}));
  EXPECT_TRUE(store_->ListWatermarks("e").empty());
}

TEST_P(StateStoreTest, TaskTransitionsOpenAndCloseTries) {
  // Given a task that fails once and then succeeds, then two tries are recorded.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 2}});
  EXPECT_TRUE(store_->TransitionTask(Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11)));
  auto start = Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 12);
  start.log_path = "/logs/1.log";
  start.worker = "host:1";
  EXPECT_TRUE(store_->TransitionTask(start));
  auto fail = Move("r1", "a", {TaskState::kRunning}, TaskState::kUpForRetry, 13);
  fail.exit_code = 3;
  fail.reason = "exit status 3";
  fail.next_try_at = At(23);
  EXPECT_TRUE(store_->TransitionTask(fail));
  auto ti = store_->GetTaskInstance("r1", "a");
  EXPECT_EQ(ti->state, TaskState::kUpForRetry);
  EXPECT_EQ(ti->next_try_at, At(23));
  EXPECT_EQ(ti->error, "exit status 3");
  EXPECT_TRUE(store_->TransitionTask(Move("r1", "a", {TaskState::kUpForRetry}, TaskState::kQueued, 23)));
  auto again = Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 24);
  again.log_path = "/logs/2.log";
  again.process = "4141@98";  // known at the start (a warm start)
  EXPECT_TRUE(store_->TransitionTask(again));
  auto ok = Move("r1", "a", {TaskState::kRunning}, TaskState::kSuccess, 26);
  ok.exit_code = 0;
  ok.metrics_json = R"({"rows_out":5})";
  ok.inputs_json = R"([{"file":{"path":"/in.csv","hash":"xxh3:1"}}])";
  EXPECT_TRUE(store_->TransitionTask(ok));

  ti = store_->GetTaskInstance("r1", "a");
  EXPECT_EQ(ti->state, TaskState::kSuccess);
  EXPECT_EQ(ti->try_number, 2);
  EXPECT_EQ(ti->started_at, At(12));
  EXPECT_EQ(ti->ended_at, At(26));
  EXPECT_FALSE(ti->next_try_at);
  EXPECT_EQ(ti->error, "");
  EXPECT_EQ(ti->metrics_json, R"({"rows_out":5})");

  auto tries = store_->GetTries("r1", "a");
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].try_number, 1);
  EXPECT_EQ(tries[0].state, TaskState::kUpForRetry);
  EXPECT_EQ(tries[0].exit_code, 3);
  EXPECT_EQ(tries[0].log_path, "/logs/1.log");
  EXPECT_EQ(tries[0].worker, "host:1");
  EXPECT_EQ(tries[0].process, "");
  EXPECT_EQ(tries[1].process, "4141@98");
  store_->SetTryProcess("r1", "a", 2, "4242@99");
  EXPECT_EQ(store_->GetTries("r1", "a")[1].process, "4242@99");
  EXPECT_EQ(tries[0].ended_at, At(13));
  EXPECT_EQ(tries[1].state, TaskState::kSuccess);
  EXPECT_EQ(tries[1].started_at, At(24));
  EXPECT_EQ(tries[1].exit_code, 0);
  // What each try read, kept with it (the first said nothing: "[]").
  EXPECT_EQ(tries[0].inputs_json, "[]");
  EXPECT_EQ(tries[1].inputs_json, R"([{"file":{"path":"/in.csv","hash":"xxh3:1"}}])");

  auto all = store_->GetRunTries("r1");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].try_number, 2);
  EXPECT_EQ(all[1].inputs_json, tries[1].inputs_json);
  auto transitions = store_->GetTransitions("r1");
  std::vector<std::string> seen;
  for (const auto& t : transitions) {
    if (!t.task_id.empty()) seen.push_back(t.from_state + ">" + t.to_state + "@" + std::to_string(t.try_number));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"pending>queued@0", "queued>running@1",
                                            "running>up_for_retry@1", "up_for_retry>queued@1",
                                            "queued>running@2", "running>success@2"}));
}

TEST_P(StateStoreTest, TaskTransitionFromWrongStateChangesNothing) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  EXPECT_FALSE(store_->TransitionTask(Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 11)));
  EXPECT_FALSE(store_->TransitionTask(Move("r1", "zz", {TaskState::kPending}, TaskState::kQueued, 11)));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kPending);
  EXPECT_TRUE(store_->GetTries("r1", "a").empty());
}

TEST_P(StateStoreTest, BatchOfTransitionsIsAllOrNothing) {
  // Given a batch whose last step does not hold, then none of it is stored.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}, {"b", 1}});
  std::vector<TaskTransition> bad = {
      Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11),
      Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 11),
      Move("r1", "b", {TaskState::kRunning}, TaskState::kSuccess, 11)};
  EXPECT_FALSE(store_->TransitionTasks(bad));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kPending);
  EXPECT_TRUE(store_->GetTries("r1", "a").empty());
  EXPECT_TRUE(store_->GetTransitions("r1").size() == 1u);  // the run's creation only
  // Given a batch that holds step by step, then all of it is stored in order.
  std::vector<TaskTransition> good = {
      Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11),
      Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 12),
      Move("r1", "b", {TaskState::kPending}, TaskState::kQueued, 12)};
  EXPECT_TRUE(store_->TransitionTasks(good));
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->state, TaskState::kRunning);
  EXPECT_EQ(store_->GetTaskInstance("r1", "a")->try_number, 1);
  EXPECT_EQ(store_->GetTaskInstance("r1", "b")->state, TaskState::kQueued);
  EXPECT_EQ(store_->GetTransitions("r1").size(), 4u);
  EXPECT_EQ(store_->CountTasksByDagAndState(),
            (StateStore::CountsByDagAndState{{{"d", "queued"}, 1}, {{"d", "running"}, 1}}));
}

TEST_P(StateStoreTest, OnlyOneOfTwoStoresStartsATry) {
  // Given two store objects racing to start the same try, then exactly one wins.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  store_->TransitionTask(Move("r1", "a", {TaskState::kPending}, TaskState::kQueued, 11));
  auto other = GetParam().reopen();
  std::atomic<int> wins{0};
  auto race = [&](StateStore* s) {
    if (s->TransitionTask(Move("r1", "a", {TaskState::kQueued}, TaskState::kRunning, 12))) ++wins;
  };
  std::thread t1(race, store_.get()), t2(race, other.get());
  t1.join();
  t2.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(store_->GetTries("r1", "a").size(), 1u);
}

TEST_P(StateStoreTest, StoresLoadingTheSameDagAgreeOnItsVersions) {
  // Given four stores (four schedulers on one database) recording the same
  // new DAG, then the same change, at once, then each gets version 1, then 2,
  // and none fails (two inserted the same number: a duplicate key).
  std::vector<std::unique_ptr<StateStore>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(GetParam().reopen());
  for (int round = 0; round < 5; ++round) {
    const std::string id = "race" + std::to_string(round);
    for (const char* hash : {"h1", "h2"}) {
      std::vector<int> got(stores.size(), -1);
      std::vector<std::thread> threads;
      for (size_t i = 0; i < stores.size(); ++i) {
        threads.emplace_back([&, i] {
          try {
            got[i] = stores[i]->PutDagVersion(Dag(id, hash), At(1));
          } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
          }
        });
      }
      for (auto& t : threads) t.join();
      const int want = std::string(hash) == "h1" ? 1 : 2;
      EXPECT_EQ(got, std::vector<int>(stores.size(), want)) << id << " " << hash;
    }
  }
}

TEST_P(StateStoreTest, SchedulerLockIsHeldByOneStoreUntilItCloses) {
  // Given one store holding the scheduler lock, then another cannot take it
  // until the first is closed.
  ASSERT_TRUE(store_->TryLockScheduler());
  EXPECT_TRUE(store_->TryLockScheduler());  // again: still ours
  auto other = GetParam().reopen();
  EXPECT_FALSE(other->TryLockScheduler());
  store_.reset();
  EXPECT_TRUE(other->TryLockScheduler());
}

TEST_P(StateStoreTest, ListsRunsNewestFirstWithFilters) {
  store_->CreateRun(MakeRun("r1", "d1", 10), {});
  store_->CreateRun(MakeRun("r2", "d2", 20), {});
  store_->CreateRun(MakeRun("r3", "d1", 30), {});
  store_->TransitionRun("r3", {RunState::kQueued}, RunState::kRunning, At(31), "");
  auto ids = [](const std::vector<RunRecord>& runs) {
    std::vector<std::string> out;
    for (const auto& r : runs) out.push_back(r.run_id);
    return out;
  };
  EXPECT_EQ(ids(store_->ListRuns({})), (std::vector<std::string>{"r3", "r2", "r1"}));
  RunFilter by_dag;
  by_dag.dag_id = "d1";
  EXPECT_EQ(ids(store_->ListRuns(by_dag)), (std::vector<std::string>{"r3", "r1"}));
  RunFilter by_state;
  by_state.states = {RunState::kQueued};
  EXPECT_EQ(ids(store_->ListRuns(by_state)), (std::vector<std::string>{"r2", "r1"}));
  RunFilter page;
  page.limit = 1;
  page.offset = 1;
  EXPECT_EQ(ids(store_->ListRuns(page)), (std::vector<std::string>{"r2"}));
}

TEST_P(StateStoreTest, CountsRunsAndFindsTheLastScheduledTick) {
  RunRecord s1 = MakeRun("s1", "d", 10);
  s1.trigger = "scheduled";
  s1.logical_date = At(100);
  RunRecord s2 = MakeRun("s2", "d", 20);
  s2.trigger = "scheduled";
  s2.logical_date = At(200);
  store_->CreateRun(s1, {});
  store_->CreateRun(s2, {});
  store_->CreateRun(MakeRun("m1", "d", 30), {});  // manual, newer logical date
  store_->CreateRun(MakeRun("o1", "other", 40), {});
  store_->TransitionRun("s1", {RunState::kQueued}, RunState::kRunning, At(41), "");
  EXPECT_EQ(store_->LastScheduledTick("d"), At(200));
  EXPECT_FALSE(store_->LastScheduledTick("other"));
  RunFilter active;
  active.dag_id = "d";
  active.states = {RunState::kQueued, RunState::kRunning};
  EXPECT_EQ(store_->CountRuns(active), 3);
  RunFilter scheduled;
  scheduled.trigger = "scheduled";
  EXPECT_EQ(store_->CountRuns(scheduled), 2);
  EXPECT_EQ(store_->ListRuns(scheduled).front().run_id, "s2");
  EXPECT_EQ(store_->CountRuns({}), 4);
  EXPECT_TRUE(store_->CountTasksByDagAndState().empty());  // these runs have no tasks
  EXPECT_EQ(store_->CountRunsByDagAndState(),
            (StateStore::CountsByDagAndState{{{"d", "queued"}, 2}, {{"d", "running"}, 1}, {{"other", "queued"}, 1}}));
}

TEST_P(StateStoreTest, OneScheduledRunPerTick) {
  // Given a scheduled run for a tick, then a second one for the same tick is a conflict,
  // while a manual run with the same logical date is fine.
  RunRecord a = MakeRun("a", "d", 10);
  a.trigger = "scheduled";
  store_->CreateRun(a, {{"t", 1}});
  RunRecord b = MakeRun("b", "d", 10);
  b.trigger = "scheduled";
  try {
    store_->CreateRun(b, {{"t", 1}});
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
  }
  EXPECT_FALSE(store_->GetRun("b"));
  store_->CreateRun(MakeRun("c", "d", 10), {{"t", 1}});
  EXPECT_TRUE(store_->GetRun("c"));
}

TEST_P(StateStoreTest, MetaValuesAreReplaced) {
  EXPECT_FALSE(store_->GetMeta("scheduler_heartbeat"));
  store_->PutMeta("scheduler_heartbeat", "1");
  store_->PutMeta("scheduler_heartbeat", "2");
  EXPECT_EQ(store_->GetMeta("scheduler_heartbeat"), "2");
}

TEST_P(StateStoreTest, ArtifactsAreUpserted) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  ArtifactRecord a{"r1", "a", "output", "file:///x.parquet", "{}", 10, "abc", At(11)};
  store_->PutArtifact(a);
  a.row_count = 12;
  a.content_hash = "def";
  store_->PutArtifact(a);
  store_->PutArtifact({"r1", "a", "report", "file:///r.json", "{}", 0, "r", At(12)});
  auto list = store_->ListArtifacts("r1");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "output");
  EXPECT_EQ(list[0].row_count, 12);
  EXPECT_EQ(list[0].content_hash, "def");
  EXPECT_EQ(list[1].name, "report");
  EXPECT_TRUE(store_->ListArtifacts("r2").empty());
}

TEST_P(StateStoreTest, ARunIsCreatedWithinMaxActiveRunsOrNotAtAll) {
  // Given a DAG with two runs queued or running, a creation within 2 is a
  // conflict and writes nothing; another DAG, no limit, or a run ended make room.
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  store_->CreateRun(MakeRun("r2", "d", 11), {{"a", 1}}, 2);
  try {
    store_->CreateRun(MakeRun("r3", "d", 12), {{"a", 1}}, 2);
    FAIL() << "created past max_active_runs";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_STREQ(e.what(), "dag 'd' has 2 active runs (max_active_runs 2)");
  }
  EXPECT_FALSE(store_->GetRun("r3"));
  EXPECT_TRUE(store_->GetTaskInstances("r3").empty());
  store_->CreateRun(MakeRun("e1", "e", 12), {{"a", 1}}, 2);  // another DAG
  store_->CreateRun(MakeRun("r4", "d", 13), {{"a", 1}});     // no limit asked (a trigger)
  ASSERT_TRUE(store_->TransitionRun("r1", {RunState::kQueued}, RunState::kRunning, At(14), ""));
  ASSERT_TRUE(store_->TransitionRun("r1", {RunState::kRunning}, RunState::kSuccess, At(15), ""));
  ASSERT_TRUE(store_->TransitionRun("r2", {RunState::kQueued}, RunState::kCancelled, At(15), ""));
  store_->CreateRun(MakeRun("r5", "d", 16), {{"a", 1}}, 2);  // r4 and r5
  EXPECT_TRUE(store_->GetRun("r5"));
}

TEST_P(StateStoreTest, LatestSuccessArtifactsComeFromRunsThatSucceeded) {
  // Online features: per task, the newest artifact of a run that succeeded,
  // however many runs came after it that failed or still run.
  auto run = [&](const std::string& id, int at, std::optional<RunState> end) {
    store_->CreateRun(MakeRun(id, "d", at), {{"feat", 1}, {"other", 1}});
    if (end) {
      ASSERT_TRUE(store_->TransitionRun(id, {RunState::kQueued}, RunState::kRunning, At(at), ""));
      ASSERT_TRUE(store_->TransitionRun(id, {RunState::kRunning}, *end, At(at + 1), ""));
    }
    store_->PutArtifact({id, "feat", "online", "file:///" + id + ".parquet", "{}", 1, "h", At(at)});
    store_->PutArtifact({id, "feat", "output", "file:///" + id + "-out.parquet", "{}", 1, "h", At(at)});
  };
  run("r1", 10, RunState::kSuccess);
  run("r2", 20, RunState::kSuccess);
  store_->PutArtifact({"r2", "other", "online", "file:///other.parquet", "{}", 1, "h", At(21)});
  for (int i = 0; i < 25; ++i) run("f" + std::to_string(i), 30 + 2 * i, RunState::kFailed);
  run("live", 100, std::nullopt);
  store_->CreateRun(MakeRun("e1", "e", 5), {{"feat", 1}});
  store_->PutArtifact({"e1", "feat", "online", "file:///e1.parquet", "{}", 1, "h", At(200)});

  auto latest = store_->LatestSuccessArtifacts("d", "online");
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].task_id, "feat");
  EXPECT_EQ(latest[0].run_id, "r2");
  EXPECT_EQ(latest[0].uri, "file:///r2.parquet");
  EXPECT_EQ(latest[0].created_at, At(20));
  EXPECT_EQ(latest[1].task_id, "other");
  EXPECT_EQ(latest[1].uri, "file:///other.parquet");
  EXPECT_TRUE(store_->LatestSuccessArtifacts("e", "online").empty());  // its one run never succeeded
  EXPECT_TRUE(store_->LatestSuccessArtifacts("d", "report").empty());
}

ModelVersionRecord Model(const std::string& name, const std::string& hash, int64_t at) {
  ModelVersionRecord v;
  v.name = name;
  v.model_type = "logistic_regression";
  v.kind = "classification";
  v.uri = "/art/" + name + "/" + hash + ".json";
  v.format = "pipe-linear-v1";
  v.content_hash = "xxh3:" + hash;
  v.target = "is_fraud";
  v.features_json = R"([{"name":"amount","type":"float64"}])";
  v.transforms_json = "[]";
  v.params_json = R"({"l2":1})";
  v.metrics_json = R"({"auc":0.9})";
  v.importance_json = R"({"amount":1.5})";
  v.lineage_json = R"({"run_id":"r1","task_id":"train"})";
  v.created_at = At(at);
  return v;
}

TEST_P(StateStoreTest, ModelVersionsAreNumberedPerName) {
  EXPECT_EQ(store_->CreateModelVersion(Model("fraud", "a1", 10)), 1);
  EXPECT_EQ(store_->CreateModelVersion(Model("fraud", "a2", 20)), 2);
  EXPECT_EQ(store_->CreateModelVersion(Model("churn", "b1", 15)), 1);
  auto v2 = store_->GetModelVersion("fraud", 2);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->content_hash, "xxh3:a2");
  EXPECT_EQ(v2->features_json, R"([{"name":"amount","type":"float64"}])");
  EXPECT_EQ(v2->metrics_json, R"({"auc":0.9})");
  EXPECT_EQ(v2->lineage_json, R"({"run_id":"r1","task_id":"train"})");
  EXPECT_EQ(v2->created_at, At(20));
  EXPECT_FALSE(store_->GetModelVersion("fraud", 3));
  EXPECT_FALSE(store_->GetModelVersion("nope", 1));
  auto versions = store_->ListModelVersions("fraud");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 2);  // newest first
  EXPECT_TRUE(store_->ListModelVersions("nope").empty());
  auto models = store_->ListModels();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "churn");
  EXPECT_EQ(models[1].name, "fraud");
  EXPECT_EQ(models[1].latest_version, 2);
  EXPECT_EQ(models[1].version_count, 2);
  EXPECT_EQ(models[1].created_at, At(10));
  EXPECT_EQ(models[1].updated_at, At(20));
}

TEST_P(StateStoreTest, AliasesMoveAndKeepTheirHistory) {
  store_->CreateModelVersion(Model("fraud", "a1", 10));
  store_->CreateModelVersion(Model("fraud", "a2", 20));
  EXPECT_FALSE(store_->SetModelAlias("fraud", "production", 3, At(21)));  // no such version
  EXPECT_FALSE(store_->SetModelAlias("nope", "production", 1, At(21)));
  EXPECT_TRUE(store_->SetModelAlias("fraud", "production", 1, At(30)));
  EXPECT_TRUE(store_->SetModelAlias("fraud", "staging", 2, At(31)));
  EXPECT_TRUE(store_->SetModelAlias("fraud", "production", 2, At(40)));
  // Pointing an alias where it points already changes nothing (no history entry, same time).
  EXPECT_TRUE(store_->SetModelAlias("fraud", "production", 2, At(45)));
  auto aliases = store_->GetModelAliases("fraud");
  ASSERT_EQ(aliases.size(), 2u);
  EXPECT_EQ(aliases[0].alias, "production");
  EXPECT_EQ(aliases[0].version, 2);
  EXPECT_EQ(aliases[0].set_at, At(40));
  EXPECT_EQ(aliases[1].alias, "staging");
  auto history = store_->GetModelAliasHistory("fraud");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].alias, "production");
  EXPECT_EQ(history[0].version, 1);
  EXPECT_EQ(history[0].set_at, At(30));
  EXPECT_EQ(history[2].version, 2);
  auto models = store_->ListModels();
  ASSERT_EQ(models.size(), 1u);
  ASSERT_EQ(models[0].aliases.size(), 2u);
  EXPECT_EQ(models[0].aliases[0].alias, "production");
  EXPECT_TRUE(store_->GetModelAliases("nope").empty());
  // A move only from where the mover saw the alias (a rollback decided on v2
  // does not undo a promotion made meanwhile), else nothing changes.
  using Set = StateStore::AliasSet;
  EXPECT_EQ(store_->SetModelAliasIf("fraud", "production", 1, 1, At(50)), Set::kMovedMeanwhile);
  EXPECT_EQ(store_->SetModelAliasIf("fraud", "canary", 2, 1, At(50)), Set::kMovedMeanwhile);  // unset, not 2
  EXPECT_EQ(store_->SetModelAliasIf("fraud", "production", 2, 9, At(50)), Set::kNoSuchVersion);
  EXPECT_EQ(store_->GetModelAliasHistory("fraud").size(), 3u);
  EXPECT_EQ(store_->SetModelAliasIf("fraud", "production", 2, 1, At(51)), Set::kSet);
  EXPECT_EQ(store_->SetModelAliasIf("fraud", "canary", 0, 2, At(52)), Set::kSet);  // 0: unset
  EXPECT_EQ(store_->GetModelAliases("fraud")[0].alias, "canary");
  EXPECT_EQ(store_->GetModelAliases("fraud")[1].version, 1);  // production
  EXPECT_EQ(store_->GetModelAliasHistory("fraud").size(), 5u);
}

TEST_P(StateStoreTest, StateSurvivesReopening) {
  store_->PutDagVersion(Dag("d", "h"), At(1));
  store_->CreateRun(MakeRun("r1", "d", 10), {{"a", 1}});
  store_.reset();
  auto again = GetParam().reopen();
  EXPECT_TRUE(again->GetDag("d"));
  EXPECT_TRUE(again->GetRun("r1"));
  EXPECT_EQ(again->schema_version(), kSchemaVersion);
}

WorkItem Work(const std::string& run, const std::string& task, int try_number, const std::string& queue,
              int enqueued) {
  WorkItem item;
  item.run_id = run;
  item.task_id = task;
  item.try_number = try_number;
  item.queue = queue;
  item.payload = R"({"task":")" + task + R"("})";
  item.enqueued_at = At(enqueued);
  return item;
}

std::vector<std::string> Keys(const std::vector<WorkClaim>& claims) {
  std::vector<std::string> out;
  for (const WorkClaim& c : claims) out.push_back(c.item.task_id + "/" + std::to_string(c.item.try_number));
  return out;
}

TEST_P(StateStoreTest, AWorkItemWaitsBrieflyForTheWorkerItPrefers) {
  // Given an item that prefers w1 (it holds the input in memory) until
  // t=20, then while w1 is live with a free slot w2 does not take it and w1
  // does; when w1 is busy or gone, or once t=20 has passed, anyone does.
  const Duration lease(30'000);
  auto preferring = [&](const std::string& task, int enqueued) {
    WorkItem item = Work("r1", task, 1, "default", enqueued);
    item.prefer = "w1";
    item.prefer_until = At(20);
    return item;
  };
  store_->PutWorker({"w1", {"default"}, 2, 0, At(1), At(1), At(100)});
  store_->EnqueueWork(preferring("a", 1));
  EXPECT_TRUE(store_->ClaimWork("w2", {"default"}, 5, At(10), lease).empty());
  EXPECT_EQ(Keys(store_->ClaimWork("w1", {"default"}, 5, At(10), lease)), (std::vector<std::string>{"a/1"}));

  store_->TransitionTasksAndEnqueue({}, {preferring("b", 2)});
  store_->PutWorker({"w1", {"default"}, 2, 2, At(1), At(11), At(100)});  // busy: both slots taken
  EXPECT_EQ(Keys(store_->ClaimWork("w2", {"default"}, 5, At(11), lease)), (std::vector<std::string>{"b/1"}));

  store_->EnqueueWork(preferring("c", 3));
  store_->PutWorker({"w1", {"default"}, 2, 0, At(1), At(12), At(15)});  // its lease ran out at 15: gone
  EXPECT_EQ(Keys(store_->ClaimWork("w2", {"default"}, 5, At(16), lease)), (std::vector<std::string>{"c/1"}));

  store_->EnqueueWork(preferring("d", 4));
  store_->PutWorker({"w1", {"default"}, 2, 0, At(1), At(17), At(100)});
  EXPECT_TRUE(store_->ClaimWork("w2", {"default"}, 5, At(19), lease).empty());
  EXPECT_EQ(Keys(store_->ClaimWork("w2", {"default"}, 5, At(20), lease)), (std::vector<std::string>{"d/1"}));
}

TEST_P(StateStoreTest, WorkersClaimReadyWorkOfTheirQueuesOldestFirst) {
  store_->EnqueueWork(Work("r1", "b", 1, "default", 2));
  store_->EnqueueWork(Work("r1", "a", 1, "default", 1));
  store_->EnqueueWork(Work("r1", "gpu", 1, "gpu", 0));
  store_->EnqueueWork(Work("r1", "c", 1, "default", 3));
  store_->EnqueueWork(Work("r1", "a", 1, "default", 9));  // the same try again: nothing new
  const Duration lease(30'000);

  std::vector<WorkClaim> first = store_->ClaimWork("w1", {"default"}, 2, At(10), lease);
  EXPECT_EQ(Keys(first), (std::vector<std::string>{"a/1", "b/1"}));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].worker, "w1");
  EXPECT_EQ(first[0].lease_until, At(40));
  EXPECT_EQ(first[0].item.payload, R"({"task":"a"})");
  EXPECT_EQ(first[0].item.enqueued_at, At(1));
  // What is claimed is nobody else's; another queue only for its workers.
  EXPECT_EQ(Keys(store_->ClaimWork("w2", {"default"}, 5, At(11), lease)), (std::vector<std::string>{"c/1"}));
  EXPECT_TRUE(store_->ClaimWork("w2", {"default"}, 5, At(12), lease).empty());
  EXPECT_EQ(Keys(store_->ClaimWork("w3", {"default", "gpu"}, 5, At(12), lease)), (std::vector<std::string>{"gpu/1"}));
  EXPECT_TRUE(store_->ClaimWork("w3", {}, 5, At(12), lease).empty());

  auto a = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, "claimed");
  EXPECT_EQ(a->worker, "w1");
  EXPECT_EQ(a->lease_until, At(40));
  EXPECT_EQ(a->claimed_at, At(10));
  EXPECT_FALSE(store_->GetWork("r1", "a", 2));
  EXPECT_EQ(store_->ListWork("r1").size(), 4u);
  EXPECT_TRUE(store_->ListWork("r2").empty());
}

TEST_P(StateStoreTest, ALeaseIsRenewedByItsHolderOnlyAndEveryLateWriteIsRefused) {
  store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  const Duration lease(30'000);
  std::vector<WorkClaim> claims = store_->ClaimWork("w1", {"default"}, 1, At(0), lease);
  ASSERT_EQ(claims.size(), 1u);
  WorkClaim held = claims[0];

  // Renewed before it runs out: a later expiry, which later writes must name.
  WorkClaim before = held;
  ASSERT_TRUE(store_->RenewWork(held, At(20), lease));
  EXPECT_EQ(held.lease_until, At(50));
  EXPECT_FALSE(store_->RenewWork(before, At(21), lease));               // a stale expiry: not the holder's
  EXPECT_FALSE(store_->FinishWork(before, "{}", At(21)));
  WorkClaim other = held;
  other.worker = "w2";
  EXPECT_FALSE(store_->FinishWork(other, "{}", At(21)));                // another worker
  EXPECT_TRUE(store_->ReapExpiredWork(At(49)).empty());                 // not run out yet

  // It runs out: reaped once, lost; the old holder can neither renew nor finish.
  EXPECT_FALSE(store_->RenewWork(held, At(50), lease));
  std::vector<WorkItem> lost = store_->ReapExpiredWork(At(50));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].task_id, "a");
  EXPECT_TRUE(store_->ReapExpiredWork(At(60)).empty());
  EXPECT_FALSE(store_->FinishWork(held, R"({"ok":true})", At(51)));
  EXPECT_FALSE(store_->ReleaseWork(held));
  auto a = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, "lost");
  EXPECT_EQ(a->result, "");
  EXPECT_EQ(a->ended_at, At(50));
  EXPECT_TRUE(store_->ClaimWork("w2", {"default"}, 1, At(61), lease).empty());  // a lost try is not run again
}

TEST_P(StateStoreTest, FinishedWorkKeepsItsResultAndReleasedWorkIsClaimedAfresh) {
  store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  store_->EnqueueWork(Work("r1", "b", 1, "default", 1));
  const Duration lease(30'000);
  std::vector<WorkClaim> claims = store_->ClaimWork("w1", {"default"}, 2, At(0), lease);
  ASSERT_EQ(claims.size(), 2u);

  ASSERT_TRUE(store_->FinishWork(claims[0], R"({"exit_code":0})", At(5)));
  EXPECT_FALSE(store_->FinishWork(claims[0], R"({"exit_code":1})", At(6)));  // once
  auto a = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, "done");
  EXPECT_EQ(a->result, R"({"exit_code":0})");
  EXPECT_EQ(a->ended_at, At(5));
  EXPECT_TRUE(store_->ReapExpiredWork(At(100)).size() == 1u);  // only b, still claimed

  // Handed back by a stopping worker: ready for any other; the first claim is dead.
  store_->EnqueueWork(Work("r1", "c", 1, "default", 2));
  std::vector<WorkClaim> c = store_->ClaimWork("w1", {"default"}, 1, At(101), lease);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(store_->ReleaseWork(c[0]));
  EXPECT_FALSE(store_->ReleaseWork(c[0]));
  std::vector<WorkClaim> again = store_->ClaimWork("w2", {"default"}, 5, At(102), lease);
  EXPECT_EQ(Keys(again), (std::vector<std::string>{"c/1"}));
  EXPECT_FALSE(store_->FinishWork(c[0], "{}", At(103)));
  EXPECT_TRUE(store_->FinishWork(again[0], "{}", At(103)));
}

TEST_P(StateStoreTest, ConcurrentClaimersNeverTakeTheSameWork) {
  const int items = 120;
  for (int i = 0; i < items; ++i) store_->EnqueueWork(Work("r1", "t" + std::to_string(1000 + i), 1, "default", i));
  // Four workers, each with a store of its own (its own connections).
  std::vector<std::unique_ptr<StateStore>> stores;
  for (int w = 0; w < 4; ++w) stores.push_back(GetParam().reopen());
  std::vector<std::vector<std::string>> taken(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        std::vector<WorkClaim> got = stores[w]->ClaimWork("w" + std::to_string(w), {"default"}, 3, At(0), Duration(60'000));
        if (got.empty()) return;
        for (const WorkClaim& c : got) {
          taken[w].push_back(c.item.task_id);
          EXPECT_TRUE(stores[w]->FinishWork(c, "{}", At(1)));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::multiset<std::string> all;
  for (const auto& list : taken) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), size_t(items));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), size_t(items));  // each exactly once
  for (const WorkRecord& w : store_->ListWork("r1")) EXPECT_EQ(w.state, "done") << w.item.task_id;
}

TEST_P(StateStoreTest, WorkersAreListedAsTheirLastHeartbeatSaidAndReadyWorkIsCountedByQueue) {
  EXPECT_TRUE(store_->ListWorkers().empty());
  WorkerRecord w{"w2", {"default", "gpu"}, 4, 1, At(1), At(5), At(35)};
  store_->PutWorker(w);
  store_->PutWorker({"w1", {"default"}, 2, 0, At(2), At(3), At(33)});
  w.running = 3;
  w.last_seen = At(10);
  w.live_until = At(40);
  store_->PutWorker(w);  // its next heartbeat replaces the last
  std::vector<WorkerRecord> all = store_->ListWorkers();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "w1");
  EXPECT_EQ(all[1].name, "w2");
  EXPECT_EQ(all[1].queues, (std::vector<std::string>{"default", "gpu"}));
  EXPECT_EQ(all[1].slots, 4);
  EXPECT_EQ(all[1].running, 3);
  EXPECT_EQ(all[1].started_at, At(1));
  EXPECT_EQ(all[1].last_seen, At(10));
  EXPECT_EQ(all[1].live_until, At(40));

  store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  store_->EnqueueWork(Work("r1", "b", 1, "default", 1));
  store_->EnqueueWork(Work("r1", "c", 1, "gpu", 2));
  EXPECT_EQ(store_->CountReadyWork(), (std::map<std::string, int64_t>{{"default", 2}, {"gpu", 1}}));
  ASSERT_EQ(store_->ClaimWork("w1", {"gpu"}, 1, At(20), Duration(1000)).size(), 1u);
  EXPECT_EQ(store_->CountReadyWork(), (std::map<std::string, int64_t>{{"default", 2}}));  // claimed: not waiting
}

TEST_P(StateStoreTest, WaitingForNoticesWakesOnTheirChannelOrTimesOut) {
  EXPECT_EQ(store_->WaitForNotice(kNoticeWork | kNoticeDone | kNoticeCancel, Duration(50)), 0u);
  std::unique_ptr<StateStore> other = GetParam().reopen();
  // Woken by an enqueue of its own store object (every backend), well before the timeout.
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store_->WaitForNotice(kNoticeWork, Duration(20'000)), unsigned(kNoticeWork));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  producer.join();
  EXPECT_EQ(store_->WaitForNotice(kNoticeWork, Duration(50)), 0u);  // taken once
  std::vector<WorkClaim> claims = store_->ClaimWork("w1", {"default"}, 1, At(0), Duration(60'000));
  ASSERT_EQ(claims.size(), 1u);
  // A cancel and a finish each wake their own channel, kept until waited for.
  ASSERT_TRUE(store_->CancelWork({"r1", "a", 1}, "{}", At(1)));
  EXPECT_EQ(store_->WaitForNotice(kNoticeDone, Duration(50)), 0u);
  ASSERT_TRUE(store_->FinishWork(claims[0], R"({"ok":false})", At(2)));
  EXPECT_EQ(store_->WaitForNotice(kNoticeDone, Duration(20'000)), unsigned(kNoticeDone));
  EXPECT_EQ(store_->WaitForNotice(kNoticeCancel | kNoticeWork, Duration(20'000)), unsigned(kNoticeCancel));
  if (GetParam().name != "postgres") return;  // SQLite: other processes are polled for
  // PostgreSQL: an enqueue by another connection (process) wakes it too.
  std::thread remote([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    other->EnqueueWork(Work("r1", "b", 1, "default", 1));
  });
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(store_->WaitForNotice(kNoticeWork, Duration(20'000)), unsigned(kNoticeWork));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  remote.join();
  // Two threads waiting on different channels at once: each gets its own.
  std::thread done_waiter([&] {
    EXPECT_EQ(store_->WaitForNotice(kNoticeDone, Duration(20'000)), unsigned(kNoticeDone));
  });
  std::thread work_waiter([&] {
    EXPECT_EQ(store_->WaitForNotice(kNoticeWork, Duration(20'000)), unsigned(kNoticeWork));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<WorkClaim> b = other->ClaimWork("w2", {"default"}, 1, At(3), Duration(60'000));
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(other->ReleaseWork(b[0]));  // ready again: work
  b = other->ClaimWork("w2", {"default"}, 1, At(4), Duration(60'000));
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(other->FinishWork(b[0], "{}", At(5)));  // done
  done_waiter.join();
  work_waiter.join();
}

TEST_P(StateStoreTest, EndedNoticesNameTheItemsThatEnded) {
  // Given a listening coordinator, then the items that ended (finished or
  // cancelled before a claim) are named by the notices, so that it reads
  // just those; before it listened, or on a backend whose notices carry
  // nothing, the answer is "incomplete": look at everything awaited.
  const bool named = GetParam().name == "postgres";
  bool complete = true;
  store_->WaitForNotice(kNoticeDone, Duration(50));  // listening from here on (PostgreSQL)
  store_->TakeEndedNotices(&complete);
  EXPECT_FALSE(complete);  // nobody listened before
  store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  store_->EnqueueWork(Work("r1", "b", 1, "default", 1));
  std::vector<WorkClaim> claims = store_->ClaimWork("w1", {"default"}, 1, At(0), Duration(30'000));
  ASSERT_EQ(claims.size(), 1u);
  ASSERT_TRUE(store_->FinishWork(claims[0], R"({"ok":true})", At(1)));
  ASSERT_TRUE(store_->CancelWork({"r1", "b", 1}, R"({"ok":false})", At(2)));
  std::vector<WorkKey> heard;
  for (int i = 0; i < 50 && heard.size() < 2; ++i) {
    store_->WaitForNotice(kNoticeDone, Duration(100));
    for (const WorkKey& k : store_->TakeEndedNotices(&complete)) heard.push_back(k);
    if (!named) break;
  }
  EXPECT_EQ(complete, named);
  if (named) {
    ASSERT_EQ(heard.size(), 2u);
    EXPECT_EQ(heard[0].task_id, "a");
    EXPECT_EQ(heard[0].try_number, 1);
    EXPECT_EQ(heard[1].run_id, "r1");
    EXPECT_EQ(heard[1].task_id, "b");
  } else {
    EXPECT_TRUE(heard.empty());
  }
}

TEST_P(StateStoreTest, ACancelEndsReadyWorkAtOnceAndMarksClaimedWorkForItsWorker) {
  store_->EnqueueWork(Work("r1", "a", 1, "default", 0));
  store_->EnqueueWork(Work("r1", "b", 1, "default", 1));
  const Duration lease(30'000);
  std::vector<WorkClaim> claims = store_->ClaimWork("w1", {"default"}, 1, At(0), lease);
  ASSERT_EQ(claims.size(), 1u);
  ASSERT_EQ(claims[0].item.task_id, "a");
  EXPECT_TRUE(store_->ListEndedWork({{"r1", "a", 1}, {"r1", "b", 1}}).empty());

  // Not claimed yet: it ends with the coordinator's result, no worker ever gets it.
  ASSERT_TRUE(store_->CancelWork({"r1", "b", 1}, R"({"ok":false,"error":"cancelled"})", At(3)));
  EXPECT_FALSE(store_->CancelWork({"r1", "b", 1}, "{}", At(4)));  // ended already
  EXPECT_FALSE(store_->CancelWork({"r1", "zz", 1}, "{}", At(4)));
  EXPECT_TRUE(store_->ClaimWork("w2", {"default"}, 5, At(4), lease).empty());
  std::vector<WorkRecord> ended = store_->ListEndedWork({{"r1", "a", 1}, {"r1", "b", 1}, {"r9", "b", 1}});
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].item.task_id, "b");
  EXPECT_EQ(ended[0].state, "done");
  EXPECT_EQ(ended[0].result, R"({"ok":false,"error":"cancelled"})");
  EXPECT_EQ(ended[0].ended_at, At(3));

  // Claimed: marked; its worker reads the mark at its next renewal, and its result still counts.
  EXPECT_FALSE(claims[0].cancel_requested);
  ASSERT_TRUE(store_->CancelWork({"r1", "a", 1}, "{}", At(5)));
  EXPECT_FALSE(store_->CancelWork({"r1", "a", 1}, "{}", At(5)));  // asked once
  auto a = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, "claimed");
  EXPECT_TRUE(a->cancel_requested);
  ASSERT_TRUE(store_->RenewWork(claims[0], At(6), lease));
  EXPECT_TRUE(claims[0].cancel_requested);
  ASSERT_TRUE(store_->FinishWork(claims[0], R"({"ok":false,"error":"killed"})", At(7)));
  ended = store_->ListEndedWork({{"r1", "a", 1}, {"r1", "b", 1}});
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_FALSE(store_->CancelWork({"r1", "a", 1}, "{}", At(8)));
}

// Each run and task misses its SLA once, whoever sees it first; the counts
// are by DAG and task ("" for a deadline).
TEST_P(StateStoreTest, AnSlaMissIsRecordedOncePerRunAndTask) {
  EXPECT_TRUE(store_->AddSlaMiss({"d", "r1", "load", At(10), At(11), "running"}));
  EXPECT_FALSE(store_->AddSlaMiss({"d", "r1", "load", At(10), At(12), "success"}));  // seen again
  EXPECT_TRUE(store_->AddSlaMiss({"d", "r1", "", At(20), At(21), "running"}));
  EXPECT_TRUE(store_->AddSlaMiss({"d", "r2", "load", At(30), At(31), "pending"}));
  EXPECT_TRUE(store_->AddSlaMiss({"e", "r3", "x", At(40), At(41), "queued"}));

  std::vector<SlaMissRecord> all = store_->ListSlaMisses("", "", 10);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].run_id, "r3");  // newest first
  EXPECT_EQ(all[3].task_id, "load");
  EXPECT_EQ(all[3].state, "running");  // the first sighting stays
  EXPECT_EQ(all[3].due, At(10));
  EXPECT_EQ(all[3].detected_at, At(11));
  EXPECT_EQ(store_->ListSlaMisses("d", "", 10).size(), 3u);
  ASSERT_EQ(store_->ListSlaMisses("", "r1", 10).size(), 2u);
  EXPECT_EQ(store_->ListSlaMisses("", "r1", 10)[0].task_id, "");
  EXPECT_EQ(store_->ListSlaMisses("", "", 1).size(), 1u);

  StateStore::CountsByDagAndState counts = store_->CountSlaMisses();
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ((counts[{"d", "load"}]), 2);
  EXPECT_EQ((counts[{"d", ""}]), 1);
  EXPECT_EQ((counts[{"e", "x"}]), 1);
}

// A sensor's try stays open while it waits: waiting -> running is its next
// check (no new try), and the try ends with the task's end.
TEST_P(StateStoreTest, AWaitingSensorKeepsItsTryOpenUntilItEnds) {
  store_->CreateRun(MakeRun("r1", "d", 10), {{"s", 1}, {"t", 1}});
  for (const char* task : {"s", "t"}) {
    ASSERT_TRUE(store_->TransitionTask(Move("r1", task, {TaskState::kPending}, TaskState::kQueued, 11)));
    ASSERT_TRUE(store_->TransitionTask(Move("r1", task, {TaskState::kQueued}, TaskState::kRunning, 12)));
    TaskTransition wait = Move("r1", task, {TaskState::kRunning}, TaskState::kWaiting, 13);
    wait.next_try_at = At(73);
    ASSERT_TRUE(store_->TransitionTask(wait));
  }
  TaskInstanceRecord s = *store_->GetTaskInstance("r1", "s");
  EXPECT_EQ(s.state, TaskState::kWaiting);
  EXPECT_EQ(s.next_try_at, At(73));
  EXPECT_FALSE(s.ended_at);
  std::vector<TaskTryRecord> tries = store_->GetTries("r1", "s");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kWaiting);
  EXPECT_FALSE(tries[0].ended_at);

  ASSERT_TRUE(store_->TransitionTask(Move("r1", "s", {TaskState::kWaiting}, TaskState::kRunning, 73)));
  ASSERT_TRUE(store_->TransitionTask(Move("r1", "s", {TaskState::kRunning}, TaskState::kSuccess, 74)));
  s = *store_->GetTaskInstance("r1", "s");
  EXPECT_EQ(s.try_number, 1);
  EXPECT_EQ(s.started_at, At(12));
  EXPECT_EQ(s.ended_at, At(74));
  tries = store_->GetTries("r1", "s");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kSuccess);
  EXPECT_EQ(tries[0].started_at, At(12));
  EXPECT_EQ(tries[0].ended_at, At(74));

  // Cancelled while waiting: the try ends cancelled.
  ASSERT_TRUE(store_->TransitionTask(Move("r1", "t", {TaskState::kWaiting}, TaskState::kCancelled, 20)));
  tries = store_->GetTries("r1", "t");
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].state, TaskState::kCancelled);
  EXPECT_EQ(tries[0].ended_at, At(20));
}

}  // namespace
}  // namespace pipeline
