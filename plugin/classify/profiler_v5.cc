#include "plugin/classify/profiler_v5.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace squeeze::plugin {
namespace {

constexpr int kFuncs = 11 + 1;   // ncclFunc_t 0..10, plus unknown
constexpr int kDTypes = 12 + 1;  // ncclDataType_t 0..11, plus unknown
constexpr int kProtos = 3 + 1;   // LL, LL128, SIMPLE, plus unknown
constexpr int kKinds = 4;        // OpKind values

// Every record the profiler can hand out, built once. Handles point into this table, so they
// never dangle (NCCL stops task events before the proxy starts their children, 9.2).
struct RecordTable {
  TrafficRecord records[kKinds][kFuncs][kDTypes][kProtos];
  RecordTable() {
    for (int k = 0; k < kKinds; ++k)
      for (int f = 0; f < kFuncs; ++f)
        for (int d = 0; d < kDTypes; ++d)
          for (int p = 0; p < kProtos; ++p)
            records[k][f][d][p] =
                TrafficRecord{static_cast<OpKind>(k), static_cast<int8_t>(f - 1),
                              static_cast<NcclDType>(d - 1), static_cast<int8_t>(p - 1)};
  }
  const TrafficRecord* get(OpKind kind, int8_t func, NcclDType dtype, int8_t proto) const {
    return &records[static_cast<int>(kind)][func + 1][static_cast<int>(dtype) + 1][proto + 1];
  }
  bool owns(const void* p) const {
    auto a = reinterpret_cast<uintptr_t>(p);
    auto lo = reinterpret_cast<uintptr_t>(&records[0][0][0][0]);
    auto hi = lo + sizeof(records);
    return a >= lo && a < hi && (a - lo) % sizeof(TrafficRecord) == 0;
  }
};

const RecordTable& table() {
  static const RecordTable t;
  return t;
}

const TrafficRecord* unknown_record() {
  return table().get(OpKind::kUnknown, -1, NcclDType::kUnknown, -1);
}

const TrafficRecord* foreign_record() {
  return table().get(OpKind::kForeign, -1, NcclDType::kUnknown, -1);
}

// Handle returned for our NetPlugin events: never dereferenced, only needs to be non-NULL.
char g_net_event_handle;

struct ProfilerContext {
  uint64_t comm_id;
  int rank;
};

std::atomic<int> g_contexts{0};
std::mutex g_log_mu;
ncclDebugLogger_t g_logfn = nullptr;

const char* const kFuncNames[] = {"Broadcast", "Reduce",   "AllGather", "ReduceScatter",
                                  "AllReduce", "SendRecv", "Send",      "Recv",
                                  "AlltoAll",  "Scatter",  "Gather"};
const char* const kDTypeNames[] = {"ncclInt8",     "ncclUint8",      "ncclInt32",
                                   "ncclUint32",   "ncclInt64",      "ncclUint64",
                                   "ncclFloat16",  "ncclFloat32",    "ncclFloat64",
                                   "ncclBfloat16", "ncclFloat8e4m3", "ncclFloat8e5m2"};

ncclResult_t profiler_init(void** context, uint64_t comm_id, int* activation_mask,
                           const char* comm_name, int n_nodes, int n_ranks, int rank,
                           ncclDebugLogger_t logfn) {
  if (context == nullptr || activation_mask == nullptr) return ncclInvalidArgument;
  *context = nullptr;
  auto* ctx = new (std::nothrow) ProfilerContext{comm_id, rank};
  if (ctx == nullptr) return ncclSystemError;
  // The NetPlugin bit alone enables the whole task -> ProxyOp -> ProxyStep chain (9.2).
  *activation_mask |= ncclProfileNetPlugin;
  *context = ctx;
  int before = g_contexts.fetch_add(1);
  if (logfn != nullptr) {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_logfn = logfn;
    if (before == 0) {
      logfn(NCCL_LOG_INFO, NCCL_NET | NCCL_INIT, __FILE__, __LINE__,
            "NET/Squeeze : profiler v5 active (comm %s rank %d/%d, %d nodes): datatypes of sends "
            "are resolved through the NetPlugin event chain",
            comm_name ? comm_name : "?", rank, n_ranks, n_nodes);
    }
  }
  return ncclSuccess;
}

ncclResult_t profiler_start_event(void* context, void** handle, ncclProfilerEventDescr_v5_t* d) {
  if (handle == nullptr) return ncclInvalidArgument;
  *handle = nullptr;
  if (d == nullptr) return ncclSuccess;
  const RecordTable& t = table();
  switch (d->type) {
    case ncclProfileP2p:
      *handle = const_cast<TrafficRecord*>(
          t.get(OpKind::kP2p, func_from_name(d->p2p.func), dtype_from_name(d->p2p.datatype), -1));
      break;
    case ncclProfileColl:
      *handle = const_cast<TrafficRecord*>(t.get(OpKind::kCollective, func_from_name(d->coll.func),
                                                 dtype_from_name(d->coll.datatype),
                                                 proto_from_name(d->coll.proto)));
      break;
    case ncclProfileProxyOp:
      // With PXN the op may have been built by another process: its parent pointer is not ours
      // (not even to compare), so the op is marked foreign without looking at it.
      if (d->proxyOp.pid != getpid()) {
        *handle = const_cast<TrafficRecord*>(foreign_record());
      } else if (t.owns(d->parentObj)) {
        *handle = d->parentObj;
      } else {
        *handle = const_cast<TrafficRecord*>(unknown_record());
      }
      break;
    case ncclProfileProxyStep:
      *handle = t.owns(d->parentObj) ? d->parentObj : const_cast<TrafficRecord*>(unknown_record());
      break;
    case ncclProfileNetPlugin:
      if (d->netPlugin.id == kSqueezeProfilerPluginId && d->netPlugin.data != nullptr) {
        const TrafficRecord* r = t.owns(d->parentObj)
                                     ? static_cast<const TrafficRecord*>(d->parentObj)
                                     : unknown_record();
        std::memcpy(d->netPlugin.data, r, sizeof(TrafficRecord));
        *handle = &g_net_event_handle;
      }
      break;
    default:
      break;
  }
  return ncclSuccess;
}

ncclResult_t profiler_stop_event(void*) {
  return ncclSuccess;
}

ncclResult_t profiler_record_state(void*, ncclProfilerEventState_v5_t,
                                   ncclProfilerEventStateArgs_v5_t*) {
  return ncclSuccess;
}

ncclResult_t profiler_finalize(void* context) {
  if (context == nullptr) return ncclSuccess;
  delete static_cast<ProfilerContext*>(context);
  g_contexts.fetch_sub(1);
  return ncclSuccess;
}

}  // namespace

