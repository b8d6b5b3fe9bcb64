#include "serving/model_server.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <list>
#include <map>
#include <set>

#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "core/error.h"
#include "store/state_store.h"
#include "views/table_view.h"

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

// A request value as the key text ValueText gives the column's values.
std::string KeyText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    // An integral number is the integer (7.0 is 7, as for any int64 value);
    // else its shortest exact form, as ValueText writes a float64.
    const double d = v.get<double>();
    char buf[32];
    if (std::trunc(d) == d && std::abs(d) < 9007199254740992.0) return std::to_string(static_cast<int64_t>(d));
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, d).ptr);
  }
  return v.dump();
}

}  // namespace

int64_t OnlineTable::Find(const std::vector<std::string>& key) const {
  std::string joined;
  for (size_t i = 0; i < key.size(); ++i) joined += (i ? "\x1f" : "") + key[i];
  auto it = index.find(joined);
  return it == index.end() ? -1 : it->second;
}

int64_t OnlineTable::FindTexts(const std::vector<std::string>& texts) const {
  std::vector<std::string> key;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto idx = i < keys.size() ? table->schema().IndexOf(keys[i]) : std::nullopt;
    const columnar::DataType type = idx ? table->schema().field(*idx).type : columnar::DataType::kString;
    json number = type == columnar::DataType::kInt64 || type == columnar::DataType::kFloat64 ? json::parse(texts[i], nullptr, false) : json();
    key.push_back(number.is_number() ? KeyText(number) : texts[i]);
  }
  return Find(key);
}

std::optional<json> OnlineTable::Value(int64_t row, const std::string& name) const {
  auto idx = table->schema().IndexOf(name);
  if (!idx) return std::nullopt;
  return views::CellJson(*table->batch(0).columns[*idx], row);
}

json OnlineTable::Row(int64_t row) const {
  json keys_out = json::object(), features = json::object();
  for (const auto& f : table->schema().fields()) {
    const bool key = std::find(keys.begin(), keys.end(), f.name) != keys.end();
    (key ? keys_out : features)[f.name] = *Value(row, f.name);
  }
  return {{"keys", keys_out}, {"features", features}};
}

ModelServer::ModelServer(StateStore& store, ModelServerOptions options) : store_(store), options_(std::move(options)) {}

void ModelServer::Warn(const std::string& line) const {
  if (options_.warn) {
    options_.warn(line);
  } else if (options_.log) {
    options_.log(line);
  }
}

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

void ModelServer::Nudge() {
  {
    std::lock_guard lock(mu_);
    nudged_ = true;
  }
  cv_.notify_all();
}

void ModelServer::RefreshNow() {
  try {
    std::vector<std::string> errors;
    Refresh(&errors);
    for (const auto& e : errors) Warn(e);
  } catch (const std::exception& e) {
    Warn(std::string("model refresh failed: ") + e.what());
    Nudge();  // the poller tries again
  }
}

void ModelServer::PollLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    nudged_ = false;
    lock.unlock();
    RefreshNow();
    lock.lock();
    // Nudges come at most every kMinGap apart: a daemon whose short runs end
    // by the hundred a second refreshes ten times a second, not a hundred.
    constexpr std::chrono::milliseconds kMinGap{100};
    cv_.wait_for(lock, std::min(kMinGap, options_.poll), [&] { return stopping_; });
    cv_.wait_for(lock, options_.poll - std::min(kMinGap, options_.poll), [&] { return stopping_ || nudged_; });
  }
}

std::shared_ptr<const Deployment> ModelServer::LoadVersion(const std::string& name, int version, int threads) {
  return Load(name, "", version, threads);
}

std::shared_ptr<const Deployment> ModelServer::Load(const std::string& name, const std::string& alias, int version,
                                                    int threads) {
  auto v = store_.GetModelVersion(name, version);
  if (!v) throw Error::NotFound("model '" + name + "' has no version " + std::to_string(version));
  auto d = std::make_shared<Deployment>();
  d->name = name;
  d->alias = alias;
  d->version = version;
  try {
    d->predictor =
        ml::Predictor::Load({v->format, v->uri, v->kind, v->features_json, v->transforms_json, v->content_hash}, threads);
  } catch (const ml::ModelError& e) {
    throw Error::Unavailable("model '" + name + "' version " + std::to_string(version) + " cannot be loaded: " + e.what());
  }
  d->loaded_at = SystemClock().Now();
  json lineage = json::parse(v->lineage_json, nullptr, false);
  if (lineage.is_object() && lineage.value("dag_id", json()).is_string()) {
    d->dag = lineage["dag_id"].get<std::string>();
    try {
      d->online = OnlineTablesOf(d->dag);
    } catch (const Error& e) {  // the model serves; rows must then carry every input
      Warn(e.what());
    }
  }
  return d;
}

