#!/usr/bin/env python3
"""Statistics of all-to-all payload files that matter for compression (numpy only).

    python tools/corpus/stats.py data/corpus/manifest.json [--md out.md] [--json out.json]

For every file of a manifest (tools/corpus/README.md describes the format):
* per table (its columns of the block): min, max, range and standard deviation;
* distinct vectors: a vector is one (sample, table) pooled embedding or gradient (``dim`` values,
  64 in the dim-64 configurations). Exact byte-equal vectors of one width are counted once,
  whatever table they come from (a dedup stage does not know the tables). Reported for the whole
  block and for each 128 KiB slice of the file (NCCL cuts a message into 128 KiB steps by
  default; a vector counts for a slice when it lies wholly inside it, the ones cut by a slice
  boundary are left out);
* order-0 entropy, in bits per value, of the codes ``round(x / (2 * eb))`` with
  ``eb = 0.01 * (max - min)`` of the 128 KiB slice (the SC'24 paper's REL 1e-2 on the frame's
  range), averaged over the slices weighted by their values; and the same with a per-table bound
  ``eb_t = 0.01 * range of table t within the slice`` (what a per-table-bound codec can use),
  codes of all tables in one histogram. ``32 / H`` is the ratio an ideal entropy coder alone
  would reach on those codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np

SLICE_BYTES = 128 * 1024
REL = 0.01


def entropy_bits(codes: np.ndarray) -> float:
    if codes.size == 0:
        return 0.0
    _, counts = np.unique(codes, return_counts=True)
    p = counts / codes.size
    return float(-(p * np.log2(p)).sum())


def codes_for(x: np.ndarray, eb) -> np.ndarray:
    eb = np.asarray(eb, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(eb > 0, np.rint(x.astype(np.float64) / (2.0 * eb)), 0.0)
    return q.astype(np.int64)


def distinct(vectors: Dict[int, List[np.ndarray]]) -> (int, int):
    """(distinct, total) over lists of [n, dim] arrays grouped by dim."""
    total = dist = 0
    for dim, parts in vectors.items():
        if not parts:
            continue
        v = np.ascontiguousarray(np.concatenate(parts, axis=0))
        total += v.shape[0]
        dist += np.unique(v.view(np.dtype((np.void, 4 * dim))).ravel()).shape[0]
    return dist, total


def file_stats(path: str, entry: Dict) -> Dict:
    n, w = entry["shape"]
    x = np.fromfile(path, dtype="<f4")
    if x.size != n * w:
        raise ValueError(f"{path}: {x.size} values, manifest says {n} x {w}")
    block = x.reshape(n, w)
    tables = entry["tables"]
    per_table = []
    col_table = np.empty(w, dtype=np.int64)
    for k, t in enumerate(tables):
        v = block[:, t["begin"]:t["end"]].astype(np.float64)
        col_table[t["begin"]:t["end"]] = k
        per_table.append({"name": t["name"], "rows": t["rows"], "dim": t["dim"],
                          "min": float(v.min()), "max": float(v.max()),
                          "range": float(v.max() - v.min()), "std": float(v.std()),
                          "distinct": int(np.unique(np.ascontiguousarray(
                              block[:, t["begin"]:t["end"]]).view(
                              np.dtype((np.void, 4 * t["dim"]))).ravel()).shape[0])})
    by_dim: Dict[int, List[np.ndarray]] = {}
    for t in tables:
        by_dim.setdefault(t["dim"], []).append(block[:, t["begin"]:t["end"]])
    d_all, n_all = distinct(by_dim)

    per_slice = SLICE_BYTES // 4
    slices = []
    for s0 in range(0, x.size, per_slice):
        s1 = min(x.size, s0 + per_slice)
        xs = x[s0:s1]
        # Vectors wholly inside [s0, s1): sample i, table t spans [i*w + b, i*w + e).
        vec: Dict[int, List[np.ndarray]] = {}
        for t in tables:
            first = max(0, -(-(s0 - t["begin"]) // w))     # smallest i with i*w+b >= s0
            last = (s1 - t["end"]) // w                      # largest i with i*w+e <= s1
            if last >= first:
                vec.setdefault(t["dim"], []).append(block[first:last + 1, t["begin"]:t["end"]])
        d, tot = distinct(vec)
        rng = float(xs.max() - xs.min())
        h_frame = entropy_bits(codes_for(xs, REL * rng))
        cols = col_table[(np.arange(s0, s1) % w)]
        eb_t = np.zeros(len(tables))
        for k in range(len(tables)):
            sel = xs[cols == k]
            if sel.size:
                eb_t[k] = REL * float(sel.max() - sel.min())
        h_table = entropy_bits(codes_for(xs, eb_t[cols]))
        slices.append({"values": int(s1 - s0), "vectors": tot, "distinct": d,
                       "h_frame": h_frame, "h_table": h_table})
    vals = np.array([s["values"] for s in slices], dtype=np.float64)
    frac = [s["distinct"] / s["vectors"] for s in slices if s["vectors"]]
    return {
        "file": entry["file"], "config": entry["config"], "step": entry["step"],
        "direction": entry["direction"], "src_rank": entry["src_rank"],
        "dst_rank": entry["dst_rank"], "shape": [n, w], "tables": per_table,
        "distinct_block": d_all / n_all,
        "distinct_slice_mean": (sum(s["distinct"] for s in slices)
                                / max(1, sum(s["vectors"] for s in slices))),
        "distinct_slice_min": min(frac) if frac else float("nan"),
        "distinct_slice_max": max(frac) if frac else float("nan"),
        "slices": len(slices),
        "h_frame": float(np.dot(vals, [s["h_frame"] for s in slices]) / vals.sum()),
        "h_table": float(np.dot(vals, [s["h_table"] for s in slices]) / vals.sum()),
        "range_min": min(t["range"] for t in per_table),
        "range_max": max(t["range"] for t in per_table),
        "std_min": min(t["std"] for t in per_table),
        "std_max": max(t["std"] for t in per_table),
    }


def summary_md(stats: List[Dict]) -> str:
    head = ("| file | shape | tables | range per table (min..max) | std per table (min..max) "
            "| distinct, block | distinct, 128 KiB slices (mean, min..max) "
            "| H0 frame-range codes (bits, 32/H) | H0 per-table-range codes |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for s in stats:
        rows.append(
            f"| {s['file']} | {s['shape'][0]}x{s['shape'][1]} | {len(s['tables'])} "
            f"| {s['range_min']:.3g}..{s['range_max']:.3g} | {s['std_min']:.3g}..{s['std_max']:.3g} "
            f"| {100 * s['distinct_block']:.1f}% "
            f"| {100 * s['distinct_slice_mean']:.1f}% ({100 * s['distinct_slice_min']:.0f}.."
            f"{100 * s['distinct_slice_max']:.0f}%, {s['slices']} slices) "
            f"| {s['h_frame']:.2f} ({32 / max(s['h_frame'], 1e-9):.1f}x) "
            f"| {s['h_table']:.2f} ({32 / max(s['h_table'], 1e-9):.1f}x) |")
    return head + "\n".join(rows) + "\n"


def tables_md(stats: List[Dict]) -> str:
    out = []
    for s in stats:
        out.append(f"\n**{s['file']}** ({s['direction']}, step {s['step']}, rank {s['src_rank']} -> "
                   f"{s['dst_rank']}, {s['shape'][0]}x{s['shape'][1]})\n\n"
                   "| table | rows | dim | min | max | range | std | distinct vectors |\n"
                   "|---|---|---|---|---|---|---|---|\n")
        for t in s["tables"]:
            out.append(f"| {t['name']} | {t['rows']} | {t['dim']} | {t['min']:.4g} | "
                       f"{t['max']:.4g} | {t['range']:.4g} | {t['std']:.4g} | "
                       f"{t['distinct']} / {s['shape'][0]} |\n")
    return "".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--md", help="write the summary and per-table tables (markdown) here")
    ap.add_argument("--json", help="write every statistic here")
    ap.add_argument("--match", default="", help="only files whose path contains this")
    args = ap.parse_args(argv)
    with open(args.manifest) as f:
        manifest = json.load(f)
    root = os.path.dirname(os.path.abspath(args.manifest))
    stats = [file_stats(os.path.join(root, e["file"]), e) for e in manifest["files"]
             if args.match in e["file"]]
    md = summary_md(stats)
    print(md)
    if args.md:
        with open(args.md, "w") as f:
            f.write("# Payload statistics\n\nGenerated by `python tools/corpus/stats.py "
                    f"{' '.join(argv or sys.argv[1:])}`; see tools/corpus/README.md.\n\n")
            f.write(md)
            f.write("\n## Per table\n")
            f.write(tables_md(stats))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(stats, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
