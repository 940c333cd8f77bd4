#!/usr/bin/env python3
"""Cuts the small committed sample (tests/data/lossless/) out of the lossless corpus
(data/lossless/, made by make_lossless_corpus.py), for the C++ tests of the lossless codec.

The DLRM files are whole all-to-all payloads (the ids and lengths of one src -> dst pair); the
transformer files are the first --lm-rows rows (tokens) of a [1024, 256] boundary tensor, so
they keep its row layout. Each sample file has a simple name (``ids_i64_r0to3.bin``,
``act_bf16_step300.bin``, ...); its manifest entry is the corpus entry with ``path``, ``shape``,
``count``, ``bytes`` and ``sha256`` of the sample, plus ``name``, ``source_path`` and
``source_rows`` (rows [begin, end) of the source; the whole file for the DLRM ones).

    python tools/corpus/make_lossless_sample.py [--corpus data/lossless] [--out tests/data/lossless]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = {"i64": 8, "i32": 4, "u8": 1, "bf16": 2, "f16": 2, "f32": 4}

# (corpus path, sample name, rows or 0 for the whole file)
PICKS = [
    ("dlrm_onehot/s01464_values_r0_to_r3.i64", "ids_i64_r0to3.bin", 0),
    ("dlrm_onehot/s01464_lengths_r0_to_r3.i32", "lengths_i32_r0to3.bin", 0),
    ("dlrm_onehot/s01464_values_r0_to_r1.i64", "ids_i64_r0to1.bin", 0),
    ("dlrm_onehot/s01464_lengths_r0_to_r1.i32", "lengths_i32_r0to1.bin", 0),
    ("dlrm_multihot/s01464_values_r0_to_r3.i64", "mh_ids_i64_r0to3.bin", 0),
    ("dlrm_multihot/s01464_lengths_r0_to_r3.i32", "mh_lengths_i32_r0to3.bin", 0),
    ("dlrm_multihot/s01464_values_r0_to_r1.i64", "mh_ids_i64_r0to1.bin", 0),
    ("dlrm_multihot/s01464_lengths_r0_to_r1.i32", "mh_lengths_i32_r0to1.bin", 0),
    ("lm/s00300_act.bf16", "act_bf16_step300.bin", -1),
    ("lm/s00300_grad.bf16", "grad_bf16_step300.bin", -1),
    ("lm/s00300_act.f16", "act_f16_step300.bin", -1),
    ("lm/s00300_grad.f16", "grad_f16_step300.bin", -1),
    ("lm/s00300_act.f32", "act_f32_step300.bin", -1),
    ("lm/s00300_grad.f32", "grad_f32_step300.bin", -1),
    ("lm/s00010_act.bf16", "act_bf16_step10.bin", -1),
    ("lm/s00010_grad.bf16", "grad_bf16_step10.bin", -1),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "data", "lossless"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "lossless"))
    ap.add_argument("--lm-rows", type=int, default=256,
                    help="rows (tokens) of each transformer tensor: 256 = 2 sequences")
    ap.add_argument("--max-mib", type=float, default=2.0)
    args = ap.parse_args(argv)
    with open(os.path.join(args.corpus, "manifest.json")) as f:
        corpus = json.load(f)
    by_path = {e["path"]: e for e in corpus["files"]}
    os.makedirs(args.out, exist_ok=True)
    files = []
    for src, name, rows in PICKS:
        entry = by_path[src]
        shape = list(entry["shape"])
        if rows < 0:
            rows = min(args.lm_rows, shape[0])
        if rows:
            shape[0] = rows
        count = 1
        for n in shape:
            count *= n
        with open(os.path.join(args.corpus, src), "rb") as f:
            data = f.read(count * SIZES[entry["dtype"]])
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        e = dict(entry)
        e.update({"path": name, "name": name[:-4], "shape": shape, "count": count,
                  "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                  "source_path": src, "source_rows": [0, shape[0]]})
        files.append(e)
        print(f"{name}: {'x'.join(map(str, shape))} {entry['dtype']} "
              f"({len(data) / 1024:.1f} KiB) from {src}")
    total = sum(e["bytes"] for e in files)
    if total > args.max_mib * 2**20:
        raise SystemExit(f"sample is {total / 2**20:.2f} MiB, over --max-mib {args.max_mib}")
    configs = sorted({e["config"] for e in files})
    manifest = {"format": corpus["format"], "generator": corpus.get("generator", {}),
                "configs": {c: corpus["configs"][c] for c in configs}, "files": files}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(files)} files, {total / 2**20:.2f} MiB -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
