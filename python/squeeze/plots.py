"""squeeze-plots: PNGs from squeeze-bench JSON, squeeze-a2a JSON and the plugin's statistics.

    squeeze-plots --out DIR FILE...      (also: python -m squeeze plots ...)

Each FILE is recognised by its content:
  * squeeze-bench --json output (a "rows" list with the codec and its baselines):
    ratio_vs_error.png, the compression ratio against the maximum absolute error, Squeeze at
    each bound of the files given (one point per file: its abs bound) and FP16 / BF16 / INT8
    row-wise / FP8 / MX4 (their measured max error) on the same data. The files must hold the
    same data (source, seed, values and dtype); a file that does not is refused.
  * squeeze-a2a --json output ("tool": "squeeze-a2a"): speedup_vs_link_rate.png, the measured
    speedup of the compressed all-to-all over passthrough against the link rate of the run
    (--netns RATE; loopback runs have no rate and are left out), one line per message size.
  * the plugin's JSON lines (NCCL_SQUEEZE_STATS_FILE): connection_stats.png, per connection the
    ratio, the measured error over the bound (NCCL_SQUEEZE_VERIFY=1; else the largest bound
    applied) and the codec time.

Needs matplotlib (scripts/venv.sh matplotlib; `pip install .[plots]`).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Optional

# squeeze-bench's baseline rows (tools/bench/baselines.cc) and their labels.
BASELINES = {"fp16": "FP16", "bf16": "BF16", "int8-rowwise": "INT8 row-wise",
             "fp8-e4m3": "FP8 e4m3", "mx4": "MX4"}
_RATE_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def kind_of(path: str) -> tuple[str, object]:
    """('bench' | 'a2a' | 'stats', parsed content) of a file, or ValueError."""
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        if doc.get("tool") == "squeeze-a2a":
            return "a2a", doc
        if isinstance(doc.get("rows"), list) and "source" in doc:
            return "bench", doc
    from squeeze import stats
    records, _ = stats.read_records(text.splitlines())
    if records:
        return "stats", records
    raise ValueError(f"{path}: neither squeeze-bench JSON, squeeze-a2a JSON nor plugin "
                     "statistics (JSON lines)")


def squeeze_row(doc: dict) -> dict:
    """The full codec's row of a squeeze-bench file (the last "squeeze" row; --stages adds
    partial ones before it)."""
    rows = [r for r in doc["rows"] if r["name"].startswith("squeeze")]
    if not rows:
        raise ValueError("no squeeze row")
    return rows[-1]


def ratio_vs_error_points(docs: list[dict]) -> dict:
    """{"squeeze": [(bound, max_abs_err, ratio), ...] sorted by bound,
        "baselines": {name: (max_abs_err, ratio)}, "data": description}.
    Every file must hold the same data and use --mode abs (the bound is then an absolute
    error, comparable to the baselines' max error)."""
    if not docs:
        raise ValueError("no squeeze-bench files")
    key = lambda d: (d["source"], d.get("seed"), d["values"], d["dtype"])  # noqa: E731
    first = key(docs[0])
    pts = []
    for d in docs:
        if key(d) != first:
            raise ValueError(f"not the same data: {key(d)} vs {first}")
        if d.get("mode") != "abs":
            raise ValueError(f"squeeze-bench --mode {d.get('mode')}: use --mode abs for this plot")
        r = squeeze_row(d)
        pts.append((float(d["bound"]), float(r["max_abs_err"]), float(r["ratio"])))
    base = {}
    for r in docs[0]["rows"]:
        if r["name"] in BASELINES:
            base[r["name"]] = (float(r["max_abs_err"]), float(r["ratio"]))
    src = docs[0]["source"].split(" [")[0]  # squeeze-bench appends the generator's shape
    data = f"{src}, seed {docs[0].get('seed')}, {docs[0]['dtype']}, " \
           f"{docs[0]['input_bytes'] / 2**20:.0f} MiB"
    return {"squeeze": sorted(pts), "baselines": base, "data": data}


def plot_ratio_vs_error(docs: list[dict], path: str) -> None:
    p = ratio_vs_error_points(docs)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = [b for b, _, _ in p["squeeze"]]
    ax.plot(xs, [r for _, _, r in p["squeeze"]], "o-", color="C0", label="Squeeze (abs bound)")
    markers = iter("sD^vP")
    for name, (err, ratio) in p["baselines"].items():
        ax.plot([max(err, 1e-12)], [ratio], next(markers, "x"), ms=8, label=BASELINES[name])
    ax.set_xscale("log")
    ax.set_xlabel("max absolute error (Squeeze: its bound; others: measured)")
    ax.set_ylabel("compression ratio")
    ax.set_title(f"ratio against error on the same data: {p['data']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_rate(text: str) -> Optional[float]:
    """tc's rate syntax ('500mbit', '1gbit', '10Gbit') in bit/s; None for '' (loopback)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtT]?)(bit|bps)?\s*", text or "")
    if not text or not m:
        return None
    v = float(m.group(1)) * _RATE_UNITS[m.group(2).lower()]
    return v * 8 if m.group(3) == "bps" else v


def speedup_points(docs: list[dict]) -> dict:
    """{bytes_per_peer: [(rate bit/s, speedup), ...] sorted by rate} from compressed rows."""
    out: dict = {}
    for d in docs:
        rate = parse_rate(d.get("netns_rate", ""))
        if rate is None:
            continue
        for r in d["rows"]:
            if r.get("phase") == "compressed" and r.get("speedup_vs_passthrough", 0) > 0:
                out.setdefault(int(r["bytes_per_peer"]), []).append(
                    (rate, float(r["speedup_vs_passthrough"])))
    if not out:
        raise ValueError("no squeeze-a2a run with a link rate (--netns RATE) and a compressed "
                         "phase")
    return {k: sorted(v) for k, v in sorted(out.items())}


def plot_speedup(docs: list[dict], path: str) -> None:
    pts = speedup_points(docs)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for size, v in pts.items():
        label = f"{size / 2**20:g} MiB per peer" if size >= 2**20 else f"{size / 1024:g} KiB per peer"
        ax.plot([r / 1e9 for r, _ in v], [s for _, s in v], "o-", label=label)
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("link rate (Gbit/s, tc tbf per rank)")
    ax.set_ylabel("all-to-all speedup (compressed / passthrough)")
    d = docs[0]
    ax.set_title(f"squeeze-a2a: {d['ranks']} ranks, {d['payload']} {d['dtype']}, "
                 f"{d['mode']} {d['bound']:g}, {d.get('nproc', '?')} cores", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_stats(records: list[dict], path: str) -> None:
    """Per connection: ratio, measured max error over the bound (else the largest bound
    applied), codec time."""
    from squeeze import stats
    groups = stats.summarise(records, by="conn")
    plt = _plt()
    labels = [f"{g.direction} {g.peer}" for g in groups]
    ys = range(len(groups))
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.35 * len(groups) + 1.6), sharey=True)
    axes[0].barh(ys, [g.ratio for g in groups], color="C0")
    axes[0].axvline(1.0, color="gray", lw=0.8)
    axes[0].set_xlabel("ratio (bytes in / on the wire)")
    if any(g.max_err is not None for g in groups):
        # NCCL_SQUEEZE_VERIFY: the measured error over the bound (receivers have none).
        axes[1].barh(ys, [g.max_err or 0.0 for g in groups], color="C1")
        axes[1].axvline(1.0, color="red", lw=0.8)
        axes[1].set_xlabel("max error / bound (measured)")
    else:
        axes[1].barh(ys, [g.max_bound for g in groups], color="C1")
        axes[1].set_xlabel("largest bound applied")
    axes[2].barh(ys, [g.codec_ms for g in groups], color="C2")
    axes[2].set_xlabel("codec time (ms)")
    axes[0].set_yticks(list(ys))
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    fig.suptitle(f"per-connection statistics ({len(groups)} connections)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="squeeze-plots", description=__doc__.split("\n\n")[0],
        epilog="Writes ratio_vs_error.png, speedup_vs_link_rate.png and connection_stats.png "
               "(those the inputs allow) into --out.")
    ap.add_argument("files", nargs="+", help="squeeze-bench / squeeze-a2a JSON, stats JSON lines")
    ap.add_argument("-o", "--out", default=".", help="output folder (default: .)")
    args = ap.parse_args(argv)
    by_kind: dict = {"bench": [], "a2a": [], "stats": []}
    for f in args.files:
        try:
            kind, doc = kind_of(f)
        except (OSError, ValueError) as e:
            print(f"squeeze-plots: {e}", file=sys.stderr)
            return 2
        if kind == "stats":
            by_kind[kind].extend(doc)
        else:
            by_kind[kind].append(doc)
    os.makedirs(args.out, exist_ok=True)
    jobs = (("bench", "ratio_vs_error.png", plot_ratio_vs_error),
            ("a2a", "speedup_vs_link_rate.png", plot_speedup),
            ("stats", "connection_stats.png", plot_stats))
    for kind, name, fn in jobs:
        if not by_kind[kind]:
            continue
        path = os.path.join(args.out, name)
        try:
            fn(by_kind[kind], path)
        except ValueError as e:
            print(f"squeeze-plots: {name}: {e}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
