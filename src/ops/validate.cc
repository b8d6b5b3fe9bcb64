// validate: row checks (not_null, unique, min/max, in/not_in, matches, type)
// and table checks (row_count, max_null_fraction, freshness, unique rows),
// a JSON report with a profile of every column, and the rows that passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "columnar/compute.h"
#include "columnar/hash_group.h"
#include "columnar/value_parse.h"
#include "core/error.h"
#include "core/time.h"
#include "kernels/kernels.h"
#include "ops/args.h"
#include "ops/batches.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

// `matches` patterns: RE2's syntax (DuckDB's and BigQuery's regexp_matches),
// matched in time linear in the value whatever the pattern (std::regex
// recursed per character and overflowed the stack on long values).
RE2::Options MatchOptions() {
  RE2::Options o;
  o.set_log_errors(false);  // reported as diagnostics
  return o;
}

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;
using Bitmap = std::vector<uint64_t>;

// One row check as written in the file.
struct CheckSpec {
  std::string column;
  std::string kind;       // not_null, unique, range, in, not_in, matches, type
  std::string describe;   // "amount between 0 and 10000"
  const DocNode* node = nullptr;
  std::optional<double> min, max;
  std::string min_text, max_text;  // for timestamps
  std::vector<const DocNode*> set;
  std::string pattern;
  DataType type = DataType::kString;
};

struct TableSpec {
  std::optional<int64_t> row_count_min, row_count_max;
  std::vector<std::pair<std::string, double>> max_null_fraction;
  std::string freshness_column;
  std::optional<Duration> freshness_max_age;
  bool unique_all = false;
  std::vector<std::string> unique_columns;
};

struct ValidateArgs {
  std::vector<CheckSpec> checks;
  TableSpec table;
  double max_failure_rate = 0;
  std::optional<double> alert_rate;  // above it: a `quality` notification
  std::string on_failure = "fail";
};

std::string Text(const DocNode& n) { return n.is_scalar() ? n.text() : n.TypeName(); }

std::optional<ValidateArgs> ParseValidateArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                              Mark mark) {
  ArgReader r(with, context, diags, mark);
  ValidateArgs a;
  r.Get("input");
  const DocNode* checks = r.Get("checks");
  if (checks && !checks->is_sequence()) r.Error(checks, "'checks' must be a list");
  if (checks && checks->is_sequence()) {
    for (const auto& item : checks->items()) {
      ArgReader c(*item, context + ": checks", diags, Within(*item, mark));
      auto column = c.String("column", true);
      std::string col = column.value_or("?");
      auto add = [&](std::string kind, std::string describe) {
        CheckSpec s;
        s.column = col;
        s.kind = std::move(kind);
        s.describe = std::move(describe);
        s.node = item.get();
        a.checks.push_back(std::move(s));
        return &a.checks.back();
      };
      if (auto v = c.Bool("not_null"); v && *v) add("not_null", col + " not null");
      if (auto v = c.Bool("unique"); v && *v) add("unique", col + " unique");
      const DocNode* min = c.Get("min");
      const DocNode* max = c.Get("max");
      if (min || max) {
        std::string d = col + (min && max ? " between " + Text(*min) + " and " + Text(*max)
                               : min     ? " >= " + Text(*min)
                                         : " <= " + Text(*max));
        CheckSpec* s = add("range", d);
        for (auto [node, num, text] : {std::tuple{min, &s->min, &s->min_text}, std::tuple{max, &s->max, &s->max_text}}) {
          if (!node) continue;
          if (!node->is_scalar()) {
            c.Error(node, "'min' and 'max' must be numbers or timestamps");
            continue;
          }
          *num = node->AsDouble();
          *text = node->text();
        }
      }
      for (const char* key : {"in", "not_in"}) {
        const DocNode* set = c.Get(key);
        if (!set) continue;
        if (!set->is_sequence()) {
          c.Error(set, "'" + std::string(key) + "' must be a list of values");
          continue;
        }
        std::string list;
        for (const auto& v : set->items()) list += (list.empty() ? "" : ", ") + Text(*v);
        CheckSpec* s = add(key, col + (std::string(key) == "in" ? " in [" : " not in [") + list + "]");
        for (const auto& v : set->items()) {
          if (!v->is_scalar() && !v->is_null()) c.Error(v.get(), "'" + std::string(key) + "' values must be scalars");
          s->set.push_back(v.get());
        }
      }
      if (auto p = c.String("matches")) {
        if (const RE2 re(*p, MatchOptions()); !re.ok()) {
          c.Error(c.Get("matches"), "'matches' is not a valid regular expression (RE2 syntax): " + re.error());
        }
        add("matches", col + " matches " + *p)->pattern = *p;
      }
      if (const DocNode* t = c.Get("type")) {
        if (auto type = ParseType(*t, "'type'", c)) add("type", col + " is " + std::string(columnar::TypeName(*type)))->type = *type;
      }
      c.RejectUnknown({"column", "not_null", "unique", "min", "max", "in", "not_in", "matches", "type"});
    }
  }
  if (const DocNode* table = r.Get("table")) {
    ArgReader t(*table, context + ": table", diags, Within(*table, mark));
    if (const DocNode* rc = t.Get("row_count")) {
      ArgReader rr(*rc, context + ": table: row_count", diags, Within(*rc, mark));
      if (auto v = rr.Number("min")) a.table.row_count_min = static_cast<int64_t>(std::clamp(*v, -9e18, 9e18));
      if (auto v = rr.Number("max")) a.table.row_count_max = static_cast<int64_t>(std::clamp(*v, -9e18, 9e18));
      rr.RejectUnknown({"min", "max"});
    }
    if (const DocNode* nf = t.Get("max_null_fraction")) {
      if (!nf->is_map()) {
        t.Error(nf, "'max_null_fraction' must be a map of column -> fraction");
      } else {
        ArgReader m(*nf, context + ": table: max_null_fraction", diags, Within(*nf, mark));
        for (const auto& [key, value] : nf->entries()) {
          if (auto f = m.Fraction(key->text())) a.table.max_null_fraction.emplace_back(key->text(), *f);
        }
      }
    }
    if (const DocNode* fr = t.Get("freshness")) {
      ArgReader f(*fr, context + ": table: freshness", diags, Within(*fr, mark));
      if (auto c = f.String("column", true)) a.table.freshness_column = *c;
      if (auto age = f.String("max_age", true)) {
        if (!HasPlaceholder(*f.Get("max_age"))) {
          a.table.freshness_max_age = ParseDuration(*age);
          if (!a.table.freshness_max_age) {
            f.Error(f.Get("max_age"), "'max_age' must be a duration like 30m, 6h or 2d, found '" + *age + "'");
          }
        }
      }
      f.RejectUnknown({"column", "max_age"});
    }
    if (const DocNode* u = t.Get("unique")) {
      if (u->is_scalar() && u->text() == "all") {
        a.table.unique_all = true;
      } else if (auto cols = t.StringList("unique")) {
        a.table.unique_columns = *cols;
        if (cols->empty()) t.Error(u, "'unique' must be all or name at least one column");
      }
    }
    t.RejectUnknown({"row_count", "max_null_fraction", "freshness", "unique"});
  }
  if (auto m = r.Fraction("max_failure_rate")) a.max_failure_rate = *m;
  a.alert_rate = r.Fraction("alert_rate");
  if (auto f = r.Choice("on_failure", {"fail", "quarantine", "warn"})) a.on_failure = *f;
  r.RejectUnknown({"input", "checks", "table", "max_failure_rate", "alert_rate", "on_failure"});
  if (!r.ok()) return std::nullopt;
  return a;
}

