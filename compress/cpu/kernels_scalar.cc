// Scalar block kernels: the reference every SIMD kernel set must match byte for byte. They call
// the shared SQZ_HD math directly, so they are also what the CUDA backend computes.
#include <cmath>

#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/planes_kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/cpu/staged.h"
#include "compress/cpu/staged_kernels.h"
#include "compress/cpu/staged_table.h"
#include "compress/quant.h"

namespace squeeze::cpu {
namespace {

template <DType kType>
uint64_t encode_scalar(const uint8_t* src, uint64_t n_blocks, const quant::QuantParams& p,
                       uint8_t* widths, uint8_t* planes, uint32_t* outlier_masks) {
  constexpr uint64_t es = dtype_size(kType);
  uint64_t written = 0;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = src + b * kBlockElems * es;
    uint32_t codes[kBlockElems];
    uint32_t mask = 0;
    for (uint32_t i = 0; i < kBlockElems; ++i) {
      int32_t q;
      if (!quant::quantize_element<kType>(block::load_element<kType>(blk + i * es), p, &q))
        mask |= 1u << i;
      codes[i] = quant::zigzag(q);
    }
    const uint32_t w = block::block_width(codes);
    widths[b] = (uint8_t)w;
    block::pack_planes(codes, w, planes + written);
    written += 4 * w;
    outlier_masks[b] = mask;
  }
  return written;
}

template <DType kType>
void decode_scalar(const uint8_t* widths, const uint8_t* planes, uint64_t n_blocks, float step,
                   uint8_t* dst) {
  constexpr uint64_t es = dtype_size(kType);
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint32_t w = widths[b];
    uint32_t codes[kBlockElems];
    block::unpack_planes(planes, w, codes);
    planes += 4 * w;
    uint8_t* out = dst + b * kBlockElems * es;
    for (uint32_t i = 0; i < kBlockElems; ++i)
      block::store_decoded<kType>(quant::unzigzag(codes[i]), step, out + i * es);
  }
}

template <DType kType>
void minmax_scalar(const uint8_t* src, uint64_t n, float* min_out, float* max_out) {
  constexpr uint64_t es = dtype_size(kType);
  float mn = INFINITY, mx = -INFINITY;
  for (uint64_t i = 0; i < n; ++i) {
    const float x = block::load_element<kType>(src + i * es);
    if (!std::isfinite(x)) continue;
    mn = x < mn ? x : mn;
    mx = x > mx ? x : mx;
  }
  *min_out = mn;
  *max_out = mx;
}

template <DType kType>
constexpr BlockKernels scalar_kernels() {
  return {&encode_scalar<kType>, &decode_scalar<kType>, &minmax_scalar<kType>};
}

const Backend kScalar = {"scalar",
                         {{nullptr, nullptr, nullptr},
                          scalar_kernels<DType::kF32>(),
                          scalar_kernels<DType::kF16>(),
                          scalar_kernels<DType::kBF16>()},
                         kStagedScalar,
                         &kUnitScalar,
                         kTableScalar,
                         &kRansScalar,
                         &kPlanesScalar,
                         &kStagedDriverGeneric};

}  // namespace

const Backend& scalar_backend() {
  return kScalar;
}

}  // namespace squeeze::cpu
