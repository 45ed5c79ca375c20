#!/usr/bin/env python3
"""Score one detector's outputs on several subsets of categories at once.

The leave-one-category-out evaluation scores every candidate on every
training set; this runs nab_score.py's own functions (sweep_points,
best_threshold) once per subset in one process, reading each file once,
instead of one scorer process per subset. Standard profile only.

Usage:
  nab_subsets.py --data DATA_DIR --labels windows.json --results DIR SUBSET...

Each SUBSET is a "+"-separated list of categories (directories of DATA_DIR).
Prints one JSON object: subset -> standard score.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab_score as ns  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("subsets", nargs="+")
    a = ap.parse_args()
    labels = json.load(open(a.labels))
    cost = ns.PROFILES["standard"]
    det, null = {}, {}
    for rel in sorted(labels):
        if not os.path.exists(os.path.join(a.data, rel)):
            continue
        stamps, scores = ns.read_csv(os.path.join(a.results, rel), True)
        dstamps, _ = ns.read_csv(os.path.join(a.data, rel), False)
        stamps = [ns.norm_stamp(s) for s in stamps]
        if stamps != [ns.norm_stamp(s) for s in dstamps]:
            raise SystemExit("timestamps of %s do not match the data file" % rel)
        det[rel] = ns.sweep_points(stamps, scores, labels[rel], rel, cost)
        null[rel] = ns.sweep_points(stamps, [0.5] * len(stamps), labels[rel], rel, cost)
    out = {}
    for sub in a.subsets:
        cats = sub.split("+")
        files = [r for r in det if r.split("/")[0] in cats]
        if not files:
            raise SystemExit("no file in subset %s" % sub)
        raw, _ = ns.best_threshold([p for r in files for p in det[r]], cost)
        null_raw, _ = ns.best_threshold([p for r in files for p in null[r]], cost)
        perfect = sum(len(labels[r]) for r in files) * cost["tp"]
        out[sub] = 100.0 * (raw - null_raw) / (perfect - null_raw)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
