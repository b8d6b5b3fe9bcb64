#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "core/error.h"
#include "dag/loader.h"
#include "dag/params.h"
#include "exec/executor.h"
#include "scheduler/schedule.h"
#include "store/upstream.h"

namespace pipeline {

namespace {

constexpr size_t kMaxBackfillTicks = 10'000;
constexpr Duration kRetryAfterError = std::chrono::seconds(1);
constexpr int kQueuedBatch = 100;

RunRecord NewRun(const std::string& dag_id, int version, const std::string& trigger, TimePoint now,
                 TimePoint logical, TimePoint start, TimePoint end, const std::string& params_json) {
  RunRecord run;
  run.run_id = NewRunId(now);
  run.dag_id = dag_id;
  run.dag_version = version;
  run.trigger = trigger;
  run.logical_date = logical;
  run.data_interval_start = start;
  run.data_interval_end = end;
  run.params_json = params_json;
  run.created_at = now;
  return run;
}

std::vector<NewTaskInstance> TaskInstances(const DagSpec& dag) {
  std::vector<NewTaskInstance> out;
  for (const TaskSpec& t : dag.tasks) out.push_back({t.id, 1 + t.retry.retries});
  return out;
}

}  // namespace

Scheduler::Scheduler(StateStore& store, Executor& executor, const DagLoader& loader, Clock& clock,
                     SchedulerOptions options)
    : store_(store),
      executor_(executor),
      loader_(loader),
      clock_(clock),
      options_(options),
      sla_(store, options.observer) {}

Scheduler::~Scheduler() { Stop(Duration(0)); }

void Scheduler::SetDags(const FolderLoadResult& loaded) {
  TimePoint now = clock_.Now();
  std::map<std::string, Loaded> fresh;
  for (const DagSpec& dag : loaded.dags) {
    int version = store_.PutDagVersion(dag, now);
    fresh[dag.id] = {std::make_shared<const DagSpec>(dag), version};
  }
  std::lock_guard lock(mu_);
  // An invalid file keeps its DAG's last good version (it is never half-loaded),
  // whether the folder was given relative or absolute.
  std::set<std::string> invalid;
  for (const std::string& file : loaded.invalid_files) invalid.insert(DagFilePath(file));
  for (const auto& [id, old] : dags_) {
    if (!fresh.count(id) && invalid.count(old.spec->file)) fresh[id] = old;
  }
  for (const auto& [id, entry] : fresh) {
    auto it = dags_.find(id);
    if (it == dags_.end() || it->second.version != entry.version) {
      spdlog::info("dag loaded dag={} version={} tasks={}", id, entry.version, entry.spec->tasks.size());
    }
    versions_[{id, entry.version}] = entry.spec;
  }
  for (const Diagnostic& d : loaded.diagnostics) spdlog::warn("dag invalid {}", d.ToString());
  // schedule.after naming what is not loaded is no error (the DAG may come
  // later), but nothing will start such a run until it does.
  for (const auto& [id, entry] : fresh) {
    for (const std::string& up : entry.spec->after) {
      const std::string up_dag = up.substr(0, up.find('.'));
      auto it = fresh.find(up_dag);
      if (it == fresh.end() || !it->second.spec->FindTask(up.substr(up_dag.size() + 1))) {
        spdlog::warn("dag={} schedule.after names {}, which no loaded DAG has: no run starts until it does", id, up);
      }
    }
  }
  dags_ = std::move(fresh);
  has_after_ = std::any_of(dags_.begin(), dags_.end(), [](const auto& d) { return !d.second.spec->after.empty(); });
  load_errors_ = loaded.diagnostics;
  poked_ = true;
  cv_.notify_all();
}

void Scheduler::CheckNameNotInUse() {
  // The runs whose lease this name holds, with their lease's end.
  auto held = [&] {
    std::map<std::string, TimePoint> out;
    RunFilter live;
    live.states = {RunState::kQueued, RunState::kRunning};
    live.limit = 100'000;
    const TimePoint now = clock_.Now();
    std::set<std::string> mine;  // launched by this object already (a backfill before Start)
    {
      std::lock_guard lock(mu_);
      for (const auto& [run_id, dag_id] : launched_) mine.insert(run_id);
    }
    for (const RunRecord& run : store_.ListRuns(live)) {
      if (run.coordinator == options_.name && run.coordinator_until && *run.coordinator_until > now &&
          !mine.count(run.run_id)) {
        out[run.run_id] = *run.coordinator_until;
      }
    }
    return out;
  };
  const auto before = held();
  if (before.empty()) return;  // nothing held: no live process of this name coordinates anything
  // A previous process of this name that died renews nothing; a live one
  // renews at each turn of its loop (every queued_poll at the most).
  std::this_thread::sleep_for(
      std::min<Duration>(2 * options_.queued_poll + std::chrono::milliseconds(500), std::chrono::seconds(5)));
  for (const auto& [run_id, until] : held()) {
    auto it = before.find(run_id);
    if (it != before.end() && until > it->second) {
      throw Error::InvalidArgument("another scheduler named '" + options_.name + "' is alive: it renewed its lease on run " +
                                   run_id + " just now; give each piped its own --name");
    }
  }
}

void Scheduler::Start() {
  CheckNameNotInUse();
  // The heartbeat first, before any run starts here: a trigger_dag task that
  // waits (resumed below, or made by the API's first request) judges by it
  // whether a scheduler runs on this store, and would fail if it saw none.
  const TimePoint started = clock_.Now();
  store_.PutMeta("scheduler_heartbeat", FormatIso8601(started));
  last_heartbeat_us_.store(ToMicros(started), std::memory_order_relaxed);
  // Runs a previous process of this name left running, or that nobody
  // coordinates any more: take them over.
  RunFilter running;
  running.states = {RunState::kRunning};
  running.limit = 100'000;
  for (const RunRecord& run : store_.ListRuns(running)) {
    if (!store_.ClaimRun(run.run_id, options_.name, clock_.Now(), options_.run_lease)) continue;  // another's
    std::lock_guard lock(mu_);
    spdlog::info("run resumed run={} dag={}", run.run_id, run.dag_id);
    LaunchTakenOver(run);
  }
  loop_ = std::thread([this] { Loop(); });
}

void Scheduler::LaunchTakenOver(const RunRecord& run) {
  // It started a new try first, then saw the request at its first renewal.
  if (run.cancel_requested) executor_.CancelRun(run.run_id, /*before_start=*/true);
  Launch(run, SpecForLocked(run.dag_id, run.dag_version));
}

void Scheduler::RenewLeases(TimePoint now) {
  std::vector<std::string> here;
  {
    std::lock_guard lock(mu_);
    for (const auto& [run_id, dag_id] : launched_) here.push_back(run_id);
  }
  std::set<std::string> kept;
  for (const RunLease& lease : store_.RenewRuns(options_.name, here, now, options_.run_lease)) {
    kept.insert(lease.run_id);
    if (lease.cancel_requested && executor_.CancelRun(lease.run_id)) {
      spdlog::info("run cancelled run={} (asked through another scheduler)", lease.run_id);
    }
  }
  for (const std::string& run_id : here) {
    if (kept.count(run_id)) continue;
    // A run that ended here between the list above and the renewal (the
    // renewal keeps only unfinished runs) is not lost: the executor is
    // finishing it.
    if (auto run = store_.GetRun(run_id); run && IsTerminal(run->state) && run->coordinator == options_.name) continue;
    // Taken over (this scheduler could not renew in time): stop at once,
    // before the new coordinator runs its tries again.
    if (executor_.AbandonRun(run_id, "run " + run_id + " is coordinated by another scheduler now")) {
      spdlog::warn("run lost its lease run={}: another scheduler coordinates it", run_id);
    }
  }
}

void Scheduler::KeepRuns(TimePoint now) {
  RenewLeases(now);
  for (const RunRecord& run : store_.ListOrphanedRuns(now, kQueuedBatch)) {
    std::lock_guard lock(mu_);
    if (stopping_ || launched_.count(run.run_id)) continue;
    if (!store_.ClaimRun(run.run_id, options_.name, now, options_.run_lease)) continue;  // another was quicker
    spdlog::info("run taken over run={} dag={} from={}", run.run_id, run.dag_id,
                 run.coordinator.empty() ? "(none)" : run.coordinator);
    LaunchTakenOver(run);
  }
}

void Scheduler::CheckSlas(TimePoint now) {
  std::vector<std::string> watched;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, entry] : dags_) {
      if (HasSla(*entry.spec)) watched.push_back(id);
    }
  }
  std::set<std::string> active;
  for (const std::string& dag_id : watched) {
    RunFilter f;
    f.dag_id = dag_id;
    f.states = {RunState::kQueued, RunState::kRunning};
    f.limit = 10'000;  // SlaPoints picks the runs that have SLAs (scheduled and upstream)
    for (const RunRecord& run : store_.ListRuns(f)) {
      std::shared_ptr<const DagSpec> spec;
      try {
        std::lock_guard lock(mu_);
        spec = SpecForLocked(run.dag_id, run.dag_version);
      } catch (const Error& e) {  // the run itself reports it
        spdlog::debug("sla of run={}: {}", run.run_id, e.what());
        continue;
      }
      active.insert(run.run_id);
      sla_.Check(*spec, run, now);
    }
  }
  sla_.Retain(active);
}

