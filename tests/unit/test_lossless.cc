// The lossless method (BoundMode::kLossless, FrameMethod::kPlanes): every dtype bit for bit, on
// random, structured and corpus data; fewer bytes where the data has redundancy; every
// structural corruption rejected with a named check; never a read or write out of bounds.
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "codec_test_util.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/planes_kernels.h"
#include "compress/methods/planes.h"

namespace squeeze::test {
namespace {

const DType kAllTypes[] = {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16, DType::kI8,
                           DType::kU8,    DType::kI32, DType::kU32, DType::kI64,  DType::kU64};

struct Coded {
  std::vector<uint8_t> frame;
  FrameStats stats;
};

Coded lossless(DType t, const std::vector<uint8_t>& data, uint32_t caps = kCapsAll) {
  CodecParams p;
  p.dtype = t;
  p.mode = BoundMode::kLossless;
  p.caps = caps;
  Coded c;
  c.frame.resize(max_frame_bytes(data.size()));
  size_t fb = 0;
  EXPECT_EQ(compress(p, data.data(), data.size(), c.frame.data(), c.frame.size(), &fb, &c.stats),
            Status::kOk);
  c.frame.resize(fb);
  return c;
}

// Round trip, bit for bit; returns the frame size.
size_t expect_exact(DType t, const std::vector<uint8_t>& data, const std::string& what) {
  const Coded c = lossless(t, data);
  std::vector<uint8_t> back(data.size() + 7, 0xa5);
  size_t out = 0;
  EXPECT_EQ(decompress(c.frame.data(), c.frame.size(), back.data(), back.size(), &out), Status::kOk)
      << what << " " << last_reject_reason();
  EXPECT_EQ(out, data.size()) << what;
  EXPECT_TRUE(same_bytes(back.data(), data.data(), data.size())) << what;
  for (size_t k = data.size(); k < back.size(); ++k) EXPECT_EQ(back[k], 0xa5) << what;
  return c.frame.size();
}

std::vector<uint8_t> as_bytes(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return std::vector<uint8_t>(b, b + n);
}

TEST(Lossless, EveryDtypeRoundTripsRandomAndStructuredDataBitForBit) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (DType t : kAllTypes) {
    const size_t es = dtype_size(t);
    for (size_t n_bytes : {size_t{1}, size_t{7}, es, es * 3 + 1, size_t{4096}, size_t{100003},
                           size_t{(16384 * 2 + 5) * 8 + 3}}) {
      std::vector<uint8_t> rnd(n_bytes), small(n_bytes), ramp(n_bytes), zero(n_bytes, 0);
      for (auto& b : rnd) b = (uint8_t)rng();
      // Small values in every element's low byte (lengths), a ramp (offsets), all zero.
      for (size_t i = 0; i < n_bytes; ++i) small[i] = (i % es == 0) ? (uint8_t)(rng() % 5) : 0;
      for (size_t i = 0; i + es <= n_bytes; i += es) {
        const uint64_t v = (i / es) * 37 + (rng() % 3);
        std::memcpy(ramp.data() + i, &v, es);  // little-endian: the low es bytes
      }
      const std::string name = std::string(dtype_name(t)) + "/" + std::to_string((int)t) + " " +
                               std::to_string(n_bytes) + " B seed " + std::to_string(seed);
      expect_exact(t, rnd, name + " random");
      const size_t zs = expect_exact(t, zero, name + " zero");
      const size_t ss = expect_exact(t, small, name + " small");
      const size_t rs = expect_exact(t, ramp, name + " ramp");
      if (n_bytes >= 4096) {
        // Redundant data shrinks: constant planes cost nothing, small values little.
        EXPECT_LT(zs, n_bytes / 8) << name;
        EXPECT_LT(ss, n_bytes / 2) << name;
        if (!block::is_float_dtype((uint8_t)t) && es >= 4) {
          EXPECT_LT(rs, n_bytes / 2) << name << " (the delta transform)";
        }
      }
    }
  }
}

TEST(Lossless, FloatSpecialsAndEveryBitPatternComeBack) {
  // NaNs with payloads, infinities, signed zeros, subnormals: bits, not values.
  std::vector<uint32_t> f32 = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                               0xffffffffu, 0x00000001u, 0x807fffffu, 0x3f800000u, 0x7f7fffffu};
  for (int k = 0; k < 4000; ++k) f32.push_back(0x3c000000u + (uint32_t)k * 977u);
  expect_exact(DType::kF32, as_bytes(f32.data(), f32.size() * 4), "f32 specials");
  std::vector<uint16_t> h;
  for (uint32_t v = 0; v < 65536; ++v) h.push_back((uint16_t)v);  // every 16-bit pattern
  expect_exact(DType::kF16, as_bytes(h.data(), h.size() * 2), "f16 all patterns");
  expect_exact(DType::kBF16, as_bytes(h.data(), h.size() * 2), "bf16 all patterns");
  expect_exact(DType::kI8, as_bytes(h.data(), h.size() * 2), "i8 all patterns");
}

