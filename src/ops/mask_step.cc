#include "ops/mask_step.h"

#include <nlohmann/json.hpp>

#include "ml/linear.h"
#include "ops/operators.h"
#include "sources/database.h"

namespace pipeline::ops {

MaskRules ParseMask(const DocNode& value, ArgReader& r) {
  MaskRules rules;
  if (!value.is_map() || value.entries().empty()) {
    r.Error(&value, "'mask' must be a map of column -> hash, redact, {truncate: N} or {generalize: day|month}");
    return rules;
  }
  for (const auto& [column, spec] : value.entries()) {
    if (HasPlaceholder(*spec)) continue;
    // As JSON, so that the DAG and a recorded chain are read by one rule.
    nlohmann::json j;
    if (spec->is_scalar()) {
      j = spec->text();
    } else if (spec->is_map() && spec->entries().size() == 1) {
      const auto& [k, v] = spec->entries().front();
      j = nlohmann::json::object();
      if (auto n = v->AsInt(); n && v->is_scalar() && !v->quoted()) {
        j[k->text()] = *n;
      } else {
        j[k->text()] = v->is_scalar() ? nlohmann::json(v->text()) : nlohmann::json(nullptr);
      }
    }
    std::string error = "a mask is hash, redact, {truncate: N} or {generalize: day|month}";
    if (auto rule = j.is_null() ? std::nullopt : ml::MaskFromJson(j, &error)) {
      rules.emplace_back(column->text(), *rule);
    } else {
      r.Error(spec.get(), "column '" + column->text() + "': " + error);
    }
  }
  return rules;
}

void CheckMask(ColumnChecker& c, const DocNode* node, const MaskRules& rules) {
  for (const auto& [name, rule] : rules) {
    auto type = c.Need(node, "mask", name);
    if (type && !type->empty()) {
      if (auto t = columnar::ParseTypeName(*type); t && !ml::MaskedType(rule, *t)) {
        const bool truncate = rule.kind == ml::MaskRule::Kind::kTruncate;
        c.NeedType(node, "mask", name, {truncate ? "string" : "timestamp"}, truncate ? "a string (to truncate)"
                                                                                     : "a timestamp (to generalize)");
        continue;
      }
    }
    c.Set(name, rule.kind == ml::MaskRule::Kind::kGeneralize ? "timestamp" : "string");
    c.Unmark(name);
  }
}

std::string MaskCacheInput(const MaskRules& rules) {
  for (const auto& [name, rule] : rules) {
    if (rule.kind != ml::MaskRule::Kind::kHash) continue;
    std::string key;
    try {
      key = sources::MaskKey();
    } catch (const std::exception&) {
      // ApplyMask reports it.
    }
    return "mask_key=" + ml::HmacSha256Hex(key, "pipe cache key") + "\n";
  }
  return "";
}

nlohmann::json ApplyMask(const MaskRules& rules, Batches& w) {
  std::string key;
  bool hashes = false;
  for (const auto& [name, rule] : rules) hashes = hashes || rule.kind == ml::MaskRule::Kind::kHash;
  try {
    if (hashes) key = sources::MaskKey();
  } catch (const std::exception& e) {
    throw OpError("mask: " + std::string(e.what()));
  }
  nlohmann::json columns = nlohmann::json::array();
  for (const auto& [name, rule] : rules) {
    const int idx = w.Index(name, "mask");
    const columnar::DataType from = w.fields()[idx].type;
    std::vector<columnar::ColumnPtr> parts = w.Parts(idx);
    try {
      ml::Mask(columnar::Column(from, 0), rule, key, name);  // the type and key checks, with no rows too
      w.ForEach([&, &name = name, &rule = rule](int b) { parts[b] = ml::Mask(*parts[b], rule, key, name); });
    } catch (const ml::ModelError& e) {
      throw OpError(e.what());
    }
    w.Set(name, *ml::MaskedType(rule, from), std::move(parts));
    columns.push_back({name, ml::MaskJson(rule)});
  }
  return {{"step", "mask"}, {"params", {{"columns", columns}}}};
}

}  // namespace pipeline::ops
