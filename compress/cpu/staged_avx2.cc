// The AVX2 set of the staged codec's CPU loops (see staged_kernels.h). Each function mirrors the
// scalar set operation for operation (same IEEE single-precision operations in the same order,
// round-to-nearest-even), handles whole blocks and units, and leaves partial ones and rare block
// kinds to the scalar set, so the frames are byte-identical; tests/unit/test_codec_kernels.cc
// compares the two.
#include "compress/cpu/staged_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cmath>
#include <cstddef>
#include <cstring>
#include <initializer_list>

#include "compress/block.h"
#include "compress/cpu/avx2_common.h"
#include "compress/cpu/prefetch.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/quant.h"
#include "squeeze/format.h"

namespace squeeze::cpu {

namespace {

using avx2::byte_planes_top;
using avx2::element_error8;
using avx2::hmax_epi32;
using avx2::hmax_ps;
using avx2::hmin_epi32;
using avx2::load8;
using avx2::read_byte_planes;
using avx2::read_planes;
using avx2::round_to_type;
using avx2::store8;
using avx2::store_byte_planes;
using avx2::total_order_key;
using avx2::write_planes;

// A block's stats from the least and greatest total_order_key of its finite elements (lo > hi:
// none).
SQZ_AVX2 inline local::BlockStats stats_of_keys(int32_t lo_key, int32_t hi_key) {
  local::BlockStats st{INFINITY, -INFINITY, false, false, 0};
  if (lo_key > hi_key) return st;
  const uint32_t lo = (uint32_t)lo_key, hi = (uint32_t)hi_key;
  const uint32_t lo_bits = lo ^ (((uint32_t)((int32_t)lo >> 31)) & 0x7fffffffu);
  const uint32_t hi_bits = hi ^ (((uint32_t)((int32_t)hi >> 31)) & 0x7fffffffu);
  st.mn = quant::bits_to_float(lo_bits);
  st.mx = quant::bits_to_float(hi_bits);
  st.has_finite = true;
  // The keys map bits one to one: the least and greatest are equal exactly when every finite
  // element has the same bits.
  st.all_same = lo == hi;
  st.same_bits = lo_bits;
  return st;
}

// Each block's least and greatest key over all its elements first: the non-finite ones have keys
// outside [key(-FLT_MAX), key(FLT_MAX)] (infinities and NaNs of either sign, the sign bit
// deciding the side), so a block whose extremes are inside holds only finite elements and its
// stats are those of its keys. Only a block with a non-finite element (rare) is read again with
// the finite lanes masked, which would otherwise cost every block five more operations a vector.
// The least and greatest total-order keys of a block's finite elements (lo > hi: none), from the
// bits of its 32 elements as four vectors of eight (f16 and bf16 widened to f32): the rare path of
// a block with a non-finite element, out of line.
[[gnu::noinline]] SQZ_AVX2 void finite_key_range(__m256i b0, __m256i b1, __m256i b2, __m256i b3,
                                                 int32_t* lo, int32_t* hi) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf_bits = _mm256_set1_epi32(0x7f800000);
  const __m256i key_max = _mm256_set1_epi32(0x7fffffff);
  const __m256i key_min = _mm256_set1_epi32((int)0x80000000u);
  __m256i mn = key_max, mx = key_min;
  for (const __m256i bits : {b0, b1, b2, b3}) {
    const __m256i fin = _mm256_cmpgt_epi32(inf_bits, _mm256_and_si256(bits, abs_mask));
    const __m256i key = total_order_key(bits);
    mn = _mm256_min_epi32(mn, _mm256_blendv_epi8(key_max, key, fin));
    mx = _mm256_max_epi32(mx, _mm256_blendv_epi8(key_min, key, fin));
  }
  *lo = hmin_epi32(mn);
  *hi = hmax_epi32(mx);
}

// A block's stats from the bits of its 32 elements, four vectors of eight.
SQZ_AVX2 __attribute__((always_inline)) inline local::BlockStats stats_of_block(__m256i b0,
                                                                                __m256i b1,
                                                                                __m256i b2,
                                                                                __m256i b3) {
  constexpr int32_t kLeastFiniteKey = (int32_t)0x80800000u;  // -FLT_MAX
  constexpr int32_t kGreatestFiniteKey = 0x7f7fffff;         // FLT_MAX
  const __m256i q0 = total_order_key(b0), q1 = total_order_key(b1);
  const __m256i q2 = total_order_key(b2), q3 = total_order_key(b3);
  int32_t lo = hmin_epi32(_mm256_min_epi32(_mm256_min_epi32(q0, q1), _mm256_min_epi32(q2, q3)));
  int32_t hi = hmax_epi32(_mm256_max_epi32(_mm256_max_epi32(q0, q1), _mm256_max_epi32(q2, q3)));
  if (lo < kLeastFiniteKey || hi > kGreatestFiniteKey) finite_key_range(b0, b1, b2, b3, &lo, &hi);
  return stats_of_keys(lo, hi);
}

// The bits of eight elements at p as f32 (f16 and bf16 widened), for stats_of_block.
template <DType kType>
SQZ_AVX2 __attribute__((always_inline)) inline __m256i element_bits8(const uint8_t* p) {
  return _mm256_castps_si256(load8<kType>(p));
}

template <DType kType>
SQZ_AVX2 void block_stats_avx2(const uint8_t* src, uint64_t n, local::BlockStats* out) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t full = n / kBlockElems;
  constexpr auto bits = element_bits8<kType>;
  for (uint64_t b = 0; b < full; ++b) {
    const uint8_t* blk = src + b * kBlockElems * es;
    out[b] =
        stats_of_block(bits(blk), bits(blk + 8 * es), bits(blk + 16 * es), bits(blk + 24 * es));
  }
  if (full * kBlockElems < n)
    kStagedScalar[(int)kType].block_stats(src + full * kBlockElems * es, n - full * kBlockElems,
                                          out + full);
}

// A block's two unit errors (quant::element_error's largest) from the largest |x - xr| of each
// unit's quantized lanes (e[k]) and the quantized lanes whose bits differ from their decoded
// value (bit i: element i): a unit whose largest difference is 0 but has such a lane (a signed
// zero) has error 2^-149, the smallest positive float.
SQZ_AVX2 inline void unit_errors_with_signed_zeros(const __m256 (&e)[2], uint32_t signed_zero,
                                                   float* err2) {
  for (int k = 0; k < 2; ++k) {
    const float m = hmax_ps(e[k]);
    err2[k] = m == 0.0f && ((signed_zero >> (16 * k)) & 0xffffu) != 0 ? 1.40129846e-45f : m;
  }
}

