#include "plugin/classify/entropy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze::plugin {
namespace {

constexpr size_t kCalibrationBytes = 128 * 1024;  // one NCCL step
constexpr int kCalibrationReps = 7;

// Embedding-like rows of 64 values: roughly normal (a sum of four uniforms), each row with its
// own scale over three decades, from a fixed seed.
std::vector<float> calibration_values() {
  std::vector<float> v(kCalibrationBytes / sizeof(float));
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto uniform = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<double>(x >> 11) * 0x1.0p-53;
  };
  double scale = 1.0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 64 == 0) scale = std::pow(10.0, -3.0 * uniform());
    const double n = uniform() + uniform() + uniform() + uniform() - 2.0;
    v[i] = static_cast<float>(scale * n);
  }
  return v;
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

EntropyCost measure() {
  const std::vector<float> values = calibration_values();
  std::vector<uint8_t> frame(max_frame_bytes(kCalibrationBytes));
  std::vector<uint8_t> out(kCalibrationBytes);
  CodecParams with;
  with.dtype = DType::kF32;
  with.mode = BoundMode::kLocal;
  with.bound = kPluginDefaultBound;
  with.caps = kCapsAll & ~kCapHistory;
  CodecParams without = with;
  without.caps &= ~kCapRans;
  // Best of kCalibrationReps of (compress + decompress) of each, alternating.
  double best[2] = {INFINITY, INFINITY};
  for (int rep = 0; rep < kCalibrationReps; ++rep) {
    for (int k = 0; k < 2; ++k) {
      const CodecParams& p = k == 0 ? with : without;
      size_t frame_bytes = 0, out_bytes = 0;
      FrameStats stats;
      const auto t0 = std::chrono::steady_clock::now();
      if (compress(p, values.data(), kCalibrationBytes, frame.data(), frame.size(), &frame_bytes,
                   &stats) != Status::kOk ||
          decompress(frame.data(), frame_bytes, out.data(), out.size(), &out_bytes) !=
              Status::kOk ||
          (k == 0 && stats.coder != static_cast<uint8_t>(StagedCoder::kRans)))
        return EntropyCost{};
      best[k] = std::min(best[k], seconds(std::chrono::steady_clock::now() - t0));
    }
  }
  EntropyCost c;
  c.measured = true;
  c.ns_per_value = std::max(0.0, (best[0] - best[1]) * 1e9 / static_cast<double>(values.size()));
  return c;
}

}  // namespace

const EntropyCost& entropy_cost() {
  static const EntropyCost cost = measure();
  return cost;
}

uint32_t rans_min_gain_for(double ns_per_value, double link_bytes_per_s) {
  if (!(link_bytes_per_s > 0) || !(ns_per_value > 0)) return 0;
  const double q8 = std::ceil(link_bytes_per_s * 8.0 * ns_per_value * 1e-9 * 256.0);
  return q8 >= kRansGainNever ? kRansGainNever : static_cast<uint32_t>(q8);
}

uint32_t rans_min_gain(Settings::Entropy setting, double link_bytes_per_s) {
  switch (setting) {
    case Settings::Entropy::kOn:
      return 0;
    case Settings::Entropy::kOff:
      return kRansGainNever;
    case Settings::Entropy::kAuto:
      break;
  }
  if (!(link_bytes_per_s > 0)) return 0;
  const EntropyCost& c = entropy_cost();
  return c.measured ? rans_min_gain_for(c.ns_per_value, link_bytes_per_s) : 0;
}

std::string rans_gain_description(uint32_t min_gain_q8) {
  if (min_gain_q8 == 0) return "rANS whenever smaller";
  if (min_gain_q8 >= 2048) return "no rANS";
  char buf[64];
  std::snprintf(buf, sizeof buf, "rANS where it saves >= %.2f bits a value", min_gain_q8 / 256.0);
  return buf;
}

}  // namespace squeeze::plugin