TEST(Lossless, IntegersChooseTheDeltaTransformForOffsetsAndNotForIds) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<int64_t> offsets(8192), ids(8192);
  int64_t acc = 0;
  for (size_t i = 0; i < offsets.size(); ++i) {
    acc += 1 + (int64_t)(rng() % 20);
    offsets[i] = acc;
    ids[i] = (int64_t)(rng() % 1000000);
  }
  const Coded co = lossless(DType::kI64, as_bytes(offsets.data(), offsets.size() * 8));
  const Coded ci = lossless(DType::kI64, as_bytes(ids.data(), ids.size() * 8));
  ASSERT_EQ(co.frame[hdr::kMethod], (uint8_t)FrameMethod::kPlanes);
  ASSERT_EQ(ci.frame[hdr::kMethod], (uint8_t)FrameMethod::kPlanes);
  EXPECT_EQ(co.frame[planes::hdr3::kTransform], (uint8_t)planes::Transform::kDeltaZigzag);
  EXPECT_EQ(ci.frame[planes::hdr3::kTransform], (uint8_t)planes::Transform::kNone);
  // ids below 2^20 in int64: at least 8 / 2.6 of the raw size.
  EXPECT_GT(8.0 * ids.size() / ci.frame.size(), 2.5) << "seed " << seed;
  EXPECT_GT(8.0 * offsets.size() / co.frame.size(), 8.0) << "seed " << seed;
}

TEST(Lossless, IncompressibleDataAndOldReceiversGetRawFrames) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> rnd(65536);
  for (auto& b : rnd) b = (uint8_t)rng();
  const Coded c = lossless(DType::kU32, rnd);
  EXPECT_EQ(c.frame[hdr::kMethod], (uint8_t)FrameMethod::kRaw);
  EXPECT_EQ(c.frame.size(), rnd.size() + kFrameHeaderBytes);
  // A receiver without kCapPlanes gets a raw frame it knows: dtype kBytes, not an integer type.
  std::vector<uint8_t> zero(65536, 0);
  const Coded old = lossless(DType::kI64, zero, kCapsAll & ~kCapPlanes);
  EXPECT_EQ(old.frame[hdr::kMethod], (uint8_t)FrameMethod::kRaw);
  EXPECT_EQ(old.frame[hdr::kDType], (uint8_t)DType::kBytes);
  const Coded v1 = lossless(DType::kI32, zero, kCapV1);
  EXPECT_EQ(v1.frame[hdr::kVersion], kFrameVersion);
  EXPECT_EQ(v1.frame[hdr::kDType], (uint8_t)DType::kBytes);
  std::vector<uint8_t> back(zero.size());
  size_t out = 0;
  ASSERT_EQ(decompress(v1.frame.data(), v1.frame.size(), back.data(), back.size(), &out),
            Status::kOk);
  EXPECT_EQ(back, zero);
  // Planes without version 2 is no planes: a version 1 raw frame, kBytes, that decodes.
  const Coded v1_planes = lossless(DType::kI64, zero, kCapV1 | kCapPlanes);
  EXPECT_EQ(v1_planes.frame[hdr::kVersion], kFrameVersion);
  EXPECT_EQ(v1_planes.frame[hdr::kDType], (uint8_t)DType::kBytes);
  ASSERT_EQ(
      decompress(v1_planes.frame.data(), v1_planes.frame.size(), back.data(), back.size(), &out),
      Status::kOk);
  EXPECT_EQ(back, zero);
}

TEST(Lossless, CorpusSampleMeetsTheRatiosOfTheClass) {
  // The committed sample of the lossless corpus (tests/data/lossless): KJT ids and lengths of the
  // project's DLRM, bf16 / f16 / f32 pipeline-boundary tensors of a small transformer.
  struct File {
    const char* name;
    DType t;
    double min_ratio;
  };
  const File files[] = {
      {"ids_i64_r0to3.bin", DType::kI64, 2.5},      {"mh_ids_i64_r0to1.bin", DType::kI64, 2.5},
      {"lengths_i32_r0to3.bin", DType::kI32, 4.0},  {"mh_lengths_i32_r0to1.bin", DType::kI32, 4.0},
      {"act_bf16_step300.bin", DType::kBF16, 1.35}, {"grad_bf16_step300.bin", DType::kBF16, 1.35},
      {"act_bf16_step10.bin", DType::kBF16, 1.35},  {"act_f16_step300.bin", DType::kF16, 1.1},
      {"act_f32_step300.bin", DType::kF32, 1.1},    {"grad_f32_step300.bin", DType::kF32, 1.1},
  };
  for (const File& f : files) {
    const std::string path = std::string(SQUEEZE_TEST_LOSSLESS_DIR) + "/" + f.name;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << path;
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), {});
    ASSERT_FALSE(data.empty()) << path;
    const size_t fb = expect_exact(f.t, data, f.name);
    const double ratio = (double)data.size() / (double)fb;
    std::printf("%-28s %8zu -> %8zu  %.3fx\n", f.name, data.size(), fb, ratio);
    EXPECT_GE(ratio, f.min_ratio) << f.name;
  }
}

