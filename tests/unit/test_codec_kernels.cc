// The shared math and the kernel sets: float16 / bfloat16 conversions against independent
// references, bit-plane packing, FNV-1a, backend selection, SIMD == scalar byte for byte, and
// independence from the caller's floating-point control word.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "codec_test_util.h"
#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/quant.h"
#include "squeeze/codec.h"

namespace squeeze::test {
namespace {

// Restores the automatic backend choice when a test that switched it ends.
struct BackendReset {
  ~BackendReset() { cpu::select_backend("auto"); }
};

#if defined(__x86_64__)
// The CPU's own float -> half conversion (F16C), round to nearest even.
__attribute__((target("f16c"))) uint16_t hw_half(float x) {
  return (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

// Round to nearest even onto a grid, from the two neighbours, in double (an independent
// reference for the bit-twiddling conversions of quant.h).
double nearest_even(double x, double lo, double hi, bool lo_even) {
  const double dl = x - lo, dh = hi - x;
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return lo_even ? lo : hi;
}

TEST(CodecMath, HalfConversionsExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = quant::half_to_float((uint16_t)h);
    const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) {
      EXPECT_TRUE(man ? std::isnan(f) : std::isinf(f)) << h;
      if (man) continue;
    } else {
      const double mag =
          exp ? std::ldexp(1.0 + man / 1024.0, (int)exp - 15) : std::ldexp((double)man, -24);
      EXPECT_EQ((double)f, (h & 0x8000) ? -mag : mag) << h;
    }
    EXPECT_EQ(quant::float_to_half_rn(f), (uint16_t)h) << h;
  }
}

TEST(CodecMath, FloatToHalfRoundsToNearestEven) {
  std::mt19937_64 rng(test_seed());
  for (int i = 0; i < 200000; ++i) {
    // random floats concentrated on the half range, including subnormal and overflow edges
    const float x =
        std::ldexp((float)(rng() % (1u << 24)) / (float)(1u << 24) + 0.5f, (int)(rng() % 48) - 30) *
        (rng() % 2 ? 1.0f : -1.0f);
    const uint16_t h = quant::float_to_half_rn(x);
    const double ax = std::fabs((double)x);
    double want;
    if (ax >= 65520.0) {
      want = INFINITY;
    } else {
      // grid spacing of half at |x|: 2^(e-10) for normal, 2^-24 below 2^-14
      const int e = ax < std::ldexp(1.0, -14) ? -14 : std::ilogb(ax);
      const double ulp = std::ldexp(1.0, e - 10);
      const double lo = std::floor(ax / ulp) * ulp;
      want = nearest_even(ax, lo, lo + ulp, std::fmod(lo / ulp, 2.0) == 0.0);
    }
    ASSERT_EQ((double)std::fabs(quant::half_to_float(h)), want) << "x=" << x;
    ASSERT_EQ((h & 0x8000) != 0, std::signbit(x)) << "x=" << x;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("f16c")) {
      ASSERT_EQ(h, hw_half(x)) << "x=" << x;
    }
#endif
  }
}

TEST(CodecMath, Bf16RoundsToNearestEven) {
  std::mt19937_64 rng(test_seed());
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = (uint32_t)rng();
    const float x = quant::bits_to_float(bits);
    const uint16_t b = quant::float_to_bf16_rn(x);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(quant::bf16_to_float(b)));
      continue;
    }
    const float lo = quant::bits_to_float(bits & 0xffff0000u);
    const float hi = quant::bits_to_float((bits & 0xffff0000u) + 0x10000u);  // may be Inf
    // Beyond the largest finite bf16 the grid goes on to 2^128, which stands for Inf (IEEE
    // rounding with unbounded exponent, then overflow).
    const double hi_mag =
        std::isinf(hi) && !std::isinf(lo) ? std::ldexp(1.0, 128) : std::fabs((double)hi);
    double want =
        nearest_even(std::fabs((double)x), std::fabs((double)lo), hi_mag, ((bits >> 16) & 1u) == 0);
    if (want == std::ldexp(1.0, 128)) want = INFINITY;
    ASSERT_EQ(std::fabs((double)quant::bf16_to_float(b)), want) << "bits=" << bits;
  }
}

TEST(CodecMath, PlanesRoundTripAndFnv) {
  std::mt19937_64 rng(test_seed());
  for (uint32_t w = 0; w <= kMaxCodeWidth; ++w) {
    uint32_t codes[32], back[32];
    for (auto& c : codes) c = w ? (uint32_t)rng() & ((1u << w) - 1u) : 0u;
    codes[rng() % 32] = w ? (1u << (w - 1)) : 0u;  // the top bit appears at least once
    EXPECT_EQ(block::block_width(codes), w);
    uint8_t planes[4 * kMaxCodeWidth];
    block::pack_planes(codes, w, planes);
    block::unpack_planes(planes, w, back);
    EXPECT_EQ(std::memcmp(codes, back, sizeof(codes)), 0) << w;
  }
  EXPECT_EQ(block::fnv1a32(reinterpret_cast<const uint8_t*>(""), 0), 0x811c9dc5u);
  EXPECT_EQ(block::fnv1a32(reinterpret_cast<const uint8_t*>("a"), 1), 0xe40c292cu);
  EXPECT_EQ(block::fnv1a32(reinterpret_cast<const uint8_t*>("foobar"), 6), 0xbf9cf968u);
  for (int32_t q : {0, 1, -1, 2, -2, kMaxQuant, -kMaxQuant}) {
    EXPECT_EQ(quant::unzigzag(quant::zigzag(q)), q);
    EXPECT_LE(quant::code_width(quant::zigzag(q)), kMaxCodeWidth);
  }
}

TEST(CodecBackend, SelectionAndName) {
  BackendReset reset;
  const std::string best = cpu_backend_name();
  EXPECT_TRUE(best == "scalar" || best == "avx2") << best;
  ASSERT_TRUE(cpu::select_backend("scalar"));
  EXPECT_STREQ(cpu_backend_name(), "scalar");
  EXPECT_FALSE(cpu::select_backend("no-such-backend"));
  EXPECT_STREQ(cpu_backend_name(), "scalar");
  if (cpu::avx2_backend()) {
    ASSERT_TRUE(cpu::select_backend("avx2"));
    EXPECT_STREQ(cpu_backend_name(), "avx2");
  }
  ASSERT_TRUE(cpu::select_backend("auto"));
  EXPECT_EQ(best == "scalar" || cpu::avx2_backend() != nullptr, true);
}

