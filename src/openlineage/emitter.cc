#include "openlineage/emitter.h"

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <cctype>
#include <optional>
#include <set>

#include "core/error.h"
#include "net/http_post.h"

namespace pipeline::openlineage {

namespace {

using nlohmann::json;

constexpr const char* kProducer = "urn:pipe:openlineage-emitter";
constexpr const char* kRunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
constexpr const char* kParentFacetSchema = "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet";
constexpr const char* kSchemaFacetSchema =
    "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
constexpr const char* kErrorFacetSchema =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
constexpr const char* kJobTypeFacetSchema = "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
constexpr const char* kNominalTimeFacetSchema =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
constexpr const char* kSymlinksFacetSchema =
    "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet";

// What kind of job it is, as Airflow's integration says it (DAG or TASK).
json JobTypeFacet(const char* job_type) {
  return {{"_producer", kProducer},
          {"_schemaURL", kJobTypeFacetSchema},
          {"processingType", "BATCH"},
          {"integration", "PIPE"},
          {"jobType", job_type}};
}

std::string TaskKey(const std::string& run_id, const std::string& task_id, int try_number) {
  return run_id + "/" + task_id + "/" + std::to_string(try_number);
}

// A mapped task's instance "load[3]" is a run of job "load", as Airflow's
// integration names the map indexes of one task (the items change daily).
std::string JobTask(const std::string& task_id) {
  const size_t bracket = task_id.find('[');
  return bracket == std::string::npos ? task_id : task_id.substr(0, bracket);
}

// A dataset as the OpenLineage naming spec writes it: a PostgreSQL table is
// namespace postgres://HOST:PORT, name DATABASE.SCHEMA.TABLE (whatever user,
// options or scheme spelling the URL had), so that its writer and readers
// join; anything else as given.
json Dataset(const std::string& namespace_, const std::string& name, bool is_table) {
  std::string rest;
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (namespace_.rfind(scheme, 0) == 0) rest = namespace_.substr(std::string(scheme).size());
  }
  if (rest.empty()) return {{"namespace", namespace_}, {"name", name}};
  // libpq's parameters after '?' (host, port, dbname) stand in for the parts
  // before it: postgresql://u@/db?host=/run/pg&port=5433 is port 5433 of
  // this machine (a socket folder is no host name).
  std::string param_host, param_port, param_db;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    std::string_view query = std::string_view(rest).substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos) {
        const std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
        if (key == "host") param_host = value;
        if (key == "port") param_port = value;
        if (key == "dbname") param_db = value;
      }
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    rest = rest.substr(0, q);
  }
  if (const size_t at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  const size_t slash = rest.find('/');
  std::string host = rest.substr(0, slash);
  std::string database = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!param_db.empty()) database = param_db;
  if (host.empty() && !param_host.empty() && param_host.front() != '/') host = param_host;
  if (host.empty()) host = "localhost";
  const bool has_port = host.find(':') != std::string::npos && !(host.front() == '[' && host.back() == ']');
  if (!has_port) host += ":" + (param_port.empty() ? std::string("5432") : param_port);
  std::string table = name;
  if (is_table && table.find('.') == std::string::npos) table = "public." + table;
  return {{"namespace", "postgres://" + host}, {"name", is_table && !database.empty() ? database + "." + table : table}};
}

