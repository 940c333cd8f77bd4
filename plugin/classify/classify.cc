#include "plugin/classify/classify.h"

#include <atomic>

#include "plugin/log.h"

namespace squeeze::plugin {

const char* buffer_proto_name(BufferProto p) {
  switch (p) {
    case BufferProto::kLL:
      return "LL";
    case BufferProto::kLL128:
      return "LL128";
    case BufferProto::kSimple:
      return "SIMPLE";
    case BufferProto::kUnknown:
      break;
  }
  return "unknown";
}

const char* comm_kind_name(CommKind k) {
  switch (k) {
    case CommKind::kP2p:
      return "p2p";
    case CommKind::kCollective:
      return "collective";
    case CommKind::kUnknown:
      break;
  }
  return "unknown";
}

int RegistrationOrder::on_register() {
  int pos = registered_++;
  if (!sealed_) batch_ = registered_;
  return pos;
}

void RegistrationOrder::seal() {
  sealed_ = true;
}

BufferProto RegistrationOrder::proto_of(int pos) const {
  if (!sealed_ || pos < 0) return BufferProto::kUnknown;
  if (pos >= batch_) return BufferProto::kSimple;  // user buffer, registered after data moved
  if (batch_ > 3) return BufferProto::kUnknown;
  if (pos == batch_ - 1) return BufferProto::kSimple;
  if (pos == 0) return BufferProto::kLL;
  return BufferProto::kLL128;
}

HintBoard::Entry* HintBoard::find_locked(std::thread::id id) {
  for (Entry& e : entries_) {
    if (e.thread == id) return &e;
  }
  return nullptr;
}

void HintBoard::set(const ncclNetAttr_v11_t& attr) {
  std::lock_guard<std::mutex> lock(mu_);
  std::thread::id id = std::this_thread::get_id();
  Entry* e = find_locked(id);
  if (e == nullptr) {
    entries_.push_back(Entry{id});
    e = &entries_.back();
  }
  uint32_t op = attr.op;
  bool single_bit = op != 0 && (op & (op - 1)) == 0;
  if (single_bit) {
    e->transfer_op = op;  // transfer hint: one collective API bit
  } else {
    e->connect_op = op;  // connect-time hint: 0x7C0 (p2p) or all ones (collective)
    e->has_connect = true;
    e->transfer_op = 0;
  }
}

CommKind HintBoard::connect_kind() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    if (e.thread != std::this_thread::get_id()) continue;
    if (!e.has_connect) return CommKind::kUnknown;
    if (e.connect_op != 0 && (e.connect_op & ~kP2pOpBits) == 0) return CommKind::kP2p;
    return CommKind::kCollective;
  }
  return CommKind::kUnknown;
}

uint32_t HintBoard::transfer_op() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    if (e.thread == std::this_thread::get_id()) return e.transfer_op;
  }
  return 0;
}

