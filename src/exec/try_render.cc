#include "exec/try_render.h"

#include <algorithm>

#include <date/tz.h>

#include "dag/template.h"
#include "store/upstream.h"

namespace pipeline {

std::string TryVariable(std::string_view name, const DagSpec& dag, const TaskSpec& task, const RunRecord& run,
                        const ParamValues& params, int try_number) {
  if (name.starts_with("params.")) {
    auto it = params.find(name.substr(7));
    return it == params.end() ? "" : ParamText(*it->second);
  }
  if (name == "dag.id") return dag.id;
  if (name == "task.id") return task.id;
  if (name == "task.try") return std::to_string(try_number);
  if (name == "item") return task.map_item;
  if (name == "item.index") return task.map_index >= 0 ? std::to_string(task.map_index) : "";
  if (name == "run.id") return run.run_id;
  if (name == "run.logical_date") return FormatIso8601(run.logical_date);
  if (name == "run.data_interval_start") return FormatIso8601(run.data_interval_start);
  if (name == "run.data_interval_end") return FormatIso8601(run.data_interval_end);
  // The day the data belongs to: the interval's start, on the calendar of
  // the DAG's timezone (a Berlin @daily run's data of the 5th starts at
  // 23:00 UTC on the 4th; Airflow 2's ds would say the 4th).
  if (name == "run.ds" || name == "run.ds_nodash") {
    TimePoint start = run.data_interval_start;
    if (dag.timezone != "UTC") {
      start += std::chrono::duration_cast<std::chrono::microseconds>(
          date::locate_zone(dag.timezone)->get_info(std::chrono::time_point_cast<std::chrono::seconds>(start)).offset);
    }
    std::string day = FormatIso8601(start).substr(0, 10);
    if (name == "run.ds_nodash") day.erase(std::remove(day.begin(), day.end(), '-'), day.end());
    return day;
  }
  if (name.starts_with("run.upstream.")) return UpstreamRunOf(run, std::string(name.substr(13)));
  return "";
}

RenderedTry RenderTry(const DagSpec& dag, const TaskSpec& task, const RunRecord& run, const ParamValues& params,
                      int try_number) {
  auto lookup = [&](std::string_view name) { return TryVariable(name, dag, task, run, params, try_number); };
  RenderedTry out;
  out.args = RenderDoc(*task.with, lookup);
  out.command = RenderString(task.run, lookup);
  for (const auto& [key, value] : task.env) out.env.emplace_back(key, RenderString(value, lookup));
  return out;
}

}  // namespace pipeline
