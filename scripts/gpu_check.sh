#!/usr/bin/env bash
# The device check of a session that is lent a GPU, as one short script: the GPU tests (every
# GPU frame byte for byte the CPU's, every CPU frame decoded by the GPU to the CPU decoder's
# bytes, hostile frames rejected with the CPU's verdict), then squeeze-gpu-bench at the settings
# of docs/PERFORMANCE.md's GPU table, on synthetic rows and on the committed trained sample.
# Logs go to OUT (the device tool's $OUT), one file per step, so that a step cut short by the time
# limit still leaves the ones before it.
#
# Build here (no GPU needed), for sm_90 only, and carry the build folder to the device:
#   cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSQUEEZE_CUDA=ON \
#     -DCMAKE_CUDA_ARCHITECTURES=90
#   cmake --build build-gpu --target squeeze_gpu_tests squeeze-gpu-bench nccl-net-squeeze \
#     test_gpu_pipeline_device
#   device run: scripts/gpu_check.sh build-gpu     (carry: build-gpu)
# Usage: scripts/gpu_check.sh BUILD_DIR   (OUT, default /tmp/gpu_check; ITERS, default 20)
set -uo pipefail
build=${1:?build dir holding tests/gpu/squeeze_gpu_tests and squeeze-gpu-bench}
out=${OUT:-/tmp/gpu_check}
iters=${ITERS:-20}
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
{
  echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
} | tee "$out/machine.txt"
tests="$build/tests/gpu/squeeze_gpu_tests"
bench="$build/tests/gpu/squeeze-gpu-bench"
for f in "$tests" "$bench"; do
  [ -x "$f" ] || { echo "missing $f (build it first, see the head of this script)" | tee -a "$out/machine.txt"; exit 2; }
done
timeout 240 "$tests" >"$out/gpu_tests.log" 2>&1
echo "squeeze_gpu_tests rc=$? ($(grep -E '^\[  (PASSED|FAILED)' "$out/gpu_tests.log" | tr '\n' ' '))" |
  tee -a "$out/machine.txt"
# The plugin's GPU-buffer pipeline on the device: two processes through the built .so (bound on
# every element, passthrough bit-exact, registered steps above the staging streamed).
pipeline="$build/tests/plugin/test_gpu_pipeline_device"
if [ -x "$pipeline" ]; then
  SQUEEZE_PLUGIN_SO="$build/plugin/libnccl-net-squeeze.so" timeout 300 "$pipeline" \
    >"$out/gpu_pipeline.log" 2>&1
  echo "test_gpu_pipeline_device rc=$? ($(grep -E '^\[  (PASSED|FAILED)' "$out/gpu_pipeline.log" | tr '\n' ' '))" |
    tee -a "$out/machine.txt"
else
  echo "missing $pipeline: the plugin's device test not run" | tee -a "$out/machine.txt"
fi
# The late forward payload of d64 (rank 3's block, the issue's class) and its backward one.
fwd="$root/tests/data/corpus/d64_late_fwd_r3_to_r0.f32"
bwd="$root/tests/data/corpus/d64_late_bwd_r0_to_r3.f32"
n=0
for setting in "local 1e-2" "local 1.96e-3" "rel 1e-2"; do
  for input in "" "$fwd" "$bwd"; do
    n=$((n + 1))
    args=(--iters "$iters" "--${setting% *}" "${setting#* }")
    [ -n "$input" ] && args+=(--input "$input")
    echo "== ${args[*]}" >"$out/bench_$n.log"
    timeout 120 "$bench" "${args[@]}" >>"$out/bench_$n.log" 2>&1
    echo "rc=$?" >>"$out/bench_$n.log"
  done
done
tail -n +1 "$out"/bench_*.log
