// The AVX2 byte-plane split and join (planes_kernels.h) for 2-, 4- and 8-byte elements: the float
// dtypes' kRotl1, the integers' kNone and kDeltaZigzag (the join of kDeltaZigzag transposes with
// vectors and sums the differences in a scalar pass). 1-byte elements, 2-byte deltas and the
// elements past the last whole vector go through the element loop (planes::forward / inverse),
// so the bytes are the scalar set's.
#include "compress/cpu/planes_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#include <cstring>

#include "compress/cpu/avx2_common.h"

namespace squeeze::cpu {

namespace {

using planes::Transform;

// The split of elements [from, to) of n, one by one (planes::forward; a delta reads the previous
// element from src).
void split_elements(const uint8_t* src, uint64_t from, uint64_t to, uint64_t n, uint32_t es,
                    Transform t, uint8_t* out) {
  for (uint64_t i = from; i < to; ++i) {
    uint64_t v = 0, prev = 0;
    for (uint32_t b = 0; b < es; ++b) {
      v |= (uint64_t)src[i * es + b] << (8 * b);
      if (i > 0) prev |= (uint64_t)src[(i - 1) * es + b] << (8 * b);
    }
    const uint64_t x = planes::forward(t, v, prev, es);
    for (uint32_t p = 0; p < es; ++p) out[p * n + i] = (uint8_t)(x >> (8 * p));
  }
}

// The join of elements [from, n), one by one (planes::inverse; prev: element from - 1's value, for
// a delta).
void join_elements(const uint8_t* pl, uint64_t from, uint64_t n, uint32_t es, Transform t,
                   uint64_t prev, uint8_t* dst) {
  for (uint64_t i = from; i < n; ++i) {
    uint64_t x = 0;
    for (uint32_t p = 0; p < es; ++p) x |= (uint64_t)pl[p * n + i] << (8 * p);
    prev = planes::inverse(t, x, prev, es);
    for (uint32_t b = 0; b < es; ++b) dst[i * es + b] = (uint8_t)(prev >> (8 * b));
  }
}

bool vectorized(uint32_t es, Transform t) {
  if (es == 2) return t == Transform::kNone || t == Transform::kRotl1;
  if (es == 4) return true;
  return es == 8 && t != Transform::kRotl1;
}

// 8 rows of 8 bytes (element k's bytes in r[k]'s low half) to 8 columns of 8 bytes: plane p's
// bytes of the 8 elements in the low (p even) or high (p odd) half of c[p / 2].
SQZ_AVX2 inline void transpose8x8(const __m128i (&r)[8], __m128i (&c)[4]) {
  const __m128i a0 = _mm_unpacklo_epi8(r[0], r[1]), a1 = _mm_unpacklo_epi8(r[2], r[3]);
  const __m128i a2 = _mm_unpacklo_epi8(r[4], r[5]), a3 = _mm_unpacklo_epi8(r[6], r[7]);
  const __m128i b0 = _mm_unpacklo_epi16(a0, a1), b1 = _mm_unpackhi_epi16(a0, a1);
  const __m128i b2 = _mm_unpacklo_epi16(a2, a3), b3 = _mm_unpackhi_epi16(a2, a3);
  c[0] = _mm_unpacklo_epi32(b0, b2);
  c[1] = _mm_unpackhi_epi32(b0, b2);
  c[2] = _mm_unpacklo_epi32(b1, b3);
  c[3] = _mm_unpackhi_epi32(b1, b3);
}

// Zigzag of 64-bit / 32-bit differences: (d << 1) ^ (all ones when d < 0).
SQZ_AVX2 inline __m256i zigzag64(__m256i d) {
  return _mm256_xor_si256(_mm256_slli_epi64(d, 1), _mm256_cmpgt_epi64(_mm256_setzero_si256(), d));
}
SQZ_AVX2 inline __m256i zigzag32(__m256i d) {
  return _mm256_xor_si256(_mm256_slli_epi32(d, 1), _mm256_srai_epi32(d, 31));
}

SQZ_AVX2 void split_avx2(const uint8_t* src, uint64_t n, uint32_t es, Transform t, uint8_t* out) {
  if (!vectorized(es, t)) return kPlanesScalar.split(src, n, es, t, out);
  const bool rot = t == Transform::kRotl1;
  const bool delta = t == Transform::kDeltaZigzag;
  // A delta's first element has no previous one in the vector loop: it starts at element 1.
  uint64_t i = delta && n > 0 ? 1 : 0;
  if (i == 1) split_elements(src, 0, 1, n, es, t, out);
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
  } else if (es == 4) {
    // Per lane: 4 bytes of each plane; the lanes' words then paired per plane.
    const __m256i deint = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0,
                                           4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (; i + 8 <= n; i += 8) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4 * i));
      if (rot) v = _mm256_or_si256(_mm256_slli_epi32(v, 1), _mm256_srli_epi32(v, 31));
      if (delta) {
        const __m256i prev = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4 * i - 4));
        v = zigzag32(_mm256_sub_epi32(v, prev));
      }
      const __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, deint), pair);
      alignas(32) uint64_t w[4];
      _mm256_store_si256(reinterpret_cast<__m256i*>(w), b);
      for (uint32_t p = 0; p < 4; ++p) std::memcpy(out + p * n + i, &w[p], 8);
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      alignas(32) uint64_t x[8];
      for (int h = 0; h < 2; ++h) {
        const uint8_t* at = src + 8 * (i + 4 * h);
        __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
        if (delta)
          v = zigzag64(
              _mm256_sub_epi64(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at - 8))));
        _mm256_store_si256(reinterpret_cast<__m256i*>(x + 4 * h), v);
      }
      __m128i r[8], c[4];
      for (int k = 0; k < 8; ++k) r[k] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + k));
      transpose8x8(r, c);
      for (uint32_t p = 0; p < 8; p += 2) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + p * n + i), c[p / 2]);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out + (p + 1) * n + i),
                         _mm_unpackhi_epi64(c[p / 2], c[p / 2]));
      }
    }
  }
  split_elements(src, i, n, n, es, t, out);
}

