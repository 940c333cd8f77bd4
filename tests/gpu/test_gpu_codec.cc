// The CUDA backend on a real GPU: frames byte-identical to the CPU backend's, the bound on every
// element, each side decoding the other's frames, hostile frames, and the NCCL-sized batch of
// 64 x 128 KiB chunks, the lossless method for every dtype. Without a CUDA device every test is
// skipped and says why.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/block.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"

namespace squeeze {
namespace {

using test::elem_value;
using test::make_chunk;
using test::same_bytes;
using test::TestChunk;
using test::to_bytes;

// Empty when a device is usable, else the reason to skip.
std::string no_device_reason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(e);
  if (count == 0) return "no CUDA device: device count is 0";
  return "";
}

#define SQZ_CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

// Device buffer freed at scope exit.
struct DeviceBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    if (cudaMalloc(&p, n ? n : 1) != cudaSuccess) p = nullptr;
  }
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint8_t* data() const { return static_cast<uint8_t*>(p); }
};

struct ContextHolder {
  gpu::Context* ctx = nullptr;
  ~ContextHolder() { gpu::destroy_context(ctx); }
};

class GpuCodec : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = no_device_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), cudaSuccess);
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

// Compresses the chunks on the GPU in one batch, compares every frame with the CPU backend's,
// decodes the CPU frames on the GPU and the GPU frames on the CPU, and checks the bound.
void check_batch_as_given(cudaStream_t stream, const std::vector<TestChunk>& chunks,
                          uint64_t max_chunk_bytes) {
  const uint32_t n = (uint32_t)chunks.size();
  ContextHolder h;
  std::string err;
  gpu::BatchLimits limits;
  limits.max_chunks = n ? n : 1;
  limits.max_chunk_bytes = max_chunk_bytes;
  ASSERT_EQ(gpu::create_context(limits, &h.ctx, &err), gpu::GpuStatus::kOk) << err;

  // Inputs, each at its misalignment, in one device buffer.
  std::vector<size_t> in_offset(n);
  size_t in_total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    in_offset[i] = in_total + chunks[i].misalign;
    in_total = in_offset[i] + chunks[i].bytes.size() + 16;
  }
  DeviceBuffer d_in(in_total);
  ASSERT_NE(d_in.p, nullptr);
  std::vector<gpu::ChunkToCompress> in(n);
  for (uint32_t i = 0; i < n; ++i) {
    SQZ_CUDA_OK(cudaMemcpy(d_in.data() + in_offset[i], chunks[i].bytes.data(),
                           chunks[i].bytes.size(), cudaMemcpyHostToDevice));
    in[i].src = d_in.data() + in_offset[i];
    in[i].src_bytes = chunks[i].bytes.size();
    in[i].params = chunks[i].params;
  }
  const uint64_t cap = gpu::batch_output_capacity(in.data(), n);
  DeviceBuffer d_out(cap + 64);
  ASSERT_NE(d_out.p, nullptr);
  SQZ_CUDA_OK(cudaMemset(d_out.p, 0xcd, cap + 64));
  ASSERT_EQ(gpu::compress_batch(h.ctx, in.data(), n, d_out.p, cap, stream), gpu::GpuStatus::kOk)
      << gpu::last_error(h.ctx);
  ASSERT_EQ(gpu::synchronize(h.ctx), gpu::GpuStatus::kOk) << gpu::last_error(h.ctx);
  std::vector<gpu::FrameResult> results(gpu::host_frame_results(h.ctx),
                                        gpu::host_frame_results(h.ctx) + n);
  std::vector<uint8_t> out(cap + 64);
  SQZ_CUDA_OK(cudaMemcpy(out.data(), d_out.p, out.size(), cudaMemcpyDeviceToHost));

  uint64_t offset = 0;
  std::vector<std::vector<uint8_t>> cpu_frames(n);
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE("chunk " + std::to_string(i));
    const TestChunk& c = chunks[i];
    std::vector<uint8_t> frame(max_frame_bytes(c.bytes.size()));
    size_t fb = 0;
    FrameStats st;
    ASSERT_EQ(
        compress(c.params, c.bytes.data(), c.bytes.size(), frame.data(), frame.size(), &fb, &st),
        Status::kOk);
    frame.resize(fb);
    cpu_frames[i] = frame;
    ASSERT_EQ(results[i].offset, offset);
    ASSERT_EQ(results[i].bytes, fb);
    EXPECT_EQ(results[i].method, st.method);
    EXPECT_EQ(results[i].outliers, st.outliers);
    EXPECT_EQ(results[i].applied_bound, st.applied_bound);
    ASSERT_TRUE(same_bytes(out.data() + offset, frame.data(), fb)) << "GPU frame != CPU frame";
    offset += fb;
  }
  for (uint64_t k = offset; k < out.size(); ++k) ASSERT_EQ(out[k], 0xcd) << "wrote past frames";

  // CPU frames decoded on the GPU.
  size_t frames_total = 0, dst_total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    frames_total += cpu_frames[i].size();
    dst_total += chunks[i].bytes.size() + chunks[i].misalign + 64;
  }
  DeviceBuffer d_frames(frames_total), d_dst(dst_total);
  SQZ_CUDA_OK(cudaMemset(d_dst.p, 0xcd, dst_total));
  std::vector<gpu::FrameToDecompress> fr(n);
  std::vector<size_t> dst_offset(n);
  size_t fo = 0, dof = 0;
  for (uint32_t i = 0; i < n; ++i) {
    SQZ_CUDA_OK(cudaMemcpy(d_frames.data() + fo, cpu_frames[i].data(), cpu_frames[i].size(),
                           cudaMemcpyHostToDevice));
    dst_offset[i] = dof + chunks[i].misalign;
    fr[i].frame = d_frames.data() + fo;
    fr[i].frame_bytes = cpu_frames[i].size();
    fr[i].dst = d_dst.data() + dst_offset[i];
    fr[i].dst_capacity = chunks[i].bytes.size();
    fo += cpu_frames[i].size();
    dof = dst_offset[i] + chunks[i].bytes.size() + 64;
  }
  ASSERT_EQ(gpu::decompress_batch(h.ctx, fr.data(), n, stream), gpu::GpuStatus::kOk)
      << gpu::last_error(h.ctx);
  ASSERT_EQ(gpu::synchronize(h.ctx), gpu::GpuStatus::kOk) << gpu::last_error(h.ctx);
  std::vector<uint8_t> decoded(dst_total);
  SQZ_CUDA_OK(cudaMemcpy(decoded.data(), d_dst.p, dst_total, cudaMemcpyDeviceToHost));
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE("chunk " + std::to_string(i));
    const TestChunk& c = chunks[i];
    const size_t bytes = c.bytes.size();
    const gpu::DecodeResult r = gpu::host_decode_results(h.ctx)[i];
    ASSERT_EQ(r.status, (int32_t)Status::kOk);
    ASSERT_EQ(r.out_bytes, bytes);
    const uint8_t* got = decoded.data() + dst_offset[i];
    for (size_t k = 0; k < 64; ++k) ASSERT_EQ(got[bytes + k], 0xcd) << "decode wrote past dst";
    std::vector<uint8_t> cpu_out(bytes + 1);
    size_t ob = 0;
    ASSERT_EQ(
        decompress(out.data() + results[i].offset, results[i].bytes, cpu_out.data(), bytes, &ob),
        Status::kOk);
    ASSERT_TRUE(same_bytes(cpu_out.data(), got, bytes)) << "GPU and CPU decoders disagree";
    if (results[i].method == (uint8_t)FrameMethod::kRaw ||
        results[i].method == (uint8_t)FrameMethod::kPlanes) {
      ASSERT_TRUE(same_bytes(c.bytes.data(), got, bytes)) << "not bit for bit";
      continue;
    }
    const size_t es = dtype_size(c.params.dtype);
    const size_t nel = bytes / es;
    const std::vector<double> eb = test::element_bounds(c.params, c.bytes.data(), nel);
    size_t failures = 0;
    for (size_t k = 0; k < nel && failures < 5; ++k) {
      const double x = elem_value(c.params.dtype, c.bytes.data(), k);
      const double y = elem_value(c.params.dtype, got, k);
      const bool ok = std::isfinite(x) && eb[k] > 0.0
                          ? std::fabs(x - y) <= eb[k]
                          : same_bytes(c.bytes.data() + k * es, got + k * es, es);
      if (!ok) {
        ++failures;
        ADD_FAILURE() << "element " << k << ": x=" << x << " y=" << y << " eb=" << eb[k];
      }
    }
  }
}

