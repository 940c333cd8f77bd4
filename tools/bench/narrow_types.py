#!/usr/bin/env python3
"""The codec on f16 and bf16 payloads: f32 files converted (round to nearest even, as a framework
casting its all-to-all to the type would) and run through squeeze-bench.

    python3 tools/bench/narrow_types.py BUILD_DIR OUT_DIR [F32 FILES...]

Defaults to the trained samples in tests/data/corpus. For each file and type it writes OUT_DIR/
<name>.<type> and prints squeeze-bench's ratio, outlier count and worst per-table rms(x' - x) / rms(x)
(the tables tools/corpus/table_spec.py gives the f32 file), and INT8 row-wise's ratio on the same
values, at local 1e-2 (the plugin's default), local 1.96e-3 and rel 1e-2, with 128 KiB frames.
"""
import glob
import os
import re
import subprocess
import sys

import numpy as np


def to_bf16(x):
    u = x.view(np.uint32).astype(np.uint64)
    nan = np.isnan(x)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = 0x7FC0  # a quiet NaN, not a rounding carry into the exponent
    return r


def convert(path, out_dir):
    x = np.fromfile(path, dtype=np.float32)
    name = os.path.basename(path)[: -len(".f32")]
    out = {}
    for t, data in (("f16", x.astype(np.float16)), ("bf16", to_bf16(x))):
        p = os.path.join(out_dir, f"{name}.{t}")
        data.tofile(p)
        out[t] = p
    return name, out


def table_spec(f32_path):
    spec = os.path.join(os.path.dirname(__file__), "..", "corpus", "table_spec.py")
    out = subprocess.run([sys.executable, spec, f32_path], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


def bench(build, path, dtype, mode, bound, tables):
    cmd = [os.path.join(build, "tools/bench/squeeze-bench"), "--input", path, "--dtype", dtype,
           "--mode", mode, "--bound", str(bound), "--chunk", "131072", "--reps", "1",
           "--row-dim", "64", "--tables", tables]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    outliers = int(re.search(r"(\d+) outliers", text).group(1))
    ratio = float(re.search(rf"^squeeze {mode} \S+\s+([\d.]+)", text, re.M).group(1))
    int8 = float(re.search(r"^int8-rowwise\s+([\d.]+)", text, re.M).group(1))
    worst = float(re.search(r"largest per-table error of squeeze: ([\d.e+-]+)", text).group(1))
    return ratio, outliers, worst, int8


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build, out_dir = sys.argv[1], sys.argv[2]
    files = sys.argv[3:] or sorted(glob.glob("tests/data/corpus/*.f32"))
    os.makedirs(out_dir, exist_ok=True)
    settings = (("local", 1e-2), ("local", 1.96e-3), ("rel", 1e-2))
    print("| payload | type | elements | " +
          " | ".join(f"{m} {b:g}: ratio (outliers) worst table" for m, b in settings) +
          " | INT8 row-wise |")
    print("|---|---|---:|" + "---:|" * (len(settings) + 1))
    for path in files:
        name, converted = convert(path, out_dir)
        n = os.path.getsize(path) // 4
        tables = table_spec(path)
        for t, p in converted.items():
            cells, int8 = [], None
            for mode, bound in settings:
                ratio, outliers, worst, int8 = bench(build, p, t, mode, bound, tables)
                cells.append(f"{ratio:.3f} ({outliers}) {worst:.4f}")
            print(f"| {name} | {t} | {n} | " + " | ".join(cells) + f" | {int8:.3f} |")


if __name__ == "__main__":
    main()
