// pipectl models list | show | alias | rollback: the model registry, read
// from and written to the state store (--db), or read through the daemon
// (--server).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/names.h"
#include "views/lineage_view.h"
#include "views/model_view.h"

namespace pipeline::cli {

namespace {

using nlohmann::json;

void PrintJson(const json& j) { std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n"; }

bool CheckName(const std::string& what, const std::string& name) {
  if (IsName(name)) return true;
  std::cerr << "pipectl: invalid " << what << " '" << name
            << "' (a lower-case letter, then lower-case letters, digits and '_', at most 64)\n";
  return false;
}

}  // namespace

int ModelsList(const GlobalOptions& g) {
  if (UseServer(g)) return ModelsListRemote(g);
  auto store = OpenStore(g);
  std::vector<ModelSummary> models = store->ListModels();
  if (g.json) {
    json out = json::array();
    for (const ModelSummary& m : models) out.push_back(views::ModelSummaryJson(m));
    PrintJson(out);
    return kExitOk;
  }
  std::cout << views::ModelsTable(models);
  return kExitOk;
}

int Lineage(const GlobalOptions& g, const std::string& ref) {
  if (UseServer(g)) return LineageRemote(g, ref);
  auto store = OpenStore(g);
  json tree = views::LineageJson(*store, ref);
  if (g.json) {
    PrintJson(tree);
  } else {
    std::cout << views::LineageText(tree);
  }
  return kExitOk;
}

int ModelsShow(const GlobalOptions& g, const ModelsShowOptions& options) {
  if (!CheckName("model name", options.name)) return kExitUsage;
  if (UseServer(g)) return ModelsShowRemote(g, options);
  auto store = OpenStore(g);
  std::vector<ModelVersionRecord> versions = store->ListModelVersions(options.name);
  if (versions.empty()) {
    std::cerr << "pipectl: no model '" << options.name << "'\n";
    return kExitFailed;
  }
  const ModelVersionRecord* v = &versions.front();
  if (options.version > 0) {
    v = nullptr;
    for (const ModelVersionRecord& r : versions) {
      if (r.version == options.version) v = &r;
    }
    if (!v) {
      std::cerr << "pipectl: model '" << options.name << "' has no version " << options.version << " (latest: "
                << versions.front().version << ")\n";
      return kExitFailed;
    }
  }
  std::vector<ModelAliasRecord> aliases = store->GetModelAliases(options.name);
  if (g.json) {
    json out = views::ModelVersionJson(*v, aliases);
    if (options.version == 0) out = {{"model", views::ModelJson(*store, options.name)}, {"version", out}};
    PrintJson(out);
    return kExitOk;
  }
  std::cout << views::ModelVersionText(*v, aliases, store->GetModelAliasHistory(options.name));
  if (options.version == 0 && versions.size() > 1) {
    std::cout << "\nversions";
    for (const ModelVersionRecord& r : versions) std::cout << " v" << r.version;
    std::cout << " (--version N shows one)\n";
  }
  return kExitOk;
}

int ModelsAlias(const GlobalOptions& g, const ModelsAliasOptions& options) {
  if (!CheckName("model name", options.name) || !CheckName("alias", options.alias)) return kExitUsage;
  if (options.version < 1) {
    std::cerr << "pipectl: VERSION must be a version number (1, 2, ...)\n";
    return kExitUsage;
  }
  auto store = OpenStore(g);
  if (!store->SetModelAlias(options.name, options.alias, options.version, SystemClock::Default()->Now())) {
    std::vector<ModelVersionRecord> versions = store->ListModelVersions(options.name);
    if (versions.empty()) {
      std::cerr << "pipectl: no model '" << options.name << "'\n";
    } else {
      std::cerr << "pipectl: model '" << options.name << "' has no version " << options.version << " (latest: "
                << versions.front().version << ")\n";
    }
    return kExitFailed;
  }
  if (g.json) {
    PrintJson({{"name", options.name}, {"alias", options.alias}, {"version", options.version}});
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << options.version << "\n";
  }
  return kExitOk;
}

int ModelsRollback(const GlobalOptions& g, const ModelsRollbackOptions& options) {
  if (!CheckName("model name", options.name) || !CheckName("alias", options.alias)) return kExitUsage;
  auto store = OpenStore(g);
  std::vector<ModelAliasRecord> current = store->GetModelAliases(options.name);
  auto it = std::find_if(current.begin(), current.end(), [&](const ModelAliasRecord& a) { return a.alias == options.alias; });
  if (it == current.end()) {
    if (store->ListModelVersions(options.name).empty()) {
      std::cerr << "pipectl: no model '" << options.name << "'\n";
    } else {
      std::cerr << "pipectl: model '" << options.name << "' has no alias '" << options.alias << "'\n";
    }
    return kExitFailed;
  }
  // The version the alias pointed at before its current one.
  std::vector<ModelAliasRecord> history = store->GetModelAliasHistory(options.name);
  int previous = 0;
  for (auto h = history.rbegin(); h != history.rend(); ++h) {
    if (h->alias == options.alias && h->version != it->version) {
      previous = h->version;
      break;
    }
  }
  if (previous == 0) {
    std::cerr << "pipectl: " << options.name << "@" << options.alias << " has pointed at version " << it->version
              << " only: there is nothing to roll back to\n";
    return kExitFailed;
  }
  if (!store->SetModelAlias(options.name, options.alias, previous, SystemClock::Default()->Now())) {
    std::cerr << "pipectl: version " << previous << " of model '" << options.name << "' is gone\n";
    return kExitFailed;
  }
  if (g.json) {
    PrintJson({{"name", options.name}, {"alias", options.alias}, {"version", previous}, {"was", it->version}});
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << previous << " (was " << it->version << ")\n";
  }
  return kExitOk;
}

}  // namespace pipeline::cli
