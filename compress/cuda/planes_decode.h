// The decompress kernel of lossless planes frames (FrameMethod::kPlanes; compress/methods/
// planes.h). One CTA per frame (tile = frame index); DecodeHeaderKernel marks the planes frames
// (kPlanesFrame), the other frames are left to the other kernels. It runs the CPU decoder's
// checks (compress/cpu/planes.cc, decode_planes) with the same shared code, so that a frame is
// rejected by the same check on both backends, and writes the destination only once every plane
// decoded: a thread per rANS segment, then the inverse transform a thread per element (delta-
// zigzag: a sum of the differences over contiguous shares, scanned, then each share's values).
// The result goes out through StagedResultKernel (StagedState::active, status, reject).
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/atomics.h"
#include "compress/cuda/decode_kernels.h"
#include "compress/cuda/kernel_model.h"
#include "compress/cuda/planes_compress.h"
#include "compress/cuda/rans_lanes.h"
#include "compress/cuda/staged_slot.h"
#include "compress/format/staged.h"
#include "compress/methods/planes.h"
#include "compress/methods/rans.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// Element i's transformed value as the decoder has it: each plane's byte from its constant, the
// frame (a raw plane) or the decoded symbols (a rANS plane).
SQZ_HD uint64_t joined(const PlanesState& ps, const StagedSlot& sl, const uint8_t* frame,
                       uint64_t i) {
  const planes::Layout& l = ps.l;
  uint64_t x = 0;
  for (uint32_t p = 0; p < l.es; ++p) {
    uint8_t b;
    if (l.mode[p] == planes::PlaneMode::kConst) {
      b = l.value[p];
    } else if (l.mode[p] == planes::PlaneMode::kRaw) {
      b = frame[l.offset[p] + i];
    } else {
      b = sl.pl_sym[p * l.n + i];
    }
    x |= (uint64_t)b << (8 * p);
  }
  return x;
}

