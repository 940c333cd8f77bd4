// libFuzzer target for the codec.
//  1. The input as a frame: read_frame_info() and decompress() must return an error or a
//     consistent result, never touch memory they do not own (ASan) and never hang; the scalar
//     and the SIMD decoders must agree on the verdict and the bytes.
//  2. The input as data: the first bytes pick dtype, mode, bound and what the receiver decodes,
//     the rest is compressed with the scalar kernels and with the best SIMD set (frames must be
//     identical), decoded, and every finite element checked against its bound in double;
//     non-finite ones bit-exact.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "compress/cpu/kernels.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace {

using namespace squeeze;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_decode: %s\n", what);
  std::abort();
}

double value_at(DType t, const uint8_t* p, size_t i) {
  if (t == DType::kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return t == DType::kF16 ? quant::half_to_float(h) : quant::bf16_to_float(h);
}

void decode_as_frame(const uint8_t* data, size_t size) {
  FrameInfo info;
  const Status si = read_frame_info(data, size, &info);
  // Capacity: what the header asks for, capped so hostile sizes do not exhaust memory (the
  // decoder must then answer kOutputTooSmall); a few bytes when the header is already refused.
  constexpr size_t kCap = 1 << 20;
  const size_t cap = si != Status::kOk            ? 16
                     : info.original_bytes < kCap ? info.original_bytes
                                                  : kCap;
  std::vector<uint8_t> out(cap);
  size_t ob = 0;
  const Status s = decompress(data, size, out.data(), cap, &ob);
  if (s == Status::kOk) {
    if (si != Status::kOk) fail("decompress accepted a frame read_frame_info rejected");
    if (ob != info.original_bytes || ob > cap) fail("decompress size inconsistent");
  }
  // The scalar decoder gives the same verdict and, on success, the same bytes as the SIMD one.
  std::vector<uint8_t> out_scalar(cap);
  size_t ob_scalar = 0;
  cpu::select_backend("scalar");
  const Status s_scalar = decompress(data, size, out_scalar.data(), cap, &ob_scalar);
  cpu::select_backend("auto");
  if (s_scalar != s) fail("scalar and SIMD decoders disagree on a frame");
  if (s == Status::kOk &&
      (ob_scalar != ob || (ob > 0 && std::memcmp(out.data(), out_scalar.data(), ob) != 0)))
    fail("scalar and SIMD decoders wrote different bytes");
}

void round_trip(const uint8_t* data, size_t size) {
  if (size < 2) return;
  CodecParams p;
  const uint8_t sel = data[0];
  p.dtype = (DType)(sel & 3);
  // bits 2-3: abs, rel, local, lossless; bits 4-5: what the receiver decodes. Lossless takes any
  // of the ten dtypes (bits 0-1 of sel and 6-7 of the bound byte).
  const uint8_t mode = (sel >> 2) & 3;
  p.mode = mode == 0   ? BoundMode::kAbs
           : mode == 1 ? BoundMode::kRel
           : mode == 2 ? BoundMode::kLocal
                       : BoundMode::kLossless;
  if (p.mode == BoundMode::kLossless) p.dtype = (DType)((((sel & 3) << 2) | (data[1] >> 6)) % 10);
  const uint32_t profiles[4] = {kCapsAll & ~kCapHistory, kCapV1 | kCapStaged,
                                kCapV1 | kCapStaged | kCapDedup, kCapV1};
  p.caps = profiles[(sel >> 4) & 3];
  // bound 2^-e for e in 0..63 (rel, local) or 2^(e-40) (abs): from coarse to below every step
  const int e = data[1] & 63;
  p.bound = p.mode != BoundMode::kAbs ? std::ldexp(1.0, -e) : std::ldexp(1.0, e - 40);
  // Bits 6-7 of the bound byte, lossy modes: a row layout (tables of very different widths,
  // a row vector's records, mixed bounds), the data beginning at a column from its size.
  static const uint32_t kCols[3][4] = {{64, 64, 128, 0}, {16, 48, 8, 200}, {32, 32, 32, 32}};
  static const uint32_t kTables[3] = {3, 4, 4};
  double table_bounds[4];
  RowLayout layout;
  const uint8_t lay_sel = data[1] >> 6;
  const uint8_t* src = data + 2;
  const size_t bytes = size - 2;
  if (p.mode != BoundMode::kLossless && lay_sel != 0) {
    layout.n_tables = kTables[lay_sel - 1];
    layout.table_cols = kCols[lay_sel - 1];
    for (uint32_t t = 0; t < layout.n_tables; ++t) {
      layout.row_elems += layout.table_cols[t];
      table_bounds[t] = p.bound * (1 + 2 * (t % 3));
    }
    layout.start_col = (uint32_t)((bytes / 7) % layout.row_elems);
    if (bytes % 3 == 0) layout.start_col = 0;
    layout.table_bounds = bytes % 2 ? table_bounds : nullptr;
    p.layout = &layout;
  }

  std::vector<uint8_t> frame(max_frame_bytes(bytes)), frame2(max_frame_bytes(bytes));
  size_t fb = 0, fb2 = 0;
  cpu::select_backend("scalar");
  if (compress(p, src, bytes, frame.data(), frame.size(), &fb) != Status::kOk)
    fail("compress failed");
  cpu::select_backend("auto");
  if (compress(p, src, bytes, frame2.data(), frame2.size(), &fb2) != Status::kOk)
    fail("compress failed (simd)");
  if (fb != fb2 || std::memcmp(frame.data(), frame2.data(), fb) != 0)
    fail("SIMD frame differs from scalar frame");
  if (fb > bytes + kFrameHeaderBytes) fail("frame larger than input + header");

  std::vector<uint8_t> out(bytes);
  size_t ob = 0;
  if (decompress(frame.data(), fb, out.data(), out.size(), &ob) != Status::kOk || ob != bytes)
    fail("decompress of a fresh frame failed");
  FrameInfo info;
  if (read_frame_info(frame.data(), fb, &info) != Status::kOk) fail("read_frame_info failed");
  if (p.mode == BoundMode::kLossless || p.dtype == DType::kBytes ||
      info.method == (uint8_t)FrameMethod::kRaw) {
    if (bytes && std::memcmp(src, out.data(), bytes) != 0) fail("exact round trip not exact");
    return;
  }
  const size_t es = dtype_size(p.dtype);
  const size_t n = bytes / es;
  if (p.layout != nullptr) {
    // The layout's promise (squeeze::element_bounds, the checks' single statement of it).
    std::vector<double> eb(n);
    element_bounds(p, src, bytes, frame_record_log2(frame.data(), fb), eb.data());
    for (size_t i = 0; i < n; ++i) {
      const double x = value_at(p.dtype, src, i);
      if (!std::isfinite(x) || eb[i] == 0.0) {
        if (std::memcmp(src + i * es, out.data() + i * es, es) != 0) fail("exact element differs");
      } else if (!(std::fabs(x - value_at(p.dtype, out.data(), i)) <= eb[i])) {
        fail("error bound of the layout violated");
      }
    }
    if (std::memcmp(src + n * es, out.data() + n * es, bytes - n * es) != 0) fail("tail differs");
    return;
  }
  // The bound of elements [first, last): the range over the frame (rel) or the element's block
  // of 32 (local).
  auto range_bound = [&](size_t first, size_t last) {
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = first; i < last; ++i) {
      const double x = value_at(p.dtype, src, i);
      if (std::isfinite(x)) {
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
      }
    }
    return mn <= mx ? p.bound * (mx - mn) : 0.0;
  };
  const double frame_eb = p.mode == BoundMode::kAbs   ? p.bound
                          : p.mode == BoundMode::kRel ? range_bound(0, n)
                                                      : p.bound;
  if (info.applied_bound != frame_eb) fail("applied bound differs from the requested one");
  for (size_t i = 0; i < n; ++i) {
    const double x = value_at(p.dtype, src, i);
    const size_t b0 = i / kBlockElems * kBlockElems;
    const double eb = p.mode == BoundMode::kLocal
                          ? range_bound(b0, b0 + kBlockElems < n ? b0 + kBlockElems : n)
                          : frame_eb;
    if (!std::isfinite(x) || eb == 0.0) {
      if (std::memcmp(src + i * es, out.data() + i * es, es) != 0) fail("exact element differs");
    } else if (!(std::fabs(x - value_at(p.dtype, out.data(), i)) <= eb)) {
      fail("error bound violated");
    }
  }
  if (std::memcmp(src + n * es, out.data() + n * es, bytes - n * es) != 0) fail("tail differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode_as_frame(data, size);
  round_trip(data, size);
  return 0;
}