namespace {

// Policy row of an ncclFunc_t index; -1 when the function is unknown.
int policy_row_of_func(int func) {
  switch (func) {
    case NCCL_FUNC_BROADCAST:
      return static_cast<int>(PolicyOp::kBroadcast);
    case NCCL_FUNC_REDUCE:
      return static_cast<int>(PolicyOp::kReduce);
    case NCCL_FUNC_ALLGATHER:
      return static_cast<int>(PolicyOp::kAllGather);
    case NCCL_FUNC_REDUCESCATTER:
      return static_cast<int>(PolicyOp::kReduceScatter);
    case NCCL_FUNC_ALLREDUCE:
      return static_cast<int>(PolicyOp::kAllReduce);
    case NCCL_FUNC_SENDRECV:
    case NCCL_FUNC_SEND:
    case NCCL_FUNC_RECV:
    case NCCL_FUNC_ALLTOALL:
    case NCCL_FUNC_SCATTER:
    case NCCL_FUNC_GATHER:
      return static_cast<int>(PolicyOp::kP2p);
    default:
      return -1;
  }
}

bool block_is_float(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

}  // namespace

ClassifyResult classify(const ClassifyPolicy& policy, const ClassifyInput& in) {
  static const PolicyTable kDefaultRules;
  return classify(policy, kDefaultRules, in);
}

ClassifyResult classify(const ClassifyPolicy& policy, const PolicyTable& rules,
                        const ClassifyInput& in) {
  ClassifyResult r;
  r.params.mode = policy.mode;
  r.params.bound = policy.bound;
  auto pass = [&r](Decision d) {
    r.decision = d;
    return r;
  };
  if (!policy.enable) return pass(Decision::kPassDisabled);
  if (in.proto != BufferProto::kSimple) return pass(Decision::kPassNotSimple);
  if (in.traffic != nullptr && in.traffic->proto >= 0 && in.traffic->proto != NCCL_PROTO_SIMPLE) {
    return pass(Decision::kPassNotSimple);
  }
  if (in.bytes < policy.min_bytes || in.bytes == 0) return pass(Decision::kPassTooSmall);

  int row = -1;
  DType dtype = DType::kBytes;
  if (in.traffic != nullptr) {
    // Profiler path: what NCCL's task says, and nothing else.
    const TrafficRecord& t = *in.traffic;
    if (t.kind == OpKind::kForeign) return pass(Decision::kPassPxn);
    if (t.kind == OpKind::kUnknown) return pass(Decision::kPassUnresolved);
    row = t.kind == OpKind::kP2p ? static_cast<int>(PolicyOp::kP2p) : policy_row_of_func(t.func);
    if (row < 0) return pass(Decision::kPassNotP2p);  // a collective of unknown function
    switch (t.dtype) {
      case NcclDType::kFloat32:
        dtype = DType::kF32;
        break;
      case NcclDType::kFloat16:
        dtype = DType::kF16;
        break;
      case NcclDType::kBfloat16:
        dtype = DType::kBF16;
        break;
      case NcclDType::kInt8:
        dtype = DType::kI8;
        break;
      case NcclDType::kUint8:
        dtype = DType::kU8;
        break;
      case NcclDType::kInt32:
        dtype = DType::kI32;
        break;
      case NcclDType::kUint32:
        dtype = DType::kU32;
        break;
      case NcclDType::kInt64:
        dtype = DType::kI64;
        break;
      case NcclDType::kUint64:
        dtype = DType::kU64;
        break;
      case NcclDType::kFloat64:
      case NcclDType::kFloat8e4m3:
      case NcclDType::kFloat8e5m2:
        return pass(Decision::kPassOtherDtype);
      case NcclDType::kUnknown:
        return pass(Decision::kPassNoDtype);
    }
  } else {
    // Fallback: the operation from the hints, the datatype only from the user's assumption,
    // and only for p2p (a collective's datatype cannot be assumed from a p2p setting).
    bool p2p;
    if (in.transfer_op != 0) {
      p2p = (in.transfer_op & kP2pOpBits) != 0;
    } else {
      p2p = in.comm_kind == CommKind::kP2p;
    }
    if (!p2p) return pass(Decision::kPassNotP2p);
    row = static_cast<int>(PolicyOp::kP2p);
    dtype = policy.assume_dtype;
    if (dtype == DType::kBytes) return pass(Decision::kPassNoDtype);
  }
  if (dtype == DType::kBytes) return pass(Decision::kPassNoDtype);

  const PolicyCell& cell = rules.at(static_cast<PolicyOp>(row), dtype);
  const bool integer = !block_is_float(dtype);
  if (!cell.on) {
    if (integer && !cell.from_rule) return pass(Decision::kPassInteger);
    return pass(cell.from_rule || row == static_cast<int>(PolicyOp::kP2p) ? Decision::kPassPolicyOff
                                                                          : Decision::kPassNotP2p);
  }
  if (cell.custom_bound) {
    r.params.mode = cell.mode;
    r.params.bound = cell.bound;
  }
  r.params.dtype = dtype;
  if (r.params.mode == BoundMode::kLossless) {
    r.decision = Decision::kLossless;
    r.auto_lossless = cell.auto_lossless;
    return r;
  }
  if (integer) return pass(Decision::kPassInteger);  // never lossy
  r.decision = Decision::kLossy;
  return r;
}

const char* traffic_path_name(TrafficPath path) {
  switch (path) {
    case TrafficPath::kProfiler:
      return "profiler";
    case TrafficPath::kNoCallback:
      return "fallback (no profiler callback)";
    case TrafficPath::kNoPhandle:
      return "fallback (no phandle)";
    case TrafficPath::kProfilerInactive:
      return "fallback (profiler inactive)";
    case TrafficPath::kCount:
      break;
  }
  return "?";
}

SendTraffic resolve_send_traffic(ncclProfilerCallback_t callback, void* phandle) {
  SendTraffic out;
  if (callback == nullptr) {
    out.path = TrafficPath::kNoCallback;
  } else if (!profiler_active()) {
    out.path = TrafficPath::kProfilerInactive;
  } else if (phandle == nullptr) {
    out.path = TrafficPath::kNoPhandle;
  } else {
    out.path = TrafficPath::kProfiler;
    out.record = resolve_traffic(callback, phandle);
  }
  return out;
}

namespace {
std::atomic<uint32_t> g_paths_logged{0};
}  // namespace

void reset_traffic_path_log() {
  g_paths_logged.store(0, std::memory_order_relaxed);
}

void log_traffic_path_once(TrafficPath path, DType assume_dtype) {
  uint32_t bit = 1u << static_cast<unsigned>(path);
  if (g_paths_logged.load(std::memory_order_relaxed) & bit) return;
  if (g_paths_logged.fetch_or(bit, std::memory_order_relaxed) & bit) return;
  if (path == TrafficPath::kProfiler) {
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "traffic classification: NCCL profiler chain (operation and datatype of each send's "
             "task); NCCL_SQUEEZE_ASSUME_DTYPE is not used");
    return;
  }
  const char* why = "";
  const char* what = "";
  switch (path) {
    case TrafficPath::kNoCallback:
      why = "the net API table NCCL loaded (v8/v9) passes no profiler callback or phandle";
      what = "use an NCCL that loads the v10/v11 table (2.28 loads v11)";
      break;
    case TrafficPath::kNoPhandle:
      why = "NCCL passed no phandle with the send";
      what = "check that no other profiler is configured";
      break;
    case TrafficPath::kProfilerInactive:
      why =
          "this library's profiler (ncclProfiler_v5) was not initialised in this process: "
          "NCCL_PROFILER_PLUGIN names another profiler or none, another libnccl-profiler*.so was "
          "found first, or this NCCL does not look up profiler v5 (2.28 does)";
      what = "unset NCCL_PROFILER_PLUGIN (or name this library in it) so that datatypes are known";
      break;
    default:
      break;
  }
  const char* assumed = assume_dtype == DType::kF32    ? "f32"
                        : assume_dtype == DType::kF16  ? "f16"
                        : assume_dtype == DType::kBF16 ? "bf16"
                                                       : nullptr;
  if (assumed != nullptr) {
    SQZ_INFO(
        NCCL_INIT | NCCL_NET,
        "traffic classification: fallback to setNetAttr hints and NCCL_SQUEEZE_ASSUME_DTYPE=%s "
        "because %s: every p2p SIMPLE payload of at least MIN_BYTES is compressed as %s, "
        "integers included; %s",
        assumed, why, assumed, what);
  } else {
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "traffic classification: fallback to setNetAttr hints because %s: datatypes are "
             "unknown and NCCL_SQUEEZE_ASSUME_DTYPE is not set, so every message passes through "
             "bit-exact; %s, or set NCCL_SQUEEZE_ASSUME_DTYPE=f32|f16|bf16 if every p2p payload is "
             "of that type",
             why, what);
  }
}

}  // namespace squeeze::plugin
