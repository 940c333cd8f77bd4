#!/usr/bin/env python3
"""Markdown tables of the codec v2 figures from the JSON files tools/bench/figures_v2.sh wrote.

    python3 tools/bench/figures_v2.py OUT_DIR > tables.md
"""
import glob
import json
import os
import re
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


# A corpus file's base name: CONFIG_STEP_DIRECTION_rSRC_to_rDST (configurations may hold "_",
# e.g. d64_rr); the committed sample's are sample_NAME.
BASE = re.compile(r"^(?P<cfg>.+)_(?P<step>s\d+)_(?P<dir>fwd|bwd)_r(?P<src>\d+)_to_r(?P<dst>\d+)$")
# The blocks figures_v2.sh measures without BLOCKS=all: rank 3's forward block and its gradient.
DEFAULT_PAIR = {"fwd": ("3", "0"), "bwd": ("0", "3")}


def corpus_bases(out):
    bases = set()
    for p in glob.glob(os.path.join(out, "*_local_one.json")):
        b = os.path.basename(p)[: -len("_local_one.json")]
        if not b.startswith("gen_") and not b.startswith("w2v"):
            bases.add(b)
    order = {"d64": 0, "d32": 1, "d128": 2, "mixed": 3, "sample": 9}

    def key(b):
        m = BASE.match(b)
        if not m:
            return (order.get(b.split("_")[0], 8), b, False, "", 0)
        return (order.get(m["cfg"], 8), m["cfg"], m["dir"] == "bwd", m["step"], int(m["src"]))
    return sorted(bases, key=key)


def label(b, every_block=False):
    m = BASE.match(b)
    if not m:
        return b.replace("_", " ")
    when = {"s00050": "early", "s01464": "late"}.get(m["step"], m["step"])
    text = "%s %s %s" % (m["cfg"], m["dir"], when)
    if every_block:
        text += " r%s->r%s" % (m["src"], m["dst"])
    return text


def block_summary(out, bases):
    """Per configuration and direction: the least, median and greatest of each figure's ratio over
    every block measured, so that a row met on one block shows what the others give."""
    groups = {}
    for b in bases:
        m = BASE.match(b)
        if m:
            groups.setdefault((m["cfg"], m["dir"]), []).append(b)
    print("\n#### Every block: least / median / greatest over the blocks of each configuration\n")
    print("| configuration | blocks | local 1.96e-3 x INT8 (one frame) | its dedup + order-0 limit "
          "x INT8 | (128 KiB) | (one stream) "
          "| INT8 max err x INT8, row = dim (one frame) | (128 KiB) | rel 1e-2 (one frame) "
          "| (128 KiB) | (one stream) | rel 1e-2 % of order-0 (one frame) "
          "| worst table rms err at local 1.96e-3 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def spread(v, d=2):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        return "%.*f / %.*f / %.*f" % (d, min(v), d, statistics.median(v), d, max(v))

    order = sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "bwd"))
    for (cfg, direction), bs in order:
        cols = {k: [] for k in ("l1", "lim", "l2", "l3", "i1", "i2", "r1", "r2", "r3", "o", "e")}
        for b in bs:
            one = load(out, b + "_local_one")
            if one is None:
                continue
            i8 = row(one, "int8")["ratio"] if "mixed" not in cfg else None
            cols["lim"].append(one["dedup_order0_ratio_limit"] / i8 if i8 else None)
            for k, s in (("l1", "_local_one"), ("l2", "_local_128k"), ("l3", "_local_128k_stream")):
                j = load(out, b + s)
                cols[k].append(squeeze(j)["ratio"] / i8 if (j and i8) else None)
            for k, s in (("i1", "_int8dim_one"), ("i2", "_int8dim_128k")):
                j = load(out, b + s)
                cols[k].append(squeeze(j)["ratio"] / row(j, "int8")["ratio"] if j else None)
            for k, s in (("r1", "_rel_one"), ("r2", "_rel_128k"), ("r3", "_rel_128k_stream")):
                j = load(out, b + s)
                cols[k].append(squeeze(j)["ratio"] if j else None)
                if j and k == "r1":
                    cols["o"].append(100 * squeeze(j)["ratio"] / j["entropy_ratio_limit"])
            cols["e"].append(worst_table(one))
        print("| %s %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            cfg, direction, len(bs), spread(cols["l1"]), spread(cols["lim"]), spread(cols["l2"]),
            spread(cols["l3"]), spread(cols["i1"]), spread(cols["i2"]), spread(cols["r1"], 1),
            spread(cols["r2"], 1), spread(cols["r3"], 1), spread(cols["o"], 0), spread(cols["e"], 4)))


def main():
    out = sys.argv[1]
    bases = corpus_bases(out)
    every = any((m := BASE.match(b)) and (m["src"], m["dst"]) != DEFAULT_PAIR[m["dir"]]
                for b in bases)
    if every:
        block_summary(out, bases)
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
            label(b, every), fmt(i8), fmt(r1), fmt(x(r1)), fmt(r2), fmt(x(r2)), fmt(r3), fmt(x(r3)),
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
            print("| %s | %s |" % (label(b, every), " | ".join(cells)))
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
            label(b, every), fmt(r1), fmt(r2), fmt(r3), fmt(lim), 100 * r1 / lim,
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
