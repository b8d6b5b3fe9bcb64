// RenderTry: what a try's templates become, from a loaded DAG, a run and
// its params: the function the executor and (soon) remote workers share.
#include "exec/try_render.h"

#include <gtest/gtest.h>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"

namespace pipeline {
namespace {

TEST(TryRenderTest, RendersWithRunAndEnvFromTheRunAndTheTry) {
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult loaded = DagLoader(ops).LoadText(R"(dag: report
params:
  region: eu
  days: [1, 2]
tasks:
  build:
    op: shell
    run: "make {{ params.region }} --try {{ task.try }} --run {{ run.id }}"
    env: {DAY: "{{ run.logical_date }}", TASK: "{{ dag.id }}.{{ task.id }}", DAYS: "{{ params.days }}"}
    with: {workdir: "/data/{{ params.region }}/{{ run.data_interval_start }}"}
)",
                                                  "report.yaml");
  ASSERT_TRUE(loaded.dag);
  RunRecord run;
  run.run_id = "20260301T000000-abc";
  run.dag_id = "report";
  run.logical_date = ParseIso8601("2026-03-01T00:00:00Z")->utc;
  run.data_interval_start = ParseIso8601("2026-02-28T00:00:00Z")->utc;
  run.data_interval_end = run.logical_date;
  std::string error;
  auto params = ResolveParams(*loaded.dag, {{"region", "us"}}, &error);
  ASSERT_TRUE(params) << error;

  RenderedTry r = RenderTry(*loaded.dag, loaded.dag->tasks[0], run, *params, 3);
  EXPECT_EQ(r.command, "make us --try 3 --run 20260301T000000-abc");
  ASSERT_EQ(r.env.size(), 3u);
  EXPECT_EQ(r.env[0], (std::pair<std::string, std::string>{"DAY", "2026-03-01T00:00:00Z"}));
  EXPECT_EQ(r.env[1], (std::pair<std::string, std::string>{"TASK", "report.build"}));
  EXPECT_EQ(r.env[2], (std::pair<std::string, std::string>{"DAYS", "[1,2]"}));
  ASSERT_TRUE(r.args && r.args->Find("workdir"));
  EXPECT_EQ(r.args->Find("workdir")->text(), "/data/us/2026-02-28T00:00:00Z");
  EXPECT_EQ(TryVariable("run.data_interval_end", *loaded.dag, loaded.dag->tasks[0], run, *params, 1),
            "2026-03-01T00:00:00Z");
  // The day the data belongs to: the interval's start (Airflow 2's ds).
  EXPECT_EQ(TryVariable("run.ds", *loaded.dag, loaded.dag->tasks[0], run, *params, 1), "2026-02-28");
  EXPECT_EQ(TryVariable("run.ds_nodash", *loaded.dag, loaded.dag->tasks[0], run, *params, 1), "20260228");
}

TEST(TryRenderTest, TheDayOfTheDataIsOnTheDagsCalendar) {
  // Given a Berlin @daily run whose data interval is local 2026-12-05 (from
  // 23:00 UTC on the 4th), then run.ds is the 5th, not the UTC date.
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  LoadResult loaded = DagLoader(ops).LoadText("dag: berlin\nschedule: '@daily'\ntimezone: Europe/Berlin\n"
                                              "start_date: 2026-01-01\ntasks:\n  a: {op: shell, run: 'true'}\n",
                                              "berlin.yaml");
  ASSERT_TRUE(loaded.dag);
  RunRecord run;
  run.data_interval_start = ParseIso8601("2026-12-04T23:00:00Z")->utc;
  run.logical_date = run.data_interval_end = ParseIso8601("2026-12-05T23:00:00Z")->utc;
  const ParamValues none;
  EXPECT_EQ(TryVariable("run.ds", *loaded.dag, loaded.dag->tasks[0], run, none, 1), "2026-12-05");
  EXPECT_EQ(TryVariable("run.ds_nodash", *loaded.dag, loaded.dag->tasks[0], run, none, 1), "20261205");
  // (Summer: 22:00 UTC is local midnight.)
  run.data_interval_start = ParseIso8601("2026-07-01T22:00:00Z")->utc;
  EXPECT_EQ(TryVariable("run.ds", *loaded.dag, loaded.dag->tasks[0], run, none, 1), "2026-07-02");
}

}  // namespace
}  // namespace pipeline
