// rans.h's segment coder (encode_segment) split for a CTA, shared by the staged and the planes
// compress kernels (staged_compress.h, planes_compress.h): a thread codes one lane of a segment
// backwards, keeping the word each symbol emits at the symbol's index and marking the round's
// emit mask; then a thread per segment numbers each round's first word; then a thread per symbol
// puts its word where the decoder reads it. The bytes are encode_segment's: the same lane steps
// (encode_renorm, encode_put), the same words, in the reverse of their emission order (rounds
// last to first, within a round lanes high to low).
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

}  // namespace squeeze::kern
