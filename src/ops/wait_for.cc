// wait_for: a sensor. Each try is a series of quick checks of one condition
// (files that landed and settled, a query that returns a true row, a URL
// that answers 2xx); between checks the task is `waiting` and holds no
// worker (TaskResult::CheckAgainAt: the executor's timer starts the next
// check), so a thousand waiting sensors cost a thousand timers. When the
// condition still does not hold `timeout` after the try's first check, the
// task fails or, with `on_timeout: skip`, is skipped.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "net/http_post.h"
#include "ops/args.h"
#include "ops/operators.h"
#include "ops/table_io.h"
#include "sources/database.h"

namespace pipeline::ops {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr Duration kDefaultPokeInterval = std::chrono::seconds(30);
constexpr Duration kDefaultTimeout = std::chrono::hours(1);  // the contract's
constexpr milliseconds kHttpTimeout{10'000};

struct WaitArgs {
  // One of these three.
  std::string path;      // a file or glob, relative to the DAG's folder
  std::string sql;       // on `source`
  std::string source;
  std::string http;
  int64_t min_size = 0;  // bytes, each matching file
  Duration settle{0};    // no matching file modified for this long
  Duration poke_interval = kDefaultPokeInterval;
  Duration timeout = kDefaultTimeout;
  bool skip_on_timeout = false;
};

std::optional<WaitArgs> ParseWaitArgs(const DocNode& with, const std::string& context, Diagnostics& diags, Mark mark) {
  ArgReader r(with, context, diags, mark);
  WaitArgs a;
  const char* kinds[] = {"path", "sql", "http"};
  int given = 0;
  for (const char* k : kinds) given += r.Get(k) != nullptr;
  if (given != 1) {
    r.Error(given ? r.Get(r.Get("sql") ? "sql" : "http") : nullptr,
            "needs exactly one of 'path' (a file or glob), 'sql' (with 'source') or 'http' (a URL)");
  }
  if (auto p = r.String("path")) a.path = *p;
  if (auto q = r.String("sql")) a.sql = *q;
  for (const char* k : {"path", "sql"}) {
    if (const DocNode* n = r.Get(k); n && n->is_scalar() && n->text().empty()) r.Error(n, "'" + std::string(k) + "' is empty");
  }
  if (auto u = r.String("http")) {
    a.http = *u;
    std::string why;
    if (!HasPlaceholder(*r.Get("http")) && !net::ParseUrl(*u, &why)) r.Error(r.Get("http"), "'http': " + why);
  }
  if (r.Get("source")) {
    if (a.sql.empty()) r.Error(r.Get("source"), "'source' is for 'sql'");
    if (auto url = DatabaseUrl(r, "source")) a.source = *url;
  } else if (r.Get("sql")) {
    r.Error(r.Get("sql"), "'sql' needs 'source' (a postgresql://... URL or sqlite:PATH)");
  }
  if (const DocNode* n = r.Get("min_size")) {
    if (a.path.empty() && !r.Get("path")) r.Error(n, "'min_size' is for 'path'");
    if (auto v = r.Integer("min_size", 0, std::numeric_limits<int64_t>::max())) a.min_size = *v;
  }
  if (const DocNode* n = r.Get("settle")) {
    if (!r.Get("path")) r.Error(n, "'settle' is for 'path'");
    if (auto d = r.DurationArg("settle", false)) a.settle = *d;
  }
  if (auto d = r.DurationArg("poke_interval", true)) a.poke_interval = *d;
  if (auto d = r.DurationArg("timeout", true)) a.timeout = *d;
  if (auto c = r.Choice("on_timeout", {"fail", "skip"})) a.skip_on_timeout = *c == "skip";
  r.RejectUnknown({"path", "min_size", "settle", "sql", "source", "http", "poke_interval", "timeout", "on_timeout"});
  if (!r.ok()) return std::nullopt;
  return a;
}

// What one check found: met, or why not (and, for files that have not
// settled, when they will have).
struct Check {
  bool met = false;
  std::string why;
  std::optional<TimePoint> settles_at;  // real time
};

Check CheckPath(const TaskContext& ctx, const WaitArgs& a) {
  const std::string pattern = ResolvePath(ctx, a.path);
  std::vector<std::string> files = ExpandPath(pattern);
  if (files.empty()) return {false, "no file matches " + a.path, std::nullopt};
  std::chrono::system_clock::time_point newest{};
  for (const std::string& f : files) {
    struct stat st{};
    if (::stat(f.c_str(), &st) != 0) return {false, f + " went away", std::nullopt};
    if (a.min_size > 0 && st.st_size < a.min_size) {
      return {false, f + " has " + std::to_string(st.st_size) + " bytes, fewer than min_size " + std::to_string(a.min_size),
              std::nullopt};
    }
    auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec)) +
                 duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    newest = std::max(newest, mtime);
  }
  const std::string what = files.size() == 1 ? files[0] : std::to_string(files.size()) + " files";
  if (a.settle.count() > 0) {
    const TimePoint settled = std::chrono::time_point_cast<std::chrono::microseconds>(newest) + a.settle;
    if (SystemClock::Default()->Now() < settled) return {false, what + " changed less than " + FormatDuration(a.settle) + " ago", settled};
  }
  return {true, what + (files.size() == 1 ? " is there" : " are there"), std::nullopt};
}

