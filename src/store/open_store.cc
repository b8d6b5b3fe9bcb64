#include "core/error.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/state_store.h"

namespace pipeline {

std::unique_ptr<StateStore> OpenStateStore(const std::string& url) { return OpenStateStore(url, StoreOpenOptions{}); }

std::unique_ptr<StateStore> OpenStateStore(const std::string& url, const StoreOpenOptions& options) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (url.starts_with(kSqlite)) {
    std::string path = url.substr(kSqlite.size());
    if (path.empty()) throw Error::InvalidArgument("database URL 'sqlite:' names no file");
    return std::make_unique<SqliteStore>(path);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    PostgresOptions pg;
    pg.connect_budget = std::chrono::duration_cast<std::chrono::milliseconds>(options.connect_wait);
    pg.on_unreachable = options.on_unreachable;
    return std::make_unique<PostgresStore>(url, std::move(pg));
  }
  throw Error::InvalidArgument("unknown database URL '" + url +
                               "' (expected sqlite:PATH or postgresql://...)");
}

}  // namespace pipeline
