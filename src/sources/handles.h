// Owners of libpq and SQLite handles, shared by the reader and the loader.
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>

#include <memory>
#include <string>

#include "sources/database.h"

namespace pipeline::sources {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// A library's message without its trailing newline.
inline std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// A connection to the PostgreSQL database at `url`; with a secrets file
// (UseSecretsFile, $PIPE_SECRETS) libpq takes the password from it. Throws
// SourceError (unavailable) naming the URL without its password.
PgConn ConnectPostgres(const std::string& url);

}  // namespace pipeline::sources
