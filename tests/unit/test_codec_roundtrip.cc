// Round trips of the codec: the error bound on every element for every float type and bound
// mode on random and adversarial data, exactness where it is promised, the raw fallback, frame
// sizes and buffer limits.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/cpu/stream_copy.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze::test {
namespace {

constexpr DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};
constexpr BoundMode kModes[] = {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal};
// What the receiver decodes: everything; version 2 staged frames without entropy coding or
// deduplication; version 1 only.
constexpr uint32_t kCapProfiles[] = {kCapsAll, kCapV1 | kCapStaged, kCapV1};

const char* mode_name(BoundMode m) {
  return m == BoundMode::kAbs ? " abs " : m == BoundMode::kRel ? " rel " : " local ";
}

enum class Dist { kGaussian, kUniform, kHeavyTailed, kSmooth };
constexpr Dist kDists[] = {Dist::kGaussian, Dist::kUniform, Dist::kHeavyTailed, Dist::kSmooth};

std::vector<float> random_values(Dist d, size_t n, std::mt19937_64& rng) {
  std::vector<float> v(n);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-3.0f, 5.0f);
  std::cauchy_distribution<float> cauchy(0.0f, 0.1f);
  for (size_t i = 0; i < n; ++i) {
    switch (d) {
      case Dist::kGaussian:
        v[i] = 0.05f * gauss(rng);
        break;
      case Dist::kUniform:
        v[i] = uni(rng);
        break;
      case Dist::kHeavyTailed:
        v[i] = cauchy(rng);
        break;
      case Dist::kSmooth:
        v[i] = std::sin(0.01f * (float)i) + 0.001f * gauss(rng);
        break;
    }
  }
  return v;
}

CodecParams params_of(DType t, BoundMode m, double bound, uint32_t caps = kCapsAll) {
  CodecParams p;
  p.dtype = t;
  p.mode = m;
  p.bound = bound;
  p.caps = caps;
  return p;
}

TEST(CodecRoundTrip, RandomDataWithinBoundEveryTypeAndMode) {
  std::mt19937_64 rng(test_seed());
  const double abs_bounds[] = {1e-1, 1e-3, 1e-6};
  const double rel_bounds[] = {1e-1, 1e-2, 1e-4};
  for (uint32_t caps : kCapProfiles)
    for (DType t : kFloatTypes)
      for (BoundMode m : kModes)
        for (Dist d : kDists)
          for (int bi = 0; bi < 3; ++bi) {
            const size_t n = 1000 + rng() % 3000;
            const size_t tail = rng() % dtype_size(t);
            const std::vector<uint8_t> src = to_bytes(t, random_values(d, n, rng), tail);
            const CodecParams p =
                params_of(t, m, m == BoundMode::kAbs ? abs_bounds[bi] : rel_bounds[bi], caps);
            SCOPED_TRACE(std::string(dtype_name(t)) + mode_name(m) + std::to_string(p.bound) +
                         " dist " + std::to_string((int)d) + " n=" + std::to_string(n) + " caps " +
                         std::to_string(caps));
            const RoundTrip r = round_trip(p, src.data(), src.size());
            expect_valid_round_trip(p, src.data(), src.size(), r);
            if (::testing::Test::HasFatalFailure()) return;
          }
}

TEST(CodecRoundTrip, SmoothDataIsActuallyCompressed) {
  // A guard against a codec that always falls back to raw: these must shrink.
  std::mt19937_64 rng(test_seed());
  for (uint32_t caps : kCapProfiles)
    for (DType t : kFloatTypes) {
      const std::vector<uint8_t> src = to_bytes(t, random_values(Dist::kSmooth, 8192, rng));
      const CodecParams p = params_of(t, BoundMode::kRel, 1e-2, caps);
      const RoundTrip r = round_trip(p, src.data(), src.size());
      expect_valid_round_trip(p, src.data(), src.size(), r);
      EXPECT_EQ(r.stats.method,
                (uint8_t)((caps & kCapStaged) ? FrameMethod::kStaged : FrameMethod::kBlockFixed))
          << dtype_name(t);
      EXPECT_LT(r.frame.size() * 2, src.size()) << dtype_name(t);
    }
}

