// OpenLineage run events (https://openlineage.io, spec 2-0-2) for Marquez,
// DataHub and the like: START when a task's try starts, COMPLETE, FAIL or
// ABORT when it ends, and the same for each DAG run, with the task's input
// and output datasets (files and artifacts by path, queries by source) and
// the outputs' schemas. A RunObserver: the executor calls it in order and
// it only queues; a thread of its own reads the artifacts from the store and
// delivers, so a slow or absent receiver never slows a run.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "exec/executor.h"
#include "net/http_post.h"
#include "store/state_store.h"

namespace pipeline::openlineage {

struct EmitterOptions {
  // "http(s)://HOST[:PORT]/PATH" (each event POSTed as JSON, e.g. Marquez's
  // http://marquez:5000/api/v1/lineage) or "file:PATH" (one event per line,
  // appended).
  std::string target;
  std::string job_namespace = "pipe";  // OpenLineage job namespace
  size_t max_queued = 10000;           // events beyond it are dropped (and counted)
  int attempts = 3;                    // per HTTP event, with backoff 0.5 s, 1 s, ... (not after a 4xx)
  // At the stop, what is still queued is delivered for at most this long,
  // then dropped (counted and logged): a slow receiver must not hold a
  // process's exit for minutes.
  std::chrono::milliseconds drain_limit{10'000};
  // Sent as "Authorization: Bearer KEY" (DataHub, a proxy in front of
  // Marquez); empty: $OPENLINEAGE_API_KEY, the OpenLineage clients' variable.
  std::string api_key = {};
};

class Emitter final : public RunObserver {
 public:
  // Throws Error(kInvalidArgument) for a target that is neither form.
  Emitter(StateStore& store, EmitterOptions options, std::function<void(const std::string&)> log);
  // Delivers what is queued (for at most options.drain_limit), then stops.
  ~Emitter() override;

  void OnRunState(const RunRecord& run, RunState state) override;
  void OnTaskState(const TaskEvent& event) override;

  // Events delivered and given up on (after every attempt, or dropped).
  uint64_t delivered() const;
  uint64_t failed() const;

  // A deterministic UUID (version 5 form) for `name`: a try's events share it.
  static std::string RunUuid(const std::string& name);

 private:
  struct Pending {
    std::string event_type;  // START, COMPLETE, FAIL, ABORT
    std::string run_id, dag_id, task_id;  // task_id empty: the DAG run
    int try_number = 0;
    TimePoint at;
    std::string reason;
    // An end event's try start: its datasets are the artifacts recorded
    // within [started, at] (a later try may have written others meanwhile).
    std::optional<TimePoint> started;
    // A DAG run's data interval (the nominalTime facet, as Airflow sends).
    std::optional<TimePoint> interval_start, interval_end;
    // An end event's try: what it read (TaskEvent::inputs_json).
    std::string inputs_json = {};
  };
  void Enqueue(Pending p);
  void Loop();
  std::string Build(const Pending& p);
  bool Deliver(const std::string& event);

  StateStore& store_;
  EmitterOptions options_;
  std::function<void(const std::string&)> log_;
  net::Url url_;       // the HTTP(S) target, unless file_
  std::string file_;  // the file target

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::map<std::string, TimePoint> started_;  // "run/task/try" whose START was queued, and when
  bool stop_ = false;
  bool receiver_down_ = false;  // the last HTTP delivery failed
  uint64_t lost_while_down_ = 0;  // events given up on since then (said when one goes through)
  uint64_t delivered_ = 0, failed_ = 0;
  std::string authorization_;  // "Bearer KEY", or empty
  std::thread thread_;
};

}  // namespace pipeline::openlineage
