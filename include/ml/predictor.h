// A registered model version made ready to score raw rows: its transform
// chain, its features in order and the fitted model (linear, logistic or
// XGBoost). Batch `predict`, the daemon's predict endpoints and `pipectl
// predict` all score through this class, so they cannot disagree.
// Thread-safe once loaded: every method is const and XGBoost's in-place
// prediction may run on many threads at once.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "columnar/table.h"
#include "ml/chain.h"
#include "ml/linear.h"

namespace pipeline::ml {

class XgbModel;

// What the registry records of a version that scoring needs.
struct ModelFiles {
  std::string format;           // "pipe-linear-v1" or "xgboost-json"
  std::string uri;              // the model file
  std::string kind;             // "classification" or "regression"
  std::string features_json;    // [{"name", "type"}]
  std::string transforms_json;  // the fitted chain
  // "xxh3:HEX" the registry recorded of the file: a file that differs (edited,
  // truncated, replaced) is refused. Empty: not checked.
  std::string content_hash;
};

class Predictor {
 public:
  // Reads the model file. `threads`: what one prediction may use (0: every
  // core, for batch scoring; 1: for request threads). Throws ModelError.
  static std::shared_ptr<const Predictor> Load(const ModelFiles& files, int threads);
  ~Predictor();

  bool classifier() const { return classifier_; }
  // The raw columns a row must carry, typed (see TransformChain::Inputs).
  const std::vector<columnar::Field>& inputs() const { return inputs_; }
  const std::vector<columnar::Field>& features() const { return features_; }
  // Whether PredictRows skips the table (see there).
  bool scores_rows_directly() const { return direct_; }

  // One prediction per row of `raw` (for a classifier the probability of
  // class 1): the chain replayed, then the model. A feature that is null
  // after the chain is missing for XGBoost and a RowError for the linear
  // models, which have no way to score it.
  std::vector<double> Predict(const columnar::Table& raw) const;
  // The same for a table that holds the features already (the chain is not
  // replayed): a RowError when one is missing.
  std::vector<double> PredictFeatures(const columnar::Table& features) const;

  // Rows given as JSON objects -> a one-batch table of inputs(). `body` is
  // a JSON document: {"rows": [...]} or the list itself, parsed with
  // simdjson straight into the columns. A missing input, or a value of the
  // wrong type, is a RowError naming the row and the column; JSON null is a
  // null value; other keys are ignored. `extra(row, row_json, name)`, when
  // given, supplies a value a row lacks (online features), or nullptr.
  using Extra = std::function<const nlohmann::json*(int64_t, const nlohmann::json&, const std::string&)>;
  columnar::TablePtr RowsToTable(std::string_view body, const Extra& extra = {}) const;
  // The same, for columns given whole: {"name": [values...], ...} (the Open
  // Inference Protocol's inputs), every column `rows` long.
  columnar::TablePtr ColumnsToTable(const nlohmann::json& columns, int64_t rows) const;
  // Predict(*RowsToTable(body, extra)), the same answers and errors; when
  // the model has no chain and its features are numbers or bools, without
  // building the table (the request path of the daemon).
  std::vector<double> PredictRows(std::string_view body, const Extra& extra = {}) const;

 private:
  Predictor() = default;
  // The model on feature columns of n values each.
  std::vector<double> Score(const std::vector<const double*>& columns, int64_t n) const;
  bool classifier_ = false;
  bool direct_ = false;  // see PredictRows
  std::vector<size_t> input_feature_;  // when direct_: input position -> feature position
  bool xgboost_ = false;
  LinearModel linear_;
  std::unique_ptr<XgbModel> booster_;
  int threads_ = 0;
  TransformChain chain_;
  std::vector<columnar::Field> inputs_;
  std::vector<columnar::Field> features_;
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, size_t, NameHash, std::equal_to<>> input_index_;  // name -> position in inputs_
};

}  // namespace pipeline::ml
