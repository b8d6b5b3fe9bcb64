// Fakes for executor tests: a clock that jumps to the next deadline instead
// of sleeping, and an operator whose tries follow a script.
#pragma once

#include <poll.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "core/operator.h"
#include "core/time.h"

namespace pipeline {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint Now() override {
    std::lock_guard lock(mu_);
    return now_;
  }
  // With a deadline, time jumps there after a short real wait for events
  // (nothing sleeps for the simulated span); without one, waits for events.
  bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 std::optional<TimePoint> deadline, const std::function<bool()>& stop) override {
    if (stop()) return true;
    if (!deadline) {
      cv.wait(lock, stop);
      return true;
    }
    // Let tries that finish at once report first, so that a deadline only
    // passes while something is really waiting on it.
    if (cv.wait_for(lock, std::chrono::milliseconds(50), stop)) return true;
    std::lock_guard guard(mu_);
    if (*deadline > now_) now_ = *deadline;
    return stop();
  }
  void Advance(Duration d) {
    std::lock_guard guard(mu_);
    now_ += d;
  }

 private:
  std::mutex mu_;
  TimePoint now_;
};

// What one try of a scripted task does.
enum class Outcome { kSucceed, kFail, kBlockUntilCancelled };

// Runs tries per a script (task id -> outcome of try 1, 2, ...; the last
// repeats), recording the order tries start and the peak concurrency.
class ScriptedOperator final : public Operator {
 public:
  std::string_view name() const override { return "fake"; }
  void CheckArgs(const TaskSpec&, Diagnostics&) const override {}

  void Script(const std::string& task, std::vector<Outcome> outcomes) {
    scripts_[task] = std::move(outcomes);
  }
  // Each try also holds its slot this long (real time), to show overlap.
  void set_hold_ms(int ms) { hold_ms_ = ms; }

  TaskResult Execute(TaskContext& ctx) const override {
    int now_running = ++running_;
    {
      std::lock_guard lock(mu_);
      starts_.push_back(ctx.task().id + "#" + std::to_string(ctx.try_number()));
      peak_ = std::max(peak_, now_running);
    }
    Outcome outcome = Outcome::kSucceed;
    if (auto it = scripts_.find(ctx.task().id); it != scripts_.end() && !it->second.empty()) {
      size_t idx = std::min(size_t(ctx.try_number() - 1), it->second.size() - 1);
      outcome = it->second[idx];
    }
    if (hold_ms_ > 0 || outcome == Outcome::kBlockUntilCancelled) {
      pollfd p{ctx.cancel().fd(), POLLIN, 0};
      poll(&p, 1, outcome == Outcome::kBlockUntilCancelled ? -1 : hold_ms_);
    }
    {
      std::lock_guard lock(mu_);
      ends_.push_back(ctx.task().id);
    }
    --running_;
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    if (outcome == Outcome::kFail) return TaskResult::Failure("scripted failure");
    return TaskResult::Success();
  }

  std::vector<std::string> starts() const {
    std::lock_guard lock(mu_);
    return starts_;
  }
  std::vector<std::string> ends() const {
    std::lock_guard lock(mu_);
    return ends_;
  }
  int peak() const {
    std::lock_guard lock(mu_);
    return peak_;
  }

 private:
  std::map<std::string, std::vector<Outcome>> scripts_;
  int hold_ms_ = 0;
  mutable std::mutex mu_;
  mutable std::vector<std::string> starts_;
  mutable std::vector<std::string> ends_;
  mutable int peak_ = 0;
  mutable std::atomic<int> running_{0};
};

}  // namespace pipeline
