#include "store/model_ref.h"

#include <algorithm>

#include "core/error.h"

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

namespace {

int CurrentAlias(StateStore& store, const std::string& name, const std::string& alias) {
  for (const ModelAliasRecord& a : store.GetModelAliases(name)) {
    if (a.alias == alias) return a.version;
  }
  return 0;
}

}  // namespace

AliasMove MoveModelAlias(StateStore& store, const std::string& name, const std::string& alias, int version,
                         TimePoint now) {
  // `was` is what the move replaced: tried again if another moved it between
  // the read and the write.
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int was = CurrentAlias(store, name, alias);
    switch (store.SetModelAliasIf(name, alias, was, version, now)) {
      case StateStore::AliasSet::kSet:
        return {version, was};
      case StateStore::AliasSet::kMovedMeanwhile:
        continue;
      case StateStore::AliasSet::kNoSuchVersion: {
        std::vector<ModelVersionRecord> versions = store.ListModelVersions(name);
        if (versions.empty()) throw Error::NotFound("no model '" + name + "'");
        throw Error::NotFound("model '" + name + "' has no version " + std::to_string(version) + " (latest: " +
                              std::to_string(versions.front().version) + ")");
      }
    }
  }
  throw Error::Conflict(name + "@" + alias + " keeps moving under other writers: try again");
}

AliasMove RollbackModelAlias(StateStore& store, const std::string& name, const std::string& alias, TimePoint now) {
  const int current = CurrentAlias(store, name, alias);
  if (current == 0) {
    if (store.ListModelVersions(name).empty()) throw Error::NotFound("no model '" + name + "'");
    throw Error::NotFound("model '" + name + "' has no alias '" + alias + "'");
  }
  // The version the alias pointed at before its current one.
  std::vector<ModelAliasRecord> history = store.GetModelAliasHistory(name);
  int previous = 0;
  for (auto h = history.rbegin(); h != history.rend(); ++h) {
    if (h->alias == alias && h->version != current && h->version != 0) {
      previous = h->version;
      break;
    }
  }
  if (previous == 0) {
    throw Error::Conflict(name + "@" + alias + " has pointed at version " + std::to_string(current) +
                          " only: there is nothing to roll back to");
  }
  // Back from `current` only: a move made meanwhile (a promotion) is not
  // undone by a rollback decided before it.
  switch (store.SetModelAliasIf(name, alias, current, previous, now)) {
    case StateStore::AliasSet::kSet:
      return {previous, current};
    case StateStore::AliasSet::kMovedMeanwhile:
      throw Error::Conflict(name + "@" + alias + " moved from version " + std::to_string(current) +
                            " while the rollback was decided: look again (pipectl models show " + name + ")");
    case StateStore::AliasSet::kNoSuchVersion:
      break;
  }
  throw Error::NotFound("version " + std::to_string(previous) + " of model '" + name + "' is gone");
}

}  // namespace pipeline
