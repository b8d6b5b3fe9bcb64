// The pipectl commands. Each returns an exit code (common.h) and writes to
// stdout/stderr; main() parses flags into these structs and maps errors.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/common.h"
#include "store/model_ref.h"

namespace pipeline::cli {

int Validate(const GlobalOptions& g, const std::vector<std::string>& paths);

struct RunOptions {
  std::string file;
  std::vector<std::string> params;  // "k=v"
  int workers = 0;
  bool no_cache = false;  // tasks with `cache: true` run anyway
  std::string openlineage;  // OpenLineage events' target (default $PIPE_OPENLINEAGE)
};
int Run(const GlobalOptions& g, const RunOptions& options);

// `pipectl runs rerun RUN_ID`: a new run of the DAG version and the params
// that RUN_ID ran (the stored text, read as if at its file).
struct RerunOptions {
  std::string run_id;
  bool same_data = false;  // read what the run read: unchanged files, else ingest snapshots
  int workers = 0;
  bool no_cache = false;
  std::string openlineage;
};
int Rerun(const GlobalOptions& g, const RerunOptions& options);

struct ListRunsOptions {
  std::string dag;
  std::string state;
  int limit = 20;
};
int ListRuns(const GlobalOptions& g, const ListRunsOptions& options);
int ShowRun(const GlobalOptions& g, const std::string& run_id);

struct LogsOptions {
  std::string run_id;
  std::string task_id;
  int try_number = 0;  // 0: the latest
  bool follow = false;
};
int Logs(const GlobalOptions& g, const LogsOptions& options);
// logs --json: {"run_id", "task_id", "try", "log"}.
std::string LogJson(const std::string& run_id, const std::string& task_id, int try_number, const std::string& log);

// Against the daemon (daemon_cmd.cc).
struct TriggerOptions {
  std::string dag_id;
  std::vector<std::string> params;  // "k=v"
  bool wait = false;
};
int Trigger(const GlobalOptions& g, const TriggerOptions& options);
int DagsList(const GlobalOptions& g);
int DagsShow(const GlobalOptions& g, const std::string& dag_id);
int DagsPause(const GlobalOptions& g, const std::string& dag_id, bool paused);
int RunsCancel(const GlobalOptions& g, const std::string& run_id);
// POST /api/v1/runs/RUN/tasks/TASK/clear: the task (and with `downstream`
// those after it) runs again; prints the run's state.
int RunsClear(const GlobalOptions& g, const std::string& run_id, const std::string& task_id, bool downstream);
struct BackfillOptions {
  std::string dag_id;
  std::string from;
  std::string to;
  bool rerun = false;
};
int Backfill(const GlobalOptions& g, const BackfillOptions& options);
int ListRunsRemote(const GlobalOptions& g, const ListRunsOptions& options);
int ShowRunRemote(const GlobalOptions& g, const std::string& run_id);
int LogsRemote(const GlobalOptions& g, const LogsOptions& options);

// `pipectl lineage REF`: what an artifact (RUN_ID/TASK[/NAME]) or a model
// version (NAME:VERSION, NAME@ALIAS, NAME) was made from, back to its
// sources (models_cmd.cc); also through the daemon.
int Lineage(const GlobalOptions& g, const std::string& ref);
int LineageRemote(const GlobalOptions& g, const std::string& ref);

// The model registry (models_cmd.cc); list and show also through the daemon.
struct ModelsShowOptions {
  std::string name;
  int version = 0;  // 0: the latest
};
struct ModelsAliasOptions {
  std::string name;
  int version = 0;
  std::string alias;
};
struct ModelsRollbackOptions {
  std::string name;
  std::string alias = "production";
};
struct PredictOptions {
  std::string model;  // NAME, NAME@ALIAS, NAME:VERSION
  std::string rows;   // JSON text, or @FILE
  bool local = false;  // in this process on the store, not through the daemon
};
int Predict(const GlobalOptions& g, const PredictOptions& options);
int PredictRemote(const GlobalOptions& g, const ModelRef& ref, const nlohmann::json& rows);

int ModelsList(const GlobalOptions& g);
int ModelsShow(const GlobalOptions& g, const ModelsShowOptions& options);
int ModelsAlias(const GlobalOptions& g, const ModelsAliasOptions& options);
int ModelsRollback(const GlobalOptions& g, const ModelsRollbackOptions& options);
int ModelsListRemote(const GlobalOptions& g);
int ModelsShowRemote(const GlobalOptions& g, const ModelsShowOptions& options);
int ModelsAliasRemote(const GlobalOptions& g, const ModelsAliasOptions& options);
int ModelsRollbackRemote(const GlobalOptions& g, const ModelsRollbackOptions& options);

// From the store (dags_cmd.cc).
int DagsListLocal(const GlobalOptions& g);
// The `dags list` table of GET /api/v1/dags's "dags" (the same from the store).
void PrintDagsTable(const nlohmann::json& dags);
int DagsShowLocal(const GlobalOptions& g, const std::string& dag_id);
// `dags show` of GET /api/v1/dags/ID (the same from the store).
void PrintDag(const nlohmann::json& dag);

}  // namespace pipeline::cli
