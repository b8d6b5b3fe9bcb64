// Instants, durations and the clock seam.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pipeline {

using Clock_ = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock_, std::chrono::microseconds>;
using Duration = std::chrono::milliseconds;

// "2026-11-21T23:01:08.123456Z" (fraction omitted when zero).
std::string FormatIso8601(TimePoint t);
// Microseconds since the Unix epoch, for storage.
int64_t ToMicros(TimePoint t);
TimePoint FromMicros(int64_t us);

// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.frac]]" with an optional "Z" or
// "+HH:MM" offset ('T' may be a space). `has_zone` tells whether an offset was
// given; without one the result is the wall-clock time read as UTC, which the
// caller re-interprets in the DAG's time zone.
struct ParsedDateTime {
  TimePoint utc;
  bool has_zone = false;
  bool date_only = false;
};
std::optional<ParsedDateTime> ParseIso8601(std::string_view text);

// Durations: an integer followed by ms, s, m, h or d, concatenated ("1h30m").
std::optional<Duration> ParseDuration(std::string_view text);
// The shortest such text for `d` ("1h30m", "500ms", "0s").
std::string FormatDuration(Duration d);

// The time source of the executor and scheduler. Real code uses SystemClock;
// tests use a fake that jumps to the next deadline instead of sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() = 0;
  // Waits on `cv` until `stop()` holds or `deadline` passes. The lock guards
  // what `stop` reads. Returns stop().
  virtual bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         std::optional<TimePoint> deadline,
                         const std::function<bool()>& stop) = 0;
};

// Real time running `speed` times faster from `origin` on: Now() is
// origin + (real now - origin) * speed. For end-to-end tests of schedules
// (piped reads PIPE_TEST_CLOCK=ORIGIN_ISO8601,SPEED); a fixed origin keeps
// time continuous across restarts of the daemon.
class ScaledClock final : public Clock {
 public:
  ScaledClock(TimePoint origin, double speed) : origin_(origin), speed_(speed) {}
  TimePoint Now() override;
  bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 std::optional<TimePoint> deadline, const std::function<bool()>& stop) override;

 private:
  TimePoint origin_;
  double speed_;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() override;
  bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 std::optional<TimePoint> deadline, const std::function<bool()>& stop) override;
  static SystemClock* Default();
};

}  // namespace pipeline
