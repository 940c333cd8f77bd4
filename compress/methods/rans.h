// The entropy stage: static-table rANS over byte symbols, 32 interleaved lanes per segment of up
// to 16,384 symbols, or 32,768 in long segments (a GPU warp decodes a segment, lane l taking
// symbols l, l + 32, ...), 12-bit probabilities normalised with integer arithmetic only, 32-bit
// states renormalised 16 bits at a time. Everything that decides bytes is here, SQZ_HD, for the
// CPU backend, the CUDA kernels and the CPU runner alike (DietGPU's scheme,
// ../shared/docs/anchors.md section 5.1, with an integer-only normalisation so that both sides
// agree).
//
// Segment bytes: 32 little-endian u32 final encoder states (lane 0 first), then the 16-bit
// renormalisation words in the order the decoder reads them: round by round (round r holds
// symbols 32r .. 32r + 31), within a round in lane order, one word for each lane whose state fell
// below 2^16 after decoding its symbol. Decoding ends with every state back at 2^16, the
// encoder's initial state, and every word consumed: a free integrity check.
#pragma once

#include <cstdint>
#include <cstring>

#include "compress/block.h"
#include "compress/methods/varint.h"
#include "squeeze/hd.h"

namespace squeeze::rans {

constexpr uint32_t kProbBits = 12;
constexpr uint32_t kProbScale = 1u << kProbBits;
constexpr uint32_t kLanes = 32;
constexpr uint32_t kRounds = 512;
constexpr uint32_t kSegmentSymbols = kLanes * kRounds;
constexpr uint32_t kStateLow = 1u << 16;
constexpr uint32_t kMaxSymbols = 256;
constexpr uint32_t kStateBytes = 4 * kLanes;
constexpr uint32_t kScratchSlack = 8;

// Long segments (kCapRansLongSegments): twice the rounds, so that a 128 KiB f32 frame's codes are
// one segment. A segment costs about 100 bytes beyond its symbols whatever it holds (its lanes
// start at 2^16, which carries nothing, and end as 32 u32 states, about 8 bits a lane more than
// they carry): about 1.2% of a full segment at rel 1e-2 (4 bits a symbol), and a 128 KiB frame of
// 16,385 to 32,768 coded symbols paid it twice. Flagged in a staged frame's shift byte
// (kLongSegmentFlag); the lossless planes frames keep kSegmentSymbols.
constexpr uint32_t kLongSegmentSymbols = 2 * kSegmentSymbols;
constexpr uint8_t kLongSegmentFlag = 0x80;

// A stream's segment size: long segments where the receiver decodes them (long_ok) and they save
// a segment, that is past kSegmentSymbols symbols (a stream of one segment keeps the frame of a
// receiver without them).
SQZ_HD uint32_t segment_symbols(uint64_t symbols, bool long_ok) {
  return long_ok && symbols > kSegmentSymbols ? kLongSegmentSymbols : kSegmentSymbols;
}

SQZ_HD uint32_t segments_for(uint64_t symbols, uint32_t seg_symbols = kSegmentSymbols) {
  return (uint32_t)((symbols + seg_symbols - 1) / seg_symbols);
}

// A staged rANS section's first byte: the raw low bits a code (at most 16), with kLongSegmentFlag
// when the segments are long. A decoder takes either segment size for any stream.
SQZ_HD uint8_t shift_byte(uint32_t shift, uint32_t seg_symbols) {
  return (uint8_t)(shift | (seg_symbols == kLongSegmentSymbols ? kLongSegmentFlag : 0u));
}
SQZ_HD bool parse_shift_byte(uint8_t b, uint32_t* shift, uint32_t* seg_symbols) {
  *shift = b & (uint32_t)~kLongSegmentFlag & 0xffu;
  *seg_symbols = (b & kLongSegmentFlag) != 0 ? kLongSegmentSymbols : kSegmentSymbols;
  return *shift <= 16;
}

// Symbols in segment seg of a stream of n symbols in segments of seg_symbols.
SQZ_HD uint32_t segment_count(uint64_t n, uint32_t seg_symbols, uint64_t seg) {
  const uint64_t first = seg * seg_symbols;
  return (uint32_t)(n - first < seg_symbols ? n - first : seg_symbols);
}

// Bytes of a segment of n_words renormalisation words: the states, then the words.
SQZ_HD uint64_t segment_bytes(uint32_t n_words) {
  return kStateBytes + 2ull * n_words;
}

// Frequencies summing to kProbScale from a histogram (hist[s] > 0 <=> freq[s] > 0), integer only:
// f = max(1, floor(h * 4096 / total)); a deficit goes one by one to the symbols with the largest
// remainders (ties: smallest symbol), an excess is taken one by one from the largest frequencies
// (ties: smallest symbol).
//
// The deficit is below the number of symbols with a positive remainder (the remainders' fractions
// sum to more than it), so each gets at most one: the deficit's worth of symbols first in
// (remainder descending, symbol ascending) order. Only which symbols those are matters, so they
// are found by bucket: the remainder's top 8 bits below total's width (a bucket order that never
// contradicts the remainders'), every symbol of the buckets above the one where the deficit runs
// out, then that bucket's best by a merge sort of its few entries. A merge sort of every candidate
// (up to 256 a frame) was 17% of the CPU encoder's work around its segment coder (encode_rans;
// docs/PERFORMANCE.md, session 33).

// Sorts order[0, n) by (rem descending, symbol ascending), bottom-up; tmp: scratch of n entries.
// Returns the sorted array (order or tmp).
SQZ_HD uint16_t* sort_by_remainder(const uint64_t* rem, uint16_t* order, uint16_t* tmp,
                                   uint32_t n) {
  uint16_t* a = order;
  uint16_t* b = tmp;
  for (uint32_t width = 1; width < n; width *= 2) {
    for (uint32_t lo = 0; lo < n; lo += 2 * width) {
      const uint32_t mid = lo + width < n ? lo + width : n;
      const uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      uint32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        const bool take_j = rem[a[j]] > rem[a[i]] || (rem[a[j]] == rem[a[i]] && a[j] < a[i]);
        b[k++] = take_j ? a[j++] : a[i++];
      }
      while (i < mid) b[k++] = a[i++];
      while (j < hi) b[k++] = a[j++];
    }
    uint16_t* t = a;
    a = b;
    b = t;
  }
  return a;
}

