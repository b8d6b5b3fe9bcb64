#include "notify/notifier.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "exec/cancel_token.h"
#include "exec/subprocess.h"
#include "net/http_post.h"

namespace pipeline::notify {

namespace {

using nlohmann::json;

bool Wants(const NotifySpec& spec, const std::string& kind) {
  return std::find(spec.on.begin(), spec.on.end(), kind) != spec.on.end();
}

std::string Text(const Notifier::Event& e) {
  if (e.kind == "failure") {
    std::string text = "DAG " + e.dag_id + " run " + e.run_id + " failed";
    if (!e.task_id.empty()) text += ": task " + e.task_id + (e.error.empty() ? "" : ": " + e.error);
    return text;
  }
  if (e.kind == "sla_miss") {
    std::string what = e.task_id.empty() ? "missed its deadline" : "task " + e.task_id + " missed its SLA";
    return "DAG " + e.dag_id + " run " + e.run_id + ": " + what + " (due " + (e.due ? FormatIso8601(*e.due) : "?") +
           ", " + e.state + " then)";
  }
  if (e.kind == "success") return "DAG " + e.dag_id + " run " + e.run_id + " succeeded";
  if (e.kind == "quality") return "DAG " + e.dag_id + " run " + e.run_id + ": task " + e.task_id + ": " + e.error;
  if (e.kind == "retry") {
    return "DAG " + e.dag_id + " run " + e.run_id + ": task " + e.task_id + " try " + std::to_string(e.try_number) +
           " failed and will be retried" + (e.error.empty() ? "" : ": " + e.error);
  }
  return "DAG " + e.dag_id + " run " + e.run_id + ": " + e.kind;
}

}  // namespace

std::string Notifier::Body(const Event& e) {
  json failed = json::array();
  for (const auto& [task, error] : e.failed_tasks) failed.push_back({{"task_id", task}, {"error", error}});
  json body = {{"event", e.kind},   {"dag_id", e.dag_id}, {"run_id", e.run_id}, {"task_id", e.task_id},
               {"error", e.error},  {"at", FormatIso8601(e.at)}, {"text", Text(e)}};
  if (e.kind == "retry") body["try_number"] = e.try_number;
  if (e.kind == "failure") body["failed_tasks"] = failed;
  if (e.kind == "sla_miss") {
    body["due"] = e.due ? json(FormatIso8601(*e.due)) : json(nullptr);
    body["state"] = e.state;
  }
  return body.dump();
}

Notifier::Notifier(StateStore& store, NotifyLookup notify, SecretLookup secrets, NotifierOptions options,
                   std::function<void(const std::string&, bool problem)> log)
    : store_(store),
      notify_(std::move(notify)),
      secrets_(std::move(secrets)),
      options_(std::move(options)),
      log_(std::move(log)),
      thread_([this] { Loop(); }) {}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Notifier::OnRunState(const RunRecord& run, RunState state) {
  if (state == RunState::kCancelled) {  // no event: forget the run
    std::lock_guard lock(mu_);
    run_dags_.erase(run.run_id);
    failed_.erase(run.run_id);
  }
  if (state != RunState::kSuccess && state != RunState::kFailed) return;
  Event e;
  e.kind = state == RunState::kSuccess ? "success" : "failure";
  e.dag_id = run.dag_id;
  e.run_id = run.run_id;
  e.at = run.ended_at.value_or(SystemClock::Default()->Now());  // told as it ends: now
  {
    std::lock_guard lock(mu_);
    run_dags_.erase(run.run_id);
    auto it = failed_.find(run.run_id);
    if (it != failed_.end()) {
      e.failed_tasks = std::move(it->second);
      failed_.erase(it);
    }
  }
  if (!e.failed_tasks.empty()) {
    e.task_id = e.failed_tasks.front().first;
    e.error = e.failed_tasks.front().second;
  }
  Enqueue(e);
}

void Notifier::OnTaskMetrics(const std::string& run_id, const std::string& task_id, const std::string& metrics_json) {
  json m = json::parse(metrics_json, nullptr, false);
  if (!m.is_object() || !m.contains("alert") || !m["alert"].is_string()) return;
  Event e;
  e.kind = "quality";
  e.run_id = run_id;
  e.task_id = task_id;
  e.error = m["alert"].get<std::string>();
  e.at = SystemClock::Default()->Now();
  {
    std::lock_guard lock(mu_);
    auto it = run_dags_.find(run_id);
    if (it == run_dags_.end()) return;
    e.dag_id = it->second;
  }
  Enqueue(e);
}

void Notifier::OnSlaMiss(const SlaMissRecord& miss) {
  Event e;
  e.kind = "sla_miss";
  e.dag_id = miss.dag_id;
  e.run_id = miss.run_id;
  e.task_id = miss.task_id;
  e.at = miss.detected_at;
  e.due = miss.due;
  e.state = miss.state;
  Enqueue(e);
}

void Notifier::OnTaskState(const TaskEvent& t) {
  if (t.state == TaskState::kRunning) {
    std::lock_guard lock(mu_);
    run_dags_[t.run_id] = t.dag_id;
    return;
  }
  if (t.state == TaskState::kFailed) {
    std::lock_guard lock(mu_);
    failed_[t.run_id].emplace_back(t.task_id, t.reason);
    return;
  }
  if (t.state != TaskState::kUpForRetry) return;
  Event e;
  e.kind = "retry";
  e.dag_id = t.dag_id;
  e.run_id = t.run_id;
  e.task_id = t.task_id;
  e.try_number = t.try_number;
  e.error = t.reason;
  e.at = t.at;
  Enqueue(e);
}

void Notifier::Enqueue(const Event& e) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(e);
  }
  cv_.notify_one();
}