SQZ_AVX2 void join_avx2(const uint8_t* pl, uint64_t n, uint32_t es, Transform t, uint8_t* dst) {
  if (!vectorized(es, t)) return kPlanesScalar.join(pl, n, es, t, dst);
  const bool rot = t == Transform::kRotl1;
  const bool delta = t == Transform::kDeltaZigzag;
  uint64_t i = 0;
  if (es == 2) {
    for (; i + 16 <= n; i += 16) {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pl + i));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pl + n + i));
      __m256i v = _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
      if (rot) v = _mm256_or_si256(_mm256_srli_epi16(v, 1), _mm256_slli_epi16(v, 15));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), v);
    }
  } else if (es == 4) {
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
  } else {
    for (; i + 8 <= n; i += 8) {
      __m128i r[8], c[4];
      for (uint32_t p = 0; p < 8; ++p)
        r[p] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pl + p * n + i));
      transpose8x8(r, c);  // the same network turns 8 planes back into 8 elements
      for (int k = 0; k < 4; ++k)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8 * i + 16 * k), c[k]);
    }
  }
  // A delta's dst holds the zigzag differences of elements [0, i): sum them in order.
  uint64_t prev = 0;
  for (uint64_t k = 0; delta && k < i; ++k) {
    uint64_t x = 0;
    std::memcpy(&x, dst + k * es, es);  // little-endian host and frame
    prev = planes::inverse(Transform::kDeltaZigzag, x, prev, es);
    std::memcpy(dst + k * es, &prev, es);
  }
  join_elements(pl, i, n, es, t, prev, dst);
}

}  // namespace

const PlanesKernels kPlanesAvx2 = {&split_avx2, &join_avx2};

}  // namespace squeeze::cpu

#endif
