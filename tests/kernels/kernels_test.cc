// Every kernel against a plain scalar reference, on every SIMD target this
// build compiled and the CPU supports (hwy::TestWithParamTarget forces each
// one through SetSupportedTargetsForTest, so HWY_DYNAMIC_DISPATCH in the
// library picks it). Inputs carry garbage in their padding and in null
// slots; outputs are sized exactly, so ASan catches a kernel writing past
// its contract.

#include "kernels/kernels.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "hwy/targets.h"
#include "hwy/tests/hwy_gtest.h"

namespace pipeline::kernels {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMax = std::numeric_limits<double>::max();
constexpr double kDenormal = std::numeric_limits<double>::denorm_min();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

constexpr int64_t kLengths[] = {0, 1, 63, 64, 65, 1000, 4099};
constexpr int64_t kOffsets[] = {0, 1, 3};  // elements past an aligned start

enum class Nulls { kNoBitmap, kNoNulls, kAllNull, kRandom, kMostlyNull };
constexpr Nulls kNullPatterns[] = {Nulls::kNoBitmap, Nulls::kNoNulls, Nulls::kAllNull,
                                   Nulls::kRandom, Nulls::kMostlyNull};

struct Case {
  int64_t n;
  int64_t offset;
  Nulls nulls;
  std::string Name() const {
    return "n=" + std::to_string(n) + " offset=" + std::to_string(offset) +
           " nulls=" + std::to_string(static_cast<int>(nulls));
  }
};

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int64_t n : kLengths) {
    for (int64_t offset : kOffsets) {
      for (Nulls nulls : kNullPatterns) cases.push_back({n, offset, nulls});
    }
  }
  return cases;
}

// An input array as a kernel sees it: starting `offset` elements past an
// aligned allocation, followed by 64 bytes of garbage padding.
template <typename T>
class Input {
 public:
  Input(const std::vector<T>& values, int64_t offset)
      : offset_(offset), storage_(values.size() + offset + 64 / sizeof(T) + 1) {
    std::memset(storage_.data(), 0xFF, storage_.size() * sizeof(T));  // NaN, -1, 255
    std::copy(values.begin(), values.end(), storage_.begin() + offset);
  }
  const T* data() const { return storage_.data() + offset_; }

 private:
  int64_t offset_;
  std::vector<T> storage_;
};

// Validity (or selection) bits, exactly BitmapWords(n) words, bits past n 0.
class Bits {
 public:
  Bits() = default;
  explicit Bits(std::vector<bool> bits) : n_(static_cast<int64_t>(bits.size())) {
    words_.assign(static_cast<size_t>(BitmapWords(n_)), 0);
    for (int64_t row = 0; row < n_; ++row) {
      if (bits[row]) words_[row / 64] |= uint64_t{1} << (row % 64);
    }
  }
  bool operator[](int64_t row) const { return (words_[row / 64] >> (row % 64)) & 1; }
  const uint64_t* data() const { return words_.empty() ? &empty_ : words_.data(); }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  int64_t n_ = 0;
  std::vector<uint64_t> words_;
  uint64_t empty_ = 0;
};

Bits RandomBits(int64_t n, double p_one, std::mt19937_64& rng) {
  std::bernoulli_distribution coin(p_one);
  std::vector<bool> bits(static_cast<size_t>(n));
  for (int64_t row = 0; row < n; ++row) bits[row] = coin(rng);
  return Bits(bits);
}

// The validity of a case; `validity` is nullptr for kNoBitmap.
struct Validity {
  Bits bits;
  const uint64_t* ptr = nullptr;
  bool IsValid(int64_t row) const { return ptr == nullptr || bits[row]; }
};

Validity MakeValidity(const Case& c, std::mt19937_64& rng) {
  Validity v;
  switch (c.nulls) {
    case Nulls::kNoBitmap:
      return v;
    case Nulls::kNoNulls:
      v.bits = RandomBits(c.n, 1.0, rng);
      break;
    case Nulls::kAllNull:
      v.bits = RandomBits(c.n, 0.0, rng);
      break;
    case Nulls::kRandom:
      v.bits = RandomBits(c.n, 0.7, rng);
      break;
    case Nulls::kMostlyNull:
      v.bits = RandomBits(c.n, 0.03, rng);
      break;
  }
  v.ptr = v.bits.data();
  return v;
}

// Full-range values, small ones, and the extremes.
std::vector<int64_t> Int64Values(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> values(static_cast<size_t>(n));
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int64_t> small(-1000, 1000);
  for (auto& value : values) {
    switch (kind(rng)) {
      case 0: value = kI64Min; break;
      case 1: value = kI64Max; break;
      case 2: value = 0; break;
      case 3:
      case 4:
      case 5: value = small(rng); break;
      default: value = static_cast<int64_t>(rng()); break;
    }
  }
  return values;
}

// Finite doubles over many magnitudes (sums of up to 4099 stay finite),
// -0.0 and denormals; with `specials` also +-inf, NaN and +-DBL_MAX.
std::vector<double> DoubleValues(int64_t n, std::mt19937_64& rng, bool specials) {
  std::vector<double> values(static_cast<size_t>(n));
  std::uniform_int_distribution<int> kind(0, 19);
  std::uniform_int_distribution<int> exponent(-300, 299);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& value : values) {
    switch (kind(rng)) {
      case 0: value = -0.0; break;
      case 1: value = kDenormal * (1 + static_cast<int>(rng() % 5)); break;
      case 2: value = normal(rng) * std::pow(10.0, exponent(rng)); break;
      case 3: value = specials ? kInf : 1e300; break;
      case 4: value = specials ? -kInf : -1e300; break;
      case 5: value = specials ? kNaN : 0.0; break;
      case 6: value = specials ? kMax : 1.0; break;
      case 7: value = specials ? -kMax : -1.0; break;
      default: value = normal(rng) * 1000 + 10; break;
    }
  }
  return values;
}

// Null slots get garbage: kernels must not read them as data.
template <typename T>
void SpoilNullSlots(std::vector<T>& values, const Validity& validity, T garbage) {
  for (int64_t row = 0; row < static_cast<int64_t>(values.size()); ++row) {
    if (!validity.IsValid(row)) values[row] = garbage;
  }
}

// Prints the targets the suite runs on (each TEST_P runs once per target).
class PrintTargets : public ::testing::Environment {
 public:
  void SetUp() override {
    std::printf("SIMD targets under test:");
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) std::printf(" %s", hwy::TargetName(target));
    std::printf(" (CPU's best: %s)\n", TargetName());
  }
};
[[maybe_unused]] ::testing::Environment* const kPrintTargets =
    ::testing::AddGlobalTestEnvironment(new PrintTargets);

