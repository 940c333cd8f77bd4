// The rANS segment coder's kernel sets: every set gives the scalar reference's bytes (rans.h's
// encode_segment) and its verdicts and symbols on well-formed and corrupted segments alike, for
// every segment shape (partial rounds, segments shorter than one round, the last words of a
// segment) and every kind of table (one symbol at 4096, extreme skews, all 256 symbols).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "codec_test_util.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cuda/cpu_runner.h"
#include "compress/cuda/rans_lanes.h"
#include "compress/methods/rans.h"

namespace squeeze::test {
namespace {

struct Segment {
  std::vector<uint8_t> sym;
  uint32_t n_sym = 0;
  uint32_t freq[rans::kMaxSymbols] = {};
  uint32_t cum[rans::kMaxSymbols] = {};
  rans::Tables tables;
};

// Symbols of one of several distributions, and the table made from their histogram the way the
// codec makes it (normalize, write, read back).
Segment make_segment(std::mt19937_64& rng, uint32_t count, int kind) {
  Segment s;
  s.sym.resize(count);
  std::geometric_distribution<int> geo(0.01 + 0.9 * (double)(rng() % 1000) / 1000.0);
  const uint8_t only = (uint8_t)(rng() % 256);
  for (uint32_t k = 0; k < count; ++k) {
    switch (kind) {
      case 0:
        s.sym[k] = only;
        break;  // freq 4096
      case 1:
        s.sym[k] = (rng() % 5000 == 0) ? 255 : 0;
        break;  // freq 1 vs 4095
      case 2:
        s.sym[k] = (uint8_t)std::min(geo(rng), 255);
        break;  // skewed
      case 3:
        s.sym[k] = (uint8_t)rng();
        break;  // uniform
      default:
        s.sym[k] = (uint8_t)(200 + rng() % 3 * 27);
        break;  // few, high
    }
  }
  uint32_t hist[rans::kMaxSymbols] = {};
  for (uint8_t x : s.sym) {
    ++hist[x];
    s.n_sym = std::max<uint32_t>(s.n_sym, x + 1u);
  }
  rans::normalize(hist, s.n_sym, s.freq);
  for (uint32_t k = 0, c = 0; k < s.n_sym; ++k) {
    s.cum[k] = c;
    c += s.freq[k];
  }
  std::vector<uint8_t> table(rans::table_bytes(s.freq, s.n_sym));
  rans::write_table(s.freq, s.n_sym, table.data());
  const uint8_t* p = table.data();
  EXPECT_TRUE(rans::read_table(&p, table.data() + table.size(), &s.tables));
  return s;
}

uint32_t pick_count(std::mt19937_64& rng) {
  static const uint32_t kEdges[] = {1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 256, 1000, 16383, 16384};
  if (rng() % 2 == 0) return kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
  return 1 + (uint32_t)(rng() % rans::kSegmentSymbols);
}

// The destination lines the coders warm while they code (cpu::WarmLines): a hint that must change
// no symbol, no verdict, no encoded byte and no byte of the lines (kWarmFill, checked by
// compare_set).
constexpr uint8_t kWarmFill = 0x77;
std::vector<uint8_t>& warm_buffer() {
  static std::vector<uint8_t> buf(256 << 10, kWarmFill);
  return buf;
}
cpu::WarmLines warm() {
  return cpu::WarmLines{warm_buffer().data(), warm_buffer().size() / 64};
}

// Decodes with both sets, to bytes and to 32-bit words, and with the CUDA decoders' lock-step
// warp decoder (kern::decode_segment_lanes, stepped through its 32 lanes as the CPU runner does):
// the same verdict and the same symbols from all five (a rejected segment's too: every decoder
// reads a missing word as 0).
void expect_same_decode(const cpu::RansKernels& k, const std::vector<uint8_t>& seg,
                        uint32_t n_words, uint32_t count, const rans::Tables& t, const char* what) {
  std::vector<uint8_t> a(count, 0xee), b(count, 0xee), lanes(count, 0xee);
  const bool ok_a =
      cpu::kRansScalar.decode_segment(seg.data(), n_words, count, t, a.data(), warm());
  const bool ok_b = k.decode_segment(seg.data(), n_words, count, t, b.data(), warm());
  EXPECT_EQ(ok_a, ok_b) << what;
  EXPECT_EQ(a, b) << what;
  EXPECT_EQ(
      kern::decode_segment_lanes(kern::CpuLanes{}, seg.data(), n_words, count, t, lanes.data()),
      ok_a)
      << what << ", warp lanes";
  EXPECT_EQ(lanes, a) << what << ", warp lanes";
  const std::vector<uint32_t> want(a.begin(), a.end());
  for (const cpu::RansKernels* set : {&cpu::kRansScalar, &k}) {
    std::vector<uint32_t> wide(count, 0xeeeeeeeeu);
    EXPECT_EQ(set->decode_segment_wide(seg.data(), n_words, count, t, wide.data(), warm()), ok_a)
        << what << (set == &k ? ", wide" : ", scalar wide");
    EXPECT_EQ(wide, want) << what << (set == &k ? ", wide" : ", scalar wide");
  }
}

// Two segments of one table decoded together (decode_two_wide, and decode_two to bytes): each
// with the verdict and the symbols the scalar decoder gives it alone, whichever of them is
// malformed and whichever is longer.
void expect_same_pair(const cpu::RansKernels& k, const std::vector<uint8_t>& seg_a,
                      uint32_t words_a, uint32_t count_a, const std::vector<uint8_t>& seg_b,
                      uint32_t words_b, uint32_t count_b, const rans::Tables& t, const char* what) {
  std::vector<uint32_t> want_a(count_a, 0xeeeeeeeeu), want_b(count_b, 0xeeeeeeeeu);
  const bool ok_a = cpu::kRansScalar.decode_segment_wide(seg_a.data(), words_a, count_a, t,
                                                         want_a.data(), warm());
  const bool ok_b = cpu::kRansScalar.decode_segment_wide(seg_b.data(), words_b, count_b, t,
                                                         want_b.data(), warm());
  for (const cpu::RansKernels* set : {&cpu::kRansScalar, &k}) {
    std::vector<uint32_t> a(count_a, 0xeeeeeeeeu), b(count_b, 0xeeeeeeeeu);
    bool got_a = !ok_a, got_b = !ok_b;
    set->decode_two_wide(seg_a.data(), words_a, count_a, seg_b.data(), words_b, count_b, t,
                         a.data(), b.data(), &got_a, &got_b, warm());
    const char* which = set == &k ? ", pair" : ", scalar pair";
    EXPECT_EQ(got_a, ok_a) << what << which;
    EXPECT_EQ(got_b, ok_b) << what << which;
    EXPECT_EQ(a, want_a) << what << which;
    EXPECT_EQ(b, want_b) << what << which;
    std::vector<uint8_t> byte_a(count_a, 0xee), byte_b(count_b, 0xee);
    got_a = !ok_a;
    got_b = !ok_b;
    set->decode_two(seg_a.data(), words_a, count_a, seg_b.data(), words_b, count_b, t,
                    byte_a.data(), byte_b.data(), &got_a, &got_b, warm());
    const char* bytes = set == &k ? ", pair to bytes" : ", scalar pair to bytes";
    EXPECT_EQ(got_a, ok_a) << what << bytes;
    EXPECT_EQ(got_b, ok_b) << what << bytes;
    EXPECT_EQ(std::vector<uint32_t>(byte_a.begin(), byte_a.end()), want_a) << what << bytes;
    EXPECT_EQ(std::vector<uint32_t>(byte_b.begin(), byte_b.end()), want_b) << what << bytes;
  }
}

void compare_set(const cpu::RansKernels& k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 400; ++round) {
    const uint32_t count = pick_count(rng);
    const int kind = (int)(rng() % 5);
    SCOPED_TRACE(testing::Message() << "round " << round << " count " << count << " kind " << kind);
    const Segment s = make_segment(rng, count, kind);
    // Room for the words of a segment and a word or two more (the corruptions below).
    const size_t cap = rans::kStateBytes + 2 * (size_t)count + 8;
    std::vector<uint8_t> seg_a(cap, 0), seg_b(cap, 0);
    std::vector<uint16_t> scratch_a(count + rans::kScratchSlack),
        scratch_b(count + rans::kScratchSlack);
    const uint32_t words_a = cpu::kRansScalar.encode_segment(
        s.sym.data(), count, s.freq, s.cum, scratch_a.data(), seg_a.data(), warm());
    const uint32_t words_b = k.encode_segment(s.sym.data(), count, s.freq, s.cum, scratch_b.data(),
                                              seg_b.data(), warm());
    ASSERT_EQ(words_a, words_b);
    ASSERT_EQ(seg_a, seg_b) << "encoded bytes differ";
    // Well formed: both decode the symbols, as bytes and as words.
    std::vector<uint8_t> out(count);
    ASSERT_TRUE(k.decode_segment(seg_a.data(), words_a, count, s.tables, out.data(), warm()));
    ASSERT_EQ(out, s.sym);
    std::vector<uint32_t> wide(count);
    ASSERT_TRUE(k.decode_segment_wide(seg_a.data(), words_a, count, s.tables, wide.data(), warm()));
    ASSERT_EQ(wide, std::vector<uint32_t>(s.sym.begin(), s.sym.end()));
    // Malformed: a word short, a word too many, a state or a word flipped, a symbol too many.
    if (words_a > 0) expect_same_decode(k, seg_a, words_a - 1, count, s.tables, "word short");
    expect_same_decode(k, seg_a, words_a + 1, count, s.tables, "word too many");
    std::vector<uint8_t> bad = seg_a;
    bad[rng() % rans::kStateBytes] ^= (uint8_t)(1u << (rng() % 8));
    expect_same_decode(k, bad, words_a, count, s.tables, "state flipped");
    if (words_a > 0) {
      bad = seg_a;
      bad[rans::kStateBytes + rng() % (2 * words_a)] ^= (uint8_t)(1u << (rng() % 8));
      expect_same_decode(k, bad, words_a, count, s.tables, "word flipped");
    }
    if (count < rans::kSegmentSymbols)
      expect_same_decode(k, seg_a, words_a, count + 1, s.tables, "symbol too many");
    bad.assign(cap, 0);
    for (uint8_t& x : bad) x = (uint8_t)rng();
    expect_same_decode(k, bad, (uint32_t)(rng() % (count + 1)), count, s.tables, "random bytes");
    // A second segment of the same table (the symbols rotated and cut to another length), decoded
    // beside the first: both well formed, then either one damaged.
    const uint32_t count2 = pick_count(rng);
    std::vector<uint8_t> sym2(count2);
    const uint32_t turn = (uint32_t)(rng() % count);
    for (uint32_t i = 0; i < count2; ++i) sym2[i] = s.sym[(turn + i) % count];
    std::vector<uint8_t> seg2(rans::kStateBytes + 2 * (size_t)count2 + 8, 0);
    std::vector<uint16_t> scratch2(count2 + rans::kScratchSlack);
    const uint32_t words2 = cpu::kRansScalar.encode_segment(sym2.data(), count2, s.freq, s.cum,
                                                            scratch2.data(), seg2.data(), warm());
    expect_same_pair(k, seg_a, words_a, count, seg2, words2, count2, s.tables, "pair");
    expect_same_pair(k, seg2, words2, count2, seg_a, words_a, count, s.tables, "pair swapped");
    bad = seg2;
    bad[rng() % rans::kStateBytes] ^= (uint8_t)(1u << (rng() % 8));
    expect_same_pair(k, seg_a, words_a, count, bad, words2, count2, s.tables, "second flipped");
    if (words_a > 0)
      expect_same_pair(k, seg_a, words_a - 1, count, seg2, words2, count2, s.tables,
                       "first a word short");
  }
  for (uint8_t b : warm_buffer()) ASSERT_EQ(b, kWarmFill) << "a warmed line was written";
}

TEST(RansKernels, Avx2MatchesScalarBytesAndVerdicts) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu::avx2_backend()) GTEST_SKIP() << "no AVX2 on this CPU";
  ASSERT_EQ(cpu::avx2_backend()->rans, &cpu::kRansAvx2);
  compare_set(cpu::kRansAvx2, test_seed());
