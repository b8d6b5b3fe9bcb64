// Decodes one Parquet column chunk (its pages) into one of our columns.
// Private to the columnar module; parquet_reader.cc plans the columns and
// runs one ChunkDecoder per chunk, on several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "columnar/buffer.h"
#include "columnar/column.h"
#include "columnar/parquet_format.h"

namespace pipeline::columnar::parquet {

// How a file's physical values become ours.
enum class Conversion : uint8_t {
  kNone,            // same representation (INT64, DOUBLE, BOOLEAN, BYTE_ARRAY)
  kInt32,           // INT32 sign-extended
  kUint32,          // INT32 holding an unsigned value, zero-extended
  kUint64,          // INT64 holding an unsigned value: must fit int64
  kFloat,           // FLOAT widened
  kMillis,          // INT64 milliseconds -> microseconds
  kNanos,           // INT64 nanoseconds -> microseconds (floor)
  kDate,            // INT32 days -> microseconds at midnight
  kInt96,           // INT96 (nanos of day, Julian day) -> microseconds
};

struct ColumnPlan {
  std::string name;
  PhysicalType physical = PhysicalType::kInt64;
  bool optional = true;  // has definition levels
  DataType type = DataType::kInt64;
  Conversion conversion = Conversion::kNone;
  Codec codec = Codec::kUncompressed;
};

// Working memory a decoder reuses from one chunk to the next (one per
// thread), so that only the output columns take fresh pages.
struct DecodeScratch {
  Buffer chunk;  // the chunk's bytes, when read from a file
  Buffer page;   // a decompressed page
  Buffer values;
  Buffer dictionary;
  Buffer dictionary_chars;
  std::vector<uint32_t> indices;
  std::vector<uint64_t> deltas;
};

// Decodes pages [data, data + size) of a chunk holding `rows` rows. Throws
// FormatError (message without the file or column name) on anything corrupt
// or unsupported. `data` must stay alive during the call only.
ColumnPtr DecodeColumnChunk(const ColumnPlan& plan, const uint8_t* data, size_t size, int64_t rows,
                            DecodeScratch* scratch);

}  // namespace pipeline::columnar::parquet
