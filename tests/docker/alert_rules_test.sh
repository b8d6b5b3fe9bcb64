#!/bin/sh
# The shipped Prometheus alert rules: valid for promtool, firing as
# docker/prometheus/alerts_test.yaml says, and naming only metrics that
# piped exports. Usage: alert_rules_test.sh SOURCE_DIR
set -eu
src=$1
rules=$src/docker/prometheus/alerts.yaml
if ! command -v promtool > /dev/null 2>&1; then
  echo "promtool is not installed: apt-get install prometheus (scripts/install-deps.sh --test does)" >&2
  exit 1
fi
promtool check rules "$rules"
(cd "$src/docker/prometheus" && promtool test rules alerts_test.yaml)
# Every pipe_ metric a rule reads is one the API renders.
status=0
for metric in $(grep -o 'pipe_[a-z_]*' "$rules" | sort -u); do
  if ! grep -q "\"$metric\|$metric{\|$metric " "$src/src/api/api.cc"; then
    echo "alerts.yaml reads $metric, which piped does not export (src/api/api.cc)" >&2
    status=1
  fi
done
exit $status
