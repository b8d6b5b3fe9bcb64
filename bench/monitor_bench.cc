// The drift statistics of `monitor` (ml/drift.h) over in-memory columns:
// ROWS x COLUMNS float64 current values against a reference of ROWS rows,
// the columns spread over the cores as the operator spreads them, half of
// them drifted: the reference profiled once (sort, PSI cuts, KS grid), then
// the current values compared with it in one pass per column. Prints one
// line: the seconds of the comparison (the target) and of the profiles.
//
// Usage: monitor_bench [ROWS] [COLUMNS]   (default 10,000,000 x 20)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "columnar/parallel.h"
#include "ml/drift.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 10'000'000;
  const int columns = argc > 2 ? std::atoi(argv[2]) : 20;
  std::vector<std::vector<double>> reference(static_cast<size_t>(columns)), current(static_cast<size_t>(columns));
  pipeline::columnar::ParallelFor(size_t(columns), pipeline::columnar::DefaultThreads(), [&](size_t c) {
    std::mt19937_64 rng(c + 1);
    std::normal_distribution<double> ref(0, 1), cur(c % 2 ? 0.3 : 0.0, 1);
    reference[c].resize(size_t(rows));
    current[c].resize(size_t(rows));
    for (int64_t i = 0; i < rows; ++i) {
      reference[c][size_t(i)] = ref(rng);
      current[c][size_t(i)] = cur(rng);
    }
  });
  // Once per reference: sort, PSI cuts and bins, the KS grid (the profile
  // monitoring keeps, so that it never rescans the reference).
  auto start = std::chrono::steady_clock::now();
  std::vector<pipeline::ml::NumericProfile> profiles(static_cast<size_t>(columns));
  pipeline::columnar::ParallelFor(size_t(columns), pipeline::columnar::DefaultThreads(), [&](size_t c) {
    profiles[c] = pipeline::ml::ProfileNumeric(pipeline::ml::SampleNumeric(reference[c].data(), nullptr, rows));
  });
  const double profile_seconds = seconds_since(start);
  // Each monitoring run: one pass over the current values per column.
  start = std::chrono::steady_clock::now();
  std::vector<pipeline::ml::DriftFigures> figures(static_cast<size_t>(columns));
  pipeline::columnar::ParallelFor(size_t(columns), pipeline::columnar::DefaultThreads(), [&](size_t c) {
    figures[c] = pipeline::ml::CompareToProfile(profiles[c], current[c].data(), nullptr, rows);
  });
  const double seconds = seconds_since(start);
  int drifted = 0;
  double widest = 0;
  for (const auto& f : figures) {
    drifted += f.psi > 0.02 || f.ks > 0.05;
    widest = std::max(widest, f.ks_max - f.ks);
  }
  // The exact statistic of the first two columns (two sorts each) lies in [ks, ks_max].
  bool bracketed = true;
  for (size_t c = 0; c < std::min<size_t>(2, size_t(columns)); ++c) {
    double exact = pipeline::ml::CompareNumeric(pipeline::ml::SampleNumeric(reference[c].data(), nullptr, rows),
                                                pipeline::ml::SampleNumeric(current[c].data(), nullptr, rows)).ks;
    bracketed = bracketed && figures[c].ks <= exact + 1e-15 && exact <= figures[c].ks_max + 1e-15;
  }
  std::printf("monitor, %lld rows x %d columns against %lld reference rows, %d threads: %.2f s (target <= 1.5 s); "
              "the reference profiles once: %.2f s; %d columns drifted; KS within %.1e of exact%s\n",
              static_cast<long long>(rows), columns, static_cast<long long>(rows), pipeline::columnar::DefaultThreads(),
              seconds, profile_seconds, drifted, widest, bracketed ? " (checked on 2 columns)" : " (NOT BRACKETED)");
  return bracketed ? 0 : 1;
}
