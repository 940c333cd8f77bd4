// The staged codec's stages alone (compress/methods/ and the CPU kernel sets): each fast form
// against its definition, and each encoder against its decoder.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "codec_test_util.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/staged.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/rans.h"
#include "compress/methods/varint.h"

namespace squeeze {
namespace {

// rans::normalize's definition, one symbol at a time: what the merge-sorted form must equal.
void normalize_definition(const uint32_t* hist, uint32_t n_sym, uint32_t* freq) {
  uint64_t total = 0;
  for (uint32_t s = 0; s < n_sym; ++s) total += hist[s];
  std::vector<uint64_t> rem(n_sym);
  int64_t sum = 0;
  for (uint32_t s = 0; s < n_sym; ++s) {
    const uint64_t scaled = (uint64_t)hist[s] * rans::kProbScale;
    uint32_t f = (uint32_t)(scaled / total);
    rem[s] = scaled % total;
    if (hist[s] > 0 && f == 0) {
      f = 1;
      rem[s] = 0;
    }
    freq[s] = f;
    sum += f;
  }
  while (sum < (int64_t)rans::kProbScale) {
    uint32_t best = n_sym;
    for (uint32_t s = 0; s < n_sym; ++s) {
      if (hist[s] == 0) continue;
      if (best == n_sym || rem[s] > rem[best]) best = s;
    }
    ++freq[best];
    rem[best] = 0;
    ++sum;
  }
  while (sum > (int64_t)rans::kProbScale) {
    uint32_t best = n_sym;
    for (uint32_t s = 0; s < n_sym; ++s)
      if (freq[s] > 1 && (best == n_sym || freq[s] > freq[best])) best = s;
    --freq[best];
    --sum;
  }
}

TEST(Rans, NormalizeMatchesItsDefinition) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 3000; ++round) {
    const uint32_t n_sym = 1 + (uint32_t)(rng() % rans::kMaxSymbols);
    uint32_t hist[rans::kMaxSymbols] = {};
    const int kind = round % 8;
    for (uint32_t s = 0; s < n_sym; ++s) {
      if (kind == 0) hist[s] = (uint32_t)(rng() % 1000);
      if (kind == 1) hist[s] = rng() % 3 == 0 ? (uint32_t)(rng() % 5) : 0;          // sparse, tiny
      if (kind == 2) hist[s] = (uint32_t)(100000.0 / (1.0 + s * s)) + (rng() % 2);  // skewed
      if (kind == 3) hist[s] = 7;                // uniform: equal remainders everywhere
      if (kind == 4) hist[s] = (uint32_t)rng();  // counts up to 2^32 - 1 (total up to 2^40)
      // table_from_sample's counts (4 x sampled + 1), of a narrow peak: remainders in few values
      if (kind == 5) hist[s] = 4 * (uint32_t)(rng() % (1 + 64 / (1 + s))) + 1;
      // two values only: every remainder in one bucket, most tied
      if (kind == 6) hist[s] = rng() % 2 == 0 ? 3 : 1000003;
      // one dominant symbol, the rest rare: up to 255 raised to 1, an excess of as many
      if (kind == 7) hist[s] = s == 0 ? 1000000 + (uint32_t)(rng() % 1000) : (uint32_t)(rng() % 3);
    }
    hist[rng() % n_sym] += 1;  // at least one symbol
    uint32_t a[rans::kMaxSymbols], b[rans::kMaxSymbols];
    rans::normalize(hist, n_sym, a);
    normalize_definition(hist, n_sym, b);
    uint32_t sum = 0;
    for (uint32_t s = 0; s < n_sym; ++s) {
      ASSERT_EQ(a[s], b[s]) << "round " << round << " symbol " << s;
      ASSERT_EQ(a[s] > 0, hist[s] > 0);
      sum += a[s];
    }
    ASSERT_EQ(sum, rans::kProbScale);
  }
}

TEST(Rans, DivisionWithoutDividingIsExact) {
  std::mt19937_64 rng(test::test_seed());
  for (uint32_t f = 1; f <= rans::kProbScale; ++f) {
    const double inv = 1.0 / (double)f;
    // Encoder states stay below 2^20 f (2^32 for the one-symbol table, f = 4096).
    const uint64_t x_max =
        std::min<uint64_t>(((uint64_t)rans::kStateLow >> rans::kProbBits << 16) * f, 0xffffffffull);
    const uint32_t edge[] = {0,
                             1,
                             f - 1,
                             f,
                             f + 1,
                             (uint32_t)(x_max - 1),
                             (uint32_t)(x_max - f),
                             (uint32_t)(x_max / f * f),
                             0xffffffffu};
    for (uint32_t x : edge) ASSERT_EQ(rans::div_exact(x, f, inv), x / f) << x << " / " << f;
    for (int k = 0; k < 200; ++k) {
      const uint32_t x = (uint32_t)(rng() % x_max);
      ASSERT_EQ(rans::div_exact(x, f, inv), x / f) << x << " / " << f;
      const uint32_t y = (uint32_t)rng();  // any 32-bit value
      ASSERT_EQ(rans::div_exact(y, f, inv), y / f) << y << " / " << f;
    }
  }
}

// The estimate's logarithm and the coders' widths decide bytes on both backends: the branch-free
// forms must give what their definitions give (the bit-serial forms below), for every input a
// frame can hold and at the edges of every power of two.
TEST(Rans, Log2AndWidthMatchTheirDefinitions) {
  auto width_def = [](uint32_t v) {
    uint32_t w = 0;
    for (; v != 0; v >>= 1) ++w;
    return w;
  };
  auto log2_def = [](uint32_t f) {
    uint32_t e = 0;
    while (e < 31 && (f >> (e + 1)) != 0) ++e;
    uint64_t x = (uint64_t)f << (31 - e);
    uint32_t frac = 0;
    for (int i = 0; i < 8; ++i) {
      x = (x * x) >> 31;
      frac <<= 1;
      if (x >= (1ull << 32)) {
        frac |= 1;
        x >>= 1;
      }
    }
    return e * 256 + frac;
  };
  std::vector<uint32_t> xs;
  for (uint32_t f = 1; f <= (1u << 20); ++f) xs.push_back(f);
  for (uint32_t k = 20; k < 32; ++k)
    for (uint32_t d : {0u, 1u, 2u}) xs.push_back((1u << k) + d), xs.push_back((1u << k) - d);
  xs.push_back(0xffffffffu);
  std::mt19937_64 rng(test::test_seed());
  for (int k = 0; k < 100000; ++k) xs.push_back((uint32_t)rng() | 1u);
  EXPECT_EQ(quant::code_width(0), 0u);
  for (uint32_t f : xs) {
    ASSERT_EQ(rans::log2_q8(f), log2_def(f)) << f;
    ASSERT_EQ(quant::code_width(f), width_def(f)) << f;
  }
  for (uint32_t k = 0; k < 32; ++k) EXPECT_EQ(rans::log2_q8(1u << k), 256 * k);
}

TEST(Rans, SegmentsRoundTripAndRejectTampering) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 200; ++round) {
    const uint32_t n_sym = 1 + (uint32_t)(rng() % 256);
    const uint32_t count = 1 + (uint32_t)(rng() % rans::kSegmentSymbols);
    std::vector<uint8_t> sym(count);
    std::geometric_distribution<int> geo(0.05 + 0.9 * (double)(rng() % 100) / 100.0);
    uint32_t hist[rans::kMaxSymbols] = {};
    for (uint8_t& x : sym) {
      x = (uint8_t)std::min<int>(geo(rng), (int)n_sym - 1);
      ++hist[x];
    }
    uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
    rans::normalize(hist, n_sym, freq);
    for (uint32_t s = 0, c = 0; s < n_sym; ++s) {
      cum[s] = c;
      c += freq[s];
    }
    std::vector<uint16_t> scratch(count + rans::kScratchSlack);
    std::vector<uint8_t> seg(rans::kStateBytes + 2 * (size_t)count);
    const uint32_t n_words =
        rans::encode_segment(sym.data(), count, freq, cum, scratch.data(), seg.data());
    std::vector<uint8_t> table(rans::table_bytes(freq, n_sym));
    rans::write_table(freq, n_sym, table.data());
    rans::Tables t;
    const uint8_t* p = table.data();
    ASSERT_TRUE(rans::read_table(&p, table.data() + table.size(), &t));
    std::vector<uint8_t> out(count);
    ASSERT_TRUE(rans::decode_segment(seg.data(), n_words, count, t, out.data()));
    ASSERT_EQ(out, sym);
    // A word short or a flipped state is detected (the final states must return to 2^16).
    if (n_words > 0) {
      EXPECT_FALSE(rans::decode_segment(seg.data(), n_words - 1, count, t, out.data()));
    }
    seg[rng() % rans::kStateBytes] ^= 0x10;
    EXPECT_FALSE(rans::decode_segment(seg.data(), n_words, count, t, out.data()) && out == sym);
  }
}

TEST(Rans, SampledEstimateIsClose) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 50; ++round) {
    const uint32_t count = 4096 + (uint32_t)(rng() % 20000);
    std::vector<uint8_t> sym(count);
    std::geometric_distribution<int> geo(0.02 + 0.5 * (double)(rng() % 100) / 100.0);
    uint32_t hist[rans::kMaxSymbols] = {};
    uint32_t n_sym = 1;
    for (uint8_t& x : sym) {
      x = (uint8_t)std::min(geo(rng), 255);
      ++hist[x];
      n_sym = std::max<uint32_t>(n_sym, x + 1u);
    }
    uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
    rans::normalize(hist, n_sym, freq);
    for (uint32_t s = 0, c = 0; s < n_sym; ++s) {
      cum[s] = c;
      c += freq[s];
    }
    uint64_t coded = 1 + rans::table_bytes(freq, n_sym);
    std::vector<uint16_t> scratch(rans::kSegmentSymbols);
    std::vector<uint8_t> seg(rans::kStateBytes + 2 * rans::kSegmentSymbols);
    for (uint32_t first = 0; first < count; first += rans::kSegmentSymbols) {
      const uint32_t n = std::min(rans::kSegmentSymbols, count - first);
      coded +=
          4 + rans::kStateBytes +
          2 * rans::encode_segment(sym.data() + first, n, freq, cum, scratch.data(), seg.data());
    }
    // The estimate decides whether to run the coder, from the sampled groups: on codes drawn
    // from one distribution it is within a few percent of the coded size (two bytes per table
    // entry and the sampling error account for the rest).
    uint32_t sample_hist[rans::kMaxSymbols] = {};
    uint64_t n_sample = 0;
    for (uint32_t k = 0; k < count; ++k)
      if (rans::in_sample(k)) {
        ++sample_hist[sym[k]];
        ++n_sample;
      }
    ASSERT_EQ(n_sample, rans::sample_size(count));
    const uint64_t est = rans::estimated_bytes(sample_hist, n_sym, n_sample, count, 0);
    EXPECT_NEAR((double)est, (double)coded, 0.06 * (double)coded + 2.0 * n_sym + 16)
        << "round " << round;
  }
}

