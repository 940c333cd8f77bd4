// The compress kernels of version 1 frames (raw and block-fixed), and the chunk descriptors and
// arguments every compress kernel shares (the staged ones included). Execution model:
// kernel_model.h.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/kernel_model.h"
#include "compress/cuda/staged_slot.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// ---- compress ----

// One chunk as planned on the host (batch_plan.h).
struct CompressChunkDesc {
  const uint8_t* src;
  uint64_t bytes;
  uint64_t n_elems;     // bytes / elem_size
  uint64_t n_blocks;    // ceil(n_elems / 32)
  uint64_t unit_begin;  // first unit in the batch
  uint64_t n_units;     // ceil(bytes / unit_bytes) >= n_blocks
  uint64_t tile_begin;  // first tile in the batch
  uint64_t n_tiles;     // ceil(n_units / kTileUnits)
  double bound;
  uint32_t elem_size;
  uint32_t unit_bytes;  // 32 * elem_size for float data, kRawUnitBytes for kBytes
  uint8_t dtype;
  uint8_t mode;
  uint8_t lossy_candidate;  // float data with 0 < n_elems <= block::kMaxBlockFixedElems
  uint8_t src_aligned;      // src is a multiple of elem_size
  uint8_t staged;           // a version 2 frame (the receiver decodes them): staged_compress.h
                            // makes it, and the chunk has no units of the version 1 kernels
  uint32_t caps;            // CodecParams::caps
  uint32_t rans_min_gain;   // CodecParams::rans_min_gain
  uint8_t rlog;             // local mode: blocks per record, log2 (local::record_log2)
  uint8_t planes;           // lossless, or an integer dtype: planes_compress.h makes the frame
                            // (a planes frame or a raw one), and the chunk has no units either
  // A row layout in rel or abs mode (batch_plan.h): kTableQuant, the table quantizer (a kTable
  // frame, the receiver declares kCapTable); kTableFold, one absolute bound for the frame, the
  // smallest over the tables of bound_k x the table's range (mode is then kAbs; a receiver
  // without kCapTable: the CPU's resolve_layout); else kTableNone.
  uint8_t table;
  uint8_t table_rel;     // the tables' bounds are relative to their ranges
  uint8_t local_bounds;  // local mode with the tables' own bounds: each block bounded by the
                         // smallest of its tables' (the CPU encoder's block bounds)
  uint32_t row_elems, start_col, n_tables;
  const uint32_t* table_end;   // [n_tables] (device) the column after each table
  const double* table_bounds;  // [n_tables] (device) each table's bound (its own, or bound)
};

enum : uint8_t { kTableNone = 0, kTableQuant = 1, kTableFold = 2 };

struct ChunkQuant {
  quant::QuantParams qp;
  double applied_bound;
  uint32_t lossy;  // a quantizer exists for this chunk (else the frame is raw)
};

struct MinMax {
  float mn;
  float mx;
};

// Per-unit record: code width in the low 32 bits, outlier count in the high 32 bits. The sums
// stay below 2^32 in each half because a context never holds 2^27 or more units.
SQZ_HD uint64_t unit_record(uint32_t width, uint32_t outliers) {
  return (uint64_t)width | ((uint64_t)outliers << 32);
}

struct CompressArgs {
  const CompressChunkDesc* chunks;
  uint32_t n_chunks;
  uint64_t n_units;   // over the batch; unit_rec / unit_scan have n_units + 1 entries
  MinMax* partials;   // one per tile
  ChunkQuant* quant;  // one per chunk
  uint64_t* unit_rec;
  uint64_t* unit_scan;  // exclusive scan of unit_rec
  gpu::FrameResult* results;
  uint8_t* dst;
  StagedArena arena;    // one slot per chunk (staged chunks only)
  StagedState* staged;  // one per chunk
};

