#!/bin/sh
# Benchmarks of the core engine, each next to its peer or target. Prints one
# line per benchmark. Usage: bench/run.sh [REPEATS]   (median of REPEATS, default 5)
set -eu
cd "$(dirname "$0")/.."
repeats=${1:-5}
command -v ninja > /dev/null || ./scripts/install-deps.sh
command -v ninja > /dev/null || { echo "bench needs ninja-build"; exit 2; }
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl > /dev/null
pipectl=$PWD/build/release/src/cli/pipectl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIPE_HOME="$work/home"

now() { date +%s%N; }
# median wall seconds of running "$@" $repeats times (each in a fresh PIPE_HOME)
median() {
  for _ in $(seq "$repeats"); do
    rm -rf "$PIPE_HOME"
    sync  # the previous run's writes go to disk now, not during this one
    start=$(now); "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; end=$(now)
    echo $(( (end - start) / 1000 ))
  done | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] / 1e6 }'
}

# 1. 2,000-task layered DAG of `true`, pipectl vs ninja -j2.
/usr/bin/python3 bench/peers/ninja_dag.py --nodes 2000 --jobs 2 --dir "$work/ninja" --no-run > /dev/null
/usr/bin/python3 bench/layered_dag.py --nodes 2000 "$work/layered.yaml"
ninja_s=$(median sh -c "rm -rf '$work/ninja/out' && mkdir -p '$work/ninja/out' && ninja -C '$work/ninja' -j2")
pipe_s=$(median "$pipectl" run "$work/layered.yaml" --workers 2)
echo "layered 2000 x true: pipectl ${pipe_s}s, ninja -j2 ${ninja_s}s, ratio $(echo "$pipe_s $ninja_s" | awk '{printf "%.2f", $1/$2}') (target <= 1.3)"

# 2. 40 sequential tasks of ~10 ms each.
{
  echo "dag: sequential"; echo "tasks:"
  i=0; while [ $i -lt 40 ]; do
    if [ $i -eq 0 ]; then echo "  t$i: {op: shell, run: 'sleep 0.01'}"
    else echo "  t$i: {op: shell, run: 'sleep 0.01', depends_on: [t$((i - 1))]}"; fi
    i=$((i + 1))
  done
} > "$work/seq40.yaml"
seq_s=$(median "$pipectl" run "$work/seq40.yaml")
echo "40 sequential 10 ms tasks: ${seq_s}s end to end (target <= 0.6 s; 0.4 s is the work itself)"

# 3. Validate a 10,000-task DAG file.
/usr/bin/python3 bench/layered_dag.py --nodes 10000 --layers 20 "$work/big.yaml"
val_s=$(median "$pipectl" validate "$work/big.yaml")
echo "validate 10,000 tasks: ${val_s}s (target <= 0.15 s)"
