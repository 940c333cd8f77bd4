#!/usr/bin/env bash
# A/B of Squeeze over an inner plugin between two builds, on loopback, passthrough: each round
# runs the inner plugin (libnccl-net-sqztcp.so) alone, then Squeeze of build A over it, then
# Squeeze of build B over it (interleaved, so a round's ratios see the same machine load), with
# the command of tools/a2a/inner_figures.sh (i). Prints the medians and the per-round ratios.
# Usage: tools/a2a/inner_ab.sh BUILD_A BUILD_B OUT_DIR [ROUNDS]   (default 31 rounds)
set -euo pipefail
a=${1:?build A}; b=${2:?build B}; out=${3:?output dir}; rounds=${4:-31}
a2a=$a/tools/a2a/squeeze-a2a
sqztcp=$(realpath "$a/plugin/libnccl-net-sqztcp.so")
mkdir -p "$out"
: >"$out/rounds.txt"
for r in $(seq "$rounds"); do
  line=""
  for v in sqztcp A B; do
    case $v in
      sqztcp) env_=(); plugin=$sqztcp ;;
      A) env_=(NCCL_SQUEEZE_TRANSPORT=inner "NCCL_SQUEEZE_INNER=$sqztcp"); plugin=$a/plugin/libnccl-net-squeeze.so ;;
      B) env_=(NCCL_SQUEEZE_TRANSPORT=inner "NCCL_SQUEEZE_INNER=$sqztcp"); plugin=$b/plugin/libnccl-net-squeeze.so ;;
    esac
    env "${env_[@]}" "$a2a" --plugin "$plugin" --pattern stream --ranks 2 --channels 1 --size 16M \
      --iters 20 --warmup 2 --runs 1 --phases passthrough --idle-sleep-us 0 \
      --json "$out/run.json" >/dev/null
    line="$line $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['algbw_GBps']*8)" "$out/run.json")"
  done
  echo "$line" >>"$out/rounds.txt"
done
python3 - "$out/rounds.txt" <<'PY'
import statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
print(f"rounds {len(rows)}; Gbit/s medians: sqztcp {st.median(r[0] for r in rows):.2f}, "
      f"A {st.median(r[1] for r in rows):.2f}, B {st.median(r[2] for r in rows):.2f}")
print(f"per-round ratio to sqztcp alone, median: A {st.median(r[1] / r[0] for r in rows):.3f}, "
      f"B {st.median(r[2] / r[0] for r in rows):.3f}")
PY
