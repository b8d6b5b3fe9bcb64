#include <gtest/gtest.h>
#include <sys/wait.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "columnar/parquet_encoding.h"
#include "columnar/parquet_format.h"
#include "columnar/thrift_compact.h"
#include "duckdb_peer.h"
#include "test_util.h"

namespace pipeline::columnar {
namespace {

namespace fs = std::filesystem;
using Compression = ParquetWriteOptions::Compression;
using nlohmann::json;

// ---------------------------------------------------------------------------
// Building and comparing tables

// One cell: null, int64 (also timestamps), double, bool or string.
using Value = std::variant<std::monostate, int64_t, double, bool, std::string>;
const Value kNull{};

struct ColumnSpec {
  std::string name;
  DataType type;
  std::vector<Value> values;
};

ColumnPtr BuildColumn(DataType type, const std::vector<Value>& values, size_t begin, size_t end) {
  ColumnBuilder builder(type);
  for (size_t row = begin; row < end; ++row) {
    const Value& value = values[row];
    if (std::holds_alternative<std::monostate>(value)) builder.AppendNull();
    else if (type == DataType::kInt64 || type == DataType::kTimestamp) builder.AppendInt(std::get<int64_t>(value));
    else if (type == DataType::kFloat64) builder.AppendDouble(std::get<double>(value));
    else if (type == DataType::kBool) builder.AppendBool(std::get<bool>(value));
    else builder.AppendString(std::get<std::string>(value));
  }
  return builder.Finish();
}

// A table of the columns, cut into batches of batch_rows (cycled).
TablePtr MakeTable(const std::vector<ColumnSpec>& columns, std::vector<size_t> batch_rows = {}) {
  Schema schema;
  for (const ColumnSpec& column : columns) schema.Add(Field{column.name, column.type});
  auto table = std::make_shared<Table>(schema);
  size_t rows = columns.empty() ? 0 : columns[0].values.size();
  if (batch_rows.empty()) batch_rows = {std::max<size_t>(rows, 1)};
  for (size_t start = 0, cut = 0; start < rows; ++cut) {
    size_t end = std::min(rows, start + batch_rows[cut % batch_rows.size()]);
    Batch batch{static_cast<int64_t>(end - start), {}};
    for (const ColumnSpec& column : columns) batch.columns.push_back(BuildColumn(column.type, column.values, start, end));
    table->AddBatch(std::move(batch));
    start = end;
  }
  return table;
}

Value CellOf(const Column& column, int64_t row) {
  if (column.IsNull(row)) return kNull;
  switch (column.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp: return column.ints()[row];
    case DataType::kFloat64: return column.doubles()[row];
    case DataType::kBool: return column.bools()[row] != 0;
    case DataType::kString: return std::string(column.StringAt(row));
  }
  return kNull;
}

// All values of one column across batches; checks the null-slot invariant.
std::vector<Value> ColumnValues(const Table& table, int column) {
  std::vector<Value> values;
  for (const Batch& batch : table.batches()) {
    const Column& c = *batch.columns[column];
    for (int64_t row = 0; row < batch.num_rows; ++row) {
      values.push_back(CellOf(c, row));
      if (!c.IsNull(row)) continue;
      if (c.type() == DataType::kString) EXPECT_EQ(c.StringAt(row).size(), 0u) << "null slot not empty";
      else if (c.type() == DataType::kBool) EXPECT_EQ(c.bools()[row], 0) << "null slot not zero";
      else EXPECT_EQ(c.ints()[row], 0) << "null slot not zero";
    }
  }
  return values;
}

bool SameValue(const Value& a, const Value& b) {
  if (a.index() != b.index()) return false;
  if (const double* x = std::get_if<double>(&a)) {
    return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(std::get<double>(b)) ||
           (std::isnan(*x) && std::isnan(std::get<double>(b)));
  }
  return a == b;
}

std::string Show(const Value& value) {
  if (std::holds_alternative<std::monostate>(value)) return "NULL";
  if (const int64_t* x = std::get_if<int64_t>(&value)) return std::to_string(*x);
  if (const double* x = std::get_if<double>(&value)) {
    std::ostringstream out;
    out.precision(17);
    out << *x;
    return out.str();
  }
  if (const bool* x = std::get_if<bool>(&value)) return *x ? "true" : "false";
  return "\"" + std::get<std::string>(value) + "\"";
}

void ExpectSameTable(const Table& expected, const Table& actual) {
  ASSERT_EQ(expected.schema(), actual.schema());
  ASSERT_EQ(expected.num_rows(), actual.num_rows());
  for (int column = 0; column < expected.num_columns(); ++column) {
    std::vector<Value> want = ColumnValues(expected, column);
    std::vector<Value> got = ColumnValues(actual, column);
    int mismatches = 0;
    for (size_t row = 0; row < want.size() && mismatches < 5; ++row) {
      if (SameValue(want[row], got[row])) continue;
      ++mismatches;
      ADD_FAILURE() << "column " << expected.schema().field(column).name << " row " << row << ": want "
                    << Show(want[row]) << ", got " << Show(got[row]);
    }
  }
}

const std::vector<std::string>& SpecialStrings() {
  static const std::vector<std::string> strings = {
      "", "a", "say \"hi\"", "it's", "new\nline", "cr\r\nlf", "tab\there", "comma,semi;colon", "back\\slash",
      "ünïcödé", "日本語のテキスト", "emoji 😀🎉", "Ω≈ç√∫", std::string(300, 'x'), "  padded  ", "NULL", "null"};
  return strings;
}

// Deterministic rows of every type: nulls, duplicates, outliers, specials.
std::vector<ColumnSpec> RandomColumns(uint64_t seed, size_t rows, double null_rate) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  auto null_roll = [&] { return unit(rng) < null_rate; };
  std::vector<ColumnSpec> columns = {{"id", DataType::kInt64, {}},      {"amount", DataType::kFloat64, {}},
                                     {"flag", DataType::kBool, {}},     {"category", DataType::kString, {}},
                                     {"note", DataType::kString, {}},   {"ts", DataType::kTimestamp, {}},
                                     {"small", DataType::kInt64, {}}};
  const std::vector<double> special_doubles = {0.0, -0.0, 1e300, -1e300, 5e-324, 1e-300, 123456789.125, -2.5};
  const std::vector<int64_t> special_ints = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                                             0, -1, 1};
  const std::vector<int64_t> special_ts = {-62135596800000000, -2208988800000000, -1, 0, 253402300799999999};
  for (size_t row = 0; row < rows; ++row) {
    columns[0].values.push_back(null_roll() ? kNull
                                : row % 97 == 0 ? Value(special_ints[row / 97 % special_ints.size()])
                                                : Value(static_cast<int64_t>(row * 7919 % 1000003) - 500000));
    columns[1].values.push_back(null_roll() ? kNull
                                : row % 89 == 0 ? Value(special_doubles[row / 89 % special_doubles.size()])
                                                : Value(std::round(std::exp(unit(rng) * 8) * 100) / 100));
    columns[2].values.push_back(null_roll() ? kNull : Value(unit(rng) < 0.3));
    columns[3].values.push_back(null_roll() ? kNull : Value("cat_" + std::to_string(rng() % 20)));
    const auto& specials = SpecialStrings();
    columns[4].values.push_back(null_roll() ? kNull
                                : row % 3 == 0 ? Value(specials[row / 3 % specials.size()])
                                               : Value("note " + std::to_string(rng() % 100000)));
    columns[5].values.push_back(null_roll() ? kNull
                                : row % 101 == 0 ? Value(special_ts[row / 101 % special_ts.size()])
                                                 : Value(int64_t{1700000000000000} + static_cast<int64_t>(rng() % 100000000000)));
    columns[6].values.push_back(null_roll() ? kNull : Value(static_cast<int64_t>(rng() % 5)));
  }
  return columns;
}

