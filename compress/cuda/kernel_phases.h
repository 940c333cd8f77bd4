// The CUDA backend's kernels, written once as per-thread phase functions (SQZ_HD) so that the
// very same code runs on the GPU (codec_cuda.cu) and, thread by thread, on the CPU
// (cpu_runner.h), where the unit tests compare its bytes with the CPU backend's.
//
// Execution model shared by both sides:
//  - A grid is a range of tiles. A CTA of kCtaThreads threads (kCtaWarps warps) runs one tile
//    at a time (the GPU loops over tiles grid-stride); the tiles are independent.
//  - A kernel K is a sequence of K::kPhases phases. Every thread runs phase P before any thread
//    of its CTA runs phase P + 1 when K::kBarriers (the GPU puts __syncthreads() between
//    phases); otherwise threads only talk through warp operations. K::Shared is the CTA's
//    shared memory, the same struct on both sides; K::Regs is one thread's registers, fresh
//    for every tile.
//  - Warp operations go through a policy W (CudaWarp in codec_cuda.cu, CpuWarp in
//    cpu_runner.h): w.ballot(f), w.reduce_or(f), w.reduce_min(f), w.reduce_max(f),
//    w.shfl(f, src_lane), where f(const Regs&) is evaluated on every lane's registers. Rule: f
//    reads only register fields that the current phase does not modify (the CPU runner
//    evaluates f on a copy of the 32 lanes' registers taken at the start of the phase).
//    All 32 lanes reach every warp operation (control flow is uniform per warp).
//
// The bit planes map onto a warp: lane i holds element i of a 32-element block; plane word j is
// ballot(bit j of the zigzag code); the width is code_width(OR of the codes); outlier positions
// come from a ballot and popc.
//
// Units and tiles: every chunk is cut into units (a 32-element block for float data, or a fixed
// number of bytes for raw copies); a tile holds kTileUnits units of ONE chunk, each warp
// kUnitsPerWarp consecutive ones. Per-unit records (width | outliers << 32) are exclusive-
// scanned over the whole batch (CUB on the GPU, a loop on the CPU) to place every block.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

constexpr uint32_t kWarpLanes = 32;
constexpr uint32_t kCtaWarps = 8;
constexpr uint32_t kCtaThreads = kWarpLanes * kCtaWarps;
constexpr uint32_t kUnitsPerWarp = 8;
constexpr uint32_t kTileUnits = kCtaWarps * kUnitsPerWarp;
// Unit size of raw copies when there is no float block to follow (kBytes data, decoding).
constexpr uint32_t kRawUnitBytes = 64;
static_assert(kBlockElems == kWarpLanes, "one block of elements per warp");

struct Thread {
  uint64_t tile;
  uint32_t thread;  // in the CTA
  uint32_t warp;
  uint32_t lane;
};

// ---- small helpers ----

SQZ_HD uint32_t popc(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return (uint32_t)__popc(v);
#else
  return (uint32_t)__builtin_popcount(v);
#endif
}

SQZ_HD bool is_finite(float x) {
  return (quant::float_to_bits(x) & 0x7fffffffu) < 0x7f800000u;
}

SQZ_HD float pos_inf() {
  return quant::bits_to_float(0x7f800000u);
}
SQZ_HD float neg_inf() {
  return quant::bits_to_float(0xff800000u);
}

SQZ_HD uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

// Element bits (es = 1, 2 or 4 bytes, little-endian). `aligned` says p is a multiple of es: the
// GPU then loads the element in one access (the CPU compiles the byte loads into one anyway).
SQZ_HD uint32_t load_elem_bits(const uint8_t* p, uint32_t es, bool aligned) {
#if defined(__CUDA_ARCH__)
  if (aligned) {
    if (es == 4) return *reinterpret_cast<const uint32_t*>(p);
    if (es == 2) return *reinterpret_cast<const uint16_t*>(p);
    return *p;
  }
#endif
  (void)aligned;
  if (es == 4) return block::load_le32(p);
  if (es == 2) return block::load_le16(p);
  return *p;
}