// One block of 32 with codes (kQuant or kEscape), the kind a template argument so that the loop
// has no test of it. Each shortcut gives exactly local::quantize_element's result:
//  - one conversion rounds to the nearest integer, ties to even: the codec's entry points run
//    with the default MXCSR (FpEnvGuard in codec_cpu.cc), so cvtps is round_even then a
//    truncation, with 0x80000000 for NaN, infinities and anything beyond 2^31;
//  - the range test on the integer code: a negative qf gives a negative code, so qf is in
//    [0, max_code] exactly when the code, unsigned, is at most max_code (-0.0 gives code 0, in
//    range, as the float test says);
//  - quant::element_error's signed-zero case (|x - xr| = 0 but the bits differ: error 2^-149)
//    never changes the bound test, since a block with codes has eb_check >= 2^-127; it only
//    makes a unit's error 2^-149 instead of 0, so it is looked for only in a unit whose largest
//    error is 0 (rare), by decoding that block's codes again, not in every vector;
//  - kInRange (a kQuant block whose codes_in_range is set): no range test, since every finite
//    element's code is in range and a non-finite one fails the bound test (its difference is
//    NaN or infinite); and the codes and differences are stored and maximized unmasked, the
//    block quantized again by the masked variant only when it has an outlier.
// Code: uint32_t, or uint8_t (quantize_local_narrow: the 32 codes, below 256, stored as bytes).
template <DType kType, bool kEscape, bool kInRange, class Code>
SQZ_AVX2 inline void quantize_block_local(const uint8_t* blk, const local::BlockParams& p,
                                          Code* codes, uint32_t* mask_out, float* err2) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 inv = _mm256_set1_ps(p.inv_step);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256 zf = _mm256_set1_ps(p.zf);
  const __m256 zs = _mm256_set1_ps(p.zs);
  const __m256 off = _mm256_set1_ps(p.offset);
  const __m256 ebc = _mm256_set1_ps(p.eb_check);
  const __m256i maxc = _mm256_set1_epi32((int)p.max_code);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // Eight elements' codes (before the outlier mask) and the values they decode to.
  auto quantize8 = [&](__m256 x, __m256i* q, __m256* xr) SQZ_AVX2 {
    const __m256 t = kEscape ? _mm256_mul_ps(_mm256_sub_ps(x, off), inv)
                             : _mm256_add_ps(_mm256_mul_ps(x, inv), zf);
    *q = _mm256_cvtps_epi32(t);
    const __m256 qv = _mm256_cvtepi32_ps(*q);
    *xr = round_to_type<kType>(kEscape ? _mm256_add_ps(off, _mm256_mul_ps(qv, step))
                                       : _mm256_sub_ps(_mm256_mul_ps(qv, step), zs));
  };
  uint32_t ok_bits = 0;
  __m256 e[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256i qs[4];  // narrow codes: stored together once the four vectors are done
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m256 x = load8<kType>(blk + 8 * v * es);
    __m256i q;
    __m256 xr;
    quantize8(x, &q, &xr);
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(x, xr), abs_mask);
    const __m256 within = _mm256_cmp_ps(d, ebc, _CMP_LT_OQ);
    const __m256 ok =
        kInRange
            ? within
            : _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_min_epu32(q, maxc), q)),
                            within);
    // In range, codes and differences are masked only if the block has an outlier (below).
    if (!kInRange) q = _mm256_and_si256(q, _mm256_castps_si256(ok));
    if constexpr (sizeof(Code) == 4)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 8 * v), q);
    else
      qs[v] = q;
    e[v / 2] = _mm256_max_ps(e[v / 2], kInRange ? d : _mm256_and_ps(d, ok));
    ok_bits |= (uint32_t)_mm256_movemask_ps(ok) << (8 * v);
  }
  if (kInRange && ok_bits != ~0u) {
    // An outlier (rare in a block whose codes are in range): the block again with every code
    // and difference masked (its range test passes everywhere).
    quantize_block_local<kType, kEscape, false, Code>(blk, p, codes, mask_out, err2);
    return;
  }
  if constexpr (sizeof(Code) == 1) {
    // 32 codes in [0, 255] (kInRange: every code in range; else masked to 0 where not) to
    // bytes in element order.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes), avx2::narrow_to_bytes(qs));
  }
  *mask_out = ~ok_bits;
  err2[0] = hmax_ps(e[0]);
  err2[1] = hmax_ps(e[1]);
  if (err2[0] != 0.0f && err2[1] != 0.0f) return;
  uint32_t differ_bits = 0;
  for (int v = 0; v < 4; ++v) {
    const __m256 x = load8<kType>(blk + 8 * v * es);
    __m256i q;
    __m256 xr;
    quantize8(x, &q, &xr);
    differ_bits |= (uint32_t)(~_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(
                                  _mm256_castps_si256(x), _mm256_castps_si256(xr)))) &
                              0xff)
                   << (8 * v);
  }
  unit_errors_with_signed_zeros(e, ok_bits & differ_bits, err2);
}

// The quantizers' listed blocks (the blocks with a literal unit) skip the references between
// them, a stride the hardware prefetcher does not follow once a frame's input has left the L2:
// the block kQuantAhead listed blocks ahead is fetched (3 MiB frames compressed 1.01-1.12x at
// local 1e-2, 1.07-1.12x at rel 1e-2; 128 KiB frames, whose input is in the L2, the same).
// True when it was (blocks[k + kQuantAhead] exists).
constexpr uint64_t kQuantAhead = 8;
SQZ_AVX2 inline bool prefetch_listed(const uint8_t* src, uint64_t es, const uint32_t* blocks,
                                     uint64_t k, uint64_t count) {
  if (blocks == nullptr || k + kQuantAhead >= count) return false;
  const uint8_t* p = src + (uint64_t)blocks[k + kQuantAhead] * kBlockElems * es;
  prefetch_line(p);
  if (es * kBlockElems > 64) prefetch_line(p + 64);
  return true;
}

template <DType kType, class Code>
SQZ_AVX2 void quantize_local_avx2(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                                  const uint32_t* blocks, uint64_t n_listed, Code* codes,
                                  uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const StagedKernels& scalar = kStagedScalar[(int)kType];
  const auto scalar_quantize = [&](uint32_t b) {
    if constexpr (sizeof(Code) == 4)
      scalar.quantize_local(src, n, params, &b, 1, codes, outlier_masks, unit_error);
    else
      scalar.quantize_local_narrow(src, n, params, &b, 1, codes, outlier_masks, unit_error);
  };
  const uint64_t full = n / kBlockElems;
  const uint64_t count = blocks != nullptr ? n_listed : (n + kBlockElems - 1) / kBlockElems;
  for (uint64_t k = 0; k < count; ++k) {
    const uint32_t b = blocks != nullptr ? blocks[k] : (uint32_t)k;
    if (prefetch_listed(src, es, blocks, k, count)) prefetch_line(params + blocks[k + kQuantAhead]);
    const local::BlockParams& p = params[b];
    if (b == full || !local::has_codes(p.kind)) {  // the partial last block, or no codes
      scalar_quantize(b);
      continue;
    }
    const uint64_t first = (uint64_t)b * kBlockElems;
    const uint8_t* blk = src + first * es;
    if (p.kind == local::Kind::kEscape)
      quantize_block_local<kType, true, false, Code>(blk, p, codes + first, outlier_masks + b,
                                                     unit_error + 2 * (uint64_t)b);
    else if (p.codes_in_range)
      quantize_block_local<kType, false, true, Code>(blk, p, codes + first, outlier_masks + b,
                                                     unit_error + 2 * (uint64_t)b);
    else
      quantize_block_local<kType, false, false, Code>(blk, p, codes + first, outlier_masks + b,
                                                      unit_error + 2 * (uint64_t)b);
  }
}

template <DType kType>
SQZ_AVX2 void quantize_global_avx2(const uint8_t* src, uint64_t n, const quant::QuantParams& p,
                                   const uint32_t* blocks, uint64_t n_listed, uint32_t* codes,
                                   uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t full = n / kBlockElems;
  const __m256 inv = _mm256_set1_ps(p.inv_step);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256 ebc = _mm256_set1_ps(p.eb_check);
  const __m256 max_q = _mm256_set1_ps((float)kMaxQuant);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const uint64_t count = blocks != nullptr ? n_listed : (n + kBlockElems - 1) / kBlockElems;
  for (uint64_t k = 0; k < count; ++k) {
    const uint32_t b = blocks != nullptr ? blocks[k] : (uint32_t)k;
    prefetch_listed(src, es, blocks, k, count);
    if (b == full) {  // the partial last block
      kStagedScalar[(int)kType].quantize_global(src, n, p, &b, 1, codes, outlier_masks, unit_error);
      continue;
    }
    const uint8_t* blk = src + (uint64_t)b * kBlockElems * es;
    uint32_t* c = codes + (uint64_t)b * kBlockElems;
    // quant::element_error's signed-zero case per unit after the loop (eb_check >= 2^-127:
    // make_quant_params' step is a normal float). Looked for in every vector here: unlike the
    // local quantizer's, doing it only for units of error 0 measured no faster (rel 1e-2).
    uint32_t ok_bits = 0, differ_bits = 0;
    __m256 e[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m256 x = load8<kType>(blk + 8 * v * es);
      const __m256 qf =
          _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256 in_range = _mm256_cmp_ps(_mm256_and_ps(qf, abs_mask), max_q, _CMP_LE_OQ);
      __m256i q = _mm256_cvtps_epi32(qf);
      const __m256 xr = round_to_type<kType>(_mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
      const __m256 d = _mm256_and_ps(_mm256_sub_ps(x, xr), abs_mask);
      const __m256 ok = _mm256_and_ps(in_range, _mm256_cmp_ps(d, ebc, _CMP_LT_OQ));
      q = _mm256_and_si256(q, _mm256_castps_si256(ok));
      const __m256i z = _mm256_xor_si256(_mm256_slli_epi32(q, 1), _mm256_srai_epi32(q, 31));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + 8 * v), z);
      e[v / 2] = _mm256_max_ps(e[v / 2], _mm256_and_ps(d, ok));
      ok_bits |= (uint32_t)_mm256_movemask_ps(ok) << (8 * v);
      differ_bits |= (uint32_t)(~_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(
                                    _mm256_castps_si256(x), _mm256_castps_si256(xr)))) &
                                0xff)
                     << (8 * v);
    }
    outlier_masks[b] = ~ok_bits;
    unit_errors_with_signed_zeros(e, ok_bits & differ_bits, unit_error + 2 * (uint64_t)b);
  }
}

