// The AVX2 rANS segment coder: 8 of a segment's 32 lanes per vector, four vectors a round. It
// gives rans.h's bytes and verdicts exactly (tests/unit/test_rans_kernels.cc):
// - the decoder loads one packed table entry per lane (rans::Tables::slot), computes the same
//   integer state update, and hands the words to the lanes that need one in lane order with a
//   byte shuffle; it writes the symbols as bytes, or as 32-bit codes for the staged decoder, and
//   decodes one segment or two side by side (decode_two, decode_two_wide);
// - the encoder loads each lane's frequency, start and reciprocal as one 64-bit entry, computes
//   the exact quotient x / f (the reciprocal's estimate, corrected by the remainder's sign), and
//   writes the shed words of a vector high lane first, the order the scalar encoder emits them.
// Partial rounds, and the last words of a segment (where a 16-byte load would pass the end), go
// through rans.h's own lane steps. Both fetch a share of their WarmLines after each round.
#include "compress/cpu/rans_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "compress/block.h"
#include "compress/cpu/avx2_common.h"
#include "compress/cpu/prefetch.h"

namespace squeeze::cpu {

namespace {

using rans::kLanes;
using rans::kStateLow;

// pshufb controls for 8 lanes of 16-bit words, one per mask of the lanes concerned.
struct WordShuffles {
  // Decoder: words 0, 1, ... of the stream to the masked lanes' 16-bit slots, lowest lane first.
  uint8_t expand[256][16];
  // Encoder: the masked lanes' 16-bit slots to words 0, 1, ..., highest lane first.
  uint8_t compact[256][16];
};

constexpr WordShuffles make_word_shuffles() {
  WordShuffles t{};
  for (uint32_t m = 0; m < 256; ++m) {
    for (uint32_t b = 0; b < 16; ++b) t.expand[m][b] = t.compact[m][b] = 0x80;
    uint32_t k = 0;
    for (uint32_t lane = 0; lane < 8; ++lane) {
      if ((m >> lane) & 1u) {
        t.expand[m][2 * lane] = (uint8_t)(2 * k);
        t.expand[m][2 * lane + 1] = (uint8_t)(2 * k + 1);
        ++k;
      }
    }
    k = 0;
    for (uint32_t lane = 8; lane-- > 0;) {
      if ((m >> lane) & 1u) {
        t.compact[m][2 * k] = (uint8_t)(2 * lane);
        t.compact[m][2 * k + 1] = (uint8_t)(2 * lane + 1);
        ++k;
      }
    }
  }
  return t;
}

alignas(64) constexpr WordShuffles kShuffles = make_word_shuffles();

SQZ_AVX2 inline __m128i shuffle_control(const uint8_t (*table)[16], uint32_t mask) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(table[mask]));
}

// ---- decoder ----

// The table entries of 8 lanes' states' slots (x mod kProbScale), in lane order: eight scalar
// loads in place of one 8-lane gather, whose microcode on the AMD family 17h CPU it was measured
// on costs more: with the masking below, the segment decoder ran 1.12x as fast (573 -> 645 Msym/s
// in squeeze-rans-speed; docs/PERFORMANCE.md, session 20).
// The states leave the vector as four 64-bit pairs and are masked there, where integer units are
// idle while the vector units are the loop's bound (storing them and loading them back was slower:
// the loads wait on the store).
SQZ_AVX2 inline __m256i table_entries(const uint32_t* table, __m256i x) {
  const __m128i lo = _mm256_castsi256_si128(x);
  const __m128i hi = _mm256_extracti128_si256(x, 1);
  const uint64_t p0 = (uint64_t)_mm_cvtsi128_si64(lo);
  const uint64_t p1 = (uint64_t)_mm_extract_epi64(lo, 1);
  const uint64_t p2 = (uint64_t)_mm_cvtsi128_si64(hi);
  const uint64_t p3 = (uint64_t)_mm_extract_epi64(hi, 1);
  constexpr uint64_t kSlot = rans::kProbScale - 1;
  const auto entry = [table](uint64_t i) { return _mm_cvtsi32_si128((int)table[i & kSlot]); };
  const __m128i a = _mm_unpacklo_epi64(_mm_unpacklo_epi32(entry(p0), entry(p0 >> 32)),
                                       _mm_unpacklo_epi32(entry(p1), entry(p1 >> 32)));
  const __m128i b = _mm_unpacklo_epi64(_mm_unpacklo_epi32(entry(p2), entry(p2 >> 32)),
                                       _mm_unpacklo_epi32(entry(p3), entry(p3 >> 32)));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
}

