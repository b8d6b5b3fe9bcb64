// Spill files: columns moved to disk read back the same, through every path
// that moves them (the CSV and Parquet readers).
#include "columnar/spill.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/parquet.h"
#include "kernels/kernels.h"
#include "table_dump.h"
#include "test_util.h"

namespace pipeline::columnar {
namespace {

std::string Dump(const Table& t) { return DumpRows(t); }

bool AllExternal(const Table& t) {
  for (const Batch& b : t.batches()) {
    for (const ColumnPtr& c : b.columns) {
      // Buffers under a page stay in memory.
      if (c->values_buffer().size() >= 4096 && !c->values_buffer().external()) return false;
    }
  }
  return true;
}

std::string Csv(int rows) {
  std::string text = "id,name,amount\n";
  for (int i = 0; i < rows; ++i) {
    text += std::to_string(i) + "," + (i % 9 == 0 ? "" : "name" + std::to_string(i % 97)) + "," +
            (i % 13 == 0 ? "NA" : std::to_string(i * 0.25)) + "\n";
  }
  return text;
}

TEST(SpillTest, MovedColumnsReadTheSameAndLeaveNoFile) {
  auto dir = testing_util::FreshTestDir("spill");
  auto spill = SpillFile::Create(dir.string());
  ColumnBuilder s(DataType::kString), d(DataType::kFloat64);
  for (int i = 0; i < 5000; ++i) {
    i % 7 == 0 ? s.AppendNull() : s.AppendString("value " + std::to_string(i));
    i % 5 == 0 ? d.AppendNull() : d.AppendDouble(i * 1.5);
  }
  ColumnPtr strings = s.Finish(), doubles = d.Finish();
  ColumnPtr ms = spill->Move(strings), md = spill->Move(doubles);
  EXPECT_TRUE(ms->values_buffer().external());
  EXPECT_TRUE(ms->chars_buffer().external());
  EXPECT_TRUE(md->values_buffer().external());
  EXPECT_EQ(spill->Move(md), md) << "a column already in a spill file is not moved again";
  EXPECT_GT(spill->bytes_written(), 5000 * 8);
  ASSERT_EQ(ms->null_count(), strings->null_count());
  for (int64_t r = 0; r < 5000; ++r) {
    ASSERT_EQ(ms->IsNull(r), strings->IsNull(r));
    ASSERT_EQ(ms->StringAt(r), strings->StringAt(r));
  }
  // The SIMD kernels read the moved buffers (and their padding) as before.
  EXPECT_EQ(kernels::Sum(md->doubles(), md->validity(), 5000), kernels::Sum(doubles->doubles(), doubles->validity(), 5000));
  // Growing a moved buffer takes it back into memory, contents kept.
  Buffer copy = spill->Move(doubles->values_buffer());
  copy.Resize(copy.size() + (1 << 20));
  EXPECT_FALSE(copy.external());
  EXPECT_EQ(copy.as<double>()[3], 4.5);
  // The file has no name: nothing is left in the folder.
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(SpillTest, AFolderThatDoesNotExistIsAClearError) {
  try {
    SpillFile::Create("/nonexistent/spill/dir");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).substr(0, 55), "cannot create a spill file in /nonexistent/spill/dir: N");
  }
}

TEST(SpillTest, CsvChunksMoveAsTheyAreParsed) {
  auto dir = testing_util::FreshTestDir("spill-csv");
  std::string text = Csv(40000);
  CsvOptions plain;
  plain.chunk_bytes = 100000;
  std::string want = Dump(*ReadCsvText(text, "t.csv", plain).table);
  CsvOptions spilled = plain;
  spilled.spill = SpillFile::Create(dir.string());
  TablePtr got = ReadCsvText(text, "t.csv", spilled).table;
  EXPECT_GT(got->num_batches(), 5);
  EXPECT_TRUE(AllExternal(*got));
  EXPECT_EQ(Dump(*got), want);
}

TEST(SpillTest, ParquetChunksMoveAsTheyAreDecoded) {
  auto dir = testing_util::FreshTestDir("spill-parquet");
  TablePtr table = ReadCsvText(Csv(30000), "t.csv").table;
  ParquetWriteOptions wo;
  wo.row_group_rows = 7000;
  std::string path = (dir / "t.parquet").string();
  WriteParquetFile(*table, path, wo);
  ParquetReadOptions ro;
  ro.spill = SpillFile::Create(dir.string());
  TablePtr got = ReadParquetFile(path, ro);
  EXPECT_EQ(got->num_batches(), 5);
  EXPECT_TRUE(AllExternal(*got));
  EXPECT_EQ(Dump(*got), Dump(*table));
}

}  // namespace
}  // namespace pipeline::columnar