// The decoders write the units of a list (the coded or the literal ones) wherever the frame puts
// them: the destination of the unit kWriteAhead places ahead is fetched for writing (1.11-1.26x
// decompress on forward payloads' 128 KiB frames, whose literal units lie among references).
constexpr uint64_t kWriteAhead = 16;
template <uint64_t es>
SQZ_AVX2 inline void prefetch_unit_ahead(const uint8_t* dst, const uint32_t* units, uint64_t k,
                                         uint64_t n_units) {
  if (k + kWriteAhead >= n_units) return;
  const uint8_t* unit = dst + (uint64_t)units[k + kWriteAhead] * kUnitElems * es;
  prefetch_line(unit, true);
  prefetch_line(unit + kUnitElems * es - 1, true);
}

// The values of one full unit from two vectors of its codes: q * step + add
// (local::reconstruct).
template <DType kType>
SQZ_AVX2 __attribute__((always_inline)) inline void store_unit_local(const local::Dequant& d,
                                                                     __m256i c0, __m256i c1,
                                                                     uint8_t* out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(d.step);
  const __m256 add = _mm256_set1_ps(d.add);
  store8<kType>(out, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c0), step), add));
  store8<kType>(out + 8 * es, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c1), step), add));
}

template <DType kType>
SQZ_AVX2 __attribute__((always_inline)) inline void store_unit_global(__m256 step, __m256i c0,
                                                                      __m256i c1, uint8_t* out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i c[2] = {c0, c1};
  for (int v = 0; v < 2; ++v) {
    const __m256i q =
        _mm256_xor_si256(_mm256_srli_epi32(c[v], 1),
                         _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(c[v], one)));
    store8<kType>(out + 8 * v * es, _mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
  }
}

// A unit's 16 codes as two vectors of 8: 32-bit codes as they are, byte codes widened.
SQZ_AVX2 inline void load_unit_codes(const uint32_t* c, __m256i* c0, __m256i* c1) {
  *c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c));
  *c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8));
}
SQZ_AVX2 inline void load_unit_codes(const uint8_t* c, __m256i* c0, __m256i* c1) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
  *c0 = _mm256_cvtepu8_epi32(b);
  *c1 = _mm256_cvtepu8_epi32(_mm_srli_si128(b, 8));
}

// Code: uint32_t (write_local) or uint8_t (write_local_narrow).
template <DType kType, class Code>
SQZ_AVX2 void write_local_avx2(const local::Dequant* dq, const uint32_t* units, uint64_t n_units,
                               uint64_t n, const Code* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; ++k) {
    prefetch_unit_ahead<es>(dst, units, k, n_units);
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const Code* c = codes + k * kUnitElems;
    if (first + kUnitElems > n) {
      if constexpr (sizeof(Code) == 1)
        kStagedScalar[(int)kType].write_local_narrow(dq, units + k, 1, n, c, dst);
      else
        kStagedScalar[(int)kType].write_local(dq, units + k, 1, n, c, dst);
      continue;
    }
    __m256i c0, c1;
    load_unit_codes(c, &c0, &c1);
    store_unit_local<kType>(dq[first / kBlockElems], c0, c1, dst + first * es);
  }
}

template <DType kType>
SQZ_AVX2 void write_global_avx2(float step_f, const uint32_t* units, uint64_t n_units, uint64_t n,
                                const uint32_t* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(step_f);
  for (uint64_t k = 0; k < n_units; ++k) {
    prefetch_unit_ahead<es>(dst, units, k, n_units);
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint32_t* c = codes + k * kUnitElems;
    if (first + kUnitElems > n) {
      kStagedScalar[(int)kType].write_global(step_f, units + k, 1, n, c, dst);
      continue;
    }
    store_unit_global<kType>(step, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8)),
                             dst + first * es);
  }
}

// The whole unit at element first from its codes: local mode (its block's dq) or global.
template <DType kType, bool kLocal>
SQZ_AVX2 __attribute__((always_inline)) inline void store_unit(const local::Dequant* dq,
                                                               float step_f, uint64_t first,
                                                               __m256i c0, __m256i c1,
                                                               uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  if constexpr (kLocal)
    store_unit_local<kType>(dq[first / kBlockElems], c0, c1, dst + first * es);
  else
    store_unit_global<kType>(_mm256_set1_ps(step_f), c0, c1, dst + first * es);
}

// The units k and k + 1 of a list (the second perhaps past its end) one at a time, the frame's
// partial last unit by the scalar set, from the group's w planes read again: apart, and not
// inlined, so that the common case keeps the codes in registers (a loop over the pair, or codes
// passed here, put them on the stack for every group).
template <DType kType, bool kLocal>
[[gnu::noinline, gnu::cold]] SQZ_AVX2 void store_group_slow(const uint8_t* planes, uint32_t w,
                                                            const uint32_t* units, uint64_t k,
                                                            uint64_t n_units, uint64_t n,
                                                            const local::Dequant* dq, float step_f,
                                                            uint8_t* dst) {
  __m256i c[4];
  read_planes(planes, w, c);
  for (uint64_t h = 0; h < 2 && k + h < n_units; ++h) {
    const uint64_t first = (uint64_t)units[k + h] * kUnitElems;
    if (first + kUnitElems <= n) {
      store_unit<kType, kLocal>(dq, step_f, first, c[2 * h], c[2 * h + 1], dst);
      continue;
    }
    alignas(32) uint32_t codes[kUnitElems];
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes), c[2 * h]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 8), c[2 * h + 1]);
    if constexpr (kLocal)
      kStagedScalar[(int)kType].write_local(dq, units + k + h, 1, n, codes, dst);
    else
      kStagedScalar[(int)kType].write_global(step_f, units + k + h, 1, n, codes, dst);
  }
}

// The two units k and k + 1 of a list from one group's codes c (read from its w planes), local
// mode (dq) or global (step). Two whole units, all groups but perhaps the last, go
// straight-line (1.06-1.12x decompress, local 1e-2).
template <DType kType, bool kLocal>
SQZ_AVX2 __attribute__((always_inline)) inline void store_group(
    __m256i c0, __m256i c1, __m256i c2, __m256i c3, const uint8_t* planes, uint32_t w,
    const uint32_t* units, uint64_t k, uint64_t n_units, uint64_t n, const local::Dequant* dq,
    float step_f, uint8_t* dst) {
  if (k + 1 < n_units) {
    const uint64_t first0 = (uint64_t)units[k] * kUnitElems;
    const uint64_t first1 = (uint64_t)units[k + 1] * kUnitElems;
    if (first0 + kUnitElems <= n && first1 + kUnitElems <= n) {
      store_unit<kType, kLocal>(dq, step_f, first0, c0, c1, dst);
      store_unit<kType, kLocal>(dq, step_f, first1, c2, c3, dst);
      return;
    }
  }
  store_group_slow<kType, kLocal>(planes, w, units, k, n_units, n, dq, step_f, dst);
}

// W != 0: every group has W <= 8 planes, read unrolled; W = 0: w planes.
template <DType kType, uint32_t W>
SQZ_AVX2 void write_fixed_local_w(const uint8_t* planes, uint32_t w, const local::Dequant* dq,
                                  const uint32_t* units, uint64_t n_units, uint64_t n,
                                  uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; k += 2, planes += 4 * w) {
    prefetch_unit_ahead<es>(dst, units, k, n_units);
    prefetch_unit_ahead<es>(dst, units, k + 1, n_units);
    __m256i c[4];
    if constexpr (W != 0)
      read_byte_planes<W>(planes, W, c);
    else
      read_planes(planes, w, c);
    store_group<kType, true>(c[0], c[1], c[2], c[3], planes, w, units, k, n_units, n, dq, 0.0f,
                             dst);
  }
}

// One width of at most 8 (local mode below INT8's precision and looser): the planes unrolled.
template <DType kType>
SQZ_AVX2 void write_fixed_local_avx2(const uint8_t* planes, uint32_t w, const local::Dequant* dq,
                                     const uint32_t* units, uint64_t n_units, uint64_t n,
                                     uint8_t* dst) {
  using Write = void (*)(const uint8_t*, uint32_t, const local::Dequant*, const uint32_t*, uint64_t,
                         uint64_t, uint8_t*);
  static constexpr Write kOneWidth[9] = {
      &write_fixed_local_w<kType, 0>, &write_fixed_local_w<kType, 1>,
      &write_fixed_local_w<kType, 2>, &write_fixed_local_w<kType, 3>,
      &write_fixed_local_w<kType, 4>, &write_fixed_local_w<kType, 5>,
      &write_fixed_local_w<kType, 6>, &write_fixed_local_w<kType, 7>,
      &write_fixed_local_w<kType, 8>};
  (w <= 8 ? kOneWidth[w] : &write_fixed_local_w<kType, 0>)(planes, w, dq, units, n_units, n, dst);
}

