// pipectl predict NAME[@ALIAS|:VERSION] --json ROWS|@FILE: scores raw rows
// with a registered version, through the daemon (--server, PIPE_SERVER or
// http://127.0.0.1:8080, as the contract says of commands that act on a
// daemon) or, with --local, in this process on the state store, with the
// same ml::Predictor the daemon uses. Prints the predict endpoint's JSON.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json_depth.h"
#include "serving/model_server.h"
#include "store/model_ref.h"

namespace pipeline::cli {

namespace {

using nlohmann::json;

// The rows of --json: a list of objects, one object, or {"rows": [...]};
// "@FILE" reads them from FILE ("@-": standard input).
json PredictRows(const std::string& text) {
  std::string source = text;
  if (text.rfind('@', 0) == 0) {
    const std::string path = text.substr(1);
    std::stringstream in;
    if (path == "-") {
      in << std::cin.rdbuf();
    } else {
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) throw Error::InvalidArgument("cannot read " + path + ": it is a folder");
      std::ifstream file(path, std::ios::binary);
      if (!file) throw Error::InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
      in << file.rdbuf();
    }
    source = in.str();
  }
  if (JsonNestingDepth(source) > kMaxJsonDepth) {
    throw Error::InvalidArgument("--json: nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  // A key given twice in one object: the daemon refuses such a row ("column
  // 'X' is given twice"); parsing into a json would keep only the last.
  std::vector<std::set<std::string>> keys;  // of the objects open
  std::string twice;
  json rows = json::parse(
      source,
      [&](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
        if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            twice.empty()) {
          twice = parsed.get<std::string>();
        }
        return true;
      },
      false);
  if (rows.is_discarded()) throw Error::InvalidArgument("--json: not valid JSON");
  if (!twice.empty()) throw Error::InvalidArgument("--json: key '" + twice + "' is given twice in one object");
  if (rows.is_object() && rows.contains("rows")) rows = rows["rows"];
  if (rows.is_object()) rows = json::array({rows});
  if (!rows.is_array()) throw Error::InvalidArgument("--json: expected a list of rows (objects), one row, or {\"rows\": [...]}");
  return rows;
}

}  // namespace

int Predict(const GlobalOptions& g, const PredictOptions& options) {
  std::string error;
  auto ref = ParseModelRef(options.model, &error);
  if (!ref) {
    std::cerr << "pipectl: " << error << "\n";
    return kExitUsage;
  }
  json rows = PredictRows(options.rows);
  if (!options.local) {
    if (ref->version > 0) {
      std::cerr << "pipectl: the daemon serves aliases, not numbered versions: use NAME@ALIAS, or score version "
                << ref->version << " in this process with --local\n";
      return kExitUsage;
    }
    return PredictRemote(g, *ref, rows);
  }
  auto store = OpenStore(g);
  auto version = ResolveModelRef(*store, *ref, &error);
  if (!version) {
    std::cerr << "pipectl: " << error << "\n";
    return kExitFailed;
  }
  // The daemon's code: the version's predictor and its DAG's online
  // features (rows that carry a key get the features they lack), all cores.
  ModelServerOptions serving;
  serving.warn = [](const std::string& line) { std::cerr << "pipectl: " << line << "\n"; };
  ModelServer models(*store, serving);
  std::shared_ptr<const Deployment> deployment;
  try {
    deployment = models.LoadVersion(version->name, version->version);
  } catch (const Error& e) {  // the version's file: the prediction failed
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitFailed;
  }
  try {
    std::cout << models.PredictWith(*deployment, json{{"rows", rows}}.dump()) << "\n";
    return kExitOk;
  } catch (const Error& e) {  // the rows given: a usage error, as the daemon's 400; else the prediction failed
    std::cerr << "pipectl: " << e.what() << "\n";
    return e.code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailed;
  }
}

}  // namespace pipeline::cli
