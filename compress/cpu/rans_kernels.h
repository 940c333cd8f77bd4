// The rANS segment coder on the CPU, one set per instruction-set level, reached through the
// active Backend. The scalar set is rans.h's encode_segment / decode_segment, the reference every
// other set reproduces byte for byte and verdict for verdict (tests/unit/test_rans_kernels.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "compress/block.h"
#include "compress/methods/rans.h"

namespace squeeze::cpu {

struct RansKernels {
  // rans::encode_segment: scratch holds count + rans::kScratchSlack words.
  uint32_t (*encode_segment)(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                             const uint32_t* cum, uint16_t* scratch, uint8_t* out);
  // rans::decode_segment.
  bool (*decode_segment)(const uint8_t* seg, uint32_t n_words, uint32_t count,
                         const rans::Tables& t, uint8_t* sym);
};

// A rANS stream of sym[0, n) with a table of n_sym symbols: the table, a u32 word count per
// segment, then the segments (what a staged codes section holds after its shift byte, and a
// planes section holds). words: scratch. Returns the bytes written to out.
inline uint64_t write_rans_stream(const RansKernels& k, const uint8_t* sym, uint64_t n,
                                  const uint32_t* freq, const uint32_t* cum, uint32_t n_sym,
                                  std::vector<uint16_t>& words, uint8_t* out) {
  uint8_t* p = out + rans::write_table(freq, n_sym, out);
  const uint32_t n_seg = rans::segments_for(n);
  uint8_t* counts = p;
  p += 4ull * n_seg;
  words.resize(rans::kSegmentSymbols + rans::kScratchSlack);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
    const uint32_t count = (uint32_t)std::min<uint64_t>(rans::kSegmentSymbols, n - first);
    const uint32_t n_words = k.encode_segment(sym + first, count, freq, cum, words.data(), p);
    block::store_le32(counts + 4ull * seg, n_words);
    p += rans::segment_bytes(n_words);
  }
  return (uint64_t)(p - out);
}

extern const RansKernels kRansScalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
extern const RansKernels kRansAvx2;
#endif

}  // namespace squeeze::cpu
