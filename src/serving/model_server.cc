#include "serving/model_server.h"

#include <set>

#include "core/error.h"
#include "store/state_store.h"

namespace pipeline {

namespace {

using nlohmann::json;

// The alias -> version map of one model, read once per refresh.
std::map<std::string, int> Aliases(StateStore& store, const std::string& name) {
  std::map<std::string, int> out;
  for (const ModelAliasRecord& a : store.GetModelAliases(name)) out[a.alias] = a.version;
  return out;
}

json Scores(const Deployment& d, const std::vector<double>& scores, json* labels) {
  json predictions = json::array();
  for (double s : scores) predictions.push_back(s);
  if (d.predictor->classifier() && labels) {
    *labels = json::array();
    for (double s : scores) labels->push_back(s >= 0.5 ? 1 : 0);
  }
  return predictions;
}

}  // namespace

ModelServer::ModelServer(StateStore& store, ModelServerOptions options) : store_(store), options_(std::move(options)) {}

ModelServer::~ModelServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void ModelServer::Start() {
  if (!poller_.joinable()) poller_ = std::thread([this] { PollLoop(); });
}

void ModelServer::PollLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      std::vector<std::string> errors;
      Refresh(&errors);
      if (options_.log) {
        for (const auto& e : errors) options_.log(e);
      }
    } catch (const std::exception& e) {
      if (options_.log) options_.log(std::string("model refresh failed: ") + e.what());
    }
    lock.lock();
    cv_.wait_for(lock, options_.poll, [&] { return stopping_; });
  }
}

std::shared_ptr<const Deployment> ModelServer::Load(const std::string& name, const std::string& alias, int version) {
  auto v = store_.GetModelVersion(name, version);
  if (!v) throw Error::NotFound("model '" + name + "' has no version " + std::to_string(version));
  auto d = std::make_shared<Deployment>();
  d->name = name;
  d->alias = alias;
  d->version = version;
  try {
    d->predictor = ml::Predictor::Load({v->format, v->uri, v->kind, v->features_json, v->transforms_json}, 1);
  } catch (const ml::ModelError& e) {
    throw Error::Unavailable("model '" + name + "' version " + std::to_string(version) + " cannot be loaded: " + e.what());
  }
  d->loaded_at = SystemClock().Now();
  return d;
}

int ModelServer::Refresh(std::vector<std::string>* errors) {
  std::lock_guard refresh(refresh_mu_);
  std::set<std::pair<std::string, std::string>> wanted;
  for (const ModelSummary& m : store_.ListModels()) wanted.insert({m.name, "production"});
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, d] : deployments_) wanted.insert(key);
  }
  std::map<std::string, std::map<std::string, int>> aliases;
  int changed = 0;
  for (const auto& key : wanted) {
    const auto& [name, alias] = key;
    if (!aliases.count(name)) aliases[name] = Aliases(store_, name);
    auto it = aliases[name].find(alias);
    std::shared_ptr<const Deployment> current = Loaded(name, alias);
    if (it == aliases[name].end()) {
      if (current) {  // the alias was removed
        std::lock_guard lock(mu_);
        deployments_.erase(key);
        ++changed;
      }
      continue;
    }
    if (current && current->version == it->second) continue;
    try {
      auto next = Load(name, alias, it->second);  // beside the one serving
      {
        std::lock_guard lock(mu_);
        deployments_[key] = std::move(next);
      }
      ++changed;
      if (options_.log) {
        options_.log("serving " + name + "@" + alias + " version " + std::to_string(it->second) +
                     (current ? " (was " + std::to_string(current->version) + ")" : ""));
      }
    } catch (const Error& e) {
      if (errors) errors->push_back(e.what());
    }
  }
  return changed;
}

std::shared_ptr<const Deployment> ModelServer::Loaded(const std::string& name, const std::string& alias) const {
  std::lock_guard lock(mu_);
  auto it = deployments_.find({name, alias});
  return it == deployments_.end() ? nullptr : it->second;
}

