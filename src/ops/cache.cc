// `cache: true`: a task whose work is the same as an earlier successful
// try's (the same operator, rendered arguments, input tables and sources)
// reuses that try's artifacts instead of running. A decorator around the
// operators that produce a table, so that no operator carries the logic.
#include <filesystem>
#include <string>

#include <xxhash.h>

#include <nlohmann/json.hpp>

#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

// The node as text that tells every difference apart (a quoted "1" from 1).
void Canonical(const DocNode& node, std::string& out) {
  if (node.is_map()) {
    out += '{';
    for (const auto& [key, value] : node.entries()) {
      Canonical(*key, out);
      out += ':';
      Canonical(*value, out);
      out += ',';
    }
    out += '}';
  } else if (node.is_sequence()) {
    out += '[';
    for (const auto& item : node.items()) {
      Canonical(*item, out);
      out += ',';
    }
    out += ']';
  } else if (node.is_null()) {
    out += '~';
  } else {
    out += node.quoted() ? 'q' : 's';
    out += std::to_string(node.text().size()) + ':' + node.text();
  }
}

class CachedOperator final : public Operator {
 public:
  explicit CachedOperator(std::unique_ptr<Operator> inner) : inner_(std::move(inner)) {}

  std::string_view name() const override { return inner_->name(); }
  bool produces_table() const override { return inner_->produces_table(); }
  bool consumes_table() const override { return inner_->consumes_table(); }
  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override { inner_->CheckArgs(task, diags); }
  std::vector<TaskReference> TaskReferences(const TaskSpec& task) const override { return inner_->TaskReferences(task); }
  void CheckTasks(const DagSpec& dag, const std::vector<const TaskSpec*>& tasks, Diagnostics& diags) const override {
    inner_->CheckTasks(dag, tasks, diags);
  }
  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    return inner_->CheckColumns(task, input, diags);
  }
  std::unique_ptr<PreparedTry> Prepare(TaskContext& ctx) const override { return inner_->Prepare(ctx); }
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* why) const override {
    return inner_->CacheInputs(ctx, why);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    if (!ctx.task().cache) return inner_->Execute(ctx);
    // A try that reads an earlier run's inputs again (runs rerun
    // --same-data) neither reuses a result nor keeps one under a key: the
    // key is made of the sources as they are now, its output of what they
    // were then.
    if (ctx.ReplayInputs()) {
      ctx.Log("cache: not reused nor kept: the try reads an earlier run's inputs (--same-data)");
      return inner_->Execute(ctx);
    }
    std::string why;
    std::optional<std::string> key = Key(ctx, &why);
    if (!key) {
      ctx.Log("cache: not reused: " + why);
      return inner_->Execute(ctx);
    }
    ctx.cache_key = *key;
    if (!ctx.cache_enabled()) {
      ctx.Log("cache: not reused (--no-cache)");
      return inner_->Execute(ctx);
    }
    if (std::optional<CachedWork> hit = ctx.FindCached(*key, ctx.task().cache_ttl)) {
      if (std::optional<TaskResult> reused = Reuse(ctx, *hit)) return *reused;
    }
    ctx.Log("cache: no earlier result with key " + *key);
    return inner_->Execute(ctx);
  }

 private:
  // op, rendered arguments, the input tables' content hashes, what the
  // operator adds: hashed into "xxh128:HEX".
  std::optional<std::string> Key(TaskContext& ctx, std::string* why) const {
    std::string text = "pipe-cache-1\nop:" + std::string(name()) + "\nargs:";
    Canonical(ctx.args(), text);
    if (const auto& input = ctx.task().input) {
      const int count = ctx.MappedInstances(*input);
      for (int i = 0; i < std::max(count, 1); ++i) {
        const std::string id = count > 0 ? MapInstanceId(*input, i) : *input;
        auto artifact = ctx.FindArtifact(id, "output");
        if (!artifact || artifact->content_hash.empty()) {
          *why = "the input of task '" + id + "' is not persisted (persist: false), so its content has no hash";
          return std::nullopt;
        }
        text += "\ninput:" + id + "=" + artifact->content_hash;
      }
    }
    std::optional<std::string> more = CacheInputs(ctx, why);
    if (!more) return std::nullopt;
    text += "\nmore:" + *more;
    const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
    char hex[33];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return std::string("xxh128:") + hex;
  }

  // The earlier try's artifacts recorded as this try's (the same files);
  // nullopt when one of them is gone or changed (then the task runs).
  static std::optional<TaskResult> Reuse(TaskContext& ctx, const CachedWork& hit) {
    const ArtifactInfo* output = nullptr;
    for (const ArtifactInfo& a : hit.artifacts) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(a.uri, ec) || FileHash(a.uri) != a.content_hash) {
        ctx.Log("cache: the result of " + hit.run_id + "/" + hit.task_id + " is gone or changed (" + a.uri + ")");
        return std::nullopt;
      }
      if (a.name == "output") output = &a;
    }
    if (!output) return std::nullopt;
    for (ArtifactInfo a : hit.artifacts) {
      a.inputs_json = InThisRun(ctx, a.inputs_json);
      ctx.RecordArtifact(a);
    }
    TaskResult result = TaskResult::Success();
    result.metrics.rows_out = output->row_count;
    result.metrics.summary = "cached from " + hit.run_id + "/" + hit.task_id;
    ctx.Log("cache: reused the result of " + hit.run_id + "/" + hit.task_id + " (key " + ctx.cache_key + ")");
    return result;
  }

  // The reused try's lineage as this try's: a table it read that this run
  // holds too (the same content: the key says so, whichever run or DAG the
  // result came from) is this run's, so that lineage stays within the run.
  static std::string InThisRun(TaskContext& ctx, const std::string& inputs_json) {
    nlohmann::json inputs = nlohmann::json::parse(inputs_json, nullptr, false);
    if (!inputs.is_array()) return inputs_json;
    for (nlohmann::json& in : inputs) {
      if (!in.is_object() || !in.contains("artifact") || !in["artifact"].is_object()) continue;
      nlohmann::json& ref = in["artifact"];
      auto mine = ctx.FindArtifact(ref.value("task", ""), ref.value("name", "output"));
      if (mine && !mine->content_hash.empty() && mine->content_hash == ref.value("hash", "")) ref["run"] = ctx.run_id();
    }
    return inputs.dump();
  }

  std::unique_ptr<Operator> inner_;
};

}  // namespace

std::unique_ptr<Operator> Cached(std::unique_ptr<Operator> op) { return std::make_unique<CachedOperator>(std::move(op)); }

}  // namespace pipeline::ops
