#include "ml/drift.h"

#include <algorithm>
#include <cmath>

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
  if (used > 0) s.cuts.assign(cuts, cuts + kPsiBins - 1);
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

double KsStatistic(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t na = a.size(), nb = b.size();
  if (na == 0 || nb == 0) return 0;
  size_t i = 0, j = 0;
  double d = 0;
  while (i < na && j < nb) {
    const double x = std::min(a[i], b[j]);
    while (i < na && a[i] == x) ++i;  // F(x) counts every value <= x
    while (j < nb && b[j] == x) ++j;
    d = std::max(d, std::abs(double(i) / double(na) - double(j) / double(nb)));
  }
  // Past the end of one sample its F is 1; the other's only grows towards 1.
  return d;
}

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
    if (!reference.counts.count(category)) unseen += count;
  }
  f.categories.push_back("(new)");
  f.reference_bins.push_back(0);
  f.current_bins.push_back(unseen);
  f.psi = Psi(f.reference_bins, f.current_bins);
  f.js = JensenShannonDistance(f.reference_bins, f.current_bins);
  return f;
}

}  // namespace pipeline::ml
