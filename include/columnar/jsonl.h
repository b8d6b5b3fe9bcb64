// JSON Lines reading (one JSON object per line) with simdjson.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "columnar/csv.h"
#include "columnar/table.h"

namespace pipeline::columnar {

struct JsonlOptions {
  // Declared types by key; other keys' types are inferred from the values
  // (integers -> int64, other numbers -> float64, booleans -> bool, strings
  // -> timestamp when every one parses as ISO-8601, else string). Columns are
  // the keys in order of first appearance; a missing key is null.
  std::map<std::string, DataType> types;
  bool quarantine_bad_rows = false;
};

// Same result shape as the CSV reader (CsvReadResult). Bad rows: invalid
// JSON, a line that is not an object, a nested value, a value that does not
// fit the column's type. Quarantined rows keep the raw line in a `_line_text`
// column.
CsvReadResult ReadJsonlFiles(const std::vector<std::string>& paths, const JsonlOptions& options = {});
CsvReadResult ReadJsonlText(std::string_view text, const std::string& name, const JsonlOptions& options = {});

}  // namespace pipeline::columnar