// A remainder's bucket: its top 8 bits below width, the bit width of the total it is below.
SQZ_HD uint32_t remainder_bucket(uint64_t rem, uint32_t width) {
  return (uint32_t)((rem << 8) >> width);
}

SQZ_HD void normalize(const uint32_t* hist, uint32_t n_sym, uint32_t* freq) {
  uint64_t total = 0;
  for (uint32_t s = 0; s < n_sym; ++s) total += hist[s];
  if (total == 0) {
    for (uint32_t s = 0; s < n_sym; ++s) freq[s] = 0;
    return;
  }
  // total < 2^40 (256 counts below 2^32), so a remainder shifted left by 8 fits 64 bits, and its
  // bucket, (rem << 8) >> width(total), lies in [0, 256).
  const uint32_t width = quant::high_bit64(total) + 1;
  uint64_t rem[kMaxSymbols];
  uint32_t in_bucket[256] = {};
  uint32_t n_pos = 0;
  int64_t sum = 0;
  for (uint32_t s = 0; s < n_sym; ++s) {
    const uint64_t scaled = (uint64_t)hist[s] * kProbScale;
    uint32_t f = (uint32_t)(scaled / total);
    rem[s] = scaled % total;
    if (hist[s] > 0 && f == 0) {
      f = 1;
      rem[s] = 0;
    }
    freq[s] = f;
    sum += f;
    if (rem[s] > 0) {
      ++in_bucket[remainder_bucket(rem[s], width)];
      ++n_pos;
    }
  }
  if (sum < (int64_t)kProbScale && n_pos > 0) {
    const uint32_t take = kProbScale - (uint32_t)sum < n_pos ? kProbScale - (uint32_t)sum : n_pos;
    // The bucket where the deficit runs out (edge), and how many of it are taken (1 <= take <=
    // n_pos, the buckets' sum).
    uint32_t edge = 256, above = 0;
    while (above < take) above += in_bucket[--edge];
    const uint32_t from_edge = take - (above - in_bucket[edge]);
    uint16_t order[kMaxSymbols], tmp[kMaxSymbols];
    uint32_t n_edge = 0;
    for (uint32_t s = 0; s < n_sym; ++s) {
      if (rem[s] == 0) continue;
      const uint32_t b = remainder_bucket(rem[s], width);
      if (b > edge) ++freq[s];
      if (b == edge) order[n_edge++] = (uint16_t)s;
    }
    const uint16_t* best = sort_by_remainder(rem, order, tmp, n_edge);
    for (uint32_t k = 0; k < from_edge; ++k) ++freq[best[k]];
    sum += take;
  }
  if (sum > (int64_t)kProbScale) {
    // The excess, one at a time from the largest frequency (ties: smallest symbol), levels the
    // frequencies from the top: everything above some level L comes down to L, then the
    // smallest symbols at L give one more each. L, the least level whose leveling takes at most
    // the excess, is found by bisection below the largest frequency (a plane of many rare bytes
    // has an excess of hundreds, and a scan per unit was 3% of lossless compression of int64
    // ids; docs/PERFORMANCE.md, session 33).
    const uint64_t excess = (uint64_t)(sum - (int64_t)kProbScale);
    auto above = [&](uint32_t level) {
      uint64_t c = 0;
      for (uint32_t s = 0; s < n_sym; ++s) c += freq[s] > level ? freq[s] - level : 0;
      return c;
    };
    uint32_t top = 0;
    for (uint32_t s = 0; s < n_sym; ++s) top = freq[s] > top ? freq[s] : top;
    // above(top) = 0 <= excess; above(1) > excess, as sum - excess = 4096 > 256 >= n_sym.
    uint32_t lo = 1, hi = top;
    while (lo + 1 < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (above(mid) <= excess)
        hi = mid;
      else
        lo = mid;
    }
    const uint32_t level = hi;  // >= 2
    uint64_t more = excess - above(level);
    for (uint32_t s = 0; s < n_sym; ++s) {
      if (freq[s] > level) freq[s] = level;
      if (freq[s] == level && more > 0) {
        --freq[s];
        --more;
      }
    }
  }
}

