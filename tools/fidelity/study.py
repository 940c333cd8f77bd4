#!/usr/bin/env python3
"""The fidelity study: does the model train to the same quality with its all-to-all compressed?

Trains the project's DLRM (python/squeeze/dlrm: synthetic Criteo-like data labelled by a hidden
teacher, TorchRec's table-wise pooled-embedding all-to-all emulated with 4 ranks in one process)
once per (configuration, seed), with every cross-rank block of the all-to-all replaced by what
the receiver would get:

* Squeeze: the plugin's exact round trip through libsqueeze_c (squeeze.frames.Link): each
  peer's slice cut into NCCL's 128 KiB steps, one frame per step, steps under 4 KiB bit-exact,
  each (direction, sender, receiver) a stream with the host path's 1 MiB history;
* fp16 / int8: TorchRec's qcomms codecs, emulated as squeeze-bench's baselines do
  (tools/bench/baselines.h): FP16 clamped to +-65504, round to nearest even; INT8 row-wise
  (FBGEMM FloatToFused8BitRowwiseQuantized) on rows of --int8-row-dim values (default: the
  embedding dim), float32 arithmetic as FBGEMM's.

The held-out forward passes go through the same transform (the plugin compresses every
all-to-all of the job). Training is deterministic per seed, so each run is compared with the
uncompressed run of the same seed. Per run it records held-out AUC and logloss, the compression
ratio over the training steps (input bytes / bytes on the wire, cross-rank blocks only), and per
table the relative error rms(x' - x) / rms(x) of the forward blocks over the first and the last
--window steps.

    tools/fidelity/study.py --out tools/fidelity/results              # the sweep (README)
    tools/fidelity/study.py --smoke --out /tmp/fid                    # seconds: CI smoke
    tools/fidelity/study.py --summarize --out tools/fidelity/results  # tables and plot again
    tools/fidelity/study.py --engine gloo --out tools/fidelity/results_gloo --configs ...
    tools/fidelity/study.py --out tools/fidelity/results --compare tools/fidelity/results_gloo

``--engine gloo`` runs each configuration as 4 processes joined by torch.distributed (gloo), the
all-to-alls real and each block transformed on its sender (squeeze.dlrm.distributed), to confirm
that the one-process emulation is what a multi-rank job computes; ``--compare`` sets the two
folders' runs side by side.

Each run's result is written as it finishes (runs/<config>_s<seed>.json) and reused on a rerun,
so a sweep can be extended or resumed. Needs torch and numpy (the project's .venv) and the built
library (build/compress/capi/libsqueeze_c.so or $SQUEEZE_C_LIB); matplotlib for the plot.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

# name -> (forward codec, backward codec); a codec is (kind, mode, bound[, options]) or None.
# Options of a squeeze codec: "tables" gives it each block's row layout (every table bounded on
# its own, from each step's true column: frames.Link(exact_columns=True)); "classes" each table's
# bound from its rows (codec.class_bound: the paper's 1x / 3x / 5x); "schedule" the paper's step
# schedule from 2x, down to 1x at half the run's steps (its 65,536 iterations scaled to the run).
CONFIGS: Dict[str, Tuple[Optional[tuple], Optional[tuple]]] = {
    "none": (None, None),
    "fp16": (("fp16", None, None), None),
    "int8": (("int8", None, None), None),
    "rel-1e-2": (("squeeze", "rel", 1e-2), None),
    "rel-3e-2": (("squeeze", "rel", 3e-2), None),
    "rel-5e-2": (("squeeze", "rel", 5e-2), None),
    "local-1.96e-3": (("squeeze", "local", 1.96e-3), None),
    "local-1e-2": (("squeeze", "local", 1e-2), None),
    "local-3e-2": (("squeeze", "local", 3e-2), None),
    "local-1.96e-3+bwd": (("squeeze", "local", 1.96e-3), ("squeeze", "local", 1.96e-3)),
    "local-1e-2+bwd": (("squeeze", "local", 1e-2), ("squeeze", "local", 1e-2)),
    # The reference rows: rel 1e-2 on both directions, and the old default (rel 1e-3).
    "rel-1e-2+bwd": (("squeeze", "rel", 1e-2), ("squeeze", "rel", 1e-2)),
    "rel-1e-3+bwd": (("squeeze", "rel", 1e-3), ("squeeze", "rel", 1e-3)),
    # Row layouts (issue 13 items 1-3): per-table rel, the paper's classes, and its schedule.
    "tab-1e-2": (("squeeze", "rel", 1e-2, {"tables": True}), None),
    "tabcls-1e-2": (("squeeze", "rel", 1e-2, {"tables": True, "classes": True}), None),
    "adaptive-1e-2": (("squeeze", "rel", 1e-2,
                       {"tables": True, "classes": True, "schedule": "step"}), None),
    "adaptive-1e-2+bwd": (("squeeze", "rel", 1e-2,
                           {"tables": True, "classes": True, "schedule": "step"}),
                          ("squeeze", "rel", 1e-2,
                           {"tables": True, "classes": True, "schedule": "step"})),
}
DEFAULT_CONFIG = "local-1e-2+bwd"  # the plugin's default: local 1e-2 on both directions

# The study's scale (--preset): "quick" (dim 64, 26 tables capped at 10^5 rows, 4 ranks x 512,
# 300k samples = 146 steps, 65,536 held-out samples) by default; "study" is the reference
# scale (10^6-row tables, 3M samples = 1,464 steps, 262,144 held-out samples), about 10x longer
# a run: a sweep of 30 of those does not fit an hour on 2 cores, a few chosen configurations do.
STUDY_PRESET = "quick"
SMOKE_OVERRIDES = dict(train_samples=64 * 4 * 6, eval_samples=2048)


# ---- the codecs --------------------------------------------------------------------------------

def fp16_round_trip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -65504.0, 65504.0).astype(np.float16).astype(np.float32)


def int8_rowwise_round_trip(x: np.ndarray, row_dim: int) -> np.ndarray:
    """FBGEMM FloatToFused8BitRowwiseQuantized then back, in float32 like baselines.cc."""
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if flat.size % row_dim:
        raise ValueError(f"{flat.size} values are not rows of {row_dim}")
    rows = flat.reshape(-1, row_dim)
    lo = rows.min(axis=1, keepdims=True)
    hi = rows.max(axis=1, keepdims=True)
    rng = (hi - lo).astype(np.float32)
    inv = (np.float32(255.0) / (rng + np.float32(1e-8))).astype(np.float32)
    q = np.rint((rows - lo) * inv).astype(np.float32)          # round half to even, as lrintf
    scale = (rng / np.float32(255.0)).astype(np.float32)
    return (q * scale + lo).astype(np.float32).reshape(x.shape)


def int8_rowwise_bytes(n: int, row_dim: int) -> int:
    return n + 8 * ((n + row_dim - 1) // row_dim)


class Transform:
    """The hook of one direction: replaces every cross-rank block by what the receiver gets, and
    keeps byte counts and per-table errors. The study's dump hook tells it the step and layout."""

    def __init__(self, spec, direction: str, int8_row_dim: int, window: int, steps: int):
        from squeeze import frames
        self.kind, self.mode, self.bound = spec[:3]
        self.options = dict(spec[3]) if len(spec) > 3 else {}
        self.direction = direction
        self.int8_row_dim = int8_row_dim
        self.window, self.steps = window, steps
        self.links: Dict[Tuple[int, int], "frames.Link"] = {}
        self.step: Optional[int] = None
        self.layout = None
        self.input_bytes = 0
        self.wire_bytes = 0
        self.eval_input_bytes = 0
        self.eval_wire_bytes = 0
        # table name -> [sum err^2, sum x^2] for the early and the late window
        self.err = {"early": {}, "late": {}}

    def _link(self, src: int, dst: int):
        from squeeze import codec, frames
        key = (src, dst)
        if key not in self.links:
            self.links[key] = frames.Link(self.mode, self.bound, history=True,
                                          exact_columns=True)
        link = self.links[key]
        factor = 1.0
        if self.options.get("schedule") and self.step is not None:
            factor = codec.schedule_factor(self.options["schedule"], self.step,
                                           max(1, self.steps // 2), 2.0)
        link.bound = self.bound * factor
        link.layout = None
        if self.options.get("tables") and self.layout is not None:
            link.layout = self._codec_layout(self.layout, factor)
        return link

    def _codec_layout(self, block_layout, factor: float):
        """The block's tables as a codec.Layout (gaps as tables of their own), with bounds."""
        from squeeze import codec
        cols, bounds, col = [], [], 0
        for t in sorted(block_layout.tables, key=lambda t: t.begin):
            if t.begin > col:
                cols.append(t.begin - col)
                bounds.append(self.bound)
            cols.append(t.end - t.begin)
            bounds.append(codec.class_bound(t.rows, self.bound) if self.options.get("classes")
                          else self.bound)
            col = t.end
        if col < block_layout.row_width:
            cols.append(block_layout.row_width - col)
            bounds.append(self.bound)
        return codec.Layout(cols, [b * factor for b in bounds])

    def __call__(self, src, dst, block):
        import torch
        x = block.detach().numpy()
        if self.kind == "squeeze":
            link = self._link(src, dst)
            before_in, before_wire = link.stats.input_bytes, link.stats.wire_bytes
            y = link.round_trip(x)
            n_in = link.stats.input_bytes - before_in
            n_wire = link.stats.wire_bytes - before_wire
        elif self.kind == "fp16":
            y = fp16_round_trip(x)
            n_in, n_wire = x.nbytes, x.size * 2
        elif self.kind == "int8":
            y = int8_rowwise_round_trip(x, self.int8_row_dim)
            n_in, n_wire = x.nbytes, int8_rowwise_bytes(x.size, self.int8_row_dim)
        else:
            raise ValueError(self.kind)
        if self.step is None:
            self.eval_input_bytes += n_in
            self.eval_wire_bytes += n_wire
        else:
            self.input_bytes += n_in
            self.wire_bytes += n_wire
            phase = ("early" if self.step <= self.window else
                     "late" if self.step > self.steps - self.window else None)
            if phase is not None and self.layout is not None:
                d = (y.astype(np.float64) - x.astype(np.float64))
                for t in self.layout.tables:
                    acc = self.err[phase].setdefault(t.name, [0.0, 0.0])
                    acc[0] += float(np.square(d[:, t.begin:t.end]).sum())
                    acc[1] += float(np.square(x[:, t.begin:t.end].astype(np.float64)).sum())
        return torch.from_numpy(np.ascontiguousarray(y))

    def counts(self) -> Dict:
        """What this transform counted (the gloo engine sums them over the ranks)."""
        return {"input_bytes": self.input_bytes, "wire_bytes": self.wire_bytes,
                "eval_input_bytes": self.eval_input_bytes,
                "eval_wire_bytes": self.eval_wire_bytes, "err": self.err}

    def close(self):
        for link in self.links.values():
            link.close()


def table_errors(err: Dict) -> Dict[str, Dict[str, float]]:
    """rms(x' - x) / rms(x) per table and window, from Transform.counts()["err"]."""
    out = {}
    for phase, tabs in err.items():
        out[phase] = {name: (math.sqrt(e / s) if s > 0 else (0.0 if e == 0 else math.inf))
                      for name, (e, s) in tabs.items()}
    return out


def make_hooks(name: str, row_dim: int, window: int, steps: int, rank: Optional[int] = None):
    """(forward transform, backward transform, step hook) of a configuration; ``rank`` (the
    gloo engine's factory argument) does not change them: each rank's transforms see the blocks
    that rank sends."""
    fspec, bspec = CONFIGS[name]
    fwd = Transform(fspec, "fwd", row_dim, window, steps) if fspec else None
    bwd = Transform(bspec, "bwd", row_dim, window, steps) if bspec else None
    return fwd, bwd, (StepHook(fwd, bwd) if (fwd or bwd) else None)


class StepHook:
    """The dump hook of train(): learns the step and each block's layout for the transforms."""

    def __init__(self, fwd: Optional[Transform], bwd: Optional[Transform]):
        self.t = {"fwd": fwd, "bwd": bwd}

    def begin_step(self, step):
        for t in self.t.values():
            if t is not None:
                t.step = step

    def __call__(self, direction, src, dst, block, layout):
        t = self.t[direction]
        if t is not None:
            t.layout = layout


# ---- one run -----------------------------------------------------------------------------------

ENGINES = ("process", "gloo")


def run_one(name: str, seed: int, smoke: bool, int8_row_dim: int, window: int,
            preset: str = STUDY_PRESET, engine: str = "process") -> Dict:
    """One (configuration, seed) run. ``engine``: "process" emulates the ranks in this process
    (train.py), "gloo" runs one process per rank with real all-to-alls (distributed.py)."""
    import functools

    import torch  # noqa: F401  (the worker's own import)
    from squeeze.dlrm.train import PRESETS, train
    cfg = PRESETS["tiny" if smoke else preset]
    if smoke:
        cfg = dataclasses.replace(cfg, **SMOKE_OVERRIDES)
    fspec, bspec = CONFIGS[name]
    row_dim = int8_row_dim or cfg.dim
    t0 = time.perf_counter()
    if engine == "gloo":
        from squeeze.dlrm.distributed import train_distributed
        res = train_distributed(cfg, seed, functools.partial(make_hooks, name, row_dim, window,
                                                             cfg.steps))
        counts = res["transform_counts"]
    elif engine == "process":
        fwd, bwd, hook = make_hooks(name, row_dim, window, cfg.steps)
        res = train(cfg, seed, fwd_transform=fwd, bwd_transform=bwd, dump=hook)
        counts = {"fwd": fwd.counts() if fwd else None, "bwd": bwd.counts() if bwd else None}
        for t in (fwd, bwd):
            if t is not None:
                t.close()
    else:
        raise ValueError(f"engine must be one of {ENGINES}")
    wall = time.perf_counter() - t0
    out = {
        "config": name, "seed": seed, "auc": res["auc"], "logloss": res["logloss"],
        "teacher_auc": res["teacher_auc"], "steps": res["steps"],
        "train_samples": res["train_samples"], "eval_samples": res["eval_samples"],
        "wall_seconds": wall, "train_seconds": res["train_seconds"],
        "final_train_loss": res["loss_curve"][-1][1] if res["loss_curve"] else None,
        "preset": cfg.name, "engine": engine, "dlrm_config": res["config"],
        "rank_widths": res["rank_widths"], "loss_per_step": res["loss_per_step"],
        "forward": None, "backward": None,
    }
    for key, spec, c in (("forward", fspec, counts["fwd"]), ("backward", bspec, counts["bwd"])):
        if spec is None:
            continue
        kind, mode, bound = spec[:3]
        out[key] = {
            "codec": kind, "mode": mode, "bound": bound,
            "options": dict(spec[3]) if len(spec) > 3 else {},
            "int8_row_dim": row_dim if kind == "int8" else None,
            "input_bytes": c["input_bytes"], "wire_bytes": c["wire_bytes"],
            "ratio": c["input_bytes"] / c["wire_bytes"] if c["wire_bytes"] else None,
            "eval_ratio": (c["eval_input_bytes"] / c["eval_wire_bytes"]
                           if c["eval_wire_bytes"] else None),
            "table_error": table_errors(c["err"]),
        }
    # The ratio over everything the run compressed (training steps).
    n_in = sum(out[k]["input_bytes"] for k in ("forward", "backward") if out[k])
    n_wire = sum(out[k]["wire_bytes"] for k in ("forward", "backward") if out[k])
    out["ratio"] = n_in / n_wire if n_wire else 1.0
    return out


# ---- the sweep and its summary -----------------------------------------------------------------

def run_path(out_dir: str, name: str, seed: int) -> str:
    return os.path.join(out_dir, "runs", f"{name}_s{seed}.json")


def sweep(args) -> None:
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    # Runs are reused by (configuration, seed): one folder holds one scale.
    want = "tiny" if args.smoke else args.preset
    for r in load_runs(args.out):
        if r.get("preset") != want:
            raise SystemExit(f"{args.out} holds runs of preset {r.get('preset')!r}, not "
                             f"{want!r}: use another --out")
        if r.get("engine", "process") != args.engine:
            raise SystemExit(f"{args.out} holds runs of engine {r.get('engine', 'process')!r}, "
                             f"not {args.engine!r}: use another --out")
    jobs = [(n, s) for s in args.seeds for n in args.configs
            if args.force or not os.path.exists(run_path(args.out, n, s))]
    print(f"{len(jobs)} runs to do ({len(args.configs)} configurations x seeds {args.seeds}), "
          f"{args.jobs} at a time", flush=True)
    t0 = time.perf_counter()
    if args.jobs <= 1:
        for n, s in jobs:
            _save(args, run_one(n, s, args.smoke, args.int8_row_dim, args.window,
                                args.preset, args.engine), t0)
        return
    import multiprocessing as mp
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as ex:
        futs = [ex.submit(run_one, n, s, args.smoke, args.int8_row_dim, args.window, args.preset,
                          args.engine) for n, s in jobs]
        for f in as_completed(futs):
            _save(args, f.result(), t0)


def _save(args, r: Dict, t0: float) -> None:
    with open(run_path(args.out, r["config"], r["seed"]), "w") as f:
        json.dump(r, f, indent=1)
    print(f"[{time.perf_counter() - t0:6.0f}s] {r['config']:>18} seed {r['seed']}: auc "
          f"{r['auc']:.5f} logloss {r['logloss']:.5f} ratio {r['ratio']:.2f} "
          f"({r['wall_seconds']:.0f}s)", flush=True)


def load_runs(out_dir: str) -> List[Dict]:
    d = os.path.join(out_dir, "runs")
    runs = []
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".json"):
            with open(os.path.join(d, fn)) as f:
                runs.append(json.load(f))
    return runs


def compare(out_dir: str, other_dir: str, configs: List[str]) -> List[Dict]:
    """The same (configuration, seed) runs of two folders (the emulated ranks against the gloo
    processes): AUC, the same-seed AUC change, the ratio, and how far the training losses
    drifted apart. Prints a table and returns its rows."""
    a = {(r["config"], r["seed"]): r for r in load_runs(out_dir)}
    b = {(r["config"], r["seed"]): r for r in load_runs(other_dir)}
    rows = []
    for key in sorted(set(a) & set(b), key=lambda k: (configs.index(k[0])
                                                     if k[0] in configs else 99, k[1])):
        ra, rb = a[key], b[key]
        if ra.get("preset") != rb.get("preset"):
            raise SystemExit(f"{key}: presets {ra.get('preset')} and {rb.get('preset')} differ")
        row = {"config": key[0], "seed": key[1], "engines": [ra.get("engine", "process"),
                                                             rb.get("engine", "process")],
               "auc": [ra["auc"], rb["auc"]], "ratio": [ra["ratio"], rb["ratio"]]}
        for name, r, base in (("a", ra, a.get(("none", key[1]))),
                              ("b", rb, b.get(("none", key[1])))):
            row["dauc_" + name] = r["auc"] - base["auc"] if base else None
        la, lb = ra.get("loss_per_step"), rb.get("loss_per_step")
        if la and lb and len(la) == len(lb):
            d = [abs(x - y) / abs(x) for x, y in zip(la, lb)]
            row["loss_rel_diff_first"] = d[0]
            row["loss_rel_diff_max"] = max(d)
            row["loss_rel_diff_last10"] = max(d[-10:])
        rows.append(row)
    print(f"| configuration | seed | AUC {os.path.basename(out_dir)} | AUC "
          f"{os.path.basename(other_dir)} | AUC change (same seed) | ratio | training loss, "
          "relative difference: step 1 / max / last 10 steps |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        dauc = ("-" if r["dauc_a"] is None or r["dauc_b"] is None else
                f"{r['dauc_a']:+.5f} / {r['dauc_b']:+.5f}")
        loss = ("-" if "loss_rel_diff_max" not in r else
                f"{r['loss_rel_diff_first']:.1e} / {r['loss_rel_diff_max']:.1e} / "
                f"{r['loss_rel_diff_last10']:.1e}")
        print(f"| {r['config']} | {r['seed']} | {r['auc'][0]:.5f} | {r['auc'][1]:.5f} | {dauc} | "
              f"{r['ratio'][0]:.3f} / {r['ratio'][1]:.3f} | {loss} |")
    return rows


def _mean_sd(v: List[float]) -> Tuple[float, float]:
    if not v:
        return float("nan"), float("nan")
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def summarize(out_dir: str, configs: List[str], threshold: float) -> Dict:
    runs = load_runs(out_dir)
    base = {r["seed"]: r for r in runs if r["config"] == "none"}
    rows = []
    for name in configs:
        rs = sorted((r for r in runs if r["config"] == name and r["seed"] in base),
                    key=lambda r: r["seed"])
        if not rs:
            continue
        dauc = [r["auc"] - base[r["seed"]]["auc"] for r in rs]
        dll = [r["logloss"] - base[r["seed"]]["logloss"] for r in rs]
        ratios = [r["ratio"] for r in rs]
        m_auc, sd_auc = _mean_sd(dauc)
        m_ll, sd_ll = _mean_sd(dll)
        rows.append({
            "config": name, "seeds": [r["seed"] for r in rs], "n": len(rs),
            "auc_mean": _mean_sd([r["auc"] for r in rs])[0],
            "logloss_mean": _mean_sd([r["logloss"] for r in rs])[0],
            "dauc": dauc, "dauc_mean": m_auc, "dauc_sd": sd_auc,
            "dauc_min": min(dauc), "dauc_max": max(dauc),
            "dlogloss": dll, "dlogloss_mean": m_ll, "dlogloss_sd": sd_ll,
            "ratio_mean": _mean_sd(ratios)[0], "ratio_min": min(ratios), "ratio_max": max(ratios),
            "fwd_ratio": _mean_sd([r["forward"]["ratio"] for r in rs if r["forward"]])[0]
            if rs[0]["forward"] else None,
            "bwd_ratio": _mean_sd([r["backward"]["ratio"] for r in rs if r["backward"]])[0]
            if rs[0]["backward"] else None,
            "wall_mean": _mean_sd([r["wall_seconds"] for r in rs])[0],
        })
    # Item 6's rule: the highest ratio whose mean same-seed AUC change is >= -threshold over
    # >= 3 seeds (Squeeze configurations only).
    eligible = [r for r in rows if r["config"] not in ("none", "fp16", "int8") and r["n"] >= 3
                and r["dauc_mean"] >= -threshold]
    best = max(eligible, key=lambda r: r["ratio_mean"]) if eligible else None
    base_auc = [b["auc"] for b in base.values()]
    summary = {"rows": rows, "threshold": threshold,
               "default_by_rule": best["config"] if best else None,
               "uncompressed_auc_sd": _mean_sd(base_auc)[1],
               "uncompressed_auc_range": (max(base_auc) - min(base_auc)) if base_auc else None}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "seed", "auc", "logloss", "dauc", "dlogloss", "ratio", "fwd_ratio",
                    "bwd_ratio", "steps", "train_samples", "wall_seconds"])
        for r in sorted(runs, key=lambda r: (configs.index(r["config"])
                                             if r["config"] in configs else 99, r["seed"])):
            b = base.get(r["seed"])
            w.writerow([r["config"], r["seed"], f"{r['auc']:.6f}", f"{r['logloss']:.6f}",
                        f"{r['auc'] - b['auc']:.6f}" if b else "",
                        f"{r['logloss'] - b['logloss']:.6f}" if b else "",
                        f"{r['ratio']:.4f}",
                        f"{r['forward']['ratio']:.4f}" if r["forward"] else "",
                        f"{r['backward']['ratio']:.4f}" if r["backward"] else "",
                        r["steps"], r["train_samples"], f"{r['wall_seconds']:.1f}"])
    print(markdown(summary, runs, configs))
    try:
        plot(summary, os.path.join(out_dir, "fidelity.png"))
    except ImportError:
        print("(matplotlib not installed: no plot)")
    return summary