void Scheduler::CheckEndedRunSlas(const std::string& run_id, const DagSpec& spec) {
  if (!HasSla(spec)) return;
  try {
    if (auto run = store_.GetRun(run_id); run && IsTerminal(run->state)) sla_.Check(spec, *run, clock_.Now());
  } catch (const std::exception& e) {
    spdlog::error("checking the SLAs of run={}: {}", run_id, e.what());
  }
}

void Scheduler::Stop(Duration grace) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
  executor_.Drain(clock_.Now() + grace);
  // The loop that renewed the run leases has ended: renew them here while
  // the tries finish within the grace, or another scheduler would take the
  // runs over and kill the tries given time to finish.
  const auto renew_every = std::max<Duration>(std::chrono::milliseconds(100), options_.run_lease / 4);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, renew_every, [&] { return run_threads_ == 0; })) {
    lock.unlock();
    try {
      RenewLeases(clock_.Now());
    } catch (const std::exception& e) {
      spdlog::warn("renewing run leases while stopping: {}", e.what());
    }
    lock.lock();
  }
}

void Scheduler::Poke() {
  std::lock_guard lock(mu_);
  poked_ = true;
  cv_.notify_all();
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  TimePoint last_heartbeat{};
  while (!stopping_) {
    poked_ = false;
    TimePoint now = clock_.Now();
    auto turn_start = std::chrono::steady_clock::now();  // real time, whatever clock_ says
    std::optional<TimePoint> wake;
    try {
      lock.unlock();
      CreateDueRuns(now);
      KeepRuns(now);
      CheckSlas(now);
      if (now - last_heartbeat >= options_.heartbeat_every) {
        store_.PutMeta("scheduler_heartbeat", FormatIso8601(now));
        last_heartbeat = now;
        last_heartbeat_us_.store(ToMicros(now), std::memory_order_relaxed);
      }
      lock.lock();
      stats_.last_heartbeat = last_heartbeat;
      stats_.loop_lag = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - turn_start);
      // Runs another process queued (trigger_dag under pipectl run, say):
      // one query for all DAGs, then each DAG's only when there are some.
      RunFilter any_queued;
      any_queued.states = {RunState::kQueued};
      if (store_.CountRuns(any_queued) > 0) {
        for (const auto& [id, entry] : dags_) StartQueued(id);
      }
      wake = NextWake(now);
    } catch (const std::exception& e) {
      if (!lock.owns_lock()) lock.lock();
      spdlog::error("scheduler loop: {} (retrying in 1s)", e.what());
      wake = clock_.Now() + kRetryAfterError;
    }
    // The heartbeat is due, and the store is looked at for queued runs,
    // even when no DAG has a tick coming.
    if (!wake || last_heartbeat + options_.heartbeat_every < *wake) wake = last_heartbeat + options_.heartbeat_every;
    if (TimePoint poll = clock_.Now() + options_.queued_poll; poll < *wake) wake = poll;
    // Leases are renewed at each turn: three chances a lease however short.
    if (TimePoint renew = clock_.Now() + options_.run_lease / 3; renew < *wake) wake = renew;
    clock_.WaitUntil(cv_, lock, wake, [&] { return stopping_ || poked_; });
  }
}

