// Micro-benchmarks of the column kernels on 10M-row columns (80 MB per
// int64/double column, beyond the 32 MB L3), once per SIMD target the CPU
// supports: each benchmark is registered as <kernel>/<target> and forces its
// target with hwy::SetSupportedTargetsForTest. bytes_per_second counts the
// bytes of the input columns read once (a two-pass kernel reads them twice),
// per wall-clock second; compare with bench/peers' membw float sum.
//
//   kernels_bench --benchmark_filter='Range|CountValid'

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "hwy/targets.h"
#include "kernels/kernels.h"

namespace {

using namespace pipeline::kernels;

constexpr int64_t kRows = 10'000'000;
constexpr int64_t kWords = BitmapWords(kRows);

// Aligned, zero-initialised (pages touched), with the kernels' 64-byte padding.
template <typename T>
hwy::AlignedFreeUniquePtr<T[]> Array(int64_t n) {
  auto array = hwy::AllocateAligned<T>(static_cast<size_t>(n) + 64 / sizeof(T));
  std::memset(array.get(), 0, (static_cast<size_t>(n) + 64 / sizeof(T)) * sizeof(T));
  return array;
}

struct Data {
  hwy::AlignedFreeUniquePtr<double[]> doubles = Array<double>(kRows);
  hwy::AlignedFreeUniquePtr<int64_t[]> ints = Array<int64_t>(kRows);
  hwy::AlignedFreeUniquePtr<uint64_t[]> validity = Array<uint64_t>(kWords);   // ~10% nulls
  hwy::AlignedFreeUniquePtr<uint64_t[]> half = Array<uint64_t>(kWords);       // 50% selected
  hwy::AlignedFreeUniquePtr<uint64_t[]> most = Array<uint64_t>(kWords);       // 90% selected
  hwy::AlignedFreeUniquePtr<uint32_t[]> groups = Array<uint32_t>(kRows);      // 1000 groups
  hwy::AlignedFreeUniquePtr<uint8_t[]> bools = Array<uint8_t>(kRows);
  hwy::AlignedFreeUniquePtr<uint8_t[]> out_bools = Array<uint8_t>(kRows);
  hwy::AlignedFreeUniquePtr<double[]> out_doubles = Array<double>(kRows);
  hwy::AlignedFreeUniquePtr<int64_t[]> out_ints = Array<int64_t>(kRows);
  hwy::AlignedFreeUniquePtr<uint64_t[]> out_hashes = Array<uint64_t>(kRows);
  hwy::AlignedFreeUniquePtr<uint64_t[]> out_bits = Array<uint64_t>(kWords);

