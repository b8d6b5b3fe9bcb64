// A gradient-boosted tree ensemble laid out for scoring, compiled from an
// XGBoost model: its predictions are XGBoost 1.7's own, bit for bit (the
// same float32 comparisons, missing-value directions, float32 sum in tree
// order from the same base margin, and the same link function through the
// same libm), in 40% of the time for 100 rows and a tenth for one
// (bench/predict_bench.cc). XGBoost walks one row through
// one tree at a time, a chain of dependent loads and unpredictable
// branches; this walks eight rows down a tree at once (or, for a few rows,
// one row down eight trees) without a branch, so the processor overlaps
// eight chains of loads, each step a handful of instructions.
//
// It scores what it can score exactly: gbtree boosters with numeric splits,
// one output, and the objectives listed in tree_ensemble.cc. For anything
// else FromXgboost says why and XGBoost itself predicts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pipeline::ml {

class TreeEnsemble {
 public:
  // From XGBoost's model document (the JSON or UBJSON model format, parsed).
  // nullptr, with the reason in `why`, when the model is one this does not
  // score exactly as XGBoost does; throws ModelError when the document is
  // not a well-formed tree model.
  static std::unique_ptr<const TreeEnsemble> FromXgboost(const nlohmann::json& model, std::string* why);

  // out[i]: the prediction for row i, whose feature j is columns[j][i] (NaN:
  // missing); the link function applied (a probability for
  // binary:logistic). Needs one column per feature of the model (ModelError
  // otherwise); blocks of rows go to up to `threads` threads. Safe to call
  // from many threads at once.
  void Predict(const std::vector<const double*>& columns, int64_t rows, double* out, int threads = 1) const;

  size_t trees() const { return roots_.size(); }
  int features() const { return features_; }

  ~TreeEnsemble();

 private:
  // A split or a leaf, 16 bytes. A split sends a row right, to `left` + 1,
  // when its value is above `cond` (the float below XGBoost's condition:
  // XGBoost goes left below its condition), else left. A leaf reads the
  // tile's column of zeros against +inf and goes left, to itself: a walk of
  // a fixed number of steps stays on it.
  struct Node {
    float cond;
    uint32_t feature;  // the byte offset of the feature's column in a tile
    const Node* left;
  };
  enum class Link { kIdentity, kSigmoid, kExp };

  TreeEnsemble();
  TreeEnsemble(const TreeEnsemble&) = delete;  // its nodes point at each other
  TreeEnsemble& operator=(const TreeEnsemble&) = delete;
  template <bool kMissing>
  const Node* Step(const Node* n, const char* column) const;
  // Eight rows of a tile down one tree: sum[k] += the leaf row k reaches.
  template <bool kMissing>
  void WalkTree(size_t tree, const float* tile, float* sum) const;
  // One row of a tile (`lane`: its first feature) through every tree, eight
  // trees at once: base + each tree's leaf.
  template <bool kMissing>
  float WalkRow(const float* lane) const;
  double Apply(float margin) const;

  std::vector<Node> nodes_;             // every tree's, one tree after another
  std::vector<float> leaf_;             // per node: a leaf's value
  std::vector<uint8_t> missing_right_;  // per node: a missing value goes right
  std::vector<const Node*> roots_;      // per tree: its root
  std::vector<uint8_t> depth_;          // per tree: the steps from the root to its deepest leaf
  std::vector<uint8_t> group_depth_;    // per group of eight trees: the deepest of them
  float base_margin_ = 0;
  Link link_ = Link::kIdentity;
  int features_ = 0;
};

}  // namespace pipeline::ml
