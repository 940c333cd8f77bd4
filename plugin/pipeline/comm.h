// One established connection (send or receive side) and its request pipeline.
//
// Send:  isend -> classify -> (lossy) compress into staging on the codec engine, request done as
//        soon as the frame is queued | (passthrough) no copy, the helpers send straight from
//        NCCL's buffer and the request is done once the bytes are in the kernel.
// Recv:  irecv -> the helper of the message's header socket (wire.h) reads the header, checks it
//        against the posted size, picks the destination (NCCL's buffer for raw payloads, staging
//        for frames) -> helpers read the chunks -> (framed) decompress into NCCL's buffer on the
//        codec engine.
// Requests complete in posting order. All waiting happens on the helper threads; NCCL's proxy
// thread never blocks in isend/irecv/test.
//
// Inline progress (no helper threads, NCCL_SQUEEZE_THREADS=0): the same wire protocol, but the
// proxy thread itself moves the bytes with non-blocking socket calls in isend, irecv and test, one
// cursor per socket. A send then completes only once its bytes are in the kernel: NCCL stops
// calling test() on a connection whose requests are all done, and test() is what moves them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nccl_abi/net.h"
#include "plugin/classify/classify.h"
#include "plugin/classify/history.h"
#include "plugin/pipeline/codec_engine.h"
#include "plugin/pipeline/cuda_pipeline.h"
#include "plugin/pipeline/net_comm.h"
#include "plugin/pipeline/staging.h"
#include "plugin/stats.h"
#include "plugin/transport/tcp.h"
#include "plugin/transport/wire.h"

namespace squeeze::plugin {

class Comm;

constexpr uint32_t kMrMagic = 0x524d5153;  // "SQMR"

struct MemoryRegion {
  uint32_t magic = kMrMagic;
  Comm* comm = nullptr;
  void* data = nullptr;
  size_t size = 0;
  int type = 0;
  int position = 0;  // registration order on the comm (classification)
  int device = -1;   // NCCL_PTR_CUDA: the buffer's device
};

struct Request : RequestBase {
  enum class State : uint8_t { kFree, kPending, kDone };
  Comm* comm = nullptr;
  State state = State::kFree;
  uint32_t seq = 0;
  void* data = nullptr;  // NCCL's buffer
  size_t size = 0;       // send: bytes to send; recv: posted capacity
  int tag = 0;
  // Transmission (valid once `ready`).
  bool ready = false;
  wire::PayloadKind kind = wire::PayloadKind::kRaw;
  uint64_t original_bytes = 0;
  uint64_t wire_bytes = 0;
  char* payload = nullptr;  // where the wire bytes come from / land
  char* staging = nullptr;  // staging block to release, if any
  int parts_left = 0;       // helper threads that have not finished their part yet
  bool transmitted = false;
  bool tested = false;
  bool decode_submitted = false;  // receive side: its frame went to the codec engine
  // Send side, a lossy frame of a connection with a stream history: whether it may refer to
  // the history, and the measurement it belongs to (HistoryGauge).
  HistoryGauge::Ticket history;
  CodecTask task;
  GpuRequestState gpu;  // NCCL_PTR_CUDA buffers (cuda_pipeline.h)

  // Takes a free slot for a newly posted isend / irecv: the fields every post sets alike.
  void post(uint32_t post_seq, void* buffer, size_t bytes, int post_tag, char* staging_block) {
    state = State::kPending;
    seq = post_seq;
    data = buffer;
    size = bytes;
    tag = post_tag;
    ready = false;
    transmitted = false;
    tested = false;
    decode_submitted = false;
    staging = staging_block;
    gpu = GpuRequestState{};
  }
};

class Comm final : public NetComm {
 public:
  static constexpr int kSlots = NCCL_NET_MAX_REQUESTS;

  Comm(Dir dir, std::unique_ptr<Connection> conn, const CommOptions& options);
  ~Comm() override;

  // Allocates staging and starts the helper threads.
  ncclResult_t start() override;
  // Send side with helpers: first delivers the sends NCCL already saw complete (bounded linger).
  // Then stops the helpers (requests still in flight are abandoned), waits for codec tasks, logs
  // statistics.
  void close() override;