  Data() {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal(100, 10);
    std::bernoulli_distribution null(0.1), half_coin(0.5), most_coin(0.9);
    for (int64_t row = 0; row < kRows; ++row) {
      doubles[row] = normal(rng);
      ints[row] = static_cast<int64_t>(rng() % 1'000'000);
      groups[row] = static_cast<uint32_t>(rng() % 1000);
      bools[row] = static_cast<uint8_t>(rng() & 1);
      const uint64_t bit = uint64_t{1} << (row % 64);
      if (!null(rng)) validity[row / 64] |= bit;
      if (half_coin(rng)) half[row / 64] |= bit;
      if (most_coin(rng)) most[row / 64] |= bit;
    }
  }
};

Data& TheData() {
  static Data data;
  return data;
}

// Runs `kernel` with `target` forced; bytes are per iteration.
void Run(benchmark::State& state, int64_t target, int64_t bytes, const std::function<void()>& kernel) {
  hwy::SetSupportedTargetsForTest(target);
  for (auto _ : state) {
    kernel();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetLabel(TargetName());
  hwy::SetSupportedTargetsForTest(0);
}

struct Kernel {
  const char* name;
  int64_t bytes;
  std::function<void()> run;
};

std::vector<Kernel> Kernels() {
  Data& d = TheData();
  const int64_t column = kRows * 8;
  const int64_t bitmap = kWords * 8;
  static const int64_t kSet[] = {3, 17, 99, 1000, 5000, 77777, 123456, 999999};
  static const double kBounds[] = {70, 80, 90, 95, 100, 105, 110, 120, 130};
  return {
      {"CountValid", bitmap, [&d] { benchmark::DoNotOptimize(CountValid(d.validity.get(), kRows)); }},
      {"BitmapAnd", 2 * bitmap, [&d] { BitmapAnd(d.validity.get(), d.half.get(), d.out_bits.get(), kRows); }},
      {"SelectRange_f64", column,
       [&d] { benchmark::DoNotOptimize(SelectRange(d.doubles.get(), nullptr, kRows, 90.0, 110.0, d.out_bits.get())); }},
      {"SelectRange_f64_nulls", column + bitmap,
       [&d] {
         benchmark::DoNotOptimize(
             SelectRange(d.doubles.get(), d.validity.get(), kRows, 90.0, 110.0, d.out_bits.get()));
       }},
      {"SelectRange_i64", column,
       [&d] { benchmark::DoNotOptimize(SelectRange(d.ints.get(), nullptr, kRows, 1000, 500000, d.out_bits.get())); }},
      {"SelectIn_i64_8", column,
       [&d] { benchmark::DoNotOptimize(SelectIn(d.ints.get(), nullptr, kRows, kSet, 8, d.out_bits.get())); }},
      {"MinMax_f64", column, [&d] { benchmark::DoNotOptimize(MinMax(d.doubles.get(), nullptr, kRows)); }},
      {"MinMax_f64_nulls", column + bitmap,
       [&d] { benchmark::DoNotOptimize(MinMax(d.doubles.get(), d.validity.get(), kRows)); }},
      {"MinMax_i64", column, [&d] { benchmark::DoNotOptimize(MinMax(d.ints.get(), nullptr, kRows)); }},
      {"Sum_f64", column, [&d] { benchmark::DoNotOptimize(Sum(d.doubles.get(), nullptr, kRows)); }},
      {"Sum_f64_nulls", column + bitmap,
       [&d] { benchmark::DoNotOptimize(Sum(d.doubles.get(), d.validity.get(), kRows)); }},
      {"Sum_i64_exact", column, [&d] { benchmark::DoNotOptimize(Sum(d.ints.get(), nullptr, kRows)); }},
      {"Moments_f64_2pass", column,
       [&d] { benchmark::DoNotOptimize(ComputeMoments(d.doubles.get(), d.validity.get(), kRows)); }},
      {"Moments_i64_2pass", column,
       [&d] { benchmark::DoNotOptimize(ComputeMoments(d.ints.get(), d.validity.get(), kRows)); }},
      {"Compact_f64_50pct", column + bitmap,
       [&d] { benchmark::DoNotOptimize(Compact(d.doubles.get(), d.half.get(), kRows, d.out_doubles.get())); }},
      {"Compact_f64_90pct", column + bitmap,
       [&d] { benchmark::DoNotOptimize(Compact(d.doubles.get(), d.most.get(), kRows, d.out_doubles.get())); }},
      {"Compact_u8_50pct", kRows + bitmap,
       [&d] { benchmark::DoNotOptimize(Compact(d.bools.get(), d.half.get(), kRows, d.out_bools.get())); }},
      {"CompactBitmap_50pct", 2 * bitmap,
       [&d] { benchmark::DoNotOptimize(CompactBitmap(d.validity.get(), d.half.get(), kRows, d.out_bits.get())); }},
      {"Hash_i64", column, [&d] { Hash(d.ints.get(), d.validity.get(), kRows, d.out_hashes.get()); }},
      {"Hash_f64", column, [&d] { Hash(d.doubles.get(), d.validity.get(), kRows, d.out_hashes.get()); }},
      {"CombineHashes", column,
       [&d] { CombineHashes(d.out_hashes.get(), reinterpret_cast<const uint64_t*>(d.ints.get()), kRows); }},
      {"Standardize", column,
       [&d] { Standardize(d.doubles.get(), d.validity.get(), kRows, 100, 10, d.out_doubles.get()); }},
      {"Log1p", column, [&d] { Log1p(d.doubles.get(), d.validity.get(), kRows, d.out_doubles.get()); }},
      {"Clip", column, [&d] { Clip(d.doubles.get(), d.validity.get(), kRows, 90, 110, d.out_doubles.get()); }},
      {"Bucketize_9", column,
       [&d] { Bucketize(d.doubles.get(), d.validity.get(), kRows, kBounds, 9, d.out_ints.get()); }},
      {"SortDoubles_incl_copy", column,
       [&d] {
         std::memcpy(d.out_doubles.get(), d.doubles.get(), kRows * sizeof(double));
         SortDoubles(d.out_doubles.get(), kRows);
       }},
      {"CastInt64ToDouble", column,
       [&d] { CastInt64ToDouble(d.ints.get(), d.validity.get(), kRows, d.out_doubles.get()); }},
  };
}

// Scalar or sort-based kernels: dispatch matters little, run once.
void RegisterScalarBenchmarks() {
  Data& d = TheData();
  benchmark::RegisterBenchmark("GroupAggregate_f64_1000groups", [&d](benchmark::State& state) {
    std::vector<int64_t> counts(1000);
    std::vector<double> sums(1000), mins(1000), maxs(1000);
    for (auto _ : state) {
      GroupAggregate(d.groups.get(), d.doubles.get(), d.validity.get(), kRows, counts.data(), sums.data(),
                     mins.data(), maxs.data());
    }
    state.SetBytesProcessed(state.iterations() * kRows * 12);
    state.SetItemsProcessed(state.iterations() * kRows);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("Median_f64", [&d](benchmark::State& state) {
    double median;
    for (auto _ : state) Median(d.doubles.get(), d.validity.get(), kRows, d.out_doubles.get(), &median);
    state.SetBytesProcessed(state.iterations() * kRows * 8);
    state.SetItemsProcessed(state.iterations() * kRows);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
  // The alternative Median rejected: the same copy, then std::nth_element.
  benchmark::RegisterBenchmark("Peer_nth_element_f64", [&d](benchmark::State& state) {
    for (auto _ : state) {
      const int64_t count = Compact(d.doubles.get(), d.validity.get(), kRows, d.out_doubles.get());
      std::nth_element(d.out_doubles.get(), d.out_doubles.get() + count / 2, d.out_doubles.get() + count);
      benchmark::DoNotOptimize(d.out_doubles[count / 2]);
    }
    state.SetBytesProcessed(state.iterations() * kRows * 8);
    state.SetItemsProcessed(state.iterations() * kRows);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("targets:");
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) std::printf(" %s", hwy::TargetName(target));
  std::printf(" (dispatch picks %s)\n", TargetName());
  for (const Kernel& kernel : Kernels()) {
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
      const std::string name = std::string(kernel.name) + "/" + hwy::TargetName(target);
      benchmark::RegisterBenchmark(name.c_str(), [kernel, target](benchmark::State& state) {
        Run(state, target, kernel.bytes, kernel.run);
      })->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  RegisterScalarBenchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
