#include "exec/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace pipeline {
namespace {

TEST(ThreadPoolTest, SubmitRunsEveryJob) {
  std::atomic<int> done{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 100; ++i) pool.Submit([&] { ++done; });
  }  // the destructor finishes the queued jobs
  EXPECT_EQ(done.load(), 100);
}

TEST(ThreadPoolTest, SubmitNextFromAJobRunsOnTheSameWorkerAfterIt) {
  ThreadPool pool(2);
  std::promise<void> finished;
  std::thread::id first, second;
  std::atomic<bool> first_returned{false};
  std::atomic<bool> ran_after_return{false};
  pool.Submit([&] {
    first = std::this_thread::get_id();
    pool.SubmitNext([&] {
      second = std::this_thread::get_id();
      ran_after_return = first_returned.load();
      // A second follow-up from the follow-up chains the same way.
      pool.SubmitNext([&] { finished.set_value(); });
    });
    first_returned = true;
  });
  finished.get_future().wait();
  EXPECT_EQ(first, second);
  EXPECT_TRUE(ran_after_return) << "the follow-up waits for the job that submitted it";
}

TEST(ThreadPoolTest, SubmitNextOutsideAWorkerOrWithAFullSlotIsSubmit) {
  std::atomic<int> done{0};
  {
    ThreadPool pool(2);
    pool.SubmitNext([&] { ++done; });  // not on a worker
    pool.Submit([&] {
      pool.SubmitNext([&] { ++done; });
      pool.SubmitNext([&] { ++done; });  // the slot is taken: queued
    });
  }
  EXPECT_EQ(done.load(), 3);
}

}  // namespace
}  // namespace pipeline
