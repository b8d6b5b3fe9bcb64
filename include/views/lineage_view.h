// Lineage: what an artifact or a model version was made from, back to the
// source files and database queries (every artifact records what its try
// read: ArtifactInfo::inputs_json). For `pipectl lineage` and the API.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "store/state_store.h"

namespace pipeline::views {

// The tree rooted at `ref`: "RUN_ID/TASK" (its output), "RUN_ID/TASK/NAME",
// or a model "NAME:VERSION", "NAME@ALIAS", "NAME". Each node is
//   {"kind": "model", "name", "version", "hash", "run", "task", "inputs": [...]}
//   {"kind": "artifact", "run", "task", "name", "hash", "rows", "uri",
//    "schema": {...}, "inputs": [...]}  ("missing": true when the store no
//    longer has it; "changed": true when it was rewritten after being read)
//   {"kind": "file", "path", "hash"}
//   {"kind": "query", "source", "query", "watermark"}
// A node reached twice is given once with its inputs, then as
// {"kind": ..., "seen": true}. Throws Error(kNotFound) naming what is missing.
nlohmann::json LineageJson(StateStore& store, const std::string& ref);
// The model version's lineage (the API's models/{name}/versions/{v} form).
nlohmann::json ModelLineageJson(StateStore& store, const std::string& name, int version);
// The artifact's lineage (runs/{run}/tasks/{task}/artifacts/{name}).
nlohmann::json ArtifactLineageJson(StateStore& store, const std::string& run_id, const std::string& task_id,
                                   const std::string& name);

// "RUN_ID/TASK[/NAME]" as {run, task, name} (name "output" when absent), or
// nullopt when `ref` holds no '/' (then it names a model).
struct ArtifactRef {
  std::string run_id, task_id, name;
};
std::optional<ArtifactRef> SplitArtifactRef(const std::string& ref);

// The tree for people, one node per line, indented under what it was made from:
//   model fraud:3 (run R, task train) xxh3:...
//   └─ R/features/output  1000 rows  xxh3:...
//      └─ file /data/tx.csv  xxh3:...
std::string LineageText(const nlohmann::json& tree);

}  // namespace pipeline::views
