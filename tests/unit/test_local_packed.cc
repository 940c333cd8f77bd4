// Packed local records (kCapPackedRecords, compress/methods/local_packed.h): the precision rule,
// the fields against their definition, the head's and the fields' validation, and frames that a
// receiver with the capability gets (smaller, every element within its bound) and one without
// it never gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "codec_test_util.h"
#include "compress/format/staged.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "squeeze/codec.h"

namespace squeeze {
namespace {

using test::test_seed;
using test::to_bytes;

// The precision at the bounds users run: the default keeps 4 mantissa bits and whole-step zero
// points; INT8's 1/510 leaves 0.3% of room, which only a quarter-step grid fits in. Each choice
// covers every block by the rule's own test, and none is taken without packing.
TEST(PackedRecords, PrecisionAtTheBoundsUsersRun) {
  const uint32_t w_default = local::code_width(1e-2);
  ASSERT_EQ(w_default, 6u);
  const local::RecordPrecision d = local::record_precision(1e-2, w_default, true);
  EXPECT_EQ(d.mant_shift, local::kMantBits - local::kLeastMantBits);
  EXPECT_EQ(d.z_shift, local::kMaxZShift);
  const uint32_t w_int8 = local::code_width(kInt8MatchingLocalBound);
  ASSERT_EQ(w_int8, 8u);
  const local::RecordPrecision i = local::record_precision(kInt8MatchingLocalBound, w_int8, true);
  EXPECT_EQ(i.mant_shift, 0u);
  EXPECT_EQ(i.z_shift, 1u);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int k = 0; k < 2000; ++k) {
    const double bound = std::ldexp(0.5 + u(rng), -(int)(1 + rng() % 22));
    const uint32_t w = local::code_width(bound);
    if (w == 0) continue;
    const local::RecordPrecision none = local::record_precision(bound, w, false);
    EXPECT_EQ(none.mant_shift, 0u);
    EXPECT_EQ(none.z_shift, 0u);
    const local::RecordPrecision p = local::record_precision(bound, w, true);
    EXPECT_TRUE(local::precision_covers(bound, w, local::kMantBits - p.mant_shift, p.z_shift))
        << "bound " << bound << " seed " << seed;
    EXPECT_LE(p.mant_shift, local::kMantBits - local::kLeastMantBits);
  }
}

// Records of a frame at a random precision: every record comes back from its packed bits as it
// went in, the bits past the last are zero, and the layout is as narrow as the range.
TEST(PackedRecords, FieldsRoundTrip) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    const local::RecordPrecision prec{(uint32_t)(rng() % (local::kMaxMantShift + 1)),
                                      (uint32_t)(rng() % (local::kMaxZShift + 1))};
    const uint32_t oct_lo = (uint32_t)(rng() % 15), oct_span = (uint32_t)(rng() % 5);
    const uint32_t z_lo = (uint32_t)(rng() % 2048), z_span = (uint32_t)(rng() % 700);
    const uint64_t n = 1 + rng() % 400;
    std::vector<uint32_t> records(n);
    local::RecordRange range;
    for (uint32_t& r : records) {
      if (rng() % 10 == 0) {
        r = local::kSpecialOctave | (uint32_t)(1 + rng() % 3) << 4;
      } else {
        const uint32_t oct = std::min<uint32_t>(oct_lo + (uint32_t)(rng() % (oct_span + 1)), 14);
        const uint32_t mant = (uint32_t)(rng() % 512) >> prec.mant_shift << prec.mant_shift;
        uint32_t z = std::min<uint32_t>(z_lo + (uint32_t)(rng() % (z_span + 1)), local::kMaxZ);
        z = z >> prec.z_shift << prec.z_shift;
        r = oct | mant << 4 | z << 13;
      }
      local::add_record(&range, r);
    }
    const local::PackedLayout l = local::packed_layout(range, prec);
    ASSERT_LE(l.record_bits, 24u);
    const uint64_t bytes = local::packed_bytes(l, n) - local::kPackedHeadBytes;
    for (uint64_t k = 0; k < n; ++k)
      ASSERT_TRUE(local::fits_layout(l, records[k])) << "round " << round << " seed " << seed;
    // Guard bytes past the records: the writer stores exactly the records' bytes.
    std::vector<uint8_t> packed(bytes + 8, 0xa5);
    uint64_t next = 0;
    local::write_packed_bytes(packed.data(), l.record_bits, 0, n, n, [&]() {
      EXPECT_LT(next, n);  // never a record past the last
      return local::packed_fields(l, records[next++]);
    });
    for (uint64_t i = bytes; i < packed.size(); ++i) ASSERT_EQ(packed[i], 0xa5);
    // The same bytes from the sequential writer (the CPU encoder's).
    std::vector<uint8_t> sequential(bytes + 8, 0x3c);
    local::PackedWriter writer(sequential.data());
    for (uint64_t k = 0; k < n; ++k) writer.put(l, records[k]);
    writer.finish();
    ASSERT_EQ(writer.out, sequential.data() + bytes);
    for (uint64_t i = 0; i < bytes; ++i) ASSERT_EQ(sequential[i], packed[i]) << "byte " << i;
    for (uint64_t i = bytes; i < sequential.size(); ++i) ASSERT_EQ(sequential[i], 0x3c);
    // The same bytes from writers of shares [k0, k1) of the records, written in a random order
    // over a buffer of another pattern (the CUDA encoder's threads): every byte once.
    std::vector<uint8_t> shared(bytes + 8, 0x5a);
    std::vector<uint64_t> cuts = {0, n};
    for (int c = 0; c < 6; ++c) cuts.push_back(rng() % (n + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<size_t> order(cuts.size() - 1);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      uint64_t at = cuts[i];
      local::write_packed_bytes(shared.data(), l.record_bits, cuts[i], cuts[i + 1], n, [&]() {
        EXPECT_LT(at, n);
        return local::packed_fields(l, records[at++]);
      });
    }
    for (uint64_t i = 0; i < bytes; ++i)
      ASSERT_EQ(shared[i], packed[i]) << "byte " << i << " round " << round << " seed " << seed;
    for (uint64_t i = bytes; i < shared.size(); ++i) ASSERT_EQ(shared[i], 0x5a);
    // Each record at its bit offset k * record_bits, as packed_fields gives it.
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t f = 0;
      for (uint32_t b = 0; b < l.record_bits; ++b) {
        const uint64_t bit = k * l.record_bits + b;
        f |= (uint64_t)((packed[bit / 8] >> (bit % 8)) & 1u) << b;
      }
      ASSERT_EQ(f, local::packed_fields(l, records[k])) << "record " << k << " seed " << seed;
    }
    for (uint64_t k = 0; k < n; ++k)
      ASSERT_EQ(local::packed_record(packed.data(), bytes, l, k), records[k])
          << "record " << k << " round " << round << " seed " << seed;
    EXPECT_TRUE(local::packed_tail_zero(packed.data(), bytes, l, n));
    // The head written and read back is the same layout.
    uint8_t head[local::kPackedHeadBytes];
    local::write_packed_head(l, head);
    local::PackedLayout back;
    ASSERT_TRUE(local::read_packed_head(head, &back));
    EXPECT_EQ(back.record_bits, l.record_bits);
    EXPECT_EQ(back.z_min, l.z_min);
    EXPECT_EQ(back.oct_min, l.oct_min);
    // No narrower field would hold the records' range.
    const uint32_t oct_max = range.oct_max, z_max = range.z_max;
    if (l.oct_bits > 0) {
      EXPECT_GE(oct_max - l.oct_min, 1u << (l.oct_bits - 1));
    }
    if (l.z_bits > 0) {
      EXPECT_GE((z_max - l.z_min) >> prec.z_shift, 1u << (l.z_bits - 1));
    }
  }
}

