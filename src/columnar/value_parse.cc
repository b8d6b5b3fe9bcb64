#include "columnar/value_parse.h"

#include <simdjson.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include <date/date.h>
#include <fast_float/fast_float.h>

namespace pipeline::columnar {
namespace {

bool Digits(std::string_view text, size_t pos, size_t count, int* out) {
  if (pos + count > text.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    unsigned d = static_cast<unsigned char>(text[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + static_cast<int>(d);
  }
  *out = v;
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

}  // namespace

bool ParseFloat64Slow(std::string_view text, double* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin != end && *begin == '+' && (++begin == end || *begin == '-' || *begin == '+')) return false;
  if (begin == end) return false;
  // "nan(chars)", which fast_float takes, is no number a database reads.
  if (std::memchr(begin, '(', size_t(end - begin)) != nullptr) return false;
  auto [ptr, ec] = fast_float::from_chars(begin, end, *out);
  // fast_float reports out-of-range values as errors but still rounds them to
  // +-inf or 0, which is what every database does with such literals.
  return (ec == std::errc() || ec == std::errc::result_out_of_range) && ptr == end;
}

bool ParseBool(std::string_view text, bool* out) {
  if (EqualsIgnoreCase(text, "true")) {
    *out = true;
    return true;
  }
  if (EqualsIgnoreCase(text, "false")) {
    *out = false;
    return true;
  }
  return false;
}

bool ParseTimestampSlow(std::string_view text, int64_t* out) {
  int year, month, day;
  if (text.size() < 10 || !Digits(text, 0, 4, &year) || text[4] != '-' || !Digits(text, 5, 2, &month) ||
      text[7] != '-' || !Digits(text, 8, 2, &day)) {
    return false;
  }
  date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                           date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return false;
  int64_t micros = static_cast<int64_t>(date::sys_days{ymd}.time_since_epoch().count()) * 86400'000000;
  size_t pos = 10;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != ' ') return false;
    int hour, minute, second = 0;
    if (!Digits(text, pos + 1, 2, &hour) || text.size() < pos + 6 || text[pos + 3] != ':' ||
        !Digits(text, pos + 4, 2, &minute) || hour > 23 || minute > 59) {
      return false;
    }
    pos += 6;
    if (pos < text.size() && text[pos] == ':') {
      if (!Digits(text, pos + 1, 2, &second) || second > 59) return false;
      pos += 3;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int64_t fraction = 0;
        int digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          if (digits < 6) fraction = fraction * 10 + (text[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0 || digits > 9) return false;
        for (int d = digits; d < 6; ++d) fraction *= 10;
        micros += fraction;
      }
    }
    micros += (int64_t{hour} * 3600 + minute * 60 + second) * 1'000000;
    if (pos < text.size()) {
      if (text[pos] == 'Z' && pos + 1 == text.size()) {
        pos += 1;
      } else if (text[pos] == '+' || text[pos] == '-') {
        int oh, om;
        if (text.size() != pos + 6 || !Digits(text, pos + 1, 2, &oh) || text[pos + 3] != ':' ||
            !Digits(text, pos + 4, 2, &om) || oh > 23 || om > 59) {
          return false;
        }
        int64_t offset = (int64_t{oh} * 3600 + om * 60) * 1'000000;
        micros += text[pos] == '+' ? -offset : offset;
        pos += 6;
      } else {
        return false;
      }
    }
  }
  *out = micros;
  return pos == text.size();
}

CivilTime CivilOf(int64_t micros) {
  constexpr int64_t kDay = 86400'000000;
  CivilTime t;
  t.days = micros / kDay;  // floored, without negating INT64_MIN
  t.micros_of_day = micros % kDay;
  if (t.micros_of_day < 0) {
    t.micros_of_day += kDay;
    --t.days;
  }
  // Days -> civil date: Howard Hinnant's days_from_civil inverse (the one
  // date::year_month_day uses), in int64 so that any year fits.
  const int64_t z = t.days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);         // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                              // [0, 11], from March
  t.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  t.year = yoe + era * 400 + (t.month <= 2 ? 1 : 0);
  return t;
}

std::string FormatTimestamp(int64_t micros) {
  const CivilTime t = CivilOf(micros);
  char buf[64];
  int64_t secs = t.micros_of_day / 1'000000;
  int64_t frac = t.micros_of_day % 1'000000;
  int n = std::snprintf(buf, sizeof buf, "%s%04lld-%02u-%02u %02lld:%02lld:%02lld", t.year < 0 ? "-" : "",
                        static_cast<long long>(t.year < 0 ? -t.year : t.year), t.month, t.day,
                        static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  if (frac) std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(frac));
  return buf;
}

DataType InferType(std::string_view text) {
  int64_t i;
  double d;
  bool b;
  if (!HasLeadingZero(text)) {
    if (ParseInt64(text, &i)) return DataType::kInt64;
    if (ParseFloat64(text, &d)) return DataType::kFloat64;
  }
  if (ParseBool(text, &b)) return DataType::kBool;
  if (ParseTimestamp(text, &i)) return DataType::kTimestamp;
  return DataType::kString;
}

DataType WidenType(DataType a, DataType b) {
  if (a == b) return a;
  if (IsNumeric(a) && IsNumeric(b)) return DataType::kFloat64;
  return DataType::kString;
}

std::string ValidUtf8(std::string_view text) {
  if (simdjson::validate_utf8(text.data(), text.size())) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (len > 0 && i + len <= text.size() && simdjson::validate_utf8(text.data() + i, len)) {
      out.append(text, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  // Back over continuation bytes (10xxxxxx) to the start of the character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

}  // namespace pipeline::columnar