// The coding table of a histogram: its normalized frequencies and their running sums.
SQZ_HD void make_table(const uint32_t* hist, uint32_t n_sym, uint32_t* freq, uint32_t* cum) {
  normalize(hist, n_sym, freq);
  for (uint32_t k = 0, c = 0; k < n_sym; ++k) {
    cum[k] = c;
    c += freq[k];
  }
}

// ---- whether to code at all: an integer estimate both backends compute alike ----

// floor(256 * log2(f)) for f >= 1, in integers only (8 squarings of the mantissa). Branch-free:
// each fraction bit is as likely as not, and an estimate takes the logarithm of every symbol.
SQZ_HD uint32_t log2_q8(uint32_t f) {
  const uint32_t e = quant::code_width(f) - 1;
  uint64_t x = (uint64_t)f << (31 - e);  // mantissa in [2^31, 2^32): 1.xxx in Q31
  uint32_t frac = 0;
  for (int i = 0; i < 8; ++i) {
    x = (x * x) >> 31;
    const uint32_t bit = (uint32_t)(x >> 32);  // x < 2^33: the square is >= 2
    frac = (frac << 1) | bit;
    x >>= bit;
  }
  return e * 256 + frac;
}

// The coder's decision is estimated from a sample of the codes: groups 0, 4, 8, ... of 32 codes of
// the coded stream (the first kGroupCodes of every kSampleStride * kGroupCodes). Codes of trained
// payloads are alike along a frame; reading a quarter of them keeps the decision cheap when the
// coder is not worth running (e.g. the local bound's nearly uniform codes).
constexpr uint64_t kSampleGroup = 32;
constexpr uint64_t kSampleStride = 4;

SQZ_HD bool in_sample(uint64_t k) {
  return (k / kSampleGroup) % kSampleStride == 0;
}

