// Gradient-boosted trees through XGBoost's C API (libxgboost 1.7): training
// with early stopping on a validation part, prediction, the model file and
// feature importance. The data goes to XGBoost as one dense float32 matrix,
// filled column by column in parallel; NaN is a missing value.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ml/linear.h"

namespace pipeline::ml {

class TreeEnsemble;

struct XgbOptions {
  // XGBoost's own parameters, passed as they are (objective, eta,
  // max_depth, ...); tree_method defaults to hist and nthread to the cores.
  std::map<std::string, std::string> params;
  int num_round = 100;
  int early_stopping_rounds = 0;  // 0: none (needs a validation design)
  int threads = 0;
  StopCheck stop;  // asked before each round
};

// The names in `params` that XGBoost 1.7 does not know (it would only warn
// of them when training), found by configuring a booster on two rows.
// Values it refuses are not reported here: training reports them.
std::vector<std::string> UnknownXgbParameters(const std::map<std::string, std::string>& params);

class XgbModel {
 public:
  XgbModel(XgbModel&&) noexcept;
  XgbModel& operator=(XgbModel&&) noexcept;
  ~XgbModel();

  // Trains on `train`; with early stopping, stops once the last metric of the
  // validation design has not improved for that many rounds and keeps the
  // best rounds only. Throws ModelError with XGBoost's message (an unknown
  // parameter, a bad value) naming the parameter when it can.
  static XgbModel Train(const Design& train, const Design* validation, const XgbOptions& options);
  // Reads a model file written by Save (throws ModelError when it is not
  // one). `threads` > 0 fixes the threads a prediction uses (serving: 1).
  static XgbModel Load(const std::string& path, int threads = 0);

  // Writes XGBoost's JSON model format.
  void Save(const std::string& path) const;
  // out[i]: the prediction of row i (the probability for binary:logistic),
  // on the threads the model was loaded or trained with (0: every core). Models the TreeEnsemble scores are scored by it (the
  // same values as XGBoost's, bit for bit, faster); others by XGBoost.
  void Predict(const std::vector<const double*>& columns, int64_t rows, double* out) const;
  // The same on the calling thread only: for requests, safe to call from
  // many threads at once (XGBoost's in-place prediction, no DMatrix, for
  // the models the TreeEnsemble does not score).
  void PredictInPlace(const std::vector<const double*>& columns, int64_t rows, double* out) const;
  // XGBoost's own prediction, whatever the model (the reference the
  // differential tests hold the TreeEnsemble to): through a DMatrix on
  // every core, or in place on this thread.
  void PredictWithXgboost(const std::vector<const double*>& columns, int64_t rows, double* out, bool in_place) const;
  // The compiled trees, or nullptr (then compile_note() says why).
  const TreeEnsemble* compiled() const { return compiled_.get(); }
  const std::string& compile_note() const { return compile_note_; }
  // Total gain of each feature over the trees, by name (features no tree
  // splits on are absent), as XGBoost's get_score(importance_type="total_gain").
  std::map<std::string, double> Importance(const std::vector<std::string>& names) const;

  int rounds() const { return rounds_; }                  // rounds kept
  int best_iteration() const { return rounds_ - 1; }
  const std::string& eval_metric() const { return metric_; }  // what early stopping watched
  double best_score() const { return best_score_; }

 private:
  XgbModel() = default;
  void Compile();  // fills compiled_ or compile_note_
  void* booster_ = nullptr;
  std::unique_ptr<const TreeEnsemble> compiled_;
  std::string compile_note_;
  int threads_ = 0;  // Predict's threads (0: every core)
  int rounds_ = 0;
  std::string metric_;
  double best_score_ = 0;
};

}  // namespace pipeline::ml
