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

// One override's value (VALUE of --param NAME=VALUE, read as YAML; "" is
// the empty string): a scalar or a list of scalars. nullptr and *error
// (naming NAME and saying how to pass it as text) otherwise.
DocNode::Ptr ReadParamValue(const std::string& name, const std::string& text, std::string* error);

// A value given as JSON (the API's params), as the override text
// ResolveParams reads: a string that reads back as itself as a plain YAML
// scalar goes as that ("007" and "0.80" are typed as YAML reads them and
// render as written, as on the command line), any other string quoted;
// numbers, booleans, null and lists as their JSON.
std::string JsonParamOverride(const std::string& json_text);

// The text a `{{ params.NAME }}` placeholder becomes: a scalar's text, "" for
// null, a list as a JSON array.
std::string ParamText(const DocNode& value);

// One value as JSON text. A scalar is a JSON number or boolean when JSON
// spells it as written (42, 0.5, true), else a string of its text ("007",
// "0.80", "1e3", "TRUE", an integer beyond int64): stored, handed to the
// daemon and read back, a parameter still renders as it was written.
std::string ParamValueJson(const DocNode& value);

// The values as one JSON object (for the store and the API).
std::string ParamsToJson(const ParamValues& params);
// The inverse: a stored run's parameters. Throws Error(kCorruption) when
// `json` is not an object of scalars and lists.
ParamValues ParamsFromJson(const std::string& json);

}  // namespace pipeline
