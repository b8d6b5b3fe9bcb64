#include "cli/common.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "exec/builtin_operators.h"
#include "ops/data_operators.h"

namespace pipeline::cli {

std::string PipeHome() {
  const char* home = std::getenv("PIPE_HOME");
  return home && *home ? home : ".pipe";
}

bool UseServer(const GlobalOptions& options) {
  if (!options.server.empty()) return true;
  // A --db on the command line says which store to read: it wins over
  // PIPE_SERVER in the environment (a flag beats a variable).
  if (!options.db.empty()) return false;
  const char* env = std::getenv("PIPE_SERVER");
  return env && *env;
}

std::string ResolveDbUrl(const GlobalOptions& options) {
  if (!options.db.empty()) return options.db;
  if (const char* env = std::getenv("PIPE_DB"); env && *env) return env;
  return "sqlite:" + PipeHome() + "/state.db";
}

std::unique_ptr<StateStore> OpenStore(const GlobalOptions& options, bool create) {
  const std::string url = ResolveDbUrl(options);
  const char* env = std::getenv("PIPE_DB");
  const bool named = !options.db.empty() || (env && *env);
  // Only `pipectl run` makes a store: another command on a missing one (a
  // mistyped PIPE_HOME, another folder) would see an empty store and say
  // there is nothing, and leave an empty file behind.
  if (!create && url.rfind("sqlite:", 0) == 0) {
    const std::string path = url.substr(7);
    std::error_code ec;
    if (!path.empty() && path != ":memory:" && !std::filesystem::exists(path, ec)) {
      if (named) {
        throw Error::Unavailable("database " + url + " does not exist (check --db or PIPE_DB; `pipectl run` creates one)");
      }
      // With PIPE_SERVER set, this command reads the store itself (--local, or one the daemon has no route for).
      const char* server = std::getenv("PIPE_SERVER");
      throw Error::Unavailable("no state database at " + path + " (PIPE_HOME is " + PipeHome() + "; `pipectl run` creates it; " +
                               (server && *server ? "--db or PIPE_DB name another: this command reads the store itself, not PIPE_SERVER)"
                                                  : "--db, PIPE_DB or PIPE_SERVER name another)"));
    }
  }
  return OpenStateStore(url);
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