// rans::table_from_sample against its definition: the table of kSampleStride x the sampled count
// + 1 for every symbol up to the largest (saturated at 2^32 - 1), so that every one of them has a
// slot, whether the sample saw it or not.
TEST(Rans, TableFromSampleGivesEverySymbolUpToTheLargestASlot) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    uint32_t sample[rans::kMaxSymbols] = {};
    const uint32_t max_sym = (uint32_t)(rng() % rans::kMaxSymbols);
    const uint32_t seen = (uint32_t)(rng() % (max_sym + 1));  // the sample's largest
    for (uint32_t k = 0; k <= seen; ++k) {
      const uint32_t kind = (uint32_t)(rng() % 8);
      sample[k] = kind == 0   ? 0u
                  : kind == 1 ? 0xffffffffu
                              : (uint32_t)(rng() % (1u << (rng() % 20)));
    }
    uint32_t hist[rans::kMaxSymbols], freq[rans::kMaxSymbols], cum[rans::kMaxSymbols];
    const uint32_t n_sym = rans::table_from_sample(sample, max_sym, hist, freq, cum);
    ASSERT_EQ(n_sym, max_sym + 1) << "seed " << seed;
    uint32_t want_hist[rans::kMaxSymbols], want_freq[rans::kMaxSymbols],
        want_cum[rans::kMaxSymbols];
    uint64_t total = 0;
    for (uint32_t k = 0; k < n_sym; ++k) {
      const uint64_t h = (uint64_t)sample[k] * rans::kSampleStride + 1;
      want_hist[k] = (uint32_t)std::min<uint64_t>(h, 0xffffffffu);
      ASSERT_EQ(hist[k], want_hist[k]) << "seed " << seed << " symbol " << k;
      ASSERT_GE(freq[k], 1u) << "seed " << seed << " symbol " << k << " has no slot";
      total += freq[k];
    }
    ASSERT_EQ(total, rans::kProbScale) << "seed " << seed;
    rans::make_table(want_hist, n_sym, want_freq, want_cum);
    for (uint32_t k = 0; k < n_sym; ++k) {
      ASSERT_EQ(freq[k], want_freq[k]) << "seed " << seed << " symbol " << k;
      ASSERT_EQ(cum[k], want_cum[k]) << "seed " << seed << " symbol " << k;
    }
  }
}

// A frame whose largest codes lie only in groups the sample skips (rans::in_sample): the rANS
// coder still takes them (their slots come from table_from_sample's +1), and every element
// decodes within the bound.
TEST(Rans, CodesTheSampleMissedAreCoded) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(32768);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = 0.2f * g(rng);
    // Group i / 32 is sampled when it is a multiple of 4; the extremes go to groups 2 mod 4.
    if ((i / 32) % 4 == 2 && rng() % 64 == 0) v[i] = (rng() & 1) ? 20.0f : -20.0f;
  }
  v[64] = 20.0f;  // the range is the same whichever extremes were drawn (group 2)
  v[65] = -20.0f;
  const auto placed =
      std::count_if(v.begin(), v.end(), [](float x) { return std::fabs(x) == 20.0f; });
  CodecParams p;
  p.mode = BoundMode::kRel;
  p.bound = 1e-2;
  p.rans_min_gain = 0;
  const size_t n = v.size() * 4;
  std::vector<uint8_t> frame(max_frame_bytes(n)), out(n);
  size_t bytes = 0, out_bytes = 0;
  FrameStats st;
  ASSERT_EQ(compress(p, v.data(), n, frame.data(), frame.size(), &bytes, &st), Status::kOk);
  ASSERT_EQ(st.coder, (uint8_t)StagedCoder::kRans) << "seed " << seed;
  ASSERT_EQ(decompress(frame.data(), bytes, out.data(), out.size(), &out_bytes), Status::kOk)
      << "seed " << seed;
  ASSERT_EQ(out_bytes, n);
  const double eb =
      test::requested_abs_bound(p, reinterpret_cast<const uint8_t*>(v.data()), v.size());
  uint32_t extremes_back = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    float y;
    std::memcpy(&y, out.data() + 4 * i, 4);
    ASSERT_LE(std::fabs((double)y - (double)v[i]), eb) << "seed " << seed << " element " << i;
    extremes_back += std::fabs(v[i]) == 20.0f && std::fabs(y) > 19.0f;
  }
  EXPECT_EQ(extremes_back, (uint32_t)placed) << "seed " << seed;
}

// rans::gain_pays against its definition in exact rationals (long double holds these products
// exactly: below 2^64): at least 1/32 smaller, and the saving in bits at least n_coded x
// min(gain, 4096) / 256.
TEST(Rans, GainPaysIsItsDefinition) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200000; ++round) {
    const uint64_t fixed = 1 + rng() % (uint64_t{1} << (rng() % 40));
    const uint64_t estimate = rng() % (fixed + fixed / 8 + 1);
    const uint64_t n = 1 + rng() % (uint64_t{1} << (rng() % 33));
    const uint32_t gain = round % 5 == 0 ? (uint32_t)rng() : (uint32_t)(rng() % 5000);
    const bool smaller = (long double)estimate * 32 < (long double)fixed * 31;
    const long double g = gain < 4096 ? gain : 4096;
    const bool pays =
        smaller && ((long double)fixed - (long double)estimate) * 8 * 256 >= (long double)n * g;
    ASSERT_EQ(rans::gain_pays(estimate, fixed, n, gain), pays)
        << "seed " << seed << " fixed " << fixed << " estimate " << estimate << " n " << n
        << " gain " << gain;
    if (gain == 0) {
      ASSERT_EQ(rans::gain_pays(estimate, fixed, n, gain), rans::worth_coding(estimate, fixed));
    }
    // gain_can_pay: some estimate pays exactly when the smallest one does.
    if (!rans::gain_can_pay(fixed, n, gain)) {
      ASSERT_FALSE(pays) << "seed " << seed;
    }
    ASSERT_EQ(rans::gain_can_pay(fixed, n, gain),
              (long double)fixed * 8 * 256 >= (long double)n * g)
        << "seed " << seed << " fixed " << fixed << " n " << n << " gain " << gain;
  }
  // At the edge: 1024 values, 128 bytes saved = 1 bit a value = gain 256.
  EXPECT_TRUE(rans::gain_pays(1000 - 128, 1000, 1024, 256));
  EXPECT_FALSE(rans::gain_pays(1000 - 127, 1000, 1024, 256));
  EXPECT_FALSE(rans::gain_pays(0, 1024, 1024, 0xffffffffu));  // 8 bits saved, never enough
}

// CodecParams::rans_min_gain: the frame takes rANS up to a gain and the fixed coder above it
// (monotone), 0 is the rule without it, 4096 never takes rANS, and the decoded values are the
// same at every gain (the coder is lossless on the codes). Embedding-like rows of 64 values.
TEST(Rans, MinGainChoosesTheCoderNotTheValues) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (BoundMode mode : {BoundMode::kLocal, BoundMode::kRel}) {
    std::vector<float> v(32768);
    std::normal_distribution<float> g(0.0f, 1.0f);
    float scale = 1.0f;
    for (size_t i = 0; i < v.size(); ++i) {
      // Rows on their own scales in local mode (its bound follows them); one scale in rel mode,
      // whose fixed coder gives all-zero groups of small rows almost nothing to code.
      if (i % 64 == 0 && mode == BoundMode::kLocal)
        scale = std::pow(10.0f, -2.0f * (float)(rng() % 1000) / 1000.0f);
      v[i] = scale * g(rng);
    }
    CodecParams p;
    p.mode = mode;
    p.bound = 1e-2;
    std::vector<uint8_t> frame(max_frame_bytes(v.size() * 4)), first_out, out(v.size() * 4);
    size_t prev_bytes = 0;
    bool was_rans = true;
    int rans_frames = 0;
    for (uint32_t gain : {0u, 1u, 8u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, ~0u}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + std::to_string((int)mode) +
                   " gain " + std::to_string(gain));
      p.rans_min_gain = gain;
      size_t bytes = 0, out_bytes = 0;
      FrameStats st;
      ASSERT_EQ(compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &bytes, &st),
                Status::kOk);
      ASSERT_EQ(st.method, (uint8_t)FrameMethod::kStaged);
      const bool rans = st.coder == (uint8_t)StagedCoder::kRans;
      if (gain == 0) {
        EXPECT_TRUE(rans) << "skewed codes should take rANS without a gain";
      }
      if (gain >= 2048) {
        EXPECT_FALSE(rans);
      }
      EXPECT_TRUE(was_rans || !rans) << "rANS again above a gain that refused it";
      if (!rans && was_rans && gain > 0) {
        EXPECT_GT(bytes, prev_bytes);
      }
      if (rans) {
        EXPECT_EQ(bytes, prev_bytes == 0 ? bytes : prev_bytes);
      }
      was_rans = rans;
      prev_bytes = bytes;
      rans_frames += rans;
      ASSERT_EQ(decompress(frame.data(), bytes, out.data(), out.size(), &out_bytes), Status::kOk);
      if (first_out.empty()) first_out = out;
      ASSERT_EQ(std::memcmp(out.data(), first_out.data(), out.size()), 0)
          << "decoded values depend on the coder";
    }
    EXPECT_GE(rans_frames, 2) << "no gain between 0 and the refusal took rANS";
  }
}

// dedup::put_field / get_field against their definition, bit by bit: a field of 0-64 bits at
// any position, written into a zeroed buffer, reads back, sets exactly its own bits, and leaves
// every other bit (set ones too: fields are ORed in) as it was.
TEST(Dedup, FieldsAreTheirBitByBitDefinition) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> buf(24), want(24);
    for (size_t k = 0; k < buf.size(); ++k) buf[k] = want[k] = (uint8_t)(rng() & rng());
    const uint64_t pos = rng() % 120;
    const uint32_t bits = (uint32_t)(rng() % 65);
    const uint64_t v = rng();
    // The field's own bits cleared first (put_field writes into zeros), then ORed.
    for (uint32_t i = 0; i < bits; ++i) {
      const uint64_t b = pos + i;
      buf[b >> 3] &= (uint8_t) ~(1u << (b & 7));
      want[b >> 3] &= (uint8_t) ~(1u << (b & 7));
      if ((v >> i) & 1u) want[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    dedup::put_field(buf.data(), pos, bits, v);
    ASSERT_EQ(buf, want) << "seed " << seed << " pos " << pos << " bits " << bits;
    const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    ASSERT_EQ(dedup::get_field(buf.data(), pos, bits), v & mask)
        << "seed " << seed << " pos " << pos << " bits " << bits;
  }
}

// The unit byte check: equal units of 32 and 64 bytes (and lengths that are not a multiple of
// 8) match, and a unit that differs in any one bit of any one byte does not.
TEST(Dedup, SameBytesFindsEveryDifferingByte) {
  std::mt19937_64 rng(test::test_seed());
  for (uint32_t bytes : {32u, 64u, 13u, 1u}) {
    std::vector<uint8_t> a(bytes), b(bytes);
    for (auto& x : a) x = (uint8_t)rng();
    b = a;
    ASSERT_TRUE(dedup::same_bytes(a.data(), b.data(), bytes)) << bytes;
    for (uint32_t i = 0; i < bytes; ++i)
      for (int bit = 0; bit < 8; ++bit) {
        b = a;
        b[i] ^= (uint8_t)(1u << bit);
        ASSERT_FALSE(dedup::same_bytes(a.data(), b.data(), bytes))
            << bytes << " bytes, byte " << i << " bit " << bit;
      }
  }
}

// The record stream by the format's definition, bit by bit: a field's bits LSB first, and the
// Exp-Golomb code of v at order k (n = (v >> k) + 1 of z + 1 bits: z zeros, a one, n's low z
// bits, v's low k bits).
void put_bits_defined(std::vector<bool>* bits, uint64_t v, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) bits->push_back(((v >> i) & 1u) != 0);
}
void put_golomb_defined(std::vector<bool>* bits, uint64_t v, uint32_t k) {
  const uint64_t n = (v >> k) + 1;
  uint32_t z = 0;
  while ((n >> (z + 1)) != 0) ++z;
  for (uint32_t i = 0; i < z; ++i) bits->push_back(false);
  bits->push_back(true);
  put_bits_defined(bits, n, z);
  put_bits_defined(bits, v, k);
}
std::vector<uint8_t> packed(const std::vector<bool>& bits) {
  std::vector<uint8_t> out((bits.size() + 7) / 8, 0);
  for (size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) out[i / 8] |= (uint8_t)(1u << (i % 8));
  return out;
}

