// ncclNet_v8_t: as v9 plus int sizes; NCCL's shim refuses transfers above 1 GiB (MAX_NET_SIZE),
// and so does this adapter.
#include "plugin/api/legacy.h"
#include "plugin/core.h"
#include "plugin/log.h"

namespace squeeze::plugin {

ncclResult_t legacy::get_properties_v8(int dev, ncclNetProperties_v8_t* props) {
  if (props == nullptr) return ncclInvalidArgument;
  ncclNetProperties_v11_t p;
  ncclResult_t res = core::get_properties(dev, &p);
  if (res != ncclSuccess) return res;
  props->name = p.name;
  props->pciPath = p.pciPath;
  props->guid = p.guid;
  props->ptrSupport = p.ptrSupport;
  props->regIsGlobal = p.regIsGlobal;
  props->speed = p.speed;
  props->port = p.port;
  props->latency = p.latency;
  props->maxComms = p.maxComms;
  props->maxRecvs = p.maxRecvs;
  props->netDeviceType = p.netDeviceType;
  props->netDeviceVersion = p.netDeviceVersion;
  return ncclSuccess;
}

namespace {

ncclResult_t v8_init(ncclDebugLogger_t logger) {
  return core::init_legacy(logger, nullptr);
}

ncclResult_t v8_listen(int dev, void* handle, void** listen_comm) {
  return core::listen(core::legacy_context(), dev, handle, listen_comm);
}

ncclResult_t v8_connect(int dev, void* handle, void** send_comm,
                        ncclNetDeviceHandle_v8_t** send_dev_comm) {
  if (send_dev_comm != nullptr) *send_dev_comm = nullptr;
  return core::connect(core::legacy_context(), dev, handle, send_comm);
}

ncclResult_t v8_accept(void* listen_comm, void** recv_comm,
                       ncclNetDeviceHandle_v8_t** recv_dev_comm) {
  if (recv_dev_comm != nullptr) *recv_dev_comm = nullptr;
  return core::accept(listen_comm, recv_comm);
}

ncclResult_t v8_isend(void* send_comm, void* data, int size, int tag, void* mhandle,
                      void** request) {
  if (request != nullptr) *request = nullptr;
  SQZ_REQUIRE(size >= 0 && size <= NCCL_MAX_NET_SIZE, ncclInternalError,
              "isend (net v8): size %d outside [0, %lld]", size, NCCL_MAX_NET_SIZE);
  return core::isend(send_comm, data, static_cast<size_t>(size), tag, mhandle, nullptr, request);
}

ncclResult_t v8_irecv(void* recv_comm, int n, void** data, int* sizes, int* tags, void** mhandles,
                      void** request) {
  if (request != nullptr) *request = nullptr;
  SQZ_REQUIRE(n >= 1 && n <= NCCL_PROXY_MAX_SUBS && sizes != nullptr, ncclInternalError,
              "irecv (net v8): bad receive count %d", n);
  size_t wide[NCCL_PROXY_MAX_SUBS];
  for (int i = 0; i < n; ++i) {
    SQZ_REQUIRE(sizes[i] >= 0 && sizes[i] <= NCCL_MAX_NET_SIZE, ncclInternalError,
                "irecv (net v8): size %d outside [0, %lld]", sizes[i], NCCL_MAX_NET_SIZE);
    wide[i] = static_cast<size_t>(sizes[i]);
  }
  return core::irecv(recv_comm, n, data, wide, tags, mhandles, nullptr, request);
}

}  // namespace
}  // namespace squeeze::plugin

using namespace squeeze::plugin;

extern "C" {
__attribute__((visibility("default"))) ncclNet_v8_t ncclNetPlugin_v8 = {
    SQUEEZE_NET_NAME,
    v8_init,
    core::devices,
    legacy::get_properties_v8,
    v8_listen,
    v8_connect,
    v8_accept,
    core::reg_mr,
    nullptr,
    core::dereg_mr,
    v8_isend,
    v8_irecv,
    core::iflush,
    core::test,
    core::close_send,
    core::close_recv,
    core::close_listen,
    nullptr,
    nullptr,
};
}
