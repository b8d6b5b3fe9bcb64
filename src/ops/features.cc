// features: per-key aggregates joined back to every row. Without `time`, an
// aggregate covers all rows of the key. With `time`, it is point-in-time
// correct: a row sees only rows of its key with a strictly earlier time,
// inside `window`. Output: the input with the new columns, row order kept.
#include <algorithm>
#include <map>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>

#include <nlohmann/json.hpp>

#include "columnar/compute.h"
#include "columnar/hash_group.h"
#include "columnar/parallel.h"
#include "kernels/kernels.h"
#include "ops/args.h"
#include "ops/batches.h"
#include "ops/operators.h"
#include "ops/table_io.h"

namespace pipeline::ops {
namespace {

using columnar::Column;
using columnar::ColumnPtr;
using columnar::DataType;

const std::vector<std::string> kFns = {"count", "sum", "mean", "min", "max", "std", "last"};

// The non-null values of a sliding window (a FIFO: values enter at the
// front, leave at the back) and what the aggregates need of them, such that
// a value that left leaves no trace in the figures:
// - NaN and infinities are counted apart, never added: the sum is NaN while
//   a NaN (or both infinities) is in the window, an infinity while one is;
// - the finite values' sum is compensated (Neumaier): a 1e20 that entered and
//   left does not swallow the 1s beside it; it restarts at 0 when empty;
// - std's count, mean and sum of squared deviations are merged on a
//   two-stack queue (each value's moments merged, never subtracted);
// - min and max are monotonic queues of positions, NaN skipped.
class SlidingWindow {
 public:
  void Reset(bool moments) {
    count_ = nan_ = pos_inf_ = neg_inf_ = finite_ = 0;
    sum_ = comp_ = 0;
    moments_ = moments;
    back_.clear();
    front_.clear();
    back_merged_ = {};
    minq_.clear();
    maxq_.clear();
  }
  // A value that is not a number (count and last only).
  void AddUncounted() { ++count_; }
  void RemoveUncounted() { --count_; }

  void Add(int64_t pos, double x) {
    ++count_;
    if (std::isnan(x)) {
      ++nan_;
      return;
    }
    while (!minq_.empty() && minq_.back().second >= x) minq_.pop_back();
    minq_.emplace_back(pos, x);
    while (!maxq_.empty() && maxq_.back().second <= x) maxq_.pop_back();
    maxq_.emplace_back(pos, x);
    if (std::isinf(x)) {
      ++(x > 0 ? pos_inf_ : neg_inf_);
      return;
    }
    ++finite_;
    AddToSum(x);
    if (moments_) {
      back_.push_back(x);
      back_merged_ = Merge(back_merged_, {1, x, 0});
    }
  }
  // `pos` and `x` as added; values leave in the order they entered.
  void Remove(int64_t pos, double x) {
    --count_;
    if (std::isnan(x)) {
      --nan_;
      return;
    }
    if (!minq_.empty() && minq_.front().first == pos) minq_.pop_front();
    if (!maxq_.empty() && maxq_.front().first == pos) maxq_.pop_front();
    if (std::isinf(x)) {
      --(x > 0 ? pos_inf_ : neg_inf_);
      return;
    }
    if (--finite_ == 0) {
      sum_ = comp_ = 0;
    } else {
      AddToSum(-x);
    }
    if (moments_) {
      if (front_.empty()) {  // the back's values, oldest on top, each with the moments from it to the newest
        for (auto it = back_.rbegin(); it != back_.rend(); ++it) {
          front_.push_back(Merge({1, *it, 0}, front_.empty() ? Moments{} : front_.back()));
        }
        back_.clear();
        back_merged_ = {};
      }
      front_.pop_back();
    }
  }

  int64_t count() const { return count_; }
  double Sum() const {
    if (nan_ > 0 || (pos_inf_ > 0 && neg_inf_ > 0)) return std::nan("");
    if (pos_inf_ > 0) return INFINITY;
    if (neg_inf_ > 0) return -INFINITY;
    return sum_ + comp_;
  }
  // Sample standard deviation (count() >= 2): NaN when a NaN or an infinity is in the window.
  double Std() const {
    if (nan_ > 0 || pos_inf_ > 0 || neg_inf_ > 0) return std::nan("");
    Moments m = Merge(front_.empty() ? Moments{} : front_.back(), back_merged_);
    return std::sqrt(std::max(0.0, m.m2 / (m.n - 1)));
  }
  // NaN when every value in the window is NaN.
  double Min() const { return minq_.empty() ? std::nan("") : minq_.front().second; }
  double Max() const { return maxq_.empty() ? std::nan("") : maxq_.front().second; }

