// Databases as sources and sinks: a query's result set read into a columnar
// table, batch by batch (PostgreSQL by COPY (query) TO STDOUT, SQLite through
// a prepared statement), and a table loaded into a database table in one
// transaction. Knows nothing of DAGs; `ingest` and `export` use it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// Names the file PostgreSQL passwords come from, in libpq's password-file
// format (HOST:PORT:DATABASE:USER:PASSWORD lines, `*` matching anything), for
// every later connection of this process and its children ($PIPE_SECRETS).
// Throws SourceError when it cannot be read or others may read it (libpq
// would ignore it: chmod 600).
void UseSecretsFile(const std::string& path);

// $PIPE_SECRETS checked as UseSecretsFile checks a file ("" when unset).
std::string SecretsFile();

// The key of the `mask` step's hash: the rest of the secrets file's line
// that starts "mask_key:" (libpq skips such a line: no port is
// "mask_key"). "" when there is no secrets file or no such line; throws
// SourceError when the key is shorter than 16 characters.
std::string MaskKey();

// The value of the secrets file's line "KIND:NAME:VALUE" (a notification's
// webhook URL: webhook:NAME:URL), or nullopt when there is none.
std::optional<std::string> NamedSecret(const std::string& kind, const std::string& name);

struct QueryOptions {
  int64_t batch_rows = 65536;            // rows per fetch and per table batch
  std::function<bool()> cancelled;       // checked between batches
  // An incremental read: only the rows whose `column` is past `mark` (see
  // QueryPast; for PostgreSQL the column's type is looked up first).
  struct Past {
    std::string column;
    std::string mark;
  };
  std::optional<Past> past;
  std::string* executed = nullptr;  // when given, gets the query that ran
};

// `query` narrowed to the rows whose `column` is past `mark` (an incremental
// read) on the database at `url`: PostgreSQL compares the text as the
// column's type; SQLite numbers as numbers and text as text. Text compares
// byte by byte, as the mark (the largest value read) was chosen, whatever
// the column's collation: SQLite's BINARY, PostgreSQL's "C" for a column
// that is `text_column` (text, varchar, char). A null is never past.
std::string QueryPast(const std::string& url, const std::string& query, const std::string& column, const std::string& mark,
                      bool text_column = false);

// Runs `query` on the database at `url` and returns its rows. Types map
// from the database's: integers -> int64; real, double, numeric -> float64;
// text, varchar, char, name -> string; bool -> bool; timestamp, timestamptz,
// date -> timestamp (UTC; a date is its midnight). Any other type throws
// SourceError naming the column and the type; so does a value a column
// cannot hold (numeric 'NaN' is NaN; an infinite timestamp is an error).
// SQLite columns take their declared type (INTEGER, REAL, TEXT, BOOLEAN,
// TIMESTAMP, DATE...), else the type of their first non-null value.
columnar::TablePtr ReadQuery(const std::string& url, const std::string& query, const QueryOptions& options = {});

enum class WriteMode { kAppend, kReplace, kUpsert };

struct WriteOptions {
  WriteMode mode = WriteMode::kAppend;
  std::vector<std::string> key;  // upsert: the columns that identify a row
};

struct WriteResult {
  int64_t rows = 0;      // rows written (inserted or updated)
  bool created = false;  // the table did not exist and was created
};

// Whether `sql` holds anything but white space and comments (-- to the end
// of a line, /* ... */): an ingest's query that holds nothing is refused.
bool HasStatement(std::string_view sql);

// Whether `name` is a table name WriteTable takes: NAME or SCHEMA.NAME, each
// a letter or '_' then letters, digits or '_' (quoted as given, so case counts).
bool IsTableName(std::string_view name);

// Loads `data` into `table` of the database at `url` in one transaction, so a
// reader sees all of the load or none of it. A missing table is created from
// the data's schema (int64 bigint, float64 double precision, bool boolean,
// string text, timestamp timestamptz; with upsert the key is its primary
// key). append adds the rows; replace empties the table first; upsert updates
// the rows whose key matches and inserts the others (the key's values must
// not repeat within `data`: checked before anything is written). PostgreSQL
// rows travel by COPY. Throws SourceError (the database's message).
WriteResult WriteTable(const std::string& url, const std::string& table, const columnar::Table& data,
                       const WriteOptions& options);

}  // namespace pipeline::sources
