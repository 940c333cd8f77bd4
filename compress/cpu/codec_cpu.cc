// CPU backend of the codec: frame assembly and parsing around the block kernels of
// kernels_scalar.cc / kernels_avx2.cc. The frame layout is in include/squeeze/format.h and
// docs/FORMAT.md.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "compress/block.h"
#include "compress/cpu/kernels.h"
#include "compress/cpu/planes.h"
#include "compress/cpu/staged.h"
#include "compress/cpu/staged_table.h"
#include "compress/format/staged.h"
#include "compress/methods/planes.h"
#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace squeeze {

const char* dtype_name(DType t) {
  static const char* const kNames[] = {"bytes", "f32", "f16", "bf16", "i8",
                                       "u8",    "i32", "u32", "i64",  "u64"};
  const unsigned k = static_cast<unsigned>(t);
  return k < sizeof(kNames) / sizeof(kNames[0]) ? kNames[k] : "?";
}

const char* status_string(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kInvalidArgument:
      return "invalid argument";
    case Status::kOutputTooSmall:
      return "output too small";
    case Status::kCorruptFrame:
      return "corrupt frame";
    case Status::kTruncatedFrame:
      return "truncated frame";
    case Status::kUnsupportedFrame:
      return "unsupported frame";
  }
  return "unknown status";
}

namespace cpu {

namespace {

std::atomic<const Backend*> g_backend{nullptr};

const Backend* backend_by_name(const char* name) {
  if (std::strcmp(name, "scalar") == 0) return &scalar_backend();
  if (std::strcmp(name, "avx2") == 0) return avx2_backend();
  return nullptr;
}

const Backend* best_backend() {
  if (const Backend* b = avx2_backend()) return b;
  return &scalar_backend();
}

}  // namespace

const Backend& active_backend() {
  const Backend* b = g_backend.load(std::memory_order_acquire);
  if (b) return *b;
  const Backend* chosen = best_backend();
  // SQUEEZE_CPU_BACKEND is read here, on first use, for programs that use libsqueeze without the
  // plugin: squeeze-bench has no backend option (codec_speed takes one and calls select_backend(),
  // the API way). It is deliberately not in the plugin's NCCL_SQUEEZE_* table: libsqueeze does not
  // depend on the plugin. Inside the plugin, init applies NCCL_SQUEEZE_CPU_BACKEND (default
  // auto) with select_backend() before any codec call, so g_backend is set and this variable is
  // never read there.
  if (const char* env = std::getenv("SQUEEZE_CPU_BACKEND")) {
    if (*env && std::strcmp(env, "auto") != 0) {
      if (const Backend* forced = backend_by_name(env)) {
        chosen = forced;
      } else {
        std::fprintf(stderr,
                     "squeeze: SQUEEZE_CPU_BACKEND=%s is not available on this CPU, using %s\n",
                     env, chosen->name);
      }
    }
  }
  const Backend* expected = nullptr;
  g_backend.compare_exchange_strong(expected, chosen, std::memory_order_acq_rel);
  return *g_backend.load(std::memory_order_acquire);
}

bool select_backend(const char* name) {
  const Backend* b = std::strcmp(name, "auto") == 0 ? best_backend() : backend_by_name(name);
  if (!b) return false;
  g_backend.store(b, std::memory_order_release);
  return true;
}

}  // namespace cpu

const char* cpu_backend_name() {
  return cpu::active_backend().name;
}

namespace {

using block::FrameHeader;

// The codec's bytes depend on IEEE round-to-nearest without flush-to-zero; a host program may
// have changed MXCSR (FTZ / DAZ, e.g. a framework's "flush denormals" switch), so every entry
// point runs with the default control word and restores the caller's.
class FpEnvGuard {
 public:
#if defined(__x86_64__)
  FpEnvGuard() : saved_(_mm_getcsr()) {
    if (saved_ != kDefaultCsr) _mm_setcsr(kDefaultCsr);
  }
  ~FpEnvGuard() {
    if (saved_ != kDefaultCsr) _mm_setcsr(saved_);
  }

