// The items of a mapped task (`map_over`), computed when a run reaches it.
#pragma once

#include <string>
#include <vector>

#include "core/dag_spec.h"
#include "dag/params.h"

namespace pipeline {

// The items `task.map_over` stands for in a run with `params`: the literal
// list, the list parameter's values, or the files matching the glob (sorted;
// a relative pattern is matched in `dag_dir` and its matches stay relative),
// each as the text `{{ item }}` renders to. Throws Error(kInvalidArgument)
// naming the task when they cannot be had (a parameter that is no list, an
// unreadable folder) or when there are more than task.max_map_length.
std::vector<std::string> MapItems(const TaskSpec& task, const ParamValues& params, const std::string& dag_dir);

}  // namespace pipeline