// Every field of the head out of its range is refused; fields that name no record expand to
// kInvalidRecord (which local::parse refuses), and bits after the last record are refused.
TEST(PackedRecords, ValidationNamesEveryBadField) {
  local::PackedLayout l;
  l.oct_min = 3;
  l.oct_bits = 4;
  l.mant_shift = 5;
  l.z_shift = 3;
  l.z_min = 8;
  l.z_bits = 8;
  l.record_bits = local::packed_record_bits(l);
  uint8_t head[local::kPackedHeadBytes];
  local::write_packed_head(l, head);
  local::PackedLayout back;
  ASSERT_TRUE(local::read_packed_head(head, &back));
  const struct {
    int byte;
    uint8_t value;
  } bad[] = {{0, 16}, {1, 5}, {2, 8}, {3, 4}, {5, 8} /* z_min 2056 */, {4, 9} /* off grid */,
             {6, 12}};
  for (const auto& b : bad) {
    uint8_t h[local::kPackedHeadBytes];
    std::copy(head, head + local::kPackedHeadBytes, h);
    h[b.byte] = b.value;
    EXPECT_FALSE(local::read_packed_head(h, &back)) << "byte " << b.byte;
  }
  uint32_t invalid = 0;
  for (uint32_t f = 0; f < (1u << l.record_bits); f += 7) {
    const uint32_t r = local::record_of_fields(l, f);
    const uint32_t oct = l.oct_min + (f & 15u);
    const uint32_t mant = (f >> 4) & 15u;
    const uint32_t zf = f >> 8;
    const bool ok =
        oct < 15 ? l.z_min + (zf << 3) <= local::kMaxZ : oct == 15 && zf == 0 && mant <= 3;
    if (!ok) {
      EXPECT_EQ(r, local::kInvalidRecord) << "fields " << f;
      ++invalid;
      continue;
    }
    EXPECT_EQ(local::packed_fields(l, r), f) << "fields " << f;
  }
  EXPECT_GT(invalid, 0u);
  local::BlockParams p;
  EXPECT_FALSE(local::parse(local::kInvalidRecord, nullptr, 20, 6, &p));
  // A set bit after the last record, and a byte too many or too few.
  local::PackedLayout two = l;
  two.z_bits = 5;
  two.record_bits = local::packed_record_bits(two);
  ASSERT_EQ(two.record_bits, 13u);
  const uint64_t n = 2;  // 26 bits: 4 bytes, 6 bits spare
  std::vector<uint8_t> bits((n * two.record_bits + 7) / 8, 0);
  EXPECT_TRUE(local::packed_tail_zero(bits.data(), bits.size(), two, n));
  bits.back() |= 0x80;
  EXPECT_FALSE(local::packed_tail_zero(bits.data(), bits.size(), two, n));
  bits.back() = 0;
  EXPECT_FALSE(local::packed_tail_zero(bits.data(), bits.size() - 1, two, n));
  bits.push_back(0);
  EXPECT_FALSE(local::packed_tail_zero(bits.data(), bits.size(), two, n));
}

