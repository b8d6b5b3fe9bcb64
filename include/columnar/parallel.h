// A minimal fork-join loop for the columnar engine's parallel steps.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace pipeline::columnar {

// The default degree of parallelism: one per core.
inline int DefaultThreads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Calls fn(i) for i in [0, count) on up to `threads` threads (the caller's
// included), each taking the next index; rethrows the first exception once
// all have stopped.
template <class Fn>
void ParallelFor(size_t count, int threads, Fn&& fn) {
  if (count == 0) return;
  size_t workers = std::min<size_t>(count, static_cast<size_t>(std::max(1, threads)));
  if (workers == 1) {
    for (size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace pipeline::columnar
