// The data operators, each run alone on a fake context.
#include <gtest/gtest.h>

#include <random>
#include <sqlite3.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/parquet.h"
#include "core/error.h"
#include "core/operator.h"
#include "ops/data_operators.h"
#include "ml/mask.h"
#include "ops/table_io.h"
#include "op_context.h"
#include "test_util.h"

namespace pipeline {
namespace {

using columnar::TablePtr;
using testing_util::OpContext;
using testing_util::SecretsFileScope;

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterDataOperators(ops_);
    dir_ = testing_util::FreshTestDir("ops");
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  static std::string Read(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Runs operator `op` with `with` on `input` (a CSV text, read with types
  // inferred) and returns the result; the output table lands in `out_`.
  // Run() with the mark a previous success stored (TaskContext::Watermark).
  TaskResult RunWithMark(const std::string& op, const std::string& with, const std::optional<std::string>& mark) {
    ctx_ = std::make_unique<OpContext>("t", with, dir_, std::nullopt);
    ctx_->SetWatermark(mark);
    TaskResult r = ops_.Find(op)->Execute(*ctx_);
    out_ = nullptr;
    if (auto data = ctx_->output()) out_ = dynamic_cast<const ops::TableDataset&>(*data).table();
    return r;
  }

  TaskResult Run(const std::string& op, const std::string& with, const std::string& input_csv = "") {
    ctx_ = std::make_unique<OpContext>("t", with, dir_, input_csv.empty() ? std::nullopt : std::optional<std::string>("up"));
    if (!input_csv.empty()) {
      TablePtr in = columnar::ReadCsvText(input_csv, "in.csv").table;
      ctx_->SetInput("up", std::make_shared<ops::TableDataset>(in));
    }
    TaskResult r = ops_.Find(op)->Execute(*ctx_);
    out_ = nullptr;
    if (auto data = ctx_->output()) out_ = dynamic_cast<const ops::TableDataset&>(*data).table();
    return r;
  }

  // The diagnostics CheckArgs gives for `with` ("LINE:COL: message" each).
  std::string Check(const std::string& op, const std::string& with) {
    OpContext ctx("t", with, dir_);
    Diagnostics diags("test.yaml");
    ops_.Find(op)->CheckArgs(ctx.task(), diags);
    std::string out;
    for (const Diagnostic& d : diags.items()) {
      out += std::to_string(d.mark.line) + ":" + std::to_string(d.mark.column) + ": " + d.message + "\n";
    }
    return out;
  }

  // The output as "a|b" lines with a header line of name:type.
  static std::string Dump(const columnar::Table& t) {
    std::string out;
    for (int c = 0; c < t.num_columns(); ++c) {
      out += (c ? "," : "") + t.schema().field(c).name + ":" + std::string(columnar::TypeName(t.schema().field(c).type));
    }
    out += "\n";
    TablePtr flat = columnar::Concatenate(t);
    for (int64_t r = 0; r < t.num_rows(); ++r) {
      for (int c = 0; c < t.num_columns(); ++c) {
        const columnar::Column& col = *flat->batch(0).columns[c];
        out += (c ? "|" : "") + (col.IsNull(r) ? std::string("NULL") : columnar::ValueText(col, r));
      }
      out += "\n";
    }
    return out;
  }

  nlohmann::json Report() {
    auto a = ctx_->FindArtifact("t", "report");
    EXPECT_TRUE(a.has_value());
    return a ? nlohmann::json::parse(Read(a->uri)) : nlohmann::json();
  }

  // The rows one validate check (with on_failure: warn) fails on `csv`.
  int RowsFailed(const std::string& check, const std::string& csv) {
    TaskResult r = Run("validate", "{checks: [" + check + "], on_failure: warn}", csv);
    EXPECT_TRUE(r.ok) << r.error;
    return Report()["checks"][0]["rows_failed"].get<int>();
  }

  OperatorRegistry ops_;
  std::filesystem::path dir_;
  std::unique_ptr<OpContext> ctx_;
  TablePtr out_;
};

// ---------------------------------------------------------------- ingest

TEST_F(OpsTest, IngestReadsCsvAndPersistsTheOutput) {
  Write("a.csv", "id,amount\n1,2.5\n2,NA\n");
  TaskResult r = Run("ingest", "path: a.csv");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Dump(*out_), "id:int64,amount:float64\n1|2.5\n2|NULL\n");
  EXPECT_EQ(r.metrics.rows_in, 2);
  EXPECT_EQ(r.metrics.rows_out, 2);
  auto artifact = ctx_->FindArtifact("t", "output");
  ASSERT_TRUE(artifact);
  EXPECT_EQ(artifact->row_count, 2);
  EXPECT_EQ(artifact->schema_json,
            R"({"columns":[{"name":"id","type":"int64"},{"name":"amount","type":"float64"}]})");
  EXPECT_EQ(artifact->content_hash.substr(0, 5), "xxh3:");
  EXPECT_EQ(Dump(*columnar::ReadParquetFile(artifact->uri)), Dump(*out_));
}

TEST_F(OpsTest, IngestReadsASqliteQueryWithDeclaredCasts) {
  const std::string db = (dir_ / "shop.db").string();
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "CREATE TABLE orders (id INTEGER, total INTEGER, country TEXT);"
                                 "INSERT INTO orders VALUES (1, 10, 'DE'), (2, NULL, 'US'), (3, 7, NULL);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
  TaskResult r = Run("ingest", "{source: 'sqlite:" + db + "', query: 'SELECT * FROM orders WHERE id > 1;', "
                               "schema: {total: float64}}");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Dump(*out_), "id:int64,total:float64,country:string\n2|NULL|US\n3|7|NULL\n");
  EXPECT_EQ(r.metrics.summary, "3 columns from sqlite:" + db);
  ASSERT_TRUE(ctx_->FindArtifact("t", "output"));
  // A relative sqlite:PATH is in the DAG file's folder (as `path` is), not
  // the working directory (the test's: the build tree).
  ASSERT_NE(std::filesystem::current_path(), dir_);
  TaskResult relative = Run("ingest", "{source: 'sqlite:shop.db', query: 'SELECT id FROM orders'}");
  ASSERT_TRUE(relative.ok) << relative.error;
  EXPECT_EQ(relative.metrics.summary, "1 column from sqlite:" + db);
  TaskResult bad = Run("ingest", "{source: 'sqlite:" + db + "', query: 'SELECT nope FROM orders'}");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.error, "the query failed: no such column: nope");
}

TEST_F(OpsTest, IncrementalIngestReadsOnlyFilesNotReadBefore) {
  // Given the mark of a success (path -> content hash), then only new or
  // changed files are read; none new gives no rows with the declared columns.
  const std::string with = "{path: 'in/*.csv', schema: {id: int64, v: string}, incremental: true}";
  std::filesystem::create_directories(dir_ / "in");
  Write("in/a.csv", "id,v\n1,a\n");
  Write("in/b.csv", "id,v\n2,b\n");
  TaskResult first = Run("ingest", with);
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(Dump(*out_), "id:int64,v:string\n1|a\n2|b\n");
  EXPECT_EQ(first.metrics.summary, "2 columns from 2 files (new)");
  ASSERT_TRUE(first.watermark);
  nlohmann::json mark = nlohmann::json::parse(*first.watermark);
  EXPECT_EQ(mark.size(), 2u);
  EXPECT_EQ(mark[(dir_ / "in" / "a.csv").string()].get<std::string>().substr(0, 5), "xxh3:");
  auto again = [&](const std::optional<std::string>& m) {
    ctx_ = nullptr;
    TaskResult r = RunWithMark("ingest", with, m);
    return r;
  };
  TaskResult none = again(first.watermark);
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_EQ(Dump(*out_), "id:int64,v:string\n");
  EXPECT_EQ(none.metrics.summary, "no new file (2 read before)");
  EXPECT_EQ(none.watermark, first.watermark);
  Write("in/c.csv", "id,v\n3,c\n");
  Write("in/a.csv", "id,v\n1,A\n");  // changed: read again
  TaskResult some = again(first.watermark);
  ASSERT_TRUE(some.ok) << some.error;
  EXPECT_EQ(Dump(*out_), "id:int64,v:string\n1|A\n3|c\n");
  EXPECT_EQ(nlohmann::json::parse(*some.watermark).size(), 3u);
  EXPECT_EQ(Check("ingest", "{path: 'in/*.csv', incremental: true}"),
            "1:33: task 't': ingest: 'incremental' with 'path' needs 'schema' (a run that finds no new file still gives its "
            "columns)\n");
  // The contract's form {column: C} means the same for files.
  EXPECT_EQ(Check("ingest", "{path: 'in/*.csv', incremental: {column: at}, schema: {id: int64}}"), "");
  EXPECT_EQ(Check("ingest", "{path: 'in/*.csv', incremental: {col: at}, schema: {id: int64}}"),
            "1:33: task 't': ingest: incremental: missing required argument 'column'\n"
            "1:34: task 't': ingest: incremental: unknown argument 'col'\n");
}

TEST_F(OpsTest, IngestGlobReadsFilesInNameOrderAsOneTable) {
  Write("p2.csv", "id\n3\n");
  Write("p1.csv", "id\n1\n2\n");
  TaskResult r = Run("ingest", "path: 'p*.csv'");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Dump(*out_), "id:int64\n1\n2\n3\n");
  EXPECT_EQ(r.metrics.summary, "1 column from 2 files");
}

TEST_F(OpsTest, IngestDeclaredSchemaAndQuarantineBelowTheLimit) {
  std::string text = "id,amount\n";
  for (int i = 0; i < 200; ++i) text += std::to_string(i) + "," + std::to_string(i) + ".5\n";
  text += "x,1\n";
  Write("a.csv", text);
  TaskResult r = Run("ingest", "{path: a.csv, schema: {id: int64}, on_bad_row: quarantine}");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.metrics.rows_in, 201);
  EXPECT_EQ(r.metrics.rows_out, 200);
  EXPECT_EQ(r.metrics.rows_quarantined, 1);
  auto q = ctx_->FindArtifact("t", "quarantine");
  ASSERT_TRUE(q);
  EXPECT_EQ(Dump(*columnar::ReadParquetFile(q->uri)),
            "id:string,amount:string,_source_file:string,_source_line:int64,_reason:string\n"
            "x|1|" + (dir_ / "a.csv").string() + "|202|column id: 'x' is not of type int64\n");
}

TEST_F(OpsTest, IngestFailsAboveMaxBadRowsAndWithoutQuarantine) {
  Write("a.csv", "id\n1\nx\n3\n");
  TaskResult r = Run("ingest", "{path: a.csv, schema: {id: int64}, on_bad_row: quarantine, max_bad_rows: 0.1}");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "1 of 3 rows could not be parsed, more than max_bad_rows 0.1 (first: " + (dir_ / "a.csv").string() +
                         ":3: column id: 'x' is not of type int64)");
  r = Run("ingest", "{path: a.csv, schema: {id: int64}}");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, (dir_ / "a.csv").string() + ":3: column id: 'x' is not of type int64");
  EXPECT_EQ(out_, nullptr);
}

TEST_F(OpsTest, IngestMissingFileEmptyFileAndUnknownFormat) {
  EXPECT_EQ(Run("ingest", "path: nope.csv").error, "path 'nope.csv' matches no file");
  Write("empty.csv", "");
  EXPECT_EQ(Run("ingest", "path: empty.csv").error, (dir_ / "empty.csv").string() + ": the file is empty (no header and no rows)");
  Write("data.bin", "x");
  EXPECT_EQ(Run("ingest", "path: data.bin").error,
            "cannot tell the format of '" + (dir_ / "data.bin").string() + "' from its extension: set 'format' (csv, jsonl, parquet)");
}

