// The drift statistics of `monitor` (ml/drift.h) over in-memory columns:
// ROWS x COLUMNS float64 current values against a reference of ROWS rows,
// the columns spread over the cores as the operator spreads them (sample:
// sort + quantiles; then PSI bins and KS), half of them drifted. Prints one
// line: seconds and the columns that drifted.
//
// Usage: monitor_bench [ROWS] [COLUMNS]   (default 10,000,000 x 20)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "columnar/parallel.h"
#include "ml/drift.h"

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
  auto start = std::chrono::steady_clock::now();
  std::vector<pipeline::ml::DriftFigures> figures(static_cast<size_t>(columns));
  pipeline::columnar::ParallelFor(size_t(columns), pipeline::columnar::DefaultThreads(), [&](size_t c) {
    figures[c] = pipeline::ml::CompareNumeric(pipeline::ml::SampleNumeric(reference[c].data(), nullptr, rows),
                                              pipeline::ml::SampleNumeric(current[c].data(), nullptr, rows));
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int drifted = 0;
  for (const auto& f : figures) drifted += f.psi > 0.02 || f.ks > 0.05;
  std::printf("monitor statistics, %lld rows x %d columns against %lld reference rows: %.2f s on %d threads "
              "(%d columns drifted; target <= 1.5 s)\n",
              static_cast<long long>(rows), columns, static_cast<long long>(rows), seconds,
              pipeline::columnar::DefaultThreads(), drifted);
}