std::map<std::string, std::pair<std::string, std::string>> ModelServer::OnlineArtifacts(const std::string& dag) {
  // Only a run that succeeded puts its features online; they stay until a newer one does.
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const ArtifactRecord& a : store_.LatestSuccessArtifacts(dag, "online")) out[a.task_id] = {a.run_id, a.uri};
  return out;
}

std::shared_ptr<const OnlineTable> ModelServer::ReadOnline(const std::string& dag, const std::string& task,
                                                           const std::string& run_id, const std::string& uri) {
  {
    std::lock_guard lock(mu_);
    if (auto it = online_.find(uri); it != online_.end()) return it->second;
  }
  auto t = std::make_shared<OnlineTable>();
  t->dag = dag;
  t->task = task;
  t->run_id = run_id;
  t->uri = uri;
  try {
    t->table = columnar::Concatenate(*columnar::ReadParquetFile(uri));
  } catch (const std::exception& e) {
    throw Error::Unavailable("online features of " + dag + "." + task + " (" + uri + ") cannot be read: " + e.what());
  }
  auto meta = t->table->metadata().find("pipe.online_keys");
  json keys = meta == t->table->metadata().end() ? json() : json::parse(meta->second, nullptr, false);
  if (!keys.is_array() || keys.empty()) throw Error::Unavailable(uri + " has no pipe.online_keys metadata");
  for (const json& k : keys) t->keys.push_back(k.get<std::string>());
  std::vector<const columnar::Column*> key_columns;
  for (const std::string& k : t->keys) {
    auto idx = t->table->schema().IndexOf(k);
    if (!idx) throw Error::Unavailable(uri + " lacks its key column " + k);
    key_columns.push_back(t->table->num_batches() ? t->table->batch(0).columns[*idx].get() : nullptr);
  }
  for (int64_t r = 0; r < t->table->num_rows(); ++r) {
    std::string joined;
    for (size_t i = 0; i < key_columns.size(); ++i) joined += (i ? "\x1f" : "") + columnar::ValueText(*key_columns[i], r);
    t->index.emplace(std::move(joined), r);
  }
  std::lock_guard lock(mu_);
  return online_[uri] = t;
}

std::vector<std::shared_ptr<const OnlineTable>> ModelServer::OnlineTablesOf(const std::string& dag) {
  std::vector<std::shared_ptr<const OnlineTable>> out;
  for (const auto& [task, where] : OnlineArtifacts(dag)) out.push_back(ReadOnline(dag, task, where.first, where.second));
  return out;
}