TEST_F(OpsTest, IngestJsonlAndParquet) {
  Write("a.jsonl", "{\"id\": 1, \"s\": \"x\"}\n{\"id\": 2}\n");
  ASSERT_TRUE(Run("ingest", "path: a.jsonl").ok);
  EXPECT_EQ(Dump(*out_), "id:int64,s:string\n1|x\n2|NULL\n");
  columnar::WriteParquetFile(*out_, (dir_ / "a.parquet").string());
  ASSERT_TRUE(Run("ingest", "path: a.parquet").ok);
  EXPECT_EQ(Dump(*out_), "id:int64,s:string\n1|x\n2|NULL\n");
}

TEST_F(OpsTest, IngestCheckArgsNamesTheArgument) {
  EXPECT_EQ(Check("ingest", "{pth: a.csv}"),
            "0:0: task 't': ingest: missing required argument 'path'\n"
            "1:2: task 't': ingest: unknown argument 'pth' (did you mean 'path'?)\n");
  EXPECT_EQ(Check("ingest", "{path: a.csv, format: xls, csv: {delimiter: ';;'}, max_bad_rows: 2}"),
            "1:23: task 't': ingest: 'format' must be one of csv, jsonl, parquet, found 'xls'\n"
            "1:45: task 't': ingest: csv: 'delimiter' must be one character (not a newline)\n"
            "1:66: task 't': ingest: 'max_bad_rows' must be between 0 and 1\n");
  EXPECT_EQ(Check("ingest", "{path: a.csv, schema: {a: int}}"),
            "1:27: task 't': ingest: schema of column 'a': unknown type 'int' (types: int64, float64, bool, string, "
            "timestamp)\n");
}

// ---------------------------------------------------------------- validate

const char* kPeople =
    "id,age,country,email\n"
    "1,34,US,a@x.com\n"
    "2,-1,DE,b@x.com\n"
    "2,51,XX,not-an-email\n"
    "4,NA,US,NA\n"
    "5,200,FR,e@x.com\n";

TEST_F(OpsTest, ValidateCountsEachCheckWithExamples) {
  TaskResult r = Run("validate", R"({
    checks: [
      {column: id, not_null: true, unique: true},
      {column: age, min: 0, max: 120},
      {column: country, in: [US, DE, FR]},
      {column: email, matches: '^[^@]+@[^@]+$'}],
    on_failure: warn})", kPeople);
  ASSERT_TRUE(r.ok) << r.error;
  nlohmann::json report = Report();
  auto check = [&](int i) {
    const auto& c = report["checks"][i];
    return c["check"].get<std::string>() + ": " + std::to_string(c["rows_checked"].get<int64_t>()) + " checked, " +
           std::to_string(c["rows_failed"].get<int64_t>()) + " failed " + c["examples"].dump();
  };
  EXPECT_EQ(check(0), "id not null: 5 checked, 0 failed []");
  EXPECT_EQ(check(1), "id unique: 5 checked, 1 failed [\"2\"]");
  EXPECT_EQ(check(2), "age between 0 and 120: 4 checked, 2 failed [\"-1\",\"200\"]");
  EXPECT_EQ(check(3), "country in [US, DE, FR]: 5 checked, 1 failed [\"XX\"]");
  EXPECT_EQ(check(4), "email matches ^[^@]+@[^@]+$: 4 checked, 1 failed [\"not-an-email\"]");
  EXPECT_EQ(report["rows_failed"], 3);
  EXPECT_EQ(report["passed"], false);
  EXPECT_EQ(report["profile"]["age"]["nulls"], 1);
  EXPECT_EQ(report["profile"]["age"]["min"], -1);
  EXPECT_EQ(report["profile"]["age"]["max"], 200);
  EXPECT_DOUBLE_EQ(report["profile"]["age"]["mean"].get<double>(), 71.0);
  EXPECT_EQ(report["profile"]["country"]["distinct_estimate"], 4);
  // Distributions: 20 equal-width bins from min to max; the top values.
  EXPECT_EQ(report["profile"]["age"]["histogram"]["sampled"], 4);
  std::vector<int64_t> bins(20, 0);
  bins[0] = bins[3] = bins[5] = bins[19] = 1;  // -1, 34, 51, 200 over [-1, 200]
  EXPECT_EQ(report["profile"]["age"]["histogram"]["counts"].get<std::vector<int64_t>>(), bins);
  EXPECT_EQ(report["profile"]["country"]["top"]["values"].dump(), R"([["US",2],["DE",1],["FR",1],["XX",1]])");
  EXPECT_FALSE(report["profile"]["country"].contains("histogram"));
  // warn: every row passes on.
  EXPECT_EQ(out_->num_rows(), 5);
  EXPECT_EQ(r.metrics.summary, "5 row checks, 3 rows failed (60.00%)");
}

TEST_F(OpsTest, ValidateProfilesASampleOfABigColumn) {
  std::string csv = "x,name\n";
  for (int i = 0; i < 200000; ++i) csv += std::to_string(i) + ",u" + std::to_string(i) + "\n";
  TaskResult r = Run("validate", "{checks: [{column: x, not_null: true}]}", csv);
  ASSERT_TRUE(r.ok) << r.error;
  const nlohmann::json report = Report();
  const nlohmann::json& h = report["profile"]["x"]["histogram"];
  // Every 4th row (at most 65,536 of 200,000): 0, 4, ..., 199996.
  EXPECT_EQ(h["sampled"], 50000);
  int64_t total = 0;
  for (const auto& count : h["counts"]) {
    EXPECT_NEAR(count.get<double>(), 2500, 1);
    total += count.get<int64_t>();
  }
  EXPECT_EQ(total, 50000);
  // Too many distinct values for a top list (an id, free text).
  EXPECT_EQ(report["profile"]["name"]["type"], "string");
  EXPECT_FALSE(report["profile"]["name"].contains("top"));
}

TEST_F(OpsTest, ValidateProfilesFiniteValuesAndCountsNaNAndInfinitiesApart) {
  // 1,000 values from 0 to 999 and an inf and a NaN: min, max, mean and the
  // histogram are the finite values' (an inf made every bin but one empty
  // and the mean null), the others are counted.
  std::string csv = "x\n";
  for (int i = 0; i < 1000; ++i) csv += std::to_string(i) + ".0\n";
  csv += "inf\nnan\n";
  TaskResult r = Run("validate", "{checks: [{column: x, not_null: true}]}", csv);
  ASSERT_TRUE(r.ok) << r.error;
  const nlohmann::json p = Report()["profile"]["x"];
  EXPECT_EQ(p["min"], 0);
  EXPECT_EQ(p["max"], 999);
  EXPECT_EQ(p["mean"], 499.5);
  EXPECT_EQ(p["non_finite"], 2);
  EXPECT_EQ(p["histogram"]["sampled"], 1000);
  for (const auto& count : p["histogram"]["counts"]) EXPECT_EQ(count, 50) << p.dump();
}

TEST_F(OpsTest, ValidateInt64BoundsBeyondItsRange) {
  // A min above every int64 fails every value (it was taken as 2^63 - 1,
  // which passed); a max above every int64 bounds nothing.
  const char* csv = "n\n9223372036854775807\n-9223372036854775808\n0\n";
  auto failed = [&](const std::string& check) { return RowsFailed(check, csv); };
  EXPECT_EQ(failed("{column: n, min: 9.3e18}"), 3);
  EXPECT_EQ(failed("{column: n, max: -9.3e18}"), 3);
  EXPECT_EQ(failed("{column: n, max: 9.3e18}"), 0);
  EXPECT_EQ(failed("{column: n, min: -9.3e18}"), 0);
  EXPECT_EQ(failed("{column: n, min: -0.5, max: 0.5}"), 2);
  EXPECT_EQ(failed("{column: n, min: 0.2, max: 0.8}"), 3);
}

TEST_F(OpsTest, IntegerBoundsAreExactOnInt64Columns) {
  // Given ids beyond 2^53 (no double holds 9007199254740993), then a bound
  // written as an integer is compared exactly: validate's min/max,
  const char* csv = "id\n9007199254740993\n9007199254740992\n";
  auto failed = [&](const std::string& check) { return RowsFailed(check, csv); };
  EXPECT_EQ(failed("{column: id, max: 9007199254740993}"), 0);
  EXPECT_EQ(failed("{column: id, max: 9007199254740992}"), 1);
  EXPECT_EQ(failed("{column: id, min: 9007199254740993}"), 1);
  EXPECT_EQ(failed("{column: id, min: 9223372036854775807}"), 2);
  // clean's clip (the exact bound also goes into the fitted chain),
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {id: [null, 9007199254740992]}}]}", csv).ok);
  EXPECT_EQ(Dump(*out_), "id:int64\n9007199254740992\n9007199254740992\n");
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {id: [9007199254740993, null]}}]}", csv).ok);
  EXPECT_EQ(Dump(*out_), "id:int64\n9007199254740993\n9007199254740993\n");
  nlohmann::json chain = nlohmann::json::parse(out_->metadata().at("pipe.transform"));
  EXPECT_EQ(chain.back()["params"]["columns"][0][1], 9007199254740993) << chain.dump();
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {n: [null, 9223372036854775806]}}]}", "n\n9223372036854775807\n1\n").ok);
  EXPECT_EQ(Dump(*out_), "n:int64\n9223372036854775806\n1\n");
  EXPECT_EQ(Run("clean", "{steps: [{clip: {n: [9007199254740993, 9007199254740992]}}]}", csv).error.find("min is above max") !=
                std::string::npos,
            true);
  // and a float64 column still compares doubles.
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {x: [null, 2]}}]}", "x\n2.5\n1.5\n").ok);
  EXPECT_EQ(Dump(*out_), "x:float64\n2\n1.5\n");
}

TEST_F(OpsTest, FillingAnInt64ColumnWithItsMeanOrMedianMakesItFloat64) {
  // The median of an even count is the mean of the two middle values (the
  // contract; DuckDB's coalesce(n, median(n)) and pandas' fillna): 2.5, so
  // the column becomes float64 (it was rounded to 3 in an int64 column).
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: median}}]}", "n,b\n1,x\n2,x\n3,y\n4,y\n,z\n").ok);
  EXPECT_EQ(Dump(*out_), "n:float64,b:string\n1|x\n2|x\n3|y\n4|y\n2.5|z\n");
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: mean}}]}", "n\n1\n2\nNA\n").ok);
  EXPECT_EQ(Dump(*out_), "n:float64\n1\n2\n1.5\n");
  // Without a null too (one schema for every table); a value or mode keeps int64.
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: mean}}]}", "n\n1\n2\n").ok);
  EXPECT_EQ(Dump(*out_), "n:float64\n1\n2\n");
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: 0, m: mode}}]}", "n,m\n1,5\n,\n").ok);
  EXPECT_EQ(Dump(*out_), "n:int64,m:int64\n1|5\n0|5\n");
  // Values near int64's ends: the mean in doubles, as DuckDB's avg (2^63, no wrapped sign).
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: mean}}]}", "id,n\n1,9223372036854775807\n2,9223372036854775806\n3,\n").ok);
  EXPECT_EQ(out_->batch(0).columns[1]->doubles()[2], 9223372036854775808.0);
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {n: median}}]}", "n\n-9223372036854775808\n-9223372036854775807\nNA\n").ok);
  EXPECT_EQ(out_->batch(0).columns[0]->doubles()[2], -9223372036854775808.0);
}

TEST_F(OpsTest, ValidateFailAboveTheRateKeepsNoOutput) {
  TaskResult r = Run("validate", "{checks: [{column: age, min: 0}], max_failure_rate: 0.1}", kPeople);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "1 of 5 rows (20.00%) failed checks, more than max_failure_rate 0.1 (first: age >= 0: 1 rows, e.g. -1)");
  EXPECT_EQ(out_, nullptr);
  EXPECT_EQ(r.metrics.rows_in, 5);
  EXPECT_EQ(r.metrics.rows_out, 0);  // runs show says no rows came out
  // Within the rate, the failing rows are dropped from the output.
  r = Run("validate", "{checks: [{column: age, min: 0}], max_failure_rate: 0.2}", kPeople);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(out_->num_rows(), 4);
}

