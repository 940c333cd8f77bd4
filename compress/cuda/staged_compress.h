// The compress kernels of version 2 (staged) frames, for chunks whose receiver decodes them
// (CompressChunkDesc::staged). Every byte decision calls the stage code the CPU backend calls
// (compress/format/staged.h and compress/methods/), and the unit tests compare the CPU runner's
// frames with squeeze::compress() byte for byte.
//
// One CTA works on one chunk (tile = chunk index): its threads share the chunk's blocks, units,
// runs, groups and rANS lanes in loops, and talk through the chunk's slot (staged_slot.h) and
// shared memory between phases, with CTA-wide scans done by one thread over the per-thread
// partial counts. No warp operation sits inside a loop: the CPU runner evaluates a warp
// operation on the registers as they were at the start of the phase.
//
// StagedAnalyzeKernel decides everything and sizes the frame, before FramesKernel places every
// frame of the batch; StagedWriteKernel then writes the frame at its place.
//
// A row layout in rel or abs mode (CompressChunkDesc::table): each table's range in the frame is
// folded from contiguous shares of the elements with atomics on ordered keys (table_key), which
// gives the CPU backend's bits in any order; then the table quantizer's parameters per table
// (compress/methods/table.h's decide, one thread per table), or for a receiver without kCapTable
// the one bound they fold to (the CPU's resolve_layout, also for version 1 chunks).
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/cuda/atomics.h"
#include "compress/cuda/compress_kernels.h"
#include "compress/cuda/kernel_model.h"
#include "compress/cuda/rans_lanes.h"
#include "compress/cuda/staged_slot.h"
#include "compress/format/staged.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/methods/varint.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// The error of x decoded as xr once xr is stored in the element's type (f16 and bf16 round it).
SQZ_HD float error_as_stored(uint8_t dtype, float x, float xr) {
  if (dtype == (uint8_t)DType::kF16) xr = quant::half_to_float(quant::float_to_half_rn(xr));
  if (dtype == (uint8_t)DType::kBF16) xr = quant::bf16_to_float(quant::float_to_bf16_rn(xr));
  return quant::element_error(x, xr);
}

// Element j of a unit into the unit's outlier mask (not quantized: ok false) or largest error.
SQZ_HD void note_element(bool ok, float err, uint64_t j, uint32_t* outliers, float* largest) {
  if (ok) {
    *largest = err > *largest ? err : *largest;
  } else {
    *outliers |= 1u << j;
  }
}

// Code and reconstruction error of element i (the CPU backend's quantize_all): false for an
// outlier, whose code is 0.
SQZ_HD bool code_of(const StagedState& st, const StagedSlot& sl, const uint8_t* src, bool aligned,
                    uint64_t i, uint32_t* code, float* err) {
  const float x = widen(st.dtype, load_elem_bits(src + i * st.es, st.es, aligned));
  *code = 0;
  *err = 0.0f;
  float xr;
  if (!st.local) {
    int32_t q;
    if (!quantize(st.dtype, x, st.qp, &q)) return false;
    *code = quant::zigzag(q);
    xr = quant::reconstruct_f32(q, st.qp.step);
  } else {
    const local::BlockParams& p = sl.params[i / kBlockElems];
    if (!local::has_codes(p.kind))
      return is_finite(x) && quant::float_to_bits(x) == quant::float_to_bits(p.value);
    bool ok;
    if (st.dtype == (uint8_t)DType::kF32) {
      ok = local::quantize_element<DType::kF32>(x, p, code);
    } else if (st.dtype == (uint8_t)DType::kF16) {
      ok = local::quantize_element<DType::kF16>(x, p, code);
    } else {
      ok = local::quantize_element<DType::kBF16>(x, p, code);
    }
    if (!ok) return false;
    xr = local::reconstruct(p, *code);
  }
  *err = error_as_stored(st.dtype, x, xr);
  return true;
}

// The table quantizer's code and reconstruction error of element x with its table's parameters
// (the CPU backend's table quantize loop): false for an outlier, whose code is 0.
SQZ_HD bool table_code_of(uint8_t dtype, float x, const table::Params& p, uint32_t* code,
                          float* err) {
  *err = 0.0f;
  bool ok;
  if (dtype == (uint8_t)DType::kF32) {
    ok = table::quantize_element<DType::kF32>(x, p, code);
  } else if (dtype == (uint8_t)DType::kF16) {
    ok = table::quantize_element<DType::kF16>(x, p, code);
  } else {
    ok = table::quantize_element<DType::kBF16>(x, p, code);
  }
  if (!ok) {
    *code = 0;
    return false;
  }
  *err = error_as_stored(dtype, x, table::reconstruct(p, *code));
  return true;
}

// A finite float as a key whose unsigned order is the total order of min_total / max_total
// (-0 < +0), so that atomicMin / atomicMax of keys give the bits of the CPU's loop in any order.
SQZ_HD uint32_t table_key(float x) {
  const uint32_t b = quant::float_to_bits(x);
  return (b >> 31) != 0 ? ~b : b | 0x80000000u;
}
SQZ_HD float key_float(uint32_t k) {
  return quant::bits_to_float((k >> 31) != 0 ? k & 0x7fffffffu : ~k);
}

// Table t's stats in the frame, from the keys the analysis folded.
SQZ_HD table::Stats table_stats(const StagedSlot& sl, uint32_t t) {
  if (sl.tab_fin[t] == 0) return table::Stats{pos_inf(), neg_inf(), false};
  return table::Stats{key_float(sl.tab_mn[t]), key_float(sl.tab_mx[t]), true};
}

// Folds the finite elements of thread th's contiguous share of the frame into their tables' keys:
// one atomic update per table the share crosses.
SQZ_HD void fold_table_stats(const StagedState& st, const CompressChunkDesc& c,
                             const StagedSlot& sl, bool aligned, uint32_t th) {
  const Span es = share(st.n, th);
  if (es.begin >= es.end) return;
  ColumnWalk cw(c.table_end, st.n_tables, st.row_elems, st.start_col, es.begin);
  uint32_t t = cw.t, mn = 0xffffffffu, mx = 0;
  bool fin = false;
  auto flush = [&]() {
    if (!fin) return;
    atomic_min_u32(&sl.tab_mn[t], mn);
    atomic_max_u32(&sl.tab_mx[t], mx);
    atomic_or_u32(&sl.tab_fin[t], 1u);
  };
  for (uint64_t i = es.begin; i < es.end; ++i, cw.next()) {
    if (cw.t != t) {
      flush();
      t = cw.t;
      mn = 0xffffffffu;
      mx = 0;
      fin = false;
    }
    const float x = widen(st.dtype, load_elem_bits(c.src + i * st.es, st.es, aligned));
    if (!is_finite(x)) continue;
    const uint32_t k = table_key(x);
    mn = k < mn ? k : mn;
    mx = k > mx ? k : mx;
    fin = true;
  }
  flush();
}

