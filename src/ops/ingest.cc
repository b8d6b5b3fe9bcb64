// ingest: reads CSV, JSONL or Parquet files (a path or a glob) into a table.

#include <algorithm>
#include <cstdlib>
#include <charconv>
#include <cctype>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/jsonl.h"
#include "columnar/parquet.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"
#include "sources/database.h"

namespace pipeline::ops {
namespace {

struct IngestArgs {
  std::string path;
  std::string source;  // a database URL instead of path, with query
  std::string query;
  std::string incremental;  // the column whose high-water mark a run reads past
  bool new_files_only = false;  // path with incremental: true: the files not read before
  bool snapshot = false;  // keep a copy of what was read (a rerun --same-data reads it)
  std::string format;  // "" = from the extension
  columnar::CsvOptions csv;
  std::vector<std::string> pii;  // schema columns marked `pii: true`
  bool quarantine = false;
  double max_bad_rows = 0.01;
};

const std::vector<std::string> kIngestArgs = {"path",       "source",       "query",       "format", "schema",
                                             "csv",        "on_bad_row",   "max_bad_rows", "incremental", "snapshot"};

std::optional<IngestArgs> ParseIngestArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                          Mark mark) {
  ArgReader r(with, context, diags, mark);
  IngestArgs a;
  if (r.Get("source")) {
    // A database: its URL and a query; credentials never in the DAG text.
    if (auto url = DatabaseUrl(r, "source")) a.source = *url;
    if (auto q = r.String("query", true)) {
      a.query = *q;
      if (!sources::HasStatement(a.query)) r.Error(r.Get("query"), "'query' holds no statement (only white space and comments)");
    }
    for (const char* key : {"path", "format", "csv", "on_bad_row", "max_bad_rows"}) {
      if (const DocNode* n = r.Get(key)) r.Error(n, "'" + std::string(key) + "' is for files: with 'source' the query gives the rows");
    }
    if (const DocNode* inc = r.Get("incremental")) {
      ArgReader i(*inc, context + ": incremental", diags, Within(*inc, mark));  // {column: NAME}
      if (inc->is_map()) {
        if (auto c = i.String("column", true)) {
          a.incremental = *c;
          if (a.incremental.empty()) i.Error(i.Get("column"), "'column' is empty (name the column whose values grow)");
        }
        i.RejectUnknown({"column"});
      }
    }
  } else {
    if (auto p = r.String("path", true)) a.path = *p;
    if (const DocNode* q = r.Get("query")) r.Error(q, "'query' needs 'source' (a database URL)");
    if (const DocNode* inc = r.Get("incremental")) {
      if (inc->is_map()) {
        // The contract's form, {column: C}: for a path glob, only the files
        // not read before (the column orders a database's rows, not files).
        ArgReader i(*inc, context + ": incremental", diags, Within(*inc, mark));
        i.String("column", true);
        i.RejectUnknown({"column"});
        a.new_files_only = true;
      } else if (auto b = r.Bool("incremental")) {
        a.new_files_only = *b;
      }
      if (a.new_files_only && !r.Get("schema")) {
        r.Error(inc, "'incremental' with 'path' needs 'schema' (a run that finds no new file still gives its columns)");
      }
    }
  }
  if (auto f = r.Choice("format", {"csv", "jsonl", "parquet"})) a.format = *f;
  if (const DocNode* schema = r.Get("schema")) {
    if (!schema->is_map()) {
      r.Error(schema, "'schema' must be a map of column -> type or {type: TYPE, pii: true}");
    } else {
      for (const auto& [key, value] : schema->entries()) {
        const std::string what = "schema of column '" + key->text() + "'";
        const DocNode* type = value.get();
        if (value->is_map()) {  // {type: T, pii: BOOL}
          ArgReader e(*value, context + ": " + what, diags, Within(*value, mark));
          type = e.Get("type");
          if (!type) e.Error(value.get(), "needs 'type'");
          if (auto pii = e.Bool("pii"); pii && *pii) a.pii.push_back(key->text());
          e.RejectUnknown({"type", "pii"});
          if (!type) continue;
        }
        if (auto t = ParseType(*type, what, r)) a.csv.types[key->text()] = *t;
      }
    }
  }
  if (const DocNode* csv = r.Get("csv")) {
    ArgReader c(*csv, context + ": csv", diags, Within(*csv, mark));
    auto one_char = [&](std::string_view key, char* out) {
      if (auto v = c.String(key)) {
        if (v->size() != 1 || *v == "\n" || *v == "\r") {
          c.Error(c.Get(key), "'" + std::string(key) + "' must be one character (not a newline)");
        } else {
          *out = (*v)[0];
        }
      }
    };
    one_char("delimiter", &a.csv.delimiter);
    one_char("quote", &a.csv.quote);
    if (auto h = c.Bool("header")) a.csv.header = *h;
    if (auto s = c.Bool("strict_quotes")) a.csv.strict_quotes = *s;
    if (auto nv = c.StringList("null_values")) a.csv.null_values = *nv;
    c.RejectUnknown({"delimiter", "header", "quote", "strict_quotes", "null_values"});
    if (a.csv.delimiter == a.csv.quote) c.Error(csv, "'delimiter' and 'quote' must differ");
  }
  if (auto s = r.Bool("snapshot")) a.snapshot = *s;
  if (auto b = r.Choice("on_bad_row", {"fail", "quarantine"})) a.quarantine = *b == "quarantine";
  if (auto m = r.Fraction("max_bad_rows")) a.max_bad_rows = *m;
  r.RejectUnknown(kIngestArgs);
  if (!r.ok()) return std::nullopt;
  return a;
}

std::string FormatOf(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".csv" || ext == ".tsv" || ext == ".txt") return "csv";
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return "jsonl";
  if (ext == ".parquet" || ext == ".pq") return "parquet";
  return "";
}

