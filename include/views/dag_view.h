// How a DAG's schedule.after stands, for `pipectl dags show` and the API.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "store/upstream.h"

namespace pipeline::views {

// [{"upstream": "DAG.TASK", "latest": {run_id, at} | null, "consumed": {run_id, at} | null, "fresh": bool}]
nlohmann::json UpstreamJson(const UpstreamStates& states);
// One line per upstream task: "after     etl.load: success of R at T, new (not consumed yet)".
std::string UpstreamText(const nlohmann::json& upstream);

}  // namespace pipeline::views
