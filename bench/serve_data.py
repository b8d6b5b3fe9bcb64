"""Training rows and request bodies for bench/serve.sh.

Usage: serve_data.py DIR ROWS FEATURES
Writes DIR/train.csv (f0..fN-1, label: logistic in a few features, seeded),
DIR/one.json ({"rows": [one row]}) and DIR/hundred.json ({"rows": [100 rows]}),
and DIR/features.txt (the feature names, one line, comma-separated).
"""
import json
import sys

import numpy as np

out, rows, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(2026)
x = rng.normal(0, 1, (rows, nf))
w = rng.normal(0, 1, nf) * (rng.random(nf) < 0.4)
y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ w - 0.5)))).astype(int)
names = [f"f{i}" for i in range(nf)]
with open(f"{out}/train.csv", "w") as f:
    f.write(",".join(names + ["label"]) + "\n")
    for i in range(rows):
        f.write(",".join(f"{v:.6f}" for v in x[i]) + f",{y[i]}\n")
def body(n):
    return {"rows": [{names[j]: round(float(x[i, j]), 6) for j in range(nf)} for i in range(n)]}
json.dump(body(1), open(f"{out}/one.json", "w"))
json.dump(body(100), open(f"{out}/hundred.json", "w"))
open(f"{out}/features.txt", "w").write(",".join(names) + "\n")
