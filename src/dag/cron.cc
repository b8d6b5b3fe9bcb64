#include "dag/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pipeline {
namespace {

using std::chrono::microseconds;
using std::chrono::minutes;
using LocalMinutes = date::local_time<minutes>;
using LocalMicros = date::local_time<microseconds>;

// How far NextTick/PrevTick look before giving up ("5 years").
constexpr date::days kSearchHorizon{5 * 366};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// How one of the five fields reads its values.
struct FieldSpec {
  std::string_view name;
  int min;                        // smallest accepted value
  int max;                        // largest accepted value (7 for day-of-week)
  int star_max;                   // largest value `*` stands for
  bool wrap_week;                 // values are taken modulo 7
  const std::string_view* names;  // 3-letter names, or nullptr
  int name_count;
  int name_base;  // value of names[0]
};

constexpr FieldSpec kMinuteField{"minute", 0, 59, 59, false, nullptr, 0, 0};
constexpr FieldSpec kHourField{"hour", 0, 23, 23, false, nullptr, 0, 0};
constexpr FieldSpec kDayOfMonthField{"day-of-month", 1, 31, 31, false, nullptr, 0, 0};
constexpr FieldSpec kMonthField{"month", 1, 12, 12, false, kMonthNames.data(), 12, 1};
constexpr FieldSpec kDayOfWeekField{"day-of-week", 0, 7, 6, true, kDayNames.data(), 7, 0};

constexpr uint64_t kAllDaysOfMonth = ((uint64_t{1} << 32) - 1) & ~uint64_t{1};  // bits 1..31
constexpr uint64_t kAllDaysOfWeek = (uint64_t{1} << 7) - 1;                     // bits 0..6

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 5> kMacros = {{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
}};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiUpper(a[i]) != AsciiUpper(b[i])) return false;
  }
  return true;
}

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on runs of spaces/tabs; `s` must already be trimmed.
std::vector<std::string_view> SplitFields(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && !IsBlank(s[j])) ++j;
    fields.push_back(s.substr(i, j - i));
    while (j < s.size() && IsBlank(s[j])) ++j;
    i = j;
  }
  return fields;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

bool InvalidValue(const FieldSpec& spec, std::string_view token, std::string* error) {
  SetError(error, std::string(spec.name) + ": invalid value '" + std::string(token) + "'");
  return false;
}

// Reads one value (a number or, where the field has them, a name). An empty
// token is reported as the whole `element`.
bool ParseValue(const FieldSpec& spec, std::string_view token, std::string_view element, int* value,
                std::string* error) {
  if (token.empty()) return InvalidValue(spec, element, error);
  if (IsAllDigits(token)) {
    if (token.size() > 9) {
      SetError(error, std::string(spec.name) + " " + std::string(token) + " out of range " +
                          std::to_string(spec.min) + "-" + std::to_string(spec.max));
      return false;
    }
    const int v = std::stoi(std::string(token));
    if (v < spec.min || v > spec.max) {
      SetError(error, std::string(spec.name) + " " + std::to_string(v) + " out of range " +
                          std::to_string(spec.min) + "-" + std::to_string(spec.max));
      return false;
    }
    *value = v;
    return true;
  }
  for (int i = 0; i < spec.name_count; ++i) {
    if (EqualsIgnoreCase(token, spec.names[i])) {
      *value = spec.name_base + i;
      return true;
    }
  }
  return InvalidValue(spec, token, error);
}

// Reads the `n` of a `/n` step.
bool ParseStep(const FieldSpec& spec, std::string_view token, std::string_view element, int* step,
               std::string* error) {
  if (token.empty()) return InvalidValue(spec, element, error);
  if (!IsAllDigits(token) || token.size() > 9) return InvalidValue(spec, token, error);
  const int v = std::stoi(std::string(token));
  if (v == 0) {
    SetError(error, std::string(spec.name) + ": step 0 is not allowed");
    return false;
  }
  *step = v;
  return true;
}