void Notifier::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Event event = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // The targets are looked up here, not in the observer's call (which
    // holds the run's lock): the lookup may take the scheduler's.
    std::vector<NotifySpec> targets;
    try {
      if (notify_) targets = notify_(event.dag_id);
    } catch (const std::exception& e) {
      if (log_) log_("notifications of DAG " + event.dag_id + ": " + e.what(), true);
    }
    Deliver(event, targets);
    lock.lock();
  }
}

NotificationRecord Notifier::RecordOf(const Job& job) const {
  NotificationRecord record;
  record.dag_id = job.event.dag_id;
  record.run_id = job.event.run_id;
  record.task_id = job.event.task_id;
  record.event = job.event.kind;
  if (!job.target.command.empty()) {
    record.target = "command: " + job.target.command;
  } else if (!job.target.webhook_secret.empty()) {
    record.target = "webhook (secret " + job.target.webhook_secret + ")";
  } else {
    std::string error;
    auto url = net::ParseUrl(job.target.webhook, &error);
    record.target = url ? net::Shown(*url) : job.target.webhook;
  }
  return record;
}

void Notifier::Deliver(const Event& event, const std::vector<NotifySpec>& targets) {
  struct Pending {
    Job job;
    NotificationRecord record;
    std::string error;
    bool done = false;
  };
  const std::string body = Body(event);
  std::vector<Pending> pending;
  for (const NotifySpec& spec : targets) {
    if (!Wants(spec, event.kind)) continue;
    Job job{event, spec};
    NotificationRecord record = RecordOf(job);
    pending.push_back({std::move(job), std::move(record), "", false});
  }
  std::chrono::milliseconds wait = options_.backoff;
  for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
    bool left = false;
    for (Pending& p : pending) {
      if (p.done) continue;
      p.record.attempts = attempt;
      p.error = TryOnce(p.job, body);
      if (p.error.empty() || attempt == options_.attempts) {
        p.done = true;
        Finish(p.record, p.error);
      } else {
        left = true;
      }
    }
    if (!left) break;
    std::this_thread::sleep_for(wait);
    wait *= 2;
  }
}

void Notifier::Finish(NotificationRecord& record, const std::string& error) {
  record.delivered = error.empty();
  record.error = error;
  record.at = SystemClock::Default()->Now();
  if (log_) {
    log_(record.delivered ? "notification " + record.event + " of run " + record.run_id + " delivered to " + record.target
                          : "notification " + record.event + " of run " + record.run_id + " not delivered to " +
                                record.target + " after " + std::to_string(record.attempts) + " attempts: " + error,
         !record.delivered);
  }
  try {
    store_.AddNotification(record);
  } catch (const std::exception& e) {
    if (log_) log_(std::string("cannot record a notification: ") + e.what(), true);
  }
}

std::string Notifier::TryOnce(const Job& job, const std::string& body) {
  if (!job.target.command.empty()) {
    const Event& e = job.event;
    SubprocessSpec spec;
    spec.argv = {"/bin/sh", "-c", job.target.command};
    spec.env = {{"PIPE_EVENT", e.kind},       {"PIPE_DAG_ID", e.dag_id}, {"PIPE_RUN_ID", e.run_id},
                {"PIPE_TASK_ID", e.task_id},  {"PIPE_ERROR", e.error},   {"PIPE_EVENT_JSON", body}};
    spec.output_path = options_.command_output;
    std::string error;
    auto child = Subprocess::Start(spec, &error);
    if (!child) return "cannot start the command: " + error;
    EventCancelToken deadline;
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread timer([&] {
      std::unique_lock lock(m);
      if (!cv.wait_for(lock, options_.timeout, [&] { return done; })) deadline.Fire();
    });
    SubprocessResult r = child->Wait(deadline, std::chrono::milliseconds(1000));
    {
      std::lock_guard lock(m);
      done = true;
    }
    cv.notify_all();
    timer.join();
    if (r.cancelled) return "the command ran longer than " + std::to_string(options_.timeout.count() / 1000) + " s";
    if (!r.error.empty()) return r.error;
    if (!r.exited) return "the command was killed by signal " + std::to_string(r.signal);
    if (r.exit_code != 0) return "the command exited with status " + std::to_string(r.exit_code);
    return "";
  }
  std::string url_text = job.target.webhook;
  if (!job.target.webhook_secret.empty()) {
    auto secret = secrets_ ? secrets_(job.target.webhook_secret) : std::nullopt;
    if (!secret) return "no line webhook:" + job.target.webhook_secret + ":URL in the secrets file";
    url_text = *secret;
  }
  std::string error;
  auto url = net::ParseUrl(url_text, &error);
  if (!url) return error;
  net::PostResult r = net::PostJson(*url, body, options_.timeout, "pipe-notify");
  return r.ok() ? "" : r.error;
}

}  // namespace pipeline::notify