// dedup::write_run against the records by their definition, and read_run against the records as
// written: fixed records of every field width from 0 to 32 bits (so records of up to 96 bits,
// past the one-word path's 56), Exp-Golomb records of every order from 0 to 16 with small and
// large values, steps of 1 and more units, every record of the stream (the last ones within 8
// bytes of its end, where a word would pass it), and the validation of each run against its
// frame; the cursor ends at the stream's end (records_end_ok).
TEST(Dedup, RunRecordsReadBackAsWritten) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 3000; ++round) {
    const uint64_t n_runs = 1 + rng() % 40;
    dedup::Layout l{};
    l.golomb = round % 2 == 1;
    l.gap_bits = (uint32_t)(rng() % 33);
    l.idx_bits = (uint32_t)(rng() % 33);
    l.len_bits = (uint32_t)(rng() % 33);
    l.gap_order = (uint32_t)(rng() % (dedup::kMaxGolombOrder + 1));
    l.len_order = (uint32_t)(rng() % (dedup::kMaxGolombOrder + 1));
    l.record_bits = l.golomb ? 0 : (uint64_t)l.gap_bits + l.idx_bits + l.len_bits;
    l.step_log2 = round % 3 == 0 ? 0 : 1 + (uint32_t)(rng() % 4);  // encoders' steps: powers of two
    l.step = uint64_t{1} << l.step_log2;
    auto field = [&](uint32_t bits) { return bits == 0 ? 0 : rng() & ((1ull << bits) - 1); };
    // Exp-Golomb values: mostly small (the runs of a trained payload), some up to 24 bits.
    auto golomb_value = [&]() { return rng() % 4 == 0 ? field(1 + rng() % 24) : rng() % 3; };
    std::vector<uint64_t> gap(n_runs), idx(n_runs), len(n_runs);
    std::vector<bool> def_bits;
    for (uint64_t k = 0; k < n_runs; ++k) {
      const uint64_t gap_steps = l.golomb ? golomb_value() : field(l.gap_bits);
      const uint64_t len_steps = (l.golomb ? golomb_value() : field(l.len_bits)) + 1;
      gap[k] = gap_steps * l.step;  // in units, as the encoder hands them over
      idx[k] = field(l.idx_bits);
      len[k] = len_steps * l.step;
      if (l.golomb) {
        put_golomb_defined(&def_bits, gap_steps, l.gap_order);
        put_bits_defined(&def_bits, idx[k], l.idx_bits);
        put_golomb_defined(&def_bits, len_steps - 1, l.len_order);
        l.golomb_bits += dedup::golomb_bits(gap_steps, l.gap_order) + l.idx_bits +
                         dedup::golomb_bits(len_steps - 1, l.len_order);
      } else {
        put_bits_defined(&def_bits, gap_steps, l.gap_bits);
        put_bits_defined(&def_bits, idx[k], l.idx_bits);
        put_bits_defined(&def_bits, len_steps - 1, l.len_bits);
      }
    }
    const std::vector<uint8_t> defined = packed(def_bits);
    ASSERT_EQ(dedup::record_stream_bytes(l, n_runs), defined.size())
        << "seed " << seed << " round " << round;
    std::vector<uint8_t> records(defined.size());
    uint64_t bit = 0;
    for (uint64_t k = 0; k < n_runs; ++k)
      dedup::write_run(records.data(), records.size(), &bit, l, gap[k], idx[k], len[k]);
    ASSERT_EQ(bit, def_bits.size()) << "seed " << seed << " round " << round;
    ASSERT_EQ(records, defined) << "seed " << seed << " round " << round << ", golomb " << l.golomb
                                << ", record bits " << l.record_bits;
    // Sources: every index a record may hold resolves to one, some in the history.
    const uint64_t n_sources = l.idx_bits >= 6 ? 64 : (1ull << l.idx_bits);
    std::vector<int64_t> sources(n_sources);
    for (auto& v : sources) v = (int64_t)(rng() % 2000) - 1000;
    dedup::Section sec{};
    sec.n_runs = n_runs;
    sec.n_sources = n_sources;
    sec.layout = l;
    sec.records = records.data();
    sec.records_bytes = records.size();
    const uint64_t n_full_units = 1 + rng() % (5000 * l.step);
    uint64_t prev_end = 0;
    bit = 0;
    bool all_ok = true;
    for (uint64_t k = 0; k < n_runs; ++k) {
      dedup::Run r{};
      const bool ok = dedup::read_run(sec, sources.data(), &bit, prev_end, n_full_units, &r);
      // The definition: fields as written, then the checks.
      bool want = idx[k] < n_sources;
      if (want) {
        const uint64_t dst = prev_end + gap[k];
        const int64_t src = sources[idx[k]];
        want = dst < n_full_units && len[k] <= n_full_units - dst &&
               (src >= 0 ? (uint64_t)src + len[k] <= dst : (uint64_t)(-src) >= len[k]);
        if (want) {
          ASSERT_EQ(r.dst, dst) << "seed " << seed << " round " << round << " run " << k;
          ASSERT_EQ(r.src, src) << "seed " << seed << " round " << round << " run " << k;
          ASSERT_EQ(r.len, len[k]) << "seed " << seed << " round " << round << " run " << k;
        }
      }
      ASSERT_EQ(ok, want) << "seed " << seed << " round " << round << " run " << k << " of "
                          << n_runs << ", golomb " << l.golomb << ", record bits " << l.record_bits;
      all_ok = ok;
      if (!ok) break;
      prev_end = r.dst + r.len;
    }
    if (all_ok) {
      EXPECT_TRUE(dedup::records_end_ok(sec, bit)) << "seed " << seed << " round " << round;
    }
  }
}

// A frame of v encoded with p (which must give one) and its parsed header.
void encode_frame(const CodecParams& p, const std::vector<float>& v, std::vector<uint8_t>* frame,
                  staged::Header* h) {
  const size_t bytes = v.size() * 4;
  frame->assign(max_frame_bytes(bytes), 0);
  const size_t fb = cpu::encode_staged(p, reinterpret_cast<const uint8_t*>(v.data()), bytes,
                                       frame->data(), nullptr, nullptr);
  ASSERT_GT(fb, 0u);
  frame->resize(fb);
  ASSERT_EQ(staged::parse(frame->data(), frame->size(), h), staged::Reject::kNone);
}

// Frames of v with p's capabilities (*with, *hw) and without cap (*without, *ho).
void encode_with_and_without(const CodecParams& p, const std::vector<float>& v, uint32_t cap,
                             std::vector<uint8_t>* with, staged::Header* hw,
                             std::vector<uint8_t>* without, staged::Header* ho) {
  ASSERT_NO_FATAL_FAILURE(encode_frame(p, v, with, hw));
  CodecParams q = p;
  q.caps &= ~cap;
  ASSERT_NO_FATAL_FAILURE(encode_frame(q, v, without, ho));
}

// The dedup section of a frame encode_frame made, parsed.
void parse_dedup(const std::vector<uint8_t>& frame, const staged::Header& h, dedup::Section* sec) {
  const uint8_t* p = frame.data() + staged::section_offset(h, StagedSection::kDedup);
  ASSERT_TRUE(dedup::parse_section(p, p + h.section[(int)StagedSection::kDedup],
                                   staged::geometry(h.dtype, h.original_bytes).n_full_units, sec));
}

// Whole vectors of vec_units units repeated: vector j >= 1 copies a random earlier one where
// repeats(j) says so.
template <class Repeats>
void repeat_vectors(std::vector<float>* v, uint64_t vec_units, std::mt19937_64& rng,
                    Repeats repeats) {
  const uint64_t w = vec_units * kUnitElems;
  for (uint64_t j = 1; j < v->size() / w; ++j)
    if (repeats(j)) {
      const uint64_t i = rng() % j;
      std::copy(v->begin() + i * w, v->begin() + (i + 1) * w, v->begin() + j * w);
    }
}

// Two frames of v that differ only in how they code the same values (with and without a
// capability): both decode on the active backend, to the same bytes, every element within its
// bound.
void expect_same_values_within_bound(const CodecParams& p, const std::vector<float>& v,
                                     const std::vector<uint8_t>& with,
                                     const std::vector<uint8_t>& without) {
  std::vector<uint8_t> out_w(v.size() * 4), out_o(v.size() * 4);
  size_t bw = 0, bo = 0;
  ASSERT_EQ(cpu::decode_staged(with.data(), with.size(), out_w.data(), out_w.size(), nullptr, &bw),
            staged::Reject::kNone);
  ASSERT_EQ(
      cpu::decode_staged(without.data(), without.size(), out_o.data(), out_o.size(), nullptr, &bo),
      staged::Reject::kNone);
  ASSERT_EQ(out_w, out_o);
  const std::vector<double> eb =
      test::element_bounds(p, reinterpret_cast<const uint8_t*>(v.data()), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    float y;
    std::memcpy(&y, out_w.data() + 4 * i, 4);
    ASSERT_LE(std::fabs((double)y - (double)v[i]), eb[i]) << "element " << i;
  }
}

// The head of a dedup section with a step: parsed back as written (dedup::write_head,
// head_bytes), and refused (parse_section false) with a step below 2, above the frame's full
// units, cut short, or with a width above 32 beside the flag.
TEST(Dedup, StepInTheHeadIsValidated) {
  const int64_t sources[] = {0, 3};
  for (uint64_t step : {1ull, 2ull, 4ull, 128ull, 256ull}) {
    const dedup::Layout l = dedup::layout_for(40, 2, 24 * step, step);
    ASSERT_EQ(l.step, step);
    std::vector<uint8_t> sec(64, 0);
    const uint64_t head = dedup::write_head(sec.data(), 2, sources, 2, l);
    ASSERT_EQ(head, dedup::head_bytes(2, 2, l) + 2) << "step " << step;  // + the two sources
    ASSERT_EQ((sec[4] & dedup::kStepFlag) != 0, step > 1) << "step " << step;
    const uint64_t records = (2 * l.record_bits + 7) / 8;
    const uint8_t* end = sec.data() + head + records;
    dedup::Section parsed;
    ASSERT_TRUE(dedup::parse_section(sec.data(), end, 1000, &parsed)) << "step " << step;
    EXPECT_EQ(parsed.layout.step, step);
    EXPECT_EQ(parsed.layout.len_bits, l.len_bits);
    EXPECT_EQ(parsed.records, sec.data() + head);
    // The step must fit the frame.
    if (step > 2) {
      EXPECT_FALSE(dedup::parse_section(sec.data(), end, step - 1, &parsed)) << "step " << step;
      EXPECT_TRUE(dedup::parse_section(sec.data(), end, step, &parsed)) << "step " << step;
    }
  }
  // Hand-made heads: one run, one source (0), widths 0 / 0 / 0, a flag and the step's varint.
  auto head_with = [](std::vector<uint8_t> step_bytes, uint8_t len_byte) {
    std::vector<uint8_t> h = {1, 1, 0, 0, len_byte};
    h.insert(h.end(), step_bytes.begin(), step_bytes.end());
    h.push_back(0);  // the source, zigzag 0; no record bytes (0 bits)
    return h;
  };
  dedup::Section parsed;
  for (const auto& [bytes, len_byte, ok] :
       std::vector<std::tuple<std::vector<uint8_t>, uint8_t, bool>>{
           {{2}, 0x80, true},           // step 2
           {{3}, 0x80, true},           // any step: this encoder writes powers of two only
           {{0x80, 0x01}, 0x80, true},  // step 128 (two varint bytes)
           {{1}, 0x80, false},          // step 1 is the form without the flag
           {{0}, 0x80, false},          // step 0
           {{0x80}, 0x80, false},       // a varint cut short (the source byte ends it as 0)
           {{2}, 0x80 | 33, false},     // a width of 33 beside the flag
           {{2}, 0x80 | 32, true},      // 32 is the widest
       }) {
    std::vector<uint8_t> h = head_with(bytes, len_byte);
    // Records of 0 or 32 bits for one run.
    h.resize(h.size() + ((len_byte & 0x7f) <= 32 ? (len_byte & 0x7f) / 8 : 0), 0);
    EXPECT_EQ(dedup::parse_section(h.data(), h.data() + h.size(), 1000, &parsed), ok)
        << "len byte " << (int)len_byte << ", step bytes " << bytes.size();
    if (ok) {
      EXPECT_GE(parsed.layout.step, 2u);
    }
  }
}

