// Per-element and per-block math shared by the CPU and CUDA backends (SQZ_HD). Everything that
// decides a frame's bytes lives here, so the CPU tests exercise the very code the GPU runs.
//
// Rules that make CPU and GPU agree bit for bit:
//  - only IEEE binary32 multiply / subtract / round-to-nearest-even, never fused (built with
//    -ffp-contract=off and nvcc --fmad=false);
//  - the quantization parameters (step, 1/step, check threshold) are computed once on the host
//    and handed to every backend;
//  - the error check is sound without any exactness argument: fl(|x - x'|) < eb_check implies
//    |x - x'| < eb_check <= eb, because rounding is monotone and eb_check is a float.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::quant {

SQZ_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

SQZ_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

// IEEE half -> float, exact for every input including subnormals, Inf and NaN.
SQZ_HD float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));  // Inf / NaN
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in float
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// float -> IEEE half, round to nearest even, overflow to Inf, NaN kept quiet.
SQZ_HD uint16_t float_to_half_rn(float f) {
  uint32_t u = float_to_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (a < 0x38800000u) {
    // result is subnormal or zero: value = a * 2^24 in half-ulps, round to nearest even
    if (a < 0x33000000u) return sign;  // < 2^-25: rounds to 0
    uint32_t exp = a >> 23;
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exp;  // 14..24
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return (uint16_t)(sign | q);
  }
  uint32_t q = a - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t rem = q & 0x1fffu;
  q >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;
  return (uint16_t)(sign | q);
}

SQZ_HD float bf16_to_float(uint16_t b) {
  return bits_to_float((uint32_t)b << 16);
}

// float -> bfloat16, round to nearest even, NaN kept quiet.
SQZ_HD uint16_t float_to_bf16_rn(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return (uint16_t)(u >> 16);
}

// Parameters of one frame's quantizer, computed on the host from the applied bound.
struct QuantParams {
  float step;      // quantization step, <= 2 * eb
  float inv_step;  // 1 / step in float
  float eb_check;  // largest float <= eb: an element passes only if fl(|x - x'|) < eb_check
};

SQZ_HD uint32_t zigzag(int32_t q) {
  return ((uint32_t)q << 1) ^ (uint32_t)(q >> 31);
}
SQZ_HD int32_t unzigzag(uint32_t z) {
  return (int32_t)(z >> 1) ^ -(int32_t)(z & 1u);
}

// Round to nearest even in float; identical to rintf under the default rounding mode and to
// CUDA's rintf. Inputs beyond 2^23 are already integers (or Inf / NaN) and pass unchanged.
SQZ_HD float round_even(float v) {
#if defined(__CUDA_ARCH__)
  return rintf(v);
#else
  return std::nearbyint(v);
#endif
}

// Minimum and maximum of finite floats in a total order where -0 < +0: associative and
// commutative, so a warp's tree reduction and a sequential loop agree to the bit.
SQZ_HD float min_total(float a, float b) {
  if (a < b) return a;
  if (b < a) return b;
  return (float_to_bits(a) >> 31) != 0 ? a : b;  // equal: -0 wins
}
SQZ_HD float max_total(float a, float b) {
  if (a > b) return a;
  if (b > a) return b;
  return (float_to_bits(a) >> 31) != 0 ? b : a;  // equal: +0 wins
}

// floor() of a double, the same on host and device (IEEE, no libm differences: exact).
SQZ_HD double floor_d(double v) {
#if defined(__CUDA_ARCH__)
  return floor(v);
#else
  // std::floor without SSE4.1 is a libm call; this is the same function inline. Beyond 2^52 every
  // double is an integer, and NaN and the infinities are their own floor; a result equal to v
  // returns v itself, which keeps the sign of -0.
  if (!(v < 4503599627370496.0 && v > -4503599627370496.0)) return v;
  const double t = (double)(int64_t)v;
  if (t == v) return v;
  return t > v ? t - 1.0 : t;
#endif
}

// Value the decoder writes for code q, widened to float (for f16 / bf16 after rounding to the
// element type, so the encoder checks exactly what the decoder will produce).
SQZ_HD float reconstruct_f32(int32_t q, float step) {
  return (float)q * step;
}

// A decoded value as the element type stores it, widened back to float (f16 and bf16 round to
// nearest even): what the encoder checks against the bound.
template <DType kType>
SQZ_HD float round_to_type(float xr) {
  if (kType == DType::kF16) return half_to_float(float_to_half_rn(xr));
  if (kType == DType::kBF16) return bf16_to_float(float_to_bf16_rn(xr));
  return xr;
}