#else
  GTEST_SKIP() << "no AVX2 set on this architecture";
#endif
}

// The encoders' histogram (four bytes to a load, four partial tables) against a count one byte at
// a time: every length up to 70 from every offset 0-7 (so each tail and alignment), runs of one
// symbol, and successive add() calls accumulating.
TEST(RansKernels, SymbolCountsMatchOneByOneCount) {
  std::mt19937_64 rng(test_seed());
  std::vector<uint8_t> bytes(80);
  for (int round = 0; round < 200; ++round) {
    const int kind = round % 4;
    for (uint8_t& b : bytes)
      b = kind == 0 ? (uint8_t)rng() : kind == 1 ? (uint8_t)(rng() % 3) : kind == 2 ? 255 : 0;
    cpu::SymbolCounts counts;
    uint64_t expect[rans::kMaxSymbols] = {};
    for (uint64_t off = 0; off < 8; ++off) {
      for (uint64_t len = 0; off + len <= 70; len += 1 + rng() % 5) {
        counts.add(bytes.data() + off, len);
        for (uint64_t i = off; i < off + len; ++i) ++expect[bytes[i]];
      }
    }
    uint32_t hist[rans::kMaxSymbols];
    uint32_t last = 0;
    for (uint32_t k = 0; k < rans::kMaxSymbols; ++k)
      if (expect[k] != 0) last = k;
    ASSERT_EQ(counts.merge(hist), last + 1) << "round " << round;
    for (uint32_t k = 0; k < rans::kMaxSymbols; ++k)
      ASSERT_EQ(hist[k], expect[k]) << "round " << round << " symbol " << k;
  }
}

