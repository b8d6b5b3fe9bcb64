// transform: feature-engineering steps in order. Fitted parameters (means,
// deviations, bounds, categories) are saved with the output (the Parquet
// file's "pipe.transform" metadata and a "transform" JSON artifact) so that
// the same transform applies to new rows without refitting.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/expr.h"
#include "columnar/hash_group.h"
#include "kernels/kernels.h"
#include "ml/chain.h"
#include "ops/args.h"
#include "ops/batches.h"
#include "ops/mask_step.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

// one_hot makes a column per category: more than this many is a mistake.
constexpr int64_t kMaxOneHotCategories = 65'536;

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

const std::vector<std::string> kSteps = {"standardize", "min_max",  "log1p",  "label_encode",   "one_hot", "bucketize",
                                         "derive",      "datetime_parts", "select", "drop", "rename", "mask"};
const std::vector<std::string> kParts = {"hour", "dayofweek", "day", "month", "year"};

struct Step {
  std::string kind;
  const DocNode* node = nullptr;
  // Column steps: (source, target); target == source means in place.
  std::vector<std::pair<std::string, std::string>> columns;
  // one_hot, bucketize, datetime_parts.
  std::string column;
  int64_t max_categories = 64;  // at most kMaxOneHotCategories
  std::string prefix;
  std::vector<double> bounds;
  std::string as;
  std::vector<std::string> parts;
  // derive: (name, expression).
  std::vector<std::pair<std::string, std::string>> derive;
  std::vector<std::string> names;  // select, drop
  MaskRules masks;
};

// A step's columns: a list (in place) or a map {source: new name}.
void ParseColumns(const DocNode& value, Step& s, ArgReader& r) {
  if (value.is_sequence() || value.is_scalar()) {
    if (auto cols = r.StringList(s.kind)) {
      for (const auto& c : *cols) s.columns.emplace_back(c, c);
    }
  } else if (value.is_map()) {
    for (const auto& [k, v] : value.entries()) {
      if (auto target = ScalarText(*v, "new name for '" + k->text() + "'", r)) s.columns.emplace_back(k->text(), *target);
    }
  } else {
    r.Error(&value, "'" + s.kind + "' takes a list of columns or a map {column: new_name}");
  }
}

std::optional<std::vector<Step>> ParseTransformArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                                    Mark mark) {
  std::vector<Step> steps;
  bool ok = ParseSteps(with, context, diags, mark, kSteps, [&](const std::string& kind, const DocNode& value, ArgReader& sr) {
    Step s;
    s.kind = kind;
    s.node = &value;
    if (s.kind == "standardize" || s.kind == "min_max" || s.kind == "log1p" || s.kind == "label_encode") {
      ParseColumns(value, s, sr);
    } else if (s.kind == "one_hot") {
      ArgReader a(value, context + ": one_hot", diags, Within(value, mark));
      if (auto c = a.String("column", true)) s.column = *c;
      if (auto m = a.Integer("max_categories", 1, kMaxOneHotCategories)) s.max_categories = *m;
      s.prefix = a.String("prefix").value_or(s.column);
      a.RejectUnknown({"column", "max_categories", "prefix"});
    } else if (s.kind == "bucketize") {
      ArgReader a(value, context + ": bucketize", diags, Within(value, mark));
      if (auto c = a.String("column", true)) s.column = *c;
      const DocNode* b = a.Get("bounds");
      if (!b || !b->is_sequence() || b->items().empty()) {
        a.Error(b, "'bounds' must be a non-empty list of increasing numbers");
      } else {
        for (const auto& v : b->items()) {
          auto d = v->AsDouble();
          if (!d) {
            a.Error(v.get(), "bound '" + (v->is_scalar() ? v->text() : v->TypeName()) + "' is not a number");
          } else {
            if (!s.bounds.empty() && *d <= s.bounds.back()) a.Error(v.get(), "'bounds' must be strictly increasing");
            s.bounds.push_back(*d);
          }
        }
      }
      s.as = a.String("as").value_or(s.column + "_bucket");
      a.RejectUnknown({"column", "bounds", "as"});
    } else if (s.kind == "derive") {
      if (!value.is_map()) {
        sr.Error(&value, "'derive' must be a map {new_column: \"expression\"}");
      } else {
        for (const auto& [k, v] : value.entries()) {
          auto text = ScalarText(*v, "expression for '" + k->text() + "'", sr);
          if (!text) continue;
          if (!HasPlaceholder(*v)) {
            try {
              columnar::Expr::Parse(*text);
            } catch (const columnar::FormatError& e) {
              sr.Error(v.get(), "derive " + k->text() + " \"" + *text + "\": " + e.what());
            }
          }
          s.derive.emplace_back(k->text(), *text);
        }
      }
    } else if (s.kind == "datetime_parts") {
      ArgReader a(value, context + ": datetime_parts", diags, Within(value, mark));
      if (auto c = a.String("column", true)) s.column = *c;
      if (auto p = a.StringList("parts")) {
        for (const auto& part : *p) {
          if (std::find(kParts.begin(), kParts.end(), part) == kParts.end()) {
            a.Error(a.Get("parts"), "unknown part '" + part + "' (parts: hour, dayofweek, day, month, year)");
          }
        }
        s.parts = *p;
      } else {
        a.Error(nullptr, "missing required argument 'parts'");
      }
      a.RejectUnknown({"column", "parts"});
    } else if (s.kind == "select" || s.kind == "drop") {
      if (auto cols = sr.StringList(s.kind)) s.names = *cols;
    } else if (s.kind == "rename") {
      if (!value.is_map()) {
        sr.Error(&value, "'rename' must be a map {old: new}");
      } else {
        ParseColumns(value, s, sr);
      }
    } else if (s.kind == "mask") {
      s.masks = ParseMask(value, sr);
    }
    steps.push_back(std::move(s));
  });
  if (!ok) return std::nullopt;
  return steps;
}

