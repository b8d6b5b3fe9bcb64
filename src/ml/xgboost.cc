#include "ml/xgboost.h"

#include <dlfcn.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "columnar/parallel.h"
#include "ml/tree_ensemble.h"

namespace pipeline::ml {

namespace {

// The C API functions this file calls, resolved from libxgboost when the
// first model is trained or loaded (dlopen), not at program start: the
// library's relocations cost every pipectl command ~2.4 ms, and most
// commands never touch a model.
#define PIPE_XGB_FUNCTIONS(X) \
  X(XGBGetLastError) \
  X(XGBRegisterLogCallback) \
  X(XGBoosterBoostedRounds) \
  X(XGBoosterCreate) \
  X(XGBoosterEvalOneIter) \
  X(XGBoosterFeatureScore) \
  X(XGBoosterFree) \
  X(XGBoosterLoadModel) \
  X(XGBoosterPredictFromDMatrix) \
  X(XGBoosterPredictFromDense) \
  X(XGBoosterSaveModel) \
  X(XGBoosterSaveModelToBuffer) \
  X(XGBoosterSetParam) \
  X(XGBoosterSlice) \
  X(XGBoosterUpdateOneIter) \
  X(XGDMatrixCreateFromDense) \
  X(XGDMatrixFree) \
  X(XGDMatrixSetFloatInfo) \
  X(XGProxyDMatrixCreate) \
  X(XGProxyDMatrixSetDataDense) \
  X(XGQuantileDMatrixCreateFromCallback)

struct XgbLib {
#define PIPE_XGB_MEMBER(name) decltype(&::name) name = nullptr;
  PIPE_XGB_FUNCTIONS(PIPE_XGB_MEMBER)
#undef PIPE_XGB_MEMBER
};

XgbLib OpenXgb() {
  void* handle = dlopen("libxgboost.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!handle) handle = dlopen("libxgboost.so", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    throw ModelError(std::string("XGBoost models need libxgboost (Debian package libxgboost0): ") + dlerror());
  }
  XgbLib lib;
#define PIPE_XGB_RESOLVE(name)                                                 \
  lib.name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));        \
  if (!lib.name) throw ModelError("libxgboost has no " #name " (XGBoost 1.6 or later is needed)");
  PIPE_XGB_FUNCTIONS(PIPE_XGB_RESOLVE)
#undef PIPE_XGB_RESOLVE
  return lib;
}

// Opened once (a failed open is tried again on the next call).
const XgbLib& Lib() {
  static const XgbLib lib = OpenXgb();
  return lib;
}

// XGBoost's last error without its time stamp, source place and stack
// trace: "[10:45:54] ./src/c_api/c_api.cc:1073: Check failed: ..." -> "Check failed: ...".
std::string LastError() {
  std::string e = Lib().XGBGetLastError();
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

// The rows as XGBoost's array interface (a JSON description of a strided
// array). Columns laid out at equal distances in one buffer (what `train`
// builds) are described as they are: a column-major float64 matrix, no
// copy. Other columns are first copied into a row-major float32 matrix, one
// thread per block of rows.
class ArrayView {
 public:
  ArrayView(const std::vector<const double*>& columns, int64_t rows, int threads) {
    const size_t p = columns.size();
    const ptrdiff_t stride = p > 1 ? columns[1] - columns[0] : rows;
    bool even = stride >= rows;
    for (size_t j = 1; j < p && even; ++j) even = columns[j] == columns[0] + ptrdiff_t(j) * stride;
    if (p == 0) throw ModelError("xgboost needs at least one feature");
    if (even) {
      // One row of adjacent values is a C-ordered matrix: XGBoost needs no
      // strides (each key it parses costs about a microsecond).
      const bool c_order = rows == 1 && (p == 1 || stride == 1);
      json_ = Interface(reinterpret_cast<uintptr_t>(columns[0]), rows, p, c_order ? "" : "8, " + std::to_string(8 * stride), "<f8");
      return;
    }
    dense_.resize(size_t(rows) * p);
    constexpr int64_t kBlock = 1 << 14;
    const size_t blocks = size_t((rows + kBlock - 1) / kBlock);
    columnar::ParallelFor(blocks, threads, [&](size_t block) {
      const int64_t begin = int64_t(block) * kBlock;
      const int64_t end = std::min(rows, begin + kBlock);
      for (size_t j = 0; j < p; ++j) {
        const double* col = columns[j];
        float* dst = dense_.data() + j;
        for (int64_t i = begin; i < end; ++i) dst[size_t(i) * p] = static_cast<float>(col[i]);
      }
    });
    json_ = Interface(reinterpret_cast<uintptr_t>(dense_.data()), rows, p, std::to_string(4 * p) + ", 4", "<f4");
  }
  const std::string& json() const { return json_; }

 private:
  static std::string Interface(uintptr_t data, int64_t rows, size_t cols, const std::string& strides,
                               const char* type) {
    return "{\"data\": [" + std::to_string(data) + ", true], \"shape\": [" + std::to_string(rows) + ", " +
           std::to_string(cols) + "], " + (strides.empty() ? "" : "\"strides\": [" + strides + "], ") +
           "\"typestr\": \"" + type + "\", \"version\": 3}";
  }
  std::string json_;
  std::vector<float> dense_;
};

std::string Config(int threads, const std::string& max_bin = "") {
  return "{\"missing\": NaN, \"nthread\": " + std::to_string(threads) + (max_bin.empty() ? "" : ", \"max_bin\": " + max_bin) + "}";
}

class DMatrix {
 public:
  // For prediction: the raw values.
  DMatrix(const std::vector<const double*>& columns, int64_t rows, int threads) {
    ArrayView view(columns, rows, threads);
    Check(Lib().XGDMatrixCreateFromDense(view.json().c_str(), Config(threads).c_str(), &handle_), "cannot build the data matrix");
  }
  // For training with hist: a QuantileDMatrix, which keeps only each
  // value's histogram bin (1 byte), not a copy of the values (8); `ref`: the
  // training matrix whose bins a validation matrix shares. Other tree
  // methods get a plain one, with the labels.
  DMatrix(const Design& design, int threads, const std::string& max_bin, const DMatrix* ref, bool quantile) {
    ArrayView view(design.columns, design.rows, threads);
    std::vector<float> labels(design.target, design.target + design.rows);
    if (!quantile) {
      Check(Lib().XGDMatrixCreateFromDense(view.json().c_str(), Config(threads).c_str(), &handle_), "cannot build the data matrix");
      if (Lib().XGDMatrixSetFloatInfo(handle_, "label", labels.data(), bst_ulong(labels.size())) != 0) {
        std::string why = LastError();
        Lib().XGDMatrixFree(handle_);  // the destructor of a throwing constructor does not run
        handle_ = nullptr;
        throw ModelError("xgboost: cannot set the labels: " + why);
      }
      return;
    }
    struct Source {
      DMatrixHandle proxy = nullptr;
      const std::string* data = nullptr;
      const std::vector<float>* labels = nullptr;
      bool given = false;
    } source{nullptr, &view.json(), &labels, false};
    Check(Lib().XGProxyDMatrixCreate(&source.proxy), "cannot create a proxy matrix");
    auto reset = [](DataIterHandle h) { static_cast<Source*>(h)->given = false; };
    auto next = [](DataIterHandle h) -> int {
      auto* s = static_cast<Source*>(h);
      if (s->given) return 0;
      s->given = true;
      if (Lib().XGProxyDMatrixSetDataDense(s->proxy, s->data->c_str()) != 0) return -1;
      return Lib().XGDMatrixSetFloatInfo(s->proxy, "label", s->labels->data(), bst_ulong(s->labels->size())) == 0 ? 1 : -1;
    };
    int rc = Lib().XGQuantileDMatrixCreateFromCallback(&source, source.proxy, ref ? ref->handle_ : nullptr, reset, next,
                                                 Config(threads, max_bin).c_str(), &handle_);
    Lib().XGDMatrixFree(source.proxy);
    Check(rc, "cannot build the training matrix");
  }
  ~DMatrix() {
    if (handle_) Lib().XGDMatrixFree(handle_);
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
void CaptureLog() { Lib().XGBRegisterLogCallback(&OnLog); }

// "[3]\tvalid-logloss:0.4213\tvalid-auc:0.91" -> the last metric's name and value.
bool LastMetric(const std::string& line, std::string* name, double* value) {
  size_t colon = line.rfind(':');
  size_t tab = line.rfind('\t');
  if (colon == std::string::npos || tab == std::string::npos || tab > colon) return false;
  *name = line.substr(tab + 1, colon - tab - 1);
  *value = std::strtod(line.c_str() + colon + 1, nullptr);
  return true;
}

// Metrics whose larger values are better (XGBoost's own list), by the name
// after "valid-" without an "@k" suffix: "valid-map@5" is, "valid-mape" is not.
bool Maximised(const std::string& metric) {
  std::string name = metric.substr(metric.find('-') + 1);
  name = name.substr(0, name.find('@'));
  for (const char* m : {"auc", "aucpr", "map", "ndcg", "pre"}) {
    if (name == m) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> UnknownXgbParameters(const std::map<std::string, std::string>& params) {
  std::vector<std::string> unknown;
  if (params.empty()) return unknown;
  const double a[2] = {0.0, 1.0}, labels[2] = {0.0, 1.0};
  Design two;
  two.rows = 2;
  two.columns = {a};
  two.target = labels;
  DMatrix data(two, 1, "", nullptr, false);
  BoosterHandle booster = nullptr;
  DMatrixHandle handles[] = {data.get()};
  if (Lib().XGBoosterCreate(handles, 1, &booster) != 0) return unknown;
  CaptureLog();
  TakeLog();
  // As training configures it, but cheap whatever the user asked for.
  Lib().XGBoosterSetParam(booster, "tree_method", "hist");
  for (const auto& [key, value] : params) Lib().XGBoosterSetParam(booster, key.c_str(), value.c_str());
  Lib().XGBoosterSetParam(booster, "validate_parameters", "1");
  Lib().XGBoosterSetParam(booster, "verbosity", "1");
  Lib().XGBoosterSetParam(booster, "nthread", "1");
  if (params.count("num_parallel_tree")) Lib().XGBoosterSetParam(booster, "num_parallel_tree", "1");
  if (params.count("max_depth")) Lib().XGBoosterSetParam(booster, "max_depth", "1");
  Lib().XGBoosterUpdateOneIter(booster, 0, data.get());  // a refused value fails here: not our concern
  Lib().XGBoosterFree(booster);
  std::string log = TakeLog();
  size_t at = log.find("Parameters: {");
  if (at == std::string::npos) return unknown;
  size_t end = log.find('}', at);
  std::string list = log.substr(at + 13, end == std::string::npos ? std::string::npos : end - at - 13);
  for (size_t q = list.find('"'); q != std::string::npos; q = list.find('"', q + 1)) {
    size_t close = list.find('"', q + 1);
    if (close == std::string::npos) break;
    unknown.push_back(list.substr(q + 1, close - q - 1));
    q = close;
  }
  return unknown;
}

XgbModel::XgbModel(XgbModel&& other) noexcept { *this = std::move(other); }
XgbModel& XgbModel::operator=(XgbModel&& other) noexcept {
  std::swap(booster_, other.booster_);
  rounds_ = other.rounds_;
  metric_ = std::move(other.metric_);
  best_score_ = other.best_score_;
  std::swap(compiled_, other.compiled_);
  compile_note_ = std::move(other.compile_note_);
  threads_ = other.threads_;
  return *this;
}
XgbModel::~XgbModel() {
  if (booster_) Lib().XGBoosterFree(booster_);
}

XgbModel XgbModel::Train(const Design& train, const Design* validation, const XgbOptions& options) {
  if (options.num_round < 1) throw ModelError("num_round must be at least 1");
  if (options.early_stopping_rounds < 0) throw ModelError("early_stopping_rounds must be >= 0");
  if (options.early_stopping_rounds > 0 && (!validation || validation->rows == 0)) {
    throw ModelError("early_stopping_rounds needs validation rows (the training split is too small)");
  }
  const int threads = Threads(options.threads);
  auto bins = options.params.find("max_bin");
  const std::string max_bin = bins == options.params.end() ? "" : bins->second;
  auto method = options.params.find("tree_method");
  const bool quantile = method == options.params.end() || method->second == "hist" || method->second == "auto";
  DMatrix dtrain(train, threads, max_bin, nullptr, quantile);
  std::unique_ptr<DMatrix> dvalid;
  if (validation && validation->rows > 0) {
    dvalid = std::make_unique<DMatrix>(*validation, threads, max_bin, quantile ? &dtrain : nullptr, quantile);
  }
  std::vector<DMatrixHandle> cache = {dtrain.get()};
  if (dvalid) cache.push_back(dvalid->get());
  XgbModel model;
  CaptureLog();
  TakeLog();
  Check(Lib().XGBoosterCreate(cache.data(), bst_ulong(cache.size()), &model.booster_), "cannot create a booster");
  std::map<std::string, std::string> params = options.params;
  params.emplace("tree_method", "hist");  // 1.7 defaults to exact
  params.emplace("nthread", std::to_string(threads));
  params.emplace("verbosity", "1");
  params.emplace("validate_parameters", "1");  // as Python's Booster: warn of unknown ones
  for (const auto& [key, value] : params) {
    if (Lib().XGBoosterSetParam(model.booster_, key.c_str(), value.c_str()) != 0) {
      throw ModelError("xgboost parameter '" + key + "' = '" + value + "': " + LastError());
    }
  }
  int best = -1;
  double best_score = 0;
  for (int iter = 0; iter < options.num_round; ++iter) {
    if (options.stop && options.stop()) throw Stopped();
    if (Lib().XGBoosterUpdateOneIter(model.booster_, iter, dtrain.get()) != 0) {
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
    Check(Lib().XGBoosterEvalOneIter(model.booster_, iter, evals, names, 1, &result), "cannot evaluate");
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
  Check(Lib().XGBoosterBoostedRounds(model.booster_, &rounds), "cannot count rounds");
  if (best >= 0 && best + 1 < rounds) {
    BoosterHandle sliced = nullptr;
    Check(Lib().XGBoosterSlice(model.booster_, 0, best + 1, 1, &sliced), "cannot keep the best rounds");
    Lib().XGBoosterFree(model.booster_);
    model.booster_ = sliced;
    rounds = best + 1;
  }
  model.rounds_ = rounds;
  model.best_score_ = best_score;
  model.threads_ = options.threads;
  model.Compile();
  return model;
}

namespace {

// XGBoost's prediction config: every tree, values as given, NaN missing.
constexpr const char* kPredictConfig =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN})";
// The same for in-place prediction, which has no "training" (a key less to parse per request).
constexpr const char* kInplaceConfig =
    R"({"type": 0, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN})";

// XGBoost's answer (one value per row) into `out`.
void CopyPredictions(const bst_ulong* shape, bst_ulong dim, const float* result, int64_t rows, double* out) {
  bst_ulong count = 1;
  for (bst_ulong d = 0; d < dim; ++d) count *= shape[d];
  if (count != bst_ulong(rows)) {
    throw ModelError("xgboost returned " + std::to_string(count) + " predictions for " + std::to_string(rows) +
                     " rows (a multi-output objective is not supported)");
  }
  for (int64_t i = 0; i < rows; ++i) out[i] = result[i];
}

}  // namespace

XgbModel XgbModel::Load(const std::string& path, int threads) {
  XgbModel model;
  Check(Lib().XGBoosterCreate(nullptr, 0, &model.booster_), "cannot create a booster");
  if (Lib().XGBoosterLoadModel(model.booster_, path.c_str()) != 0) {
    throw ModelError("model file " + path + " is not an XGBoost model: " + LastError());
  }
  Check(Lib().XGBoosterBoostedRounds(model.booster_, &model.rounds_), "cannot count rounds");
  if (threads > 0) Check(Lib().XGBoosterSetParam(model.booster_, "nthread", std::to_string(threads).c_str()), "cannot set nthread");
  model.threads_ = threads;
  model.Compile();
  return model;
}

void XgbModel::Compile() {
  // A model this cannot compile stays with XGBoost (the note says why).
  try {
    // XGBoost's binary JSON keeps each float's bits (its text rounds them).
    bst_ulong length = 0;
    const char* bytes = nullptr;
    Check(Lib().XGBoosterSaveModelToBuffer(booster_, R"({"format": "ubj"})", &length, &bytes),
          "cannot read the model's trees");
    nlohmann::json document = nlohmann::json::from_ubjson(bytes, bytes + length, true, false);
    if (document.is_discarded()) {
      compile_note_ = "its model document (UBJSON) does not parse";
      return;
    }
    compiled_ = TreeEnsemble::FromXgboost(document, &compile_note_);
  } catch (const std::exception& e) {
    compiled_.reset();
    compile_note_ = e.what();
  }
}

void XgbModel::Predict(const std::vector<const double*>& columns, int64_t rows, double* out) const {
  if (compiled_) return compiled_->Predict(columns, rows, out, threads_ > 0 ? threads_ : columnar::DefaultThreads());
  PredictWithXgboost(columns, rows, out, false);
}

void XgbModel::PredictInPlace(const std::vector<const double*>& columns, int64_t rows, double* out) const {
  if (compiled_) return compiled_->Predict(columns, rows, out, 1);
  PredictWithXgboost(columns, rows, out, true);
}

void XgbModel::PredictWithXgboost(const std::vector<const double*>& columns, int64_t rows, double* out, bool in_place) const {
  if (rows == 0) return;
  if (!in_place) {
    DMatrix data(columns, rows, columnar::DefaultThreads());
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    Check(Lib().XGBoosterPredictFromDMatrix(booster_, data.get(), kPredictConfig, &shape, &dim, &result), "cannot predict");
    CopyPredictions(shape, dim, result, rows, out);
    return;
  }
  ArrayView view(columns, rows, 1);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  // A proxy matrix of this thread's own: without one XGBoost builds one per
  // call, and each reads the cgroup CPU quota files (two opens per request).
  struct Proxy {
    DMatrixHandle handle = nullptr;
    ~Proxy() {
      if (handle) Lib().XGDMatrixFree(handle);
    }
  };
  thread_local Proxy proxy;
  if (!proxy.handle) Check(Lib().XGProxyDMatrixCreate(&proxy.handle), "cannot create a proxy matrix");
  Check(Lib().XGBoosterPredictFromDense(booster_, view.json().c_str(), kInplaceConfig, proxy.handle, &shape, &dim, &result),
        "cannot predict");
  CopyPredictions(shape, dim, result, rows, out);
}

void XgbModel::Save(const std::string& path) const {
  Check(Lib().XGBoosterSaveModel(booster_, path.c_str()), "cannot save the model to " + path);
}

std::map<std::string, double> XgbModel::Importance(const std::vector<std::string>& names) const {
  bst_ulong n = 0, dim = 0;
  const char** features = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  Check(Lib().XGBoosterFeatureScore(booster_, R"({"importance_type": "total_gain"})", &n, &features, &dim, &shape, &scores),
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
