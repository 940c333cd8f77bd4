// The table quantizer's CPU loops (compress/methods/table.h decides every byte): a scalar and an
// AVX2 set. Element i of a frame lies in column (start_col + i) mod row_elems, and col_table maps
// a column to its table.
#pragma once

#include <cstdint>
#include <vector>

#include "compress/methods/table.h"
#include "squeeze/codec.h"

namespace squeeze::cpu {

// The column -> table map of tables of widths cols[0, n_tables) (summing to row_elems), with the
// padding entry TableGeometry asks for. The one place it is built: both encoders' parameters,
// the decoder, the fallback bound and element_bounds.
void column_tables(const uint32_t* cols, uint32_t n_tables, uint32_t row_elems,
                   std::vector<uint16_t>* out);

struct TableGeometry {
  const uint16_t* col_table;  // row_elems entries and one of padding (gathers read 4 bytes)
  uint32_t row_elems;
  uint32_t start_col;
};

struct TableKernels {
  // Folds the finite elements of src[0, n) into their tables' stats (initialised by the caller).
  void (*stats)(const uint8_t* src, uint64_t n, const TableGeometry& tg, table::Stats* out);
  // Quantizes src[0, n) with each element's table: codes[i] (0 for an outlier), per block of 32 a
  // mask of its outliers, per unit of 16 the largest reconstruction error of its quantized
  // elements and the smallest check threshold of its elements' tables (a repeat of the unit may
  // reuse a decoding only within that).
  void (*quantize)(const uint8_t* src, uint64_t n, const TableGeometry& tg,
                   const table::Params* params, uint32_t* codes, uint32_t* outlier_masks,
                   float* unit_error, float* unit_eb_check);
  // Decoder: the values of the listed units from their codes, kUnitElems per unit in list order.
  void (*write)(const TableGeometry& tg, const table::Params* params, const uint32_t* units,
                uint64_t n_units, uint64_t n, const uint32_t* codes, uint8_t* dst);
};

extern const TableKernels kTableScalar[4];  // indexed by DType; kBytes unused
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
extern const TableKernels kTableAvx2[4];  // AVX2 quantize; the same bytes as the scalar set
#endif

}  // namespace squeeze::cpu
