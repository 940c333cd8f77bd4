#!/usr/bin/env python3
"""The lossless figures of docs/PERFORMANCE.md: squeeze-bench --mode lossless on every file of the
lossless corpus (tools/corpus/LOSSLESS.md; data/lossless/manifest.json), grouped by what the files
are (config, kind, dtype). Per group: the ratio over the group's bytes (sum in / sum out) and the
per-file range, for squeeze, zstd -1 and lz4 measured in the same runs; the order-0 limit of
coding each byte plane on its own; the exponent's order-0 entropy (floats); compression and
decompression speed as a fraction of memcpy in the same run (medians over the group's files).

Usage: lossless_figures.py BENCH MANIFEST OUT_DIR [--chunk BYTES] [--reps N]
Every round trip is checked bit for bit by squeeze-bench (it exits 1 otherwise).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("manifest")
    ap.add_argument("out")
    ap.add_argument("--chunk", default="128K")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    man = json.load(open(a.manifest))
    root = os.path.dirname(os.path.abspath(a.manifest))
    groups = {}
    for i, f in enumerate(man["files"]):
        path = os.path.join(root, f["path"])
        js = os.path.join(a.out, f"{i:04d}.json")
        subprocess.run([a.bench, "--input", path, "--dtype", f["dtype"], "--mode", "lossless",
                        "--chunk", a.chunk, "--reps", str(a.reps), "--json", js],
                       check=True, stdout=subprocess.DEVNULL)
        r = json.load(open(js))
        key = (f["config"], f["kind"], f["dtype"])
        groups.setdefault(key, []).append(r)
    print(f"| config | kind | dtype | files | MiB | squeeze | zstd -1 | lz4 | planes order-0 limit "
          f"| exponent H (bits) | squeeze comp GB/s (/ memcpy) | decomp GB/s (/ memcpy) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []
    for key in sorted(groups):
        rs = groups[key]
        total_in = sum(r["input_bytes"] for r in rs)
        cells = []
        for name in ("squeeze lossless", "zstd -1", "lz4"):
            rows = [[x for x in r["rows"] if x["name"] == name] for r in rs]
            if not all(rows):
                cells.append("-")
                continue
            out = sum(x[0]["bytes"] for x in rows)
            per = [r["input_bytes"] / x[0]["bytes"] for r, x in zip(rs, rows)]
            cells.append(f"{total_in / out:.2f}x ({min(per):.2f}-{max(per):.2f})")
        lim = [r["planes_order0_ratio_limit"] for r in rs if r["planes_order0_ratio_limit"]]
        exps = [r["exponent_entropy_bits"] for r in rs if r["exponent_entropy_bits"] is not None]
        def speed(field, absolute=False):
            v = []
            for r in rs:
                mem = [x for x in r["rows"] if x["name"] == "memcpy"][0][field]
                sq = [x for x in r["rows"] if x["name"] == "squeeze lossless"][0][field]
                v.append(sq if absolute else sq / mem)
            return statistics.median(v)
        limit = f"{min(lim):.2f}-{max(lim):.2f}x" if lim else "inf (constant)"
        exp = f"{min(exps):.2f}-{max(exps):.2f}" if exps else "-"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(rs)} | {total_in / 2**20:.2f} | "
              + " | ".join(cells) + f" | {limit} | {exp} | {speed('compress_gbps', True):.3f} "
              f"({speed('compress_gbps'):.4f}) | {speed('decompress_gbps', True):.3f} "
              f"({speed('decompress_gbps'):.4f}) |")
        summary.append({"group": list(key), "files": len(rs), "bytes": total_in})
    json.dump(summary, open(os.path.join(a.out, "summary.json"), "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