// Quantize one element given as float (f16 / bf16 widened exactly). Returns true and the code
// when the decoded value is provably within the bound; false means "store exactly" (outlier).
template <DType kType>
SQZ_HD bool quantize_element(float x, const QuantParams& p, int32_t* q_out) {
  float qf = round_even(x * p.inv_step);
  if (!(qf <= (float)kMaxQuant && qf >= -(float)kMaxQuant)) {  // NaN and Inf fail here too
    *q_out = 0;
    return false;
  }
  int32_t q = (int32_t)qf;
  float xr = reconstruct_f32(q, p.step);
  if (kType == DType::kF16) xr = half_to_float(float_to_half_rn(xr));
  if (kType == DType::kBF16) xr = bf16_to_float(float_to_bf16_rn(xr));
  float d = x - xr;
  d = d < 0.0f ? -d : d;
  if (!(d < p.eb_check)) {
    *q_out = 0;
    return false;
  }
  *q_out = q;
  return true;
}

// The error a quantized element counts toward its unit's largest error, which decides whether
// that unit may stand for a repeat (compress/methods/dedup.h): |x - x'|, or the smallest positive
// float when that difference is 0 but the bits are not the same (-0 decoded as +0, or a tiny
// negative reconstruction rounded to f16 / bf16 -0): such an element is within every positive
// bound but not exact, and a block whose bound is 0 (zero, constant) takes only exact copies.
SQZ_HD float element_error(float x, float xr) {
  const float d = x - xr;
  const float a = d < 0.0f ? -d : d;
  return a == 0.0f && float_to_bits(x) != float_to_bits(xr) ? 1.40129846e-45f : a;
}

// Largest float <= v, for finite v > 0 (0 when v is below the smallest subnormal).
SQZ_HD float float_round_down(double v) {
  float f = (float)v;
  if ((double)f > v) f = bits_to_float(float_to_bits(f) - 1u);
  return f;
}

// Absolute bound of a frame in rel mode: rel * (max - min) over the frame's finite elements.
SQZ_HD double rel_to_abs_bound(double rel, float min_finite, float max_finite) {
  return rel * ((double)max_finite - (double)min_finite);
}

// Quantizer parameters for absolute bound eb. Returns false when no usable quantizer exists
// (eb not finite or too small for a normal float step): the frame is then stored raw.
SQZ_HD bool make_quant_params(double eb, QuantParams* p) {
  if (!(eb > 0.0) || !(eb < 1e300)) return false;
  float step = float_round_down(2.0 * eb);
  float eb_check = float_round_down(eb);
  if (!(step >= 1.17549435e-38f) || !(step <= 3.0e38f) || !(eb_check > 0.0f)) return false;
  float inv = 1.0f / step;
  if (!(inv <= 3.0e38f)) return false;
  p->step = step;
  p->inv_step = inv;
  p->eb_check = eb_check;
  return true;
}

// Size of a kBlockFixed frame: header, one width byte per block, 4 bytes per bit plane, each
// outlier's index and value, and the tail. The encoder stores raw when this is not smaller than
// kFrameHeaderBytes + original bytes.
SQZ_HD uint64_t block_fixed_frame_bytes(uint64_t n_elems, uint64_t elem_size, uint64_t tail_bytes,
                                        uint64_t sum_widths, uint64_t outliers) {
  uint64_t n_blocks = (n_elems + kBlockElems - 1) / kBlockElems;
  return kFrameHeaderBytes + n_blocks + 4 * sum_widths + outliers * (4 + elem_size) + tail_bytes;
}

// The index of the highest set bit of n >= 1 (code widths, the dedup records' Exp-Golomb
// lengths, the rANS table's remainder buckets).
SQZ_HD uint32_t high_bit64(uint64_t n) {
#if defined(__CUDA_ARCH__)
  return 63u - (uint32_t)__clzll((long long)n);
#else
  return 63u - (uint32_t)__builtin_clzll(n);
#endif
}

// Bits needed for the OR of a block's zigzag codes (0 when every code is 0).
SQZ_HD uint32_t code_width(uint32_t or_of_codes) {
  return or_of_codes == 0 ? 0u : high_bit64(or_of_codes) + 1u;
}

}  // namespace squeeze::quant
