#include "exec/executor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "dag/map_items.h"
#include "exec/dag_slots.h"
#include "core/operator.h"
#include "exec/cancel_token.h"
#include "exec/subprocess.h"
#include "exec/remote_try.h"
#include "exec/try_context.h"
#include "exec/try_render.h"
#include "exec/try_runner.h"
#include "exec/task_services.h"

#include <nlohmann/json.hpp>

namespace pipeline {

namespace {

namespace fs = std::filesystem;

std::string DefaultWorkerName() {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

// A try lost to a crash or a shutdown (its reason starts with
// kLostTryPrefix) uses up no retry, but a task lost more than this many
// times in a row fails.
constexpr int kMaxLostInARow = 3;
// Tries of one run handed to workers at once, when the DAG sets no
// max_active_tasks: the work queue holds them; workers' slots bound what runs.
constexpr int kRemoteInFlight = 4096;
constexpr std::string_view kHandedBack = "lost: handed back at shutdown";
// The DagSlots entry of the pool's threads (no DAG id starts with \x01).
const std::string kLocalPool = "\x01pool";

// Whether two "host:pid" worker names are on the same host.
bool SameHost(const std::string& a, const std::string& b) {
  return a.substr(0, a.rfind(':')) == b.substr(0, b.rfind(':'));
}

// What a task's trigger rule says once some upstream tasks have ended.
enum class Decision { kWait, kRun, kSkip, kUpstreamFailed };

// Upstream outcomes of one task, counted as they arrive.
struct UpstreamCounts {
  int total = 0;
  int succeeded = 0;
  int failed = 0;  // failed or upstream_failed
  int skipped = 0;
  int done = 0;
};

// A rule that can never hold makes the task `upstream_failed` only under
// all_success with an upstream failed; otherwise `skipped` (the contract's
// rule; Airflow makes one_success and none_failed upstream_failed too).
Decision Evaluate(TriggerRule rule, const UpstreamCounts& c) {
  bool all_done = c.done == c.total;
  switch (rule) {
    case TriggerRule::kAllSuccess:
      if (c.failed > 0) return Decision::kUpstreamFailed;
      if (!all_done) return Decision::kWait;
      return c.skipped > 0 ? Decision::kSkip : Decision::kRun;
    case TriggerRule::kAllDone:
      return all_done ? Decision::kRun : Decision::kWait;
    case TriggerRule::kAllFailed:
      if (c.succeeded > 0 || c.skipped > 0) return Decision::kSkip;
      return all_done ? Decision::kRun : Decision::kWait;
    case TriggerRule::kOneSuccess:
      if (c.succeeded > 0) return Decision::kRun;
      return all_done ? Decision::kSkip : Decision::kWait;
    case TriggerRule::kOneFailed:
      if (c.failed > 0) return Decision::kRun;
      return all_done ? Decision::kSkip : Decision::kWait;
    case TriggerRule::kNoneFailed:
      if (c.failed > 0) return Decision::kSkip;
      return all_done ? Decision::kRun : Decision::kWait;
  }
  return Decision::kWait;
}


}  // namespace

// The state of one run while it executes, guarded by mu_. A worker that
// finishes a try handles its completion itself (state, downstream tasks, the
// store, starting what became ready), so a hop costs no thread switch. The
// coordinating thread (the caller of Execute) handles timers, cancellation
// and the end of the run.
class Executor::RunExecution {
 public:
  RunExecution(Executor& ex, const RunRequest& request, RunObserver* observer)
      : ex_(ex), dag_(*request.dag), run_(request.run), params_(request.params),
        observer_(observer), fence_(request.coordinator) {
    // Tries in this process: at most the pool's threads; tries on workers:
    // at most kRemoteInFlight (the work queue holds the rest back).
    local_limit_ = std::min(ex.workers_, dag_.max_active_tasks.value_or(ex.workers_));
    limit_ = dag_.max_active_tasks.value_or(kRemoteInFlight);
    if (dag_.max_active_tasks) dag_limit_ = *dag_.max_active_tasks;
    // Woken when a slot this run waits for (a thread of the pool, a task of
    // its DAG's max_active_tasks) is freed by another run.
    waiter_ = std::make_shared<DagSlots::Waiter>();
    waiter_->wake = [this] {
      slot_freed_ = true;
      { std::lock_guard lock(mu_); }  // the coordinator sees the flag or gets the notify
      cv_.notify_all();
    };
    dag_dir_ = fs::path(dag_.file).parent_path().string();
    slots_.resize(dag_.tasks.size());
    std::map<std::string_view, size_t> index;
    for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) index[dag_.tasks[idx].id] = idx;
    for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) {
      const TaskSpec& spec = dag_.tasks[idx];
      slots_[idx].spec = &spec;
      slots_[idx].max_tries = 1 + spec.retry.retries;
      slots_[idx].upstream.total = int(spec.depends_on.size());
      for (const std::string& dep : spec.depends_on) slots_[index.at(dep)].downstream.push_back(idx);
    }
    // Who reads whose output: direct upstream tasks and the `input` task.
    for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) {
      const TaskSpec& spec = dag_.tasks[idx];
      std::vector<size_t>& reads = slots_[idx].reads;
      for (const std::string& dep : spec.depends_on) reads.push_back(index.at(dep));
      if (spec.input && index.count(*spec.input)) reads.push_back(index.at(*spec.input));
      std::sort(reads.begin(), reads.end());
      reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
      for (size_t u : reads) ++slots_[u].readers;
    }
    unfinished_ = slots_.size();
  }

  // What is still prepared is destroyed with the slots (waiting shells killed).
  ~RunExecution() { ex_.warm_total_.fetch_sub(warm_, std::memory_order_relaxed); }

  RunState Run(bool restore) {
    // On the way out (after the lock below is released): no more wakes.
    struct StopWaking {
      RunExecution* run;
      ~StopWaking() {
        run->ex_.dag_slots_->Forget(kLocalPool, run->waiter_);
        if (run->dag_limit_ > 0) run->ex_.dag_slots_->Forget(run->dag_.id, run->waiter_);
        DagSlots::Wake(std::exchange(run->wakes_, {}));  // slots given back as the run ended
        std::lock_guard guard(run->waiter_->mu);
        run->waiter_->alive = false;
      }
    } stop_waking{this};
    if (run_.state == RunState::kQueued) {
      PersistRun({RunState::kQueued}, RunState::kRunning, "");
    } else if (!restore && observer_) {
      observer_->OnRunState(run_, RunState::kRunning);  // created running by its launcher
    }
    std::unique_lock lock(mu_);
    try {
      if (restore) {
        Restore();
      } else {
        for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) {
          if (slots_[idx].upstream.total == 0 && Reach(idx)) Propagate(idx);
        }
      }
      // Cancelled before it started here (a run taken over with a cancel
      // asked of its old coordinator): start nothing.
      if (cancel_requested_ && !cancelling_) BeginCancel();
      Dispatch();
      Flush(lock);
      while (!failure_ && unfinished_ > 0 && !(draining_ && running_ == 0)) {
        std::optional<TimePoint> deadline;
        if (!timers_.empty()) deadline = timers_.begin()->first;
        if (drain_deadline_ && running_ > 0 && (!deadline || *drain_deadline_ < *deadline)) {
          deadline = drain_deadline_;
        }
        timers_changed_ = false;
        ex_.clock_.WaitUntil(cv_, lock, deadline, [&] {
          return failure_ || unfinished_ == 0 || timers_changed_ || (draining_ && running_ == 0) ||
                 (slot_freed_ && !ready_.empty()) || !abandon_reason_.empty() ||
                 (cancel_requested_ && !cancelling_) || (drain_requested_ && !draining_);
        });
        if (failure_) break;
        if (!abandon_reason_.empty()) throw Error::Conflict(abandon_reason_);
        slot_freed_ = false;
        if (cancel_requested_ && !cancelling_) BeginCancel();
        if (drain_requested_ && !draining_) {
          BeginDrain();
          DetachRemote(lock);
        }
        TimePoint now = ex_.clock_.Now();
        if (draining_ && drain_deadline_ && now >= *drain_deadline_) HandBack();
        FireTimers(now);
        Dispatch();
        Flush(lock);
        if (!wakes_.empty()) {  // other runs waiting for a thread given back here
          auto woken = std::exchange(wakes_, {});
          lock.unlock();
          DagSlots::Wake(woken);
          lock.lock();
        }
      }
      Flush(lock, /*wait=*/true);
    } catch (...) {
      failure_ = std::current_exception();
    }
    if (failure_) {
      Abandon(lock);
      std::rethrow_exception(failure_);
    }
    if (draining_ && unfinished_ > 0) return RunState::kRunning;  // left for the next process
    RunState final_state = RunState::kSuccess;
    if (cancelling_) {
      final_state = RunState::kCancelled;
    } else {
      for (const Slot& slot : slots_) {
        if (slot.state == TaskState::kFailed || slot.state == TaskState::kUpstreamFailed) {
          final_state = RunState::kFailed;
        }
      }
    }
    lock.unlock();
    PersistRun({RunState::kRunning}, final_state, "");
    return final_state;
  }

  // Thread-safe.
  void RequestCancel() {
    std::lock_guard lock(mu_);
    cancel_requested_ = true;
    cv_.notify_all();
  }

  // Thread-safe: stop coordinating at once (another scheduler took the run
  // over): Execute throws Error(kConflict) with `why`.
  void RequestAbandon(const std::string& why) {
    std::lock_guard lock(mu_);
    if (abandon_reason_.empty()) abandon_reason_ = why;
    cv_.notify_all();
  }

  // Thread-safe: start nothing new; tries still running at `deadline` are
  // stopped and handed back (queued again, not counted as tries).
  void RequestDrain(TimePoint deadline) {
    std::lock_guard lock(mu_);
    drain_requested_ = true;
    drain_deadline_ = deadline;
    cv_.notify_all();
  }

 private:
  struct Timer {
    size_t index;
    bool timeout;        // else a retry, or a sensor's next check
    int try_number;      // the try it belongs to
    bool check = false;  // a waiting sensor's next check
  };

  struct Slot {
    const TaskSpec* spec = nullptr;
    TaskState state = TaskState::kPending;
    int try_number = 0;
    int max_tries = 1;  // tries that use up retries: 1 + retries, more after a clear (the store's)
    std::vector<size_t> downstream;
    std::vector<size_t> reads;  // tasks whose output this one may read
    int readers = 0;            // tasks that may read this one's output and have not ended
    UpstreamCounts upstream;
    std::shared_ptr<EventCancelToken> token;  // of the running try
    std::optional<TimePoint> try_started;     // when the latest try began (a sensor's spans its checks)
    bool timed_out = false;
    bool remote = false;            // the running try is a worker's
    bool detached = false;          // ... and left to the run's next coordinator
    bool handed_back = false;       // the try was stopped by a shutdown
    int lost_tries = 0;             // tries lost to crashes: they use up no retries
    int lost_in_a_row = 0;
    std::optional<TimePoint> next_try_at;  // restored up_for_retry
    // A warm start: the next try, prepared while the last upstream task runs.
    std::shared_ptr<TryContext> warm;
    bool warming = false;  // being prepared (outside the lock)
    // map_over. A mapped task runs no try of its own: when the run reaches
    // it, its instances (slots appended to slots_) are made and queued; it
    // stays `running` until they have all ended.
    bool expanded = false;            // its instances exist
    std::vector<size_t> instances;    // in item order
    int instances_left = 0;           // not ended
    size_t mapped_from = kNoSlot;     // an instance's mapped task
    std::string worker;  // the `piped worker` whose try succeeded (its output may be in its memory)
  };
  static constexpr size_t kNoSlot = size_t(-1);

  struct PendingJob {  // a try to start once its `running` is stored
    size_t slot;
    TryJob job;
  };

  // On the worker thread that ran the try. Notifies while holding the lock:
  // once it is released the run may end and this object be gone.
  void OnTryEnd(size_t idx, TaskResult& result) {
    std::unique_lock lock(mu_);
    std::vector<std::shared_ptr<DagSlots::Waiter>> wake;
    if (dag_limit_ > 0) wake = ex_.dag_slots_->Release(dag_.id);
    if (failure_) {
      --running_;  // the run is being abandoned: only count the try out
      if (!slots_[idx].remote) ReleaseLocal();
      slots_[idx].detached = true;
    } else {
      try {
        HandleCompletion(idx, result);
        Dispatch();
        Flush(lock, /*wait=*/false, /*ending_job=*/true);
      } catch (...) {
        failure_ = std::current_exception();
      }
    }
    // Wake the coordinator only for what it handles (not every hop).
    if (failure_ || unfinished_ == 0 || timers_changed_ || (draining_ && running_ == 0)) cv_.notify_all();
    wake.insert(wake.end(), wakes_.begin(), wakes_.end());
    wakes_.clear();
    lock.unlock();
    // Runs of this DAG waiting for a slot (`this` may be gone by now).
    DagSlots::Wake(wake);
  }

  // A try in this process is `running` only once a thread of the pool is
  // its (across every run of the executor): its timeout counts from there,
  // and a try that waits for one is still `queued`, which a cancel reaches.
  void Dispatch() {
    while (!cancelling_ && !draining_ && running_ < limit_) {
      bool local = !ready_.local.empty() && running_local_ < local_limit_;
      if (local && !ex_.dag_slots_->TryAcquire(kLocalPool, ex_.workers_, waiter_)) local = false;
      if (!local && ready_.remote.empty()) break;
      if (dag_limit_ > 0 && !ex_.dag_slots_->TryAcquire(dag_.id, dag_limit_, waiter_)) {
        if (local) ReleaseLocal();
        break;
      }
      std::deque<size_t>& from = local ? ready_.local : ready_.remote;
      size_t idx = from.front();
      from.pop_front();
      StartTry(idx);
    }
  }

  // Gives a thread of the pool back; the runs waiting for one are woken
  // once this run's lock is released (their wake takes their own).
  void ReleaseLocal() {
    std::vector<std::shared_ptr<DagSlots::Waiter>> woken = ex_.dag_slots_->Release(kLocalPool);
    wakes_.insert(wakes_.end(), woken.begin(), woken.end());
  }

  void MakeReady(size_t idx) {
    Persist(idx, {TaskState::kPending, TaskState::kUpForRetry}, TaskState::kQueued, {});
    PushReady(idx);
  }

  void PushReady(size_t idx) {
    (ex_.Remote(*slots_[idx].spec) ? ready_.remote : ready_.local).push_back(idx);
  }

  // The context of try `try_number` of task `idx`: templates rendered.
  std::shared_ptr<TryContext> MakeContext(size_t idx, int try_number, std::shared_ptr<EventCancelToken> token) {
    Slot& slot = slots_[idx];
    const TaskSpec& spec = *slot.spec;
    std::string log_path = (LogFolder() / (spec.id + "." + std::to_string(try_number) + ".log")).string();
    RenderedTry rendered = RenderTry(dag_, spec, run_, params_, try_number);
    auto ctx = std::make_shared<TryContext>(
        spec, std::move(rendered.args), std::move(rendered.command), std::move(rendered.env), dag_dir_, log_path,
        try_number, std::move(token), &outputs_, &outputs_mu_, ex_.store_, ex_.options_.record_processes,
        run_, (fs::path(ex_.options_.artifact_root) / dag_.id / run_.run_id / spec.id).string(),
        ex_.clock_, &ex_.ops_);
    ctx->SetMapped(MappedReads(idx));
    ctx->SetCacheEnabled(ex_.options_.use_cache);
    if (auto it = ex_.options_.replay_inputs.find(spec.id); it != ex_.options_.replay_inputs.end()) {
      ctx->SetReplayInputs(it->second);
    }
    return ctx;
  }

  // The slot of the DAG's task `idx` stands for: itself, or an instance's mapped task.
  size_t TaskOf(size_t idx) const { return slots_[idx].mapped_from == kNoSlot ? idx : slots_[idx].mapped_from; }

  // The slot whose output is task `idx`'s input (`with.input`), or kNoSlot:
  // for an instance read item by item, that instance of the input task.
  size_t InputSlot(size_t idx) const {
    const size_t task = TaskOf(idx);
    const TaskSpec& spec = *slots_[task].spec;
    if (!spec.input) return kNoSlot;
    for (size_t u : slots_[task].reads) {
      if (slots_[u].spec->id != *spec.input) continue;
      if (task == idx || !spec.map_by_item) return u;
      const size_t index = size_t(slots_[idx].spec->map_index);
      return index < slots_[u].instances.size() ? slots_[u].instances[index] : kNoSlot;
    }
    return kNoSlot;
  }

  // The mapped tasks task `idx` may read (an instance: those its mapped task
  // may read), with their number of instances.
  TryContext::MappedCounts MappedReads(size_t idx) const {
    TryContext::MappedCounts out;
    for (size_t u : slots_[TaskOf(idx)].reads) {
      if (slots_[u].expanded) out[slots_[u].spec->id] = int(slots_[u].instances.size());
    }
    return out;
  }

  // Warm starts. Once a try's process runs (on its worker, outside the
  // lock), the downstream tasks that will be ready the moment it succeeds
  // are prepared (Operator::Prepare: a shell waiting at its gate), so that
  // the hop from one task to the next costs no process start-up. At most
  // local_limit_ at a time; a prepared try that never starts is destroyed unused.
  void PrepareDownstream(size_t idx) {
    struct Job {
      size_t down;
      std::shared_ptr<TryContext> ctx;
      const Operator* op;
    };
    std::vector<Job> jobs;
    {
      std::lock_guard lock(mu_);
      if (failure_ || cancelling_ || draining_) return;
      // Tries already wait for a worker: a task unblocked now would queue
      // behind them, so a shell started for it ahead would only wait too,
      // taking a core from the tries that run (a wide DAG of short tasks).
      if (!ready_.local.empty()) return;
      for (size_t down : slots_[idx].downstream) {
        Slot& d = slots_[down];
        if (d.state != TaskState::kPending || d.warm || d.warming || d.spec->map_over) continue;
        UpstreamCounts if_success = d.upstream;
        Count(TaskState::kSuccess, if_success);
        if (Evaluate(d.spec->trigger_rule, if_success) != Decision::kRun) continue;
        const Operator* op = ex_.ops_.Find(d.spec->op);
        if (!op || ex_.Remote(*d.spec)) continue;  // a worker elsewhere starts it
        if (warm_ >= local_limit_ || !ReserveWarm()) break;
        d.warming = true;
        jobs.push_back({down, MakeContext(down, d.try_number + 1, std::make_shared<EventCancelToken>()), op});
      }
    }
    for (Job& job : jobs) Prepare(*job.op, *job.ctx);
    std::vector<std::shared_ptr<TryContext>> unused;  // destroyed after the lock is released
    std::lock_guard lock(mu_);
    for (Job& job : jobs) {
      Slot& d = slots_[job.down];
      d.warming = false;
      bool usable = job.ctx->prepared() && !failure_ && !cancelling_ && !draining_ &&
                    (d.state == TaskState::kPending || d.state == TaskState::kQueued) &&
                    d.try_number + 1 == job.ctx->try_number();
      if (usable) {
        d.warm = std::move(job.ctx);
      } else {
        ReleaseWarm();
        unused.push_back(std::move(job.ctx));
      }
    }
  }

  static void Prepare(const Operator& op, TryContext& ctx) {
    try {
      ctx.SetPrepared(op.Prepare(ctx));
    } catch (const std::exception&) {
      // Nothing prepared: the try starts as usual and reports what fails.
    }
  }

  // Drops the warm start of a task that starts cold or never starts.
  void DropWarm(size_t idx) {
    if (!slots_[idx].warm) return;
    slots_[idx].warm.reset();
    ReleaseWarm();
  }

  // Counts a prepared try in this run and in the executor, where at most
  // `workers` are prepared at a time (idle shells add up over many runs).
  bool ReserveWarm() {
    if (ex_.warm_total_.fetch_add(1, std::memory_order_relaxed) >= ex_.workers_) {
      ex_.warm_total_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    ++warm_;
    return true;
  }
  void ReleaseWarm() {
    --warm_;
    ex_.warm_total_.fetch_sub(1, std::memory_order_relaxed);
  }

  void StartTry(size_t idx) {
    Slot& slot = slots_[idx];
    const TaskSpec& spec = *slot.spec;
    // A waiting sensor's next check goes on with its try.
    const bool resume = slot.state == TaskState::kWaiting;
    int try_number = resume ? slot.try_number : slot.try_number + 1;

    const Operator* op = ex_.ops_.Find(spec.op);
    std::shared_ptr<TryContext> ctx;
    if (slot.warm && slot.warm->try_number() == try_number) ctx = slot.warm;
    DropWarm(idx);
    const bool remote = ex_.Remote(spec);
    if (!ctx) {
      ctx = MakeContext(idx, try_number, std::make_shared<EventCancelToken>());
      // Prepared now, just before `running` is stored: a shell starts up
      // while the flush runs, and its process is recorded with the start.
      if (op && !remote) Prepare(*op, *ctx);
    }
    ctx->OnProcessStarted([this, idx] { PrepareDownstream(idx); });
    TaskTransition t = Transition(idx, {resume ? TaskState::kWaiting : TaskState::kQueued}, TaskState::kRunning);
    if (!resume || !slot.try_started) slot.try_started = t.at;  // a new try starts at its `running`
    ctx->set_try_started_at(*slot.try_started);
    t.log_path = ctx->log_path();
    t.worker = ex_.options_.worker_name;
    t.process = ctx->PreparedProcess();
    slot.try_number = try_number;
    Apply(idx, t);
    slot.timed_out = false;
    slot.token = ctx->token();
    // The timeout counts from the try's start: a sensor's try spans its
    // checks (each a few milliseconds), so a deadline per check never came.
    if (spec.timeout) AddTimer(*slot.try_started + *spec.timeout, Timer{idx, true, try_number});
    // Handed to the runner by Flush(), once the `running` state is stored.
    jobs_.push_back({idx, MakeJob(idx, ctx, op, remote)});
  }

  // The job of slot `idx`'s try on `ctx`, counted as running.
  TryJob MakeJob(size_t idx, const std::shared_ptr<TryContext>& ctx, const Operator* op, bool remote) {
    Slot& slot = slots_[idx];
    const TaskSpec& spec = *slot.spec;
    const int try_number = ctx->try_number();
    ++running_;
    slot.remote = remote;
    slot.detached = false;
    running_local_ += !remote;
    TryJob job;
    job.run_id = run_.run_id;
    job.task_id = spec.id;
    job.try_number = try_number;
    job.queue = spec.queue;
    job.cancel = ctx->token();
    if (remote) {
      job.payload = TryPayloadJson({dag_.id, run_.dag_version, dag_dir_, ctx->log_path(), ctx->artifact_dir(),
                                    spec.map_item, MappedReads(idx)});
      if (size_t from = InputSlot(idx); from != kNoSlot) job.prefer = slots_[from].worker;
    }
    job.execute = [ctx, op] {
      TaskResult result;
      try {
        result = op ? op->Execute(*ctx) : TaskResult::Failure("operator '" + ctx->task().op + "' is not available");
      } catch (const std::exception& e) {
        result = TaskResult::Failure(e.what());
      } catch (...) {
        result = TaskResult::Failure("unknown exception");
      }
      if (result.inputs_json.empty()) result.inputs_json = ctx->noted_inputs_json();
      return result;
    };
    job.done = [this, idx](TaskResult& result) { OnTryEnd(idx, result); };
    return job;
  }

  // A try a worker runs (or will) for the run's last coordinator: this one
  // now waits for its result (a worker's lease that runs out still makes it
  // lost). Started at once: there is nothing to store first.
  void Reattach(size_t idx) {
    Slot& slot = slots_[idx];
    auto ctx = MakeContext(idx, slot.try_number, std::make_shared<EventCancelToken>());
    slot.token = ctx->token();
    slot.timed_out = false;
    // The timeout counts from the try's start, not from this takeover (each
    // takeover would grant it a whole timeout again).
    if (slot.spec->timeout) {
      const TimePoint from = slot.try_started.value_or(ex_.clock_.Now());
      AddTimer(from + *slot.spec->timeout, Timer{idx, true, slot.try_number});
    }
    ex_.remote_runner_->Start(MakeJob(idx, ctx, ex_.ops_.Find(slot.spec->op), /*remote=*/true), false);
  }

  // LOG_ROOT/DAG/RUN. Made by the first try that writes to its log (a run
  // whose tasks print nothing makes no folder); the executor checked at its
  // start that LOG_ROOT can be written.
  const fs::path& LogFolder() {
    if (log_folder_.empty()) log_folder_ = fs::path(ex_.options_.log_root) / dag_.id / run_.run_id;
    return log_folder_;
  }

  void AddTimer(TimePoint at, Timer timer) {
    timers_.emplace(at, timer);
    timers_changed_ = true;  // the coordinator may need to wake sooner
  }

  void HandleCompletion(size_t idx, const TaskResult& result) {
    Slot& slot = slots_[idx];
    --running_;
    running_local_ -= !slot.remote;
    if (!slot.remote) ReleaseLocal();
    EraseTimeout(idx);
    const TaskSpec& spec = *slot.spec;
    TaskTransition t = Transition(idx, {TaskState::kRunning}, TaskState::kSuccess);
    // A worker's try ends when the worker says it did (read late after a
    // takeover), within this try's start and now (clocks of two machines).
    if (result.ended_at && *result.ended_at < t.at) t.at = std::max(*result.ended_at, slot.try_started.value_or(t.at));
    t.exit_code = result.exit_code;
    t.worker = result.worker;  // the `piped worker` that ran it (recorded with the try)
    slot.worker = result.ok ? result.worker : "";
    t.metrics_json = TaskMetricsJson(result.metrics);
    if (observer_) observer_->OnTaskMetrics(run_.run_id, spec.id, *t.metrics_json);
    if (slot.handed_back) {
      // handled below
    } else if (cancelling_ && !slot.timed_out) {
      t.to = TaskState::kCancelled;
      t.reason = "cancelled";
    } else if (slot.timed_out || (result.ok && result.check_again_at && spec.timeout &&
                                  slot.try_started && t.at >= *slot.try_started + *spec.timeout)) {
      // (A sensor whose try reached its deadline between checks: a check is
      // too quick for the timer to catch it.)
      t.to = TaskState::kFailed;
      t.reason = "timeout after " + FormatDuration(*spec.timeout);
    } else if (!result.ok) {
      t.to = TaskState::kFailed;
      t.reason = result.error.empty() ? "failed" : result.error;
    }
    const bool lost = result.lost && !slot.handed_back && !cancelling_ && !slot.timed_out;
    if (!slot.handed_back) slot.lost_in_a_row = lost ? slot.lost_in_a_row + 1 : 0;
    if (lost) {
      // Its worker went away: a new try that uses up no retry, at most
      // kMaxLostInARow times in a row (the contract's "lost" rule).
      ++slot.lost_tries;
      if (slot.lost_in_a_row > kMaxLostInARow) {
        t.reason += " (" + std::to_string(kMaxLostInARow + 1) + " times in a row)";
      } else {
        t.to = TaskState::kQueued;
        PushReady(idx);
      }
    } else if (slot.handed_back && IsSensor(spec)) {
      // A sensor's check cut off by a shutdown: its try waits on, and whoever
      // coordinates the run next checks again at once within it.
      t.to = TaskState::kWaiting;
      t.next_try_at = t.at;
    } else if (slot.handed_back) {
      // Stopped by a shutdown: queued again for whoever runs this run next,
      // counted as lost (it uses up no retry).
      t.to = TaskState::kQueued;
      t.reason = std::string(kHandedBack);
    } else if (t.to == TaskState::kFailed && slot.try_number - slot.lost_tries < slot.max_tries && !cancelling_ &&
               !result.final) {
      t.to = TaskState::kUpForRetry;
      t.next_try_at = t.at + spec.retry.DelayBefore(slot.try_number + 1);
      AddTimer(*t.next_try_at, Timer{idx, false, slot.try_number});
    }
    if (t.to == TaskState::kSuccess && result.check_again_at) {
      // A sensor's condition does not hold yet: wait, holding no worker,
      // checking again at the try's deadline at the latest.
      t.to = TaskState::kWaiting;
      t.next_try_at = *result.check_again_at;
      if (spec.timeout && slot.try_started) t.next_try_at = std::min(*t.next_try_at, *slot.try_started + *spec.timeout);
      AddTimer(*t.next_try_at, Timer{idx, false, slot.try_number, /*check=*/true});
    } else if (t.to == TaskState::kSuccess && result.skipped) {
      t.to = TaskState::kSkipped;
    }
    if (t.to == TaskState::kSuccess) t.watermark = result.watermark;  // stored with the success only
    if (!result.inputs_json.empty()) t.inputs_json = result.inputs_json;  // kept with the try (and told the observer)
    Apply(idx, t);
    slot.token.reset();
    if (IsTerminal(t.to)) Finish(idx);
  }

  void FireTimers(TimePoint now) {
    while (!timers_.empty() && timers_.begin()->first <= now) {
      Timer timer = timers_.begin()->second;
      timers_.erase(timers_.begin());
      Slot& slot = slots_[timer.index];
      if (timer.timeout) {
        if (slot.state == TaskState::kRunning && slot.try_number == timer.try_number) {
          slot.timed_out = true;
          slot.token->Fire();
        }
      } else if (timer.check) {
        if (slot.state == TaskState::kWaiting && slot.try_number == timer.try_number && !cancelling_) {
          PushReady(timer.index);  // stays `waiting` until a worker is free for the check
        }
      } else if (slot.state == TaskState::kUpForRetry && !cancelling_) {
        MakeReady(timer.index);
      }
    }
  }

  void EraseTimeout(size_t idx) {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->second.index == idx && it->second.timeout) {
        timers_.erase(it);
        return;
      }
    }
  }

  // A task ended for good: tell its downstream tasks, and theirs when they
  // are skipped or upstream_failed in turn.
  void Finish(size_t idx) {
    --unfinished_;
    ReleaseOutputs(idx);
    if (slots_[idx].mapped_from != kNoSlot) {
      InstanceEnded(slots_[idx].mapped_from);
    } else {
      Propagate(idx);
    }
  }

  // The run reached task `idx` (its trigger rule says run): queued, or for
  // a mapped task its instances made and queued. True when that ended the
  // task (no items, or items that cannot be had), so that its downstream
  // tasks must hear of it.
  bool Reach(size_t idx) {
    if (!slots_[idx].spec->map_over) {
      MakeReady(idx);
      return false;
    }
    Slot& slot = slots_[idx];
    const TaskSpec& spec = *slot.spec;
    if (!slot.expanded) {  // a run taken over may have them already
      std::vector<std::string> items;
      try {
        items = MapItems(spec, params_, dag_dir_);
      } catch (const Error& e) {
        EndUnstarted(idx, TaskState::kFailed, e.what());
        return true;
      }
      if (items.empty()) {
        EndUnstarted(idx, TaskState::kSkipped, "map_over has no items");
        return true;
      }
      std::vector<NewTaskInstance> instances;
      instances.reserve(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        instances.push_back({MapInstanceId(spec.id, int(i)), 1 + spec.retry.retries, int(i), items[i]});
      }
      // Stored at once (rarely: once per mapped task and run), so that the
      // transitions queued below find their rows.
      if (!ex_.store_.AddTaskInstances(run_.run_id, spec.id, fence_, instances)) {
        throw Error::Conflict("the instances of task '" + spec.id + "' of run " + run_.run_id +
                              " could not be added (the run is coordinated elsewhere)");
      }
      for (size_t i = 0; i < items.size(); ++i) AddInstance(idx, int(i), std::move(items[i]));
    }
    ++slot.try_number;  // the store opens a try for the span of its instances
    TaskTransition t = Transition(idx, {TaskState::kPending}, TaskState::kRunning);
    t.reason = "mapped over " + std::to_string(slot.instances.size()) + " items";
    t.worker = ex_.options_.worker_name;
    Apply(idx, t);
    for (size_t i : slot.instances) {
      if (slots_[i].state == TaskState::kPending) MakeReady(i);
    }
    if (slot.instances_left == 0) InstanceEnded(idx, /*last=*/true);  // restored with all ended
    return false;
  }

  // A slot for instance `index` of mapped task `mapped`, pending.
  void AddInstance(size_t mapped, int index, std::string item) {
    const TaskSpec& spec = instance_specs_.emplace_back(MapInstance(*slots_[mapped].spec, index, std::move(item)));
    const size_t idx = slots_.size();
    Slot& slot = slots_.emplace_back();  // a deque: references to other slots stay valid
    slot.spec = &spec;
    slot.max_tries = 1 + spec.retry.retries;
    slot.mapped_from = mapped;
    Slot& of = slots_[mapped];
    of.expanded = true;
    of.instances.push_back(idx);
    ++of.instances_left;
    ++unfinished_;
  }

  // An instance of mapped task `mapped` ended; once the last has, so does
  // the task: failed when one failed, cancelled when one was, else success.
  void InstanceEnded(size_t mapped, bool last = false) {
    Slot& slot = slots_[mapped];
    if (!last && --slot.instances_left > 0) return;
    int failed = 0;
    int cancelled = 0;
    for (size_t i : slot.instances) {
      failed += slots_[i].state == TaskState::kFailed || slots_[i].state == TaskState::kUpstreamFailed;
      cancelled += slots_[i].state == TaskState::kCancelled;
    }
    const std::string of = " of " + std::to_string(slot.instances.size()) + " instances ";
    TaskTransition t = Transition(mapped, {TaskState::kRunning}, TaskState::kSuccess);
    if (failed > 0) {
      t.to = TaskState::kFailed;
      t.reason = std::to_string(failed) + of + "failed";
    } else if (cancelled > 0) {
      t.to = TaskState::kCancelled;
      t.reason = std::to_string(cancelled) + of + "cancelled";
    }
    t.worker = ex_.options_.worker_name;
    Apply(mapped, t);
    Finish(mapped);
  }

  // Ends a task that never ran a try (pending: a trigger rule, map_over).
  void EndUnstarted(size_t idx, TaskState to, std::string reason) {
    TaskTransition t = Transition(idx, {TaskState::kPending}, to);
    t.reason = std::move(reason);
    Apply(idx, t);
    DropWarm(idx);
    --unfinished_;
    ReleaseOutputs(idx);
  }

  // A task ended: the in-memory outputs no unfinished task can read any more
  // are dropped, so a long pipeline holds about two tables at a time.
  // An instance's output lives as long as its mapped task's.
  void ReleaseOutputs(size_t idx) {
    std::lock_guard lock(outputs_mu_);
    for (size_t u : slots_[idx].reads) {
      if (--slots_[u].readers == 0 && IsTerminal(slots_[u].state)) DropOutput(u);
    }
    if (slots_[TaskOf(idx)].readers == 0) DropOutput(idx);
  }
  void DropOutput(size_t idx) {
    outputs_.erase(slots_[idx].spec->id);
    for (size_t i : slots_[idx].instances) outputs_.erase(slots_[i].spec->id);
  }

  // Tells the downstream tasks of an ended task, and theirs when they end
  // (skipped, upstream_failed) in turn.
  void Propagate(size_t idx) {
    if (cancelling_) return;
    std::vector<size_t> work{idx};
    while (!work.empty()) {
      size_t done = work.back();
      work.pop_back();
      for (size_t down : slots_[done].downstream) {
        Count(slots_[done].state, slots_[down].upstream);
        if (slots_[down].state == TaskState::kPending && Decide(down)) work.push_back(down);
      }
    }
  }

  static void Count(TaskState outcome, UpstreamCounts& c) {
    ++c.done;
    if (outcome == TaskState::kSuccess) ++c.succeeded;
    if (outcome == TaskState::kFailed || outcome == TaskState::kUpstreamFailed) ++c.failed;
    if (outcome == TaskState::kSkipped) ++c.skipped;
  }

  // Applies a pending task's trigger rule to its upstream outcomes so far.
  // True when that ended the task (skipped or upstream_failed), so that its
  // own downstream tasks must hear of it.
  bool Decide(size_t idx) {
    Slot& d = slots_[idx];
    Decision decision = Evaluate(d.spec->trigger_rule, d.upstream);
    if (decision == Decision::kWait) return false;
    if (decision == Decision::kRun) return Reach(idx);
    bool skip = decision == Decision::kSkip;
    EndUnstarted(idx, skip ? TaskState::kSkipped : TaskState::kUpstreamFailed,
                 "trigger rule " + std::string(ToString(d.spec->trigger_rule)) +
                     (skip ? " cannot hold" : ": an upstream task failed"));
    return true;
  }

  // Takes over a run from the store as another process left it (crash
  // recovery, a takeover): tries that were running there are lost and
  // queued again, at most kMaxLostInARow times in a row; tries handed to
  // workers run on, and their results come here (Reattach).
  void Restore() {
    std::map<std::string, TaskInstanceRecord, std::less<>> stored;
    std::map<std::string_view, size_t> task_slots;
    for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) task_slots[dag_.tasks[idx].id] = idx;
    for (auto& rec : ex_.store_.GetTaskInstances(run_.run_id)) {
      if (rec.map_index) {  // an instance of a mapped task (in index order)
        auto id = ParseMapInstanceId(rec.task_id);
        auto of = id ? task_slots.find(id->first) : task_slots.end();
        if (of == task_slots.end() || !slots_[of->second].spec->map_over ||
            id->second != int(slots_[of->second].instances.size())) {
          throw Error::Corruption("run " + run_.run_id + " has a task instance '" + rec.task_id +
                                  "' that is no instance of a mapped task of its DAG");
        }
        AddInstance(of->second, id->second, rec.map_item);
      }
      stored.emplace(rec.task_id, std::move(rec));
    }
    for (Slot& slot : slots_) {
      auto it = stored.find(slot.spec->id);
      if (it == stored.end()) {
        throw Error::Corruption("run " + run_.run_id + " has no task instance '" + slot.spec->id + "'");
      }
      slot.state = it->second.state;
      slot.try_number = it->second.try_number;
      slot.max_tries = it->second.max_tries;
      slot.next_try_at = it->second.next_try_at;
      for (const TaskTryRecord& t : ex_.store_.GetTries(run_.run_id, slot.spec->id)) {
        if (!t.ended_at) {
          slot.try_started = t.started_at;  // a waiting sensor's try goes on
          // The try in progress when its process died: make sure what it
          // started is gone before it runs again (never twice at once).
          if (slot.state == TaskState::kRunning && !ex_.Remote(*slot.spec) &&
              SameHost(t.worker, ex_.options_.worker_name) && !KillProcessGroup(t.process)) {
            throw Error::Internal("cannot stop process " + t.process + " of task '" + slot.spec->id + "'");
          }
          continue;
        }
        bool lost = t.error.starts_with(kLostTryPrefix);
        slot.lost_tries += lost;
        // A graceful stop is no crash: it neither counts toward nor breaks the streak.
        if (t.error != kHandedBack) slot.lost_in_a_row = lost ? slot.lost_in_a_row + 1 : 0;
      }
    }
    unfinished_ = 0;
    for (size_t idx = 0; idx < slots_.size(); ++idx) {
      if (!IsTerminal(slots_[idx].state)) {
        ++unfinished_;
        continue;
      }
      if (slots_[idx].mapped_from != kNoSlot) --slots_[slots_[idx].mapped_from].instances_left;
      for (size_t down : slots_[idx].downstream) Count(slots_[idx].state, slots_[down].upstream);
    }
    std::vector<TaskState> stored_states;
    for (const Slot& slot : slots_) stored_states.push_back(slot.state);
    std::vector<size_t> lost_for_good;
    std::vector<size_t> mapped_ended;  // crashed between its last instance's end and its own
    for (size_t idx = 0; idx < slots_.size(); ++idx) {
      Slot& slot = slots_[idx];
      switch (stored_states[idx]) {
        case TaskState::kRunning: {
          if (slot.spec->map_over) {  // its instances run; it ends with them
            if (!slot.expanded) {
              throw Error::Corruption("run " + run_.run_id + " has mapped task '" + slot.spec->id +
                                      "' running with no instances");
            }
            if (slot.instances_left == 0) mapped_ended.push_back(idx);
            for (size_t i : slot.instances) {
              if (slots_[i].state == TaskState::kPending) MakeReady(i);
            }
            break;
          }
          // A try handed to a worker runs on there, whatever the queues this
          // scheduler hands out; one its coordinator ran itself (a pipectl
          // run, a scheduler whose local queues differ) was lost with it.
          if (ex_.store_.GetWork(run_.run_id, slot.spec->id, slot.try_number)) {
            Reattach(idx);
            break;
          }
          if (IsSensor(*slot.spec)) {  // a check cut off by the crash: its try goes on, checking again now
            TaskTransition t = Transition(idx, {TaskState::kRunning}, TaskState::kWaiting);
            t.next_try_at = t.at;
            Apply(idx, t);
            AddTimer(*t.next_try_at, Timer{idx, false, slot.try_number, /*check=*/true});
            break;
          }
          bool give_up = slot.lost_in_a_row + 1 > kMaxLostInARow;
          TaskTransition t = Transition(idx, {TaskState::kRunning},
                                        give_up ? TaskState::kFailed : TaskState::kQueued);
          t.reason = std::string(kLostTryPrefix) + ": the process running try " +
                     std::to_string(slot.try_number) + " ended" +
                     (give_up ? " (" + std::to_string(kMaxLostInARow + 1) + " times in a row)" : "");
          ++slot.lost_tries;
          Apply(idx, t);
          if (give_up) {
            lost_for_good.push_back(idx);
          } else {
            PushReady(idx);
          }
          break;
        }
        case TaskState::kQueued:
          PushReady(idx);
          break;
        case TaskState::kUpForRetry:
          AddTimer(slot.next_try_at.value_or(ex_.clock_.Now()), Timer{idx, false, slot.try_number});
          break;
        case TaskState::kWaiting:
          AddTimer(slot.next_try_at.value_or(ex_.clock_.Now()), Timer{idx, false, slot.try_number, /*check=*/true});
          break;
        default:
          break;
      }
    }
    for (size_t idx : lost_for_good) Finish(idx);
    for (size_t idx : mapped_ended) {
      if (slots_[idx].state == TaskState::kRunning) InstanceEnded(idx, /*last=*/true);
    }
    // Pending tasks whose upstream tasks had ended before the takeover.
    for (size_t idx = 0; idx < dag_.tasks.size(); ++idx) {
      if (stored_states[idx] == TaskState::kPending && slots_[idx].state == TaskState::kPending &&
          Decide(idx)) {
        Propagate(idx);
      }
    }
  }

  void BeginDrain() {
    draining_ = true;
    for (size_t idx = 0; idx < slots_.size(); ++idx) DropWarm(idx);
    ready_.Clear();  // they stay queued in the store
    std::erase_if(timers_, [](const auto& entry) { return !entry.second.timeout; });
  }

  // Lets the tries running on workers run on without this coordinator: the
  // run's next one (a takeover, a restart) picks them up from the store
  // (Restore). No result of theirs reaches this run once it returns.
  void DetachRemote(std::unique_lock<std::mutex>& lock) {
    auto attached = [](const Slot& slot) { return slot.state == TaskState::kRunning && slot.remote && !slot.detached; };
    if (std::none_of(slots_.begin(), slots_.end(), attached)) return;
    lock.unlock();  // a result being delivered meanwhile is handled as usual
    ex_.remote_runner_->Forget(run_.run_id);
    lock.lock();
    for (size_t idx = 0; idx < slots_.size(); ++idx) {
      if (!attached(slots_[idx])) continue;
      slots_[idx].detached = true;
      --running_;
      EraseTimeout(idx);
    }
  }

  void HandBack() {
    for (Slot& slot : slots_) {
      if (slot.state == TaskState::kRunning && slot.token && !slot.handed_back && !slot.remote) {
        slot.handed_back = true;
        slot.token->Fire();
      }
    }
  }

  void BeginCancel() {
    cancelling_ = true;
    ready_.Clear();
    for (size_t idx = 0; idx < slots_.size(); ++idx) {
      Slot& slot = slots_[idx];
      if (slot.state == TaskState::kRunning) {
        if (slot.token) slot.token->Fire();  // a mapped task has none: it ends with its instances
      } else if (!IsTerminal(slot.state)) {
        TaskTransition t = Transition(
            idx, {TaskState::kPending, TaskState::kQueued, TaskState::kUpForRetry, TaskState::kWaiting},
            TaskState::kCancelled);
        t.reason = "cancelled";
        Apply(idx, t);
        DropWarm(idx);
        --unfinished_;
        if (slot.mapped_from != kNoSlot) InstanceEnded(slot.mapped_from);
      }
    }
    std::erase_if(timers_, [](const auto& entry) { return !entry.second.timeout; });
  }

  // Something failed (the store, most likely): stop the running tries and
  // wait for them, so no job outlives this run. Jobs never submitted are dropped.
  void Abandon(std::unique_lock<std::mutex>& lock) {
    CountOut(jobs_);
    jobs_.clear();
    DetachRemote(lock);
    for (Slot& slot : slots_) {
      if (slot.state == TaskState::kRunning && slot.token && !slot.detached) slot.token->Fire();
    }
    ++flush_waiters_;
    cv_.wait(lock, [&] { return running_ == 0 && !flushing_; });
    --flush_waiters_;
  }

  bool IsSensor(const TaskSpec& spec) const {
    const Operator* op = ex_.ops_.Find(spec.op);
    return op && op->is_sensor();
  }

  TaskTransition Transition(size_t idx, std::vector<TaskState> from, TaskState to) {
    TaskTransition t;
    t.run_id = run_.run_id;
    t.task_id = slots_[idx].spec->id;
    t.from = std::move(from);
    t.to = to;
    t.at = ex_.clock_.Now();
    t.fence = fence_;
    return t;
  }

  void Persist(size_t idx, std::vector<TaskState> from, TaskState to, std::string reason) {
    TaskTransition t = Transition(idx, std::move(from), to);
    t.reason = std::move(reason);
    Apply(idx, t);
  }

  // Makes the transition so in memory and queues it for the store. Nothing
  // acts on it (no job starts, no observer hears of it) before Flush() has
  // stored it.
  void Apply(size_t idx, const TaskTransition& t) {
    Slot& slot = slots_[idx];
    const bool in_try = t.to == TaskState::kRunning || slot.state == TaskState::kRunning || slot.state == TaskState::kWaiting;
    slot.state = t.to;
    writes_.push_back(t);
    write_tries_.push_back(slot.try_number);
    write_started_.push_back(in_try ? slot.try_started : std::nullopt);
  }

  // Stores the queued transitions, then tells the observer and starts the
  // jobs they allow. A group commit, as LevelDB's writers: transitions are
  // decided under mu_, and one thread at a time (the flusher) stores them in
  // one transaction per batch with mu_ released; what other threads decide
  // meanwhile joins its next batch. A busy run so makes fewer, larger
  // commits, and no worker waits on mu_ while the store commits. Returns at
  // once when another thread is the flusher, unless `wait`: then once all is
  // stored. `ending_job`: called as the last act of a job on a pool worker,
  // which then runs the first new job itself.
  void Flush(std::unique_lock<std::mutex>& lock, bool wait = false, bool ending_job = false) {
    if (flushing_) {
      if (!wait) return;
      ++flush_waiters_;
      cv_.wait(lock, [&] { return !flushing_; });
      --flush_waiters_;
    }
    flushing_ = true;
    struct Release {  // whatever happens, the next thread may flush
      RunExecution& run;
      ~Release() {
        run.flushing_ = false;
        if (run.flush_waiters_ > 0 || run.failure_) run.cv_.notify_all();
      }
    } release{*this};
    while (!writes_.empty() && !failure_) {
      std::vector<TaskTransition> writes = std::exchange(writes_, {});
      std::vector<int> tries = std::exchange(write_tries_, {});
      std::vector<std::optional<TimePoint>> started = std::exchange(write_started_, {});
      std::vector<PendingJob> jobs = std::exchange(jobs_, {});
      lock.unlock();
      // Tries that start on workers go in the work queue in the same
      // transaction as their `running`.
      std::vector<WorkItem> work;
      const TimePoint now = ex_.clock_.Now();
      for (PendingJob& pending : jobs) {
        if (pending.job.payload.empty()) continue;
        work.push_back(WorkItemOf(pending.job, now));
        pending.job.enqueued = true;
      }
      std::exception_ptr error;
      try {
        if (!ex_.store_.TransitionTasksAndEnqueue(writes, work)) {
          throw Error::Conflict("a task of run " + run_.run_id + " was changed by another process");
        }
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error || failure_) {
        CountOut(jobs);  // never started
        if (error) std::rethrow_exception(error);
        return;
      }
      if (observer_) {
        for (size_t idx = 0; idx < writes.size(); ++idx) {
          const TaskTransition& t = writes[idx];
          observer_->OnTaskState(
              {t.run_id, t.task_id, t.to, tries[idx], t.at, t.reason, run_.dag_id, started[idx], t.inputs_json.value_or("")});
        }
      }
      for (PendingJob& pending : jobs) {
        if (!pending.job.payload.empty()) {  // a worker's
          ex_.remote_runner_->Start(std::move(pending.job), false);
        } else {
          ex_.runner_->Start(std::move(pending.job), std::exchange(ending_job, false));
        }
      }
    }
  }

  // Jobs that will never start here: counted out once, and their slots
  // left to the run's next coordinator (DetachRemote must not count a
  // worker's try it never handed over out a second time: Abandon would wait
  // for running_ to reach 0 for ever).
  void CountOut(const std::vector<PendingJob>& jobs) {
    for (const PendingJob& pending : jobs) {
      --running_;
      running_local_ -= pending.job.payload.empty();
      if (pending.job.payload.empty()) ReleaseLocal();
      slots_[pending.slot].detached = true;
    }
  }

  void PersistRun(std::vector<RunState> from, RunState to, const std::string& reason) {
    const TimePoint at = ex_.clock_.Now();
    if (!ex_.store_.TransitionRun(run_.run_id, from, to, at, reason)) {
      throw Error::Conflict("run " + run_.run_id + " was changed by another process");
    }
    if (observer_) {
      // The observer sees the run as stored now (an OpenLineage end event
      // is dated by its end, not by the run's start).
      RunRecord now = run_;
      now.state = to;
      if (IsTerminal(to)) now.ended_at = at;
      observer_->OnRunState(now, to);
    }
  }


  Executor& ex_;
  const DagSpec& dag_;
  const RunRecord& run_;
  const ParamValues& params_;
  RunObserver* observer_;
  const std::string fence_;  // the coordinating scheduler: every task write is fenced on it
  std::string dag_dir_;
  fs::path log_folder_;
  int limit_ = 1;        // tries at once (max_active_tasks)
  int local_limit_ = 1;  // of them in this process

  std::deque<Slot> slots_;          // the DAG's tasks, then instances of mapped tasks as they are made
  std::deque<TaskSpec> instance_specs_;  // the specs of those instances
  struct ReadyQueue {
    std::deque<size_t> local;   // run here
    std::deque<size_t> remote;  // handed to workers
    bool empty() const { return local.empty() && remote.empty(); }
    void Clear() {
      local.clear();
      remote.clear();
    }
  };
  ReadyQueue ready_;
  std::vector<TaskTransition> writes_;       // applied in memory, not yet stored
  std::vector<int> write_tries_;             // the try number of each write
  std::vector<std::optional<TimePoint>> write_started_;  // when each write's try began (TaskEvent::try_started)
  std::vector<PendingJob> jobs_;  // tries to start once writes_ are stored
  std::multimap<TimePoint, Timer> timers_;
  size_t unfinished_ = 0;
  int running_ = 0;        // tries started and not ended, here and on workers
  int running_local_ = 0;  // those of them here
  int warm_ = 0;  // slots with a warm start, or one being prepared
  bool cancelling_ = false;

  std::mutex outputs_mu_;
  // max_active_tasks over all runs of the DAG (when the DAG sets it).
  int dag_limit_ = 0;  // the DAG's max_active_tasks over its runs (0: none)
  std::shared_ptr<DagSlots::Waiter> waiter_;
  // Runs to wake for slots given back under mu_ (woken once it is released).
  std::vector<std::shared_ptr<DagSlots::Waiter>> wakes_;
  std::atomic<bool> slot_freed_{false};  // another run of this DAG freed a slot
  TryContext::Outputs outputs_;  // guarded by outputs_mu_

  std::mutex mu_;  // guards everything above, and below
  std::condition_variable cv_;
  bool cancel_requested_ = false;
  std::string abandon_reason_;  // RequestAbandon's; guarded by mu_
  bool drain_requested_ = false;
  bool draining_ = false;
  std::optional<TimePoint> drain_deadline_;
  bool timers_changed_ = false;
  std::exception_ptr failure_;  // set once: the run is abandoned
  bool flushing_ = false;       // a thread stores a batch of writes_ (see Flush)
  int flush_waiters_ = 0;       // threads waiting for it to finish
};

