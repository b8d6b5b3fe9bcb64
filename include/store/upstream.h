// schedule.after (data-aware scheduling): for each upstream DAG.TASK of a
// DAG, its newest success and the success the DAG's last upstream-started
// run consumed (RunRecord::upstream_json), read from the store. The
// scheduler starts a run when every upstream has a success newer than the one
// consumed and than the DAG's newest run of another trigger; `pipectl dags show` and the API show the same states.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/state_store.h"

namespace pipeline {

struct UpstreamState {
  std::string upstream;                  // "DAG.TASK"
  std::optional<TaskSuccess> latest;     // its newest success
  std::optional<TaskSuccess> consumed;   // what the last such run of the DAG consumed
  // When the DAG's newest run was made, if another trigger made it (manual,
  // cron, backfill): the successes before it count as consumed too (the
  // contract: "succeeded again since this DAG's last run").
  std::optional<TimePoint> since;
  // A success the DAG has not consumed yet.
  bool fresh() const {
    return latest && (!consumed || latest->at > consumed->at) && (!since || latest->at > *since);
  }
};

struct UpstreamStates {
  std::vector<UpstreamState> upstream;   // in schedule.after's order
  std::optional<RunRecord> last_run;     // the DAG's newest run started by them
  bool all_fresh() const;
};

UpstreamStates ReadUpstreamStates(StateStore& store, const std::string& dag_id, const std::vector<std::string>& after);

// {"DAG.TASK": {"run_id": R, "at": MICROS}, ...} of the states' latest successes.
std::string ConsumedJson(const UpstreamStates& states);
// The run id `run`'s upstream_json holds for DAG `dag` (its newest, when
// several of its tasks are upstream); "" when none (`{{ run.upstream.DAG }}`).
std::string UpstreamRunOf(const RunRecord& run, const std::string& dag);

}  // namespace pipeline
