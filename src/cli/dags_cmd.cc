// `pipectl dags list|show` from the state store.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "dag/loader.h"
#include "store/upstream.h"
#include "views/dag_view.h"

namespace pipeline::cli {

int DagsListLocal(const GlobalOptions& g) {
  auto store = OpenStore(g);
  std::vector<DagRecord> dags = store->ListDags();
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const DagRecord& d : dags) {
      out.push_back({{"dag_id", d.dag_id}, {"version", d.latest_version}, {"paused", d.paused},
                     {"schedule", d.schedule ? nlohmann::json(*d.schedule) : nlohmann::json(nullptr)},
                     {"file", d.file}});
    }
    std::cout << nlohmann::json{{"dags", out}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"DAG", "SCHEDULE", "PAUSED", "VERSION", "FILE"}};
  for (const DagRecord& d : dags) {
    rows.push_back({d.dag_id, d.schedule.value_or(""), d.paused ? "true" : "false",
                    std::to_string(d.latest_version), d.file});
  }
  std::cout << FormatTable(rows);
  return kExitOk;
}

int DagsShowLocal(const GlobalOptions& g, const std::string& dag_id) {
  auto store = OpenStore(g);
  auto record = store->GetDag(dag_id);
  if (!record) {
    std::cerr << "pipectl: no DAG '" << dag_id << "' in " << ResolveDbUrl(g) << "\n";
    return kExitFailed;
  }
  auto version = store->GetDagVersion(dag_id, record->latest_version);
  LoadResult loaded = DagLoader(Operators()).LoadText(version->source, version->file);
  if (g.json) {
    nlohmann::json tasks = nlohmann::json::array();
    if (loaded.dag) {
      for (const TaskSpec& t : loaded.dag->tasks) {
        tasks.push_back({{"task_id", t.id}, {"op", t.op}, {"depends_on", t.depends_on},
                         {"trigger_rule", ToString(t.trigger_rule)}, {"retries", t.retry.retries},
                         {"queue", t.queue}});
      }
    }
    nlohmann::json out = {{"dag_id", dag_id}, {"version", record->latest_version}, {"paused", record->paused},
                          {"file", record->file}, {"schedule", record->schedule ? nlohmann::json(*record->schedule) : nlohmann::json(nullptr)},
                          {"tasks", tasks}};
    if (loaded.dag && !loaded.dag->after.empty()) {
      out["upstream"] = views::UpstreamJson(ReadUpstreamStates(*store, dag_id, loaded.dag->after));
    }
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << "dag       " << dag_id << " (version " << record->latest_version << ")\n"
            << "file      " << record->file << "\n"
            << "schedule  " << record->schedule.value_or("none") << "\n";
  if (loaded.dag && !loaded.dag->after.empty()) {
    std::cout << views::UpstreamText(views::UpstreamJson(ReadUpstreamStates(*store, dag_id, loaded.dag->after)));
  }
  std::cout << "paused    " << (record->paused ? "true" : "false") << "\n\n";
  if (!loaded.dag) return kExitOk;
  std::vector<std::vector<std::string>> rows = {{"TASK", "OP", "DEPENDS ON", "TRIGGER RULE", "RETRIES"}};
  for (const TaskSpec& t : loaded.dag->tasks) {
    std::string deps;
    for (const std::string& up : t.depends_on) deps += (deps.empty() ? "" : ",") + up;
    rows.push_back({t.id, t.op, deps, std::string(ToString(t.trigger_rule)), std::to_string(t.retry.retries)});
  }
  std::cout << FormatTable(rows);
  return kExitOk;
}

}  // namespace pipeline::cli
