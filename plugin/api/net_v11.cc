// ncclNet_v11_t: NCCL 2.28's native table. Adapters only; the work is in plugin/core.
#include "plugin/core.h"

namespace squeeze::plugin {
namespace {

ncclResult_t v11_init(void** ctx, uint64_t comm_id, ncclNetCommConfig_v11_t* config,
                      ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  if (ctx == nullptr) return ncclInvalidArgument;
  *ctx = nullptr;
  Context* c = nullptr;
  ncclResult_t res = core::init(&c, comm_id, config, logger, profiler);
  *ctx = c;
  return res;
}

ncclResult_t v11_listen(void* ctx, int dev, void* handle, void** listen_comm) {
  return core::listen(static_cast<Context*>(ctx), dev, handle, listen_comm);
}

ncclResult_t v11_connect(void* ctx, int dev, void* handle, void** send_comm,
                         ncclNetDeviceHandle_v11_t** send_dev_comm) {
  if (send_dev_comm != nullptr) *send_dev_comm = nullptr;
  return core::connect(static_cast<Context*>(ctx), dev, handle, send_comm);
}

ncclResult_t v11_accept(void* listen_comm, void** recv_comm,
                        ncclNetDeviceHandle_v11_t** recv_dev_comm) {
  if (recv_dev_comm != nullptr) *recv_dev_comm = nullptr;
  return core::accept(listen_comm, recv_comm);
}

ncclResult_t v11_irecv(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                       void** mhandles, void** phandles, void** request) {
  return core::irecv(recv_comm, n, data, sizes, tags, mhandles, phandles, request);
}

ncclResult_t v11_finalize(void* ctx) {
  return core::finalize(static_cast<Context*>(ctx));
}

ncclResult_t v11_set_net_attr(void* ctx, ncclNetAttr_v11_t* attr) {
  return core::set_net_attr(static_cast<Context*>(ctx), attr);
}

}  // namespace
}  // namespace squeeze::plugin

using namespace squeeze::plugin;

extern "C" {
__attribute__((visibility("default"))) ncclNet_v11_t ncclNetPlugin_v11 = {
    SQUEEZE_NET_NAME, v11_init,         core::devices,    core::get_properties,
    v11_listen,       v11_connect,      v11_accept,       core::reg_mr,
    nullptr,  // regMrDmaBuf: DMABUF is not advertised
    core::dereg_mr,   core::isend,      v11_irecv,        core::iflush,
    core::test,       core::close_send, core::close_recv, core::close_listen,
    nullptr,  // getDeviceMr: no device offload
    nullptr,  // irecvConsumed
    nullptr,  // makeVDevice: physical devices only
    v11_finalize,     v11_set_net_attr,
};
}
