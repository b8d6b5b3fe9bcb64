#include "store/model_ref.h"


namespace pipeline {

std::optional<ModelVersionRecord> ResolveModelRef(StateStore& store, const ModelRef& ref, std::string* error) {
  int version = ref.version;
  if (version == 0) {
    const std::string alias = ref.alias.empty() ? "production" : ref.alias;
    for (const ModelAliasRecord& a : store.GetModelAliases(ref.name)) {
      if (a.alias == alias) version = a.version;
    }
    if (version == 0 && !ref.alias.empty()) {
      *error = "model '" + ref.name + "' has no alias '" + ref.alias + "'";
      return std::nullopt;
    }
  }
  if (version == 0) {
    std::vector<ModelVersionRecord> all = store.ListModelVersions(ref.name);
    if (all.empty()) {
      *error = "no model named '" + ref.name + "'";
      return std::nullopt;
    }
    int latest = 0;
    for (const auto& v : all) latest = std::max(latest, v.version);
    version = latest;
  }
  auto v = store.GetModelVersion(ref.name, version);
  if (!v) *error = "model '" + ref.name + "' has no version " + std::to_string(version);
  return v;
}

}  // namespace pipeline