std::vector<uint8_t> frame_with(const char* backend, const CodecParams& p,
                                const std::vector<uint8_t>& src) {
  EXPECT_TRUE(cpu::select_backend(backend));
  std::vector<uint8_t> dst(max_frame_bytes(src.size()));
  size_t fb = 0;
  EXPECT_EQ(compress(p, src.data(), src.size(), dst.data(), dst.size(), &fb), Status::kOk);
  dst.resize(fb);
  return dst;
}

std::vector<uint8_t> decoded_with(const char* backend, const std::vector<uint8_t>& frame,
                                  size_t bytes) {
  EXPECT_TRUE(cpu::select_backend(backend));
  std::vector<uint8_t> out(bytes);
  size_t ob = 0;
  EXPECT_EQ(decompress(frame.data(), frame.size(), out.data(), out.size(), &ob), Status::kOk);
  return out;
}

// Every other backend against scalar, on data that exercises every code path: random values
// of several scales, non-finite values, denormals, values at cell edges, all widths 0..24.
void compare_backend_to_scalar(const char* backend) {
  BackendReset reset;
  std::mt19937_64 rng(test_seed());
  const float inf = std::numeric_limits<float>::infinity();
  for (int round = 0; round < 60; ++round)
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      const size_t n = 1 + rng() % 3000;
      std::vector<float> v(n);
      const int kind = round % 6;
      const float scale = std::ldexp(1.0f, (int)(rng() % 40) - 20);
      std::normal_distribution<float> g(0.0f, 1.0f);
      for (size_t i = 0; i < n; ++i) {
        switch (kind) {
          case 0:
            v[i] = scale * g(rng);
            break;
          case 1:
            v[i] = quant::bits_to_float((uint32_t)rng());
            break;  // anything at all
          case 2:
            v[i] = std::ldexp(g(rng), -130 - (int)(rng() % 20));
            break;  // denormals
          case 3:
            v[i] = (i % 97 == 0) ? (i % 2 ? inf : NAN) : scale * g(rng);
            break;
          case 4:
            v[i] = scale * (float)(int)(g(rng) * 1000.0f);
            break;  // exact grid points
          default:
            v[i] = (float)((int64_t)(rng() % (1u << 26)) - (1 << 25)) * 1e-3f;
            break;
        }
      }
      const std::vector<uint8_t> src = to_bytes(t, v, rng() % dtype_size(t));
      CodecParams p;
      p.dtype = t;
      p.mode = (BoundMode)(rng() % 3);
      p.bound = p.mode == BoundMode::kAbs ? std::ldexp(1.0, (int)(rng() % 40) - 30)
                                          : std::ldexp(1.0, -(int)(rng() % 24));
      // Every frame format the receiver may decode: all stages, staged fixed, version 1.
      const uint32_t profiles[] = {kCapsAll, kCapV1 | kCapStaged, kCapV1};
      p.caps = profiles[rng() % 3];
      // Odd rounds: a row layout (the table quantizer, row records, mixed bounds; rows narrower
      // than 8 columns too).
      static const uint32_t kShapes[4][4] = {
          {64, 64, 128, 0}, {3, 5, 0, 0}, {16, 8, 40, 1}, {32, 32, 32, 32}};
      static const uint32_t kCounts[4] = {3, 2, 4, 4};
      const double table_bounds[4] = {p.bound, 3 * p.bound, p.bound / 2, 5 * p.bound};
      RowLayout lay;
      if (round % 2 == 1) {
        const int k = (int)(rng() % 4);
        lay.n_tables = kCounts[k];
        lay.table_cols = kShapes[k];
        for (uint32_t c = 0; c < lay.n_tables; ++c) lay.row_elems += kShapes[k][c];
        lay.start_col = rng() % 2 ? 0 : (uint32_t)(rng() % lay.row_elems);
        lay.table_bounds = rng() % 2 ? table_bounds : nullptr;
        p.layout = &lay;
      }
      const std::vector<uint8_t> a = frame_with("scalar", p, src);
      const std::vector<uint8_t> b = frame_with(backend, p, src);
      ASSERT_EQ(a, b) << backend << " frame differs from scalar: " << dtype_name(t) << " round "
                      << round << " n=" << n;
      const std::vector<uint8_t> da = decoded_with("scalar", a, src.size());
      const std::vector<uint8_t> db = decoded_with(backend, a, src.size());
      ASSERT_EQ(da, db) << backend << " decode differs from scalar: " << dtype_name(t);
    }
}

TEST(CodecBackend, Avx2MatchesScalarByteForByte) {
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  compare_backend_to_scalar("avx2");
}

