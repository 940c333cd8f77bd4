// Implementations of the TorchRec-alternative baselines described in baselines.h. Plain C++,
// written from the published format descriptions (FBGEMM / TorchRec qcomms, OCP MX v1.0).
#include "tools/bench/baselines.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "compress/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SQZ_BENCH_X86 1
#endif

namespace squeeze::bench {
namespace {

constexpr float kHalfMax = 65504.0f;
// Largest finite bfloat16, 0x7f7f.
const float kBf16Max = quant::bf16_to_float(0x7f7fu);
// FBGEMM's epsilon added to the row range before inverting it.
constexpr float kInt8RangeEpsilon = 1e-8f;
// Adding then subtracting 1.5 * 2^23 rounds a float in [0, 2^22) to the nearest integer, ties
// to even, under the default rounding mode: lrintf without a libm call, so loops vectorize.
constexpr float kRoundMagic = 12582912.0f;

float clampf(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// 2^e as a float for e in [-149, 127], exact (subnormal below 2^-126).
float pow2f(int e) {
  return quant::bits_to_float(e >= -126 ? (uint32_t)(e + 127) << 23 : 1u << (e + 149));
}

// FP16 casts with the F16C instructions where the CPU has them (what a CPU implementation of the
// cast would use); the same rounding (nearest even) and clamp as the scalar path.
#if SQZ_BENCH_X86
__attribute__((target("avx,f16c"))) void fp16_encode_f16c(const float* in, size_t n, uint8_t* out) {
  const __m256 lo = _mm256_set1_ps(-kHalfMax), hi = _mm256_set1_ps(kHalfMax);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // max(lo, v) / min(hi, v) return v when v is NaN, like the scalar clamp.
    const __m256 v = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_loadu_ps(in + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) {
    const uint16_t h = quant::float_to_half_rn(clampf(in[i], -kHalfMax, kHalfMax));
    std::memcpy(out + 2 * i, &h, 2);
  }
}

__attribute__((target("avx,f16c"))) void fp16_decode_f16c(const uint8_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(
        out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i))));
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    out[i] = quant::half_to_float(h);
  }
}

bool have_f16c() {
  static const bool yes = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return yes;
}
#endif

void store_f32(uint8_t* p, float v) {
  std::memcpy(p, &v, 4);
}
float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- INT8 row-wise -----------------------------------------------------------------------------

void int8_encode_row(const float* x, size_t len, uint8_t* out) {
  float lo = x[0], hi = x[0];
  for (size_t i = 1; i < len; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float range = hi - lo;
  const float inverse_scale = 255.0f / (range + kInt8RangeEpsilon);
  for (size_t i = 0; i < len; ++i) {
    const float v = (x[i] - lo) * inverse_scale;
    out[i] = (uint8_t)(int)((v + kRoundMagic) - kRoundMagic);
  }
  store_f32(out + len, range / 255.0f);
  store_f32(out + len + 4, lo);
}

void int8_decode_row(const uint8_t* in, size_t len, float* x) {
  const float scale = load_f32(in + len);
  const float bias = load_f32(in + len + 4);
  for (size_t i = 0; i < len; ++i) x[i] = (float)in[i] * scale + bias;
}

// ---- MX4 ---------------------------------------------------------------------------------------

constexpr size_t kMxGroup = 32;
constexpr float kE2m1Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

float group_amax(const float* x, size_t len) {
  float amax = 0.0f;
  for (size_t i = 0; i < len; ++i) {
    const float a = std::fabs(x[i]);
    if (a <= std::numeric_limits<float>::max()) amax = std::max(amax, a);  // finite only
  }
  return amax;
}

// Half the spacing of the E2M1 grid around magnitude a (a <= 6).
double e2m1_half_spacing(double a) {
  return a < 2.0 ? 0.25 : (a < 4.0 ? 0.5 : 1.0);
}

}  // namespace

