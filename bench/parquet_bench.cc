// Parquet write and read of tables shaped like the pipeline's data
// (shared/peers/gen_csv.py): the 8-column transactions table, and the
// 34-column output of the transform and features steps (one-hot columns,
// per-user aggregates). Snappy, to a file in the temp folder.
//
//   build/.../bench/parquet_bench --benchmark_filter=Transactions
//   build/.../bench/parquet_bench --benchmark_filter=PipelineOutput   # 10M rows, ~3 GB of RAM

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "columnar/parquet.h"

namespace {

using namespace pipeline::columnar;

// splitmix64: fast, deterministic.
struct Random {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

ColumnPtr IntColumn(int64_t rows, Random& random, int64_t (*value)(Random&, int64_t)) {
  auto column = std::make_shared<Column>(DataType::kInt64, rows);
  int64_t* out = column->mutable_values().as<int64_t>();
  for (int64_t row = 0; row < rows; ++row) out[row] = value(random, row);
  return column;
}

ColumnPtr DoubleColumn(int64_t rows, Random& random, double null_rate, double (*value)(Random&)) {
  auto column = std::make_shared<Column>(DataType::kFloat64, rows);
  double* out = column->mutable_values().as<double>();
  for (int64_t row = 0; row < rows; ++row) out[row] = value(random);
  for (int64_t row = 0; row < rows; ++row) {
    if (random.Unit() < null_rate) column->SetNull(row);
  }
  column->FinishValidity();
  return column;
}

ColumnPtr CategoryColumn(int64_t rows, Random& random, int categories, const char* prefix, double null_rate) {
  ColumnBuilder builder(DataType::kString);
  builder.Reserve(rows);
  std::vector<std::string> names;
  for (int idx = 0; idx < categories; ++idx) names.push_back(prefix + std::to_string(idx));
  for (int64_t row = 0; row < rows; ++row) {
    if (random.Unit() < null_rate) builder.AppendNull();
    else builder.AppendString(names[random.Next() % categories]);
  }
  return builder.Finish();
}

double Amount(Random& random) { return std::round(std::exp(3.9 + 1.2 * (random.Unit() + random.Unit() - 1) * 2) * 100) / 100; }

// txn_id, user_id, ts, amount (2% null), merchant_category, country (2% null), device, is_fraud.
std::vector<std::pair<Field, ColumnPtr>> TransactionColumns(int64_t rows, Random& random) {
  auto ts = std::make_shared<Column>(DataType::kTimestamp, rows);
  int64_t* micros = ts->mutable_values().as<int64_t>();
  for (int64_t row = 0; row < rows; ++row) micros[row] = 1704067200000000 + row * 3000000 + static_cast<int64_t>(random.Next() % 3000000);
  return {
      {{"txn_id", DataType::kInt64}, IntColumn(rows, random, [](Random&, int64_t row) { return row + 1; })},
      {{"user_id", DataType::kInt64}, IntColumn(rows, random, [](Random& r, int64_t) {
         return static_cast<int64_t>(std::pow(r.Unit(), 2) * 100000);
       })},
      {{"ts", DataType::kTimestamp}, ts},
      {{"amount", DataType::kFloat64}, DoubleColumn(rows, random, 0.02, Amount)},
      {{"merchant_category", DataType::kString}, CategoryColumn(rows, random, 20, "category_", 0)},
      {{"country", DataType::kString}, CategoryColumn(rows, random, 30, "C", 0.02)},
      {{"device", DataType::kString}, CategoryColumn(rows, random, 5, "device_", 0)},
      {{"is_fraud", DataType::kInt64}, IntColumn(rows, random, [](Random& r, int64_t) {
         return static_cast<int64_t>(r.Unit() < 0.013);
       })},
  };
}

TablePtr ToTable(std::vector<std::pair<Field, ColumnPtr>> columns, int64_t rows) {
  Schema schema;
  Batch batch{rows, {}};
  for (auto& [field, column] : columns) {
    schema.Add(field);
    batch.columns.push_back(column);
  }
  auto table = std::make_shared<Table>(schema);
  table->AddBatch(std::move(batch));
  return table;
}

TablePtr TransactionsTable(int64_t rows) {
  Random random{42};
  return ToTable(TransactionColumns(rows, random), rows);
}

// The transactions plus amount_z, amount_log1p, merchant_category_code,
// 20 one-hot columns and 3 per-user aggregates: 34 columns.
TablePtr PipelineOutputTable(int64_t rows) {
  Random random{7};
  auto columns = TransactionColumns(rows, random);
  columns.push_back({{"amount_z", DataType::kFloat64}, DoubleColumn(rows, random, 0, [](Random& r) { return r.Unit() * 6 - 3; })});
  columns.push_back({{"amount_log1p", DataType::kFloat64}, DoubleColumn(rows, random, 0, [](Random& r) { return std::log1p(Amount(r)); })});
  auto code = std::make_shared<Column>(DataType::kInt64, rows);
  int64_t* codes = code->mutable_values().as<int64_t>();
  for (int64_t row = 0; row < rows; ++row) codes[row] = static_cast<int64_t>(random.Next() % 20);
  columns.push_back({{"merchant_category_code", DataType::kInt64}, code});
  for (int category = 0; category < 20; ++category) {
    auto onehot = std::make_shared<Column>(DataType::kInt64, rows);
    int64_t* bits = onehot->mutable_values().as<int64_t>();
    for (int64_t row = 0; row < rows; ++row) bits[row] = codes[row] == category;
    columns.push_back({{"cat_" + std::to_string(category), DataType::kInt64}, onehot});
  }
  columns.push_back({{"user_txn_count", DataType::kInt64}, IntColumn(rows, random, [](Random& r, int64_t) {
                       return static_cast<int64_t>(1 + r.Next() % 300);
                     })});
  columns.push_back({{"user_mean_amount", DataType::kFloat64}, DoubleColumn(rows, random, 0, Amount)});
  columns.push_back({{"user_max_amount", DataType::kFloat64}, DoubleColumn(rows, random, 0, Amount)});
  return ToTable(std::move(columns), rows);
}

int64_t TableBytes(const Table& table) {
  int64_t bytes = 0;
  for (const Batch& batch : table.batches()) {
    for (const ColumnPtr& column : batch.columns) {
      bytes += static_cast<int64_t>(column->values_buffer().size() + column->chars_buffer().size());
    }
  }
  return bytes;
}

std::string BenchPath() {
  return (std::filesystem::temp_directory_path() / ("parquet_bench_" + std::to_string(getpid()) + ".parquet")).string();
}

// User + system CPU seconds of the whole process (all threads): on a shared
// machine, wall time depends on the neighbours, CPU time much less.
double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void Report(benchmark::State& state, const Table& table, int64_t file_bytes, double cpu_seconds) {
  state.SetItemsProcessed(state.iterations() * table.num_rows());
  state.SetBytesProcessed(state.iterations() * TableBytes(table));
  state.counters["file_MB"] = static_cast<double>(file_bytes) / 1e6;
  state.counters["cpu_s"] = cpu_seconds / static_cast<double>(state.iterations());
}

void WriteBench(benchmark::State& state, const Table& table) {
  ParquetWriteOptions options;
  options.threads = static_cast<int>(state.range(0));
  std::string path = BenchPath();
  int64_t size = 0;
  double cpu = ProcessCpuSeconds();
  for (auto _ : state) size = WriteParquetFile(table, path, options);
  Report(state, table, size, ProcessCpuSeconds() - cpu);
  std::filesystem::remove(path);
}

void ReadBench(benchmark::State& state, const Table& table) {
  std::string path = BenchPath();
  int64_t size = WriteParquetFile(table, path);
  ParquetReadOptions options;
  options.threads = static_cast<int>(state.range(0));
  double cpu = ProcessCpuSeconds();
  for (auto _ : state) {
    TablePtr read = ReadParquetFile(path, options);
    benchmark::DoNotOptimize(read);
  }
  Report(state, table, size, ProcessCpuSeconds() - cpu);
  std::filesystem::remove(path);
}

const Table& Transactions() {
  static TablePtr table = TransactionsTable(1'000'000);
  return *table;
}

const Table& PipelineOutput() {
  static TablePtr table = PipelineOutputTable(10'000'000);
  return *table;
}

void BM_WriteTransactions1M(benchmark::State& state) { WriteBench(state, Transactions()); }
void BM_ReadTransactions1M(benchmark::State& state) { ReadBench(state, Transactions()); }
void BM_WritePipelineOutput10M(benchmark::State& state) { WriteBench(state, PipelineOutput()); }
void BM_ReadPipelineOutput10M(benchmark::State& state) { ReadBench(state, PipelineOutput()); }

BENCHMARK(BM_WriteTransactions1M)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadTransactions1M)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WritePipelineOutput10M)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_ReadPipelineOutput10M)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
