// squeeze-gpu-bench: throughput of the CUDA codec against a device-to-device cudaMemcpyAsync
// measured in the same run, on (1) one 64 MiB frame of f32 data and (2) a batch of 64 x 128 KiB
// chunks (time per batch). Medians of cudaEvent timings. The data: DLRM-like synthetic rows, or
// --input FILE (f32, e.g. trained payloads of data/corpus) repeated to 64 MiB. A program, not a
// test; without a GPU it says so and exits 0.
//
//   squeeze-gpu-bench [--iters N] [--rel BOUND | --abs BOUND | --local BOUND] [--input FILE]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"

namespace {

using squeeze::gpu::GpuStatus;

int g_iters = 20;

bool cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "squeeze-gpu-bench: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

// DLRM-like pooled embedding payload: rows of 128 floats, most of them repeats of a few hundred
// distinct rows (small tables, popular ids), values ~N(0, 0.05).
std::vector<float> dlrm_like(size_t n, uint64_t seed) {
  constexpr size_t kDim = 128, kDistinct = 512;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> table(kDim * kDistinct);
  for (float& x : table) x = g(rng);
  std::vector<float> v(n);
  for (size_t r = 0; r * kDim < n; ++r) {
    const bool fresh = rng() % 3 == 0;
    const size_t row = rng() % kDistinct;
    for (size_t k = 0; k < kDim && r * kDim + k < n; ++k)
      v[r * kDim + k] = fresh ? g(rng) : table[row * kDim + k];
  }
  return v;
}

// Median milliseconds of `iters` runs of fn between two events on stream.
double median_ms(cudaStream_t stream, const std::function<bool()>& fn) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int i = 0; i < g_iters + 2; ++i) {
    cudaEventRecord(a, stream);
    if (!fn()) return -1.0;
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (i >= 2) ms.push_back(t);  // two warm-up runs
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double gbps(uint64_t bytes, double ms) {
  return (double)bytes / (ms * 1e-3) / 1e9;
}

struct Result {
  double copy_ms, comp_ms, decomp_ms;
  uint64_t in_bytes, out_bytes;
};

// Compresses and decompresses `chunks` (device) in batches, after checking once that the
// decoded output is within the bound; returns medians.
bool run_case(const char* name, cudaStream_t stream, const std::vector<float>& host,
              uint32_t n_chunks, squeeze::CodecParams params, Result* res) {
  const uint64_t total = host.size() * 4;
  const uint64_t chunk = total / n_chunks;
  squeeze::gpu::BatchLimits limits;
  limits.max_chunks = n_chunks;
  limits.max_chunk_bytes = chunk;
  squeeze::gpu::Context* ctx = nullptr;
  std::string err;
  if (squeeze::gpu::create_context(limits, &ctx, &err) != GpuStatus::kOk) {
    std::fprintf(stderr, "squeeze-gpu-bench: %s\n", err.c_str());
    return false;
  }
  void *src = nullptr, *copy = nullptr, *frames = nullptr, *out = nullptr;
  std::vector<squeeze::gpu::ChunkToCompress> in(n_chunks);
  for (uint32_t i = 0; i < n_chunks; ++i) {
    in[i].src_bytes = chunk;
    in[i].params = params;
  }
  const uint64_t cap = squeeze::gpu::batch_output_capacity(in.data(), n_chunks);
  bool ok = cuda_ok(cudaMalloc(&src, total), "cudaMalloc") &&
            cuda_ok(cudaMalloc(&copy, total), "cudaMalloc") &&
            cuda_ok(cudaMalloc(&frames, cap), "cudaMalloc") &&
            cuda_ok(cudaMalloc(&out, total), "cudaMalloc") &&
            cuda_ok(cudaMemcpy(src, host.data(), total, cudaMemcpyHostToDevice), "upload");
  std::vector<squeeze::gpu::FrameToDecompress> fr(n_chunks);
  if (ok) {
    for (uint32_t i = 0; i < n_chunks; ++i) in[i].src = static_cast<uint8_t*>(src) + i * chunk;
    ok = squeeze::gpu::compress_batch(ctx, in.data(), n_chunks, frames, cap, stream) ==
             GpuStatus::kOk &&
         squeeze::gpu::synchronize(ctx) == GpuStatus::kOk;
  }
  if (ok) {
    res->in_bytes = total;
    res->out_bytes = 0;
    const squeeze::gpu::FrameResult* r = squeeze::gpu::host_frame_results(ctx);
    for (uint32_t i = 0; i < n_chunks; ++i) {
      res->out_bytes += r[i].bytes;
      fr[i].frame = static_cast<uint8_t*>(frames) + r[i].offset;
      fr[i].frame_bytes = r[i].bytes;
      fr[i].dst = static_cast<uint8_t*>(out) + i * chunk;
      fr[i].dst_capacity = chunk;
    }
    ok = squeeze::gpu::decompress_batch(ctx, fr.data(), n_chunks, stream) == GpuStatus::kOk &&
         squeeze::gpu::synchronize(ctx) == GpuStatus::kOk;
    // Correctness once: the GPU's frames are the CPU encoder's byte for byte, and the GPU decodes
    // them to the bytes the CPU decoder writes.
    std::vector<float> back(host.size());
    std::vector<uint8_t> gpu_frames(cap), cpu_frame(squeeze::max_frame_bytes(chunk));
    std::vector<float> cpu_back(chunk / 4);
    ok = ok && cuda_ok(cudaMemcpy(back.data(), out, total, cudaMemcpyDeviceToHost), "download") &&
         cuda_ok(cudaMemcpy(gpu_frames.data(), frames, cap, cudaMemcpyDeviceToHost), "download");
    for (uint32_t i = 0; ok && i < n_chunks; ++i) {
      if (squeeze::gpu::host_decode_results(ctx)[i].status != 0) {
        std::fprintf(stderr, "squeeze-gpu-bench: %s: chunk %u did not decode\n", name, i);
        ok = false;
        break;
      }
      size_t cpu_bytes = 0, out_bytes = 0;
      const uint8_t* gf = gpu_frames.data() + r[i].offset;
      if (squeeze::compress(params, host.data() + i * (chunk / 4), chunk, cpu_frame.data(),
                            cpu_frame.size(), &cpu_bytes) != squeeze::Status::kOk ||
          cpu_bytes != r[i].bytes || std::memcmp(cpu_frame.data(), gf, cpu_bytes) != 0) {
        std::fprintf(stderr,
                     "squeeze-gpu-bench: %s: chunk %u: the GPU's frame (%llu bytes) is not the "
                     "CPU's (%zu bytes)\n",
                     name, i, (unsigned long long)r[i].bytes, cpu_bytes);
        ok = false;
        break;
      }
      if (squeeze::decompress(gf, r[i].bytes, cpu_back.data(), chunk, &out_bytes) !=
              squeeze::Status::kOk ||
          out_bytes != chunk ||
          std::memcmp(cpu_back.data(), back.data() + i * (chunk / 4), chunk) != 0) {
        std::fprintf(stderr, "squeeze-gpu-bench: %s: chunk %u: the GPU decoded other bytes\n", name,
                     i);
        ok = false;
      }
    }
    if (ok)
      std::printf("  %s: %u GPU frames equal the CPU's; GPU decode equals the CPU's\n", name,
                  n_chunks);
  }
  if (ok) {
    res->copy_ms = median_ms(stream, [&] {
      return cuda_ok(cudaMemcpyAsync(copy, src, total, cudaMemcpyDeviceToDevice, stream), "copy");
    });
    res->comp_ms = median_ms(stream, [&] {
      return squeeze::gpu::compress_batch(ctx, in.data(), n_chunks, frames, cap, stream) ==
                 GpuStatus::kOk &&
             squeeze::gpu::synchronize(ctx) == GpuStatus::kOk;
    });
    res->decomp_ms = median_ms(stream, [&] {
      return squeeze::gpu::decompress_batch(ctx, fr.data(), n_chunks, stream) == GpuStatus::kOk &&
             squeeze::gpu::synchronize(ctx) == GpuStatus::kOk;
    });
    ok = res->copy_ms > 0 && res->comp_ms > 0 && res->decomp_ms > 0;
  }
  if (!ok && ctx)
    std::fprintf(stderr, "squeeze-gpu-bench: %s: %s\n", name, squeeze::gpu::last_error(ctx));
  cudaFree(src);
  cudaFree(copy);
  cudaFree(frames);
  cudaFree(out);
  squeeze::gpu::destroy_context(ctx);
  return ok;
}

void print(const char* name, const Result& r) {
  std::printf("%s\n", name);
  std::printf("  input %.1f MiB, frames %.2f MiB, ratio %.2fx\n", r.in_bytes / 1048576.0,
              r.out_bytes / 1048576.0, (double)r.in_bytes / (double)r.out_bytes);
  std::printf("  cudaMemcpyAsync D2D : %8.3f ms  %7.1f GB/s\n", r.copy_ms,
              gbps(r.in_bytes, r.copy_ms));
  std::printf("  compress            : %8.3f ms  %7.1f GB/s  (%.2fx of the copy)\n", r.comp_ms,
              gbps(r.in_bytes, r.comp_ms), r.copy_ms / r.comp_ms);
  std::printf("  decompress          : %8.3f ms  %7.1f GB/s  (%.2fx of the copy)\n", r.decomp_ms,
              gbps(r.in_bytes, r.decomp_ms), r.copy_ms / r.decomp_ms);
}

// The f32 values of `path` repeated to n values (empty on a read error or an empty file).
std::vector<float> tiled_file(const char* path, size_t n) {
  std::vector<float> file;
  if (FILE* f = std::fopen(path, "rb")) {
    float buf[4096];
    size_t got;
    while ((got = std::fread(buf, sizeof(float), 4096, f)) > 0)
      file.insert(file.end(), buf, buf + got);
    std::fclose(f);
  }
  std::vector<float> v;
  if (file.empty()) return v;
  v.resize(n);
  for (size_t i = 0; i < n; ++i) v[i] = file[i % file.size()];
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  squeeze::CodecParams params;
  params.dtype = squeeze::DType::kF32;
  params.mode = squeeze::BoundMode::kRel;
  params.bound = 1e-3;
  // What a GPU receiver decodes: everything but the stream history.
  params.caps = squeeze::kCapsAll & ~squeeze::kCapsCpuOnly;
  const char* input = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc) {
      g_iters = std::max(1, std::atoi(argv[++i]));
    } else if ((a == "--rel" || a == "--abs" || a == "--local") && i + 1 < argc) {
      params.mode = a == "--rel"   ? squeeze::BoundMode::kRel
                    : a == "--abs" ? squeeze::BoundMode::kAbs
                                   : squeeze::BoundMode::kLocal;
      params.bound = std::atof(argv[++i]);
    } else if (a == "--input" && i + 1 < argc) {
      input = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: squeeze-gpu-bench [--iters N] [--rel BOUND | --abs BOUND | --local "
                   "BOUND] [--input FILE]\n");
      return 2;
    }
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("squeeze-gpu-bench: no CUDA device (%s); nothing to measure\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    return 0;
  }
  cudaDeviceProp prop;
  if (!cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  const char* mode = params.mode == squeeze::BoundMode::kRel   ? "rel"
                     : params.mode == squeeze::BoundMode::kAbs ? "abs"
                                                               : "local";
  std::printf("GPU: %s (%d SMs), bound: %s %g, data: %s, %d timed iterations (median)\n", prop.name,
              prop.multiProcessorCount, mode, params.bound, input ? input : "DLRM-like synthetic",
              g_iters);
  cudaStream_t stream;
  if (!cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream")) return 1;

  const std::vector<float> big =
      input ? tiled_file(input, (64u << 20) / 4) : dlrm_like((64u << 20) / 4, 1);
  if (big.empty()) {
    std::fprintf(stderr, "squeeze-gpu-bench: cannot read f32 values from %s\n", input);
    return 1;
  }
  Result r{};
  if (!run_case("64 MiB, one frame", stream, big, 1, params, &r)) return 1;
  print("64 MiB DLRM-like f32, one frame", r);

  const std::vector<float> small(big.begin(), big.begin() + (64u * (128u << 10)) / 4);
  if (!run_case("64 x 128 KiB", stream, small, 64, params, &r)) return 1;
  print("batch of 64 x 128 KiB chunks (times are per batch)", r);
  cudaStreamDestroy(stream);
  return 0;
}
