// The AVX2 set of the staged codec's CPU loops (see staged_kernels.h). Each function mirrors the
// scalar set operation for operation (same IEEE single-precision operations in the same order,
// round-to-nearest-even), handles whole blocks and units, and leaves partial ones and rare block
// kinds to the scalar set, so the frames are byte-identical; tests/unit/test_codec_kernels.cc
// compares the two.
#include "compress/cpu/staged_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cmath>
#include <cstring>

#include "compress/block.h"
#include "compress/cpu/avx2_common.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local.h"
#include "compress/quant.h"
#include "squeeze/format.h"

namespace squeeze::cpu {

namespace {

using avx2::element_error8;
using avx2::hmax_epi32;
using avx2::hmax_ps;
using avx2::hmin_epi32;
using avx2::load8;
using avx2::read_planes;
using avx2::round_to_type;
using avx2::store8;
using avx2::total_order_key;
using avx2::write_planes;

template <DType kType>
SQZ_AVX2 void block_stats_avx2(const uint8_t* src, uint64_t n, local::BlockStats* out) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t full = n / kBlockElems;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf_bits = _mm256_set1_epi32(0x7f800000);
  const __m256i key_max = _mm256_set1_epi32(0x7fffffff);
  const __m256i key_min = _mm256_set1_epi32((int)0x80000000u);
  for (uint64_t b = 0; b < full; ++b) {
    const uint8_t* blk = src + b * kBlockElems * es;
    __m256i mn = key_max, mx = key_min;
    uint32_t finite = 0;
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m256i bits = _mm256_castps_si256(load8<kType>(blk + 8 * v * es));
      const __m256i fin = _mm256_cmpgt_epi32(inf_bits, _mm256_and_si256(bits, abs_mask));
      const __m256i key = total_order_key(bits);
      mn = _mm256_min_epi32(mn, _mm256_blendv_epi8(key_max, key, fin));
      mx = _mm256_max_epi32(mx, _mm256_blendv_epi8(key_min, key, fin));
      finite |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(fin)) << (8 * v);
    }
    local::BlockStats st{INFINITY, -INFINITY, false, false, 0};
    if (finite != 0) {
      const uint32_t lo = (uint32_t)hmin_epi32(mn), hi = (uint32_t)hmax_epi32(mx);
      const uint32_t lo_bits = lo ^ (((uint32_t)((int32_t)lo >> 31)) & 0x7fffffffu);
      const uint32_t hi_bits = hi ^ (((uint32_t)((int32_t)hi >> 31)) & 0x7fffffffu);
      st.mn = quant::bits_to_float(lo_bits);
      st.mx = quant::bits_to_float(hi_bits);
      st.has_finite = true;
      // The keys map bits one to one: the least and greatest are equal exactly when every
      // finite element has the same bits.
      st.all_same = lo == hi;
      st.same_bits = lo_bits;
    }
    out[b] = st;
  }
  if (full * kBlockElems < n)
    kStagedScalar[(int)kType].block_stats(src + full * kBlockElems * es, n - full * kBlockElems,
                                          out + full);
}

// One block of 32 with codes (kQuant or kEscape).
template <DType kType>
SQZ_AVX2 inline void quantize_block_local(const uint8_t* blk, const local::BlockParams& p,
                                          uint32_t* codes, uint32_t* mask_out, float* err2) {
  constexpr uint64_t es = dtype_size(kType);
  const bool escape = p.kind == local::Kind::kEscape;
  const __m256 inv = _mm256_set1_ps(p.inv_step);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256 zf = _mm256_set1_ps(p.zf);
  const __m256 zs = _mm256_set1_ps(p.zs);
  const __m256 off = _mm256_set1_ps(p.offset);
  const __m256 ebc = _mm256_set1_ps(p.eb_check);
  const __m256 maxc = _mm256_set1_ps((float)p.max_code);
  const __m256 zero = _mm256_setzero_ps();
  uint32_t mask = 0;
  __m256 e[2] = {zero, zero};
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    const __m256 x = load8<kType>(blk + 8 * v * es);
    const __m256 t = escape ? _mm256_mul_ps(_mm256_sub_ps(x, off), inv)
                            : _mm256_add_ps(_mm256_mul_ps(x, inv), zf);
    const __m256 qf = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 in_range =
        _mm256_and_ps(_mm256_cmp_ps(qf, zero, _CMP_GE_OQ), _mm256_cmp_ps(qf, maxc, _CMP_LE_OQ));
    __m256i q = _mm256_cvttps_epi32(qf);  // out-of-range lanes are masked off below
    const __m256 qv = _mm256_cvtepi32_ps(q);
    const __m256 xr = round_to_type<kType>(escape ? _mm256_add_ps(off, _mm256_mul_ps(qv, step))
                                                  : _mm256_sub_ps(_mm256_mul_ps(qv, step), zs));
    const __m256 d = element_error8(x, xr);
    const __m256 ok = _mm256_and_ps(in_range, _mm256_cmp_ps(d, ebc, _CMP_LT_OQ));
    q = _mm256_and_si256(q, _mm256_castps_si256(ok));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 8 * v), q);
    e[v / 2] = _mm256_max_ps(e[v / 2], _mm256_and_ps(d, ok));
    mask |= (uint32_t)(~_mm256_movemask_ps(ok) & 0xff) << (8 * v);
  }
  *mask_out = mask;
  err2[0] = hmax_ps(e[0]);
  err2[1] = hmax_ps(e[1]);
}

