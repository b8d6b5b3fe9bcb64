#include "sources/database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/value_parse.h"
#include "pg_cluster.h"
#include "test_util.h"

namespace pipeline::sources {
namespace {

using columnar::DataType;

// The table as "name:type" header and "a|b" lines (null as "null").
std::string Dump(const columnar::Table& t) {
  std::string out;
  for (const columnar::Field& f : t.schema().fields()) {
    out += (out.empty() ? "" : "|") + f.name + ":" + std::string(columnar::TypeName(f.type));
  }
  out += "\n";
  for (const columnar::Batch& b : t.batches()) {
    for (int64_t row = 0; row < b.num_rows; ++row) {
      for (size_t c = 0; c < b.columns.size(); ++c) {
        const columnar::Column& col = *b.columns[c];
        std::string v;
        if (col.IsNull(row)) {
          v = "null";
        } else if (col.type() == DataType::kInt64) {
          v = std::to_string(col.ints()[row]);
        } else if (col.type() == DataType::kTimestamp) {
          v = columnar::FormatTimestamp(col.ints()[row]);
        } else if (col.type() == DataType::kFloat64) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%g", col.doubles()[row]);
          v = buf;
        } else if (col.type() == DataType::kBool) {
          v = col.bools()[row] ? "true" : "false";
        } else {
          v = std::string(col.StringAt(row));
        }
        out += (c ? "|" : "") + v;
      }
      out += "\n";
    }
  }
  return out;
}

std::string ErrorOf(const std::string& url, const std::string& query, bool* unavailable = nullptr) {
  try {
    ReadQuery(url, query);
    return "no error";
  } catch (const SourceError& e) {
    if (unavailable) *unavailable = e.unavailable();
    return e.what();
  }
}

TEST(DatabaseUrlTest, PasswordsAreFoundAndRedacted) {
  EXPECT_TRUE(HasPassword("postgresql://app:s3cret@db:5432/sales"));
  EXPECT_TRUE(HasPassword("postgres://app:@db/sales"));
  EXPECT_TRUE(HasPassword("postgresql://app@db/sales?sslmode=require&password=x"));
  EXPECT_FALSE(HasPassword("postgresql://app@db:5432/sales"));
  EXPECT_FALSE(HasPassword("postgresql://postgres@/sales?host=/tmp/x&port=5432"));
  EXPECT_FALSE(HasPassword("sqlite:data/app.db"));
  // The parameter's name as libpq decodes it, in any case.
  EXPECT_TRUE(HasPassword("postgresql://etl@db/shop?%70assword=etl%20secret"));
  EXPECT_TRUE(HasPassword("postgresql://etl@db/shop?sslmode=disable&PassWord=x"));
  EXPECT_FALSE(HasPassword("postgresql://etl@db/shop?application_name=password"));
  EXPECT_EQ(Redacted("postgresql://etl@db/shop?%70assword=etl%20secret&x=1"), "postgresql://etl@db/shop?%70assword=***&x=1");
  EXPECT_EQ(Redacted("postgresql://app:s3cret@db:5432/sales"), "postgresql://app:***@db:5432/sales");
  EXPECT_EQ(Redacted("postgresql://app@db/s?password=x&sslmode=require"), "postgresql://app@db/s?password=***&sslmode=require");
  EXPECT_EQ(Redacted("postgresql://app:p@ss@db/s"), "postgresql://app:***@db/s");  // the last '@' ends it
  EXPECT_EQ(Redacted("postgresql://db/s?sslmode=require&password=x"), "postgresql://db/s?sslmode=require&password=***");
  EXPECT_EQ(Redacted("postgresql://app@db/s?a=b@c:d"), "postgresql://app@db/s?a=b@c:d");  // '@' past the host
  EXPECT_EQ(Redacted("sqlite:user:pw@x.db"), "sqlite:user:pw@x.db");
  // A very long URL is handled without recursion.
  const std::string long_url = "postgresql://u:" + std::string(1 << 20, 'p') + "@db/s";
  EXPECT_EQ(Redacted(long_url), "postgresql://u:***@db/s");
  EXPECT_TRUE(HasPassword(long_url));
  EXPECT_TRUE(IsTableName("people"));
  EXPECT_TRUE(IsTableName("analytics.User_Features2"));
  EXPECT_FALSE(IsTableName("2people"));
  EXPECT_FALSE(IsTableName("a.b.c"));
  EXPECT_FALSE(IsTableName("drop table;"));
  EXPECT_FALSE(IsTableName(""));
  EXPECT_FALSE(IsTableName(std::string(64, 'a')));
  EXPECT_TRUE(IsTableName(std::string(63, 'a')));
  EXPECT_EQ(KindOf("sqlite:a.db"), Kind::kSqlite);
  EXPECT_EQ(KindOf("postgres://db/x"), Kind::kPostgres);
  EXPECT_FALSE(KindOf("mysql://db/x"));
  EXPECT_FALSE(KindOf("sqlite:"));
}

class PostgresSourceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = new std::string(testing_util::SharedCluster().CreateDatabase("sources_test"));
    pqxx::connection c(*url_);
    pqxx::work tx(c);
    tx.exec0(R"(CREATE TABLE every_type (
        i2 smallint, i4 integer, i8 bigint, r real, d double precision, n numeric(12, 3),
        t text, v varchar(10), ch char(3), b boolean, ts timestamp, tz timestamptz, day date))");
    tx.exec0(R"(INSERT INTO every_type VALUES
        (1, 2, 9000000000, 1.5, 2.25, 12345.678, 'text', 'var', 'ab', true,
         '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05+02', '2026-01-02'),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (-1, -2, -3, 'NaN', '-Infinity', 'NaN', 'tab	and ''quote''', '', 'x', false,
         '1999-12-31 23:59:59', '1999-12-31 23:59:59-08', '1970-01-01'))");
    tx.exec0("CREATE TABLE numbers AS SELECT g AS n FROM generate_series(1, 10005) g");
    tx.exec0("CREATE TABLE odd (j json, k int)");
    tx.commit();
  }
  static std::string* url_;
};
std::string* PostgresSourceTest::url_ = nullptr;

