// libFuzzer target for the REST handlers: any method, target and body must
// get a well-formed answer (a status from 200 to 599), never a crash.
// Input: "METHOD\nTARGET\nBODY...". The DAG is paused, so triggered runs stay
// queued instead of starting processes.

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
    api = std::make_unique<Api>(*scheduler, *store, tokens, metrics, ApiOptions{});
  }
  std::unique_ptr<StateStore> store;
  OperatorRegistry ops;
  DagLoader loader{ops};
  std::unique_ptr<Executor> executor;
  std::unique_ptr<Scheduler> scheduler;
  TokenStore tokens;
  MetricsObserver metrics;
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
