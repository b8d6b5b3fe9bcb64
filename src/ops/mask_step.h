// The `mask` step of clean and transform (operators.md): replaces the values
// of columns that hold personal data and clears their `pii` mark.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/doc.h"
#include "ml/mask.h"
#include "ops/args.h"
#include "ops/batches.h"

namespace pipeline::ops {

using MaskRules = std::vector<std::pair<std::string, ml::MaskRule>>;

// `mask: {COLUMN: hash | redact | {truncate: N} | {generalize: day|month}}`;
// errors reported through `r`.
MaskRules ParseMask(const DocNode& value, ArgReader& r);

// Load time: the columns are known and of a type the rule takes; their
// types become the masked ones and their marks are cleared.
void CheckMask(ColumnChecker& c, const DocNode* node, const MaskRules& rules);

// Masks the columns of `w` (a hash's key from the secrets file) and returns
// the step as a fitted chain records it. Throws OpError.
nlohmann::json ApplyMask(const MaskRules& rules, Batches& w);

// For a cache key (`cache: true`): what the rules' output depends on beyond
// them, the key of a hash (as an HMAC of a constant, not the key itself).
std::string MaskCacheInput(const MaskRules& rules);

}  // namespace pipeline::ops