// Loads a warp's kUnitsPerWarp blocks (lane = element in the block) and quantizes them: the
// zigzag codes and a bit per unit telling which of this lane's elements are outliers. Elements
// past the chunk's end have code 0 and are not outliers (the CPU backend pads with zeros,
// which quantize to code 0).
SQZ_HD void load_and_quantize(const CompressChunkDesc& c, const ChunkQuant& cq, uint64_t unit0,
                              uint32_t lane, uint32_t* code, uint32_t* outlier_bits) {
  uint32_t bits[kUnitsPerWarp];
  // All loads first: kUnitsPerWarp independent 128-byte warp loads in flight.
  for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
    const uint64_t idx = (unit0 + k) * kBlockElems + lane;
    bits[k] = idx < c.n_elems
                  ? load_elem_bits(c.src + idx * c.elem_size, c.elem_size, c.src_aligned != 0)
                  : 0u;
  }
  uint32_t outl = 0;
  for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
    const uint64_t idx = (unit0 + k) * kBlockElems + lane;
    code[k] = 0;
    if (idx < c.n_elems) {
      int32_t q;
      if (quantize(c.dtype, widen(c.dtype, bits[k]), cq.qp, &q)) {
        code[k] = quant::zigzag(q);
      } else {
        outl |= 1u << k;
      }
    }
  }
  *outlier_bits = outl;
}

// (1) Rel mode: smallest and largest finite element of each tile.
struct MinMaxKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 3;
  static constexpr bool kBarriers = true;
  struct Shared {
    float mn[kCtaWarps];
    float mx[kCtaWarps];
  };
  struct Regs {
    uint32_t active;
    float mn;
    float mx;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs& r, Shared& s) {
    const CompressChunkDesc& c = a.chunks[find_chunk(a.chunks, a.n_chunks, t.tile)];
    if constexpr (P == 0) {
      r.mn = pos_inf();
      r.mx = neg_inf();
      r.active = c.lossy_candidate && c.mode == (uint8_t)BoundMode::kRel;
      if (!r.active) return;
      const uint64_t unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
      uint32_t bits[kUnitsPerWarp];
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t idx = (unit0 + k) * kBlockElems + t.lane;
        bits[k] = idx < c.n_elems
                      ? load_elem_bits(c.src + idx * c.elem_size, c.elem_size, c.src_aligned != 0)
                      : 0u;
      }
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t idx = (unit0 + k) * kBlockElems + t.lane;
        if (idx >= c.n_elems) continue;
        const float x = widen(c.dtype, bits[k]);
        if (!is_finite(x)) continue;
        r.mn = x < r.mn ? x : r.mn;
        r.mx = x > r.mx ? x : r.mx;
      }
    } else if constexpr (P == 1) {
      if (!r.active) return;  // uniform over the CTA: one chunk per tile
      const float mn = w.reduce_min([](const Regs& x) { return x.mn; });
      const float mx = w.reduce_max([](const Regs& x) { return x.mx; });
      if (t.lane == 0) {
        s.mn[t.warp] = mn;
        s.mx[t.warp] = mx;
      }
    } else {
      if (!r.active || t.thread != 0) return;
      float mn = s.mn[0], mx = s.mx[0];
      for (uint32_t i = 1; i < kCtaWarps; ++i) {
        mn = s.mn[i] < mn ? s.mn[i] : mn;
        mx = s.mx[i] > mx ? s.mx[i] : mx;
      }
      a.partials[t.tile] = MinMax{mn, mx};
    }
  }
};

// (1b) One tile per chunk: the applied bound and the quantizer parameters (rel mode: from the
// chunk's tiles' min / max). The same decision as the CPU compress().
struct ParamsKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 3;
  static constexpr bool kBarriers = true;
  struct Shared {
    float mn[kCtaWarps];
    float mx[kCtaWarps];
  };
  struct Regs {
    float mn;
    float mx;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs& r, Shared& s) {
    const CompressChunkDesc& c = a.chunks[t.tile];
    const bool rel = c.lossy_candidate && c.mode == (uint8_t)BoundMode::kRel;
    if constexpr (P == 0) {
      r.mn = pos_inf();
      r.mx = neg_inf();
      if (!rel) return;
      for (uint64_t i = t.thread; i < c.n_tiles; i += kCtaThreads) {
        const MinMax m = a.partials[c.tile_begin + i];
        r.mn = m.mn < r.mn ? m.mn : r.mn;
        r.mx = m.mx > r.mx ? m.mx : r.mx;
      }
    } else if constexpr (P == 1) {
      if (!rel) return;
      const float mn = w.reduce_min([](const Regs& x) { return x.mn; });
      const float mx = w.reduce_max([](const Regs& x) { return x.mx; });
      if (t.lane == 0) {
        s.mn[t.warp] = mn;
        s.mx[t.warp] = mx;
      }
    } else {
      if (t.thread != 0) return;
      if (t.tile == 0) a.unit_rec[a.n_units] = 0;  // the scan's extra entry
      ChunkQuant cq{};
      cq.lossy = 0;
      if (c.lossy_candidate) {
        // A bound folded from the tables' ranges: the staged analysis's (staged_compress.h).
        double eb = c.table == kTableFold ? a.staged[t.tile].bound : c.bound;
        if (rel) {
          float mn = s.mn[0], mx = s.mx[0];
          for (uint32_t i = 1; i < kCtaWarps; ++i) {
            mn = s.mn[i] < mn ? s.mn[i] : mn;
            mx = s.mx[i] > mx ? s.mx[i] : mx;
          }
          eb = mn <= mx ? quant::rel_to_abs_bound(c.bound, mn, mx) : 0.0;
        }
        if (quant::make_quant_params(eb, &cq.qp)) {
          cq.lossy = 1;
          cq.applied_bound = eb;
        }
      }
      a.quant[t.tile] = cq;
    }
  }
};

