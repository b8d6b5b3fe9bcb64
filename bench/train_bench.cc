// The training benchmark's own side (bench/train.sh): reads the rows that
// train_peer.py generated, then times pipe's logistic regression and its
// XGBoost path on them, with the data already in memory. One JSON line.
//
// Usage: train_bench DIR ROWS FEATURES
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ml/linear.h"
#include "ml/metrics.h"
#include "ml/xgboost.h"

namespace {

std::vector<double> ReadDoubles(const std::string& path, size_t count) {
  std::vector<double> out(count);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f || std::fread(out.data(), sizeof(double), count, f) != count) {
    std::fprintf(stderr, "cannot read %zu doubles from %s\n", count, path.c_str());
    std::exit(2);
  }
  std::fclose(f);
  return out;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: train_bench DIR ROWS FEATURES\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t rows = std::atoll(argv[2]);
  const int features = std::atoi(argv[3]);
  std::vector<double> x = ReadDoubles(dir + "/x.f64", size_t(rows) * size_t(features));
  std::vector<double> y = ReadDoubles(dir + "/y.f64", size_t(rows));
  const double table_mb = double(x.size() + y.size()) * 8 / (1024.0 * 1024.0);
  const double loaded_mb = PeakRssMb();
  const int64_t cut = rows * 8 / 10;
  // The training rows are the first `cut` of each column: no copy.
  pipeline::ml::Design train, test;
  train.rows = cut;
  test.rows = rows - cut;
  for (int j = 0; j < features; ++j) {
    train.columns.push_back(x.data() + size_t(j) * size_t(rows));
    test.columns.push_back(x.data() + size_t(j) * size_t(rows) + size_t(cut));
    train.names.push_back("f" + std::to_string(j));
  }
  train.target = y.data();
  test.target = y.data() + cut;
  std::vector<double> p(size_t(rows - cut));

  auto t = std::chrono::steady_clock::now();
  pipeline::ml::LogisticFit fit = pipeline::ml::FitLogisticRegression(train, {.l2 = 1.0, .max_iter = 100, .tol = 1e-4});
  const double logistic_s = Seconds(t);
  pipeline::ml::PredictLogistic(fit.model, test.columns, test.rows, p.data());
  const double logistic_auc = pipeline::ml::RocAuc(test.target, p.data(), test.rows);
  const double logistic_peak = PeakRssMb();

  pipeline::ml::XgbOptions options;
  options.params = {{"objective", "binary:logistic"}, {"max_depth", "6"}, {"eta", "0.1"}};
  options.num_round = 100;
  options.threads = 2;
  t = std::chrono::steady_clock::now();
  pipeline::ml::XgbModel model = pipeline::ml::XgbModel::Train(train, nullptr, options);
  const double xgboost_s = Seconds(t);
  model.Predict(test.columns, test.rows, p.data());
  const double xgboost_auc = pipeline::ml::RocAuc(test.target, p.data(), test.rows);
  std::printf(
      "{\"logistic_fit_s\": %.3f, \"logistic_iterations\": %d, \"logistic_auc\": %.6f, \"xgboost_s\": %.3f, "
      "\"xgboost_auc\": %.6f, \"table_mb\": %.0f, \"loaded_rss_mb\": %.0f, \"logistic_peak_rss_mb\": %.0f, "
      "\"peak_rss_mb\": %.0f}\n",
      logistic_s, fit.iterations, logistic_auc, xgboost_s, xgboost_auc, table_mb, loaded_mb, logistic_peak,
      PeakRssMb());
  return 0;
}
