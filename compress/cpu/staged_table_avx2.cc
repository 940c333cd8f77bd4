// The table quantizer's loops in AVX2 (see staged_table.h): eight elements at a time, each
// lane's table parameters gathered through the column map, the same IEEE operations in the same
// order as table::quantize_element, so the frames equal the scalar set's (fuzz_decode and
// tests/unit/test_codec_kernels.cc compare them). Rows narrower than 8 columns (16 for the
// decoder), lanes that span two tables and a frame's partial last unit stay scalar.
#include "compress/cpu/staged_table.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <algorithm>
#include <cmath>

#include "compress/block.h"
#include "compress/cpu/avx2_common.h"
#include "squeeze/format.h"

namespace squeeze::cpu {

namespace {

using avx2::element_error8;
using avx2::hmax_epi32;
using avx2::hmax_ps;
using avx2::hmin_epi32;
using avx2::hmin_ps;
using avx2::load8;
using avx2::round_to_type;
using avx2::total_order_key;

// Fields of table::Params, in floats: step, inv_step, eb_check, value.
static_assert(sizeof(table::Params) == 16, "table::Params is four floats");

template <DType kType>
SQZ_AVX2 void quantize_avx2(const uint8_t* src, uint64_t n, const TableGeometry& tg,
                            const table::Params* params, uint32_t* codes, uint32_t* outlier_masks,
                            float* unit_error, float* unit_eb_check) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t full_units = n / kUnitElems;
  if (tg.row_elems < 8 || full_units == 0) {
    kTableScalar[(int)kType].quantize(src, n, tg, params, codes, outlier_masks, unit_error,
                                      unit_eb_check);
    return;
  }
  const float* pf = reinterpret_cast<const float*>(params);
  const int* col_words = reinterpret_cast<const int*>(tg.col_table);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i row = _mm256_set1_epi32((int)tg.row_elems);
  const __m256i low16 = _mm256_set1_epi32(0xffff);
  const __m256 max_q = _mm256_set1_ps((float)kMaxQuant);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
  const __m256 zero = _mm256_setzero_ps();
  uint32_t col = tg.start_col;
  for (uint64_t b = 0; b < (n + kBlockElems - 1) / kBlockElems; ++b) outlier_masks[b] = 0;
  for (uint64_t u = 0; u < full_units; ++u) {
    const uint8_t* x16 = src + u * kUnitElems * es;
    uint32_t* c16 = codes + u * kUnitElems;
    uint32_t mask = 0;
    __m256 err = zero, ebm = _mm256_set1_ps(INFINITY);
    for (int v = 0; v < 2; ++v) {
      __m256 step, inv, ebc, value;
      const uint32_t t0 = tg.col_table[col];
      if (col + 7 < tg.row_elems && tg.col_table[col + 7] == t0) {
        // The eight lanes lie in one table (its columns are contiguous): its parameters.
        const table::Params& tp = params[t0];
        step = _mm256_set1_ps(tp.step);
        inv = _mm256_set1_ps(tp.inv_step);
        ebc = _mm256_set1_ps(tp.eb_check);
        value = _mm256_set1_ps(tp.value);
      } else {
        // Each lane's column (at most one wrap: the row has at least 8 columns) and table.
        __m256i c = _mm256_add_epi32(_mm256_set1_epi32((int)col), lanes);
        const __m256i wrapped =
            _mm256_xor_si256(_mm256_cmpgt_epi32(row, c), _mm256_set1_epi32(-1));  // c >= row
        c = _mm256_sub_epi32(c, _mm256_and_si256(wrapped, row));
        // col_table is uint16: read 4 bytes at 2 * col (padded by one entry), keep the low half.
        const __m256i t = _mm256_and_si256(_mm256_i32gather_epi32(col_words, c, 2), low16);
        const __m256i ti = _mm256_slli_epi32(t, 2);
        step = _mm256_i32gather_ps(pf, ti, 4);
        inv = _mm256_i32gather_ps(pf + 1, ti, 4);
        ebc = _mm256_i32gather_ps(pf + 2, ti, 4);
        value = _mm256_i32gather_ps(pf + 3, ti, 4);
      }
      col += 8;
      if (col >= tg.row_elems) col -= tg.row_elems;

      const __m256 x = load8<kType>(x16 + 8 * v * es);
      // Quantized lanes (step > 0), as quant::quantize_element.
      const __m256 qf =
          _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256 in_range = _mm256_cmp_ps(_mm256_and_ps(qf, abs_mask), max_q, _CMP_LE_OQ);
      __m256i q = _mm256_cvtps_epi32(qf);
      const __m256 xr = round_to_type<kType>(_mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
      const __m256 d = element_error8(x, xr);
      const __m256 quantized = _mm256_cmp_ps(step, zero, _CMP_NEQ_OQ);
      const __m256 ok_q =
          _mm256_and_ps(quantized, _mm256_and_ps(in_range, _mm256_cmp_ps(d, ebc, _CMP_LT_OQ)));
      // Exact lanes (step 0): finite and the table's value, bit for bit; code 0, error 0.
      const __m256i xb = _mm256_castps_si256(x);
      const __m256i finite = _mm256_xor_si256(
          _mm256_cmpeq_epi32(_mm256_and_si256(xb, exp_mask), exp_mask), _mm256_set1_epi32(-1));
      const __m256 ok_e = _mm256_andnot_ps(
          quantized, _mm256_castsi256_ps(_mm256_and_si256(
                         finite, _mm256_cmpeq_epi32(xb, _mm256_castps_si256(value)))));
      q = _mm256_and_si256(q, _mm256_castps_si256(ok_q));
      const __m256i z = _mm256_xor_si256(_mm256_slli_epi32(q, 1), _mm256_srai_epi32(q, 31));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c16 + 8 * v), z);
      err = _mm256_max_ps(err, _mm256_and_ps(d, ok_q));
      ebm = _mm256_min_ps(ebm, ebc);
      const __m256 ok = _mm256_or_ps(ok_q, ok_e);
      mask |= (uint32_t)(~_mm256_movemask_ps(ok) & 0xff) << (8 * v);
    }
    outlier_masks[u / 2] |= mask << (16 * (u % 2));
    unit_error[u] = hmax_ps(err);
    unit_eb_check[u] = hmin_ps(ebm);
  }
  if (full_units * kUnitElems < n) {
    // The partial last unit: the scalar loop from its column, into scratch masks.
    const uint64_t first = full_units * kUnitElems;
    const TableGeometry tail{tg.col_table, tg.row_elems, col};
    uint32_t tail_mask = 0;
    kTableScalar[(int)kType].quantize(src + first * es, n - first, tail, params, codes + first,
                                      &tail_mask, unit_error + full_units,
                                      unit_eb_check + full_units);
    outlier_masks[full_units / 2] |= tail_mask << (16 * (full_units % 2));
  }
}

