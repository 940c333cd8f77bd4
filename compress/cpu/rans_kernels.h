// The rANS segment coder on the CPU, one set per instruction-set level, reached through the
// active Backend. The scalar set is rans.h's encode_segment / decode_segment, the reference every
// other set reproduces byte for byte and verdict for verdict (tests/unit/test_rans_kernels.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "compress/block.h"
#include "compress/methods/rans.h"

namespace squeeze::cpu {

// Cache lines of a destination to fetch for writing (PREFETCHW) while rANS segments are coded,
// spread over their rounds: the segment coder leaves memory idle, and the writer that follows
// then finds its lines in the cache instead of waiting on memory for each.
// - Decoders warm their output (the staged decoder's, the lossless planes decoder's): staged
//   decompress with rANS 1.1x at 128 KiB frames, lossless 1.1-1.3x (docs/PERFORMANCE.md,
//   session 25).
// - The staged encoder warms its frame, which it writes whole once the coder is chosen: compress
//   with rANS 1.03x (docs/PERFORMANCE.md, session 37).
// A hint, which writes nothing; the scalar set ignores it.
struct WarmLines {
  const uint8_t* first = nullptr;  // the first line's start
  uint64_t count = 0;              // lines of 64 bytes from first on
  // The share of parts [k, k + take) of n (segments, in the order they decode) in proportion;
  // none past the n-th part.
  WarmLines share(uint64_t k, uint64_t take, uint64_t n) const {
    if (k >= n) return WarmLines{};
    const uint64_t from = count * k / n, to = count * std::min(k + take, n) / n;
    return WarmLines{first + 64 * from, to - from};
  }
};

// The lines a decoder warms: the first kWarmBytes of its destination of `bytes` (the lines of
// dst, dst + 64, ..., all within it), which its writers fill first. Half the L2 of the CPU
// measured (1 MiB), beside the codes and the frame: a 128 KiB frame's output whole (staged
// decompress with rANS 1.08-1.18x), a large frame's start (1 MiB frames 1.065x against a 256 KiB
// cap, 3 MiB 1.01x; 1 MiB of warm lines 1.03x and 1.045x; docs/PERFORMANCE.md, session 25).
constexpr uint64_t kWarmBytes = 512 << 10;
inline WarmLines warm_lines(const uint8_t* dst, uint64_t bytes) {
  return WarmLines{dst, std::min(bytes, kWarmBytes) / 64};
}

struct RansKernels {
  // rans::encode_segment: scratch holds count + rans::kScratchSlack words; warm: WarmLines.
  uint32_t (*encode_segment)(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                             const uint32_t* cum, uint16_t* scratch, uint8_t* out, WarmLines warm);
  // rans::decode_segment: symbols as bytes, or (wide) each as a 32-bit word; warm: WarmLines.
  bool (*decode_segment)(const uint8_t* seg, uint32_t n_words, uint32_t count,
                         const rans::Tables& t, uint8_t* sym, WarmLines warm);
  bool (*decode_segment_wide)(const uint8_t* seg, uint32_t n_words, uint32_t count,
                              const rans::Tables& t, uint32_t* sym, WarmLines warm);
  // Two segments side by side (each segment's rounds are a chain of dependent table reads):
  // decode_segment (bytes) or decode_segment_wide on each, the same symbols and verdicts.
  void (*decode_two)(const uint8_t* seg_a, uint32_t words_a, uint32_t count_a, const uint8_t* seg_b,
                     uint32_t words_b, uint32_t count_b, const rans::Tables& t, uint8_t* sym_a,
                     uint8_t* sym_b, bool* ok_a, bool* ok_b, WarmLines warm);
  void (*decode_two_wide)(const uint8_t* seg_a, uint32_t words_a, uint32_t count_a,
                          const uint8_t* seg_b, uint32_t words_b, uint32_t count_b,
                          const rans::Tables& t, uint32_t* sym_a, uint32_t* sym_b, bool* ok_a,
                          bool* ok_b, WarmLines warm);
};

// A histogram of rANS symbols in four partial tables, so that a run of one symbol does not wait
// on its own increments; merge() sums them. The symbols are read four bytes to a load: a load
// per symbol made the histogram 1.5-2x slower (a byte load and an increment compete for the
// same load ports).
struct SymbolCounts {
  uint32_t part[4][rans::kMaxSymbols] = {};
  void add(const uint8_t* sym, uint64_t n) {
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint32_t a, b;
      std::memcpy(&a, sym + i, 4);
      std::memcpy(&b, sym + i + 4, 4);
      ++part[0][a & 0xff];
      ++part[1][(a >> 8) & 0xff];
      ++part[2][(a >> 16) & 0xff];
      ++part[3][a >> 24];
      ++part[0][b & 0xff];
      ++part[1][(b >> 8) & 0xff];
      ++part[2][(b >> 16) & 0xff];
      ++part[3][b >> 24];
    }
    for (; i < n; ++i) ++part[0][sym[i]];
  }
  // The sums into hist[0, kMaxSymbols); returns the symbols in use (one past the largest, >= 1).
  uint32_t merge(uint32_t* hist) const {
    uint32_t n_sym = 1;
    for (uint32_t k = 0; k < rans::kMaxSymbols; ++k) {
      hist[k] = part[0][k] + part[1][k] + part[2][k] + part[3][k];
      if (hist[k] != 0) n_sym = k + 1;
    }
    return n_sym;
  }
};

// rans::log2_q8 by table for the counts of a 128 KiB frame's sample (below 2^13), computed once
// from log2_q8 itself; computed for larger counts. The staged encoder's estimate takes the
// logarithm of every symbol's sampled count each frame, and the integer squarings were a third of
// its time around the segment coder where the estimate declines the stage (local 1.96e-3;
// docs/PERFORMANCE.md, session 33).
struct Log2Table {
  static constexpr uint32_t kSize = 1u << 13;
  uint16_t value[kSize];
  Log2Table() {
    value[0] = 0;  // never asked: log2_q8 takes f >= 1
    for (uint32_t f = 1; f < kSize; ++f) value[f] = (uint16_t)rans::log2_q8(f);
  }
  uint32_t operator()(uint32_t f) const { return f < kSize ? value[f] : rans::log2_q8(f); }
};
inline const Log2Table& log2_table() {
  static const Log2Table table;
  return table;
}

// A rANS stream of sym[0, n) with a table of n_sym symbols: the table, a u32 word count per
// segment of seg_symbols, then the segments (what a staged codes section holds after its shift
// byte, and a planes section holds). words: scratch; warm: lines the segments warm between them,
// in proportion. Returns the bytes written to out.
inline uint64_t write_rans_stream(const RansKernels& k, const uint8_t* sym, uint64_t n,
                                  const uint32_t* freq, const uint32_t* cum, uint32_t n_sym,
                                  std::vector<uint16_t>& words, uint8_t* out,
                                  uint32_t seg_symbols = rans::kSegmentSymbols,
                                  WarmLines warm = {}) {
  uint8_t* p = out + rans::write_table(freq, n_sym, out);
  const uint32_t n_seg = rans::segments_for(n, seg_symbols);
  uint8_t* counts = p;
  p += 4ull * n_seg;
  words.resize(seg_symbols + rans::kScratchSlack);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * seg_symbols;
    const uint32_t count = rans::segment_count(n, seg_symbols, seg);
    const uint32_t n_words =
        k.encode_segment(sym + first, count, freq, cum, words.data(), p, warm.share(seg, 1, n_seg));
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
