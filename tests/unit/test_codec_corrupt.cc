// The decoder against hostile frames: every header bit flipped, every truncation, random payload
// damage, and hand-built frames that break one rule each. Also frames built by hand from the
// format description, decoded to known values (the format, not just the encoder, is tested).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "codec_test_util.h"
#include "compress/block.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze::test {
namespace {

using block::FrameHeader;

std::vector<uint8_t> compressed(DType t, BoundMode m, double bound, const std::vector<float>& v,
                                size_t tail = 0, uint32_t caps = kCapV1) {
  const std::vector<uint8_t> src = to_bytes(t, v, tail);
  CodecParams p;
  p.dtype = t;
  p.mode = m;
  p.bound = bound;
  p.caps = caps;
  std::vector<uint8_t> dst(max_frame_bytes(src.size()));
  size_t fb = 0;
  EXPECT_EQ(compress(p, src.data(), src.size(), dst.data(), dst.size(), &fb), Status::kOk);
  dst.resize(fb);
  return dst;
}

// A few frames of every kind: block-fixed with outliers and tail, f16, bf16, raw, empty.
std::vector<std::vector<uint8_t>> sample_frames() {
  std::vector<float> v(100);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1f * (float)i);
  v[7] = std::numeric_limits<float>::quiet_NaN();
  v[50] = 1e30f;
  std::vector<std::vector<uint8_t>> frames;
  frames.push_back(compressed(DType::kF32, BoundMode::kAbs, 1e-3, v, 3));
  frames.push_back(compressed(DType::kF16, BoundMode::kRel, 1e-2, v, 1));
  frames.push_back(compressed(DType::kBF16, BoundMode::kRel, 1e-2, v));
  frames.push_back(compressed(DType::kBytes, BoundMode::kRel, 1e-2, v));
  frames.push_back(compressed(DType::kF32, BoundMode::kAbs, 1e-3, {}));
  EXPECT_EQ(frames[0][hdr::kMethod], (uint8_t)FrameMethod::kBlockFixed);
  EXPECT_EQ(frames[1][hdr::kMethod], (uint8_t)FrameMethod::kBlockFixed);
  EXPECT_EQ(frames[2][hdr::kMethod], (uint8_t)FrameMethod::kBlockFixed);
  EXPECT_EQ(frames[3][hdr::kMethod], (uint8_t)FrameMethod::kRaw);
  // Version 2: every quantizer and coder, with deduplication (repeated 64-element vectors).
  std::vector<float> rows(2048);
  for (size_t i = 0; i < rows.size(); ++i)
    rows[i] = (float)((i % 64) * 7 % 13) * 0.01f * (1.0f + (float)((i / 64) % 3));
  rows[100] = std::numeric_limits<float>::infinity();
  for (size_t k = 1600; k < 1664; ++k) rows[k] = 0.0f;  // zero blocks
  for (BoundMode m : {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal})
    for (uint32_t caps : {kCapsAll, (uint32_t)(kCapV1 | kCapStaged)}) {
      frames.push_back(
          compressed(DType::kF32, m, m == BoundMode::kAbs ? 1e-3 : 1e-2, rows, 2, caps));
      EXPECT_EQ(frames.back()[hdr::kMethod], (uint8_t)FrameMethod::kStaged);
    }
  frames.push_back(compressed(DType::kBF16, BoundMode::kLocal, 1.96e-3, rows, 1, kCapsAll));
  frames.push_back(compressed(DType::kF16, BoundMode::kLocal, 1e-1, v, 0, kCapsAll));
  frames.push_back(compressed(DType::kBytes, BoundMode::kLocal, 1e-2, v, 0, kCapsAll));
  return frames;
}

// Bytes of a frame that only the header checks protect: the header, and for version 2 the
// section directory.
size_t protected_bytes(const std::vector<uint8_t>& frame) {
  return frame[hdr::kVersion] == kFrameVersion2 && frame[hdr::kMethod] != 0
             ? kFrameHeaderBytes + kStagedDirectoryBytes
             : kFrameHeaderBytes;
}

