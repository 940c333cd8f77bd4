// The local bound on the payload that defeats a frame-relative one: interleaved tables of very
// different scales, as a rank's pooled embeddings are laid out (issue: the default bound erases
// large embedding tables). Every element within its bound in every mode and dtype; in local mode
// no table loses more than 1% of its signal at the default bound, including degenerate tables.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/format/staged.h"
#include "compress/methods/local.h"
#include "squeeze/codec.h"

namespace squeeze {
namespace {

using test::elem_value;

constexpr size_t kDim = 64;

struct Table {
  const char* name;
  double scale;  // values uniform in +-scale (0: special content)
};

// Rows of 10 tables of dim 64: seven at initialisation scales (+-1/sqrt(rows) for 10^6 down to 10
// rows), then an all-zero table, a table whose vectors hold one non-zero value, a constant table.
// NaN and Inf are sprinkled into the seven.
const Table kTables[] = {{"1e6 rows", 1e-3},   {"1e6 rows", 1e-3},   {"1e5 rows", 3.2e-3},
                         {"3e4 rows", 5.8e-3}, {"1e3 rows", 3.2e-2}, {"100 rows", 0.1},
                         {"10 rows", 0.32},    {"all zero", 0.0},    {"one non-zero", 0.0},
                         {"constant", 0.0}};
constexpr size_t kTables_n = sizeof(kTables) / sizeof(kTables[0]);
constexpr size_t kWidth = kTables_n * kDim;

std::vector<float> make_rows(size_t n_rows, std::mt19937_64& rng) {
  std::vector<float> v(n_rows * kWidth);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (size_t r = 0; r < n_rows; ++r)
    for (size_t t = 0; t < kTables_n; ++t)
      for (size_t d = 0; d < kDim; ++d) {
        float& x = v[r * kWidth + t * kDim + d];
        if (kTables[t].scale > 0) {
          x = (float)(kTables[t].scale * u(rng));
        } else if (t == 7) {
          x = 0.0f;
        } else if (t == 8) {
          x = d == r % kDim ? 0.5f : 0.0f;
        } else {
          x = 0.125f;
        }
      }
  // Non-finite values in some vectors of the scaled tables.
  for (size_t k = 0; k < n_rows / 4; ++k) {
    const size_t i = (rng() % n_rows) * kWidth + (rng() % 7) * kDim + rng() % kDim;
    v[i] = k % 3 == 0   ? std::numeric_limits<float>::quiet_NaN()
           : k % 3 == 1 ? std::numeric_limits<float>::infinity()
                        : -std::numeric_limits<float>::infinity();
  }
  return v;
}

// rms(y - x) / rms(x) of table t over the finite elements.
double table_error(DType dt, const std::vector<uint8_t>& x, const std::vector<uint8_t>& y,
                   size_t n_rows, size_t t) {
  double sx = 0, se = 0;
  for (size_t r = 0; r < n_rows; ++r)
    for (size_t d = 0; d < kDim; ++d) {
      const size_t i = r * kWidth + t * kDim + d;
      const double a = elem_value(dt, x.data(), i), b = elem_value(dt, y.data(), i);
      if (!std::isfinite(a)) continue;
      sx += a * a;
      se += (b - a) * (b - a);
    }
  return sx > 0 ? std::sqrt(se / sx) : (se > 0 ? INFINITY : 0.0);
}

// NCCL cuts a message into 128 KiB steps: the round trip of every step, as the plugin does.
std::vector<uint8_t> round_trip_steps(const CodecParams& p, const std::vector<uint8_t>& src) {
  std::vector<uint8_t> out(src.size());
  const size_t step = 128 << 10;
  for (size_t off = 0; off < src.size(); off += step) {
    const size_t len = std::min(step, src.size() - off);
    const test::RoundTrip r = test::round_trip(p, src.data() + off, len);
    test::expect_valid_round_trip(p, src.data() + off, len, r);  // the bound on every element
    if (::testing::Test::HasFailure()) return out;
    std::copy(r.output.begin(), r.output.end(), out.begin() + off);
  }
  return out;
}

TEST(LocalBound, NoTableLosesItsSignalAtTheDefault) {
  std::mt19937_64 rng(test::test_seed());
  const size_t n_rows = 512;  // one rank's 512 samples
  const std::vector<float> v = make_rows(n_rows, rng);
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dt));
    const std::vector<uint8_t> src = test::to_bytes(dt, v);
    CodecParams p;  // the defaults: local, INT8 row-wise's per-vector precision
    p.dtype = dt;
    ASSERT_EQ(p.mode, BoundMode::kLocal);
    ASSERT_EQ(p.bound, kInt8MatchingLocalBound);
    const std::vector<uint8_t> out = round_trip_steps(p, src);
    if (HasFailure()) return;
    for (size_t t = 0; t < kTables_n; ++t) {
      const double e = table_error(dt, src, out, n_rows, t);
      EXPECT_LT(e, 0.01) << "table " << t << " (" << kTables[t].name << ")";
      if (kTables[t].scale == 0 && t != 8) {
        EXPECT_EQ(e, 0.0) << "table " << t << " (" << kTables[t].name << ") must be exact";
      }
    }
  }
}

