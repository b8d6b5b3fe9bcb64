#include "dag/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/operator.h"
#include "exec/builtin_operators.h"
#include "ops/data_operators.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;

const fs::path kDagsDir = fs::path(PIPE_SOURCE_DIR) / "tests" / "dags";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const OperatorRegistry& Builtins() {
  static const OperatorRegistry r = [] {
    OperatorRegistry reg;
    RegisterBuiltinOperators(reg);
    RegisterDataOperators(reg);
    return reg;
  }();
  return r;
}

std::string Render(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) out += d.ToString() + "\n";
  return out;
}

// Every tests/dags/invalid/NAME.yaml yields exactly NAME.expected.
class InvalidDagTest : public testing::TestWithParam<std::string> {};

TEST_P(InvalidDagTest, ReportsExactDiagnostics) {
  fs::path yaml = kDagsDir / "invalid" / (GetParam() + ".yaml");
  fs::path expected = kDagsDir / "invalid" / (GetParam() + ".expected");
  LoadResult r = DagLoader(Builtins()).LoadText(ReadFile(yaml), yaml.filename().string());
  EXPECT_FALSE(r.dag.has_value());
  EXPECT_EQ(Render(r.diagnostics), ReadFile(expected));
}

std::vector<std::string> CasesIn(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kDagsDir / folder)) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Files, InvalidDagTest, testing::ValuesIn(CasesIn("invalid")),
                         [](const auto& p) { return p.param; });

class ValidDagTest : public testing::TestWithParam<std::string> {};

TEST_P(ValidDagTest, LoadsWithoutDiagnostics) {
  fs::path yaml = kDagsDir / "valid" / (GetParam() + ".yaml");
  LoadResult r = DagLoader(Builtins()).LoadFile(yaml.string());
  EXPECT_EQ(Render(r.diagnostics), "");
  ASSERT_TRUE(r.dag.has_value());
  EXPECT_FALSE(r.dag->content_hash.empty());
}

INSTANTIATE_TEST_SUITE_P(Files, ValidDagTest, testing::ValuesIn(CasesIn("valid")),
                         [](const auto& p) { return p.param; });

LoadResult Load(const std::string& text, const OperatorRegistry& ops = Builtins()) {
  return DagLoader(ops).LoadText(text, "t.yaml");
}

TEST(LoaderTest, FullExampleHasEveryValue) {
  // Given the file with every key, then each lands in the spec.
  LoadResult r = DagLoader(Builtins()).LoadFile((kDagsDir / "valid" / "full.yaml").string());
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  const DagSpec& d = *r.dag;
  EXPECT_EQ(d.id, "full_example");
  EXPECT_EQ(d.description, "Hourly refresh of the fraud model");
  EXPECT_EQ(d.schedule, "0 * * * *");
  EXPECT_EQ(d.timezone, "Europe/Berlin");
  EXPECT_EQ(FormatIso8601(*d.start_date), "2026-01-01T00:00:00Z");
  // A date without an offset is midnight in the DAG's zone (CET = UTC+1).
  EXPECT_EQ(FormatIso8601(*d.end_date), "2026-12-31T23:00:00Z");
  EXPECT_TRUE(d.catchup);
  EXPECT_EQ(d.max_active_runs, 2);
  EXPECT_EQ(d.max_active_tasks, 4);
  ASSERT_EQ(d.params.size(), 5u);
  EXPECT_EQ(d.params[0].name, "source");
  EXPECT_TRUE(d.params[4].value->is_sequence());
  ASSERT_EQ(d.tasks.size(), 3u);
  const TaskSpec& extract = d.tasks[0];
  EXPECT_EQ(extract.id, "extract");
  EXPECT_EQ(extract.retry.retries, 2);
  EXPECT_EQ(extract.retry.retry_delay, std::chrono::seconds(10));
  EXPECT_EQ(extract.retry.backoff, RetryBackoff::kExponential);
  EXPECT_EQ(extract.retry.max_retry_delay, std::chrono::minutes(10));
  EXPECT_EQ(extract.timeout, std::chrono::minutes(30));
  ASSERT_EQ(extract.env.size(), 2u);
  EXPECT_EQ(extract.env[0].first, "SOURCE");
  const TaskSpec& load = d.tasks[1];
  EXPECT_EQ(load.depends_on, std::vector<std::string>{"extract"});
  EXPECT_EQ(load.retry.retries, 0);
  EXPECT_EQ(load.timeout, std::chrono::minutes(90));
  EXPECT_FALSE(load.persist);
  EXPECT_EQ(load.with->Find("workdir")->text(), "/tmp");
  const TaskSpec& report = d.tasks[2];
  EXPECT_EQ(report.trigger_rule, TriggerRule::kAllDone);
  EXPECT_EQ(report.retry.backoff, RetryBackoff::kFixed);
}

