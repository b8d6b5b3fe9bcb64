// The loop of `piped worker`: claims tries from the store's work queue while
// it has free slots, runs each on a thread of its own, renews the leases of
// what runs (heartbeats) and finishes each with its result. A try whose
// lease cannot be renewed is cancelled at once (the try may be another
// worker's by now: Airflow's lesson of zombies) and its result is not
// written (the store's fencing would refuse it anyway). A try its
// coordinator asks to stop (a cancel, a timeout: kNoticeCancel wakes a
// renewal, which reads the mark) is cancelled and its result written. Stop: no new claims;
// tries still running at the deadline are cancelled and handed back, ready
// for another worker (not lost).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/operator.h"
#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

class EventCancelToken;

struct WorkerOptions {
  std::string name;                           // the worker's id in claims (default host:pid)
  std::vector<std::string> queues{"default"};
  int slots = 1;                              // tries at once
  Duration lease{30'000};                     // a claim's lease, renewed every `heartbeat`
  Duration heartbeat{5'000};
  Duration poll{1'000};                       // claims this often when no notification comes
  // Told of what goes wrong, one line per event: the store lost and back,
  // a lease lost (its try stopped), a result refused.
  std::function<void(const std::string&)> warn;
};

class Worker {
 public:
  // `run(claim, cancel)` runs the claimed try and returns its result (JSON);
  // it is called on a thread of the worker and must return soon once
  // `cancel` fires (RunClaimedTry in exec/remote_try.h is the real one).
  using RunFn = std::function<std::string(const WorkClaim&, const std::shared_ptr<EventCancelToken>&)>;
  Worker(StateStore& store, Clock& clock, WorkerOptions options, RunFn run);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Claims and runs until Stop(); returns once every try it claimed ended.
  void Run();
  // Thread-safe; returns at once.
  void Stop(TimePoint deadline);

  struct Counts {
    int64_t claimed = 0;
    int64_t finished = 0;  // results stored
    int64_t lost = 0;      // leases that could not be renewed: cancelled, nothing written
    int64_t released = 0;  // handed back at a stop
    int64_t refused = 0;   // results the store refused (the lease ran out meanwhile)
  };
  Counts counts() const;

 private:
  struct Slot;
  void Claim();
  void Beat();
  void Finish(Slot& slot, const std::string& result);
  void Listen();
  // Stops every try whose lease is about to run out without a renewal,
  // whatever the store does meanwhile (a renewal may hang in reconnects).
  void Watchdog();
  // Records this worker's heartbeat in the store (GET /api/v1/workers, the
  // metrics of work no live worker serves); `stopped`: its last one.
  void Announce(bool stopped);

  StateStore& store_;
  Clock& clock_;
  WorkerOptions options_;
  RunFn run_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;  // by run/task/try; guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  TimePoint deadline_;                                  // guarded by mu_
  bool woken_ = false;                                  // work is ready; guarded by mu_
  bool beat_now_ = false;                               // a cancel was asked for; guarded by mu_
  Counts counts_;                                       // guarded by mu_
  // The store failed `what` (e: why), or (e empty) answered: said when that changes.
  void StoreAnswered(const char* what, const std::string& e);
  std::mutex store_away_mu_;
  bool store_away_ = false;  // guarded by store_away_mu_
  std::mutex store_mu_;  // one renew or finish at a time: a finish names the latest lease
  std::thread listener_;
  std::thread watchdog_;
  TimePoint started_at_;
  bool watchdog_stop_ = false;  // guarded by mu_
};

}  // namespace pipeline
