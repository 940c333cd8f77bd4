#!/usr/bin/env python3
"""Summarises tools/bench/figures_layout.sh's JSON: per corpus file and frame size, the ratio and
the largest per-table relative RMS error of each setting (frame-wide rel, per-table rel, the
paper's classes, local, local with row records), and the w2v fixed-length stage against INT8.
Usage: layout_figures.py OUT_DIR"""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1]
SETTINGS = ["rel", "reltab", "relcls", "local", "localrow"]


def load(name):
    p = os.path.join(out, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None


def squeeze_row(d, suffix=""):
    rows = [r for r in d["rows"] if r["name"].startswith("squeeze") and r["name"].endswith(suffix)]
    return rows[-1]


def worst_table(d):
    return max(t["squeeze_rel_rms_err"] for t in d["per_table"])


bases = sorted({os.path.basename(p).rsplit("_", 2)[0] for p in glob.glob(out + "/*_rel_*.json")})
print("| payload | frame | " + " | ".join(SETTINGS) + " |")
print("|---|---|" + "---:|" * len(SETTINGS))
ratios = {(s, c): [] for s in SETTINGS for c in ("one", "128k")}
for b in bases:
    for c in ("one", "128k"):
        cells = []
        for s in SETTINGS:
            d = load(f"{b}_{s}_{c}")
            if d is None:
                cells.append("-")
                continue
            r = squeeze_row(d)["ratio"]
            ratios[(s, c)].append(r)
            cells.append(f"{r:.2f}x / {100 * worst_table(d):.1f}%")
        print(f"| {b} | {c} | " + " | ".join(cells) + " |")
for c in ("one", "128k"):
    print(f"| harmonic mean | {c} | " + " | ".join(
        f"{statistics.harmonic_mean(ratios[(s, c)]):.2f}x" if ratios[(s, c)] else "-"
        for s in SETTINGS) + " |")
print()
print("| w2v | local fixed | local +rans | local row records fixed | row +rans | int8 row-wise |")
print("|---|---:|---:|---:|---:|---:|")
for dim in (32, 64, 128):
    a, b = load(f"w2v_d{dim}_local"), load(f"w2v_d{dim}_localrow")
    if a is None or b is None:
        continue
    int8 = [r for r in a["rows"] if r["name"].startswith("int8")][0]["ratio"]
    print(f"| d{dim} | {squeeze_row(a, ' fixed')['ratio']:.3f}x | "
          f"{squeeze_row(a, ' +rans')['ratio']:.3f}x | {squeeze_row(b, ' fixed')['ratio']:.3f}x | "
          f"{squeeze_row(b, ' +rans')['ratio']:.3f}x | {int8:.3f}x |")
