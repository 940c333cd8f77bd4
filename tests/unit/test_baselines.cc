// Unit tests of squeeze-bench's TorchRec-alternative baselines (tools/bench/baselines.h): exact
// codes for known values, encoded sizes, and the error each format promises, checked on every
// element in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "compress/quant.h"
#include "tools/bench/baselines.h"
#include "tools/bench/datagen.h"

namespace squeeze::bench {
namespace {

uint64_t test_seed() {
  const char* env = std::getenv("SQUEEZE_TEST_SEED");
  const uint64_t seed = env ? std::strtoull(env, nullptr, 0) : 20240917u;
  std::printf("baselines test seed: %llu (set SQUEEZE_TEST_SEED to repeat)\n",
              (unsigned long long)seed);
  return seed;
}

std::vector<float> round_trip(Baseline b, const std::vector<float>& x, size_t row_dim) {
  std::vector<uint8_t> enc(baseline_encoded_bytes(b, x.size(), row_dim));
  std::vector<float> dec(x.size());
  baseline_encode(b, x.data(), x.size(), row_dim, enc.data());
  baseline_decode(b, enc.data(), x.size(), row_dim, dec.data());
  return dec;
}

TEST(Baselines, EncodedSizes) {
  // 1024 fp32 values = 4096 bytes.
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kFP16, 1024, 32), 2048u);
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kBF16, 1024, 32), 2048u);
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kInt8Rowwise, 1024, 32), 32u * 40u);  // 3.2x
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kInt8Rowwise, 1024, 64), 16u * 72u);
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kFP8, 1024, 32), 1024u);
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kMX4, 1024, 32), 512u + 32u);  // N/2 + N/32
  // Partial last row / group.
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kInt8Rowwise, 33, 32), 40u + 9u);
  EXPECT_EQ(baseline_encoded_bytes(Baseline::kMX4, 33, 32), 17u + 2u);
}

TEST(Baselines, HalfAndBfloatCastsRoundToNearestEven) {
  // 1 + 2^-11 is halfway between two halves: ties to the even 1.0; 1 + 3 * 2^-11 goes up.
  const std::vector<float> x = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 70000.0f, -1e9f};
  const std::vector<float> h = round_trip(Baseline::kFP16, x, 32);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], 1.0f + 0x1p-9f);
  EXPECT_EQ(h[2], 65504.0f);  // clamped to the largest half, not Inf
  EXPECT_EQ(h[3], -65504.0f);
  const std::vector<float> xb = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 3.0e38f};
  const std::vector<float> b = round_trip(Baseline::kBF16, xb, 32);
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], 1.0f + 0x1p-6f);
  EXPECT_TRUE(std::isfinite(b[2]));
}

// The FP16 cast (F16C instructions where present) gives the bits of the portable reference
// conversion on every finite value, subnormals and the clamp included; lengths not a multiple of
// the vector width exercise the tail.
TEST(Baselines, Fp16CastMatchesReferenceConversion) {
  std::mt19937_64 rng(test_seed());
  std::vector<float> x(1000 + 5);
  for (auto& v : x) {
    const uint32_t bits = (uint32_t)rng();
    v = quant::bits_to_float(bits);
    if (!std::isfinite(v)) v = 1.0f;
  }
  x[0] = 6e-8f;  // half subnormal
  x[1] = 65520.0f;
  x[2] = -0.0f;
  std::vector<uint8_t> enc(2 * x.size());
  baseline_encode(Baseline::kFP16, x.data(), x.size(), 32, enc.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const float c = std::fmin(std::fmax(x[i], -65504.0f), 65504.0f);
    uint16_t h;
    std::memcpy(&h, enc.data() + 2 * i, 2);
    ASSERT_EQ(h, quant::float_to_half_rn(c)) << i << " " << x[i];
  }
  const std::vector<float> dec = round_trip(Baseline::kFP16, x, 32);
  for (size_t i = 0; i < x.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, enc.data() + 2 * i, 2);
    ASSERT_EQ(quant::float_to_bits(dec[i]), quant::float_to_bits(quant::half_to_float(h)));
  }
}