 private:
  static constexpr unsigned kDefaultCsr = 0x1f80;  // all exceptions masked, RN, no FTZ / DAZ
  unsigned saved_;
#endif
};

// Outliers of the frame being encoded, collected while the planes are written (their position
// in the frame is only known once every block's width is). Kept per thread and reused, so the
// steady state allocates nothing.
struct OutlierScratch {
  std::vector<uint32_t> index;
  std::vector<uint8_t> value;
};
thread_local OutlierScratch t_outliers;

constexpr uint64_t kBatchBlocks = 64;
constexpr uint64_t kMaxPlaneBytesPerBlock = 4 * kMaxCodeWidth;

size_t write_raw_frame(const CodecParams& params, const uint8_t* src, size_t src_bytes,
                       uint8_t* dst) {
  FrameHeader h;
  h.method = (uint8_t)FrameMethod::kRaw;
  h.dtype = (uint8_t)params.dtype;
  h.flags = staged::raw_flags(params.mode, false);
  h.original_bytes = src_bytes;
  h.frame_bytes = kFrameHeaderBytes + src_bytes;
  block::write_header(h, dst);
  if (src_bytes) std::memcpy(dst + kFrameHeaderBytes, src, src_bytes);
  return kFrameHeaderBytes + src_bytes;
}

// Encodes a kBlockFixed frame into dst. Returns its size, or 0 when it would not be smaller
// than the raw frame (dst may then hold partial output, never beyond the raw frame's size).
size_t write_block_fixed_frame(const CodecParams& params, const quant::QuantParams& qp, double eb,
                               const uint8_t* src, size_t src_bytes, uint8_t* dst,
                               uint64_t* outliers_out) {
  const cpu::BlockKernels& k = cpu::active_backend().kernels[(int)params.dtype];
  const uint64_t es = dtype_size(params.dtype);
  const uint64_t n = src_bytes / es;
  const uint64_t tail = src_bytes % es;
  const uint64_t n_blocks = (n + kBlockElems - 1) / kBlockElems;
  const uint64_t full_blocks = n / kBlockElems;
  const uint64_t raw_size = kFrameHeaderBytes + src_bytes;
  const uint64_t outlier_bytes = 4 + es;

  OutlierScratch& outl = t_outliers;
  outl.index.clear();
  outl.value.clear();

  uint8_t* widths = dst + kFrameHeaderBytes;
  uint64_t pos = kFrameHeaderBytes + n_blocks;  // where the next block's planes go
  alignas(64) uint8_t staging[kBatchBlocks * kMaxPlaneBytesPerBlock];
  uint32_t masks[kBatchBlocks];

  // Encodes blocks [b, b + count) whose elements start at `elems`; false when the frame has
  // grown to the raw frame's size (the running size only increases, so raw is then better).
  auto encode_batch = [&](const uint8_t* elems, uint64_t b, uint64_t count) -> bool {
    const bool direct = raw_size - pos >= count * kMaxPlaneBytesPerBlock;
    uint8_t* out = direct ? dst + pos : staging;
    const uint64_t plane_bytes = k.encode(elems, count, qp, widths + b, out, masks);
    for (uint64_t i = 0; i < count; ++i) {
      uint32_t m = masks[i];
      while (m) {
        const uint32_t bit = (uint32_t)__builtin_ctz(m);
        m &= m - 1;
        const uint64_t index = (b + i) * kBlockElems + bit;
        if (index >= n) continue;  // padding of the final block (never an outlier, kept safe)
        outl.index.push_back((uint32_t)index);
        const uint8_t* v = src + index * es;
        outl.value.insert(outl.value.end(), v, v + es);
      }
    }
    const uint64_t size_so_far = pos + plane_bytes + outl.index.size() * outlier_bytes + tail;
    if (size_so_far >= raw_size) return false;
    if (!direct) std::memcpy(dst + pos, staging, plane_bytes);
    pos += plane_bytes;
    return true;
  };

  for (uint64_t b = 0; b < full_blocks; b += kBatchBlocks) {
    const uint64_t count = std::min(kBatchBlocks, full_blocks - b);
    if (!encode_batch(src + b * kBlockElems * es, b, count)) return 0;
  }
  if (full_blocks < n_blocks) {
    // Final partial block: encoded from a zero-padded copy (zeros always quantize to code 0).
    alignas(64) uint8_t padded[kBlockElems * 4] = {};
    const uint64_t first = full_blocks * kBlockElems;
    std::memcpy(padded, src + first * es, (n - first) * es);
    if (!encode_batch(padded, full_blocks, 1)) return 0;
  }

  const uint64_t count = outl.index.size();
  uint8_t* p = dst + pos;
  for (uint64_t i = 0; i < count; ++i) block::store_le32(p + 4 * i, outl.index[i]);
  p += 4 * count;
  if (count) std::memcpy(p, outl.value.data(), count * es);
  p += count * es;
  if (tail) std::memcpy(p, src + n * es, tail);
  p += tail;

  FrameHeader h;
  h.method = (uint8_t)FrameMethod::kBlockFixed;
  h.dtype = (uint8_t)params.dtype;
  h.flags = params.mode == BoundMode::kRel ? kFlagRelBound : 0;
  h.original_bytes = src_bytes;
  h.frame_bytes = (uint64_t)(p - dst);
  h.step = qp.step;
  h.outlier_count = (uint32_t)count;
  h.applied_bound = eb;
  block::write_header(h, dst);
  *outliers_out = count;
  return (size_t)h.frame_bytes;
}

bool valid_dtype(DType t) {
  return (uint8_t)t <= (uint8_t)DType::kU64;
}
bool valid_mode(BoundMode m) {
  return m == BoundMode::kAbs || m == BoundMode::kRel || m == BoundMode::kLocal ||
         m == BoundMode::kLossless;
}

// Why the last frame this thread decoded was rejected.
thread_local staged::Reject t_reject = staged::Reject::kNone;

// The version 1 checks map onto the same names.
staged::Reject reject_of_v1(Status s) {
  switch (s) {
    case Status::kOk:
      return staged::Reject::kNone;
    case Status::kTruncatedFrame:
      return staged::Reject::kTooShort;
    case Status::kUnsupportedFrame:
      return staged::Reject::kMethod;
    case Status::kOutputTooSmall:
      return staged::Reject::kOutputTooSmall;
    default:
      return staged::Reject::kCodes;
  }
}

Status check_params(const CodecParams& params, const void* src_v, size_t src_bytes, void* dst_v,
                    size_t dst_capacity, size_t* frame_bytes) {
  if (!frame_bytes || !dst_v || (!src_v && src_bytes) || !valid_dtype(params.dtype) ||
      !valid_mode(params.mode) || (params.caps & (kCapV1 | kCapStaged)) == 0)
    return Status::kInvalidArgument;
  // The bound matters only for float data in a lossy mode; the rest ignores it.
  if (block::is_float_dtype((uint8_t)params.dtype) && params.mode != BoundMode::kLossless &&
      !(params.bound > 0.0 && std::isfinite(params.bound)))
    return Status::kInvalidArgument;
  if (params.layout != nullptr && !valid_layout(*params.layout)) return Status::kInvalidArgument;
  if (src_bytes > SIZE_MAX - kFrameHeaderBytes) return Status::kInvalidArgument;
  if (dst_capacity < max_frame_bytes(src_bytes)) return Status::kOutputTooSmall;
  return Status::kOk;
}

// The parameters the encoder applies. A layout needs no capability in local mode (its bounds
// decide the blocks' records; row records are checked by the encoder). A receiver without
// kCapTable gets one absolute bound for the whole frame that keeps every table's promise: the
// smallest of the tables' bounds (abs), or of bound_k x the table's range in the frame (rel).
CodecParams resolve_layout(const CodecParams& params, const uint8_t* src, size_t src_bytes) {
  CodecParams p = params;
  if (p.layout == nullptr) return p;
  const RowLayout& lay = *p.layout;
  if (p.mode == BoundMode::kLossless || !block::is_float_dtype((uint8_t)p.dtype)) {
    p.layout = nullptr;
    return p;
  }
  if (p.mode == BoundMode::kLocal || (p.caps & kCapTable) != 0) return p;
  std::vector<table::Stats> st(lay.n_tables, table::Stats{INFINITY, -INFINITY, false});
  if (p.mode == BoundMode::kRel) {
    std::vector<uint16_t> col_table;
    cpu::column_tables(lay.table_cols, lay.n_tables, lay.row_elems, &col_table);
    const cpu::TableGeometry tg{col_table.data(), lay.row_elems, lay.start_col};
    cpu::active_backend().table[(int)p.dtype].stats(src, src_bytes / dtype_size(p.dtype), tg,
                                                    st.data());
  }
  // A constant table makes the bound 0: exact, so the whole frame is (raw).
  double eb = INFINITY;
  for (uint32_t t = 0; t < lay.n_tables; ++t)
    eb = table::min_bound(eb, table::frame_bound_of(st[t], table::table_bound(lay, params.bound, t),
                                                    p.mode == BoundMode::kRel));
  p.mode = BoundMode::kAbs;
  p.bound = eb;  // +inf (no finite element) or 0 make no quantizer: the frame is raw
  p.layout = nullptr;
  return p;
}

size_t compress_v1(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                   FrameStats* fs);

// A raw frame in the newest version the receiver decodes. Integer dtypes are known to decoders
// that declare kCapPlanes only; older ones get kBytes (the bytes are the same).
size_t write_raw(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst) {
  CodecParams p = params;
  p.dtype = (DType)staged::raw_dtype((uint8_t)params.dtype, params.caps);
  if ((p.caps & kCapStaged) == 0) return write_raw_frame(p, src, src_bytes, dst);
  staged::write_raw_header((uint8_t)p.dtype, staged::raw_flags(p.mode, true), src_bytes, dst);
  if (src_bytes) std::memcpy(dst + kFrameHeaderBytes, src, src_bytes);
  return kFrameHeaderBytes + src_bytes;
}

// compress() with an optional stream history.
Status compress_with(const CodecParams& given, const void* src_v, size_t src_bytes, void* dst_v,
                     size_t dst_capacity, size_t* frame_bytes, FrameStats* stats,
                     cpu::EncoderHistory* hist) {
  const Status st = check_params(given, src_v, src_bytes, dst_v, dst_capacity, frame_bytes);
  if (st != Status::kOk) return st;
  const CodecParams params = resolve_layout(given, static_cast<const uint8_t*>(src_v), src_bytes);
  FpEnvGuard fp_env;
  const uint8_t* src = static_cast<const uint8_t*>(src_v);
  uint8_t* dst = static_cast<uint8_t*>(dst_v);
  const uint64_t es = dtype_size(params.dtype);
  const uint64_t n = src_bytes / es;
  const bool lossy_type = block::is_float_dtype((uint8_t)params.dtype);
  FrameStats local_stats;
  FrameStats* fs = stats != nullptr ? stats : &local_stats;
  *fs = FrameStats{};

  size_t size = 0;
  if (params.mode == BoundMode::kLossless) {
    // Lossless for every dtype, to a receiver that decodes it; otherwise the raw frame.
    if ((params.caps & kCapPlanes) != 0 && (params.caps & kCapStaged) != 0) {
      try {
        size = cpu::encode_planes(params, src, src_bytes, dst, fs);
      } catch (const std::bad_alloc&) {
        size = 0;
      }
    }
  } else if (lossy_type && n > 0 && n <= staged::kMaxElems && (params.caps & kCapStaged) != 0) {
    try {
      size = cpu::encode_staged(params, src, src_bytes, dst, hist, fs);
    } catch (const std::bad_alloc&) {
      size = 0;  // no memory for the stage buffers: the raw frame needs none
    }
  } else if (lossy_type && params.mode != BoundMode::kLocal) {
    // A receiver that decodes version 1 only: block-fixed with one step for the frame (the local
    // bound has no version 1 form, so such frames are raw).
    size = compress_v1(params, src, src_bytes, dst, fs);
  }
  if (size == 0) {
    size = write_raw(params, src, src_bytes, dst);
    *fs = FrameStats{};
    fs->method = (uint8_t)FrameMethod::kRaw;
    fs->version = (params.caps & kCapStaged) != 0 ? kFrameVersion2 : kFrameVersion;
  }
  *frame_bytes = size;
  fs->input_bytes = src_bytes;
  fs->frame_bytes = size;
  return Status::kOk;
}

Status decompress_with(const void* frame_v, size_t frame_bytes, void* dst_v, size_t dst_capacity,
                       size_t* out_bytes, cpu::DecoderHistory* hist);

}  // namespace

