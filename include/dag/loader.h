// Turns DAG files into validated DagSpecs, reporting every problem found.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dag_spec.h"
#include "core/diagnostic.h"

namespace pipeline {

class OperatorRegistry;

struct LoadResult {
  std::optional<DagSpec> dag;            // set only when there is no diagnostic
  std::vector<Diagnostic> diagnostics;   // sorted by position; file-wide ones last
  DocNode::Ptr document;                 // the parsed file (the DAG's `with` maps share it)
};

struct FolderLoadResult {
  std::vector<DagSpec> dags;             // the valid files, sorted by DAG id
  std::vector<Diagnostic> diagnostics;   // of the invalid files
  std::vector<std::string> invalid_files;  // as the folder was given (DagFilePath() to compare with DagSpec::file)
};

// A file's path as DagSpec::file has it: absolute and normalized (the path
// as given when it cannot be made absolute).
std::string DagFilePath(const std::string& file);

// Stateless apart from the operator catalogue it checks `op` and `with`
// against; safe to use from several threads.
class DagLoader {
 public:
  explicit DagLoader(const OperatorRegistry& ops) : ops_(ops) {}

  // `file` names the source in diagnostics and resolves relative paths.
  LoadResult LoadText(std::string_view text, const std::string& file) const;
  LoadResult LoadFile(const std::string& path) const;
  // Every *.yaml / *.yml directly in `dir`; a DAG id used by two files is an
  // error on the later one (in name order).
  FolderLoadResult LoadFolder(const std::string& dir) const;

 private:
  const OperatorRegistry& ops_;
};

// Limits of a DAG file's size, to bound memory and time on hostile input.
inline constexpr size_t kMaxDagFileBytes = 64u << 20;

}  // namespace pipeline