bool Truthy(const columnar::Column& c, int64_t row) {
  if (c.IsNull(row)) return false;
  switch (c.type()) {
    case columnar::DataType::kBool: return c.bools()[row] != 0;
    case columnar::DataType::kInt64:
    case columnar::DataType::kTimestamp: return c.ints()[row] != 0;
    case columnar::DataType::kFloat64: return c.doubles()[row] != 0 && !std::isnan(c.doubles()[row]);
    case columnar::DataType::kString: {
      std::string_view s = c.StringAt(row);
      return !s.empty() && s != "0" && s != "f" && s != "false" && s != "FALSE" && s != "False";
    }
  }
  return false;
}

// A PostgreSQL URL whose connection and statement give up after 10 s, so
// that a check never holds its worker longer (libpq's connect_timeout and the
// server's statement_timeout, unless the URL sets them itself).
std::string WithTimeouts(const std::string& url) {
  if (sources::KindOf(url) != sources::Kind::kPostgres) return url;
  std::string out = url;
  auto add = [&](const std::string& key, const std::string& value) {
    if (out.find(key + "=") != std::string::npos) return;
    out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
  };
  add("connect_timeout", "10");
  if (out.find("statement_timeout") == std::string::npos) add("options", "-c%20statement_timeout%3D10000");
  return out;
}

Check CheckSql(const WaitArgs& a) {
  sources::QueryOptions options;
  options.batch_rows = 1;
  columnar::TablePtr rows = sources::ReadQuery(WithTimeouts(a.source), a.sql, options);
  if (rows->num_rows() == 0 || rows->schema().fields().empty()) return {false, "the query returned no row", std::nullopt};
  const columnar::Batch& first = rows->batch(0);
  if (!Truthy(*first.columns[0], 0)) return {false, "the query's first value is not true", std::nullopt};
  return {true, "the query returned a true row", std::nullopt};
}

Check CheckHttp(const WaitArgs& a) {
  std::string why;
  auto url = net::ParseUrl(a.http, &why);
  if (!url) throw OpError("wait_for: 'http': " + why);
  net::PostResult r = net::Get(*url, kHttpTimeout, "pipe-wait_for/1");
  if (r.ok()) return {true, net::Shown(*url) + " answered " + std::to_string(r.status), std::nullopt};
  return {false, net::Shown(*url) + ": " + (r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error), std::nullopt};
}

class WaitForOperator final : public Operator {
 public:
  std::string_view name() const override { return "wait_for"; }
  bool is_sensor() const override { return true; }

  void CheckArgs(const TaskSpec& task, Diagnostics& diags) const override {
    ParseWaitArgs(*task.with, "task '" + task.id + "': wait_for", diags, task.mark);
  }

  TaskResult Execute(TaskContext& ctx) const override {
    Diagnostics diags(ctx.task().id);
    auto args = ParseWaitArgs(ctx.args(), "wait_for", diags, ctx.task().mark);
    if (!args) return TaskResult::Failure(diags.items().front().message);
    if (!args->source.empty()) args->source = ResolveDatabaseUrl(ctx, args->source);
    const WaitArgs& a = *args;
    Check check;
    try {
      check = !a.path.empty() ? CheckPath(ctx, a) : !a.sql.empty() ? CheckSql(a) : CheckHttp(a);
    } catch (const sources::SourceError& e) {
      if (!e.unavailable()) return TaskResult::Failure(std::string("wait_for: ") + e.what());  // a query that cannot run
      check = {false, e.what(), std::nullopt};  // a database that does not answer yet: wait on
    } catch (const OpError& e) {
      return TaskResult::Failure(e.what());
    }
    const TimePoint now = ctx.Now();
    const Duration waited = duration_cast<Duration>(now - ctx.try_started_at());
    TaskResult result;
    if (check.met) {
      result = TaskResult::Success();
      result.metrics.summary = check.why + " (after " + FormatDuration(waited) + ")";
      ctx.Log("wait_for: " + result.metrics.summary);
      return result;
    }
    if (waited >= a.timeout) {
      const std::string why = "wait_for: timed out after " + FormatDuration(a.timeout) + ": " + check.why;
      ctx.Log(why);
      if (!a.skip_on_timeout) {
        TaskResult failed = TaskResult::Failure(why);
        failed.final = true;  // another try would wait as long again for the same thing
        return failed;
      }
      result = TaskResult::Skipped();
      result.metrics.summary = why;
      return result;
    }
    TimePoint next = now + a.poke_interval;
    if (check.settles_at) {  // files that only have to settle: check when they will have
      const TimePoint settles = now + (*check.settles_at - SystemClock::Default()->Now());
      next = std::min(next, settles);
    }
    next = std::min(next, ctx.try_started_at() + a.timeout);  // a timeout is noticed on time
    result = TaskResult::CheckAgainAt(next);
    result.metrics.summary = "waiting: " + check.why;
    ctx.Log("wait_for: " + check.why + "; next check at " + FormatIso8601(next));
    return result;
  }
};

}  // namespace

std::unique_ptr<Operator> MakeWaitForOperator() { return std::make_unique<WaitForOperator>(); }

}  // namespace pipeline::ops
