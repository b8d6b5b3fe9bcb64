#include "ml/chain.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "columnar/compute.h"
#include "columnar/expr.h"
#include "columnar/parallel.h"
#include "columnar/value_parse.h"
#include "kernels/kernels.h"
#include "ml/mask.h"

namespace pipeline::ml {

namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;
using nlohmann::json;

const std::vector<std::string> kKinds = {"source", "fill_nulls", "clip",     "cast",   "standardize",    "min_max",
                                         "log1p",  "label_encode", "one_hot", "bucketize", "derive", "datetime_parts",
                                         "select", "drop",       "rename",   "mask"};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// The (name, value) pairs of an ordered list [[a, b], ...] or, as older
// chains recorded them, an object {a: b} (in key order).
std::vector<std::pair<std::string, std::string>> Pairs(const json& params, const char* key, const std::string& step) {
  std::vector<std::pair<std::string, std::string>> out;
  if (params.contains(key) && params[key].is_array()) {
    for (const json& p : params[key]) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string()) {
        throw ModelError(step + ": malformed fitted params");
      }
      out.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
    }
    return out;
  }
  for (const auto& [k, v] : params.items()) {
    if (!v.is_string()) throw ModelError(step + ": malformed fitted params");
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

std::vector<std::string> Names(const json& params, const std::string& step) {
  if (!params.contains("columns") || !params["columns"].is_array()) throw ModelError(step + ": malformed fitted params");
  std::vector<std::string> out;
  for (const json& n : params["columns"]) {
    if (!n.is_string()) throw ModelError(step + ": malformed fitted params");
    out.push_back(n.get<std::string>());
  }
  return out;
}

double Number(const json& params, const char* key, const std::string& step) {
  if (!params.contains(key) || !params[key].is_number()) throw ModelError(step + ": fitted params lack '" + key + "'");
  return params[key].get<double>();
}

// A mask step's rules: {"columns": [[NAME, RULE], ...]}.
std::vector<std::pair<std::string, MaskRule>> MaskRules(const json& params) {
  if (!params.contains("columns") || !params["columns"].is_array()) throw ModelError("mask: malformed fitted params");
  std::vector<std::pair<std::string, MaskRule>> out;
  for (const json& p : params["columns"]) {
    std::string error;
    std::optional<MaskRule> rule;
    if (p.is_array() && p.size() == 2 && p[0].is_string()) rule = MaskFromJson(p[1], &error);
    if (!rule) throw ModelError("mask: malformed fitted params");
    out.emplace_back(p[0].get<std::string>(), *rule);
  }
  return out;
}

// The columns of one batch while the steps run.
struct Work {
  std::vector<columnar::Field> fields;
  std::vector<ColumnPtr> columns;
  int64_t rows = 0;
  int64_t first_row = 0;  // of the batch in its table, for messages

  // The column's position, or -1. A step skips what the rows lack: a label
  // or an id the training table had is not in a scoring request, and what
  // the features need was checked before (TransformChain::Inputs).
  int Find(const std::string& name) const {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
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
  void Keep(const std::vector<int>& keep) {
    std::vector<columnar::Field> f;
    std::vector<ColumnPtr> c;
    for (int i : keep) {
      f.push_back(fields[i]);
      c.push_back(columns[i]);
    }
    fields = std::move(f);
    columns = std::move(c);
  }
};

// A key that tells the values of a column of `type` apart: the value's bytes
// for numbers and bools, the text for strings and timestamps.
std::string Key(const Column& c, int64_t row) {
  switch (c.type()) {
    case DataType::kInt64:
      return std::string(reinterpret_cast<const char*>(c.ints() + row), 8);
    case DataType::kFloat64: {
      double v = c.doubles()[row];
      if (v == 0) v = 0;  // -0.0 is 0.0
      return std::string(reinterpret_cast<const char*>(&v), 8);
    }
    case DataType::kBool:
      return c.bools()[row] ? "\1" : std::string(1, '\0');
    default:
      return columnar::ValueText(c, row);
  }
}

// The entries of a clip or cast step's {"columns": [[NAME, ...], ...]}, each
// of `size` values.
const json& Entries(const json& params, size_t size, const std::string& step) {
  if (!params.contains("columns") || !params["columns"].is_array()) throw ModelError(step + ": malformed fitted params");
  for (const json& e : params["columns"]) {
    if (!e.is_array() || e.size() != size || !e[0].is_string()) throw ModelError(step + ": malformed fitted params");
  }
  return params["columns"];
}

std::optional<columnar::NumberBound> Bound(const json& v, const std::string& step) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) throw ModelError(step + ": malformed fitted params");
  // An integer bound is exact for int64 columns (JSON keeps all 64 bits).
  const bool exact = v.is_number_integer() && (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX));
  return columnar::NumberBound(v.get<double>(), exact ? std::optional(v.get<int64_t>()) : std::nullopt);
}

