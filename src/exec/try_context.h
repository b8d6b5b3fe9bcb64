// The context one try runs with (TaskContext): its rendered arguments,
// command and environment, its log, its cancel token, the outputs of the
// run's tasks held in memory and the store for artifacts and models. Made
// by the executor for each try it starts here, and by a worker for a try it
// claimed (no outputs in memory there: inputs come from artifacts).
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/operator.h"
#include "core/time.h"
#include "exec/cancel_token.h"
#include "exec/subprocess.h"
#include "exec/task_services.h"
#include "store/state_store.h"

namespace pipeline {

// Owned by the job on the thread that runs the try.
class TryContext final : public TaskContext {
 public:
  using Outputs = std::map<std::string, std::shared_ptr<const Dataset>, std::less<>>;
  // Mapped task id -> its number of instances (the ones this try may read).
  using MappedCounts = std::map<std::string, int, std::less<>>;

  TryContext(const TaskSpec& task, std::shared_ptr<const DocNode> args, std::string command,
             std::vector<std::pair<std::string, std::string>> env, std::string dag_dir,
             std::string log_path, int try_number, std::shared_ptr<EventCancelToken> token,
             Outputs* outputs, std::mutex* outputs_mu, StateStore& store, bool record_processes,
             const RunRecord& run, std::string artifact_dir, Clock& clock, const OperatorRegistry* ops)
      : ops_(ops), task_(task), args_(std::move(args)), command_(std::move(command)), env_(std::move(env)),
        dag_dir_(std::move(dag_dir)), log_path_(std::move(log_path)), try_number_(try_number),
        token_(std::move(token)), outputs_(outputs), outputs_mu_(outputs_mu), store_(store),
        record_processes_(record_processes), run_id_(run.run_id), dag_id_(run.dag_id),
        dag_version_(run.dag_version), artifact_dir_(std::move(artifact_dir)), clock_(clock) {}

  const TaskSpec& task() const override { return task_; }
  const DocNode& args() const override { return *args_; }
  const std::string& command() const override { return command_; }
  const std::vector<std::pair<std::string, std::string>>& env() const override { return env_; }
  const std::string& dag_dir() const override { return dag_dir_; }
  const std::string& log_path() const override { return log_path_; }
  int try_number() const override { return try_number_; }
  TimePoint try_started_at() const override { return try_started_.value_or(clock_.Now()); }
  TimePoint Now() const override { return clock_.Now(); }
  void set_try_started_at(TimePoint at) { try_started_ = at; }
  const CancelToken& cancel() const override { return *token_; }