def markdown(summary: Dict, runs: List[Dict], configs: List[str]) -> str:
    lines = ["| configuration | seeds | ratio (min..max) | AUC change, mean (sd) | AUC changes per "
             "seed | logloss change, mean (sd) | mean AUC | mean logloss |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(
            f"| {r['config']} | {r['n']} | {r['ratio_mean']:.2f}x ({r['ratio_min']:.2f}.."
            f"{r['ratio_max']:.2f}) | {r['dauc_mean']:+.5f} ({r['dauc_sd']:.5f}) | "
            + ", ".join(f"{d:+.5f}" for d in r["dauc"])
            + f" | {r['dlogloss_mean']:+.5f} ({r['dlogloss_sd']:.5f}) | {r['auc_mean']:.5f} | "
            f"{r['logloss_mean']:.5f} |")
    lines.append("")
    lines.append(f"Uncompressed seed-to-seed AUC: sd {summary['uncompressed_auc_sd']:.5f}, range "
                 f"{summary['uncompressed_auc_range']:.5f}. Rule (issue item 6): highest ratio "
                 f"with mean AUC change >= -{summary['threshold']} over >= 3 seeds: "
                 f"**{summary['default_by_rule']}**.")
    lines.append("")
    lines.append(table_error_markdown(runs, configs))
    return "\n".join(lines)


