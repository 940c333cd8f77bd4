// The decompress kernel of version 2 frames (raw and staged). One CTA per frame (tile = frame
// index; version 1 frames are left to decode_kernels.h, planes frames to planes_decode.h). It runs
// the CPU decoder's checks in the CPU decoder's order, each with the same stage code
// (compress/format/staged.h, compress/methods/), so that a frame is rejected by the same check on
// both backends, and writes the destination only once every section is valid: literal blocks, then
// outliers and the tail, then the references (whose sources are literal units of the frame).
//
// Serial steps (one thread) and parallel ones alternate; a parallel check raises
// StagedState::flag and the next serial step turns it into the rejection. Every phase starts by
// reading `reject`, which only serial steps write. The one warp code is the rANS segments'
// lock-step decoder (rans_lanes.h, through w.collective); no other warp operations.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/atomics.h"
#include "compress/cuda/decode_kernels.h"
#include "compress/cuda/kernel_model.h"
#include "compress/cuda/rans_lanes.h"
#include "compress/cuda/staged_slot.h"
#include "compress/format/staged.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

SQZ_HD bool block_literal(const StagedState& st, const StagedSlot& sl, uint64_t b) {
  const uint64_t u0 = b * (kBlockElems / kUnitElems);
  bool any = false;
  for (uint64_t u = u0; u < u0 + kBlockElems / kUnitElems && u < st.n_units; ++u)
    any |= sl.literal[u] != 0;
  return any;
}

// Whether record r (blocks [r << rlog, (r + 1) << rlog); one block when rlog is 0) is literal.
SQZ_HD bool record_literal(const StagedState& st, const StagedSlot& sl, uint64_t r) {
  bool any = false;
  for (uint64_t b = r << st.rlog; b < ((r + 1) << st.rlog) && b < st.n_blocks; ++b)
    any |= block_literal(st, sl, b);
  return any;
}

// A local frame's records after the quant section's 4-byte head: the packed head and records
// (local_packed.h), or 3-byte records; the side entries follow.
SQZ_HD uint64_t records_bytes(const StagedState& st) {
  return st.packed ? local::packed_bytes(st.packed_layout, st.n_lit_blocks)
                   : local::fixed_bytes(st.n_lit_blocks);
}

// Literal record idx of a local frame whose quant section starts at quant: the 24-bit record
// (local::kInvalidRecord for packed fields that name none; parse() rejects it).
SQZ_HD uint32_t literal_record(const StagedState& st, const uint8_t* quant, uint64_t idx) {
  const uint8_t* rec = quant + local::kQuantHeaderBytes;
  if (!st.packed) return local::load_record(rec + idx * local::kRecordBytes);
  return local::packed_record(rec + local::kPackedHeadBytes,
                              records_bytes(st) - local::kPackedHeadBytes, st.packed_layout, idx);
}

struct StagedDecodeKernel {
  using Args = DecompressArgs;
  static constexpr int kPhases = 21;
  static constexpr bool kBarriers = true;
  static constexpr int kCounters = 4;
  struct Shared {
    uint64_t part[kCtaThreads][kCounters];
    uint64_t base[kCtaThreads][kCounters];
    // The rANS table, copied from the slot (phase 10) for the segment decoders (phase 12): every
    // symbol looks an entry up, and on a GPU a shared-memory load waits a fraction of a global
    // one's latency.
    rans::Tables tables;
  };
  struct Regs {
    uint32_t unused;
  };