// The table a query reads when it plainly reads one: SELECT ... FROM
// [SCHEMA.]TABLE [[AS] ALIAS] followed by nothing or WHERE, GROUP BY,
// HAVING, ORDER BY, LIMIT, OFFSET, FETCH, then an optional ';'. Unquoted
// names only, lower-cased as PostgreSQL folds them; anything else (a join,
// a subquery, several FROMs, WITH, UNION, comments, quotes) is nullopt and
// the query is named by its text.
std::optional<std::string> SingleTable(const std::string& query) {
  std::string q;
  for (char c : query) q += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // An incremental read runs its query inside another (sources::ReadQuery):
  // the table is the inner query's.
  constexpr std::string_view kWrap = "select * from (", kWrapEnd = ") as pipe_incremental where ";
  if (q.rfind(kWrap, 0) == 0) {
    const size_t end = q.rfind(kWrapEnd);
    if (end == std::string::npos || end < kWrap.size()) return std::nullopt;
    return SingleTable(query.substr(kWrap.size(), end - kWrap.size()));
  }
  if (q.find("--") != std::string::npos || q.find("/*") != std::string::npos || q.find('"') != std::string::npos ||
      q.find('`') != std::string::npos || q.find('[') != std::string::npos) {
    return std::nullopt;
  }
  // Words and single-character symbols, string literals as one token.
  std::vector<std::string> tokens;
  for (size_t i = 0; i < q.size();) {
    const unsigned char c = static_cast<unsigned char>(q[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (std::isalnum(c) || c == '_' || c == '$') {
      size_t j = i;
      while (j < q.size() && (std::isalnum(static_cast<unsigned char>(q[j])) || q[j] == '_' || q[j] == '$')) ++j;
      tokens.push_back(q.substr(i, j - i));
      i = j;
    } else if (c == '\'') {
      const size_t end = q.find('\'', i + 1);
      if (end == std::string::npos) return std::nullopt;
      tokens.push_back("'");
      i = end + 1;
    } else {
      tokens.push_back(std::string(1, static_cast<char>(c)));
      ++i;
    }
  }
  if (tokens.empty() || tokens[0] != "select") return std::nullopt;
  size_t from = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t == "join" || t == "union" || t == "intersect" || t == "except" || t == "with" || (t == "select" && i > 0)) {
      return std::nullopt;
    }
    if (t == "from") {
      if (from) return std::nullopt;  // a second FROM: a subquery
      from = i;
    }
  }
  if (!from) return std::nullopt;
  auto is_name = [](const std::string& t) {
    return !t.empty() && (std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_');
  };
  size_t i = from + 1;
  if (i >= tokens.size() || !is_name(tokens[i])) return std::nullopt;
  std::string table = tokens[i++];
  if (i + 1 < tokens.size() && tokens[i] == "." && is_name(tokens[i + 1])) {
    table += "." + tokens[i + 1];
    i += 2;
  }
  static const std::set<std::string> kAfter = {"where", "group", "having", "order", "limit", "offset", "fetch", ";"};
  if (i < tokens.size() && tokens[i] == "as") ++i;
  if (i < tokens.size() && !kAfter.count(tokens[i])) {
    if (!is_name(tokens[i])) return std::nullopt;  // a comma (several tables), a parenthesis...
    ++i;                                           // an alias
  }
  if (i < tokens.size() && !kAfter.count(tokens[i])) return std::nullopt;
  for (; i < tokens.size(); ++i) {
    if (tokens[i] == ";" && i + 1 != tokens.size()) return std::nullopt;  // a second statement
  }
  return table;
}

}  // namespace

Emitter::Emitter(StateStore& store, EmitterOptions options, std::function<void(const std::string&)> log)
    : store_(store), options_(std::move(options)), log_(std::move(log)) {
  const std::string& t = options_.target;
  if (t.rfind("file:", 0) == 0 && t.size() > 5) {
    file_ = t.substr(5);
  } else if (t.rfind("http://", 0) == 0 || t.rfind("https://", 0) == 0) {
    std::string error;
    auto url = net::ParseUrl(t, &error);
    if (!url) throw Error::InvalidArgument("openlineage target: " + error);
    url_ = *url;
    std::string key = options_.api_key;
    if (const char* env = std::getenv("OPENLINEAGE_API_KEY"); key.empty() && env) key = env;
    if (!key.empty()) authorization_ = "Bearer " + key;
  } else {
    throw Error::InvalidArgument("openlineage target '" + t + "' must be http(s)://HOST[:PORT]/PATH or file:PATH");
  }
  thread_ = std::thread([this] { Loop(); });
}

Emitter::~Emitter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // Said once at the end: how many events never reached the receiver (the
  // log said so at the first, then only when one went through again).
  if (failed_ > 0 && log_) {
    log_("openlineage: " + std::to_string(failed_) + " of " + std::to_string(failed_ + delivered_) +
         " events were not delivered");
  }
}

uint64_t Emitter::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

uint64_t Emitter::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