TEST_F(OpsTest, ValidateQuarantineMovesFailingRowsWithTheirReason) {
  TaskResult r = Run("validate", "{checks: [{column: age, min: 0, max: 120}], on_failure: quarantine, max_failure_rate: 0.5}",
                     kPeople);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.metrics.rows_in, 5);
  EXPECT_EQ(r.metrics.rows_out, 3);
  EXPECT_EQ(r.metrics.rows_quarantined, 2);
  auto q = ctx_->FindArtifact("t", "quarantine");
  ASSERT_TRUE(q);
  EXPECT_EQ(Dump(*columnar::ReadParquetFile(q->uri)),
            "id:int64,age:int64,country:string,email:string,_row:int64,_reason:string\n"
            "2|-1|DE|b@x.com|1|age between 0 and 120\n"
            "5|200|FR|e@x.com|4|age between 0 and 120\n");
}

TEST_F(OpsTest, ValidateThatDropsRowsKeepsTheFittedChainOfItsInput) {
  // A table that carries a fitted chain (a transform's output, or a Parquet
  // file written by one) keeps it through a validate that drops or
  // quarantines rows (within max_failure_rate), so serving replays the same steps.
  ASSERT_TRUE(Run("transform", "{steps: [{standardize: [age]}]}", kPeople).ok);
  const std::string chain = out_->metadata().at("pipe.transform");
  TablePtr fitted = out_;
  for (const char* on_failure : {"fail", "quarantine"}) {
    ctx_ = std::make_unique<OpContext>(
        "t", std::string("{checks: [{column: id, min: 2}], max_failure_rate: 0.5, on_failure: ") + on_failure + "}",
        dir_, std::optional<std::string>("up"));
    ctx_->SetInput("up", std::make_shared<ops::TableDataset>(fitted));
    TaskResult r = ops_.Find("validate")->Execute(*ctx_);
    ASSERT_TRUE(r.ok) << on_failure << ": " << r.error;
    const TablePtr kept = dynamic_cast<const ops::TableDataset&>(*ctx_->output()).table();
    EXPECT_LT(kept->num_rows(), fitted->num_rows()) << on_failure;
    ASSERT_TRUE(kept->metadata().count("pipe.transform")) << on_failure;
    EXPECT_EQ(kept->metadata().at("pipe.transform"), chain) << on_failure;
  }
}

TEST_F(OpsTest, ValidateTableChecks) {
  TaskResult r = Run("validate", R"({table: {row_count: {min: 10}, max_null_fraction: {age: 0.5}, unique: [id]},
                                    on_failure: warn})", kPeople);
  ASSERT_TRUE(r.ok);
  nlohmann::json report = Report();
  EXPECT_EQ(report["table_checks"][0]["check"], "row count >= 10");
  EXPECT_EQ(r.metrics.summary,
            "1 row checks, 1 rows failed (20.00%); table check failed: row count 5 is below the minimum 10");
  EXPECT_EQ(report["table_checks"][0]["passed"], false);
  EXPECT_EQ(report["table_checks"][1]["passed"], true);
  EXPECT_EQ(report["checks"][0]["check"], "rows unique over id");
  EXPECT_EQ(report["checks"][0]["rows_failed"], 1);
  r = Run("validate", "{table: {row_count: {min: 10}}}", kPeople);
  EXPECT_FALSE(r.ok);
  // Said once (the error; the summary beside it in DETAIL does not repeat it),
  // as what was expected.
  EXPECT_EQ(r.error, "table check failed: row count 5 is below the minimum 10");
  EXPECT_EQ(r.metrics.summary.find("row count"), std::string::npos) << r.metrics.summary;
  r = Run("validate", "{table: {row_count: {min: 1, max: 3}}}", kPeople);
  EXPECT_EQ(r.error, "table check failed: row count 5 is above the maximum 3");
  r = Run("validate", "{table: {max_null_fraction: {age: 0.1}}}", kPeople);
  EXPECT_EQ(r.error, "table check failed: column 'age' null fraction 0.2 is above the maximum 0.1");
}

TEST_F(OpsTest, ValidateUnknownColumnAndBadArgs) {
  TaskResult r = Run("validate", "{checks: [{column: agee, not_null: true}]}", kPeople);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "check 'agee not null': column 'agee' is not in the input (columns: id, age, country, email)");
  EXPECT_EQ(Check("validate", "{checks: [{column: a, matches: '('}], on_failure: maybe}"),
            "1:32: task 't': validate: checks: 'matches' is not a valid regular expression (RE2 syntax): "
            "missing ): (\n"
            "1:51: task 't': validate: 'on_failure' must be one of fail, quarantine, warn, found 'maybe'\n");
}

TEST_F(OpsTest, ValidateMatchesLongValuesInLinearTime) {
  // Values of a million characters, against the docs' own pattern and one
  // that backtracks: answered (std::regex overflowed the stack at 50,000).
  const std::string long_email = std::string(1'000'000, 'a') + "@b";
  const std::string long_ab = std::string(500'000, 'a') + std::string(500'000, 'b');
  const std::string csv = "s\n" + long_email + "\n" + long_ab + "\nc\n";
  TaskResult r = Run("validate", R"({checks: [{column: s, matches: '^[^@]+@[^@]+$'}], on_failure: warn})", csv);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Report()["checks"][0]["rows_failed"], 2);  // the ab value and c
  r = Run("validate", R"({checks: [{column: s, matches: '^(a|b)*$'}], on_failure: warn})", csv);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Report()["checks"][0]["rows_failed"], 2);  // the email and c
}

// ---------------------------------------------------------------- clean

TEST_F(OpsTest, CleanStepsInOrder) {
  TaskResult r = Run("clean", R"({steps: [
      {drop_duplicates: all},
      {fill_nulls: {age: median, country: mode}},
      {clip: {age: [0, 100]}},
      {filter: "country != 'XX' and age >= 18"},
      {cast: {age: float64}}]})",
                     "id,age,country\n1,10,US\n1,10,US\n2,NA,DE\n3,30,NA\n4,200,US\n5,40,XX\n");
  ASSERT_TRUE(r.ok) << r.error;
  // median of 10, 30, 200, 40 = 35; mode of US, DE, US, XX = US.
  EXPECT_EQ(Dump(*out_), "id:int64,age:float64,country:string\n2|35|DE\n3|30|US\n4|100|US\n");
  EXPECT_EQ(r.metrics.rows_in, 6);
  EXPECT_EQ(r.metrics.rows_out, 3);
  EXPECT_EQ(r.metrics.summary, "5 steps, drop_duplicates -1 rows, filter -2 rows");
}

TEST_F(OpsTest, CleanClipsInt64WithBoundsBeyondItsRange) {
  // A bound beyond int64's range is no bound on that side (it was cast, out
  // of range, to -2^63: every value became -9223372036854775808); bounds no
  // int64 lies within are an error.
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {n: [0, 1e19]}}]}", "n\n5\n-7\n100\n9223372036854775807\n").ok);
  EXPECT_EQ(Dump(*out_), "n:int64\n5\n0\n100\n9223372036854775807\n");
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {n: [-1e30, 9.3e18]}}]}", "n\n-9223372036854775808\n7\n").ok);
  EXPECT_EQ(Dump(*out_), "n:int64\n-9223372036854775808\n7\n");
  ASSERT_TRUE(Run("clean", "{steps: [{clip: {n: [0.5, 2.5]}}]}", "n\n0\n1\n3\n").ok);  // rounded inward
  EXPECT_EQ(Dump(*out_), "n:int64\n1\n1\n2\n");
  EXPECT_EQ(Run("clean", "{steps: [{clip: {n: [1e19, null]}}]}", "n\n5\n").error,
            "clip: column 'n' is int64, and no int64 lies within the bounds [1e+19, null]");
  EXPECT_EQ(Run("clean", "{steps: [{clip: {n: [0.2, 0.8]}}]}", "n\n5\n").error,
            "clip: column 'n' is int64, and no int64 lies within the bounds [0.2, 0.8]");
}

TEST_F(OpsTest, CleanMedianOfEvenCountAndMeanAndDropNulls) {
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {x: median}}]}", "x\n1.0\n2.0\nNA\n4.0\n10.0\n").ok);
  EXPECT_EQ(Dump(*out_), "x:float64\n1\n2\n3\n4\n10\n");
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {x: mean, s: none}}]}", "x,s\n1.0,a\nNA,NA\n2.0,b\n").ok);
  EXPECT_EQ(Dump(*out_), "x:float64,s:string\n1|a\n1.5|none\n2|b\n");
  ASSERT_TRUE(Run("clean", "{steps: [{drop_nulls: [x, s]}]}", "x,s\n1,a\nNA,b\n3,NA\n4,d\n").ok);
  EXPECT_EQ(Dump(*out_), "x:int64,s:string\n1|a\n4|d\n");
}

TEST_F(OpsTest, CleanFillValuesJoinTheFittedChainEvenWithoutNulls) {
  // y has no nulls here: its median is still fitted, for rows that will.
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {x: mean, y: median, s: none}}]}", "x,y,s\n1.0,4,a\nNA,6,NA\n2.0,9,b\n").ok);
  nlohmann::json chain = nlohmann::json::parse(out_->metadata().at("pipe.transform"));
  // The chain starts with the columns the rows had (what serving takes).
  EXPECT_EQ(chain, nlohmann::json::parse(
                       R"([{"step": "source", "params": {"columns": [{"name": "x", "type": "float64"},
                              {"name": "y", "type": "int64"}, {"name": "s", "type": "string"}]}},
                           {"step": "cast", "params": {"columns": [["y", "float64"]]}},
                           {"step": "fill_nulls", "params": {"columns": {"x": 1.5, "y": 6.0, "s": "none"}}}])"));
  // A transform after it appends its steps to the same chain; train records it.
  std::string csv = "a,b\n";
  for (int i = 0; i < 40; ++i) csv += (i == 3 ? std::string("NA") : std::to_string(i)) + "," + std::to_string(2 * i + 1) + "\n";
  ASSERT_TRUE(Run("clean", "{steps: [{fill_nulls: {a: median}}]}", csv).ok);
  TablePtr cleaned = out_;
  ctx_ = std::make_unique<OpContext>("t", "{steps: [{standardize: [a]}]}", dir_, std::optional<std::string>("up"));
  ctx_->SetInput("up", std::make_shared<ops::TableDataset>(cleaned));
  ASSERT_TRUE(ops_.Find("transform")->Execute(*ctx_).ok);
  TablePtr transformed = dynamic_cast<const ops::TableDataset&>(*ctx_->output()).table();
  ctx_ = std::make_unique<OpContext>("t", "{target: b, model: linear_regression}", dir_, std::optional<std::string>("up"));
  ctx_->SetInput("up", std::make_shared<ops::TableDataset>(transformed));
  TaskResult trained = ops_.Find("train")->Execute(*ctx_);
  ASSERT_TRUE(trained.ok) << trained.error;
  nlohmann::json recorded = nlohmann::json::parse(ctx_->models().at(0).transforms_json);
  ASSERT_EQ(recorded.size(), 4u);
  EXPECT_EQ(recorded[0]["step"], "source");
  EXPECT_EQ(recorded[1]["step"], "cast");  // an int64 column filled with its median is float64
  EXPECT_EQ(recorded[2]["step"], "fill_nulls");
  EXPECT_EQ(recorded[2]["params"]["columns"]["a"], 20.0);  // the median of 0..39 without 3
  EXPECT_EQ(recorded[3]["step"], "standardize");
}