void Scheduler::CreateDueRuns(TimePoint now) {
  std::map<std::string, Loaded> dags;
  {
    std::lock_guard lock(mu_);
    dags = dags_;
  }
  std::map<std::string, bool> paused;
  for (const DagRecord& d : store_.ListDags()) paused[d.dag_id] = d.paused;
  for (const auto& [id, entry] : dags) {
    const DagSpec& dag = *entry.spec;
    if (paused[id]) continue;
    if (!dag.after.empty()) CreateUpstreamRun(id, entry, now);
    auto schedule = Schedule::ForDag(dag);
    if (!schedule) continue;
    RunFilter active;
    active.dag_id = id;
    active.states = {RunState::kQueued, RunState::kRunning};
    // One run per tick: a tick a backfill ran already is passed over.
    const std::string& dag_id = id;  // (clang 14 cannot capture a structured binding)
    auto ticks = TicksToCreate(*schedule, dag.catchup, dag.max_active_runs, store_.LastScheduledTick(id),
                               store_.CountRuns(active), now,
                               [&](TimePoint at) { return store_.HasTickRun(dag_id, at); });
    for (const Tick& tick : ticks) {
      RunRecord run = NewRun(id, entry.version, "scheduled", now, tick.logical_date, tick.interval_start,
                             tick.interval_end, ParamsToJson(*ResolveParams(dag, {}, nullptr)));
      try {
        // Within max_active_runs as the store counts them now: another
        // scheduler may have created runs since the count above.
        store_.CreateRun(run, TaskInstances(dag), dag.max_active_runs);
        spdlog::info("run created run={} dag={} trigger=scheduled logical_date={}", run.run_id, id,
                     FormatIso8601(tick.logical_date));
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kConflict) throw;  // another scheduler made it, or made the DAG full: fine
        break;  // the later ticks wait their turn (oldest first)
      }
    }
  }
}

