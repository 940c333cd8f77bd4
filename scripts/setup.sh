#!/usr/bin/env bash
# Installs what Squeeze needs to build and test on a fresh Debian 12 machine (as root or with
# sudo). Idempotent: packages already present are not fetched again.
set -euo pipefail
pkgs=(cmake ninja-build g++ clang clang-format libgtest-dev googletest libbenchmark-dev
      iperf3 iproute2 python3 python3-venv pkg-config nlohmann-json3-dev
      libtomlplusplus-dev libzstd-dev liblz4-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "squeeze setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "squeeze setup: CUDA toolkit found at /usr/local/cuda (GPU backend will be compiled)"
else
  echo "squeeze setup: no CUDA toolkit; building the CPU-only codec and plugin"
fi