TEST_F(PostgresSourceTest, EveryTypeAndNullsAsTheDatabaseHasThem) {
  auto table = ReadQuery(*url_, "SELECT * FROM every_type ORDER BY i8 DESC NULLS LAST;  ");
  EXPECT_EQ(Dump(*table),
            "i2:int64|i4:int64|i8:int64|r:float64|d:float64|n:float64|t:string|v:string|ch:string|b:bool|"
            "ts:timestamp|tz:timestamp|day:timestamp\n"
            "1|2|9000000000|1.5|2.25|12345.7|text|var|ab |true|2026-01-02 03:04:05.123456|2026-01-02 01:04:05|"
            "2026-01-02 00:00:00\n"
            "-1|-2|-3|nan|-inf|nan|tab\tand 'quote'||x  |false|1999-12-31 23:59:59|2000-01-01 07:59:59|"
            "1970-01-01 00:00:00\n"
            "null|null|null|null|null|null|null|null|null|null|null|null|null\n");
}

TEST_F(PostgresSourceTest, TextComesBackByteForByte) {
  // COPY's escapes (backslash, newline, CR, tab, other control bytes) undone.
  auto table = ReadQuery(*url_, R"(SELECT E'back\\slash\nnew\rline\ttab\x01\\N' AS s, '' AS empty, NULL::text AS none)");
  const columnar::Batch& b = table->batch(0);
  EXPECT_EQ(b.columns[0]->StringAt(0), std::string_view("back\\slash\nnew\rline\ttab\x01\\N"));
  EXPECT_FALSE(b.columns[1]->IsNull(0));
  EXPECT_EQ(b.columns[1]->StringAt(0), "");
  EXPECT_TRUE(b.columns[2]->IsNull(0));
}