bool valid_layout(const RowLayout& layout) {
  return table::layout_valid(layout);
}

Status compress(const CodecParams& params, const void* src_v, size_t src_bytes, void* dst_v,
                size_t dst_capacity, size_t* frame_bytes, FrameStats* stats) {
  return compress_with(params, src_v, src_bytes, dst_v, dst_capacity, frame_bytes, stats, nullptr);
}

namespace {

// Version 1 block-fixed frame of a global (abs or rel) bound; 0 when raw is better.
size_t compress_v1(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                   FrameStats* fs) {
  const uint64_t es = dtype_size(params.dtype);
  const uint64_t n = src_bytes / es;
  size_t size = 0;
  uint64_t outliers = 0;
  double eb = 0.0;
  if (n > 0 && n <= block::kMaxBlockFixedElems) {
    if (params.mode == BoundMode::kAbs) {
      eb = params.bound;
    } else {
      float mn, mx;
      cpu::active_backend().kernels[(int)params.dtype].minmax(src, n, &mn, &mx);
      eb = mn <= mx ? quant::rel_to_abs_bound(params.bound, mn, mx) : 0.0;
    }
    quant::QuantParams qp;
    if (quant::make_quant_params(eb, &qp)) {
      try {
        size = write_block_fixed_frame(params, qp, eb, src, src_bytes, dst, &outliers);
      } catch (const std::bad_alloc&) {
        size = 0;  // no memory for the outlier list: the raw frame needs none
      }
    }
  }
  if (size != 0) {
    fs->outliers = outliers;
    fs->applied_bound = eb;
    fs->method = (uint8_t)FrameMethod::kBlockFixed;
    fs->version = kFrameVersion;
  }
  return size;
}

}  // namespace

