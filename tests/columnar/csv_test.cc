#include "columnar/csv.h"

#include <date/date.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <string>

#include "columnar/parquet.h"
#include "columnar/value_parse.h"
#include "test_util.h"

#include <filesystem>
#include <fstream>

namespace pipeline::columnar {
namespace {

std::string Cell(const Table& t, int col, int64_t row) {
  for (const Batch& b : t.batches()) {
    if (row < b.num_rows) {
      const Column& c = *b.columns[col];
      if (c.IsNull(row)) return "NULL";
      switch (c.type()) {
        case DataType::kInt64: return std::to_string(c.ints()[row]);
        case DataType::kFloat64: {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.17g", c.doubles()[row]);
          return buf;
        }
        case DataType::kBool: return c.bools()[row] ? "true" : "false";
        case DataType::kString: return std::string(c.StringAt(row));
        case DataType::kTimestamp: return FormatTimestamp(c.ints()[row]);
      }
    }
    row -= b.num_rows;
  }
  return "<out of range>";
}

// Every row as "a|b|c" lines.
std::string Dump(const Table& t) {
  std::string out;
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    for (int c = 0; c < t.num_columns(); ++c) out += (c ? "|" : "") + Cell(t, c, r);
    out += "\n";
  }
  return out;
}

std::string Types(const Table& t) {
  std::string out;
  for (const Field& f : t.schema().fields()) out += (out.empty() ? "" : ",") + f.name + ":" + std::string(TypeName(f.type));
  return out;
}

std::string ErrorOf(std::string_view text, const CsvOptions& options = {}) {
  try {
    ReadCsvText(text, "t.csv", options);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CsvTest, InfersEachType) {
  // Given one column of each kind, then each gets the most specific type.
  auto r = ReadCsvText("i,f,b,ts,s\n1,1.5,true,2024-01-02T03:04:05,x\n-7,2,FALSE,2024-01-02,y\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "i:int64,f:float64,b:bool,ts:timestamp,s:string");
  EXPECT_EQ(Dump(*r.table),
            "1|1.5|true|2024-01-02 03:04:05|x\n"
            "-7|2|false|2024-01-02 00:00:00|y\n");
  EXPECT_EQ(r.rows_read, 2);
}

TEST(CsvTest, NullValuesOnlyWhenUnquoted) {
  auto r = ReadCsvText("a,b\n,NA\n\"\",\"NA\"\nnull,x\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "a:string,b:string");
  EXPECT_EQ(Dump(*r.table), "NULL|NULL\n|NA\nNULL|x\n");
  EXPECT_EQ(r.table->batch(0).columns[0]->null_count(), 2);
}

TEST(CsvTest, QuotedFieldsHoldDelimitersQuotesAndNewlines) {
  auto r = ReadCsvText("a,b\r\n\"x,y\",\"he said \"\"hi\"\"\"\r\n\"line1\nline2\",2\r\n", "t.csv");
  EXPECT_EQ(Dump(*r.table), "x,y|he said \"hi\"\nline1\nline2|2\n");
}

TEST(CsvTest, BomNoTrailingNewlineAndEmptyLines) {
  auto r = ReadCsvText("\xEF\xBB\xBFid,v\n1,a\n\n2,b", "t.csv");
  EXPECT_EQ(Types(*r.table), "id:int64,v:string");
  EXPECT_EQ(Dump(*r.table), "1|a\n2|b\n");
}

TEST(CsvTest, WithoutHeaderColumnsAreNumbered) {
  CsvOptions o;
  o.header = false;
  o.delimiter = ';';
  auto r = ReadCsvText("1;x\n2;y\n", "t.csv", o);
  EXPECT_EQ(Types(*r.table), "column0:int64,column1:string");
  EXPECT_EQ(r.table->num_rows(), 2);
}

TEST(CsvTest, RepeatedHeaderNamesGetSuffixes) {
  auto r = ReadCsvText("a,a,,b\n1,2,3,4\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "a:int64,a_1:int64,column2:int64,b:int64");
}

TEST(CsvTest, HeaderOnlyIsAnEmptyTable) {
  auto r = ReadCsvText("a,b\n", "t.csv");
  EXPECT_EQ(r.table->num_rows(), 0);
  EXPECT_EQ(Types(*r.table), "a:string,b:string");
}

TEST(CsvTest, EmptyFileIsAnError) {
  EXPECT_EQ(ErrorOf(""), "t.csv: the file is empty (no header and no rows)");
  EXPECT_EQ(ErrorOf("\n\n"), "t.csv: the file is empty (no header and no rows)");
}

TEST(CsvTest, LinesEndingInCarriageReturnAloneAreAnErrorNotOneOddRow) {
  // (It read as a header a, "b\r1", "2\r3", 4 and no rows: a success with nothing.)
  const std::string error = "t.csv:1: the first row holds a carriage return (\\r) that ends no line: lines ending in "
                            "CR alone are not read; convert them to LF (tr '\\r' '\\n') or CRLF";
  EXPECT_EQ(ErrorOf("a,b\r1,2\r3,4\r"), error);
  EXPECT_EQ(ErrorOf("a\r1\r2"), error);
  // CRLF, and a CR inside a quoted name, are fine.
  EXPECT_EQ(ReadCsvText("a,b\r\n1,2\r\n", "t.csv").table->num_rows(), 1);
  EXPECT_EQ(Types(*ReadCsvText("\"a\rb\",c\n1,2\n", "t.csv").table), "a\rb:int64,c:int64");
}

TEST(CsvTest, NumbersWithLeadingZerosAreStringsUnlessDeclared) {
  // As DuckDB infers them: zip codes and account numbers keep their zeros.
  auto r = ReadCsvText("zip,acct,x,n,f\n02134,-0012,00.5,0,0.5\n10001,7,1.5,-0,0e1\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "zip:string,acct:string,x:string,n:int64,f:float64");
  EXPECT_EQ(Cell(*r.table, 0, 0), "02134");
  // A leading zero after 20,480 rows of plain numbers widens the column too.
  std::string text = "zip\n";
  for (int i = 0; i < 30000; ++i) text += std::to_string(10000 + i) + "\n";
  text += "02134\n";
  CsvOptions small_chunks;
  small_chunks.chunk_bytes = 4096;
  r = ReadCsvText(text, "t.csv", small_chunks);
  EXPECT_EQ(Types(*r.table), "zip:string");
  EXPECT_EQ(Cell(*r.table, 0, 30000), "02134");
  // Declared int64, they are numbers.
  CsvOptions declared;
  declared.types["zip"] = DataType::kInt64;
  r = ReadCsvText("zip\n02134\n", "t.csv", declared);
  EXPECT_EQ(Cell(*r.table, 0, 0), "2134");
}

TEST(CsvTest, AFileWithNoRowsLeavesTheTypesToTheNextFile) {
  // Given a glob whose first file (an empty day) has only the header, then
  // the types come from the next file's rows, not "string" for every column.
  const std::filesystem::path dir = testing_util::FreshTestDir("csv_types");
  std::ofstream(dir / "p0.csv") << "a,b\n";
  std::ofstream(dir / "p1.csv") << "a,b\n1,2024-01-02\n2,2024-01-03\n";
  CsvReadResult r = ReadCsvFiles({(dir / "p0.csv").string(), (dir / "p1.csv").string()});
  EXPECT_EQ(Types(*r.table), "a:int64,b:timestamp");
  EXPECT_EQ(r.table->num_rows(), 2);
}

TEST(CsvTest, RaggedRowFailsWithFileAndLine) {
  EXPECT_EQ(ErrorOf("a,b\n1,2\n3\n4,5\n"), "t.csv:3: expected 2 fields, found 1");
  EXPECT_EQ(ErrorOf("a,b\n1,2,3\n"), "t.csv:2: expected 2 fields, found 3");
}

TEST(CsvTest, LineNumbersCountNewlinesInsideQuotes) {
  EXPECT_EQ(ErrorOf("a,b\n\"x\ny\",1\n\"p\nq\nr\",2\n3\n"), "t.csv:7: expected 2 fields, found 1");
}

TEST(CsvTest, UnterminatedQuoteIsReportedAtItsRow) {
  EXPECT_EQ(ErrorOf("a,b\n1,2\n\"open,3\n4,5\n"), "t.csv:3: unterminated quoted field");
}

TEST(CsvTest, AQuoteInsideAnUnquotedFieldIsALiteralCharacter) {
  // As DuckDB, pandas and Python's csv read it (csv-spectrum's
  // location_coordinates.csv): a quote opens a quoted field only at its start.
  auto r = ReadCsvText("place,lat,lon\nSFO,37°36'37.8\"N,122°22'32.4\"W\nx\"y\",\"a,\"\"b\",z\"\n", "t.csv");
  EXPECT_EQ(Dump(*r.table), "SFO|37°36'37.8\"N|122°22'32.4\"W\nx\"y\"|a,\"b|z\"\n");
  // Still bad: text after a closing quote, and a quoted field never closed.
  EXPECT_EQ(ErrorOf("a,b\n\"x\"y,1\n"), "t.csv:2: column a: characters after a closing quote");
  EXPECT_EQ(ErrorOf("a,b\n1,\"x\n"), "t.csv:2: unterminated quoted field");
}

TEST(CsvTest, StrictQuotesMakeAQuoteInsideAnUnquotedFieldABadRow) {
  CsvOptions strict;
  strict.strict_quotes = true;
  EXPECT_EQ(ErrorOf("a,b\nx\"y\",1\n2,3\n", strict), "t.csv:2: column a: quote inside an unquoted field");
  // Each stray quote makes its own row bad; the rows between them are read
  // (the quotes used to open a quoted span over the next lines, and the
  // good rows inside it were lost in one bad row).
  strict.quarantine_bad_rows = true;
  auto r = ReadCsvText("id,desc\n1,5\" pipe\n2,nail\n3,screw\n4,bolt\n5,7\" tube\n6,washer\n", "t.csv", strict);
  EXPECT_EQ(Dump(*r.table), "2|nail\n3|screw\n4|bolt\n6|washer\n");
  EXPECT_EQ(r.rows_read, 6);
  EXPECT_EQ(Dump(*r.quarantine), "1|5\" pipe|t.csv|2|column desc: quote inside an unquoted field\n"
                                 "5|7\" tube|t.csv|6|column desc: quote inside an unquoted field\n");
}

// Random CSV whose fields hold quotes inside unquoted fields, quoted fields
// with delimiters, escaped quotes and newlines, at every offset of the 64-byte
// blocks; `expected` gets the rows as Dump prints them.
std::string RandomQuotedCsv(int rows, unsigned seed, std::string* expected) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string unquoted_chars = "ab \"\"\"9.";
  const std::string quoted_chars = "ab,\n\"\" ";
  std::string text = "c0,c1,c2\n";
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < 3; ++c) {
      std::string value = "x";  // never empty, never a number: stays a string
      int len = pick(12);
      bool quoted = pick(3) == 0;
      const std::string& chars = quoted ? quoted_chars : unquoted_chars;
      for (int k = 0; k < len; ++k) value += chars[static_cast<size_t>(pick(static_cast<int>(chars.size())))];
      if (quoted) {
        std::string escaped;
        for (char ch : value) escaped += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        text += "\"" + escaped + "\"";
      } else {
        text += value;
      }
      text += c < 2 ? "," : "\n";
      *expected += (c ? "|" : "") + value;
    }
    *expected += "\n";
  }
  return text;
}

TEST(CsvTest, LiteralQuotesReadTheSameAtEveryBlockOffsetChunkAndThreadCount) {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::string expected;
    std::string text = RandomQuotedCsv(2000, seed, &expected);
    for (int64_t chunk : {int64_t{64}, int64_t{257}, int64_t{4096}, int64_t{1} << 30}) {
      for (int threads : {1, 2}) {
        CsvOptions o;
        o.chunk_bytes = chunk;
        o.threads = threads;
        auto got = ReadCsvText(text, "t.csv", o);
        ASSERT_EQ(Dump(*got.table), expected) << "seed " << seed << " chunk " << chunk << " threads " << threads;
      }
    }
  }
}

TEST(CsvTest, InvalidUtf8IsABadRow) {
  EXPECT_EQ(ErrorOf("a,b\n1,ok\n2,\xff\xfe\n"), "t.csv:3: column b: invalid UTF-8");
}

TEST(CsvTest, DeclaredTypeMismatchAndOverflowAreBadRows) {
  CsvOptions o;
  o.types = {{"a", DataType::kInt64}};
  EXPECT_EQ(ErrorOf("a\n1\nx\n", o), "t.csv:3: column a: 'x' is not of type int64");
  EXPECT_EQ(ErrorOf("a\n1\n99999999999999999999\n", o),
            "t.csv:3: column a: '99999999999999999999' is not of type int64");
  o.types = {{"zz", DataType::kInt64}};
  EXPECT_EQ(ErrorOf("a\n1\n", o), "t.csv: column zz declared in the schema is not in the file");
}

TEST(CsvTest, QuarantinedTextIsUtf8AndMessagesCutBetweenCharacters) {
  // Bytes that are not UTF-8 are kept as U+FFFD in the quarantine (a Parquet
  // string must be UTF-8: DuckDB refused the file, and so did our reader);
  // a value shown in a message is cut before a character, not inside one.
  CsvOptions o;
  o.quarantine_bad_rows = true;
  o.types = {{"n", DataType::kInt64}};
  auto r = ReadCsvText("n,s\n1,ok\n2,bad\xff\xfe\n3\xff,x\n", "t.csv", o);
  EXPECT_EQ(Dump(*r.table), "1|ok\n");
  EXPECT_EQ(Dump(*r.quarantine), "2|bad\xEF\xBF\xBD\xEF\xBF\xBD|t.csv|3|column s: invalid UTF-8\n"
                                 "3\xEF\xBF\xBD|x|t.csv|4|column n: '3\xEF\xBF\xBD' is not of type int64\n");
  const std::string path = (std::filesystem::temp_directory_path() / ("pipe_q_" + std::to_string(getpid()) + ".parquet")).string();
  WriteParquetFile(*r.quarantine, path);
  EXPECT_EQ(Dump(*ReadParquetFile(path)), Dump(*r.quarantine));
  std::filesystem::remove(path);
  o.quarantine_bad_rows = false;
  const std::string value = std::string(39, 'x') + "\xC3\xA9";  // 39 x and an e-acute: 41 bytes
  EXPECT_EQ(ErrorOf("n\n" + value + "\n", o), "t.csv:2: column n: '" + std::string(39, 'x') + "' is not of type int64");
}

TEST(CsvTest, MalformedRowsDoNotDecideTheInferredTypes) {
  // A row that will be bad (text after a closing quote, a lone inner quote,
  // a stray quote under strict_quotes) is left out of type inference: the
  // good rows' int64 column stays int64.
  CsvOptions o;
  o.quarantine_bad_rows = true;
  for (const char* bad : {"\"x\"y", "\"x\"y\"", "x\"y"}) {
    o.strict_quotes = std::string(bad) == "x\"y";
    auto r = ReadCsvText(std::string("a,b\n1,2\n") + bad + ",7\n3,4\n", "t.csv", o);
    EXPECT_EQ(Types(*r.table), "a:int64,b:int64") << bad;
    EXPECT_EQ(Dump(*r.table), "1|2\n3|4\n") << bad;
    EXPECT_EQ(r.quarantine->num_rows(), 1) << bad;
  }
  // An escaped quote is a string value, not a malformed one.
  auto r = ReadCsvText("a\n1\n\"x\"\"y\"\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "a:string");
}

TEST(CsvTest, OverflowingIntegersAreInferredAsFloats) {
  auto r = ReadCsvText("a\n1\n99999999999999999999\n", "t.csv");
  EXPECT_EQ(Types(*r.table), "a:float64");
  EXPECT_EQ(Dump(*r.table), "1\n1e+20\n");
}

TEST(CsvTest, QuarantineKeepsRawFieldsLineAndReason) {
  // Given bad rows and quarantine, then rows in = rows out + rows quarantined.
  CsvOptions o;
  o.quarantine_bad_rows = true;
  o.types = {{"n", DataType::kInt64}};
  auto r = ReadCsvText("n,s\n1,a\nx,b\n3\n4,d\n", "t.csv", o);
  EXPECT_EQ(Dump(*r.table), "1|a\n4|d\n");
  EXPECT_EQ(r.rows_read, 4);
  EXPECT_EQ(r.quarantine->num_rows(), 2);
  EXPECT_EQ(Dump(*r.quarantine),
            "x|b|t.csv|3|column n: 'x' is not of type int64\n"
            "3|NULL|t.csv|4|expected 2 fields, found 1\n");
}

TEST(CsvTest, LateWiderValueWidensTheInferredType) {
  // Given 30,000 ints (past the sample) then a float and a word, then the
  // columns are float64 and string and every value is kept.
  std::string text = "a,b\n";
  for (int i = 0; i < 30000; ++i) text += std::to_string(i) + "," + std::to_string(i) + "\n";
  text += "2.5,word\n";
  CsvOptions o;
  o.chunk_bytes = 4096;
  auto r = ReadCsvText(text, "t.csv", o);
  EXPECT_EQ(Types(*r.table), "a:float64,b:string");
  EXPECT_EQ(r.table->num_rows(), 30001);
  EXPECT_EQ(Cell(*r.table, 0, 30000), "2.5");
  EXPECT_EQ(Cell(*r.table, 1, 29999), "29999");
  EXPECT_EQ(Cell(*r.table, 1, 30000), "word");
}

TEST(ValueParseTest, CivilDatesAgreeWithTheDateLibraryWhereItHasThem) {
  // Every day of years -32000..32000 in steps, and the day boundaries.
  for (int64_t day = -11'900'000; day <= 11'000'000; day += 997) {
    for (int64_t micros : {day * 86400'000000, day * 86400'000000 + 86399'999999}) {
      const CivilTime t = CivilOf(micros);
      const date::year_month_day ymd{date::sys_days{date::days{day}}};
      ASSERT_EQ(t.days, day) << micros;
      ASSERT_EQ(t.year, int(ymd.year())) << micros;
      ASSERT_EQ(t.month, unsigned(ymd.month())) << micros;
      ASSERT_EQ(t.day, unsigned(ymd.day())) << micros;
      ASSERT_EQ(t.micros_of_day, micros - day * 86400'000000) << micros;
    }
  }
}

TEST(CsvTest, TimestampForms) {
  int64_t t;
  ASSERT_TRUE(ParseTimestamp("1970-01-01T00:00:01.5Z", &t));
  EXPECT_EQ(t, 1'500000);
  ASSERT_TRUE(ParseTimestamp("1970-01-01 01:00:00+01:00", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseTimestamp("1969-12-31T23:59:59", &t));
  EXPECT_EQ(t, -1'000000);
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31 23:59:59.999999");
  // Every int64 has its date, beyond date's years (-32767..32767) too:
  // DuckDB's infinity (INT64_MAX) and -infinity (-INT64_MAX), int64's minimum.
  EXPECT_EQ(FormatTimestamp(INT64_MAX), "294247-01-10 04:00:54.775807");
  EXPECT_EQ(FormatTimestamp(-INT64_MAX), "-290308-12-21 19:59:05.224193");
  EXPECT_EQ(FormatTimestamp(INT64_MIN), "-290308-12-21 19:59:05.224192");
  EXPECT_EQ(FormatTimestamp(-65'322'892'800'000000), "-0100-01-01 00:00:00");  // astronomical year -100
  EXPECT_FALSE(ParseTimestamp("2024-02-30", &t));
  EXPECT_FALSE(ParseTimestamp("2024-01-01T25:00:00", &t));
  EXPECT_FALSE(ParseTimestamp("2024-01-01x", &t));
}

// Random CSV with quotes, embedded newlines, nulls and CRLF; parsed with many
// chunk sizes and thread counts, the result is always the same.
std::string RandomCsv(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string text = "id,name,amount,flag\n";
  const char* words[] = {"plain", "with,comma", "with \"quote\"", "multi\nline", "", "NA", "ünïcode"};
  for (int i = 0; i < rows; ++i) {
    text += std::to_string(i) + ",";
    std::string w = words[rng() % 7];
    bool quote = w.find_first_of(",\"\n") != std::string::npos || rng() % 4 == 0;
    if (quote) {
      std::string q = "\"";
      for (char c : w) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      text += q + "\"";
    } else {
      text += w;
    }
    text += ",";
    if (rng() % 10) text += std::to_string(static_cast<int>(rng() % 100000) - 500) + "." + std::to_string(rng() % 100);
    text += ",";
    text += rng() % 2 ? "true" : "false";
    text += rng() % 3 ? "\n" : "\r\n";
  }
  return text;
}

TEST(CsvTest, ChunkingAndThreadsNeverChangeTheResult) {
  std::string text = RandomCsv(3000, 7);
  CsvOptions one;
  one.chunk_bytes = int64_t{1} << 30;
  one.threads = 1;
  auto expected = ReadCsvText(text, "t.csv", one);
  ASSERT_EQ(expected.table->num_rows(), 3000);
  EXPECT_EQ(Types(*expected.table), "id:int64,name:string,amount:float64,flag:bool");
  std::string want = Dump(*expected.table);
  for (int64_t chunk : {64, 100, 333, 1000, 4096, 65536}) {
    for (int threads : {1, 2, 4}) {
      CsvOptions o;
      o.chunk_bytes = chunk;
      o.threads = threads;
      auto got = ReadCsvText(text, "t.csv", o);
      ASSERT_EQ(Dump(*got.table), want) << "chunk " << chunk << " threads " << threads;
      EXPECT_EQ(got.rows_read, 3000);
    }
  }
}

TEST(CsvTest, BadRowLinesAreExactAcrossChunks) {
  std::string text = RandomCsv(2000, 11);
  // Append a ragged row and find its line by counting.
  int64_t line = 1 + std::count(text.begin(), text.end(), '\n');
  text += "oops\n";
  for (int64_t chunk : {64, 500, 100000}) {
    CsvOptions o;
    o.chunk_bytes = chunk;
    EXPECT_EQ(ErrorOf(text, o), "t.csv:" + std::to_string(line) + ": expected 4 fields, found 1");
  }
}

}  // namespace
}  // namespace pipeline::columnar

namespace pipeline::columnar {
namespace {

TEST(CsvFileTest, TwoGigabyteFieldIsABadRowNotACrash) {
  // Given a 2 GiB quoted field between two good rows, then that row is a bad
  // row (quarantined, or the read fails at its line) and the others are read.
  std::string path = testing_util::FreshTestDir("csv").string() + "/big.csv";
  {
    std::ofstream out(path, std::ios::binary);
    // The field's bytes are a hole in a sparse file: 2 GiB of NULs that cost
    // no disk and read fast, but the reader still scans every byte.
    out << "a,b\n1,x\n2,\"";
    out.seekp(static_cast<std::streamoff>(out.tellp()) + (std::streamoff{1} << 31));
    out << "\"\n3,y\n";
  }
  CsvOptions options;
  options.quarantine_bad_rows = true;
  CsvReadResult r = ReadCsvFiles({path}, options);
  EXPECT_EQ(r.rows_read, 3);
  EXPECT_EQ(r.table->num_rows(), 2);
  ASSERT_EQ(r.quarantine->num_rows(), 1);
  EXPECT_EQ(std::string(r.quarantine->batch(0).columns[4]->StringAt(0)), "row longer than 1073741824 bytes");
  EXPECT_EQ(r.quarantine->batch(0).columns[3]->ints()[0], 3);
  options.quarantine_bad_rows = false;
  try {
    ReadCsvFiles({path}, options);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()), path + ":3: row longer than 1073741824 bytes");
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pipeline::columnar

namespace pipeline::columnar {
namespace {

TEST(ValueParseTest, IntegersAtTheLimits) {
  int64_t v;
  ASSERT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  ASSERT_TRUE(ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  ASSERT_TRUE(ParseInt64("+0000000000000000042", &v));
  EXPECT_EQ(v, 42);
  EXPECT_FALSE(ParseInt64("9223372036854775808", &v));
  EXPECT_FALSE(ParseInt64("-9223372036854775809", &v));
  EXPECT_FALSE(ParseInt64("99999999999999999999", &v));
  EXPECT_FALSE(ParseInt64("12a", &v));
  EXPECT_FALSE(ParseInt64("-", &v));
  EXPECT_FALSE(ParseInt64("", &v));
  EXPECT_FALSE(ParseInt64("1 ", &v));
}

TEST(ValueParseTest, DecimalFastPathAgreesWithFastFloat) {
  // Given decimals of up to 15 digits, then the fast path's value is the
  // correctly rounded one (what strtod gives).
  std::mt19937_64 rng(9);
  for (int i = 0; i < 200000; ++i) {
    int digits = 1 + static_cast<int>(rng() % 15);
    std::string text = rng() % 2 ? "-" : "";
    for (int d = 0; d < digits; ++d) text += static_cast<char>('0' + rng() % 10);
    size_t dot = rng() % (digits + 1);
    text.insert(text.size() - dot, ".");
    double ours;
    ASSERT_TRUE(ParseFloat64(text, &ours)) << text;
    ASSERT_EQ(ours, std::strtod(text.c_str(), nullptr)) << text;
  }
  double v;
  EXPECT_FALSE(ParseFloat64(".", &v));
  EXPECT_FALSE(ParseFloat64("1.2.3", &v));
  ASSERT_TRUE(ParseFloat64("1e300", &v));
  EXPECT_EQ(v, 1e300);
  ASSERT_TRUE(ParseFloat64("1234567890.1234567", &v));
  EXPECT_EQ(v, 1234567890.1234567);
  // One sign at most (DuckDB reads "+-1" as text), no "nan(...)" payloads.
  ASSERT_TRUE(ParseFloat64("+1.5", &v));
  EXPECT_EQ(v, 1.5);
  ASSERT_TRUE(ParseFloat64("-inf", &v));
  EXPECT_EQ(v, -std::numeric_limits<double>::infinity());
  for (const char* text : {"+-1", "+-inf", "+-nan", "+-1e5", "+-.5", "++1", "+", "-", "nan(123)", "+nan(1)"}) {
    EXPECT_FALSE(ParseFloat64(text, &v)) << text;
  }
  EXPECT_EQ(InferType("+-1"), DataType::kString);
}

TEST(ValueParseTest, TimestampFastPathMatchesTheGeneralForms) {
  int64_t a, b;
  ASSERT_TRUE(ParseTimestamp("2024-02-29T23:59:59", &a));
  ASSERT_TRUE(ParseTimestamp("2024-02-29T23:59:59.000000+00:00", &b));
  EXPECT_EQ(a, b);
  ASSERT_TRUE(ParseTimestamp("2024-02-29 23:59:59Z", &b));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(ParseTimestamp("2023-02-29T00:00:00", &a));
  EXPECT_FALSE(ParseTimestamp("2024-01-01T24:00:00", &a));
  EXPECT_FALSE(ParseTimestamp("2024-01-01T00:60:00", &a));
  EXPECT_FALSE(ParseTimestamp("2024-1a-01T00:00:00", &a));
}

}  // namespace
}  // namespace pipeline::columnar