// Each kernel set's block statistics against scalar's, field by field, on blocks drawn from the
// values at the edges of the finite range: signed zeros, the largest finite floats of both signs
// beside the infinities, NaNs of both signs, denormals, blocks of one value, blocks with no
// finite element, every element type and partial last blocks (with and without a full unit).
// Both of its kernels: block_stats, and block_stats_keys with its unit keys against scalar's
// unit_keys (odd and even numbers of full blocks: f32's takes two at a time).
TEST(CodecBackend, Avx2BlockStatsMatchScalar) {
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const float kEdges[] = {
      0.0f,      -0.0f,    FLT_MAX, -FLT_MAX,     INFINITY,
      -INFINITY, NAN,      -NAN,    FLT_TRUE_MIN, -FLT_TRUE_MIN,
      FLT_MIN,   -FLT_MIN, 1.0f,    -1.0f,        quant::bits_to_float(0xffc00001u)};
  constexpr size_t kEdgeCount = sizeof(kEdges) / sizeof(kEdges[0]);
  size_t non_finite_blocks = 0, finite_blocks = 0;
  for (int round = 0; round < 400; ++round) {
    const DType t = (DType)(1 + rng() % 3);
    const uint64_t n = 32 * (1 + rng() % 8) + rng() % 32;
    std::vector<float> v(n);
    for (uint64_t b = 0; b < n; b += 32) {
      // A block of one value, of edge values, or of random bits, each now and then.
      const int style = (int)(rng() % 4);
      const float one = kEdges[rng() % kEdgeCount];
      for (uint64_t i = b; i < std::min<uint64_t>(n, b + 32); ++i) {
        switch (style) {
          case 0:
            v[i] = one;
            break;
          case 1:
            v[i] = kEdges[rng() % kEdgeCount];
            break;
          case 2:
            v[i] =
                rng() % 8 == 0 ? kEdges[rng() % kEdgeCount] : quant::bits_to_float((uint32_t)rng());
            break;
          default:
            v[i] = rng() % 16 == 0 ? kEdges[rng() % 6] : (float)(int)(rng() % 200) - 100.0f;
            break;
        }
      }
    }
    const std::vector<uint8_t> src = to_bytes(t, v);
    const uint64_t n_blocks = (n + 31) / 32, n_full_units = n / kUnitElems;
    const uint32_t unit_bytes = (uint32_t)(kUnitElems * dtype_size(t));
    std::vector<local::BlockStats> a(n_blocks), b(n_blocks), c(n_blocks);
    std::vector<uint64_t> want_keys(n_full_units), got_keys(n_full_units);
    cpu::scalar_backend().staged[(int)t].block_stats(src.data(), n, a.data());
    cpu::avx2_backend()->staged[(int)t].block_stats(src.data(), n, b.data());
    cpu::scalar_backend().units->unit_keys(src.data(), n_full_units, unit_bytes, want_keys.data());
    cpu::avx2_backend()->staged[(int)t].block_stats_keys(src.data(), n, c.data(), n_full_units,
                                                         got_keys.data());
    for (uint64_t u = 0; u < n_full_units; ++u)
      ASSERT_EQ(want_keys[u], got_keys[u])
          << "round " << round << " unit " << u << " of " << n_full_units << " " << dtype_name(t)
          << " seed " << seed;
    for (uint64_t k = 0; k < 2 * n_blocks; ++k) {
      // Blocks [0, n_blocks) from block_stats, then the same from block_stats_keys.
      const std::vector<local::BlockStats>& b_or_c = k < n_blocks ? b : c;
      const uint64_t kb = k % n_blocks;
      const std::string where = "round " + std::to_string(round) + " block " + std::to_string(kb) +
                                (k < n_blocks ? " (block_stats) " : " (block_stats_keys) ") +
                                dtype_name(t) + " seed " + std::to_string(seed);
      ASSERT_EQ(a[kb].has_finite, b_or_c[kb].has_finite) << where;
      ASSERT_EQ(a[kb].all_same, b_or_c[kb].all_same) << where;
      if (!a[kb].has_finite) continue;
      ASSERT_EQ(quant::float_to_bits(a[kb].mn), quant::float_to_bits(b_or_c[kb].mn)) << where;
      ASSERT_EQ(quant::float_to_bits(a[kb].mx), quant::float_to_bits(b_or_c[kb].mx)) << where;
      if (a[kb].all_same) {
        ASSERT_EQ(a[kb].same_bits, b_or_c[kb].same_bits) << where;
      }
    }
    // (Counted on f32 rounds, whose elements are v's exactly.)
    for (uint64_t i = 0; t == DType::kF32 && i < n; ++i) {
      const uint64_t k = i / 32;
      bool finite = true;
      for (uint64_t j = k * 32; j < std::min<uint64_t>(n, k * 32 + 32); ++j)
        finite = finite && std::isfinite(v[j]);
      (finite ? finite_blocks : non_finite_blocks) += i % 32 == 0;
    }
  }
  // Both of the AVX2 set's paths must be reached, or this test proves nothing about one.
  EXPECT_GT(non_finite_blocks, 100u) << "seed " << seed;
  EXPECT_GT(finite_blocks, 100u) << "seed " << seed;
}

