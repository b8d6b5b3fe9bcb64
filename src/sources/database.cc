#include "sources/database.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "columnar/column.h"
#include "columnar/value_parse.h"
#include "sources/handles.h"

namespace pipeline::sources {
namespace {

// A query may name two columns alike (SELECT 1 AS a, 2 AS a): the second
// gets a suffix, as CSV headers and DuckDB do (a, a_1, a_2).
std::string UniqueName(const columnar::Schema& schema, const std::string& name) {
  std::string unique = name;
  for (int k = 1; schema.IndexOf(unique); ++k) unique = name + "_" + std::to_string(k);
  return unique;
}

}  // namespace

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
// Prepares `body` as the unnamed statement and describes its result.
PgResult DescribePostgres(PGconn* conn, const std::string& body) {
  PgResult prepared(PQprepare(conn, "", body.c_str(), 0, nullptr));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) PgFail(conn, "the query failed: ");
  PgResult described(PQdescribePrepared(conn, ""));
  if (!described || PQresultStatus(described.get()) != PGRES_COMMAND_OK) PgFail(conn, "the query failed: ");
  return described;
}

columnar::TablePtr ReadPostgres(const std::string& url, const std::string& query, const QueryOptions& options) {
  PgConn holder = ConnectPostgres(url);
  PGconn* conn = holder.get();
  PgExec(conn, "BEGIN READ ONLY", PGRES_COMMAND_OK, "");
  PgExec(conn, "SET LOCAL TIME ZONE 'UTC'", PGRES_COMMAND_OK, "");
  std::string run = query;
  if (options.past) {
    // The mark's column typed first: text compares in byte order, as the
    // mark was chosen, not in the column's collation (where 'B' > 'a' would
    // read a row again, or skip one).
    PgResult base = DescribePostgres(conn, QueryBody(query));
    bool text = false;
    for (int c = 0; c < PQnfields(base.get()); ++c) {
      if (PQfname(base.get(), c) != options.past->column) continue;
      const Oid oid = PQftype(base.get(), c);
      text = oid == 25 || oid == 1042 || oid == 1043;  // text, bpchar, varchar (name is "C" already)
    }
    run = QueryPast(url, query, options.past->column, options.past->mark, text);
  }
  if (options.executed) *options.executed = run;
  const std::string body = QueryBody(run);
  PgResult described = DescribePostgres(conn, body);
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
    schema.Add({UniqueName(schema, PQfname(described.get(), c)), *type});
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
  if (!raw_stmt) throw SourceError("the query holds no statement (only white space and comments)", false);
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
      for (int c = 0; c < columns; ++c) {
        schema.Add({UniqueName(schema, sqlite3_column_name(stmt.get(), c)), types[c].value_or(DataType::kString)});
      }
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
      if (kind == SQLITE_FLOAT) {  // SQLite's own text has 15 digits: the shortest exact form instead
        char buf[32];
        pending[c].emplace_back(std::string(buf, std::to_chars(buf, buf + sizeof buf, sqlite3_column_double(stmt.get(), c)).ptr));
        continue;
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

bool HasStatement(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
    } else if (sql.compare(i, 2, "--") == 0) {
      const size_t end = sql.find('\n', i);
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.compare(i, 2, "/*") == 0) {
      const size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) return true;  // unterminated: the database says so
      i = end + 2;
    } else {
      return true;
    }
  }
  return false;
}

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

namespace {

// The fields of a password-file line split at unescaped ':' ("\:" is a
// colon, "\\" a backslash), as libpq reads them.
std::vector<std::string> PassFields(const std::string& line) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      fields.back() += line[++i];
    } else if (line[i] == ':') {
      fields.emplace_back();
    } else {
      fields.back() += line[i];
    }
  }
  return fields;
}

// The password the secrets file (libpq's password-file format) holds for
// the connection `url` names, matched as libpq matches it: host (a socket
// directory is "localhost"), port, database and user, each field '*' or
// equal; the first line that matches. The connection's own values are
// libpq's (the URL's, else PGHOST, PGPORT, PGUSER... and its defaults).
std::optional<std::string> PasswordFileLine(const std::string& path, const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* given = PQconninfoParse(url.c_str(), &error);
  if (!given) {
    PQfreemem(error);
    return std::nullopt;
  }
  PQconninfoOption* defaults = PQconndefaults();
  auto value = [&](const char* key) -> std::string {
    for (PQconninfoOption* o = given; o->keyword; ++o) {
      if (std::strcmp(o->keyword, key) == 0 && o->val && *o->val) return o->val;
    }
    for (PQconninfoOption* o = defaults; o && o->keyword; ++o) {
      if (std::strcmp(o->keyword, key) == 0 && o->val && *o->val) return o->val;
    }
    return "";
  };
  std::string host = value("host"), port = value("port"), user = value("user"), dbname = value("dbname");
  PQconninfoFree(given);
  PQconninfoFree(defaults);
  if (host.find(',') != std::string::npos) host = host.substr(0, host.find(','));
  if (port.find(',') != std::string::npos) port = port.substr(0, port.find(','));
  if (host.empty() || host[0] == '/') host = "localhost";
  if (port.empty()) port = "5432";
  if (dbname.empty()) dbname = user;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f = PassFields(line);
    if (f.size() < 5) continue;  // not a connection (mask_key:, named secrets)
    auto match = [](const std::string& pattern, const std::string& v) { return pattern == "*" || pattern == v; };
    if (match(f[0], host) && match(f[1], port) && match(f[2], dbname) && match(f[3], user)) {
      std::string password = f[4];
      for (size_t i = 5; i < f.size(); ++i) password += ":" + f[i];  // an unescaped ':' in the password
      return password;
    }
  }
  return std::nullopt;
}

}  // namespace

