// pipectl: flags in, exit codes out. The commands live in *_cmd.cc.

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pipectl: validate and run DAG pipelines, inspect runs and logs"};
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_option("--db", g.db, "state database: sqlite:PATH or postgresql://... (default $PIPE_DB, "
                               "else sqlite:$PIPE_HOME/state.db)");
  app.add_flag("--json", g.json, "machine-readable output");
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
  run->callback([&] { action = [&] { return Run(g, run_options); }; });

  auto* runs = app.add_subcommand("runs", "list and show runs");
  runs->require_subcommand(1);
  auto* runs_list = runs->add_subcommand("list", "runs, newest first");
  ListRunsOptions list_options;
  runs_list->add_option("--dag", list_options.dag, "only this DAG");
  runs_list->add_option("--state", list_options.state, "only runs in this state");
  runs_list->add_option("--limit", list_options.limit, "at most this many (default 20)");
  runs_list->callback([&] { action = [&] { return ListRuns(g, list_options); }; });
  auto* runs_show = runs->add_subcommand("show", "a run and its tasks");
  std::string run_id;
  runs_show->add_option("RUN_ID", run_id)->required();
  runs_show->callback([&] { action = [&] { return ShowRun(g, run_id); }; });

  auto* logs = app.add_subcommand("logs", "a task's log");
  LogsOptions logs_options;
  logs->add_option("RUN_ID", logs_options.run_id)->required();
  logs->add_option("TASK_ID", logs_options.task_id)->required();
  logs->add_option("--try", logs_options.try_number, "this try (default: the latest)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--follow,-f", logs_options.follow, "keep printing until the try ends");
  logs->callback([&] { action = [&] { return Logs(g, logs_options); }; });

  // --json and --db are accepted after the subcommand too.
  for (CLI::App* sub : {validate, run, runs_list, runs_show, logs}) {
    sub->add_flag("--json", g.json, "machine-readable output");
    sub->add_option("--db", g.db, "state database URL");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
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
