// When a DAG's scheduled runs fire: its cron expression read in its time zone,
// bounded by start_date and end_date, and the catchup rule. Pure logic over
// instants; the Scheduler supplies "now" from its Clock.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "core/dag_spec.h"
#include "core/time.h"
#include "dag/cron.h"

namespace pipeline {

// One scheduled run: it fires at logical_date T, covering [previous tick, T).
struct Tick {
  TimePoint logical_date;
  TimePoint interval_start;
  TimePoint interval_end;
};

class Schedule {
 public:
  // std::nullopt when the DAG has no schedule. Precondition: `dag` passed the
  // loader (cron, zone and start_date are valid).
  static std::optional<Schedule> ForDag(const DagSpec& dag);

  // The first tick strictly after `after` inside [start_date, end_date].
  std::optional<Tick> NextAfter(TimePoint after) const;
  // The newest tick at or before `now` inside the bounds.
  std::optional<Tick> LatestAtOrBefore(TimePoint now) const;
  // The ticks in [from, to] inside the bounds, oldest first, at most `limit`.
  std::vector<Tick> Between(TimePoint from, TimePoint to, size_t limit) const;

 private:
  Schedule(CronSchedule cron, const date::time_zone* zone, TimePoint start, std::optional<TimePoint> end)
      : cron_(cron), zone_(zone), start_(start), end_(end) {}
  Tick MakeTick(TimePoint t) const;
  bool InBounds(TimePoint t) const { return t >= start_ && (!end_ || t <= *end_); }

  CronSchedule cron_;
  const date::time_zone* zone_;
  TimePoint start_;
  std::optional<TimePoint> end_;
};

// The scheduled runs to create now for one DAG, oldest first. `last` is the
// newest tick created so far, `active` how many of its runs are queued or
// running. With catchup every missed tick is created, as many as
// max_active_runs leaves room for (the rest on later calls); without, only
// the newest due tick, when there is room. A tick `taken` says has a run
// already (a backfill made it) is passed over without using room.
std::vector<Tick> TicksToCreate(const Schedule& schedule, bool catchup, int max_active_runs,
                                std::optional<TimePoint> last, int64_t active, TimePoint now,
                                const std::function<bool(TimePoint)>& taken = {});

}  // namespace pipeline
