// Traffic classification through NCCL's profiler (v5). The same library that holds the net plugin
// exports ncclProfiler_v5; NCCL loads it as the process profiler when no other profiler is set
// (nccl-net-api.md 9.3). The profiler hands out immutable, interned records describing each task
// (operation, datatype, protocol) as event handles, so the net plugin can resolve what an isend
// carries by asking NCCL's callback to start a NetPlugin event under the send's phandle.
#pragma once

#include <cstdint>

#include "nccl_abi/profiler.h"

namespace squeeze::plugin {

// kForeign: the ProxyOp was built by another process (PXN), so its task is not ours to read.
enum class OpKind : uint8_t { kUnknown = 0, kP2p = 1, kCollective = 2, kForeign = 3 };

// NCCL's ncclDataType_t numbering; -1 when unknown (NCCL reports uint8 as "Unknown").
enum class NcclDType : int8_t {
  kUnknown = -1,
  kInt8 = 0,
  kUint8 = 1,
  kInt32 = 2,
  kUint32 = 3,
  kInt64 = 4,
  kUint64 = 5,
  kFloat16 = 6,
  kFloat32 = 7,
  kFloat64 = 8,
  kBfloat16 = 9,
  kFloat8e4m3 = 10,
  kFloat8e5m2 = 11,
};

// What the profiler chain says about one send. Records are interned and never freed, so a
// pointer to one stays valid after its event stops.
struct TrafficRecord {
  OpKind kind;
  int8_t func;  // ncclFunc_t index (Send 6, Recv 7, AllReduce 4, ...), -1 unknown
  NcclDType dtype;
  int8_t proto;  // NCCL_PROTO_LL/LL128/SIMPLE, -1 unknown (p2p tasks carry no protocol)
};

// Plugin id passed with our NetPlugin events: type in bits 16..31, event version in bits 0..15.
constexpr int64_t kSqueezeProfilerPluginId = (int64_t{0x5351} << 16) | 1;

// True once NCCL initialised our profiler in this process (and it has not been finalized).
bool profiler_active();

// Resolves the send behind phandle through NCCL's profiler callback. Returns an unknown record
// when the profiler is not ours / not active, when phandle or the callback is NULL, or when the
// chain is broken (events disabled); a kForeign record for an op built by another process (PXN).
TrafficRecord resolve_traffic(ncclProfilerCallback_t callback, void* phandle);

// Parsers for the profiler's strings (exposed for tests).
int8_t func_from_name(const char* name);
NcclDType dtype_from_name(const char* name);
int8_t proto_from_name(const char* name);
const char* dtype_name(NcclDType t);
const char* func_name(int8_t func);

// For tests that play NCCL's side: the number of profiler contexts alive.
int profiler_context_count();

}  // namespace squeeze::plugin

extern "C" {
extern ncclProfiler_v5_t ncclProfiler_v5;
}
