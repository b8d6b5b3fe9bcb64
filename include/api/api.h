// The REST API of interfaces.md as one HttpHandler: routing, auth, JSON
// errors, validation of every path parameter. Blocking: it runs on the HTTP
// server's pool threads and calls the scheduler and the store directly.
#pragma once

#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include <nlohmann/json_fwd.hpp>

#include "core/version.h"
#include "api/auth.h"
#include "api/http.h"
#include "exec/executor.h"
#include "store/model_ref.h"

namespace pipeline {

class ModelServer;
class Scheduler;
class StateStore;

// Counts what runs do, for GET /metrics, by DAG and task. Thread-safe.
class MetricsObserver final : public RunObserver {
 public:
  void OnRunState(const RunRecord& run, RunState state) override;
  void OnTaskState(const TaskEvent& event) override;
  void OnTaskMetrics(const std::string& run_id, const std::string& task_id,
                     const std::string& metrics_json) override;

  // Prometheus text lines for the task duration histogram and counters.
  std::string Render() const;

 private:
  static constexpr double kBuckets[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600};
  struct Histogram {
    int64_t bucket_counts[std::size(kBuckets)] = {};
    int64_t count = 0;
    double sum = 0;
  };
  using DagTask = std::pair<std::string, std::string>;
  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, TimePoint> started_;           // "run/task" -> try start
  std::map<std::string, std::string> run_dags_;        // run -> DAG, while the run is open
  std::map<DagTask, Histogram> durations_;
  std::map<DagTask, int64_t> rows_processed_;
  std::map<std::pair<std::string, std::string>, int64_t> runs_ended_;  // (DAG, state)
  // name -> (DAG, task, column) -> the last value a task reported.
  std::map<std::string, std::map<std::tuple<std::string, std::string, std::string>, double>> gauges_;
};

// One file of the web UI's bundle (ui/, built into piped by src/ui).
struct UiAsset {
  std::string_view name;          // "index.html", "app.js", ...
  std::string_view content_type;
  std::string_view body;
};

struct ApiOptions {
  std::string version = kVersion;
  std::string db_description;  // "sqlite" or "postgresql"
  // The web UI served at / and /ui/...: index.html for every page, the other
  // files under /ui/assets/. Empty: the one-page fallback UiPage().
  std::span<const UiAsset> ui_assets = {};
  // The largest prediction body answered on its connection's thread
  // (AnswersInline). piped gives 16 KiB (a few rows) with one connection
  // thread, so that the request threads score larger ones on the other
  // cores, and 64 KiB (about 100 rows of 30 features) with more, where the
  // connection threads use the cores already and a hand-off costs two
  // thread switches (bench/serve.sh: +9% requests/s, p99 halved).
  size_t inline_predict_bytes = 16 * 1024;
};

class Api {
 public:
  // All referenced objects must outlive the Api.
  Api(Scheduler& scheduler, StateStore& store, const TokenStore& tokens, const MetricsObserver& metrics,
      ApiOptions options);

  HttpResponse Handle(const HttpRequest& request);
  // Whether a request is cheap enough to answer on its connection's thread
  // (HttpServerOptions::answer_inline): the web UI's files, and predictions
  // of bodies up to options.inline_predict_bytes by a model already loaded (the latency-critical path of
  // a model server). The rest may wait for the store (a model's first load
  // does) or compute for long.
  bool AnswersInline(const HttpRequest& request) const;
  // Serves predictions through `models` (nullptr: the predict routes say 503).
  void SetModelServer(ModelServer* models) { models_ = models; }

 private:
  HttpResponse Dispatch(const HttpRequest& request);  // Handle, before /v2's error shape
  HttpResponse Route(const HttpRequest& request, const std::vector<std::string>& parts);
  HttpResponse Serve(const HttpRequest& request, const std::string& method, const std::vector<std::string>& parts);
  HttpResponse UiFile(const std::string& path) const;
  HttpResponse OnlineFeatures(const HttpRequest& request, const std::string& task, const std::string& key);
  nlohmann::json AliasMovedHere(const std::string& name, const std::string& alias, const AliasMove& moved);

  Scheduler& scheduler_;
  StateStore& store_;
  const TokenStore& tokens_;
  const MetricsObserver& metrics_;
  ApiOptions options_;
  ModelServer* models_ = nullptr;
};

// Every route Handle() serves, as "METHOD /path/{param}" (docs/api/openapi.yaml
// documents each; a test keeps the two in step).
const std::vector<std::string>& ApiRoutes();

// The fallback web UI of a piped built without ui/ (PIPE_BUILD_UI=OFF) and of
// the tests: one self-contained HTML page that reads the API.
const std::string& UiPage();

}  // namespace pipeline