Status read_frame_info(const void* frame_v, size_t frame_bytes, FrameInfo* info) {
  if (!info || (!frame_v && frame_bytes)) return Status::kInvalidArgument;
  const uint8_t* frame = static_cast<const uint8_t*>(frame_v);
  *info = FrameInfo{};
  if (frame_bytes >= kFrameHeaderBytes && frame[hdr::kVersion] == kFrameVersion2) {
    t_reject = staged::check_envelope(frame, frame_bytes);
    if (t_reject == staged::Reject::kNone && frame[hdr::kMethod] == (uint8_t)FrameMethod::kPlanes) {
      planes::Layout l;
      t_reject = planes::parse(frame, frame_bytes, &l);
      if (t_reject != staged::Reject::kNone) return staged::reject_status(t_reject);
      info->original_bytes = l.n * l.es + l.tail;
      info->frame_bytes = frame_bytes;
      info->method = (uint8_t)FrameMethod::kPlanes;
      info->version = kFrameVersion2;
      info->dtype = (DType)frame[hdr::kDType];
      return Status::kOk;
    }
    staged::Header h;
    if (t_reject == staged::Reject::kNone) t_reject = staged::parse(frame, frame_bytes, &h);
    if (t_reject != staged::Reject::kNone) return staged::reject_status(t_reject);
    info->original_bytes = h.original_bytes;
    info->frame_bytes = h.frame_bytes;
    info->method = frame[hdr::kMethod];
    info->version = kFrameVersion2;
    info->dtype = (DType)h.dtype;
    info->applied_bound = h.applied_bound;
    info->quant = h.quant;
    info->coder = h.coder;
    info->dedup = h.dedup;
    return Status::kOk;
  }
  FrameHeader h;
  const Status s = block::parse_header(frame, frame_bytes, &h);
  t_reject = reject_of_v1(s);
  if (s != Status::kOk) return s;
  info->original_bytes = h.original_bytes;
  info->frame_bytes = h.frame_bytes;
  info->method = h.method;
  info->version = kFrameVersion;
  info->dtype = (DType)h.dtype;
  info->applied_bound = h.applied_bound;
  info->outliers = h.outlier_count;
  return Status::kOk;
}

