#include "ml/drift.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "columnar/column.h"
#include "kernels/kernels.h"

namespace pipeline::ml {

NumericSample SampleNumeric(const double* values, const uint64_t* validity, int64_t n) {
  NumericSample s;
  s.rows = n;
  s.sorted.resize(static_cast<size_t>(n));
  double qs[kPsiBins - 1], cuts[kPsiBins - 1];
  for (int i = 0; i < kPsiBins - 1; ++i) qs[i] = double(i + 1) / kPsiBins;
  const int64_t used = kernels::Quantiles(values, validity, n, qs, kPsiBins - 1, s.sorted.data(), cuts);
  s.sorted.resize(static_cast<size_t>(used));
  s.nulls = n - used;
  if (used > 0) s.cuts.assign(cuts, cuts + (kPsiBins - 1));
  return s;
}

std::vector<int64_t> BinCounts(const NumericSample& sample, const std::vector<double>& cuts) {
  std::vector<int64_t> bins(cuts.size() + 1, 0);
  int64_t below = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    // Values <= cut i are in bins 0..i.
    const int64_t upto = std::upper_bound(sample.sorted.begin(), sample.sorted.end(), cuts[i]) - sample.sorted.begin();
    bins[i] = upto - below;
    below = upto;
  }
  bins.back() = static_cast<int64_t>(sample.sorted.size()) - below;
  return bins;
}

double Psi(const std::vector<int64_t>& reference, const std::vector<int64_t>& current) {
  int64_t rn = 0, cn = 0;
  for (int64_t c : reference) rn += c;
  for (int64_t c : current) cn += c;
  if (rn == 0 || cn == 0) return 0;
  double psi = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double r = reference[i] > 0 ? double(reference[i]) / double(rn) : kEmptyBinShare;
    const double c = current[i] > 0 ? double(current[i]) / double(cn) : kEmptyBinShare;
    psi += (c - r) * std::log(c / r);
  }
  return psi;
}

namespace {

// KS figures are differences of two distribution functions, i/na - j/nb:
// kept as the exact numerator i*nb - j*na over na*nb and divided once, so a
// statistic of exactly 1/10 is the double 0.1 (scipy's ks_2samp rounds to
// a multiple of 1/lcm(na, nb) the same way) and a threshold of 0.1 is not
// crossed by a rounding error.
class KsScale {
 public:
  KsScale(int64_t na, int64_t nb) : na_(na), nb_(nb), g_(std::gcd(na, nb)) {}
  __int128 Numerator(int64_t i, int64_t j) const { return __int128{i} * nb_ - __int128{j} * na_; }
  double Value(__int128 numerator) const {
    if (numerator <= 0 || g_ == 0) return 0;
    return double(numerator / g_) / (double(na_ / g_) * double(nb_));
  }

 private:
  int64_t na_, nb_, g_;
};

template <typename T>
double Ks(const std::vector<T>& a, const std::vector<T>& b) {
  const size_t na = a.size(), nb = b.size();
  if (na == 0 || nb == 0) return 0;
  const KsScale scale{int64_t(na), int64_t(nb)};
  size_t i = 0, j = 0;
  __int128 d = 0;
  while (i < na && j < nb) {
    const T x = std::min(a[i], b[j]);
    while (i < na && a[i] == x) ++i;  // F(x) counts every value <= x
    while (j < nb && b[j] == x) ++j;
    const __int128 diff = scale.Numerator(int64_t(i), int64_t(j));
    d = std::max(d, diff < 0 ? -diff : diff);
  }
  // Past the end of one sample its F is 1; the other's only grows towards 1.
  return scale.Value(d);
}

}  // namespace

double KsStatistic(const std::vector<double>& a, const std::vector<double>& b) { return Ks(a, b); }
double KsStatistic(const std::vector<int64_t>& a, const std::vector<int64_t>& b) { return Ks(a, b); }

double JensenShannonDistance(const std::vector<int64_t>& p, const std::vector<int64_t>& q) {
  double pn = 0, qn = 0;
  for (int64_t c : p) pn += double(c);
  for (int64_t c : q) qn += double(c);
  if (pn == 0 || qn == 0) return 0;
  double left = 0, right = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double pk = double(p[k]) / pn, qk = double(q[k]) / qn, m = (pk + qk) / 2;
    if (pk > 0) left += pk * std::log(pk / m);
    if (qk > 0) right += qk * std::log(qk / m);
  }
  double js = (left + right) / std::log(2.0);
  return std::sqrt(std::max(0.0, js / 2.0));
}

