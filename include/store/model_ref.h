// Model references as users write them: "NAME", "NAME@ALIAS", "NAME:VERSION"
// (also "NAME@VERSION": an alias never starts with a digit).
// Shared by batch `predict`, the daemon's predict endpoints and `pipectl`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "store/state_store.h"

namespace pipeline {

struct ModelRef {
  std::string name;
  std::string alias;  // "" unless NAME@ALIAS
  int version = 0;    // 0 unless NAME:VERSION
};

// Splits `text`; nullopt (and `error` says why) when it is none of the forms.
std::optional<ModelRef> ParseModelRef(std::string_view text, std::string* error);

// The version `ref` names: the alias's, the numbered one, or for a bare
// NAME its `production` alias, else its latest version. nullopt when there
// is none (`error` says what is missing).
std::optional<ModelVersionRecord> ResolveModelRef(StateStore& store, const ModelRef& ref, std::string* error);

}  // namespace pipeline
