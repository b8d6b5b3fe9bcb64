#include "ml/mask.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>

#include "columnar/compute.h"
#include "columnar/value_parse.h"
#include "ml/linear.h"

namespace pipeline::ml {

namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

// The byte length of the first `n` UTF-8 characters of `s` (all of it when shorter).
size_t Utf8Prefix(std::string_view s, int n) {
  size_t i = 0;
  for (int chars = 0; i < s.size() && chars < n; ++chars) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;  // continuation bytes
  }
  return i;
}

constexpr int64_t kMicrosPerDay = int64_t{86'400'000'000};

int64_t Generalize(int64_t micros, bool month) {
  const columnar::CivilTime t = columnar::CivilOf(micros);  // any year (date's stop at 32767)
  const int64_t day = month ? t.days - (t.day - 1) : t.days;  // the month's first day, or the day
  // (The first days before -2^63 µs, in year -290308, start at int64's minimum.)
  const __int128 start = static_cast<__int128>(day) * kMicrosPerDay;
  return start < INT64_MIN ? INT64_MIN : static_cast<int64_t>(start);
}

std::string RuleName(const MaskRule& rule) {
  switch (rule.kind) {
    case MaskRule::Kind::kHash: return "hash";
    case MaskRule::Kind::kRedact: return "redact";
    case MaskRule::Kind::kTruncate: return "truncate";
    case MaskRule::Kind::kGeneralize: return "generalize";
  }
  return "";
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), digest, &size);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(size * 2, '0');
  for (unsigned int i = 0; i < size; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

std::optional<DataType> MaskedType(const MaskRule& rule, DataType type) {
  switch (rule.kind) {
    case MaskRule::Kind::kHash:
    case MaskRule::Kind::kRedact: return DataType::kString;
    case MaskRule::Kind::kTruncate:
      return type == DataType::kString ? std::optional(type) : std::nullopt;
    case MaskRule::Kind::kGeneralize:
      return type == DataType::kTimestamp ? std::optional(type) : std::nullopt;
  }
  return std::nullopt;
}

ColumnPtr Mask(const Column& c, const MaskRule& rule, std::string_view key, const std::string& name) {
  if (!MaskedType(rule, c.type())) {
    throw ModelError("mask: column '" + name + "' is " + std::string(columnar::TypeName(c.type())) + ", " +
                     RuleName(rule) + " takes " + (rule.kind == MaskRule::Kind::kTruncate ? "a string" : "a timestamp"));
  }
  if (rule.kind == MaskRule::Kind::kHash && key.empty()) {
    throw ModelError("mask: hash of column '" + name + "' needs a key: add a line 'mask_key:SECRET' to the secrets "
                     "file (--secrets or PIPE_SECRETS)");
  }
  const int64_t n = c.length();
  if (rule.kind == MaskRule::Kind::kGeneralize) {
    columnar::Buffer out(static_cast<size_t>(n) * 8);
    for (int64_t r = 0; r < n; ++r) out.as<int64_t>()[r] = c.IsValid(r) ? Generalize(c.ints()[r], rule.month) : 0;
    return std::make_shared<Column>(c.type(), n, std::move(out), c.validity_buffer().Clone());
  }
  columnar::ColumnBuilder b(DataType::kString);
  b.Reserve(n);
  for (int64_t r = 0; r < n; ++r) {
    if (!c.IsValid(r)) {
      b.AppendNull();
      continue;
    }
    switch (rule.kind) {
      case MaskRule::Kind::kHash:
        b.AppendString(c.type() == DataType::kString ? HmacSha256Hex(key, c.StringAt(r))
                                                      : HmacSha256Hex(key, columnar::ValueText(c, r)));
        break;
      case MaskRule::Kind::kRedact: b.AppendString("REDACTED"); break;
      default: {
        std::string_view s = c.StringAt(r);
        b.AppendString(s.substr(0, Utf8Prefix(s, rule.truncate)));
      }
    }
  }
  return b.Finish();
}

nlohmann::json MaskJson(const MaskRule& rule) {
  switch (rule.kind) {
    case MaskRule::Kind::kTruncate: return {{"truncate", rule.truncate}};
    case MaskRule::Kind::kGeneralize: return {{"generalize", rule.month ? "month" : "day"}};
    default: return RuleName(rule);
  }
}

std::optional<MaskRule> MaskFromJson(const nlohmann::json& value, std::string* error) {
  MaskRule rule;
  if (value == "hash") return rule;
  if (value == "redact") {
    rule.kind = MaskRule::Kind::kRedact;
    return rule;
  }
  if (value.is_object() && value.size() == 1 && value.contains("truncate")) {
    const nlohmann::json& n = value["truncate"];
    if (n.is_number_integer() && n.get<int64_t>() >= 1 && n.get<int64_t>() <= 1'000'000) {
      rule.kind = MaskRule::Kind::kTruncate;
      rule.truncate = n.get<int>();
      return rule;
    }
    *error = "truncate takes a number of characters from 1 to 1000000";
    return std::nullopt;
  }
  if (value.is_object() && value.size() == 1 && value.contains("generalize")) {
    const nlohmann::json& u = value["generalize"];
    if (u == "day" || u == "month") {
      rule.kind = MaskRule::Kind::kGeneralize;
      rule.month = u == "month";
      return rule;
    }
    *error = "generalize takes day or month";
    return std::nullopt;
  }
  *error = "a mask is hash, redact, {truncate: N} or {generalize: day|month}";
  return std::nullopt;
}

}  // namespace pipeline::ml