// ---------------------------------------------------------------------------
// Round trips

std::string CompressionName(const ::testing::TestParamInfo<Compression>& info) {
  switch (info.param) {
    case Compression::kSnappy: return "Snappy";
    case Compression::kZstd: return "Zstd";
    case Compression::kNone: return "None";
  }
  return "?";
}

class ParquetRoundTripTest : public ::testing::TestWithParam<Compression> {
 protected:
  TablePtr RoundTrip(const Table& table, ParquetWriteOptions options = {}) {
    options.compression = GetParam();
    std::vector<uint8_t> bytes = WriteParquetBuffer(table, options);
    return ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet");
  }
};

INSTANTIATE_TEST_SUITE_P(Codecs, ParquetRoundTripTest,
                         ::testing::Values(Compression::kSnappy, Compression::kZstd, Compression::kNone),
                         CompressionName);

TEST_P(ParquetRoundTripTest, EveryTypeWithNullsAcrossBatchesAndRowGroups) {
  // Given batches of uneven sizes and row groups cutting through them, then every value comes back.
  TablePtr table = MakeTable(RandomColumns(1, 5000, 0.1), {1000, 777, 3, 2000});
  ParquetWriteOptions options;
  options.row_group_rows = 1500;
  TablePtr read = RoundTrip(*table, options);
  ExpectSameTable(*table, *read);
  EXPECT_EQ(read->num_batches(), 4);  // one per row group
  EXPECT_EQ(read->batch(0).num_rows, 1500);
  EXPECT_EQ(read->batch(3).num_rows, 500);
}

TEST_P(ParquetRoundTripTest, NoNulls) {
  // Given columns without nulls, then the read columns have no validity bitmap either.
  TablePtr table = MakeTable(RandomColumns(2, 3000, 0.0));
  TablePtr read = RoundTrip(*table);
  ExpectSameTable(*table, *read);
  for (const ColumnPtr& column : read->batch(0).columns) EXPECT_EQ(column->validity(), nullptr);
}

TEST_P(ParquetRoundTripTest, AllNulls) {
  // Given every value null in every column, then all come back null.
  TablePtr table = MakeTable(RandomColumns(3, 2000, 1.0), {600});
  TablePtr read = RoundTrip(*table);
  ExpectSameTable(*table, *read);
  for (const ColumnPtr& column : read->batch(0).columns) EXPECT_EQ(column->null_count(), 2000);
}

TEST_P(ParquetRoundTripTest, EmptyAndUnicodeStrings) {
  // Given empty strings, NUL bytes, multi-byte UTF-8 and a long value, then they come back byte for byte.
  std::vector<std::string> strings = SpecialStrings();
  strings.push_back(std::string("nul\0inside", 10));
  strings.push_back(std::string(100000, 'y'));
  std::vector<Value> values(strings.begin(), strings.end());
  values.insert(values.begin() + 3, kNull);
  TablePtr table = MakeTable({{"s", DataType::kString, values}});
  ExpectSameTable(*table, *RoundTrip(*table));
  ParquetWriteOptions plain;
  plain.dictionary = false;
  ExpectSameTable(*table, *RoundTrip(*table, plain));
}

TEST_P(ParquetRoundTripTest, EmptyBatchesInBetween) {
  // Given zero-row batches before, between and after others, then the rows come back in order.
  TablePtr full = MakeTable(RandomColumns(8, 300, 0.1), {100});
  auto table = std::make_shared<Table>(full->schema());
  auto empty_batch = [&] {
    Batch batch{0, {}};
    for (const Field& field : full->schema().fields()) batch.columns.push_back(std::make_shared<Column>(field.type, 0));
    return batch;
  };
  table->AddBatch(empty_batch());
  for (const Batch& batch : full->batches()) {
    table->AddBatch(batch);
    table->AddBatch(empty_batch());
  }
  ParquetWriteOptions options;
  options.row_group_rows = 100;  // row groups end exactly where the empty batches sit
  ExpectSameTable(*full, *RoundTrip(*table, options));
}

TEST_P(ParquetRoundTripTest, EmptyTableKeepsSchema) {
  // Given a table with columns and no rows, then the schema comes back with zero rows.
  TablePtr table = MakeTable({{"a", DataType::kInt64, {}}, {"b", DataType::kString, {}}, {"t", DataType::kTimestamp, {}}});
  TablePtr read = RoundTrip(*table);
  EXPECT_EQ(read->schema(), table->schema());
  EXPECT_EQ(read->num_rows(), 0);
  EXPECT_EQ(read->num_batches(), 0);
}

TEST_P(ParquetRoundTripTest, MetadataKept) {
  // Given key/value metadata on the table, then it is in the read table.
  auto table = std::const_pointer_cast<Table>(MakeTable({{"a", DataType::kInt64, {int64_t{1}}}}));
  table->SetMetadata("pipe.transform", R"({"mean": 1.5, "cats": ["a", "b"]})");
  table->SetMetadata("empty", "");
  TablePtr read = RoundTrip(*table);
  EXPECT_EQ(read->metadata(), table->metadata());
}

