// Version 2 staged frames on the CPU: the stages of compress/methods/ run as loops over the frame.
// Order of the encoder: block statistics -> quantizer parameters -> every element quantized (so
// that each unit's reconstruction error is known) -> deduplication decisions -> the literal codes
// -> the coder (fixed bit planes or rANS, whichever is smaller) -> sections -> history update.
// The decoder validates every section before it writes a byte, then writes literals, outliers,
// references and the tail.
#include "compress/cpu/staged.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/cpu/staged_table.h"
#include "compress/cpu/stream_copy.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/methods/varint.h"
#include "compress/quant.h"

namespace squeeze::cpu {

namespace {

using staged::Geometry;
using staged::Reject;

}  // namespace

// ---- UnitTable ----

void UnitTable::reset(size_t min_capacity) {
  size_t n = 16;
  while (n < min_capacity) n <<= 1;
  buckets_.assign(n, Bucket{{Slot{0, kNone}, Slot{0, kNone}, Slot{0, kNone}, Slot{0, kNone}}});
  mask_ = n - 1;
}

bool UnitTable::move_up(Slot& e, uint64_t pos, uint64_t window_start, Change* change) {
  if (e.val >= window_start) return false;
  *change = Change{&e, e};
  e.val = pos;
  return true;
}

bool UnitTable::offer(uint64_t hash, uint64_t pos, uint64_t window_start, Change* change) {
  if (buckets_.empty()) return false;
  Bucket& b = buckets_[mix_slot(hash) & mask_];
  for (Slot& e : b.slot)
    if (e.key == hash && e.val != kNone) return move_up(e, pos, window_start, change);
  // Absent: the first empty slot or one whose position left the window, else the oldest.
  Slot* victim = &b.slot[0];
  for (Slot& e : b.slot) {
    if (e.val == kNone || e.val < window_start) {
      victim = &e;
      break;
    }
    if (e.val < victim->val) victim = &e;
  }
  *change = Change{victim, *victim};
  *victim = Slot{hash, pos};
  return true;
}

bool UnitTable::offer_found(uint64_t hash, uint64_t pos, uint64_t window_start, int slot,
                            uint64_t found, Change* change) {
  if (slot >= 0 && !buckets_.empty()) {
    Slot& e = buckets_[mix_slot(hash) & mask_].slot[slot];
    if (e.key == hash && e.val == found) return move_up(e, pos, window_start, change);
  }
  return offer(hash, pos, window_start, change);
}

void UnitTable::undo(const Change* changes, size_t n) {
  while (n > 0) {
    --n;
    *changes[n].slot = changes[n].before;
  }
}

void EncoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  error.assign(window_units, 0.0f);
  window_start = stream_pos;
  table.reset(window_units);
}

void DecoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  window_start = stream_pos;
}

namespace {

// ---- the history's ring: position p at slot p % window_units ----

// The ring's positions pos, pos + 1, ..., pos + n - 1 as the contiguous pieces they are (a piece
// ends where the ring wraps): piece(slot, u, count) for units [u, u + count) at slots
// [slot, slot + count). One call per piece, not per unit.
template <class Piece>
void for_ring_pieces(uint64_t window_units, uint64_t pos, uint64_t n, Piece piece) {
  for (uint64_t u = 0; u < n;) {
    const uint64_t slot = (pos + u) % window_units;
    const uint64_t count = std::min(n - u, window_units - slot);
    piece(slot, u, count);
    u += count;
  }
}

// Units [0, n) of src to the ring's positions pos .. pos + n - 1. With n above window_units the
// later units overwrite the earlier ones, as one at a time would.
void ring_write(uint8_t* ring, uint64_t window_units, uint64_t unit_bytes, uint64_t pos,
                const uint8_t* src, uint64_t n) {
  for_ring_pieces(window_units, pos, n, [&](uint64_t slot, uint64_t u, uint64_t count) {
    std::memcpy(ring + slot * unit_bytes, src + u * unit_bytes, count * unit_bytes);
  });
}

// The ring's positions pos .. pos + n - 1 (n <= window_units) to units [0, n) of dst.
void ring_read(const uint8_t* ring, uint64_t window_units, uint64_t unit_bytes, uint64_t pos,
               uint8_t* dst, uint64_t n) {
  for_ring_pieces(window_units, pos, n, [&](uint64_t slot, uint64_t u, uint64_t count) {
    std::memcpy(dst + u * unit_bytes, ring + slot * unit_bytes, count * unit_bytes);
  });
}

// The slot of position pos in [stream_pos - window_units, stream_pos) (the window), given
// next_slot = stream_pos % window_units: a subtraction instead of a 64-bit division for each
// unit the history finds.
inline uint64_t ring_slot_before(uint64_t pos, uint64_t stream_pos, uint64_t next_slot,
                                 uint64_t window_units) {
  const uint64_t back = stream_pos - pos;  // 1 .. window_units
  return next_slot >= back ? next_slot - back : next_slot + window_units - back;
}

// A history's oldest referable position once stream_pos units have gone into it: the window is
// the last window_units of them, and never reaches back before window_start (a restart). The
// one rule of both sides' windows.
inline uint64_t window_start_after(uint64_t window_start, uint64_t stream_pos,
                                   uint64_t window_units) {
  return stream_pos - window_start > window_units ? stream_pos - window_units : window_start;
}

// The bits set in x. This file is built for any x86-64, where GCC's __builtin_popcountll is a
// call into libgcc (0.5% of a plugin rank's time in squeeze-a2a): a few operations inline.
inline uint64_t popcount64(uint64_t x) {
#if defined(__POPCNT__)
  return (uint64_t)__builtin_popcountll(x);
#else
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (x * 0x0101010101010101ull) >> 56;
#endif
}

// Blocks of a tile of the encoder's passes after deduplication (quantization, repeat checks,
// the literal scan): 256 KiB of f32 input, whose codes, masks, errors and parameters stay in the
// L2 beside it.
constexpr uint64_t kTileBlocks = 2048;
// Units of a frame past which its deduplication works out of the caches (4 MiB of f32): the
// repeat checks then prefetch their sources (in a smaller frame those are in the caches, and
// the prefetches only cost), and the dedup table has two slots a unit (slots_per_unit).
constexpr uint64_t kFarUnits = 1 << 16;

// The blocks (two units each, the last perhaps one) with a literal unit, literal(u) for units
// [0, n_units), listed in order without a branch on whether a block is one: a forward payload's
// frame refers to a third to a half of its blocks whole, in no pattern a predictor learns. The
// encoder lists the blocks it quantizes, the decoder the blocks it reads. Returns the count.
// first_block: list blocks from this one on only (units [2 * first_block, n_units)).
template <class Literal>
inline uint64_t list_literal_blocks(uint64_t n_units, Literal literal, uint32_t* list,
                                    uint64_t first_block = 0) {
  const uint64_t pairs = n_units / 2;
  uint64_t n = 0;
  for (uint64_t b = first_block; b < pairs; ++b) {
    list[n] = (uint32_t)b;
    n += (uint32_t)literal(2 * b) | (uint32_t)literal(2 * b + 1);  // both evaluated, no branch
  }
  if (2 * pairs < n_units && literal(2 * pairs)) list[n++] = (uint32_t)pairs;
  return n;
}

// The history table's changes by one frame's offers, in order: taken back, the last first,
// unless the frame goes out as the staged frame they were made for (a raw frame instead, or an
// exception, leaves the decoder's history as it was, so the encoder's must stay so too).
class PendingTableChanges {
 public:
  explicit PendingTableChanges(UnitTable::Change* log) : log_(log) {}
  PendingTableChanges(const PendingTableChanges&) = delete;
  PendingTableChanges& operator=(const PendingTableChanges&) = delete;
  ~PendingTableChanges() {
    if (!kept_) UnitTable::undo(log_, n_);
  }
  // Where an offer records its change; add(true) keeps it.
  UnitTable::Change* next() { return log_ + n_; }
  void add(bool changed) { n_ += changed; }
  void keep() { kept_ = true; }