  ncclResult_t reg_mr(void* data, size_t size, int type, void** mhandle) override;
  ncclResult_t dereg_mr(void* mhandle) override;
  ncclResult_t isend(void* data, size_t size, int tag, void* mhandle, const SendTraffic& traffic,
                     void** request) override;
  ncclResult_t irecv(void* data, size_t size, int tag, void* mhandle, void** request) override;
  ncclResult_t test(RequestBase* request, int* done, int* size) override;
  std::string stats_json() const override;

 private:
  friend class GpuPipeline;
  bool on_gpu(const MemoryRegion* mr) const {
    return gpu_ != nullptr && mr != nullptr && mr->magic == kMrMagic && mr->comm == this &&
           mr->type == NCCL_PTR_CUDA;
  }
  Request& slot(uint32_t seq) { return slots_[seq % kSlots]; }
  std::string peer_desc() const;
  // Records the comm's first failure and stops its I/O. `idle` marks a peer that hung up while
  // nothing was in flight: the normal end of a connection whose peer closed first, logged at
  // INFO; it only becomes an error for a request posted afterwards.
  void fail_locked(ncclResult_t code, const std::string& message, bool idle = false);
  void io_failure(XferStatus status, int err, uint32_t seq, const char* what);
  void finish_parts(Request* r, int parts);
  void maybe_free_locked(Request* r);
  // Sends NCCL saw complete whose bytes are not all in the kernel yet.
  int owed_sends_locked() const;
  void send_helper(int t);
  void recv_helper(int t);
  ncclResult_t post_recv_locked(void* data, size_t size, int tag, void* mhandle, void** request);
  ncclResult_t test_locked(Request* r, int* done, int* size);
  bool recv_header(uint32_t seq, Request** out);
  enum class HeaderVerdict : uint8_t { kAccepted, kRetry, kFailed };
  // Checks a received header against receive `r` and picks where its payload lands. kRetry: the
  // staging area is full for now (a decompress will free it); kFailed: the comm has failed.
  HeaderVerdict accept_header_locked(uint32_t seq, const wire::MsgHeader& h, Request* r);
  // A send's wire payload is ready for the sockets. nccl_buffer_free: NCCL's buffer was already
  // copied (frame in staging), so with helper threads the request completes now.
  void send_ready_locked(Request* r, bool nccl_buffer_free);
  // A lossy host frame of a connection with a stream history: whether it may refer to it
  // (HISTORY), into r->history and the task's caps.
  void choose_history_locked(Request* r);
  // One more part of r's transfer finished; when it was the last, settles the request. Receive
  // side: frames are handed to the codec in message order (a stream's frames may refer to the
  // frames before them), so completing one may release several decompress tasks, appended to
  // todo (at most kSlots) for the caller to submit after unlocking.
  void finish_parts_locked(Request* r, int parts, Request** todo, int* n_todo);
  // Receive side: r's landed frame as a decompress task into dst (to submit once unlocked).
  Request* prepare_decode_locked(Request* r, void* dst, size_t capacity, StreamDecoder* decoder);
  // Receive side: submits, in message order, the frames whose bytes have all arrived.
  void release_decodes_locked(Request** todo, int* n_todo);
  void io_failure_locked(XferStatus status, int err, uint32_t seq, const char* what);
  // Moves whatever can move now: GPU batches and, inline, the sockets. Every entry point calls it
  // before returning, also when it answers "not now" (NULL request): a caller may retry that
  // without testing anything, and only progress frees the staging and slots it waits for.
  // Decompress tasks to submit once the lock is released are appended to todo (NULL: none).
  // pump_gpu: also launch queued GPU batches (isend and irecv leave them to test() so that one
  // launch takes many sends, except when they answer "not now").
  void progress_locked(Request** todo, int* n_todo, bool pump_gpu);
  // Inline progress: moves whatever bytes the sockets take now. Decompress tasks to submit once
  // the lock is released are appended to todo (at most kSlots).
  void progress_inline_locked(Request** todo, int* n_todo);
  bool inline_send_locked(int s, bool* moved, bool* waiting);
  struct Cursor;
  // The next span socket s's cursor moves of message r: its next chunk, or for a streamed GPU
  // message its next piece (kWait: the piece's copy, or its slot, is still on the device).
  enum class SpanStep : uint8_t { kBytes, kNone, kWait };
  SpanStep next_span_locked(Cursor* c, const Request& r, int s);
  // That span has all moved: a streamed message's piece is handed back to the GPU pipeline.
  void span_done_locked(Cursor* c, int s);
  bool inline_recv_locked(int s, Request** todo, int* n_todo, bool* moved, bool* waiting);
  // Send side: true (and the comm failed) when the receiver has hung up.
  bool peer_gone_locked(uint32_t seq);
  void submit_all(Request* const* todo, int n_todo);
  bool transfer_my_chunks(Request* r, int t, int* parts);
  // A streamed GPU message (stream_plan.h): helper t's pieces, each once the GPU pipeline has it
  // (send) or has a free slot for it (recv).
  bool transfer_my_pieces(Request* r, int t, int* parts);
  static void on_compressed(CodecTask* task);
  // A host frame decoded into NCCL's buffer, or a frame for a GPU buffer decoded on the CPU into
  // pinned staging (GpuRequestState::cpu_decode).
  static void on_decompressed(CodecTask* task);