// Adversarial element patterns, each tested for every type, mode and a few bounds.
std::vector<std::vector<float>> adversarial_sets(std::mt19937_64& rng) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> sets;
  std::vector<float> v;
  // non-finite mixed with ordinary values
  v.clear();
  for (int i = 0; i < 200; ++i)
    v.push_back(i % 7 == 0 ? nan : i % 11 == 0 ? inf : i % 13 == 0 ? -inf : 0.01f * i);
  sets.push_back(v);
  // only non-finite
  sets.push_back({nan, inf, -inf, nan, -nan, inf});
  // denormals of f32 and of f16, and zeros of both signs
  v.clear();
  for (int i = 0; i < 100; ++i) {
    const float den = std::ldexp((float)(1 + i), -149 + (i % 20));
    v.push_back(i % 2 ? den : -den);
    v.push_back(std::ldexp((float)(1 + i % 1023), -24));  // f16 subnormal range
    v.push_back(i % 3 ? 0.0f : -0.0f);
  }
  sets.push_back(v);
  // huge magnitudes next to small ones, and the extremes of f32
  v.clear();
  for (int i = 0; i < 128; ++i) v.push_back(i % 2 ? 1e38f : -1e38f);
  v.push_back(FLT_MAX);
  v.push_back(-FLT_MAX);
  v.push_back(1.0f);
  v.push_back(1e-30f);
  sets.push_back(v);
  // alternating extremes of each block
  v.clear();
  for (int i = 0; i < 96; ++i) v.push_back(i % 2 ? 3.0e4f : -3.0e4f);
  sets.push_back(v);
  // constant blocks (one constant frame, and constants with one different block)
  sets.push_back(std::vector<float>(100, 0.3f));
  sets.push_back(std::vector<float>(64, 0.0f));
  v.assign(96, -1.25f);
  for (int i = 32; i < 64; ++i) v[i] = 7.5f;
  sets.push_back(v);
  // values straddling quantization cells (likely rounding edges for small steps)
  v.clear();
  for (int i = 0; i < 300; ++i)
    v.push_back((float)(i / 2) * 0.002f + (i % 2 ? 0.000999f : 0.001001f));
  sets.push_back(v);
  // huge exponent spread, random signs
  v.clear();
  std::uniform_int_distribution<int> e(-140, 127);
  for (int i = 0; i < 500; ++i) v.push_back(std::ldexp(rng() % 2 ? 1.5f : -1.25f, e(rng)));
  sets.push_back(v);
  return sets;
}

TEST(CodecRoundTrip, AdversarialInputsWithinBoundAndExact) {
  std::mt19937_64 rng(test_seed());
  const auto sets = adversarial_sets(rng);
  const double bounds[] = {1e-2, 1e-7, 1e30};
  for (uint32_t caps : kCapProfiles)
    for (size_t si = 0; si < sets.size(); ++si)
      for (DType t : kFloatTypes)
        for (BoundMode m : kModes)
          for (double bound : bounds) {
            const std::vector<uint8_t> src = to_bytes(t, sets[si]);
            const CodecParams p = params_of(t, m, bound, caps);
            SCOPED_TRACE("set " + std::to_string(si) + " " + dtype_name(t) + mode_name(m) +
                         std::to_string(bound) + " caps " + std::to_string(caps));
            const RoundTrip r = round_trip(p, src.data(), src.size());
            expect_valid_round_trip(p, src.data(), src.size(), r);
            if (::testing::Test::HasFatalFailure()) return;
          }
}

