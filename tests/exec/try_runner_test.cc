// The in-process runner: a started try runs, its result reaches `done`, and
// a try started as another's last act runs on that try's thread. The store
// runner with a real worker on a SQLite store: results, cancels (before and
// after a worker took the try) and lost leases come back to `done`.
#include "exec/try_runner.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "exec/cancel_token.h"
#include "exec/remote_try.h"
#include "exec/worker.h"
#include "test_util.h"

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

class StoreRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStateStore("sqlite:" + (testing_util::FreshTestDir("store_runner") / "state.db").string());
    runner_ = NewStoreRunner(*store_, clock_);
  }

  // A remote try whose result lands in results_[task_id].
  TryJob Job(const std::string& task, std::shared_ptr<EventCancelToken> cancel = nullptr) {
    TryJob job;
    job.run_id = "r1";
    job.task_id = task;
    job.try_number = 1;
    job.payload = "{}";
    job.cancel = std::move(cancel);
    job.execute = [] { return TaskResult::Failure("executed here"); };
    job.done = [this, task](TaskResult& r) {
      {
        std::lock_guard lock(done_.mu);
        results_[task] = r;
      }
      done_.Add();
    };
    return job;
  }
  TaskResult Result(const std::string& task) {
    std::lock_guard lock(done_.mu);
    return results_.at(task);
  }
  std::string State(const std::string& task) {
    auto w = store_->GetWork("r1", task, 1);
    return w ? w->state : "none";
  }

  SystemClock clock_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<TryRunner> runner_;
  Done done_;
  std::map<std::string, TaskResult> results_;  // guarded by done_.mu
};

TEST_F(StoreRunnerTest, AWorkersResultAndNameComeBack) {
  WorkerOptions options;
  options.name = "w7";
  options.poll = std::chrono::milliseconds(50);
  Worker worker(*store_, clock_, options, [](const WorkClaim& claim, const std::shared_ptr<EventCancelToken>&) {
    TaskResult r = TaskResult::Failure("exit status 3 on " + claim.item.task_id);
    r.exit_code = 3;
    return TaskResultJson(r);
  });
  std::thread loop([&] { worker.Run(); });
  runner_->Start(Job("a"), false);
  done_.WaitFor(1);
  worker.Stop(clock_.Now());
  loop.join();
  TaskResult r = Result("a");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "exit status 3 on a");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.worker, "w7");
  EXPECT_FALSE(r.lost);
}

TEST_F(StoreRunnerTest, ACancelBeforeAnyWorkerTookTheTryEndsItThere) {
  auto cancel = std::make_shared<EventCancelToken>();
  runner_->Start(Job("a", cancel), false);
  cancel->Fire();
  done_.WaitFor(1);
  EXPECT_EQ(Result("a").error, "cancelled before a worker took it");
  EXPECT_EQ(State("a"), "done");
  EXPECT_TRUE(store_->ClaimWork("w1", {"default"}, 1, clock_.Now(), std::chrono::seconds(5)).empty());
}

TEST_F(StoreRunnerTest, ACancelReachesTheWorkerRunningTheTry) {
  WorkerOptions options;
  options.name = "w1";
  options.poll = std::chrono::milliseconds(50);
  options.heartbeat = std::chrono::seconds(20);
  options.lease = std::chrono::seconds(60);
  std::atomic<bool> started{false};
  Worker worker(*store_, clock_, options, [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>& token) {
    started = true;
    pollfd p{token->fd(), POLLIN, 0};
    bool stopped = poll(&p, 1, 20'000) == 1;
    return TaskResultJson(TaskResult::Failure(stopped ? "killed by the cancel" : "never cancelled"));
  });
  std::thread loop([&] { worker.Run(); });
  auto cancel = std::make_shared<EventCancelToken>();
  runner_->Start(Job("a", cancel), false);
  for (int i = 0; i < 1000 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(started);
  cancel->Fire();
  done_.WaitFor(1);
  worker.Stop(clock_.Now());
  loop.join();
  EXPECT_EQ(Result("a").error, "killed by the cancel");
  EXPECT_EQ(Result("a").worker, "w1");
}

TEST_F(StoreRunnerTest, ATryWhoseLeaseRanOutComesBackLost) {
  runner_->Start(Job("a"), false);
  // A worker that claims it and is never heard of again.
  ASSERT_EQ(store_->ClaimWork("gone", {"default"}, 1, clock_.Now(), std::chrono::milliseconds(100)).size(), 1u);
  done_.WaitFor(1);  // the runner reaps it once the lease ran out
  TaskResult r = Result("a");
  EXPECT_TRUE(r.lost);
  EXPECT_EQ(r.worker, "gone");
  EXPECT_NE(r.error.find("stopped renewing its lease"), std::string::npos) << r.error;
  EXPECT_EQ(State("a"), "lost");
}

}  // namespace
}  // namespace pipeline