void Scheduler::CreateUpstreamRun(const std::string& dag_id, const Loaded& entry, TimePoint now) {
  const DagSpec& dag = *entry.spec;
  UpstreamStates states = ReadUpstreamStates(store_, dag_id, dag.after);
  if (!states.all_fresh()) return;
  // Paused since this turn read the pauses: the success read just now came
  // after it (a pause, then an upstream run, as in the test) and starts
  // nothing.
  if (auto record = store_.GetDag(dag_id); record && record->paused) return;
  // Its logical date is the newest success it consumes, its data interval
  // starts at the last such run's (the epoch for the first): the store keeps
  // one run per DAG and interval start, so two schedulers that both saw the
  // same last run make one run, whatever successes each saw since.
  TimePoint newest{};
  for (const UpstreamState& u : states.upstream) newest = std::max(newest, u.latest->at);
  // The DAG's dates bound these runs as they bound its ticks: upstream
  // successes before start_date or after end_date start nothing (end_date
  // retires a DAG).
  if ((dag.start_date && newest < *dag.start_date) || (dag.end_date && newest > *dag.end_date)) return;
  const TimePoint since = states.last_run ? states.last_run->logical_date : FromMicros(0);
  RunRecord run = NewRun(dag_id, entry.version, "upstream", now, newest, since, newest,
                         ParamsToJson(*ResolveParams(dag, {}, nullptr)));
  run.upstream_json = ConsumedJson(states);
  try {
    store_.CreateRun(run, TaskInstances(dag));
    spdlog::info("run created run={} dag={} trigger=upstream upstream={}", run.run_id, dag_id, run.upstream_json);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kConflict) throw;  // another scheduler made it: fine
  }
}

int Scheduler::RunningHere(const std::string& dag_id) const {
  return int(std::count_if(launched_.begin(), launched_.end(),
                           [&](const auto& entry) { return entry.second == dag_id; }));
}

void Scheduler::StartQueued(const std::string& dag_id) {
  if (stopping_) return;
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) return;
  const int max_active = it->second.spec->max_active_runs;
  if (RunningHere(dag_id) >= max_active) return;
  auto record = store_.GetDag(dag_id);
  if (record && record->paused) return;
  RunFilter queued;
  queued.dag_id = dag_id;
  queued.states = {RunState::kQueued};
  queued.limit = kQueuedBatch;
  int64_t total = store_.CountRuns(queued);
  if (total == 0) return;
  queued.offset = int(std::max<int64_t>(0, total - kQueuedBatch));  // the oldest ones
  std::vector<RunRecord> runs = store_.ListRuns(queued);
  std::reverse(runs.begin(), runs.end());
  for (const RunRecord& run : runs) {
    if (launched_.count(run.run_id)) continue;
    // Started in the store, where every scheduler's running runs count.
    auto started = store_.StartQueuedRun(run.run_id, options_.name, clock_.Now(), options_.run_lease, max_active);
    if (!started) {
      if (store_.GetRun(run.run_id).value_or(run).state == RunState::kQueued) break;  // no room
      continue;  // another scheduler started it
    }
    if (options_.observer) options_.observer->OnRunState(*started, RunState::kRunning);
    Launch(*started, SpecForLocked(dag_id, run.dag_version));
  }
}

