#include "exec/try_runner.h"

#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "exec/remote_try.h"
#include "exec/thread_pool.h"

namespace pipeline {

WorkItem WorkItemOf(const TryJob& job, TimePoint now) {
  WorkItem item;
  item.run_id = job.run_id;
  item.task_id = job.task_id;
  item.try_number = job.try_number;
  item.queue = job.queue;
  item.payload = job.payload;
  item.enqueued_at = now;
  if (!job.prefer.empty()) {
    item.prefer = job.prefer;
    item.prefer_until = now + kLocalityWait;
  }
  return item;
}

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
    if (watcher_.joinable()) watcher_.join();
  }

  void Start(TryJob job, bool) override {
    if (!job.enqueued) store_.EnqueueWork(WorkItemOf(job, clock_.Now()));
    std::lock_guard lock(mu_);
    WorkKey key = Key(job);
    pending_.emplace(IdOf(key), Pending{std::move(job), false});
    if (!watcher_.joinable()) watcher_ = std::thread([this] { Watch(); });
  }

  void Forget(const std::string& run_id) override {
    std::lock_guard delivering(deliver_mu_);  // a `done` under way ends first
    std::lock_guard lock(mu_);
    std::erase_if(pending_, [&](const auto& entry) { return std::get<0>(entry.first) == run_id; });
  }

 private:
  struct Pending {
    TryJob job;
    bool cancel_sent = false;
  };

  // Passes cancels on, reaps leases that ran out (one scheduler at a time,
  // the store sees to that) and collects what ended: at once when the store
  // says something ended, else every kPoll.
  void Watch() {
    static constexpr auto kTurn = std::chrono::milliseconds(100);
    static constexpr auto kPoll = std::chrono::seconds(1);
    auto next_poll = std::chrono::steady_clock::now();
    for (;;) {
      std::vector<WorkKey> cancels;
      std::vector<WorkKey> keys;
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        for (auto& [id, p] : pending_) {
          if (!p.cancel_sent && p.job.cancel && p.job.cancel->cancelled()) {
            p.cancel_sent = true;
            cancels.push_back(Key(p.job));
          }
        }
      }
      for (const WorkKey& key : cancels) {
        try {
          store_.CancelWork(key, TaskResultJson(TaskResult::Failure("cancelled before a worker took it")),
                            clock_.Now());
        } catch (const std::exception&) {
          Resend(key);  // the store is away: again next turn
        }
      }
      const bool ended = store_.WaitForNotice(kNoticeDone, kTurn) != 0;
      const auto now = std::chrono::steady_clock::now();
      const bool poll = now >= next_poll;
      if (!ended && !poll) continue;
      if (poll) {
        next_poll = now + kPoll;
        try {
          store_.ReapExpiredWork(clock_.Now());  // its notice brings the lost ones here
        } catch (const std::exception&) {
        }
      }
      // Just the items the notices named, unless some may have been missed.
      bool complete = false;
      std::vector<WorkKey> heard = store_.TakeEndedNotices(&complete);
      {
        std::lock_guard lock(mu_);
        if (poll || !complete) {
          for (const auto& [id, p] : pending_) keys.push_back(Key(p.job));
        } else {
          for (const WorkKey& k : heard) {
            if (pending_.count(IdOf(k))) keys.push_back(k);
          }
        }
      }
      if (keys.empty()) continue;
      std::vector<WorkRecord> done;
      try {
        done = store_.ListEndedWork(keys);
      } catch (const std::exception&) {  // the store is away: look again
        continue;
      }
      for (WorkRecord& w : done) Deliver(w);
    }
  }

  using Id = std::tuple<std::string, std::string, int>;
  static Id IdOf(const WorkKey& k) { return {k.run_id, k.task_id, k.try_number}; }
  static WorkKey Key(const TryJob& job) { return {job.run_id, job.task_id, job.try_number}; }

  void Resend(const WorkKey& key) {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(IdOf(key)); it != pending_.end()) it->second.cancel_sent = false;
  }

  void Deliver(const WorkRecord& w) {
    std::lock_guard delivering(deliver_mu_);
    std::optional<TryJob> job;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(IdOf({w.item.run_id, w.item.task_id, w.item.try_number}));
      if (it == pending_.end()) return;
      job = std::move(it->second.job);
      pending_.erase(it);
    }
    TaskResult result;
    if (w.state == "lost") {
      result = TaskResult::Failure("lost: the worker running try " + std::to_string(w.item.try_number) + " (" +
                                   w.worker + ") stopped renewing its lease");
      result.lost = true;
    } else {
      result = TaskResultFromJson(w.result);
      result.ended_at = w.ended_at;
    }
    result.worker = w.worker;
    job->done(result);
  }

  StateStore& store_;
  Clock& clock_;
  std::mutex deliver_mu_;  // held while a `done` runs (Forget waits for it)
  std::mutex mu_;
  std::map<Id, Pending> pending_;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread watcher_;
};

}  // namespace

std::unique_ptr<TryRunner> NewInProcessRunner(int threads) { return std::make_unique<InProcessRunner>(threads); }

std::unique_ptr<TryRunner> NewStoreRunner(StateStore& store, Clock& clock) {
  return std::make_unique<StoreRunner>(store, clock);
}

}  // namespace pipeline
