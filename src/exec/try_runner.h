// Where a started try runs: the seam between deciding and running, as
// ninja's CommandRunner. The executor (the coordinator) decides which tries
// may start, stores every transition and hands each started try to a
// runner; the runner runs it and reports its result. The in-process runner
// runs tries on threads of this process (warm starts and in-memory tables
// exist only there); the store runner hands them to `piped worker`
// processes through the store's work queue.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/operator.h"
#include "core/time.h"
#include "store/state_store.h"

namespace pipeline {

struct TryJob {
  std::string run_id;
  std::string task_id;
  int try_number = 0;
  std::string queue = "default";
  std::string payload;  // set for a try handed to workers (TryPayloadJson); empty: it runs here
  // The worker that holds the try's input in memory (WorkItem::prefer), if any.
  std::string prefer;
  // Its work item was stored with the try's start (StateStore::
  // TransitionTasksAndEnqueue): the store runner only waits for it.
  bool enqueued = false;
  // Fired by the coordinator to stop the try (cancel, timeout, hand-back).
  // The in-process runner's `execute` watches it itself; the store runner
  // passes it on to the worker (StateStore::CancelWork).
  std::shared_ptr<const CancelToken> cancel;
  // The try run in this process: its operator on its context, to its
  // result. Never throws.
  std::function<TaskResult()> execute;
  // Called once with the result, on a thread of the runner.
  std::function<void(TaskResult&)> done;
};

// The work item of a try handed to workers, enqueued at `now`: a preferred
// worker (locality) is preferred for kLocalityWait.
inline constexpr Duration kLocalityWait{2000};
WorkItem WorkItemOf(const TryJob& job, TimePoint now);

class TryRunner {
 public:
  virtual ~TryRunner() = default;
  // Starts `job` and returns at once. `next`: the caller is the last act of
  // a try's `done` on a runner thread, which may then run `job` itself (a
  // hop from one task to the next with no thread switch).
  virtual void Start(TryJob job, bool next) = 0;
  // Drops the run's tries without a result: once it returns, no `done` of
  // theirs runs or will run (they go on where they are, for the run's next
  // coordinator). The in-process runner's tries end with their process: it
  // has nothing to drop.
  virtual void Forget(const std::string& /*run_id*/) {}
};

// Runs tries on `threads` threads of this process. Its destruction waits
// for the tries started.
std::unique_ptr<TryRunner> NewInProcessRunner(int threads);

// Hands tries to `piped worker` processes through the store's work queue
// (TryJob::payload, ::queue) and calls `done` on a thread of its own once a
// worker stored the result (woken by kNoticeDone, else a poll every second).
// A fired TryJob::cancel asks the worker to stop the try. A try whose lease
// ran out (reaped here, or by another scheduler) ends as a failure saying it
// was lost (TaskResult::lost). `execute` is not called.
std::unique_ptr<TryRunner> NewStoreRunner(StateStore& store, Clock& clock);

}  // namespace pipeline
