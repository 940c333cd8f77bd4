// AVX2 (+F16C) block kernels. Each mirrors the scalar kernel operation for operation (same
// IEEE single-precision multiply, round-to-nearest-even, subtract and compare, in the same
// order; see quant::quantize_element), so the frames are byte-identical; the unit tests check it.
//
// The functions carry target attributes instead of the file being built with -mavx2, so that
// no inline function from a shared header is ever emitted with AVX2 instructions into a symbol
// the scalar path could end up calling on an older CPU.
#include "compress/cpu/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SQZ_HAVE_AVX2_KERNELS 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#if SQZ_HAVE_AVX2_KERNELS

#include <cmath>
#include <cstring>

#include "compress/block.h"
#include "compress/quant.h"

#define SQZ_AVX2 __attribute__((target("avx2,f16c")))

namespace squeeze::cpu {
namespace {

// ---- loading 8 elements as float, and the element type's rounding of a reconstruction ----

template <DType kType>
SQZ_AVX2 inline __m256 load8(const uint8_t* p) {
  if constexpr (kType == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (kType == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }
}

// bf16 round-to-nearest-even of non-NaN floats, as quant::float_to_bf16_rn: the rounded value's
// bits are (u + 0x7fff + lsb) with the low 16 bits cleared.
SQZ_AVX2 inline __m256i bf16_round_bits(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
  return _mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u));
}

// The value the decoder will produce for reconstruction xr (never NaN: q * step with finite
// operands), widened back to float.
template <DType kType>
SQZ_AVX2 inline __m256 round_to_type(__m256 xr) {
  if constexpr (kType == DType::kF32) {
    return xr;
  } else if constexpr (kType == DType::kF16) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(xr, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    return _mm256_castsi256_ps(bf16_round_bits(xr));
  }
}

template <DType kType>
SQZ_AVX2 inline void store8(uint8_t* p, __m256 v) {
  if constexpr (kType == DType::kF32) {
    _mm256_storeu_ps(reinterpret_cast<float*>(p), v);
  } else if constexpr (kType == DType::kF16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    const __m256i bits = _mm256_srli_epi32(bf16_round_bits(v), 16);
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
  }
}

// ---- encode ----

template <DType kType>
SQZ_AVX2 uint64_t encode_avx2(const uint8_t* src, uint64_t n_blocks, const quant::QuantParams& p,
                              uint8_t* widths, uint8_t* planes, uint32_t* outlier_masks) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 inv = _mm256_set1_ps(p.inv_step);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256 eb_check = _mm256_set1_ps(p.eb_check);
  const __m256 max_q = _mm256_set1_ps((float)kMaxQuant);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  uint8_t* out = planes;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = src + b * kBlockElems * es;
    __m256i z[4];
    __m256i acc = _mm256_setzero_si256();
    uint32_t mask = 0;
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m256 x = load8<kType>(blk + 8 * v * es);
      const __m256 qf =
          _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      // |qf| <= kMaxQuant, as quantize_element's two-sided test (false for NaN).
      const __m256 in_range = _mm256_cmp_ps(_mm256_and_ps(qf, abs_mask), max_q, _CMP_LE_OQ);
      // Out-of-range lanes convert to 0x80000000; they are masked off below.
      __m256i q = _mm256_cvtps_epi32(qf);
      const __m256 xr = round_to_type<kType>(_mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
      const __m256 d = _mm256_and_ps(_mm256_sub_ps(x, xr), abs_mask);
      const __m256 ok = _mm256_and_ps(in_range, _mm256_cmp_ps(d, eb_check, _CMP_LT_OQ));
      q = _mm256_and_si256(q, _mm256_castps_si256(ok));
      z[v] = _mm256_xor_si256(_mm256_slli_epi32(q, 1), _mm256_srai_epi32(q, 31));
      acc = _mm256_or_si256(acc, z[v]);
      mask |= (uint32_t)(~_mm256_movemask_ps(ok) & 0xff) << (8 * v);
    }
    __m128i acc4 = _mm_or_si128(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    acc4 = _mm_or_si128(acc4, _mm_shuffle_epi32(acc4, 0x4e));
    acc4 = _mm_or_si128(acc4, _mm_shuffle_epi32(acc4, 0xb1));
    const uint32_t all = (uint32_t)_mm_cvtsi128_si32(acc4);
    const uint32_t w = all ? 32u - (uint32_t)__builtin_clz(all) : 0u;
    widths[b] = (uint8_t)w;
    outlier_masks[b] = mask;
    if (w && w <= 8) {
      // Codes fit 8 bits: narrow them to bytes in element order, so one byte movemask yields a
      // whole plane word. The packs interleave 4-element groups; the dword permute restores
      // element order.
      const __m256i p01 = _mm256_packus_epi32(z[0], z[1]);
      const __m256i p23 = _mm256_packus_epi32(z[2], z[3]);
      const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23),
                                                        _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      // A 16-bit shift moves bits of the low byte into the high byte's low bits, below the w
      // bits that are read out, so those bits are never extracted.
      __m256i sbytes = _mm256_sll_epi16(bytes, _mm_cvtsi32_si128((int)(8u - w)));
      for (int j = (int)w - 1; j >= 0; --j) {
        const uint32_t word = (uint32_t)_mm256_movemask_epi8(sbytes);
        std::memcpy(out + 4 * j, &word, 4);  // x86 is little-endian
        sbytes = _mm256_add_epi8(sbytes, sbytes);
      }
      out += 4 * w;
    } else if (w && w <= 16) {
      // Codes fit 16 bits: narrow them so one signed pack + one byte movemask yields a whole
      // plane word. packs_epi16 interleaves per 128-bit lane (a.lo, b.lo | a.hi, b.hi), so a
      // holds elements 0-7 and 16-23 and b holds 8-15 and 24-31.
      const __m256i a = _mm256_permute4x64_epi64(_mm256_packus_epi32(z[0], z[2]), 0xd8);
      const __m256i bb = _mm256_permute4x64_epi64(_mm256_packus_epi32(z[1], z[3]), 0xd8);
      const __m128i shift = _mm_cvtsi32_si128((int)(16u - w));
      __m256i sa = _mm256_sll_epi16(a, shift), sb = _mm256_sll_epi16(bb, shift);
      for (int j = (int)w - 1; j >= 0; --j) {
        const uint32_t word = (uint32_t)_mm256_movemask_epi8(_mm256_packs_epi16(sa, sb));
        std::memcpy(out + 4 * j, &word, 4);  // x86 is little-endian
        sa = _mm256_add_epi16(sa, sa);
        sb = _mm256_add_epi16(sb, sb);
      }
      out += 4 * w;
    } else if (w) {
      // Bit j of every code moved to the sign bit, from the top plane down: one movemask per
      // 8 codes gives 8 bits of plane word j.
      const __m128i shift = _mm_cvtsi32_si128((int)(32u - w));
      __m256i s0 = _mm256_sll_epi32(z[0], shift), s1 = _mm256_sll_epi32(z[1], shift);
      __m256i s2 = _mm256_sll_epi32(z[2], shift), s3 = _mm256_sll_epi32(z[3], shift);
      for (int j = (int)w - 1; j >= 0; --j) {
        const uint32_t word = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(s0)) |
                              ((uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(s1)) << 8) |
                              ((uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(s2)) << 16) |
                              ((uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(s3)) << 24);
        std::memcpy(out + 4 * j, &word, 4);  // x86 is little-endian
        s0 = _mm256_add_epi32(s0, s0);
        s1 = _mm256_add_epi32(s1, s1);
        s2 = _mm256_add_epi32(s2, s2);
        s3 = _mm256_add_epi32(s3, s3);
      }
      out += 4 * w;
    }
  }
  return (uint64_t)(out - planes);
}

