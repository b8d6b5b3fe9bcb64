// The shape of a name a user gives and a URL carries: DAG, task and model
// ids, model aliases. Lower-case letter first, then lower-case letters,
// digits and '_', at most 64 characters (no path tricks, no quoting).
#pragma once

#include <string_view>

namespace pipeline {

inline bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// A task queue's name (a task's `queue`, `piped worker --queues`,
// `--local-queues`): letters, digits, '_', '.' and '-', at most 64.
inline bool IsQueueName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace pipeline
