#include "columnar/hash_group.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "columnar/parallel.h"
#include "kernels/kernels.h"

namespace pipeline::columnar {
namespace {

constexpr int kPartitionBits = 8;
constexpr int kPartitions = 1 << kPartitionBits;
constexpr int64_t kHashBlock = 1 << 16;

void HashColumn(const Column& c, int64_t begin, int64_t n, uint64_t* out) {
  const uint64_t* validity = c.validity();
  // The kernels take bitmaps that start at row 0 of a word: blocks begin at
  // multiples of 64 rows.
  const uint64_t* v = validity ? validity + begin / 64 : nullptr;
  switch (c.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp: kernels::Hash(c.ints() + begin, v, n, out); break;
    case DataType::kFloat64: kernels::Hash(c.doubles() + begin, v, n, out); break;
    case DataType::kBool: kernels::Hash(c.bools() + begin, v, n, out); break;
    case DataType::kString: {
      // Offsets are absolute into chars, so the slice keeps the same chars.
      kernels::HashStrings(c.offsets() + begin, c.chars(), v, n, out);
      break;
    }
  }
}

bool ValuesEqual(const Column& x, int64_t a, const Column& y, int64_t b) {
  bool va = x.IsValid(a), vb = y.IsValid(b);
  if (va != vb) return false;
  if (!va) return true;
  switch (x.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp: return x.ints()[a] == y.ints()[b];
    case DataType::kFloat64: {
      double u = x.doubles()[a], v = y.doubles()[b];
      return u == v || (std::isnan(u) && std::isnan(v));
    }
    case DataType::kBool: return x.bools()[a] == y.bools()[b];
    case DataType::kString: {
      const uint32_t* ox = x.offsets();
      const uint32_t* oy = y.offsets();
      uint32_t len = ox[a + 1] - ox[a];
      if (len != oy[b + 1] - oy[b]) return false;
      const char* p = x.chars() + ox[a];
      const char* q = y.chars() + oy[b];
      if (len <= 8) {  // short categories: two loads, no call
        uint64_t wp = 0, wq = 0;
        std::memcpy(&wp, p, len);
        std::memcpy(&wq, q, len);
        return wp == wq;
      }
      return std::memcmp(p, q, len) == 0;
    }
  }
  return false;
}

// The key columns of a table's rows, held as batches: row numbers are
// table-wide and each is found in its batch in O(1) (a table of which batch
// starts each block of 64K rows, then a step or two).
class KeyRows {
 public:
  explicit KeyRows(const std::vector<std::vector<ColumnPtr>>& batches) : batches_(batches) {
    offsets_.push_back(0);
    for (const auto& b : batches) offsets_.push_back(offsets_.back() + (b.empty() ? 0 : b[0]->length()));
    const int64_t n = offsets_.back();
    block_batch_.resize(static_cast<size_t>((n >> kBlockBits) + 1));
    uint32_t batch = 0;
    for (size_t block = 0; block < block_batch_.size(); ++block) {
      const int64_t first = static_cast<int64_t>(block) << kBlockBits;
      while (batch + 1 < batches.size() && offsets_[batch + 1] <= first) ++batch;
      block_batch_[block] = batch;
    }
  }

  int64_t rows() const { return offsets_.back(); }
  size_t num_batches() const { return batches_.size(); }
  const std::vector<ColumnPtr>& batch(size_t b) const { return batches_[b]; }
  int64_t offset(size_t b) const { return offsets_[b]; }

  bool Equal(int64_t a, int64_t b) const {
    auto [ba, ra] = Locate(a);
    auto [bb, rb] = Locate(b);
    const std::vector<ColumnPtr>& x = batches_[ba];
    const std::vector<ColumnPtr>& y = batches_[bb];
    for (size_t k = 0; k < x.size(); ++k) {
      if (!ValuesEqual(*x[k], ra, *y[k], rb)) return false;
    }
    return true;
  }

