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

#include "columnar/types.h"
#include "core/diagnostic.h"
#include "core/doc.h"

namespace pipeline::ops {

class ArgReader {
 public:
  // `context` prefixes messages, e.g. "task 'clean': clean".
  ArgReader(const DocNode& node, std::string context, Diagnostics& diags, Mark fallback);

  // Marks `key` as known and returns its node (nullptr when absent).
  const DocNode* Get(std::string_view key);
  std::optional<std::string> String(std::string_view key, bool required = false);
  std::optional<bool> Bool(std::string_view key);
  std::optional<double> Number(std::string_view key);
  // A number in [0, 1].
  std::optional<double> Fraction(std::string_view key);
  // A list of strings; a single string is accepted as a list of one.
  std::optional<std::vector<std::string>> StringList(std::string_view key);
  // One of `choices`.
  std::optional<std::string> Choice(std::string_view key, const std::vector<std::string>& choices);

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

// Text of a scalar that holds a template placeholder (load time).
bool HasPlaceholder(const DocNode& node);
// "int64" etc. -> type, with an error naming the argument.
std::optional<columnar::DataType> ParseType(const DocNode& node, const std::string& what, ArgReader& r);
// Scalar node as a string; error when not a scalar.
std::optional<std::string> ScalarText(const DocNode& node, const std::string& what, ArgReader& r);

}  // namespace pipeline::ops