bool SameDouble(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

class KernelsTest : public hwy::TestWithParamTarget {
 protected:
  void SetUp() override {
    hwy::TestWithParamTarget::SetUp();
    ASSERT_STREQ(hwy::TargetName(GetParam()), TargetName()) << "dispatch did not follow";
  }
  std::mt19937_64 rng_{20240611};
};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(KernelsTest);

// ------------------------------------------------------------ bitmaps

TEST_P(KernelsTest, CountsMatchPerBitReference) {
  // Given random bitmaps of every length, then popcounts match bit by bit.
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    int64_t valid = 0;
    for (int64_t row = 0; row < c.n; ++row) valid += validity.IsValid(row);
    EXPECT_EQ(valid, CountValid(validity.ptr, c.n));
    EXPECT_EQ(c.n - valid, CountNulls(validity.ptr, c.n));
    if (validity.ptr != nullptr) {
      EXPECT_EQ(valid, CountSet(validity.ptr, c.n));
    }
  }
}

TEST_P(KernelsTest, CountSetIgnoresBitsPastLength) {
  // Given words with every bit set, then only the first n bits count.
  const std::vector<uint64_t> ones(70, ~uint64_t{0});
  for (int64_t n : {0, 1, 63, 64, 65, 1000, 4099}) EXPECT_EQ(n, CountSet(ones.data(), n));
}

TEST_P(KernelsTest, BitmapOpsMatchReference) {
  // Given two bitmaps (or nullptr = all ones), then and/or/andnot/not per bit
  // and no bit set past n.
  for (int64_t n : kLengths) {
    SCOPED_TRACE(n);
    const Bits a = RandomBits(n, 0.5, rng_);
    const Bits b = RandomBits(n, 0.3, rng_);
    for (int mode = 0; mode < 4; ++mode) {  // which operands are nullptr
      const uint64_t* pa = (mode & 1) ? nullptr : a.data();
      const uint64_t* pb = (mode & 2) ? nullptr : b.data();
      const auto bit = [](const uint64_t* p, const Bits& bits, int64_t row) {
        return p == nullptr || bits[row];
      };
      std::vector<uint64_t> and_out(BitmapWords(n)), or_out(BitmapWords(n)),
          andnot_out(BitmapWords(n)), not_out(BitmapWords(n));
      BitmapAnd(pa, pb, and_out.data(), n);
      BitmapOr(pa, pb, or_out.data(), n);
      BitmapAndNot(pa, pb, andnot_out.data(), n);
      BitmapNot(pa, not_out.data(), n);
      for (int64_t row = 0; row < BitmapWords(n) * 64; ++row) {
        const auto get = [row](const std::vector<uint64_t>& w) { return (w[row / 64] >> (row % 64)) & 1; };
        const bool in = row < n;
        const bool x = in && bit(pa, a, row);
        const bool y = in && bit(pb, b, row);
        ASSERT_EQ(x && y, get(and_out)) << "and row " << row << " mode " << mode;
        ASSERT_EQ(x || y, get(or_out)) << "or row " << row << " mode " << mode;
        ASSERT_EQ(x && !y, get(andnot_out)) << "andnot row " << row << " mode " << mode;
        ASSERT_EQ(in && !x, get(not_out)) << "not row " << row << " mode " << mode;
      }
    }
  }
}

TEST_P(KernelsTest, BitmapOpsInPlace) {
  // Given out == a, then the result is as with a separate output.
  const int64_t n = 1000;
  const Bits a = RandomBits(n, 0.5, rng_);
  const Bits b = RandomBits(n, 0.5, rng_);
  std::vector<uint64_t> expected(BitmapWords(n)), inplace = a.words();
  BitmapAnd(a.data(), b.data(), expected.data(), n);
  BitmapAnd(inplace.data(), b.data(), inplace.data(), n);
  EXPECT_EQ(expected, inplace);
}

// ------------------------------------------------------------ compaction

std::vector<Bits> Selections(int64_t n, std::mt19937_64& rng) {
  std::vector<bool> alternate(static_cast<size_t>(n));
  for (int64_t row = 0; row < n; ++row) alternate[row] = row % 2 == 0;
  return {RandomBits(n, 0.0, rng), RandomBits(n, 1.0, rng), RandomBits(n, 0.5, rng),
          RandomBits(n, 0.95, rng), RandomBits(n, 0.05, rng), Bits(alternate)};
}

template <typename T>
void CheckCompact(const std::vector<T>& values, int64_t offset, const Bits& selection) {
  const int64_t n = static_cast<int64_t>(values.size());
  std::vector<T> expected;
  for (int64_t row = 0; row < n; ++row) {
    if (selection[row]) expected.push_back(values[row]);
  }
  const Input<T> input(values, offset);
  std::vector<T> out(expected.size());  // exactly m: ASan checks the bound
  ASSERT_EQ(static_cast<int64_t>(expected.size()), Compact(input.data(), selection.data(), n, out.data()));
  if (!expected.empty()) {
    ASSERT_EQ(0, std::memcmp(expected.data(), out.data(), expected.size() * sizeof(T)));
  }
}

TEST_P(KernelsTest, CompactKeepsSelectedRowsInOrder) {
  // Given values and selections from none to all, then Compact returns the
  // selected values in order and writes nothing past them.
  for (int64_t n : kLengths) {
    for (int64_t offset : kOffsets) {
      SCOPED_TRACE("n=" + std::to_string(n) + " offset=" + std::to_string(offset));
      const std::vector<int64_t> ints = Int64Values(n, rng_);
      const std::vector<double> doubles = DoubleValues(n, rng_, true);
      std::vector<uint8_t> bytes(static_cast<size_t>(n));
      for (auto& byte : bytes) byte = static_cast<uint8_t>(rng_());
      for (const Bits& selection : Selections(n, rng_)) {
        CheckCompact(ints, offset, selection);
        CheckCompact(doubles, offset, selection);
        CheckCompact(bytes, offset, selection);
      }
    }
  }
}

TEST_P(KernelsTest, CompactBitmapPacksSelectedBits) {
  // Given a validity bitmap (or nullptr) and selections, then the output
  // holds the selected rows' bits, packed, with nothing past m.
  for (int64_t n : kLengths) {
    SCOPED_TRACE(n);
    const Bits bits = RandomBits(n, 0.6, rng_);
    for (const Bits& selection : Selections(n, rng_)) {
      for (bool all_valid : {false, true}) {
        std::vector<bool> expected;
        for (int64_t row = 0; row < n; ++row) {
          if (selection[row]) expected.push_back(all_valid || bits[row]);
        }
        const int64_t m = static_cast<int64_t>(expected.size());
        std::vector<uint64_t> out(BitmapWords(m));
        ASSERT_EQ(m, CompactBitmap(all_valid ? nullptr : bits.data(), selection.data(), n, out.data()));
        EXPECT_EQ(Bits(expected).words(), out);
      }
    }
  }
}

