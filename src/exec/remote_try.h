// A try run by a `piped worker` on another machine: what the coordinator
// puts in the work item (TryPayload), how the worker runs a claimed item
// (RunClaimedTry: the same rendering and operators as the executor), and how
// the result travels back (TaskResult as JSON).
#pragma once

#include <memory>
#include <string>

#include "core/operator.h"
#include "core/time.h"
#include "exec/cancel_token.h"
#include "store/state_store.h"

namespace pipeline {

// The rest comes from the store: the DAG version's source and the run.
struct TryPayload {
  std::string dag_id;
  int dag_version = 0;
  std::string dag_dir;       // where a shell task runs (the DAG file's folder)
  std::string log_path;      // on the shared filesystem
  std::string artifact_dir;  // on the shared filesystem
};
std::string TryPayloadJson(const TryPayload& p);
// Throws Error(kInvalidArgument) naming what is missing or of the wrong type.
TryPayload ParseTryPayload(const std::string& json);

std::string TaskResultJson(const TaskResult& r);
// A result that cannot be read is a failure that says so.
TaskResult TaskResultFromJson(const std::string& json);

// Runs a claimed try here: its DAG version and run read from the store, its
// templates rendered by RenderTry, its operator run on a TryContext (inputs
// from artifacts, nothing in memory), the result as TaskResultJson. A try
// that cannot start (a payload, DAG version or run that cannot be read, a
// task or operator that is not there) is a failed result saying why.
std::string RunClaimedTry(StateStore& store, const OperatorRegistry& ops, Clock& clock, const WorkClaim& claim,
                          std::shared_ptr<EventCancelToken> cancel);

}  // namespace pipeline
