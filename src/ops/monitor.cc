// monitor: compares a current table with a reference one column by column
// (PSI, KS for numbers, Jensen-Shannon distance for categories, null rates;
// definitions in ml/drift.h), writes a "drift" JSON report, exports the
// figures as gauges on /metrics, and fails the task on drift when told to
// (on_drift: fail), so that a `trigger_rule: one_failed` task can retrain.
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/parallel.h"
#include "columnar/parquet.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "ml/drift.h"
#include "ml/mask.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"
#include "sources/database.h"

namespace pipeline::ops {
namespace {

using columnar::DataType;
using nlohmann::json;

// A table to compare: a task of this run, or a file.
struct Source {
  std::string task;
  std::string path;
  std::string Describe() const { return task.empty() ? path : "task '" + task + "'"; }
};

struct MonitorArgs {
  Source reference, current;
  std::optional<std::vector<std::string>> columns;
  double psi_threshold = 0.2;
  double ks_threshold = 0.1;
  double js_threshold = 0.1;
  bool fail = false;
};

std::optional<Source> ParseSource(ArgReader& r, const std::string& key) {
  const DocNode* node = r.Get(key);
  if (!node) {
    r.Error(nullptr, "missing required argument '" + key + "'");
    return std::nullopt;
  }
  Source s;
  if (node->is_scalar()) {
    s.task = node->text();
    return s;
  }
  if (node->is_map()) {
    ArgReader m(*node, r.context() + ": " + key, r.diags(), Within(*node, r.fallback()));
    if (auto p = m.String("path", true)) {
      s.path = *p;
      const bool table_file = s.path.ends_with(".parquet") || s.path.ends_with(".csv");
      if (!table_file && !HasPlaceholder(*m.Get("path"))) {
        m.Error(m.Get("path"), "'path' must name a .parquet or .csv file, got '" + s.path + "'");
      }
    }
    m.RejectUnknown({"path"});
    if (m.ok()) return s;
    return std::nullopt;
  }
  r.Error(node, "'" + key + "' must be a task id or {path: FILE}");
  return std::nullopt;
}

std::optional<MonitorArgs> ParseMonitorArgs(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark) {
  ArgReader r(with, context, diags, mark);
  MonitorArgs a;
  if (auto s = ParseSource(r, "reference")) a.reference = *s;
  if (auto s = ParseSource(r, "current")) a.current = *s;
  a.columns = r.StringList("columns");
  if (a.columns) {
    if (a.columns->empty()) r.Error(r.Get("columns"), "'columns' must name at least one column (leave it out for every column of both)");
    for (size_t i = 0; i < a.columns->size(); ++i) {
      if (std::find(a.columns->begin(), a.columns->begin() + i, (*a.columns)[i]) != a.columns->begin() + i) {
        r.Error(r.Get("columns"), "'columns' names '" + (*a.columns)[i] + "' twice");
        break;
      }
    }
  }
  for (auto [key, target] : {std::pair<const char*, double*>{"psi_threshold", &a.psi_threshold},
                             {"ks_threshold", &a.ks_threshold},
                             {"js_threshold", &a.js_threshold}}) {
    if (auto v = r.Number(key)) {
      if (!(*v > 0) || !std::isfinite(*v)) {
        r.Error(r.Get(key), "'" + std::string(key) + "' must be a number > 0");
      } else {
        *target = *v;
      }
    }
  }
  if (auto d = r.Choice("on_drift", {"warn", "fail"})) a.fail = *d == "fail";
  r.RejectUnknown({"reference", "current", "columns", "psi_threshold", "ks_threshold", "js_threshold", "on_drift"});
  if (!r.ok()) return std::nullopt;
  return a;
}

std::string Figure(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

bool Numeric(DataType t) { return t == DataType::kInt64 || t == DataType::kFloat64 || t == DataType::kTimestamp; }

// Columns are compared when both sides are of one kind: numbers (int64 and
// float64 alike), times, or categories (strings, bools). A time is never
// compared with a number: microseconds against seconds would be drift
// every time.
enum class Kind { kNumber, kTime, kCategory };
Kind KindOf(DataType t) {
  if (t == DataType::kInt64 || t == DataType::kFloat64) return Kind::kNumber;
  return t == DataType::kTimestamp ? Kind::kTime : Kind::kCategory;
}

int64_t NullsIn(const columnar::Table& table, int index) {
  int64_t nulls = 0;
  for (const columnar::Batch& b : table.batches()) nulls += b.columns[size_t(index)]->null_count();
  return nulls;
}

// Cuts in the report: numbers, but infinities as "-inf"/"inf" (JSON has
// none; nlohmann would write null) and a timestamp column's as times.
json CutsJson(const std::vector<double>& cuts, DataType type) {
  json out = json::array();
  for (double cut : cuts) {
    if (!std::isfinite(cut)) {
      out.push_back(cut < 0 ? "-inf" : "inf");
    } else if (type == DataType::kTimestamp) {
      out.push_back(columnar::FormatTimestamp(std::llround(cut)));
    } else {
      out.push_back(cut);
    }
  }
  return out;
}

// Beyond 2^53 an int64 has no double of its own: such columns are compared
// as integers (KS; PSI's cuts are quantiles, fractions anyway).
bool BeyondDoubles(const columnar::Column& c) {
  constexpr int64_t kLimit = int64_t{1} << 53;
  if (c.type() != DataType::kInt64 && c.type() != DataType::kTimestamp) return false;
  const int64_t* v = c.ints();
  for (int64_t i = 0; i < c.length(); ++i) {
    if (v[i] > kLimit || v[i] < -kLimit) return true;
  }
  return false;
}

std::vector<int64_t> SortedInts(const columnar::Column& c) {
  std::vector<int64_t> out;
  out.reserve(size_t(c.length() - c.null_count()));
  for (int64_t i = 0; i < c.length(); ++i) {
    if (c.IsValid(i)) out.push_back(c.ints()[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What monitoring keeps of a large reference (ml/drift.h): per column the
// numeric profile or the category counts, and the reference's schema. The
// categories of a column marked pii are kept only as keyed digests
// (HMAC-SHA256 under the secrets file's mask_key), never as text.
struct Profiled {
  columnar::Schema schema;
  int64_t rows = 0;
  std::map<std::string, ml::NumericProfile> numeric;
  std::map<std::string, ml::CategoricalSample> categorical;
  std::set<std::string> hashed;  // categorical columns whose categories are digests
  std::string key_check;         // when some are: the key's own digest (a changed key is another profile)

  bool Covers(const std::vector<std::string>& columns) const {
    return std::all_of(columns.begin(), columns.end(),
                       [&](const std::string& c) { return numeric.count(c) || categorical.count(c); });
  }
};

// v2: categories of a column marked pii as digests (v1 held them as text).
constexpr const char* kProfileFormat = "pipe-drift-profile-v2";

json ProfileJson(const Profiled& p) {
  json schema = json::array(), columns = json::object();
  for (const columnar::Field& f : p.schema.fields()) schema.push_back({{"name", f.name}, {"type", columnar::TypeName(f.type)}});
  for (const auto& [name, n] : p.numeric) {
    columns[name] = {{"kind", "numeric"}, {"rows", n.rows}, {"nulls", n.nulls}, {"values", n.values},
                     {"cuts", n.cuts}, {"bins", n.bins}, {"grid", n.grid}, {"at_most", n.at_most},
                     {"below", n.below}, {"cut_points", n.cut_points}, {"exact", n.exact}};
  }
  for (const auto& [name, c] : p.categorical) {
    columns[name] = {{"kind", "categorical"}, {"rows", c.rows}, {"nulls", c.nulls}, {"counts", c.counts},
                     {"hashed", p.hashed.count(name) > 0}};
  }
  return {{"format", kProfileFormat}, {"rows", p.rows},       {"schema", schema},
          {"columns", columns},       {"key_check", p.key_check}};
}

// The profile a file holds; nullopt when it is not one (any other version,
// a damaged file: the reference is then read and profiled again).
std::optional<Profiled> ProfileFromJson(const json& doc) {
  try {
    if (doc.at("format") != kProfileFormat) return std::nullopt;
    Profiled p;
    p.rows = doc.at("rows").get<int64_t>();
    p.key_check = doc.value("key_check", "");
    std::vector<columnar::Field> fields;
    for (const json& f : doc.at("schema")) {
      auto type = columnar::ParseTypeName(f.at("type").get<std::string>());
      if (!type) return std::nullopt;
      fields.push_back({f.at("name").get<std::string>(), *type});
    }
    p.schema = columnar::Schema(std::move(fields));
    for (const auto& [name, c] : doc.at("columns").items()) {
      if (c.at("kind") == "numeric") {
        ml::NumericProfile n;
        c.at("rows").get_to(n.rows);
        c.at("nulls").get_to(n.nulls);
        c.at("values").get_to(n.values);
        c.at("cuts").get_to(n.cuts);
        c.at("bins").get_to(n.bins);
        c.at("grid").get_to(n.grid);
        c.at("at_most").get_to(n.at_most);
        c.at("below").get_to(n.below);
        c.at("cut_points").get_to(n.cut_points);
        c.at("exact").get_to(n.exact);
        if (n.at_most.size() != n.grid.size() || n.below.size() != n.grid.size() ||
            n.cut_points.size() != n.cuts.size() || (!n.cuts.empty() && n.bins.size() != n.cuts.size() + 1)) {
          return std::nullopt;
        }
        for (size_t cp : n.cut_points) {
          if (cp >= n.grid.size()) return std::nullopt;
        }
        p.numeric.emplace(name, std::move(n));
      } else {
        ml::CategoricalSample s;
        c.at("rows").get_to(s.rows);
        c.at("nulls").get_to(s.nulls);
        c.at("counts").get_to(s.counts);
        if (c.value("hashed", false)) p.hashed.insert(name);
        p.categorical.emplace(name, std::move(s));
      }
    }
    return p;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

class MonitorOperator final : public Operator {
 public:
  std::string_view name() const override { return "monitor"; }

  std::vector<TaskReference> TaskReferences(const TaskSpec& task) const override {
    std::vector<TaskReference> refs = TaskReferenceIn(task, "reference");
    for (TaskReference& r : TaskReferenceIn(task, "current")) refs.push_back(std::move(r));
    return refs;
  }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseMonitorArgs(*task.with, "task '" + task.id + "': monitor", diags, task.mark);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseMonitorArgs(ctx.args(), "monitor", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    try {
      return Monitor(ctx, *args);
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure("monitor: " + std::string(e.what()));
    }
  }

 private:
  // `side` is "reference" or "current", for the messages.
  static columnar::TablePtr Load(TaskContext& ctx, const Source& s, const char* side) {
    if (!s.task.empty()) return InputTable(ctx, s.task);
    const std::string path = ResolvePath(ctx, s.path);
    const std::string where = "monitor: " + std::string(side) + " " + s.path;
    columnar::TablePtr table;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw OpError(where + ": " + (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file") +
                    (path != s.path ? " (" + path + ")" : ""));
    }
    try {
      if (path.size() > 8 && path.compare(path.size() - 8, 8, ".parquet") == 0) {
        table = columnar::ReadParquetFile(path);
      } else if (path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
        table = columnar::ReadCsvFiles({path}).table;
      } else {
        throw OpError(where + ": a reference or current file must be .parquet or .csv");
      }
    } catch (const columnar::FormatError& e) {
      throw OpError(where + ": " + e.what());
    } catch (const std::system_error& e) {
      throw OpError(where + ": " + e.what());
    }
    NoteFile(ctx, path);
    return table;
  }

  // The column's values as doubles (numbers and timestamps): the column's
  // own for float64, else converted into `scratch`.
  static const double* AsDoubles(const columnar::Column& c, std::vector<double>& scratch) {
    if (c.type() == DataType::kFloat64) return c.doubles();
    scratch.resize(static_cast<size_t>(c.length()));
    for (int64_t i = 0; i < c.length(); ++i) scratch[size_t(i)] = static_cast<double>(c.ints()[i]);
    return scratch.data();
  }
  static ml::NumericSample Numbers(const columnar::Column& c) {
    std::vector<double> scratch;
    return ml::SampleNumeric(AsDoubles(c, scratch), c.validity(), c.length());
  }

  // Where the profile of this monitor's reference is kept between runs:
  // beside the DAG's runs under the artifact root, named by the reference's
  // identity (a file's path, size and modification time; a task's output by
  // its content hash) and the columns asked for. "" when the reference has
  // no identity (a task whose output is not persisted).
  static std::string ProfilePath(TaskContext& ctx, const MonitorArgs& a) {
    std::string identity;
    if (!a.reference.task.empty()) {
      auto art = ctx.FindArtifact(a.reference.task, "output");
      if (!art || art->content_hash.empty()) return "";
      identity = "task:" + art->content_hash;
    } else {
      namespace fs = std::filesystem;
      std::error_code ec;
      const fs::path path = fs::absolute(ResolvePath(ctx, a.reference.path), ec);
      const auto size = fs::file_size(path, ec);
      if (ec) return "";
      const auto mtime = fs::last_write_time(path, ec);
      if (ec) return "";
      identity = "file:" + path.string() + ":" + std::to_string(size) + ":" +
                 std::to_string(mtime.time_since_epoch().count());
    }
    identity += "|columns:";
    if (a.columns) {
      for (const std::string& c : *a.columns) identity += c + ",";
    } else {
      identity += "*";
    }
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.json",
                  static_cast<unsigned long long>(XXH3_64bits(identity.data(), identity.size())));
    // ARTIFACT_ROOT/DAG/RUN/TASK -> ARTIFACT_ROOT/DAG/profiles/NAME
    return (std::filesystem::path(ctx.artifact_dir()).parent_path().parent_path() / "profiles" / name).string();
  }

  static std::optional<Profiled> ReadProfile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    json doc = json::parse(in, nullptr, false);
    return doc.is_discarded() ? std::nullopt : ProfileFromJson(doc);
  }

  // Written whole under a temporary name, then renamed: a reader never sees
  // half a profile. A profile that cannot be written is only not kept.
  static void WriteProfile(const std::string& path, const Profiled& p) {
    for (const auto& [name, n] : p.numeric) {
      for (double v : n.grid) {
        if (!std::isfinite(v)) return;  // JSON has no infinities: such a profile is not kept
      }
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    // A name of its own: two monitors (threads of one piped) may profile the same reference at once.
    const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "." +
                            std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << ProfileJson(p).dump();
      if (!out.flush()) {
        fs::remove(tmp, ec);
        return;
      }
    }
    fs::rename(tmp, path, ec);
    if (ec) fs::remove(tmp, ec);
  }

  static Profiled Profile(const columnar::Table& reference, const std::vector<std::string>& columns) {
    Profiled p;
    p.schema = reference.schema();
    p.rows = reference.num_rows();
    std::vector<std::optional<ml::NumericProfile>> numeric(columns.size());
    std::vector<std::optional<ml::CategoricalSample>> categorical(columns.size());
    columnar::ParallelFor(columns.size(), columnar::DefaultThreads(), [&](size_t k) {
      columnar::ColumnPtr r = columnar::ConcatColumn(reference, *reference.schema().IndexOf(columns[k]));
      if (Numeric(r->type())) {
        numeric[k] = ml::ProfileNumeric(Numbers(*r));
      } else {
        categorical[k] = Categories(*r);
      }
    });
    for (size_t k = 0; k < columns.size(); ++k) {
      if (numeric[k]) p.numeric.emplace(columns[k], std::move(*numeric[k]));
      if (categorical[k]) p.categorical.emplace(columns[k], std::move(*categorical[k]));
    }
    return p;
  }

  // The key a profile hides marked categories with: the secrets file's
  // mask_key, "" without one (or with one the mask step refuses).
  static std::string ProfileKey() {
    try {
      return sources::MaskKey();
    } catch (const std::exception&) {
      return "";
    }
  }

  static std::string KeyCheck(const std::string& key) { return ml::HmacSha256Hex(key, "pipe drift profile key"); }

  static ml::CategoricalSample Digests(const ml::CategoricalSample& s, const std::string& key) {
    ml::CategoricalSample d;
    d.rows = s.rows;
    d.nulls = s.nulls;
    for (const auto& [category, count] : s.counts) d.counts[ml::HmacSha256Hex(key, category)] += count;
    return d;
  }

  static void ToDigests(Profiled& p, const std::set<std::string>& marked, const std::string& key) {
    for (const std::string& c : marked) {
      auto it = p.categorical.find(c);
      if (it == p.categorical.end()) continue;
      it->second = Digests(it->second, key);
      p.hashed.insert(c);
    }
    if (!p.hashed.empty()) p.key_check = KeyCheck(key);
  }

  // Whether a kept profile may stay: it hides exactly the categories of
  // the columns marked now, under this key, and has no marked number.
  static bool KeepsMarks(const Profiled& p, const TaskSpec& task, const std::string& key) {
    for (const auto& [name, sample] : p.categorical) {
      if (task.IsPii(name) != (p.hashed.count(name) > 0)) return false;
    }
    for (const auto& [name, profile] : p.numeric) {
      if (task.IsPii(name)) return false;
    }
    return p.hashed.empty() || (!key.empty() && p.key_check == KeyCheck(key));
  }

  // Up to this many values a side, KS is computed exactly (both samples
  // sorted); above, the current values are compared with the reference's
  // profile in one pass, and KS is known within [ks, ks_max] (ml/drift.h).
  static constexpr int64_t kExactValues = int64_t{1} << 20;

  static ml::DriftFigures CompareNumbers(const columnar::Column& r, const columnar::Column& c) {
    if (r.length() <= kExactValues && c.length() <= kExactValues) {
      ml::DriftFigures f = ml::CompareNumeric(Numbers(r), Numbers(c));
      if (KindOf(r.type()) == KindOf(c.type()) && r.type() != DataType::kFloat64 && c.type() != DataType::kFloat64 &&
          (BeyondDoubles(r) || BeyondDoubles(c))) {
        f.ks = f.ks_max = ml::KsStatistic(SortedInts(r), SortedInts(c));
      }
      return f;
    }
    std::vector<double> scratch;
    const double* values = AsDoubles(c, scratch);
    return ml::CompareToProfile(ml::ProfileNumeric(Numbers(r)), values, c.validity(), c.length());
  }

  // Counts by value: strings through a hash map of views into the column,
  // bools in two counters; the text form only once per category.
  static ml::CategoricalSample Categories(const columnar::Column& c) {
    ml::CategoricalSample s;
    s.rows = c.length();
    if (c.type() == DataType::kString) {
      std::unordered_map<std::string_view, int64_t> counts;
      for (int64_t i = 0; i < c.length(); ++i) {
        if (c.IsNull(i)) {
          ++s.nulls;
        } else {
          ++counts[c.StringAt(i)];
        }
      }
      for (const auto& [value, n] : counts) s.counts.emplace(std::string(value), n);
      return s;
    }
    if (c.type() == DataType::kBool) {
      int64_t yes = 0, no = 0;
      for (int64_t i = 0; i < c.length(); ++i) {
        if (c.IsNull(i)) {
          ++s.nulls;
        } else {
          ++(c.bools()[i] ? yes : no);
        }
      }
      if (yes) s.counts["true"] = yes;
      if (no) s.counts["false"] = no;
      return s;
    }
    for (int64_t i = 0; i < c.length(); ++i) {
      if (c.IsNull(i)) {
        ++s.nulls;
      } else {
        ++s.counts[columnar::ValueText(c, i)];
      }
    }
    return s;
  }

  static TaskResult Monitor(TaskContext& ctx, const MonitorArgs& a) {
    columnar::TablePtr current = Load(ctx, a.current, "current");
    // Nothing to compare (and a CSV of a header only has string columns).
    if (current->num_rows() == 0) throw OpError("monitor: the current table (" + a.current.Describe() + ") has no rows");
    const columnar::Schema& cs = current->schema();
    // A large reference's profile is kept between runs: a run that finds it
    // does not read the reference at all.
    const std::string cache = ProfilePath(ctx, a);
    std::optional<Profiled> profiled = cache.empty() ? std::nullopt : ReadProfile(cache);
    columnar::TablePtr reference = profiled ? nullptr : Load(ctx, a.reference, "reference");
    if (reference && reference->num_rows() == 0) {
      throw OpError("monitor: the reference (" + a.reference.Describe() + ") has no rows");
    }
    const columnar::Schema rs = profiled ? profiled->schema : reference->schema();
    std::vector<std::string> columns, only_reference, only_current;
    if (a.columns) {
      for (const std::string& name : *a.columns) {
        if (!rs.IndexOf(name)) ThrowMissingColumn("monitor: columns", name, rs.names(), "the reference");
        if (!cs.IndexOf(name)) ThrowMissingColumn("monitor: columns", name, cs.names(), "the current table");
        columns.push_back(name);
      }
    } else {
      // Every column in both but timestamps (time always moves on).
      for (const columnar::Field& f : rs.fields()) {
        if (f.type != DataType::kTimestamp && cs.IndexOf(f.name)) columns.push_back(f.name);
      }
      if (columns.empty()) throw OpError("monitor: the reference and the current table have no column in common");
      // Said in the report and the summary: a column the feed lost is news.
      for (const columnar::Field& f : rs.fields()) {
        if (!cs.IndexOf(f.name)) only_reference.push_back(f.name);
      }
      for (const columnar::Field& f : cs.fields()) {
        if (!rs.IndexOf(f.name)) only_current.push_back(f.name);
      }
    }
    // Personal data: a kept profile holds a marked column's categories only
    // as digests under the secrets file's mask_key; with a marked number or
    // time (whose profile is its values), or a marked category and no key,
    // none is kept. One made before a column was marked, or under another
    // key, is removed.
    std::set<std::string> marked_categories;
    bool marked_numbers = false;
    for (const std::string& c : columns) {
      if (!ctx.task().IsPii(c)) continue;
      if (Numeric(rs.field(*rs.IndexOf(c)).type)) {
        marked_numbers = true;
      } else {
        marked_categories.insert(c);
      }
    }
    const std::string key =
        !marked_categories.empty() || (profiled && !profiled->hashed.empty()) ? ProfileKey() : std::string();
    const bool keep = !cache.empty() && !marked_numbers && (marked_categories.empty() || !key.empty());
    if (profiled && !KeepsMarks(*profiled, ctx.task(), key)) {
      std::error_code ec;
      std::filesystem::remove(cache, ec);
      profiled.reset();
      reference = Load(ctx, a.reference, "reference");
    }
    if (profiled && !profiled->Covers(columns)) {  // made for other columns: profile again
      profiled.reset();
      reference = Load(ctx, a.reference, "reference");
    }
    // The type each column is compared as (the reference's), and the
    // columns of a side that holds no value at all, read as the other
    // side's type.
    std::vector<DataType> types;
    std::map<std::string, DataType> retype_reference, retype_current;
    for (const std::string& name : columns) {
      const int ri = *rs.IndexOf(name), ci = *cs.IndexOf(name);
      const DataType rt = rs.field(ri).type, ct = cs.field(ci).type;
      types.push_back(rt);
      if (KindOf(rt) == KindOf(ct)) continue;
      if (NullsIn(*current, ci) == current->num_rows()) {
        retype_current[name] = rt;
        continue;
      }
      if (profiled) {  // the profile keeps the reference's kind: read it instead
        profiled.reset();
        reference = Load(ctx, a.reference, "reference");
      }
      if (NullsIn(*reference, ri) == reference->num_rows()) {
        retype_reference[name] = types.back() = ct;
        continue;
      }
      const bool time_and_number = KindOf(rt) != Kind::kCategory && KindOf(ct) != Kind::kCategory;
      throw OpError("monitor: column '" + name + "' is " + std::string(columnar::TypeName(rt)) + " in the reference but " +
                    std::string(columnar::TypeName(ct)) + " in the current table" +
                    (time_and_number ? " (times are not compared with numbers)" : ""));
    }
    if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
    if (!profiled && retype_reference.empty() && reference->num_rows() > kExactValues) {
      profiled = Profile(*reference, columns);
      if (!key.empty()) ToDigests(*profiled, marked_categories, key);
      if (keep) WriteProfile(cache, *profiled);
    }
    const int64_t reference_rows = profiled ? profiled->rows : reference->num_rows();

    std::vector<ml::DriftFigures> figures(columns.size());
    columnar::ParallelFor(columns.size(), columnar::DefaultThreads(), [&](size_t k) {
      columnar::ColumnPtr c = columnar::ConcatColumn(*current, *cs.IndexOf(columns[k]));
      if (auto it = retype_current.find(columns[k]); it != retype_current.end()) c = columnar::NullColumn(it->second, c->length());
      if (profiled) {
        if (auto it = profiled->numeric.find(columns[k]); it != profiled->numeric.end()) {
          std::vector<double> scratch;
          figures[k] = ml::CompareToProfile(it->second, AsDoubles(*c, scratch), c->validity(), c->length());
        } else {
          const ml::CategoricalSample& kept = profiled->categorical.at(columns[k]);
          figures[k] = profiled->hashed.count(columns[k]) ? ml::CompareCategorical(kept, Digests(Categories(*c), key))
                                                          : ml::CompareCategorical(kept, Categories(*c));
        }
        return;
      }
      columnar::ColumnPtr r = columnar::ConcatColumn(*reference, *rs.IndexOf(columns[k]));
      if (auto it = retype_reference.find(columns[k]); it != retype_reference.end()) r = columnar::NullColumn(it->second, r->length());
      figures[k] = !Numeric(r->type()) ? ml::CompareCategorical(Categories(*r), Categories(*c))
                                       : CompareNumbers(*r, *c);
    });

    TaskResult result = TaskResult::Success();
    json report_columns = json::array();
    std::vector<std::string> drifted;
    for (size_t k = 0; k < columns.size(); ++k) {
      const ml::DriftFigures& f = figures[k];
      const bool numeric = f.js < 0;
      std::vector<std::string> why;
      if (f.psi > a.psi_threshold) why.push_back("psi " + Figure(f.psi));
      if (numeric && f.ks > a.ks_threshold) why.push_back("ks " + Figure(f.ks));
      if (!numeric && f.js > a.js_threshold) why.push_back("js " + Figure(f.js));
      // Values on one side only: nothing for PSI, KS or JS to compare (they
      // said 0), and the plainest drift of all (a feed that broke).
      const bool reference_empty = f.reference_null_rate >= 1.0, current_empty = f.current_null_rate >= 1.0;
      if (reference_empty != current_empty) why.push_back(current_empty ? "all null now" : "all null in the reference");
      json col = {{"column", columns[k]},
                  {"kind", numeric ? "numeric" : "categorical"},
                  {"psi", f.psi},
                  {"reference_null_rate", f.reference_null_rate},
                  {"current_null_rate", f.current_null_rate},
                  {"null_rate_change", f.current_null_rate - f.reference_null_rate},
                  {"drifted", !why.empty()},
                  {"reference_bins", f.reference_bins},
                  {"current_bins", f.current_bins}};
      if (numeric) {
        col["ks"] = f.ks;
        col["ks_max"] = f.ks_max;
        col["cuts"] = CutsJson(f.cuts, types[k]);
      } else {
        col["js"] = f.js;
        col["categories"] = f.categories;
        // The last bin's categories, the most frequent first (a few: a new
        // id column would list them all).
        constexpr size_t kListed = 20;
        json listed = json::array();
        for (size_t i = 0; i < f.new_categories.size() && i < kListed; ++i) {
          listed.push_back({{"category", f.new_categories[i].first}, {"rows", f.new_categories[i].second}});
        }
        col["new_categories"] = listed;
        col["new_category_count"] = f.new_categories.size();
      }
      // Personal data (a column marked pii upstream): the figures, never
      // its values (categories, new ones, the reference's cut points).
      if (ctx.task().IsPii(columns[k])) {
        for (const char* name : {"categories", "new_categories", "cuts"}) col.erase(name);
        col["pii"] = true;
      }
      report_columns.push_back(col);
      result.metrics.gauges.push_back({"pipe_drift_psi", columns[k], f.psi});
      result.metrics.gauges.push_back({numeric ? "pipe_drift_ks" : "pipe_drift_js", columns[k], numeric ? f.ks : f.js});
      if (!why.empty()) {
        std::string list;
        for (const auto& w : why) list += (list.empty() ? "" : ", ") + w;
        drifted.push_back(columns[k] + " (" + list + ")");
      }
    }
    json report = {{"reference", a.reference.Describe()},
                   {"current", a.current.Describe()},
                   {"rows", {{"reference", reference_rows}, {"current", current->num_rows()}}},
                   {"thresholds", {{"psi", a.psi_threshold}, {"ks", a.ks_threshold}, {"js", a.js_threshold}}},
                   {"columns", report_columns},
                   {"drifted", drifted},
                   {"not_compared", {{"only_in_reference", only_reference}, {"only_in_current", only_current}}}};
    PersistJson(ctx, report.dump(2), "drift");
    std::string list;
    for (const auto& d : drifted) list += (list.empty() ? "" : ", ") + d;
    result.metrics.rows_in = current->num_rows();
    result.metrics.summary = drifted.empty()
                                 ? "no drift in " + Counted(columns.size(), "column")
                                 : std::to_string(drifted.size()) + " of " + Counted(columns.size(), "column") +
                                       " drifted: " + list;
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& n : v) out += (out.empty() ? "" : ", ") + n;
      return out;
    };
    if (!only_reference.empty()) result.metrics.summary += "; not in the current table: " + join(only_reference);
    if (!only_current.empty()) result.metrics.summary += "; new in the current table: " + join(only_current);
    ctx.Log(result.metrics.summary);
    if (!drifted.empty() && !a.fail) {
      result.metrics.alert = "drift in " + result.metrics.summary;
    } else if (drifted.empty() && !only_reference.empty()) {  // not drift, but a finding
      result.metrics.alert = result.metrics.summary;
    }
    if (!drifted.empty() && a.fail) {
      std::string names;
      for (size_t k = 0; k < columns.size(); ++k) {
        if (report_columns[k]["drifted"]) names += (names.empty() ? "" : ", ") + columns[k];
      }
      TaskResult failed = TaskResult::Failure("drift in " + std::to_string(drifted.size()) + " of " +
                                              std::to_string(columns.size()) + " columns: " + names);
      failed.metrics = result.metrics;
      return failed;
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeMonitorOperator() { return std::make_unique<MonitorOperator>(); }

}  // namespace pipeline::ops
