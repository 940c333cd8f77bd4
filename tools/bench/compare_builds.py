#!/usr/bin/env python3
"""Speed of two squeeze-bench builds on the same data, measured in the same run: the two benches
alternate (A, B, A, B, ...), each run reports its median of --reps, and the summary gives, per
build, the median of its runs' squeeze GB/s and fraction of memcpy, and the median of the
per-pair speed ratios B / A (pairs are adjacent in time, so a shared machine's load changes
cancel as far as they can). The frames' sizes must agree (the same bytes are expected).

Usage: compare_builds.py BENCH_A BENCH_B [--runs N] [--label-a A] [--label-b B]
                         [--allow-size-change] -- BENCH_ARGS...
Example (the session's baseline against the tree):
  compare_builds.py /tmp/build-base/tools/bench/squeeze-bench build/tools/bench/squeeze-bench \
      --runs 3 -- --input data/bench64.f32 --row-dim 64 --mode local --bound 1.96e-3 --reps 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(bench, args):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        subprocess.run([bench] + args + ["--json", out], check=True, stdout=subprocess.DEVNULL)
        rows = {r["name"]: r for r in json.load(open(out))["rows"]}
    sq = next(r for n, r in rows.items() if n.startswith("squeeze"))
    mc = rows["memcpy"]
    return {"bytes": sq["bytes"], "ratio": sq["ratio"], "c": sq["compress_gbps"],
            "d": sq["decompress_gbps"], "cf": sq["compress_gbps"] / mc["compress_gbps"],
            "df": sq["decompress_gbps"] / mc["decompress_gbps"]}


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_a")
    ap.add_argument("bench_b")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label-a", default="A")
    ap.add_argument("--label-b", default="B")
    ap.add_argument("--allow-size-change", action="store_true",
                    help="builds whose frames differ (an encoder change): report both ratios")
    a = ap.parse_args(argv[:split])
    bench_args = argv[split + 1:]
    ra, rb = [], []
    for _ in range(a.runs):
        ra.append(run(a.bench_a, bench_args))
        rb.append(run(a.bench_b, bench_args))
    same = {r["bytes"] for r in ra} == {r["bytes"] for r in rb}
    if not same and not a.allow_size_change:
        sys.exit(f"frame bytes differ: {ra[0]['bytes']} against {rb[0]['bytes']}")
    med = statistics.median
    ratio = (f"ratio {ra[0]['ratio']:.3f}" if same else
             f"ratio {a.label_a} {ra[0]['ratio']:.4f}, {a.label_b} {rb[0]['ratio']:.4f}")
    print(f"args: {' '.join(bench_args)}; {a.runs} alternating runs each; {ratio}")
    for label, rs in ((a.label_a, ra), (a.label_b, rb)):
        print(f"  {label}: compress {med(r['c'] for r in rs):.3f} GB/s "
              f"({med(r['cf'] for r in rs):.3f}x memcpy), decompress "
              f"{med(r['d'] for r in rs):.3f} GB/s ({med(r['df'] for r in rs):.3f}x memcpy)")
    print(f"  {a.label_b} / {a.label_a}: compress "
          f"{med(b['c'] / x['c'] for x, b in zip(ra, rb)):.2f}x, decompress "
          f"{med(b['d'] / x['d'] for x, b in zip(ra, rb)):.2f}x")


if __name__ == "__main__":
    main()