bool profiler_active() {
  return g_contexts.load(std::memory_order_acquire) > 0;
}

int profiler_context_count() {
  return g_contexts.load();
}

TrafficRecord resolve_traffic(ncclProfilerCallback_t callback, void* phandle) {
  TrafficRecord out = *unknown_record();
  // Only call NCCL's callback when our own profiler is the one loaded: a foreign profiler would
  // receive our events (and a NULL-unchecked stop, 9.2).
  if (callback == nullptr || phandle == nullptr || !profiler_active()) return out;
  void* event = nullptr;
  if (callback(&event, ncclProfilerNetEventStart, phandle, kSqueezeProfilerPluginId, &out) !=
      ncclSuccess) {
    return *unknown_record();
  }
  if (event != nullptr) callback(&event, ncclProfilerNetEventStop, nullptr, 0, nullptr);
  // Guard against a record we did not write (callback did nothing or wrote garbage).
  if (static_cast<uint8_t>(out.kind) > static_cast<uint8_t>(OpKind::kForeign)) {
    return *unknown_record();
  }
  return out;
}

int8_t func_from_name(const char* name) {
  if (name == nullptr) return -1;
  for (int i = 0; i < 11; ++i)
    if (std::strcmp(name, kFuncNames[i]) == 0) return static_cast<int8_t>(i);
  return -1;
}

NcclDType dtype_from_name(const char* name) {
  if (name == nullptr) return NcclDType::kUnknown;
  for (int i = 0; i < 12; ++i)
    if (std::strcmp(name, kDTypeNames[i]) == 0) return static_cast<NcclDType>(i);
  return NcclDType::kUnknown;  // includes "Unknown", which NCCL 2.28 reports for ncclUint8
}

int8_t proto_from_name(const char* name) {
  if (name == nullptr) return -1;
  if (std::strcmp(name, "LL") == 0) return NCCL_PROTO_LL;
  if (std::strcmp(name, "LL128") == 0) return NCCL_PROTO_LL128;
  if (std::strcmp(name, "SIMPLE") == 0) return NCCL_PROTO_SIMPLE;
  return -1;
}

const char* dtype_name(NcclDType t) {
  int i = static_cast<int>(t);
  return (i >= 0 && i < 12) ? kDTypeNames[i] : "unknown";
}

const char* func_name(int8_t func) {
  return (func >= 0 && func < 11) ? kFuncNames[func] : "unknown";
}

}  // namespace squeeze::plugin

extern "C" {
__attribute__((visibility("default"))) ncclProfiler_v5_t ncclProfiler_v5 = {
    "Squeeze",
    squeeze::plugin::profiler_init,
    squeeze::plugin::profiler_start_event,
    squeeze::plugin::profiler_stop_event,
    squeeze::plugin::profiler_record_state,
    squeeze::plugin::profiler_finalize,
};
}
