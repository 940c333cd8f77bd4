#include "plugin/classify/classify.h"

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

ClassifyResult classify(const ClassifyPolicy& policy, const ClassifyInput& in) {
  ClassifyResult r;
  r.params.mode = policy.mode;
  r.params.bound = policy.bound;
  if (!policy.enable) {
    r.decision = Decision::kPassDisabled;
    return r;
  }
  if (in.proto != BufferProto::kSimple) {
    r.decision = Decision::kPassNotSimple;
    return r;
  }
  if (in.bytes < policy.min_bytes || in.bytes == 0) {
    r.decision = Decision::kPassTooSmall;
    return r;
  }
  bool p2p;
  if (in.traffic != nullptr && in.traffic->kind != OpKind::kUnknown) {
    p2p = in.traffic->kind == OpKind::kP2p;
  } else if (in.transfer_op != 0) {
    p2p = (in.transfer_op & kP2pOpBits) != 0;
  } else {
    p2p = in.comm_kind == CommKind::kP2p;
  }
  if (!p2p) {
    r.decision = Decision::kPassNotP2p;
    return r;
  }
  DType dtype = policy.assume_dtype;
  if (in.traffic != nullptr && in.traffic->dtype != NcclDType::kUnknown) {
    switch (in.traffic->dtype) {
      case NcclDType::kFloat32:
        dtype = DType::kF32;
        break;
      case NcclDType::kFloat16:
        dtype = DType::kF16;
        break;
      case NcclDType::kBfloat16:
        dtype = DType::kBF16;
        break;
      default:
        dtype = DType::kBytes;
        break;
    }
  }
  if (dtype == DType::kBytes) {
    r.decision = Decision::kPassNoDtype;
    return r;
  }
  r.params.dtype = dtype;
  r.decision = Decision::kLossy;
  return r;
}

}  // namespace squeeze::plugin
