// A DAG's notifications (`notify:`): run failures and successes and task
// retries, sent to webhooks (JSON, with a Slack-compatible `text`) or given
// to shell commands (the event in their environment). A RunObserver that
// only queues: a thread of its own delivers, retrying with backoff, so a
// slow or absent receiver never slows a run. Every outcome is logged and
// recorded in the store (GET /api/v1/notifications).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/dag_spec.h"
#include "exec/executor.h"
#include "store/state_store.h"

namespace pipeline::notify {

struct NotifierOptions {
  int attempts = 4;                                   // per target and event
  std::chrono::milliseconds backoff{1000};            // before the 2nd attempt; doubles after
  std::chrono::milliseconds timeout{10000};           // of one webhook call or command
  std::string command_output = "/dev/null";           // commands' stdout and stderr, appended
};

class Notifier final : public RunObserver {
 public:
  // The DAG's notify entries (of the version a run runs) by DAG id; empty: none.
  using NotifyLookup = std::function<std::vector<NotifySpec>(const std::string& dag_id)>;
  // A webhook URL kept in the secrets file (webhook: {secret: NAME}), or nullopt.
  using SecretLookup = std::function<std::optional<std::string>(const std::string& name)>;

  Notifier(StateStore& store, NotifyLookup notify, SecretLookup secrets, NotifierOptions options,
           std::function<void(const std::string&, bool problem)> log);
  // Delivers what is queued (each event's attempts), then stops.
  ~Notifier() override;

  void OnRunState(const RunRecord& run, RunState state) override;
  void OnTaskState(const TaskEvent& event) override;
  // A try's figures: an `alert` in them is a `quality` event.
  void OnTaskMetrics(const std::string& run_id, const std::string& task_id, const std::string& metrics_json) override;
  // An `sla_miss` event.
  void OnSlaMiss(const SlaMissRecord& miss) override;

  // The body a webhook gets for `event` (also PIPE_EVENT_JSON of a command).
  struct Event {
    std::string kind;  // failure, success, retry, ...
    std::string dag_id, run_id, task_id;
    int try_number = 0;
    std::string error;
    TimePoint at;
    std::vector<std::pair<std::string, std::string>> failed_tasks;  // (task, error), failure only
    std::optional<TimePoint> due;  // sla_miss only: when it was due
    std::string state = {};        // sla_miss only: the task's (run's) state then
  };
  static std::string Body(const Event& e);

 private:
  struct Job {
    Event event;
    NotifySpec target;
  };
  void Enqueue(const Event& e);
  void Loop();
  // Every target of one event: each tried once per round, the ones that
  // failed again after the backoff, so that a target that is down delays
  // none of the others.
  void Deliver(const Event& event, const std::vector<NotifySpec>& targets);
  NotificationRecord RecordOf(const Job& job) const;
  void Finish(NotificationRecord& record, const std::string& error);
  std::string TryOnce(const Job& job, const std::string& body);  // "" when delivered

  StateStore& store_;
  NotifyLookup notify_;
  SecretLookup secrets_;
  NotifierOptions options_;
  std::function<void(const std::string&, bool problem)> log_;  // problem: a warning (not delivered, ...)

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> failed_;  // run -> failed tasks
  std::map<std::string, std::string> run_dags_;  // run -> DAG, while the run is running
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pipeline::notify
