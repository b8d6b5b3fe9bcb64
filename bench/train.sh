#!/bin/sh
# The training benchmark: pipe's logistic regression against scikit-learn's
# LogisticRegression(solver="lbfgs") (fit alone, the matrix already in
# memory), and pipe's XGBoost path against Python xgboost with the same
# parameters (the same libxgboost underneath: the difference is how the data
# gets to it), on the same generated rows, in one run. Prints the figures,
# the ratios, and peak memory next to the table's size.
#
# Usage: bench/train.sh [ROWS] [FEATURES]      (default 2000000 rows, 30 features)
# Needs: /usr/bin/python3 with numpy, scikit-learn and xgboost (Debian's
# python3-numpy python3-sklearn python3-xgboost). The data is cached in
# ${PIPE_BENCH_DATA:-/tmp/pipe-bench}/train_ROWSxFEATURES.
set -eu
cd "$(dirname "$0")/.."
rows=${1:-2000000}
features=${2:-30}
data=${PIPE_BENCH_DATA:-/tmp/pipe-bench}/train_${rows}x${features}
mkdir -p "$data"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIPE_BUILD_TESTS=OFF \
  -DPIPE_BUILD_BENCHMARKS=ON > /dev/null
cmake --build build/release --target train_bench > /dev/null
[ -f "$data/y.f64" ] || /usr/bin/python3 bench/train_peer.py gen "$rows" "$features" "$data"

ours=$(./build/release/bench/train_bench "$data" "$rows" "$features")
peer=$(/usr/bin/python3 bench/train_peer.py fit "$data" "$rows" "$features")
/usr/bin/python3 - "$ours" "$peer" "$rows" "$features" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows, features = sys.argv[3], sys.argv[4]
print(f"training on {int(rows) * 8 // 10:,} rows x {features} features (table {o['table_mb']:.0f} MB), tested on the rest")
print(f"logistic regression: pipe {o['logistic_fit_s']:.2f} s ({o['logistic_iterations']} Newton steps, AUC {o['logistic_auc']:.4f}), "
      f"scikit-learn lbfgs {p['sklearn_fit_s']:.2f} s ({p['sklearn_iterations']} iterations, AUC {p['sklearn_auc']:.4f}): "
      f"{p['sklearn_fit_s'] / o['logistic_fit_s']:.1f}x faster (target >= 5x), AUC difference {abs(o['logistic_auc'] - p['sklearn_auc']):.5f} (target <= 0.001)")
print(f"xgboost 100 rounds depth 6: pipe {o['xgboost_s']:.2f} s (AUC {o['xgboost_auc']:.4f}), Python xgboost {p['xgboost_s']:.2f} s "
      f"(AUC {p['xgboost_auc']:.4f}): overhead {100 * (o['xgboost_s'] / p['xgboost_s'] - 1):+.1f}% (target <= 10%)")
print(f"peak memory: pipe {o['peak_rss_mb']:.0f} MB = {o['peak_rss_mb'] / o['table_mb']:.2f}x the table "
      f"(after loading {o['loaded_rss_mb']:.0f} MB, after logistic {o['logistic_peak_rss_mb']:.0f} MB; target <= 2x), "
      f"Python {p['peak_rss_mb']:.0f} MB")
PY