def table_error_markdown(runs: List[Dict], configs: List[str]) -> str:
    """Forward per-table error rms(x' - x) / rms(x), mean over seeds, early and late: the worst
    table and a few representative ones."""
    names = None
    per_cfg = {}
    for name in configs:
        rs = [r for r in runs if r["config"] == name and r["forward"]]
        if not rs:
            continue
        te = {}
        for phase in ("early", "late"):
            tabs = rs[0]["forward"]["table_error"][phase]
            names = names or sorted(tabs, key=lambda t: int(t.split("_")[-1]))
            te[phase] = {t: sum(r["forward"]["table_error"][phase].get(t, 0.0) for r in rs)
                         / len(rs) for t in tabs}
        per_cfg[name] = te
    if not per_cfg:
        return ""
    rows_of = runs[0]["dlrm_config"]
    from squeeze.dlrm.data import make_tables
    tables = make_tables(rows_of["num_tables"], rows_of["max_rows"], rows_of["dim"],
                         rows_of["mixed_dims"])
    by_rows = sorted(tables, key=lambda t: -t.rows)
    show = [by_rows[0], by_rows[len(by_rows) // 2], by_rows[-1]]
    head = ("| configuration | worst table early | worst table late | "
            + " | ".join(f"{t.name} ({t.rows:,} rows) early / late" for t in show) + " |")
    lines = ["Forward per-table error rms(x' - x) / rms(x) (mean over seeds; early = first "
             "window steps, late = last):", "", head,
             "|---|---|---|" + "---|" * len(show)]
    for name, te in per_cfg.items():
        # A run shorter than two windows may have no late (or early) step: "-".
        we = max(te["early"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        wl = max(te["late"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        cells = [f"{te['early'].get(t.name, 0):.2e} / {te['late'].get(t.name, 0):.2e}"
                 for t in show]
        lines.append(f"| {name} | {we[1]:.2e} ({we[0]}) | {wl[1]:.2e} ({wl[0]}) | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: Dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "dauc", "same-seed AUC change"),
                           (axes[1], "dlogloss", "same-seed logloss change")):
        for r in summary["rows"]:
            if r["config"] == "none":
                continue
            color = ("C3" if r["config"] in ("fp16", "int8") else
                     "C0" if r["config"].startswith("rel") else
                     "C2" if "bwd" in r["config"] else "C1")
            ax.errorbar(r["ratio_mean"], r[key + "_mean"], yerr=r[key + "_sd"], fmt="o",
                        color=color, capsize=3)
            ax.scatter([r["ratio_mean"]] * len(r[key]), r[key], s=8, color=color, alpha=0.4)
            ax.annotate(r["config"], (r["ratio_mean"], r[key + "_mean"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.axhline(0.0, color="gray", lw=0.8)
        if key == "dauc":
            ax.axhline(-summary["threshold"], color="gray", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio of the compressed all-to-all (training steps)")
        ax.set_ylabel(label + " (mean, sd; dots: seeds)")
    fig.suptitle("DLRM fidelity: compressed all-to-all vs the same seed uncompressed")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tools", "fidelity", "results"))
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated, of: " + ", ".join(CONFIGS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (each one thread)")
    ap.add_argument("--int8-row-dim", type=int, default=0,
                    help="INT8 row-wise row length (0: the embedding dim)")
    ap.add_argument("--window", type=int, default=10, help="steps of the early/late error windows")
    ap.add_argument("--threshold", type=float, default=5e-4,
                    help="the default rule's allowed mean AUC loss (issue item 6)")
    ap.add_argument("--preset", choices=("quick", "study"), default=STUDY_PRESET,
                    help="the training scale (see STUDY_PRESET); keep one --out per preset")
    ap.add_argument("--smoke", action="store_true",
                    help="the tiny preset, few steps (seconds per run; for CI)")
    ap.add_argument("--engine", choices=ENGINES, default="process",
                    help="process: the ranks emulated in one process (the sweep); gloo: one "
                         "process per rank, real all-to-alls (torch.distributed); keep one --out "
                         "per engine")
    ap.add_argument("--compare", metavar="DIR",
                    help="only compare the runs of --out with the same runs in DIR")
    ap.add_argument("--force", action="store_true", help="rerun runs already saved")
    ap.add_argument("--summarize", action="store_true", help="only summarize saved runs")
    args = ap.parse_args(argv)
    args.configs = [c for c in args.configs.split(",") if c]
    for c in args.configs:
        if c not in CONFIGS:
            ap.error(f"unknown configuration {c!r}")
    if "none" not in args.configs:
        args.configs.insert(0, "none")  # every configuration is paired with it
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    t0 = time.perf_counter()
    if args.compare:
        compare(args.out, args.compare, args.configs)
        return 0
    if not args.summarize:
        from squeeze import codec
        if not codec.available():
            print("libsqueeze_c.so not found: build it (cmake --build build --target squeeze_c) "
                  "or set SQUEEZE_C_LIB", file=sys.stderr)
            return 2
        sweep(args)
        # Every sweep of the folder, oldest first (a folder is filled by several commands).
        path = os.path.join(args.out, "sweep.json")
        history = []
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            history = old if isinstance(old, list) else [old]
        history.append({"command": " ".join(sys.argv), "seconds": time.perf_counter() - t0,
                        "engine": args.engine, "jobs": args.jobs, "host": platform.node(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        with open(path, "w") as f:
            json.dump(history, f, indent=1)
    summarize(args.out, args.configs, args.threshold)
    print(f"done in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