  void Log(std::string_view line) override {
    std::ofstream out(log_path_, std::ios::app);
    if (!out) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(log_path_).parent_path(), ec);  // the run's first log line
      out.open(log_path_, std::ios::app);
    }
    out << line << '\n';
  }

  void ProcessStarted(int pgid) override {
    if (record_processes_ && pgid != recorded_pgid_) {
      store_.SetTryProcess(run_id_, task_.id, try_number_, ProcessToken(pgid));
    }
    if (on_process_started_) on_process_started_();
  }

  std::optional<std::string> Watermark() override { return store_.GetWatermark(dag_id_, task_.id); }
  std::vector<std::string> SiblingWatermarks() override {
    std::vector<std::string> out;
    const auto self = ParseMapInstanceId(task_.id);
    if (task_.map_index < 0 || !self) return out;
    for (const auto& [id, value] : store_.ListWatermarks(dag_id_)) {
      const auto other = ParseMapInstanceId(id);
      if (other && other->first == self->first && other->second != self->second) out.push_back(value);
    }
    return out;
  }

  PreparedTry* prepared() override { return prepared_.get(); }
  void SetPrepared(std::unique_ptr<PreparedTry> prepared) { prepared_ = std::move(prepared); }
  const std::shared_ptr<EventCancelToken>& token() const { return token_; }
  // The try's start records the prepared process (when processes are
  // recorded): "" when there is none. ProcessStarted() then writes nothing.
  std::string PreparedProcess() {
    int pgid = prepared_ && record_processes_ ? prepared_->process_group() : 0;
    std::string token = pgid > 0 ? ProcessToken(pgid) : "";
    if (!token.empty()) recorded_pgid_ = pgid;
    return token;
  }
  // Called on the try's worker once ProcessStarted() has recorded the process.
  void OnProcessStarted(std::function<void()> f) { on_process_started_ = std::move(f); }

  void SetMapped(MappedCounts mapped) { mapped_ = std::move(mapped); }
  int MappedInstances(std::string_view task_id) const override {
    auto it = mapped_.find(task_id);
    return it == mapped_.end() ? 0 : it->second;
  }

  std::shared_ptr<const Dataset> Input(std::string_view task_id) override {
    std::lock_guard lock(*outputs_mu_);
    auto it = outputs_->find(task_id);
    return it == outputs_->end() ? nullptr : it->second;
  }

  void SetOutput(std::shared_ptr<const Dataset> output) override {
    std::lock_guard lock(*outputs_mu_);
    (*outputs_)[task_.id] = std::move(output);
  }

  const std::string& run_id() const override { return run_id_; }
  const std::string& dag_id() const override { return dag_id_; }
  const std::string& artifact_dir() const override { return artifact_dir_; }

  void RecordArtifact(const ArtifactInfo& a) override {
    store_.PutArtifact({run_id_, task_.id, a.name, a.uri, a.schema_json, a.row_count, a.content_hash,
                        clock_.Now(), a.inputs_json, a.cache_key});
    artifacts_.reset();  // read again if asked
    if (a.name == "output") output_hash_ = a.content_hash;
  }

  void SetCacheEnabled(bool enabled) { cache_enabled_ = enabled; }
  void SetReplayInputs(std::optional<std::string> replay) { replay_ = std::move(replay); }
  std::optional<std::string> ReplayInputs() const override { return replay_; }
  bool cache_enabled() const override { return cache_enabled_; }
  std::optional<CachedWork> FindCached(const std::string& key, std::optional<Duration> ttl) override {
    const TimePoint not_before = ttl ? clock_.Now() - *ttl : TimePoint{};
    std::vector<ArtifactRecord> found = store_.FindCachedArtifacts(key, not_before);
    if (found.empty()) return std::nullopt;
    CachedWork work{found.front().run_id, found.front().task_id, {}};
    for (const ArtifactRecord& r : found) {
      work.artifacts.push_back({r.name, r.uri, r.schema_json, r.row_count, r.content_hash, r.inputs_json, r.cache_key});
    }
    return work;
  }
  // The content hash of the output table this try persisted, "" if none.
  const std::string& output_hash() const { return output_hash_; }

  std::optional<ArtifactInfo> FindArtifact(std::string_view task_id, std::string_view name) override {
    // Read once per try: a data task asks for each input it reads (lineage,
    // cache keys), and a task mapped over 1,000 items has 1,000 inputs.
    if (!artifacts_) artifacts_ = store_.ListArtifacts(run_id_);
    for (const ArtifactRecord& r : *artifacts_) {
      if (r.task_id == task_id && r.name == name) {
        return ArtifactInfo{r.name, r.uri, r.schema_json, r.row_count, r.content_hash, r.inputs_json, r.cache_key};
      }
    }
    return std::nullopt;
  }

  int RegisterModel(const ModelRegistration& m) override {
    ModelVersionRecord v;
    v.name = m.name;
    v.model_type = m.model_type;
    v.kind = m.kind;
    v.uri = m.uri;
    v.format = m.format;
    v.content_hash = m.content_hash;
    v.target = m.target;
    v.features_json = m.features_json;
    v.transforms_json = m.transforms_json;
    v.params_json = m.params_json;
    v.metrics_json = m.metrics_json;
    v.importance_json = m.importance_json;
    nlohmann::json lineage = {{"dag_id", dag_id_},    {"dag_version", dag_version_}, {"run_id", run_id_},
                              {"task_id", task_.id},  {"try_number", try_number_}};
    lineage["inputs"] = nlohmann::json::parse(m.inputs_json, nullptr, false);
    if (lineage["inputs"].is_discarded()) lineage["inputs"] = nlohmann::json::array();
    v.lineage_json = lineage.dump();
    v.created_at = clock_.Now();
    return store_.CreateModelVersion(v);
  }

  std::optional<RegisteredModel> FindModel(std::string_view ref) override {
    std::optional<ArtifactInfo> model_file = FindArtifact(ref, "model");
    return FindRegisteredModel(store_, ref, model_file ? &model_file->uri : nullptr);
  }

  std::string TriggerDag(const std::string& dag_id, const std::string& params_json, const std::string& run_id) override {
    return CreateTriggeredRun(store_, *ops_, clock_, run_id_ + "/" + task_.id, dag_id, params_json, run_id);
  }

  std::string RunStateOf(const std::string& run_id) override {
    auto run = store_.GetRun(run_id);
    return run ? std::string(ToString(run->state)) : "";
  }

  std::optional<TimePoint> LastSchedulerHeartbeat() override {
    auto text = store_.GetMeta("scheduler_heartbeat");
    if (!text) return std::nullopt;
    auto at = ParseIso8601(*text);
    return at ? std::optional<TimePoint>(at->utc) : std::nullopt;
  }
  bool knows_schedulers() const override { return true; }

  std::optional<bool> DagPaused(const std::string& dag_id) override {
    auto dag = store_.GetDag(dag_id);
    return dag ? std::optional<bool>(dag->paused) : std::nullopt;
  }

  void SetModelAlias(const std::string& name, const std::string& alias, int version, int from) override {
    switch (store_.SetModelAliasIf(name, alias, from, version, clock_.Now())) {
      case StateStore::AliasSet::kSet:
        return;
      case StateStore::AliasSet::kNoSuchVersion:
        throw Error::NotFound("model '" + name + "' has no version " + std::to_string(version));
      case StateStore::AliasSet::kMovedMeanwhile:
        throw Error::Conflict(name + "@" + alias + " moved from " + (from ? "version " + std::to_string(from) : "unset") +
                              " while this task decided (another promotion or a rollback): nothing changed; a retry "
                              "decides again");
    }
  }

 private:
  const OperatorRegistry* ops_;  // to load a DAG that trigger_dag starts
  const TaskSpec& task_;
  std::shared_ptr<const DocNode> args_;
  std::string command_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::string dag_dir_;
  std::string log_path_;
  int try_number_;
  std::optional<TimePoint> try_started_;
  std::shared_ptr<EventCancelToken> token_;
  Outputs* outputs_;
  std::mutex* outputs_mu_;
  StateStore& store_;
  bool record_processes_;
  bool cache_enabled_ = true;
  std::optional<std::vector<ArtifactRecord>> artifacts_;  // this run's, as FindArtifact last read them
  std::optional<std::string> replay_;
  std::string run_id_;
  std::string dag_id_;
  int dag_version_;
  std::string artifact_dir_;
  Clock& clock_;
  std::unique_ptr<PreparedTry> prepared_;
  int recorded_pgid_ = 0;  // recorded with the try's start
  std::function<void()> on_process_started_;
  MappedCounts mapped_;
  std::string output_hash_;
};

}  // namespace pipeline