// Repeats of whole vectors (runs of 4 units at dim 64, 8 at dim 128, 6 at dim 96) are written with
// the step when the receiver declares kCapDedupStep: the frame is smaller, decodes to the same
// bytes as the frame without the step, within the bound, and without the capability the section is
// the form without a step.
TEST(Dedup, StepShortensVectorRepeats) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.1f);
  for (uint32_t vec_units : {4u, 8u, 6u}) {
    for (BoundMode m : {BoundMode::kLocal, BoundMode::kRel}) {
      const uint64_t n_vec = 2048 / vec_units;
      std::vector<float> v(n_vec * vec_units * kUnitElems);
      for (float& x : v) x = g(rng);
      repeat_vectors(&v, vec_units, rng, [&](uint64_t) { return rng() % 2 == 0; });
      CodecParams p;
      p.mode = m;
      p.bound = 1e-2;
      p.caps = kCapsAll & ~kCapHistory;
      std::vector<uint8_t> with, without;
      staged::Header hw, ho;
      ASSERT_NO_FATAL_FAILURE(
          encode_with_and_without(p, v, kCapDedupStep, &with, &hw, &without, &ho));
      dedup::Section sw, so;
      ASSERT_NO_FATAL_FAILURE(parse_dedup(with, hw, &sw));
      ASSERT_NO_FATAL_FAILURE(parse_dedup(without, ho, &so));
      SCOPED_TRACE("seed " + std::to_string(seed) + ", vectors of " + std::to_string(vec_units) +
                   " units, mode " + std::to_string((int)m));
      ASSERT_GT(sw.n_runs, 10u);
      // The largest power of two dividing the vector's units (2 for 6) divides the step.
      const uint64_t pow2 = vec_units & (0u - vec_units);
      EXPECT_EQ(sw.layout.step % pow2, 0u);
      EXPECT_EQ(sw.layout.step & (sw.layout.step - 1), 0u) << "not a power of two";
      EXPECT_EQ(so.layout.step, 1u);
      EXPECT_EQ(sw.n_runs, so.n_runs);
      EXPECT_LT(with.size(), without.size());
      // Only the dedup section differs in size.
      for (uint32_t k = 1; k < kStagedSections; ++k) EXPECT_EQ(hw.section[k], ho.section[k]);
      ASSERT_NO_FATAL_FAILURE(expect_same_values_within_bound(p, v, with, without));
    }
  }
}

// Repeats of whole vectors close together (most runs one vector, most gaps 0-2 vectors) take
// Exp-Golomb records (kGolombFlag) when the receiver declares kCapDedupGolomb and they are
// smaller: the frame is smaller, decodes to the same bytes as the frame of fixed records, within
// the bound; without the capability the section has fixed records. Runs of one vector every 8
// vectors (every gap 7 vectors: 3 bits in a fixed record, at least 4 as a code) keep fixed
// records.
TEST(Dedup, GolombRecordsWhereTheyAreSmaller) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.1f);
  for (int spread : {0, 1}) {
    for (BoundMode m : {BoundMode::kLocal, BoundMode::kRel}) {
      std::vector<float> v(2048 * 4 * kUnitElems);  // 2048 vectors of 4 units
      for (float& x : v) x = g(rng);
      // spread 0: a vector repeats an earlier one with probability 1/2 (runs mostly one vector,
      // gaps of a few), except vectors 1024-1087: one gap of 64 vectors, which every fixed
      // record makes room for (7 bits) and one Exp-Golomb code pays. Without it, a draw whose
      // gaps all stay below 8 vectors and whose runs are all one vector (1 seed in about 150)
      // has 12-bit fixed records that Exp-Golomb codes do not beat, and the encoder rightly
      // keeps them. spread 1: every vector 8k + 7 repeats one (runs of one vector, every gap 7
      // vectors).
      repeat_vectors(&v, 4, rng, [&](uint64_t j) {
        return spread == 0 ? (j < 1024 || j >= 1088) && rng() % 2 == 0 : j % 8 == 7;
      });
      CodecParams p;
      p.mode = m;
      p.bound = 1e-2;
      p.caps = kCapsAll & ~kCapHistory;
      std::vector<uint8_t> with, without;
      staged::Header hw, ho;
      ASSERT_NO_FATAL_FAILURE(
          encode_with_and_without(p, v, kCapDedupGolomb, &with, &hw, &without, &ho));
      dedup::Section sw, so;
      ASSERT_NO_FATAL_FAILURE(parse_dedup(with, hw, &sw));
      ASSERT_NO_FATAL_FAILURE(parse_dedup(without, ho, &so));
      SCOPED_TRACE("seed " + std::to_string(seed) + ", spread " + std::to_string(spread) +
                   ", mode " + std::to_string((int)m));
      ASSERT_GT(sw.n_runs, 10u);
      EXPECT_FALSE(so.layout.golomb);
      EXPECT_EQ(sw.n_runs, so.n_runs);
      EXPECT_EQ(sw.layout.step, so.layout.step);
      if (spread == 0) {
        EXPECT_TRUE(sw.layout.golomb);
        EXPECT_LT(with.size(), without.size());
      } else {
        EXPECT_FALSE(sw.layout.golomb);
        EXPECT_EQ(with, without);
      }
      // Only the dedup section differs in size.
      for (uint32_t k = 1; k < kStagedSections; ++k) EXPECT_EQ(hw.section[k], ho.section[k]);
      ASSERT_NO_FATAL_FAILURE(expect_same_values_within_bound(p, v, with, without));
    }
  }
}

// An Exp-Golomb code's length three ways: golomb_bits, add_golomb_costs (the encoders' sums at
// orders 0-3) and the code by its definition, for values from 0 to 2^40 at every order tried.
TEST(Dedup, GolombLengthsAgree) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t gap = i < 300 ? (uint64_t)i : rng() & ((uint64_t{1} << (rng() % 41)) - 1);
    const uint64_t len =
        i < 300 ? (uint64_t)(299 - i) : rng() & ((uint64_t{1} << (rng() % 41)) - 1);
    uint64_t cost[2 * dedup::kGolombOrders] = {};
    dedup::add_golomb_costs(gap, len, cost);
    for (uint32_t k = 0; k < dedup::kGolombOrders; ++k) {
      std::vector<bool> g, l;
      put_golomb_defined(&g, gap, k);
      put_golomb_defined(&l, len, k);
      ASSERT_EQ(dedup::golomb_bits(gap, k), g.size()) << "seed " << seed << ", " << gap;
      ASSERT_EQ(cost[k], g.size()) << "seed " << seed << ", gap " << gap << ", order " << k;
      ASSERT_EQ(cost[dedup::kGolombOrders + k], l.size())
          << "seed " << seed << ", len " << len << ", order " << k;
    }
  }
}

// The Exp-Golomb records' head and stream are validated: an order above 16, a code of more than
// 40 zeros before its one bit, a code cut short by the section's end, and a byte left after the
// last run are each refused (kDedupRuns); the frame as written decodes, and with its last byte
// removed (the section one shorter) does not.
TEST(Dedup, GolombRecordsAreValidated) {
  const int64_t sources[] = {0};
  // Two runs of one unit from source 0 at units 1 and 3: gaps 1 and 1 (after the first run's end),
  // idx 0 (0 bits: one source), len - 1 = 0. The cheapest orders: gap 1 at order 1 -> "11" (z = 0:
  // the one bit, then v's low bit), 3 bits at order 0; len 0 at order 0 -> "1". Fixed records
  // of a largest gap of 40 would take 6 bits each.
  uint64_t cost[2 * dedup::kGolombOrders] = {};
  dedup::add_golomb_costs(1, 0, cost);
  dedup::add_golomb_costs(1, 0, cost);
  const dedup::Layout l = dedup::choose_layout(dedup::layout_for(40, 1, 1, 1), 2, cost, true);
  ASSERT_TRUE(l.golomb);
  ASSERT_EQ(l.gap_order, 1u);
  ASSERT_EQ(l.len_order, 0u);
  ASSERT_EQ(l.golomb_bits, 6u);  // 2 x (2 + 0 + 1)
  EXPECT_FALSE(dedup::choose_layout(dedup::layout_for(40, 1, 1, 1), 2, cost, false).golomb);
  // Not smaller than fixed records of a largest gap of 1 (1 bit each): fixed.
  EXPECT_FALSE(dedup::choose_layout(dedup::layout_for(1, 1, 1, 1), 2, cost, true).golomb);
  std::vector<uint8_t> sec(64, 0);
  const uint64_t head = dedup::write_head(sec.data(), 2, sources, 1, l);
  ASSERT_EQ(sec[2], dedup::kGolombFlag | 1);
  ASSERT_EQ(sec[4], 0);  // len order 0, no step
  uint64_t bit = 0;
  dedup::write_run(sec.data() + head, 1, &bit, l, 1, 0, 1);
  dedup::write_run(sec.data() + head, 1, &bit, l, 1, 0, 1);
  ASSERT_EQ(bit, 6u);
  // Bits LSB first: 1 1 1 | 1 1 1 | 0 0 (padding).
  ASSERT_EQ(sec[head], 0x3f);
  auto decodes = [](const std::vector<uint8_t>& s, size_t n) {
    dedup::Section parsed;
    if (!dedup::parse_section(s.data(), s.data() + n, 8, &parsed)) return false;
    int64_t src[1];
    if (!dedup::read_sources(parsed, s.data() + n, 8, 0, src)) return false;
    uint64_t b = 0, prev_end = 0;
    for (uint64_t k = 0; k < parsed.n_runs; ++k) {
      dedup::Run r;
      if (!dedup::read_run(parsed, src, &b, prev_end, 8, &r)) return false;
      prev_end = r.dst + r.len;
    }
    return dedup::records_end_ok(parsed, b);
  };
  const size_t n = head + 1;
  EXPECT_TRUE(decodes(sec, n));
  EXPECT_FALSE(decodes(sec, n - 1));  // the records cut off
  EXPECT_FALSE(decodes(sec, n + 1));  // a byte after the last run
  std::vector<uint8_t> bad = sec;
  bad[2] = dedup::kGolombFlag | 17;  // an order above 16
  EXPECT_FALSE(decodes(bad, n));
  bad = sec;
  bad[2] = dedup::kGolombFlag | 16;  // order 16: the codes read differently, and run past the end
  EXPECT_FALSE(decodes(bad, n));
  bad = sec;
  bad[head] = 0x00;  // the first code's one bit gone: its zeros run into the next code
  EXPECT_FALSE(decodes(bad, n));
  // A code of 41 zeros before its one bit, in a section long enough to hold it: refused, where
  // 40 zeros would be read (and then fail the frame's bounds).
  for (uint32_t zeros : {40u, 41u}) {
    std::vector<uint8_t> z = sec;
    z.resize(head + 16, 0);
    std::fill(z.begin() + (long)head, z.end(), 0);
    dedup::put_field(z.data() + head, zeros, 1, 1);
    dedup::Section parsed;
    ASSERT_TRUE(dedup::parse_section(z.data(), z.data() + z.size(), 1ull << 40, &parsed));
    uint64_t b = 0, v = 0;
    EXPECT_EQ(dedup::get_golomb(parsed.records, parsed.records_bytes * 8, &b, 0, &v),
              zeros <= dedup::kMaxGolombPrefix)
        << zeros << " zeros";
  }
}

