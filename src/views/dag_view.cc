#include "views/dag_view.h"

#include <nlohmann/json.hpp>

namespace pipeline::views {

namespace {

nlohmann::json SuccessJson(const std::optional<TaskSuccess>& s) {
  if (!s) return nullptr;
  return {{"run_id", s->run_id}, {"at", FormatIso8601(s->at)}};
}

}  // namespace

nlohmann::json UpstreamJson(const UpstreamStates& states) {
  nlohmann::json out = nlohmann::json::array();
  for (const UpstreamState& u : states.upstream) {
    out.push_back({{"upstream", u.upstream},
                   {"latest", SuccessJson(u.latest)},
                   {"consumed", SuccessJson(u.consumed)},
                   {"fresh", u.fresh()}});
  }
  return out;
}

std::string UpstreamText(const nlohmann::json& upstream) {
  std::string out;
  for (const auto& u : upstream) {
    out += "after     " + u.value("upstream", "") + ": ";
    const nlohmann::json& latest = u["latest"];
    if (!latest.is_object()) {
      out += "no success yet\n";
      continue;
    }
    out += "success in run " + latest.value("run_id", "") + " at " + latest.value("at", "") +
           (u.value("fresh", false) ? ", new (a run starts once every upstream task has a new one)\n"
                                    : ", consumed by the last run\n");
  }
  return out;
}

}  // namespace pipeline::views
