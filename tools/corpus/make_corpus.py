#!/usr/bin/env python3
"""Trains the project's DLRM (python/squeeze/dlrm) and dumps all-to-all payloads: a corpus of the
bytes Squeeze would compress, from a trained model.

For each configuration it trains one model (seed --seed) and writes, at an early step (--early,
default 50) and at the last step, the forward pooled-embedding block owner -> peer and the
backward gradient block peer -> owner for the ring pairs (every rank and the next one), as raw
little-endian float32 files, plus one manifest.json describing every file (see README.md beside
this script). Same seed, same files (on one machine; the manifest holds sha256 of each file).

    python tools/corpus/make_corpus.py                  # all configurations, data/corpus/
    python tools/corpus/make_corpus.py --configs d64 --scale quick --out /tmp/c

Timings and held-out AUCs go to runs.json beside manifest.json (not deterministic, so kept out of
the manifest).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from squeeze.dlrm.dump import PayloadDump, ring_pairs  # noqa: E402
from squeeze.dlrm.train import PRESETS, Config, train  # noqa: E402

# label -> overrides of the base preset. d64 is the main configuration (the study's).
CONFIGS = {
    "d64": {},
    "d32": {"dim": 32},
    "d128": {"dim": 128},
    "mixed": {"mixed_dims": True},                 # 16/32/64/128 by table size
    "d64_r8": {"ranks": 8},                        # 8 ranks x 512 samples, other table split
    "d64_perf": {"assignment": "perf"},            # 4 ranks, ~6.5 tables each (perf-balanced)
    "d64_rr": {"assignment": "round_robin"},       # 4 ranks, table i on rank i % 4
    # Tables trained with plain SGD (facebookresearch/dlrm's optimizer) instead of row-wise
    # Adagrad: smaller values whose range differs ~10-30x across tables, as in the SC'24 dumps.
    "d64_sgd": {"sparse_optimizer": "sgd", "sparse_lr": 1.0},
    # Multi-hot bags with sum pooling (1 to 20 ids, P(k) ~ 1/k, mean 5.6), as DLRM-DCNv2 on
    # Criteo 1TB's multi-hot features: a pooled vector repeats only where its whole bag does.
    "d64_mh": {"pooling_factor": 20, "pooling_law": "zipf"},
}
DEFAULT_CONFIGS = ["d64", "d32", "d128", "mixed", "d64_r8"]


def build_config(label: str, scale: str, train_samples: int = 0) -> Config:
    base = PRESETS[scale]
    cfg = dataclasses.replace(base, name=label, **CONFIGS[label])
    if train_samples:
        cfg = dataclasses.replace(cfg, train_samples=train_samples)
    return cfg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "corpus"))
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                    help=f"comma-separated, from {', '.join(CONFIGS)}")
    ap.add_argument("--scale", choices=sorted(PRESETS), default="study",
                    help="base preset (study: 10^6-row tables, one epoch of ~3M samples)")
    ap.add_argument("--train-samples", type=int, default=0, help="override the epoch length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--early", type=int, default=50, help="early checkpoint step")
    ap.add_argument("--hops", default="1",
                    help="ring hops of the dumped (owner, peer) pairs, e.g. 1 or 1,2")
    args = ap.parse_args(argv)

    labels = [x for x in args.configs.split(",") if x]
    for label in labels:
        if label not in CONFIGS:
            ap.error(f"unknown configuration {label!r}")
    hops = [int(h) for h in args.hops.split(",") if h]
    command = " ".join(["python tools/corpus/make_corpus.py"] + list(
        sys.argv[1:] if argv is None else argv))
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    runs_path = os.path.join(args.out, "runs.json")
    manifest = {"format": "squeeze-a2a-corpus-1", "configs": {}, "files": []}
    runs = {}
    if os.path.exists(manifest_path):  # keep other configurations of an earlier run
        with open(manifest_path) as f:
            old = json.load(f)
        manifest["configs"] = {k: v for k, v in old.get("configs", {}).items() if k not in labels}
        manifest["files"] = [e for e in old.get("files", []) if e["config"] not in labels]
    if os.path.exists(runs_path):
        with open(runs_path) as f:
            runs = {k: v for k, v in json.load(f).items() if k not in labels}

    for label in labels:
        cfg = build_config(label, args.scale, args.train_samples)
        steps = sorted({min(args.early, cfg.steps), cfg.steps})
        dump = PayloadDump(args.out, label, args.seed, steps, ring_pairs(cfg.ranks, hops))
        t0 = time.perf_counter()
        res = train(cfg, args.seed, dump=dump, log=lambda m: print(m, flush=True))
        wall = time.perf_counter() - t0
        manifest["configs"][label] = {
            "command": command,
            "config": dataclasses.asdict(cfg),
            "seed": args.seed,
            "steps": cfg.steps,
            "dump_steps": steps,
            "global_batch": cfg.global_batch,
            "rank_tables": res["rank_tables"],
            "rank_widths": res["rank_widths"],
        }
        manifest["files"] = ([e for e in manifest["files"] if e["config"] != label]
                             + sorted(dump.entries, key=lambda e: e["file"]))
        manifest["generator"] = {
            "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(),
        }
        runs[label] = {k: res[k] for k in ("auc", "logloss", "teacher_auc", "steps",
                                            "train_samples", "setup_seconds", "train_seconds",
                                            "eval_seconds", "ms_per_step", "threads",
                                            "loss_curve")}
        runs[label]["wall_seconds_with_dump"] = wall
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        with open(runs_path, "w") as f:
            json.dump(runs, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{label}: {len(dump.entries)} files, {sum(e['bytes'] for e in dump.entries)/2**20:.1f}"
              f" MiB, auc {res['auc']:.5f}, {wall:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
