#include "core/dag_spec.h"

#include <algorithm>

namespace pipeline {

Duration RetryPolicy::DelayBefore(int next_try) const {
  if (backoff == RetryBackoff::kFixed) return retry_delay;
  // Doubling per retry; stop doubling once past the cap (no overflow).
  Duration delay = retry_delay;
  for (int t = 2; t < next_try && delay < max_retry_delay; ++t) delay *= 2;
  return std::min(delay, max_retry_delay);
}

const TaskSpec* DagSpec::FindTask(std::string_view task_id) const {
  auto it = std::find_if(tasks.begin(), tasks.end(), [&](const TaskSpec& t) { return t.id == task_id; });
  return it == tasks.end() ? nullptr : &*it;
}

const ParamSpec* DagSpec::FindParam(std::string_view name) const {
  auto it = std::find_if(params.begin(), params.end(), [&](const ParamSpec& p) { return p.name == name; });
  return it == params.end() ? nullptr : &*it;
}

}  // namespace pipeline