// The quantizer loops of each kernel set against scalar's, output by output: codes, outlier masks
// and the bits of every unit's error (which the dedup decisions read: a unit of a zero or
// constant block may only copy a unit of error exactly 0). Blocks on exact grid points with
// signed zeros among them (error 2^-149, not 0), values beyond the code range, non-finite
// values, every element type. Each set's listed form (a subset of the blocks) gives those
// blocks the same outputs and leaves the others untouched; so does each set's quantizer of codes
// in bytes (frames of W <= 8).
TEST(CodecBackend, Avx2QuantizersMatchScalarOutputByOutput) {
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  size_t signed_zero_units = 0;
  int narrow_rounds = 0;
  for (int round = 0; round < 300; ++round) {
    const DType t = (DType)(1 + rng() % 3);
    const uint64_t n = 32 * (1 + rng() % 40) + rng() % 32;
    const float step = std::ldexp(1.0f, (int)(rng() % 30) - 15);
    std::vector<float> v(n);
    for (uint64_t i = 0; i < n; ++i) {
      switch (rng() % 8) {
        case 0:
          v[i] = (rng() % 2) ? -0.0f : 0.0f;
          break;
        case 1:
          v[i] = step * (float)(int)(g(rng) * 20.0f);  // a grid point
          break;
        case 2:
          v[i] = rng() % 50 == 0 ? (rng() % 2 ? INFINITY : NAN) : step * g(rng) * 1e4f;
          break;
        default:
          v[i] = step * (float)(int)(g(rng) * 20.0f) + (rng() % 4 == 0 ? step * g(rng) : 0.0f);
          break;
      }
    }
    const std::vector<uint8_t> src = to_bytes(t, v);
    const uint64_t n_blocks = (n + 31) / 32, n_units = (n + 15) / 16;
    const cpu::StagedKernels& sa = cpu::scalar_backend().staged[(int)t];
    const cpu::StagedKernels& sb = cpu::avx2_backend()->staged[(int)t];
    struct Out {
      std::vector<uint32_t> codes, masks, err_bits;
    };
    // Every block (list null), or the listed ones.
    auto run = [&](const cpu::StagedKernels& k, bool local_mode,
                   const std::vector<local::BlockParams>& params, const quant::QuantParams& qp,
                   const std::vector<uint32_t>* list = nullptr) {
      Out o;
      o.codes.assign(n_units * 16, 0xdeadbeef);
      o.masks.assign(n_blocks, 0xdeadbeef);
      std::vector<float> err(n_units, -1.0f);
      const uint32_t none = 0;  // an empty list is a non-null pointer (null: every block)
      const uint32_t* blocks = list == nullptr ? nullptr : list->empty() ? &none : list->data();
      const uint64_t n_listed = list != nullptr ? list->size() : 0;
      if (local_mode)
        k.quantize_local(src.data(), n, params.data(), blocks, n_listed, o.codes.data(),
                         o.masks.data(), err.data());
      else
        k.quantize_global(src.data(), n, qp, blocks, n_listed, o.codes.data(), o.masks.data(),
                          err.data());
      for (float e : err) o.err_bits.push_back(quant::float_to_bits(e));
      return o;
    };
    // Local: each block's own decision (a bound of a grid step's half, so grid points are
    // exact), with an escape block now and then (a small reference exponent).
    std::vector<local::BlockStats> st(n_blocks);
    sa.block_stats(src.data(), n, st.data());
    const double bound = std::ldexp(1.0, -(int)(1 + rng() % 10));
    const uint32_t w = local::code_width(bound);
    std::vector<double> bounds(n_blocks, bound);
    const uint32_t e0 = cpu::scalar_backend().units->local_e0(st.data(), bounds.data(), n_blocks);
    std::vector<local::BlockParams> params(n_blocks);
    std::vector<uint32_t> rec(n_blocks), side(2 * n_blocks);
    // Full precision, or a packed frame's (steps of fewer mantissa bits, z on a coarser grid).
    const local::RecordPrecision prec = local::record_precision(bound, w, round % 2 == 1);
    for (uint64_t b = 0; b < n_blocks; ++b)
      local::decide(st[b], bound, rng() % 5 == 0 ? std::max(e0, 20u) - 16 : std::max(e0, 1u), w,
                    (uint8_t)t, prec, &rec[b], &side[2 * b], &params[b]);
    quant::QuantParams qp{};
    ASSERT_TRUE(quant::make_quant_params(step * 0.5, &qp));
    for (bool local_mode : {true, false}) {
      const Out a = run(sa, local_mode, params, qp), b = run(sb, local_mode, params, qp);
      ASSERT_EQ(a.codes, b.codes) << "round " << round << " local " << local_mode;
      ASSERT_EQ(a.masks, b.masks) << "round " << round << " local " << local_mode;
      ASSERT_EQ(a.err_bits, b.err_bits) << "round " << round << " local " << local_mode;
      for (uint32_t e : a.err_bits) signed_zero_units += e == 1u;
      // Frames of W <= 8 keep their codes in bytes (quantize_local_narrow): the same codes,
      // masks and errors from both sets, every block and a listed half (the others' bytes kept).
      if (local_mode && w <= 8) {
        std::vector<uint32_t> list;
        for (uint32_t blk = 0; blk < n_blocks; ++blk)
          if (rng() % 2) list.push_back(blk);
        for (const cpu::StagedKernels* k : {&sa, &sb}) {
          for (bool listed : {false, true}) {
            std::vector<uint8_t> codes8(n_units * 16, 0xab);
            std::vector<uint32_t> masks(n_blocks, 0xdeadbeef);
            std::vector<float> err(n_units, -1.0f);
            const uint32_t none = 0;
            const uint32_t* blocks = !listed ? nullptr : list.empty() ? &none : list.data();
            k->quantize_local_narrow(src.data(), n, params.data(), blocks, listed ? list.size() : 0,
                                     codes8.data(), masks.data(), err.data());
            std::vector<bool> in_list(n_blocks, !listed);  // every block when not listed
            if (listed)
              for (uint32_t blk : list) in_list[blk] = true;
            const std::string where = "round " + std::to_string(round) + " narrow" +
                                      (k == &sa ? " scalar" : " avx2") + (listed ? " listed" : "") +
                                      " seed " + std::to_string(seed);
            for (uint64_t blk = 0; blk < n_blocks; ++blk) {
              ASSERT_EQ(masks[blk], in_list[blk] ? a.masks[blk] : 0xdeadbeefu) << where;
              for (uint64_t i = 32 * blk; i < std::min<uint64_t>(32 * blk + 32, n); ++i)
                ASSERT_EQ((uint32_t)codes8[i], in_list[blk] ? a.codes[i] : 0xabu)
                    << where << " element " << i;
              for (uint64_t u = 2 * blk; u < std::min<uint64_t>(2 * blk + 2, n_units); ++u)
                ASSERT_EQ(quant::float_to_bits(err[u]),
                          in_list[blk] ? a.err_bits[u] : quant::float_to_bits(-1.0f))
                    << where << " unit " << u;
            }
          }
        }
        ++narrow_rounds;
      }
      // The listed form (the encoder's, which skips blocks of references): a random half of the
      // blocks, the partial last one among them at times, gets every block's outputs, and the
      // others keep what they held.
      std::vector<uint32_t> list;
      std::vector<bool> listed(n_blocks);
      for (uint32_t blk = 0; blk < n_blocks; ++blk)
        if (rng() % 2) {
          list.push_back(blk);
          listed[blk] = true;
        }
      for (const cpu::StagedKernels* k : {&sa, &sb}) {
        const Out l = run(*k, local_mode, params, qp, &list);
        const std::string where = "round " + std::to_string(round) + " local " +
                                  std::to_string(local_mode) + (k == &sa ? " scalar" : " avx2") +
                                  " seed " + std::to_string(seed);
        for (uint64_t blk = 0; blk < n_blocks; ++blk) {
          ASSERT_EQ(l.masks[blk], listed[blk] ? a.masks[blk] : 0xdeadbeefu) << where;
          for (uint64_t i = 32 * blk; i < std::min<uint64_t>(32 * blk + 32, n_units * 16); ++i)
            ASSERT_EQ(l.codes[i], listed[blk] ? a.codes[i] : 0xdeadbeefu) << where << " " << i;
          for (uint64_t u = 2 * blk; u < std::min<uint64_t>(2 * blk + 2, n_units); ++u)
            ASSERT_EQ(l.err_bits[u], listed[blk] ? a.err_bits[u] : quant::float_to_bits(-1.0f))
                << where << " unit " << u;
        }
      }
    }
  }
  // The data must reach the signed-zero case, or this test proves nothing about it.
  EXPECT_GT(signed_zero_units, 0u) << "seed " << seed;
  EXPECT_GT(narrow_rounds, 0) << "seed " << seed;
}

