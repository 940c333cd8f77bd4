// Per-send classification: lossy (with which codec parameters) or bit-exact passthrough.
//
// Lossy only when all of these hold (nccl-net-api.md section 9):
//   (a) the buffer is SIMPLE protocol. LL and LL128 carry flags inside the data that the receiving
//       GPU polls, so they are never touched. The protocol of an mhandle comes from NCCL's
//       registration order per comm (RegistrationOrder below); a collective's profiler record
//       must say SIMPLE too;
//   (b) the message is at least NCCL_SQUEEZE_MIN_BYTES;
//   (c) the operation and datatype are known and the policy (policy.h) turns that cell on:
//       - profiler path (our ncclProfiler_v5 is NCCL's profiler and the net table passes a
//         phandle): operation and datatype of the send's task, nothing else. Integers, uint8
//         (NCCL says "Unknown"), float64, fp8, unresolved sends and ops built by another process
//         (PXN) pass through; NCCL_SQUEEZE_ASSUME_DTYPE is ignored.
//       - fallback path: the operation from the v11 transfer hint of the calling thread (op bit
//         Send, Recv, SendRecv, AlltoAll, Scatter or Gather = p2p), else the connection's kind
//         from the connect-time hint (op 0x7C0 = p2p, all ones = collective), else the
//         registration pattern (a single FIFO buffer = p2p pool); the datatype only from
//         NCCL_SQUEEZE_ASSUME_DTYPE, for p2p. Collectives always pass through here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "nccl_abi/net.h"
#include "plugin/classify/policy.h"
#include "plugin/classify/profiler_v5.h"
#include "plugin/stats.h"
#include "squeeze/codec.h"

namespace squeeze::plugin {

enum class BufferProto : uint8_t { kUnknown, kLL, kLL128, kSimple };
enum class CommKind : uint8_t { kUnknown, kP2p, kCollective };

const char* buffer_proto_name(BufferProto p);
const char* comm_kind_name(CommKind k);

// Derives the protocol of each registered buffer of one comm. The rule:
//  1. NCCL registers a comm's FIFO buffers right after connect/accept, before any data moves,
//     in the order LL, LL128, SIMPLE, skipping the ones that do not exist. SIMPLE always exists.
//     So the registrations made before the comm's first isend/irecv (the "FIFO batch") end with
//     the SIMPLE buffer: a batch of 1 is [SIMPLE] (a p2p pool), of 2 is [LL, SIMPLE], of 3 is
//     [LL, LL128, SIMPLE].
//  2. A batch of more than 3 means something else (user buffers) registered early: the rule
//     cannot tell, so every buffer of the batch counts as unknown and passes through.
//  3. Registrations after the first isend/irecv are user-buffer registrations: SIMPLE.
// Mistakes can only go towards passthrough, never towards compressing an LL/LL128 buffer, as
// long as NCCL keeps registering FIFO buffers before the first transfer.
class RegistrationOrder {
 public:
  // At regMr. Returns the registration's position.
  int on_register();
  // At the first isend/irecv; later calls do nothing.
  void seal();
  bool sealed() const { return sealed_; }
  int fifo_batch_size() const { return batch_; }
  // Protocol of the registration made at position `pos` (sealed) or kUnknown (not sealed).
  BufferProto proto_of(int pos) const;

 private:
  int registered_ = 0;
  int batch_ = 0;
  bool sealed_ = false;
};

// v11 setNetAttr hints, kept per calling thread (NCCL's service thread sets connect-time hints
// just before connect/accept; the progress thread sets transfer hints just before an op's first
// isend/irecv). Thread-safe.
class HintBoard {
 public:
  void set(const ncclNetAttr_v11_t& attr);
  // Connect-time kind last hinted on the calling thread.
  CommKind connect_kind() const;
  // Transfer op bit mask last hinted on the calling thread, 0 when none.
  uint32_t transfer_op() const;

 private:
  struct Entry {
    std::thread::id thread;
    uint32_t connect_op = 0;
    bool has_connect = false;
    uint32_t transfer_op = 0;
  };
  Entry* find_locked(std::thread::id id);
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// p2p op bits of ncclNetAttr_v11_t.op: Send, Recv, AlltoAll, Scatter, Gather (the connect-time
// p2p mask, 0x7C0) plus SendRecv.
constexpr uint32_t kP2pOpBits = (1u << NCCL_FUNC_SENDRECV) | (1u << NCCL_FUNC_SEND) |
                                (1u << NCCL_FUNC_RECV) | (1u << NCCL_FUNC_ALLTOALL) |
                                (1u << NCCL_FUNC_SCATTER) | (1u << NCCL_FUNC_GATHER);
constexpr uint32_t kConnectP2pOp = 0x7C0;

struct ClassifyPolicy {
  bool enable = true;
  uint64_t min_bytes = 4096;
  DType assume_dtype = DType::kBytes;  // kBytes: none
  BoundMode mode = BoundMode::kLocal;
  double bound = kPluginDefaultBound;
};

struct ClassifyInput {
  size_t bytes = 0;
  BufferProto proto = BufferProto::kUnknown;
  CommKind comm_kind = CommKind::kUnknown;  // from the connect-time hint or the FIFO pattern
  uint32_t transfer_op = 0;                 // v11 transfer hint op bits, 0 if none
  // The profiler chain's record for this send (profiler path, even when the record says
  // unknown), or NULL on the fallback path.
  const TrafficRecord* traffic = nullptr;
};

struct ClassifyResult {
  Decision decision = Decision::kPassNotSimple;
  CodecParams params;
  bool auto_lossless = false;  // kLossless only while it pays (the connection's CoderGauge)
};

ClassifyResult classify(const ClassifyPolicy& policy, const PolicyTable& rules,
                        const ClassifyInput& in);
// With the built-in default rules.
ClassifyResult classify(const ClassifyPolicy& policy, const ClassifyInput& in);

// How the operation and datatype of a send are learnt.
enum class TrafficPath : uint8_t {
  kProfiler = 0,      // our profiler is active and NCCL passed a callback and phandle
  kNoCallback,        // the net table in use (v8/v9) has no profiler callback / phandle
  kNoPhandle,         // v10/v11 table, but NCCL passed no phandle with this send
  kProfilerInactive,  // our profiler's init has not run (another profiler, none, old NCCL)
  kCount
};
const char* traffic_path_name(TrafficPath path);

struct SendTraffic {
  TrafficRecord record{OpKind::kUnknown, -1, NcclDType::kUnknown, -1};
  TrafficPath path = TrafficPath::kNoCallback;
};

// One profiler callback on the profiler path, nothing otherwise.
SendTraffic resolve_send_traffic(ncclProfilerCallback_t callback, void* phandle);

// Logs (INFO) the first time in an init cycle that a path is used: which one, why, and what the
// user can do. Cheap after the first time (one relaxed atomic load).
void log_traffic_path_once(TrafficPath path, DType assume_dtype);
// At the start of each init cycle.
void reset_traffic_path_log();

}  // namespace squeeze::plugin