// Embedding-like blocks (Gaussian, scales over 10 octaves, some zero and some constant blocks)
// in f32, f16 and bf16 at the default bound and INT8's: a receiver that declares packed records
// gets them, in a smaller frame whose every element is within its bound; one that does not gets
// 3-byte records.
TEST(PackedRecords, FramesSmallerWithinTheBound) {
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (double bound : {1e-2, kInt8MatchingLocalBound, 1e-3}) {
      std::vector<float> v(32 * 1024 + 7);
      for (size_t b = 0; b * 32 < v.size(); ++b) {
        const float scale = std::ldexp(1.0f, -(int)(rng() % 10));
        const int kind = (int)(rng() % 40);
        for (size_t i = 32 * b; i < std::min(v.size(), 32 * b + 32); ++i)
          v[i] = kind == 0 ? 0.0f : kind == 1 ? 0.25f : scale * g(rng);
      }
      const std::vector<uint8_t> src = to_bytes(t, v);
      SCOPED_TRACE(::testing::Message()
                   << "dtype " << (int)t << " bound " << bound << " seed " << seed);
      CodecParams p;
      p.mode = BoundMode::kLocal;
      p.bound = bound;
      p.dtype = t;
      size_t sizes[2] = {0, 0};
      for (int packed = 0; packed < 2; ++packed) {
        p.caps = packed ? kCapsAll : kCapsAll & ~kCapPackedRecords;
        const test::RoundTrip r = test::round_trip(p, src.data(), src.size());
        test::expect_valid_round_trip(p, src.data(), src.size(), r);
        if (HasFatalFailure()) return;
        staged::Header h;
        ASSERT_EQ(staged::parse(r.frame.data(), r.frame.size(), &h), staged::Reject::kNone);
        ASSERT_EQ(h.quant, (uint8_t)StagedQuant::kLocal);
        EXPECT_EQ(r.frame[staged::section_offset(h, StagedSection::kQuant) + 3],
                  packed ? local::kRecordsPacked : local::kRecordsFixed);
        sizes[packed] = r.frame.size();
      }
      EXPECT_LT(sizes[1], sizes[0]);
    }
  }
}

}  // namespace
}  // namespace squeeze
