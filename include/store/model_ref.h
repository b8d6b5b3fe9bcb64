// Resolving model references (core/model_ref.h: "NAME", "NAME@ALIAS",
// "NAME:VERSION") to versions in the state store.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/model_ref.h"
#include "store/state_store.h"

namespace pipeline {

// The version `ref` names: the alias's, the numbered one, or for a bare
// NAME its `production` alias, else its latest version. nullopt when there
// is none (`error` says what is missing).
std::optional<ModelVersionRecord> ResolveModelRef(StateStore& store, const ModelRef& ref, std::string* error);

// An alias moved: the version it points at now and the one before (0: it
// was unset).
struct AliasMove {
  int version = 0;
  int was = 0;
};

// Points `alias` of model `name` at `version` (recorded in the alias
// history). Throws Error(kNotFound) naming the model or the version that is
// not there.
AliasMove MoveModelAlias(StateStore& store, const std::string& name, const std::string& alias, int version,
                         TimePoint now);

// Moves `alias` back to the version it pointed at before its current one
// (as `kubectl rollout undo`: a second rollback undoes the first). Throws
// Error(kNotFound) for no such model or alias, Error(kConflict) when the
// alias never pointed elsewhere.
AliasMove RollbackModelAlias(StateStore& store, const std::string& name, const std::string& alias, TimePoint now);

}  // namespace pipeline
