// The local quantizer (BoundMode::kLocal): every element within bound x (max - min) of its own
// block of 32, so a block of small values is never rounded away next to a block of large ones.
// The per-block math and the 3-byte block record, shared by the CPU and CUDA backends (SQZ_HD).
//
// A block's codes are unsigned, q in [0, 2^W) with one width W for the whole frame (chosen from
// the bound so that every block fits, see code_width()), and decode to
//     x' = q * s - z * s / 8
// where the step s has a 9-bit mantissa and an exponent within 15 octaves below the frame's
// reference E0, and z in [0, 2047] puts zero on a grid of s / 8 inside the block's code range.
// That makes the record 24 bits (octave 4, mantissa 9, z 11): at TorchRec INT8 row-wise's
// precision (bound 1/510) W is 8, so a block costs 32 bytes of codes plus 3, against INT8's
// 32 + 4 per 32 values with a row of 64. Blocks that do not fit the record use a special one:
//   zero block   every element is +0.0 (bit pattern 0): no codes, no side entry;
//   constant     every finite element has the same bits: the value in an 8-byte side entry;
//   escape       offset and step as full f32 in an 8-byte side entry, x' = o + q * s (blocks
//                whose range does not contain 0 on the grid, or whose step is out of octaves).
// Non-finite elements, and any element whose reconstruction misses the bound, are outliers.
// A receiver that declares kCapPackedRecords gets the records packed at the frame's own field
// widths, and steps and zero points of the precision the bound needs (local_packed.h).
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/hd.h"

