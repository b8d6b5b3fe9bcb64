// SqliteStore: StateStore on an embedded SQLite database (WAL, busy timeout,
// one writer). Several processes may open the same file; writes serialise.
#pragma once

#include <memory>
#include <string>

#include "store/state_store.h"

namespace pipeline {

class SqliteStore final : public StateStore {
 public:
  // Opens or creates the database at `path` (and its folder), migrating the
  // schema. Throws Error(kUnavailable) when it cannot, kInvalidArgument when
  // the schema is newer than this build.
  explicit SqliteStore(const std::string& path);
  ~SqliteStore() override;

  int schema_version() override;
  bool Ping() override;
  bool TryLockScheduler() override;
  int PutDagVersion(const DagSpec& dag, TimePoint now) override;
  std::optional<DagRecord> GetDag(const std::string& dag_id) override;
  std::vector<DagRecord> ListDags() override;
  std::optional<DagVersionRecord> GetDagVersion(const std::string& dag_id, int version) override;
  std::vector<DagVersionRecord> ListDagVersions(const std::string& dag_id) override;
  std::optional<std::string> GetWatermark(const std::string& dag_id, const std::string& task_id) override;
  std::map<std::string, std::string> ListWatermarks(const std::string& dag_id) override;
  bool SetPaused(const std::string& dag_id, bool paused) override;
  void CreateRun(const RunRecord& run, const std::vector<NewTaskInstance>& tasks, int max_active = 0) override;
  bool AddTaskInstances(const std::string& run_id, const std::string& task_id, const std::string& fence,
                        const std::vector<NewTaskInstance>& instances) override;
  std::optional<RunRecord> GetRun(const std::string& run_id) override;
  std::vector<RunRecord> ListRuns(const RunFilter& filter) override;
  int64_t CountRuns(const RunFilter& filter) override;
  CountsByDagAndState CountRunsByDagAndState() override;
  CountsByDagAndState CountTasksByDagAndState() override;
  std::optional<TimePoint> LastScheduledTick(const std::string& dag_id) override;
  bool HasTickRun(const std::string& dag_id, TimePoint logical_date) override;
  void PutMeta(const std::string& key, const std::string& value) override;
  std::optional<std::string> GetMeta(const std::string& key) override;
  bool ClaimRun(const std::string& run_id, const std::string& scheduler, TimePoint now, Duration lease) override;
  std::optional<RunRecord> StartQueuedRun(const std::string& run_id, const std::string& scheduler, TimePoint now,
                                          Duration lease, int max_active) override;
  std::vector<RunRecord> ListOrphanedRuns(TimePoint now, int limit) override;
  std::vector<RunLease> RenewRuns(const std::string& scheduler, const std::vector<std::string>& run_ids,
                                  TimePoint now, Duration lease) override;
  bool ReleaseRun(const std::string& run_id, const std::string& scheduler) override;
  bool RequestRunCancel(const std::string& run_id) override;
  bool TransitionRun(const std::string& run_id, const std::vector<RunState>& from, RunState to,
                     TimePoint at, const std::string& reason) override;
  std::vector<TaskInstanceRecord> GetTaskInstances(const std::string& run_id) override;
  std::optional<TaskInstanceRecord> GetTaskInstance(const std::string& run_id,
                                                    const std::string& task_id) override;
  bool TransitionTask(const TaskTransition& t) override;
  bool TransitionTasksAndEnqueue(const std::vector<TaskTransition>& batch, const std::vector<WorkItem>& work) override;
  bool TransitionTasks(const std::vector<TaskTransition>& batch) override;
  void SetTryProcess(const std::string& run_id, const std::string& task_id, int try_number,
                     const std::string& process) override;
  std::vector<TaskTryRecord> GetRunTries(const std::string& run_id) override;
  std::vector<TaskTryRecord> GetTries(const std::string& run_id, const std::string& task_id) override;
  std::vector<TransitionRecord> GetTransitions(const std::string& run_id) override;
  std::vector<TransitionRecord> ListTransitionsAfter(int64_t after_id, int limit) override;
  int64_t LatestTransitionId() override;
  void PutArtifact(const ArtifactRecord& artifact) override;
  std::vector<ArtifactRecord> ListArtifacts(const std::string& run_id) override;
  std::vector<ArtifactRecord> LatestSuccessArtifacts(const std::string& dag_id, const std::string& name) override;
  std::vector<ArtifactRecord> FindCachedArtifacts(const std::string& cache_key, TimePoint not_before) override;
  void AddNotification(const NotificationRecord& n) override;
  std::vector<NotificationRecord> ListNotifications(const std::string& dag_id, const std::string& run_id,
                                                    int limit) override;
  std::optional<TaskSuccess> LatestSuccess(const std::string& dag_id, const std::string& task_id) override;
  bool AddSlaMiss(const SlaMissRecord& miss) override;
  std::vector<SlaMissRecord> ListSlaMisses(const std::string& dag_id, const std::string& run_id, int limit) override;
  CountsByDagAndState CountSlaMisses() override;

  int CreateModelVersion(const ModelVersionRecord& v) override;
  std::vector<ModelSummary> ListModels() override;
  std::vector<ModelVersionRecord> ListModelVersions(const std::string& name) override;
  std::optional<ModelVersionRecord> GetModelVersion(const std::string& name, int version) override;
  AliasSet SetModelAliasIf(const std::string& name, const std::string& alias, std::optional<int> expected, int version,
                           TimePoint at) override;
  std::vector<ModelAliasRecord> GetModelAliases(const std::string& name) override;
  std::vector<ModelAliasRecord> GetModelAliasHistory(const std::string& name) override;

  void EnqueueWork(const WorkItem& item) override;
  std::vector<WorkClaim> ClaimWork(const std::string& worker, const std::vector<std::string>& queues, int max,
                                   TimePoint now, Duration lease) override;
  bool RenewWork(WorkClaim& claim, TimePoint now, Duration lease) override;
  bool FinishWork(const WorkClaim& claim, const std::string& result_json, TimePoint at) override;
  bool ReleaseWork(const WorkClaim& claim) override;
  std::vector<WorkItem> ReapExpiredWork(TimePoint now) override;
  std::optional<WorkRecord> GetWork(const std::string& run_id, const std::string& task_id, int try_number) override;
  std::vector<WorkRecord> ListWork(const std::string& run_id) override;
  bool CancelWork(const WorkKey& key, const std::string& result_json, TimePoint at) override;
  void PutWorker(const WorkerRecord& worker) override;
  std::vector<WorkerRecord> ListWorkers() override;
  std::map<std::string, int64_t> CountReadyWork() override;
  std::vector<WorkRecord> ListEndedWork(const std::vector<WorkKey>& keys) override;
  std::vector<WorkKey> TakeEndedNotices(bool* complete) override;
  unsigned WaitForNotice(unsigned channels, Duration timeout) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pipeline
