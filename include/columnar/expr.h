// Row expressions for `filter` (clean) and `derive` (transform):
//
//   expr    := or
//   or      := and ("or" and)*
//   and     := not ("and" not)*
//   not     := "not" not | compare
//   compare := sum (("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") sum
//                   | "is" ["not"] "null")?
//   sum     := product (("+" | "-") product)*
//   product := unary (("*" | "/") unary)*
//   unary   := "-" unary | primary
//   primary := NUMBER | 'string' | true | false | null | COLUMN | "quoted column"
//            | FUNC "(" expr ("," expr)* ")" | "(" expr ")"
//   FUNC    := log | log1p | exp | sqrt | abs | min | max
//
// Keywords are case-insensitive. Arithmetic is float64; null in, null out.
// Comparisons: numbers with numbers, strings with strings, bools with bools,
// timestamps with timestamps or with a string literal holding one; a
// comparison with null is null, and `filter` keeps only rows that are true
// (SQL's three-valued logic for and/or/not).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "columnar/column.h"
#include "columnar/table.h"

namespace pipeline::columnar {

class Expr {
 public:
  struct Node;

  // Parses `text`; throws FormatError("position N: ...") on a syntax error.
  static Expr Parse(const std::string& text);

  // Checks column names and types against `schema`; throws FormatError
  // naming the column (with the known columns) or the type clash.
  DataType Check(const Schema& schema) const;

  // Evaluates over one batch of a table with `schema`.
  ColumnPtr Evaluate(const Schema& schema, const Batch& batch) const;

  // Column names the expression reads.
  std::vector<std::string> Columns() const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace pipeline::columnar
