// clean: drop_duplicates, drop_nulls, fill_nulls, clip, filter, cast, mask,
// drop_keys — in the order written, each on the table the previous step left.
#include <algorithm>
#include <limits>
#include <cmath>
#include <filesystem>
#include <map>
#include <unordered_set>
#include <variant>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/csv.h"
#include "columnar/parquet.h"
#include "columnar/expr.h"
#include "columnar/hash_group.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "kernels/kernels.h"
#include "ops/args.h"
#include "ops/batches.h"
#include "ops/mask_step.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

struct Step {
  std::string kind;
  const DocNode* node = nullptr;
  bool all = false;
  std::vector<std::string> columns;
  // fill_nulls: column -> "mean" | "median" | "mode" | a literal node.
  std::vector<std::pair<std::string, const DocNode*>> fills;
  std::vector<std::tuple<std::string, std::optional<columnar::NumberBound>, std::optional<columnar::NumberBound>>> clips;
  std::string expr;
  std::vector<std::pair<std::string, DataType>> casts;
  MaskRules masks;
  // drop_keys: the rows whose `key_column` value is in the table `keys_from`
  // (an upstream task's id, else a .csv or .parquet file) go.
  std::string key_column;
  std::string keys_from;
};

const std::vector<std::string> kSteps = {"drop_duplicates", "drop_nulls", "fill_nulls", "clip",
                                         "filter",          "cast",       "mask",       "drop_keys"};

// drop_keys' `from`: a task id (letters, digits, '_') or a file path.
bool IsTaskId(const std::string& s) {
  return !s.empty() && s[0] >= 'a' && s[0] <= 'z' &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::optional<std::vector<Step>> ParseCleanArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                                Mark mark) {
  std::vector<Step> steps;
  bool ok = ParseSteps(with, context, diags, mark, kSteps, [&](const std::string& kind, const DocNode& value, ArgReader& sr) {
    Step s;
    s.kind = kind;
    s.node = &value;
    if (s.kind == "drop_duplicates") {
      if (value.is_scalar() && value.text() == "all") {
        s.all = true;
      } else if (auto cols = sr.StringList("drop_duplicates")) {
        s.columns = *cols;
        if (cols->empty()) sr.Error(&value, "'drop_duplicates' must be all or name at least one column");
      }
    } else if (s.kind == "drop_nulls") {
      if (auto cols = sr.StringList("drop_nulls")) s.columns = *cols;
    } else if (s.kind == "fill_nulls") {
      if (!value.is_map()) {
        sr.Error(&value, "'fill_nulls' must be a map of column -> value, mean, median or mode");
      } else {
        for (const auto& [col, v] : value.entries()) {
          if (!v->is_scalar()) sr.Error(v.get(), "fill value for '" + col->text() + "' must be a scalar");
          s.fills.emplace_back(col->text(), v.get());
        }
      }
    } else if (s.kind == "clip") {
      if (!value.is_map()) {
        sr.Error(&value, "'clip' must be a map of column -> [min, max]");
      } else {
        for (const auto& [col, v] : value.entries()) {
          if (!v->is_sequence() || v->items().size() != 2) {
            sr.Error(v.get(), "clip bounds for '" + col->text() + "' must be [min, max] (null for no bound)");
            continue;
          }
          std::optional<columnar::NumberBound> bounds[2];
          for (int b = 0; b < 2; ++b) {
            const DocNode& node = *v->items()[b];
            if (node.is_null()) continue;
            if (auto d = node.AsDouble()) {
              bounds[b] = columnar::NumberBoundOf(*d, node.text());  // an integer exactly (int64 columns compare with it)
            } else if (!HasPlaceholder(node)) {
              sr.Error(&node, "clip bound '" + node.text() + "' is not a number");
            }
          }
          if (bounds[0] && bounds[1] &&
              (bounds[0]->integer && bounds[1]->integer ? *bounds[0]->integer > *bounds[1]->integer
                                                        : bounds[0]->value > bounds[1]->value)) {
            sr.Error(v.get(), "clip bounds for '" + col->text() + "': min is above max");
          }
          s.clips.emplace_back(col->text(), bounds[0], bounds[1]);
        }
      }
    } else if (s.kind == "filter") {
      if (auto e = ScalarText(value, "'filter'", sr)) {
        s.expr = *e;
        if (!HasPlaceholder(value)) {
          try {
            columnar::Expr::Parse(*e);
          } catch (const columnar::FormatError& err) {
            sr.Error(&value, "filter \"" + *e + "\": " + err.what());
          }
        }
      }
    } else if (s.kind == "cast") {
      if (!value.is_map()) {
        sr.Error(&value, "'cast' must be a map of column -> type");
      } else {
        for (const auto& [col, v] : value.entries()) {
          if (auto t = ParseType(*v, "cast of '" + col->text() + "'", sr)) s.casts.emplace_back(col->text(), *t);
        }
      }
    } else if (s.kind == "mask") {
      s.masks = ParseMask(value, sr);
    } else if (s.kind == "drop_keys") {
      ArgReader k(value, context + ": drop_keys", diags, value.mark());  // {column: NAME, from: TASK_OR_FILE}
      if (value.is_map()) {
        if (auto c = k.String("column", true)) s.key_column = *c;
        if (auto f = k.String("from", true)) {
          s.keys_from = *f;
          const bool file = f->ends_with(".csv") || f->ends_with(".parquet");
          if (!IsTaskId(*f) && !file && !HasPlaceholder(*k.Get("from"))) {
            k.Error(k.Get("from"), "'from' must be an upstream task's id or a .csv or .parquet file, not '" + *f + "'");
          }
        }
        k.RejectUnknown({"column", "from"});
      }
    }
    steps.push_back(std::move(s));
  });
  if (!ok) return std::nullopt;
  return steps;
}