template <DType kType>
SQZ_AVX2 void quantize_local_avx2(const uint8_t* src, uint64_t n, const local::BlockParams* params,
                                  uint32_t* codes, uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const StagedKernels& scalar = kStagedScalar[(int)kType];
  const uint64_t full = n / kBlockElems;
  for (uint64_t b = 0; b < full; ++b) {
    const uint64_t first = b * kBlockElems;
    if (local::has_codes(params[b].kind)) {
      quantize_block_local<kType>(src + first * es, params[b], codes + first, outlier_masks + b,
                                  unit_error + 2 * b);
    } else {
      scalar.quantize_local(src + first * es, kBlockElems, params + b, codes + first,
                            outlier_masks + b, unit_error + 2 * b);
    }
  }
  if (full * kBlockElems < n)
    scalar.quantize_local(src + full * kBlockElems * es, n - full * kBlockElems, params + full,
                          codes + full * kBlockElems, outlier_masks + full, unit_error + 2 * full);
}

template <DType kType>
SQZ_AVX2 void quantize_global_avx2(const uint8_t* src, uint64_t n, const quant::QuantParams& p,
                                   uint32_t* codes, uint32_t* outlier_masks, float* unit_error) {
  constexpr uint64_t es = dtype_size(kType);
  const uint64_t full = n / kBlockElems;
  const __m256 inv = _mm256_set1_ps(p.inv_step);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256 ebc = _mm256_set1_ps(p.eb_check);
  const __m256 max_q = _mm256_set1_ps((float)kMaxQuant);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (uint64_t b = 0; b < full; ++b) {
    const uint8_t* blk = src + b * kBlockElems * es;
    uint32_t* c = codes + b * kBlockElems;
    uint32_t mask = 0;
    __m256 e[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const __m256 x = load8<kType>(blk + 8 * v * es);
      const __m256 qf =
          _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256 in_range = _mm256_cmp_ps(_mm256_and_ps(qf, abs_mask), max_q, _CMP_LE_OQ);
      __m256i q = _mm256_cvtps_epi32(qf);
      const __m256 xr = round_to_type<kType>(_mm256_mul_ps(_mm256_cvtepi32_ps(q), step));
      const __m256 d = element_error8(x, xr);
      const __m256 ok = _mm256_and_ps(in_range, _mm256_cmp_ps(d, ebc, _CMP_LT_OQ));
      q = _mm256_and_si256(q, _mm256_castps_si256(ok));
      const __m256i z = _mm256_xor_si256(_mm256_slli_epi32(q, 1), _mm256_srai_epi32(q, 31));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + 8 * v), z);
      e[v / 2] = _mm256_max_ps(e[v / 2], _mm256_and_ps(d, ok));
      mask |= (uint32_t)(~_mm256_movemask_ps(ok) & 0xff) << (8 * v);
    }
    outlier_masks[b] = mask;
    unit_error[2 * b] = hmax_ps(e[0]);
    unit_error[2 * b + 1] = hmax_ps(e[1]);
  }
  if (full * kBlockElems < n)
    kStagedScalar[(int)kType].quantize_global(src + full * kBlockElems * es, n - full * kBlockElems,
                                              p, codes + full * kBlockElems, outlier_masks + full,
                                              unit_error + 2 * full);
}

// The values of one full unit from two vectors of its codes.
template <DType kType>
SQZ_AVX2 inline void store_unit_local(const local::BlockParams& p, __m256i c0, __m256i c1,
                                      uint8_t* out) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(p.step);
  const __m256i c[2] = {c0, c1};
  for (int v = 0; v < 2; ++v) {
    const __m256 qv = _mm256_cvtepi32_ps(c[v]);
    const __m256 x = p.kind == local::Kind::kEscape
                         ? _mm256_add_ps(_mm256_set1_ps(p.offset), _mm256_mul_ps(qv, step))
                         : _mm256_sub_ps(_mm256_mul_ps(qv, step), _mm256_set1_ps(p.zs));
    store8<kType>(out + 8 * v * es, x);
  }
}

template <DType kType>
SQZ_AVX2 inline void store_unit_global(__m256 step, __m256i c0, __m256i c1, uint8_t* out) {
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

template <DType kType>
SQZ_AVX2 void write_local_avx2(const local::BlockParams* params, const uint32_t* units,
                               uint64_t n_units, uint64_t n, const uint32_t* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; ++k) {
    const uint64_t first = (uint64_t)units[k] * kUnitElems;
    const uint32_t* c = codes + k * kUnitElems;
    if (first + kUnitElems > n) {
      kStagedScalar[(int)kType].write_local(params, units + k, 1, n, c, dst);
      continue;
    }
    store_unit_local<kType>(
        params[first / kBlockElems], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8)), dst + first * es);
  }
}

