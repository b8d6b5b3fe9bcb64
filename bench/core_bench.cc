// Micro-benchmarks of the orchestration core: loading DAG files, cron ticks,
// template rendering.

#include <benchmark/benchmark.h>
#include <date/tz.h>

#include <string>

#include "core/operator.h"
#include "dag/cron.h"
#include "dag/loader.h"
#include "dag/template.h"
#include "exec/builtin_operators.h"

namespace {

using namespace pipeline;

std::string ChainDag(int tasks) {
  std::string text = "dag: big\ntasks:\n  t0: {op: shell, run: 'true'}\n";
  for (int idx = 1; idx < tasks; ++idx) {
    text += "  t" + std::to_string(idx) + ": {op: shell, run: 'echo {{ task.id }}', depends_on: [t" +
            std::to_string(idx - 1) + "]}\n";
  }
  return text;
}

void BM_LoadDag(benchmark::State& state) {
  OperatorRegistry ops;
  RegisterBuiltinOperators(ops);
  DagLoader loader(ops);
  std::string text = ChainDag(int(state.range(0)));
  for (auto _ : state) {
    LoadResult r = loader.LoadText(text, "big.yaml");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * int64_t(text.size()));
}
BENCHMARK(BM_LoadDag)->Arg(100)->Arg(10'000)->Unit(benchmark::kMillisecond);

void BM_NextTickHourlyBerlin(benchmark::State& state) {
  auto cron = *ParseCron("0 * * * *", nullptr);
  const date::time_zone* zone = date::locate_zone("Europe/Berlin");
  TimePoint t = ParseIso8601("2026-01-01T00:00:00Z")->utc;
  for (auto _ : state) {
    t = *NextTick(cron, zone, t);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_NextTickHourlyBerlin);

void BM_RenderTemplate(benchmark::State& state) {
  std::string error;
  auto tmpl = *Template::Parse("./run.sh {{ params.source }} {{ run.logical_date }} --try {{ task.try }}", &error);
  for (auto _ : state) {
    std::string out = tmpl.Render([](std::string_view name) { return std::string(name); });
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RenderTemplate);

}  // namespace
