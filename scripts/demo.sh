#!/usr/bin/env bash
# Sets up, builds and runs the main demo: a 4-rank all-to-all of DLRM-like f32 embedding payloads
# over loopback through libnccl-net-squeeze.so, driven exactly as NCCL's proxy drives a net plugin
# (no GPU, no root). Passthrough and compressed run back to back; every received byte is checked.
# Then the codec alone beside what a TorchRec user would use instead (FP16, BF16, INT8, FP8, MX4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target nccl-net-squeeze squeeze-a2a squeeze-bench

echo "== 4-rank all-to-all through the plugin (loopback, dlrm f32, rel 1e-2) =="
NCCL_SQUEEZE_IFNAME=lo ./build/tools/a2a/squeeze-a2a --ranks 4 --channels 2 \
  --payload dlrm --dtype f32 --mode rel --bound 1e-2 -b 256K -e 4M -f 4 --iters 5 --warmup 1 \
  --plugin "$PWD/build/plugin/libnccl-net-squeeze.so"

echo
echo "== the codec beside TorchRec's alternatives, same data =="
./build/tools/bench/squeeze-bench --generate dlrm --size 16MiB --mode rel --bound 1e-2 --reps 3

cat <<'MSG'

In a real job, nothing changes in the model code; the environment turns Squeeze on:
  export LD_LIBRARY_PATH=$PWD/build/plugin:$LD_LIBRARY_PATH
  export NCCL_NET_PLUGIN=squeeze NCCL_NET=Squeeze
  export NCCL_SQUEEZE_MODE=rel NCCL_SQUEEZE_BOUND=1e-2
See README.md ("Turning it on in a job") and examples/torchrec/.
MSG