// Category value -> position, for a column of the batch's type.
std::unordered_map<std::string, int64_t> CategoryIndex(const json& categories, DataType type, const std::string& step,
                                                       std::vector<ColumnPtr>* values = nullptr) {
  std::unordered_map<std::string, int64_t> index;
  if (!categories.is_array()) throw ModelError(step + ": malformed fitted params");
  for (size_t k = 0; k < categories.size(); ++k) {
    ColumnPtr v = ValueColumn(categories[k], type, step + " category");
    index.emplace(Key(*v, 0), static_cast<int64_t>(k));
    if (values) values->push_back(std::move(v));
  }
  return index;
}

void ApplyStep(const std::string& kind, const json& params, Work& w) {
  const std::string& step = kind;
  if (kind == "source") return;
  if (kind == "fill_nulls") {
    if (!params.contains("columns") || !params["columns"].is_object()) throw ModelError("fill_nulls: malformed fitted params");
    for (const auto& [name, value] : params["columns"].items()) {
      int idx = w.Find(name);
      if (idx < 0 || !w.columns[idx]->has_nulls()) continue;
      const Column& c = *w.columns[idx];
      ColumnPtr fill = ValueColumn(value, c.type(), "fill_nulls value of " + Quote(name));
      w.columns[idx] = columnar::FillNulls(c, *fill);
    }
  } else if (kind == "clip") {
    for (const json& e : Entries(params, 3, step)) {
      const std::string name = e[0].get<std::string>();
      const std::optional<columnar::NumberBound> lo = Bound(e[1], step), hi = Bound(e[2], step);
      int idx = w.Find(name);
      if (idx < 0) continue;
      try {
        w.columns[idx] = columnar::Clip(*w.columns[idx], lo, hi);
      } catch (const columnar::FormatError& err) {
        throw ModelError("clip: column " + Quote(name) + " is " + err.what());
      }
    }
  } else if (kind == "cast") {
    for (const json& e : Entries(params, 2, step)) {
      const std::string name = e[0].get<std::string>();
      auto type = e[1].is_string() ? columnar::ParseTypeName(e[1].get<std::string>()) : std::nullopt;
      if (!type) throw ModelError("cast: malformed fitted params");
      int idx = w.Find(name);
      if (idx < 0) continue;
      int64_t bad = -1;
      std::string text;
      ColumnPtr cast = columnar::Cast(*w.columns[idx], *type, &bad, &text);
      if (!cast) {
        const int64_t row = w.first_row + bad;
        throw RowError(row, name, "row " + std::to_string(row) + ": column " + Quote(name) + ": '" + text +
                                      "' is not a " + std::string(columnar::TypeName(*type)) +
                                      " (the training rows were cast to it)");
      }
      w.Set(name, *type, std::move(cast));
    }
  } else if (kind == "standardize" || kind == "min_max" || kind == "log1p") {
    for (const auto& [source, p] : params.items()) {
      if (!p.is_object() || !p.contains("output") || !p["output"].is_string()) throw ModelError(step + ": malformed fitted params");
      int idx = w.Find(source);
      if (idx < 0) continue;
      ColumnPtr x = AsDoubles(w.columns[idx], source, step);
      ColumnPtr out;
      if (kind == "standardize") {
        const double mean = Number(p, "mean", step), sd = Number(p, "std", step);
        out = MapDoubles(*x, [&](const double* v, const uint64_t* valid, int64_t n, double* o) {
          kernels::Standardize(v, valid, n, mean, sd, o);
        });
      } else if (kind == "min_max") {
        const double lo = Number(p, "min", step), hi = Number(p, "max", step);
        out = MapDoubles(*x, [&](const double* v, const uint64_t* valid, int64_t n, double* o) {
          kernels::MinMaxScale(v, valid, n, lo, hi, o);
        });
      } else {
        out = MapDoubles(*x, [](const double* v, const uint64_t* valid, int64_t n, double* o) { kernels::Log1p(v, valid, n, o); });
      }
      w.Set(p["output"].get<std::string>(), DataType::kFloat64, std::move(out));
    }
  } else if (kind == "label_encode") {
    for (const auto& [source, p] : params.items()) {
      if (!p.is_object() || !p.contains("output") || !p["output"].is_string()) throw ModelError(step + ": malformed fitted params");
      int idx = w.Find(source);
      if (idx < 0) continue;
      const Column& c = *w.columns[idx];
      auto index = CategoryIndex(p["categories"], c.type(), step);
      const int64_t n = c.length();
      columnar::Buffer values(static_cast<size_t>(n) * 8);
      auto out = std::make_shared<Column>(DataType::kInt64, n, std::move(values), c.validity_buffer().Clone());
      int64_t* o = out->mutable_values().as<int64_t>();
      for (int64_t r = 0; r < n; ++r) {
        if (c.IsNull(r)) continue;
        auto it = index.find(Key(c, r));
        if (it != index.end()) {
          o[r] = it->second;
        } else {
          out->SetNull(r);  // a category the training rows did not have
        }
      }
      w.Set(p["output"].get<std::string>(), DataType::kInt64, std::move(out));
    }
  } else if (kind == "one_hot") {
    for (const auto& [column, p] : params.items()) {
      if (!p.is_object() || !p.contains("prefix") || !p["prefix"].is_string()) throw ModelError(step + ": malformed fitted params");
      int idx = w.Find(column);
      if (idx < 0) continue;
      const Column& c = *w.columns[idx];
      std::vector<ColumnPtr> values;
      auto index = CategoryIndex(p["categories"], c.type(), step, &values);
      const bool other = p.value("other", false);
      const size_t outputs = values.size() + (other ? 1 : 0);
      const int64_t n = c.length();
      std::vector<columnar::Buffer> bufs;
      for (size_t k = 0; k < outputs; ++k) bufs.emplace_back(static_cast<size_t>(n));
      for (int64_t r = 0; r < n; ++r) {
        if (c.IsNull(r)) continue;
        auto it = index.find(Key(c, r));
        if (it != index.end()) {
          bufs[size_t(it->second)].data()[r] = 1;
        } else if (other) {
          bufs[values.size()].data()[r] = 1;
        }
      }
      const std::string prefix = p["prefix"].get<std::string>();
      for (size_t k = 0; k < outputs; ++k) {
        std::string name = prefix + "_" + (k < values.size() ? columnar::ValueText(*values[k], 0) : "__other__");
        w.Set(name, DataType::kBool, std::make_shared<Column>(DataType::kBool, n, std::move(bufs[k]), columnar::Buffer()));
      }
    }
  } else if (kind == "bucketize") {
    for (const auto& [column, p] : params.items()) {
      if (!p.is_object() || !p.contains("output") || !p["output"].is_string() || !p.contains("bounds") ||
          !p["bounds"].is_array()) {
        throw ModelError(step + ": malformed fitted params");
      }
      std::vector<double> bounds;
      for (const json& b : p["bounds"]) bounds.push_back(b.get<double>());
      int idx = w.Find(column);
      if (idx < 0) continue;
      ColumnPtr x = AsDoubles(w.columns[idx], column, step);
      const int64_t n = x->length();
      columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(n) * 8);
      kernels::Bucketize(x->doubles(), x->validity(), n, bounds.data(), static_cast<int64_t>(bounds.size()), out.as<int64_t>());
      w.Set(p["output"].get<std::string>(), DataType::kInt64,
            std::make_shared<Column>(DataType::kInt64, n, std::move(out), x->validity_buffer().Clone()));
    }
  } else if (kind == "derive") {
    for (const auto& [name, text] : Pairs(params, "expressions", step)) {
      try {
        columnar::Expr e = columnar::Expr::Parse(text);
        bool present = true;
        for (const std::string& c : e.Columns()) present = present && w.Find(c) >= 0;
        if (!present) continue;
        columnar::Schema schema(w.fields);
        DataType type = e.Check(schema);
        columnar::Batch batch{w.rows, w.columns};
        w.Set(name, type, e.Evaluate(schema, batch));
      } catch (const columnar::FormatError& err) {
        throw ModelError("derive " + name + " \"" + text + "\": " + err.what());
      }
    }
  } else if (kind == "datetime_parts") {
    for (const auto& [column, p] : params.items()) {
      if (!p.is_object() || !p.contains("parts") || !p["parts"].is_array()) throw ModelError(step + ": malformed fitted params");
      int idx = w.Find(column);
      if (idx < 0) continue;
      if (w.fields[idx].type != DataType::kTimestamp) {
        throw ModelError(step + ": column " + Quote(column) + " is " + std::string(columnar::TypeName(w.fields[idx].type)) +
                         ", not a timestamp");
      }
      ColumnPtr source = w.columns[idx];
      for (const json& part : p["parts"]) w.Set(column + "_" + part.get<std::string>(), DataType::kInt64, DatetimePart(*source, part.get<std::string>()));
    }
  } else if (kind == "select") {
    std::vector<int> keep;
    for (const std::string& name : Names(params, step)) {
      if (int idx = w.Find(name); idx >= 0) keep.push_back(idx);
    }
    w.Keep(keep);
  } else if (kind == "drop") {
    std::vector<int> dropped;
    for (const std::string& name : Names(params, step)) dropped.push_back(w.Find(name));
    std::vector<int> keep;
    for (int i = 0; i < static_cast<int>(w.fields.size()); ++i) {
      if (std::find(dropped.begin(), dropped.end(), i) == dropped.end()) keep.push_back(i);
    }
    w.Keep(keep);
  } else if (kind == "rename") {
    for (const auto& [from, to] : Pairs(params, "pairs", step)) {
      if (int idx = w.Find(from); idx >= 0) w.fields[idx].name = to;
    }
  } else if (kind == "mask") {
    for (const auto& [name, rule] : MaskRules(params)) {
      int idx = w.Find(name);
      if (idx < 0) continue;
      if (rule.kind == MaskRule::Kind::kHash) {
        // The key stays with the pipeline: a hashed column is not remade
        // from request rows (no model can use it), and a raw one is dropped.
        std::vector<int> keep;
        for (int i = 0; i < static_cast<int>(w.fields.size()); ++i) {
          if (i != idx) keep.push_back(i);
        }
        w.Keep(keep);
        continue;
      }
      w.columns[idx] = Mask(*w.columns[idx], rule, "", name);
      w.fields[idx].type = w.columns[idx]->type();
    }
  }
}