TEST(Baselines, Int8RowwiseKnownRow) {
  // Row 0..31 * 0.5: min 0, max 15.5, scale 15.5 / 255.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[(size_t)i] = 0.5f * (float)i;
  std::vector<uint8_t> enc(baseline_encoded_bytes(Baseline::kInt8Rowwise, 32, 32));
  baseline_encode(Baseline::kInt8Rowwise, x.data(), 32, 32, enc.data());
  ASSERT_EQ(enc.size(), 40u);
  float scale, bias;
  std::memcpy(&scale, enc.data() + 32, 4);
  std::memcpy(&bias, enc.data() + 36, 4);
  EXPECT_EQ(scale, 15.5f / 255.0f);
  EXPECT_EQ(bias, 0.0f);
  EXPECT_EQ(enc[0], 0);
  EXPECT_EQ(enc[31], 255);
  // 0.5 * 255 / 15.5 = 8.2258... -> 8; 5.0 * 255 / 15.5 = 82.258 -> 82
  EXPECT_EQ(enc[1], 8);
  EXPECT_EQ(enc[10], 82);
  // A constant row: range 0, every code 0, decodes exactly.
  std::vector<float> c(32, -0.25f);
  EXPECT_EQ(round_trip(Baseline::kInt8Rowwise, c, 32), c);
}

TEST(Baselines, Hfp8KnownCodes) {
  EXPECT_EQ(float_to_hfp8_143(0.0f), 0x00);
  EXPECT_EQ(float_to_hfp8_143(0.5f), 14 << 3);  // 2^(14 - 15)
  EXPECT_EQ(float_to_hfp8_143(-0.5f), 0x80 | (14 << 3));
  EXPECT_EQ(float_to_hfp8_143(0.9375f), (14 << 3) | 7);  // max_pos
  EXPECT_EQ(float_to_hfp8_143(5.0f), (14 << 3) | 7);     // clamped
  EXPECT_EQ(float_to_hfp8_143(0x1p-14f), 1 << 3);        // smallest normal
  EXPECT_EQ(float_to_hfp8_143(0x1p-17f), 1);             // smallest subnormal
  EXPECT_EQ(float_to_hfp8_143(0x1p-19f), 0);             // below half of it: 0
  // 1 + 1/16 is a tie between 1.0 and 1.125 (mantissa 0 and 1): goes to the even 1.0 * 2^-1.
  EXPECT_EQ(float_to_hfp8_143(0.5f * (1.0f + 1.0f / 16)), 14 << 3);
  EXPECT_EQ(float_to_hfp8_143(0.5f * (1.0f + 3.0f / 16)), (14 << 3) | 2);
  EXPECT_EQ(hfp8_143_to_float((14 << 3) | 7), 0.9375f);
  EXPECT_EQ(hfp8_143_to_float(3), 3 * 0x1p-17f);
  // Every code decodes to a value that encodes back to the same code (except the unused
  // exponent-15 codes above max_pos and -0).
  for (int c = 0; c < 256; ++c) {
    const float v = hfp8_143_to_float((uint8_t)c);
    if (((c >> 3) & 15) == 15 || c == 0x80) continue;
    EXPECT_EQ(float_to_hfp8_143(v), c) << c;
  }
}

TEST(Baselines, Mx4KnownGroup) {
  EXPECT_EQ(mx4_shared_exponent(6.0f), 0);  // floor(log2 6) - 2
  EXPECT_EQ(mx4_shared_exponent(1.0f), -2);
  EXPECT_EQ(mx4_shared_exponent(0.0f), -127);
  EXPECT_EQ(float_to_e2m1(0.25f), 0);  // ties to even
  EXPECT_EQ(float_to_e2m1(0.75f), 2);
  EXPECT_EQ(float_to_e2m1(2.5f), 4);
  EXPECT_EQ(float_to_e2m1(5.0f), 6);
  EXPECT_EQ(float_to_e2m1(7.9f), 7);  // saturates at 6
  EXPECT_EQ(float_to_e2m1(-3.0f), 8 | 5);
  EXPECT_EQ(e2m1_to_float(8 | 7), -6.0f);
  // A group of 32 with max 6: scale 1, values on the grid decode exactly.
  std::vector<float> x(32, 0.0f);
  const float grid[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (int i = 0; i < 32; ++i) x[(size_t)i] = (i & 1 ? -1.0f : 1.0f) * grid[i % 8];
  std::vector<uint8_t> enc(baseline_encoded_bytes(Baseline::kMX4, 32, 32));
  baseline_encode(Baseline::kMX4, x.data(), 32, 32, enc.data());
  EXPECT_EQ(enc[16], 127);  // scale byte: exponent 0 biased by 127
  EXPECT_EQ(round_trip(Baseline::kMX4, x, 32), x);
}

// Every format keeps every element within the allowance it documents, on embedding-like data
// and on awkward values (wide ranges, subnormals, values beyond FP8's clamp).
TEST(Baselines, ErrorAllowanceHoldsOnEveryElement) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> x(4096 + 17);
  for (auto& v : x) v = normal(rng);
  x[5] = 3.0f;       // beyond FP8's 0.9375
  x[100] = 1e-6f;    // FP8 subnormal range
  x[200] = -1e-30f;  // far below every format's normal range
  x[300] = 12345.0f;
  for (size_t row_dim : {32u, 64u, 13u}) {
    for (Baseline b : kAllBaselines) {
      const std::vector<float> dec = round_trip(b, x, row_dim);
      for (size_t i = 0; i < x.size(); ++i) {
        const double err = std::fabs((double)x[i] - (double)dec[i]);
        ASSERT_LE(err, baseline_error_allowance(b, x.data(), x.size(), row_dim, i))
            << baseline_name(b) << " row_dim " << row_dim << " element " << i << " x=" << x[i];
      }
      size_t bad = 0;
      EXPECT_TRUE(baseline_verify(b, x.data(), dec.data(), x.size(), row_dim, &bad))
          << baseline_name(b) << " " << bad;
    }
  }
}

