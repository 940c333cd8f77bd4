// AVX2 (+F16C) block kernels. Each mirrors the scalar kernel operation for operation (same
// IEEE single-precision multiply, round-to-nearest-even, subtract and compare, in the same
// order; see quant::quantize_element), so the frames are byte-identical; the unit tests check it.
//
// The functions carry target attributes instead of the file being built with -mavx2, so that
// no inline function from a shared header is ever emitted with AVX2 instructions into a symbol
// the scalar path could end up calling on an older CPU.
#include "compress/cpu/kernels.h"
#include "compress/cpu/planes_kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cpu/staged.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/cpu/staged_table.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SQZ_HAVE_AVX2_KERNELS 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#if SQZ_HAVE_AVX2_KERNELS

#include <cmath>
#include <cstring>

#include "compress/block.h"
#include "compress/cpu/avx2_common.h"
#include "compress/quant.h"

namespace squeeze::cpu {
namespace {

using avx2::load8;
using avx2::read_planes;
using avx2::round_to_type;
using avx2::store8;
using avx2::write_planes;

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
    const uint32_t w = quant::code_width(all);
    widths[b] = (uint8_t)w;
    outlier_masks[b] = mask;
    write_planes(z, w, out);
    out += 4 * w;
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
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint32_t w = widths[b];
    uint8_t* out = dst + b * kBlockElems * es;
    __m256i codes[4];
    read_planes(planes, w, codes);
    planes += 4 * w;
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
                        avx2_kernels<DType::kBF16>()},
                       kStagedAvx2,
                       &kUnitAvx2,
                       kTableAvx2,
                       &kRansAvx2,
                       &kPlanesAvx2,
                       &kStagedDriverAvx2};

}  // namespace

bool cpu_has_f16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
}

namespace {
// LZCNT (CPUID 0x80000001, ECX bit 5), which clang's __builtin_cpu_supports does not name.
bool cpu_has_lzcnt() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) && (ecx & bit_LZCNT);
}
}  // namespace

const Backend* avx2_backend() {
  // __builtin_cpu_supports("avx2") includes the OS check for saving YMM registers, which F16C
  // (VEX-encoded) needs as well. The backend's driver (staged_driver_avx2.cc) is also built for
  // BMI1, BMI2, LZCNT and POPCNT, which every AVX2 CPU of Intel (Haswell on) and AMD (Excavator
  // on) has; checked all the same.
  static const bool supported = __builtin_cpu_supports("avx2") && cpu_has_f16c() &&
                                __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                                __builtin_cpu_supports("popcnt") && cpu_has_lzcnt();
  return supported ? &kAvx2 : nullptr;
}

}  // namespace squeeze::cpu

#else  // no x86-64 SIMD kernels on this target

namespace squeeze::cpu {
const Backend* avx2_backend() {
  return nullptr;
}
}  // namespace squeeze::cpu

#endif