TEST_P(ParquetRoundTripTest, LargeDictionaryFallsBackToPlain) {
  // Given more distinct strings than a 1 MiB dictionary holds, then the chunk is PLAIN and still round-trips.
  std::vector<Value> unique;
  std::vector<Value> repeated;
  std::vector<Value> ints;
  for (int row = 0; row < 20000; ++row) {
    unique.push_back("value number " + std::to_string(row) + std::string(80, 'z'));
    repeated.push_back("r" + std::to_string(row % 3));
    ints.emplace_back(std::in_place_type<int64_t>, int64_t{row} * 1000003);
  }
  TablePtr table = MakeTable({{"u", DataType::kString, unique}, {"r", DataType::kString, repeated}, {"i", DataType::kInt64, ints}});
  ParquetWriteOptions options;
  options.compression = GetParam();
  std::vector<uint8_t> bytes = WriteParquetBuffer(*table, options);
  ExpectSameTable(*table, *ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet"));
  uint32_t footer_length;
  std::memcpy(&footer_length, bytes.data() + bytes.size() - 8, 4);
  parquet::FileMetaData meta = parquet::ParseFileMetaData(bytes.data() + bytes.size() - 8 - footer_length, footer_length);
  auto has_dictionary = [&](int column) {
    const auto& encodings = meta.row_groups[0].columns[column].meta_data->encodings;
    return std::find(encodings.begin(), encodings.end(), parquet::Encoding::kRleDictionary) != encodings.end();
  };
  EXPECT_FALSE(has_dictionary(0));
  EXPECT_TRUE(has_dictionary(1));
  EXPECT_TRUE(has_dictionary(2));  // 20000 distinct ints: 160 KB of dictionary
}

// ---------------------------------------------------------------------------
// Footer contents

parquet::FileMetaData Footer(const std::vector<uint8_t>& bytes) {
  uint32_t length;
  std::memcpy(&length, bytes.data() + bytes.size() - 8, 4);
  return parquet::ParseFileMetaData(bytes.data() + bytes.size() - 8 - length, length);
}

template <class T>
std::string Plain(T value) {
  std::string out(sizeof value, '\0');
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

TEST(ParquetFooterTest, SchemaStatisticsAndRowGroups) {
  // Given a small table in two row groups, then the footer has the types, null counts and min/max per chunk.
  TablePtr table = MakeTable({
      {"i", DataType::kInt64, {int64_t{5}, kNull, int64_t{-3}, int64_t{9}}},
      {"d", DataType::kFloat64, {1.5, std::nan(""), kNull, 0.0}},
      {"b", DataType::kBool, {true, true, kNull, true}},
      {"s", DataType::kString, {std::string("pear"), std::string("apple"), kNull, std::string("zoo")}},
      {"t", DataType::kTimestamp, {int64_t{-10}, int64_t{20}, int64_t{30}, kNull}},
  });
  auto writable = std::const_pointer_cast<Table>(table);
  writable->SetMetadata("k", "v");
  ParquetWriteOptions options;
  options.row_group_rows = 2;
  std::vector<uint8_t> bytes = WriteParquetBuffer(*table, options);
  parquet::FileMetaData meta = Footer(bytes);

  ASSERT_EQ(meta.schema.size(), 6u);
  EXPECT_EQ(meta.schema[0].num_children, 5);
  EXPECT_EQ(meta.schema[1].type, parquet::PhysicalType::kInt64);
  EXPECT_EQ(meta.schema[2].type, parquet::PhysicalType::kDouble);
  EXPECT_EQ(meta.schema[3].type, parquet::PhysicalType::kBoolean);
  EXPECT_EQ(meta.schema[4].type, parquet::PhysicalType::kByteArray);
  EXPECT_EQ(meta.schema[4].logical_type.kind, parquet::LogicalType::Kind::kString);
  EXPECT_EQ(meta.schema[4].converted_type, 0);  // UTF8
  EXPECT_EQ(meta.schema[5].logical_type.kind, parquet::LogicalType::Kind::kTimestamp);
  EXPECT_TRUE(meta.schema[5].logical_type.adjusted_to_utc);
  EXPECT_EQ(meta.schema[5].logical_type.unit, parquet::TimeUnit::kMicros);
  EXPECT_EQ(meta.schema[5].converted_type, 10);  // TIMESTAMP_MICROS
  for (size_t idx = 1; idx < 6; ++idx) EXPECT_EQ(meta.schema[idx].repetition, parquet::Repetition::kOptional);
  EXPECT_EQ(meta.num_rows, 4);
  ASSERT_EQ(meta.row_groups.size(), 2u);
  ASSERT_EQ(meta.key_value_metadata.size(), 1u);
  EXPECT_EQ(meta.key_value_metadata[0].key, "k");

  auto stats = [&](int group, int column) { return meta.row_groups[group].columns[column].meta_data->statistics; };
  EXPECT_EQ(stats(0, 0).null_count, 1);
  EXPECT_EQ(stats(0, 0).min_value, Plain(int64_t{5}));
  EXPECT_EQ(stats(1, 0).min_value, Plain(int64_t{-3}));
  EXPECT_EQ(stats(1, 0).max_value, Plain(int64_t{9}));
  EXPECT_EQ(stats(0, 1).min_value, Plain(1.5));  // NaN ignored
  EXPECT_EQ(stats(0, 1).max_value, Plain(1.5));
  EXPECT_EQ(stats(1, 1).min_value, Plain(-0.0));  // a zero min is -0.0
  EXPECT_EQ(stats(1, 1).max_value, Plain(0.0));
  EXPECT_EQ(stats(0, 2).min_value, std::string(1, '\1'));
  EXPECT_EQ(stats(1, 2).null_count, 1);
  EXPECT_EQ(stats(0, 3).min_value, "apple");
  EXPECT_EQ(stats(0, 3).max_value, "pear");
  EXPECT_EQ(stats(1, 3).min_value, "zoo");
  EXPECT_EQ(stats(0, 4).min_value, Plain(int64_t{-10}));
  EXPECT_EQ(stats(1, 4).max_value, Plain(int64_t{30}));
  EXPECT_EQ(stats(1, 4).null_count, 1);
  for (const parquet::RowGroup& group : meta.row_groups) {
    EXPECT_EQ(group.num_rows, 2);
    for (const parquet::ColumnChunk& chunk : group.columns) {
      EXPECT_EQ(chunk.meta_data->codec, parquet::Codec::kSnappy);
      EXPECT_EQ(chunk.meta_data->num_values, 2);
    }
  }
}

TEST(ParquetFooterTest, AllNullChunkHasNullCountButNoMinMax) {
  // Given a chunk of nulls only, then it records the null count and no min/max.
  TablePtr table = MakeTable({{"i", DataType::kInt64, {kNull, kNull}}, {"s", DataType::kString, {kNull, kNull}}});
  parquet::FileMetaData meta = Footer(WriteParquetBuffer(*table));
  for (const parquet::ColumnChunk& chunk : meta.row_groups[0].columns) {
    EXPECT_EQ(chunk.meta_data->statistics.null_count, 2);
    EXPECT_FALSE(chunk.meta_data->statistics.min_value);
    EXPECT_FALSE(chunk.meta_data->statistics.max_value);
  }
}

// ---------------------------------------------------------------------------
// Reading options, files and errors

TEST(ParquetReadTest, ProjectionPicksColumnsInTheGivenOrder) {
  // Given columns [c, a] of a three-column file, then only those come back, in that order.
  TablePtr table = MakeTable({{"a", DataType::kInt64, {int64_t{1}, int64_t{2}}},
                              {"b", DataType::kString, {std::string("x"), kNull}},
                              {"c", DataType::kFloat64, {0.5, kNull}}});
  std::vector<uint8_t> bytes = WriteParquetBuffer(*table);
  ParquetReadOptions options;
  options.columns = {"c", "a"};
  TablePtr read = ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet", options);
  ExpectSameTable(*MakeTable({{"c", DataType::kFloat64, {0.5, kNull}}, {"a", DataType::kInt64, {int64_t{1}, int64_t{2}}}}),
                  *read);
  options.columns = {"a", "zz"};
  try {
    ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet", options);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_STREQ(error.what(), "t.parquet: no column 'zz'");
  }
}

TEST(ParquetReadTest, OutputIsTheSameForAnyThreadCount) {
  // Given 1, 2 or 4 writer threads, then the bytes are identical, and readers on any thread count agree.
  TablePtr table = MakeTable(RandomColumns(4, 20000, 0.05), {3000});
  std::vector<uint8_t> reference;
  for (int threads : {1, 2, 4}) {
    ParquetWriteOptions options;
    options.threads = threads;
    options.row_group_rows = 4096;
    std::vector<uint8_t> bytes = WriteParquetBuffer(*table, options);
    if (reference.empty()) reference = bytes;
    EXPECT_EQ(bytes, reference) << threads << " threads";
    ParquetReadOptions read_options;
    read_options.threads = threads;
    ExpectSameTable(*table, *ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet", read_options));
  }
}

TEST(ParquetReadTest, ARowRangeReadsJustThoseRows) {
  // Given 10,000 rows in row groups of 1,000, then a range gives exactly its
  // rows (within one group, across groups, past the end), equal to the same
  // rows of the whole table.
  TablePtr table = MakeTable(RandomColumns(5, 10000, 0.1), {2500});
  ParquetWriteOptions write;
  write.row_group_rows = 1000;
  std::vector<uint8_t> bytes = WriteParquetBuffer(*table, write);
  TablePtr whole = Concatenate(*table);
  auto rows = [&](int64_t offset, int64_t limit) {
    ParquetReadOptions options;
    options.row_offset = offset;
    options.row_limit = limit;
    return ReadParquetBuffer(bytes.data(), bytes.size(), "t.parquet", options);
  };
  auto expected = [&](int64_t offset, int64_t length) {
    Table t(whole->schema());
    std::vector<ColumnPtr> columns;
    for (const ColumnPtr& c : whole->batch(0).columns) columns.push_back(Slice(*c, offset, length));
    if (length > 0) t.AddBatch(Batch{length, columns});
    return t;
  };
  ExpectSameTable(expected(10, 20), *rows(10, 20));
  ExpectSameTable(expected(990, 30), *rows(990, 30));
  ExpectSameTable(expected(1500, 3000), *rows(1500, 3000));
  ExpectSameTable(expected(9990, 10), *rows(9990, 100));
  ExpectSameTable(expected(0, 0), *rows(10000, 5));
  ExpectSameTable(expected(4000, 6000), *rows(4000, -1));
  EXPECT_EQ(rows(2000, 1000)->num_batches(), 1);  // one row group decoded, no slice needed
}

std::vector<std::string> FolderEntries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ParquetFileTest, WritesAtomicallyAndOverwrites) {
  // Given a file written twice at the same path, then the second replaces the first and no temporary file stays.
  fs::path dir = testing_util::FreshTestDir("parquet");
  std::string path = (dir / "t.parquet").string();
  TablePtr first = MakeTable(RandomColumns(5, 100, 0.1));
  TablePtr second = MakeTable(RandomColumns(6, 300, 0.1));
  WriteParquetFile(*first, path);
  int64_t size = WriteParquetFile(*second, path);
  EXPECT_EQ(size, static_cast<int64_t>(fs::file_size(path)));
  EXPECT_EQ(FolderEntries(dir), std::vector<std::string>{"t.parquet"});
  ExpectSameTable(*second, *ReadParquetFile(path));
  fs::remove_all(dir);
}

TEST(ParquetFileTest, FailedWriteLeavesNothing) {
  // Given a table without columns or a missing folder, then the write throws and leaves no file behind.
  fs::path dir = testing_util::FreshTestDir("parquet");
  std::string path = (dir / "t.parquet").string();
  try {
    WriteParquetFile(Table(), path);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_EQ(std::string(error.what()), path + ": a Parquet file needs at least one column");
  }
  EXPECT_TRUE(FolderEntries(dir).empty());
  std::string missing = (dir / "no" / "t.parquet").string();
  try {
    WriteParquetFile(*MakeTable({{"a", DataType::kInt64, {int64_t{1}}}}), missing);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_EQ(std::string(error.what()).rfind(missing + ": cannot create " + missing + ".tmp-", 0), 0u) << error.what();
    EXPECT_NE(std::string(error.what()).find("No such file or directory"), std::string::npos);
  }
  EXPECT_TRUE(FolderEntries(dir).empty());
  fs::remove_all(dir);
}

TEST(ParquetFileTest, MissingFileAndFolderNameThePath) {
  // Given a path that does not exist or is a folder, then the error names it.
  fs::path dir = testing_util::FreshTestDir("parquet");
  std::string missing = (dir / "none.parquet").string();
  try {
    ReadParquetFile(missing);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_EQ(std::string(error.what()), missing + ": cannot open: No such file or directory");
  }
  try {
    ReadParquetFile(dir.string());
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_EQ(std::string(error.what()), dir.string() + ": not a regular file");
  }
  fs::remove_all(dir);
}

std::string ReadError(const std::vector<uint8_t>& bytes) {
  try {
    ReadParquetBuffer(bytes.data(), bytes.size(), "x.parquet");
  } catch (const FormatError& error) {
    return error.what();
  }
  return "no error";
}

std::vector<uint8_t> SmallFile() {
  TablePtr table = MakeTable(RandomColumns(7, 300, 0.2), {100});
  ParquetWriteOptions options;
  options.row_group_rows = 150;
  return WriteParquetBuffer(*table, options);
}

TEST(ParquetCorruptTest, ExactMessages) {
  // Given classic corruptions, then the messages say what is wrong.
  std::vector<uint8_t> good = SmallFile();
  EXPECT_EQ(ReadError({'h', 'e', 'l', 'l', 'o', '!', '!', '!', '!', '!', '!', '!', '!'}),
            "x.parquet: not a Parquet file (bad magic)");
  EXPECT_EQ(ReadError({}), "x.parquet: not a Parquet file (bad magic)");
  EXPECT_EQ(ReadError({'P', 'A', 'R', '1', 0, 0, 0, 0}), "x.parquet: truncated file (8 bytes)");
  std::vector<uint8_t> cut(good.begin(), good.end() - 1);
  EXPECT_EQ(ReadError(cut), "x.parquet: truncated file (no magic at the end)");
  std::vector<uint8_t> long_footer = good;
  uint32_t length = static_cast<uint32_t>(good.size());
  std::string length_bytes = Plain(length);
  std::copy(length_bytes.begin(), length_bytes.end(), long_footer.end() - 8);
  EXPECT_EQ(ReadError(long_footer), "x.parquet: footer length " + std::to_string(length) + " past the file");
  std::vector<uint8_t> encrypted = good;
  std::memcpy(encrypted.data() + good.size() - 4, "PARE", 4);
  EXPECT_EQ(ReadError(encrypted), "x.parquet: encrypted Parquet files are not supported");
  // A page header overwritten with 0xFF bytes.
  parquet::FileMetaData meta = Footer(good);
  int64_t start = meta.row_groups[0].columns[0].meta_data->data_page_offset;
  std::vector<uint8_t> zeroed = good;
  std::fill(zeroed.begin() + start, zeroed.begin() + start + 40, 0xFF);
  EXPECT_EQ(ReadError(zeroed), "x.parquet: column 'id': corrupt page header (unknown Thrift type 15)");
}

TEST(ParquetCorruptTest, EveryTruncationFails) {
  // Given each prefix of a valid file, then reading throws FormatError (never crashes).
  std::vector<uint8_t> good = SmallFile();
  for (size_t size = 0; size < good.size(); ++size) {
    std::vector<uint8_t> prefix(good.begin(), good.begin() + size);
    EXPECT_NE(ReadError(prefix), "no error") << size;
  }
}

TEST(ParquetCorruptTest, RandomByteFlipsThrowOrSucceed) {
  // Given random byte changes anywhere (and denser in the footer), then reading either works or throws FormatError.
  std::vector<uint8_t> good = SmallFile();
  uint32_t footer;
  std::memcpy(&footer, good.data() + good.size() - 8, 4);
  std::mt19937_64 rng(42);
  int failures = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::vector<uint8_t> bytes = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int flip = 0; flip < flips; ++flip) {
      size_t at = iteration % 2 ? rng() % bytes.size() : bytes.size() - 8 - footer + rng() % footer;
      bytes[at] = static_cast<uint8_t>(iteration % 3 == 0 ? rng() : bytes[at] ^ (1u << (rng() % 8)));
    }
    try {
      TablePtr table = ReadParquetBuffer(bytes.data(), bytes.size(), "x.parquet");
      for (int column = 0; column < table->num_columns(); ++column) ColumnValues(*table, column);
    } catch (const FormatError&) {
      ++failures;
    }
  }
  EXPECT_GT(failures, 100);  // most corruptions are caught
}