TEST_F(OpsTest, CleanErrorsNameTheStepAndColumn) {
  EXPECT_EQ(Run("clean", "{steps: [{drop_nulls: [nope]}]}", "x\n1\n").error,
            "drop_nulls: column 'nope' is not in the input (columns: x)");
  EXPECT_EQ(Run("clean", "{steps: [{cast: {s: int64}}]}", "s\n1\nabc\n").error,
            "cast: column 's' row 2: 'abc' is not a int64");
  EXPECT_EQ(Run("clean", "{steps: [{filter: \"x > 'a'\"}]}", "x\n1\n").error,
            "filter \"x > 'a'\": position 3: cannot compare float64 with string");
  EXPECT_EQ(Run("clean", "{steps: [{fill_nulls: {s: mean}}]}", "s\na\nNA\n").error,
            "fill_nulls: mean needs a numeric column, 's' is string");
  EXPECT_EQ(Check("clean", "{steps: [{dedupe: all}]}"),
            "1:11: task 't': clean: dedupe: unknown argument 'dedupe'\n");
}

TEST_F(OpsTest, CleanMasksPersonalDataAndTheChainRecordsIt) {
  const std::string key = "a-mask-key-of-32-characters-long";
  SecretsFileScope secrets(dir_ / "secrets", "*:*:*:app:pw\nmask_key:" + key + "  \n");
  TaskResult r = Run("clean", R"({steps: [{mask: {email: hash, born: {generalize: month}, zip: {truncate: 2},
                                                  name: redact, id: hash}}]})",
                     "id,email,born,zip,name\n7,a@x.org,1990-05-17T08:00:00Z,F-75011,Ann\n"
                     "8,NA,1985-12-31T23:59:59Z,NA,NA\n9,a@x.org,NA,D-1000,Bo\n");
  ASSERT_TRUE(r.ok) << r.error;
  const std::string a = ml::HmacSha256Hex(key, "a@x.org");
  EXPECT_EQ(Dump(*out_), "id:string,email:string,born:timestamp,zip:string,name:string\n" +
                             ml::HmacSha256Hex(key, "7") + "|" + a + "|1990-05-01 00:00:00|F-|REDACTED\n" +
                             ml::HmacSha256Hex(key, "8") + "|NULL|1985-12-01 00:00:00|NULL|NULL\n" +
                             ml::HmacSha256Hex(key, "9") + "|" + a + "|NULL|D-|REDACTED\n");
  // Serving replays the rules (never the key).
  nlohmann::json chain = nlohmann::json::parse(out_->metadata().at("pipe.transform"));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1], nlohmann::json::parse(R"({"step": "mask", "params": {"columns": [["email", "hash"],
      ["born", {"generalize": "month"}], ["zip", {"truncate": 2}], ["name", "redact"], ["id", "hash"]]}})"));
  EXPECT_EQ(Read(dir_ / "t.log").find(key), std::string::npos);
}

TEST_F(OpsTest, MaskErrorsNameTheColumnAndTheKey) {
  EXPECT_EQ(Run("transform", "{steps: [{mask: {email: hash}}]}", "email\na@x.org\n").error,
            "mask: hash of column 'email' needs a key: add a line 'mask_key:SECRET' to the secrets file "
            "(--secrets or PIPE_SECRETS)");
  {
    SecretsFileScope secrets(dir_ / "secrets", "mask_key:short\n");
    EXPECT_EQ(Run("transform", "{steps: [{mask: {email: hash}}]}", "email\na@x.org\n").error,
              "mask: the mask_key in the secrets file " + (dir_ / "secrets").string() + " is shorter than 16 characters");
  }
  EXPECT_EQ(Run("clean", "{steps: [{mask: {n: {truncate: 2}}}]}", "n\n12\n").error,
            "mask: column 'n' is int64, truncate takes a string");
  EXPECT_EQ(Run("clean", "{steps: [{mask: {nope: redact}}]}", "n\n12\n").error,
            "mask: column 'nope' is not in the input (columns: n)");
  EXPECT_EQ(Check("clean", "{steps: [{mask: {n: scramble}}]}"),
            "1:21: task 't': clean: mask: column 'n': a mask is hash, redact, {truncate: N} or {generalize: day|month}\n");
}

TEST_F(OpsTest, CleanDropKeysFromAFileOrATask) {
  // A string key keeps its leading zeros: the list is read with the column's type.
  Write("erase.csv", "code,why\n007,asked\n0099,asked\n");
  ASSERT_TRUE(Run("clean", "{steps: [{drop_keys: {column: code, from: erase.csv}}]}",
                  "code,v\n007,1\nabc,2\nNA,3\n0099,4\n7,5\n").ok);
  EXPECT_EQ(Dump(*out_), "code:string,v:int64\nabc|2\nNULL|3\n7|5\n");
  // From an upstream task's output.
  ctx_ = std::make_unique<OpContext>("t", "{steps: [{drop_keys: {column: id, from: erase}}]}", dir_,
                                     std::optional<std::string>("up"));
  ctx_->SetInput("up", std::make_shared<ops::TableDataset>(columnar::ReadCsvText("id,v\n1,a\n2,b\n3,c\n", "in.csv").table));
  ctx_->SetInput("erase", std::make_shared<ops::TableDataset>(columnar::ReadCsvText("id\n3\n1\n", "e.csv").table));
  TaskResult r = ops_.Find("clean")->Execute(*ctx_);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Dump(*dynamic_cast<const ops::TableDataset&>(*ctx_->output()).table()), "id:int64,v:string\n2|b\n");
  EXPECT_EQ(r.metrics.summary, "1 step, drop_keys -2 rows");
  // Errors name the list.
  Write("bad.csv", "id\nx\n");
  EXPECT_EQ(Run("clean", "{steps: [{drop_keys: {column: id, from: bad.csv}}]}", "id\n1\n").error,
            "drop_keys: " + (dir_ / "bad.csv").string() + ":2: column id: 'x' is not of type int64");
  Write("other.csv", "user\n1\n");
  EXPECT_EQ(Run("clean", "{steps: [{drop_keys: {column: id, from: other.csv}}]}", "id\n1\n").error,
            "drop_keys: " + (dir_ / "other.csv").string() + ": column id declared in the schema is not in the file");
  EXPECT_EQ(Run("clean", "{steps: [{drop_keys: {column: id, from: nothere.csv}}]}", "id\n1\n").error,
            "drop_keys: cannot open " + (dir_ / "nothere.csv").string() + ": No such file or directory");
}

// ---------------------------------------------------------------- transform

TEST_F(OpsTest, OneHotRefusesOutputNamesThatAreTaken) {
  // A column of the table named like an output, and a category "__other__"
  // beside the overflow column, would be replaced without a word: an error.
  EXPECT_EQ(Run("transform", "{steps: [{one_hot: {column: g, prefix: oh}}]}", "g,oh_a\na,x\nb,y\n").error,
            "one_hot: column 'g': output column 'oh_a' already exists (rename that column, or give one_hot another prefix)");
  EXPECT_EQ(Run("transform", "{steps: [{one_hot: {column: g, prefix: oh, max_categories: 2}}]}",
                "g\na\n__other__\na\n__other__\nb\nc\n")
                .error,
            "one_hot: column 'g': output column 'oh___other__' already exists (rename that column, or give one_hot another "
            "prefix)");
  ASSERT_TRUE(Run("transform", "{steps: [{one_hot: {column: g, prefix: oh}}]}", "g,oh\na,x\n").ok);  // no clash
  EXPECT_EQ(Dump(*out_), "g:string,oh:string,oh_a:bool\na|x|true\n");
}

TEST_F(OpsTest, TransformScalesEncodesAndSavesFittedParameters) {
  TaskResult r = Run("transform", R"({steps: [
      {standardize: {x: x_z}},
      {min_max: [y]},
      {label_encode: [c]},
      {one_hot: {column: d, max_categories: 2, prefix: d}},
      {bucketize: {column: x, bounds: [2, 3]}},
      {derive: {ratio: "x / y"}},
      {drop: [d]},
      {rename: {x: xx}}]})",
                     "x,y,c,d\n1,10,b,p\n2,20,a,q\n3,30,b,p\n4,NA,NA,r\n");
  ASSERT_TRUE(r.ok) << r.error;
  // x: mean 2.5, sample sd 1.29099...; y: min 10, max 30.
  EXPECT_EQ(Dump(*out_),
            "xx:int64,y:float64,c:int64,x_z:float64,d_p:bool,d_q:bool,d___other__:bool,x_bucket:int64,ratio:float64\n"
            "1|0|0|-1.161895003862225|true|false|false|0|inf\n"
            "2|0.5|1|-0.3872983346207417|false|true|false|1|4\n"
            "3|1|0|0.3872983346207417|true|false|false|2|3\n"
            "4|NULL|NULL|1.161895003862225|false|false|true|2|NULL\n");
  auto chain = nlohmann::json::parse(out_->metadata().at("pipe.transform"));
  EXPECT_EQ(chain[0]["step"], "source");
  EXPECT_EQ(chain[6]["params"], nlohmann::json::parse(R"({"expressions": [["ratio", "x / y"]]})"));
  EXPECT_EQ(chain[8]["params"], nlohmann::json::parse(R"({"pairs": [["x", "xx"]]})"));
  auto params = nlohmann::json(chain.begin() + 1, chain.end());
  EXPECT_EQ(params[0]["step"], "standardize");
  EXPECT_DOUBLE_EQ(params[0]["params"]["x"]["mean"].get<double>(), 2.5);
  EXPECT_NEAR(params[0]["params"]["x"]["std"].get<double>(), 1.2909944487358056, 1e-15);
  EXPECT_EQ(params[2]["params"]["c"]["categories"], nlohmann::json::parse(R"(["b","a"])"));
  EXPECT_EQ(params[3]["params"]["d"]["categories"], nlohmann::json::parse(R"(["p","q"])"));
  // Saved with the persisted output too.
  auto artifact = ctx_->FindArtifact("t", "output");
  ASSERT_TRUE(artifact);
  EXPECT_EQ(columnar::ReadParquetFile(artifact->uri)->metadata().at("pipe.transform"), out_->metadata().at("pipe.transform"));
  EXPECT_TRUE(ctx_->FindArtifact("t", "transform"));
}

TEST_F(OpsTest, TransformDatetimePartsAndLog1p) {
  ASSERT_TRUE(Run("transform", "{steps: [{datetime_parts: {column: ts, parts: [hour, dayofweek, day, month, year]}}, {log1p: {v: lv}}]}",
                  "ts,v\n2024-03-04T05:06:07,0\n1969-12-31T23:00:00,1\n").ok);
  EXPECT_EQ(Dump(*out_),
            "ts:timestamp,v:int64,ts_hour:int64,ts_dayofweek:int64,ts_day:int64,ts_month:int64,ts_year:int64,lv:float64\n"
            "2024-03-04 05:06:07|0|5|0|4|3|2024|0\n"
            "1969-12-31 23:00:00|1|23|2|31|12|1969|0.6931471805599453\n");
}

TEST_F(OpsTest, TransformErrors) {
  EXPECT_EQ(Run("transform", "{steps: [{standardize: [c]}]}", "c\nx\n").error, "standardize: column 'c' is string, not a number");
  EXPECT_EQ(Run("transform", "{steps: [{standardize: [c]}]}", "c\n1\n1\n").error,
            "standardize: column 'c' has no spread (all values equal)");
  EXPECT_EQ(Run("transform", "{steps: [{standardize: [c]}]}", "c\n1\nnan\n3\n4\n").error,
            "standardize: column 'c' holds 1 NaN or infinite value: it has no mean or spread to scale by (filter "
            "them out first)");
  EXPECT_EQ(Run("transform", "{steps: [{standardize: [c]}]}", "c\n1\ninf\n-inf\n4\n").error,
            "standardize: column 'c' holds 2 NaN or infinite values: it has no mean or spread to scale by (filter "
            "them out first)");
  EXPECT_EQ(Check("transform", "{steps: [{bucketize: {column: x, bounds: [3, 1]}}]}"),
            "1:46: task 't': transform: bucketize: 'bounds' must be strictly increasing\n");
}