SQZ_HD void store_elem_bits(uint8_t* p, uint32_t es, uint32_t bits, bool aligned) {
#if defined(__CUDA_ARCH__)
  if (aligned) {
    if (es == 4) {
      *reinterpret_cast<uint32_t*>(p) = bits;
    } else if (es == 2) {
      *reinterpret_cast<uint16_t*>(p) = (uint16_t)bits;
    } else {
      *p = (uint8_t)bits;
    }
    return;
  }
#endif
  (void)aligned;
  if (es == 4) {
    block::store_le32(p, bits);
  } else if (es == 2) {
    block::store_le16(p, (uint16_t)bits);
  } else {
    *p = (uint8_t)bits;
  }
}

// A little-endian word at any address (frames are packed back to back, so plane words are
// rarely 4-aligned); one store when the address happens to be aligned.
SQZ_HD void store_word(uint8_t* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  if (((uintptr_t)p & 3u) == 0) {
    *reinterpret_cast<uint32_t*>(p) = v;
    return;
  }
#endif
  block::store_le32(p, v);
}

SQZ_HD uint32_t load_word(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  if (((uintptr_t)p & 3u) == 0) return *reinterpret_cast<const uint32_t*>(p);
#endif
  return block::load_le32(p);
}

SQZ_HD void copy_bytes(uint8_t* dst, const uint8_t* src, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) dst[i] = src[i];
}

// Element bits widened to float (exact for f16 / bf16).
SQZ_HD float widen(uint8_t dtype, uint32_t bits) {
  if (dtype == (uint8_t)DType::kF32) return quant::bits_to_float(bits);
  if (dtype == (uint8_t)DType::kF16) return quant::half_to_float((uint16_t)bits);
  return quant::bf16_to_float((uint16_t)bits);
}

SQZ_HD bool quantize(uint8_t dtype, float x, const quant::QuantParams& p, int32_t* q) {
  if (dtype == (uint8_t)DType::kF32) return quant::quantize_element<DType::kF32>(x, p, q);
  if (dtype == (uint8_t)DType::kF16) return quant::quantize_element<DType::kF16>(x, p, q);
  return quant::quantize_element<DType::kBF16>(x, p, q);
}

// Bits the decoder writes for code q (the same conversions as block::store_decoded).
SQZ_HD uint32_t decoded_bits(uint8_t dtype, int32_t q, float step) {
  const float v = quant::reconstruct_f32(q, step);
  if (dtype == (uint8_t)DType::kF32) return quant::float_to_bits(v);
  if (dtype == (uint8_t)DType::kF16) return quant::float_to_half_rn(v);
  return quant::float_to_bf16_rn(v);
}

// Index of the chunk that owns `tile`: the last chunk whose tile_begin <= tile (chunks without
// tiles share their tile_begin with the next chunk, which is then the one found).
template <class Desc>
SQZ_HD uint32_t find_chunk(const Desc* chunks, uint32_t n_chunks, uint64_t tile) {
  uint32_t lo = 0, hi = n_chunks;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (chunks[mid].tile_begin <= tile) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

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
};

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
        double eb = c.bound;
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
// tails of kBlockFixed frames.
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

// ---- decompress ----

struct DecodeChunkDesc {
  const uint8_t* frame;
  uint64_t frame_bytes;
  uint8_t* dst;
  uint64_t dst_capacity;
  uint64_t unit_capacity_bytes;  // min(dst_capacity, the context's max_chunk_bytes)
  uint64_t unit_begin;
  uint64_t n_units;  // ceil(unit_capacity_bytes / kRawUnitBytes): covers any frame that fits
  uint64_t tile_begin;
  uint64_t n_tiles;
  int32_t host_status;  // kOk, or what the host already found wrong (null pointers)
};

struct DecodeState {
  int32_t status;
  uint32_t error;  // set by the per-unit kernels: a width or an outlier index is invalid
  uint64_t original_bytes;
  uint64_t n_elems;
  uint64_t n_blocks;
  uint64_t tail_bytes;
  uint64_t planes_offset;
  uint64_t outlier_index_offset;
  uint64_t outlier_value_offset;
  uint64_t tail_offset;
  uint32_t outlier_count;
  uint32_t elem_size;
  float step;
  uint8_t method;
  uint8_t dtype;
  uint8_t dst_aligned;
};

struct DecompressArgs {
  const DecodeChunkDesc* chunks;
  uint32_t n_chunks;
  uint64_t n_units;
  DecodeState* state;
  uint64_t* unit_rec;
  uint64_t* unit_scan;
  gpu::DecodeResult* results;
};