const char* baseline_name(Baseline b) {
  switch (b) {
    case Baseline::kFP16:
      return "fp16";
    case Baseline::kBF16:
      return "bf16";
    case Baseline::kInt8Rowwise:
      return "int8-rowwise";
    case Baseline::kFP8:
      return "fp8-e4m3";
    case Baseline::kMX4:
      return "mx4";
  }
  return "?";
}

size_t baseline_encoded_bytes(Baseline b, size_t n, size_t row_dim) {
  switch (b) {
    case Baseline::kFP16:
    case Baseline::kBF16:
      return 2 * n;
    case Baseline::kInt8Rowwise:
      return n + 8 * ((n + row_dim - 1) / row_dim);
    case Baseline::kFP8:
      return n;
    case Baseline::kMX4:
      return (n + 1) / 2 + (n + kMxGroup - 1) / kMxGroup;
  }
  return 0;
}

// ---- FP8 hfp8 1-4-3, bias 15 -------------------------------------------------------------------

uint8_t float_to_hfp8_143(float x) {
  const uint32_t sign = (quant::float_to_bits(x) >> 24) & 0x80u;
  // fminf returns the non-NaN operand, so NaN clamps to max_pos like FBGEMM's conversion.
  const float a = std::fmin(std::fabs(x), kHfp8MaxPos);
  uint32_t code;
  if (a >= 6.103515625e-05f) {  // 2^-14, smallest normal
    // Round the 23-bit mantissa to 3 bits, ties to even; a carry moves into the exponent.
    uint32_t u = quant::float_to_bits(a);
    const uint32_t rem = u & 0xfffffu;
    u >>= 20;
    if (rem > 0x80000u || (rem == 0x80000u && (u & 1u))) ++u;
    code = u - (112u << 3);  // rebias exponent 127 -> 15
  } else {
    // Subnormal: multiples of 2^-17; the product is exact and nearbyint rounds ties to even.
    code = (uint32_t)std::nearbyint(a * 131072.0f);  // 0..8; 8 is the smallest normal's code
  }
  return (uint8_t)(sign | code);
}

float hfp8_143_to_float(uint8_t code) {
  const int e = (code >> 3) & 15;
  const int m = code & 7;
  const float mag = e == 0 ? std::ldexp((float)m, -17) : std::ldexp(1.0f + m / 8.0f, e - 15);
  return (code & 0x80u) ? -mag : mag;
}

// ---- E2M1 and MX4 scale ------------------------------------------------------------------------

uint8_t float_to_e2m1(float v) {
  const float a = std::fabs(v);
  uint8_t code;
  // Ties go to the even code (mantissa bit 0 clear): 0.25->0, 0.75->1, 1.25->1, 1.75->2,
  // 2.5->2, 3.5->4, 5->4; everything above 6 saturates.
  if (!(a > 0.25f))
    code = 0;  // NaN lands here too: stored as 0
  else if (a < 0.75f)
    code = 1;
  else if (a <= 1.25f)
    code = 2;
  else if (a < 1.75f)
    code = 3;
  else if (a <= 2.5f)
    code = 4;
  else if (a < 3.5f)
    code = 5;
  else if (a <= 5.0f)
    code = 6;
  else
    code = 7;
  return (uint8_t)(code | (std::signbit(v) && code ? 0x8u : 0u));
}

float e2m1_to_float(uint8_t nibble) {
  const float mag = kE2m1Values[nibble & 7];
  return (nibble & 8) ? -mag : mag;
}

int mx4_shared_exponent(float amax) {
  if (!(amax > 0.0f)) return -127;
  int e;
  (void)std::frexp(amax, &e);  // amax = f * 2^e, f in [0.5, 1): floor(log2 amax) = e - 1
  return std::clamp(e - 1 - 2, -127, 127);
}

// ---- encode / decode ---------------------------------------------------------------------------

