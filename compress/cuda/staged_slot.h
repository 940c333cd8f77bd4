// Per-chunk scratch of the staged (version 2) kernels: one slot of device memory per chunk of a
// batch, carved out of one arena that create_context() allocates for the context's largest
// chunk (the CPU runner carves the same layout out of a host vector). Nothing is allocated per
// batch. The per-chunk decisions and counts live in a StagedState.
#pragma once

#include <cstdint>

#include "compress/cuda/kernel_model.h"
#include "compress/format/staged.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/planes.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/quant.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::kern {

// Element, unit, block, group, round and segment counts of a slot for chunks (or decoded
// frames) of at most max_bytes.
struct SlotShape {
  uint64_t elems;  // most elements (2-byte types)
  uint64_t units;
  uint64_t blocks;
  uint64_t groups;
  uint64_t rounds;  // rANS rounds of 32 symbols
  uint64_t segments;
  uint64_t bitmap_words;
  uint64_t table_cap;  // power of two >= 2 * units
  // The planes kernels (planes_compress.h, planes_decode.h): es planes of n bytes hold at most
  // max_bytes symbols; each plane's rounds and segments are counted from its own start, so the
  // planes together need up to kMaxPlanes more of each than max_bytes symbols in one stream.
  uint64_t plane_bytes;
  uint64_t plane_rounds;
  uint64_t plane_segments;
};

SQZ_HD SlotShape slot_shape(uint64_t max_bytes) {
  SlotShape s;
  s.elems = max_bytes / 2;
  s.units = ceil_div(s.elems, kUnitElems);
  s.blocks = ceil_div(s.elems, kBlockElems);
  s.groups = ceil_div(s.elems, kGroupCodes);
  s.rounds = ceil_div(s.elems, rans::kLanes);
  s.segments = ceil_div(s.elems, rans::kSegmentSymbols);
  s.bitmap_words = ceil_div(s.units, 32) + 1;
  s.table_cap = 64;
  while (s.table_cap < 2 * s.units) s.table_cap <<= 1;
  s.plane_bytes = max_bytes;
  s.plane_rounds = ceil_div(max_bytes, rans::kLanes) + planes::kMaxPlanes;
  s.plane_segments = rans::segments_for(max_bytes) + planes::kMaxPlanes;
  return s;
}

// One chunk's scratch arrays (device pointers; host pointers in the CPU runner). "enc" arrays are
// used by compress only, "dec" by decompress only.
struct StagedSlot {
  local::BlockStats* stats;    // [blocks] enc
  local::BlockParams* params;  // [blocks] block parameters (decode: of literal blocks too)
  uint32_t* record;            // [blocks] enc: the block's 24-bit record
  uint32_t* side;              // [2 * blocks] enc: its side entry
  uint32_t*
      block_rec;  // [blocks] record index of a literal record (indexed by record), ~0 otherwise
  uint32_t* block_side;  // [blocks] side entry index of a record, ~0 when it has none
  double* bound;    // [blocks] enc, local mode with the tables' bounds: each block's bound (phase
                    // 2), then record r's at index r (phase 3; r <= its first block r << rlog)
  uint32_t* codes;  // [elems] enc: per element; dec: per coded index
  uint8_t* sym;     // [elems] rANS symbol per coded index
  uint16_t* words;  // [elems] enc: the rANS word emitted while coding symbol k
  uint32_t* unit_outliers;  // [units] enc: bit j = element j of the unit is an outlier
  uint64_t* unit_key;       // [units] enc: dedup table key
  float* unit_error;        // [units] enc: largest reconstruction error of the unit
  int32_t* ref;             // [units] enc: source unit of a reference, -1 for a literal
  uint8_t* literal;         // [units] dec: 1 for a literal unit
  uint32_t* unit_coded;     // [units] first coded index of the unit's codes, ~0 without
  uint32_t* unit_out;       // [units] enc: first outlier index of the unit
  uint32_t* coded_unit;     // [units] the units with codes, in order
  uint32_t* run_dst;        // [units] per run
  int64_t* run_src;         // [units]
  uint32_t* run_len;        // [units]
  uint32_t* run_gap;        // [units]
  uint32_t* run_idx;        // [units] index into the source list
  int64_t* sources;         // [units] distinct run sources, increasing
  uint32_t* src_bitmap;     // [bitmap_words] enc: run sources, one bit per unit
  uint32_t* src_rank;       // [bitmap_words] enc: sources before each word
  uint64_t* table_keys;     // [table_cap] enc: dedup table
  uint32_t* table_vals;     // [table_cap]
  uint8_t* group_width;     // [groups] fixed coder: width of each group of 32 codes
  uint64_t* group_word;     // [groups] plane words before the group
  uint32_t* emit;           // [rounds] enc: lanes that emitted a rANS word in the round
  uint32_t* round_first;    // [rounds] enc: emission index of the round's first word
  uint32_t* seg_words;      // [segments] rANS words per segment
  uint32_t* seg_states;     // [32 * segments] enc: final states
  uint64_t* seg_off;        // [segments] segment bytes from the codes section's start
  rans::Tables* tables;     // [1] dec
  // The table quantizer (kMaxTables entries each): each table's parameters; enc: its stats as
  // ordered keys (table_key) and whether it has a finite element; dec: the column after it.
  table::Params* tparams;
  uint32_t* tab_mn;
  uint32_t* tab_mx;
  uint32_t* tab_fin;
  uint32_t* tab_end;
  float* unit_eb;  // [units] enc, table quantizer: the smallest check threshold of its tables
  // Planes frames: plane p's entries start at p * n (symbols), p * PlanesState::rounds (rounds)
  // and p * PlanesState::segs (segments).
  uint8_t* pl_sym;           // [plane_bytes] the transformed planes (dec: of rANS planes)
  uint16_t* pl_words;        // [plane_bytes] enc: the rANS word emitted while coding symbol k
  uint32_t* pl_emit;         // [plane_rounds] enc: lanes that emitted a word in the round
  uint32_t* pl_round_first;  // [plane_rounds] enc: emission index of the round's first word
  uint32_t* pl_seg_words;    // [plane_segments] rANS words per segment
  uint32_t* pl_seg_states;   // [32 * plane_segments] enc: final states
  uint64_t* pl_seg_off;      // [plane_segments] segment bytes from the plane section's start
  rans::Tables* pl_tables;   // [kMaxPlanes] dec
};

