// Parquet files for flat tables: our own reader and writer (no Arrow).
//
// Type mapping (writer -> file):
//   int64     -> INT64
//   float64   -> DOUBLE
//   bool      -> BOOLEAN (bit-packed PLAIN)
//   string    -> BYTE_ARRAY, logical type STRING (converted type UTF8)
//   timestamp -> INT64, TIMESTAMP(isAdjustedToUTC=true, MICROS) (TIMESTAMP_MICROS)
// Every column is OPTIONAL. Values are dictionary encoded (RLE_DICTIONARY)
// while the chunk's dictionary stays under 1 MiB, PLAIN otherwise; data pages
// are version 1; each column chunk carries null_count, min_value, max_value.
//
// The reader takes flat schemas (every column a top-level leaf, REQUIRED or
// OPTIONAL) and maps: INT64 -> int64 (timestamp when annotated, MILLIS and
// NANOS scaled to micros), INT32 and small/unsigned ints -> int64, DATE ->
// timestamp at midnight UTC, INT96 -> timestamp, FLOAT/DOUBLE -> float64,
// BOOLEAN -> bool, BYTE_ARRAY (STRING, ENUM, JSON or none; must be UTF-8) ->
// string. Encodings: PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE (booleans),
// DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY,
// BYTE_STREAM_SPLIT; data pages v1 and v2; codecs UNCOMPRESSED, SNAPPY, ZSTD.
// Anything else (nested or repeated columns, DECIMAL, TIME, FIXED_LEN_BYTE_ARRAY,
// GZIP/LZ4/BROTLI, encryption, columns in other files) is a FormatError
// naming the column and the feature, raised only when that column is read
// (a projection may leave it out); nested schemas fail as a whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "columnar/spill.h"
#include "columnar/table.h"

namespace pipeline::columnar {

struct ParquetWriteOptions {
  enum class Compression { kSnappy, kZstd, kNone };
  Compression compression = Compression::kSnappy;
  // ZSTD level (1..22); ignored by the other codecs.
  int zstd_level = 3;
  // Rows per row group (> 0). A row group may span several batches.
  int64_t row_group_rows = int64_t{1} << 20;
  // Threads encoding column chunks; 0 = hardware concurrency.
  int threads = 0;
  // Try dictionary encoding (falls back to PLAIN per chunk when large).
  bool dictionary = true;
  // fsync the file before the rename, for durability across power loss.
  bool sync = false;
};

struct ParquetReadOptions {
  // Columns to read, in this order; empty reads all in file order.
  std::vector<std::string> columns;
  // Threads decoding column chunks; 0 = hardware concurrency.
  int threads = 0;
  // When set, each decoded column chunk moves to this file at once, so a file
  // larger than memory can be read.
  std::shared_ptr<SpillFile> spill;
  // Only rows [row_offset, row_offset + row_limit) (row_limit < 0: to the
  // end): row groups outside them are not decoded (a preview of a big file
  // reads one row group). The table holds exactly those rows.
  int64_t row_offset = 0;
  int64_t row_limit = -1;
};

// Writes `table` to `path` atomically: the bytes go to a temporary file in
// the same folder, renamed over `path` once complete, so a reader never sees
// half a file. On any error the temporary file is removed, `path` is left as
// it was, and columnar::FormatError is thrown naming the path and the cause
// (an I/O error, a table without columns). Returns the file size in bytes.
// The table must not change while it is written; reentrant.
int64_t WriteParquetFile(const Table& table, const std::string& path, const ParquetWriteOptions& options = {});

// The same file as bytes in memory (tests, fuzz seeds).
std::vector<uint8_t> WriteParquetBuffer(const Table& table, const ParquetWriteOptions& options = {});

// Reads a whole Parquet file: one batch per row group (empty row groups
// skipped), key/value metadata in Table::metadata(). Throws columnar::FormatError naming the file and what
// is wrong ("x.parquet: not a Parquet file (bad magic)", "x.parquet: column
// 'a': unsupported encoding BIT_PACKED", "x.parquet: column 'a': truncated
// page", "x.parquet: no column 'b'"). Corrupt input never reads out of
// bounds; allocations are checked against the file size first. Reentrant.
TablePtr ReadParquetFile(const std::string& path, const ParquetReadOptions& options = {});

// The same from memory; `name` stands for the file in error messages. The
// bytes must stay alive during the call only.
TablePtr ReadParquetBuffer(const uint8_t* data, size_t size, const std::string& name,
                           const ParquetReadOptions& options = {});

}  // namespace pipeline::columnar
