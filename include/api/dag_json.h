// A DAG as the API says it, and pipectl from the store alike.
#pragma once

#include <nlohmann/json_fwd.hpp>

namespace pipeline {

class StateStore;
struct DagStatus;

// GET /api/v1/dags says this of each DAG (detail false); GET
// /api/v1/dags/ID says more (detail true: its parameters with their types,
// tasks, edges, max_active_runs, catchup, and how its schedule.after stands).
// `pipectl dags list|show --json` print the same from the store.
nlohmann::json DagJson(StateStore& store, const DagStatus& status, bool detail);

}  // namespace pipeline
