// pipectl models list | show | alias | rollback: the model registry, read
// from and written to the state store (--db), or read through the daemon
// (--server).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/names.h"
#include "store/model_ref.h"
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
  if (UseServer(g)) return ModelsAliasRemote(g, options);
  auto store = OpenStore(g);
  AliasMove moved;
  try {
    moved = MoveModelAlias(*store, options.name, options.alias, options.version, SystemClock::Default()->Now());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitFailed;
  }
  if (g.json) {
    PrintJson({{"name", options.name}, {"alias", options.alias}, {"version", moved.version}});
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << moved.version << "\n";
  }
  return kExitOk;
}

int ModelsRollback(const GlobalOptions& g, const ModelsRollbackOptions& options) {
  if (!CheckName("model name", options.name) || !CheckName("alias", options.alias)) return kExitUsage;
  if (UseServer(g)) return ModelsRollbackRemote(g, options);
  auto store = OpenStore(g);
  AliasMove moved;
  try {
    moved = RollbackModelAlias(*store, options.name, options.alias, SystemClock::Default()->Now());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound && e.code() != ErrorCode::kConflict) throw;
    std::cerr << "pipectl: " << e.what() << "\n";
    return kExitFailed;
  }
  if (g.json) {
    PrintJson({{"name", options.name}, {"alias", options.alias}, {"version", moved.version}, {"was", moved.was}});
  } else {
    std::cout << options.name << "@" << options.alias << " -> version " << moved.version << " (was " << moved.was << ")\n";
  }
  return kExitOk;
}

}  // namespace pipeline::cli
