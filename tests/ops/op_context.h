// A TaskContext for running one data operator in a test: in-memory outputs
// of earlier tasks, artifacts recorded in a map, a fresh artifact folder.
#pragma once

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "core/dag_spec.h"
#include "core/error.h"
#include "core/operator.h"
#include "dag/yaml_reader.h"

namespace pipeline::testing_util {

class FlagCancelToken final : public CancelToken {
 public:
  bool cancelled() const override {
    const int asked = ++asked_;
    return cancelled_ || (cancel_after_ >= 0 && asked > cancel_after_);
  }
  int fd() const override { return -1; }
  void Cancel() { cancelled_ = true; }
  // Cancelled from the (checks + 1)th question on: where an operator looks.
  void CancelAfter(int checks) { cancel_after_ = checks; }
  int asked() const { return asked_; }

 private:
  bool cancelled_ = false;
  int cancel_after_ = -1;
  mutable std::atomic<int> asked_{0};
};

// The secrets file of a test: PIPE_SECRETS names it until the end of the scope.
class SecretsFileScope {
 public:
  SecretsFileScope(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    ::setenv("PIPE_SECRETS", path.c_str(), 1);
  }
  ~SecretsFileScope() { ::unsetenv("PIPE_SECRETS"); }
};

class OpContext final : public TaskContext {
 public:
  // `with_yaml` is the task's `with:` map as YAML text.
  OpContext(const std::string& task_id, const std::string& with_yaml, const std::filesystem::path& dir,
            std::optional<std::string> input = std::nullopt)
      : dir_(dir.string()), artifact_dir_((dir / "artifacts" / task_id).string()), run_id_("run1") {
    Diagnostics diags("test.yaml");
    args_ = ReadYaml(with_yaml.empty() ? "{}" : with_yaml, diags);
    if (!args_ || !diags.empty()) throw std::runtime_error("bad test YAML: " + with_yaml);
    task_.id = task_id;
    task_.with = args_;
    task_.input = std::move(input);
    log_path_ = (dir / (task_id + ".log")).string();
  }

  const TaskSpec& task() const override { return task_; }
  TaskSpec& mutable_task() { return task_; }
  const DocNode& args() const override { return *args_; }
  const std::string& command() const override { return empty_; }
  const std::vector<std::pair<std::string, std::string>>& env() const override { return env_; }
  const std::string& dag_dir() const override { return dir_; }
  const std::string& log_path() const override { return log_path_; }
  int try_number() const override { return 1; }
  TimePoint try_started_at() const override { return started_ ? *started_ : Now(); }
  TimePoint Now() const override { return now_ ? *now_ : SystemClock::Default()->Now(); }
  const CancelToken& cancel() const override { return token_; }
  void Log(std::string_view line) override { log_ += std::string(line) + "\n"; }
  void ProcessStarted(int) override {}
  std::shared_ptr<const Dataset> Input(std::string_view task_id) override {
    auto it = outputs_.find(std::string(task_id));
    return it == outputs_.end() ? nullptr : it->second;
  }
  void SetOutput(std::shared_ptr<const Dataset> output) override { outputs_[task_.id] = std::move(output); }
  const std::string& run_id() const override { return run_id_; }
  const std::string& dag_id() const override { return dag_id_; }
  const std::string& artifact_dir() const override { return artifact_dir_; }
  void RecordArtifact(const ArtifactInfo& a) override { artifacts_[{task_.id, a.name}] = a; }
  std::optional<std::string> Watermark() override { return watermark_; }
  void SetWatermark(std::optional<std::string> mark) { watermark_ = std::move(mark); }
  std::optional<ArtifactInfo> FindArtifact(std::string_view task_id, std::string_view name) override {
    auto it = artifacts_.find({std::string(task_id), std::string(name)});
    if (it == artifacts_.end()) return std::nullopt;
    return it->second;
  }
  int RegisterModel(const ModelRegistration& m) override {
    models_.push_back(m);
    int version = 0;
    for (const auto& v : models_) version += v.name == m.name;
    versions_.push_back(version);
    return version;
  }
  // NAME, NAME@ALIAS, NAME:VERSION, or a task id whose "model" artifact a
  // registered version's file is.
  std::optional<RegisteredModel> FindModel(std::string_view ref) override {
    std::string text(ref), name = text, alias;
    int version = 0;
    if (auto art = FindArtifact(ref, "model")) {
      for (size_t i = 0; i < models_.size(); ++i) {
        if (models_[i].uri == art->uri) return RegisteredModel{versions_[i], models_[i], ""};
      }
      return std::nullopt;
    }
    if (auto at = text.find('@'); at != std::string::npos) {
      name = text.substr(0, at);
      alias = text.substr(at + 1);
    } else if (auto colon = text.find(':'); colon != std::string::npos) {
      name = text.substr(0, colon);
      version = std::stoi(text.substr(colon + 1));
    }
    if (version == 0) {
      auto it = aliases_.find({name, alias.empty() ? "production" : alias});
      if (it != aliases_.end()) version = it->second;
      if (version == 0 && !alias.empty()) return std::nullopt;
    }
    std::optional<RegisteredModel> found;
    for (size_t i = 0; i < models_.size(); ++i) {
      if (models_[i].name == name && (version == 0 || versions_[i] == version)) found = RegisteredModel{versions_[i], models_[i], ""};
    }
    return found;
  }
  void SetModelAlias(const std::string& name, const std::string& alias, int version, int from) override {
    int& now = aliases_[{name, alias}];
    if (now != from) throw Error::Conflict(name + "@" + alias + " moved meanwhile");
    now = version;
  }

  // Test hooks.
  void Cancel() { token_.Cancel(); }
  FlagCancelToken& token() { return token_; }
  // The executor's clock as the operator sees it: now, and when the try began.
  void SetClock(TimePoint now, TimePoint try_started) {
    now_ = now;
    started_ = try_started;
  }
  void SetInput(const std::string& task_id, std::shared_ptr<const Dataset> data) { outputs_[task_id] = std::move(data); }
  void AddArtifact(const std::string& task_id, const ArtifactInfo& a) { artifacts_[{task_id, a.name}] = a; }
  const std::map<std::pair<std::string, std::string>, ArtifactInfo>& artifacts() const { return artifacts_; }
  std::shared_ptr<const Dataset> output() const {
    auto it = outputs_.find(task_.id);
    return it == outputs_.end() ? nullptr : it->second;
  }
  const std::string& log() const { return log_; }
  const std::vector<ModelRegistration>& models() const { return models_; }
  const std::map<std::pair<std::string, std::string>, int>& aliases() const { return aliases_; }

 private:
  std::optional<TimePoint> now_, started_;
  std::string dir_;
  std::string artifact_dir_;
  std::string run_id_;
  std::string dag_id_ = "testdag";
  std::string log_path_;
  std::string empty_;
  std::vector<std::pair<std::string, std::string>> env_;
  TaskSpec task_;
  DocNode::Ptr args_;
  FlagCancelToken token_;
  std::string log_;
  std::optional<std::string> watermark_;
  std::map<std::string, std::shared_ptr<const Dataset>> outputs_;
  std::map<std::pair<std::string, std::string>, ArtifactInfo> artifacts_;
  std::vector<ModelRegistration> models_;
  std::vector<int> versions_;
  std::map<std::pair<std::string, std::string>, int> aliases_;
};

}  // namespace pipeline::testing_util