// How a step makes columns from others, for Inputs(): `outputs` (or, for
// one_hot, every column named `prefix`_...) come from `sources`, which have
// the type `type` when nothing better is known.
struct Edge {
  std::vector<std::string> outputs;
  std::string prefix;
  std::vector<std::string> sources;
  DataType type = DataType::kFloat64;
};

std::vector<Edge> Edges(const std::string& kind, const json& params) {
  std::vector<Edge> out;
  if (kind == "fill_nulls" && params.contains("columns") && params["columns"].is_object()) {
    for (const auto& [name, v] : params["columns"].items()) {
      DataType type = v.is_boolean() ? DataType::kBool
                      : v.is_number_integer() ? DataType::kInt64
                      : v.is_number() ? DataType::kFloat64 : DataType::kString;
      out.push_back({{name}, "", {name}, type});
    }
  } else if (kind == "clip" || kind == "cast") {
    // The same column; its type before is the source's (a cast's is unknown).
    for (const json& e : Entries(params, kind == "clip" ? 3 : 2, kind)) {
      const std::string name = e[0].get<std::string>();
      out.push_back({{name}, "", {name}, kind == "clip" ? DataType::kFloat64 : DataType::kString});
    }
  } else if (kind == "standardize" || kind == "min_max" || kind == "log1p" || kind == "label_encode" ||
             kind == "bucketize") {
    for (const auto& [source, p] : params.items()) {
      if (!p.is_object() || !p.contains("output") || !p["output"].is_string()) continue;
      out.push_back({{p["output"].get<std::string>()}, "", {source},
                     kind == "label_encode" ? DataType::kString : DataType::kFloat64});
    }
  } else if (kind == "one_hot") {
    for (const auto& [column, p] : params.items()) {
      if (p.is_object() && p.contains("prefix") && p["prefix"].is_string()) {
        out.push_back({{}, p["prefix"].get<std::string>() + "_", {column}, DataType::kString});
      }
    }
  } else if (kind == "datetime_parts") {
    for (const auto& [column, p] : params.items()) {
      Edge e{{}, "", {column}, DataType::kTimestamp};
      if (p.is_object() && p.contains("parts")) {
        for (const json& part : p["parts"]) e.outputs.push_back(column + "_" + part.get<std::string>());
      }
      out.push_back(std::move(e));
    }
  } else if (kind == "derive") {
    for (const auto& [name, text] : Pairs(params, "expressions", kind)) {
      Edge e{{name}, "", {}, DataType::kFloat64};
      try {
        e.sources = columnar::Expr::Parse(text).Columns();
      } catch (const columnar::FormatError&) {
      }
      out.push_back(std::move(e));
    }
  } else if (kind == "rename") {
    for (const auto& [from, to] : Pairs(params, "pairs", kind)) out.push_back({{to}, "", {from}, DataType::kString});
  } else if (kind == "mask") {
    for (const auto& [name, rule] : MaskRules(params)) {
      out.push_back({{name}, "", {name}, rule.kind == MaskRule::Kind::kGeneralize ? DataType::kTimestamp : DataType::kString});
    }
  }
  return out;
}

}  // namespace

