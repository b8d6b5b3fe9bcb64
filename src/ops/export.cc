// export: writes the input table to a Parquet, CSV or JSONL file, or to
// Hive-style partition folders (col=value/part-0.parquet). Files appear whole
// or not at all (written beside, then renamed).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <system_error>

#include "columnar/compute.h"
#include "columnar/parquet.h"
#include "columnar/text_writer.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"

#include <nlohmann/json.hpp>
#include "sources/database.h"

namespace pipeline::ops {
namespace {
namespace fs = std::filesystem;

struct ExportArgs {
  std::string path;
  std::string target;  // a database URL instead of path, with table
  std::string table;
  sources::WriteOptions write;
  std::string format;
  columnar::ParquetWriteOptions parquet;
  std::vector<std::string> partition_by;
};

std::string FormatOf(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  if (ext == ".csv") return "csv";
  // .json too: what ingest reads as JSON Lines, and DuckDB's COPY writes.
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return "jsonl";
  return "parquet";
}

std::optional<ExportArgs> ParseExportArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                          Mark mark) {
  ArgReader r(with, context, diags, mark);
  ExportArgs a;
  r.Get("input");
  if (r.Get("target")) {
    // A database table, loaded in one transaction; credentials never in the DAG text.
    if (auto url = DatabaseUrl(r, "target")) a.target = *url;
    if (auto t = r.String("table", true)) {
      a.table = *t;
      if (!sources::IsTableName(a.table)) r.Error(r.Get("table"), "'table' must be NAME or SCHEMA.NAME (letters, digits, _)");
    }
    if (auto m = r.Choice("mode", {"append", "replace", "upsert"})) {
      a.write.mode = *m == "replace" ? sources::WriteMode::kReplace
                     : *m == "upsert" ? sources::WriteMode::kUpsert
                                      : sources::WriteMode::kAppend;
    }
    if (auto k = r.StringList("key")) {
      a.write.key = *k;
      std::vector<std::string> sorted = *k;
      std::sort(sorted.begin(), sorted.end());
      if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
        r.Error(r.Get("key"), "key column '" + *dup + "' is listed twice");
      }
    }
    if (a.write.mode == sources::WriteMode::kUpsert && a.write.key.empty() && r.ok()) {
      r.Error(r.Get("mode"), "mode upsert needs 'key' (the columns that identify a row)");
    }
    // A templated mode is known when the task runs: checked then.
    const bool mode_later = r.Get("mode") && HasPlaceholder(*r.Get("mode"));
    if (a.write.mode != sources::WriteMode::kUpsert && r.Get("key") && !mode_later) {
      r.Error(r.Get("key"), "'key' is for mode upsert");
    }
    for (const char* key : {"path", "format", "compression", "partition_by"}) {
      if (const DocNode* n = r.Get(key)) r.Error(n, "'" + std::string(key) + "' is for files: with 'target' the rows go to 'table'");
    }
  } else {
    if (auto p = r.String("path", true)) {
      a.path = *p;
      if (a.path.empty()) r.Error(r.Get("path"), "'path' must name a file (or a folder with partition_by)");
    }
    for (const char* key : {"table", "mode", "key"}) {
      if (const DocNode* n = r.Get(key)) r.Error(n, "'" + std::string(key) + "' needs 'target' (a database URL)");
    }
  }
  if (auto f = r.Choice("format", {"parquet", "csv", "jsonl"})) a.format = *f;
  if (auto c = r.Choice("compression", {"snappy", "zstd", "none"})) {
    using C = columnar::ParquetWriteOptions::Compression;
    a.parquet.compression = *c == "zstd" ? C::kZstd : *c == "none" ? C::kNone : C::kSnappy;
  }
  if (auto p = r.StringList("partition_by")) a.partition_by = *p;
  // Compression is Parquet's: CSV and JSON Lines are written plain.
  if (const DocNode* c = r.Get("compression"); c && !a.path.empty() && !HasPlaceholder(*c)) {
    const DocNode* f = r.Get("format");
    const bool format_later = (f && HasPlaceholder(*f)) || (!f && a.path.ends_with("}}"));
    const std::string format = !a.format.empty() ? a.format : FormatOf(a.path);
    if (!format_later && format != "parquet") {
      r.Error(c, "'compression' is for Parquet; " + format + " is written uncompressed");
    }
  }
  r.RejectUnknown({"input", "path", "format", "compression", "partition_by", "target", "table", "mode", "key"});
  if (!r.ok()) return std::nullopt;
  return a;
}

