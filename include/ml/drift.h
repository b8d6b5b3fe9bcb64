// Drift statistics between a reference sample and a current one, as model
// monitoring tools compute them (Evidently, NannyML), pinned to the
// definitions a user can check with numpy and scipy:
// - PSI over 10 bins: for numbers, the 10%..90% quantiles of the reference's
//   values (linear interpolation, numpy's default) cut the line, a value equal
//   to a cut falls in the lower bin, values beyond the reference's range fall
//   in the edge bins; for categories, the reference's categories plus one bin
//   for every category the reference lacks. A bin one side leaves empty counts
//   as a share of 1e-4. PSI = sum (cur - ref) * ln(cur / ref).
// - KS: the two-sample Kolmogorov-Smirnov statistic (scipy.stats.ks_2samp's).
// - Jensen-Shannon distance with log base 2 over those category bins
//   (scipy.spatial.distance.jensenshannon(p, q, base=2)).
// Nulls and NaN are left out of all three; their rate is compared apart.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pipeline::ml {

inline constexpr int kPsiBins = 10;
inline constexpr double kEmptyBinShare = 1e-4;

// A numeric column: its valid values sorted, and the 9 cut points.
struct NumericSample {
  std::vector<double> sorted;
  std::vector<double> cuts;  // kPsiBins - 1 quantiles; empty when no values
  int64_t rows = 0;
  int64_t nulls = 0;  // nulls and NaN
};
// `validity` may be nullptr (all valid); n values.
NumericSample SampleNumeric(const double* values, const uint64_t* validity, int64_t n);

// A categorical column: each category's count.
struct CategoricalSample {
  std::map<std::string, int64_t> counts;
  int64_t rows = 0;
  int64_t nulls = 0;
};

// The counts of `sample` in the bins `cuts` make (lower bin on a tie).
std::vector<int64_t> BinCounts(const NumericSample& sample, const std::vector<double>& cuts);

// PSI of two bin counts (same length), empty bins at kEmptyBinShare.
double Psi(const std::vector<int64_t>& reference, const std::vector<int64_t>& current);
// sup |F_ref - F_cur| of two ascending samples (0 when either is empty).
double KsStatistic(const std::vector<double>& a, const std::vector<double>& b);
// Jensen-Shannon distance (base 2) of two count vectors (normalised here).
double JensenShannonDistance(const std::vector<int64_t>& p, const std::vector<int64_t>& q);

struct DriftFigures {
  double psi = 0;
  double ks = -1;  // numeric only
  double js = -1;  // categorical only
  double reference_null_rate = 0;
  double current_null_rate = 0;
  std::vector<int64_t> reference_bins, current_bins;
  std::vector<double> cuts;              // numeric
  std::vector<std::string> categories;   // categorical: the reference's, then "(new)"
};
DriftFigures CompareNumeric(const NumericSample& reference, const NumericSample& current);
DriftFigures CompareCategorical(const CategoricalSample& reference, const CategoricalSample& current);

}  // namespace pipeline::ml
