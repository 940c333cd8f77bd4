// Writes a small seed corpus for fuzz_decode into the directory given as argv[1]: valid frames
// of every method and type (so the fuzzer starts from inputs that pass the header check) and a
// few plain float buffers.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "compress/quant.h"
#include "squeeze/codec.h"

namespace {

using namespace squeeze;

bool write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// v's f32 frame under p, written to dir/frame_<*count> (*count then advances).
bool write_frame(const std::string& dir, int* count, const CodecParams& p,
                 const std::vector<float>& v) {
  const size_t bytes = v.size() * 4;
  std::vector<uint8_t> frame(max_frame_bytes(bytes));
  size_t fb = 0;
  if (compress(p, v.data(), bytes, frame.data(), frame.size(), &fb) != Status::kOk) return false;
  frame.resize(fb);
  return write_file(dir + "/frame_" + std::to_string((*count)++), frame);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  int count = 0;
  for (int t = 0; t < 4; ++t)
    for (int mode = 0; mode < 3; ++mode)
      for (size_t n : {0, 5, 40, 200}) {
        std::vector<float> v(n);
        for (size_t i = 0; i < n; ++i) v[i] = std::sin(0.3f * (float)i) * (i % 17 ? 1.0f : 1e6f);
        if (n > 10) v[9] = NAN;
        const DType dt = (DType)t;
        const size_t es = dtype_size(dt);
        std::vector<uint8_t> src(n * (dt == DType::kBytes ? 4 : es) + (n % 3));
        for (size_t i = 0; i < n; ++i) {
          if (es == 2) {
            const uint16_t h =
                dt == DType::kF16 ? quant::float_to_half_rn(v[i]) : quant::float_to_bf16_rn(v[i]);
            src[2 * i] = (uint8_t)h;
            src[2 * i + 1] = (uint8_t)(h >> 8);
          } else {
            const uint32_t u = quant::float_to_bits(v[i]);
            for (int k = 0; k < 4; ++k) src[4 * i + k] = (uint8_t)(u >> (8 * k));
          }
        }
        CodecParams p;
        p.dtype = dt;
        p.mode = (BoundMode)mode;
        p.bound = 1e-2;
        std::vector<uint8_t> frame(max_frame_bytes(src.size()));
        size_t fb = 0;
        if (compress(p, src.data(), src.size(), frame.data(), frame.size(), &fb) != Status::kOk)
          return 1;
        frame.resize(fb);
        if (!write_file(dir + "/frame_" + std::to_string(count++), frame)) return 1;
        // the same data as a round-trip input: selector bytes, then the elements
        std::vector<uint8_t> rt = {(uint8_t)(t | (mode << 2)), (uint8_t)(mode ? 7 : 30)};
        std::vector<uint8_t> rt_v1 = rt;
        rt_v1[0] |= 3 << 4;  // a version 1 receiver
        rt.insert(rt.end(), src.begin(), src.end());
        if (!write_file(dir + "/data_" + std::to_string(count++), rt)) return 1;
        if (!write_file(dir + "/data_" + std::to_string(count++), rt_v1)) return 1;
      }
  // Repeated 64-value vectors (4 units), out of order so that each is a run of its own: frames
  // whose dedup records count steps of 4 units (kCapDedupStep), fixed records (modes 0-2) and
  // Exp-Golomb ones (kCapDedupGolomb; modes 3-5 repeat modes 0-2 after 40 distinct vectors, so
  // that a fixed record's gap would need 6 bits).
  for (int variant = 0; variant < 6; ++variant) {
    const int mode = variant % 3;
    constexpr int kVec = 64, kDistinct = 8;
    const int order[kDistinct] = {3, 0, 5, 1, 7, 2, 6, 4};
    const int lead = variant < 3 ? 0 : 40;  // distinct vectors before the repeats
    std::vector<float> v((2 * kDistinct + lead) * kVec);
    for (int i = 0; i < (kDistinct + lead) * kVec; ++i)
      v[i] = std::sin(0.7f * (float)i + (float)mode);
    for (int j = 0; j < kDistinct; ++j)
      for (int k = 0; k < kVec; ++k) v[(kDistinct + lead + j) * kVec + k] = v[order[j] * kVec + k];
    CodecParams p;
    p.dtype = DType::kF32;
    p.mode = (BoundMode)mode;
    p.bound = 1e-2;
    if (variant < 3) p.caps &= ~kCapDedupGolomb;
    if (!write_frame(dir, &count, p, v)) return 1;
  }
  // 20,000 coded values (more than one short rANS segment, at most one long one): frames of one
  // long segment (kCapRansLongSegments, rans::kLongSegmentFlag), rel and local.
  for (int mode = 1; mode < 3; ++mode) {
    std::vector<float> v(20000);
    for (size_t i = 0; i < v.size(); ++i) {
      const float s = std::sin(0.37f * (float)i) * std::cos(0.011f * (float)i);
      v[i] = s * s * s;  // peaked codes: the rANS stage pays
    }
    CodecParams p;
    p.dtype = DType::kF32;
    p.mode = (BoundMode)mode;
    p.bound = 1e-2;
    p.rans_min_gain = 0;
    if (!write_frame(dir, &count, p, v)) return 1;
  }
  // Local frames whose blocks span several octaves, with zero and constant blocks: packed records
  // (kCapPackedRecords, at the default bound and INT8's) and 3-byte ones.
  for (int variant = 0; variant < 4; ++variant) {
    std::vector<float> v(32 * 64 + 5);
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t b = i / 32;
      v[i] = b % 9 == 4   ? 0.0f
             : b % 9 == 7 ? 0.5f
                          : std::ldexp(std::sin(0.61f * (float)i), -(int)(b % 5));
    }
    CodecParams p;
    p.dtype = DType::kF32;
    p.mode = BoundMode::kLocal;
    p.bound = variant % 2 == 0 ? 1e-2 : kInt8MatchingLocalBound;
    if (variant >= 2) p.caps &= ~kCapPackedRecords;
    if (!write_frame(dir, &count, p, v)) return 1;
  }
  std::printf("wrote %d seeds to %s\n", count, dir.c_str());
  return 0;
}
