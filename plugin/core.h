// The typed core behind every exported table (api/net_v*.cc are thin adapters over these calls).
// Process-wide state (settings, devices, the codec engine) lives from the first init to the last
// finalize (v11: one init per communicator) or, for the v8-v10 tables that have no finalize, to
// library unload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nccl_abi/net.h"
#include "plugin/classify/classify.h"

// The name of the exported net tables (NCCL_NET matches it): "Squeeze", or "SqueezeTcp" for the
// standalone TCP plugin (libnccl-net-sqztcp.so, the TCP transport alone, compression off).
#ifndef SQUEEZE_NET_NAME
#define SQUEEZE_NET_NAME "Squeeze"
#endif

namespace squeeze::plugin {

// Per-communicator context (v11), or the process context shared by v8-v10.
struct Context {
  static constexpr uint32_t kMagic = 0x58435153;  // "SQCX"
  uint32_t magic = kMagic;
  uint64_t comm_id = 0;
  int traffic_class = NCCL_NET_TRAFFIC_CLASS_UNDEF;
  ncclProfilerCallback_t profiler = nullptr;
  HintBoard hints;
  void* inner_ctx = nullptr;  // TRANSPORT=inner: the inner plugin's context (v11), else NULL
};

// "the receiver decodes ..." / "this side decodes ..." for the connection log.
std::string caps_description(uint32_t caps, bool send);

namespace core {

ncclResult_t init(Context** ctx, uint64_t comm_id, const ncclNetCommConfig_v11_t* config,
                  ncclDebugLogger_t logger, ncclProfilerCallback_t profiler);
// v8-v10: NCCL's compat shim calls init once per process and never finalizes.
ncclResult_t init_legacy(ncclDebugLogger_t logger, ncclProfilerCallback_t profiler);
Context* legacy_context();
ncclResult_t finalize(Context* ctx);

ncclResult_t devices(int* ndev);
ncclResult_t get_properties(int dev, ncclNetProperties_v11_t* props);
ncclResult_t listen(Context* ctx, int dev, void* handle, void** listen_comm);
ncclResult_t connect(Context* ctx, int dev, void* handle, void** send_comm);
ncclResult_t accept(void* listen_comm, void** recv_comm);
ncclResult_t reg_mr(void* comm, void* data, size_t size, int type, void** mhandle);
ncclResult_t dereg_mr(void* comm, void* mhandle);
ncclResult_t isend(void* send_comm, void* data, size_t size, int tag, void* mhandle, void* phandle,
                   void** request);
ncclResult_t irecv(void* recv_comm, int n, void** data, const size_t* sizes, const int* tags,
                   void** mhandles, void** phandles, void** request);
ncclResult_t iflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                    void** request);
ncclResult_t test(void* request, int* done, int* sizes);
ncclResult_t close_send(void* send_comm);
ncclResult_t close_recv(void* recv_comm);
ncclResult_t close_listen(void* listen_comm);
ncclResult_t set_net_attr(Context* ctx, const ncclNetAttr_v11_t* attr);

// The standalone TCP plugin: every init cycle uses the TCP transport with compression off,
// whatever NCCL_SQUEEZE_TRANSPORT and NCCL_SQUEEZE_ENABLE say (called by its library at load);
// name: its tables' name, also the prefix of its log lines ("NET/SqueezeTcp : ").
void force_standalone_tcp(const char* name);

// Control API backing: statistics of the live connections as a JSON array.
std::string stats_json();

}  // namespace core
}  // namespace squeeze::plugin
