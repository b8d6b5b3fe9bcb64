// Differential test of the data operators against DuckDB: the real pipectl
// runs ingest -> validate -> clean -> transform -> features -> export on a
// generated CSV with nulls, duplicates, outliers, quotes and embedded
// newlines; DuckDB computes the same from the same file in SQL. Every count
// must be identical and every float within 1e-9 relative.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "duckdb_peer.h"
#include "test_util.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing_util::SqlName;
using testing_util::SqlString;

// Deterministic transactions with the defects real feeds have.
std::string GenerateCsv(int rows) {
  std::mt19937_64 rng(20261122);
  const std::vector<std::string> categories = {"grocery", "fuel", "home, garden", "say \"hi\"", "multi\nline",
                                               "ünïcode", "travel"};
  std::string text = "txn_id,user_id,ts,amount,category,country,is_fraud\n";
  std::string previous;
  for (int i = 1; i <= rows; ++i) {
    if (!previous.empty() && rng() % 200 == 0) {  // an exact duplicate line
      text += previous;
      continue;
    }
    std::string line = std::to_string(i) + "," + std::to_string(rng() % 300) + ",";
    int64_t seconds = 1767225600 + static_cast<int64_t>(i) * 37 + static_cast<int64_t>(rng() % 30);
    char ts[32];
    time_t t = seconds;
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", gmtime(&t));
    line += std::string(ts) + ",";
    uint64_t r = rng() % 1000;
    if (r >= 20) {  // ~2% null amounts
      double amount = static_cast<double>(rng() % 100000) / 100.0;
      if (r < 23) amount = -amount;          // negative
      if (r >= 23 && r < 25) amount += 20000;  // above 10,000
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", amount);
      line += buf;
    }
    line += ",";
    std::string cat = categories[rng() % categories.size()];
    if (cat.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : cat) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      line += quoted + "\"";
    } else {
      line += cat;
    }
    line += ",";
    if (rng() % 50 != 0) line += std::vector<std::string>{"US", "DE", "FR", "GB"}[rng() % 4];
    line += "," + std::to_string(rng() % 70 == 0 ? 1 : 0) + "\n";
    text += line;
    previous = line;
  }
  return text;
}

const char kDag[] = R"yaml(dag: differential
tasks:
  parse:
    op: ingest
    with: {path: tx.csv}
  validate:
    op: validate
    depends_on: [parse]
    with:
      checks: [{column: amount, min: 0, max: 10000}]
      table: {unique: all}
      on_failure: warn
  clean:
    op: clean
    depends_on: [validate]
    with:
      steps:
        - drop_duplicates: all
        - fill_nulls: {amount: median}
        - drop_nulls: [country]
  transform:
    op: transform
    depends_on: [clean]
    with:
      steps:
        - standardize: {amount: amount_z}
        - derive: {amount_log1p: "log1p(max(amount, 0))"}
        - label_encode: {category: category_code}
        - one_hot: {column: category, prefix: cat}
  features:
    op: features
    depends_on: [transform]
    with:
      key: user_id
      aggregates:
        - {column: amount, fn: count, as: user_txn_count}
        - {column: amount, fn: mean, as: user_amount_mean}
        - {column: amount, fn: max, as: user_amount_max}
  write:
    op: export
    depends_on: [features]
    with: {path: out.parquet}
)yaml";

class PipelineDifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing_util::DuckDbAvailable());
    dir_ = testing_util::FreshTestDir("pipeline_diff");
  }
  void TearDown() override { fs::remove_all(dir_); }

  json RunPipeline() {
    std::ofstream(dir_ / "tx.csv") << GenerateCsv(20000);
    std::ofstream(dir_ / "dag.yaml") << kDag;
    pid_t pid = testing_util::SpawnProcess({PIPECTL_PATH, "run", "dag.yaml", "--json"},
                                           {"PIPE_HOME=" + (dir_ / ".pipe").string()}, dir_ / "run.json",
                                           dir_ / "run.err", dir_, false);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::ifstream in(dir_ / "run.json");
    json run = json::parse(in, nullptr, false);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return run;
  }

  json Task(const json& run, const std::string& id) {
    for (const auto& t : run["tasks"]) {
      if (t["task_id"] == id) return t;
    }
    return json::object();
  }

  fs::path dir_;
};

