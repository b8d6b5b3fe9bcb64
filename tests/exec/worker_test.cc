// The worker loop on a real (SQLite) store and real time, with short leases:
// it runs what it claims within its slots, keeps long tries alive by
// heartbeats, stops a try whose lease it lost without writing its result,
// and hands back what still runs when it stops.
#include "exec/worker.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>

#include "core/error.h"
#include "exec/cancel_token.h"
#include "test_util.h"

namespace pipeline {
namespace {

using std::chrono::milliseconds;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("worker");
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
  }

  void Enqueue(const std::string& task, const std::string& queue = "default") {
    store_->EnqueueWork({"r1", task, 1, queue, "payload of " + task, clock_.Now()});
  }
  std::string State(const std::string& task) {
    auto w = store_->GetWork("r1", task, 1);
    return w ? w->state : "none";
  }
  // Waits (real time, at most 10 s) until `done` holds.
  static bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return done();
  }
  static bool WaitForCancel(const CancelToken& cancel, int timeout_ms) {
    pollfd p{cancel.fd(), POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1 || cancel.cancelled();
  }
  static WorkerOptions Options() {
    WorkerOptions o;
    o.name = "w1";
    o.lease = milliseconds(400);
    o.heartbeat = milliseconds(50);
    o.poll = milliseconds(50);
    return o;
  }

  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
  SystemClock clock_;
};

TEST_F(WorkerTest, RunsWhatItClaimsWithinItsSlots) {
  for (int i = 0; i < 10; ++i) Enqueue("t" + std::to_string(i));
  Enqueue("gpu", "gpu");  // not a queue it serves
  std::atomic<int> running{0}, most{0};
  WorkerOptions options = Options();
  options.slots = 2;
  Worker worker(*store_, clock_, options, [&](const WorkClaim& claim, const std::shared_ptr<EventCancelToken>&) {
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(30));
    --running;
    return "{\"echo\":\"" + claim.item.payload + "\"}";
  });
  std::thread loop([&] { worker.Run(); });
  EXPECT_TRUE(Eventually([&] { return worker.counts().finished == 10; }));
  worker.Stop(clock_.Now());
  loop.join();
  EXPECT_EQ(most.load(), 2);
  for (int i = 0; i < 10; ++i) {
    auto w = store_->GetWork("r1", "t" + std::to_string(i), 1);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->state, "done");
    EXPECT_EQ(w->worker, "w1");
    EXPECT_EQ(w->result, "{\"echo\":\"payload of t" + std::to_string(i) + "\"}");
  }
  EXPECT_EQ(State("gpu"), "ready");
  EXPECT_EQ(worker.counts().claimed, 10);
}