ColumnPtr AsDoubles(const ColumnPtr& c, const std::string& name, const std::string& step) {
  if (c->type() == DataType::kFloat64) return c;
  if (c->type() != DataType::kInt64) {
    throw ModelError(step + ": column " + Quote(name) + " is " + std::string(columnar::TypeName(c->type())) +
                     ", not a number");
  }
  columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(c->length()) * 8);
  kernels::CastInt64ToDouble(c->ints(), c->validity(), c->length(), out.as<double>());
  return std::make_shared<Column>(DataType::kFloat64, c->length(), std::move(out), c->validity_buffer().Clone());
}

ColumnPtr MapDoubles(const Column& c, const DoubleKernel& kernel) {
  columnar::Buffer out = columnar::Buffer::Uninitialized(static_cast<size_t>(c.length()) * 8);
  kernel(c.doubles(), c.validity(), c.length(), out.as<double>());
  return std::make_shared<Column>(DataType::kFloat64, c.length(), std::move(out), c.validity_buffer().Clone());
}

TransformChain::TransformChain(const json& steps) {
  if (!steps.is_array()) throw ModelError("a transform chain is a list of steps");
  for (const json& s : steps) {
    if (!s.is_object() || !s.contains("step") || !s["step"].is_string()) throw ModelError("a transform chain step has no 'step'");
    std::string kind = s["step"].get<std::string>();
    if (std::find(kKinds.begin(), kKinds.end(), kind) == kKinds.end()) {
      throw ModelError("transform chain step '" + kind + "' cannot be replayed by this version");
    }
    json params = s.contains("params") ? s["params"] : json::object();
    if (!params.is_object()) throw ModelError(kind + ": malformed fitted params");
    if (kind == "mask") MaskRules(params);  // its rules checked now, not on a request
    if (kind == "clip" || kind == "cast") Entries(params, kind == "clip" ? 3 : 2, kind);  // the same
    if (kind == "source" && params.contains("columns") && params["columns"].is_array()) {
      for (const json& c : params["columns"]) {
        auto type = columnar::ParseTypeName(c.value("type", ""));
        if (!c.contains("name") || !c["name"].is_string() || !type) throw ModelError("source: malformed column");
        source_.push_back({c["name"].get<std::string>(), *type});
      }
    }
    steps_.push_back({std::move(kind), std::move(params)});
  }
}

