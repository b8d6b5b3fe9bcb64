// CSV reading per RFC 4180: quoted fields may hold delimiters, doubled quotes
// and newlines. The text is split into chunks parsed in parallel; a SIMD scan
// finds the structure (quotes, delimiters, newlines) 64 bytes at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "columnar/spill.h"
#include "columnar/table.h"
#include "columnar/types.h"

namespace pipeline::columnar {

struct CsvOptions {
  char delimiter = ',';
  char quote = '"';
  // A quote opens a quoted field only at the field's start; elsewhere it is
  // a literal character (`37°36'37.8"N`), as DuckDB, pandas and Python's csv
  // read it. With true, such a quote makes the row bad ("quote inside an
  // unquoted field"). An unterminated quoted field is bad either way.
  bool strict_quotes = false;
  // The first line names the columns; otherwise they are named column0, column1, ...
  bool header = true;
  // Unquoted field texts read as null. A quoted field is never null.
  std::vector<std::string> null_values = {"", "NA", "null"};
  // Declared types by column name; the other columns' types are inferred
  // (int64 > float64 > bool > timestamp > string). A declared column missing
  // from a file is an error.
  std::map<std::string, DataType> types;
  // With true, bad rows go to the quarantine table; otherwise the first one
  // (in file order) fails the read with a FormatError.
  bool quarantine_bad_rows = false;
  int threads = 0;                    // 0: one per core
  int64_t chunk_bytes = 8 << 20;      // the unit of parallel work
  int64_t max_row_bytes = 1ll << 30;  // a longer row is a bad row
  // When set, each chunk's columns move to this file as soon as the chunk is
  // parsed, so a file larger than memory can be read.
  std::shared_ptr<SpillFile> spill;
};

struct CsvReadResult {
  TablePtr table;
  // The bad rows: the table's column names, all as strings holding the raw
  // field texts (null where the row had fewer fields), then
  // _source_file, _source_line (1-based line where the row starts), _reason.
  TablePtr quarantine;
  int64_t rows_read = 0;  // data rows seen = table rows + quarantined rows
};

// Reads `paths` as one table: every file must have the same columns (by name,
// in order). Throws FormatError naming the file and line for a bad file or
// (without quarantine) the first bad row; std::system_error for I/O failures.
CsvReadResult ReadCsvFiles(const std::vector<std::string>& paths, const CsvOptions& options = {});

// Reads CSV text held in memory (`name` is used in messages). `text` needs no
// padding.
CsvReadResult ReadCsvText(std::string_view text, const std::string& name, const CsvOptions& options = {});

}  // namespace pipeline::columnar
