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

}  // namespace pipeline
