// The CUDA backend: the kernels (kernel_model.h and the *_kernels.h / staged_*.h files) launched
// over a batch in pipeline.h's order, with the CUB scans between them, and the context that owns
// every buffer. See include/squeeze/codec_cuda.h.
//
// Per batch, all on the caller's stream with no allocation and no synchronization: descriptors
// host -> device (pinned staging), the kernels and scans in pipeline.h's order, results device ->
// pinned host, an event.
#include <cuda_runtime.h>

#include <cstdio>
#include <cub/device/device_scan.cuh>
#include <new>
#include <string>
#include <utility>

#include "compress/cuda/batch_plan.h"
#include "compress/cuda/pipeline.h"
#include "compress/cuda/staged_slot.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::gpu {
namespace {

using kern::kCtaThreads;
using kern::kWarpLanes;

constexpr unsigned kFullMask = 0xffffffffu;

// A warp's lanes in lock-step code (kernel_model.h, w.collective): each lane runs the body for
// itself, and a ballot is the warp's.
struct CudaLanes {
  uint32_t lane;
  template <class T>
  struct Vec {
    T v;
    __host__ __device__ T& operator[](uint32_t) { return v; }
    __host__ __device__ const T& operator[](uint32_t) const { return v; }
  };
  template <class F>
  __host__ __device__ void each(F f) const {
    f(lane);
  }
  template <class F>
  __host__ __device__ uint32_t ballot(F f) const {
#if defined(__CUDA_ARCH__)
    return __ballot_sync(kFullMask, f(lane) ? 1 : 0);
#else
    return f(lane) ? 1u << lane : 0u;
#endif
  }
};

// Warp operations with the warp intrinsics; f is evaluated on this lane's registers. The host
// side of these functions is never called (the phases only run on the device with this policy).
template <class Regs>
struct CudaWarp {
  const Regs* mine;

  template <class F>
  __host__ __device__ void collective(const kern::Thread& t, F body) const {
    body(CudaLanes{t.lane});
  }

  template <class F>
  __host__ __device__ uint32_t ballot(F f) const {
#if defined(__CUDA_ARCH__)
    return __ballot_sync(kFullMask, f(*mine) ? 1 : 0);
#else
    return f(*mine) ? 1u : 0u;
#endif
  }
  template <class F>
  __host__ __device__ uint32_t reduce_or(F f) const {
#if defined(__CUDA_ARCH__)
    return __reduce_or_sync(kFullMask, (unsigned)f(*mine));
#else
    return (uint32_t)f(*mine);
#endif
  }
  template <class F>
  __host__ __device__ float reduce_min(F f) const {
    float v = f(*mine);
#if defined(__CUDA_ARCH__)
    for (int off = 16; off > 0; off >>= 1) {
      const float o = __shfl_xor_sync(kFullMask, v, off);
      v = o < v ? o : v;
    }
#endif
    return v;
  }
  template <class F>
  __host__ __device__ float reduce_max(F f) const {
    float v = f(*mine);
#if defined(__CUDA_ARCH__)
    for (int off = 16; off > 0; off >>= 1) {
      const float o = __shfl_xor_sync(kFullMask, v, off);
      v = o > v ? o : v;
    }
#endif
    return v;
  }
  template <class F>
  __host__ __device__ uint32_t shfl(F f, uint32_t src_lane) const {
#if defined(__CUDA_ARCH__)
    return __shfl_sync(kFullMask, (unsigned)f(*mine), (int)src_lane);
#else
    (void)src_lane;
    return (uint32_t)f(*mine);
#endif
  }
};

template <bool kBarrier>
__device__ __forceinline__ void barrier() {
  if constexpr (kBarrier) __syncthreads();
}

template <class K, int... Ps>
__device__ __forceinline__ void run_phases(const typename K::Args& a, const kern::Thread& t,
                                           const CudaWarp<typename K::Regs>& w, typename K::Regs& r,
                                           typename K::Shared& s,
                                           std::integer_sequence<int, Ps...>) {
  ((K::template phase<Ps>(a, t, w, r, s), barrier < K::kBarriers && (Ps + 1 < K::kPhases) > ()),
   ...);
}

// One CTA per tile at a time, grid-stride over the tiles (the same order of work per tile as
// kern::run_grid on the CPU).
template <class K>
__global__ void __launch_bounds__(kern::kCtaThreads)
    tile_kernel(const typename K::Args a, const uint64_t n_tiles) {
  __shared__ typename K::Shared shared;
  const uint32_t th = threadIdx.x;
  for (uint64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    typename K::Regs r{};
    const kern::Thread t{tile, th, th / kWarpLanes, th % kWarpLanes};
    const CudaWarp<typename K::Regs> w{&r};
    run_phases<K>(a, t, w, r, shared, std::make_integer_sequence<int, K::kPhases>{});
    barrier<K::kBarriers>();  // shared memory is reused by the next tile
  }
}

template <class T>
void free_device(T*& p) {
  if (p) cudaFree(p);
  p = nullptr;
}
template <class T>
void free_host(T*& p) {
  if (p) cudaFreeHost(p);
  p = nullptr;
}

}  // namespace

