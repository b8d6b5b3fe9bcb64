// transform: feature-engineering steps in order. Fitted parameters (means,
// deviations, bounds, categories) are saved with the output (the Parquet
// file's "pipe.transform" metadata and a "transform" JSON artifact) so that
// the same transform applies to new rows without refitting.
#include <algorithm>
#include <cmath>
#include <map>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/expr.h"
#include "columnar/hash_group.h"
#include "kernels/kernels.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

const std::vector<std::string> kSteps = {"standardize", "min_max",  "log1p",  "label_encode",   "one_hot", "bucketize",
                                         "derive",      "datetime_parts", "select", "drop", "rename"};
const std::vector<std::string> kParts = {"hour", "dayofweek", "day", "month", "year"};

struct Step {
  std::string kind;
  const DocNode* node = nullptr;
  // Column steps: (source, target); target == source means in place.
  std::vector<std::pair<std::string, std::string>> columns;
  // one_hot, bucketize, datetime_parts.
  std::string column;
  int64_t max_categories = 64;
  std::string prefix;
  std::vector<double> bounds;
  std::string as;
  std::vector<std::string> parts;
  // derive: (name, expression).
  std::vector<std::pair<std::string, std::string>> derive;
  std::vector<std::string> names;  // select, drop
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
      ArgReader a(value, context + ": one_hot", diags, mark);
      if (auto c = a.String("column", true)) s.column = *c;
      if (auto m = a.Number("max_categories")) {
        if (*m < 1 || *m != std::floor(*m)) {
          a.Error(a.Get("max_categories"), "'max_categories' must be a whole number >= 1");
        } else {
          s.max_categories = static_cast<int64_t>(*m);
        }
      }
      s.prefix = a.String("prefix").value_or(s.column);
      a.RejectUnknown({"column", "max_categories", "prefix"});
    } else if (s.kind == "bucketize") {
      ArgReader a(value, context + ": bucketize", diags, mark);
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
      ArgReader a(value, context + ": datetime_parts", diags, mark);
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
    }
    steps.push_back(std::move(s));
  });
  if (!ok) return std::nullopt;
  return steps;
}

struct Work {
  std::vector<columnar::Field> fields;
  std::vector<ColumnPtr> columns;
  int64_t rows = 0;
  // Keyed by column; each entry holds its column so the key stays unique.
  std::map<const Column*, std::pair<ColumnPtr, columnar::Grouping>> groupings;

  int Index(const std::string& name, const std::string& step) const {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == name) return static_cast<int>(i);
    }
    std::vector<std::string> names;
    for (const auto& f : fields) names.push_back(f.name);
    ThrowMissingColumn(step, name, names, "the table");
  }

  // The grouping of a column's values, computed once per column (label_encode
  // and one_hot of the same column share it).
  const columnar::Grouping& GroupsOf(const ColumnPtr& column) {
    auto it = groupings.find(column.get());
    if (it == groupings.end()) {
      it = groupings.emplace(column.get(), std::make_pair(column, columnar::GroupRows({column}))).first;
    }
    return it->second.second;
  }

  // Replaces column `name`, or appends it.
  void Set(const std::string& name, DataType type, ColumnPtr column) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == name) {
        fields[i].type = type;
        columns[i] = std::move(column);
        return;
      }
    }
    fields.push_back({name, type});
    columns.push_back(std::move(column));
  }
};

// The column as float64 values (ints converted), validity kept.
ColumnPtr AsDoubles(const ColumnPtr& c, const std::string& name, const std::string& step) {
  if (c->type() == DataType::kFloat64) return c;
  if (c->type() != DataType::kInt64) {
    throw OpError(step + ": column '" + name + "' is " + std::string(columnar::TypeName(c->type())) + ", not a number");
  }
  columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(c->length()) * 8);
  kernels::CastInt64ToDouble(c->ints(), c->validity(), c->length(), out.as<double>());
  return std::make_shared<Column>(DataType::kFloat64, c->length(), std::move(out), c->validity_buffer().Clone());
}