TEST(CodecRoundTrip, NonFiniteAndOutliersAreBitExact) {
  // NaN payloads (signalling and quiet, both signs) must survive unchanged.
  const uint32_t nan_bits[] = {0x7fc00000u, 0xffc00001u, 0x7f800001u, 0xff812345u, 0x7fbfffffu};
  std::vector<uint8_t> src(4 * 64);
  for (int i = 0; i < 64; ++i) {
    const float v = 0.1f * (float)i;
    std::memcpy(&src[4 * i], &v, 4);
  }
  for (int k = 0; k < 5; ++k) std::memcpy(&src[4 * (3 + 11 * k)], &nan_bits[k], 4);
  const float big = 3e37f;
  std::memcpy(&src[4 * 60], &big, 4);  // beyond kMaxQuant steps: an outlier
  for (uint32_t caps : kCapProfiles) {
    const CodecParams p = params_of(DType::kF32, BoundMode::kAbs, 1e-3, caps);
    const RoundTrip r = round_trip(p, src.data(), src.size());
    expect_valid_round_trip(p, src.data(), src.size(), r);
    ASSERT_NE(r.stats.method, (uint8_t)FrameMethod::kRaw);
    EXPECT_EQ(r.stats.outliers, 6u);
  }
  const RoundTrip r =
      round_trip(params_of(DType::kF32, BoundMode::kAbs, 1e-3), src.data(), src.size());
  for (int k = 0; k < 5; ++k)
    EXPECT_EQ(std::memcmp(&src[4 * (3 + 11 * k)], &r.output[4 * (3 + 11 * k)], 4), 0);
  EXPECT_EQ(std::memcmp(&src[4 * 60], &r.output[4 * 60], 4), 0);

  // f16 / bf16 NaN payloads
  for (DType t : {DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> s16(2 * 40);
    for (int i = 0; i < 40; ++i) store_elem(t, s16.data(), i, 0.25f * (float)i);
    const uint16_t f16_nans[] = {0x7e01, 0xfc01, 0x7c01, 0xfe00};
    const uint16_t bf16_nans[] = {0x7fc1, 0xff81, 0x7f81, 0xffc0};
    const uint16_t* nans = t == DType::kF16 ? f16_nans : bf16_nans;
    for (int k = 0; k < 4; ++k) std::memcpy(&s16[2 * (5 + 9 * k)], &nans[k], 2);
    const CodecParams p16 = params_of(t, BoundMode::kRel, 1e-3);
    const RoundTrip r16 = round_trip(p16, s16.data(), s16.size());
    expect_valid_round_trip(p16, s16.data(), s16.size(), r16);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(std::memcmp(&s16[2 * (5 + 9 * k)], &r16.output[2 * (5 + 9 * k)], 2), 0);
  }
}

TEST(CodecRoundTrip, ShortAndOddLengthsUnalignedBuffers) {
  std::mt19937_64 rng(test_seed());
  for (DType t : {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16})
    for (BoundMode m : kModes)
      for (size_t bytes = 0; bytes <= 40; ++bytes)
        for (size_t src_off = 0; src_off < 4; ++src_off) {
          std::vector<uint8_t> storage(bytes + 8);
          const size_t es = dtype_size(t);
          for (size_t i = 0; i < bytes; ++i) storage[src_off + i] = (uint8_t)rng();
          // keep the elements finite and moderate when lossy (exactness is tested elsewhere)
          if (t != DType::kBytes)
            for (size_t i = 0; i < bytes / es; ++i)
              store_elem(t, storage.data() + src_off, i,
                         (float)((int)(rng() % 2001) - 1000) * 1e-3f);
          const CodecParams p = params_of(t, m, 1e-2);
          SCOPED_TRACE(std::string(dtype_name(t)) + " bytes=" + std::to_string(bytes) +
                       " src_off=" + std::to_string(src_off));
          const RoundTrip r =
              round_trip(p, storage.data() + src_off, bytes, (src_off + 1) % 4, (src_off + 3) % 4);
          expect_valid_round_trip(p, storage.data() + src_off, bytes, r);
          if (::testing::Test::HasFatalFailure()) return;
        }
}

TEST(CodecRoundTrip, LongUnalignedBuffers) {
  std::mt19937_64 rng(test_seed());
  for (DType t : kFloatTypes)
    for (size_t off = 1; off < 4; ++off) {
      const size_t n = 4096 + 17;
      std::vector<float> v = random_values(Dist::kGaussian, n, rng);
      std::vector<uint8_t> bytes = to_bytes(t, v, 1);
      std::vector<uint8_t> storage(bytes.size() + off);
      std::memcpy(storage.data() + off, bytes.data(), bytes.size());
      for (BoundMode m : kModes) {
        const CodecParams p = params_of(t, m, 1e-3);
        const RoundTrip r = round_trip(p, storage.data() + off, bytes.size(), off, 4 - off);
        expect_valid_round_trip(p, storage.data() + off, bytes.size(), r);
      }
    }
}

// A frame whose output is larger than the caches (cpu::kBypassCacheBytes: the decoder copies its
// references around them, whole 16-byte pieces with non-temporal stores and the ends with
// memcpy): mostly repeated vectors, so that most of the output is references of 1 to 6 units,
// decoded at output offsets that put the units at every 4-byte phase of 16 bytes. Every element
// within its bound, nothing written past the output, and the same bytes at every offset; the tail
// (a partial unit and a byte) exact.
TEST(CodecRoundTrip, LargeFrameReferencesAtEveryOutputAlignment) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  constexpr size_t kPool = 512;  // distinct vectors of 1 to 6 units
  const size_t n = cpu::kBypassCacheBytes / 4 + 3 * kUnitElems + 5;
  std::vector<float> pool = random_values(Dist::kGaussian, kPool * 6 * kUnitElems, rng);
  std::vector<float> v;
  v.reserve(n);
  while (v.size() < n) {
    const size_t units = 1 + rng() % 6;
    const size_t from = (rng() % kPool) * 6 * kUnitElems;
    for (size_t i = 0; i < units * kUnitElems && v.size() < n; ++i) v.push_back(pool[from + i]);
  }
  // f32 only: 2-byte elements would need twice the values to reach the threshold.
  const DType t = DType::kF32;
  const std::vector<uint8_t> bytes = to_bytes(t, v, 1);
  for (BoundMode m : {BoundMode::kLocal, BoundMode::kRel}) {
    const CodecParams p = params_of(t, m, 1e-2, kCapsAll & ~kCapHistory);
    std::vector<uint8_t> first;
    for (size_t off : {0, 4, 8, 12, 40}) {
      SCOPED_TRACE(testing::Message()
                   << "dtype " << (int)t << mode_name(m) << "offset " << off << " seed " << seed);
      const RoundTrip r = round_trip(p, bytes.data(), bytes.size(), 0, off);
      expect_valid_round_trip(p, bytes.data(), bytes.size(), r);
      ASSERT_GT(r.stats.ref_units, r.stats.units / 2);
      if (first.empty())
        first = r.output;
      else
        ASSERT_TRUE(r.output == first) << "output differs with the offset";
    }
  }
}

