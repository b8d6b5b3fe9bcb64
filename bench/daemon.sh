#!/bin/sh
# Daemon benchmarks with PostgreSQL: latency, 40 sequential tasks, runs per
# minute over REST next to pgbench, GET /runs/{id} under wrk, big listings.
# Starts a throwaway PostgreSQL 15 cluster and piped; needs wrk and pgbench
# (apt: wrk postgresql). Usage: bench/daemon.sh [SECONDS_OF_LOAD]
set -eu
cd "$(dirname "$0")/.."
load_seconds=${1:-10}
command -v wrk > /dev/null || { echo "bench/daemon.sh needs wrk (apt-get install wrk)"; exit 2; }
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl piped > /dev/null
. bench/pg_cluster.sh

printf 'dag: hop\ntasks:\n  a: {op: shell, run: "date +%%s%%N > hop_a_start; date +%%s%%N > hop_a_end"}\n  b: {op: shell, depends_on: [a], run: "date +%%s%%N > hop_b_start"}\n' > "$work/dags/hop.yaml"
printf 'dag: two\nmax_active_runs: 64\ntasks:\n  a: {op: shell, run: "true"}\n  b: {op: shell, depends_on: [a], run: "true"}\n' > "$work/dags/two.yaml"
{ echo "dag: seq40"; echo "tasks:"; echo "  t0: {op: shell, run: 'sleep 0.01'}"
  i=1; while [ $i -lt 40 ]; do echo "  t$i: {op: shell, run: 'sleep 0.01', depends_on: [t$((i - 1))]}"; i=$((i + 1)); done
} > "$work/dags/seq40.yaml"
/usr/bin/python3 bench/layered_dag.py --nodes 1000 --layers 10 "$work/big.yaml"
sed 's/^dag: layered/dag: big\nmax_active_runs: 25/' "$work/big.yaml" > "$work/dags/big.yaml"

PIPE_HOME="$work/home" ./build/release/src/piped/piped --dags "$work/dags" --db "$db" --listen 127.0.0.1:0 \
  --workers 4 2> "$work/piped.log" &
piped_pid=$!
bench_pids="$piped_pid"
for _ in $(seq 200); do grep -q "listening on" "$work/piped.log" && break; sleep 0.05; done
server="http://$(sed -n 's/.*piped listening on \([0-9.:]*\) .*/\1/p' "$work/piped.log" | head -n 1)"
echo "piped at $server, PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') in $work"

/usr/bin/python3 bench/daemon_bench.py "$server" latency "$work/dags"
/usr/bin/python3 bench/daemon_bench.py "$server" seq40
/usr/bin/python3 bench/daemon_bench.py "$server" listing > "$work/listing.txt"
grep -v '^run id' "$work/listing.txt"
run_id=$(sed -n 's/^run id for wrk: //p' "$work/listing.txt")

# Runs per minute: POST triggers for $load_seconds s, then wait for the queue to drain.
cat > "$work/trigger.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
# pipe_runs has a series per DAG and state: the sums over the DAGs.
before=$(curl -s "$server/metrics" | awk '/^pipe_runs\{.*state="success"\}/ {s += $2} END {print s + 0}')
start=$(date +%s.%N)
wrk -t2 -c8 -d"${load_seconds}s" -s "$work/trigger.lua" "$server/api/v1/dags/two/runs" > "$work/wrk-trigger.txt"
while :; do
  active=$(curl -s "$server/metrics" | awk '/^pipe_runs\{.*state="(queued|running)"\}/ {s += $2} END {print s + 0}')
  [ "$active" -eq 0 ] && break
  sleep 0.2
done
end=$(date +%s.%N)
after=$(curl -s "$server/metrics" | awk '/^pipe_runs\{.*state="success"\}/ {s += $2} END {print s + 0}')
awk -v n=$((after - before)) -v s="$start" -v e="$end" 'BEGIN {
  printf "runs of a 2-task DAG triggered over REST: %d runs in %.1f s = %.0f runs/min (target >= 20000/min)\n", n, e - s, n / (e - s) * 60 }'
as_pg "$pgbin/pgbench" -h "$work" -p "$port" -U postgres -i -q bench > /dev/null 2>&1
as_pg "$pgbin/pgbench" -h "$work" -p "$port" -U postgres -c 2 -N -T "$load_seconds" bench 2> /dev/null \
  | awk '/tps = / {printf "pgbench -c 2 -N on the same cluster: %s tps\n", $3}'

wrk -t2 -c8 -d"${load_seconds}s" --latency "$server/api/v1/runs/$run_id" > "$work/wrk-get.txt"
awk '/Requests\/sec/ {rps = $2} /^ +99%/ {p99 = $2} END {printf "GET /api/v1/runs/{id} (1,000 tasks) under wrk -c8: %s req/s, p99 %s\n", rps, p99}' "$work/wrk-get.txt"
