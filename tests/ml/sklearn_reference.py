#!/usr/bin/python3
"""Reference fits for tests/ml/sklearn_differential_test.cc.

Usage: sklearn_reference.py OUT_DIR
Writes OUT_DIR/CASE.csv (the features, then the target, as the last column;
17 significant digits) for each case, and OUT_DIR/reference.json with what
scikit-learn fits and measures on them. The C++ test fits the same rows with
pipe's solvers and compares.
"""
import json
import os
import sys

import numpy as np
from sklearn import datasets, metrics
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler


def write(out, name, x, y):
    with open(os.path.join(out, name + ".csv"), "w") as f:
        for row, target in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + "," + repr(float(target)) + "\n")


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20261203)
    ref = {}

    def linear(name, x, y, model):
        model.fit(x, y)
        write(out, name, x, y)
        ref[name] = {"kind": "linear", "l2": getattr(model, "alpha", 0.0),
                     "coef": model.coef_.tolist(), "intercept": float(model.intercept_)}

    def logistic(name, x, y, c, balanced=False):
        model = LogisticRegression(C=c, tol=1e-12, max_iter=100000,
                                   class_weight="balanced" if balanced else None)
        model.fit(x, y)
        p = model.predict_proba(x)[:, 1]
        write(out, name, x, y)
        ref[name] = {"kind": "logistic", "l2": 1.0 / c, "balanced": balanced,
                     "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
                     "auc": metrics.roc_auc_score(y, p)}

    x = rng.normal(size=(5000, 8)) * rng.uniform(0.5, 20, size=8) + rng.uniform(-50, 50, size=8)
    y = x @ rng.normal(size=8) + 7.5 + rng.normal(scale=3.0, size=5000)
    linear("linear_generated", x, y, LinearRegression())
    linear("ridge_generated", x, y, Ridge(alpha=250.0))
    d = datasets.load_diabetes()
    linear("linear_diabetes", d.data, d.target, LinearRegression())
    linear("ridge_diabetes", d.data, d.target, Ridge(alpha=0.5))

    x = rng.normal(size=(4000, 6))
    margin = x @ np.array([1.5, -2.0, 0.7, 0.0, 0.3, -0.9]) - 0.4
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-margin))).astype(float)
    logistic("logistic_generated", x, y, 1.0)
    logistic("logistic_weak_penalty", x, y, 100.0)
    x = rng.normal(size=(6000, 5))
    margin = x @ np.array([1.0, -0.5, 0.8, 0.2, 0.0]) - 3.5  # about 5% positives
    y = (rng.uniform(size=6000) < 1 / (1 + np.exp(-margin))).astype(float)
    logistic("logistic_balanced", x, y, 1.0, balanced=True)
    b = datasets.load_breast_cancer()
    logistic("logistic_breast_cancer", StandardScaler().fit_transform(b.data), b.target.astype(float), 0.5)

    # Metrics on labels and scores with ties (rounded scores).
    y = (rng.uniform(size=3000) < 0.3).astype(float)
    p = np.clip(np.round(0.3 * y + rng.uniform(size=3000) * 0.7, 2), 0, 1)
    p[:5] = [0.0, 1.0, 0.5, 0.5, 0.49999]
    write(out, "metrics_classification", p.reshape(-1, 1), y)
    label = (p >= 0.5).astype(float)
    tn, fp, fn, tp = metrics.confusion_matrix(y, label).ravel()
    ref["metrics_classification"] = {
        "kind": "classification_metrics",
        "accuracy": metrics.accuracy_score(y, label), "auc": metrics.roc_auc_score(y, p),
        "logloss": metrics.log_loss(y, p), "precision": metrics.precision_score(y, label),
        "recall": metrics.recall_score(y, label), "f1": metrics.f1_score(y, label),
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}
    y = rng.normal(loc=10, scale=4, size=2500)
    pred = y + rng.normal(scale=1.5, size=2500)
    write(out, "metrics_regression", pred.reshape(-1, 1), y)
    ref["metrics_regression"] = {
        "kind": "regression_metrics",
        "rmse": metrics.mean_squared_error(y, pred) ** 0.5,
        "mae": metrics.mean_absolute_error(y, pred), "r2": metrics.r2_score(y, pred)}

    # XGBoost: the same library underneath, so the same trees and predictions.
    import xgboost as xgb
    x = rng.normal(size=(3000, 5))
    x[rng.uniform(size=x.shape) < 0.05] = np.nan  # missing values
    margin = np.nan_to_num(x) @ np.array([1.2, -0.8, 0.5, 0.0, 0.3])
    y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-margin))).astype(float)
    for name, objective, target in [("xgboost_binary", "binary:logistic", y),
                                    ("xgboost_regression", "reg:squarederror", margin + rng.normal(size=3000))]:
        params = {"objective": objective, "max_depth": 3, "eta": 0.3, "tree_method": "hist", "nthread": 2}
        booster = xgb.train(params, xgb.DMatrix(x[:2400], label=target[:2400]), num_boost_round=25)
        pred = booster.predict(xgb.DMatrix(x[2400:]))
        write(out, name, x, target)
        ref[name] = {"kind": "xgboost", "objective": objective, "num_round": 25, "train_rows": 2400,
                     "predictions": [float(v) for v in pred]}

    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


if __name__ == "__main__":
    main()
