// Column kernels: scans, aggregates, bitmaps, hashes and transforms over raw
// spans plus validity bitmaps, vectorised with Google Highway and dispatched
// at run time to the best instruction set the CPU offers (SSSE3 ... AVX-512).
//
// Conventions shared by every kernel (the columnar module's layout, restated
// so that this module depends on nothing of ours):
//  - A bitmap of n bits is BitmapWords(n) uint64_t words; bit (row % 64) of
//    word (row / 64) belongs to `row`. Validity: 1 = valid. Selection: 1 =
//    selected. Bits past n are 0 in every bitmap a kernel reads and writes.
//  - A nullptr validity bitmap means "all valid"; selections must not be
//    nullptr.
//  - Kernels never read the value of a null row as data: null slots may hold
//    anything. Kernels that write values write 0 into null rows (the columns'
//    "null slot holds 0" invariant).
//  - Bools are uint8_t 0/1; strings are uint32_t offsets[n + 1] plus bytes;
//    timestamps are int64 and use the int64 kernels.
//
// Memory contract:
//  - INPUT value arrays (int64/double/uint8) must have 64 readable bytes past
//    their last element (columnar::Buffer guarantees it): the last, partial
//    vector is loaded whole and its extra lanes are discarded. The padding's
//    content does not matter. No alignment is required.
//  - Input bitmaps need no padding: kernels read exactly BitmapWords(n) words.
//  - OUTPUT arrays need no padding: kernels write exactly the documented
//    number of elements (whole words for bitmaps). Unless a function says
//    otherwise, an output may be the same array as an input of the same type
//    (in place), but must not partially overlap one.
//  - Kernels neither throw nor allocate, and may run concurrently (the only
//    shared state is Highway's atomic dispatch choice). Preconditions are the
//    caller's to check (debug builds do not check either); n >= 0 everywhere.
//
// Floating point: NaN is a value, not a null. It propagates through
// arithmetic (Sum, Moments, the transforms), fails every comparison (range
// and set selections never select it), and is skipped by the order
// statistics (MinMax, group min/max, Quantile) so that one NaN cannot hide
// the extremes. -0.0 equals +0.0 everywhere (comparisons, hashes); which of
// the two a min/max returns is unspecified.
#pragma once

#include <cstdint>

