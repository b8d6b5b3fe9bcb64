// Rows of a table as JSON: a persisted artifact's preview (the API's
// .../artifacts/{name}/rows, the web UI) and the values of online features.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "columnar/column.h"
#include "store/state_store.h"

namespace pipeline::views {

// The value in `row` of `column` as JSON: a number, a bool, text (strings;
// timestamps as columnar::ValueText writes them, "2026-01-02 03:04:05" UTC,
// which the predict endpoint reads back), or null (also for a non-finite float).
nlohmann::json CellJson(const columnar::Column& column, int64_t row);

// {"task_id", "name", "total_rows", "offset", "limit", "columns": [{name, type}], "rows": [[...]]}
// with rows [offset, offset + limit) of a Parquet artifact (only the row
// groups holding them are read). Throws Error(kInvalidArgument) for an
// artifact that is not a table (a JSON report), Error(kCorruption) when its
// file cannot be read as Parquet, Error(kNotFound) when it is gone.
// With `hide_pii`, a value of a column the artifact records as personal
// data ("pii" in its schema) is "(personal data)" (a null stays null).
nlohmann::json ArtifactRowsJson(const ArtifactRecord& artifact, int64_t offset, int64_t limit, bool hide_pii = false);

// {"task_id", "name", "content_hash", "content": ...} of a JSON artifact (a
// validation or drift report, a fitted transform, a deployment). Throws
// Error(kInvalidArgument) for a table (read its rows) or a file larger than
// `max_bytes`, Error(kCorruption) when the file is not JSON, Error(kNotFound)
// when it is gone.
nlohmann::json ArtifactDocumentJson(const ArtifactRecord& artifact, uintmax_t max_bytes);

}  // namespace pipeline::views
