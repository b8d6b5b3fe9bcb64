#include "ml/tree_ensemble.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "columnar/parallel.h"
#include "ml/linear.h"

namespace pipeline::ml {

namespace {

using json = nlohmann::json;

// Rows walked at once, the rows of a tile: a tile holds eight rows column
// after column (feature f of row k at f * 8 + k), then a column of zeros
// for the leaves. Eight chains of loads keep the processor busy and leave
// registers for the tile (sixteen in all).
constexpr int kLanes = 8;
constexpr uint32_t kColumnBytes = kLanes * sizeof(float);
constexpr int kMaxDepth = 64;
// Below this many rows a tile's empty lanes would walk for nothing: each
// row walks eight trees at once instead.
constexpr int64_t kFewRows = 6;
// Tiles walked down one tree before the next tree: as many as fit in 32
// KiB (32 tiles of 30 features), so that they stay in the first-level
// cache with the tree.
constexpr size_t kRunBytes = 32 << 10;
// Rows a thread takes at a time: up to 4096, in at most 4 MiB of tiles.
constexpr int64_t kBlockRows = 4096;
constexpr size_t kBlockBytes = 4 << 20;

ModelError Malformed(const std::string& what) { return ModelError("the XGBoost model document is malformed: " + what); }

const json& Member(const json& object, const char* key, const std::string& where) {
  if (!object.is_object()) throw Malformed(where + " is not an object");
  auto it = object.find(key);
  if (it == object.end()) throw Malformed(where + " has no '" + key + "'");
  return *it;
}

// learner_model_param's values are strings ("5E-1").
float FloatParam(const json& params, const char* key) {
  const json& v = Member(params, key, "learner_model_param");
  if (v.is_number()) return v.get<float>();
  if (!v.is_string()) throw Malformed(std::string("learner_model_param.") + key + " is not a number");
  const std::string text = v.get<std::string>();
  char* end = nullptr;
  const float f = std::strtof(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw Malformed(std::string("learner_model_param.") + key + " is '" + text + "'");
  return f;
}

std::vector<double> Numbers(const json& tree, const char* key, size_t count, size_t index) {
  const json& a = Member(tree, key, "tree " + std::to_string(index));
  if (!a.is_array() || a.size() != count) {
    throw Malformed("tree " + std::to_string(index) + "'s " + key + " does not have one value per node");
  }
  std::vector<double> out;
  out.reserve(count);
  for (const json& v : a) {
    if (v.is_boolean()) {
      out.push_back(v.get<bool>() ? 1 : 0);
    } else if (v.is_number()) {
      out.push_back(v.get<double>());
    } else {
      throw Malformed("tree " + std::to_string(index) + "'s " + key + " holds a value that is not a number");
    }
  }
  return out;
}

// XGBoost 1.7's objectives by how they turn base_score into a margin and a
// margin into a prediction (ProbToMargin and PredTransform); the
// differential test checks each against libxgboost.
struct Objective {
  const char* name;
  int link;  // 0 identity, 1 sigmoid (logit base), 2 exp (log base)
};
constexpr Objective kObjectives[] = {
    {"reg:squarederror", 0}, {"reg:squaredlogerror", 0}, {"reg:pseudohubererror", 0}, {"reg:absoluteerror", 0},
    {"binary:logitraw", 0},  {"binary:logistic", 1},     {"reg:logistic", 1},          {"count:poisson", 2},
    {"reg:gamma", 2},        {"reg:tweedie", 2},
};

}  // namespace

std::unique_ptr<const TreeEnsemble> TreeEnsemble::FromXgboost(const json& model, std::string* why) {
  std::unique_ptr<TreeEnsemble> e(new TreeEnsemble());
  std::vector<size_t> left_of;  // per node: its left child's index (a leaf: itself)
  std::vector<size_t> roots;
  try {
    const json& learner = Member(model, "learner", "the document");
    const json& params = Member(learner, "learner_model_param", "learner");
    const json& booster = Member(learner, "gradient_booster", "learner");
    const std::string objective = Member(Member(learner, "objective", "learner"), "name", "objective").get<std::string>();
    const std::string booster_name = Member(booster, "name", "gradient_booster").get<std::string>();
    if (booster_name != "gbtree") {
      *why = "the booster is " + booster_name + ", not gbtree";
      return nullptr;
    }
    if (params.contains("num_class") && FloatParam(params, "num_class") > 1) {
      *why = "the model has more than one output (num_class)";
      return nullptr;
    }
    if (params.contains("num_target") && FloatParam(params, "num_target") > 1) {
      *why = "the model has more than one output (num_target)";
      return nullptr;
    }
    const Objective* known = std::find_if(std::begin(kObjectives), std::end(kObjectives),
                                          [&](const Objective& o) { return objective == o.name; });
    if (known == std::end(kObjectives)) {
      *why = "objective " + objective + " is not one it scores";
      return nullptr;
    }
    const float base_score = FloatParam(params, "base_score");
    const float num_feature = FloatParam(params, "num_feature");
    if (!(num_feature >= 1 && num_feature < float(1 << 24))) throw Malformed("num_feature is not a count of features");
    e->features_ = int(num_feature);
    switch (known->link) {
      case 0: e->link_ = Link::kIdentity; e->base_margin_ = base_score; break;
      case 1: e->link_ = Link::kSigmoid; e->base_margin_ = -std::log(1.0f / base_score - 1.0f); break;
      default: e->link_ = Link::kExp; e->base_margin_ = std::log(base_score); break;
    }

    const json& gbtree = Member(booster, "model", "gradient_booster");
    const json& trees = Member(gbtree, "trees", "the gbtree model");
    if (!trees.is_array()) throw Malformed("trees is not a list");
    if (gbtree.contains("tree_info")) {
      for (const json& group : gbtree["tree_info"]) {
        if (!group.is_number() || group.get<double>() != 0) {
          *why = "its trees belong to more than one output group";
          return nullptr;
        }
      }
    }
    for (size_t t = 0; t < trees.size(); ++t) {
      const json& tree = trees[t];
      const size_t n = Member(tree, "left_children", "tree " + std::to_string(t)).size();
      if (n == 0) throw Malformed("tree " + std::to_string(t) + " has no nodes");
      const std::vector<double> left = Numbers(tree, "left_children", n, t);
      const std::vector<double> right = Numbers(tree, "right_children", n, t);
      const std::vector<double> feature = Numbers(tree, "split_indices", n, t);
      const std::vector<double> cond = Numbers(tree, "split_conditions", n, t);
      const std::vector<double> default_left = Numbers(tree, "default_left", n, t);
      if (tree.contains("split_type")) {
        for (double type : Numbers(tree, "split_type", n, t)) {
          if (type != 0) {
            *why = "tree " + std::to_string(t) + " has a categorical split";
            return nullptr;
          }
        }
      }
      const size_t first = e->nodes_.size();
      for (size_t i = 0; i < n; ++i) {
        // XGBoost keeps a leaf's value where a split keeps its condition.
        if (left[i] == -1) {  // a leaf: the walk stays on it
          e->nodes_.push_back(Node{std::numeric_limits<float>::infinity(), uint32_t(e->features_) * kColumnBytes, nullptr});
          e->leaf_.push_back(float(cond[i]));
          e->missing_right_.push_back(0);
          left_of.push_back(first + i);
          continue;
        }
        // XGBoost allocates children in pairs after their parent (its own
        // walk takes the right child as left + 1): no cycle, no gap.
        if (!(left[i] > double(i) && right[i] < double(n) && right[i] == left[i] + 1 && left[i] == std::floor(left[i]))) {
          *why = "tree " + std::to_string(t) + " node " + std::to_string(i) + "'s children are not a pair after it";
          return nullptr;
        }
        if (!(feature[i] >= 0 && feature[i] < num_feature)) {
          throw Malformed("tree " + std::to_string(t) + " splits on feature " + std::to_string(feature[i]) + " of " +
                          std::to_string(e->features_));
        }
        // Right when the value is at least the condition: above the float
        // below it (a compare the processor answers in one flag). Below
        // -inf there is no float: -inf itself would go left.
        const float at_least = float(cond[i]);
        if (at_least == -std::numeric_limits<float>::infinity()) {
          *why = "tree " + std::to_string(t) + " node " + std::to_string(i) + " splits at -inf";
          return nullptr;
        }
        e->nodes_.push_back(Node{std::nextafter(at_least, -std::numeric_limits<float>::infinity()),
                                 uint32_t(feature[i]) * kColumnBytes, nullptr});
        e->leaf_.push_back(0.0f);
        e->missing_right_.push_back(default_left[i] == 0);
        left_of.push_back(first + size_t(left[i]));
      }
      // Depth: children come after their parent, so one pass in order.
      std::vector<uint8_t> level(n, 0);
      uint8_t deepest = 0;
      for (size_t i = 0; i < n; ++i) {
        if (left[i] == -1) {
          deepest = std::max(deepest, level[i]);
          continue;
        }
        if (level[i] >= kMaxDepth) {
          *why = "tree " + std::to_string(t) + " is deeper than " + std::to_string(kMaxDepth);
          return nullptr;
        }
        level[size_t(left[i])] = level[size_t(left[i]) + 1] = uint8_t(level[i] + 1);
      }
      roots.push_back(first);
      e->depth_.push_back(deepest);
    }
  } catch (const nlohmann::json::exception& error) {
    throw Malformed(error.what());
  }
  // Children by address, now that the nodes stay where they are.
  for (size_t i = 0; i < e->nodes_.size(); ++i) e->nodes_[i].left = &e->nodes_[left_of[i]];
  for (size_t root : roots) e->roots_.push_back(&e->nodes_[root]);
  for (size_t t = 0; t < e->depth_.size(); t += kLanes) {
    const size_t end = std::min(e->depth_.size(), t + kLanes);
    e->group_depth_.push_back(*std::max_element(e->depth_.begin() + ptrdiff_t(t), e->depth_.begin() + ptrdiff_t(end)));
  }
  return e;
}

TreeEnsemble::TreeEnsemble() = default;
TreeEnsemble::~TreeEnsemble() = default;

// One step down a tree, without a branch: right when the value is above
// the node's `cond` (a leaf's +inf: never), else left; `column`: the lane's
// row in a tile (its first feature). With kMissing, a missing value (NaN)
// goes the node's default way; without, the tile has none.
template <bool kMissing>
inline const TreeEnsemble::Node* TreeEnsemble::Step(const Node* n, const char* column) const {
  const float v = *reinterpret_cast<const float*>(column + n->feature);
  size_t right = n->cond < v;
  if constexpr (kMissing) {
    if (v != v) right = missing_right_[size_t(n - nodes_.data())];
  }
  return n->left + right;
}

template <bool kMissing>
void TreeEnsemble::WalkTree(size_t tree, const float* tile, float* sum) const {
  const char* column = reinterpret_cast<const char*>(tile);
  const Node* at[kLanes];
#pragma GCC unroll 8
  for (int k = 0; k < kLanes; ++k) at[k] = roots_[tree];
  for (int d = 0; d < depth_[tree]; ++d) {
#pragma GCC unroll 8
    for (int k = 0; k < kLanes; ++k) at[k] = Step<kMissing>(at[k], column + k * sizeof(float));
  }
#pragma GCC unroll 8
  for (int k = 0; k < kLanes; ++k) sum[k] += leaf_[size_t(at[k] - nodes_.data())];
}

template <bool kMissing>
float TreeEnsemble::WalkRow(const float* lane) const {
  const char* column = reinterpret_cast<const char*>(lane);
  const size_t trees = roots_.size();
  float sum = base_margin_;
  for (size_t t0 = 0, group = 0; t0 < trees; t0 += kLanes, ++group) {
    const size_t here = std::min<size_t>(kLanes, trees - t0);
    const Node* at[kLanes];
#pragma GCC unroll 8
    for (int k = 0; k < kLanes; ++k) at[k] = roots_[t0 + std::min<size_t>(size_t(k), here - 1)];
    for (int d = 0; d < group_depth_[group]; ++d) {
#pragma GCC unroll 8
      for (int k = 0; k < kLanes; ++k) at[k] = Step<kMissing>(at[k], column);
    }
    for (size_t k = 0; k < here; ++k) sum += leaf_[size_t(at[k] - nodes_.data())];  // in tree order
  }
  return sum;
}

double TreeEnsemble::Apply(float margin) const {
  switch (link_) {
    case Link::kSigmoid: {
      // XGBoost 1.7's common::Sigmoid, to the last bit (and below -88.7).
      constexpr float kEps = 1e-16f;
      const float x = std::min(-margin, 88.7f);
      return 1.0f / (std::exp(x) + 1.0f + kEps);
    }
    case Link::kExp: return std::exp(margin);
    case Link::kIdentity: break;
  }
  return margin;
}

void TreeEnsemble::Predict(const std::vector<const double*>& columns, int64_t rows, double* out, int threads) const {
  if (rows <= 0) return;
  if (columns.size() != size_t(features_)) {
    throw ModelError("the model has " + std::to_string(features_) + " features; " + std::to_string(columns.size()) +
                     " were given");
  }
  const size_t tile_floats = (size_t(features_) + 1) * kLanes;
  const size_t tile_bytes = tile_floats * sizeof(float);
  const int64_t run_tiles = int64_t(std::max<size_t>(1, kRunBytes / tile_bytes));
  const int64_t block_rows = std::clamp<int64_t>(int64_t(kBlockBytes / tile_bytes) * kLanes, kLanes, kBlockRows);
  const size_t blocks = size_t((rows + block_rows - 1) / block_rows);
  columnar::ParallelFor(blocks, threads, [&](size_t block) {
    const int64_t begin = int64_t(block) * block_rows;
    const int64_t count = std::min(rows, begin + block_rows) - begin;
    const int64_t tiles = (count + kLanes - 1) / kLanes;
    // The rows as float32 (what XGBoost compares) in tiles; lanes past the
    // last row are zeros. A tile without NaN walks without the missing test.
    std::vector<float> x(size_t(tiles) * tile_floats, 0.0f);
    std::vector<uint8_t> missing(size_t(tiles), 0);
    for (size_t j = 0; j < columns.size(); ++j) {
      const double* col = columns[j] + begin;
      for (int64_t i = 0; i < count; ++i) {
        const float v = static_cast<float>(col[i]);
        x[size_t(i / kLanes) * tile_floats + j * kLanes + size_t(i % kLanes)] = v;
        missing[size_t(i / kLanes)] |= v != v;
      }
    }
    // Rows in tiles of eight, a tree at a time over a run of tiles (whose
    // values stay in the first-level cache, as do the tree's nodes): the
    // tree's nodes are read from there by every tile, not fetched again.
    std::vector<float> sum(size_t(tiles) * kLanes, base_margin_);
    const int64_t full = count / kLanes + (count % kLanes >= kFewRows ? 1 : 0);
    for (int64_t run = 0; run < full; run += run_tiles) {
      const int64_t end = std::min(full, run + run_tiles);
      for (size_t t = 0; t < roots_.size(); ++t) {
        for (int64_t tile = run; tile < end; ++tile) {
          const float* data = x.data() + size_t(tile) * tile_floats;
          float* acc = sum.data() + size_t(tile) * kLanes;
          if (missing[size_t(tile)]) {
            WalkTree<true>(t, data, acc);
          } else {
            WalkTree<false>(t, data, acc);
          }
        }
      }
    }
    // The last few rows, each down eight trees at once.
    for (int64_t i = full * kLanes; i < count; ++i) {
      const float* lane = x.data() + size_t(i / kLanes) * tile_floats + size_t(i % kLanes);
      sum[size_t(i)] = missing[size_t(i / kLanes)] ? WalkRow<true>(lane) : WalkRow<false>(lane);
    }
    for (int64_t i = 0; i < count; ++i) out[begin + i] = Apply(sum[size_t(i)]);
  });
}

}  // namespace pipeline::ml