// Every batch runs twice: for a receiver of version 1 frames only, and for one of version 2
// staged frames (everything the CUDA decoder decodes).
void check_batch(cudaStream_t stream, std::vector<TestChunk> chunks, uint64_t max_chunk_bytes) {
  for (uint32_t caps : {(uint32_t)kCapV1, test::kGpuCaps}) {
    SCOPED_TRACE("caps " + std::to_string(caps));
    for (TestChunk& c : chunks) c.params.caps = caps;
    check_batch_as_given(stream, chunks, max_chunk_bytes);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

const DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};
const BoundMode kModes[] = {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal};

TEST_F(GpuCodec, RandomBatchesMatchCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 4; ++round) {
    std::vector<TestChunk> batch;
    const int n = 1 + (int)(rng() % 20);
    for (int i = 0; i < n; ++i) {
      std::vector<float> v(rng() % 3 == 0 ? rng() % 100 : rng() % 20000);
      std::normal_distribution<float> g(0.0f, rng() % 2 ? 1.0f : 0.05f);
      for (float& x : v) x = g(rng);
      const BoundMode m = kModes[rng() % 3];
      batch.push_back(
          make_chunk(kFloatTypes[rng() % 3], m,
                     m == BoundMode::kAbs ? 1e-3 : std::ldexp(1.0, -(int)(rng() % 12) - 3), v,
                     rng() % 4, rng() % 4));
    }
    check_batch(stream_, batch, 1 << 20);
    if (HasFatalFailure()) return;
  }
}

