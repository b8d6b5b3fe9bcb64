"""Drift figures from numpy and scipy for tests/ml/drift_test.cc.

Writes OUT_DIR/drift_cases.json: per case the two samples (null for a
missing value) and what numpy/scipy compute on them: PSI on the 10 bins the
reference's 10%..90% quantiles cut (np.quantile, linear), KS as
scipy.stats.ks_2samp's statistic, Jensen-Shannon distance as
scipy.spatial.distance.jensenshannon(base=2).
Usage: /usr/bin/python3 drift_reference.py OUT_DIR
"""
import json
import sys

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

rng = np.random.default_rng(20261203)


def psi(ref_bins, cur_bins):
    r = np.asarray(ref_bins, dtype=float)
    c = np.asarray(cur_bins, dtype=float)
    rs = np.where(r > 0, r / r.sum(), 1e-4)
    cs = np.where(c > 0, c / c.sum(), 1e-4)
    return float(np.sum((cs - rs) * np.log(cs / rs)))


def numeric(name, ref, cur):
    rv = ref[~np.isnan(ref)]
    cv = cur[~np.isnan(cur)]
    cuts = np.quantile(rv, np.arange(1, 10) / 10)
    rb = np.bincount(np.searchsorted(cuts, rv, side="left"), minlength=10)
    cb = np.bincount(np.searchsorted(cuts, cv, side="left"), minlength=10)
    return {
        "name": name, "kind": "numeric",
        "reference": [None if np.isnan(v) else float(v) for v in ref],
        "current": [None if np.isnan(v) else float(v) for v in cur],
        "cuts": cuts.tolist(), "reference_bins": rb.tolist(), "current_bins": cb.tolist(),
        "psi": psi(rb, cb), "ks": float(ks_2samp(rv, cv).statistic),
        "reference_null_rate": float(np.isnan(ref).mean()), "current_null_rate": float(np.isnan(cur).mean()),
    }


def categorical(name, ref, cur):
    cats = sorted({x for x in ref if x is not None})
    rb = [ref.count(c) for c in cats] + [0]
    cb = [cur.count(c) for c in cats] + [sum(1 for x in cur if x is not None and x not in cats)]
    return {
        "name": name, "kind": "categorical", "reference": ref, "current": cur,
        "categories": cats, "reference_bins": rb, "current_bins": cb,
        "psi": psi(rb, cb), "js": float(jensenshannon(rb, cb, base=2)),
        "reference_null_rate": sum(x is None for x in ref) / len(ref),
        "current_null_rate": sum(x is None for x in cur) / len(cur),
    }


def with_nulls(a, rate):
    a = a.copy()
    a[rng.random(len(a)) < rate] = np.nan
    return a


def choice(cats, p, n, null_rate=0.0):
    out = list(rng.choice(cats, size=n, p=p))
    return [None if rng.random() < null_rate else str(x) for x in out]


cases = [
    numeric("no_drift", rng.normal(0, 1, 5000), rng.normal(0, 1, 4000)),
    numeric("shifted", rng.normal(0, 1, 5000), rng.normal(0.5, 1.3, 3000)),
    numeric("with_nulls", with_nulls(rng.normal(10, 2, 4000), 0.1), with_nulls(rng.normal(10.4, 2, 4000), 0.25)),
    numeric("ties", rng.poisson(3, 6000).astype(float), rng.poisson(4, 5000).astype(float)),
    numeric("beyond_the_range", rng.uniform(0, 1, 3000), rng.uniform(-0.5, 1.7, 3000)),
    categorical("same_mix", choice(["a", "b", "c"], [0.5, 0.3, 0.2], 5000), choice(["a", "b", "c"], [0.5, 0.3, 0.2], 4000)),
    categorical("new_categories_and_nulls", choice(["web", "pos", "atm"], [0.6, 0.3, 0.1], 4000, 0.05),
                choice(["web", "pos", "atm", "kiosk", "voice"], [0.4, 0.2, 0.1, 0.2, 0.1], 3000, 0.15)),
    categorical("lost_a_category", choice(["x", "y", "z"], [0.2, 0.3, 0.5], 3000), choice(["x", "y"], [0.5, 0.5], 3000)),
]

with open(sys.argv[1] + "/drift_cases.json", "w") as f:
    json.dump(cases, f)
