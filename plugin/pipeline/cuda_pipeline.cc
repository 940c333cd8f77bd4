#include "plugin/pipeline/cuda_pipeline.h"

#include "plugin/log.h"
#include "plugin/pipeline/comm.h"

namespace squeeze::plugin {

// The smallest staging (STAGING_MB=1) holds a stream window for the most consumers (SOCKETS=64),
// a piece of kStreamPieceAlign per slot.
static_assert(StreamPlan::min_window(kMaxStreamConsumers) <= (uint64_t{1} << 20) / 2,
              "the stream window must fit half the smallest staging");

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

void GpuPipeline::reserve_send(uint64_t size, ClassifyResult* cr, char** staging, bool* streamed) {
  *staging = nullptr;
  *streamed = false;
  if (compresses(cr->decision) &&
      (size > kGpuMaxChunkBytes || max_frame_bytes(size) > comm_->frame_limit_ ||
       max_frame_bytes(size) > staging_.capacity())) {
    cr->decision = Decision::kPassTooLarge;
  }
  if (!compresses(cr->decision) && size > stream_threshold()) {
    if (stream_.r != nullptr) return;  // one message streams at a time
    *staging = staging_.alloc(stream_threshold());
    *streamed = *staging != nullptr;
    return;
  }
  *staging = staging_.alloc(compresses(cr->decision) ? max_frame_bytes(size) : size);
}

bool GpuPipeline::send_side() const {
  return comm_->dir_ == Comm::Dir::kSend;
}

bool GpuPipeline::queue_send(Request* r) {
  if (r->gpu.streamed) {
    r->kind = wire::PayloadKind::kRaw;
    r->wire_bytes = r->size;
    begin_stream(r, r->staging);
    r->staging = nullptr;  // the stream owns the window
    r->payload = nullptr;  // the bytes come from the window, piece by piece
    // NCCL's buffer is read until the last piece was copied: done once transmitted.
    comm_->send_ready_locked(r, /*nccl_buffer_free=*/false);
    return false;
  }
  if (r->gpu.lossy) {
    lossy_.push(r);
  } else {
    raw_.push(r);
  }
  return lossy_.size() >= static_cast<int>(kGpuMaxBatch);
}

void GpuPipeline::queue_recv(Request* r) {
  if (r->gpu.streamed) return;  // pump_stream() finishes it once every piece is on the device
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
  if (!failed_) pump_stream();
}

void GpuPipeline::begin_stream(Request* r, char* window) {
  const Comm& c = *comm_;
  stream_ = Stream{};
  stream_.r = r;
  stream_.window = window;
  stream_.plan = StreamPlan(r->seq, r->wire_bytes, c.n_sockets_,
                            c.inline_ ? c.n_sockets_ : c.n_threads_, stream_threshold());
}

bool GpuPipeline::begin_recv_stream(Request* r) {
  if (stream_.r != nullptr) return false;
  char* window = staging_.alloc(stream_threshold());
  if (window == nullptr) return false;
  begin_stream(r, window);
  return true;
}

GpuPipeline::PieceState GpuPipeline::stream_piece(int c, uint64_t k, StreamPiece* piece,
                                                  char** at) const {
  if (!stream_.plan.piece(c, k, piece)) return PieceState::kEnd;
  // Send: the piece's copy completed. Recv: the slot's previous piece is on the device.
  const bool ready = send_side() ? k < stream_.finished[c] : k < stream_.finished[c] + kStreamSlots;
  if (!ready) return PieceState::kWait;
  *at = stream_.window + stream_.plan.slot_offset(c, k);
  return PieceState::kReady;
}

void GpuPipeline::stream_piece_moved(int c) {
  ++stream_.moved[c];
}

void GpuPipeline::end_send_stream(Request* r) {
  if (stream_.r != r) return;
  release_staging(stream_.window);
  stream_ = Stream{};
}

void GpuPipeline::pump_stream() {
  Stream& st = stream_;
  if (st.r == nullptr) return;
  Request* r = st.r;
  const bool send = send_side();
  const int consumers = st.plan.consumers();
  // 1. Copies that completed: send, the consumer may put the piece on its socket; recv, its slot
  //    is free again.
  bool any = false;
  for (int c = 0; c < consumers; ++c) {
    while (st.finished[c] < st.queued[c] && complete(st.ticket[c][st.finished[c] % kStreamSlots])) {
      ++st.finished[c];
      any = true;
    }
  }
  // 2. New copies: send, into the slots the consumers freed; recv, of the pieces that landed.
  if (room_for_marker()) {
    const uint64_t t = next_ticket_;
    bool queued = false;
    for (int c = 0; c < consumers; ++c) {
      for (;;) {
        const uint64_t k = st.queued[c];
        if (send ? k >= st.moved[c] + kStreamSlots : k >= st.moved[c]) break;
        StreamPiece p;
        if (!st.plan.piece(c, k, &p)) break;
        char* pinned = st.window + st.plan.slot_offset(c, k);
        char* device = static_cast<char*>(r->data) + p.offset;
        if (send ? !lane_->copy_to_host(pinned, device, p.len)
                 : !lane_->copy_to_device(device, pinned, p.len)) {
          fail_lane(send ? "copying a piece of a streamed message to host"
                         : "copying a piece of a streamed message to the device");
          return;
        }
        st.ticket[c][k % kStreamSlots] = t;
        ++st.queued[c];
        queued = true;
      }
    }
    if (queued && record() == 0) return;
  }
  // 3. Receive side: every piece landed (the message is transmitted) and is on the device.
  if (!send && r->transmitted) {
    bool all = true;
    for (int c = 0; c < consumers && all; ++c) all = st.finished[c] == st.plan.pieces(c);
    if (all) {
      release_staging(st.window);
      st = Stream{};
      r->state = Request::State::kDone;
      any = true;
    }
  }
  if (any) comm_->cv_.notify_all();
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
      // Frames above the GPU decoder's chunk are decoded on the CPU (GpuRequestState::
      // cpu_decode) and never queued here: a bounds check, not a path.
      if (r->original_bytes > kGpuMaxChunkBytes) {
        fail(ncclInternalError, "message " + std::to_string(r->seq) + " from " + c.peer_desc() +
                                    " is a frame of " + std::to_string(r->original_bytes) +
                                    " bytes queued for the GPU decoder, above its " +
                                    std::to_string(kGpuMaxChunkBytes) + "-byte limit");
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