TEST_F(GpuCodec, AdversarialAndShortInputs) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float fmax = std::numeric_limits<float>::max();
  std::vector<std::vector<float>> sets;
  sets.push_back({nan, 1.0f, -inf, inf, 2.0f, nan, 0.5f, -0.0f, 0.0f});
  std::vector<float> alt(200);
  for (size_t i = 0; i < alt.size(); ++i) alt[i] = i % 2 ? fmax : -fmax;
  sets.push_back(alt);
  std::vector<float> denorm(100);
  for (size_t i = 0; i < denorm.size(); ++i)
    denorm[i] = std::numeric_limits<float>::denorm_min() * (float)(i % 7) - 1e-39f;
  sets.push_back(denorm);
  sets.push_back(std::vector<float>(777, 3.25f));
  sets.push_back(std::vector<float>(70, nan));
  std::vector<TestChunk> batch;
  for (const auto& v : sets)
    for (DType t : kFloatTypes)
      for (BoundMode m : kModes)
        batch.push_back(make_chunk(t, m, 1e-3, v, batch.size() % 3, batch.size() % 2));
  for (size_t len = 0; len <= 17; ++len)
    for (DType t : {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16}) {
      TestChunk c;
      c.params.dtype = t;
      c.params.bound = 0.25;
      for (size_t k = 0; k < len; ++k) c.bytes.push_back((uint8_t)(0x3c + 13 * k));
      c.misalign = len % 3;
      batch.push_back(c);
    }
  check_batch(stream_, batch, 1 << 20);
}