const char* last_reject_reason() {
  return staged::reject_name(t_reject);
}

Status decompress(const void* frame_v, size_t frame_bytes, void* dst_v, size_t dst_capacity,
                  size_t* out_bytes) {
  return decompress_with(frame_v, frame_bytes, dst_v, dst_capacity, out_bytes, nullptr);
}

namespace {

Status decompress_v1(const uint8_t* frame, size_t frame_bytes, uint8_t* dst, size_t dst_capacity,
                     size_t* out_bytes) {
  FrameHeader h;
  Status s = block::parse_header(frame, frame_bytes, &h);
  if (s != Status::kOk) return s;

  if (h.method == (uint8_t)FrameMethod::kRaw) {
    if (h.original_bytes > dst_capacity) return Status::kOutputTooSmall;
    if (h.original_bytes && !dst) return Status::kInvalidArgument;
    if (h.original_bytes) std::memcpy(dst, frame + kFrameHeaderBytes, h.original_bytes);
    *out_bytes = h.original_bytes;
    return Status::kOk;
  }

  // kBlockFixed: validate the whole payload before writing anything.
  block::BlockFixedLayout l;
  s = block::block_fixed_layout(h, frame, &l);
  if (s != Status::kOk) return s;
  s = block::check_outlier_indices(frame + l.outlier_index_offset, h.outlier_count, l.n_elems);
  if (s != Status::kOk) return s;
  if (h.original_bytes > dst_capacity) return Status::kOutputTooSmall;
  if (!dst) return Status::kInvalidArgument;

  const cpu::BlockKernels& k = cpu::active_backend().kernels[h.dtype];
  const uint64_t es = l.elem_size;
  const uint64_t full_blocks = l.n_elems / kBlockElems;
  const uint8_t* widths = frame + l.widths_offset;
  const uint8_t* planes = frame + l.planes_offset;
  k.decode(widths, planes, full_blocks, h.step, dst);
  if (full_blocks < l.n_blocks) {
    uint64_t plane_bytes = 4 * l.sum_widths - 4 * (uint64_t)widths[full_blocks];
    alignas(64) uint8_t padded[kBlockElems * 4];
    k.decode(widths + full_blocks, planes + plane_bytes, 1, h.step, padded);
    const uint64_t first = full_blocks * kBlockElems;
    std::memcpy(dst + first * es, padded, (l.n_elems - first) * es);
  }
  const uint8_t* idx = frame + l.outlier_index_offset;
  const uint8_t* val = frame + l.outlier_value_offset;
  for (uint32_t i = 0; i < h.outlier_count; ++i) {
    const uint64_t e = block::load_le32(idx + 4 * (uint64_t)i);
    std::memcpy(dst + e * es, val + (uint64_t)i * es, es);
  }
  if (l.tail_bytes) std::memcpy(dst + l.n_elems * es, frame + l.tail_offset, l.tail_bytes);
  *out_bytes = h.original_bytes;
  return Status::kOk;
}

Status decompress_with(const void* frame_v, size_t frame_bytes, void* dst_v, size_t dst_capacity,
                       size_t* out_bytes, cpu::DecoderHistory* hist) {
  if (!out_bytes || (!frame_v && frame_bytes)) return Status::kInvalidArgument;
  const uint8_t* frame = static_cast<const uint8_t*>(frame_v);
  uint8_t* dst = static_cast<uint8_t*>(dst_v);
  FpEnvGuard fp_env;
  if (frame_bytes >= kFrameHeaderBytes && frame[hdr::kVersion] == kFrameVersion2) {
    t_reject = staged::check_envelope(frame, frame_bytes);
    if (t_reject == staged::Reject::kNone && frame[hdr::kMethod] == (uint8_t)FrameMethod::kPlanes) {
      if (!dst && dst_capacity > 0) return Status::kInvalidArgument;
      try {
        t_reject = cpu::decode_planes(frame, frame_bytes, dst, dst_capacity, out_bytes);
      } catch (const std::bad_alloc&) {
        return Status::kInvalidArgument;
      }
      return staged::reject_status(t_reject);
    }
    staged::Header h;
    if (t_reject == staged::Reject::kNone) t_reject = staged::parse(frame, frame_bytes, &h);
    if (t_reject != staged::Reject::kNone) return staged::reject_status(t_reject);
    // A null destination for a frame that holds data is an argument error, as in version 1
    // (checked after the frame's own size checks, which come first there too).
    if (!dst && h.original_bytes > 0 && h.original_bytes <= dst_capacity)
      return Status::kInvalidArgument;
    try {
      t_reject = cpu::decode_staged(frame, frame_bytes, dst, dst_capacity, hist, out_bytes);
    } catch (const std::bad_alloc&) {
      return Status::kInvalidArgument;
    }
    return staged::reject_status(t_reject);
  }
  const Status s = decompress_v1(frame, frame_bytes, dst, dst_capacity, out_bytes);
  t_reject = reject_of_v1(s);
  return s;
}

}  // namespace