// A quantized block's codes_in_range, the hint that lets the AVX2 quantizer skip its range test,
// on blocks made to sit at the edge: the least element half a step below the zero point's grid,
// where the rounded quotient of the least element is -1 for some steps (the flag false) and 0
// for others. The AVX2 decisions give the scalar flag; where it is set no finite element's code
// is out of range; and both quantizers give the same codes, outlier masks and unit errors, with
// non-finite elements among them.
TEST(CodecBackend, Avx2QuantizerSkipsTheRangeTestOnlyWhereTheExtremesFit) {
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const cpu::StagedKernels& sa = cpu::scalar_backend().staged[(int)DType::kF32];
  const cpu::StagedKernels& sb = cpu::avx2_backend()->staged[(int)DType::kF32];
  uint64_t flag_set = 0, flag_clear = 0;
  for (int round = 0; round < 200; ++round) {
    const uint64_t n_blocks = 64, n = n_blocks * 32;
    const double bound = std::ldexp(1.0, -(int)(1 + rng() % 10)) * (0.5 + u(rng));
    const uint32_t w = local::code_width(bound);
    // One scale a round, so that every block's step is within the octaves of the reference.
    const double scale = std::ldexp(1.0, (int)(rng() % 40) - 20);
    std::vector<float> v(n);
    for (uint64_t b = 0; b < n_blocks; ++b) {
      const double range = scale * (0.5 + u(rng));
      const float s = quant::bits_to_float(local::step_bits_below(2.0 * bound * range));
      const float mn = s * (float)((int64_t)(rng() % 4096) - 2052) * 0.125f;
      const float mx = (float)((double)mn + range);
      for (uint64_t i = 0; i < 32; ++i) v[b * 32 + i] = mn + (mx - mn) * (float)u(rng);
      v[b * 32 + rng() % 32] = mn;
      v[b * 32 + rng() % 32] = mx;
      if (rng() % 8 == 0) v[b * 32 + rng() % 32] = rng() % 2 ? NAN : -INFINITY;
    }
    const std::vector<uint8_t> src = to_bytes(DType::kF32, v);
    std::vector<local::BlockStats> st(n_blocks);
    sa.block_stats(src.data(), n, st.data());
    const std::vector<double> bounds(n_blocks, bound);
    const uint32_t e0 = cpu::scalar_backend().units->local_e0(st.data(), bounds.data(), n_blocks);
    std::vector<local::BlockParams> pa(n_blocks), pb(n_blocks);
    std::vector<uint32_t> ra(n_blocks), rb(n_blocks), side_a(2 * n_blocks), side_b(2 * n_blocks);
    const uint8_t f32 = (uint8_t)DType::kF32;
    const local::RecordPrecision prec = local::record_precision(bound, w, round % 2 == 1);
    cpu::scalar_backend().units->decide_local(st.data(), bounds.data(), n_blocks, e0, w, f32, prec,
                                              ra.data(), side_a.data(), pa.data());
    cpu::avx2_backend()->units->decide_local(st.data(), bounds.data(), n_blocks, e0, w, f32, prec,
                                             rb.data(), side_b.data(), pb.data());
    for (uint64_t b = 0; b < n_blocks; ++b) {
      ASSERT_EQ(pa[b].kind, pb[b].kind) << "block " << b << " round " << round << " seed " << seed;
      ASSERT_EQ(pa[b].codes_in_range, pb[b].codes_in_range)
          << "block " << b << " round " << round << " seed " << seed;
      if (pa[b].kind != local::Kind::kQuant) continue;
      (pa[b].codes_in_range ? flag_set : flag_clear) += 1;
      if (!pa[b].codes_in_range) continue;
      for (uint64_t i = b * 32; i < b * 32 + 32; ++i) {
        if (!std::isfinite(v[i])) continue;
        const float q = local::rounded_quotient(v[i], pa[b]);
        ASSERT_TRUE(q >= 0.0f && q <= (float)pa[b].max_code)
            << "element " << i << " round " << round << " seed " << seed;
      }
    }
    std::vector<uint32_t> ca(n), cb(n), ma(n_blocks), mb(n_blocks);
    std::vector<float> ea(2 * n_blocks), eb(2 * n_blocks);
    sa.quantize_local(src.data(), n, pa.data(), nullptr, 0, ca.data(), ma.data(), ea.data());
    sb.quantize_local(src.data(), n, pa.data(), nullptr, 0, cb.data(), mb.data(), eb.data());
    ASSERT_EQ(ca, cb) << "round " << round << " seed " << seed;
    ASSERT_EQ(ma, mb) << "round " << round << " seed " << seed;
    for (uint64_t k = 0; k < 2 * n_blocks; ++k)
      ASSERT_EQ(quant::float_to_bits(ea[k]), quant::float_to_bits(eb[k]))
          << "unit " << k << " round " << round << " seed " << seed;
  }
  // Both of the AVX2 quantizer's paths, or this test proves nothing about one.
  EXPECT_GT(flag_clear, 100u) << "seed " << seed;
  EXPECT_GT(flag_set, 1000u) << "seed " << seed;
}

