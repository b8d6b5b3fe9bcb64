// The pipectl commands that talk to the daemon (and the read commands when
// --server or PIPE_SERVER is given).

#include <unistd.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/live_view.h"
#include "core/dag_spec.h"
#include "core/error.h"
#include "dag/params.h"
#include "dag/yaml_reader.h"
#include "store/model_ref.h"
#include "views/dag_view.h"
#include "views/lineage_view.h"
#include "views/model_view.h"
#include "views/run_view.h"

namespace pipeline::cli {

namespace {

using nlohmann::json;

ApiClient Client(const GlobalOptions& g) {
  std::string server = g.server;
  if (server.empty()) {
    const char* env = std::getenv("PIPE_SERVER");
    server = env && *env ? env : "http://127.0.0.1:8080";
  }
  std::string token = g.token;
  if (token.empty()) {
    const char* env = std::getenv("PIPE_TOKEN");
    if (env) token = env;
  }
  return ApiClient(server, token);
}

// Maps an HTTP error to the exit codes of interfaces.md, after saying why.
int Fail(const HttpResponse& r) {
  std::cerr << "pipectl: " << ErrorMessage(r);
  // How to give a token, which the daemon's message cannot say.
  if (r.status == 401) std::cerr << " (pass one with --token or PIPE_TOKEN)";
  if (r.status == 403) std::cerr << " (pass a token of role operator or admin with --token or PIPE_TOKEN)";
  std::cerr << "\n";
  if (r.status == 400 || r.status == 413) return kExitUsage;
  if (r.status == 503) return kExitUnavailable;
  return kExitFailed;
}

json Call(ApiClient& client, const std::string& method, const std::string& target, const std::string& body,
          int* exit_code) {
  HttpResponse r = client.Request(method, target, body);
  if (r.status / 100 != 2) {
    *exit_code = Fail(r);
    return nullptr;
  }
  *exit_code = kExitOk;
  if (r.content_type.rfind("application/json", 0) != 0) return json(r.body);
  return json::parse(r.body, nullptr, false);
}

// A --param value, read as YAML, as the JSON the API takes (as written:
// ParamValueJson).
json ParamJson(const std::string& name, const std::string& text) {
  std::string error;
  DocNode::Ptr node = ReadParamValue(name, text, &error);
  if (!node) throw Error::InvalidArgument(error);
  return json::parse(ParamValueJson(*node));
}

// Follows a run through the API with the live view (none with --json: stdout
// holds the JSON only); returns its final state.
std::string Follow(ApiClient& client, const std::string& run_id, bool json_out, int* exit_code) {
  json run = Call(client, "GET", "/api/v1/runs/" + PathSegment(run_id), "", exit_code);
  if (*exit_code != kExitOk) return "";
  DagSpec spec;
  spec.id = run["dag_id"];
  for (const auto& t : run["tasks"]) {
    TaskSpec task;
    task.id = t["task_id"];
    task.retry.retries = t["max_tries"].get<int>() - 1;
    spec.tasks.push_back(task);
  }
  std::ostream discard(nullptr);  // no buffer: writes go nowhere
  LiveView view(spec, !json_out && isatty(STDOUT_FILENO), json_out ? discard : std::cout);
  std::map<std::string, std::pair<std::string, int>> seen;
  for (;;) {
    for (const auto& t : run["tasks"]) {
      std::pair<std::string, int> now{t["state"], t["try"]};
      std::string id = t["task_id"];
      if (seen[id] == now) continue;
      seen[id] = now;
      std::string error = t["error"].is_string() ? t["error"].get<std::string>() : "";
      view.OnTaskState(
          {run_id, id, *ParseTaskState(now.first), now.second, SystemClock::Default()->Now(), error, spec.id});
    }
    std::string state = run["state"];
    if (state == "success" || state == "failed" || state == "cancelled") {
      view.Stop();
      return state;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    run = Call(client, "GET", "/api/v1/runs/" + PathSegment(run_id), "", exit_code);
    if (*exit_code != kExitOk) return "";
  }
}

}  // namespace

int Trigger(const GlobalOptions& g, const TriggerOptions& options) {
  json params = json::object();
  for (const std::string& p : options.params) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "pipectl: --param " << p << ": expected NAME=VALUE\n";
      return kExitUsage;
    }
    params[p.substr(0, eq)] = ParamJson(p.substr(0, eq), p.substr(eq + 1));
  }
  ApiClient client = Client(g);
  int rc;
  json created = Call(client, "POST", "/api/v1/dags/" + PathSegment(options.dag_id) + "/runs",
                      json{{"params", params}}.dump(), &rc);
  if (rc != kExitOk) return rc;
  std::string run_id = created["run_id"];
  if (!options.wait) {
    std::cout << (g.json ? created.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) : run_id) << "\n";
    return kExitOk;
  }
  if (!g.json) std::cout << "run " << run_id << " of dag '" << options.dag_id << "'\n";
  // Said at once: a paused DAG's run waits in queued until it is unpaused.
  int dag_rc = kExitOk;
  const json dag = Call(client, "GET", "/api/v1/dags/" + PathSegment(options.dag_id), "", &dag_rc);
  if (dag.is_object() && dag.value("paused", false)) {
    std::cerr << "pipectl: DAG '" << options.dag_id << "' is paused: the run waits in queued until it is unpaused "
              << "(pipectl dags unpause " << options.dag_id << ")\n";
  }
  std::string state = Follow(client, run_id, g.json, &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << json{{"run_id", run_id}, {"state", state}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\nrun " << run_id << " " << state << "\n";
  }
  return state == "success" ? kExitOk : kExitFailed;
}

