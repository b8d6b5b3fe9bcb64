// Text -> typed values, shared by the CSV and JSONL readers and by `cast`.
// Each parser accepts the whole text or nothing (no leading/trailing spaces).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "columnar/types.h"

namespace pipeline::columnar {

// Decimal integer with optional sign; nullopt on overflow or any other char.
bool ParseInt64(std::string_view text, int64_t* out);
// Decimal or scientific notation, "inf"/"nan" (any case, optional sign).
bool ParseFloat64(std::string_view text, double* out);
// true/false, any case.
bool ParseBool(std::string_view text, bool* out);
// ISO-8601: "YYYY-MM-DD", optionally followed by "T" or " " and
// "HH:MM[:SS[.f{1,9}]]" and an optional "Z" or "+HH:MM"/"-HH:MM" offset (no
// offset = UTC). Microseconds since the epoch; sub-µs digits are truncated.
bool ParseTimestamp(std::string_view text, int64_t* out);

// "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC, as DuckDB prints timestamps.
std::string FormatTimestamp(int64_t micros);

// The most specific type `text` parses as, in the order int64, float64,
// bool, timestamp, string.
DataType InferType(std::string_view text);
// The narrowest type that holds values of both: int64 + float64 -> float64,
// equal types -> that type, anything else -> string.
DataType WidenType(DataType a, DataType b);

}  // namespace pipeline::columnar
