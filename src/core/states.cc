#include "core/states.h"

#include <array>
#include <utility>

namespace pipeline {

namespace {

constexpr std::array<std::pair<TaskState, std::string_view>, 10> kTaskStates{{
    {TaskState::kPending, "pending"},
    {TaskState::kQueued, "queued"},
    {TaskState::kRunning, "running"},
    {TaskState::kSuccess, "success"},
    {TaskState::kFailed, "failed"},
    {TaskState::kUpForRetry, "up_for_retry"},
    {TaskState::kUpstreamFailed, "upstream_failed"},
    {TaskState::kSkipped, "skipped"},
    {TaskState::kCancelled, "cancelled"},
    {TaskState::kWaiting, "waiting"},
}};

constexpr std::array<std::pair<RunState, std::string_view>, 5> kRunStates{{
    {RunState::kQueued, "queued"},
    {RunState::kRunning, "running"},
    {RunState::kSuccess, "success"},
    {RunState::kFailed, "failed"},
    {RunState::kCancelled, "cancelled"},
}};

constexpr std::array<std::pair<TriggerRule, std::string_view>, 6> kTriggerRules{{
    {TriggerRule::kAllSuccess, "all_success"},
    {TriggerRule::kAllDone, "all_done"},
    {TriggerRule::kAllFailed, "all_failed"},
    {TriggerRule::kOneSuccess, "one_success"},
    {TriggerRule::kOneFailed, "one_failed"},
    {TriggerRule::kNoneFailed, "none_failed"},
}};

constexpr std::array<std::pair<RetryBackoff, std::string_view>, 2> kBackoffs{{
    {RetryBackoff::kFixed, "fixed"},
    {RetryBackoff::kExponential, "exponential"},
}};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::array<std::pair<E, std::string_view>, N>& table,
                         std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(TaskState s) { return NameOf(kTaskStates, s); }
std::string_view ToString(RunState s) { return NameOf(kRunStates, s); }
std::string_view ToString(TriggerRule r) { return NameOf(kTriggerRules, r); }
std::string_view ToString(RetryBackoff b) { return NameOf(kBackoffs, b); }

std::optional<TaskState> ParseTaskState(std::string_view s) { return ValueOf(kTaskStates, s); }
std::optional<RunState> ParseRunState(std::string_view s) { return ValueOf(kRunStates, s); }
std::optional<TriggerRule> ParseTriggerRule(std::string_view s) { return ValueOf(kTriggerRules, s); }
std::optional<RetryBackoff> ParseRetryBackoff(std::string_view s) { return ValueOf(kBackoffs, s); }

bool IsTerminal(TaskState s) {
  switch (s) {
    case TaskState::kSuccess:
    case TaskState::kFailed:
    case TaskState::kUpstreamFailed:
    case TaskState::kSkipped:
    case TaskState::kCancelled:
      return true;
    default:
      return false;
  }
}

bool IsTerminal(RunState s) {
  return s == RunState::kSuccess || s == RunState::kFailed || s == RunState::kCancelled;
}

}  // namespace pipeline