TEST(CodecRoundTrip, BytesAreExact) {
  std::mt19937_64 rng(test_seed());
  for (size_t bytes : {0ul, 1ul, 31ul, 1000ul, 65537ul}) {
    std::vector<uint8_t> src(bytes);
    for (auto& b : src) b = (uint8_t)rng();
    for (double bound : {1e-2, 0.0, -1.0}) {  // kBytes ignores the bound
      const CodecParams p = params_of(DType::kBytes, BoundMode::kRel, bound);
      const RoundTrip r = round_trip(p, src.data(), src.size());
      expect_valid_round_trip(p, src.data(), src.size(), r);
      EXPECT_EQ(r.stats.method, (uint8_t)FrameMethod::kRaw);
      EXPECT_EQ(r.stats.applied_bound, 0.0);
    }
  }
}

TEST(CodecRoundTrip, IncompressibleDataFallsBackToRaw) {
  std::mt19937_64 rng(test_seed());
  for (DType t : kFloatTypes) {
    // random bit patterns: NaNs, Infs and values of every magnitude, with a tiny bound
    std::vector<uint8_t> src(4000 + rng() % 64);
    for (auto& b : src) b = (uint8_t)rng();
    for (double bound : {1e-30, 1e-6}) {
      const CodecParams p = params_of(t, BoundMode::kAbs, bound);
      const RoundTrip r = round_trip(p, src.data(), src.size());
      expect_valid_round_trip(p, src.data(), src.size(), r);
      EXPECT_LE(r.frame.size(), src.size() + kFrameHeaderBytes);
    }
    // a constant frame in rel mode has a zero bound: stored raw, exactly
    std::vector<uint8_t> c = to_bytes(t, std::vector<float>(100, 2.5f));
    const CodecParams pr = params_of(t, BoundMode::kRel, 1e-2);
    const RoundTrip rc = round_trip(pr, c.data(), c.size());
    expect_valid_round_trip(pr, c.data(), c.size(), rc);
    EXPECT_EQ(rc.stats.method, (uint8_t)FrameMethod::kRaw);
  }
}

TEST(CodecRoundTrip, Deterministic) {
  std::mt19937_64 rng(test_seed());
  for (DType t : kFloatTypes) {
    std::vector<float> v = random_values(Dist::kHeavyTailed, 5000, rng);
    v[17] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<uint8_t> src = to_bytes(t, v, 1);
    for (BoundMode m : kModes) {
      const CodecParams p = params_of(t, m, 1e-3);
      const RoundTrip a = round_trip(p, src.data(), src.size());
      const RoundTrip b = round_trip(p, src.data(), src.size(), 3, 1);
      ASSERT_EQ(a.compress_status, Status::kOk);
      ASSERT_EQ(b.compress_status, Status::kOk);
      EXPECT_EQ(a.frame, b.frame);
      EXPECT_EQ(a.output, b.output);
    }
  }
}

