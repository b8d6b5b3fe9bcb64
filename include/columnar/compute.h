// Whole-column operations built on the kernels: selecting rows, gathering
// rows by index, concatenating batches, casting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "columnar/column.h"
#include "columnar/table.h"

namespace pipeline::columnar {

// The rows of `column` whose bit is set in `selection` (same layout as a
// validity bitmap, `column.length()` bits), in order.
ColumnPtr Filter(const Column& column, const uint64_t* selection);
// Applies Filter to every column of `batch`; `selected` = CountSet(selection).
Batch FilterBatch(const Batch& batch, const uint64_t* selection, int64_t selected);

// The rows `indices` (each < column.length()) of `column`, in that order.
ColumnPtr Take(const Column& column, const std::vector<int64_t>& indices);

// One column holding every batch's rows of column `index`, in order.
ColumnPtr ConcatColumn(const Table& table, int index);
// One column of `type` holding the rows of `parts` in order (the part itself
// when there is one). Throws FormatError naming `name` past 4 GiB of text.
ColumnPtr ConcatColumns(DataType type, const std::vector<ColumnPtr>& parts, const std::string& name);
// A copy of rows [offset, offset + length) of `column`.
ColumnPtr Slice(const Column& column, int64_t offset, int64_t length);
// The same table with a single batch (shares the columns when there is one).
TablePtr Concatenate(const Table& table);

// Converts a column to `type`. Numbers <-> numbers (float -> int rounds
// toward zero; out of range or non-finite values fail), anything -> string,
// string -> anything by parsing, bool <-> numbers as 0/1, timestamp <-> int64
// as microseconds. Rows that fail are reported through `failed_row` (the
// first one) and the function returns nullptr; nulls stay null.
ColumnPtr Cast(const Column& column, DataType type, int64_t* failed_row, std::string* failed_text);

// The text form of one value (what Cast to string produces); "" for null.
std::string ValueText(const Column& column, int64_t row);

// The column with its nulls replaced by `fill_value`'s first value (of the
// same type); nullptr when it has no nulls.
ColumnPtr FillNulls(const Column& column, const Column& fill_value);

// A bound as written: its double and, when it was written as an integer
// within int64, that integer exactly (9007199254740993 is no double: an int64
// column is compared with the integer, a float64 one with the double).
struct NumberBound {
  NumberBound(double v) : value(v) {}  // NOLINT: a double is a bound
  NumberBound(double v, std::optional<int64_t> i) : value(v), integer(i) {}
  double value;
  std::optional<int64_t> integer;
};
// The bound `value`, read from `text` (a YAML scalar, say): exact when the
// text is an integer within int64 ("9007199254740993"), else the double.
NumberBound NumberBoundOf(double value, std::string_view text);
// "null" when absent, else the integer or the double as written back.
std::string NumberBoundText(const std::optional<NumberBound>& bound);

// The int64 values within the bounds [min, max] (absent: unbounded), the
// bounds rounded inward (an integer bound is exact): {lo, hi}, or nullopt
// when no int64 lies within (a min above 2^63 - 1, a max below -2^63, min
// above max). Never casts a double outside int64's range (undefined behaviour).
std::optional<std::pair<int64_t, int64_t>> IntRange(const std::optional<NumberBound>& min,
                                                    const std::optional<NumberBound>& max);

// A number column (int64 or float64) with each value limited to [lo, hi]
// (absent: unbounded; for int64 the bounds rounded inward, IntRange); nulls
// stay null. Throws FormatError for another type, or for int64 when no int64
// lies within the bounds.
ColumnPtr Clip(const Column& column, const std::optional<NumberBound>& lo, const std::optional<NumberBound>& hi);

}  // namespace pipeline::columnar
