#include "cli/common.h"

#include <cstdlib>

#include "exec/builtin_operators.h"
#include "ops/data_operators.h"

namespace pipeline::cli {

std::string PipeHome() {
  const char* home = std::getenv("PIPE_HOME");
  return home && *home ? home : ".pipe";
}

bool UseServer(const GlobalOptions& options) {
  const char* env = std::getenv("PIPE_SERVER");
  return !options.server.empty() || (env && *env);
}

std::string ResolveDbUrl(const GlobalOptions& options) {
  if (!options.db.empty()) return options.db;
  if (const char* env = std::getenv("PIPE_DB"); env && *env) return env;
  return "sqlite:" + PipeHome() + "/state.db";
}

std::unique_ptr<StateStore> OpenStore(const GlobalOptions& options) {
  return OpenStateStore(ResolveDbUrl(options));
}

const OperatorRegistry& Operators() {
  static const OperatorRegistry registry = [] {
    OperatorRegistry r;
    RegisterBuiltinOperators(r);
    RegisterDataOperators(r);
    return r;
  }();
  return registry;
}

}  // namespace pipeline::cli