struct Context {
  BatchLimits limits;
  int sm_count = 0;
  uint64_t max_units = 0;  // over a batch
  uint64_t max_tiles = 0;
  std::string error;
  bool pending = false;

  kern::CompressChunkDesc* d_cdesc = nullptr;
  kern::DecodeChunkDesc* d_ddesc = nullptr;
  kern::MinMax* d_partials = nullptr;
  kern::ChunkQuant* d_quant = nullptr;
  kern::DecodeState* d_dstate = nullptr;
  uint64_t* d_rec = nullptr;
  uint64_t* d_scan = nullptr;
  FrameResult* d_results = nullptr;
  DecodeResult* d_dresults = nullptr;
  uint8_t* d_arena = nullptr;  // the staged kernels' slots, one per chunk
  kern::StagedState* d_staged = nullptr;
  kern::StagedArena arena{};
  void* d_scan_temp = nullptr;
  size_t scan_temp_bytes = 0;

  uint8_t* d_layouts = nullptr;  // row layouts of table chunks (batch_plan.h's LayoutStaging)
  uint64_t layout_bytes = 0;

  kern::CompressChunkDesc* h_cdesc = nullptr;
  uint8_t* h_layouts = nullptr;
  kern::DecodeChunkDesc* h_ddesc = nullptr;
  FrameResult* h_results = nullptr;
  DecodeResult* h_dresults = nullptr;
  cudaEvent_t done = nullptr;

  ~Context() {
    if (done) cudaEventDestroy(done);
    free_device(d_cdesc);
    free_device(d_ddesc);
    free_device(d_partials);
    free_device(d_quant);
    free_device(d_dstate);
    free_device(d_rec);
    free_device(d_scan);
    free_device(d_results);
    free_device(d_dresults);
    free_device(d_arena);
    free_device(d_staged);
    free_device(d_scan_temp);
    free_device(d_layouts);
    free_host(h_cdesc);
    free_host(h_layouts);
    free_host(h_ddesc);
    free_host(h_results);
    free_host(h_dresults);
  }

  // Records a failed CUDA call; returns kCudaError.
  GpuStatus fail(const char* where, cudaError_t e) {
    error = std::string(where) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    return GpuStatus::kCudaError;
  }
  GpuStatus invalid(const char* what) {
    error = what;
    return GpuStatus::kInvalidArgument;
  }

  // kBusy while the previous batch runs (its pinned staging and results are still in use).
  GpuStatus check_idle() {
    if (!pending) return GpuStatus::kOk;
    const cudaError_t e = cudaEventQuery(done);
    if (e == cudaErrorNotReady) return GpuStatus::kBusy;
    pending = false;
    if (e != cudaSuccess) return fail("previous batch", e);
    return GpuStatus::kOk;
  }

  // A call that fails after it queued work on `stream` (the descriptor copy, some kernels) leaves
  // that work running: it still reads the pinned descriptors and may write the pinned results.
  // The context stays busy until it completed, so that the next call cannot overwrite them.
  GpuStatus abandon(GpuStatus s, cudaStream_t stream) {
    if (cudaEventRecord(done, stream) == cudaSuccess) pending = true;
    return s;
  }

