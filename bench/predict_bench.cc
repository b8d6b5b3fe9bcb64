// Scoring an XGBoost model (100 trees of depth 6, 30 features: the serving
// benchmark's model) with the compiled trees (ml/tree_ensemble.h) and with
// libxgboost itself, on one thread: 1 row, 100 rows (a request) and 100,000
// rows (a batch); one feature is missing in 5% of the rows.
//   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_BENCHMARKS=ON
//   cmake --build build/release --target predict_bench && build/release/bench/predict_bench
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "ml/tree_ensemble.h"
#include "ml/xgboost.h"

namespace {

using pipeline::ml::Design;
using pipeline::ml::XgbModel;
using pipeline::ml::XgbOptions;

constexpr int kFeatures = 30;

struct Fixture {
  std::vector<std::vector<double>> x = std::vector<std::vector<double>>(kFeatures);
  std::vector<double> y;
  std::unique_ptr<XgbModel> model;
  Fixture() {
    std::mt19937_64 rng(1);
    std::normal_distribution<double> normal;
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
      double signal = 0;
      for (int j = 0; j < kFeatures; ++j) {
        const double v = normal(rng);
        x[size_t(j)].push_back(j == 3 && i % 20 == 0 ? std::nan("") : v);
        if (j < 8) signal += v / (j + 1);
      }
      y.push_back(signal + normal(rng) > 0 ? 1 : 0);
    }
    Design d;
    d.rows = n;
    for (const auto& c : x) d.columns.push_back(c.data());
    d.target = y.data();
    XgbOptions options;
    options.params = {{"objective", "binary:logistic"}, {"max_depth", "6"}};
    options.num_round = 100;
    options.threads = 1;  // XGBoost predicts on the threads it trained with
    model = std::make_unique<XgbModel>(XgbModel::Train(d, nullptr, options));
  }
  std::vector<const double*> Columns() const {
    std::vector<const double*> c;
    for (const auto& col : x) c.push_back(col.data());
    return c;
  }
};

// Never destroyed: libxgboost's own statics go first at exit.
const Fixture& Data() {
  static const Fixture* f = new Fixture();
  return *f;
}

void BM_Compiled(benchmark::State& state) {
  const auto columns = Data().Columns();
  std::vector<double> out(size_t(state.range(0)));
  for (auto _ : state) Data().model->compiled()->Predict(columns, state.range(0), out.data(), 1);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Compiled)->Arg(1)->Arg(100)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_Xgboost(benchmark::State& state) {
  const auto columns = Data().Columns();
  std::vector<double> out(size_t(state.range(0)));
  for (auto _ : state) Data().model->PredictWithXgboost(columns, state.range(0), out.data(), true);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Xgboost)->Arg(1)->Arg(100)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
