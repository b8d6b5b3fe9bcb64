#include "core/model_ref.h"

#include <charconv>

#include "core/names.h"

namespace pipeline {

std::optional<ModelRef> ParseModelRef(std::string_view text, std::string* error) {
  ModelRef ref;
  size_t at = text.find('@');
  size_t colon = text.find(':');
  std::string_view name = text.substr(0, std::min(at, colon));
  if (at != std::string_view::npos && colon != std::string_view::npos) {
    *error = "model reference '" + std::string(text) + "' has both @ALIAS and :VERSION";
    return std::nullopt;
  }
  const std::string_view after_at = at == std::string_view::npos ? std::string_view() : text.substr(at + 1);
  const bool digits = !after_at.empty() && after_at.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) colon = at;  // NAME@3 is NAME:3 (an alias never starts with a digit)
  if (at != std::string_view::npos && !digits) {
    ref.alias = std::string(text.substr(at + 1));
    if (!IsName(ref.alias)) {
      *error = "model reference '" + std::string(text) + "': '" + ref.alias + "' is not an alias name";
      return std::nullopt;
    }
  } else if (colon != std::string_view::npos) {
    std::string_view v = text.substr(colon + 1);
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ref.version);
    if (ec != std::errc() || end != v.data() + v.size() || ref.version < 1) {
      *error = "model reference '" + std::string(text) + "': '" + std::string(v) + "' is not a version number (1, 2, ...)";
      return std::nullopt;
    }
  }
  if (!IsName(name)) {
    *error = "model reference '" + std::string(text) + "': '" + std::string(name) + "' is not a model name";
    return std::nullopt;
  }
  ref.name = std::string(name);
  return ref;
}

}  // namespace pipeline
