// libFuzzer target for the CSV reader: any bytes, read with quarantine and
// small chunks (so chunk boundaries fall everywhere), then without. The
// reader must return or throw FormatError; rows in = rows out + quarantined.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "columnar/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pipeline::columnar;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CsvOptions options;
  options.quarantine_bad_rows = true;
  options.chunk_bytes = 64 + (size % 200);
  options.threads = 2;
  options.max_row_bytes = 4096;
  try {
    CsvReadResult r = ReadCsvText(text, "fuzz.csv", options);
    if (r.rows_read != r.table->num_rows() + r.quarantine->num_rows()) std::abort();
  } catch (const FormatError&) {
  }
  options.quarantine_bad_rows = false;
  options.chunk_bytes = 1 << 20;
  options.types = {{"a", DataType::kInt64}};
  try {
    ReadCsvText(text, "fuzz.csv", options);
  } catch (const FormatError&) {
  }
  return 0;
}
