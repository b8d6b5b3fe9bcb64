#include "views/model_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "views/format.h"

namespace pipeline::views {

using nlohmann::json;

namespace {

json Doc(const std::string& text, json fallback) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

std::string Figure(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (!v.is_number()) return v.is_null() ? "-" : v.dump();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
  return buf;
}

}  // namespace

json ModelSummaryJson(const ModelSummary& m) {
  json aliases = json::object();
  for (const ModelAliasRecord& a : m.aliases) aliases[a.alias] = a.version;
  return {{"name", m.name},
          {"latest_version", m.latest_version},
          {"versions", m.version_count},
          {"created_at", FormatIso8601(m.created_at)},
          {"updated_at", FormatIso8601(m.updated_at)},
          {"aliases", aliases}};
}

json ModelVersionJson(const ModelVersionRecord& v, const std::vector<ModelAliasRecord>& aliases) {
  json pointing = json::array();
  for (const ModelAliasRecord& a : aliases) {
    if (a.version == v.version) pointing.push_back(a.alias);
  }
  return {{"name", v.name},
          {"version", v.version},
          {"model_type", v.model_type},
          {"kind", v.kind},
          {"target", v.target},
          {"features", Doc(v.features_json, json::array())},
          {"transforms", Doc(v.transforms_json, json::array())},
          {"params", Doc(v.params_json, json::object())},
          {"metrics", Doc(v.metrics_json, json::object())},
          {"importance", Doc(v.importance_json, json::object())},
          {"lineage", Doc(v.lineage_json, json::object())},
          {"file", {{"uri", v.uri}, {"format", v.format}, {"content_hash", v.content_hash}}},
          {"created_at", FormatIso8601(v.created_at)},
          {"aliases", pointing}};
}

json ModelJson(StateStore& store, const std::string& name) {
  std::vector<ModelVersionRecord> versions = store.ListModelVersions(name);
  if (versions.empty()) throw Error::NotFound("no model '" + name + "'");
  std::vector<ModelAliasRecord> aliases = store.GetModelAliases(name);
  json list = json::array();
  for (const ModelVersionRecord& v : versions) {
    json lineage = Doc(v.lineage_json, json::object());
    list.push_back({{"version", v.version},
                    {"model_type", v.model_type},
                    {"kind", v.kind},
                    {"created_at", FormatIso8601(v.created_at)},
                    {"metrics", Doc(v.metrics_json, json::object())},
                    {"run_id", lineage.value("run_id", "")}});
  }
  json current = json::object();
  for (const ModelAliasRecord& a : aliases) current[a.alias] = a.version;
  json history = json::array();
  for (const ModelAliasRecord& a : store.GetModelAliasHistory(name)) {
    history.push_back({{"alias", a.alias}, {"version", a.version}, {"set_at", FormatIso8601(a.set_at)}});
  }
  return {{"name", name},
          {"latest_version", versions.front().version},
          {"versions", list},
          {"aliases", current},
          {"alias_history", history}};
}

std::string ModelsTable(const std::vector<ModelSummary>& models) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "LATEST", "VERSIONS", "ALIASES", "UPDATED"}};
  for (const ModelSummary& m : models) {
    std::string aliases;
    for (const ModelAliasRecord& a : m.aliases) {
      aliases += (aliases.empty() ? "" : ", ") + a.alias + "=v" + std::to_string(a.version);
    }
    rows.push_back({m.name, "v" + std::to_string(m.latest_version), std::to_string(m.version_count), aliases,
                    FormatIso8601(m.updated_at)});
  }
  return FormatTable(rows);
}

std::string ModelVersionText(const ModelVersionRecord& v, const std::vector<ModelAliasRecord>& aliases,
                             const std::vector<ModelAliasRecord>& history) {
  json events = json::array();
  for (const ModelAliasRecord& a : history) {
    events.push_back({{"alias", a.alias}, {"version", a.version}, {"set_at", FormatIso8601(a.set_at)}});
  }
  return ModelVersionText(ModelVersionJson(v, aliases), events);
}

std::string ModelVersionText(const json& doc, const json& history) {
  std::ostringstream out;
  std::string pointing;
  for (const auto& a : doc.value("aliases", json::array())) pointing += (pointing.empty() ? " (" : ", ") + a.get<std::string>();
  if (!pointing.empty()) pointing += ")";
  const json file = doc.value("file", json::object());
  out << "model    " << doc.value("name", "") << " version " << doc.value("version", 0) << pointing << "\n"
      << "type     " << doc.value("model_type", "") << " (" << doc.value("kind", "") << "), target "
      << doc.value("target", "") << "\n"
      << "created  " << doc.value("created_at", "") << "\n"
      << "file     " << file.value("uri", "") << " (" << file.value("format", "") << ", "
      << file.value("content_hash", "") << ")\n";
  const json lineage = doc.value("lineage", json::object());
  out << "lineage  dag " << lineage.value("dag_id", "") << " v" << lineage.value("dag_version", 0) << ", run "
      << lineage.value("run_id", "") << ", task " << lineage.value("task_id", "") << "\n";
  for (const auto& in : lineage.value("inputs", json::array())) {
    out << "         input " << in.value("task", "") << ": " << in.value("uri", "") << " (" << in.value("content_hash", "")
        << ")\n";
  }
  out << "\nmetrics\n";
  const json metrics = doc.value("metrics", json::object());  // items() of a temporary would dangle
  for (const auto& [key, value] : metrics.items()) {
    if (value.is_object()) {
      std::string parts;
      for (const auto& [k, n] : value.items()) parts += (parts.empty() ? "" : " ") + k + "=" + Figure(n);
      out << "  " << key << "  " << parts << "\n";
    } else {
      out << "  " << key << "  " << Figure(value) << "\n";
    }
  }
  // Features with their importance, most important first.
  std::vector<std::pair<std::string, std::string>> features;
  for (const auto& f : doc.value("features", json::array())) features.emplace_back(f.value("name", ""), f.value("type", ""));
  const json importance = doc.value("importance", json::object());
  using Feature = std::pair<std::string, std::string>;
  std::stable_sort(features.begin(), features.end(), [&](const Feature& a, const Feature& b) {
    auto weight = [&](const std::string& name) {
      auto it = importance.find(name);
      return it != importance.end() && it->is_number() ? std::fabs(it->get<double>()) : -1.0;
    };
    double ia = weight(a.first), ib = weight(b.first);
    return ia > ib;
  });
  std::vector<std::vector<std::string>> rows = {{"FEATURE", "TYPE", "IMPORTANCE"}};
  for (const auto& [name, type] : features) {
    rows.push_back({name, type, importance.contains(name) ? Figure(importance[name]) : "-"});
  }
  out << "\n" << FormatTable(rows);
  out << "\nparams   " << doc.value("params", json::object()).dump() << "\n";
  out << "transforms " << doc.value("transforms", json::array()).size() << " fitted steps\n";
  if (history.is_array() && !history.empty()) {
    out << "\nalias history\n";
    for (const json& a : history) {
      out << "  " << a.value("set_at", "") << "  " << a.value("alias", "") << " -> v" << a.value("version", 0) << "\n";
    }
  }
  return out.str();
}

}  // namespace pipeline::views
