// The GPU-buffer half of a connection's pipeline (NCCL_PTR_CUDA memory handles), on top of a
// DeviceLane (cuda_device.h). Host-side orchestration only: it decides what to launch, in which
// batch, and when a request is done; the lane does the device work.
//
// Send:  isend queues the request (pinned staging reserved at once, or no request: back-pressure).
//        pump(): lossy requests -> one compress_batch over all queued ones (up to kGpuMaxBatch and
//        the device scratch) -> when its marker completed, only the frame bytes are copied to
//        pinned staging -> marker -> the request is done for NCCL (its buffer was read long
//        before) and the frame is ready for the helper threads (the socket transport). Done comes
//        only then because NCCL stops calling test() once every request is done, and test() is
//        what moves this pipeline.
//        Passthrough: async device-to-host copy into pinned staging -> marker -> done and ready.
//        A passthrough message above stream_threshold() streams instead (stream_plan.h): it owns
//        a window of the staging, ready for the sockets at once; each consumer's pieces are
//        copied into its slots as it frees them, and it sends each once its copy completed. The
//        request is done once every byte is in the kernel.
// Recv:  the helpers land the payload in pinned staging (alloc/release below) -> queue_recv.
//        pump(): passthrough: host-to-device copy straight into NCCL's buffer -> marker -> done.
//        Framed: copy into device scratch at the staging offset, one decompress_batch over all
//        landed frames straight into NCCL's buffers -> marker -> per-frame status checked -> done.
//        A passthrough message above stream_threshold() lands piece by piece in the slots of a
//        window; each piece is copied to NCCL's buffer, and its slot is free again once that copy
//        completed. Done once every piece is on the device.
//        A frame that decodes to more than the GPU decoder's chunk (from a sender with host
//        buffers) is decoded on the CPU by the connection's codec tasks into the same staging
//        block, then copied to NCCL's buffer as a passthrough payload is (queue_decoded).
// The device work of one connection is in order on one stream, so markers complete in order and
// one query of the oldest marker tells about everything before it.
//
// Every call is made with the connection's mutex held. pump() runs on NCCL's progress thread
// (from test(), and from isend when a full batch is queued): it only enqueues and polls.
#pragma once

#include <cstdint>
#include <memory>

#include "nccl_abi/net.h"
#include "plugin/classify/classify.h"
#include "plugin/classify/layout.h"
#include "plugin/pipeline/cuda_device.h"
#include "plugin/pipeline/staging.h"
#include "plugin/pipeline/stream_plan.h"
#include "squeeze/codec.h"

namespace squeeze::plugin {

class Comm;
struct Request;

// The GPU part of a request.
struct GpuRequestState {
  bool on_gpu = false;  // NCCL's buffer is device memory: this pipeline owns the request
  bool lossy = false;
  bool streamed = false;  // a passthrough message through the stream window (stream_plan.h)
  // Receive side: a frame the GPU decoder cannot take (it decodes to more than
  // kGpuMaxChunkBytes, from a sender with host buffers) is decoded on the CPU into `decoded`, in
  // the same staging block after the frame, then copied to the device.
  bool cpu_decode = false;
  char* decoded = nullptr;
  CodecParams params;
  TaskLayout layout;    // params.layout points into it (local row records on the GPU)
  uint64_t ticket = 0;  // completion marker the request waits for
};

class GpuPipeline {
 public:
  // Service thread: the lane was created for this connection's device.
  GpuPipeline(Comm* comm, std::unique_ptr<DeviceLane> lane);
  // Waits for the lane's stream (service thread, at close) and frees its resources.
  ~GpuPipeline();
  GpuPipeline(const GpuPipeline&) = delete;
  GpuPipeline& operator=(const GpuPipeline&) = delete;

  // regMr(NCCL_PTR_CUDA) on the service thread: finds the buffer's device and, on the
  // connection's first device buffer, allocates its lane and pipeline.
  static ncclResult_t attach(Comm* comm, const void* data, int* device);

  int device() const { return lane_->device(); }
  uint64_t staging_capacity() const { return staging_.capacity(); }

  // Pinned staging (send: a frame or a raw copy; recv: a landing payload). nullptr when full.
  char* alloc_staging(uint64_t bytes) { return staging_.alloc(bytes); }
  void release_staging(const char* p) {
    if (p != nullptr) staging_.release(p);
  }

  // Passthrough payloads above this many bytes stream (stream_plan.h) through a window of this
  // size; smaller ones are staged whole.
  uint64_t stream_threshold() const { return staging_.capacity() / 2; }