// Parquet files carry their own types: a declared type that differs is a
// cast (every value must convert), a declared column that is missing an error.
// A value of a column in `pii` is not quoted in the error (it would be kept
// in the task's error, the store, the API and OpenLineage's FAIL event).
columnar::TablePtr ApplyDeclaredTypes(columnar::TablePtr table, const std::map<std::string, columnar::DataType>& types,
                                      const std::vector<std::string>& pii) {
  if (types.empty()) return table;
  std::vector<columnar::Field> fields = table->schema().fields();
  std::vector<int> changed;
  for (const auto& [name, type] : types) {
    auto idx = table->schema().IndexOf(name);
    if (!idx) throw columnar::FormatError("column " + name + " declared in the schema is not in the file");
    if (fields[*idx].type != type) {
      fields[*idx].type = type;
      changed.push_back(*idx);
    }
  }
  if (changed.empty()) return table;
  auto out = std::make_shared<columnar::Table>(columnar::Schema(fields));
  for (const auto& [k, v] : table->metadata()) out->SetMetadata(k, v);
  for (const columnar::Batch& b : table->batches()) {
    columnar::Batch nb = b;
    for (int c : changed) {
      int64_t row = 0;
      std::string text;
      nb.columns[c] = columnar::Cast(*b.columns[c], fields[c].type, &row, &text);
      if (!nb.columns[c]) {
        const bool hidden = std::find(pii.begin(), pii.end(), fields[c].name) != pii.end();
        throw columnar::FormatError("column " + fields[c].name + ": " +
                                    (hidden ? "a value (personal data, not shown)" : "'" + text + "'") +
                                    " cannot be cast to " + std::string(columnar::TypeName(fields[c].type)) +
                                    " as the schema declares");
      }
    }
    out->AddBatch(std::move(nb));
  }
  return out;
}

