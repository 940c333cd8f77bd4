#!/usr/bin/env python3
"""Summarizes several squeeze-bench --json runs of the same command as one Markdown table:
ratios and errors (identical across runs: the data and codecs are deterministic) and the median
over runs of each throughput and of its fraction of the memcpy measured in the same run.

  python3 scripts/bench_summary.py run1.json run2.json run3.json
"""
import json
import statistics
import sys


def main():
    docs = [json.load(open(p)) for p in sys.argv[1:]]
    d0 = docs[0]
    print(f"{d0['source']}; {d0['input_bytes']} bytes {d0['dtype']}; squeeze {d0['mode']} "
          f"{d0['bound']:.6g}, {d0['chunk_bytes']}-byte frames, {d0['threads']} thread(s); "
          f"{len(docs)} runs x median of {d0['reps']} reps; {d0['cores']} cores, {d0['cpu']}, "
          f"codec backend {d0['backend']}")
    print()
    print("| codec | ratio | max abs err | mean abs err | compress GB/s | decompress GB/s "
          "| compress / memcpy | decompress / memcpy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for i, row in enumerate(d0["rows"]):
        rows = [d["rows"][i] for d in docs]
        mem = [d["rows"][0]["compress_gbps"] for d in docs]
        med = statistics.median
        c = med(r["compress_gbps"] for r in rows)
        dc = med(r["decompress_gbps"] for r in rows)
        fc = med(r["compress_gbps"] / m for r, m in zip(rows, mem))
        fd = med(r["decompress_gbps"] / m for r, m in zip(rows, mem))
        print(f"| {row['name']} | {row['ratio']:.3f} | {row['max_abs_err']:.4g} | "
              f"{row['mean_abs_err']:.4g} | {c:.2f} | {dc:.2f} | {fc:.2f} | {fd:.2f} |")
    print()
    print(f"squeeze / int8-rowwise ratio: {d0['squeeze_vs_int8_ratio']:.3f}; order-0 entropy of "
          f"squeeze's codes {d0['entropy_bits_per_value']:.3f} bits/value -> ratio ceiling "
          f"{d0['entropy_ratio_limit']:.3f}; fixed-length per-32 model "
          f"{d0['fixed32_ratio_model']:.3f}; squeeze outliers {d0['squeeze_outliers']}")


if __name__ == "__main__":
    main()
