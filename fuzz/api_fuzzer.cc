// libFuzzer target for the REST handlers: any method, target and body must
// get a well-formed answer (a status from 200 to 599), never a crash.
// Input: "METHOD\nTARGET\nBODY...". The DAG is paused, so triggered runs stay
// queued instead of starting processes. A logistic model `m` with a
// transform chain is deployed, so the predict routes (REST and the Open
// Inference Protocol) score what the fuzzer sends.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/api.h"
#include "core/operator.h"
#include "dag/loader.h"
#include "exec/builtin_operators.h"
#include "exec/executor.h"
#include "scheduler/scheduler.h"
#include "serving/model_server.h"
#include "store/state_store.h"

namespace {

using namespace pipeline;

struct World {
  World() {
    static const auto dir = std::filesystem::temp_directory_path() / ("pipe_api_fuzz_" + std::to_string(getpid()));
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    std::filesystem::create_directories(dir / "dags");
    std::ofstream(dir / "dags" / "f.yaml")
        << "dag: f\nschedule: '@daily'\nstart_date: 2026-01-01\nparams: {n: 1, s: x, l: [a]}\n"
           "tasks:\n  a: {op: shell, run: 'true'}\n  b: {op: shell, depends_on: [a], run: 'true'}\n";
    store = OpenStateStore("sqlite:" + (dir / "state.db").string());
    RegisterBuiltinOperators(ops);
    ExecutorOptions options;
    options.workers = 1;
    options.log_root = (dir / "logs").string();
    executor = std::make_unique<Executor>(*store, ops, *SystemClock::Default(), options);
    scheduler = std::make_unique<Scheduler>(*store, *executor, loader, *SystemClock::Default());
    scheduler->SetDags(loader.LoadFolder((dir / "dags").string()));
    scheduler->SetPaused("f", true);
    std::ofstream(dir / "m.json") << R"({"format": "pipe-linear-v1", "model_type": "logistic_regression",
      "kind": "classification", "target": "y", "coef": [0.5, -0.25, 1.0], "intercept": 0.1,
      "features": [{"name": "x_z", "type": "float64"}, {"name": "n", "type": "int64"}, {"name": "c_a", "type": "bool"}]})";
    ModelVersionRecord v;
    v.name = "m";
    v.model_type = "logistic_regression";
    v.kind = "classification";
    v.uri = (dir / "m.json").string();
    v.format = "pipe-linear-v1";
    v.content_hash = "xxh3:0000000000000000";
    v.target = "y";
    v.features_json = R"([{"name": "x_z", "type": "float64"}, {"name": "n", "type": "int64"}, {"name": "c_a", "type": "bool"}])";
    v.transforms_json = R"([{"step": "source", "params": {"columns": [{"name": "x", "type": "float64"},
        {"name": "n", "type": "int64"}, {"name": "c", "type": "string"}, {"name": "t", "type": "timestamp"}]}},
      {"step": "fill_nulls", "params": {"columns": {"x": 1.5}}},
      {"step": "standardize", "params": {"x": {"output": "x_z", "mean": 1, "std": 2}}},
      {"step": "one_hot", "params": {"c": {"prefix": "c", "categories": ["a", "b"], "other": true}}},
      {"step": "datetime_parts", "params": {"t": {"parts": ["hour"]}}}])";
    v.params_json = v.metrics_json = v.importance_json = "{}";
    v.lineage_json = R"({"dag_id": "f"})";
    v.created_at = SystemClock::Default()->Now();
    store->SetModelAlias("m", "production", store->CreateModelVersion(v), v.created_at);
    models = std::make_unique<ModelServer>(*store, ModelServerOptions{});
    api = std::make_unique<Api>(*scheduler, *store, tokens, metrics, ApiOptions{});
    api->SetModelServer(models.get());
  }
  std::unique_ptr<StateStore> store;
  OperatorRegistry ops;
  DagLoader loader{ops};
  std::unique_ptr<Executor> executor;
  std::unique_ptr<Scheduler> scheduler;
  TokenStore tokens;
  MetricsObserver metrics;
  std::unique_ptr<ModelServer> models;
  std::unique_ptr<Api> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World;
  std::string input(reinterpret_cast<const char*>(data), size);
  size_t first = input.find('\n');
  size_t second = first == std::string::npos ? std::string::npos : input.find('\n', first + 1);
  HttpRequest req;
  req.method = input.substr(0, first);
  req.target = first == std::string::npos ? "/" : input.substr(first + 1, second - first - 1);
  if (second != std::string::npos) req.body = input.substr(second + 1);
  HttpResponse res;
  if (!ParseTarget(req.target, &req.path, &req.query)) return 0;
  res = world->api->Handle(req);
  if (res.status < 200 || res.status > 599) __builtin_trap();
  return 0;
}