// Reads one list element (`*`, `v`, `a-b`, each optionally `/n`) into `mask`.
bool ParseElement(const FieldSpec& spec, std::string_view element, uint64_t* mask,
                  std::string* error) {
  std::string_view range = element;
  std::string_view step_text;
  bool has_step = false;
  if (const size_t slash = element.find('/'); slash != std::string_view::npos) {
    range = element.substr(0, slash);
    step_text = element.substr(slash + 1);
    has_step = true;
  }
  int step = 1;
  if (has_step && !ParseStep(spec, step_text, element, &step, error)) return false;

  int lo = 0;
  int hi = 0;
  if (range == "*") {
    lo = spec.min;
    hi = spec.star_max;
  } else if (const size_t dash = range.find('-'); dash != std::string_view::npos) {
    const std::string_view a = range.substr(0, dash);
    const std::string_view b = range.substr(dash + 1);
    if (!ParseValue(spec, a, element, &lo, error) || !ParseValue(spec, b, element, &hi, error)) {
      return false;
    }
    // A weekday range that ends on Sunday (SAT-SUN, MON-0) ends on its 7, as
    // in croniter and Vixie cron: the weekend, not a reversed range.
    if (spec.wrap_week && hi == 0 && lo > 0) hi = 7;
    if (lo > hi) {
      SetError(error, std::string(spec.name) + ": range " + std::string(a) + "-" + std::string(b) +
                          " is reversed");
      return false;
    }
  } else {
    if (!ParseValue(spec, range, element, &lo, error)) return false;
    hi = has_step ? spec.max : lo;  // `a/n` runs from a to the field maximum
  }
  for (int v = lo; v <= hi; v += step) {
    *mask |= uint64_t{1} << (spec.wrap_week ? v % 7 : v);
  }
  return true;
}

// Reads a comma-separated field into a bit mask of allowed values.
std::optional<uint64_t> ParseField(const FieldSpec& spec, std::string_view text,
                                   std::string* error) {
  uint64_t mask = 0;
  for (std::string_view element : SplitOn(text, ',')) {
    if (element.empty()) {
      InvalidValue(spec, text, error);
      return std::nullopt;
    }
    if (!ParseElement(spec, element, &mask, error)) return std::nullopt;
  }
  return mask;
}

std::optional<CronSchedule> ParseFields(const std::vector<std::string_view>& fields,
                                        std::string* error) {
  const auto minute = ParseField(kMinuteField, fields[0], error);
  if (!minute) return std::nullopt;
  const auto hour = ParseField(kHourField, fields[1], error);
  if (!hour) return std::nullopt;
  const auto dom = ParseField(kDayOfMonthField, fields[2], error);
  if (!dom) return std::nullopt;
  const auto month = ParseField(kMonthField, fields[3], error);
  if (!month) return std::nullopt;
  const auto dow = ParseField(kDayOfWeekField, fields[4], error);
  if (!dow) return std::nullopt;

  CronSchedule cron;
  cron.minutes = std::bitset<60>(*minute);
  cron.hours = std::bitset<24>(*hour);
  cron.days_of_month = std::bitset<32>(*dom);
  cron.months = std::bitset<13>(*month);
  cron.days_of_week = std::bitset<7>(*dow);
  cron.dom_restricted = (*dom & kAllDaysOfMonth) != kAllDaysOfMonth;
  cron.dow_restricted = (*dow & kAllDaysOfWeek) != kAllDaysOfWeek;
  return cron;
}

template <size_t N>
int NextBit(const std::bitset<N>& bits, int from) {
  for (int i = std::max(from, 0); i < static_cast<int>(N); ++i) {
    if (bits[i]) return i;
  }
  return -1;
}

template <size_t N>
int PrevBit(const std::bitset<N>& bits, int from) {
  for (int i = std::min(from, static_cast<int>(N) - 1); i >= 0; --i) {
    if (bits[i]) return i;
  }
  return -1;
}

