// A connection whose bytes go through an inner NCCL net plugin (transport/inner/). The pipeline is
// the same as over TCP (classification, the codec engine, bounded staging); only the wire differs.
//
// One inner message per NCCL message, so that the wrapper costs the inner plugin nothing when
// nothing is compressed:
//   - a raw payload goes straight from NCCL's buffer with the inner plugin's handle of NCCL's own
//     registration (no copy; GPU buffers stay on the GPU) and is received straight into NCCL's
//     buffer;
//   - a compressed message is a 16-byte prefix (the connection's 64-bit nonce, the original size)
//     followed by the frame, sent from staging (registered with the inner plugin at connect),
//     always smaller than the message (else the message goes raw). It lands in NCCL's buffer too;
//     the receiver recognises it by the nonce, copies it to staging and decodes it into NCCL's
//     buffer on the codec engine.
// Before any message the sender sends a 16-byte hello (magic, version, whether it may send
// frames, the nonce), the connection's first inner message. The nonce is random per connection,
// so a raw payload that begins with it is a 2^-64 accident for data that does not know it; the
// sender checks every raw host payload and fails the send with a clear error rather than send
// one. A receiver that may get GPU buffers (which it cannot inspect) refuses a sender that may
// send frames at the hello.
// Frames never refer to earlier frames (no stream history: there is no handshake over an inner
// plugin to negotiate it), so every frame decodes on its own.
//
// All inner calls are made from NCCL's calling threads (isend / irecv / test, and the service
// thread for registration); codec threads only mark work done. Never blocks: inner requests are
// polled, back-pressure returns no request.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugin/pipeline/codec_engine.h"
#include "plugin/pipeline/net_comm.h"
#include "plugin/pipeline/staging.h"
#include "plugin/stats.h"
#include "plugin/transport/wire.h"

namespace squeeze::plugin {

class InnerNet;
class InnerComm;

namespace inner_wire {
constexpr uint32_t kHelloMagic = 0x495a5153;  // "SQZI"
constexpr uint8_t kVersion = 2;
constexpr uint8_t kHelloFrames = 1;  // the sender may send compressed frames
struct Hello {
  uint32_t magic;
  uint8_t version;
  uint8_t flags;
  uint16_t reserved;
  uint64_t nonce;
};
static_assert(sizeof(Hello) == 16, "");
// Before the frame of a compressed message.
struct Prefix {
  uint64_t nonce;
  uint64_t original_bytes;
};
constexpr size_t kPrefixBytes = 16;
static_assert(sizeof(Prefix) == kPrefixBytes, "");
}  // namespace inner_wire

constexpr uint32_t kInnerMrMagic = 0x49525153;  // "SQRI"

struct InnerRegion {
  uint32_t magic = kInnerMrMagic;
  InnerComm* comm = nullptr;
  void* data = nullptr;
  size_t size = 0;
  int type = 0;
  int position = 0;
  void* inner = nullptr;  // the inner plugin's handle of the same memory
};

struct InnerRequest : RequestBase {
  enum class State : uint8_t { kFree, kPending, kDone };
  enum class Stage : uint8_t {
    kCompressing,  // send: the codec is writing the frame
    kReady,        // send: payload ready, not posted yet / recv: the receive not posted yet
    kPosted,       // the inner message is posted
    kCopyDue,      // recv: a frame arrived in NCCL's buffer, waiting for staging to decode from
    kDecoding,     // recv: the frame is on the codec engine
  };
  State state = State::kFree;
  Stage stage = Stage::kReady;
  uint32_t seq = 0;
  void* data = nullptr;  // NCCL's buffer
  size_t size = 0;       // send: bytes; recv: posted capacity
  int tag = 0;
  const InnerRegion* mr = nullptr;  // NCCL's registration of data
  wire::PayloadKind kind = wire::PayloadKind::kRaw;
  uint64_t original_bytes = 0;
  uint64_t wire_bytes = 0;
  char* staging = nullptr;
  void* payload_req = nullptr;  // the inner request in flight
  bool payload_done = false;
  uint64_t payload_got = 0;  // recv: bytes the inner plugin delivered
  CodecTask task;
};

struct InnerFlush : RequestBase {
  void* inner = nullptr;  // NULL: free
};

class InnerComm final : public NetComm {
 public:
  static constexpr int kSlots = NCCL_NET_MAX_REQUESTS;
  // Inner requests this connection keeps in flight at most (NCCL's per-comm guarantee).
  static constexpr int kInnerMaxRequests = NCCL_NET_MAX_REQUESTS;