// The same payload in every mode and dtype, at tight and loose bounds: every element within its
// bound (checked element by element by expect_valid_round_trip), and what the frame-wide modes do
// to the smallest tables, for the record: they lose most of their signal at rel 1e-2.
TEST(LocalBound, EveryModeHoldsItsBoundOnInterleavedScales) {
  std::mt19937_64 rng(test::test_seed());
  const size_t n_rows = 256;
  const std::vector<float> v = make_rows(n_rows, rng);
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16})
    for (BoundMode m : {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal})
      for (double b : {1e-4, 1e-3, 1e-2, 5e-2}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " mode " + std::to_string((int)m) + " bound " +
                     std::to_string(b));
        const std::vector<uint8_t> src = test::to_bytes(dt, v);
        CodecParams p;
        p.dtype = dt;
        p.mode = m;
        p.bound = b;
        const std::vector<uint8_t> out = round_trip_steps(p, src);
        if (HasFailure()) return;
        const double small = table_error(dt, src, out, n_rows, 0);
        if (m == BoundMode::kLocal) {
          EXPECT_LT(small, 4.0 * b) << "local: a table keeps its own precision";
        }
        if (m == BoundMode::kRel && b == 1e-2) {
          EXPECT_GT(small, 0.5) << "rel 1e-2 rounds the 10^6-row tables to (mostly) zero";
        }
      }
}

std::vector<float> read_corpus(const char* name) {
  return test::read_f32_file(std::string(SQUEEZE_TEST_CORPUS_DIR) + "/" + name);
}

// local::frame_code_width's threshold: 3 elements near the largest magnitude per sampled block,
// never past the format's 24 bits, never for a frame that cannot be quantized locally (0).
TEST(LocalBound, FrameCodeWidthRule) {
  EXPECT_EQ(local::frame_code_width(8, 3 * 64, 64), 9u);
  EXPECT_EQ(local::frame_code_width(8, 3 * 64 - 1, 64), 8u);
  EXPECT_EQ(local::frame_code_width(8, 0, 0), 8u);
  EXPECT_EQ(local::frame_code_width(local::kMaxWidth, 32 * 64, 64), local::kMaxWidth);
  EXPECT_EQ(local::frame_code_width(0, 32 * 64, 64), 0u);
  // f32 frames, and blocks without a range, never want wider codes.
  const local::BlockStats wide{-1.0f, 1.0f, true, false, 0};
  EXPECT_FALSE(local::wants_wider_codes((uint8_t)DType::kF32, wide, kInt8MatchingLocalBound, 8));
  const local::BlockStats same{0.5f, 0.5f, true, true, 0x3f000000u};
  EXPECT_FALSE(local::wants_wider_codes((uint8_t)DType::kBF16, same, kInt8MatchingLocalBound, 8));
  EXPECT_TRUE(local::near_largest(-0.5f, wide));
  EXPECT_FALSE(local::near_largest(0.4999f, wide));
  EXPECT_FALSE(local::near_largest(std::numeric_limits<float>::quiet_NaN(), wide));
}

