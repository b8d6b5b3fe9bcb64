#include "sources/database.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <memory>

#include "columnar/column.h"
#include "columnar/value_parse.h"
#include "sources/handles.h"

namespace pipeline::sources {
namespace {

using columnar::ColumnBuilder;
using columnar::DataType;

// Appends one value in the database's text form; false when it does not
// parse as the column's type.
bool AppendText(ColumnBuilder& b, std::string_view text) {
  switch (b.type()) {
    case DataType::kInt64: {
      int64_t v;
      if (!columnar::ParseInt64(text, &v)) return false;
      b.AppendInt(v);
      return true;
    }
    case DataType::kFloat64: {
      double v;
      if (!columnar::ParseFloat64(text, &v)) return false;
      b.AppendDouble(v);
      return true;
    }
    case DataType::kBool:
      if (text == "t" || text == "true" || text == "1") {
        b.AppendBool(true);
      } else if (text == "f" || text == "false" || text == "0") {
        b.AppendBool(false);
      } else {
        return false;
      }
      return true;
    case DataType::kTimestamp: {
      // timestamptz in a UTC session ends "+00" (PostgreSQL's short offset).
      if (text.size() > 3 && text.substr(text.size() - 3) == "+00") text.remove_suffix(3);
      int64_t v;
      if (!columnar::ParseTimestamp(text, &v)) return false;
      b.AppendInt(v);
      return true;
    }
    case DataType::kString:
      b.AppendString(text);
      return true;
  }
  return false;
}

[[noreturn]] void BadValue(const std::string& column, DataType type, std::string_view text) {
  throw SourceError("column '" + column + "': value '" + std::string(text.substr(0, 64)) + "' cannot be read as " +
                        std::string(columnar::TypeName(type)),
                    false);
}

// ---------------------------------------------------------------- PostgreSQL

std::optional<DataType> PostgresType(Oid oid) {
  switch (oid) {
    case 20: case 21: case 23: return DataType::kInt64;                    // int8, int2, int4
    case 700: case 701: case 1700: return DataType::kFloat64;              // float4, float8, numeric
    case 16: return DataType::kBool;
    case 19: case 25: case 1042: case 1043: return DataType::kString;      // name, text, bpchar, varchar
    case 1082: case 1114: case 1184: return DataType::kTimestamp;          // date, timestamp, timestamptz
    default: return std::nullopt;
  }
}


// A field of COPY's text format with its escapes undone.
std::string_view Unescape(std::string_view field, std::string& buffer) {
  if (field.find('\\') == std::string_view::npos) return field;
  buffer.clear();
  for (size_t i = 0; i < field.size(); ++i) {
    char ch = field[i];
    if (ch != '\\' || i + 1 == field.size()) {
      buffer += ch;
      continue;
    }
    char next = field[++i];
    switch (next) {
      case 'b': buffer += '\b'; break;
      case 'f': buffer += '\f'; break;
      case 'n': buffer += '\n'; break;
      case 'r': buffer += '\r'; break;
      case 't': buffer += '\t'; break;
      case 'v': buffer += '\v'; break;
      case 'x': {
        int value = 0, digits = 0;
        while (digits < 2 && i + 1 < field.size() && std::isxdigit(static_cast<unsigned char>(field[i + 1]))) {
          value = value * 16 + std::stoi(std::string(1, field[++i]), nullptr, 16);
          ++digits;
        }
        buffer += static_cast<char>(value);
        break;
      }
      default:
        if (next >= '0' && next <= '7') {
          int value = next - '0', digits = 1;
          while (digits < 3 && i + 1 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '7') {
            value = value * 8 + (field[++i] - '0');
            ++digits;
          }
          buffer += static_cast<char>(value);
        } else {
          buffer += next;  // \\ and any other escaped character
        }
    }
  }
  return buffer;
}

// The query's columns are named and typed by describing it (nothing runs),
// then its rows stream by COPY (query) TO STDOUT in a read-only UTC
// transaction: the protocol psql's \copy uses.
columnar::TablePtr ReadPostgres(const std::string& url, const std::string& query, const QueryOptions& options) {
  PgConn holder = ConnectPostgres(url);
  PGconn* conn = holder.get();
  const std::string body = QueryBody(query);
  PgExec(conn, "BEGIN READ ONLY", PGRES_COMMAND_OK, "");
  PgExec(conn, "SET LOCAL TIME ZONE 'UTC'", PGRES_COMMAND_OK, "");
  PgResult prepared(PQprepare(conn, "", body.c_str(), 0, nullptr));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) PgFail(conn, "the query failed: ");
  PgResult described(PQdescribePrepared(conn, ""));
  if (!described || PQresultStatus(described.get()) != PGRES_COMMAND_OK) PgFail(conn, "the query failed: ");
  columnar::Schema schema;
  for (int c = 0; c < PQnfields(described.get()); ++c) {
    const Oid oid = PQftype(described.get(), c);
    auto type = PostgresType(oid);
    if (!type) {
      std::string name = "oid " + std::to_string(oid);
      const std::string sql = "SELECT format_type(" + std::to_string(oid) + ", NULL)";
      PgResult r(PQexec(conn, sql.c_str()));
      if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1) name = PQgetvalue(r.get(), 0, 0);
      throw SourceError("column '" + std::string(PQfname(described.get(), c)) + "' has type " + name +
                            ", which ingest cannot read (int, real, numeric, text, bool, timestamp, date): "
                            "cast it in the query",
                        false);
    }
    schema.Add({PQfname(described.get(), c), *type});
  }
  auto table = std::make_shared<columnar::Table>(schema);
  const int columns = schema.num_fields();
  PgExec(conn, "COPY (" + body + ") TO STDOUT", PGRES_COPY_OUT, "the query failed: ");

