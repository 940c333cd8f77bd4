// Helpers of the codec unit tests: the seed, element conversion, round trips and the bound
// check (in double, against the bound the test itself derives from the request).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "compress/block.h"
#include "compress/format/staged.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze::test {

// Seed of this test: SQUEEZE_TEST_SEED when set, else fresh. Printed so a failure can be rerun.
inline uint64_t test_seed() {
  uint64_t seed;
  if (const char* env = std::getenv("SQUEEZE_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = ((uint64_t)std::random_device{}() << 32) ^ std::random_device{}();
  }
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::printf("seed=%llu (%s.%s; rerun with SQUEEZE_TEST_SEED=%llu)\n", (unsigned long long)seed,
              info ? info->test_suite_name() : "?", info ? info->name() : "?",
              (unsigned long long)seed);
  return seed;
}

// memcmp that accepts empty ranges (whose pointers may be null).
inline bool same_bytes(const void* a, const void* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n) == 0;
}

// Element i of a buffer of dtype t, widened exactly to double.
inline double elem_value(DType t, const uint8_t* p, size_t i) {
  return block::element_at(t, p, i);
}

inline void store_elem(DType t, uint8_t* p, size_t i, float v) {
  if (t == DType::kF32) {
    std::memcpy(p + 4 * i, &v, 4);
    return;
  }
  const uint16_t h = t == DType::kF16 ? quant::float_to_half_rn(v) : quant::float_to_bf16_rn(v);
  std::memcpy(p + 2 * i, &h, 2);
}

// Bytes of values converted to dtype t (round to nearest even), plus `tail` extra bytes.
// kBytes gets the values' float32 bytes.
inline std::vector<uint8_t> to_bytes(DType t, const std::vector<float>& values, size_t tail = 0) {
  if (t == DType::kBytes) t = DType::kF32;
  const size_t es = dtype_size(t);
  std::vector<uint8_t> out(values.size() * es + tail);
  for (size_t i = 0; i < values.size(); ++i) store_elem(t, out.data(), i, values[i]);
  for (size_t k = 0; k < tail; ++k) out[values.size() * es + k] = (uint8_t)(0xa5 + 7 * k);
  return out;
}

// What the CUDA backend decodes: everything but references to a stream history.
constexpr uint32_t kGpuCaps = kCapsAll & ~kCapHistory;

// One chunk of a batched (GPU or CPU-runner) codec test: its parameters and bytes.
inline CodecParams gpu_params() {
  CodecParams p;
  p.mode = BoundMode::kRel;
  p.bound = 1e-2;
  p.caps = kGpuCaps;
  return p;
}

// A file of raw little-endian f32 values (the trained corpus), empty when it cannot be read.
inline std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// A staged local frame's code width W (its quant section's byte 1), 0 for other frames.
inline uint32_t local_code_width(const std::vector<uint8_t>& frame) {
  staged::Header h;
  if (staged::parse(frame.data(), frame.size(), &h) != staged::Reject::kNone ||
      h.quant != (uint8_t)StagedQuant::kLocal)
    return 0;
  return frame[staged::section_offset(h, StagedSection::kQuant) + 1];
}

struct TestChunk {
  CodecParams params = gpu_params();
  std::vector<uint8_t> bytes;
  size_t misalign = 0;  // the chunk starts this many bytes into its buffer
};

inline TestChunk make_chunk(DType t, BoundMode m, double bound, const std::vector<float>& v,
                            size_t tail = 0, size_t misalign = 0) {
  TestChunk c;
  c.params.dtype = t;
  c.params.mode = m;
  c.params.bound = bound;
  c.bytes = to_bytes(t, v, tail);
  c.misalign = misalign;
  return c;
}

// The frame-wide absolute bound of a global (abs or rel) request, derived independently from the
// request.
inline double requested_abs_bound(const CodecParams& p, const uint8_t* src, size_t n) {
  if (p.mode == BoundMode::kAbs) return p.bound;
  double mn = INFINITY, mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    const double x = elem_value(p.dtype, src, i);
    if (!std::isfinite(x)) continue;
    mn = std::min(mn, x);
    mx = std::max(mx, x);
  }
  return mn <= mx ? p.bound * (mx - mn) : 0.0;
}

// The absolute bound of every element: the frame's (abs, rel), or bound x the finite range of
// the element's own block of 32 (local).
inline std::vector<double> element_bounds(const CodecParams& p, const uint8_t* src, size_t n) {
  std::vector<double> eb(n);
  if (p.mode != BoundMode::kLocal) {
    const double frame_eb = requested_abs_bound(p, src, n);
    std::fill(eb.begin(), eb.end(), frame_eb);
    return eb;
  }
  for (size_t first = 0; first < n; first += kBlockElems) {
    const size_t last = std::min(n, first + kBlockElems);
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = first; i < last; ++i) {
      const double x = elem_value(p.dtype, src, i);
      if (!std::isfinite(x)) continue;
      mn = std::min(mn, x);
      mx = std::max(mx, x);
    }
    for (size_t i = first; i < last; ++i) eb[i] = mn <= mx ? p.bound * (mx - mn) : 0.0;
  }
  return eb;
}

struct RoundTrip {
  Status compress_status = Status::kOk;
  Status decompress_status = Status::kOk;
  std::vector<uint8_t> frame;  // exactly the frame's bytes
  std::vector<uint8_t> output;
  FrameStats stats;
};

