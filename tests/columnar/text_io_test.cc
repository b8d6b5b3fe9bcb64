#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/jsonl.h"
#include "columnar/text_writer.h"
#include "table_dump.h"
#include "test_util.h"

namespace pipeline::columnar {
namespace {

std::string Dump(const Table& t) { return DumpRows(t); }

std::string Types(const Table& t) {
  std::string out;
  for (const Field& f : t.schema().fields()) out += (out.empty() ? "" : ",") + f.name + ":" + std::string(TypeName(f.type));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JsonlTest, InfersTypesInKeyOrderAndMissingKeysAreNull) {
  auto r = ReadJsonlText(
      "{\"id\": 1, \"amount\": 2.5, \"ok\": true, \"ts\": \"2024-01-01T00:00:00Z\", \"name\": \"a\"}\n"
      "\n"
      "{\"id\": 2, \"amount\": 3, \"name\": null, \"extra\": \"x\"}\n",
      "t.jsonl");
  EXPECT_EQ(Types(*r.table), "id:int64,amount:float64,ok:bool,ts:timestamp,name:string,extra:string");
  EXPECT_EQ(Dump(*r.table),
            "1|2.5|true|2024-01-01 00:00:00|a|NULL\n"
            "2|3|NULL|NULL|NULL|x\n");
}

TEST(JsonlTest, AKeyGivenTwiceCountsWithItsLastValueAsInPythonsJson) {
  auto r = ReadJsonlText("{\"a\": 1, \"b\": \"x\", \"a\": 2}\n{\"a\": 3, \"a\": null}\n", "t.jsonl");
  EXPECT_EQ(Types(*r.table), "a:int64,b:string");
  EXPECT_EQ(Dump(*r.table), "2|x\nNULL|NULL\n");
  // The last value decides whether the row fits, too.
  JsonlOptions o;
  o.quarantine_bad_rows = true;
  o.types = {{"a", DataType::kInt64}};
  r = ReadJsonlText("{\"a\": \"text\", \"a\": 4}\n{\"a\": 5, \"a\": \"text\"}\n", "t.jsonl", o);
  EXPECT_EQ(Dump(*r.table), "4\n");
  EXPECT_EQ(r.quarantine->num_rows(), 1);
}

TEST(JsonlTest, BadLinesFailWithLineOrGoToQuarantine) {
  std::string text = "{\"a\": 1}\n{\"a\": \n{\"a\": [1]}\n[1]\n{\"a\": 2}\n";
  try {
    ReadJsonlText(text, "t.jsonl");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).substr(0, 25), "t.jsonl:2: invalid JSON: ");
  }
  JsonlOptions o;
  o.quarantine_bad_rows = true;
  auto r = ReadJsonlText(text, "t.jsonl", o);
  EXPECT_EQ(Dump(*r.table), "1\n2\n");
  EXPECT_EQ(r.rows_read, 5);
  ASSERT_EQ(r.quarantine->num_rows(), 3);
  std::string q = Dump(*r.quarantine);
  EXPECT_NE(q.find("{\"a\": [1]}|t.jsonl|3|column a: nested values are not supported"), std::string::npos) << q;
  EXPECT_NE(q.find("[1]|t.jsonl|4|not a JSON object"), std::string::npos) << q;
}

TEST(JsonlTest, IntegersBeyond64BitsAreFloatsAndAByteOrderMarkIsSkipped) {
  // simdjson refuses integers beyond 64 bits; Python's json reads them, and
  // so do we, as float64 (a string holding digits stays a string). A number
  // beyond float64 is a bad line saying so; a UTF-8 BOM is skipped.
  auto r = ReadJsonlText("\xEF\xBB\xBF{\"a\": 1, \"s\": \"99999999999999999999\"}\n"
                         "{\"a\": 99999999999999999999, \"s\": \"x\\\"-1\"}\n"
                         "{\"a\": -9223372036854775809}\n{\"a\": 18446744073709551615}\n",
                         "t.jsonl");
  EXPECT_EQ(Types(*r.table), "a:float64,s:string");
  EXPECT_EQ(Dump(*r.table), "1|99999999999999999999\n1e+20|x\"-1\n-9223372036854775808|NULL\n18446744073709551616|NULL\n");
  try {
    ReadJsonlText("{\"a\": 1}\n{\"a\": 1e400}\n", "t.jsonl");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()), "t.jsonl:2: invalid JSON: a number beyond float64's range, or malformed");
  }
}

