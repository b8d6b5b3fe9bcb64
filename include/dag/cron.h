// Five-field cron expressions and their ticks in an IANA time zone.
//
// Grammar (per field): `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or
// `a/n` (a through the field maximum), and comma-separated lists of those.
// Month names JAN-DEC and day names SUN-SAT are accepted case-insensitively
// in their own fields; day-of-week 7 is Sunday, like 0. Macros: @hourly,
// @daily, @weekly, @monthly, @yearly.
//
// Day rule: when both day-of-month and day-of-week are restricted (their
// allowed set is not the whole range), a day matching EITHER fires; otherwise
// a day must match both (the unrestricted one matches every day).
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"

namespace date {
class time_zone;
}  // namespace date

namespace pipeline {

// A local civil (wall-clock) date-time, as read in the schedule's time zone.
struct CivilDateTime {
  int year = 1970;
  int month = 1;    // 1..12
  int day = 1;      // 1..31
  int weekday = 4;  // 0 = Sunday .. 6 = Saturday
  int hour = 0;     // 0..23
  int minute = 0;   // 0..59
};

// A parsed cron expression: bitsets of the allowed values of each field.
struct CronSchedule {
  std::bitset<60> minutes;        // 0..59
  std::bitset<24> hours;          // 0..23
  std::bitset<32> days_of_month;  // 1..31 (bit 0 unused)
  std::bitset<13> months;         // 1..12 (bit 0 unused)
  std::bitset<7> days_of_week;    // 0 = Sunday .. 6 = Saturday
  bool dom_restricted = false;    // day-of-month does not allow every day
  bool dow_restricted = false;    // day-of-week does not allow every day

  // True when the day (month, day-of-month, weekday) passes the month and
  // day fields, applying the either-day rule described above.
  bool MatchesDay(int month, int day, int weekday) const;
  // True when the wall-clock minute `t` is a tick of this schedule. The year
  // never restricts; out-of-range fields never match.
  bool Matches(const CivilDateTime& t) const;
};

// Parses a 5-field expression or a macro. Fields are separated by one or more
// spaces/tabs; leading and trailing blanks are ignored. On error returns
// std::nullopt and, if `error` is non-null, sets *error to one of (no prefix):
//   "minute 61 out of range 0-59" (hour 0-23, day-of-month 1-31, month 1-12,
//                                  day-of-week 0-7)
//   "expected 5 fields, got 4"
//   "unknown macro '@minutely'"
//   "minute: invalid value 'x'"
//   "minute: step 0 is not allowed"
//   "hour: range 5-2 is reversed"
std::optional<CronSchedule> ParseCron(std::string_view text, std::string* error);

// The first tick strictly after `after`, the wall-clock fields being matched in
// `tz` (nullptr means UTC). As the contract says, a wall time skipped by a
// DST gap does not fire (a daily 02:30 in New York has no tick on the
// spring-forward day), and an ambiguous wall time (repeated hour) fires
// once, at its first occurrence.
// std::nullopt if no tick exists within the next 5 years.
std::optional<TimePoint> NextTick(const CronSchedule& cron, const date::time_zone* tz,
                                  TimePoint after);

// The last tick strictly before `before`, with the same rules as NextTick.
// std::nullopt if no tick exists within the previous 5 years.
std::optional<TimePoint> PrevTick(const CronSchedule& cron, const date::time_zone* tz,
                                  TimePoint before);

}  // namespace pipeline