PgConn ConnectPostgres(const std::string& url) {
  const std::string secrets = SecretsFile();
  // With a secrets file, its line wins: libpq would take PGPASSWORD before
  // its password file, so the line is found here and given as the password.
  std::vector<const char*> keys = {"dbname"}, values = {url.c_str()};
  std::optional<std::string> password;
  if (!secrets.empty()) {
    keys.push_back("passfile");
    values.push_back(secrets.c_str());
    password = PasswordFileLine(secrets, url);
    if (password && !password->empty()) {
      keys.push_back("password");
      values.push_back(password->c_str());
    }
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConn conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw SourceError("cannot connect to " + Redacted(url) + ": " +
                          Trim(conn ? PQerrorMessage(conn.get()) : "out of memory"),
                      true);
  }
  // What the values read as text depend on, whatever the role's or the
  // database's defaults (or PGOPTIONS) say: every digit of a double, ISO
  // dates.
  PgResult set(PQexec(conn.get(), "SET extra_float_digits = 3; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'"));
  if (!set || PQresultStatus(set.get()) != PGRES_COMMAND_OK) {
    throw SourceError("cannot set up the session on " + Redacted(url) + ": " + Trim(PQerrorMessage(conn.get())), true);
  }
  return conn;
}

std::optional<Kind> KindOf(std::string_view url) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return Kind::kPostgres;
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) return Kind::kSqlite;
  return std::nullopt;
}

bool HasPassword(std::string_view url) { return Redacted(url) != url; }

namespace {

// A URL query parameter's name percent-decoded and in lower case.
std::string QueryName(std::string_view raw) {
  std::string name;
  for (size_t i = 0; i < raw.size(); ++i) {
    char ch = raw[i];
    if (ch == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
      ch = static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    }
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return name;
}

}  // namespace

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
  // ...?password=VALUE&... (also after '&'), the name as libpq decodes it
  // (%70assword is password) and in any case.
  for (size_t pos = out.find('?'); pos != std::string::npos; pos = out.find('&', pos + 1)) {
    const size_t equals = out.find('=', pos + 1);
    const size_t next = out.find('&', pos + 1);
    if (equals == std::string::npos || (next != std::string::npos && next < equals)) continue;
    if (QueryName(std::string_view(out).substr(pos + 1, equals - pos - 1)) != "password") continue;
    const size_t end = std::min(next, out.size());
    out.replace(equals + 1, end - equals - 1, "***");
  }
  return out;
}

std::string QueryPast(const std::string& url, const std::string& query, const std::string& column, const std::string& mark,
                      bool text_column) {
  std::string literal = "'";
  for (char ch : mark) literal += ch == '\'' ? std::string("''") : std::string(1, ch);
  literal += "'";
  const std::string c = QuoteIdentifier(column);
  // PostgreSQL reads the literal as the column's type (a collation on a
  // number would be an error, hence `text_column`).
  std::string past = c + " > " + literal + (text_column ? " COLLATE \"C\"" : "");
  if (KindOf(url) == Kind::kSqlite) {
    // SQLite has no column type to read it as (an expression has no
    // affinity, and a number ranks below any text): numbers compare as
    // numbers, text as text, byte by byte (a NOCASE column's own collation
    // yields to the explicit one).
    past = "(CASE WHEN typeof(" + c + ") IN ('integer', 'real') THEN " + c + " > CAST(" + literal + " AS NUMERIC) ELSE " +
           c + " > " + literal + " COLLATE BINARY END)";
  }
  return "SELECT * FROM (" + QueryBody(query) + ") AS pipe_incremental WHERE " + past;
}

columnar::TablePtr ReadQuery(const std::string& url, const std::string& query, const QueryOptions& options) {
  auto kind = KindOf(url);
  if (!kind) throw SourceError("unknown database URL '" + Redacted(url) + "' (postgresql://... or sqlite:PATH)", false);
  if (*kind == Kind::kPostgres) return ReadPostgres(url, query, options);
  std::string run = options.past ? QueryPast(url, query, options.past->column, options.past->mark) : query;
  if (options.executed) *options.executed = run;
  return ReadSqlite(url, run, options);
}

}  // namespace pipeline::sources