// The issue's differential check: a million rows of every type with nulls,
// read by ReadQuery, equal what psql itself prints (as JSON, one row a line).
TEST_F(PostgresSourceTest, AMillionRowsOfEveryTypeEqualPsqlsOwnExport) {
  {
    pqxx::connection c(*url_);
    pqxx::work tx(c);
    tx.exec0(R"(CREATE TABLE million AS SELECT g::bigint AS id,
        CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 30000 - 15000)::smallint END AS i2,
        CASE WHEN g % 11 = 0 THEN NULL ELSE (g::bigint * 7919 % 2000000 - 1000000)::integer END AS i4,
        (g * 0.37)::real AS r,
        CASE WHEN g % 13 = 0 THEN NULL ELSE g / 7.0::double precision END AS d,
        round(g / 3.0, 4) AS n,
        CASE WHEN g % 5 = 0 THEN NULL WHEN g % 5 = 1 THEN '' ELSE 'v' || g || E'\t"q",\\' END AS t,
        CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END AS b,
        timestamp '2000-01-01' + g * interval '1 second 1 microsecond' AS ts,
        timestamptz '2026-06-01 12:00:00+02' - g * interval '1 minute' AS tz,
        date '1970-01-01' + (g % 20000) AS day
      FROM generate_series(1, 1000000) g)");
    tx.commit();
  }
  auto table = columnar::Concatenate(*ReadQuery(*url_, "SELECT * FROM million ORDER BY id"));
  ASSERT_EQ(table->num_rows(), 1000000);
  const columnar::Batch& b = table->batch(0);
  const std::string command = "psql -X -A -t -q -d '" + *url_ +
                              "' -c \"SET TIME ZONE 'UTC'\" -c 'SELECT row_to_json(m) FROM (SELECT * FROM million ORDER BY id) m'";
  FILE* psql = popen(command.c_str(), "r");
  ASSERT_NE(psql, nullptr);
  std::string line;
  int64_t row = 0, mismatches = 0;
  std::string first_mismatch;
  char buf[1 << 16];
  while (fgets(buf, sizeof buf, psql)) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    nlohmann::json want = nlohmann::json::parse(line);
    line.clear();
    ASSERT_LT(row, 1000000);
    for (int c = 0; c < table->num_columns(); ++c) {
      const columnar::Column& col = *b.columns[c];
      const nlohmann::json& w = want[table->schema().field(c).name];
      bool same;
      if (w.is_null()) {
        same = col.IsNull(row);
      } else if (col.IsNull(row)) {
        same = false;
      } else if (col.type() == DataType::kInt64) {
        same = w.get<int64_t>() == col.ints()[row];
      } else if (col.type() == DataType::kFloat64) {
        same = w.get<double>() == col.doubles()[row];
      } else if (col.type() == DataType::kBool) {
        same = w.get<bool>() == static_cast<bool>(col.bools()[row]);
      } else if (col.type() == DataType::kTimestamp) {
        int64_t micros = 0;
        same = columnar::ParseTimestamp(w.get<std::string>(), &micros) && micros == col.ints()[row];
      } else {
        same = w.get<std::string>() == col.StringAt(row);
      }
      if (!same && mismatches++ == 0) {
        first_mismatch = "row " + std::to_string(row) + " column " + table->schema().field(c).name + ": psql " + w.dump();
      }
    }
    ++row;
  }
  EXPECT_EQ(pclose(psql), 0);
  EXPECT_EQ(row, 1000000);
  EXPECT_EQ(mismatches, 0) << first_mismatch;
}

TEST_F(PostgresSourceTest, RowsComeBatchByBatch) {
  QueryOptions options;
  options.batch_rows = 1000;
  auto table = ReadQuery(*url_, "SELECT n, n * 2 AS twice FROM numbers ORDER BY n", options);
  EXPECT_EQ(table->num_rows(), 10005);
  EXPECT_EQ(table->batches().size(), 11u);
  EXPECT_EQ(table->batch(10).columns[1]->ints()[4], 20010);
  // No rows: the columns all the same.
  auto empty = ReadQuery(*url_, "SELECT n FROM numbers WHERE n < 0");
  EXPECT_EQ(empty->num_rows(), 0);
  EXPECT_EQ(empty->schema().names(), std::vector<std::string>{"n"});
}

