// The C API of include/squeeze/squeeze_c.h over the codec (include/squeeze/codec.h). No
// exception leaves a function here; every failure is a status code.
#include "squeeze/squeeze_c.h"

#include <cmath>
#include <cstddef>
#include <new>

#include "squeeze/codec.h"

struct squeeze_c_stream_encoder {
  explicit squeeze_c_stream_encoder(size_t window) : enc(window) {}
  squeeze::StreamEncoder enc;
};

struct squeeze_c_stream_decoder {
  explicit squeeze_c_stream_decoder(size_t window) : dec(window) {}
  squeeze::StreamDecoder dec;
};

namespace {

using squeeze::Status;

static_assert(static_cast<int>(Status::kOk) == SQUEEZE_C_OK, "status codes");
static_assert(static_cast<int>(Status::kInvalidArgument) == SQUEEZE_C_INVALID_ARGUMENT, "");
static_assert(static_cast<int>(Status::kOutputTooSmall) == SQUEEZE_C_OUTPUT_TOO_SMALL, "");
static_assert(static_cast<int>(Status::kCorruptFrame) == SQUEEZE_C_CORRUPT_FRAME, "");
static_assert(static_cast<int>(Status::kTruncatedFrame) == SQUEEZE_C_TRUNCATED_FRAME, "");
static_assert(static_cast<int>(Status::kUnsupportedFrame) == SQUEEZE_C_UNSUPPORTED_FRAME, "");
static_assert(static_cast<int>(squeeze::DType::kF32) == SQUEEZE_C_DTYPE_F32, "dtypes");
static_assert(static_cast<int>(squeeze::DType::kF16) == SQUEEZE_C_DTYPE_F16, "");
static_assert(static_cast<int>(squeeze::DType::kBF16) == SQUEEZE_C_DTYPE_BF16, "");
static_assert(static_cast<int>(squeeze::DType::kI8) == SQUEEZE_C_DTYPE_I8, "");
static_assert(static_cast<int>(squeeze::DType::kU64) == SQUEEZE_C_DTYPE_U64, "");
static_assert(static_cast<int>(squeeze::BoundMode::kLocal) == SQUEEZE_C_MODE_LOCAL, "modes");
static_assert(static_cast<int>(squeeze::BoundMode::kRel) == SQUEEZE_C_MODE_REL, "");
static_assert(static_cast<int>(squeeze::BoundMode::kLossless) == SQUEEZE_C_MODE_LOSSLESS, "");
static_assert(squeeze::kCapPlanes == SQUEEZE_C_CAP_PLANES, "");
static_assert(squeeze::kCapsAll == SQUEEZE_C_CAPS_ALL, "capabilities");
static_assert(squeeze::kCapHistory == SQUEEZE_C_CAP_HISTORY, "");
static_assert(squeeze::kCapDedupStep == SQUEEZE_C_CAP_DEDUP_STEP, "");
static_assert(squeeze::kCapRansLongSegments == SQUEEZE_C_CAP_RANS_LONG_SEGMENTS, "");
static_assert(squeeze::kCapDedupGolomb == SQUEEZE_C_CAP_DEDUP_GOLOMB, "");
static_assert(squeeze::kCapPackedRecords == SQUEEZE_C_CAP_PACKED_RECORDS, "");
static_assert(squeeze::kFrameHeaderBytes == SQUEEZE_C_FRAME_HEADER_BYTES, "header size");

// Version 1 of squeeze_c_params ended after `bound`; version 2 appends the row layout.
constexpr size_t kParamsV1Bytes = offsetof(squeeze_c_params, row_elems);

int code(Status s) {
  return static_cast<int>(s);
}

// Validates the C parameters and converts them; false for anything out of range.
// A layout goes to *layout, which must outlive the use of *out.
bool to_params(const squeeze_c_params* in, squeeze::CodecParams* out, squeeze::RowLayout* layout) {
  if (in == nullptr || in->size < kParamsV1Bytes) return false;
  out->layout = nullptr;
  if (in->size >= sizeof(squeeze_c_params) && in->n_tables != 0) {
    if (in->reserved != 0 || in->table_cols == nullptr) return false;
    layout->row_elems = in->row_elems;
    layout->start_col = in->start_col;
    layout->n_tables = in->n_tables;
    layout->table_cols = in->table_cols;
    layout->table_bounds = in->table_bounds;
    if (!squeeze::valid_layout(*layout)) return false;
    out->layout = layout;
  }
  if (in->dtype > SQUEEZE_C_DTYPE_U64 || in->mode > SQUEEZE_C_MODE_LOSSLESS) return false;
  if ((in->caps & ~static_cast<uint32_t>(SQUEEZE_C_CAPS_ALL)) != 0) return false;
  if (!(in->bound >= 0.0)) return false;  // negative or NaN (the codec checks the rest)
  out->dtype = static_cast<squeeze::DType>(in->dtype);
  out->mode = static_cast<squeeze::BoundMode>(in->mode);
  out->bound = in->bound;
  out->caps = in->caps;
  return true;
}

void to_stats(const squeeze::FrameStats& s, squeeze_c_frame_stats* out) {
  if (out == nullptr) return;
  *out = squeeze_c_frame_stats{};
  out->input_bytes = s.input_bytes;
  out->frame_bytes = s.frame_bytes;
  out->outliers = s.outliers;
  out->applied_bound = s.applied_bound;
  out->method = s.method;
  out->version = s.version;
  out->coder = s.coder;
  out->quant = s.quant;
  out->units = s.units;
  out->ref_units = s.ref_units;
  out->history_ref_units = s.history_ref_units;
  out->code_bytes = s.code_bytes;
  out->quant_bytes = s.quant_bytes;
  out->dedup_bytes = s.dedup_bytes;
  out->outlier_bytes = s.outlier_bytes;
}

// Runs f, turning an exception into a status code.
template <typename F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return SQUEEZE_C_OUT_OF_MEMORY;
  } catch (...) {
    return SQUEEZE_C_INTERNAL_ERROR;
  }
}

}  // namespace

