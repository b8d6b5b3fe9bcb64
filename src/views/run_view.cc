#include "views/run_view.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "core/url.h"
#include "views/format.h"

namespace pipeline::views {

namespace {

nlohmann::json OptTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatIso8601(*t)) : nlohmann::json(nullptr);
}

nlohmann::json Metrics(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json::object() : parsed;
}

std::string Duration_(const std::optional<TimePoint>& start, const std::optional<TimePoint>& end) {
  if (!start || !end) return "";
  return FormatElapsed(std::chrono::duration_cast<Duration>(*end - *start));
}

// Running tries of `run` that sit in the work queue unclaimed, by task id:
// what they wait for (a busy worker of their queue, or a queue no live
// worker serves). Empty for an ended run (no query made).
std::map<std::string, std::string> WaitingTries(StateStore& store, const RunRecord& run,
                                                const std::vector<TaskInstanceRecord>& tasks) {
  std::map<std::string, std::string> out;
  if (IsTerminal(run.state)) return out;
  std::map<std::string, int> running;  // task -> its current try
  for (const TaskInstanceRecord& t : tasks) {
    if (t.state == TaskState::kRunning) running[t.task_id] = t.try_number;
  }
  if (running.empty()) return out;
  std::vector<WorkRecord> work = store.ListWork(run.run_id);
  if (work.empty()) return out;
  const TimePoint now = SystemClock::Default()->Now();
  std::vector<WorkerRecord> workers = store.ListWorkers();
  for (const WorkRecord& w : work) {
    auto it = running.find(w.item.task_id);
    if (w.state != "ready" || it == running.end() || it->second != w.item.try_number) continue;
    const std::string& queue = w.item.queue;
    bool served = std::any_of(workers.begin(), workers.end(), [&](const WorkerRecord& r) {
      return r.live_until > now && std::find(r.queues.begin(), r.queues.end(), queue) != r.queues.end();
    });
    out[w.item.task_id] = served ? "waiting for a free worker of queue " + queue
                                 : "waiting for a worker: no live worker serves queue " + queue;
  }
  return out;
}

}  // namespace

namespace {

// "RUN_ID/TASK_ID" -> {"run_id", "task_id"}; null for a run no task made.
nlohmann::json TriggeredByJson(const std::string& by) {
  const size_t slash = by.find('/');
  if (slash == std::string::npos) return nullptr;
  return {{"run_id", by.substr(0, slash)}, {"task_id", by.substr(slash + 1)}};
}

}  // namespace

nlohmann::json RunSummaryJson(const RunRecord& run) {
  return {{"run_id", run.run_id},
          {"dag_id", run.dag_id},
          {"dag_version", run.dag_version},
          {"state", ToString(run.state)},
          {"trigger", run.trigger},
          {"logical_date", FormatIso8601(run.logical_date)},
          {"data_interval_start", FormatIso8601(run.data_interval_start)},
          {"data_interval_end", FormatIso8601(run.data_interval_end)},
          {"params", Metrics(run.params_json)},
          {"created_at", FormatIso8601(run.created_at)},
          {"started_at", OptTime(run.started_at)},
          {"ended_at", OptTime(run.ended_at)},
          {"rerun_of", run.rerun_of.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.rerun_of)},
          {"triggered_by", TriggeredByJson(run.triggered_by)}};
}

namespace {

// A task's report as a run lists it: the validation ("report") or drift
// ("drift") report it wrote, by name, gist and address (the content is one
// GET away; the run is read often, by the UI's polling among others), or
// null when it wrote none.
nlohmann::json TaskReport(const std::string& run_id, const std::string& task_id, const nlohmann::json& metrics,
                          const nlohmann::json& task_artifacts) {
  for (const nlohmann::json& a : task_artifacts) {
    const std::string name = a.value("name", "");
    if (name != "report" && name != "drift") continue;
    return {{"artifact", name},
            {"summary", metrics.value("summary", "")},
            {"url", "/api/v1/runs/" + PathSegment(run_id) + "/tasks/" + PathSegment(task_id) + "/artifacts/" + name}};
  }
  return nullptr;
}

}  // namespace

