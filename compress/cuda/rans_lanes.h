// rans.h's segment coder split for a CTA.
// - Encoding, shared by the staged and the planes compress kernels (staged_compress.h,
//   planes_compress.h): a thread codes one lane of a segment backwards, keeping the word each
//   symbol emits at the symbol's index and marking the round's emit mask; then a thread per
//   segment numbers each round's first word; then a thread per symbol puts its word where the
//   decoder reads it. The bytes are encode_segment's: the same lane steps (encode_renorm,
//   encode_put), the same words, in the reverse of their emission order (rounds last to first,
//   within a round lanes high to low).
// - Decoding, shared by the staged and the planes decompress kernels: a warp decodes a segment,
//   lane l its lane l, in lock-step (decode_segment_lanes).
#pragma once

#include <cstdint>

#include "compress/cuda/atomics.h"
#include "compress/cuda/kernel_model.h"
#include "compress/methods/rans.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// Codes lane `lane` of a segment of count symbols sym[0, count) with the table (freq, cum): the
// word symbol k emits goes to words[k] and sets bit `lane` of emit[k / 32] (the masks are shared
// by the lanes, cleared before). Returns the lane's final state.
SQZ_HD uint32_t encode_lane(const uint8_t* sym, uint32_t count, uint32_t lane, const uint32_t* freq,
                            const uint32_t* cum, uint16_t* words, uint32_t* emit) {
  uint32_t x = rans::kStateLow;
  for (uint32_t r = (count + rans::kLanes - 1) / rans::kLanes; r-- > 0;) {
    const uint32_t k = r * rans::kLanes + lane;
    if (k >= count) continue;
    const uint32_t s = sym[k];
    uint16_t word;
    if (rans::encode_renorm(&x, freq[s], &word)) {
      words[k] = word;
      atomic_or_u32(&emit[r], 1u << lane);
    }
    x = rans::encode_put(x, freq[s], cum[s]);
  }
  return x;
}

// A segment of `rounds` rounds: each round's first word's emission index (rounds are emitted last
// to first) into round_first; returns the segment's word count.
SQZ_HD uint32_t number_rounds(const uint32_t* emit, uint64_t rounds, uint32_t* round_first) {
  uint32_t e = 0;
  for (uint64_t r = rounds; r-- > 0;) {
    round_first[r] = e;
    e += popc(emit[r]);
  }
  return e;
}

// Where symbol k of a segment of seg_words words puts its word among the segment's words (the
// decoder's order); false when it emitted none.
SQZ_HD bool word_slot(const uint32_t* emit, const uint32_t* round_first, uint32_t seg_words,
                      uint32_t k, uint32_t* pos) {
  const uint32_t r = k / rans::kLanes;
  const uint32_t lane = k % rans::kLanes;
  const uint32_t mask = emit[r];
  if (((mask >> lane) & 1u) == 0) return false;
  const uint32_t above = lane + 1 < rans::kLanes ? mask >> (lane + 1) : 0u;
  *pos = seg_words - 1 - (round_first[r] + popc(above));
  return true;
}

// decode_segment (rans.h) by a warp in lock-step (kernel_model.h, w.collective): every round,
// each lane decodes its symbol, a ballot finds the lanes whose state fell below 2^16, and those
// take the next words in lane order. The sequential decoder renormalises each lane right after
// its symbol, but a lane's symbol never depends on the stream position, so decoding the round's
// symbols first and then handing out its words in lane order reads the same words: the same
// symbols and the same verdict (a word past the end reads as 0 and fails the segment).
template <class Sym, class L>
SQZ_HD bool decode_segment_lanes(const L& lanes, const uint8_t* seg, uint32_t n_words,
                                 uint32_t count, const rans::Tables& t, Sym* sym) {
  typename L::template Vec<uint32_t> x;
  lanes.each([&](uint32_t l) { x[l] = block::load_le32(seg + 4 * l); });
  const uint8_t* words = seg + rans::kStateBytes;
  uint32_t pos = 0;  // uniform: words taken, at most n_words
  bool overrun = false;
  const uint32_t rounds = (count + rans::kLanes - 1) / rans::kLanes;
  for (uint32_t r = 0; r < rounds; ++r) {
    const uint32_t first = r * rans::kLanes;
    lanes.each([&](uint32_t l) {
      if (first + l < count) sym[first + l] = (Sym)rans::decode_get(&x[l], t);
    });
    const uint32_t need =
        lanes.ballot([&](uint32_t l) { return first + l < count && x[l] < rans::kStateLow; });
    if (need == 0) continue;
    lanes.each([&](uint32_t l) {
      if (((need >> l) & 1u) == 0) return;
      const uint32_t at = pos + popc(need & ((1u << l) - 1u));
      x[l] = (x[l] << 16) | (at < n_words ? block::load_le16(words + 2 * at) : 0u);
    });
    const uint32_t n_need = popc(need), left = n_words - pos;
    overrun |= n_need > left;
    pos += n_need < left ? n_need : left;
  }
  const uint32_t off_low = lanes.ballot([&](uint32_t l) { return x[l] != rans::kStateLow; });
  return !overrun && pos == n_words && off_low == 0;
}

}  // namespace squeeze::kern
