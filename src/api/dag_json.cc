#include "api/dag_json.h"

#include <nlohmann/json.hpp>

#include "dag/params.h"
#include "scheduler/scheduler.h"
#include "store/upstream.h"
#include "views/dag_view.h"

namespace pipeline {

namespace {

using nlohmann::json;

json OptTime(const std::optional<TimePoint>& t) { return t ? json(FormatIso8601(*t)) : json(nullptr); }

// A mapped task's `map_over`, as the DAG file says it.
json MapOverJson(const MapOver& m, int max_length) {
  json out = {{"max_map_length", max_length}};
  switch (m.kind) {
    case MapOver::Kind::kList:
      out["items"] = m.items;
      break;
    case MapOver::Kind::kParam:
      out["param"] = m.name;
      break;
    case MapOver::Kind::kGlob:
      out["glob"] = m.name;
      break;
  }
  return out;
}

}  // namespace

json DagJson(StateStore& store, const DagStatus& s, bool detail) {
  const DagSpec& d = *s.spec;
  json out = {{"dag_id", d.id},
              {"description", d.description},
              {"schedule", d.schedule ? json(*d.schedule) : json(nullptr)},
              {"after", d.after},
              {"timezone", d.timezone},
              {"paused", s.paused},
              {"version", s.version},
              {"file", d.file},
              {"next_tick", OptTime(s.next_tick)},
              {"last_run_state", s.last_run ? json(ToString(s.last_run->state)) : json(nullptr)},
              {"last_run_id", s.last_run ? json(s.last_run->run_id) : json(nullptr)}};
  if (!detail) return out;
  // What a trigger form needs: each parameter's default and its type (a
  // trigger value must have the default's type; an integer is a number).
  json params = json::array();
  for (const ParamSpec& param : d.params) {
    // The type as YAML reads the default (0.80 is a number, though its JSON
    // is the text "0.80": ParamValueJson keeps it as written).
    const DocNode& v = *param.value;
    const char* type = v.is_sequence() ? "list"
                       : v.is_null()   ? "null"
                       : v.AsInt()     ? "integer"
                       : v.AsDouble()  ? "number"
                       : v.AsBool()    ? "boolean"
                                       : "string";
    json value = json::parse(ParamValueJson(v));
    params.push_back({{"name", param.name}, {"type", type}, {"default", std::move(value)}});
  }
  out["params"] = std::move(params);
  json tasks = json::array(), edges = json::array();
  for (const TaskSpec& t : d.tasks) {
    tasks.push_back({{"task_id", t.id},
                     {"op", t.op},
                     {"depends_on", t.depends_on},
                     {"trigger_rule", ToString(t.trigger_rule)},
                     {"retries", t.retry.retries},
                     {"timeout", t.timeout ? json(FormatDuration(*t.timeout)) : json(nullptr)},
                     {"queue", t.queue}});
    if (t.map_over) tasks.back()["map_over"] = MapOverJson(*t.map_over, t.max_map_length);
    for (const std::string& up : t.depends_on) edges.push_back({up, t.id});
  }
  out["tasks"] = tasks;
  out["edges"] = edges;
  out["max_active_runs"] = d.max_active_runs;
  out["catchup"] = d.catchup;
  if (!d.after.empty()) out["upstream"] = views::UpstreamJson(ReadUpstreamStates(store, d.id, d.after));
  return out;
}


}  // namespace pipeline