  // isend: settles lossy vs passthrough for the GPU path (a lossy message above the codec's
  // chunk limit, or whose frame could not fit the staging, passes through) and reserves its
  // pinned staging, or for a passthrough message above stream_threshold() the stream's window
  // (*streamed). *staging stays NULL when there is no room now, or another message is streaming
  // (back-pressure).
  void reserve_send(uint64_t size, ClassifyResult* cr, char** staging, bool* streamed);
  // Send side: r->gpu, r->data, r->size and r->staging are set. True when a full batch waits.
  // A streamed message is ready for the sockets at once.
  bool queue_send(Request* r);
  // Recv side: every byte of r's payload landed in pinned staging (r->payload), or, streamed,
  // on its way to the device.
  void queue_recv(Request* r);
  // Recv side: r's frame was decoded on the CPU into pinned staging (r->payload, r->wire_bytes
  // bytes): copied to NCCL's buffer as a passthrough payload is.
  void queue_decoded(Request* r) { raw_.push(r); }

  // Receive side, a passthrough header accepted for r (r->wire_bytes > stream_threshold()): r's
  // payload streams. False when another message is streaming or the staging has no room for the
  // window now (retry after progress).
  bool begin_recv_stream(Request* r);
  enum class PieceState : uint8_t { kReady, kWait, kEnd };
  // Consumer c's piece k of the streaming message: kReady with its span and its place in the
  // window (send: its bytes are there; recv: the slot is free to land it); kWait: not yet;
  // kEnd: c has no piece k.
  PieceState stream_piece(int c, uint64_t k, StreamPiece* piece, char** at) const;
  // Consumer c moved its next piece (send: it is in the kernel; recv: it landed).
  void stream_piece_moved(int c);
  // Send side: the streaming message is transmitted; its window is released.
  void end_send_stream(Request* r);
  // Advances the pipeline: completes what finished, launches what is queued.
  void pump();

 private:
  // A fixed-capacity FIFO of requests (no allocation).
  class Queue {
   public:
    bool empty() const { return count_ == 0; }
    int size() const { return count_; }
    Request* front() const { return items_[head_]; }
    void push(Request* r) {
      items_[(head_ + count_) % kCapacity] = r;
      ++count_;
    }
    Request* pop() {
      Request* r = items_[head_];
      head_ = (head_ + 1) % kCapacity;
      --count_;
      return r;
    }

   private:
    static constexpr int kCapacity = NCCL_NET_MAX_REQUESTS;
    Request* items_[kCapacity] = {};
    int head_ = 0;
    int count_ = 0;
  };

  // A message streaming through a window of the staging (stream_plan.h). Per consumer: pieces
  // whose copies were queued and completed, pieces moved on the socket side, and the marker of
  // the copy in each slot.
  struct Stream {
    Request* r = nullptr;  // nullptr: none
    char* window = nullptr;
    StreamPlan plan;
    uint64_t queued[kMaxStreamConsumers] = {};
    uint64_t finished[kMaxStreamConsumers] = {};
    uint64_t moved[kMaxStreamConsumers] = {};
    uint64_t ticket[kMaxStreamConsumers][kStreamSlots] = {};
  };

  bool send_side() const;
  void pump_send();
  void pump_recv();
  // Completes and queues the streaming message's copies; receive side: finishes it.
  void pump_stream();
  void begin_stream(Request* r, char* window);
  // A new completion marker after the work queued so far (0 on failure).
  uint64_t record();
  bool room_for_marker() const;
  // Whether marker `ticket` completed (polls the oldest unfinished markers in order).
  bool complete(uint64_t ticket);
  void fail_lane(const char* step);
  void fail(ncclResult_t code, const std::string& message);

  Comm* comm_;
  std::unique_ptr<DeviceLane> lane_;
  StagingRing staging_;  // over lane_->pinned(); device scratch mirrors its offsets
  Queue lossy_;          // queued for the next batch
  Queue raw_;            // queued for a plain copy
  Queue waiting_;        // copies in flight, in marker order
  Request* batch_[kGpuMaxBatch] = {};
  uint32_t batch_n_ = 0;
  uint64_t batch_ticket_ = 0;
  gpu::ChunkToCompress chunks_[kGpuMaxBatch];
  gpu::FrameToDecompress frames_[kGpuMaxBatch];
  Stream stream_;
  uint64_t next_ticket_ = 1;
  uint64_t done_ticket_ = 0;
  bool failed_ = false;
};

}  // namespace squeeze::plugin