// Lays the slot's arrays out from `base` (16-byte aligned each); returns the slot's bytes. With
// base 0 it only measures.
SQZ_HD uint64_t carve_slot(uintptr_t base, const SlotShape& s, StagedSlot* out) {
  uintptr_t p = base;
  auto take = [&p](uint64_t bytes) {
    const uintptr_t r = p;
    p += (bytes + 15) & ~(uint64_t)15;
    return r;
  };
  StagedSlot sl;
  sl.stats = (local::BlockStats*)take(sizeof(local::BlockStats) * s.blocks);
  sl.params = (local::BlockParams*)take(sizeof(local::BlockParams) * s.blocks);
  sl.record = (uint32_t*)take(4 * s.blocks);
  sl.side = (uint32_t*)take(8 * s.blocks);
  sl.block_rec = (uint32_t*)take(4 * s.blocks);
  sl.block_side = (uint32_t*)take(4 * s.blocks);
  sl.bound = (double*)take(8 * s.blocks);
  sl.codes = (uint32_t*)take(4 * s.elems);
  sl.sym = (uint8_t*)take(s.elems);
  sl.words = (uint16_t*)take(2 * s.elems);
  sl.unit_outliers = (uint32_t*)take(4 * s.units);
  sl.unit_key = (uint64_t*)take(8 * s.units);
  sl.unit_error = (float*)take(4 * s.units);
  sl.ref = (int32_t*)take(4 * s.units);
  sl.literal = (uint8_t*)take(s.units);
  sl.unit_coded = (uint32_t*)take(4 * s.units);
  sl.unit_out = (uint32_t*)take(4 * s.units);
  sl.coded_unit = (uint32_t*)take(4 * s.units);
  sl.run_dst = (uint32_t*)take(4 * s.units);
  sl.run_src = (int64_t*)take(8 * s.units);
  sl.run_len = (uint32_t*)take(4 * s.units);
  sl.run_gap = (uint32_t*)take(4 * s.units);
  sl.run_idx = (uint32_t*)take(4 * s.units);
  sl.sources = (int64_t*)take(8 * s.units);
  sl.src_bitmap = (uint32_t*)take(4 * s.bitmap_words);
  sl.src_rank = (uint32_t*)take(4 * s.bitmap_words);
  sl.table_keys = (uint64_t*)take(8 * s.table_cap);
  sl.table_vals = (uint32_t*)take(4 * s.table_cap);
  sl.group_width = (uint8_t*)take(s.groups);
  sl.group_word = (uint64_t*)take(8 * s.groups);
  sl.emit = (uint32_t*)take(4 * s.rounds);
  sl.round_first = (uint32_t*)take(4 * s.rounds);
  sl.seg_words = (uint32_t*)take(4 * s.segments);
  sl.seg_states = (uint32_t*)take(4 * rans::kLanes * s.segments);
  sl.seg_off = (uint64_t*)take(8 * s.segments);
  sl.tables = (rans::Tables*)take(sizeof(rans::Tables));
  sl.tparams = (table::Params*)take(sizeof(table::Params) * kMaxTables);
  sl.tab_mn = (uint32_t*)take(4 * kMaxTables);
  sl.tab_mx = (uint32_t*)take(4 * kMaxTables);
  sl.tab_fin = (uint32_t*)take(4 * kMaxTables);
  sl.tab_end = (uint32_t*)take(4 * kMaxTables);
  sl.unit_eb = (float*)take(4 * s.units);
  sl.pl_sym = (uint8_t*)take(s.plane_bytes);
  sl.pl_words = (uint16_t*)take(2 * s.plane_bytes);
  sl.pl_emit = (uint32_t*)take(4 * s.plane_rounds);
  sl.pl_round_first = (uint32_t*)take(4 * s.plane_rounds);
  sl.pl_seg_words = (uint32_t*)take(4 * s.plane_segments);
  sl.pl_seg_states = (uint32_t*)take(4 * rans::kLanes * s.plane_segments);
  sl.pl_seg_off = (uint64_t*)take(8 * s.plane_segments);
  sl.pl_tables = (rans::Tables*)take(sizeof(rans::Tables) * planes::kMaxPlanes);
  if (out) *out = sl;
  return (uint64_t)(p - base);
}

