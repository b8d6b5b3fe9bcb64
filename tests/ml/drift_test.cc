// Drift statistics against numpy/scipy (tests/ml/drift_reference.py, run
// with Debian's python3-scipy): PSI on the same bins, KS and Jensen-Shannon
// within 1e-9, on samples with and without drift, with nulls, ties, values
// beyond the reference's range, and new categories.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

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
