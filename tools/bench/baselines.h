// What a TorchRec user would compress pooled embeddings with instead of Squeeze, implemented here
// from the published formats so squeeze-bench can compare on the same data in the same run.
// Every codec works on fp32 values (f16 / bf16 inputs are widened first) and writes a flat byte
// buffer whose size is what would cross the network.
//
//  - FP16 and BF16 casts: round to nearest even (TorchRec clamps to the type's finite range
//    first, so overflow saturates to the largest finite value instead of becoming Inf).
//  - INT8 row-wise (FBGEMM FloatToFused8BitRowwiseQuantized, TorchRec qcomms INT8): the flat
//    tensor is viewed as rows of row_dim values; per row uint8 codes then fp32 scale and fp32
//    bias, scale = (max - min) / 255, bias = min, q = lrint((x - min) * 255 / (range + 1e-8)).
//    Row bytes = row_dim + 8 (for row_dim 32: 40 bytes per 128, 3.2x). A last partial row has
//    its own (shorter) row; TorchRec requires a multiple of row_dim instead.
//  - FP8 "hfp8" 1-4-3 (TorchRec qcomms FP8, FBGEMM FloatToHFP8Quantized with ebits 4,
//    exponent bias 15): no Inf / NaN encodings, values clamped to max_pos =
//    2^(16 - 2 - 15) * (2 - 2^-3) = 0.9375, smallest normal 2^-14, gradual underflow down to
//    2^-17, round to nearest even. NaN inputs become the code of +0 (a lossy format; the
//    benchmark's error statistics are over finite inputs only).
//  - MX4 (OCP Microscaling v1.0, MXFP4): groups of 32 values share an 8-bit power-of-two
//    scale X = 2^(floor(log2(max|x|)) - 2) (emax of E2M1 is 2); each element stores
//    e2m1(x / X) rounded to nearest even on the E2M1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6},
//    saturating at +-6 (the spec's saturating conversion). Layout: N/2 bytes of nibbles
//    (element 2i in the low nibble), then one scale byte (biased by 127) per group, so
//    N/2 + N/32 bytes. An all-zero group stores scale byte 0 (2^-127). Partial last group: its
//    missing elements count as 0 and its nibble bytes are stored rounded up.
#pragma once

#include <cstddef>
#include <cstdint>

namespace squeeze::bench {

enum class Baseline { kFP16, kBF16, kInt8Rowwise, kFP8, kMX4 };

constexpr int kNumBaselines = 5;
constexpr Baseline kAllBaselines[kNumBaselines] = {
    Baseline::kFP16, Baseline::kBF16, Baseline::kInt8Rowwise, Baseline::kFP8, Baseline::kMX4};

// Short name used in the tables and the JSON ("fp16", "bf16", "int8-rowwise", "fp8-e4m3",
// "mx4").
const char* baseline_name(Baseline b);

// Bytes the encoding of n fp32 values takes (row_dim only matters for INT8 row-wise).
size_t baseline_encoded_bytes(Baseline b, size_t n, size_t row_dim);

// Encode n values into out (baseline_encoded_bytes() bytes). row_dim > 0.
void baseline_encode(Baseline b, const float* in, size_t n, size_t row_dim, uint8_t* out);

// Decode n values written by baseline_encode.
void baseline_decode(Baseline b, const uint8_t* in, size_t n, size_t row_dim, float* out);

// Largest |x - decode(encode(x))| the format allows for element i of `in` (finite x), computed
// in double from the format's rules: half an ULP of the target type, scale/2 per INT8 row, the
// clamp distance for values beyond the type's range. Used by the benchmark to check every
// decoded element and by the unit tests.
double baseline_error_allowance(Baseline b, const float* in, size_t n, size_t row_dim, size_t i);

// Checks every finite element of `decoded` against baseline_error_allowance (computed per row /
// group, so it is linear in n). Returns false and the first failing index otherwise.
bool baseline_verify(Baseline b, const float* in, const float* decoded, size_t n, size_t row_dim,
                     size_t* first_bad);

// Single-value conversions exposed for the tests.
uint8_t float_to_hfp8_143(float x);
float hfp8_143_to_float(uint8_t code);
constexpr float kHfp8MaxPos = 0.9375f;
uint8_t float_to_e2m1(float scaled);  // x already divided by the group scale
float e2m1_to_float(uint8_t nibble);
// Shared exponent (unbiased) of an MX4 group with largest magnitude amax (finite).
int mx4_shared_exponent(float amax);

}  // namespace squeeze::bench
