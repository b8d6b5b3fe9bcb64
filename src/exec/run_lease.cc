#include "exec/run_lease.h"

#include <unistd.h>

#include <algorithm>

namespace pipeline {

RunLeaseKeeper::RunLeaseKeeper(StateStore& store, std::string run_id, std::string coordinator, Duration lease,
                               Duration every, std::function<void()> on_cancel)
    : store_(store),
      run_id_(std::move(run_id)),
      coordinator_(std::move(coordinator)),
      lease_(lease),
      every_(std::min(every, lease / 3)),
      on_cancel_(std::move(on_cancel)),
      thread_([this] { Loop(); }) {}

RunLeaseKeeper::~RunLeaseKeeper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RunLeaseKeeper::Loop() {
  bool cancel_relayed = false;
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, every_, [this] { return stop_; })) return;
    lock.unlock();
    try {
      for (const RunLease& kept : store_.RenewRuns(coordinator_, {run_id_}, SystemClock::Default()->Now(), lease_)) {
        if (kept.cancel_requested && !cancel_relayed && on_cancel_) {
          cancel_relayed = true;
          on_cancel_();
        }
      }
    } catch (const std::exception&) {
      // The store did not answer: the next renewal tries again (the lease
      // outlasts two missed ones), and the run's own writes report the error.
    }
    lock.lock();
  }
}

std::string LocalCoordinatorName(const std::string& program) {
  char hostname[256] = "host";
  gethostname(hostname, sizeof hostname - 1);
  return program + ":" + hostname + ":" + std::to_string(getpid());
}

}  // namespace pipeline
