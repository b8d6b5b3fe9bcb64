// Grouping rows by the values of some columns: the engine behind unique and
// duplicate checks, drop_duplicates, label and one-hot encoding and group-by
// aggregates. Rows are hashed with the SIMD kernels, split into partitions by
// hash, and each partition is grouped by its own open-addressing table on one
// thread; equal hashes are confirmed by comparing the values.
#pragma once

#include <cstdint>
#include <vector>

#include "columnar/column.h"

namespace pipeline::columnar {

struct Grouping {
  // Per row: its group, 0..num_groups-1. Groups are numbered in the order of
  // their first row.
  std::vector<uint32_t> group_ids;
  // Per group: the first row that has its values.
  std::vector<int64_t> first_row;
  int64_t num_groups() const { return static_cast<int64_t>(first_row.size()); }
};

// Groups the rows of `keys` (equal-length columns; nulls equal each other,
// floats compare by value with -0.0 == 0.0 and NaN == NaN).
Grouping GroupRows(const std::vector<ColumnPtr>& keys, int threads = 0);

// The same over a table's batches without concatenating them: batches[b][k]
// is key column k of batch b; rows are numbered across the batches in order.
Grouping GroupBatchRows(const std::vector<std::vector<ColumnPtr>>& batches, int threads = 0);

// Per row: a 64-bit hash over `keys` (same hash for rows GroupRows puts
// together).
std::vector<uint64_t> HashRows(const std::vector<ColumnPtr>& keys, int threads = 0);

// An estimate of the number of distinct values (HyperLogLog, 2^14
// registers, about 1% error), nulls not counted.
int64_t EstimateDistinct(const Column& column);

// The same, fed column by column (the batches of one table column): the
// estimate of all values added, as if they were one column.
class DistinctSketch {
 public:
  DistinctSketch();
  void Add(const Column& column);
  void Merge(const DistinctSketch& other);
  int64_t Estimate() const;

 private:
  static constexpr int kBits = 14;
  static constexpr int kRegisters = 1 << kBits;
  std::vector<uint8_t> registers_;
};

}  // namespace pipeline::columnar
