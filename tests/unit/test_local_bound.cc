// The local bound on the payload that defeats a frame-relative one: interleaved tables of very
// different scales, as a rank's pooled embeddings are laid out (issue: the default bound erases
// large embedding tables). Every element within its bound in every mode and dtype; in local mode
// no table loses more than 1% of its signal at the default bound, including degenerate tables.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
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

}  // namespace
}  // namespace squeeze
