#include "exec/remote_try.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "dag/loader.h"
#include "dag/params.h"
#include "exec/task_services.h"
#include "exec/try_context.h"
#include "exec/try_render.h"

namespace pipeline {

using nlohmann::json;

std::string TryPayloadJson(const TryPayload& p) {
  json out = {{"dag_id", p.dag_id},     {"dag_version", p.dag_version}, {"dag_dir", p.dag_dir},
              {"log_path", p.log_path}, {"artifact_dir", p.artifact_dir}};
  if (!p.map_item.empty()) out["map_item"] = p.map_item;
  if (!p.mapped.empty()) out["mapped"] = p.mapped;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

TryPayload ParseTryPayload(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error::InvalidArgument("a try's payload is not a JSON object");
  auto string = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_string()) {
      throw Error::InvalidArgument(std::string("a try's payload has no string '") + key + "'");
    }
    return j[key].get<std::string>();
  };
  TryPayload p;
  p.dag_id = string("dag_id");
  if (!j.contains("dag_version") || !j["dag_version"].is_number_integer()) {
    throw Error::InvalidArgument("a try's payload has no integer 'dag_version'");
  }
  p.dag_version = j["dag_version"].get<int>();
  p.dag_dir = string("dag_dir");
  p.log_path = string("log_path");
  p.artifact_dir = string("artifact_dir");
  if (j.contains("map_item")) p.map_item = string("map_item");
  if (j.contains("mapped")) {
    if (!j["mapped"].is_object()) throw Error::InvalidArgument("a try's payload has a 'mapped' that is no object");
    for (const auto& [task, count] : j["mapped"].items()) {
      if (!count.is_number_integer()) throw Error::InvalidArgument("a try's payload has a non-integer 'mapped' count");
      p.mapped[task] = count.get<int>();
    }
  }
  return p;
}

std::string TaskResultJson(const TaskResult& r) {
  json out = {{"ok", r.ok}, {"error", r.error}, {"metrics", json::parse(TaskMetricsJson(r.metrics))}};
  if (r.exit_code) out["exit_code"] = *r.exit_code;
  if (r.watermark) out["watermark"] = *r.watermark;
  if (!r.inputs_json.empty()) out["inputs"] = json::parse(r.inputs_json, nullptr, false);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

TaskResult TaskResultFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return TaskResult::Failure("the worker's result cannot be read: " + text.substr(0, 200));
  }
  TaskResult r;
  r.ok = j["ok"].get<bool>();
  if (j.contains("error") && j["error"].is_string()) r.error = j["error"].get<std::string>();
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) r.exit_code = j["exit_code"].get<int>();
  if (j.contains("metrics")) r.metrics = TaskMetricsFromJson(j["metrics"].dump());
  if (j.contains("watermark") && j["watermark"].is_string()) r.watermark = j["watermark"].get<std::string>();
  if (j.contains("inputs") && j["inputs"].is_array()) r.inputs_json = j["inputs"].dump();
  return r;
}

std::shared_ptr<const DagSpec> TryCache::Dag(StateStore& store, const OperatorRegistry& ops, const std::string& dag_id,
                                             int version, std::string* why) {
  const auto key = std::make_pair(dag_id, version);
  {
    std::lock_guard lock(mu_);
    if (auto dag = dags_.Find(key)) return dag;
  }
  auto stored = store.GetDagVersion(dag_id, version);
  if (!stored) {
    *why = "DAG " + dag_id + " has no stored version " + std::to_string(version);
    return nullptr;
  }
  LoadResult loaded = DagLoader(ops).LoadText(stored->source, stored->file);
  if (!loaded.dag) {
    *why = "DAG " + dag_id + " version " + std::to_string(version) + " no longer loads here";
    return nullptr;
  }
  std::lock_guard lock(mu_);
  return dags_.Put(key, std::make_shared<const DagSpec>(std::move(*loaded.dag)));
}

std::shared_ptr<const RunRecord> TryCache::Run(StateStore& store, const std::string& run_id) {
  {
    std::lock_guard lock(mu_);
    if (auto run = runs_.Find(run_id)) return run;
  }
  auto stored = store.GetRun(run_id);
  if (!stored) return nullptr;
  std::lock_guard lock(mu_);
  return runs_.Put(run_id, std::make_shared<const RunRecord>(std::move(*stored)));
}

void TryCache::PutOutput(const std::string& run_id, const std::string& task_id, HeldOutput output) {
  if (output.bytes <= 0 || output.bytes > output_bytes_) return;
  std::lock_guard lock(mu_);
  auto key = std::make_pair(run_id, task_id);
  if (auto it = outputs_.find(key); it != outputs_.end()) {
    held_bytes_ -= it->second.bytes;
    outputs_.erase(it);
    std::erase(output_order_, key);
  }
  held_bytes_ += output.bytes;
  outputs_.emplace(key, std::move(output));
  output_order_.push_back(std::move(key));
  while (held_bytes_ > output_bytes_ && !output_order_.empty()) {
    auto oldest = outputs_.find(output_order_.front());
    held_bytes_ -= oldest->second.bytes;
    outputs_.erase(oldest);
    output_order_.pop_front();
  }
}