// ---------------------------------------------------------------------------
// Hand-built files: what other writers may produce

struct RawColumn {
  parquet::SchemaElement element;
  std::string plain;  // PLAIN values of the single page
};

// A one-row-group file of REQUIRED (no levels) uncompressed PLAIN columns.
std::vector<uint8_t> HandBuiltFile(const std::vector<RawColumn>& columns, int32_t rows) {
  std::string file = "PAR1";
  parquet::FileMetaData meta;
  parquet::SchemaElement root;
  root.name = "root";
  root.num_children = static_cast<int32_t>(columns.size());
  meta.schema.push_back(root);
  parquet::RowGroup group;
  group.num_rows = rows;
  for (const RawColumn& column : columns) {
    meta.schema.push_back(column.element);
    parquet::PageHeader header;
    header.type = parquet::PageType::kDataPage;
    header.uncompressed_page_size = header.compressed_page_size = static_cast<int32_t>(column.plain.size());
    header.data_page = parquet::DataPageHeader{rows, parquet::Encoding::kPlain, parquet::Encoding::kRle,
                                               parquet::Encoding::kRle};
    parquet::ColumnMetaData chunk_meta;
    chunk_meta.type = *column.element.type;
    chunk_meta.encodings = {parquet::Encoding::kPlain};
    chunk_meta.path_in_schema = {column.element.name};
    chunk_meta.num_values = rows;
    chunk_meta.data_page_offset = static_cast<int64_t>(file.size());
    std::string page;
    parquet::Serialize(header, &page);
    page += column.plain;
    chunk_meta.total_compressed_size = chunk_meta.total_uncompressed_size = static_cast<int64_t>(page.size());
    file += page;
    parquet::ColumnChunk chunk;
    chunk.file_offset = chunk_meta.data_page_offset;
    chunk.meta_data = chunk_meta;
    group.columns.push_back(chunk);
  }
  meta.row_groups.push_back(group);
  meta.num_rows = rows;
  std::string footer;
  parquet::Serialize(meta, &footer);
  uint32_t length = static_cast<uint32_t>(footer.size());
  file += footer + Plain(length) + "PAR1";
  return std::vector<uint8_t>(file.begin(), file.end());
}