void Scheduler::Launch(const RunRecord& run, std::shared_ptr<const DagSpec> spec, bool fresh) {
  launched_[run.run_id] = run.dag_id;
  ++run_threads_;
  ++stats_.runs_started;
  std::thread([this, run, spec, fresh] {
    RunRequest request;
    request.dag = spec.get();
    request.run = run;
    request.create = false;
    request.fresh = fresh;
    request.coordinator = options_.name;
    for (;;) {
      try {
        request.params = ParamsFromJson(request.run.params_json);
        RunState state = executor_.Execute(request, options_.observer);
        if (state == RunState::kRunning) {
          // Stopped before its end (a shutdown): another scheduler may take it now.
          spdlog::info("run left run={} dag={}", run.run_id, run.dag_id);
          try {
            store_.ReleaseRun(run.run_id, options_.name);
          } catch (const std::exception&) {  // its lease runs out instead
          }
        } else {
          spdlog::info("run ended run={} dag={} state={}", run.run_id, run.dag_id, ToString(state));
          CheckEndedRunSlas(run.run_id, *spec);
        }
        break;
      } catch (const Error& e) {
        spdlog::error("run interrupted run={} dag={}: {}", run.run_id, run.dag_id, e.what());
        if (e.code() != ErrorCode::kUnavailable) break;
      } catch (const std::exception& e) {
        spdlog::error("run failed to execute run={} dag={}: {}", run.run_id, run.dag_id, e.what());
        break;
      }
      // The database went away mid-run: take the run up again, from the
      // store, once it answers (its interrupted tries count as lost).
      if (!WaitToRetry(request.run)) break;
      request.fresh = false;  // read it back this time
    }
    std::lock_guard lock(mu_);
    launched_.erase(run.run_id);
    --run_threads_;
    if (has_after_) poked_ = true;  // its successes may start runs of DAGs that come after it
    // A scheduled DAG catching up makes its next missed tick's run now that
    // a slot is free (max_active_runs), not at the next poll.
    if (auto it = dags_.find(run.dag_id); it != dags_.end() && it->second.spec->schedule && it->second.spec->catchup) {
      poked_ = true;
    }
    try {
      StartQueued(run.dag_id);  // the freed slot, at once
    } catch (const std::exception& e) {
      spdlog::error("starting queued runs of dag={}: {}", run.dag_id, e.what());
      poked_ = true;
    }
    cv_.notify_all();
  }).detach();
}

bool Scheduler::WaitToRetry(RunRecord& run) {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      clock_.WaitUntil(cv_, lock, clock_.Now() + kRetryAfterError, [&] { return stopping_; });
      if (stopping_) return false;
    }
    try {
      auto fresh = store_.GetRun(run.run_id);
      if (!fresh || IsTerminal(fresh->state)) return false;
      // Still ours, or nobody's: taken up again; else another scheduler has it.
      if (!store_.ClaimRun(run.run_id, options_.name, clock_.Now(), options_.run_lease)) return false;
      run = *fresh;
      spdlog::info("run resumed run={} dag={} (database back)", run.run_id, run.dag_id);
      return true;
    } catch (const Error& e) {
      spdlog::warn("waiting for the database to resume run={}: {}", run.run_id, e.what());
    }
  }
}

std::optional<TimePoint> Scheduler::NextWake(TimePoint now) {
  std::optional<TimePoint> wake;
  for (const auto& [id, entry] : dags_) {
    auto schedule = Schedule::ForDag(*entry.spec);
    if (!schedule) continue;
    auto tick = schedule->NextAfter(now);
    if (tick && (!wake || tick->logical_date < *wake)) wake = tick->logical_date;
  }
  if (auto due = sla_.NextDue(); due && (!wake || *due < *wake)) wake = *due;
  return wake;
}

RunRecord Scheduler::Trigger(const std::string& dag_id,
                             const std::vector<std::pair<std::string, std::string>>& overrides,
                             bool queue) {
  std::unique_lock lock(mu_);
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) throw Error::NotFound("no DAG '" + dag_id + "'");
  Loaded entry = it->second;
  std::string error;
  auto params = ResolveParams(*entry.spec, overrides, &error);
  if (!params) throw Error::InvalidArgument(error);
  RunFilter active;
  active.dag_id = dag_id;
  active.states = {RunState::kQueued, RunState::kRunning};
  if (!queue && std::max<int64_t>(RunningHere(dag_id), store_.CountRuns(active)) >= entry.spec->max_active_runs) {
    throw Error::Conflict("DAG '" + dag_id + "' has max_active_runs (" +
                          std::to_string(entry.spec->max_active_runs) + ") runs active");
  }
  TimePoint now = clock_.Now();
  RunRecord run = NewRun(dag_id, entry.version, "manual", now, now, now, now, ParamsToJson(*params));
  // Fast path: room, not paused, nobody queued before it: the run is
  // created `running` and starts now, without reading it back (one commit
  // fewer than queued -> running). mu_ is held, so no other trigger of this
  // process slips in between the check and the creation.
  RunFilter queued;
  queued.dag_id = dag_id;
  queued.states = {RunState::kQueued};
  auto record = store_.GetDag(dag_id);
  const bool start_now = !stopping_ && RunningHere(dag_id) < entry.spec->max_active_runs &&
                         !(record && record->paused) && store_.CountRuns(queued) == 0;
  if (start_now) {
    run.state = RunState::kRunning;
    run.started_at = now;
    run.coordinator = options_.name;
    run.coordinator_until = now + options_.run_lease;
  }
  store_.CreateRun(run, TaskInstances(*entry.spec));
  spdlog::info("run created run={} dag={} trigger=manual", run.run_id, dag_id);
  if (start_now) {
    Launch(run, entry.spec, /*fresh=*/true);
  } else {
    StartQueued(dag_id);
  }
  return run;
}

