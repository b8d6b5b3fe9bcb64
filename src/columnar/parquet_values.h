// Value conversions of the Parquet reader: file representations to ours,
// and the UTF-8 check strings must pass before they enter a column.
#pragma once

#include <cstddef>
#include <cstdint>

#include "columnar/parquet_column_reader.h"

namespace pipeline::columnar::parquet {

// Converts n PLAIN-layout physical values at raw (4, 8 or 12 bytes each by
// `conversion`) to 8-byte int64/double values at out (raw and out may not
// overlap; neither need be aligned). Throws FormatError for a value ours
// cannot hold (an unsigned 64-bit value past INT64_MAX, a timestamp out of
// range).
void ConvertFixed(Conversion conversion, const uint8_t* raw, int64_t n, uint8_t* out);

// Whether every string chars[ends[idx], ends[idx + 1]) for idx < k is
// valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool ValidUtf8Strings(const uint8_t* chars, const uint32_t* ends, int64_t k);

}  // namespace pipeline::columnar::parquet
