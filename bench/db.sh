#!/bin/sh
# Databases in and out (issue 12): ingest ROWS rows from PostgreSQL into a
# table and export them back, next to psql's \copy, the floor (target: each
# <= 1.3x). A throwaway cluster (bench/pg_cluster.sh); the times are the
# tasks' own (started_at to ended_at in `pipectl run --json`), so pipectl's
# start and the DAG's loading are left out, as psql's start is not.
# Usage: bench/db.sh [ROWS]          (default 10000000)
# PIPECTL=... uses that binary (nothing is built).
set -eu
cd "$(dirname "$0")/.."
rows=${1:-10000000}
if [ -z "${PIPECTL:-}" ]; then
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF -DPIPE_BUILD_BENCHMARKS=ON > /dev/null
  cmake --build build/release --target pipectl > /dev/null
fi
pipectl=${PIPECTL:-$PWD/build/release/src/cli/pipectl}
. bench/pg_cluster.sh
psql="$pgbin/psql -X -q -h $work -p $port -U postgres bench"
bench="postgresql://postgres@/bench?host=$work&port=$port"
now() { date +%s.%N; }

echo "making $rows rows in PostgreSQL (id, user_id, amount, country, ts)"
$psql -c "CREATE TABLE src AS SELECT g::bigint AS id, (g % 100000)::bigint AS user_id,
            round((random() * 1000)::numeric, 2)::double precision AS amount,
            (ARRAY['US','DE','FR','GB',NULL])[1 + g % 5] AS country,
            timestamptz '2026-01-01' + g * interval '1 second' AS ts
          FROM generate_series(1, $rows) g"
$psql -c "VACUUM ANALYZE src"
$psql -c "CREATE TABLE dst_psql (LIKE src)"
$psql -c "CREATE TABLE dst_pipe (LIKE src)"

# The floors: psql's \copy out (to a file) and back in (from that file).
s=$(now); $psql -c "\\copy (SELECT * FROM src) TO '$work/src.csv' WITH (FORMAT csv)"; e=$(now)
psql_out=$(echo "$s $e" | awk '{printf "%.2f", $2 - $1}')
s=$(now); $psql -c "\\copy dst_psql FROM '$work/src.csv' WITH (FORMAT csv)"; e=$(now)
psql_in=$(echo "$s $e" | awk '{printf "%.2f", $2 - $1}')

cat > "$work/dags/db.yaml" <<DAG
dag: db_bench
tasks:
  load:
    op: ingest
    persist: false
    with: {source: '$bench', query: 'SELECT * FROM src'}
  store:
    op: export
    depends_on: [load]
    with: {target: '$bench', table: dst_pipe, mode: append}
DAG
PIPE_HOME="$work/home" "$pipectl" run "$work/dags/db.yaml" --json > "$work/run.json"
/usr/bin/python3 - "$work/run.json" "$psql_out" "$psql_in" "$rows" <<'PY'
import json, sys
from datetime import datetime
run = json.load(open(sys.argv[1]))
def secs(task):
    t = next(t for t in run["tasks"] if t["task_id"] == task)
    f = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (f(t["ended_at"]) - f(t["started_at"])).total_seconds(), t
out, into, rows = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
load, lt = secs("load")
store, st = secs("store")
assert run["state"] == "success", run
assert lt["metrics"]["rows_out"] == rows and st["metrics"]["rows_out"] == rows, (lt["metrics"], st["metrics"])
print(f"ingest {rows} rows from PostgreSQL: pipe {load:.2f} s, psql \\copy out {out:.2f} s, ratio {load / out:.2f} (target <= 1.3)")
print(f"export {rows} rows to PostgreSQL:   pipe {store:.2f} s, psql \\copy in  {into:.2f} s, ratio {store / into:.2f} (target <= 1.3)")
PY
test "$($psql -t -A -c 'SELECT count(*) FROM dst_pipe')" = "$rows"
test "$($psql -t -A -c 'SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM dst_pipe) d')" = "0"
echo "dst_pipe holds the same rows as src"
