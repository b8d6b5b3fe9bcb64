#!/usr/bin/python3
"""Writes the layered DAG of peers/ninja_dag.py (same seed, same edges) as a pipe DAG file.

Usage: layered_dag.py --nodes 2000 --layers 8 --fan-in 2 --cmd true OUT.yaml
Node n{i:06d} of ninja's build.ninja is task n{i:06d} here, with the same dependencies.
"""
import argparse
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--fan-in", type=int, default=2)
    ap.add_argument("--cmd", default="true")
    ap.add_argument("out")
    a = ap.parse_args()
    # Mirrors ninja_dag.py's generator exactly (rng, layer sizes, sampling order).
    rng = random.Random(1234)
    per = [a.nodes // a.layers + (1 if i < a.nodes % a.layers else 0) for i in range(a.layers)]
    layers, nid = [], 0
    lines = ["dag: layered", "tasks:"]
    for cnt in per:
        cur = []
        for _ in range(cnt):
            name = f"out/n{nid:06d}"
            deps = rng.sample(layers[-1], min(a.fan_in, len(layers[-1]))) if layers else []
            task = f"n{nid:06d}"
            dep_ids = ", ".join(d.split("/")[1] for d in deps)
            lines.append(f"  {task}: {{op: shell, run: '{a.cmd}'"
                         + (f", depends_on: [{dep_ids}]" if deps else "") + "}")
            cur.append(name)
            nid += 1
        layers.append(cur)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