// Whether a fill makes an int64 column float64: its mean or median, which
// need not be whole (2.5 for 1, 2, 3, 4), as DuckDB's coalesce(x, median(x))
// and pandas' fillna give.
bool FillMakesFloat(DataType type, const DocNode& spec) {
  const std::string how = spec.is_scalar() && !spec.quoted() ? spec.text() : "";
  return type == DataType::kInt64 && (how == "mean" || how == "median");
}

// The value to fill column `idx`'s nulls with, as a one-row column of its
// type (float64 for an int64 column's mean or median: FillMakesFloat); mean,
// median and mode are taken over the whole table.
ColumnPtr FillValue(const Batches& w, int idx, const std::string& name, const DocNode& spec) {
  const DataType type = FillMakesFloat(w.fields()[idx].type, spec) ? DataType::kFloat64 : w.fields()[idx].type;
  const int64_t n = w.rows();
  int64_t nulls = 0;
  for (const ColumnPtr& part : w.Parts(idx)) nulls += part->null_count();
  const std::string how = spec.is_scalar() && !spec.quoted() ? spec.text() : "";
  const bool numeric = w.fields()[idx].type == DataType::kFloat64 || w.fields()[idx].type == DataType::kInt64;
  auto number = [&](double v) -> ColumnPtr {
    columnar::ColumnBuilder b(type);
    if (type == DataType::kFloat64) {
      b.AppendDouble(v);
    } else {
      // Int columns: the nearest integer. The mean or median of int64 values
      // lies within int64, but in doubles it may round past the ends (2^63):
      // kept at the end, not wrapped to the other sign.
      constexpr double kTop = 9223372036854775808.0;  // 2^63
      b.AppendInt(v >= kTop ? std::numeric_limits<int64_t>::max()
                  : v < -kTop ? std::numeric_limits<int64_t>::min()
                              : static_cast<int64_t>(std::llround(v)));
    }
    return b.Finish();
  };
  const DataType source = w.fields()[idx].type;
  if (how == "mean" || how == "median" || how == "mode") {
    if (how != "mode" && !numeric) {
      throw OpError("fill_nulls: " + how + " needs a numeric column, '" + name + "' is " +
                    std::string(columnar::TypeName(w.fields()[idx].type)));
    }
    if (nulls == n) throw OpError("fill_nulls: column '" + name + "' has no values to take the " + how + " of");
  }
  if (how == "mean") {
    double sum = 0;
    for (const ColumnPtr& c : w.Parts(idx)) {
      sum += source == DataType::kFloat64 ? kernels::Sum(c->doubles(), c->validity(), c->length())
                                          : kernels::Sum(c->ints(), c->validity(), c->length());
    }
    return number(sum / static_cast<double>(n - nulls));
  }
  if (how == "median") {
    ColumnPtr c = w.Gather(idx);
    std::vector<double> scratch(static_cast<size_t>(n) + 8);
    double median = 0;
    if (source == DataType::kFloat64) {
      kernels::Median(c->doubles(), c->validity(), n, scratch.data(), &median);
    } else {
      std::vector<double> as_double(static_cast<size_t>(n) + 8);
      kernels::CastInt64ToDouble(c->ints(), c->validity(), n, as_double.data());
      kernels::Median(as_double.data(), c->validity(), n, scratch.data(), &median);
    }
    return number(median);
  }
  if (how == "mode") {
    ColumnPtr whole = w.Gather(idx);
    const Column& c = *whole;
    columnar::Grouping g = columnar::GroupRows({whole});
    std::vector<int64_t> counts(static_cast<size_t>(g.num_groups()), 0);
    for (int64_t r = 0; r < n; ++r) {
      if (c.IsValid(r)) ++counts[g.group_ids[r]];
    }
    // Most frequent; ties go to the smallest value, as in pandas.
    int64_t best = -1;
    for (int64_t id = 0; id < g.num_groups(); ++id) {
      if (counts[id] == 0) continue;
      if (best < 0 || counts[id] > counts[best]) {
        best = id;
      } else if (counts[id] == counts[best]) {
        int64_t a = g.first_row[id], b = g.first_row[best];
        bool smaller = false;
        switch (c.type()) {
          case DataType::kFloat64: smaller = c.doubles()[a] < c.doubles()[b]; break;
          case DataType::kString: smaller = c.StringAt(a) < c.StringAt(b); break;
          case DataType::kBool: smaller = c.bools()[a] < c.bools()[b]; break;
          default: smaller = c.ints()[a] < c.ints()[b]; break;
        }
        if (smaller) best = id;
      }
    }
    return columnar::Take(c, {g.first_row[best]});
  }
  // A literal of the column's type.
  columnar::ColumnBuilder text(DataType::kString);
  text.AppendString(spec.text());
  int64_t bad;
  std::string bad_text;
  ColumnPtr v = columnar::Cast(*text.Finish(), type, &bad, &bad_text);
  if (!v) {
    throw OpError("fill_nulls: '" + spec.text() + "' is not a " + std::string(columnar::TypeName(type)) +
                  " (the type of column '" + name + "'); use a value, mean, median or mode");
  }
  return v;
}