TEST_F(PipelineDifferentialTest, EveryCountAndValueMatchesDuckDb) {
  json run = RunPipeline();
  ASSERT_EQ(run["state"], "success") << run.dump(2);
  std::string csv = SqlString((dir_ / "tx.csv").string());
  std::string ours = SqlString((dir_ / "out.parquet").string());
  // The reference: the same steps in SQL. Row order is the file's; dedup keeps
  // the first of each group of equal rows; label codes by first appearance.
  std::vector<std::string> setup = {
      "CREATE TABLE raw AS SELECT *, row_number() OVER () AS rn FROM read_csv(" + csv +
          ", header = true, timestampformat = '%Y-%m-%dT%H:%M:%S')",
      "CREATE TABLE dedup AS SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY txn_id, user_id, ts, amount, "
      "category, country, is_fraud ORDER BY rn) = 1",
      "CREATE TABLE med AS SELECT median(amount) AS m FROM dedup",
      "CREATE TABLE clean AS SELECT * REPLACE (coalesce(amount, (SELECT m FROM med)) AS amount) FROM dedup "
      "WHERE country IS NOT NULL",
      "CREATE TABLE codes AS SELECT category, row_number() OVER (ORDER BY min(rn)) - 1 AS code FROM clean GROUP BY "
      "category",
      "CREATE TABLE expected AS WITH s AS (SELECT avg(amount) AS mu, stddev_samp(amount) AS sd FROM clean), "
      "u AS (SELECT user_id, count(*) AS n, avg(amount) AS mean, max(amount) AS mx FROM clean GROUP BY user_id) "
      "SELECT c.*, (c.amount - s.mu) / s.sd AS amount_z, ln(1 + greatest(c.amount, 0)) AS amount_log1p, "
      "codes.code AS category_code, u.n AS user_txn_count, u.mean AS user_amount_mean, u.mx AS user_amount_max "
      "FROM clean c JOIN codes USING (category) JOIN u USING (user_id) CROSS JOIN s",
      "CREATE TABLE ours AS SELECT * FROM read_parquet(" + ours + ")",
  };

  // Counts: raw rows, nulls, out of range, duplicates, rows after clean, users.
  std::vector<std::string> counts = setup;
  counts.push_back(
      "SELECT (SELECT count(*) FROM raw), (SELECT count(*) - count(amount) FROM raw), "
      "(SELECT count(*) - count(country) FROM raw), "
      "(SELECT count(*) FILTER (WHERE amount < 0 OR amount > 10000) FROM raw), "
      "(SELECT count(*) FROM raw) - (SELECT count(*) FROM dedup), (SELECT count(*) FROM clean), "
      "(SELECT count(DISTINCT user_id) FROM clean), (SELECT m FROM med), (SELECT count(*) FROM ours)");
  testing_util::DuckDbResult c = testing_util::RunDuckDb(counts, dir_);
  ASSERT_EQ(c.rows.size(), 1u);
  const json& ref = c.rows[0];
  fs::path report_path = dir_ / ".pipe" / "artifacts" / "differential" / run["run_id"].get<std::string>() / "validate" / "report.json";
  std::ifstream report_in(report_path);
  json report = json::parse(report_in);
  EXPECT_EQ(Task(run, "parse")["metrics"]["rows_out"], ref[0]);
  EXPECT_EQ(report["profile"]["amount"]["nulls"], ref[1]);
  EXPECT_EQ(report["profile"]["country"]["nulls"], ref[2]);
  EXPECT_EQ(report["checks"][0]["rows_failed"], ref[3]);
  EXPECT_EQ(report["checks"][1]["check"], "rows unique");
  EXPECT_EQ(report["checks"][1]["rows_failed"], ref[4]);
  EXPECT_EQ(Task(run, "clean")["metrics"]["rows_out"], ref[5]);
  EXPECT_EQ(ref[8], ref[5]);
  EXPECT_GT(ref[3].get<int64_t>(), 0);
  EXPECT_GT(ref[4].get<int64_t>(), 0);

  // Values: every row of ours against the reference, joined on txn_id (unique
  // after dedup); floats within 1e-9 relative.
  auto differs = [](const std::string& col) {
    std::string a = "o." + SqlName(col), b = "e." + SqlName(col);
    return "count(*) FILTER (WHERE (" + a + " IS NULL) <> (" + b + " IS NULL) OR abs(" + a + " - " + b +
           ") > 1e-9 * greatest(abs(" + a + "), abs(" + b + "), 1e-300))";
  };
  auto differs_exact = [](const std::string& col) {
    return "count(*) FILTER (WHERE o." + SqlName(col) + " IS DISTINCT FROM e." + SqlName(col) + ")";
  };
  std::vector<std::string> values = setup;
  std::string select = "SELECT count(*), count(e.txn_id)";
  for (const char* col : {"user_id", "ts", "category", "country", "is_fraud", "category_code", "user_txn_count"}) {
    select += ", " + differs_exact(col);
  }
  for (const char* col : {"amount", "amount_z", "amount_log1p", "user_amount_mean", "user_amount_max"}) {
    select += ", " + differs(col);
  }
  values.push_back(select + " FROM ours o LEFT JOIN expected e USING (txn_id)");
  testing_util::DuckDbResult v = testing_util::RunDuckDb(values, dir_);
  ASSERT_EQ(v.rows.size(), 1u);
  EXPECT_EQ(v.rows[0][0], ref[5]);
  EXPECT_EQ(v.rows[0][1], ref[5]) << "rows of ours missing from the reference";
  for (size_t i = 2; i < v.rows[0].size(); ++i) EXPECT_EQ(v.rows[0][i], 0) << "column #" << i << " differs";

  // One-hot: for each category, the rows flagged equal the rows holding it.
  std::vector<std::string> cats = setup;
  cats.push_back("SELECT category, count(*) FROM clean GROUP BY category ORDER BY category");
  testing_util::DuckDbResult categories = testing_util::RunDuckDb(cats, dir_);
  ASSERT_EQ(categories.rows.size(), 7u);
  std::vector<std::string> onehot = setup;
  std::string q = "SELECT 0";
  for (const json& row : categories.rows) {
    std::string name = "cat_" + row[0].get<std::string>();
    q += ", count(*) FILTER (WHERE " + SqlName(name) + ") - " + row[1].dump() + ", count(*) FILTER (WHERE " +
         SqlName(name) + " <> (category = " + SqlString(row[0].get<std::string>()) + "))";
  }
  onehot.push_back(q + " FROM ours");
  testing_util::DuckDbResult o = testing_util::RunDuckDb(onehot, dir_);
  ASSERT_EQ(o.rows.size(), 1u);
  for (size_t i = 1; i < o.rows[0].size(); ++i) EXPECT_EQ(o.rows[0][i], 0) << "one-hot check #" << i;
}

