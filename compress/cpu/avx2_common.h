// AVX2 (+F16C) building blocks shared by the version 1 kernels (kernels_avx2.cc) and the staged
// ones (staged_avx2.cc): elements loaded as float and stored back with the element type's
// rounding, and the bit planes of 32 codes written and read. Each mirrors the scalar SQZ_HD code
// operation for operation (compress/quant.h, compress/block.h).
//
// Functions carry target attributes instead of the files being built with -mavx2, so that no
// inline function from a shared header is ever emitted with AVX2 instructions into a symbol the
// scalar path could end up calling on an older CPU. Include only from x86-64 builds.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

#define SQZ_AVX2 __attribute__((target("avx2,f16c")))

namespace squeeze::cpu::avx2 {

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

// quant::element_error on eight lanes: |x - xr|, or the smallest positive float where that is 0
// but the bits differ (signed zeros).
SQZ_AVX2 inline __m256 element_error8(__m256 x, __m256 xr) {
  const __m256 d =
      _mm256_and_ps(_mm256_sub_ps(x, xr), _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
  const __m256i same = _mm256_cmpeq_epi32(_mm256_castps_si256(x), _mm256_castps_si256(xr));
  const __m256 zero_d = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_EQ_OQ);
  const __m256 signed_zero = _mm256_andnot_ps(_mm256_castsi256_ps(same), zero_d);
  return _mm256_blendv_ps(d, _mm256_castsi256_ps(_mm256_set1_epi32(1)), signed_zero);
}

// Sortable keys of float bits: signed order of the keys is the total order of the floats with
// -0 < +0 (quant::min_total / max_total). The map is its own inverse.
SQZ_AVX2 inline __m256i total_order_key(__m256i bits) {
  return _mm256_xor_si256(
      bits, _mm256_and_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32(0x7fffffff)));
}

SQZ_AVX2 inline int32_t hmin_epi32(__m256i v) {
  __m128i m = _mm_min_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_min_epi32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_min_epi32(m, _mm_shuffle_epi32(m, 0xb1));
  return _mm_cvtsi128_si32(m);
}
SQZ_AVX2 inline int32_t hmax_epi32(__m256i v) {
  __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xb1));
  return _mm_cvtsi128_si32(m);
}

// The largest / smallest of eight floats (no NaN among them).
SQZ_AVX2 inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_shuffle_ps(m, m, 0x4e));
  m = _mm_max_ps(m, _mm_shuffle_ps(m, m, 0xb1));
  return _mm_cvtss_f32(m);
}
SQZ_AVX2 inline float hmin_ps(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_shuffle_ps(m, m, 0x4e));
  m = _mm_min_ps(m, _mm_shuffle_ps(m, m, 0xb1));
  return _mm_cvtss_f32(m);
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

// ---- bit planes of 32 codes ----

// 32 values below 256 (four vectors of 8 32-bit lanes, in element order) as 32 bytes in element
// order: the packs interleave 4-element groups; the dword permute restores element order. Used
// by the plane writers below, the byte quantizer (staged_avx2.cc) and the rANS decoder's byte
// symbols (rans_avx2.cc).
SQZ_AVX2 inline __m256i narrow_to_bytes(const __m256i (&z)[4]) {
  const __m256i p01 = _mm256_packus_epi32(z[0], z[1]);
  const __m256i p23 = _mm256_packus_epi32(z[2], z[3]);
  return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Codes below 2^w (w <= 8) narrowed to bytes in element order, shifted left by 8 - w within each
// 16-bit lane, so that a byte movemask yields plane w - 1 and each doubling the next plane down.
// A 16-bit shift moves bits of the low byte into the high byte's low bits, below the w bits read
// out.
SQZ_AVX2 inline __m256i byte_planes_top(const __m256i (&z)[4], uint32_t w) {
  return _mm256_sll_epi16(narrow_to_bytes(z), _mm_cvtsi32_si128((int)(8u - w)));
}

// The planes of byte_planes_top's vector, W of them (a template argument, so the loop unrolls),
// or w when W is 0.
template <uint32_t W = 0>
SQZ_AVX2 inline void store_byte_planes(__m256i sbytes, uint32_t w, uint8_t* out) {
  const int n = W != 0 ? (int)W : (int)w;
  for (int j = n - 1; j >= 0; --j) {
    const uint32_t word = (uint32_t)_mm256_movemask_epi8(sbytes);
    std::memcpy(out + 4 * j, &word, 4);  // x86 is little-endian
    sbytes = _mm256_add_epi8(sbytes, sbytes);
  }
}

// Writes the w planes of 32 codes (four vectors of 8, in element order; every code below 2^w)
// as w little-endian words at out: word j holds bit j of code i at bit i (block::pack_planes).
SQZ_AVX2 inline void write_planes(const __m256i (&z)[4], uint32_t w, uint8_t* out) {
  if (w && w <= 8) {
    store_byte_planes(byte_planes_top(z, w), w, out);
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
  }
}

// Reads the planes of 32 codes below 2^8, W of them (a template argument, so the loop unrolls)
// or w when W is 0, into four vectors of 8 in element order: all 32 are decoded in byte lanes,
// byte k of the broadcast plane word spread to bytes 8k..8k+7, each tested against its own bit.
template <uint32_t W = 0>
SQZ_AVX2 inline void read_byte_planes(const uint8_t* planes, uint32_t w, __m256i (&codes)[4]) {
  // Within each 128-bit half, bytes 0-7 take the word's byte 0 (or 2) and bytes 8-15 its byte
  // 1 (or 3); byte_bit selects bit (k mod 8) in byte k.
  const __m256i byte_spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                               2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i byte_bit =
      _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16,
                       32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const int n = W != 0 ? (int)W : (int)w;
  __m256i c = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int j = n - 1; j >= 0; --j) {
    uint32_t word;
    std::memcpy(&word, planes + 4 * j, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)word), byte_spread);
    c = _mm256_sub_epi8(_mm256_add_epi8(c, c),
                        _mm256_cmpeq_epi8(_mm256_and_si256(spread, byte_bit), byte_bit));
  }
  const __m128i lo = _mm256_castsi256_si128(c);
  const __m128i hi = _mm256_extracti128_si256(c, 1);
  codes[0] = _mm256_cvtepu8_epi32(lo);
  codes[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
  codes[2] = _mm256_cvtepu8_epi32(hi);
  codes[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
}

// Reads w plane words into 32 codes (four vectors of 8, in element order; block::unpack_planes).
SQZ_AVX2 inline void read_planes(const uint8_t* planes, uint32_t w, __m256i (&codes)[4]) {
  if (w <= 8) return read_byte_planes(planes, w, codes);
  // Lane i of vector v selects bit 8v + i of a plane word.
  const __m256i lane_bit0 =
      _mm256_setr_epi32(1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7);
  const __m256i lane_bit1 = _mm256_slli_epi32(lane_bit0, 8);
  const __m256i lane_bit2 = _mm256_slli_epi32(lane_bit0, 16);
  const __m256i lane_bit3 = _mm256_slli_epi32(lane_bit0, 24);
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
  codes[0] = c0;
  codes[1] = c1;
  codes[2] = c2;
  codes[3] = c3;
}

}  // namespace squeeze::cpu::avx2
