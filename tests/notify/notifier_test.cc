// The notifier on a real SQLite store with command targets (the webhook
// path is shown end to end in tests/e2e/piped_test.cc), and the URL rules
// of net/http_post.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "net/http_post.h"
#include "notify/notifier.h"
#include "store/sqlite_store.h"
#include "test_util.h"

namespace pipeline::notify {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(NotifierTest, EventsGoToTheTargetsThatWantThemOnceEachAndAreRecorded) {
  const fs::path dir = testing_util::FreshTestDir("notifier");
  SqliteStore store((dir / "state.db").string());
  const std::string out = (dir / "events.txt").string();
  const std::string line = "echo \"$PIPE_EVENT|$PIPE_DAG_ID|$PIPE_RUN_ID|$PIPE_TASK_ID|$PIPE_ERROR\" >> " + out;
  std::vector<NotifySpec> specs = {{{"failure", "retry"}, "", "", line},
                                   {{"quality", "sla_miss"}, "", "", line},
                                   {{"success"}, "", "", "exit 7"}};
  NotifierOptions options;
  options.attempts = 2;
  options.backoff = std::chrono::milliseconds(10);
  std::vector<std::string> logged;
  {
    Notifier notifier(
        store, [&](const std::string& dag) { return dag == "d" ? specs : std::vector<NotifySpec>{}; }, nullptr,
        options, [&](const std::string& l, bool problem) { logged.push_back((problem ? "! " : "") + l); });
    const TimePoint at = TimePoint{} + std::chrono::hours(24 * 20000);
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    run.created_at = at;
    const std::string none, exit3 = "exit status 3", exit4 = "exit status 4";
    notifier.OnRunState(run, RunState::kRunning);
    notifier.OnTaskState({"r1", "a", TaskState::kRunning, 1, at, none, "d"});
    notifier.OnTaskMetrics("r1", "a", R"({"rows_in": 4, "alert": "2 of 4 rows failed"})");
    notifier.OnTaskState({"r1", "a", TaskState::kUpForRetry, 1, at, exit3, "d"});
    notifier.OnTaskState({"r1", "b", TaskState::kFailed, 1, at, exit4, "d"});
    notifier.OnTaskState({"r1", "c", TaskState::kFailed, 1, at, exit3, "d"});
    notifier.OnSlaMiss({"d", "r1", "c", at, at, "running"});
    notifier.OnRunState(run, RunState::kFailed);
    run.run_id = "r2";
    notifier.OnRunState(run, RunState::kSuccess);  // its target's command fails
    run.run_id = "r3";
    notifier.OnTaskState({"r3", "a", TaskState::kFailed, 1, at, exit3, "d"});
    notifier.OnRunState(run, RunState::kCancelled);  // no event
    run.dag_id = "other";                            // no notify
    run.run_id = "r4";
    notifier.OnRunState(run, RunState::kFailed);
  }
  EXPECT_EQ(Read(out),
            "quality|d|r1|a|2 of 4 rows failed\n"
            "retry|d|r1|a|exit status 3\n"
            "sla_miss|d|r1|c|\n"
            "failure|d|r1|b|exit status 4\n");
  std::vector<NotificationRecord> recorded = store.ListNotifications("d", "", 10);
  ASSERT_EQ(recorded.size(), 5u);
  EXPECT_EQ(recorded[0].event, "success");
  EXPECT_EQ(recorded[0].run_id, "r2");
  EXPECT_FALSE(recorded[0].delivered);
  EXPECT_EQ(recorded[0].attempts, 2);
  EXPECT_EQ(recorded[0].error, "the command exited with status 7");
  EXPECT_EQ(recorded[0].target, "command: exit 7");
  EXPECT_EQ(recorded[1].event, "failure");
  EXPECT_TRUE(recorded[1].delivered);
  EXPECT_EQ(recorded[1].attempts, 1);
  EXPECT_EQ(recorded[2].event, "sla_miss");
  EXPECT_EQ(recorded[2].task_id, "c");
  EXPECT_EQ(store.ListNotifications("", "r1", 10).size(), 4u);
  EXPECT_EQ(store.ListNotifications("", "", 1).size(), 1u);
  ASSERT_EQ(logged.size(), 5u);
  // A notification not delivered is a warning ("! "), one delivered is not.
  EXPECT_EQ(logged.back(), "! notification success of run r2 not delivered to command: exit 7 after 2 attempts: the "
                           "command exited with status 7");
  EXPECT_EQ(logged.front().rfind("notification ", 0), 0u) << logged.front();
}

TEST(NotifierTest, TheBodyCarriesTheRunTaskErrorAndASlackText) {
  Notifier::Event e;
  e.kind = "failure";
  e.dag_id = "etl";
  e.run_id = "R";
  e.task_id = "load";
  e.error = "exit status 3";
  e.failed_tasks = {{"load", "exit status 3"}, {"copy", "timeout after 1s"}};
  json body = json::parse(Notifier::Body(e));
  EXPECT_EQ(body["event"], "failure");
  EXPECT_EQ(body["text"], "DAG etl run R failed: task load: exit status 3");
  EXPECT_EQ(body["failed_tasks"][1], json::parse(R"({"task_id": "copy", "error": "timeout after 1s"})"));
}

TEST(NotifierTest, AnSlaMissSaysWhatWasDueWhenAndInWhichState) {
  Notifier::Event e;
  e.kind = "sla_miss";
  e.dag_id = "etl";
  e.run_id = "R";
  e.task_id = "load";
  e.due = ParseIso8601("2026-06-01T12:00:00Z")->utc;
  e.state = "running";
  json body = json::parse(Notifier::Body(e));
  EXPECT_EQ(body["event"], "sla_miss");
  EXPECT_EQ(body["due"], "2026-06-01T12:00:00Z");
  EXPECT_EQ(body["state"], "running");
  EXPECT_EQ(body["text"], "DAG etl run R: task load missed its SLA (due 2026-06-01T12:00:00Z, running then)");
  e.task_id = "";
  e.state = "success";
  EXPECT_EQ(json::parse(Notifier::Body(e))["text"],
            "DAG etl run R: missed its deadline (due 2026-06-01T12:00:00Z, success then)");
  e.kind = "success";
  EXPECT_FALSE(json::parse(Notifier::Body(e)).contains("due"));
}

TEST(NotifierTest, ATargetThatIsDownDelaysNoOtherAndAnEndIsStampedWhenItEnds) {
  // Given a target that fails every attempt before one that works, then
  // the working one is delivered in the first round, not after the other's
  // retries; and a run's success says when it ended, not when it was made.
  const fs::path dir = testing_util::FreshTestDir("notifier_rounds");
  SqliteStore store((dir / "state.db").string());
  const std::string out = (dir / "body.json").string();
  std::vector<NotifySpec> specs = {{{"success"}, "", "", "exit 7"},
                                   {{"success"}, "", "", "printf '%s' \"$PIPE_EVENT_JSON\" > " + out}};
  NotifierOptions options;
  options.attempts = 3;
  options.backoff = std::chrono::milliseconds(300);
  const TimePoint before = SystemClock::Default()->Now();
  {
    Notifier notifier(store, [&](const std::string&) { return specs; }, nullptr, options, nullptr);
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    run.created_at = TimePoint{} + std::chrono::hours(24 * 365 * 30);  // long ago
    notifier.OnRunState(run, RunState::kSuccess);
  }
  std::vector<NotificationRecord> r = store.ListNotifications("", "", 10);
  ASSERT_EQ(r.size(), 2u);
  const NotificationRecord& good = r[0].delivered ? r[0] : r[1];
  const NotificationRecord& bad = r[0].delivered ? r[1] : r[0];
  EXPECT_TRUE(good.delivered);
  EXPECT_EQ(good.attempts, 1);
  EXPECT_FALSE(bad.delivered);
  EXPECT_EQ(bad.attempts, 3);
  EXPECT_LT(good.at + std::chrono::milliseconds(500), bad.at);  // delivered before the other's 900 ms of retries
  auto at = ParseIso8601(json::parse(Read(out))["at"].get<std::string>());
  ASSERT_TRUE(at);
  EXPECT_GE(at->utc, before - std::chrono::seconds(1));
}

TEST(NotifierTest, AWebhookSecretComesFromTheLookup) {
  const fs::path dir = testing_util::FreshTestDir("notifier_secret");
  SqliteStore store((dir / "state.db").string());
  NotifierOptions options;
  options.attempts = 1;
  {
    Notifier notifier(store,
                      [](const std::string& dag) {
                        return std::vector<NotifySpec>{{{"success"}, "", dag == "d" ? "hook" : "missing", ""}};
                      },
                      [](const std::string& name) { return name == "hook" ? std::optional<std::string>("ftp://nope") : std::nullopt; },
                      options, nullptr);
    RunRecord run;
    run.run_id = "r1";
    run.dag_id = "d";
    notifier.OnRunState(run, RunState::kSuccess);
    run.run_id = "r2";
    run.dag_id = "e";
    notifier.OnRunState(run, RunState::kSuccess);
  }
  std::vector<NotificationRecord> r = store.ListNotifications("", "", 10);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].target, "webhook (secret hook)");
  EXPECT_EQ(r[1].error, "'ftp://nope' is not an http:// or https:// URL");
  EXPECT_EQ(r[0].target, "webhook (secret missing)");
  EXPECT_EQ(r[0].error, "no line webhook:missing:URL in the secrets file");
}