nlohmann::json RunJson(StateStore& store, const RunRecord& run) {
  nlohmann::json out = RunSummaryJson(run);
  nlohmann::json tasks = nlohmann::json::array();
  std::map<std::string, std::vector<TaskTryRecord>> by_task;  // one query for all tries
  for (TaskTryRecord& tr : store.GetRunTries(run.run_id)) by_task[tr.task_id].push_back(std::move(tr));
  std::map<std::string, nlohmann::json> artifacts;  // persisted outputs, reports, quarantines
  for (const ArtifactRecord& a : store.ListArtifacts(run.run_id)) {
    nlohmann::json schema = nlohmann::json::parse(a.schema_json, nullptr, false);
    nlohmann::json& list = artifacts[a.task_id];
    if (list.is_null()) list = nlohmann::json::array();
    list.push_back({{"name", a.name},
                    {"uri", a.uri},
                    {"rows", a.row_count},
                    {"content_hash", a.content_hash},
                    {"columns", schema.is_object() && schema.contains("columns") ? schema["columns"] : nlohmann::json::array()},
                    {"created_at", FormatIso8601(a.created_at)}});
  }
  const std::vector<TaskInstanceRecord> instances = store.GetTaskInstances(run.run_id);
  const std::map<std::string, std::string> waiting = WaitingTries(store, run, instances);
  for (const TaskInstanceRecord& t : instances) {
    nlohmann::json tries = nlohmann::json::array();
    int lost = 0;  // tries that used up no retry
    for (const TaskTryRecord& tr : by_task[t.task_id]) {
      lost += tr.ended_at && tr.error.starts_with(kLostTryPrefix);
      tries.push_back({{"try", tr.try_number},
                       {"state", ToString(tr.state)},
                       {"started_at", FormatIso8601(tr.started_at)},
                       {"ended_at", OptTime(tr.ended_at)},
                       {"exit_code", tr.exit_code ? nlohmann::json(*tr.exit_code) : nlohmann::json(nullptr)},
                       {"error", tr.error},
                       {"log_path", tr.log_path},
                       {"worker", tr.worker}});
    }
    nlohmann::json metrics = Metrics(t.metrics_json);
    nlohmann::json task_artifacts = artifacts.count(t.task_id) ? artifacts[t.task_id] : nlohmann::json::array();
    tasks.push_back({{"task_id", t.task_id},
                     {"state", ToString(t.state)},
                     {"try", t.try_number},
                     {"max_tries", t.max_tries + lost},  // the last try number it may reach
                     {"started_at", OptTime(t.started_at)},
                     {"ended_at", OptTime(t.ended_at)},
                     {"next_try_at", OptTime(t.next_try_at)},
                     {"error", t.error},
                     {"report", TaskReport(run.run_id, t.task_id, metrics, task_artifacts)},
                     {"metrics", metrics},
                     {"artifacts", task_artifacts},
                     {"tries", tries}});
    if (t.map_index) {  // an instance of a mapped task
      tasks.back()["map_index"] = *t.map_index;
      tasks.back()["map_item"] = t.map_item;
    }
    if (auto w = waiting.find(t.task_id); w != waiting.end()) tasks.back()["waiting"] = w->second;
  }
  out["tasks"] = tasks;
  out["sla_misses"] = SlaMissesJson(store.ListSlaMisses("", run.run_id, 10'000));
  return out;
}

nlohmann::json SlaMissesJson(const std::vector<SlaMissRecord>& misses) {
  nlohmann::json out = nlohmann::json::array();
  for (const SlaMissRecord& m : misses) {
    out.push_back({{"task_id", m.task_id},
                   {"due", FormatIso8601(m.due)},
                   {"detected_at", FormatIso8601(m.detected_at)},
                   {"state", m.state}});
  }
  return out;
}

std::string SlaMissLine(const nlohmann::json& misses) {
  if (!misses.is_array() || misses.empty()) return "";
  std::string line = "sla     missed:";
  const char* sep = " ";
  for (const auto& m : misses) {
    const std::string task = m.value("task_id", "");
    line += sep + (task.empty() ? std::string("deadline") : task) + " (due " + m.value("due", "") + ", " +
            m.value("state", "") + " then)";
    sep = "; ";
  }
  return line + "\n";
}

std::string RunHeader(const nlohmann::json& run) {
  auto text = [&](const char* key) { return run.contains(key) && run[key].is_string() ? run[key].get<std::string>() : ""; };
  std::string out = "run     " + text("run_id") + "\n" +
                    "dag     " + text("dag_id") + " (version " + run.value("dag_version", nlohmann::json()).dump() + ")\n" +
                    "state   " + text("state") + "\n" +
                    "trigger " + text("trigger") + ", logical date " + text("logical_date") + "\n";
  if (!text("rerun_of").empty()) out += "rerun   of " + text("rerun_of") + " (its DAG version and params)\n";
  if (const auto by = run.find("triggered_by"); by != run.end() && by->is_object()) {
    out += "by      task " + by->value("task_id", "") + " of run " + by->value("run_id", "") + " (trigger_dag)\n";
  }
  out += "params  " + run.value("params", nlohmann::json::object()).dump() + "\n";
  return out + SlaMissLine(run.value("sla_misses", nlohmann::json::array()));
}

namespace {

// A profile's figure as shown: numbers to 10 significant digits, text as is.
std::string Figure(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  if (v.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string OneReport(const nlohmann::json& report) {
  std::string out;
  std::vector<std::vector<std::string>> checks = {{"CHECK", "CHECKED", "FAILED", "EXAMPLES"}};
  for (const nlohmann::json& c : report.value("checks", nlohmann::json::array())) {
    std::string examples;
    for (const nlohmann::json& e : c.value("examples", nlohmann::json::array())) {
      examples += (examples.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
    }
    checks.push_back({c.value("check", ""), Figure(c.value("rows_checked", nlohmann::json())),
                      Figure(c.value("rows_failed", nlohmann::json())), examples});
  }
  for (const nlohmann::json& t : report.value("table_checks", nlohmann::json::array())) {
    std::string figure = t.contains("null_fraction") ? "null fraction " + Figure(t["null_fraction"])
                         : t.contains("rows")        ? Figure(t["rows"]) + " rows"
                                                     : "";
    checks.push_back({"table: " + t.value("check", ""), "", t.value("passed", true) ? "passed" : "FAILED", figure});
  }
  if (checks.size() > 1) out += FormatTable(checks);
  std::vector<std::vector<std::string>> profile = {{"COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "MEAN / TOP"}};
  const nlohmann::json columns = report.value("profile", nlohmann::json::object());  // (items() of a temporary would dangle)
  for (const auto& [column, p] : columns.items()) {
    std::string top = Figure(p.value("mean", nlohmann::json()));
    if (p.contains("top") && p["top"].contains("values")) {
      for (const nlohmann::json& v : p["top"]["values"]) {
        if (top.size() > 40) break;
        top += (top.empty() ? "" : ", ") + Figure(v[0]) + " (" + Figure(v[1]) + ")";
      }
    }
    profile.push_back({column, p.value("type", ""), Figure(p.value("nulls", nlohmann::json())),
                       p.contains("distinct_estimate") ? "~" + Figure(p["distinct_estimate"]) : "",
                       Figure(p.value("min", nlohmann::json())), Figure(p.value("max", nlohmann::json())), top});
  }
  if (profile.size() > 1) out += "\n" + FormatTable(profile);
  return out;
}

}  // namespace

std::string ValidationReports(
    const nlohmann::json& run,
    const std::function<std::optional<nlohmann::json>(const std::string&, const nlohmann::json&)>& read) {
  std::string out;
  for (const nlohmann::json& t : run.value("tasks", nlohmann::json::array())) {
    for (const nlohmann::json& a : t.value("artifacts", nlohmann::json::array())) {
      if (a.value("name", "") != "report") continue;
      const std::string task = t.value("task_id", "");
      out += "\nvalidation report of " + task + ":\n";
      std::optional<nlohmann::json> report = read(task, a);
      if (!report || !report->is_object()) {
        out += "  (" + a.value("uri", std::string("the report")) + " cannot be read)\n";
        continue;
      }
      out += OneReport(*report);
    }
  }
  return out;
}

std::string TaskDetail(const nlohmann::json& m, const std::string& error) {
  std::string detail = error;
  if (m.contains("rows_quarantined")) detail = "quarantined " + m["rows_quarantined"].dump() + (detail.empty() ? "" : "; " + detail);
  if (m.contains("summary") && m["summary"].is_string()) {
    detail = m["summary"].get<std::string>() + (detail.empty() ? "" : "; " + detail);
  }
  return detail;
}

std::string RunTaskTable(StateStore& store, const RunRecord& run) { return TaskTable(RunJson(store, run)); }

namespace {

std::optional<TimePoint> TimeOf(const nlohmann::json& v) {
  if (!v.is_string()) return std::nullopt;
  auto parsed = ParseIso8601(v.get<std::string>());
  return parsed ? std::optional<TimePoint>(parsed->utc) : std::nullopt;
}

}  // namespace

std::string RunsTable(const nlohmann::json& runs) {
  std::vector<std::vector<std::string>> rows = {{"RUN ID", "DAG", "STATE", "TRIGGER", "LOGICAL DATE", "DURATION"}};
  for (const auto& r : runs) {
    rows.push_back({r["run_id"].get<std::string>(), r["dag_id"].get<std::string>(), r["state"].get<std::string>(),
                    r["trigger"].get<std::string>(), r["logical_date"].get<std::string>(),
                    Duration_(TimeOf(r.value("started_at", nlohmann::json())), TimeOf(r.value("ended_at", nlohmann::json())))});
  }
  return FormatTable(rows);
}

std::string TaskTable(const nlohmann::json& run) {
  std::vector<std::vector<std::string>> rows = {
      {"TASK", "STATE", "TRIES", "START", "DURATION", "ROWS IN", "ROWS OUT", "DETAIL"}};
  for (const auto& t : run["tasks"]) {
    const nlohmann::json metrics = t.value("metrics", nlohmann::json::object());
    auto count = [&](const char* key) { return metrics.contains(key) ? metrics[key].dump() : std::string(); };
    std::string detail = t.contains("waiting") ? t["waiting"].get<std::string>()
                                               : TaskDetail(metrics, t.value("error", std::string()));
    if (t["state"] == "waiting" && t.value("next_try_at", nlohmann::json()).is_string()) {
      detail += "; next check " + t["next_try_at"].get<std::string>();
    }
    // START and DURATION are the current try's (a cleared task's first try
    // may be long before: the run's clock is not the task's).
    nlohmann::json started = t.value("started_at", nlohmann::json());
    if (t.contains("tries") && t["tries"].is_array() && !t["tries"].empty()) {
      started = t["tries"].back().value("started_at", started);
    }
    rows.push_back({t["task_id"].get<std::string>(), t["state"].get<std::string>(),
                    t["try"].dump() + "/" + t["max_tries"].dump(), started.is_string() ? started.get<std::string>() : "",
                    Duration_(TimeOf(started), TimeOf(t.value("ended_at", nlohmann::json()))), count("rows_in"),
                    count("rows_out"), detail});
  }
  return FormatTable(rows);
}

nlohmann::json GridJson(StateStore& store, const std::string& dag_id, const std::vector<std::string>& task_ids,
                        int runs) {
  static constexpr TaskState kLegend[] = {TaskState::kPending,        TaskState::kQueued,  TaskState::kRunning,
                                          TaskState::kSuccess,        TaskState::kFailed,  TaskState::kUpForRetry,
                                          TaskState::kUpstreamFailed, TaskState::kSkipped, TaskState::kCancelled,
                                          TaskState::kWaiting};
  nlohmann::json legend = nlohmann::json::array();
  std::map<TaskState, int> code;
  for (TaskState s : kLegend) {
    code[s] = int(legend.size());
    legend.push_back(ToString(s));
  }
  std::map<std::string, size_t, std::less<>> column;
  for (size_t i = 0; i < task_ids.size(); ++i) column.emplace(task_ids[i], i);
  RunFilter filter;
  filter.dag_id = dag_id;
  filter.limit = runs;
  nlohmann::json run_list = nlohmann::json::array(), cells = nlohmann::json::array();
  for (const RunRecord& run : store.ListRuns(filter)) {
    run_list.push_back({{"run_id", run.run_id},
                        {"state", ToString(run.state)},
                        {"dag_version", run.dag_version},
                        {"logical_date", FormatIso8601(run.logical_date)},
                        {"started_at", OptTime(run.started_at)},
                        {"ended_at", OptTime(run.ended_at)}});
    std::vector<int> row(task_ids.size(), -1);
    for (const TaskInstanceRecord& t : store.GetTaskInstances(run.run_id)) {
      if (t.map_index) continue;  // an instance: its mapped task has the cell
      if (auto it = column.find(t.task_id); it != column.end()) row[it->second] = code.at(t.state);
    }
    cells.push_back(std::move(row));
  }
  return {{"dag_id", dag_id}, {"tasks", task_ids}, {"states", legend}, {"runs", run_list}, {"cells", cells}};
}

std::string NoTryMessage(const std::string& task_id, TaskState state) {
  if (IsTerminal(state)) return "task '" + task_id + "' did not run (it ended " + std::string(ToString(state)) + ")";
  return "task '" + task_id + "' has not started (it is " + std::string(ToString(state)) + ")";
}

}  // namespace pipeline::views
