// The deduplication stage: exact repeats of 16-element units (64 bytes of f32) become references
// to an earlier unit, in the same frame or (with a history) in earlier frames of the stream.
// Shared by both backends (SQZ_HD): the unit hash, the rule that decides a reference, and the run
// list's encoding and validation.
//
// The rule, which a GPU reproduces with an open-addressing table that keeps the smallest index
// per hash (atomicMin) and the CPU with an in-order scan: a unit first looks for its hash in the
// history (a stream's earlier frames, when there is one); failing that, its candidate is the
// frame's first unit with the same 64-bit hash, provided that one is not itself a reference. It
// becomes a reference when the candidate's bytes are equal and the candidate's decoded values are
// within this unit's own bound (max_error < eb_check of its block, or exact: error 0 means every
// decoded element has the original's bits, quant::element_error). Sources in the
// frame are therefore literal, so a decoder writes every literal first and then copies
// references, all in parallel.
//
// Within the frame a source run must lie entirely in literal units; with a history, a source
// before the frame's first unit lies entirely in the history.
#pragma once

#include <cstdint>
#include <cstring>

#include "compress/block.h"
#include "compress/methods/varint.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::dedup {

// MurmurHash3's 64-bit finalizer.
SQZ_HD uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

// The per-pair keys of the unit hash (a fixed, arbitrary sequence).
SQZ_HD uint32_t hash_key(uint32_t i) {
  return (uint32_t)(((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull) >> 29);
}

// The share of pair k of a unit's u32 words (lo = word 2k, hi = word 2k + 1) in its hash: the
// product of the keyed halves (XXH3's accumulator step) plus the pair itself, so that a zero
// product still depends on the data. The unit's hash mixes the wrapping sum of its pairs'
// shares: a sum mod 2^64 has the same bits in any order, so a scalar loop, a SIMD loop (four
// 32x32->64 multiplies per AVX2 instruction) and a GPU thread all agree.
SQZ_HD uint64_t hash_pair(uint32_t lo, uint32_t hi, uint32_t k) {
  const uint64_t a = lo ^ hash_key(2 * k), b = hi ^ hash_key(2 * k + 1);
  return a * b + (((uint64_t)hi << 32) | lo);
}

// 64-bit hash of a unit's bytes (bytes a multiple of 8).
SQZ_HD uint64_t unit_hash(const uint8_t* p, uint32_t bytes) {
  uint64_t sum = 0;
  for (uint32_t k = 0; 8 * k < bytes; ++k)
    sum += hash_pair(block::load_le32(p + 8 * k), block::load_le32(p + 8 * k + 4), k);
  return fmix64(sum ^ bytes);
}

// The key units are matched by: the hash, with 0 folded onto 1 so that 0 can mark an empty slot
// of a GPU's open-addressing table (both backends match on the key, never on the raw hash).
SQZ_HD uint64_t table_key(uint64_t hash) {
  return hash != 0 ? hash : 1;
}

// Whether two units have the same bytes: eight at a time without a branch per word (a unit is
// 32 or 64 bytes), then any bytes left. Inline on the CPU, where a memcmp call cost the frame's
// repeat checks more than the compare did.
SQZ_HD bool same_bytes(const uint8_t* a, const uint8_t* b, uint32_t bytes) {
  uint64_t differ = 0;
  uint32_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    differ |= x ^ y;
  }
  for (; i < bytes; ++i) differ |= (uint64_t)(a[i] ^ b[i]);
  return differ == 0;
}

// Whether a candidate's decoded values may stand for a unit whose block has bound eb_check:
// exact, or within it by the quantizer's own (strict) test.
SQZ_HD bool error_fits(float candidate_max_error, float eb_check) {
  return candidate_max_error == 0.0f || candidate_max_error < eb_check;
}

// A run of references: units [dst, dst + len) of the frame are copies of units [src, src + len),
// src counted from the frame's first unit (negative: in the history, before the frame).
struct Run {
  uint64_t dst;
  int64_t src;
  uint64_t len;
};