// The groupings of the columns label_encode and one_hot work on, each
// computed once over the whole column (both steps on one column share it).
class Groupings {
 public:
  struct Entry {
    std::vector<ColumnPtr> parts;  // the column's batches, kept alive: their addresses are the key
    ColumnPtr whole;               // the column gathered from its batches
    columnar::Grouping grouping;
  };
  const Entry& Of(const Batches& w, int index) {
    Entry e;
    e.parts = w.Parts(index);
    std::vector<const Column*> key;
    for (const ColumnPtr& part : e.parts) key.push_back(part.get());
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      e.whole = w.Gather(index);
      e.grouping = columnar::GroupRows({e.whole});
      it = entries_.emplace(std::move(key), std::move(e)).first;
    }
    return it->second;
  }

 private:
  std::map<std::vector<const Column*>, Entry> entries_;
};

using ml::AsDoubles;
using ml::MapDoubles;

nlohmann::json CategoryJson(const Column& c, int64_t row) {
  switch (c.type()) {
    case DataType::kInt64: return c.ints()[row];
    case DataType::kFloat64: return c.doubles()[row];
    case DataType::kBool: return c.bools()[row] != 0;
    default: return columnar::ValueText(c, row);
  }
}

// The columns a derive expression reads: parsed, else (a template not yet
// rendered) every known column its text names, so that a mark is never lost.
std::vector<std::string> ReadColumns(const std::string& text, const ColumnChecker& c) {
  try {
    return columnar::Expr::Parse(text).Columns();
  } catch (const columnar::FormatError&) {
  }
  std::vector<std::string> out;
  if (auto known = c.Result()) {
    for (const auto& [name, origin] : known->pii) {
      if (text.find(name) != std::string::npos) out.push_back(name);
    }
  }
  return out;
}

class TransformOperator final : public Operator {
 public:
  std::string_view name() const override { return "transform"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseTransformArgs(*task.with, "task '" + task.id + "': transform", diags, task.mark);
  }

