// WriteTable: a table into PostgreSQL (COPY through libpq) or SQLite
// (prepared statements), in one transaction.
#include "sources/database.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <cctype>
#include <unordered_set>

#include "columnar/column.h"
#include "columnar/value_parse.h"
#include "sources/handles.h"

namespace pipeline::sources {
namespace {

using columnar::DataType;

// "schema.name" -> "\"schema\".\"name\"".
std::string QuoteTable(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return QuoteIdentifier(name);
  return QuoteIdentifier(name.substr(0, dot)) + "." + QuoteIdentifier(name.substr(dot + 1));
}

const char* PostgresTypeOf(DataType type) {
  switch (type) {
    case DataType::kInt64: return "bigint";
    case DataType::kFloat64: return "double precision";
    case DataType::kBool: return "boolean";
    case DataType::kString: return "text";
    case DataType::kTimestamp: return "timestamptz";
  }
  return "text";
}

const char* SqliteTypeOf(DataType type) {
  switch (type) {
    case DataType::kInt64: return "INTEGER";
    case DataType::kFloat64: return "REAL";
    case DataType::kBool: return "BOOLEAN";
    case DataType::kString: return "TEXT";
    case DataType::kTimestamp: return "TIMESTAMP";
  }
  return "TEXT";
}

// A value as text: COPY's text format for PostgreSQL (escaped), plain for
// SQLite's bindings. Not for nulls.
std::string ValueText(const columnar::Column& c, int64_t row) {
  switch (c.type()) {
    case DataType::kInt64: return std::to_string(c.ints()[row]);
    case DataType::kFloat64: {
      const double v = c.doubles()[row];
      if (std::isnan(v)) return "NaN";
      if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
      char buf[32];
      auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;  // the shortest text that reads back exactly
      return std::string(buf, end);
    }
    case DataType::kBool: return c.bools()[row] ? "true" : "false";
    case DataType::kTimestamp: return columnar::FormatTimestamp(c.ints()[row]) + "+00";
    case DataType::kString: return std::string(c.StringAt(row));
  }
  return "";
}

void AppendCopyField(std::string& line, const columnar::Column& c, int64_t row) {
  if (c.IsNull(row)) {
    line += "\\N";
    return;
  }
  if (c.type() != DataType::kString) {
    line += ValueText(c, row);
    return;
  }
  for (char ch : c.StringAt(row)) {
    switch (ch) {
      case '\\': line += "\\\\"; break;
      case '\t': line += "\\t"; break;
      case '\n': line += "\\n"; break;
      case '\r': line += "\\r"; break;
      default: line += ch;
    }
  }
}

// The key's values must identify one row each of the load.
void CheckKeyUnique(const columnar::Table& data, const std::vector<std::string>& key) {
  std::vector<int> idx;
  for (const std::string& k : key) {
    auto i = data.schema().IndexOf(k);
    if (!i) throw SourceError("key column '" + k + "' is not in the table", false);
    idx.push_back(*i);
  }
  std::unordered_set<std::string> seen;
  for (const columnar::Batch& b : data.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      std::string k, shown;
      for (size_t j = 0; j < idx.size(); ++j) {
        const columnar::Column& c = *b.columns[idx[j]];
        std::string v = c.IsNull(row) ? "null" : ValueText(c, row);
        k += v + '\x1f';
        shown += (j ? ", " : "") + key[j] + " = " + v;
      }
      if (!seen.insert(k).second) throw SourceError("the rows to upsert hold the key (" + shown + ") twice", false);
    }
  }
}

// ---------------------------------------------------------------- PostgreSQL



// PostgreSQL's type of each column of ours, for binary COPY.
Oid OidOf(DataType type) {
  switch (type) {
    case DataType::kInt64: return 20;       // int8
    case DataType::kFloat64: return 701;    // float8
    case DataType::kBool: return 16;
    case DataType::kString: return 25;      // text
    case DataType::kTimestamp: return 1184; // timestamptz
  }
  return 0;
}

// Whether every column of `data` has, in table `quoted` (the name as
// QuoteTable writes it: case counts), exactly the type binary COPY writes
// (else the rows go as text, which PostgreSQL casts).
bool BinaryFits(PGconn* conn, const std::string& quoted, const columnar::Table& data) {
  const char* param = quoted.c_str();
  PgResult r(PQexecParams(conn,
                          "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
                          "AND NOT attisdropped",
                          1, nullptr, &param, nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return false;
  std::map<std::string, Oid> types;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    types[PQgetvalue(r.get(), i, 0)] = static_cast<Oid>(std::strtoul(PQgetvalue(r.get(), i, 1), nullptr, 10));
  }
  for (const columnar::Field& f : data.schema().fields()) {
    auto it = types.find(f.name);
    if (it == types.end() || it->second != OidOf(f.type)) return false;
  }
  return true;
}

template <typename T>
void PutBig(std::string& out, T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  for (size_t i = sizeof(T); i-- > 0;) out += static_cast<char>(bytes[i]);
}

// COPY's binary format: a header, per row a field count and each field's
// length (-1: null) and big-endian bytes, a trailer. No text to print here
// or to parse in the server.
void AppendBinaryRow(std::string& out, const columnar::Batch& b, int64_t row) {
  constexpr int64_t kPostgresEpochMicros = 946684800LL * 1000000;  // 2000-01-01 in Unix microseconds
  PutBig<int16_t>(out, static_cast<int16_t>(b.columns.size()));
  for (const columnar::ColumnPtr& column : b.columns) {
    const columnar::Column& c = *column;
    if (c.IsNull(row)) {
      PutBig<int32_t>(out, -1);
      continue;
    }
    switch (c.type()) {
      case DataType::kInt64:
        PutBig<int32_t>(out, 8);
        PutBig<int64_t>(out, c.ints()[row]);
        break;
      case DataType::kTimestamp:
        PutBig<int32_t>(out, 8);
        PutBig<int64_t>(out, c.ints()[row] - kPostgresEpochMicros);
        break;
      case DataType::kFloat64: {
        uint64_t bits;
        const double v = c.doubles()[row];
        std::memcpy(&bits, &v, 8);
        PutBig<int32_t>(out, 8);
        PutBig<uint64_t>(out, bits);
        break;
      }
      case DataType::kBool:
        PutBig<int32_t>(out, 1);
        out += static_cast<char>(c.bools()[row] ? 1 : 0);
        break;
      case DataType::kString: {
        std::string_view text = c.StringAt(row);
        PutBig<int32_t>(out, static_cast<int32_t>(text.size()));
        out.append(text);
        break;
      }
    }
  }
}

void CopyInto(PGconn* conn, const std::string& target, const columnar::Table& data, bool binary) {
  std::string columns;
  for (const columnar::Field& f : data.schema().fields()) columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(f.name);
  PgExec(conn, "COPY " + target + " (" + columns + ") FROM STDIN" + (binary ? " WITH (FORMAT binary)" : ""), PGRES_COPY_IN);
  std::string chunk;
  if (binary) chunk.append("PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0", 19);  // signature, flags, extension length
  auto flush = [&] {
    if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      throw SourceError(Trim(PQerrorMessage(conn)), PQstatus(conn) != CONNECTION_OK);
    }
    chunk.clear();
  };
  for (const columnar::Batch& b : data.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      if (binary) {
        AppendBinaryRow(chunk, b, row);
      } else {
        for (size_t c = 0; c < b.columns.size(); ++c) {
          if (c) chunk += '\t';
          AppendCopyField(chunk, *b.columns[c], row);
        }
        chunk += '\n';
      }
      if (chunk.size() > (1 << 20)) flush();
    }
  }
  if (binary) PutBig<int16_t>(chunk, -1);  // the trailer
  if (!chunk.empty()) flush();
  if (PQputCopyEnd(conn, nullptr) != 1) throw SourceError(Trim(PQerrorMessage(conn)), true);
  PgResult end(PQgetResult(conn));
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK) throw SourceError(Trim(PQerrorMessage(conn)), false);
  while (PGresult* more = PQgetResult(conn)) PQclear(more);
}

