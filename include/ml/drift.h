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
#include <utility>
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
// sup |F_ref - F_cur| of two ascending samples (0 when either is empty),
// exact to the last bit (a multiple of 1/lcm(sizes), as scipy rounds it).
// The int64 form compares integers beyond 2^53 exactly.
double KsStatistic(const std::vector<double>& a, const std::vector<double>& b);
double KsStatistic(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
// Jensen-Shannon distance (base 2) of two count vectors (normalised here).
double JensenShannonDistance(const std::vector<int64_t>& p, const std::vector<int64_t>& q);

struct DriftFigures {
  double psi = 0;
  double ks = -1;      // numeric only
  double ks_max = -1;  // numeric: an upper bound of the exact KS (= ks when exact)
  double js = -1;  // categorical only
  double reference_null_rate = 0;
  double current_null_rate = 0;
  std::vector<int64_t> reference_bins, current_bins;
  std::vector<double> cuts;              // numeric
  // Categorical: the reference's categories, one per bin; the bins have one
  // more, last: every category the reference lacks, listed in
  // `new_categories` (most rows first).
  std::vector<std::string> categories;
  std::vector<std::pair<std::string, int64_t>> new_categories;
};
DriftFigures CompareNumeric(const NumericSample& reference, const NumericSample& current);

// What monitoring keeps of a numeric reference column so that a current
// sample is compared in one pass over its values, never sorted: the PSI
// cuts and bin counts, and the reference's distribution function at up to
// `grid_points` of its values (its quantiles; every distinct value when it
// has no more). With every distinct value kept, KS is exact; otherwise the
// current values are counted between the kept points, the statistic is taken
// at them (a lower bound of the exact one) and `ks_max` bounds it above.
inline constexpr int kKsGridPoints = 4096;
inline constexpr int kMaxGridPoints = 60000;  // grid_points above it count as this
struct NumericProfile {
  std::vector<double> cuts;                // as NumericSample::cuts
  std::vector<int64_t> bins;               // the reference's PSI bin counts
  std::vector<double> grid;                // ascending, distinct
  std::vector<int64_t> at_most, below;     // reference values <= and < each grid point
  std::vector<size_t> cut_points;          // where each PSI cut is in the grid
  int64_t rows = 0, nulls = 0, values = 0;
  bool exact = false;                      // grid holds every distinct value
};
NumericProfile ProfileNumeric(const NumericSample& reference, int grid_points = kKsGridPoints);

// The figures of `n` current values (`validity` may be nullptr; NaN counts
// as null) against a profile. `ks` is exact when the profile is; otherwise
// the exact statistic lies in [ks, ks_max].
DriftFigures CompareToProfile(const NumericProfile& reference, const double* values, const uint64_t* validity,
                              int64_t n);
DriftFigures CompareCategorical(const CategoricalSample& reference, const CategoricalSample& current);

}  // namespace pipeline::ml