std::string Emitter::RunUuid(const std::string& name) {
  const XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(h.high64 >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(h.low64 >> (56 - 8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x50);  // version 5 form
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

void Emitter::OnRunState(const RunRecord& run, RunState state) {
  const char* type = state == RunState::kRunning   ? "START"
                     : state == RunState::kSuccess ? "COMPLETE"
                     : state == RunState::kFailed  ? "FAIL"
                     : state == RunState::kCancelled ? "ABORT"
                                                     : nullptr;
  if (!type) return;
  Enqueue({type, run.run_id, run.dag_id, "", 0, run.ended_at.value_or(run.started_at.value_or(run.created_at)), "",
           std::nullopt, run.data_interval_start, run.data_interval_end});
}

void Emitter::OnTaskState(const TaskEvent& e) {
  const std::string key = TaskKey(e.run_id, e.task_id, e.try_number);
  std::string type;
  switch (e.state) {
    case TaskState::kRunning: type = "START"; break;
    case TaskState::kSuccess: type = "COMPLETE"; break;
    case TaskState::kFailed:
    case TaskState::kUpForRetry: type = "FAIL"; break;
    case TaskState::kCancelled: type = "ABORT"; break;
    case TaskState::kQueued:  // a try lost (worker or process gone) or handed back at shutdown: it ended
      if (!e.try_started) return;  // queued to start: no try yet
      type = "FAIL";
      break;
    case TaskState::kSkipped: type = "COMPLETE"; break;  // a sensor's try that timed out with on_timeout: skip
    default: return;  // pending, skipped, upstream_failed: no try ran; waiting: it goes on
  }
  std::optional<TimePoint> started;
  {
    std::lock_guard lock(mu_);
    if (type == "START") {
      // A try that began before this event is a waiting sensor's next check
      // (here or, after a restart, resumed from the store): started already.
      const bool goes_on = e.try_started && *e.try_started < e.at;
      if (!started_.emplace(key, e.try_started.value_or(e.at)).second || goes_on) return;
    } else {
      if (auto it = started_.find(key); it != started_.end()) {
        started = it->second;
        started_.erase(it);
      } else if (e.try_started) {
        started = e.try_started;  // a try begun before a restart: its end closes the run its START opened
      } else {
        return;  // no try ran (cancelled while queued)
      }
    }
  }
  Enqueue({type, e.run_id, e.dag_id, e.task_id, e.try_number, e.at, e.reason, started, std::nullopt, std::nullopt,
           type == "START" ? std::string() : e.inputs_json});
}

void Emitter::Enqueue(Pending p) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queued) {
      ++failed_;
      if (failed_ == 1 || failed_ % 1000 == 0) {
        if (log_) log_("openlineage: more than " + std::to_string(options_.max_queued) + " events queued; dropping");
      }
      return;
    }
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
}

void Emitter::Loop() {
  std::unique_lock lock(mu_);
  std::optional<std::chrono::steady_clock::time_point> drain_until;
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything delivered
    if (stop_) {
      const auto now = std::chrono::steady_clock::now();
      if (!drain_until) drain_until = now + options_.drain_limit;
      if (now >= *drain_until) {
        const size_t dropped = queue_.size();
        failed_ += dropped;
        queue_.clear();
        lock.unlock();
        if (log_) {
          log_("openlineage: stopping: " + std::to_string(dropped) + " event" + (dropped == 1 ? "" : "s") +
               " not delivered within " +
               (options_.drain_limit.count() % 1000 == 0 ? std::to_string(options_.drain_limit.count() / 1000) + "s"
                                                         : std::to_string(options_.drain_limit.count()) + "ms") +
               " dropped");
        }
        return;
      }
    }
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    bool ok = false;
    try {
      ok = Deliver(Build(p));
    } catch (const std::exception& e) {
      if (log_) log_(std::string("openlineage: cannot build the event: ") + e.what());
    }
    lock.lock();
    ++(ok ? delivered_ : failed_);
  }
}

