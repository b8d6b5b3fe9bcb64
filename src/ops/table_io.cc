#include "ops/table_io.h"

#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "columnar/file_hash.h"
#include "columnar/parquet.h"
#include "core/error.h"

namespace pipeline::ops {
namespace fs = std::filesystem;

namespace {

// The outputs of the `count` instances of mapped task `task_id`, one after
// the other in item order (their batches shared, not copied).
columnar::TablePtr MappedInputTable(TaskContext& ctx, const std::string& task_id, int count) {
  auto out = std::make_shared<columnar::Table>();
  for (int i = 0; i < count; ++i) {
    const std::string part_id = MapInstanceId(task_id, i);
    columnar::TablePtr part = InputTable(ctx, part_id);
    if (i == 0) {
      *out = columnar::Table(part->schema());
      for (const auto& [key, value] : part->metadata()) out->SetMetadata(key, value);
    } else if (!(part->schema() == out->schema())) {
      throw Error::InvalidArgument("the outputs of mapped task '" + task_id + "' differ in columns: " + part_id +
                                   " has " + SchemaJson(part->schema()) + ", " + MapInstanceId(task_id, 0) + " has " +
                                   SchemaJson(out->schema()));
    }
    for (const columnar::Batch& batch : part->batches()) out->AddBatch(batch);
  }
  return out;
}

}  // namespace

columnar::TablePtr InputTable(TaskContext& ctx, const std::string& task_id) {
  if (int count = ctx.MappedInstances(task_id); count > 0) return MappedInputTable(ctx, task_id, count);
  auto artifact = ctx.FindArtifact(task_id, "output");
  // Lineage: the table by its persisted artifact's hash ("" when it was not persisted).
  ctx.NoteInput(nlohmann::json{{"artifact",
                                {{"run", ctx.run_id()},
                                 {"task", task_id},
                                 {"name", "output"},
                                 {"hash", artifact ? artifact->content_hash : ""}}}}
                    .dump());
  if (auto data = ctx.Input(task_id)) {
    if (auto* t = dynamic_cast<const TableDataset*>(data.get())) return t->table();
  }
  if (!artifact) {
    throw Error::NotFound("the output of task '" + task_id +
                          "' is neither in memory nor persisted (was it run with persist: false "
                          "in an earlier process?)");
  }
  // Written by another process, maybe on another machine (a worker): read
  // only what its writer recorded.
  if (!artifact->content_hash.empty()) {
    std::string hash = FileHash(artifact->uri);
    if (hash != artifact->content_hash) {
      throw Error::Corruption("the output of task '" + task_id + "' (" + artifact->uri +
                              ") is not what the task wrote: its content hash is " + hash + ", recorded " +
                              artifact->content_hash);
    }
  }
  try {
    return columnar::ReadParquetFile(artifact->uri);
  } catch (const columnar::FormatError& e) {
    throw Error::Corruption("cannot read the output of task '" + task_id + "': " + e.what());
  }
}

columnar::TablePtr MainInput(TaskContext& ctx) {
  if (!ctx.task().input) throw Error::InvalidArgument("task '" + ctx.task().id + "' has no input table");
  return InputTable(ctx, *ctx.task().input);
}

namespace {

nlohmann::json SchemaObject(const columnar::Schema& schema) {
  nlohmann::json cols = nlohmann::json::array();
  for (const columnar::Field& f : schema.fields()) {
    cols.push_back({{"name", f.name}, {"type", std::string(columnar::TypeName(f.type))}});
  }
  return {{"columns", cols}};
}

}  // namespace

std::string SchemaJson(const columnar::Schema& schema) { return SchemaObject(schema).dump(); }

std::string FileHash(const std::string& path) {
  std::optional<std::string> hash = columnar::FileContentHash(path);
  if (!hash) throw Error::Unavailable("cannot read " + path);
  return *hash;
}

namespace {

void MakeArtifactDir(const TaskContext& ctx) {
  std::error_code ec;
  fs::create_directories(ctx.artifact_dir(), ec);
  if (ec) throw Error::Unavailable("cannot create " + ctx.artifact_dir() + ": " + ec.message());
}

}  // namespace

ArtifactInfo PersistTable(TaskContext& ctx, const columnar::Table& table, const std::string& name) {
  MakeArtifactDir(ctx);
  std::string path = (fs::path(ctx.artifact_dir()) / (name + ".parquet")).string();
  try {
    columnar::WriteParquetFile(table, path);
  } catch (const columnar::FormatError& e) {
    throw Error::Internal("cannot write " + path + ": " + e.what());
  }
  // The columns marked personal data (of the task's input or its output:
  // a quarantine has the input's), which the rows API hides from viewers.
  nlohmann::json schema = SchemaObject(table.schema());
  nlohmann::json marked = nlohmann::json::array();
  for (const columnar::Field& f : table.schema().fields()) {
    if (ctx.task().IsPii(f.name)) marked.push_back(f.name);
  }
  if (!marked.empty()) schema["pii"] = marked;
  ArtifactInfo info{name, path, schema.dump(), table.num_rows(), FileHash(path), ctx.noted_inputs_json(), ctx.cache_key};
  ctx.RecordArtifact(info);
  return info;
}

ArtifactInfo PersistJson(TaskContext& ctx, const std::string& json, const std::string& name,
                         const columnar::Table* table) {
  MakeArtifactDir(ctx);
  std::string path = (fs::path(ctx.artifact_dir()) / (name + ".json")).string();
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json;
    if (!out.flush()) throw Error::Unavailable("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error::Unavailable("cannot rename " + tmp + ": " + ec.message());
  ArtifactInfo info{name,
                    path,
                    table ? SchemaJson(table->schema()) : "{}",
                    table ? table->num_rows() : 0,
                    FileHash(path),
                    ctx.noted_inputs_json(),
                    ctx.cache_key};
  ctx.RecordArtifact(info);
  return info;
}

void NoteFile(TaskContext& ctx, const std::string& path, std::string hash) {
  std::error_code ec;
  const std::string absolute = fs::absolute(path, ec).lexically_normal().string();
  if (hash.empty()) hash = FileHash(path);
  ctx.NoteInput(nlohmann::json{{"file", {{"path", absolute}, {"hash", hash}}}}.dump());
}

void NoteQuery(TaskContext& ctx, const std::string& source, const std::string& query,
               const std::optional<std::string>& watermark) {
  ctx.NoteInput(nlohmann::json{{"query",
                                {{"source", source},
                                 {"query", query},
                                 {"watermark", watermark ? nlohmann::json(*watermark) : nlohmann::json(nullptr)}}}}
                    .dump());
}

nlohmann::json FittedChain(const columnar::Table& table) {
  auto it = table.metadata().find("pipe.transform");
  if (it == table.metadata().end()) return nlohmann::json::array();
  nlohmann::json chain = nlohmann::json::parse(it->second, nullptr, false);
  return chain.is_array() ? chain : nlohmann::json::array();
}

std::map<std::string, std::string> WithFittedSteps(const columnar::Table& table, const nlohmann::json& steps) {
  std::map<std::string, std::string> metadata = table.metadata();
  if (steps.empty()) return metadata;
  nlohmann::json chain = FittedChain(table);
  if (chain.empty()) {
    // The chain starts with the columns the rows had before its first step:
    // what serving and `predict` take as raw rows.
    nlohmann::json columns = nlohmann::json::array();
    for (const columnar::Field& f : table.schema().fields()) {
      columns.push_back({{"name", f.name}, {"type", columnar::TypeName(f.type)}});
    }
    chain.push_back({{"step", "source"}, {"params", {{"columns", columns}}}});
  }
  for (const auto& step : steps) chain.push_back(step);
  metadata["pipe.transform"] = chain.dump();
  return metadata;
}

void PublishOutput(TaskContext& ctx, columnar::TablePtr table, TaskMetrics& metrics) {
  metrics.bytes_out = table->MemoryBytes();
  // A try stopped by a timeout or a cancel must not hand anything on.
  if (ctx.cancel().cancelled()) throw Error::Cancelled("stopped before its output was published");
  ctx.SetOutput(std::make_shared<TableDataset>(table));
  if (ctx.task().persist) PersistTable(ctx, *table, "output");
}

int64_t MemoryLimit() {
  const char* env = std::getenv("PIPE_MEMORY_LIMIT");
  if (!env || !*env) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 2 : int64_t{4} << 30;
  }
  std::string_view text(env);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  int shift = unit.empty() || unit == "B" ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : unit == "T" ? 40 : -1;
  if (ec != std::errc() || value <= 0 || shift < 0 || value > (INT64_MAX >> shift)) {
    throw Error::InvalidArgument("PIPE_MEMORY_LIMIT: '" + std::string(text) +
                                 "' is not a size like 536870912, 512M or 8G");
  }
  return value << shift;
}

std::shared_ptr<columnar::SpillFile> SpillIfLarge(TaskContext& ctx, int64_t input_bytes) {
  const int64_t limit = MemoryLimit();
  if (2 * input_bytes <= limit) return nullptr;
  MakeArtifactDir(ctx);
  ctx.Log("the output goes to a spill file as it is built: input and output (2 x " + std::to_string(input_bytes) +
          " bytes) exceed the memory limit of " + std::to_string(limit) + " bytes (PIPE_MEMORY_LIMIT)");
  try {
    return columnar::SpillFile::Create(ctx.artifact_dir());
  } catch (const columnar::FormatError& e) {
    throw Error::Unavailable(e.what());
  }
}

std::string ResolvePath(const TaskContext& ctx, const std::string& path) {
  fs::path p(path);
  return p.is_absolute() ? p.string() : (fs::path(ctx.dag_dir()) / p).string();
}

std::string ResolveDatabaseUrl(const TaskContext& ctx, const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (!url.starts_with(kSqlite)) return url;
  return std::string(kSqlite) + ResolvePath(ctx, url.substr(kSqlite.size()));
}

std::vector<std::string> ExpandPath(const std::string& pattern) {
  if (pattern.find_first_of("*?[") == std::string::npos) {
    std::error_code ec;
    if (!std::filesystem::exists(pattern, ec)) return {};
    return {pattern};
  }
  glob_t g{};
  int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace pipeline::ops