template <DType kType>
SQZ_AVX2 void write_fixed_global_avx2(const uint8_t* widths, const uint8_t* planes, float step_f,
                                      const uint32_t* units, uint64_t n_units, uint64_t n,
                                      uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; k += 2) {
    prefetch_unit_ahead<es>(dst, units, k, n_units);
    prefetch_unit_ahead<es>(dst, units, k + 1, n_units);
    const uint32_t w = *widths++;
    __m256i c[4];
    read_planes(planes, w, c);
    store_group<kType, false>(c[0], c[1], c[2], c[3], planes, w, units, k, n_units, n, nullptr,
                              step_f, dst);
    planes += 4 * w;
  }
}

// dedup::unit_hash, four pairs per instruction: the low dword of each 64-bit lane is a pair's
// keyed low word, the high dword its keyed high word.
SQZ_AVX2 __attribute__((always_inline)) inline __m256i hash_terms(__m256i raw, __m256i keys) {
  const __m256i x = _mm256_xor_si256(raw, keys);
  return _mm256_add_epi64(_mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)), raw);
}

SQZ_AVX2 inline __m256i hash_terms(const uint8_t* p, __m256i keys) {
  return hash_terms(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), keys);
}

SQZ_AVX2 inline uint64_t hsum_epi64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

// dedup::hash_key of words 0-7 (lo) and 8-15 (hi): a 64-byte unit's two halves.
struct UnitHashKeys {
  __m256i lo, hi;
};
SQZ_AVX2 inline UnitHashKeys unit_hash_keys() {
  uint32_t k[16];
  for (uint32_t i = 0; i < 16; ++i) k[i] = dedup::hash_key(i);
  return UnitHashKeys{_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + 8))};
}

// A unit's table key from its lane sums.
SQZ_AVX2 inline uint64_t key_of_sums(__m256i sums, uint32_t unit_bytes) {
  return dedup::table_key(dedup::fmix64(hsum_epi64(sums) ^ unit_bytes));
}

// Four units' table keys from their lane sums, reduced together (two pairings and a cross-half
// add), not a horizontal sum each; units of unit_bytes (64: f32, 32: f16 and bf16).
SQZ_AVX2 __attribute__((always_inline)) inline void keys_of_four(__m256i s0, __m256i s1, __m256i s2,
                                                                 __m256i s3, uint64_t* keys,
                                                                 uint32_t unit_bytes = 64) {
  const __m256i t01 =
      _mm256_add_epi64(_mm256_unpacklo_epi64(s0, s1), _mm256_unpackhi_epi64(s0, s1));
  const __m256i t23 =
      _mm256_add_epi64(_mm256_unpacklo_epi64(s2, s3), _mm256_unpackhi_epi64(s2, s3));
  alignas(32) uint64_t sum[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(sum),
                     _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20),
                                      _mm256_permute2x128_si256(t01, t23, 0x31)));
  for (int j = 0; j < 4; ++j) keys[j] = dedup::table_key(dedup::fmix64(sum[j] ^ unit_bytes));
}

SQZ_AVX2 void unit_keys_avx2(const uint8_t* src, uint64_t n_units, uint32_t unit_bytes,
                             uint64_t* keys) {
  const UnitHashKeys hk = unit_hash_keys();
  if (unit_bytes == 64) {
    auto terms = [&](uint64_t u) SQZ_AVX2 {
      const uint8_t* p = src + u * 64;
      return _mm256_add_epi64(hash_terms(p, hk.lo), hash_terms(p + 32, hk.hi));
    };
    uint64_t u = 0;
    for (; u + 4 <= n_units; u += 4)
      keys_of_four(terms(u), terms(u + 1), terms(u + 2), terms(u + 3), keys + u);
    for (; u < n_units; ++u) keys[u] = key_of_sums(terms(u), 64);
  } else if (unit_bytes == 32) {
    uint64_t u = 0;
    for (; u + 4 <= n_units; u += 4)
      keys_of_four(hash_terms(src + u * 32, hk.lo), hash_terms(src + u * 32 + 32, hk.lo),
                   hash_terms(src + u * 32 + 64, hk.lo), hash_terms(src + u * 32 + 96, hk.lo),
                   keys + u, 32);
    for (; u < n_units; ++u) keys[u] = key_of_sums(hash_terms(src + u * 32, hk.lo), 32);
  } else {
    kUnitScalar.unit_keys(src, n_units, unit_bytes, keys);
  }
}

// block_stats and unit_keys in one pass: the statistics pass reads the frame from memory and
// waits for it, so the units' hashes (a block is two units: 64 bytes each in f32, 32 in f16 and
// bf16) are computed on the vectors it has loaded, instead of in a pass of their own over the
// frame.
template <DType kType>
SQZ_AVX2 void block_stats_keys_avx2(const uint8_t* src, uint64_t n, local::BlockStats* out,
                                    uint64_t n_full_units, uint64_t* keys) {
  constexpr uint32_t kUnitBytes = (uint32_t)(kUnitElems * dtype_size(kType));
  constexpr uint64_t kBlockBytes = 2 * kUnitBytes;
  const UnitHashKeys hk = unit_hash_keys();
  // One block's stats, and its two units' hash lane sums.
  auto block = [&](uint64_t b, __m256i * sums) SQZ_AVX2 __attribute__((always_inline)) {
    const uint8_t* blk = src + b * kBlockBytes;
    if constexpr (kType == DType::kF32) {
      const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
      const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
      const __m256i r2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64));
      const __m256i r3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 96));
      out[b] = stats_of_block(r0, r1, r2, r3);
      sums[0] = _mm256_add_epi64(hash_terms(r0, hk.lo), hash_terms(r1, hk.hi));
      sums[1] = _mm256_add_epi64(hash_terms(r2, hk.lo), hash_terms(r3, hk.hi));
    } else {
      // f16 and bf16: the units' raw words hashed, the elements widened to f32 from the same
      // lines (in L1 by then) for the statistics: 1.01-1.06x against a pass of each
      // (docs/PERFORMANCE.md, session 30).
      constexpr auto bits = element_bits8<kType>;
      sums[0] = hash_terms(blk, hk.lo);
      sums[1] = hash_terms(blk + 32, hk.lo);
      out[b] = stats_of_block(bits(blk), bits(blk + 16), bits(blk + 32), bits(blk + 48));
    }
  };
  const uint64_t full = n / kBlockElems;
  // The frame is read from memory 4 KiB ahead: alone, the statistics loop keeps enough loads
  // in flight; with the hashes between them it does not (f32: 32K ticks a 128 KiB frame without
  // the prefetch, 24K with it, 31K for the two passes; 2 and 8 KiB ahead: 25K and 27K).
  constexpr uint64_t kAheadBlocks = 4096 / kBlockBytes;
  uint64_t b = 0;
  // Two blocks (four units) at a time, their keys reduced together.
  for (; b + 2 <= full; b += 2) {
    __m256i s[4];
    if (b + kAheadBlocks + 2 <= full) {
      const char* ahead = reinterpret_cast<const char*>(src + (b + kAheadBlocks) * kBlockBytes);
      for (uint64_t line = 0; line < 2 * kBlockBytes / 64; ++line)
        _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
    }
    block(b, s);
    block(b + 1, s + 2);
    keys_of_four(s[0], s[1], s[2], s[3], keys + 2 * b, kUnitBytes);
  }
  for (; b < full; ++b) {
    __m256i s[2];
    block(b, s);
    keys[2 * b] = key_of_sums(s[0], kUnitBytes);
    keys[2 * b + 1] = key_of_sums(s[1], kUnitBytes);
  }
  if (full * kBlockElems < n)
    kStagedScalar[(int)kType].block_stats(src + full * kBlockBytes, n - full * kBlockElems,
                                          out + full);
  if (2 * full < n_full_units)
    unit_keys_avx2(src + 2 * full * kUnitBytes, n_full_units - 2 * full, kUnitBytes,
                   keys + 2 * full);
}