// The outcome of one check over the table.
struct CheckResult {
  std::string name;
  std::string column;
  int64_t checked = 0;
  Bitmap failed;  // empty = no row failed
  int64_t failed_count = 0;
  std::vector<std::string> examples;
};

// Counts the failed rows and takes up to 5 of their values (column
// `index` of `w`) as examples.
void Finish(CheckResult& r, const Batches& w, int index) {
  const int64_t n = w.rows();
  if (r.failed.empty()) return;
  r.failed_count = kernels::CountSet(r.failed.data(), n);
  if (r.failed_count == 0) {
    r.failed.clear();
    return;
  }
  for (int64_t row = 0; row < n && r.examples.size() < 5; ++row) {
    if (!columnar::BitIsSet(r.failed.data(), row)) continue;
    auto [b, at] = w.Locate(row);
    const Column& c = *w.batch(b).columns[index];
    r.examples.push_back(c.IsNull(at) ? "null" : columnar::ValueText(c, at));
  }
}

// Literal `node` as a value of `type`, for in/not_in and bounds.
struct Literal {
  bool is_null = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

Literal ToLiteral(const DocNode& node, DataType type, const std::string& what) {
  Literal l;
  if (node.is_null()) {
    l.is_null = true;
    return l;
  }
  bool ok = true;
  switch (type) {
    case DataType::kInt64:
      if (auto v = node.AsInt()) {
        l.i = *v;
      } else {
        ok = false;
      }
      break;
    case DataType::kFloat64:
      if (auto v = node.AsDouble()) {
        l.d = *v;
      } else {
        ok = false;
      }
      break;
    case DataType::kBool:
      if (auto v = node.AsBool()) {
        l.i = *v;
      } else {
        ok = false;
      }
      break;
    case DataType::kTimestamp: ok = columnar::ParseTimestamp(node.text(), &l.i); break;
    case DataType::kString: l.s = node.text(); break;
  }
  if (!ok) {
    throw OpError(what + ": '" + node.text() + "' is not a " + std::string(columnar::TypeName(type)) +
                     " (the column's type)");
  }
  return l;
}

void RunRange(const CheckSpec& spec, const Column& c, int64_t n, CheckResult& r) {
  Bitmap in_range = NewBitmap(n);
  kernels::RangeCounts counts;
  switch (c.type()) {
    case DataType::kFloat64: {
      if ((!spec.min_text.empty() && !spec.min) || (!spec.max_text.empty() && !spec.max)) {
        throw OpError("check '" + spec.describe + "': bounds must be numbers for a float64 column");
      }
      counts = kernels::SelectRange(c.doubles(), c.validity(), n, spec.min.value_or(-INFINITY),
                                    spec.max.value_or(INFINITY), in_range.data());
      break;
    }
    case DataType::kInt64:
    case DataType::kTimestamp: {
      int64_t lo = INT64_MIN, hi = INT64_MAX;
      if (c.type() == DataType::kTimestamp) {
        auto bound = [&](const std::string& text, int64_t* out) {
          if (!text.empty() && !columnar::ParseTimestamp(text, out)) {
            throw OpError("check '" + spec.describe + "': '" + text + "' is not a timestamp");
          }
        };
        bound(spec.min_text, &lo);
        bound(spec.max_text, &hi);
      } else {
        for (const auto& [text, num] : {std::pair{&spec.min_text, &spec.min}, std::pair{&spec.max_text, &spec.max}}) {
          if (!text->empty() && !*num) throw OpError("check '" + spec.describe + "': '" + *text + "' is not a number");
        }
        // An integer bound is compared exactly (9007199254740993 is no
        // double); bounds beyond int64's range may hold no value: then every value fails.
        auto bound = [](const std::optional<double>& num, const std::string& text) -> std::optional<columnar::NumberBound> {
          if (!num) return std::nullopt;
          return columnar::NumberBoundOf(*num, text);
        };
        std::tie(lo, hi) = IntRange(bound(spec.min, spec.min_text), bound(spec.max, spec.max_text))
                               .value_or(std::pair{INT64_MAX, INT64_MIN});
      }
      counts = kernels::SelectRange(c.ints(), c.validity(), n, lo, hi, in_range.data());
      break;
    }
    default:
      throw OpError("check '" + spec.describe + "': min/max need a numeric or timestamp column, " + spec.column +
                       " is " + std::string(columnar::TypeName(c.type())));
  }
  r.checked = counts.selected + counts.out_of_range;
  if (counts.out_of_range > 0) {
    r.failed = NewBitmap(n);
    // failed = valid & ~in_range
    kernels::BitmapAndNot(c.validity(), in_range.data(), r.failed.data(), n);
  }
}

void RunMembership(const CheckSpec& spec, const Column& c, int64_t n, CheckResult& r) {
  const bool negate = spec.kind == "not_in";
  bool allow_null = false;
  std::vector<Literal> values;
  for (const DocNode* v : spec.set) {
    Literal l = ToLiteral(*v, c.type(), "check '" + spec.describe + "'");
    if (l.is_null) {
      allow_null = true;
    } else {
      values.push_back(std::move(l));
    }
  }
  Bitmap member = NewBitmap(n);
  uint64_t* m = member.data();
  switch (c.type()) {
    case DataType::kInt64:
    case DataType::kTimestamp:
    case DataType::kBool: {
      std::vector<int64_t> set;
      for (const Literal& l : values) set.push_back(l.i);
      if (c.type() == DataType::kBool) {
        for (int64_t row = 0; row < n; ++row) {
          if (c.IsValid(row) && std::find(set.begin(), set.end(), c.bools()[row]) != set.end()) columnar::SetBit(m, row);
        }
      } else if (set.size() <= 32) {
        kernels::SelectIn(c.ints(), c.validity(), n, set.data(), static_cast<int64_t>(set.size()), m);
      } else {
        std::unordered_set<int64_t> hs(set.begin(), set.end());
        for (int64_t row = 0; row < n; ++row) {
          if (c.IsValid(row) && hs.count(c.ints()[row])) columnar::SetBit(m, row);
        }
      }
      break;
    }
    case DataType::kFloat64: {
      std::unordered_set<double> hs;
      for (const Literal& l : values) hs.insert(l.d);
      for (int64_t row = 0; row < n; ++row) {
        if (c.IsValid(row) && hs.count(c.doubles()[row])) columnar::SetBit(m, row);
      }
      break;
    }
    case DataType::kString: {
      std::unordered_set<std::string_view> hs;
      for (const Literal& l : values) hs.insert(l.s);
      for (int64_t row = 0; row < n; ++row) {
        if (c.IsValid(row) && hs.count(c.StringAt(row))) columnar::SetBit(m, row);
      }
      break;
    }
  }
  // Null rows: checked only when the list names null.
  int64_t valid = kernels::CountValid(c.validity(), n);
  r.checked = allow_null ? n : valid;
  r.failed = NewBitmap(n);
  if (negate) {
    kernels::BitmapAnd(member.data(), c.validity(), r.failed.data(), n);
  } else {
    kernels::BitmapAndNot(c.validity(), member.data(), r.failed.data(), n);
  }
  if (allow_null && c.has_nulls()) {
    // A null row is a member of the list.
    Bitmap nulls = NewBitmap(n);
    kernels::BitmapNot(c.validity(), nulls.data(), n);
    if (negate) kernels::BitmapOr(r.failed.data(), nulls.data(), r.failed.data(), n);
  }
}

// Evaluates `predicate` once per distinct value (the columns we check are
// mostly categorical) and marks the rows whose value fails it.
template <class Pred>
void RunPerDistinct(const ColumnPtr& c, int64_t n, CheckResult& r, Pred&& predicate) {
  columnar::Grouping g = columnar::GroupRows({c});
  std::vector<uint8_t> fails(static_cast<size_t>(g.num_groups()));
  for (int64_t id = 0; id < g.num_groups(); ++id) {
    int64_t row = g.first_row[id];
    fails[id] = c->IsValid(row) && !predicate(*c, row);
  }
  r.checked = kernels::CountValid(c->validity(), n);
  r.failed = NewBitmap(n);
  for (int64_t row = 0; row < n; ++row) {
    if (fails[g.group_ids[row]]) columnar::SetBit(r.failed.data(), row);
  }
}

// Rows repeating an earlier row's values over columns `indices` fail (with
// `skip_null_rows`, rows whose first key is null are not checked).
void RunUnique(const Batches& w, const std::vector<int>& indices, bool skip_null_rows, CheckResult& r) {
  const int64_t n = w.rows();
  columnar::Grouping g = w.Group(indices);
  r.failed = NewBitmap(n);
  r.checked = 0;
  for (int b = 0; b < w.num_batches(); ++b) {
    const Column& first = *w.batch(b).columns[indices[0]];
    const int64_t rows = w.batch(b).num_rows, offset = w.offset(b);
    r.checked += skip_null_rows ? kernels::CountValid(first.validity(), rows) : rows;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t row = offset + i;
      if (g.first_row[g.group_ids[row]] != row && (!skip_null_rows || first.IsValid(i))) {
        columnar::SetBit(r.failed.data(), row);
      }
    }
  }
}

