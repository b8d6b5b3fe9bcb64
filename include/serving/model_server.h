// Real-time scoring in the daemon: the versions that model aliases point at,
// loaded and kept ready (ml::Predictor), swapped when an alias moves.
//
// Hot swap without a dropped request: a request takes a shared reference to
// the deployment it starts with (Get) and scores with it to the end, while
// Refresh() loads the new version beside it and then replaces the map entry
// under a short lock; the old version is freed when its last request ends.
// Refresh() runs on a background thread every `poll` (a run made by `pipectl
// run` on the same store moves an alias without telling the daemon), at once
// when the daemon's own run ends (Nudge), and when a request names a
// deployment not loaded yet.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/time.h"
#include "ml/predictor.h"

namespace pipeline {

class StateStore;

// The online features of a `features` task with `online: true`: each key's
// latest feature values, from the newest run that wrote them.
struct OnlineTable {
  std::string dag, task, run_id, uri;
  std::vector<std::string> keys;  // the key columns
  columnar::TablePtr table;       // one batch: the key columns, then the features
  std::unordered_map<std::string, int64_t> index;  // key texts joined by '\x1f' -> row

  // The row of a key (its columns' texts, in order), or -1.
  int64_t Find(const std::vector<std::string>& key) const;
  // The same for texts as a URL gives them: a number for a numeric key
  // column is read as a request's value is (3.0 is key 3).
  int64_t FindTexts(const std::vector<std::string>& texts) const;
  // The value in `row` of column `name` as JSON (null when null); nullopt
  // when the table has no such column.
  std::optional<nlohmann::json> Value(int64_t row, const std::string& name) const;
  // {"keys": {...}, "features": {...}} of a row.
  nlohmann::json Row(int64_t row) const;
};

struct Deployment {
  std::string name;
  std::string alias;
  int version = 0;
  std::shared_ptr<const ml::Predictor> predictor;
  TimePoint loaded_at;
  std::string dag;  // the DAG that trained it (lineage)
  // Joined into request rows that carry their keys (see Predict).
  std::vector<std::shared_ptr<const OnlineTable>> online;
};

struct ModelServerOptions {
  std::chrono::milliseconds poll{1000};
  // Told of every swap; `warn` of what cannot be loaded or read (to `log`
  // when it is not set).
  std::function<void(const std::string&)> log;
  std::function<void(const std::string&)> warn;
};

class ModelServer {
 public:
  ModelServer(StateStore& store, ModelServerOptions options);
  ~ModelServer();  // stops the poller
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Starts the background poller.
  void Start();
  // Has the poller refresh now rather than at its next turn (a run of the
  // daemon's own ended: it may have moved an alias), or 100 ms after the
  // last refresh ended, whichever is later. Quick; nudges that come
  // meanwhile are one more refresh, not one each.
  void Nudge();

  // Loads what the aliases point at now: every model's `production` alias
  // and every deployment loaded before. Returns how many changed. A version
  // that cannot be loaded is logged to `errors` and leaves the old one serving.
  int Refresh(std::vector<std::string>* errors = nullptr);
  // Refresh() in the caller's thread, what fails logged as the poller logs it
  // (an alias moved through the API: the answer comes after the swap).
  void RefreshNow();

  // The deployment serving NAME@ALIAS, loaded now if it was not; throws
  // Error(kNotFound) naming what is missing, Error(kUnavailable) when the
  // version cannot be loaded.
  std::shared_ptr<const Deployment> Get(const std::string& name, const std::string& alias);
  // What is loaded, without loading anything (for readiness).
  std::shared_ptr<const Deployment> Loaded(const std::string& name, const std::string& alias) const;
  // Whether every model's `production` version serves, as of the last
  // Refresh (false before the first one); else `why` names one that does not.
  bool Ready(std::string* why) const;

  // The online features `task` of `dag` keeps, newest run first; nullptr
  // when no run wrote any. Throws Error(kUnavailable) when they cannot be read.
  std::shared_ptr<const OnlineTable> Online(const std::string& dag, const std::string& task);

  // POST /api/v1/models/NAME/predict: {"rows": [...]} -> {"model", "version",
  // "predictions", "labels"?}. A row that lacks an input the model needs but
  // carries the key of an online feature table of the model's DAG gets the
  // value from it (the same features training saw, kept per key). Throws Error(kInvalidArgument) for a bad body
  // or row (naming the row and column), Error(kNotFound) for no deployment.
  // Returns the answer's JSON text.
  std::string Predict(const std::string& name, const std::string& alias, std::string_view body);
  // Version `version` of model `name` loaded as a deployment serves it (its
  // predictor, its DAG's online features) under no alias, scoring with
  // `threads` (0: all cores): `pipectl predict --local`, with PredictWith.
  std::shared_ptr<const Deployment> LoadVersion(const std::string& name, int version, int threads = 0);
  // Predict() with the deployment in hand.
  std::string PredictWith(const Deployment& d, std::string_view body);
  // POST /v2/models/NAME/infer (Open Inference Protocol v2): columnar inputs
  // by feature name -> outputs "predict" (and "label" for a classifier).
  nlohmann::json Infer(const std::string& name, const std::string& alias, const nlohmann::json& body);
  // GET /v2/models/NAME: the version served, its inputs (the raw columns,
  // typed as Infer takes them) and outputs.
  nlohmann::json Metadata(const std::string& name, const std::string& alias);

 private:
  std::shared_ptr<const Deployment> Load(const std::string& name, const std::string& alias, int version, int threads = 1);
  void Warn(const std::string& line) const;
  // The newest "online" artifact of each task of `dag`: task -> (run, uri).
  std::map<std::string, std::pair<std::string, std::string>> OnlineArtifacts(const std::string& dag);
  std::vector<std::shared_ptr<const OnlineTable>> OnlineTablesOf(const std::string& dag);
  std::shared_ptr<const OnlineTable> ReadOnline(const std::string& dag, const std::string& task,
                                                const std::string& run_id, const std::string& uri);

  void PollLoop();

  StateStore& store_;
  ModelServerOptions options_;
  mutable std::mutex mu_;  // guards deployments_, stopping_, nudged_, refreshed_ and unready_
  bool refreshed_ = false;
  std::string unready_;  // the last Refresh: a wanted deployment that has no version serving
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Deployment>> deployments_;
  std::map<std::string, std::shared_ptr<const OnlineTable>> online_;  // by uri
  std::mutex refresh_mu_;  // one Refresh at a time
  // The version of each (model, alias) that last failed to load, guarded by
  // refresh_mu_: its error is reported once, not at every poll.
  std::map<std::pair<std::string, std::string>, int> failed_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool nudged_ = false;
  std::thread poller_;
};

}  // namespace pipeline
