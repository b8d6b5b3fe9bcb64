// The in-process runner: a started try runs, its result reaches `done`, and
// a try started as another's last act runs on that try's thread.
#include "exec/try_runner.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace pipeline {
namespace {

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  void Add() {
    std::lock_guard lock(mu);
    ++count;
    cv.notify_all();
  }
  void WaitFor(int n) {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return count >= n; }));
  }
};

TEST(TryRunnerTest, RunsATryAndReportsItsResult) {
  auto runner = NewInProcessRunner(2);
  Done done;
  std::string seen;
  TryJob job;
  job.run_id = "r1";
  job.task_id = "a";
  job.try_number = 1;
  job.execute = [] { return TaskResult::Failure("exit code 3"); };
  job.done = [&](TaskResult& r) {
    seen = r.ok ? "ok" : r.error;
    done.Add();
  };
  runner->Start(std::move(job), false);
  done.WaitFor(1);
  EXPECT_EQ(seen, "exit code 3");
}

TEST(TryRunnerTest, ATryStartedAsAnothersLastActRunsOnItsThread) {
  auto runner = NewInProcessRunner(2);
  Done done;
  std::thread::id first, second;
  TryJob next;
  next.execute = [&] {
    second = std::this_thread::get_id();
    return TaskResult{};
  };
  next.done = [&](TaskResult&) { done.Add(); };
  TryJob job;
  job.execute = [&] {
    first = std::this_thread::get_id();
    return TaskResult{};
  };
  job.done = [&](TaskResult&) {
    runner->Start(std::move(next), /*next=*/true);
    done.Add();
  };
  runner->Start(std::move(job), false);
  done.WaitFor(2);
  EXPECT_EQ(first, second);
}

TEST(TryRunnerTest, DestroyingTheRunnerWaitsForTheTriesStarted) {
  Done done;
  {
    auto runner = NewInProcessRunner(1);
    for (int i = 0; i < 3; ++i) {
      TryJob job;
      job.execute = [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return TaskResult{};
      };
      job.done = [&](TaskResult&) { done.Add(); };
      runner->Start(std::move(job), false);
    }
  }
  EXPECT_EQ(done.count, 3);
}

}  // namespace
}  // namespace pipeline
