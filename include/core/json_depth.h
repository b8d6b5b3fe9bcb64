// How deep a JSON text nests, read without parsing it: bodies and files
// from outside are checked before nlohmann::json sees them, whose copy and
// dump recurse once per level (a 60,000-deep array overflowed the stack).
#pragma once

#include <string_view>

namespace pipeline {

// The JSON texts pipe reads from outside may nest at most this deep.
inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text` (strings, with their
// escapes, skipped). Not a validator: malformed text gives some depth.
int JsonNestingDepth(std::string_view text);

}  // namespace pipeline
