// The reference set of the staged codec's CPU loops: the shared SQZ_HD stage code, element by
// element. See staged_kernels.h.
#include <algorithm>
#include <cstring>

#include "compress/block.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/quant.h"
#include "squeeze/format.h"

namespace squeeze::cpu {

namespace {

template <DType kType>
void block_stats_scalar(const uint8_t* src, uint64_t n, local::BlockStats* out) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t n_blocks = (n + kBlockElems - 1) / kBlockElems;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, n);
    local::BlockStats st{INFINITY, -INFINITY, false, true, 0};
    for (uint64_t i = first; i < last; ++i) {
      const float x = block::load_element<kType>(src + i * es);
      if (!std::isfinite(x)) continue;
      const uint32_t bits = quant::float_to_bits(x);
      if (!st.has_finite) {
        st.same_bits = bits;
      } else if (bits != st.same_bits) {
        st.all_same = false;
      }
      st.has_finite = true;
      st.mn = quant::min_total(st.mn, x);
      st.mx = quant::max_total(st.mx, x);
    }
    if (!st.has_finite) st.all_same = false;
    out[b] = st;
  }
}

// Code: uint32_t, or uint8_t for quantize_local_narrow (codes below 2^W <= 256).
template <DType kType, class Code>
void quantize_local_scalar(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                           const uint32_t* blocks, uint64_t n_listed, Code* codes,
                           uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t count = blocks != nullptr ? n_listed : (n + kBlockElems - 1) / kBlockElems;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t b = blocks != nullptr ? blocks[k] : k;
    const local::BlockParams& p = params[b];
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, n);
    uint32_t mask = 0;
    float err[2] = {0.0f, 0.0f};
    for (uint64_t i = first; i < last; ++i) {
      const float x = block::load_element<kType>(src + i * es);
      uint32_t code = 0;
      bool ok;
      if (local::has_codes(p.kind)) {
        ok = local::quantize_element<kType>(x, p, &code);
        if (ok) {
          const float d =
              quant::element_error(x, quant::round_to_type<kType>(local::reconstruct(p, code)));
          float& e = err[(i - first) / kUnitElems];
          e = d > e ? d : e;
        }
      } else {
        // Zero and constant blocks: an element with the block's value is exact, any other
        // (non-finite) one is an outlier.
        ok = std::isfinite(x) && quant::float_to_bits(x) == quant::float_to_bits(p.value);
      }
      codes[i] = (Code)(ok ? code : 0u);
      if (!ok) mask |= 1u << (i - first);
    }
    outlier_masks[b] = mask;
    unit_error[2 * b] = err[0];
    if (first + kUnitElems < n) unit_error[2 * b + 1] = err[1];
  }
}

template <DType kType>
void quantize_global_scalar(const uint8_t* src, uint64_t n, const quant::QuantParams& qp,
                            const uint32_t* blocks, uint64_t n_listed, uint32_t* codes,
                            uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t count = blocks != nullptr ? n_listed : (n + kBlockElems - 1) / kBlockElems;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t b = blocks != nullptr ? blocks[k] : k;
    const uint64_t first = b * kBlockElems;
    const uint64_t last = std::min<uint64_t>(first + kBlockElems, n);
    uint32_t mask = 0;
    float err[2] = {0.0f, 0.0f};
    for (uint64_t i = first; i < last; ++i) {
      const float x = block::load_element<kType>(src + i * es);
      int32_t q;
      const bool ok = quant::quantize_element<kType>(x, qp, &q);
      codes[i] = ok ? quant::zigzag(q) : 0u;
      if (!ok) {
        mask |= 1u << (i - first);
        continue;
      }
      const float d =
          quant::element_error(x, quant::round_to_type<kType>(quant::reconstruct_f32(q, qp.step)));
      float& e = err[(i - first) / kUnitElems];
      e = d > e ? d : e;
    }
    outlier_masks[b] = mask;
    unit_error[2 * b] = err[0];
    if (first + kUnitElems < n) unit_error[2 * b + 1] = err[1];
  }
}

// Code: uint32_t, or uint8_t for the byte codes of a narrow frame.
template <DType kType, class Code>
void write_local_scalar(const local::Dequant* dq, const uint32_t* units, uint64_t n_units,
                        uint64_t n, const Code* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; ++k) {
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint64_t count = std::min<uint64_t>(kUnitElems, n - first);
    const local::Dequant& d = dq[first / kBlockElems];
    for (uint64_t j = 0; j < count; ++j)
      block::store_element<kType>(dst + (first + j) * es,
                                  local::reconstruct(d, codes[k * kUnitElems + j]));
  }
}

