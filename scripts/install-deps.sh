#!/bin/sh
# Installs the Debian 12 packages the build needs; with --test, also what the
# tests, sanitizer builds and fuzzers need. Idempotent: installs only what is
# missing, so a second run takes a moment.
set -eu

build="cmake ninja-build g++ ccache pkg-config tzdata libyaml-dev \
  libyaml-cpp-dev libspdlog-dev libfmt-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev \
  libhowardhinnant-date-dev libxxhash-dev libfast-float-dev libpqxx-dev libboost-dev libssl-dev \
  libhwy-dev libsnappy-dev libzstd-dev libsimdjson-dev libxgboost-dev libre2-dev nodejs npm"
# node and npm bundle the web UI (ui/) into piped; the tests also drive
# Debian's chromium with playwright-core (tests/ui/).
# scikit-learn, xgboost and scipy (Debian's, for /usr/bin/python3) are the
# references of the model differential tests. prometheus brings promtool, which
# checks the alert rules in docker/prometheus.
test_extra="libgtest-dev libgmock-dev clang libclang-rt-14-dev postgresql chromium prometheus \
  python3-sklearn python3-xgboost python3-scipy python3-numpy"

packages=$build
[ "${1:-}" = "--test" ] && packages="$packages $test_extra"

missing=""
for p in $packages; do
  # Node may come from elsewhere (e.g. NodeSource, whose nodejs bundles npm
  # and conflicts with Debian's npm): the commands are what the tests need.
  case $p in
    nodejs) command -v node > /dev/null && continue ;;
    npm) command -v npm > /dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
