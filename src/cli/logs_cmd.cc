#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "views/run_view.h"

namespace pipeline::cli {

namespace {

// Copies what `in` has beyond its current position to stdout.
void Drain(std::ifstream& in) {
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) std::cout.write(buf, in.gcount());
  in.clear();
  std::cout.flush();
}

}  // namespace

std::string LogJson(const std::string& run_id, const std::string& task_id, int try_number, const std::string& log) {
  return nlohmann::json{{"run_id", run_id}, {"task_id", task_id}, {"try", try_number}, {"log", log}}.dump(
      2, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Logs(const GlobalOptions& g, const LogsOptions& options) {
  if (g.json && options.follow) {
    std::cerr << "pipectl: logs --follow streams the log as it grows: --json does not apply\n";
    return kExitUsage;
  }
  if (UseServer(g)) return LogsRemote(g, options);
  auto store = OpenStore(g);
  if (!store->GetRun(options.run_id)) {
    std::cerr << "pipectl: no run '" << options.run_id << "'\n";
    return kExitFailed;
  }
  std::vector<TaskTryRecord> tries = store->GetTries(options.run_id, options.task_id);
  auto instance = store->GetTaskInstance(options.run_id, options.task_id);
  if (!instance) {
    std::cerr << "pipectl: run '" << options.run_id << "' has no task '" << options.task_id << "'\n";
    return kExitFailed;
  }
  // --follow waits for a task that has not started (as `kubectl logs -f`
  // waits for a pending container); one that ended without a try never will.
  while (tries.empty()) {
    if (!options.follow || IsTerminal(instance->state)) {
      std::cerr << "pipectl: " << views::NoTryMessage(options.task_id, instance->state) << "\n";
      return kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    tries = store->GetTries(options.run_id, options.task_id);
    instance = store->GetTaskInstance(options.run_id, options.task_id);
  }
  const TaskTryRecord* chosen = &tries.back();
  if (options.try_number > 0) {
    chosen = nullptr;
    for (const TaskTryRecord& t : tries) {
      if (t.try_number == options.try_number) chosen = &t;
    }
    if (!chosen) {
      std::cerr << "pipectl: task '" << options.task_id << "' has no try " << options.try_number
                << " (tries: 1-" << tries.back().try_number << ")\n";
      return kExitFailed;
    }
  }
  // A try that printed nothing has no log file.
  std::ifstream in(chosen->log_path, std::ios::binary);
  if (g.json) {
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cout << LogJson(options.run_id, options.task_id, chosen->try_number, log) << "\n";
    return kExitOk;
  }
  if (in) Drain(in);
  if (!options.follow) return kExitOk;
  // Follow until the try has ended, then print what came last.
  int try_number = chosen->try_number;
  std::string path = chosen->log_path;
  for (;;) {
    auto current = store->GetTries(options.run_id, options.task_id);
    bool ended = current.size() >= size_t(try_number) && current[try_number - 1].ended_at;
    if (!in.is_open()) in.open(path, std::ios::binary);
    if (in.is_open()) Drain(in);
    if (ended) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace pipeline::cli