parquet::SchemaElement Required(const std::string& name, parquet::PhysicalType type, int converted = -1) {
  parquet::SchemaElement element;
  element.name = name;
  element.type = type;
  element.repetition = parquet::Repetition::kRequired;
  if (converted >= 0) element.converted_type = converted;
  return element;
}

TEST(ParquetForeignTest, RequiredColumnsAndOtherPhysicalTypes) {
  // Given REQUIRED columns of INT32, DATE, FLOAT, millis/nanos timestamps, UINT_8 and INT96, then they map to ours.
  using PT = parquet::PhysicalType;
  auto ints32 = [](std::vector<int32_t> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); };
  auto ints64 = [](std::vector<int64_t> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8); };
  parquet::SchemaElement nanos = Required("ns", PT::kInt64);
  nanos.logical_type.kind = parquet::LogicalType::Kind::kTimestamp;
  nanos.logical_type.unit = parquet::TimeUnit::kNanos;
  std::string int96;
  for (auto [nanos_of_day, julian] : {std::pair<uint64_t, int32_t>{1000, 2440588}, {0, 2440589}, {999, 2440587}}) {
    int96 += Plain(nanos_of_day) + Plain(julian);
  }
  std::vector<uint8_t> file = HandBuiltFile(
      {
          {Required("a", PT::kInt64), ints64({1, -2, 3})},
          {Required("s", PT::kByteArray, 0), Plain(uint32_t{1}) + "x" + Plain(uint32_t{0}) + Plain(uint32_t{2}) + "yz"},
          {Required("b", PT::kBoolean), std::string(1, '\x05')},
          {Required("i", PT::kInt32), ints32({-7, 2147483647, 0})},
          {Required("d", PT::kInt32, 6), ints32({0, 1, -1})},
          {Required("f", PT::kFloat), Plain(1.5f) + Plain(-2.25f) + Plain(0.0f)},
          {Required("ms", PT::kInt64, 9), ints64({1000, -1, 0})},
          {nanos, ints64({1500, -1500, 0})},
          {Required("u8", PT::kInt32, 11), ints32({255, 0, 7})},
          {Required("u32", PT::kInt32, 13), ints32({-1, 0, 7})},
          {Required("legacy", PT::kInt96), int96},
      },
      3);
  TablePtr read = ReadParquetBuffer(file.data(), file.size(), "h.parquet");
  const int64_t day = 86400000000;
  TablePtr want = MakeTable({
      {"a", DataType::kInt64, {int64_t{1}, int64_t{-2}, int64_t{3}}},
      {"s", DataType::kString, {std::string("x"), std::string(), std::string("yz")}},
      {"b", DataType::kBool, {true, false, true}},
      {"i", DataType::kInt64, {int64_t{-7}, int64_t{2147483647}, int64_t{0}}},
      {"d", DataType::kTimestamp, {int64_t{0}, day, -day}},
      {"f", DataType::kFloat64, {1.5, -2.25, 0.0}},
      {"ms", DataType::kTimestamp, {int64_t{1000000}, int64_t{-1000}, int64_t{0}}},
      {"ns", DataType::kTimestamp, {int64_t{1}, int64_t{-2}, int64_t{0}}},
      {"u8", DataType::kInt64, {int64_t{255}, int64_t{0}, int64_t{7}}},
      {"u32", DataType::kInt64, {int64_t{4294967295}, int64_t{0}, int64_t{7}}},
      {"legacy", DataType::kTimestamp, {int64_t{1}, day, -day}},
  });
  ExpectSameTable(*want, *read);
  for (const ColumnPtr& column : read->batch(0).columns) EXPECT_EQ(column->validity(), nullptr);
}