class IngestOperator final : public Operator {
 public:
  std::string_view name() const override { return "ingest"; }
  bool produces_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseIngestArgs(*task.with, "task '" + task.id + "': ingest", diags, task.mark);
  }

  // A declared schema names columns the table has, with their types (the
  // file may hold more).
  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns*, Diagnostics& diags) const override {
    auto args = ParseIngestArgs(*task.with, "task '" + task.id + "': ingest", diags, task.mark);
    if (!args || args->csv.types.empty()) return std::nullopt;
    KnownColumns known;
    for (const auto& [name, type] : args->csv.types) known.columns.emplace_back(name, std::string(columnar::TypeName(type)));
    for (const std::string& name : args->pii) known.pii[name] = "pii: true in task '" + task.id + "'";
    return known;
  }

  // The files' contents; a database's rows and an incremental read's new
  // rows cannot be known before reading.
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* why) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseIngestArgs(ctx.args(), "ingest", diags, ctx.task().mark);
    if (!args) return "";  // Execute reports it
    if (!args->source.empty()) {
      *why = "a database's rows may change between runs";
      return std::nullopt;
    }
    if (args->new_files_only) {
      *why = "an incremental read depends on the files read before";
      return std::nullopt;
    }
    std::string out;
    for (const std::string& f : ExpandPath(ResolvePath(ctx, args->path))) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(f, ec)) continue;  // Execute reports it
      out += f + "=" + FileHash(f) + "\n";
    }
    return out;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseIngestArgs(ctx.args(), "ingest", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    std::optional<nlohmann::json> replay;
    if (auto text = ctx.ReplayInputs()) {
      replay = nlohmann::json::parse(*text, nullptr, false);
      if (!replay->is_object()) return TaskResult::Failure("the inputs to read again are not a JSON object: " + *text);
    }
    if (!args->source.empty()) {
      args->source = ResolveDatabaseUrl(ctx, args->source);
      return FromDatabase(ctx, *args, replay ? &*replay : nullptr);
    }

    std::string pattern = ResolvePath(ctx, args->path);
    std::vector<std::string> files = ExpandPath(pattern);
    // Where each file's content is read from, and its hash when known: the
    // file itself, a snapshot copy of it, or (a rerun on the same data) the
    // earlier run's files, each from where that content still is.
    std::vector<std::string> read_from;
    std::vector<std::string> hashes;
    if (replay) {
      files.clear();
      for (const nlohmann::json& f : replay->value("files", nlohmann::json::array())) {
        files.push_back(f.value("path", ""));
        read_from.push_back(f.value("read", ""));
        hashes.push_back(f.value("hash", ""));
      }
      ctx.Log("reading the " + std::to_string(files.size()) + " files of the earlier run again (--same-data)");
    }
    if (files.empty() && !args->new_files_only) return TaskResult::Failure("path '" + args->path + "' matches no file");
    // incremental: true: only files whose path and content no success has
    // read. An instance of a mapped task stores what it read and also skips
    // what its other instances read (an item that moved to it, a map_over
    // reordered, brings the marks of its files along).
    nlohmann::json seen = nlohmann::json::object();
    if (args->new_files_only && !replay) {
      if (auto mark = ctx.Watermark()) {
        seen = nlohmann::json::parse(*mark, nullptr, false);
        if (!seen.is_object()) return TaskResult::Failure("the stored mark of the files read is not a JSON object: " + *mark);
      }
      std::vector<nlohmann::json> others;
      if (ctx.task().map_index >= 0) {
        for (const std::string& w : ctx.SiblingWatermarks()) {
          nlohmann::json j = nlohmann::json::parse(w, nullptr, false);
          if (j.is_object()) others.push_back(std::move(j));
        }
      }
      auto read_before = [&](const std::string& f, const std::string& hash) {
        if (seen.contains(f) && seen[f] == hash) return true;
        return std::any_of(others.begin(), others.end(),
                           [&](const nlohmann::json& o) { return o.contains(f) && o[f] == hash; });
      };
      std::vector<std::string> fresh;
      for (const std::string& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec)) return TaskResult::Failure("'" + f + "' is not a readable file");
        const std::string hash = FileHash(f);
        if (read_before(f, hash)) continue;
        seen[f] = hash;
        fresh.push_back(f);
      }
      files = std::move(fresh);
      if (files.empty()) return NoNewFiles(ctx, *args, seen);
    }
    std::string format = args->format;
    if (format.empty()) {
      format = FormatOf(files.front());
      if (format.empty()) {
        return TaskResult::Failure("cannot tell the format of '" + files.front() +
                                   "' from its extension: set 'format' (csv, jsonl, parquet)");
      }
    }
    if (!replay) {
      read_from = files;
      for (const std::string& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec)) return TaskResult::Failure("'" + f + "' is not a readable file");
        hashes.push_back(seen.contains(f) ? seen[f].get<std::string>() : std::string());
      }
    }
    // A rerun on the same data keeps its snapshot too (copies of what it
    // read again), so that it can be rerun on the same data in turn.
    if (args->snapshot) Snapshot(ctx, files, read_from, hashes);

    // Parsed columns take about the size of CSV or JSON text; Parquet is
    // compressed, so its tables are counted at three times the files.
    int64_t input_bytes = 0;
    for (const std::string& f : read_from) {
      std::error_code ec;
      input_bytes += static_cast<int64_t>(std::filesystem::file_size(f, ec));
    }
    if (format == "parquet") input_bytes *= 3;
    std::shared_ptr<columnar::SpillFile> spill = SpillIfLarge(ctx, input_bytes);
    // Lineage: each file by its content (incremental reads and snapshots hashed them already).
    for (size_t i = 0; i < files.size(); ++i) NoteFile(ctx, files[i], hashes[i].empty() ? FileHash(read_from[i]) : hashes[i]);
    files = read_from;

    columnar::TablePtr table;
    columnar::TablePtr quarantine;
    int64_t rows_read = 0;
    try {
      if (format == "csv") {
        args->csv.quarantine_bad_rows = args->quarantine;
        args->csv.spill = spill;
        auto result = columnar::ReadCsvFiles(files, args->csv);
        table = result.table;
        quarantine = result.quarantine;
        rows_read = result.rows_read;
      } else if (format == "jsonl") {
        columnar::JsonlOptions jo;
        jo.types = args->csv.types;
        jo.quarantine_bad_rows = args->quarantine;
        auto result = columnar::ReadJsonlFiles(files, jo);
        table = result.table;
        quarantine = result.quarantine;
        rows_read = result.rows_read;
      } else {
        table = ApplyDeclaredTypes(ReadParquetFiles(files, spill), args->csv.types, args->pii);
        rows_read = table->num_rows();
      }
      // JSONL tables and cast Parquet columns are built in memory first.
      if (spill) table = MoveTo(*spill, *table);
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure(e.what());
    } catch (const std::system_error& e) {
      return TaskResult::Failure(e.what());
    }
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");

    int64_t bad = quarantine ? quarantine->num_rows() : 0;
    TaskResult result = TaskResult::Success();
    if (args->new_files_only && !replay) result.watermark = seen.dump();
    result.metrics.rows_in = rows_read;
    result.metrics.rows_out = table->num_rows();
    if (args->quarantine) result.metrics.rows_quarantined = bad;
    result.metrics.summary = Counted(table->num_columns(), "column") + " from " + Counted(files.size(), "file") +
                             (args->new_files_only ? " (new)" : "");
    if (bad > 0) {
      PersistTable(ctx, *quarantine, "quarantine");
      double rate = rows_read ? static_cast<double>(bad) / static_cast<double>(rows_read) : 0;
      if (rate > args->max_bad_rows) {
        TaskResult failed = TaskResult::Failure(std::to_string(bad) + " of " + std::to_string(rows_read) +
                                                " rows could not be parsed, more than max_bad_rows " +
                                                FormatFraction(args->max_bad_rows) + " (first: " +
                                                FirstQuarantineReason(*quarantine) + ")");
        failed.metrics = result.metrics;
        return failed;
      }
    }
    PublishOutput(ctx, table, result.metrics);
    return result;
  }

 private:
  // No file is new: no rows, the declared columns, and the mark as it was.
  static TaskResult NoNewFiles(TaskContext& ctx, const IngestArgs& args, const nlohmann::json& seen) {
    columnar::Schema schema;
    for (const auto& [name, type] : args.csv.types) schema.Add({name, type});
    auto table = std::make_shared<columnar::Table>(schema);
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = 0;
    result.metrics.rows_out = 0;
    result.metrics.summary = "no new file (" + std::to_string(seen.size()) + " read before)";
    result.watermark = seen.dump();
    ctx.Log(result.metrics.summary);
    PublishOutput(ctx, table, result.metrics);
    return result;
  }

  // The largest non-null value of `column` as the text QueryPast compares
  // (timestamps as "YYYY-MM-DD HH:MM:SS[.ffffff]", UTC), or nullopt when the
  // table has no rows. Throws FormatError for a missing or bool column.
  static std::optional<std::string> HighestValue(const columnar::Table& table, const std::string& column) {
    auto idx = table.schema().IndexOf(column);
    if (!idx) throw columnar::FormatError("incremental column '" + column + "' is not in the query's result (columns: " +
                                          JoinNames(table.schema().names()) + ")");
    const columnar::DataType type = table.schema().field(*idx).type;
    if (type == columnar::DataType::kBool) {
      throw columnar::FormatError("incremental column '" + column + "' is bool: it needs an order (int, float, text, timestamp)");
    }
    std::optional<std::string> best_text;
    std::optional<int64_t> best_int;
    std::optional<double> best_double;
    for (const columnar::Batch& b : table.batches()) {
      const columnar::Column& c = *b.columns[*idx];
      for (int64_t row = 0; row < b.num_rows; ++row) {
        if (c.IsNull(row)) continue;
        switch (type) {
          case columnar::DataType::kInt64:
          case columnar::DataType::kTimestamp:
            if (!best_int || c.ints()[row] > *best_int) best_int = c.ints()[row];
            break;
          case columnar::DataType::kFloat64:
            if (!best_double || c.doubles()[row] > *best_double) best_double = c.doubles()[row];
            break;
          default:
            if (!best_text || c.StringAt(row) > *best_text) best_text = std::string(c.StringAt(row));
        }
      }
    }
    if (best_int) return type == columnar::DataType::kTimestamp ? columnar::FormatTimestamp(*best_int) : std::to_string(*best_int);
    if (best_double) {
      char buf[32];
      return std::string(buf, std::to_chars(buf, buf + sizeof buf, *best_double).ptr);
    }
    return best_text;
  }

  // snapshot: true: each file copied into the task's artifact folder
  // (snapshot/NNNN_NAME) and read from there, so what was read is what was
  // kept; the "snapshot" artifact lists them (path, hash, copy).
  static void Snapshot(TaskContext& ctx, const std::vector<std::string>& files, std::vector<std::string>& read_from,
                       std::vector<std::string>& hashes) {
    const std::filesystem::path dir = std::filesystem::path(ctx.artifact_dir()) / "snapshot";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error::Unavailable("cannot create " + dir.string() + ": " + ec.message());
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < files.size(); ++i) {
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "%04zu_", i);
      const std::filesystem::path copy = dir / (prefix + std::filesystem::path(files[i]).filename().string());
      std::filesystem::copy_file(read_from[i], copy, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) throw Error::Unavailable("cannot copy " + read_from[i] + " to " + copy.string() + ": " + ec.message());
      read_from[i] = copy.string();
      hashes[i] = FileHash(read_from[i]);
      list.push_back({{"path", files[i]}, {"hash", hashes[i]}, {"copy", read_from[i]}});
    }
    PersistJson(ctx, nlohmann::json{{"files", list}}.dump(2), "snapshot");
    ctx.Log("kept a snapshot of " + std::to_string(files.size()) + (files.size() == 1 ? " file" : " files"));
  }

  // The marks of a query's incremental column are kept one per column and
  // mapped item, {"marks": [{"column", "item", "mark", "kind"}, ...]},
  // newest first, "kind" how marks compare (int, float or text): a column
  // given by a parameter that changes starts from the beginning (and takes
  // its own mark up again when it comes back) rather than filtering by
  // another column's value. Each instance of a mapped task keeps its own
  // record; an item that moved to another instance (a map_over reordered)
  // takes up the highest of the item's marks among the task's instances
  // (a mark only grows: the highest is the newest). An older plain-text
  // mark is the mark of whatever column the task reads.
  static constexpr size_t kMaxMarks = 64;
  struct Mark {
    std::string value;
    std::string kind;  // "" when stored before marks had one: compared with none
  };
  static std::string MarkKind(const columnar::Table& table, const std::string& column) {
    auto idx = table.schema().IndexOf(column);
    if (!idx) return "";
    switch (table.schema().field(*idx).type) {
      case columnar::DataType::kInt64: return "int";
      case columnar::DataType::kFloat64: return "float";
      default: return "text";  // strings, and timestamps in their fixed-width form
    }
  }
  // Whether mark `a` is past mark `b` (both of one kind).
  static bool Past(const Mark& a, const Mark& b) {
    if (a.kind == "int") return std::strtoll(a.value.c_str(), nullptr, 10) > std::strtoll(b.value.c_str(), nullptr, 10);
    if (a.kind == "float") return std::strtod(a.value.c_str(), nullptr) > std::strtod(b.value.c_str(), nullptr);
    return a.value > b.value;
  }
  static std::optional<Mark> FindMark(const std::string& stored, const std::string& column, const std::string& item) {
    nlohmann::json j = nlohmann::json::parse(stored, nullptr, false);
    if (!j.is_object() || !j.contains("marks")) return std::nullopt;
    const nlohmann::json marks = j["marks"];  // (a member of a temporary would dangle in the loop)
    if (!marks.is_array()) return std::nullopt;
    for (const nlohmann::json& m : marks) {
      if (!m.is_object() || m.value("column", "") != column || m.value("item", "") != item) continue;
      if (!m.contains("mark") || !m["mark"].is_string()) continue;
      return Mark{m["mark"].get<std::string>(), m.contains("kind") && m["kind"].is_string() ? m["kind"].get<std::string>() : ""};
    }
    return std::nullopt;
  }
  static std::optional<std::string> MarkOf(const std::optional<std::string>& stored, const std::vector<std::string>& siblings,
                                           const std::string& column, const std::string& item) {
    if (stored) {
      nlohmann::json j = nlohmann::json::parse(*stored, nullptr, false);
      if (!j.is_object() || !j.contains("marks")) return stored;  // a mark stored before there were several
    }
    std::optional<Mark> best = stored ? FindMark(*stored, column, item) : std::nullopt;
    for (const std::string& other : siblings) {
      std::optional<Mark> m = FindMark(other, column, item);
      if (!m) continue;
      if (!best || (!m->kind.empty() && m->kind == best->kind && Past(*m, *best))) best = m;
    }
    if (!best) return std::nullopt;
    return best->value;
  }
  static std::string WithMark(const std::optional<std::string>& stored, const std::string& column,
                              const std::string& item, const std::string& mark, const std::string& kind) {
    nlohmann::json marks = nlohmann::json::array({{{"column", column}, {"item", item}, {"mark", mark}, {"kind", kind}}});
    nlohmann::json j = stored ? nlohmann::json::parse(*stored, nullptr, false) : nlohmann::json();
    if (j.is_object() && j.contains("marks") && j["marks"].is_array()) {
      for (const nlohmann::json& m : j["marks"]) {
        if (marks.size() >= kMaxMarks) break;
        if (m.is_object() && (m.value("column", "") != column || m.value("item", "") != item)) marks.push_back(m);
      }
    }
    return nlohmann::json{{"marks", marks}}.dump();
  }

  // A query's result set, typed by the database (a declared schema casts).
  // `replay` (a rerun on the same data): the earlier run's snapshot of it.
  static TaskResult FromDatabase(TaskContext& ctx, const IngestArgs& args, const nlohmann::json* replay) {
    sources::QueryOptions options;
    options.cancelled = [&ctx] { return ctx.cancel().cancelled(); };
    // Incremental: only the rows past the mark the last success stored.
    if (!replay && !sources::HasStatement(args.query)) {  // (a placeholder rendered to nothing)
      return TaskResult::Failure("the query holds no statement (only white space and comments)");
    }
    std::optional<std::string> mark, stored;
    std::string query = args.query;
    const std::string& item = ctx.task().map_item;
    if (!args.incremental.empty() && !replay) {
      stored = ctx.Watermark();
      mark = MarkOf(stored, ctx.task().map_index >= 0 ? ctx.SiblingWatermarks() : std::vector<std::string>(), args.incremental, item);
      if (mark) options.past = {args.incremental, *mark};
    }
    options.executed = &query;
    columnar::TablePtr table;
    std::optional<std::string> new_mark;
    try {
      if (replay) {
        const nlohmann::json q = replay->value("query", nlohmann::json::object());
        query = q.value("query", query);
        if (q.contains("watermark") && q["watermark"].is_string()) mark = q["watermark"].get<std::string>();
        table = columnar::ReadParquetFile(replay->value("table", ""));
        ctx.Log("reading the earlier run's snapshot of the query again (--same-data)");
      } else {
        table = sources::ReadQuery(args.source, query, options);
      }
      table = ApplyDeclaredTypes(table, args.csv.types, args.pii);
      if (!args.incremental.empty() && !replay) new_mark = HighestValue(*table, args.incremental);
    } catch (const sources::SourceError& e) {
      return TaskResult::Failure(e.what());
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure(e.what());
    }
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    NoteQuery(ctx, sources::Redacted(args.source), query, mark);
    if (args.snapshot) {  // a rerun on the same data keeps one too (it may be rerun in turn)
      // The result as read (before declared casts would be the same: they are deterministic).
      ArtifactInfo copy = PersistTable(ctx, *table, "snapshot_table");
      PersistJson(ctx,
                  nlohmann::json{{"query", {{"source", sources::Redacted(args.source)}, {"query", query},
                                            {"watermark", mark ? nlohmann::json(*mark) : nlohmann::json(nullptr)}}},
                                 {"hash", copy.content_hash},
                                 {"copy", copy.uri}}
                      .dump(2),
                  "snapshot");
    }
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = table->num_rows();
    result.metrics.rows_out = table->num_rows();
    result.metrics.summary = Counted(table->num_columns(), "column") + " from " + sources::Redacted(args.source);
    if (!args.incremental.empty()) {
      result.metrics.summary += mark ? "; " + args.incremental + " past " + *mark : "; " + args.incremental + " from the start";
      // No new rows: the mark stays. A rerun on the same data moves no mark.
      if (!replay && (new_mark || mark)) result.watermark = WithMark(stored, args.incremental, item, new_mark ? *new_mark : *mark,
                                                               MarkKind(*table, args.incremental));
    }
    ctx.Log("read " + std::to_string(table->num_rows()) + " rows from " + sources::Redacted(args.source) +
            (mark ? " (" + args.incremental + " > " + *mark + ")" : ""));
    PublishOutput(ctx, table, result.metrics);
    return result;
  }

  // The table with every column in `spill` (columns already there stay).
  static columnar::TablePtr MoveTo(columnar::SpillFile& spill, const columnar::Table& table) {
    auto out = std::make_shared<columnar::Table>(table.schema());
    for (const auto& [k, v] : table.metadata()) out->SetMetadata(k, v);
    for (const columnar::Batch& b : table.batches()) out->AddBatch(spill.Move(b));
    return out;
  }

  static columnar::TablePtr ReadParquetFiles(const std::vector<std::string>& files,
                                             const std::shared_ptr<columnar::SpillFile>& spill) {
    columnar::ParquetReadOptions options;
    options.spill = spill;
    columnar::TablePtr first = columnar::ReadParquetFile(files.front(), options);
    if (files.size() == 1) return first;
    auto all = std::make_shared<columnar::Table>(first->schema());
    for (const std::string& f : files) {
      columnar::TablePtr t = f == files.front() ? first : columnar::ReadParquetFile(f, options);
      if (!(t->schema() == first->schema())) {
        throw columnar::FormatError(f + ": its columns differ from those of " + files.front());
      }
      for (const columnar::Batch& b : t->batches()) all->AddBatch(b);
    }
    return all;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeIngestOperator() { return std::make_unique<IngestOperator>(); }

}  // namespace pipeline::ops
