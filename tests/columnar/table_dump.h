// A table as text, for comparing tables in tests.
#pragma once

#include <string>

#include "columnar/compute.h"
#include "columnar/table.h"

namespace pipeline::columnar {

// Every row as an "a|b|c" line, nulls as NULL.
inline std::string DumpRows(const Table& t) {
  std::string out;
  TablePtr flat = Concatenate(t);
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    for (int c = 0; c < t.num_columns(); ++c) {
      const Column& col = *flat->batch(0).columns[c];
      out += (c ? "|" : "") + (col.IsNull(r) ? std::string("NULL") : ValueText(col, r));
    }
    out += "\n";
  }
  return out;
}

}  // namespace pipeline::columnar