DriftFigures CompareNumeric(const NumericSample& reference, const NumericSample& current) {
  DriftFigures f;
  f.reference_null_rate = reference.rows ? double(reference.nulls) / double(reference.rows) : 0;
  f.current_null_rate = current.rows ? double(current.nulls) / double(current.rows) : 0;
  f.cuts = reference.cuts;
  if (!reference.cuts.empty()) {
    f.reference_bins = BinCounts(reference, reference.cuts);
    f.current_bins = BinCounts(current, reference.cuts);
    f.psi = Psi(f.reference_bins, f.current_bins);
  }
  f.ks = KsStatistic(reference.sorted, current.sorted);
  f.ks_max = f.ks;
  return f;
}

NumericProfile ProfileNumeric(const NumericSample& reference, int grid_points) {
  grid_points = std::clamp(grid_points, 1, kMaxGridPoints);
  NumericProfile p;
  p.rows = reference.rows;
  p.nulls = reference.nulls;
  p.values = static_cast<int64_t>(reference.sorted.size());
  p.cuts = reference.cuts;
  if (!p.cuts.empty()) p.bins = BinCounts(reference, p.cuts);
  const std::vector<double>& v = reference.sorted;
  if (v.empty()) return p;
  // Every distinct value when there are few enough, else evenly spaced ranks.
  std::vector<double> distinct;
  for (size_t i = 0; i < v.size() && distinct.size() <= size_t(grid_points); ++i) {
    if (distinct.empty() || v[i] != distinct.back()) distinct.push_back(v[i]);
  }
  p.exact = distinct.size() <= size_t(grid_points);
  if (p.exact) {
    p.grid = std::move(distinct);
  } else {
    for (int k = 1; k <= grid_points; ++k) {
      const double x = v[size_t(double(k) * double(v.size()) / grid_points) - 1];
      if (p.grid.empty() || x != p.grid.back()) p.grid.push_back(x);
    }
  }
  // The PSI cuts are grid points too, so that each stretch between two
  // points lies in one PSI bin: the current values' bins come from the
  // grid's counts.
  std::vector<double> merged;
  std::set_union(p.grid.begin(), p.grid.end(), p.cuts.begin(), p.cuts.end(), std::back_inserter(merged));
  merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
  p.grid = std::move(merged);
  for (double cut : p.cuts) p.cut_points.push_back(size_t(std::lower_bound(p.grid.begin(), p.grid.end(), cut) - p.grid.begin()));
  for (double x : p.grid) {
    p.at_most.push_back(std::upper_bound(v.begin(), v.end(), x) - v.begin());
    p.below.push_back(std::lower_bound(v.begin(), v.end(), x) - v.begin());
  }
  return p;
}

namespace {

// Finds a value's place among the grid points in about one step: a table
// over the grid's range, in equal cells, gives the first grid point not
// below each cell's start.
class GridIndex {
 public:
  explicit GridIndex(const std::vector<double>& grid) : grid_(grid) {
    // The cells span the finite points: an infinite one (the reference may
    // hold infinities) is reached by the steps from the edge cells.
    auto finite = [](double v) { return std::isfinite(v); };
    auto first = std::find_if(grid.begin(), grid.end(), finite);
    auto last = std::find_if(grid.rbegin(), grid.rend(), finite);
    lo_ = first == grid.end() ? grid.front() : *first;
    const double span = first == grid.end() ? 0 : *last - *first;
    const size_t cells = std::max<size_t>(64, grid.size() * 16);
    scale_ = span > 0 && std::isfinite(span) ? double(cells) / span : 0;
    first_.resize(cells + 1);
    size_t g = 0;
    for (size_t c = 0; c <= cells; ++c) {
      const double start = scale_ > 0 ? lo_ + double(c) / scale_ : lo_;
      while (g < grid.size() && grid[g] < start) ++g;
      first_[c] = uint16_t(g > 0 ? g - 1 : 0);  // a point at most the cell's start (rounding)
    }
  }
  // The number of grid points below x: from x's cell, a few steps (a
  // binary search in a crowded cell); the step back corrects a cell that
  // rounding misjudged.
  size_t Below(double x) const {
    size_t g = 0;
    if (x > lo_ && scale_ > 0) {
      const double at = (x - lo_) * scale_;
      const size_t cell = at < double(first_.size() - 2) ? size_t(at) : first_.size() - 2;
      g = first_[cell];
      const size_t crowd = first_[cell + 1] - g;
      if (crowd > 8) {
        const size_t hi = std::min<size_t>(grid_.size(), first_[cell + 1] + size_t{2});
        g = size_t(std::lower_bound(grid_.begin() + g, grid_.begin() + hi, x) - grid_.begin());
      }
    }
    while (g > 0 && grid_[g - 1] >= x) --g;
    while (g < grid_.size() && grid_[g] < x) ++g;
    return g;
  }

