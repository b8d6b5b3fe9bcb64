// Drift statistics against numpy/scipy (tests/ml/drift_reference.py, run
// with Debian's python3-scipy): PSI on the same bins, KS and Jensen-Shannon
// within 1e-9, on samples with and without drift, with nulls, ties, values
// beyond the reference's range, and new categories.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "ml/drift.h"

namespace pipeline::ml {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

NumericSample Numbers(const json& values) {
  std::vector<double> v;
  std::vector<uint64_t> validity((values.size() + 63) / 64, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    v.push_back(values[i].is_null() ? 0.0 : values[i].get<double>());
    if (!values[i].is_null()) validity[i / 64] |= uint64_t{1} << (i % 64);
  }
  return SampleNumeric(v.data(), validity.data(), int64_t(v.size()));
}

CategoricalSample Categories(const json& values) {
  CategoricalSample s;
  s.rows = int64_t(values.size());
  for (const json& v : values) {
    if (v.is_null()) {
      ++s.nulls;
    } else {
      ++s.counts[v.get<std::string>()];
    }
  }
  return s;
}

TEST(DriftTest, FiguresEqualNumpyAndScipy) {
  fs::path dir = fs::temp_directory_path() / ("pipe-drift-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string cmd = "/usr/bin/python3 " PIPE_SOURCE_DIR "/tests/ml/drift_reference.py " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (needs python3-scipy)";
  json cases = json::parse(std::ifstream(dir / "drift_cases.json"));
  fs::remove_all(dir);
  ASSERT_EQ(cases.size(), 8u);
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    DriftFigures f;
    if (c["kind"] == "numeric") {
      f = CompareNumeric(Numbers(c["reference"]), Numbers(c["current"]));
      ASSERT_EQ(f.cuts.size(), 9u);
      for (size_t i = 0; i < 9; ++i) EXPECT_NEAR(f.cuts[i], c["cuts"][i].get<double>(), 1e-12);
      EXPECT_NEAR(f.ks, c["ks"].get<double>(), 1e-9);
    } else {
      f = CompareCategorical(Categories(c["reference"]), Categories(c["current"]));
      EXPECT_EQ(json(f.categories), c["categories"]);
      EXPECT_NEAR(f.js, c["js"].get<double>(), 1e-9);
    }
    EXPECT_EQ(json(f.reference_bins), c["reference_bins"]);
    EXPECT_EQ(json(f.current_bins), c["current_bins"]);
    EXPECT_NEAR(f.psi, c["psi"].get<double>(), 1e-9);
    EXPECT_NEAR(f.reference_null_rate, c["reference_null_rate"].get<double>(), 1e-12);
    EXPECT_NEAR(f.current_null_rate, c["current_null_rate"].get<double>(), 1e-12);
  }
}

TEST(DriftTest, NoDriftIsZeroAndDisjointSamplesAreOne) {
  std::vector<double> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, b = {11, 12, 13};
  NumericSample ra = SampleNumeric(a.data(), nullptr, 10), rb = SampleNumeric(b.data(), nullptr, 3);
  EXPECT_EQ(CompareNumeric(ra, ra).psi, 0);
  EXPECT_EQ(CompareNumeric(ra, ra).ks, 0);
  EXPECT_EQ(CompareNumeric(ra, rb).ks, 1);
  // All of b lies beyond the reference's range: the top bin.
  EXPECT_EQ(CompareNumeric(ra, rb).current_bins, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 3}));
  EXPECT_EQ(JensenShannonDistance({5, 0}, {0, 5}), 1);
  EXPECT_EQ(JensenShannonDistance({5, 5}, {1, 1}), 0);
}

}  // namespace
}  // namespace pipeline::ml

