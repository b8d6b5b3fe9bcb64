// `pipectl dags list|show` from the state store.

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/time.h"
#include "dag/loader.h"
#include "scheduler/schedule.h"
#include "store/upstream.h"
#include "views/dag_view.h"

namespace pipeline::cli {

void PrintDagsTable(const nlohmann::json& dags) {
  std::vector<std::vector<std::string>> rows = {{"DAG", "SCHEDULE", "PAUSED", "VERSION", "NEXT TICK", "LAST RUN"}};
  auto text = [](const nlohmann::json& v) {
    return v.is_null() ? std::string() : v.is_string() ? v.get<std::string>() : v.dump();
  };
  for (const auto& d : dags) {
    // The schedule as the DAG file says it ("0 6 * * * or after etl.load").
    std::optional<std::string> cron;
    if (d["schedule"].is_string()) cron = d["schedule"].get<std::string>();
    std::vector<std::string> after;
    for (const auto& a : d.value("after", nlohmann::json::array())) {
      if (a.is_string()) after.push_back(a.get<std::string>());
    }
    rows.push_back({text(d["dag_id"]), ScheduleText(cron, after).value_or(""), text(d["paused"]), text(d["version"]),
                    text(d["next_tick"]), text(d["last_run_state"])});
  }
  std::cout << FormatTable(rows);
}

int DagsListLocal(const GlobalOptions& g) {
  auto store = OpenStore(g);
  const TimePoint now = SystemClock::Default()->Now();
  // What the daemon's GET /api/v1/dags says of each DAG, from the store: the
  // stored version's schedule, its next tick from now, its newest run.
  nlohmann::json out = nlohmann::json::array();
  for (const DagRecord& d : store->ListDags()) {
    nlohmann::json dag = {{"dag_id", d.dag_id}, {"version", d.latest_version}, {"paused", d.paused},
                          {"file", d.file}, {"next_tick", nullptr}};
    LoadResult loaded;
    if (auto version = store->GetDagVersion(d.dag_id, d.latest_version)) {
      loaded = DagLoader(Operators()).LoadText(version->source, version->file);
    }
    const std::optional<DagSpec>& spec = loaded.dag;
    if (spec) {  // (a stored version passed the loader when it was stored)
      dag["schedule"] = spec->schedule ? nlohmann::json(*spec->schedule) : nlohmann::json(nullptr);
      dag["after"] = spec->after;
      if (auto schedule = Schedule::ForDag(*spec)) {
        if (auto tick = schedule->NextAfter(now)) dag["next_tick"] = FormatIso8601(tick->logical_date);
      }
    } else {
      dag["schedule"] = d.schedule ? nlohmann::json(*d.schedule) : nlohmann::json(nullptr);
    }
    RunFilter last;
    last.dag_id = d.dag_id;
    last.limit = 1;
    std::vector<RunRecord> runs = store->ListRuns(last);
    dag["last_run_state"] = runs.empty() ? nlohmann::json(nullptr) : nlohmann::json(ToString(runs[0].state));
    dag["last_run_id"] = runs.empty() ? nlohmann::json(nullptr) : nlohmann::json(runs[0].run_id);
    out.push_back(std::move(dag));
  }
  if (g.json) {
    std::cout << nlohmann::json{{"dags", out}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    PrintDagsTable(out);
  }
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