TEST_P(KernelsTest, CompactStringsCopiesSelectedBytes) {
  // Given strings of 0..20 bytes, then offsets restart at 0 and bytes follow.
  for (int64_t n : kLengths) {
    SCOPED_TRACE(n);
    std::vector<std::string> strings(static_cast<size_t>(n));
    std::vector<uint32_t> offsets{0};
    std::string chars;
    for (auto& s : strings) {
      s = std::string(rng_() % 21, static_cast<char>('a' + rng_() % 26));
      chars += s;
      offsets.push_back(static_cast<uint32_t>(chars.size()));
    }
    for (const Bits& selection : Selections(n, rng_)) {
      std::vector<uint32_t> expected_offsets{0};
      std::string expected_chars;
      for (int64_t row = 0; row < n; ++row) {
        if (!selection[row]) continue;
        expected_chars += strings[row];
        expected_offsets.push_back(static_cast<uint32_t>(expected_chars.size()));
      }
      std::vector<uint32_t> out_offsets(expected_offsets.size());
      std::string out_chars(expected_chars.size(), '\0');
      EXPECT_EQ(static_cast<int64_t>(expected_offsets.size()) - 1,
                CompactStrings(offsets.data(), chars.data(), selection.data(), n, out_offsets.data(),
                               out_chars.data()));
      EXPECT_EQ(expected_offsets, out_offsets);
      EXPECT_EQ(expected_chars, out_chars);
    }
  }
}

// ------------------------------------------------------------ min / max

TEST_P(KernelsTest, MinMaxInt64SkipsNulls) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<int64_t> values = Int64Values(c.n, rng_);
    SpoilNullSlots(values, validity, kI64Min);
    Int64MinMax expected;
    for (int64_t row = 0; row < c.n; ++row) {
      if (!validity.IsValid(row)) continue;
      expected.min = expected.any ? std::min(expected.min, values[row]) : values[row];
      expected.max = expected.any ? std::max(expected.max, values[row]) : values[row];
      expected.any = true;
    }
    const Input<int64_t> input(values, c.offset);
    const Int64MinMax actual = MinMax(input.data(), validity.ptr, c.n);
    EXPECT_EQ(expected.any, actual.any);
    EXPECT_EQ(expected.min, actual.min);
    EXPECT_EQ(expected.max, actual.max);
  }
}

TEST_P(KernelsTest, MinMaxDoubleSkipsNullsAndNaN) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<double> values = DoubleValues(c.n, rng_, true);
    SpoilNullSlots(values, validity, -kInf);
    DoubleMinMax expected;
    for (int64_t row = 0; row < c.n; ++row) {
      if (!validity.IsValid(row) || std::isnan(values[row])) continue;
      expected.min = expected.any ? std::min(expected.min, values[row]) : values[row];
      expected.max = expected.any ? std::max(expected.max, values[row]) : values[row];
      expected.any = true;
    }
    const Input<double> input(values, c.offset);
    const DoubleMinMax actual = MinMax(input.data(), validity.ptr, c.n);
    EXPECT_EQ(expected.any, actual.any);
    EXPECT_EQ(expected.min, actual.min);  // -0.0 == 0.0
    EXPECT_EQ(expected.max, actual.max);
  }
}

TEST_P(KernelsTest, MinMaxOfOnlyNaNHasNoValue) {
  const std::vector<double> nans(100, kNaN);
  const Input<double> input(nans, 0);
  EXPECT_FALSE(MinMax(input.data(), nullptr, 100).any);
}

TEST_P(KernelsTest, MinMaxOfExtremes) {
  const std::vector<int64_t> ints{kI64Max, kI64Min, 0};
  const Input<int64_t> int_input(ints, 1);
  const Int64MinMax i = MinMax(int_input.data(), nullptr, 3);
  EXPECT_EQ(kI64Min, i.min);
  EXPECT_EQ(kI64Max, i.max);
  const std::vector<int64_t> only_max{kI64Max};
  EXPECT_EQ(kI64Max, MinMax(Input<int64_t>(only_max, 0).data(), nullptr, 1).min);
  const std::vector<double> doubles{kNaN, -kInf, kInf, kNaN};
  const DoubleMinMax d = MinMax(Input<double>(doubles, 0).data(), nullptr, 4);
  EXPECT_EQ(-kInf, d.min);
  EXPECT_EQ(kInf, d.max);
}

// ------------------------------------------------------------ sums

long double RefSum(const std::vector<double>& values, const Validity& validity, bool squares) {
  long double sum = 0;
  for (int64_t row = 0; row < static_cast<int64_t>(values.size()); ++row) {
    if (!validity.IsValid(row)) continue;
    const long double x = values[row];
    sum += squares ? x * x : x;
  }
  return sum;
}

TEST_P(KernelsTest, SumsOfDoublesMatchLongDouble) {
  // Given finite values over 600 decades, then the error is within 1e-13 of
  // the sum of magnitudes.
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<double> values = DoubleValues(c.n, rng_, false);
    for (double& value : values) value = std::clamp(value, -1e150, 1e150);  // squares stay finite
    SpoilNullSlots(values, validity, kNaN);
    const Input<double> input(values, c.offset);
    std::vector<double> abs_values(values);
    for (double& value : abs_values) value = std::fabs(value);
    const long double magnitude = RefSum(abs_values, validity, false);
    EXPECT_NEAR(RefSum(values, validity, false), Sum(input.data(), validity.ptr, c.n), 1e-13 * magnitude);
    EXPECT_NEAR(RefSum(values, validity, true), SumSquares(input.data(), validity.ptr, c.n),
                1e-13 * RefSum(values, validity, true));
  }
}

TEST_P(KernelsTest, SumsPropagateInfAndNaN) {
  const std::vector<double> with_inf{1, kInf, 2};
  EXPECT_EQ(kInf, Sum(Input<double>(with_inf, 0).data(), nullptr, 3));
  const std::vector<double> both_inf{kInf, 1, -kInf};
  EXPECT_TRUE(std::isnan(Sum(Input<double>(both_inf, 0).data(), nullptr, 3)));
  const std::vector<double> with_nan(3000, 1.0);
  std::vector<double> nan_inside(with_nan);
  nan_inside[2999] = kNaN;
  EXPECT_TRUE(std::isnan(Sum(Input<double>(nan_inside, 0).data(), nullptr, 3000)));
  EXPECT_EQ(0.0, Sum(Input<double>(with_nan, 0).data(), Bits(std::vector<bool>(3000)).data(), 3000));
}