// The table quantizer (a RowLayout in rel or abs mode, kCapTable) and, for a receiver without
// kCapTable, one bound from the tables' ranges: GPU frames are the CPU backend's byte for byte, and
// each side decodes the other's. The tables' bounds are at most the frame's, so the frame-wide
// check of check_batch_as_given holds for every element.
TEST_F(GpuCodec, TableQuantizerMatchesCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  static const std::vector<std::vector<uint32_t>> kShapes = {
      {48}, {16, 64, 128, 8, 32}, {3, 5, 7, 1, 9, 2, 4, 6, 8, 10, 11, 13}, {300, 1000, 5}};
  static std::vector<double> bounds[4];
  static RowLayout layouts[4][2];
  for (size_t s = 0; s < 4; ++s) {
    bounds[s].clear();
    uint32_t row = 0;
    for (uint32_t c : kShapes[s]) {
      row += c;
      bounds[s].push_back(std::ldexp(1.0, -(int)(rng() % 8) - 7));  // <= 2^-7
    }
    for (int v = 0; v < 2; ++v) {
      RowLayout& l = layouts[s][v];
      l.row_elems = row;
      l.start_col = v == 0 ? 0 : (uint32_t)(rng() % row);
      l.n_tables = (uint32_t)kShapes[s].size();
      l.table_cols = kShapes[s].data();
      l.table_bounds = v == 0 ? nullptr : bounds[s].data();
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (uint32_t caps : {test::kGpuCaps, test::kGpuCaps & ~kCapTable, (uint32_t)kCapV1}) {
    SCOPED_TRACE("caps " + std::to_string(caps));
    std::vector<TestChunk> batch;
    for (size_t s = 0; s < 4; ++s) {
      for (int v = 0; v < 2; ++v) {
        const RowLayout& l = layouts[s][v];
        for (DType t : kFloatTypes) {
          for (BoundMode m : {BoundMode::kRel, BoundMode::kAbs}) {
            const size_t count = rng() % 3 == 0 ? 1 + rng() % 2000 : 1 + rng() % 30000;
            std::vector<float> x(count);
            std::normal_distribution<float> g(0.0f, 1.0f);
            for (size_t i = 0; i < count; ++i) {
              uint32_t col = (uint32_t)((l.start_col + i) % l.row_elems), tab = 0;
              while (col >= l.table_cols[tab]) col -= l.table_cols[tab++];
              x[i] = tab % 5 == 3   ? 0.75f  // constant
                     : tab % 5 == 4 ? (i % 2 ? nan : 1.0f + 1.1920929e-7f * (float)(i % 3))
                                    : g(rng) * std::pow(10.0f, (float)(tab % 4) - 3.0f);
            }
            for (size_t i = 2 * l.row_elems; i + l.row_elems <= count && i < 6 * l.row_elems;
                 i += l.row_elems)
              std::copy(x.begin(), x.begin() + l.row_elems, x.begin() + i);  // repeated rows
            TestChunk c = make_chunk(t, m, 1.0 / 128, x, rng() % 3 == 0 ? 1 : 0, rng() % 3);
            c.params.caps = caps;
            c.params.layout = &l;
            batch.push_back(c);
          }
        }
      }
    }
    check_batch_as_given(stream_, batch, 1 << 20);
    if (HasFatalFailure()) return;
  }
}

TEST_F(GpuCodec, Batch64x128KiB) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestChunk> batch;
  for (int i = 0; i < 64; ++i) {
    std::vector<float> v(32768);  // 128 KiB of f32
    std::normal_distribution<float> g(0.0f, 0.05f);
    for (float& x : v) x = g(rng);
    if (i % 16 == 5)  // incompressible: raw fallback in the same batch
      for (float& x : v) {
        const uint32_t bits = (uint32_t)rng();
        std::memcpy(&x, &bits, 4);
      }
    batch.push_back(make_chunk(DType::kF32, kModes[i % 3],
                               i % 3 == 2 ? 1.96e-3
                               : i % 2    ? 1e-3
                                          : 1e-4,
                               v));
  }
  check_batch(stream_, batch, 128 << 10);
}

TEST_F(GpuCodec, LargeSingleFrame) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<float> v(16 << 20 >> 2);  // 16 MiB
  std::normal_distribution<float> g(0.0f, 0.1f);
  for (float& x : v) x = g(rng);
  // The chunk is 16 MiB and its 3 tail bytes: the context must take them too.
  check_batch(stream_, {make_chunk(DType::kF32, BoundMode::kRel, 1e-3, v, 3)}, (16 << 20) + 3);
}

