#include "exec/thread_pool.h"

namespace pipeline {
namespace {

// The worker the calling thread is, if any, and its follow-up job slot.
thread_local const ThreadPool* tls_pool = nullptr;
thread_local std::function<void()>* tls_next = nullptr;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  threads_.reserve(threads);
  for (int idx = 0; idx < threads; ++idx) threads_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::Submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ThreadPool::SubmitNext(std::function<void()> job) {
  if (tls_pool == this && tls_next && !*tls_next) {
    *tls_next = std::move(job);
    return;
  }
  Submit(std::move(job));
}

void ThreadPool::WorkerLoop() {
  std::function<void()> next;
  tls_pool = this;
  tls_next = &next;
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
    while (next) {
      std::function<void()> follow = std::move(next);
      next = nullptr;
      follow();
    }
  }
}

}  // namespace pipeline
