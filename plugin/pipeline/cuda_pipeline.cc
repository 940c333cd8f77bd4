#include "plugin/pipeline/cuda_pipeline.h"

#include "plugin/log.h"
#include "plugin/pipeline/comm.h"

namespace squeeze::plugin {

GpuPipeline::GpuPipeline(Comm* comm, std::unique_ptr<DeviceLane> lane)
    : comm_(comm), lane_(std::move(lane)) {
  staging_.init_external(lane_->pinned(), lane_->staging_bytes());
}

GpuPipeline::~GpuPipeline() {
  lane_.reset();  // synchronizes the lane's stream before freeing anything
}

ncclResult_t GpuPipeline::attach(Comm* comm, const void* data, int* device) {
  DeviceApi* api = comm->options_.device_api;
  std::string error;
  SQZ_REQUIRE(api->device_of(data, device, &error), ncclInvalidArgument,
              "regMr(NCCL_PTR_CUDA) of %p on connection %llu (%s): %s", data,
              static_cast<unsigned long long>(comm->id()), comm->peer().c_str(), error.c_str());
  {
    std::lock_guard<std::mutex> lock(comm->mu_);
    if (comm->gpu_ != nullptr) {
      SQZ_REQUIRE(comm->gpu_->device() == *device, ncclInvalidUsage,
                  "regMr(NCCL_PTR_CUDA): buffer %p is on device %d, connection %llu (%s) works "
                  "on device %d (PXN? set NCCL_PXN_DISABLE=1)",
                  data, *device, static_cast<unsigned long long>(comm->id()), comm->peer().c_str(),
                  comm->gpu_->device());
      return ncclSuccess;
    }
  }
  LaneLimits limits;
  limits.staging_bytes = comm->options_.staging_bytes;
  std::unique_ptr<DeviceLane> lane;
  ncclResult_t res = api->create_lane(*device, limits, &lane, &error);
  SQZ_REQUIRE(res == ncclSuccess, res,
              "regMr(NCCL_PTR_CUDA): cannot set up the GPU pipeline of connection %llu (%s) on "
              "device %d: %s",
              static_cast<unsigned long long>(comm->id()), comm->peer().c_str(), *device,
              error.c_str());
  auto pipeline = std::make_unique<GpuPipeline>(comm, std::move(lane));
  std::lock_guard<std::mutex> lock(comm->mu_);
  if (comm->gpu_ == nullptr) {
    comm->gpu_ = std::move(pipeline);
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "%s connection %llu (%s): GPU buffers on device %d, %s pipeline, %llu bytes of "
             "pinned staging",
             comm->dir_ == Comm::Dir::kSend ? "send" : "recv",
             static_cast<unsigned long long>(comm->id()), comm->peer().c_str(), *device,
             api->name(), static_cast<unsigned long long>(limits.staging_bytes));
  }
  return ncclSuccess;
}

ncclResult_t GpuPipeline::reserve_send(uint64_t size, ClassifyResult* cr, char** staging) {
  *staging = nullptr;
  if (compresses(cr->decision) &&
      (size > kGpuMaxChunkBytes || max_frame_bytes(size) > comm_->frame_limit_)) {
    cr->decision = Decision::kPassTooLarge;
  }
  const uint64_t need = compresses(cr->decision) ? max_frame_bytes(size) : size;
  SQZ_REQUIRE(need <= staging_.capacity(), ncclInvalidUsage,
              "isend of %llu bytes from GPU memory to %s: above the GPU pipeline's staging of %llu "
              "bytes (raise NCCL_SQUEEZE_STAGING_MB, or set NCCL_LOCAL_REGISTER=0 and "
              "NCCL_GRAPH_REGISTER=0 so NCCL sends in FIFO-sized steps)",
              static_cast<unsigned long long>(size), comm_->peer_desc().c_str(),
              static_cast<unsigned long long>(staging_.capacity()));
  *staging = staging_.alloc(need);
  return ncclSuccess;
}

bool GpuPipeline::send_side() const {
  return comm_->dir_ == Comm::Dir::kSend;
}

bool GpuPipeline::queue_send(Request* r) {
  if (r->gpu.lossy) {
    lossy_.push(r);
  } else {
    raw_.push(r);
  }
  return lossy_.size() >= static_cast<int>(kGpuMaxBatch);
}

void GpuPipeline::queue_recv(Request* r) {
  if (r->wire_bytes == 0) {
    r->state = Request::State::kDone;  // nothing to copy
    return;
  }
  if (r->kind == wire::PayloadKind::kFramed) {
    lossy_.push(r);
  } else {
    raw_.push(r);
  }
}