// Casts column `name` of `w` to `type` in place; a value that is not one
// fails the step, naming its row.
void CastColumn(Batches& w, const std::string& name, DataType type) {
  const int idx = w.Index(name, "cast");
  std::vector<ColumnPtr> parts = w.Parts(idx);
  w.ForEach([&](int b) {
    int64_t bad = -1;
    std::string text;
    ColumnPtr c = columnar::Cast(*parts[b], type, &bad, &text);
    if (!c) {
      throw OpError("cast: column '" + name + "' row " + std::to_string(w.offset(b) + bad + 1) + ": '" + text +
                    "' is not a " + std::string(columnar::TypeName(type)));
    }
    parts[b] = c;
  });
  w.Set(name, type, std::move(parts));
}

ColumnPtr Clip(const Column& c, const std::string& name, const std::optional<columnar::NumberBound>& lo,
               const std::optional<columnar::NumberBound>& hi) {
  try {
    return columnar::Clip(c, lo, hi);
  } catch (const columnar::FormatError& e) {
    const std::string type(columnar::TypeName(c.type()));
    throw OpError("clip: column '" + name + "' is " + (c.type() == DataType::kInt64 ? type + ", and " : "") + e.what());
  }
}

class CleanOperator final : public Operator {
 public:
  std::string_view name() const override { return "clean"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseCleanArgs(*task.with, "task '" + task.id + "': clean", diags, task.mark);
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': clean";
    auto steps = ParseCleanArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark);
    if (!steps || !c.active()) return std::nullopt;
    for (const Step& s : *steps) {
      for (const std::string& name : s.columns) c.Need(s.node, s.kind, name);  // drop_duplicates, drop_nulls
      for (const auto& [name, spec] : s.fills) {
        const std::string how = spec->is_scalar() && !spec->quoted() ? spec->text() : "";
        if (how == "mean" || how == "median") {
          c.NeedType(spec, "fill_nulls", name, kNumericTypes, "a number (for its " + how + ")");
          c.Set(name, "float64");  // an int64 column's mean or median need not be whole
        } else {
          c.Need(spec, "fill_nulls", name);
        }
      }
      for (const auto& [name, lo, hi] : s.clips) c.NeedType(s.node, "clip", name, kNumericTypes, "a number");
      if (s.kind == "filter" && !HasPlaceholder(*s.node)) {
        if (auto schema = c.ExactSchema()) {
          try {
            if (columnar::Expr::Parse(s.expr).Check(*schema) != DataType::kBool) {
              throw columnar::FormatError("the filter must be a condition (true/false)");
            }
          } catch (const columnar::FormatError& err) {
            diags.Add(s.node->mark(), context + ": filter \"" + s.expr + "\": " + err.what());
          }
        }
      }
      for (const auto& [name, type] : s.casts) {
        c.Need(s.node, "cast", name);
        c.Set(name, std::string(columnar::TypeName(type)));
      }
      if (s.kind == "mask") CheckMask(c, s.node, s.masks);
      if (s.kind == "drop_keys") c.Need(s.node->Find("column"), "drop_keys", s.key_column);
    }
    return c.Result();
  }

  // drop_keys' lists (a task's output, a file) and the key of a hash mask.
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* why) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseCleanArgs(ctx.args(), "clean", diags, ctx.task().mark);
    if (!steps) return "";
    std::string out;
    for (const Step& s : *steps) {
      if (s.kind == "mask") out += MaskCacheInput(s.masks);
      if (s.kind != "drop_keys") continue;
      if (IsTaskId(s.keys_from)) {
        auto artifact = ctx.FindArtifact(s.keys_from, "output");
        if (!artifact || artifact->content_hash.empty()) {
          *why = "drop_keys reads task '" + s.keys_from + "', whose output is not persisted";
          return std::nullopt;
        }
        out += s.keys_from + "=" + artifact->content_hash + "\n";
      } else {
        const std::string path = ResolvePath(ctx, s.keys_from);
        std::error_code ec;
        if (std::filesystem::is_regular_file(path, ec)) out += path + "=" + FileHash(path) + "\n";
      }
    }
    return out;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseCleanArgs(ctx.args(), "clean", diags, ctx.task().mark);
    if (!steps) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    Batches w = Batches::Of(*input);
    w.SpillTo(SpillIfLarge(ctx, input->MemoryBytes()));
    std::vector<std::string> notes;
    nlohmann::json fitted = nlohmann::json::array();
    try {
      for (const Step& s : *steps) {
        if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
        int64_t before = w.rows();
        if (s.kind == "drop_keys") {
          DropKeys(ctx, s, w);
        } else {
          Apply(s, w, &fitted);
        }
        if (w.rows() != before) notes.push_back(s.kind + " -" + std::to_string(before - w.rows()));
      }
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = input->num_rows();
    result.metrics.rows_out = w.rows();
    std::string summary = Counted(steps->size(), "step");
    for (const auto& n : notes) summary += ", " + n + " rows";
    result.metrics.summary = summary;
    // The steps serving replays (fill values, clips, casts, masks) join the
    // table's fitted chain (transform's steps follow), which a model trained
    // on it records; the steps that drop rows do not.
    PublishOutput(ctx, w.ToTable(WithFittedSteps(*input, fitted)), result.metrics);
    return result;
  }

 private:
  // The first value of a one-row column, as JSON (a timestamp as its text).
  static nlohmann::json JsonValue(const Column& c) {
    switch (c.type()) {
      case DataType::kInt64: return c.ints()[0];
      case DataType::kFloat64: return c.doubles()[0];
      case DataType::kBool: return c.bools()[0] != 0;
      default: return columnar::ValueText(c, 0);
    }
  }

  // Applies one step; one that changes values (fill_nulls, clip, cast, mask)
  // appends itself, fitted, to `fitted`.
  static void Apply(const Step& s, Batches& w, nlohmann::json* fitted) {
    if (s.kind == "drop_duplicates") {
      // Groups the whole table's rows by the key columns: the first row of each group stays.
      std::vector<int> indices;
      if (s.all) {
        for (int i = 0; i < static_cast<int>(w.fields().size()); ++i) indices.push_back(i);
      } else {
        for (const auto& c : s.columns) indices.push_back(w.Index(c, "drop_duplicates"));
      }
      const int64_t n = w.rows();
      if (n == 0 || indices.empty()) return;
      columnar::Grouping g = w.Group(indices);
      if (g.num_groups() == n) return;
      std::vector<uint64_t> first = NewBitmap(n);
      for (int64_t id = 0; id < g.num_groups(); ++id) columnar::SetBit(first.data(), g.first_row[id]);
      w.Keep(w.SplitBits(first.data()));
    } else if (s.kind == "drop_nulls") {
      std::vector<int> indices;
      for (const auto& c : s.columns) indices.push_back(w.Index(c, "drop_nulls"));
      std::vector<std::vector<uint64_t>> keep(static_cast<size_t>(w.num_batches()));
      w.ForEach([&](int b) {
        const columnar::Batch& batch = w.batch(b);
        for (int i : indices) {
          const Column& col = *batch.columns[i];
          if (!col.has_nulls()) continue;
          if (keep[b].empty()) keep[b] = NewBitmap(batch.num_rows, true);
          kernels::BitmapAnd(keep[b].data(), col.validity(), keep[b].data(), batch.num_rows);
        }
      });
      w.Keep(keep);
    } else if (s.kind == "fill_nulls") {
      nlohmann::json columns = nlohmann::json::object();
      nlohmann::json casts = nlohmann::json::array();  // int64 columns filled with their mean or median
      for (const auto& [name, spec] : s.fills) {
        int idx = w.Index(name, "fill_nulls");
        std::vector<ColumnPtr> parts = w.Parts(idx);
        const bool has_nulls = std::any_of(parts.begin(), parts.end(), [](const ColumnPtr& c) { return c->has_nulls(); });
        // The value is fitted even when this table has no nulls: serving
        // replays it on rows that do (the transform chain).
        ColumnPtr value = !has_nulls && w.rows() == 0 ? nullptr : FillValue(w, idx, name, *spec);
        if (FillMakesFloat(w.fields()[idx].type, *spec)) {
          // The column becomes float64 whether or not it has nulls (one
          // schema for every table), and serving casts it alike.
          CastColumn(w, name, DataType::kFloat64);
          parts = w.Parts(idx);
          casts.push_back({name, "float64"});
        }
        if (!value) continue;
        columns[name] = JsonValue(*value);
        if (!has_nulls) continue;
        w.ForEach([&](int b) {
          if (ColumnPtr filled = columnar::FillNulls(*parts[b], *value)) parts[b] = filled;
        });
        w.Set(name, w.fields()[idx].type, std::move(parts));
      }
      if (fitted && !casts.empty()) fitted->push_back({{"step", "cast"}, {"params", {{"columns", std::move(casts)}}}});
      if (fitted && !columns.empty()) fitted->push_back({{"step", "fill_nulls"}, {"params", {{"columns", columns}}}});
    } else if (s.kind == "clip") {
      for (const auto& [name, lo, hi] : s.clips) {
        int idx = w.Index(name, "clip");
        std::vector<ColumnPtr> parts = w.Parts(idx);
        if (parts.empty()) Clip(Column(w.fields()[idx].type, 0), name, lo, hi);  // the type check
        // Named captures: clang 14 cannot capture structured bindings.
        w.ForEach([&, &name = name, lo = lo, hi = hi](int b) { parts[b] = Clip(*parts[b], name, lo, hi); });
        w.Set(name, w.fields()[idx].type, std::move(parts));
      }
      // Serving replays it on request rows (the fitted chain): a model never
      // sees a value beyond the bounds its training rows were clipped to.
      if (fitted) {
        nlohmann::json columns = nlohmann::json::array();
        for (const auto& [name, lo, hi] : s.clips) {
          auto bound = [](const std::optional<columnar::NumberBound>& b) {
            return !b ? nlohmann::json() : b->integer ? nlohmann::json(*b->integer) : nlohmann::json(b->value);
          };
          columns.push_back({name, bound(lo), bound(hi)});
        }
        fitted->push_back({{"step", "clip"}, {"params", {{"columns", std::move(columns)}}}});
      }
    } else if (s.kind == "filter") {
      columnar::Expr e = columnar::Expr::Parse(s.expr);
      const columnar::Schema schema = w.schema();
      try {
        if (e.Check(schema) != DataType::kBool) throw columnar::FormatError("the filter must be a condition (true/false)");
      } catch (const columnar::FormatError& err) {
        throw OpError("filter \"" + s.expr + "\": " + err.what());
      }
      std::vector<std::vector<uint64_t>> keep(static_cast<size_t>(w.num_batches()));
      w.ForEach([&](int b) {
        const columnar::Batch& batch = w.batch(b);
        ColumnPtr cond;
        try {
          cond = e.Evaluate(schema, batch);
        } catch (const columnar::FormatError& err) {
          throw OpError("filter \"" + s.expr + "\": " + err.what());
        }
        // Keep rows where the condition is true (not false, not null).
        keep[b] = NewBitmap(batch.num_rows);
        for (int64_t r = 0; r < batch.num_rows; ++r) {
          if (cond->IsValid(r) && cond->bools()[r]) columnar::SetBit(keep[b].data(), r);
        }
      });
      w.Keep(keep);
    } else if (s.kind == "cast") {
      for (const auto& [name, type] : s.casts) CastColumn(w, name, type);
      if (fitted) {  // replayed on request rows too: they arrive as ingested
        nlohmann::json columns = nlohmann::json::array();
        for (const auto& [name, type] : s.casts) columns.push_back({name, columnar::TypeName(type)});
        fitted->push_back({{"step", "cast"}, {"params", {{"columns", std::move(columns)}}}});
      }
    } else if (s.kind == "mask") {
      // Serving replays it on request rows (the fitted chain).
      nlohmann::json step = ApplyMask(s.masks, w);
      if (fitted) fitted->push_back(std::move(step));
    }
  }

  // The keys to drop as a column of `type`: the `from` task's output or
  // file, its column of the same name (cast when its type differs).
  static ColumnPtr Keys(TaskContext& ctx, const Step& s, DataType type) {
    columnar::TablePtr keys;
    if (IsTaskId(s.keys_from)) {
      keys = InputTable(ctx, s.keys_from);
    } else {
      const std::string path = ResolvePath(ctx, s.keys_from);
      try {
        if (s.keys_from.ends_with(".parquet")) {
          keys = columnar::ReadParquetFile(path);
        } else {
          columnar::CsvOptions options;
          options.types[s.key_column] = type;  // "0012" stays "0012" for a string key
          keys = columnar::ReadCsvFiles({path}, options).table;
        }
      } catch (const std::exception& e) {  // a format error, or the file cannot be read
        throw OpError("drop_keys: " + std::string(e.what()));
      }
      NoteFile(ctx, path);
    }
    auto idx = keys->schema().IndexOf(s.key_column);
    if (!idx) ThrowMissingColumn("drop_keys: from " + s.keys_from, s.key_column, keys->schema().names());
    ColumnPtr column = columnar::ConcatColumn(*keys, *idx);
    if (column->type() == type) return column;
    int64_t bad = -1;
    std::string text;
    ColumnPtr cast = columnar::Cast(*column, type, &bad, &text);
    if (!cast) {
      throw OpError("drop_keys: from " + s.keys_from + ": key '" + text + "' (row " + std::to_string(bad + 1) +
                    ") is not a " + std::string(columnar::TypeName(type)) + " like column '" + s.key_column + "'");
    }
    return cast;
  }

  // drop_keys: right to erasure, the rows of the listed keys go.
  static void DropKeys(TaskContext& ctx, const Step& s, Batches& w) {
    const int idx = w.Index(s.key_column, "drop_keys");
    const DataType type = w.fields()[idx].type;
    ColumnPtr keys = Keys(ctx, s, type);
    std::unordered_set<std::string> listed;
    for (int64_t r = 0; r < keys->length(); ++r) {
      if (keys->IsValid(r)) listed.insert(KeyText(*keys, r));
    }
    std::vector<std::vector<uint64_t>> keep(static_cast<size_t>(w.num_batches()));
    w.ForEach([&](int b) {
      const Column& col = *w.batch(b).columns[idx];
      const int64_t n = col.length();
      keep[b] = NewBitmap(n, true);
      for (int64_t r = 0; r < n; ++r) {
        if (col.IsValid(r) && listed.count(KeyText(col, r))) columnar::ClearBit(keep[b].data(), r);
      }
    });
    w.Keep(keep);
  }

  // A value's bytes (text for strings), equal for equal values of a type.
  static std::string KeyText(const Column& c, int64_t r) {
    switch (c.type()) {
      case DataType::kString: return std::string(c.StringAt(r));
      case DataType::kBool: return c.bools()[r] ? "1" : "0";
      case DataType::kFloat64: {
        double v = c.doubles()[r];
        if (v == 0) v = 0;  // -0.0 is 0.0
        return std::string(reinterpret_cast<const char*>(&v), 8);
      }
      default: return std::string(reinterpret_cast<const char*>(c.ints() + r), 8);
    }
  }
};

}  // namespace

std::unique_ptr<Operator> MakeCleanOperator() { return std::make_unique<CleanOperator>(); }

}  // namespace pipeline::ops
