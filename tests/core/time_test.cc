#include "core/time.h"

#include <gtest/gtest.h>

#include "core/dag_spec.h"

namespace pipeline {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(DurationTest, ParsesEveryUnitAndConcatenations) {
  // Given the forms of dag-format.md, then each parses to its milliseconds.
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("30s"), seconds(30));
  EXPECT_EQ(ParseDuration("10m"), minutes(10));
  EXPECT_EQ(ParseDuration("1h30m"), hours(1) + minutes(30));
  EXPECT_EQ(ParseDuration("2d"), hours(48));
  EXPECT_EQ(ParseDuration("1d2h3m4s5ms"), hours(26) + minutes(3) + seconds(4) + milliseconds(5));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
}

TEST(DurationTest, RefusesMalformedText) {
  for (const char* bad : {"", "10", "s", "10 s", "10sec", "1.5h", "-5s", "10x", "5s ", "h1",
                          "99999999999999999999s", "9999999999d"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsShortest) {
  EXPECT_EQ(FormatDuration(hours(1) + minutes(30)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(hours(49)), "2d1h");
  for (const char* text : {"1h30m", "2d", "45s", "1m1ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
  }
}

TEST(Iso8601Test, ParsesDatesAndDateTimes) {
  auto d = ParseIso8601("2026-01-01");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->date_only);
  EXPECT_FALSE(d->has_zone);
  EXPECT_EQ(FormatIso8601(d->utc), "2026-01-01T00:00:00Z");

  auto z = ParseIso8601("2026-01-01T12:34:56Z");
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->has_zone);
  EXPECT_EQ(FormatIso8601(z->utc), "2026-01-01T12:34:56Z");

  auto off = ParseIso8601("2026-03-01T01:00:00+02:00");
  ASSERT_TRUE(off);
  EXPECT_EQ(FormatIso8601(off->utc), "2026-02-28T23:00:00Z");

  auto frac = ParseIso8601("2026-01-01 00:00:00.25");
  ASSERT_TRUE(frac);
  EXPECT_EQ(FormatIso8601(frac->utc), "2026-01-01T00:00:00.250000Z");

  auto hm = ParseIso8601("2026-06-30T08:15");
  ASSERT_TRUE(hm);
  EXPECT_EQ(FormatIso8601(hm->utc), "2026-06-30T08:15:00Z");
}

TEST(Iso8601Test, RefusesInvalidDates) {
  for (const char* bad : {"2026-13-01", "2026-02-30", "2026-1-1", "yesterday", "2026-01-01T25:00",
                          "2026-01-01T10:00:00+25:00", "2026-01-01T10:00:00Zjunk", "2026-01-01T",
                          "2026-01-01T10:00:00."}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(Iso8601Test, RoundTripsThroughMicros) {
  TimePoint t = ParseIso8601("2026-11-21T23:01:08.123456Z")->utc;
  EXPECT_EQ(FromMicros(ToMicros(t)), t);
  EXPECT_EQ(FormatIso8601(t), "2026-11-21T23:01:08.123456Z");
}

TEST(ScaledClockTest, RunsFasterFromItsOrigin) {
  TimePoint origin = SystemClock::Default()->Now() - std::chrono::seconds(10);
  ScaledClock clock(origin, 60);
  auto ahead = clock.Now() - origin;
  // 10 real seconds (and a little) at 60x: just over 10 minutes.
  EXPECT_GE(ahead, std::chrono::minutes(10));
  EXPECT_LT(ahead, std::chrono::minutes(11));
  // Waiting one fake minute takes a real second: wait until 0.6 fake s ahead.
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  TimePoint before = clock.Now();
  clock.WaitUntil(cv, lock, before + std::chrono::milliseconds(600), [] { return false; });
  EXPECT_GE(clock.Now() - before, std::chrono::milliseconds(600));
}

TEST(RetryPolicyTest, FixedDelayIsConstant) {
  RetryPolicy p;
  p.retry_delay = seconds(10);
  EXPECT_EQ(p.DelayBefore(2), seconds(10));
  EXPECT_EQ(p.DelayBefore(5), seconds(10));
}

TEST(RetryPolicyTest, ExponentialDoublesAndIsCapped) {
  // Given 10s doubling capped at 1m, then 10, 20, 40, 60, 60.
  RetryPolicy p;
  p.retry_delay = seconds(10);
  p.backoff = RetryBackoff::kExponential;
  p.max_retry_delay = minutes(1);
  EXPECT_EQ(p.DelayBefore(2), seconds(10));
  EXPECT_EQ(p.DelayBefore(3), seconds(20));
  EXPECT_EQ(p.DelayBefore(4), seconds(40));
  EXPECT_EQ(p.DelayBefore(5), seconds(60));
  EXPECT_EQ(p.DelayBefore(1000), seconds(60));  // no overflow on many tries
}

}  // namespace
}  // namespace pipeline
