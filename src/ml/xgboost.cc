#include "ml/xgboost.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "columnar/parallel.h"

namespace pipeline::ml {

namespace {

// XGBoost's last error without its time stamp, source place and stack
// trace: "[10:45:54] ./src/c_api/c_api.cc:1073: Check failed: ..." -> "Check failed: ...".
std::string LastError() {
  std::string e = XGBGetLastError();
  if (size_t end = e.find("\nStack trace"); end != std::string::npos) e.resize(end);
  if (!e.empty() && e[0] == '[') {
    size_t place = e.find(": ", e.find(']'));
    if (place != std::string::npos) e = e.substr(place + 2);
  }
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ' || e.back() == ':')) e.pop_back();
  return e;
}

void Check(int rc, const std::string& what) {
  if (rc != 0) throw ModelError("xgboost: " + what + ": " + LastError());
}

// The rows as a dense row-major float32 matrix: one thread per block of
// columns, each writing its columns into every row (no per-row conversion
// call, no copy of the table).
std::vector<float> DenseMatrix(const std::vector<const double*>& columns, int64_t rows, int threads) {
  const size_t p = columns.size();
  std::vector<float> out(size_t(rows) * p);
  constexpr int64_t kBlock = 1 << 14;
  const size_t blocks = size_t((rows + kBlock - 1) / kBlock);
  columnar::ParallelFor(blocks, threads, [&](size_t block) {
    const int64_t begin = int64_t(block) * kBlock;
    const int64_t end = std::min(rows, begin + kBlock);
    for (size_t j = 0; j < p; ++j) {
      const double* col = columns[j];
      float* dst = out.data() + j;
      for (int64_t i = begin; i < end; ++i) dst[size_t(i) * p] = static_cast<float>(col[i]);
    }
  });
  return out;
}

class DMatrix {
 public:
  DMatrix(const std::vector<const double*>& columns, int64_t rows, const double* labels, int threads) {
    std::vector<float> dense = DenseMatrix(columns, rows, threads);
    Check(XGDMatrixCreateFromMat_omp(dense.data(), bst_ulong(rows), bst_ulong(columns.size()),
                                     std::numeric_limits<float>::quiet_NaN(), &handle_, threads),
          "cannot build the data matrix");
    if (labels) {
      std::vector<float> y(labels, labels + rows);
      Check(XGDMatrixSetFloatInfo(handle_, "label", y.data(), bst_ulong(rows)), "cannot set the labels");
    }
  }
  ~DMatrix() {
    if (handle_) XGDMatrixFree(handle_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

int Threads(int requested) { return requested > 0 ? requested : columnar::DefaultThreads(); }

// XGBoost's log lines on this thread since the last TakeLog(). XGBoost only
// warns about a parameter it does not know ("Parameters: { "x" } are not
// used."); the log is how training turns that into an error.
thread_local std::string log_lines;
void OnLog(const char* line) { log_lines += std::string(line) + "\n"; }
std::string TakeLog() { return std::exchange(log_lines, std::string()); }
// XGBoost keeps the callback per thread.
void CaptureLog() { XGBRegisterLogCallback(&OnLog); }

// "[3]\tvalid-logloss:0.4213\tvalid-auc:0.91" -> the last metric's name and value.
bool LastMetric(const std::string& line, std::string* name, double* value) {
  size_t colon = line.rfind(':');
  size_t tab = line.rfind('\t');
  if (colon == std::string::npos || tab == std::string::npos || tab > colon) return false;
  *name = line.substr(tab + 1, colon - tab - 1);
  *value = std::strtod(line.c_str() + colon + 1, nullptr);
  return true;
}

// Metrics whose larger values are better (XGBoost's own list).
bool Maximised(const std::string& metric) {
  for (const char* m : {"auc", "aucpr", "map", "ndcg", "pre"}) {
    if (metric.find(std::string("-") + m) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

XgbModel::XgbModel(XgbModel&& other) noexcept { *this = std::move(other); }
XgbModel& XgbModel::operator=(XgbModel&& other) noexcept {
  std::swap(booster_, other.booster_);
  rounds_ = other.rounds_;
  metric_ = std::move(other.metric_);
  best_score_ = other.best_score_;
  return *this;
}
XgbModel::~XgbModel() {
  if (booster_) XGBoosterFree(booster_);
}

XgbModel XgbModel::Train(const Design& train, const Design* validation, const XgbOptions& options) {
  if (options.num_round < 1) throw ModelError("num_round must be at least 1");
  if (options.early_stopping_rounds < 0) throw ModelError("early_stopping_rounds must be >= 0");
  if (options.early_stopping_rounds > 0 && (!validation || validation->rows == 0)) {
    throw ModelError("early_stopping_rounds needs validation rows (the training split is too small)");
  }
  const int threads = Threads(options.threads);
  DMatrix dtrain(train.columns, train.rows, train.target, threads);
  std::unique_ptr<DMatrix> dvalid;
  if (validation && validation->rows > 0) {
    dvalid = std::make_unique<DMatrix>(validation->columns, validation->rows, validation->target, threads);
  }
  std::vector<DMatrixHandle> cache = {dtrain.get()};
  if (dvalid) cache.push_back(dvalid->get());
  XgbModel model;
  CaptureLog();
  TakeLog();
  Check(XGBoosterCreate(cache.data(), bst_ulong(cache.size()), &model.booster_), "cannot create a booster");
  std::map<std::string, std::string> params = options.params;
  params.emplace("tree_method", "hist");  // 1.7 defaults to exact
  params.emplace("nthread", std::to_string(threads));
  params.emplace("verbosity", "1");
  params.emplace("validate_parameters", "1");  // as Python's Booster: warn of unknown ones
  for (const auto& [key, value] : params) {
    if (XGBoosterSetParam(model.booster_, key.c_str(), value.c_str()) != 0) {
      throw ModelError("xgboost parameter '" + key + "' = '" + value + "': " + LastError());
    }
  }
  int best = -1;
  double best_score = 0;
  for (int iter = 0; iter < options.num_round; ++iter) {
    if (XGBoosterUpdateOneIter(model.booster_, iter, dtrain.get()) != 0) {
      // XGBoost checks its parameters on the first update: an unknown or bad
      // one shows here.
      throw ModelError("xgboost: " + LastError());
    }
    if (iter == 0) {
      std::string log = TakeLog();
      size_t at = log.find("Parameters: {");
      if (at != std::string::npos) {
        size_t end = log.find('}', at);
        throw ModelError("xgboost does not know the parameter(s) " + log.substr(at + 12, end - at - 11) +
                         " (see https://xgboost.readthedocs.io/en/release_1.7.0/parameter.html)");
      }
    }
    if (!dvalid || options.early_stopping_rounds == 0) continue;
    DMatrixHandle evals[] = {dvalid->get()};
    const char* names[] = {"valid"};
    const char* result = nullptr;
    Check(XGBoosterEvalOneIter(model.booster_, iter, evals, names, 1, &result), "cannot evaluate");
    std::string metric;
    double score = 0;
    if (!LastMetric(result ? result : "", &metric, &score)) continue;
    const bool better = best < 0 || (Maximised(metric) ? score > best_score : score < best_score);
    if (better) {
      best = iter;
      best_score = score;
      model.metric_ = metric;
    } else if (iter - best >= options.early_stopping_rounds) {
      break;
    }
  }
  int rounds = 0;
  Check(XGBoosterBoostedRounds(model.booster_, &rounds), "cannot count rounds");
  if (best >= 0 && best + 1 < rounds) {
    BoosterHandle sliced = nullptr;
    Check(XGBoosterSlice(model.booster_, 0, best + 1, 1, &sliced), "cannot keep the best rounds");
    XGBoosterFree(model.booster_);
    model.booster_ = sliced;
    rounds = best + 1;
  }
  model.rounds_ = rounds;
  model.best_score_ = best_score;
  return model;
}

XgbModel XgbModel::Load(const std::string& path) {
  XgbModel model;
  Check(XGBoosterCreate(nullptr, 0, &model.booster_), "cannot create a booster");
  if (XGBoosterLoadModel(model.booster_, path.c_str()) != 0) {
    throw ModelError("model file " + path + " is not an XGBoost model: " + LastError());
  }
  Check(XGBoosterBoostedRounds(model.booster_, &model.rounds_), "cannot count rounds");
  return model;
}

void XgbModel::Save(const std::string& path) const {
  Check(XGBoosterSaveModel(booster_, path.c_str()), "cannot save the model to " + path);
}

void XgbModel::Predict(const std::vector<const double*>& columns, int64_t rows, double* out) const {
  if (rows == 0) return;
  DMatrix data(columns, rows, nullptr, columnar::DefaultThreads());
  const char* config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  Check(XGBoosterPredictFromDMatrix(booster_, data.get(), config, &shape, &dim, &result), "cannot predict");
  bst_ulong count = 1;
  for (bst_ulong d = 0; d < dim; ++d) count *= shape[d];
  if (count != bst_ulong(rows)) {
    throw ModelError("xgboost returned " + std::to_string(count) + " predictions for " + std::to_string(rows) +
                     " rows (a multi-output objective is not supported)");
  }
  for (int64_t i = 0; i < rows; ++i) out[i] = result[i];
}

std::map<std::string, double> XgbModel::Importance(const std::vector<std::string>& names) const {
  bst_ulong n = 0, dim = 0;
  const char** features = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  Check(XGBoosterFeatureScore(booster_, R"({"importance_type": "total_gain"})", &n, &features, &dim, &shape, &scores),
        "cannot compute feature importance");
  std::map<std::string, double> out;
  for (bst_ulong i = 0; i < n; ++i) {
    std::string f = features[i];
    // Unnamed features are "f0", "f1", ... in column order.
    if (f.size() > 1 && f[0] == 'f') {
      size_t idx = std::strtoul(f.c_str() + 1, nullptr, 10);
      if (idx < names.size()) f = names[idx];
    }
    out[f] = scores[i];
  }
  return out;
}

}  // namespace pipeline::ml