void GpuPipeline::pump() {
  if (failed_ || comm_->error_code_ != ncclSuccess) return;
  if (send_side()) {
    pump_send();
  } else {
    pump_recv();
  }
}

bool GpuPipeline::room_for_marker() const {
  return next_ticket_ - 1 - done_ticket_ < static_cast<uint64_t>(kLaneEvents - 1);
}

uint64_t GpuPipeline::record() {
  const uint64_t t = next_ticket_;
  if (!lane_->record(static_cast<int>(t % kLaneEvents))) {
    fail_lane("recording a completion event");
    return 0;
  }
  ++next_ticket_;
  return t;
}

bool GpuPipeline::complete(uint64_t ticket) {
  while (done_ticket_ < ticket) {
    EventState s = lane_->query(static_cast<int>((done_ticket_ + 1) % kLaneEvents));
    if (s == EventState::kPending) return false;
    if (s == EventState::kError) {
      fail_lane("polling a completion event");
      return false;
    }
    ++done_ticket_;
  }
  return true;
}

void GpuPipeline::fail(ncclResult_t code, const std::string& message) {
  failed_ = true;
  comm_->fail_locked(code, message);
}

void GpuPipeline::fail_lane(const char* step) {
  fail(lane_->error_code() != ncclSuccess ? lane_->error_code() : ncclInternalError,
       "GPU pipeline, " + std::string(step) + " on device " + std::to_string(lane_->device()) +
           " for " + comm_->peer_desc() + ": " + lane_->error());
}

void GpuPipeline::pump_send() {
  Comm& c = *comm_;
  // 1. A compress batch finished (the GPU has read NCCL's buffers): copy only the frame bytes to
  //    pinned staging for the socket. The requests are reported done once that copy completed,
  //    not before: NCCL stops calling test() on a connection whose requests are all done, and
  //    only test() moves this pipeline on.
  if (batch_n_ > 0 && room_for_marker() && complete(batch_ticket_)) {
    const gpu::FrameResult* results = lane_->frame_results();
    const uint64_t t = next_ticket_;  // the marker recorded after these copies
    for (uint32_t i = 0; i < batch_n_; ++i) {
      Request* r = batch_[i];
      const gpu::FrameResult& fr = results[i];
      if (fr.bytes < kFrameHeaderBytes || fr.bytes > max_frame_bytes(r->size) ||
          fr.offset + fr.bytes > lane_->staging_bytes()) {
        fail(ncclInternalError, "GPU codec returned a frame of " + std::to_string(fr.bytes) +
                                    " bytes at offset " + std::to_string(fr.offset) +
                                    " for message " + std::to_string(r->seq) + " of " +
                                    std::to_string(r->size) + " bytes to " + c.peer_desc());
        return;
      }
      if (!lane_->copy_to_host(r->staging, lane_->scratch() + fr.offset, fr.bytes)) {
        fail_lane("copying a frame to host");
        return;
      }
      r->kind = wire::PayloadKind::kFramed;
      r->wire_bytes = fr.bytes;
      c.stats_.note_bound(fr.applied_bound);
      c.stats_.outliers.fetch_add(fr.outliers, std::memory_order_relaxed);
      r->gpu.ticket = t;
      waiting_.push(r);
    }
    batch_n_ = 0;
    if (record() == 0) return;
  }
  // 2. Passthrough: device-to-host copies straight from NCCL's buffers.
  if (!raw_.empty() && room_for_marker()) {
    const uint64_t t = next_ticket_;
    while (!raw_.empty()) {
      Request* r = raw_.front();
      if (!lane_->copy_to_host(r->staging, r->data, r->size)) {
        fail_lane("copying a passthrough message to host");
        return;
      }
      r->gpu.ticket = t;
      waiting_.push(raw_.pop());
    }
    if (record() == 0) return;
  }
  // 3. One compress batch over the queued lossy sends (the codec context runs one at a time).
  if (batch_n_ == 0 && !lossy_.empty() && room_for_marker()) {
    uint64_t capacity = 0;
    while (!lossy_.empty() && batch_n_ < kGpuMaxBatch) {
      Request* r = lossy_.front();
      const uint64_t need = max_frame_bytes(r->size);
      if (capacity + need > lane_->staging_bytes()) break;
      gpu::ChunkToCompress& ch = chunks_[batch_n_];
      ch.src = r->data;
      ch.src_bytes = r->size;
      ch.params = r->gpu.params;
      batch_[batch_n_++] = lossy_.pop();
      capacity += need;
    }
    if (batch_n_ > 0 && !lane_->compress(chunks_, batch_n_, lane_->scratch(), capacity)) {
      fail_lane("launching a compress batch");
      return;
    }
    if (batch_n_ > 0 && (batch_ticket_ = record()) == 0) return;
  }
  // 4. Copies that completed: the frames (or raw bytes) are in pinned memory; on to the socket.
  bool any = false;
  while (!waiting_.empty() && complete(waiting_.front()->gpu.ticket)) {
    Request* r = waiting_.pop();
    if (!r->gpu.lossy) {
      r->kind = wire::PayloadKind::kRaw;
      r->wire_bytes = r->size;
    }
    r->payload = r->staging;
    c.send_ready_locked(r, /*nccl_buffer_free=*/true);  // the bytes are in pinned memory
    any = true;
  }
  if (any) c.cv_.notify_all();
}

