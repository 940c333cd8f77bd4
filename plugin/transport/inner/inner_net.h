// An inner NCCL net plugin, loaded by Squeeze itself: dlopen (RTLD_NOW | RTLD_LOCAL) resolved as
// NCCL resolves NCCL_NET_PLUGIN, the highest table of ncclNetPlugin_v11..v8 it exports, and one
// call interface over all four versions (v11 signatures; the adapters below widen or narrow the
// older ones). Every failure is logged with the inner plugin's name and returned as its code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "nccl_abi/net.h"

namespace squeeze::plugin {

class InnerNet {
 public:
  // Loads spec (a path with '/', a file name lib*.so, or a name X: "X" then libnccl-net-X.so).
  // NULL and *error on failure.
  static std::unique_ptr<InnerNet> open(const std::string& spec, std::string* error);
  ~InnerNet();  // never dlcloses: an inner plugin may keep threads past its last close
  InnerNet(const InnerNet&) = delete;
  InnerNet& operator=(const InnerNet&) = delete;

  const std::string& name() const { return name_; }  // the table's name
  const std::string& path() const { return path_; }  // what dlopen loaded
  int version() const { return version_; }           // 11, 10, 9 or 8
  // "IB (v11, /path/libnccl-net-ib.so)" for logs.
  std::string describe() const;

  // v8-v10: once per process (later calls do nothing). v11: once per context.
  ncclResult_t init(void** ctx, uint64_t comm_id, ncclNetCommConfig_v11_t* config,
                    ncclDebugLogger_t logger);
  ncclResult_t finalize(void* ctx);
  ncclResult_t devices(int* ndev);
  ncclResult_t get_properties(int dev, ncclNetProperties_v11_t* props);
  ncclResult_t listen(void* ctx, int dev, void* handle, void** listen_comm);
  // config: the context's traffic class (v10 takes it at connect).
  ncclResult_t connect(void* ctx, ncclNetCommConfig_v11_t* config, int dev, void* handle,
                       void** send_comm, ncclNetDeviceHandle_v11_t** dev_comm);
  ncclResult_t accept(void* listen_comm, void** recv_comm, ncclNetDeviceHandle_v11_t** dev_comm);
  ncclResult_t reg_mr(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t dereg_mr(void* comm, void* mhandle);
  ncclResult_t isend(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                     void** request);
  ncclResult_t irecv(void* recv_comm, void* data, size_t size, int tag, void* mhandle,
                     void** request);
  ncclResult_t iflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                      void** request);
  bool has_flush() const;
  ncclResult_t test(void* request, int* done, int* size);
  ncclResult_t close_send(void* send_comm);
  ncclResult_t close_recv(void* recv_comm);
  ncclResult_t close_listen(void* listen_comm);
  bool has_set_net_attr() const { return version_ >= 11 && v11_->setNetAttr != nullptr; }
  ncclResult_t set_net_attr(void* ctx, ncclNetAttr_v11_t* attr);

 private:
  InnerNet() = default;
  // Logs a failed call, naming the inner plugin, and returns its code.
  ncclResult_t check(ncclResult_t res, const char* call) const;

  void* lib_ = nullptr;
  std::string name_;
  std::string path_;
  int version_ = 0;
  bool legacy_init_done_ = false;
  ncclNet_v11_t* v11_ = nullptr;
  ncclNet_v10_t* v10_ = nullptr;
  ncclNet_v9_t* v9_ = nullptr;
  ncclNet_v8_t* v8_ = nullptr;
};

}  // namespace squeeze::plugin