// Codes of the first n_codes that are in the sample.
SQZ_HD uint64_t sample_size(uint64_t n_codes) {
  const uint64_t period = kSampleGroup * kSampleStride;
  const uint64_t full = n_codes / period, rest = n_codes % period;
  return full * kSampleGroup + (rest < kSampleGroup ? rest : kSampleGroup);
}

// log2_q8 as a callable: estimated_bytes' default. A CPU encoder passes a table of the same values
// (cpu::Log2Table), which decides alike.
struct Log2Q8 {
  SQZ_HD uint32_t operator()(uint32_t f) const { return log2_q8(f); }
};

// Estimated bytes of a rANS codes section of n_codes codes, from the histogram of the n_sample
// sampled codes: the sample's order-0 information content (integer logarithms) scaled to the
// whole stream, plus the table (2 bytes a symbol), word counts, states and raw low bits.
// log2_of(f) must equal log2_q8(f) for every f >= 1.
template <class Log2 = Log2Q8>
SQZ_HD uint64_t estimated_bytes(const uint32_t* sample_hist, uint32_t n_sym, uint64_t n_sample,
                                uint64_t n_codes, uint32_t shift,
                                uint32_t seg_symbols = kSegmentSymbols,
                                const Log2& log2_of = Log2{}) {
  if (n_sample == 0) return ~0ull;
  const uint32_t log_total =
      log2_of((uint32_t)(n_sample < 0xffffffffull ? n_sample : 0xffffffffull));
  uint64_t info_q8 = 0, used = 0;
  for (uint32_t s = 0; s < n_sym; ++s) {
    if (sample_hist[s] == 0) continue;
    ++used;
    const uint32_t l = log2_of(sample_hist[s]);
    info_q8 += (uint64_t)sample_hist[s] * (log_total > l ? log_total - l : 0);
  }
  // info_q8 * n_codes / n_sample without overflow (the remainder's product stays below 2^62).
  const uint64_t bits_q8 =
      (info_q8 / n_sample) * n_codes + ((info_q8 % n_sample) * n_codes) / n_sample;
  const uint64_t n_seg = segments_for(n_codes, seg_symbols);
  return bits_q8 / 2048 + 2 + 2 * used + n_seg * (4 + kStateBytes) + (n_codes * shift + 7) / 8;
}

// The coding table of a staged frame's stream, from the sample that decided to code it
// (in_sample): every symbol up to the stream's largest, max_sym, counts kSampleStride times its
// sampled count plus one, so that a symbol the sample missed still has a slot (saturated where a
// frame of 2^32 codes would overflow). Counting every symbol instead made the CPU encoder about
// 10% slower with the coder, for codes 0.1-0.3% smaller on trained payloads. hist: scratch of
// max_sym + 1 entries. Returns n_sym = max_sym + 1.
SQZ_HD uint32_t table_from_sample(const uint32_t* sample_hist, uint32_t max_sym, uint32_t* hist,
                                  uint32_t* freq, uint32_t* cum) {
  const uint32_t n_sym = max_sym + 1;
  for (uint32_t k = 0; k < n_sym; ++k) {
    const uint64_t h = (uint64_t)sample_hist[k] * kSampleStride + 1;
    hist[k] = h < 0xffffffffull ? (uint32_t)h : 0xffffffffu;
  }
  make_table(hist, n_sym, freq, cum);
  return n_sym;
}

// Whether an estimate is worth coding against a fixed-coder section of fixed_bytes: at least
// 1/32 smaller.
SQZ_HD bool worth_coding(uint64_t estimate, uint64_t fixed_bytes) {
  return estimate * 32 < fixed_bytes * 31;
}

// A staged frame's rule (both backends' encoders): worth_coding, and the bytes saved pay for
// the coder's time: at least min_gain_q8 / 256 bits saved per coded symbol (CodecParams::
// rans_min_gain; 0: any worth_coding saving). A symbol saves at most 8 bits, so gains above
// kRansGainNever mean never as it does; exact in 64 bits (a frame's fixed_bytes and n_coded are
// below 2^40).
SQZ_HD bool gain_pays(uint64_t estimate, uint64_t fixed_bytes, uint64_t n_coded,
                      uint32_t min_gain_q8) {
  if (!worth_coding(estimate, fixed_bytes)) return false;
  const uint64_t gain = min_gain_q8 < kRansGainNever ? min_gain_q8 : kRansGainNever;
  return (fixed_bytes - estimate) * 2048 >= n_coded * gain;
}