TEST_F(PostgresSourceTest, BadQueriesTypesAndServersAreNamed) {
  bool unavailable = true;
  EXPECT_EQ(ErrorOf(*url_, "SELECT * FROM nope", &unavailable).rfind("the query failed: ERROR:  relation \"nope\" does not exist", 0), 0u);
  EXPECT_FALSE(unavailable);
  EXPECT_EQ(ErrorOf(*url_, "SELECT k, j FROM odd"),
            "column 'j' has type json, which ingest cannot read (int, real, numeric, text, bool, timestamp, date): "
            "cast it in the query");
  EXPECT_EQ(ErrorOf(*url_, "SELECT 'infinity'::timestamp AS ts"), "column 'ts': value 'infinity' cannot be read as timestamp");
  // A server that is not there: unavailable (a retry may help), no password shown.
  const std::string gone = "postgresql://app:s3cret@127.0.0.1:1/sales?connect_timeout=2";
  std::string message = ErrorOf(gone, "SELECT 1", &unavailable);
  EXPECT_TRUE(unavailable);
  EXPECT_EQ(message.rfind("cannot connect to postgresql://app:***@127.0.0.1:1/sales?connect_timeout=2: ", 0), 0u) << message;
  EXPECT_EQ(message.find("s3cret"), std::string::npos);
}

TEST_F(PostgresSourceTest, AnIncrementalReadComparesTextInByteOrderWhateverTheCollation) {
  // Given a text column in a collation where 'B' sorts after 'a' (the mark,
  // the largest value read, is 'a' in byte order), and a number column,
  {
    pqxx::connection c(*url_);
    pqxx::work tx(c);
    tx.exec0(R"(CREATE TABLE marks (k text COLLATE "und-x-icu", v varchar(5) COLLATE "und-x-icu", n int))");
    tx.exec0("INSERT INTO marks VALUES ('a', 'a', 1), ('B', 'B', 2), ('b', 'b', 3)");
    tx.commit();
  }
  auto past = [&](const std::string& column, const std::string& mark) {
    QueryOptions options;
    options.past = QueryOptions::Past{column, mark};
    std::string ran;
    options.executed = &ran;
    std::string rows = Dump(*ReadQuery(*url_, "SELECT k, n FROM marks ORDER BY n", options));
    EXPECT_NE(ran.find("pipe_incremental"), std::string::npos) << ran;
    return rows;
  };
  // then past 'a' is what is above 'a' byte by byte ('B' is below it: read before, not again),
  EXPECT_EQ(past("k", "a"), "k:string|n:int64\nb|3\n");
  EXPECT_EQ(past("k", "B"), "k:string|n:int64\na|1\nb|3\n");
  // a varchar alike, and a number still compares as a number (no collation on it).
  {
    QueryOptions options;
    options.past = QueryOptions::Past{"v", "a"};
    EXPECT_EQ(Dump(*ReadQuery(*url_, "SELECT v FROM marks", options)), "v:string\nb\n");
  }
  EXPECT_EQ(past("n", "2"), "k:string|n:int64\nb|3\n");
}

// A small table: id, score (with a null), name, at.
columnar::TablePtr People(std::vector<int64_t> ids, const std::string& suffix) {
  std::string csv = "id,score,name,at\n";
  for (int64_t id : ids) {
    csv += std::to_string(id) + "," + (id % 2 ? std::to_string(id) + ".5" : "") + ",p" + std::to_string(id) + suffix +
           ",2026-01-0" + std::to_string(1 + id % 9) + "T00:00:00Z\n";
  }
  auto table = columnar::ReadCsvText(csv, "people.csv").table;
  return table;
}

std::string Rows(pqxx::connection& c, const std::string& sql) {
  pqxx::work tx(c);
  tx.exec0("SET TIME ZONE 'UTC'");
  std::string out;
  for (const pqxx::row& r : tx.exec(sql)) {
    for (pqxx::row::size_type i = 0; i < r.size(); ++i) out += (i ? "|" : "") + std::string(r[i].is_null() ? "null" : r[i].c_str());
    out += "\n";
  }
  return out;
}

