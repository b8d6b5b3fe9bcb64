#include "columnar/hash_group.h"
#include "columnar/compute.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "columnar/column.h"

namespace pipeline::columnar {
namespace {

TEST(HashGroupTest, GroupsNumberedByFirstAppearanceWithNullsTogether) {
  ColumnBuilder a(DataType::kString), b(DataType::kInt64);
  const char* s[] = {"x", "y", "x", nullptr, "y", nullptr};
  int64_t v[] = {1, 1, 1, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    s[i] ? a.AppendString(s[i]) : a.AppendNull();
    b.AppendInt(v[i]);
  }
  Grouping g = GroupRows({a.Finish(), b.Finish()}, 2);
  EXPECT_EQ(g.group_ids, (std::vector<uint32_t>{0, 1, 0, 2, 3, 2}));
  EXPECT_EQ(g.first_row, (std::vector<int64_t>{0, 1, 3, 4}));
}

TEST(HashGroupTest, FloatsCompareByValue) {
  ColumnBuilder f(DataType::kFloat64);
  for (double d : {0.0, -0.0, 1.5, 1.5, std::nan("")}) f.AppendDouble(d);
  f.AppendDouble(std::nan(""));
  Grouping g = GroupRows({f.Finish()});
  EXPECT_EQ(g.group_ids, (std::vector<uint32_t>{0, 0, 1, 1, 2, 2}));
}

TEST(HashGroupTest, MatchesAMapOnRandomRowsAtAnyThreadCount) {
  // Given 200k random rows over a few columns, then groups equal those of a std::map.
  std::mt19937 rng(3);
  ColumnBuilder a(DataType::kInt64), b(DataType::kString), c(DataType::kBool);
  std::vector<std::tuple<int64_t, std::string, int>> rows;
  for (int i = 0; i < 200000; ++i) {
    int64_t x = rng() % 500;
    std::string y = "s" + std::to_string(rng() % 7);
    int z = rng() % 3;  // 2 = null
    a.AppendInt(x);
    b.AppendString(y);
    z == 2 ? c.AppendNull() : c.AppendBool(z);
    rows.emplace_back(x, y, z);
  }
  std::vector<ColumnPtr> keys = {a.Finish(), b.Finish(), c.Finish()};
  std::map<std::tuple<int64_t, std::string, int>, int64_t> first;
  for (size_t r = 0; r < rows.size(); ++r) first.emplace(rows[r], r);
  for (int threads : {1, 2, 4}) {
    Grouping g = GroupRows(keys, threads);
    ASSERT_EQ(g.num_groups(), static_cast<int64_t>(first.size()));
    for (size_t r = 0; r < rows.size(); r += 97) {
      ASSERT_EQ(g.first_row[g.group_ids[r]], first[rows[r]]) << r;
    }
    for (int64_t id = 1; id < g.num_groups(); ++id) ASSERT_LT(g.first_row[id - 1], g.first_row[id]);
  }
}

TEST(HashGroupTest, FewGroupsOverManyRowsKeepFirstAppearanceAcrossRanges) {
  // Given 300k rows of 20 categories (the few-groups path, split in ranges),
  // then ids follow first appearance and every row is in its value's group.
  std::mt19937 rng(5);
  ColumnBuilder b(DataType::kString);
  std::vector<std::string> values;
  for (int i = 0; i < 300000; ++i) {
    // Category 19 first shows up late, in the last range.
    std::string v = i < 250000 ? "cat" + std::to_string(rng() % 19) : "cat" + std::to_string(rng() % 20);
    b.AppendString(v);
    values.push_back(v);
  }
  ColumnPtr col = b.Finish();
  for (int threads : {1, 2, 4}) {
    Grouping g = GroupRows({col}, threads);
    ASSERT_EQ(g.num_groups(), 20);
    std::map<std::string, uint32_t> id;
    for (size_t r = 0; r < values.size(); ++r) {
      auto [it, inserted] = id.emplace(values[r], static_cast<uint32_t>(id.size()));
      ASSERT_EQ(g.group_ids[r], it->second) << r;
      if (inserted) ASSERT_EQ(g.first_row[it->second], static_cast<int64_t>(r));
    }
  }
}

TEST(HashGroupTest, DistinctEstimateIsClose) {
  ColumnBuilder a(DataType::kInt64);
  for (int i = 0; i < 300000; ++i) i % 10 == 0 ? a.AppendNull() : a.AppendInt(i % 100000);
  int64_t est = EstimateDistinct(*a.Finish());
  EXPECT_NEAR(static_cast<double>(est), 90000.0, 3000.0);
  ColumnBuilder small(DataType::kString);
  for (int i = 0; i < 1000; ++i) small.AppendString(std::to_string(i % 20));
  EXPECT_NEAR(static_cast<double>(EstimateDistinct(*small.Finish())), 20.0, 1.0);
}

TEST(HashGroupTest, GroupingBatchesEqualsGroupingTheWholeColumns) {
  // Few groups (categorical) and many groups (ids), strings and floats with nulls.
  for (int distinct : {7, 50000}) {
    ColumnBuilder s(DataType::kString), d(DataType::kFloat64);
    for (int i = 0; i < 120000; ++i) {
      int v = (i * 7919) % distinct;
      v % 11 == 0 ? s.AppendNull() : s.AppendString("k" + std::to_string(v % 1000));
      v % 13 == 0 ? d.AppendNull() : d.AppendDouble(v / 1000);
    }
    ColumnPtr sc = s.Finish(), dc = d.Finish();
    Grouping whole = GroupRows({sc, dc});
    // Batches of uneven sizes, one of them past a 64K-row block.
    std::vector<std::vector<ColumnPtr>> batches;
    const int64_t cuts[] = {0, 1, 1000, 70000, 70001, 120000};
    for (int i = 0; i + 1 < 6; ++i) {
      batches.push_back({Slice(*sc, cuts[i], cuts[i + 1] - cuts[i]), Slice(*dc, cuts[i], cuts[i + 1] - cuts[i])});
    }
    Grouping parts = GroupBatchRows(batches);
    EXPECT_EQ(parts.group_ids, whole.group_ids) << distinct;
    EXPECT_EQ(parts.first_row, whole.first_row) << distinct;
    EXPECT_GT(whole.num_groups(), distinct == 7 ? 5 : 1000);
  }
  EXPECT_EQ(GroupBatchRows({}).num_groups(), 0);
}

TEST(HashGroupTest, SketchOverPartsEstimatesLikeTheWholeColumn) {
  ColumnBuilder whole(DataType::kString), a(DataType::kString), b(DataType::kString);
  for (int i = 0; i < 50000; ++i) {
    std::string v = "v" + std::to_string(i % 7000);
    whole.AppendString(v);
    (i < 20000 ? a : b).AppendString(v);
  }
  DistinctSketch parts, other;
  parts.Add(*a.Finish());
  other.Add(*b.Finish());
  parts.Merge(other);
  // The same values hash to the same registers: the estimates are equal.
  EXPECT_EQ(parts.Estimate(), EstimateDistinct(*whole.Finish()));
  EXPECT_NEAR(static_cast<double>(parts.Estimate()), 7000.0, 200.0);
  EXPECT_EQ(DistinctSketch().Estimate(), 0);
}

}  // namespace
}  // namespace pipeline::columnar