std::shared_ptr<const OnlineTable> ModelServer::Online(const std::string& dag, const std::string& task) {
  auto artifacts = OnlineArtifacts(dag);
  auto it = artifacts.find(task);
  if (it == artifacts.end()) return nullptr;
  return ReadOnline(dag, task, it->second.first, it->second.second);
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
  std::map<std::string, std::vector<std::string>> online_uris;  // per DAG, read once per refresh
  int changed = 0;
  std::string not_serving;
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
    if (current && current->version == it->second) {
      // The same version; newer online features of its DAG swap in too.
      if (current->dag.empty()) continue;
      auto uris = online_uris.find(current->dag);
      if (uris == online_uris.end()) {
        std::vector<std::string> now;
        for (const auto& [task, where] : OnlineArtifacts(current->dag)) now.push_back(where.second);
        std::sort(now.begin(), now.end());
        uris = online_uris.emplace(current->dag, std::move(now)).first;
      }
      std::vector<std::string> then;
      for (const auto& t : current->online) then.push_back(t->uri);
      std::sort(then.begin(), then.end());
      if (uris->second == then) continue;
      try {
        auto next = std::make_shared<Deployment>(*current);
        next->online = OnlineTablesOf(current->dag);
        std::lock_guard lock(mu_);
        deployments_[key] = std::move(next);
        std::set<std::string> live;
        for (const auto& [k, d] : deployments_) {
          for (const auto& t : d->online) live.insert(t->uri);
        }
        std::erase_if(online_, [&](const auto& entry) { return !live.count(entry.first); });
      } catch (const Error& e) {
        if (errors) errors->push_back(e.what());
      }
      continue;
    }
    try {
      auto next = Load(name, alias, it->second);  // beside the one serving
      {
        std::lock_guard lock(mu_);
        deployments_[key] = std::move(next);
      }
      failed_.erase(key);
      ++changed;
      if (options_.log) {
        options_.log("serving " + name + "@" + alias + " version " + std::to_string(it->second) +
                     (current ? " (was " + std::to_string(current->version) + ")" : ""));
      }
    } catch (const Error& e) {
      // (The readiness route is open, for probes: its reason names the
      // version, not the file paths of the error, which the log has.)
      if (!current && not_serving.empty()) {
        not_serving = "model '" + name + "' version " + std::to_string(it->second) + " cannot be loaded (piped's log says why)";
      }
      // The version serving (if any) goes on serving, as KServe keeps the
      // last ready revision; tried again at each poll, said once.
      int& said = failed_[key];  // 0: nothing said yet (versions start at 1)
      if (said != it->second) {
        said = it->second;
        if (errors) {
          errors->push_back(std::string(e.what()) +
                            (current ? "; version " + std::to_string(current->version) + " goes on serving" : ""));
        }
      }
    }
  }
  std::lock_guard lock(mu_);
  refreshed_ = true;
  unready_ = std::move(not_serving);
  return changed;
}