std::vector<RunRecord> Scheduler::Backfill(const std::string& dag_id, TimePoint from, TimePoint to,
                                           bool rerun, int* skipped) {
  std::unique_lock lock(mu_);
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) throw Error::NotFound("no DAG '" + dag_id + "'");
  Loaded entry = it->second;
  auto schedule = Schedule::ForDag(*entry.spec);
  if (!schedule) throw Error::InvalidArgument("DAG '" + dag_id + "' has no schedule to backfill");
  if (from > to) {
    throw Error::InvalidArgument("backfill: from (" + FormatIso8601(from) + ") is after to (" + FormatIso8601(to) + ")");
  }
  // A tick to come gets its run when it is due (as Airflow refuses future
  // dates): a backfill of it would run the future now.
  if (const TimePoint now = clock_.Now(); to > now) {
    throw Error::InvalidArgument("backfill: to (" + FormatIso8601(to) + ") is in the future (now " + FormatIso8601(now) +
                                 "): its ticks get their runs when they are due");
  }
  std::vector<Tick> ticks = schedule->Between(from, to, kMaxBackfillTicks + 1);
  if (ticks.size() > kMaxBackfillTicks) {
    throw Error::InvalidArgument("backfill covers more than " + std::to_string(kMaxBackfillTicks) + " ticks");
  }
  // A range wholly outside the DAG's dates has no tick: said, not "0 runs".
  const DagSpec& spec = *entry.spec;
  if (ticks.empty() && spec.start_date && to < *spec.start_date) {
    throw Error::InvalidArgument("backfill: the range ends before the DAG's start_date " + FormatIso8601(*spec.start_date) +
                                 ": it has no tick there");
  }
  if (ticks.empty() && spec.end_date && from > *spec.end_date) {
    throw Error::InvalidArgument("backfill: the range starts after the DAG's end_date " + FormatIso8601(*spec.end_date) +
                                 ": it has no tick there");
  }
  std::set<TimePoint> existing;
  if (!rerun) {
    for (const char* trigger : {"scheduled", "backfill"}) {
      RunFilter f;
      f.dag_id = dag_id;
      f.trigger = trigger;
      f.limit = 1'000'000;
      for (const RunRecord& r : store_.ListRuns(f)) existing.insert(r.logical_date);
    }
  }
  std::string params = ParamsToJson(*ResolveParams(*entry.spec, {}, nullptr));
  std::vector<RunRecord> created;
  TimePoint now = clock_.Now();
  if (skipped) *skipped = 0;
  for (const Tick& tick : ticks) {
    if (existing.count(tick.logical_date)) {
      if (skipped) ++*skipped;
      continue;
    }
    RunRecord run = NewRun(dag_id, entry.version, "backfill", now, tick.logical_date, tick.interval_start,
                           tick.interval_end, params);
    store_.CreateRun(run, TaskInstances(*entry.spec));
    created.push_back(run);
  }
  spdlog::info("backfill dag={} from={} to={} runs={}", dag_id, FormatIso8601(from), FormatIso8601(to),
               created.size());
  StartQueued(dag_id);
  return created;
}

