// DeviceApi on the CUDA runtime (linked statically, so the plugin loads on machines without a
// driver) and the batched GPU codec. Built only when the plugin is built with CUDA.
#include <cuda_runtime_api.h>

#include <cstdio>

#include "plugin/pipeline/cuda_device.h"

namespace squeeze::plugin {
namespace {

std::string cuda_message(const char* call, cudaError_t e) {
  return std::string(call) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

// The progress and service threads have NCCL's device current, which is the buffer's device
// unless PXN is on; switch only when it differs, and switch back (no synchronization either way).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) == cudaSuccess && previous_ != device) {
      switched_ = cudaSetDevice(device) == cudaSuccess;
    }
  }
  ~DeviceScope() {
    if (switched_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

class CudaLane final : public DeviceLane {
 public:
  explicit CudaLane(int device) : device_(device) {}

  ~CudaLane() override {
    DeviceScope scope(device_);
    // Closing a connection waits for its own stream only (service thread, no NCCL kernel depends
    // on it): the GPU may still be reading or writing buffers freed below, or NCCL's.
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    if (ctx_ != nullptr) gpu::destroy_context(ctx_);
    for (cudaEvent_t& e : events_) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (pinned_ != nullptr) cudaFreeHost(pinned_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  ncclResult_t init(const LaneLimits& limits, std::string* error) {
    DeviceScope scope(device_);
    int current = -1;
    cudaError_t e = cudaGetDevice(&current);
    if (e != cudaSuccess || current != device_) {
      *error = e != cudaSuccess ? cuda_message("cudaGetDevice", e)
                                : "cannot make device " + std::to_string(device_) + " current";
      return ncclUnhandledCudaError;
    }
    bytes_ = limits.staging_bytes;
    if ((e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)) != cudaSuccess) {
      *error = cuda_message("cudaStreamCreateWithFlags", e);
      return ncclUnhandledCudaError;
    }
    for (cudaEvent_t& ev : events_) {
      if ((e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming)) != cudaSuccess) {
        *error = cuda_message("cudaEventCreateWithFlags", e);
        return ncclUnhandledCudaError;
      }
    }
    // Portable: pinned for every context, whichever runtime (ours is static, NCCL's is its own)
    // made the primary context current.
    if ((e = cudaHostAlloc(reinterpret_cast<void**>(&pinned_), bytes_, cudaHostAllocPortable)) !=
        cudaSuccess) {
      pinned_ = nullptr;
      *error = cuda_message("cudaHostAlloc", e) + " of " + std::to_string(bytes_) + " bytes";
      return ncclUnhandledCudaError;
    }
    if ((e = cudaMalloc(reinterpret_cast<void**>(&scratch_), bytes_)) != cudaSuccess) {
      scratch_ = nullptr;
      *error = cuda_message("cudaMalloc", e) + " of " + std::to_string(bytes_) + " bytes";
      return ncclUnhandledCudaError;
    }
    gpu::BatchLimits bl;
    bl.max_chunks = limits.max_batch;
    bl.max_chunk_bytes = limits.max_chunk_bytes;
    std::string why;
    gpu::GpuStatus s = gpu::create_context(bl, &ctx_, &why);
    if (s != gpu::GpuStatus::kOk) {
      *error = "GPU codec context: " + why;
      return s == gpu::GpuStatus::kInvalidArgument ? ncclInternalError : ncclUnhandledCudaError;
    }
    return ncclSuccess;
  }

  int device() const override { return device_; }
  uint64_t staging_bytes() const override { return bytes_; }
  char* pinned() override { return pinned_; }
  char* scratch() override { return scratch_; }

  bool compress(const gpu::ChunkToCompress* chunks, uint32_t n, void* dst,
                uint64_t dst_capacity) override {
    DeviceScope scope(device_);
    return codec_ok("compress_batch",
                    gpu::compress_batch(ctx_, chunks, n, dst, dst_capacity, stream_));
  }
  const gpu::FrameResult* frame_results() const override { return gpu::host_frame_results(ctx_); }

  bool decompress(const gpu::FrameToDecompress* frames, uint32_t n) override {
    DeviceScope scope(device_);
    return codec_ok("decompress_batch", gpu::decompress_batch(ctx_, frames, n, stream_));
  }
  const gpu::DecodeResult* decode_results() const override {
    return gpu::host_decode_results(ctx_);
  }

  bool copy_to_host(void* host_dst, const void* device_src, uint64_t bytes) override {
    DeviceScope scope(device_);
    return cuda_ok("cudaMemcpyAsync(device to host)",
                   cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream_));
  }
  bool copy_to_device(void* device_dst, const void* host_src, uint64_t bytes) override {
    DeviceScope scope(device_);
    return cuda_ok("cudaMemcpyAsync(host to device)",
                   cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  }
  bool record(int event) override {
    DeviceScope scope(device_);
    return cuda_ok("cudaEventRecord", cudaEventRecord(events_[event], stream_));
  }
  EventState query(int event) override {
    // cudaEventQuery needs no current device.
    const cudaError_t e = cudaEventQuery(events_[event]);
    if (e == cudaSuccess) return EventState::kDone;
    if (e == cudaErrorNotReady) return EventState::kPending;
    cuda_ok("cudaEventQuery", e);
    return EventState::kError;
  }

  const std::string& error() const override { return error_; }
  ncclResult_t error_code() const override { return error_code_; }

 private:
  bool cuda_ok(const char* call, cudaError_t e) {
    if (e == cudaSuccess) return true;
    error_ = cuda_message(call, e);
    error_code_ = ncclUnhandledCudaError;
    return false;
  }
  bool codec_ok(const char* call, gpu::GpuStatus s) {
    if (s == gpu::GpuStatus::kOk) return true;
    error_ =
        std::string(call) + ": " + gpu::gpu_status_string(s) + " (" + gpu::last_error(ctx_) + ")";
    error_code_ = s == gpu::GpuStatus::kCudaError ? ncclUnhandledCudaError : ncclInternalError;
    return false;
  }

  int device_;
  uint64_t bytes_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t events_[kLaneEvents] = {};
  char* pinned_ = nullptr;
  char* scratch_ = nullptr;
  gpu::Context* ctx_ = nullptr;
  std::string error_;
  ncclResult_t error_code_ = ncclSuccess;
};

class CudaDeviceApi final : public DeviceApi {
 public:
  const char* name() const override { return "cuda"; }

  bool device_of(const void* ptr, int* device, std::string* error) override {
    cudaPointerAttributes attr{};
    const cudaError_t e = cudaPointerGetAttributes(&attr, ptr);
    if (e != cudaSuccess) {
      *error = cuda_message("cudaPointerGetAttributes", e);
      return false;
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
      *error = "cudaPointerGetAttributes: not device memory (type " +
               std::to_string(static_cast<int>(attr.type)) + ")";
      return false;
    }
    *device = attr.device;
    return true;
  }

  ncclResult_t create_lane(int device, const LaneLimits& limits, std::unique_ptr<DeviceLane>* out,
                           std::string* error) override {
    auto lane = std::make_unique<CudaLane>(device);
    ncclResult_t res = lane->init(limits, error);
    if (res != ncclSuccess) return res;
    *out = std::move(lane);
    return ncclSuccess;
  }
};

}  // namespace

std::unique_ptr<DeviceApi> make_cuda_device_api(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    *why = cuda_message("cudaGetDeviceCount", e);
    return nullptr;
  }
  if (count == 0) {
    *why = "no CUDA device";
    return nullptr;
  }
  *why = std::to_string(count) + " CUDA device(s)";
  return std::make_unique<CudaDeviceApi>();
}

}  // namespace squeeze::plugin
