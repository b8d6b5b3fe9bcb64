#!/bin/sh
# The data pipeline benchmark: the six steps of bench/peers/duckdb_bench.mjs
# (parse, validate, clean, transform, features, write Parquet) run by our
# engine as a DAG through `pipectl run` (bench/fraud_pipeline.yaml), by DuckDB
# with 2 threads and by pandas, on the same generated CSV, in one run.
# Prints each step's seconds, the ratio to DuckDB, the totals and peak memory.
#
# Usage: bench/pipeline.sh [ROWS] [--no-pandas]     (ROWS default 10000000)
# Needs: /usr/bin/python3 with numpy and pandas (python3-pandas), node + npm.
# The CSV is cached in ${PIPE_BENCH_DATA:-/tmp/pipe-bench}.
set -eu
cd "$(dirname "$0")/.."
rows=${1:-10000000}
pandas=1
for arg in "$@"; do [ "$arg" = "--no-pandas" ] && pandas=0; done
data=${PIPE_BENCH_DATA:-/tmp/pipe-bench}
mkdir -p "$data"
csv="$data/tx_$rows.csv"

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl > /dev/null
pipectl=$PWD/build/release/src/cli/pipectl

[ -f "$csv" ] || /usr/bin/python3 bench/peers/gen_csv.py "$rows" "$csv" > /dev/null
[ -d bench/peers/node_modules/@duckdb ] || (cd bench/peers && npm ci --silent > /dev/null 2>&1 || npm install --silent > /dev/null)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== ours: pipectl run bench/fraud_pipeline.yaml ($rows rows)"
export PIPE_HOME="$work/home"
/usr/bin/time -f "%e %M" -o "$work/ours.time" "$pipectl" run bench/fraud_pipeline.yaml \
  -p csv="$csv" -p out="$work/out/ours.parquet" > "$work/ours.log" 2>&1 || { cat "$work/ours.log"; exit 1; }
run_id=$("$pipectl" runs list --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
"$pipectl" runs show "$run_id" --json > "$work/ours.json"

echo "== DuckDB (2 threads)"
/usr/bin/time -f "%e %M" -o "$work/duckdb.time" node bench/peers/duckdb_bench.mjs "$csv" 2 "$work/out" > "$work/duckdb.json"

if [ "$pandas" = 1 ]; then
  echo "== pandas (1 thread; writes CSV)"
  /usr/bin/time -f "%e %M" -o "$work/pandas.time" /usr/bin/python3 bench/peers/pandas_bench.py "$csv" "$work/out" > "$work/pandas.json"
fi

/usr/bin/python3 - "$work" "$csv" "$pandas" <<'PY'
import json, os, sys
from datetime import datetime
work, csv, with_pandas = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
steps = ["parse", "validate", "clean", "transform", "features", "write"]

def ts(s):
    return datetime.strptime(s.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")

run = json.load(open(f"{work}/ours.json"))
ours = {t["task_id"]: (ts(t["ended_at"]) - ts(t["started_at"])).total_seconds() for t in run["tasks"]}
wall, rss = open(f"{work}/ours.time").read().split()
ours["total"] = float(wall)
duck_json = json.loads(open(f"{work}/duckdb.json").read().strip().splitlines()[-1])
duck = duck_json["seconds"]
duck_wall, duck_rss = open(f"{work}/duckdb.time").read().split()
pandas = {}
if with_pandas:
    pj = json.loads(open(f"{work}/pandas.json").read().strip().splitlines()[-1])
    pandas = pj["seconds"]
    pandas_rss = open(f"{work}/pandas.time").read().split()[1]

print()
print(f"{'step':<10} {'ours s':>8} {'duckdb s':>9} {'ratio':>6}" + (f" {'pandas s':>9}" if with_pandas else ""))
for s in steps + ["total"]:
    line = f"{s:<10} {ours[s]:8.3f} {duck[s]:9.3f} {ours[s] / duck[s]:6.2f}"
    if with_pandas:
        line += f" {pandas.get(s, float('nan')):9.3f}"
    print(line)
size = os.path.getsize(csv)
print()
print(f"CSV parse: {size / 1e9:.3f} GB in {ours['parse']:.3f} s = {size / 1e9 / ours['parse']:.2f} GB/s")
print(f"peak RSS: ours {int(rss) / 1e6:.2f} GB, DuckDB (node) {int(duck_rss) / 1e6:.2f} GB" +
      (f", pandas {int(pandas_rss) / 1e6:.2f} GB" if with_pandas else ""))
tasks = {t["task_id"]: t for t in run["tasks"]}
sizes = {k: t["metrics"].get("bytes_out", 0) for k, t in tasks.items()}
largest = max(sizes.values())
print(f"in-memory tables: parsed {sizes['parse'] / 1e9:.2f} GB, largest (features) {largest / 1e9:.2f} GB; "
      f"peak RSS = {int(rss) * 1e3 / largest:.2f}x the largest table (target <= 2)")
print(f"checks: rows after clean {tasks['clean']['metrics'].get('rows_out')} (DuckDB {duck_json['checks']['rows_clean']}), "
      f"rows out {tasks['write']['metrics'].get('rows_out')} (DuckDB {duck_json['checks']['rows_out']})")
PY