// W != 0: every group has W <= 8 planes (local mode), unrolled; W = 0: widths[g] planes, or w
// when widths is null.
template <uint32_t W>
SQZ_AVX2 void pack_groups_w(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                            const uint8_t* widths, uint32_t w, uint8_t* out) {
  for (uint64_t g = 0; 2 * g < n_units; ++g) {
    const uint32_t* a = codes + (uint64_t)units[2 * g] * kUnitElems;
    __m256i z[4] = {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)),
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 8)),
                    _mm256_setzero_si256(), _mm256_setzero_si256()};
    if (2 * g + 1 < n_units) {
      const uint32_t* b = codes + (uint64_t)units[2 * g + 1] * kUnitElems;
      z[2] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
      z[3] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 8));
    }
    if constexpr (W != 0) {
      store_byte_planes<W>(byte_planes_top(z, W), W, out);
      out += 4 * W;
    } else {
      const uint32_t width = widths != nullptr ? widths[g] : w;
      write_planes(z, width, out);
      out += 4 * width;
    }
  }
}

// pack_groups_w<W> from codes of a byte each: a group's two units (16 bytes each) are one vector,
// shifted as byte_planes_top shifts the bytes it narrows.
template <uint32_t W>
SQZ_AVX2 void pack_groups_narrow_w(const uint8_t* codes, const uint32_t* units, uint64_t n_units,
                                   uint8_t* out) {
  for (uint64_t g = 0; 2 * g < n_units; ++g) {
    const __m128i a = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(codes + (uint64_t)units[2 * g] * kUnitElems));
    const __m128i b = 2 * g + 1 < n_units ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                codes + (uint64_t)units[2 * g + 1] * kUnitElems))
                                          : _mm_setzero_si128();
    const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
    store_byte_planes<W>(_mm256_slli_epi16(bytes, 8 - W), W, out);
    out += 4 * W;
  }
}

SQZ_AVX2 void pack_groups_narrow_avx2(const uint8_t* codes, const uint32_t* units, uint64_t n_units,
                                      uint32_t w, uint8_t* out) {
  using Pack = void (*)(const uint8_t*, const uint32_t*, uint64_t, uint8_t*);
  static constexpr Pack kOneWidth[9] = {
      &pack_groups_narrow_w<0>, &pack_groups_narrow_w<1>, &pack_groups_narrow_w<2>,
      &pack_groups_narrow_w<3>, &pack_groups_narrow_w<4>, &pack_groups_narrow_w<5>,
      &pack_groups_narrow_w<6>, &pack_groups_narrow_w<7>, &pack_groups_narrow_w<8>};
  kOneWidth[w](codes, units, n_units, out);
}

// A group's two units are loaded wherever they are in the codes: no copy into a group buffer
// and no test of whether they are adjacent. One width of at most 8 (local mode below INT8's
// precision and looser) has its own loop with the planes unrolled: 1.25x packing.
SQZ_AVX2 void pack_groups_avx2(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                               const uint8_t* widths, uint32_t w, uint8_t* out) {
  using Pack =
      void (*)(const uint32_t*, const uint32_t*, uint64_t, const uint8_t*, uint32_t, uint8_t*);
  static constexpr Pack kOneWidth[9] = {&pack_groups_w<0>, &pack_groups_w<1>, &pack_groups_w<2>,
                                        &pack_groups_w<3>, &pack_groups_w<4>, &pack_groups_w<5>,
                                        &pack_groups_w<6>, &pack_groups_w<7>, &pack_groups_w<8>};
  const Pack pack = widths == nullptr && w <= 8 ? kOneWidth[w] : &pack_groups_w<0>;
  pack(codes, units, n_units, widths, w, out);
}
// The OR of a vector's eight lanes.
SQZ_AVX2 inline uint32_t or_lanes(__m256i v) {
  __m128i x = _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_or_si128(x, _mm_shuffle_epi32(x, 0x4e));
  x = _mm_or_si128(x, _mm_shuffle_epi32(x, 0xb1));
  return (uint32_t)_mm_cvtsi128_si32(x);
}

// The OR of a listed unit's codes, lane by lane.
SQZ_AVX2 inline __m256i unit_or(const uint32_t* codes, const uint32_t* units, uint64_t k) {
  const uint32_t* c = codes + (uint64_t)units[k] * kUnitElems;
  return _mm256_or_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8)));
}

// A group's two units as four vectors ORed together, wherever the units are (as pack_groups).
SQZ_AVX2 uint32_t group_widths_avx2(const uint32_t* codes, const uint32_t* units, uint64_t n_units,
                                    uint8_t* widths, uint64_t* planes) {
  __m256i all = _mm256_setzero_si256();
  uint64_t sum = 0, g = 0;
  for (; 2 * g + 1 < n_units; ++g) {
    const __m256i any =
        _mm256_or_si256(unit_or(codes, units, 2 * g), unit_or(codes, units, 2 * g + 1));
    all = _mm256_or_si256(all, any);
    const uint32_t width = quant::code_width(or_lanes(any));
    widths[g] = (uint8_t)width;
    sum += width;
  }
  if (2 * g < n_units) {
    const __m256i any = unit_or(codes, units, 2 * g);
    all = _mm256_or_si256(all, any);
    widths[g] = (uint8_t)quant::code_width(or_lanes(any));
    sum += widths[g];
  }
  *planes = sum;
  return or_lanes(all);
}

SQZ_AVX2 void unpack_planes_avx2(const uint8_t* in, uint32_t width, uint32_t* codes) {
  __m256i c[4];
  read_planes(in, width, c);
  for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 8 * v), c[v]);
}

// ---- local mode decisions, four records at a time (local.h's decide, operation for operation in
// double and single precision; records that are not plain quantized blocks go to it) ----

// Four doubles' quant::float_round_down, as float bits (v >= 0, not NaN).
SQZ_AVX2 inline __m128i round_down_bits4(__m256d v) {
  const __m128 f = _mm256_cvtpd_ps(v);
  const __m256d above = _mm256_cmp_pd(_mm256_cvtps_pd(f), v, _CMP_GT_OQ);
  // The 64-bit lane masks narrowed to 32 bits: -1 where the float is above v.
  const __m128i above32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
      _mm256_castpd_si256(above), _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
  return _mm_add_epi32(_mm_castps_si128(f), above32);
}

// local::step_bits_below of four values.
SQZ_AVX2 inline __m128i step_bits_below4(__m256d v, uint32_t mant_shift) {
  const __m128i bits =
      _mm_and_si128(round_down_bits4(v),
                    _mm_set1_epi32((int)~((1u << (23 - local::kMantBits + mant_shift)) - 1u)));
  const __m128i e = _mm_srli_epi32(bits, 23);
  const __m128i bad = _mm_or_si128(_mm_cmpeq_epi32(e, _mm_setzero_si128()),
                                   _mm_cmpgt_epi32(e, _mm_set1_epi32(254)));
  return _mm_andnot_si128(bad, bits);
}

// Four records' mn and mx widened to double, and whether each is a plain block (finite elements,
// not all equal): the only kind the vector path decides.
struct Records4 {
  __m256d mn, mx;
  __m128 mn_f, mx_f;  // the same as floats
  uint32_t plain;     // bit per record
};

// local::type_spacing of four magnitudes a >= 0 for f16 or bf16: 2 to the power of a's exponent
// less the type's fraction bits, and at least its least gap. The exponent fields stay in the low
// dword of each lane (a negative difference's high dword is -1, which the dword max clears with 0).
SQZ_AVX2 inline __m256d type_spacing4(__m256d a, uint8_t dtype) {
  const __m256i e = _mm256_srli_epi64(_mm256_castpd_si256(a), 52);
  const __m256i k =
      _mm256_max_epi32(_mm256_sub_epi64(e, _mm256_set1_epi64x(local::type_fraction_bits(dtype))),
                       _mm256_set1_epi64x(local::type_least_gap_log2(dtype) + 1023));
  return _mm256_castsi256_pd(_mm256_slli_epi64(k, 52));
}