  // label_encode and one_hot keep a column's categories in the fitted
  // transform (transform.json, replayed at serving): its values, which a
  // column of personal data must not leave, unless the task allows it.
  static void RefuseKeptCategories(const TaskSpec& task, const ColumnChecker& c, const Step& s,
                                   const std::string& column, Diagnostics& diags) {
    if (task.allow_pii || !c.IsPii(column)) return;
    diags.Add(s.node && s.node->mark().line > 0 ? s.node->mark() : task.mark,
              "task '" + task.id + "': transform: " + s.kind + ": column '" + column +
                  "' is personal data, whose categories the fitted transform (transform.json) would keep; mask it "
                  "first (a step 'mask'), or set allow_pii: true on the task");
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': transform";
    auto steps = ParseTransformArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark, "the table");
    if (!steps) return std::nullopt;
    for (const Step& s : *steps) {
      if (s.kind == "standardize" || s.kind == "min_max" || s.kind == "log1p") {
        for (const auto& [source, target] : s.columns) {
          if (c.NeedType(s.node, s.kind, source, kNumericTypes, "a number")) c.Set(target, "float64");
          c.Derive(target, {source});
        }
      } else if (s.kind == "label_encode") {
        for (const auto& [source, target] : s.columns) {
          RefuseKeptCategories(task, c, s, source, diags);
          if (c.Need(s.node, s.kind, source) || !c.exact()) c.Set(target, "int64");
          c.Derive(target, {source});
        }
      } else if (s.kind == "one_hot") {
        RefuseKeptCategories(task, c, s, s.column, diags);
        c.Need(s.node, s.kind, s.column);
        c.AddUnknownFrom(s.column, "one_hot");
      } else if (s.kind == "bucketize") {
        c.NeedType(s.node, s.kind, s.column, kNumericTypes, "a number");
        c.Set(s.as, "int64");
        c.Derive(s.as, {s.column});
      } else if (s.kind == "derive") {
        for (const auto& [name, text] : s.derive) {
          std::string type;
          if (auto schema = c.ExactSchema(); schema && !HasPlaceholder(*s.node)) {
            try {
              type = std::string(columnar::TypeName(columnar::Expr::Parse(text).Check(*schema)));
            } catch (const columnar::FormatError& err) {
              diags.Add(s.node->mark(), context + ": derive " + name + " \"" + text + "\": " + err.what());
            }
          }
          c.Set(name, type);
          c.Derive(name, ReadColumns(text, c));
        }
      } else if (s.kind == "datetime_parts") {
        c.NeedType(s.node, s.kind, s.column, {"timestamp"}, "a timestamp");
        for (const std::string& part : s.parts) {
          c.Set(s.column + "_" + part, "int64");
          c.Derive(s.column + "_" + part, {s.column});
        }
      } else if (s.kind == "select") {
        for (const std::string& name : s.names) c.Need(s.node, "select", name);
        c.Select(s.names);
      } else if (s.kind == "drop") {
        for (const std::string& name : s.names) {
          c.Need(s.node, "drop", name);
          c.Remove(name);
        }
      } else if (s.kind == "rename") {
        for (const auto& [from, to] : s.columns) {
          c.Need(s.node, "rename", from);
          c.Rename(from, to);
        }
      } else if (s.kind == "mask") {
        CheckMask(c, s.node, s.masks);
      }
    }
    return c.Result();
  }

  // The key of a hash mask.
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* /*why*/) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseTransformArgs(ctx.args(), "transform", diags, ctx.task().mark);
    std::string out;
    if (steps) {
      for (const Step& s : *steps) out += MaskCacheInput(s.masks);
    }
    return out;
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseTransformArgs(ctx.args(), "transform", diags, ctx.task().mark);
    if (!steps) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    Batches w = Batches::Of(*input);
    w.SpillTo(SpillIfLarge(ctx, input->MemoryBytes()));
    Groupings groupings;
    nlohmann::json fitted = nlohmann::json::array();
    try {
      for (const Step& s : *steps) {
        if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
        fitted.push_back({{"step", s.kind}, {"params", Apply(s, w, groupings)}});
      }
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    } catch (const ml::ModelError& e) {
      return TaskResult::Failure(e.what());
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure(e.what());
    }
    // The chain so far (earlier steps first), then this task's.
    std::map<std::string, std::string> metadata = WithFittedSteps(*input, fitted);
    nlohmann::json chain = metadata.count("pipe.transform") ? nlohmann::json::parse(metadata["pipe.transform"])
                                                             : nlohmann::json::array();

    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = input->num_rows();
    result.metrics.rows_out = w.rows();
    result.metrics.summary = Counted(steps->size(), "step") + ", " + Counted(w.fields().size(), "column");
    PersistJson(ctx, nlohmann::json{{"task", ctx.task().id}, {"steps", chain}}.dump(2), "transform");
    PublishOutput(ctx, w.ToTable(metadata), result.metrics);
    return result;
  }

 private:
  static nlohmann::json Apply(const Step& s, Batches& w, Groupings& groupings) {
    nlohmann::json params = nlohmann::json::object();
    if (s.kind == "standardize" || s.kind == "min_max" || s.kind == "log1p") {
      for (const auto& [source, target] : s.columns) {
        int idx = w.Index(source, s.kind, "the table");
        std::vector<ColumnPtr> x = w.Parts(idx);
        AsDoubles(std::make_shared<Column>(w.fields()[idx].type, 0), source, s.kind);  // the type check
        w.ForEach([&, &source = source](int b) { x[b] = AsDoubles(x[b], source, s.kind); });
        nlohmann::json p = {{"output", target}};
        std::function<void(const double*, const uint64_t*, int64_t, double*)> map;
        if (s.kind == "standardize") {
          kernels::Moments m = MergedMoments(x);
          double sd = std::sqrt(m.variance);
          if (!std::isfinite(m.mean) || !std::isfinite(sd)) {  // (NaN is no spread, infinity no mean)
            int64_t non_finite = 0;
            for (const ColumnPtr& part : x) {
              for (int64_t r = 0; r < part->length(); ++r) non_finite += part->IsValid(r) && !std::isfinite(part->doubles()[r]);
            }
            if (non_finite > 0) {
              throw OpError("standardize: column '" + source + "' holds " + std::to_string(non_finite) +
                            " NaN or infinite value" + (non_finite == 1 ? "" : "s") +
                            ": it has no mean or spread to scale by (filter them out first)");
            }
          }
          if (!(sd > 0)) {
            throw OpError("standardize: column '" + source + "' has " +
                          (m.count < 2 ? std::string("fewer than 2 values") : std::string("no spread (all values equal)")));
          }
          map = [mean = m.mean, sd](const double* v, const uint64_t* valid, int64_t len, double* o) {
            kernels::Standardize(v, valid, len, mean, sd, o);
          };
          p["mean"] = m.mean;
          p["std"] = sd;
        } else if (s.kind == "min_max") {
          kernels::DoubleMinMax mm;
          for (const ColumnPtr& part : x) {
            kernels::DoubleMinMax pm = kernels::MinMax(part->doubles(), part->validity(), part->length());
            if (!pm.any) continue;
            mm.min = mm.any ? std::min(mm.min, pm.min) : pm.min;
            mm.max = mm.any ? std::max(mm.max, pm.max) : pm.max;
            mm.any = true;
          }
          if (!mm.any || !(mm.max > mm.min)) {
            throw OpError("min_max: column '" + source + "' has " + (mm.any ? "no spread" : "no values"));
          }
          map = [lo = mm.min, hi = mm.max](const double* v, const uint64_t* valid, int64_t len, double* o) {
            kernels::MinMaxScale(v, valid, len, lo, hi, o);
          };
          p["min"] = mm.min;
          p["max"] = mm.max;
        } else {
          map = [](const double* v, const uint64_t* valid, int64_t len, double* o) { kernels::Log1p(v, valid, len, o); };
        }
        w.ForEach([&](int b) { x[b] = MapDoubles(*x[b], map); });
        w.Set(target, DataType::kFloat64, std::move(x));
        params[source] = p;
      }
    } else if (s.kind == "label_encode") {
      for (const auto& [source, target] : s.columns) {
        int idx = w.Index(source, s.kind, "the table");
        const Groupings::Entry& e = groupings.Of(w, idx);
        const Column& c = *e.whole;
        const columnar::Grouping& g = e.grouping;
        // Codes by first appearance over the valid values (nulls stay null).
        std::vector<int64_t> code(static_cast<size_t>(g.num_groups()), -1);
        nlohmann::json categories = nlohmann::json::array();
        int64_t next = 0;
        for (int64_t id = 0; id < g.num_groups(); ++id) {
          if (c.IsNull(g.first_row[id])) continue;
          code[id] = next++;
          categories.push_back(CategoryJson(c, g.first_row[id]));
        }
        std::vector<ColumnPtr> parts = w.Parts(idx);
        w.ForEach([&](int b) {
          const Column& in = *parts[b];
          const int64_t n = in.length();
          const uint32_t* ids = g.group_ids.data() + w.offset(b);
          columnar::Buffer values = columnar::Buffer::Uninitialized(static_cast<size_t>(n) * 8);
          for (int64_t r = 0; r < n; ++r) values.as<int64_t>()[r] = in.IsValid(r) ? code[ids[r]] : 0;
          parts[b] = std::make_shared<Column>(DataType::kInt64, n, std::move(values), in.validity_buffer().Clone());
        });
        w.Set(target, DataType::kInt64, std::move(parts));
        params[source] = {{"output", target}, {"categories", categories}};
      }
    } else if (s.kind == "one_hot") {
      int idx = w.Index(s.column, s.kind, "the table");
      const Groupings::Entry& e = groupings.Of(w, idx);
      const Column& c = *e.whole;
      const columnar::Grouping& g = e.grouping;
      const int64_t n = w.rows();
      std::vector<int64_t> counts(static_cast<size_t>(g.num_groups()), 0);
      for (int64_t r = 0; r < n; ++r) ++counts[g.group_ids[r]];
      std::vector<int64_t> ids;
      for (int64_t id = 0; id < g.num_groups(); ++id) {
        if (c.IsValid(g.first_row[id])) ids.push_back(id);
      }
      // The most frequent categories (ties: first appearance), then in
      // value order for the column layout.
      std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return counts[a] > counts[b]; });
      bool other = static_cast<int64_t>(ids.size()) > s.max_categories;
      if (other) ids.resize(static_cast<size_t>(s.max_categories));
      std::sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
        return columnar::ValueText(c, g.first_row[a]) < columnar::ValueText(c, g.first_row[b]);
      });
      std::vector<int32_t> slot(static_cast<size_t>(g.num_groups()), other ? static_cast<int32_t>(ids.size()) : -1);
      for (size_t k = 0; k < ids.size(); ++k) slot[ids[k]] = static_cast<int32_t>(k);
      for (int64_t id = 0; id < g.num_groups(); ++id) {
        if (c.IsNull(g.first_row[id])) slot[id] = -1;
      }
      const size_t outputs = ids.size() + (other ? 1 : 0);
      // out[k][b]: category k's column in batch b.
      std::vector<std::vector<ColumnPtr>> out(outputs, std::vector<ColumnPtr>(static_cast<size_t>(w.num_batches())));
      w.ForEach([&](int b) {
        const int64_t rows = w.batch(b).num_rows;
        const uint32_t* group = g.group_ids.data() + w.offset(b);
        std::vector<columnar::Buffer> bufs;
        for (size_t k = 0; k < outputs; ++k) bufs.emplace_back(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          int32_t k = slot[group[r]];
          if (k >= 0) bufs[k].data()[r] = 1;
        }
        for (size_t k = 0; k < outputs; ++k) {
          out[k][b] = std::make_shared<Column>(DataType::kBool, rows, std::move(bufs[k]), columnar::Buffer());
        }
      });
      // The new columns' names must be new: one that a column of the table
      // has, or that two outputs share (a category "__other__" beside the
      // overflow column), would silently replace a column.
      std::vector<std::string> names;
      std::set<std::string> taken;
      for (const columnar::Field& f : w.fields()) taken.insert(f.name);
      for (size_t k = 0; k < outputs; ++k) {
        names.push_back(s.prefix + "_" + (k < ids.size() ? columnar::ValueText(c, g.first_row[ids[k]]) : "__other__"));
        if (!taken.insert(names.back()).second) {
          throw OpError("one_hot: column '" + s.column + "': output column '" + names.back() +
                        "' already exists (rename that column, or give one_hot another prefix)");
        }
      }
      nlohmann::json categories = nlohmann::json::array();
      for (size_t k = 0; k < outputs; ++k) {
        if (k < ids.size()) categories.push_back(CategoryJson(c, g.first_row[ids[k]]));
        w.Set(names[k], DataType::kBool, std::move(out[k]));
      }
      params[s.column] = {{"prefix", s.prefix}, {"categories", categories}, {"other", other}};
    } else if (s.kind == "bucketize") {
      int idx = w.Index(s.column, s.kind, "the table");
      AsDoubles(std::make_shared<Column>(w.fields()[idx].type, 0), s.column, s.kind);  // the type check
      std::vector<ColumnPtr> parts = w.Parts(idx);
      w.ForEach([&](int b) {
        ColumnPtr x = AsDoubles(parts[b], s.column, s.kind);
        const int64_t n = x->length();
        columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(n) * 8);
        kernels::Bucketize(x->doubles(), x->validity(), n, s.bounds.data(), static_cast<int64_t>(s.bounds.size()),
                           out.as<int64_t>());
        parts[b] = std::make_shared<Column>(DataType::kInt64, n, std::move(out), x->validity_buffer().Clone());
      });
      w.Set(s.as, DataType::kInt64, std::move(parts));
      params[s.column] = {{"output", s.as}, {"bounds", s.bounds}};
    } else if (s.kind == "derive") {
      for (const auto& [name, text] : s.derive) {
        const columnar::Schema schema = w.schema();
        columnar::Expr e = columnar::Expr::Parse(text);
        DataType type;
        try {
          type = e.Check(schema);
        } catch (const columnar::FormatError& err) {
          throw OpError("derive " + name + " \"" + text + "\": " + err.what());
        }
        std::vector<ColumnPtr> parts(static_cast<size_t>(w.num_batches()));
        w.ForEach([&, &name = name, &text = text](int b) {
          try {
            parts[b] = e.Evaluate(schema, w.batch(b));
          } catch (const columnar::FormatError& err) {
            throw OpError("derive " + name + " \"" + text + "\": " + err.what());
          }
        });
        w.Set(name, type, std::move(parts));
        params["expressions"].push_back({name, text});  // in order: one may use another
      }
    } else if (s.kind == "datetime_parts") {
      int idx = w.Index(s.column, s.kind, "the table");
      if (w.fields()[idx].type != DataType::kTimestamp) {
        throw OpError("datetime_parts: column '" + s.column + "' is " +
                      std::string(columnar::TypeName(w.fields()[idx].type)) + ", not a timestamp");
      }
      const std::vector<ColumnPtr> source = w.Parts(idx);
      for (const std::string& part : s.parts) {
        std::vector<ColumnPtr> parts(source.size());
        w.ForEach([&](int b) { parts[b] = ml::DatetimePart(*source[b], part); });
        params[s.column]["parts"].push_back(part);
        w.Set(s.column + "_" + part, DataType::kInt64, std::move(parts));
      }
    } else if (s.kind == "select") {
      params["columns"] = s.names;
      std::vector<int> keep;
      for (const auto& name : s.names) keep.push_back(w.Index(name, "select", "the table"));
      w.Project(keep);
    } else if (s.kind == "drop") {
      params["columns"] = s.names;
      std::vector<int> dropped;
      for (const auto& name : s.names) dropped.push_back(w.Index(name, "drop", "the table"));
      std::vector<int> keep;
      for (int i = 0; i < static_cast<int>(w.fields().size()); ++i) {
        if (std::find(dropped.begin(), dropped.end(), i) == dropped.end()) keep.push_back(i);
      }
      w.Project(keep);
    } else if (s.kind == "rename") {
      for (const auto& [from, to] : s.columns) {
        int idx = w.Index(from, "rename", "the table");
        for (const auto& f : w.fields()) {
          if (f.name == to && to != from) throw OpError("rename: column '" + to + "' already exists");
        }
        w.Rename(idx, to);
        params["pairs"].push_back({from, to});  // in order
      }
    } else if (s.kind == "mask") {
      params = ApplyMask(s.masks, w)["params"];
    }
    return params;
  }

  // The moments of the parts' values together (Chan, Golub and LeVeque's
  // pairwise combination of each part's count, mean and squared deviations).
  static kernels::Moments MergedMoments(const std::vector<ColumnPtr>& parts) {
    kernels::Moments all;
    double m2 = 0;
    for (const ColumnPtr& part : parts) {
      kernels::Moments m = kernels::ComputeMoments(part->doubles(), part->validity(), part->length());
      if (m.count == 0) continue;
      const double part_m2 = m.count > 1 ? m.variance * static_cast<double>(m.count - 1) : 0;
      if (all.count == 0) {
        all = m;
        m2 = part_m2;
        continue;
      }
      const double n1 = static_cast<double>(all.count), n2 = static_cast<double>(m.count);
      const double delta = m.mean - all.mean;
      all.count += m.count;
      all.sum += m.sum;
      all.mean += delta * n2 / (n1 + n2);
      m2 += part_m2 + delta * delta * n1 * n2 / (n1 + n2);
    }
    if (all.count == 0) {
      all.mean = NAN;
      all.variance = NAN;
    } else {
      all.variance = all.count > 1 ? m2 / static_cast<double>(all.count - 1) : NAN;
    }
    return all;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeTransformOperator() { return std::make_unique<TransformOperator>(); }

}  // namespace pipeline::ops