int64_t WriteOne(const columnar::Table& table, const std::string& path, const ExportArgs& a,
                 const std::string& format) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw std::system_error(ec, "cannot create " + parent.string());
  if (format == "csv") return columnar::WriteCsvFile(table, path);
  if (format == "jsonl") return columnar::WriteJsonlFile(table, path);
  return columnar::WriteParquetFile(table, path, a.parquet);
}

// The folder name part of a partition value, Hive style (nulls as
// __HIVE_DEFAULT_PARTITION__, '/' and other unsafe bytes %-escaped).
std::string PartitionValue(const columnar::Column& c, int64_t row) {
  if (c.IsNull(row)) return "__HIVE_DEFAULT_PARTITION__";
  std::string text;
  switch (c.type()) {
    case columnar::DataType::kInt64: text = std::to_string(c.ints()[row]); break;
    case columnar::DataType::kFloat64: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", c.doubles()[row]);
      text = buf;
      break;
    }
    case columnar::DataType::kBool: text = c.bools()[row] ? "true" : "false"; break;
    case columnar::DataType::kString: text = std::string(c.StringAt(row)); break;
    case columnar::DataType::kTimestamp: text = columnar::FormatTimestamp(c.ints()[row]); break;
  }
  std::string out;
  for (unsigned char ch : text) {
    if (ch == '/' || ch == '\\' || ch == '%' || ch == '=' || ch == ':' || ch < 0x20 || ch == 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (out == "." || out == "..") out = "%2E" + out.substr(1);
  return out;
}

class ExportOperator final : public Operator {
 public:
  std::string_view name() const override { return "export"; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseExportArgs(*task.with, "task '" + task.id + "': export", diags, task.mark);
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    auto args = ParseExportArgs(*task.with, "task '" + task.id + "': export", diags, task.mark);
    ColumnChecker c(input, "task '" + task.id + "': export", diags, task.mark);
    if (!args) return std::nullopt;
    for (const std::string& name : args->partition_by) c.Need(task.with->Find("partition_by"), "partition_by", name);
    for (const std::string& name : args->write.key) c.Need(task.with->Find("key"), "key", name);
    c.RefusePii(task, std::nullopt, nullptr);  // every column leaves the pipeline
    return std::nullopt;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseExportArgs(ctx.args(), "export", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr table = MainInput(ctx);
    if (!args->target.empty()) {
      args->target = ResolveDatabaseUrl(ctx, args->target);
      return ToDatabase(ctx, *args, *table);
    }
    std::string path = ResolvePath(ctx, args->path);
    std::string format = args->format.empty() ? FormatOf(path) : args->format;
    for (const std::string& col : args->partition_by) {
      if (!table->schema().IndexOf(col)) {
        return TaskResult::Failure("partition_by: column '" + col + "' is not in the input (columns: " +
                                   JoinNames(table->schema().names()) + ")");
      }
    }
    int64_t bytes = 0;
    int files = 0;
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    try {
      if (args->partition_by.empty()) {
        bytes = WriteOne(*table, path, *args, format);
        files = 1;
      } else {
        // Every partition is written into a staging folder beside PATH and
        // moved in once all are: a failure on the way (a value whose folder
        // name is too long, a full disk, a cancel) leaves PATH as it was, not
        // some partitions new and the others old.
        static std::atomic<int> counter{0};
        const fs::path staging = fs::path(path).lexically_normal().string() + ".staging-" + std::to_string(::getpid()) +
                                 "-" + std::to_string(counter++);
        struct Cleanup {
          const fs::path& dir;
          ~Cleanup() {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
          }
        } cleanup{staging};
        const std::string file = "part-0" + (format == "parquet" ? std::string(".parquet") : "." + format);
        std::vector<std::string> dirs;
        for (const auto& [dir, part] : Partition(*table, args->partition_by)) {
          if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
          bytes += WriteOne(*part, (staging / dir / file).string(), *args, format);
          dirs.push_back(dir);
          ++files;
        }
        for (const std::string& dir : dirs) {
          const fs::path target = fs::path(path) / dir;
          fs::create_directories(target);
          fs::rename(staging / dir / file, target / file);
        }
      }
    } catch (const std::system_error& e) {  // (fs::filesystem_error too: it names the paths)
      return TaskResult::Failure(e.what());
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure(e.what());
    }
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = table->num_rows();
    result.metrics.rows_out = table->num_rows();
    result.metrics.summary = "wrote " + std::to_string(files) + (files == 1 ? " file" : " files") + ", " +
                             std::to_string(bytes) + " bytes";
    std::error_code ec;
    RecordExport(ctx, *table, "file", fs::absolute(path, ec).lexically_normal().string());
    return result;
  }

 private:
  static TaskResult ToDatabase(TaskContext& ctx, const ExportArgs& args, const columnar::Table& table) {
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    sources::WriteResult written;
    try {
      written = sources::WriteTable(args.target, args.table, table, args.write);
    } catch (const sources::SourceError& e) {
      return TaskResult::Failure("table " + args.table + " of " + sources::Redacted(args.target) + ": " + e.what());
    }
    static const char* kModes[] = {"appended", "replaced", "upserted"};
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = table.num_rows();
    result.metrics.rows_out = written.rows;
    result.metrics.summary = std::string(kModes[static_cast<int>(args.write.mode)]) + " " + std::to_string(written.rows) +
                             " rows into " + args.table + (written.created ? " (created)" : "") + " of " +
                             sources::Redacted(args.target);
    ctx.Log(result.metrics.summary);
    RecordExport(ctx, table, sources::Redacted(args.target), args.table);
    return result;
  }

  // Lineage: the "export" artifact says where the rows went (an OpenLineage
  // dataset: a file or folder by path, a table by its database), with their
  // columns, and records what the try read like any artifact.
  static void RecordExport(TaskContext& ctx, const columnar::Table& table, const std::string& dataset_namespace,
                           const std::string& name) {
    nlohmann::json doc = {{"datasets", {{{"namespace", dataset_namespace}, {"name", name}}}},
                          {"rows", table.num_rows()},
                          {"schema", nlohmann::json::parse(SchemaJson(table.schema()))}};
    PersistJson(ctx, doc.dump(2), "export", &table);
  }

  // Splits `table` by the values of `columns`; keys are "a=1/b=x" folders.
  // The partition columns are dropped from the files (they are in the path).
  static std::map<std::string, columnar::TablePtr> Partition(const columnar::Table& table,
                                                             const std::vector<std::string>& columns) {
    columnar::TablePtr flat = columnar::Concatenate(table);
    std::vector<int> keys;
    for (const std::string& c : columns) keys.push_back(*table.schema().IndexOf(c));
    std::map<std::string, std::vector<int64_t>> rows;
    if (flat->num_batches() > 0) {
      const columnar::Batch& b = flat->batch(0);
      for (int64_t row = 0; row < b.num_rows; ++row) {
        std::string dir;
        for (size_t k = 0; k < keys.size(); ++k) {
          dir += (k ? "/" : "") + columns[k] + "=" + PartitionValue(*b.columns[keys[k]], row);
        }
        rows[dir].push_back(row);
      }
    }
    std::vector<int> keep;
    columnar::Schema schema;
    for (int c = 0; c < table.num_columns(); ++c) {
      if (std::find(keys.begin(), keys.end(), c) == keys.end()) {
        keep.push_back(c);
        schema.Add(table.schema().field(c));
      }
    }
    std::map<std::string, columnar::TablePtr> out;
    for (auto& [dir, indices] : rows) {
      auto part = std::make_shared<columnar::Table>(schema);
      columnar::Batch pb;
      pb.num_rows = static_cast<int64_t>(indices.size());
      for (int c : keep) pb.columns.push_back(columnar::Take(*flat->batch(0).columns[c], indices));
      part->AddBatch(std::move(pb));
      out[dir] = part;
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeExportOperator() { return std::make_unique<ExportOperator>(); }

}  // namespace pipeline::ops
