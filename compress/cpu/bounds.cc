// What bound an element has: the paper's table classes and iteration schedule, which choose
// bounds, and element_bounds, which states the bound a frame's decoding must meet (the checks'
// single definition; the encoder enforces the same rules through the stage code).
#include <algorithm>
#include <cmath>
#include <vector>

#include "compress/block.h"
#include "compress/cpu/staged_table.h"
#include "compress/format/staged.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze {

double class_bound(uint64_t rows, double bound) {
  if (rows >= 100000) return bound;
  if (rows != 0 && rows <= 1000) return 5.0 * bound;
  return 3.0 * bound;
}

double schedule_factor(Schedule s, uint64_t iteration, uint64_t early_iters, double start) {
  if (s == Schedule::kConstant || iteration >= early_iters || early_iters == 0) return 1.0;
  const double drop = start - 1.0;
  if (s == Schedule::kStep) return start - drop * (double)((10 * iteration) / early_iters) / 10.0;
  return start - drop * (double)iteration / (double)early_iters;
}

LayoutPlacement layout_placement(const uint32_t* table_cols, uint32_t n_tables, size_t elem_bytes,
                                 BoundMode mode) {
  if (table_cols == nullptr || n_tables == 0 || elem_bytes == 0) return LayoutPlacement::kNone;
  uint64_t row = 0;
  bool one_width = true;
  for (uint32_t t = 0; t < n_tables; ++t) {
    row += table_cols[t];
    one_width = one_width && table_cols[t] == table_cols[0];
  }
  if (row == 0) return LayoutPlacement::kNone;
  if (4096 % (row * elem_bytes) == 0 && (n_tables > 1 || mode == BoundMode::kLocal))
    return LayoutPlacement::kTables;
  if (mode == BoundMode::kLocal && one_width && table_cols[0] != 0 &&
      4096 % (table_cols[0] * elem_bytes) == 0)
    return LayoutPlacement::kVectors;
  return LayoutPlacement::kNone;
}

uint32_t frame_record_log2(const void* frame_v, size_t frame_bytes) {
  const auto* frame = static_cast<const uint8_t*>(frame_v);
  if (frame == nullptr || staged::check_envelope(frame, frame_bytes) != staged::Reject::kNone ||
      frame[hdr::kVersion] != kFrameVersion2 ||
      frame[hdr::kMethod] != (uint8_t)FrameMethod::kStaged)
    return 0;
  staged::Header h;
  if (staged::parse(frame, frame_bytes, &h) != staged::Reject::kNone ||
      h.quant != (uint8_t)StagedQuant::kLocal || h.section[(int)StagedSection::kQuant] < 4)
    return 0;
  const uint8_t rlog = frame[staged::section_offset(h, StagedSection::kQuant) + 2];
  return rlog <= 3 ? rlog : 0;
}

void element_bounds(const CodecParams& p, const void* src_v, size_t src_bytes, uint32_t record_log2,
                    double* out) {
  const auto* src = static_cast<const uint8_t*>(src_v);
  const size_t es = dtype_size(p.dtype), n = src_bytes / es;
  if (p.mode == BoundMode::kLossless || !block::is_float_dtype((uint8_t)p.dtype)) {
    std::fill(out, out + n, 0.0);
    return;
  }
  auto x_at = [&](size_t i) { return block::element_at(p.dtype, src, i); };
  // Each element's table (0 without a layout) and each table's bound.
  const RowLayout* lay = p.layout;
  const uint32_t n_tables = lay != nullptr ? lay->n_tables : 1;
  std::vector<uint16_t> col_table;
  if (lay != nullptr) cpu::column_tables(lay->table_cols, n_tables, lay->row_elems, &col_table);
  auto table_of = [&](size_t i) -> uint32_t {
    return lay != nullptr ? col_table[(lay->start_col + i) % lay->row_elems] : 0u;
  };
  auto bound_of = [&](uint32_t t) {
    return lay != nullptr ? table::table_bound(*lay, p.bound, t) : p.bound;
  };
  if (p.mode != BoundMode::kLocal) {
    std::vector<double> mn(n_tables, INFINITY), mx(n_tables, -INFINITY);
    for (size_t i = 0; i < n; ++i) {
      const double x = x_at(i);
      if (!std::isfinite(x)) continue;
      const uint32_t t = table_of(i);
      mn[t] = std::min(mn[t], x);
      mx[t] = std::max(mx[t], x);
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t t = table_of(i);
      out[i] = p.mode == BoundMode::kAbs ? bound_of(t)
               : mn[t] <= mx[t]          ? bound_of(t) * (mx[t] - mn[t])
                                         : 0.0;
    }
    return;
  }
  // Local: the record's span of 32 << record_log2 elements, the smallest bound of its tables.
  const size_t span = (size_t)kBlockElems << (lay != nullptr ? record_log2 : 0);
  for (size_t first = 0; first < n; first += span) {
    const size_t last = std::min(n, first + span);
    double mn = INFINITY, mx = -INFINITY, b = INFINITY;
    for (size_t i = first; i < last; ++i) {
      b = std::min(b, bound_of(table_of(i)));
      const double x = x_at(i);
      if (!std::isfinite(x)) continue;
      mn = std::min(mn, x);
      mx = std::max(mx, x);
    }
    std::fill(out + first, out + last, mn <= mx ? b * (mx - mn) : 0.0);
  }
}

}  // namespace squeeze