template <class Kernel>
ColumnPtr MapDoubles(const Column& c, Kernel&& kernel) {
  columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(c.length()) * 8);
  kernel(c.doubles(), c.validity(), c.length(), out.as<double>());
  return std::make_shared<Column>(DataType::kFloat64, c.length(), std::move(out), c.validity_buffer().Clone());
}

nlohmann::json CategoryJson(const Column& c, int64_t row) {
  switch (c.type()) {
    case DataType::kInt64: return c.ints()[row];
    case DataType::kFloat64: return c.doubles()[row];
    case DataType::kBool: return c.bools()[row] != 0;
    default: return columnar::ValueText(c, row);
  }
}

class TransformOperator final : public Operator {
 public:
  std::string_view name() const override { return "transform"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseTransformArgs(*task.with, "task '" + task.id + "': transform", diags, task.mark);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto steps = ParseTransformArgs(ctx.args(), "transform", diags, ctx.task().mark);
    if (!steps) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    Work w;
    w.fields = input->schema().fields();
    w.rows = input->num_rows();
    w.columns = WholeColumns(*input);
    nlohmann::json fitted = nlohmann::json::array();
    try {
      for (const Step& s : *steps) {
        if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
        fitted.push_back({{"step", s.kind}, {"params", Apply(s, w)}});
      }
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    } catch (const columnar::FormatError& e) {
      return TaskResult::Failure(e.what());
    }
    auto out = std::make_shared<columnar::Table>(columnar::Schema(w.fields));
    for (const auto& [k, v] : input->metadata()) out->SetMetadata(k, v);
    // The chain so far: earlier transforms' steps first.
    nlohmann::json chain = nlohmann::json::array();
    if (auto it = input->metadata().find("pipe.transform"); it != input->metadata().end()) {
      chain = nlohmann::json::parse(it->second, nullptr, false);
      if (!chain.is_array()) chain = nlohmann::json::array();
    }
    for (auto& f : fitted) chain.push_back(f);
    out->SetMetadata("pipe.transform", chain.dump());
    if (w.rows > 0) out->AddBatch(columnar::Batch{w.rows, w.columns});

    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = input->num_rows();
    result.metrics.rows_out = w.rows;
    result.metrics.summary = std::to_string(steps->size()) + " steps, " + std::to_string(w.fields.size()) + " columns";
    PersistJson(ctx, nlohmann::json{{"task", ctx.task().id}, {"steps", chain}}.dump(2), "transform");
    PublishOutput(ctx, out, result.metrics);
    return result;
  }