  std::vector<std::unique_ptr<ColumnBuilder>> builders;
  auto fresh = [&] {
    builders.clear();
    for (int c = 0; c < columns; ++c) {
      builders.push_back(std::make_unique<ColumnBuilder>(schema.field(c).type));
      builders.back()->Reserve(options.batch_rows);
    }
  };
  int64_t rows = 0;
  auto flush = [&] {
    if (rows == 0) return;
    columnar::Batch batch;
    batch.num_rows = rows;
    for (auto& b : builders) batch.columns.push_back(b->Finish());
    table->AddBatch(std::move(batch));
    rows = 0;
    fresh();
  };
  fresh();
  std::string unescaped;
  for (;;) {
    char* line = nullptr;
    const int n = PQgetCopyData(conn, &line, 0);
    if (n == -1) break;  // done
    if (n < 0) PgFail(conn, "the query failed: ");
    const std::unique_ptr<char, void (*)(void*)> hold(line, PQfreemem);
    std::string_view text(line, static_cast<size_t>(n));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    size_t start = 0;
    for (int c = 0; c < columns; ++c) {
      size_t tab = c + 1 < columns ? text.find('\t', start) : text.size();
      if (tab == std::string_view::npos) tab = text.size();
      std::string_view field = text.substr(start, tab - start);
      start = tab + 1;
      if (field == "\\N") {
        builders[c]->AppendNull();
      } else {
        std::string_view value = Unescape(field, unescaped);
        if (!AppendText(*builders[c], value)) BadValue(schema.field(c).name, schema.field(c).type, value);
      }
    }
    if (++rows == options.batch_rows) {
      if (options.cancelled && options.cancelled()) throw SourceError("cancelled", false);
      flush();
    }
  }
  flush();
  PgResult end(PQgetResult(conn));
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK) PgFail(conn, "the query failed: ");
  while (PGresult* more = PQgetResult(conn)) PQclear(more);
  PgExec(conn, "COMMIT", PGRES_COMMAND_OK, "");
  return table;
}

// ---------------------------------------------------------------- SQLite