std::shared_ptr<const Deployment> ModelServer::Get(const std::string& name, const std::string& alias) {
  if (auto d = Loaded(name, alias)) return d;
  std::lock_guard refresh(refresh_mu_);
  if (auto d = Loaded(name, alias)) return d;
  std::map<std::string, int> a = Aliases(store_, name);
  auto it = a.find(alias);
  if (it == a.end()) {
    if (store_.ListModelVersions(name).empty()) throw Error::NotFound("no model '" + name + "'");
    throw Error::NotFound("model '" + name + "' has no alias '" + alias +
                          "' (deploy a version with a serve task or pipectl models alias)");
  }
  auto d = Load(name, alias, it->second);
  std::lock_guard lock(mu_);
  deployments_[{name, alias}] = d;
  return d;
}

json ModelServer::Predict(const std::string& name, const std::string& alias, const json& body) {
  if (!body.is_object() || !body.contains("rows") || !body["rows"].is_array()) {
    throw Error::InvalidArgument("the body must be {\"rows\": [{column: value, ...}, ...]}");
  }
  std::shared_ptr<const Deployment> d = Get(name, alias);  // held to the end: a swap cannot free it
  try {
    std::vector<double> scores = d->predictor->Predict(*d->predictor->RowsToTable(body["rows"]));
    json out = {{"model", d->name}, {"version", d->version}};
    json labels;
    out["predictions"] = Scores(*d, scores, &labels);
    if (!labels.is_null()) out["labels"] = labels;
    return out;
  } catch (const ml::ModelError& e) {
    throw Error::InvalidArgument(e.what());
  }
}

json ModelServer::Infer(const std::string& name, const std::string& alias, const json& body) {
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].empty()) {
    throw Error::InvalidArgument("the body must hold \"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]");
  }
  json columns = json::object();
  int64_t rows = -1;
  for (const json& input : body["inputs"]) {
    if (!input.is_object() || !input.contains("name") || !input["name"].is_string() || !input.contains("data") ||
        !input["data"].is_array() || !input.contains("shape") || !input["shape"].is_array() || input["shape"].empty() ||
        !input["shape"][0].is_number_integer()) {
      throw Error::InvalidArgument("each input needs \"name\", \"shape\" and \"data\"");
    }
    const std::string input_name = input["name"].get<std::string>();
    int64_t n = input["shape"][0].get<int64_t>();
    for (size_t k = 1; k < input["shape"].size(); ++k) {
      if (!input["shape"][k].is_number_integer() || input["shape"][k].get<int64_t>() != 1) {
        throw Error::InvalidArgument("input '" + input_name + "': shape must be [N] or [N, 1] (one feature per input)");
      }
    }
    if (rows >= 0 && n != rows) throw Error::InvalidArgument("input '" + input_name + "' has " + std::to_string(n) + " rows, others " + std::to_string(rows));
    rows = n;
    json flat = json::array();  // [v, ...], or [[v], ...] for shape [N, 1]
    for (const json& v : input["data"]) flat.push_back(v.is_array() && v.size() == 1 ? v[0] : v);
    columns[input_name] = std::move(flat);
  }
  std::shared_ptr<const Deployment> d = Get(name, alias);
  try {
    std::vector<double> scores = d->predictor->Predict(*d->predictor->ColumnsToTable(columns, rows));
    json labels;
    json outputs = json::array();
    json predictions = Scores(*d, scores, &labels);
    outputs.push_back({{"name", "predict"}, {"datatype", "FP64"}, {"shape", {rows}}, {"data", predictions}});
    if (!labels.is_null()) outputs.push_back({{"name", "label"}, {"datatype", "INT64"}, {"shape", {rows}}, {"data", labels}});
    json out = {{"model_name", d->name}, {"model_version", std::to_string(d->version)}, {"outputs", outputs}};
    if (body.contains("id") && body["id"].is_string()) out["id"] = body["id"];
    return out;
  } catch (const ml::ModelError& e) {
    throw Error::InvalidArgument(e.what());
  }
}

}  // namespace pipeline