template <DType kType>
void write_global_scalar(float step, const uint32_t* units, uint64_t n_units, uint64_t n,
                         const uint32_t* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; ++k) {
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint64_t count = std::min<uint64_t>(kUnitElems, n - first);
    for (uint64_t j = 0; j < count; ++j)
      block::store_element<kType>(
          dst + (first + j) * es,
          quant::reconstruct_f32(quant::unzigzag(codes[k * kUnitElems + j]), step));
  }
}

template <DType kType>
void write_fixed_local_scalar(const uint8_t* planes, uint32_t w, const local::Dequant* dq,
                              const uint32_t* units, uint64_t n_units, uint64_t n, uint8_t* dst) {
  uint32_t codes[kGroupCodes];
  for (uint64_t k = 0; k < n_units; k += 2, planes += 4 * w) {
    block::unpack_planes(planes, w, codes);
    write_local_scalar<kType, uint32_t>(dq, units + k, std::min<uint64_t>(2, n_units - k), n, codes,
                                        dst);
  }
}

template <DType kType>
void write_fixed_global_scalar(const uint8_t* widths, const uint8_t* planes, float step,
                               const uint32_t* units, uint64_t n_units, uint64_t n, uint8_t* dst) {
  uint32_t codes[kGroupCodes];
  for (uint64_t k = 0; k < n_units; k += 2) {
    const uint32_t w = *widths++;
    block::unpack_planes(planes, w, codes);
    planes += 4 * w;
    write_global_scalar<kType>(step, units + k, std::min<uint64_t>(2, n_units - k), n, codes, dst);
  }
}

void unit_keys_scalar(const uint8_t* src, uint64_t n_units, uint32_t unit_bytes, uint64_t* keys) {
  for (uint64_t u = 0; u < n_units; ++u)
    keys[u] = dedup::table_key(dedup::unit_hash(src + u * unit_bytes, unit_bytes));
}

uint32_t local_e0_scalar(const local::BlockStats* st, const double* bound, uint64_t n) {
  uint32_t e0 = 0;
  for (uint64_t r = 0; r < n; ++r) {
    const uint32_t e = local::wanted_step_bits(st[r], bound[r]) >> 23;
    e0 = e > e0 ? e : e0;
  }
  return e0;
}

void decide_local_scalar(const local::BlockStats* st, const double* bound, uint64_t n, uint32_t e0,
                         uint32_t w, uint8_t dtype, local::RecordPrecision prec, uint32_t* record,
                         uint32_t* side, local::BlockParams* params) {
  for (uint64_t r = 0; r < n; ++r)
    local::decide(st[r], bound[r], e0, w, dtype, prec, &record[r], &side[2 * r], &params[r]);
}

// The two passes, one after the other: the reference the fused kernels are compared with.
template <DType kType>
void block_stats_keys_scalar(const uint8_t* src, uint64_t n, local::BlockStats* out,
                             uint64_t n_full_units, uint64_t* keys) {
  block_stats_scalar<kType>(src, n, out);
  unit_keys_scalar(src, n_full_units, (uint32_t)(kUnitElems * dtype_size(kType)), keys);
}

template <DType kType>
constexpr StagedKernels scalar_set() {
  return {&block_stats_scalar<kType>,
          &block_stats_keys_scalar<kType>,
          &quantize_local_scalar<kType, uint32_t>,
          &quantize_local_scalar<kType, uint8_t>,
          &quantize_global_scalar<kType>,
          &write_local_scalar<kType, uint32_t>,
          &write_local_scalar<kType, uint8_t>,
          &write_global_scalar<kType>,
          &write_fixed_local_scalar<kType>,
          &write_fixed_global_scalar<kType>};
}

// The groups of listed units from codes of any width (Code: uint32_t, or uint8_t for local
// mode's byte codes), each widened into a group of 32-bit codes for block::pack_planes.
template <class Code>
void pack_groups_of(const Code* codes, const uint32_t* units, uint64_t n_units,
                    const uint8_t* widths, uint32_t w, uint8_t* out) {
  uint32_t group[kGroupCodes];
  for (uint64_t g = 0; 2 * g < n_units; ++g) {
    for (uint64_t k = 0; k < 2; ++k) {
      const bool listed = 2 * g + k < n_units;
      const Code* c = listed ? codes + (uint64_t)units[2 * g + k] * kUnitElems : nullptr;
      for (uint32_t e = 0; e < kUnitElems; ++e) group[k * kUnitElems + e] = listed ? c[e] : 0u;
    }
    const uint32_t width = widths != nullptr ? widths[g] : w;
    block::pack_planes(group, width, out);
    out += 4 * width;
  }
}

