// The CUDA backend's lossless planes kernels (compress/cuda/planes_compress.h, planes_decode.h)
// run on the CPU through compress/cuda/cpu_runner.h: the runner's frames must be the CPU
// backend's byte for byte (transform, plane modes, rANS tables and segments, the raw fallback),
// each side must decode the other's frames bit for bit, and a damaged planes frame must be
// rejected by the runner with the CPU decoder's status and check, with nothing written.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "codec_test_util.h"
#include "compress/cuda/cpu_runner.h"
#include "compress/format/staged.h"
#include "compress/methods/planes.h"
#include "runner_test_util.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"

namespace squeeze {
namespace {

using test::same_bytes;
using test::TestChunk;

using test::kCanary;
using test::kGuard;

const DType kAllTypes[] = {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16, DType::kI8,
                           DType::kU8,    DType::kI32, DType::kU32, DType::kI64,  DType::kU64};

// What the CPU backend's frames of a batch were (to check that a test reaches what it means to).
struct PlanesUse {
  int planes = 0, raw = 0, delta = 0, none = 0, rotl = 0, rans = 0, raw_plane = 0, const_plane = 0,
      multi_segment = 0;
};

std::string describe(const TestChunk& c, size_t i) {
  return "chunk " + std::to_string(i) + " (" + dtype_name(c.params.dtype) + ", mode " +
         std::to_string((int)c.params.mode) + ", caps " + std::to_string(c.params.caps) + ", " +
         std::to_string(c.bytes.size()) + " bytes, misalign " + std::to_string(c.misalign) + ")";
}

void count_use(const std::vector<uint8_t>& frame, PlanesUse& use) {
  if (frame.size() < kFrameHeaderBytes) return;
  if (frame[hdr::kMethod] == (uint8_t)FrameMethod::kRaw) ++use.raw;
  if (frame[hdr::kVersion] != kFrameVersion2 ||
      frame[hdr::kMethod] != (uint8_t)FrameMethod::kPlanes)
    return;
  ++use.planes;
  planes::Layout l;
  ASSERT_EQ(planes::parse(frame.data(), frame.size(), &l), staged::Reject::kNone);
  use.delta += l.transform == planes::Transform::kDeltaZigzag;
  use.none += l.transform == planes::Transform::kNone;
  use.rotl += l.transform == planes::Transform::kRotl1;
  for (uint32_t p = 0; p < l.es; ++p) {
    use.rans += l.mode[p] == planes::PlaneMode::kRans;
    use.raw_plane += l.mode[p] == planes::PlaneMode::kRaw;
    use.const_plane += l.mode[p] == planes::PlaneMode::kConst;
    use.multi_segment += l.mode[p] == planes::PlaneMode::kRans && l.n > rans::kSegmentSymbols;
  }
}

// Compresses the chunks as one batch through the runner and one by one through the CPU backend:
// equal bytes, placement and results; then each side decodes the other's frames (the runner in
// one batch, into misaligned destinations) to the original bytes, writing nothing outside.
void check_batch_into(const std::vector<TestChunk>& chunks, uint64_t max_chunk_bytes,
                      PlanesUse& use) {
  const uint32_t n = (uint32_t)chunks.size();
  test::BothWays both;
  test::compress_both_ways(chunks, max_chunk_bytes, describe, &both);
  if (::testing::Test::HasFatalFailure()) return;
  const std::vector<std::vector<uint8_t>>& cpu_frames = both.cpu_frames;
  const std::vector<uint8_t>& out = both.out;
  const std::vector<gpu::FrameResult>& results = both.results;
  for (uint32_t i = 0; i < n; ++i) count_use(cpu_frames[i], use);

  // The runner decodes the CPU's frames, then its own; the CPU decodes the runner's.
  for (int own = 0; own < 2; ++own) {
    std::vector<std::vector<uint8_t>> dsts(n);
    std::vector<gpu::FrameToDecompress> frames(n);
    for (uint32_t i = 0; i < n; ++i) {
      const size_t bytes = chunks[i].bytes.size();
      dsts[i].assign(chunks[i].misalign + bytes + kGuard, kCanary);
      frames[i].frame = own ? out.data() + results[i].offset : cpu_frames[i].data();
      frames[i].frame_bytes = own ? results[i].bytes : cpu_frames[i].size();
      frames[i].dst = dsts[i].data() + chunks[i].misalign;
      frames[i].dst_capacity = bytes;
    }
    std::vector<gpu::DecodeResult> decoded;
    ASSERT_EQ(kern::runner_decompress_batch(frames.data(), n, max_chunk_bytes, &decoded),
              gpu::GpuStatus::kOk);
    for (uint32_t i = 0; i < n; ++i) {
      SCOPED_TRACE(describe(chunks[i], i) + (own ? " runner frame" : " CPU frame"));
      const TestChunk& c = chunks[i];
      const size_t bytes = c.bytes.size();
      // Every fresh frame decodes, on both sides (a receiver with kCapPlanes but not kCapStaged
      // gets a version 1 raw frame of kBytes, staged::raw_dtype).
      size_t cpu_bytes = 0;
      std::vector<uint8_t> cpu_out(bytes + 1);
      const Status cpu =
          decompress(frames[i].frame, frames[i].frame_bytes, cpu_out.data(), bytes, &cpu_bytes);
      ASSERT_EQ(cpu, Status::kOk) << last_reject_reason();
      ASSERT_EQ(decoded[i].status, (int32_t)cpu);
      for (size_t k = 0; k < c.misalign; ++k) ASSERT_EQ(dsts[i][k], kCanary);
      for (size_t k = c.misalign + bytes; k < dsts[i].size(); ++k)
        ASSERT_EQ(dsts[i][k], kCanary) << "runner decode wrote past dst_capacity";
      ASSERT_EQ(decoded[i].out_bytes, bytes);
      ASSERT_EQ(cpu_bytes, bytes);
      ASSERT_TRUE(same_bytes(dsts[i].data() + c.misalign, cpu_out.data(), bytes))
          << "decoders disagree";
      // Lossless and raw frames come back bit for bit (lossy ones: test_kernel_runner.cc).
      const uint8_t method = frames[i].frame_bytes >= kFrameHeaderBytes
                                 ? static_cast<const uint8_t*>(frames[i].frame)[hdr::kMethod]
                                 : 0xff;
      if (method == (uint8_t)FrameMethod::kRaw || method == (uint8_t)FrameMethod::kPlanes) {
        ASSERT_TRUE(same_bytes(cpu_out.data(), c.bytes.data(), bytes)) << "not bit for bit";
      }
    }
  }
}

PlanesUse check_batch(const std::vector<TestChunk>& chunks, uint64_t max_chunk_bytes = 1 << 20) {
  PlanesUse use;
  check_batch_into(chunks, max_chunk_bytes, use);
  return use;
}

TestChunk lossless_chunk(DType t, std::vector<uint8_t> bytes, uint32_t caps, size_t misalign) {
  TestChunk c;
  c.params.dtype = t;
  c.params.mode = BoundMode::kLossless;
  c.params.bound = 0.0;  // ignored in the lossless mode
  c.params.caps = caps;
  c.bytes = std::move(bytes);
  c.misalign = misalign;
  return c;
}

// Data of n_bytes for dtype t: 0 random (raw fallback), 1 all zero (constant planes), 2 small
// values in each element's low byte, 3 a ramp with jitter (delta-zigzag wins), 4 ids below 2^20
// in random order (delta-zigzag loses), 5 a few distinct values (rANS on every plane).
std::vector<uint8_t> make_data(DType t, size_t n_bytes, int kind, std::mt19937_64& rng) {
  const size_t es = dtype_size(t);
  std::vector<uint8_t> d(n_bytes, 0);
  for (size_t i = 0; i < n_bytes; ++i) {
    const size_t e = i / es, b = i % es;
    uint64_t v = 0;
    switch (kind) {
      case 0:
        v = rng();
        break;
      case 1:
        v = 0;
        break;
      case 2:
        v = b == 0 ? rng() % 5 : 0;
        break;
      case 3:
        v = ((e * 37 + e % 3) >> (8 * b));
        break;
      case 4:
        v = b < 3 ? (rng() % (1u << 20)) >> (8 * b) : 0;
        break;
      default: {
        static const uint64_t kValues[] = {0x3f80a1b2c3d4e5f6ull, 0x0102030405060708ull,
                                           0xbf00ff00ff00ff00ull};
        v = kValues[(e * 7 + e / 5) % 3] >> (8 * b);
        break;
      }
    }
    d[i] = (uint8_t)v;
  }
  return d;
}

TEST(KernelRunnerPlanes, EveryDtypeSizeAndDataKindMatchesCpuBackend) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  PlanesUse total;
  for (DType t : kAllTypes) {
    SCOPED_TRACE(dtype_name(t));
    const size_t es = dtype_size(t);
    std::vector<TestChunk> batch;
    // Nothing, one byte, one element, an odd tail, a short frame, several rANS segments.
    for (size_t n_bytes : {size_t{0}, size_t{1}, es, es * 3 + 1, size_t{7}, size_t{4096 + 5},
                           (rans::kSegmentSymbols * 2 + 5) * es + (es > 1 ? es - 1 : 0)}) {
      for (int kind = 0; kind < 6; ++kind)
        batch.push_back(
            lossless_chunk(t, make_data(t, n_bytes, kind, rng), kCapsAll, (n_bytes + kind) % 4));
    }
    const PlanesUse use = check_batch(batch);
    if (HasFatalFailure()) return;
    total.planes += use.planes;
    total.raw += use.raw;
    total.delta += use.delta;
    total.none += use.none;
    total.rotl += use.rotl;
    total.rans += use.rans;
    total.raw_plane += use.raw_plane;
    total.const_plane += use.const_plane;
    total.multi_segment += use.multi_segment;
  }
  std::printf(
      "planes %d raw %d | transforms: delta %d none %d rotl %d | planes: rans %d raw %d "
      "const %d, multi-segment %d\n",
      total.planes, total.raw, total.delta, total.none, total.rotl, total.rans, total.raw_plane,
      total.const_plane, total.multi_segment);
  EXPECT_GT(total.planes, 0);
  EXPECT_GT(total.raw, 0) << "random data must fall back to raw frames";
  EXPECT_GT(total.delta, 0);
  EXPECT_GT(total.none, 0);
  EXPECT_GT(total.rotl, 0);
  EXPECT_GT(total.rans, 0);
  EXPECT_GT(total.raw_plane, 0);
  EXPECT_GT(total.const_plane, 0);
  EXPECT_GT(total.multi_segment, 0);
}

TEST(KernelRunnerPlanes, FloatSpecialsAndEveryBitPattern) {
  std::vector<uint16_t> h;
  for (uint32_t v = 0; v < 65536; ++v) h.push_back((uint16_t)v);  // every 16-bit pattern
  std::vector<uint8_t> all(h.size() * 2);
  std::memcpy(all.data(), h.data(), all.size());
  std::vector<uint32_t> f32 = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                               0xffffffffu, 0x00000001u, 0x807fffffu, 0x3f800000u, 0x7f7fffffu};
  for (int k = 0; k < 4000; ++k) f32.push_back(0x3c000000u + (uint32_t)k * 977u);
  std::vector<uint8_t> specials(f32.size() * 4 + 3);
  std::memcpy(specials.data(), f32.data(), f32.size() * 4);
  std::vector<TestChunk> batch;
  for (DType t : kAllTypes) batch.push_back(lossless_chunk(t, all, kCapsAll, (int)t % 3));
  batch.push_back(lossless_chunk(DType::kF32, specials, kCapsAll, 1));
  check_batch(batch);
}

