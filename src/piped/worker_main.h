// `piped worker`: runs tries claimed from the shared PostgreSQL database
// (exec/worker.h) until SIGTERM or SIGINT, then hands back what still runs
// after the grace period.
#pragma once

#include <string>
#include <vector>

namespace pipeline {

struct WorkerConfig {
  std::string db;               // postgresql://...
  std::string queues = "default";  // comma-separated
  int slots = 0;                // 0: the core count
  std::string name;             // default host:pid
  std::string lease = "30s";
  std::string heartbeat = "5s";
  std::string grace = "30s";
  std::string db_wait = "60s";  // how long the start waits for an unreachable database
  int64_t keep_outputs_mb = 1024;  // output tables kept in memory for the tries that read them next
};

// A comma-separated list of queue names given to `flag` (--queues,
// --local-queues). Throws Error(kInvalidArgument) naming a bad one.
std::vector<std::string> ParseQueueList(const std::string& flag, const std::string& list);

// Returns the exit code. Throws pipeline::Error for bad settings or a
// database still unreachable after config.db_wait.
int RunWorker(const WorkerConfig& config);

}  // namespace pipeline