// The arena: n slots of slot_bytes each, back to back.
struct StagedArena {
  uint8_t* base;
  uint64_t slot_bytes;
  SlotShape shape;
};

SQZ_HD StagedArena make_arena(uint8_t* base, uint64_t max_chunk_bytes) {
  StagedArena a;
  a.base = base;
  a.shape = slot_shape(max_chunk_bytes);
  a.slot_bytes = carve_slot(0, a.shape, nullptr);
  return a;
}

SQZ_HD StagedSlot slot_at(const StagedArena& a, uint64_t i) {
  StagedSlot sl;
  carve_slot((uintptr_t)(a.base + i * a.slot_bytes), a.shape, &sl);
  return sl;
}

// Per chunk, what the planes kernels decided (compress) or parsed (decode).
struct PlanesState {
  planes::Layout l;  // es, n, tail, transform; each plane's mode, value, section offset, bytes
  uint8_t encode;    // compress: a planes frame is attempted (else the frame is raw)
  uint8_t raw;       // compress: the frame is raw
  uint64_t rounds;   // per plane: rANS rounds of 32 symbols
  uint64_t segs;     // per plane: rANS segments
  uint32_t n_sym[planes::kMaxPlanes];
  uint32_t freq[planes::kMaxPlanes][rans::kMaxSymbols];  // compress: each rANS plane's table
  uint32_t cum[planes::kMaxPlanes][rans::kMaxSymbols];
  uint64_t head[planes::kMaxPlanes];  // bytes of a rANS section's table and word counts
  // decode: per plane, how far its rANS section is well formed; decoding failures of segments
  uint8_t table_ok[planes::kMaxPlanes];
  uint8_t layout_ok[planes::kMaxPlanes];  // word counts, segment extents, no trailing bytes
  uint32_t valid_segs[planes::kMaxPlanes];
  uint32_t seg_failed[planes::kMaxPlanes];
};