// (2) Per block: width and outlier count, as one unit record (0 for units of raw chunks).
struct AnalyzeKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 2;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t chunk;
    uint32_t lossy;
    uint64_t unit0;
    uint32_t code[kUnitsPerWarp];
    uint32_t outlier_bits;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs& r, Shared&) {
    if constexpr (P == 0) {
      r.chunk = find_chunk(a.chunks, a.n_chunks, t.tile);
      const CompressChunkDesc& c = a.chunks[r.chunk];
      const ChunkQuant& cq = a.quant[r.chunk];
      r.unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
      r.lossy = cq.lossy;
      if (r.lossy) load_and_quantize(c, cq, r.unit0, t.lane, r.code, &r.outlier_bits);
    } else {
      const CompressChunkDesc& c = a.chunks[r.chunk];
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t unit = r.unit0 + k;
        if (unit >= c.n_units) break;
        uint64_t rec = 0;
        if (r.lossy && unit < c.n_blocks) {
          const uint32_t any = w.reduce_or([k](const Regs& x) { return x.code[k]; });
          const uint32_t om = w.ballot([k](const Regs& x) { return (x.outlier_bits >> k) & 1u; });
          rec = unit_record(quant::code_width(any), popc(om));
        }
        if (t.lane == 0) a.unit_rec[c.unit_begin + unit] = rec;
      }
    }
  }
};

// Width and outlier sums of a chunk from the scan (exact: no borrow between the halves, as
// the low sums only grow).
SQZ_HD void chunk_sums(const CompressArgs& a, const CompressChunkDesc& c, uint64_t* sum_widths,
                       uint64_t* outliers) {
  const uint64_t d = a.unit_scan[c.unit_begin + c.n_units] - a.unit_scan[c.unit_begin];
  *sum_widths = d & 0xffffffffu;
  *outliers = d >> 32;
}

// (3) One tile: every frame's size, method and offset (chunk order), then the headers and the
// tails of kBlockFixed frames. Staged chunks arrive sized by StagedAnalyzeKernel.
struct FramesKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 2;
  static constexpr bool kBarriers = true;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    if constexpr (P == 0) {
      if (t.thread != 0) return;
      uint64_t offset = 0;
      for (uint32_t i = 0; i < a.n_chunks; ++i) {
        const CompressChunkDesc& c = a.chunks[i];
        const ChunkQuant& cq = a.quant[i];
        if (c.staged || c.planes) {  // sized by StagedAnalyzeKernel / PlanesAnalyzeKernel
          a.results[i].offset = offset;
          offset += a.results[i].bytes;
          continue;
        }
        gpu::FrameResult fr{};
        fr.offset = offset;
        fr.bytes = kFrameHeaderBytes + c.bytes;
        fr.method = (uint8_t)FrameMethod::kRaw;
        if (cq.lossy) {
          uint64_t sum_widths, outliers;
          chunk_sums(a, c, &sum_widths, &outliers);
          const uint64_t fixed = quant::block_fixed_frame_bytes(
              c.n_elems, c.elem_size, c.bytes - c.n_elems * c.elem_size, sum_widths, outliers);
          if (fixed < kFrameHeaderBytes + c.bytes) {
            fr.bytes = fixed;
            fr.method = (uint8_t)FrameMethod::kBlockFixed;
            fr.outliers = outliers;
            fr.applied_bound = cq.applied_bound;
          }
        }
        a.results[i] = fr;
        offset += fr.bytes;
      }
    } else {
      for (uint32_t i = t.thread; i < a.n_chunks; i += kCtaThreads) {
        const CompressChunkDesc& c = a.chunks[i];
        if (c.staged || c.planes) continue;  // Staged/PlanesWriteKernel write the whole frame
        const gpu::FrameResult& fr = a.results[i];
        uint8_t* frame = a.dst + fr.offset;
        block::FrameHeader h;
        h.method = fr.method;
        h.dtype = c.dtype;
        h.flags = c.mode == (uint8_t)BoundMode::kRel ? kFlagRelBound : 0;
        h.original_bytes = c.bytes;
        h.frame_bytes = fr.bytes;
        if (fr.method == (uint8_t)FrameMethod::kBlockFixed) {
          h.step = a.quant[i].qp.step;
          h.outlier_count = (uint32_t)fr.outliers;
          h.applied_bound = fr.applied_bound;
          const uint64_t tail = c.bytes - c.n_elems * c.elem_size;
          copy_bytes(frame + fr.bytes - tail, c.src + c.n_elems * c.elem_size, tail);
        }
        block::write_header(h, frame);
      }
    }
  }
};