TEST_P(KernelsTest, Int64SumIsExact) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<int64_t> values = Int64Values(c.n, rng_);
    SpoilNullSlots(values, validity, kI64Max);
    __int128 exact = 0;
    long double squares = 0;
    for (int64_t row = 0; row < c.n; ++row) {
      if (!validity.IsValid(row)) continue;
      exact += values[row];
      squares += static_cast<long double>(static_cast<double>(values[row])) * static_cast<double>(values[row]);
    }
    const Input<int64_t> input(values, c.offset);
    EXPECT_EQ(static_cast<double>(exact), Sum(input.data(), validity.ptr, c.n));
    EXPECT_NEAR(squares, SumSquares(input.data(), validity.ptr, c.n), 1e-13 * squares);
    int64_t checked = 12345;
    const bool fits = exact >= kI64Min && exact <= kI64Max;
    EXPECT_EQ(fits, SumChecked(input.data(), validity.ptr, c.n, &checked));
    EXPECT_EQ(fits ? static_cast<int64_t>(exact) : 12345, checked);
  }
}

TEST_P(KernelsTest, SumCheckedDetectsOverflowOfTwoMaxima) {
  const std::vector<int64_t> values{kI64Max, 1};
  int64_t sum = 0;
  EXPECT_FALSE(SumChecked(Input<int64_t>(values, 0).data(), nullptr, 2, &sum));
  const std::vector<int64_t> cancel{kI64Max, kI64Max, kI64Min, kI64Min, 5};
  EXPECT_TRUE(SumChecked(Input<int64_t>(cancel, 0).data(), nullptr, 5, &sum));
  EXPECT_EQ(3, sum);
}

struct RefMoments {
  int64_t count = 0;
  long double mean = 0;
  long double variance = 0;
};

// Long double, with an exact int64 sum (a long double sum of 60 timestamps
// near 2^60 would already be off by units).
template <typename T>
RefMoments ReferenceMoments(const std::vector<T>& values, const Validity& validity) {
  RefMoments m;
  long double sum = 0;
  __int128 exact = 0;
  for (int64_t row = 0; row < static_cast<int64_t>(values.size()); ++row) {
    if (validity.IsValid(row)) {
      sum += static_cast<long double>(values[row]);
      if constexpr (std::is_integral_v<T>) exact += values[row];
      ++m.count;
    }
  }
  if (m.count == 0) return m;
  m.mean = sum / m.count;
  // int64: mean = base + fraction, deviations taken from base in 128 bits
  // (a long double mean near 2^60 is only good to 0.125).
  const int64_t base = static_cast<int64_t>(exact / m.count);
  const long double fraction = static_cast<long double>(static_cast<int64_t>(exact % m.count)) / m.count;
  if constexpr (std::is_integral_v<T>) m.mean = static_cast<long double>(base) + fraction;
  long double squares = 0;
  for (int64_t row = 0; row < static_cast<int64_t>(values.size()); ++row) {
    if (validity.IsValid(row)) {
      long double dev = static_cast<long double>(values[row]) - m.mean;
      if constexpr (std::is_integral_v<T>) {
        dev = static_cast<long double>(static_cast<__int128>(values[row]) - base) - fraction;
      }
      squares += dev * dev;
    }
  }
  if (m.count > 1) m.variance = squares / (m.count - 1);
  return m;
}

template <typename T>
void ExpectMoments(const RefMoments& expected, const Moments& actual, double tolerance) {
  EXPECT_EQ(expected.count, actual.count);
  if (expected.count == 0) {
    EXPECT_TRUE(std::isnan(actual.mean));
  } else {
    EXPECT_NEAR(static_cast<double>(expected.mean), actual.mean,
                tolerance * std::fabs(static_cast<double>(expected.mean)) + 1e-300);
  }
  if (expected.count < 2) {
    EXPECT_TRUE(std::isnan(actual.variance));
  } else {
    EXPECT_NEAR(static_cast<double>(expected.variance), actual.variance,
                tolerance * static_cast<double>(expected.variance));
  }
}

TEST_P(KernelsTest, MomentsMatchLongDoubleTwoPass) {
  // Given values with an offset of 1e9 and a spread of 1000 (doubles) or
  // timestamps in ns (int64), then mean and variance match to 1e-12.
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::normal_distribution<double> normal(1e9, 1000);
    std::vector<double> doubles(static_cast<size_t>(c.n));
    for (double& value : doubles) value = normal(rng_);
    std::vector<int64_t> stamps(static_cast<size_t>(c.n));
    for (int64_t& stamp : stamps) stamp = int64_t{1'700'000'000'000'000'000} + static_cast<int64_t>(rng_() % 1000);
    SpoilNullSlots(doubles, validity, kNaN);
    SpoilNullSlots(stamps, validity, kI64Min);
    ExpectMoments<double>(ReferenceMoments(doubles, validity),
                          ComputeMoments(Input<double>(doubles, c.offset).data(), validity.ptr, c.n), 1e-12);
    ExpectMoments<int64_t>(ReferenceMoments(stamps, validity),
                           ComputeMoments(Input<int64_t>(stamps, c.offset).data(), validity.ptr, c.n), 1e-12);
  }
}

TEST_P(KernelsTest, Int64MomentsOfExtremes) {
  // Given INT64_MIN/MAX mixed (differences overflow int64), then the
  // variance is still right.
  const std::vector<int64_t> values{kI64Min, kI64Max, kI64Max, 0, kI64Min + 1};
  const Validity all;
  ExpectMoments<int64_t>(ReferenceMoments(values, all),
                         ComputeMoments(Input<int64_t>(values, 0).data(), nullptr, 5), 1e-12);
  for (int64_t n : kLengths) {
    const std::vector<int64_t> random = Int64Values(n, rng_);
    ExpectMoments<int64_t>(ReferenceMoments(random, all),
                           ComputeMoments(Input<int64_t>(random, 1).data(), nullptr, n), 1e-12);
  }
}

TEST_P(KernelsTest, TenMillionValuesMatchLongDouble) {
  // Given 10M doubles (mean 100, sd 10), then sum, sum of squares, mean and
  // variance are within 1e-12 relative of the long-double reference.
  const int64_t n = 10'000'000;
  std::normal_distribution<double> normal(100, 10);
  std::vector<double> values(static_cast<size_t>(n));
  for (double& value : values) value = normal(rng_);
  const Input<double> input(values, 0);
  const Validity all;
  const long double sum = RefSum(values, all, false);
  EXPECT_NEAR(static_cast<double>(sum), Sum(input.data(), nullptr, n), 1e-12 * std::fabs(static_cast<double>(sum)));
  const long double squares = RefSum(values, all, true);
  EXPECT_NEAR(static_cast<double>(squares), SumSquares(input.data(), nullptr, n),
              1e-12 * static_cast<double>(squares));
  ExpectMoments<double>(ReferenceMoments(values, all), ComputeMoments(input.data(), nullptr, n), 1e-12);
}

