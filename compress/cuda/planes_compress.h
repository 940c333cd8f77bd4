// The compress kernels of lossless planes frames (FrameMethod::kPlanes, BoundMode::kLossless;
// compress/methods/planes.h), for the chunks plan_compress marks CompressChunkDesc::planes:
// lossless ones and every chunk of an integer dtype (which no lossy method takes, so that its
// frame is raw). Every byte decision calls planes.h and rans.h, which the CPU backend's encoder
// (compress/cpu/planes.cc) calls too, and the unit tests compare the CPU runner's frames with
// squeeze::compress() byte for byte.
//
// One CTA works on one chunk (tile = chunk index), as the staged kernels do: a thread per
// element for the histograms and the planes, a thread per (plane, segment, lane) for rANS, one
// thread for the decisions. PlanesAnalyzeKernel sizes the frame before FramesKernel places it;
// PlanesWriteKernel writes it. No warp operations (see staged_compress.h).
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/atomics.h"
#include "compress/cuda/compress_kernels.h"
#include "compress/cuda/kernel_model.h"
#include "compress/cuda/rans_lanes.h"
#include "compress/cuda/staged_slot.h"
#include "compress/format/staged.h"
#include "compress/methods/planes.h"
#include "compress/methods/rans.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// An element of es bytes (little-endian, any alignment) as an unsigned integer, and back.
SQZ_HD uint64_t load_elem_u64(const uint8_t* p, uint32_t es) {
  uint64_t v = 0;
  for (uint32_t b = 0; b < es; ++b) v |= (uint64_t)p[b] << (8 * b);
  return v;
}

SQZ_HD void store_elem_u64(uint8_t* p, uint32_t es, uint64_t v) {
  for (uint32_t b = 0; b < es; ++b) p[b] = (uint8_t)(v >> (8 * b));
}

// Element i's transformed value (planes::forward with element i - 1 as the previous one).
SQZ_HD uint64_t transformed(const uint8_t* src, uint64_t i, uint32_t es, planes::Transform t) {
  const uint64_t v = load_elem_u64(src + i * es, es);
  const uint64_t prev = i > 0 ? load_elem_u64(src + (i - 1) * es, es) : 0;
  return planes::forward(t, v, prev, es);
}

// A thread's pending count of one plane's histogram: equal bytes of the thread's consecutive
// elements add up before one atomic, so that a constant plane (every byte in one bin) costs an
// atomic per thread and run rather than one per element, all on one address. Counts are sums:
// the result does not depend on the order.
struct BinRun {
  uint32_t count;  // 0: no run yet (a histogram bin holds at most n < 2^32 counts)
  uint32_t sym;
  SQZ_HD void add(uint32_t* hist, uint32_t b) {
    if (count != 0 && sym == b) {
      ++count;
      return;
    }
    flush(hist);
    sym = b;
    count = 1;
  }
  SQZ_HD void flush(uint32_t* hist) {
    if (count != 0) atomic_add_u32(&hist[sym], count);
    count = 0;
  }
};