// ---- section bytes ----
// varint n_runs, varint n_sources, u8 gap_bits, u8 idx_bits, u8 len_bits (with kStepFlag: a
// varint step >= 2 follows); the distinct source starts in increasing order (the first as a zigzag
// varint, then varint (delta - 1)); then n_runs fixed-width records, bit-packed LSB first and
// padded to a byte: gap (units since the end of the previous run), idx (into the sources), len - 1,
// gap and len in steps. Fixed widths let a GPU read record k directly and place the runs with a
// scan; the source table makes a repeated source cost idx_bits.
//
// The step (kCapDedupStep): a repeated embedding vector is a run of dim / 16 units, and the gaps
// between runs are whole vectors too, so with a step that divides every gap and length (4 at dim
// 64) both fields lose log2(step) bits: 0.2-2% of a trained forward payload's 128 KiB frames at
// rel 1e-2 and the default bound, up to 3.4% with one frame per message.
//
// Exp-Golomb records (kCapDedupGolomb): a trained forward payload's runs are nearly all one vector
// long and follow each other closely (one frame of d64's late rank 3 block: len / step - 1 is 0 for
// 97% of 6,989 runs, gap / step 0-2 for 98%), yet a fixed width must hold the largest (2 and 5
// bits there). With kGolombFlag in the gap_bits byte, gap / step and len / step - 1 are
// Exp-Golomb codes of the orders in the gap_bits and len_bits bytes (idx keeps its width): about
// 1.7 and 1.1 bits there, so records of 12.7 bits on average against 17. Records are then read in
// order only; both decoders walk the runs in order anyway (each run's position is the previous
// one's end plus its gap).

constexpr uint32_t kHeadFields = 3;
constexpr uint32_t kMaxFieldBits = 32;
constexpr uint8_t kStepFlag = 0x80;        // in the len_bits byte: a step follows
constexpr uint8_t kGolombFlag = 0x80;      // in the gap_bits byte: Exp-Golomb gap and length fields
constexpr uint32_t kMaxGolombOrder = 16;   // the largest order a decoder takes
constexpr uint32_t kGolombOrders = 4;      // the orders an encoder tries: 0 .. 3
constexpr uint32_t kMaxGolombPrefix = 40;  // the most zeros before a code's one bit

