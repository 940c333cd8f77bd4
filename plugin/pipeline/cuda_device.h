// The device seam of the GPU-buffer pipeline (cuda_pipeline.h): everything the pipeline asks of
// a GPU, as a small interface. The real implementation (cuda_device_cuda.cc) drives the batched
// GPU codec (include/squeeze/codec_cuda.h) and the CUDA runtime on a per-connection
// non-blocking stream; the CPU implementation (cuda_device_cpu.h) executes the same steps on
// host memory with the CPU codec, so the pipeline's host-side logic is tested without a GPU.
//
// Threads: DeviceApi::create_lane and DeviceLane's destructor run on NCCL's service thread
// (regMr, closeSend/closeRecv); they allocate, free and may wait. Every other DeviceLane call
// runs on the progress thread (isend/irecv/test) and only enqueues work or polls: no
// allocation, no synchronization.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nccl_abi/net.h"
#include "squeeze/codec_cuda.h"

namespace squeeze::plugin {

// Per-connection limits of the GPU codec context. A lossy message above kGpuMaxChunkBytes passes
// through (NCCL's FIFO steps are 32 KiB to 512 KiB); both peers use the same constant, so a
// receiver's context always accepts what a sender's context produced.
constexpr uint32_t kGpuMaxBatch = 32;  // == NCCL_NET_MAX_REQUESTS: one batch can hold every request
constexpr uint64_t kGpuMaxChunkBytes = uint64_t{1} << 20;
// Completion markers recorded on a lane's stream; more than the requests that can hold one.
constexpr int kLaneEvents = 128;

struct LaneLimits {
  uint64_t staging_bytes = 0;  // pinned host staging, and as much device scratch
  uint32_t max_batch = kGpuMaxBatch;
  uint64_t max_chunk_bytes = kGpuMaxChunkBytes;
};

enum class EventState : uint8_t { kDone, kPending, kError };

// One connection's device resources: a codec context, a stream, events, pinned staging and device
// scratch of the same size. All work is queued on the lane's stream, in call order.
class DeviceLane {
 public:
  virtual ~DeviceLane() = default;

  virtual int device() const = 0;
  virtual uint64_t staging_bytes() const = 0;
  virtual char* pinned() = 0;   // staging_bytes() of pinned host memory
  virtual char* scratch() = 0;  // staging_bytes() of device memory

  // Every call below returns false on failure; error() then names the call and the reason and
  // error_code() is ncclUnhandledCudaError (a CUDA call failed) or ncclInternalError.
  virtual bool compress(const gpu::ChunkToCompress* chunks, uint32_t n, void* dst,
                        uint64_t dst_capacity) = 0;
  // Valid once an event recorded after compress() is done.
  virtual const gpu::FrameResult* frame_results() const = 0;
  virtual bool decompress(const gpu::FrameToDecompress* frames, uint32_t n) = 0;
  virtual const gpu::DecodeResult* decode_results() const = 0;
  virtual bool copy_to_host(void* host_dst, const void* device_src, uint64_t bytes) = 0;
  virtual bool copy_to_device(void* device_dst, const void* host_src, uint64_t bytes) = 0;
  // Records completion marker `event` (0 <= event < kLaneEvents) after the work queued so far.
  virtual bool record(int event) = 0;
  virtual EventState query(int event) = 0;

  virtual const std::string& error() const = 0;
  virtual ncclResult_t error_code() const = 0;
};

class DeviceApi {
 public:
  virtual ~DeviceApi() = default;
  virtual const char* name() const = 0;
  // The device a registered buffer lives on.
  virtual bool device_of(const void* ptr, int* device, std::string* error) = 0;
  // Allocates a lane on `device` (service thread). On failure *error says why.
  virtual ncclResult_t create_lane(int device, const LaneLimits& limits,
                                   std::unique_ptr<DeviceLane>* out, std::string* error) = 0;
};

// The CUDA implementation when this build has CUDA and a device is usable now; otherwise null
// and *why says which of the two is missing. Never crashes on a machine without a driver.
std::unique_ptr<DeviceApi> make_cuda_device_api(std::string* why);

namespace core {
// Tests: the device API the next init cycle uses instead of CUDA's (NULL: back to CUDA's).
void set_test_device_api(DeviceApi* api);
}  // namespace core

}  // namespace squeeze::plugin
