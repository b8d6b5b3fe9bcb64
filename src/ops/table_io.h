// How the data operators hand tables to each other: in memory within a run
// (TableDataset), and as Parquet artifacts under the task's artifact folder
// so that a later try (after a crash) or a person can read them.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "columnar/spill.h"
#include "columnar/table.h"
#include "core/operator.h"

#include <nlohmann/json_fwd.hpp>

namespace pipeline::ops {

class TableDataset final : public Dataset {
 public:
  explicit TableDataset(columnar::TablePtr table) : table_(std::move(table)) {}
  const columnar::TablePtr& table() const { return table_; }

 private:
  columnar::TablePtr table_;
};

// The table `task_id` produced in this run: the in-memory one, else its
// persisted "output" artifact. Throws Error(kNotFound) when neither exists
// (e.g. the producer ran with `persist: false` before a crash).
columnar::TablePtr InputTable(TaskContext& ctx, const std::string& task_id);

// The task's input table: `with.input` or its single upstream producer (the
// loader resolved it into TaskSpec::input).
columnar::TablePtr MainInput(TaskContext& ctx);

// Writes `table` as ARTIFACT_DIR/NAME.parquet (atomically) and records it.
ArtifactInfo PersistTable(TaskContext& ctx, const columnar::Table& table, const std::string& name);
// Writes `json` as ARTIFACT_DIR/NAME.json and records it; with `table`, as
// a record of that table (its schema and row count: an export's).
ArtifactInfo PersistJson(TaskContext& ctx, const std::string& json, const std::string& name,
                         const columnar::Table* table = nullptr);

// Hands `table` to downstream tasks and persists it unless the task says
// `persist: false`. Throws Error(kCancelled) when the try was stopped.
// Records the table's in-memory size in `metrics`.
void PublishOutput(TaskContext& ctx, columnar::TablePtr table, TaskMetrics& metrics);

// The table's fitted chain (its "pipe.transform" metadata): the steps
// `clean` and `transform` fitted, in order; an empty array when there is
// none (or it cannot be read).
nlohmann::json FittedChain(const columnar::Table& table);
// `table`'s metadata with `steps` appended to its fitted chain.
std::map<std::string, std::string> WithFittedSteps(const columnar::Table& table, const nlohmann::json& steps);

// Lineage (TaskContext::NoteInput): a file the try read, by its absolute
// path and content hash (computed when not given); a database query, by its
// source URL (without a password), text and the mark it read past.
void NoteFile(TaskContext& ctx, const std::string& path, std::string hash = "");
void NoteQuery(TaskContext& ctx, const std::string& source, const std::string& query,
               const std::optional<std::string>& watermark);

// {"columns":[{"name":..,"type":..},...]}
std::string SchemaJson(const columnar::Schema& schema);
// "xxh3:0123456789abcdef" of the file's bytes.
std::string FileHash(const std::string& path);

// The bytes a task's tables may take in memory: PIPE_MEMORY_LIMIT ("512M",
// "8G", plain bytes), by default half of the machine's memory. Throws
// Error(kInvalidArgument) naming the variable when it is not a size.
int64_t MemoryLimit();

// A spill file in the task's artifact folder when an operator whose output
// is about `input_bytes` large would hold more than the memory limit with its
// input and output together (2 x input_bytes); nullptr otherwise. Logs why.
std::shared_ptr<columnar::SpillFile> SpillIfLarge(TaskContext& ctx, int64_t input_bytes);

// Resolves a path argument against the DAG file's folder.
std::string ResolvePath(const TaskContext& ctx, const std::string& path);
// A database URL with a relative `sqlite:PATH` made relative to the DAG
// file's folder, as `path`s are; other URLs as they are.
std::string ResolveDatabaseUrl(const TaskContext& ctx, const std::string& url);
// The files a path or glob (*, ?, [...]) names, sorted; empty when none.
std::vector<std::string> ExpandPath(const std::string& pattern);

}  // namespace pipeline::ops