// Every receiver profile: lossless chunks beside lossy ones in one batch (the planes kernels
// beside the staged and version 1 ones), integer dtypes in lossy modes (raw frames), and the
// raw frames of receivers without kCapPlanes (an integer dtype becomes kBytes).
TEST(KernelRunnerPlanes, ReceiverProfilesAndMixedBatches) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  const uint32_t profiles[] = {kCapV1,
                               kCapV1 | kCapStaged,
                               kCapStaged | kCapRans,
                               kCapStaged | kCapPlanes,
                               kCapV1 | kCapPlanes,
                               kCapsAll & ~kCapPlanes,
                               test::kGpuCaps,
                               kCapsAll};
  int planes_frames = 0;
  for (uint32_t caps : profiles) {
    SCOPED_TRACE("caps " + std::to_string(caps));
    std::vector<TestChunk> batch;
    for (DType t : kAllTypes) {
      const size_t es = dtype_size(t);
      batch.push_back(
          lossless_chunk(t, make_data(t, 3000 * es + 1, 3, rng), caps, batch.size() % 4));
      batch.push_back(lossless_chunk(t, make_data(t, 2000 * es, 0, rng), caps, 0));
      // The same data in a lossy mode: integer and kBytes data stay raw, floats are lossy.
      for (BoundMode m : {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal}) {
        TestChunk c = lossless_chunk(t, make_data(t, 1500 * es + 2, 2, rng), caps, 1);
        c.params.mode = m;
        c.params.bound = 1e-2;
        batch.push_back(c);
      }
    }
    std::vector<float> v(5000);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (float& x : v) x = g(rng);
    for (BoundMode m : {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal}) {
      TestChunk c = test::make_chunk(DType::kF32, m, 1e-3, v, 1, 2);
      c.params.caps = caps;
      batch.push_back(c);
    }
    planes_frames += check_batch(batch).planes;
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(planes_frames, 0);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

// The committed lossless sample (tests/data/lossless), whole files and cut as NCCL cuts a message
// (128 KiB steps).
TEST(KernelRunnerPlanes, LosslessSampleFilesMatchCpuBackend) {
  struct File {
    const char* name;
    DType t;
  };
  const File files[] = {
      {"ids_i64_r0to1.bin", DType::kI64},        {"ids_i64_r0to3.bin", DType::kI64},
      {"mh_ids_i64_r0to1.bin", DType::kI64},     {"mh_ids_i64_r0to3.bin", DType::kI64},
      {"lengths_i32_r0to1.bin", DType::kI32},    {"lengths_i32_r0to3.bin", DType::kI32},
      {"mh_lengths_i32_r0to1.bin", DType::kI32}, {"mh_lengths_i32_r0to3.bin", DType::kI32},
      {"act_bf16_step10.bin", DType::kBF16},     {"act_bf16_step300.bin", DType::kBF16},
      {"grad_bf16_step10.bin", DType::kBF16},    {"grad_bf16_step300.bin", DType::kBF16},
      {"act_f16_step300.bin", DType::kF16},      {"grad_f16_step300.bin", DType::kF16},
      {"act_f32_step300.bin", DType::kF32},      {"grad_f32_step300.bin", DType::kF32},
  };
  PlanesUse total;
  for (const File& f : files) {
    SCOPED_TRACE(f.name);
    const std::vector<uint8_t> data =
        read_file(std::string(SQUEEZE_TEST_LOSSLESS_DIR) + "/" + f.name);
    ASSERT_FALSE(data.empty()) << "lossless sample missing: " << f.name;
    std::vector<TestChunk> batch;
    batch.push_back(lossless_chunk(f.t, data, kCapsAll, 0));
    for (size_t first = 0; first < data.size(); first += 128 << 10) {
      const size_t last = std::min(data.size(), first + (128 << 10));
      batch.push_back(lossless_chunk(
          f.t, std::vector<uint8_t>(data.begin() + first, data.begin() + last), kCapsAll, 0));
    }
    const PlanesUse use = check_batch(batch, data.size());
    if (HasFatalFailure()) return;
    total.planes += use.planes;
    total.delta += use.delta;
  }
  EXPECT_GT(total.planes, 0);
}

// Damaged planes frames: the runner's status is the CPU decoder's, a rejection names the CPU's
// check, nothing is written for a rejected frame and nothing out of bounds ever.
TEST(KernelRunnerPlanes, DamagedFramesGiveCpuStatusAndReason) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint8_t>> originals;
  for (const auto& s : {std::make_tuple(DType::kI64, 4, size_t{3000 * 8 + 3}),
                        std::make_tuple(DType::kI32, 3, size_t{2000 * 4 + 1}),
                        std::make_tuple(DType::kU8, 5, size_t{40000}),
                        std::make_tuple(DType::kBF16, 2, size_t{5000 * 2}),
                        std::make_tuple(DType::kF32, 5, size_t{1000 * 4 + 2})}) {
    const std::vector<uint8_t> data =
        make_data(std::get<0>(s), std::get<2>(s), std::get<1>(s), rng);
    CodecParams p;
    p.dtype = std::get<0>(s);
    p.mode = BoundMode::kLossless;
    p.caps = kCapsAll;
    std::vector<uint8_t> frame(max_frame_bytes(data.size()));
    size_t fb = 0;
    ASSERT_EQ(compress(p, data.data(), data.size(), frame.data(), frame.size(), &fb), Status::kOk);
    frame.resize(fb);
    ASSERT_EQ(frame[hdr::kMethod], (uint8_t)FrameMethod::kPlanes) << dtype_name(p.dtype);
    originals.push_back(frame);
  }
  const uint64_t cap = 48 << 10;
  int rejected = 0, decoded_ok = 0;
  for (int iter = 0; iter < 1200; ++iter) {
    const std::vector<uint8_t>& o = originals[iter % originals.size()];
    std::vector<uint8_t> f = o;
    planes::Layout l;
    ASSERT_EQ(planes::parse(o.data(), o.size(), &l), staged::Reject::kNone);
    const uint64_t dir_end = planes::directory_end(l.es);
    const int kind = iter % 6;
    if (kind == 0) {  // payload byte flips
      for (int k = 0; k < 1 + (int)(rng() % 3); ++k)
        f[dir_end + rng() % (f.size() - dir_end)] ^= (uint8_t)(1 + rng() % 255);
    } else if (kind == 1) {  // truncation or extension
      f.resize(rng() % 2 ? rng() % f.size() : f.size() + 1 + rng() % 8, 0);
    } else if (kind == 2) {  // a directory byte changed
      f[kFrameHeaderBytes + rng() % (dir_end - kFrameHeaderBytes)] ^= (uint8_t)(1u << (rng() % 8));
    } else if (kind == 3) {  // a rANS section's head (table or word counts) changed
      uint32_t p = (uint32_t)(rng() % l.es);
      for (uint32_t k = 0; k < l.es && l.mode[p] != planes::PlaneMode::kRans; ++k)
        p = (p + 1) % l.es;
      const uint64_t span = l.bytes[p] < 64 ? l.bytes[p] : 64;
      if (span > 0) f[l.offset[p] + rng() % span] ^= (uint8_t)(1u << (rng() % 8));
    } else if (kind == 4) {  // a header field changed, its check recomputed
      const size_t fields[] = {hdr::kDType,
                               hdr::kFlags,
                               hdr::kOriginalBytes,
                               hdr::kFrameBytes,
                               planes::hdr3::kTransform,
                               planes::hdr3::kPlanes,
                               planes::hdr3::kZeroFrom + rng() % 18};
      f[fields[rng() % 7]] ^= (uint8_t)(1u << (rng() % 8));
      block::store_le32(f.data() + hdr::kHeaderCheck, block::fnv1a32(f.data(), hdr::kHeaderCheck));
    } else {  // two section lengths traded in the directory
      const uint32_t a = (uint32_t)(rng() % l.es), b = (a + 1) % l.es;
      uint8_t* da = f.data() + kFrameHeaderBytes + planes::kDirEntryBytes * a + 4;
      uint8_t* db = f.data() + kFrameHeaderBytes + planes::kDirEntryBytes * b + 4;
      const uint32_t d = 1 + (uint32_t)(rng() % 3);
      if (block::load_le32(da) >= d) {
        block::store_le32(da, block::load_le32(da) - d);
        block::store_le32(db, block::load_le32(db) + d);
      }
    }
    test::DecodedBothWays both;
    test::decode_both_ways(f, cap, &both);
    if (HasFatalFailure()) return;
    ASSERT_EQ(both.runner.status, (int32_t)both.cpu)
        << "iter " << iter << " kind " << kind << " (CPU: " << both.cpu_reason << ")";
    if (both.cpu == Status::kOk) {
      ++decoded_ok;
      ASSERT_EQ(both.runner.out_bytes, both.cpu_bytes);
      ASSERT_TRUE(same_bytes(both.runner_dst.data(), both.cpu_dst.data(), both.cpu_bytes))
          << "iter " << iter;
      continue;
    }
    ++rejected;
    // Shorter than a header: the version 1 path, which names no check (as for staged frames).
    if (f.size() >= kFrameHeaderBytes) {
      EXPECT_EQ(staged::reject_name((staged::Reject)both.runner.reject), both.cpu_reason)
          << "iter " << iter << " kind " << kind;
    }
    for (size_t k = 0; k < cap; ++k)
      ASSERT_EQ(both.runner_dst[k], kCanary)
          << "a rejected frame wrote its destination, iter " << iter;
  }
  std::printf("rejected %d, decoded %d\n", rejected, decoded_ok);
  EXPECT_GT(rejected, 600);
}