SQZ_HD bool block_has_literal(const StagedState& st, const StagedSlot& sl, uint64_t b) {
  const uint64_t u0 = b * (kBlockElems / kUnitElems);
  bool any = false;
  for (uint64_t u = u0; u < u0 + kBlockElems / kUnitElems && u < st.n_units; ++u)
    any |= sl.ref[u] < 0;
  return any;
}

// Whether record r (blocks [r << rlog, (r + 1) << rlog)) has a literal unit.
SQZ_HD bool record_has_literal(const StagedState& st, const StagedSlot& sl, uint64_t r) {
  bool any = false;
  for (uint64_t b = r << st.rlog; b < ((r + 1) << st.rlog) && b < st.n_blocks; ++b)
    any |= block_has_literal(st, sl, b);
  return any;
}

SQZ_HD bool block_coded(const StagedState& st, const StagedSlot& sl, uint64_t b) {
  return !st.local || local::has_codes(sl.params[b].kind);
}

// Whether unit u is a reference continuing the run of unit u - 1.
SQZ_HD bool continues_run(const StagedSlot& sl, uint64_t u) {
  return u > 0 && sl.ref[u - 1] >= 0 && sl.ref[u] == sl.ref[u - 1] + 1;
}

struct StagedAnalyzeKernel {
  using Args = CompressArgs;
  static constexpr int kPhases = 23;
  static constexpr bool kBarriers = true;
  // Per-thread partial counts: runs, coded units, coded elements, outliers, literal blocks,
  // side entries (scanned by thread 0); later reused for other sums.
  static constexpr int kCounters = 6;
  struct Shared {
    uint64_t part[kCtaThreads][kCounters];
    uint64_t base[kCtaThreads][kCounters];
    float mn[kCtaThreads];
    float mx[kCtaThreads];
    double tb[kCtaThreads][2];  // table chunks: smallest table bound, smallest frame bound
    uint32_t e0[kCtaThreads];
    uint32_t width_top[kCtaThreads];  // f16 / bf16 local: frame_code_width's top (phase 2)
    uint32_t max_gap[kCtaThreads];
    uint32_t max_len[kCtaThreads];
    uint32_t steps_or[kCtaThreads];  // of the thread's runs' gaps and lengths (dedup::step_for)
    uint32_t or_codes[kCtaThreads];
    uint32_t hist[rans::kMaxSymbols];
    uint32_t max_sym;
  };
  struct Regs {
    uint32_t unused;
  };