  template <class K>
  GpuStatus launch(const char* name, const typename K::Args& a, uint64_t n_tiles,
                   cudaStream_t stream) {
    if (n_tiles == 0) return GpuStatus::kOk;
    const uint64_t max_grid = (uint64_t)sm_count * (2048 / kCtaThreads);
    const unsigned grid = (unsigned)(n_tiles < max_grid ? n_tiles : max_grid);
    tile_kernel<K><<<grid, kCtaThreads, 0, stream>>>(a, n_tiles);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return fail(name, e);
    return GpuStatus::kOk;
  }

  // Loads every kernel of a batch into the current device's context now (service thread), so
  // that no launch on the progress thread is a first one. With lazy loading (the default since
  // CUDA 12.2) a kernel's first launch may need a context-wide synchronization; on NCCL's progress
  // thread that waits for NCCL's own kernel, which spins until that very thread makes progress: a
  // hang. cudaFuncGetAttributes loads a kernel, and walking pipeline.h's pipelines with every
  // optional step on names them all; CUB's scan kernels cannot be named, so one real scan runs
  // on a private stream, waited for here (the context holds no batch yet).
  struct Preloader {
    Context* ctx;
    cudaStream_t warm;
    template <class K>
    GpuStatus run(const char* name, const typename K::Args&, uint64_t) {
      cudaFuncAttributes attr;
      const cudaError_t e = cudaFuncGetAttributes(&attr, tile_kernel<K>);
      if (e != cudaSuccess) return ctx->fail((std::string("loading ") + name).c_str(), e);
      return GpuStatus::kOk;
    }
    GpuStatus scan(const uint64_t*, uint64_t*, uint64_t) {
      cudaError_t e =
          cudaMemsetAsync(ctx->d_rec, 0, sizeof(*ctx->d_rec) * (ctx->max_units + 1), warm);
      if (e != cudaSuccess) return ctx->fail("loading the scan: cudaMemsetAsync", e);
      return ctx->scan(ctx->max_units + 1, warm);
    }
  };

  GpuStatus preload_kernels() {
    cudaStream_t warm = nullptr;
    cudaError_t e;
    if ((e = cudaStreamCreateWithFlags(&warm, cudaStreamNonBlocking)) != cudaSuccess)
      return fail("loading the scan: cudaStreamCreateWithFlags", e);
    Preloader loader{this, warm};
    kern::CompressPlan cplan;
    cplan.any_rel = cplan.any_staged = cplan.any_planes = true;
    GpuStatus s = kern::run_compress(loader, kern::CompressArgs{}, cplan);
    if (s == GpuStatus::kOk)
      s = kern::run_decompress(loader, kern::DecompressArgs{}, kern::DecodePlan{});
    // Waited for even after a failure: the stream may still use the context's buffers.
    if ((e = cudaStreamSynchronize(warm)) != cudaSuccess && s == GpuStatus::kOk)
      s = fail("loading the scan: cudaStreamSynchronize", e);
    cudaStreamDestroy(warm);
    return s;
  }

  // pipeline.h's executor on a stream.
  struct Launcher {
    Context* ctx;
    cudaStream_t stream;
    template <class K>
    GpuStatus run(const char* name, const typename K::Args& a, uint64_t n_tiles) {
      return ctx->launch<K>(name, a, n_tiles, stream);
    }
    GpuStatus scan(const uint64_t*, uint64_t*, uint64_t n) { return ctx->scan(n, stream); }
  };

  GpuStatus scan(uint64_t n_items, cudaStream_t stream) {
    size_t need = 0;
    cudaError_t e =
        cub::DeviceScan::ExclusiveSum(nullptr, need, d_rec, d_scan, (int)n_items, stream);
    if (e != cudaSuccess) return fail("scan size", e);
    if (need > scan_temp_bytes) {
      error = "scan needs more temporary storage than the context holds";
      return GpuStatus::kCudaError;
    }
    size_t have = scan_temp_bytes;
    e = cub::DeviceScan::ExclusiveSum(d_scan_temp, have, d_rec, d_scan, (int)n_items, stream);
    if (e != cudaSuccess) return fail("scan", e);
    return GpuStatus::kOk;
  }
};

