#include "dag/loader.h"

#include <date/tz.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/names.h"
#include "core/operator.h"
#include "dag/cron.h"
#include "dag/suggest.h"
#include "dag/template.h"
#include "dag/yaml_reader.h"

namespace pipeline {

namespace {

namespace fs = std::filesystem;

// Whether `text` is written as a duration (numbers, each with a unit),
// whatever its size: ParseDuration refuses such text only when too long.
// (Short text only: std::regex recurses per character.)
bool IsDurationSyntax(std::string_view text) {
  static const std::regex kDuration("^([0-9]+(ms|s|m|h|d))+$");
  return text.size() < 256 && std::regex_match(text.begin(), text.end(), kDuration);
}

const std::vector<std::string> kTopLevelKeys = {
    "dag",     "description",     "schedule",         "timezone", "start_date", "end_date",
    "catchup", "max_active_runs", "max_active_tasks", "params",   "defaults",   "tasks", "notify",
    "deadline"};
const std::vector<std::string> kTaskKeys = {
    "op",      "depends_on",  "with",        "run",          "env",     "retries", "retry_delay",
    "retry_backoff", "max_retry_delay", "timeout", "trigger_rule", "persist", "queue",
    "map_over", "max_map_length", "allow_pii", "cache", "cache_ttl", "sla"};
const std::vector<std::string> kDefaultsKeys = {"retries", "retry_delay", "retry_backoff",
                                                "max_retry_delay", "timeout", "trigger_rule", "sla"};
const std::vector<std::string> kTriggerRuleNames = {"all_success", "all_done",  "all_failed",
                                                    "one_success", "one_failed", "none_failed"};

bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsParamName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string HashHex(std::string_view text) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(XXH64(text.data(), text.size(), 0)));
  return buf;
}

const std::vector<std::string>& ZoneNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const auto& db = date::get_tzdb();
    for (const auto& zone : db.zones) out.push_back(zone.name());
    return out;
  }();
  return names;
}

// Task-level keys that `defaults` may also set; both go through ApplyTaskKey.
struct TaskDefaults {
  RetryPolicy retry;
  std::optional<Duration> timeout;
  std::optional<Duration> sla;
  TriggerRule trigger_rule = TriggerRule::kAllSuccess;
};

// Where a task's values are in the file, for messages that come after reading.
struct TaskMarks {
  std::vector<Mark> depends_on;  // one per TaskSpec::depends_on entry
  std::vector<Mark> env;         // one per TaskSpec::env entry
  Mark run;
  Mark map_over;
};

// Validates one parsed document into a DagSpec, collecting diagnostics.
class Validator {
 public:
  Validator(const OperatorRegistry& ops, Diagnostics& diags) : ops_(ops), diags_(diags) {}

  void Run(const DocNode::Ptr& root_ptr, DagSpec& dag) {
    root_ = root_ptr;
    const DocNode& root = *root_;
    if (!root.is_map()) {
      diags_.Add(root.mark(), "a DAG file must be a map with keys such as 'dag' and 'tasks', not " +
                                  root.TypeName());
      return;
    }
    CheckDuplicateKeys(root);
    CheckKnownKeys(root, kTopLevelKeys, "");
    ReadHeader(root, dag);
    ReadParams(root.Find("params"), dag);
    if (const DocNode* node = root.Find("notify")) ReadNotify(*node, dag);
    TaskDefaults defaults;
    if (const DocNode* node = root.Find("defaults")) ReadDefaults(*node, defaults);
    const DocNode* tasks = root.Find("tasks");
    if (!tasks) {
      diags_.Add(root.mark(), "missing required key 'tasks'");
      return;
    }
    if (!tasks->is_map() || tasks->entries().empty()) {
      diags_.Add(tasks->mark(), "tasks must be a non-empty map of task id -> task");
      return;
    }
    ReadTasks(*tasks, defaults, dag);
    for (size_t t = 0; t < dag.tasks.size(); ++t) CheckMapParam(dag.tasks[t], marks_[t], dag);
    // Template and argument checks do not need a sound graph: report them too.
    const bool graph_sound = CheckGraph(dag);
    if (graph_sound) {
      ResolveInputs(dag);
      CheckTaskReferences(dag);
      for (TaskSpec& task : dag.tasks) {
        const TaskSpec* source = task.input ? Task(dag, *task.input) : nullptr;
        task.map_by_item = task.map_over && source && source->map_over == task.map_over;
      }
    }
    for (size_t t = 0; t < dag.tasks.size(); ++t) {
      CheckTemplates(dag.tasks[t], marks_[t], dag);
      if (const Operator* op = ops_.Find(dag.tasks[t].op)) {
        const size_t before = diags_.size();
        op->CheckArgs(dag.tasks[t], diags_);
        if (diags_.size() != before) unsound_[t] = true;
      }
    }
    // The checks across tasks and of columns need an acyclic graph, and take
    // only the tasks whose keys and arguments are right (they parse the
    // arguments again, and would repeat those errors): every error at once.
    if (!graph_sound) return;
    std::vector<std::pair<const Operator*, std::vector<const TaskSpec*>>> by_op;  // in the file's order
    for (size_t t = 0; t < dag.tasks.size(); ++t) {
      const Operator* op = ops_.Find(dag.tasks[t].op);
      if (!op || unsound_[t]) continue;
      auto it = std::find_if(by_op.begin(), by_op.end(), [&](const auto& entry) { return entry.first == op; });
      if (it == by_op.end()) it = by_op.insert(by_op.end(), {op, {}});
      it->second.push_back(&dag.tasks[t]);
    }
    for (const auto& [op, of_op] : by_op) op->CheckTasks(dag, of_op, diags_);
    CheckColumns(dag);
  }

 private:
  // --- generic checks -----------------------------------------------------

  void CheckDuplicateKeys(const DocNode& node) {
    if (node.is_sequence()) {
      for (const auto& item : node.items()) CheckDuplicateKeys(*item);
      return;
    }
    if (!node.is_map()) return;
    const auto& entries = node.entries();
    // Most maps (a task's keys) are small: comparing with the keys before is
    // cheaper than a hash map per map.
    constexpr size_t kScanLimit = 16;
    std::unordered_map<std::string_view, Mark> seen;  // keys live in the document
    if (entries.size() > kScanLimit) seen.reserve(entries.size());
    for (size_t idx = 0; idx < entries.size(); ++idx) {
      const DocNode& key = *entries[idx].first;
      if (!key.is_scalar()) {
        diags_.Add(key.mark(), "map keys must be plain strings, not " + key.TypeName());
      } else if (std::optional<Mark> first = FirstKey(entries, idx, kScanLimit, seen)) {
        diags_.Add(key.mark(), "duplicate key " + Quote(key.text()) + " (first at line " +
                                   std::to_string(first->line) + ")");
      }
      CheckDuplicateKeys(*entries[idx].second);
    }
  }

