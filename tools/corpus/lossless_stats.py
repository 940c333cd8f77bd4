#!/usr/bin/env python3
"""Order-0 statistics of the lossless corpus (make_lossless_corpus.py), numpy only.

    python tools/corpus/lossless_stats.py data/lossless/manifest.json [--md out.md]

For every file of the manifest, and pooled over the files of one (config, kind, dtype) group:

* element count and bytes;
* byte planes: the file seen as elements of ``size`` bytes (8 for i64, 4 for i32 and f32, 2 for
  bf16 and f16, 1 for u8), plane k = byte k of every element, little-endian (b0 = the least
  significant byte); for each plane its order-0 entropy in bits per byte (0 = a constant plane);
* exponent: for bf16 and f32 the 8-bit exponent field, for f16 the 5-bit one, its order-0
  entropy in bits per element;
* H(value): order-0 entropy of the whole element (the distinct values as symbols), bits per
  element, and how many distinct values there are. H(value) <= log2(count): where nearly every
  value is distinct (f32) it only says how many elements there are, and its limit is no guide;
* planes limit: ``8 * size / sum of the planes' entropies``, the ratio an order-0 entropy coder
  of each byte plane on its own would reach (no model, no header; "inf" when every plane is
  constant); value limit: ``8 * size / H(value)``, the same for one order-0 coder of the
  elements.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict
from typing import Dict, List

import numpy as np

SIZES = {"i64": 8, "i32": 4, "u8": 1, "bf16": 2, "f16": 2, "f32": 4}
UINT = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}


def entropy_counts(counts: np.ndarray) -> float:
    counts = counts[counts > 0]
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(max(0.0, -(p * np.log2(p)).sum()))


def entropy_values(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    _, counts = np.unique(x, return_counts=True)
    return entropy_counts(counts)



def exponent_field(u: np.ndarray, dtype: str):
    if dtype == "bf16":
        return (u >> 7) & 0xFF
    if dtype == "f16":
        return (u >> 10) & 0x1F
    if dtype == "f32":
        return (u >> 23) & 0xFF
    return None


def stats_of(raw: bytes, dtype: str) -> Dict:
    size = SIZES[dtype]
    b = np.frombuffer(raw, dtype=np.uint8)
    if b.size % size:
        raise ValueError(f"{len(raw)} bytes is not a whole number of {dtype} elements")
    planes = b.reshape(-1, size)
    h_planes = [entropy_counts(np.bincount(planes[:, k], minlength=256)) for k in range(size)]
    u = np.frombuffer(raw, dtype=UINT[size])
    exp = exponent_field(u, dtype)
    h_exp = entropy_values(exp) if exp is not None else None
    h_value = entropy_values(u)
    bits = 8.0 * size
    total = sum(h_planes)
    return {"count": int(u.size), "bytes": len(raw), "planes": h_planes, "exponent": h_exp,
            "value": h_value, "distinct": int(np.unique(u).size),
            "planes_limit": bits / total if total > 0 else float("inf"),
            "value_limit": bits / h_value if h_value > 0 else float("inf")}


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def fmt_ratio(r: float) -> str:
    return "inf" if r == float("inf") else f"{r:.2f}x"


def row(name: str, dtype: str, s: Dict, files: int = 0) -> str:
    planes = " ".join(f"{h:.2f}" for h in s["planes"])
    exp = f"{s['exponent']:.3f}" if s["exponent"] is not None else "-"
    head = f"| {name} | {dtype} |" + (f" {files} |" if files else "")
    return (f"{head} {s['count']:,} | {s['bytes']:,} | {planes} | {exp} | {s['value']:.2f} | "
            f"{s['distinct']:,} | {fmt_ratio(s['planes_limit'])} | "
            f"{fmt_ratio(s['value_limit'])} |")


def tables(manifest_path: str) -> List[str]:
    with open(manifest_path) as f:
        manifest = json.load(f)
    base = os.path.dirname(os.path.abspath(manifest_path))
    cols = ("count | bytes | H per byte plane, b0 (LSB) .. (bits/byte) | H exponent (bits) | "
            "H(value) (bits/elem) | distinct values | planes limit | value limit |")
    groups: "OrderedDict[tuple, List[bytes]]" = OrderedDict()
    per_file = ["| file | dtype | " + cols, "|---|---|" + "---|" * 8]
    for e in manifest["files"]:
        raw = read(os.path.join(base, e["path"]))
        if len(raw) != e["bytes"]:
            raise ValueError(f"{e['path']}: {len(raw)} bytes, manifest says {e['bytes']}")
        per_file.append(row(e["path"], e["dtype"], stats_of(raw, e["dtype"])))
        groups.setdefault((e["config"], e["kind"], e["dtype"]), []).append(raw)
    summary = ["| config / kind | dtype | files | " + cols, "|---|---|---|" + "---|" * 8]
    for (config, kind, dtype), raws in groups.items():
        summary.append(row(f"{config} / {kind}", dtype, stats_of(b"".join(raws), dtype),
                           len(raws)))
    return (["Pooled over the files of each group:", ""] + summary +
            ["", "Per file:", ""] + per_file)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--md", default=None, help="also write the tables here")
    args = ap.parse_args(argv)
    lines = tables(args.manifest)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
