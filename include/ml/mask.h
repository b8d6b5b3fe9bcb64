// Masks for personal data (the `mask` step of clean and transform): each
// replaces a column's values by ones that no longer identify a person, or
// identify them only to whoever holds the key. Row-local and deterministic,
// so a masked column still joins with another masked with the same key, and
// serving replays the step on request rows (TransformChain). Knows nothing
// of DAGs or where the key comes from.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "columnar/column.h"

namespace pipeline::ml {

struct MaskRule {
  enum class Kind { kHash, kRedact, kTruncate, kGeneralize };
  Kind kind = Kind::kHash;
  int truncate = 0;     // kTruncate: the characters (UTF-8 code points) kept
  bool month = false;   // kGeneralize: to the first of the month, else to the day
};

// The masked column:
//   hash        lowercase hex HMAC-SHA256 under `key` of each value's text
//               (ValueText: the number, "true"/"false", the ISO timestamp);
//               a string column
//   redact      "REDACTED" for every value; a string column
//   truncate N  a string column's first N characters
//   generalize  a timestamp column's values floored to the day or month (UTC)
// Nulls stay null. Throws ModelError "mask: column 'NAME' is TYPE, ..."
// when the column's type does not fit, or when a hash has no key.
columnar::ColumnPtr Mask(const columnar::Column& column, const MaskRule& rule, std::string_view key,
                         const std::string& name);

// The type a rule gives a column of `type` (nullopt: the rule cannot take it).
std::optional<columnar::DataType> MaskedType(const MaskRule& rule, columnar::DataType type);

// The rule as written in a DAG and recorded in a transform chain: "hash",
// "redact", {"truncate": N} or {"generalize": "day"|"month"}.
nlohmann::json MaskJson(const MaskRule& rule);
// The inverse; nullopt with `error` set when `value` is no rule.
std::optional<MaskRule> MaskFromJson(const nlohmann::json& value, std::string* error);

// HMAC-SHA256 of `text` under `key`, as 64 lowercase hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view text);

}  // namespace pipeline::ml
