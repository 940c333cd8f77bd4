#!/usr/bin/env bash
# Sets up, builds and runs every test: the main build (warnings as errors, CUDA compiled when
# nvcc is present), the packaging test (the wheel in a fresh venv), the suite again under ASan +
# UBSan, and a bounded fuzzing run of the decoder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Python tests (ctest python_codec, python_cli) need numpy, pytest and matplotlib, the
# packaging test scikit-build-core: the project's environment (.venv, from PyPI; torch stays out
# of the default path).
bash scripts/venv.sh numpy pytest matplotlib scikit-build-core >/dev/null
jobs=$(nproc)

echo "== format (clang-format, .clang-format at the root) =="
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z '*.cc' '*.h' '*.inc' '*.cu' '*.c' | xargs -0 clang-format --dry-run --Werror
  echo "format: clean"
fi

echo "== build (warnings as errors) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQUEEZE_WERROR=ON
cmake --build build -j"$jobs"
echo "== tests =="
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

echo "== packaging: the wheel (pip install . in a fresh venv, python -m squeeze env / check) =="
bash scripts/test_packaging.sh

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSQUEEZE_WERROR=ON \
  -DSQUEEZE_SANITIZE=address,undefined -DSQUEEZE_CUDA=OFF -DSQUEEZE_BUILD_BENCH=ON
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900 -LE nosan

if command -v clang++ >/dev/null; then
  echo "== fuzzing (bounded): the decoder, the receive path, the GPU kernels through the CPU runner =="
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_COMPILER=clang -DSQUEEZE_CUDA=OFF -DSQUEEZE_BUILD_BENCH=OFF -DSQUEEZE_FUZZ=ON
  cmake --build build-fuzz -j"$jobs" --target fuzz_decode fuzz_receive fuzz_runner
  ctest --test-dir build-fuzz --output-on-failure -L fuzz
else
  echo "== fuzzing skipped: clang++ not found =="
fi