// A reference's source must be literal units of the frame. Units 12-23 repeat 0-11 and units
// 36-47 repeat 24-35, so the encoder writes two runs with the sources 0 and 24; the second
// source moved to each of 1..23 (a 12-unit range that reaches into the first run's references
// at every one of its byte positions, in the check's first or second word) is rejected as
// kDedupSource, and put back at 24 the frame decodes to the input.
TEST(Dedup, SourceRangesMustBeLiteral) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.1f);
  constexpr uint64_t kUnits = 48;
  std::vector<float> v(kUnits * kUnitElems);
  for (float& x : v) x = g(rng);
  std::copy(v.begin(), v.begin() + 12 * kUnitElems, v.begin() + 12 * kUnitElems);
  std::copy(v.begin() + 24 * kUnitElems, v.begin() + 36 * kUnitElems, v.begin() + 36 * kUnitElems);
  CodecParams p;
  p.bound = 1e-2;
  p.caps = kCapsAll & ~kCapHistory;
  const size_t bytes = v.size() * 4;
  std::vector<uint8_t> frame;
  staged::Header h;
  ASSERT_NO_FATAL_FAILURE(encode_frame(p, v, &frame, &h));
  const uint8_t* sec_p = frame.data() + staged::section_offset(h, StagedSection::kDedup);
  const uint8_t* sec_end = sec_p + h.section[(int)StagedSection::kDedup];
  dedup::Section sec;
  ASSERT_TRUE(dedup::parse_section(sec_p, sec_end, kUnits, &sec));
  ASSERT_EQ(sec.n_runs, 2u) << "seed " << seed;
  ASSERT_EQ(sec.n_sources, 2u) << "seed " << seed;
  // The second source: varint (24 - 0 - 1) = 23, one byte after the first's (zigzag 0).
  const size_t second = (size_t)(sec.sources - frame.data()) + 1;
  ASSERT_EQ(frame[second], 23u);
  std::vector<uint8_t> original(bytes), out(bytes);
  size_t out_bytes = 0;
  ASSERT_EQ(cpu::decode_staged(frame.data(), frame.size(), original.data(), original.size(),
                               nullptr, &out_bytes),
            staged::Reject::kNone);
  // The repeats are their sources' decoded bytes.
  ASSERT_EQ(std::memcmp(original.data() + 12 * 64, original.data(), 12 * 64), 0);
  ASSERT_EQ(std::memcmp(original.data() + 36 * 64, original.data() + 24 * 64, 12 * 64), 0);
  for (uint8_t src = 1; src < 24; ++src) {
    frame[second] = (uint8_t)(src - 1);
    EXPECT_EQ(
        cpu::decode_staged(frame.data(), frame.size(), out.data(), out.size(), nullptr, &out_bytes),
        staged::Reject::kDedupSource)
        << "source " << (int)src << ", seed " << seed;
  }
  frame[second] = 23;
  ASSERT_EQ(
      cpu::decode_staged(frame.data(), frame.size(), out.data(), out.size(), nullptr, &out_bytes),
      staged::Reject::kNone);
  EXPECT_EQ(out, original);
}

// The stream history's table against a map of the first position of each hash in the window:
// find gives nothing, a position outside the window, or a position in the window that holds
// that hash (never another hash's); it gives the map's position exactly unless the hash's bucket
// overflowed (always with at most four hashes, and for most lookups otherwise). A window slides
// over positions as the encoder's does, over a small universe of keys in a small table.
TEST(UnitTable, SlidingWindowMatchesAMap) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  uint64_t lookups = 0, exact = 0;
  for (int round = 0; round < 60; ++round) {
    const bool few_keys = round % 3 == 0;
    std::vector<uint64_t> universe(few_keys ? 1 + rng() % 4 : 24 + rng() % 100);
    for (uint64_t& k : universe) k = rng();
    const uint64_t window = 4 + rng() % 28;
    cpu::UnitTable table;
    table.reset(window);
    std::map<uint64_t, uint64_t> model;
    std::vector<uint64_t> key_at;
    for (uint64_t pos = 0; pos < 3000; ++pos) {
      const uint64_t window_start = pos + 1 > window ? pos + 1 - window : 0;
      const uint64_t k = universe[rng() % universe.size()];
      key_at.push_back(k);
      cpu::UnitTable::Change change;
      table.offer(k, pos, window_start, &change);
      auto it = model.find(k);
      if (it == model.end() || it->second < window_start) model[k] = pos;
      for (uint64_t q : universe) {
        auto m = model.find(q);
        const uint64_t got = table.find(q);
        const bool live = m != model.end() && m->second >= window_start;
        if (got != cpu::UnitTable::kNone && got >= window_start) {
          ASSERT_LE(got, pos) << "seed " << seed;
          ASSERT_EQ(key_at[got], q) << "seed " << seed << ": a position of another hash";
        }
        if (!live) continue;
        ++lookups;
        exact += got == m->second;
        if (few_keys) {
          ASSERT_EQ(got, m->second) << "seed " << seed << " round " << round << " position " << pos;
        }
      }
    }
  }
  EXPECT_GT(exact, lookups * 9 / 10) << "seed " << seed << ": " << exact << " of " << lookups;
}

// n random 64-bit keys (a table test's hashes).
std::vector<uint64_t> random_keys(std::mt19937_64& rng, size_t n) {
  std::vector<uint64_t> keys(n);
  for (uint64_t& k : keys) k = rng();
  return keys;
}

// offer_found, as the encoder uses it (every key of a batch looked up first, then the keys
// offered in order, each with the slot and position its lookup gave), changes a table exactly as
// offer does: two tables in step, one with each, every key finding the same after each batch.
// A small table, so that other keys' offers in a batch often take the slot a lookup gave (then
// offer_found must search as offer does); that case is counted so that it is known to happen.
TEST(UnitTable, OfferFoundChangesTheTableAsOfferDoes) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  const std::vector<uint64_t> universe = random_keys(rng, 300);
  const uint64_t window = 32;
  cpu::UnitTable by_offer, by_found;
  by_offer.reset(window);
  by_found.reset(window);
  uint64_t pos = 0, offers = 0, moved = 0;
  cpu::UnitTable::Change change;
  for (int batch = 0; batch < 400; ++batch) {
    // Distinct keys, as the encoder offers each key once a frame.
    std::vector<uint64_t> keys;
    for (uint64_t n = 1 + rng() % 24; keys.size() < n;) {
      const uint64_t k = universe[rng() % universe.size()];
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    const uint64_t window_start = pos + keys.size() > window ? pos + keys.size() - window : 0;
    std::vector<int> slot(keys.size());
    std::vector<uint64_t> found(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) found[i] = by_found.find(keys[i], &slot[i]);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (found[i] != cpu::UnitTable::kNone) {
        int now = -1;
        moved += by_found.find(keys[i], &now) != found[i] || now != slot[i];
      }
      by_offer.offer(keys[i], pos + i, window_start, &change);
      by_found.offer_found(keys[i], pos + i, window_start, slot[i], found[i], &change);
      ++offers;
    }
    pos += keys.size();
    for (uint64_t q : universe) {
      int a = 0, b = 0;
      const uint64_t want = by_offer.find(q, &a), got = by_found.find(q, &b);
      ASSERT_EQ(want, got) << "seed " << seed << " batch " << batch;
      ASSERT_EQ(a, b) << "seed " << seed << " batch " << batch;
    }
  }
  EXPECT_GT(moved, 20u) << "seed " << seed << ": the lookups' slots were never taken (" << offers
                        << " offers)";
}

// A frame's offers taken back (the encoder does so when the frame goes out raw): every hash
// finds what it found before them, after batches of 1-300 offers that insert, move positions
// up and evict (a small table: buckets fill), the changes undone last first.
TEST(UnitTable, UndoPutsBackWhatOffersChanged) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  const std::vector<uint64_t> universe = random_keys(rng, 200);
  const uint64_t window = 64;
  cpu::UnitTable table;
  table.reset(window);
  uint64_t pos = 0, changed = 0;
  std::vector<cpu::UnitTable::Change> log(300);
  for (int batch = 0; batch < 200; ++batch) {
    const uint64_t n = 1 + rng() % 300;
    const uint64_t window_start = pos + n > window ? pos + n - window : 0;
    std::vector<uint64_t> before;
    for (uint64_t q : universe) before.push_back(table.find(q));
    uint64_t n_changes = 0;
    for (uint64_t i = 0; i < n; ++i)
      n_changes +=
          table.offer(universe[rng() % universe.size()], pos + i, window_start, &log[n_changes]);
    changed += n_changes;
    if (batch % 2 == 0) {
      cpu::UnitTable::undo(log.data(), n_changes);
      for (size_t q = 0; q < universe.size(); ++q)
        ASSERT_EQ(table.find(universe[q]), before[q]) << "seed " << seed << " batch " << batch;
    } else {
      pos += n;  // kept: the next batch starts from it
    }
  }
  EXPECT_GT(changed, 1000u) << "seed " << seed;
}

std::vector<const cpu::Backend*> backends() {
  std::vector<const cpu::Backend*> v{&cpu::scalar_backend()};
  if (cpu::avx2_backend()) v.push_back(cpu::avx2_backend());
  return v;
}

TEST(Kernels, UnitKeysAgreeWithTheHashDefinition) {
  std::mt19937_64 rng(test::test_seed());
  // 503 units: the AVX2 loop's groups of four and a tail.
  constexpr size_t kUnits = 503;
  for (uint32_t unit_bytes : {32u, 64u}) {
    std::vector<uint8_t> data(unit_bytes * kUnits);
    for (auto& b : data) b = (uint8_t)rng();
    std::memcpy(data.data() + unit_bytes * 7, data.data(), unit_bytes);  // a repeat
    for (const cpu::Backend* be : backends()) {
      std::vector<uint64_t> keys(kUnits);
      be->units->unit_keys(data.data(), kUnits, unit_bytes, keys.data());
      for (size_t u = 0; u < kUnits; ++u)
        ASSERT_EQ(keys[u],
                  dedup::table_key(dedup::unit_hash(data.data() + u * unit_bytes, unit_bytes)))
            << be->name << " unit " << u;
      EXPECT_EQ(keys[7], keys[0]);
      EXPECT_NE(keys[8], keys[0]);
    }
  }
}