// Per column: nulls, min, max and mean of numbers, distinct count estimate;
// each taken batch by batch and combined.
// The profile's distributions are drawn from an even sample of at most
// kProfileSample rows of each column: a histogram's shape needs no more, and
// a profile of 10 million rows stays a moment's work.
constexpr int64_t kProfileSample = 65536;
constexpr int kHistogramBins = 20;
constexpr int kTopValues = 10;
constexpr int64_t kTopMaxDistinct = 1000;  // more: an id or free text, no top list

// Calls fn(part, row) for every stride-th non-null row across the parts.
template <typename Fn>
int64_t ForSample(const std::vector<ColumnPtr>& parts, Fn fn) {
  int64_t rows = 0;
  for (const ColumnPtr& part : parts) rows += part->length();
  const int64_t stride = std::max<int64_t>(1, (rows + kProfileSample - 1) / kProfileSample);
  int64_t sampled = 0, base = 0;  // base: the first row of `part` in the column
  for (const ColumnPtr& part : parts) {
    const int64_t n = part->length();
    for (int64_t row = (stride - base % stride) % stride; row < n; row += stride) {  // rows k * stride
      if (part->IsNull(row)) continue;
      fn(*part, row);
      ++sampled;
    }
    base += n;
  }
  return sampled;
}

