#!/bin/sh
# Scale-out benchmark: tasks handed by piped to 1, 2 and 4 `piped worker`
# processes through PostgreSQL (this machine, fsync on), next to the same
# tasks run inside piped. Prints tasks/s of 10,000 independent `true` tasks
# and of 2,000 10 ms tasks, write transactions and all commits per task,
# the claim latency (ready -> claimed by a worker) p50/p99, and the hop from
# one task to the next across workers (a 40-task chain, the tasks' own
# clocks). Usage: bench/workers.sh [TASKS] (default 10000)
set -eu
cd "$(dirname "$0")/.."
tasks=${1:-10000}
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl piped > /dev/null
. bench/pg_cluster.sh
piped_bin=./build/release/src/piped/piped
sql() { as_pg "$pgbin/psql" -h "$work" -p "$port" -U postgres -d pipe -At -c "$1"; }

/usr/bin/python3 - "$work/dags" "$tasks" <<'PY'
import sys
folder, n = sys.argv[1], int(sys.argv[2])
def wide(name, queue, count, run):
    with open(f"{folder}/{name}.yaml", "w") as f:
        f.write(f"dag: {name}\ntasks:\n")
        for i in range(count):
            f.write(f"  t{i}: {{op: shell, queue: {queue}, run: '{run}'}}\n")
wide("wide_remote", "remote", n, "true")
wide("wide_local", "default", n, "true")
wide("ten_ms_remote", "remote", n // 5, "sleep 0.01")
with open(f"{folder}/chain.yaml", "w") as f:
    f.write("dag: chain\ntasks:\n")
    for i in range(40):
        dep = f", depends_on: [c{i - 1}]" if i else ""
        f.write(f"  c{i}: {{op: shell, queue: remote{dep}, run: 'date +%s%N >> stamps'}}\n")
PY

PIPE_HOME="$work/home" $piped_bin --dags "$work/dags" --db "$db" --listen 127.0.0.1:0 --workers 2 \
  --local-queues default 2> "$work/piped.log" &
bench_pids="$!"
for _ in $(seq 400); do grep -q "listening on" "$work/piped.log" && break; sleep 0.05; done
server="http://$(sed -n 's/.*piped listening on \([0-9.:]*\) .*/\1/p' "$work/piped.log" | head -n 1)"
echo "piped at $server, PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}'), $(nproc) cores"

# Triggers DAG $1 and waits for its run's end; prints the run id.
run_dag() {
  id=$(PIPE_SERVER="$server" ./build/release/src/cli/pipectl trigger "$1" | head -n 1)
  while [ "$(sql "SELECT state FROM runs WHERE run_id = '$id'")" = running ]; do sleep 0.05; done
  echo "$id"
}
seconds() { sql "SELECT (ended_at - started_at) / 1e6 FROM runs WHERE run_id = '$1'"; }
next_txid() { sql "SELECT txid_snapshot_xmax(txid_current_snapshot())"; }
commits() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'pipe'"; }

worker_pids=""
start_workers() {
  i=0
  while [ $i -lt "$1" ]; do
    PIPE_HOME="$work/home" $piped_bin worker --db "$db" --queues remote --name "w$i" 2>> "$work/workers.log" &
    worker_pids="$worker_pids $!"
    i=$((i + 1))
  done
  bench_pids="$bench_pids $worker_pids"
  sleep 0.5
}
stop_workers() {
  for pid in $worker_pids; do kill "$pid"; wait "$pid" 2> /dev/null || true; done
  worker_pids=""
}

printf '%-34s %9s %9s %10s %10s %12s %12s\n' "run" "tasks" "seconds" "tasks/s" "writes/task" "commits/task" "claim p50/p99 ms"
report() {  # NAME RUN TX_BEFORE COMMITS_BEFORE N
  s=$(seconds "$2")
  tx=$(( $(next_txid) - $3 ))
  c=$(( $(commits) - $4 ))
  claim=$(sql "SELECT coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY claimed_at - enqueued_at) / 1000.0)::numeric, 2) || ' / ' ||
                round((percentile_cont(0.99) WITHIN GROUP (ORDER BY claimed_at - enqueued_at) / 1000.0)::numeric, 2), '-')
               FROM work WHERE run_id = '$2'")
  awk -v name="$1" -v n="$5" -v s="$s" -v tx="$tx" -v c="$c" -v claim="$claim" 'BEGIN {
    printf "%-34s %9d %9.2f %10.0f %10.2f %12.2f %12s\n", name, n, s, n / s, tx / n, c / n, claim }'
}

for w in 1 2 4; do
  start_workers $w
  tx=$(next_txid); c=$(commits)
  run=$(run_dag wide_remote)
  report "$tasks x true, $w worker(s)" "$run" "$tx" "$c" "$tasks"
  tx=$(next_txid); c=$(commits)
  run=$(run_dag ten_ms_remote)
  report "$((tasks / 5)) x 10 ms, $w worker(s)" "$run" "$tx" "$c" "$((tasks / 5))"
  if [ $w -eq 2 ]; then
    rm -f "$work/dags/stamps"
    run=$(run_dag chain)
    sort -n "$work/dags/stamps" | awk '{ if (NR > 1) print ($1 - prev) / 1e6; prev = $1 }' | sort -n |
      awk '{ v[NR] = $1 } END { printf "hop across 2 workers (40-task chain): p50 %.2f ms, p99 %.2f ms (target p50 <= 5 ms)\n",
        v[int(NR * 0.5 + 0.5)], v[NR] }'
    # The same hops as the database saw them: a task's end (its worker's
    # finish) to the next task's claim, without the two process starts
    # (sh, date) every task of the chain makes.
    sql "SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY n.claimed_at - p.ended_at) / 1000.0)::numeric, 2),
                round((percentile_cont(0.99) WITHIN GROUP (ORDER BY n.claimed_at - p.ended_at) / 1000.0)::numeric, 2)
         FROM work p JOIN work n ON n.run_id = p.run_id AND n.task_id = 'c' || (substr(p.task_id, 2)::int + 1)
         WHERE p.run_id = '$run'" |
      awk -F'|' '{ printf "hop end -> next claim in the database: p50 %s ms, p99 %s ms\n", $1, $2 }'
  fi
  stop_workers
done
tx=$(next_txid); c=$(commits)
run=$(run_dag wide_local)
report "$tasks x true, in piped (2 threads)" "$run" "$tx" "$c" "$tasks"
echo "targets: >= 1,000 tasks/s with 2 workers, <= 3 write transactions per task, hop p50 <= 5 ms"