TEST(LoaderTest, DefaultsWhenKeysAreAbsent) {
  LoadResult r = Load("dag: d\ntasks:\n  a: {op: shell, run: 'true'}\n");
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  EXPECT_EQ(r.dag->timezone, "UTC");
  EXPECT_FALSE(r.dag->schedule);
  EXPECT_FALSE(r.dag->catchup);
  EXPECT_EQ(r.dag->max_active_runs, 1);
  EXPECT_FALSE(r.dag->max_active_tasks);
  const TaskSpec& a = r.dag->tasks[0];
  EXPECT_EQ(a.retry.retries, 0);
  EXPECT_EQ(a.retry.retry_delay, std::chrono::seconds(10));
  EXPECT_EQ(a.retry.backoff, RetryBackoff::kFixed);
  EXPECT_EQ(a.retry.max_retry_delay, std::chrono::hours(1));
  EXPECT_FALSE(a.timeout);
  EXPECT_EQ(a.trigger_rule, TriggerRule::kAllSuccess);
  EXPECT_TRUE(a.persist);
  EXPECT_EQ(a.queue, "default");
  EXPECT_TRUE(a.with->is_map());
  r = Load("dag: d\ntasks:\n  a: {op: shell, run: 'true', queue: gpu-a100.v2}\n");
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  EXPECT_EQ(r.dag->tasks[0].queue, "gpu-a100.v2");
}

TEST(LoaderTest, TasksComeUpstreamFirst) {
  // Given tasks written downstream-first, then the spec lists them in dependency order.
  LoadResult r = Load(R"(dag: d
tasks:
  c: {op: shell, run: 'true', depends_on: [b]}
  b: {op: shell, run: 'true', depends_on: [a]}
  a: {op: shell, run: 'true'}
  z: {op: shell, run: 'true'}
)");
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  std::vector<std::string> ids;
  for (const auto& t : r.dag->tasks) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "z"}));
}

TEST(LoaderTest, CycleIsPrintedInOrder) {
  LoadResult r = Load(R"(dag: d
tasks:
  a: {op: shell, run: 'true', depends_on: [c]}
  b: {op: shell, run: 'true', depends_on: [a]}
  c: {op: shell, run: 'true', depends_on: [b]}
)");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].ToString(), "t.yaml: cycle: a -> b -> c -> a");
}

TEST(LoaderTest, ScheduleMacrosAndNullAreAccepted) {
  for (const char* s : {"'@hourly'", "'@daily'", "'@weekly'", "'@monthly'", "'@yearly'",
                        "'*/15 9-17 * JAN-MAR MON-FRI'"}) {
    LoadResult r = Load(std::string("dag: d\nschedule: ") + s +
                        "\nstart_date: 2026-01-01\ntasks:\n  a: {op: shell, run: 'true'}\n");
    EXPECT_TRUE(r.dag) << s << ": " << Render(r.diagnostics);
  }
  LoadResult none = Load("dag: d\nschedule: null\ntasks:\n  a: {op: shell, run: 'true'}\n");
  ASSERT_TRUE(none.dag);
  EXPECT_FALSE(none.dag->schedule);
}