TEST(JsonlTest, EmptyFileIsAnError) {
  EXPECT_THROW(ReadJsonlText("\n\n", "t.jsonl"), FormatError);
}

TEST(TextWriterTest, CsvRoundTripKeepsNullsEmptyStringsAndQuotes) {
  // Given awkward strings, then writing and reading back gives the same table.
  std::string csv = "id,s,f,b,ts\n1,\"a,b\",1.5,true,2024-01-01 00:00:00\n2,\"\",,false,\n3,\"say \"\"hi\"\"\nok\",-0.25,,1969-12-31 23:59:59.5\n4,NULL_NOT,1e300,true,2024-02-29 12:00:00\n";
  auto first = ReadCsvText(csv, "in.csv");
  std::string dir = testing_util::FreshTestDir("columnar").string();
  std::string path = dir + "/out.csv";
  WriteCsvFile(*first.table, path);
  auto second = ReadCsvFiles({path});
  EXPECT_EQ(Types(*second.table), Types(*first.table));
  EXPECT_EQ(Dump(*second.table), Dump(*first.table));
  EXPECT_EQ(ReadFile(path).substr(0, 31), "id,s,f,b,ts\n1,\"a,b\",1.5,true,20");
  // No temporary file is left beside it.
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
}

TEST(TextWriterTest, NaNIsWrittenAsNanWhateverItsSignBit) {
  // 0 * -inf is a NaN with its sign bit set, which to_chars writes "-nan".
  ColumnBuilder f(DataType::kFloat64);
  f.AppendDouble(std::copysign(std::nan(""), -1.0));
  f.AppendDouble(std::nan(""));
  f.AppendDouble(-INFINITY);
  auto t = std::make_shared<Table>(Schema({{"f", DataType::kFloat64}}));
  t->AddBatch(Batch{3, {f.Finish()}});
  std::string path = testing_util::FreshTestDir("columnar_nan").string() + "/out.csv";
  WriteCsvFile(*t, path);
  EXPECT_EQ(ReadFile(path), "f\nnan\nnan\n-inf\n");
  EXPECT_EQ(ValueText(*t->batch(0).columns[0], 0), "nan");
}

TEST(TextWriterTest, JsonlRoundTrip) {
  auto first = ReadCsvText("id,s,ts\n1,\"tab\there\",2024-01-01T10:00:00\n2,,\n", "in.csv");
  std::string path = testing_util::FreshTestDir("columnar").string() + "/out.jsonl";
  WriteJsonlFile(*first.table, path);
  EXPECT_EQ(ReadFile(path),
            "{\"id\":1,\"s\":\"tab\\there\",\"ts\":\"2024-01-01T10:00:00Z\"}\n"
            "{\"id\":2,\"s\":null,\"ts\":null}\n");
  auto second = ReadJsonlFiles({path});
  EXPECT_EQ(Dump(*second.table), Dump(*first.table));
}

TEST(ComputeTest, CastParsesAndReportsTheFirstFailure) {
  auto t = ReadCsvText("s\n12\nNA\n7\nx\n", "t.csv");
  const Column& col = *t.table->batch(0).columns[0];
  int64_t row = -1;
  std::string text;
  EXPECT_EQ(Cast(col, DataType::kInt64, &row, &text), nullptr);
  EXPECT_EQ(row, 3);
  EXPECT_EQ(text, "x");
  auto ok = ReadCsvText("s\n1.9\nNA\n-2.9\n", "t.csv");
  ColumnPtr ints = Cast(*ok.table->batch(0).columns[0], DataType::kInt64, &row, &text);
  ASSERT_NE(ints, nullptr);
  EXPECT_EQ(ints->ints()[0], 1);
  EXPECT_TRUE(ints->IsNull(1));
  EXPECT_EQ(ints->ints()[2], -2);
}

}  // namespace
}  // namespace pipeline::columnar