// ---- decode ----

// Writes one block from its 32 zigzag codes (four vectors of 8, in element order): q * step,
// rounded to the element type.
template <DType kType>
SQZ_AVX2 inline void store_block(const __m256i (&codes)[4], __m256 step, uint8_t* out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256i one = _mm256_set1_epi32(1);
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m256i q =
        _mm256_xor_si256(_mm256_srli_epi32(codes[v], 1),
                         _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(codes[v], one)));
    store8<kType>(out + 8 * v * es, _mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
  }
}

template <DType kType>
SQZ_AVX2 void decode_avx2(const uint8_t* widths, const uint8_t* planes, uint64_t n_blocks,
                          float step_f, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(step_f);
  // Lane i of vector v selects bit 8v + i of a plane word.
  const __m256i lane_bit0 =
      _mm256_setr_epi32(1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7);
  const __m256i lane_bit1 = _mm256_slli_epi32(lane_bit0, 8);
  const __m256i lane_bit2 = _mm256_slli_epi32(lane_bit0, 16);
  const __m256i lane_bit3 = _mm256_slli_epi32(lane_bit0, 24);
  // Within each 128-bit half, bytes 0-7 take the word's byte 0 (or 2) and bytes 8-15 its byte
  // 1 (or 3); byte_bit selects bit (k mod 8) in byte k.
  const __m256i byte_spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                               2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i byte_bit =
      _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16,
                       32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint32_t w = widths[b];
    uint8_t* out = dst + b * kBlockElems * es;
    if (w <= 8) {
      // Codes fit 8 bits: decode all 32 in byte lanes. Byte k of the broadcast plane word is
      // spread to bytes 8k..8k+7, each tested against its own bit.
      __m256i c = _mm256_setzero_si256();
      for (int j = (int)w - 1; j >= 0; --j) {
        uint32_t word;
        std::memcpy(&word, planes + 4 * j, 4);
        const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)word), byte_spread);
        c = _mm256_sub_epi8(_mm256_add_epi8(c, c),
                            _mm256_cmpeq_epi8(_mm256_and_si256(spread, byte_bit), byte_bit));
      }
      planes += 4 * w;
      const __m128i lo = _mm256_castsi256_si128(c);
      const __m128i hi = _mm256_extracti128_si256(c, 1);
      const __m256i codes[4] = {
          _mm256_cvtepu8_epi32(lo), _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)),
          _mm256_cvtepu8_epi32(hi), _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))};
      store_block<kType>(codes, step, out);
      continue;
    }
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
    // From the top plane down: code = 2 * code + bit (a set bit compares to -1).
    for (int j = (int)w - 1; j >= 0; --j) {
      uint32_t word;
      std::memcpy(&word, planes + 4 * j, 4);
      const __m256i wv = _mm256_set1_epi32((int)word);
      c0 = _mm256_sub_epi32(_mm256_add_epi32(c0, c0),
                            _mm256_cmpeq_epi32(_mm256_and_si256(wv, lane_bit0), lane_bit0));
      c1 = _mm256_sub_epi32(_mm256_add_epi32(c1, c1),
                            _mm256_cmpeq_epi32(_mm256_and_si256(wv, lane_bit1), lane_bit1));
      c2 = _mm256_sub_epi32(_mm256_add_epi32(c2, c2),
                            _mm256_cmpeq_epi32(_mm256_and_si256(wv, lane_bit2), lane_bit2));
      c3 = _mm256_sub_epi32(_mm256_add_epi32(c3, c3),
                            _mm256_cmpeq_epi32(_mm256_and_si256(wv, lane_bit3), lane_bit3));
    }
    planes += 4 * w;
    const __m256i codes[4] = {c0, c1, c2, c3};
    store_block<kType>(codes, step, out);
  }
}