TEST(HttpPostTest, UrlsParseAndHideTheirSecretPath) {
  std::string error;
  auto url = net::ParseUrl("https://hooks.slack.com/services/T0/B0/XYZ", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "hooks.slack.com");
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->target, "/services/T0/B0/XYZ");
  EXPECT_EQ(net::Shown(*url), "https://hooks.slack.com:443/services/...");
  url = net::ParseUrl("http://127.0.0.1:9000?x=1", &error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->port, "9000");
  EXPECT_FALSE(net::ParseUrl("http://user:pw@h/x", &error));
  EXPECT_EQ(error, "'http://h:80/x': a URL with user:password@ is not accepted (put secrets in the secrets file)");
  EXPECT_FALSE(net::ParseUrl("http://h:port/", &error));
  EXPECT_FALSE(net::ParseUrl("h:80", &error));
  // Nothing listens on a port just closed: the error says so, no exception.
  int port = 0;
  ::close(testing_util::ListenOnFreeLoopbackPort(&port));
  url = net::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/", &error);
  net::PostResult r = net::PostJson(*url, "{}", std::chrono::seconds(2), "test");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "Connection refused");
}

TEST(HttpPostTest, APeerThatNeverAnswersIsGivenUpOnAtTheDeadline) {
  // A socket that listens (the kernel completes the connection) but never
  // reads or answers: the request ends at its deadline, for GET and POST.
  int port = 0;
  int fd = testing_util::ListenOnFreeLoopbackPort(&port);
  std::string error;
  auto url = net::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/ready", &error);
  ASSERT_TRUE(url) << error;
  for (bool get : {true, false}) {
    const auto start = std::chrono::steady_clock::now();
    net::PostResult r = get ? net::Get(*url, std::chrono::milliseconds(300), "test")
                            : net::PostJson(*url, "{}", std::chrono::milliseconds(300), "test");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status, 0);
    EXPECT_FALSE(r.error.empty());
    EXPECT_GE(took, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::seconds(5)) << r.error;  // not the kernel's minutes
  }
  ::close(fd);
}

}  // namespace
}  // namespace pipeline::notify