// The first day of the next month (after `ymd`'s) the schedule allows, or a day
// past `limit` if none does.
date::local_days FirstDayOfNextAllowedMonth(const CronSchedule& cron, date::year_month_day ymd,
                                            date::local_days limit) {
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month());
  for (int i = 0; i < 12; ++i) {
    if (++m > 12) {
      m = 1;
      ++y;
    }
    if (cron.months[m]) return date::local_days{date::year{y} / date::month{m} / 1};
  }
  return limit + date::days{1};
}

// The last day of the previous month (before `ymd`'s) the schedule allows, or a
// day before `limit` if none does.
date::local_days LastDayOfPrevAllowedMonth(const CronSchedule& cron, date::year_month_day ymd,
                                           date::local_days limit) {
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month());
  for (int i = 0; i < 12; ++i) {
    if (--m == 0) {
      m = 12;
      --y;
    }
    if (cron.months[m]) return date::local_days{date::year{y} / date::month{m} / date::last};
  }
  return limit - date::days{1};
}

bool DayAllowed(const CronSchedule& cron, date::local_days day, const date::year_month_day& ymd) {
  return cron.MatchesDay(static_cast<int>(static_cast<unsigned>(ymd.month())),
                         static_cast<int>(static_cast<unsigned>(ymd.day())),
                         static_cast<int>(date::weekday{day}.c_encoding()));
}

// The first wall-clock minute >= `from` matching `cron`, on or before day `limit`.
std::optional<LocalMinutes> NextLocalMatch(const CronSchedule& cron, LocalMinutes from,
                                           date::local_days limit) {
  date::local_days day = std::chrono::floor<date::days>(from);
  const int minute_of_day = static_cast<int>((from - day).count());
  int hour = minute_of_day / 60;
  int minute = minute_of_day % 60;
  while (day <= limit) {
    const date::year_month_day ymd{day};
    if (!cron.months[static_cast<unsigned>(ymd.month())]) {
      day = FirstDayOfNextAllowedMonth(cron, ymd, limit);
      hour = minute = 0;
      continue;
    }
    const int h = DayAllowed(cron, day, ymd) ? NextBit(cron.hours, hour) : -1;
    if (h < 0) {
      day += date::days{1};
      hour = minute = 0;
      continue;
    }
    const int m = NextBit(cron.minutes, h == hour ? minute : 0);
    if (m < 0) {
      hour = h + 1;
      minute = 0;
      continue;
    }
    return LocalMinutes{day} + std::chrono::hours{h} + minutes{m};
  }
  return std::nullopt;
}

// The last wall-clock minute <= `from` matching `cron`, on or after day `limit`.
std::optional<LocalMinutes> PrevLocalMatch(const CronSchedule& cron, LocalMinutes from,
                                           date::local_days limit) {
  date::local_days day = std::chrono::floor<date::days>(from);
  const int minute_of_day = static_cast<int>((from - day).count());
  int hour = minute_of_day / 60;
  int minute = minute_of_day % 60;
  while (day >= limit) {
    const date::year_month_day ymd{day};
    if (!cron.months[static_cast<unsigned>(ymd.month())]) {
      day = LastDayOfPrevAllowedMonth(cron, ymd, limit);
      hour = 23;
      minute = 59;
      continue;
    }
    const int h = DayAllowed(cron, day, ymd) ? PrevBit(cron.hours, hour) : -1;
    if (h < 0) {
      day -= date::days{1};
      hour = 23;
      minute = 59;
      continue;
    }
    const int m = PrevBit(cron.minutes, h == hour ? minute : 59);
    if (m < 0) {
      hour = h - 1;
      minute = 59;
      continue;
    }
    return LocalMinutes{day} + std::chrono::hours{h} + minutes{m};
  }
  return std::nullopt;
}

// The wall-clock reading of instant `t` in `tz` (nullptr: UTC).
LocalMicros ToLocal(const date::time_zone* tz, TimePoint t) {
  if (tz == nullptr) return LocalMicros{t.time_since_epoch()};
  return LocalMicros{t.time_since_epoch() + tz->get_info(t).offset};
}

