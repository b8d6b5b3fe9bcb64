// A try run by a `piped worker` on another machine: what the coordinator
// puts in the work item (TryPayload), how the worker runs a claimed item
// (RunClaimedTry: the same rendering and operators as the executor), and how
// the result travels back (TaskResult as JSON).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "core/operator.h"
#include "core/time.h"
#include "exec/cancel_token.h"
#include "store/state_store.h"

namespace pipeline {

// The rest comes from the store: the DAG version's source and the run.
struct TryPayload {
  std::string dag_id;
  int dag_version = 0;
  std::string dag_dir;       // where a shell task runs (the DAG file's folder)
  std::string log_path;      // on the shared filesystem
  std::string artifact_dir;  // on the shared filesystem
  // An instance of a mapped task: its item (its index is in its id).
  std::string map_item = {};
  // The mapped tasks the try may read, by id: how many instances each has.
  std::map<std::string, int, std::less<>> mapped = {};
};
std::string TryPayloadJson(const TryPayload& p);
// Throws Error(kInvalidArgument) naming what is missing or of the wrong type.
TryPayload ParseTryPayload(const std::string& json);

std::string TaskResultJson(const TaskResult& r);
// A result that cannot be read is a failure that says so.
TaskResult TaskResultFromJson(const std::string& json);

// What a worker keeps between tries, so that a try of a 10,000-task DAG
// does not read and parse its DAG again: DAG versions as loaded (a
// version's source never changes) and run records (their id, dates and
// parameters never change). Thread-safe; the oldest entries go first.
class TryCache {
 public:
  // `output_bytes`: how much of its tries' output tables the worker keeps
  // in memory for the tries that read them next (locality); 0: none.
  explicit TryCache(int64_t output_bytes = 0) : output_bytes_(output_bytes) {}
  // Null when the store has no such version or it no longer loads here
  // (`why` says which).
  std::shared_ptr<const DagSpec> Dag(StateStore& store, const OperatorRegistry& ops, const std::string& dag_id,
                                     int version, std::string* why);
  std::shared_ptr<const RunRecord> Run(StateStore& store, const std::string& run_id);

  // Output tables kept from this worker's tries, by run and task: valid for
  // a reader only while `hash` is still the artifact the store records.
  struct HeldOutput {
    std::shared_ptr<const Dataset> data;
    std::string hash;
    int64_t bytes = 0;
  };
  void PutOutput(const std::string& run_id, const std::string& task_id, HeldOutput output);
  std::optional<HeldOutput> Output(const std::string& run_id, const std::string& task_id);
  // Inputs read from memory rather than from the shared folder, so far.
  int64_t inputs_in_memory() const { return inputs_in_memory_.load(); }
  void CountInputInMemory() { ++inputs_in_memory_; }

 private:
  // At most `max` values; the oldest goes first. Guarded by the cache's mu_.
  template <typename K, typename V>
  struct Bounded {
    size_t max;
    std::map<K, std::shared_ptr<const V>> items;
    std::deque<K> order;
    std::shared_ptr<const V> Find(const K& key) const {
      auto it = items.find(key);
      return it == items.end() ? nullptr : it->second;
    }
    // The value kept for `key`: `value`, or one another thread put first.
    std::shared_ptr<const V> Put(const K& key, std::shared_ptr<const V> value) {
      auto [it, added] = items.emplace(key, std::move(value));
      if (added) {
        order.push_back(key);
        if (order.size() > max) {
          items.erase(order.front());
          order.pop_front();
        }
      }
      return it->second;
    }
  };
  std::mutex mu_;
  Bounded<std::pair<std::string, int>, DagSpec> dags_{32, {}, {}};  // guarded by mu_
  Bounded<std::string, RunRecord> runs_{256, {}, {}};               // guarded by mu_
  const int64_t output_bytes_;
  std::map<std::pair<std::string, std::string>, HeldOutput> outputs_;  // guarded by mu_
  std::deque<std::pair<std::string, std::string>> output_order_;      // oldest first; guarded by mu_
  int64_t held_bytes_ = 0;                                             // guarded by mu_
  std::atomic<int64_t> inputs_in_memory_{0};
};

// Runs a claimed try here: its DAG version and run read from the store (or `cache`), its
// templates rendered by RenderTry, its operator run on a TryContext (inputs
// from artifacts, nothing in memory), the result as TaskResultJson. A try
// that cannot start (a payload, DAG version or run that cannot be read, a
// task or operator that is not there) is a failed result saying why.
std::string RunClaimedTry(StateStore& store, const OperatorRegistry& ops, Clock& clock, const WorkClaim& claim,
                          std::shared_ptr<EventCancelToken> cancel, TryCache* cache = nullptr);

}  // namespace pipeline
