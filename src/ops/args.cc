#include "ops/args.h"

#include <cmath>

#include <algorithm>

#include "core/model_ref.h"
#include "dag/suggest.h"
#include "sources/database.h"

namespace pipeline::ops {

ArgReader::ArgReader(const DocNode& node, std::string context, Diagnostics& diags, Mark fallback)
    : node_(node), context_(std::move(context)), diags_(diags), fallback_(fallback),
      errors_before_(diags.size()) {
  if (!node_.is_map() && !node_.is_null()) Error(&node_, "expected a map, found " + node_.TypeName());
}

void ArgReader::Error(const DocNode* at, const std::string& message) {
  Mark mark = at && (at->mark().line > 0) ? at->mark() : fallback_;
  diags_.Add(mark, context_ + ": " + message);
}

const DocNode* ArgReader::Get(std::string_view key) {
  return node_.is_map() ? node_.Find(key) : nullptr;
}

std::optional<std::string> ScalarText(const DocNode& node, const std::string& what, ArgReader& r) {
  if (!node.is_scalar()) {
    r.Error(&node, what + " must be a string, found " + node.TypeName());
    return std::nullopt;
  }
  return node.text();
}

void CheckModelRefSyntax(ArgReader& r, std::string_view key) {
  const DocNode* n = r.Get(key);
  if (!n || !n->is_scalar() || HasPlaceholder(*n)) return;
  if (std::string error; !ParseModelRef(n->text(), &error)) {
    r.Error(n, "'" + std::string(key) + "' must be a train task's id or a registered model (NAME, NAME@ALIAS, NAME:VERSION): " + error);
  }
}

bool HasPlaceholder(const DocNode& node) {
  return node.is_scalar() && node.text().find("{{") != std::string::npos;
}

std::vector<Operator::TaskReference> TaskReferenceIn(const TaskSpec& task, std::string_view key,
                                                     std::string_view otherwise, std::string_view op) {
  const DocNode* node = task.with ? task.with->Find(key) : nullptr;
  if (!node || !node->is_scalar() || HasPlaceholder(*node) || node->text().empty()) return {};
  return {{std::string(key), node->text(), node->mark(), otherwise, op, {}}};
}

std::optional<std::string> ArgReader::String(std::string_view key, bool required) {
  const DocNode* n = Get(key);
  if (!n || n->is_null()) {
    if (required) Error(nullptr, "missing required argument '" + std::string(key) + "'");
    return std::nullopt;
  }
  return ScalarText(*n, "'" + std::string(key) + "'", *this);
}

std::optional<bool> ArgReader::Bool(std::string_view key) {
  const DocNode* n = Get(key);
  if (!n || HasPlaceholder(*n)) return std::nullopt;
  auto v = n->AsBool();
  if (!v) Error(n, "'" + std::string(key) + "' must be true or false");
  return v;
}

std::optional<double> ArgReader::Number(std::string_view key) {
  const DocNode* n = Get(key);
  if (!n || HasPlaceholder(*n)) return std::nullopt;
  auto v = n->AsDouble();
  if (!v) Error(n, "'" + std::string(key) + "' must be a number, found '" + (n->is_scalar() ? n->text() : n->TypeName()) + "'");
  return v;
}

std::optional<int64_t> ArgReader::Integer(std::string_view key, int64_t min, int64_t max) {
  const DocNode* n = Get(key);
  if (!n || HasPlaceholder(*n)) return std::nullopt;
  std::optional<int64_t> v = n->AsInt();
  if (!v) {
    // 1e3 and 64.0 are whole numbers too; 2^63 and beyond are not int64s.
    std::optional<double> d = n->AsDouble();
    if (d && std::isfinite(*d) && *d == std::floor(*d) && std::fabs(*d) < 9.2e18) v = static_cast<int64_t>(*d);
  }
  if (!v || *v < min || *v > max) {
    Error(n, "'" + std::string(key) + "' must be a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max) + ", found " +
                 (n->is_scalar() ? "'" + n->text() + "'" + (n->quoted() ? " (a quoted string)" : "") : n->TypeName()));
    return std::nullopt;
  }
  return v;
}

std::optional<double> ArgReader::Fraction(std::string_view key) {
  auto v = Number(key);
  if (v && (*v < 0 || *v > 1)) {
    Error(Get(key), "'" + std::string(key) + "' must be between 0 and 1");
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> ArgReader::StringList(std::string_view key) {
  const DocNode* n = Get(key);
  if (!n) return std::nullopt;
  std::vector<std::string> out;
  if (n->is_scalar()) {
    out.push_back(n->text());
    return out;
  }
  if (!n->is_sequence()) {
    Error(n, "'" + std::string(key) + "' must be a list of strings, found " + n->TypeName());
    return std::nullopt;
  }
  for (const auto& item : n->items()) {
    if (!item->is_scalar()) {
      Error(item.get(), "'" + std::string(key) + "' must be a list of strings, found a " + item->TypeName() + " in it");
      return std::nullopt;
    }
    out.push_back(item->text());
  }
  return out;
}

std::optional<std::string> ArgReader::Choice(std::string_view key, const std::vector<std::string>& choices) {
  auto v = String(key);
  if (!v || (Get(key) && HasPlaceholder(*Get(key)))) return v;
  if (std::find(choices.begin(), choices.end(), *v) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    Error(Get(key), "'" + std::string(key) + "' must be one of " + list + ", found '" + *v + "'" +
                        DidYouMean(*v, choices));
    return std::nullopt;
  }
  return v;
}

std::optional<Duration> ArgReader::DurationArg(std::string_view key, bool positive) {
  auto text = String(key);
  if (!text || HasPlaceholder(*Get(key))) return std::nullopt;
  auto d = ParseDuration(*text);
  if (!d) {
    Error(Get(key), "'" + std::string(key) + "': invalid duration '" + *text + "' (use e.g. 500ms, 30s, 1h30m, 2d)");
  } else if (positive && d->count() <= 0) {
    Error(Get(key), "'" + std::string(key) + "' must be greater than 0");
    return std::nullopt;
  }
  return d;
}

void ArgReader::RejectUnknown(const std::vector<std::string>& known) {
  if (!node_.is_map()) return;
  for (const auto& [key, value] : node_.entries()) {
    if (!key->is_scalar()) continue;
    if (std::find(known.begin(), known.end(), key->text()) == known.end()) {
      Error(key.get(), "unknown argument '" + key->text() + "'" + DidYouMean(key->text(), known));
    }
  }
}

bool ParseSteps(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark,
                const std::vector<std::string>& kinds,
                const std::function<void(const std::string& kind, const DocNode& value, ArgReader& reader)>& parse) {
  ArgReader r(with, context, diags, mark);
  r.Get("input");
  const DocNode* list = r.Get("steps");
  if (!list) r.Error(nullptr, "missing required argument 'steps'");
  if (list && !list->is_sequence()) r.Error(list, "'steps' must be a list");
  if (list && list->is_sequence()) {
    std::string names;
    for (const auto& k : kinds) names += (names.empty() ? "" : ", ") + k;
    for (const auto& item : list->items()) {
      if (!item->is_map() || item->entries().size() != 1) {
        r.Error(item.get(), "each step is a map with one key (" + names + ")");
        continue;
      }
      const auto& [key, value] = item->entries().front();
      ArgReader step(*item, context + ": " + key->text(), diags, Within(*item, mark));
      if (std::find(kinds.begin(), kinds.end(), key->text()) == kinds.end()) {
        step.RejectUnknown(kinds);
        continue;
      }
      parse(key->text(), *value, step);
    }
  }
  r.RejectUnknown({"input", "steps"});
  return r.ok();
}

std::optional<columnar::DataType> ParseType(const DocNode& node, const std::string& what, ArgReader& r) {
  auto text = ScalarText(node, what, r);
  if (!text) return std::nullopt;
  auto t = columnar::ParseTypeName(*text);
  if (!t) {
    r.Error(&node, what + ": unknown type '" + *text + "' (types: int64, float64, bool, string, timestamp)" +
                       DidYouMean(*text, {"int64", "float64", "bool", "string", "timestamp"}));
  }
  return t;
}

ColumnChecker::ColumnChecker(const KnownColumns* input, std::string context, Diagnostics& diags, Mark fallback,
                             std::string in)
    : context_(std::move(context)), diags_(diags), fallback_(fallback), in_(std::move(in)) {
  if (input) columns_ = *input;
}

std::optional<std::string> ColumnChecker::Need(const DocNode* at, const std::string& where, const std::string& name) {
  if (!columns_) return std::nullopt;
  if (const std::string* type = columns_->TypeOf(name)) return *type;
  if (columns_->exact) {
    std::string names;
    for (const auto& [n, t] : columns_->columns) names += (names.empty() ? "" : ", ") + n;
    Mark mark = at && at->mark().line > 0 ? at->mark() : fallback_;
    diags_.Add(mark, context_ + ": " + where + ": column '" + name + "' is not in " + in_ + " (columns: " + names + ")");
  }
  return std::nullopt;
}

bool ColumnChecker::NeedType(const DocNode* at, const std::string& where, const std::string& name,
                             const std::vector<std::string>& types, const std::string& what) {
  auto type = Need(at, where, name);
  if (!type) return !columns_ || !columns_->exact;
  if (type->empty() || std::find(types.begin(), types.end(), *type) != types.end()) return true;
  Mark mark = at && at->mark().line > 0 ? at->mark() : fallback_;
  diags_.Add(mark, context_ + ": " + where + ": column '" + name + "' is " + *type + ", not " + what);
  return true;
}

std::optional<columnar::Schema> ColumnChecker::ExactSchema() const {
  if (!columns_ || !columns_->exact) return std::nullopt;
  columnar::Schema schema;
  for (const auto& [name, type] : columns_->columns) {
    auto t = columnar::ParseTypeName(type);
    if (!t) return std::nullopt;
    schema.Add({name, *t});
  }
  return schema;
}

void ColumnChecker::Set(const std::string& name, const std::string& type) {
  if (!columns_) return;
  for (auto& [n, t] : columns_->columns) {
    if (n == name) {
      t = type;
      return;
    }
  }
  columns_->columns.emplace_back(name, type);
}

void ColumnChecker::Remove(const std::string& name) {
  if (!columns_) return;
  std::erase_if(columns_->columns, [&](const auto& c) { return c.first == name; });
  columns_->pii.erase(name);
}

void ColumnChecker::Rename(const std::string& from, const std::string& to) {
  if (!columns_) return;
  for (auto& [n, t] : columns_->columns) {
    if (n == from) n = to;
  }
  auto mark = columns_->pii.extract(from);
  columns_->pii.erase(to);
  if (mark) {
    mark.key() = to;
    columns_->pii.insert(std::move(mark));
  }
}

void ColumnChecker::MarkPii(const std::string& name, const std::string& origin) {
  if (columns_) columns_->pii[name] = origin;
}

void ColumnChecker::Derive(const std::string& target, const std::vector<std::string>& sources) {
  if (!columns_) return;
  std::string origin;
  for (const std::string& s : sources) {
    if (auto it = columns_->pii.find(s); it != columns_->pii.end()) {
      origin = it->second;
      break;
    }
  }
  if (origin.empty()) {
    columns_->pii.erase(target);
  } else {
    columns_->pii[target] = origin;
  }
}

void ColumnChecker::Unmark(const std::string& name) {
  if (columns_) columns_->pii.erase(name);
}

void ColumnChecker::AddUnknownFrom(const std::string& source, const std::string& what) {
  if (!columns_) return;
  columns_->exact = false;
  if (auto it = columns_->pii.find(source); it != columns_->pii.end() && columns_->pii_unnamed.empty()) {
    columns_->pii_unnamed = "the columns " + what + " made of '" + source + "' (" + it->second + ")";
  }
}

void ColumnChecker::RefusePii(const TaskSpec& task, const std::optional<std::vector<std::string>>& names,
                              const DocNode* at) {
  if (!columns_ || task.allow_pii) return;
  const Mark mark = at && at->mark().line > 0 ? at->mark() : fallback_;
  const std::string how = "; mask it (a clean or transform step 'mask'), drop it, or set allow_pii: true on the task";
  auto refuse = [&](const std::string& name) {
    if (auto it = columns_->pii.find(name); it != columns_->pii.end()) {
      diags_.Add(mark, context_ + ": column '" + name + "' is personal data (" + it->second + ")" + how);
      return true;
    }
    return false;
  };
  bool unnamed = !columns_->pii_unnamed.empty();
  if (names) {
    for (const std::string& name : *names) {
      if (!refuse(name) && unnamed && !TypeOf(name)) {
        // A name validation does not know may be one of the unnamed columns.
        diags_.Add(mark, context_ + ": column '" + name + "' may be one of " + columns_->pii_unnamed +
                             ", which are personal data" + how);
        unnamed = false;
      }
    }
    return;
  }
  for (const auto& [name, origin] : columns_->pii) refuse(name);
  RefuseUnnamedPii(task, at);
}

void ColumnChecker::RefuseUnnamedPii(const TaskSpec& task, const DocNode* at) {
  if (!columns_ || task.allow_pii || columns_->pii_unnamed.empty()) return;
  const Mark mark = at && at->mark().line > 0 ? at->mark() : fallback_;
  diags_.Add(mark, context_ + ": " + columns_->pii_unnamed + " are personal data; mask the column before the " +
                       "one_hot, drop them, or set allow_pii: true on the task");
}

void ColumnChecker::AddUnknown() {
  if (columns_) columns_->exact = false;
}

void ColumnChecker::Select(const std::vector<std::string>& names) {
  if (!columns_) columns_ = KnownColumns{};
  KnownColumns next;
  next.exact = true;
  for (const std::string& name : names) {
    const std::string* type = columns_->TypeOf(name);
    next.columns.emplace_back(name, type ? *type : "");
    if (auto it = columns_->pii.find(name); it != columns_->pii.end()) {
      next.pii.insert(*it);
    } else if (!type && !columns_->pii_unnamed.empty()) {
      // A column validation does not know may be one a one_hot of a marked column made.
      next.pii[name] = columns_->pii_unnamed;
    }
  }
  columns_ = std::move(next);
}

std::optional<std::string> DatabaseUrl(ArgReader& r, std::string_view key) {
  auto url = r.String(key);
  if (!url) return std::nullopt;
  const std::string name = "'" + std::string(key) + "'";
  if (!sources::KindOf(*url)) {
    r.Error(r.Get(key), name + " must be a postgresql://... URL or sqlite:PATH");
  } else if (sources::HasPassword(*url)) {
    r.Error(r.Get(key), name + " holds a password: a DAG file must not; give it in the secrets file (--secrets or "
                               "PIPE_SECRETS), the environment (PGPASSWORD) or ~/.pgpass");
  }
  return url;
}

}  // namespace pipeline::ops
