// pipectl: flags in, exit codes out. The commands live in *_cmd.cc.

#include <CLI/CLI.hpp>
#include <charconv>
#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "dag/suggest.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/version.h"
#include "exec/process_watchdog.h"
#include "sources/database.h"

namespace {

using namespace pipeline::cli;

// One place maps project errors to exit codes.
int ExitCodeFor(pipeline::ErrorCode code) {
  switch (code) {
    case pipeline::ErrorCode::kInvalidArgument:
    case pipeline::ErrorCode::kInvalidDag:
      return kExitUsage;
    case pipeline::ErrorCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailed;
  }
}

// A version or try number: CLI11's PositiveNumber says "not in range
// 0.000000 to 1.79769e+308" of a 0.
const CLI::Validator kFromOne(
    [](std::string& text) -> std::string {
      int value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || value < 1) {
        return "'" + text + "' is not a whole number from 1 (1, 2, ...)";
      }
      return "";
    },
    "1, 2, ...");

}  // namespace

namespace {

// CLI11 says only "A subcommand is required": name the command level, what
// was given instead (with a suggestion) and the commands there are.
int MissingSubcommand(const CLI::App& app) {
  const CLI::App* level = &app;
  while (!level->get_subcommands().empty()) level = level->get_subcommands().front();
  std::vector<std::string> names;
  for (const CLI::App* sub : level->get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  const std::string where = level == &app ? "pipectl" : "pipectl " + level->get_name();
  std::vector<std::string> rest = level->remaining();
  if (rest.empty()) rest = app.remaining(true);  // what fell through to the top (global options may follow)
  if (!rest.empty() && !rest.front().starts_with("-")) {
    std::cerr << where << ": unknown command '" << rest.front() << "'" << pipeline::DidYouMean(rest.front(), names)
              << "; one of " << known << "\n";
  } else {
    std::cerr << where << ": a command is required: one of " << known << " (" << where << " --help)\n";
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // This program started as its own task watchdog (exec/process_watchdog.h).
  if (argc == 2 && std::string_view(argv[1]) == pipeline::kWatchdogArg) return pipeline::RunTaskWatchdog();
  // Output into a pipe its reader closed (`pipectl run X | head -1`) must
  // not kill a run halfway, leaving it `running` in the store: the writes
  // fail instead and the run goes on to its end. (Tasks start with every
  // signal at its default.)
  std::signal(SIGPIPE, SIG_IGN);
  // A command's heap on huge pages: half the time for validating a big
  // DAG file (its document tree is many small objects). The daemon keeps
  // glibc's defaults.
  pipeline::HeapOnHugePages(std::size_t(128) << 20);
  CLI::App app{"pipectl: validate and run DAG pipelines, inspect runs and logs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("pipectl ") + pipeline::kVersion);
  app.fallthrough();  // global options may follow the subcommand too
  GlobalOptions g;
  app.add_option("--db", g.db, "state database: sqlite:PATH or postgresql://... (default $PIPE_DB, "
                               "else sqlite:$PIPE_HOME/state.db)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_option("--server", g.server, "daemon URL (default $PIPE_SERVER, else http://127.0.0.1:8080)");
  app.add_option("--token", g.token, "bearer token (default $PIPE_TOKEN)");
  std::string secrets;
  app.add_option("--secrets", secrets,
                 "PostgreSQL passwords for ingest and export (libpq's password-file format) and the mask step's mask_key line (mode 600; "
                 "default $PIPE_SECRETS)");
  std::function<int()> action;

  auto* validate = app.add_subcommand("validate", "validate DAG files or folders");
  std::vector<std::string> paths;
  validate->add_option("PATH", paths, "DAG files or folders")->required();
  validate->callback([&] { action = [&] { return Validate(g, paths); }; });

  auto* run = app.add_subcommand("run", "run a DAG once, in this process");
  RunOptions run_options;
  run->add_option("FILE", run_options.file, "the DAG file")->required();
  run->add_option("--param,-p", run_options.params, "NAME=VALUE, overrides a parameter")->allow_extra_args(false);
  run->add_option("--workers", run_options.workers, "tasks at once (default: the core count)")
      ->check(CLI::Range(1, 4096));
  run->add_flag("--no-cache", run_options.no_cache, "run tasks with cache: true instead of reusing earlier results");
  run->add_option("--openlineage", run_options.openlineage,
                  "send OpenLineage run events to http://HOST:PORT/PATH or append them to file:PATH "
                  "(default $PIPE_OPENLINEAGE)");
  run->callback([&] { action = [&] { return Run(g, run_options); }; });

  auto* runs = app.add_subcommand("runs", "list and show runs");
  runs->require_subcommand(1);
  auto* runs_list = runs->add_subcommand("list", "runs, newest first");
  ListRunsOptions list_options;
  runs_list->add_option("--dag", list_options.dag, "only this DAG");
  runs_list->add_option("--state", list_options.state, "only runs in this state");
  runs_list->add_option("--limit", list_options.limit, "at most this many, 1..1000 (default 20)");
  runs_list->callback([&] { action = [&] { return ListRuns(g, list_options); }; });
  auto* runs_show = runs->add_subcommand("show", "a run and its tasks");
  std::string run_id;
  runs_show->add_option("RUN_ID", run_id)->required();
  runs_show->callback([&] { action = [&] { return ShowRun(g, run_id); }; });
  auto* runs_rerun = runs->add_subcommand("rerun", "run again the DAG version and params of a run, in this process");
  RerunOptions rerun_options;
  runs_rerun->add_option("RUN_ID", rerun_options.run_id)->required();
  runs_rerun->add_flag("--same-data", rerun_options.same_data, "read the data that run read: each source file as it was (unchanged, else the ingest's snapshot), or refuse naming what changed");
  runs_rerun->add_flag("--no-cache", rerun_options.no_cache, "run tasks with cache: true instead of reusing earlier results");
  runs_rerun->add_option("--openlineage", rerun_options.openlineage,
                         "send OpenLineage run events to http://HOST:PORT/PATH or file:PATH (default $PIPE_OPENLINEAGE)");
  runs_rerun->add_option("--workers", rerun_options.workers, "tasks at once (default: the core count)")
      ->check(CLI::Range(1, 4096));
  runs_rerun->callback([&] { action = [&] { return Rerun(g, rerun_options); }; });

  auto* logs = app.add_subcommand("logs", "a task's log");
  LogsOptions logs_options;
  logs->add_option("RUN_ID", logs_options.run_id)->required();
  logs->add_option("TASK_ID", logs_options.task_id)->required();
  logs->add_option("--try", logs_options.try_number, "this try (default: the latest)")
      ->check(kFromOne);
  logs->add_flag("--follow,-f", logs_options.follow, "keep printing until the try ends");
  logs->callback([&] { action = [&] { return Logs(g, logs_options); }; });

  auto* trigger = app.add_subcommand("trigger", "ask the daemon for a run");
  TriggerOptions trigger_options;
  trigger->add_option("DAG_ID", trigger_options.dag_id)->required();
  trigger->add_option("--param,-p", trigger_options.params, "NAME=VALUE, overrides a parameter")->allow_extra_args(false);
  trigger->add_flag("--wait", trigger_options.wait, "follow the run; exit 0/1 with it");
  trigger->callback([&] { action = [&] { return Trigger(g, trigger_options); }; });

  auto* dags = app.add_subcommand("dags", "list, show, pause and unpause DAGs");
  dags->require_subcommand(1);
  auto* dags_list = dags->add_subcommand("list", "the DAGs");
  dags_list->callback([&] { action = [&] { return DagsList(g); }; });
  std::string dag_id;
  auto* dags_show = dags->add_subcommand("show", "a DAG and its tasks");
  dags_show->add_option("DAG_ID", dag_id)->required();
  dags_show->callback([&] { action = [&] { return DagsShow(g, dag_id); }; });
  auto* dags_pause = dags->add_subcommand("pause", "stop scheduling a DAG");
  dags_pause->add_option("DAG_ID", dag_id)->required();
  dags_pause->callback([&] { action = [&] { return DagsPause(g, dag_id, true); }; });
  auto* dags_unpause = dags->add_subcommand("unpause", "resume scheduling a DAG");
  dags_unpause->add_option("DAG_ID", dag_id)->required();
  dags_unpause->callback([&] { action = [&] { return DagsPause(g, dag_id, false); }; });

  auto* runs_cancel = runs->add_subcommand("cancel", "cancel a queued or running run");
  runs_cancel->add_option("RUN_ID", run_id)->required();
  runs_cancel->callback([&] { action = [&] { return RunsCancel(g, run_id); }; });

  auto* runs_clear = runs->add_subcommand("clear", "run a task of a run again (through the daemon), with --downstream "
                                                    "also the tasks after it");
  std::string clear_task;
  bool clear_downstream = false;
  runs_clear->add_option("RUN_ID", run_id)->required();
  runs_clear->add_option("TASK_ID", clear_task)->required();
  runs_clear->add_flag("--downstream", clear_downstream, "also clear every task downstream of it");
  runs_clear->callback([&] { action = [&] { return RunsClear(g, run_id, clear_task, clear_downstream); }; });

  auto* backfill = app.add_subcommand("backfill", "create scheduled runs for every tick in [from, to]");
  BackfillOptions backfill_options;
  backfill->add_option("DAG_ID", backfill_options.dag_id)->required();
  backfill->add_option("--from", backfill_options.from, "ISO-8601 start (inclusive)")->required();
  backfill->add_option("--to", backfill_options.to, "ISO-8601 end (inclusive)")->required();
  backfill->add_flag("--rerun", backfill_options.rerun, "also ticks that already have a run");
  backfill->callback([&] { action = [&] { return Backfill(g, backfill_options); }; });

  auto* models = app.add_subcommand("models", "the model registry: list, show, alias, rollback");
  models->require_subcommand(1);
  auto* models_list = models->add_subcommand("list", "every registered model");
  models_list->callback([&] { action = [&] { return ModelsList(g); }; });
  ModelsShowOptions show_options;
  auto* models_show = models->add_subcommand("show", "a model version: metrics, features, importance, lineage");
  models_show->add_option("NAME", show_options.name)->required();
  models_show->add_option("--version", show_options.version, "this version (default: the latest)")
      ->check(kFromOne);
  models_show->callback([&] { action = [&] { return ModelsShow(g, show_options); }; });
  ModelsAliasOptions alias_options;
  auto* models_alias = models->add_subcommand("alias", "point ALIAS (production, any name) at VERSION");
  models_alias->add_option("NAME", alias_options.name)->required();
  models_alias->add_option("VERSION", alias_options.version)->required();
  models_alias->add_option("ALIAS", alias_options.alias)->required();
  models_alias->callback([&] { action = [&] { return ModelsAlias(g, alias_options); }; });
  ModelsRollbackOptions rollback_options;
  auto* models_rollback = models->add_subcommand("rollback", "point an alias back at the version it had before");
  models_rollback->add_option("NAME", rollback_options.name)->required();
  models_rollback->add_option("--alias", rollback_options.alias, "the alias (default production)");
  models_rollback->callback([&] { action = [&] { return ModelsRollback(g, rollback_options); }; });

  std::string lineage_ref;
  auto* lineage = app.add_subcommand("lineage", "what an artifact or a model version was made from, back to its sources");
  lineage->add_option("REF", lineage_ref, "RUN_ID/TASK[/ARTIFACT] (default output), or a model NAME:VERSION, "
                                          "NAME@ALIAS, NAME")->required();
  lineage->callback([&] { action = [&] { return Lineage(g, lineage_ref); }; });

  PredictOptions predict_options;
  auto* predict = app.add_subcommand("predict", "score raw rows with a deployed model (NAME, NAME@ALIAS, NAME:VERSION)");
  predict->add_option("MODEL", predict_options.model)->required();
  predict->add_option("--json", predict_options.rows, "the rows: a JSON list of objects, or @FILE (@- for stdin)")
      ->required();
  predict->add_flag("--local", predict_options.local,
                    "score in this process on the state store (--db), without a daemon; needed for NAME:VERSION");
  predict->callback([&] { action = [&] { return Predict(g, predict_options); }; });
  for (CLI::App* sub : {predict}) {
    sub->add_option("--db", g.db, "state database URL (with --local)");
    sub->add_option("--server", g.server, "daemon URL (default $PIPE_SERVER, else http://127.0.0.1:8080)");
    sub->add_option("--token", g.token, "bearer token (default $PIPE_TOKEN)");
  }

  // The global options are accepted after the subcommand too; each command
  // lists (and takes) only those it uses: what reads the store or the daemon
  // takes both, what only the daemon does takes --server, what writes the
  // store takes --db.
  struct Where {
    CLI::App* sub;
    bool db, server;
  };
  const std::vector<Where> where = {
      {validate, false, false},    {run, true, false},         {runs_rerun, true, false},   {models_alias, true, true},
      {models_rollback, true, true}, {runs_list, true, true},  {runs_show, true, true},     {logs, true, true},
      {dags_list, true, true},     {dags_show, true, true},    {models_list, true, true},   {models_show, true, true},
      {lineage, true, true},       {trigger, false, true},     {dags_pause, false, true},   {dags_unpause, false, true},
      {runs_cancel, false, true},  {runs_clear, false, true},  {backfill, false, true}};
  for (const Where& w : where) {
    w.sub->add_flag("--json", g.json, "machine-readable output");
    if (w.db) w.sub->add_option("--db", g.db, "state database URL");
    if (w.server) {
      w.sub->add_option("--server", g.server, "daemon URL (default $PIPE_SERVER, else http://127.0.0.1:8080)");
      w.sub->add_option("--token", g.token, "bearer token (default $PIPE_TOKEN)");
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (std::string(e.what()) == "A subcommand is required") return MissingSubcommand(app);
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  for (const Where& w : where) {
    if (!w.sub->parsed()) continue;
    // Given before the command (a global option), it would be ignored: said instead.
    const std::string name = w.sub->get_parent() == &app ? w.sub->get_name()
                                                           : w.sub->get_parent()->get_name() + " " + w.sub->get_name();
    if (!g.db.empty() && !w.db) {
      std::cerr << "pipectl: " << name << (w.server ? " goes through the daemon: give --server, not --db\n"
                                                    : " reads no database: --db does not apply\n");
      return kExitUsage;
    }
    if ((!g.server.empty() || !g.token.empty()) && !w.server) {
      std::cerr << "pipectl: " << name << (w.db ? " works on the state store, not through the daemon: give --db "
                                                  "(the daemon's database), not --server or --token\n"
                                                : " reads no daemon: --server and --token do not apply\n");
      return kExitUsage;
    }
  }
  try {
    // The secrets file holds for ingest and export in this process.
    if (!secrets.empty()) {
      pipeline::sources::UseSecretsFile(secrets);
    } else {
      pipeline::sources::SecretsFile();
    }
  } catch (const pipeline::sources::SourceError& e) {
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitUsage;
  }
  try {
    return action();
  } catch (const pipeline::Error& e) {
    std::cerr << "pipectl: " << e.what() << "\n";
    return ExitCodeFor(e.code());
  } catch (const std::exception& e) {
    std::cerr << "pipectl: internal error: " << e.what() << "\n";
    return kExitFailed;
  }
}
