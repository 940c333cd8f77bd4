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
#include "compress/methods/table.h"
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

// Where plan_compress() puts the row layouts of a batch's table chunks (CompressChunkDesc::table):
// per distinct layout, each table's bound (double) then each table's end column (u32), in `host`
// (pinned staging, copied to `device` before the kernels; the same memory in the CPU runner).
struct LayoutStaging {
  uint8_t* host = nullptr;
  const uint8_t* device = nullptr;
  uint64_t capacity = 0;
  uint64_t used = 0;  // bytes to copy
};
// Bytes one layout of n_tables tables takes in a LayoutStaging (8-byte aligned).
SQZ_HD uint64_t staged_layout_bytes(uint32_t n_tables) {
  return ((uint64_t)n_tables * 12 + 7) & ~(uint64_t)7;
}
// A capacity for any batch of max_chunks chunks (every chunk its own layout of kMaxTables).
inline uint64_t layout_staging_capacity(uint32_t max_chunks) {
  return (uint64_t)max_chunks * staged_layout_bytes(kMaxTables);
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
                                    CompressPlan* plan, LayoutStaging* layouts) {
  *plan = CompressPlan{};
  layouts->used = 0;
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
    if (p.layout != nullptr && !table::layout_valid(*p.layout))
      return gpu::GpuStatus::kInvalidArgument;

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
    d.rans_min_gain = p.rans_min_gain;
    d.unit_begin = plan->n_units;
    d.tile_begin = plan->n_tiles;
    // Lossless chunks, and integer ones (which no lossy method takes: their frame is raw), are
    // the planes kernels' (planes_compress.h): the whole frame, no units of the other kernels.
    d.planes = p.mode == BoundMode::kLossless || (uint8_t)p.dtype >= (uint8_t)DType::kI8;
    if (d.planes) {
      plan->any_planes = true;
      continue;
    }
    // The tables' ends and bounds for the kernels, shared with an earlier chunk of the same
    // layout.
    auto stage_layout = [&](const RowLayout& lay) -> bool {
      d.row_elems = lay.row_elems;
      d.start_col = lay.start_col;
      d.n_tables = lay.n_tables;
      int64_t same = -1;
      for (uint32_t j = 0; j < i && same < 0; ++j) {
        const RowLayout* o = chunks[j].params.layout;
        if ((descs[j].table != kTableNone || descs[j].local_bounds) &&
            o->table_cols == lay.table_cols && o->row_elems == lay.row_elems &&
            o->n_tables == lay.n_tables && o->table_bounds == lay.table_bounds &&
            (lay.table_bounds != nullptr || chunks[j].params.bound == p.bound))
          same = j;
      }
      if (same >= 0) {
        d.table_end = descs[same].table_end;
        d.table_bounds = descs[same].table_bounds;
        return true;
      }
      const uint64_t bytes = staged_layout_bytes(lay.n_tables);
      if (layouts->capacity - layouts->used < bytes) return false;
      double* bounds = reinterpret_cast<double*>(layouts->host + layouts->used);
      uint32_t* ends = reinterpret_cast<uint32_t*>(bounds + lay.n_tables);
      uint32_t col = 0;
      for (uint32_t t = 0; t < lay.n_tables; ++t) {
        bounds[t] = table::table_bound(lay, p.bound, t);
        ends[t] = col += lay.table_cols[t];
      }
      d.table_bounds = reinterpret_cast<const double*>(layouts->device + layouts->used);
      d.table_end = reinterpret_cast<const uint32_t*>(d.table_bounds + lay.n_tables);
      layouts->used += bytes;
      return true;
    };
    // A row layout: in local mode its records, and with the tables' own bounds each block's bound
    // (the smallest of its tables'); in rel and abs mode the table quantizer, or for a receiver
    // without kCapTable one absolute bound (the CPU's resolve_layout).
    d.rlog = p.mode == BoundMode::kLocal ? (uint8_t)local::record_log2(p.layout, p.caps) : 0;
    if (p.layout != nullptr && p.mode == BoundMode::kLocal && p.layout->table_bounds != nullptr &&
        block::is_float_dtype(d.dtype)) {
      d.local_bounds = 1;
      if (!stage_layout(*p.layout)) return gpu::GpuStatus::kInvalidArgument;
    }
    if (p.layout != nullptr && p.mode != BoundMode::kLocal && block::is_float_dtype(d.dtype)) {
      const RowLayout& lay = *p.layout;
      const bool rel = p.mode == BoundMode::kRel;
      if ((p.caps & kCapTable) == 0 && !rel) {
        // Abs: the smallest of the tables' bounds, known now.
        double eb = INFINITY;
        for (uint32_t t = 0; t < lay.n_tables; ++t)
          eb = table::min_bound(eb, table::table_bound(lay, p.bound, t));
        d.bound = eb;
      } else if ((p.caps & kCapTable) == 0 || (p.caps & kCapStaged) != 0) {
        d.table = (p.caps & kCapTable) != 0 ? kTableQuant : kTableFold;
        d.table_rel = rel;
        if (!stage_layout(lay)) return gpu::GpuStatus::kInvalidArgument;
      }
      if ((p.caps & kCapTable) == 0) d.mode = (uint8_t)BoundMode::kAbs;
    }
    d.src_aligned = ((uintptr_t)d.src % d.elem_size) == 0;
    // A receiver that decodes version 2 gets staged frames (the CPU compress()'s choice): the
    // staged kernels make the whole frame, so the chunk has no units of the version 1 kernels.
    d.staged = (p.caps & kCapStaged) != 0;
    if (d.staged) {
      plan->any_staged = true;
      continue;
    }
    // A version 1 chunk whose bound folds the tables' ranges: the staged analysis finds it.
    if (d.table == kTableFold) plan->any_staged = true;
    d.unit_bytes = float_data ? kBlockElems * d.elem_size : kRawUnitBytes;
    d.n_units = ceil_div(d.bytes, d.unit_bytes);
    d.n_tiles = ceil_div(d.n_units, kTileUnits);
    // The local bound has no version 1 form: such chunks are raw for a version 1 receiver.
    d.lossy_candidate = float_data && p.mode != BoundMode::kLocal && d.n_elems > 0 &&
                        d.n_elems <= block::kMaxBlockFixedElems;
    plan->n_units += d.n_units;
    plan->n_tiles += d.n_tiles;
    if (d.lossy_candidate && d.mode == (uint8_t)BoundMode::kRel) plan->any_rel = true;
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
