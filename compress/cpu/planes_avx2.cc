// The AVX2 byte-plane split and join (planes_kernels.h) for the transforms whose elements are
// independent (kNone, kRotl1) and 2- or 4-byte elements: the float dtypes' kRotl1 and the 32-bit
// integers' kNone. Everything else, and the elements past the last whole vector, goes through the
// scalar set's element loop (planes::forward / inverse), so the bytes are the scalar set's.
#include "compress/cpu/planes_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#include <cstring>

#include "compress/cpu/avx2_common.h"

namespace squeeze::cpu {

namespace {

using planes::Transform;

// Elements [from, n) one by one (independent transforms only).
void split_tail(const uint8_t* src, uint64_t from, uint64_t n, uint32_t es, Transform t,
                uint8_t* out) {
  for (uint64_t i = from; i < n; ++i) {
    uint64_t v = 0;
    for (uint32_t b = 0; b < es; ++b) v |= (uint64_t)src[i * es + b] << (8 * b);
    const uint64_t x = planes::forward(t, v, 0, es);
    for (uint32_t p = 0; p < es; ++p) out[p * n + i] = (uint8_t)(x >> (8 * p));
  }
}

void join_tail(const uint8_t* pl, uint64_t from, uint64_t n, uint32_t es, Transform t,
               uint8_t* dst) {
  for (uint64_t i = from; i < n; ++i) {
    uint64_t x = 0;
    for (uint32_t p = 0; p < es; ++p) x |= (uint64_t)pl[p * n + i] << (8 * p);
    const uint64_t v = planes::inverse(t, x, 0, es);
    for (uint32_t b = 0; b < es; ++b) dst[i * es + b] = (uint8_t)(v >> (8 * b));
  }
}

bool vectorized(uint32_t es, Transform t) {
  return (es == 2 || es == 4) && (t == Transform::kNone || t == Transform::kRotl1);
}

SQZ_AVX2 void split_avx2(const uint8_t* src, uint64_t n, uint32_t es, Transform t, uint8_t* out) {
  if (!vectorized(es, t)) return kPlanesScalar.split(src, n, es, t, out);
  const bool rot = t == Transform::kRotl1;
  uint64_t i = 0;
  if (es == 2) {
    // Per 128-bit lane: the 8 low bytes, then the 8 high bytes; the lanes' halves then joined.
    const __m256i deint = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0,
                                           2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (; i + 16 <= n; i += 16) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i));
      if (rot) v = _mm256_or_si256(_mm256_slli_epi16(v, 1), _mm256_srli_epi16(v, 15));
      const __m256i b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, deint), 0xd8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(b));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + n + i), _mm256_extracti128_si256(b, 1));
    }
  } else {
    // Per lane: 4 bytes of each plane; the lanes' words then paired per plane.
    const __m256i deint = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0,
                                           4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (; i + 8 <= n; i += 8) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4 * i));
      if (rot) v = _mm256_or_si256(_mm256_slli_epi32(v, 1), _mm256_srli_epi32(v, 31));
      const __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, deint), pair);
      alignas(32) uint64_t w[4];
      _mm256_store_si256(reinterpret_cast<__m256i*>(w), b);
      for (uint32_t p = 0; p < 4; ++p) std::memcpy(out + p * n + i, &w[p], 8);
    }
  }
  split_tail(src, i, n, es, t, out);
}

SQZ_AVX2 void join_avx2(const uint8_t* pl, uint64_t n, uint32_t es, Transform t, uint8_t* dst) {
  if (!vectorized(es, t)) return kPlanesScalar.join(pl, n, es, t, dst);
  const bool rot = t == Transform::kRotl1;
  uint64_t i = 0;
  if (es == 2) {
    for (; i + 16 <= n; i += 16) {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pl + i));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pl + n + i));
      __m256i v = _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
      if (rot) v = _mm256_or_si256(_mm256_srli_epi16(v, 1), _mm256_slli_epi16(v, 15));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), v);
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      __m128i b[4];
      for (uint32_t p = 0; p < 4; ++p)
        b[p] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pl + p * n + i));
      const __m128i b01 = _mm_unpacklo_epi8(b[0], b[1]);  // elements' bytes 0 and 1
      const __m128i b23 = _mm_unpacklo_epi8(b[2], b[3]);
      __m256i v = _mm256_set_m128i(_mm_unpackhi_epi16(b01, b23), _mm_unpacklo_epi16(b01, b23));
      if (rot) v = _mm256_or_si256(_mm256_srli_epi32(v, 1), _mm256_slli_epi32(v, 31));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4 * i), v);
    }
  }
  join_tail(pl, i, n, es, t, dst);
}

}  // namespace

const PlanesKernels kPlanesAvx2 = {&split_avx2, &join_avx2};

}  // namespace squeeze::cpu

#endif
