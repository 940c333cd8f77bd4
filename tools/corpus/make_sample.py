#!/usr/bin/env python3
"""Cuts the small committed sample (tests/data/corpus/) out of a full corpus (data/corpus/).

Each sample file is the first N samples (rows) of one corpus block, N the most that fit in
--max-kib (all of them if the block is smaller), so a sample keeps its block's row layout.
Its manifest entry is the block's, with ``shape``, ``bytes`` and ``sha256`` of the sample and
``source_file`` / ``source_rows`` saying where it came from.

    python tools/corpus/make_sample.py [--corpus data/corpus] [--out tests/data/corpus]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (config, "early"|"late", direction, owner rank, peer rank, max rows or 0, sample name)
PICKS = [
    ("d64", "late", "fwd", 3, 0, 0, "d64_late_fwd_r3_to_r0"),
    ("d64", "late", "bwd", 3, 0, 0, "d64_late_bwd_r0_to_r3"),
    ("d64", "early", "fwd", 3, 0, 64, "d64_early_fwd_r3_to_r0"),
    ("d64", "early", "bwd", 3, 0, 64, "d64_early_bwd_r0_to_r3"),
    ("d64_sgd", "late", "fwd", 3, 0, 51, "d64sgd_late_fwd_r3_to_r0"),
    ("d64_perf", "late", "fwd", 0, 1, 170, "d64perf_late_fwd_r0_to_r1"),
    ("d32", "late", "fwd", 3, 0, 0, "d32_late_fwd_r3_to_r0"),
    ("d128", "late", "fwd", 0, 1, 0, "d128_late_fwd_r0_to_r1"),
    ("mixed", "late", "fwd", 3, 0, 0, "mixed_late_fwd_r3_to_r0"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "data", "corpus"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "corpus"))
    ap.add_argument("--max-kib", type=int, default=512)
    args = ap.parse_args(argv)
    with open(os.path.join(args.corpus, "manifest.json")) as f:
        corpus = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    files = []
    for config, when, direction, owner, peer, max_rows, name in PICKS:
        steps = corpus["configs"][config]["dump_steps"]
        step = steps[0] if when == "early" else steps[-1]
        src, dst = (owner, peer) if direction == "fwd" else (peer, owner)
        entry = next(e for e in corpus["files"]
                     if (e["config"], e["step"], e["direction"], e["src_rank"], e["dst_rank"])
                     == (config, step, direction, src, dst))
        n, w = entry["shape"]
        rows = min(n, (args.max_kib * 1024) // (4 * w))
        if max_rows:
            rows = min(rows, max_rows)
        with open(os.path.join(args.corpus, entry["file"]), "rb") as f:
            data = f.read(rows * w * 4)
        fname = name + ".f32"
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(data)
        e = dict(entry)
        e.update({"file": fname, "name": name, "shape": [rows, w], "bytes": len(data),
                  "sha256": hashlib.sha256(data).hexdigest(), "source_file": entry["file"],
                  "source_rows": [0, rows], "checkpoint": when})
        files.append(e)
        print(f"{fname}: {rows} x {w} ({len(data) / 1024:.0f} KiB) from {entry['file']}")
    manifest = {
        "format": corpus["format"],
        "generator": corpus.get("generator", {}),
        "configs": {c: corpus["configs"][c] for c in sorted({p[0] for p in PICKS})},
        "files": files,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(e["bytes"] for e in files)
    print(f"{len(files)} files, {total / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