WriteResult WritePostgres(const std::string& url, const std::string& name, const columnar::Table& data,
                          const WriteOptions& options) {
  PgConn conn = ConnectPostgres(url);
  PGconn* c = conn.get();
  WriteResult result;
  const std::string table = QuoteTable(name);
  // Any throw below leaves the transaction open; closing the connection
  // rolls it back.
  PgExec(c, "BEGIN");
  PgExec(c, "SET LOCAL TIME ZONE 'UTC'");
  {
    const char* param = table.c_str();  // quoted: "Weird_Table" is not weird_table
    PgResult r(PQexecParams(c, "SELECT to_regclass($1) IS NULL", 1, nullptr, &param, nullptr, nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw SourceError(Trim(PQerrorMessage(c)), false);
    result.created = std::string(PQgetvalue(r.get(), 0, 0)) == "t";
  }
  if (result.created) {
    std::string columns;
    for (const columnar::Field& f : data.schema().fields()) {
      columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(f.name) + " " + PostgresTypeOf(f.type);
    }
    if (options.mode == WriteMode::kUpsert) {
      // Unique, not a primary key: a key column may be null (nulls match
      // nulls, as the update below matches them), which a primary key's
      // NOT NULL would refuse. PostgreSQL 15 can say so.
      std::string key;
      for (const std::string& k : options.key) key += (key.empty() ? "" : ", ") + QuoteIdentifier(k);
      columns += std::string(", UNIQUE ") + (PQserverVersion(c) >= 150000 ? "NULLS NOT DISTINCT " : "") + "(" + key + ")";
    }
    PgExec(c, "CREATE TABLE " + table + " (" + columns + ")");
  }
  if (options.mode == WriteMode::kReplace && !result.created) PgExec(c, "DELETE FROM " + table);
  const bool binary = BinaryFits(c, table, data);
  if (options.mode != WriteMode::kUpsert || result.created) {
    CopyInto(c, table, data, binary);
  } else {
    // Into a temporary table, then update the matching rows and insert the rest.
    PgExec(c, "CREATE TEMP TABLE pipe_load (LIKE " + table + ") ON COMMIT DROP");
    CopyInto(c, "pipe_load", data, binary);
    std::string match, set, columns, from;
    for (const std::string& k : options.key) {
      match += (match.empty() ? "" : " AND ") + std::string("t.") + QuoteIdentifier(k) + " IS NOT DISTINCT FROM l." + QuoteIdentifier(k);
    }
    for (const columnar::Field& f : data.schema().fields()) {
      columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(f.name);
      from += (from.empty() ? "" : ", ") + std::string("l.") + QuoteIdentifier(f.name);
      if (std::find(options.key.begin(), options.key.end(), f.name) == options.key.end()) {
        set += (set.empty() ? "" : ", ") + QuoteIdentifier(f.name) + " = l." + QuoteIdentifier(f.name);
      }
    }
    if (!set.empty()) PgExec(c, "UPDATE " + table + " AS t SET " + set + " FROM pipe_load AS l WHERE " + match);
    PgExec(c, "INSERT INTO " + table + " (" + columns + ") SELECT " + from + " FROM pipe_load AS l WHERE NOT EXISTS (SELECT 1 FROM " +
                table + " AS t WHERE " + match + ")");
  }
  PgExec(c, "COMMIT");
  result.rows = data.num_rows();
  return result;
}

// ---------------------------------------------------------------- SQLite


void SqliteExec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    throw SourceError(message, false);
  }
}