  // inner_comm: the inner plugin's send or receive comm, owned from now on. gpu_types: the
  // registration types NCCL may use (NCCL_PTR_HOST, | NCCL_PTR_CUDA with GPUDirect forwarded).
  InnerComm(Dir dir, InnerNet* net, void* inner_comm, int dev, int ptr_types,
            const CommOptions& options);
  ~InnerComm() override;

  ncclResult_t start() override;
  void close() override;
  ncclResult_t reg_mr(void* data, size_t size, int type, void** mhandle) override;
  ncclResult_t dereg_mr(void* mhandle) override;
  ncclResult_t isend(void* data, size_t size, int tag, void* mhandle, const SendTraffic& traffic,
                     void** request) override;
  ncclResult_t irecv(void* data, size_t size, int tag, void* mhandle, void** request) override;
  ncclResult_t iflush(int n, void** data, int* sizes, void** mhandles, void** request) override;
  ncclResult_t test(RequestBase* request, int* done, int* size) override;
  std::string stats_json() const override;

 private:
  InnerRequest& slot(uint32_t seq) { return slots_[seq % kSlots]; }
  std::string peer_desc() const;
  void fail_locked(ncclResult_t code, const std::string& message);
  // What isend (send) and irecv check before they take a slot: the connection has not failed,
  // the buffer is not NULL unless empty, and it has a memory handle of this connection (the inner
  // plugin needs one).
  ncclResult_t check_post_locked(bool send, int tag, const void* data, size_t size,
                                 const InnerRegion* mr) const;
  // Posts what can be posted and tests what is in flight. Decodes to submit after unlocking go
  // to todo (at most kSlots).
  void progress_locked(InnerRequest** todo, int* n_todo);
  bool post_send_locked(InnerRequest* r);
  bool post_recv_locked(InnerRequest* r);
  // The hello: posted first (send and receive), then tested; false until it is done (and valid).
  bool hello_locked();
  // Receive side: what arrived in NCCL's buffer (raw or a frame); false (and the comm failed)
  // when it is invalid.
  bool accept_arrival_locked(InnerRequest* r);
  bool poll_locked(InnerRequest* r, InnerRequest** todo, int* n_todo);
  void finish_send_locked(InnerRequest* r);
  void submit_all(InnerRequest* const* todo, int n_todo);
  static void on_compressed(CodecTask* task);
  static void on_decompressed(CodecTask* task);

  InnerNet* net_;
  void* inner_;  // the inner plugin's comm
  int dev_;
  int ptr_types_;
  mutable std::mutex mu_;
  InnerRequest slots_[kSlots];
  InnerFlush flushes_[kSlots];
  uint32_t next_post_seq_ = 0;  // next NCCL post
  uint32_t next_wire_seq_ = 0;  // next message to post to the inner plugin
  uint32_t oldest_seq_ = 0;     // oldest message not finished on the inner plugin
  int inner_in_flight_ = 0;
  int outstanding_tasks_ = 0;
  ncclResult_t error_code_ = ncclSuccess;
  std::string error_message_;
  int last_tag_ = -1;
  bool closed_ = false;
  StagingRing staging_;
  inner_wire::Hello hello_ = {};
  void* hello_req_ = nullptr;
  bool hello_posted_ = false;
  bool hello_done_ = false;
  void* hello_mr_ = nullptr;  // inner handles of the hello and the staging
  void* staging_mr_ = nullptr;
  SendClassifier classifier_;
  std::vector<std::unique_ptr<InnerRegion>> regions_;
  // Deregistered by NCCL while a receive of a failed connection still held them (see dereg_mr).
  std::vector<std::unique_ptr<InnerRegion>> abandoned_regions_;
  ConnStats stats_;
};

}  // namespace squeeze::plugin
