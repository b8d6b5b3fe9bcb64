// Reading an operator's `with:` map into typed values. The same code runs at
// load time (CheckArgs: templates not rendered yet, so values that hold a
// placeholder are not interpreted) and when the task runs (rendered values).
// Every problem is reported with the argument's name and the node's place.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "columnar/compute.h"
#include "columnar/types.h"
#include "core/diagnostic.h"
#include "core/doc.h"
#include "core/operator.h"

namespace pipeline::ops {

// Where an error about a nested map (a check, a step) with no node of its
// own goes: the map itself, else `fallback` (the task).
inline Mark Within(const DocNode& node, Mark fallback) { return node.mark().line > 0 ? node.mark() : fallback; }

class ArgReader {
 public:
  // `context` prefixes messages, e.g. "task 'clean': clean".
  ArgReader(const DocNode& node, std::string context, Diagnostics& diags, Mark fallback);

  // Marks `key` as known and returns its node (nullptr when absent).
  const DocNode* Get(std::string_view key);
  std::optional<std::string> String(std::string_view key, bool required = false);
  std::optional<bool> Bool(std::string_view key);
  std::optional<double> Number(std::string_view key);
  // A whole number in [min, max] (written as an integer, or as a number with
  // no fraction such as 1e3); else "'KEY' must be a whole number from MIN to
  // MAX, found '...'" and nullopt.
  std::optional<int64_t> Integer(std::string_view key, int64_t min, int64_t max);
  // A number in [0, 1].
  std::optional<double> Fraction(std::string_view key);
  // A list of strings; a single string is accepted as a list of one.
  std::optional<std::vector<std::string>> StringList(std::string_view key);
  // One of `choices`.
  std::optional<std::string> Choice(std::string_view key, const std::vector<std::string>& choices);
  // A duration ("500ms", "1h30m"); with `positive`, greater than 0.
  std::optional<Duration> DurationArg(std::string_view key, bool positive);

  // Reports every key not asked for, with a suggestion from `known`.
  void RejectUnknown(const std::vector<std::string>& known);

  void Error(const DocNode* at, const std::string& message);
  bool ok() const { return diags_.size() == errors_before_; }
  const std::string& context() const { return context_; }
  Diagnostics& diags() { return diags_; }
  Mark fallback() const { return fallback_; }

 private:
  const DocNode& node_;
  std::string context_;
  Diagnostics& diags_;
  Mark fallback_;
  size_t errors_before_;
};

// Walks `with: {input, steps: [{KIND: VALUE}, ...]}` (clean, transform):
// reports a missing or malformed list, calls parse(kind, value, reader) for
// each step whose kind is in `kinds` (reader's context "CONTEXT: KIND") and
// reports the others with a suggestion. False when anything was reported.
bool ParseSteps(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark,
                const std::vector<std::string>& kinds,
                const std::function<void(const std::string& kind, const DocNode& value, ArgReader& reader)>& parse);

// `with.KEY` (a model: a train task's id, NAME, NAME@ALIAS or NAME:VERSION)
// unless it holds a placeholder: reports text that is none of the forms.
void CheckModelRefSyntax(ArgReader& r, std::string_view key);
// Text of a scalar that holds a template placeholder (load time).
bool HasPlaceholder(const DocNode& node);
// `with.KEY` as a reference to another task (Operator::TaskReferences),
// when it is a scalar without a placeholder; else nothing.
std::vector<Operator::TaskReference> TaskReferenceIn(const TaskSpec& task, std::string_view key,
                                                     std::string_view otherwise = "", std::string_view op = "");
// "int64" etc. -> type, with an error naming the argument.
std::optional<columnar::DataType> ParseType(const DocNode& node, const std::string& what, ArgReader& r);
// Scalar node as a string; error when not a scalar.
std::optional<std::string> ScalarText(const DocNode& node, const std::string& what, ArgReader& r);

// Checks an operator's column references at load time against what is known
// of its input table's columns (Operator::CheckColumns), step by step: the
// steps update `columns()` as they add, drop, rename and cast columns. A
// column that is not known is an error only when the columns are exact; a
// known type that does not fit is an error always. Messages are those the
// task would fail with when it runs, with the argument's place.
class ColumnChecker {
 public:
  // `context` as for ArgReader ("task 'clean': clean").
  // `in` names the table in messages ("the input"; transform says "the table").
  ColumnChecker(const KnownColumns* input, std::string context, Diagnostics& diags, Mark fallback,
                std::string in = "the input");

  // Whether anything is known (else every check passes and Result() is nullopt).
  bool active() const { return columns_.has_value(); }
  // Whether the columns are exactly known.
  bool exact() const { return columns_ && columns_->exact; }
  // The known type of `name` ("" if unknown); nullopt when the column is not
  // known (reported when the columns are exact). `where` names the step.
  std::optional<std::string> Need(const DocNode* at, const std::string& where, const std::string& name);
  // Need(), then: when the type is known and not in `types`, reports
  // "WHERE: column 'NAME' is TYPE, not WHAT". False when the column was
  // reported missing.
  bool NeedType(const DocNode* at, const std::string& where, const std::string& name,
                const std::vector<std::string>& types, const std::string& what);

  // Updates to the known columns (no-ops when nothing is known).
  void Set(const std::string& name, const std::string& type);  // adds or retypes
  void Remove(const std::string& name);
  void Rename(const std::string& from, const std::string& to);
  // Columns of unknown names were added (one_hot): the set is no longer exact.
  void AddUnknown();
  // The table now has exactly `names` (select), with the types known of them.
  void Select(const std::vector<std::string>& names);

  // Personal data (KnownColumns::pii). A column made from others (Derive)
  // is marked when one of them is; a mask step clears the mark (Unmark).
  void MarkPii(const std::string& name, const std::string& origin);
  void Derive(const std::string& target, const std::vector<std::string>& sources);
  void Unmark(const std::string& name);
  bool IsPii(const std::string& name) const { return columns_ && columns_->pii.count(name); }
  // Columns of names not known were made from `source` (one_hot): when it
  // is marked, they carry personal data too.
  void AddUnknownFrom(const std::string& source, const std::string& what);
  // A task that must not receive personal data (export, train, online
  // features): reports each marked column among `names` (every column of
  // the table when nullopt), at `at`, unless the task sets allow_pii.
  void RefusePii(const TaskSpec& task, const std::optional<std::vector<std::string>>& names, const DocNode* at);
  // Reports the columns of names not known that carry personal data (KnownColumns::pii_unnamed).
  void RefuseUnnamedPii(const TaskSpec& task, const DocNode* at);

  // The known type of a known column, else nullptr (no report).
  const std::string* TypeOf(const std::string& name) const { return columns_ ? columns_->TypeOf(name) : nullptr; }
  std::optional<KnownColumns> Result() const { return columns_; }
  // The whole schema when the columns are exact and every type is known.
  std::optional<columnar::Schema> ExactSchema() const;

 private:
  std::optional<KnownColumns> columns_;
  std::string context_;
  Diagnostics& diags_;
  Mark fallback_;
  std::string in_;
};

inline const std::vector<std::string> kNumericTypes = {"int64", "float64"};

// A database URL argument (ingest's `source`, export's `target`):
// postgresql://... or sqlite:PATH, holding no password (a DAG file must not).
// nullopt, with the error reported, when it is missing or wrong.
std::optional<std::string> DatabaseUrl(ArgReader& r, std::string_view key);

using columnar::IntRange;  // validate's min/max on int64 columns

// "1 column", "2 columns": for task summaries.
inline std::string Counted(size_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

}  // namespace pipeline::ops
