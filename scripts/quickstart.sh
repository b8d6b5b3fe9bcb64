#!/bin/sh
# The README's first command: install the build dependencies, build pipectl,
# run the example pipeline on the embedded store (state in ./.pipe).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF > /dev/null
cmake --build build/release --target pipectl
./build/release/src/cli/pipectl run dags/example.yaml