#define SQZ_TRY(expr)                                      \
  do {                                                     \
    const GpuStatus sqz_status_ = (expr);                  \
    if (sqz_status_ != GpuStatus::kOk) return sqz_status_; \
  } while (0)
// SQZ_TRY once work is queued on `stream`: a failure leaves the context busy until it is done.
#define SQZ_TRY_QUEUED(expr)                                                     \
  do {                                                                           \
    const GpuStatus sqz_status_ = (expr);                                        \
    if (sqz_status_ != GpuStatus::kOk) return ctx->abandon(sqz_status_, stream); \
  } while (0)

const char* gpu_status_string(GpuStatus s) {
  switch (s) {
    case GpuStatus::kOk:
      return "ok";
    case GpuStatus::kInvalidArgument:
      return "invalid argument";
    case GpuStatus::kOutputTooSmall:
      return "output too small";
    case GpuStatus::kBusy:
      return "busy";
    case GpuStatus::kCudaError:
      return "CUDA error";
    case GpuStatus::kNoDevice:
      return "no CUDA device";
  }
  return "unknown status";
}

uint64_t batch_output_capacity(const ChunkToCompress* chunks, uint32_t n_chunks) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < n_chunks; ++i) total += max_frame_bytes(chunks[i].src_bytes);
  return total;
}

