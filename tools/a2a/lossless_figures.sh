#!/usr/bin/env bash
# The squeeze-a2a figures of docs/PERFORMANCE.md "Lossless coding": integer payloads of the
# lossless corpus (data/lossless, scripts/make_lossless_corpus.sh) with the default policy
# (p2p integers "auto": lossless while the coder outruns the link).
#  (i)  one namespace per rank with 1 Gbit/s links (root), NCCL_SQUEEZE_LINK_MBPS=1000 (veth
#       reports no useful speed): passthrough vs compressed, 2 and 4 ranks, int64 ids and int32
#       lengths (the multi-hot KJT files concatenated), and the ids with the lossless method
#       forced (NCCL_SQUEEZE_POLICY=p2p.i64=lossless) beside them;
#  (ii) loopback, where the device's speed is unknown and the rule never compresses: the
#       compressed phase must cost nothing; and with NCCL_SQUEEZE_POLICY=p2p.i64=lossless, what
#       compressing anyway would cost there.
# Usage: tools/a2a/lossless_figures.sh BUILD_DIR OUT_DIR [i|ii ...]   (RUNS, default 5; REPEAT,
# invocations per case, default 3)
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
shift 2
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(i ii)
a2a=$build/tools/a2a/squeeze-a2a
runs=${RUNS:-5}
repeat=${REPEAT:-3}
root="$(cd "$(dirname "$0")/../.." && pwd)"
data=${DATA:-$root/data/lossless}
mkdir -p "$out"
cat "$data"/dlrm_multihot/*_values_*.i64 >"$out/ids.i64"
cat "$data"/dlrm_multihot/*_lengths_*.i32 >"$out/lengths.i32"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ids: $(stat -c %s "$out/ids.i64") bytes, lengths: $(stat -c %s "$out/lengths.i32") bytes"
} | tee "$out/machine.txt"
for w in "${which[@]}"; do
  case $w in
    i)
      for n in 2 4; do
        for kind in ids lengths; do
          if [ $kind = ids ]; then f=$out/ids.i64; t=int64; else f=$out/lengths.i32; t=int32; fi
          for k in $(seq "$repeat"); do
            NCCL_SQUEEZE_LINK_MBPS=1000 "$a2a" --netns 1gbit --ranks "$n" --channels 2 --size 4M \
              --iters 5 --warmup 1 --runs "$runs" --payload file --input "$f" --dtype $t \
              --idle-sleep-us 0 --json "$out/i_${n}r_${kind}_$k.json" | tail -2 |
              tee "$out/i_${n}r_${kind}_$k.txt"
          done
        done
        # What the rule spares: the int64 ids compressed whatever it says.
        for k in $(seq "$repeat"); do
          NCCL_SQUEEZE_POLICY=p2p.i64=lossless NCCL_SQUEEZE_LINK_MBPS=1000 "$a2a" --netns 1gbit \
            --ranks "$n" --channels 2 --size 4M --iters 5 --warmup 1 --runs "$runs" --payload file \
            --input "$out/ids.i64" --dtype int64 --idle-sleep-us 0 \
            --json "$out/i_${n}r_ids_forced_$k.json" | tail -1 | tee "$out/i_${n}r_ids_forced_$k.txt"
        done
      done
      ;;
    ii)
      for k in $(seq "$repeat"); do
        "$a2a" --ranks 2 --channels 2 --size 4M --iters 20 --warmup 2 --runs "$runs" \
          --payload file --input "$out/ids.i64" --dtype int64 --idle-sleep-us 0 \
          --json "$out/ii_auto_$k.json" | tail -2 | tee "$out/ii_auto_$k.txt"
        NCCL_SQUEEZE_POLICY=p2p.i64=lossless "$a2a" --ranks 2 --channels 2 --size 4M --iters 20 \
          --warmup 2 --runs "$runs" --payload file --input "$out/ids.i64" --dtype int64 \
          --idle-sleep-us 0 --json "$out/ii_forced_$k.json" | tail -2 |
          tee "$out/ii_forced_$k.txt"
      done
      ;;
    *)
      echo "unknown figure $w (i or ii)" >&2
      exit 2
      ;;
  esac
done
