#include "dag/params.h"

#include <nlohmann/json.hpp>

#include "core/diagnostic.h"
#include "core/error.h"
#include "dag/yaml_reader.h"

namespace pipeline {

namespace {

// As ParamValueJson says: typed only where JSON keeps the text as written.
nlohmann::json ToJson(const DocNode& node) {
  if (node.is_null()) return nullptr;
  if (node.is_sequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node.items()) out.push_back(ToJson(*item));
    return out;
  }
  if (node.is_map()) {  // (no parameter holds one: ReadParamValue and the loader refuse them)
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : node.entries()) out[key->text()] = ToJson(*value);
    return out;
  }
  nlohmann::json typed;
  if (auto v = node.AsInt()) {
    typed = *v;
  } else if (auto v = node.AsDouble()) {
    typed = *v;
  } else if (auto v = node.AsBool()) {
    typed = *v;
  } else {
    return node.text();
  }
  if (typed.dump() != node.text()) return node.text();
  return typed;
}

// The kinds a parameter can have, from the most specific.
enum class ParamKind { kNull, kInt, kNumber, kBool, kString, kList };

ParamKind KindOf(const DocNode& node) {
  if (node.is_null()) return ParamKind::kNull;
  if (node.is_sequence()) return ParamKind::kList;
  if (node.AsInt()) return ParamKind::kInt;
  if (node.AsDouble()) return ParamKind::kNumber;
  if (node.AsBool()) return ParamKind::kBool;
  return ParamKind::kString;
}

bool Compatible(ParamKind expected, ParamKind given) {
  if (expected == given || expected == ParamKind::kNull) return true;
  if (expected == ParamKind::kNumber && given == ParamKind::kInt) return true;
  // Any scalar can stand for a string parameter ("2026" for a folder name).
  return expected == ParamKind::kString && given != ParamKind::kList;
}

}  // namespace

std::optional<ParamValues> ResolveParams(
    const DagSpec& dag, const std::vector<std::pair<std::string, std::string>>& overrides,
    std::string* error) {
  ParamValues values;
  for (const ParamSpec& p : dag.params) values[p.name] = p.value;
  for (const auto& [name, text] : overrides) {
    const ParamSpec* spec = dag.FindParam(name);
    if (!spec) {
      std::string known;
      for (const ParamSpec& p : dag.params) known += (known.empty() ? "" : ", ") + p.name;
      *error = "unknown parameter '" + name + "' for DAG '" + dag.id + "'" +
               (known.empty() ? " (it declares none)" : " (known: " + known + ")");
      return std::nullopt;
    }
    DocNode::Ptr value = ReadParamValue(name, text, error);
    if (!value) return std::nullopt;
    if (!Compatible(KindOf(*spec->value), KindOf(*value))) {
      // The value as read ("x" through the API's JSON is x, as on the command line).
      *error = "parameter '" + name + "' expects " + spec->value->TypeName() + " (default " +
               ParamText(*spec->value) + "), got '" + (value->is_scalar() ? value->text() : text) + "'";
      return std::nullopt;
    }
    values[name] = value;
  }
  return values;
}

DocNode::Ptr ReadParamValue(const std::string& name, const std::string& text, std::string* error) {
  if (text.empty()) return DocNode::Scalar("", true);
  const std::string as_text = "; quote it to pass it as text: '\"" + text + "\"'";
  Diagnostics diags("--param " + name);
  DocNode::Ptr value = ReadYaml(text, diags);
  if (!value) {
    // A comment or blanks only: the reader's "empty file" is about DAG files.
    const bool nothing = !diags.empty() && diags.items().front().message.rfind("empty file", 0) == 0;
    *error = "parameter '" + name + "': " +
             (nothing ? "'" + text + "' reads as nothing (a YAML comment or blanks)"
                      : "cannot read value '" + text + "' as YAML" +
                            (diags.empty() ? "" : " (" + diags.items().front().message + ")")) +
             as_text;
    return nullptr;
  }
  if (value->is_map()) {
    *error = "parameter '" + name + "': '" + text + "' reads as a map, which no parameter takes (a scalar or a list)" +
             as_text;
    return nullptr;
  }
  for (const auto& item : value->items()) {
    if (item->is_map() || item->is_sequence()) {
      *error = "parameter '" + name + "': '" + text + "' holds " + item->TypeName() +
               " in its list, which no parameter takes (a list holds scalars)" + as_text;
      return nullptr;
    }
  }
  return value;
}

std::string JsonParamOverride(const std::string& json_text) {
  const nlohmann::json value = nlohmann::json::parse(json_text, nullptr, false);
  if (!value.is_string()) return json_text;
  const std::string& text = value.get_ref<const std::string&>();
  Diagnostics diags("params");
  DocNode::Ptr plain = text.empty() ? nullptr : ReadYaml(text, diags);
  if (plain && plain->is_scalar() && !plain->quoted() && plain->text() == text) return text;
  return json_text;
}

std::string ParamText(const DocNode& value) {
  if (value.is_null()) return "";
  if (value.is_scalar()) return value.text();
  return ToJson(value).dump();
}

std::string ParamValueJson(const DocNode& value) { return ToJson(value).dump(); }

std::string ParamsToJson(const ParamValues& params) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : params) out[name] = ToJson(*value);
  return out.dump();
}

}  // namespace pipeline

namespace pipeline {

namespace {

DocNode::Ptr FromJson(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return DocNode::Null();
    case nlohmann::json::value_t::string:
      return DocNode::Scalar(value.get<std::string>(), true);
    case nlohmann::json::value_t::boolean:
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return DocNode::Scalar(value.dump(), false);
    case nlohmann::json::value_t::array: {
      auto seq = std::make_shared<DocNode>(DocNode::Kind::kSequence, Mark{});
      for (const auto& item : value) seq->add_item(FromJson(item));
      return seq;
    }
    default:
      throw Error::Corruption("stored run parameter is not a scalar or a list: " + value.dump());
  }
}

}  // namespace

ParamValues ParamsFromJson(const std::string& json) {
  auto parsed = nlohmann::json::parse(json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw Error::Corruption("stored run parameters are not a JSON object: " + json);
  }
  ParamValues out;
  for (const auto& [name, value] : parsed.items()) out[name] = FromJson(value);
  return out;
}

}  // namespace pipeline
