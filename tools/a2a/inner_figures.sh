#!/usr/bin/env bash
# The "Squeeze over an inner net plugin" figures of docs/PERFORMANCE.md, with the project's own
# TCP transport built as a standalone net plugin (libnccl-net-sqztcp.so) as the inner plugin:
#  (i)  passthrough on loopback, squeeze-a2a --pattern stream: sqztcp alone, Squeeze over sqztcp
#       (NCCL_SQUEEZE_TRANSPORT=inner), and Squeeze with its own TCP transport, interleaved
#       rounds, medians;
#  (ii) passthrough vs compressed all-to-all, one namespace per rank with 1 Gbit/s links (root),
#       Squeeze's own TCP transport vs Squeeze over sqztcp, 2 ranks (and 4 with RANKS="2 4").
# Usage: tools/a2a/inner_figures.sh BUILD_DIR OUT_DIR [i|ii ...]   (default: both)
# MODE and BOUND (default rel 1e-2, as figures.sh (b)) set the error bound of (ii).
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
shift 2
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(i ii)
a2a=$build/tools/a2a/squeeze-a2a
squeeze=$(realpath "$build/plugin/libnccl-net-squeeze.so")
sqztcp=$(realpath "$build/plugin/libnccl-net-sqztcp.so")
runs=${RUNS:-5}
mode=${MODE:-rel}
bound=${BOUND:-1e-2}
ranks=${RANKS:-2}
mkdir -p "$out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "env: $(env | grep '^NCCL_SQUEEZE_' | tr '\n' ' ')"
} | tee "$out/machine.txt"

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
gbps() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['algbw_GBps']*8)" "$1"; }

for w in "${which[@]}"; do
  case $w in
    i)
      echo "== (i) loopback stream, passthrough, 16 MiB messages"
      for v in sqztcp inner tcp; do : >"$out/i_${v}_gbps.txt"; done
      for r in $(seq "$runs"); do
        for v in sqztcp inner tcp; do
          case $v in
            sqztcp) env_=(); plugin=$sqztcp ;;
            inner) env_=(NCCL_SQUEEZE_TRANSPORT=inner "NCCL_SQUEEZE_INNER=$sqztcp"); plugin=$squeeze ;;
            tcp) env_=(); plugin=$squeeze ;;
          esac
          env "${env_[@]}" "$a2a" --plugin "$plugin" --pattern stream --ranks 2 --channels 1 \
            --size 16M --iters 20 --warmup 2 --runs 1 --phases passthrough --idle-sleep-us 0 \
            --json "$out/i_${v}_$r.json" >"$out/i_${v}_$r.txt"
          gbps "$out/i_${v}_$r.json" >>"$out/i_${v}_gbps.txt"
        done
      done
      for v in sqztcp inner tcp; do
        echo "$v Gbit/s: $(tr '\n' ' ' <"$out/i_${v}_gbps.txt") median $(median <"$out/i_${v}_gbps.txt")"
      done | tee "$out/i_summary.txt"
      # Rounds interleave the variants, so a round's ratio sees the same machine load.
      for v in inner tcp; do
        echo "$v / sqztcp per round: median $(paste "$out/i_${v}_gbps.txt" "$out/i_sqztcp_gbps.txt" |
          awk '{print $1 / $2}' | median)"
      done | tee -a "$out/i_summary.txt"
      ;;
    ii)
      echo "== (ii) namespaces, 1 Gbit/s links, dlrm f32 $mode $bound, 4 MiB per rank pair"
      for n in $ranks; do
        for v in tcp inner; do
          env_=()
          [ "$v" = inner ] && env_=(NCCL_SQUEEZE_TRANSPORT=inner "NCCL_SQUEEZE_INNER=$sqztcp")
          env "${env_[@]}" "$a2a" --plugin "$squeeze" --netns 1gbit --ranks "$n" --channels 2 \
            --size 4M --iters 5 --warmup 1 --runs "$runs" --payload dlrm --dtype f32 --mode "$mode" \
            --bound "$bound" --idle-sleep-us 0 --json "$out/ii_${n}r_${v}.json" |
            tee "$out/ii_${n}r_${v}.txt"
        done
      done
      ;;
    *)
      echo "unknown figure $w (i or ii)" >&2
      exit 2
      ;;
  esac
done
