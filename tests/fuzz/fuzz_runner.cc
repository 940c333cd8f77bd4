// libFuzzer target for the CUDA backend's kernels, run on the CPU by compress/cuda/cpu_runner.h.
//  1. The input as a frame: the runner's decoder (version 1, staged and planes kernels) must give
//     the CPU decoder's status, and for a version 2 frame the same rejection; a rejected frame
//     must leave its destination untouched, an accepted one decode to the CPU decoder's bytes.
//  2. The input as data: the first bytes pick dtype (all ten), mode (the lossless one too), bound,
//     what the receiver decodes and a row layout (none, or one of three: the table quantizer with
//     kCapTable in rel and abs mode, one folded bound without it, row records and the tables'
//     bounds in local mode); the runner's frame must be the CPU backend's byte for byte, and
//     decode as in 1.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "compress/cuda/cpu_runner.h"
#include "compress/format/staged.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"

namespace {

using namespace squeeze;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_runner: %s\n", what);
  std::abort();
}

constexpr uint8_t kCanary = 0xcd;

void decode_as_frame(const uint8_t* data, size_t size) {
  FrameInfo info;
  const bool header_ok = read_frame_info(data, size, &info) == Status::kOk;
  constexpr uint64_t kCap = 1 << 18;
  const uint64_t cap = header_ok && info.original_bytes < kCap ? info.original_bytes : 64;
  std::vector<uint8_t> cpu_out(cap, kCanary), gpu_out(cap + 64, kCanary);
  size_t ob = 0;
  const Status cpu = decompress(data, size, cpu_out.data(), cap, &ob);
  const std::string reason = last_reject_reason();
  gpu::FrameToDecompress f;
  f.frame = data;
  f.frame_bytes = size;
  f.dst = gpu_out.data();
  f.dst_capacity = cap;
  std::vector<gpu::DecodeResult> res;
  if (kern::runner_decompress_batch(&f, 1, kCap, &res) != gpu::GpuStatus::kOk)
    fail("runner refused a batch of one frame");
  for (size_t k = cap; k < gpu_out.size(); ++k)
    if (gpu_out[k] != kCanary) fail("runner wrote past dst_capacity");
  const Status got = (Status)res[0].status;
  const bool v2 = size >= kFrameHeaderBytes && data[hdr::kVersion] == kFrameVersion2;
  // Version 1's documented difference: a frame too large for dst is refused before its payload
  // is checked (the CPU checks the payload first).
  if (!v2 && got == Status::kOutputTooSmall && cpu == Status::kCorruptFrame) return;
  if (got != cpu) fail("runner status differs from the CPU decoder's");
  if (cpu == Status::kOk) {
    if (res[0].out_bytes != ob || (ob > 0 && std::memcmp(cpu_out.data(), gpu_out.data(), ob) != 0))
      fail("runner output differs from the CPU decoder's");
    return;
  }
  if (v2) {
    if (reason != staged::reject_name((staged::Reject)res[0].reject))
      fail("runner rejected a version 2 frame by another check");
    for (uint64_t k = 0; k < cap; ++k)
      if (gpu_out[k] != kCanary || cpu_out[k] != kCanary) fail("a rejected frame was written");
  }
}

void compress_as_data(const uint8_t* data, size_t size) {
  if (size < 3) return;
  CodecParams p;
  // Float dtypes in the lossy modes most often (they have the most stages); every dtype and the
  // lossless mode (planes frames, or raw ones) otherwise.
  if (data[0] < 128) {
    p.dtype = (DType)(1 + data[0] % 3);
    p.mode = (BoundMode)(data[0] / 3 % 3);
  } else {
    p.dtype = (DType)(data[0] % 10);
    p.mode = (BoundMode)(data[0] / 10 % 4);
  }
  const double bounds[] = {1e-4, 1.96e-3, 1e-2, 0.1, 0.5, 3.0};
  p.bound = bounds[data[1] % 6];
  const uint32_t profiles[] = {kCapV1,
                               kCapV1 | kCapStaged,
                               kCapStaged | kCapRans,
                               kCapStaged | kCapDedup,
                               kCapsAll & ~kCapHistory,
                               kCapStaged | kCapPlanes,
                               kCapsAll & ~(kCapHistory | kCapPlanes)};
  p.caps = profiles[data[2] % 7];
  p.rans_min_gain = data[1] / 6 % 4 * 96;  // 0, 96, 192, 288: 0 to 1.1 bits a value
  // A row layout from the same byte: none, two tables, many narrow ones (per-table bounds), a row
  // wider than most inputs; the frame starts at a column picked by the bound byte.
  static const uint32_t kCols[3][12] = {
      {16, 48}, {1, 2, 3, 5, 8, 13, 4, 7, 9, 11, 6, 10}, {1000, 24, 3}};
  static const uint32_t kTables[3] = {2, 12, 3};
  static const double kBounds[12] = {1e-2, 1e-3, 0.1, 1e-4, 0.5,  1e-2,
                                     3e-3, 1e-5, 0.2, 1e-2, 1e-1, 2e-2};
  RowLayout layout;
  const uint32_t which = data[2] / 7 % 4;
  if (which > 0) {
    layout.n_tables = kTables[which - 1];
    layout.table_cols = kCols[which - 1];
    for (uint32_t t = 0; t < layout.n_tables; ++t) layout.row_elems += layout.table_cols[t];
    layout.start_col = data[1] % layout.row_elems;
    // Per-table bounds: in rel and abs mode the table quantizer's, in local mode each block's
    // (the smallest of its tables').
    layout.table_bounds = which == 2 ? kBounds : nullptr;
    p.layout = &layout;
  }
  data += 3;
  size -= 3;
  std::vector<uint8_t> cpu(max_frame_bytes(size));
  size_t fb = 0;
  if (compress(p, data, size, cpu.data(), cpu.size(), &fb) != Status::kOk)
    fail("CPU compress refused valid parameters");
  gpu::ChunkToCompress c;
  c.src = data;
  c.src_bytes = size;
  c.params = p;
  std::vector<uint8_t> out(kern::output_capacity(&c, 1));
  std::vector<gpu::FrameResult> res;
  if (kern::runner_compress_batch(&c, 1, size + 1, out.data(), out.size(), &res) !=
      gpu::GpuStatus::kOk)
    fail("runner refused a chunk the CPU compressed");
  if (res[0].bytes != fb || std::memcmp(out.data(), cpu.data(), fb) != 0)
    fail("runner frame differs from the CPU backend's");
  // The frame (a table quantizer's, say, which the seeds lack) through both decoders.
  decode_as_frame(cpu.data(), fb);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode_as_frame(data, size);
  compress_as_data(data, size);
  return 0;
}