// The staged encoder's estimate takes its logarithms from cpu::Log2Table: every value must be
// rans::log2_q8's, inside the table and past it, and the estimate must come out the same.
TEST(RansKernels, Log2TableIsLog2Q8) {
  const cpu::Log2Table& table = cpu::log2_table();
  for (uint32_t f = 1; f < 4 * cpu::Log2Table::kSize; ++f)
    ASSERT_EQ(table(f), rans::log2_q8(f)) << "f = " << f;
  std::mt19937_64 rng(test_seed());
  for (int k = 0; k < 100000; ++k) {
    const uint32_t f = 1 + (uint32_t)(rng() % 0xffffffffull);
    ASSERT_EQ(table(f), rans::log2_q8(f)) << "f = " << f;
  }
  for (int round = 0; round < 500; ++round) {
    uint32_t hist[rans::kMaxSymbols] = {};
    const uint32_t n_sym = 1 + (uint32_t)(rng() % rans::kMaxSymbols);
    uint64_t n_sample = 0;
    for (uint32_t s = 0; s < n_sym; ++s) {
      // counts inside the table and, one round in four, past it
      hist[s] = (uint32_t)(rng() % (round % 4 == 0 ? 100000 : 64));
      n_sample += hist[s];
    }
    const uint64_t n_codes = 4 * n_sample + rng() % 128;
    EXPECT_EQ(
        rans::estimated_bytes(hist, n_sym, n_sample, n_codes, 0, rans::kSegmentSymbols, table),
        rans::estimated_bytes(hist, n_sym, n_sample, n_codes, 0))
        << "round " << round;
  }
}