// (1) One thread per frame: the header (block::parse_header, the CPU decoder's own checks).
struct DecodeHeaderKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 1;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    if (t.tile == 0 && t.thread == 0) a.unit_rec[a.n_units] = 0;
    const uint64_t i = t.tile * kCtaThreads + t.thread;
    if (i >= a.n_chunks) return;
    const DecodeChunkDesc& c = a.chunks[i];
    DecodeState st{};
    st.status = c.host_status;
    if (st.status == (int32_t)Status::kOk) {
      block::FrameHeader h;
      st.status = (int32_t)block::parse_header(c.frame, c.frame_bytes, &h);
      if (st.status == (int32_t)Status::kOk) {
        st.method = h.method;
        st.dtype = h.dtype;
        st.original_bytes = h.original_bytes;
        st.elem_size = (uint32_t)block::dtype_bytes(h.dtype);
        st.n_elems = h.original_bytes / st.elem_size;
        st.tail_bytes = h.original_bytes % st.elem_size;
        st.n_blocks = ceil_div(st.n_elems, kBlockElems);
        st.outlier_count = h.outlier_count;
        st.step = h.step;
        st.dst_aligned = ((uintptr_t)c.dst % st.elem_size) == 0;
        // The units (sized from the capacity) must cover the frame. A frame that does not fit
        // is refused before its payload is checked (the CPU decoder checks the payload first).
        if (h.original_bytes > c.dst_capacity) {
          st.status = (int32_t)Status::kOutputTooSmall;
        } else if (h.original_bytes > c.unit_capacity_bytes) {
          st.status = (int32_t)Status::kInvalidArgument;
        }
      }
    }
    a.state[i] = st;
  }
};

// (2) Per unit: width bytes checked and recorded for the scan (threads 0..kTileUnits-1).
struct DecodeWidthsKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 1;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    if (t.thread >= kTileUnits) return;
    const uint32_t ci = find_chunk(a.chunks, a.n_chunks, t.tile);
    const DecodeChunkDesc& c = a.chunks[ci];
    const uint64_t unit = (t.tile - c.tile_begin) * kTileUnits + t.thread;
    if (unit >= c.n_units) return;
    const DecodeState& st = a.state[ci];
    uint64_t rec = 0;
    if (st.status == (int32_t)Status::kOk && st.method == (uint8_t)FrameMethod::kBlockFixed &&
        unit < st.n_blocks) {
      const uint8_t wb = c.frame[kFrameHeaderBytes + unit];  // parse_header: nb <= payload
      if ((wb & block::kBlockCodingMask) != 0 || wb > kMaxCodeWidth) {
        a.state[ci].error = 1;  // every writer stores the same value
      } else {
        rec = wb;
      }
    }
    a.unit_rec[c.unit_begin + unit] = rec;
  }
};

// (3) One thread per frame: the payload must end exactly at frame_bytes (as
// block::block_fixed_layout); section offsets; the tail.
struct DecodeLayoutKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 1;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    const uint64_t i = t.tile * kCtaThreads + t.thread;
    if (i >= a.n_chunks) return;
    const DecodeChunkDesc& c = a.chunks[i];
    DecodeState& st = a.state[i];
    if (st.status != (int32_t)Status::kOk || st.method != (uint8_t)FrameMethod::kBlockFixed) return;
    if (st.error) {
      st.status = (int32_t)Status::kCorruptFrame;
      return;
    }
    const uint64_t sum_widths = a.unit_scan[c.unit_begin + c.n_units] - a.unit_scan[c.unit_begin];
    st.planes_offset = kFrameHeaderBytes + st.n_blocks;
    st.outlier_index_offset = st.planes_offset + 4 * sum_widths;
    st.outlier_value_offset = st.outlier_index_offset + 4 * (uint64_t)st.outlier_count;
    st.tail_offset = st.outlier_value_offset + (uint64_t)st.elem_size * st.outlier_count;
    if (st.tail_offset + st.tail_bytes != c.frame_bytes) {
      st.status = (int32_t)Status::kCorruptFrame;
      return;
    }
    copy_bytes(c.dst + st.n_elems * st.elem_size, c.frame + st.tail_offset, st.tail_bytes);
  }
};

