#include "scheduler/sla.h"

#include <gtest/gtest.h>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"

namespace pipeline {
namespace {

TimePoint T(const char* iso) { return ParseIso8601(iso)->utc; }

DagSpec Load(const std::string& text) {
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult r = DagLoader(ops).LoadText(text, "/tmp/sla.yaml");
  EXPECT_TRUE(r.dag) << (r.diagnostics.empty() ? "" : r.diagnostics.front().ToString());
  return r.dag ? *r.dag : DagSpec{};
}

RunRecord MakeRun(const char* trigger, RunState state, std::optional<TimePoint> ended = std::nullopt) {
  RunRecord run;
  run.run_id = "r1";
  run.dag_id = "d";
  run.trigger = trigger;
  run.logical_date = T("2026-06-01T10:00:00Z");
  run.state = state;
  run.ended_at = ended;
  return run;
}

TaskInstanceRecord Task(TaskState state, std::optional<TimePoint> ended = std::nullopt) {
  TaskInstanceRecord t;
  t.run_id = "r1";
  t.task_id = "load";
  t.state = state;
  t.ended_at = ended;
  return t;
}

const char* kDag =
    "dag: d\nschedule: '@hourly'\nstart_date: 2026-01-01\ndeadline: 2h\ndefaults: {sla: 1h}\n"
    "tasks:\n  load: {op: shell, run: 'true', sla: 30m}\n  rest: {op: shell, run: 'true', depends_on: [load]}\n";

TEST(SlaTest, PointsCountFromTheLogicalDateOfScheduledRunsOnly) {
  DagSpec dag = Load(kDag);
  ASSERT_TRUE(HasSla(dag));
  std::vector<SlaPoint> points = SlaPoints(dag, MakeRun("scheduled", RunState::kRunning));
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].task_id, "");  // the deadline
  EXPECT_EQ(points[0].due, T("2026-06-01T12:00:00Z"));
  EXPECT_EQ(points[1].task_id, "load");  // its own sla over the default
  EXPECT_EQ(points[1].due, T("2026-06-01T10:30:00Z"));
  EXPECT_EQ(points[2].task_id, "rest");  // the default
  EXPECT_EQ(points[2].due, T("2026-06-01T11:00:00Z"));
  EXPECT_TRUE(SlaPoints(dag, MakeRun("manual", RunState::kRunning)).empty());
  EXPECT_TRUE(SlaPoints(dag, MakeRun("backfill", RunState::kRunning)).empty());
  EXPECT_FALSE(HasSla(Load("dag: e\ntasks:\n  a: {op: shell, run: 'true'}\n")));
}

TEST(SlaTest, ATaskMissesWhenTheRunStillWaitedForItAfterItWasDue) {
  const SlaPoint point{"load", T("2026-06-01T10:30:00Z")};
  const TimePoint now = T("2026-06-01T10:31:00Z");
  const RunRecord running = MakeRun("scheduled", RunState::kRunning);
  // Not done while the run goes on: missed, in whatever state it is.
  TaskInstanceRecord t = Task(TaskState::kRunning);
  EXPECT_EQ(SlaMissState(point, running, &t, now), "running");
  t = Task(TaskState::kPending);
  EXPECT_EQ(SlaMissState(point, running, &t, now), "pending");
  t = Task(TaskState::kUpForRetry);
  EXPECT_EQ(SlaMissState(point, running, &t, now), "up_for_retry");
  // Done in time (to the microsecond), or skipped in time: met.
  t = Task(TaskState::kSuccess, point.due);
  EXPECT_EQ(SlaMissState(point, running, &t, now), std::nullopt);
  t = Task(TaskState::kSkipped, T("2026-06-01T10:05:00Z"));
  EXPECT_EQ(SlaMissState(point, running, &t, now), std::nullopt);
  // Done late: missed, and says so.
  t = Task(TaskState::kSuccess, point.due + std::chrono::microseconds(1));
  EXPECT_EQ(SlaMissState(point, running, &t, now), "success");
  // Failed: missed while the run went on past the point, not when the run
  // had given up on it before.
  t = Task(TaskState::kFailed, T("2026-06-01T10:10:00Z"));
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kFailed, T("2026-06-01T10:20:00Z")), &t, now),
            std::nullopt);
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kFailed, T("2026-06-01T10:40:00Z")), &t, now), "failed");
  t = Task(TaskState::kUpstreamFailed);
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kFailed, T("2026-06-01T10:40:00Z")), &t, now),
            "upstream_failed");
}

TEST(SlaTest, ADeadlineMissesWhenTheRunEndedAfterItOrHasNotEnded) {
  const SlaPoint point{"", T("2026-06-01T12:00:00Z")};
  const TimePoint now = T("2026-06-01T12:00:01Z");
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kRunning), nullptr, now), "running");
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kQueued), nullptr, now), "queued");
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kSuccess, T("2026-06-01T11:59:00Z")), nullptr, now),
            std::nullopt);
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kSuccess, T("2026-06-01T12:00:00.5Z")), nullptr, now),
            "success");
  EXPECT_EQ(SlaMissState(point, MakeRun("scheduled", RunState::kFailed, T("2026-06-01T13:00:00Z")), nullptr, now),
            "failed");
}

}  // namespace
}  // namespace pipeline