// The statistics: eight elements of one table at a time (min / max in the total order, folded
// into the table's, as the scalar loop's associative min_total / max_total would), element by
// element where eight lanes span two tables or the row's end.
template <DType kType>
SQZ_AVX2 void stats_avx2(const uint8_t* src, uint64_t n, const TableGeometry& tg,
                         table::Stats* out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf_bits = _mm256_set1_epi32(0x7f800000);
  const __m256i key_max = _mm256_set1_epi32(0x7fffffff);
  const __m256i key_min = _mm256_set1_epi32((int)0x80000000u);
  uint32_t col = tg.start_col;
  uint64_t i = 0;
  while (i < n) {
    const uint32_t t0 = tg.col_table[col];
    if (i + 8 <= n && col + 7 < tg.row_elems && tg.col_table[col + 7] == t0) {
      const __m256i bits = _mm256_castps_si256(load8<kType>(src + i * es));
      const __m256i fin = _mm256_cmpgt_epi32(inf_bits, _mm256_and_si256(bits, abs_mask));
      if (_mm256_movemask_ps(_mm256_castsi256_ps(fin)) != 0) {
        const __m256i key = total_order_key(bits);
        const uint32_t lo = (uint32_t)hmin_epi32(_mm256_blendv_epi8(key_max, key, fin));
        const uint32_t hi = (uint32_t)hmax_epi32(_mm256_blendv_epi8(key_min, key, fin));
        table::Stats& st = out[t0];
        st.has_finite = true;
        st.mn = quant::min_total(
            st.mn, quant::bits_to_float(lo ^ (((uint32_t)((int32_t)lo >> 31)) & 0x7fffffffu)));
        st.mx = quant::max_total(
            st.mx, quant::bits_to_float(hi ^ (((uint32_t)((int32_t)hi >> 31)) & 0x7fffffffu)));
      }
      i += 8;
      col += 8;
      if (col == tg.row_elems) col = 0;
      continue;
    }
    const float x = block::load_element<kType>(src + i * es);
    if (std::isfinite(x)) {
      table::Stats& st = out[t0];
      st.has_finite = true;
      st.mn = quant::min_total(st.mn, x);
      st.mx = quant::max_total(st.mx, x);
    }
    ++i;
    if (++col == tg.row_elems) col = 0;
  }
}

// The decoder's loop: eight values of one table at a time (unzigzag(code) x step, or the exact
// table's value), the scalar loop for a unit whose lanes span tables, and for a partial unit.
template <DType kType>
SQZ_AVX2 void write_avx2(const TableGeometry& tg, const table::Params* params,
                         const uint32_t* units, uint64_t n_units, uint64_t n, const uint32_t* codes,
                         uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256i one = _mm256_set1_epi32(1);
  for (uint64_t k = 0; k < n_units; ++k) {
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint32_t col = (uint32_t)((tg.start_col + first) % tg.row_elems);
    const uint32_t* c = codes + k * kUnitElems;
    bool done = false;
    if (first + kUnitElems <= n && col + kUnitElems <= tg.row_elems) {
      const uint32_t t0 = tg.col_table[col], t8 = tg.col_table[col + 8];
      if (tg.col_table[col + 7] == t0 && tg.col_table[col + 15] == t8) {
        for (int v = 0; v < 2; ++v) {
          const table::Params& p = params[v == 0 ? t0 : t8];
          __m256 x;
          if (p.step != 0.0f) {
            const __m256i cv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8 * v));
            const __m256i q = _mm256_xor_si256(
                _mm256_srli_epi32(cv, 1),
                _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(cv, one)));
            x = _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(p.step));
          } else {
            x = _mm256_set1_ps(p.value);
          }
          avx2::store8<kType>(dst + (first + 8 * v) * es, x);
        }
        done = true;
      }
    }
    if (!done) kTableScalar[(int)kType].write(tg, params, units + k, 1, n, c, dst);
  }
}

template <DType kType>
constexpr TableKernels avx2_set() {
  return {&stats_avx2<kType>, &quantize_avx2<kType>, &write_avx2<kType>};
}

}  // namespace

const TableKernels kTableAvx2[4] = {{nullptr, nullptr, nullptr},
                                    avx2_set<DType::kF32>(),
                                    avx2_set<DType::kF16>(),
                                    avx2_set<DType::kBF16>()};

}  // namespace squeeze::cpu

#endif