// (4) Per block: codes from the bit planes (one plane word per lane, shuffled), decoded values;
// raw frames copied in kRawUnitBytes units.
struct DecodeBlocksKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 2;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t chunk;
    uint32_t ok;
    uint64_t unit0;
    uint32_t word[kUnitsPerWarp];
    uint8_t width[kUnitsPerWarp];
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs& r, Shared&) {
    if constexpr (P == 0) {
      r.chunk = find_chunk(a.chunks, a.n_chunks, t.tile);
      const DecodeChunkDesc& c = a.chunks[r.chunk];
      const DecodeState& st = a.state[r.chunk];
      r.unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
      r.ok = st.status == (int32_t)Status::kOk;
      if (!r.ok || st.method != (uint8_t)FrameMethod::kBlockFixed) return;
      const uint64_t base = a.unit_scan[c.unit_begin];
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t unit = r.unit0 + k;
        r.width[k] = 0;
        r.word[k] = 0;
        if (unit >= st.n_blocks) continue;
        r.width[k] = c.frame[kFrameHeaderBytes + unit];
        const uint64_t words_before = a.unit_scan[c.unit_begin + unit] - base;
        if (t.lane < r.width[k])
          r.word[k] = load_word(c.frame + st.planes_offset + 4 * (words_before + t.lane));
      }
    } else {
      if (!r.ok) return;
      const DecodeChunkDesc& c = a.chunks[r.chunk];
      const DecodeState& st = a.state[r.chunk];
      if (st.method == (uint8_t)FrameMethod::kRaw) {
        const uint8_t* in = c.frame + kFrameHeaderBytes;
        for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
          const uint64_t begin = (r.unit0 + k) * kRawUnitBytes;
          if (begin >= st.original_bytes) break;
          const uint64_t end =
              begin + kRawUnitBytes < st.original_bytes ? begin + kRawUnitBytes : st.original_bytes;
          for (uint64_t i = begin + t.lane; i < end; i += kWarpLanes) c.dst[i] = in[i];
        }
        return;
      }
      for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
        const uint64_t unit = r.unit0 + k;
        if (unit >= st.n_blocks) break;
        uint32_t code = 0;
        for (uint32_t j = 0; j < r.width[k]; ++j) {
          const uint32_t plane = w.shfl([k](const Regs& x) { return x.word[k]; }, j);
          code |= ((plane >> t.lane) & 1u) << j;
        }
        const uint64_t idx = unit * kBlockElems + t.lane;
        if (idx < st.n_elems)
          store_elem_bits(c.dst + idx * st.elem_size, st.elem_size,
                          decoded_bits(st.dtype, quant::unzigzag(code), st.step),
                          st.dst_aligned != 0);
      }
    }
  }
};

// (5) Per 32 outliers: indices checked (strictly increasing, < n) and exact values written.
struct DecodeOutliersKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 1;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    const uint32_t ci = find_chunk(a.chunks, a.n_chunks, t.tile);
    const DecodeChunkDesc& c = a.chunks[ci];
    const DecodeState& st = a.state[ci];
    if (st.status != (int32_t)Status::kOk || st.method != (uint8_t)FrameMethod::kBlockFixed) return;
    const uint64_t unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
    const uint8_t* index = c.frame + st.outlier_index_offset;
    const uint8_t* value = c.frame + st.outlier_value_offset;
    for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
      const uint64_t e = (unit0 + k) * kWarpLanes + t.lane;
      if (e >= st.outlier_count) break;
      const uint64_t i = block::load_le32(index + 4 * e);
      if (i >= st.n_elems || (e > 0 && i <= block::load_le32(index + 4 * (e - 1)))) {
        a.state[ci].error = 1;  // every writer stores the same value
        continue;
      }
      copy_bytes(c.dst + i * st.elem_size, value + e * st.elem_size, st.elem_size);
    }
  }
};

// (6) One thread per frame: the final status and size.
struct DecodeResultKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 1;
  static constexpr bool kBarriers = false;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    const uint64_t i = t.tile * kCtaThreads + t.thread;
    if (i >= a.n_chunks) return;
    const DecodeState& st = a.state[i];
    gpu::DecodeResult res{};
    res.status = st.status;
    if (res.status == (int32_t)Status::kOk && st.error) res.status = (int32_t)Status::kCorruptFrame;
    res.out_bytes = res.status == (int32_t)Status::kOk ? st.original_bytes : 0;
    a.results[i] = res;
  }
};

}  // namespace squeeze::kern
