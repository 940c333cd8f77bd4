// ncclNet_v9_t: no profiler callback and no phandle; config ignored.
#include "plugin/api/legacy.h"
#include "plugin/core.h"

namespace squeeze::plugin {

ncclResult_t legacy::get_properties_v9(int dev, ncclNetProperties_v9_t* props) {
  if (props == nullptr) return ncclInvalidArgument;
  ncclNetProperties_v11_t p;
  ncclResult_t res = core::get_properties(dev, &p);
  if (res != ncclSuccess) return res;
  props->name = p.name;
  props->pciPath = p.pciPath;
  props->guid = p.guid;
  props->ptrSupport = p.ptrSupport;
  props->regIsGlobal = p.regIsGlobal;
  props->forceFlush = p.forceFlush;
  props->speed = p.speed;
  props->port = p.port;
  props->latency = p.latency;
  props->maxComms = p.maxComms;
  props->maxRecvs = p.maxRecvs;
  props->netDeviceType = p.netDeviceType;
  props->netDeviceVersion = p.netDeviceVersion;
  props->vProps = p.vProps;
  props->maxP2pBytes = p.maxP2pBytes;
  props->maxCollBytes = p.maxCollBytes;
  return ncclSuccess;
}

namespace {

ncclResult_t v9_init(ncclDebugLogger_t logger) {
  return core::init_legacy(logger, nullptr);
}

ncclResult_t v9_listen(int dev, void* handle, void** listen_comm) {
  return core::listen(core::legacy_context(), dev, handle, listen_comm);
}

ncclResult_t v9_connect(int dev, void* handle, void** send_comm,
                        ncclNetDeviceHandle_v9_t** send_dev_comm) {
  if (send_dev_comm != nullptr) *send_dev_comm = nullptr;
  return core::connect(core::legacy_context(), dev, handle, send_comm);
}

ncclResult_t v9_accept(void* listen_comm, void** recv_comm,
                       ncclNetDeviceHandle_v9_t** recv_dev_comm) {
  if (recv_dev_comm != nullptr) *recv_dev_comm = nullptr;
  return core::accept(listen_comm, recv_comm);
}

ncclResult_t v9_isend(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                      void** request) {
  return core::isend(send_comm, data, size, tag, mhandle, nullptr, request);
}

ncclResult_t v9_irecv(void* recv_comm, int n, void** data, size_t* sizes, int* tags,
                      void** mhandles, void** request) {
  return core::irecv(recv_comm, n, data, sizes, tags, mhandles, nullptr, request);
}

}  // namespace
}  // namespace squeeze::plugin

using namespace squeeze::plugin;

extern "C" {
__attribute__((visibility("default"))) ncclNet_v9_t ncclNetPlugin_v9 = {
    SQUEEZE_NET_NAME,
    v9_init,
    core::devices,
    legacy::get_properties_v9,
    v9_listen,
    v9_connect,
    v9_accept,
    core::reg_mr,
    nullptr,
    core::dereg_mr,
    v9_isend,
    v9_irecv,
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
