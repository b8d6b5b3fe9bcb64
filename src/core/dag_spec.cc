#include "core/dag_spec.h"

#include <algorithm>
#include <charconv>

namespace pipeline {

Duration RetryPolicy::DelayBefore(int next_try) const {
  if (backoff == RetryBackoff::kFixed) return retry_delay;
  // Doubling per retry; stop doubling once past the cap (no overflow).
  Duration delay = retry_delay;
  for (int t = 2; t < next_try && delay < max_retry_delay; ++t) delay *= 2;
  return std::min(delay, max_retry_delay);
}

std::string MapInstanceId(std::string_view task_id, int index) {
  return std::string(task_id) + "[" + std::to_string(index) + "]";
}

std::optional<std::pair<std::string, int>> ParseMapInstanceId(std::string_view id) {
  size_t open = id.find('[');
  if (open == std::string_view::npos || open == 0 || id.size() < open + 3 || id.back() != ']') return std::nullopt;
  std::string_view digits = id.substr(open + 1, id.size() - open - 2);
  int index = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size() || index < 0) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // one spelling per index
  return std::make_pair(std::string(id.substr(0, open)), index);
}

TaskSpec MapInstance(const TaskSpec& mapped, int index, std::string item) {
  TaskSpec t = mapped;
  t.id = MapInstanceId(mapped.id, index);
  t.map_over.reset();
  t.map_index = index;
  t.map_item = std::move(item);
  if (mapped.map_by_item && mapped.input) t.input = MapInstanceId(*mapped.input, index);
  return t;
}

std::optional<std::string> ScheduleText(const std::optional<std::string>& cron, const std::vector<std::string>& after) {
  if (after.empty()) return cron;
  std::string text = cron ? *cron + " or after " : "after ";
  for (size_t i = 0; i < after.size(); ++i) text += (i ? ", " : "") + after[i];
  return text;
}

std::optional<std::string> DagSpec::ScheduleText() const { return pipeline::ScheduleText(schedule, after); }

const TaskSpec* DagSpec::FindTask(std::string_view task_id) const {
  auto it = std::find_if(tasks.begin(), tasks.end(), [&](const TaskSpec& t) { return t.id == task_id; });
  return it == tasks.end() ? nullptr : &*it;
}

const ParamSpec* DagSpec::FindParam(std::string_view name) const {
  auto it = std::find_if(params.begin(), params.end(), [&](const ParamSpec& p) { return p.name == name; });
  return it == params.end() ? nullptr : &*it;
}

}  // namespace pipeline
