// Databases as sources: a query's result set read into a columnar table,
// batch by batch (PostgreSQL through a server-side cursor, SQLite through a
// prepared statement). Knows nothing of DAGs; the `ingest` operator uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "columnar/table.h"

namespace pipeline::sources {

// A database could not be reached (`unavailable`: worth a retry) or refused
// the query (its own message). The message never holds a password.
class SourceError : public std::runtime_error {
 public:
  SourceError(const std::string& message, bool unavailable)
      : std::runtime_error(message), unavailable_(unavailable) {}
  bool unavailable() const { return unavailable_; }

 private:
  bool unavailable_;
};

// "postgresql://..." / "postgres://..." or "sqlite:PATH"; anything else: nullopt.
enum class Kind { kPostgres, kSqlite };
std::optional<Kind> KindOf(std::string_view url);

// Whether a postgresql:// URL carries a password ("user:PASS@" or
// "password=" in its query): DAG files must not.
bool HasPassword(std::string_view url);

// The URL with any password replaced by "***", for messages and logs.
std::string Redacted(std::string_view url);

struct QueryOptions {
  int64_t batch_rows = 65536;            // rows per fetch and per table batch
  std::function<bool()> cancelled;       // checked between batches
};

// Runs `query` on the database at `url` and returns its rows. Types map
// from the database's: integers -> int64; real, double, numeric -> float64;
// text, varchar, char, name -> string; bool -> bool; timestamp, timestamptz,
// date -> timestamp (UTC; a date is its midnight). Any other type throws
// SourceError naming the column and the type; so does a value a column
// cannot hold (numeric 'NaN' is NaN; an infinite timestamp is an error).
// SQLite columns take their declared type (INTEGER, REAL, TEXT, BOOLEAN,
// TIMESTAMP, DATE...), else the type of their first non-null value.
columnar::TablePtr ReadQuery(const std::string& url, const std::string& query, const QueryOptions& options = {});

}  // namespace pipeline::sources
