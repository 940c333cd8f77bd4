// codec-speed: single-threaded throughput of the CPU codec against memcpy measured in the same
// run, on a buffer far larger than the caches. A throwaway-grade measuring tool for the codec
// work; the project's benchmark is squeeze-bench.
//
//   codec-speed [MiB=64] [dtype=f32|f16|bf16] [mode=rel|abs] [bound=1e-2] [reps=5] [backend]
//
// Data: a smooth signal plus gaussian noise (embedding-like magnitudes), fixed seed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compress/cpu/kernels.h"
#include "compress/quant.h"
#include "squeeze/codec.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <typename F>
double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace squeeze;
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  const std::string type = argc > 2 ? argv[2] : "f32";
  const std::string mode = argc > 3 ? argv[3] : "rel";
  const double bound = argc > 4 ? std::strtod(argv[4], nullptr) : 1e-2;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 5;
  if (argc > 6 && !cpu::select_backend(argv[6])) {
    std::fprintf(stderr, "backend %s not available\n", argv[6]);
    return 2;
  }
  CodecParams params;
  params.dtype = type == "f16" ? DType::kF16 : type == "bf16" ? DType::kBF16 : DType::kF32;
  params.mode = mode == "abs" ? BoundMode::kAbs : BoundMode::kRel;
  params.bound = bound;

  const size_t bytes = mib << 20;
  const size_t es = dtype_size(params.dtype);
  const size_t n = bytes / es;
  std::vector<uint8_t> src(bytes), frame(max_frame_bytes(bytes)), out(bytes), copy(bytes);
  std::mt19937_64 rng(12345);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (size_t i = 0; i < n; ++i) {
    const float v = 0.5f * std::sin((float)(i % 4096) * 0.01f) + noise(rng);
    if (es == 4) {
      std::memcpy(&src[i * 4], &v, 4);
    } else {
      const uint16_t h =
          params.dtype == DType::kF16 ? quant::float_to_half_rn(v) : quant::float_to_bf16_rn(v);
      std::memcpy(&src[i * 2], &h, 2);
    }
  }
  std::memset(frame.data(), 0, frame.size());
  std::memset(out.data(), 0, out.size());
  std::memset(copy.data(), 0, copy.size());

  size_t frame_bytes = 0, out_bytes = 0;
  FrameStats stats;
  Status s = Status::kOk;
  const double t_memcpy = best_of(reps, [&] { std::memcpy(copy.data(), src.data(), bytes); });
  const double t_comp = best_of(reps, [&] {
    s = compress(params, src.data(), bytes, frame.data(), frame.size(), &frame_bytes, &stats);
  });
  if (s != Status::kOk) {
    std::fprintf(stderr, "compress: %s\n", status_string(s));
    return 1;
  }
  const double t_decomp = best_of(
      reps, [&] { s = decompress(frame.data(), frame_bytes, out.data(), out.size(), &out_bytes); });
  if (s != Status::kOk || out_bytes != bytes) {
    std::fprintf(stderr, "decompress: %s\n", status_string(s));
    return 1;
  }
  const double gb = (double)bytes / 1e9;
  std::printf(
      "backend=%s dtype=%s mode=%s bound=%g size=%zuMiB method=%u ratio=%.3f outliers=%llu\n"
      "memcpy     %7.2f GB/s\n"
      "compress   %7.2f GB/s  (%.2fx memcpy)\n"
      "decompress %7.2f GB/s  (%.2fx memcpy)\n",
      cpu_backend_name(), type.c_str(), mode.c_str(), bound, mib, stats.method,
      (double)bytes / (double)frame_bytes, (unsigned long long)stats.outliers, gb / t_memcpy,
      gb / t_comp, t_memcpy / t_comp, gb / t_decomp, t_memcpy / t_decomp);
  return 0;
}
