#!/bin/sh
# Larger than memory: the pipeline of bench/pipeline.sh run twice through
# `pipectl run`, once with no memory limit and once under PIPE_MEMORY_LIMIT
# (default 256M, far below its 1.4 GB tables at 10M rows), so every task
# builds its output in a spill file. Prints wall time, peak RSS, and the peak
# of anonymous memory (what cannot be paged out to the spill files), sampled
# from /proc every 20 ms, and checks that both runs wrote the same file.
#
# Usage: bench/spill.sh [ROWS] [LIMIT]     (ROWS default 10000000)
# The CSV is cached in ${PIPE_BENCH_DATA:-/tmp/pipe-bench} (bench/peers/gen_csv.py).
set -eu
cd "$(dirname "$0")/.."
rows=${1:-10000000}
limit=${2:-256M}
data=${PIPE_BENCH_DATA:-/tmp/pipe-bench}
mkdir -p "$data"
csv="$data/tx_$rows.csv"

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl > /dev/null
pipectl=$PWD/build/release/src/cli/pipectl
[ -f "$csv" ] || /usr/bin/python3 bench/peers/gen_csv.py "$rows" "$csv" > /dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # NAME [LIMIT]
  PIPE_HOME="$work/$1" PIPE_MEMORY_LIMIT="${2:-}" /usr/bin/python3 - "$pipectl" "$csv" "$work/$1.parquet" <<'PY'
import subprocess, sys, time
pipectl, csv, out = sys.argv[1:4]
start = time.monotonic()
p = subprocess.Popen([pipectl, "run", "bench/fraud_pipeline.yaml", "-p", f"csv={csv}", "-p", f"out={out}"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak = {"RssAnon": 0, "VmHWM": 0}
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            key = line.split(":")[0]
            if key in peak:
                peak[key] = max(peak[key], int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.02)
wall = time.monotonic() - start
if p.returncode != 0:
    sys.exit(p.stderr.read().decode())
print(f"{wall:.2f} {peak['VmHWM'] / 1e6:.2f} {peak['RssAnon'] / 1e6:.2f}")
PY
}

echo "== $rows rows, no limit"
free=$(run free)
echo "== $rows rows, PIPE_MEMORY_LIMIT=$limit"
limited=$(run limited "$limit")
cmp -s "$work/free.parquet" "$work/limited.parquet" && same=yes || same=NO
echo
printf '%-22s %8s %14s %18s\n' "" "wall s" "peak RSS GB" "peak anon GB"
set -- $free; printf '%-22s %8s %14s %18s\n' "no limit" "$1" "$2" "$3"
set -- $limited; printf '%-22s %8s %14s %18s\n' "PIPE_MEMORY_LIMIT=$limit" "$1" "$2" "$3"
echo "same output file: $same"
[ "$same" = yes ]