// Whether gain_pays can hold for any estimate: saving every fixed byte would pay. False lets an
// encoder skip the estimate itself (a frame whose fixed coder spends fewer bits a symbol than the
// link's gain asks to be saved: 6-bit codes at local 1e-2 against about 14 bits at 10 Gbit/s).
SQZ_HD bool gain_can_pay(uint64_t fixed_bytes, uint64_t n_coded, uint32_t min_gain_q8) {
  return gain_pays(0, fixed_bytes, n_coded, min_gain_q8);
}

// ---- the table in the frame: u8 (n_sym - 1), then n_sym varint frequencies ----

SQZ_HD uint32_t table_bytes(const uint32_t* freq, uint32_t n_sym) {
  uint32_t n = 1;
  for (uint32_t s = 0; s < n_sym; ++s) n += varint::size(freq[s]);
  return n;
}

SQZ_HD uint32_t write_table(const uint32_t* freq, uint32_t n_sym, uint8_t* out) {
  out[0] = (uint8_t)(n_sym - 1);
  uint32_t n = 1;
  for (uint32_t s = 0; s < n_sym; ++s) n += varint::put(out + n, freq[s]);
  return n;
}

// Decoding tables of one frame. slot[] packs everything a decoded symbol needs into one word,
// (freq - 1) | (slot - cum) << 12 | symbol << 24 (freq - 1 and slot - cum are below 2^12), so
// that decoding is one lookup per symbol: one gather per 8 lanes for a SIMD decoder.
struct Tables {
  uint32_t n_sym;
  uint16_t freq[kMaxSymbols];
  uint16_t cum[kMaxSymbols];
  uint32_t slot[kProbScale];
};

SQZ_HD uint32_t slot_entry(uint32_t freq, uint32_t bias, uint32_t sym) {
  return (freq - 1) | (bias << 12) | (sym << 24);
}

// A symbol's f slots, slot[k] = slot_entry(f, k, sym): two entries a 64-bit store (half the
// stores of one at a time; the decoder builds the table for every frame it reads, 4096 entries).
// The pair's first four bytes are entry k's on either byte order. Adding 2 to both halves'
// slot - cum fields never carries out of a stored one: they stay below f.
SQZ_HD void fill_slots(uint32_t* slot, uint32_t f, uint32_t sym) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  constexpr uint32_t kFirst = 32, kSecond = 0;
#else
  constexpr uint32_t kFirst = 0, kSecond = 32;
#endif
  uint32_t k = 0;
  const uint64_t first = slot_entry(f, 0, sym), second = slot_entry(f, 1, sym);
  uint64_t pair = first << kFirst | second << kSecond;
  constexpr uint64_t kStep = (uint64_t{2} << 12) | (uint64_t{2} << 44);
  for (; k + 2 <= f; k += 2, pair += kStep) memcpy(slot + k, &pair, 8);
  if (k < f) slot[k] = slot_entry(f, k, sym);
}

// Reads and validates a table at *p (bounded by end): frequencies must sum to kProbScale. Fills
// the decoding tables and advances *p.
SQZ_HD bool read_table(const uint8_t** p, const uint8_t* end, Tables* t) {
  if (*p >= end) return false;
  t->n_sym = (uint32_t)(**p) + 1;
  ++*p;
  uint32_t cum = 0;
  for (uint32_t s = 0; s < t->n_sym; ++s) {
    uint64_t f;
    if (!varint::get(p, end, &f, 13) || f > kProbScale || cum + f > kProbScale) return false;
    t->freq[s] = (uint16_t)f;
    t->cum[s] = (uint16_t)cum;
    fill_slots(t->slot + cum, (uint32_t)f, s);
    cum += (uint32_t)f;
  }
  return cum == kProbScale;
}

// ---- one lane step ----

