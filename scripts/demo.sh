#!/usr/bin/env bash
# Sets up, builds and runs the main demo: squeeze-bench on DLRM-like embedding payloads, our
# codec side by side with what a TorchRec user would use instead (FP16, BF16, INT8, FP8, MX4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target squeeze-bench
./build/tools/bench/squeeze-bench --generate dlrm --mode rel --bound 1e-2
