// Host-side planning of a batch, shared by the CUDA driver (codec_cuda.cu) and the CPU runner
// (cpu_runner.h): argument checks (the CPU compress()'s), unit and tile numbering, and the
// scratch sizes a context needs. Plain C++, no CUDA.
#pragma once

#include <cmath>
#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/compress_kernels.h"
#include "compress/cuda/decode_kernels.h"
#include "compress/methods/local.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::kern {

// Units of one chunk of max_chunk_bytes, the most any chunk (compress or decode) can have:
// units are at least kRawUnitBytes long.
inline uint64_t max_units_per_chunk(uint64_t max_chunk_bytes) {
  return ceil_div(max_chunk_bytes, kRawUnitBytes);
}
inline uint64_t max_tiles_per_chunk(uint64_t max_chunk_bytes) {
  return ceil_div(max_units_per_chunk(max_chunk_bytes), kTileUnits);
}

// The per-unit records pack two 32-bit sums: the batch must stay below 2^27 units.
constexpr uint64_t kMaxBatchUnits = (uint64_t)1 << 27;

inline bool limits_valid(const gpu::BatchLimits& l) {
  return l.max_chunks > 0 && l.max_chunk_bytes > 0 && l.max_chunk_bytes <= (uint64_t)1 << 40 &&
         (uint64_t)l.max_chunks * max_units_per_chunk(l.max_chunk_bytes) < kMaxBatchUnits;
}

struct CompressPlan {
  uint64_t n_units = 0;
  uint64_t n_tiles = 0;
  bool any_rel = false;
  bool any_staged = false;
  bool any_planes = false;
};

// Fills descs[0, n) from the chunks. kInvalidArgument for what the CPU compress() refuses, and
// for chunks above max_chunk_bytes.
inline gpu::GpuStatus plan_compress(const gpu::ChunkToCompress* chunks, uint32_t n,
                                    uint64_t max_chunk_bytes, CompressChunkDesc* descs,
                                    CompressPlan* plan) {
  *plan = CompressPlan{};
  for (uint32_t i = 0; i < n; ++i) {
    const gpu::ChunkToCompress& in = chunks[i];
    const CodecParams& p = in.params;
    if ((uint8_t)p.dtype > (uint8_t)DType::kU64) return gpu::GpuStatus::kInvalidArgument;
    if (p.mode != BoundMode::kAbs && p.mode != BoundMode::kRel && p.mode != BoundMode::kLocal &&
        p.mode != BoundMode::kLossless)
      return gpu::GpuStatus::kInvalidArgument;
    if ((p.caps & (kCapV1 | kCapStaged)) == 0) return gpu::GpuStatus::kInvalidArgument;
    // The bound matters only for float data in a lossy mode (the CPU compress()'s check).
    const bool float_data = p.dtype != DType::kBytes;
    if (block::is_float_dtype((uint8_t)p.dtype) && p.mode != BoundMode::kLossless &&
        !(p.bound > 0.0 && std::isfinite(p.bound)))
      return gpu::GpuStatus::kInvalidArgument;
    if (!in.src && in.src_bytes) return gpu::GpuStatus::kInvalidArgument;
    if (in.src_bytes > max_chunk_bytes) return gpu::GpuStatus::kInvalidArgument;

    CompressChunkDesc& d = descs[i];
    d = CompressChunkDesc{};
    d.src = static_cast<const uint8_t*>(in.src);
    d.bytes = in.src_bytes;
    d.elem_size = (uint32_t)dtype_size(p.dtype);
    d.n_elems = d.bytes / d.elem_size;
    d.n_blocks = ceil_div(d.n_elems, kBlockElems);
    d.bound = p.bound;
    d.dtype = (uint8_t)p.dtype;
    d.mode = (uint8_t)p.mode;
    d.caps = p.caps;
    d.unit_begin = plan->n_units;
    d.tile_begin = plan->n_tiles;
    // Lossless chunks, and integer ones (which no lossy method takes: their frame is raw), are
    // the planes kernels' (planes_compress.h): the whole frame, no units of the other kernels.
    d.planes = p.mode == BoundMode::kLossless || (uint8_t)p.dtype >= (uint8_t)DType::kI8;
    if (d.planes) {
      plan->any_planes = true;
      continue;
    }
    // A row layout's records (the CUDA encoder uses nothing else of a layout: one bound, p.bound,
    // for every block).
    d.rlog = p.mode == BoundMode::kLocal ? (uint8_t)local::record_log2(p.layout, p.caps) : 0;
    d.src_aligned = ((uintptr_t)d.src % d.elem_size) == 0;
    // A receiver that decodes version 2 gets staged frames (the CPU compress()'s choice): the
    // staged kernels make the whole frame, so the chunk has no units of the version 1 kernels.
    d.staged = (p.caps & kCapStaged) != 0;
    if (d.staged) {
      plan->any_staged = true;
      continue;
    }
    d.unit_bytes = float_data ? kBlockElems * d.elem_size : kRawUnitBytes;
    d.n_units = ceil_div(d.bytes, d.unit_bytes);
    d.n_tiles = ceil_div(d.n_units, kTileUnits);
    // The local bound has no version 1 form: such chunks are raw for a version 1 receiver.
    d.lossy_candidate = float_data && p.mode != BoundMode::kLocal && d.n_elems > 0 &&
                        d.n_elems <= block::kMaxBlockFixedElems;
    plan->n_units += d.n_units;
    plan->n_tiles += d.n_tiles;
    if (d.lossy_candidate && p.mode == BoundMode::kRel) plan->any_rel = true;
  }
  return gpu::GpuStatus::kOk;
}

struct DecodePlan {
  uint64_t n_units = 0;
  uint64_t n_tiles = 0;
};

inline gpu::GpuStatus plan_decompress(const gpu::FrameToDecompress* frames, uint32_t n,
                                      uint64_t max_chunk_bytes, DecodeChunkDesc* descs,
                                      DecodePlan* plan) {
  *plan = DecodePlan{};
  for (uint32_t i = 0; i < n; ++i) {
    const gpu::FrameToDecompress& in = frames[i];
    DecodeChunkDesc& d = descs[i];
    d = DecodeChunkDesc{};
    d.frame = static_cast<const uint8_t*>(in.frame);
    d.frame_bytes = in.frame_bytes;
    d.dst = static_cast<uint8_t*>(in.dst);
    d.dst_capacity = in.dst_capacity;
    d.host_status = (int32_t)Status::kOk;
    if ((!in.frame && in.frame_bytes) || (!in.dst && in.dst_capacity)) {
      d.host_status = (int32_t)Status::kInvalidArgument;
      d.frame_bytes = 0;
      d.dst_capacity = 0;
    }
    d.unit_capacity_bytes = d.dst_capacity < max_chunk_bytes ? d.dst_capacity : max_chunk_bytes;
    d.n_units = ceil_div(d.unit_capacity_bytes, kRawUnitBytes);
    d.n_tiles = ceil_div(d.n_units, kTileUnits);
    d.unit_begin = plan->n_units;
    d.tile_begin = plan->n_tiles;
    plan->n_units += d.n_units;
    plan->n_tiles += d.n_tiles;
  }
  return gpu::GpuStatus::kOk;
}

}  // namespace squeeze::kern
