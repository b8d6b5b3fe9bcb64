// DagSpec and TaskSpec: a validated DAG file, as the loader (dag/) produces it
// and the store and executor consume it. Plain data, no behaviour beyond lookups.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/doc.h"
#include "core/states.h"
#include "core/time.h"

namespace pipeline {

struct RetryPolicy {
  int retries = 0;                            // extra tries after a failure
  Duration retry_delay = std::chrono::seconds(10);
  RetryBackoff backoff = RetryBackoff::kFixed;
  Duration max_retry_delay = std::chrono::hours(1);

  // The wait before try number `next_try` (2 for the first retry).
  Duration DelayBefore(int next_try) const;
};

// `map_over`: where a mapped task's items come from (dag-reference.md, "Fan-out").
struct MapOver {
  enum class Kind { kList, kParam, kGlob };
  Kind kind = Kind::kList;
  std::vector<std::string> items;  // kList: the literal items, as text
  std::string name;                // kParam: the list parameter; kGlob: the pattern

  bool operator==(const MapOver&) const = default;
};

struct TaskSpec {
  std::string id;
  std::string op;
  std::vector<std::string> depends_on;        // upstream ids, as written (deduplicated)
  DocNode::Ptr with;                          // the `with` map, templates unrendered; never null
  std::string run;                            // shell only
  std::vector<std::pair<std::string, std::string>> env;  // shell only, in file order
  RetryPolicy retry;
  std::optional<Duration> timeout;
  // A scheduled run's task should have succeeded by logical date + sla
  // (a miss is recorded once and notified as `sla_miss`).
  std::optional<Duration> sla;
  TriggerRule trigger_rule = TriggerRule::kAllSuccess;
  bool persist = true;
  std::string queue = "default";              // which workers may run it (piped worker --queues)
  bool allow_pii = false;                     // may receive columns marked pii (export, train, online features)
  bool cache = false;                         // reuse an earlier try's output made from the same inputs
  std::optional<Duration> cache_ttl;          // an older cached output is not reused
  std::optional<std::string> input;           // resolved data input (with.input or the single upstream producer)
  std::vector<std::string> input_pii;         // columns of that input marked personal data (set by the loader)
  std::vector<std::string> output_pii;        // and of its own output table
  std::optional<MapOver> map_over;            // one instance per item, made when the run reaches the task
  int max_map_length = 10000;
  // The task is mapped over the same items as its `input` task: instance i
  // reads that task's instance i (otherwise the concatenation of them all).
  bool map_by_item = false;
  // Set on an instance of a mapped task (MapInstance): its index and item.
  int map_index = -1;
  std::string map_item;
  Mark mark;                                  // where the task's id is in the file

  // Whether `column`, of the tables it reads or of its output, is marked
  // personal data: what the task keeps out of what it shows.
  bool IsPii(std::string_view column) const {
    for (const auto* marked : {&input_pii, &output_pii}) {
      for (const std::string& name : *marked) {
        if (name == column) return true;
      }
    }
    return false;
  }
};

// How a DAG's runs start, for lists: "0 6 * * *", "after etl.load, b.x",
// "0 6 * * * or after etl.load"; nullopt when only triggers start them.
std::optional<std::string> ScheduleText(const std::optional<std::string>& cron, const std::vector<std::string>& after);

// The id of instance `index` of mapped task `task_id`: "TASK[INDEX]".
std::string MapInstanceId(std::string_view task_id, int index);
// The inverse: {TASK, INDEX}, or nullopt when `id` names no instance.
std::optional<std::pair<std::string, int>> ParseMapInstanceId(std::string_view id);
// The spec instance `index` of `mapped` runs with: its id, item and index
// set, no map_over, and its input the matching instance when map_by_item.
TaskSpec MapInstance(const TaskSpec& mapped, int index, std::string item);

// A parameter's default value: a scalar or a list of scalars, as YAML text.
struct ParamSpec {
  std::string name;
  DocNode::Ptr value;
};

// Where a DAG's events go (`notify:`): a webhook URL (or the name of a
// `webhook:NAME:URL` line of the secrets file, for URLs that hold a secret)
// or a shell command, for the events in `on`.
struct NotifySpec {
  std::vector<std::string> on;  // failure, success, retry, sla_miss, quality
  std::string webhook;          // http(s)://...
  std::string webhook_secret;   // NAME: the URL is in the secrets file
  std::string command;          // run with sh -c, the event in its environment

  bool operator==(const NotifySpec&) const = default;
};

inline const std::vector<std::string> kNotifyEvents = {"failure", "success", "retry", "sla_miss", "quality"};

struct DagSpec {
  std::string id;
  std::string description;
  std::optional<std::string> schedule;        // cron expression or macro, validated
  // schedule.after: "DAG.TASK" of other DAGs; a run starts once each has
  // succeeded again since the last such run (data-aware scheduling).
  std::vector<std::string> after;
  std::string timezone = "UTC";
  std::optional<TimePoint> start_date;
  std::optional<TimePoint> end_date;
  bool catchup = false;
  int max_active_runs = 1;
  std::optional<int> max_active_tasks;        // unset: the executor's size
  std::vector<ParamSpec> params;              // file order
  std::vector<NotifySpec> notify;             // file order
  // A scheduled run should have ended by logical date + deadline.
  std::optional<Duration> deadline;
  std::vector<TaskSpec> tasks;                // topological order (upstream first)

  std::string file;                           // absolute path of the source file
  std::string source;                         // the file's text, stored with each version
  std::string content_hash;                   // hex xxh64 of source

  const TaskSpec* FindTask(std::string_view id) const;
  // How the DAG's runs start, for lists (::ScheduleText of its schedule and after).
  std::optional<std::string> ScheduleText() const;
  const ParamSpec* FindParam(std::string_view name) const;
};

}  // namespace pipeline