namespace pipeline::ml {
namespace {

// Values with nulls (validity) and a NaN, as a column would hold them.
struct Column {
  std::vector<double> values;
  std::vector<uint64_t> validity;
};

template <typename Draw>
Column Generate(int64_t n, uint64_t seed, Draw draw) {
  Column c;
  c.validity.assign(size_t((n + 63) / 64), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    c.values.push_back(i == 7 ? std::nan("") : draw(rng));
    if (i % 97 != 3) c.validity[size_t(i / 64)] |= uint64_t{1} << (i % 64);
  }
  return c;
}

// The profile path against the exact (sorting) one on the same columns.
void ExpectProfileAgrees(const Column& ref, const Column& cur, int grid_points, bool exact, double width) {
  const int64_t nr = int64_t(ref.values.size()), nc = int64_t(cur.values.size());
  NumericSample rs = SampleNumeric(ref.values.data(), ref.validity.data(), nr);
  DriftFigures want = CompareNumeric(rs, SampleNumeric(cur.values.data(), cur.validity.data(), nc));
  NumericProfile profile = ProfileNumeric(rs, grid_points);
  EXPECT_EQ(profile.exact, exact);
  DriftFigures got = CompareToProfile(profile, cur.values.data(), cur.validity.data(), nc);
  EXPECT_EQ(got.reference_bins, want.reference_bins);
  EXPECT_EQ(got.current_bins, want.current_bins);
  EXPECT_EQ(got.cuts, want.cuts);
  EXPECT_DOUBLE_EQ(got.psi, want.psi);
  EXPECT_DOUBLE_EQ(got.reference_null_rate, want.reference_null_rate);
  EXPECT_DOUBLE_EQ(got.current_null_rate, want.current_null_rate);
  if (exact) {
    EXPECT_NEAR(got.ks, want.ks, 1e-12);
    EXPECT_EQ(got.ks_max, got.ks);
  } else {
    EXPECT_LE(got.ks, want.ks + 1e-12);
    EXPECT_GE(got.ks_max, want.ks - 1e-12);
    EXPECT_LE(got.ks_max - got.ks, width);
  }
}

TEST(DriftTest, KsIsExactToTheLastBitAndIntegersBeyondDoublesAreKeptApart) {
  // Given 100 values with 10 of them moved far above, then KS is exactly
  // 1/10 (scipy's ks_2samp says 0.1), not 0.1 plus a rounding error that
  // a threshold of 0.1 would call drift; the one-pass profile agrees.
  std::vector<double> ref, cur;
  for (int i = 0; i < 100; ++i) ref.push_back(i);
  cur = ref;
  for (int i : {1, 3, 7, 17, 25, 29, 47, 58, 77, 81}) cur[size_t(i)] = 1000 + i;
  const NumericSample r = SampleNumeric(ref.data(), nullptr, 100);
  const NumericSample c = SampleNumeric(cur.data(), nullptr, 100);
  EXPECT_EQ(CompareNumeric(r, c).ks, 0.1);
  EXPECT_EQ(CompareToProfile(ProfileNumeric(r), cur.data(), nullptr, 100).ks, 0.1);
  // Sizes 3 and 7: a multiple of 1/21.
  EXPECT_EQ(KsStatistic(std::vector<double>{1, 2, 3}, std::vector<double>{0, 0, 0, 4, 4, 4, 4}), 4.0 / 7.0);

  // Integers above 2^53 that doubles cannot tell apart.
  const int64_t big = int64_t{1} << 53;
  EXPECT_EQ(KsStatistic(std::vector<int64_t>{big, big + 1}, std::vector<int64_t>{big + 1, big + 1}), 0.5);
}

TEST(DriftProfileTest, EveryDistinctValueKeptGivesTheExactFigures) {
  // Given integer values (fewer distinct than grid points), ties, nulls, a
  // NaN and current values beyond the reference's range, then the one-pass
  // comparison equals the sorting one.
  Column ref = Generate(200000, 1, [](auto& rng) { return double(std::binomial_distribution<int>(60, 0.5)(rng)); });
  Column cur = Generate(150000, 2, [](auto& rng) { return double(std::binomial_distribution<int>(80, 0.45)(rng)); });
  ExpectProfileAgrees(ref, cur, kKsGridPoints, true, 0);
  ExpectProfileAgrees(ref, ref, kKsGridPoints, true, 0);
}

TEST(DriftProfileTest, ContinuousValuesBracketTheExactKs) {
  // Given more distinct values than grid points, then the exact KS lies in
  // [ks, ks_max], a gap of a few grid steps at most; PSI is exact.
  auto normal = [](double mean) {
    return [mean](auto& rng) { return std::normal_distribution<double>(mean, 1)(rng); };
  };
  Column ref = Generate(300000, 3, normal(0)), drifted = Generate(200000, 4, normal(0.25)),
         same = Generate(200000, 5, normal(0));
  ExpectProfileAgrees(ref, drifted, 512, false, 4.0 / 512);
  ExpectProfileAgrees(ref, same, 512, false, 4.0 / 512);
  ExpectProfileAgrees(ref, drifted, kKsGridPoints, false, 4.0 / kKsGridPoints);
}

TEST(DriftProfileTest, CrowdedAndFarApartValuesAreCountedRight) {
  // Given most values packed into a tiny interval and a few far away (the
  // lookup table's cells then hold many grid points, or none), then the
  // counts are still those of the sorting path.
  auto crowded = [](double shift) {
    return [shift](auto& rng) {
      std::uniform_real_distribution<double> u(0, 1);
      const double r = u(rng);
      return r < 0.001 ? 1e12 * u(rng) : r < 0.002 ? -1e9 : 1.0 + shift + 1e-9 * u(rng);
    };
  };
  Column ref = Generate(100000, 6, crowded(0)), cur = Generate(100000, 7, crowded(2e-10));
  ExpectProfileAgrees(ref, cur, 1000, false, 4.0 / 1000);
}

TEST(DriftProfileTest, InfiniteValuesAreCountedLikeAnyOther) {
  // Given infinities on both sides (a division by zero upstream), then the
  // counts are those of the sorting path.
  auto with_infinities = [](auto& rng) {
    std::uniform_real_distribution<double> u(0, 1);
    const double r = u(rng);
    return r < 0.01 ? HUGE_VAL : r < 0.02 ? -HUGE_VAL : std::normal_distribution<double>(0, 1)(rng);
  };
  Column ref = Generate(50000, 8, with_infinities), cur = Generate(50000, 9, with_infinities);
  ExpectProfileAgrees(ref, cur, 256, false, 4.0 / 256);
}

}  // namespace
}  // namespace pipeline::ml
