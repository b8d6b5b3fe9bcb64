// How a run and its tasks are shown: a table for people, JSON for machines.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "store/state_store.h"

namespace pipeline::views {

// {run_id, dag_id, state, ..., tasks: [{task_id, state, try, ...}]}
nlohmann::json RunJson(StateStore& store, const RunRecord& run);
nlohmann::json RunSummaryJson(const RunRecord& run);

// One line per task: state, tries, start, duration, rows in/out, summary or error.
std::string RunTaskTable(StateStore& store, const RunRecord& run);
// A task's DETAIL column: its summary, quarantined rows and error.
std::string TaskDetail(const nlohmann::json& metrics, const std::string& error);

}  // namespace pipeline::views
