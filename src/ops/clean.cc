// clean: drop_duplicates, drop_nulls, fill_nulls, clip, filter, cast — in
// the order written, each on the table the previous step left.
#include <algorithm>
#include <cmath>
#include <variant>

#include "columnar/compute.h"
#include "columnar/expr.h"
#include "columnar/hash_group.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "kernels/kernels.h"
#include "ops/args.h"
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
  std::vector<std::tuple<std::string, std::optional<double>, std::optional<double>>> clips;
  std::string expr;
  std::vector<std::pair<std::string, DataType>> casts;
};

const std::vector<std::string> kSteps = {"drop_duplicates", "drop_nulls", "fill_nulls", "clip", "filter", "cast"};

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
          std::optional<double> bounds[2];
          for (int b = 0; b < 2; ++b) {
            const DocNode& node = *v->items()[b];
            if (node.is_null()) continue;
            bounds[b] = node.AsDouble();
            if (!bounds[b] && !HasPlaceholder(node)) sr.Error(&node, "clip bound '" + node.text() + "' is not a number");
          }
          if (bounds[0] && bounds[1] && *bounds[0] > *bounds[1]) {
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
    }
    steps.push_back(std::move(s));
  });
  if (!ok) return std::nullopt;
  return steps;
}

// The working table: one batch, columns replaceable.
struct Work {
  columnar::Schema schema;
  std::vector<ColumnPtr> columns;
  int64_t rows = 0;

  int Index(const std::string& name, const std::string& step) const {
    auto idx = schema.IndexOf(name);
    if (!idx) ThrowMissingColumn(step, name, schema.names());
    return *idx;
  }

  void Keep(const std::vector<uint64_t>& selection, int64_t selected) {
    if (selected == rows) return;
    columnar::Batch b{rows, columns};
    columns = columnar::FilterBatch(b, selection.data(), selected).columns;
    rows = selected;
  }
};

std::vector<uint64_t> AllOnes(int64_t n) {
  std::vector<uint64_t> bits(static_cast<size_t>(columnar::BitmapWords(n)) + 8, 0);
  for (int64_t w = 0; w < n / 64; ++w) bits[w] = ~uint64_t{0};
  if (n % 64) bits[n / 64] = (uint64_t{1} << (n % 64)) - 1;
  return bits;
}

// A column with nulls replaced by `fill` (same type).
ColumnPtr FillNulls(const Column& c, const columnar::Column& fill_value) {
  if (!c.has_nulls()) return nullptr;
  const int64_t n = c.length();
  if (c.type() == DataType::kString) {
    std::string_view v = fill_value.StringAt(0);
    columnar::ColumnBuilder b(DataType::kString);
    b.Reserve(n);
    for (int64_t r = 0; r < n; ++r) b.AppendString(c.IsValid(r) ? c.StringAt(r) : v);
    return b.Finish();
  }
  columnar::Buffer values = c.values_buffer().Clone();
  const size_t w = c.type() == DataType::kBool ? 1 : 8;
  for (int64_t r = 0; r < n; ++r) {
    if (c.IsNull(r)) std::memcpy(values.data() + r * w, fill_value.values_buffer().data(), w);
  }
  return std::make_shared<Column>(c.type(), n, std::move(values), columnar::Buffer());
}

