// What every pipectl command shares: where state lives, the store, output.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/diagnostic.h"
#include "core/operator.h"
#include "store/state_store.h"
#include "views/format.h"

namespace pipeline::cli {

// Exit codes of interfaces.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnavailable = 3;

struct GlobalOptions {
  std::string db;      // --db, else PIPE_DB, else sqlite:$PIPE_HOME/state.db
  bool json = false;   // --json
  std::string server;  // --server, else PIPE_SERVER, else http://127.0.0.1:8080
  std::string token;   // --token, else PIPE_TOKEN
};

// Whether read commands ask the daemon (--server given, or PIPE_SERVER
// without --db) rather than reading the store.
bool UseServer(const GlobalOptions& options);

// PIPE_HOME, default ./.pipe.
std::string PipeHome();
std::string ResolveDbUrl(const GlobalOptions& options);
// The state store (ResolveDbUrl). A SQLite file named by --db or PIPE_DB
// must exist unless `create` (the commands that run DAGs): a typo in the
// path is an error (unreachable, exit 3), not a new empty database.
std::unique_ptr<StateStore> OpenStore(const GlobalOptions& options, bool create = false);

// The diagnostics of `file`, as `validate --json` reports them:
// [{"line", "column", "message"}...].
nlohmann::json DiagnosticsJson(const std::vector<Diagnostic>& diags, const std::string& file);

// The operators of this build, registered once.
const OperatorRegistry& Operators();

using views::FormatElapsed;
using views::FormatTable;

}  // namespace pipeline::cli