 private:
  UnitTable::Change* log_;
  uint64_t n_ = 0;
  bool kept_ = false;
};

// ---- encoder scratch (per thread, reused: the steady state allocates nothing) ----

struct EncodeScratch {
  std::vector<local::BlockStats> stats;
  std::vector<double> block_bound;     // local mode with table bounds: each block's
  std::vector<uint16_t> col_table;     // table mode: each column's table
  std::vector<uint32_t> table_end;     // with a layout: the column after each table
  std::vector<table::Stats> tstats;    // table mode: per table
  std::vector<table::Params> tparams;  // table mode: per table
  std::vector<float> unit_eb;          // table mode: per unit, the smallest check threshold
  std::vector<local::BlockParams> params;
  std::vector<uint32_t> record;                 // local mode: per record (1 << rlog blocks)
  std::vector<local::BlockStats> record_stats;  // local mode with rlog > 0: per record
  std::vector<double> record_bound;             // local mode: per record
  std::vector<uint32_t> side;                   // 2 per record
  // Per element, zero past the last one to a whole unit; a narrow frame's (encode_typed) as
  // bytes, in the same storage.
  std::vector<uint32_t> codes;
  std::vector<uint32_t> masks;  // per block: its outliers
  std::vector<float> unit_error;
  std::vector<uint32_t> quant_blocks;  // the blocks quantized after deduplication, in order
  std::vector<uint64_t> unit_key;      // [0] the dedup probe's, then one per full unit (u at u + 1)
  std::vector<int64_t> ref;            // per unit: stream position of its source, -1 literal
  std::vector<uint8_t> ref_history;
  std::vector<uint32_t> ref_list;  // with a history: the units that are references, in order
  // The history table's changes by this frame's offers, until the frame is final.
  std::vector<UnitTable::Change> table_changes;
  std::vector<uint32_t> coded_unit;  // the units whose codes are coded, in order
  std::vector<uint32_t> coded;       // only for a CodeObserver: the coded codes, contiguous
  std::vector<uint32_t> outlier_index;
  std::vector<uint32_t> lit_records;  // records holding a literal block (local mode: written)
  std::vector<uint8_t> sym;
  std::vector<uint16_t> words;
  std::vector<uint8_t> rans_out;
  std::vector<uint8_t> fixed_out;
  // The frame's dedup table, open addressing: 1 + the first unit of a key (its key is that unit's
  // unit_key), 0 empty. Four bytes a slot, so that for a 128 KiB frame the table (32 KiB) and
  // the keys (16 KiB) stay in L1 and L2; cleared per frame with one memset.
  std::vector<uint32_t> frame_table;
  std::vector<uint32_t> repeat_unit;    // the full units that are not their key's first, in order
  std::vector<uint32_t> repeat_first;   // per repeat: the frame's first unit with its key
  std::vector<uint32_t> distinct_unit;  // each key's first unit, in order
  std::vector<uint64_t> history_pos;    // per unit: the history table's position for its key
  std::vector<int8_t> history_slot;     // per distinct unit: the table's slot of that position
  std::vector<uint32_t> history_units;  // units with a position in the window
  std::vector<uint32_t> offer_units;    // units offered to the history's table
  std::vector<dedup::Run> runs;
  std::vector<int64_t> sources;
  std::vector<uint64_t> source_marks;  // dedup sources: a bit per position (see encode_typed)
  std::vector<uint32_t> source_rank;   // per word of source_marks: the sources before it
};
thread_local EncodeScratch t_enc;

// This thread's scratch, through a call the optimizer cannot see into: in the shared library a
// thread_local's address costs a __tls_get_addr call, and GCC otherwise recomputes it at each of
// the encoder's dozens of uses (3.5% of a plugin rank's CPU time in squeeze-a2a).
[[gnu::noinline]] EncodeScratch& encode_scratch() {
  return t_enc;
}

// A narrow frame's codes, a byte each, in the storage of a scratch's 32-bit codes (s.codes of
// EncodeScratch, encode_typed, and of DecodeScratch, decode_rans).
template <class Scratch>
inline auto* narrow_codes(Scratch& s) {
  using Byte = std::conditional_t<std::is_const_v<Scratch>, const uint8_t, uint8_t>;
  return reinterpret_cast<Byte*>(s.codes.data());
}

// quantize_local_narrow with quantize_local's signature, its codes' storage given as s.codes',
// of the active backend (encode_typed's): encode_typed's quantize step then makes one kernel call
// whichever the codes are. A second call there, inlined into the repeat checks' loop, made frames
// that did not take it 2-4% slower to compress.
template <DType kType>
void quantize_local_into_bytes(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                               const uint32_t* blocks, uint64_t n_listed, uint32_t* codes,
                               uint32_t* outlier_masks, float* unit_error) {
  active_backend().staged[(int)kType].quantize_local_narrow(src, n, params, blocks, n_listed,
                                                            reinterpret_cast<uint8_t*>(codes),
                                                            outlier_masks, unit_error);
}

thread_local CodeObserver* t_observer = nullptr;

// The fixed coder's size before its planes are packed (so that a frame the rANS coder takes never
// packs them): global mode writes each group's width byte (the width of the OR of its codes) to
// s.fixed_out and returns the OR of every code (global mode's widest code); local mode has W
// planes per group.
uint32_t fixed_widths(EncodeScratch& s, const UnitKernels& uk, uint64_t n_coded_units,
                      uint64_t n_groups, bool local_mode, uint32_t w, uint64_t* fixed_bytes) {
  if (local_mode) {
    *fixed_bytes = n_groups * 4 * w;
    return 0;
  }
  s.fixed_out.resize(n_groups);
  uint64_t planes = 0;
  const uint32_t or_all = uk.group_widths(s.codes.data(), s.coded_unit.data(), n_coded_units,
                                          s.fixed_out.data(), &planes);
  *fixed_bytes = n_groups + 4 * planes;
  return or_all;
}

// The fixed coder's bytes, to out (straight into the frame): global mode the width bytes
// (fixed_widths) then the planes; local mode W planes per group.
void pack_fixed(const EncodeScratch& s, const UnitKernels& uk, uint64_t n_coded_units,
                uint64_t n_groups, bool local_mode, bool narrow, uint32_t w, uint8_t* out) {
  if (narrow) {
    uk.pack_groups_narrow(narrow_codes(s), s.coded_unit.data(), n_coded_units, w, out);
    return;
  }
  if (!local_mode) std::memcpy(out, s.fixed_out.data(), n_groups);
  uk.pack_groups(s.codes.data(), s.coded_unit.data(), n_coded_units,
                 local_mode ? nullptr : s.fixed_out.data(), w, out + (local_mode ? 0 : n_groups));
}

// Appends a block's units whose bits are set in lit (bit k: unit u0 + k, lit != 0) to list[0, n),
// in order, without a branch per unit. Returns the new count.
inline uint64_t append_units(uint32_t lit, uint64_t u0, uint32_t* list, uint64_t n) {
  list[n] = (uint32_t)(lit & 1u ? u0 : u0 + 1);
  n += (lit & 1u) + (lit >> 1);
  list[n - 1] = (uint32_t)(lit & 2u ? u0 + 1 : u0);
  return n;
}

// Elements of the n listed units (in order): every unit is whole but perhaps the frame's last.
inline uint64_t units_elems(const uint32_t* list, uint64_t n, const Geometry& g) {
  uint64_t elems = n * kUnitElems;
  if (n > 0 && list[n - 1] == g.n_units - 1) elems -= g.n_units * kUnitElems - g.n;
  return elems;
}

// A whole unit's rANS symbols (its codes' high bits). Restrict: a byte store could otherwise alias
// the codes, and the loop would not be vectorized.
inline void unit_symbols(const uint32_t* __restrict codes, uint32_t shift,
                         uint8_t* __restrict out) {
  for (uint32_t j = 0; j < kUnitElems; ++j) out[j] = (uint8_t)(codes[j] >> shift);
}

// The largest of p[0, n) (0 when n = 0): 16 running maxima, which the compiler keeps in one
// vector register, then the rest.
inline uint32_t largest_byte(const uint8_t* p, uint64_t n) {
  uint8_t m[16] = {};
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (uint32_t j = 0; j < 16; ++j) m[j] = p[i + j] > m[j] ? p[i + j] : m[j];
  uint8_t r = 0;
  for (uint32_t j = 0; j < 16; ++j) r = m[j] > r ? m[j] : r;
  for (; i < n; ++i) r = p[i] > r ? p[i] : r;
  return r;
}

// The rANS coder's bytes: shift, table, per-segment word counts, segments, raw low bits. False
// (nothing written) when the integer estimate says it would not beat fixed_bytes.
// narrow: the codes are bytes (narrow_codes; max_code < 256, so no low bits).
// long_ok: the receiver decodes long segments (kCapRansLongSegments).
bool encode_rans(EncodeScratch& s, const RansKernels& rk, uint64_t n_coded_units, uint64_t n_coded,
                 uint32_t max_code, bool narrow, uint64_t fixed_bytes, uint32_t min_gain_q8,
                 bool long_ok) {
  if (!rans::gain_can_pay(fixed_bytes, n_coded, min_gain_q8)) return false;  // no sample needed
  const uint32_t bits = quant::code_width(max_code);
  const uint32_t shift = bits > 8 ? bits - 8 : 0;
  const uint32_t seg_symbols = rans::segment_symbols(n_coded, long_ok);
  // Whether to code at all, and the table, from the sampled groups' histogram (rans::in_sample:
  // coded units 8m and 8m + 1; rans::table_from_sample). The sample's symbols are written first
  // and counted from the bytes, then the other units' symbols.
  SymbolCounts counts;
  constexpr uint64_t kPeriodSyms = rans::kSampleGroup * rans::kSampleStride;
  constexpr uint64_t kUnitsPerPeriod = kPeriodSyms / kUnitElems;
  constexpr uint64_t kUnitsPerGroup = rans::kSampleGroup / kUnitElems;
  s.sym.resize(n_coded);
  auto write_symbols = [&](uint64_t cu) {
    uint8_t* out = s.sym.data() + cu * kUnitElems;
    const uint64_t count = std::min<uint64_t>(kUnitElems, n_coded - cu * kUnitElems);
    if (narrow) {  // the symbols are the codes (shift 0)
      const uint8_t* c = narrow_codes(s) + (uint64_t)s.coded_unit[cu] * kUnitElems;
      // A whole unit as one 16-byte copy: a copy of a variable count compiled to a chain of
      // size tests, 18% of this function's time.
      if (count == kUnitElems)
        std::memcpy(out, c, kUnitElems);
      else
        std::memcpy(out, c, count);
      return;
    }
    const uint32_t* cc = s.codes.data() + (uint64_t)s.coded_unit[cu] * kUnitElems;
    if (count == kUnitElems) {
      unit_symbols(cc, shift, out);
    } else {
      for (uint64_t j = 0; j < count; ++j) out[j] = (uint8_t)(cc[j] >> shift);
    }
  };
  // The symbols of units [first, first + len) of each period of kUnitsPerPeriod coded units.
  auto symbols_in_periods = [&](uint64_t first, uint64_t len) {
    for (uint64_t p0 = 0; p0 < n_coded_units; p0 += kUnitsPerPeriod)
      for (uint64_t cu = p0 + first; cu < std::min(p0 + first + len, n_coded_units); ++cu)
        write_symbols(cu);
  };
  symbols_in_periods(0, kUnitsPerGroup);
  for (uint64_t k = 0; k < n_coded; k += kPeriodSyms)
    counts.add(s.sym.data() + k, std::min<uint64_t>(rans::kSampleGroup, n_coded - k));
  uint32_t hist[rans::kMaxSymbols];
  uint32_t n_sym = counts.merge(hist);
  if (!rans::gain_pays(rans::estimated_bytes(hist, n_sym, rans::sample_size(n_coded), n_coded,
                                             shift, seg_symbols),
                       fixed_bytes, n_coded, min_gain_q8))
    return false;
  symbols_in_periods(kUnitsPerGroup, kUnitsPerPeriod - kUnitsPerGroup);  // the other units
  uint32_t freq[rans::kMaxSymbols], cum[rans::kMaxSymbols], smoothed[rans::kMaxSymbols];
  n_sym = rans::table_from_sample(hist, largest_byte(s.sym.data(), n_coded), smoothed, freq, cum);
  const uint32_t n_seg = rans::segments_for(n_coded, seg_symbols);
  // Every byte up to the section's end is written below (no zero fill needed).
  s.rans_out.resize(2 + rans::table_bytes(freq, n_sym) + 4 * (size_t)n_seg +
                    (size_t)n_seg * rans::kStateBytes + 2 * n_coded +
                    rans::packed_bytes(n_coded, shift));
  uint8_t* p = s.rans_out.data();
  *p++ = rans::shift_byte(shift, seg_symbols);
  p += write_rans_stream(rk, s.sym.data(), n_coded, freq, cum, n_sym, s.words, p, seg_symbols);
  if (shift > 0) {
    // The raw low bits, LSB first (rans::put_bits, streamed through a 64-bit accumulator).
    uint64_t acc = 0;
    uint32_t n_acc = 0;
    uint8_t* q = p;
    const uint32_t mask = (1u << shift) - 1u;
    for (uint64_t cu = 0, k = 0; cu < n_coded_units; ++cu) {
      const uint32_t* cc = s.codes.data() + (uint64_t)s.coded_unit[cu] * kUnitElems;
      const uint64_t count = std::min<uint64_t>(kUnitElems, n_coded - k);
      for (uint64_t j = 0; j < count; ++j, ++k) {
        acc |= (uint64_t)(cc[j] & mask) << n_acc;
        n_acc += shift;
        while (n_acc >= 8) {
          *q++ = (uint8_t)acc;
          acc >>= 8;
          n_acc -= 8;
        }
      }
    }
    if (n_acc > 0) *q++ = (uint8_t)acc;
  }
  p += rans::packed_bytes(n_coded, shift);
  s.rans_out.resize((size_t)(p - s.rans_out.data()));
  return true;
}

template <DType kType>
size_t encode_typed(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                    EncoderHistory* hist, FrameStats* stats) {
  EncodeScratch& s = encode_scratch();
  const Backend& be = active_backend();
  const StagedKernels& sk = be.staged[(int)kType];
  const UnitKernels& uk = *be.units;
  const Geometry g = staged::geometry((uint8_t)kType, src_bytes);
  const bool local_mode = params.mode == BoundMode::kLocal;
  const uint64_t raw_size = kFrameHeaderBytes + src_bytes;

  // The row layout (resolved by the caller: usable in this mode). The table quantizer reads each
  // column's table (local mode walks the tables' end columns instead: table::span_bound).
  const RowLayout* lay = params.layout;
  const bool table_mode = lay != nullptr && !local_mode;
  const uint32_t n_tables = lay != nullptr ? lay->n_tables : 0;
  TableGeometry tg{};
  if (table_mode) {
    column_tables(lay->table_cols, n_tables, lay->row_elems, &s.col_table);
    tg = TableGeometry{s.col_table.data(), lay->row_elems, lay->start_col};
  }

  // Quantizer parameters.
  quant::QuantParams qp{};
  double applied = 0.0;
  uint32_t w = 0, e0 = 0;
  local::RecordPrecision prec;  // local mode: the records' (record_precision)
  const bool packing = local_mode && (params.caps & kCapPackedRecords) != 0;
  local::RecordRange record_range;  // packing: every record's
  const uint32_t rlog = local_mode && lay != nullptr ? local::record_log2(lay, params.caps) : 0;
  const uint64_t rblocks = uint64_t{1} << rlog;
  const uint64_t n_records = (g.n_blocks + rblocks - 1) >> rlog;
  s.stats.resize(g.n_blocks);
  // Deduplication's unit keys are computed in the statistics pass where there is one (f32: on
  // the vectors it loaded; that pass waits on memory).
  const uint32_t unit_bytes = (uint32_t)(kUnitElems * g.es);
  const bool use_history = hist != nullptr && (params.caps & kCapHistory) != 0;
  const bool use_dedup = use_history || ((params.caps & kCapDedup) != 0 && g.n_full_units >= 2);
  if (use_dedup) s.unit_key.resize(g.n_full_units + 1);
  bool have_keys = false;
  if (local_mode || params.mode == BoundMode::kRel) {
    if (use_dedup) {
      sk.block_stats_keys(src, g.n, s.stats.data(), g.n_full_units, s.unit_key.data() + 1);
      have_keys = true;
    } else {
      sk.block_stats(src, g.n, s.stats.data());
    }
  }
  if (local_mode) {
    // Each block's bound: the smallest of its elements' tables' (with a layout that has bounds).
    // Tables of one bound need none of this: the frame's bound is theirs.
    bool per_block = lay != nullptr && lay->table_bounds != nullptr;
    double min_bound = params.bound;
    if (per_block) {
      bool uniform = true;
      for (uint32_t t = 1; t < n_tables; ++t)
        uniform = uniform && lay->table_bounds[t] == lay->table_bounds[0];
      if (uniform) {
        per_block = false;
        min_bound = lay->table_bounds[0];
      }
    }
    if (per_block) {
      s.table_end.resize(n_tables);
      for (uint32_t t = 0, c = 0; t < n_tables; ++t) s.table_end[t] = c += lay->table_cols[t];
      s.block_bound.resize(g.n_blocks);
      min_bound = INFINITY;
      for (uint64_t b = 0; b < g.n_blocks; ++b) {
        const double bb = table::span_bound(s.table_end.data(), lay->table_bounds, n_tables,
                                            lay->row_elems, lay->start_col, b * kBlockElems,
                                            std::min<uint64_t>(kBlockElems, g.n - b * kBlockElems));
        s.block_bound[b] = bb;
        min_bound = std::min(min_bound, bb);
      }
    }
    // A record's stats and bound: its blocks' merged stats, the smallest of their bounds.
    const local::BlockStats* rstats = s.stats.data();
    if (rlog > 0) {
      s.record_stats.resize(n_records);
      for (uint64_t r = 0; r < n_records; ++r)
        s.record_stats[r] = local::record_stats(s.stats.data(), g.n_blocks, r, rlog);
      rstats = s.record_stats.data();
    }
    s.record_bound.assign(n_records, min_bound);
    if (per_block) {
      for (uint64_t r = 0; r < n_records; ++r) {
        double bound = INFINITY;
        for (uint64_t b = r << rlog; b < std::min(g.n_blocks, (r + 1) << rlog); ++b)
          bound = std::min(bound, s.block_bound[b]);
        s.record_bound[r] = bound;
      }
    }
    w = local::code_width(min_bound);
    if (w == 0) return 0;
    // One bound for every record (no table bounds): the widest record's exponent, a pass over
    // the ranges instead of every record's step.
    e0 = per_block ? uk.local_e0(rstats, s.record_bound.data(), n_records)
                   : local::e0_for_one_bound(rstats, n_records, min_bound);
    if (e0 == 0) e0 = 1;  // every block is special: the reference is never used
    prec = local::record_precision(min_bound, w, (params.caps & kCapPackedRecords) != 0);
    s.params.resize(g.n_blocks);
    s.record.resize(n_records);
    s.side.resize(2 * n_records);
    uk.decide_local(rstats, s.record_bound.data(), n_records, e0, w, (uint8_t)kType, prec,
                    s.record.data(), s.side.data(), s.params.data());
    // Packed records' layout comes from the range of every record of the frame (literal or not:
    // one pass over the contiguous records; local_packed.h).
    if (packing) record_range = local::range_of(s.record.data(), n_records);
    // Record r's parameters (params[r]) to each of its blocks, last record first: a record's
    // blocks start at r << rlog >= r, so no entry is overwritten before it is read.
    for (uint64_t r = rlog > 0 ? n_records : 0; r-- > 0;) {
      const local::BlockParams p = s.params[r];
      for (uint64_t b = r << rlog; b < std::min(g.n_blocks, (r + 1) << rlog); ++b) s.params[b] = p;
    }
    applied = min_bound;
  } else if (table_mode) {
    const TableKernels& tk = be.table[(int)kType];
    s.tstats.assign(n_tables, table::Stats{INFINITY, -INFINITY, false});
    tk.stats(src, g.n, tg, s.tstats.data());
    s.tparams.resize(n_tables);
    applied = INFINITY;
    for (uint32_t t = 0; t < n_tables; ++t) {
      const table::Stats& st = s.tstats[t];
      const double b = table::table_bound(*lay, params.bound, t);
      s.tparams[t] = table::decide(st, table::abs_bound(st, b, params.mode == BoundMode::kRel));
      applied = std::min(applied, b);
    }
  } else {
    double eb = params.bound;
    if (params.mode == BoundMode::kRel) {
      float mn = INFINITY, mx = -INFINITY;
      for (uint64_t b = 0; b < g.n_blocks; ++b) {
        if (!s.stats[b].has_finite) continue;
        mn = quant::min_total(mn, s.stats[b].mn);
        mx = quant::max_total(mx, s.stats[b].mx);
      }
      eb = mn <= mx ? quant::rel_to_abs_bound(params.bound, mn, mx) : 0.0;
    }
    if (!quant::make_quant_params(eb, &qp)) return 0;
    applied = eb;
  }

  // Quantization (codes padded with zeros to whole units): every block, or the listed ones.
  // With deduplication the local and global quantizers run after the references are known, on
  // the blocks that keep a literal unit (a forward payload's 128 KiB frame repeats a third to
  // a half of its blocks whole); a reference needs only its source's error. The table quantizer
  // runs first: it also gives each unit's bound (unit_eb), which deduplication checks.
  // Local frames of W <= 8 (the default bound and INT8's precision) keep their codes in bytes
  // (narrow), a quarter of the memory the quantizer writes and the packer reads: a 3 MiB frame's
  // then stay in the L2 (1.06-1.12x compress; one 21 MiB frame 1.07-1.15x; 128 KiB frames the
  // same speed: docs/PERFORMANCE.md, session 24).
  const bool narrow = local_mode && w <= 8;
  const uint64_t n_codes = g.n_units * kUnitElems;
  if (narrow) {
    s.codes.resize((n_codes + 3) / 4);
    for (uint64_t i = g.n; i < n_codes; ++i) narrow_codes(s)[i] = 0;
  } else {
    s.codes.resize(n_codes);
    for (uint64_t i = g.n; i < n_codes; ++i) s.codes[i] = 0;
  }
  s.masks.resize(g.n_blocks);
  s.unit_error.resize(g.n_units);
  const auto quantize_local = narrow ? &quantize_local_into_bytes<kType> : sk.quantize_local;
  auto quantize = [&](const uint32_t* blocks, uint64_t n_listed) {
    if (local_mode) {
      quantize_local(src, g.n, s.params.data(), blocks, n_listed, s.codes.data(), s.masks.data(),
                     s.unit_error.data());
    } else if (table_mode) {
      s.unit_eb.resize(g.n_units);
      be.table[(int)kType].quantize(src, g.n, tg, s.tparams.data(), s.codes.data(), s.masks.data(),
                                    s.unit_error.data(), s.unit_eb.data());
    } else {
      sk.quantize_global(src, g.n, qp, blocks, n_listed, s.codes.data(), s.masks.data(),
                         s.unit_error.data());
    }
  };
  const bool quantize_after_dedup = use_dedup && !table_mode;
  if (!quantize_after_dedup) quantize(nullptr, 0);

  // Literal blocks, the coded units and the outliers: scan_blocks walks blocks [b_from, b_to)
  // in order, or the listed ones among them (list: the blocks quantized after deduplication,
  // while they are exactly the blocks with a literal unit, no reference having failed into a
  // block the list left out; walking them instead of testing every block, whose outcome no
  // predictor learns: a third to a half of a forward payload's blocks are references).
  s.coded_unit.resize(g.n_units);
  // Written by index, not push_back (a size check a block): sized for the most they can hold
  // once, never shrunk, so the steady state neither allocates nor clears.
  if (s.outlier_index.size() < g.n) s.outlier_index.resize(g.n);
  if (s.lit_records.size() < n_records) s.lit_records.resize(n_records);
  uint64_t n_side = 0, n_coded_units = 0, n_coded = 0, n_out = 0, n_lit_records = 0;
  uint64_t last_record = ~0ull;  // lit_records: local mode's records with a literal block
  auto scan_blocks = [&](uint64_t b_from, uint64_t b_to, const uint32_t* list, uint64_t n_list) {
    const uint64_t n_scan = list != nullptr ? n_list : b_to - b_from;
    for (uint64_t j = 0; j < n_scan; ++j) {
      const uint64_t b = list != nullptr ? list[j] : b_from + j;
      const uint64_t u0 = 2 * b;
      // Bit k: unit u0 + k is literal.
      const uint32_t lit =
          (uint32_t)(s.ref[u0] < 0) | ((uint32_t)(u0 + 1 < g.n_units && s.ref[u0 + 1] < 0) << 1);
      if (lit == 0) continue;
      if ((b >> rlog) != last_record) {  // the first literal block of its record
        last_record = b >> rlog;
        s.lit_records[n_lit_records++] = (uint32_t)last_record;
        if (local_mode && local::has_side_entry(s.params[b].kind)) ++n_side;
      }
      if (!local_mode || local::has_codes(s.params[b].kind))
        n_coded_units = append_units(lit, u0, s.coded_unit.data(), n_coded_units);
      // The literal units' outliers, element by element.
      uint32_t m = s.masks[b] & ((lit & 1u ? 0xffffu : 0u) | (lit & 2u ? 0xffff0000u : 0u));
      while (m) {
        s.outlier_index[n_out++] = (uint32_t)(b * kBlockElems + (uint32_t)__builtin_ctz(m));
        m &= m - 1;
      }
    }
  };

  // Deduplication: a unit's candidate is the history's entry for its key (when it fits), else
  // the frame's first unit with that key.
  if (use_history && (!hist->has_dtype || hist->dtype != (uint8_t)kType))
    hist->restart((uint8_t)kType);
  s.ref.assign(g.n_units, -1);
  if (use_history) s.ref_history.assign(g.n_units, 0);
  uint64_t ref_units = 0, history_refs = 0;
  uint64_t n_repeats = 0;  // units listed in s.repeat_unit
  const uint64_t base = use_history ? hist->stream_pos : 0;
  // The window once this frame is in the history (its oldest position), and the history
  // table's changes by this frame, kept only if the frame is sent as a staged frame.
  uint64_t next_window_start = 0, next_slot = 0;  // next_slot: the ring slot of the first unit
  if (use_history) {
    next_window_start = window_start_after(hist->window_start, hist->stream_pos + g.n_full_units,
                                           hist->window_units);
    next_slot = hist->stream_pos % hist->window_units;
    if (s.table_changes.size() < g.n_full_units) s.table_changes.resize(g.n_full_units);
  }
  PendingTableChanges table_changes(s.table_changes.data());
  if (use_dedup) {
    if (!have_keys) uk.unit_keys(src, g.n_full_units, unit_bytes, s.unit_key.data() + 1);
    if (s.repeat_unit.size() < g.n_full_units) {
      s.repeat_unit.resize(g.n_full_units);
      s.repeat_first.resize(g.n_full_units);
      s.distinct_unit.resize(g.n_full_units);
    }
    // At least four slots a unit: half the probes that go on past the first slot (each a
    // mispredicted branch) of two slots a unit. On data/bench64.f32's 128 KiB frames (83% of
    // the units distinct) 9.5% against 19%, and 1.07x compress. Eight where the table stays
    // within 64 KiB (frames up to 128 KiB): 1.02-1.03x more; a larger frame's table would
    // leave the caches sooner. Two past kFarUnits, whose table is out of the caches anyway: the
    // table's clearing and probes then wait on memory, not on mispredictions (one 21 MiB frame
    // 1.035-1.05x; docs/PERFORMANCE.md, session 30).
    const uint64_t slots_per_unit = g.n_full_units <= 2048        ? 8
                                    : g.n_full_units <= kFarUnits ? 4
                                                                  : 2;
    size_t cap = 64;
    while (cap < slots_per_unit * g.n_full_units) cap <<= 1;
    if (s.frame_table.size() < cap) s.frame_table.resize(cap);
    // The table may be larger than this frame needs (a bigger frame came before): probe within
    // the first `cap` slots only, so that a small frame stays in cache.
    uint32_t* table = s.frame_table.data();
    std::memset(table, 0, cap * sizeof(uint32_t));
    // key[u]: unit u's; slot_key[t]: the key of the unit a slot value t names, t = 0 (empty) the
    // probing unit's own.
    uint64_t* slot_key = s.unit_key.data();
    const uint64_t* key = slot_key + 1;
    const uint64_t mask = cap - 1;
    constexpr uint64_t kAhead = 8;
    // Pass 1's probes load each unit's slot kProbeAhead units ahead: in a frame whose table
    // outgrows the caches (a 64 MiB frame's is 16 MiB) every probe otherwise waits on memory (one
    // 64 MiB frame compressed 1.28-1.41x faster with it; 128 KiB frames the same).
    constexpr uint64_t kProbeAhead = 16;
    constexpr uint64_t kTableAhead = 16;  // the history table's lookups: 8 to 32 alike
    // The repeat checks' reads of their sources (and pass 2's of their refs), which lie anywhere
    // before them in a large frame.
    constexpr uint64_t kRepeatAhead = 16;
    const bool far = g.n_full_units > kFarUnits;
    // This unit's own bound: its block's check threshold (global: the frame's).
    auto eb_check_of = [&](uint64_t u) {
      return local_mode   ? s.params[u * kUnitElems / kBlockElems].eb_check
             : table_mode ? s.unit_eb[u]
                          : qp.eb_check;
    };
    // Pass 1: the repeats (full units that are not their key's first) and, for each, its key's
    // first unit, listed without a branch on whether a unit is one: a frame's repeats (17% of
    // data/bench64.f32's units, about half in other trained payloads) come in no pattern a
    // predictor could learn. The slot is the key's low bits (keys are fmix64 outputs); where a
    // key sits does not change which unit is found first.
    // With a history, the distinct units (each key's first) are listed too.
    uint32_t* first = s.repeat_first.data();
    uint32_t* repeats = s.repeat_unit.data();
    uint32_t* distinct = s.distinct_unit.data();
    uint64_t n_distinct = 0;
    auto pass1 = [&](auto list_distinct) {
      for (uint64_t u = 0; u < g.n_full_units; ++u) {
        if (u + kProbeAhead < g.n_full_units) prefetch_line(&table[key[u + kProbeAhead] & mask]);
        const uint64_t h = key[u];
        // The empty slot's key is this unit's: the probe stops at an empty slot or at the key
        // with one branch, which almost always leaves at the first slot whether the key is new
        // or seen.
        slot_key[0] = h;
        uint64_t i = h & mask;
        while (slot_key[table[i]] != h) i = (i + 1) & mask;
        const uint32_t t = table[i];  // 1 + the key's first unit, 0 for a new key
        // Masks, not a choice: GCC compiled `t != 0 ? t : u + 1` to a branch on whether the unit
        // repeats, which a forward payload's units follow in no pattern (1.02-1.03x without).
        const uint32_t is_new = (uint32_t)(t == 0);
        table[i] = t | (((uint32_t)u + 1) & (0u - is_new));
        first[n_repeats] = t - 1;
        repeats[n_repeats] = (uint32_t)u;
        n_repeats += is_new ^ 1u;
        if constexpr (decltype(list_distinct)::value) {
          distinct[n_distinct] = (uint32_t)u;
          n_distinct += is_new;
        }
      }
    };
    if (use_history)
      pass1(std::true_type{});
    else
      pass1(std::false_type{});
    // The history: a key's lookup is the same for every unit with it (the table does not change
    // until the offers), so only each key's first unit looks it up, and the repeats take its
    // answer. Each unit that has a candidate then checks its own bytes and bound. A lookup or an
    // offer costs about 30 ticks on this project's 2-core machine, prefetched or not, and a
    // trained payload's 128 KiB frame repeats a third to a half of its units.
    if (use_history) {
      const uint64_t window_start = hist->window_start, stream_pos = hist->stream_pos;
      if (s.history_pos.size() < g.n_full_units) {
        s.history_pos.resize(g.n_full_units);
        s.history_slot.resize(g.n_full_units);
        s.history_units.resize(g.n_full_units);
        s.offer_units.resize(g.n_full_units);
      }
      uint64_t* hpos = s.history_pos.data();     // per unit: its key's position in the table
      int8_t* hslot = s.history_slot.data();     // per distinct unit: the slot that holds it
      uint32_t* cand = s.history_units.data();   // units whose key has a position in the window
      uint32_t* offered = s.offer_units.data();  // units whose offer may change the table
      uint64_t n_cand = 0, n_offered = 0;
      // In the window: window_start <= pos < stream_pos (kNone is not).
      auto in_window = [&](uint64_t pos) { return pos - window_start < stream_pos - window_start; };
      for (uint64_t k = 0; k < n_distinct; ++k) {
        if (k + kTableAhead < n_distinct) hist->table.prefetch(key[distinct[k + kTableAhead]]);
        const uint32_t u = distinct[k];
        int slot;
        const uint64_t pos = hist->table.find(key[u], &slot);
        hpos[u] = pos;
        hslot[u] = (int8_t)slot;
        cand[n_cand] = u;
        n_cand += in_window(pos);
        // A key the next window still holds is offered in vain: the table keeps its position.
        offered[n_offered] = u;
        n_offered += pos == UnitTable::kNone || pos < next_window_start;
      }
      for (uint64_t k = 0; k < n_repeats; ++k) {
        const uint64_t pos = hpos[first[k]];
        hpos[repeats[k]] = pos;
        cand[n_cand] = repeats[k];
        n_cand += in_window(pos);
      }
      for (uint64_t k = 0; k < n_cand; ++k) {
        const uint32_t u = cand[k];
        const uint64_t pos = hpos[u];
        const uint64_t slot = ring_slot_before(pos, stream_pos, next_slot, hist->window_units);
        if (dedup::same_bytes(hist->ring.data() + slot * unit_bytes, src + u * unit_bytes,
                              unit_bytes) &&
            dedup::error_fits(hist->error[slot], eb_check_of(u))) {
          s.ref[u] = (int64_t)pos;
          s.ref_history[u] = 1;
          ++ref_units;
          ++history_refs;
        }
      }
      // The table learns this frame's units (the window the one after it, as the decoder's
      // will be): only the keys' first units, and of those only the ones whose key the next
      // window does not hold already. A repeat's offer would find its key's first unit's
      // position, which the next window holds, and change nothing; unless a full bucket gave
      // that position up in between (rarely: then the table misses a key a later frame could
      // have referred to, never makes a wrong reference). A frame longer than the window offers
      // every unit, as its first units' positions may leave the window before the frame ends.
      // Taken back if the frame is not sent.
      if (g.n_full_units > hist->window_units) {
        for (uint64_t u = 0; u < g.n_full_units; ++u)
          table_changes.add(
              hist->table.offer(key[u], base + u, next_window_start, table_changes.next()));
      } else {
        for (uint64_t k = 0; k < n_offered; ++k) {
          if (k + kAhead < n_offered) hist->table.prefetch(key[offered[k + kAhead]]);
          const uint32_t u = offered[k];
          table_changes.add(hist->table.offer_found(key[u], base + u, next_window_start, hslot[u],
                                                    hpos[u], table_changes.next()));
        }
      }
    }
    // Pass 2: a repeat refers to its key's first unit unless it is already a history reference,
    // or that unit is one (sources in the frame are literal, so that a decoder copies references
    // in any order), or the bytes differ, or the source's error does not fit this unit's bound.
    // A first unit is never a frame reference, so its ref is final after pass 1. First every
    // repeat that may refer to its first unit is taken as a reference (without a branch: ref is
    // negative for a literal), so that only blocks with a literal unit are quantized; then the
    // bytes and the error, which needs the source quantized, decide.
    int64_t* ref = s.ref.data();
    uint64_t n_taken = 0;
    for (uint64_t k = 0; k < n_repeats; ++k) {
      if (far && k + kRepeatAhead < n_repeats) prefetch_line(&ref[first[k + kRepeatAhead]]);
      const uint64_t u = repeats[k], c = first[k];
      const bool take = (ref[u] & ref[c]) < 0;  // both literal
      ref[u] = take ? (int64_t)(base + c) : ref[u];
      n_taken += take;
    }
    // The blocks with a literal unit (a source is one), listed without a branch on whether a
    // block is one; every block when few units are references (the list would cost more than
    // the blocks it spares).
    const bool listed = quantize_after_dedup && 8 * (history_refs + n_taken) >= g.n_full_units;
    // Then tile by tile, in order: the tile's blocks quantized (the listed ones), its repeats'
    // bytes and errors checked, its blocks scanned, so that a large frame's codes, masks, errors,
    // parameters and input stay in the L2 across the three passes instead of each pass reading
    // them from memory again (a repeat's source lies in this tile or an earlier one, already
    // quantized). The frame is the same as with one tile. Unlisted, one tile: few references.
    const uint64_t tile_blocks = listed ? kTileBlocks : g.n_blocks;
    if (listed && s.quant_blocks.size() < std::min(g.n_blocks, tile_blocks))
      s.quant_blocks.resize(std::min(g.n_blocks, tile_blocks));
    uint64_t k = 0;  // the next repeat to check
    for (uint64_t b_from = 0; b_from < g.n_blocks; b_from += tile_blocks) {
      const uint64_t b_to = std::min(g.n_blocks, b_from + tile_blocks);
      const uint64_t u_to = std::min(g.n_units, 2 * b_to);
      const uint32_t* list = nullptr;
      uint64_t n_listed = 0;
      if (listed) {
        uint32_t* tile_list = s.quant_blocks.data();
        n_listed = list_literal_blocks(
            u_to, [&](uint64_t u) { return ref[u] < 0; }, tile_list, b_from);
        quantize(tile_list, n_listed);
        list = tile_list;
      } else if (quantize_after_dedup) {
        quantize(nullptr, 0);
      }
      // The bytes and errors of the tile's repeats taken (a history reference's position is
      // below base). One that fails is literal after all, and its block is quantized now if
      // the list left it out (its other unit, if any, still a reference: one that was literal
      // had the block listed, one that became literal here had it quantized then). The source
      // is read kRepeatAhead repeats ahead: in a large frame it lies anywhere before.
      for (; k < n_repeats && repeats[k] < u_to; ++k) {
        if (far && k + kRepeatAhead < n_repeats) {
          const uint64_t ahead = first[k + kRepeatAhead];
          prefetch_line(src + ahead * unit_bytes);
          prefetch_line(src + ahead * unit_bytes + unit_bytes - 1);
          prefetch_line(&s.unit_error[ahead]);
        }
        const uint64_t u = repeats[k], c = first[k];
        if (ref[u] != (int64_t)(base + c)) continue;
        if (dedup::same_bytes(src + c * unit_bytes, src + u * unit_bytes, unit_bytes) &&
            dedup::error_fits(s.unit_error[c], eb_check_of(u))) {
          ++ref_units;
          continue;
        }
        ref[u] = -1;
        const uint64_t other = u ^ 1;
        if (listed && (other >= g.n_units || ref[other] >= 0)) {
          const uint32_t b = (uint32_t)(u / 2);
          quantize(&b, 1);
          list = nullptr;  // a literal block outside the list: the tile's blocks are scanned
        }
      }
      scan_blocks(b_from, b_to, list, n_listed);
    }
  } else {
    scan_blocks(0, g.n_blocks, nullptr, 0);
  }

  n_coded = units_elems(s.coded_unit.data(), n_coded_units, g);
  if (t_observer != nullptr) {
    s.coded.clear();
    for (uint64_t cu = 0; cu < n_coded_units; ++cu) {
      const uint64_t first = (uint64_t)s.coded_unit[cu] * kUnitElems;
      const uint64_t count = std::min<uint64_t>(kUnitElems, n_coded - s.coded.size());
      const auto append = [&](const auto* c) {
        s.coded.insert(s.coded.end(), c + first, c + first + count);
      };
      if (narrow)
        append(narrow_codes(s));
      else
        append(s.codes.data());
    }
    t_observer->codes(s.coded.data(), n_coded, local_mode, w);
  }

  // The coder.
  const uint64_t n_groups = (n_coded + kGroupCodes - 1) / kGroupCodes;
  uint64_t fixed_bytes = 0;
  const uint32_t or_all = fixed_widths(s, uk, n_coded_units, n_groups, local_mode, w, &fixed_bytes);
  bool use_rans = false;
  if ((params.caps & kCapRans) != 0 && n_coded > 0) {
    const uint32_t max_code = local_mode ? (1u << w) - 1u : or_all;
    use_rans = encode_rans(s, *be.rans, n_coded_units, n_coded, max_code, narrow, fixed_bytes,
                           params.rans_min_gain, (params.caps & kCapRansLongSegments) != 0) &&
               s.rans_out.size() < fixed_bytes;
  }
  const uint64_t code_bytes = use_rans ? s.rans_out.size() : fixed_bytes;
  // Section sizes.
  staged::Header h;
  h.dtype = (uint8_t)kType;
  h.flags = params.mode != BoundMode::kAbs ? kFlagRelBound : 0;
  h.original_bytes = src_bytes;
  h.quant = (uint8_t)(local_mode   ? StagedQuant::kLocal
                      : table_mode ? StagedQuant::kTable
                                   : StagedQuant::kGlobal);
  h.coder = (uint8_t)(use_rans ? StagedCoder::kRans : StagedCoder::kFixed);
  h.dedup = (uint8_t)(use_history     ? StagedDedup::kHistory
                      : ref_units > 0 ? StagedDedup::kFrame
                                      : StagedDedup::kNone);
  h.step = local_mode || table_mode ? 0.0f : qp.step;
  h.applied_bound = applied;
  h.stream_unit = use_history ? (uint32_t)hist->stream_pos : 0u;

  // Dedup runs: consecutive references with consecutive sources, never straddling the frame's
  // start; the distinct source starts form the section's source table.
  uint64_t dedup_bytes = 0;
  std::vector<int64_t>& sources = s.sources;
  sources.clear();
  dedup::Layout layout{};
  const uint64_t back = use_history ? hist->window_units : 0;  // history positions a run may use
  uint64_t n_ref_list = 0;  // with a history: the references, listed in s.ref_list
  uint64_t n_runs = 0;
  dedup::Run* runs = nullptr;
  if (h.dedup != (uint8_t)StagedDedup::kNone) {
    // The candidates, in increasing order: without a history every reference is a repeat, and
    // the repeats are listed; with one, the references are listed first (s.ref_list, which the
    // history's errors below also read). Runs are then found without a branch on the data: each
    // candidate is written as the start of a run at runs[n_runs], which only a reference that
    // does not continue the previous reference keeps (a run breaks every few units, an
    // embedding vector's, in no pattern a predictor learns; extending runs.back() in place also
    // made each reference wait on the one before through memory). A start's len holds the
    // number of references before it until the lengths are taken below.
    const int64_t* ref = s.ref.data();
    const uint32_t* cand = s.repeat_unit.data();
    uint64_t n_cand = n_repeats;
    if (use_history) {
      if (s.ref_list.size() < g.n_full_units) s.ref_list.resize(g.n_full_units);
      uint32_t* ref_list = s.ref_list.data();
      for (uint64_t u = 0; u < g.n_full_units; ++u) {
        ref_list[n_ref_list] = (uint32_t)u;
        n_ref_list += ref[u] >= 0;
      }
      cand = ref_list;
      n_cand = n_ref_list;
    }
    // A slice of candidates at a time, with room for each to start a run: the scratch grows with
    // the runs, not with the candidates (a frame of long runs needs a few, and a run is 24 bytes
    // against a unit's 64).
    constexpr uint64_t kSlice = 1024;
    uint64_t n_refs = 0, prev_u = ~1ull;  // prev_u + 1 matches no unit before the first reference
    int64_t prev_from = 0;
    for (uint64_t k0 = 0; k0 < n_cand; k0 += kSlice) {
      const uint64_t k1 = std::min(n_cand, k0 + kSlice);
      if (s.runs.size() < n_runs + (k1 - k0)) s.runs.resize(n_runs + kSlice);
      runs = s.runs.data();
      for (uint64_t k = k0; k < k1; ++k) {
        const uint64_t u = cand[k];
        const int64_t r = ref[u];
        const bool is_ref = r >= 0;
        const int64_t from = r - (int64_t)base;
        const bool cont =
            (u == prev_u + 1) & (from == prev_from + 1) & ((from < 0) == (prev_from < 0));
        runs[n_runs] = dedup::Run{u, from, n_refs};
        n_runs += is_ref & !cont;
        n_refs += is_ref;
        prev_u = is_ref ? u : prev_u;
        prev_from = is_ref ? from : prev_from;
      }
    }
    uint64_t max_gap = 0, max_len = 1, prev_end = 0, steps_or = 0;
    for (uint64_t k = 0; k < n_runs; ++k) {
      dedup::Run& r = runs[k];
      r.len = (k + 1 < n_runs ? runs[k + 1].len : n_refs) - r.len;
      max_gap = std::max(max_gap, r.dst - prev_end);
      max_len = std::max(max_len, r.len);
      steps_or |= (r.dst - prev_end) | r.len;
      prev_end = r.dst + r.len;
    }
    // The distinct sources in increasing order, each with its index for the records below, and
    // no sort: a bit per position a source may take, the history window's (-window_units .. -1
    // from the frame's first unit; a frame that repeats the last message has one per run) then
    // the frame's units, and per 64 positions the sources before them.
    const uint64_t words = (back + g.n_full_units + 63) / 64;
    s.source_marks.assign(words, 0);
    s.source_rank.resize(words);
    for (uint64_t k = 0; k < n_runs; ++k) {
      const dedup::Run& r = runs[k];
      const uint64_t o = (uint64_t)(r.src + (int64_t)back);
      s.source_marks[o / 64] |= uint64_t{1} << (o % 64);
    }
    for (uint64_t wd = 0; wd < words; ++wd) {
      s.source_rank[wd] = (uint32_t)sources.size();
      for (uint64_t m = s.source_marks[wd]; m != 0; m &= m - 1)
        sources.push_back((int64_t)(wd * 64 + (uint64_t)__builtin_ctzll(m)) - (int64_t)back);
    }
    layout = dedup::layout_for(max_gap, sources.size(), max_len,
                               dedup::step_for(steps_or, (params.caps & kCapDedupStep) != 0));
    if ((params.caps & kCapDedupGolomb) != 0) {
      // What Exp-Golomb gap and length fields would cost at each order (dedup::choose_layout).
      uint64_t cost[2 * dedup::kGolombOrders] = {};
      uint64_t end = 0;
      for (uint64_t k = 0; k < n_runs; ++k) {
        const dedup::Run& r = runs[k];
        dedup::add_golomb_costs((r.dst - end) >> layout.step_log2, (r.len >> layout.step_log2) - 1,
                                cost);
        end = r.dst + r.len;
      }
      layout = dedup::choose_layout(layout, n_runs, cost, true);
    }
    dedup_bytes = dedup::section_bytes(n_runs, sources.data(), sources.size(), layout);
  }
  // Local records: packed (local_packed.h) where the receiver reads them and they are smaller.
  local::PackedLayout packed_layout;
  bool packed = false;
  if (packing) {
    packed_layout = local::packed_layout(record_range, prec);
    packed = local::use_packed(packed_layout, n_lit_records);
  }
  const uint64_t quant_bytes = local_mode
                                   ? local::kQuantHeaderBytes +
                                         (packed ? local::packed_bytes(packed_layout, n_lit_records)
                                                 : local::fixed_bytes(n_lit_records)) +
                                         n_side * local::kSideBytes
                               : table_mode ? table::section_bytes(n_tables)
                                            : 0;
  const uint64_t outlier_bytes = 4 + n_out * (4 + g.es);
  const uint64_t total =
      staged::kPayloadOffset + dedup_bytes + quant_bytes + code_bytes + outlier_bytes + g.tail;
  if (total >= raw_size || dedup_bytes > 0xffffffffull || quant_bytes > 0xffffffffull ||
      code_bytes > 0xffffffffull || outlier_bytes > 0xffffffffull)
    return 0;
  h.section[(int)StagedSection::kDedup] = (uint32_t)dedup_bytes;
  h.section[(int)StagedSection::kQuant] = (uint32_t)quant_bytes;
  h.section[(int)StagedSection::kCodes] = (uint32_t)code_bytes;
  h.section[(int)StagedSection::kOutliers] = (uint32_t)outlier_bytes;
  h.section[(int)StagedSection::kTail] = (uint32_t)g.tail;
  h.frame_bytes = total;
  staged::write(h, dst);

  uint8_t* p = dst + staged::kPayloadOffset;
  if (dedup_bytes) {
    const uint64_t head = dedup::write_head(p, n_runs, sources.data(), sources.size(), layout);
    uint8_t* records = p + head;
    std::memset(records, 0, dedup_bytes - head);
    uint64_t prev_end = 0, bit = 0;
    for (uint64_t k = 0; k < n_runs; ++k) {
      const dedup::Run& r = runs[k];
      // The sources marked before it.
      const uint64_t o = (uint64_t)(r.src + (int64_t)back);
      const uint64_t idx = s.source_rank[o / 64] +
                           popcount64(s.source_marks[o / 64] & ((uint64_t{1} << (o % 64)) - 1));
      dedup::write_run(records, dedup_bytes - head, &bit, layout, r.dst - prev_end, idx, r.len);
      prev_end = r.dst + r.len;
    }
    p += dedup_bytes;
  }
  if (local_mode) {
    p[0] = (uint8_t)e0;
    p[1] = (uint8_t)w;
    p[2] = (uint8_t)rlog;
    p[3] = packed ? local::kRecordsPacked : local::kRecordsFixed;
    p += local::kQuantHeaderBytes;
    uint8_t* records = p;
    if (packed) {
      local::write_packed_head(packed_layout, p);
      records = p + local::kPackedHeadBytes;
      p += local::packed_bytes(packed_layout, n_lit_records);
    } else {
      p += local::fixed_bytes(n_lit_records);
    }
    uint8_t* side = p;
    local::PackedWriter writer(records);
    for (uint64_t k = 0; k < n_lit_records; ++k) {
      const uint32_t r = s.lit_records[k];
      const uint32_t record = s.record[r];
      if (packed) {
        writer.put(packed_layout, record);
      } else {
        local::store_record(records + k * local::kRecordBytes, record);
      }
      // Whether a side entry follows, from the record: a large frame's block parameters (36
      // bytes a block) are out of the caches by now, and reading each record's first block's
      // kind waited on memory (a tenth of the encoder's own time on one 21 MiB frame).
      if (local::record_has_side_entry(record)) {
        block::store_le32(side, s.side[2 * r]);
        block::store_le32(side + 4, s.side[2 * r + 1]);
        side += local::kSideBytes;
      }
    }
    if (packed) writer.finish();
    p = side;
  } else if (table_mode) {
    table::write_header(p, lay->row_elems, lay->start_col, n_tables);
    for (uint32_t t = 0; t < n_tables; ++t)
      table::write_entry(p, t, lay->table_cols[t], s.tparams[t]);
    p += quant_bytes;
  }
  if (use_rans)
    std::memcpy(p, s.rans_out.data(), code_bytes);
  else
    pack_fixed(s, uk, n_coded_units, n_groups, local_mode, narrow, w, p);
  p += code_bytes;
  block::store_le32(p, (uint32_t)n_out);
  p += 4;
  for (uint64_t k = 0; k < n_out; ++k) block::store_le32(p + 4 * k, s.outlier_index[k]);
  p += 4 * n_out;
  for (uint64_t k = 0; k < n_out; ++k)
    std::memcpy(p + k * g.es, src + (uint64_t)s.outlier_index[k] * g.es, g.es);
  p += n_out * g.es;
  if (g.tail) std::memcpy(p, src + g.n * g.es, g.tail);

  // The history learns this frame's full units: originals, errors (a reference's is its
  // source's), and first positions per hash.
  if (use_history) {
    EncoderHistory& H = *hist;
    // Errors first: a unit of this frame may overwrite the ring slot of another's source.
    for (uint64_t k = 0; k < n_ref_list; ++k) {
      const uint64_t u = s.ref_list[k];
      const uint64_t sp = (uint64_t)s.ref[u];
      s.unit_error[u] = s.ref_history[u]
                            ? H.error[ring_slot_before(sp, H.stream_pos, next_slot, H.window_units)]
                            : s.unit_error[sp - base];
    }
    ring_write(H.ring.data(), H.window_units, unit_bytes, H.stream_pos, src, g.n_full_units);
    ring_write(reinterpret_cast<uint8_t*>(H.error.data()), H.window_units, sizeof(float),
               H.stream_pos, reinterpret_cast<const uint8_t*>(s.unit_error.data()), g.n_full_units);
    H.stream_pos += g.n_full_units;
    H.window_start = next_window_start;
    table_changes.keep();  // the table learnt this frame's units in the dedup pass
  }

  if (stats) {
    stats->outliers = n_out;
    stats->applied_bound = applied;
    stats->method = (uint8_t)FrameMethod::kStaged;
    stats->version = kFrameVersion2;
    stats->coder = h.coder;
    stats->quant = h.quant;
    stats->ref_units = ref_units;
    stats->history_ref_units = history_refs;
    stats->units = g.n_units;
    stats->code_bytes = code_bytes;
    stats->quant_bytes = quant_bytes;
    stats->dedup_bytes = dedup_bytes;
    stats->outlier_bytes = outlier_bytes;
  }
  return (size_t)total;
}

// ---- decoder ----

struct DecodeScratch {
  std::vector<dedup::Run> runs;
  std::vector<int64_t> sources;
  std::vector<uint8_t> literal_unit;
  std::vector<uint32_t> literal_blocks;     // the blocks with a literal unit, in order
  std::vector<local::Dequant> dequant;      // per block (literal blocks with codes only are set)
  std::vector<local::Dequant> rec_dequant;  // local mode, per record of a literal block
  std::vector<uint8_t> rec_kind;            // its local::Kind
  std::vector<float> rec_value;             // its value (zero and constant kinds only)
  std::vector<uint32_t> coded_unit;         // the units with codes, in order
  struct ValueUnit {
    uint32_t unit;
    float value;
  };
  std::vector<ValueUnit> value_unit;   // literal units of zero and constant blocks
  std::vector<uint32_t> codes;         // the coded codes, kGroupCodes per group
  std::vector<uint32_t> table_cols;    // table mode: each table's width
  std::vector<uint16_t> col_table;     // table mode: each column's table
  std::vector<table::Params> tparams;  // table mode: per table
  rans::Tables tables;
};
thread_local DecodeScratch t_dec;

// As encode_scratch.
[[gnu::noinline]] DecodeScratch& decode_scratch() {
  return t_dec;
}

// The fixed coder's section: its size and (global mode) every width. Sets *widths and *planes.
bool check_fixed(const uint8_t* p, uint64_t len, uint64_t n_groups, bool local_mode, uint32_t w,
                 const uint8_t** widths, const uint8_t** planes) {
  if (local_mode) {
    *widths = nullptr;
    *planes = p;
    return len == n_groups * 4 * w;
  }
  if (n_groups > len) return false;
  uint64_t sum = 0;
  for (uint64_t gi = 0; gi < n_groups; ++gi) {
    if (p[gi] > kMaxCodeWidth) return false;
    sum += p[gi];
  }
  *widths = p;
  *planes = p + n_groups;
  return len - n_groups == 4 * sum;
}

// The segments of a rANS stream, two at a time where there are two (each segment's rounds are a
// chain of dependent table reads; two chains side by side keep the CPU busier), each checked
// before it is read, to sym[0, n_coded). *p: the first segment, then past the last. Sym: uint8_t
// (the rANS kernels' decode_segment and decode_two) or uint32_t (their _wide forms). The warm
// lines are shared out among the segments in proportion.
template <class Sym, class DecodeOne, class DecodeTwo>
bool decode_segments(DecodeOne decode_one, DecodeTwo decode_two, const uint8_t* counts,
                     uint32_t n_seg, uint32_t seg_symbols, uint64_t n_coded, const uint8_t** p,
                     const uint8_t* end, const rans::Tables& tables, Sym* sym, WarmLines warm) {
  for (uint32_t seg = 0; seg < n_seg;) {
    const uint32_t take = seg + 1 < n_seg ? 2 : 1;
    const uint8_t* at[2];
    uint32_t n_words[2], count[2];
    for (uint32_t k = 0; k < take; ++k) {
      count[k] = rans::segment_count(n_coded, seg_symbols, seg + k);
      n_words[k] = block::load_le32(counts + 4 * (seg + k));
      if (n_words[k] > count[k]) return false;
      const uint64_t seg_bytes = rans::segment_bytes(n_words[k]);
      if ((uint64_t)(end - *p) < seg_bytes) return false;
      at[k] = *p;
      *p += seg_bytes;
    }
    Sym* out = sym + (uint64_t)seg * seg_symbols;
    if (take == 1) {
      if (!decode_one(at[0], n_words[0], count[0], tables, out, warm.share(seg, 1, n_seg)))
        return false;
    } else {
      bool ok[2];
      decode_two(at[0], n_words[0], count[0], at[1], n_words[1], count[1], tables, out,
                 out + seg_symbols, &ok[0], &ok[1], warm.share(seg, 2, n_seg));
      if (!ok[0] || !ok[1]) return false;
    }
    seg += take;
  }
  return true;
}

// The rANS coder's section: its n_coded codes into s.codes. False when it is malformed.
// The segments decode straight into the 32-bit codes (no byte symbols widened after them), and
// the raw low bits, where there are any, are merged into them in place. A local frame of W <= 8
// without low bits (the default bound's and INT8's precision; every such frame of this encoder)
// keeps its codes in bytes, the symbols themselves (narrow_codes; *narrow set): the codes of a
// 128 KiB frame then stay in the L1 until the dequantizer reads them.
bool decode_rans(const RansKernels& rk, const uint8_t* p, uint64_t len, uint64_t n_coded,
                 bool local_mode, uint32_t w, WarmLines warm, DecodeScratch& s, bool* narrow) {
  const uint8_t* end = p + len;
  if (p >= end) return false;
  uint32_t shift, seg_symbols;
  if (!rans::parse_shift_byte(*p++, &shift, &seg_symbols)) return false;
  if (!rans::read_table(&p, end, &s.tables)) return false;
  const uint32_t n_seg = rans::segments_for(n_coded, seg_symbols);
  if ((uint64_t)(end - p) < 4ull * n_seg) return false;
  const uint8_t* counts = p;
  p += 4ull * n_seg;
  *narrow = local_mode && w <= 8 && shift == 0;
  if (*narrow) {
    s.codes.resize((n_coded + 3) / 4);
    if (!decode_segments(rk.decode_segment, rk.decode_two, counts, n_seg, seg_symbols, n_coded, &p,
                         end, s.tables, narrow_codes(s), warm))
      return false;
  } else {
    s.codes.resize(n_coded);
    if (!decode_segments(rk.decode_segment_wide, rk.decode_two_wide, counts, n_seg, seg_symbols,
                         n_coded, &p, end, s.tables, s.codes.data(), warm))
      return false;
  }
  uint32_t* codes = s.codes.data();
  if ((uint64_t)(end - p) != rans::packed_bytes(n_coded, shift)) return false;
  if (shift > 0) {
    // The raw low bits, LSB first (rans::get_bits, streamed through a 64-bit accumulator).
    uint64_t acc = 0;
    uint32_t n_acc = 0;
    const uint8_t* q = p;
    const uint32_t mask = (1u << shift) - 1u;
    for (uint64_t k = 0; k < n_coded; ++k) {
      while (n_acc < shift) {
        acc |= (uint64_t)*q++ << n_acc;
        n_acc += 8;
      }
      codes[k] = (codes[k] << shift) | ((uint32_t)acc & mask);
      acc >>= shift;
      n_acc -= shift;
    }
  }
  if (!local_mode) return true;
  // Every code within the frame's width: none has a bit at w or above. A code is sym << shift
  // plus low bits below 1 << shift, and a decoded symbol is one the table gives a frequency, so
  // with shift <= w that holds when the table's largest such symbol has no bit at w - shift or
  // above (always, from this encoder); otherwise the codes themselves decide.
  if (shift <= w) {
    uint32_t top = s.tables.n_sym;
    while (top > 0 && s.tables.freq[top - 1] == 0) --top;
    if (w - shift >= 8 || top <= (1u << (w - shift))) return true;
  }
  const auto or_of = [n_coded](const auto* c) {
    uint32_t all = 0;
    for (uint64_t k = 0; k < n_coded; ++k) all |= c[k];
    return all;
  };
  return ((*narrow ? or_of(narrow_codes(s)) : or_of(codes)) >> w) == 0;
}

template <DType kType>
Reject decode_typed(const staged::Header& h, const uint8_t* frame, uint8_t* dst,
                    DecoderHistory* hist) {
  DecodeScratch& s = decode_scratch();
  const Backend& be = active_backend();
  const StagedKernels& sk = be.staged[(int)kType];
  const Geometry g = staged::geometry(h.dtype, h.original_bytes);
  const bool local_mode = h.quant == (uint8_t)StagedQuant::kLocal;
  const bool table_mode = h.quant == (uint8_t)StagedQuant::kTable;
  const uint32_t unit_bytes = (uint32_t)(kUnitElems * g.es);

  // History: the frame must continue the stream where this decoder is.
  const bool history = h.dedup == (uint8_t)StagedDedup::kHistory;
  uint64_t history_units = 0;
  if (history) {
    if (hist == nullptr) return Reject::kHistory;
    if (h.stream_unit != (uint32_t)hist->stream_pos) return Reject::kHistory;
    if (hist->has_dtype && hist->dtype == h.dtype)
      history_units = hist->stream_pos - hist->window_start;
  }

  // Dedup runs.
  const uint8_t* p = frame + staged::section_offset(h, StagedSection::kDedup);
  const uint8_t* end = p + h.section[(int)StagedSection::kDedup];
  s.runs.clear();
  s.literal_unit.assign(g.n_units + 8, 1);  // 8 to spare: a short run is cleared in one word
  if (h.dedup != (uint8_t)StagedDedup::kNone) {
    dedup::Section sec;
    if (!dedup::parse_section(p, end, g.n_full_units, &sec)) return Reject::kDedupRuns;
    s.sources.resize(sec.n_sources);
    if (!dedup::read_sources(sec, end, g.n_full_units, history_units, s.sources.data()))
      return Reject::kDedupRuns;
    s.runs.resize(sec.n_runs);
    uint8_t* lu = s.literal_unit.data();
    // The low n bytes of a word (n <= 8), where the marks of n units from its first lie.
    auto first_bytes = [](uint64_t n) {
      return n == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
    };
    uint64_t word;
    uint64_t prev_end = 0, bit = 0;
    for (uint64_t k = 0; k < sec.n_runs; ++k) {
      dedup::Run& r = s.runs[k];
      if (!dedup::read_run(sec, s.sources.data(), &bit, prev_end, g.n_full_units, &r))
        return Reject::kDedupRuns;
      // A run is a few units (a vector of 64 floats is 4): up to 8 cleared in one word (the
      // vector has 8 bytes to spare), not by a memset call.
      if (r.len <= 8) {
        std::memcpy(&word, lu + r.dst, 8);
        word &= ~first_bytes(r.len);
        std::memcpy(lu + r.dst, &word, 8);
      } else {
        std::memset(lu + r.dst, 0, r.len);
      }
      prev_end = r.dst + r.len;
    }
    if (!dedup::records_end_ok(sec, bit)) return Reject::kDedupRuns;
    // Every in-frame source unit literal (a mark is 0 or 1: all 1 when the word has every byte).
    for (const dedup::Run& r : s.runs) {
      if (r.src < 0) continue;  // a history source
      for (uint64_t u = (uint64_t)r.src; u < (uint64_t)r.src + r.len; u += 8) {
        const uint64_t n = std::min<uint64_t>(8, (uint64_t)r.src + r.len - u);
        std::memcpy(&word, lu + u, 8);
        if ((word & first_bytes(n)) != (0x0101010101010101ull & first_bytes(n)))
          return Reject::kDedupSource;
      }
    }
  }

  // Literal blocks and the quantizer section; the coded units and the literal units of zero and
  // constant blocks.
  p = frame + staged::section_offset(h, StagedSection::kQuant);
  end = p + h.section[(int)StagedSection::kQuant];
  uint32_t w = 0, e0 = 0, rlog = 0;
  const uint8_t* rec = nullptr;
  const uint8_t* side = nullptr;
  bool packed = false;  // local records packed (local_packed.h)
  local::PackedLayout packed_layout;
  TableGeometry tg{};
  if (local_mode) {
    if ((uint64_t)(end - p) < local::kQuantHeaderBytes) return Reject::kQuantParams;
    e0 = p[0];
    w = p[1];
    rlog = p[2];
    if (e0 < 1 || e0 > 254 || w < 1 || w > local::kMaxWidth || rlog > local::kMaxRecordLog2 ||
        p[3] > local::kRecordsPacked)
      return Reject::kQuantParams;
    rec = p + local::kQuantHeaderBytes;
    if (p[3] == local::kRecordsPacked) {
      if ((uint64_t)(end - rec) < local::kPackedHeadBytes ||
          !local::read_packed_head(rec, &packed_layout))
        return Reject::kQuantParams;
      packed = true;
      rec += local::kPackedHeadBytes;
    }
  } else if (table_mode) {
    uint32_t row_elems, start_col, n_tables;
    if (!table::parse_header(p, (uint64_t)(end - p), &row_elems, &start_col, &n_tables))
      return Reject::kQuantParams;
    s.tparams.resize(n_tables);
    s.table_cols.resize(n_tables);
    if (!table::parse_entries(p, row_elems, n_tables, s.tparams.data(), s.table_cols.data(),
                              nullptr))
      return Reject::kQuantParams;
    column_tables(s.table_cols.data(), n_tables, row_elems, &s.col_table);
    tg = TableGeometry{s.col_table.data(), row_elems, start_col};
  } else if (p != end) {
    return Reject::kQuantParams;
  }
  // The blocks with a literal unit: with references, listed (list_literal_blocks); without,
  // every block (null). Then the records they are in. Global and table modes read no records:
  // their coded units are the literal units, listed straight from the marks (below).
  const uint32_t* lit_blocks = nullptr;
  uint64_t n_lit_blocks = local_mode ? g.n_blocks : 0;
  if (local_mode && !s.runs.empty()) {
    if (s.literal_blocks.size() < g.n_blocks) s.literal_blocks.resize(g.n_blocks);
    const uint8_t* lu = s.literal_unit.data();
    n_lit_blocks = list_literal_blocks(
        g.n_units, [&](uint64_t u) { return lu[u] != 0; }, s.literal_blocks.data());
    lit_blocks = s.literal_blocks.data();
  }
  uint64_t n_lit_records = n_lit_blocks;  // local mode: a record per block, unless rows share
  if (local_mode && rlog > 0) {
    n_lit_records = 0;
    for (uint64_t k = 0, last = ~0ull; k < n_lit_blocks; ++k) {
      const uint64_t r = (lit_blocks != nullptr ? lit_blocks[k] : k) >> rlog;
      n_lit_records += r != last;
      last = r;
    }
  }
  uint64_t packed_record_bytes = 0;  // packed: the records' bytes, after the packed head
  if (local_mode && packed) {
    packed_record_bytes =
        local::packed_bytes(packed_layout, n_lit_records) - local::kPackedHeadBytes;
    if ((uint64_t)(end - rec) < packed_record_bytes ||
        !local::packed_tail_zero(rec, packed_record_bytes, packed_layout, n_lit_records))
      return Reject::kQuantParams;
    side = rec + packed_record_bytes;
  } else if (local_mode) {
    if ((uint64_t)(end - rec) < local::fixed_bytes(n_lit_records)) return Reject::kQuantParams;
    side = rec + local::fixed_bytes(n_lit_records);
  }
  if (local_mode) s.dequant.resize(g.n_blocks);
  s.coded_unit.resize(g.n_units);
  s.value_unit.clear();
  uint64_t n_coded_units = 0, n_coded = 0;
  // Local mode: the records first, the valid kQuant ones by the backend's reader, many at a time,
  // the others (and their side entries) one at a time.
  uint64_t n_quant_records = 0;
  if (local_mode) {
    if (s.rec_dequant.size() < n_lit_records) {
      s.rec_dequant.resize(n_lit_records);
      s.rec_kind.resize(n_lit_records);
      s.rec_value.resize(n_lit_records);
    }
    for (uint64_t r = 0; r < n_lit_records;) {
      const uint64_t k =
          packed ? be.units->local_dequants_packed(rec, packed_record_bytes, packed_layout, r,
                                                   n_lit_records - r, e0, s.rec_dequant.data() + r)
                 : be.units->local_dequants(rec + local::kRecordBytes * r, n_lit_records - r, e0,
                                            s.rec_dequant.data() + r);
      std::memset(s.rec_kind.data() + r, (int)local::Kind::kQuant, k);
      n_quant_records += k;
      r += k;
      if (r == n_lit_records) break;
      // A packed record's fields that name no record give kInvalidRecord, which parse() refuses.
      const uint32_t record = packed
                                  ? local::packed_record(rec, packed_record_bytes, packed_layout, r)
                                  : local::load_record(rec + local::kRecordBytes * r);
      // The record's kind says whether a side entry follows; check it is there first.
      bool has_side, has_codes;
      local::classify_record(record, &has_side, &has_codes);
      if (has_side && (uint64_t)(end - side) < local::kSideBytes) return Reject::kQuantParams;
      local::BlockParams bp;
      if (!local::parse(record, side, e0, w, &bp)) return Reject::kQuantParams;
      if (has_side) side += local::kSideBytes;
      s.rec_kind[r] = (uint8_t)bp.kind;
      s.rec_value[r] = bp.value;
      // The write kernels' 8 bytes a block, not the 36 of the parameters (a 128 KiB frame's
      // 1024 blocks then fit in L1 beside its codes).
      s.rec_dequant[r] = local::dequant_of(bp);
      ++r;
    }
    if (side != end) return Reject::kQuantParams;
  }
  // Then each literal block's parameters: its record's (a row record serves its row's blocks).
  // When every record is a kQuant block's, one per block (the usual frame), that is all, and the
  // literal units are the coded ones (1.05-1.12x decompress at local 1.96e-3, 128 KiB frames,
  // with the records read eight at a time); otherwise each block's units are listed as coded or
  // given the record's value.
  const bool all_quant = local_mode && rlog == 0 && n_quant_records == n_lit_records;
  if (all_quant) {
    for (uint64_t j = 0; j < n_lit_blocks; ++j)
      s.dequant[lit_blocks != nullptr ? lit_blocks[j] : j] = s.rec_dequant[j];
  } else if (local_mode) {
    for (uint64_t j = 0, last = ~0ull, ri = 0, r = 0; j < n_lit_blocks; ++j) {
      const uint64_t b = lit_blocks != nullptr ? lit_blocks[j] : j;
      const uint64_t u0 = 2 * b;
      // Bit k: unit u0 + k is literal (one of them is).
      const uint32_t lit = (uint32_t)(s.literal_unit[u0] != 0) |
                           ((uint32_t)(u0 + 1 < g.n_units && s.literal_unit[u0 + 1] != 0) << 1);
      if ((b >> rlog) != last) {
        last = b >> rlog;
        r = ri++;
      }
      s.dequant[b] = s.rec_dequant[r];
      if (local::has_codes((local::Kind)s.rec_kind[r])) {
        n_coded_units = append_units(lit, u0, s.coded_unit.data(), n_coded_units);
      } else {
        if (lit & 1u) s.value_unit.push_back({(uint32_t)u0, s.rec_value[r]});
        if (lit & 2u) s.value_unit.push_back({(uint32_t)(u0 + 1), s.rec_value[r]});
      }
    }
  }
  // Global and table modes, and local frames of kQuant blocks only: every literal unit has codes,
  // so the coded units are listed straight from the marks, with no block list and no per-block
  // pass (1.05x decompress at rel 1e-2, 128 KiB frames).
  if (!local_mode || all_quant)
    n_coded_units = be.units->list_nonzero(s.literal_unit.data(), g.n_units, s.coded_unit.data());
  n_coded = units_elems(s.coded_unit.data(), n_coded_units, g);

  // Codes: the fixed coder's are checked here and read while writing; rANS's decoded now.
  p = frame + staged::section_offset(h, StagedSection::kCodes);
  const uint64_t code_len = h.section[(int)StagedSection::kCodes];
  const bool fixed = h.coder == (uint8_t)StagedCoder::kFixed;
  const uint8_t* widths = nullptr;
  const uint8_t* planes = nullptr;
  bool narrow = false;  // rANS codes in bytes (decode_rans)
  if (fixed) {
    if (!check_fixed(p, code_len, (n_coded + kGroupCodes - 1) / kGroupCodes, local_mode, w, &widths,
                     &planes))
      return Reject::kCodes;
  } else if (!decode_rans(*be.rans, p, code_len, n_coded, local_mode, w,
                          warm_lines(dst, g.n * g.es), s, &narrow)) {
    return Reject::kRansStream;
  }

  // Outliers.
  p = frame + staged::section_offset(h, StagedSection::kOutliers);
  const uint64_t out_len = h.section[(int)StagedSection::kOutliers];
  if (out_len < 4) return Reject::kOutliers;
  const uint64_t n_out = block::load_le32(p);
  if (out_len != 4 + n_out * (4 + g.es)) return Reject::kOutliers;
  const uint8_t* idx = p + 4;
  const uint8_t* val = idx + 4 * n_out;
  for (uint64_t k = 0; k < n_out; ++k) {
    const uint64_t i = block::load_le32(idx + 4 * k);
    if (i >= g.n || (k > 0 && i <= block::load_le32(idx + 4 * (k - 1))) ||
        !s.literal_unit[i / kUnitElems])
      return Reject::kOutliers;
  }

  // Everything is valid: write. The coded units, then the zero and constant units.
  if (table_mode) {
    if (fixed) {  // the codes out of their planes first
      s.codes.resize(((n_coded + kGroupCodes - 1) / kGroupCodes) * kGroupCodes);
      for (uint64_t gi = 0; gi < (n_coded + kGroupCodes - 1) / kGroupCodes; ++gi) {
        be.units->unpack_planes(planes, widths[gi], s.codes.data() + gi * kGroupCodes);
        planes += 4 * widths[gi];
      }
    }
    be.table[(int)kType].write(tg, s.tparams.data(), s.coded_unit.data(), n_coded_units, g.n,
                               s.codes.data(), dst);
  } else if (fixed && local_mode) {
    sk.write_fixed_local(planes, w, s.dequant.data(), s.coded_unit.data(), n_coded_units, g.n, dst);
  } else if (fixed) {
    sk.write_fixed_global(widths, planes, h.step, s.coded_unit.data(), n_coded_units, g.n, dst);
  } else if (local_mode && narrow) {
    sk.write_local_narrow(s.dequant.data(), s.coded_unit.data(), n_coded_units, g.n,
                          narrow_codes(s), dst);
  } else if (local_mode) {
    sk.write_local(s.dequant.data(), s.coded_unit.data(), n_coded_units, g.n, s.codes.data(), dst);
  } else {
    sk.write_global(h.step, s.coded_unit.data(), n_coded_units, g.n, s.codes.data(), dst);
  }
  for (const DecodeScratch::ValueUnit& vu : s.value_unit) {
    const uint64_t first = (uint64_t)vu.unit * kUnitElems;
    const uint64_t last = std::min<uint64_t>(first + kUnitElems, g.n);
    for (uint64_t i = first; i < last; ++i) block::store_element<kType>(dst + i * g.es, vu.value);
  }
  for (uint64_t k = 0; k < n_out; ++k) {
    const uint64_t i = block::load_le32(idx + 4 * k);
    std::memcpy(dst + i * g.es, val + k * g.es, g.es);
  }
  // References: literal sources in this frame, or the history. The destination of the run
  // kRunsAhead places ahead is fetched for writing: runs lie among literal units, in no order a
  // hardware prefetcher follows. An output larger than the caches instead takes the runs' copies
  // around them, and fetches the source of the run kSourcesAhead places ahead for reading: a
  // source is a literal unit written long before, no longer in any cache (16 and 64 MiB frames
  // decoded 1.11-1.16x and 1.03-1.09x as fast with it; 8 ahead 1.02-1.05x, 64 no better than 24).
  constexpr size_t kRunsAhead = 4;
  constexpr size_t kSourcesAhead = 24;
  const bool bypass_cache = g.n * g.es >= kBypassCacheBytes;
  for (size_t k = 0; k < s.runs.size(); ++k) {
    const dedup::Run& r = s.runs[k];
    if (!bypass_cache && k + kRunsAhead < s.runs.size()) {
      const dedup::Run& a = s.runs[k + kRunsAhead];
      const uint8_t* ahead = dst + a.dst * unit_bytes;
      prefetch_line(ahead, true);
      prefetch_line(ahead + unit_bytes - 1, true);
    }
    if (bypass_cache && k + kSourcesAhead < s.runs.size() && s.runs[k + kSourcesAhead].src >= 0) {
      const uint8_t* ahead = dst + (uint64_t)s.runs[k + kSourcesAhead].src * unit_bytes;
      prefetch_line(ahead);
      prefetch_line(ahead + unit_bytes - 1);
    }
    if (r.src >= 0) {
      uint8_t* to = dst + r.dst * unit_bytes;
      const uint8_t* from = dst + (uint64_t)r.src * unit_bytes;
      if (bypass_cache)
        copy_bypassing_cache(to, from, r.len * unit_bytes);
      else
        std::memcpy(to, from, r.len * unit_bytes);
    } else {
      ring_read(hist->ring.data(), hist->window_units, unit_bytes,
                hist->stream_pos - (uint64_t)(-r.src), dst + r.dst * unit_bytes, r.len);
    }
  }
  if (bypass_cache) store_fence();
  if (g.tail) {
    p = frame + staged::section_offset(h, StagedSection::kTail);
    std::memcpy(dst + g.n * g.es, p, g.tail);
  }
  return Reject::kNone;
}

}  // namespace

