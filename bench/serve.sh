#!/bin/sh
# Real-time predictions over REST: piped's POST /api/v1/models/NAME/predict
# against the peer a user would write instead (FastAPI + uvicorn + xgboost
# serving the same model file), same rows, same machine, in one run.
# Usage: bench/serve.sh [SECONDS] [ROWS]   (each wrk run lasts SECONDS, default 10;
# the models train on ROWS rows, default 100000, of 30 features)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
rows=${2:-100000}
for p in wrk python3-fastapi python3-uvicorn python3-xgboost python3-numpy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get install -y -qq --no-install-recommends $missing > /dev/null
fi
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target piped pipectl > /dev/null
bin=$PWD/build/release/src
work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2> /dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${PIPE_BENCH_KEEP:-}" ] && trap - EXIT  # keep the servers and files (profiling)
export PIPE_HOME="$work/home"

/usr/bin/python3 bench/serve_data.py "$work" "$rows" 30
mkdir -p "$work/dags"
cat > "$work/dags/serve_bench.yaml" << YAML
dag: serve_bench
tasks:
  data: {op: ingest, with: {path: $work/train.csv}}
  xgb:
    op: train
    depends_on: [data]
    with: {target: label, model: xgboost, name: bench_xgb,
           params: {num_round: 100, max_depth: 6, eta: 0.1}}
  lr:
    op: train
    depends_on: [data]
    with: {target: label, model: logistic_regression, name: bench_lr}
  serve_xgb: {op: serve, depends_on: [xgb], with: {model: xgb}}
  serve_lr: {op: serve, depends_on: [lr], with: {model: lr}}
YAML
"$bin/cli/pipectl" run "$work/dags/serve_bench.yaml" > /dev/null
model=$("$bin/cli/pipectl" models show bench_xgb --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"]["file"]["uri"])')

port=$((20000 + $$ % 20000))
"$bin/piped/piped" --dags "$work/dags" --db "sqlite:$work/home/state.db" --listen "127.0.0.1:$port" \
  > "$work/piped.log" 2>&1 &
pids="$pids $!"
# The same models with a connection thread per core (the default is half the
# cores; the client shares this machine's cores), from a copy of the store:
# one piped per SQLite database.
port1=$((port + 2))
mkdir -p "$work/home1" && cp "$work/home"/state.db* "$work/home1/"
"$bin/piped/piped" --dags "$work/dags" --db "sqlite:$work/home1/state.db" --listen "127.0.0.1:$port1" \
  --http-threads "$(nproc)" > "$work/piped1.log" 2>&1 &
pids="$pids $!"
peer_port=$((port + 1))
/usr/bin/python3 bench/peers/fastapi_serve.py "$model" "$(cat "$work/features.txt")" "$peer_port" > "$work/peer.log" 2>&1 &
pids="$pids $!"
for url in "http://127.0.0.1:$port/api/v1/health" "http://127.0.0.1:$port1/api/v1/health" "http://127.0.0.1:$peer_port/docs"; do
  i=0
  until curl -sf "$url" > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "server at $url did not start"; cat "$work"/*.log; exit 1; }
    sleep 0.1
  done
done

# One wrk run: prints "REQS_PER_S P99_MS".
load() {  # URL BODY CONNECTIONS
  BODY="$2" wrk -t1 -c"$3" -d"${secs}s" --latency -s bench/wrk_post.lua "$1" > "$work/wrk.out"
  if grep -q "Non-2xx" "$work/wrk.out"; then echo "non-2xx answers from $1:"; cat "$work/wrk.out"; exit 1; fi
  awk '/Requests\/sec/ { r = $2 } $1 == "99%" { v = $2; if (v ~ /us$/) p = v / 1000; else if (v ~ /ms$/) p = v + 0; else p = v * 1000 } END { printf "%.0f %.3f", r, p }' "$work/wrk.out"
}
report() {  # LABEL "RPS P99" ROWS_PER_REQUEST [PEER_RPS]
  set -- "$1" $2 "$3" "${4:-}"
  line=$(printf "%-34s %8s req/s  %9s rows/s  p99 %6s ms" "$1" "$2" "$(($2 * $4))" "$3")
  [ -n "$5" ] && line="$line  ($(echo "$2 $5" | awk '{printf "%.1f", $1/$2}')x FastAPI)"
  echo "$line"
}
# Warm up each server, then measure.
load "http://127.0.0.1:$port/api/v1/models/bench_xgb/predict" "$work/one.json" 4 > /dev/null
load "http://127.0.0.1:$port1/api/v1/models/bench_xgb/predict" "$work/one.json" 4 > /dev/null
load "http://127.0.0.1:$peer_port/api/v1/models/bench_xgb/predict" "$work/one.json" 4 > /dev/null

peer1=$(load "http://127.0.0.1:$peer_port/api/v1/models/bench_xgb/predict" "$work/one.json" 8)
peer100=$(load "http://127.0.0.1:$peer_port/api/v1/models/bench_xgb/predict" "$work/hundred.json" 8)
xgb1=$(load "http://127.0.0.1:$port/api/v1/models/bench_xgb/predict" "$work/one.json" 8)
xgb100=$(load "http://127.0.0.1:$port/api/v1/models/bench_xgb/predict" "$work/hundred.json" 8)
lr1=$(load "http://127.0.0.1:$port/api/v1/models/bench_lr/predict" "$work/one.json" 8)
lr100=$(load "http://127.0.0.1:$port/api/v1/models/bench_lr/predict" "$work/hundred.json" 8)
xgb1t=$(load "http://127.0.0.1:$port1/api/v1/models/bench_xgb/predict" "$work/one.json" 8)
lr1t=$(load "http://127.0.0.1:$port1/api/v1/models/bench_lr/predict" "$work/one.json" 8)
xgb100t=$(load "http://127.0.0.1:$port1/api/v1/models/bench_xgb/predict" "$work/hundred.json" 8)

echo "predict over REST, $rows training rows x 30 features, wrk -t1 -c8 ${secs}s, client on this machine ($(nproc) cores)"
report "piped xgboost (100 trees, depth 6)" "$xgb1" 1 "${peer1%% *}"
report "piped logistic regression" "$lr1" 1
report "FastAPI+uvicorn+xgboost" "$peer1" 1
report "piped xgboost, 100-row requests" "$xgb100" 100 "${peer100%% *}"
report "piped logistic, 100-row requests" "$lr100" 100
report "FastAPI, 100-row requests" "$peer100" 100
echo "piped --http-threads $(nproc) (a connection thread per core; the default is half the cores, and wrk takes a core too):"
report "piped xgboost" "$xgb1t" 1 "${peer1%% *}"
report "piped logistic regression" "$lr1t" 1
report "piped xgboost, 100-row requests" "$xgb100t" 100 "${peer100%% *}"
echo "targets: single-row >= 20000 req/s with p99 <= 2 ms; 100-row >= 500000 rows/s; >= 10x FastAPI"
