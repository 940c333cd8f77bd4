// Runs the CUDA backend's kernels (kernel_model.h) on the CPU, thread by thread and phase by
// phase, with the same shared-memory structs, and the whole batched pipeline around them (a
// plain loop stands in for the CUB scan and computes the same offsets). The unit tests use it
// to check the GPU code's bytes against the CPU backend on a machine without a GPU.
// Plain C++: not built with nvcc.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "compress/cuda/batch_plan.h"
#include "compress/cuda/pipeline.h"
#include "compress/cuda/staged_slot.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::kern {

// A warp's lanes in lock-step code (kernel_model.h, w.collective): one CPU thread steps
// through all 32.
struct CpuLanes {
  template <class T>
  struct Vec {
    T v[kWarpLanes];
    T& operator[](uint32_t lane) { return v[lane]; }
    const T& operator[](uint32_t lane) const { return v[lane]; }
  };
  template <class F>
  void each(F f) const {
    for (uint32_t l = 0; l < kWarpLanes; ++l) f(l);
  }
  template <class F>
  uint32_t ballot(F f) const {
    uint32_t m = 0;
    for (uint32_t l = 0; l < kWarpLanes; ++l)
      if (f(l)) m |= 1u << l;
    return m;
  }
};

// Warp operations over the 32 lanes' registers as they were when the phase started.
template <class Regs>
struct CpuWarp {
  const Regs* lanes;  // 32 entries

  // Lock-step code: once per warp, by its lane 0.
  template <class F>
  void collective(const Thread& t, F body) const {
    if (t.lane == 0) body(CpuLanes{});
  }

  template <class F>
  uint32_t ballot(F f) const {
    uint32_t m = 0;
    for (uint32_t l = 0; l < kWarpLanes; ++l)
      if (f(lanes[l])) m |= 1u << l;
    return m;
  }
  template <class F>
  uint32_t reduce_or(F f) const {
    uint32_t v = 0;
    for (uint32_t l = 0; l < kWarpLanes; ++l) v |= (uint32_t)f(lanes[l]);
    return v;
  }
  template <class F>
  float reduce_min(F f) const {
    float v = f(lanes[0]);
    for (uint32_t l = 1; l < kWarpLanes; ++l) {
      const float x = f(lanes[l]);
      v = x < v ? x : v;
    }
    return v;
  }
  template <class F>
  float reduce_max(F f) const {
    float v = f(lanes[0]);
    for (uint32_t l = 1; l < kWarpLanes; ++l) {
      const float x = f(lanes[l]);
      v = x > v ? x : v;
    }
    return v;
  }
  template <class F>
  uint32_t shfl(F f, uint32_t src_lane) const {
    return (uint32_t)f(lanes[src_lane % kWarpLanes]);
  }
};

template <int... Ps, class F>
void for_each_phase(std::integer_sequence<int, Ps...>, F& f) {
  (f(std::integral_constant<int, Ps>{}), ...);
}

// Executes kernel K over tiles [0, n_tiles): for each tile, for each phase, for each thread.
template <class K>
void run_grid(const typename K::Args& args, uint64_t n_tiles) {
  using Regs = typename K::Regs;
  std::vector<Regs> regs(kCtaThreads), snapshot(kCtaThreads);
  for (uint64_t tile = 0; tile < n_tiles; ++tile) {
    typename K::Shared shared;
    std::memset(static_cast<void*>(&shared), 0xa5, sizeof(shared));  // like uninitialized
    for (Regs& r : regs) r = Regs{};
    auto run_phase = [&](auto phase_constant) {
      constexpr int P = decltype(phase_constant)::value;
      snapshot = regs;
      for (uint32_t th = 0; th < kCtaThreads; ++th) {
        const Thread t{tile, th, th / kWarpLanes, th % kWarpLanes};
        const CpuWarp<Regs> w{&snapshot[t.warp * kWarpLanes]};
        K::template phase<P>(args, t, w, regs[th], shared);
      }
    };
    for_each_phase(std::make_integer_sequence<int, K::kPhases>{}, run_phase);
  }
}

// The executor of pipeline.h on the CPU: run_grid, and a loop for the scan (the offsets
// cub::DeviceScan::ExclusiveSum computes).
struct CpuExecutor {
  template <class K>
  gpu::GpuStatus run(const char*, const typename K::Args& a, uint64_t n_tiles) {
    run_grid<K>(a, n_tiles);
    return gpu::GpuStatus::kOk;
  }
  gpu::GpuStatus scan(const uint64_t* in, uint64_t* out, uint64_t n) {
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t v = in[i];
      out[i] = acc;
      acc += v;
    }
    return gpu::GpuStatus::kOk;
  }
};

