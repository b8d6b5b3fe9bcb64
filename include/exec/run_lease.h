// A run's coordinator lease, kept by a process that is no scheduler.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

// Renews the lease of one run coordinated by `coordinator` for `lease`
// every `every` (StateStore::RenewRuns; at most a third of the lease), on a
// thread of its own, for as long as it lives. `pipectl run` keeps one, so that a `piped` on the same store sees a
// live coordinator and leaves the run alone (it takes over only runs whose
// lease ran out: a `pipectl` that was killed). A cancel asked through the
// store (`pipectl runs cancel`, the REST API) calls `on_cancel` once.
// A store that does not answer is tried again at the next renewal.
class RunLeaseKeeper {
 public:
  RunLeaseKeeper(StateStore& store, std::string run_id, std::string coordinator, Duration lease, Duration every,
                 std::function<void()> on_cancel);
  ~RunLeaseKeeper();  // stops renewing
  RunLeaseKeeper(const RunLeaseKeeper&) = delete;
  RunLeaseKeeper& operator=(const RunLeaseKeeper&) = delete;

 private:
  void Loop();

  StateStore& store_;
  const std::string run_id_;
  const std::string coordinator_;
  const Duration lease_;
  const Duration every_;
  const std::function<void()> on_cancel_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The name under which this process coordinates the runs it executes
// itself: "pipectl:HOST:PID" for `pipectl`, unique among live processes.
std::string LocalCoordinatorName(const std::string& program);

}  // namespace pipeline
