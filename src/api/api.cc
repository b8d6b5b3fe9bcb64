#include "api/api.h"

#include <strings.h>
#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "core/dag_spec.h"
#include "core/error.h"
#include "core/json_depth.h"
#include "core/names.h"
#include "api/dag_json.h"
#include "dag/params.h"
#include "scheduler/scheduler.h"
#include "serving/model_server.h"
#include "store/model_ref.h"
#include "store/state_store.h"
#include "store/upstream.h"
#include "views/dag_view.h"
#include "views/lineage_view.h"
#include "views/model_view.h"
#include "views/run_view.h"
#include "views/table_view.h"

namespace pipeline {

namespace {

using nlohmann::json;

// --- responses -------------------------------------------------------------------

// Invalid UTF-8 (echoed from a request) becomes U+FFFD rather than an exception.
HttpResponse Json(int status, const json& body) {
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

HttpResponse ErrorResponse(int status, const std::string& code, const std::string& message) {
  return Json(status, {{"error", {{"code", code}, {"message", message}}}});
}

// The one place project errors become HTTP statuses.
int StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidDag: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kConflict:
    case ErrorCode::kCancelled: return 409;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kCorruption:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

// --- validation --------------------------------------------------------------------

// A client's text inside a message: control bytes shown as \xNN, so that an
// id holding "%00" or a newline reads whole.
std::string Quoted(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool IsDagOrTaskId(const std::string& s) {
  static const std::regex kId("^[a-z][a-z0-9_]{0,63}$");
  return std::regex_match(s, kId);
}

// Run ids are ours ("20261121T231050-0f400aa6") or a caller's: letters,
// digits, '_', '-', '.', never "." or ".." (no path tricks in log paths).
bool IsRunId(const std::string& s) {
  static const std::regex kRun("^[A-Za-z0-9_.-]{1,128}$");
  return std::regex_match(s, kRun) && s != "." && s != "..";
}

void RequireDagId(const std::string& id) {
  if (!IsDagOrTaskId(id)) throw Error::InvalidArgument("invalid DAG id " + Quoted(id));
}
// A task's id, or an instance of a mapped task: TASK[INDEX].
void RequireTaskId(const std::string& id) {
  auto instance = ParseMapInstanceId(id);
  if (!IsDagOrTaskId(instance ? instance->first : id)) throw Error::InvalidArgument("invalid task id " + Quoted(id));
}
void RequireModelName(const std::string& name) {
  if (!IsName(name)) throw Error::InvalidArgument("invalid model name " + Quoted(name));
}
void RequireAlias(const std::string& alias) {
  if (!IsName(alias)) throw Error::InvalidArgument("invalid alias " + Quoted(alias));
}
// A version number in a path (1, 2, ...).
int PathVersion(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(text) < 1) {
    throw Error::InvalidArgument("invalid version " + Quoted(text) + " (1, 2, ...)");
  }
  return std::stoi(text);
}
void RequireRunId(const std::string& id) {
  if (!IsRunId(id)) throw Error::InvalidArgument("invalid run id " + Quoted(id));
}

// The optional `dag_id` and `run_id` query parameters (checked), "" when absent.
std::pair<std::string, std::string> DagAndRunFilter(const HttpRequest& req) {
  std::pair<std::string, std::string> out;
  if (auto it = req.query.find("dag_id"); it != req.query.end() && !it->second.empty()) {
    RequireDagId(it->second);
    out.first = it->second;
  }
  if (auto it = req.query.find("run_id"); it != req.query.end() && !it->second.empty()) {
    RequireRunId(it->second);
    out.second = it->second;
  }
  return out;
}

// `fields`, when given: the only keys the body may have (a misspelt one,
// "parmas", would otherwise be a silent default).

json ParseBody(const HttpRequest& req, bool allow_empty, std::initializer_list<const char*> fields = {}) {
  if (req.body.empty() && allow_empty) return json::object();
  if (JsonNestingDepth(req.body) > kMaxJsonDepth) {
    throw Error::InvalidArgument("request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) throw Error::InvalidArgument("request body is not valid JSON");
  if (!body.is_object()) throw Error::InvalidArgument("request body must be a JSON object");
  if (fields.size() > 0) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (std::any_of(fields.begin(), fields.end(), [&](const char* f) { return it.key() == f; })) continue;
      std::string list;
      for (const char* f : fields) list += (list.empty() ? "" : ", ") + std::string(f);
      throw Error::InvalidArgument("unknown field " + Quoted(it.key()) + " in the request body (fields: " + list + ")");
    }
  }
  return body;
}

int QueryInt(const HttpRequest& req, const std::string& key, int fallback, int min, int max) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != it->second.size() || value < min || value > max) {
    throw Error::InvalidArgument(key + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  return value;
}

RunFilter FilterFrom(const HttpRequest& req) {
  RunFilter filter;
  filter.limit = QueryInt(req, "limit", 50, 1, 1000);
  filter.offset = QueryInt(req, "offset", 0, 0, 1'000'000'000);
  if (auto it = req.query.find("state"); it != req.query.end() && !it->second.empty()) {
    auto state = ParseRunState(it->second);
    if (!state) throw Error::InvalidArgument("unknown run state " + Quoted(it->second));
    filter.states = {*state};
  }
  return filter;
}

std::optional<TimePoint> TimeField(const json& body, const char* key) {
  if (!body.contains(key)) return std::nullopt;
  if (!body[key].is_string()) throw Error::InvalidArgument(std::string(key) + " must be an ISO-8601 string");
  auto parsed = ParseIso8601(body[key].get<std::string>());
  if (!parsed) throw Error::InvalidArgument(std::string(key) + ": invalid date '" + body[key].get<std::string>() + "'");
  return parsed->utc;
}

bool BoolField(const json& body, const char* key, bool fallback) {
  if (!body.contains(key)) return fallback;
  if (!body[key].is_boolean()) throw Error::InvalidArgument(std::string(key) + " must be true or false");
  return body[key].get<bool>();
}

json OptTime(const std::optional<TimePoint>& t) { return t ? json(FormatIso8601(*t)) : json(nullptr); }

// GET /api/v1/events: the store's transitions as Server-Sent Events, from
// every scheduler of the database. Transition ids on PostgreSQL are taken
// before commit, so an id may appear after a higher one: the stream keeps
// the ids above its low mark that it has sent, and passes a missing id (a
// rolled-back transaction's) once it has been missing for kHoleWait.
class TransitionStream final : public HttpStream {
 public:
  TransitionStream(StateStore& store, int64_t after, std::string dag_id, std::string run_id)
      : store_(store), low_(after), dag_id_(std::move(dag_id)), run_id_(std::move(run_id)) {}

  std::optional<std::string> Next() override {
    static constexpr auto kHoleWait = std::chrono::seconds(5);
    static constexpr auto kKeepAlive = std::chrono::seconds(15);
    std::vector<TransitionRecord> rows;
    try {
      rows = store_.ListTransitionsAfter(low_, 500);
    } catch (const Error&) {
      rows.clear();  // the store is away: again at the next turn
    }
    const auto now = std::chrono::steady_clock::now();
    std::string out;
    int64_t highest = low_;
    for (const TransitionRecord& t : rows) {
      highest = std::max(highest, t.id);
      if (!sent_.insert(t.id).second) continue;
      if ((!dag_id_.empty() && t.dag_id != dag_id_) || (!run_id_.empty() && t.run_id != run_id_)) continue;
      json event = {{"id", t.id},        {"dag_id", t.dag_id},   {"run_id", t.run_id},
                    {"from", t.from_state}, {"to", t.to_state}, {"at", FormatIso8601(t.at)},
                    {"reason", t.reason}};
      if (!t.task_id.empty()) {
        event["task_id"] = t.task_id;
        event["try"] = t.try_number;
      }
      out += "id: " + std::to_string(t.id) + "\nevent: " + (t.task_id.empty() ? "run" : "task") + "\ndata: " +
             event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
    }
    for (int64_t id = low_ + 1; id <= highest; ++id) {
      if (!sent_.count(id)) holes_.emplace(id, now);
    }
    while (low_ < highest) {
      const int64_t id = low_ + 1;
      if (sent_.erase(id)) {
        low_ = id;
      } else if (auto hole = holes_.find(id); hole != holes_.end() && now - hole->second >= kHoleWait) {
        holes_.erase(hole);
        low_ = id;
      } else {
        break;
      }
    }
    if (out.empty() && now - last_sent_ >= kKeepAlive) out = ": keep-alive\n\n";
    if (!out.empty()) last_sent_ = now;
    return out;
  }

 private:
  StateStore& store_;
  int64_t low_;                // every id up to this one was sent (or skipped for good)
  std::string dag_id_, run_id_;  // filters ("": any)
  std::set<int64_t> sent_;     // ids above low_ already sent
  std::map<int64_t, std::chrono::steady_clock::time_point> holes_;  // ids above low_ not seen yet, since
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
};

json RunsPage(StateStore& store, const RunFilter& filter) {
  json runs = json::array();
  for (const RunRecord& r : store.ListRuns(filter)) runs.push_back(views::RunSummaryJson(r));
  return {{"runs", runs}, {"total", store.CountRuns(filter)}, {"limit", filter.limit}, {"offset", filter.offset}};
}

}  // namespace

const std::vector<std::string>& ApiRoutes() {
  static const std::vector<std::string> kRoutes = {
      "GET /",
      "GET /metrics",
      "GET /api/v1/health",
      "GET /api/v1/auth",
      "GET /api/v1/dags",
      "GET /api/v1/dags/{dag_id}",
      "PATCH /api/v1/dags/{dag_id}",
      "GET /api/v1/dags/{dag_id}/runs",
      "GET /api/v1/dags/{dag_id}/grid",
      "GET /api/v1/dags/{dag_id}/tasks/{task_id}/history",
      "GET /api/v1/dags/{dag_id}/versions",
      "GET /api/v1/dags/{dag_id}/versions/{version}",
      "POST /api/v1/dags/{dag_id}/runs",
      "POST /api/v1/dags/{dag_id}/backfill",
      "GET /api/v1/runs",
      "GET /api/v1/runs/{run_id}",
      "POST /api/v1/runs/{run_id}/cancel",
      "POST /api/v1/runs/{run_id}/tasks/{task_id}/clear",
      "GET /api/v1/runs/{run_id}/tasks/{task_id}/logs",
      "GET /api/v1/runs/{run_id}/tasks/{task_id}/artifacts/{name}",
      "GET /api/v1/runs/{run_id}/tasks/{task_id}/artifacts/{name}/rows",
      "GET /api/v1/events",
      "GET /api/v1/workers",
      "GET /api/v1/notifications",
      "GET /api/v1/sla_misses",
      "GET /api/v1/models",
      "GET /api/v1/models/{name}",
      "GET /api/v1/models/{name}/versions/{version}",
      "PUT /api/v1/models/{name}/aliases/{alias}",
      "POST /api/v1/models/{name}/aliases/{alias}/rollback",
      "POST /api/v1/models/{name}/predict",
      "GET /api/v1/features/{task_id}/{key}",
      "GET /api/v1/lineage/runs/{run_id}/tasks/{task_id}/artifacts/{name}",
      "GET /api/v1/lineage/models/{name}/versions/{version}",
      "GET /v2/health/ready",
      "GET /v2/health/live",
      "GET /v2",
      "GET /v2/models/{name}",
      "GET /v2/models/{name}/ready",
      "POST /v2/models/{name}/infer",
      "GET /v2/models/{name}/versions/{version}",
      "GET /v2/models/{name}/versions/{version}/ready",
      "POST /v2/models/{name}/versions/{version}/infer",
  };
  return kRoutes;
}

// --- metrics -----------------------------------------------------------------------

namespace {

// A Prometheus label value: backslash, quote and newline escaped.
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void MetricsObserver::OnRunState(const RunRecord& run, RunState state) {
  std::lock_guard lock(mu_);
  if (!IsTerminal(state)) {
    run_dags_[run.run_id] = run.dag_id;
    return;
  }
  run_dags_.erase(run.run_id);
  ++runs_ended_[{run.dag_id, std::string(ToString(state))}];
}

void MetricsObserver::OnTaskState(const TaskEvent& e) {
  std::string key = e.run_id + "/" + e.task_id;
  std::lock_guard lock(mu_);
  run_dags_.emplace(e.run_id, e.dag_id);
  if (e.state == TaskState::kRunning) {
    started_.emplace(key, e.at);  // a waiting sensor's next check goes on with its try's start
    return;
  }
  if (e.state == TaskState::kWaiting) return;  // the try goes on
  auto it = started_.find(key);
  if (it == started_.end()) return;
  double seconds = std::chrono::duration<double>(e.at - it->second).count();
  started_.erase(it);
  // The instances of a mapped task share its series (one per task, not per item).
  auto mapped = ParseMapInstanceId(e.task_id);
  Histogram& h = durations_[{e.dag_id, mapped ? mapped->first : e.task_id}];
  for (size_t idx = 0; idx < std::size(kBuckets); ++idx) {
    if (seconds <= kBuckets[idx]) ++h.bucket_counts[idx];
  }
  ++h.count;
  h.sum += seconds;
}

void MetricsObserver::OnTaskMetrics(const std::string& run_id, const std::string& task_id,
                                    const std::string& metrics_json) {
  json m = json::parse(metrics_json, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return;
  std::lock_guard lock(mu_);
  auto dag = run_dags_.find(run_id);
  const std::string dag_id = dag == run_dags_.end() ? "" : dag->second;
  if (m.contains("rows_out") && m["rows_out"].is_number_integer()) {
    rows_processed_[{dag_id, task_id}] += m["rows_out"].get<int64_t>();
  }
  if (m.contains("gauges") && m["gauges"].is_array()) {
    for (const json& g : m["gauges"]) {
      if (!g.is_object() || !g.value("name", json()).is_string() || !g.value("value", json()).is_number()) continue;
      gauges_[g["name"].get<std::string>()][{dag_id, task_id, g.value("column", "")}] = g["value"].get<double>();
    }
  }
}

std::string MetricsObserver::Render() const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  out << "# HELP pipe_task_duration_seconds Duration of finished task tries.\n"
      << "# TYPE pipe_task_duration_seconds histogram\n";
  for (const auto& [key, h] : durations_) {
    std::string labels = "dag=\"" + Label(key.first) + "\",task=\"" + Label(key.second) + "\"";
    for (size_t idx = 0; idx < std::size(kBuckets); ++idx) {
      out << "pipe_task_duration_seconds_bucket{" << labels << ",le=\"" << kBuckets[idx] << "\"} "
          << h.bucket_counts[idx] << "\n";
    }
    out << "pipe_task_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << h.count << "\n"
        << "pipe_task_duration_seconds_sum{" << labels << "} " << h.sum << "\n"
        << "pipe_task_duration_seconds_count{" << labels << "} " << h.count << "\n";
  }
  static const std::map<std::string, std::string> kGaugeHelp = {
      {"pipe_drift_psi", "Population stability index of a column, by the monitor task's last run."},
      {"pipe_drift_ks", "Kolmogorov-Smirnov statistic of a numeric column, by the monitor task's last run."},
      {"pipe_drift_js", "Jensen-Shannon distance (base 2) of a categorical column, by the monitor task's last run."}};
  for (const auto& [name, values] : gauges_) {
    auto help = kGaugeHelp.find(name);
    out << "# HELP " << name << " " << (help == kGaugeHelp.end() ? "A figure a task reported." : help->second)
        << "\n# TYPE " << name << " gauge\n";
    for (const auto& [key, v] : values) {
      const auto& [dag, task, column] = key;
      out << name << "{dag=\"" << Label(dag) << "\",task=\"" << Label(task) << "\",column=\"" << Label(column)
          << "\"} " << v << "\n";
    }
  }
  out << "# HELP pipe_rows_processed_total Rows written by data operators.\n"
      << "# TYPE pipe_rows_processed_total counter\n";
  for (const auto& [key, n] : rows_processed_) {
    out << "pipe_rows_processed_total{dag=\"" << Label(key.first) << "\",task=\"" << Label(key.second) << "\"} " << n
        << "\n";
  }
  out << "# HELP pipe_runs_ended_total Runs this process finished, by final state.\n"
      << "# TYPE pipe_runs_ended_total counter\n";
  for (const auto& [key, n] : runs_ended_) {
    out << "pipe_runs_ended_total{dag=\"" << Label(key.first) << "\",state=\"" << Label(key.second) << "\"} " << n
        << "\n";
  }
  return out.str();
}

// --- the API -------------------------------------------------------------------------

Api::Api(Scheduler& scheduler, StateStore& store, const TokenStore& tokens, const MetricsObserver& metrics,
         ApiOptions options)
    : scheduler_(scheduler), store_(store), tokens_(tokens), metrics_(metrics), options_(std::move(options)) {}

namespace {

std::vector<std::string> PathParts(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// The methods ApiRoutes() serves on this path ("{...}" matches any one part),
// HEAD wherever GET is. The routes are split once.
std::set<std::string> AllowedMethods(const std::vector<std::string>& parts) {
  struct Route {
    std::string method;
    std::vector<std::string> pattern;
  };
  static const std::vector<Route> routes = [] {
    std::vector<Route> out;
    for (const std::string& route : ApiRoutes()) {
      size_t space = route.find(' ');
      out.push_back({route.substr(0, space), PathParts(std::string_view(route).substr(space + 1))});
    }
    return out;
  }();
  std::set<std::string> allowed;
  for (const Route& route : routes) {
    if (route.pattern.size() != parts.size()) continue;
    bool match = true;
    for (size_t idx = 0; idx < parts.size() && match; ++idx) {
      match = route.pattern[idx].front() == '{' || route.pattern[idx] == parts[idx];
    }
    if (!match) continue;
    allowed.insert(route.method);
    if (route.method == "GET") allowed.insert("HEAD");
  }
  return allowed;
}

}  // namespace

HttpResponse Api::Handle(const HttpRequest& req) {
  HttpResponse r = Dispatch(req);
  // The Open Inference Protocol's error body is {"error": MESSAGE}: its
  // clients show that string (ours elsewhere: {"error": {"code", "message"}}).
  if (r.status >= 400 && (req.path == "/v2" || req.path.starts_with("/v2/"))) {
    json body = json::parse(r.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_object() &&
        body["error"].value("message", json()).is_string()) {
      r.body = json{{"error", body["error"]["message"]}}.dump();
    }
  }
  return r;
}

HttpResponse Api::Dispatch(const HttpRequest& req) {
  // The web UI's pages are bookmarkable paths under /ui/ that all get the
  // same index.html; the browser's router reads the path.
  if ((req.method == "GET" || req.method == "HEAD") &&
      (req.path == "/" || req.path == "/ui" || req.path.rfind("/ui/", 0) == 0)) {
    return UiFile(req.path);
  }
  std::vector<std::string> parts = PathParts(req.path);
  std::set<std::string> allowed = AllowedMethods(parts);
  if (allowed.empty()) return ErrorResponse(404, "not_found", "no route for " + Quoted(req.path));
  if (!allowed.count(req.method)) {
    std::string list;
    for (const std::string& method : allowed) list += (list.empty() ? "" : ", ") + method;
    HttpResponse r = ErrorResponse(405, "method_not_allowed",
                                   "method " + Quoted(req.method) + " is not allowed on " + Quoted(req.path) +
                                       " (allowed: " + list + ")");
    r.headers.emplace_back("Allow", list);
    return r;
  }
  try {
    return Route(req, parts);
  } catch (const Error& e) {
    return ErrorResponse(StatusFor(e.code()), std::string(ErrorCodeName(e.code())), e.what());
  } catch (const std::exception& e) {
    return ErrorResponse(500, "internal", e.what());
  }
}

bool Api::AnswersInline(const HttpRequest& req) const {
  const std::string_view path = req.path;
  if (req.method == "GET" || req.method == "HEAD") return path == "/" || path == "/ui" || path.starts_with("/ui/");
  if (req.method != "POST" || req.body.size() > options_.inline_predict_bytes || !models_) return false;
  using namespace std::string_view_literals;
  std::string_view name;
  for (auto [prefix, suffix] : {std::pair{"/api/v1/models/"sv, "/predict"sv}, std::pair{"/v2/models/"sv, "/infer"sv}}) {
    if (path.starts_with(prefix) && path.ends_with(suffix) && path.size() > prefix.size() + suffix.size()) {
      name = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    }
  }
  if (name.empty() || name.find('/') != std::string_view::npos) return false;
  auto alias = req.query.find("alias");
  return models_->Loaded(std::string(name), alias == req.query.end() ? "production" : alias->second) != nullptr;
}

// Files are named by content (index.html asks for app.js?v=HASH), so every
// file but the page may be cached for good.
HttpResponse Api::UiFile(const std::string& path) const {
  constexpr std::string_view kAssets = "/ui/assets/";
  if (options_.ui_assets.empty()) {
    if (path.rfind(kAssets, 0) == 0) return ErrorResponse(404, "not_found", "this piped has no web UI bundle");
    return {200, "text/html; charset=utf-8", UiPage()};
  }
  std::string_view name = "index.html";
  if (path.rfind(kAssets, 0) == 0) name = std::string_view(path).substr(kAssets.size());
  for (const UiAsset& asset : options_.ui_assets) {
    if (asset.name != name) continue;
    HttpResponse r{200, std::string(asset.content_type), std::string(asset.body)};
    r.headers.emplace_back("Cache-Control", name == "index.html" ? "no-cache" : "public, max-age=31536000, immutable");
    return r;
  }
  return ErrorResponse(404, "not_found", "no UI file " + Quoted(path));
}

HttpResponse Api::Route(const HttpRequest& req, const std::vector<std::string>& p) {
  // The HTTP server sends a HEAD answer without its body.
  const std::string m = req.method == "HEAD" ? "GET" : req.method;
  auto is = [&](std::initializer_list<const char*> want) {
    if (p.size() != want.size()) return false;
    size_t idx = 0;
    for (const char* w : want) {
      if (std::string(w) != "*" && p[idx] != w) return false;
      ++idx;
    }
    return true;
  };

  // Open to all: health and metrics (the UI is served by Handle).
  if (m == "GET" && is({"api", "v1", "health"})) {
    json body = {{"version", options_.version}, {"db", options_.db_description}};
    auto beat = scheduler_.LastHeartbeat();  // never waits for the store
    body["scheduler"] = {{"last_heartbeat", beat ? json(FormatIso8601(*beat)) : json(nullptr)}};
    if (!store_.Ping()) {
      body["status"] = "unavailable";
      body["error"] = "the state database does not answer";
      return Json(503, body);
    }
    body["status"] = "ok";
    return Json(200, body);
  }
  if (m == "GET" && is({"metrics"})) {
    std::ostringstream out;
    out << "# HELP pipe_runs Runs by DAG and state.\n# TYPE pipe_runs gauge\n";
    for (const auto& [key, n] : store_.CountRunsByDagAndState()) {
      out << "pipe_runs{dag=\"" << Label(key.first) << "\",state=\"" << Label(key.second) << "\"} " << n << "\n";
    }
    out << "# HELP pipe_task_instances Task instances by DAG and state.\n# TYPE pipe_task_instances gauge\n";
    for (const auto& [key, n] : store_.CountTasksByDagAndState()) {
      out << "pipe_task_instances{dag=\"" << Label(key.first) << "\",state=\"" << Label(key.second) << "\"} " << n
          << "\n";
    }
    out << "# HELP pipe_sla_misses_total Missed SLAs by DAG and task (an empty task: the DAG's deadline).\n"
        << "# TYPE pipe_sla_misses_total counter\n";
    // Every SLA a loaded DAG has is a series from the start (0 until its
    // first miss), so that increase() sees the first miss too.
    StateStore::CountsByDagAndState sla_misses;
    for (const auto& spec : scheduler_.Specs()) {
      if (spec->deadline) sla_misses[{spec->id, ""}] = 0;
      for (const TaskSpec& t : spec->tasks) {
        if (t.sla) sla_misses[{spec->id, t.id}] = 0;
      }
    }
    for (const auto& [key, n] : store_.CountSlaMisses()) sla_misses[key] = n;
    for (const auto& [key, n] : sla_misses) {
      out << "pipe_sla_misses_total{dag=\"" << Label(key.first) << "\",task=\"" << Label(key.second) << "\"} " << n
          << "\n";
    }
    SchedulerStats stats = scheduler_.Stats();
    out << "# HELP pipe_queue_depth Runs waiting for a slot.\n# TYPE pipe_queue_depth gauge\n"
        << "pipe_queue_depth " << stats.queued_runs << "\n"
        << "# HELP pipe_scheduler_loop_lag_seconds How long the last scheduler turn took.\n"
        << "# TYPE pipe_scheduler_loop_lag_seconds gauge\n"
        << "pipe_scheduler_loop_lag_seconds " << std::chrono::duration<double>(stats.loop_lag).count() << "\n";
    // Work for `piped worker`s: ready tries by queue, and those of them that
    // no live worker serves (they wait for one: not failed).
    const TimePoint now = SystemClock::Default()->Now();
    std::set<std::string> served;
    int live = 0;
    for (const WorkerRecord& w : store_.ListWorkers()) {
      if (w.live_until <= now) continue;
      ++live;
      served.insert(w.queues.begin(), w.queues.end());
    }
    out << "# HELP pipe_workers_live piped workers whose last heartbeat holds.\n# TYPE pipe_workers_live gauge\n"
        << "pipe_workers_live " << live << "\n"
        << "# HELP pipe_work_ready Tries waiting in the work queue for a worker, by queue.\n"
        << "# TYPE pipe_work_ready gauge\n";
    const std::map<std::string, int64_t> ready = store_.CountReadyWork();
    for (const auto& [queue, n] : ready) out << "pipe_work_ready{queue=\"" << Label(queue) << "\"} " << n << "\n";
    out << "# HELP pipe_work_unserved Waiting tries of queues that no live worker serves.\n"
        << "# TYPE pipe_work_unserved gauge\n";
    for (const auto& [queue, n] : ready) {
      out << "pipe_work_unserved{queue=\"" << Label(queue) << "\"} " << (served.count(queue) ? 0 : n) << "\n";
    }
    out << metrics_.Render();
    return {200, "text/plain; version=0.0.4", out.str()};
  }
  // Open Inference Protocol v2: the server's liveness, readiness and
  // metadata are open, as health is (probes carry no token).
  if (m == "GET" && is({"v2", "health", "ready"})) {
    // Ready: the store answers and every model's production version serves
    // (a Kubernetes readinessProbe sends no traffic to a replica that cannot).
    std::string why;
    if (!store_.Ping()) why = "the state database does not answer";
    if (why.empty() && models_) models_->Ready(&why);
    if (!why.empty()) return Json(503, {{"ready", false}, {"reason", why}});
    return Json(200, {{"ready", true}});
  }
  if (m == "GET" && is({"v2", "health", "live"})) return Json(200, {{"live", true}});
  if (m == "GET" && is({"v2"})) {
    return Json(200, {{"name", "piped"}, {"version", options_.version}, {"extensions", json::array()}});
  }
  const bool inference = p.size() >= 2 && p[0] == "v2";
  if (!inference && (p.size() < 2 || p[0] != "api" || p[1] != "v1")) {
    return ErrorResponse(404, "not_found", "no route for " + Quoted(req.path));
  }

  // Everything below needs a token when tokens are configured. Predictions
  // change nothing: role viewer may ask for them.
  const bool predicts = inference || is({"api", "v1", "models", "*", "predict"});
  bool changes_state = m != "GET" && !predicts;
  Role role = Role::kAdmin;  // without tokens, everyone may do everything
  if (!tokens_.empty()) {
    // The scheme is case-insensitive (RFC 9110 11.1): "bearer x" is "Bearer x".
    const bool bearer = req.authorization.size() > 7 && strncasecmp(req.authorization.c_str(), "Bearer ", 7) == 0;
    std::string token = bearer ? req.authorization.substr(7) : "";
    auto presented = tokens_.RoleFor(token);
    if (!presented) {
      HttpResponse r = ErrorResponse(401, "unauthorized", "a valid bearer token is required");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"piped\"");  // RFC 6750 3
      return r;
    }
    role = *presented;
    if (changes_state && role < Role::kOperator) {
      return ErrorResponse(403, "forbidden", "role '" + std::string(ToString(role)) + "' may not change state");
    }
  }
  // Who the caller is: the UI disables what the role may not use.
  if (m == "GET" && is({"api", "v1", "auth"})) {
    return Json(200, {{"tokens_required", !tokens_.empty()}, {"role", std::string(ToString(role))}});
  }

  if (m == "GET" && is({"api", "v1", "dags"})) {
    json dags = json::array();
    for (const DagStatus& s : scheduler_.Dags()) dags.push_back(DagJson(store_, s, false));
    json errors = json::array();
    for (const Diagnostic& d : scheduler_.LoadErrors()) {
      errors.push_back({{"file", d.file}, {"line", d.mark.line}, {"column", d.mark.column}, {"message", d.message}});
    }
    return Json(200, {{"dags", dags}, {"load_errors", errors}});
  }
  if (is({"api", "v1", "dags", "*"}) && (m == "GET" || m == "PATCH")) {
    RequireDagId(p[3]);
    if (m == "PATCH") {
      json body = ParseBody(req, false, {"paused"});
      if (!body.contains("paused")) throw Error::InvalidArgument("body needs {\"paused\": true|false}");
      scheduler_.SetPaused(p[3], BoolField(body, "paused", false));
    }
    auto status = scheduler_.Dag(p[3]);
    if (!status) throw Error::NotFound("no DAG '" + p[3] + "'");
    return Json(200, DagJson(store_, *status, true));
  }
  if (m == "GET" && is({"api", "v1", "dags", "*", "versions"})) {
    RequireDagId(p[3]);
    std::vector<DagVersionRecord> versions = store_.ListDagVersions(p[3]);
    if (versions.empty()) throw Error::NotFound("no DAG '" + p[3] + "'");
    json list = json::array();
    for (const DagVersionRecord& v : versions) {
      list.push_back({{"version", v.version},
                      {"content_hash", v.content_hash},
                      {"file", v.file},
                      {"created_at", FormatIso8601(v.created_at)}});
    }
    return Json(200, {{"dag_id", p[3]}, {"versions", list}});
  }
  if (m == "GET" && is({"api", "v1", "dags", "*", "versions", "*"})) {
    RequireDagId(p[3]);
    const int version = PathVersion(p[5]);
    auto v = store_.GetDagVersion(p[3], version);
    if (!v) throw Error::NotFound("DAG '" + p[3] + "' has no version " + std::to_string(version));
    return Json(200, {{"dag_id", v->dag_id},
                      {"version", v->version},
                      {"content_hash", v->content_hash},
                      {"file", v->file},
                      {"created_at", FormatIso8601(v->created_at)},
                      {"source", v->source}});
  }
  if (m == "GET" && is({"api", "v1", "dags", "*", "grid"})) {
    RequireDagId(p[3]);
    auto status = scheduler_.Dag(p[3]);
    if (!status) throw Error::NotFound("no DAG '" + p[3] + "'");
    std::vector<std::string> task_ids;
    for (const TaskSpec& t : status->spec->tasks) task_ids.push_back(t.id);
    return Json(200, views::GridJson(store_, p[3], task_ids, QueryInt(req, "limit", 25, 1, 100)));
  }
  // One task over the DAG's latest runs, newest first: its state and metrics
  // (rows, a monitor's drift per column) for trend charts.
  if (m == "GET" && is({"api", "v1", "dags", "*", "tasks", "*", "history"})) {
    RequireDagId(p[3]);
    RequireTaskId(p[5]);
    auto status = scheduler_.Dag(p[3]);
    if (!status) throw Error::NotFound("no DAG '" + p[3] + "'");
    RunFilter filter;
    filter.dag_id = p[3];
    filter.limit = QueryInt(req, "limit", 25, 1, 100);
    json runs = json::array();
    for (const RunRecord& run : store_.ListRuns(filter)) {
      auto ti = store_.GetTaskInstance(run.run_id, p[5]);
      if (!ti) continue;  // a run of a version without the task
      json metrics = json::parse(ti->metrics_json, nullptr, false);
      runs.push_back({{"run_id", run.run_id},
                      {"logical_date", FormatIso8601(run.logical_date)},
                      {"state", ToString(ti->state)},
                      {"try", ti->try_number},
                      {"started_at", OptTime(ti->started_at)},
                      {"ended_at", OptTime(ti->ended_at)},
                      {"metrics", metrics.is_object() ? metrics : json::object()}});
    }
    return Json(200, {{"dag_id", p[3]}, {"task_id", p[5]}, {"runs", runs}});
  }
  if (is({"api", "v1", "dags", "*", "runs"})) {
    RequireDagId(p[3]);
    if (m == "POST") {
      json body = ParseBody(req, true, {"params", "queue"});
      std::vector<std::pair<std::string, std::string>> overrides;
      if (body.contains("params")) {
        if (!body["params"].is_object()) throw Error::InvalidArgument("params must be a JSON object");
        for (const auto& [name, value] : body["params"].items()) {
          if (value.is_object()) throw Error::InvalidArgument("parameter '" + name + "' must be a scalar or a list");
          overrides.emplace_back(name, JsonParamOverride(value.dump()));
        }
      }
      RunRecord run = scheduler_.Trigger(p[3], overrides, BoolField(body, "queue", true));
      return Json(201, {{"run_id", run.run_id}, {"state", ToString(run.state)}});
    }
    if (m == "GET") {
      if (!scheduler_.Dag(p[3])) throw Error::NotFound("no DAG '" + p[3] + "'");
      RunFilter filter = FilterFrom(req);
      filter.dag_id = p[3];
      return Json(200, RunsPage(store_, filter));
    }
  }
  if (m == "POST" && is({"api", "v1", "dags", "*", "backfill"})) {
    RequireDagId(p[3]);
    json body = ParseBody(req, false, {"from", "to", "rerun"});
    auto from = TimeField(body, "from"), to = TimeField(body, "to");
    if (!from || !to) throw Error::InvalidArgument("body needs \"from\" and \"to\" (ISO-8601)");
    json ids = json::array();
    int skipped = 0;
    for (const RunRecord& r : scheduler_.Backfill(p[3], *from, *to, BoolField(body, "rerun", false), &skipped)) {
      ids.push_back(r.run_id);
    }
    return Json(201, {{"runs", ids}, {"skipped", skipped}});
  }
  if (m == "GET" && is({"api", "v1", "runs"})) {
    RunFilter filter = FilterFrom(req);
    if (auto it = req.query.find("dag_id"); it != req.query.end() && !it->second.empty()) {
      RequireDagId(it->second);
      filter.dag_id = it->second;
    }
    return Json(200, RunsPage(store_, filter));
  }
  if (m == "GET" && is({"api", "v1", "runs", "*"})) {
    RequireRunId(p[3]);
    auto run = store_.GetRun(p[3]);
    if (!run) throw Error::NotFound("no run '" + p[3] + "'");
    return Json(200, views::RunJson(store_, *run));
  }
  if (m == "POST" && is({"api", "v1", "runs", "*", "cancel"})) {
    RequireRunId(p[3]);
    bool cancelled = scheduler_.Cancel(p[3]);
    auto run = store_.GetRun(p[3]);
    return Json(200, {{"run_id", p[3]}, {"cancelled", cancelled}, {"state", ToString(run->state)}});
  }
  if (m == "POST" && is({"api", "v1", "runs", "*", "tasks", "*", "clear"})) {
    RequireRunId(p[3]);
    RequireTaskId(p[5]);
    json body = ParseBody(req, true, {"downstream"});
    RunRecord run = scheduler_.Clear(p[3], p[5], BoolField(body, "downstream", false));
    return Json(200, {{"run_id", run.run_id}, {"state", ToString(run.state)}});
  }
  if (m == "GET" && is({"api", "v1", "runs", "*", "tasks", "*", "logs"})) {
    RequireRunId(p[3]);
    RequireTaskId(p[5]);
    if (!store_.GetTaskInstance(p[3], p[5])) {
      if (!store_.GetRun(p[3])) throw Error::NotFound("no run '" + p[3] + "'");
      throw Error::NotFound("no task '" + p[5] + "' in run '" + p[3] + "'");
    }
    auto tries = store_.GetTries(p[3], p[5]);
    if (tries.empty()) {
      auto instance = store_.GetTaskInstance(p[3], p[5]);
      throw Error::NotFound(views::NoTryMessage(p[5], instance ? instance->state : TaskState::kPending));
    }
    int want = QueryInt(req, "try", tries.back().try_number, 1, 1'000'000);
    auto it = std::find_if(tries.begin(), tries.end(), [&](const TaskTryRecord& t) { return t.try_number == want; });
    if (it == tries.end()) throw Error::NotFound("task '" + p[5] + "' has no try " + std::to_string(want));
    // ?offset=N: the bytes from N on, for a reader that follows a running
    // try; X-Log-Size is where the next read starts. ?tail=N: at most the
    // last N of them (a page opening a long log), X-Log-Start where they start.
    const int offset = QueryInt(req, "offset", 0, 0, std::numeric_limits<int>::max());
    const int tail = QueryInt(req, "tail", std::numeric_limits<int>::max(), 1, std::numeric_limits<int>::max());
    std::ifstream in(it->log_path, std::ios::binary);
    std::string text;
    std::streamoff start = offset;
    std::streamoff end = 0;  // no file: the try printed nothing
    if (in) {
      in.seekg(0, std::ios::end);
      end = in.tellg();
      start = std::max<std::streamoff>(offset, end - tail);
      if (start < end) {
        text.resize(size_t(end - start));
        in.seekg(start);
        in.read(text.data(), std::streamsize(text.size()));
        text.resize(size_t(in.gcount()));
        end = start + static_cast<std::streamoff>(text.size());
      } else {
        start = end;
      }
    }
    start = std::min(start, end);  // no file: nothing, from the end
    HttpResponse r{200, "text/plain; charset=utf-8", std::move(text)};
    r.headers.emplace_back("X-Log-Size", std::to_string(end));
    r.headers.emplace_back("X-Log-Start", std::to_string(start));
    return r;
  }
  if (m == "GET" && is({"api", "v1", "runs", "*", "tasks", "*", "artifacts", "*"})) {
    RequireRunId(p[3]);
    RequireTaskId(p[5]);
    if (!IsName(p[7])) throw Error::InvalidArgument("invalid artifact name " + Quoted(p[7]));
    if (!store_.GetRun(p[3])) throw Error::NotFound("no run '" + p[3] + "'");
    constexpr uintmax_t kMaxDocument = 8u << 20;
    for (const ArtifactRecord& a : store_.ListArtifacts(p[3])) {
      if (a.task_id == p[5] && a.name == p[7]) return Json(200, views::ArtifactDocumentJson(a, kMaxDocument));
    }
    throw Error::NotFound("task '" + p[5] + "' of run '" + p[3] + "' has no artifact '" + p[7] + "'");
  }
  if (m == "GET" && is({"api", "v1", "runs", "*", "tasks", "*", "artifacts", "*", "rows"})) {
    RequireRunId(p[3]);
    RequireTaskId(p[5]);
    if (!IsName(p[7])) throw Error::InvalidArgument("invalid artifact name " + Quoted(p[7]));
    const int limit = QueryInt(req, "limit", 100, 1, 1000);
    const int offset = QueryInt(req, "offset", 0, 0, 2'000'000'000);
    if (!store_.GetRun(p[3])) throw Error::NotFound("no run '" + p[3] + "'");
    for (const ArtifactRecord& a : store_.ListArtifacts(p[3])) {
      // A viewer sees no value of a column marked personal data; operators and admins do.
      if (a.task_id == p[5] && a.name == p[7]) return Json(200, views::ArtifactRowsJson(a, offset, limit, role < Role::kOperator));
    }
    throw Error::NotFound("task '" + p[5] + "' of run '" + p[3] + "' has no artifact '" + p[7] + "'");
  }
  if (m == "GET" && is({"api", "v1", "events"})) {
    const auto [dag_id, run_id] = DagAndRunFilter(req);
    int64_t after = -1;
    if (auto it = req.query.find("after"); it != req.query.end() && !it->second.empty()) {
      size_t used = 0;
      try {
        after = std::stoll(it->second, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != it->second.size() || after < 0) {
        throw Error::InvalidArgument("after must be an event id (an integer >= 0)");
      }
    }
    if (after < 0) after = store_.LatestTransitionId();  // from now on
    HttpResponse r{200, "text/event-stream", "retry: 2000\n\n"};
    r.stream = std::make_shared<TransitionStream>(store_, after, dag_id, run_id);
    return r;
  }
  if (m == "GET" && is({"api", "v1", "notifications"})) {
    const auto [dag_id, run_id] = DagAndRunFilter(req);
    json list = json::array();
    for (const NotificationRecord& n : store_.ListNotifications(dag_id, run_id, QueryInt(req, "limit", 50, 1, 1000))) {
      list.push_back({{"id", n.id},
                      {"dag_id", n.dag_id},
                      {"run_id", n.run_id},
                      {"task_id", n.task_id},
                      {"event", n.event},
                      {"target", n.target},
                      {"delivered", n.delivered},
                      {"attempts", n.attempts},
                      {"error", n.error},
                      {"at", FormatIso8601(n.at)}});
    }
    return Json(200, {{"notifications", list}});
  }
  if (m == "GET" && is({"api", "v1", "sla_misses"})) {
    const auto [dag_id, run_id] = DagAndRunFilter(req);
    const std::vector<SlaMissRecord> records =
        store_.ListSlaMisses(dag_id, run_id, QueryInt(req, "limit", 50, 1, 1000));
    json list = views::SlaMissesJson(records);
    for (size_t i = 0; i < records.size(); ++i) {
      list[i]["dag_id"] = records[i].dag_id;
      list[i]["run_id"] = records[i].run_id;
    }
    return Json(200, {{"sla_misses", list}});
  }
  if (m == "GET" && is({"api", "v1", "workers"})) {
    const TimePoint now = SystemClock::Default()->Now();
    json workers = json::array();
    for (const WorkerRecord& w : store_.ListWorkers()) {
      workers.push_back({{"name", w.name},
                         {"queues", w.queues},
                         {"slots", w.slots},
                         {"running", w.running},
                         {"started_at", FormatIso8601(w.started_at)},
                         {"last_seen", FormatIso8601(w.last_seen)},
                         {"live", w.live_until > now}});
    }
    return Json(200, {{"workers", workers}});
  }
  if (m == "GET" && is({"api", "v1", "models"})) {
    json models = json::array();
    for (const ModelSummary& model : store_.ListModels()) models.push_back(views::ModelSummaryJson(model));
    return Json(200, {{"models", models}});
  }
  if (m == "GET" && is({"api", "v1", "models", "*"})) {
    RequireModelName(p[3]);
    return Json(200, views::ModelJson(store_, p[3]));
  }
  if (m == "GET" && is({"api", "v1", "models", "*", "versions", "*"})) {
    RequireModelName(p[3]);
    const int version = PathVersion(p[5]);
    auto v = store_.GetModelVersion(p[3], version);
    if (!v) {
      if (store_.ListModelVersions(p[3]).empty()) throw Error::NotFound("no model '" + p[3] + "'");
      throw Error::NotFound("model '" + p[3] + "' has no version " + std::to_string(version));
    }
    return Json(200, views::ModelVersionJson(*v, store_.GetModelAliases(p[3])));
  }
  // Aliases: PUT points one at a version (MLflow's set alias), POST
  // .../rollback moves it back to its previous one; what serves follows at
  // once.
  if (m == "PUT" && is({"api", "v1", "models", "*", "aliases", "*"})) {
    RequireModelName(p[3]);
    RequireAlias(p[5]);
    json body = ParseBody(req, false, {"version"});
    const json& v = body.contains("version") ? body["version"] : json();
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 999'999'999) {
      throw Error::InvalidArgument("body needs {\"version\": N} with N a version number (1, 2, ...)");
    }
    AliasMove moved = MoveModelAlias(store_, p[3], p[5], v.get<int>(), SystemClock::Default()->Now());
    return Json(200, AliasMovedHere(p[3], p[5], moved));
  }
  if (m == "POST" && is({"api", "v1", "models", "*", "aliases", "*", "rollback"})) {
    RequireModelName(p[3]);
    RequireAlias(p[5]);
    if (json body = ParseBody(req, true); !body.empty()) {
      throw Error::InvalidArgument("a rollback takes no fields (got " + Quoted(body.begin().key()) + ")");
    }
    AliasMove moved = RollbackModelAlias(store_, p[3], p[5], SystemClock::Default()->Now());
    return Json(200, AliasMovedHere(p[3], p[5], moved));
  }
  if (m == "GET" && is({"api", "v1", "features", "*", "*"})) return OnlineFeatures(req, p[3], p[4]);
  if (m == "GET" && is({"api", "v1", "lineage", "runs", "*", "tasks", "*", "artifacts", "*"})) {
    RequireRunId(p[4]);
    RequireTaskId(p[6]);
    if (!IsName(p[8])) throw Error::InvalidArgument("invalid artifact name " + Quoted(p[8]));
    if (!store_.GetRun(p[4])) throw Error::NotFound("no run '" + p[4] + "'");
    return Json(200, views::ArtifactLineageJson(store_, p[4], p[6], p[8]));
  }
  if (m == "GET" && is({"api", "v1", "lineage", "models", "*", "versions", "*"})) {
    RequireModelName(p[4]);
    return Json(200, views::ModelLineageJson(store_, p[4], PathVersion(p[6])));
  }
  if (predicts) return Serve(req, m, p);
  return ErrorResponse(404, "not_found", "no route for " + m + " " + Quoted(req.path));
}

// An alias moved through this server: its models are reloaded before the
// answer (the next request is scored by what the alias points at now), which
// says the version this server serves under the alias: null when it serves
// none there (an alias no request has named), the old one when the new could
// not be loaded (the log says why).
json Api::AliasMovedHere(const std::string& name, const std::string& alias, const AliasMove& moved) {
  json out = {{"name", name}, {"alias", alias}, {"version", moved.version}, {"was", moved.was ? json(moved.was) : json()},
              {"serving", nullptr}};
  if (!models_) return out;
  models_->RefreshNow();
  if (auto serving = models_->Loaded(name, alias)) out["serving"] = serving->version;
  return out;
}

// GET /api/v1/features/{task}/{key}[?dag=D]: a key's online features (a
// `features` task with `online: true`); a key of several columns is their
// values joined by commas, in the task's key order.
HttpResponse Api::OnlineFeatures(const HttpRequest& req, const std::string& task, const std::string& key) {
  RequireTaskId(task);
  if (!models_) throw Error::Unavailable("this server does not serve models");
  std::string dag;
  if (auto it = req.query.find("dag"); it != req.query.end()) {
    RequireDagId(it->second);
    dag = it->second;
  } else {
    std::vector<std::string> found;
    for (const DagStatus& s : scheduler_.Dags()) {
      for (const TaskSpec& t : s.spec->tasks) {
        const DocNode* online = t.op == "features" && t.with ? t.with->Find("online") : nullptr;
        if (t.id == task && online && online->AsBool().value_or(false)) found.push_back(s.spec->id);
      }
    }
    if (found.empty()) throw Error::NotFound("no loaded DAG has a features task '" + task + "' with online: true (name the DAG with ?dag=)");
    if (found.size() > 1) throw Error::InvalidArgument("several DAGs have a features task '" + task + "': name one with ?dag=");
    dag = found.front();
  }
  auto table = models_->Online(dag, task);
  if (!table) throw Error::NotFound("task '" + task + "' of DAG '" + dag + "' has kept no online features yet");
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  if (parts.size() != table->keys.size()) {
    throw Error::InvalidArgument("the key of " + dag + "." + task + " has " + std::to_string(table->keys.size()) +
                                 " columns; give their values joined by commas");
  }
  const int64_t row = table->FindTexts(parts);
  if (row < 0) throw Error::NotFound("no online features for key " + Quoted(key) + " in " + dag + "." + task);
  json out = table->Row(row);
  out["dag"] = dag;
  out["task"] = task;
  out["run_id"] = table->run_id;
  return Json(200, out);
}

// The predict routes: POST /api/v1/models/{name}/predict[?alias=A] and the
// Open Inference Protocol's /v2/models/{name}[/versions/{v}][/ready|/infer].
HttpResponse Api::Serve(const HttpRequest& req, const std::string& m, const std::vector<std::string>& p) {
  if (!models_) throw Error::Unavailable("this server does not serve models");
  const bool oip = p[0] == "v2";
  const std::string& name = p[oip ? 2 : 3];
  RequireModelName(name);
  std::string alias = "production";
  if (auto it = req.query.find("alias"); it != req.query.end()) {
    RequireAlias(it->second);
    alias = it->second;
  }
  if (!oip) return {200, "application/json", models_->Predict(name, alias, req.body)};
  // A version in the path must be the one the alias serves (one version
  // serves per model and alias, as in KServe).
  const bool versioned = p.size() >= 5 && p[3] == "versions";
  const size_t tail = versioned ? 5 : 3;
  if (versioned) {
    const int version = PathVersion(p[4]);
    auto serving = models_->Get(name, alias);
    if (serving->version != version) {
      throw Error::NotFound("model '" + name + "' serves version " + std::to_string(serving->version) + " (alias " +
                            alias + "), not version " + std::to_string(version));
    }
  }
  if (m == "POST") return Json(200, models_->Infer(name, alias, ParseBody(req, false)));
  if (p.size() > tail) {  // ready: loaded (or loadable now)
    models_->Get(name, alias);
    return Json(200, {{"name", name}, {"ready", true}});
  }
  return Json(200, models_->Metadata(name, alias));
}

}  // namespace pipeline