TEST(ParquetForeignTest, UnsupportedFeaturesNameTheColumn) {
  // Given a DECIMAL or FIXED_LEN_BYTE_ARRAY column, invalid UTF-8 or a short page, then the error names the
  // column and the problem (and a projection without the column still reads).
  using PT = parquet::PhysicalType;
  std::vector<uint8_t> decimal =
      HandBuiltFile({{Required("price", PT::kInt64, 5), Plain(int64_t{1})}, {Required("id", PT::kInt64), Plain(int64_t{7})}}, 1);
  EXPECT_EQ(ReadError(decimal), "x.parquet: column 'price': unsupported type DECIMAL");
  ParquetReadOptions only_id;  // a projection that leaves the column out reads fine
  only_id.columns = {"id"};
  ExpectSameTable(*MakeTable({{"id", DataType::kInt64, {int64_t{7}}}}),
                  *ReadParquetBuffer(decimal.data(), decimal.size(), "x.parquet", only_id));
  std::vector<uint8_t> fixed = HandBuiltFile({{Required("uuid", PT::kFixedLenByteArray), "0123456789abcdef"}}, 1);
  EXPECT_EQ(ReadError(fixed), "x.parquet: column 'uuid': unsupported type FIXED_LEN_BYTE_ARRAY");
  // (DuckDB writes a DECIMAL of more than 18 digits as FIXED_LEN_BYTE_ARRAY.)
  std::vector<uint8_t> wide_decimal = HandBuiltFile({{Required("amount", PT::kFixedLenByteArray, 5), "0123456789abcdef"}}, 1);
  EXPECT_EQ(ReadError(wide_decimal), "x.parquet: column 'amount': unsupported type DECIMAL");
  std::vector<uint8_t> bad_utf8 = HandBuiltFile({{Required("s", PT::kByteArray, 0), Plain(uint32_t{2}) + "\xC3\x28"}}, 1);
  EXPECT_EQ(ReadError(bad_utf8), "x.parquet: column 's': invalid UTF-8 in a string");
  std::vector<uint8_t> short_page = HandBuiltFile({{Required("a", PT::kInt64), Plain(int64_t{1})}}, 2);
  EXPECT_EQ(ReadError(short_page), "x.parquet: column 'a': truncated page");
  parquet::FileMetaData nested;  // root { a, g { x } }
  nested.schema.resize(4);
  nested.schema[0].name = "root";
  nested.schema[0].num_children = 2;
  nested.schema[1] = Required("a", PT::kInt64);
  nested.schema[2].name = "g";
  nested.schema[2].num_children = 1;
  nested.schema[2].repetition = parquet::Repetition::kOptional;
  nested.schema[3] = Required("x", PT::kInt64);
  std::string footer;
  parquet::Serialize(nested, &footer);
  std::string file = "PAR1" + footer + Plain(static_cast<uint32_t>(footer.size())) + "PAR1";
  EXPECT_EQ(ReadError(std::vector<uint8_t>(file.begin(), file.end())),
            "x.parquet: column 'g': nested columns (lists, structs, maps) are not supported");
}

// ---------------------------------------------------------------------------
// Encodings and Thrift, directly

TEST(ParquetEncodingTest, RleHybridRoundTripsEveryWidth) {
  // Given runs and noise at every bit width, then encoding then decoding in odd-sized steps gives the values back.
  std::mt19937_64 rng(9);
  for (int width = 1; width <= 32; ++width) {
    uint64_t mask = width == 32 ? 0xFFFFFFFFu : (uint64_t{1} << width) - 1;
    std::vector<uint32_t> values;
    while (values.size() < 5000) {
      uint32_t value = static_cast<uint32_t>(rng() & mask);
      size_t run = rng() % 3 == 0 ? rng() % 100 : 1;
      values.insert(values.end(), run, value);
    }
    values.resize(4999);
    std::vector<uint8_t> bytes(parquet::MaxRleHybridSize(static_cast<int64_t>(values.size()), width));
    size_t size = parquet::EncodeRleHybrid(values.data(), static_cast<int64_t>(values.size()), width, bytes.data());
    parquet::RleHybridDecoder decoder(bytes.data(), size, width);
    std::vector<uint32_t> decoded(values.size());
    for (size_t done = 0; done < values.size();) {
      size_t step = std::min<size_t>(values.size() - done, 1 + rng() % 50);
      decoder.Decode(decoded.data() + done, static_cast<int64_t>(step));
      done += step;
    }
    ASSERT_EQ(decoded, values) << "width " << width;
    uint32_t extra[8];  // past the last group's padding
    EXPECT_THROW(decoder.Decode(extra, 8), FormatError);
  }
}

