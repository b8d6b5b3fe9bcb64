#include "exec/worker.h"

#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "exec/cancel_token.h"

namespace pipeline {

struct Worker::Slot {
  WorkClaim claim;  // lease_until as last renewed; guarded by mu_
  std::shared_ptr<EventCancelToken> cancel = std::make_shared<EventCancelToken>();
  std::thread thread;
  bool ended = false;    // run_ returned and its outcome was handled
  bool lost = false;     // the lease could not be renewed
  bool release = false;  // stopped at the deadline: hand it back
};

namespace {

std::string Key(const WorkItem& w) { return w.run_id + "/" + w.task_id + "/" + std::to_string(w.try_number); }

std::string DefaultName() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

Worker::Worker(StateStore& store, Clock& clock, WorkerOptions options, RunFn run)
    : store_(store), clock_(clock), options_(std::move(options)), run_(std::move(run)) {
  if (options_.name.empty()) options_.name = DefaultName();
  if (options_.slots < 1) throw Error::InvalidArgument("a worker needs at least one slot");
  if (options_.heartbeat >= options_.lease) {
    throw Error::InvalidArgument("the heartbeat (" + FormatDuration(options_.heartbeat) +
                                 ") must be shorter than the lease (" + FormatDuration(options_.lease) + ")");
  }
}

Worker::~Worker() {
  Stop(clock_.Now());
  std::unique_lock lock(mu_);
  for (auto& [key, slot] : slots_) {
    if (slot->thread.joinable()) {
      lock.unlock();
      slot->thread.join();
      lock.lock();
    }
  }
  watchdog_stop_ = true;
  cv_.notify_all();
  lock.unlock();
  if (listener_.joinable()) listener_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

void Worker::Stop(TimePoint deadline) {
  std::lock_guard lock(mu_);
  if (!stopping_ || deadline < deadline_) deadline_ = deadline;
  stopping_ = true;
  cv_.notify_all();
}

Worker::Counts Worker::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void Worker::Listen() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (unsigned got = store_.WaitForNotice(kNoticeWork | kNoticeCancel, options_.poll)) {
      std::lock_guard lock(mu_);
      woken_ = woken_ || (got & kNoticeWork);
      beat_now_ = beat_now_ || (got & kNoticeCancel);
      cv_.notify_all();
    }
  }
}

void Worker::Watchdog() {
  // Before the lease runs out, so that the try is gone by the time another
  // process may reap it (clocks of different machines differ a little).
  const Duration margin = std::min(options_.heartbeat, options_.lease / 4);
  std::unique_lock lock(mu_);
  while (!watchdog_stop_) {
    const TimePoint now = clock_.Now();
    TimePoint next = now + options_.heartbeat;
    for (auto& [key, slot] : slots_) {
      if (slot->ended || slot->lost) continue;
      const TimePoint deadline = slot->claim.lease_until - margin;
      if (now >= deadline) {
        slot->lost = true;  // not renewed in time: another worker may get it soon
        slot->cancel->Fire();
      } else {
        next = std::min(next, deadline);
      }
    }
    clock_.WaitUntil(cv_, lock, next, [&] { return watchdog_stop_; });
  }
}

void Worker::Announce(bool stopped) {
  WorkerRecord w;
  w.name = options_.name;
  w.queues = options_.queues;
  w.slots = options_.slots;
  {
    std::lock_guard lock(mu_);
    w.running = int(slots_.size());
  }
  w.started_at = started_at_;
  w.last_seen = clock_.Now();
  w.live_until = stopped ? w.last_seen : w.last_seen + options_.lease;
  try {
    store_.PutWorker(w);
    StoreAnswered("heartbeat", "");
  } catch (const Error& e) {  // the store is away: the next heartbeat tells again
    StoreAnswered("heartbeat", e.what());
  }
}

void Worker::StoreAnswered(const char* what, const std::string& e) {
  std::lock_guard lock(store_away_mu_);
  if (store_away_ == !e.empty()) return;
  store_away_ = !e.empty();
  if (!options_.warn) return;
  options_.warn(store_away_ ? std::string("worker: the state database does not answer (") + what + "): " + e +
                                  "; running tries go on while their leases last"
                            : std::string("worker: the state database answers again"));
}

void Worker::Run() {
  started_at_ = clock_.Now();
  Announce(false);
  listener_ = std::thread([this] { Listen(); });
  watchdog_ = std::thread([this] { Watchdog(); });
  TimePoint next_beat = clock_.Now() + options_.heartbeat;
  TimePoint next_poll = clock_.Now();
  std::unique_lock lock(mu_);
  for (;;) {
    // Reap what ended.
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (!it->second->ended) {
        ++it;
        continue;
      }
      std::unique_ptr<Slot> slot = std::move(it->second);
      it = slots_.erase(it);
      woken_ = true;  // a free slot: claim at once (more may be ready; else a notice or the poll)
      lock.unlock();
      slot->thread.join();
      lock.lock();
    }
    const TimePoint now = clock_.Now();
    if (stopping_) {
      if (slots_.empty()) break;
      if (now >= deadline_) {
        for (auto& [key, slot] : slots_) {
          if (!slot->lost) slot->release = true;
          slot->cancel->Fire();
        }
      }
    }
    if (!stopping_ && (woken_ || now >= next_poll) && int(slots_.size()) < options_.slots) {
      woken_ = false;
      next_poll = now + options_.poll;
      lock.unlock();
      Claim();
      lock.lock();
      continue;
    }
    if (now >= next_beat || (beat_now_ && !slots_.empty())) {
      beat_now_ = false;  // a cancel was asked for: a renewal reads the marks
      next_beat = now + options_.heartbeat;
      lock.unlock();
      Beat();
      lock.lock();
      continue;
    }
    std::optional<TimePoint> wake = std::min(next_beat, next_poll);
    if (stopping_ && deadline_ > now) wake = std::min(*wake, deadline_);
    clock_.WaitUntil(cv_, lock, wake, [&] {
      if (woken_ && !stopping_ && int(slots_.size()) < options_.slots) return true;
      if (beat_now_ && !slots_.empty()) return true;
      for (const auto& [key, slot] : slots_) {
        if (slot->ended) return true;
      }
      return stopping_ && (slots_.empty() || clock_.Now() >= deadline_);
    });
  }
  watchdog_stop_ = true;
  cv_.notify_all();
  lock.unlock();
  if (listener_.joinable()) listener_.join();
  if (watchdog_.joinable()) watchdog_.join();
  Announce(/*stopped=*/true);
}