// Encoder renormalisation before coding a symbol of frequency f: true (and the word to emit)
// when the state must shed 16 bits first.
SQZ_HD bool encode_renorm(uint32_t* x, uint32_t f, uint16_t* word) {
  // In 64 bits: a one-symbol table (f = 4096) has x_max = 2^32, and never renormalises.
  const uint64_t x_max = (uint64_t)((kStateLow >> kProbBits) << 16) * f;
  if (*x < x_max) return false;
  *word = (uint16_t)(*x & 0xffffu);
  *x >>= 16;
  return true;
}

SQZ_HD uint32_t encode_put(uint32_t x, uint32_t f, uint32_t c) {
  return ((x / f) << kProbBits) + (x % f) + c;
}

// x / f without a division: inv = 1.0 / f in double puts x * inv within one of the quotient
// (x < 2^32), and the product checks correct it. encode_put's exact result, several times faster
// on a CPU.
SQZ_HD uint32_t div_exact(uint32_t x, uint32_t f, double inv) {
  uint32_t q = (uint32_t)((double)x * inv);
  q -= (uint32_t)((uint64_t)q * f > x);  // branch-free: corrections are rare but unpredictable
  q += (uint32_t)(((uint64_t)q + 1) * f <= x);
  return q;
}

// Decodes one symbol from a state; the caller then renormalises when *x < kStateLow.
// x = freq * (x >> 12) + (slot - cum), computed as (freq - 1) * hi + hi + bias.
SQZ_HD uint32_t decode_get(uint32_t* x, const Tables& t) {
  const uint32_t e = t.slot[*x & (kProbScale - 1)];
  const uint32_t hi = *x >> kProbBits;
  *x = (e & 0xfffu) * hi + hi + ((e >> 12) & 0xfffu);
  return e >> 24;
}

// ---- a segment, sequentially: the reference the SIMD and warp versions reproduce ----

// One encoder lane step for a symbol of frequency f and start c (inv = 1.0 / f): renormalise,
// then x = (x / f) * 2^12 + x % f + c (encode_put). Branch-free: whether a lane sheds a word is
// data-dependent and unpredictable.
SQZ_HD void encode_step(uint32_t* x, uint32_t f, uint32_t c, double inv, uint16_t* scratch,
                        uint32_t* n_words) {
  uint32_t v = *x;
  const uint32_t shed = (uint64_t)v >= (uint64_t)((kStateLow >> kProbBits) << 16) * f;
  scratch[*n_words] = (uint16_t)v;  // encode_renorm's word, kept only when it sheds
  *n_words += shed;
  v = shed ? v >> 16 : v;
  const uint32_t q = div_exact(v, f, inv);
  *x = (q << kProbBits) + (v - q * f) + c;
}

// The segment's bytes once every symbol is coded: the final states, then the words in the reverse
// of the order they were emitted (the order the decoder reads them).
SQZ_HD void finish_segment(const uint32_t* x, const uint16_t* scratch, uint32_t n_words,
                           uint8_t* out) {
  for (uint32_t l = 0; l < kLanes; ++l) block::store_le32(out + 4 * l, x[l]);
  uint8_t* words = out + kStateBytes;
  for (uint32_t i = 0; i < n_words; ++i) block::store_le16(words + 2 * i, scratch[n_words - 1 - i]);
}

// Encodes count (<= kLongSegmentSymbols) symbols into out: states then words. scratch holds
// count + kScratchSlack words (a SIMD encoder stores 8 at a time). Returns the number of words.
// Symbols go rounds last to first, lanes high to low: the partial last round first.
SQZ_HD uint32_t encode_segment(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                               const uint32_t* cum, uint16_t* scratch, uint8_t* out) {
  double inv[kMaxSymbols];
  uint32_t max_sym = 0;
  for (uint32_t k = 0; k < count; ++k) max_sym = sym[k] > max_sym ? sym[k] : max_sym;
  for (uint32_t s = 0; s <= max_sym; ++s) inv[s] = freq[s] ? 1.0 / (double)freq[s] : 0.0;
  uint32_t x[kLanes];
  for (uint32_t l = 0; l < kLanes; ++l) x[l] = kStateLow;
  uint32_t n_words = 0;
  const uint32_t full = count / kLanes;
  for (uint32_t l = count - full * kLanes; l-- > 0;) {
    const uint32_t s = sym[full * kLanes + l];
    encode_step(&x[l], freq[s], cum[s], inv[s], scratch, &n_words);
  }
  for (uint32_t r = full; r-- > 0;) {
    for (uint32_t l = kLanes; l-- > 0;) {
      const uint32_t s = sym[r * kLanes + l];
      encode_step(&x[l], freq[s], cum[s], inv[s], scratch, &n_words);
    }
  }
  finish_segment(x, scratch, n_words, out);
  return n_words;
}

