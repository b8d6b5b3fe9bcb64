// A claimed try run by a worker (RunClaimedTry in the Worker loop) on a real
// store: rendered from the stored DAG version and run as the executor would,
// its result carried back as JSON; a try that cannot start fails saying why.
#include "exec/remote_try.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "core/error.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/task_services.h"
#include "exec/worker.h"
#include "test_util.h"

namespace pipeline {
namespace {

TEST(RemoteTryTest, AnInstancesItemAndItsReadersCountsTravelInThePayload) {
  TryPayload p{"d", 3, "/dags", "/logs/m[2].1.log", "/art/d/r/m[2]", "in/c.csv", {{"load", 12}}};
  TryPayload back = ParseTryPayload(TryPayloadJson(p));
  EXPECT_EQ(back.map_item, "in/c.csv");
  EXPECT_EQ(back.mapped.at("load"), 12);
  EXPECT_THROW(ParseTryPayload(R"({"dag_id":"d","dag_version":1,"dag_dir":"","log_path":"","artifact_dir":"",)"
                               R"("mapped":{"load":"x"}})"),
               Error);
}

TEST(RemoteTryTest, HeldOutputsAreBoundedByBytesOldestFirst) {
  // Given room for 100 bytes, then a third 40-byte table pushes out the
  // first, a table bigger than the room is not kept, and a task kept again
  // replaces its older table.
  struct Data final : Dataset {};
  TryCache cache(100);
  auto data = std::make_shared<Data>();
  cache.PutOutput("r", "a", {data, "h1", 40});
  cache.PutOutput("r", "b", {data, "h2", 40});
  cache.PutOutput("r", "c", {data, "h3", 40});
  EXPECT_FALSE(cache.Output("r", "a"));
  EXPECT_EQ(cache.Output("r", "b")->hash, "h2");
  EXPECT_EQ(cache.Output("r", "c")->hash, "h3");
  cache.PutOutput("r", "big", {data, "h4", 101});
  EXPECT_FALSE(cache.Output("r", "big"));
  cache.PutOutput("r", "c", {data, "h5", 40});
  EXPECT_EQ(cache.Output("r", "c")->hash, "h5");
  EXPECT_EQ(cache.Output("r", "b")->hash, "h2");
  EXPECT_FALSE(TryCache().Output("r", "c"));  // keeps nothing by default
}

TEST(RemoteTryTest, PayloadsAndResultsRoundTripAndBadOnesAreNamed) {
  TryPayload p{"d", 3, "/dags", "/logs/a.1.log", "/art/d/r/a"};
  TryPayload back = ParseTryPayload(TryPayloadJson(p));
  EXPECT_EQ(back.dag_id, "d");
  EXPECT_EQ(back.dag_version, 3);
  EXPECT_EQ(back.dag_dir, "/dags");
  EXPECT_EQ(back.log_path, "/logs/a.1.log");
  EXPECT_EQ(back.artifact_dir, "/art/d/r/a");
  EXPECT_THROW(ParseTryPayload("[]"), Error);
  try {
    ParseTryPayload(R"({"dag_id": "d", "dag_version": "3"})");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "a try's payload has no integer 'dag_version'");
  }