// ---------------------------------------------------------------- features

TEST_F(OpsTest, FeaturesGroupByJoinsBackInRowOrder) {
  ASSERT_TRUE(Run("features", R"({key: u, aggregates: [
      {column: a, fn: count}, {column: a, fn: mean}, {column: a, fn: max, as: top}, {column: a, fn: std}, {column: s, fn: last}]})",
                  "u,a,s\n1,10,x\n2,5,y\n1,20,z\n1,NA,NA\n").ok);
  EXPECT_EQ(Dump(*out_),
            "u:int64,a:int64,s:string,a_count:int64,a_mean:float64,top:float64,a_std:float64,s_last:string\n"
            "1|10|x|2|15|20|7.0710678118654755|z\n"
            "2|5|y|1|5|5|NULL|y\n"
            "1|20|z|2|15|20|7.0710678118654755|z\n"
            "1|NULL|NULL|2|15|20|7.0710678118654755|z\n");
}

TEST_F(OpsTest, FeaturesPointInTimeSeesOnlyStrictlyEarlierRowsInTheWindow) {
  // Given rows of one key at 0h, 1h, 1h, 3h (out of order), then each row
  // aggregates only rows with a strictly earlier time within 2h.
  ASSERT_TRUE(Run("features", R"({key: u, time: ts,
      aggregates: [{column: a, fn: sum, window: 2h, as: s2h}, {column: a, fn: count, as: n_all}, {column: a, fn: last}],
      lags: [{column: a, n: 1}], time_since_last: gap})",
                  "u,ts,a\n"
                  "1,2024-01-01T03:00:00,8\n"
                  "1,2024-01-01T00:00:00,1\n"
                  "1,2024-01-01T01:00:00,2\n"
                  "2,2024-01-01T01:00:00,100\n"
                  "1,2024-01-01T01:00:00,4\n").ok);
  EXPECT_EQ(Dump(*out_),
            "u:int64,ts:timestamp,a:int64,s2h:float64,n_all:int64,a_last:int64,a_lag_1:int64,gap:float64\n"
            "1|2024-01-01 03:00:00|8|6|3|4|4|7200\n"
            "1|2024-01-01 00:00:00|1|NULL|0|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|2|1|1|1|1|3600\n"
            "2|2024-01-01 01:00:00|100|NULL|0|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|4|1|1|1|2|3600\n");
}

TEST_F(OpsTest, OnlineFeaturesAreAsOfJustAfterEachKeysLatestRow) {
  // Given the rows of the test above with online: true, then each key's
  // online features count every row of the key, its latest included (what a
  // new event sees); the table's own rows are as before.
  ASSERT_TRUE(Run("features", R"({key: u, time: ts,
      aggregates: [{column: a, fn: sum, window: 2h, as: s2h}, {column: a, fn: count, as: n_all}, {column: a, fn: last}],
      lags: [{column: a, n: 1}], time_since_last: gap, online: true})",
                  "u,ts,a\n"
                  "1,2024-01-01T03:00:00,8\n"
                  "1,2024-01-01T00:00:00,1\n"
                  "1,2024-01-01T01:00:00,2\n"
                  "2,2024-01-01T01:00:00,100\n"
                  "1,2024-01-01T01:00:00,4\n").ok);
  EXPECT_EQ(Dump(*out_),
            "u:int64,ts:timestamp,a:int64,s2h:float64,n_all:int64,a_last:int64,a_lag_1:int64,gap:float64\n"
            "1|2024-01-01 03:00:00|8|6|3|4|4|7200\n"
            "1|2024-01-01 00:00:00|1|NULL|0|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|2|1|1|1|1|3600\n"
            "2|2024-01-01 01:00:00|100|NULL|0|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|4|1|1|1|2|3600\n");
  auto online = ctx_->artifacts().find({"t", "online"});
  ASSERT_NE(online, ctx_->artifacts().end());
  TablePtr latest = columnar::ReadParquetFile(online->second.uri);
  // Key 1 just after 03:00: the 2h window holds 8 alone (01:00 is 2h back:
  // out), 4 values, the last 8, lag 1 is 8; the gap is the request's own.
  EXPECT_EQ(Dump(*latest),
            "u:int64,s2h:float64,n_all:int64,a_last:int64,a_lag_1:int64,gap:float64\n"
            "1|8|4|8|8|NULL\n"
            "2|100|1|100|100|NULL\n");
  EXPECT_EQ(latest->metadata().at("pipe.online_keys"), "[\"u\"]");
}

TEST_F(OpsTest, FeaturesWindowsForgetNaNInfinityAndHugeValuesThatLeftThem) {
  // Given a key whose values hold NaN, an infinity and 1e20 early on, then
  // once those have left the 1d window the figures are those of the values
  // in it (a running sum that subtracted kept NaN, and lost the 1s next to
  // 1e20); min and max skip NaN, with or without a window.
  ASSERT_TRUE(Run("features", R"({key: k, time: ts, aggregates: [
      {column: v, fn: sum, window: 1d, as: s}, {column: v, fn: mean, window: 1d, as: m},
      {column: v, fn: std, window: 1d, as: sd}, {column: v, fn: min, window: 1d, as: lo},
      {column: v, fn: max, window: 1d, as: hi}, {column: v, fn: max, as: hi_all}]})",
                  "k,ts,v\n"
                  "1,2024-01-01T00:00:00,1\n"
                  "1,2024-01-01T01:00:00,nan\n"
                  "1,2024-01-01T02:00:00,5\n"
                  "1,2024-01-01T03:00:00,inf\n"
                  "1,2024-01-01T04:00:00,1e20\n"
                  "1,2024-01-01T05:00:00,2\n"
                  "1,2024-01-03T00:00:00,3\n"
                  "1,2024-01-03T01:00:00,4\n"
                  "1,2024-01-03T02:00:00,1\n"
                  "1,2024-01-03T03:00:00,0\n").ok);
  EXPECT_EQ(Dump(*out_),
            "k:int64,ts:timestamp,v:float64,s:float64,m:float64,sd:float64,lo:float64,hi:float64,hi_all:float64\n"
            "1|2024-01-01 00:00:00|1|NULL|NULL|NULL|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|nan|1|1|NULL|1|1|1\n"
            "1|2024-01-01 02:00:00|5|nan|nan|nan|1|1|1\n"
            "1|2024-01-01 03:00:00|inf|nan|nan|nan|1|5|5\n"
            "1|2024-01-01 04:00:00|1e+20|nan|nan|nan|1|inf|inf\n"
            "1|2024-01-01 05:00:00|2|nan|nan|nan|1|inf|inf\n"
            "1|2024-01-03 00:00:00|3|NULL|NULL|NULL|NULL|NULL|inf\n"
            "1|2024-01-03 01:00:00|4|3|3|NULL|3|3|inf\n"
            "1|2024-01-03 02:00:00|1|7|3.5|0.7071067811865476|3|4|inf\n"
            "1|2024-01-03 03:00:00|0|8|2.6666666666666665|1.5275252316519465|1|4|inf\n");
  // 1e20 then 1s in one window: the 1s survive its leaving.
  ASSERT_TRUE(Run("features", R"({key: k, time: ts, aggregates: [
      {column: v, fn: sum, window: 2h, as: s}, {column: v, fn: mean, window: 2h, as: m},
      {column: v, fn: std, window: 2h, as: sd}]})",
                  "k,ts,v\n"
                  "1,2024-01-01T00:00:00,1e20\n"
                  "1,2024-01-01T01:00:00,1\n"
                  "1,2024-01-01T02:00:00,1\n"
                  "1,2024-01-01T03:00:00,1\n"
                  "1,2024-01-01T04:00:00,2\n"
                  "1,2024-01-01T05:00:00,0\n").ok);
  EXPECT_EQ(Dump(*out_),
            "k:int64,ts:timestamp,v:float64,s:float64,m:float64,sd:float64\n"
            "1|2024-01-01 00:00:00|1e+20|NULL|NULL|NULL\n"
            "1|2024-01-01 01:00:00|1|1e+20|1e+20|NULL\n"
            "1|2024-01-01 02:00:00|1|1e+20|5e+19|70710678118654754816\n"
            "1|2024-01-01 03:00:00|1|2|1|0\n"
            "1|2024-01-01 04:00:00|2|2|1|0\n"
            "1|2024-01-01 05:00:00|0|3|1.5|0.7071067811865476\n");
  // All NaN: min and max have no value left, with or without a window.
  ASSERT_TRUE(Run("features", R"({key: k, aggregates: [{column: v, fn: min}, {column: v, fn: max}]})",
                  "k,v\n1,nan\n1,nan\n2,3\n").ok);
  EXPECT_EQ(Dump(*out_), "k:int64,v:float64,v_min:float64,v_max:float64\n1|nan|nan|nan\n1|nan|nan|nan\n2|3|3|3\n");
}