// Every single-byte change of a frame's header and directory is rejected by a named check or
// decodes to the same size without touching memory outside the destination; a changed section
// byte never reads or writes out of bounds (ASan runs this too).
TEST(Lossless, CorruptFramesAreRejectedOrStayInBounds) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<int64_t> ids(3000);
  for (auto& v : ids) v = (int64_t)(rng() % 5000);
  const Coded c = lossless(DType::kI64, as_bytes(ids.data(), ids.size() * 8));
  ASSERT_EQ(c.frame[hdr::kMethod], (uint8_t)FrameMethod::kPlanes);
  std::vector<uint8_t> back(ids.size() * 8);
  size_t out = 0;
  const size_t head = kFrameHeaderBytes + planes::kDirEntryBytes * 8;
  int rejected = 0;
  for (size_t pos = 0; pos < c.frame.size(); ++pos) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      if (pos >= head && flip != 0x01) continue;
      std::vector<uint8_t> bad = c.frame;
      bad[pos] ^= flip;
      const Status s = decompress(bad.data(), bad.size(), back.data(), back.size(), &out);
      if (s != Status::kOk) {
        ++rejected;
        EXPECT_STRNE(last_reject_reason(), "none");
      } else {
        EXPECT_LE(out, back.size());
      }
      if (pos < hdr::kHeaderCheck) {
        EXPECT_NE(s, Status::kOk) << "header byte " << pos;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  // Truncated frames: every prefix is rejected.
  for (size_t len = 0; len < c.frame.size(); ++len) {
    EXPECT_NE(decompress(c.frame.data(), len, back.data(), back.size(), &out), Status::kOk) << len;
  }
  // A destination one byte short.
  EXPECT_EQ(decompress(c.frame.data(), c.frame.size(), back.data(), back.size() - 1, &out),
            Status::kOutputTooSmall);
}

TEST(Lossless, FrameInfoDescribesPlanesFrames) {
  std::vector<uint32_t> v(10000, 7);
  const Coded c = lossless(DType::kU32, as_bytes(v.data(), v.size() * 4));
  FrameInfo info;
  ASSERT_EQ(read_frame_info(c.frame.data(), c.frame.size(), &info), Status::kOk);
  EXPECT_EQ(info.method, (uint8_t)FrameMethod::kPlanes);
  EXPECT_EQ(info.version, kFrameVersion2);
  EXPECT_EQ(info.dtype, DType::kU32);
  EXPECT_EQ(info.original_bytes, v.size() * 4);
  EXPECT_EQ(info.frame_bytes, c.frame.size());
}

}  // namespace
}  // namespace squeeze::test

namespace squeeze::test {
namespace {

// The kernel sets of the plane split and join: the AVX2 set writes the scalar set's planes and
// elements for every element size and transform (vectorised or not), whole vectors and tails.
TEST(LosslessKernels, Avx2SplitAndJoinMatchScalar) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937_64 rng(test_seed());
  const planes::Transform kTransforms[] = {
      planes::Transform::kNone, planes::Transform::kDeltaZigzag, planes::Transform::kRotl1};
  for (uint32_t es : {1u, 2u, 4u, 8u}) {
    for (planes::Transform t : kTransforms) {
      for (int round = 0; round < 20; ++round) {
        const uint64_t n = round < 18 ? (uint64_t)round : 1 + rng() % 5000;
        std::vector<uint8_t> src(n * es);
        for (uint8_t& b : src) b = (uint8_t)rng();
        std::vector<uint8_t> a(n * es, 0x11), b(n * es, 0x22);
        cpu::kPlanesScalar.split(src.data(), n, es, t, a.data());
        cpu::kPlanesAvx2.split(src.data(), n, es, t, b.data());
        ASSERT_EQ(a, b) << "split es " << es << " transform " << (int)t << " n " << n;
        std::vector<uint8_t> back_a(n * es, 0x33), back_b(n * es, 0x44);
        cpu::kPlanesScalar.join(a.data(), n, es, t, back_a.data());
        cpu::kPlanesAvx2.join(a.data(), n, es, t, back_b.data());
        ASSERT_EQ(back_a, back_b) << "join es " << es << " transform " << (int)t << " n " << n;
        ASSERT_EQ(back_b, src) << "round trip es " << es << " transform " << (int)t;
      }
    }
  }
#else
  GTEST_SKIP() << "no AVX2 set on this architecture";
#endif
}

}  // namespace
}  // namespace squeeze::test