 private:
  static constexpr int kBlockBits = 16;

  std::pair<uint32_t, int64_t> Locate(int64_t row) const {
    uint32_t b = block_batch_[static_cast<size_t>(row >> kBlockBits)];
    while (offsets_[b + 1] <= row) ++b;
    return {b, row - offsets_[b]};
  }

  const std::vector<std::vector<ColumnPtr>>& batches_;
  std::vector<int64_t> offsets_;
  std::vector<uint32_t> block_batch_;
};

std::vector<uint64_t> HashKeyRows(const KeyRows& keys, int threads) {
  const int64_t n = keys.rows();
  std::vector<uint64_t> hashes(static_cast<size_t>(n) + 8);
  // Work items: blocks of kHashBlock rows within each batch.
  std::vector<std::pair<size_t, int64_t>> blocks;
  for (size_t b = 0; b < keys.num_batches(); ++b) {
    const int64_t len = keys.offset(b + 1) - keys.offset(b);
    for (int64_t begin = 0; begin < len; begin += kHashBlock) blocks.emplace_back(b, begin);
  }
  ParallelFor(blocks.size(), threads, [&](size_t i) {
    const auto [b, begin] = blocks[i];
    const std::vector<ColumnPtr>& cols = keys.batch(b);
    const int64_t len = std::min(kHashBlock, keys.offset(b + 1) - keys.offset(b) - begin);
    std::vector<uint64_t> tmp(static_cast<size_t>(len) + 8);
    uint64_t* acc = hashes.data() + keys.offset(b) + begin;
    for (size_t k = 0; k < cols.size(); ++k) {
      if (k == 0) {
        HashColumn(*cols[k], begin, len, acc);
      } else {
        HashColumn(*cols[k], begin, len, tmp.data());
        kernels::CombineHashes(acc, tmp.data(), len);
      }
    }
  });
  hashes.resize(static_cast<size_t>(n));
  return hashes;
}

}  // namespace

std::vector<uint64_t> HashRows(const std::vector<ColumnPtr>& keys, int threads) {
  if (threads <= 0) threads = DefaultThreads();
  std::vector<std::vector<ColumnPtr>> one = {keys};
  return HashKeyRows(KeyRows(one), threads);
}

namespace {

// An open-addressing table from row hash to group, for one thread.
class GroupTable {
 public:
  explicit GroupTable(size_t expected) { Rehash(std::bit_ceil(std::max<size_t>(64, expected * 2))); }

  // The group of the row with hash `h` and representative test `same`
  // (called with a group's first row), adding a group when none matches.
  template <class Same>
  uint32_t FindOrAdd(uint64_t h, int64_t row, Same&& same) {
    size_t at = static_cast<size_t>(h) & mask_;
    while (true) {
      Slot& s = slots_[at];
      if (s.group == kEmpty) {
        s = {h, static_cast<uint32_t>(first_.size())};
        first_.push_back(row);
        if (first_.size() * 2 > slots_.size()) Rehash(slots_.size() * 2);
        return static_cast<uint32_t>(first_.size() - 1);
      }
      if (s.hash == h && same(first_[s.group])) return s.group;
      at = (at + 1) & mask_;
    }
  }

  const std::vector<int64_t>& first_rows() const { return first_; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint64_t hash;
    uint32_t group;
  };

  void Rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{0, kEmpty});
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.group == kEmpty) continue;
      size_t at = static_cast<size_t>(s.hash) & mask_;
      while (slots_[at].group != kEmpty) at = (at + 1) & mask_;
      slots_[at] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<int64_t> first_;
};

