// DocNode: a YAML document as a tree that remembers where each node came from.
// Scalars stay text; consumers interpret them (AsInt, AsBool, ...) so that a
// quoted "123" can be told from a plain 123. Produced by dag/yaml_reader.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/diagnostic.h"

namespace pipeline {

class DocNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };
  using Ptr = std::shared_ptr<const DocNode>;
  using Entry = std::pair<Ptr, Ptr>;  // key, value

  DocNode() = default;
  DocNode(Kind kind, Mark mark) : kind_(kind), mark_(mark) {}

  static Ptr Scalar(std::string text, bool quoted, Mark mark = {});
  static Ptr Null(Mark mark = {});

  Kind kind() const { return kind_; }
  Mark mark() const { return mark_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_map() const { return kind_ == Kind::kMap; }

  // Scalars.
  const std::string& text() const { return text_; }
  bool quoted() const { return quoted_; }
  // Plain scalars only (a quoted "1" is a string): YAML 1.2 core schema forms.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;  // ints too
  std::optional<bool> AsBool() const;

  // Sequences.
  const std::vector<Ptr>& items() const { return items_; }
  // Maps, in file order; keys may repeat (the loader reports that).
  const std::vector<Entry>& entries() const { return entries_; }
  // The first value under a scalar key, or nullptr.
  const DocNode* Find(std::string_view key) const;

  // A short name of the node's type for messages: "a string", "a list", ...
  std::string TypeName() const;

  // Builders, used by the reader.
  void set_scalar(std::string text, bool quoted) { text_ = std::move(text); quoted_ = quoted; }
  void add_item(Ptr item) { items_.push_back(std::move(item)); }
  void add_entry(Ptr key, Ptr value) { entries_.emplace_back(std::move(key), std::move(value)); }
  void set_items(std::vector<Ptr> items) { items_ = std::move(items); }
  void set_entries(std::vector<Entry> entries) { entries_ = std::move(entries); }

 private:
  Kind kind_ = Kind::kNull;
  Mark mark_;
  std::string text_;
  bool quoted_ = false;
  std::vector<Ptr> items_;
  std::vector<Entry> entries_;
};

}  // namespace pipeline
