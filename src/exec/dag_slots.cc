#include "exec/dag_slots.h"

#include <algorithm>

namespace pipeline {

bool DagSlots::TryAcquire(const std::string& dag_id, int limit, const std::shared_ptr<Waiter>& waiter) {
  std::lock_guard lock(mu_);
  Dag& dag = dags_[dag_id];
  if (dag.running < limit) {
    ++dag.running;
    return true;
  }
  if (std::find(dag.waiting.begin(), dag.waiting.end(), waiter) == dag.waiting.end()) dag.waiting.push_back(waiter);
  return false;
}

std::vector<std::shared_ptr<DagSlots::Waiter>> DagSlots::Release(const std::string& dag_id) {
  std::lock_guard lock(mu_);
  Dag& dag = dags_[dag_id];
  --dag.running;
  std::vector<std::shared_ptr<Waiter>> wake;
  wake.swap(dag.waiting);
  if (dag.running == 0 && wake.empty()) dags_.erase(dag_id);
  return wake;
}

void DagSlots::Wake(const std::vector<std::shared_ptr<Waiter>>& waiters) {
  for (const auto& w : waiters) {
    std::lock_guard lock(w->mu);
    if (w->alive) w->wake();
  }
}

void DagSlots::Forget(const std::string& dag_id, const std::shared_ptr<Waiter>& waiter) {
  std::lock_guard lock(mu_);
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) return;
  auto& waiting = it->second.waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), waiter), waiting.end());
  if (it->second.running == 0 && waiting.empty()) dags_.erase(it);
}

}  // namespace pipeline
