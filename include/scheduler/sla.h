// SLAs: a task's `sla` and the DAG's `deadline`, each counted from a
// scheduled run's logical date (a cron tick, or the upstream success that
// started it; Airflow's rule: manual runs and backfills have none). A point is missed when the run was still waiting for it after
// it passed: the task had not succeeded (or been skipped), the run had not
// ended. SlaWatch records each miss once, however many schedulers look, and
// tells the observer (notifications, `sla_miss`).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/dag_spec.h"
#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

class RunObserver;

struct SlaPoint {
  std::string task_id;  // "" for the DAG's deadline
  TimePoint due;
};

// Whether any task of `dag` has an sla, or the DAG a deadline.
bool HasSla(const DagSpec& dag);
// The points of `run`, deadline first; none unless it is a scheduled run.
std::vector<SlaPoint> SlaPoints(const DagSpec& dag, const RunRecord& run);
// Precondition: `now` >= point.due. The state to record when `point` is
// missed, nullopt when it was met (or the run ended before it was due).
// `task`: the point's task instance (nullptr for the deadline, or when the
// run has no such task).
std::optional<std::string> SlaMissState(const SlaPoint& point, const RunRecord& run, const TaskInstanceRecord* task,
                                        TimePoint now);

class SlaWatch {
 public:
  // `observer` may be null. Both must outlive the watch.
  SlaWatch(StateStore& store, RunObserver* observer) : store_(store), observer_(observer) {}

  // Looks at `run` (active, or just ended) at `now`: every point due by now
  // and not settled before is settled, and recorded when missed. Reads the
  // task instances only when a task's point is due. Thread-safe.
  void Check(const DagSpec& dag, const RunRecord& run, TimePoint now);
  // Forgets the runs not in `active` (an ended run is checked at its end).
  void Retain(const std::set<std::string>& active);
  // The earliest point not settled yet, for the scheduler's next wake.
  std::optional<TimePoint> NextDue();

 private:
  StateStore& store_;
  RunObserver* observer_;
  std::mutex mu_;
  std::map<std::string, std::vector<SlaPoint>> open_;  // run -> points not settled; guarded by mu_
};

}  // namespace pipeline