struct PlanesAnalyzeKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 7;
  static constexpr bool kBarriers = true;
  struct Shared {
    // Histograms of every plane: [0] under the dtype's base transform, [1] under delta-zigzag
    // (integer dtypes only).
    uint32_t hist[2][planes::kMaxPlanes][rans::kMaxSymbols];
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared& s) {
    const CompressChunkDesc& c = a.chunks[t.tile];
    if (!c.planes) return;  // uniform over the CTA
    StagedState& st = a.staged[t.tile];
    PlanesState& ps = st.pl;
    planes::Layout& l = ps.l;
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const uint32_t th = t.thread;
    using planes::PlaneMode;
    using planes::Transform;
    if constexpr (P == 0) {
      uint32_t* h = &s.hist[0][0][0];
      for (uint32_t k = th; k < 2 * planes::kMaxPlanes * rans::kMaxSymbols; k += kCtaThreads)
        h[k] = 0;
      if (th != 0) return;
      StagedState z{};
      st = z;
      l.es = (uint32_t)block::dtype_bytes(c.dtype);
      l.n = c.bytes / l.es;
      l.tail = c.bytes % l.es;
      l.transform = planes::base_transform(c.dtype);
      ps.raw = 1;
      // The CPU compress()'s rule: lossless, to a receiver that decodes planes frames (version
      // 2), with at least one element and no more than a frame counts.
      ps.encode = c.mode == (uint8_t)BoundMode::kLossless && (c.caps & kCapPlanes) != 0 &&
                  (c.caps & kCapStaged) != 0 && l.n > 0 && l.n <= staged::kMaxElems;
    } else if constexpr (P == 1) {
      // Both transforms' histograms in one pass (integer values or their differences).
      if (!ps.encode) return;
      const bool delta = l.transform == Transform::kNone;
      BinRun runs[2][planes::kMaxPlanes] = {};
      for (uint64_t i = th; i < l.n; i += kCtaThreads) {
        const uint64_t x = transformed(c.src, i, l.es, l.transform);
        for (uint32_t p = 0; p < l.es; ++p) runs[0][p].add(s.hist[0][p], (uint8_t)(x >> (8 * p)));
        if (!delta) continue;
        const uint64_t d = transformed(c.src, i, l.es, Transform::kDeltaZigzag);
        for (uint32_t p = 0; p < l.es; ++p) runs[1][p].add(s.hist[1][p], (uint8_t)(d >> (8 * p)));
      }
      for (uint32_t p = 0; p < l.es; ++p) {
        runs[0][p].flush(s.hist[0][p]);
        runs[1][p].flush(s.hist[1][p]);
      }
    } else if constexpr (P == 2) {
      // The transform, every plane's mode and the rANS planes' tables (the CPU encoder's
      // decisions, planes.h).
      if (th != 0 || !ps.encode) return;
      const uint32_t(*hist)[rans::kMaxSymbols] = s.hist[0];
      if (l.transform == Transform::kNone &&
          planes::prefer_delta(s.hist[0], s.hist[1], l.n, l.es)) {
        l.transform = Transform::kDeltaZigzag;
        hist = s.hist[1];
      }
      if (!planes::choose_modes(hist, l.n, l.es, l.tail, c.bytes, l.mode)) {
        ps.encode = 0;
        return;
      }
      ps.rounds = ceil_div(l.n, rans::kLanes);
      ps.segs = rans::segments_for(l.n);
      const uint64_t x0 = transformed(c.src, 0, l.es, l.transform);
      for (uint32_t p = 0; p < l.es; ++p) {
        l.value[p] = (uint8_t)(x0 >> (8 * p));  // a constant plane's byte
        if (l.mode[p] != PlaneMode::kRans) continue;
        ps.n_sym[p] = planes::rans_plane_table(hist[p], ps.freq[p], ps.cum[p]);
        ps.head[p] = planes::rans_section_head(ps.freq[p], ps.n_sym[p], l.n);
      }
    } else if constexpr (P == 3) {
      // The planes that are stored or coded; cleared emit masks of the coded ones.
      if (!ps.encode) return;
      for (uint64_t i = th; i < l.n; i += kCtaThreads) {
        const uint64_t x = transformed(c.src, i, l.es, l.transform);
        for (uint32_t p = 0; p < l.es; ++p)
          if (l.mode[p] != PlaneMode::kConst) sl.pl_sym[p * l.n + i] = (uint8_t)(x >> (8 * p));
      }
      for (uint32_t p = 0; p < l.es; ++p) {
        if (l.mode[p] != PlaneMode::kRans) continue;
        for (uint64_t r = th; r < ps.rounds; r += kCtaThreads) sl.pl_emit[p * ps.rounds + r] = 0;
      }
    } else if constexpr (P == 4) {
      // rANS: a thread per (plane, segment, lane) codes the lane's symbols backwards
      // (rans_lanes.h).
      if (!ps.encode) return;
      const uint64_t per_plane = ps.segs * rans::kLanes;
      for (uint64_t j = th; j < l.es * per_plane; j += kCtaThreads) {
        const uint32_t p = (uint32_t)(j / per_plane);
        if (l.mode[p] != PlaneMode::kRans) continue;
        const uint32_t seg = (uint32_t)((j % per_plane) / rans::kLanes);
        const uint32_t lane = (uint32_t)(j % rans::kLanes);
        const uint64_t first = p * l.n + (uint64_t)seg * rans::kSegmentSymbols;
        sl.pl_seg_states[(p * ps.segs + seg) * rans::kLanes + lane] = encode_lane(
            sl.pl_sym + first, planes::segment_symbols(l.n, seg), lane, ps.freq[p], ps.cum[p],
            sl.pl_words + first, sl.pl_emit + p * ps.rounds + (uint64_t)seg * rans::kRounds);
      }
    } else if constexpr (P == 5) {
      // Per (plane, segment): its words, and the emission index of each round's first word.
      if (!ps.encode) return;
      for (uint64_t j = th; j < l.es * ps.segs; j += kCtaThreads) {
        const uint32_t p = (uint32_t)(j / ps.segs);
        if (l.mode[p] != PlaneMode::kRans) continue;
        const uint64_t r0 = p * ps.rounds + (j % ps.segs) * rans::kRounds;
        const uint64_t left = ps.rounds - (j % ps.segs) * rans::kRounds;
        sl.pl_seg_words[j] = number_rounds(
            sl.pl_emit + r0, left < rans::kRounds ? left : rans::kRounds, sl.pl_round_first + r0);
      }
    } else {
      // The sections' sizes and places; the frame's size: planes, or the raw frame.
      if (th != 0) return;
      gpu::FrameResult fr{};
      fr.bytes = kFrameHeaderBytes + c.bytes;
      fr.method = (uint8_t)FrameMethod::kRaw;
      if (ps.encode) {
        uint64_t off = planes::directory_end(l.es);
        for (uint32_t p = 0; p < l.es; ++p) {
          uint64_t coded = 0;
          if (l.mode[p] == PlaneMode::kRans) {
            coded = ps.head[p];
            for (uint64_t seg = 0; seg < ps.segs; ++seg) {
              sl.pl_seg_off[p * ps.segs + seg] = coded;
              coded += rans::segment_bytes(sl.pl_seg_words[p * ps.segs + seg]);
            }
          }
          l.bytes[p] = planes::settle_plane(&l.mode[p], coded, l.n);
          l.offset[p] = off;
          off += l.bytes[p];
        }
        l.tail_offset = off;
        if (planes::beats_raw(off + l.tail, c.bytes)) {
          ps.raw = 0;
          fr.bytes = off + l.tail;
          fr.method = (uint8_t)FrameMethod::kPlanes;
        }
      }
      a.results[t.tile] = fr;  // FramesKernel places it
    }
  }
};

