#!/bin/sh
# The README's second command (and CI's): install what the tests need, build,
# run every test; then the same suite under ASan/UBSan and under TSan, then the
# fuzzers for a bounded time. Ends with one "tests: N passed, M failed" line.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
# DuckDB (through Node) is the reference of the differential tests.
# `npm install`, not `npm ci`: npm writes no lock entries for the other platforms'
# optional DuckDB binaries, and `npm ci` refuses such a lock file.
[ -d tests/differential/node_modules/@duckdb/node-api ] || npm install --prefix tests/differential --no-audit --no-fund --silent
# ajv, ajv-formats and yaml check a live piped against docs/api/openapi.yaml (tests/e2e/openapi_test.cc).
[ -d tests/api/openapi/node_modules/ajv-formats ] && [ -d tests/api/openapi/node_modules/yaml ] || npm install --prefix tests/api/openapi --no-audit --no-fund --silent
# playwright-core drives Debian's chromium in the web UI's browser test (tests/ui/ui_test.mjs).
[ -d tests/ui/node_modules/playwright-core ] || npm install --prefix tests/ui --no-audit --no-fund --silent
jobs=$(nproc)
# Most tests wait (on processes, PostgreSQL, timers): twice as many at once as
# there are cores keeps the cores busy (a third less time for the main suite).
test_jobs=$((jobs * 2))
fuzz_seconds=${PIPE_FUZZ_SECONDS:-60}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Line tables only (-g1): a third less build time, file:line kept in reports.
cmake_flags="-G Ninja -DPIPE_DEBUG_LINES_ONLY=ON"
started=$(date +%s)
stage() {  # NAME: print the time since the previous stage's start, then NAME
  now=$(date +%s)
  [ -z "${stage_name:-}" ] || echo "   ($stage_name took $((now - stage_at)) s)"
  stage_name=$1 stage_at=$now
  [ "$1" = end ] || echo "== $1"
}

counts() {  # "N% tests passed, F tests failed out of T" -> "T F"
  sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$1" | tail -n 1
}

stage "build and test (RelWithDebInfo)"
cmake -S . -B build/test $cmake_flags -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIPE_BUILD_TESTS=ON > /dev/null
cmake --build build/test
(cd build/test && ctest -j"$test_jobs" --output-on-failure --timeout 300) | tee "$log/main" | grep -vE '^ *([0-9]+/[0-9]+ Test|Start +[0-9]+:)' || true

stage "build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
# With clang: it builds this tree in two thirds of GCC's time, and its UBSan
# checks more (pointer arithmetic past an array, which GCC's let through).
# The fuzzers are built here too (PIPE_BUILD_FUZZERS: every object also gets
# libFuzzer's coverage hooks, which cost the tests little): a separate fuzz
# tree would compile everything a fourth time.
CC=clang CXX=clang++ cmake -S . -B build/asan $cmake_flags -DCMAKE_BUILD_TYPE=Debug -DPIPE_BUILD_TESTS=ON \
  -DPIPE_SANITIZE=address,undefined -DPIPE_BUILD_FUZZERS=ON > /dev/null
cmake --build build/asan
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PWD/../../tests/lsan.supp" \
  ctest -j"$test_jobs" --output-on-failure --timeout 600) | tee "$log/asan" | grep -vE '^ *([0-9]+/[0-9]+ Test|Start +[0-9]+:)' || true

stage "build and test under ThreadSanitizer"
# TSan finds races; these three read big inputs on one thread (a 2 GiB CSV
# field, DuckDB's files, a million rows from PostgreSQL) for minutes and are
# run by the other two stages.
tsan_skip='CsvFileTest.TwoGigabyteFieldIsABadRowNotACrash|DuckDbDifferentialTest.WeReadWhatDuckDbWrites|PostgresSourceTest.AMillionRowsOfEveryTypeEqualPsqlsOwnExport'
# With clang too: measured here, it built this tree in 9.8 minutes and ran its
# tests in 364 s, where GCC took about 11 minutes and 497 s.
CC=clang CXX=clang++ cmake -S . -B build/tsan $cmake_flags -DCMAKE_BUILD_TYPE=Debug -DPIPE_BUILD_TESTS=ON \
  -DPIPE_SANITIZE=thread > /dev/null
cmake --build build/tsan
(cd build/tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/../../tests/tsan.supp" \
  ctest -j"$test_jobs" --output-on-failure --timeout 600 -E "$tsan_skip") | tee "$log/tsan" | grep -vE '^ *([0-9]+/[0-9]+ Test|Start +[0-9]+:)' || true

stage "fuzz the DAG loader for ${fuzz_seconds}s; the REST handlers, the CSV and the Parquet readers for half that"
fuzz_failed=0  # the fuzzers were built in build/asan
mkdir -p "$log/corpus" "$log/api-corpus" "$log/csv-corpus" "$log/parquet-corpus"
find dags tests/dags -name '*.yaml' -exec cp {} "$log/corpus/" \;
cp fuzz/api-seeds/* "$log/api-corpus/"
cp fuzz/csv-seeds/* "$log/csv-corpus/"
cp fuzz/parquet-seeds/* "$log/parquet-corpus/"
fuzz() {  # NAME CORPUS SECONDS: a failure leaves $log/NAME.failed
  if ! ./build/asan/fuzz/"$1" -max_total_time="$3" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$log/$1-" "$2" > "$log/$1.out" 2>&1; then
    touch "$log/$1.failed"
    mkdir -p build/fuzz-crashes && cp "$log/$1"-crash-* "$log/$1"-timeout-* "$log/$1"-oom-* build/fuzz-crashes/ 2>/dev/null || true
  fi
}
# Two at a time, one per core: the loader alone, the other three one after another.
fuzz dag_loader_fuzzer "$log/corpus" "$fuzz_seconds" &
fuzz api_fuzzer "$log/api-corpus" "$((fuzz_seconds / 2))"
fuzz csv_reader_fuzzer "$log/csv-corpus" "$((fuzz_seconds / 2))"
fuzz parquet_reader_fuzzer "$log/parquet-corpus" "$((fuzz_seconds / 2))"
wait
for name in dag_loader_fuzzer api_fuzzer csv_reader_fuzzer parquet_reader_fuzzer; do
  if [ -e "$log/$name.failed" ]; then
    fuzz_failed=1
    tail -n 60 "$log/$name.out"
  fi
  echo "$name: $(grep -E '^stat::number_of_executed_units' "$log/$name.out" || echo 'no stats')"
done

total=4  # the fuzzers
failed=$fuzz_failed
for suite in main asan tsan; do
  set -- $(counts "$log/$suite")
  total=$((total + ${1:-0}))
  failed=$((failed + ${2:-1}))  # a suite that printed no count failed to run
done
stage end
# The failures again, briefly, where the end of the output shows them (each
# suite printed them in full where they happened, among a thousand lines).
for suite in main asan tsan; do
  grep -q ' tests failed out of' "$log/$suite" 2>/dev/null && ! grep -q ' 0 tests failed out of' "$log/$suite" || continue
  echo "== what failed in the $suite suite"
  grep -E -A4 ': Failure$|C\+\+ exception|WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|piped.s last exit status|Google Test trace|\*\*\*(Failed|Timeout|Exception)' \
    "$log/$suite" | cut -c1-300 | head -n 40
done
echo "tests: $((total - failed)) passed, $failed failed ($(( $(date +%s) - started )) s after the dependencies)"
[ "$failed" -eq 0 ]
