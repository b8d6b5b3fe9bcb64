#!/bin/sh
# Web UI render times in headless Chromium (Debian's /usr/bin/chromium driven
# by playwright-core): the grid of a 1,000-task DAG x 25 runs and the graph of
# a 2,000-task DAG, each page loaded REPEATS times (default 5) in a fresh
# browser context; prints median and max of navigation start to the end of the
# frame that drew it (the page's clock) next to the 1 s target, what
# Playwright's waitForSelector saw, where the time went, and the bare API
# calls with curl. Exits non-zero when a page does not render (not on a
# missed target). Usage: bench/ui.sh [REPEATS]
# PIPED=... PIPECTL=... use those binaries (both given: nothing is built).
set -eu
cd "$(dirname "$0")/.."
repeats=${1:-5}
[ -x /usr/bin/chromium ] || { echo "bench/ui.sh needs chromium (apt-get install chromium)"; exit 2; }
command -v node > /dev/null || { echo "bench/ui.sh needs node and npm (apt-get install nodejs npm)"; exit 2; }
if [ -z "${PIPED:-}" ] || [ -z "${PIPECTL:-}" ]; then
  command -v ninja > /dev/null || ./scripts/install-deps.sh
  command -v ninja > /dev/null || { echo "bench needs ninja-build"; exit 2; }
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF -DPIPE_BUILD_BENCHMARKS=ON > /dev/null
  cmake --build build/release --target piped pipectl > /dev/null
fi
piped=${PIPED:-$PWD/build/release/src/piped/piped}
pipectl=${PIPECTL:-$PWD/build/release/src/cli/pipectl}
[ -d tests/ui/node_modules/playwright-core ] || npm install --prefix tests/ui --no-audit --no-fund --silent

work=$(mktemp -d)
piped_pid=""
cleanup() {
  if [ -n "$piped_pid" ]; then kill "$piped_pid" 2> /dev/null || true; wait "$piped_pid" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export PIPE_HOME="$work/home"
mkdir -p "$work/dags"

# The two DAGs: the layered generator's graphs (fan-in 2) of `true` tasks.
/usr/bin/python3 bench/layered_dag.py --nodes 1000 --layers 10 "$work/layered1000.yaml"
sed 's/^dag: layered$/dag: grid1000/' "$work/layered1000.yaml" > "$work/dags/grid1000.yaml"
/usr/bin/python3 bench/layered_dag.py --nodes 2000 --layers 10 "$work/layered2000.yaml"
sed 's/^dag: layered$/dag: graph2000/' "$work/layered2000.yaml" > "$work/dags/graph2000.yaml"

# 25 runs of the 1,000-task DAG in the fresh PIPE_HOME (SQLite store).
printf '25 runs of grid1000 (1,000 tasks, pipectl run --workers 2):'
start=$(date +%s)
for i in $(seq 25); do
  "$pipectl" run "$work/dags/grid1000.yaml" --workers 2 > "$work/run.log" 2>&1 ||
    { echo; echo "run $i of grid1000 failed:"; tail -n 20 "$work/run.log"; exit 1; }
  printf ' %d' "$i"
done
echo " ($(( $(date +%s) - start )) s)"

"$piped" --dags "$work/dags" --listen 127.0.0.1:0 2> "$work/piped.log" &
piped_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/piped.log" && break; sleep 0.05; done
server="http://$(sed -n 's/.*piped listening on \([0-9.:]*\) .*/\1/p' "$work/piped.log" | head -n 1)"
for _ in $(seq 200); do curl -sf "$server/api/v1/health" > /dev/null 2>&1 && break; sleep 0.05; done
curl -sf "$server/api/v1/health" > /dev/null || { echo "piped did not start:"; tail -n 20 "$work/piped.log"; exit 1; }
echo "piped at $server, $(/usr/bin/chromium --version 2> /dev/null), $(nproc) cores"

# The bare API calls the two pages make, for comparison (median and max of REPEATS).
api() {  # LABEL PATH
  curl -sf -o /dev/null "$server$2" || { echo "GET $2 failed"; exit 1; }  # warm-up
  for _ in $(seq "$repeats"); do
    curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "$server$2"
  done | sort -n | awk -v label="$1" -v path="$2" '{ v[NR] = $1; size = $2 } END {
    printf "API %s: GET %s %d bytes, median %.1f ms, max %.1f ms\n", label, path, size, v[int((NR + 1) / 2)] * 1000, v[NR] * 1000 }'
}
api grid /api/v1/dags/grid1000/grid?limit=25
api graph /api/v1/dags/graph2000
api "grid's DAG" /api/v1/dags/grid1000

node bench/ui_bench.mjs "$server" "$repeats"