std::string Emitter::Build(const Pending& p) {
  json event = {{"eventType", p.event_type},
                {"eventTime", FormatIso8601(p.at)},
                {"producer", kProducer},
                {"schemaURL", kRunEventSchema}};
  const std::string dag_run_uuid = RunUuid(p.run_id);
  json inputs = json::array(), outputs = json::array();
  if (p.task_id.empty()) {
    json facets = json::object();
    if (p.interval_start && p.interval_end) {
      facets["nominalTime"] = {{"_producer", kProducer},
                               {"_schemaURL", kNominalTimeFacetSchema},
                               {"nominalStartTime", FormatIso8601(*p.interval_start)},
                               {"nominalEndTime", FormatIso8601(*p.interval_end)}};
    }
    if (p.event_type == "FAIL") {
      // What failed: the run's failed tasks and their errors.
      std::string message;
      int failed = 0;
      for (const TaskInstanceRecord& t : store_.GetTaskInstances(p.run_id)) {
        if (t.state != TaskState::kFailed) continue;
        if (++failed <= 3) message += std::string(message.empty() ? "" : "; ") + "task '" + t.task_id + "' failed: " + t.error;
      }
      if (failed > 3) message += "; and " + std::to_string(failed - 3) + " more";
      if (!message.empty()) {
        facets["errorMessage"] = {{"_producer", kProducer},
                                  {"_schemaURL", kErrorFacetSchema},
                                  {"message", message},
                                  {"programmingLanguage", "C++"}};
      }
    }
    event["run"] = {{"runId", dag_run_uuid}, {"facets", facets}};
    event["job"] = {{"namespace", options_.job_namespace}, {"name", p.dag_id}, {"facets", {{"jobType", JobTypeFacet("DAG")}}}};
  } else {
    json facets = {{"parent",
                    {{"_producer", kProducer},
                     {"_schemaURL", kParentFacetSchema},
                     {"run", {{"runId", dag_run_uuid}}},
                     {"job", {{"namespace", options_.job_namespace}, {"name", p.dag_id}}}}}};
    if (p.event_type == "FAIL" && !p.reason.empty()) {
      facets["errorMessage"] = {{"_producer", kProducer},
                                {"_schemaURL", kErrorFacetSchema},
                                {"message", p.reason},
                                {"programmingLanguage", "C++"}};
    }
    event["run"] = {{"runId", RunUuid(TaskKey(p.run_id, p.task_id, p.try_number))}, {"facets", facets}};
    event["job"] = {{"namespace", options_.job_namespace},
                    {"name", p.dag_id + "." + JobTask(p.task_id)},
                    {"facets", {{"jobType", JobTypeFacet("TASK")}}}};
    if (p.event_type != "START") {
      // What the try wrote, and what it had read (recorded with each artifact).
      std::map<std::string, std::vector<ArtifactRecord>> runs;
      auto artifacts_of = [&](const std::string& run_id) -> const std::vector<ArtifactRecord>& {
        auto it = runs.find(run_id);
        if (it == runs.end()) it = runs.emplace(run_id, store_.ListArtifacts(run_id)).first;
        return it->second;
      };
      std::set<std::string> seen_inputs;
      auto add_input = [&](json dataset) {
        if (seen_inputs.insert(dataset["namespace"].get<std::string>() + "\n" + dataset["name"].get<std::string>()).second) {
          inputs.push_back(std::move(dataset));
        }
      };
      auto schema_facet = [](const json& schema) {
        json fields = json::array();
        for (const json& c : schema.value("columns", json::array())) {
          fields.push_back({{"name", c.value("name", "")}, {"type", c.value("type", "")}});
        }
        return json{{"_producer", kProducer}, {"_schemaURL", kSchemaFacetSchema}, {"fields", fields}};
      };
      // The datasets of what a try read (an artifact's inputs_json).
      auto add_reads = [&](const std::string& inputs_json) {
        const json read = json::parse(inputs_json.empty() ? "[]" : inputs_json, nullptr, false);
        if (!read.is_array()) return;
        for (const json& in : read) {
          if (!in.is_object()) continue;
          if (in.contains("file")) {
            add_input({{"namespace", "file"}, {"name", in["file"].value("path", "")}});
          } else if (in.contains("query")) {
            // A query of one table is that table (as an export to it names it), else its text.
            const std::string source = in["query"].value("source", ""), text = in["query"].value("query", "");
            const std::optional<std::string> table = SingleTable(text);
            add_input(table ? Dataset(source, *table, /*is_table=*/true) : Dataset(source, text, /*is_table=*/false));
          } else if (in.contains("model") && in["model"].is_object()) {
            // A model version: the train task's model file, by the name its writer gave it.
            const json& m = in["model"];
            const int version = m.contains("version") && m["version"].is_number_integer() ? m["version"].get<int>() : 0;
            if (auto v = store_.GetModelVersion(m.value("name", ""), version)) {
              json lineage = json::parse(v->lineage_json, nullptr, false);
              const std::string train_run = lineage.is_object() ? lineage.value("run_id", "") : "";
              const std::string train_task = lineage.is_object() ? lineage.value("task_id", "") : "";
              if (auto run = store_.GetRun(train_run); run && !train_task.empty()) {
                add_input({{"namespace", options_.job_namespace},
                           {"name", run->dag_id + "." + JobTask(train_task) + ".model"}});
              }
            }
          } else if (in.contains("artifact")) {
            // Another task's table, by the name its writer gave it.
            const json& ref = in["artifact"];
            const std::string ref_run = ref.value("run", "");
            std::string ref_dag = ref_run == p.run_id ? p.dag_id : "";
            if (ref_dag.empty()) {
              if (auto run = store_.GetRun(ref_run)) ref_dag = run->dag_id;
            }
            if (!ref_dag.empty()) {
              add_input({{"namespace", options_.job_namespace},
                         {"name", ref_dag + "." + JobTask(ref.value("task", "")) + "." + ref.value("name", "output")}});
            }
          }
        }
      };
      for (const ArtifactRecord& a : artifacts_of(p.run_id)) {
        if (a.task_id != p.task_id) continue;
        if (p.started && (a.created_at < *p.started || a.created_at > p.at)) continue;  // another try's
        if (a.name == "export") {
          // An export's datasets are where its rows went (the artifact says).
          std::ifstream in(a.uri);
          json doc = json::parse(in, nullptr, false);
          if (doc.is_object()) {
            for (const json& d : doc.value("datasets", json::array())) {
              json dataset = Dataset(d.value("namespace", ""), d.value("name", ""), /*is_table=*/true);
              dataset["facets"] = {{"schema", schema_facet(doc.value("schema", json::object()))}};
              outputs.push_back(std::move(dataset));
            }
          }
        } else {
          // A task's table is one dataset across runs, DAG.TASK.NAME (its
          // file, whose path holds the run id, is the symlinks facet's
          // location), so that Marquez keeps its versions under one name.
          json dataset = {{"namespace", options_.job_namespace},
                          {"name", p.dag_id + "." + JobTask(p.task_id) + "." + a.name},
                          {"facets",
                           {{"symlinks",
                             {{"_producer", kProducer},
                              {"_schemaURL", kSymlinksFacetSchema},
                              {"identifiers", {{{"namespace", "file"}, {"name", a.uri}, {"type", "LOCATION"}}}}}}}}};
          json schema = json::parse(a.schema_json, nullptr, false);
          if (schema.is_object() && schema.contains("columns")) dataset["facets"]["schema"] = schema_facet(schema);
          outputs.push_back(std::move(dataset));
        }
        add_reads(a.inputs_json);
      }
      // What the try read, as it said at its end: a failed try has no
      // artifact that records it.
      add_reads(p.inputs_json);
    }
  }
  event["inputs"] = inputs;
  event["outputs"] = outputs;
  return event.dump();
}

