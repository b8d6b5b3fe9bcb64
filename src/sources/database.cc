#include "sources/database.h"

#include <sqlite3.h>

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <regex>

#include "columnar/column.h"
#include "columnar/value_parse.h"

namespace pipeline::sources {
namespace {

using columnar::ColumnBuilder;
using columnar::DataType;

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The query as a cursor's body: without the trailing semicolons people write.
std::string Body(const std::string& query) {
  std::string q = query;
  while (!q.empty() && (q.back() == ';' || std::isspace(static_cast<unsigned char>(q.back())))) q.pop_back();
  return q;
}

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

std::optional<DataType> PostgresType(pqxx::oid oid) {
  switch (oid) {
    case 20: case 21: case 23: return DataType::kInt64;                    // int8, int2, int4
    case 700: case 701: case 1700: return DataType::kFloat64;              // float4, float8, numeric
    case 16: return DataType::kBool;
    case 19: case 25: case 1042: case 1043: return DataType::kString;      // name, text, bpchar, varchar
    case 1082: case 1114: case 1184: return DataType::kTimestamp;          // date, timestamp, timestamptz
    default: return std::nullopt;
  }
}

columnar::TablePtr ReadPostgres(const std::string& url, const std::string& query, const QueryOptions& options) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
  } catch (const pqxx::broken_connection& e) {
    throw SourceError("cannot connect to " + Redacted(url) + ": " + Trim(e.what()), true);
  } catch (const std::exception& e) {
    throw SourceError("cannot connect to " + Redacted(url) + ": " + Trim(e.what()), false);
  }
  try {
    pqxx::work tx(*conn);
    tx.exec0("SET TRANSACTION READ ONLY");
    tx.exec0("SET LOCAL TIME ZONE 'UTC'");
    tx.exec0("DECLARE pipe_ingest NO SCROLL CURSOR FOR " + Body(query));
    const std::string fetch = "FETCH FORWARD " + std::to_string(options.batch_rows) + " FROM pipe_ingest";
    std::shared_ptr<columnar::Table> table;
    for (;;) {
      if (options.cancelled && options.cancelled()) throw SourceError("cancelled", false);
      pqxx::result r = tx.exec(fetch);
      if (!table) {  // the first answer names the columns and their types
        columnar::Schema schema;
        for (pqxx::row::size_type c = 0; c < r.columns(); ++c) {
          auto type = PostgresType(r.column_type(c));
          if (!type) {
            std::string name = tx.exec_params1("SELECT format_type($1, NULL)", r.column_type(c))[0].as<std::string>();
            throw SourceError("column '" + std::string(r.column_name(c)) + "' has type " + name +
                                  ", which ingest cannot read (int, real, numeric, text, bool, timestamp, date): "
                                  "cast it in the query",
                              false);
          }
          schema.Add({r.column_name(c), *type});
        }
        table = std::make_shared<columnar::Table>(schema);
      }
      const columnar::Schema& schema = table->schema();
      if (r.empty()) break;
      columnar::Batch batch;
      batch.num_rows = static_cast<int64_t>(r.size());
      for (int c = 0; c < schema.num_fields(); ++c) {
        ColumnBuilder b(schema.field(c).type);
        b.Reserve(batch.num_rows);
        for (const pqxx::row& row : r) {
          const pqxx::field f = row[c];
          if (f.is_null()) {
            b.AppendNull();
          } else if (!AppendText(b, std::string_view(f.c_str(), f.size()))) {
            BadValue(schema.field(c).name, schema.field(c).type, f.c_str());
          }
        }
        batch.columns.push_back(b.Finish());
      }
      table->AddBatch(std::move(batch));
      if (static_cast<int64_t>(r.size()) < options.batch_rows) break;
    }
    return table;
  } catch (const pqxx::broken_connection& e) {
    throw SourceError("lost the connection to " + Redacted(url) + ": " + Trim(e.what()), true);
  } catch (const pqxx::sql_error& e) {
    throw SourceError("the query failed: " + Trim(e.what()), false);
  }
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

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

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
  const std::string body = Body(query);
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

std::optional<Kind> KindOf(std::string_view url) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return Kind::kPostgres;
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) return Kind::kSqlite;
  return std::nullopt;
}

bool HasPassword(std::string_view url) { return Redacted(url) != url; }

std::string Redacted(std::string_view url) {
  static const std::regex user_pass(R"(^(postgres(ql)?://[^:/@?]*):[^@/?]*@)");
  static const std::regex param(R"(([?&]password=)[^&]*)");
  std::string out = std::regex_replace(std::string(url), user_pass, "$1:***@");
  return std::regex_replace(out, param, "$1***");
}

columnar::TablePtr ReadQuery(const std::string& url, const std::string& query, const QueryOptions& options) {
  auto kind = KindOf(url);
  if (!kind) throw SourceError("unknown database URL '" + Redacted(url) + "' (postgresql://... or sqlite:PATH)", false);
  return *kind == Kind::kPostgres ? ReadPostgres(url, query, options) : ReadSqlite(url, query, options);
}

}  // namespace pipeline::sources