void set_code_observer(CodeObserver* observer) {
  t_observer = observer;
}

size_t encode_staged(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     EncoderHistory* hist, FrameStats* stats) {
  switch (params.dtype) {
    case DType::kF32:
      return encode_typed<DType::kF32>(params, src, src_bytes, dst, hist, stats);
    case DType::kF16:
      return encode_typed<DType::kF16>(params, src, src_bytes, dst, hist, stats);
    case DType::kBF16:
      return encode_typed<DType::kBF16>(params, src, src_bytes, dst, hist, stats);
    default:
      return 0;
  }
}

Reject decode_staged(const uint8_t* frame, size_t frame_bytes, uint8_t* dst, size_t dst_capacity,
                     DecoderHistory* hist, size_t* out_bytes) {
  staged::Header h;
  Reject r = staged::parse(frame, frame_bytes, &h);
  if (r != Reject::kNone) return r;
  if (frame[hdr::kMethod] == (uint8_t)FrameMethod::kRaw) {
    if (h.original_bytes > dst_capacity) return Reject::kOutputTooSmall;
    if (h.original_bytes) std::memcpy(dst, frame + kFrameHeaderBytes, h.original_bytes);
    *out_bytes = h.original_bytes;
    return Reject::kNone;
  }
  if (h.original_bytes > dst_capacity) return Reject::kOutputTooSmall;
  switch ((DType)h.dtype) {
    case DType::kF32:
      r = decode_typed<DType::kF32>(h, frame, dst, hist);
      break;
    case DType::kF16:
      r = decode_typed<DType::kF16>(h, frame, dst, hist);
      break;
    default:
      r = decode_typed<DType::kBF16>(h, frame, dst, hist);
      break;
  }
  if (r != Reject::kNone) return r;  // a rejected frame leaves the history as it was
  if (h.dedup == (uint8_t)StagedDedup::kHistory) {
    // A frame of another element type restarts the window, as the encoder did (it could refer
    // to nothing before it: decode_typed gave it no history units).
    DecoderHistory& H = *hist;
    if (!H.has_dtype || H.dtype != h.dtype) H.restart(h.dtype);
    // The history learns the frame's full units, as decoded.
    const Geometry g = staged::geometry(h.dtype, h.original_bytes);
    ring_write(H.ring.data(), H.window_units, H.unit_bytes, H.stream_pos, dst, g.n_full_units);
    H.stream_pos += g.n_full_units;
    H.window_start = window_start_after(H.window_start, H.stream_pos, H.window_units);
  }
  *out_bytes = h.original_bytes;
  return Reject::kNone;
}

}  // namespace squeeze::cpu
