// The decompress kernels of version 1 frames (raw and block-fixed), and the frame descriptors
// and arguments every decompress kernel shares (the staged one included). Execution model:
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
  StagedArena arena;    // one slot per frame (version 2 frames only)
  StagedState* staged;  // one per frame
};

// DecodeState::method of a version 2 frame: the version 1 kernels leave it to
// StagedDecodeKernel, which also writes its result.
constexpr uint8_t kStagedFrame = 0xfe;
// DecodeState::method of a version 2 planes frame (FrameMethod::kPlanes): planes_decode.h decodes
// it, StagedResultKernel writes its result.
constexpr uint8_t kPlanesFrame = 0xfd;

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
    if (st.status == (int32_t)Status::kOk && c.frame_bytes >= kFrameHeaderBytes &&
        c.frame[hdr::kVersion] == kFrameVersion2) {
      st.method =
          c.frame[hdr::kMethod] == (uint8_t)FrameMethod::kPlanes ? kPlanesFrame : kStagedFrame;
    } else if (st.status == (int32_t)Status::kOk) {
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
// block::block_fixed_layout); section offsets.
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
    if (st.tail_offset + st.tail_bytes != c.frame_bytes) st.status = (int32_t)Status::kCorruptFrame;
  }
};

// (4) Per 32 outliers: indices checked (strictly increasing, < n) before anything is written.
struct DecodeCheckOutliersKernel {
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
    for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
      const uint64_t e = (unit0 + k) * kWarpLanes + t.lane;
      if (e >= st.outlier_count) break;
      const uint64_t i = block::load_le32(index + 4 * e);
      if (i >= st.n_elems || (e > 0 && i <= block::load_le32(index + 4 * (e - 1))))
        a.state[ci].error = 1;  // every writer stores the same value
    }
  }
};

// (5) Per block: codes from the bit planes (one plane word per lane, shuffled), decoded values;
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
      r.ok = st.status == (int32_t)Status::kOk && st.error == 0;
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

// (6) Per 32 outliers: the exact values over the decoded blocks; the first thread of a frame
// writes its tail.
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
    if (st.status != (int32_t)Status::kOk || st.error != 0 ||
        st.method != (uint8_t)FrameMethod::kBlockFixed)
      return;
    if (t.tile == c.tile_begin && t.thread == 0)
      copy_bytes(c.dst + st.n_elems * st.elem_size, c.frame + st.tail_offset, st.tail_bytes);
    const uint64_t unit0 = (t.tile - c.tile_begin) * kTileUnits + t.warp * kUnitsPerWarp;
    const uint8_t* index = c.frame + st.outlier_index_offset;
    const uint8_t* value = c.frame + st.outlier_value_offset;
    for (uint32_t k = 0; k < kUnitsPerWarp; ++k) {
      const uint64_t e = (unit0 + k) * kWarpLanes + t.lane;
      if (e >= st.outlier_count) break;
      const uint64_t i = block::load_le32(index + 4 * e);
      copy_bytes(c.dst + i * st.elem_size, value + e * st.elem_size, st.elem_size);
    }
  }
};

// (7) One thread per frame: the final status and size (version 1 frames).
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
    if (st.method == kStagedFrame || st.method == kPlanesFrame) return;
    gpu::DecodeResult res{};
    res.status = st.status;
    if (res.status == (int32_t)Status::kOk && st.error) res.status = (int32_t)Status::kCorruptFrame;
    res.out_bytes = res.status == (int32_t)Status::kOk ? st.original_bytes : 0;
    a.results[i] = res;
  }
};

}  // namespace squeeze::kern
