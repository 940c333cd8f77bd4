#!/usr/bin/env python3
"""Markdown tables of the codec v2 figures from the JSON files tools/bench/figures_v2.sh wrote.

    python3 tools/bench/figures_v2.py OUT_DIR > tables.md
"""
import glob
import json
import os
import statistics
import sys


def load(out, name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def row(j, prefix):
    for r in j["rows"]:
        if r["name"].startswith(prefix):
            return r
    return None


def squeeze(j):
    rows = [r for r in j["rows"] if r["name"].startswith("squeeze")]
    return rows[-1] if rows else None


def worst_table(j, key="squeeze_rel_rms_err"):
    v = [t[key] for t in j.get("per_table", []) if t.get(key) is not None]
    return max(v) if v else float("nan")


def fmt(x, d=2):
    return "-" if x is None else ("%.*f" % (d, x))


def corpus_bases(out):
    bases = set()
    for p in glob.glob(os.path.join(out, "*_local_one.json")):
        b = os.path.basename(p)[: -len("_local_one.json")]
        if not b.startswith("gen_") and not b.startswith("w2v"):
            bases.add(b)
    order = {"d64": 0, "d32": 1, "d128": 2, "mixed": 3, "sample": 4}
    return sorted(bases, key=lambda b: (order.get(b.split("_")[0], 9), "bwd" in b, b))


def label(b):
    cfg, step, direction = b.split("_")[:3]
    when = {"s00050": "early", "s01464": "late"}.get(step, step)
    return "%s %s %s" % (cfg, direction, when)


def main():
    out = sys.argv[1]
    bases = corpus_bases(out)
    print("#### Local 1.96e-3 (INT8 row-wise's per-vector precision) against INT8 row-wise, row = "
          "the embedding dim\n")
    print("| payload | INT8 | one frame | x INT8 | 128 KiB steps | x INT8 | 128 KiB, one stream "
          "| x INT8 | worst table rms err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in bases:
        one, k128, st = (load(out, b + s) for s in ("_local_one", "_local_128k", "_local_128k_stream"))
        if one is None:
            continue
        i8 = row(one, "int8")["ratio"] if "mixed" not in b else None
        r1, r2, r3 = (squeeze(x)["ratio"] if x else None for x in (one, k128, st))
        x = (lambda r: None if (r is None or i8 is None) else r / i8)
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %.4f |" % (
            label(b), fmt(i8), fmt(r1), fmt(x(r1)), fmt(r2), fmt(x(r2)), fmt(r3), fmt(x(r3)),
            worst_table(one)))
    print("\n#### At INT8 row-wise's max error (`--match int8`), INT8's row = the dim and = the "
          "whole row\n")
    print("| payload | INT8 (dim) | squeeze one frame | x | 128 KiB | x | INT8 (row) | squeeze one "
          "frame | x | 128 KiB | x |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in bases:
        cells = []
        for kind in ("int8dim", "int8row"):
            one, k128 = load(out, "%s_%s_one" % (b, kind)), load(out, "%s_%s_128k" % (b, kind))
            if one is None or k128 is None:
                cells = None
                break
            i8 = row(one, "int8")["ratio"]
            r1, r2 = squeeze(one)["ratio"], squeeze(k128)["ratio"]
            cells += [fmt(i8), fmt(r1), fmt(r1 / i8), fmt(r2), fmt(r2 / i8)]
        if cells:
            print("| %s | %s |" % (label(b), " | ".join(cells)))
    print("\n#### rel 1e-2 (frame-relative, as the SC'24 paper)\n")
    print("| payload | one frame | 128 KiB steps | 128 KiB, one stream | order-0 limit | "
          "% of it (one frame) | dedup + order-0 limit (one frame) | worst table rms err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for b in bases:
        one, k128, st = (load(out, b + s) for s in ("_rel_one", "_rel_128k", "_rel_128k_stream"))
        if one is None or k128 is None:
            continue
        r1, r2, r3 = (squeeze(x)["ratio"] if x else None for x in (one, k128, st))
        lim = one["entropy_ratio_limit"]
        print("| %s | %s | %s | %s | %s | %.0f%% | %s | %.3f |" % (
            label(b), fmt(r1), fmt(r2), fmt(r3), fmt(lim), 100 * r1 / lim,
            fmt(one["dedup_order0_ratio_limit"]), worst_table(one)))
    print("\n#### Generators and w2v (16 MiB, 128 KiB frames; stages alone and together)\n")
    print("| data | setting | INT8 (row = dim) | fixed | + rANS | + dedup | order-0 limit | "
          "worst table rms err (squeeze / INT8) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in sorted(glob.glob(os.path.join(out, "*_stages.json"))) + sorted(
            glob.glob(os.path.join(out, "w2v_d*_local.json"))):
        j = load(out, os.path.basename(name)[:-5])
        sq = [r for r in j["rows"] if r["name"].startswith("squeeze")]
        i8 = row(j, "int8")
        print("| %s | %s %g | %s | %s | %s | %s | %s | %.4f / %.4f |" % (
            os.path.basename(name)[:-5].replace("_stages", "").replace("gen_", ""), j["mode"],
            j["bound"], fmt(i8["ratio"]), *(fmt(r["ratio"]) for r in sq[:3]),
            fmt(j["entropy_ratio_limit"]), worst_table(j), worst_table(j, "int8_rel_rms_err")))
    print("\n#### Per-table error on the init payload (7 tables, 10 to 10^6 rows)\n")
    print("| table rows | rms(x) | local 1.96e-3 | rel 1e-3 | rel 1e-2 | abs 1e-4 | INT8 row-wise |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    runs = [load(out, "gen_init_" + s) for s in ("local", "rel1e-3", "rel", "abs1e-4")]
    if all(runs):
        for k, t in enumerate(runs[0]["per_table"]):
            cells = ["%.4f" % r["per_table"][k]["squeeze_rel_rms_err"] for r in runs]
            print("| %d | %.3g | %s | %.4f |" % (t["rows"], t["rms_x"], " | ".join(cells),
                                                 t["int8_rel_rms_err"]))
    speeds = sorted(glob.glob(os.path.join(out, "speed_*_run*.json")))
    if speeds:
        print("\n#### Single-thread speed on 64 MiB (median over runs of the within-run "
              "fraction of memcpy)\n")
        print("| setting | frames | memcpy GB/s | compress GB/s (x memcpy) | decompress GB/s "
              "(x memcpy) | ratio |")
        print("|---|---|---:|---:|---:|---:|")
        groups = {}
        for p in speeds:
            key = os.path.basename(p).rsplit("_run", 1)[0]
            groups.setdefault(key, []).append(load(out, os.path.basename(p)[:-5]))
        for key, js in sorted(groups.items()):
            mem = [row(j, "memcpy")["compress_gbps"] for j in js]
            c = [squeeze(j)["compress_gbps"] for j in js]
            d = [squeeze(j)["decompress_gbps"] for j in js]
            fc = [a / m for a, m in zip(c, mem)]
            fd = [a / m for a, m in zip(d, mem)]
            _, mode, frames = key.split("_")
            print("| %s | %s | %.2f | %.2f (%.2fx) | %.2f (%.2fx) | %.2f |" % (
                mode, "one 64 MiB frame" if frames == "one" else "128 KiB", statistics.median(mem),
                statistics.median(c), statistics.median(fc), statistics.median(d),
                statistics.median(fd), squeeze(js[0])["ratio"]))


if __name__ == "__main__":
    main()
