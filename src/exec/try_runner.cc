#include "exec/try_runner.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "exec/remote_try.h"
#include "exec/thread_pool.h"

namespace pipeline {

namespace {

class InProcessRunner final : public TryRunner {
 public:
  explicit InProcessRunner(int threads) : pool_(threads) {}

  void Start(TryJob job, bool next) override {
    auto run = [job = std::move(job)]() mutable {
      TaskResult result = job.execute();
      job.done(result);
    };
    if (next) {
      pool_.SubmitNext(std::move(run));
    } else {
      pool_.Submit(std::move(run));
    }
  }

 private:
  ThreadPool pool_;
};

class StoreRunner final : public TryRunner {
 public:
  StoreRunner(StateStore& store, Clock& clock) : store_(store), clock_(clock) {}
  ~StoreRunner() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }

  void Start(TryJob job, bool) override {
    store_.EnqueueWork({job.run_id, job.task_id, job.try_number, job.queue, job.payload, clock_.Now()});
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(job));
    if (!watcher_.joinable()) watcher_ = std::thread([this] { Watch(); });
    cv_.notify_all();
  }

 private:
  // Polls the pending tries' rows (a worker's result is a row update) and
  // reaps leases that ran out.
  void Watch() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; });
      if (stopping_ || pending_.empty()) continue;
      std::vector<TryJob> watching;
      watching.swap(pending_);
      lock.unlock();
      std::vector<TryJob> still;
      try {
        store_.ReapExpiredWork(clock_.Now());
      } catch (const std::exception&) {
      }
      for (TryJob& job : watching) {
        std::optional<WorkRecord> w;
        try {
          w = store_.GetWork(job.run_id, job.task_id, job.try_number);
        } catch (const std::exception&) {  // the store is away: look again
        }
        if (w && w->state == "done") {
          TaskResult result = TaskResultFromJson(w->result);
          job.done(result);
        } else if (w && w->state == "lost") {
          TaskResult result = TaskResult::Failure("lost: the worker running try " + std::to_string(job.try_number) +
                                                  " (" + w->worker + ") stopped renewing its lease");
          result.lost = true;
          job.done(result);
        } else {
          still.push_back(std::move(job));
        }
      }
      lock.lock();
      for (TryJob& job : still) pending_.push_back(std::move(job));
    }
  }

  StateStore& store_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TryJob> pending_;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  std::thread watcher_;
};

}  // namespace

std::unique_ptr<TryRunner> NewInProcessRunner(int threads) { return std::make_unique<InProcessRunner>(threads); }

std::unique_ptr<TryRunner> NewStoreRunner(StateStore& store, Clock& clock) {
  return std::make_unique<StoreRunner>(store, clock);
}

}  // namespace pipeline
