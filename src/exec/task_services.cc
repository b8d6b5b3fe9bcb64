#include "exec/task_services.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "dag/loader.h"
#include "dag/params.h"
#include "exec/executor.h"
#include "store/model_ref.h"

namespace pipeline {

std::optional<RegisteredModel> FindRegisteredModel(StateStore& store, std::string_view ref,
                                                   const std::string* task_model_uri) {
  std::optional<ModelVersionRecord> found;
  if (task_model_uri) {
    for (const ModelSummary& m : store.ListModels()) {
      for (ModelVersionRecord& v : store.ListModelVersions(m.name)) {
        if (v.uri == *task_model_uri) found = std::move(v);
      }
    }
  } else {
    std::string error;
    auto parsed = ParseModelRef(ref, &error);
    if (!parsed) throw Error::InvalidArgument(error);
    found = ResolveModelRef(store, *parsed, &error);
  }
  if (!found) return std::nullopt;
  RegisteredModel out;
  out.version = found->version;
  ModelRegistration& m = out.model;
  m.name = found->name;
  m.model_type = found->model_type;
  m.kind = found->kind;
  m.uri = found->uri;
  m.format = found->format;
  m.content_hash = found->content_hash;
  m.target = found->target;
  m.features_json = found->features_json;
  m.transforms_json = found->transforms_json;
  m.params_json = found->params_json;
  m.metrics_json = found->metrics_json;
  m.importance_json = found->importance_json;
  for (const ModelAliasRecord& a : store.GetModelAliases(found->name)) {
    if (a.version == found->version) out.aliases += (out.aliases.empty() ? "" : ",") + a.alias;
  }
  return out;
}

std::string CreateTriggeredRun(StateStore& store, const OperatorRegistry& ops, Clock& clock,
                               const std::string& triggered_by, const std::string& dag_id, const std::string& params_json, const std::string& run_id) {
  auto dag = store.GetDag(dag_id);
  if (!dag) {
    throw Error::NotFound("no DAG '" + dag_id +
                          "' in the state store (piped stores the DAGs of its folder; pipectl run stores a DAG it runs)");
  }
  auto version = store.GetDagVersion(dag_id, dag->latest_version);
  if (!version) throw Error::NotFound("DAG '" + dag_id + "' has no stored version " + std::to_string(dag->latest_version));
  LoadResult loaded = DagLoader(ops).LoadText(version->source, version->file);
  if (!loaded.dag) {
    throw Error::InvalidArgument("DAG '" + dag_id + "' version " + std::to_string(version->version) +
                                 " does not load: " + (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().ToString()));
  }
  std::vector<std::pair<std::string, std::string>> overrides;
  nlohmann::json params = nlohmann::json::parse(params_json.empty() ? "{}" : params_json, nullptr, false);
  if (!params.is_object()) throw Error::InvalidArgument("trigger_dag: params must be a map");
  // As the API reads them: "0.80" (a number written so) is typed as YAML reads it.
  for (const auto& [name, value] : params.items()) overrides.emplace_back(name, JsonParamOverride(value.dump()));
  std::string error;
  auto resolved = ResolveParams(*loaded.dag, overrides, &error);
  if (!resolved) throw Error::InvalidArgument("DAG '" + dag_id + "': " + error);
  const TimePoint now = clock.Now();
  RunRecord run;
  run.run_id = run_id.empty() ? NewRunId(now) : run_id;
  run.dag_id = dag_id;
  run.dag_version = version->version;
  run.trigger = "dag";
  run.triggered_by = triggered_by;
  run.logical_date = run.data_interval_start = run.data_interval_end = now;
  run.params_json = ParamsToJson(*resolved);
  run.created_at = now;
  run.state = RunState::kQueued;
  std::vector<NewTaskInstance> tasks;
  for (const TaskSpec& t : loaded.dag->tasks) tasks.push_back({t.id, 1 + t.retry.retries});
  store.CreateRun(run, tasks);
  return run.run_id;
}

std::string TaskMetricsJson(const TaskMetrics& m) {
  std::string out = "{";
  auto add = [&](const char* key, const std::optional<int64_t>& v) {
    if (!v) return;
    if (out.size() > 1) out += ',';
    out += std::string("\"") + key + "\":" + std::to_string(*v);
  };
  add("rows_in", m.rows_in);
  add("rows_out", m.rows_out);
  add("rows_quarantined", m.rows_quarantined);
  add("bytes_out", m.bytes_out);
  if (!m.summary.empty()) {
    if (out.size() > 1) out += ',';
    out += "\"summary\":\"";
    for (char ch : m.summary) {
      if (ch == '"' || ch == '\\') out += '\\';
      if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
    }
    out += '"';
  }
  if (!m.alert.empty()) {
    out += std::string(out.size() > 1 ? "," : "") + "\"alert\":" +
           nlohmann::json(m.alert).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (!m.gauges.empty()) {
    nlohmann::json gauges = nlohmann::json::array();
    for (const auto& g : m.gauges) gauges.push_back({{"name", g.name}, {"column", g.column}, {"value", g.value}});
    out += std::string(out.size() > 1 ? "," : "") + "\"gauges\":" +
           gauges.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return out + "}";
}

TaskMetrics TaskMetricsFromJson(const std::string& text) {
  TaskMetrics m;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return m;
  auto number = [&](const char* key) -> std::optional<int64_t> {
    return j.contains(key) && j[key].is_number_integer() ? std::optional<int64_t>(j[key].get<int64_t>()) : std::nullopt;
  };
  m.rows_in = number("rows_in");
  m.rows_out = number("rows_out");
  m.rows_quarantined = number("rows_quarantined");
  m.bytes_out = number("bytes_out");
  if (j.contains("summary") && j["summary"].is_string()) m.summary = j["summary"].get<std::string>();
  if (j.contains("alert") && j["alert"].is_string()) m.alert = j["alert"].get<std::string>();
  if (j.contains("gauges") && j["gauges"].is_array()) {
    for (const auto& g : j["gauges"]) {
      if (!g.is_object() || !g.value("name", nlohmann::json()).is_string()) continue;
      m.gauges.push_back({g["name"].get<std::string>(), g.value("column", std::string()), g.value("value", 0.0)});
    }
  }
  return m;
}

}  // namespace pipeline