bool Scheduler::Cancel(const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run) throw Error::NotFound("no run '" + run_id + "'");
  if (IsTerminal(run->state)) return false;
  if (executor_.CancelRun(run_id)) {
    spdlog::info("run cancelled run={} (running here)", run_id);
    return true;
  }
  // Not executing here: a queued run never started.
  std::lock_guard lock(mu_);
  // Launched here, its thread not in Execute yet: cancelled as it starts.
  if (launched_.count(run_id)) return executor_.CancelRun(run_id, /*before_start=*/true);
  if (run->state == RunState::kRunning) {
    // Another scheduler coordinates it: it sees the request at its next renewal.
    bool asked = store_.RequestRunCancel(run_id);
    if (asked) spdlog::info("run cancel requested run={} coordinator={}", run_id, run->coordinator);
    return asked;
  }
  TimePoint now = clock_.Now();
  std::vector<TaskTransition> batch;
  for (const TaskInstanceRecord& t : store_.GetTaskInstances(run_id)) {
    if (IsTerminal(t.state)) continue;
    TaskTransition tr;
    tr.run_id = run_id;
    tr.task_id = t.task_id;
    tr.from = {t.state};
    tr.to = TaskState::kCancelled;
    tr.at = now;
    tr.reason = "cancelled";
    batch.push_back(tr);
  }
  if (!store_.TransitionRun(run_id, {RunState::kQueued}, RunState::kCancelled, now, "cancelled")) return false;
  if (!batch.empty()) store_.TransitionTasks(batch);
  spdlog::info("run cancelled run={} (queued)", run_id);
  return true;
}

RunRecord Scheduler::Clear(const std::string& run_id, const std::string& task_id, bool downstream) {
  auto run = store_.GetRun(run_id);
  if (!run) throw Error::NotFound("no run '" + run_id + "'");
  auto spec = SpecFor(run->dag_id, run->dag_version);
  // TASK[INDEX]: one instance of a mapped task, cleared with its task (which
  // ends again once that instance has); the other instances keep their ends.
  const auto one = ParseMapInstanceId(task_id);
  const std::string task_name = one ? one->first : task_id;
  const TaskSpec* cleared = spec->FindTask(task_name);
  if (!cleared || (one && (!cleared->map_over || !store_.GetTaskInstance(run_id, task_id)))) {
    throw Error::NotFound("run '" + run_id + "' has no task '" + task_id + "'");
  }
  if (!IsTerminal(run->state)) {
    throw Error::Conflict("run '" + run_id + "' is " + std::string(ToString(run->state)) +
                          "; clear tasks of an ended run");
  }
  std::set<std::string> chosen{task_name};
  if (downstream) {
    for (const TaskSpec& t : spec->tasks) {  // upstream first: one pass suffices
      for (const std::string& dep : t.depends_on) {
        if (chosen.count(dep)) chosen.insert(t.id);
      }
    }
  }
  TimePoint now = clock_.Now();
  std::vector<TaskTransition> batch;
  // The instances of a mapped task are cleared with it (and run again over
  // the items they were made for).
  std::vector<std::string> ids;
  for (const TaskSpec& t : spec->tasks) {
    if (chosen.count(t.id)) ids.push_back(t.id);
  }
  for (const TaskInstanceRecord& rec : store_.GetTaskInstances(run_id)) {
    auto of = rec.map_index ? ParseMapInstanceId(rec.task_id) : std::nullopt;
    if (!of || !chosen.count(of->first)) continue;
    if (one && of->first == task_name && rec.task_id != task_id) continue;  // another instance of the one cleared
    ids.push_back(rec.task_id);
  }
  std::map<std::string, std::vector<TaskTryRecord>> tries;
  for (TaskTryRecord& t : store_.GetRunTries(run_id)) tries[t.task_id].push_back(std::move(t));
  for (const std::string& id : ids) {
    auto instance = ParseMapInstanceId(id);
    const TaskSpec* task = spec->FindTask(instance ? instance->first : id);
    TaskTransition tr;
    tr.run_id = run_id;
    tr.task_id = id;
    tr.max_tries = MaxTriesAfterClear(*task, tries[id]);
    tr.from = {TaskState::kSuccess, TaskState::kFailed, TaskState::kUpstreamFailed,
               TaskState::kSkipped, TaskState::kCancelled};
    tr.to = TaskState::kPending;
    tr.at = now;
    tr.reason = "cleared";
    batch.push_back(tr);
  }
  std::lock_guard lock(mu_);
  if (!store_.TransitionRun(run_id, {run->state}, RunState::kQueued, now, "cleared " + task_id)) {
    throw Error::Conflict("run '" + run_id + "' changed meanwhile");
  }
  if (!store_.TransitionTasks(batch)) throw Error::Conflict("a task of run '" + run_id + "' changed meanwhile");
  spdlog::info("tasks cleared run={} task={} downstream={} count={}", run_id, task_id, downstream, batch.size());
  // The run as cleared (queued): read before it starts, which may end it at
  // once (a caller saw `success` of a run cleared a moment before).
  RunRecord cleared_run = *store_.GetRun(run_id);
  StartQueued(run->dag_id);
  return cleared_run;
}

