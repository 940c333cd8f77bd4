#!/usr/bin/env python3
"""ctest smoke test of squeeze-bench: a 1 MiB generated DLRM payload must round-trip (exit 0: the
bench itself checks every element against the bound it must meet), and the JSON must hold the
memcpy, every baseline and the squeeze rows with sane numbers."""
import json
import os
import subprocess
import sys
import tempfile

bench = os.environ["SQUEEZE_BENCH"]
expected = ["memcpy", "fp16", "bf16", "int8-rowwise", "fp8-e4m3", "mx4"]
cases = [
    ([], 1),  # the default: local 1.96e-3, every stage
    (["--match", "int8"], 1),
    (["--dtype", "bf16", "--mode", "abs", "--bound", "1e-3"], 1),
    (["--mode", "rel", "--bound", "1e-2", "--stages", "--stream"], 4),
]


def run_bench(args, out):
    """Runs squeeze-bench with args and --json out (exit 0 required); returns the JSON."""
    cmd = [bench] + args + ["--json", out]
    run = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {run.returncode}")
    with open(out) as f:
        return json.load(f)


with tempfile.TemporaryDirectory() as tmp:
    for extra, squeeze_rows in cases:
        doc = run_bench(["--generate", "dlrm", "--size", "1MiB", "--seed", "3", "--reps", "1"]
                        + extra, os.path.join(tmp, "bench.json"))
        names = [r["name"] for r in doc["rows"]]
        if names[:len(expected)] != expected or len(names) != len(expected) + squeeze_rows:
            sys.exit(f"FAIL: rows {names}")
        squeeze = doc["rows"][-1]
        if not all(r["name"].startswith("squeeze") for r in doc["rows"][len(expected):]):
            sys.exit(f"FAIL: squeeze rows {names}")
        for r in doc["rows"]:
            if not (r["ratio"] >= 1.0 and r["compress_gbps"] > 0 and r["decompress_gbps"] > 0):
                sys.exit(f"FAIL: row {r}")
        if doc["seed"] != 3 or doc["input_bytes"] <= 0:
            sys.exit(f"FAIL: header {doc}")
        if doc["mode"] != "local" and not squeeze["max_abs_err"] <= doc["squeeze_max_applied_bound"]:
            sys.exit(f"FAIL: squeeze error {squeeze['max_abs_err']} above its bound")
        if "--match" in extra:
            int8 = next(r for r in doc["rows"] if r["name"] == "int8-rowwise")
            if squeeze["max_abs_err"] > int8["max_abs_err"]:
                sys.exit("FAIL: matched squeeze exceeds int8's max error")
            if abs(doc["squeeze_vs_int8_ratio"] - squeeze["ratio"] / int8["ratio"]) > 1e-6:
                sys.exit("FAIL: squeeze_vs_int8_ratio")
        if not doc["entropy_ratio_limit"] > 1.0 or not doc["dedup_order0_ratio_limit"] > 1.0:
            sys.exit("FAIL: entropy limits")
        if "--stream" in extra and not doc["ref_units"] > 0:
            sys.exit("FAIL: the dlrm payload's repeated vectors were not deduplicated")
    # --mode lossless on the committed lossless sample: exact (the bench exits 1 otherwise),
    # memcpy / squeeze / zstd / lz4 rows, and the int64 ids well above 2.5x.
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data",
                          "lossless")
    for name, dtype, min_ratio in [("ids_i64_r0to3.bin", "i64", 2.5),
                                   ("act_bf16_step300.bin", "bf16", 1.35),
                                   ("lengths_i32_r0to3.bin", "i32", 2.0)]:
        doc = run_bench(["--input", os.path.join(sample, name), "--dtype", dtype, "--mode",
                         "lossless", "--reps", "1"], os.path.join(tmp, "lossless.json"))
        names = [r["name"] for r in doc["rows"]]
        if names[:2] != ["memcpy", "squeeze lossless"] or doc["mode"] != "lossless":
            sys.exit(f"FAIL: lossless rows {names}")
        sq = doc["rows"][1]
        if not (sq["ratio"] >= min_ratio and sq["compress_gbps"] > 0 and sq["max_abs_err"] == 0):
            sys.exit(f"FAIL: lossless row {sq} (ratio below {min_ratio}?)")
        if len(doc["plane_entropy_bits"]) != {"i64": 8, "bf16": 2, "i32": 4}[dtype]:
            sys.exit(f"FAIL: plane entropies {doc['plane_entropy_bits']}")
    # --phases: the full codec's time by encoder phase, every phase's line a number, and the
    # phases near the whole compress time; refused with more than one thread.
    run = subprocess.run([bench, "--generate", "dlrm", "--size", "1MiB", "--seed", "3", "--reps",
                          "3", "--mode", "rel", "--bound", "1e-2", "--phases"],
                         capture_output=True, text=True)
    if (run.returncode != 0 or "encoder phases of the full codec" not in run.stdout
            or "decoder phases of the full codec" not in run.stdout):
        sys.exit(f"FAIL: --phases exited {run.returncode}: {run.stderr}")
    lines = run.stdout.split("encoder phases of the full codec")[1].split(
        "decoder phases")[0].splitlines()[1:]
    shares = {}
    for line in lines:
        if not line.startswith("  "):
            break
        name, rest = line[2:16].strip(), line[16:].split()
        shares[name] = rest
    for name in ["stats", "decide", "quantize", "rans model", "rans segments", "write", "all"]:
        if name not in shares or not float(shares[name][0]) > 0:
            sys.exit(f"FAIL: --phases has no time for {name}: {shares}")
    covered = float(next(w for w in shares["all"] if w.endswith("%")).rstrip("%"))
    decoder = run.stdout.split("decoder phases of the full codec")[1].splitlines()
    codes = [line.split() for line in decoder if line.startswith("  codes ")]
    if not codes or not float(codes[0][1]) > 0:
        sys.exit(f"FAIL: --phases has no decoder time for the codes: {decoder[:8]}")
    if not 50 <= covered <= 150:
        sys.exit(f"FAIL: the phases are {covered}% of the compress time")
    if subprocess.run([bench, "--generate", "dlrm", "--size", "1MiB", "--phases", "--threads",
                       "2"], capture_output=True).returncode != 2:
        sys.exit("FAIL: --phases with 2 threads was not refused")
print(f"squeeze-bench smoke: {len(cases) + 4} passed, 0 failed")