// One segment's decoder state between rounds: its 32 lanes' states, its words and how many of
// them the lanes have taken.
struct SegmentDecoder {
  __m256i xv[4];
  const uint8_t* words;
  uint32_t n_words, pos;
  bool overrun;
};

SQZ_AVX2 inline void start_segment(const uint8_t* seg, uint32_t n_words, SegmentDecoder* d) {
  alignas(32) uint32_t x[kLanes];
  for (uint32_t l = 0; l < kLanes; ++l) x[l] = block::load_le32(seg + 4 * l);
  for (int v = 0; v < 4; ++v)
    d->xv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 8 * v));
  d->words = seg + rans::kStateBytes;
  d->n_words = n_words;
  d->pos = 0;
  d->overrun = false;
}

// One round of 32 symbols to out. The four vectors' steps phase by phase (every state's update,
// then every renormalisation) rather than vector by vector, so that independent work sits close
// in the instruction stream: only the renormalisations are chained (by the stream position), and
// a round's instructions outnumber what the CPU reorders across. 645 -> 860-900 Msym/s in
// squeeze-rans-speed (docs/PERFORMANCE.md, session 20). The encoder written the same way was
// slower (610-630 -> 540-570).
template <class Sym>
SQZ_AVX2 __attribute__((always_inline)) inline void decode_round(SegmentDecoder& d,
                                                                 const rans::Tables& t, Sym* out) {
  const __m256i m12 = _mm256_set1_epi32(0xfff);
  const __m256i zero = _mm256_setzero_si256();
  __m256i sv[4], need[4];
  uint32_t mask[4];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m256i xs = d.xv[v];
    // decode_get: x = (freq - 1) * hi + hi + bias, symbol in the entry's top byte.
    const __m256i e = table_entries(t.slot, xs);
    const __m256i hi = _mm256_srli_epi32(xs, rans::kProbBits);
    d.xv[v] =
        _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(_mm256_and_si256(e, m12), hi), hi),
                         _mm256_and_si256(_mm256_srli_epi32(e, 12), m12));
    sv[v] = _mm256_srli_epi32(e, 24);
    // decode_renorm: lanes below 2^16 take the next words, in lane order.
    need[v] = _mm256_cmpeq_epi32(_mm256_srli_epi32(d.xv[v], 16), zero);
    mask[v] = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(need[v]));
  }
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    if (d.pos + 8 <= d.n_words) {
      const __m128i w16 = _mm_shuffle_epi8(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(d.words + 2ull * d.pos)),
          shuffle_control(kShuffles.expand, mask[v]));
      const __m256i w = _mm256_cvtepu16_epi32(w16);
      d.xv[v] =
          _mm256_blendv_epi8(d.xv[v], _mm256_or_si256(_mm256_slli_epi32(d.xv[v], 16), w), need[v]);
      d.pos += (uint32_t)__builtin_popcount(mask[v]);
    } else if (mask[v] != 0) {
      alignas(32) uint32_t lane[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lane), d.xv[v]);
      for (int i = 0; i < 8; ++i)
        rans::decode_renorm(&lane[i], d.words, d.n_words, &d.pos, &d.overrun);
      d.xv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lane));
    }
  }
  if constexpr (sizeof(Sym) == 4) {
    for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * v), sv[v]);
  } else {
    // 32 symbols of 32-bit lanes to 32 bytes in lane order.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), avx2::narrow_to_bytes(sv));
  }
}