std::optional<TryCache::HeldOutput> TryCache::Output(const std::string& run_id, const std::string& task_id) {
  std::lock_guard lock(mu_);
  auto it = outputs_.find({run_id, task_id});
  if (it == outputs_.end()) return std::nullopt;
  return it->second;
}

namespace {

// The input tables of `task` this worker holds in memory (from its own
// earlier tries), put in `outputs` for the try to read, each only while it
// is still the artifact the store records for its task.
void LoadHeldInputs(StateStore& store, TryCache& cache, const std::string& run_id, const TaskSpec& task,
                    const TryPayload& payload, TryContext::Outputs& outputs) {
  if (!task.input) return;
  std::vector<std::string> ids;
  if (auto it = payload.mapped.find(*task.input); it != payload.mapped.end()) {
    for (int i = 0; i < it->second; ++i) ids.push_back(MapInstanceId(*task.input, i));
  } else {
    ids.push_back(*task.input);
  }
  std::map<std::string, TryCache::HeldOutput> held;
  for (const std::string& id : ids) {
    if (auto h = cache.Output(run_id, id)) held.emplace(id, std::move(*h));
  }
  if (held.empty()) return;
  for (const ArtifactRecord& a : store.ListArtifacts(run_id)) {
    auto it = held.find(a.task_id);
    if (a.name != "output" || it == held.end() || a.content_hash != it->second.hash) continue;
    outputs[a.task_id] = it->second.data;
    cache.CountInputInMemory();
  }
}

}  // namespace

std::string RunClaimedTry(StateStore& store, const OperatorRegistry& ops, Clock& clock, const WorkClaim& claim,
                          std::shared_ptr<EventCancelToken> cancel, TryCache* cache) {
  const WorkItem& item = claim.item;
  TaskResult result;
  try {
    TryPayload payload = ParseTryPayload(item.payload);
    TryCache uncached;
    TryCache& dags = cache ? *cache : uncached;
    std::string why;
    std::shared_ptr<const DagSpec> dag = dags.Dag(store, ops, payload.dag_id, payload.dag_version, &why);
    if (!dag) throw Error::NotFound(why);
    const TaskSpec* task = dag->FindTask(item.task_id);
    std::optional<TaskSpec> instance;  // of a mapped task: TASK[INDEX]
    if (auto mapped = task ? std::nullopt : ParseMapInstanceId(item.task_id)) {
      if (const TaskSpec* of = dag->FindTask(mapped->first); of && of->map_over) {
        task = &instance.emplace(MapInstance(*of, mapped->second, payload.map_item));
      }
    }
    if (!task) throw Error::NotFound("DAG " + payload.dag_id + " has no task '" + item.task_id + "'");
    std::shared_ptr<const RunRecord> run = dags.Run(store, item.run_id);
    if (!run) throw Error::NotFound("no run " + item.run_id);
    const Operator* op = ops.Find(task->op);
    if (!op) throw Error::NotFound("operator '" + task->op + "' is not available on this worker");
    RenderedTry rendered = RenderTry(*dag, *task, *run, ParamsFromJson(run->params_json), item.try_number);
    TryContext::Outputs outputs;  // what this worker holds of the inputs; the rest comes from artifacts
    std::mutex outputs_mu;
    if (cache) LoadHeldInputs(store, *cache, run->run_id, *task, payload, outputs);
    TryContext ctx(*task, std::move(rendered.args), std::move(rendered.command), std::move(rendered.env),
                   payload.dag_dir, payload.log_path, item.try_number, std::move(cancel), &outputs, &outputs_mu, store,
                   /*record_processes=*/false, *run, payload.artifact_dir, clock, &ops);
    ctx.SetMapped(std::move(payload.mapped));
    result = op->Execute(ctx);
    if (result.inputs_json.empty()) result.inputs_json = ctx.noted_inputs_json();
    if (cache && result.ok && !ctx.output_hash().empty()) {
      std::lock_guard lock(outputs_mu);
      if (auto it = outputs.find(task->id); it != outputs.end()) {
        cache->PutOutput(run->run_id, task->id, {it->second, ctx.output_hash(), result.metrics.bytes_out.value_or(0)});
      }
    }
  } catch (const std::exception& e) {
    result = TaskResult::Failure(e.what());
  }
  return TaskResultJson(result);
}

}  // namespace pipeline