Executor::Executor(StateStore& store, const OperatorRegistry& ops, Clock& clock,
                   ExecutorOptions options)
    : store_(store), ops_(ops), clock_(clock), options_(std::move(options)) {
  workers_ = options_.workers > 0 ? options_.workers
                                  : std::max(1, int(std::thread::hardware_concurrency()));
  if (options_.worker_name.empty()) options_.worker_name = DefaultWorkerName();
  if (!options_.log_root.empty()) {
    // Checked once here: the runs' log folders are made on first use.
    std::error_code ec;
    fs::create_directories(options_.log_root, ec);
    if (ec || access(options_.log_root.c_str(), W_OK | X_OK) != 0) {
      throw Error::Unavailable("cannot write task logs to " + options_.log_root + ": " +
                               (ec ? ec.message() : std::strerror(errno)));
    }
  }
  runner_ = NewInProcessRunner(workers_);
  // Always there: a run taken over may have tries on workers to pick up.
  remote_runner_ = NewStoreRunner(store_, clock_);
  dag_slots_ = std::make_unique<DagSlots>();
}

Executor::~Executor() = default;

bool Executor::Remote(const TaskSpec& task) const {
  if (!options_.local_queues) return false;
  if (const Operator* op = ops_.Find(task.op); op && op->is_sensor()) return false;  // checks stay here
  const auto& local = *options_.local_queues;
  return std::find(local.begin(), local.end(), task.queue) == local.end();
}

