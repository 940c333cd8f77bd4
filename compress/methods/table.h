// The table quantizer (StagedQuant::kTable): a frame whose data is rows of tables (a RowLayout)
// bounds each table separately, kRel relative to the table's own range within the frame. The
// section layout, its validation and the per-element math, shared by encoder and decoder (SQZ_HD).
//
// Quantizer section (docs/FORMAT.md, "table"):
//   u32 row_elems   columns per row, 1..kMaxRowElems
//   u32 start_col   column of the frame's first element, < row_elems
//   u32 n_tables    1..min(row_elems, kMaxTables)
//   n_tables entries of { u32 cols >= 1, f32 step, f32 value }, widths summing to row_elems
// Element i lies in column (start_col + i) mod row_elems; its table's entry decodes its code:
//   step > 0 (a normal finite float, value +0): x' = unzigzag(code) * step, as the global
//            quantizer with that table's step;
//   step = 0: the table is exact in this frame: x' = value (finite) whatever the code.
// A table whose elements in the frame span no range (constant, or no finite element), or whose
// bound is too small for a normal step, is exact: its elements with other bits are outliers.
#pragma once

#include <cmath>
#include <cstdint>

#include "compress/block.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/hd.h"

namespace squeeze::table {

constexpr uint32_t kHeaderBytes = 12;
constexpr uint32_t kEntryBytes = 12;

SQZ_HD uint64_t section_bytes(uint32_t n_tables) {
  return kHeaderBytes + (uint64_t)kEntryBytes * n_tables;
}

// One table's quantizer in a frame.
struct Params {
  float step = 0.0f;      // 0: exact table
  float inv_step = 0.0f;  // encoder
  float eb_check = 0.0f;  // encoder: largest float <= the table's absolute bound (0: exact)
  float value = 0.0f;     // exact table: the value every element decodes to
};

// Range of a table's finite elements in the frame (min/max in the total order -0 < +0).
struct Stats {
  float mn;
  float mx;
  bool has_finite;
};

// The encoder's decision for one table from its absolute bound eb (kAbs: the table's bound; kRel:
// the bound times the range in stats).
SQZ_HD Params decide(const Stats& st, double eb) {
  Params p;
  quant::QuantParams qp;
  if (st.has_finite && st.mx > st.mn && quant::make_quant_params(eb, &qp)) {
    p.step = qp.step;
    p.inv_step = qp.inv_step;
    p.eb_check = qp.eb_check;
    return p;
  }
  // Exact: every element with the smallest finite element's bits (0 when none) costs a code of 0.
  p.value = st.has_finite ? st.mn : 0.0f;
  return p;
}

// Table t's bound under a layout: its own (table_bounds), else the parameters' bound.
SQZ_HD double table_bound(const double* table_bounds, double bound, uint32_t t) {
  return table_bounds != nullptr ? table_bounds[t] : bound;
}
inline double table_bound(const RowLayout& lay, double bound, uint32_t t) {
  return table_bound(lay.table_bounds, bound, t);
}

// The absolute bound the table quantizer gives a table of bound b (kRel: b times the table's range
// in stats; 0 when it has no finite element; kAbs: b). decide() takes it.
SQZ_HD double abs_bound(const Stats& st, double b, bool rel) {
  return !rel ? b : st.has_finite ? quant::rel_to_abs_bound(b, st.mn, st.mx) : 0.0;
}

// A receiver without kCapTable gets one absolute bound for the whole frame that keeps every
// table's promise: the smallest, over the tables, of what this returns for each (b; b times the
// table's range; 0 for a constant table, which makes the frame exact (raw); +inf for a table with
// no finite element, which constrains nothing). The fold starts at +inf.
SQZ_HD double frame_bound_of(const Stats& st, double b, bool rel) {
  if (!rel) return b;
  if (st.has_finite && st.mx > st.mn) return quant::rel_to_abs_bound(b, st.mn, st.mx);
  return st.has_finite ? 0.0 : (double)INFINITY;
}
SQZ_HD double min_bound(double a, double b) {
  return b < a ? b : a;  // std::min's choice
}

// The table of column col, from each table's end column (the first table whose end is above
// col; col < end[n_tables - 1]).
SQZ_HD uint32_t table_of(const uint32_t* end, uint32_t n_tables, uint32_t col) {
  uint32_t lo = 0, hi = n_tables - 1;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (end[mid] > col) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// The smallest of the bounds of the tables that elements [first, first + count) of a frame lie
// in, element 0 in column start_col (local mode with the tables' bounds: a block's bound), walked
// table by table (a table's columns are contiguous). +inf for no element.
SQZ_HD double span_bound(const uint32_t* end, const double* bounds, uint32_t n_tables,
                         uint32_t row_elems, uint32_t start_col, uint64_t first, uint64_t count) {
  double b = (double)INFINITY;
  uint32_t col = (uint32_t)((start_col + first) % row_elems);
  uint32_t t = table_of(end, n_tables, col);
  while (count > 0) {
    b = min_bound(b, bounds[t]);
    const uint64_t take = count < end[t] - col ? count : end[t] - col;
    count -= take;
    col += (uint32_t)take;
    if (col == row_elems) {
      col = 0;
      t = 0;
    } else {
      ++t;
    }
  }
  return b;
}

// Whether a layout is usable (squeeze::valid_layout): sizes within the limits, widths >= 1 summing
// to row_elems, start_col < row_elems, every bound > 0 and finite.
inline bool layout_valid(const RowLayout& layout) {
  if (layout.row_elems < 1 || layout.row_elems > kMaxRowElems ||
      layout.start_col >= layout.row_elems || layout.n_tables < 1 || layout.n_tables > kMaxTables ||
      layout.n_tables > layout.row_elems || layout.table_cols == nullptr)
    return false;
  uint64_t sum = 0;
  for (uint32_t t = 0; t < layout.n_tables; ++t) {
    if (layout.table_cols[t] < 1) return false;
    sum += layout.table_cols[t];
    if (layout.table_bounds != nullptr &&
        !(layout.table_bounds[t] > 0.0 && layout.table_bounds[t] <= 1.7976931348623157e308))
      return false;
  }
  return sum == layout.row_elems;
}

// Validates the section header: false on a malformed field.
SQZ_HD bool parse_header(const uint8_t* p, uint64_t len, uint32_t* row_elems, uint32_t* start_col,
                         uint32_t* n_tables) {
  if (len < kHeaderBytes) return false;
  *row_elems = block::load_le32(p);
  *start_col = block::load_le32(p + 4);
  *n_tables = block::load_le32(p + 8);
  if (*row_elems < 1 || *row_elems > kMaxRowElems || *start_col >= *row_elems) return false;
  if (*n_tables < 1 || *n_tables > kMaxTables || *n_tables > *row_elems) return false;
  return len == section_bytes(*n_tables);
}

// Validates entry k (of a section whose header parsed): width >= 1, a step that is 0 or a normal
// finite float, a finite value that is +0 when the step is not 0.
SQZ_HD bool parse_entry(const uint8_t* section, uint32_t k, uint32_t* cols, Params* p) {
  const uint8_t* e = section + kHeaderBytes + (uint64_t)kEntryBytes * k;
  *cols = block::load_le32(e);
  const uint32_t step_bits = block::load_le32(e + 4);
  const uint32_t value_bits = block::load_le32(e + 8);
  *p = Params{};
  if (*cols < 1) return false;
  if ((value_bits & 0x7f800000u) == 0x7f800000u) return false;
  if (step_bits != 0) {
    const float s = quant::bits_to_float(step_bits);
    if (!(s >= 1.17549435e-38f) || !(s <= 3.40282347e38f) || value_bits != 0) return false;
    p->step = s;
    return true;
  }
  p->value = quant::bits_to_float(value_bits);
  return true;
}

// Validates every entry of a section whose header parsed, in order (parse_entry's checks, each
// width within the columns left), and that the widths fill the row exactly: each table's
// parameters and its width (cols) or the column after it (end), either of which may be null.
// Both decoders' check of the entries.
SQZ_HD bool parse_entries(const uint8_t* section, uint32_t row_elems, uint32_t n_tables,
                          Params* params, uint32_t* cols, uint32_t* end) {
  uint64_t col = 0;
  for (uint32_t k = 0; k < n_tables; ++k) {
    uint32_t width;
    if (!parse_entry(section, k, &width, &params[k]) || width > row_elems - col) return false;
    col += width;
    if (cols != nullptr) cols[k] = width;
    if (end != nullptr) end[k] = (uint32_t)col;
  }
  return col == row_elems;
}

SQZ_HD void write_header(uint8_t* p, uint32_t row_elems, uint32_t start_col, uint32_t n_tables) {
  block::store_le32(p, row_elems);
  block::store_le32(p + 4, start_col);
  block::store_le32(p + 8, n_tables);
}

SQZ_HD void write_entry(uint8_t* section, uint32_t k, uint32_t cols, const Params& p) {
  uint8_t* e = section + kHeaderBytes + (uint64_t)kEntryBytes * k;
  block::store_le32(e, cols);
  block::store_le32(e + 4, quant::float_to_bits(p.step));
  block::store_le32(e + 8, p.step != 0.0f ? 0u : quant::float_to_bits(p.value));
}

// Quantizes one element with its table's parameters: true and the (zigzag) code when the decoded
// value is provably within the table's bound (or exact); false means "store exactly" (outlier).
template <DType kType>
SQZ_HD bool quantize_element(float x, const Params& p, uint32_t* code) {
  *code = 0;
  if (p.step == 0.0f)
    return (quant::float_to_bits(x) & 0x7f800000u) != 0x7f800000u &&
           quant::float_to_bits(x) == quant::float_to_bits(p.value);
  const quant::QuantParams qp{p.step, p.inv_step, p.eb_check};
  int32_t q;
  if (!quant::quantize_element<kType>(x, qp, &q)) return false;
  *code = quant::zigzag(q);
  return true;
}

// The value the decoder writes for a code, widened to float (before the element type's rounding).
SQZ_HD float reconstruct(const Params& p, uint32_t code) {
  return p.step == 0.0f ? p.value : quant::reconstruct_f32(quant::unzigzag(code), p.step);
}

}  // namespace squeeze::table