TEST(ParquetEncodingTest, DefinitionLevelsRoundTripAtAnyBitOffset) {
  // Given validity bits at odd offsets, then the levels decode into the same bits at another odd offset.
  std::mt19937_64 rng(11);
  std::vector<uint64_t> validity(40);
  for (uint64_t& word : validity) word = rng() | rng();
  for (int iteration = 0; iteration < 300; ++iteration) {
    int64_t offset = static_cast<int64_t>(rng() % 700);
    int64_t n = static_cast<int64_t>(rng() % 1800);
    int64_t target = static_cast<int64_t>(rng() % 130);
    bool all_valid = iteration % 5 == 0;
    std::vector<uint8_t> bytes(parquet::MaxDefinitionLevelsSize(n));
    size_t size = parquet::EncodeDefinitionLevels(all_valid ? nullptr : validity.data(), offset, n, bytes.data());
    std::vector<uint64_t> out(BitmapWords(target + n) + 1);
    int64_t valid = parquet::DecodeDefinitionLevels(bytes.data(), size, n, out.data(), target);
    int64_t expect_valid = 0;
    for (int64_t idx = 0; idx < n; ++idx) {
      bool want = all_valid || BitIsSet(validity.data(), offset + idx);
      expect_valid += want;
      ASSERT_EQ(BitIsSet(out.data(), target + idx), want) << iteration << " bit " << idx;
    }
    EXPECT_EQ(valid, expect_valid);
    EXPECT_EQ(parquet::CountSetBits(out.data(), 0, BitmapWords(target + n) * 64), expect_valid);  // nothing else set
  }
}