RunState Executor::Execute(const RunRequest& request, RunObserver* observer) {
  if (request.create) {
    std::vector<NewTaskInstance> tasks;
    for (const TaskSpec& t : request.dag->tasks) tasks.push_back({t.id, 1 + t.retry.retries});
    store_.CreateRun(request.run, tasks);
  }
  RunExecution state(*this, request, observer);
  {
    std::lock_guard lock(mu_);
    if (!active_.emplace(request.run.run_id, &state).second) {
      throw Error::Conflict("run " + request.run.run_id + " is already executing here");
    }
    if (cancel_requested_ || cancel_on_start_.erase(request.run.run_id)) state.RequestCancel();
    if (drain_deadline_) state.RequestDrain(*drain_deadline_);
  }
  struct Unregister {
    Executor* ex;
    const std::string& run_id;
    ~Unregister() {
      std::lock_guard lock(ex->mu_);
      ex->active_.erase(run_id);
    }
  } unregister{this, request.run.run_id};
  return state.Run(!request.create && !request.fresh);
}

void Executor::Cancel() {
  std::lock_guard lock(mu_);
  cancel_requested_ = true;
  for (auto& [id, run] : active_) run->RequestCancel();
}

bool Executor::CancelRun(const std::string& run_id, bool before_start) {
  std::lock_guard lock(mu_);
  auto it = active_.find(run_id);
  if (it == active_.end()) {
    if (before_start) cancel_on_start_.insert(run_id);
    return before_start;
  }
  it->second->RequestCancel();
  return true;
}

bool Executor::AbandonRun(const std::string& run_id, const std::string& why) {
  std::lock_guard lock(mu_);
  auto it = active_.find(run_id);
  if (it == active_.end()) return false;
  it->second->RequestAbandon(why);
  return true;
}

void Executor::Drain(TimePoint deadline) {
  std::lock_guard lock(mu_);
  drain_deadline_ = deadline;
  for (auto& [id, run] : active_) run->RequestDrain(deadline);
}

std::string RunIdAt(TimePoint at, uint32_t suffix) {
  std::string compact;
  for (char c : FormatIso8601(std::chrono::floor<std::chrono::seconds>(at))) {
    if (c != '-' && c != ':' && c != 'Z') compact += c;
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(suffix));
  return compact + "-" + hex;
}

std::string NewRunId(TimePoint now) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return RunIdAt(now, static_cast<uint32_t>(rng()));
}

int MaxTriesAfterClear(const TaskSpec& task, const std::vector<TaskTryRecord>& tries) {
  int counted = 0;
  for (const TaskTryRecord& t : tries) counted += !t.error.starts_with(kLostTryPrefix);
  return counted + 1 + task.retry.retries;
}

}  // namespace pipeline
