// How registered models are shown: JSON for the API and `--json`, text for
// people (pipectl models).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "store/state_store.h"

namespace pipeline::views {

// {name, latest_version, versions, created_at, updated_at, aliases: {alias: version}}
nlohmann::json ModelSummaryJson(const ModelSummary& model);
// A version whole: file, signature, transforms, params, metrics, importance,
// lineage, and the aliases that point at it.
nlohmann::json ModelVersionJson(const ModelVersionRecord& v, const std::vector<ModelAliasRecord>& aliases);
// The model: its summary, every version (number, type, time, metrics), the
// aliases and their history. Throws Error(kNotFound) for an unknown name.
nlohmann::json ModelJson(StateStore& store, const std::string& name);

// NAME  LATEST  VERSIONS  ALIASES  UPDATED
std::string ModelsTable(const std::vector<ModelSummary>& models);
// A version for people: metrics, features and importance, params, lineage, aliases.
std::string ModelVersionText(const ModelVersionRecord& v, const std::vector<ModelAliasRecord>& aliases,
                             const std::vector<ModelAliasRecord>& history);
// The same from the daemon's JSON: a version (ModelVersionJson) and the
// model's alias_history ([{alias, version, set_at}]).
std::string ModelVersionText(const nlohmann::json& version, const nlohmann::json& history);

}  // namespace pipeline::views