TEST(CodecApi, InvalidArguments) {
  std::vector<uint8_t> src(64, 0), dst(max_frame_bytes(64));
  size_t fb = 0;
  for (double bad : {0.0, -1e-3, (double)NAN, (double)INFINITY, -(double)INFINITY}) {
    const CodecParams p = params_of(DType::kF32, BoundMode::kAbs, bad);
    EXPECT_EQ(compress(p, src.data(), src.size(), dst.data(), dst.size(), &fb),
              Status::kInvalidArgument)
        << bad;
  }
  const CodecParams ok = params_of(DType::kF32, BoundMode::kAbs, 1e-3);
  EXPECT_EQ(compress(ok, nullptr, 4, dst.data(), dst.size(), &fb), Status::kInvalidArgument);
  EXPECT_EQ(compress(ok, src.data(), 4, nullptr, dst.size(), &fb), Status::kInvalidArgument);
  EXPECT_EQ(compress(ok, src.data(), 4, dst.data(), dst.size(), nullptr), Status::kInvalidArgument);
  CodecParams bad_type = ok;
  bad_type.dtype = (DType)10;
  EXPECT_EQ(compress(bad_type, src.data(), 4, dst.data(), dst.size(), &fb),
            Status::kInvalidArgument);
  CodecParams bad_mode = ok;
  bad_mode.mode = (BoundMode)4;
  EXPECT_EQ(compress(bad_mode, src.data(), 4, dst.data(), dst.size(), &fb),
            Status::kInvalidArgument);
  CodecParams no_caps = ok;
  no_caps.caps = kCapRans;  // neither version 1 nor version 2 frames: nothing to write
  EXPECT_EQ(compress(no_caps, src.data(), 4, dst.data(), dst.size(), &fb),
            Status::kInvalidArgument);
  // an empty input from a null pointer is fine
  EXPECT_EQ(compress(ok, nullptr, 0, dst.data(), dst.size(), &fb), Status::kOk);
  EXPECT_EQ(fb, kFrameHeaderBytes);
  size_t out = 1;
  EXPECT_EQ(decompress(dst.data(), fb, nullptr, 0, &out), Status::kOk);
  EXPECT_EQ(out, 0u);
  EXPECT_EQ(decompress(nullptr, 10, dst.data(), 10, &out), Status::kInvalidArgument);
  EXPECT_EQ(decompress(dst.data(), fb, dst.data(), 10, nullptr), Status::kInvalidArgument);
  EXPECT_EQ(read_frame_info(dst.data(), fb, nullptr), Status::kInvalidArgument);
  EXPECT_STRNE(status_string(Status::kCorruptFrame), status_string(Status::kOk));
}

TEST(CodecApi, CapacityTooSmall) {
  std::mt19937_64 rng(test_seed());
  std::vector<float> v(1000);
  for (auto& x : v) x = (float)(rng() % 1000) * 1e-3f;
  for (DType t : kFloatTypes) {
    const std::vector<uint8_t> src = to_bytes(t, v);
    const CodecParams p = params_of(t, BoundMode::kRel, 1e-2);
    std::vector<uint8_t> dst(max_frame_bytes(src.size()) + 16, 0xee);
    size_t fb = 0;
    // compress demands the worst-case capacity, whatever the frame turns out to be
    EXPECT_EQ(compress(p, src.data(), src.size(), dst.data(), max_frame_bytes(src.size()) - 1, &fb),
              Status::kOutputTooSmall);
    for (uint8_t b : dst) ASSERT_EQ(b, 0xee) << "written despite kOutputTooSmall";
    ASSERT_EQ(compress(p, src.data(), src.size(), dst.data(), dst.size(), &fb), Status::kOk);
    std::vector<uint8_t> out(src.size() + 16, 0x5a);
    size_t ob = 0;
    for (size_t cap : {(size_t)0, src.size() / 2, src.size() - 1}) {
      EXPECT_EQ(decompress(dst.data(), fb, out.data(), cap, &ob), Status::kOutputTooSmall);
      for (uint8_t b : out) ASSERT_EQ(b, 0x5a) << "decompress wrote despite kOutputTooSmall";
    }
    EXPECT_EQ(decompress(dst.data(), fb, out.data(), src.size(), &ob), Status::kOk);
    EXPECT_EQ(ob, src.size());
  }
}

}  // namespace
// The stream tests' settings: an absolute bound of 1e-3, without rANS.
CodecParams stream_test_params() {
  CodecParams p;
  p.mode = BoundMode::kAbs;
  p.bound = 1e-3;
  p.caps = kCapsAll & ~kCapRans;
  return p;
}