  // Where the key of entries[idx] came first, if it did before idx.
  static std::optional<Mark> FirstKey(const std::vector<DocNode::Entry>& entries, size_t idx, size_t scan_limit,
                                      std::unordered_map<std::string_view, Mark>& seen) {
    const DocNode& key = *entries[idx].first;
    if (entries.size() > scan_limit) {
      auto [it, inserted] = seen.emplace(key.text(), key.mark());
      return inserted ? std::nullopt : std::optional<Mark>(it->second);
    }
    for (size_t before = 0; before < idx; ++before) {
      const DocNode& other = *entries[before].first;
      if (other.is_scalar() && other.text() == key.text()) return other.mark();
    }
    return std::nullopt;
  }

  // `where` and `task_id` name the map in messages: " in task 'a'".
  void CheckKnownKeys(const DocNode& map, const std::vector<std::string>& known, std::string_view where,
                      std::string_view task_id = {}) {
    for (const auto& [key, value] : map.entries()) {
      if (!key->is_scalar()) continue;
      if (std::find(known.begin(), known.end(), key->text()) == known.end()) {
        std::string in = std::string(where) + (task_id.empty() ? "" : Quote(task_id));
        diags_.Add(key->mark(), "unknown key " + Quote(key->text()) + in + DidYouMean(key->text(), known));
      }
    }
  }

  std::optional<std::string> String(const DocNode* node, std::string_view key) {
    if (!node) return std::nullopt;
    if (!node->is_scalar()) {
      diags_.Add(node->mark(), std::string(key) + " must be a string, not " + node->TypeName());
      return std::nullopt;
    }
    return node->text();
  }