TEST(LoaderTest, ScheduleAfterUpstreamTasksWithOrWithoutCron) {
  // Only upstream tasks: no start_date needed; sla and deadline count from
  // the run they start; run.upstream.DAG names their run.
  LoadResult only = Load("dag: d\nschedule: {after: etl.load}\ndeadline: 1h\n"
                         "tasks:\n  a: {op: shell, run: 'echo {{ run.upstream.etl }}', sla: 30m}\n");
  ASSERT_TRUE(only.dag) << Render(only.diagnostics);
  EXPECT_FALSE(only.dag->schedule);
  EXPECT_EQ(only.dag->after, (std::vector<std::string>{"etl.load"}));
  EXPECT_EQ(only.dag->ScheduleText(), "after etl.load");
  // With a cron expression: both start runs.
  LoadResult both = Load("dag: d\nschedule: {cron: '0 6 * * *', after: [etl.load, ml.train]}\nstart_date: 2026-01-01\n"
                         "tasks:\n  a: {op: shell, run: 'true'}\n");
  ASSERT_TRUE(both.dag) << Render(both.diagnostics);
  EXPECT_EQ(both.dag->schedule, "0 6 * * *");
  EXPECT_EQ(both.dag->ScheduleText(), "0 6 * * * or after etl.load, ml.train");
  LoadResult no_start = Load("dag: d\nschedule: {cron: '@daily', after: [etl.load]}\ntasks:\n  a: {op: shell, run: 'true'}\n");
  EXPECT_EQ(Render(no_start.diagnostics), "t.yaml:2:18: start_date is required when schedule is set\n");
}

TEST(LoaderTest, AZoneInAnotherCaseIsSuggested) {
  LoadResult r = Load("dag: d\ntimezone: utc\ntasks:\n  a: {op: shell, run: 'true'}\n");
  EXPECT_EQ(Render(r.diagnostics), "t.yaml:2:11: unknown time zone 'utc' (did you mean 'UTC'?)\n");
  r = Load("dag: d\ntimezone: europe/berlin\ntasks:\n  a: {op: shell, run: 'true'}\n");
  EXPECT_EQ(Render(r.diagnostics), "t.yaml:2:11: unknown time zone 'europe/berlin' (did you mean 'Europe/Berlin'?)\n");
}

TEST(LoaderTest, NaiveStartDateInSkippedHourIsRefused) {
  LoadResult r = Load(R"(dag: d
schedule: '@hourly'
timezone: Europe/Berlin
start_date: 2026-03-29T02:30:00
tasks:
  a: {op: shell, run: 'true'}
)");
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:4:13: start_date: '2026-03-29T02:30:00' does not exist in time zone "
            "Europe/Berlin (skipped by a DST change)\n");
  // A date alone whose midnight a DST change skips is that day, from the jump.
  LoadResult day = Load(R"(dag: d
schedule: '@daily'
timezone: America/Santiago
start_date: 2026-09-06
end_date: 2026-09-06
tasks:
  a: {op: shell, run: 'true'}
)");
  ASSERT_TRUE(day.dag) << Render(day.diagnostics);
  EXPECT_EQ(FormatIso8601(*day.dag->start_date), "2026-09-06T04:00:00Z");  // 01:00 -03
  EXPECT_EQ(FormatIso8601(*day.dag->end_date), "2026-09-06T04:00:00Z");
}

TEST(LoaderTest, AliasesWithinTheLimitExpand) {
  // Given 10^4 nodes through aliases, then they load (the bomb case is in invalid/).
  LoadResult r = Load(R"(dag: d
x: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
tasks:
  a: {op: shell, run: 'true'}
)");
  EXPECT_EQ(Render(r.diagnostics), "t.yaml:2:1: unknown key 'x'\n");
}

TEST(LoaderTest, DeepNestingIsAnErrorNotACrash) {
  std::string text = "dag: d\ntasks: " + std::string(20000, '[') + std::string(20000, ']') + "\n";
  LoadResult r = Load(text);
  EXPECT_FALSE(r.dag);
  ASSERT_FALSE(r.diagnostics.empty());
}