int DagsList(const GlobalOptions& g) {
  if (!UseServer(g)) return DagsListLocal(g);
  ApiClient client = Client(g);
  int rc;
  json body = Call(client, "GET", "/api/v1/dags", "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  PrintDagsTable(body["dags"]);
  for (const auto& e : body["load_errors"]) {  // as validate prints them: a whole-file error has no position
    const int line = e.value("line", 0);
    std::cerr << e["file"].get<std::string>()
              << (line > 0 ? ":" + std::to_string(line) + ":" + std::to_string(e.value("column", 0)) : std::string())
              << ": " << e["message"].get<std::string>() << "\n";
  }
  return kExitOk;
}

int DagsShow(const GlobalOptions& g, const std::string& dag_id) {
  if (!UseServer(g)) return DagsShowLocal(g, dag_id);
  ApiClient client = Client(g);
  int rc;
  json d = Call(client, "GET", "/api/v1/dags/" + PathSegment(dag_id), "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << d.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  PrintDag(d);
  return kExitOk;
}

int DagsPause(const GlobalOptions& g, const std::string& dag_id, bool paused) {
  ApiClient client = Client(g);
  int rc;
  json d = Call(client, "PATCH", "/api/v1/dags/" + PathSegment(dag_id), json{{"paused", paused}}.dump(), &rc);
  if (rc != kExitOk) return rc;
  std::cout << (g.json ? d.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) : "dag '" + dag_id + "' " + (paused ? "paused" : "unpaused")) << "\n";
  return kExitOk;
}

int RunsCancel(const GlobalOptions& g, const std::string& run_id) {
  ApiClient client = Client(g);
  int rc;
  json r = Call(client, "POST", "/api/v1/runs/" + PathSegment(run_id) + "/cancel", "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << r.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    const std::string state = r["state"].get<std::string>();
    if (!r["cancelled"].get<bool>()) {
      std::cout << "run " << run_id << " had already ended (" << state << ")\n";
    } else if (state == "cancelled") {
      std::cout << "run " << run_id << " cancelled\n";
    } else {  // its coordinator stops it: at once here, within seconds elsewhere, at takeover if it died
      std::cout << "run " << run_id << ": cancel asked of its coordinator (the run ends cancelled when its tries stop)\n";
    }
  }
  return r["cancelled"].get<bool>() ? kExitOk : kExitFailed;
}

int RunsClear(const GlobalOptions& g, const std::string& run_id, const std::string& task_id, bool downstream) {
  ApiClient client = Client(g);
  int rc;
  json r = Call(client, "POST", "/api/v1/runs/" + PathSegment(run_id) + "/tasks/" + PathSegment(task_id) + "/clear",
                json{{"downstream", downstream}}.dump(), &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << r.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "task '" << task_id << "'" << (downstream ? " and the tasks after it" : "") << " cleared: run "
              << run_id << " is " << r["state"].get<std::string>() << "\n";
  }
  return kExitOk;
}

int Backfill(const GlobalOptions& g, const BackfillOptions& options) {
  ApiClient client = Client(g);
  int rc;
  json r = Call(client, "POST", "/api/v1/dags/" + PathSegment(options.dag_id) + "/backfill",
                json{{"from", options.from}, {"to", options.to}, {"rerun", options.rerun}}.dump(), &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << r.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << r["runs"].size() << " run" << (r["runs"].size() == 1 ? "" : "s") << " created";
    if (const int skipped = r.value("skipped", 0); skipped > 0) {
      std::cout << " (" << skipped << " tick" << (skipped == 1 ? " of the range already has a run" : "s of the range already have runs")
                << ": --rerun runs them again)";
    }
    std::cout << "\n";
    for (const auto& id : r["runs"]) std::cout << id.get<std::string>() << "\n";
  }
  return kExitOk;
}

int ListRunsRemote(const GlobalOptions& g, const ListRunsOptions& options) {
  ApiClient client = Client(g);
  std::string target = "/api/v1/runs?limit=" + std::to_string(options.limit);
  if (!options.dag.empty()) target += "&dag_id=" + options.dag;
  if (!options.state.empty()) target += "&state=" + options.state;
  int rc;
  json page = Call(client, "GET", target, "", &rc);
  if (rc != kExitOk) return rc;
  if (page["runs"].empty() && !options.dag.empty()) {  // a typo is no "no runs": the daemon says 404 if so
    Call(client, "GET", "/api/v1/dags/" + PathSegment(options.dag), "", &rc);
    if (rc != kExitOk) return rc;
  }
  if (g.json) {
    std::cout << page["runs"].dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << views::RunsTable(page["runs"]);
  return kExitOk;
}

int ShowRunRemote(const GlobalOptions& g, const std::string& run_id) {
  ApiClient client = Client(g);
  int rc;
  json run = Call(client, "GET", "/api/v1/runs/" + PathSegment(run_id), "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << run.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::cout << views::RunHeader(run) << "\n" << views::TaskTable(run)
            << views::ValidationReports(run, [&](const std::string& task, const json&) -> std::optional<json> {
                 HttpResponse r = client.Request("GET", "/api/v1/runs/" + PathSegment(run_id) + "/tasks/" +
                                                            PathSegment(task) + "/artifacts/report");
                 if (r.status != 200) return std::nullopt;
                 json document = json::parse(r.body, nullptr, false);  // {"task_id", "name", "content_hash", "content"}
                 if (!document.is_object() || !document.contains("content")) return std::nullopt;
                 return std::optional<json>(document["content"]);
               });
  return kExitOk;
}

int LogsRemote(const GlobalOptions& g, const LogsOptions& options) {
  ApiClient client = Client(g);
  std::string base = "/api/v1/runs/" + PathSegment(options.run_id) + "/tasks/" + PathSegment(options.task_id) + "/logs";
  size_t printed = 0;
  int try_number = options.try_number;
  if (g.json && try_number == 0) {  // the task's latest try, named in the output (and asked for by number)
    int rc;
    json run = Call(client, "GET", "/api/v1/runs/" + PathSegment(options.run_id), "", &rc);
    if (rc != kExitOk) return rc;
    for (const auto& t : run["tasks"]) {
      if (t["task_id"] == options.task_id && t["try"].is_number_integer()) try_number = t["try"];
    }
  }
  for (;;) {
    std::string target = base + (try_number > 0 ? "?try=" + std::to_string(try_number) : "");
    HttpResponse r = client.Request("GET", target);
    // --follow waits for a task that has not started yet (not for one that
    // ended without a try: the answer says "did not run").
    if (r.status == 404 && options.follow && r.body.find("has not started") != std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (r.status != 200) return Fail(r);
    if (g.json) {  // (not with --follow)
      std::cout << LogJson(options.run_id, options.task_id, try_number, r.body) << "\n";
      return kExitOk;
    }
    if (r.body.size() > printed) {
      std::cout << r.body.substr(printed) << std::flush;
      printed = r.body.size();
    }
    if (!options.follow) return kExitOk;
    int rc;
    json run = Call(client, "GET", "/api/v1/runs/" + PathSegment(options.run_id), "", &rc);
    if (rc != kExitOk) return rc;
    bool ended = true;
    for (const auto& t : run["tasks"]) {
      if (t["task_id"] == options.task_id) {
        std::string s = t["state"];
        ended = s != "running" && s != "queued" && s != "pending" && s != "up_for_retry" && s != "waiting";
      }
    }
    if (ended) {
      HttpResponse last = client.Request("GET", target);
      if (last.status == 200 && last.body.size() > printed) std::cout << last.body.substr(printed);
      return kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int PredictRemote(const GlobalOptions& g, const ModelRef& ref, const json& rows) {
  ApiClient client = Client(g);
  int rc;
  std::string target = "/api/v1/models/" + PathSegment(ref.name) + "/predict";
  if (!ref.alias.empty()) target += "?alias=" + ref.alias;
  HttpResponse r = client.Request("POST", target, json{{"rows", rows}}.dump());
  if (r.status / 100 != 2) return Fail(r);
  // The daemon's answer as it wrote it (its key order is --local's too).
  std::cout << r.body << (r.body.ends_with('\n') ? "" : "\n");
  return kExitOk;
}

int ModelsListRemote(const GlobalOptions& g) {
  ApiClient client = Client(g);
  int rc;
  json page = Call(client, "GET", "/api/v1/models", "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << page["models"].dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<ModelSummary> models;
  for (const json& m : page["models"]) {
    ModelSummary summary;
    summary.name = m["name"];
    summary.latest_version = m["latest_version"];
    summary.version_count = m["versions"];
    if (auto at = ParseIso8601(m["updated_at"].get<std::string>())) summary.updated_at = at->utc;
    for (const auto& [alias, version] : m["aliases"].items()) summary.aliases.push_back({summary.name, alias, version, {}});
    models.push_back(std::move(summary));
  }
  std::cout << views::ModelsTable(models);
  return kExitOk;
}

int LineageRemote(const GlobalOptions& g, const std::string& ref) {
  ApiClient client = Client(g);
  int rc = kExitOk;
  std::string target;
  if (auto artifact = views::SplitArtifactRef(ref)) {
    target = "/api/v1/lineage/runs/" + PathSegment(artifact->run_id) + "/tasks/" + PathSegment(artifact->task_id) + "/artifacts/" + PathSegment(artifact->name);
  } else {
    std::string error;
    auto model = ParseModelRef(ref, &error);
    if (!model) {
      std::cerr << "pipectl: '" << ref << "' is neither RUN_ID/TASK[/ARTIFACT] nor a model (" << error << ")\n";
      return kExitUsage;
    }
    int version = model->version;
    if (version == 0) {  // an alias (production for a bare name), else the latest version
      json summary = Call(client, "GET", "/api/v1/models/" + PathSegment(model->name), "", &rc);
      if (rc != kExitOk) return rc;
      const std::string alias = model->alias.empty() ? "production" : model->alias;
      const json aliases = summary.value("aliases", json::object());
      if (aliases.contains(alias)) {
        version = aliases[alias].get<int>();
      } else if (model->alias.empty()) {
        version = summary.value("latest_version", 0);
      } else {
        std::cerr << "pipectl: model '" << model->name << "' has no alias '" << alias << "'\n";
        return kExitFailed;
      }
    }
    target = "/api/v1/lineage/models/" + PathSegment(model->name) + "/versions/" + std::to_string(version);
  }
  json tree = Call(client, "GET", target, "", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << tree.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << views::LineageText(tree);
  }
  return kExitOk;
}

int ModelsShowRemote(const GlobalOptions& g, const ModelsShowOptions& options) {
  ApiClient client = Client(g);
  int rc;
  json model = Call(client, "GET", "/api/v1/models/" + PathSegment(options.name), "", &rc);
  if (rc != kExitOk) return rc;
  int version = options.version > 0 ? options.version : model.value("latest_version", 0);
  json v = Call(client, "GET", "/api/v1/models/" + PathSegment(options.name) + "/versions/" + std::to_string(version), "", &rc);
  if (rc != kExitOk) return rc;
  if (!g.json) {  // as without --server
    std::cout << views::ModelVersionText(v, model.value("alias_history", json::array()));
    if (options.version == 0 && model.value("versions", json::array()).size() > 1) {
      std::cout << "\nversions";
      for (const json& r : model["versions"]) std::cout << " v" << r.value("version", 0);
      std::cout << " (--version N shows one)\n";
    }
    return kExitOk;
  }
  json out = options.version > 0 ? v : json{{"model", model}, {"version", v}};
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return kExitOk;
}

// PUT .../aliases/ALIAS and POST .../rollback: printed as without --server.
int ModelsAliasRemote(const GlobalOptions& g, const ModelsAliasOptions& options) {
  ApiClient client = Client(g);
  int rc;
  json moved = Call(client, "PUT", "/api/v1/models/" + PathSegment(options.name) + "/aliases/" + PathSegment(options.alias),
                    json{{"version", options.version}}.dump(), &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {
    std::cout << json{{"name", options.name}, {"alias", options.alias}, {"version", moved["version"]}}.dump(2) << "\n";
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << moved["version"].get<int>() << "\n";
  }
  return kExitOk;
}

int ModelsRollbackRemote(const GlobalOptions& g, const ModelsRollbackOptions& options) {
  ApiClient client = Client(g);
  int rc;
  json moved = Call(client, "POST",
                    "/api/v1/models/" + PathSegment(options.name) + "/aliases/" + PathSegment(options.alias) + "/rollback",
                    "{}", &rc);
  if (rc != kExitOk) return rc;
  if (g.json) {  // as without the daemon (its answer also says what it serves)
    std::cout << json{{"name", options.name}, {"alias", options.alias}, {"version", moved["version"]}, {"was", moved["was"]}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << moved["version"].get<int>() << " (was "
              << moved["was"].get<int>() << ")\n";
  }
  return kExitOk;
}

}  // namespace pipeline::cli