void pack_groups_scalar(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                        const uint8_t* widths, uint32_t w, uint8_t* out) {
  pack_groups_of(codes, units, n_units, widths, w, out);
}

void pack_groups_narrow_scalar(const uint8_t* codes, const uint32_t* units, uint64_t n_units,
                               uint32_t w, uint8_t* out) {
  pack_groups_of(codes, units, n_units, nullptr, w, out);
}

uint32_t group_widths_scalar(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                             uint8_t* widths, uint64_t* planes) {
  uint32_t all = 0;
  uint64_t sum = 0;
  for (uint64_t g = 0; 2 * g < n_units; ++g) {
    uint32_t any = 0;
    for (uint64_t k = 2 * g; k < std::min<uint64_t>(2 * g + 2, n_units); ++k) {
      const uint32_t* c = codes + (uint64_t)units[k] * kUnitElems;
      for (uint32_t e = 0; e < kUnitElems; ++e) any |= c[e];
    }
    all |= any;
    widths[g] = (uint8_t)quant::code_width(any);
    sum += widths[g];
  }
  *planes = sum;
  return all;
}

uint64_t local_dequants_scalar(const uint8_t* records, uint64_t n, uint32_t e0,
                               local::Dequant* dq) {
  for (uint64_t r = 0; r < n; ++r)
    if (!local::quant_dequant(local::load_record(records + local::kRecordBytes * r), e0, &dq[r]))
      return r;
  return n;
}

uint64_t local_dequants_packed_scalar(const uint8_t* records, uint64_t bytes,
                                      const local::PackedLayout& l, uint64_t first, uint64_t n,
                                      uint32_t e0, local::Dequant* dq) {
  for (uint64_t r = 0; r < n; ++r)
    if (!local::quant_dequant(local::packed_record(records, bytes, l, first + r), e0, &dq[r]))
      return r;
  return n;
}

// rans::encode_segment, the reference of the other sets' segment encoders (no warming, as below).
uint32_t encode_segment_scalar(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                               const uint32_t* cum, uint16_t* scratch, uint8_t* out, WarmLines) {
  return rans::encode_segment(sym, count, freq, cum, scratch, out);
}

// rans::decode_segment, the reference of the other sets' segment decoders (no warming: the
// WarmLines hint is for them).
template <class Sym>
bool decode_segment_scalar(const uint8_t* seg, uint32_t n_words, uint32_t count,
                           const rans::Tables& t, Sym* sym, WarmLines) {
  return rans::decode_segment(seg, n_words, count, t, sym);
}

// rans::decode_segment on each: the reference of decode_two and decode_two_wide.
template <class Sym>
void decode_two_scalar(const uint8_t* seg_a, uint32_t words_a, uint32_t count_a,
                       const uint8_t* seg_b, uint32_t words_b, uint32_t count_b,
                       const rans::Tables& t, Sym* sym_a, Sym* sym_b, bool* ok_a, bool* ok_b,
                       WarmLines) {
  *ok_a = rans::decode_segment(seg_a, words_a, count_a, t, sym_a);
  *ok_b = rans::decode_segment(seg_b, words_b, count_b, t, sym_b);
}

uint64_t list_nonzero_scalar(const uint8_t* flags, uint64_t n, uint32_t* list) {
  return append_nonzero(flags, 0, n, list, 0);
}

void unit_symbols_scalar(const uint32_t* codes, const uint32_t* units, uint64_t n, uint32_t shift,
                         uint8_t* out) {
  for (uint64_t k = 0; k < n; ++k) {
    const uint32_t* c = codes + (uint64_t)units[k] * kUnitElems;
    for (uint32_t j = 0; j < kUnitElems; ++j) out[k * kUnitElems + j] = (uint8_t)(c[j] >> shift);
  }
}

}  // namespace

const StagedKernels kStagedScalar[4] = {
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
    scalar_set<DType::kF32>(),
    scalar_set<DType::kF16>(),
    scalar_set<DType::kBF16>()};

const UnitKernels kUnitScalar = {
    &unit_keys_scalar,    &pack_groups_scalar,    &pack_groups_narrow_scalar,
    &group_widths_scalar, &block::unpack_planes,  &local_e0_scalar,
    &decide_local_scalar, &local_dequants_scalar, &local_dequants_packed_scalar,
    &list_nonzero_scalar, &unit_symbols_scalar};

const RansKernels kRansScalar = {&encode_segment_scalar, &decode_segment_scalar<uint8_t>,
                                 &decode_segment_scalar<uint32_t>, &decode_two_scalar<uint8_t>,
                                 &decode_two_scalar<uint32_t>};

}  // namespace squeeze::cpu
