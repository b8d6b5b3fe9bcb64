#include "scheduler/schedule.h"

#include <gtest/gtest.h>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"

namespace pipeline {
namespace {

TimePoint T(const char* iso) { return ParseIso8601(iso)->utc; }
std::string S(TimePoint t) { return FormatIso8601(t); }

DagSpec Dag(const std::string& header) {
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult r = DagLoader(ops).LoadText("dag: d\n" + header + "tasks:\n  a: {op: shell, run: 'true'}\n", "d.yaml");
  EXPECT_TRUE(r.dag) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
  return *r.dag;
}

std::vector<std::string> Dates(const std::vector<Tick>& ticks) {
  std::vector<std::string> out;
  for (const Tick& t : ticks) out.push_back(S(t.logical_date));
  return out;
}

TEST(ScheduleTest, UnscheduledDagHasNoSchedule) {
  EXPECT_FALSE(Schedule::ForDag(Dag("")).has_value());
}

TEST(ScheduleTest, TicksCarryTheirDataInterval) {
  auto s = Schedule::ForDag(Dag("schedule: '@hourly'\nstart_date: 2026-01-01T00:00:00Z\n"));
  ASSERT_TRUE(s);
  auto tick = s->NextAfter(T("2026-01-01T05:10:00Z"));
  ASSERT_TRUE(tick);
  EXPECT_EQ(S(tick->logical_date), "2026-01-01T06:00:00Z");
  EXPECT_EQ(S(tick->interval_start), "2026-01-01T05:00:00Z");
  EXPECT_EQ(S(tick->interval_end), "2026-01-01T06:00:00Z");
}

TEST(ScheduleTest, StartAndEndDatesBoundTheTicks) {
  auto s = Schedule::ForDag(Dag("schedule: '@daily'\nstart_date: 2026-01-03T00:00:00Z\nend_date: 2026-01-05T00:00:00Z\n"));
  ASSERT_TRUE(s);
  EXPECT_EQ(S(s->NextAfter(T("2025-06-01T00:00:00Z"))->logical_date), "2026-01-03T00:00:00Z");
  EXPECT_FALSE(s->NextAfter(T("2026-01-05T00:00:00Z")));
  EXPECT_EQ(Dates(s->Between(T("2026-01-01T00:00:00Z"), T("2026-02-01T00:00:00Z"), 100)),
            (std::vector<std::string>{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"}));
  EXPECT_FALSE(s->LatestAtOrBefore(T("2026-01-02T12:00:00Z")));
  EXPECT_EQ(S(s->LatestAtOrBefore(T("2026-03-01T00:00:00Z"))->logical_date), "2026-01-05T00:00:00Z");
}

TEST(ScheduleTest, BetweenIncludesBothEndsAndHonoursTheLimit) {
  auto s = Schedule::ForDag(Dag("schedule: '0 */6 * * *'\nstart_date: 2026-01-01\n"));
  EXPECT_EQ(Dates(s->Between(T("2026-01-01T06:00:00Z"), T("2026-01-01T18:00:00Z"), 100)),
            (std::vector<std::string>{"2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z"}));
  EXPECT_EQ(s->Between(T("2026-01-01T00:00:00Z"), T("2026-12-31T00:00:00Z"), 5).size(), 5u);
}

TEST(ScheduleTest, ZoneAndDstApply) {
  // 02:30 Berlin does not exist on 2026-03-29: no tick that day (the
  // contract), and the next tick's interval runs from the day before.
  auto s = Schedule::ForDag(Dag("schedule: '30 2 * * *'\ntimezone: Europe/Berlin\nstart_date: 2026-03-27\n"));
  const std::vector<Tick> ticks = s->Between(T("2026-03-27T00:00:00Z"), T("2026-03-31T00:00:00Z"), 10);
  EXPECT_EQ(Dates(ticks), (std::vector<std::string>{"2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"}));
  ASSERT_EQ(ticks.size(), 3u);
  EXPECT_EQ(S(ticks[2].interval_start), "2026-03-28T01:30:00Z");
}

TEST(TicksToCreateTest, WithoutCatchupOnlyTheLatestMissedTick) {
  // Given a daemon down for 5 hours, then only the newest tick is created.
  auto s = Schedule::ForDag(Dag("schedule: '@hourly'\nstart_date: 2026-01-01T00:00:00Z\n"));
  auto ticks = TicksToCreate(*s, false, 1, T("2026-01-01T02:00:00Z"), 0, T("2026-01-01T07:30:00Z"));
  EXPECT_EQ(Dates(ticks), (std::vector<std::string>{"2026-01-01T07:00:00Z"}));
  EXPECT_TRUE(TicksToCreate(*s, false, 1, T("2026-01-01T07:00:00Z"), 0, T("2026-01-01T07:30:00Z")).empty());
  EXPECT_TRUE(TicksToCreate(*s, false, 1, T("2026-01-01T02:00:00Z"), 1, T("2026-01-01T07:30:00Z")).empty());
  // First start ever, start_date in the past: the latest tick only.
  EXPECT_EQ(Dates(TicksToCreate(*s, false, 1, std::nullopt, 0, T("2026-01-01T03:10:00Z"))),
            (std::vector<std::string>{"2026-01-01T03:00:00Z"}));
}

TEST(TicksToCreateTest, WithoutCatchupADagPastItsEndDateMakesItsLatestTickOnce) {
  // Given a daily DAG that ended on 2026-11-25 at noon, loaded on 12-06,
  // then it makes its latest tick's run (the contract: "it creates only the
  // latest one"; Airflow would make none), and nothing once that exists.
  auto s = Schedule::ForDag(Dag("schedule: '0 0 * * *'\nstart_date: 2026-11-20\nend_date: 2026-11-25T12:00:00Z\n"));
  EXPECT_EQ(Dates(TicksToCreate(*s, false, 1, std::nullopt, 0, T("2026-12-06T10:00:00Z"))),
            (std::vector<std::string>{"2026-11-25T00:00:00Z"}));
  EXPECT_TRUE(TicksToCreate(*s, false, 1, T("2026-11-25T00:00:00Z"), 0, T("2026-12-06T10:00:00Z")).empty());
  // With catch-up, its missed ticks are all made.
  EXPECT_EQ(TicksToCreate(*s, true, 100, std::nullopt, 0, T("2026-12-06T10:00:00Z")).size(), 6u);
}

TEST(TicksToCreateTest, WithCatchupEveryMissedTickWithinMaxActiveRuns) {
  auto s = Schedule::ForDag(Dag("schedule: '@hourly'\nstart_date: 2026-01-01T00:00:00Z\ncatchup: true\n"));
  EXPECT_EQ(Dates(TicksToCreate(*s, true, 3, T("2026-01-01T02:00:00Z"), 1, T("2026-01-01T07:30:00Z"))),
            (std::vector<std::string>{"2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"}));
  EXPECT_EQ(Dates(TicksToCreate(*s, true, 10, std::nullopt, 0, T("2026-01-01T02:30:00Z"))),
            (std::vector<std::string>{"2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}));
  EXPECT_TRUE(TicksToCreate(*s, true, 10, std::nullopt, 0, T("2025-12-31T23:59:00Z")).empty());
}

}  // namespace
}  // namespace pipeline