// The lossless method (planes frames) for every dtype: odd tails, several rANS segments, constant
// planes, data where delta-zigzag wins and where it loses, random data (raw), and NCCL-sized
// chunks of it, for receivers with and without kCapPlanes.
TEST_F(GpuCodec, LosslessPlanesMatchCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  const DType types[] = {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16, DType::kI8,
                         DType::kU8,    DType::kI32, DType::kU32, DType::kI64,  DType::kU64};
  std::vector<TestChunk> batch;
  for (DType t : types) {
    const size_t es = dtype_size(t);
    for (size_t n_bytes : {size_t{1}, es * 3 + 1, size_t{4099}, (16384 * 2 + 5) * es + es / 2}) {
      for (int kind = 0; kind < 4; ++kind) {
        TestChunk c;
        c.params.dtype = t;
        c.params.mode = BoundMode::kLossless;
        c.misalign = (n_bytes + kind) % 4;
        c.bytes.resize(n_bytes);
        for (size_t i = 0; i < n_bytes; ++i) {
          const size_t e = i / es, b = i % es;
          const uint64_t v = kind == 0   ? rng()                        // raw
                             : kind == 1 ? 0                            // constant
                             : kind == 2 ? (e * 37 + e % 3) >> (8 * b)  // delta wins
                                         : (b < 3 ? (rng() % (1u << 20)) >> (8 * b) : 0);  // ids
          c.bytes[i] = (uint8_t)v;
        }
        batch.push_back(c);
      }
    }
  }
  for (uint32_t caps : {test::kGpuCaps, kCapsAll & ~(kCapHistory | kCapPlanes)}) {
    for (TestChunk& c : batch) c.params.caps = caps;
    check_batch_as_given(stream_, batch, 1 << 20);
    if (HasFatalFailure()) return;
  }
  std::vector<TestChunk> nccl;
  for (int i = 0; i < 64; ++i) {  // 64 x 128 KiB of int64 ids and lengths
    TestChunk c;
    c.params.dtype = i % 2 ? DType::kI64 : DType::kI32;
    c.params.mode = BoundMode::kLossless;
    c.params.caps = test::kGpuCaps;
    c.bytes.resize(128 << 10);
    for (size_t k = 0; k < c.bytes.size(); ++k)
      c.bytes[k] = k % dtype_size(c.params.dtype) < 2 ? (uint8_t)(rng() % 50) : 0;
    nccl.push_back(c);
  }
  check_batch_as_given(stream_, nccl, 128 << 10);
}

