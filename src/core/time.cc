#include "core/time.h"

#include <date/date.h>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace pipeline {

namespace {

// Reads exactly `width` digits at text[*pos].
bool ReadDigits(std::string_view text, size_t* pos, int width, int* out) {
  if (*pos + width > text.size()) return false;
  int value = 0;
  for (int idx = 0; idx < width; ++idx) {
    char c = text[*pos + idx];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += width;
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

std::string FormatIso8601(TimePoint t) {
  auto day = date::floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::microseconds> tod{t - day};
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", int(ymd.year()),
                        unsigned(ymd.month()), unsigned(ymd.day()), int(tod.hours().count()),
                        int(tod.minutes().count()), int(tod.seconds().count()));
  std::string out(buf, n);
  if (auto us = tod.subseconds().count(); us != 0) {
    std::snprintf(buf, sizeof buf, ".%06d", int(us));
    out += buf;
  }
  out += 'Z';
  return out;
}

int64_t ToMicros(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint FromMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

std::optional<ParsedDateTime> ParseIso8601(std::string_view text) {
  size_t pos = 0;
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &day)) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year(year), date::month(month), date::day(day)};
  if (!ymd.ok()) return std::nullopt;
  ParsedDateTime out;
  out.date_only = pos == text.size();
  std::chrono::microseconds frac{0};
  if (!out.date_only) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    if (!ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
        !ReadDigits(text, &pos, 2, &minute)) {
      return std::nullopt;
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadDigits(text, &pos, 2, &second)) return std::nullopt;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int64_t scale = 100000;
        size_t digits = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
          if (scale > 0) frac += std::chrono::microseconds((text[pos] - '0') * scale);
          scale /= 10;
          ++pos;
          ++digits;
        }
        if (digits == 0) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (pos < text.size()) {
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      int oh, om = 0;
      if (!ReadDigits(text, &pos, 2, &oh)) return std::nullopt;
      if (pos < text.size() && text[pos] == ':') ++pos;
      if (!ReadDigits(text, &pos, 2, &om) || oh > 23 || om > 59) return std::nullopt;
      offset = sign * (std::chrono::hours(oh) + std::chrono::minutes(om));
    } else {
      return std::nullopt;
    }
    out.has_zone = true;
  }
  if (pos != text.size()) return std::nullopt;
  auto local = date::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
               std::chrono::seconds(second);
  out.utc = TimePoint(std::chrono::duration_cast<std::chrono::microseconds>(
                          (local - offset).time_since_epoch()) + frac);
  return out;
}

std::optional<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  Duration total{0};
  size_t pos = 0;
  while (pos < text.size()) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data() + pos || value < 0) return std::nullopt;
    pos = end - text.data();
    std::string_view rest = text.substr(pos);
    int64_t unit_ms;
    if (rest.starts_with("ms")) {
      unit_ms = 1, pos += 2;
    } else if (rest.starts_with("s")) {
      unit_ms = 1000, pos += 1;
    } else if (rest.starts_with("m")) {
      unit_ms = 60'000, pos += 1;
    } else if (rest.starts_with("h")) {
      unit_ms = 3'600'000, pos += 1;
    } else if (rest.starts_with("d")) {
      unit_ms = 86'400'000, pos += 1;
    } else {
      return std::nullopt;
    }
    // Refuse anything past ~100 years rather than overflow.
    constexpr int64_t kMaxMs = int64_t{100} * 366 * 86'400'000;
    if (value > kMaxMs / unit_ms || total.count() + value * unit_ms > kMaxMs) return std::nullopt;
    total += Duration(value * unit_ms);
  }
  return total;
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [unit, suffix] : kUnits) {
    if (ms >= unit) {
      out += std::to_string(ms / unit) + suffix;
      ms %= unit;
    }
  }
  return out;
}

TimePoint SystemClock::Now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(Clock_::now());
}

bool SystemClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            std::optional<TimePoint> deadline,
                            const std::function<bool()>& stop) {
  if (!deadline) {
    cv.wait(lock, stop);
    return true;
  }
  return cv.wait_until(lock, *deadline, stop);
}

TimePoint ScaledClock::Now() {
  auto real = SystemClock::Default()->Now() - origin_;
  return origin_ + std::chrono::microseconds(static_cast<int64_t>(real.count() * speed_));
}

bool ScaledClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            std::optional<TimePoint> deadline, const std::function<bool()>& stop) {
  if (!deadline) return SystemClock::Default()->WaitUntil(cv, lock, std::nullopt, stop);
  auto fake = *deadline - origin_;
  TimePoint real = origin_ + std::chrono::microseconds(static_cast<int64_t>(fake.count() / speed_));
  return SystemClock::Default()->WaitUntil(cv, lock, real, stop);
}

SystemClock* SystemClock::Default() {
  static SystemClock clock;
  return &clock;
}

}  // namespace pipeline