// Decodes frame f of a stream and checks every element of it against v within an absolute bound.
void decode_within_bound(StreamDecoder& dec, const uint8_t* frame, size_t frame_bytes,
                         const std::vector<float>& v, double bound, int f, uint64_t seed) {
  std::vector<uint8_t> out(v.size() * 4);
  size_t ob = 0;
  ASSERT_EQ(dec.decompress(frame, frame_bytes, out.data(), out.size(), &ob), Status::kOk)
      << "frame " << f << " seed " << seed;
  ASSERT_EQ(ob, v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) {
    float y;
    std::memcpy(&y, out.data() + 4 * i, 4);
    ASSERT_LE(std::fabs((double)y - (double)v[i]), bound)
        << "frame " << f << " element " << i << " seed " << seed;
  }
}

// A stream whose frames repeat earlier frames' units in shuffled order (runs of 1-6 units, with
// new units between them): each frame refers to many history positions, out of order, which the
// encoder lists as distinct sources in increasing order and indexes. Every element within the
// bound, most units history references, every frame of the stream decoded in order.
TEST(Stream, ShuffledRepeatsOfEarlierFramesRoundTrip) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr size_t kUnit = 16, kUnits = 2048;  // 128 KiB frames of f32
  const CodecParams p = stream_test_params();
  StreamEncoder enc;
  StreamDecoder dec;
  std::vector<float> prev(kUnits * kUnit);
  for (float& x : prev) x = g(rng);
  uint64_t history_refs = 0, units = 0;
  for (int f = 0; f < 6; ++f) {
    std::vector<float> v(kUnits * kUnit);
    for (size_t u = 0; u < kUnits;) {
      const size_t len = 1 + rng() % 6;
      const size_t from = rng() % (kUnits - len);
      const bool repeat = f > 0 && rng() % 4 != 0;
      for (size_t k = 0; k < len && u < kUnits; ++k, ++u)
        for (size_t e = 0; e < kUnit; ++e)
          v[u * kUnit + e] = repeat ? prev[(from + k) * kUnit + e] : g(rng);
    }
    std::vector<uint8_t> frame(max_frame_bytes(v.size() * 4));
    size_t fb = 0;
    FrameStats st;
    ASSERT_EQ(enc.compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &fb, &st),
              Status::kOk);
    decode_within_bound(dec, frame.data(), fb, v, p.bound, f, seed);
    if (HasFatalFailure()) return;
    history_refs += st.history_ref_units;
    units += st.units;
    prev = v;
  }
  // Five of the six frames are about three quarters repeats of the one before.
  EXPECT_GT(history_refs, units / 2) << "seed " << seed;
}