void Scheduler::SetPaused(const std::string& dag_id, bool paused) {
  {
    std::lock_guard lock(mu_);
    if (!dags_.count(dag_id)) throw Error::NotFound("no DAG '" + dag_id + "'");
  }
  store_.SetPaused(dag_id, paused);
  spdlog::info("dag {} dag={}", paused ? "paused" : "unpaused", dag_id);
  Poke();
}

std::vector<std::shared_ptr<const DagSpec>> Scheduler::Specs() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const DagSpec>> out;
  for (const auto& [id, entry] : dags_) out.push_back(entry.spec);
  return out;
}

std::vector<DagStatus> Scheduler::Dags() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, entry] : dags_) ids.push_back(id);
  }
  std::vector<DagStatus> out;
  for (const std::string& id : ids) {
    if (auto status = Dag(id)) out.push_back(std::move(*status));
  }
  return out;
}

namespace {

// The rest of a DAG's status, from the store and the clock.
DagStatus StatusOf(StateStore& store, std::shared_ptr<const DagSpec> spec, int version, TimePoint now) {
  DagStatus status;
  status.spec = std::move(spec);
  status.version = version;
  if (auto record = store.GetDag(status.spec->id)) status.paused = record->paused;
  if (auto schedule = Schedule::ForDag(*status.spec)) {
    if (auto tick = schedule->NextAfter(now)) status.next_tick = tick->logical_date;
  }
  RunFilter last;
  last.dag_id = status.spec->id;
  last.limit = 1;
  auto runs = store.ListRuns(last);
  if (!runs.empty()) status.last_run = runs.front();
  return status;
}

}  // namespace

std::optional<DagStatus> Scheduler::Dag(const std::string& dag_id) {
  Loaded entry;
  {
    std::lock_guard lock(mu_);
    auto it = dags_.find(dag_id);
    if (it == dags_.end()) return std::nullopt;
    entry = it->second;
  }
  return StatusOf(store_, entry.spec, entry.version, clock_.Now());
}

std::optional<DagStatus> StoredDagStatus(StateStore& store, const DagLoader& loader, const std::string& dag_id,
                                         TimePoint now, std::string* error) {
  auto record = store.GetDag(dag_id);
  if (!record) return std::nullopt;
  auto version = store.GetDagVersion(dag_id, record->latest_version);
  if (!version) return std::nullopt;
  LoadResult loaded = loader.LoadText(version->source, version->file);
  if (!loaded.dag) {  // (it loaded when stored: an operator this build lacks, say)
    *error = "version " + std::to_string(record->latest_version) + " of DAG '" + dag_id + "' no longer loads" +
             (loaded.diagnostics.empty() ? "" : ": " + loaded.diagnostics.front().ToString());
    return std::nullopt;
  }
  return StatusOf(store, std::make_shared<const DagSpec>(std::move(*loaded.dag)), record->latest_version, now);
}

std::shared_ptr<const DagSpec> Scheduler::SpecFor(const std::string& dag_id, int version) {
  std::lock_guard lock(mu_);
  return SpecForLocked(dag_id, version);
}

std::shared_ptr<const DagSpec> Scheduler::SpecForLocked(const std::string& dag_id, int version) {
  auto it = versions_.find({dag_id, version});
  if (it != versions_.end()) return it->second;
  // A version from before a restart: the store has its text.
  auto stored = store_.GetDagVersion(dag_id, version);
  if (!stored) throw Error::NotFound("no version " + std::to_string(version) + " of DAG '" + dag_id + "'");
  LoadResult r = loader_.LoadText(stored->source, stored->file);
  if (!r.dag) {
    throw Error::Corruption("stored version " + std::to_string(version) + " of DAG '" + dag_id +
                            "' no longer loads: " + r.diagnostics.front().ToString());
  }
  auto spec = std::make_shared<const DagSpec>(std::move(*r.dag));
  versions_[{dag_id, version}] = spec;
  return spec;
}

std::vector<Diagnostic> Scheduler::LoadErrors() {
  std::lock_guard lock(mu_);
  return load_errors_;
}

std::optional<TimePoint> Scheduler::LastHeartbeat() {
  int64_t us = last_heartbeat_us_.load(std::memory_order_relaxed);
  if (us == 0) return std::nullopt;
  return FromMicros(us);
}

SchedulerStats Scheduler::Stats() {
  RunFilter queued;
  queued.states = {RunState::kQueued};
  int64_t depth = store_.CountRuns(queued);
  std::lock_guard lock(mu_);
  SchedulerStats out = stats_;
  out.queued_runs = depth;
  return out;
}

}  // namespace pipeline
