#!/usr/bin/env bash
# The squeeze-a2a rows of docs/PERFORMANCE.md "The all-to-all with trained payloads across
# 1 Gbit/s links": the late forward payloads of the d64 trained corpus (data/corpus, made by
# scripts/make_corpus.sh), 4 MiB per peer, one namespace per rank with 1 Gbit/s links (root),
# passthrough and compressed in each invocation: rel 1e-2 with registered buffers and the FIFO
# pool, and the local bounds (the plugin's default 1e-2, and INT8 row-wise's precision 1.96e-3)
# with registered buffers, at 2 and 4 ranks.
# Usage: tools/a2a/trained_figures.sh BUILD_DIR OUT_DIR   (RUNS, default 3)
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
runs=${RUNS:-3}
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
cat "$root"/data/corpus/d64/s01464_fwd_*.f32 >"$out/d64_fwd_late.f32"
echo "commit $(git -C "$root" rev-parse --short HEAD); $(date -u +%FT%TZ); cores $(nproc);" \
  "load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/machine.txt"
run() {  # ranks mode bound buffers(reg|fifo)
  local user=()
  [ "$4" = reg ] && user=(--userbuf)
  echo "== $1 ranks, $2 $3, $4"
  "$build/tools/a2a/squeeze-a2a" --plugin "$build/plugin/libnccl-net-squeeze.so" --netns 1gbit \
    --ranks "$1" --channels 2 --size 4M --iters 5 --warmup 1 --runs "$runs" --payload file \
    --input "$out/d64_fwd_late.f32" --dtype f32 --mode "$2" --bound "$3" --idle-sleep-us 50 \
    "${user[@]}" --json "$out/a2a_$1r_$2_$3_$4.json" | tail -2
}
for n in 2 4; do
  run "$n" rel 1e-2 reg
  run "$n" rel 1e-2 fifo
  run "$n" local 1e-2 reg
  run "$n" local 1.96e-3 reg
done
