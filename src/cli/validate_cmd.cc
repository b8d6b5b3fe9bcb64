#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/time.h"
#include "dag/loader.h"
#include "scheduler/schedule.h"

namespace pipeline::cli {

namespace {

// What was loaded is dropped with the process instead of being freed node by
// node (freeing a 10,000-task file's tree is a tenth of `validate`), as
// compilers do with their syntax trees. Reachable from here, so a leak
// checker does not count it.
template <typename T>
void KeepUntilExit(T&& loaded) {
  static auto* kept = new std::vector<std::decay_t<T>>();
  kept->push_back(std::forward<T>(loaded));
}

// A cron schedule that never fires (30 February, 31 April) is valid cron,
// as in Vixie cron, but surely not what was meant.
void NeverFires(const DagSpec& dag, nlohmann::json* warnings) {
  if (!dag.schedule) return;
  auto schedule = Schedule::ForDag(dag);
  if (!schedule || !dag.start_date) return;
  if (!schedule->NextAfter(*dag.start_date - std::chrono::microseconds(1))) {
    warnings->push_back("schedule '" + *dag.schedule + "' has no tick within five years of start_date " +
                        FormatIso8601(*dag.start_date) + (dag.end_date ? " (or before end_date)" : "") +
                        ": no scheduled run starts");
  }
}

}  // namespace

nlohmann::json DiagnosticsJson(const std::vector<Diagnostic>& diags, const std::string& file) {
  nlohmann::json out = nlohmann::json::array();
  for (const Diagnostic& d : diags) {
    if (d.file != file) continue;
    out.push_back({{"line", d.mark.line}, {"column", d.mark.column}, {"message", d.message}});
  }
  return out;
}

int Validate(const GlobalOptions& g, const std::vector<std::string>& paths) {
  DagLoader loader(Operators());
  nlohmann::json files = nlohmann::json::array();
  bool all_valid = true;
  auto report_valid = [&](const DagSpec& dag, const std::string& file) {
    if (g.json) {
      files.push_back({{"file", file}, {"valid", true}, {"dag", dag.id},
                       {"tasks", dag.tasks.size()}, {"errors", nlohmann::json::array()}});
    } else {
      std::cout << "ok  " << file << ": dag '" << dag.id << "', " << dag.tasks.size() << " task"
                << (dag.tasks.size() == 1 ? "" : "s") << "\n";
    }
  };
  // (the file as the ok line names it: as given, not DagSpec::file's absolute path)
  auto report_warnings = [&](const std::string& file, const nlohmann::json& warnings) {
    if (warnings.empty()) return;
    if (g.json) {
      files.back()["warnings"] = warnings;
    } else {
      for (const auto& w : warnings) std::cerr << "warning: " << file << ": " << w.get<std::string>() << "\n";
    }
  };
  auto report_invalid = [&](const std::vector<Diagnostic>& diags, const std::string& file) {
    all_valid = false;
    if (g.json) {
      files.push_back({{"file", file}, {"valid", false}, {"errors", DiagnosticsJson(diags, file)}});
    } else {
      for (const Diagnostic& d : diags) {
        if (d.file == file) std::cerr << d.ToString() << "\n";
      }
    }
  };
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      FolderLoadResult folder = loader.LoadFolder(path);
      for (const DagSpec& dag : folder.dags) {
        const std::string file = (std::filesystem::path(path) / std::filesystem::path(dag.file).filename()).string();
        report_valid(dag, file);
        // schedule.after naming what the folder lacks is allowed (the DAG may
        // come later) but worth a word: no run starts until it exists.
        nlohmann::json warnings = nlohmann::json::array();
        NeverFires(dag, &warnings);
        for (const std::string& up : dag.after) {
          const std::string up_dag = up.substr(0, up.find('.'));
          auto it = std::find_if(folder.dags.begin(), folder.dags.end(), [&](const DagSpec& d) { return d.id == up_dag; });
          if (it != folder.dags.end() && it->FindTask(up.substr(up_dag.size() + 1))) continue;
          warnings.push_back("schedule.after names '" + up + "', which no DAG of this folder has: no run starts until one does");
        }
        report_warnings(file, warnings);
      }
      for (const std::string& file : folder.invalid_files) report_invalid(folder.diagnostics, file);
      if (folder.invalid_files.empty() && !folder.diagnostics.empty()) {
        report_invalid(folder.diagnostics, path);  // the folder itself could not be read
      } else if (folder.dags.empty() && folder.invalid_files.empty()) {
        // Nothing checked is not "valid": a wrong folder would pass unseen.
        report_invalid({{path, {}, "no DAG file (*.yaml or *.yml) in this folder"}}, path);
      }
      KeepUntilExit(std::move(folder));
      continue;
    }
    LoadResult result = loader.LoadFile(path);
    if (result.dag) {
      report_valid(*result.dag, path);
      nlohmann::json warnings = nlohmann::json::array();
      NeverFires(*result.dag, &warnings);
      report_warnings(path, warnings);
    } else {
      report_invalid(result.diagnostics, path);
    }
    KeepUntilExit(std::move(result));
  }
  if (g.json) std::cout << nlohmann::json{{"valid", all_valid}, {"files", files}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return all_valid ? kExitOk : kExitUsage;
}

}  // namespace pipeline::cli