// ------------------------------------------------------------ quantiles

TEST_P(KernelsTest, QuantilesMatchSortedReference) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<double> values = DoubleValues(c.n, rng_, true);
    SpoilNullSlots(values, validity, -1e308);
    std::vector<double> sorted;
    for (int64_t row = 0; row < c.n; ++row) {
      if (validity.IsValid(row) && !std::isnan(values[row])) sorted.push_back(values[row]);
    }
    std::sort(sorted.begin(), sorted.end());
    const Input<double> input(values, c.offset);
    std::vector<double> scratch(static_cast<size_t>(c.n));
    for (double q : {0.0, 0.25, 0.5, 0.9, 1.0}) {
      double result = 12345;
      ASSERT_EQ(static_cast<int64_t>(sorted.size()),
                Quantile(input.data(), validity.ptr, c.n, q, scratch.data(), &result));
      if (sorted.empty()) {
        EXPECT_TRUE(std::isnan(result));
        continue;
      }
      const long double position = q * (sorted.size() - 1);
      const size_t rank = static_cast<size_t>(position);
      const long double fraction = position - rank;
      long double expected = sorted[rank];
      if (fraction > 0) {
        const double a = sorted[rank], b = sorted[rank + 1];
        if (std::isinf(a) || std::isinf(b)) {  // an infinite neighbour wins; -inf..inf is NaN
          expected = a == b ? a : std::isinf(a) && std::isinf(b) ? kNaN : std::isinf(a) ? a : b;
        } else {
          expected += (static_cast<long double>(b) - a) * fraction;
        }
      }
      if (!std::isfinite(static_cast<double>(expected))) {
        EXPECT_TRUE(SameDouble(static_cast<double>(expected), result)) << q;
      } else {
        EXPECT_NEAR(static_cast<double>(expected), result, 1e-15 * std::fabs(static_cast<double>(expected)))
            << "q=" << q;
      }
    }
  }
}

TEST_P(KernelsTest, SortDoublesMatchesStdSort) {
  // Given values of every magnitude, infinities, -0.0 and duplicates, then
  // the order is std::sort's (-0.0 == 0.0).
  for (int64_t n : {0, 1, 2, 63, 64, 65, 1000, 4099, 100000}) {
    SCOPED_TRACE(n);
    std::vector<double> values = DoubleValues(n, rng_, true);
    for (double& value : values) {
      if (std::isnan(value)) value = 42;
    }
    std::vector<double> expected(values);
    std::sort(expected.begin(), expected.end());
    SortDoubles(values.data(), n);
    for (int64_t idx = 0; idx < n; ++idx) {
      ASSERT_EQ(expected[idx], values[idx]) << idx << " of " << n;
      if (idx > 0 && values[idx] == 0 && values[idx - 1] == 0) {
        ASSERT_LE(std::signbit(values[idx]), std::signbit(values[idx - 1])) << "-0.0 before 0.0";
      }
    }
  }
  // NaN: negative ones first, positive ones last, the payload kept.
  std::vector<double> with_nan{1.0, -kNaN, kInf, kNaN, -kInf, -0.0, 0.0};
  SortDoubles(with_nan.data(), 7);
  EXPECT_TRUE(std::isnan(with_nan[0]) && std::signbit(with_nan[0]));
  EXPECT_EQ(-kInf, with_nan[1]);
  EXPECT_TRUE(with_nan[2] == 0 && std::signbit(with_nan[2]));
  EXPECT_TRUE(with_nan[3] == 0 && !std::signbit(with_nan[3]));
  EXPECT_EQ(1.0, with_nan[4]);
  EXPECT_EQ(kInf, with_nan[5]);
  EXPECT_TRUE(std::isnan(with_nan[6]) && !std::signbit(with_nan[6]));
}

TEST_P(KernelsTest, QuantilesShareOneSort) {
  const std::vector<double> values{5, 1, kNaN, 4, 2, 3};
  const Bits validity(std::vector<bool>{true, true, true, true, false, true});
  const double qs[] = {0.0, 0.5, 1.0, 0.25};
  double results[4];
  std::vector<double> scratch(6);
  // Valid non-NaN: 5, 1, 4, 3 -> sorted 1 3 4 5.
  EXPECT_EQ(4, Quantiles(Input<double>(values, 0).data(), validity.data(), 6, qs, 4, scratch.data(), results));
  EXPECT_EQ(1, results[0]);
  EXPECT_EQ(3.5, results[1]);
  EXPECT_EQ(5, results[2]);
  EXPECT_EQ(2.5, results[3]);
  const Bits none(std::vector<bool>(6, false));
  EXPECT_EQ(0, Quantiles(Input<double>(values, 0).data(), none.data(), 6, qs, 4, scratch.data(), results));
  EXPECT_TRUE(std::isnan(results[0]) && std::isnan(results[3]));
}

TEST_P(KernelsTest, MedianOfEvenCountIsMeanOfMiddles) {
  const std::vector<double> values{4, 1, 3, 2, kNaN};
  std::vector<double> scratch(5);
  double median = 0;
  EXPECT_EQ(4, Median(Input<double>(values, 0).data(), nullptr, 5, scratch.data(), &median));
  EXPECT_EQ(2.5, median);
  const std::vector<double> huge{kMax, kMax};
  EXPECT_EQ(2, Median(Input<double>(huge, 0).data(), nullptr, 2, scratch.data(), &median));
  EXPECT_EQ(kMax, median);
  const std::vector<double> opposite{-kMax, kMax};
  Median(Input<double>(opposite, 0).data(), nullptr, 2, scratch.data(), &median);
  EXPECT_EQ(0.0, median);
}

// ------------------------------------------------------------ group by