namespace pipeline::kernels {

inline constexpr int64_t BitmapWords(int64_t bits) { return (bits + 63) >> 6; }

// Name of the instruction set the kernels dispatch to now ("AVX3", "AVX2",
// "SSE4", "SSSE3", "SCALAR"). Tests and benchmarks force another one with
// hwy::SetSupportedTargetsForTest(target) (0 restores the CPU's best).
const char* TargetName();

// ---------------------------------------------------------------- bitmaps

// Number of 1 bits among the first n bits. `bits` must not be nullptr.
int64_t CountSet(const uint64_t* bits, int64_t n);
// Valid rows among n (n when validity is nullptr) and null rows.
int64_t CountValid(const uint64_t* validity, int64_t n);
int64_t CountNulls(const uint64_t* validity, int64_t n);

// out = a & b, a | b, a & ~b, ~a over n bits; BitmapWords(n) words written,
// bits past n cleared. A nullptr operand stands for all ones (a validity
// bitmap without nulls); `out` must not be nullptr and may equal a or b.
void BitmapAnd(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n);
void BitmapOr(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n);
void BitmapAndNot(const uint64_t* a, const uint64_t* b, uint64_t* out, int64_t n);
void BitmapNot(const uint64_t* a, uint64_t* out, int64_t n);

// ------------------------------------------------ filter by a selection
// Compact* keep the rows whose selection bit is set, in order, and return
// their number m = CountSet(selection, n). `selection` must not be nullptr.
// `out` holds m elements (need not be padded) and must not overlap `values`.

int64_t Compact(const int64_t* values, const uint64_t* selection, int64_t n, int64_t* out);
int64_t Compact(const double* values, const uint64_t* selection, int64_t n, double* out);
int64_t Compact(const uint8_t* values, const uint64_t* selection, int64_t n, uint8_t* out);

// The validity of the compacted rows: writes BitmapWords(m) words (bits past
// m cleared). `bits` may be nullptr (all valid): then out is all ones.
int64_t CompactBitmap(const uint64_t* bits, const uint64_t* selection, int64_t n, uint64_t* out);

// Strings: out_offsets gets m + 1 entries starting at 0, out_chars the
// selected rows' bytes (at most offsets[n] - offsets[0] bytes; the exact
// size is the sum of the selected rows' lengths). Scalar.
int64_t CompactStrings(const uint32_t* offsets, const char* chars, const uint64_t* selection,
                       int64_t n, uint32_t* out_offsets, char* out_chars);

// ------------------------------------------------------------- aggregates

struct Int64MinMax {
  int64_t min = 0;
  int64_t max = 0;
  bool any = false;  // false when no row was valid; min and max are then 0
};
struct DoubleMinMax {
  double min = 0;
  double max = 0;
  bool any = false;  // false when no row was valid and non-NaN; min, max 0
};
// Extremes of the valid rows (and, for doubles, of the non-NaN ones).
Int64MinMax MinMax(const int64_t* values, const uint64_t* validity, int64_t n);
DoubleMinMax MinMax(const double* values, const uint64_t* validity, int64_t n);

// Sums of the valid rows (0 when none). Doubles: vector lanes sum blocks of
// 1024 rows, the blocks merge with Neumaier compensation: worst-case error
// 512 * 2^-53 of the sum of |x| on the scalar target, 8x less with AVX-512
// (10M values match a long-double sum to 1e-12 relative in the tests). Int64:
// exact (128-bit) and rounded once to double; the squares are summed as
// doubles.
double Sum(const double* values, const uint64_t* validity, int64_t n);
double Sum(const int64_t* values, const uint64_t* validity, int64_t n);
double SumSquares(const double* values, const uint64_t* validity, int64_t n);
double SumSquares(const int64_t* values, const uint64_t* validity, int64_t n);
// Exact int64 sum; false (and *sum untouched) if it does not fit in int64.
bool SumChecked(const int64_t* values, const uint64_t* validity, int64_t n, int64_t* sum);

struct Moments {
  int64_t count = 0;  // valid rows
  double sum = 0;
  double mean = 0;      // NaN when count == 0
  double variance = 0;  // sample variance (divides by count - 1); NaN when count < 2
};
// Two passes (sum, then the corrected sum of squared deviations of Chan,
// Golub and LeVeque), so a large common offset costs no precision. Int64
// deviations are taken in integer arithmetic before the conversion to double
// (timestamps in ns keep their ns spread).
Moments ComputeMoments(const double* values, const uint64_t* validity, int64_t n);
Moments ComputeMoments(const int64_t* values, const uint64_t* validity, int64_t n);

// Sorts keys[0, n) ascending in place with Highway's vectorised quicksort
// (VQSort; std::sort on the scalar target), as a total order: NaN with the
// sign bit set first, then -inf ... -0.0, 0.0 ... +inf, then the other NaN.
void SortDoubles(double* keys, int64_t n);

// Median and quantiles of the valid, non-NaN values: copies them into
// `scratch` (room for n doubles, need not be padded; left sorted, holding
// the returned number of values) and sorts them with SortDoubles: 1.3x
// faster than std::nth_element for a median of 9M values here, and any
// number of quantiles for one sort. q in [0, 1]; linear interpolation between the
// closest ranks (pandas' default), so an even count's median is the mean of
// the two middle values; an infinite neighbour wins the interpolation (-inf
// and +inf give NaN). Return the number of values used; when it is 0, the
// results are NaN.
int64_t Quantiles(const double* values, const uint64_t* validity, int64_t n, const double* qs,
                  int64_t num_qs, double* scratch, double* results);
int64_t Quantile(const double* values, const uint64_t* validity, int64_t n, double q,
                 double* scratch, double* result);
int64_t Median(const double* values, const uint64_t* validity, int64_t n, double* scratch,
               double* result);

// ------------------------------------------------- aggregates by group id
// For each valid row r with g = group_ids[r]: counts[g] += 1, sums[g] += v,
// mins[g] = min(mins[g], v), maxs[g] = max(maxs[g], v). The arrays
// accumulate across calls (feed batches): start counts and sums at 0, mins at
// +inf / INT64_MAX and maxs at -inf / INT64_MIN. Any of the four may be
// nullptr to skip that aggregate. Every group_ids[r] (null rows included)
// must index the arrays. Doubles: sums are sequential (no compensation), NaN
// is counted and summed but skipped by min/max. Int64 sums wrap on overflow
// (two's complement). Scalar.
void GroupAggregate(const uint32_t* group_ids, const double* values, const uint64_t* validity,
                    int64_t n, int64_t* counts, double* sums, double* mins, double* maxs);
void GroupAggregate(const uint32_t* group_ids, const int64_t* values, const uint64_t* validity,
                    int64_t n, int64_t* counts, int64_t* sums, int64_t* mins, int64_t* maxs);

// ---------------------------------------------------------------- selections
// Write BitmapWords(n) words into `out` (bits past n cleared); null rows get
// 0. `out` must not be nullptr.

struct RangeCounts {
  int64_t selected = 0;      // valid rows with lo <= v <= hi
  int64_t out_of_range = 0;  // valid rows outside [lo, hi] (NaN included)
};
// Bit r = valid(r) && lo <= values[r] <= hi (inclusive; lo > hi selects none).
RangeCounts SelectRange(const int64_t* values, const uint64_t* validity, int64_t n, int64_t lo,
                        int64_t hi, uint64_t* out);
RangeCounts SelectRange(const double* values, const uint64_t* validity, int64_t n, double lo,
                        double hi, uint64_t* out);

// Bit r = valid(r) && values[r] is one of set[0..set_size). One vector
// compare per set element and row: meant for small sets (up to a few dozen;
// hash larger ones). Duplicates in `set` are harmless. Returns the number of
// selected rows.
int64_t SelectIn(const int64_t* values, const uint64_t* validity, int64_t n, const int64_t* set,
                 int64_t set_size, uint64_t* out);

// ---------------------------------------------------------------- hashing
// out[r] = a 64-bit hash of row r (murmur3's fmix64 avalanche of the value
// bits); null rows hash to kNullHash. Equal values hash equal: for doubles
// -0.0 hashes as 0.0 and every NaN as the one canonical quiet NaN. Stable
// across targets and runs (no seed), but not across versions of this module.
inline constexpr uint64_t kNullHash = 0x6e756c6c6e756c6cULL;  // "nullnull"
void Hash(const int64_t* values, const uint64_t* validity, int64_t n, uint64_t* out);
void Hash(const double* values, const uint64_t* validity, int64_t n, uint64_t* out);
void Hash(const uint8_t* values, const uint64_t* validity, int64_t n, uint64_t* out);
// XXH3_64bits of each string's bytes (scalar); null rows hash to kNullHash.
void HashStrings(const uint32_t* offsets, const char* chars, const uint64_t* validity, int64_t n,
                 uint64_t* out);
// acc[r] = mix(acc[r], h[r]): order-sensitive, so row hashes over columns
// c1, c2, ... are: acc = hash(c1), then CombineHashes(acc, hash(ci)).
// Neither array needs padding; they must not overlap.
void CombineHashes(uint64_t* acc, const uint64_t* h, int64_t n);

// ------------------------------------------------------------- transforms
// Elementwise over doubles: out[r] = f(values[r]) for valid rows, 0 for null
// rows (the validity bitmap is passed through unchanged by the caller).
// n elements written; out may be values.

// (x - mean) / sd, IEEE division (sd == 0 gives +-inf or NaN).
void Standardize(const double* values, const uint64_t* validity, int64_t n, double mean, double sd,
                 double* out);
// (x - min) / (max - min); when max == min every valid row maps to 0
// (scikit-learn's MinMaxScaler).
void MinMaxScale(const double* values, const uint64_t* validity, int64_t n, double min, double max,
                 double* out);
// log(1 + x) (Highway's Log1p, within 4 ulp of std::log1p); -1 -> -inf,
// x < -1 -> NaN, +inf -> +inf.
void Log1p(const double* values, const uint64_t* validity, int64_t n, double* out);
// min(max(x, lo), hi); NaN stays NaN. Requires lo <= hi.
void Clip(const double* values, const uint64_t* validity, int64_t n, double lo, double hi,
          double* out);
// max(x, c); NaN stays NaN.
void MaxWith(const double* values, const uint64_t* validity, int64_t n, double c, double* out);

// out[r] = number of bounds b with b <= x (numpy.digitize(x, bounds),
// right=False): bucket 0 is x < bounds[0], bucket k is
// bounds[k-1] <= x < bounds[k], bucket num_bounds is x >= the last bound.
// NaN sorts last (bucket num_bounds). Null rows get 0. `bounds` ascending,
// no NaN, need no padding. One compare per bound up to 32 bounds, a binary
// search per row beyond.
void Bucketize(const double* values, const uint64_t* validity, int64_t n, const double* bounds,
               int64_t num_bounds, int64_t* out);

// out[r] = double(values[r]) rounded to nearest-even (as static_cast) for
// valid rows, 0 for null rows; n elements.
void CastInt64ToDouble(const int64_t* values, const uint64_t* validity, int64_t n, double* out);

// ------------------------------------------------------------- linear algebra
// Dense doubles, no validity (the model solvers' inner loops). Unlike the
// column kernels above, these read exactly n values: no padding needed.

// sum of a[i].
double Total(const double* a, int64_t n);
// out[k] = sum of a[i] * bk[i], k = 0..3, in one pass over a.
void Dot4(const double* a, const double* b0, const double* b1, const double* b2, const double* b3, int64_t n,
          double* out);

// sum of a[i] * b[i] (four running sums, fused multiply-add).
double Dot(const double* a, const double* b, int64_t n);
// y[i] += alpha * x[i].
void Axpy(double alpha, const double* x, double* y, int64_t n);
// out[i] = a[i] * b[i]; out may be a or b.
void Multiply(const double* a, const double* b, double* out, int64_t n);
// The terms of the binary logistic loss at margins z for labels y (0 or 1)
// and sample weights s (nullptr: all 1): writes r[i] = s (p - y) and
// h[i] = s p (1 - p) with p = sigmoid(z[i]), and returns
// sum s (log(1 + e^z) - y z), computed without overflow.
double LogisticTerms(const double* z, const double* y, const double* s, int64_t n, double* r, double* h);
// out[i] = 1 / (1 + e^-z[i]), without overflow; out may be z.
void Sigmoid(const double* z, double* out, int64_t n);

}  // namespace pipeline::kernels
