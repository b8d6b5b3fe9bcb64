// Model references as users write them: "NAME", "NAME@ALIAS", "NAME:VERSION"
// (also "NAME@VERSION": an alias never starts with a digit). The syntax only:
// store/model_ref.h resolves one to a version. Shared by batch `predict`,
// `serve`, the daemon's predict endpoints and `pipectl`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pipeline {

struct ModelRef {
  std::string name;
  std::string alias;  // "" unless NAME@ALIAS
  int version = 0;    // 0 unless NAME:VERSION
};

// Splits `text`; nullopt (and `error` says why) when it is none of the forms.
std::optional<ModelRef> ParseModelRef(std::string_view text, std::string* error);

}  // namespace pipeline