 private:
  struct Moments {
    double n = 0, mean = 0, m2 = 0;
  };
  // Chan et al.'s merge of two sets' moments.
  static Moments Merge(const Moments& a, const Moments& b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const double n = a.n + b.n, d = b.mean - a.mean;
    return {n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n)};
  }
  void AddToSum(double x) {
    const double t = sum_ + x;
    comp_ += std::abs(sum_) >= std::abs(x) ? (sum_ - t) + x : (x - t) + sum_;
    sum_ = t;
  }

  int64_t count_ = 0, nan_ = 0, pos_inf_ = 0, neg_inf_ = 0, finite_ = 0;
  double sum_ = 0, comp_ = 0;
  bool moments_ = false;
  std::vector<double> back_;    // values entered since the last move to the front
  Moments back_merged_;
  std::vector<Moments> front_;  // top: the oldest value's, merged with all below it
  std::deque<std::pair<int64_t, double>> minq_, maxq_;
};

struct Aggregate {
  std::string column;
  std::string fn;
  std::optional<Duration> window;
  std::string window_text;
  std::string as;
};

struct Lag {
  std::string column;
  int64_t n = 1;
  std::string as;
};

struct FeaturesArgs {
  std::vector<std::string> keys;
  std::string time;
  std::vector<Aggregate> aggregates;
  std::vector<Lag> lags;
  std::string time_since_last;
  bool online = false;  // keep each key's latest values for serving
};

std::optional<FeaturesArgs> ParseFeaturesArgs(const DocNode& with, const std::string& context, Diagnostics& diags,
                                              Mark mark) {
  ArgReader r(with, context, diags, mark);
  FeaturesArgs a;
  r.Get("input");
  if (auto k = r.StringList("key")) {
    a.keys = *k;
    if (k->empty()) r.Error(r.Get("key"), "'key' must name at least one column");
  } else {
    r.Error(nullptr, "missing required argument 'key'");
  }
  a.time = r.String("time").value_or("");
  if (const DocNode* list = r.Get("aggregates")) {
    if (!list->is_sequence()) {
      r.Error(list, "'aggregates' must be a list of {column, fn, window, as}");
    } else {
      for (const auto& item : list->items()) {
        ArgReader ar(*item, context + ": aggregates", diags, Within(*item, mark));
        Aggregate g;
        g.column = ar.String("column", true).value_or("");
        if (auto fn = ar.Choice("fn", kFns)) g.fn = *fn;
        if (!ar.Get("fn")) ar.Error(item.get(), "missing required argument 'fn'");
        if (auto w = ar.String("window")) {
          g.window_text = *w;
          if (!HasPlaceholder(*ar.Get("window"))) {
            g.window = ParseDuration(*w);
            if (!g.window || g.window->count() <= 0) {
              ar.Error(ar.Get("window"), "'window' must be a duration like 30m, 24h or 7d, found '" + *w + "'");
            }
          }
        }
        g.as = ar.String("as").value_or(g.column + "_" + g.fn + (g.window_text.empty() ? "" : "_" + g.window_text));
        ar.RejectUnknown({"column", "fn", "window", "as"});
        a.aggregates.push_back(std::move(g));
      }
    }
  }
  if (const DocNode* list = r.Get("lags")) {
    if (!list->is_sequence()) {
      r.Error(list, "'lags' must be a list of {column, n, as}");
    } else {
      for (const auto& item : list->items()) {
        ArgReader lr(*item, context + ": lags", diags, Within(*item, mark));
        Lag l;
        l.column = lr.String("column", true).value_or("");
        if (auto n = lr.Integer("n", 1, std::numeric_limits<int32_t>::max())) l.n = *n;
        l.as = lr.String("as").value_or(l.column + "_lag_" + std::to_string(l.n));
        lr.RejectUnknown({"column", "n", "as"});
        a.lags.push_back(std::move(l));
      }
    }
  }
  a.time_since_last = r.String("time_since_last").value_or("");
  if (a.time.empty()) {
    for (const Aggregate& g : a.aggregates) {
      if (g.window) r.Error(r.Get("aggregates"), "aggregate '" + g.as + "' has a window but the features have no 'time'");
    }
    if (!a.lags.empty()) r.Error(r.Get("lags"), "'lags' need 'time' (the order of rows within a key)");
    if (!a.time_since_last.empty()) r.Error(r.Get("time_since_last"), "'time_since_last' needs 'time'");
  }
  a.online = r.Bool("online").value_or(false);
  r.RejectUnknown({"input", "key", "time", "aggregates", "lags", "time_since_last", "online"});
  if (!r.ok()) return std::nullopt;
  return a;
}

// The value column of an aggregate as doubles (count works on any type).
struct Values {
  std::vector<double> v;
  const Column* column = nullptr;
  bool Valid(int64_t r) const { return column->IsValid(r); }
};

Values NumericValues(const Column& c, const std::string& name, const std::string& fn) {
  Values out;
  out.column = &c;
  if (fn == "count") return out;
  if (c.type() == DataType::kFloat64) {
    out.v.assign(c.doubles(), c.doubles() + c.length());
  } else if (c.type() == DataType::kInt64 || c.type() == DataType::kBool) {
    out.v.resize(static_cast<size_t>(c.length()));
    for (int64_t r = 0; r < c.length(); ++r) out.v[r] = c.type() == DataType::kBool ? c.bools()[r] : static_cast<double>(c.ints()[r]);
  } else if (fn != "last") {
    throw OpError("aggregate " + fn + " of '" + name + "': the column is " +
                       std::string(columnar::TypeName(c.type())) + ", not a number");
  }
  return out;
}

class FeaturesOperator final : public Operator {
 public:
  std::string_view name() const override { return "features"; }
  bool produces_table() const override { return true; }
  bool consumes_table() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseFeaturesArgs(*task.with, "task '" + task.id + "': features", diags, task.mark);
  }