TEST_F(GpuCodec, HostileFramesGiveErrorsNotCrashes) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<float> v(3000);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& x : v) x = g(rng);
  const auto bytes = to_bytes(DType::kF32, v, 1);
  std::vector<uint8_t> frame(max_frame_bytes(bytes.size()));
  size_t fb = 0;
  CodecParams p;
  p.mode = BoundMode::kRel;
  p.bound = 1e-2;
  p.caps = test::kGpuCaps;  // what the CUDA backend decodes
  ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb), Status::kOk);
  frame.resize(fb);
  constexpr uint32_t kFrames = 64;
  const uint64_t cap = bytes.size();
  ContextHolder h;
  gpu::BatchLimits limits;
  limits.max_chunks = kFrames;
  limits.max_chunk_bytes = 64 << 10;
  ASSERT_EQ(gpu::create_context(limits, &h.ctx), gpu::GpuStatus::kOk);
  std::vector<std::vector<uint8_t>> mutated(kFrames);
  for (uint32_t i = 0; i < kFrames; ++i) {
    mutated[i] = frame;
    if (i % 2) {
      for (int k = 0; k < 3; ++k)
        mutated[i][kFrameHeaderBytes + rng() % (fb - kFrameHeaderBytes)] ^=
            (uint8_t)(1 + rng() % 255);
    } else {
      const size_t off = hdr::kOriginalBytes + rng() % (hdr::kHeaderCheck - hdr::kOriginalBytes);
      mutated[i][off] ^= (uint8_t)(1u << (rng() % 8));
      block::store_le32(mutated[i].data() + hdr::kHeaderCheck,
                        block::fnv1a32(mutated[i].data(), hdr::kHeaderCheck));
    }
  }
  DeviceBuffer d_frames(kFrames * fb), d_dst(kFrames * (cap + 64));
  SQZ_CUDA_OK(cudaMemset(d_dst.p, 0xcd, kFrames * (cap + 64)));
  std::vector<gpu::FrameToDecompress> fr(kFrames);
  for (uint32_t i = 0; i < kFrames; ++i) {
    SQZ_CUDA_OK(
        cudaMemcpy(d_frames.data() + i * fb, mutated[i].data(), fb, cudaMemcpyHostToDevice));
    fr[i] = {d_frames.data() + i * fb, fb, d_dst.data() + i * (cap + 64), cap};
  }
  ASSERT_EQ(gpu::decompress_batch(h.ctx, fr.data(), kFrames, stream_), gpu::GpuStatus::kOk);
  ASSERT_EQ(gpu::synchronize(h.ctx), gpu::GpuStatus::kOk) << gpu::last_error(h.ctx);
  std::vector<uint8_t> dst(kFrames * (cap + 64));
  SQZ_CUDA_OK(cudaMemcpy(dst.data(), d_dst.p, dst.size(), cudaMemcpyDeviceToHost));
  for (uint32_t i = 0; i < kFrames; ++i) {
    for (size_t k = cap; k < cap + 64; ++k) ASSERT_EQ(dst[i * (cap + 64) + k], 0xcd) << i;
    std::vector<uint8_t> cpu_dst(cap);
    size_t ob = 0;
    const Status cpu = decompress(mutated[i].data(), fb, cpu_dst.data(), cap, &ob);
    const Status got = (Status)gpu::host_decode_results(h.ctx)[i].status;
    FrameInfo info;
    if (got == Status::kOutputTooSmall && cpu == Status::kCorruptFrame &&
        read_frame_info(mutated[i].data(), fb, &info) == Status::kOk && info.original_bytes > cap)
      continue;  // documented: too large and corrupt reports kOutputTooSmall on the GPU
    EXPECT_EQ(got, cpu) << "frame " << i;
    if (cpu == Status::kOk) {
      EXPECT_TRUE(same_bytes(dst.data() + i * (cap + 64), cpu_dst.data(), ob)) << i;
    }
  }
}

TEST_F(GpuCodec, ArgumentsAndLimits) {
  ContextHolder h;
  gpu::BatchLimits limits;
  limits.max_chunks = 2;
  limits.max_chunk_bytes = 4096;
  ASSERT_EQ(gpu::create_context(limits, &h.ctx), gpu::GpuStatus::kOk);
  DeviceBuffer src(8192), dst(16384);
  gpu::ChunkToCompress c[3];
  for (auto& x : c) {
    x.params = test::gpu_params();
    x.src = src.p;
    x.src_bytes = 4096;
  }
  EXPECT_EQ(gpu::compress_batch(h.ctx, c, 3, dst.p, dst.bytes, stream_),
            gpu::GpuStatus::kInvalidArgument);
  c[0].src_bytes = 4097;
  EXPECT_EQ(gpu::compress_batch(h.ctx, c, 1, dst.p, dst.bytes, stream_),
            gpu::GpuStatus::kInvalidArgument);
  c[0].src_bytes = 4096;
  EXPECT_EQ(gpu::compress_batch(h.ctx, c, 2, dst.p, 2 * 4096, stream_),
            gpu::GpuStatus::kOutputTooSmall);
  EXPECT_EQ(gpu::compress_batch(h.ctx, c, 0, dst.p, 0, stream_), gpu::GpuStatus::kOk);
  EXPECT_EQ(gpu::synchronize(h.ctx), gpu::GpuStatus::kOk);
  gpu::BatchLimits too_big;
  too_big.max_chunks = 1 << 20;
  too_big.max_chunk_bytes = 1 << 30;
  gpu::Context* bad = nullptr;
  EXPECT_EQ(gpu::create_context(too_big, &bad), gpu::GpuStatus::kInvalidArgument);
  EXPECT_EQ(bad, nullptr);
}

}  // namespace
}  // namespace squeeze
