#!/usr/bin/python3
"""The training benchmark's data and its peers (bench/train.sh).

Usage: train_peer.py gen ROWS FEATURES DIR   -> DIR/x.f64 (column-major float64), DIR/y.f64
       train_peer.py fit DIR ROWS FEATURES    -> one JSON line: scikit-learn and Python xgboost
The first 80% of the rows train, the last 20% test (the rows are i.i.d.).
"""
import json
import resource
import sys
import time

import numpy as np


def gen(rows, features, out):
    rng = np.random.default_rng(20261203)
    x = rng.normal(size=(rows, features)) * rng.uniform(0.5, 3.0, size=features)
    w = rng.normal(size=features) * (rng.uniform(size=features) < 0.6)
    margin = x @ w / np.sqrt(features) - 1.0
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-margin))).astype(np.float64)
    np.asfortranarray(x).T.tofile(f"{out}/x.f64")  # column after column
    y.tofile(f"{out}/y.f64")


def fit(data, rows, features):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    import xgboost as xgb
    x = np.fromfile(f"{data}/x.f64").reshape(features, rows).T  # rows x features view
    x = np.ascontiguousarray(x)
    y = np.fromfile(f"{data}/y.f64")
    cut = rows * 8 // 10
    out = {}
    t = time.perf_counter()
    m = LogisticRegression(solver="lbfgs", C=1.0, max_iter=1000, tol=1e-4).fit(x[:cut], y[:cut])
    out["sklearn_fit_s"] = time.perf_counter() - t
    out["sklearn_iterations"] = int(m.n_iter_[0])
    out["sklearn_auc"] = roc_auc_score(y[cut:], m.predict_proba(x[cut:])[:, 1])
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1, "nthread": 2}
    t = time.perf_counter()
    booster = xgb.train(params, xgb.DMatrix(x[:cut], label=y[:cut], nthread=2), num_boost_round=100)
    out["xgboost_s"] = time.perf_counter() - t
    out["xgboost_auc"] = roc_auc_score(y[cut:], booster.predict(xgb.DMatrix(x[cut:], nthread=2)))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        fit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