TEST_P(KernelsTest, GroupAggregatesMatchReference) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    const int groups = 7;
    std::vector<uint32_t> ids(static_cast<size_t>(c.n));
    for (auto& id : ids) id = static_cast<uint32_t>(rng_() % groups);
    std::vector<double> doubles = DoubleValues(c.n, rng_, true);
    std::vector<int64_t> ints = Int64Values(c.n, rng_);
    SpoilNullSlots(doubles, validity, kNaN);
    SpoilNullSlots(ints, validity, kI64Min);

    std::vector<int64_t> counts(groups), expected_counts(groups);
    std::vector<double> sums(groups), mins(groups, kInf), maxs(groups, -kInf);
    std::vector<double> e_sums(groups), e_mins(groups, kInf), e_maxs(groups, -kInf);
    std::vector<int64_t> i_counts(groups), i_sums(groups), i_mins(groups, kI64Max), i_maxs(groups, kI64Min);
    std::vector<int64_t> ei_sums(groups), ei_mins(groups, kI64Max), ei_maxs(groups, kI64Min);
    for (int64_t row = 0; row < c.n; ++row) {
      if (!validity.IsValid(row)) continue;
      const uint32_t g = ids[row];
      ++expected_counts[g];
      e_sums[g] += doubles[row];
      if (!std::isnan(doubles[row])) {
        e_mins[g] = std::min(e_mins[g], doubles[row]);
        e_maxs[g] = std::max(e_maxs[g], doubles[row]);
      }
      ei_sums[g] = static_cast<int64_t>(static_cast<uint64_t>(ei_sums[g]) + static_cast<uint64_t>(ints[row]));
      ei_mins[g] = std::min(ei_mins[g], ints[row]);
      ei_maxs[g] = std::max(ei_maxs[g], ints[row]);
    }
    GroupAggregate(ids.data(), doubles.data(), validity.ptr, c.n, counts.data(), sums.data(), mins.data(),
                   maxs.data());
    GroupAggregate(ids.data(), ints.data(), validity.ptr, c.n, i_counts.data(), i_sums.data(), i_mins.data(),
                   i_maxs.data());
    EXPECT_EQ(expected_counts, counts);
    EXPECT_EQ(expected_counts, i_counts);
    for (int g = 0; g < groups; ++g) {
      EXPECT_TRUE(SameDouble(e_sums[g], sums[g])) << g;
      EXPECT_EQ(e_mins[g], mins[g]) << g;
      EXPECT_EQ(e_maxs[g], maxs[g]) << g;
    }
    EXPECT_EQ(ei_sums, i_sums);
    EXPECT_EQ(ei_mins, i_mins);
    EXPECT_EQ(ei_maxs, i_maxs);
    GroupAggregate(ids.data(), ints.data(), validity.ptr, c.n, nullptr, nullptr, nullptr, nullptr);
  }
}

// ------------------------------------------------------------ selections

TEST_P(KernelsTest, SelectRangeMatchesReference) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<int64_t> ints = Int64Values(c.n, rng_);
    std::vector<double> doubles = DoubleValues(c.n, rng_, true);
    SpoilNullSlots(ints, validity, int64_t{0});
    SpoilNullSlots(doubles, validity, 0.0);
    const Input<int64_t> int_input(ints, c.offset);
    const Input<double> double_input(doubles, c.offset);
    const std::pair<int64_t, int64_t> int_ranges[] = {
        {-500, 500}, {kI64Min, kI64Max}, {kI64Min, kI64Min}, {kI64Max, kI64Max}, {0, 0}, {5, -5}};
    for (auto [lo, hi] : int_ranges) {
      std::vector<bool> expected(static_cast<size_t>(c.n));
      RangeCounts counts;
      for (int64_t row = 0; row < c.n; ++row) {
        if (!validity.IsValid(row)) continue;
        expected[row] = lo <= ints[row] && ints[row] <= hi;
        ++(expected[row] ? counts.selected : counts.out_of_range);
      }
      std::vector<uint64_t> out(BitmapWords(c.n));
      const RangeCounts actual = SelectRange(int_input.data(), validity.ptr, c.n, lo, hi, out.data());
      EXPECT_EQ(Bits(expected).words(), out) << lo << ".." << hi;
      EXPECT_EQ(counts.selected, actual.selected);
      EXPECT_EQ(counts.out_of_range, actual.out_of_range);
    }
    const std::pair<double, double> double_ranges[] = {
        {-100, 100}, {-kInf, kInf}, {0.0, 0.0}, {-0.0, kDenormal}, {kMax, kInf}, {1, -1}, {-kMax, 1e-300}};
    for (auto [lo, hi] : double_ranges) {
      std::vector<bool> expected(static_cast<size_t>(c.n));
      RangeCounts counts;
      for (int64_t row = 0; row < c.n; ++row) {
        if (!validity.IsValid(row)) continue;
        expected[row] = lo <= doubles[row] && doubles[row] <= hi;
        ++(expected[row] ? counts.selected : counts.out_of_range);
      }
      std::vector<uint64_t> out(BitmapWords(c.n));
      const RangeCounts actual = SelectRange(double_input.data(), validity.ptr, c.n, lo, hi, out.data());
      EXPECT_EQ(Bits(expected).words(), out) << lo << ".." << hi;
      EXPECT_EQ(counts.selected, actual.selected);
      EXPECT_EQ(counts.out_of_range, actual.out_of_range);
    }
  }
}

TEST_P(KernelsTest, SelectInMatchesReference) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<int64_t> values = Int64Values(c.n, rng_);
    SpoilNullSlots(values, validity, int64_t{7});
    const Input<int64_t> input(values, c.offset);
    const std::vector<std::vector<int64_t>> sets = {
        {}, {7}, {kI64Min, kI64Max}, {0, 1, 2, 3, 7, 7, -5, 999, -1000}, {kI64Max, 0, 12, 13, 14, 15, 16, 17, 18}};
    for (const auto& set : sets) {
      std::vector<bool> expected(static_cast<size_t>(c.n));
      int64_t selected = 0;
      for (int64_t row = 0; row < c.n; ++row) {
        expected[row] = validity.IsValid(row) && std::count(set.begin(), set.end(), values[row]) > 0;
        selected += expected[row];
      }
      std::vector<uint64_t> out(BitmapWords(c.n));
      EXPECT_EQ(selected, SelectIn(input.data(), validity.ptr, c.n, set.data(),
                                   static_cast<int64_t>(set.size()), out.data()));
      EXPECT_EQ(Bits(expected).words(), out);
    }
  }
}

// ------------------------------------------------------------ hashing

uint64_t RefFmix(uint64_t x) {
  x ^= 0x9E3779B97F4A7C15ULL;
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  return x ^ (x >> 33);
}

