#include "columnar/column.h"
#include "columnar/compute.h"
#include "columnar/table.h"

#include <gtest/gtest.h>

namespace pipeline::columnar {
namespace {

TEST(ColumnBuilderTest, NullsGetZeroSlotsAndABitmap) {
  // Given ints with a null in the middle, then the slot is 0 and the bit clear.
  ColumnBuilder b(DataType::kInt64);
  b.AppendInt(7);
  b.AppendNull();
  b.AppendInt(-3);
  ColumnPtr c = b.Finish();
  ASSERT_EQ(c->length(), 3);
  EXPECT_EQ(c->null_count(), 1);
  EXPECT_TRUE(c->IsValid(0));
  EXPECT_TRUE(c->IsNull(1));
  EXPECT_EQ(c->ints()[0], 7);
  EXPECT_EQ(c->ints()[1], 0);
  EXPECT_EQ(c->ints()[2], -3);
}

TEST(ColumnBuilderTest, NoNullsMeansNoBitmap) {
  ColumnBuilder b(DataType::kFloat64);
  for (int i = 0; i < 100; ++i) b.AppendDouble(i * 0.5);
  ColumnPtr c = b.Finish();
  EXPECT_EQ(c->validity(), nullptr);
  EXPECT_EQ(c->null_count(), 0);
  EXPECT_DOUBLE_EQ(c->doubles()[99], 49.5);
}

TEST(ColumnBuilderTest, StringsKeepOffsetsAndEmptyNulls) {
  ColumnBuilder b(DataType::kString);
  b.AppendString("héllo");
  b.AppendNull();
  b.AppendString("");
  b.AppendString("a,b\n\"c\"");
  ColumnPtr c = b.Finish();
  ASSERT_EQ(c->length(), 4);
  EXPECT_EQ(c->StringAt(0), "héllo");
  EXPECT_TRUE(c->IsNull(1));
  EXPECT_EQ(c->StringAt(1), "");
  EXPECT_TRUE(c->IsValid(2));
  EXPECT_EQ(c->StringAt(3), "a,b\n\"c\"");
  EXPECT_EQ(c->offsets()[4], c->chars_size());
}

TEST(ColumnBuilderTest, NullAfterManyValidRowsKeepsEarlierBits) {
  // Given 130 valid rows then a null, then bits 0..129 are set and 130 is clear.
  ColumnBuilder b(DataType::kBool);
  for (int i = 0; i < 130; ++i) b.AppendBool(i % 2);
  b.AppendNull();
  ColumnPtr c = b.Finish();
  for (int i = 0; i < 130; ++i) ASSERT_TRUE(c->IsValid(i)) << i;
  EXPECT_TRUE(c->IsNull(130));
  EXPECT_EQ(c->null_count(), 1);
}

TEST(ColumnTest, SetNullZeroesAndCounts) {
  Column c(DataType::kFloat64, 70);
  c.mutable_values().as<double>()[69] = 2.5;
  c.SetNull(69);
  c.SetNull(69);
  EXPECT_EQ(c.null_count(), 1);
  EXPECT_EQ(c.doubles()[69], 0.0);
  EXPECT_TRUE(c.IsValid(68));
  // The bits past length stay clear.
  EXPECT_EQ(c.validity()[1] >> 6, 0u);
}

TEST(TableTest, RejectsBatchThatDoesNotMatchTheSchema) {
  Table t(Schema({{"a", DataType::kInt64}}));
  ColumnBuilder b(DataType::kFloat64);
  b.AppendDouble(1);
  EXPECT_THROW(t.AddBatch(Batch{1, {b.Finish()}}), FormatError);
  ColumnBuilder ib(DataType::kInt64);
  ib.AppendInt(1);
  ib.AppendInt(2);
  t.AddBatch(Batch{2, {ib.Finish()}});
  EXPECT_EQ(t.num_rows(), 2);
}

TEST(ComputeTest, SliceAndConcatAreInverse) {
  // Strings with nulls, cut at offsets that are not multiples of 64.
  ColumnBuilder b(DataType::kString);
  for (int i = 0; i < 300; ++i) i % 7 == 3 ? b.AppendNull() : b.AppendString(std::string(static_cast<size_t>(i % 5), 'a' + i % 26));
  ColumnPtr c = b.Finish();
  std::vector<ColumnPtr> parts = {Slice(*c, 0, 1), Slice(*c, 1, 70), Slice(*c, 71, 0), Slice(*c, 71, 229)};
  EXPECT_EQ(parts[1]->length(), 70);
  EXPECT_EQ(parts[1]->StringAt(1), std::string(2, 'c'));
  EXPECT_TRUE(parts[1]->IsNull(2));  // row 3
  ColumnPtr back = ConcatColumns(DataType::kString, parts, "s");
  ASSERT_EQ(back->length(), 300);
  EXPECT_EQ(back->null_count(), c->null_count());
  for (int64_t r = 0; r < 300; ++r) {
    ASSERT_EQ(back->IsNull(r), c->IsNull(r)) << r;
    ASSERT_EQ(back->StringAt(r), c->StringAt(r)) << r;
  }
  ColumnBuilder d(DataType::kFloat64);
  for (int i = 0; i < 130; ++i) i == 100 ? d.AppendNull() : d.AppendDouble(i * 1.5);
  ColumnPtr x = d.Finish();
  ColumnPtr tail = Slice(*x, 65, 65);
  EXPECT_EQ(tail->doubles()[0], 65 * 1.5);
  EXPECT_EQ(tail->null_count(), 1);
  EXPECT_TRUE(tail->IsNull(35));
  EXPECT_EQ(ConcatColumns(DataType::kFloat64, {Slice(*x, 0, 65), tail}, "x")->doubles()[129], 129 * 1.5);
}

TEST(BufferTest, PaddingPastAFreshAllocationReadsZero) {
  Buffer b;
  b.Append("abc", 3);
  for (size_t i = 3; i < 3 + kBufferPadding; ++i) EXPECT_EQ(b.data()[i], 0) << i;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kBufferAlignment, 0u);
}

}  // namespace
}  // namespace pipeline::columnar