 private:
  static nlohmann::json Apply(const Step& s, Work& w) {
    const int64_t n = w.rows;
    nlohmann::json params = nlohmann::json::object();
    if (s.kind == "standardize" || s.kind == "min_max" || s.kind == "log1p") {
      for (const auto& [source, target] : s.columns) {
        ColumnPtr x = AsDoubles(w.columns[w.Index(source, s.kind)], source, s.kind);
        nlohmann::json p = {{"output", target}};
        ColumnPtr out;
        if (s.kind == "standardize") {
          kernels::Moments m = kernels::ComputeMoments(x->doubles(), x->validity(), n);
          double sd = std::sqrt(m.variance);
          if (!(sd > 0)) {
            throw OpError("standardize: column '" + source + "' has " +
                            (m.count < 2 ? std::string("fewer than 2 values") : std::string("no spread (all values equal)")));
          }
          out = MapDoubles(*x, [&](const double* v, const uint64_t* valid, int64_t len, double* o) {
            kernels::Standardize(v, valid, len, m.mean, sd, o);
          });
          p["mean"] = m.mean;
          p["std"] = sd;
        } else if (s.kind == "min_max") {
          kernels::DoubleMinMax mm = kernels::MinMax(x->doubles(), x->validity(), n);
          if (!mm.any || !(mm.max > mm.min)) {
            throw OpError("min_max: column '" + source + "' has " + (mm.any ? "no spread" : "no values"));
          }
          out = MapDoubles(*x, [&](const double* v, const uint64_t* valid, int64_t len, double* o) {
            kernels::MinMaxScale(v, valid, len, mm.min, mm.max, o);
          });
          p["min"] = mm.min;
          p["max"] = mm.max;
        } else {
          out = MapDoubles(*x, [](const double* v, const uint64_t* valid, int64_t len, double* o) {
            kernels::Log1p(v, valid, len, o);
          });
        }
        w.Set(target, DataType::kFloat64, out);
        params[source] = p;
      }
    } else if (s.kind == "label_encode") {
      for (const auto& [source, target] : s.columns) {
        ColumnPtr c = w.columns[w.Index(source, s.kind)];
        const columnar::Grouping& g = w.GroupsOf(c);
        // Codes by first appearance over the valid values (nulls stay null).
        std::vector<int64_t> code(static_cast<size_t>(g.num_groups()), -1);
        nlohmann::json categories = nlohmann::json::array();
        int64_t next = 0;
        for (int64_t id = 0; id < g.num_groups(); ++id) {
          if (c->IsNull(g.first_row[id])) continue;
          code[id] = next++;
          categories.push_back(CategoryJson(*c, g.first_row[id]));
        }
        columnar::Buffer values = columnar::Buffer::Uninitialized(static_cast<size_t>(n) * 8);
        for (int64_t r = 0; r < n; ++r) values.as<int64_t>()[r] = c->IsValid(r) ? code[g.group_ids[r]] : 0;
        w.Set(target, DataType::kInt64,
              std::make_shared<Column>(DataType::kInt64, n, std::move(values), c->validity_buffer().Clone()));
        params[source] = {{"output", target}, {"categories", categories}};
      }
    } else if (s.kind == "one_hot") {
      ColumnPtr c = w.columns[w.Index(s.column, s.kind)];
      const columnar::Grouping& g = w.GroupsOf(c);
      std::vector<int64_t> counts(static_cast<size_t>(g.num_groups()), 0);
      for (int64_t r = 0; r < n; ++r) ++counts[g.group_ids[r]];
      std::vector<int64_t> ids;
      for (int64_t id = 0; id < g.num_groups(); ++id) {
        if (c->IsValid(g.first_row[id])) ids.push_back(id);
      }
      // The most frequent categories (ties: first appearance), then in
      // value order for the column layout.
      std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return counts[a] > counts[b]; });
      bool other = static_cast<int64_t>(ids.size()) > s.max_categories;
      if (other) ids.resize(static_cast<size_t>(s.max_categories));
      std::sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
        return columnar::ValueText(*c, g.first_row[a]) < columnar::ValueText(*c, g.first_row[b]);
      });
      std::vector<int32_t> slot(static_cast<size_t>(g.num_groups()), other ? static_cast<int32_t>(ids.size()) : -1);
      for (size_t k = 0; k < ids.size(); ++k) slot[ids[k]] = static_cast<int32_t>(k);
      for (int64_t id = 0; id < g.num_groups(); ++id) {
        if (c->IsNull(g.first_row[id])) slot[id] = -1;
      }
      size_t outputs = ids.size() + (other ? 1 : 0);
      std::vector<columnar::Buffer> bufs;
      for (size_t k = 0; k < outputs; ++k) bufs.emplace_back(static_cast<size_t>(n));
      std::vector<uint8_t*> out(outputs);
      for (size_t k = 0; k < outputs; ++k) out[k] = bufs[k].data();
      for (int64_t r = 0; r < n; ++r) {
        int32_t k = slot[g.group_ids[r]];
        if (k >= 0) out[k][r] = 1;
      }
      nlohmann::json categories = nlohmann::json::array();
      for (size_t k = 0; k < outputs; ++k) {
        std::string name = s.prefix + "_" + (k < ids.size() ? columnar::ValueText(*c, g.first_row[ids[k]]) : "__other__");
        if (k < ids.size()) categories.push_back(CategoryJson(*c, g.first_row[ids[k]]));
        w.Set(name, DataType::kBool, std::make_shared<Column>(DataType::kBool, n, std::move(bufs[k]), columnar::Buffer()));
      }
      params[s.column] = {{"prefix", s.prefix}, {"categories", categories}, {"other", other}};
    } else if (s.kind == "bucketize") {
      ColumnPtr x = AsDoubles(w.columns[w.Index(s.column, s.kind)], s.column, s.kind);
      columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(n) * 8);
      kernels::Bucketize(x->doubles(), x->validity(), n, s.bounds.data(), static_cast<int64_t>(s.bounds.size()),
                         out.as<int64_t>());
      w.Set(s.as, DataType::kInt64,
            std::make_shared<Column>(DataType::kInt64, n, std::move(out), x->validity_buffer().Clone()));
      params[s.column] = {{"output", s.as}, {"bounds", s.bounds}};
    } else if (s.kind == "derive") {
      for (const auto& [name, text] : s.derive) {
        columnar::Schema schema(w.fields);
        columnar::Expr e = columnar::Expr::Parse(text);
        ColumnPtr out;
        try {
          out = e.Evaluate(schema, columnar::Batch{n, w.columns});
        } catch (const columnar::FormatError& err) {
          throw OpError("derive " + name + " \"" + text + "\": " + err.what());
        }
        w.Set(name, out->type(), out);
        params[name] = text;
      }
    } else if (s.kind == "datetime_parts") {
      ColumnPtr c = w.columns[w.Index(s.column, s.kind)];
      if (c->type() != DataType::kTimestamp) {
        throw OpError("datetime_parts: column '" + s.column + "' is " + std::string(columnar::TypeName(c->type())) +
                        ", not a timestamp");
      }
      for (const std::string& part : s.parts) {
        columnar::Buffer out(static_cast<size_t>(n) * 8);
        int64_t* o = out.as<int64_t>();
        for (int64_t r = 0; r < n; ++r) {
          if (c->IsNull(r)) continue;
          int64_t us = c->ints()[r];
          int64_t days = us >= 0 ? us / 86400'000000 : -((-us + 86400'000000 - 1) / 86400'000000);
          int64_t in_day = us - days * 86400'000000;
          if (part == "hour") {
            o[r] = in_day / 3600'000000;
          } else if (part == "dayofweek") {
            o[r] = ((days % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday; Monday = 0
          } else {
            date::year_month_day ymd{date::sys_days{date::days{days}}};
            o[r] = part == "day" ? static_cast<unsigned>(ymd.day())
                   : part == "month" ? static_cast<unsigned>(ymd.month())
                                     : static_cast<int>(ymd.year());
          }
        }
        std::string name = s.column + "_" + part;
        params[s.column]["parts"].push_back(part);
        w.Set(name, DataType::kInt64,
              std::make_shared<Column>(DataType::kInt64, n, std::move(out), c->validity_buffer().Clone()));
      }
    } else if (s.kind == "select") {
      params["columns"] = s.names;
      Work next;
      next.rows = n;
      for (const auto& name : s.names) {
        int idx = w.Index(name, "select");
        next.fields.push_back(w.fields[idx]);
        next.columns.push_back(w.columns[idx]);
      }
      w = std::move(next);
    } else if (s.kind == "drop") {
      params["columns"] = s.names;
      for (const auto& name : s.names) {
        int idx = w.Index(name, "drop");
        w.fields.erase(w.fields.begin() + idx);
        w.columns.erase(w.columns.begin() + idx);
      }
    } else if (s.kind == "rename") {
      for (const auto& [from, to] : s.columns) {
        int idx = w.Index(from, "rename");
        for (const auto& f : w.fields) {
          if (f.name == to && to != from) throw OpError("rename: column '" + to + "' already exists");
        }
        w.fields[idx].name = to;
        params[from] = to;
      }
    }
    return params;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeTransformOperator() { return std::make_unique<TransformOperator>(); }

}  // namespace pipeline::ops
