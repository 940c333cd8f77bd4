#!/usr/bin/env python3
"""The fidelity study's TorchRec confirmation: the same question asked of TorchRec itself.

Runs examples/torchrec/train_dlrm.py (TorchRec's DLRM, tables sharded table-wise over 4 gloo
processes, FUSED row-wise Adagrad, TorchRec's real pooled all-to-all) once per (configuration,
seed), and compares each run with the uncompressed run of the same seed (the script is
deterministic per seed: the same seed gives the same AUC to the last bit). Squeeze enters
through TorchRec's QComms hook (``--qcomms squeeze``: squeeze.torchrec.SqueezeQCommsCodec, the
plugin's exact round trip per peer and per 128 KiB step, each (peer, direction) a stream with
the host path's history, as the one-process study models it); TorchRec's own FP16 and INT8
codecs run in the same hook for comparison.

    tools/fidelity/torchrec_gloo.py --out tools/fidelity/results_torchrec          # the runs
    tools/fidelity/torchrec_gloo.py --out tools/fidelity/results_torchrec --summarize

Needs the TorchRec environment (examples/torchrec/setup_venv.sh: .venv-torchrec, torch 2.14.1,
torchrec 1.9.2, fbgemm-gpu-cpu 1.9.0) and the built library (build/compress/capi/libsqueeze_c.so
or $SQUEEZE_C_LIB). Each run's result is kept (runs/<config>_s<seed>.json) and reused on a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# name -> train_dlrm.py arguments. "none" is every configuration's pair.
CONFIGS = {
    "none": ["--qcomms", "none"],
    "local-1e-2+bwd": ["--qcomms", "squeeze", "--squeeze-mode", "local", "--squeeze-bound",
                       "1e-2", "--squeeze-directions", "both", "--squeeze-history"],
    "rel-1e-2": ["--qcomms", "squeeze", "--squeeze-mode", "rel", "--squeeze-bound", "1e-2",
                 "--squeeze-directions", "forward", "--squeeze-history"],
    "rel-1e-2+bwd": ["--qcomms", "squeeze", "--squeeze-mode", "rel", "--squeeze-bound", "1e-2",
                     "--squeeze-directions", "both", "--squeeze-history"],
    "torchrec-fp16": ["--qcomms", "fp16"],
    "torchrec-int8": ["--qcomms", "int8"],
}
# The scale: 4 ranks x 512 samples x 600 steps (1.2 M samples), 26 tables up to 10^5 rows.
TRAIN_ARGS = ["--steps", "600", "--batch-size", "512", "--log-every", "100",
              "--eval-batches", "32", "--max-table-rows", "100000"]


def run_one(out: Path, config: str, seed: int, ranks: int, port: int) -> dict:
    path = out / "runs" / f"{config}_s{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHON=str(ROOT / ".venv-torchrec" / "bin" / "python"))
    cmd = [str(ROOT / "examples" / "torchrec" / "launch.sh"), "--cpu", "--nproc-per-node",
           str(ranks), "--master-port", str(port), "--", *TRAIN_ARGS, "--seed", str(seed),
           "--json-out", str(path), *CONFIGS[config]]
    log = out / "runs" / f"{config}_s{seed}.log"
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if rc != 0 or not path.exists():
        raise SystemExit(f"{config} seed {seed}: train_dlrm.py failed (rc {rc}), see {log}")
    r = json.loads(path.read_text())
    print(f"{config} seed {seed}: AUC {r['eval_auc']:.5f} logloss {r['eval_logloss']:.5f} "
          f"({time.time() - t0:.0f} s)", flush=True)
    return r


def fmt_mean_sd(xs):
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):+.5f} ({sd:.5f})"


def summarize(out: Path) -> str:
    runs = {}
    for p in sorted((out / "runs").glob("*.json")):
        config, seed = p.stem.rsplit("_s", 1)
        runs[(config, int(seed))] = json.loads(p.read_text())
    seeds = sorted({s for c, s in runs if c == "none"})
    lines = ["| configuration | seeds | same-seed AUC change, mean (sd) "
             "| logloss change, mean (sd) | forward ratio | backward ratio |",
             "|---|---:|---:|---:|---:|---:|"]
    base = [runs[("none", s)]["eval_auc"] for s in seeds]
    lines.append(f"| none | {len(seeds)} | AUC {statistics.mean(base):.5f} "
                 f"(sd {statistics.stdev(base) if len(base) > 1 else 0:.5f}) | | | |")
    for config in CONFIGS:
        if config == "none":
            continue
        pairs = [(runs[(config, s)], runs[("none", s)]) for s in seeds if (config, s) in runs]
        if not pairs:
            continue
        dauc = [r["eval_auc"] - b["eval_auc"] for r, b in pairs]
        dll = [r["eval_logloss"] - b["eval_logloss"] for r, b in pairs]
        fwd = [r["squeeze_forward_ratio"] for r, _ in pairs if "squeeze_forward_ratio" in r]
        bwd = [r["squeeze_backward_ratio"] for r, _ in pairs if "squeeze_backward_ratio" in r]
        ratio = (lambda xs: f"{statistics.mean(xs):.2f}x" if xs else "")
        lines.append(f"| {config} | {len(pairs)} | {fmt_mean_sd(dauc)} | {fmt_mean_sd(dll)} | "
                     f"{ratio(fwd)} | {ratio(bwd)} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--port", type=int, default=29650)
    ap.add_argument("--summarize", action="store_true", help="only the table of the kept runs")
    args = ap.parse_args()
    if not args.summarize:
        configs = args.configs.split(",")
        unknown = [c for c in configs if c not in CONFIGS]
        if unknown:
            raise SystemExit(f"unknown configurations {unknown}; known: {sorted(CONFIGS)}")
        if "none" not in configs:
            configs.insert(0, "none")
        for seed in [int(s) for s in args.seeds.split(",")]:
            for config in configs:
                run_one(args.out, config, seed, args.ranks, args.port)
    print(summarize(args.out), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