// {"counts": [kHistogramBins], "sampled": N}: equal-width bins from the
// profile's min to its max (one bin when they are equal).
nlohmann::json Histogram(const std::vector<ColumnPtr>& parts, double lo, double hi) {
  const int bins = hi > lo ? kHistogramBins : 1;
  std::vector<int64_t> counts(bins, 0);
  const double scale = hi > lo ? bins / (hi - lo) : 0;
  int64_t sampled = 0;  // the sampled values binned: NaN and infinities are not
  ForSample(parts, [&](const Column& c, int64_t row) {
    const double v = c.type() == DataType::kFloat64 ? c.doubles()[row] : static_cast<double>(c.ints()[row]);
    if (!std::isfinite(v)) return;
    counts[std::clamp(static_cast<int>((v - lo) * scale), 0, bins - 1)]++;
    ++sampled;
  });
  return {{"counts", counts}, {"sampled", sampled}};
}

// {"values": [[VALUE, COUNT], ...] (most frequent first, at most kTopValues),
// "sampled": N}.
nlohmann::json TopValues(const std::vector<ColumnPtr>& parts) {
  std::unordered_map<std::string, int64_t> counts;
  const int64_t sampled = ForSample(parts, [&](const Column& c, int64_t row) {
    if (c.type() == DataType::kBool) {
      counts[c.bools()[row] ? "true" : "false"]++;
    } else {
      counts[std::string(c.StringAt(row))]++;
    }
  });
  std::vector<std::pair<std::string, int64_t>> top(counts.begin(), counts.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > kTopValues) top.resize(kTopValues);
  nlohmann::json values = nlohmann::json::array();
  for (auto& [value, count] : top) values.push_back({value, count});
  return {{"values", values}, {"sampled", sampled}};
}