void GpuPipeline::pump_recv() {
  Comm& c = *comm_;
  // 1. A decompress batch finished: check every frame's status, then the requests are done.
  if (batch_n_ > 0 && complete(batch_ticket_)) {
    const gpu::DecodeResult* results = lane_->decode_results();
    for (uint32_t i = 0; i < batch_n_; ++i) {
      Request* r = batch_[i];
      const gpu::DecodeResult& dr = results[i];
      if (dr.status != static_cast<int32_t>(Status::kOk) || dr.out_bytes != r->original_bytes) {
        fail(ncclSystemError,
             "corrupt frame in message " + std::to_string(r->seq) + " from " + c.peer_desc() +
                 " (decoded on GPU " + std::to_string(lane_->device()) + "): " +
                 (dr.status != static_cast<int32_t>(Status::kOk)
                      ? std::string(status_string(static_cast<Status>(dr.status)))
                      : "decoded " + std::to_string(dr.out_bytes) + " bytes, header said " +
                            std::to_string(r->original_bytes)));
        return;
      }
      release_staging(r->staging);
      r->staging = nullptr;
      r->state = Request::State::kDone;
    }
    batch_n_ = 0;
    c.cv_.notify_all();  // a helper may wait for staging
  }
  // 2. Passthrough copies that completed.
  bool released = false;
  while (!waiting_.empty() && complete(waiting_.front()->gpu.ticket)) {
    Request* r = waiting_.pop();
    release_staging(r->staging);
    r->staging = nullptr;
    r->state = Request::State::kDone;
    released = true;
  }
  if (released) c.cv_.notify_all();
  // 3. Passthrough: host-to-device copies straight into NCCL's buffers.
  if (!raw_.empty() && room_for_marker()) {
    const uint64_t t = next_ticket_;
    while (!raw_.empty()) {
      Request* r = raw_.front();
      if (!lane_->copy_to_device(r->data, r->payload, r->wire_bytes)) {
        fail_lane("copying a passthrough message to the device");
        return;
      }
      r->gpu.ticket = t;
      waiting_.push(raw_.pop());
    }
    if (record() == 0) return;
  }
  // 4. One decompress batch over the landed frames, each copied to device scratch at its staging
  //    offset first (same stream: the copies precede the kernels).
  if (batch_n_ == 0 && !lossy_.empty() && room_for_marker()) {
    while (!lossy_.empty() && batch_n_ < kGpuMaxBatch) {
      Request* r = lossy_.front();
      if (r->original_bytes > kGpuMaxChunkBytes) {
        fail(ncclInvalidUsage,
             "message " + std::to_string(r->seq) + " from " + c.peer_desc() + " is a frame of " +
                 std::to_string(r->original_bytes) + " bytes, above the GPU decoder's " +
                 std::to_string(kGpuMaxChunkBytes) +
                 "-byte limit (a sender with host buffers sent it; see README, GPU buffers)");
        return;
      }
      char* device_copy = lane_->scratch() + (r->payload - lane_->pinned());
      if (!lane_->copy_to_device(device_copy, r->payload, r->wire_bytes)) {
        fail_lane("copying a frame to the device");
        return;
      }
      gpu::FrameToDecompress& f = frames_[batch_n_];
      f.frame = device_copy;
      f.frame_bytes = r->wire_bytes;
      f.dst = r->data;
      f.dst_capacity = r->size;
      batch_[batch_n_++] = lossy_.pop();
    }
    if (!lane_->decompress(frames_, batch_n_)) {
      fail_lane("launching a decompress batch");
      return;
    }
    batch_ticket_ = record();
    if (batch_ticket_ == 0) return;
  }
}

}  // namespace squeeze::plugin