// Declared in the header without attributes; defined here with default visibility (the target
// builds with -fvisibility=hidden, and exports.map lists exactly these).
#pragma GCC visibility push(default)
extern "C" {

int squeeze_api_version(void) {
  return SQUEEZE_C_API_VERSION;
}

const char* squeeze_status_string(int status) {
  switch (status) {
    case SQUEEZE_C_OK:
    case SQUEEZE_C_INVALID_ARGUMENT:
    case SQUEEZE_C_OUTPUT_TOO_SMALL:
    case SQUEEZE_C_CORRUPT_FRAME:
    case SQUEEZE_C_TRUNCATED_FRAME:
    case SQUEEZE_C_UNSUPPORTED_FRAME:
      return squeeze::status_string(static_cast<Status>(status));
    case SQUEEZE_C_OUT_OF_MEMORY:
      return "out of memory";
    case SQUEEZE_C_INTERNAL_ERROR:
      return "internal error";
    default:
      return "unknown status";
  }
}

const char* squeeze_last_reject_reason(void) {
  return squeeze::last_reject_reason();
}

const char* squeeze_codec_backend(void) {
  return squeeze::cpu_backend_name();
}

double squeeze_class_bound(uint64_t rows, double bound) {
  return squeeze::class_bound(rows, bound);
}

double squeeze_schedule_factor(uint32_t kind, uint64_t iteration, uint64_t early_iters,
                               double start) {
  if (kind > 2) return std::nan("");
  return squeeze::schedule_factor(static_cast<squeeze::Schedule>(kind), iteration, early_iters,
                                  start);
}

int squeeze_layout_placement(const uint32_t* table_cols, uint32_t n_tables, uint32_t elem_bytes,
                             uint32_t mode) {
  if (table_cols == nullptr || n_tables == 0 || elem_bytes == 0 || mode > SQUEEZE_C_MODE_LOSSLESS)
    return -1;
  return static_cast<int>(squeeze::layout_placement(table_cols, n_tables, elem_bytes,
                                                    static_cast<squeeze::BoundMode>(mode)));
}

int squeeze_params_default(squeeze_c_params* params) {
  if (params == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  const squeeze::CodecParams d;
  *params = squeeze_c_params{};
  params->size = sizeof(squeeze_c_params);
  params->dtype = static_cast<uint32_t>(d.dtype);
  params->mode = static_cast<uint32_t>(d.mode);
  params->caps = d.caps;
  params->bound = d.bound;
  return SQUEEZE_C_OK;
}

size_t squeeze_max_frame_bytes(size_t input_bytes) {
  const size_t n = squeeze::max_frame_bytes(input_bytes);
  return n < input_bytes ? static_cast<size_t>(-1) : n;  // saturate instead of wrapping
}

int squeeze_compress(const squeeze_c_params* params, const void* src, size_t src_bytes, void* dst,
                     size_t dst_capacity, size_t* frame_bytes, squeeze_c_frame_stats* stats) {
  squeeze::CodecParams p;
  squeeze::RowLayout layout;
  if (!to_params(params, &p, &layout) || frame_bytes == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  if ((src == nullptr && src_bytes != 0) || dst == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  return guarded([&] {
    squeeze::FrameStats s;
    const Status st = squeeze::compress(p, src, src_bytes, dst, dst_capacity, frame_bytes, &s);
    if (st == Status::kOk) to_stats(s, stats);
    return code(st);
  });
}

int squeeze_decompress(const void* frame, size_t frame_bytes, void* dst, size_t dst_capacity,
                       size_t* out_bytes) {
  if (frame == nullptr || out_bytes == nullptr || (dst == nullptr && dst_capacity != 0))
    return SQUEEZE_C_INVALID_ARGUMENT;
  return guarded(
      [&] { return code(squeeze::decompress(frame, frame_bytes, dst, dst_capacity, out_bytes)); });
}

int squeeze_frame_info(const void* frame, size_t frame_bytes, squeeze_c_frame_info* info) {
  if (frame == nullptr || info == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  return guarded([&] {
    squeeze::FrameInfo fi;
    const Status st = squeeze::read_frame_info(frame, frame_bytes, &fi);
    if (st != Status::kOk) return code(st);
    *info = squeeze_c_frame_info{};
    info->original_bytes = fi.original_bytes;
    info->frame_bytes = fi.frame_bytes;
    info->applied_bound = fi.applied_bound;
    info->method = fi.method;
    info->version = fi.version;
    info->dtype = static_cast<uint32_t>(fi.dtype);
    info->outliers = fi.outliers;
    info->quant = fi.quant;
    info->coder = fi.coder;
    info->dedup = fi.dedup;
    return static_cast<int>(SQUEEZE_C_OK);
  });
}

int squeeze_stream_encoder_create(size_t window_bytes, squeeze_c_stream_encoder** out) {
  if (out == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  *out = nullptr;
  const size_t w = window_bytes != 0 ? window_bytes : squeeze::StreamEncoder::kDefaultWindowBytes;
  return guarded([&] {
    *out = new squeeze_c_stream_encoder(w);
    return static_cast<int>(SQUEEZE_C_OK);
  });
}

void squeeze_stream_encoder_destroy(squeeze_c_stream_encoder* encoder) {
  delete encoder;
}

int squeeze_stream_compress(squeeze_c_stream_encoder* encoder, const squeeze_c_params* params,
                            const void* src, size_t src_bytes, void* dst, size_t dst_capacity,
                            size_t* frame_bytes, squeeze_c_frame_stats* stats) {
  squeeze::CodecParams p;
  squeeze::RowLayout layout;
  if (encoder == nullptr || !to_params(params, &p, &layout) || frame_bytes == nullptr)
    return SQUEEZE_C_INVALID_ARGUMENT;
  if ((src == nullptr && src_bytes != 0) || dst == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  return guarded([&] {
    squeeze::FrameStats s;
    const Status st = encoder->enc.compress(p, src, src_bytes, dst, dst_capacity, frame_bytes, &s);
    if (st == Status::kOk) to_stats(s, stats);
    return code(st);
  });
}

int squeeze_stream_decoder_create(size_t window_bytes, squeeze_c_stream_decoder** out) {
  if (out == nullptr) return SQUEEZE_C_INVALID_ARGUMENT;
  *out = nullptr;
  const size_t w = window_bytes != 0 ? window_bytes : squeeze::StreamEncoder::kDefaultWindowBytes;
  return guarded([&] {
    *out = new squeeze_c_stream_decoder(w);
    return static_cast<int>(SQUEEZE_C_OK);
  });
}

void squeeze_stream_decoder_destroy(squeeze_c_stream_decoder* decoder) {
  delete decoder;
}

int squeeze_stream_decompress(squeeze_c_stream_decoder* decoder, const void* frame,
                              size_t frame_bytes, void* dst, size_t dst_capacity,
                              size_t* out_bytes) {
  if (decoder == nullptr || frame == nullptr || out_bytes == nullptr ||
      (dst == nullptr && dst_capacity != 0))
    return SQUEEZE_C_INVALID_ARGUMENT;
  return guarded([&] {
    return code(decoder->dec.decompress(frame, frame_bytes, dst, dst_capacity, out_bytes));
  });
}

}  // extern "C"
#pragma GCC visibility pop