nlohmann::json Profile(const Batches& w) {
  nlohmann::json out = nlohmann::json::object();
  for (int col = 0; col < static_cast<int>(w.fields().size()); ++col) {
    const columnar::Field& f = w.fields()[col];
    nlohmann::json p = {{"type", std::string(columnar::TypeName(f.type))}, {"nulls", 0}};
    if (w.num_batches() == 0) {
      out[f.name] = p;
      continue;
    }
    int64_t nulls = 0, valid = 0, non_finite = 0;
    double sum = 0;
    bool any = false;
    double dmin = 0, dmax = 0;
    int64_t imin = 0, imax = 0;
    columnar::DistinctSketch distinct;
    for (const ColumnPtr& part : w.Parts(col)) {
      const Column& c = *part;
      const int64_t n = c.length();
      nulls += c.null_count();
      valid += n - c.null_count();
      if (c.type() == DataType::kFloat64) {
        // Min, max, mean and histogram are the finite values'; NaN and
        // infinities are counted apart (an infinity made every bin but one empty).
        double part_sum = kernels::Sum(c.doubles(), c.validity(), n);
        auto mm = kernels::MinMax(c.doubles(), c.validity(), n);
        if (!std::isfinite(part_sum) || (mm.any && (!std::isfinite(mm.min) || !std::isfinite(mm.max)))) {
          part_sum = 0;
          mm = {};
          for (int64_t row = 0; row < n; ++row) {
            if (c.IsNull(row)) continue;
            const double v = c.doubles()[row];
            if (!std::isfinite(v)) {
              ++non_finite;
              continue;
            }
            part_sum += v;
            mm.min = mm.any ? std::min(mm.min, v) : v;
            mm.max = mm.any ? std::max(mm.max, v) : v;
            mm.any = true;
          }
        }
        if (mm.any) dmin = any ? std::min(dmin, mm.min) : mm.min, dmax = any ? std::max(dmax, mm.max) : mm.max, any = true;
        sum += part_sum;
      } else if (c.type() == DataType::kInt64 || c.type() == DataType::kTimestamp) {
        auto mm = kernels::MinMax(c.ints(), c.validity(), n);
        if (mm.any) imin = any ? std::min(imin, mm.min) : mm.min, imax = any ? std::max(imax, mm.max) : mm.max, any = true;
        if (c.type() == DataType::kInt64) sum += kernels::Sum(c.ints(), c.validity(), n);
      }
      distinct.Add(c);
    }
    p["nulls"] = nulls;
    switch (f.type) {
      case DataType::kFloat64:
        if (any) p["min"] = dmin, p["max"] = dmax, p["mean"] = sum / static_cast<double>(valid - non_finite);
        if (non_finite > 0) p["non_finite"] = non_finite;
        break;
      case DataType::kInt64:
        if (any) p["min"] = imin, p["max"] = imax;
        if (valid > 0) p["mean"] = sum / static_cast<double>(valid);
        break;
      case DataType::kTimestamp:
        if (any) p["min"] = columnar::FormatTimestamp(imin), p["max"] = columnar::FormatTimestamp(imax);
        break;
      default: break;
    }
    p["distinct_estimate"] = distinct.Estimate();
    if (valid > 0) {
      const std::vector<ColumnPtr> parts = w.Parts(col);
      if (f.type == DataType::kFloat64 && any) {
        p["histogram"] = Histogram(parts, dmin, dmax);
      } else if ((f.type == DataType::kInt64 || f.type == DataType::kTimestamp) && any) {
        p["histogram"] = Histogram(parts, static_cast<double>(imin), static_cast<double>(imax));
      } else if ((f.type == DataType::kString || f.type == DataType::kBool) && distinct.Estimate() <= kTopMaxDistinct) {
        p["top"] = TopValues(parts);
      }
    }
    out[f.name] = p;
  }
  return out;
}