void Worker::Claim() {
  int free;
  {
    std::lock_guard lock(mu_);
    free = options_.slots - int(slots_.size());
  }
  if (free <= 0) return;
  std::vector<WorkClaim> claims;
  try {
    claims = store_.ClaimWork(options_.name, options_.queues, free, clock_.Now(), options_.lease);
    StoreAnswered("claim", "");
  } catch (const Error& e) {
    StoreAnswered("claim", e.what());
    return;  // the store is away: the next poll tries again
  }
  std::lock_guard lock(mu_);
  for (WorkClaim& claim : claims) {
    auto slot = std::make_unique<Slot>();
    slot->claim = std::move(claim);
    Slot* s = slot.get();
    slots_[Key(s->claim.item)] = std::move(slot);
    ++counts_.claimed;
    s->thread = std::thread([this, s] {
      WorkClaim held;
      {
        std::lock_guard guard(mu_);
        held = s->claim;
      }
      std::string result;
      try {
        result = run_(held, s->cancel);
      } catch (const std::exception& e) {
        result = nlohmann::json{{"ok", false}, {"error", std::string("worker: ") + e.what()}}.dump();
      }
      Finish(*s, result);
    });
  }
}

void Worker::Beat() {
  Announce(false);
  std::lock_guard store_lock(store_mu_);
  std::vector<std::pair<Slot*, WorkClaim>> held;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, slot] : slots_) {
      if (!slot->ended && !slot->lost) held.emplace_back(slot.get(), slot->claim);
    }
  }
  for (auto& [slot, claim] : held) {
    bool renewed = false;
    try {
      renewed = store_.RenewWork(claim, clock_.Now(), options_.lease);
      StoreAnswered("lease renewal", "");
    } catch (const Error& e) {
      StoreAnswered("lease renewal", e.what());
      // Unreachable: the lease runs on; it is lost only once it has run out.
      renewed = claim.lease_until > clock_.Now();
    }
    std::lock_guard lock(mu_);
    if (renewed) {
      slot->claim.lease_until = claim.lease_until;
      if (claim.cancel_requested) slot->cancel->Fire();  // its coordinator asked: the result is written
    } else {
      slot->lost = true;  // another worker may run it by now: stop at once
      slot->cancel->Fire();
      if (options_.warn) {
        options_.warn("worker: lost the lease of " + claim.item.run_id + "." + claim.item.task_id + " try " +
                      std::to_string(claim.item.try_number) + ": stopping it (it runs again elsewhere; nothing is written)");
      }
    }
  }
}

void Worker::Finish(Slot& slot, const std::string& result) {
  std::lock_guard store_lock(store_mu_);
  WorkClaim claim;
  bool lost, release;
  {
    std::lock_guard lock(mu_);
    claim = slot.claim;
    lost = slot.lost;
    release = slot.release;
  }
  enum { kLost, kReleased, kFinished, kRefused } outcome = kLost;
  if (!lost) {
    try {
      if (release) {
        outcome = store_.ReleaseWork(claim) ? kReleased : kRefused;
      } else {
        outcome = store_.FinishWork(claim, result, clock_.Now()) ? kFinished : kRefused;
      }
    } catch (const Error& e) {
      outcome = kRefused;  // not stored: its lease runs out and it is reaped, then run again
      StoreAnswered(release ? "hand back" : "result", e.what());
    }
    if (outcome == kRefused && options_.warn) {
      options_.warn("worker: the " + std::string(release ? "hand-back" : "result") + " of " + claim.item.run_id + "." +
                    claim.item.task_id + " try " + std::to_string(claim.item.try_number) +
                    " was not stored (its lease ran out or the database did not answer): the try runs again");
    }
  }
  std::lock_guard lock(mu_);
  switch (outcome) {
    case kLost: ++counts_.lost; break;
    case kReleased: ++counts_.released; break;
    case kFinished: ++counts_.finished; break;
    case kRefused: ++counts_.refused; break;
  }
  slot.ended = true;
  cv_.notify_all();
}

}  // namespace pipeline