// Operators for data-flow checks: "source" produces a table, "sink" consumes one.
class FakeDataOp final : public Operator {
 public:
  FakeDataOp(std::string name, bool produces, bool consumes)
      : name_(std::move(name)), produces_(produces), consumes_(consumes) {}
  std::string_view name() const override { return name_; }
  bool produces_table() const override { return produces_; }
  bool consumes_table() const override { return consumes_; }
  void CheckArgs(const TaskSpec&, Diagnostics&) const override {}
  TaskResult Execute(TaskContext&) const override { return TaskResult::Success(); }

 private:
  std::string name_;
  bool produces_, consumes_;
};

const OperatorRegistry& DataOps() {
  static const OperatorRegistry r = [] {
    OperatorRegistry reg;
    RegisterBuiltinOperators(reg);
    reg.Register(std::make_unique<FakeDataOp>("source", true, false));
    reg.Register(std::make_unique<FakeDataOp>("sink", true, true));
    return reg;
  }();
  return r;
}

TEST(LoaderInputTest, InputMustBeUpstream) {
  LoadResult r = Load(R"(dag: d
tasks:
  a: {op: source}
  b: {op: source}
  c: {op: sink, depends_on: [a], with: {input: b}}
  d: {op: sink, depends_on: [a], with: {input: nope}}
)", DataOps());
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:5:48: task 'c': input 'b' is not upstream of it (add it to depends_on)\n"
            "t.yaml:6:48: task 'd': input names unknown task 'nope'\n");
}

TEST(LoaderInputTest, TasksNamedInOtherArgumentsMustBeUpstreamAndOfTheirKind) {
  // predict and serve name a train task of the run (or a registered model),
  // monitor its reference and current tables: each must be upstream, and a
  // train task or a table's producer.
  LoadResult r = Load(R"(dag: d
tasks:
  data: {op: ingest, with: {path: x.csv}}
  train: {op: train, depends_on: [data], with: {target: y, model: linear_regression, name: m}}
  note: {op: shell, run: 'true'}
  score: {op: predict, depends_on: [data], with: {model: train}}
  deploy: {op: serve, depends_on: [note], with: {model: note}}
  registered: {op: predict, depends_on: [data], with: {model: fraud}}
  drift: {op: monitor, depends_on: [data], with: {reference: nosuch, current: data}}
  drift2: {op: monitor, depends_on: [data, note], with: {reference: note, current: data}}
  fine: {op: predict, depends_on: [train], with: {model: train, input: data}}
)", Builtins());
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:6:58: task 'score': model 'train' is a task of this DAG that is not upstream of it (add it to "
            "depends_on, or name a registered model (NAME, NAME@ALIAS, NAME:VERSION))\n"
            "t.yaml:7:57: task 'deploy': model 'note' is a shell task, not a train task\n"
            "t.yaml:9:62: task 'drift': reference names unknown task 'nosuch'\n"
            "t.yaml:10:69: task 'drift2': reference 'note' is a shell task, which produces no table\n");
}

TEST(LoaderInputTest, AServeGateOnAMetricTheTrainedModelLacksIsRefused) {
  // Given train tasks whose arguments fix the kind of model (a linear model,
  // xgboost with an objective), a serve gate on a metric of the other kind
  // is an error at validation; xgboost without an objective (the target's
  // values decide) and a registered model are checked when the task runs.
  LoadResult r = Load(R"(dag: d
tasks:
  data: {op: ingest, with: {path: x.csv}}
  clf: {op: train, depends_on: [data], with: {target: y, model: logistic_regression}}
  reg: {op: train, depends_on: [data], with: {target: y, model: xgboost, params: {objective: "reg:squarederror"}}}
  any: {op: train, depends_on: [data], with: {target: y, model: xgboost}}
  a: {op: serve, depends_on: [clf], with: {model: clf, promote_if: {metric: rmse, max: 3}}}
  b: {op: serve, depends_on: [reg], with: {model: reg, promote_if: {metric: auc, min: 0.7}}}
  c: {op: serve, depends_on: [clf], with: {model: clf, promote_if: {metric: logloss, max: 0.5}}}
  d: {op: serve, depends_on: [any], with: {model: any, promote_if: {metric: rmse, max: 3}}}
  e: {op: serve, with: {model: fraud, promote_if: {metric: rmse, max: 3}}}
  bad: {op: train, depends_on: [data], with: {target: y, model: xgboost, params: {objective: "multi:softmax"}}}
)", Builtins());
  // The two train tasks also register one model name as two kinds: reported
  // with the gates' errors, not after they are fixed.
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:5:65: task 'reg' registers model 'd' as a regressor, and task 'clf' as a classifier: give one "
            "its own 'name'\n"
            "t.yaml:7:77: task 'a': promote_if metric 'rmse' is a regression metric, and 'clf' trains a classifier "
            "(auc, accuracy, f1, precision, recall, logloss)\n"
            "t.yaml:8:77: task 'b': promote_if metric 'auc' is a classification metric, and 'reg' trains a regressor "
            "(rmse, mae, r2)\n"
            "t.yaml:12:94: task 'bad': train: params: xgboost objective 'multi:softmax' is not supported: use "
            "binary:logistic (a classifier: probabilities) or reg:* / count:* (a regressor)\n");
}