std::string Percent(int64_t part, int64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

class ValidateOperator final : public Operator {
 public:
  std::string_view name() const override { return "validate"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseValidateArgs(*task.with, "task '" + task.id + "': validate", diags, task.mark);
  }

  // A freshness check's answer depends on the clock, not only on the
  // inputs: never taken from the cache.
  std::optional<std::string> CacheInputs(TaskContext& ctx, std::string* why) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseValidateArgs(ctx.args(), "validate", diags, ctx.task().mark);
    if (args && args->table.freshness_max_age) {
      *why = "a freshness check depends on the time it runs";
      return std::nullopt;
    }
    return "";
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': validate";
    auto args = ParseValidateArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark);
    if (!args || !c.active()) return std::nullopt;
    for (const CheckSpec& spec : args->checks) {
      const std::string where = "check '" + spec.describe + "'";
      if (spec.kind == "range") {
        c.NeedType(spec.node, where, spec.column, {"int64", "float64", "timestamp"}, "a number or timestamp");
      } else {
        c.Need(spec.node, where, spec.column);
      }
    }
    const DocNode* table = task.with->Find("table");
    const TableSpec& ts = args->table;
    for (const std::string& name : ts.unique_columns) c.Need(table, "table unique", name);
    for (const auto& [name, limit] : ts.max_null_fraction) c.Need(table, "table max_null_fraction", name);
    if (!ts.freshness_column.empty()) {
      c.NeedType(table, "table freshness", ts.freshness_column, {"timestamp"}, "a timestamp");
    }
    return c.Result();
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseValidateArgs(ctx.args(), "validate", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    try {
      Batches w = Batches::Of(*input);
      w.SpillTo(SpillIfLarge(ctx, input->MemoryBytes()));
      return Run(ctx, *args, *input, w);
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
  }

 private:
  // A row-local check, run batch by batch (in parallel) and gathered into a
  // table-wide result.
  template <class Check>
  static void RunPerBatch(const Batches& w, int index, CheckResult& r, Check&& check) {
    const int64_t n = w.rows();
    if (w.num_batches() == 0) {
      // No rows: the check still meets the column's type (and says so).
      CheckResult empty;
      check(Column(w.fields()[index].type, 0), int64_t{0}, empty);
      return;
    }
    std::vector<CheckResult> parts(static_cast<size_t>(w.num_batches()));
    w.ForEach([&](int b) { check(*w.batch(b).columns[index], w.batch(b).num_rows, parts[b]); });
    for (int b = 0; b < w.num_batches(); ++b) {
      r.checked += parts[b].checked;
      if (parts[b].failed.empty()) continue;
      if (r.failed.empty()) r.failed = NewBitmap(n);
      OrBitsAt(r.failed.data(), w.offset(b), parts[b].failed.data(), w.batch(b).num_rows);
    }
  }

  TaskResult Run(TaskContext& ctx, const ValidateArgs& args, const columnar::Table& input, const Batches& w) const {
    const int64_t n = w.rows();
    std::vector<CheckResult> results;
    for (const CheckSpec& spec : args.checks) {
      if (ctx.cancel().cancelled()) throw OpError("cancelled");
      CheckResult r;
      r.name = spec.describe;
      r.column = spec.column;
      const int idx = w.Index(spec.column, "check '" + spec.describe + "'");
      const DataType type = w.fields()[idx].type;
      if (spec.kind == "not_null") {
        RunPerBatch(w, idx, r, [](const Column& c, int64_t rows, CheckResult& part) {
          part.checked = rows;
          if (c.has_nulls()) {
            part.failed = NewBitmap(rows);
            kernels::BitmapNot(c.validity(), part.failed.data(), rows);
          }
        });
      } else if (spec.kind == "unique") {
        RunUnique(w, {idx}, true, r);
      } else if (spec.kind == "range") {
        RunPerBatch(w, idx, r, [&](const Column& c, int64_t rows, CheckResult& part) { RunRange(spec, c, rows, part); });
      } else if (spec.kind == "in" || spec.kind == "not_in") {
        RunPerBatch(w, idx, r,
                    [&](const Column& c, int64_t rows, CheckResult& part) { RunMembership(spec, c, rows, part); });
      } else if (spec.kind == "matches") {
        const RE2 re(spec.pattern, MatchOptions());
        if (!re.ok()) throw OpError("validate: '" + spec.pattern + "' is not a valid regular expression: " + re.error());
        RunPerDistinct(w.Gather(idx), n, r, [&](const Column& col, int64_t row) {
          return RE2::PartialMatch(columnar::ValueText(col, row), re);
        });
      } else if (spec.kind == "type") {
        DataType want = spec.type;
        if (type == want) {
          RunPerBatch(w, idx, r, [](const Column& c, int64_t rows, CheckResult& part) {
            part.checked = kernels::CountValid(c.validity(), rows);
          });
        } else {
          RunPerDistinct(w.Gather(idx), n, r, [&](const Column& col, int64_t row) {
            ColumnPtr one = columnar::Take(col, {row});
            int64_t bad;
            std::string text;
            return columnar::Cast(*one, want, &bad, &text) != nullptr;
          });
        }
      }
      Finish(r, w, idx);
      results.push_back(std::move(r));
    }

    // Table checks: repeated rows are row failures; the others fail the table.
    const TableSpec& ts = args.table;
    if (ts.unique_all || !ts.unique_columns.empty()) {
      std::vector<int> keys;
      std::vector<std::string> names = ts.unique_all ? w.names() : ts.unique_columns;
      for (const std::string& name : names) keys.push_back(w.Index(name, "table unique"));
      CheckResult r;
      r.name = ts.unique_all ? "rows unique" : "rows unique over " + JoinNames(names);
      r.column = ts.unique_all ? "*" : JoinNames(names);
      if (n > 0 && !keys.empty()) RunUnique(w, keys, false, r);
      if (!r.failed.empty()) {
        r.failed_count = kernels::CountSet(r.failed.data(), n);
        if (r.failed_count == 0) r.failed.clear();
      }
      for (int64_t row = 0; row < n && r.examples.size() < 5 && !r.failed.empty(); ++row) {
        if (!columnar::BitIsSet(r.failed.data(), row)) continue;
        std::string ex;
        auto [b, at] = w.Locate(row);
        for (size_t k = 0; k < keys.size(); ++k) ex += (k ? "," : "") + columnar::ValueText(*w.batch(b).columns[keys[k]], at);
        r.examples.push_back(ex);
      }
      results.push_back(std::move(r));
    }
    nlohmann::json table_checks = nlohmann::json::array();
    std::vector<std::string> table_failures;
    // `name` says what is expected (the report's "check"); `failure`, what
    // was found instead when it does not hold.
    auto table_check = [&](const std::string& name, const std::string& failure, nlohmann::json detail) {
      detail["check"] = name;
      detail["passed"] = failure.empty();
      table_checks.push_back(detail);
      if (!failure.empty()) table_failures.push_back(failure);
    };
    if (ts.row_count_min || ts.row_count_max) {
      std::string name = "row count" + (ts.row_count_min ? " >= " + std::to_string(*ts.row_count_min) : "") +
                         (ts.row_count_min && ts.row_count_max ? " and" : "") +
                         (ts.row_count_max ? " <= " + std::to_string(*ts.row_count_max) : "");
      std::string failure;
      if (ts.row_count_min && n < *ts.row_count_min) {
        failure = "row count " + std::to_string(n) + " is below the minimum " + std::to_string(*ts.row_count_min);
      } else if (ts.row_count_max && n > *ts.row_count_max) {
        failure = "row count " + std::to_string(n) + " is above the maximum " + std::to_string(*ts.row_count_max);
      }
      table_check(name, failure, {{"rows", n}});
    }
    for (const auto& [name, limit] : ts.max_null_fraction) {
      int64_t nulls = 0;
      for (const ColumnPtr& part : w.Parts(w.Index(name, "table max_null_fraction"))) nulls += part->null_count();
      double fraction = n ? static_cast<double>(nulls) / static_cast<double>(n) : 0;
      std::string failure = fraction <= limit ? "" : "column '" + name + "' null fraction " + FormatFraction(fraction) +
                                                         " is above the maximum " + FormatFraction(limit);
      table_check(name + " null fraction <= " + FormatFraction(limit), failure, {{"null_fraction", fraction}});
    }
    if (!ts.freshness_column.empty() && ts.freshness_max_age) {
      const int idx = w.Index(ts.freshness_column, "table freshness");
      if (w.fields()[idx].type != DataType::kTimestamp) {
        throw OpError("table freshness: column '" + ts.freshness_column + "' is " +
                      std::string(columnar::TypeName(w.fields()[idx].type)) + ", not a timestamp");
      }
      kernels::Int64MinMax mm;
      for (const ColumnPtr& c : w.Parts(idx)) {
        auto pm = kernels::MinMax(c->ints(), c->validity(), c->length());
        if (!pm.any) continue;
        mm.max = mm.any ? std::max(mm.max, pm.max) : pm.max;
        mm.any = true;
      }
      int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
      int64_t max_age = std::chrono::duration_cast<std::chrono::microseconds>(*ts.freshness_max_age).count();
      // A column of personal data (a birth date): its newest value is not said.
      const bool hidden = ctx.task().IsPii(ts.freshness_column);
      const std::string newest = hidden ? "(personal data)" : mm.any ? columnar::FormatTimestamp(mm.max) : "";
      std::string failure;
      if (!mm.any) {
        failure = "column '" + ts.freshness_column + "' has no value, so nothing is newer than " +
                  FormatDuration(*ts.freshness_max_age);
      } else if (now - mm.max > max_age) {
        failure = "column '" + ts.freshness_column + "' newest value " + newest + " is older than " +
                  FormatDuration(*ts.freshness_max_age);
      }
      table_check(ts.freshness_column + " newer than " + FormatDuration(*ts.freshness_max_age), failure,
                  {{"newest", mm.any ? nlohmann::json(newest) : nlohmann::json(nullptr)}});
    }

    // Personal data (columns of the input marked pii, as validation found
    // them): the report says which checks failed and how often, never the
    // values, and profiles such a column by counts only.
    const std::vector<std::string>& pii = ctx.task().input_pii;
    auto personal = [&](const std::string& column) {  // a check's column, or "a, b" of a unique over several
      if (column == "*") return !pii.empty();
      for (size_t begin = 0; begin <= column.size();) {
        size_t end = column.find(", ", begin);
        if (end == std::string::npos) end = column.size();
        if (std::find(pii.begin(), pii.end(), column.substr(begin, end - begin)) != pii.end()) return true;
        begin = end + 2;
      }
      return false;
    };
    for (CheckResult& r : results) {
      if (personal(r.column)) std::fill(r.examples.begin(), r.examples.end(), std::string("(personal data)"));
    }

    // Rows failing any check.
    Bitmap any = NewBitmap(n);
    for (const CheckResult& r : results) {
      if (!r.failed.empty()) kernels::BitmapOr(any.data(), r.failed.data(), any.data(), n);
    }
    const int64_t failed_rows = n ? kernels::CountSet(any.data(), n) : 0;
    const double rate = n ? static_cast<double>(failed_rows) / static_cast<double>(n) : 0;
    const bool rate_ok = rate <= args.max_failure_rate;
    const bool passed = rate_ok && table_failures.empty();

    nlohmann::json report = {{"rows", n}, {"rows_failed", failed_rows}, {"failure_rate", rate},
                             {"max_failure_rate", args.max_failure_rate}, {"on_failure", args.on_failure},
                             {"passed", passed}};
    nlohmann::json checks = nlohmann::json::array();
    for (const CheckResult& r : results) {
      checks.push_back({{"check", r.name}, {"column", r.column}, {"rows_checked", r.checked},
                        {"rows_failed", r.failed_count}, {"examples", r.examples}});
    }
    report["checks"] = checks;
    report["table_checks"] = table_checks;
    report["profile"] = Profile(w);
    for (const std::string& p : pii) {
      if (!report["profile"].contains(p)) continue;
      nlohmann::json& column = report["profile"][p];
      for (const char* key : {"min", "max", "mean", "histogram", "top"}) column.erase(key);
      column["pii"] = true;
    }

    TaskResult result = TaskResult::Success();
    result.metrics.rows_in = n;
    std::string summary = std::to_string(results.size()) + " row checks, " + std::to_string(failed_rows) +
                          " rows failed (" + Percent(failed_rows, n) + ")";
    // A failing table check is the task's error; only a warning goes here.
    if (!table_failures.empty() && args.on_failure == "warn") summary += "; table check failed: " + table_failures.front();

    // The output: the rows that passed (all rows with warn).
    columnar::TablePtr output;
    if (args.on_failure != "warn" && failed_rows > 0) {
      Bitmap pass = NewBitmap(n);
      kernels::BitmapNot(any.data(), pass.data(), n);
      Batches kept = w;
      kept.Keep(kept.SplitBits(pass.data()));
      output = kept.ToTable(input.metadata());
    } else {
      output = w.ToTable(input.metadata());
    }
    if (args.on_failure == "quarantine" && failed_rows > 0) {
      auto q = Quarantine(w, any, results);
      PersistTable(ctx, *q, "quarantine");
      result.metrics.rows_quarantined = failed_rows;
    }
    PersistJson(ctx, report.dump(2), "report");
    result.metrics.rows_out = output->num_rows();
    result.metrics.summary = summary;
    if (args.alert_rate && rate > *args.alert_rate) {
      result.metrics.alert = std::to_string(failed_rows) + " of " + std::to_string(n) + " rows (" +
                             Percent(failed_rows, n) + ") failed checks, more than alert_rate " +
                             FormatFraction(*args.alert_rate) + FirstFailure(results);
    }

    if (!passed && args.on_failure != "warn") {
      std::string why = !rate_ok ? std::to_string(failed_rows) + " of " + std::to_string(n) + " rows (" +
                                       Percent(failed_rows, n) + ") failed checks, more than max_failure_rate " +
                                       FormatFraction(args.max_failure_rate) + FirstFailure(results)
                                 : "table check failed: " + table_failures.front();
      TaskResult failed = TaskResult::Failure(why);
      failed.metrics = result.metrics;
      failed.metrics.rows_out = 0;  // the task fails: no output
      return failed;
    }
    if (!passed) ctx.Log("warning: " + summary);
    PublishOutput(ctx, output, result.metrics);
    return result;
  }

  static std::string FirstFailure(const std::vector<CheckResult>& results) {
    for (const CheckResult& r : results) {
      if (r.failed_count > 0) {
        return " (first: " + r.name + ": " + std::to_string(r.failed_count) + " rows" +
               (r.examples.empty() ? "" : ", e.g. " + r.examples.front()) + ")";
      }
    }
    return "";
  }

  // The failing rows, their row number in the input and the first check
  // each failed.
  static columnar::TablePtr Quarantine(const Batches& w, const Bitmap& any, const std::vector<CheckResult>& results) {
    columnar::Schema schema = w.schema();
    schema.Add({"_row", DataType::kInt64});
    schema.Add({"_reason", DataType::kString});
    auto q = std::make_shared<columnar::Table>(schema);
    std::vector<Bitmap> failed = w.SplitBits(any.data());
    for (int b = 0; b < w.num_batches(); ++b) {
      const int64_t rows = w.batch(b).num_rows;
      const int64_t count = kernels::CountSet(failed[b].data(), rows);
      if (count == 0) continue;
      columnar::Batch out = columnar::FilterBatch(w.batch(b), failed[b].data(), count);
      columnar::ColumnBuilder row_numbers(DataType::kInt64), reasons(DataType::kString);
      for (int64_t r = 0; r < rows; ++r) {
        if (!columnar::BitIsSet(failed[b].data(), r)) continue;
        const int64_t row = w.offset(b) + r;
        row_numbers.AppendInt(row);
        for (const CheckResult& check : results) {
          if (!check.failed.empty() && columnar::BitIsSet(check.failed.data(), row)) {
            reasons.AppendString(check.name);
            break;
          }
        }
      }
      out.columns.push_back(row_numbers.Finish());
      out.columns.push_back(reasons.Finish());
      q->AddBatch(std::move(out));
    }
    return q;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeValidateOperator() { return std::make_unique<ValidateOperator>(); }

}  // namespace pipeline::ops