TEST_F(OpsTest, FeaturesWindowsEqualABruteForceOverEveryWindow) {
  // Random keys, times and values (nulls, NaN, infinities, magnitudes from
  // 1e-3 to 1e15), every fn over a 3h window, against each window's values
  // aggregated from scratch.
  std::mt19937_64 rng(7);
  const int n = 3000;
  std::string csv = "k,ts,v\n";
  std::vector<int> key(n);
  std::vector<int64_t> hour(n);
  std::vector<std::optional<double>> value(n);
  for (int i = 0; i < n; ++i) {
    key[i] = int(rng() % 7);
    hour[i] = int64_t(rng() % 400);
    const int kind = int(rng() % 100);
    if (kind < 4) {
      value[i] = std::nullopt;
    } else if (kind < 6) {
      value[i] = std::nan("");
    } else if (kind < 7) {
      value[i] = (rng() % 2) ? INFINITY : -INFINITY;
    } else {
      value[i] = std::ldexp(double(rng() % 1000000) - 500000, int(rng() % 60) - 30);
    }
    char line[96];
    std::snprintf(line, sizeof line, "%d,2024-01-%02dT%02d:00:00,", key[i], int(1 + hour[i] / 24), int(hour[i] % 24));
    csv += line;
    if (value[i]) {
      std::snprintf(line, sizeof line, "%.17g", *value[i]);
      csv += line;
    }
    csv += "\n";
  }
  ASSERT_TRUE(Run("features", R"({key: k, time: ts, aggregates: [
      {column: v, fn: count, window: 3h, as: c}, {column: v, fn: sum, window: 3h, as: s},
      {column: v, fn: mean, window: 3h, as: m}, {column: v, fn: std, window: 3h, as: sd},
      {column: v, fn: min, window: 3h, as: lo}, {column: v, fn: max, window: 3h, as: hi}]})",
                  csv).ok);
  TablePtr flat = columnar::Concatenate(*out_);
  auto column = [&](const char* name) { return flat->batch(0).columns[*out_->schema().IndexOf(name)]; };
  auto same = [](double want, double got) {
    if (std::isnan(want) || std::isinf(want)) return std::isnan(want) ? std::isnan(got) : want == got;
    return std::abs(want - got) <= 1e-9 * std::max(1.0, std::abs(want));
  };
  int checked = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<double> w;  // non-null values of the window, in row order
    for (int j = 0; j < n; ++j) {
      if (key[j] == key[i] && hour[j] < hour[i] && hour[j] >= hour[i] - 3 && value[j]) w.push_back(*value[j]);
    }
    ASSERT_EQ(column("c")->ints()[i], int64_t(w.size())) << i;
    if (w.empty()) {
      EXPECT_TRUE(column("s")->IsNull(i) && column("lo")->IsNull(i)) << i;
      continue;
    }
    bool nan = false, pos = false, neg = false;
    long double sum = 0;
    double lo = INFINITY, hi = -INFINITY;
    bool any = false;
    for (double x : w) {
      nan |= std::isnan(x);
      pos |= x == INFINITY;
      neg |= x == -INFINITY;
      if (std::isfinite(x)) sum += x;
      if (!std::isnan(x)) {
        any = true;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
    }
    const double s = nan || (pos && neg) ? std::nan("") : pos ? INFINITY : neg ? -INFINITY : double(sum);
    EXPECT_TRUE(same(s, column("s")->doubles()[i])) << i << ": " << s << " vs " << column("s")->doubles()[i];
    EXPECT_TRUE(same(s / double(w.size()), column("m")->doubles()[i])) << i;
    EXPECT_TRUE(same(any ? lo : std::nan(""), column("lo")->doubles()[i])) << i;
    EXPECT_TRUE(same(any ? hi : std::nan(""), column("hi")->doubles()[i])) << i;
    if (w.size() < 2) {
      EXPECT_TRUE(column("sd")->IsNull(i)) << i;
    } else if (nan || pos || neg) {
      EXPECT_TRUE(std::isnan(column("sd")->doubles()[i])) << i;
    } else {
      long double mean = sum / w.size(), ss = 0;
      for (double x : w) ss += (x - mean) * (x - mean);
      const double sd = double(std::sqrt(ss / (w.size() - 1)));
      EXPECT_TRUE(same(sd, column("sd")->doubles()[i])) << i << ": " << sd << " vs " << column("sd")->doubles()[i];
    }
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST_F(OpsTest, FeaturesNeedTimeForWindowsAndLags) {
  EXPECT_EQ(Check("features", "{key: u, aggregates: [{column: a, fn: sum, window: 1h}]}"),
            "1:22: task 't': features: aggregate 'a_sum_1h' has a window but the features have no 'time'\n");
  EXPECT_EQ(Check("features", "{key: u, aggregates: [{column: a, fn: median}]}"),
            "1:39: task 't': features: aggregates: 'fn' must be one of count, sum, mean, min, max, std, last, found "
            "'median' (did you mean 'mean'?)\n");
}

// ---------------------------------------------------------------- export

TEST_F(OpsTest, ExportWritesEachFormatWhole) {
  const char* csv = "id,s\n1,a\n2,NA\n";
  ASSERT_TRUE(Run("export", "path: out/x.parquet", csv).ok);
  EXPECT_EQ(Dump(*columnar::ReadParquetFile((dir_ / "out/x.parquet").string())), "id:int64,s:string\n1|a\n2|NULL\n");
  ASSERT_TRUE(Run("export", "{path: out/x.csv}", csv).ok);
  EXPECT_EQ(Read(dir_ / "out/x.csv"), "id,s\n1,a\n2,\n");
  ASSERT_TRUE(Run("export", "{path: out/x.data, format: jsonl}", csv).ok);
  EXPECT_EQ(Read(dir_ / "out/x.data"), "{\"id\":1,\"s\":\"a\"}\n{\"id\":2,\"s\":null}\n");
  // The "export" artifact records what was written: its rows and columns.
  auto exported = ctx_->FindArtifact("t", "export");
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->row_count, 2);
  EXPECT_EQ(nlohmann::json::parse(exported->schema_json)["columns"].size(), 2u) << exported->schema_json;
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_ / "out")) ++files;
  EXPECT_EQ(files, 3);  // no temporary files left
}

TEST_F(OpsTest, ExportPartitionsHiveStyle) {
  TaskResult r = Run("export", "{path: out/parts, partition_by: [c]}", "id,c\n1,a\n2,b/x\n3,a\n4,NA\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(Dump(*columnar::ReadParquetFile((dir_ / "out/parts/c=a/part-0.parquet").string())), "id:int64\n1\n3\n");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out/parts/c=b%2Fx/part-0.parquet"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out/parts/c=__HIVE_DEFAULT_PARTITION__/part-0.parquet"));
  EXPECT_EQ(r.metrics.summary.substr(0, 13), "wrote 3 files");
  EXPECT_EQ(Run("export", "{path: out/p, partition_by: [zz]}", "id\n1\n").error,
            "partition_by: column 'zz' is not in the input (columns: id)");
  // A partition that cannot be written (its folder name is too long) leaves
  // the folder as it was: no partition of the failed try, no staging folder.
  const std::string long_value(300, 'z');
  TaskResult failed = Run("export", "{path: out/parts, partition_by: [c]}", "id,c\n9,a\n8,b\n7," + long_value + "\n6,c\n");
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.error.find("File name too long"), std::string::npos) << failed.error;
  EXPECT_EQ(Dump(*columnar::ReadParquetFile((dir_ / "out/parts/c=a/part-0.parquet").string())), "id:int64\n1\n3\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out/parts/c=c"));
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "out")) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"parts"});
  // and a later try that succeeds replaces the partitions it writes.
  ASSERT_TRUE(Run("export", "{path: out/parts, partition_by: [c]}", "id,c\n9,a\n6,c\n").ok);
  EXPECT_EQ(Dump(*columnar::ReadParquetFile((dir_ / "out/parts/c=a/part-0.parquet").string())), "id:int64\n9\n");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out/parts/c=c/part-0.parquet"));
  left.clear();
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "out")) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"parts"});
}

TEST_F(OpsTest, IngestParquetCastsToDeclaredTypes) {
  columnar::WriteParquetFile(*columnar::ReadCsvText("id,s\n1,2.5\n2,x\n", "in.csv").table, (dir_ / "a.parquet").string());
  ASSERT_TRUE(Run("ingest", "{path: a.parquet, schema: {id: float64}}").ok);
  EXPECT_EQ(Dump(*out_), "id:float64,s:string\n1|2.5\n2|x\n");
  EXPECT_EQ(Run("ingest", "{path: a.parquet, schema: {s: float64}}").error,
            "column s: 'x' cannot be cast to float64 as the schema declares");
  EXPECT_EQ(Run("ingest", "{path: a.parquet, schema: {zz: int64}}").error,
            "column zz declared in the schema is not in the file");
}

TEST_F(OpsTest, CancelledTryPublishesNothing) {
  // Given a try cancelled while it ran, then no output is handed on or persisted.
  ctx_ = std::make_unique<OpContext>("t", "{steps: [{drop_nulls: [x]}]}", dir_, "up");
  ctx_->SetInput("up", std::make_shared<ops::TableDataset>(columnar::ReadCsvText("x\n1\n", "in.csv").table));
  ctx_->Cancel();
  try {
    TaskResult r = ops_.Find("clean")->Execute(*ctx_);
    EXPECT_FALSE(r.ok);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  }
  EXPECT_EQ(ctx_->output(), nullptr);
  EXPECT_TRUE(ctx_->artifacts().empty());
}

// ---------------------------------------------------------------- hand-over

TEST_F(OpsTest, InputFallsBackToThePersistedArtifact) {
  // Given an upstream output only on disk (a try after a crash), then the
  // operator reads it from the artifact.
  TablePtr t = columnar::ReadCsvText("id\n7\n", "in.csv").table;
  std::string path = (dir_ / "up.parquet").string();
  columnar::WriteParquetFile(*t, path);
  ctx_ = std::make_unique<OpContext>("t", "path: out.csv", dir_, "up");
  ctx_->AddArtifact("up", ArtifactInfo{"output", path, "{}", 1, ""});
  ASSERT_TRUE(ops_.Find("export")->Execute(*ctx_).ok);
  EXPECT_EQ(Read(dir_ / "out.csv"), "id\n7\n");
  // Neither in memory nor on disk: a clear error.
  ctx_ = std::make_unique<OpContext>("t", "path: out.csv", dir_, "gone");
  try {
    ops_.Find("export")->Execute(*ctx_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "the output of task 'gone' is neither in memory nor persisted (was it run with persist: false in an "
              "earlier process?)");
  }
}