// Per chunk: what the analysis decided and counted, read by the writer; or what the decoder
// parsed.
struct StagedState {
  // geometry and parameters
  uint64_t n, n_units, n_full_units, n_blocks, tail;
  uint32_t es;
  uint8_t dtype, mode, local, use_dedup;
  uint8_t rlog;        // local: blocks per record, log2
  uint64_t n_records;  // local: ceil(n_blocks / 2^rlog); records = blocks when rlog is 0
  uint32_t caps;
  uint32_t rans_min_gain;  // enc: CodecParams::rans_min_gain
  double bound;
  quant::QuantParams qp;
  double applied;
  uint32_t e0, w;
  // local: the records' precision (enc: local::record_precision), whether they are packed and
  // how (local_packed.h)
  local::RecordPrecision prec;
  uint8_t packed;
  local::PackedLayout packed_layout;
  uint8_t quantized;  // 0: the frame is raw (no quantizer, or not a float type)
  // A row layout's tables (CompressChunkDesc::table; dec: 1 for a kTable frame), their count and
  // the frame's first column.
  uint8_t table, table_rel;
  uint8_t local_bounds;  // CompressChunkDesc::local_bounds
  uint32_t row_elems, start_col, n_tables;
  // counts
  // n_lit_blocks: literal records (the blocks with a literal unit when rlog is 0)
  uint64_t n_runs, n_sources, n_lit_blocks, n_side, n_coded_units, n_coded, n_out, ref_units;
  dedup::Layout layout;
  uint64_t sources_bytes;  // varint bytes of the source list
  // coder
  uint32_t max_code, shift, n_sym;
  uint32_t hist[rans::kMaxSymbols];
  uint32_t freq[rans::kMaxSymbols];
  uint32_t cum[rans::kMaxSymbols];
  uint64_t fixed_bytes, rans_bytes, code_bytes;
  uint64_t n_groups, n_seg, n_rounds;
  uint32_t seg_symbols;  // rANS: symbols a segment (rans::segment_symbols)
  uint8_t try_rans, use_rans;
  // sections and the frame
  uint64_t dedup_bytes, quant_bytes, outlier_bytes, frame_bytes;
  uint8_t raw;  // a version 2 raw frame
  // decode
  staged::Header h;
  uint8_t active;  // a version 2 frame this kernel decodes
  uint8_t write;   // every check passed: write the destination
  uint8_t reject;  // staged::Reject of the first failed check
  uint32_t flag;   // set by parallel checks, turned into `reject` by the next serial phase
  int32_t status;
  uint8_t dst_aligned;
  // Planes chunks and frames (planes_compress.h, planes_decode.h): of the fields above they use
  // only the decode result's (active, status, reject, h.original_bytes, write).
  PlanesState pl;
};

// Offsets of a staged frame's sections (from the frame start).
struct StagedOffsets {
  uint64_t dedup, dedup_records, quant, codes, outliers, tail;
};

SQZ_HD StagedOffsets offsets_of(const StagedState& st) {
  StagedOffsets o;
  o.dedup = staged::kPayloadOffset;
  o.dedup_records =
      o.dedup + dedup::head_bytes(st.n_runs, st.n_sources, st.layout) + st.sources_bytes;
  o.quant = o.dedup + st.dedup_bytes;
  o.codes = o.quant + st.quant_bytes;
  o.outliers = o.codes + st.code_bytes;
  o.tail = o.outliers + st.outlier_bytes;
  return o;
}

// ---- helpers of both directions ----

struct Span {
  uint64_t begin, end;
};

// Thread t's contiguous share of n items (scans need contiguous ranges).
SQZ_HD Span share(uint64_t n, uint32_t t) {
  const uint64_t per = (n + kCtaThreads - 1) / kCtaThreads;
  uint64_t b = (uint64_t)t * per;
  if (b > n) b = n;
  const uint64_t e = b + per < n ? b + per : n;
  return Span{b, e};
}

SQZ_HD uint32_t ffs32(uint32_t v) {  // index of the lowest set bit (v != 0)
#if defined(__CUDA_ARCH__)
  return (uint32_t)__ffs(v) - 1;
#else
  return (uint32_t)__builtin_ctz(v);
#endif
}

SQZ_HD uint64_t unit_elems(uint64_t n, uint64_t u) {
  const uint64_t first = u * kUnitElems;
  return n - first < kUnitElems ? n - first : kUnitElems;
}

// The element of coded index k: the coded stream is the coded units' elements in order, and every
// coded unit but the frame's last (partial) one has kUnitElems of them.
SQZ_HD uint64_t element_of_coded(const StagedSlot& sl, uint64_t k) {
  return (uint64_t)sl.coded_unit[k / kUnitElems] * kUnitElems + k % kUnitElems;
}

// Walks the columns of consecutive elements from element `first` of a frame: col, its table t,
// and that table's end column.
struct ColumnWalk {
  const uint32_t* end;
  uint32_t row_elems, col, t, t_end;
  SQZ_HD ColumnWalk(const uint32_t* ends, uint32_t n_tables, uint32_t row, uint32_t start_col,
                    uint64_t first)
      : end(ends), row_elems(row) {
    col = (uint32_t)((start_col + first) % row);
    t = table::table_of(ends, n_tables, col);
    t_end = ends[t];
  }
  SQZ_HD void next() {
    if (++col == t_end) {
      if (col == row_elems) {
        col = 0;
        t = 0;
      } else {
        ++t;
      }
      t_end = end[t];
    }
  }
};

// The element bits the decoder writes for value v (the CPU decoder's write_value).
SQZ_HD uint32_t value_bits(uint8_t dtype, float v) {
  if (dtype == (uint8_t)DType::kF32) return quant::float_to_bits(v);
  if (dtype == (uint8_t)DType::kF16) return quant::float_to_half_rn(v);
  return quant::float_to_bf16_rn(v);
}

}  // namespace squeeze::kern
