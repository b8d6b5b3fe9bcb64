// pipectl predict NAME[@ALIAS|:VERSION] --json ROWS|@FILE: scores raw rows
// with a registered version, through the daemon (--server, PIPE_SERVER or
// http://127.0.0.1:8080, as the contract says of commands that act on a
// daemon) or, with --local, in this process on the state store, with the
// same ml::Predictor the daemon uses. Prints the predict endpoint's JSON.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json_depth.h"
#include "ml/predictor.h"
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
      std::ifstream file(path, std::ios::binary);
      if (!file) throw Error::InvalidArgument("cannot read " + path);
      in << file.rdbuf();
    }
    source = in.str();
  }
  if (JsonNestingDepth(source) > kMaxJsonDepth) {
    throw Error::InvalidArgument("--json: nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json rows = json::parse(source, nullptr, false);
  if (rows.is_discarded()) throw Error::InvalidArgument("--json: not valid JSON");
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
  try {
    auto predictor = ml::Predictor::Load(
        {version->format, version->uri, version->kind, version->features_json, version->transforms_json,
         version->content_hash}, 0);
    std::vector<double> scores = predictor->PredictRows(rows.dump());
    json out = {{"model", version->name}, {"version", version->version}, {"predictions", scores}};
    if (predictor->classifier()) {
      json labels = json::array();
      for (double s : scores) labels.push_back(s >= 0.5 ? 1 : 0);
      out["labels"] = labels;
    }
    std::cout << out.dump() << "\n";
    return kExitOk;
  } catch (const ml::RowError& e) {  // the rows given: a usage error, as the daemon's 400
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitUsage;
  } catch (const ml::ModelError& e) {  // the version's file: the prediction failed
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace pipeline::cli