template <DType kType>
SQZ_AVX2 void write_global_avx2(float step_f, const uint32_t* units, uint64_t n_units, uint64_t n,
                                const uint32_t* codes, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(step_f);
  for (uint64_t k = 0; k < n_units; ++k) {
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

template <DType kType>
SQZ_AVX2 void write_fixed_local_avx2(const uint8_t* planes, uint32_t w,
                                     const local::BlockParams* params, const uint32_t* units,
                                     uint64_t n_units, uint64_t n, uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t k = 0; k < n_units; k += 2, planes += 4 * w) {
    __m256i c[4];
    read_planes(planes, w, c);
    for (uint64_t h = 0; h < 2 && k + h < n_units; ++h) {
      const uint64_t first = (uint64_t)units[k + h] * kUnitElems;
      if (first + kUnitElems <= n) {
        store_unit_local<kType>(params[first / kBlockElems], c[2 * h], c[2 * h + 1],
                                dst + first * es);
      } else {
        alignas(32) uint32_t codes[kUnitElems];
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes), c[2 * h]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 8), c[2 * h + 1]);
        kStagedScalar[(int)kType].write_local(params, units + k + h, 1, n, codes, dst);
      }
    }
  }
}

template <DType kType>
SQZ_AVX2 void write_fixed_global_avx2(const uint8_t* widths, const uint8_t* planes, float step_f,
                                      const uint32_t* units, uint64_t n_units, uint64_t n,
                                      uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  const __m256 step = _mm256_set1_ps(step_f);
  for (uint64_t k = 0; k < n_units; k += 2) {
    const uint32_t w = *widths++;
    __m256i c[4];
    read_planes(planes, w, c);
    planes += 4 * w;
    for (uint64_t h = 0; h < 2 && k + h < n_units; ++h) {
      const uint64_t first = (uint64_t)units[k + h] * kUnitElems;
      if (first + kUnitElems <= n) {
        store_unit_global<kType>(step, c[2 * h], c[2 * h + 1], dst + first * es);
      } else {
        alignas(32) uint32_t codes[kUnitElems];
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes), c[2 * h]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 8), c[2 * h + 1]);
        kStagedScalar[(int)kType].write_global(step_f, units + k + h, 1, n, codes, dst);
      }
    }
  }
}

// dedup::unit_hash, four pairs per instruction: the low dword of each 64-bit lane is a pair's
// keyed low word, the high dword its keyed high word.
SQZ_AVX2 inline __m256i hash_terms(const uint8_t* p, __m256i keys) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i x = _mm256_xor_si256(raw, keys);
  return _mm256_add_epi64(_mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)), raw);
}

SQZ_AVX2 inline uint64_t hsum_epi64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

SQZ_AVX2 void unit_keys_avx2(const uint8_t* src, uint64_t n_units, uint32_t unit_bytes,
                             uint64_t* keys) {
  uint32_t k[16];
  for (uint32_t i = 0; i < 16; ++i) k[i] = dedup::hash_key(i);
  const __m256i k0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k));
  const __m256i k1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + 8));
  if (unit_bytes == 64) {
    for (uint64_t u = 0; u < n_units; ++u) {
      const uint8_t* p = src + u * 64;
      const uint64_t sum = hsum_epi64(_mm256_add_epi64(hash_terms(p, k0), hash_terms(p + 32, k1)));
      keys[u] = dedup::table_key(dedup::fmix64(sum ^ 64u));
    }
  } else if (unit_bytes == 32) {
    for (uint64_t u = 0; u < n_units; ++u) {
      const uint64_t sum = hsum_epi64(hash_terms(src + u * 32, k0));
      keys[u] = dedup::table_key(dedup::fmix64(sum ^ 32u));
    }
  } else {
    kUnitScalar.unit_keys(src, n_units, unit_bytes, keys);
  }
}

SQZ_AVX2 void pack_planes_avx2(const uint32_t* codes, uint32_t width, uint8_t* out) {
  const __m256i z[4] = {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 8)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 16)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 24))};
  write_planes(z, width, out);
}

SQZ_AVX2 void unpack_planes_avx2(const uint8_t* in, uint32_t width, uint32_t* codes) {
  __m256i c[4];
  read_planes(in, width, c);
  for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 8 * v), c[v]);
}

template <DType kType>
constexpr StagedKernels avx2_set() {
  return {&block_stats_avx2<kType>,       &quantize_local_avx2<kType>,
          &quantize_global_avx2<kType>,   &write_local_avx2<kType>,
          &write_global_avx2<kType>,      &write_fixed_local_avx2<kType>,
          &write_fixed_global_avx2<kType>};
}

}  // namespace

const StagedKernels kStagedAvx2[4] = {
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},
    avx2_set<DType::kF32>(),
    avx2_set<DType::kF16>(),
    avx2_set<DType::kBF16>()};
const UnitKernels kUnitAvx2 = {&unit_keys_avx2, &pack_planes_avx2, &unpack_planes_avx2};

}  // namespace squeeze::cpu

#endif
