// DocNode: a YAML document as a tree that remembers where each node came from.
// Scalars stay text; consumers interpret them (AsInt, AsBool, ...) so that a
// quoted "123" can be told from a plain 123. Produced by dag/yaml_reader.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/diagnostic.h"

namespace pipeline {

class DocNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };
  using Ptr = std::shared_ptr<const DocNode>;
  using Entry = std::pair<Ptr, Ptr>;  // key, value

  DocNode() = default;
  DocNode(Kind kind, Mark mark) : kind_(kind), mark_(mark) {
    if (kind == Kind::kSequence) value_.emplace<std::vector<Ptr>>();
    if (kind == Kind::kMap) value_.emplace<std::vector<Entry>>();
  }

  static Ptr Scalar(std::string text, bool quoted, Mark mark = {});
  static Ptr Null(Mark mark = {});

  Kind kind() const { return kind_; }
  Mark mark() const { return mark_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_scalar() const { return kind_ == Kind::kScalar; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_map() const { return kind_ == Kind::kMap; }

  // Scalars ("" for the other kinds).
  const std::string& text() const {
    auto* text = std::get_if<std::string>(&value_);
    return text ? *text : NoText();
  }
  bool quoted() const { return quoted_; }
  // Plain scalars only (a quoted "1" is a string): YAML 1.2 core schema forms.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;  // ints too; finite only (not nan, inf, 1e999)
  std::optional<bool> AsBool() const;

  // Sequences (none for the other kinds).
  const std::vector<Ptr>& items() const {
    auto* items = std::get_if<std::vector<Ptr>>(&value_);
    return items ? *items : NoItems();
  }
  // Maps, in file order; keys may repeat (the loader reports that).
  const std::vector<Entry>& entries() const {
    auto* entries = std::get_if<std::vector<Entry>>(&value_);
    return entries ? *entries : NoEntries();
  }
  // The first value under a scalar key, or nullptr.
  const DocNode* Find(std::string_view key) const;

  // A short name of the node's type for messages: "a string", "a list", ...
  std::string TypeName() const;

  // Builders, used by the reader.
  void set_scalar(std::string text, bool quoted) {
    value_ = std::move(text);
    quoted_ = quoted;
  }
  void add_item(Ptr item) { Holding<std::vector<Ptr>>().push_back(std::move(item)); }
  void add_entry(Ptr key, Ptr value) { Holding<std::vector<Entry>>().emplace_back(std::move(key), std::move(value)); }
  void set_items(std::vector<Ptr> items) { value_ = std::move(items); }
  void set_entries(std::vector<Entry> entries) { value_ = std::move(entries); }

 private:
  template <class T>
  T& Holding() {
    if (!std::holds_alternative<T>(value_)) value_.emplace<T>();
    return std::get<T>(value_);
  }

  // What a node of another kind answers (function statics: safe from any
  // static initializer).
  static const std::string& NoText();
  static const std::vector<Ptr>& NoItems();
  static const std::vector<Entry>& NoEntries();

  // A document has a node per scalar: the text, the items or the entries,
  // one at a time, keep a node at 56 bytes (104 with all three).
  Kind kind_ = Kind::kNull;
  Mark mark_;
  bool quoted_ = false;
  std::variant<std::string, std::vector<Ptr>, std::vector<Entry>> value_;
};

}  // namespace pipeline