// Decodes into an exact-capacity buffer guarded by canaries; returns the status.
Status guarded_decode(const std::vector<uint8_t>& frame, size_t capacity) {
  constexpr uint8_t kCanary = 0x3c;
  std::vector<uint8_t> out(capacity + 64, kCanary);
  size_t ob = 0;
  const Status s = decompress(frame.data(), frame.size(), out.data(), capacity, &ob);
  for (size_t i = capacity; i < out.size(); ++i)
    EXPECT_EQ(out[i], kCanary) << "write past dst_capacity";
  if (s == Status::kOk) {
    EXPECT_LE(ob, capacity);
  }
  FrameInfo info;
  const Status si = read_frame_info(frame.data(), frame.size(), &info);
  // the header check never passes a frame the decoder then calls broken at header level
  if (s == Status::kOk) {
    EXPECT_EQ(si, Status::kOk);
  }
  return s;
}

TEST(CodecCorrupt, EveryHeaderBitFlipIsRejected) {
  for (const auto& frame : sample_frames()) {
    for (size_t byte = 0; byte < protected_bytes(frame); ++byte)
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> f = frame;
        f[byte] ^= (uint8_t)(1u << bit);
        EXPECT_NE(guarded_decode(f, 1 << 12), Status::kOk) << "byte " << byte << " bit " << bit;
        FrameInfo info;
        EXPECT_NE(read_frame_info(f.data(), f.size(), &info), Status::kOk);
      }
    for (size_t byte = 0; byte < protected_bytes(frame); ++byte) {
      std::vector<uint8_t> f = frame;
      f[byte] ^= 0xff;
      EXPECT_NE(guarded_decode(f, 1 << 12), Status::kOk) << "byte " << byte;
    }
  }
}

TEST(CodecCorrupt, EveryTruncationAndExtensionIsRejected) {
  for (const auto& frame : sample_frames()) {
    for (size_t len = 0; len < frame.size(); ++len) {
      std::vector<uint8_t> f(frame.begin(), frame.begin() + len);
      EXPECT_EQ(guarded_decode(f, 1 << 12), Status::kTruncatedFrame) << "prefix " << len;
    }
    std::vector<uint8_t> longer = frame;
    longer.push_back(0);
    EXPECT_EQ(guarded_decode(longer, 1 << 12), Status::kCorruptFrame);
  }
}

TEST(CodecCorrupt, RandomPayloadDamageNeverEscapes) {
  std::mt19937_64 rng(test_seed());
  const auto frames = sample_frames();
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> f = frames[rng() % frames.size()];
    const size_t first = protected_bytes(f);
    if (f.size() <= first) continue;
    const int flips = 1 + (int)(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = first + rng() % (f.size() - first);
      f[at] ^= (uint8_t)(1u << (rng() % 8));
    }
    FrameInfo info;
    ASSERT_EQ(read_frame_info(f.data(), f.size(), &info), Status::kOk);
    const Status s = guarded_decode(f, info.original_bytes);
    if (s != Status::kOk) {
      EXPECT_EQ(s, Status::kCorruptFrame);
    }
  }
}

// ---- hand-built frames ----

struct Crafted {
  FrameHeader h;
  std::vector<uint8_t> payload;
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> f(kFrameHeaderBytes + payload.size());
    FrameHeader hh = h;
    if (hh.frame_bytes == 0) hh.frame_bytes = f.size();
    block::write_header(hh, f.data());
    std::copy(payload.begin(), payload.end(), f.begin() + kFrameHeaderBytes);
    return f;
  }
};

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int k = 0; k < 4; ++k) v.push_back((uint8_t)(x >> (8 * k)));
}

// 33 f32 elements plus 2 tail bytes, step 0.5:
//   block 0: width 2, codes i % 4 (zigzag 0,1,2,3 -> q 0,-1,1,-2 -> 0,-0.5,0.5,-1)
//   block 1: width 1, code 1 for its one element (q -1 -> -0.5)
//   one outlier: element 5 = 7.25 exactly; tail 0xab 0xcd.
Crafted reference_frame() {
  Crafted c;
  c.h.method = (uint8_t)FrameMethod::kBlockFixed;
  c.h.dtype = (uint8_t)DType::kF32;
  c.h.original_bytes = 33 * 4 + 2;
  c.h.step = 0.5f;
  c.h.applied_bound = 0.25;
  c.h.outlier_count = 1;
  c.payload = {2, 1};
  uint32_t plane0 = 0, plane1 = 0;
  for (uint32_t i = 0; i < 32; ++i) {
    plane0 |= ((i % 4) & 1u) << i;
    plane1 |= (((i % 4) >> 1) & 1u) << i;
  }
  put32(c.payload, plane0);
  put32(c.payload, plane1);
  put32(c.payload, 1);  // block 1, plane 0: element 32 has code 1
  put32(c.payload, 5);  // outlier index
  const float v = 7.25f;
  uint32_t vb;
  std::memcpy(&vb, &v, 4);
  put32(c.payload, vb);
  c.payload.push_back(0xab);
  c.payload.push_back(0xcd);
  return c;
}