uint64_t RefDoubleBits(double v) {
  if (std::isnan(v)) return 0x7FF8000000000000ULL;
  if (v == 0) return 0;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

TEST_P(KernelsTest, HashesMatchScalarMixer) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    const std::vector<int64_t> ints = Int64Values(c.n, rng_);
    const std::vector<double> doubles = DoubleValues(c.n, rng_, true);
    std::vector<uint8_t> bytes(static_cast<size_t>(c.n));
    for (auto& byte : bytes) byte = static_cast<uint8_t>(rng_());
    std::vector<uint64_t> expect_i(c.n), expect_d(c.n), expect_b(c.n);
    for (int64_t row = 0; row < c.n; ++row) {
      const bool valid = validity.IsValid(row);
      expect_i[row] = valid ? RefFmix(static_cast<uint64_t>(ints[row])) : kNullHash;
      expect_d[row] = valid ? RefFmix(RefDoubleBits(doubles[row])) : kNullHash;
      expect_b[row] = valid ? RefFmix(bytes[row]) : kNullHash;
    }
    std::vector<uint64_t> out(c.n);
    Hash(Input<int64_t>(ints, c.offset).data(), validity.ptr, c.n, out.data());
    EXPECT_EQ(expect_i, out);
    Hash(Input<double>(doubles, c.offset).data(), validity.ptr, c.n, out.data());
    EXPECT_EQ(expect_d, out);
    Hash(Input<uint8_t>(bytes, c.offset).data(), validity.ptr, c.n, out.data());
    EXPECT_EQ(expect_b, out);

    std::vector<uint64_t> acc = expect_i, expected_acc(c.n);
    for (int64_t row = 0; row < c.n; ++row) {
      uint64_t x = expect_i[row] * 0xC2B2AE3D27D4EB4FULL + expect_d[row];
      x ^= x >> 33;
      x *= 0xFF51AFD7ED558CCDULL;
      x ^= x >> 33;
      x *= 0xC4CEB9FE1A85EC53ULL;
      expected_acc[row] = x ^ (x >> 33);
    }
    CombineHashes(acc.data(), expect_d.data(), c.n);  // no padding on either
    EXPECT_EQ(expected_acc, acc);
  }
}

TEST_P(KernelsTest, EqualDoublesHashEqual) {
  const std::vector<double> values{0.0, -0.0, kNaN, -kNaN, std::nan("7"), 1.0};
  std::vector<uint64_t> out(values.size());
  Hash(Input<double>(values, 0).data(), nullptr, 6, out.data());
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[2], out[3]);
  EXPECT_EQ(out[2], out[4]);
  EXPECT_NE(out[0], out[5]);
  EXPECT_NE(out[0], out[2]);
}

TEST_P(KernelsTest, CombineIsOrderSensitive) {
  std::vector<uint64_t> ab{1, 2}, ba{2, 1};
  const std::vector<uint64_t> b{2, 1};
  const std::vector<uint64_t> a{1, 2};
  CombineHashes(ab.data(), Input<uint64_t>(b, 0).data(), 1);
  CombineHashes(ba.data(), Input<uint64_t>(a, 0).data(), 1);
  EXPECT_NE(ab[0], ba[0]);
}

TEST_P(KernelsTest, StringHashesAreXxh3) {
  const std::vector<std::string> strings{"", "a", "hello world", std::string(100, 'x'), ""};
  std::vector<uint32_t> offsets{0};
  std::string chars;
  for (const auto& s : strings) {
    chars += s;
    offsets.push_back(static_cast<uint32_t>(chars.size()));
  }
  const Bits validity(std::vector<bool>{true, true, true, true, false});
  std::vector<uint64_t> out(strings.size());
  HashStrings(offsets.data(), chars.data(), validity.data(), 5, out.data());
  for (int row = 0; row < 4; ++row) EXPECT_EQ(XXH3_64bits(strings[row].data(), strings[row].size()), out[row]);
  EXPECT_EQ(kNullHash, out[4]);
}

// ------------------------------------------------------------ transforms

// Runs a transform against a scalar reference; `ulps` 0 means bit-exact.
template <class Kernel, class Ref>
void CheckTransform(const std::vector<Case>& cases, std::mt19937_64& rng, const Kernel& kernel,
                    const Ref& ref, double ulps = 0) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng);
    std::vector<double> values = DoubleValues(c.n, rng, true);
    SpoilNullSlots(values, validity, kNaN);
    std::vector<double> out(static_cast<size_t>(c.n));
    kernel(Input<double>(values, c.offset).data(), validity.ptr, c.n, out.data());
    for (int64_t row = 0; row < c.n; ++row) {
      const double expected = validity.IsValid(row) ? ref(values[row]) : 0.0;
      if (ulps == 0 || !std::isfinite(expected) || expected == 0) {
        ASSERT_TRUE(SameDouble(expected, out[row])) << "x=" << values[row] << " got " << out[row]
                                                    << " want " << expected;
      } else {
        ASSERT_NEAR(expected, out[row], ulps * std::numeric_limits<double>::epsilon() * std::fabs(expected))
            << "x=" << values[row];
      }
    }
  }
}

TEST_P(KernelsTest, StandardizeIsExactDivision) {
  for (double sd : {1000.0, 0.0, 1e-300}) {
    CheckTransform(
        AllCases(), rng_,
        [sd](const double* v, const uint64_t* valid, int64_t n, double* out) {
          Standardize(v, valid, n, 10.0, sd, out);
        },
        [sd](double x) { return (x - 10.0) / sd; });
  }
}

TEST_P(KernelsTest, MinMaxScaleIsExactAndZeroForAnEmptyRange) {
  CheckTransform(
      AllCases(), rng_,
      [](const double* v, const uint64_t* valid, int64_t n, double* out) {
        MinMaxScale(v, valid, n, -50, 150, out);
      },
      [](double x) { return (x + 50) / 200; });
  CheckTransform(
      AllCases(), rng_,
      [](const double* v, const uint64_t* valid, int64_t n, double* out) { MinMaxScale(v, valid, n, 3, 3, out); },
      [](double) { return 0.0; });
}

TEST_P(KernelsTest, Log1pWithinFourUlpOfLibm) {
  CheckTransform(
      AllCases(), rng_, [](const double* v, const uint64_t* valid, int64_t n, double* out) { Log1p(v, valid, n, out); },
      [](double x) { return std::log1p(x); }, 4);
}

TEST_P(KernelsTest, Log1pEdges) {
  // Given the domain's edges and values in (-1, 1), then as std::log1p.
  std::vector<double> values{-1.0, -1.5, -kInf, kInf, kNaN, -0.0, 0.0, kDenormal, -kDenormal, kMax,
                             -0.9999999999999999, 1e-17, -1e-17, 0.5, -0.5};
  std::uniform_real_distribution<double> unit(-1, 1);
  for (int idx = 0; idx < 5000; ++idx) values.push_back(unit(rng_));
  std::vector<double> out(values.size());
  Log1p(Input<double>(values, 0).data(), nullptr, static_cast<int64_t>(values.size()), out.data());
  for (size_t idx = 0; idx < values.size(); ++idx) {
    const double expected = std::log1p(values[idx]);
    if (!std::isfinite(expected) || expected == 0) {
      EXPECT_TRUE(SameDouble(expected, out[idx])) << values[idx] << " -> " << out[idx];
      if (!std::isnan(expected)) {
        EXPECT_EQ(std::signbit(expected), std::signbit(out[idx])) << values[idx];
      }
    } else {
      EXPECT_NEAR(expected, out[idx], 4 * std::numeric_limits<double>::epsilon() * std::fabs(expected))
          << values[idx];
    }
  }
}