  std::unique_ptr<Connection> conn_;
  int n_sockets_ = 1;
  int n_threads_ = 1;
  uint64_t frame_limit_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Request slots_[kSlots];
  uint32_t next_post_seq_ = 0;
  int outstanding_tasks_ = 0;
  std::atomic<bool> stop_io_{false};
  ncclResult_t error_code_ = ncclSuccess;
  std::string error_message_;
  // The sender hung up while no receive was posted: messages already announced still finish
  // (their bytes are in the data sockets), and only a receive posted afterwards fails.
  bool peer_closed_idle_ = false;
  std::string peer_closed_message_;
  int last_tag_ = -1;
  StagingRing staging_;
  SendClassifier classifier_;  // registration order and policy rules (send side)
  std::vector<std::unique_ptr<MemoryRegion>> regions_;
  std::vector<std::thread> helpers_;
  ConnStats stats_;
  std::unique_ptr<GpuPipeline> gpu_;  // created by the first NCCL_PTR_CUDA registration
  // Frames that may refer to earlier frames of this connection (kCapHistory negotiated): the
  // sender's and the receiver's stream codecs, each used by one codec task at a time.
  std::unique_ptr<StreamEncoder> encoder_;
  std::unique_ptr<StreamDecoder> decoder_;
  // Send side with HISTORY=auto over a link of known rate: whether the history pays.
  HistoryGauge history_gauge_;
  // Send side with NCCL_SQUEEZE_VERIFY and a stream history: the receiver's decoder, shadowed.
  std::unique_ptr<StreamDecoder> verifier_;
  uint32_t next_decode_seq_ = 0;  // receive side: the next message to hand to the codec
  // Inline progress state: one cursor per data socket.
  struct Cursor {
    uint32_t seq = 0;          // the message this socket is on
    uint32_t chunk = 0;        // the next chunk of that message to look at
    bool busy = false;         // a transfer (header and/or chunk) is part-way
    bool header_done = false;  // this socket carries the message's header and it has gone
    char* bytes = nullptr;     // where the chunk's (or piece's) bytes come from / land
    uint64_t len = 0;          // chunk bytes (0: the header alone)
    uint64_t piece = 0;        // a streamed GPU message: this socket's next piece (stream_plan.h)
    bool on_piece = false;     // the transfer part-way is that piece
    size_t hdr_len = 0;        // header bytes in front of the chunk (send side: 0 or 32)
    size_t done = 0;           // bytes of header + chunk moved so far
    wire::MsgHeader header{};
  };
  bool inline_ = false;
  std::vector<Cursor> cursors_;
  uint64_t last_hangup_check_ns_ = 0;  // send side: last look at the control socket
  uint64_t last_io_ns_ = 0;            // last byte moved, or the end of the last idle spell
  bool closed_ = false;
};

}  // namespace squeeze::plugin