// Compresses src into a buffer offset by dst_offset (to test unaligned output) that has
// exactly max_frame_bytes of capacity, guarded by canary bytes, then decompresses into an exact
// buffer offset by out_offset. Checks that neither call writes past what it may.
inline RoundTrip round_trip(const CodecParams& p, const uint8_t* src, size_t bytes,
                            size_t dst_offset = 0, size_t out_offset = 0) {
  RoundTrip r;
  const size_t cap = max_frame_bytes(bytes);
  constexpr size_t kGuard = 64;
  constexpr uint8_t kCanary = 0xcd;
  std::vector<uint8_t> dst(dst_offset + cap + kGuard, kCanary);
  size_t frame_bytes = 0;
  r.compress_status = compress(p, src, bytes, dst.data() + dst_offset, cap, &frame_bytes, &r.stats);
  if (r.compress_status != Status::kOk) return r;
  EXPECT_LE(frame_bytes, cap);
  for (size_t i = 0; i < dst_offset; ++i) EXPECT_EQ(dst[i], kCanary) << "byte before dst";
  for (size_t i = dst_offset + frame_bytes; i < dst.size(); ++i)
    EXPECT_EQ(dst[i], kCanary) << "compress wrote past the frame at offset " << i - dst_offset;
  r.frame.assign(dst.begin() + dst_offset, dst.begin() + dst_offset + frame_bytes);

  std::vector<uint8_t> out(out_offset + bytes + kGuard, kCanary);
  size_t out_bytes = 0;
  r.decompress_status =
      decompress(r.frame.data(), r.frame.size(), out.data() + out_offset, bytes, &out_bytes);
  if (r.decompress_status != Status::kOk) return r;
  EXPECT_EQ(out_bytes, bytes);
  for (size_t i = out_offset + bytes; i < out.size(); ++i)
    EXPECT_EQ(out[i], kCanary) << "decompress wrote past dst_capacity";
  r.output.assign(out.begin() + out_offset, out.begin() + out_offset + bytes);
  return r;
}

// Every property a successful round trip must have: frame size limit, exact tail, non-finite
// and raw data bit-exact, every finite element within the requested bound (checked in double).
inline void expect_valid_round_trip(const CodecParams& p, const uint8_t* src, size_t bytes,
                                    const RoundTrip& r) {
  ASSERT_EQ(r.compress_status, Status::kOk);
  ASSERT_EQ(r.decompress_status, Status::kOk);
  ASSERT_LE(r.frame.size(), bytes + kFrameHeaderBytes);
  ASSERT_EQ(r.output.size(), bytes);
  EXPECT_EQ(r.stats.frame_bytes, r.frame.size());
  EXPECT_EQ(r.stats.input_bytes, bytes);

  FrameInfo info;
  ASSERT_EQ(read_frame_info(r.frame.data(), r.frame.size(), &info), Status::kOk);
  EXPECT_EQ(info.original_bytes, bytes);
  EXPECT_EQ(info.frame_bytes, r.frame.size());
  EXPECT_EQ(info.method, r.stats.method);
  EXPECT_EQ(info.version, r.stats.version);
  if (info.version == kFrameVersion) {
    EXPECT_EQ(info.outliers, r.stats.outliers);
  }
  EXPECT_EQ(info.applied_bound, r.stats.applied_bound);
  // A frame uses only what the receiver decodes.
  if ((p.caps & kCapStaged) == 0) {
    EXPECT_EQ(info.version, kFrameVersion);
  }
  if (info.method == (uint8_t)FrameMethod::kStaged) {
    if ((p.caps & kCapRans) == 0) {
      EXPECT_EQ(info.coder, (uint8_t)StagedCoder::kFixed);
    }
    if ((p.caps & kCapDedup) == 0 && (p.caps & kCapHistory) == 0) {
      EXPECT_EQ(info.dedup, (uint8_t)StagedDedup::kNone);
    }
  }

  if (p.dtype == DType::kBytes || info.method == (uint8_t)FrameMethod::kRaw) {
    EXPECT_TRUE(bytes == 0 || std::memcmp(src, r.output.data(), bytes) == 0)
        << "raw frame not bit-exact";
    EXPECT_EQ(r.frame.size(), bytes + kFrameHeaderBytes);
    return;
  }
  ASSERT_TRUE(info.method == (uint8_t)FrameMethod::kBlockFixed ||
              info.method == (uint8_t)FrameMethod::kStaged);
  const size_t es = dtype_size(p.dtype);
  const size_t n = bytes / es;
  const std::vector<double> eb = element_bounds(p, src, n);
  if (p.mode == BoundMode::kLocal) {
    EXPECT_EQ(info.applied_bound, p.bound) << "a local frame records the relative bound";
  } else {
    EXPECT_EQ(info.applied_bound, requested_abs_bound(p, src, n))
        << "applied bound differs from the requested one";
  }
  size_t failures = 0;
  for (size_t i = 0; i < n && failures < 10; ++i) {
    const double x = elem_value(p.dtype, src, i);
    const double y = elem_value(p.dtype, r.output.data(), i);
    if (!std::isfinite(x) || eb[i] == 0.0) {
      // Non-finite elements, and elements whose bound is 0 (a constant local block), are exact.
      if (std::memcmp(src + i * es, r.output.data() + i * es, es) != 0) {
        ++failures;
        ADD_FAILURE() << "element " << i << " (non-finite or zero bound) not bit-exact";
      }
      continue;
    }
    if (!(std::fabs(x - y) <= eb[i])) {
      ++failures;
      ADD_FAILURE() << dtype_name(p.dtype) << " element " << i << ": x=" << x << " y=" << y
                    << " |x-y|=" << std::fabs(x - y) << " > eb=" << eb[i];
    }
  }
  EXPECT_EQ(std::memcmp(src + n * es, r.output.data() + n * es, bytes - n * es), 0)
      << "tail bytes differ";
}

}  // namespace squeeze::test
