#include "store/upstream.h"

#include <nlohmann/json.hpp>

namespace pipeline {

namespace {

using nlohmann::json;

std::optional<TaskSuccess> Entry(const json& doc, const std::string& key) {
  if (!doc.is_object() || !doc.contains(key)) return std::nullopt;
  const json& e = doc[key];
  if (!e.is_object() || !e.value("run_id", json()).is_string() || !e.value("at", json()).is_number_integer()) {
    return std::nullopt;
  }
  return TaskSuccess{e["run_id"].get<std::string>(), FromMicros(e["at"].get<int64_t>())};
}

}  // namespace

bool UpstreamStates::all_fresh() const {
  if (upstream.empty()) return false;
  for (const UpstreamState& u : upstream) {
    if (!u.fresh()) return false;
  }
  return true;
}

UpstreamStates ReadUpstreamStates(StateStore& store, const std::string& dag_id, const std::vector<std::string>& after) {
  UpstreamStates out;
  RunFilter filter;  // the DAG's newest run, whatever made it; then, unless it was, its newest upstream one
  filter.dag_id = dag_id;
  filter.limit = 1;
  std::vector<RunRecord> runs = store.ListRuns(filter);
  std::optional<TimePoint> since;
  if (!runs.empty() && runs.front().trigger != "upstream") {
    since = runs.front().created_at;
    filter.trigger = "upstream";
    runs = store.ListRuns(filter);
  }
  json consumed = json::object();
  if (!runs.empty()) {
    out.last_run = runs.front();
    consumed = json::parse(runs.front().upstream_json, nullptr, false);
  }
  for (const std::string& up : after) {
    UpstreamState s;
    s.upstream = up;
    s.since = since;
    const size_t dot = up.find('.');
    if (dot != std::string::npos) s.latest = store.LatestSuccess(up.substr(0, dot), up.substr(dot + 1));
    s.consumed = Entry(consumed, up);
    out.upstream.push_back(std::move(s));
  }
  return out;
}

std::string ConsumedJson(const UpstreamStates& states) {
  json out = json::object();
  for (const UpstreamState& u : states.upstream) {
    if (u.latest) out[u.upstream] = {{"run_id", u.latest->run_id}, {"at", ToMicros(u.latest->at)}};
  }
  return out.dump();
}

std::string UpstreamRunOf(const RunRecord& run, const std::string& dag) {
  json doc = json::parse(run.upstream_json, nullptr, false);
  if (!doc.is_object()) return "";
  std::optional<TaskSuccess> newest;
  for (const auto& [key, value] : doc.items()) {
    if (!key.starts_with(dag + ".")) continue;
    auto e = Entry(doc, key);
    if (e && (!newest || e->at > newest->at)) newest = e;
  }
  return newest ? newest->run_id : "";
}

}  // namespace pipeline