// A destination one byte short, a frame larger than the context's chunks, a truncated frame:
// the CPU decoder's statuses.
TEST(KernelRunnerPlanes, DecodeCapacityChecks) {
  std::vector<uint32_t> v(10000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = (uint32_t)(i * 3);
  std::vector<uint8_t> data(v.size() * 4);
  std::memcpy(data.data(), v.data(), data.size());
  CodecParams p;
  p.dtype = DType::kU32;
  p.mode = BoundMode::kLossless;
  p.caps = kCapsAll;
  std::vector<uint8_t> frame(max_frame_bytes(data.size()));
  size_t fb = 0;
  ASSERT_EQ(compress(p, data.data(), data.size(), frame.data(), frame.size(), &fb), Status::kOk);
  ASSERT_EQ(frame[hdr::kMethod], (uint8_t)FrameMethod::kPlanes);
  std::vector<uint8_t> dst(data.size());
  gpu::FrameToDecompress d[3];
  d[0] = {frame.data(), fb, dst.data(), data.size() - 1};  // too small
  d[1] = {frame.data(), fb - 1, dst.data(), dst.size()};   // truncated
  d[2] = {frame.data(), fb, dst.data(), dst.size()};       // context limit below the frame
  std::vector<gpu::DecodeResult> res;
  ASSERT_EQ(kern::runner_decompress_batch(d, 3, 1024, &res), gpu::GpuStatus::kOk);
  EXPECT_EQ(res[0].status, (int32_t)Status::kOutputTooSmall);
  EXPECT_EQ(res[1].status, (int32_t)Status::kTruncatedFrame);
  EXPECT_EQ(res[2].status, (int32_t)Status::kInvalidArgument);
  ASSERT_EQ(kern::runner_decompress_batch(d + 2, 1, 1 << 20, &res), gpu::GpuStatus::kOk);
  EXPECT_EQ(res[0].status, (int32_t)Status::kOk);
  EXPECT_EQ(res[0].out_bytes, data.size());
  EXPECT_EQ(dst, data);
}

}  // namespace
}  // namespace squeeze