// Trained payloads rounded to f16 and bf16, in NCCL's 128 KiB steps: at INT8's precision
// (1.96e-3), where the types' gaps near a block's largest magnitudes approach the bound, every
// frame that may be entropy coded takes one more bit of code width (local::frame_code_width,
// samples_width); at the default bound (1e-2),
// and in f32 at either, the frames keep the bound's width. Against the same frames at the bound's
// width (a layout of one table with the same bound keeps it, and no row records: the frames are
// otherwise the same), fewer elements stored whole and fewer bytes. Every element within its
// bound either way (expect_valid_round_trip).
TEST(LocalBound, SixteenBitFramesTakeWiderCodesWhereTheTypeNearsTheBound) {
  for (const char* file : {"d64_late_fwd_r3_to_r0.f32", "d128_late_fwd_r0_to_r1.f32",
                           "mixed_late_fwd_r3_to_r0.f32", "d64_early_bwd_r0_to_r3.f32"}) {
    SCOPED_TRACE(file);
    const std::vector<float> v = read_corpus(file);
    ASSERT_GE(v.size(), 65536u) << "corpus file missing or short";
    for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (double bound : {kInt8MatchingLocalBound, 1e-2}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " + std::to_string(bound));
        const std::vector<uint8_t> src = test::to_bytes(dt, v);
        const uint32_t cols[1] = {64};
        const double bounds[1] = {bound};
        RowLayout one_table;
        one_table.row_elems = 64;
        one_table.n_tables = 1;
        one_table.table_cols = cols;
        one_table.table_bounds = bounds;
        CodecParams p;
        p.dtype = dt;
        p.bound = bound;
        p.caps = kCapsAll & ~kCapRowRecords;
        CodecParams kept = p;
        kept.layout = &one_table;
        // Where rANS would have to save a bit a value, or the receiver lacks it, the frames keep
        // the bound's width too (local::samples_width), and are the layout's frames.
        CodecParams fixed_gain = p;
        fixed_gain.rans_min_gain = 256;
        CodecParams no_rans = p;
        no_rans.caps &= ~kCapRans;
        CodecParams no_rans_kept = kept;
        no_rans_kept.caps &= ~kCapRans;
        const uint32_t base = local::code_width(bound);
        const bool wider = dt != DType::kF32 && bound == kInt8MatchingLocalBound;
        uint64_t outliers = 0, kept_outliers = 0, bytes = 0, kept_bytes = 0;
        const size_t step = 128 << 10;
        for (size_t off = 0; off + step <= src.size(); off += step) {
          const test::RoundTrip r = test::round_trip(p, src.data() + off, step);
          test::expect_valid_round_trip(p, src.data() + off, step, r);
          const test::RoundTrip k = test::round_trip(kept, src.data() + off, step);
          test::expect_valid_round_trip(kept, src.data() + off, step, k);
          if (HasFailure()) return;
          EXPECT_EQ(test::local_code_width(r.frame), wider ? base + 1 : base) << "step at " << off;
          EXPECT_EQ(test::local_code_width(k.frame), base) << "step at " << off;
          const test::RoundTrip g = test::round_trip(fixed_gain, src.data() + off, step);
          EXPECT_EQ(test::local_code_width(g.frame), base) << "step at " << off;
          EXPECT_EQ(test::round_trip(no_rans, src.data() + off, step).frame,
                    test::round_trip(no_rans_kept, src.data() + off, step).frame)
              << "step at " << off;
          if (!wider) {
            EXPECT_EQ(r.frame, k.frame) << "step at " << off;
          }
          outliers += r.stats.outliers;
          kept_outliers += k.stats.outliers;
          bytes += r.frame.size();
          kept_bytes += k.frame.size();
        }
        if (wider) {
          std::printf("%s %s: outliers %llu -> %llu, bytes %llu -> %llu\n", file, dtype_name(dt),
                      (unsigned long long)kept_outliers, (unsigned long long)outliers,
                      (unsigned long long)kept_bytes, (unsigned long long)bytes);
          EXPECT_LT(outliers * 10, kept_outliers * 7);
          EXPECT_LT(bytes, kept_bytes);
        }
      }
    }
  }
}

}  // namespace
}  // namespace squeeze