struct PlanesDecodeKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 6;
  static constexpr bool kBarriers = true;
  struct Shared {
    uint64_t part[kCtaThreads];  // delta-zigzag: each share's sum of differences
    uint64_t base[kCtaThreads];  // ... and the value before the share
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs&, Shared& s) {
    if (a.state[t.tile].method != kPlanesFrame) return;  // uniform over the CTA
    const DecodeChunkDesc& c = a.chunks[t.tile];
    StagedState& st = a.staged[t.tile];
    PlanesState& ps = st.pl;
    planes::Layout& l = ps.l;
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const uint32_t th = t.thread;
    using planes::PlaneMode;
    using planes::Transform;
    using staged::Reject;
    if constexpr (P == 0) {
      // The CPU decoder's order: envelope, header and directory, capacity; then each rANS
      // section's table and segment extents (their contents are decoded in phase 1).
      if (th != 0) return;
      StagedState z{};
      st = z;
      st.active = 1;
      st.status = (int32_t)Status::kOk;
      Reject r = staged::check_envelope(c.frame, c.frame_bytes);
      if (r == Reject::kNone) r = planes::parse(c.frame, c.frame_bytes, &l);
      const uint64_t original = l.n * l.es + l.tail;
      if (r == Reject::kNone && original > c.dst_capacity) r = Reject::kOutputTooSmall;
      if (r != Reject::kNone) {
        st.reject = (uint8_t)r;
        return;
      }
      if (original > c.unit_capacity_bytes) {
        st.status = (int32_t)Status::kInvalidArgument;  // larger than the context's chunks
        st.reject = (uint8_t)Reject::kOutputTooSmall;
        return;
      }
      st.h.original_bytes = original;
      ps.rounds = ceil_div(l.n, rans::kLanes);
      ps.segs = rans::segments_for(l.n);
      for (uint32_t p = 0; p < l.es; ++p) {
        if (l.mode[p] != PlaneMode::kRans) continue;
        const uint8_t* sec = c.frame + l.offset[p];
        const uint8_t* end = sec + l.bytes[p];
        const uint8_t* q = sec;
        const uint8_t* counts = nullptr;
        const Reject head = planes::rans_plane_head(&q, end, l.n, &sl.pl_tables[p], &counts);
        ps.table_ok[p] = head != Reject::kRansTable;
        if (head != Reject::kNone) continue;
        uint32_t valid = 0;
        for (uint32_t seg = 0; seg < ps.segs; ++seg) {
          uint32_t n_words;
          if (!planes::rans_segment_fits(counts, seg, q, end, &n_words)) break;
          sl.pl_seg_words[p * ps.segs + seg] = n_words;
          sl.pl_seg_off[p * ps.segs + seg] = (uint64_t)(q - sec);
          q += rans::segment_bytes(n_words);
          ++valid;
        }
        ps.valid_segs[p] = valid;
        ps.layout_ok[p] = valid == ps.segs && q == end;
      }
      return;
    }
    if (st.reject != 0 || st.status != (int32_t)Status::kOk) return;
    if constexpr (P == 1) {
      // Every segment that lies within its section, a warp per segment in lock-step
      // (decode_segment_lanes, which gives the CPU decoder's decode_segment).
      for (uint64_t j = t.warp; j < l.es * ps.segs; j += kCtaWarps) {
        const uint32_t p = (uint32_t)(j / ps.segs);
        const uint32_t seg = (uint32_t)(j % ps.segs);
        if (l.mode[p] != PlaneMode::kRans || !ps.table_ok[p] || seg >= ps.valid_segs[p]) continue;
        w.collective(t, [&](const auto& lanes) {
          if (!decode_segment_lanes(lanes, c.frame + l.offset[p] + sl.pl_seg_off[j],
                                    sl.pl_seg_words[j], planes::segment_symbols(l.n, seg),
                                    sl.pl_tables[p],
                                    sl.pl_sym + p * l.n + (uint64_t)seg * rans::kSegmentSymbols))
            atomic_or_u32(&ps.seg_failed[p], 1);
        });
      }
    } else if constexpr (P == 2) {
      // The first plane in order whose section is bad names the rejection (the CPU decoder
      // stops at it): a table is checked before anything else of its section.
      if (th != 0) return;
      for (uint32_t p = 0; p < l.es; ++p) {
        if (l.mode[p] != PlaneMode::kRans) continue;
        if (!ps.table_ok[p]) {
          st.reject = (uint8_t)Reject::kRansTable;
          return;
        }
        if (!ps.layout_ok[p] || ps.seg_failed[p] != 0) {
          st.reject = (uint8_t)Reject::kRansStream;
          return;
        }
      }
    } else if constexpr (P == 3) {
      // Everything is valid: the elements of the transforms without a carry, and the tail; the
      // delta-zigzag shares' sums of differences.
      if (th == 0) copy_bytes(c.dst + l.n * l.es, c.frame + l.tail_offset, l.tail);
      if (l.transform != Transform::kDeltaZigzag) {
        for (uint64_t i = th; i < l.n; i += kCtaThreads)
          store_elem_u64(c.dst + i * l.es, l.es,
                         planes::inverse(l.transform, joined(ps, sl, c.frame, i), 0, l.es));
        return;
      }
      const Span sh = share(l.n, th);
      uint64_t sum = 0;
      for (uint64_t i = sh.begin; i < sh.end; ++i)
        sum = planes::inverse(Transform::kDeltaZigzag, joined(ps, sl, c.frame, i), sum, l.es);
      s.part[th] = sum;
    } else if constexpr (P == 4) {
      // Delta-zigzag: the value before each share (sums modulo 2^bits, as the values are).
      if (th != 0 || l.transform != Transform::kDeltaZigzag) return;
      uint64_t acc = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        s.base[k] = acc;
        acc = (acc + s.part[k]) & planes::width_mask(l.es);
      }
    } else if constexpr (P == 5) {
      if (l.transform == Transform::kDeltaZigzag) {
        const Span sh = share(l.n, th);
        uint64_t prev = s.base[th];
        for (uint64_t i = sh.begin; i < sh.end; ++i) {
          prev = planes::inverse(Transform::kDeltaZigzag, joined(ps, sl, c.frame, i), prev, l.es);
          store_elem_u64(c.dst + i * l.es, l.es, prev);
        }
      }
      if (th == 0) st.write = 1;
    }
  }
};

}  // namespace squeeze::kern