// A declared column type's affinity, as SQLite reads it (section 3.1 of its
// datatype document), with BOOL and DATE/TIME names as ours.
std::optional<DataType> DeclaredType(const char* declared) {
  if (!declared) return std::nullopt;
  std::string t = declared;
  for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (t.find("BOOL") != std::string::npos) return DataType::kBool;
  if (t.find("DATE") != std::string::npos || t.find("TIME") != std::string::npos) return DataType::kTimestamp;
  if (t.find("INT") != std::string::npos) return DataType::kInt64;
  if (t.find("CHAR") != std::string::npos || t.find("CLOB") != std::string::npos || t.find("TEXT") != std::string::npos) {
    return DataType::kString;
  }
  if (t.find("REAL") != std::string::npos || t.find("FLOA") != std::string::npos || t.find("DOUB") != std::string::npos ||
      t.find("NUMERIC") != std::string::npos || t.find("DECIMAL") != std::string::npos) {
    return DataType::kFloat64;
  }
  return std::nullopt;
}


columnar::TablePtr ReadSqlite(const std::string& url, const std::string& query, const QueryOptions& options) {
  const std::string path = url.substr(std::string_view("sqlite:").size());
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string why = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    throw SourceError("cannot open " + url + ": " + why, true);
  }
  std::unique_ptr<sqlite3, SqliteCloser> db(raw);
  sqlite3_busy_timeout(db.get(), 5000);
  sqlite3_stmt* raw_stmt = nullptr;
  const std::string body = QueryBody(query);
  if (sqlite3_prepare_v2(db.get(), body.c_str(), static_cast<int>(body.size()), &raw_stmt, nullptr) != SQLITE_OK) {
    throw SourceError("the query failed: " + std::string(sqlite3_errmsg(db.get())), false);
  }
  std::unique_ptr<sqlite3_stmt, SqliteCloser> stmt(raw_stmt);
  const int columns = sqlite3_column_count(stmt.get());
  std::vector<std::optional<DataType>> types(columns);
  for (int c = 0; c < columns; ++c) types[c] = DeclaredType(sqlite3_column_decltype(stmt.get(), c));

  // Rows are buffered per batch as text until every column's type is known
  // (an expression column takes the type of its first non-null value).
  std::shared_ptr<columnar::Table> table;
  std::vector<std::vector<std::optional<std::string>>> pending(columns);
  int64_t rows = 0;
  auto flush = [&] {
    if (!table) {
      columnar::Schema schema;
      for (int c = 0; c < columns; ++c) schema.Add({sqlite3_column_name(stmt.get(), c), types[c].value_or(DataType::kString)});
      table = std::make_shared<columnar::Table>(schema);
    }
    if (rows == 0) return;
    columnar::Batch batch;
    batch.num_rows = rows;
    for (int c = 0; c < columns; ++c) {
      const columnar::Field& field = table->schema().field(c);
      ColumnBuilder b(field.type);
      b.Reserve(rows);
      for (const auto& value : pending[c]) {
        if (!value) {
          b.AppendNull();
        } else if (!AppendText(b, *value)) {
          BadValue(field.name, field.type, *value);
        }
      }
      batch.columns.push_back(b.Finish());
      pending[c].clear();
    }
    table->AddBatch(std::move(batch));
    rows = 0;
  };
  for (;;) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) throw SourceError("the query failed: " + std::string(sqlite3_errmsg(db.get())), false);
    for (int c = 0; c < columns; ++c) {
      const int kind = sqlite3_column_type(stmt.get(), c);
      if (kind == SQLITE_NULL) {
        pending[c].emplace_back();
        continue;
      }
      if (!types[c]) {
        types[c] = kind == SQLITE_INTEGER ? DataType::kInt64 : kind == SQLITE_FLOAT ? DataType::kFloat64 : DataType::kString;
      }
      if (kind == SQLITE_BLOB) {
        throw SourceError("column '" + std::string(sqlite3_column_name(stmt.get(), c)) +
                              "' holds a BLOB, which ingest cannot read: cast it in the query",
                          false);
      }
      const char* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), c));
      pending[c].emplace_back(std::string(text, sqlite3_column_bytes(stmt.get(), c)));
    }
    if (++rows == options.batch_rows) {
      if (options.cancelled && options.cancelled()) throw SourceError("cancelled", false);
      flush();
    }
  }
  flush();
  return table;
}

}  // namespace

