// max_active_tasks over all runs of a DAG: counts each DAG's running tries
// across the run executions of one executor. A run that finds no free slot
// registers a waiter, woken when a try of that DAG ends in any run.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pipeline {

class DagSlots {
 public:
  // One per run execution. `wake` is called with `mu` held and `alive` true;
  // the run sets `alive` false (under `mu`) before it goes away.
  struct Waiter {
    std::mutex mu;
    bool alive = true;
    std::function<void()> wake;
  };

  // Takes a slot when fewer than `limit` tries of `dag_id` run; otherwise
  // registers `waiter` and returns false. Thread-safe.
  bool TryAcquire(const std::string& dag_id, int limit, const std::shared_ptr<Waiter>& waiter);
  // Frees a slot. Returns the waiters to wake: call Wake on them once no lock
  // of the caller's is held (a waiter's wake takes its run's lock).
  std::vector<std::shared_ptr<Waiter>> Release(const std::string& dag_id);
  static void Wake(const std::vector<std::shared_ptr<Waiter>>& waiters);
  // Drops `waiter`'s registrations (its run ended).
  void Forget(const std::string& dag_id, const std::shared_ptr<Waiter>& waiter);

 private:
  struct Dag {
    int running = 0;
    std::vector<std::shared_ptr<Waiter>> waiting;
  };
  std::mutex mu_;
  std::map<std::string, Dag> dags_;  // guarded by mu_
};

}  // namespace pipeline
