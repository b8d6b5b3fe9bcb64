#include "scheduler/sla.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "exec/executor.h"

namespace pipeline {

bool HasSla(const DagSpec& dag) {
  return dag.deadline || std::any_of(dag.tasks.begin(), dag.tasks.end(), [](const TaskSpec& t) { return t.sla; });
}

std::vector<SlaPoint> SlaPoints(const DagSpec& dag, const RunRecord& run) {
  std::vector<SlaPoint> out;
  if (run.trigger != "scheduled" && run.trigger != "upstream") return out;
  if (dag.deadline) out.push_back({"", run.logical_date + *dag.deadline});
  for (const TaskSpec& t : dag.tasks) {
    if (t.sla) out.push_back({t.id, run.logical_date + *t.sla});
  }
  return out;
}

std::optional<std::string> SlaMissState(const SlaPoint& point, const RunRecord& run, const TaskInstanceRecord* task,
                                        TimePoint now) {
  const bool run_ended = IsTerminal(run.state);
  const TimePoint run_end = run.ended_at.value_or(now);
  if (point.task_id.empty() || !task) {
    if (run_ended && run_end <= point.due) return std::nullopt;
    return std::string(ToString(run.state));
  }
  const bool done = task->state == TaskState::kSuccess || task->state == TaskState::kSkipped;
  if (done) {
    if (task->ended_at.value_or(now) <= point.due) return std::nullopt;
  } else if (run_ended && run_end <= point.due) {
    return std::nullopt;  // the run gave up on it before it was due
  }
  return std::string(ToString(task->state));
}

void SlaWatch::Check(const DagSpec& dag, const RunRecord& run, TimePoint now) {
  std::vector<SlaPoint> due;
  {
    std::lock_guard lock(mu_);
    auto it = open_.find(run.run_id);
    if (it == open_.end()) {
      std::vector<SlaPoint> points = SlaPoints(dag, run);
      if (points.empty()) return;
      it = open_.emplace(run.run_id, std::move(points)).first;
    }
    auto& open = it->second;
    auto split = std::stable_partition(open.begin(), open.end(), [&](const SlaPoint& p) { return p.due > now; });
    due.assign(split, open.end());
    open.erase(split, open.end());
  }
  if (due.empty()) return;
  size_t settled = 0;
  try {
    std::vector<TaskInstanceRecord> tasks;
    if (std::any_of(due.begin(), due.end(), [](const SlaPoint& p) { return !p.task_id.empty(); })) {
      tasks = store_.GetTaskInstances(run.run_id);
    }
    for (; settled < due.size(); ++settled) {
      const SlaPoint& point = due[settled];
      auto task = std::find_if(tasks.begin(), tasks.end(), [&](const auto& t) { return t.task_id == point.task_id; });
      auto state = SlaMissState(point, run, task == tasks.end() ? nullptr : &*task, now);
      if (!state) continue;
      SlaMissRecord miss{run.dag_id, run.run_id, point.task_id, point.due, now, *state};
      if (!store_.AddSlaMiss(miss)) continue;  // seen already (here before a restart, or by another scheduler)
      spdlog::warn("sla missed dag={} run={} {} due={} state={}", run.dag_id, run.run_id,
                   point.task_id.empty() ? std::string("deadline") : "task=" + point.task_id,
                   FormatIso8601(point.due), *state);
      if (observer_) observer_->OnSlaMiss(miss);
    }
  } catch (...) {
    // The store did not answer: the points not settled are looked at again
    // on the next turn (a miss is recorded once all the same).
    std::lock_guard lock(mu_);
    auto& open = open_[run.run_id];
    open.insert(open.end(), due.begin() + std::ptrdiff_t(settled), due.end());
    throw;
  }
}

void SlaWatch::Retain(const std::set<std::string>& active) {
  std::lock_guard lock(mu_);
  std::erase_if(open_, [&](const auto& entry) { return !active.count(entry.first); });
}

std::optional<TimePoint> SlaWatch::NextDue() {
  std::lock_guard lock(mu_);
  std::optional<TimePoint> next;
  for (const auto& [run_id, points] : open_) {
    for (const SlaPoint& p : points) {
      if (!next || p.due < *next) next = p.due;
    }
  }
  return next;
}

}  // namespace pipeline