// The scalar set against itself: what this adds is the warp decoder's verdicts and symbols
// (expect_same_decode), on every machine, AVX2 or not.
TEST(RansKernels, WarpLanesDecoderMatchesScalar) {
  compare_set(cpu::kRansScalar, test_seed());
  // A lane with no symbol keeps the state it starts with: a segment of one symbol whose lane 1
  // starts at 1, followed by a word 0 more than the symbol needs. Were lane 1 given that word, it
  // would end at 2^16 with every word read, and the segment would pass; it must fail.
  std::mt19937_64 rng(test_seed());
  for (int kind = 0; kind < 5; ++kind) {
    const Segment s = make_segment(rng, 1, kind);
    std::vector<uint8_t> seg(rans::kStateBytes + 2 + 8, 0);
    std::vector<uint16_t> scratch(1 + rans::kScratchSlack);
    const uint32_t n_words = cpu::kRansScalar.encode_segment(s.sym.data(), 1, s.freq, s.cum,
                                                             scratch.data(), seg.data(), warm());
    block::store_le32(seg.data() + 4, 1);
    block::store_le16(seg.data() + rans::kStateBytes + 2 * n_words, 0);
    expect_same_decode(cpu::kRansScalar, seg, n_words + 1, 1, s.tables, "idle lane below 2^16");
  }
}

TEST(RansKernels, ScalarBackendUsesTheReference) {
  EXPECT_EQ(cpu::scalar_backend().rans, &cpu::kRansScalar);
}

}  // namespace
}  // namespace squeeze::test
