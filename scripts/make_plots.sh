#!/usr/bin/env bash
# The README's figures (docs/img/), measured on this machine, then drawn by squeeze-plots:
#   ratio_vs_error.png       squeeze-bench on one generated DLRM payload (16 MiB, seed 1): Squeeze
#                            with --mode abs at 7 bounds, FP16 / BF16 / INT8 row-wise / FP8 / MX4
#                            on the same data;
#   speedup_vs_link_rate.png squeeze-a2a, 2 ranks, DLRM f32 payload, the plugin's default bound
#                            (local 1e-2), 2-8 MiB per peer, each rank in a network namespace
#                            whose link tc limits to 100 Mbit/s .. 10 Gbit/s (needs root;
#                            skipped otherwise).
# Usage: scripts/make_plots.sh [BUILD_DIR] [OUT_DIR]   (defaults: build, docs/img)
# Raw JSON is kept in OUT_DIR/data/. Needs the build's squeeze-bench and squeeze-a2a and
# matplotlib in the project's .venv (installed here through scripts/venv.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=${2:-$root/docs/img}
data=$out/data
mkdir -p "$data"
venv=$(bash "$root/scripts/venv.sh" matplotlib | tail -1)
bench=$build/tools/bench/squeeze-bench
a2a=$build/tools/a2a/squeeze-a2a

for b in 1e-4 3e-4 1e-3 3e-3 1e-2 3e-2 1e-1; do
  "$bench" --generate dlrm --size 16M --seed 1 --mode abs --bound "$b" --reps 1 \
    --json "$data/bench_abs_$b.json" >/dev/null
done
files=("$data"/bench_abs_*.json)
if [ "$(id -u)" = 0 ]; then
  for rate in 100mbit 300mbit 1gbit 3gbit 10gbit; do
    # Messages of 2 MiB and more per peer: squeeze-a2a sends the same payload every iteration,
    # and the plugin's stream history (a 1 MiB window) would turn smaller repeats into references.
    # The plugin is told the link's rate, as a NIC would report it (the veths report 10 Gbit/s
    # whatever tc allows): ENTROPY=auto and HISTORY=auto weigh their costs against it.
    case $rate in *mbit) mbps=${rate%mbit} ;; *gbit) mbps=$((${rate%gbit} * 1000)) ;; esac
    NCCL_SQUEEZE_LINK_MBPS=$mbps "$a2a" --ranks 2 --channels 1 -b 2M -e 8M -f 2 --payload dlrm --dtype f32 --mode local \
      --bound 1e-2 --iters 4 --warmup 1 --runs 3 --netns "$rate" \
      --json "$data/a2a_$rate.json" >"$data/a2a_$rate.txt"
  done
  files+=("$data"/a2a_*.json)
else
  echo "make_plots: not root, no network namespaces: speedup_vs_link_rate.png not redrawn" >&2
fi
"$venv/bin/python" "$root/tools/plots/squeeze-plots" -o "$out" "${files[@]}"