// The local mode's decisions of each kernel set: the same reference exponent, records, side
// entries and parameters as local::decide, for block ranges from the smallest floats to the
// largest, offsets that put zero outside the code range, special blocks and mixed bounds.
TEST(CodecBackend, Avx2LocalDecisionsMatchScalar) {
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  const cpu::UnitKernels& avx2 = *cpu::avx2_backend()->units;
  const cpu::UnitKernels& scalar = *cpu::scalar_backend().units;
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int round = 0; round < 200; ++round) {
    const uint64_t n = 1 + rng() % 300;
    std::vector<local::BlockStats> st(n);
    std::vector<double> bound(n);
    const double base_bound = std::pow(10.0, -1.0 - 4.0 * u(rng));
    for (uint64_t r = 0; r < n; ++r) {
      const float scale = (float)std::ldexp(1.0, (int)(rng() % 240) - 130);  // 2^-130 .. 2^110
      float a = (float)(scale * (2.0 * u(rng) - 1.0));
      float b = (float)(scale * (2.0 * u(rng) - 1.0));
      if (rng() % 4 == 0) b = a + (float)(scale * 1e-6 * u(rng));  // ranges far from zero
      local::BlockStats x{std::min(a, b), std::max(a, b), true, false, 0};
      switch (rng() % 16) {
        case 0:
          x = {INFINITY, -INFINITY, false, false, 0};
          break;  // no finite element
        case 1:
          x = {a, a, true, true, quant::float_to_bits(a)};
          break;  // constant
        case 2:
          x = {0.0f, 0.0f, true, true, 0};
          break;  // zero block
        default:
          break;
      }
      st[r] = x;
      bound[r] = rng() % 3 == 0 ? base_bound * (1 + rng() % 5) : base_bound;
    }
    const uint32_t e0_scalar = scalar.local_e0(st.data(), bound.data(), n);
    ASSERT_EQ(avx2.local_e0(st.data(), bound.data(), n), e0_scalar) << "round " << round;
    const uint32_t w = local::code_width(base_bound);
    ASSERT_GT(w, 0u);
    // The frame's e0, and smaller ones that push blocks out of the octaves (escape records).
    // Every element type: f16 and bf16 want smaller steps (local::wanted_step).
    // Full precision, a packed frame's, and the coarsest (which sends many blocks to escapes).
    const local::RecordPrecision precs[] = {
        local::RecordPrecision{}, local::record_precision(base_bound, w, true),
        local::RecordPrecision{local::kMaxMantShift, local::kMaxZShift}};
    for (uint32_t e0 : {std::max(e0_scalar, 1u), std::max(e0_scalar, 20u) - 10, 1u})
      for (DType t : {DType::kF32, DType::kF16, DType::kBF16})
        for (const local::RecordPrecision& prec : precs) {
          std::vector<uint32_t> rec_a(n), rec_b(n), side_a(2 * n, 7), side_b(2 * n, 9);
          std::vector<local::BlockParams> par_a(n), par_b(n);
          scalar.decide_local(st.data(), bound.data(), n, e0, w, (uint8_t)t, prec, rec_a.data(),
                              side_a.data(), par_a.data());
          avx2.decide_local(st.data(), bound.data(), n, e0, w, (uint8_t)t, prec, rec_b.data(),
                            side_b.data(), par_b.data());
          ASSERT_EQ(rec_a, rec_b) << "round " << round << " e0 " << e0 << " dtype " << (int)t
                                  << " mant_shift " << prec.mant_shift << " z_shift "
                                  << prec.z_shift;
          ASSERT_EQ(side_a, side_b) << "round " << round << " e0 " << e0 << " dtype " << (int)t;
          for (uint64_t r = 0; r < n; ++r) {
            const local::BlockParams& a = par_a[r];
            const local::BlockParams& b = par_b[r];
            ASSERT_EQ(a.kind, b.kind) << "record " << r << " dtype " << (int)t;
            ASSERT_EQ(a.codes_in_range, b.codes_in_range) << "record " << r;
            for (auto f :
                 {&local::BlockParams::step, &local::BlockParams::inv_step, &local::BlockParams::zf,
                  &local::BlockParams::zs, &local::BlockParams::offset, &local::BlockParams::value,
                  &local::BlockParams::eb_check})
              ASSERT_EQ(quant::float_to_bits(a.*f), quant::float_to_bits(b.*f)) << "record " << r;
            ASSERT_EQ(a.max_code, b.max_code) << "record " << r;
          }
        }
  }
}

// The rANS symbols of codes wider than a byte: each kernel set's unit_symbols against the
// definition (codes >> shift, a byte each), for every shift a code width of 9 to 32 bits gives,
// odd and even unit counts, units listed out of order and repeated; nothing written past the
// n units' bytes.
TEST(CodecBackend, UnitSymbolsMatchDefinition) {
  std::vector<const cpu::UnitKernels*> sets = {cpu::scalar_backend().units};
  if (cpu::avx2_backend()) sets.push_back(cpu::avx2_backend()->units);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    const uint32_t bits = 9 + (uint32_t)(rng() % 24);
    const uint32_t shift = bits - 8;
    const uint64_t n_units = 1 + rng() % 40;
    std::vector<uint32_t> codes(n_units * kUnitElems);
    for (uint32_t& c : codes)  // every code below 2^bits, the top values included
      c = (uint32_t)(rng() % 4 == 0 ? (1ull << bits) - 1 - rng() % 4
                                    : rng() & ((1ull << bits) - 1));
    const uint64_t n = rng() % (2 * n_units + 1);
    std::vector<uint32_t> units(n);
    for (uint32_t& u : units) u = (uint32_t)(rng() % n_units);
    std::vector<uint8_t> want(n * kUnitElems + 32, 0xa5);
    for (uint64_t k = 0; k < n; ++k)
      for (uint32_t j = 0; j < kUnitElems; ++j)
        want[k * kUnitElems + j] = (uint8_t)(codes[units[k] * kUnitElems + j] >> shift);
    for (const cpu::UnitKernels* set : sets) {
      std::vector<uint8_t> got(n * kUnitElems + 32, 0xa5);
      set->unit_symbols(codes.data(), units.data(), n, shift, got.data());
      ASSERT_EQ(got, want) << "round " << round << " bits " << bits << " units " << n << " seed "
                           << seed;
    }
  }
}

