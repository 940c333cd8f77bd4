#!/usr/bin/env bash
# The "Plugin all-to-all" figures of docs/PERFORMANCE.md, each a median of --runs repetitions:
#  (a) passthrough over loopback, squeeze-a2a --pattern stream vs iperf3 with -P = the plugin's
#      data sockets, measured in the same invocation;
#  (b) compressed vs passthrough all-to-all, 2 and 4 ranks, namespaces with 1 Gbit/s links (root),
#      FIFO pool and registered user buffers;
#  (c) compressed vs passthrough on loopback (the cost when the network is not the bottleneck).
# Usage: tools/a2a/figures.sh BUILD_DIR OUT_DIR [a|b|c ...]   (default: all three)
# Extra environment for the plugin (e.g. NCCL_SQUEEZE_THREADS) is passed through and recorded.
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
shift 2
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(a b c)
a2a=$build/tools/a2a/squeeze-a2a
plugin=$build/plugin/libnccl-net-squeeze.so
runs=${RUNS:-3}
sockets=${NCCL_SQUEEZE_SOCKETS:-4}
# The proxy loop's idle behaviour: 0 spins with sched_yield like NCCL's proxy thread; N sleeps N us
# after 16 idle passes (leaves the cores to helper threads with NCCL_SQUEEZE_THREADS > 0).
idle=${IDLE_SLEEP_US:-0}
mkdir -p "$out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "env: $(env | grep '^NCCL_SQUEEZE_' | tr '\n' ' ')"
  echo "idle sleep (us): $idle"
} | tee "$out/machine.txt"

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

for w in "${which[@]}"; do
  case $w in
    a)
      # Interleaved rounds (iperf3, then the plugin) so that both see the same machine load.
      echo "== (a) loopback stream: squeeze-a2a passthrough vs iperf3 -P $sockets"
      port=$((20000 + RANDOM % 20000))
      : >"$out/a_iperf3_gbps.txt"
      : >"$out/a_userbuf_gbps.txt"
      : >"$out/a_fifo_gbps.txt"
      for i in $(seq "$runs"); do
        iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
        srv=$!
        sleep 0.3
        iperf3 -c 127.0.0.1 -p "$port" -P "$sockets" -t 4 -J >"$out/a_iperf3_$i.json"
        wait "$srv" || true
        python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second']/1e9)" \
          "$out/a_iperf3_$i.json" >>"$out/a_iperf3_gbps.txt"
        for mode in userbuf fifo; do
          extra=()
          [ "$mode" = userbuf ] && extra=(--userbuf)
          "$a2a" --plugin "$plugin" --pattern stream --ranks 2 --channels 1 --size 16M --iters 20 \
            --warmup 2 --runs 1 --phases passthrough --idle-sleep-us "$idle" "${extra[@]}" \
            --json "$out/a_${mode}_$i.json" >"$out/a_${mode}_$i.txt"
          python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['algbw_GBps']*8)" \
            "$out/a_${mode}_$i.json" >>"$out/a_${mode}_gbps.txt"
        done
      done
      for f in iperf3 userbuf fifo; do
        echo "$f Gbit/s: $(tr '\n' ' ' <"$out/a_${f}_gbps.txt") median $(median <"$out/a_${f}_gbps.txt")"
      done | tee "$out/a_summary.txt"
      ;;
    b)
      echo "== (b) namespaces, 1 Gbit/s links, dlrm f32 rel 1e-2"
      # Both buffer modes: NCCL's FIFO pool (the harness's CPU also does the copies that the GPU
      # does in a real job) and registered user buffers (no such copies).
      for n in 2 4; do
        for mode in fifo userbuf; do
          extra=()
          [ "$mode" = userbuf ] && extra=(--userbuf)
          "$a2a" --plugin "$plugin" --netns 1gbit --ranks "$n" --channels 2 --size 4M --iters 5 \
            --warmup 1 --runs "$runs" --payload dlrm --dtype f32 --mode rel --bound 1e-2 \
            --idle-sleep-us "$idle" "${extra[@]}" --json "$out/b_netns_${n}r_${mode}.json" |
            tee "$out/b_netns_${n}r_${mode}.txt"
        done
      done
      ;;
    c)
      echo "== (c) loopback, dlrm f32 rel 1e-2"
      for n in 2 4; do
        "$a2a" --plugin "$plugin" --ranks "$n" --channels 2 -b 64K -e 4M -f 4 --iters 10 \
          --warmup 2 --runs "$runs" --payload dlrm --dtype f32 --mode rel --bound 1e-2 \
          --idle-sleep-us "$idle" --json "$out/c_loopback_${n}r.json" | tee "$out/c_loopback_${n}r.txt"
      done
      ;;
    *)
      echo "unknown figure $w" >&2
      exit 2
      ;;
  esac
done