// ---- streams ----

struct StreamEncoder::State {
  cpu::EncoderHistory hist;
};
struct StreamDecoder::State {
  cpu::DecoderHistory hist;
};

StreamEncoder::StreamEncoder(size_t window_bytes) : state_(new State) {
  state_->hist.window_bytes = window_bytes < 4096 ? 4096 : window_bytes;
}
StreamEncoder::~StreamEncoder() {
  delete state_;
}
Status StreamEncoder::compress(const CodecParams& params, const void* src, size_t src_bytes,
                               void* dst, size_t dst_capacity, size_t* frame_bytes,
                               FrameStats* stats) {
  return compress_with(params, src, src_bytes, dst, dst_capacity, frame_bytes, stats,
                       &state_->hist);
}

StreamDecoder::StreamDecoder(size_t window_bytes) : state_(new State) {
  state_->hist.window_bytes = window_bytes < 4096 ? 4096 : window_bytes;
}
StreamDecoder::~StreamDecoder() {
  delete state_;
}
Status StreamDecoder::decompress(const void* frame, size_t frame_bytes, void* dst,
                                 size_t dst_capacity, size_t* out_bytes) {
  return decompress_with(frame, frame_bytes, dst, dst_capacity, out_bytes, &state_->hist);
}

}  // namespace squeeze