TEST(Kernels, PlanesAgreeWithBlockPackPlanesEveryWidth) {
  std::mt19937_64 rng(test::test_seed());
  for (const cpu::Backend* be : backends()) {
    for (uint32_t w = 0; w <= kMaxCodeWidth; ++w) {
      for (int round = 0; round < 20; ++round) {
        uint32_t codes[32];
        for (uint32_t& c : codes) c = w == 0 ? 0 : (uint32_t)(rng() & ((1ull << w) - 1));
        uint8_t a[4 * kMaxCodeWidth] = {}, b[4 * kMaxCodeWidth] = {};
        block::pack_planes(codes, w, a);
        const uint32_t both_units[2] = {0, 1};  // one group: the 32 codes
        be->units->pack_groups(codes, both_units, 2, nullptr, w, b);
        ASSERT_EQ(0, std::memcmp(a, b, 4 * w)) << be->name << " width " << w;
        uint32_t back[32];
        be->units->unpack_planes(b, w, back);
        ASSERT_EQ(0, std::memcmp(back, codes, sizeof(codes))) << be->name << " width " << w;
      }
    }
  }
}

// The fixed coder's groups from a list of units, against their definition: group g is listed
// units 2g and 2g + 1 (zeros past the last), packed by block::pack_planes. Lists of adjacent and
// scattered units, odd and even counts, one width or a width per group; and local mode's packer
// of codes of a byte each (pack_groups_narrow) on the same lists at widths up to 8.
TEST(Kernels, PackGroupsAreTheListedUnitsPlanes) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  int narrow_rounds = 0;
  for (const cpu::Backend* be : backends()) {
    for (int round = 0; round < 200; ++round) {
      const uint32_t n_codes_units = 1 + (uint32_t)(rng() % 64);
      const uint32_t w = (uint32_t)(rng() % (kMaxCodeWidth + 1));
      std::vector<uint32_t> codes(n_codes_units * kUnitElems);
      for (uint32_t& c : codes) c = (uint32_t)(rng() & ((1ull << kMaxCodeWidth) - 1));
      std::vector<uint32_t> units;
      for (uint32_t u = 0; u < n_codes_units; ++u)
        if (rng() % 3 != 0) units.push_back(u);
      if (units.empty()) units.push_back(0);
      const uint64_t n_units = units.size(), n_groups = (n_units + 1) / 2;
      std::vector<uint8_t> widths(n_groups);
      const bool per_group = rng() % 2 == 0;
      uint64_t bytes = 0;
      for (uint8_t& g : widths) {
        g = per_group ? (uint8_t)(rng() % (kMaxCodeWidth + 1)) : (uint8_t)w;
        bytes += 4 * g;
      }
      // Codes within each group's width, as the encoder gives them.
      for (uint64_t g = 0; g < n_groups; ++g)
        for (uint64_t k = 2 * g; k < std::min<uint64_t>(2 * g + 2, n_units); ++k)
          for (uint32_t e = 0; e < kUnitElems; ++e)
            codes[units[k] * kUnitElems + e] &= (uint32_t)((1ull << widths[g]) - 1);
      std::vector<uint8_t> want(bytes + 1, 0xa5), got(bytes + 1, 0xa5);
      uint8_t* o = want.data();
      for (uint64_t g = 0; g < n_groups; ++g) {
        uint32_t group[kGroupCodes] = {};
        for (uint64_t k = 2 * g; k < std::min<uint64_t>(2 * g + 2, n_units); ++k)
          std::memcpy(group + (k - 2 * g) * kUnitElems, codes.data() + units[k] * kUnitElems,
                      4 * kUnitElems);
        block::pack_planes(group, widths[g], o);
        o += 4 * widths[g];
      }
      be->units->pack_groups(codes.data(), units.data(), n_units,
                             per_group ? widths.data() : nullptr, w, got.data());
      ASSERT_EQ(want, got) << be->name << " round " << round << " seed " << seed;
      // Local mode's one width up to 8, from codes of a byte each: the same bytes.
      if (!per_group && w <= 8) {
        std::vector<uint8_t> codes8(codes.size());
        for (size_t i = 0; i < codes.size(); ++i) codes8[i] = (uint8_t)codes[i];
        std::vector<uint8_t> narrow(bytes + 1, 0xa5);
        be->units->pack_groups_narrow(codes8.data(), units.data(), n_units, w, narrow.data());
        ASSERT_EQ(want, narrow) << be->name << " narrow, round " << round << " seed " << seed;
        ++narrow_rounds;
      }
    }
  }
  EXPECT_GT(narrow_rounds, 0) << "seed " << seed;
}

// The global fixed coder's widths from a list of units, against their definition: group g's
// width is quant::code_width of the OR of listed units 2g and 2g + 1 (the last group may have one
// unit), the return value the OR of every listed code and *planes the widths' sum. Codes of every
// width up to kMaxCodeWidth, zero groups, scattered lists of odd and even length.
TEST(Kernels, GroupWidthsAreEachGroupsWidestCode) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (const cpu::Backend* be : backends()) {
    for (int round = 0; round < 300; ++round) {
      const uint32_t n_code_units = 1 + (uint32_t)(rng() % 80);
      std::vector<uint32_t> codes(n_code_units * kUnitElems);
      for (uint32_t u = 0; u < n_code_units; ++u) {
        // Each unit its own width, one unit in eight all zeros; one code may reach the width.
        const uint32_t width = rng() % 8 == 0 ? 0 : 1 + (uint32_t)(rng() % kMaxCodeWidth);
        for (uint32_t e = 0; e < kUnitElems; ++e)
          codes[u * kUnitElems + e] =
              width == 0 ? 0 : (uint32_t)(rng() & ((1ull << (rng() % width + 1)) - 1));
      }
      std::vector<uint32_t> units;
      for (uint32_t u = 0; u < n_code_units; ++u)
        if (rng() % 3 != 0) units.push_back(u);
      if (units.empty()) units.push_back(n_code_units - 1);
      const uint64_t n_units = units.size(), n_groups = (n_units + 1) / 2;
      std::vector<uint8_t> want(n_groups), got(n_groups + 1, 0xa5);
      uint32_t want_all = 0;
      uint64_t want_planes = 0;
      for (uint64_t g = 0; g < n_groups; ++g) {
        uint32_t any = 0;
        for (uint64_t k = 2 * g; k < std::min<uint64_t>(2 * g + 2, n_units); ++k)
          for (uint32_t e = 0; e < kUnitElems; ++e) any |= codes[units[k] * kUnitElems + e];
        want[g] = (uint8_t)quant::code_width(any);
        want_all |= any;
        want_planes += want[g];
      }
      uint64_t planes = ~0ull;
      const uint32_t all =
          be->units->group_widths(codes.data(), units.data(), n_units, got.data(), &planes);
      ASSERT_EQ(all, want_all) << be->name << " round " << round << " seed " << seed;
      ASSERT_EQ(planes, want_planes) << be->name << " round " << round << " seed " << seed;
      ASSERT_EQ(got[n_groups], 0xa5) << be->name << ": wrote past the last group";
      got.resize(n_groups);
      ASSERT_EQ(got, want) << be->name << " round " << round << " seed " << seed;
    }
  }
}

// A local frame's rANS codes must stay below 2^W; the decoders skip checking every code when the
// table gives no symbol at or above 2^(W - shift) a frequency. The codes section of an encoder's
// frame is rebuilt with a table that does (one more symbol, 2^(W - shift), of frequency 1): with
// the same symbols the frame still decodes to the same values; with one of them changed to the new
// symbol it is rejected as kRansStream, on every backend.
TEST(Rans, LocalCodesAtTheWidthAreRejected) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(16384);
  for (float& x : v) {
    const float y = g(rng);
    x = y * y * y;  // peaked codes: the rANS stage pays
  }
  CodecParams p;
  p.mode = BoundMode::kLocal;
  p.bound = 1e-2;
  p.caps = kCapsAll & ~kCapHistory;
  p.rans_min_gain = 0;
  const size_t bytes = v.size() * 4;
  std::vector<uint8_t> frame;
  staged::Header h;
  ASSERT_NO_FATAL_FAILURE(encode_frame(p, v, &frame, &h));
  ASSERT_EQ(h.coder, (uint8_t)StagedCoder::kRans) << "seed " << seed;
  ASSERT_EQ(h.quant, (uint8_t)StagedQuant::kLocal);
  const uint32_t w = frame[staged::section_offset(h, StagedSection::kQuant) + 1];
  // The codes section: shift, table, word counts, segments, raw low bits.
  const size_t code_off = staged::section_offset(h, StagedSection::kCodes);
  const uint8_t* q = frame.data() + code_off;
  const uint8_t* end = q + h.section[(int)StagedSection::kCodes];
  const uint32_t shift = *q++;
  ASSERT_LT(shift, w);
  rans::Tables t;
  ASSERT_TRUE(rans::read_table(&q, end, &t));
  const uint32_t top = 1u << (w - shift);  // the first symbol past the width
  ASSERT_LE(t.n_sym, top);
  // Random data: no repeats, every block quantized, so every element is coded.
  const uint64_t n_coded = v.size();
  const uint32_t n_seg = rans::segments_for(n_coded);
  std::vector<uint8_t> sym(n_coded);
  const uint8_t* seg = q + 4 * n_seg;
  for (uint32_t k = 0; k < n_seg; ++k) {
    const uint64_t first = (uint64_t)k * rans::kSegmentSymbols;
    const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n_coded - first);
    const uint32_t n_words = block::load_le32(q + 4 * k);
    ASSERT_TRUE(rans::decode_segment(seg, n_words, count, t, sym.data() + first));
    seg += rans::segment_bytes(n_words);
  }
  const std::vector<uint8_t> low(seg, end);
  ASSERT_EQ(low.size(), rans::packed_bytes(n_coded, shift));

  // The table with symbol `top` at frequency 1, taken from the most frequent symbol.
  uint32_t freq[rans::kMaxSymbols] = {}, cum[rans::kMaxSymbols] = {};
  for (uint32_t k = 0; k < t.n_sym; ++k) freq[k] = t.freq[k];
  const uint32_t n_sym = top + 1;
  --*std::max_element(freq, freq + t.n_sym);
  freq[top] = 1;
  for (uint32_t k = 0, c = 0; k < n_sym; ++k, c += freq[k - 1]) cum[k] = c;
  auto rebuilt = [&](const std::vector<uint8_t>& symbols) {
    std::vector<uint8_t> section(1 + rans::table_bytes(freq, n_sym) + 4 * n_seg);
    section[0] = (uint8_t)shift;
    rans::write_table(freq, n_sym, section.data() + 1);
    std::vector<uint16_t> scratch(rans::kSegmentSymbols + rans::kScratchSlack);
    for (uint32_t k = 0; k < n_seg; ++k) {
      const uint64_t first = (uint64_t)k * rans::kSegmentSymbols;
      const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n_coded - first);
      std::vector<uint8_t> out(rans::kStateBytes + 2 * (size_t)count);
      const uint32_t n_words = rans::encode_segment(symbols.data() + first, count, freq, cum,
                                                    scratch.data(), out.data());
      block::store_le32(section.data() + 1 + rans::table_bytes(freq, n_sym) + 4 * k, n_words);
      section.insert(section.end(), out.begin(), out.begin() + rans::segment_bytes(n_words));
    }
    section.insert(section.end(), low.begin(), low.end());
    staged::Header nh = h;
    nh.section[(int)StagedSection::kCodes] = (uint32_t)section.size();
    std::vector<uint8_t> f(frame.begin(), frame.begin() + code_off);
    f.insert(f.end(), section.begin(), section.end());
    f.insert(f.end(), frame.begin() + code_off + h.section[(int)StagedSection::kCodes],
             frame.end());
    nh.frame_bytes = f.size();
    staged::write(nh, f.data());
    return f;
  };
  const std::vector<uint8_t> same = rebuilt(sym);
  std::vector<uint8_t> past = sym;
  past[rng() % past.size()] = (uint8_t)top;
  const std::vector<uint8_t> wide = rebuilt(past);

  std::vector<uint8_t> want(bytes), out(bytes);
  size_t out_bytes = 0;
  ASSERT_EQ(
      cpu::decode_staged(frame.data(), frame.size(), want.data(), want.size(), nullptr, &out_bytes),
      staged::Reject::kNone);
  for (const cpu::Backend* be : backends()) {
    ASSERT_TRUE(cpu::select_backend(be->name));
    std::fill(out.begin(), out.end(), 0);
    EXPECT_EQ(
        cpu::decode_staged(same.data(), same.size(), out.data(), out.size(), nullptr, &out_bytes),
        staged::Reject::kNone)
        << be->name << ", seed " << seed;
    EXPECT_EQ(out, want) << be->name << ", seed " << seed;
    EXPECT_EQ(
        cpu::decode_staged(wide.data(), wide.size(), out.data(), out.size(), nullptr, &out_bytes),
        staged::Reject::kRansStream)
        << be->name << ", seed " << seed;
  }
  ASSERT_TRUE(cpu::select_backend("auto"));
}

