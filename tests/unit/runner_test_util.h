// What the CPU runner's batch tests share: a batch of chunks compressed both ways (the CUDA
// kernels' pipeline through compress/cuda/cpu_runner.h in one batch, squeeze::compress() chunk by
// chunk) with the checks every such test makes on the frames.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/cuda/cpu_runner.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::test {

constexpr uint8_t kCanary = 0xcd;
constexpr size_t kGuard = 64;

struct BothWays {
  std::vector<std::vector<uint8_t>> inputs;  // each chunk's bytes behind its misalignment
  std::vector<gpu::ChunkToCompress> in;
  uint64_t cap = 0;          // the runner's output capacity
  std::vector<uint8_t> out;  // the runner's frames, then canaries
  std::vector<gpu::FrameResult> results;
  std::vector<std::vector<uint8_t>> cpu_frames;
  std::vector<FrameStats> cpu_stats;
};

// Compresses the chunks both ways and checks that the runner's frames are the CPU backend's byte
// for byte, placed back to back within the capacity, with the CPU's method, outliers and applied
// bound, and that nothing is written past the last frame. describe names a chunk in failures.
inline void compress_both_ways(const std::vector<TestChunk>& chunks, uint64_t max_chunk_bytes,
                               const std::function<std::string(const TestChunk&, size_t)>& describe,
                               BothWays* b) {
  const uint32_t n = (uint32_t)chunks.size();
  b->inputs.assign(n, {});
  b->in.assign(n, gpu::ChunkToCompress{});
  for (uint32_t i = 0; i < n; ++i) {
    b->inputs[i].assign(chunks[i].misalign, 0x77);
    b->inputs[i].insert(b->inputs[i].end(), chunks[i].bytes.begin(), chunks[i].bytes.end());
    b->in[i].src = b->inputs[i].data() + chunks[i].misalign;
    b->in[i].src_bytes = chunks[i].bytes.size();
    b->in[i].params = chunks[i].params;
  }
  b->cap = kern::output_capacity(b->in.data(), n);
  b->out.assign(b->cap + kGuard, kCanary);
  ASSERT_EQ(kern::runner_compress_batch(b->in.data(), n, max_chunk_bytes, b->out.data(), b->cap,
                                        &b->results),
            gpu::GpuStatus::kOk);
  ASSERT_EQ(b->results.size(), n);
  b->cpu_frames.assign(n, {});
  b->cpu_stats.assign(n, FrameStats{});
  uint64_t expected_offset = 0;
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE(describe(chunks[i], i));
    std::vector<uint8_t>& frame = b->cpu_frames[i];
    frame.resize(max_frame_bytes(chunks[i].bytes.size()));
    size_t frame_bytes = 0;
    FrameStats& stats = b->cpu_stats[i];
    ASSERT_EQ(compress(chunks[i].params, b->in[i].src, chunks[i].bytes.size(), frame.data(),
                       frame.size(), &frame_bytes, &stats),
              Status::kOk);
    frame.resize(frame_bytes);
    const gpu::FrameResult& r = b->results[i];
    EXPECT_EQ(r.offset, expected_offset);
    ASSERT_EQ(r.bytes, frame_bytes);
    EXPECT_EQ(r.method, stats.method);
    EXPECT_EQ(r.outliers, stats.outliers);
    EXPECT_EQ(r.applied_bound, stats.applied_bound);
    ASSERT_LE(r.offset + r.bytes, b->cap);
    if (!same_bytes(b->out.data() + r.offset, frame.data(), frame_bytes)) {
      size_t first = 0;
      while (b->out[r.offset + first] == frame[first]) ++first;
      ADD_FAILURE() << "runner frame differs from the CPU backend's at byte " << first << " of "
                    << frame_bytes << " (method " << (int)stats.method << ")";
    }
    expected_offset += r.bytes;
  }
  for (uint64_t i = expected_offset; i < b->out.size(); ++i)
    ASSERT_EQ(b->out[i], kCanary) << "compress wrote past the last frame at " << i;
}

// One (possibly damaged) frame decoded by the runner and by the CPU decoder into destinations of
// cap bytes; checks that the runner wrote nothing past cap.
struct DecodedBothWays {
  gpu::DecodeResult runner{};
  std::vector<uint8_t> runner_dst;
  Status cpu = Status::kOk;
  std::vector<uint8_t> cpu_dst;
  size_t cpu_bytes = 0;
  std::string cpu_reason;  // last_reject_reason() after the CPU decode
};

inline void decode_both_ways(const std::vector<uint8_t>& frame, uint64_t cap, DecodedBothWays* d) {
  const std::vector<uint8_t> frame_copy(frame);  // the runner must not depend on the CPU's input
  d->runner_dst.assign(cap + kGuard, kCanary);
  gpu::FrameToDecompress f;
  f.frame = frame_copy.data();
  f.frame_bytes = frame_copy.size();
  f.dst = d->runner_dst.data();
  f.dst_capacity = cap;
  std::vector<gpu::DecodeResult> res;
  ASSERT_EQ(kern::runner_decompress_batch(&f, 1, 1 << 20, &res), gpu::GpuStatus::kOk);
  d->runner = res[0];
  for (size_t k = cap; k < d->runner_dst.size(); ++k)
    ASSERT_EQ(d->runner_dst[k], kCanary) << "runner decode wrote past the capacity at " << k;
  d->cpu_dst.assign(cap, kCanary);
  d->cpu_bytes = 0;
  d->cpu = decompress(frame.data(), frame.size(), d->cpu_dst.data(), cap, &d->cpu_bytes);
  d->cpu_reason = last_reject_reason();
}

}  // namespace squeeze::test