// A WarmLines spread over `rounds` rounds: after each round, its share of the lines.
struct Warmer {
  const uint8_t* next;
  uint64_t left, per_round;
  Warmer(WarmLines w, uint64_t rounds)
      : next(w.first), left(w.count), per_round(rounds ? (w.count + rounds - 1) / rounds : 0) {}
  __attribute__((always_inline)) void after_round() {
    for (uint64_t j = 0; j < per_round && left > 0; ++j, --left, next += 64)
      prefetch_line(next, true);
  }
};

// The rounds from `from` on, then the partial last round lane by lane; the segment's verdict.
// The state comes by value and the function is inlined, so that it stays in registers: held
// through a reference, a segment alone decoded at 1.66 Gsym/s against 1.93.
template <class Sym>
SQZ_AVX2 __attribute__((always_inline)) inline bool finish_segment(SegmentDecoder d, uint32_t from,
                                                                   uint32_t count,
                                                                   const rans::Tables& t, Sym* sym,
                                                                   WarmLines warm) {
  const uint32_t full = count / kLanes;
  Warmer warmer(warm, full - from);
  for (uint32_t r = from; r < full; ++r) {
    decode_round(d, t, sym + 32ull * r);
    warmer.after_round();
  }
  alignas(32) uint32_t x[kLanes];
  for (int v = 0; v < 4; ++v) _mm256_store_si256(reinterpret_cast<__m256i*>(x + 8 * v), d.xv[v]);
  for (uint32_t l = 0; l < count - full * kLanes; ++l) {
    sym[full * kLanes + l] = (Sym)rans::decode_get(&x[l], t);
    rans::decode_renorm(&x[l], d.words, d.n_words, &d.pos, &d.overrun);
  }
  return rans::segment_ok(x, d.pos, d.n_words, d.overrun);
}

// Sym: uint8_t (the 32 symbols of a round packed to bytes) or uint32_t (stored as they are).
template <class Sym>
SQZ_AVX2 bool decode_segment_avx2(const uint8_t* seg, uint32_t n_words, uint32_t count,
                                  const rans::Tables& t, Sym* sym, WarmLines warm) {
  SegmentDecoder d;
  start_segment(seg, n_words, &d);
  return finish_segment(d, 0, count, t, sym, warm);
}

// Two segments at once, round by round while both have whole rounds: one segment's rounds form
// a chain (each round's table reads wait on the round before), and two chains side by side keep
// the CPU busier.
template <class Sym>
SQZ_AVX2 void decode_two_avx2(const uint8_t* seg_a, uint32_t words_a, uint32_t count_a,
                              const uint8_t* seg_b, uint32_t words_b, uint32_t count_b,
                              const rans::Tables& t, Sym* sym_a, Sym* sym_b, bool* ok_a, bool* ok_b,
                              WarmLines warm) {
  SegmentDecoder a, b;
  start_segment(seg_a, words_a, &a);
  start_segment(seg_b, words_b, &b);
  const uint32_t both = std::min(count_a, count_b) / kLanes;
  Warmer warmer(warm, both);
  for (uint32_t r = 0; r < both; ++r) {
    decode_round(a, t, sym_a + 32ull * r);
    decode_round(b, t, sym_b + 32ull * r);
    warmer.after_round();
  }
  *ok_a = finish_segment(a, both, count_a, t, sym_a, WarmLines{});
  *ok_b = finish_segment(b, both, count_b, t, sym_b, WarmLines{});
}

// ---- encoder ----

// A symbol's two lookups as one 64-bit entry: freq | cum << 16 in the low word, the reciprocal
// floor(2^32 / freq) (2^32 - 1 for freq 1) in the high word.
SQZ_AVX2 inline __m128d entry_pair(const uint64_t* table, uint32_t i0, uint32_t i1) {
  const __m128d lo =
      _mm_castsi128_pd(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(table + i0)));
  return _mm_loadh_pd(lo, reinterpret_cast<const double*>(table + i1));
}