struct PlanesWriteKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 2;
  static constexpr bool kBarriers = true;
  struct Shared {
    uint32_t unused;
  };
  struct Regs {
    uint32_t unused;
  };

  // The sections' bulk, in parallel (phase 1).
  SQZ_HD static void write_sections(const PlanesState& ps, const StagedSlot& sl, uint32_t th,
                                    uint8_t* frame) {
    const planes::Layout& l = ps.l;
    using planes::PlaneMode;
    for (uint32_t p = 0; p < l.es; ++p) {
      uint8_t* sec = frame + l.offset[p];
      const uint8_t* sym = sl.pl_sym + p * l.n;
      if (l.mode[p] == PlaneMode::kRaw) {
        for (uint64_t i = th; i < l.n; i += kCtaThreads) sec[i] = sym[i];
        continue;
      }
      if (l.mode[p] != PlaneMode::kRans) continue;
      // States; each emitted word at its place in the decoder's order (rans_lanes.h).
      const uint64_t* seg_off = sl.pl_seg_off + p * ps.segs;
      const uint32_t* seg_words = sl.pl_seg_words + p * ps.segs;
      for (uint64_t j = th; j < ps.segs * rans::kLanes; j += kCtaThreads) {
        const uint64_t seg = j / rans::kLanes;
        block::store_le32(sec + seg_off[seg] + 4 * (j % rans::kLanes),
                          sl.pl_seg_states[p * ps.segs * rans::kLanes + j]);
      }
      for (uint64_t k = th; k < l.n; k += kCtaThreads) {
        const uint64_t seg = k / rans::kSegmentSymbols;
        const uint64_t r0 = p * ps.rounds + seg * rans::kRounds;
        uint32_t pos;
        if (word_slot(sl.pl_emit + r0, sl.pl_round_first + r0, seg_words[seg],
                      (uint32_t)(k - seg * rans::kSegmentSymbols), &pos))
          block::store_le16(sec + seg_off[seg] + rans::kStateBytes + 2ull * pos,
                            sl.pl_words[p * l.n + k]);
      }
    }
  }

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared&) {
    const CompressChunkDesc& c = a.chunks[t.tile];
    if (!c.planes) return;
    const PlanesState& ps = a.staged[t.tile].pl;
    const planes::Layout& l = ps.l;
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const uint32_t th = t.thread;
    uint8_t* frame = a.dst + a.results[t.tile].offset;
    using planes::PlaneMode;
    if (ps.raw) {
      // The CPU's write_raw: the newest version the receiver decodes, integer dtypes as kBytes
      // for receivers that do not know them.
      if constexpr (P == 0) {
        if (th != 0) return;
        const uint8_t dtype = staged::raw_dtype(c.dtype, c.caps);
        if ((c.caps & kCapStaged) != 0) {
          staged::write_raw_header(dtype, staged::raw_flags((BoundMode)c.mode, true), c.bytes,
                                   frame);
        } else {
          block::FrameHeader h;
          h.method = (uint8_t)FrameMethod::kRaw;
          h.dtype = dtype;
          h.flags = staged::raw_flags((BoundMode)c.mode, false);
          h.original_bytes = c.bytes;
          h.frame_bytes = kFrameHeaderBytes + c.bytes;
          block::write_header(h, frame);
        }
      } else {
        for (uint64_t i = th; i < c.bytes; i += kCtaThreads)
          frame[kFrameHeaderBytes + i] = c.src[i];
      }
      return;
    }
    if constexpr (P == 0) {
      // Header, directory, the rANS sections' tables and word counts, the tail.
      if (th != 0) return;
      planes::write_header(c.dtype, c.bytes, l.tail_offset + l.tail, l.transform, l.es, frame);
      for (uint32_t p = 0; p < l.es; ++p) {
        planes::write_dir_entry(frame + kFrameHeaderBytes + planes::kDirEntryBytes * p, l.mode[p],
                                l.value[p], l.bytes[p]);
        if (l.mode[p] != PlaneMode::kRans) continue;
        uint8_t* q = frame + l.offset[p];
        q += rans::write_table(ps.freq[p], ps.n_sym[p], q);
        for (uint64_t seg = 0; seg < ps.segs; ++seg)
          block::store_le32(q + 4 * seg, sl.pl_seg_words[p * ps.segs + seg]);
      }
      copy_bytes(frame + l.tail_offset, c.src + l.n * l.es, l.tail);
    } else {
      write_sections(ps, sl, th, frame);
    }
  }
};

}  // namespace squeeze::kern