  std::optional<int64_t> Int(const DocNode* node, std::string_view key, int64_t min) {
    if (!node) return std::nullopt;
    constexpr int64_t kMax = 1'000'000'000;
    auto value = node->AsInt();
    if (!value) {
      // Digits beyond int64 are an integer still: too large, not "a number".
      const std::string& text = node->is_scalar() && !node->quoted() ? node->text() : std::string();
      const size_t digits = text.find_first_not_of("+-") == std::string::npos ? 0 : text.find_first_not_of("+-");
      if (!text.empty() && digits < text.size() && text.find_first_not_of("0123456789", digits) == std::string::npos) {
        diags_.Add(node->mark(), std::string(key) + " must be " +
                                     (text[0] == '-' ? ">= " + std::to_string(min) : "at most " + std::to_string(kMax)) +
                                     ", got " + text);
      } else {
        diags_.Add(node->mark(), std::string(key) + " must be an integer, not " + node->TypeName());
      }
      return std::nullopt;
    }
    if (*value < min || *value > kMax) {
      diags_.Add(node->mark(), std::string(key) + " must be " +
                                   (*value < min ? ">= " + std::to_string(min) : "at most " + std::to_string(kMax)) +
                                   ", got " + std::to_string(*value));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> Bool(const DocNode* node, std::string_view key) {
    if (!node) return std::nullopt;
    auto value = node->AsBool();
    if (!value) {
      diags_.Add(node->mark(), std::string(key) + " must be true or false, not " +
                                   (node->is_scalar() ? Quote(node->text()) : node->TypeName()));
    }
    return value;
  }

  std::optional<Duration> DurationValue(const DocNode* node, std::string_view key) {
    auto text = String(node, key);
    if (!text) return std::nullopt;
    auto value = ParseDuration(*text);
    if (!value) {
      diags_.Add(node->mark(), std::string(key) + ": invalid duration " + Quote(*text) +
                                   (IsDurationSyntax(*text) ? " (longer than 100 years)" : " (use e.g. 500ms, 30s, 1h30m, 2d)"));
    }
    return value;
  }

  // A duration that must be greater than 0.
  std::optional<Duration> PositiveDuration(const DocNode* node, std::string_view key) {
    auto value = DurationValue(node, key);
    if (value && value->count() <= 0) {
      diags_.Add(node->mark(), std::string(key) + " must be greater than 0");
      return std::nullopt;
    }
    return value;
  }

  // `sla` (of a task or defaults) and `deadline` count from a scheduled run's
  // logical date: without a schedule they could never apply.
  std::optional<Duration> SlaValue(const DocNode* node, std::string_view key) {
    if (!node) return std::nullopt;
    auto value = PositiveDuration(node, key);
    if (value && !scheduled_) {
      diags_.Add(node->mark(), std::string(key) + " counts from a scheduled run's logical date; the DAG has no "
                               "schedule");
      return std::nullopt;
    }
    return value;
  }

  // --- top level ------------------------------------------------------------

  void ReadHeader(const DocNode& root, DagSpec& dag) {
    if (const DocNode* node = root.Find("dag")) {
      if (auto id = String(node, "dag")) {
        if (IsId(*id)) {
          dag.id = *id;
        } else {
          diags_.Add(node->mark(), "dag id " + Quote(*id) + " must match ^[a-z][a-z0-9_]{0,63}$");
        }
      }
    } else {
      diags_.Add(root.mark(), "missing required key 'dag'");
    }
    if (auto text = String(root.Find("description"), "description")) dag.description = *text;

    const date::time_zone* zone = ReadTimezone(root.Find("timezone"), dag);
    const DocNode* schedule = root.Find("schedule");
    scheduled_ = schedule && !schedule->is_null();
    // A cron expression, or {cron: EXPR, after: [DAG.TASK, ...]} (either key or both).
    const DocNode* cron = scheduled_ ? schedule : nullptr;
    if (scheduled_ && schedule->is_map()) {
      CheckKnownKeys(*schedule, {"cron", "after"}, " in schedule");
      cron = schedule->Find("cron");
      if (const DocNode* after = schedule->Find("after")) ReadAfter(*after, dag);
      if (!cron && !schedule->Find("after")) {
        diags_.Add(schedule->mark(), "schedule as a map needs 'cron' (an expression), 'after' (upstream tasks) or both");
      }
    }
    if (cron) {
      if (auto text = String(cron, "schedule")) {
        std::string error;
        if (ParseCron(*text, &error)) {
          dag.schedule = *text;
        } else {
          diags_.Add(cron->mark(), "schedule: " + Quote(*text) + ": " + error);
        }
      }
    }
    dag.start_date = ReadDate(root.Find("start_date"), "start_date", zone);
    dag.end_date = ReadDate(root.Find("end_date"), "end_date", zone);
    if (cron && !root.Find("start_date")) {
      diags_.Add(cron->mark(), "start_date is required when schedule is set");
    }
    if (dag.start_date && dag.end_date && *dag.end_date < *dag.start_date) {
      diags_.Add(root.Find("end_date")->mark(), "end_date is before start_date");
    }
    if (auto v = Bool(root.Find("catchup"), "catchup")) dag.catchup = *v;
    if (auto v = Int(root.Find("max_active_runs"), "max_active_runs", 1)) dag.max_active_runs = int(*v);
    if (auto v = Int(root.Find("max_active_tasks"), "max_active_tasks", 1)) dag.max_active_tasks = int(*v);
    dag.deadline = SlaValue(root.Find("deadline"), "deadline");
  }

  // `after`: DAG.TASK or a list of them, tasks of other DAGs whose successes
  // start runs of this one.
  void ReadAfter(const DocNode& node, DagSpec& dag) {
    std::vector<const DocNode*> items;
    if (node.is_sequence()) {
      for (const auto& item : node.items()) items.push_back(item.get());
    } else {
      items.push_back(&node);
    }
    if (items.empty()) diags_.Add(node.mark(), "after must name at least one upstream task (DAG.TASK)");
    for (const DocNode* item : items) {
      auto text = String(item, "after");
      if (!text) continue;
      const size_t dot = text->find('.');
      if (dot == std::string::npos || !IsId(text->substr(0, dot)) || !IsId(text->substr(dot + 1))) {
        diags_.Add(item->mark(), "after: " + Quote(*text) + " is not DAG.TASK (two ids joined by a dot)");
      } else if (text->substr(0, dot) == dag.id) {
        diags_.Add(item->mark(), "after: " + Quote(*text) + " is a task of this DAG (use depends_on)");
      } else if (std::find(dag.after.begin(), dag.after.end(), *text) != dag.after.end()) {
        diags_.Add(item->mark(), "after: " + Quote(*text) + " is listed twice");
      } else {
        dag.after.push_back(*text);
      }
    }
  }

  // The DAG's zone; nullptr for UTC, so that a DAG without `timezone` never
  // loads the zone database (a few milliseconds of every `pipectl` call).
  const date::time_zone* ReadTimezone(const DocNode* node, DagSpec& dag) {
    auto name = String(node, "timezone");
    if (!name) return nullptr;
    try {
      const date::time_zone* zone = date::locate_zone(*name);
      dag.timezone = *name;
      return zone;
    } catch (const std::exception&) {
      diags_.Add(node->mark(), "unknown time zone " + Quote(*name) + DidYouMean(*name, ZoneNames()));
      return nullptr;
    }
  }

  std::optional<TimePoint> ReadDate(const DocNode* node, std::string_view key,
                                    const date::time_zone* zone) {
    auto text = String(node, key);
    if (!text) return std::nullopt;
    auto parsed = ParseIso8601(*text);
    if (!parsed) {
      diags_.Add(node->mark(), std::string(key) + ": invalid date " + Quote(*text) +
                                   " (use ISO-8601, e.g. 2026-01-01 or 2026-01-01T00:00:00Z)");
      return std::nullopt;
    }
    if (parsed->has_zone || !zone) return parsed->utc;
    // A date-time without an offset is wall-clock time in the DAG's zone.
    auto local = date::local_time<std::chrono::microseconds>(parsed->utc.time_since_epoch());
    auto info = zone->get_info(local);
    if (info.result == date::local_info::nonexistent && parsed->date_only) {
      // A day whose midnight a DST change skips (America/Santiago) starts
      // when the clocks jump.
      return std::chrono::time_point_cast<std::chrono::microseconds>(info.second.begin);
    }
    if (info.result == date::local_info::nonexistent) {
      diags_.Add(node->mark(), std::string(key) + ": " + Quote(*text) +
                                   " does not exist in time zone " + zone->name() +
                                   " (skipped by a DST change)");
      return std::nullopt;
    }
    return TimePoint(parsed->utc.time_since_epoch() -
                     std::chrono::duration_cast<std::chrono::microseconds>(info.first.offset));
  }

  // notify: [{on: [EVENT, ...], webhook: URL | {secret: NAME} | command: CMD}, ...]
  void ReadNotify(const DocNode& node, DagSpec& dag) {
    if (!node.is_sequence()) {
      diags_.Add(node.mark(), "notify must be a list of {on: [events], webhook: URL} or {on: [events], command: CMD}");
      return;
    }
    for (const auto& item : node.items()) {
      if (!item->is_map()) {
        diags_.Add(item->mark(), "a notify entry must be a map {on: [events], webhook: URL | command: CMD}");
        continue;
      }
      CheckKnownKeys(*item, {"on", "webhook", "command"}, " in a notify entry");
      NotifySpec spec;
      const DocNode* on = item->Find("on");
      if (!on) {
        diags_.Add(item->mark(), "a notify entry needs 'on' (events: failure, success, retry, sla_miss, quality)");
      } else {
        std::vector<const DocNode*> events;
        if (on->is_sequence()) {
          for (const auto& e : on->items()) events.push_back(e.get());
        } else {
          events.push_back(on);
        }
        if (events.empty()) diags_.Add(on->mark(), "notify 'on' must name at least one event");
        for (const DocNode* e : events) {
          auto name = String(e, "a notify event");
          if (!name) continue;
          if (std::find(kNotifyEvents.begin(), kNotifyEvents.end(), *name) == kNotifyEvents.end()) {
            diags_.Add(e->mark(), "unknown notify event " + Quote(*name) +
                                      " (events: failure, success, retry, sla_miss, quality)" + DidYouMean(*name, kNotifyEvents));
          } else if (std::find(spec.on.begin(), spec.on.end(), *name) == spec.on.end()) {
            spec.on.push_back(*name);
          }
        }
      }
      const DocNode* webhook = item->Find("webhook");
      const DocNode* command = item->Find("command");
      if (!webhook && !command) {
        diags_.Add(item->mark(), "a notify entry needs one of 'webhook' (a URL) or 'command' (a shell command)");
      } else if (webhook && command) {
        diags_.Add(item->mark(), "a notify entry has either 'webhook' or 'command', not both (write two entries)");
      }
      if (webhook && webhook->is_map()) {
        CheckKnownKeys(*webhook, {"secret"}, " in a notify webhook");
        if (auto name = String(webhook->Find("secret"), "notify webhook secret")) {
          if (IsParamName(*name)) {
            spec.webhook_secret = *name;
          } else {
            diags_.Add(webhook->mark(), "notify webhook secret must be a name (letters, digits, '_'), not " + Quote(*name));
          }
        } else if (!webhook->Find("secret")) {
          diags_.Add(webhook->mark(), "notify webhook must be a URL or {secret: NAME} (a webhook:NAME:URL line of the "
                                      "secrets file)");
        }
      } else if (auto url = String(webhook, "notify webhook")) {
        const bool http = url->rfind("http://", 0) == 0 || url->rfind("https://", 0) == 0;
        const std::string authority = http ? url->substr(url->find("//") + 2, url->find_first_of("/?", url->find("//") + 2) -
                                                                                 url->find("//") - 2)
                                           : "";
        if (!http || authority.empty()) {
          diags_.Add(webhook->mark(), "notify webhook must be an http:// or https:// URL, not " + Quote(*url));
        } else if (authority.find('@') != std::string::npos) {
          diags_.Add(webhook->mark(), "notify webhook holds user:password@: a DAG file must not; give the URL in the "
                                      "secrets file (webhook: {secret: NAME}, a line webhook:NAME:URL)");
        } else {
          spec.webhook = *url;
        }
      }
      if (auto cmd = String(command, "notify command")) {
        if (cmd->empty()) {
          diags_.Add(command->mark(), "notify command must not be empty");
        } else {
          spec.command = *cmd;
        }
      }
      dag.notify.push_back(std::move(spec));
    }
  }

  void ReadParams(const DocNode* node, DagSpec& dag) {
    if (!node || node->is_null()) return;
    if (!node->is_map()) {
      diags_.Add(node->mark(), "params must be a map of name -> default value");
      return;
    }
    for (const auto& [key, value] : node->entries()) {
      if (!key->is_scalar()) continue;
      if (!IsParamName(key->text())) {
        diags_.Add(key->mark(), "parameter name " + Quote(key->text()) +
                                    " must be letters, digits and '_', not starting with a digit");
        continue;
      }
      bool ok = !value->is_map();
      if (value->is_sequence()) {
        for (const auto& item : value->items()) ok = ok && !item->is_map() && !item->is_sequence();
      }
      if (!ok) {
        diags_.Add(value->mark(), "parameter " + Quote(key->text()) +
                                      ": a default must be a scalar or a list of scalars");
        continue;
      }
      if (!dag.FindParam(key->text())) dag.params.push_back({key->text(), value});
    }
  }

  void ReadDefaults(const DocNode& node, TaskDefaults& defaults) {
    if (node.is_null()) return;
    if (!node.is_map()) {
      diags_.Add(node.mark(), "defaults must be a map of task keys");
      return;
    }
    CheckKnownKeys(node, kDefaultsKeys, " in defaults");
    ReadRetryKeys(node, defaults.retry, defaults.timeout, defaults.trigger_rule);
    defaults.sla = SlaValue(node.Find("sla"), "sla");
  }

  // The keys tasks and defaults share.
  void ReadRetryKeys(const DocNode& node, RetryPolicy& retry, std::optional<Duration>& timeout,
                     TriggerRule& rule) {
    if (auto v = Int(node.Find("retries"), "retries", 0)) retry.retries = int(*v);
    if (auto v = DurationValue(node.Find("retry_delay"), "retry_delay")) retry.retry_delay = *v;
    if (auto v = DurationValue(node.Find("max_retry_delay"), "max_retry_delay")) retry.max_retry_delay = *v;
    if (const DocNode* b = node.Find("retry_backoff")) {
      if (auto text = String(b, "retry_backoff")) {
        if (auto backoff = ParseRetryBackoff(*text)) {
          retry.backoff = *backoff;
        } else {
          diags_.Add(b->mark(), "retry_backoff must be 'fixed' or 'exponential', not " + Quote(*text));
        }
      }
    }
    if (const DocNode* t = node.Find("timeout")) {
      if (auto v = PositiveDuration(t, "timeout")) timeout = *v;
    }
    if (const DocNode* r = node.Find("trigger_rule")) {
      if (auto text = String(r, "trigger_rule")) {
        if (auto parsed = ParseTriggerRule(*text)) {
          rule = *parsed;
        } else {
          diags_.Add(r->mark(), "unknown trigger_rule " + Quote(*text) +
                                    DidYouMean(*text, kTriggerRuleNames) +
                                    "; one of all_success, all_done, all_failed, one_success, "
                                    "one_failed, none_failed");
        }
      }
    }
  }

  // --- tasks ------------------------------------------------------------------

  void ReadTasks(const DocNode& tasks, const TaskDefaults& defaults, DagSpec& dag) {
    dag.tasks.reserve(tasks.entries().size());
    marks_.reserve(tasks.entries().size());
    task_index_.reserve(tasks.entries().size());
    for (const auto& [key, value] : tasks.entries()) {
      if (!key->is_scalar()) continue;
      if (!IsId(key->text())) {
        diags_.Add(key->mark(), "task id " + Quote(key->text()) + " must match ^[a-z][a-z0-9_]{0,63}$");
        continue;
      }
      if (!task_index_.emplace(key->text(), dag.tasks.size()).second) continue;  // a duplicate key
      TaskSpec task;
      TaskMarks& marks = marks_.emplace_back();
      task.id = key->text();
      task.mark = key->mark();
      task.retry = defaults.retry;
      task.timeout = defaults.timeout;
      task.sla = defaults.sla;
      task.trigger_rule = defaults.trigger_rule;
      task.with = std::make_shared<DocNode>(DocNode::Kind::kMap, value->mark());
      const size_t before = diags_.size();
      if (!value->is_map()) {
        diags_.Add(value->mark(), "task " + Quote(task.id) + " must be a map with at least 'op'");
      } else {
        ReadTask(*value, task, marks);
      }
      unsound_.push_back(diags_.size() != before);
      dag.tasks.push_back(std::move(task));
    }
  }

  void ReadTask(const DocNode& node, TaskSpec& task, TaskMarks& marks) {
    CheckKnownKeys(node, kTaskKeys, " in task ", task.id);
    const DocNode* op_node = node.Find("op");
    if (!op_node) {
      diags_.Add(node.mark(), "task " + Quote(task.id) + " has no 'op'");
    } else if (auto op = String(op_node, "op")) {
      task.op = *op;
      if (!ops_.Find(*op)) {
        diags_.Add(op_node->mark(), "task " + Quote(task.id) + ": unknown operator " + Quote(*op) +
                                        DidYouMean(*op, ops_.names()));
      }
    }
    if (const DocNode* deps = node.Find("depends_on")) ReadDependsOn(*deps, task, marks);
    if (const DocNode* with = node.Find("with"); with && !with->is_null()) {
      if (with->is_map()) {
        task.with = DocNode::Ptr(root_, with);  // shares ownership of the whole tree
      } else {
        diags_.Add(with->mark(), "with must be a map of operator arguments, not " + with->TypeName());
      }
    }
    bool is_shell = task.op == "shell";
    if (const DocNode* run = node.Find("run")) {
      if (!is_shell && ops_.Find(task.op)) {
        diags_.Add(run->mark(), "'run' is only for shell tasks (task " + Quote(task.id) +
                                    " has op " + Quote(task.op) + ")");
      } else if (!is_shell) {
        // The operator is unknown or missing, reported already.
      } else if (auto text = String(run, "run")) {
        task.run = *text;
        marks.run = run->mark();
      }
    } else if (is_shell) {
      diags_.Add(node.mark(), "shell task " + Quote(task.id) + " needs 'run' (the command)");
    }
    if (const DocNode* env = node.Find("env"); env && !env->is_null()) ReadEnv(*env, is_shell, task, marks);
    ReadRetryKeys(node, task.retry, task.timeout, task.trigger_rule);
    if (const DocNode* sla = node.Find("sla")) task.sla = SlaValue(sla, "sla");
    if (auto v = Bool(node.Find("persist"), "persist")) task.persist = *v;
    if (auto v = Bool(node.Find("allow_pii"), "allow_pii")) task.allow_pii = *v;
    ReadCacheKeys(node, task);
    if (const DocNode* q = node.Find("queue")) {
      if (auto name = String(q, "queue")) {
        if (IsQueueName(*name)) {
          task.queue = *name;
        } else {
          diags_.Add(q->mark(), "queue must be a name of letters, digits, '_', '.' and '-' (at most 64), not " +
                                    Quote(*name));
        }
      }
    }
    if (const DocNode* m = node.Find("map_over")) ReadMapOver(*m, task, marks);
    if (auto n = Int(node.Find("max_map_length"), "max_map_length", 1)) task.max_map_length = int(*n);
  }

  // `cache: true` (operators that produce a table) and `cache_ttl`.
  void ReadCacheKeys(const DocNode& node, TaskSpec& task) {
    const DocNode* cache = node.Find("cache");
    if (auto v = Bool(cache, "cache")) task.cache = *v;
    const Operator* op = ops_.Find(task.op);
    if (task.cache && op && !op->produces_table()) {
      diags_.Add(cache->mark(), "cache is for operators that produce a table (ingest, validate, clean, transform, "
                                "features, predict), not " + Quote(task.op));
    }
    if (const DocNode* t = node.Find("cache_ttl")) {
      if (auto v = PositiveDuration(t, "cache_ttl")) {
        if (!task.cache) {
          diags_.Add(t->mark(), "cache_ttl needs cache: true");
        } else {
          task.cache_ttl = *v;
        }
      }
    }
  }

  // `map_over`: a list of scalars, "{{ params.NAME }}" naming a list
  // parameter (checked by CheckMapParam once the params are known), or
  // {glob: PATTERN}.
  void ReadMapOver(const DocNode& node, TaskSpec& task, TaskMarks& marks) {
    marks.map_over = node.mark();
    MapOver m;
    if (node.is_sequence()) {
      for (const auto& item : node.items()) {
        if (!item->is_scalar()) {
          diags_.Add(item->mark(), "map_over items must be scalars (text or numbers), not " + item->TypeName());
          return;
        }
        m.items.push_back(item->text());
      }
      m.kind = MapOver::Kind::kList;
    } else if (node.is_map()) {
      CheckKnownKeys(node, {"glob"}, " in map_over of task ", task.id);
      const DocNode* glob = node.Find("glob");
      auto pattern = glob ? String(glob, "glob") : std::nullopt;
      if (!glob) diags_.Add(node.mark(), "map_over as a map needs 'glob: PATTERN'");
      if (!pattern) return;
      if (pattern->empty() || pattern->find("{{") != std::string::npos) {
        diags_.Add(glob->mark(), "map_over glob must be a file pattern without templates, not " + Quote(*pattern));
        return;
      }
      m.kind = MapOver::Kind::kGlob;
      m.name = *pattern;
    } else if (node.is_scalar()) {
      std::string error;
      auto tmpl = Template::Parse(node.text(), &error);
      const bool one_param = tmpl && tmpl->parts().size() == 1 && tmpl->parts()[0].is_variable &&
                             tmpl->parts()[0].text.starts_with("params.");
      if (!one_param) {
        diags_.Add(node.mark(), "map_over must be a list, \"{{ params.NAME }}\" naming a list parameter, or "
                                "{glob: PATTERN}, not " + Quote(node.text()));
        return;
      }
      m.kind = MapOver::Kind::kParam;
      m.name = tmpl->parts()[0].text.substr(7);
    } else {
      diags_.Add(node.mark(), "map_over must be a list, \"{{ params.NAME }}\" or {glob: PATTERN}, not " +
                                  node.TypeName());
      return;
    }
    task.map_over = std::move(m);
  }

  void CheckMapParam(const TaskSpec& task, const TaskMarks& marks, const DagSpec& dag) {
    if (!task.map_over || task.map_over->kind != MapOver::Kind::kParam) return;
    const ParamSpec* param = dag.FindParam(task.map_over->name);
    if (!param) {
      std::vector<std::string> names;
      for (const ParamSpec& p : dag.params) names.push_back(p.name);
      diags_.Add(marks.map_over, "map_over names unknown parameter " + Quote(task.map_over->name) +
                                     DidYouMean(task.map_over->name, names));
    } else if (!param->value->is_sequence()) {
      diags_.Add(marks.map_over, "map_over parameter " + Quote(param->name) + " must be a list, not " +
                                     param->value->TypeName());
    }
  }

  void ReadDependsOn(const DocNode& deps, TaskSpec& task, TaskMarks& marks) {
    std::vector<const DocNode*> names;
    if (deps.is_scalar()) {
      names.push_back(&deps);
    } else if (deps.is_sequence()) {
      for (const auto& item : deps.items()) names.push_back(item.get());
    } else if (!deps.is_null()) {
      diags_.Add(deps.mark(), "depends_on must be a task id or a list of task ids");
      return;
    }
    task.depends_on.reserve(names.size());
    marks.depends_on.reserve(names.size());
    for (const DocNode* name : names) {
      if (!name->is_scalar()) {
        diags_.Add(name->mark(), "depends_on entries must be task ids, not " + name->TypeName());
        continue;
      }
      if (std::find(task.depends_on.begin(), task.depends_on.end(), name->text()) !=
          task.depends_on.end()) {
        diags_.Add(name->mark(), "task " + Quote(task.id) + " lists " + Quote(name->text()) +
                                     " twice in depends_on");
        continue;
      }
      task.depends_on.push_back(name->text());
      marks.depends_on.push_back(name->mark());
    }
  }

  void ReadEnv(const DocNode& env, bool is_shell, TaskSpec& task, TaskMarks& marks) {
    if (!is_shell) {
      diags_.Add(env.mark(), "'env' is only for shell tasks");
      return;
    }
    if (!env.is_map()) {
      diags_.Add(env.mark(), "env must be a map of NAME -> value (a string, number or boolean)");
      return;
    }
    for (const auto& [key, value] : env.entries()) {
      if (!key->is_scalar()) continue;
      if (!IsParamName(key->text())) {
        diags_.Add(key->mark(), "environment variable name " + Quote(key->text()) + " is not valid");
      } else if (!value->is_scalar()) {
        diags_.Add(value->mark(), "env " + Quote(key->text()) + " must be a string, number or boolean, not " +
                                      value->TypeName());
      } else {
        task.env.emplace_back(key->text(), value->text());
        marks.env.push_back(value->mark());
      }
    }
  }

  // --- the graph --------------------------------------------------------------

  // Checks dependencies exist and form no cycle; sorts tasks upstream-first.
  bool CheckGraph(DagSpec& dag) {
    // task_index_ holds every task of dag.tasks, in file order.
    const auto& index = task_index_;
    bool ok = true;
    size_t n = dag.tasks.size();
    // The graph as upstream positions (edges[first[t]..first[t+1]) for task t).
    std::vector<size_t> edges, first(n + 1, 0);
    for (size_t t = 0; t < n; ++t) {
      TaskSpec& task = dag.tasks[t];
      const std::vector<Mark>& marks = marks_[t].depends_on;
      size_t kept = 0;
      for (size_t idx = 0; idx < task.depends_on.size(); ++idx) {
        const std::string& dep = task.depends_on[idx];
        auto it = index.find(dep);
        if (dep == task.id) {
          diags_.Add(marks[idx], "task " + Quote(task.id) + " depends on itself");
          ok = false;
        } else if (it == index.end()) {
          diags_.Add(marks[idx], "task " + Quote(task.id) + " depends on unknown task " +
                                     Quote(dep) + DidYouMean(dep, TaskIds(dag)));
          ok = false;
        } else {
          edges.push_back(it->second);
          if (kept != idx) task.depends_on[kept] = std::move(task.depends_on[idx]);
          ++kept;
        }
      }
      task.depends_on.resize(kept);
      first[t + 1] = edges.size();
    }
    // Kahn's algorithm, taking ready tasks in file order.
    std::vector<size_t> down_first(n + 1, 0), down(edges.size());
    std::vector<size_t> indegree(n, 0);
    for (size_t t = 0; t < n; ++t) {
      indegree[t] = first[t + 1] - first[t];
      for (size_t e = first[t]; e < first[t + 1]; ++e) ++down_first[edges[e] + 1];
    }
    for (size_t t = 0; t < n; ++t) down_first[t + 1] += down_first[t];
    {
      std::vector<size_t> fill(down_first.begin(), down_first.end() - 1);
      for (size_t t = 0; t < n; ++t) {
        for (size_t e = first[t]; e < first[t + 1]; ++e) down[fill[edges[e]]++] = t;
      }
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;  // earliest first
    for (size_t idx = 0; idx < n; ++idx) {
      if (indegree[idx] == 0) ready.push(idx);
    }
    std::vector<size_t> order;
    order.reserve(n);
    while (!ready.empty()) {
      size_t idx = ready.top();
      ready.pop();
      order.push_back(idx);
      for (size_t e = down_first[idx]; e < down_first[idx + 1]; ++e) {
        if (--indegree[down[e]] == 0) ready.push(down[e]);
      }
    }
    if (order.size() != n) {
      diags_.Add({}, "cycle: " + DescribeCycle(dag, index, indegree));
      return false;
    }
    // Position k takes the task at order[k]: permuted in place, cycle by
    // cycle, rather than moved into a second array (10,000 tasks are some
    // megabytes of fresh pages, which cost more than the moves).
    std::vector<bool> placed(n, false);
    for (size_t start = 0; start < n; ++start) {
      if (placed[start] || order[start] == start) continue;
      TaskSpec held = std::move(dag.tasks[start]);
      TaskMarks held_marks = std::move(marks_[start]);
      for (size_t k = start;;) {
        placed[k] = true;
        const size_t from = order[k];
        if (from == start) {
          dag.tasks[k] = std::move(held);
          marks_[k] = std::move(held_marks);
          break;
        }
        dag.tasks[k] = std::move(dag.tasks[from]);
        marks_[k] = std::move(marks_[from]);
        k = from;
      }
    }
    for (size_t idx = 0; idx < n; ++idx) task_index_.find(dag.tasks[idx].id)->second = idx;
    return ok;
  }

  static std::vector<std::string> TaskIds(const DagSpec& dag) {
    std::vector<std::string> ids;
    ids.reserve(dag.tasks.size());
    for (const TaskSpec& task : dag.tasks) ids.push_back(task.id);
    return ids;
  }

  // Walks upstream from a task left on a cycle until a task repeats.
  static std::string DescribeCycle(const DagSpec& dag,
                                   const std::unordered_map<std::string, size_t>& index,
                                   const std::vector<size_t>& indegree) {
    size_t start = 0;
    while (indegree[start] == 0) ++start;
    std::vector<size_t> path;
    std::map<size_t, size_t> position;
    size_t current = start;
    while (!position.count(current)) {
      position[current] = path.size();
      path.push_back(current);
      for (const std::string& dep : dag.tasks[current].depends_on) {
        size_t up = index.at(dep);
        if (indegree[up] > 0) {
          current = up;
          break;
        }
      }
    }
    // path[position[current]..] is the cycle, walked against the edges.
    std::vector<size_t> cycle(path.begin() + position[current], path.end());
    std::reverse(cycle.begin(), cycle.end());
    // Start at the task written first, so the message is stable.
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    std::string text;
    for (size_t idx : cycle) text += dag.tasks[idx].id + " -> ";
    return text + dag.tasks[cycle.front()].id;
  }

  const TaskSpec* Task(const DagSpec& dag, const std::string& id) const {
    auto it = task_index_.find(id);
    return it == task_index_.end() ? nullptr : &dag.tasks[it->second];
  }

  bool IsUpstream(const DagSpec& dag, const std::string& candidate, const TaskSpec& task) {
    std::vector<const TaskSpec*> stack{&task};
    std::set<std::string_view> seen;
    while (!stack.empty()) {
      const TaskSpec* current = stack.back();
      stack.pop_back();
      for (const std::string& dep : current->depends_on) {
        if (dep == candidate) return true;
        if (seen.insert(dep).second) stack.push_back(Task(dag, dep));
      }
    }
    return false;
  }

  void ResolveInputs(DagSpec& dag) {
    for (TaskSpec& task : dag.tasks) {
      const Operator* op = ops_.Find(task.op);
      const DocNode* input = task.with->Find("input");
      if (input) {
        auto name = String(input, "input");
        if (!name) continue;
        const TaskSpec* source = Task(dag, *name);
        if (!source) {
          diags_.Add(input->mark(), "task " + Quote(task.id) + ": input names unknown task " +
                                        Quote(*name) + DidYouMean(*name, TaskIds(dag)));
        } else if (!IsUpstream(dag, *name, task)) {
          diags_.Add(input->mark(), "task " + Quote(task.id) + ": input " + Quote(*name) +
                                        " is not upstream of it (add it to depends_on)");
        } else if (const Operator* source_op = ops_.Find(source->op); source_op && !source_op->produces_table()) {
          diags_.Add(input->mark(), "task " + Quote(task.id) + ": input " + Quote(*name) + " is a " + source->op +
                                        " task, which produces no table");
        } else {
          task.input = *name;
        }
        continue;
      }
      if (!op || !op->consumes_table()) continue;
      std::vector<std::string> producers;
      for (const std::string& dep : task.depends_on) {
        const Operator* dep_op = ops_.Find(Task(dag, dep)->op);
        if (dep_op && dep_op->produces_table()) producers.push_back(dep);
      }
      if (producers.size() == 1) {
        task.input = producers.front();
      } else {
        diags_.Add(task.mark, "task " + Quote(task.id) + " needs with.input: " +
                                  (producers.empty() ? std::string("no upstream task produces a table")
                                                     : "several upstream tasks produce tables"));
      }
    }
  }

  // Tasks named in other arguments than `input` (Operator::TaskReferences):
  // each must be upstream and of the kind the argument asks for.
  void CheckTaskReferences(const DagSpec& dag) {
    for (const TaskSpec& task : dag.tasks) {
      const Operator* op = ops_.Find(task.op);
      if (!op) continue;
      for (const Operator::TaskReference& ref : op->TaskReferences(task)) {
        const std::string what = "task " + Quote(task.id) + ": " + ref.key + " " + Quote(ref.task);
        const TaskSpec* source = Task(dag, ref.task);
        if (!source) {
          if (ref.otherwise.empty()) {
            diags_.Add(ref.mark, "task " + Quote(task.id) + ": " + ref.key + " names unknown task " + Quote(ref.task) +
                                     DidYouMean(ref.task, TaskIds(dag)));
          }
          continue;
        }
        if (source == &task) {
          diags_.Add(ref.mark, what + " is this task itself");
        } else if (!IsUpstream(dag, ref.task, task)) {
          diags_.Add(ref.mark, what + " is a task of this DAG that is not upstream of it (add it to depends_on" +
                                   (ref.otherwise.empty() ? std::string(")") : ", or name " + std::string(ref.otherwise) + ")"));
        } else if (!ref.op.empty() && source->op != ref.op) {
          diags_.Add(ref.mark, what + " is a " + source->op + " task, not a " + std::string(ref.op) + " task");
        } else if (const Operator* source_op = ops_.Find(source->op);
                   ref.op.empty() && source_op && !source_op->produces_table()) {
          diags_.Add(ref.mark, what + " is a " + source->op + " task, which produces no table");
        } else if (ref.check) {
          ref.check(*source, diags_);
        }
      }
    }
  }

  // What is known of each table's columns, from the tables the tasks read:
  // column errors that need no data are reported now, not when a task runs.
  void CheckColumns(DagSpec& dag) {
    std::unordered_map<std::string, std::optional<KnownColumns>> known;  // references stay valid
    std::function<const std::optional<KnownColumns>&(const TaskSpec&)> of = [&](const TaskSpec& task)
        -> const std::optional<KnownColumns>& {
      if (auto it = known.find(task.id); it != known.end()) return it->second;
      const KnownColumns* input = nullptr;
      if (task.input) {
        if (const TaskSpec* source = Task(dag, *task.input)) {
          if (const auto& k = of(*source)) input = &*k;
        }
      }
      const Operator* op = ops_.Find(task.op);
      const bool sound = !unsound_[size_t(&task - dag.tasks.data())];
      return known[task.id] = op && sound ? op->CheckColumns(task, input, diags_) : std::nullopt;
    };
    for (const TaskSpec& task : dag.tasks) of(task);
    // What each task's input holds of personal data, for the task to keep
    // out of what it shows (validate's report).
    for (TaskSpec& task : dag.tasks) {
      std::set<std::string> tables;  // its input, and the tables other arguments name (monitor's two)
      if (task.input) tables.insert(*task.input);
      if (const Operator* op = ops_.Find(task.op)) {
        for (const Operator::TaskReference& ref : op->TaskReferences(task)) {
          if (ref.op.empty()) tables.insert(ref.task);
        }
      }
      std::set<std::string> marked;
      for (const std::string& table : tables) {
        auto it = known.find(table);
        if (it == known.end() || !it->second) continue;
        for (const auto& [column, source] : it->second->pii) marked.insert(column);
      }
      task.input_pii.assign(marked.begin(), marked.end());
      if (auto own = known.find(task.id); own != known.end() && own->second) {
        for (const auto& [column, source] : own->second->pii) task.output_pii.push_back(column);
      }
    }
  }

  // --- templates ----------------------------------------------------------------

  void CheckTemplateText(const std::string& text, Mark mark, const DagSpec& dag, bool mapped) {
    if (text.find("{{") == std::string::npos) return;  // only literal text: nothing to check
    std::vector<std::string> errors;
    const Template tmpl = Template::ParseAll(text, &errors);  // every error of the string at once
    for (std::string& error : errors) diags_.Add(mark, std::move(error));
    for (const Template::Part& part : tmpl.parts()) {
      if (!part.is_variable) continue;
      const auto& builtins = BuiltinTemplateVariables();
      if (std::find(builtins.begin(), builtins.end(), part.text) != builtins.end()) continue;
      if (part.text.starts_with("params.") && dag.FindParam(part.text.substr(7))) continue;
      if (part.text.starts_with("run.upstream.")) {
        const std::string upstream = part.text.substr(13);
        if (std::none_of(dag.after.begin(), dag.after.end(),
                         [&](const std::string& a) { return a.starts_with(upstream + "."); })) {
          diags_.Add(mark, "template variable " + Quote(part.text) + " needs " + Quote(upstream) +
                               " among the DAGs of schedule.after");
        }
        continue;
      }
      if (part.text == "item" || part.text == "item.index") {
        if (!mapped) diags_.Add(mark, "template variable " + Quote(part.text) + " is only for tasks with map_over");
        continue;
      }
      std::vector<std::string> known = builtins;
      if (mapped) known.insert(known.end(), {"item", "item.index"});
      for (const ParamSpec& p : dag.params) known.push_back("params." + p.name);
      // Airflow's names (ds, logical_date, ...) are run.NAME here.
      const std::string as_run = "run." + part.text;
      const std::string hint = std::find(known.begin(), known.end(), as_run) != known.end()
                                   ? " (did you mean '" + as_run + "'?)"
                                   : DidYouMean(part.text, known);
      diags_.Add(mark, "unknown template variable " + Quote(part.text) + hint);
    }
  }

  void CheckTemplatesIn(const DocNode& node, const DagSpec& dag, bool mapped) {
    if (node.is_scalar()) {
      CheckTemplateText(node.text(), node.mark(), dag, mapped);
    } else if (node.is_sequence()) {
      for (const auto& item : node.items()) CheckTemplatesIn(*item, dag, mapped);
    } else if (node.is_map()) {
      for (const auto& entry : node.entries()) CheckTemplatesIn(*entry.second, dag, mapped);
    }
  }

  void CheckTemplates(const TaskSpec& task, const TaskMarks& marks, const DagSpec& dag) {
    const bool mapped = task.map_over.has_value();
    CheckTemplatesIn(*task.with, dag, mapped);
    if (!task.run.empty()) CheckTemplateText(task.run, marks.run, dag, mapped);
    for (size_t idx = 0; idx < task.env.size(); ++idx) {
      CheckTemplateText(task.env[idx].second, marks.env[idx], dag, mapped);
    }
  }

  const OperatorRegistry& ops_;
  Diagnostics& diags_;
  bool scheduled_ = false;  // the DAG has a schedule (sla and deadline need one)
  std::vector<TaskMarks> marks_;  // where each of dag.tasks wrote its values
  std::vector<bool> unsound_;      // whether dag.tasks[t]'s keys or arguments are wrong
  DocNode::Ptr root_;
  std::unordered_map<std::string, size_t> task_index_;  // id -> position in dag.tasks
};

void SortDiagnostics(std::vector<Diagnostic>& items) {
  std::stable_sort(items.begin(), items.end(), [](const Diagnostic& a, const Diagnostic& b) {
    auto key = [](const Diagnostic& d) {
      return std::pair(d.mark.line <= 0 ? INT32_MAX : d.mark.line, d.mark.column);
    };
    return key(a) < key(b);
  });
}

}  // namespace

LoadResult DagLoader::LoadText(std::string_view text, const std::string& file) const {
  Diagnostics diags(file);
  LoadResult result;
  DocNode::Ptr root = ReadYaml(text, diags);
  DagSpec dag;
  if (root) {
    Validator(ops_, diags).Run(root, dag);
  }
  result.diagnostics = diags.items();
  SortDiagnostics(result.diagnostics);
  result.document = std::move(root);
  if (result.diagnostics.empty()) {
    dag.file = DagFilePath(file);
    dag.source = std::string(text);
    dag.content_hash = HashHex(text);
    result.dag = std::move(dag);
  }
  return result;
}

LoadResult DagLoader::LoadFile(const std::string& path) const {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return {std::nullopt, {{path, {}, "is a directory, not a DAG file"}}, nullptr};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, {{path, {}, "cannot read file: " + std::string(std::strerror(errno))}}, nullptr};
  auto size = fs::file_size(path, ec);
  if (!ec && size > kMaxDagFileBytes) {
    return {std::nullopt, {{path, {}, "file is larger than " + std::to_string(kMaxDagFileBytes >> 20) +
                                          " MiB; a DAG file this big is refused"}}, nullptr};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return LoadText(text.str(), path);
}

std::string DagFilePath(const std::string& file) {
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  return ec ? file : abs.lexically_normal().string();
}

FolderLoadResult DagLoader::LoadFolder(const std::string& dir) const {
  FolderLoadResult out;
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto ext = entry.path().extension();
    if ((ext == ".yaml" || ext == ".yml") && !entry.is_directory()) files.push_back(entry.path().string());
  }
  if (ec) {
    out.diagnostics.push_back({dir, {}, "cannot read folder: " + ec.message()});
    return out;
  }
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> owner;  // dag id -> file
  for (const std::string& file : files) {
    LoadResult result = LoadFile(file);
    if (result.dag) {
      auto [it, inserted] = owner.emplace(result.dag->id, file);
      if (inserted) {
        out.dags.push_back(std::move(*result.dag));
        continue;
      }
      result.diagnostics.push_back({file, {}, "dag id " + Quote(result.dag->id) +
                                                  " is already defined in " + it->second});
    }
    out.invalid_files.push_back(file);
    for (auto& d : result.diagnostics) out.diagnostics.push_back(std::move(d));
  }
  std::sort(out.dags.begin(), out.dags.end(),
            [](const DagSpec& a, const DagSpec& b) { return a.id < b.id; });
  return out;
}

}  // namespace pipeline
