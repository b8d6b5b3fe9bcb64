// Run parameters: a DAG's defaults overridden by trigger values, type-checked.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dag_spec.h"
#include "core/doc.h"

namespace pipeline {

// Parameter name -> value (a scalar or a list of scalars).
using ParamValues = std::map<std::string, DocNode::Ptr, std::less<>>;

// Applies `overrides` (NAME=VALUE texts, VALUE read as YAML: 0.9, true,
// [a, b], "quoted") to the DAG's defaults. An unknown name or a value whose
// type differs from the default's (an integer where a number is expected is
// fine) is refused: returns std::nullopt and sets *error.
std::optional<ParamValues> ResolveParams(const DagSpec& dag,
                                         const std::vector<std::pair<std::string, std::string>>& overrides,
                                         std::string* error);

// The text a `{{ params.NAME }}` placeholder becomes: a scalar's text, "" for
// null, a list as a JSON array.
std::string ParamText(const DocNode& value);

// One value as JSON text: typed as the YAML reads (42, 0.5, true, "text", [..]).
std::string ParamValueJson(const DocNode& value);

// The values as one JSON object (for the store and the API).
std::string ParamsToJson(const ParamValues& params);
// The inverse: a stored run's parameters. Throws Error(kCorruption) when
// `json` is not an object of scalars and lists.
ParamValues ParamsFromJson(const std::string& json);

}  // namespace pipeline
