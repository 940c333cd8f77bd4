// The hot loops of the staged (version 2) codec on the CPU, one set per instruction-set level
// (scalar in staged_scalar.cc, AVX2 in staged_avx2.cc), reached through the active Backend. The
// scalar set calls the shared SQZ_HD stage code per element and is the reference: every other set
// must give its bytes exactly (tests/unit/test_codec_kernels.cc compares them frame by frame).
// staged.cc orchestrates; it makes no per-element decision itself.
#pragma once

#include <cstdint>

#include "compress/methods/local.h"
#include "compress/methods/local_packed.h"
#include "compress/quant.h"

namespace squeeze::cpu {

// Per element type.
struct StagedKernels {
  // Statistics of every block of 32 of src[0, n) (the last block may be partial).
  void (*block_stats)(const uint8_t* src, uint64_t n, local::BlockStats* out);
  // block_stats, and UnitKernels::unit_keys of the first n_full_units units (n_full_units <=
  // n / kUnitElems), in one pass where that is faster.
  void (*block_stats_keys)(const uint8_t* src, uint64_t n, local::BlockStats* out,
                           uint64_t n_full_units, uint64_t* keys);
  // Quantizes src[0, n) with each block's local parameters: codes[i] (0 for an outlier), per
  // block a mask of its outliers, per unit of 16 the largest reconstruction error of its
  // quantized elements (0 when none). Every block when blocks is null, else only the n_listed
  // blocks blocks[0, n_listed) (none when n_listed is 0; the others' outputs are left as they
  // were): the encoder skips the blocks whose units are all references.
  void (*quantize_local)(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                         const uint32_t* blocks, uint64_t n_listed, uint32_t* codes,
                         uint32_t* outlier_masks, float* unit_error);
  // quantize_local with each code in a byte, for frames of local::code_width W <= 8, whose codes
  // are below 256: the codes of a large frame then stay in the L2 between the quantizer and the
  // packer (pack_groups_narrow). The same codes, masks and errors.
  void (*quantize_local_narrow)(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                                const uint32_t* blocks, uint64_t n_listed, uint8_t* codes,
                                uint32_t* outlier_masks, float* unit_error);
  // quantize_local with one global quantizer (codes zigzag-coded).
  void (*quantize_global)(const uint8_t* src, uint64_t n, const quant::QuantParams& qp,
                          const uint32_t* blocks, uint64_t n_listed, uint32_t* codes,
                          uint32_t* outlier_masks, float* unit_error);
  // Decoder: the values of the listed units (each kUnitElems elements, fewer for the unit that
  // ends at element n) from their codes, kUnitElems per unit in list order; local mode with
  // each block's local::Dequant (set for the blocks of the listed units).
  void (*write_local)(const local::Dequant* dq, const uint32_t* units, uint64_t n_units, uint64_t n,
                      const uint32_t* codes, uint8_t* dst);
  // write_local from codes of a byte each (frames of local::code_width W <= 8 whose rANS stream
  // the decoder writes as bytes): the codes of a 128 KiB frame then stay in the L1.
  void (*write_local_narrow)(const local::Dequant* dq, const uint32_t* units, uint64_t n_units,
                             uint64_t n, const uint8_t* codes, uint8_t* dst);
  void (*write_global)(float step, const uint32_t* units, uint64_t n_units, uint64_t n,
                       const uint32_t* codes, uint8_t* dst);
  // Decoder, fixed coder: the same straight from the bit planes of the coded stream's groups
  // (group g holds the codes of listed units 2g and 2g + 1), validated before: w planes per group
  // (local), or widths[g] (global).
  void (*write_fixed_local)(const uint8_t* planes, uint32_t w, const local::Dequant* dq,
                            const uint32_t* units, uint64_t n_units, uint64_t n, uint8_t* dst);
  void (*write_fixed_global)(const uint8_t* widths, const uint8_t* planes, float step,
                             const uint32_t* units, uint64_t n_units, uint64_t n, uint8_t* dst);
};

// Independent of the element type.
struct UnitKernels {
  // Dedup table keys (dedup::table_key of dedup::unit_hash) of n_units units of unit_bytes.
  void (*unit_keys)(const uint8_t* src, uint64_t n_units, uint32_t unit_bytes, uint64_t* keys);
  // The fixed coder's groups, back to back to out: group g is the codes of listed units 2g and
  // 2g + 1 (unit u's kUnitElems codes at codes + u * kUnitElems; zeros past the n_units-th), in
  // widths[g] planes, or w planes each when widths is null (local mode).
  void (*pack_groups)(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                      const uint8_t* widths, uint32_t w, uint8_t* out);
  // pack_groups of local mode (w <= 8 planes a group) from codes of a byte each
  // (StagedKernels::quantize_local_narrow): the same bytes.
  void (*pack_groups_narrow)(const uint8_t* codes, const uint32_t* units, uint64_t n_units,
                             uint32_t w, uint8_t* out);
  // The global mode fixed coder's widths: widths[g] = quant::code_width of the OR of group g's
  // codes (listed units 2g and 2g + 1, read as pack_groups reads them, whole units), for the
  // (n_units + 1) / 2 groups. Returns the OR of every code; *planes is the sum of the widths.
  uint32_t (*group_widths)(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                           uint8_t* widths, uint64_t* planes);
  // The bit planes of one group of 32 codes in `width` planes: block::unpack_planes.
  void (*unpack_planes)(const uint8_t* in, uint32_t width, uint32_t* codes);
  // Local mode, records [0, n) with stats st[r] and bound[r]: the frame's reference exponent
  // (the largest exponent field of local::wanted_step_bits, 0 when there is none), and each
  // record's local::decide (record[r], side[2r..2r+1], params[r]) for elements of type dtype
  // at the frame's record precision.
  uint32_t (*local_e0)(const local::BlockStats* st, const double* bound, uint64_t n);
  void (*decide_local)(const local::BlockStats* st, const double* bound, uint64_t n, uint32_t e0,
                       uint32_t w, uint8_t dtype, local::RecordPrecision prec, uint32_t* record,
                       uint32_t* side, local::BlockParams* params);
  // Local mode's decoder: records [0, n) (local::kRecordBytes each, nothing read past them) as
  // dq[r] (local::quant_dequant) for as long as each is a valid kQuant record. Returns how many:
  // the index of the first that is not, else n.
  uint64_t (*local_dequants)(const uint8_t* records, uint64_t n, uint32_t e0, local::Dequant* dq);
  // The same of packed records (local_packed.h): records [first, first + n) of layout l, whose
  // bits are records[0, bytes), as dq[0, count) (local::packed_record, then quant_dequant).
  uint64_t (*local_dequants_packed)(const uint8_t* records, uint64_t bytes,
                                    const local::PackedLayout& l, uint64_t first, uint64_t n,
                                    uint32_t e0, local::Dequant* dq);
  // The indices u in [0, n) with flags[u] != 0, in order, to list[0, count); returns count. list
  // has room for n entries (a SIMD set writes 8 at a time, never past list[n - 1]).
  uint64_t (*list_nonzero)(const uint8_t* flags, uint64_t n, uint32_t* list);
  // The rANS symbols of n whole listed units of codes wider than a byte: out[16 k + j] =
  // codes[units[k] * kUnitElems + j] >> shift, each below 256 (shift is the codes' width less 8).
  void (*unit_symbols)(const uint32_t* codes, const uint32_t* units, uint64_t n, uint32_t shift,
                       uint8_t* out);
};

// list_nonzero's definition from index `from` on: appends the indices u in [from, n) with
// flags[u] != 0 to list[count, ...) and returns the new count. Without a branch per index:
// whether a unit is literal follows no pattern a predictor learns (a forward payload's frame
// refers to a third to a half of its units). The scalar set is this from 0; SIMD sets finish
// their last partial round with it.
inline uint64_t append_nonzero(const uint8_t* flags, uint64_t from, uint64_t n, uint32_t* list,
                               uint64_t count) {
  for (uint64_t u = from; u < n; ++u) {
    list[count] = (uint32_t)u;
    count += flags[u] != 0;
  }
  return count;
}

extern const StagedKernels kStagedScalar[4];  // indexed by DType; kBytes unused
extern const UnitKernels kUnitScalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
extern const StagedKernels kStagedAvx2[4];
extern const UnitKernels kUnitAvx2;
#endif

}  // namespace squeeze::cpu