// local::wanted_step of four plain records with bounds eb, operation for operation.
SQZ_AVX2 inline __m256d wanted_step4(uint8_t dtype, const Records4& rec, __m256d eb) {
  const __m256d two_eb = _mm256_mul_pd(_mm256_set1_pd(2.0), eb);
  if (dtype == (uint8_t)DType::kF32) return two_eb;
  const __m256d amax = _mm256_max_pd(_mm256_xor_pd(rec.mn, _mm256_set1_pd(-0.0)), rec.mx);
  const __m256d t = type_spacing4(amax, dtype);
  const __m256d additive = _mm256_sub_pd(two_eb, type_spacing4(_mm256_add_pd(amax, eb), dtype));
  const __m256d top_exact =
      _mm256_min_pd(t, _mm256_sub_pd(two_eb, _mm256_mul_pd(_mm256_set1_pd(0.5), t)));
  const __m256d s =
      _mm256_mul_pd(_mm256_max_pd(additive, top_exact), _mm256_set1_pd(1.0 - 1.0 / 4096.0));
  return _mm256_blendv_pd(two_eb, s, _mm256_cmp_pd(s, _mm256_setzero_pd(), _CMP_GT_OQ));
}

// The four records as four 16-byte rows, transposed: mn, mx, the flags word (has_finite in its
// low byte, all_same in the next) and same_bits. The statistics were stored a pass earlier, so
// the wide loads do not wait on store forwarding.
static_assert(sizeof(local::BlockStats) == 16 && offsetof(local::BlockStats, mn) == 0 &&
                  offsetof(local::BlockStats, mx) == 4 &&
                  offsetof(local::BlockStats, has_finite) == 8 &&
                  offsetof(local::BlockStats, all_same) == 9,
              "BlockStats rows: mn, mx, flags, same_bits");
SQZ_AVX2 inline Records4 load_records4(const local::BlockStats* st) {
  const float* f = reinterpret_cast<const float*>(st);
  __m128 mn = _mm_loadu_ps(f), mx = _mm_loadu_ps(f + 4), flags = _mm_loadu_ps(f + 8),
         same = _mm_loadu_ps(f + 12);
  _MM_TRANSPOSE4_PS(mn, mx, flags, same);
  // Plain: has_finite and not all_same, i.e. the flags' two low bytes are 1 then 0 (bools).
  const __m128i two_bytes = _mm_and_si128(_mm_castps_si128(flags), _mm_set1_epi32(0xffff));
  const uint32_t plain =
      (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(two_bytes, _mm_set1_epi32(1))));
  return {_mm256_cvtps_pd(mn), _mm256_cvtps_pd(mx), mn, mx, plain};
}

SQZ_AVX2 uint32_t local_e0_avx2(const local::BlockStats* st, const double* bound, uint64_t n) {
  uint32_t e0 = 0;
  uint64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const Records4 rec = load_records4(st + r);
    const __m256d range = _mm256_sub_pd(rec.mx, rec.mn);
    // local::wanted_step_bits: 2 bound range, scaled by 2 first (exact either way).
    const __m256d v =
        _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(2.0), _mm256_loadu_pd(bound + r)), range);
    alignas(16) uint32_t bits[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(bits), step_bits_below4(v, 0));
    for (int k = 0; k < 4; ++k) {
      const uint32_t e = ((rec.plain >> k) & 1u) ? bits[k] >> 23 : 0u;
      e0 = e > e0 ? e : e0;
    }
  }
  const uint32_t rest = kUnitScalar.local_e0(st + r, bound + r, n - r);
  return rest > e0 ? rest : e0;
}

// A plain quantized block's parameters (kind kQuant, no offset or value) from its row of step,
// inv_step, zf and zs, written as the struct's bytes: a 16-byte store for the four, not a
// struct built field by field and copied (the decisions alone run 1.16x faster, 12.6K -> 10.9K
// ticks a 128 KiB frame of data/bench64.f32 in a standalone loop).
static_assert(offsetof(local::BlockParams, inv_step) == offsetof(local::BlockParams, step) + 4 &&
                  offsetof(local::BlockParams, zf) == offsetof(local::BlockParams, step) + 8 &&
                  offsetof(local::BlockParams, zs) == offsetof(local::BlockParams, step) + 12 &&
                  offsetof(local::BlockParams, value) == offsetof(local::BlockParams, offset) + 4,
              "step .. zs and offset, value are consecutive floats");
static_assert(offsetof(local::BlockParams, codes_in_range) == 1 &&
                  offsetof(local::BlockParams, step) == 4 && (int)local::Kind::kQuant == 0,
              "the first word: the kind (0 for kQuant), codes_in_range, then padding");
SQZ_AVX2 inline void store_plain_params(__m128 row, bool codes_in_range, uint32_t eb_check_bits,
                                        uint32_t max_code, local::BlockParams* p) {
  uint8_t* bytes = reinterpret_cast<uint8_t*>(p);
  const uint32_t kind_word = (uint32_t)codes_in_range << 8;
  const uint64_t zeros = 0;
  std::memcpy(bytes, &kind_word, 4);
  _mm_storeu_ps(reinterpret_cast<float*>(bytes + offsetof(local::BlockParams, step)), row);
  std::memcpy(bytes + offsetof(local::BlockParams, offset), &zeros, 8);
  std::memcpy(bytes + offsetof(local::BlockParams, eb_check), &eb_check_bits, 4);
  std::memcpy(bytes + offsetof(local::BlockParams, max_code), &max_code, 4);
}

// local::quant_record of four plain records for the step bits of each lane: the lanes whose
// record it makes (ok, a bit each), and for those their records, steps and the params'
// floats. The other lanes' values are garbage.
struct StepTry4 {
  uint32_t ok;
  uint32_t in_range;  // local::decide's codes_in_range, a bit per lane
  __m128i rec_bits;
  __m128 s, inv, zf, zs;
};

