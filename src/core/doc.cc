#include "core/doc.h"

#include <fast_float/fast_float.h>

#include <charconv>
#include <cmath>

namespace pipeline {

const std::string& DocNode::NoText() {
  static const std::string none;
  return none;
}

const std::vector<DocNode::Ptr>& DocNode::NoItems() {
  static const std::vector<Ptr> none;
  return none;
}

const std::vector<DocNode::Entry>& DocNode::NoEntries() {
  static const std::vector<Entry> none;
  return none;
}

DocNode::Ptr DocNode::Scalar(std::string text, bool quoted, Mark mark) {
  auto node = std::make_shared<DocNode>(Kind::kScalar, mark);
  node->set_scalar(std::move(text), quoted);
  return node;
}

DocNode::Ptr DocNode::Null(Mark mark) { return std::make_shared<DocNode>(Kind::kNull, mark); }

std::optional<int64_t> DocNode::AsInt() const {
  std::string_view s = text();
  if (kind_ != Kind::kScalar || quoted_ || s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> DocNode::AsDouble() const {
  std::string_view s = text();
  if (kind_ != Kind::kScalar || quoted_ || s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double value = 0;
  auto [end, ec] = fast_float::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  // "nan", "inf" and 1e999 are no numbers a DAG means: each argument and
  // parameter would take them silently (a check bound that is NaN passes
  // every row).
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<bool> DocNode::AsBool() const {
  if (kind_ != Kind::kScalar || quoted_) return std::nullopt;
  const std::string& s = text();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

const DocNode* DocNode::Find(std::string_view key) const {
  for (const auto& [k, v] : entries()) {
    if (k->is_scalar() && k->text() == key) return v.get();
  }
  return nullptr;
}

std::string DocNode::TypeName() const {
  switch (kind_) {
    case Kind::kNull: return "null";
    case Kind::kSequence: return "a list";
    case Kind::kMap: return "a map";
    case Kind::kScalar: break;
  }
  if (AsInt()) return "an integer";
  if (AsDouble()) return "a number";
  if (AsBool()) return "a boolean";
  return "a string";
}

}  // namespace pipeline
