// The launch order of a batch, written once for both executors of the kernels: the CUDA driver
// (codec_cuda.cu) and the CPU runner (cpu_runner.h). An executor L provides
//   gpu::GpuStatus L.template run<K>(const char* name, const typename K::Args&, uint64_t tiles)
//   gpu::GpuStatus L.scan(const uint64_t* in, uint64_t* out, uint64_t n)   // exclusive sum
// The driver also walks both pipelines with an executor that only loads each kernel (a plan
// with every optional step on), so the list of kernels to preload is this one too.
#pragma once

#include <cstdint>

#include "compress/cuda/batch_plan.h"
#include "compress/cuda/compress_kernels.h"
#include "compress/cuda/decode_kernels.h"
#include "compress/cuda/planes_compress.h"
#include "compress/cuda/planes_decode.h"
#include "compress/cuda/staged_compress.h"
#include "compress/cuda/staged_decode.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::kern {

#define SQZ_PIPELINE_TRY(expr)                                  \
  do {                                                          \
    const gpu::GpuStatus sqz_status_ = (expr);                  \
    if (sqz_status_ != gpu::GpuStatus::kOk) return sqz_status_; \
  } while (0)

// Compress: staged and planes chunks are sized before FramesKernel places every frame, and
// written after.
template <class L>
gpu::GpuStatus run_compress(L& l, const CompressArgs& a, const CompressPlan& plan) {
  const uint64_t n = a.n_chunks;
  if (plan.any_staged)
    SQZ_PIPELINE_TRY(l.template run<StagedAnalyzeKernel>("staged analyze", a, n));
  if (plan.any_planes)
    SQZ_PIPELINE_TRY(l.template run<PlanesAnalyzeKernel>("planes analyze", a, n));
  if (plan.any_rel) SQZ_PIPELINE_TRY(l.template run<MinMaxKernel>("minmax", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.template run<ParamsKernel>("params", a, n));
  SQZ_PIPELINE_TRY(l.template run<AnalyzeKernel>("analyze", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.scan(a.unit_rec, a.unit_scan, plan.n_units + 1));
  SQZ_PIPELINE_TRY(l.template run<FramesKernel>("frames", a, 1));
  SQZ_PIPELINE_TRY(l.template run<PackKernel>("pack", a, plan.n_tiles));
  if (plan.any_staged) SQZ_PIPELINE_TRY(l.template run<StagedWriteKernel>("staged write", a, n));
  if (plan.any_planes) SQZ_PIPELINE_TRY(l.template run<PlanesWriteKernel>("planes write", a, n));
  return gpu::GpuStatus::kOk;
}

// Decompress: the header kernel sorts version 1 frames from version 2 staged and planes frames
// (the staged kernel resets every frame's StagedState before the planes kernel); each kind's
// kernels validate a frame entirely before they write its destination.
template <class L>
gpu::GpuStatus run_decompress(L& l, const DecompressArgs& a, const DecodePlan& plan) {
  const uint64_t n = a.n_chunks;
  const uint64_t per_frame = ceil_div(n, kCtaThreads);
  SQZ_PIPELINE_TRY(l.template run<DecodeHeaderKernel>("decode header", a, per_frame));
  SQZ_PIPELINE_TRY(l.template run<DecodeWidthsKernel>("decode widths", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.scan(a.unit_rec, a.unit_scan, plan.n_units + 1));
  SQZ_PIPELINE_TRY(l.template run<DecodeLayoutKernel>("decode layout", a, per_frame));
  SQZ_PIPELINE_TRY(
      l.template run<DecodeCheckOutliersKernel>("decode check outliers", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.template run<DecodeBlocksKernel>("decode blocks", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.template run<DecodeOutliersKernel>("decode outliers", a, plan.n_tiles));
  SQZ_PIPELINE_TRY(l.template run<DecodeResultKernel>("decode result", a, per_frame));
  SQZ_PIPELINE_TRY(l.template run<StagedDecodeKernel>("staged decode", a, n));
  SQZ_PIPELINE_TRY(l.template run<PlanesDecodeKernel>("planes decode", a, n));
  SQZ_PIPELINE_TRY(l.template run<StagedResultKernel>("staged result", a, per_frame));
  return gpu::GpuStatus::kOk;
}

#undef SQZ_PIPELINE_TRY

}  // namespace squeeze::kern
