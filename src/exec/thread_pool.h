// A fixed set of worker threads taking jobs from one queue.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pipeline {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  // Finishes the queued jobs, then joins the threads.
  ~ThreadPool();

  // Runs `job` on a worker. Jobs must not throw (the executor's wrapper catches).
  void Submit(std::function<void()> job);
  // Like Submit, but called from within a job on one of this pool's workers,
  // `job` runs on that same worker as soon as the current job returns (no
  // other thread is woken), unless the worker already holds one such job.
  // For a job's last act: a follow-up that starts it waits for nothing else.
  void SubmitNext(std::function<void()> job);

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace pipeline