bool Emitter::Deliver(const std::string& event) {
  if (!file_.empty()) {
    std::ofstream out(file_, std::ios::app | std::ios::binary);
    out << event << '\n';
    bool was_down;
    {
      std::lock_guard lock(mu_);
      was_down = receiver_down_;
      receiver_down_ = !out.flush();
      if (!receiver_down_) return true;
    }
    // The first failure is said; the next ones only once one succeeded.
    if (log_ && !was_down) log_("openlineage: cannot append to " + file_ + " (later failures are not logged until one succeeds)");
    return false;
  }
  std::string last_error;
  // After a failed event, or while stopping, one attempt each: a receiver
  // that is down must not hold the queue (or the process's exit) up.
  int attempts = options_.attempts;
  {
    std::lock_guard lock(mu_);
    if (stop_ || receiver_down_) attempts = 1;
  }
  int made = 0;
  for (int attempt = 0; attempt < attempts; ++attempt, ++made) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500 << (attempt - 1)));
    net::PostResult r = net::PostJson(url_, event, std::chrono::seconds(5), "pipe-openlineage", authorization_);
    if (r.ok()) {
      uint64_t lost;
      {
        std::lock_guard lock(mu_);
        lost = receiver_down_ ? lost_while_down_ : 0;
        receiver_down_ = false;
        lost_while_down_ = 0;
      }
      if (lost > 0 && log_) {
        log_("openlineage: delivering to " + net::Shown(url_) + " again; " + std::to_string(lost) + " event" +
             (lost == 1 ? " was" : "s were") + " lost meanwhile");
      }
      return true;
    }
    last_error = r.error;
    // A refusal (400, 401, 404, ...) would be refused again; a timeout or
    // too many requests (408, 429) may pass later.
    if (r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429) {
      ++made;
      break;
    }
  }
  bool was_down;
  {
    std::lock_guard lock(mu_);
    was_down = receiver_down_;
    receiver_down_ = true;
    ++lost_while_down_;
  }
  if (log_ && !was_down) {
    log_("openlineage: cannot deliver an event to " + net::Shown(url_) + " after " +
         std::to_string(made) + (made == 1 ? " attempt: " : " attempts: ") + last_error +
         " (later events get one attempt each until one is delivered)");
  }
  return false;
}

}  // namespace pipeline::openlineage