TEST_F(WorkerTest, HeartbeatsKeepATryLongerThanItsLeaseAlive) {
  Enqueue("long");
  WorkerOptions options = Options();
  options.lease = milliseconds(1500);  // thirty heartbeats: room for a loaded machine
  Worker worker(*store_, clock_, options, [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>& token) {
    EXPECT_FALSE(WaitForCancel(*token, 3500));  // longer than two leases, never cancelled
    return std::string("{}");
  });
  std::thread loop([&] { worker.Run(); });
  ASSERT_TRUE(Eventually([&] { return State("long") == "claimed"; }));
  for (int i = 0; i < 65 && State("long") == "claimed"; ++i) {
    EXPECT_TRUE(store_->ReapExpiredWork(clock_.Now()).empty());  // its lease never runs out
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(Eventually([&] { return State("long") == "done"; }));
  worker.Stop(clock_.Now());
  loop.join();
  EXPECT_EQ(worker.counts().finished, 1);
}

TEST_F(WorkerTest, ALostLeaseStopsTheTryAndItsResultIsNotWritten) {
  Enqueue("a");
  std::atomic<bool> cancelled{false};
  WorkerOptions options = Options();
  std::mutex said_mu;
  std::vector<std::string> said;
  options.warn = [&](const std::string& line) {
    std::lock_guard lock(said_mu);
    said.push_back(line);
  };
  Worker worker(*store_, clock_, options, [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>& token) {
    cancelled = WaitForCancel(*token, 10'000);
    return std::string(R"({"late":true})");
  });
  std::thread loop([&] { worker.Run(); });
  ASSERT_TRUE(Eventually([&] { return State("a") == "claimed"; }));
  // As if the worker had been cut off: its lease is reaped (another worker
  // would now run a new try).
  ASSERT_EQ(store_->ReapExpiredWork(clock_.Now() + std::chrono::hours(1)).size(), 1u);
  EXPECT_TRUE(Eventually([&] { return worker.counts().lost == 1; }));
  EXPECT_TRUE(cancelled.load());
  worker.Stop(clock_.Now());
  loop.join();
  auto w = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->state, "lost");
  EXPECT_EQ(w->result, "");
  EXPECT_EQ(worker.counts().finished, 0);
  // Said, one line per event (the worker's log).
  std::lock_guard lock(said_mu);
  EXPECT_EQ(said, (std::vector<std::string>{
                      "worker: lost the lease of r1.a try 1: stopping it (it runs again elsewhere; nothing is written)"}));
}

TEST_F(WorkerTest, AStopHandsBackWhatStillRunsAtTheDeadline) {
  Enqueue("slow");
  std::atomic<bool> cancelled{false};
  Worker worker(*store_, clock_, Options(), [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>& token) {
    cancelled = WaitForCancel(*token, 10'000);
    return std::string("{}");
  });
  std::thread loop([&] { worker.Run(); });
  ASSERT_TRUE(Eventually([&] { return State("slow") == "claimed"; }));
  worker.Stop(clock_.Now() + milliseconds(100));
  loop.join();
  EXPECT_TRUE(cancelled.load());
  EXPECT_EQ(worker.counts().released, 1);
  EXPECT_EQ(State("slow"), "ready");  // another worker takes it: not lost, no try used up
  EXPECT_EQ(store_->ClaimWork("w2", {"default"}, 1, clock_.Now(), milliseconds(1000)).size(), 1u);
}

TEST_F(WorkerTest, ACancelItsCoordinatorAsksForStopsTheTryAndItsResultIsWritten) {
  Enqueue("a");
  std::atomic<bool> cancelled{false};
  WorkerOptions options = Options();
  options.heartbeat = std::chrono::seconds(20);  // only the cancel notice makes it renew soon
  options.lease = std::chrono::seconds(60);
  Worker worker(*store_, clock_, options, [&](const WorkClaim&, const std::shared_ptr<EventCancelToken>& token) {
    cancelled = WaitForCancel(*token, 10'000);
    return std::string(R"({"ok":false,"error":"killed"})");
  });
  std::thread loop([&] { worker.Run(); });
  ASSERT_TRUE(Eventually([&] { return State("a") == "claimed"; }));
  ASSERT_TRUE(store_->CancelWork({"r1", "a", 1}, "{}", clock_.Now()));
  EXPECT_TRUE(Eventually([&] { return State("a") == "done"; }));
  EXPECT_TRUE(cancelled.load());
  worker.Stop(clock_.Now());
  loop.join();
  auto w = store_->GetWork("r1", "a", 1);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->result, R"({"ok":false,"error":"killed"})");  // the worker's, not lost
  EXPECT_EQ(worker.counts().finished, 1);
  EXPECT_EQ(worker.counts().lost, 0);
}

TEST_F(WorkerTest, BadOptionsAreRefused) {
  WorkerOptions o = Options();
  o.heartbeat = o.lease;
  EXPECT_THROW(Worker(*store_, clock_, o, [](const WorkClaim&, const std::shared_ptr<EventCancelToken>&) { return std::string(); }), Error);
  o = Options();
  o.slots = 0;
  EXPECT_THROW(Worker(*store_, clock_, o, [](const WorkClaim&, const std::shared_ptr<EventCancelToken>&) { return std::string(); }), Error);
}

}  // namespace
}  // namespace pipeline