TEST_P(KernelsTest, ClipAndMaxWithKeepNaN) {
  CheckTransform(
      AllCases(), rng_,
      [](const double* v, const uint64_t* valid, int64_t n, double* out) { Clip(v, valid, n, -100, 1e200, out); },
      [](double x) { return std::isnan(x) ? x : std::min(std::max(x, -100.0), 1e200); });
  CheckTransform(
      AllCases(), rng_,
      [](const double* v, const uint64_t* valid, int64_t n, double* out) { Clip(v, valid, n, -kInf, 0, out); },
      [](double x) { return std::isnan(x) ? x : std::min(x, 0.0); });
  CheckTransform(
      AllCases(), rng_,
      [](const double* v, const uint64_t* valid, int64_t n, double* out) { MaxWith(v, valid, n, 1e-300, out); },
      [](double x) { return std::isnan(x) ? x : std::max(x, 1e-300); });
}

TEST_P(KernelsTest, TransformsWorkInPlace) {
  const int64_t n = 1000;
  std::vector<double> values = DoubleValues(n, rng_, false);
  std::vector<double> storage(values.size() + 16, -1.0);
  std::copy(values.begin(), values.end(), storage.begin());
  Standardize(storage.data(), nullptr, n, 1.0, 2.0, storage.data());
  for (int64_t row = 0; row < n; ++row) ASSERT_EQ((values[row] - 1.0) / 2.0, storage[row]);
  EXPECT_EQ(-1.0, storage[n]);  // untouched past n
}

TEST_P(KernelsTest, BucketizeCountsBoundsAtOrBelow) {
  std::vector<double> many;
  for (int idx = 0; idx < 40; ++idx) many.push_back(-2000 + idx * 100.0);
  const std::vector<std::vector<double>> bound_sets = {
      {}, {0.0}, {-1, 0, 1}, {-kInf, 10, 10, kInf}, {-1e300, -kDenormal, 0, kDenormal, 1e300}, many};
  for (const auto& bounds : bound_sets) {
    for (const Case& c : AllCases()) {
      SCOPED_TRACE(c.Name() + " bounds=" + std::to_string(bounds.size()));
      const Validity validity = MakeValidity(c, rng_);
      std::vector<double> values = DoubleValues(c.n, rng_, true);
      SpoilNullSlots(values, validity, kNaN);
      std::vector<int64_t> expected(static_cast<size_t>(c.n)), out(static_cast<size_t>(c.n));
      for (int64_t row = 0; row < c.n; ++row) {
        if (!validity.IsValid(row)) continue;
        for (double bound : bounds) expected[row] += !(values[row] < bound);
      }
      Bucketize(Input<double>(values, c.offset).data(), validity.ptr, c.n, bounds.data(),
                static_cast<int64_t>(bounds.size()), out.data());
      ASSERT_EQ(expected, out);
    }
  }
}

TEST_P(KernelsTest, CastRoundsLikeStaticCast) {
  for (const Case& c : AllCases()) {
    SCOPED_TRACE(c.Name());
    const Validity validity = MakeValidity(c, rng_);
    std::vector<int64_t> values = Int64Values(c.n, rng_);
    for (int64_t row = 0; row < c.n; row += 7) values[row] = (int64_t{1} << 53) + 1 + row;  // inexact
    SpoilNullSlots(values, validity, kI64Max);
    std::vector<double> out(static_cast<size_t>(c.n));
    CastInt64ToDouble(Input<int64_t>(values, c.offset).data(), validity.ptr, c.n, out.data());
    for (int64_t row = 0; row < c.n; ++row) {
      ASSERT_EQ(validity.IsValid(row) ? static_cast<double>(values[row]) : 0.0, out[row]) << values[row];
    }
  }
}

// The linear-algebra kernels read exactly n values (no padding) and match
// plain loops, tails included.
TEST(LinalgKernelsTest, DotDot4TotalAxpyAndLogisticTermsMatchLoops) {
  for (int64_t n : {0, 1, 3, 4, 7, 8, 9, 31, 64, 1001}) {
    std::vector<double> a(static_cast<size_t>(n)), b[4];
    for (auto& v : b) v.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = std::sin(double(i)) * 3;
      for (int k = 0; k < 4; ++k) b[k][size_t(i)] = std::cos(double(i * (k + 1))) - 0.25 * k;
    }
    double want[4] = {0, 0, 0, 0}, total = 0;
    for (int64_t i = 0; i < n; ++i) {
      total += a[size_t(i)];
      for (int k = 0; k < 4; ++k) want[k] += a[size_t(i)] * b[k][size_t(i)];
    }
    double got[4];
    Dot4(a.data(), b[0].data(), b[1].data(), b[2].data(), b[3].data(), n, got);
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(got[k], want[k], 1e-9 * (1 + std::fabs(want[k]))) << n;
      EXPECT_NEAR(Dot(a.data(), b[k].data(), n), want[k], 1e-9 * (1 + std::fabs(want[k]))) << n;
    }
    EXPECT_NEAR(Total(a.data(), n), total, 1e-9 * (1 + std::fabs(total))) << n;
    std::vector<double> y = b[0];
    Axpy(2.0, a.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_DOUBLE_EQ(y[size_t(i)], b[0][size_t(i)] + 2.0 * a[size_t(i)]);
    const size_t count = static_cast<size_t>(n);
    std::vector<double> labels(count), r(count), h(count);
    double loss = 0;
    for (int64_t i = 0; i < n; ++i) {
      labels[size_t(i)] = i % 3 == 0 ? 1 : 0;
      double z = a[size_t(i)] * 20;  // large margins: no overflow
      double p = 1 / (1 + std::exp(-z));
      loss += std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z))) - labels[size_t(i)] * z;
      a[size_t(i)] = z;
      want[0] = p;
    }
    EXPECT_NEAR(LogisticTerms(a.data(), labels.data(), nullptr, n, r.data(), h.data()), loss, 1e-9 * (1 + loss)) << n;
    for (int64_t i = 0; i < n; ++i) {
      double p = 1 / (1 + std::exp(-a[size_t(i)]));
      EXPECT_NEAR(r[size_t(i)], p - labels[size_t(i)], 1e-12);
      EXPECT_NEAR(h[size_t(i)], p * (1 - p), 1e-12);
    }
  }
}

}  // namespace
}  // namespace pipeline::kernels