// ---- min / max of the finite elements ----

template <DType kType>
SQZ_AVX2 void minmax_avx2(const uint8_t* src, uint64_t n, float* min_out, float* max_out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 pos_inf = _mm256_set1_ps(INFINITY);
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  __m256 mn0 = pos_inf, mn1 = pos_inf, mx0 = neg_inf, mx1 = neg_inf;
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = load8<kType>(src + i * es);
    const __m256 x1 = load8<kType>(src + (i + 8) * es);
    const __m256 f0 = _mm256_cmp_ps(_mm256_and_ps(x0, abs_mask), pos_inf, _CMP_LT_OQ);
    const __m256 f1 = _mm256_cmp_ps(_mm256_and_ps(x1, abs_mask), pos_inf, _CMP_LT_OQ);
    mn0 = _mm256_min_ps(mn0, _mm256_blendv_ps(pos_inf, x0, f0));
    mn1 = _mm256_min_ps(mn1, _mm256_blendv_ps(pos_inf, x1, f1));
    mx0 = _mm256_max_ps(mx0, _mm256_blendv_ps(neg_inf, x0, f0));
    mx1 = _mm256_max_ps(mx1, _mm256_blendv_ps(neg_inf, x1, f1));
  }
  alignas(32) float lo[8], hi[8];
  _mm256_store_ps(lo, _mm256_min_ps(mn0, mn1));
  _mm256_store_ps(hi, _mm256_max_ps(mx0, mx1));
  float mn = INFINITY, mx = -INFINITY;
  for (int k = 0; k < 8; ++k) {
    mn = lo[k] < mn ? lo[k] : mn;
    mx = hi[k] > mx ? hi[k] : mx;
  }
  for (; i < n; ++i) {
    const float x = block::load_element<kType>(src + i * es);
    if (!(std::fabs(x) < INFINITY)) continue;
    mn = x < mn ? x : mn;
    mx = x > mx ? x : mx;
  }
  // The sign of a zero extreme may differ from the scalar scan's; it cannot change the bound
  // (max - min is the same unless both are zero, and a zero range means a raw frame).
  *min_out = mn;
  *max_out = mx;
}

template <DType kType>
constexpr BlockKernels avx2_kernels() {
  return {&encode_avx2<kType>, &decode_avx2<kType>, &minmax_avx2<kType>};
}

const Backend kAvx2 = {"avx2",
                       {{nullptr, nullptr, nullptr},
                        avx2_kernels<DType::kF32>(),
                        avx2_kernels<DType::kF16>(),
                        avx2_kernels<DType::kBF16>()}};

}  // namespace

bool cpu_has_f16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
}

const Backend* avx2_backend() {
  // __builtin_cpu_supports("avx2") includes the OS check for saving YMM registers, which F16C
  // (VEX-encoded) needs as well.
  static const bool supported = __builtin_cpu_supports("avx2") && cpu_has_f16c();
  return supported ? &kAvx2 : nullptr;
}

// No AVX-512 kernel set yet (the development machine cannot run one to test it).
const Backend* avx512_backend() {
  return nullptr;
}

}  // namespace squeeze::cpu

#else  // no x86-64 SIMD kernels on this target

namespace squeeze::cpu {
const Backend* avx2_backend() {
  return nullptr;
}
const Backend* avx512_backend() {
  return nullptr;
}
}  // namespace squeeze::cpu

#endif