  template <int P, class W>
  SQZ_HD static void phase(const Args& a, const Thread& t, const W&, Regs&, Shared& s) {
    const CompressChunkDesc& c = a.chunks[t.tile];
    // Uniform over the CTA. A version 1 chunk whose bound folds its tables' ranges runs phases
    // 0-4 (its bound, for ParamsKernel).
    if (!c.staged && (c.table != kTableFold || P > 4)) return;
    StagedState& st = a.staged[t.tile];
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const bool aligned = c.src_aligned != 0;
    const uint32_t th = t.thread;
    if constexpr (P == 0) {
      if (th != 0) return;
      StagedState z{};
      st = z;
      st.dtype = c.dtype;
      st.mode = c.mode;
      st.local = c.mode == (uint8_t)BoundMode::kLocal;
      st.rlog = st.local ? c.rlog : 0;
      st.caps = c.caps;
      st.rans_min_gain = c.rans_min_gain;
      st.bound = c.bound;
      st.es = (uint32_t)block::dtype_bytes(c.dtype);
      const staged::Geometry g = staged::geometry(c.dtype, c.bytes);
      st.n = g.n;
      st.n_units = g.n_units;
      st.n_full_units = g.n_full_units;
      st.n_blocks = g.n_blocks;
      st.n_records = (g.n_blocks + (1u << st.rlog) - 1) >> st.rlog;
      st.tail = g.tail;
      st.quantized = block::is_float_dtype(c.dtype) && g.n > 0 && g.n <= staged::kMaxElems;
      st.local_bounds = st.local ? c.local_bounds : 0;
      if (st.local && st.quantized && !st.local_bounds) {  // else from the blocks' (phase 3)
        st.w = local::code_width(c.bound);
        if (st.w == 0) st.quantized = 0;
        st.prec = local::record_precision(c.bound, st.w, (c.caps & kCapPackedRecords) != 0);
      }
      st.use_dedup = (c.caps & kCapDedup) != 0 && g.n_full_units >= 2;
      st.table = c.table;
      st.table_rel = c.table_rel;
      st.row_elems = c.row_elems;
      st.start_col = c.start_col;
      st.n_tables = c.n_tables;
      if (!c.staged) {  // version 1: its bound only
        st.quantized = c.lossy_candidate;
        st.use_dedup = 0;
      }
    } else if constexpr (P == 1) {
      // Clear the chunk's dedup table and source bitmap, and its tables' stats.
      if (!st.quantized) return;
      for (uint32_t k = th; st.table != kTableNone && k < st.n_tables; k += kCtaThreads) {
        sl.tab_mn[k] = 0xffffffffu;
        sl.tab_mx[k] = 0;
        sl.tab_fin[k] = 0;
      }
      if (!c.staged) return;
      if (st.use_dedup) {
        const uint64_t cap = a.arena.shape.table_cap;
        for (uint64_t i = th; i < cap; i += kCtaThreads) {
          sl.table_keys[i] = 0;
          sl.table_vals[i] = 0xffffffffu;
        }
      }
      for (uint64_t i = th; i < ceil_div(st.n_units, 32) + 1; i += kCtaThreads)
        sl.src_bitmap[i] = 0;
    } else if constexpr (P == 2) {
      // Per block: statistics (frame-level partials per thread); per full unit: its key.
      s.mn[th] = pos_inf();
      s.mx[th] = neg_inf();
      s.e0[th] = 0;
      s.width_top[th] = 0;
      if (!st.quantized) return;
      if (st.table != kTableNone) {
        // Each table's range in the frame (the table quantizer decides from it in either mode).
        fold_table_stats(st, c, sl, aligned, th);
      } else if (st.local || st.mode == (uint8_t)BoundMode::kRel) {
        float mn = pos_inf(), mx = neg_inf();
        uint32_t e0 = 0, width_top = 0;
        // local::frame_code_width's count, of frames of blocks with one bound.
        const bool sample_width =
            st.local && local::samples_width(st.dtype, st.rlog, st.local_bounds != 0, st.caps,
                                             st.rans_min_gain);
        double min_bound = st.bound;
        if (st.local_bounds) min_bound = (double)pos_inf();
        for (uint64_t b = th; b < st.n_blocks; b += kCtaThreads) {
          local::BlockStats bs{pos_inf(), neg_inf(), false, true, 0};
          const uint64_t first = b * kBlockElems;
          const uint64_t last = first + kBlockElems < st.n ? first + kBlockElems : st.n;
          for (uint64_t i = first; i < last; ++i) {
            const float x = widen(st.dtype, load_elem_bits(c.src + i * st.es, st.es, aligned));
            if (!is_finite(x)) continue;
            const uint32_t bits = quant::float_to_bits(x);
            if (!bs.has_finite) {
              bs.same_bits = bits;
            } else if (bits != bs.same_bits) {
              bs.all_same = false;
            }
            bs.has_finite = true;
            bs.mn = quant::min_total(bs.mn, x);
            bs.mx = quant::max_total(bs.mx, x);
          }
          if (!bs.has_finite) bs.all_same = false;
          sl.stats[b] = bs;
          if (bs.has_finite) {
            // min_total / max_total are associative and commutative: any order of the
            // partials gives the bits of the CPU backend's loop.
            mn = quant::min_total(mn, bs.mn);
            mx = quant::max_total(mx, bs.mx);
          }
          double bound = st.bound;
          if (st.local_bounds) {  // the smallest of the block's tables' bounds
            bound = table::span_bound(c.table_end, c.table_bounds, st.n_tables, st.row_elems,
                                      st.start_col, first, last - first);
            sl.bound[b] = bound;
            min_bound = table::min_bound(min_bound, bound);
          }
          if (st.local && st.rlog == 0) {  // row records: their merged stats, phase 3
            const uint32_t e = local::wanted_step_bits(bs, bound) >> 23;
            e0 = e > e0 ? e : e0;
          }
          if (sample_width && b % local::kWidthSample == 0) {
            width_top +=
                local::width_votes(st.dtype, bs, st.bound, st.w, last - first, [&](uint64_t i) {
                  return widen(st.dtype,
                               load_elem_bits(c.src + (first + i) * st.es, st.es, aligned));
                });
          }
        }
        s.mn[th] = mn;
        s.mx[th] = mx;
        s.e0[th] = e0;
        s.width_top[th] = width_top;
        s.tb[th][0] = min_bound;
      }
      if (st.use_dedup) {
        const uint32_t ub = kUnitElems * st.es;
        for (uint64_t u = th; u < st.n_full_units; u += kCtaThreads)
          sl.unit_key[u] = dedup::table_key(dedup::unit_hash(c.src + u * ub, ub));
      }
    } else if constexpr (P == 3) {
      // The frame's quantizer parameters (the CPU backend's choice). With tables: each table's
      // parameters (kTableQuant) or the frame's bound they fold to (kTableFold), in parallel,
      // with the smallest bounds per thread.
      if (!st.quantized) return;
      if (st.table != kTableNone) {
        double applied = pos_inf(), fold = pos_inf();
        for (uint32_t k = th; k < st.n_tables; k += kCtaThreads) {
          const table::Stats ts = table_stats(sl, k);
          const double b = c.table_bounds[k];
          if (st.table == kTableQuant) {
            sl.tparams[k] = table::decide(ts, table::abs_bound(ts, b, st.table_rel != 0));
            applied = table::min_bound(applied, b);
          } else {
            fold = table::min_bound(fold, table::frame_bound_of(ts, b, st.table_rel != 0));
          }
        }
        s.tb[th][0] = applied;
        s.tb[th][1] = fold;
        return;
      }
      if (th != 0) return;
      float mn = pos_inf(), mx = neg_inf();
      uint32_t e0 = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        mn = quant::min_total(mn, s.mn[k]);
        mx = quant::max_total(mx, s.mx[k]);
        e0 = s.e0[k] > e0 ? s.e0[k] : e0;
      }
      if (st.local) {
        // With the tables' bounds: the frame's width and applied bound from the smallest block
        // bound, each record's bound the smallest of its blocks' (the CPU encoder's).
        double applied = st.bound;
        if (st.local_bounds) {
          applied = (double)pos_inf();
          for (uint32_t k = 0; k < kCtaThreads; ++k)
            applied = table::min_bound(applied, s.tb[k][0]);
          st.w = local::code_width(applied);
          if (st.w == 0) {
            st.quantized = 0;
            return;
          }
          st.prec = local::record_precision(applied, st.w, (st.caps & kCapPackedRecords) != 0);
        }
        for (uint64_t r = 0; st.rlog > 0 && r < st.n_records; ++r) {
          double bound = st.bound;
          if (st.local_bounds) {
            bound = (double)pos_inf();
            for (uint64_t b = r << st.rlog; b < ((r + 1) << st.rlog) && b < st.n_blocks; ++b)
              bound = table::min_bound(bound, sl.bound[b]);
            sl.bound[r] = bound;  // r <= r << rlog: no block bound is read after it is overwritten
          }
          const uint32_t e = local::wanted_step_bits(
                                 local::record_stats(sl.stats, st.n_blocks, r, st.rlog), bound) >>
                             23;
          e0 = e > e0 ? e : e0;
        }
        // The CPU encoder's width rule, counted in phase 2.
        if (local::samples_width(st.dtype, st.rlog, st.local_bounds != 0, st.caps,
                                 st.rans_min_gain)) {
          uint64_t top = 0;
          for (uint32_t k = 0; k < kCtaThreads; ++k) top += s.width_top[k];
          const uint64_t n_sampled = ceil_div(st.n_blocks, local::kWidthSample);
          const uint32_t w = local::frame_code_width(st.w, top, n_sampled);
          if (w != st.w) {
            st.w = w;
            st.prec = local::record_precision(st.bound, w, (st.caps & kCapPackedRecords) != 0);
          }
        }
        st.e0 = e0 == 0 ? 1 : e0;  // every block is special: the reference is never used
        st.applied = applied;
      } else {
        double eb = st.bound;
        if (st.mode == (uint8_t)BoundMode::kRel)
          eb = mn <= mx ? quant::rel_to_abs_bound(st.bound, mn, mx) : 0.0;
        if (!quant::make_quant_params(eb, &st.qp)) {
          st.quantized = 0;
          return;
        }
        st.applied = eb;
      }
    } else if constexpr (P == 4) {
      // Tables: the smallest bounds (the frame's applied bound; kTableFold: its bound and
      // quantizer, as the global quantizer's of an abs frame).
      if (!st.quantized) return;
      if (st.table != kTableNone) {
        if (th != 0) return;
        double applied = pos_inf(), fold = pos_inf();
        for (uint32_t k = 0; k < kCtaThreads; ++k) {
          applied = table::min_bound(applied, s.tb[k][0]);
          fold = table::min_bound(fold, s.tb[k][1]);
        }
        if (st.table == kTableQuant) {
          st.applied = applied;
          return;
        }
        st.bound = fold;
        st.applied = fold;
        if (c.staged && !quant::make_quant_params(fold, &st.qp)) st.quantized = 0;
        return;
      }
      // The local records (one per block, or per row record), their parameters in each block.
      if (!st.local) return;
      for (uint64_t r = th; r < st.n_records; r += kCtaThreads) {
        const uint64_t b0 = r << st.rlog;
        local::decide(local::record_stats(sl.stats, st.n_blocks, r, st.rlog),
                      st.local_bounds ? sl.bound[r] : st.bound, st.e0, st.w, st.dtype, st.prec,
                      &sl.record[r], &sl.side[2 * r], &sl.params[b0]);
        for (uint64_t b = b0 + 1; b < ((r + 1) << st.rlog) && b < st.n_blocks; ++b)
          sl.params[b] = sl.params[b0];
      }
    } else if constexpr (P == 5) {
      // Every element quantized: codes, each unit's outliers and largest error (tables: and the
      // smallest check threshold of its elements' tables).
      if (!st.quantized) return;
      if (st.table == kTableQuant) {
        for (uint64_t u = th; u < st.n_units; u += kCtaThreads) {
          const uint64_t first = u * kUnitElems;
          const uint64_t count = unit_elems(st.n, u);
          ColumnWalk cw(c.table_end, st.n_tables, st.row_elems, st.start_col, first);
          uint32_t outl = 0;
          float emax = 0.0f, eb = pos_inf();
          for (uint64_t j = 0; j < count; ++j, cw.next()) {
            const table::Params& p = sl.tparams[cw.t];
            eb = p.eb_check < eb ? p.eb_check : eb;  // std::min's choice
            const float x =
                widen(st.dtype, load_elem_bits(c.src + (first + j) * st.es, st.es, aligned));
            uint32_t code;
            float err;
            const bool ok = table_code_of(st.dtype, x, p, &code, &err);
            note_element(ok, err, j, &outl, &emax);
            sl.codes[first + j] = code;
          }
          sl.unit_outliers[u] = outl;
          sl.unit_error[u] = emax;
          sl.unit_eb[u] = eb;
        }
        return;
      }
      for (uint64_t u = th; u < st.n_units; u += kCtaThreads) {
        const uint64_t first = u * kUnitElems;
        const uint64_t count = unit_elems(st.n, u);
        uint32_t outl = 0;
        float emax = 0.0f;
        for (uint64_t j = 0; j < count; ++j) {
          uint32_t code;
          float err;
          const bool ok = code_of(st, sl, c.src, aligned, first + j, &code, &err);
          note_element(ok, err, j, &outl, &emax);
          sl.codes[first + j] = code;
        }
        sl.unit_outliers[u] = outl;
        sl.unit_error[u] = emax;
      }
    } else if constexpr (P == 6) {
      // Deduplication table: the smallest unit index per key (atomicMin), so that the result
      // does not depend on scheduling.
      if (!st.quantized || !st.use_dedup) return;
      const uint64_t mask = a.arena.shape.table_cap - 1;
      for (uint64_t u = th; u < st.n_full_units; u += kCtaThreads) {
        const uint64_t key = sl.unit_key[u];
        for (uint64_t i = dedup::fmix64(key) & mask;; i = (i + 1) & mask) {
          const uint64_t prev = atomic_cas_u64(&sl.table_keys[i], 0, key);
          if (prev == 0 || prev == key) {
            atomic_min_u32(&sl.table_vals[i], (uint32_t)u);
            break;
          }
        }
      }
    } else if constexpr (P == 7) {
      // A unit refers to the first unit with its key when the bytes are equal and that unit's
      // reconstruction is within this unit's own bound (dedup.h's rule).
      if (!st.quantized) return;
      const uint64_t mask = a.arena.shape.table_cap - 1;
      const uint32_t ub = kUnitElems * st.es;
      for (uint64_t u = th; u < st.n_units; u += kCtaThreads) {
        int32_t ref = -1;
        if (st.use_dedup && u < st.n_full_units) {
          const uint64_t key = sl.unit_key[u];
          uint64_t i = dedup::fmix64(key) & mask;
          while (sl.table_keys[i] != key) i = (i + 1) & mask;
          const uint64_t first = sl.table_vals[i];
          if (first < u) {
            const float eb_check = st.local ? sl.params[u * kUnitElems / kBlockElems].eb_check
                                   : st.table == kTableQuant ? sl.unit_eb[u]
                                                             : st.qp.eb_check;
            if (dedup::same_bytes(c.src + first * ub, c.src + u * ub, ub) &&
                dedup::error_fits(sl.unit_error[first], eb_check))
              ref = (int32_t)first;
          }
        }
        sl.ref[u] = ref;
      }
    } else if constexpr (P == 8) {
      // Counts over contiguous shares: runs, coded units and elements, outliers (by units);
      // literal blocks and side entries (by blocks). Run sources go into the bitmap.
      for (int k = 0; k < kCounters; ++k) s.part[th][k] = 0;
      if (!st.quantized) return;
      const Span us = share(st.n_units, th);
      for (uint64_t u = us.begin; u < us.end; ++u) {
        const int32_t ref = sl.ref[u];
        if (ref >= 0) {
          if (!continues_run(sl, u)) {
            ++s.part[th][0];
            atomic_or_u32(&sl.src_bitmap[(uint32_t)ref / 32], 1u << ((uint32_t)ref % 32));
          }
          continue;
        }
        if (block_coded(st, sl, u * kUnitElems / kBlockElems)) {
          ++s.part[th][1];
          s.part[th][2] += unit_elems(st.n, u);
        }
        s.part[th][3] += popc(sl.unit_outliers[u]);
      }
      const Span rs = share(st.local ? st.n_records : st.n_blocks, th);
      for (uint64_t r = rs.begin; r < rs.end; ++r) {
        if (!record_has_literal(st, sl, r)) continue;
        ++s.part[th][4];
        if (st.local && local::has_side_entry(sl.params[r << st.rlog].kind)) ++s.part[th][5];
      }
    } else if constexpr (P == 9) {
      if (th != 0 || !st.quantized) return;
      uint64_t acc[kCounters] = {};
      for (uint32_t k = 0; k < kCtaThreads; ++k)
        for (int j = 0; j < kCounters; ++j) {
          s.base[k][j] = acc[j];
          acc[j] += s.part[k][j];
        }
      st.n_runs = acc[0];
      st.n_coded_units = acc[1];
      st.n_coded = acc[2];
      st.n_out = acc[3];
      st.n_lit_blocks = acc[4];
      st.n_side = acc[5];
    } else if constexpr (P == 10) {
      // Offsets: runs, coded units and their codes, outliers; records and side entries, and the
      // range of the thread's records (part[th][3], for packed records: phase 12).
      if (!st.quantized) return;
      uint64_t run = s.base[th][0], cu = s.base[th][1], ce = s.base[th][2], out = s.base[th][3];
      const Span us = share(st.n_units, th);
      for (uint64_t u = us.begin; u < us.end; ++u) {
        const int32_t ref = sl.ref[u];
        sl.unit_coded[u] = 0xffffffffu;
        sl.unit_out[u] = (uint32_t)out;
        if (ref >= 0) {
          if (!continues_run(sl, u)) {
            sl.run_dst[run] = (uint32_t)u;
            sl.run_src[run] = ref;
            ++run;
          }
          continue;
        }
        if (block_coded(st, sl, u * kUnitElems / kBlockElems)) {
          sl.unit_coded[u] = (uint32_t)ce;
          sl.coded_unit[cu++] = (uint32_t)u;
          ce += unit_elems(st.n, u);
        }
        out += popc(sl.unit_outliers[u]);
      }
      uint64_t rec = s.base[th][4], side = s.base[th][5];
      local::RecordRange range;
      const Span rs = share(st.local ? st.n_records : st.n_blocks, th);
      for (uint64_t r = rs.begin; r < rs.end; ++r) {
        sl.block_rec[r] = 0xffffffffu;
        sl.block_side[r] = 0xffffffffu;
        if (st.local) local::add_record(&range, sl.record[r]);
        if (!record_has_literal(st, sl, r)) continue;
        sl.block_rec[r] = (uint32_t)rec++;
        if (st.local && local::has_side_entry(sl.params[r << st.rlog].kind))
          sl.block_side[r] = (uint32_t)side++;
      }
      s.part[th][3] = local::range_word(range);
    } else if constexpr (P == 11) {
      // Run lengths; per-thread counts of the source bitmap.
      s.part[th][0] = 0;
      if (!st.quantized) return;
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads) {
        const uint64_t u = sl.run_dst[k];
        uint32_t len = 1;
        while (u + len < st.n_full_units && continues_run(sl, u + len)) ++len;
        sl.run_len[k] = len;
      }
      const Span ws = share(ceil_div(st.n_units, 32) + 1, th);
      uint64_t cnt = 0;
      for (uint64_t i = ws.begin; i < ws.end; ++i) cnt += popc(sl.src_bitmap[i]);
      s.part[th][0] = cnt;
    } else if constexpr (P == 12) {
      if (th != 0 || !st.quantized) return;
      uint64_t acc = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        s.base[k][0] = acc;
        acc += s.part[k][0];
      }
      st.n_sources = acc;
      // Packed local records (local_packed.h): the layout of the records' range.
      st.packed = 0;
      if (st.local && (st.caps & kCapPackedRecords) != 0) {
        local::RecordRange range;
        for (uint32_t k = 0; k < kCtaThreads; ++k)
          range = local::merge(range, local::range_of_word(s.part[k][3]));
        st.packed_layout = local::packed_layout(range, st.prec);
        st.packed = local::use_packed(st.packed_layout, st.n_lit_blocks);
      }
    } else if constexpr (P == 13) {
      // Source ranks and the increasing source list; gaps, the widest fields and their OR.
      s.max_gap[th] = 0;
      s.max_len[th] = 1;
      s.steps_or[th] = 0;
      if (!st.quantized) return;
      const Span ws = share(ceil_div(st.n_units, 32) + 1, th);
      uint64_t rank = s.base[th][0];
      for (uint64_t i = ws.begin; i < ws.end; ++i) {
        sl.src_rank[i] = (uint32_t)rank;
        uint32_t bits = sl.src_bitmap[i];
        while (bits) {
          const uint32_t j = ffs32(bits);
          bits &= bits - 1;
          sl.sources[rank++] = (int64_t)(i * 32 + j);
        }
      }
      uint32_t mg = 0, ml = 1, so = 0;
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads) {
        const uint32_t prev_end = k > 0 ? sl.run_dst[k - 1] + sl.run_len[k - 1] : 0;
        sl.run_gap[k] = sl.run_dst[k] - prev_end;
        mg = sl.run_gap[k] > mg ? sl.run_gap[k] : mg;
        ml = sl.run_len[k] > ml ? sl.run_len[k] : ml;
        so |= sl.run_gap[k] | sl.run_len[k];
      }
      s.max_gap[th] = mg;
      s.max_len[th] = ml;
      s.steps_or[th] = so;
    } else if constexpr (P == 14) {
      // Source index of each run; varint bytes of the source list; with kCapDedupGolomb, the
      // thread's runs' Exp-Golomb costs at each order (dedup::add_golomb_costs, in steps of the
      // frame's step: every thread ORs the threads' steps_or), two 32-bit sums in each of
      // part[th][2 .. 5] (a thread's runs' codes take fewer than 2^27 bits).
      s.part[th][1] = 0;
      if (!st.quantized) return;
      uint64_t cost[2 * dedup::kGolombOrders] = {};
      const bool golomb = (st.caps & kCapDedupGolomb) != 0 && st.n_runs > 0;
      uint32_t step_log2 = 0;
      if (golomb) {
        uint32_t so = 0;
        for (uint32_t k = 0; k < kCtaThreads; ++k) so |= s.steps_or[k];
        step_log2 = dedup::bits_for(dedup::step_for(so, (st.caps & kCapDedupStep) != 0)) - 1;
      }
      for (uint64_t k = th; k < st.n_runs; k += kCtaThreads) {
        const uint32_t src = (uint32_t)sl.run_src[k];
        sl.run_idx[k] =
            sl.src_rank[src / 32] + popc(sl.src_bitmap[src / 32] & ((1u << (src % 32)) - 1u));
        if (golomb)
          dedup::add_golomb_costs(sl.run_gap[k] >> step_log2, (sl.run_len[k] >> step_log2) - 1,
                                  cost);
      }
      for (uint32_t k = 0; k < dedup::kGolombOrders; ++k)
        s.part[th][2 + k] = cost[k] | cost[dedup::kGolombOrders + k] << 32;
      uint64_t bytes = 0;
      for (uint64_t k = th; k < st.n_sources; k += kCtaThreads)
        bytes += varint::size(k == 0 ? dedup::zigzag64(sl.sources[0])
                                     : (uint64_t)(sl.sources[k] - sl.sources[k - 1] - 1));
      s.part[th][1] = bytes;
    } else if constexpr (P == 15) {
      // Section sizes that do not depend on the coder.
      if (th != 0 || !st.quantized) return;
      uint32_t mg = 0, ml = 1, so = 0;
      uint64_t src_bytes = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        mg = s.max_gap[k] > mg ? s.max_gap[k] : mg;
        ml = s.max_len[k] > ml ? s.max_len[k] : ml;
        so |= s.steps_or[k];
        src_bytes += s.part[k][1];
      }
      st.dedup_bytes = 0;
      if (st.n_runs > 0) {
        st.layout = dedup::layout_for(mg, st.n_sources, ml,
                                      dedup::step_for(so, (st.caps & kCapDedupStep) != 0));
        uint64_t cost[2 * dedup::kGolombOrders] = {};
        for (uint32_t j = 0; j < kCtaThreads; ++j)
          for (uint32_t k = 0; k < dedup::kGolombOrders; ++k) {
            cost[k] += s.part[j][2 + k] & 0xffffffffu;
            cost[dedup::kGolombOrders + k] += s.part[j][2 + k] >> 32;
          }
        st.layout =
            dedup::choose_layout(st.layout, st.n_runs, cost, (st.caps & kCapDedupGolomb) != 0);
        st.sources_bytes = src_bytes;
        st.dedup_bytes = dedup::head_bytes(st.n_runs, st.n_sources, st.layout) + src_bytes +
                         dedup::record_stream_bytes(st.layout, st.n_runs);
      }
      st.quant_bytes = st.local
                           ? local::kQuantHeaderBytes +
                                 (st.packed ? local::packed_bytes(st.packed_layout, st.n_lit_blocks)
                                            : local::fixed_bytes(st.n_lit_blocks)) +
                                 st.n_side * local::kSideBytes
                       : st.table == kTableQuant ? table::section_bytes(st.n_tables)
                                                 : 0;
      st.outlier_bytes = 4 + st.n_out * (4 + st.es);
      st.n_groups = ceil_div(st.n_coded, kGroupCodes);
      st.n_rounds = ceil_div(st.n_coded, rans::kLanes);
      st.seg_symbols = rans::segment_symbols(st.n_coded, (st.caps & kCapRansLongSegments) != 0);
      st.n_seg = rans::segments_for(st.n_coded, st.seg_symbols);
    } else if constexpr (P == 16) {
      // The fixed coder's widths (global: of the OR of each group of 32 codes), over
      // contiguous shares of the groups.
      s.part[th][0] = 0;
      s.or_codes[th] = 0;
      if (!st.quantized) return;
      const Span gs = share(st.n_groups, th);
      uint32_t or_all = 0;
      uint64_t sum = 0;
      for (uint64_t gi = gs.begin; gi < gs.end; ++gi) {
        uint32_t any = 0;
        const uint64_t first = gi * kGroupCodes;
        const uint64_t last = first + kGroupCodes < st.n_coded ? first + kGroupCodes : st.n_coded;
        for (uint64_t k = first; k < last; ++k) any |= sl.codes[element_of_coded(sl, k)];
        const uint32_t width = st.local ? st.w : quant::code_width(any);
        sl.group_width[gi] = (uint8_t)width;
        sum += width;
        or_all |= any;
      }
      s.part[th][0] = sum;
      s.or_codes[th] = or_all;
    } else if constexpr (P == 17) {
      if (th != 0) return;
      for (uint32_t k = 0; k < rans::kMaxSymbols; ++k) s.hist[k] = 0;
      s.max_sym = 0;
      if (!st.quantized) return;
      uint32_t or_all = 0;
      uint64_t sum = 0;
      for (uint32_t k = 0; k < kCtaThreads; ++k) {
        s.base[k][0] = sum;
        sum += s.part[k][0];
        or_all |= s.or_codes[k];
      }
      st.fixed_bytes = st.local ? st.n_groups * 4 * st.w : st.n_groups + 4 * sum;
      st.max_code = st.local ? (1u << st.w) - 1u : or_all;
      const uint32_t bits = quant::code_width(st.max_code);
      st.shift = bits > 8 ? bits - 8 : 0;
      // No symbols nor sample when even saving every fixed byte would not pay on this link
      // (rans::gain_can_pay, as the CPU encoder).
      st.try_rans = (st.caps & kCapRans) != 0 && st.n_coded > 0 &&
                    rans::gain_can_pay(st.fixed_bytes, st.n_coded, st.rans_min_gain);
    } else if constexpr (P == 18) {
      // Plane words before each group; the symbols, the sample's histogram (rans.h's in_sample)
      // and the largest symbol; cleared emit masks.
      if (!st.quantized) return;
      const Span gs = share(st.n_groups, th);
      uint64_t words = s.base[th][0];
      for (uint64_t gi = gs.begin; gi < gs.end; ++gi) {
        sl.group_word[gi] = words;
        words += sl.group_width[gi];
      }
      if (!st.try_rans) return;
      uint32_t max_sym = 0;
      for (uint64_t k = th; k < st.n_coded; k += kCtaThreads) {
        const uint32_t sym = sl.codes[element_of_coded(sl, k)] >> st.shift;
        sl.sym[k] = (uint8_t)sym;
        if (rans::in_sample(k)) atomic_add_u32(&s.hist[sym], 1);
        max_sym = sym > max_sym ? sym : max_sym;
      }
      atomic_max_u32(&s.max_sym, max_sym);
      for (uint64_t r = th; r < st.n_rounds; r += kCtaThreads) sl.emit[r] = 0;
    } else if constexpr (P == 19) {
      // Whether coding is worth it, estimated from the sample (the CPU backend's estimate), and
      // the table from the same sample (rans::table_from_sample).
      if (th != 0 || !st.quantized || !st.try_rans) return;
      if (!rans::gain_pays(
              rans::estimated_bytes(s.hist, rans::kMaxSymbols, rans::sample_size(st.n_coded),
                                    st.n_coded, st.shift, st.seg_symbols),
              st.fixed_bytes, st.n_coded, st.rans_min_gain)) {
        st.try_rans = 0;
        return;
      }
      st.n_sym = rans::table_from_sample(s.hist, s.max_sym, st.hist, st.freq, st.cum);
    } else if constexpr (P == 20) {
      // rANS: a thread per (segment, lane) codes the lane's symbols backwards (rans_lanes.h).
      if (!st.quantized || !st.try_rans) return;
      for (uint64_t j = th; j < st.n_seg * rans::kLanes; j += kCtaThreads) {
        const uint64_t seg = j / rans::kLanes;
        const uint32_t lane = (uint32_t)(j % rans::kLanes);
        const uint64_t first = seg * st.seg_symbols;
        const uint32_t count = rans::segment_count(st.n_coded, st.seg_symbols, seg);
        sl.seg_states[seg * rans::kLanes + lane] =
            encode_lane(sl.sym + first, count, lane, st.freq, st.cum, sl.words + first,
                        sl.emit + first / rans::kLanes);
      }
    } else if constexpr (P == 21) {
      // Per segment: words, and the emission index of each round's first word.
      if (!st.quantized || !st.try_rans) return;
      for (uint64_t seg = th; seg < st.n_seg; seg += kCtaThreads) {
        const uint64_t seg_rounds = st.seg_symbols / rans::kLanes;
        const uint64_t r0 = seg * seg_rounds;
        const uint64_t r1 = r0 + seg_rounds < st.n_rounds ? r0 + seg_rounds : st.n_rounds;
        sl.seg_words[seg] = number_rounds(sl.emit + r0, r1 - r0, sl.round_first + r0);
      }
    } else {
      // The frame's size: the smaller coder, or the raw frame.
      if (th != 0) return;
      const uint64_t raw_size = kFrameHeaderBytes + c.bytes;
      gpu::FrameResult fr{};
      fr.bytes = raw_size;
      fr.method = (uint8_t)FrameMethod::kRaw;
      st.raw = 1;
      st.frame_bytes = raw_size;
      if (st.quantized) {
        st.use_rans = 0;
        st.code_bytes = st.fixed_bytes;
        if (st.try_rans) {
          uint64_t bytes = 1 + rans::table_bytes(st.freq, st.n_sym) + 4 * st.n_seg;
          for (uint64_t seg = 0; seg < st.n_seg; ++seg) {
            sl.seg_off[seg] = bytes;
            bytes += rans::segment_bytes(sl.seg_words[seg]);
          }
          bytes += rans::packed_bytes(st.n_coded, st.shift);
          st.rans_bytes = bytes;
          if (bytes < st.fixed_bytes) {
            st.use_rans = 1;
            st.code_bytes = bytes;
          }
        }
        const uint64_t total = staged::kPayloadOffset + st.dedup_bytes + st.quant_bytes +
                               st.code_bytes + st.outlier_bytes + st.tail;
        const uint64_t u32_max = 0xffffffffull;
        if (total < raw_size && st.dedup_bytes <= u32_max && st.quant_bytes <= u32_max &&
            st.code_bytes <= u32_max && st.outlier_bytes <= u32_max) {
          st.raw = 0;
          st.frame_bytes = total;
          fr.bytes = total;
          fr.method = (uint8_t)FrameMethod::kStaged;
          fr.outliers = st.n_out;
          fr.applied_bound = st.applied;
        }
      }
      a.results[t.tile] = fr;  // FramesKernel places it
    }
  }
};

