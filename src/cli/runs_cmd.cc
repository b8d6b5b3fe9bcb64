#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/names.h"
#include "views/run_view.h"

namespace pipeline::cli {

int ListRuns(const GlobalOptions& g, const ListRunsOptions& options) {
  if (options.limit < 1 || options.limit > 1000) {  // the API's bound, through the daemon or not
    std::cerr << "pipectl: --limit must be 1..1000\n";
    return kExitUsage;
  }
  if (!options.dag.empty() && !IsName(options.dag)) {
    std::cerr << "pipectl: --dag: '" << options.dag
              << "' is not a DAG id (a lower-case letter, then lower-case letters, digits and '_')\n";
    return kExitUsage;
  }
  if (UseServer(g)) return ListRunsRemote(g, options);
  RunFilter filter;
  if (!options.dag.empty()) filter.dag_id = options.dag;
  if (!options.state.empty()) {
    auto state = ParseRunState(options.state);
    if (state) filter.states.push_back(*state);
    if (!state) {
      std::cerr << "pipectl: unknown run state '" << options.state
                << "' (queued, running, success, failed, cancelled)\n";
      return kExitUsage;
    }
  }
  filter.limit = options.limit;
  auto store = OpenStore(g);
  std::vector<RunRecord> runs = store->ListRuns(filter);
  if (runs.empty() && !options.dag.empty() && !store->GetDag(options.dag)) {  // a typo is no "no runs"
    std::cerr << "pipectl: no DAG '" << options.dag << "'\n";
    return kExitFailed;
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const RunRecord& r : runs) out.push_back(views::RunSummaryJson(r));
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const RunRecord& r : runs) out.push_back(views::RunSummaryJson(r));
  std::cout << views::RunsTable(out);
  return kExitOk;
}

int ShowRun(const GlobalOptions& g, const std::string& run_id) {
  if (UseServer(g)) return ShowRunRemote(g, run_id);
  auto store = OpenStore(g);
  auto run = store->GetRun(run_id);
  if (!run) {
    std::cerr << "pipectl: no run '" << run_id << "'\n";
    return kExitFailed;
  }
  if (g.json) {
    std::cout << views::RunJson(*store, *run).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  nlohmann::json header = views::RunSummaryJson(*run);
  header["sla_misses"] = views::SlaMissesJson(store->ListSlaMisses("", run->run_id, 10'000));
  const nlohmann::json shown = views::RunJson(*store, *run);
  std::cout << views::RunHeader(header) << "\n" << views::TaskTable(shown)
            << views::ValidationReports(shown, [](const std::string&, const nlohmann::json& artifact) {
                 std::ifstream in(artifact.value("uri", std::string()));
                 nlohmann::json report = nlohmann::json::parse(in, nullptr, false);
                 return report.is_discarded() ? std::nullopt : std::optional<nlohmann::json>(report);
               });
  return kExitOk;
}

}  // namespace pipeline::cli