GpuStatus create_context(const BatchLimits& limits, Context** out, std::string* error) {
  *out = nullptr;
  auto report = [&](const std::string& msg, GpuStatus s) {
    if (error) *error = msg;
    return s;
  };
  if (!kern::limits_valid(limits))
    return report(
        "create_context: limits out of range (max_chunks * max_chunk_bytes / 64 must "
        "stay below 2^27)",
        GpuStatus::kInvalidArgument);
  int device = 0, count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return report(std::string("create_context: no CUDA device: ") +
                      (e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0"),
                  GpuStatus::kNoDevice);
  Context* c = new (std::nothrow) Context;
  if (!c) return report("create_context: out of host memory", GpuStatus::kCudaError);
  c->limits = limits;
  auto failed = [&](const char* where, cudaError_t err) {
    c->fail(where, err);
    const std::string msg = "create_context: " + c->error;
    delete c;
    return report(msg, GpuStatus::kCudaError);
  };
  if ((e = cudaGetDevice(&device)) != cudaSuccess) return failed("cudaGetDevice", e);
  if ((e = cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device)) !=
      cudaSuccess)
    return failed("cudaDeviceGetAttribute", e);
  const uint64_t n = limits.max_chunks;
  c->max_units = n * kern::max_units_per_chunk(limits.max_chunk_bytes);
  c->max_tiles = n * kern::max_tiles_per_chunk(limits.max_chunk_bytes);
  const uint64_t rec_entries = c->max_units + 1;
#define SQZ_ALLOC_D(ptr, count)                                                         \
  if ((e = cudaMalloc(reinterpret_cast<void**>(&c->ptr), sizeof(*c->ptr) * (count))) != \
      cudaSuccess)                                                                      \
  return failed("cudaMalloc " #ptr, e)
#define SQZ_ALLOC_H(ptr, count)                                                             \
  if ((e = cudaMallocHost(reinterpret_cast<void**>(&c->ptr), sizeof(*c->ptr) * (count))) != \
      cudaSuccess)                                                                          \
  return failed("cudaMallocHost " #ptr, e)
  SQZ_ALLOC_D(d_cdesc, n);
  SQZ_ALLOC_D(d_ddesc, n);
  SQZ_ALLOC_D(d_partials, c->max_tiles > 0 ? c->max_tiles : 1);
  SQZ_ALLOC_D(d_quant, n);
  SQZ_ALLOC_D(d_dstate, n);
  SQZ_ALLOC_D(d_rec, rec_entries);
  SQZ_ALLOC_D(d_scan, rec_entries);
  SQZ_ALLOC_D(d_results, n);
  SQZ_ALLOC_D(d_dresults, n);
  c->arena = kern::make_arena(nullptr, limits.max_chunk_bytes);
  SQZ_ALLOC_D(d_arena, n * c->arena.slot_bytes);
  c->arena.base = c->d_arena;
  SQZ_ALLOC_D(d_staged, n);
  c->layout_bytes = kern::layout_staging_capacity(limits.max_chunks);
  SQZ_ALLOC_D(d_layouts, c->layout_bytes);
  SQZ_ALLOC_H(h_cdesc, n);
  SQZ_ALLOC_H(h_layouts, c->layout_bytes);
  SQZ_ALLOC_H(h_ddesc, n);
  SQZ_ALLOC_H(h_results, n);
  SQZ_ALLOC_H(h_dresults, n);
#undef SQZ_ALLOC_D
#undef SQZ_ALLOC_H
  size_t temp = 0;
  if ((e = cub::DeviceScan::ExclusiveSum(nullptr, temp, c->d_rec, c->d_scan, (int)rec_entries)) !=
      cudaSuccess)
    return failed("scan size", e);
  c->scan_temp_bytes = temp + 256;
  if ((e = cudaMalloc(&c->d_scan_temp, c->scan_temp_bytes)) != cudaSuccess)
    return failed("cudaMalloc scan", e);
  if ((e = cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming)) != cudaSuccess)
    return failed("cudaEventCreate", e);
  if (c->preload_kernels() != GpuStatus::kOk) {
    const std::string msg = "create_context: " + c->error;
    delete c;
    return report(msg, GpuStatus::kCudaError);
  }
  *out = c;
  return GpuStatus::kOk;
}

void destroy_context(Context* ctx) {
  if (!ctx) return;
  if (ctx->pending) cudaEventSynchronize(ctx->done);  // the pinned buffers may still be read
  delete ctx;
}

const char* last_error(const Context* ctx) {
  return ctx ? ctx->error.c_str() : "no context";
}

GpuStatus compress_batch(Context* ctx, const ChunkToCompress* chunks, uint32_t n_chunks, void* dst,
                         uint64_t dst_capacity, Stream stream_in) {
  if (!ctx) return GpuStatus::kInvalidArgument;
  const cudaStream_t stream = stream_in;
  if (n_chunks > ctx->limits.max_chunks) return ctx->invalid("compress_batch: too many chunks");
  if (n_chunks && !chunks) return ctx->invalid("compress_batch: null chunk array");
  SQZ_TRY(ctx->check_idle());
  kern::CompressPlan plan;
  kern::LayoutStaging layouts;
  layouts.host = ctx->h_layouts;
  layouts.device = ctx->d_layouts;
  layouts.capacity = ctx->layout_bytes;
  if (kern::plan_compress(chunks, n_chunks, ctx->limits.max_chunk_bytes, ctx->h_cdesc, &plan,
                          &layouts) != GpuStatus::kOk)
    return ctx->invalid("compress_batch: invalid chunk (parameters, null source or too large)");
  if (dst_capacity < batch_output_capacity(chunks, n_chunks) || (!dst && n_chunks)) {
    ctx->error = "compress_batch: output below batch_output_capacity()";
    return GpuStatus::kOutputTooSmall;
  }
  cudaError_t e;
  if (n_chunks) {
    if (layouts.used > 0 && (e = cudaMemcpyAsync(ctx->d_layouts, ctx->h_layouts, layouts.used,
                                                 cudaMemcpyHostToDevice, stream)) != cudaSuccess)
      return ctx->fail("compress_batch: layouts", e);
    if ((e = cudaMemcpyAsync(ctx->d_cdesc, ctx->h_cdesc, sizeof(kern::CompressChunkDesc) * n_chunks,
                             cudaMemcpyHostToDevice, stream)) != cudaSuccess) {
      ctx->fail("compress_batch: descriptors", e);
      // The layouts' copy may be queued: it still reads the pinned staging.
      return layouts.used > 0 ? ctx->abandon(GpuStatus::kCudaError, stream) : GpuStatus::kCudaError;
    }
    const kern::CompressArgs a{ctx->d_cdesc,    n_chunks,       plan.n_units,
                               ctx->d_partials, ctx->d_quant,   ctx->d_rec,
                               ctx->d_scan,     ctx->d_results, static_cast<uint8_t*>(dst),
                               ctx->arena,      ctx->d_staged};
    Context::Launcher launcher{ctx, stream};
    SQZ_TRY_QUEUED(kern::run_compress(launcher, a, plan));
    if ((e = cudaMemcpyAsync(ctx->h_results, ctx->d_results, sizeof(FrameResult) * n_chunks,
                             cudaMemcpyDeviceToHost, stream)) != cudaSuccess)
      return ctx->abandon(ctx->fail("compress_batch: results", e), stream);
  }
  if ((e = cudaEventRecord(ctx->done, stream)) != cudaSuccess)
    return ctx->fail("compress_batch: event", e);
  ctx->pending = true;
  return GpuStatus::kOk;
}

GpuStatus decompress_batch(Context* ctx, const FrameToDecompress* frames, uint32_t n_frames,
                           Stream stream_in) {
  if (!ctx) return GpuStatus::kInvalidArgument;
  const cudaStream_t stream = stream_in;
  if (n_frames > ctx->limits.max_chunks) return ctx->invalid("decompress_batch: too many frames");
  if (n_frames && !frames) return ctx->invalid("decompress_batch: null frame array");
  SQZ_TRY(ctx->check_idle());
  kern::DecodePlan plan;
  kern::plan_decompress(frames, n_frames, ctx->limits.max_chunk_bytes, ctx->h_ddesc, &plan);
  cudaError_t e;
  if (n_frames) {
    if ((e = cudaMemcpyAsync(ctx->d_ddesc, ctx->h_ddesc, sizeof(kern::DecodeChunkDesc) * n_frames,
                             cudaMemcpyHostToDevice, stream)) != cudaSuccess)
      return ctx->fail("decompress_batch: descriptors", e);
    const kern::DecompressArgs a{ctx->d_ddesc,    n_frames,   plan.n_units,
                                 ctx->d_dstate,   ctx->d_rec, ctx->d_scan,
                                 ctx->d_dresults, ctx->arena, ctx->d_staged};
    Context::Launcher launcher{ctx, stream};
    SQZ_TRY_QUEUED(kern::run_decompress(launcher, a, plan));
    if ((e = cudaMemcpyAsync(ctx->h_dresults, ctx->d_dresults, sizeof(DecodeResult) * n_frames,
                             cudaMemcpyDeviceToHost, stream)) != cudaSuccess)
      return ctx->abandon(ctx->fail("decompress_batch: results", e), stream);
  }
  if ((e = cudaEventRecord(ctx->done, stream)) != cudaSuccess)
    return ctx->fail("decompress_batch: event", e);
  ctx->pending = true;
  return GpuStatus::kOk;
}

GpuStatus query(Context* ctx) {
  if (!ctx) return GpuStatus::kInvalidArgument;
  return ctx->check_idle();
}

GpuStatus synchronize(Context* ctx) {
  if (!ctx) return GpuStatus::kInvalidArgument;
  if (!ctx->pending) return GpuStatus::kOk;
  const cudaError_t e = cudaEventSynchronize(ctx->done);
  ctx->pending = false;
  if (e != cudaSuccess) return ctx->fail("synchronize", e);
  return GpuStatus::kOk;
}

const FrameResult* host_frame_results(const Context* ctx) {
  return ctx ? ctx->h_results : nullptr;
}
const DecodeResult* host_decode_results(const Context* ctx) {
  return ctx ? ctx->h_dresults : nullptr;
}
const FrameResult* device_frame_results(const Context* ctx) {
  return ctx ? ctx->d_results : nullptr;
}

GpuStatus compress_frame(Context* ctx, const CodecParams& params, const void* src,
                         uint64_t src_bytes, void* dst, uint64_t dst_capacity, Stream stream) {
  ChunkToCompress c;
  c.src = src;
  c.src_bytes = src_bytes;
  c.params = params;
  return compress_batch(ctx, &c, 1, dst, dst_capacity, stream);
}

}  // namespace squeeze::gpu