// A frame's rANS segments: long (rans::kLongSegmentSymbols) for a receiver that declares
// kCapRansLongSegments when the stream is longer than one short segment, else short. Walks the
// codes section of a staged rANS frame: its segment size, segment count and each segment decoded
// by the reference decoder; false when any of that fails.
bool walk_rans_segments(const std::vector<uint8_t>& frame, const staged::Header& h,
                        uint64_t n_coded, uint32_t* seg_symbols, uint32_t* n_seg) {
  const uint8_t* q = frame.data() + staged::section_offset(h, StagedSection::kCodes);
  const uint8_t* end = q + h.section[(int)StagedSection::kCodes];
  uint32_t shift = 0;
  if (!rans::parse_shift_byte(*q++, &shift, seg_symbols) || shift != 0) return false;
  rans::Tables t;
  if (!rans::read_table(&q, end, &t)) return false;
  *n_seg = rans::segments_for(n_coded, *seg_symbols);
  const uint8_t* seg = q + 4ull * *n_seg;
  std::vector<uint8_t> sym(*seg_symbols);
  for (uint32_t k = 0; k < *n_seg; ++k) {
    const uint32_t n_words = block::load_le32(q + 4 * k);
    if (!rans::decode_segment(seg, n_words, rans::segment_count(n_coded, *seg_symbols, k), t,
                              sym.data()))
      return false;
    seg += rans::segment_bytes(n_words);
  }
  return seg == end;
}

// Long rANS segments where the receiver decodes them (kCapRansLongSegments) and they save a
// segment: 16,384 codes keep one short segment (the frame is the one without the capability,
// byte for byte), 20,000 and 32,768 take one long segment instead of two short ones, 50,000 two
// instead of four. Each long frame is smaller by more than a segment's start-up cost (its states
// begin at 2^16: 64 bytes at least), and decodes to the same bytes within the bound.
TEST(Rans, LongSegmentsWhereTheReceiverDecodesThem) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (uint32_t n : {16384u, 20000u, 32768u, 50000u}) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", " + std::to_string(n) + " values");
    std::vector<float> v(n);  // random: no repeats, every value coded
    for (float& x : v) x = 0.2f * g(rng);
    CodecParams p;
    p.mode = BoundMode::kRel;
    p.bound = 1e-2;
    p.rans_min_gain = 0;
    p.caps = kCapsAll & ~kCapHistory;
    std::vector<uint8_t> with, without;
    staged::Header hw, ho;
    ASSERT_NO_FATAL_FAILURE(
        encode_with_and_without(p, v, kCapRansLongSegments, &with, &hw, &without, &ho));
    ASSERT_EQ(hw.coder, (uint8_t)StagedCoder::kRans);
    ASSERT_EQ(ho.coder, (uint8_t)StagedCoder::kRans);
    uint32_t seg_w = 0, n_w = 0, seg_o = 0, n_o = 0;
    ASSERT_TRUE(walk_rans_segments(with, hw, n, &seg_w, &n_w));
    ASSERT_TRUE(walk_rans_segments(without, ho, n, &seg_o, &n_o));
    EXPECT_EQ(seg_o, rans::kSegmentSymbols);
    EXPECT_EQ(n_o, (n + rans::kSegmentSymbols - 1) / rans::kSegmentSymbols);
    if (n <= rans::kSegmentSymbols) {
      EXPECT_EQ(seg_w, rans::kSegmentSymbols);
      EXPECT_EQ(with, without);
    } else {
      EXPECT_EQ(seg_w, rans::kLongSegmentSymbols);
      EXPECT_EQ(n_w, (n + rans::kLongSegmentSymbols - 1) / rans::kLongSegmentSymbols);
      EXPECT_LT(with.size() + 64 * (n_o - n_w), without.size())
          << with.size() << " against " << without.size();
      // Only the codes section differs in size.
      for (uint32_t k = 0; k < kStagedSections; ++k) {
        if (k != (uint32_t)StagedSection::kCodes) {
          EXPECT_EQ(hw.section[k], ho.section[k]);
        }
      }
    }
    for (const cpu::Backend* be : backends()) {
      ASSERT_TRUE(cpu::select_backend(be->name));
      SCOPED_TRACE(be->name);
      ASSERT_NO_FATAL_FAILURE(expect_same_values_within_bound(p, v, with, without));
    }
    ASSERT_TRUE(cpu::select_backend("auto"));
  }
}

// The segment size flag (rans::kLongSegmentFlag in the shift byte) is read by every decoder: set
// on a stream of one short segment it describes the same segment, and the frame decodes to the
// same bytes; cleared on a stream of long segments the word counts and segments no longer match
// (kRansStream); beside a shift above 16 it does not make that shift valid (kRansStream).
TEST(Rans, SegmentSizeFlagIsValidated) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (uint32_t n : {16384u, 20000u, 50000u}) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", " + std::to_string(n) + " values");
    std::vector<float> v(n);
    for (float& x : v) x = 0.2f * g(rng);
    CodecParams p;
    p.mode = BoundMode::kRel;
    p.bound = 1e-2;
    p.rans_min_gain = 0;
    p.caps = kCapsAll & ~kCapHistory;
    std::vector<uint8_t> frame;
    staged::Header h;
    ASSERT_NO_FATAL_FAILURE(encode_frame(p, v, &frame, &h));
    ASSERT_EQ(h.coder, (uint8_t)StagedCoder::kRans);
    const size_t shift_at = staged::section_offset(h, StagedSection::kCodes);
    const bool long_segments = (frame[shift_at] & rans::kLongSegmentFlag) != 0;
    ASSERT_EQ(long_segments, n > rans::kSegmentSymbols);
    std::vector<uint8_t> want(n * 4), out(n * 4);
    size_t out_bytes = 0;
    ASSERT_EQ(cpu::decode_staged(frame.data(), frame.size(), want.data(), want.size(), nullptr,
                                 &out_bytes),
              staged::Reject::kNone);
    std::vector<uint8_t> flipped = frame, wide_shift = frame;
    flipped[shift_at] ^= rans::kLongSegmentFlag;
    wide_shift[shift_at] = (uint8_t)(rans::kLongSegmentFlag | 17u);
    for (const cpu::Backend* be : backends()) {
      ASSERT_TRUE(cpu::select_backend(be->name));
      std::fill(out.begin(), out.end(), 0);
      const staged::Reject got = cpu::decode_staged(flipped.data(), flipped.size(), out.data(),
                                                    out.size(), nullptr, &out_bytes);
      if (long_segments) {
        EXPECT_EQ(got, staged::Reject::kRansStream) << be->name;
      } else {
        EXPECT_EQ(got, staged::Reject::kNone) << be->name;
        EXPECT_EQ(out, want) << be->name;
      }
      EXPECT_EQ(cpu::decode_staged(wide_shift.data(), wide_shift.size(), out.data(), out.size(),
                                   nullptr, &out_bytes),
                staged::Reject::kRansStream)
          << be->name;
    }
    ASSERT_TRUE(cpu::select_backend("auto"));
  }
}

// The reference exponent of records that share one bound, from the widest record alone, against
// its definition (the scalar set's local_e0: every record's wanted step): ranges from the
// smallest floats to the largest (wanted steps that are not normal floats, and products beyond
// FLT_MAX), special records, bounds from 1e-7 to 1e3.
TEST(Local, ReferenceExponentOfOneBoundIsTheWidestRecords) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const cpu::UnitKernels& scalar = *cpu::scalar_backend().units;
  for (int round = 0; round < 3000; ++round) {
    const uint64_t n = rng() % 40;
    std::vector<local::BlockStats> st(n);
    const int span = 1 + (int)(rng() % 250);  // how many octaves the records' scales cover
    const int top = (int)(rng() % 256) - 128;
    for (local::BlockStats& x : st) {
      const float scale = (float)std::ldexp(1.0, std::max(-149, top - (int)(rng() % span)));
      const float a = (float)(scale * (2.0 * u(rng) - 1.0));
      const float b = (float)(scale * (2.0 * u(rng) - 1.0));
      x = {std::min(a, b), std::max(a, b), true, false, 0};
      switch (rng() % 8) {
        case 0:
          x = {INFINITY, -INFINITY, false, false, 0};
          break;
        case 1:
          x = {a, a, true, true, quant::float_to_bits(a)};
          break;
        case 2:
          x = {-0.0f, 0.0f, true, false, 0};  // signed zeros: plain, range 0
          break;
        default:
          break;
      }
    }
    const double bound = std::pow(10.0, -7.0 + 10.0 * u(rng));
    const std::vector<double> bounds(n, bound);
    ASSERT_EQ(local::e0_for_one_bound(st.data(), n, bound),
              scalar.local_e0(st.data(), bounds.data(), n))
        << "round " << round << " seed " << seed;
  }
}

TEST(Local, RecordsParseToTheParametersTheEncoderUsed) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 20000; ++round) {
    local::BlockStats st;
    const float scale = std::ldexp(1.0f, (int)(rng() % 60) - 30);
    std::normal_distribution<float> g(0.0f, scale);
    st.mn = g(rng);
    st.mx = st.mn + std::fabs(g(rng));
    st.has_finite = true;
    st.all_same = st.mn == st.mx;
    st.same_bits = quant::float_to_bits(st.mn);
    const double bound = std::ldexp(1.0, -(int)(rng() % 20) - 1);
    const uint32_t w = local::code_width(bound);
    const uint32_t e0 = 1 + (uint32_t)(rng() % 254);
    uint32_t record, side[2];
    local::BlockParams enc, dec;
    const uint8_t dtype = (uint8_t)(round % 3 == 0   ? DType::kF32
                                    : round % 3 == 1 ? DType::kF16
                                                     : DType::kBF16);
    // Every other round at a reduced precision (packed frames' steps and zero points): the
    // records it gives have the low bits it drops clear.
    const local::RecordPrecision prec =
        round % 2 == 0 ? local::RecordPrecision{}
                       : local::RecordPrecision{(uint32_t)(rng() % (local::kMaxMantShift + 1)),
                                                (uint32_t)(rng() % (local::kMaxZShift + 1))};
    local::decide(st, bound, e0, w, dtype, prec, &record, side, &enc);
    if (local::is_quant_record(record)) {
      ASSERT_EQ((record >> 4) & ((1u << prec.mant_shift) - 1u), 0u) << "round " << round;
      ASSERT_EQ((record >> 13) & ((1u << prec.z_shift) - 1u), 0u) << "round " << round;
    }
    uint8_t side_bytes[8];
    block::store_le32(side_bytes, side[0]);
    block::store_le32(side_bytes + 4, side[1]);
    ASSERT_TRUE(local::parse(record, side_bytes, e0, w, &dec)) << "round " << round;
    ASSERT_EQ(dec.kind, enc.kind);
    if (local::has_codes(enc.kind)) {
      for (uint32_t q : {0u, 1u, (1u << w) - 1u}) {
        ASSERT_EQ(quant::float_to_bits(local::reconstruct(dec, q)),
                  quant::float_to_bits(local::reconstruct(enc, q)))
            << "round " << round << " code " << q;
      }
    } else {
      ASSERT_EQ(quant::float_to_bits(dec.value), quant::float_to_bits(enc.value));
    }
  }
}