// Sends v as the same frame `frames` times through a stream: every frame after the first must
// refer to at least min_history_refs units of the history, and every one decodes within the bound.
void send_again_and_again(StreamEncoder& enc, StreamDecoder& dec, const CodecParams& p,
                          const std::vector<float>& v, int frames, uint64_t min_history_refs,
                          uint64_t seed) {
  std::vector<uint8_t> frame(max_frame_bytes(v.size() * 4));
  for (int f = 0; f < frames; ++f) {
    size_t fb = 0;
    FrameStats st;
    ASSERT_EQ(enc.compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &fb, &st),
              Status::kOk);
    if (f > 0) {
      EXPECT_GE(st.history_ref_units, min_history_refs) << "frame " << f << " seed " << seed;
    }
    decode_within_bound(dec, frame.data(), fb, v, p.bound, f, seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Each frame repeats the one before, unit for unit, through a 64 KiB window (1024 units) with
// frames of 640 units, so the ring wraps inside frames at a different offset each time: the
// units of every later frame are history references whichever side of the wrap their source's
// slot is on, and every element decodes within the bound. Not every unit: the history's table
// (4 slots a bucket, a bucket per window unit) drops a key when five land in one bucket, which
// some seeds give a few keys; a wrong slot on one side of the wrap loses 40-100% of a frame.
TEST(Stream, EveryRepeatOfTheLastFrameFoundAcrossTheRingWrap) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr size_t kUnit = 16, kUnits = 640, kWindowBytes = 64 * 1024;
  const CodecParams p = stream_test_params();
  StreamEncoder enc(kWindowBytes);
  StreamDecoder dec(kWindowBytes);
  std::vector<float> v(kUnits * kUnit);
  for (float& x : v) x = g(rng);
  send_again_and_again(enc, dec, p, v, 8, kUnits * 95 / 100, seed);
}

// Frames of 1536 units through a 1024-unit window, each two copies of the same 768 units and
// each the same as the one before: a unit's latest copy in the history is in the frame's second
// half for the first 512 units (their first half's positions have left the window by the next
// frame) and in its first half for the rest. So every unit of a later frame is a history
// reference only if the table moved the first 512 keys to their second copies: a frame longer
// than the window offers every unit, repeats too (offering only each key's first unit, as
// shorter frames do, finds 512 units of each later frame).
TEST(Stream, FramesLongerThanTheWindowReferToTheLatestCopies) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr size_t kUnit = 16, kHalf = 768, kWindowBytes = 1024 * kUnit * 4;
  const CodecParams p = stream_test_params();
  StreamEncoder enc(kWindowBytes);
  StreamDecoder dec(kWindowBytes);
  std::vector<float> v(2 * kHalf * kUnit);
  for (size_t i = 0; i < kHalf * kUnit; ++i) v[i] = v[i + kHalf * kUnit] = g(rng);
  send_again_and_again(enc, dec, p, v, 4, 2 * kHalf * 95 / 100, seed);
}

// A frame that goes out raw teaches the history nothing, on either side: the encoder takes back
// what its lookups' pass told the history's table. Unit X first appears in frame 1, sent raw
// (its other units are outliers of the bound), then in frame 2 at another index, then in frame
// 3, which must refer to frame 2's copy. Had the table kept frame 1's entry for X (the position
// frame 2's unit 0 takes, as a raw frame moves no position), frame 2 would have left it there
// and frame 3 would have found frame 2's unit 0 instead of X.
TEST(Stream, AFrameSentRawLeavesTheHistoryAsItWas) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr size_t kUnit = 16, kUnits = 256;
  const CodecParams p = stream_test_params();
  StreamEncoder enc;
  StreamDecoder dec;
  std::vector<float> x(kUnit);
  for (float& e : x) e = g(rng);
  auto fresh = [&](std::vector<float>& v, size_t u) {
    for (size_t e = 0; e < kUnit; ++e) v[u * kUnit + e] = g(rng);
  };
  auto put_x = [&](std::vector<float>& v, size_t u) {
    std::copy(x.begin(), x.end(), v.begin() + (ptrdiff_t)(u * kUnit));
  };
  std::vector<uint8_t> frame(max_frame_bytes(kUnits * kUnit * 4));
  for (int f = 0; f < 4; ++f) {
    std::vector<float> v(kUnits * kUnit);
    for (size_t u = 0; u < kUnits; ++u) fresh(v, u);
    if (f == 1) {
      // Far outside any code of a 2e-3 step: every element an outlier, so raw is smaller.
      for (float& e : v) e *= 1e30f;
      put_x(v, 0);
    }
    if (f == 2) put_x(v, 1);
    if (f == 3) put_x(v, 5);
    size_t fb = 0;
    FrameStats st;
    ASSERT_EQ(enc.compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &fb, &st),
              Status::kOk);
    if (f == 1) {
      ASSERT_EQ(st.method, (uint8_t)FrameMethod::kRaw) << "seed " << seed;
    } else {
      ASSERT_EQ(st.method, (uint8_t)FrameMethod::kStaged) << "frame " << f << " seed " << seed;
    }
    if (f == 2) {
      EXPECT_EQ(st.history_ref_units, 0u) << "seed " << seed;
    }
    if (f == 3) {
      EXPECT_EQ(st.history_ref_units, 1u) << "seed " << seed;
    }
    decode_within_bound(dec, frame.data(), fb, v, f == 1 ? 0.0 : p.bound, f, seed);
    if (HasFatalFailure()) return;
  }
}

}  // namespace squeeze::test