  TaskResult r = TaskResult::Failure("exit status 3");
  r.exit_code = 3;
  r.metrics.rows_out = 7;
  r.metrics.summary = "a \"quoted\" gist";
  r.metrics.gauges.push_back({"pipe_drift_psi", "amount", 0.25});
  TaskResult r2 = TaskResultFromJson(TaskResultJson(r));
  EXPECT_FALSE(r2.ok);
  EXPECT_EQ(r2.error, "exit status 3");
  EXPECT_EQ(r2.exit_code, 3);
  EXPECT_EQ(r2.metrics.rows_out, 7);
  EXPECT_EQ(r2.metrics.summary, "a \"quoted\" gist");
  ASSERT_EQ(r2.metrics.gauges.size(), 1u);
  EXPECT_EQ(r2.metrics.gauges[0].column, "amount");
  EXPECT_EQ(r2.metrics.gauges[0].value, 0.25);
  EXPECT_FALSE(r2.watermark);
  // An incremental try's mark travels back to the coordinator with its result.
  TaskResult done = TaskResult::Success();
  done.watermark = "2026-01-01 00:16:40";
  EXPECT_EQ(TaskResultFromJson(TaskResultJson(done)).watermark, "2026-01-01 00:16:40");
  // So does what the try read (a failed try's OpenLineage inputs).
  TaskResult failed = TaskResult::Failure("row 2: bad");
  failed.inputs_json = R"([{"file":{"hash":"xxh3:1","path":"/d/bad.csv"}}])";
  EXPECT_EQ(TaskResultFromJson(TaskResultJson(failed)).inputs_json, failed.inputs_json);
  EXPECT_EQ(TaskResultFromJson(TaskResultJson(TaskResult::Success())).inputs_json, "");
  EXPECT_FALSE(TaskResultFromJson("garbage").ok);
}

TEST(RemoteTryTest, AWorkerRunsAClaimedTryAsTheExecutorWould) {
  auto dir = testing_util::FreshTestDir("remote_try");
  auto store = OpenStateStore("sqlite:" + (dir / "state.db").string());
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  SystemClock clock;
  LoadResult loaded = DagLoader(ops).LoadText(R"(dag: remote
params: {who: world}
tasks:
  hello: {op: shell, run: 'echo "hi-{{ params.who }}-{{ task.try }}" > out.txt; echo logged'}
  bad: {op: shell, run: 'exit 3'}
)",
                                              (dir / "remote.yaml").string());
  ASSERT_TRUE(loaded.dag);
  store->PutDagVersion(*loaded.dag, clock.Now());
  const std::string run_id = CreateTriggeredRun(*store, ops, clock, "", "remote", R"({"who": "there"})");
  auto enqueue = [&](const std::string& task, const std::string& payload) {
    store->EnqueueWork({run_id, task, 1, "default", payload, clock.Now()});
  };
  auto payload = [&](const std::string& task) {
    return TryPayloadJson({"remote", 1, dir.string(), (dir / "logs" / (task + ".1.log")).string(),
                           (dir / "artifacts" / task).string()});
  };
  enqueue("hello", payload("hello"));
  enqueue("bad", payload("bad"));
  enqueue("gone", payload("gone"));  // no such task
  enqueue("broken", "not json");

  WorkerOptions options;
  options.name = "w1";
  options.slots = 2;
  options.lease = std::chrono::milliseconds(2000);
  options.heartbeat = std::chrono::milliseconds(100);
  options.poll = std::chrono::milliseconds(50);
  Worker worker(*store, clock, options, [&](const WorkClaim& claim, const std::shared_ptr<EventCancelToken>& cancel) {
    return RunClaimedTry(*store, ops, clock, claim, cancel);
  });
  std::thread loop([&] { worker.Run(); });
  for (int i = 0; i < 1000 && worker.counts().finished < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  worker.Stop(clock.Now());
  loop.join();
  ASSERT_EQ(worker.counts().finished, 4);

  auto result = [&](const std::string& task) { return TaskResultFromJson(store->GetWork(run_id, task, 1)->result); };
  TaskResult hello = result("hello");
  EXPECT_TRUE(hello.ok) << hello.error;
  std::ifstream out(dir / "out.txt");
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "hi-there-1");  // the run's params and the try number, rendered on the worker
  std::ifstream log(dir / "logs" / "hello.1.log");
  std::string logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("logged"), std::string::npos);
  TaskResult bad = result("bad");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_EQ(result("gone").error, "DAG remote has no task 'gone'");
  EXPECT_EQ(result("broken").error, "a try's payload is not a JSON object");
}

}  // namespace
}  // namespace pipeline