namespace {

void CheckSecretsFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK) != 0) {
    throw SourceError("cannot read the secrets file " + path, false);
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    throw SourceError("the secrets file " + path + " may be read by others: chmod 600 it (libpq ignores it otherwise)",
                      false);
  }
}

}  // namespace

void UseSecretsFile(const std::string& path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).string();
  CheckSecretsFile(absolute);
  ::setenv("PIPE_SECRETS", absolute.c_str(), 1);
}

std::string SecretsFile() {
  const char* env = std::getenv("PIPE_SECRETS");
  if (!env || !*env) return "";
  CheckSecretsFile(env);
  return env;
}

namespace {

// The rest of the secrets file's first line that starts with `prefix`
// (trailing blanks dropped), or nullopt.
std::optional<std::string> SecretLine(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::string value = line.substr(prefix.size());
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ' || value.back() == '\t')) value.pop_back();
    return value;
  }
  return std::nullopt;
}

}  // namespace

std::string MaskKey() {
  const std::string path = SecretsFile();
  if (path.empty()) return "";
  std::optional<std::string> key = SecretLine(path, "mask_key:");
  if (!key) return "";
  if (key->size() < 16) {
    throw SourceError("the mask_key in the secrets file " + path + " is shorter than 16 characters", false);
  }
  return *key;
}

std::optional<std::string> NamedSecret(const std::string& kind, const std::string& name) {
  const std::string path = SecretsFile();
  if (path.empty()) return std::nullopt;
  return SecretLine(path, kind + ":" + name + ":");
}

PgConn ConnectPostgres(const std::string& url) {
  const std::string secrets = SecretsFile();
  const char* keys[] = {"dbname", secrets.empty() ? nullptr : "passfile", nullptr};
  const char* values[] = {url.c_str(), secrets.empty() ? nullptr : secrets.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw SourceError("cannot connect to " + Redacted(url) + ": " +
                          Trim(conn ? PQerrorMessage(conn.get()) : "out of memory"),
                      true);
  }
  return conn;
}

std::optional<Kind> KindOf(std::string_view url) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return Kind::kPostgres;
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) return Kind::kSqlite;
  return std::nullopt;
}

bool HasPassword(std::string_view url) { return Redacted(url) != url; }

// By hand rather than std::regex, whose backtracking recurses per character:
// a long URL in a DAG file must not exhaust the stack.
std::string Redacted(std::string_view url) {
  std::string out(url);
  if (KindOf(url) != Kind::kPostgres) return out;
  // postgresql://USER:PASSWORD@HOST...: the userinfo ends at the authority's last '@'.
  const size_t start = out.find("://") + 3;
  const size_t authority_end = std::min(out.find_first_of("/?", start), out.size());
  const size_t at = out.rfind('@', authority_end);
  if (at != std::string::npos && at >= start) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=VALUE&... (also after '&').
  for (size_t pos = out.find('?'); pos != std::string::npos; pos = out.find('&', pos + 1)) {
    if (out.compare(pos + 1, 9, "password=") != 0) continue;
    const size_t value = pos + 10;
    const size_t end = std::min(out.find('&', value), out.size());
    out.replace(value, end - value, "***");
  }
  return out;
}

std::string QueryPast(const std::string& query, const std::string& column, const std::string& mark) {
  std::string literal = "'";
  for (char ch : mark) literal += ch == '\'' ? std::string("''") : std::string(1, ch);
  return "SELECT * FROM (" + QueryBody(query) + ") AS pipe_incremental WHERE " + QuoteIdentifier(column) + " > " + literal +
         "'";
}

columnar::TablePtr ReadQuery(const std::string& url, const std::string& query, const QueryOptions& options) {
  auto kind = KindOf(url);
  if (!kind) throw SourceError("unknown database URL '" + Redacted(url) + "' (postgresql://... or sqlite:PATH)", false);
  return *kind == Kind::kPostgres ? ReadPostgres(url, query, options) : ReadSqlite(url, query, options);
}

}  // namespace pipeline::sources
