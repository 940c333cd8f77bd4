// A DeviceApi that runs the GPU pipeline's steps on the CPU, for tests on machines without a GPU.
// "Device" memory is host memory. Work is queued per lane like work on a CUDA stream and executes,
// in order, only when a query finds one of the completion markers recorded after it done, so a
// pipeline that reads results or reports a request before its event completed gets stale data in
// the tests, as it would on a GPU. The codec is the CPU codec, which writes the same bytes as the
// GPU codec.
//
// Test knobs (any thread): hold events (nothing completes), let each event need several queries,
// fail the next call of a kind as a CUDA error would, put an error status into the next decode
// results; counters of batches and chunks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugin/pipeline/cuda_device.h"

namespace squeeze::plugin {

struct CpuDeviceControl {
  enum class Fail : int { kNone, kCompress, kDecompress, kCopyToHost, kCopyToDevice, kRecord };
  std::atomic<bool> hold{false};            // every query answers pending
  std::atomic<int> queries_per_event{1};    // queries before an event completes
  std::atomic<int> fail_next{0};            // a Fail value: the next such call fails
  std::atomic<int> corrupt_next_decode{0};  // non-zero: that status for frame 0 of the next batch
  // Counters.
  std::atomic<uint64_t> compress_batches{0};
  std::atomic<uint64_t> compressed_chunks{0};
  std::atomic<uint64_t> largest_compress_batch{0};
  std::atomic<uint64_t> decompress_batches{0};
  std::atomic<uint64_t> decompressed_frames{0};
  std::atomic<uint64_t> largest_decompress_batch{0};
  std::atomic<uint64_t> copies_to_host{0};
  std::atomic<uint64_t> copies_to_device{0};
  std::atomic<uint64_t> lanes_created{0};
  std::atomic<int> lanes_alive{0};

  void reset_counters();
};

class CpuDeviceApi final : public DeviceApi {
 public:
  const char* name() const override { return "cpu-test"; }
  bool device_of(const void* ptr, int* device, std::string* error) override;
  ncclResult_t create_lane(int device, const LaneLimits& limits, std::unique_ptr<DeviceLane>* out,
                           std::string* error) override;
  CpuDeviceControl& control() { return control_; }

 private:
  CpuDeviceControl control_;
};

}  // namespace squeeze::plugin