TEST_F(OpsTest, AnArtifactWhoseContentChangedIsNotRead) {
  // Given an upstream artifact recorded with its hash (as another process,
  // a worker on another machine, wrote it), then it is read while it is
  // what was written, and refused, naming both hashes, once it changed.
  TablePtr t = columnar::ReadCsvText("id\n7\n", "in.csv").table;
  std::string path = (dir_ / "up.parquet").string();
  columnar::WriteParquetFile(*t, path);
  const std::string hash = ops::FileHash(path);
  ctx_ = std::make_unique<OpContext>("t", "path: out.csv", dir_, "up");
  ctx_->AddArtifact("up", ArtifactInfo{"output", path, "{}", 1, hash});
  ASSERT_TRUE(ops_.Find("export")->Execute(*ctx_).ok);
  TablePtr other = columnar::ReadCsvText("id\n8\n", "in.csv").table;
  columnar::WriteParquetFile(*other, path);
  ctx_ = std::make_unique<OpContext>("t", "path: out2.csv", dir_, "up");
  ctx_->AddArtifact("up", ArtifactInfo{"output", path, "{}", 1, hash});
  try {
    ops_.Find("export")->Execute(*ctx_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
    EXPECT_EQ(std::string(e.what()), "the output of task 'up' (" + path + ") is not what the task wrote: its content hash is " +
                                         ops::FileHash(path) + ", recorded " + hash);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out2.csv"));
}

// ---------------------------------------------------------------- batches

// The row-local operators work batch by batch; a table cut into uneven
// batches must give what the same table in one batch gives: same rows, same
// reports, floats within 1e-12 (combined statistics may round differently).
class BatchedOpsTest : public OpsTest {
 protected:
  // 3,000 rows: keys with repeats, nulls in every column, outliers, strings,
  // timestamps; deterministic.
  static std::string Csv() {
    std::string csv = "id,user,amount,country,ts,flag\n";
    uint64_t x = 12345;
    auto next = [&] { return x = x * 6364136223846793005ULL + 1442695040888963407ULL, x >> 33; };
    const char* countries[] = {"US", "DE", "FR", "XX", "GB"};
    for (int i = 0; i < 3000; ++i) {
      int id = i % 2950;  // 50 repeated ids
      csv += std::to_string(id) + ",";
      csv += next() % 17 == 0 ? "NA," : std::to_string(next() % 40) + ",";
      uint64_t a = next();
      csv += a % 13 == 0 ? std::string("NA,") : a % 29 == 0 ? "-5," : std::to_string((a % 100000) / 100.0) + ",";
      csv += next() % 11 == 0 ? "NA," : std::string(countries[next() % 5]) + ",";
      char ts[32];
      std::snprintf(ts, sizeof ts, "2024-01-%02dT%02d:%02d:00,", static_cast<int>(1 + next() % 28),
                    static_cast<int>(next() % 24), static_cast<int>(next() % 60));
      csv += ts;
      csv += next() % 7 == 0 ? "NA\n" : (next() % 2 ? "true\n" : "false\n");
    }
    return csv;
  }

  // `table` cut into batches of 1, 63, 64, 65, 200 rows and the rest.
  static TablePtr Cut(const columnar::Table& table) {
    TablePtr flat = columnar::Concatenate(table);
    auto out = std::make_shared<columnar::Table>(table.schema());
    const int64_t sizes[] = {1, 63, 64, 65, 200, 1 << 30};
    int64_t at = 0;
    for (int64_t size : sizes) {
      const int64_t len = std::min(size, table.num_rows() - at);
      if (len <= 0) break;
      columnar::Batch b{len, {}};
      for (const auto& c : flat->batch(0).columns) b.columns.push_back(columnar::Slice(*c, at, len));
      out->AddBatch(std::move(b));
      at += len;
    }
    return out;
  }

  struct Outcome {
    TaskResult result;
    TablePtr output;
    std::map<std::string, std::string> artifacts;  // name -> Dump or JSON text
  };

  Outcome RunOn(const std::string& op, const std::string& with, TablePtr input) {
    ctx_ = std::make_unique<OpContext>("t", with, dir_, std::optional<std::string>("up"));
    ctx_->SetInput("up", std::make_shared<ops::TableDataset>(input));
    Outcome o{ops_.Find(op)->Execute(*ctx_), nullptr, {}};
    if (auto data = ctx_->output()) o.output = dynamic_cast<const ops::TableDataset&>(*data).table();
    for (const auto& [key, a] : ctx_->artifacts()) {
      if (key.second == "output") continue;
      o.artifacts[key.second] = a.uri.ends_with(".json") ? Read(a.uri) : Dump(*columnar::ReadParquetFile(a.uri));
    }
    return o;
  }

  // Equal texts, except that numbers may differ by 1e-12 relative.
  static void ExpectNear(const std::string& a, const std::string& b, const std::string& what) {
    static const std::regex number(R"(-?[0-9]+\.[0-9]+(e[-+]?[0-9]+)?)");
    std::vector<double> na, nb;
    for (auto it = std::sregex_iterator(a.begin(), a.end(), number); it != std::sregex_iterator(); ++it) {
      na.push_back(std::stod(it->str()));
    }
    for (auto it = std::sregex_iterator(b.begin(), b.end(), number); it != std::sregex_iterator(); ++it) {
      nb.push_back(std::stod(it->str()));
    }
    EXPECT_EQ(std::regex_replace(a, number, "#"), std::regex_replace(b, number, "#")) << what;
    ASSERT_EQ(na.size(), nb.size()) << what;
    for (size_t i = 0; i < na.size(); ++i) {
      EXPECT_NEAR(na[i], nb[i], 1e-12 * std::max(1.0, std::abs(na[i]))) << what << " number " << i;
    }
  }

  void ExpectSameInBatches(const std::string& op, const std::string& with) {
    TablePtr whole = columnar::Concatenate(*columnar::ReadCsvText(Csv(), "in.csv").table);
    TablePtr cut = Cut(*whole);
    ASSERT_EQ(whole->num_batches(), 1);
    ASSERT_EQ(cut->num_batches(), 6);
    Outcome one = RunOn(op, with, whole);
    Outcome many = RunOn(op, with, cut);
    // The same with every output column moved to a spill file as it is made.
    ::setenv("PIPE_MEMORY_LIMIT", "1", 1);
    Outcome spilled = RunOn(op, with, cut);
    ::unsetenv("PIPE_MEMORY_LIMIT");
    ASSERT_EQ(one.result.ok, spilled.result.ok) << spilled.result.error;
    EXPECT_EQ(one.result.error, spilled.result.error);
    EXPECT_NE(ctx_->log().find("spill file"), std::string::npos) << ctx_->log();
    if (spilled.output) {
      // Every column the operator made (not shared with the input) is in the
      // spill file, but for those under a page.
      std::set<const columnar::Column*> inputs;
      for (const auto& b : cut->batches()) {
        for (const auto& c : b.columns) inputs.insert(c.get());
      }
      for (const auto& b : spilled.output->batches()) {
        for (const auto& c : b.columns) {
          if (inputs.count(c.get()) || c->values_buffer().size() < 4096) continue;
          EXPECT_TRUE(c->values_buffer().external()) << op << ": a column of " << c->length() << " rows is in memory";
        }
      }
    }
    if (one.output) ExpectNear(Dump(*one.output), Dump(*spilled.output), op + " spilled output");
    for (const auto& [name, text] : one.artifacts) ExpectNear(text, spilled.artifacts[name], op + " spilled " + name);
    ASSERT_EQ(one.result.ok, many.result.ok) << one.result.error << " / " << many.result.error;
    EXPECT_EQ(one.result.error, many.result.error);
    EXPECT_EQ(one.result.metrics.rows_out, many.result.metrics.rows_out);
    EXPECT_EQ(one.result.metrics.rows_quarantined, many.result.metrics.rows_quarantined);
    EXPECT_EQ(one.result.metrics.summary, many.result.metrics.summary);
    ASSERT_EQ(one.output == nullptr, many.output == nullptr);
    if (one.output) {
      ExpectNear(Dump(*one.output), Dump(*many.output), op + " output");
      if (many.output->num_rows() > 2000) {
        EXPECT_GT(many.output->num_batches(), 1) << "the output keeps the batches";
      }
    }
    ASSERT_EQ(one.artifacts.size(), many.artifacts.size());
    for (const auto& [name, text] : one.artifacts) ExpectNear(text, many.artifacts[name], op + " " + name);
  }
};

TEST_F(OpsTest, AMemoryLimitThatIsNotASizeIsAnError) {
  ::setenv("PIPE_MEMORY_LIMIT", "lots", 1);
  try {
    Run("clean", "{steps: [{drop_nulls: [x]}]}", "x\n1\n");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "PIPE_MEMORY_LIMIT: 'lots' is not a size like 536870912, 512M or 8G");
  }
  ::setenv("PIPE_MEMORY_LIMIT", "2K", 1);
  EXPECT_TRUE(Run("clean", "{steps: [{drop_nulls: [x]}]}", "x\n1\n").ok);
  EXPECT_EQ(ctx_->log(), "") << "a 2-row table fits in 2 KiB";
  ::unsetenv("PIPE_MEMORY_LIMIT");
}

TEST_F(BatchedOpsTest, ValidateGivesTheSameInBatches) {
  ExpectSameInBatches("validate", R"y({
    checks: [
      {column: id, not_null: true, unique: true},
      {column: amount, min: 0, max: 900},
      {column: country, in: [US, DE, FR, GB, null]},
      {column: country, not_in: [XX]},
      {column: country, matches: '^[A-Z]{2}$'},
      {column: user, type: int64},
      {column: flag, type: string}],
    table: {unique: [id, user], max_null_fraction: {amount: 0.5}, row_count: {min: 1}},
    max_failure_rate: 1, on_failure: quarantine})y");
  ExpectSameInBatches("validate", "{checks: [{column: amount, not_null: true}], on_failure: warn}");
  ExpectSameInBatches("validate", "{checks: [{column: country, in: [US]}]}");
}

TEST_F(BatchedOpsTest, CleanGivesTheSameInBatches) {
  ExpectSameInBatches("clean", R"y({steps: [
      {drop_duplicates: [id]},
      {fill_nulls: {amount: median, country: mode, user: mean}},
      {clip: {amount: [0, 500]}},
      {filter: "country != 'XX' and (flag or flag is null)"},
      {drop_nulls: [flag]},
      {cast: {user: float64, id: string}},
      {drop_duplicates: all}]})y");
  ExpectSameInBatches("clean", R"y({steps: [{fill_nulls: {amount: mean}}, {filter: "amount > 100000"}, {fill_nulls: {user: 0}}]})y");
  // The first bad row of the table is the one named, whichever batch holds it.
  ExpectSameInBatches("clean", R"y({steps: [{filter: "id >= 150"}, {cast: {country: int64}}]})y");
}

TEST_F(BatchedOpsTest, TransformGivesTheSameInBatches) {
  ExpectSameInBatches("transform", R"y({steps: [
      {standardize: {amount: amount_z}},
      {min_max: [user]},
      {log1p: {amount: amount_log}},
      {label_encode: {country: country_code}},
      {one_hot: {column: country, max_categories: 3}},
      {bucketize: {column: amount, bounds: [10, 100, 500], as: amount_bucket}},
      {derive: {ratio: "amount / (user + 1)"}},
      {datetime_parts: {column: ts, parts: [hour, dayofweek, month]}},
      {drop: [flag]},
      {rename: {id: row_id}}]})y");
  ExpectSameInBatches("transform", "{steps: [{select: [amount, id]}, {standardize: [amount]}]}");
}

TEST_F(BatchedOpsTest, FeaturesGivesTheSameInBatches) {
  ExpectSameInBatches("features", R"y({key: country, aggregates: [
      {column: amount, fn: mean}, {column: amount, fn: std}, {column: user, fn: last}, {column: id, fn: count}]})y");
  ExpectSameInBatches("features", R"y({key: [country, flag], time: ts,
      aggregates: [{column: amount, fn: sum, window: 3d}, {column: amount, fn: max}],
      lags: [{column: amount, n: 2}], time_since_last: gap})y");
}

}  // namespace
}  // namespace pipeline

// ---------------------------------------------------------------- train

namespace pipeline {
namespace {

// n rows: id, ts (one minute apart), x1, x2 (numbers), flag (bool), y
// (logistic in x1 - x2, deterministic), amount (linear in x1, x2).
std::string TrainCsv(int n, bool with_null = false) {
  std::string csv = "id,ts,x1,x2,flag,y,amount\n";
  uint64_t state = 12345;
  auto uniform = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) / double(1ULL << 53);
  };
  for (int i = 0; i < n; ++i) {
    double x1 = uniform() * 4 - 2, x2 = uniform() * 4 - 2;
    int y = uniform() < 1 / (1 + std::exp(-(2 * x1 - x2))) ? 1 : 0;
    double amount = 10 + 3 * x1 - 2 * x2 + (uniform() - 0.5) * 0.1;
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-01-01T%02d:%02d:00Z", (i / 60) % 24, i % 60);
    csv += std::to_string(i) + "," + ts + "," + ((with_null && i == 7) ? "" : std::to_string(x1)) + "," +
           std::to_string(x2) + "," + (i % 3 ? "true" : "false") + "," + std::to_string(y) + "," +
           std::to_string(amount) + "\n";
  }
  return csv;
}

TEST_F(OpsTest, TrainLogisticRegistersAVersionWithMetricsAndItsFile) {
  TaskResult r = Run("train", "{target: y, features: [x1, x2, flag], model: logistic_regression, "
                              "params: {l2: 0.5, class_weight: balanced}, split: {test_fraction: 0.25, seed: 7}, name: risk}",
                     TrainCsv(800));
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(ctx_->models().size(), 1u);
  const ModelRegistration& m = ctx_->models()[0];
  EXPECT_EQ(m.name, "risk");
  EXPECT_EQ(m.model_type, "logistic_regression");
  EXPECT_EQ(m.kind, "classification");
  EXPECT_EQ(m.format, "pipe-linear-v1");
  nlohmann::json metrics = nlohmann::json::parse(m.metrics_json);
  EXPECT_EQ(metrics["test_rows"], 200);
  EXPECT_EQ(metrics["train_rows"], 600);
  EXPECT_GT(metrics["auc"].get<double>(), 0.8);
  auto c = metrics["confusion"];
  EXPECT_EQ(c["tp"].get<int>() + c["fp"].get<int>() + c["tn"].get<int>() + c["fn"].get<int>(), 200);
  EXPECT_EQ(nlohmann::json::parse(m.features_json),
            nlohmann::json::parse(R"([{"name":"x1","type":"float64"},{"name":"x2","type":"float64"},{"name":"flag","type":"bool"}])"));
  nlohmann::json importance = nlohmann::json::parse(m.importance_json);
  EXPECT_GT(importance["x1"].get<double>(), 0);
  EXPECT_LT(importance["x2"].get<double>(), 0);
  EXPECT_EQ(nlohmann::json::parse(m.params_json)["class_weight"], "balanced");
  // The file on disk is what was registered: its hash, and the coefficients.
  EXPECT_EQ(ops::FileHash(m.uri), m.content_hash);
  nlohmann::json file = nlohmann::json::parse(Read(m.uri));
  EXPECT_EQ(file["format"], "pipe-linear-v1");
  EXPECT_EQ(file["coef"].size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(m.inputs_json)[0]["task"], "up");
  EXPECT_NE(r.metrics.summary.find("risk v1 (logistic_regression): auc "), std::string::npos) << r.metrics.summary;
}