SQZ_HD uint64_t zigzag64(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
SQZ_HD int64_t unzigzag64(uint64_t z) {
  return (int64_t)(z >> 1) ^ -(int64_t)(z & 1u);
}

SQZ_HD uint32_t bits_for(uint64_t max_value) {
  uint32_t b = 0;
  while (b < 64 && (max_value >> b) != 0) ++b;
  return b;
}

// Field widths and sizes of a run list whose records hold at most these values; step: gaps and
// lengths count steps of this many units (1: units, the form without kStepFlag).
struct Layout {
  uint32_t gap_bits, idx_bits, len_bits;
  uint64_t record_bits;  // fixed records: gap_bits + idx_bits + len_bits; Exp-Golomb records: 0
  uint64_t step;
  // log2(step) in a layout an encoder made (layout_for: a power of two), so that writing a record
  // shifts rather than divides; a parsed layout's step may be any, and only read_run reads it.
  uint32_t step_log2;
  // Exp-Golomb records (kGolombFlag): the gap and length fields' orders (gap_bits and len_bits
  // are then unused), and, in a layout an encoder made, the records' total bits.
  bool golomb;
  uint32_t gap_order, len_order;
  uint64_t golomb_bits;
};

// The step an encoder writes, where the receiver declared kCapDedupStep (else 1): the largest
// power of two that divides every gap and length, the lowest set bit of their OR (or_all). A gcd
// would also find odd steps (dim 48: 3 units), at two divisions a run; embedding dims are powers
// of two in practice, and an OR costs nothing on either backend. A decoder takes any step.
SQZ_HD uint64_t step_for(uint64_t or_all, bool allowed) {
  return allowed && or_all != 0 ? or_all & (~or_all + 1) : 1;
}

// step: step_for's, a power of two.
SQZ_HD Layout layout_for(uint64_t max_gap, uint64_t n_sources, uint64_t max_len, uint64_t step) {
  Layout l;
  l.step = step;
  l.step_log2 = bits_for(step) - 1;
  l.gap_bits = bits_for(max_gap >> l.step_log2);
  l.idx_bits = n_sources > 1 ? bits_for(n_sources - 1) : 0;
  l.len_bits = bits_for((max_len >> l.step_log2) - 1);
  l.record_bits = (uint64_t)l.gap_bits + l.idx_bits + l.len_bits;
  l.golomb = false;
  l.gap_order = l.len_order = 0;
  l.golomb_bits = 0;
  return l;
}

// ---- Exp-Golomb codes (kCapDedupGolomb) ----
// The code of v at order k, in the LSB-first record stream: with n = (v >> k) + 1 of z + 1 bits,
// z zero bits, a one bit, n's low z bits, then v's low k bits: 2z + 1 + k bits. Codes of up to
// kWindowBits bits are read and written as one word (a frame's are a few bits); longer ones bit
// by bit, with the same result.

constexpr uint32_t kWindowBits = 57;  // the stream bits a 64-bit load at any bit offset holds

// The index of the lowest set bit of w != 0.
SQZ_HD uint32_t low_bit(uint64_t w) {
#if defined(__CUDA_ARCH__)
  return (uint32_t)__ffsll((long long)w) - 1u;
#else
  return (uint32_t)__builtin_ctzll(w);
#endif
}

SQZ_HD uint32_t golomb_bits(uint64_t v, uint32_t k) {
  return 2 * quant::high_bit64((v >> k) + 1) + 1 + k;
}

// The code of v at order k as the low *bits bits of the result (*bits <= kWindowBits only).
SQZ_HD uint64_t golomb_code(uint64_t v, uint32_t k, uint32_t* bits) {
  const uint64_t n = (v >> k) + 1;
  const uint32_t z = quant::high_bit64(n);
  *bits = 2 * z + 1 + k;
  const uint64_t low_k = k == 0 ? 0 : v & ((uint64_t{1} << k) - 1);
  return (uint64_t{1} << z) | ((n ^ (uint64_t{1} << z)) << (z + 1)) | (low_k << (2 * z + 1));
}

// The record stream's bits for a run's gap and length fields (in steps) at each order an encoder
// tries: cost[k] += the two codes' bits at order k, gap in [0, 4), length in [4, 8). As
// golomb_bits(v, k) = 2 quant::high_bit64(v + 2^k) + 1 - k (v >> k plus one is (v + 2^k) >> k): one
// add and one bit scan an order (the encoders run this for every run of every frame).
SQZ_HD void add_golomb_costs(uint64_t gap_steps, uint64_t len_steps_minus_1, uint64_t cost[8]) {
  for (uint32_t k = 0; k < kGolombOrders; ++k) {
    cost[k] += 2 * quant::high_bit64(gap_steps + (uint64_t{1} << k)) + 1 - k;
    cost[kGolombOrders + k] +=
        2 * quant::high_bit64(len_steps_minus_1 + (uint64_t{1} << k)) + 1 - k;
  }
}

// The layout an encoder writes, from the fixed one (layout_for) of n_runs runs: Exp-Golomb
// records where the receiver declared kCapDedupGolomb (golomb_ok) and they take fewer bits, each
// field at its cheapest order (add_golomb_costs over every run; ties: the lower order).
SQZ_HD Layout choose_layout(const Layout& fixed, uint64_t n_runs, const uint64_t cost[8],
                            bool golomb_ok) {
  if (!golomb_ok || n_runs == 0) return fixed;
  uint32_t kg = 0, kl = 0;
  for (uint32_t k = 1; k < kGolombOrders; ++k) {
    kg = cost[k] < cost[kg] ? k : kg;
    kl = cost[kGolombOrders + k] < cost[kGolombOrders + kl] ? k : kl;
  }
  const uint64_t bits = cost[kg] + n_runs * fixed.idx_bits + cost[kGolombOrders + kl];
  if (bits >= n_runs * fixed.record_bits) return fixed;
  Layout l = fixed;
  l.golomb = true;
  l.gap_order = kg;
  l.len_order = kl;
  l.record_bits = 0;
  l.golomb_bits = bits;
  return l;
}

// Bytes of the records of n_runs runs in a layout an encoder made.
SQZ_HD uint64_t record_stream_bytes(const Layout& l, uint64_t n_runs) {
  return ((l.golomb ? l.golomb_bits : n_runs * l.record_bits) + 7) / 8;
}

// The three fields of a run's record: gap and len - 1 in steps, idx as it is.
SQZ_HD void record_fields(const Layout& l, uint64_t gap, uint64_t idx, uint64_t len,
                          uint64_t f[3]) {
  f[0] = gap >> l.step_log2;
  f[1] = idx;
  f[2] = (len >> l.step_log2) - 1;
}

// Bytes of the section's head before the sources: the counts, the widths and the step.
SQZ_HD uint64_t head_bytes(uint64_t n_runs, uint64_t n_sources, const Layout& l) {
  return varint::size(n_runs) + varint::size(n_sources) + kHeadFields +
         (l.step > 1 ? varint::size(l.step) : 0);
}

// Bit-packed little-endian fields (the record stream): bit i of a field at bit_pos + i, bit k of
// the stream in byte k / 8 at bit k % 8. Byte by byte (a field's bits within one byte at once):
// put_field writes into a zeroed buffer, and neither touches a byte the field does not cover.
SQZ_HD void put_field(uint8_t* p, uint64_t bit_pos, uint32_t bits, uint64_t v) {
  while (bits > 0) {
    const uint32_t off = (uint32_t)(bit_pos & 7);
    const uint32_t take = bits < 8 - off ? bits : 8 - off;
    p[bit_pos >> 3] |= (uint8_t)((v & ((1u << take) - 1u)) << off);
    v >>= take;
    bit_pos += take;
    bits -= take;
  }
}
SQZ_HD uint64_t get_field(const uint8_t* p, uint64_t bit_pos, uint32_t bits) {
  uint64_t v = 0;
  for (uint32_t got = 0; got < bits;) {
    const uint32_t off = (uint32_t)(bit_pos & 7);
    const uint32_t take = bits - got < 8 - off ? bits - got : 8 - off;
    v |= (uint64_t)((p[bit_pos >> 3] >> off) & ((1u << take) - 1u)) << got;
    bit_pos += take;
    got += take;
  }
  return v;
}

// Writes v's code of order k at *bit of a zeroed stream of `bytes` bytes and advances *bit.
SQZ_HD void put_golomb(uint8_t* p, uint64_t bytes, uint64_t* bit, uint64_t v, uint32_t k) {
  const uint64_t n = (v >> k) + 1;
  const uint32_t z = quant::high_bit64(n);
  if (2 * z + 1 + k <= kWindowBits && (*bit >> 3) + 8 <= bytes) {
    uint32_t len;
    const uint64_t c = golomb_code(v, k, &len) << (*bit & 7);
    for (uint32_t i = 0; i < 8; ++i) p[(*bit >> 3) + i] |= (uint8_t)(c >> (8 * i));
    *bit += len;
    return;
  }
  *bit += z;  // the zeros: the stream is zeroed
  put_field(p, *bit, 1, 1);
  put_field(p, *bit + 1, z, n);
  put_field(p, *bit + 1 + z, k, v);
  *bit += 1 + z + k;
}

// The value of a code of order k whose z zeros and one bit start a window w (the code's bits from
// bit 0 on, 2z + 1 + k <= 64 of them in w): golomb_code's inverse.
SQZ_HD uint64_t golomb_value(uint64_t w, uint32_t z, uint32_t k) {
  const uint64_t n = (uint64_t{1} << z) | ((w >> (z + 1)) & ((uint64_t{1} << z) - 1));
  const uint64_t low = k == 0 ? 0 : (w >> (2 * z + 1)) & ((uint64_t{1} << k) - 1);
  return ((n - 1) << k) | low;
}

// Reads a code of order k (<= kMaxGolombOrder) at *bit of a stream of total_bits and advances
// *bit; false when it runs past the stream or has more than kMaxGolombPrefix zeros (the value
// then stays below 2^56).
SQZ_HD bool get_golomb(const uint8_t* p, uint64_t total_bits, uint64_t* bit, uint32_t k,
                       uint64_t* v) {
  if ((*bit >> 3) + 8 <= total_bits / 8) {
    // The window of the next kWindowBits bits or more, in one load.
    const uint64_t w = block::load_le64(p + (*bit >> 3)) >> (*bit & 7);
    const uint64_t lit = w & ((uint64_t{1} << kWindowBits) - 1);
    if (lit != 0) {
      const uint32_t z = low_bit(lit);
      if (z > kMaxGolombPrefix) return false;
      if (2 * z + 1 + k <= kWindowBits) {
        *v = golomb_value(w, z, k);
        *bit += 2 * z + 1 + k;
        return true;
      }
    }
  }
  uint32_t z = 0;
  for (;;) {
    if (*bit >= total_bits) return false;
    const uint32_t b = (p[*bit >> 3] >> (*bit & 7)) & 1u;
    ++*bit;
    if (b != 0) break;
    if (++z > kMaxGolombPrefix) return false;
  }
  if (total_bits - *bit < (uint64_t)z + k) return false;
  const uint64_t n = (uint64_t{1} << z) | get_field(p, *bit, z);
  const uint64_t low = get_field(p, *bit + z, k);
  *bit += z + k;
  *v = ((n - 1) << k) | low;
  return true;
}

// The parsed head of a dedup section; sources and records are read on demand.
struct Section {
  uint64_t n_runs;
  uint64_t n_sources;
  Layout layout;
  const uint8_t* sources;  // varint list
  const uint8_t* records;
  uint64_t records_bytes;
};

// Parses the head and checks that the sources list and the records exactly fill the section.
// The sources themselves are validated by read_sources().
SQZ_HD bool parse_section(const uint8_t* p, const uint8_t* end, uint64_t n_full_units, Section* s) {
  if (!varint::get(&p, end, &s->n_runs, 40) || !varint::get(&p, end, &s->n_sources, 40))
    return false;
  if (s->n_runs > n_full_units || s->n_sources > s->n_runs || (s->n_runs > 0) != (s->n_sources > 0))
    return false;
  if ((uint64_t)(end - p) < kHeadFields) return false;
  s->layout.golomb = (p[0] & kGolombFlag) != 0;
  s->layout.gap_bits = p[0] & (uint8_t)~kGolombFlag;
  s->layout.idx_bits = p[1];
  s->layout.len_bits = p[2] & (uint8_t)~kStepFlag;
  const bool stepped = (p[2] & kStepFlag) != 0;
  p += kHeadFields;
  if (s->layout.gap_bits > kMaxFieldBits || s->layout.idx_bits > kMaxFieldBits ||
      s->layout.len_bits > kMaxFieldBits)
    return false;
  // Exp-Golomb records: the two bytes' low bits are the fields' orders.
  s->layout.gap_order = s->layout.golomb ? s->layout.gap_bits : 0;
  s->layout.len_order = s->layout.golomb ? s->layout.len_bits : 0;
  s->layout.golomb_bits = 0;
  if (s->layout.gap_order > kMaxGolombOrder || s->layout.len_order > kMaxGolombOrder) return false;
  // A step is at least 2 (1 is the form without the flag) and no longer than the frame: a run is
  // at least one step long.
  s->layout.step = 1;
  s->layout.step_log2 = 0;  // not read: the step may be any
  if (stepped && (!varint::get(&p, end, &s->layout.step, 40) || s->layout.step < 2 ||
                  s->layout.step > n_full_units))
    return false;
  if (s->n_sources > 0 && s->layout.idx_bits != (s->n_sources > 1 ? bits_for(s->n_sources - 1) : 0))
    return false;
  s->layout.record_bits =
      s->layout.golomb ? 0 : (uint64_t)s->layout.gap_bits + s->layout.idx_bits + s->layout.len_bits;
  s->sources = p;
  // Skip the sources' varints to find the records.
  for (uint64_t k = 0; k < s->n_sources; ++k) {
    uint64_t v;
    if (!varint::get(&p, end, &v, 63)) return false;
  }
  s->records = p;
  s->records_bytes = (uint64_t)(end - p);
  // Exp-Golomb records end where their last run does (records_end_ok); each takes at least its
  // idx and the two codes' one bits.
  if (s->layout.golomb)
    return s->records_bytes >= (s->n_runs * (s->layout.idx_bits + 2) + 7) / 8 &&
           (s->n_runs > 0 || s->records_bytes == 0);
  return s->records_bytes == (s->n_runs * s->layout.record_bits + 7) / 8;
}

// Whether the records end where the last run read (read_run's cursor at end_bit) ends: exactly
// the section's last byte (fixed records fill it by construction).
SQZ_HD bool records_end_ok(const Section& s, uint64_t end_bit) {
  return (end_bit + 7) / 8 == s.records_bytes;
}

// Decodes the sources (strictly increasing starts, from the frame's first unit) into out[0,
// n_sources). They must lie in the frame or, when history_units > 0, within that many units
// before it.
SQZ_HD bool read_sources(const Section& s, const uint8_t* end, uint64_t n_full_units,
                         uint64_t history_units, int64_t* out) {
  const uint8_t* p = s.sources;
  int64_t prev = 0;
  for (uint64_t k = 0; k < s.n_sources; ++k) {
    uint64_t v;
    if (!varint::get(&p, end, &v, 63)) return false;
    int64_t src;
    if (k == 0) {
      src = unzigzag64(v);
    } else {
      if (v >= (uint64_t)1 << 40) return false;
      src = prev + 1 + (int64_t)v;
    }
    if (src >= (int64_t)n_full_units || (src < 0 && (uint64_t)(-src) > history_units)) return false;
    out[k] = src;
    prev = src;
  }
  return true;
}

// The record at *bit (the stream's start for the first run), advancing *bit past it: gap, source
// index, length. Validates the run against the frame given where the previous run ended: it lies
// in the frame's full units, and its source is before it in the frame, or entirely in the history
// (never straddling the frame's start).
SQZ_HD_ALWAYS bool read_run(const Section& s, const int64_t* sources, uint64_t* bit_pos,
                            uint64_t prev_end, uint64_t n_full_units, Run* r) {
  uint64_t gap, idx, len;
  if (s.layout.golomb) {
    const uint64_t total = s.records_bytes * 8;
    const uint32_t kg = s.layout.gap_order, ib = s.layout.idx_bits, kl = s.layout.len_order;
    bool whole = false;
    if ((*bit_pos >> 3) + 8 <= s.records_bytes) {
      // The whole record from one window where it fits (a run's record is 6-20 bits): the same
      // fields as the code by code path below.
      const uint64_t w = block::load_le64(s.records + (*bit_pos >> 3)) >> (*bit_pos & 7);
      const uint64_t window = w & ((uint64_t{1} << kWindowBits) - 1);
      if (window != 0) {
        const uint32_t z1 = low_bit(window);
        const uint32_t idx_at = 2 * z1 + 1 + kg;
        const uint32_t len_at = idx_at + ib;
        const uint64_t rest = len_at < kWindowBits ? window >> len_at : 0;
        if (z1 <= kMaxGolombPrefix && rest != 0) {
          const uint32_t z2 = low_bit(rest);
          const uint32_t end = len_at + 2 * z2 + 1 + kl;
          if (z2 <= kMaxGolombPrefix && end <= kWindowBits) {
            gap = golomb_value(w, z1, kg);
            idx = ib == 0 ? 0 : (w >> idx_at) & ((uint64_t{1} << ib) - 1);
            len = golomb_value(rest, z2, kl);
            *bit_pos += end;
            whole = true;
          }
        }
      }
    }
    if (!whole) {
      if (!get_golomb(s.records, total, bit_pos, kg, &gap) || total - *bit_pos < ib) return false;
      idx = get_field(s.records, *bit_pos, ib);
      *bit_pos += ib;
      if (!get_golomb(s.records, total, bit_pos, kl, &len)) return false;
    }
    // Below 2^56 (get_golomb); a gap or length past the frame fails below once scaled, and is
    // refused here so that the scaling cannot wrap.
    if (gap >= n_full_units || len >= n_full_units) return false;
    ++len;
  } else {
    const uint64_t bit = *bit_pos;
    *bit_pos += s.layout.record_bits;
    if (s.layout.record_bits <= 56 && (bit >> 3) + 8 <= s.records_bytes) {
      // The whole record in one little-endian word (the usual case: records are 10-30 bits), read
      // at its first byte; the same fields get_field reads byte by byte.
      uint64_t word = 0;
      for (uint32_t i = 0; i < 8; ++i) word |= (uint64_t)s.records[(bit >> 3) + i] << (8 * i);
      word >>= bit & 7;
      const uint32_t gb = s.layout.gap_bits, ib = s.layout.idx_bits, lb = s.layout.len_bits;
      gap = word & ((uint64_t{1} << gb) - 1);
      idx = (word >> gb) & ((uint64_t{1} << ib) - 1);
      len = ((word >> (gb + ib)) & ((uint64_t{1} << lb) - 1)) + 1;
    } else {
      gap = get_field(s.records, bit, s.layout.gap_bits);
      idx = get_field(s.records, bit + s.layout.gap_bits, s.layout.idx_bits);
      len =
          get_field(s.records, bit + s.layout.gap_bits + s.layout.idx_bits, s.layout.len_bits) + 1;
    }
  }
  if (idx >= s.n_sources) return false;
  gap *= s.layout.step;  // below 2^32 * 2^28: a step is at most n_full_units
  len *= s.layout.step;
  r->dst = prev_end + gap;
  r->src = sources[idx];
  r->len = len;
  if (r->dst >= n_full_units || len > n_full_units - r->dst) return false;
  if (r->src >= 0) return (uint64_t)r->src + len <= r->dst;
  return (uint64_t)(-r->src) >= len;
}

// Bytes of the section for these runs (sources: the distinct starts, increasing).
SQZ_HD uint64_t section_bytes(uint64_t n_runs, const int64_t* sources, uint64_t n_sources,
                              const Layout& l) {
  uint64_t n = head_bytes(n_runs, n_sources, l);
  for (uint64_t k = 0; k < n_sources; ++k)
    n += varint::size(k == 0 ? zigzag64(sources[0]) : (uint64_t)(sources[k] - sources[k - 1] - 1));
  return n + record_stream_bytes(l, n_runs);
}

// Writes the head and the sources; returns the bytes written (the records follow).
SQZ_HD uint64_t write_head(uint8_t* p, uint64_t n_runs, const int64_t* sources, uint64_t n_sources,
                           const Layout& l) {
  uint64_t n = varint::put(p, n_runs);
  n += varint::put(p + n, n_sources);
  p[n++] = (uint8_t)(l.golomb ? kGolombFlag | l.gap_order : l.gap_bits);
  p[n++] = (uint8_t)l.idx_bits;
  p[n++] = (uint8_t)((l.golomb ? l.len_order : l.len_bits) | (l.step > 1 ? kStepFlag : 0));
  if (l.step > 1) n += varint::put(p + n, l.step);
  for (uint64_t k = 0; k < n_sources; ++k)
    n += varint::put(p + n,
                     k == 0 ? zigzag64(sources[0]) : (uint64_t)(sources[k] - sources[k - 1] - 1));
  return n;
}

// Writes a run's record (gap and len in units) at *bit_pos of the (zeroed) record stream of
// records_bytes bytes and advances *bit_pos: a fixed record in one little-endian word where it
// fits one (read_run's fast case), else field by field.
SQZ_HD_ALWAYS void write_run(uint8_t* records, uint64_t records_bytes, uint64_t* bit_pos,
                             const Layout& l, uint64_t gap, uint64_t idx, uint64_t len) {
  uint64_t f[3];
  record_fields(l, gap, idx, len, f);
  const uint64_t bit = *bit_pos;
  if (l.golomb) {
    if (golomb_bits(f[0], l.gap_order) + l.idx_bits + golomb_bits(f[2], l.len_order) <=
            kWindowBits &&
        (bit >> 3) + 8 <= records_bytes) {
      // The whole record as one word (read_run's window).
      uint32_t b1, b2;
      const uint64_t c1 = golomb_code(f[0], l.gap_order, &b1);
      const uint64_t c2 = golomb_code(f[2], l.len_order, &b2);
      const uint64_t v = (c1 | f[1] << b1 | c2 << (b1 + l.idx_bits)) << (bit & 7);
      for (uint32_t i = 0; i < 8; ++i) records[(bit >> 3) + i] |= (uint8_t)(v >> (8 * i));
      *bit_pos += b1 + l.idx_bits + b2;
      return;
    }
    put_golomb(records, records_bytes, bit_pos, f[0], l.gap_order);
    put_field(records, *bit_pos, l.idx_bits, f[1]);
    *bit_pos += l.idx_bits;
    put_golomb(records, records_bytes, bit_pos, f[2], l.len_order);
    return;
  }
  *bit_pos += l.record_bits;
  if (l.record_bits <= 56 && (bit >> 3) + 8 <= records_bytes) {
    const uint64_t v = (f[0] | (f[1] << l.gap_bits) | (f[2] << (l.gap_bits + l.idx_bits)))
                       << (bit & 7);
    for (uint32_t i = 0; i < 8; ++i) records[(bit >> 3) + i] |= (uint8_t)(v >> (8 * i));
    return;
  }
  put_field(records, bit, l.gap_bits, f[0]);
  put_field(records, bit + l.gap_bits, l.idx_bits, f[1]);
  put_field(records, bit + l.gap_bits + l.idx_bits, l.len_bits, f[2]);
}

}  // namespace squeeze::dedup