std::vector<columnar::Field> TransformChain::Inputs(const std::vector<columnar::Field>& features) const {
  // Backwards from the features: a column a step makes is needed through
  // the columns it comes from.
  std::map<std::string, DataType> needed;
  for (const auto& f : features) needed[f.name] = f.type;
  for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
    const std::vector<Edge> edges = Edges(step->kind, step->params);
    for (auto e = edges.rbegin(); e != edges.rend(); ++e) {  // a derive may use the one before
      bool used = false;
      for (auto it = needed.begin(); it != needed.end();) {
        const bool made = std::find(e->outputs.begin(), e->outputs.end(), it->first) != e->outputs.end() ||
                          (!e->prefix.empty() && it->first.starts_with(e->prefix));
        used = used || made;
        it = made ? needed.erase(it) : std::next(it);
      }
      if (!used) continue;
      for (const std::string& source : e->sources) needed.emplace(source, e->type);
    }
  }
  // In the order the rows had them before the chain, then by name.
  std::vector<columnar::Field> out;
  for (const auto& f : source_) {
    if (auto it = needed.find(f.name); it != needed.end()) {
      out.push_back(f);
      needed.erase(it);
    }
  }
  for (const auto& [name, type] : needed) out.push_back({name, type});
  return out;
}

columnar::Batch TransformChain::ApplyBatch(const columnar::Schema& schema, const columnar::Batch& batch,
                                           columnar::Schema* out, int64_t first_row) const {
  Work w{schema.fields(), batch.columns, batch.num_rows, first_row};
  for (const Step& s : steps_) ApplyStep(s.kind, s.params, w);
  if (out) *out = columnar::Schema(w.fields);
  return {w.rows, std::move(w.columns)};
}

