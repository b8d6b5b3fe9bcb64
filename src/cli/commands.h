// The pipectl commands. Each returns an exit code (common.h) and writes to
// stdout/stderr; main() parses flags into these structs and maps errors.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cli/common.h"

namespace pipeline::cli {

int Validate(const GlobalOptions& g, const std::vector<std::string>& paths);

struct RunOptions {
  std::string file;
  std::vector<std::string> params;  // "k=v"
  int workers = 0;
};
int Run(const GlobalOptions& g, const RunOptions& options);

struct ListRunsOptions {
  std::string dag;
  std::string state;
  int limit = 20;
};
int ListRuns(const GlobalOptions& g, const ListRunsOptions& options);
int ShowRun(const GlobalOptions& g, const std::string& run_id);

struct LogsOptions {
  std::string run_id;
  std::string task_id;
  int try_number = 0;  // 0: the latest
  bool follow = false;
};
int Logs(const GlobalOptions& g, const LogsOptions& options);

}  // namespace pipeline::cli