TEST(ParquetEncodingTest, DeltaBinaryPackedSpecExamples) {
  // Given the two examples of the Parquet encodings spec, then they decode to their values.
  std::vector<uint8_t> first = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
  std::vector<uint64_t> out(5);
  EXPECT_EQ(parquet::DecodeDeltaBinaryPacked(first.data(), first.size(), 5, out.data()), 10u);
  EXPECT_EQ(out, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  std::vector<uint8_t> second = {0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 2, 0, 0, 0, 0xC0, 0x3F, 0, 0, 0, 0, 0, 0};
  out.resize(8);
  EXPECT_EQ(parquet::DecodeDeltaBinaryPacked(second.data(), second.size(), 8, out.data()), 18u);
  EXPECT_EQ(out, (std::vector<uint64_t>{7, 5, 3, 1, 2, 3, 4, 5}));
  EXPECT_THROW(parquet::DecodeDeltaBinaryPacked(second.data(), 11, 8, out.data()), FormatError);
  EXPECT_THROW(parquet::DecodeDeltaBinaryPacked(second.data(), second.size(), 9, out.data()), FormatError);
}

// The footer of a one-column file with `extra` spliced in as unknown fields.
std::string FooterWith(const std::string& extra) {
  parquet::FileMetaData meta;
  meta.schema.resize(2);
  meta.schema[0].name = "schema";
  meta.schema[0].num_children = 1;
  meta.schema[1] = Required("a", parquet::PhysicalType::kInt64);
  meta.num_rows = 0;
  std::string bytes;
  parquet::Serialize(meta, &bytes);
  bytes.insert(bytes.size() - 1, extra);  // before the top-level stop byte
  return bytes;
}

TEST(ThriftCompactTest, SkipsUnknownFieldsOfEveryType) {
  // Given unknown fields of every Thrift type (long-form ids), then the known ones still parse.
  std::string extra;
  auto field = [&](uint8_t type, int id) {  // long form: type byte, zigzag varint id
    extra += static_cast<char>(type);
    extra += static_cast<char>(id * 2);
  };
  field(7, 40), extra += std::string(8, '\x11');  // double
  field(3, 41), extra += '\x7F';                  // byte
  field(4, 42), extra += '\x05';                  // i16
  field(1, 43);                                   // bool true
  field(8, 44), extra += "\x03" "abc";             // binary
  field(9, 45), extra += "\x21\x01";              // list<bool> of two
  extra += '\x02';
  field(10, 46), extra += "\x16\x04";             // set<i64> {2}
  field(11, 47), extra += "\x01\x58\x02\x01" "z"; // map<i32,binary> {1: "z"}
  field(12, 48), extra += std::string("\x15\x04\x00", 3);  // struct {1: i32 2}
  std::string bytes = FooterWith(extra);
  parquet::FileMetaData meta = parquet::ParseFileMetaData(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  ASSERT_EQ(meta.schema.size(), 2u);
  EXPECT_EQ(meta.schema[1].name, "a");
}

TEST(ThriftCompactTest, DeepNestingIsAnError) {
  // Given unknown structs nested 100 deep, then parsing stops with an error instead of recursing on.
  std::string extra = "\x0C\x64";  // long form: struct, field id 50
  for (int depth = 1; depth < 100; ++depth) extra += "\x1C";  // field delta 1, struct
  extra += std::string(100, '\0');
  std::string bytes = FooterWith(extra);
  try {
    parquet::ParseFileMetaData(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_STREQ(error.what(), "corrupt footer (Thrift data nested too deeply)");
  }
}

// ---------------------------------------------------------------------------
// Differential tests against DuckDB (node + @duckdb/node-api)

using QueryResult = testing_util::DuckDbResult;
using testing_util::SqlString;

class DuckDbDifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing_util::DuckDbAvailable());
    dir_ = testing_util::FreshTestDir("parquet_duckdb");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the statements in DuckDB; the last one's rows come back.
  QueryResult Query(const std::vector<std::string>& statements) { return testing_util::RunDuckDb(statements, dir_); }

  fs::path dir_;
};

// Whether DuckDB's JSON cell equals our value (doubles within 1e-9 relative).
bool CellMatches(const Value& ours, const json& theirs, DataType type) {
  if (std::holds_alternative<std::monostate>(ours)) return theirs.is_null();
  if (theirs.is_null()) return false;
  switch (type) {
    case DataType::kInt64:
    case DataType::kTimestamp: return theirs.is_number_integer() && theirs.get<int64_t>() == std::get<int64_t>(ours);
    case DataType::kBool: return theirs.is_boolean() && theirs.get<bool>() == std::get<bool>(ours);
    case DataType::kString: return theirs.is_string() && theirs.get<std::string>() == std::get<std::string>(ours);
    case DataType::kFloat64: {
      double x = std::get<double>(ours);
      if (theirs.is_string()) {
        std::string s = theirs.get<std::string>();
        return (s == "nan" && std::isnan(x)) || (s == "inf" && x == INFINITY) || (s == "-inf" && x == -INFINITY);
      }
      double y = theirs.get<double>();
      return x == y || std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
    }
  }
  return false;
}

void ExpectTableMatchesDuckDb(const Table& table, const QueryResult& duck) {
  ASSERT_EQ(duck.columns, table.schema().names());
  ASSERT_EQ(static_cast<int64_t>(duck.rows.size()), table.num_rows());
  for (int column = 0; column < table.num_columns(); ++column) {
    std::vector<Value> values = ColumnValues(table, column);
    int mismatches = 0;
    for (size_t row = 0; row < values.size() && mismatches < 5; ++row) {
      const json& cell = duck.rows[row][column];
      if (CellMatches(values[row], cell, table.schema().field(column).type)) continue;
      ++mismatches;
      ADD_FAILURE() << "column " << duck.columns[column] << " row " << row << ": ours " << Show(values[row])
                    << ", DuckDB " << cell.dump();
    }
  }
}

TEST_F(DuckDbDifferentialTest, DuckDbReadsWhatWeWrite) {
  // Given a table with nulls, duplicates, outliers, quotes, newlines, unicode, extreme doubles and negative
  // timestamps, written with each codec, then DuckDB reads the same values and types.
  std::vector<ColumnSpec> columns = RandomColumns(12, 50000, 0.05);
  columns[1].values[7] = std::nan("");
  columns[1].values[8] = INFINITY;
  columns[1].values[9] = -INFINITY;
  TablePtr table = MakeTable(columns, {7000});
  for (Compression compression : {Compression::kSnappy, Compression::kZstd, Compression::kNone}) {
    SCOPED_TRACE(static_cast<int>(compression));
    std::string path = (dir_ / "ours.parquet").string();
    ParquetWriteOptions options;
    options.compression = compression;
    options.row_group_rows = 40000;  // one row group spanning batches, one small
    WriteParquetFile(*table, path, options);
    QueryResult types = Query({"DESCRIBE SELECT * FROM read_parquet(" + SqlString(path) + ")"});
    std::vector<std::string> described;
    for (const json& row : types.rows) described.push_back(row[0].get<std::string>() + " " + row[1].get<std::string>());
    EXPECT_EQ(described, (std::vector<std::string>{"id BIGINT", "amount DOUBLE", "flag BOOLEAN", "category VARCHAR",
                                                   "note VARCHAR", "ts TIMESTAMP WITH TIME ZONE", "small BIGINT"}));
    ExpectTableMatchesDuckDb(*table, Query({"SELECT * FROM read_parquet(" + SqlString(path) + ")"}));
  }
}

// DuckDB's SELECT for its own file, timestamps as epoch microseconds.
const char kDuckDbColumns[] =
    "SELECT id, i32, u8, i16, d, f, b, cat, s, epoch_us(ts) AS ts, epoch_us(ts_ms) AS ts_ms, epoch_us(ts_ns) AS ts_ns, "
    "epoch_us(tstz) AS tstz, epoch_us(dt::TIMESTAMP) AS dt, bn, gone FROM read_parquet(";

const char kDuckDbSource[] =
    "SELECT i::BIGINT AS id, (i * 3 - 100000)::INTEGER AS i32, (i % 3)::UTINYINT AS u8, (i % 100 - 50)::SMALLINT AS i16, "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1.5 - 1e6 END AS d, (i * 0.25)::FLOAT AS f, i % 2 = 0 AS b, "
    "CASE WHEN i % 11 = 0 THEN NULL ELSE 'cat ' || (i % 13) || ' ü' END AS cat, "
    "CASE WHEN i % 17 = 0 THEN NULL ELSE 'unique-' || i || repeat('x', i % 5) || chr(10) END AS s, "
    "TIMESTAMP '1969-12-31' + INTERVAL (i) MINUTE AS ts, "
    "(TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_MS AS ts_ms, "
    "(TIMESTAMP '2024-01-01' + INTERVAL (i * 7) MICROSECOND)::TIMESTAMP_NS AS ts_ns, "
    "TIMESTAMPTZ '2024-06-01 00:00:00+00' + INTERVAL (i) HOUR AS tstz, DATE '1960-01-01' + (i % 30000)::INTEGER AS dt, "
    "CASE WHEN i % 5 = 0 THEN NULL ELSE i % 4 = 0 END AS bn, NULL::VARCHAR AS gone FROM range(150000) t(i)";

TEST_F(DuckDbDifferentialTest, WeReadWhatDuckDbWrites) {
  // Given DuckDB files with each of its codecs (and format v2: DELTA encodings, data page v2), repeated strings
  // (dictionaries), nulls and UTINYINT/SMALLINT/FLOAT/DATE/TIMESTAMP_MS/NS columns, then we read DuckDB's values.
  struct Variant {
    std::string name;
    std::string options;
  };
  const std::vector<Variant> variants = {
      {"snappy", "FORMAT PARQUET"},
      {"zstd", "FORMAT PARQUET, COMPRESSION zstd"},
      {"uncompressed", "FORMAT PARQUET, COMPRESSION uncompressed"},
      {"v2", "FORMAT PARQUET, PARQUET_VERSION V2"},
      {"v2_zstd_small_groups", "FORMAT PARQUET, PARQUET_VERSION V2, COMPRESSION zstd, ROW_GROUP_SIZE 10000"},
  };
  for (const Variant& variant : variants) {
    SCOPED_TRACE(variant.name);
    std::string path = (dir_ / (variant.name + ".parquet")).string();
    QueryResult duck = Query({"COPY (" + std::string(kDuckDbSource) + ") TO " + SqlString(path) + " (" +
                                  variant.options + ")",
                              std::string(kDuckDbColumns) + SqlString(path) + ")"});
    TablePtr ours = ReadParquetFile(path);
    EXPECT_EQ(ours->schema().names(), duck.columns);
    std::string types;
    for (const Field& field : ours->schema().fields()) types += std::string(TypeName(field.type)) + " ";
    EXPECT_EQ(types, "int64 int64 int64 int64 float64 float64 bool string string timestamp timestamp timestamp "
                     "timestamp timestamp bool string ");
    ExpectTableMatchesDuckDb(*ours, duck);
  }
}

TEST_F(DuckDbDifferentialTest, OtherDuckDbCodecsAreClearErrors) {
  // Given DuckDB files compressed with gzip, lz4 or brotli, then the error names the codec and the column.
  for (auto [codec, name] : {std::pair<std::string, std::string>{"gzip", "GZIP"}, {"lz4", "LZ4_RAW"}, {"brotli", "BROTLI"}}) {
    std::string path = (dir_ / (codec + ".parquet")).string();
    Query({"COPY (SELECT 1::BIGINT AS a) TO " + SqlString(path) + " (FORMAT PARQUET, COMPRESSION " + codec + ")",
           "SELECT 1"});
    try {
      ReadParquetFile(path);
      ADD_FAILURE() << codec << ": no error";
    } catch (const FormatError& error) {
      EXPECT_EQ(std::string(error.what()), path + ": column 'a': unsupported compression " + name);
    }
  }
}

}  // namespace
}  // namespace pipeline::columnar