columnar::TablePtr TransformChain::Apply(const columnar::Table& table) const {
  const int n = table.num_batches();
  std::vector<columnar::Batch> batches(static_cast<size_t>(n));
  std::vector<columnar::Schema> schemas(static_cast<size_t>(n));
  if (n > 0) {
    std::vector<int64_t> first_rows(static_cast<size_t>(n), 0);
    for (int b = 1; b < n; ++b) first_rows[size_t(b)] = first_rows[size_t(b - 1)] + table.batch(b - 1).num_rows;
    columnar::ParallelFor(static_cast<size_t>(n), columnar::DefaultThreads(), [&](size_t b) {
      batches[b] = ApplyBatch(table.schema(), table.batch(static_cast<int>(b)), &schemas[b], first_rows[b]);
    });
  }
  columnar::Schema schema;
  if (n > 0) {
    schema = schemas[0];
  } else {
    // No batch: the steps on no rows give the output's columns.
    columnar::Batch empty{0, {}};
    for (const auto& f : table.schema().fields()) empty.columns.push_back(std::make_shared<Column>(f.type, 0));
    ApplyBatch(table.schema(), empty, &schema);
  }
  auto result = std::make_shared<columnar::Table>(schema);
  for (auto& b : batches) result->AddBatch(std::move(b));
  for (const auto& [k, v] : table.metadata()) result->SetMetadata(k, v);
  return result;
}

ColumnPtr ValueColumn(const json& value, DataType type, const std::string& what) {
  columnar::ColumnBuilder b(type);
  auto wrong = [&]() -> ModelError {
    const std::string name(columnar::TypeName(type));
    return ModelError(what + ": " + value.dump() + " is not " + (name[0] == 'i' ? "an " : "a ") + name + " value");
  };
  switch (type) {
    case DataType::kInt64:
      if (!value.is_number_integer()) throw wrong();
      b.AppendInt(value.get<int64_t>());
      break;
    case DataType::kFloat64:
      if (!value.is_number()) throw wrong();
      b.AppendDouble(value.get<double>());
      break;
    case DataType::kBool:
      if (!value.is_boolean()) throw wrong();
      b.AppendBool(value.get<bool>());
      break;
    case DataType::kString:
      if (!value.is_string()) throw wrong();
      b.AppendString(value.get<std::string>());
      break;
    case DataType::kTimestamp: {
      if (!value.is_string()) throw wrong();
      columnar::ColumnBuilder text(DataType::kString);
      text.AppendString(value.get<std::string>());
      int64_t failed_row = -1;
      std::string failed_text;
      ColumnPtr t = columnar::Cast(*text.Finish(), DataType::kTimestamp, &failed_row, &failed_text);
      if (!t || failed_row >= 0 || t->IsNull(0)) throw wrong();
      return t;
    }
  }
  return b.Finish();
}

ColumnPtr DatetimePart(const Column& c, const std::string& part) {
  const int64_t n = c.length();
  columnar::Buffer out(static_cast<size_t>(n) * 8);
  int64_t* o = out.as<int64_t>();
  for (int64_t r = 0; r < n; ++r) {
    if (c.IsNull(r)) continue;
    const columnar::CivilTime t = columnar::CivilOf(c.ints()[r]);  // any int64, any year
    if (part == "hour") {
      o[r] = t.micros_of_day / 3600'000000;
    } else if (part == "dayofweek") {
      o[r] = ((t.days % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday; Monday = 0
    } else {
      o[r] = part == "day" ? int64_t{t.day} : part == "month" ? int64_t{t.month} : t.year;
    }
  }
  return std::make_shared<Column>(DataType::kInt64, n, std::move(out), c.validity_buffer().Clone());
}

}  // namespace pipeline::ml
