// The table quantizer's loops: the shared SQZ_HD code of compress/methods/table.h, element by
// element. See staged_table.h.
#include "compress/cpu/staged_table.h"

#include <algorithm>
#include <cmath>

#include "compress/block.h"
#include "squeeze/format.h"

namespace squeeze::cpu {

namespace {

template <DType kType>
void stats_scalar(const uint8_t* src, uint64_t n, const TableGeometry& tg, table::Stats* out) {
  constexpr uint64_t es = dtype_size(kType);
  uint32_t col = tg.start_col;
  for (uint64_t i = 0; i < n; ++i) {
    const float x = block::load_element<kType>(src + i * es);
    table::Stats& st = out[tg.col_table[col]];
    if (++col == tg.row_elems) col = 0;
    if (!std::isfinite(x)) continue;
    st.has_finite = true;
    st.mn = quant::min_total(st.mn, x);
    st.mx = quant::max_total(st.mx, x);
  }
}

template <DType kType>
void quantize_scalar(const uint8_t* src, uint64_t n, const TableGeometry& tg,
                     const table::Params* params, uint32_t* codes, uint32_t* outlier_masks,
                     float* unit_error, float* unit_eb_check) {
  constexpr uint64_t es = dtype_size(kType);
  uint32_t col = tg.start_col;
  const uint64_t n_units = (n + kUnitElems - 1) / kUnitElems;
  for (uint64_t b = 0; b < (n + kBlockElems - 1) / kBlockElems; ++b) outlier_masks[b] = 0;
  for (uint64_t u = 0; u < n_units; ++u) {
    const uint64_t first = u * kUnitElems;
    const uint64_t last = std::min<uint64_t>(first + kUnitElems, n);
    float err = 0.0f, eb = INFINITY;
    uint32_t mask = 0;
    for (uint64_t i = first; i < last; ++i) {
      const table::Params& p = params[tg.col_table[col]];
      if (++col == tg.row_elems) col = 0;
      eb = std::min(eb, p.eb_check);
      const float x = block::load_element<kType>(src + i * es);
      uint32_t code;
      if (!table::quantize_element<kType>(x, p, &code)) {
        codes[i] = 0;
        mask |= 1u << (i - first);
        continue;
      }
      codes[i] = code;
      const float d =
          quant::element_error(x, quant::round_to_type<kType>(table::reconstruct(p, code)));
      err = d > err ? d : err;
    }
    outlier_masks[u / 2] |= mask << (16 * (u % 2));
    unit_error[u] = err;
    unit_eb_check[u] = eb;
  }
}

template <DType kType>
void write_scalar(const TableGeometry& tg, const table::Params* params, const uint32_t* units,
                  uint64_t n_units, uint64_t n, const uint32_t* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; ++k) {
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint64_t count = std::min<uint64_t>(kUnitElems, n - first);
    uint32_t col = (uint32_t)((tg.start_col + first) % tg.row_elems);
    for (uint64_t j = 0; j < count; ++j) {
      const table::Params& p = params[tg.col_table[col]];
      if (++col == tg.row_elems) col = 0;
      block::store_element<kType>(dst + (first + j) * es,
                                  table::reconstruct(p, codes[k * kUnitElems + j]));
    }
  }
}

template <DType kType>
constexpr TableKernels scalar_set() {
  return {&stats_scalar<kType>, &quantize_scalar<kType>, &write_scalar<kType>};
}

}  // namespace

void column_tables(const uint32_t* cols, uint32_t n_tables, uint32_t row_elems,
                   std::vector<uint16_t>* out) {
  out->resize((size_t)row_elems + 1);
  uint16_t* c = out->data();
  for (uint32_t t = 0; t < n_tables; ++t) c = std::fill_n(c, cols[t], (uint16_t)t);
  out->back() = 0;  // padding: AVX2 gathers read 4 bytes at a column
}

const TableKernels kTableScalar[4] = {{nullptr, nullptr, nullptr},
                                      scalar_set<DType::kF32>(),
                                      scalar_set<DType::kF16>(),
                                      scalar_set<DType::kBF16>()};

}  // namespace squeeze::cpu