// The entries of 8 symbols sp[0, 8) as two vectors in lane order: freq | cum << 16, and the
// reciprocal. Eight 64-bit loads in place of two 8-lane gathers (16 element loads): on the AMD
// family 17h CPU it was measured on, whose gathers are microcoded, the encoder ran 1.7-2.1x as
// fast (docs/PERFORMANCE.md, session 18).
// Entries 0 1 4 5 and 2 3 6 7 go into two vectors, whose even and odd words are then the two
// lookups of lanes 0 .. 7.
SQZ_AVX2 inline void encoder_entries(const uint64_t* table, const uint8_t* sp, __m256i* fc,
                                     __m256i* rcp) {
  uint64_t s8;
  std::memcpy(&s8, sp, 8);
  const auto sym = [s8](int k) { return (uint32_t)(s8 >> (8 * k)) & 0xffu; };
  const __m256 a = _mm256_castpd_ps(
      _mm256_insertf128_pd(_mm256_castpd128_pd256(entry_pair(table, sym(0), sym(1))),
                           entry_pair(table, sym(4), sym(5)), 1));
  const __m256 b = _mm256_castpd_ps(
      _mm256_insertf128_pd(_mm256_castpd128_pd256(entry_pair(table, sym(2), sym(3))),
                           entry_pair(table, sym(6), sym(7)), 1));
  *fc = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0x88));
  *rcp = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xdd));
}

// rans::finish_segment: the states, then the words in the order the decoder reads them (the
// reverse of the encoder's), 16 at a time: a word at a time was a fifth of the segment encoder's
// time.
SQZ_AVX2 void write_segment_avx2(const uint32_t* x, const uint16_t* scratch, uint32_t n_words,
                                 uint8_t* out) {
  for (uint32_t l = 0; l < kLanes; ++l) block::store_le32(out + 4 * l, x[l]);
  uint8_t* words = out + rans::kStateBytes;
  // The 8 words of each 128-bit half in reverse; the halves are then swapped.
  const __m256i reverse = _mm256_setr_epi8(14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1, 14,
                                           15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
  uint32_t i = 0;
  for (; i + 16 <= n_words; i += 16) {
    const __m256i v =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scratch + n_words - 16 - i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + 2 * i),
                        _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, reverse), 0x4e));
  }
  for (; i < n_words; ++i) block::store_le16(words + 2 * i, scratch[n_words - 1 - i]);
}

// One vector's step: 8 lanes' states xs take the symbols sp[0, 8), shedding words to scratch.
// Always inlined, with the four vectors' states as four locals: written as a loop over an array
// of states, the compiler kept them in memory (a store and a load a step).
SQZ_AVX2 __attribute__((always_inline)) inline __m256i encode_vector(
    __m256i xs, const uint64_t* entry, const uint8_t* sp, uint16_t* scratch, uint32_t* n_words) {
  const __m256i lo16 = _mm256_set1_epi32(0xffff);
  const __m256i one = _mm256_set1_epi32(1);
  __m256i e, r32;
  encoder_entries(entry, sp, &e, &r32);
  const __m256i f = _mm256_and_si256(e, lo16);
  const __m256i c = _mm256_srli_epi32(e, 16);
  // Shed when x >= f * 2^20, i.e. x >> 20 >= f (f * 2^20 may not fit 32 bits).
  const __m256i shed = _mm256_cmpgt_epi32(_mm256_srli_epi32(xs, 20), _mm256_sub_epi32(f, one));
  const uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(shed));
  // The low 16 bits of the 8 lanes as 8 words (each half's four to its low 8 bytes, then the
  // halves' low quadwords together), then the shedding lanes' high lane first.
  const __m256i low_words =
      _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9,
                       12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(xs, low_words), 0x08);
  const __m128i w16 =
      _mm_shuffle_epi8(_mm256_castsi256_si128(packed), shuffle_control(kShuffles.compact, mask));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(scratch + *n_words), w16);
  *n_words += (uint32_t)__builtin_popcount(mask);
  xs = _mm256_blendv_epi8(xs, _mm256_srli_epi32(xs, 16), shed);
  // q = x / f: the high half of x * floor(2^32 / f) (2^32 - 1 for f = 1) is the quotient or
  // one less; the remainder's sign corrects it. Even and odd lanes multiply separately.
  const __m256i q_even = _mm256_srli_epi64(_mm256_mul_epu32(xs, r32), 32);
  const __m256i q_odd = _mm256_mul_epu32(_mm256_srli_epi64(xs, 32), _mm256_srli_epi64(r32, 32));
  __m256i q = _mm256_blend_epi32(q_even, q_odd, 0xaa);
  // The estimate is never high (x * floor(2^32 / f) / 2^32 <= x / f): the remainder lies in
  // [0, 2f), and one step corrects it.
  __m256i rem = _mm256_sub_epi32(xs, _mm256_mullo_epi32(q, f));
  const __m256i high = _mm256_cmpgt_epi32(rem, _mm256_sub_epi32(f, one));
  q = _mm256_sub_epi32(q, high);
  rem = _mm256_sub_epi32(rem, _mm256_and_si256(high, f));
  return _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(q, rans::kProbBits), rem), c);
}