// The decoder's renormalisation after decode_get: a state below 2^16 takes the next word. A word
// past the end reads as 0 and sets *overrun, which fails the segment at the end. Branch-free:
// whether a lane needs a word is unpredictable.
SQZ_HD void decode_renorm(uint32_t* x, const uint8_t* words, uint32_t n_words, uint32_t* pos,
                          bool* overrun) {
  const uint32_t need = *x < kStateLow;
  const uint32_t have = *pos < n_words;
  *overrun |= need && !have;
  const uint32_t w = have ? block::load_le16(words + 2 * *pos) : 0u;
  *x = need ? (*x << 16) | w : *x;
  *pos += need & have;
}

// Whether a decoded segment was well formed: no word read past the end, every word consumed, and
// every state back at 2^16 (the encoder's initial state).
SQZ_HD bool segment_ok(const uint32_t* x, uint32_t pos, uint32_t n_words, bool overrun) {
  if (overrun || pos != n_words) return false;
  for (uint32_t l = 0; l < kLanes; ++l)
    if (x[l] != kStateLow) return false;
  return true;
}

// Decodes count symbols from a segment of kStateBytes + 2 * n_words bytes. False when the stream
// is malformed (segment_ok). Sym: uint8_t, or uint32_t for a decoder that wants each symbol as a
// 32-bit code (the staged codec's, whose codes are 32-bit words: no widening pass after it).
template <class Sym>
SQZ_HD bool decode_segment(const uint8_t* seg, uint32_t n_words, uint32_t count, const Tables& t,
                           Sym* sym) {
  uint32_t x[kLanes];
  for (uint32_t l = 0; l < kLanes; ++l) x[l] = block::load_le32(seg + 4 * l);
  const uint8_t* words = seg + kStateBytes;
  uint32_t pos = 0;
  bool overrun = false;
  for (uint32_t k = 0; k < count; ++k) {
    const uint32_t l = k % kLanes;
    sym[k] = (Sym)decode_get(&x[l], t);
    decode_renorm(&x[l], words, n_words, &pos, &overrun);
  }
  return segment_ok(x, pos, n_words, overrun);
}

// ---- raw low bits: element k's `bits` low bits at bit offset k * bits, little-endian ----

SQZ_HD uint64_t packed_bytes(uint64_t count, uint32_t bits) {
  return (count * bits + 7) / 8;
}

SQZ_HD uint32_t get_bits(const uint8_t* p, uint64_t bit_pos, uint32_t bits) {
  if (bits == 0) return 0;
  const uint64_t first = bit_pos >> 3;
  const uint32_t shift = (uint32_t)(bit_pos & 7);
  const uint32_t bytes = (shift + bits + 7) / 8;  // <= 4 for bits <= 24
  uint64_t v = 0;
  for (uint32_t i = 0; i < bytes; ++i) v |= (uint64_t)p[first + i] << (8 * i);
  return (uint32_t)((v >> shift) & ((1ull << bits) - 1));
}

// Writes into a zeroed buffer (bits are OR-ed in).
SQZ_HD void put_bits(uint8_t* p, uint64_t bit_pos, uint32_t bits, uint32_t value) {
  if (bits == 0) return;
  const uint64_t first = bit_pos >> 3;
  const uint32_t shift = (uint32_t)(bit_pos & 7);
  const uint64_t v = (uint64_t)(value & ((1u << bits) - 1u)) << shift;
  const uint32_t bytes = (shift + bits + 7) / 8;
  for (uint32_t i = 0; i < bytes; ++i) p[first + i] |= (uint8_t)(v >> (8 * i));
}

}  // namespace squeeze::rans
