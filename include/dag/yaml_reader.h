// Reads YAML text into a DocNode tree with source positions.
#pragma once

#include <string_view>

#include "core/diagnostic.h"
#include "core/doc.h"

namespace pipeline {

// Upper bound on the nodes a document may expand to through aliases. An
// "alias bomb" (a few lines that expand exponentially) is refused in time
// linear in the text, since aliases share the anchored node instead of copying.
inline constexpr int64_t kMaxExpandedNodes = 100'000;

// Reads exactly one YAML document. Syntax errors, a second document, an empty
// input and oversized alias expansion are reported into `diags` and yield
// nullptr. Never throws.
DocNode::Ptr ReadYaml(std::string_view text, Diagnostics& diags);

}  // namespace pipeline