TEST_F(PipelineDifferentialTest, AnInt64ColumnFilledWithItsMedianOrMeanMatchesDuckDb) {
  // Given int64 columns with nulls (an even count of values), then the fills
  // are DuckDB's coalesce(x, median(x)) and coalesce(x, avg(x)): doubles
  // (2.5, not 3), the column float64 as DuckDB's DOUBLE.
  std::ofstream(dir_ / "ints.csv") << "id,n,m\n1,1,10\n2,2,\n3,,11\n4,3,\n5,4,20\n6,,13\n";
  std::ofstream(dir_ / "dag.yaml") << "dag: ints\ntasks:\n  r: {op: ingest, with: {path: ints.csv}}\n"
                                      "  c: {op: clean, depends_on: [r], with: {steps: [{fill_nulls: {n: median, m: mean}}]}}\n"
                                      "  w: {op: export, depends_on: [c], with: {path: ints.parquet}}\n";
  pid_t pid = testing_util::SpawnProcess({PIPECTL_PATH, "run", "dag.yaml"}, {"PIPE_HOME=" + (dir_ / ".pipe").string()},
                                         dir_ / "run.out", dir_ / "run.err", dir_, false);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string csv = SqlString((dir_ / "ints.csv").string()), ours = SqlString((dir_ / "ints.parquet").string());
  testing_util::DuckDbResult r = testing_util::RunDuckDb(
      {"CREATE TABLE e AS SELECT id, coalesce(n, median(n) OVER ()) AS n, coalesce(m, avg(m) OVER ()) AS m FROM read_csv(" +
           csv + ", header = true)",
       "CREATE TABLE o AS SELECT * FROM read_parquet(" + ours + ")",
       "SELECT (SELECT typeof(n) || ',' || typeof(m) FROM o LIMIT 1), (SELECT typeof(n) || ',' || typeof(m) FROM e LIMIT 1), "
       "(SELECT count(*) FROM o JOIN e USING (id) WHERE o.n = e.n AND abs(o.m - e.m) <= 1e-12 * abs(e.m)), "
       "(SELECT n FROM o WHERE id = 3)"},
      dir_);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], "DOUBLE,DOUBLE");
  EXPECT_EQ(r.rows[0][0], r.rows[0][1]);
  EXPECT_EQ(r.rows[0][2], 6);
  EXPECT_EQ(r.rows[0][3], 2.5);
}

}  // namespace
}  // namespace pipeline
