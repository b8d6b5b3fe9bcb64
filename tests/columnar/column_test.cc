#include "columnar/column.h"
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

TEST(BufferTest, PaddingPastAFreshAllocationReadsZero) {
  Buffer b;
  b.Append("abc", 3);
  for (size_t i = 3; i < 3 + kBufferPadding; ++i) EXPECT_EQ(b.data()[i], 0) << i;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kBufferAlignment, 0u);
}

}  // namespace
}  // namespace pipeline::columnar