// The allowances are tight enough to mean something: INT8 is within range/510 (plus rounding),
// FP16 within 2^-11 relative, and a corrupted decode is caught by baseline_verify.
TEST(Baselines, AllowancesAreTightAndVerifyCatchesCorruption) {
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * (float)i - 0.3f;
  const double row_range = 0.01 * 31;
  EXPECT_LE(baseline_error_allowance(Baseline::kInt8Rowwise, x.data(), 64, 32, 3),
            row_range / 510.0 * 1.001);
  EXPECT_LE(baseline_error_allowance(Baseline::kFP16, x.data(), 64, 32, 40),
            std::fabs(x[40]) * 0x1p-11);
  for (Baseline b : kAllBaselines) {
    std::vector<float> dec = round_trip(b, x, 32);
    dec[17] += 0.05f;
    size_t bad = 0;
    EXPECT_FALSE(baseline_verify(b, x.data(), dec.data(), x.size(), 32, &bad)) << baseline_name(b);
    EXPECT_EQ(bad, 17u);
  }
}

TEST(Datagen, DlrmLayoutAndRepeats) {
  DlrmLayout lay;
  const std::vector<float> v = generate_dlrm(1 << 18, 7, &lay);
  ASSERT_EQ(lay.tables.size(), 26u);
  size_t sum = 0;
  for (const auto& t : lay.tables) {
    EXPECT_TRUE(t.dim == 16 || t.dim == 32 || t.dim == 64 || t.dim == 128);
    EXPECT_GE(t.stddev, 0.01f);
    EXPECT_LE(t.stddev, 0.4f);
    sum += t.dim;
  }
  EXPECT_EQ(lay.sum_dims, sum);
  EXPECT_EQ(v.size(), lay.batch * lay.sum_dims);
  EXPECT_LE(v.size(), (size_t)1 << 18);
  // Deterministic for a seed, different across seeds.
  EXPECT_EQ(generate_dlrm(1 << 18, 7, nullptr), v);
  EXPECT_NE(generate_dlrm(1 << 18, 8, nullptr), v);
  // The smallest one-hot table repeats rows: fewer distinct pooled vectors than samples.
  size_t off = 0, best = 0;
  uint64_t best_card = UINT64_MAX;
  for (size_t t = 0, o = 0; t < lay.tables.size(); o += lay.tables[t].dim, ++t)
    if (lay.tables[t].max_pooling == 1 && lay.tables[t].cardinality < best_card) {
      best_card = lay.tables[t].cardinality;
      best = t;
      off = o;
    }
  ASSERT_NE(best_card, UINT64_MAX);
  std::vector<std::vector<float>> distinct;
  for (size_t s = 0; s < lay.batch; ++s) {
    const float* r = v.data() + s * lay.sum_dims + off;
    std::vector<float> row(r, r + lay.tables[best].dim);
    bool seen = false;
    for (const auto& d : distinct) seen = seen || d == row;
    if (!seen) distinct.push_back(row);
  }
  EXPECT_LE(distinct.size(), best_card);
  EXPECT_LT(distinct.size(), lay.batch);
}

}  // namespace
}  // namespace squeeze::bench