// Few groups (categorical keys): each thread groups a range of rows in order
// with a small table that stays in cache; the ranges' groups are then merged
// in order, so ids still follow first appearance.
Grouping GroupFew(const KeyRows& keys, const std::vector<uint64_t>& hashes, int threads) {
  const int64_t n = static_cast<int64_t>(hashes.size());
  Grouping g;
  g.group_ids.resize(static_cast<size_t>(n));
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(threads, n / 65536));
  std::vector<GroupTable> tables;
  for (int64_t t = 0; t < ranges; ++t) tables.emplace_back(256);
  auto range_begin = [&](int64_t t) { return n * t / ranges; };
  ParallelFor(static_cast<size_t>(ranges), threads, [&](size_t t) {
    GroupTable& table = tables[t];
    for (int64_t r = range_begin(static_cast<int64_t>(t)); r < range_begin(static_cast<int64_t>(t) + 1); ++r) {
      g.group_ids[r] = table.FindOrAdd(hashes[r], r, [&](int64_t first) { return keys.Equal(first, r); });
    }
  });
  GroupTable merged(256);
  std::vector<std::vector<uint32_t>> maps(static_cast<size_t>(ranges));
  for (int64_t t = 0; t < ranges; ++t) {
    for (int64_t first : tables[t].first_rows()) {
      maps[t].push_back(merged.FindOrAdd(hashes[first], first, [&](int64_t f) { return keys.Equal(f, first); }));
    }
  }
  if (ranges > 1) {
    ParallelFor(static_cast<size_t>(ranges), threads, [&](size_t t) {
      const std::vector<uint32_t>& map = maps[t];
      for (int64_t r = range_begin(static_cast<int64_t>(t)); r < range_begin(static_cast<int64_t>(t) + 1); ++r) {
        g.group_ids[r] = map[g.group_ids[r]];
      }
    });
  }
  g.first_row = merged.first_rows();
  return g;
}

// Many groups: rows are scattered into partitions by the top hash bits
// (each partition's rows stay in increasing order) and each partition is
// grouped on its own thread with a table sized for it.
Grouping GroupMany(const KeyRows& keys, const std::vector<uint64_t>& hashes, int threads) {
  const int64_t n = static_cast<int64_t>(hashes.size());
  Grouping g;
  g.group_ids.resize(static_cast<size_t>(n));
  auto part = [](uint64_t h) { return static_cast<size_t>(h >> (64 - kPartitionBits)); };

  // Scatter (hash, row) pairs, each thread a range of rows.
  struct Entry {
    uint64_t hash;
    int64_t row;
  };
  const int64_t ranges = std::max<int64_t>(1, std::min<int64_t>(threads, n / 65536));
  auto range_begin = [&](int64_t t) { return n * t / ranges; };
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(ranges), std::vector<int64_t>(kPartitions, 0));
  ParallelFor(static_cast<size_t>(ranges), threads, [&](size_t t) {
    for (int64_t r = range_begin(static_cast<int64_t>(t)); r < range_begin(static_cast<int64_t>(t) + 1); ++r) {
      ++counts[t][part(hashes[r])];
    }
  });
  std::vector<int64_t> starts(kPartitions + 1, 0);
  std::vector<std::vector<int64_t>> fill(static_cast<size_t>(ranges), std::vector<int64_t>(kPartitions));
  for (int p = 0, at = 0; p < kPartitions; ++p) {
    starts[p] = at;
    for (int64_t t = 0; t < ranges; ++t) {
      fill[t][p] = at;
      at += static_cast<int>(counts[t][p]);
    }
    starts[p + 1] = at;
  }
  std::vector<Entry> entries(static_cast<size_t>(n));
  ParallelFor(static_cast<size_t>(ranges), threads, [&](size_t t) {
    std::vector<int64_t>& f = fill[t];
    for (int64_t r = range_begin(static_cast<int64_t>(t)); r < range_begin(static_cast<int64_t>(t) + 1); ++r) {
      entries[f[part(hashes[r])]++] = {hashes[r], r};
    }
  });

  // Group each partition: local ids, written to group_ids for now.
  std::vector<std::vector<int64_t>> firsts(kPartitions);
  ParallelFor(kPartitions, threads, [&](size_t p) {
    int64_t begin = starts[p], end = starts[p + 1];
    if (begin == end) return;
    GroupTable table(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) {
      const Entry& e = entries[i];
      g.group_ids[e.row] = table.FindOrAdd(e.hash, e.row, [&](int64_t first) { return keys.Equal(first, e.row); });
    }
    firsts[p] = table.first_rows();
  });

  // Number groups by first row: walk the rows in order; a row whose local
  // group has no number yet is that group's first row.
  std::vector<std::vector<uint32_t>> global(kPartitions);
  int64_t groups = 0;
  for (int p = 0; p < kPartitions; ++p) {
    global[p].assign(firsts[p].size(), UINT32_MAX);
    groups += static_cast<int64_t>(firsts[p].size());
  }
  g.first_row.reserve(static_cast<size_t>(groups));
  for (int64_t r = 0; r < n; ++r) {
    uint32_t& id = global[part(hashes[r])][g.group_ids[r]];
    if (id == UINT32_MAX) {
      id = static_cast<uint32_t>(g.first_row.size());
      g.first_row.push_back(r);
    }
    g.group_ids[r] = id;
  }
  return g;
}