SQZ_AVX2 inline StepTry4 try_step4(const Records4& rec, __m256d range, __m128i bits, __m128i e0v,
                                   double z_unit, __m256d width, uint32_t max_code) {
  StepTry4 t;
  const __m128i e = _mm_srli_epi32(bits, 23);
  // bits != 0 (e >= 1), e <= e0 and e0 - e <= kMaxOctave.
  const __m128i octave = _mm_sub_epi32(e0v, e);
  const __m128i ok_step = _mm_andnot_si128(
      _mm_or_si128(_mm_cmpeq_epi32(bits, _mm_setzero_si128()),
                   _mm_or_si128(_mm_cmplt_epi32(octave, _mm_setzero_si128()),
                                _mm_cmpgt_epi32(octave, _mm_set1_epi32(local::kMaxOctave)))),
      _mm_set1_epi32(-1));
  const __m128 s = _mm_castsi128_ps(bits);
  const __m256d sd = _mm256_cvtps_pd(s);
  // z = -floor((mn + s / 2) * 8 / s * 2^-z_shift) * 2^z_shift (local::quant_record)
  const __m256d q = _mm256_mul_pd(
      _mm256_div_pd(_mm256_mul_pd(_mm256_add_pd(rec.mn, _mm256_mul_pd(sd, _mm256_set1_pd(0.5))),
                                  _mm256_set1_pd(8.0)),
                    sd),
      _mm256_set1_pd(1.0 / z_unit));
  const __m256d z = _mm256_mul_pd(_mm256_xor_pd(_mm256_floor_pd(q), _mm256_set1_pd(-0.0)),
                                  _mm256_set1_pd(z_unit));
  const __m256d ok_z = _mm256_and_pd(
      _mm256_and_pd(_mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_GE_OQ),
                    _mm256_cmp_pd(z, _mm256_set1_pd((double)local::kMaxZ), _CMP_LE_OQ)),
      _mm256_cmp_pd(_mm256_mul_pd(sd, width), range, _CMP_GE_OQ));
  t.ok = rec.plain & (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(ok_step)) &
         (uint32_t)_mm256_movemask_pd(ok_z);
  const __m128i zi = _mm256_cvttpd_epi32(_mm256_and_pd(z, ok_z));
  const __m128i mant = _mm_and_si128(_mm_srli_epi32(bits, 23 - local::kMantBits),
                                     _mm_set1_epi32((1 << local::kMantBits) - 1));
  t.rec_bits = _mm_or_si128(_mm_or_si128(octave, _mm_slli_epi32(mant, 4)), _mm_slli_epi32(zi, 13));
  const __m128 zf_f = _mm_cvtepi32_ps(zi);
  t.s = s;
  t.inv = _mm_div_ps(_mm_set1_ps(1.0f), s);
  t.zf = _mm_mul_ps(zf_f, _mm_set1_ps(0.125f));
  t.zs = _mm_mul_ps(zf_f, _mm_mul_ps(s, _mm_set1_ps(0.125f)));
  // local::decide's codes_in_range: the rounded quotients of the extremes within the codes.
  const __m128 q_lo = _mm_round_ps(_mm_add_ps(_mm_mul_ps(rec.mn_f, t.inv), t.zf),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m128 q_hi = _mm_round_ps(_mm_add_ps(_mm_mul_ps(rec.mx_f, t.inv), t.zf),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  t.in_range = (uint32_t)_mm_movemask_ps(_mm_and_ps(
      _mm_cmpge_ps(q_lo, _mm_setzero_ps()), _mm_cmple_ps(q_hi, _mm_set1_ps((float)max_code))));
  return t;
}

// The lanes that are all ones in `lanes` from b, the others from a.
SQZ_AVX2 inline __m128 pick_lanes(__m128 a, __m128 b, __m128i lanes) {
  return _mm_blendv_ps(a, b, _mm_castsi128_ps(lanes));
}

// kNarrowType: f16 or bf16, whose records may take local::decide's second try (f32's loop has
// none of its code).
template <bool kNarrowType>
SQZ_AVX2 void decide_local_loop(const local::BlockStats* st, const double* bound, uint64_t n,
                                uint32_t e0, uint32_t w, uint8_t dtype, local::RecordPrecision prec,
                                uint32_t* record, uint32_t* side, local::BlockParams* params) {
  const __m128i e0v = _mm_set1_epi32((int)e0);
  const double z_unit = (double)(1u << prec.z_shift);
  const __m256d width = _mm256_set1_pd((double)(1u << w) - 0.125 * z_unit);
  const uint32_t max_code = (1u << w) - 1u;
  uint64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const Records4 rec = load_records4(st + r);
    const __m256d range = _mm256_sub_pd(rec.mx, rec.mn);
    const __m256d eb = _mm256_mul_pd(_mm256_loadu_pd(bound + r), range);
    const __m128i eb_check = round_down_bits4(eb);
    StepTry4 t =
        try_step4(rec, range, step_bits_below4(wanted_step4(dtype, rec, eb), prec.mant_shift), e0v,
                  z_unit, width, max_code);
    // local::decide's second try, 2 eb, for the plain lanes whose wanted step failed (f16 and
    // bf16 only: f32's wanted step is 2 eb). The first try's lanes keep theirs. On the seed-2
    // payloads rounded to the type, 37% of bf16's plain records come here at the default bound
    // (the step for the decoder's rounding, less its packed precision, no longer covers the range
    // with the codes), 3% of f16's, and nearly all of both at local 1.96e-3: their scalar
    // decisions were the codec's largest cost on bf16 payloads.
    const uint32_t retry = kNarrowType ? rec.plain & ~t.ok : 0u;
    if (kNarrowType && retry != 0) {
      const StepTry4 t2 = try_step4(
          rec, range, step_bits_below4(_mm256_mul_pd(_mm256_set1_pd(2.0), eb), prec.mant_shift),
          e0v, z_unit, width, max_code);
      const uint32_t take = retry & t2.ok;
      if (take != 0) {
        const __m128i lanes =
            _mm_cmpeq_epi32(_mm_and_si128(_mm_set1_epi32((int)take), _mm_setr_epi32(1, 2, 4, 8)),
                            _mm_setr_epi32(1, 2, 4, 8));
        t.rec_bits = _mm_blendv_epi8(t.rec_bits, t2.rec_bits, lanes);
        t.s = pick_lanes(t.s, t2.s, lanes);
        t.inv = pick_lanes(t.inv, t2.inv, lanes);
        t.zf = pick_lanes(t.zf, t2.zf, lanes);
        t.zs = pick_lanes(t.zs, t2.zs, lanes);
        t.in_range = (t.in_range & ~take) | (t2.in_range & take);
        t.ok |= take;
      }
    }
    // Lanes that fail produce garbage below; they are decided by local::decide instead.
    // Every lane's record and zero side entries; the lanes local::decide takes rewrite theirs.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(record + r), t.rec_bits);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(side + 2 * r), _mm256_setzero_si256());
    __m128 row0 = t.s, row1 = t.inv, row2 = t.zf, row3 = t.zs;
    _MM_TRANSPOSE4_PS(row0, row1, row2, row3);  // row k: record k's step, inv_step, zf, zs
    const __m128 rows[4] = {row0, row1, row2, row3};
    alignas(16) uint32_t ebc_out[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(ebc_out), eb_check);
    for (uint32_t k = 0; k < 4; ++k) {
      const uint64_t i = r + k;
      if (!((t.ok >> k) & 1u)) {
        local::decide(st[i], bound[i], e0, w, dtype, prec, &record[i], &side[2 * i], &params[i]);
        continue;
      }
      store_plain_params(rows[k], (t.in_range >> k) & 1u, ebc_out[k], max_code, &params[i]);
    }
  }
  kUnitScalar.decide_local(st + r, bound + r, n - r, e0, w, dtype, prec, record + r, side + 2 * r,
                           params + r);
}

SQZ_AVX2 void decide_local_avx2(const local::BlockStats* st, const double* bound, uint64_t n,
                                uint32_t e0, uint32_t w, uint8_t dtype, local::RecordPrecision prec,
                                uint32_t* record, uint32_t* side, local::BlockParams* params) {
  if (dtype == (uint8_t)DType::kF32)
    decide_local_loop<false>(st, bound, n, e0, w, dtype, prec, record, side, params);
  else
    decide_local_loop<true>(st, bound, n, e0, w, dtype, prec, record, side, params);
}

// local::quant_dequant of eight valid kQuant records, given as their octaves, 9-bit mantissas
// and z values a lane each, in the same IEEE operations and order, to dq[0, 8).
SQZ_AVX2 inline void dequants8(__m256i octave, __m256i mant, __m256i zi, uint32_t e0,
                               local::Dequant* dq) {
  static_assert(sizeof(local::Dequant) == 8, "(step, add) pairs");
  const __m256 step = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_slli_epi32(_mm256_sub_epi32(_mm256_set1_epi32((int)e0), octave), 23),
                      _mm256_slli_epi32(mant, 23 - local::kMantBits)));
  const __m256 zs =
      _mm256_mul_ps(_mm256_cvtepi32_ps(zi), _mm256_mul_ps(step, _mm256_set1_ps(0.125f)));
  const __m256 add = _mm256_xor_ps(zs, _mm256_set1_ps(-0.0f));
  // (step, add) pairs in record order: lanes 0-1 and 4-5, then 2-3 and 6-7.
  const __m256 a = _mm256_unpacklo_ps(step, add);
  const __m256 b = _mm256_unpackhi_ps(step, add);
  float* out = reinterpret_cast<float*>(dq);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(a, b, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(a, b, 0x31));
}

// Valid kQuant octaves: below min(e0, kSpecialOctave) (octave <= kMaxOctave and octave < e0).
SQZ_AVX2 inline __m256i octave_limit(uint32_t e0) {
  return _mm256_set1_epi32(
      (int)(e0 < local::kSpecialOctave ? e0 : (uint32_t)local::kSpecialOctave));
}

// Eight records a round: their 24 bytes as two loads (nothing read past them), each record's
// three bytes widened to a lane, then local::quant_dequant's arithmetic (dequants8). A round
// with a record that is not a valid kQuant one (a special kind, rare) goes to the scalar reader
// from its first record.
SQZ_AVX2 uint64_t local_dequants_avx2(const uint8_t* records, uint64_t n, uint32_t e0,
                                      local::Dequant* dq) {
  static_assert(local::kRecordBytes == 3, "the layout below");
  const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, 0,
                                          1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  const __m256i limit = octave_limit(e0);
  const __m256i low4 = _mm256_set1_epi32(15);
  const __m256i mant_mask = _mm256_set1_epi32((1 << local::kMantBits) - 1);
  uint64_t r = 0;
  for (; r + 8 <= n; r += 8) {
    const uint8_t* p = records + local::kRecordBytes * r;
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));         // records 0-4
    const __m128i tail = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16));  // bytes 16-23
    const __m128i hi = _mm_alignr_epi8(tail, lo, 12);  // bytes 12-27: records 4-7 first
    const __m256i rec =
        _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), spread);
    const __m256i octave = _mm256_and_si256(rec, low4);
    if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(limit, octave))) != 0xff) break;
    dequants8(octave, _mm256_and_si256(_mm256_srli_epi32(rec, 4), mant_mask),
              _mm256_srli_epi32(rec, 13), e0, dq + r);
  }
  return r + kUnitScalar.local_dequants(records + local::kRecordBytes * r, n - r, e0, dq + r);
}