std::unique_ptr<sqlite3_stmt, SqliteCloser> Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) throw SourceError(sqlite3_errmsg(db), false);
  return std::unique_ptr<sqlite3_stmt, SqliteCloser>(stmt);
}

void Bind(sqlite3_stmt* stmt, int at, const columnar::Column& c, int64_t row) {
  if (c.IsNull(row)) {
    sqlite3_bind_null(stmt, at);
    return;
  }
  switch (c.type()) {
    case DataType::kInt64: sqlite3_bind_int64(stmt, at, c.ints()[row]); break;
    case DataType::kFloat64: sqlite3_bind_double(stmt, at, c.doubles()[row]); break;
    case DataType::kBool: sqlite3_bind_int(stmt, at, c.bools()[row] ? 1 : 0); break;
    case DataType::kTimestamp: {
      std::string text = columnar::FormatTimestamp(c.ints()[row]);
      sqlite3_bind_text(stmt, at, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      break;
    }
    case DataType::kString: {
      std::string_view text = c.StringAt(row);
      sqlite3_bind_text(stmt, at, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      break;
    }
  }
}

WriteResult WriteSqlite(const std::string& url, const std::string& name, const columnar::Table& data,
                        const WriteOptions& options) {
  const std::string path = url.substr(std::string_view("sqlite:").size());
  // A new database file in a new folder, as file exports make theirs.
  if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    throw SourceError("cannot open " + url + ": " + why, true);
  }
  std::unique_ptr<sqlite3, SqliteCloser> db(raw);
  sqlite3_busy_timeout(db.get(), 5000);
  const std::string table = QuoteTable(name);
  WriteResult result;
  SqliteExec(db.get(), "BEGIN IMMEDIATE");  // rolled back by closing unless committed
  {
    auto exists = Prepare(db.get(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    const std::string bare = name.substr(name.find('.') == std::string::npos ? 0 : name.find('.') + 1);
    sqlite3_bind_text(exists.get(), 1, bare.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(exists.get());
    result.created = sqlite3_column_int(exists.get(), 0) == 0;
  }
  const auto& fields = data.schema().fields();
  if (result.created) {
    std::string columns;
    // A lone int64 key declared INTEGER would be the table's rowid, which
    // turns a null key into a new number at each insert: INT has the same
    // affinity and keeps nulls (which the upsert matches as equal).
    const bool rowid_key = options.mode == WriteMode::kUpsert && options.key.size() == 1;
    for (const columnar::Field& f : fields) {
      const bool lone_key = rowid_key && f.name == options.key[0] && f.type == DataType::kInt64;
      columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(f.name) + " " + (lone_key ? "INT" : SqliteTypeOf(f.type));
    }
    if (options.mode == WriteMode::kUpsert) {
      std::string key;
      for (const std::string& k : options.key) key += (key.empty() ? "" : ", ") + QuoteIdentifier(k);
      columns += ", PRIMARY KEY (" + key + ")";
    }
    SqliteExec(db.get(), "CREATE TABLE " + table + " (" + columns + ")");
  }
  if (options.mode == WriteMode::kReplace) SqliteExec(db.get(), "DELETE FROM " + table);
  std::string columns, marks, set, match;
  for (size_t i = 0; i < fields.size(); ++i) {
    columns += (i ? ", " : "") + QuoteIdentifier(fields[i].name);
    marks += i ? ", ?" : "?";
  }
  auto insert = Prepare(db.get(), "INSERT INTO " + table + " (" + columns + ") VALUES (" + marks + ")");
  std::unique_ptr<sqlite3_stmt, SqliteCloser> update;
  std::vector<int> order;  // update's parameters: the other columns, then the key
  if (options.mode == WriteMode::kUpsert) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (std::find(options.key.begin(), options.key.end(), fields[i].name) != options.key.end()) continue;
      set += (set.empty() ? "" : ", ") + QuoteIdentifier(fields[i].name) + " = ?";
      order.push_back(static_cast<int>(i));
    }
    for (const std::string& k : options.key) {
      match += (match.empty() ? "" : " AND ") + QuoteIdentifier(k) + " IS ?";
      order.push_back(*data.schema().IndexOf(k));
    }
    // Only key columns: nothing to update, a present row stays as it is.
    update = Prepare(db.get(), set.empty() ? "SELECT 1 FROM " + table + " WHERE " + match
                                           : "UPDATE " + table + " SET " + set + " WHERE " + match);
  }
  for (const columnar::Batch& b : data.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      if (update) {
        sqlite3_reset(update.get());
        for (size_t j = 0; j < order.size(); ++j) Bind(update.get(), static_cast<int>(j) + 1, *b.columns[order[j]], row);
        const int rc = sqlite3_step(update.get());
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw SourceError(sqlite3_errmsg(db.get()), false);
        if (set.empty() ? rc == SQLITE_ROW : sqlite3_changes(db.get()) > 0) continue;
      }
      sqlite3_reset(insert.get());
      for (size_t c = 0; c < b.columns.size(); ++c) Bind(insert.get(), static_cast<int>(c) + 1, *b.columns[c], row);
      if (sqlite3_step(insert.get()) != SQLITE_DONE) throw SourceError(sqlite3_errmsg(db.get()), false);
    }
  }
  SqliteExec(db.get(), "COMMIT");
  result.rows = data.num_rows();
  return result;
}

}  // namespace

bool IsTableName(std::string_view name) {
  auto part = [](std::string_view p) {
    if (p.empty() || p.size() > 63 || std::isdigit(static_cast<unsigned char>(p[0]))) return false;
    return std::all_of(p.begin(), p.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
  };
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos) return part(name);
  return part(name.substr(0, dot)) && part(name.substr(dot + 1));
}

WriteResult WriteTable(const std::string& url, const std::string& table, const columnar::Table& data,
                       const WriteOptions& options) {
  auto kind = KindOf(url);
  if (!kind) throw SourceError("unknown database URL '" + Redacted(url) + "' (postgresql://... or sqlite:PATH)", false);
  if (!IsTableName(table)) throw SourceError("invalid table name '" + table + "' (NAME or SCHEMA.NAME)", false);
  if (options.mode == WriteMode::kUpsert) {
    if (options.key.empty()) throw SourceError("upsert needs 'key' (the columns that identify a row)", false);
    CheckKeyUnique(data, options.key);
  }
  return *kind == Kind::kPostgres ? WritePostgres(url, table, data, options) : WriteSqlite(url, table, data, options);
}

}  // namespace pipeline::sources
