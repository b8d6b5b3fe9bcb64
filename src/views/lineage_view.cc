#include "views/lineage_view.h"

#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "store/model_ref.h"

namespace pipeline::views {
namespace {

using nlohmann::json;

// Walks the recorded inputs; each run's artifacts are read once.
class Walker {
 public:
  explicit Walker(StateStore& store) : store_(store) {}

  json Artifact(const std::string& run_id, const std::string& task_id, const std::string& name,
                const std::string& read_hash, int depth) {
    json node = {{"kind", "artifact"}, {"run", run_id}, {"task", task_id}, {"name", name}};
    const ArtifactRecord* a = Find(run_id, task_id, name);
    if (!a && read_hash.empty() && name == "output") return NotPersisted(std::move(node), depth);
    if (!a) {
      node["hash"] = read_hash;
      node["missing"] = true;
      return node;
    }
    node["hash"] = a->content_hash;
    if (!read_hash.empty() && read_hash != a->content_hash) {
      node["changed"] = true;  // a later try rewrote it
      node["read_hash"] = read_hash;
    }
    if (!seen_.insert(run_id + "/" + task_id + "/" + name).second) {
      node["seen"] = true;
      return node;
    }
    node["rows"] = a->row_count;
    node["uri"] = a->uri;
    json schema = json::parse(a->schema_json, nullptr, false);
    node["schema"] = schema.is_discarded() ? json::object() : schema;
    node["inputs"] = Inputs(a->inputs_json, depth);
    return node;
  }

  // A table read from a task that persists nothing (persist: false): no
  // artifact, but its try kept what it read, so the tree goes on.
  json NotPersisted(json node, int depth) {
    const std::string run_id = node["run"], task_id = node["task"];
    node["hash"] = "";
    node["persisted"] = false;
    std::optional<TaskTryRecord> made;  // the try whose table was read: the task's success
    for (TaskTryRecord& t : store_.GetTries(run_id, task_id)) {
      if (t.state == TaskState::kSuccess) made = std::move(t);
    }
    if (!made) {
      node["missing"] = true;
      return node;
    }
    node["try"] = made->try_number;
    if (!seen_.insert(run_id + "/" + task_id + "/output").second) {
      node["seen"] = true;
      return node;
    }
    node["inputs"] = Inputs(made->inputs_json, depth);
    return node;
  }

  json Inputs(const std::string& inputs_json, int depth) {
    json out = json::array();
    json inputs = json::parse(inputs_json, nullptr, false);
    if (!inputs.is_array()) return out;
    if (depth > kMaxDepth) throw Error::InvalidArgument("the lineage is deeper than " + std::to_string(kMaxDepth));
    for (const json& in : inputs) {
      if (!in.is_object()) continue;
      if (in.contains("artifact")) {
        const json& a = in["artifact"];
        out.push_back(Artifact(a.value("run", ""), a.value("task", ""), a.value("name", "output"), a.value("hash", ""),
                               depth + 1));
      } else if (in.contains("file")) {
        json node = in["file"];
        node["kind"] = "file";
        out.push_back(std::move(node));
      } else if (in.contains("query")) {
        json node = in["query"];
        node["kind"] = "query";
        out.push_back(std::move(node));
      } else if (in.contains("model") && in["model"].is_object()) {
        // A model version a predict scored with, and what it was trained on.
        const json& m = in["model"];
        const int version = m.contains("version") && m["version"].is_number_integer() ? m["version"].get<int>() : 0;
        if (auto v = store_.GetModelVersion(m.value("name", ""), version)) {
          out.push_back(Model(*v));
        } else {
          out.push_back({{"kind", "model"}, {"name", m.value("name", "")}, {"version", version},
                         {"hash", m.value("hash", "")}, {"missing", true}, {"inputs", json::array()}});
        }
      }
    }
    return out;
  }

  json Model(const ModelVersionRecord& v) {
    json lineage = json::parse(v.lineage_json, nullptr, false);
    if (!lineage.is_object()) lineage = json::object();
    const std::string run_id = lineage.value("run_id", ""), task_id = lineage.value("task_id", "");
    json node = {{"kind", "model"}, {"name", v.name},   {"version", v.version},
                 {"hash", v.content_hash}, {"run", run_id}, {"task", task_id}};
    // The model file is the train task's "model" artifact, which records what
    // the try read; a version registered before lineage was kept names its
    // input tables itself.
    if (const ArtifactRecord* file = Find(run_id, task_id, "model"); file && file->inputs_json != "[]") {
      node["inputs"] = Inputs(file->inputs_json, 0);
    } else {
      node["inputs"] = json::array();
      for (const json& in : lineage.value("inputs", json::array())) {
        node["inputs"].push_back(Artifact(run_id, in.value("task", ""), "output", in.value("content_hash", ""), 1));
      }
    }
    return node;
  }

  const ArtifactRecord* Find(const std::string& run_id, const std::string& task_id, const std::string& name) {
    auto it = runs_.find(run_id);
    if (it == runs_.end()) it = runs_.emplace(run_id, store_.ListArtifacts(run_id)).first;
    for (const ArtifactRecord& a : it->second) {
      if (a.task_id == task_id && a.name == name) return &a;
    }
    return nullptr;
  }