TEST(LoaderInputTest, TrainTasksOfOneModelNameTrainOneKindOfModel) {
  // Two train tasks without a name register versions of one model (the DAG
  // id): fine for two classifiers (a champion and a challenger), an error
  // for a classifier and a regressor; their own names part them.
  LoadResult r = Load(R"(dag: d
tasks:
  data: {op: ingest, with: {path: x.csv}}
  a: {op: train, depends_on: [data], with: {target: y, model: logistic_regression}}
  b: {op: train, depends_on: [data], with: {target: y, model: xgboost, params: {objective: "binary:logistic"}}}
  c: {op: train, depends_on: [data], with: {target: y, model: linear_regression}}
  d: {op: train, depends_on: [data], with: {target: y, model: linear_regression, name: other}}
  e: {op: train, depends_on: [data], with: {target: y, model: xgboost}}
)", Builtins());
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:6:63: task 'c' registers model 'd' as a regressor, and task 'a' as a classifier: give one its "
            "own 'name'\n");
}

TEST(LoaderInputTest, TransitiveUpstreamAndImplicitInput) {
  LoadResult r = Load(R"(dag: d
tasks:
  a: {op: source}
  b: {op: sink, depends_on: [a]}
  note: {op: shell, run: 'true', depends_on: [b]}
  c: {op: sink, depends_on: [note], with: {input: a}}
)", DataOps());
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  EXPECT_EQ(r.dag->FindTask("b")->input, "a");  // the single upstream producer
  EXPECT_EQ(r.dag->FindTask("c")->input, "a");  // explicit, two levels up
}

TEST(LoaderInputTest, AmbiguousOrMissingImplicitInput) {
  LoadResult r = Load(R"(dag: d
tasks:
  a: {op: source}
  b: {op: source}
  c: {op: sink, depends_on: [a, b]}
  d: {op: sink}
)", DataOps());
  EXPECT_EQ(Render(r.diagnostics),
            "t.yaml:5:3: task 'c' needs with.input: several upstream tasks produce tables\n"
            "t.yaml:6:3: task 'd' needs with.input: no upstream task produces a table\n");
}

