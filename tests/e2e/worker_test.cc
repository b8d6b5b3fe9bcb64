// `piped worker`, the real binary on a real PostgreSQL: it runs the tries
// put in the shared database's work queue (as the coordinator will), writes
// their results, and at SIGTERM hands back what still runs after its grace.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/remote_try.h"
#include "exec/task_services.h"
#include "pg_cluster.h"
#include "store/state_store.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PipedWorkerTest, RunsQueuedTriesAndHandsBackWhatRunsAtSigterm) {
  fs::path dir = testing_util::FreshTestDir("pipe_worker_e2e");
  std::string db = testing_util::SharedCluster().CreateDatabase("worker" + std::to_string(getpid()));
  auto store = OpenStateStore(db);
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  SystemClock clock;
  std::string text = "dag: spread\ntasks:\n";
  for (int i = 0; i < 5; ++i) text += "  t" + std::to_string(i) + ": {op: shell, run: 'echo {{ task.id }}-{{ task.try }} >> done.txt'}\n";
  text += "  slow: {op: shell, run: 'sleep 30'}\n";
  LoadResult loaded = DagLoader(ops).LoadText(text, (dir / "spread.yaml").string());
  ASSERT_TRUE(loaded.dag);
  store->PutDagVersion(*loaded.dag, clock.Now());
  const std::string run = CreateTriggeredRun(*store, ops, clock, "", "spread", "{}");
  for (const TaskSpec& t : loaded.dag->tasks) {
    store->EnqueueWork({run, t.id, 1, "default",
                        TryPayloadJson({"spread", 1, dir.string(), (dir / "logs" / (t.id + ".log")).string(),
                                        (dir / "artifacts" / t.id).string()}),
                        clock.Now()});
  }

  pid_t worker = testing_util::SpawnProcess(
      {PIPED_PATH, "worker", "--db", db, "--name", "w1", "--slots", "3", "--lease", "3s", "--heartbeat", "200ms",
       "--grace", "500ms"},
      {}, dir / "worker.log", dir / "worker.log", dir, /*append=*/true);
  ASSERT_GT(worker, 0);
  auto state = [&](const std::string& task) {
    auto w = store->GetWork(run, task, 1);
    return w ? w->state : "none";
  };
  bool all_done = false, slow_claimed = false;
  for (int i = 0; i < 1000 && !(all_done && slow_claimed); ++i) {
    all_done = true;
    for (int t = 0; t < 5; ++t) all_done = all_done && state("t" + std::to_string(t)) == "done";
    slow_claimed = state("slow") == "claimed";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(all_done) << Slurp(dir / "worker.log");
  ASSERT_TRUE(slow_claimed) << Slurp(dir / "worker.log");
  std::string done = Slurp(dir / "done.txt");
  for (int t = 0; t < 5; ++t) {
    const std::string line = "t" + std::to_string(t) + "-1\n";
    EXPECT_EQ(done.find(line), done.rfind(line)) << "ran twice: " << done;  // once each
    EXPECT_NE(done.find(line), std::string::npos) << done;
    auto w = store->GetWork(run, "t" + std::to_string(t), 1);
    EXPECT_EQ(w->worker, "w1");
    EXPECT_TRUE(TaskResultFromJson(w->result).ok) << w->result;
  }

  // SIGTERM: the slow try outlives the grace, is stopped and handed back.
  auto start = std::chrono::steady_clock::now();
  kill(worker, SIGTERM);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_TRUE(WIFEXITED(status)) << Slurp(dir / "worker.log");
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(state("slow"), "ready");
  EXPECT_NE(Slurp(dir / "worker.log").find("handed_back=1"), std::string::npos) << Slurp(dir / "worker.log");
  fs::remove_all(dir);
}

TEST(PipedWorkerTest, RefusesADatabaseWorkersCannotShare) {
  fs::path dir = testing_util::FreshTestDir("pipe_worker_sqlite");
  pid_t pid = testing_util::SpawnProcess({PIPED_PATH, "worker", "--db", "sqlite:" + (dir / "s.db").string()}, {},
                                         dir / "log", dir / "log", dir, false);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(Slurp(dir / "log").find("piped worker needs the shared PostgreSQL database"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pipeline