// (4) Per block: the width byte, the plane words and the outliers at their scanned offsets;
// raw frames are copied unit by unit.
struct PackKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 2;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t chunk;
    uint32_t fixed;
    uint64_t unit0;
    uint32_t code[kUnitsPerWarp];
    uint32_t outlier_bits;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs& r, Shared&) {
    if constexpr (P == 0) {
      r.chunk = find_chunk(a.chunks, a.n_chunks, t.tile);
      const CompressChunkDesc& c = a.chunks[r.chunk];
      r.unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
      r.fixed = a.results[r.chunk].method == (uint8_t)FrameMethod::kBlockFixed;
      if (r.fixed) load_and_quantize(c, a.quant[r.chunk], r.unit0, t.lane, r.code, &r.outlier_bits);
    } else {
      const CompressChunkDesc& c = a.chunks[r.chunk];
      uint8_t* frame = a.dst + a.results[r.chunk].offset;
      if (!r.fixed) {
        uint8_t* out = frame + kFrameHeaderBytes;
        for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
          const uint64_t unit = r.unit0 + k;
          if (unit >= c.n_units) break;
          const uint64_t begin = unit * c.unit_bytes;
          const uint64_t end = begin + c.unit_bytes < c.bytes ? begin + c.unit_bytes : c.bytes;
          for (uint64_t i = begin + t.lane; i < end; i += kWarpLanes) out[i] = c.src[i];
        }
        return;
      }
      const uint64_t base = a.unit_scan[c.unit_begin];
      uint64_t sum_widths, outliers;
      chunk_sums(a, c, &sum_widths, &outliers);
      uint8_t* widths = frame + kFrameHeaderBytes;
      uint8_t* planes = widths + c.n_blocks;
      uint8_t* outlier_index = planes + 4 * sum_widths;
      uint8_t* outlier_value = outlier_index + 4 * outliers;
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t unit = r.unit0 + k;
        if (unit >= c.n_blocks) break;
        const uint32_t width =
            quant::code_width(w.reduce_or([k](const Regs& x) { return x.code[k]; }));
        uint32_t word = 0;
        for (uint32_t j = 0; j < width; ++j) {
          const uint32_t plane = w.ballot([k, j](const Regs& x) { return (x.code[k] >> j) & 1u; });
          if (j == t.lane) word = plane;
        }
        const uint32_t om = w.ballot([k](const Regs& x) { return (x.outlier_bits >> k) & 1u; });
        const uint64_t before = a.unit_scan[c.unit_begin + unit] - base;
        const uint64_t words_before = before & 0xffffffffu;
        const uint64_t outliers_before = before >> 32;
        if (t.lane == 0) widths[unit] = (uint8_t)width;
        if (t.lane < width) store_word(planes + 4 * (words_before + t.lane), word);
        if ((om >> t.lane) & 1u) {
          const uint64_t pos = outliers_before + popc(om & ((1u << t.lane) - 1u));
          const uint64_t idx = unit * kBlockElems + t.lane;
          block::store_le32(outlier_index + 4 * pos, (uint32_t)idx);
          copy_bytes(outlier_value + pos * c.elem_size, c.src + idx * c.elem_size, c.elem_size);
        }
      }
    }
  }
};

}  // namespace squeeze::kern