TEST(LoaderInputTest, MapOverFormsAndItemByItemInput) {
  // Given the three forms of map_over, then each is read; a data task mapped
  // over the same items as its input reads it item by item, one mapped over
  // other items (or not mapped) reads all of it.
  LoadResult r = Load(R"(dag: d
params:
  parts: [p1, p2]
tasks:
  a: {op: source, map_over: {glob: "in/*.csv"}, max_map_length: 50}
  b: {op: sink, depends_on: [a], map_over: {glob: "in/*.csv"}}
  c: {op: sink, depends_on: [b], map_over: [x, y]}
  d: {op: sink, depends_on: [c]}
  e: {op: shell, run: 'echo {{ item }} {{ item.index }}', map_over: "{{ params.parts }}"}
)", DataOps());
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  const TaskSpec& a = *r.dag->FindTask("a");
  ASSERT_TRUE(a.map_over);
  EXPECT_EQ(a.map_over->kind, MapOver::Kind::kGlob);
  EXPECT_EQ(a.map_over->name, "in/*.csv");
  EXPECT_EQ(a.max_map_length, 50);
  EXPECT_FALSE(a.map_by_item);
  EXPECT_TRUE(r.dag->FindTask("b")->map_by_item);
  EXPECT_EQ(r.dag->FindTask("b")->max_map_length, 10000);
  EXPECT_FALSE(r.dag->FindTask("c")->map_by_item);
  EXPECT_EQ(r.dag->FindTask("c")->map_over->items, (std::vector<std::string>{"x", "y"}));
  EXPECT_FALSE(r.dag->FindTask("d")->map_over);
  EXPECT_EQ(r.dag->FindTask("e")->map_over->kind, MapOver::Kind::kParam);
  EXPECT_EQ(r.dag->FindTask("e")->map_over->name, "parts");

  TaskSpec instance = MapInstance(*r.dag->FindTask("b"), 3, "in/d.csv");
  EXPECT_EQ(instance.id, "b[3]");
  EXPECT_EQ(instance.input, "a[3]");
  EXPECT_EQ(instance.map_item, "in/d.csv");
  EXPECT_FALSE(instance.map_over);
  EXPECT_EQ(MapInstance(*r.dag->FindTask("c"), 1, "y").input, "b");
}

TEST(LoaderInputTest, MapInstanceIdsRoundTrip) {
  EXPECT_EQ(MapInstanceId("task", 12), "task[12]");
  EXPECT_EQ(ParseMapInstanceId("task[12]"), std::make_pair(std::string("task"), 12));
  for (const char* bad : {"task", "task[]", "task[01]", "task[-1]", "[1]", "task[1", "task[1]x", "task[a]"}) {
    EXPECT_FALSE(ParseMapInstanceId(bad)) << bad;
  }
}

TEST(LoaderFolderTest, LoadsValidFilesAndReportsInvalidOnes) {
  fs::path dir = fs::temp_directory_path() / ("pipe_folder_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a.yaml") << "dag: alpha\ntasks:\n  t: {op: shell, run: 'true'}\n";
  std::ofstream(dir / "b.yml") << "dag: beta\ntasks:\n  t: {op: shell, run: 'true', depends_on: [x]}\n";
  std::ofstream(dir / "c.yaml") << "dag: alpha\ntasks:\n  t: {op: shell, run: 'true'}\n";
  std::ofstream(dir / "notes.txt") << "not a dag";
  FolderLoadResult r = DagLoader(Builtins()).LoadFolder(dir.string());
  ASSERT_EQ(r.dags.size(), 1u);
  EXPECT_EQ(r.dags[0].id, "alpha");
  EXPECT_EQ(r.invalid_files.size(), 2u);
  std::string all = Render(r.diagnostics);
  EXPECT_NE(all.find("b.yml:3:44: task 't' depends on unknown task 'x'"), std::string::npos) << all;
  EXPECT_NE(all.find("c.yaml: dag id 'alpha' is already defined in " + (dir / "a.yaml").string()),
            std::string::npos) << all;
  fs::remove_all(dir);
}

TEST(LoaderTest, TenThousandTasksLoad) {
  // Given a 10,000-task chain, then it loads (timing is in bench/, not here).
  std::string text = "dag: big\ntasks:\n  t0: {op: shell, run: 'true'}\n";
  for (int idx = 1; idx < 10000; ++idx) {
    text += "  t" + std::to_string(idx) + ": {op: shell, run: 'true', depends_on: [t" +
            std::to_string(idx - 1) + "]}\n";
  }
  LoadResult r = Load(text);
  ASSERT_TRUE(r.dag) << Render(r.diagnostics);
  EXPECT_EQ(r.dag->tasks.size(), 10000u);
  EXPECT_EQ(r.dag->tasks.back().id, "t9999");
}

}  // namespace
}  // namespace pipeline
