#!/usr/bin/env python3
"""Cross-checks squeeze-bench's INT8 row-wise and FP8 (hfp8 1-4-3, bias 15) baselines against
FBGEMM's own CPU operators on the same data. Not part of the default tests (needs torch and
fbgemm-gpu-cpu, e.g. the examples/torchrec virtual environment).

  python scripts/check_baselines_fbgemm.py BENCH INPUT.f32 [ROW_DIM]

Runs BENCH --input INPUT.f32 --dump DIR, then compares byte for byte:
  int8-rowwise.bin vs torch.ops.fbgemm.FloatToFused8BitRowwiseQuantized(x.view(-1, ROW_DIM))
  fp8-e4m3.bin     vs torch.ops.fbgemm.FloatToHFP8Quantized(x, 4, 15, 0.9375)
and reports mismatching bytes and the max |difference| of the decoded values.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import fbgemm_gpu  # noqa: F401  (registers torch.ops.fbgemm)


def main():
    bench, path = sys.argv[1], sys.argv[2]
    row_dim = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    x = np.fromfile(path, dtype="<f4")
    x = x[: len(x) // row_dim * row_dim]
    with tempfile.TemporaryDirectory() as tmp:
        trimmed = os.path.join(tmp, "in.f32")
        x.tofile(trimmed)
        subprocess.run([bench, "--input", trimmed, "--row-dim", str(row_dim), "--reps", "1",
                        "--dump", tmp], check=True, stdout=subprocess.DEVNULL)
        ours_int8 = np.fromfile(os.path.join(tmp, "int8-rowwise.bin"), dtype=np.uint8)
        ours_fp8 = np.fromfile(os.path.join(tmp, "fp8-e4m3.bin"), dtype=np.uint8)
    t = torch.from_numpy(x)
    ref_int8 = torch.ops.fbgemm.FloatToFused8BitRowwiseQuantized(t.view(-1, row_dim)).numpy()
    ref_int8 = ref_int8.reshape(-1)
    ok = True
    if ref_int8.shape != ours_int8.shape:
        print(f"int8-rowwise: size differs: fbgemm {ref_int8.size} B, ours {ours_int8.size} B")
        ok = False
    else:
        bad = int((ref_int8 != ours_int8).sum())
        dec_ref = torch.ops.fbgemm.Fused8BitRowwiseQuantizedToFloat(
            torch.from_numpy(ref_int8).view(-1, row_dim + 8)).numpy().reshape(-1)
        print(f"int8-rowwise: {ref_int8.size} bytes, {bad} differ; fbgemm max err "
              f"{np.abs(dec_ref - x).max():.6g}")
        ok = ok and bad == 0
    ref_fp8 = torch.ops.fbgemm.FloatToHFP8Quantized(t.view(-1, row_dim), 4, 15, 0.9375).numpy().reshape(-1)
    bad8 = int((ref_fp8 != ours_fp8).sum())
    print(f"fp8-e4m3 (hfp8 1-4-3 bias 15): {ref_fp8.size} bytes, {bad8} differ")
    ok = ok and bad8 == 0
    print("MATCH" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
