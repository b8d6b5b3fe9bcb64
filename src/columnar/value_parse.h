// Text -> typed values, shared by the CSV and JSONL readers and by `cast`.
// Each parser accepts the whole text or nothing (no leading/trailing spaces).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "columnar/types.h"

#include <date/date.h>
#include <fast_float/fast_float.h>

namespace pipeline::columnar {

// Decimal integer with optional sign; false on overflow or any other char.
// Inline: the CSV reader calls it per field.
inline bool ParseInt64(std::string_view text, int64_t* out);
// Decimal or scientific notation, "inf"/"nan" (any case, optional sign).
inline bool ParseFloat64(std::string_view text, double* out);
bool ParseFloat64Slow(std::string_view text, double* out);  // any form, via fast_float
// true/false, any case.
bool ParseBool(std::string_view text, bool* out);
// ISO-8601: "YYYY-MM-DD", optionally followed by "T" or " " and
// "HH:MM[:SS[.f{1,9}]]" and an optional "Z" or "+HH:MM"/"-HH:MM" offset (no
// offset = UTC). Microseconds since the epoch; sub-µs digits are truncated.
inline bool ParseTimestamp(std::string_view text, int64_t* out);
bool ParseTimestampSlow(std::string_view text, int64_t* out);  // every accepted form

// A timestamp's calendar fields in UTC (proleptic Gregorian, astronomical
// years: 0 is 1 BC), for every int64 count of microseconds: date's
// year_month_day holds years -32767..32767 only, and int64 timestamps reach
// about 294,000 years either side of 1970 (DuckDB's infinity is INT64_MAX).
struct CivilTime {
  int64_t days;            // since 1970-01-01, rounded down
  int64_t year;
  unsigned month, day;     // 1-based
  int64_t micros_of_day;   // 0 .. 86,399,999,999
};
CivilTime CivilOf(int64_t micros);

// "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC, as DuckDB prints timestamps (years
// beyond 9999 with more digits, years before 1 as negative numbers: -0100).
std::string FormatTimestamp(int64_t micros);

// Whether a number's text has a leading zero before another digit ("007",
// "-0012", "00.5"): such a column is an identifier (a zip code, an account
// number), inferred as string, as DuckDB does, so that no zero is lost.
inline bool HasLeadingZero(std::string_view t) {
  const size_t at = !t.empty() && (t[0] == '-' || t[0] == '+') ? 1 : 0;
  return t.size() > at + 1 && t[at] == '0' && t[at + 1] >= '0' && t[at + 1] <= '9';
}

// The most specific type `text` parses as, in the order int64, float64,
// bool, timestamp, string (numbers with a leading zero: HasLeadingZero).
DataType InferType(std::string_view text);
// The narrowest type that holds values of both: int64 + float64 -> float64,
// equal types -> that type, anything else -> string.
DataType WidenType(DataType a, DataType b);

// `text` with each byte that is not part of a valid UTF-8 sequence replaced
// by U+FFFD (Python's errors="replace"): raw bad rows kept in a quarantine
// table, which Parquet readers require to be UTF-8.
std::string ValidUtf8(std::string_view text);
// At most `max_bytes` of `text`, cut before a character, not inside one.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// ---- inline definitions

inline bool ParseInt64(std::string_view text, int64_t* out) {
  const char* p = text.data();
  const char* end = p + text.size();
  bool negative = false;
  if (p != end && (*p == '+' || *p == '-')) negative = *p++ == '-';
  const size_t digits = static_cast<size_t>(end - p);
  if (digits == 0 || digits > 19) return false;
  // Up to 18 digits cannot overflow; the 19th is checked. Eight digits at a
  // time where they are (fast_float's SWAR helpers).
  uint64_t value = 0;
  while (end - p >= 8 && fast_float::is_made_of_eight_digits_fast(p)) {
    value = value * 100000000 + fast_float::parse_eight_digits_unrolled(p);
    p += 8;
  }
  for (; p != end; ++p) {
    unsigned d = static_cast<unsigned char>(*p) - '0';
    if (d > 9) return false;
    value = value * 10 + d;
  }
  if (digits == 19) {
    // 19 digits fit in uint64; more than INT64_MAX (+1 when negative) does not fit.
    if (text.substr(text.size() - 19) > std::string_view("9223372036854775807") &&
        !(negative && text.substr(text.size() - 19) == "9223372036854775808")) {
      return false;
    }
  }
  *out = negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}


inline bool ParseFloat64(std::string_view text, double* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  // One sign: "+1" is 1, "+-1" no number (fast_float would take the '-').
  if (begin != end && *begin == '+' && (++begin == end || *begin == '-' || *begin == '+')) return false;
  if (begin == end) return false;
  // Fast path for plain decimals ("-123.45") with at most 15 digits: the
  // digits and the power of ten are exact doubles, so one division rounds
  // correctly (Clinger), the same result fast_float gives.
  {
    static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                        1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char* p = begin;
    bool negative = *p == '-';
    if (negative) ++p;
    uint64_t mantissa = 0;
    int digits = 0, fraction = -1;
    for (; p != end; ++p) {
      unsigned d = static_cast<unsigned char>(*p) - '0';
      if (d <= 9) {
        mantissa = mantissa * 10 + d;
        ++digits;
        if (fraction >= 0) ++fraction;
      } else if (*p == '.' && fraction < 0) {
        fraction = 0;
      } else {
        break;
      }
    }
    if (p == end && digits > 0 && digits <= 15) {
      double v = static_cast<double>(mantissa);
      if (fraction > 0) v /= kPow10[fraction];
      *out = negative ? -v : v;
      return true;
    }
  }
  return ParseFloat64Slow(text, out);
}

namespace value_parse_internal {

// Two digits at p; false if either is not a digit.
inline bool TwoDigits(const char* p, int* out) {
  unsigned a = static_cast<unsigned char>(p[0]) - '0', b = static_cast<unsigned char>(p[1]) - '0';
  *out = static_cast<int>(a * 10 + b);
  return a <= 9 && b <= 9;
}

}  // namespace value_parse_internal

inline bool ParseTimestamp(std::string_view text, int64_t* out) {
  using value_parse_internal::TwoDigits;
  // Fast path for the common "YYYY-MM-DDTHH:MM:SS" (T or space, optional Z).
  if ((text.size() == 19 || (text.size() == 20 && text[19] == 'Z')) && text[4] == '-' && text[7] == '-' &&
      (text[10] == 'T' || text[10] == ' ') && text[13] == ':' && text[16] == ':') {
    const char* t = text.data();
    int y1, y2, mo, d, h, mi, se;
    if (TwoDigits(t, &y1) && TwoDigits(t + 2, &y2) && TwoDigits(t + 5, &mo) && TwoDigits(t + 8, &d) &&
        TwoDigits(t + 11, &h) && TwoDigits(t + 14, &mi) && TwoDigits(t + 17, &se) && h <= 23 && mi <= 59 &&
        se <= 59) {
      date::year_month_day ymd{date::year{y1 * 100 + y2}, date::month{static_cast<unsigned>(mo)},
                               date::day{static_cast<unsigned>(d)}};
      if (!ymd.ok()) return false;
      int64_t days = date::sys_days{ymd}.time_since_epoch().count();
      *out = (days * 86400 + int64_t{h} * 3600 + mi * 60 + se) * 1'000000;
      return true;
    }
  }
  return ParseTimestampSlow(text, out);
}

}  // namespace pipeline::columnar
