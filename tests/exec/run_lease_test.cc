// The lease `pipectl run` keeps on the run it coordinates: renewed while the
// keeper lives (a daemon sees no orphan), free to take over once it is gone,
// and a cancel asked through the store relayed once.
#include "exec/run_lease.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/state_store.h"
#include "test_util.h"

namespace pipeline {
namespace {

using std::chrono::milliseconds;

class RunLeaseTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing_util::FreshTestDir("pipe_run_lease");
    store_ = OpenStateStore("sqlite:" + (dir_ / "state.db").string());
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    run.dag_version = 1;
    run.trigger = "manual";
    run.state = RunState::kRunning;
    run.logical_date = run.data_interval_start = run.data_interval_end = run.created_at = Now();
    run.started_at = Now();
    run.params_json = "{}";
    run.coordinator = "pipectl:host:1";
    run.coordinator_until = Now() + kLease;
    store_->CreateRun(run, {{"a", 1}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static TimePoint Now() { return SystemClock::Default()->Now(); }
  bool Orphaned() { return !store_->ListOrphanedRuns(Now(), 10).empty(); }

  static constexpr Duration kLease = milliseconds(1000);  // a stall of a loaded machine is shorter
  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(RunLeaseTest, ARenewedRunIsNoOrphanAndIsOnceTheKeeperIsGone) {
  std::atomic<int> cancels = 0;
  {
    RunLeaseKeeper keeper(*store_, "r1", "pipectl:host:1", kLease, milliseconds(50), [&] { ++cancels; });
    // Three leases long: only renewals keep it.
    for (int i = 0; i < 30; ++i) {
      std::this_thread::sleep_for(milliseconds(100));
      ASSERT_FALSE(Orphaned()) << "after " << (i + 1) * 100 << " ms";
    }
  }
  std::this_thread::sleep_for(kLease + milliseconds(100));
  EXPECT_TRUE(Orphaned());
  EXPECT_EQ(cancels, 0);
}

TEST_F(RunLeaseTest, ACancelAskedThroughTheStoreIsRelayedOnce) {
  std::atomic<int> cancels = 0;
  RunLeaseKeeper keeper(*store_, "r1", "pipectl:host:1", kLease, milliseconds(20), [&] { ++cancels; });
  ASSERT_TRUE(store_->RequestRunCancel("r1"));
  for (int i = 0; i < 500 && cancels == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  std::this_thread::sleep_for(milliseconds(100));  // several renewals more
  EXPECT_EQ(cancels, 1);
}

TEST_F(RunLeaseTest, AnotherCoordinatorsRunIsNotRenewed) {
  RunLeaseKeeper keeper(*store_, "r1", "pipectl:host:2", kLease, milliseconds(50), {});
  std::this_thread::sleep_for(kLease + milliseconds(200));
  EXPECT_TRUE(Orphaned());
}

TEST(LocalCoordinatorNameTest, NamesTheProgramTheHostAndThisProcess) {
  const std::string name = LocalCoordinatorName("pipectl");
  EXPECT_EQ(name.rfind("pipectl:", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.rfind(':') + 1), std::to_string(getpid())) << name;
}

}  // namespace
}  // namespace pipeline
