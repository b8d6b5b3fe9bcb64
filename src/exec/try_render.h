// What a try's templates stand for: its task's `with`, `run` and `env` with
// every `{{ ... }}` replaced from the run (params, ids, dates) and the try
// number. The executor renders every try it starts here, and a worker on
// another machine renders a claimed try from the stored DAG version and run
// with the same function, so the two cannot disagree.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dag_spec.h"
#include "core/doc.h"
#include "dag/params.h"
#include "store/state_store.h"

namespace pipeline {

struct RenderedTry {
  std::shared_ptr<const DocNode> args;  // the `with` map
  std::string command;                  // `run` (shell)
  std::vector<std::pair<std::string, std::string>> env;
};

// The value of one template variable for try `try_number` of `task`; "" for
// a name that is none (validation refused those already).
std::string TryVariable(std::string_view name, const DagSpec& dag, const TaskSpec& task, const RunRecord& run,
                        const ParamValues& params, int try_number);

RenderedTry RenderTry(const DagSpec& dag, const TaskSpec& task, const RunRecord& run, const ParamValues& params,
                      int try_number);

}  // namespace pipeline