// The decoder's record reader: every backend reads the same leading run of valid kQuant records,
// each as local::parse and local::dequant_of make it, bit for bit, and stops at the first other
// record (special kinds, and octaves at or above E0, which parse rejects); it reads no byte past
// the n records (the buffer ends there, so ASan would see one).
TEST(CodecBackend, LocalRecordReadersMatchParse) {
  std::vector<const cpu::UnitKernels*> sets = {cpu::scalar_backend().units};
  if (cpu::avx2_backend()) sets.push_back(cpu::avx2_backend()->units);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    const uint64_t n = rng() % 40;
    const uint32_t e0 = 1 + (uint32_t)(rng() % 254);
    std::vector<uint8_t> bytes(n * local::kRecordBytes);
    for (uint64_t r = 0; r < n; ++r) {
      uint32_t record = (uint32_t)rng() & 0xffffffu;
      // Mostly valid kQuant records (octave below E0 and 15), some special or invalid ones.
      const uint32_t limit = std::min<uint32_t>(e0, local::kSpecialOctave);
      if (rng() % 8 != 0) record = (record & ~15u) | (uint32_t)(rng() % limit);
      local::store_record(bytes.data() + local::kRecordBytes * r, record);
    }
    // The expected run, from parse.
    uint64_t expect = 0;
    std::vector<local::Dequant> want(n);
    for (; expect < n; ++expect) {
      const uint32_t record = local::load_record(bytes.data() + local::kRecordBytes * expect);
      local::BlockParams p;
      if (!local::is_quant_record(record) || !local::parse(record, nullptr, e0, 8, &p)) break;
      want[expect] = local::dequant_of(p);
    }
    for (const cpu::UnitKernels* k : sets) {
      std::vector<uint8_t> exact(bytes);  // its own allocation of exactly n records
      std::vector<local::Dequant> got(n, local::Dequant{-1.0f, -1.0f});
      const uint64_t read = k->local_dequants(exact.data(), n, e0, got.data());
      ASSERT_EQ(read, expect) << "round " << round << " n " << n << " e0 " << e0 << " seed "
                              << seed;
      for (uint64_t r = 0; r < read; ++r) {
        ASSERT_EQ(quant::float_to_bits(got[r].step), quant::float_to_bits(want[r].step))
            << "record " << r << " round " << round << " seed " << seed;
        ASSERT_EQ(quant::float_to_bits(got[r].add), quant::float_to_bits(want[r].add))
            << "record " << r << " round " << round << " seed " << seed;
      }
    }
  }
}

// The packed records' reader (local_dequants_packed): every backend reads, from any first record,
// the same leading run of records that expand (local::packed_record) to valid kQuant ones, each
// as local::parse and local::dequant_of make it, bit for bit, and stops at the first other; it
// reads no byte past the records (the buffer ends there, so ASan would see one).
TEST(CodecBackend, PackedRecordReadersMatchParse) {
  std::vector<const cpu::UnitKernels*> sets = {cpu::scalar_backend().units};
  if (cpu::avx2_backend()) sets.push_back(cpu::avx2_backend()->units);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  uint64_t long_runs = 0;
  for (int round = 0; round < 3000; ++round) {
    local::PackedLayout l;
    l.oct_min = (uint32_t)(rng() % 16);
    l.oct_bits = (uint32_t)(rng() % 5);
    l.mant_shift = (uint32_t)(rng() % (local::kMaxMantShift + 1));
    l.z_shift = (uint32_t)(rng() % (local::kMaxZShift + 1));
    l.z_min = (uint32_t)(rng() % 2048) >> l.z_shift << l.z_shift;
    l.z_bits = (uint32_t)(rng() % 12);
    l.record_bits = local::packed_record_bits(l);
    const uint64_t n = rng() % 90;
    const uint32_t e0 = 1 + (uint32_t)(rng() % 254);
    std::vector<uint8_t> bytes((n * l.record_bits + 7) / 8);
    // Mostly fields of valid kQuant records (an octave below E0 and 15, z at most 2047), some
    // that name special or no records.
    const uint32_t limit = std::min<uint32_t>(e0, local::kSpecialOctave);
    std::vector<uint32_t> fields(n);
    for (uint64_t r = 0; r < n; ++r) {
      uint32_t f = (uint32_t)rng() & ((1u << l.record_bits) - 1u);
      if (rng() % 16 != 0 && l.oct_min < limit) {
        const uint32_t span = std::min<uint32_t>(limit - l.oct_min, 1u << l.oct_bits);
        const uint32_t room = (local::kMaxZ - l.z_min) >> l.z_shift;
        const uint32_t zf = std::min<uint32_t>(f >> (l.record_bits - l.z_bits), room);
        f = (uint32_t)(rng() % span) | (f & ~((1u << l.oct_bits) - 1u));
        f = (f & ((1u << (l.record_bits - l.z_bits)) - 1u)) | zf << (l.record_bits - l.z_bits);
      }
      fields[r] = f;  // the fields as they are, valid or not
    }
    uint64_t next = 0;
    local::write_packed_bytes(bytes.data(), l.record_bits, 0, n, n,
                              [&]() { return fields[next++]; });
    const uint64_t first = n > 0 ? rng() % (n + 1) : 0;
    uint64_t expect = 0;
    std::vector<local::Dequant> want(n);
    for (; first + expect < n; ++expect) {
      const uint32_t record = local::packed_record(bytes.data(), bytes.size(), l, first + expect);
      local::BlockParams p;
      if (!local::is_quant_record(record) || !local::parse(record, nullptr, e0, 8, &p)) break;
      want[expect] = local::dequant_of(p);
    }
    long_runs += expect >= 16;
    for (const cpu::UnitKernels* k : sets) {
      std::vector<uint8_t> exact(bytes);  // its own allocation of exactly the records' bytes
      std::vector<local::Dequant> got(n, local::Dequant{-1.0f, -1.0f});
      const uint64_t read =
          k->local_dequants_packed(exact.data(), exact.size(), l, first, n - first, e0, got.data());
      ASSERT_EQ(read, expect) << "round " << round << " n " << n << " first " << first << " bits "
                              << l.record_bits << " seed " << seed;
      for (uint64_t r = 0; r < read; ++r) {
        ASSERT_EQ(quant::float_to_bits(got[r].step), quant::float_to_bits(want[r].step))
            << "record " << r << " round " << round << " seed " << seed;
        ASSERT_EQ(quant::float_to_bits(got[r].add), quant::float_to_bits(want[r].add))
            << "record " << r << " round " << round << " seed " << seed;
      }
    }
  }
  EXPECT_GT(long_runs, 100u) << "seed " << seed;
}

