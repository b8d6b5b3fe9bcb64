#include "dag/template.h"

#include "core/doc.h"

#include <cctype>

namespace pipeline {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsVariableName(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (size_t idx = 0; idx < s.size(); ++idx) {
    char c = s[idx];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
              (c == '.' && s[idx - 1] != '.');
    if (!ok) return false;
  }
  return !std::isdigit(static_cast<unsigned char>(s.front()));
}

void AppendLiteral(std::vector<Template::Part>& parts, std::string_view text) {
  if (text.empty()) return;
  if (!parts.empty() && !parts.back().is_variable) {
    parts.back().text += text;
  } else {
    parts.push_back({false, std::string(text)});
  }
}

}  // namespace

Template Template::Scan(std::string_view text, bool keep_going, std::vector<std::string>* errors) {
  Template out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    AppendLiteral(out.parts_, text.substr(pos, open - pos));
    // A quoted literal may itself contain "}}", so find the end past it.
    size_t body_start = open + 2;
    size_t scan = body_start;
    while (scan < text.size() && std::isspace(static_cast<unsigned char>(text[scan]))) ++scan;
    if (scan < text.size() && (text[scan] == '\'' || text[scan] == '"')) {
      size_t close_quote = text.find(text[scan], scan + 1);
      if (close_quote == std::string_view::npos) {
        errors->push_back("unterminated quoted literal in placeholder at offset " + std::to_string(open));
        return out;
      }
      size_t close = text.find("}}", close_quote + 1);
      if (close == std::string_view::npos || !Trim(text.substr(close_quote + 1, close - close_quote - 1)).empty()) {
        errors->push_back("unterminated '{{' at offset " + std::to_string(open));
        return out;
      }
      AppendLiteral(out.parts_, text.substr(scan + 1, close_quote - scan - 1));
      pos = close + 2;
      continue;
    }
    size_t close = text.find("}}", body_start);
    if (close == std::string_view::npos) {
      errors->push_back("unterminated '{{' at offset " + std::to_string(open) +
                        " (write a literal '{{' as {{ '{{' }})");
      return out;
    }
    pos = close + 2;
    std::string_view name = Trim(text.substr(body_start, close - body_start));
    if (name.empty() || !IsVariableName(name)) {
      errors->push_back(name.empty() ? "empty placeholder '{{}}'"
                                     : "placeholder '" + std::string(text.substr(open, close + 2 - open)) +
                                           "' is not a variable name (templates have no logic)");
      if (!keep_going) return out;
      continue;
    }
    out.parts_.push_back({true, std::string(name)});
  }
  AppendLiteral(out.parts_, text.substr(pos));
  return out;
}

std::optional<Template> Template::Parse(std::string_view text, std::string* error) {
  std::vector<std::string> errors;
  Template out = Scan(text, false, &errors);
  if (!errors.empty()) {
    *error = errors.front();
    return std::nullopt;
  }
  return out;
}

Template Template::ParseAll(std::string_view text, std::vector<std::string>* errors) { return Scan(text, true, errors); }

bool Template::has_variables() const {
  for (const Part& part : parts_) {
    if (part.is_variable) return true;
  }
  return false;
}

std::string Template::Render(const std::function<std::string(std::string_view)>& lookup) const {
  std::string out;
  for (const Part& part : parts_) out += part.is_variable ? lookup(part.text) : part.text;
  return out;
}

const std::vector<std::string>& BuiltinTemplateVariables() {
  static const std::vector<std::string> kNames = {
      "dag.id", "task.id", "task.try", "run.id", "run.logical_date",
      "run.data_interval_start", "run.data_interval_end", "run.ds", "run.ds_nodash"};
  return kNames;
}

}  // namespace pipeline

namespace pipeline {

std::string RenderString(const std::string& text,
                         const std::function<std::string(std::string_view)>& lookup) {
  if (text.find("{{") == std::string::npos) return text;
  std::string error;
  auto tmpl = Template::Parse(text, &error);
  return tmpl ? tmpl->Render(lookup) : text;
}

namespace {

// The variable of a scalar that is one placeholder and nothing else but
// blanks ("{{ params.rate }}"), or nullopt.
std::optional<std::string> OnlyVariable(const std::string& text) {
  if (text.find("{{") == std::string::npos) return std::nullopt;
  std::string error;
  auto tmpl = Template::Parse(text, &error);
  if (!tmpl) return std::nullopt;
  std::optional<std::string> variable;
  for (const Template::Part& part : tmpl->parts()) {
    if (part.is_variable) {
      if (variable) return std::nullopt;
      variable = part.text;
    } else if (part.text.find_first_not_of(" \t") != std::string::npos) {
      return std::nullopt;
    }
  }
  return variable;
}

}  // namespace

std::shared_ptr<const DocNode> RenderDoc(const DocNode& node,
                                         const std::function<std::string(std::string_view)>& lookup) {
  auto out = std::make_shared<DocNode>(node.kind(), node.mark());
  if (auto variable = node.is_scalar() ? OnlyVariable(node.text()) : std::nullopt) {
    // A value that is one placeholder takes the type of what it renders to,
    // as if written in its place: `max_bad_rows: "{{ params.rate }}"` is the
    // number 0.5 (YAML needs the quotes around a placeholder).
    out->set_scalar(lookup(*variable), false);
  } else if (node.is_scalar()) {
    out->set_scalar(RenderString(node.text(), lookup), node.quoted());
  } else if (node.is_sequence()) {
    for (const auto& item : node.items()) out->add_item(RenderDoc(*item, lookup));
  } else if (node.is_map()) {
    for (const auto& [key, value] : node.entries()) out->add_entry(key, RenderDoc(*value, lookup));
  }
  return out;
}

}  // namespace pipeline