Grouping GroupKeyRows(const KeyRows& keys, int threads) {
  if (threads <= 0) threads = DefaultThreads();
  const int64_t n = keys.rows();
  if (n == 0) return Grouping{};
  std::vector<uint64_t> hashes = HashKeyRows(keys, threads);
  // A sample of the rows says whether the groups are few (categorical keys).
  GroupTable sample(1024);
  const int64_t probe = std::min<int64_t>(n, 16384);
  for (int64_t r = 0; r < probe && sample.first_rows().size() <= 1024; ++r) {
    sample.FindOrAdd(hashes[r], r, [&](int64_t first) { return keys.Equal(first, r); });
  }
  if (sample.first_rows().size() <= 1024 && sample.first_rows().size() * 64 < static_cast<size_t>(probe + 64)) {
    return GroupFew(keys, hashes, threads);
  }
  return GroupMany(keys, hashes, threads);
}

}  // namespace

Grouping GroupRows(const std::vector<ColumnPtr>& keys, int threads) {
  if (keys.empty()) return Grouping{};
  std::vector<std::vector<ColumnPtr>> one = {keys};
  return GroupKeyRows(KeyRows(one), threads);
}

Grouping GroupBatchRows(const std::vector<std::vector<ColumnPtr>>& batches, int threads) {
  return GroupKeyRows(KeyRows(batches), threads);
}

DistinctSketch::DistinctSketch() : registers_(kRegisters, 0) {}

void DistinctSketch::Add(const Column& column) {
  const int64_t n = column.length();
  std::vector<uint64_t> h(static_cast<size_t>(std::min(n, kHashBlock)) + 8);
  for (int64_t begin = 0; begin < n; begin += kHashBlock) {
    int64_t len = std::min(kHashBlock, n - begin);
    HashColumn(column, begin, len, h.data());
    for (int64_t i = 0; i < len; ++i) {
      if (!column.IsValid(begin + i)) continue;
      uint64_t x = h[i];
      uint32_t idx = static_cast<uint32_t>(x >> (64 - kBits));
      uint8_t rank = static_cast<uint8_t>(std::countl_zero((x << kBits) | (uint64_t{1} << (kBits - 1))) + 1);
      registers_[idx] = std::max(registers_[idx], rank);
    }
  }
}

void DistinctSketch::Merge(const DistinctSketch& other) {
  for (int i = 0; i < kRegisters; ++i) registers_[i] = std::max(registers_[i], other.registers_[i]);
}

int64_t DistinctSketch::Estimate() const {
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  const double m = kRegisters;
  double estimate = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / zeros);
  return static_cast<int64_t>(std::llround(estimate));
}

int64_t EstimateDistinct(const Column& column) {
  DistinctSketch sketch;
  sketch.Add(column);
  return sketch.Estimate();
}

}  // namespace pipeline::columnar