namespace squeeze::local {

constexpr uint32_t kRecordBytes = 3;
constexpr uint32_t kSideBytes = 8;
constexpr uint32_t kQuantHeaderBytes = 4;  // E0, W, log2 of blocks per record, 1 reserved
constexpr uint32_t kMaxRecordLog2 = 3;     // a record serves at most 8 blocks (256 values)
constexpr uint32_t kMantBits = 9;
constexpr uint32_t kMaxOctave = 14;
constexpr uint32_t kSpecialOctave = 15;
constexpr uint32_t kZeroFracBits = 3;  // z counts eighths of a step
constexpr uint32_t kMaxZ = 2047;
constexpr uint32_t kMaxWidth = 24;

enum class Kind : uint8_t { kQuant = 0, kZero = 1, kConst = 2, kEscape = 3 };

SQZ_HD bool has_side_entry(Kind k) {
  return k == Kind::kConst || k == Kind::kEscape;
}
SQZ_HD bool has_codes(Kind k) {
  return k == Kind::kQuant || k == Kind::kEscape;
}

// The frame's code width for a relative bound b: the smallest W with
// 2b (1 - 2^-9) (2^W - 1/8) >= 1, so that a step truncated to 9 mantissa bits and a zero point on
// the s/8 grid always cover a block's range with 2^W codes. 0 when no W <= 24 does (the frame is
// then not quantized locally).
SQZ_HD uint32_t code_width(double bound) {
  if (!(bound > 0.0)) return 0;
  const double k = 2.0 * bound * (1.0 - 1.0 / 512.0);
  for (uint32_t w = 1; w <= kMaxWidth; ++w) {
    if (k * ((double)(1u << w) - 0.125) >= 1.0) return w;
  }
  return 0;
}

// How finely a frame's quant records give their steps and zero points. The format's record holds
// a 9-bit mantissa and z in eighths of a step; a frame whose receiver reads packed records
// (kCapPackedRecords, local_packed.h) may keep fewer: the mantissa's low mant_shift bits zero and
// z a multiple of 2^z_shift, so that packing drops those bits. {0, 0} is the full precision.
struct RecordPrecision {
  uint32_t mant_shift = 0;  // 0..kMaxMantShift
  uint32_t z_shift = 0;     // 0..kMaxZShift
};
constexpr uint32_t kMaxMantShift = 7;  // at least 2 mantissa bits (a special record's kind)
constexpr uint32_t kMaxZShift = 3;     // z in whole steps
// The fewest mantissa bits record_precision keeps. With m bits a step is up to 2^-m (on average
// 2^-(m+1)) smaller than the bound allows, so the codes spread over more values: about
// 1.44 x 2^-(m+1) bits a code more for the rANS coder, 32 codes a record, against the bit a
// record that dropping a mantissa bit saves. Going from 5 bits to 4 saves more than it costs;
// from 4 to 3 it costs more (1.44 bits a record).
constexpr uint32_t kLeastMantBits = 4;

// Whether steps of m mantissa bits and zero points on a grid of 2^z_shift / 8 steps always cover
// a block's range with 2^W codes at relative bound b: 2b (1 - 2^-m) (2^W - 2^z_shift / 8) >= 1
// (code_width's rule, which is m = 9 and z_shift = 0).
SQZ_HD bool precision_covers(double bound, uint32_t w, uint32_t m, uint32_t z_shift) {
  const double lost = 1.0 / (double)(1u << m);
  return 2.0 * bound * (1.0 - lost) * ((double)(1u << w) - (double)(1u << z_shift) * 0.125) >= 1.0;
}

// The precision of a frame's records at relative bound b and width W (b the smallest bound of
// the frame's records): full without packing; with it, the coarsest z grid and then the fewest
// mantissa bits (no fewer than kLeastMantBits) that still cover every block, so that no block
// becomes an escape for it. At local 1e-2 (W = 6) that is 4 mantissa bits and z in whole steps;
// at INT8's 1.96e-3 (W = 8, 0.3% to spare) 9 bits and z in quarter steps.
SQZ_HD RecordPrecision record_precision(double bound, uint32_t w, bool packed) {
  RecordPrecision p;
  if (!packed || w == 0) return p;
  for (uint32_t zs = kMaxZShift + 1; zs-- > 0;) {
    for (uint32_t m = kLeastMantBits; m <= kMantBits; ++m) {
      if (precision_covers(bound, w, m, zs)) {
        p.mant_shift = kMantBits - m;
        p.z_shift = zs;
        return p;
      }
    }
  }
  return p;
}

// Float bits of the largest float with a (9 - mant_shift)-bit mantissa that is <= v (v > 0
// finite); 0 when that is not a normal float.
SQZ_HD uint32_t step_bits_below(double v, uint32_t mant_shift = 0) {
  const float f = quant::float_round_down(v);
  uint32_t bits = quant::float_to_bits(f) & ~((1u << (23 - kMantBits + mant_shift)) - 1u);
  if ((bits >> 23) == 0 || (bits >> 23) >= 255) return 0;
  return bits;
}

// Everything the quantizer and the decoder need for one block.
struct BlockParams {
  Kind kind = Kind::kZero;
  // Encoder, kQuant: the block's least and greatest finite elements have codes in [0, max_code],
  // so every finite element has (x * inv_step + zf and its rounding never decrease as x grows):
  // a quantizer may skip the range test and still reject only what quantize_element rejects
  // (a non-finite element fails the bound test). Only a hint: false always gives the same codes.
  bool codes_in_range = false;
  float step = 0.0f;      // kQuant, kEscape
  float inv_step = 0.0f;  // 1 / step
  float zf = 0.0f;        // kQuant: z / 8
  float zs = 0.0f;        // kQuant: z * step / 8 (exact)
  float offset = 0.0f;    // kEscape
  float value = 0.0f;     // kConst
  float eb_check = 0.0f;  // encoder: largest float <= the block's bound
  uint32_t max_code = 0;  // 2^W - 1
};

// The quotient a block with codes (kQuant or kEscape) quantizes x to, rounded to the nearest
// integer: the code when it lies in [0, max_code].
SQZ_HD float rounded_quotient(float x, const BlockParams& p) {
  if (p.kind == Kind::kEscape) return quant::round_even((x - p.offset) * p.inv_step);
  return quant::round_even(x * p.inv_step + p.zf);
}

// The block's bound and range, as the encoder decides them (min/max over the finite elements;
// has_finite false when there is none; all_same when every finite element has the same bits).
struct BlockStats {
  float mn;
  float mx;
  bool has_finite;
  bool all_same;
  uint32_t same_bits;  // the element bits (widened to f32) when all_same
};

// Blocks per record (log2) a row layout allows: the largest r <= 8 with every table's width a
// multiple of 32 r, when the frame begins at a table boundary (then every record's r blocks lie
// in one vector of one table); 0 without a layout or without kCapRowRecords in caps. Host code
// (the encoders' parameter set-up) on both backends.
SQZ_HD uint32_t record_log2(const RowLayout* lay, uint32_t caps) {
  if (lay == nullptr || (caps & kCapRowRecords) == 0) return 0;
  uint32_t width_gcd = 0;
  bool at_boundary = lay->start_col == 0;
  for (uint32_t t = 0, c = 0; t < lay->n_tables; c += lay->table_cols[t], ++t) {
    uint32_t a = width_gcd, b = lay->table_cols[t];
    while (b != 0) {
      const uint32_t r = a % b;
      a = b;
      b = r;
    }
    width_gcd = a;
    at_boundary = at_boundary || c == lay->start_col;
  }
  if (!at_boundary) return 0;
  for (uint32_t r = kMaxRecordLog2; r > 0; --r)
    if (width_gcd % (kBlockElems << r) == 0) return r;
  return 0;
}

// The stats of two blocks taken together (the blocks of a row record).
SQZ_HD BlockStats merge(const BlockStats& a, const BlockStats& b) {
  if (!a.has_finite) return b;
  if (!b.has_finite) return a;
  BlockStats r;
  r.mn = quant::min_total(a.mn, b.mn);
  r.mx = quant::max_total(a.mx, b.mx);
  r.has_finite = true;
  r.all_same = a.all_same && b.all_same && a.same_bits == b.same_bits;
  r.same_bits = a.same_bits;
  return r;
}

// The stats of record r (blocks [r << rlog, (r + 1) << rlog) of n_blocks): its blocks' merged,
// the block itself when rlog is 0. Both encoders' records.
SQZ_HD BlockStats record_stats(const BlockStats* stats, uint64_t n_blocks, uint64_t r,
                               uint32_t rlog) {
  BlockStats st = stats[r << rlog];
  for (uint64_t b = (r << rlog) + 1; b < ((r + 1) << rlog) && b < n_blocks; ++b)
    st = merge(st, stats[b]);
  return st;
}

// Step bits a non-special block would like (0: none possible), from its range and the bound: the
// 2 eb step that sets E0. An f16 or bf16 block may take a smaller step (wanted_step), whose
// exponent is no larger, so E0 covers it too.
SQZ_HD uint32_t wanted_step_bits(const BlockStats& st, double bound) {
  if (!st.has_finite || st.all_same) return 0;
  const double range = (double)st.mx - (double)st.mn;
  return step_bits_below(2.0 * bound * range);
}

// The frame's reference exponent when every record has the same bound: the largest exponent
// field of wanted_step_bits over records [0, n), 0 when none has one. For one bound that is the
// widest record's: wanted_step_bits never decreases as the range grows (a product with a
// positive constant, float_round_down, then masked mantissa bits; float_round_down of a finite
// value is at most FLT_MAX, so the exponent field stays <= 254 and never wraps to "none").
SQZ_HD uint32_t e0_for_one_bound(const BlockStats* st, uint64_t n, double bound) {
  double widest = -1.0;
  for (uint64_t r = 0; r < n; ++r) {
    const double range = (double)st[r].mx - (double)st[r].mn;
    if (st[r].has_finite && !st[r].all_same && range > widest) widest = range;
  }
  if (widest < 0.0) return 0;
  return step_bits_below(2.0 * bound * widest) >> 23;
}

// f16 and bf16 (type_spacing): their fraction bits, and log2 of their least gap (subnormals).
SQZ_HD int32_t type_fraction_bits(uint8_t dtype) {
  return dtype == (uint8_t)DType::kF16 ? 10 : 7;
}
SQZ_HD int32_t type_least_gap_log2(uint8_t dtype) {
  return dtype == (uint8_t)DType::kF16 ? -24 : -133;
}

// The gap between consecutive values of an element type at magnitude a (finite, >= 0): the
// decoder's rounding of a decoded value to the type moves it by up to half of it. 0 for f32,
// whose decoded values are not rounded; f16 2^(e - 10) for a in [2^e, 2^(e + 1)), and 2^-24
// among its subnormals; bf16 2^(e - 7), and 2^-133 among its subnormals.
SQZ_HD double type_spacing(uint8_t dtype, double a) {
  if (dtype == (uint8_t)DType::kF32) return 0.0;
  const int64_t e = (int64_t)((block::double_to_bits(a) >> 52) & 0x7ff) - 1023;  // a's binade
  const int64_t least = type_least_gap_log2(dtype);
  const int64_t k = e - type_fraction_bits(dtype);
  return block::bits_to_double((uint64_t)((k > least ? k : least) + 1023) << 52);
}

// The step a block with bound eb wants: 2 eb, except for f16 and bf16, whose decoded values the
// decoder rounds to the type. A value within s/2 of x then lands up to half a gap of the type
// further, so with the nearest code at s = 2 eb an element misses the bound wherever the gap is
// not small against eb (bf16's 8 significant bits against 1/100 of a block's range: 1-2% of
// the elements of trained payloads, each then stored whole as an outlier). Smaller steps that
// keep every element within eb, with t the type's gap at the block's largest magnitude:
//  - s < 2 eb - t': x - x' is at most s/2 plus half the gap t' at x' (t' the gap at the largest
//    magnitude plus eb, where the decoded values of the block lie);
//  - s < t and s < 2 eb - t/2: the elements of the largest magnitudes' binade decode to
//    themselves (x' within s/2 < t/2 of x rounds to x), the others within s/2 + t/4.
// The larger of the two, or 2 eb when neither is positive (the type cannot hold the bound there:
// the outliers keep it).
SQZ_HD double wanted_step(uint8_t dtype, const BlockStats& st, double eb) {
  const double amax = -(double)st.mn > (double)st.mx ? -(double)st.mn : (double)st.mx;
  const double t = type_spacing(dtype, amax);
  if (t == 0.0) return 2.0 * eb;
  const double additive = 2.0 * eb - type_spacing(dtype, amax + eb);
  const double top_exact = t < 2.0 * eb - 0.5 * t ? t : 2.0 * eb - 0.5 * t;
  // 2^-12 to spare: the strict test against eb_check (eb rounded down to a float) and the f32
  // rounding of the decoded value, 2^-24 of the largest magnitude (below 2^-12 of an eb that a
  // positive wanted step implies).
  const double s = (additive > top_exact ? additive : top_exact) * (1.0 - 1.0 / 4096.0);
  return s > 0.0 ? s : 2.0 * eb;
}

// Whether a record of an f16 or bf16 frame needs width w + 1 for its wanted step: a plain record
// (finite elements, not all equal) whose wanted step is smaller than 2 eb and, taken at the
// record format's full precision (9 mantissa bits, z in eighths), covers its range with 2^(w+1)
// codes but not with 2^w. At w, decide gives it the step 2 eb, and the decoder's rounding to the
// type puts its elements of the largest magnitudes outside the bound (outliers, 6 bytes each).
SQZ_HD bool wants_wider_codes(uint8_t dtype, const BlockStats& st, double bound, uint32_t w) {
  if (dtype == (uint8_t)DType::kF32 || !st.has_finite || st.all_same) return false;
  const double range = (double)st.mx - (double)st.mn;
  const double eb = bound * range;
  const double wanted = wanted_step(dtype, st, eb);
  if (wanted == 2.0 * eb) return false;
  const double s = (double)quant::bits_to_float(step_bits_below(wanted));
  return s * ((double)(1u << w) - 0.125) < range && s * ((double)(2u << w) - 0.125) >= range;
}

// Whether x, an element of a block of stats st, has at least half the block's largest magnitude:
// the elements whose gap in f16 or bf16 is at least half the gap at the largest magnitude, so
// that the decoder's rounding to the type moves them the furthest.
SQZ_HD bool near_largest(float x, const BlockStats& st) {
  const float amax = -st.mn > st.mx ? -st.mn : st.mx;
  const float a = x < 0.0f ? -x : x;
  return a >= amax * 0.5f;  // false for NaN
}

// The width decision samples one block in kWidthSample: blocks 0, kWidthSample, 2 kWidthSample...
constexpr uint64_t kWidthSample = 32;

// Whether a local frame decides its width by frame_code_width: f16 or bf16, one block a record
// (rlog 0), no tables' bounds (the CUDA encoder takes those block by block even when they are all
// equal), and codes that may be entropy coded: the receiver decodes rANS (kCapRans) and the stage
// is taken where it saves less than a bit a value (CodecParams::rans_min_gain below 256), the
// wider codes' own cost in the fixed coder. Without rANS a frame keeps the bound's width: the
// fixed coder pays that bit on every code, which the outliers saved outweigh at some bounds and
// not at others (1.07-1.11x at INT8's precision, 0.94-0.99x at some bounds from 4e-3 to 8e-3 on
// the seed-2 payloads; docs/PERFORMANCE.md).
SQZ_HD bool samples_width(uint8_t dtype, uint32_t rlog, bool table_bounds, uint32_t caps,
                          uint32_t rans_min_gain_q8) {
  return dtype != (uint8_t)DType::kF32 && rlog == 0 && !table_bounds && (caps & kCapRans) != 0 &&
         rans_min_gain_q8 < 256;
}

// A sampled block's share of frame_code_width's count: its elements near_largest when it
// wants_wider_codes, else 0. elem(i) is element i of the block's n, widened to float.
template <class Elem>
SQZ_HD uint32_t width_votes(uint8_t dtype, const BlockStats& st, double bound, uint32_t w,
                            uint64_t n, Elem elem) {
  if (!wants_wider_codes(dtype, st, bound, w)) return 0;
  uint32_t votes = 0;
  for (uint64_t i = 0; i < n; ++i) votes += near_largest(elem(i), st);
  return votes;
}

// The code width of a frame that samples_width: code_width(b), or one more when the sampled
// blocks that want it (wants_wider_codes) hold at least 3 elements near their largest magnitude
// (near_largest) per sampled block (top: width_votes summed over the n_sampled blocks). That is
// a tenth of the elements, those the rounding to the type puts outside the bound at the step
// 2 eb. The seed-2 payloads rounded to bf16 or f16 have 3.8 or more in every 128 KiB frame at
// INT8's precision (1.96e-3), where the wider codes halve the outliers and give 1.10-1.17x the
// ratio; at the default bound (1e-2) 1.9 or fewer, and a frame of f32 bits read as bf16 or f16
// 1.5 or fewer, where the outliers cost less than the wider codes would (docs/PERFORMANCE.md).
SQZ_HD uint32_t frame_code_width(uint32_t w, uint64_t top, uint64_t n_sampled) {
  return w != 0 && w < kMaxWidth && n_sampled > 0 && top >= 3 * n_sampled ? w + 1 : w;
}

// A kQuant record with the step of bits for a block of stats st (range max - min): false when
// the step is out of the frame's octaves or zero cannot be put on its grid within the codes.
// z is the least multiple of 2^z_shift that keeps the block's least element at code 0 or above
// (the multiplications by powers of two are exact: z_shift 0 is the plain floor).
SQZ_HD bool quant_record(const BlockStats& st, double range, uint32_t bits, uint32_t e0, uint32_t w,
                         uint32_t z_shift, uint32_t* record, BlockParams* p) {
  const uint32_t e = bits >> 23;
  if (bits == 0 || e > e0 || e0 - e > kMaxOctave) return false;
  const float s = quant::bits_to_float(bits);
  const double sd = (double)s;
  const double unit = (double)(1u << z_shift);
  const double z = -quant::floor_d(((double)st.mn + sd * 0.5) * 8.0 / sd * (1.0 / unit)) * unit;
  if (!(z >= 0.0 && z <= (double)kMaxZ && sd * ((double)(1u << w) - 0.125 * unit) >= range))
    return false;
  const uint32_t zi = (uint32_t)z;
  const uint32_t mant = (bits >> (23 - kMantBits)) & ((1u << kMantBits) - 1u);
  *record = (e0 - e) | (mant << 4) | (zi << 13);
  p->kind = Kind::kQuant;
  p->step = s;
  p->inv_step = 1.0f / s;
  p->zf = (float)zi * 0.125f;
  p->zs = (float)zi * (s * 0.125f);
  return true;
}

// Decides a block's record. e0: the frame's reference exponent (the largest exponent field of
// wanted_step_bits over the frame's blocks), w: the frame's code width, dtype: the element type
// (wanted_step), prec: the frame's record precision (record_precision).
SQZ_HD Kind decide(const BlockStats& st, double bound, uint32_t e0, uint32_t w, uint8_t dtype,
                   RecordPrecision prec, uint32_t* record, uint32_t side[2], BlockParams* p) {
  *p = BlockParams{};  // eb_check stays 0 for zero and constant blocks: they are exact
  p->max_code = (1u << w) - 1u;
  side[0] = side[1] = 0;
  if (!st.has_finite || (st.all_same && st.same_bits == 0)) {
    *record = kSpecialOctave | ((uint32_t)Kind::kZero << 4);
    p->kind = Kind::kZero;
    p->value = 0.0f;
    return p->kind;
  }
  if (st.all_same) {
    *record = kSpecialOctave | ((uint32_t)Kind::kConst << 4);
    side[0] = st.same_bits;
    p->kind = Kind::kConst;
    p->value = quant::bits_to_float(st.same_bits);
    return p->kind;
  }
  const double range = (double)st.mx - (double)st.mn;
  const double eb = bound * range;
  p->eb_check = quant::float_round_down(eb);
  // The wanted step, else 2 eb (a smaller step may leave the octaves or the codes).
  const double wanted = wanted_step(dtype, st, eb);
  if (quant_record(st, range, step_bits_below(wanted, prec.mant_shift), e0, w, prec.z_shift, record,
                   p) ||
      (wanted != 2.0 * eb && quant_record(st, range, step_bits_below(2.0 * eb, prec.mant_shift), e0,
                                          w, prec.z_shift, record, p))) {
    // quantize_element's quotients at the block's extremes.
    p->codes_in_range =
        rounded_quotient(st.mn, *p) >= 0.0f && rounded_quotient(st.mx, *p) <= (float)p->max_code;
    return p->kind;
  }
  // Escape: offset = min, step = the largest float <= the wanted step (full precision), or
  // <= 2 eb when the wanted one would not cover the range with the codes.
  float s = quant::float_round_down(wanted);
  if (wanted != 2.0 * eb && !((double)s * (double)p->max_code >= range))
    s = quant::float_round_down(2.0 * eb);
  if (!(s >= 1.17549435e-38f) || !(s <= 3.0e38f) || !(1.0f / s <= 3.0e38f)) {
    // No usable step (a range near the smallest floats): every element is stored exactly.
    *record = kSpecialOctave | ((uint32_t)Kind::kZero << 4);
    p->kind = Kind::kZero;
    p->value = 0.0f;
    p->eb_check = 0.0f;
    return p->kind;
  }
  *record = kSpecialOctave | ((uint32_t)Kind::kEscape << 4);
  side[0] = quant::float_to_bits(st.mn);
  side[1] = quant::float_to_bits(s);
  p->kind = Kind::kEscape;
  p->step = s;
  p->inv_step = 1.0f / s;
  p->offset = st.mn;
  return p->kind;
}

// Whether a record is a kQuant block's (any other octave is kSpecialOctave's kinds).
SQZ_HD bool is_quant_record(uint32_t record) {
  return (record & 15u) != kSpecialOctave;
}

// The kind a record of kSpecialOctave names (parse() rejects kQuant and the bits above it).
SQZ_HD Kind special_kind(uint32_t record) {
  return (Kind)((record >> 4) & 3u);
}

// Whether a side entry follows a record (a constant or escape block's).
SQZ_HD bool record_has_side_entry(uint32_t record) {
  return !is_quant_record(record) && has_side_entry(special_kind(record));
}

// What a record says without its side entry: whether one follows, whether the block has codes.
// A malformed record is rejected when it is parsed (both decoders check the side entry is there
// before parse() reads it).
SQZ_HD void classify_record(uint32_t record, bool* side, bool* codes) {
  *side = record_has_side_entry(record);
  *codes = is_quant_record(record) || special_kind(record) == Kind::kEscape;
}

// A kQuant record's step and zs (z * step / 8), given the frame's E0: false when the record is
// not a valid kQuant one (a special octave, or a step exponent that would not stay >= 1). parse()
// and the decoders' SIMD record readers compute exactly this.
SQZ_HD bool quant_step(uint32_t record, uint32_t e0, float* step, float* zs) {
  const uint32_t octave = record & 15u;
  if (!is_quant_record(record) || octave > kMaxOctave || octave >= e0) return false;
  const uint32_t mant = (record >> 4) & ((1u << kMantBits) - 1u);
  const uint32_t zi = record >> 13;  // 11 bits
  const uint32_t bits = ((e0 - octave) << 23) | (mant << (23 - kMantBits));
  const float s = quant::bits_to_float(bits);
  *step = s;
  *zs = (float)zi * (s * 0.125f);
  return true;
}

// Parses a record (and, for kinds that have one, its side entry), validating every field: the
// decoder's side of decide(). False on a malformed record.
SQZ_HD bool parse(uint32_t record, const uint8_t* side_entry, uint32_t e0, uint32_t w,
                  BlockParams* p) {
  *p = BlockParams{};
  p->max_code = (1u << w) - 1u;
  if (is_quant_record(record)) {
    p->kind = Kind::kQuant;
    return quant_step(record, e0, &p->step, &p->zs);
  }
  if ((record >> 6) != 0) return false;
  p->kind = special_kind(record);
  if (p->kind == Kind::kZero) {
    p->value = 0.0f;
    return true;
  }
  if (p->kind == Kind::kQuant) return false;  // kind 0 is not special
  const uint32_t a = block::load_le32(side_entry);
  const uint32_t b = block::load_le32(side_entry + 4);
  if (p->kind == Kind::kConst) {
    if ((a & 0x7f800000u) == 0x7f800000u || b != 0) return false;  // finite value, pad 0
    p->value = quant::bits_to_float(a);
    return true;
  }
  // kEscape: finite offset, positive normal finite step.
  const float o = quant::bits_to_float(a);
  const float s = quant::bits_to_float(b);
  if ((a & 0x7f800000u) == 0x7f800000u) return false;
  if (!(s >= 1.17549435e-38f) || !(s <= 3.40282347e38f)) return false;
  p->offset = o;
  p->step = s;
  return true;
}

// What a decoder keeps of a block with codes (8 bytes, where BlockParams is 36): code q stands
// for q * step + add. kQuant's value q * step - zs is q * step + (-zs), since IEEE subtraction
// is the addition of the negation, and kEscape's offset + q * step is the same sum in the other
// order, since IEEE addition commutes: both exactly.
struct Dequant {
  float step = 0.0f;
  float add = 0.0f;
};
SQZ_HD Dequant dequant_of(const BlockParams& p) {
  Dequant d;
  d.step = p.step;
  d.add = p.kind == Kind::kEscape ? p.offset : -p.zs;
  return d;
}

// A kQuant record's Dequant (dequant_of of the parameters parse() gives it): false when it is not
// a valid kQuant record.
SQZ_HD bool quant_dequant(uint32_t record, uint32_t e0, Dequant* d) {
  float step, zs;
  if (!quant_step(record, e0, &step, &zs)) return false;
  d->step = step;
  d->add = -zs;
  return true;
}

// The value the decoder writes for code q of a block with codes, widened to float (before the
// element type's rounding).
SQZ_HD float reconstruct(const Dequant& d, uint32_t q) {
  return (float)q * d.step + d.add;
}
SQZ_HD float reconstruct(const BlockParams& p, uint32_t q) {
  return reconstruct(dequant_of(p), q);
}

// Quantizes one element of a block with codes. True and the code when the decoded value is
// provably within the block's bound; false means "store exactly" (outlier).
template <DType kType>
SQZ_HD bool quantize_element(float x, const BlockParams& p, uint32_t* code) {
  const float qf = rounded_quotient(x, p);
  *code = 0;
  if (!(qf >= 0.0f && qf <= (float)p.max_code)) return false;  // NaN and Inf fail here too
  const uint32_t q = (uint32_t)qf;
  float xr = reconstruct(p, q);
  if (kType == DType::kF16) xr = quant::half_to_float(quant::float_to_half_rn(xr));
  if (kType == DType::kBF16) xr = quant::bf16_to_float(quant::float_to_bf16_rn(xr));
  float d = x - xr;
  d = d < 0.0f ? -d : d;
  if (!(d < p.eb_check)) return false;
  *code = q;
  return true;
}

// Writes the little-endian 24-bit record.
SQZ_HD void store_record(uint8_t* p, uint32_t record) {
  p[0] = (uint8_t)record;
  p[1] = (uint8_t)(record >> 8);
  p[2] = (uint8_t)(record >> 16);
}
SQZ_HD uint32_t load_record(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

}  // namespace squeeze::local