void baseline_encode(Baseline b, const float* in, size_t n, size_t row_dim, uint8_t* out) {
  switch (b) {
    case Baseline::kFP16:
#if SQZ_BENCH_X86
      if (have_f16c()) return fp16_encode_f16c(in, n, out);
#endif
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = quant::float_to_half_rn(clampf(in[i], -kHalfMax, kHalfMax));
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case Baseline::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = quant::float_to_bf16_rn(clampf(in[i], -kBf16Max, kBf16Max));
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case Baseline::kInt8Rowwise:
      for (size_t r = 0; r * row_dim < n; ++r) {
        const size_t len = std::min(row_dim, n - r * row_dim);
        int8_encode_row(in + r * row_dim, len, out + r * (row_dim + 8));
      }
      return;
    case Baseline::kFP8:
      for (size_t i = 0; i < n; ++i) out[i] = float_to_hfp8_143(in[i]);
      return;
    case Baseline::kMX4: {
      uint8_t* scales = out + (n + 1) / 2;
      std::memset(out, 0, (n + 1) / 2);
      for (size_t g = 0; g * kMxGroup < n; ++g) {
        const size_t base = g * kMxGroup;
        const size_t len = std::min(kMxGroup, n - base);
        const int shared = mx4_shared_exponent(group_amax(in + base, len));
        scales[g] = (uint8_t)(shared + 127);
        const float inv_scale = pow2f(-shared);  // exact: multiplying by it divides by 2^shared
        for (size_t i = 0; i < len; ++i) {
          const uint8_t nib = float_to_e2m1(in[base + i] * inv_scale);
          out[(base + i) / 2] |= (uint8_t)(((base + i) & 1) ? nib << 4 : nib);
        }
      }
      return;
    }
  }
}

void baseline_decode(Baseline b, const uint8_t* in, size_t n, size_t row_dim, float* out) {
  switch (b) {
    case Baseline::kFP16:
#if SQZ_BENCH_X86
      if (have_f16c()) return fp16_decode_f16c(in, n, out);
#endif
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        out[i] = quant::half_to_float(h);
      }
      return;
    case Baseline::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        out[i] = quant::bf16_to_float(h);
      }
      return;
    case Baseline::kInt8Rowwise:
      for (size_t r = 0; r * row_dim < n; ++r) {
        const size_t len = std::min(row_dim, n - r * row_dim);
        int8_decode_row(in + r * (row_dim + 8), len, out + r * row_dim);
      }
      return;
    case Baseline::kFP8: {
      float table[256];
      for (int c = 0; c < 256; ++c) table[c] = hfp8_143_to_float((uint8_t)c);
      for (size_t i = 0; i < n; ++i) out[i] = table[in[i]];
      return;
    }
    case Baseline::kMX4: {
      const uint8_t* scales = in + (n + 1) / 2;
      for (size_t g = 0; g * kMxGroup < n; ++g) {
        const size_t base = g * kMxGroup;
        const size_t len = std::min(kMxGroup, n - base);
        const float scale = pow2f((int)scales[g] - 127);
        float lut[16];
        for (int c = 0; c < 16; ++c) lut[c] = e2m1_to_float((uint8_t)c) * scale;
        for (size_t i = 0; i < len; ++i) {
          const uint8_t byte = in[(base + i) / 2];
          out[base + i] = lut[((base + i) & 1) ? byte >> 4 : byte & 15];
        }
      }
      return;
    }
  }
}