// The value to fill `c`'s nulls with, as a one-row column of c's type.
ColumnPtr FillValue(const Column& c, const std::string& name, const DocNode& spec) {
  const int64_t n = c.length();
  const std::string how = spec.is_scalar() && !spec.quoted() ? spec.text() : "";
  const bool numeric = c.type() == DataType::kFloat64 || c.type() == DataType::kInt64;
  auto number = [&](double v) -> ColumnPtr {
    columnar::ColumnBuilder b(c.type());
    if (c.type() == DataType::kFloat64) {
      b.AppendDouble(v);
    } else {
      b.AppendInt(static_cast<int64_t>(std::llround(v)));  // int columns: nearest integer
    }
    return b.Finish();
  };
  if (how == "mean" || how == "median") {
    if (!numeric) {
      throw OpError("fill_nulls: " + how + " needs a numeric column, '" + name + "' is " +
                      std::string(columnar::TypeName(c.type())));
    }
    if (c.null_count() == n) throw OpError("fill_nulls: column '" + name + "' has no values to take the " + how + " of");
    if (how == "mean") {
      double sum = c.type() == DataType::kFloat64 ? kernels::Sum(c.doubles(), c.validity(), n)
                                                  : kernels::Sum(c.ints(), c.validity(), n);
      return number(sum / static_cast<double>(n - c.null_count()));
    }
    std::vector<double> scratch(static_cast<size_t>(n) + 8);
    double median = 0;
    if (c.type() == DataType::kFloat64) {
      kernels::Median(c.doubles(), c.validity(), n, scratch.data(), &median);
    } else {
      std::vector<double> as_double(static_cast<size_t>(n) + 8);
      kernels::CastInt64ToDouble(c.ints(), c.validity(), n, as_double.data());
      kernels::Median(as_double.data(), c.validity(), n, scratch.data(), &median);
    }
    return number(median);
  }
  if (how == "mode") {
    if (c.null_count() == n) throw OpError("fill_nulls: column '" + name + "' has no values to take the mode of");
    auto self = std::shared_ptr<const Column>(&c, [](const Column*) {});
    columnar::Grouping g = columnar::GroupRows({self});
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
  ColumnPtr v = columnar::Cast(*text.Finish(), c.type(), &bad, &bad_text);
  if (!v) {
    throw OpError("fill_nulls: '" + spec.text() + "' is not a " + std::string(columnar::TypeName(c.type())) +
                    " (the type of column '" + name + "'); use a value, mean, median or mode");
  }
  return v;
}

ColumnPtr Clip(const Column& c, const std::string& name, std::optional<double> lo, std::optional<double> hi) {
  const int64_t n = c.length();
  if (c.type() == DataType::kFloat64) {
    columnar::Buffer out(static_cast<size_t>(n) * 8);
    kernels::Clip(c.doubles(), c.validity(), n, lo.value_or(-INFINITY), hi.value_or(INFINITY), out.as<double>());
    return std::make_shared<Column>(c.type(), n, std::move(out), c.validity_buffer().Clone());
  }
  if (c.type() == DataType::kInt64) {
    columnar::Buffer out(static_cast<size_t>(n) * 8);
    int64_t l = lo ? static_cast<int64_t>(std::ceil(*lo)) : INT64_MIN;
    int64_t h = hi ? static_cast<int64_t>(std::floor(*hi)) : INT64_MAX;
    for (int64_t r = 0; r < n; ++r) out.as<int64_t>()[r] = c.IsValid(r) ? std::clamp(c.ints()[r], l, h) : 0;
    return std::make_shared<Column>(c.type(), n, std::move(out), c.validity_buffer().Clone());
  }
  throw OpError("clip: column '" + name + "' is " + std::string(columnar::TypeName(c.type())) + ", not a number");
}

class CleanOperator final : public Operator {
 public:
  std::string_view name() const override { return "clean"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseCleanArgs(*task.with, "task '" + task.id + "': clean", diags, task.mark);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseCleanArgs(ctx.args(), "clean", diags, ctx.task().mark);
    if (!steps) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    Work w;
    w.schema = input->schema();
    w.rows = input->num_rows();
    w.columns = WholeColumns(*input);
    std::vector<std::string> notes;
    try {
      for (const Step& s : *steps) {
        if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
        int64_t before = w.rows;
        Apply(s, w);
        if (w.rows != before) notes.push_back(s.kind + " -" + std::to_string(before - w.rows));
      }
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
    auto out = std::make_shared<columnar::Table>(w.schema);
    for (const auto& [k, v] : input->metadata()) out->SetMetadata(k, v);
    if (w.rows > 0) out->AddBatch(columnar::Batch{w.rows, w.columns});
    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = input->num_rows();
    result.metrics.rows_out = w.rows;
    std::string summary = std::to_string(steps->size()) + " steps";
    for (const auto& n : notes) summary += ", " + n + " rows";
    result.metrics.summary = summary;
    PublishOutput(ctx, out, result.metrics);
    return result;
  }

 private:
  static void Apply(const Step& s, Work& w) {
    const int64_t n = w.rows;
    if (s.kind == "drop_duplicates") {
      std::vector<ColumnPtr> keys;
      if (s.all) {
        keys = w.columns;
      } else {
        for (const auto& c : s.columns) keys.push_back(w.columns[w.Index(c, "drop_duplicates")]);
      }
      if (n == 0 || keys.empty()) return;
      columnar::Grouping g = columnar::GroupRows(keys);
      if (g.num_groups() == n) return;
      std::vector<uint64_t> keep(static_cast<size_t>(columnar::BitmapWords(n)) + 8, 0);
      for (int64_t id = 0; id < g.num_groups(); ++id) columnar::SetBit(keep.data(), g.first_row[id]);
      w.Keep(keep, g.num_groups());
    } else if (s.kind == "drop_nulls") {
      std::vector<uint64_t> keep = AllOnes(n);
      bool any = false;
      for (const auto& c : s.columns) {
        const Column& col = *w.columns[w.Index(c, "drop_nulls")];
        if (!col.has_nulls()) continue;
        any = true;
        kernels::BitmapAnd(keep.data(), col.validity(), keep.data(), n);
      }
      if (any) w.Keep(keep, kernels::CountSet(keep.data(), n));
    } else if (s.kind == "fill_nulls") {
      for (const auto& [name, spec] : s.fills) {
        int idx = w.Index(name, "fill_nulls");
        const Column& c = *w.columns[idx];
        if (!c.has_nulls()) continue;
        ColumnPtr value = FillValue(c, name, *spec);
        w.columns[idx] = FillNulls(c, *value);
      }
    } else if (s.kind == "clip") {
      for (const auto& [name, lo, hi] : s.clips) {
        int idx = w.Index(name, "clip");
        w.columns[idx] = Clip(*w.columns[idx], name, lo, hi);
      }
    } else if (s.kind == "filter") {
      columnar::Expr e = columnar::Expr::Parse(s.expr);
      ColumnPtr cond;
      try {
        if (e.Check(w.schema) != DataType::kBool) throw columnar::FormatError("the filter must be a condition (true/false)");
        cond = e.Evaluate(w.schema, columnar::Batch{n, w.columns});
      } catch (const columnar::FormatError& err) {
        throw OpError("filter \"" + s.expr + "\": " + err.what());
      }
      // Keep rows where the condition is true (not false, not null).
      std::vector<uint64_t> keep(static_cast<size_t>(columnar::BitmapWords(n)) + 8, 0);
      for (int64_t r = 0; r < n; ++r) {
        if (cond->IsValid(r) && cond->bools()[r]) columnar::SetBit(keep.data(), r);
      }
      w.Keep(keep, kernels::CountSet(keep.data(), n));
    } else if (s.kind == "cast") {
      for (const auto& [name, type] : s.casts) {
        int idx = w.Index(name, "cast");
        int64_t bad = -1;
        std::string text;
        ColumnPtr c = columnar::Cast(*w.columns[idx], type, &bad, &text);
        if (!c) {
          throw OpError("cast: column '" + name + "' row " + std::to_string(bad + 1) + ": '" + text + "' is not a " +
                          std::string(columnar::TypeName(type)));
        }
        w.columns[idx] = c;
        std::vector<columnar::Field> fields = w.schema.fields();
        fields[idx].type = type;
        w.schema = columnar::Schema(fields);
      }
    }
  }
};

}  // namespace

std::unique_ptr<Operator> MakeCleanOperator() { return std::make_unique<CleanOperator>(); }

}  // namespace pipeline::ops