TEST(CodecFormat, HandBuiltFrameDecodesAsSpecified) {
  const std::vector<uint8_t> f = reference_frame().bytes();
  std::vector<uint8_t> out(33 * 4 + 2);
  size_t ob = 0;
  ASSERT_EQ(decompress(f.data(), f.size(), out.data(), out.size(), &ob), Status::kOk);
  ASSERT_EQ(ob, out.size());
  const float q_vals[4] = {0.0f, -0.5f, 0.5f, -1.0f};
  for (int i = 0; i < 32; ++i) {
    float y;
    std::memcpy(&y, &out[4 * i], 4);
    EXPECT_EQ(y, i == 5 ? 7.25f : q_vals[i % 4]) << i;
  }
  float last;
  std::memcpy(&last, &out[4 * 32], 4);
  EXPECT_EQ(last, -0.5f);
  EXPECT_EQ(out[132], 0xab);
  EXPECT_EQ(out[133], 0xcd);
}

TEST(CodecFormat, EncoderWritesTheSpecifiedBytes) {
  // x = 0, 0.5, -0.5, 1 with abs bound 0.25: step 0.5, q = 0, 1, -1, 2, zigzag 0, 2, 1, 4,
  // width 3, planes: bit 0 -> element 2, bit 1 -> element 1, bit 2 -> element 3.
  const std::vector<uint8_t> f =
      compressed(DType::kF32, BoundMode::kAbs, 0.25, {0, 0.5f, -0.5f, 1});
  ASSERT_EQ(f.size(), kFrameHeaderBytes + 1 + 12);
  EXPECT_EQ(std::memcmp(f.data(), "SQZF", 4), 0);
  EXPECT_EQ(f[hdr::kVersion], 1);
  EXPECT_EQ(f[hdr::kMethod], (uint8_t)FrameMethod::kBlockFixed);
  EXPECT_EQ(f[hdr::kDType], (uint8_t)DType::kF32);
  EXPECT_EQ(f[hdr::kFlags], 0);
  EXPECT_EQ(block::load_le64(&f[hdr::kOriginalBytes]), 16u);
  EXPECT_EQ(block::load_le64(&f[hdr::kFrameBytes]), f.size());
  EXPECT_EQ(quant::bits_to_float(block::load_le32(&f[hdr::kStep])), 0.5f);
  EXPECT_EQ(block::load_le32(&f[hdr::kOutlierCount]), 0u);
  EXPECT_EQ(block::bits_to_double(block::load_le64(&f[hdr::kAppliedBound])), 0.25);
  EXPECT_EQ(block::load_le16(&f[hdr::kBlockElems]), 32u);
  EXPECT_EQ(block::load_le16(&f[hdr::kReserved]), 0u);
  EXPECT_EQ(block::load_le32(&f[hdr::kHeaderCheck]), block::fnv1a32(f.data(), 44));
  const uint8_t payload[] = {3, 4, 0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0};
  EXPECT_EQ(std::memcmp(&f[kFrameHeaderBytes], payload, sizeof(payload)), 0);
}

template <typename Mutate>
void expect_rejected(Status want, Mutate&& mutate, const char* what) {
  Crafted c = reference_frame();
  mutate(c);
  const std::vector<uint8_t> f = c.bytes();
  EXPECT_EQ(guarded_decode(f, 1 << 12), want) << what;
}