namespace {

// Error the INT8 row-wise format allows in a row whose finite min / max are lo / hi.
double int8_row_allowance(float lo, float hi) {
  const double range = (double)hi - (double)lo;
  const double scale = range / 255.0;
  // Half a step, plus the code shift that FBGEMM's epsilon in 255 / (range + 1e-8) causes (up
  // to 255 * 1e-8 / range codes at the top of the row), plus float rounding slack in
  // (x - min) * inv and q * scale + bias.
  const double epsilon_shift = 255.0 * scale * (kInt8RangeEpsilon / (range + kInt8RangeEpsilon));
  const double slack = 8.0 * std::ldexp(1.0, -24) * (std::fabs(lo) + std::fabs(hi) + range);
  return 0.5 * scale + epsilon_shift + slack;
}

// Error MXFP4 allows for magnitude a in a group whose scale is `scale`.
double mx4_allowance(double a, double scale) {
  const double v = a / scale;
  if (v > 6.0) return (v - 6.0) * scale;
  return e2m1_half_spacing(v) * scale;
}

// Half an ULP of a float format with `mbits` mantissa bits, smallest normal 2^min_exp, at a.
double half_ulp(double a, int mbits, int min_exp) {
  int e;
  (void)std::frexp(std::max(a, std::ldexp(1.0, min_exp)), &e);  // binade 2^(e-1)
  return std::ldexp(1.0, e - 1 - mbits - 1);
}

void row_min_max(const float* x, size_t len, float* lo, float* hi) {
  *lo = x[0];
  *hi = x[0];
  for (size_t k = 1; k < len; ++k) {
    *lo = std::min(*lo, x[k]);
    *hi = std::max(*hi, x[k]);
  }
}

}  // namespace

double baseline_error_allowance(Baseline b, const float* in, size_t n, size_t row_dim, size_t i) {
  const double a = std::fabs((double)in[i]);
  switch (b) {
    case Baseline::kFP16:
      return a >= kHalfMax ? a - kHalfMax : half_ulp(a, 10, -14);
    case Baseline::kBF16:
      return a >= kBf16Max ? a - kBf16Max : half_ulp(a, 7, -126);
    case Baseline::kFP8:
      return a >= kHfp8MaxPos ? a - kHfp8MaxPos : half_ulp(a, 3, -14);
    case Baseline::kInt8Rowwise: {
      const size_t r0 = i / row_dim * row_dim;
      float lo, hi;
      row_min_max(in + r0, std::min(row_dim, n - r0), &lo, &hi);
      return int8_row_allowance(lo, hi);
    }
    case Baseline::kMX4: {
      const size_t g0 = i / kMxGroup * kMxGroup;
      const float amax = group_amax(in + g0, std::min(kMxGroup, n - g0));
      return mx4_allowance(a, std::ldexp(1.0, mx4_shared_exponent(amax)));
    }
  }
  return 0.0;
}

bool baseline_verify(Baseline b, const float* in, const float* decoded, size_t n, size_t row_dim,
                     size_t* first_bad) {
  const size_t unit = b == Baseline::kInt8Rowwise ? row_dim : kMxGroup;
  for (size_t u0 = 0; u0 < n; u0 += unit) {
    const size_t len = std::min(unit, n - u0);
    bool finite_unit = true;
    for (size_t k = 0; k < len; ++k) finite_unit = finite_unit && std::isfinite(in[u0 + k]);
    double row_allow = 0.0, group_scale = 0.0;
    if (b == Baseline::kInt8Rowwise && finite_unit) {
      float lo, hi;
      row_min_max(in + u0, len, &lo, &hi);
      row_allow = int8_row_allowance(lo, hi);
    }
    if (b == Baseline::kMX4)
      group_scale = std::ldexp(1.0, mx4_shared_exponent(group_amax(in + u0, len)));
    for (size_t k = 0; k < len; ++k) {
      const size_t i = u0 + k;
      if (!std::isfinite(in[i])) continue;  // no baseline promises anything for NaN / Inf
      const double a = std::fabs((double)in[i]);
      double allow;
      switch (b) {
        case Baseline::kInt8Rowwise:
          if (!finite_unit) continue;  // a non-finite neighbour poisons the row's scale
          allow = row_allow;
          break;
        case Baseline::kMX4:
          allow = mx4_allowance(a, group_scale);
          break;
        default:
          allow = baseline_error_allowance(b, in, n, row_dim, i);
          break;
      }
      if (!(std::fabs((double)in[i] - (double)decoded[i]) <= allow)) {
        if (first_bad) *first_bad = i;
        return false;
      }
    }
  }
  return true;
}

}  // namespace squeeze::bench
