// libsqueeze: the error-bounded codec. No NCCL dependency; usable on its own.
//
// One call to compress() turns a byte range plus its datatype into one self-describing frame
// (docs/FORMAT.md). decompress() needs nothing but the frame: no policy, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>

namespace squeeze {

// Element type of the payload. kBytes (anything that is not a supported float) is never lossy.
enum class DType : uint8_t { kBytes = 0, kF32 = 1, kF16 = 2, kBF16 = 3 };

// kAbs: |x - x'| <= bound for every finite element.
// kRel: the absolute bound is bound * (max - min) over the finite elements of the frame.
enum class BoundMode : uint8_t { kAbs = 0, kRel = 1 };

enum class Status : int {
  kOk = 0,
  kInvalidArgument,   // bad parameters (negative bound, null pointer with non-zero size, ...)
  kOutputTooSmall,    // destination capacity below what is needed
  kCorruptFrame,      // a field of the frame is inconsistent or out of range
  kTruncatedFrame,    // the frame is shorter than its header says
  kUnsupportedFrame,  // unknown magic, version or method
};

const char* status_string(Status s);

struct CodecParams {
  DType dtype = DType::kF32;
  BoundMode mode = BoundMode::kRel;
  double bound = 1e-2;
};

// What one compress() call did; filled when a pointer is passed.
struct FrameStats {
  uint64_t input_bytes = 0;
  uint64_t frame_bytes = 0;
  uint64_t outliers = 0;       // elements stored exactly
  double applied_bound = 0.0;  // absolute bound written into the frame (0 for raw frames)
  uint8_t method = 0;          // FrameMethod actually used
};

// Bytes of the fixed frame header; a frame is never larger than this plus the input.
constexpr size_t kFrameHeaderBytes = 48;

// Capacity that always suffices for compress() of input_bytes.
constexpr size_t max_frame_bytes(size_t input_bytes) {
  return kFrameHeaderBytes + input_bytes;
}

// Compress src[0, src_bytes) into dst. dst_capacity must be at least max_frame_bytes(src_bytes).
// src needs no alignment and src_bytes need not be a multiple of the element size.
// Deterministic: the same input and parameters always give the same bytes (on every backend).
Status compress(const CodecParams& params, const void* src, size_t src_bytes, void* dst,
                size_t dst_capacity, size_t* frame_bytes, FrameStats* stats = nullptr);

// Decode one frame into dst. Validates every field; never reads past frame[frame_bytes) nor
// writes past dst[dst_capacity). *out_bytes receives the original byte count.
Status decompress(const void* frame, size_t frame_bytes, void* dst, size_t dst_capacity,
                  size_t* out_bytes);

// Reads and validates the header only (cheap): original size, method, dtype, bound.
struct FrameInfo {
  uint64_t original_bytes = 0;
  uint64_t frame_bytes = 0;
  uint8_t method = 0;
  DType dtype = DType::kBytes;
  double applied_bound = 0.0;
  uint32_t outliers = 0;
};
Status read_frame_info(const void* frame, size_t frame_bytes, FrameInfo* info);

// Size in bytes of one element of dtype (1 for kBytes).
constexpr size_t dtype_size(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kF16 || t == DType::kBF16) ? 2 : 1;
}

// Which SIMD kernel set the CPU backend dispatched to at runtime ("avx512", "avx2", "scalar").
const char* cpu_backend_name();

}  // namespace squeeze