inline uint64_t output_capacity(const gpu::ChunkToCompress* chunks, uint32_t n) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) total += max_frame_bytes(chunks[i].src_bytes);
  return total;
}

// The staged kernels' arena for n slots, in host memory (filled with a pattern: the kernels must
// not depend on what a previous batch left there). The runner sizes the slots for the batch's
// largest chunk rather than the context's: the kernels only rely on a slot holding its chunk.
struct HostArena {
  std::vector<uint64_t> words;
  StagedArena arena;
  HostArena(uint64_t n, uint64_t max_chunk_bytes) {
    arena = make_arena(nullptr, max_chunk_bytes);
    words.assign((n * arena.slot_bytes + 7) / 8 + 1, 0x5a5a5a5a5a5a5a5aull);
    arena.base = reinterpret_cast<uint8_t*>(words.data());
  }
};

// The whole compress pipeline of codec_cuda.cu, on host memory. dst needs
// output_capacity(chunks, n) bytes; results receives one FrameResult per chunk.
inline gpu::GpuStatus runner_compress_batch(const gpu::ChunkToCompress* chunks, uint32_t n,
                                            uint64_t max_chunk_bytes, uint8_t* dst,
                                            uint64_t dst_capacity,
                                            std::vector<gpu::FrameResult>* results) {
  std::vector<CompressChunkDesc> descs(n);
  CompressPlan plan;
  std::vector<uint64_t> layout_words(layout_staging_capacity(n) / 8 + 1);
  LayoutStaging layouts;
  layouts.host = reinterpret_cast<uint8_t*>(layout_words.data());
  layouts.device = layouts.host;
  layouts.capacity = layout_words.size() * 8;
  const gpu::GpuStatus s = plan_compress(chunks, n, max_chunk_bytes, descs.data(), &plan, &layouts);
  if (s != gpu::GpuStatus::kOk) return s;
  if (dst_capacity < output_capacity(chunks, n)) return gpu::GpuStatus::kOutputTooSmall;
  std::vector<MinMax> partials(plan.n_tiles);
  std::vector<ChunkQuant> quant(n);
  std::vector<uint64_t> rec(plan.n_units + 1, 0x5a5a5a5a5a5a5a5aull);  // all overwritten
  std::vector<uint64_t> scan(plan.n_units + 1);
  uint64_t largest = 0;
  for (uint32_t i = 0; i < n; ++i)
    if ((descs[i].staged || descs[i].planes || descs[i].table != kTableNone) &&
        descs[i].bytes > largest)
      largest = descs[i].bytes;
  HostArena arena(plan.any_staged || plan.any_planes ? n : 0, largest);
  std::vector<StagedState> staged(n);
  results->assign(n, gpu::FrameResult{});
  CompressArgs a{descs.data(), n,           plan.n_units, partials.data(),
                 quant.data(), rec.data(),  scan.data(),  results->data(),
                 dst,          arena.arena, staged.data()};
  if (n == 0) return gpu::GpuStatus::kOk;
  CpuExecutor exec;
  return run_compress(exec, a, plan);
}

// The whole decompress pipeline of codec_cuda.cu, on host memory.
inline gpu::GpuStatus runner_decompress_batch(const gpu::FrameToDecompress* frames, uint32_t n,
                                              uint64_t max_chunk_bytes,
                                              std::vector<gpu::DecodeResult>* results) {
  std::vector<DecodeChunkDesc> descs(n);
  DecodePlan plan;
  const gpu::GpuStatus s = plan_decompress(frames, n, max_chunk_bytes, descs.data(), &plan);
  if (s != gpu::GpuStatus::kOk) return s;
  std::vector<DecodeState> state(n);
  std::vector<uint64_t> rec(plan.n_units + 1, 0x5a5a5a5a5a5a5a5aull);
  std::vector<uint64_t> scan(plan.n_units + 1);
  uint64_t largest = 0;
  for (uint32_t i = 0; i < n; ++i)
    if (descs[i].unit_capacity_bytes > largest) largest = descs[i].unit_capacity_bytes;
  HostArena arena(n, largest);
  std::vector<StagedState> staged(n);
  results->assign(n, gpu::DecodeResult{});
  DecompressArgs a{descs.data(),    n,           plan.n_units,
                   state.data(),    rec.data(),  scan.data(),
                   results->data(), arena.arena, staged.data()};
  if (n == 0) return gpu::GpuStatus::kOk;
  CpuExecutor exec;
  return run_decompress(exec, a, plan);
}

}  // namespace squeeze::kern