 private:
  const std::vector<double>& grid_;
  double lo_ = 0, scale_ = 0;
  std::vector<uint16_t> first_;  // the grid has at most kMaxGridPoints points
};

}  // namespace

DriftFigures CompareToProfile(const NumericProfile& reference, const double* values, const uint64_t* validity,
                              int64_t n) {
  DriftFigures f;
  f.cuts = reference.cuts;
  f.reference_bins = reference.bins;
  f.reference_null_rate = reference.rows ? double(reference.nulls) / double(reference.rows) : 0;
  const size_t k = reference.grid.size(), cuts = reference.cuts.size();
  // Per grid point: current values equal to it, and strictly between it and
  // the point before (index k: above the last point).
  std::vector<int64_t> equal(k, 0), between(k + 1, 0);
  int64_t nulls = 0;
  if (k > 0) {
    GridIndex index(reference.grid);
    for (int64_t i = 0; i < n; ++i) {
      const double x = values[i];
      if ((validity && !columnar::BitIsSet(validity, i)) || std::isnan(x)) {
        ++nulls;
        continue;
      }
      const size_t g = index.Below(x);
      if (g < k && reference.grid[g] == x) {
        ++equal[g];
      } else {
        ++between[g];
      }
    }
  } else {
    for (int64_t i = 0; i < n; ++i) nulls += (validity && !columnar::BitIsSet(validity, i)) || std::isnan(values[i]);
  }
  f.current_null_rate = n ? double(nulls) / double(n) : 0;
  const int64_t m = n - nulls;
  if (cuts > 0) {
    // Values <= cut c: everything up to its grid point, the point included
    // (a value equal to a cut falls in the lower bin).
    f.current_bins.assign(cuts + 1, 0);
    int64_t upto = 0, counted = 0;
    size_t next = 0;
    for (size_t c = 0; c < cuts; ++c) {
      for (; next <= reference.cut_points[c]; ++next) upto += between[next] + equal[next];
      f.current_bins[c] = upto - counted;
      counted = upto;
    }
    f.current_bins[cuts] = m - counted;
    f.psi = Psi(f.reference_bins, f.current_bins);
  }
  f.ks = f.ks_max = 0;
  if (k == 0 || m == 0) return f;
  // F at each grid point (<=) and just below it (<), both sides; between two
  // points each F only grows, so the exact statistic there lies between the
  // ends, and is bounded by the largest gap the two can open.
  const KsScale scale(reference.values, m);
  __int128 ks = 0, ks_max = 0;
  int64_t cur_below = 0, cur_at_most = 0, ref_at_most_before = 0, cur_at_most_before = 0;
  for (size_t g = 0; g < k; ++g) {
    cur_below = cur_at_most + between[g];
    cur_at_most = cur_below + equal[g];
    const __int128 below = scale.Numerator(reference.below[g], cur_below);
    const __int128 at_most = scale.Numerator(reference.at_most[g], cur_at_most);
    ks = std::max({ks, below, -below, at_most, -at_most});
    // Over (grid[g-1], grid[g]): F_ref in [ref_at_most_before, below_r], F_cur in [cur_at_most_before, cur_below].
    ks_max = std::max({ks_max, scale.Numerator(reference.below[g], cur_at_most_before),
                       -scale.Numerator(ref_at_most_before, cur_below)});
    ref_at_most_before = reference.at_most[g];
    cur_at_most_before = cur_at_most;
  }
  // Past the last point F_ref is 1 and F_cur grows to 1: the gap only shrinks.
  f.ks = scale.Value(ks);
  f.ks_max = reference.exact ? f.ks : std::max(f.ks, scale.Value(ks_max));
  return f;
}

DriftFigures CompareCategorical(const CategoricalSample& reference, const CategoricalSample& current) {
  DriftFigures f;
  f.reference_null_rate = reference.rows ? double(reference.nulls) / double(reference.rows) : 0;
  f.current_null_rate = current.rows ? double(current.nulls) / double(current.rows) : 0;
  int64_t unseen = 0;
  for (const auto& [category, count] : reference.counts) {
    f.categories.push_back(category);
    f.reference_bins.push_back(count);
    auto it = current.counts.find(category);
    f.current_bins.push_back(it == current.counts.end() ? 0 : it->second);
  }
  for (const auto& [category, count] : current.counts) {
    if (!reference.counts.count(category)) {
      unseen += count;
      f.new_categories.emplace_back(category, count);
    }
  }
  std::stable_sort(f.new_categories.begin(), f.new_categories.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  f.reference_bins.push_back(0);
  f.current_bins.push_back(unseen);
  f.psi = Psi(f.reference_bins, f.current_bins);
  f.js = JensenShannonDistance(f.reference_bins, f.current_bins);
  return f;
}

}  // namespace pipeline::ml