// Packed records (local_packed.h), eight a round from a record index that is a multiple of 8:
// those eight take exactly record_bits bytes, from byte (index / 8) * record_bits. Records 0-3
// lie in the round's first 16 bytes and 4-7 in the 16 from byte (4 record_bits) / 8 (no record
// starts past byte 9 of its half and ends past byte 12); a byte shuffle gives each lane the 4
// bytes its record starts in, a shift per lane and a mask its fields, which expand as
// local::record_of_fields does. A round with a record that is not a valid kQuant one, or whose
// loads would pass the records' end, goes to the scalar reader from its first record.
SQZ_AVX2 uint64_t local_dequants_packed_avx2(const uint8_t* records, uint64_t bytes,
                                             const local::PackedLayout& l, uint64_t first,
                                             uint64_t n, uint32_t e0, local::Dequant* dq) {
  const uint64_t lead = std::min<uint64_t>(n, (8 - first % 8) % 8);
  uint64_t r = kUnitScalar.local_dequants_packed(records, bytes, l, first, lead, e0, dq);
  if (r < lead) return r;
  const uint32_t rb = l.record_bits;
  const uint32_t half = (4 * rb) / 8;
  alignas(32) uint8_t control[32];
  alignas(32) uint32_t shift[8];
  for (uint32_t j = 0; j < 8; ++j) {
    const uint32_t bit = j * rb - (j < 4 ? 0 : 8 * half);
    for (uint32_t b = 0; b < 4; ++b) control[4 * j + b] = (uint8_t)((bit >> 3) + b);
    shift[j] = bit & 7;
  }
  const __m256i ctl = _mm256_load_si256(reinterpret_cast<const __m256i*>(control));
  const __m256i shv = _mm256_load_si256(reinterpret_cast<const __m256i*>(shift));
  const __m256i field_mask = _mm256_set1_epi32((int)((1u << rb) - 1u));
  const uint32_t mant_bits = local::kMantBits - l.mant_shift;
  const __m128i oct_bits = _mm_cvtsi32_si128((int)l.oct_bits);
  const __m128i z_at = _mm_cvtsi32_si128((int)(l.oct_bits + mant_bits));
  const __m128i mant_shift = _mm_cvtsi32_si128((int)l.mant_shift);
  const __m128i z_shift = _mm_cvtsi32_si128((int)l.z_shift);
  const __m256i oct_min = _mm256_set1_epi32((int)l.oct_min);
  const __m256i oct_mask = _mm256_set1_epi32((int)((1u << l.oct_bits) - 1u));
  const __m256i mant_mask = _mm256_set1_epi32((int)((1u << mant_bits) - 1u));
  const __m256i z_min = _mm256_set1_epi32((int)l.z_min);
  const __m256i z_max = _mm256_set1_epi32((int)local::kMaxZ);
  const __m256i limit = octave_limit(e0);
  for (; r + 8 <= n; r += 8) {
    const uint64_t at = (first + r) / 8 * rb;
    if (at + half + 16 > bytes) break;
    const uint8_t* p = records + at;
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + half));
    const __m256i f = _mm256_and_si256(
        _mm256_srlv_epi32(
            _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), ctl),
            shv),
        field_mask);
    const __m256i octave = _mm256_add_epi32(oct_min, _mm256_and_si256(f, oct_mask));
    const __m256i z = _mm256_add_epi32(z_min, _mm256_sll_epi32(_mm256_srl_epi32(f, z_at), z_shift));
    const __m256i bad =
        _mm256_or_si256(_mm256_cmpgt_epi32(octave, _mm256_sub_epi32(limit, _mm256_set1_epi32(1))),
                        _mm256_cmpgt_epi32(z, z_max));
    if (!_mm256_testz_si256(bad, bad)) break;
    const __m256i mant =
        _mm256_sll_epi32(_mm256_and_si256(_mm256_srl_epi32(f, oct_bits), mant_mask), mant_shift);
    dequants8(octave, mant, z, e0, dq + r);
  }
  return r + kUnitScalar.local_dequants_packed(records, bytes, l, first + r, n - r, e0, dq + r);
}

template <DType kType>
constexpr StagedKernels avx2_set() {
  return {&block_stats_avx2<kType>,
          &block_stats_keys_avx2<kType>,
          &quantize_local_avx2<kType, uint32_t>,
          &quantize_local_avx2<kType, uint8_t>,
          &quantize_global_avx2<kType>,
          &write_local_avx2<kType, uint32_t>,
          &write_local_avx2<kType, uint8_t>,
          &write_global_avx2<kType>,
          &write_fixed_local_avx2<kType>,
          &write_fixed_global_avx2<kType>};
}

// The positions of the set bits of each byte value, packed low first: the 8 indices a group of 8
// flags lists.
struct NonzeroIndex {
  uint8_t pos[256][8];
};
constexpr NonzeroIndex make_nonzero_index() {
  NonzeroIndex t{};
  for (uint32_t m = 0; m < 256; ++m) {
    uint32_t k = 0;
    for (uint32_t b = 0; b < 8; ++b)
      if ((m >> b) & 1u) t.pos[m][k++] = (uint8_t)b;
  }
  return t;
}
alignas(64) constexpr NonzeroIndex kNonzeroIndex = make_nonzero_index();

// 32 flags a round: a mask of the nonzero ones, then for each 8 of them their indices from the
// table, widened and offset, stored 8 at a time (the lanes past the count are overwritten by the
// next store or lie below list[n]). The scalar loop is a store and an add a flag; this is about
// ten instructions for 8.
SQZ_AVX2 uint64_t list_nonzero_avx2(const uint8_t* flags, uint64_t n, uint32_t* list) {
  uint64_t count = 0, u = 0;
  for (; u + 32 <= n; u += 32) {
    const __m256i f = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(flags + u));
    const uint32_t mask =
        ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(f, _mm256_setzero_si256()));
    for (uint32_t q = 0; q < 4; ++q) {
      const uint32_t m = (mask >> (8 * q)) & 0xffu;
      const __m256i idx = _mm256_cvtepu8_epi32(
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kNonzeroIndex.pos[m])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(list + count),
                          _mm256_add_epi32(idx, _mm256_set1_epi32((int)(u + 8 * q))));
      count += (uint64_t)__builtin_popcount(m);
    }
  }
  return append_nonzero(flags, u, n, list, count);
}

// Two units a round: their 32 codes shifted, then packed to words and to bytes (the symbols are
// below 256, so the saturating packs keep them), each pack's 128-bit lanes put back in order.
// Inlined into the staged driver's rANS stage, the loop of one unit compiled to a shift and a byte
// insert per code: a third of a rel 1e-2 frame's rANS time.
SQZ_AVX2 void unit_symbols_avx2(const uint32_t* codes, const uint32_t* units, uint64_t n,
                                uint32_t shift, uint8_t* out) {
  const __m128i count = _mm_cvtsi32_si128((int)shift);
  auto unit = [&](uint64_t k, __m256i* lo, __m256i* hi) SQZ_AVX2 {
    const uint32_t* c = codes + (uint64_t)units[k] * kUnitElems;
    *lo = _mm256_srl_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)), count);
    *hi = _mm256_srl_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8)), count);
  };
  uint64_t k = 0;
  for (; k + 2 <= n; k += 2) {
    __m256i a0, a1, b0, b1;
    unit(k, &a0, &a1);
    unit(k + 1, &b0, &b1);
    const __m256i wa = _mm256_permute4x64_epi64(_mm256_packus_epi32(a0, a1), 0xd8);
    const __m256i wb = _mm256_permute4x64_epi64(_mm256_packus_epi32(b0, b1), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k * kUnitElems),
                        _mm256_permute4x64_epi64(_mm256_packus_epi16(wa, wb), 0xd8));
  }
  if (k < n) {
    __m256i a0, a1;
    unit(k, &a0, &a1);
    const __m256i wa = _mm256_permute4x64_epi64(_mm256_packus_epi32(a0, a1), 0xd8);
    const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(wa, wa), 0xd8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k * kUnitElems),
                     _mm256_castsi256_si128(bytes));
  }
}

}  // namespace

const StagedKernels kStagedAvx2[4] = {
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
    avx2_set<DType::kF32>(),
    avx2_set<DType::kF16>(),
    avx2_set<DType::kBF16>()};
const UnitKernels kUnitAvx2 = {
    &unit_keys_avx2,    &pack_groups_avx2,    &pack_groups_narrow_avx2,
    &group_widths_avx2, &unpack_planes_avx2,  &local_e0_avx2,
    &decide_local_avx2, &local_dequants_avx2, &local_dequants_packed_avx2,
    &list_nonzero_avx2, &unit_symbols_avx2};

}  // namespace squeeze::cpu

#endif
