// Aggregates by group id (scalar: scattered updates do not vectorise
// usefully) and quantiles (SIMD compaction of the valid values, then VQSort).

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernels.h"

namespace pipeline::kernels {
namespace {

bool IsValid(const uint64_t* validity, int64_t row) {
  return validity == nullptr || ((validity[row >> 6] >> (row & 63)) & 1) != 0;
}

// Copies the valid, non-NaN values into scratch; returns their number.
int64_t GatherForSelection(const double* values, const uint64_t* validity, int64_t n,
                           double* scratch) {
  int64_t count = n;
  if (n == 0) return 0;
  if (validity == nullptr) {
    std::memcpy(scratch, values, static_cast<size_t>(n) * sizeof(double));
  } else {
    count = Compact(values, validity, n, scratch);
  }
  return std::remove_if(scratch, scratch + count, [](double x) { return std::isnan(x); }) - scratch;
}

// a + (b - a) * t without overflow when b - a does not fit.
double Lerp(double a, double b, double t) {
  if (a == b) return a;
  const double span = b - a;
  return std::isfinite(span) ? a + span * t : a * (1 - t) + b * t;
}

// The q-quantile of sorted[0, count), count > 0.
double SortedQuantile(const double* sorted, int64_t count, double q) {
  const double position = q * static_cast<double>(count - 1);
  const int64_t rank = std::clamp<int64_t>(static_cast<int64_t>(position), 0, count - 1);
  const double fraction = position - static_cast<double>(rank);
  const double lower = sorted[rank];
  if (fraction <= 0 || rank + 1 >= count) return lower;
  const double upper = sorted[rank + 1];
  // The median of an even count is the two middles' correctly rounded mean.
  return fraction == 0.5 && std::isfinite(lower + upper) ? (lower + upper) * 0.5
                                                         : Lerp(lower, upper, fraction);
}

}  // namespace

int64_t Quantiles(const double* values, const uint64_t* validity, int64_t n, const double* qs,
                  int64_t num_qs, double* scratch, double* results) {
  const int64_t count = GatherForSelection(values, validity, n, scratch);
  SortDoubles(scratch, count);
  for (int64_t idx = 0; idx < num_qs; ++idx) {
    results[idx] = count == 0 ? std::numeric_limits<double>::quiet_NaN()
                              : SortedQuantile(scratch, count, qs[idx]);
  }
  return count;
}

int64_t Quantile(const double* values, const uint64_t* validity, int64_t n, double q,
                 double* scratch, double* result) {
  return Quantiles(values, validity, n, &q, 1, scratch, result);
}

int64_t Median(const double* values, const uint64_t* validity, int64_t n, double* scratch,
               double* result) {
  return Quantile(values, validity, n, 0.5, scratch, result);
}

void GroupAggregate(const uint32_t* group_ids, const double* values, const uint64_t* validity,
                    int64_t n, int64_t* counts, double* sums, double* mins, double* maxs) {
  for (int64_t row = 0; row < n; ++row) {
    if (!IsValid(validity, row)) continue;
    const uint32_t group = group_ids[row];
    const double value = values[row];
    if (counts != nullptr) ++counts[group];
    if (sums != nullptr) sums[group] += value;
    if (std::isnan(value)) continue;
    if (mins != nullptr && value < mins[group]) mins[group] = value;
    if (maxs != nullptr && value > maxs[group]) maxs[group] = value;
  }
}

void GroupAggregate(const uint32_t* group_ids, const int64_t* values, const uint64_t* validity,
                    int64_t n, int64_t* counts, int64_t* sums, int64_t* mins, int64_t* maxs) {
  for (int64_t row = 0; row < n; ++row) {
    if (!IsValid(validity, row)) continue;
    const uint32_t group = group_ids[row];
    const int64_t value = values[row];
    if (counts != nullptr) ++counts[group];
    if (sums != nullptr) {
      sums[group] = static_cast<int64_t>(static_cast<uint64_t>(sums[group]) +
                                         static_cast<uint64_t>(value));
    }
    if (mins != nullptr && value < mins[group]) mins[group] = value;
    if (maxs != nullptr && value > maxs[group]) maxs[group] = value;
  }
}

}  // namespace pipeline::kernels
