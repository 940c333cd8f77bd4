// ncclNet_v10_t (NCCL 2.27 native). NCCL 2.28's compat shim calls init once per process and has
// no finalize; connect gets the per-comm config. Everything maps onto the process context.
#include "plugin/api/legacy.h"
#include "plugin/core.h"

namespace squeeze::plugin {
namespace {

ncclResult_t v10_init(ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  return core::init_legacy(logger, profiler);
}

ncclResult_t v10_get_properties(int dev, ncclNetProperties_v10_t* props) {
  return legacy::get_properties_v9(dev, props);
}

ncclResult_t v10_listen(int dev, void* handle, void** listen_comm) {
  return core::listen(core::legacy_context(), dev, handle, listen_comm);
}

ncclResult_t v10_connect(int dev, ncclNetCommConfig_v10_t* config, void* handle, void** send_comm,
                         ncclNetDeviceHandle_v10_t** send_dev_comm) {
  if (send_dev_comm != nullptr) *send_dev_comm = nullptr;
  (void)config;  // traffic class: TCP sockets here do not use it
  return core::connect(core::legacy_context(), dev, handle, send_comm);
}

ncclResult_t v10_accept(void* listen_comm, void** recv_comm,
                        ncclNetDeviceHandle_v10_t** recv_dev_comm) {
  if (recv_dev_comm != nullptr) *recv_dev_comm = nullptr;
  return core::accept(listen_comm, recv_comm);
}

ncclResult_t v10_irecv(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                       void** mhandles, void** phandles, void** request) {
  return core::irecv(recv_comm, n, data, sizes, tags, mhandles, phandles, request);
}

}  // namespace
}  // namespace squeeze::plugin

using namespace squeeze::plugin;

extern "C" {
__attribute__((visibility("default"))) ncclNet_v10_t ncclNetPlugin_v10 = {
    SQUEEZE_NET_NAME,
    v10_init,
    core::devices,
    v10_get_properties,
    v10_listen,
    v10_connect,
    v10_accept,
    core::reg_mr,
    nullptr,
    core::dereg_mr,
    core::isend,
    v10_irecv,
    core::iflush,
    core::test,
    core::close_send,
    core::close_recv,
    core::close_listen,
    nullptr,
    nullptr,
    nullptr,
};
}
