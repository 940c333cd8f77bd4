#include "plugin/pipeline/cuda_device_cpu.h"

#include <cstring>
#include <new>

namespace squeeze::plugin {
namespace {

// Upper bound on operations queued between two completed events (a pump queues at most a batch
// of copies, one launch and a few markers; the pipeline keeps fewer than kLaneEvents markers).
constexpr int kMaxOps = 4096;

void bump_max(std::atomic<uint64_t>* m, uint64_t v) {
  uint64_t cur = m->load();
  while (v > cur && !m->compare_exchange_weak(cur, v)) {
  }
}

class CpuLane final : public DeviceLane {
 public:
  CpuLane(CpuDeviceControl* control, int device, const LaneLimits& limits)
      : control_(control), device_(device), limits_(limits) {
    control_->lanes_alive.fetch_add(1);
  }
  ~CpuLane() override { control_->lanes_alive.fetch_sub(1); }

  bool init() {
    bytes_ = limits_.staging_bytes;
    pinned_.reset(new (std::nothrow) char[bytes_]);
    scratch_.reset(new (std::nothrow) char[bytes_]);
    ops_.reset(new (std::nothrow) Op[kMaxOps]);
    if (!pinned_ || !scratch_ || !ops_) return false;
    control_->lanes_created.fetch_add(1);
    return true;
  }

  int device() const override { return device_; }
  uint64_t staging_bytes() const override { return bytes_; }
  char* pinned() override { return pinned_.get(); }
  char* scratch() override { return scratch_.get(); }

  bool compress(const gpu::ChunkToCompress* chunks, uint32_t n, void* dst,
                uint64_t dst_capacity) override {
    if (injected(CpuDeviceControl::Fail::kCompress, "compress_batch")) return false;
    if (batch_queued_) return invalid("compress_batch: busy (previous batch not completed)");
    if (n > limits_.max_batch) return invalid("compress_batch: too many chunks");
    uint64_t need = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (chunks[i].src_bytes > limits_.max_chunk_bytes)
        return invalid("compress_batch: chunk above max_chunk_bytes");
      need += max_frame_bytes(chunks[i].src_bytes);
    }
    if (need > dst_capacity) return invalid("compress_batch: output below capacity");
    for (uint32_t i = 0; i < n; ++i) chunks_[i] = chunks[i];
    Op op{};
    op.kind = Op::kCompress;
    op.n = n;
    op.dst = dst;
    if (!push(op)) return false;
    batch_queued_ = true;
    control_->compress_batches.fetch_add(1);
    control_->compressed_chunks.fetch_add(n);
    bump_max(&control_->largest_compress_batch, n);
    return true;
  }
  const gpu::FrameResult* frame_results() const override { return frame_results_; }

  bool decompress(const gpu::FrameToDecompress* frames, uint32_t n) override {
    if (injected(CpuDeviceControl::Fail::kDecompress, "decompress_batch")) return false;
    if (batch_queued_) return invalid("decompress_batch: busy (previous batch not completed)");
    if (n > limits_.max_batch) return invalid("decompress_batch: too many frames");
    for (uint32_t i = 0; i < n; ++i) frames_[i] = frames[i];
    Op op{};
    op.kind = Op::kDecompress;
    op.n = n;
    if (!push(op)) return false;
    batch_queued_ = true;
    control_->decompress_batches.fetch_add(1);
    control_->decompressed_frames.fetch_add(n);
    bump_max(&control_->largest_decompress_batch, n);
    return true;
  }
  const gpu::DecodeResult* decode_results() const override { return decode_results_; }

  bool copy_to_host(void* host_dst, const void* device_src, uint64_t bytes) override {
    if (injected(CpuDeviceControl::Fail::kCopyToHost, "cudaMemcpyAsync(device to host)"))
      return false;
    control_->copies_to_host.fetch_add(1);
    return push_copy(host_dst, device_src, bytes);
  }
  bool copy_to_device(void* device_dst, const void* host_src, uint64_t bytes) override {
    if (injected(CpuDeviceControl::Fail::kCopyToDevice, "cudaMemcpyAsync(host to device)"))
      return false;
    control_->copies_to_device.fetch_add(1);
    return push_copy(device_dst, host_src, bytes);
  }
  bool record(int event) override {
    if (injected(CpuDeviceControl::Fail::kRecord, "cudaEventRecord")) return false;
    if (event < 0 || event >= kLaneEvents) return invalid("record: bad event");
    events_[event].end = queued_;
    events_[event].queries = 0;
    events_[event].recorded = true;
    return true;
  }
  EventState query(int event) override {
    Event& e = events_[event];
    if (!e.recorded) return EventState::kDone;  // like a never-recorded CUDA event
    if (e.end <= executed_) return EventState::kDone;
    if (control_->hold.load()) return EventState::kPending;
    if (++e.queries < control_->queries_per_event.load()) return EventState::kPending;
    while (executed_ < e.end) execute(ops_[executed_++ % kMaxOps]);
    return EventState::kDone;
  }

  const std::string& error() const override { return error_; }
  ncclResult_t error_code() const override { return error_code_; }

