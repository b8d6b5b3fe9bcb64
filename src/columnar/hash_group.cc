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

bool ValuesEqual(const Column& c, int64_t a, int64_t b) {
  bool va = c.IsValid(a), vb = c.IsValid(b);
  if (va != vb) return false;
  if (!va) return true;
  switch (c.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp: return c.ints()[a] == c.ints()[b];
    case DataType::kFloat64: {
      double x = c.doubles()[a], y = c.doubles()[b];
      return x == y || (std::isnan(x) && std::isnan(y));
    }
    case DataType::kBool: return c.bools()[a] == c.bools()[b];
    case DataType::kString: return c.StringAt(a) == c.StringAt(b);
  }
  return false;
}

bool RowsEqual(const std::vector<ColumnPtr>& keys, int64_t a, int64_t b) {
  for (const ColumnPtr& c : keys) {
    if (!ValuesEqual(*c, a, b)) return false;
  }
  return true;
}

}  // namespace

std::vector<uint64_t> HashRows(const std::vector<ColumnPtr>& keys, int threads) {
  if (threads <= 0) threads = DefaultThreads();
  const int64_t n = keys.empty() ? 0 : keys[0]->length();
  std::vector<uint64_t> hashes(static_cast<size_t>(n) + 8);
  const int64_t blocks = (n + kHashBlock - 1) / kHashBlock;
  ParallelFor(static_cast<size_t>(blocks), threads, [&](size_t block) {
    int64_t begin = static_cast<int64_t>(block) * kHashBlock;
    int64_t len = std::min(kHashBlock, n - begin);
    std::vector<uint64_t> tmp(static_cast<size_t>(len) + 8);
    uint64_t* acc = hashes.data() + begin;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (k == 0) {
        HashColumn(*keys[k], begin, len, acc);
      } else {
        HashColumn(*keys[k], begin, len, tmp.data());
        kernels::CombineHashes(acc, tmp.data(), len);
      }
    }
  });
  hashes.resize(static_cast<size_t>(n));
  return hashes;
}

Grouping GroupRows(const std::vector<ColumnPtr>& keys, int threads) {
  if (threads <= 0) threads = DefaultThreads();
  Grouping g;
  const int64_t n = keys.empty() ? 0 : keys[0]->length();
  g.group_ids.resize(static_cast<size_t>(n));
  if (n == 0) return g;
  std::vector<uint64_t> hashes = HashRows(keys, threads);

  // Scatter row numbers into partitions by the top hash bits; each
  // partition's rows stay in increasing order.
  std::vector<int64_t> starts(kPartitions + 1, 0);
  for (int64_t r = 0; r < n; ++r) ++starts[(hashes[r] >> (64 - kPartitionBits)) + 1];
  for (int p = 0; p < kPartitions; ++p) starts[p + 1] += starts[p];
  std::vector<uint32_t> rows(static_cast<size_t>(n));
  {
    std::vector<int64_t> fill(starts.begin(), starts.end() - 1);
    for (int64_t r = 0; r < n; ++r) rows[fill[hashes[r] >> (64 - kPartitionBits)]++] = static_cast<uint32_t>(r);
  }

  // Group each partition: local ids, first rows.
  std::vector<std::vector<int64_t>> firsts(kPartitions);
  std::vector<uint32_t> local(static_cast<size_t>(n));  // local group id per row
  ParallelFor(kPartitions, threads, [&](size_t p) {
    int64_t begin = starts[p], end = starts[p + 1];
    if (begin == end) return;
    size_t cap = std::bit_ceil(static_cast<size_t>(std::max<int64_t>(16, (end - begin) * 2)));
    struct Slot {
      uint64_t hash;
      uint32_t group;  // UINT32_MAX = empty
    };
    std::vector<Slot> table(cap, Slot{0, UINT32_MAX});
    std::vector<int64_t>& first = firsts[p];
    for (int64_t i = begin; i < end; ++i) {
      uint32_t r = rows[i];
      uint64_t h = hashes[r];
      size_t at = static_cast<size_t>(h) & (cap - 1);
      while (true) {
        Slot& s = table[at];
        if (s.group == UINT32_MAX) {
          s = {h, static_cast<uint32_t>(first.size())};
          local[r] = s.group;
          first.push_back(r);
          break;
        }
        if (s.hash == h && RowsEqual(keys, first[s.group], r)) {
          local[r] = s.group;
          break;
        }
        at = (at + 1) & (cap - 1);
      }
    }
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
    uint32_t& id = global[hashes[r] >> (64 - kPartitionBits)][local[r]];
    if (id == UINT32_MAX) {
      id = static_cast<uint32_t>(g.first_row.size());
      g.first_row.push_back(r);
    }
    g.group_ids[r] = id;
  }
  return g;
}

int64_t EstimateDistinct(const Column& column) {
  constexpr int kBits = 14;
  constexpr int kRegisters = 1 << kBits;
  std::vector<uint8_t> reg(kRegisters, 0);
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
      reg[idx] = std::max(reg[idx], rank);
    }
  }
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : reg) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  const double m = kRegisters;
  double estimate = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / zeros);
  return static_cast<int64_t>(std::llround(estimate));
}

}  // namespace pipeline::columnar
