#include "scheduler/schedule.h"

#include <date/tz.h>

namespace pipeline {

namespace {
constexpr std::chrono::microseconds kEpsilon{1};
}  // namespace

std::optional<Schedule> Schedule::ForDag(const DagSpec& dag) {
  if (!dag.schedule || !dag.start_date) return std::nullopt;
  auto cron = ParseCron(*dag.schedule, nullptr);
  if (!cron) return std::nullopt;
  return Schedule(*cron, date::locate_zone(dag.timezone), *dag.start_date, dag.end_date);
}

Tick Schedule::MakeTick(TimePoint t) const {
  auto prev = PrevTick(cron_, zone_, t);
  return {t, prev.value_or(t), t};
}

std::optional<Tick> Schedule::NextAfter(TimePoint after) const {
  TimePoint from = std::max(after, start_ - kEpsilon);
  auto t = NextTick(cron_, zone_, from);
  if (!t || !InBounds(*t)) return std::nullopt;
  return MakeTick(*t);
}

std::optional<Tick> Schedule::LatestAtOrBefore(TimePoint now) const {
  TimePoint to = end_ ? std::min(now, *end_) : now;
  auto t = PrevTick(cron_, zone_, to + kEpsilon);
  if (!t || !InBounds(*t)) return std::nullopt;
  return MakeTick(*t);
}

std::vector<Tick> Schedule::Between(TimePoint from, TimePoint to, size_t limit) const {
  std::vector<Tick> out;
  for (auto tick = NextAfter(from - kEpsilon); tick && tick->logical_date <= to && out.size() < limit;
       tick = NextAfter(tick->logical_date)) {
    out.push_back(*tick);
  }
  return out;
}

std::vector<Tick> TicksToCreate(const Schedule& schedule, bool catchup, int max_active_runs,
                                std::optional<TimePoint> last, int64_t active, TimePoint now,
                                const std::function<bool(TimePoint)>& taken) {
  std::vector<Tick> out;
  int64_t room = max_active_runs - active;
  if (room <= 0) return out;
  auto free = [&](const Tick& t) { return !taken || !taken(t.logical_date); };
  if (!catchup) {
    auto latest = schedule.LatestAtOrBefore(now);
    if (latest && (!last || latest->logical_date > *last) && free(*latest)) out.push_back(*latest);
    return out;
  }
  auto tick = last ? schedule.NextAfter(*last) : schedule.NextAfter(TimePoint::min());
  for (; tick && tick->logical_date <= now && int64_t(out.size()) < room;
       tick = schedule.NextAfter(tick->logical_date)) {
    if (free(*tick)) out.push_back(*tick);
  }
  return out;
}

}  // namespace pipeline