SQZ_AVX2 uint32_t encode_segment_avx2(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                                      const uint32_t* cum, uint16_t* scratch, uint8_t* out,
                                      WarmLines warm) {
  // Per symbol: freq | cum << 16 and a 32-bit reciprocal (encoder_entries).
  alignas(32) uint64_t entry[rans::kMaxSymbols];
  // The largest symbol (the tables past it are not the caller's): 32 bytes at a time.
  __m256i vmax = _mm256_setzero_si256();
  uint32_t k = 0;
  for (; k + 32 <= count; k += 32)
    vmax = _mm256_max_epu8(vmax, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sym + k)));
  alignas(32) uint8_t lanes[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), vmax);
  uint32_t max_sym = 0;
  for (uint8_t b : lanes) max_sym = b > max_sym ? b : max_sym;
  for (; k < count; ++k) max_sym = sym[k] > max_sym ? sym[k] : max_sym;
  for (uint32_t s = 0; s <= max_sym; ++s) {
    const uint64_t rcp = freq[s] > 1 ? (1ull << 32) / freq[s] : 0xffffffffull;
    entry[s] = freq[s] | (cum[s] << 16) | rcp << 32;
  }
  alignas(32) uint32_t x[kLanes];
  for (uint32_t l = 0; l < kLanes; ++l) x[l] = kStateLow;
  uint32_t n_words = 0;
  const uint32_t full = count / kLanes;
  // The partial last round, lane by lane (a coded symbol's frequency is at least 1).
  for (uint32_t l = count - full * kLanes; l-- > 0;) {
    const uint32_t s = sym[full * kLanes + l];
    rans::encode_step(&x[l], freq[s], cum[s], 1.0 / (double)freq[s], scratch, &n_words);
  }
  __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x));
  __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 8));
  __m256i x2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 16));
  __m256i x3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + 24));
  Warmer warmer(warm, full);
  for (uint32_t r = full; r-- > 0;) {
    const uint8_t* sp = sym + 32ull * r;
    // Vectors high to low, as the lanes are coded.
    x3 = encode_vector(x3, entry, sp + 24, scratch, &n_words);
    x2 = encode_vector(x2, entry, sp + 16, scratch, &n_words);
    x1 = encode_vector(x1, entry, sp + 8, scratch, &n_words);
    x0 = encode_vector(x0, entry, sp, scratch, &n_words);
    warmer.after_round();
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(x), x0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x + 8), x1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x + 16), x2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x + 24), x3);
  write_segment_avx2(x, scratch, n_words, out);
  return n_words;
}

}  // namespace

const RansKernels kRansAvx2 = {&encode_segment_avx2, &decode_segment_avx2<uint8_t>,
                               &decode_segment_avx2<uint32_t>, &decode_two_avx2<uint8_t>,
                               &decode_two_avx2<uint32_t>};

}  // namespace squeeze::cpu

#endif
