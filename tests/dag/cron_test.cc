#include "dag/cron.h"

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace pipeline {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// An instant from a UTC civil date-time.
TimePoint Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return TimePoint{date::sys_days{date::year{y} / date::month{mo} / date::day{d}} + hours{h} +
                   minutes{mi}};
}

std::string Iso(std::optional<TimePoint> t) {
  if (!t) return "none";
  return date::format("%FT%TZ", std::chrono::floor<std::chrono::seconds>(*t));
}

CronSchedule Parse(std::string_view text) {
  std::string error;
  std::optional<CronSchedule> cron = ParseCron(text, &error);
  EXPECT_TRUE(cron.has_value()) << text << ": " << error;
  return cron.value_or(CronSchedule{});
}

std::string ParseError(std::string_view text) {
  std::string error;
  std::optional<CronSchedule> cron = ParseCron(text, &error);
  EXPECT_FALSE(cron.has_value()) << text;
  return error;
}

// Bits set in a bitset, as a list.
template <size_t N>
std::vector<int> Bits(const std::bitset<N>& bits) {
  std::vector<int> out;
  for (size_t i = 0; i < N; ++i) {
    if (bits[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

// The first `n` ticks after `after`.
std::vector<std::string> Ticks(std::string_view expr, const date::time_zone* tz, TimePoint after,
                               int n) {
  const CronSchedule cron = Parse(expr);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::optional<TimePoint> t = NextTick(cron, tz, after);
    out.push_back(Iso(t));
    if (!t) break;
    after = *t;
  }
  return out;
}

// The last `n` ticks before `before`, latest first.
std::vector<std::string> PrevTicks(std::string_view expr, const date::time_zone* tz,
                                   TimePoint before, int n) {
  const CronSchedule cron = Parse(expr);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::optional<TimePoint> t = PrevTick(cron, tz, before);
    out.push_back(Iso(t));
    if (!t) break;
    before = *t;
  }
  return out;
}

const date::time_zone* Berlin() { return date::locate_zone("Europe/Berlin"); }
const date::time_zone* NewYork() { return date::locate_zone("America/New_York"); }

// ---------------------------------------------------------------- parsing

TEST(CronParseTest, OutOfRangeErrors) {
  EXPECT_EQ(ParseError("61 * * * *"), "minute 61 out of range 0-59");
  EXPECT_EQ(ParseError("0 24 * * *"), "hour 24 out of range 0-23");
  EXPECT_EQ(ParseError("0 0 0 * *"), "day-of-month 0 out of range 1-31");
  EXPECT_EQ(ParseError("0 0 32 * *"), "day-of-month 32 out of range 1-31");
  EXPECT_EQ(ParseError("0 0 * 13 *"), "month 13 out of range 1-12");
  EXPECT_EQ(ParseError("0 0 * 0 *"), "month 0 out of range 1-12");
  EXPECT_EQ(ParseError("0 0 * * 8"), "day-of-week 8 out of range 0-7");
  EXPECT_EQ(ParseError("0-60 * * * *"), "minute 60 out of range 0-59");
  EXPECT_EQ(ParseError("1,2,99 * * * *"), "minute 99 out of range 0-59");
}

TEST(CronParseTest, FieldCountErrors) {
  EXPECT_EQ(ParseError("* * * *"), "expected 5 fields, got 4");
  EXPECT_EQ(ParseError("* * * * * *"), "expected 5 fields, got 6");
  EXPECT_EQ(ParseError(""), "expected 5 fields, got 0");
  EXPECT_EQ(ParseError("   "), "expected 5 fields, got 0");
}

TEST(CronParseTest, MacroErrors) {
  EXPECT_EQ(ParseError("@minutely"), "unknown macro '@minutely'");
  EXPECT_EQ(ParseError("@daily 5"), "unknown macro '@daily 5'");
}

TEST(CronParseTest, InvalidValueErrors) {
  EXPECT_EQ(ParseError("x * * * *"), "minute: invalid value 'x'");
  EXPECT_EQ(ParseError("0 0 * JANU *"), "month: invalid value 'JANU'");
  EXPECT_EQ(ParseError("0 0 * * MONDAY"), "day-of-week: invalid value 'MONDAY'");
  EXPECT_EQ(ParseError("0 MON * * *"), "hour: invalid value 'MON'");
  EXPECT_EQ(ParseError("0 0 * * JAN"), "day-of-week: invalid value 'JAN'");
  EXPECT_EQ(ParseError("0 0 1-x * *"), "day-of-month: invalid value 'x'");
  EXPECT_EQ(ParseError("*/x * * * *"), "minute: invalid value 'x'");
  EXPECT_EQ(ParseError("-1 * * * *"), "minute: invalid value '-1'");
  EXPECT_EQ(ParseError("1,,2 * * * *"), "minute: invalid value '1,,2'");
}

TEST(CronParseTest, StepAndRangeErrors) {
  EXPECT_EQ(ParseError("*/0 * * * *"), "minute: step 0 is not allowed");
  EXPECT_EQ(ParseError("0 1-5/0 * * *"), "hour: step 0 is not allowed");
  EXPECT_EQ(ParseError("0 5-2 * * *"), "hour: range 5-2 is reversed");
  EXPECT_EQ(ParseError("0 0 * * FRI-MON"), "day-of-week: range FRI-MON is reversed");
}

TEST(CronParseTest, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(ParseCron("61 * * * *", nullptr).has_value());
  EXPECT_TRUE(ParseCron("* * * * *", nullptr).has_value());
}

TEST(CronParseTest, Star) {
  const CronSchedule c = Parse("* * * * *");
  EXPECT_EQ(c.minutes.count(), 60u);
  EXPECT_EQ(c.hours.count(), 24u);
  EXPECT_EQ(Bits(c.days_of_month).size(), 31u);
  EXPECT_FALSE(c.days_of_month[0]);
  EXPECT_EQ(Bits(c.months), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(c.days_of_week.count(), 7u);
  EXPECT_FALSE(c.dom_restricted);
  EXPECT_FALSE(c.dow_restricted);
}

TEST(CronParseTest, ListsRangesSteps) {
  EXPECT_EQ(Bits(Parse("*/15 * * * *").minutes), (std::vector<int>{0, 15, 30, 45}));
  EXPECT_EQ(Bits(Parse("10-40/10 * * * *").minutes), (std::vector<int>{10, 20, 30, 40}));
  EXPECT_EQ(Bits(Parse("5,7,9-11 * * * *").minutes), (std::vector<int>{5, 7, 9, 10, 11}));
  EXPECT_EQ(Bits(Parse("50/5 * * * *").minutes), (std::vector<int>{50, 55}));
  EXPECT_EQ(Bits(Parse("0 */6 * * *").hours), (std::vector<int>{0, 6, 12, 18}));
  EXPECT_EQ(Bits(Parse("0 9-17 * * *").hours),
            (std::vector<int>{9, 10, 11, 12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(Bits(Parse("0 0 */10 * *").days_of_month), (std::vector<int>{1, 11, 21, 31}));
  EXPECT_EQ(Bits(Parse("0 0 1 */3 *").months), (std::vector<int>{1, 4, 7, 10}));
  EXPECT_EQ(Bits(Parse("0 0 * * 1-5/2").days_of_week), (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(Bits(Parse("0 0 * * */2").days_of_week), (std::vector<int>{0, 2, 4, 6}));
  EXPECT_EQ(Bits(Parse("0 0 1 * *").days_of_month), (std::vector<int>{1}));
  // Blanks: runs of spaces and tabs, leading/trailing ignored.
  EXPECT_EQ(Bits(Parse(" \t5 \t\t4  * *\t*  ").hours), (std::vector<int>{4}));
}

TEST(CronParseTest, Names) {
  EXPECT_EQ(Bits(Parse("0 0 * * MON-FRI").days_of_week), (std::vector<int>{1, 2, 3, 4, 5}));
  // A range ending on Sunday ends on 7 (croniter, Vixie cron): the weekend.
  EXPECT_EQ(Bits(Parse("0 0 * * SAT-SUN").days_of_week), (std::vector<int>{0, 6}));
  EXPECT_EQ(Bits(Parse("0 0 * * FRI-0").days_of_week), (std::vector<int>{0, 5, 6}));
  EXPECT_EQ(Bits(Parse("0 0 * * MON-SUN").days_of_week), (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(Parse("0 0 * * MON-SUN").dow_restricted);
  EXPECT_EQ(Bits(Parse("0 0 * * sun,Sat").days_of_week), (std::vector<int>{0, 6}));
  EXPECT_EQ(Bits(Parse("0 0 1 jan,jul *").months), (std::vector<int>{1, 7}));
  EXPECT_EQ(Bits(Parse("0 0 1 JAN-MAR *").months), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Bits(Parse("0 0 1 Feb-dec/2 *").months), (std::vector<int>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(Bits(Parse("0 0 * * mon-fri/2").days_of_week), (std::vector<int>{1, 3, 5}));
}

TEST(CronParseTest, DayOfWeekSevenIsSunday) {
  EXPECT_EQ(Bits(Parse("0 0 * * 7").days_of_week), (std::vector<int>{0}));
  EXPECT_EQ(Bits(Parse("0 0 * * 0").days_of_week), (std::vector<int>{0}));
  EXPECT_EQ(Bits(Parse("0 0 * * 5-7").days_of_week), (std::vector<int>{0, 5, 6}));
  EXPECT_EQ(Bits(Parse("0 0 * * 0-7").days_of_week).size(), 7u);
  EXPECT_FALSE(Parse("0 0 * * 0-7").dow_restricted);
}

TEST(CronParseTest, Macros) {
  const auto same = [](std::string_view a, std::string_view b) {
    const CronSchedule x = Parse(a);
    const CronSchedule y = Parse(b);
    return x.minutes == y.minutes && x.hours == y.hours && x.days_of_month == y.days_of_month &&
           x.months == y.months && x.days_of_week == y.days_of_week &&
           x.dom_restricted == y.dom_restricted && x.dow_restricted == y.dow_restricted;
  };
  EXPECT_TRUE(same("@hourly", "0 * * * *"));
  EXPECT_TRUE(same("@daily", "0 0 * * *"));
  EXPECT_TRUE(same("@weekly", "0 0 * * 0"));
  EXPECT_TRUE(same("@monthly", "0 0 1 * *"));
  EXPECT_TRUE(same("@yearly", "0 0 1 1 *"));
  EXPECT_TRUE(same("  @DAILY ", "0 0 * * *"));
  EXPECT_FALSE(same("@daily", "0 1 * * *"));
}

TEST(CronParseTest, Restriction) {
  EXPECT_TRUE(Parse("0 0 13 * *").dom_restricted);
  EXPECT_FALSE(Parse("0 0 13 * *").dow_restricted);
  EXPECT_FALSE(Parse("0 0 * * FRI").dom_restricted);
  EXPECT_TRUE(Parse("0 0 * * FRI").dow_restricted);
  EXPECT_TRUE(Parse("0 0 */2 * *").dom_restricted);
}

// ---------------------------------------------------------------- matching

TEST(CronMatchTest, Matches) {
  const CronSchedule c = Parse("30 9 * * MON-FRI");
  // 2026-03-02 is a Monday, 2026-03-01 a Sunday.
  EXPECT_TRUE(c.Matches({2026, 3, 2, 1, 9, 30}));
  EXPECT_FALSE(c.Matches({2026, 3, 2, 1, 9, 31}));
  EXPECT_FALSE(c.Matches({2026, 3, 2, 1, 10, 30}));
  EXPECT_FALSE(c.Matches({2026, 3, 1, 0, 9, 30}));
  EXPECT_FALSE(c.Matches({2026, 13, 1, 0, 9, 30}));
  EXPECT_FALSE(c.Matches({2026, 3, 1, 7, 9, 30}));
}

TEST(CronMatchTest, EitherDayRuleWhenBothRestricted) {
  const CronSchedule c = Parse("0 0 13 * FRI");
  EXPECT_TRUE(c.MatchesDay(3, 13, 5));  // Friday the 13th
  EXPECT_TRUE(c.MatchesDay(3, 13, 2));  // the 13th, a Tuesday
  EXPECT_TRUE(c.MatchesDay(3, 6, 5));   // a Friday, the 6th
  EXPECT_FALSE(c.MatchesDay(3, 7, 6));
  // Only one day field restricted: both must hold (the other holds trivially).
  EXPECT_FALSE(Parse("0 0 13 * *").MatchesDay(3, 6, 5));
  EXPECT_FALSE(Parse("0 0 * * FRI").MatchesDay(3, 13, 2));
  // Restricted month still applies to either day.
  EXPECT_FALSE(Parse("0 0 13 JAN FRI").MatchesDay(3, 13, 5));
}

// ---------------------------------------------------------------- ticks in UTC

TEST(CronTickTest, EitherDayRuleTicks) {
  // March 2026: Fridays are 6, 13, 20, 27; the 13th is itself a Friday.
  // April 2026: Fridays 3, 10, 17, 24; the 13th is a Monday.
  EXPECT_EQ(Ticks("0 0 13 * FRI", nullptr, Utc(2026, 3, 1), 8),
            (std::vector<std::string>{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z",
                                      "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z",
                                      "2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z",
                                      "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z"}));
}

TEST(CronTickTest, Basic) {
  EXPECT_EQ(Ticks("*/15 * * * *", nullptr, Utc(2026, 5, 1, 10, 7), 4),
            (std::vector<std::string>{"2026-05-01T10:15:00Z", "2026-05-01T10:30:00Z",
                                      "2026-05-01T10:45:00Z", "2026-05-01T11:00:00Z"}));
  // Strictly after: a tick exactly at `after` is not returned.
  EXPECT_EQ(Iso(NextTick(Parse("@hourly"), nullptr, Utc(2026, 5, 1, 10))), "2026-05-01T11:00:00Z");
  EXPECT_EQ(
      Iso(NextTick(Parse("@hourly"), nullptr, Utc(2026, 5, 1, 10) + std::chrono::microseconds{1})),
      "2026-05-01T11:00:00Z");
  EXPECT_EQ(
      Iso(NextTick(Parse("@hourly"), nullptr, Utc(2026, 5, 1, 10) - std::chrono::microseconds{1})),
      "2026-05-01T10:00:00Z");
  EXPECT_EQ(Ticks("@daily", nullptr, Utc(2026, 12, 31, 0, 0), 2),
            (std::vector<std::string>{"2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"}));
  // 2026-01-01 is a Thursday; the following Sunday is the 4th.
  EXPECT_EQ(Ticks("@weekly", nullptr, Utc(2026, 1, 1), 2),
            (std::vector<std::string>{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}));
  EXPECT_EQ(Ticks("@yearly", nullptr, Utc(2026, 6, 1), 2),
            (std::vector<std::string>{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}));
  EXPECT_EQ(Ticks("30 9 * * MON-FRI", nullptr, Utc(2026, 3, 6, 12), 2),  // Friday noon
            (std::vector<std::string>{"2026-03-09T09:30:00Z", "2026-03-10T09:30:00Z"}));
  EXPECT_EQ(Ticks("5 4 1 jan,jul *", nullptr, Utc(2026, 1, 1, 4, 5), 3),
            (std::vector<std::string>{"2026-07-01T04:05:00Z", "2027-01-01T04:05:00Z",
                                      "2027-07-01T04:05:00Z"}));
}

TEST(CronTickTest, MonthEnd) {
  // Months without a 31st are skipped.
  EXPECT_EQ(Ticks("0 0 31 * *", nullptr, Utc(2026, 1, 31), 4),
            (std::vector<std::string>{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z",
                                      "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}));
  EXPECT_EQ(Ticks("59 23 30 * *", nullptr, Utc(2026, 1, 30, 23, 59), 2),
            (std::vector<std::string>{"2026-03-30T23:59:00Z", "2026-04-30T23:59:00Z"}));
}

TEST(CronTickTest, LeapYear) {
  EXPECT_EQ(Ticks("0 0 29 2 *", nullptr, Utc(2026, 1, 1), 3),
            (std::vector<std::string>{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z",
                                      "2036-02-29T00:00:00Z"}));
  EXPECT_EQ(Iso(PrevTick(Parse("0 0 29 2 *"), nullptr, Utc(2026, 1, 1))), "2024-02-29T00:00:00Z");
  // 2100 is not a leap year: after 2096 the next Feb 29 is 2104, beyond 5 years.
  EXPECT_EQ(Iso(NextTick(Parse("0 0 29 2 *"), nullptr, Utc(2096, 3, 1))), "none");
}

TEST(CronTickTest, NoTickWithinFiveYears) {
  const CronSchedule c = Parse("0 0 30 2 *");
  EXPECT_EQ(NextTick(c, nullptr, Utc(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(PrevTick(c, nullptr, Utc(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(NextTick(c, Berlin(), Utc(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(PrevTick(c, Berlin(), Utc(2026, 1, 1)), std::nullopt);
}

TEST(CronTickTest, PrevMirrorsNextInUtc) {
  EXPECT_EQ(PrevTicks("*/15 * * * *", nullptr, Utc(2026, 5, 1, 11, 0), 3),
            (std::vector<std::string>{"2026-05-01T10:45:00Z", "2026-05-01T10:30:00Z",
                                      "2026-05-01T10:15:00Z"}));
  EXPECT_EQ(PrevTicks("0 0 31 * *", nullptr, Utc(2026, 5, 31), 3),
            (std::vector<std::string>{"2026-03-31T00:00:00Z", "2026-01-31T00:00:00Z",
                                      "2025-12-31T00:00:00Z"}));
  EXPECT_EQ(PrevTicks("0 0 13 * FRI", nullptr, Utc(2026, 4, 14), 4),
            (std::vector<std::string>{"2026-04-13T00:00:00Z", "2026-04-10T00:00:00Z",
                                      "2026-04-03T00:00:00Z", "2026-03-27T00:00:00Z"}));
  // Strictly before.
  EXPECT_EQ(Iso(PrevTick(Parse("@daily"), nullptr, Utc(2026, 1, 1))), "2025-12-31T00:00:00Z");
  EXPECT_EQ(Iso(PrevTick(Parse("@daily"), nullptr, Utc(2026, 1, 1) + std::chrono::microseconds{1})),
            "2026-01-01T00:00:00Z");
}

TEST(CronTickTest, NextAndPrevAreInverse) {
  for (std::string_view expr :
       {"*/7 3-5 * * *", "0 0 13 * FRI", "15 2 * * *", "0 * * * *", "30 1 * * SUN", "0 0 29 2 *"}) {
    for (const date::time_zone* tz :
         {static_cast<const date::time_zone*>(nullptr), Berlin(), NewYork()}) {
      const CronSchedule c = Parse(expr);
      TimePoint t = Utc(2026, 1, 1);
      for (int i = 0; i < 400 && t < Utc(2029, 1, 1); ++i) {
        const std::optional<TimePoint> next = NextTick(c, tz, t);
        ASSERT_TRUE(next.has_value()) << expr;
        if (i > 0) {
          EXPECT_EQ(Iso(PrevTick(c, tz, *next)), Iso(t)) << expr;
        }
        t = *next;
      }
    }
  }
}

// ---------------------------------------------------------------- ticks across DST

TEST(CronDstTest, BerlinSpringForwardSkipsTheGap) {
  // 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist that day and,
  // as the contract says, does not fire.
  EXPECT_EQ(Ticks("30 2 * * *", Berlin(), Utc(2026, 3, 27, 12), 3),
            (std::vector<std::string>{"2026-03-28T01:30:00Z",     // 02:30 CET
                                      "2026-03-30T00:30:00Z",     // 02:30 CEST, the next day
                                      "2026-03-31T00:30:00Z"}));
  EXPECT_EQ(PrevTicks("30 2 * * *", Berlin(), Utc(2026, 3, 30, 12), 2),
            (std::vector<std::string>{"2026-03-30T00:30:00Z", "2026-03-28T01:30:00Z"}));
  // The gap's times do not fire; 03:00 CEST fires as itself.
  EXPECT_EQ(Ticks("*/15 * * * *", Berlin(), Utc(2026, 3, 29, 0, 40), 4),
            (std::vector<std::string>{"2026-03-29T00:45:00Z",  // 01:45 CET
                                      "2026-03-29T01:00:00Z",  // 03:00 CEST
                                      "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"}));
  EXPECT_EQ(PrevTicks("*/15 * * * *", Berlin(), Utc(2026, 3, 29, 1, 20), 3),
            (std::vector<std::string>{"2026-03-29T01:15:00Z", "2026-03-29T01:00:00Z", "2026-03-29T00:45:00Z"}));
  // A schedule of some hours: 02:00 and 02:30 do not fire, 03:00 does.
  EXPECT_EQ(Ticks("0,30 2,3 * * *", Berlin(), Utc(2026, 3, 28, 23), 3),
            (std::vector<std::string>{"2026-03-29T01:00:00Z",     // 03:00 CEST
                                      "2026-03-29T01:30:00Z",     // 03:30 CEST
                                      "2026-03-30T00:00:00Z"}));  // 02:00 CEST
  // Hourly: local 02:00 is skipped, but no UTC hour is lost.
  EXPECT_EQ(Ticks("0 * * * *", Berlin(), Utc(2026, 3, 28, 23, 30), 4),
            (std::vector<std::string>{"2026-03-29T00:00:00Z",  // 01:00 CET
                                      "2026-03-29T01:00:00Z",  // 03:00 CEST
                                      "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z"}));
  // Wall-clock midnight shifts by the offset change.
  EXPECT_EQ(Ticks("@daily", Berlin(), Utc(2026, 3, 27, 12), 3),
            (std::vector<std::string>{"2026-03-27T23:00:00Z", "2026-03-28T23:00:00Z",
                                      "2026-03-29T22:00:00Z"}));
}

TEST(CronDstTest, BerlinFallBackFiresOnce) {
  // 2026-10-25 03:00 CEST -> 02:00 CET: 02:00-03:00 happens twice.
  EXPECT_EQ(Ticks("30 2 * * *", Berlin(), Utc(2026, 10, 23, 12), 3),
            (std::vector<std::string>{"2026-10-24T00:30:00Z",     // 02:30 CEST
                                      "2026-10-25T00:30:00Z",     // first 02:30 (CEST)
                                      "2026-10-26T01:30:00Z"}));  // 02:30 CET
  // From inside the repeated hour (either occurrence) the next is the next day.
  EXPECT_EQ(Iso(NextTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 0, 45))),
            "2026-10-26T01:30:00Z");
  EXPECT_EQ(Iso(NextTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 1, 10))),
            "2026-10-26T01:30:00Z");
  EXPECT_EQ(Iso(NextTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 0, 10))),
            "2026-10-25T00:30:00Z");
  // Prev mirrors, including from the second occurrence of the repeated hour.
  EXPECT_EQ(PrevTicks("30 2 * * *", Berlin(), Utc(2026, 10, 26, 12), 3),
            (std::vector<std::string>{"2026-10-26T01:30:00Z", "2026-10-25T00:30:00Z",
                                      "2026-10-24T00:30:00Z"}));
  EXPECT_EQ(Iso(PrevTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 1, 10))),
            "2026-10-25T00:30:00Z");
  EXPECT_EQ(Iso(PrevTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 1, 40))),
            "2026-10-25T00:30:00Z");
  EXPECT_EQ(Iso(PrevTick(Parse("30 2 * * *"), Berlin(), Utc(2026, 10, 25, 1, 0))),
            "2026-10-25T00:30:00Z");
  // Hourly: local 02:00 fires once (at 00:00Z); its repeat at 01:00Z does not.
  EXPECT_EQ(Ticks("0 * * * *", Berlin(), Utc(2026, 10, 24, 22, 30), 4),
            (std::vector<std::string>{"2026-10-24T23:00:00Z",  // 01:00 CEST
                                      "2026-10-25T00:00:00Z",  // 02:00 CEST
                                      "2026-10-25T02:00:00Z",  // 03:00 CET
                                      "2026-10-25T03:00:00Z"}));
  EXPECT_EQ(PrevTicks("0 * * * *", Berlin(), Utc(2026, 10, 25, 3, 0), 3),
            (std::vector<std::string>{"2026-10-25T02:00:00Z", "2026-10-25T00:00:00Z",
                                      "2026-10-24T23:00:00Z"}));
}

TEST(CronDstTest, NewYork) {
  // 2026-03-08 02:00 EST -> 03:00 EDT.
  EXPECT_EQ(Ticks("30 2 * * *", NewYork(), Utc(2026, 3, 7, 0), 3),
            (std::vector<std::string>{"2026-03-07T07:30:00Z",     // 02:30 EST
                                      "2026-03-09T06:30:00Z",     // 02:30 EDT (none on the 8th)
                                      "2026-03-10T06:30:00Z"}));
  // 2026-11-01 02:00 EDT -> 01:00 EST: 01:00-02:00 happens twice.
  EXPECT_EQ(Ticks("30 1 * * *", NewYork(), Utc(2026, 10, 31, 0), 3),
            (std::vector<std::string>{"2026-10-31T05:30:00Z",     // 01:30 EDT
                                      "2026-11-01T05:30:00Z",     // first 01:30 (EDT)
                                      "2026-11-02T06:30:00Z"}));  // 01:30 EST
  EXPECT_EQ(Iso(PrevTick(Parse("30 1 * * *"), NewYork(), Utc(2026, 11, 1, 6, 45))),
            "2026-11-01T05:30:00Z");
  EXPECT_EQ(Ticks("0 9 * * MON-FRI", NewYork(), Utc(2026, 3, 6, 15), 2),  // Fri after 9:00 EST
            (std::vector<std::string>{"2026-03-09T13:00:00Z", "2026-03-10T13:00:00Z"}));
}

TEST(CronDstTest, AMidnightThatDoesNotExistHasNoTick) {
  // America/Santiago moves 2026-09-06 00:00 to 01:00: @daily has no tick
  // that day (the contract: a tick a DST change skips does not fire).
  const date::time_zone* santiago = date::locate_zone("America/Santiago");
  EXPECT_EQ(Ticks("@daily", santiago, Utc(2026, 9, 4, 12), 3),
            (std::vector<std::string>{"2026-09-05T04:00:00Z",     // 00:00 -04
                                      "2026-09-07T03:00:00Z",     // 00:00 -03
                                      "2026-09-08T03:00:00Z"}));
}

TEST(CronTickTest, YearOfHourlyTicksInBerlin) {
  const date::time_zone* tz = Berlin();
  const CronSchedule c = Parse("@hourly");
  const TimePoint start = Utc(2025, 12, 31, 23);  // 2026-01-01 00:00 CET
  const TimePoint end = Utc(2026, 12, 31, 23);    // 2027-01-01 00:00 CET
  int count = 0;
  TimePoint t = start;
  while (true) {
    const std::optional<TimePoint> next = NextTick(c, tz, t);
    ASSERT_TRUE(next.has_value());
    if (*next >= end) break;
    ++count;
    t = *next;
  }
  // 8760 wall-clock hours in 2026, minus the skipped 02:00 on 2026-03-29 (it
  // does not fire), minus the start tick itself (ticks are
  // strictly after it); 02:00 on 2026-10-25 fires once.
  EXPECT_EQ(count, 8760 - 1 - 1);
}

}  // namespace
}  // namespace pipeline
