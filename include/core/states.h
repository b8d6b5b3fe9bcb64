// Task and run states, trigger rules, and their names in files, the store and the API.
#pragma once

#include <optional>
#include <string_view>

namespace pipeline {

// `pending` (waiting for upstream tasks) is ours: the contract starts at queued.
enum class TaskState {
  kPending,
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kUpForRetry,
  kUpstreamFailed,
  kSkipped,
  kCancelled,
  // A sensor (wait_for) whose condition did not hold yet: its try is open
  // but holds no worker or slot until its next check (next_try_at).
  kWaiting,
};

enum class RunState { kQueued, kRunning, kSuccess, kFailed, kCancelled };

enum class TriggerRule { kAllSuccess, kAllDone, kAllFailed, kOneSuccess, kOneFailed, kNoneFailed };

enum class RetryBackoff { kFixed, kExponential };

// The error of a try that got lost (its process or worker went away, or a
// shutdown handed it back) starts with this. Such a try uses up no retry, so
// a task may reach try number max_tries + (its lost tries).
inline constexpr std::string_view kLostTryPrefix = "lost";

std::string_view ToString(TaskState s);
std::string_view ToString(RunState s);
std::string_view ToString(TriggerRule r);
std::string_view ToString(RetryBackoff b);

std::optional<TaskState> ParseTaskState(std::string_view s);
std::optional<RunState> ParseRunState(std::string_view s);
std::optional<TriggerRule> ParseTriggerRule(std::string_view s);
std::optional<RetryBackoff> ParseRetryBackoff(std::string_view s);

// A state no transition leaves (up_for_retry is not one: it goes back to queued).
bool IsTerminal(TaskState s);
bool IsTerminal(RunState s);

}  // namespace pipeline
