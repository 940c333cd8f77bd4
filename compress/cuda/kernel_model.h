// The execution model of the CUDA backend's kernels and the helpers they share. Every kernel is
// written once as per-thread phase functions (SQZ_HD) so that the very same code runs on the GPU
// (codec_cuda.cu) and, thread by thread, on the CPU (cpu_runner.h), where the unit tests compare
// its bytes with the CPU backend's. Kernels: compress_kernels.h and decode_kernels.h (version 1
// frames), staged_compress.h and staged_decode.h (version 2), planes_compress.h and
// planes_decode.h (version 2 lossless); their launch order: pipeline.h.
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
//  - Lock-step warp code (a loop whose every round needs a ballot of the round before, such as
//    a rANS segment's 32 lanes) goes through w.collective(t, body): body(lanes) runs once per
//    warp on the CPU (from its lane 0, stepping through the 32 lanes itself) and on every lane
//    of the warp on the GPU. In body, a per-lane value is a `typename L::template Vec<T>`, read
//    and written as v[lane] (32 values on the CPU, the lane's own register on the GPU);
//    lanes.each(f) calls f(lane) for every lane (the GPU: its own), and lanes.ballot(f) is the
//    mask of the lanes for which f(lane) holds. Other locals of body are uniform: every lane
//    computes them from ballots alike. The warp calls collective together (uniform control).
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

}  // namespace squeeze::kern