  // A serial step's rejection.
  SQZ_HD static void reject(StagedState& st, staged::Reject r) {
    if (st.reject == 0) st.reject = (uint8_t)r;
  }

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W& w, Regs&, Shared& s) {
    const DecodeChunkDesc& c = a.chunks[t.tile];
    StagedState& st = a.staged[t.tile];
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const uint32_t th = t.thread;
    using staged::Reject;
    if constexpr (P == 0) {
      if (th != 0) return;
      StagedState z{};
      st = z;
      st.active = a.state[t.tile].method == kStagedFrame;
      if (!st.active) return;
      st.status = (int32_t)Status::kOk;
      Reject r = staged::check_envelope(c.frame, c.frame_bytes);
      if (r == Reject::kNone) r = staged::parse(c.frame, c.frame_bytes, &st.h);
      if (r == Reject::kNone && st.h.original_bytes > c.dst_capacity) r = Reject::kOutputTooSmall;
      if (r != Reject::kNone) {
        st.reject = (uint8_t)r;
        return;
      }
      if (st.h.original_bytes > c.unit_capacity_bytes) {
        st.status = (int32_t)Status::kInvalidArgument;  // larger than the context's chunks
        st.reject = (uint8_t)Reject::kOutputTooSmall;
        return;
      }
      st.raw = c.frame[hdr::kMethod] == (uint8_t)FrameMethod::kRaw;
      const staged::Geometry g = staged::geometry(st.h.dtype, st.h.original_bytes);
      st.dtype = st.h.dtype;
      st.es = (uint32_t)g.es;
      st.n = g.n;
      st.n_units = g.n_units;
      st.n_full_units = g.n_full_units;
      st.n_blocks = g.n_blocks;
      st.tail = g.tail;
      // The table quantizer's section is parsed in phase 5; its frames take the global path
      // otherwise (every literal unit coded), each element decoded with its column's table.
      st.local = st.h.quant == (uint8_t)StagedQuant::kLocal;
      st.table = st.h.quant == (uint8_t)StagedQuant::kTable;
      // Row records: blocks per record from the quant section's third byte, validated in
      // phase 5 (after the dedup section, in the CPU decoder's order); counted as 1 until then
      // when out of range.
      if (st.local && !st.raw && st.h.section[(int)StagedSection::kQuant] >= 4) {
        const uint8_t rl = c.frame[staged::section_offset(st.h, StagedSection::kQuant) + 2];
        st.rlog = rl <= local::kMaxRecordLog2 ? rl : 0;
      }
      st.n_records = (st.n_blocks + (1u << st.rlog) - 1) >> st.rlog;
      st.dst_aligned = ((uintptr_t)c.dst % g.es) == 0;
      if (!st.raw && st.h.dedup == (uint8_t)StagedDedup::kHistory) reject(st, Reject::kHistory);
    }
    if (!st.active || st.reject != 0 || st.status != (int32_t)Status::kOk) return;
    if (st.raw) {
      if constexpr (P == kPhases - 3) {
        for (uint64_t i = th; i < st.h.original_bytes; i += kCtaThreads)
          c.dst[i] = c.frame[kFrameHeaderBytes + i];
      }
      if constexpr (P == kPhases - 1) st.write = 1;
      return;
    }
    if constexpr (P == 1) {
      for (uint64_t u = th; u < st.n_units; u += kCtaThreads) sl.literal[u] = 1;
    } else if constexpr (P == 2) {
      // The dedup section, serially: head, sources, runs (each checked against the previous).
      if (th != 0 || st.h.dedup == (uint8_t)StagedDedup::kNone) return;
      const uint8_t* p = c.frame + staged::section_offset(st.h, StagedSection::kDedup);
      const uint8_t* end = p + st.h.section[(int)StagedSection::kDedup];
      dedup::Section sec;
      if (!dedup::parse_section(p, end, st.n_full_units, &sec) ||
          !dedup::read_sources(sec, end, st.n_full_units, 0, sl.sources)) {
        reject(st, Reject::kDedupRuns);
        return;
      }
      uint64_t prev_end = 0, bit = 0;
      for (uint64_t k = 0; k < sec.n_runs; ++k) {
        dedup::Run r;
        if (!dedup::read_run(sec, sl.sources, &bit, prev_end, st.n_full_units, &r)) {
          reject(st, Reject::kDedupRuns);
          return;
        }
        sl.run_dst[k] = (uint32_t)r.dst;
        sl.run_src[k] = r.src;
        sl.run_len[k] = (uint32_t)r.len;
        prev_end = r.dst + r.len;
      }
      if (!dedup::records_end_ok(sec, bit)) {
        reject(st, Reject::kDedupRuns);
        return;
      }
      st.n_runs = sec.n_runs;
    } else if constexpr (P == 3) {
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads)
        for (uint64_t u = sl.run_dst[k]; u < sl.run_dst[k] + sl.run_len[k]; ++u) sl.literal[u] = 0;
    } else if constexpr (P == 4) {
      // Sources must be literal; literal blocks counted over contiguous shares.
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads) {
        const uint64_t src = (uint64_t)sl.run_src[k];
        for (uint64_t u = src; u < src + sl.run_len[k]; ++u)
          if (!sl.literal[u]) atomic_or_u32(&st.flag, 1);
      }
      const Span rs = share(st.n_records, th);
      uint64_t lit = 0;
      for (uint64_t r = rs.begin; r < rs.end; ++r) lit += record_literal(st, sl, r);
      s.part[th][0] = lit;
    } else if constexpr (P == 5) {
      if (th != 0) return;
      if (st.flag) {
        reject(st, Reject::kDedupSource);
        return;
      }
      uint64_t acc = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        s.base[k][0] = acc;
        acc += s.part[k][0];
      }
      st.n_lit_blocks = acc;
      const uint8_t* p = c.frame + staged::section_offset(st.h, StagedSection::kQuant);
      const uint64_t len = st.h.section[(int)StagedSection::kQuant];
      if (st.table) {
        // The table section, serially: table.h's checks of the header and every entry, in the
        // CPU decoder's order; each table's parameters and end column.
        uint32_t row_elems, start_col, n_tables;
        if (!table::parse_header(p, len, &row_elems, &start_col, &n_tables)) {
          reject(st, Reject::kQuantParams);
          return;
        }
        if (!table::parse_entries(p, row_elems, n_tables, sl.tparams, nullptr, sl.tab_end)) {
          reject(st, Reject::kQuantParams);
          return;
        }
        st.row_elems = row_elems;
        st.start_col = start_col;
        st.n_tables = n_tables;
        return;
      }
      if (!st.local) {
        if (len != 0) reject(st, Reject::kQuantParams);
        return;
      }
      if (len < local::kQuantHeaderBytes) {
        reject(st, Reject::kQuantParams);
        return;
      }
      st.e0 = p[0];
      st.w = p[1];
      if (st.e0 < 1 || st.e0 > 254 || st.w < 1 || st.w > local::kMaxWidth || p[2] != st.rlog ||
          p[3] > local::kRecordsPacked) {
        reject(st, Reject::kQuantParams);
        return;
      }
      st.packed = p[3] == local::kRecordsPacked;
      const uint8_t* rec = p + local::kQuantHeaderBytes;
      if (st.packed && (len - local::kQuantHeaderBytes < local::kPackedHeadBytes ||
                        !local::read_packed_head(rec, &st.packed_layout))) {
        reject(st, Reject::kQuantParams);
        return;
      }
      const uint64_t bytes = records_bytes(st);
      if (len - local::kQuantHeaderBytes < bytes ||
          (st.packed &&
           !local::packed_tail_zero(rec + local::kPackedHeadBytes, bytes - local::kPackedHeadBytes,
                                    st.packed_layout, st.n_lit_blocks)))
        reject(st, Reject::kQuantParams);
    } else if constexpr (P == 6) {
      // Per literal record: its index; side entries and coded units counted.
      const uint8_t* quant = c.frame + staged::section_offset(st.h, StagedSection::kQuant);
      const Span rs = share(st.n_records, th);
      uint64_t idx = s.base[th][0], sides = 0, cu = 0, ce = 0;
      for (uint64_t r = rs.begin; r < rs.end; ++r) {
        sl.block_rec[r] = 0xffffffffu;
        if (!record_literal(st, sl, r)) continue;
        sl.block_rec[r] = (uint32_t)idx;
        bool side = false, codes = true;
        if (st.local) local::classify_record(literal_record(st, quant, idx), &side, &codes);
        ++idx;
        sides += side;
        if (!codes) continue;
        for (uint64_t u = 2 * (r << st.rlog); u < 2 * ((r + 1) << st.rlog) && u < st.n_units; ++u) {
          if (!sl.literal[u]) continue;
          ++cu;
          ce += unit_elems(st.n, u);
        }
      }
      s.part[th][1] = sides;
      s.part[th][2] = cu;
      s.part[th][3] = ce;
    } else if constexpr (P == 7) {
      if (th != 0) return;
      uint64_t acc[kCounters] = {};
      for (uint32_t k = 0; k < kCtaThreads; ++k)
        for (int j = 1; j < kCounters; ++j) {
          s.base[k][j] = acc[j];
          acc[j] += s.part[k][j];
        }
      st.n_side = acc[1];
      st.n_coded_units = acc[2];
      st.n_coded = acc[3];
      if (st.local && st.h.section[(int)StagedSection::kQuant] != local::kQuantHeaderBytes +
                                                                      records_bytes(st) +
                                                                      st.n_side * local::kSideBytes)
        reject(st, Reject::kQuantParams);
    } else if constexpr (P == 8) {
      // Records parsed (with their side entries); each unit's first coded index.
      const uint8_t* quant = c.frame + staged::section_offset(st.h, StagedSection::kQuant);
      const uint8_t* side0 = quant + local::kQuantHeaderBytes + records_bytes(st);
      const Span rs = share(st.n_records, th);
      uint64_t side = s.base[th][1], cu = s.base[th][2], ce = s.base[th][3];
      for (uint64_t r = rs.begin; r < rs.end; ++r) {
        const uint64_t u0 = 2 * (r << st.rlog), u1 = 2 * ((r + 1) << st.rlog);
        for (uint64_t u = u0; u < u1 && u < st.n_units; ++u) sl.unit_coded[u] = ~0u;
        if (sl.block_rec[r] == 0xffffffffu) continue;
        bool coded = true;
        if (st.local) {
          const uint64_t b0 = r << st.rlog;
          const uint32_t record = literal_record(st, quant, sl.block_rec[r]);
          bool has_side;
          local::classify_record(record, &has_side, &coded);
          if (!local::parse(record, side0 + side * local::kSideBytes, st.e0, st.w, &sl.params[b0]))
            atomic_or_u32(&st.flag, 1);
          for (uint64_t b = b0 + 1; b < ((r + 1) << st.rlog) && b < st.n_blocks; ++b)
            sl.params[b] = sl.params[b0];
          side += has_side;
        }
        if (!coded) continue;
        for (uint64_t u = u0; u < u1 && u < st.n_units; ++u) {
          if (!sl.literal[u]) continue;
          sl.unit_coded[u] = (uint32_t)ce;
          sl.coded_unit[cu++] = (uint32_t)u;
          ce += unit_elems(st.n, u);
        }
      }
    } else if constexpr (P == 9) {
      // The codes section's head: the fixed coder's size, or the rANS table and segments.
      if (th != 0) return;
      if (st.flag) {
        reject(st, Reject::kQuantParams);
        return;
      }
      const uint8_t* p = c.frame + staged::section_offset(st.h, StagedSection::kCodes);
      const uint64_t len = st.h.section[(int)StagedSection::kCodes];
      const uint8_t* end = p + len;
      st.n_groups = ceil_div(st.n_coded, kGroupCodes);
      if (st.h.coder == (uint8_t)StagedCoder::kFixed) {
        if (st.local ? len != st.n_groups * 4 * st.w : st.n_groups > len)
          reject(st, Reject::kCodes);
        return;
      }
      st.use_rans = 1;
      bool ok = p < end;
      st.seg_symbols = rans::kSegmentSymbols;
      if (ok) {
        ok = rans::parse_shift_byte(*p++, &st.shift, &st.seg_symbols) &&
             rans::read_table(&p, end, sl.tables);
      }
      st.n_seg = rans::segments_for(st.n_coded, st.seg_symbols);
      ok = ok && (uint64_t)(end - p) >= 4 * st.n_seg;
      const uint8_t* counts = p;
      const uint64_t head = ok ? (uint64_t)(p - (end - len)) + 4 * st.n_seg : 0;
      uint64_t off = head;
      for (uint64_t seg = 0; ok && seg < st.n_seg; ++seg) {
        const uint32_t count = rans::segment_count(st.n_coded, st.seg_symbols, seg);
        const uint32_t n_words = block::load_le32(counts + 4 * seg);
        const uint64_t bytes = rans::segment_bytes(n_words);
        ok = n_words <= count && len - off >= bytes;
        sl.seg_words[seg] = n_words;
        sl.seg_off[seg] = off;
        off += bytes;
      }
      ok = ok && len - off == rans::packed_bytes(st.n_coded, st.shift);
      st.rans_bytes = off;  // where the low bits start
      if (!ok) reject(st, Reject::kRansStream);
    } else if constexpr (P == 10) {
      // Fixed coder, global: every width checked and summed over contiguous shares. rANS: the
      // table to shared memory.
      s.part[th][0] = 0;
      if (st.use_rans) {
        for (uint32_t i = th; i < rans::kProbScale; i += kCtaThreads)
          s.tables.slot[i] = sl.tables->slot[i];
        for (uint32_t i = th; i < rans::kMaxSymbols; i += kCtaThreads) {
          s.tables.freq[i] = sl.tables->freq[i];
          s.tables.cum[i] = sl.tables->cum[i];
        }
        if (th == 0) s.tables.n_sym = sl.tables->n_sym;
      }
      if (st.use_rans || st.local) return;
      const uint8_t* widths = c.frame + staged::section_offset(st.h, StagedSection::kCodes);
      const Span gs = share(st.n_groups, th);
      uint64_t sum = 0;
      for (uint64_t gi = gs.begin; gi < gs.end; ++gi) {
        if (widths[gi] > kMaxCodeWidth) atomic_or_u32(&st.flag, 1);
        sum += widths[gi];
      }
      s.part[th][0] = sum;
    } else if constexpr (P == 11) {
      if (th != 0 || st.use_rans || st.local) return;
      uint64_t acc = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        s.base[k][0] = acc;
        acc += s.part[k][0];
      }
      if (st.flag || st.h.section[(int)StagedSection::kCodes] != st.n_groups + 4 * acc)
        reject(st, Reject::kCodes);
    } else if constexpr (P == 12) {
      // The codes: fixed groups unpacked over contiguous shares; rANS segments decoded, a
      // warp per segment in lock-step (decode_segment_lanes).
      const uint8_t* p = c.frame + staged::section_offset(st.h, StagedSection::kCodes);
      if (!st.use_rans) {
        const uint8_t* planes = st.local ? p : p + st.n_groups;
        const Span gs = share(st.n_groups, th);
        uint64_t word = st.local ? gs.begin * st.w : s.base[th][0];
        for (uint64_t gi = gs.begin; gi < gs.end; ++gi) {
          const uint32_t width = st.local ? st.w : p[gi];
          uint32_t group[kGroupCodes];
          block::unpack_planes(planes + 4 * word, width, group);
          word += width;
          const uint64_t first = gi * kGroupCodes;
          for (uint32_t k = 0; k < kGroupCodes && first + k < st.n_coded; ++k)
            sl.codes[first + k] = group[k];
        }
        return;
      }
      for (uint64_t seg = t.warp; seg < st.n_seg; seg += kCtaWarps) {
        const uint64_t first = seg * st.seg_symbols;
        const uint32_t count = rans::segment_count(st.n_coded, st.seg_symbols, seg);
        w.collective(t, [&](const auto& lanes) {
          if (!decode_segment_lanes(lanes, p + sl.seg_off[seg], sl.seg_words[seg], count, s.tables,
                                    sl.sym + first))
            atomic_or_u32(&st.flag, 1);
        });
      }
    } else if constexpr (P == 13) {
      // rANS: the codes from the symbols and the raw low bits (local codes below 2^W).
      if (!st.use_rans || st.flag) return;
      const uint8_t* low =
          c.frame + staged::section_offset(st.h, StagedSection::kCodes) + st.rans_bytes;
      for (uint64_t k = th; k < st.n_coded; k += kCtaThreads) {
        const uint32_t code =
            ((uint32_t)sl.sym[k] << st.shift) | rans::get_bits(low, k * st.shift, st.shift);
        sl.codes[k] = code;
        if (st.local && code >= (1u << st.w)) atomic_or_u32(&st.flag, 1);
      }
    } else if constexpr (P == 14) {
      if (th != 0) return;
      if (st.flag) {
        reject(st, st.use_rans ? Reject::kRansStream : Reject::kCodes);
        return;
      }
      const uint64_t len = st.h.section[(int)StagedSection::kOutliers];
      const uint8_t* p = c.frame + staged::section_offset(st.h, StagedSection::kOutliers);
      if (len < 4) {
        reject(st, Reject::kOutliers);
        return;
      }
      st.n_out = block::load_le32(p);
      if (len != 4 + st.n_out * (4 + st.es)) reject(st, Reject::kOutliers);
    } else if constexpr (P == 15) {
      // Outlier indices: increasing, in the frame, in literal units.
      const uint8_t* idx = c.frame + staged::section_offset(st.h, StagedSection::kOutliers) + 4;
      for (uint64_t k = th; k < st.n_out; k += kCtaThreads) {
        const uint64_t i = block::load_le32(idx + 4 * k);
        if (i >= st.n || (k > 0 && i <= block::load_le32(idx + 4 * (k - 1))) ||
            !sl.literal[i / kUnitElems])
          atomic_or_u32(&st.flag, 1);
      }
    } else if constexpr (P == 16) {
      if (th != 0) return;
      if (st.flag) reject(st, Reject::kOutliers);
    } else if constexpr (P == 17) {
      // Everything is valid: the literal units' values.
      const bool aligned = st.dst_aligned != 0;
      for (uint64_t u = th; u < st.n_units; u += kCtaThreads) {
        if (!sl.literal[u]) continue;
        const uint64_t b = u * kUnitElems / kBlockElems;
        const local::BlockParams& bp = sl.params[b];
        const uint64_t first = u * kUnitElems;
        const uint64_t count = unit_elems(st.n, u);
        if (st.table) {  // every literal unit is coded
          ColumnWalk cw(sl.tab_end, st.n_tables, st.row_elems, st.start_col, first);
          for (uint64_t j = 0; j < count; ++j, cw.next()) {
            const float v = table::reconstruct(sl.tparams[cw.t], sl.codes[sl.unit_coded[u] + j]);
            store_elem_bits(c.dst + (first + j) * st.es, st.es, value_bits(st.dtype, v), aligned);
          }
          continue;
        }
        for (uint64_t j = 0; j < count; ++j) {
          float v;
          if (sl.unit_coded[u] == ~0u) {
            v = bp.value;  // zero and constant blocks
          } else if (st.local) {
            v = local::reconstruct(bp, sl.codes[sl.unit_coded[u] + j]);
          } else {
            v = quant::reconstruct_f32(quant::unzigzag(sl.codes[sl.unit_coded[u] + j]), st.h.step);
          }
          store_elem_bits(c.dst + (first + j) * st.es, st.es, value_bits(st.dtype, v), aligned);
        }
      }
    } else if constexpr (P == 18) {
      // Outliers over their literal positions; the tail.
      const uint8_t* idx = c.frame + staged::section_offset(st.h, StagedSection::kOutliers) + 4;
      const uint8_t* val = idx + 4 * st.n_out;
      for (uint64_t k = th; k < st.n_out; k += kCtaThreads) {
        const uint64_t i = block::load_le32(idx + 4 * k);
        copy_bytes(c.dst + i * st.es, val + k * st.es, st.es);
      }
      if (th == 0 && st.tail)
        copy_bytes(c.dst + st.n * st.es,
                   c.frame + staged::section_offset(st.h, StagedSection::kTail), st.tail);
    } else if constexpr (P == 19) {
      // References: copies of literal units of the frame, a thread per unit.
      const uint64_t ub = kUnitElems * st.es;
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads) {
        const uint64_t dst_u = sl.run_dst[k], src_u = (uint64_t)sl.run_src[k];
        copy_bytes(c.dst + dst_u * ub, c.dst + src_u * ub, sl.run_len[k] * ub);
      }
    } else if constexpr (P == 20) {
      if (th == 0) st.write = 1;
    }
  }
};

// One thread per frame: the result of a version 2 frame (after StagedDecodeKernel).
struct StagedResultKernel {
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
    const StagedState& st = a.staged[i];
    if (!st.active) return;
    gpu::DecodeResult res{};
    res.status = st.status;
    res.reject = st.reject;
    if (st.status == (int32_t)Status::kOk && st.reject != 0)
      res.status = (int32_t)staged::reject_status((staged::Reject)st.reject);
    res.out_bytes = res.status == (int32_t)Status::kOk ? st.h.original_bytes : 0;
    a.results[i] = res;
  }
};

}  // namespace squeeze::kern
