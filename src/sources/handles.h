// Owners of libpq and SQLite handles and the SQL text helpers, shared by the
// reader (database.cc) and the loader (sink.cc).
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>

#include <cctype>
#include <memory>
#include <string>
#include <string_view>

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

// A query as the body of COPY (...) or a subquery: without the trailing
// semicolons and spaces people write.
inline std::string QueryBody(const std::string& query) {
  std::string q = query;
  while (!q.empty() && (q.back() == ';' || std::isspace(static_cast<unsigned char>(q.back())))) q.pop_back();
  return q;
}

// An SQL identifier, double-quoted (case kept, '"' doubled).
inline std::string QuoteIdentifier(std::string_view identifier) {
  std::string out = "\"";
  for (char ch : identifier) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

// Throws SourceError with libpq's message after `what` ("lost the
// connection: ..." and unavailable when the connection is gone).
[[noreturn]] inline void PgFail(PGconn* conn, const std::string& what) {
  const bool lost = PQstatus(conn) != CONNECTION_OK;
  throw SourceError((lost ? "lost the connection: " : what) + Trim(PQerrorMessage(conn)), lost);
}

// Runs `sql`; anything but the `want` status is PgFail(conn, what).
inline PgResult PgExec(PGconn* conn, const std::string& sql, ExecStatusType want = PGRES_COMMAND_OK,
                       const std::string& what = "") {
  PgResult r(PQexec(conn, sql.c_str()));
  if (!r || PQresultStatus(r.get()) != want) PgFail(conn, what);
  return r;
}

// A connection to the PostgreSQL database at `url`; with a secrets file
// (UseSecretsFile, $PIPE_SECRETS) libpq takes the password from it. Throws
// SourceError (unavailable) naming the URL without its password.
PgConn ConnectPostgres(const std::string& url);

}  // namespace pipeline::sources