 private:
  static constexpr int kMaxDepth = 10000;
  StateStore& store_;
  std::map<std::string, std::vector<ArtifactRecord>> runs_;
  std::set<std::string> seen_;
};

std::string ShortHash(const json& node) {
  std::string hash = node.value("hash", "");
  return hash.empty() ? "(not persisted)" : hash;
}

void Draw(const json& node, const std::string& indent, bool root, bool last, std::string& out) {
  std::string line;
  const std::string kind = node.value("kind", "");
  if (kind == "model") {
    line = "model " + node.value("name", "") + ":" + std::to_string(node.value("version", 0)) +
           (node.value("missing", false) ? "" : " (run " + node.value("run", "") + ", task " + node.value("task", "") + ")") +
           "  " + ShortHash(node) + (node.value("missing", false) ? "  (no longer in the store)" : "");
  } else if (kind == "artifact") {
    line = node.value("run", "") + "/" + node.value("task", "") + "/" + node.value("name", "");
    // (a JSON document or a model file has no rows: it has no columns either)
    const bool table = node.contains("schema") && node["schema"].contains("columns");
    if (node.contains("rows") && (table || node["rows"].get<int64_t>() > 0)) {
      line += "  " + std::to_string(node["rows"].get<int64_t>()) + " rows";
    }
    line += "  " + ShortHash(node);
    if (node.value("missing", false) && !node.value("hash", "").empty()) line += "  (no longer in the store)";
    if (node.value("changed", false)) line += "  (rewritten since it was read as " + node.value("read_hash", "") + ")";
    if (node.value("seen", false)) line += "  (see above)";
  } else if (kind == "file") {
    line = "file " + node.value("path", "") + "  " + node.value("hash", "");
  } else if (kind == "query") {
    line = "query on " + node.value("source", "") + ": " + node.value("query", "");
    if (node.contains("watermark") && node["watermark"].is_string()) line += "  (past " + node["watermark"].get<std::string>() + ")";
  }
  out += root ? line + "\n" : indent + (last ? "└─ " : "├─ ") + line + "\n";
  const std::string next = root ? "" : indent + (last ? "   " : "│  ");
  const json inputs = node.value("inputs", json::array());
  for (size_t i = 0; i < inputs.size(); ++i) Draw(inputs[i], next, false, i + 1 == inputs.size(), out);
}

}  // namespace

json ModelLineageJson(StateStore& store, const std::string& name, int version) {
  auto v = store.GetModelVersion(name, version);
  if (!v) throw Error::NotFound("no version " + std::to_string(version) + " of model '" + name + "'");
  return Walker(store).Model(*v);
}

json ArtifactLineageJson(StateStore& store, const std::string& run_id, const std::string& task_id,
                         const std::string& name) {
  Walker walker(store);
  if (walker.Find(run_id, task_id, name)) return walker.Artifact(run_id, task_id, name, "", 0);
  if (!store.GetRun(run_id)) throw Error::NotFound("no run '" + run_id + "'");
  std::optional<TaskInstanceRecord> task = store.GetTaskInstance(run_id, task_id);
  if (!task) throw Error::NotFound("run '" + run_id + "' has no task '" + task_id + "'");
  std::vector<std::string> has;  // what the task has instead (a train task: model, test_split)
  for (const ArtifactRecord& a : store.ListArtifacts(run_id)) {
    if (a.task_id == task_id) has.push_back(a.name);
  }
  // RUN/TASK of a task with one artifact of another name (an export's, a
  // train's model file): that one.
  if (name == "output" && has.size() == 1) return walker.Artifact(run_id, task_id, has[0], "", 0);
  if (has.empty()) {
    throw Error::NotFound("task '" + task_id + "' of run '" + run_id + "' recorded no artifact (it is " +
                          std::string(ToString(task->state)) +
                          (task->state == TaskState::kSuccess ? "; a task with persist: false keeps none)" : ")"));
  }
  std::string names;
  for (const std::string& n : has) names += (names.empty() ? "" : ", ") + n;
  throw Error::NotFound("no artifact '" + name + "' of task '" + task_id + "' in run '" + run_id + "' (it has " + names +
                        ": name one as RUN_ID/TASK/ARTIFACT)");
}

std::optional<ArtifactRef> SplitArtifactRef(const std::string& ref) {
  // Run ids and task ids hold no '/', model names none either.
  const size_t slash = ref.find('/');
  if (slash == std::string::npos) return std::nullopt;
  ArtifactRef out{ref.substr(0, slash), ref.substr(slash + 1), "output"};
  if (size_t second = out.task_id.find('/'); second != std::string::npos) {
    out.name = out.task_id.substr(second + 1);
    out.task_id.resize(second);
  }
  if (out.run_id.empty() || out.task_id.empty() || out.name.empty() || out.name.find('/') != std::string::npos) {
    throw Error::InvalidArgument("'" + ref + "' is not RUN_ID/TASK[/ARTIFACT]: a part is empty or there are more");
  }
  return out;
}

json LineageJson(StateStore& store, const std::string& ref) {
  if (auto artifact = SplitArtifactRef(ref)) {
    return ArtifactLineageJson(store, artifact->run_id, artifact->task_id, artifact->name);
  }
  std::string error;
  auto model_ref = ParseModelRef(ref, &error);
  if (!model_ref) {
    throw Error::InvalidArgument("'" + ref + "' is neither RUN_ID/TASK[/ARTIFACT] nor a model (" + error + ")");
  }
  auto v = ResolveModelRef(store, *model_ref, &error);
  if (!v) throw Error::NotFound(error);
  return Walker(store).Model(*v);
}

std::string LineageText(const json& tree) {
  std::string out;
  Draw(tree, "", true, true, out);
  return out;
}

}  // namespace pipeline::views
