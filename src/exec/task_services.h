// What the executor's task context does for operators beyond running them:
// the model registry lookups and the runs a trigger_dag task creates. Kept
// out of executor.cc, which coordinates runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/operator.h"
#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

// The version `ref` names (TaskContext::FindModel): when `task_model_uri` is
// given (the model file a task of this run recorded), the version registered
// with that file; else NAME, NAME@ALIAS or NAME:VERSION.
std::optional<RegisteredModel> FindRegisteredModel(StateStore& store, std::string_view ref,
                                                   const std::string* task_model_uri);

// Creates a queued run (trigger "dag") of the newest stored version of
// `dag_id` with `params_json` ({name: value}) over its defaults, made by
// `triggered_by` ("RUN_ID/TASK_ID"); a running piped on the store starts it.
// Returns its id. Throws Error: kNotFound (no
// such DAG in the store), kInvalidArgument (a parameter it does not take, a
// wrong type, a version that no longer loads).
std::string CreateTriggeredRun(StateStore& store, const OperatorRegistry& ops, Clock& clock,
                               const std::string& triggered_by, const std::string& dag_id, const std::string& params_json, const std::string& run_id = "");

// A try's figures as stored with its task instance (JSON: rows_in, rows_out,
// rows_quarantined, bytes_out, summary, gauges; absent ones left out), and back.
std::string TaskMetricsJson(const TaskMetrics& m);
TaskMetrics TaskMetricsFromJson(const std::string& json);

}  // namespace pipeline