  std::optional<KnownColumns> CheckColumns(const TaskSpec& task, const KnownColumns* input,
                                           Diagnostics& diags) const override {
    const std::string context = "task '" + task.id + "': features";
    auto args = ParseFeaturesArgs(*task.with, context, diags, task.mark);
    ColumnChecker c(input, context, diags, task.mark);
    if (!args || !c.active()) return std::nullopt;
    const DocNode& with = *task.with;
    for (const std::string& k : args->keys) c.Need(with.Find("key"), "key", k);
    if (!args->time.empty()) c.NeedType(with.Find("time"), "time", args->time, {"timestamp"}, "a timestamp");
    const DocNode* aggregates = with.Find("aggregates");
    for (size_t i = 0; i < args->aggregates.size(); ++i) {
      const Aggregate& g = args->aggregates[i];
      const DocNode* at = aggregates ? aggregates->items()[i].get() : nullptr;
      const std::string where = "aggregate '" + g.as + "'";
      if (g.fn == "count" || g.fn == "last") {
        c.Need(at, where, g.column);
      } else {
        c.NeedType(at, where, g.column, {"int64", "float64", "bool"}, "a number");
      }
    }
    // The new columns, once every reference was checked against the input.
    // A count says nothing of the values; every other feature is computed
    // from a person's values and keeps their mark.
    std::vector<std::string> made;
    for (const Aggregate& g : args->aggregates) {
      const std::string* source = c.TypeOf(g.column);
      c.Set(g.as, g.fn == "count" ? "int64" : g.fn == "last" ? (source ? *source : "") : "float64");
      c.Derive(g.as, g.fn == "count" ? std::vector<std::string>{} : std::vector<std::string>{g.column});
      made.push_back(g.as);
    }
    for (const Lag& l : args->lags) {
      c.Need(with.Find("lags"), "lag '" + l.as + "'", l.column);
      const std::string* source = c.TypeOf(l.column);
      c.Set(l.as, source ? *source : "");
      c.Derive(l.as, {l.column});
      made.push_back(l.as);
    }
    if (!args->time_since_last.empty()) {
      c.Set(args->time_since_last, "float64");
      c.Derive(args->time_since_last, {args->time});
      made.push_back(args->time_since_last);
    }
    if (args->online) {
      // The online store keeps the keys and these features, served to anyone with a viewer token.
      std::vector<std::string> online = args->keys;
      online.insert(online.end(), made.begin(), made.end());
      c.RefusePii(task, online, with.Find("online"));
    }
    return c.Result();
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseFeaturesArgs(ctx.args(), "features", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    columnar::TablePtr input = MainInput(ctx);
    try {
      // Online point-in-time features are those of a probe row per key just
      // after its latest row (every row of the key before it, the latest
      // included): computed with the table, then cut off.
      const bool probe = args->online && !args->time.empty();
      columnar::TablePtr probed = probe ? WithProbes(*input, *args) : input;
      Batches w = Batches::Of(*probed);
      w.SpillTo(SpillIfLarge(ctx, probed->MemoryBytes()));
      Columns t(std::move(w));
      Added added = args->time.empty() ? GroupBy(*args, t) : PointInTime(*args, t);
      const size_t features = added.size();
      std::vector<std::string> names;
      for (const auto& [field, column] : added) names.push_back(field.name);
      columnar::TablePtr out = Extend(t.batches(), std::move(added), input->metadata());
      columnar::TablePtr latest;
      if (probe) std::tie(out, latest) = CutProbes(out, *input, *args, names);
      if (ctx.cancel().cancelled()) return TaskResult::Failure("cancelled");
      TaskResult result = TaskResult::Success();
      result.metrics.rows_in = input->num_rows();
      result.metrics.rows_out = out->num_rows();
      result.metrics.summary = std::to_string(features) + " feature columns" +
                               (args->time.empty() ? "" : " (point-in-time by " + args->time + ")");
      PublishOutput(ctx, out, result.metrics);
      if (args->online) {
        if (!latest) latest = Latest(*out, *args, names);
        PersistTable(ctx, *latest, "online");
        result.metrics.summary += "; " + std::to_string(latest->num_rows()) + " keys online";
      }
      return result;
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
  }

 private:
  using Added = std::vector<std::pair<columnar::Field, ColumnPtr>>;

  // A table as one batch, its columns by name, its rows grouped by `keys`.
  struct KeyedRows {
    KeyedRows(const columnar::Table& table, const std::vector<std::string>& keys)
        : flat(columnar::Concatenate(table)), groups(Group(keys)) {}
    ColumnPtr Get(const std::string& name) const {
      const columnar::Schema& schema = flat->schema();
      auto idx = schema.IndexOf(name);
      if (!idx) ThrowMissingColumn("features", name, schema.names());
      return flat->num_batches() ? flat->batch(0).columns[*idx] : std::make_shared<Column>(schema.field(*idx).type, 0);
    }
    columnar::TablePtr flat;
    columnar::Grouping groups;

   private:
    columnar::Grouping Group(const std::vector<std::string>& keys) const {
      std::vector<ColumnPtr> columns;
      for (const std::string& k : keys) columns.push_back(Get(k));
      return columnar::GroupRows(columns);
    }
  };

  // `input` and, as one more batch, a probe row per key: its key, a time
  // 1 us after the key's latest, nulls elsewhere. A probe comes after every
  // row of its key, so no row sees it (rows see strictly earlier ones).
  static columnar::TablePtr WithProbes(const columnar::Table& input, const FeaturesArgs& a) {
    const KeyedRows rows(input, a.keys);
    const int64_t groups = rows.groups.num_groups();
    auto out = std::make_shared<columnar::Table>(input.schema());
    for (int b = 0; b < input.num_batches(); ++b) out->AddBatch(input.batch(b));
    for (const auto& [key, value] : input.metadata()) out->SetMetadata(key, value);
    if (groups == 0) return out;
    const ColumnPtr time = rows.Get(a.time);
    if (time->type() != DataType::kTimestamp) return out;  // PointInTime names the error
    std::vector<int64_t> first(static_cast<size_t>(groups), -1);
    std::vector<std::optional<int64_t>> newest(static_cast<size_t>(groups));
    for (int64_t r = 0; r < rows.flat->num_rows(); ++r) {
      const int64_t id = rows.groups.group_ids[r];
      if (first[id] < 0) first[id] = r;
      if (time->IsValid(r) && (!newest[id] || time->ints()[r] > *newest[id])) newest[id] = time->ints()[r];
    }
    columnar::Batch batch{groups, {}};
    for (const columnar::Field& f : input.schema().fields()) {
      if (std::find(a.keys.begin(), a.keys.end(), f.name) != a.keys.end()) {
        batch.columns.push_back(columnar::Take(*rows.Get(f.name), first));
        continue;
      }
      columnar::ColumnBuilder b(f.type);
      b.Reserve(groups);
      for (int64_t id = 0; id < groups; ++id) {
        if (f.name == a.time && newest[id]) {
          if (*newest[id] == std::numeric_limits<int64_t>::max()) {
            throw OpError("features: online: key of row " + std::to_string(first[id] + 1) + " has its latest '" + a.time +
                          "' at the end of time (int64's maximum): nothing comes after it");
          }
          b.AppendInt(*newest[id] + 1);
        } else {  // (a key without a time: PointInTime names the nulls)
          b.AppendNull();
        }
      }
      batch.columns.push_back(b.Finish());
    }
    out->AddBatch(std::move(batch));
    return out;
  }

  // `probed`'s rows of `input` (the output) and its probe rows as the online
  // features: the key columns and `features`, but time_since_last (it
  // depends on the request's time: a request sends its own).
  static std::pair<columnar::TablePtr, columnar::TablePtr> CutProbes(const columnar::TablePtr& probed_table,
                                                                     const columnar::Table& input, const FeaturesArgs& a,
                                                                     const std::vector<std::string>& features) {
    const columnar::Table& probed = *probed_table;
    if (probed.num_rows() == input.num_rows()) return {probed_table, Latest(probed, a, features)};  // no key: no probe
    auto out = std::make_shared<columnar::Table>(probed.schema());
    int64_t kept = 0;
    int b = 0;
    for (; b < probed.num_batches() && kept < input.num_rows(); ++b) {
      kept += probed.batch(b).num_rows;
      out->AddBatch(probed.batch(b));
    }
    for (const auto& [key, value] : probed.metadata()) out->SetMetadata(key, value);
    if (kept != input.num_rows()) throw OpError("features: internal error: the probe rows are not a batch of their own");
    columnar::Schema schema;
    columnar::Batch batch{probed.num_rows() - kept, {}};
    std::vector<std::string> names = a.keys;
    names.insert(names.end(), features.begin(), features.end());
    columnar::Table rest(probed.schema());
    for (; b < probed.num_batches(); ++b) rest.AddBatch(probed.batch(b));
    columnar::TablePtr probes = columnar::Concatenate(rest);
    for (const std::string& name : names) {
      const int idx = *probed.schema().IndexOf(name);
      const columnar::Field& f = probed.schema().field(idx);
      schema.Add(f);
      if (name == a.time_since_last) {
        columnar::ColumnBuilder nulls(f.type);
        for (int64_t r = 0; r < batch.num_rows; ++r) nulls.AppendNull();
        batch.columns.push_back(nulls.Finish());
      } else {
        batch.columns.push_back(probes->batch(0).columns[idx]);
      }
    }
    auto latest = std::make_shared<columnar::Table>(schema);
    latest->AddBatch(std::move(batch));
    latest->SetMetadata("pipe.online_keys", nlohmann::json(a.keys).dump());
    return {out, latest};
  }

  // The online features without `time`: per key, the key columns and the
  // feature columns of its last row (the aggregates are the whole key's). The
  // key columns are named in the "pipe.online_keys" metadata.
  static columnar::TablePtr Latest(const columnar::Table& table, const FeaturesArgs& a,
                                   const std::vector<std::string>& features) {
    const KeyedRows rows(table, a.keys);
    const columnar::Grouping& g = rows.groups;
    const columnar::Schema& schema = rows.flat->schema();
    auto column = [&](const std::string& name) { return rows.Get(name); };
    const columnar::TablePtr& flat = rows.flat;
    std::vector<int64_t> best(static_cast<size_t>(g.num_groups()), -1);
    ColumnPtr time = a.time.empty() ? nullptr : column(a.time);
    for (int64_t r = 0; r < flat->num_rows(); ++r) {
      int64_t& b = best[g.group_ids[r]];
      if (b < 0 || !time || time->IsNull(b) || (time->IsValid(r) && time->ints()[r] >= time->ints()[b])) b = r;
    }
    columnar::Schema out_schema;
    columnar::Batch batch{g.num_groups(), {}};
    std::vector<std::string> names = a.keys;
    names.insert(names.end(), features.begin(), features.end());
    for (const std::string& name : names) {
      out_schema.Add({name, schema.field(*schema.IndexOf(name)).type});
      batch.columns.push_back(columnar::Take(*column(name), best));
    }
    auto out = std::make_shared<columnar::Table>(out_schema);
    out->AddBatch(std::move(batch));
    out->SetMetadata("pipe.online_keys", nlohmann::json(a.keys).dump());
    return out;
  }

  // The input's columns a step reads, each gathered from the batches once.
  class Columns {
   public:
    explicit Columns(Batches w) : w_(std::move(w)) {}
    const Batches& batches() const { return w_; }
    int64_t num_rows() const { return w_.rows(); }
    ColumnPtr Get(const std::string& name, const std::string& what) {
      int index = w_.Index(name, what);
      auto it = gathered_.find(index);
      if (it == gathered_.end()) it = gathered_.emplace(index, w_.Gather(index)).first;
      return it->second;
    }

   private:
    Batches w_;
    std::map<int, ColumnPtr> gathered_;
  };

  static ColumnPtr Col(Columns& t, const std::string& name, const std::string& what) { return t.Get(name, what); }

  static columnar::Grouping Keys(const FeaturesArgs& a, Columns& t) {
    std::vector<int> keys;
    for (const auto& k : a.keys) keys.push_back(t.batches().Index(k, "key"));
    return t.batches().Group(keys);
  }

  // The input's batches with the new columns appended, each cut at the
  // batch boundaries.
  static columnar::TablePtr Extend(Batches w, Added added, const std::map<std::string, std::string>& metadata) {
    for (auto& [f, c] : added) {
      for (const columnar::Field& have : w.fields()) {
        if (have.name == f.name) throw OpError("output column '" + f.name + "' already exists; set 'as'");
      }
      w.Set(f.name, f.type, w.Split(*c));
      c.reset();  // the whole column is no longer needed
    }
    return w.ToTable(metadata);
  }

  // Result type of an aggregate: count int64, last the column's type, the
  // rest float64.
  static DataType ResultType(const Aggregate& g, DataType source) {
    if (g.fn == "count") return DataType::kInt64;
    if (g.fn == "last") return source;
    return DataType::kFloat64;
  }

  static Added GroupBy(const FeaturesArgs& a, Columns& t) {
    const int64_t n = t.num_rows();
    columnar::Grouping g = Keys(a, t);
    const int64_t groups = g.num_groups();
    Added added;
    for (const Aggregate& agg : a.aggregates) {
      ColumnPtr src = Col(t, agg.column, "aggregate '" + agg.as + "'");
      Values vals = NumericValues(*src, agg.column, agg.fn);
      DataType type = ResultType(agg, src->type());
      std::vector<int64_t> counts(static_cast<size_t>(groups), 0);
      std::vector<double> sums(static_cast<size_t>(groups), 0), mins(static_cast<size_t>(groups), INFINITY),
          maxs(static_cast<size_t>(groups), -INFINITY), sq(static_cast<size_t>(groups), 0);
      std::vector<int64_t> last_row(static_cast<size_t>(groups), -1);
      if (agg.fn == "last" || agg.fn == "count") {
        for (int64_t r = 0; r < n; ++r) {
          if (!src->IsValid(r)) continue;
          ++counts[g.group_ids[r]];
          last_row[g.group_ids[r]] = r;
        }
      } else {
        kernels::GroupAggregate(g.group_ids.data(), vals.v.data(), src->validity(), n, counts.data(), sums.data(),
                                mins.data(), maxs.data());
        if (agg.fn == "std") {
          for (int64_t r = 0; r < n; ++r) {
            if (!src->IsValid(r)) continue;
            uint32_t id = g.group_ids[r];
            double d = vals.v[r] - sums[id] / static_cast<double>(counts[id]);
            sq[id] += d * d;
          }
        }
      }
      // Per group result, then gathered to rows.
      if (agg.fn == "last") {
        std::vector<int64_t> rows(static_cast<size_t>(n));
        for (int64_t r = 0; r < n; ++r) rows[r] = last_row[g.group_ids[r]];
        added.push_back({{agg.as, type}, TakeOrNull(*src, rows)});
        continue;
      }
      std::vector<double> per(static_cast<size_t>(groups));
      std::vector<uint8_t> valid(static_cast<size_t>(groups), 1);
      for (int64_t id = 0; id < groups; ++id) {
        double c = static_cast<double>(counts[id]);
        if (agg.fn == "count") {
          per[id] = c;
        } else if (counts[id] == 0 || (agg.fn == "std" && counts[id] < 2)) {
          valid[id] = 0;
        } else if (agg.fn == "sum") {
          per[id] = sums[id];
        } else if (agg.fn == "mean") {
          per[id] = sums[id] / c;
        } else if (agg.fn == "min" || agg.fn == "max") {
          // NaN is skipped; a key whose values are all NaN has none left.
          per[id] = mins[id] > maxs[id] ? std::nan("") : agg.fn == "min" ? mins[id] : maxs[id];
        } else {
          per[id] = std::sqrt(sq[id] / (c - 1));
        }
      }
      added.push_back({{agg.as, type}, Gather(per, valid, g.group_ids, type)});
    }
    return added;
  }

  static ColumnPtr Gather(const std::vector<double>& per, const std::vector<uint8_t>& valid,
                          const std::vector<uint32_t>& ids, DataType type) {
    const int64_t n = static_cast<int64_t>(ids.size());
    auto col = std::make_shared<Column>(type, n);
    Column& c = *col;
    for (int64_t r = 0; r < n; ++r) {
      uint32_t id = ids[r];
      if (!valid[id]) {
        c.SetNull(r);
      } else if (type == DataType::kInt64) {
        c.mutable_values().as<int64_t>()[r] = static_cast<int64_t>(per[id]);
      } else {
        c.mutable_values().as<double>()[r] = per[id];
      }
    }
    return col;
  }

  // Rows `rows` of `src`, null where the index is -1.
  static ColumnPtr TakeOrNull(const Column& src, const std::vector<int64_t>& rows) {
    std::vector<int64_t> safe(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) safe[i] = rows[i] < 0 ? 0 : rows[i];
    if (src.length() == 0) return std::make_shared<Column>(src.type(), 0);
    ColumnPtr taken = columnar::Take(src, safe);
    bool any_missing = std::any_of(rows.begin(), rows.end(), [](int64_t r) { return r < 0; });
    if (!any_missing) return taken;
    if (src.type() == DataType::kString) {
      columnar::ColumnBuilder b(DataType::kString);
      for (size_t i = 0; i < rows.size(); ++i) {
        rows[i] < 0 || taken->IsNull(static_cast<int64_t>(i)) ? b.AppendNull() : b.AppendString(taken->StringAt(static_cast<int64_t>(i)));
      }
      return b.Finish();
    }
    auto copy = std::make_shared<Column>(src.type(), static_cast<int64_t>(rows.size()), taken->values_buffer().Clone(),
                                         taken->validity_buffer().Clone());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i] < 0) copy->SetNull(static_cast<int64_t>(i));
    }
    return copy;
  }

  // Point in time: rows sorted by (key group, time, row); for each row the
  // window is the rows of its group with time in [t - window, t).
  static Added PointInTime(const FeaturesArgs& a, Columns& t) {
    const int64_t n = t.num_rows();
    ColumnPtr time = Col(t, a.time, "time");
    if (time->type() != DataType::kTimestamp) {
      throw OpError("time: column '" + a.time + "' is " + std::string(columnar::TypeName(time->type())) +
                         ", not a timestamp");
    }
    if (time->has_nulls()) throw OpError("time: column '" + a.time + "' has nulls; drop or fill them first");
    columnar::Grouping g = Keys(a, t);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    const int64_t* ts = time->ints();
    std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      if (g.group_ids[x] != g.group_ids[y]) return g.group_ids[x] < g.group_ids[y];
      if (ts[x] != ts[y]) return ts[x] < ts[y];
      return x < y;
    });
    // Group ranges in `order`.
    std::vector<int64_t> group_start;
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0 || g.group_ids[order[i]] != g.group_ids[order[i - 1]]) group_start.push_back(i);
    }
    group_start.push_back(n);

    Added added;
    for (const Aggregate& agg : a.aggregates) {
      ColumnPtr src = Col(t, agg.column, "aggregate '" + agg.as + "'");
      Values vals = NumericValues(*src, agg.column, agg.fn);
      DataType type = ResultType(agg, src->type());
      const int64_t window = agg.window ? std::chrono::duration_cast<std::chrono::microseconds>(*agg.window).count() : -1;
      std::vector<double> out(static_cast<size_t>(n), 0);
      std::vector<uint8_t> valid(static_cast<size_t>(n), 0);
      std::vector<int64_t> last_rows(static_cast<size_t>(n), -1);
      SlidingWindow w;
      for (size_t gi = 0; gi + 1 < group_start.size(); ++gi) {
        SlideGroup(order, group_start[gi], group_start[gi + 1], ts, window, agg.fn, vals, *src, out, valid, last_rows, w);
      }
      if (agg.fn == "last") {
        added.push_back({{agg.as, type}, TakeOrNull(*src, last_rows)});
        continue;
      }
      std::vector<uint32_t> identity(static_cast<size_t>(n));
      std::iota(identity.begin(), identity.end(), 0u);
      added.push_back({{agg.as, type}, Gather(out, valid, identity, type)});
    }
    for (const Lag& lag : a.lags) {
      ColumnPtr src = Col(t, lag.column, "lag '" + lag.as + "'");
      std::vector<int64_t> rows(static_cast<size_t>(n), -1);
      for (size_t gi = 0; gi + 1 < group_start.size(); ++gi) {
        for (int64_t i = group_start[gi] + lag.n; i < group_start[gi + 1]; ++i) rows[order[i]] = order[i - lag.n];
      }
      added.push_back({{lag.as, src->type()}, TakeOrNull(*src, rows)});
    }
    if (!a.time_since_last.empty()) {
      std::vector<double> out(static_cast<size_t>(n), 0);
      std::vector<uint8_t> valid(static_cast<size_t>(n), 0);
      for (size_t gi = 0; gi + 1 < group_start.size(); ++gi) {
        int64_t begin = group_start[gi], end = group_start[gi + 1];
        int64_t prev_time_end = begin;  // rows [begin, prev_time_end) are strictly earlier
        for (int64_t i = begin; i < end; ++i) {
          while (ts[order[prev_time_end]] < ts[order[i]]) ++prev_time_end;
          if (prev_time_end > begin) {
            valid[order[i]] = 1;
            out[order[i]] = static_cast<double>(ts[order[i]] - ts[order[prev_time_end - 1]]) / 1e6;
          }
        }
      }
      std::vector<uint32_t> identity(static_cast<size_t>(n));
      std::iota(identity.begin(), identity.end(), 0u);
      added.push_back({{a.time_since_last, DataType::kFloat64}, Gather(out, valid, identity, DataType::kFloat64)});
    }
    return added;
  }

  // One key's rows order[begin, end): for each, the aggregate over rows with
  // time in [t - window, t) (window < 0: all earlier rows). The window slides
  // by adding rows at its front and removing them at its back (`w`, reset
  // here, is reused over the groups).
  static void SlideGroup(const std::vector<int64_t>& order, int64_t begin, int64_t end, const int64_t* ts,
                         int64_t window, const std::string& fn, const Values& vals, const Column& src,
                         std::vector<double>& out, std::vector<uint8_t>& valid, std::vector<int64_t>& last_rows,
                         SlidingWindow& w) {
    int64_t lo = begin, hi = begin;  // the window is order[lo, hi)
    w.Reset(fn == "std");
    const bool numeric = !vals.v.empty();
    for (int64_t i = begin; i < end; ++i) {
      const int64_t row = order[i];
      const int64_t t = ts[row];
      for (; hi < end && ts[order[hi]] < t; ++hi) {
        if (!src.IsValid(order[hi])) continue;
        numeric ? w.Add(hi, vals.v[order[hi]]) : w.AddUncounted();
      }
      if (window >= 0) {
        for (; lo < hi && ts[order[lo]] < t - window; ++lo) {
          if (!src.IsValid(order[lo])) continue;
          numeric ? w.Remove(lo, vals.v[order[lo]]) : w.RemoveUncounted();
        }
      }
      // The latest valid row in the window, for `last`.
      if (fn == "last") {
        for (int64_t p = hi - 1; p >= lo; --p) {
          if (src.IsValid(order[p])) {
            last_rows[row] = order[p];
            break;
          }
        }
        continue;
      }
      if (fn == "count") {
        out[row] = static_cast<double>(w.count());
        valid[row] = 1;
        continue;
      }
      if (w.count() == 0 || (fn == "std" && w.count() < 2)) continue;
      if (fn == "sum") {
        out[row] = w.Sum();
      } else if (fn == "mean") {
        out[row] = w.Sum() / static_cast<double>(w.count());
      } else if (fn == "min") {
        out[row] = w.Min();
      } else if (fn == "max") {
        out[row] = w.Max();
      } else {
        out[row] = w.Std();
      }
      valid[row] = 1;
    }
  }
};

}  // namespace

std::unique_ptr<Operator> MakeFeaturesOperator() { return std::make_unique<FeaturesOperator>(); }

}  // namespace pipeline::ops