// Bit `bit` of the dedup record stream.
SQZ_HD uint32_t record_bit(const StagedState& st, const StagedSlot& sl, uint64_t bit) {
  const dedup::Layout& l = st.layout;
  const uint64_t k = bit / l.record_bits;
  uint32_t f = (uint32_t)(bit % l.record_bits);
  uint64_t fields[3];
  dedup::record_fields(l, sl.run_gap[k], sl.run_idx[k], sl.run_len[k], fields);
  uint64_t v;
  if (f < l.gap_bits) {
    v = fields[0];
  } else if (f < l.gap_bits + l.idx_bits) {
    f -= l.gap_bits;
    v = fields[1];
  } else {
    f -= l.gap_bits + l.idx_bits;
    v = fields[2];
  }
  return (uint32_t)(v >> f) & 1u;
}

struct StagedWriteKernel {
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
    const CompressChunkDesc& c = a.chunks[t.tile];
    if (!c.staged) return;
    const StagedState& st = a.staged[t.tile];
    const StagedSlot sl = slot_at(a.arena, t.tile);
    const uint32_t th = t.thread;
    uint8_t* frame = a.dst + a.results[t.tile].offset;
    if (st.raw) {
      if constexpr (P == 0) {
        if (th == 0)
          staged::write_raw_header(c.dtype, c.mode != (uint8_t)BoundMode::kAbs ? kFlagRelBound : 0,
                                   c.bytes, frame);
      } else {
        for (uint64_t i = th; i < c.bytes; i += kCtaThreads)
          frame[kFrameHeaderBytes + i] = c.src[i];
      }
      return;
    }
    const StagedOffsets o = offsets_of(st);
    if constexpr (P == 0) {
      // Header, directory and the sections' heads.
      if (th != 0) return;
      staged::Header h;
      h.dtype = c.dtype;
      h.flags = c.mode != (uint8_t)BoundMode::kAbs ? kFlagRelBound : 0;
      h.original_bytes = c.bytes;
      h.frame_bytes = st.frame_bytes;
      const bool tables = st.table == kTableQuant;
      h.quant = (uint8_t)(st.local ? StagedQuant::kLocal
                          : tables ? StagedQuant::kTable
                                   : StagedQuant::kGlobal);
      h.coder = (uint8_t)(st.use_rans ? StagedCoder::kRans : StagedCoder::kFixed);
      h.dedup = (uint8_t)(st.n_runs > 0 ? StagedDedup::kFrame : StagedDedup::kNone);
      h.step = st.local || tables ? 0.0f : st.qp.step;
      h.applied_bound = st.applied;
      h.stream_unit = 0;
      h.section[(int)StagedSection::kDedup] = (uint32_t)st.dedup_bytes;
      h.section[(int)StagedSection::kQuant] = (uint32_t)st.quant_bytes;
      h.section[(int)StagedSection::kCodes] = (uint32_t)st.code_bytes;
      h.section[(int)StagedSection::kOutliers] = (uint32_t)st.outlier_bytes;
      h.section[(int)StagedSection::kTail] = (uint32_t)st.tail;
      staged::write(h, frame);
      if (st.n_runs > 0)
        dedup::write_head(frame + o.dedup, st.n_runs, sl.sources, st.n_sources, st.layout);
      if (st.local) {
        uint8_t* q = frame + o.quant;
        q[0] = (uint8_t)st.e0;
        q[1] = (uint8_t)st.w;
        q[2] = st.rlog;
        q[3] = st.packed ? local::kRecordsPacked : local::kRecordsFixed;
        if (st.packed) local::write_packed_head(st.packed_layout, q + local::kQuantHeaderBytes);
      }
      if (tables) table::write_header(frame + o.quant, st.row_elems, st.start_col, st.n_tables);
      if (st.use_rans) {
        uint8_t* p = frame + o.codes;
        *p++ = rans::shift_byte(st.shift, st.seg_symbols);
        p += rans::write_table(st.freq, st.n_sym, p);
        for (uint64_t seg = 0; seg < st.n_seg; ++seg)
          block::store_le32(p + 4 * seg, sl.seg_words[seg]);
      }
      block::store_le32(frame + o.outliers, (uint32_t)st.n_out);
      for (uint64_t i = 0; i < st.tail; ++i) frame[o.tail + i] = c.src[st.n * st.es + i];
      return;
    }
    // P == 1: the sections' bulk, in parallel. Table entries; block records and side entries.
    if (st.table == kTableQuant) {
      for (uint32_t k = th; k < st.n_tables; k += kCtaThreads)
        table::write_entry(frame + o.quant, k, c.table_end[k] - (k > 0 ? c.table_end[k - 1] : 0),
                           sl.tparams[k]);
    }
    if (st.local) {
      // Packed records: each thread the bytes that begin in its share of the records (whose
      // literal indices phase 10 numbered in a row); 3-byte ones a record per thread.
      uint8_t* rec = frame + o.quant + local::kQuantHeaderBytes;
      uint8_t* side = rec + local::fixed_bytes(st.n_lit_blocks);
      if (st.packed) {
        const uint64_t bytes = local::packed_bytes(st.packed_layout, st.n_lit_blocks);
        rec += local::kPackedHeadBytes;
        side = rec + (bytes - local::kPackedHeadBytes);
        const Span rs = share(st.n_records, th);
        uint64_t r0 = rs.begin, r1 = rs.end;
        while (r0 < r1 && sl.block_rec[r0] == 0xffffffffu) ++r0;
        while (r1 > r0 && sl.block_rec[r1 - 1] == 0xffffffffu) --r1;
        if (r0 < r1) {
          uint64_t r = r0;  // the next record's, past the share for the last byte's bits
          local::write_packed_bytes(rec, st.packed_layout.record_bits, sl.block_rec[r0],
                                    (uint64_t)sl.block_rec[r1 - 1] + 1, st.n_lit_blocks, [&]() {
                                      while (sl.block_rec[r] == 0xffffffffu) ++r;
                                      return local::packed_fields(st.packed_layout, sl.record[r++]);
                                    });
        }
      }
      for (uint64_t r = th; r < st.n_records; r += kCtaThreads) {
        if (sl.block_rec[r] == 0xffffffffu) continue;
        if (!st.packed)
          local::store_record(rec + (uint64_t)sl.block_rec[r] * local::kRecordBytes, sl.record[r]);
        if (sl.block_side[r] != 0xffffffffu) {
          uint8_t* e = side + (uint64_t)sl.block_side[r] * local::kSideBytes;
          block::store_le32(e, sl.side[2 * r]);
          block::store_le32(e + 4, sl.side[2 * r + 1]);
        }
      }
    }
    // Dedup records: Exp-Golomb records in order by one thread (each starts where the previous
    // one ends), fixed ones a byte per thread (neighbouring records share bytes).
    if (st.n_runs > 0 && st.layout.golomb) {
      if (th == 0) {
        const uint64_t bytes = dedup::record_stream_bytes(st.layout, st.n_runs);
        uint8_t* records = frame + o.dedup_records;
        for (uint64_t i = 0; i < bytes; ++i) records[i] = 0;
        uint64_t bit = 0;
        for (uint64_t k = 0; k < st.n_runs; ++k)
          dedup::write_run(records, bytes, &bit, st.layout, sl.run_gap[k], sl.run_idx[k],
                           sl.run_len[k]);
      }
    } else if (st.n_runs > 0) {
      const uint64_t bits = st.n_runs * st.layout.record_bits;
      for (uint64_t j = th; j < (bits + 7) / 8; j += kCtaThreads) {
        uint32_t v = 0;
        for (uint32_t i = 0; i < 8 && 8 * j + i < bits; ++i)
          v |= record_bit(st, sl, 8 * j + i) << i;
        frame[o.dedup_records + j] = (uint8_t)v;
      }
    }
    // Outliers of the literal units.
    {
      uint8_t* idx = frame + o.outliers + 4;
      uint8_t* val = idx + 4 * st.n_out;
      for (uint64_t u = th; u < st.n_units; u += kCtaThreads) {
        if (sl.ref[u] >= 0) continue;
        uint32_t m = sl.unit_outliers[u];
        uint64_t pos = sl.unit_out[u];
        while (m) {
          const uint32_t j = ffs32(m);
          m &= m - 1;
          const uint64_t e = u * kUnitElems + j;
          block::store_le32(idx + 4 * pos, (uint32_t)e);
          copy_bytes(val + pos * st.es, c.src + e * st.es, st.es);
          ++pos;
        }
      }
    }
    if (!st.use_rans) {
      // Fixed coder: a thread per group of 32 codes packs its planes (block.h's pack_planes).
      uint8_t* widths = frame + o.codes;
      uint8_t* planes = st.local ? widths : widths + st.n_groups;
      for (uint64_t gi = th; gi < st.n_groups; gi += kCtaThreads) {
        uint32_t group[kGroupCodes];
        const uint64_t first = gi * kGroupCodes;
        for (uint32_t k = 0; k < kGroupCodes; ++k)
          group[k] = first + k < st.n_coded ? sl.codes[element_of_coded(sl, first + k)] : 0u;
        const uint32_t width = sl.group_width[gi];
        if (!st.local) widths[gi] = (uint8_t)width;
        block::pack_planes(group, width, planes + 4 * sl.group_word[gi]);
      }
      return;
    }
    // rANS: states; each emitted word at its place in the decoder's order (rans_lanes.h).
    for (uint64_t j = th; j < st.n_seg * rans::kLanes; j += kCtaThreads) {
      const uint64_t seg = j / rans::kLanes;
      block::store_le32(frame + o.codes + sl.seg_off[seg] + 4 * (j % rans::kLanes),
                        sl.seg_states[j]);
    }
    for (uint64_t k = th; k < st.n_coded; k += kCtaThreads) {
      const uint64_t seg = k / st.seg_symbols;
      const uint64_t r0 = seg * (st.seg_symbols / rans::kLanes);
      uint32_t pos;
      if (word_slot(sl.emit + r0, sl.round_first + r0, sl.seg_words[seg],
                    (uint32_t)(k - seg * st.seg_symbols), &pos))
        block::store_le16(frame + o.codes + sl.seg_off[seg] + rans::kStateBytes + 2ull * pos,
                          sl.words[k]);
    }
    // The raw low bits, a byte per thread.
    if (st.shift > 0) {
      uint8_t* low = frame + o.codes + st.rans_bytes - rans::packed_bytes(st.n_coded, st.shift);
      const uint64_t total_bits = st.n_coded * st.shift;
      for (uint64_t j = th; j < (total_bits + 7) / 8; j += kCtaThreads) {
        uint32_t v = 0;
        for (uint32_t i = 0; i < 8 && 8 * j + i < total_bits; ++i) {
          const uint64_t bit = 8 * j + i;
          const uint32_t code = sl.codes[element_of_coded(sl, bit / st.shift)];
          v |= ((code >> (bit % st.shift)) & 1u) << i;
        }
        low[j] = (uint8_t)v;
      }
    }
  }
};

}  // namespace squeeze::kern