// The decoder's local writer from byte codes (write_local_narrow, the rANS codes of frames of
// W <= 8) against its writer of 32-bit codes, in both sets and for every element type: the same
// bytes at the listed units (increasing, the frame's partial last unit among them at times),
// nothing written elsewhere.
TEST(CodecBackend, LocalWritersOfByteCodesMatchWide) {
  std::vector<const cpu::StagedKernels*> sets = {cpu::scalar_backend().staged};
  if (cpu::avx2_backend()) sets.push_back(cpu::avx2_backend()->staged);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    const uint64_t n = 1 + rng() % 2000;
    const uint64_t n_units = (n + 15) / 16, n_blocks = (n + 31) / 32;
    std::vector<local::Dequant> dq(n_blocks);
    for (local::Dequant& d : dq) {
      d.step = std::ldexp(1.0f + (float)(rng() % 512) / 512.0f, (int)(rng() % 40) - 30);
      d.add = (float)((int)(rng() % 4001) - 2000) * d.step / 8.0f;
    }
    std::vector<uint32_t> units;
    for (uint32_t u = 0; u < n_units; ++u)
      if (rng() % 3 != 0) units.push_back(u);
    std::vector<uint32_t> wide(units.size() * 16);
    std::vector<uint8_t> bytes(wide.size());
    for (size_t k = 0; k < wide.size(); ++k)
      bytes[k] = (uint8_t)(wide[k] = (uint32_t)(rng() % 256));
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      const size_t es = dtype_size(t);
      std::vector<uint8_t> want(n * es, 0x5a);
      sets[0][(int)t].write_local(dq.data(), units.data(), units.size(), n, wide.data(),
                                  want.data());
      for (const cpu::StagedKernels* k : sets) {
        std::vector<uint8_t> from_wide(n * es, 0x5a), from_bytes(n * es, 0x5a);
        k[(int)t].write_local(dq.data(), units.data(), units.size(), n, wide.data(),
                              from_wide.data());
        k[(int)t].write_local_narrow(dq.data(), units.data(), units.size(), n, bytes.data(),
                                     from_bytes.data());
        const std::string where = std::string(k == sets[0] ? "scalar " : "avx2 ") + dtype_name(t) +
                                  " round " + std::to_string(round) + " seed " +
                                  std::to_string(seed);
        ASSERT_EQ(from_wide, want) << where;
        ASSERT_EQ(from_bytes, want) << where;
      }
    }
  }
}

// list_nonzero of every set against the definition (the indices of the nonzero flags, in order),
// at every length from 0 to 100 and a few long ones, at densities from none to all, flag values
// other than 1 included; and the entries past the count may hold anything, but nothing past
// list[n - 1] is written.
TEST(CodecBackend, ListNonzeroMatchesDefinition) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<const cpu::UnitKernels*> sets = {cpu::scalar_backend().units};
  if (cpu::avx2_backend()) sets.push_back(cpu::avx2_backend()->units);
  for (int round = 0; round < 300; ++round) {
    const uint64_t n = round <= 100 ? (uint64_t)round : 100 + rng() % 5000;
    const uint32_t per_mille = (uint32_t)(rng() % 1001);
    std::vector<uint8_t> flags(n);
    std::vector<uint32_t> want;
    for (uint64_t u = 0; u < n; ++u) {
      flags[u] = rng() % 1000 < per_mille ? (uint8_t)(1 + rng() % 255) : 0;
      if (flags[u] != 0) want.push_back((uint32_t)u);
    }
    for (const cpu::UnitKernels* k : sets) {
      constexpr uint32_t kGuard = 0xdeadbeefu;
      std::vector<uint32_t> list(n + 8, kGuard);
      const uint64_t count = k->list_nonzero(flags.data(), n, list.data());
      const std::string where = std::string(k == sets[0] ? "scalar" : "avx2") + " n " +
                                std::to_string(n) + " round " + std::to_string(round) + " seed " +
                                std::to_string(seed);
      ASSERT_EQ(count, want.size()) << where;
      ASSERT_TRUE(std::equal(want.begin(), want.end(), list.begin())) << where;
      for (uint64_t i = n; i < n + 8; ++i) ASSERT_EQ(list[i], kGuard) << where << " index " << i;
    }
  }
}

#if defined(__x86_64__)
TEST(CodecBackend, IgnoresCallersFlushToZeroMode) {
  std::vector<float> v(256);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::ldexp((float)(i + 1), -140);
  v[0] = 1e-3f;
  const std::vector<uint8_t> src = to_bytes(DType::kF32, v);
  CodecParams p;
  p.dtype = DType::kF32;
  p.mode = BoundMode::kAbs;
  p.bound = 1e-42;  // subnormal step: a raw frame; and a normal one below
  for (double bound : {1e-42, 1e-38}) {
    p.bound = bound;
    std::vector<uint8_t> a(max_frame_bytes(src.size())), b(a.size());
    size_t fa = 0, fb = 0;
    ASSERT_EQ(compress(p, src.data(), src.size(), a.data(), a.size(), &fa), Status::kOk);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040);  // FTZ | DAZ
    ASSERT_EQ(compress(p, src.data(), src.size(), b.data(), b.size(), &fb), Status::kOk);
    std::vector<uint8_t> out(src.size());
    size_t ob = 0;
    ASSERT_EQ(decompress(b.data(), fb, out.data(), out.size(), &ob), Status::kOk);
    const unsigned during = _mm_getcsr();
    _mm_setcsr(saved);
    EXPECT_EQ(during, saved | 0x8040) << "caller's control word not restored";
    ASSERT_EQ(fa, fb);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), fa), 0);
    RoundTrip r;
    r.frame.assign(b.begin(), b.begin() + fb);
    r.output = out;
    r.stats.frame_bytes = fb;
    r.stats.input_bytes = src.size();
    FrameInfo info;
    ASSERT_EQ(read_frame_info(b.data(), fb, &info), Status::kOk);
    r.stats.method = info.method;
    r.stats.version = info.version;
    r.stats.outliers = info.outliers;
    r.stats.applied_bound = info.applied_bound;
    expect_valid_round_trip(p, src.data(), src.size(), r);
  }
}
#endif

}  // namespace
}  // namespace squeeze::test
