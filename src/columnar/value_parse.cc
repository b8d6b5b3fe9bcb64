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

std::string FormatTimestamp(int64_t micros) {
  int64_t days = micros >= 0 ? micros / 86400'000000 : -((-micros + 86400'000000 - 1) / 86400'000000);
  int64_t rest = micros - days * 86400'000000;
  date::year_month_day ymd{date::sys_days{date::days{days}}};
  char buf[64];
  int64_t secs = rest / 1'000000;
  int64_t frac = rest % 1'000000;
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld:%02lld", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  if (frac) std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(frac));
  return buf;
}

DataType InferType(std::string_view text) {
  int64_t i;
  double d;
  bool b;
  if (ParseInt64(text, &i)) return DataType::kInt64;
  if (ParseFloat64(text, &d)) return DataType::kFloat64;
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