bool ModelServer::Ready(std::string* why) const {
  std::lock_guard lock(mu_);
  if (!refreshed_) {
    *why = "the models are not loaded yet";
    return false;
  }
  *why = unready_;
  return unready_.empty();
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

std::string ModelServer::Predict(const std::string& name, const std::string& alias, std::string_view body) {
  std::shared_ptr<const Deployment> d = Get(name, alias);  // held to the end: a swap cannot free it
  return PredictWith(*d, body);
}

std::string ModelServer::PredictWith(const Deployment& deployment, std::string_view body) {
  const Deployment* d = &deployment;
  // Online features: a value a row lacks, from the table whose key it carries.
  std::list<json> found;  // stable addresses for the values handed out (empty: no allocation)
  auto online = [&](int64_t, const json& row, const std::string& column) -> const json* {
    if (!row.is_object()) return nullptr;
    for (const auto& table : d->online) {
      std::vector<std::string> key;
      for (const std::string& k : table->keys) {
        auto it = row.find(k);
        if (it == row.end() || it->is_null()) break;
        key.push_back(KeyText(*it));
      }
      if (key.size() != table->keys.size()) continue;
      const int64_t at = table->Find(key);
      if (at < 0) continue;
      if (auto v = table->Value(at, column)) return &found.emplace_back(std::move(*v));
    }
    return nullptr;
  };
  std::vector<double> scores;
  try {
    scores = d->predictor->PredictRows(body, d->online.empty() ? ml::Predictor::Extra() : online);
  } catch (const ml::RowError& e) {  // the rows: the request's fault
    throw Error::InvalidArgument(e.what());
  } catch (const ml::ModelError& e) {  // the model (a chain step, XGBoost): not the request's
    throw Error::Internal(e.what());
  }
  // The answer, written directly: numbers in their shortest exact form.
  std::string out = "{\"model\":" + json(d->name).dump() + ",\"version\":" + std::to_string(d->version) + ",\"predictions\":[";
  out.reserve(out.size() + scores.size() * 24 + 64);
  char buf[32];
  for (size_t i = 0; i < scores.size(); ++i) {
    if (i) out += ',';
    if (std::isfinite(scores[i])) {
      out.append(buf, std::to_chars(buf, buf + sizeof buf, scores[i]).ptr);
    } else {
      out += "null";
    }
  }
  out += ']';
  if (d->predictor->classifier()) {
    out += ",\"labels\":[";
    for (size_t i = 0; i < scores.size(); ++i) {
      if (i) out += ',';
      out += scores[i] >= 0.5 ? '1' : '0';
    }
    out += ']';
  }
  out += '}';
  return out;
}

namespace {

// The Open Inference Protocol's tensor datatype for an input of type `t`.
std::string DatatypeOf(columnar::DataType t) {
  switch (t) {
    case columnar::DataType::kInt64: return "INT64";
    case columnar::DataType::kFloat64: return "FP64";
    case columnar::DataType::kBool: return "BOOL";
    default: return "BYTES";
  }
}

// Whether a tensor declared `datatype` may feed an input of type `t`: any
// number type for a number input (numpy clients send FP32 or FP64 arrays;
// an int64 input still refuses a value that is not whole), BOOL and BYTES
// for the others.
bool TakesDatatype(columnar::DataType t, const std::string& datatype) {
  static const std::set<std::string> kNumbers = {"INT8",  "INT16",  "INT32",  "INT64", "UINT8", "UINT16",
                                                 "UINT32", "UINT64", "FP16", "FP32",  "FP64"};
  switch (t) {
    case columnar::DataType::kInt64:
    case columnar::DataType::kFloat64: return kNumbers.count(datatype) > 0;
    case columnar::DataType::kBool: return datatype == "BOOL";
    default: return datatype == "BYTES";
  }
}

// Whether the number `value` is a value of the tensor datatype (INT8 holds
// -128..127, UINT16 0..65535, FP16 magnitudes up to 65504, ...).
bool FitsDatatype(const json& value, const std::string& datatype) {
  const bool is_unsigned = datatype.starts_with("UINT");
  if (is_unsigned || datatype.starts_with("INT")) {
    if (!value.is_number_integer()) return false;  // a fraction, or beyond 64 bits
    const int bits = std::stoi(datatype.substr(is_unsigned ? 4 : 3));
    // (nlohmann keeps a non-negative integer as unsigned, a negative one as signed.)
    if (is_unsigned) return value.is_number_unsigned() && (bits == 64 || value.get<uint64_t>() >> bits == 0);
    const uint64_t top = uint64_t{1} << (bits - 1);  // |min|; max is top - 1
    if (value.is_number_unsigned()) return value.get<uint64_t>() < top;
    return value.get<int64_t>() >= -static_cast<int64_t>(top - 1) - 1;
  }
  if (datatype == "FP16") return std::fabs(value.get<double>()) <= 65504.0;
  if (datatype == "FP32") return std::fabs(value.get<double>()) <= double(std::numeric_limits<float>::max());
  return true;
}

}  // namespace

json ModelServer::Infer(const std::string& name, const std::string& alias, const json& body) {
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].empty()) {
    throw Error::InvalidArgument("the body must hold \"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, ...]");
  }
  if (body.contains("id") && !body["id"].is_string()) throw Error::InvalidArgument("\"id\" must be a string");
  std::shared_ptr<const Deployment> d = Get(name, alias);
  std::map<std::string, columnar::DataType> input_types;
  for (const columnar::Field& f : d->predictor->inputs()) input_types[f.name] = f.type;
  json columns = json::object();
  int64_t rows = -1;
  for (const json& input : body["inputs"]) {
    if (!input.is_object() || !input.contains("name") || !input["name"].is_string() || !input.contains("data") ||
        !input["data"].is_array() || !input.contains("shape") || !input["shape"].is_array() || input["shape"].empty() ||
        !input["shape"][0].is_number_integer() || !input.contains("datatype") || !input["datatype"].is_string()) {
      throw Error::InvalidArgument("each input needs \"name\", \"shape\", \"datatype\" and \"data\"");
    }
    const std::string input_name = input["name"].get<std::string>();
    if (columns.contains(input_name)) throw Error::InvalidArgument("input '" + input_name + "' is given twice");
    const json& shape = input["shape"];
    const int64_t n = shape[0].get<int64_t>();
    if (n < 0 || shape.size() > 2 || (shape.size() == 2 && (!shape[1].is_number_integer() || shape[1].get<int64_t>() != 1))) {
      throw Error::InvalidArgument("input '" + input_name + "': shape must be [N] or [N, 1] (one feature per input)");
    }
    if (rows >= 0 && n != rows) throw Error::InvalidArgument("input '" + input_name + "' has " + std::to_string(n) + " rows, others " + std::to_string(rows));
    rows = n;
    // An input the model does not take is refused (as Triton does): a
    // misspelt name would otherwise pass unseen when the input it meant is
    // also sent, or be reported as the intended input missing.
    auto known = input_types.find(input_name);
    if (known == input_types.end()) {
      std::string names;
      for (const columnar::Field& f : d->predictor->inputs()) names += (names.empty() ? "" : ", ") + f.name;
      throw Error::InvalidArgument("unknown input '" + input_name + "' (the model's inputs: " + names + ")");
    }
    // The tensor's declared type must be one the model's input takes.
    const std::string datatype = input["datatype"].get<std::string>();
    if (!TakesDatatype(known->second, datatype)) {
      throw Error::InvalidArgument("input '" + input_name + "' is " + DatatypeOf(known->second) + ", not " + datatype);
    }
    json flat = json::array();  // [v, ...], or [[v], ...] for shape [N, 1] (or flat: row-major)
    for (const json& v : input["data"]) {
      if (v.is_array() && (shape.size() == 1 || v.size() != 1)) {
        throw Error::InvalidArgument("input '" + input_name + "': row " + std::to_string(flat.size()) + " is " +
                                     v.dump() + ", not one value of shape " + shape.dump());
      }
      const json& value = v.is_array() ? v[0] : v;
      // The values must be of the tensor's declared type.
      if (value.is_number() && !FitsDatatype(value, datatype)) {
        throw Error::InvalidArgument("input '" + input_name + "': " + value.dump() + " is not a " + datatype +
                                     " value (row " + std::to_string(flat.size()) + ")");
      }
      flat.push_back(value);
    }
    columns[input_name] = std::move(flat);
  }
  // The outputs asked for (all when the request names none).
  std::set<std::string> wanted;
  if (body.contains("outputs")) {
    const std::set<std::string> known = d->predictor->classifier() ? std::set<std::string>{"predict", "label"}
                                                                   : std::set<std::string>{"predict"};
    if (!body["outputs"].is_array()) throw Error::InvalidArgument("\"outputs\" must be a list of {\"name\": ...}");
    for (const json& o : body["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
        throw Error::InvalidArgument("\"outputs\" must be a list of {\"name\": ...}");
      }
      const std::string out_name = o["name"].get<std::string>();
      if (!known.count(out_name)) {
        throw Error::InvalidArgument("unknown output '" + out_name + "' (" +
                                     (known.size() == 2 ? "predict, label" : "predict") + ")");
      }
      wanted.insert(out_name);
    }
  }
  auto wants = [&](const char* output) { return wanted.empty() || wanted.count(output) > 0; };
  try {
    std::vector<double> scores = d->predictor->Predict(*d->predictor->ColumnsToTable(columns, rows));
    json labels;
    json outputs = json::array();
    json predictions = Scores(*d, scores, &labels);
    if (wants("predict")) outputs.push_back({{"name", "predict"}, {"datatype", "FP64"}, {"shape", {rows}}, {"data", predictions}});
    if (!labels.is_null() && wants("label")) {
      outputs.push_back({{"name", "label"}, {"datatype", "INT64"}, {"shape", {rows}}, {"data", labels}});
    }
    json out = {{"model_name", d->name}, {"model_version", std::to_string(d->version)}, {"outputs", outputs}};
    if (body.contains("id")) out["id"] = body["id"];
    return out;
  } catch (const ml::RowError& e) {  // the rows: the request's fault
    throw Error::InvalidArgument(e.what());
  } catch (const ml::ModelError& e) {  // the model (a chain step, XGBoost): not the request's
    throw Error::Internal(e.what());
  }
}

json ModelServer::Metadata(const std::string& name, const std::string& alias) {
  std::shared_ptr<const Deployment> d = Get(name, alias);
  json inputs = json::array();
  for (const columnar::Field& f : d->predictor->inputs()) {
    inputs.push_back({{"name", f.name}, {"datatype", DatatypeOf(f.type)}, {"shape", {-1}}});
  }
  json outputs = json::array({{{"name", "predict"}, {"datatype", "FP64"}, {"shape", {-1}}}});
  if (d->predictor->classifier()) outputs.push_back({{"name", "label"}, {"datatype", "INT64"}, {"shape", {-1}}});
  return {{"name", name}, {"versions", {std::to_string(d->version)}}, {"platform", "pipe"}, {"inputs", inputs}, {"outputs", outputs}};
}

}  // namespace pipeline