TEST(CodecFormat, EachRuleIsEnforced) {
  using S = Status;
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.payload[0] = 25; }, "width 25");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.payload[0] = 0x22; }, "coding bits");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.payload[0] = 3; }, "widths vs size");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.payload[1] = 0; }, "widths vs size 2");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.payload[14] = 33; }, "outlier index >= n");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.outlier_count = 2; }, "count vs size");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.outlier_count = 40; }, "count > n");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.step = 0.0f; }, "step 0");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.step = -0.5f; }, "step < 0");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.step = NAN; }, "step NaN");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.step = INFINITY; }, "step Inf");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.step = 1e-40f; }, "step subnormal");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.applied_bound = 0; }, "bound 0");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.applied_bound = NAN; }, "bound NaN");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.dtype = 0; }, "lossy bytes");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.dtype = 4; }, "dtype 4");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.flags = 2; }, "flags");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.block_elems = 64; }, "block 64");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.original_bytes = 0; }, "n 0");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.original_bytes += 4 * 32; }, "n vs size");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.original_bytes = 1ull << 62; }, "huge n");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.original_bytes = ~0ull; }, "n max");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.original_bytes = 4ull << 32; }, "n > 2^32");
  expect_rejected(
      S::kCorruptFrame, [](Crafted& c) { c.h.frame_bytes = 10; }, "frame < given");
  expect_rejected(
      S::kTruncatedFrame, [](Crafted& c) { c.h.frame_bytes = 1000; }, "frame > given");
  expect_rejected(
      S::kUnsupportedFrame, [](Crafted& c) { c.h.method = 2; }, "method 2");
  expect_rejected(
      S::kUnsupportedFrame, [](Crafted& c) { c.h.method = 3; }, "method 3");
  expect_rejected(
      S::kUnsupportedFrame, [](Crafted& c) { c.h.method = 255; }, "method 255");
  // raw frames
  auto raw = [](Crafted& c) {
    c.h.method = (uint8_t)FrameMethod::kRaw;
    c.h.step = 0;
    c.h.applied_bound = 0;
    c.h.outlier_count = 0;
    c.h.original_bytes = c.payload.size();
  };
  expect_rejected(S::kOk, raw, "valid raw");
  expect_rejected(
      S::kCorruptFrame,
      [&](Crafted& c) {
        raw(c);
        c.h.step = 1;
      },
      "raw step");
  expect_rejected(
      S::kCorruptFrame,
      [&](Crafted& c) {
        raw(c);
        c.h.outlier_count = 1;
      },
      "raw outliers");
  expect_rejected(
      S::kCorruptFrame,
      [&](Crafted& c) {
        raw(c);
        c.h.applied_bound = 1;
      },
      "raw bound");
  expect_rejected(
      S::kCorruptFrame,
      [&](Crafted& c) {
        raw(c);
        c.h.original_bytes -= 1;
      },
      "raw size");
  // byte-level header fields write_header does not expose
  std::vector<uint8_t> f = reference_frame().bytes();
  auto resealed = [](std::vector<uint8_t> g) {
    block::store_le32(&g[hdr::kHeaderCheck], block::fnv1a32(g.data(), 44));
    return g;
  };
  std::vector<uint8_t> g = f;
  g[hdr::kVersion] = 2;
  EXPECT_EQ(guarded_decode(resealed(g), 4096), S::kUnsupportedFrame);
  g = f;
  g[0] = 'X';
  EXPECT_EQ(guarded_decode(resealed(g), 4096), S::kUnsupportedFrame);
  g = f;
  g[hdr::kReserved] = 1;
  EXPECT_EQ(guarded_decode(resealed(g), 4096), S::kCorruptFrame);
  EXPECT_EQ(guarded_decode(f, 4096), S::kOk);
}

TEST(CodecFormat, OutlierIndicesStrictlyIncreasing) {
  // two outliers: indices (5, 5) and (6, 5) are invalid, (5, 6) valid
  auto frame_with = [](uint32_t a, uint32_t b) {
    Crafted c = reference_frame();
    c.h.outlier_count = 2;
    std::vector<uint8_t> p(c.payload.begin(), c.payload.begin() + 2 + 12);
    put32(p, a);
    put32(p, b);
    put32(p, 0x40e80000u);  // 7.25f
    put32(p, 0x40e80000u);
    p.push_back(0xab);
    p.push_back(0xcd);
    c.payload = p;
    return c.bytes();
  };
  EXPECT_EQ(guarded_decode(frame_with(5, 6), 4096), Status::kOk);
  EXPECT_EQ(guarded_decode(frame_with(5, 5), 4096), Status::kCorruptFrame);
  EXPECT_EQ(guarded_decode(frame_with(6, 5), 4096), Status::kCorruptFrame);
  EXPECT_EQ(guarded_decode(frame_with(5, 33), 4096), Status::kCorruptFrame);
}

}  // namespace
}  // namespace squeeze::test
