// How a run and its tasks are shown: a table for people, JSON for machines.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/state_store.h"

namespace pipeline::views {

// {run_id, dag_id, state, ..., tasks: [{task_id, state, try, ...}]}
nlohmann::json RunJson(StateStore& store, const RunRecord& run);
nlohmann::json RunSummaryJson(const RunRecord& run);

// One line per task: state, tries, start and duration (of the current try),
// rows in/out, summary or error; TaskTable of RunJson's.
std::string RunTaskTable(StateStore& store, const RunRecord& run);
// The same of a run's JSON (RunJson's, or GET /api/v1/runs/{id}'s).
std::string TaskTable(const nlohmann::json& run);
// `pipectl runs list`'s table of run summaries (RunSummaryJson's, or GET
// /api/v1/runs's): id, DAG, state, trigger, logical date, duration.
std::string RunsTable(const nlohmann::json& runs);
// [{task_id ("" for the deadline), due, detected_at, state}], as stored.
nlohmann::json SlaMissesJson(const std::vector<SlaMissRecord>& misses);
// "sla     missed: load (due ..., running then); deadline (due ..., ...)\n",
// or "" when the list (SlaMissesJson's) is empty.
std::string SlaMissLine(const nlohmann::json& misses);
// `pipectl runs show`'s lines above the task table, of a run's JSON
// (RunSummaryJson's with "sla_misses", or GET /api/v1/runs/{id}'s): run, dag,
// state, trigger, what it reruns, params, missed SLAs.
std::string RunHeader(const nlohmann::json& run);
// The validation reports of a run (its tasks' `report` artifacts), for
// `pipectl runs show` below the task table: per check the rows checked and
// failed and up to 5 failing examples, the table checks, and a profile per
// column. `read(task_id)` gives a task's report.json (nullopt: not to be
// had, said as such). "" when no task has a report.
std::string ValidationReports(const nlohmann::json& run,
                              const std::function<std::optional<nlohmann::json>(const std::string&, const nlohmann::json&)>& read);
// A task's DETAIL column: its summary, quarantined rows and error.
std::string TaskDetail(const nlohmann::json& metrics, const std::string& error);
// Why a task has no log: "task 'b' has not started (it is pending)", or, in
// a state it ended in without a try, "task 'b' did not run (it ended upstream_failed)".
std::string NoTryMessage(const std::string& task_id, TaskState state);

// The grid of the DAG's last `runs` runs (newest first) by the tasks of
// `task_ids` (its current version's, upstream first), compact for a large
// DAG: {"dag_id", "tasks": [...], "states": [legend], "runs": [{run_id,
// state, dag_version, logical_date, started_at, ended_at}], "cells":
// [[state index per task, -1 when the run has no such task], ...]}. A mapped
// task's cell is its own state (its instances are in the run's JSON).
nlohmann::json GridJson(StateStore& store, const std::string& dag_id, const std::vector<std::string>& task_ids,
                        int runs);

}  // namespace pipeline::views