// The instant a wall-clock minute denotes: the first occurrence when it is
// ambiguous; none inside a DST gap (the contract: "A tick that a DST change
// skips does not fire; a repeated wall-clock hour fires once").
std::optional<TimePoint> FirstInstantOf(const date::time_zone* tz, LocalMinutes local) {
  if (tz == nullptr) return TimePoint{local.time_since_epoch()};
  const date::local_info info = tz->get_info(local);
  if (info.result == date::local_info::nonexistent) return std::nullopt;
  return TimePoint{local.time_since_epoch() - info.first.offset};
}

// The exclusive wall-clock bound below which every (first-occurrence) instant is
// before `before`. Usually the local reading of `before`; when `before` falls in
// the second occurrence of a repeated period, the end of that period, since all
// its wall times fired at their first occurrence.
LocalMicros PrevSearchBound(const date::time_zone* tz, TimePoint before) {
  const LocalMicros local = ToLocal(tz, before);
  if (tz == nullptr) return local;
  const date::local_info info = tz->get_info(local);
  if (info.result == date::local_info::ambiguous && before >= info.second.begin) {
    return LocalMicros{info.second.begin.time_since_epoch() + info.first.offset};
  }
  return local;
}

}  // namespace

bool CronSchedule::MatchesDay(int month, int day, int weekday) const {
  if (month < 1 || month > 12 || day < 1 || day > 31 || weekday < 0 || weekday > 6) return false;
  if (!months[month]) return false;
  const bool dom = days_of_month[day];
  const bool dow = days_of_week[weekday];
  return (dom_restricted && dow_restricted) ? (dom || dow) : (dom && dow);
}

bool CronSchedule::Matches(const CivilDateTime& t) const {
  if (t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59) return false;
  return hours[t.hour] && minutes[t.minute] && MatchesDay(t.month, t.day, t.weekday);
}

std::optional<CronSchedule> ParseCron(std::string_view text, std::string* error) {
  const std::string_view trimmed = Trim(text);
  if (!trimmed.empty() && trimmed.front() == '@') {
    for (const Macro& macro : kMacros) {
      if (EqualsIgnoreCase(trimmed, macro.name)) return ParseCron(macro.expansion, error);
    }
    SetError(error, "unknown macro '" + std::string(trimmed) + "'");
    return std::nullopt;
  }
  const std::vector<std::string_view> fields = SplitFields(trimmed);
  if (fields.size() != 5) {
    SetError(error, "expected 5 fields, got " + std::to_string(fields.size()));
    return std::nullopt;
  }
  return ParseFields(fields, error);
}

std::optional<TimePoint> NextTick(const CronSchedule& cron, const date::time_zone* tz,
                                  TimePoint after) {
  // Wall times at or before after's own reading map (first occurrence) to
  // instants <= after, and the first-occurrence mapping is increasing, so the
  // first matching later wall time that exists and lands after `after` wins.
  LocalMinutes from = std::chrono::floor<minutes>(ToLocal(tz, after)) + minutes{1};
  const date::local_days limit = std::chrono::floor<date::days>(from) + kSearchHorizon;
  while (const std::optional<LocalMinutes> local = NextLocalMatch(cron, from, limit)) {
    const std::optional<TimePoint> t = FirstInstantOf(tz, *local);
    if (t && *t > after) return t;
    from = *local + minutes{1};
  }
  return std::nullopt;
}

std::optional<TimePoint> PrevTick(const CronSchedule& cron, const date::time_zone* tz,
                                  TimePoint before) {
  LocalMinutes from = std::chrono::floor<minutes>(PrevSearchBound(tz, before) - microseconds{1});
  const date::local_days limit = std::chrono::floor<date::days>(from) - kSearchHorizon;
  while (const std::optional<LocalMinutes> local = PrevLocalMatch(cron, from, limit)) {
    const std::optional<TimePoint> t = FirstInstantOf(tz, *local);
    if (t && *t < before) return t;
    from = *local - minutes{1};
  }
  return std::nullopt;
}

}  // namespace pipeline