 private:
  struct Op {
    enum Kind : uint8_t { kCopy, kCompress, kDecompress } kind;
    uint32_t n;
    void* dst;
    const void* src;
    uint64_t bytes;
  };
  struct Event {
    uint64_t end = 0;
    int queries = 0;
    bool recorded = false;
  };

  bool injected(CpuDeviceControl::Fail what, const char* call) {
    int expected = static_cast<int>(what);
    if (!control_->fail_next.compare_exchange_strong(expected, 0)) return false;
    error_ = std::string(call) + ": cudaErrorUnknown (injected failure)";
    error_code_ = ncclUnhandledCudaError;
    return true;
  }
  bool invalid(const char* what) {
    error_ = what;
    error_code_ = ncclInternalError;
    return false;
  }
  bool push(const Op& op) {
    if (queued_ - executed_ >= static_cast<uint64_t>(kMaxOps)) return invalid("op queue full");
    ops_[queued_++ % kMaxOps] = op;
    return true;
  }
  bool push_copy(void* dst, const void* src, uint64_t bytes) {
    Op op{};
    op.kind = Op::kCopy;
    op.dst = dst;
    op.src = src;
    op.bytes = bytes;
    return push(op);
  }

  void execute(const Op& op) {
    switch (op.kind) {
      case Op::kCopy:
        if (op.bytes > 0) std::memcpy(op.dst, op.src, op.bytes);
        break;
      case Op::kCompress: {
        uint64_t offset = 0;
        auto* out = static_cast<char*>(op.dst);
        for (uint32_t i = 0; i < op.n; ++i) {
          const gpu::ChunkToCompress& c = chunks_[i];
          size_t frame = 0;
          FrameStats st;
          Status s = squeeze::compress(c.params, c.src, c.src_bytes, out + offset,
                                       max_frame_bytes(c.src_bytes), &frame, &st);
          gpu::FrameResult& r = frame_results_[i];
          r = gpu::FrameResult{};
          r.offset = offset;
          // The GPU codec never fails a frame (it stores it raw); a failure here is a test bug,
          // made visible to the pipeline as an empty frame.
          r.bytes = s == Status::kOk ? frame : 0;
          r.outliers = st.outliers;
          r.applied_bound = st.applied_bound;
          r.method = st.method;
          offset += r.bytes;
        }
        batch_queued_ = false;
        break;
      }
      case Op::kDecompress: {
        for (uint32_t i = 0; i < op.n; ++i) {
          const gpu::FrameToDecompress& f = frames_[i];
          size_t out = 0;
          Status s = squeeze::decompress(f.frame, f.frame_bytes, f.dst, f.dst_capacity, &out);
          decode_results_[i] = gpu::DecodeResult{};
          decode_results_[i].status = static_cast<int32_t>(s);
          decode_results_[i].out_bytes = s == Status::kOk ? out : 0;
        }
        int corrupt = control_->corrupt_next_decode.exchange(0);
        if (corrupt != 0 && op.n > 0) {
          decode_results_[0].status = corrupt;
          decode_results_[0].out_bytes = 0;
        }
        batch_queued_ = false;
        break;
      }
    }
  }

  CpuDeviceControl* control_;
  int device_;
  LaneLimits limits_;
  uint64_t bytes_ = 0;
  std::unique_ptr<char[]> pinned_;
  std::unique_ptr<char[]> scratch_;
  std::unique_ptr<Op[]> ops_;
  uint64_t queued_ = 0;
  uint64_t executed_ = 0;
  bool batch_queued_ = false;
  Event events_[kLaneEvents];
  gpu::ChunkToCompress chunks_[kGpuMaxBatch];
  gpu::FrameToDecompress frames_[kGpuMaxBatch];
  gpu::FrameResult frame_results_[kGpuMaxBatch];
  gpu::DecodeResult decode_results_[kGpuMaxBatch];
  std::string error_;
  ncclResult_t error_code_ = ncclSuccess;
};

}  // namespace

void CpuDeviceControl::reset_counters() {
  compress_batches = 0;
  compressed_chunks = 0;
  largest_compress_batch = 0;
  decompress_batches = 0;
  decompressed_frames = 0;
  largest_decompress_batch = 0;
  copies_to_host = 0;
  copies_to_device = 0;
  lanes_created = 0;
}

bool CpuDeviceApi::device_of(const void* ptr, int* device, std::string* error) {
  if (ptr == nullptr) {
    *error = "device_of: NULL pointer";
    return false;
  }
  *device = 0;
  return true;
}

ncclResult_t CpuDeviceApi::create_lane(int device, const LaneLimits& limits,
                                       std::unique_ptr<DeviceLane>* out, std::string* error) {
  auto lane = std::make_unique<CpuLane>(&control_, device, limits);
  if (!lane->init()) {
    *error = "cannot allocate " + std::to_string(limits.staging_bytes) + " bytes of test staging";
    return ncclSystemError;
  }
  *out = std::move(lane);
  return ncclSuccess;
}

}  // namespace squeeze::plugin