// f16 and bf16 blocks: the decoder rounds a decoded value to the type, which moves it by up to
// half the type's gap, so a step of 2 eb leaves the elements whose quantization error is near
// eb outside the bound (1-2% of bf16 trained payloads at 1e-2, each stored whole). A block that
// takes local::wanted_step's smaller step has no such element: every finite element quantizes,
// and decodes, rounded to the type, within the bound, but for the quotient's f32 rounding at the
// grid's edge (below). Blocks of Gaussian values of random scales and offsets, as each type holds
// them; most blocks must take the wanted step.
TEST(Local, NarrowTypesWantedStepsLeaveNoOutliers) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (DType t : {DType::kF16, DType::kBF16}) {
    // The element's code with a block's parameters, and a code's value decoded into the type.
    auto quantize = [t](float x, const local::BlockParams& p, uint32_t* code) {
      return t == DType::kF16 ? local::quantize_element<DType::kF16>(x, p, code)
                              : local::quantize_element<DType::kBF16>(x, p, code);
    };
    auto decoded = [t](const local::BlockParams& p, uint32_t code) {
      const float xr = local::reconstruct(p, code);
      return t == DType::kF16 ? quant::round_to_type<DType::kF16>(xr)
                              : quant::round_to_type<DType::kBF16>(xr);
    };
    for (double bound : {1e-2, 2e-2, 5e-3}) {
      const uint32_t w = local::code_width(bound);
      uint64_t blocks = 0, wanted_blocks = 0, elements = 0, misses_at_2eb = 0, edge_misses = 0;
      for (int round = 0; round < 4000; ++round) {
        const double scale = std::ldexp(1.0, (int)(rng() % 16) - (t == DType::kF16 ? 10 : 20));
        const double offset = rng() % 4 == 0 ? scale * (u(rng) - 0.5) * 4.0 : 0.0;
        std::normal_distribution<double> g(offset, scale);
        float v[kBlockElems];
        local::BlockStats st{INFINITY, -INFINITY, true, false, 0};
        for (float& x : v) {
          x = t == DType::kF16 ? quant::half_to_float(quant::float_to_half_rn((float)g(rng)))
                               : quant::bf16_to_float(quant::float_to_bf16_rn((float)g(rng)));
          st.mn = std::min(st.mn, x);
          st.mx = std::max(st.mx, x);
        }
        if (st.mn == st.mx) continue;
        const double range = (double)st.mx - (double)st.mn;
        const uint32_t e0 = (local::step_bits_below(2.0 * bound * range) >> 23) + 1;
        uint32_t record, side[2];
        local::BlockParams p;
        local::decide(st, bound, e0, w, (uint8_t)t, local::RecordPrecision{}, &record, side, &p);
        ++blocks;
        const double wanted = local::wanted_step((uint8_t)t, st, bound * range);
        const bool took_wanted =
            local::has_codes(p.kind) && wanted != 2.0 * bound * range &&
            (p.kind == local::Kind::kQuant
                 ? quant::float_to_bits(p.step) == local::step_bits_below(wanted)
                 : p.step == quant::float_round_down(wanted));
        if (!took_wanted) continue;
        ++wanted_blocks;
        // The same block decided as if nothing rounded its decoded values (f32's 2 eb step).
        local::BlockParams p32;
        local::decide(st, bound, e0, w, (uint8_t)DType::kF32, local::RecordPrecision{}, &record,
                      side, &p32);
        for (float x : v) {
          ++elements;
          uint32_t code = 0;
          if (!quantize(x, p, &code)) {
            // Only the quotient's own f32 rounding at the grid's edge: a block's least element
            // can sit exactly half a step below code 0 (the zero point's eighths put it there),
            // and x / s + z / 8 in f32 then rounds to -1 (as it does at 2 eb for any type).
            const float qf = local::rounded_quotient(x, p);
            ASSERT_TRUE((x == st.mn && qf == -1.0f) ||
                        (x == st.mx && qf == (float)p.max_code + 1.0f))
                << "x " << x << " block [" << st.mn << ", " << st.mx << "] bound " << bound
                << " dtype " << (int)t << " seed " << seed;
            ++edge_misses;
            continue;
          }
          ASSERT_LT(std::fabs((double)x - (double)decoded(p, code)), bound * range)
              << "seed " << seed;
          uint32_t code32 = 0;
          misses_at_2eb += !quantize(x, p32, &code32) && local::has_codes(p32.kind);
        }
      }
      // bf16 at 5e-3: its codes (W = 7) cannot span a range at the smaller steps, so its blocks
      // keep 2 eb (and their outliers); every other case takes the wanted step almost always.
      if (!(t == DType::kBF16 && bound == 5e-3)) {
        EXPECT_GT(wanted_blocks * 10, blocks * 8)
            << "dtype " << (int)t << " bound " << bound << " seed " << seed;
      }
      EXPECT_LT(edge_misses * 2000, elements) << "seed " << seed;
      // What the wanted step is for: the 2 eb step misses elements of these blocks.
      if (t == DType::kBF16 && bound == 1e-2) {
        EXPECT_GT(misses_at_2eb * 1000, elements) << "seed " << seed;
      }
    }
  }
}

// An f16 / bf16 payload of Gaussian rows through the whole codec at local 1e-2: every element
// decodes within its block's bound, and outliers are rare (the 2 eb step stored 0.2-2% whole).
// With packed records (kCapPackedRecords) the steps have 4 mantissa bits and z whole steps, so
// more bf16 blocks fall back from the wanted step to 2 eb (about 0.23% of the elements whole
// rather than 0.06%), in a frame still smaller than with full-precision records.
TEST(Local, NarrowTypePayloadsRoundTripWithFewOutliers) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (DType t : {DType::kF16, DType::kBF16}) {
    constexpr size_t kRows = 512, kDim = 64;
    std::vector<float> v(kRows * kDim);
    for (size_t r = 0; r < kRows; ++r) {
      std::normal_distribution<float> g(0.0f, std::ldexp(1.0f, -(int)(rng() % 10)));
      for (size_t k = 0; k < kDim; ++k) v[r * kDim + k] = g(rng);
    }
    const std::vector<uint8_t> src = test::to_bytes(t, v);
    CodecParams p;
    p.mode = BoundMode::kLocal;
    p.bound = 1e-2;
    p.dtype = t;
    p.caps = kCapsAll & ~(kCapHistory | kCapPackedRecords);
    SCOPED_TRACE(testing::Message() << "dtype " << (int)t << " seed " << seed);
    const test::RoundTrip r = test::round_trip(p, src.data(), src.size());
    test::expect_valid_round_trip(p, src.data(), src.size(), r);  // every element's bound
    ASSERT_EQ(r.stats.version, kFrameVersion2);
    // At 2 eb: 0.2% (f16) and 1.8% (bf16) of these elements; with the wanted steps at most 0.1%.
    EXPECT_LT(r.stats.outliers * (t == DType::kF16 ? 1000 : 300), v.size());
    p.caps |= kCapPackedRecords;
    const test::RoundTrip packed = test::round_trip(p, src.data(), src.size());
    test::expect_valid_round_trip(p, src.data(), src.size(), packed);
    EXPECT_LT(packed.stats.outliers * (t == DType::kF16 ? 1000 : 150), v.size());
    EXPECT_LT(packed.frame.size(), r.frame.size());
  }
}

// The decoder's 8-byte form of a block (local::Dequant, q * step + add) gives the bits of the
// format's definitions: offset + q * step for an escape block, q * step - zs for a quantized one,
// over random and edge values (signed zeros, zs 0, huge and tiny steps, every code width's
// extremes).
TEST(Local, DequantIsTheDefinitionBitForBit) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  auto any_float = [&]() {
    switch (rng() % 4) {
      case 0:
        return quant::bits_to_float((uint32_t)rng() & 0xff7fffffu);  // finite, any exponent
      case 1:
        return rng() % 2 ? 0.0f : -0.0f;
      case 2:
        return std::ldexp(1.0f + (float)(rng() % 512) / 512.0f, (int)(rng() % 40) - 30);
      default:
        return (float)((int)(rng() % 2001) - 1000) * 0.125f;
    }
  };
  for (int round = 0; round < 200000; ++round) {
    local::BlockParams p;
    p.kind = rng() % 2 ? local::Kind::kEscape : local::Kind::kQuant;
    p.step = std::fabs(any_float());
    p.offset = any_float();
    p.zs = rng() % 4 == 0 ? 0.0f : std::fabs(any_float());
    const uint32_t q = rng() % 3 == 0 ? (uint32_t)(rng() % 2) * ((1u << (rng() % 25)) - 1)
                                      : (uint32_t)(rng() & 0xffffff);
    const float want =
        p.kind == local::Kind::kEscape ? p.offset + (float)q * p.step : (float)q * p.step - p.zs;
    const float got = local::reconstruct(local::dequant_of(p), q);
    ASSERT_EQ(quant::float_to_bits(got), quant::float_to_bits(want))
        << "seed " << seed << " round " << round << " q " << q << " step " << p.step;
  }
}

TEST(Local, FloorIsStdFloorBitForBit) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<double> v = {0.0,
                           -0.0,
                           0.5,
                           -0.5,
                           1.0,
                           -1.0,
                           4503599627370495.5,
                           -4503599627370495.5,
                           4503599627370496.0,
                           1e300,
                           -1e300,
                           INFINITY,
                           -INFINITY,
                           NAN,
                           std::nextafter(1.0, 0.0),
                           std::nextafter(-1.0, 0.0),
                           5e-324,
                           -5e-324};
  for (int i = 0; i < 100000; ++i) {
    double x;
    uint64_t bits = rng();
    std::memcpy(&x, &bits, 8);
    v.push_back(x);
    v.push_back(std::ldexp((double)(int64_t)(rng() % 2000001) - 1e6, -(int)(rng() % 30)));
  }
  for (double x : v) {
    const double a = quant::floor_d(x), b = std::floor(x);
    uint64_t ba, bb;
    std::memcpy(&ba, &a, 8);
    std::memcpy(&bb, &b, 8);
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << x;
    } else {
      ASSERT_EQ(ba, bb) << x;
    }
  }
}

TEST(Varint, RoundTripAndRefuseOverlongOrTruncated) {
  const uint64_t values[] = {0, 1, 127, 128, 300, (1ull << 35) + 7, ~0ull};
  for (uint64_t v : values) {
    uint8_t buf[10];
    const uint32_t n = varint::put(buf, v);
    ASSERT_EQ(n, varint::size(v));
    const uint8_t* p = buf;
    uint64_t got;
    ASSERT_TRUE(varint::get(&p, buf + n, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(p, buf + n);
    p = buf;
    EXPECT_FALSE(varint::get(&p, buf + n - 1, &got)) << "truncated";
    if (v >= (1ull << 40)) {
      p = buf;
      EXPECT_FALSE(varint::get(&p, buf + n, &got, 40)) << "above max_bits";
    }
  }
  const uint8_t overlong[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  const uint8_t* p = overlong;
  uint64_t got;
  EXPECT_FALSE(varint::get(&p, overlong + 11, &got));
}

}  // namespace
}  // namespace squeeze
