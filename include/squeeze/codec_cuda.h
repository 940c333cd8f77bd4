// libsqueeze_cuda: the codec on the GPU, batched. Frames are byte for byte those of the CPU
// backend (squeeze::compress) for the same input and parameters, and each side decodes the
// other's frames.
//
// One compress_batch() call turns many device buffers (NCCL's 32-128 KiB chunks, or one big
// buffer) into independent frames laid back to back in one device output buffer, in a handful
// of kernel launches on the caller's stream. Everything the calls need is allocated by
// create_context(), sized for (max_chunks, max_chunk_bytes); the calls themselves never
// allocate, never synchronize and never block. The only device-to-host traffic is one small
// copy of the per-frame results into pinned memory; query() tells when it has landed.
//
// This header needs no CUDA header: streams are passed as CUstream_st* (what cudaStream_t is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "squeeze/codec.h"

struct CUstream_st;

namespace squeeze::gpu {

using Stream = CUstream_st*;  // == cudaStream_t

enum class GpuStatus : int {
  kOk = 0,
  kInvalidArgument,  // a bad chunk (parameters, null pointer), or more chunks / bytes than the
                     // context was created for
  kOutputTooSmall,   // the compress output buffer is below batch_output_capacity()
  kBusy,             // the context's previous batch has not completed yet (see query())
  kCudaError,        // a CUDA call failed; last_error() says which and why
  kNoDevice,         // no usable CUDA device
};

const char* gpu_status_string(GpuStatus s);

struct BatchLimits {
  uint32_t max_chunks = 128;             // chunks per call
  uint64_t max_chunk_bytes = 128 << 10;  // bytes of one chunk (original, uncompressed)
};

// One chunk to compress: a device buffer (no alignment needed) and its own parameters.
struct ChunkToCompress {
  const void* src = nullptr;
  uint64_t src_bytes = 0;
  CodecParams params;
};

// Where a chunk's frame landed and what it holds (as FrameStats of the CPU compress()).
struct FrameResult {
  uint64_t offset = 0;  // from the start of the output buffer
  uint64_t bytes = 0;   // frame size
  uint64_t outliers = 0;
  double applied_bound = 0.0;
  uint8_t method = 0;
  uint8_t reserved[7] = {};
};

// One frame to decode: its device bytes (exactly one frame) and the device destination.
struct FrameToDecompress {
  const void* frame = nullptr;
  uint64_t frame_bytes = 0;
  void* dst = nullptr;
  uint64_t dst_capacity = 0;
};

struct DecodeResult {
  int32_t status = 0;      // squeeze::Status of this frame
  uint32_t reject = 0;     // version 2 frames: which check rejected it (the CPU decoder's, same
                           // numbering as its last_reject_reason(); 0 when none did)
  uint64_t out_bytes = 0;  // original bytes written (0 unless status is kOk)
};

// Output capacity compress_batch() requires: the sum of max_frame_bytes() over the chunks.
uint64_t batch_output_capacity(const ChunkToCompress* chunks, uint32_t n_chunks);

struct Context;

// Allocates every device and pinned buffer for batches within `limits` on the current device,
// and loads every kernel the batch calls use into its context (waiting for one warm-up scan), so
// that no later call is a kernel's first launch (see codec_cuda.cu, lazy loading). Not for a
// thread that must not block. On failure *out is null and *error (when given) says why.
GpuStatus create_context(const BatchLimits& limits, Context** out, std::string* error = nullptr);
void destroy_context(Context* ctx);
const char* last_error(const Context* ctx);

// Compresses the chunks (device pointers; the array itself is host memory, copied) into dst,
// a device buffer of at least batch_output_capacity() bytes. Frames go back to back in chunk
// order. Asynchronous on `stream`: the results are in host_frame_results() once query()
// returns kOk, and in device_frame_results() in stream order. A frame-level problem never
// fails the call: a chunk that cannot be compressed is stored raw, as on the CPU.
GpuStatus compress_batch(Context* ctx, const ChunkToCompress* chunks, uint32_t n_chunks, void* dst,
                         uint64_t dst_capacity, Stream stream);

// Decodes frames (device pointers) into their destinations. Each frame gets its own status in
// host_decode_results(): a hostile frame yields an error code there and nothing is read or
// written out of bounds. A frame whose original size exceeds its dst_capacity gets
// kOutputTooSmall; one larger than the context's max_chunk_bytes gets kInvalidArgument.
GpuStatus decompress_batch(Context* ctx, const FrameToDecompress* frames, uint32_t n_frames,
                           Stream stream);

// kOk when the last batch has completed (results readable), kBusy while it runs.
GpuStatus query(Context* ctx);
// Blocks until the last batch completed (tests and benchmarks; not for a proxy thread).
GpuStatus synchronize(Context* ctx);

const FrameResult* host_frame_results(const Context* ctx);
const DecodeResult* host_decode_results(const Context* ctx);
const FrameResult* device_frame_results(const Context* ctx);

// Convenience for one buffer (a single frame; all its blocks are still processed in parallel).
// The context must allow src_bytes per chunk.
GpuStatus compress_frame(Context* ctx, const CodecParams& params, const void* src,
                         uint64_t src_bytes, void* dst, uint64_t dst_capacity, Stream stream);

}  // namespace squeeze::gpu