std::string WriteError(const std::string& url, const std::string& table, const columnar::Table& data, WriteOptions options) {
  try {
    WriteTable(url, table, data, options);
    return "no error";
  } catch (const SourceError& e) {
    return e.what();
  }
}

TEST_F(PostgresSourceTest, ExportAppendsReplacesAndUpsertsInOneTransaction) {
  pqxx::connection c(*url_);
  WriteOptions append;
  WriteResult first = WriteTable(*url_, "people", *People({1, 2}, ""), append);
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.rows, 2);
  EXPECT_EQ(Rows(c, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'people' ORDER BY ordinal_position"),
            "id|bigint\nscore|double precision\nname|text\nat|timestamp with time zone\n");
  EXPECT_FALSE(WriteTable(*url_, "people", *People({3}, ""), append).created);
  EXPECT_EQ(Rows(c, "SELECT * FROM people ORDER BY id"),
            "1|1.5|p1|2026-01-02 00:00:00+00\n2|null|p2|2026-01-03 00:00:00+00\n3|3.5|p3|2026-01-04 00:00:00+00\n");
  WriteOptions replace;
  replace.mode = WriteMode::kReplace;
  WriteTable(*url_, "people", *People({7}, ""), replace);
  EXPECT_EQ(Rows(c, "SELECT id, name FROM people ORDER BY id"), "7|p7\n");
  WriteOptions upsert;
  upsert.mode = WriteMode::kUpsert;
  upsert.key = {"id"};
  WriteTable(*url_, "people", *People({5, 7}, "-new"), upsert);
  EXPECT_EQ(Rows(c, "SELECT id, score, name FROM people ORDER BY id"), "5|5.5|p5-new\n7|7.5|p7-new\n");
  // A repeated key is refused before anything is written; so is a load the
  // database refuses midway: the table stays as it was.
  EXPECT_EQ(WriteError(*url_, "people", *People({8, 8}, ""), upsert), "the rows to upsert hold the key (id = 8) twice");
  auto odd = columnar::ReadCsvText("id,nickname\n9,x\n", "odd.csv").table;
  std::string refused = WriteError(*url_, "people", *odd, replace);
  EXPECT_NE(refused.find("column \"nickname\" of relation \"people\" does not exist"), std::string::npos) << refused;
  EXPECT_EQ(Rows(c, "SELECT count(*) FROM people"), "2\n");
  // Upsert into a table it creates: the key is unique, nulls included (a
  // primary key would refuse a null key, which matches nulls here).
  WriteTable(*url_, "public.by_key", *People({1, 2}, ""), upsert);
  EXPECT_EQ(Rows(c, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = 'by_key'::regclass AND i.indisunique"),
            "id\n");
  WriteOptions by_two = upsert;
  by_two.key = {"id", "name"};
  auto null_key = columnar::ReadCsvText("id,name,score\n1,a,0.5\n2,,1.5\n", "k.csv").table;
  WriteTable(*url_, "null_key", *null_key, by_two);
  auto null_key_again = columnar::ReadCsvText("id,name,score\n2,,9.5\n", "k.csv").table;
  WriteTable(*url_, "null_key", *null_key_again, by_two);
  EXPECT_EQ(Rows(c, "SELECT id, name, score FROM null_key ORDER BY id"), "1|a|0.5\n2|null|9.5\n");
  // Names are quoted as written: a mixed-case table is its own, created
  // once and then appended to, beside a lower-case one of other types.
  {
    pqxx::work tx(c);
    tx.exec0("CREATE TABLE mixed (id bigint, score double precision, name text, at timestamptz)");
    tx.exec0("CREATE SCHEMA \"Sales\"");
    tx.commit();
  }
  EXPECT_TRUE(WriteTable(*url_, "Mixed", *People({1}, ""), append).created);
  EXPECT_FALSE(WriteTable(*url_, "Mixed", *People({2}, ""), append).created);
  EXPECT_TRUE(WriteTable(*url_, "Sales.Facts", *People({3}, ""), append).created);
  EXPECT_EQ(Rows(c, "SELECT id, name FROM \"Mixed\" ORDER BY id"), "1|p1\n2|p2\n");
  EXPECT_EQ(Rows(c, "SELECT count(*) FROM mixed"), "0\n");
  EXPECT_EQ(Rows(c, "SELECT id FROM \"Sales\".\"Facts\""), "3\n");
  EXPECT_EQ(WriteError(*url_, "bad name", *odd, append), "invalid table name 'bad name' (NAME or SCHEMA.NAME)");
  // A table of other types takes the rows as text, which the server casts.
  {
    pqxx::work tx(c);
    tx.exec0("CREATE TABLE narrow (id integer, score numeric(6, 2), name varchar(20), at timestamp)");
    tx.commit();
  }
  WriteTable(*url_, "narrow", *People({1, 2}, ""), append);
  EXPECT_EQ(Rows(c, "SELECT * FROM narrow ORDER BY id"), "1|1.50|p1|2026-01-02 00:00:00\n2|null|p2|2026-01-03 00:00:00\n");
}

TEST(HasStatementTest, WhiteSpaceAndCommentsAreNoStatement) {
  EXPECT_FALSE(HasStatement(""));
  EXPECT_FALSE(HasStatement("  \n\t"));
  EXPECT_FALSE(HasStatement("-- only a comment"));
  EXPECT_FALSE(HasStatement("/* a */ -- b\n  /* c\n d */\n"));
  EXPECT_TRUE(HasStatement("SELECT 1"));
  EXPECT_TRUE(HasStatement("-- the ids\nSELECT id FROM t"));
  EXPECT_TRUE(HasStatement("/* unterminated"));  // the database names that error
  // An SQLite query that holds none says so (SQLite's own message was "not an error").
  auto dir = testing_util::FreshTestDir("pipe_no_statement");
  const std::string url = "sqlite:" + (dir / "x.db").string();
  WriteTable(url, "t", *People({1}, ""), {});
  try {
    ReadQuery(url, "-- nothing", {});
    ADD_FAILURE() << "no error";
  } catch (const SourceError& e) {
    EXPECT_STREQ(e.what(), "the query holds no statement (only white space and comments)");
  }
  std::filesystem::remove_all(dir);
}

TEST(SqliteSinkTest, AppendReplaceAndUpsert) {
  auto dir = testing_util::FreshTestDir("pipe_sqlite_sink");
  const std::string url = "sqlite:" + (dir / "out.db").string();
  WriteOptions upsert;
  upsert.mode = WriteMode::kUpsert;
  upsert.key = {"id"};
  EXPECT_TRUE(WriteTable(url, "people", *People({1, 2}, ""), {}).created);
  WriteTable(url, "people", *People({2, 3}, "-new"), upsert);
  auto read = ReadQuery(url, "SELECT id, score, name, at FROM people ORDER BY id");
  EXPECT_EQ(Dump(*read),
            "id:int64|score:float64|name:string|at:timestamp\n1|1.5|p1|2026-01-02 00:00:00\n2|null|p2-new|2026-01-03 00:00:00\n"
            "3|3.5|p3-new|2026-01-04 00:00:00\n");
  WriteOptions replace;
  replace.mode = WriteMode::kReplace;
  WriteTable(url, "people", *People({9}, ""), replace);
  EXPECT_EQ(ReadQuery(url, "SELECT count(*) AS n FROM people")->batch(0).columns[0]->ints()[0], 1);
  EXPECT_EQ(WriteError(url, "people", *People({4, 4}, ""), upsert), "the rows to upsert hold the key (id = 4) twice");
  // A null int64 key matches the null key (it was the rowid: each upsert
  // added the row again under a new number).
  auto keyed = [](const std::string& name) {
    return columnar::ReadCsvText("id,name\n1,a\n," + name + "\n", "keyed.csv").table;
  };
  EXPECT_TRUE(WriteTable(url, "keyed", *keyed("first"), upsert).created);
  WriteTable(url, "keyed", *keyed("second"), upsert);
  WriteTable(url, "keyed", *keyed("third"), upsert);
  EXPECT_EQ(Dump(*ReadQuery(url, "SELECT id, name FROM keyed ORDER BY id")), "id:int64|name:string\nnull|third\n1|a\n");
  // A database in a folder that does not exist yet: both are made.
  const std::string nested = "sqlite:" + (dir / "new" / "folder" / "out.db").string();
  EXPECT_TRUE(WriteTable(nested, "people", *People({1}, ""), {}).created);
  std::filesystem::remove_all(dir);
}

TEST_F(PostgresSourceTest, ValuesDoNotDependOnTheSessionsDefaults) {
  // A role, a database or PGOPTIONS may set fewer float digits or another
  // date style: the values read are the same.
  setenv("PGOPTIONS", "-c extra_float_digits=0 -c datestyle=SQL,DMY", 1);
  auto table = ReadQuery(*url_, "SELECT 0.1::float8 + 0.2::float8 AS x, 1.0000001::float8 AS y, "
                                "'2026-01-02 03:04:05.123456'::timestamp AS at");
  unsetenv("PGOPTIONS");
  EXPECT_EQ(table->batch(0).columns[0]->doubles()[0], 0.1 + 0.2);
  EXPECT_EQ(table->batch(0).columns[1]->doubles()[0], 1.0000001);
  EXPECT_EQ(columnar::FormatTimestamp(table->batch(0).columns[2]->ints()[0]), "2026-01-02 03:04:05.123456");
  EXPECT_EQ(Dump(*ReadQuery(*url_, "SELECT 1 AS a, 'x' AS a")), "a:int64|a_1:string\n1|x\n");
}

TEST_F(PostgresSourceTest, APasswordComesFromTheSecretsFile) {
  testing_util::SharedCluster().CreatePasswordRole("app", "s3cret word");
  // The test cluster's URL with user app instead of postgres.
  std::string url = *url_;
  url.replace(url.find("postgres@"), 9, "app@");
  auto dir = testing_util::FreshTestDir("pipe_secrets");
  const std::string secrets = (dir / "secrets").string();
  unsetenv("PIPE_SECRETS");
  bool unavailable = false;
  std::string refused = ErrorOf(url, "SELECT 1 AS one", &unavailable);
  EXPECT_NE(refused.find("password"), std::string::npos) << refused;
  std::ofstream(secrets) << "# host:port:database:user:password\n*:*:*:app:s3cret word\n";
  std::filesystem::permissions(secrets, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  UseSecretsFile(secrets);
  EXPECT_EQ(std::string(std::getenv("PIPE_SECRETS")), secrets);
  EXPECT_EQ(ReadQuery(url, "SELECT 1 AS one")->batch(0).columns[0]->ints()[0], 1);
  // The secrets file wins over PGPASSWORD; PGPASSWORD serves when the file has no line for it.
  setenv("PGPASSWORD", "wrong", 1);
  EXPECT_EQ(ReadQuery(url, "SELECT 1 AS one")->batch(0).columns[0]->ints()[0], 1);
  std::ofstream(secrets) << "*:*:*:someone_else:x\n";
  setenv("PGPASSWORD", "s3cret word", 1);
  EXPECT_EQ(ReadQuery(url, "SELECT 1 AS one")->batch(0).columns[0]->ints()[0], 1);
  unsetenv("PGPASSWORD");
  // A file others may read is refused (libpq would ignore it), and so is one that is not there.
  std::filesystem::permissions(secrets, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  EXPECT_EQ(ErrorOf(url, "SELECT 1"),
            "the secrets file " + secrets + " may be read by others: chmod 600 it (libpq ignores it otherwise)");
  try {
    UseSecretsFile((dir / "missing").string());
    ADD_FAILURE() << "a missing secrets file was taken";
  } catch (const SourceError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read the secrets file " + (dir / "missing").string());
  }
  unsetenv("PIPE_SECRETS");
  std::filesystem::remove_all(dir);
}

TEST(SqliteSourceTest, DeclaredTypesExpressionsAndErrors) {
  auto dir = testing_util::FreshTestDir("pipe_sqlite_source");
  const std::string path = (dir / "app.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE t (id INTEGER, score REAL, name TEXT, ok BOOLEAN, at TIMESTAMP, blob BLOB);"
                         "INSERT INTO t VALUES (1, 0.5, 'ann', 1, '2026-01-02 03:04:05', x'00');"
                         "INSERT INTO t VALUES (2, NULL, NULL, 0, '2026-01-03T00:00:00Z', NULL);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto table = ReadQuery("sqlite:" + path, "SELECT id, score, name, ok, at, id * 1.5 AS x, 'k' || id AS key FROM t");
  EXPECT_EQ(Dump(*table),
            "id:int64|score:float64|name:string|ok:bool|at:timestamp|x:float64|key:string\n"
            "1|0.5|ann|true|2026-01-02 03:04:05|1.5|k1\n"
            "2|null|null|false|2026-01-03 00:00:00|3|k2\n");
  EXPECT_EQ(ErrorOf("sqlite:" + path, "SELECT blob FROM t"), "column 'blob' holds a BLOB, which ingest cannot read: cast it in the query");
  // Two columns named alike: the second gets a suffix, as a CSV header's do.
  EXPECT_EQ(Dump(*ReadQuery("sqlite:" + path, "SELECT 1 AS a, 2 AS a, 3 AS a_1")), "a:int64|a_1:int64|a_1_1:int64\n1|2|3\n");
  // A REAL is read to its last bit (SQLite's own text has 15 digits).
  auto real = ReadQuery("sqlite:" + path, "SELECT 0.1 + 0.2 AS x, 1.0 / 3 AS y, 12345678901234567168.0 AS z");
  EXPECT_EQ(real->batch(0).columns[0]->doubles()[0], 0.1 + 0.2);
  EXPECT_EQ(real->batch(0).columns[1]->doubles()[0], 1.0 / 3);
  EXPECT_EQ(real->batch(0).columns[2]->doubles()[0], 12345678901234567168.0);
  // An incremental read past a mark: numbers compare as numbers even in an
  // expression column, which has no type (a text mark ranked above them all).
  auto past = [&](const std::string& query, const std::string& column, const std::string& mark) {
    return Dump(*ReadQuery("sqlite:" + path, QueryPast("sqlite:" + path, query, column, mark)));
  };
  EXPECT_EQ(past("SELECT id + 0 AS n, name FROM t", "n", "1"), "n:int64|name:string\n2|null\n");
  EXPECT_EQ(past("SELECT id * 0.5 AS n FROM t", "n", "0.5"), "n:float64\n1\n");
  EXPECT_EQ(past("SELECT at FROM t", "at", "2026-01-02 03:04:05"), "at:timestamp\n2026-01-03 00:00:00\n");
  EXPECT_EQ(past("SELECT 'k' || id AS key FROM t", "key", "k1"), "key:string\nk2\n");
  // Text compares byte by byte, as the mark was chosen, even in a NOCASE
  // column (where 'B' > 'a' would read a row again).
  ASSERT_EQ(sqlite3_open((dir / "nocase.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE m (k TEXT COLLATE NOCASE); INSERT INTO m VALUES ('a'), ('B'), ('b');", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  QueryOptions incremental;
  incremental.past = QueryOptions::Past{"k", "a"};
  EXPECT_EQ(Dump(*ReadQuery("sqlite:" + (dir / "nocase.db").string(), "SELECT k FROM m", incremental)), "k:string\nb\n");
  EXPECT_EQ(ErrorOf("sqlite:" + path, "SELECT * FROM nope"), "the query failed: no such table: nope");
  bool unavailable = false;
  EXPECT_EQ(ErrorOf("sqlite:" + (dir / "missing.db").string(), "SELECT 1", &unavailable).rfind("cannot open sqlite:", 0), 0u);
  EXPECT_TRUE(unavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pipeline::sources