TEST_F(OpsTest, TrainDefaultsToEveryNumberAndBoolColumnButTheTarget) {
  TaskResult r = Run("train", "{target: amount, model: linear_regression}", TrainCsv(300));
  ASSERT_TRUE(r.ok) << r.error;
  const ModelRegistration& m = ctx_->models().at(0);
  EXPECT_EQ(m.name, "testdag");  // the DAG id
  EXPECT_EQ(m.kind, "regression");
  std::vector<std::string> names;
  for (const auto& f : nlohmann::json::parse(m.features_json)) names.push_back(f["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"id", "x1", "x2", "flag", "y"}));  // ts is a timestamp
  nlohmann::json metrics = nlohmann::json::parse(m.metrics_json);
  EXPECT_GT(metrics["r2"].get<double>(), 0.99);
  EXPECT_LT(metrics["rmse"].get<double>(), 0.1);
}

TEST_F(OpsTest, TrainByTimeTestsOnTheLatestRows) {
  // y is 1 only in the last fifth of the day: a by-time split puts every
  // positive in the test rows, so the training rows hold one class.
  std::string csv = "ts,x,y\n";
  for (int i = 0; i < 100; ++i) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-01-01T%02d:%02d:00Z", i / 60, i % 60);
    csv += std::string(ts) + "," + std::to_string(i % 7) + "," + (i >= 80 ? "1" : "0") + "\n";
  }
  TaskResult r = Run("train", "{target: y, model: logistic_regression, split: {by_time: ts, test_fraction: 0.2}}", csv);
  EXPECT_EQ(r.error, "train: the training rows hold one class only (every target is 0): a classifier needs both");
  TaskResult random = Run("train", "{target: y, model: logistic_regression, split: {test_fraction: 0.2}}", csv);
  EXPECT_TRUE(random.ok) << random.error;
}

TEST_F(OpsTest, TrainXgboostHandlesMissingValuesAndStopsEarly) {
  TaskResult r = Run("train", "{target: y, features: [x1, x2], model: xgboost, "
                              "params: {max_depth: 3, eta: 0.3, num_round: 300, early_stopping_rounds: 5, eval_metric: logloss}}",
                     TrainCsv(1000, /*with_null=*/true));
  ASSERT_TRUE(r.ok) << r.error;
  const ModelRegistration& m = ctx_->models().at(0);
  EXPECT_EQ(m.format, "xgboost-json");
  EXPECT_EQ(m.kind, "classification");
  nlohmann::json params = nlohmann::json::parse(m.params_json);
  EXPECT_EQ(params["objective"], "binary:logistic");
  EXPECT_EQ(params["tree_method"], "hist");  // pipe's default, recorded
  EXPECT_LT(params["rounds"].get<int>(), 300);
  EXPECT_EQ(params["rounds"].get<int>(), params["best_iteration"].get<int>() + 1);
  EXPECT_GT(nlohmann::json::parse(m.metrics_json)["auc"].get<double>(), 0.8);
  EXPECT_GT(nlohmann::json::parse(m.importance_json)["x1"].get<double>(), 0);
}

TEST_F(OpsTest, TrainStopsWhenCancelledMidFitAndLeavesNothing) {
  // A timeout or a cancel reaches a fit between its rounds: however late
  // the cancel comes, the try either ends whole or fails "cancelled" with no
  // model file written and no version registered.
  const std::string csv = TrainCsv(600);
  const std::string with = "{target: y, features: [x1, x2], model: xgboost, params: {num_round: 200, max_depth: 3}}";
  ASSERT_TRUE(Run("train", with, csv).ok);
  const int checks = ctx_->token().asked();
  EXPECT_GT(checks, 200);  // at least once a round
  for (int after : {0, 3, checks / 2, checks - 2}) {
    ctx_ = std::make_unique<OpContext>("t", with, dir_, std::optional<std::string>("up"));
    ctx_->SetInput("up", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(csv, "in.csv").table));
    ctx_->token().CancelAfter(after);
    std::filesystem::remove_all(dir_ / "artifacts");
    TaskResult r = ops_.Find("train")->Execute(*ctx_);
    EXPECT_FALSE(r.ok) << after;
    EXPECT_EQ(r.error, "cancelled") << after;
    EXPECT_TRUE(ctx_->models().empty()) << after;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "artifacts" / "t" / "model.try1.json")) << after;
  }
  for (const char* model : {"logistic_regression", "linear_regression"}) {
    const std::string linear = std::string("{target: y, features: [x1, x2], model: ") + model + "}";
    ASSERT_TRUE(Run("train", linear, csv).ok);
    const int asked = ctx_->token().asked();
    ctx_ = std::make_unique<OpContext>("t", linear, dir_, std::optional<std::string>("up"));
    ctx_->SetInput("up", std::make_shared<ops::TableDataset>(columnar::ReadCsvText(csv, "in.csv").table));
    ctx_->token().CancelAfter(asked - 2);
    TaskResult r = ops_.Find("train")->Execute(*ctx_);
    EXPECT_EQ(r.error, "cancelled") << model;
    EXPECT_TRUE(ctx_->models().empty()) << model;
  }
}

TEST_F(OpsTest, TrainBadInputIsAClearError) {
  EXPECT_EQ(Run("train", "{target: nope, model: linear_regression}", TrainCsv(50)).error,
            "train: target: column 'nope' is not in the input (columns: id, ts, x1, x2, flag, y, amount)");
  EXPECT_EQ(Run("train", "{target: ts, model: linear_regression}", TrainCsv(50)).error,
            "train: target 'ts' is timestamp, not a number or bool");
  EXPECT_EQ(Run("train", "{target: y, features: [x1], model: logistic_regression}", TrainCsv(50, true)).error,
            "train: feature 'x1' is null in 1 row (first: row 7); fill them with clean's fill_nulls, "
            "or use model xgboost, which handles missing values");
  EXPECT_EQ(Run("train", "{target: y, features: [x], model: logistic_regression}", "x,y\n1,0\n2,2\n3,1\n4,0\n5,1\n").error,
            "train: a classifier needs a target of 0 and 1 (or bool); 'y' holds 2 in row 1");
  // The same for xgboost told binary:logistic on labels 2 and 3 (it said
  // "one class only (every target is 0)"), by the row in the table.
  std::string labels = "a,y\n";
  for (int i = 0; i < 60; ++i) labels += std::to_string(i % 7) + "," + std::to_string(2 + i % 2) + "\n";
  EXPECT_EQ(Run("train", "{target: y, features: [a], model: xgboost, params: {objective: 'binary:logistic'}}", labels).error,
            "train: a classifier needs a target of 0 and 1 (or bool); 'y' holds 2 in row 0");
  // A feature column of empty fields (inferred as string): said so.
  EXPECT_EQ(Run("train", "{target: y, features: [x, z], model: xgboost}", "x,y,z\n1,0,\n2,1,\n3,0,\n4,1,\n5,1,\n").error,
            "train: feature 'z' holds no value (every row is null, so its type string was only guessed): declare it in "
            "ingest's schema, or leave it out");
  // XGBoost reads float32: a value beyond it, or an infinity, named where it is.
  EXPECT_EQ(Run("train", "{target: y, features: [x], model: xgboost}", "x,y\n1,0\n1e39,1\n3,0\n4,1\n5,1\n").error,
            "train: feature 'x' holds 1e+39 in row 1: xgboost takes finite float32 values (up to 3.4e38); NaN and null "
            "are missing values");
  EXPECT_EQ(Run("train", "{target: y, features: [x], model: xgboost}", "x,y\n1,0\n2,1\n-inf,0\n4,1\n5,1\n").error,
            "train: feature 'x' holds an infinity in row 2: xgboost takes finite float32 values (up to 3.4e38); NaN and "
            "null are missing values");
  EXPECT_EQ(Run("train", "{target: y, features: [x, s], model: linear_regression}", "x,s,y\n1,a,0\n2,b,1\n").error,
            "train: feature 's' is string, not a number or bool");
  std::string collinear = "a,b,y\n";
  for (int i = 0; i < 40; ++i) collinear += std::to_string(i) + "," + std::to_string(2 * i) + "," + std::to_string(i % 5) + "\n";
  std::string error = Run("train", "{target: y, model: linear_regression}", collinear).error;
  EXPECT_NE(error.find("feature 'b' is a combination of the features before it; drop it, or set params.l2"), std::string::npos)
      << error;
  EXPECT_TRUE(Run("train", "{target: y, model: linear_regression, params: {l2: 1}}", collinear).ok);
  EXPECT_EQ(Run("train", "{target: y, features: [x1], model: xgboost, params: {max_dpth: 3}}", TrainCsv(100)).error,
            "train: params: xgboost does not know the parameter 'max_dpth' "
            "(see https://xgboost.readthedocs.io/en/release_1.7.0/parameter.html)");
  EXPECT_EQ(Run("train", "{target: y, model: linear_regression, split: {test_fraction: 0.2}}", "x,y\n1,2\n2,3\n").error,
            "train: 2 rows leave no test rows at test_fraction 0.2");
  EXPECT_EQ(Run("train", "{target: y, features: [x], model: xgboost}", "x,y\n1,0\n2,0\n3,0\n4,0\n5,0\n").error,
            "train: the training rows hold one class only (every target is 0): a classifier needs both");
  EXPECT_EQ(Run("train", "{target: y, features: [x1], model: xgboost, params: {objective: 'binary:hinge'}}", TrainCsv(60)).error,
            "train: params: xgboost objective 'binary:hinge' is not supported: use binary:logistic (a classifier: "
            "probabilities) or reg:* / count:* (a regressor)");  // found with the arguments (at validation too)
  std::string constant = "c,x,y\n";
  for (int i = 0; i < 30; ++i) constant += "0.1," + std::to_string(i) + "," + std::to_string(i % 4) + "\n";
  EXPECT_EQ(Run("train", "{target: y, model: linear_regression}", constant).error,
            "train: feature 'c' is constant in the training rows: drop it, or set params.l2");
  EXPECT_TRUE(ctx_->models().empty());  // nothing registered by a failed try
}

TEST_F(OpsTest, TrainArgumentsAreCheckedAtValidation) {
  EXPECT_EQ(Check("train", "{target: y, model: forest}"),
            "1:20: task 't': train: 'model' must be one of logistic_regression, linear_regression, xgboost, found 'forest'\n");
  // Found without knowing the input's columns (an ingest without a schema).
  EXPECT_NE(Check("train", "{target: y, model: linear_regression, features: [x, y]}").find("feature 'y' is the target"),
            std::string::npos);
  std::string bad = Check("train", "{target: y, model: logistic_regression, params: {l2: -1, max_iter: 0.5, alpha: 3}}");
  EXPECT_NE(bad.find("'l2' must be a finite number >= 0"), std::string::npos) << bad;
  EXPECT_NE(Check("train", "{target: y, model: linear_regression, params: {l2: nan}}").find("'l2' must be a number, found 'nan'"),
            std::string::npos);
  EXPECT_NE(Check("train", "{target: y, model: xgboost, features: [a, b, a]}").find("feature 'a' is listed twice"),
            std::string::npos);
  EXPECT_NE(Check("train", "{target: y, model: xgboost, features: []}").find("'features' must name at least one column"),
            std::string::npos);
  EXPECT_NE(bad.find("'max_iter' must be a whole number >= 1"), std::string::npos) << bad;
  EXPECT_NE(bad.find("unknown argument 'alpha'"), std::string::npos) << bad;
  EXPECT_NE(Check("train", "{target: y, model: xgboost, split: {test_fraction: 1.5}}")
                .find("'test_fraction' must be between 0 and 1 (exclusive)"),
            std::string::npos);
  EXPECT_NE(Check("train", "{target: y, model: xgboost, name: Bad-Name}").find("'name' must be a lower-case letter"),
            std::string::npos);
  EXPECT_EQ(Check("train", "{target: y, model: xgboost, params: {num_round: 50, early_stopping_rounds: 5, eta: 0.1}}"), "");
  EXPECT_EQ(Check("train", "{target: y, model: xgboost, params: {eta: 0.1, max_dpth: 3}}"),
            "1:48: task 't': train: params: xgboost does not know the parameter 'max_dpth' "
            "(see https://xgboost.readthedocs.io/en/release_1.7.0/parameter.html)\n");
}

}  // namespace
}  // namespace pipeline
