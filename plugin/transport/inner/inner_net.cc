#include "plugin/transport/inner/inner_net.h"

#include <dlfcn.h>

#include <climits>
#include <cstring>

#include "plugin/log.h"

namespace squeeze::plugin {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Calls a member of whichever table is loaded (they have the same name in each).
#define SQZ_INNER_CALL(member, ...)             \
  (version_ == 11   ? v11_->member(__VA_ARGS__) \
   : version_ == 10 ? v10_->member(__VA_ARGS__) \
   : version_ == 9  ? v9_->member(__VA_ARGS__)  \
                    : v8_->member(__VA_ARGS__))

}  // namespace

std::unique_ptr<InnerNet> InnerNet::open(const std::string& spec, std::string* error) {
  // As NCCL resolves NCCL_NET_PLUGIN (nccl-net-api.md 1.1): the name itself, then, for a bare
  // name, libnccl-net-<name>.so.
  std::string tried = spec;
  void* lib = dlopen(spec.c_str(), RTLD_NOW | RTLD_LOCAL);
  auto last_error = [] {
    const char* e = dlerror();
    return std::string(e != nullptr ? e : "unknown dlopen error");
  };
  std::string first_error = lib == nullptr ? last_error() : "";
  std::string path = spec;
  const bool bare = spec.find('/') == std::string::npos &&
                    !(spec.compare(0, 3, "lib") == 0 && ends_with(spec, ".so"));
  if (lib == nullptr && bare) {
    path = "libnccl-net-" + spec + ".so";
    tried += ", " + path;
    lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) first_error = last_error();
  }
  if (lib == nullptr) {
    *error = "inner net plugin NCCL_SQUEEZE_INNER=" + spec + " cannot be loaded (tried " + tried +
             "): " + first_error;
    return nullptr;
  }
  std::unique_ptr<InnerNet> n(new InnerNet());
  n->lib_ = lib;
  // Not a usable plugin: the library goes again (nothing of it was called).
  auto reject = [&](const std::string& why) {
    *error = why;
    dlclose(lib);
    return nullptr;
  };
  n->path_ = path;
  if (auto* t = static_cast<ncclNet_v11_t*>(dlsym(lib, "ncclNetPlugin_v11"))) {
    n->v11_ = t;
    n->version_ = 11;
    n->name_ = t->name != nullptr ? t->name : "?";
  } else if (auto* t10 = static_cast<ncclNet_v10_t*>(dlsym(lib, "ncclNetPlugin_v10"))) {
    n->v10_ = t10;
    n->version_ = 10;
    n->name_ = t10->name != nullptr ? t10->name : "?";
  } else if (auto* t9 = static_cast<ncclNet_v9_t*>(dlsym(lib, "ncclNetPlugin_v9"))) {
    n->v9_ = t9;
    n->version_ = 9;
    n->name_ = t9->name != nullptr ? t9->name : "?";
  } else if (auto* t8 = static_cast<ncclNet_v8_t*>(dlsym(lib, "ncclNetPlugin_v8"))) {
    n->v8_ = t8;
    n->version_ = 8;
    n->name_ = t8->name != nullptr ? t8->name : "?";
  } else {
    return reject("inner net plugin " + path +
                  " exports none of ncclNetPlugin_v11, _v10, _v9, _v8 (older tables are not "
                  "supported)");
  }
  if (n->name_ == "Squeeze") {
    // Also the same library: dlclose only drops the reference this open took.
    return reject("inner net plugin " + path +
                  " is Squeeze itself: NCCL_SQUEEZE_INNER must name another plugin");
  }
  return n;
}

InnerNet::~InnerNet() = default;

std::string InnerNet::describe() const {
  return name_ + " (net v" + std::to_string(version_) + ", " + path_ + ")";
}

ncclResult_t InnerNet::check(ncclResult_t res, const char* call) const {
  if (res != ncclSuccess) {
    SQZ_WARN("inner net plugin %s: %s failed with error %d", name_.c_str(), call,
             static_cast<int>(res));
  }
  return res;
}

ncclResult_t InnerNet::init(void** ctx, uint64_t comm_id, ncclNetCommConfig_v11_t* config,
                            ncclDebugLogger_t logger) {
  *ctx = nullptr;
  if (version_ == 11) return check(v11_->init(ctx, comm_id, config, logger, nullptr), "init");
  if (legacy_init_done_) return ncclSuccess;
  ncclResult_t res = version_ == 10  ? v10_->init(logger, nullptr)
                     : version_ == 9 ? v9_->init(logger)
                                     : v8_->init(logger);
  if (res == ncclSuccess) legacy_init_done_ = true;
  return check(res, "init");
}

ncclResult_t InnerNet::finalize(void* ctx) {
  if (version_ != 11) return ncclSuccess;  // no finalize before v11
  return check(v11_->finalize(ctx), "finalize");
}

ncclResult_t InnerNet::devices(int* ndev) {
  return check(SQZ_INNER_CALL(devices, ndev), "devices");
}

ncclResult_t InnerNet::get_properties(int dev, ncclNetProperties_v11_t* props) {
  *props = ncclNetProperties_v11_t{};
  props->maxMultiRequestSize = 1;
  if (version_ == 11) return check(v11_->getProperties(dev, props), "getProperties");
  if (version_ == 10 || version_ == 9) {
    ncclNetProperties_v9_t p{};
    ncclResult_t res = version_ == 10 ? v10_->getProperties(dev, &p) : v9_->getProperties(dev, &p);
    if (res != ncclSuccess) return check(res, "getProperties");
    std::memcpy(props, &p, sizeof(p));  // v11 = v9/v10 + maxMultiRequestSize
    static_assert(sizeof(ncclNetProperties_v9_t) <= sizeof(ncclNetProperties_v11_t), "");
    return ncclSuccess;
  }
  ncclNetProperties_v8_t p{};
  ncclResult_t res = v8_->getProperties(dev, &p);
  if (res != ncclSuccess) return check(res, "getProperties");
  // What NCCL's v8 shim fills in (nccl-net-api.md 1.4).
  props->name = p.name;
  props->pciPath = p.pciPath;
  props->guid = p.guid;
  props->ptrSupport = p.ptrSupport;
  props->regIsGlobal = p.regIsGlobal;
  props->forceFlush = 0;
  props->speed = p.speed;
  props->port = p.port;
  props->latency = p.latency;
  props->maxComms = p.maxComms;
  props->maxRecvs = p.maxRecvs;
  props->netDeviceType = p.netDeviceType;
  props->netDeviceVersion = p.netDeviceVersion;
  props->vProps.ndevs = 1;
  props->vProps.devs[0] = dev;
  props->maxP2pBytes = static_cast<size_t>(NCCL_MAX_NET_SIZE);
  props->maxCollBytes = size_t{512} << 20;
  return ncclSuccess;
}

ncclResult_t InnerNet::listen(void* ctx, int dev, void* handle, void** listen_comm) {
  switch (version_) {
    case 11:
      return check(v11_->listen(ctx, dev, handle, listen_comm), "listen");
    case 10:
      return check(v10_->listen(dev, handle, listen_comm), "listen");
    case 9:
      return check(v9_->listen(dev, handle, listen_comm), "listen");
    default:
      return check(v8_->listen(dev, handle, listen_comm), "listen");
  }
}

ncclResult_t InnerNet::connect(void* ctx, ncclNetCommConfig_v11_t* config, int dev, void* handle,
                               void** send_comm, ncclNetDeviceHandle_v11_t** dev_comm) {
  switch (version_) {
    case 11:
      return check(v11_->connect(ctx, dev, handle, send_comm, dev_comm), "connect");
    case 10:
      return check(v10_->connect(dev, config, handle, send_comm, dev_comm), "connect");
    case 9:
      return check(v9_->connect(dev, handle, send_comm, dev_comm), "connect");
    default:
      return check(v8_->connect(dev, handle, send_comm, dev_comm), "connect");
  }
}

ncclResult_t InnerNet::accept(void* listen_comm, void** recv_comm,
                              ncclNetDeviceHandle_v11_t** dev_comm) {
  return check(SQZ_INNER_CALL(accept, listen_comm, recv_comm, dev_comm), "accept");
}

ncclResult_t InnerNet::reg_mr(void* comm, void* data, size_t size, int type, void** mhandle) {
  return check(SQZ_INNER_CALL(regMr, comm, data, size, type, mhandle), "regMr");
}

ncclResult_t InnerNet::dereg_mr(void* comm, void* mhandle) {
  return check(SQZ_INNER_CALL(deregMr, comm, mhandle), "deregMr");
}

ncclResult_t InnerNet::isend(void* send_comm, void* data, size_t size, int tag, void* mhandle,
                             void** request) {
  switch (version_) {
    case 11:
      return check(v11_->isend(send_comm, data, size, tag, mhandle, nullptr, request), "isend");
    case 10:
      return check(v10_->isend(send_comm, data, size, tag, mhandle, nullptr, request), "isend");
    case 9:
      return check(v9_->isend(send_comm, data, size, tag, mhandle, request), "isend");
    default:
      if (size > static_cast<size_t>(INT_MAX)) {
        SQZ_WARN("inner net plugin %s (net v8): isend of %zu bytes exceeds its int sizes",
                 name_.c_str(), size);
        return ncclInternalError;
      }
      return check(v8_->isend(send_comm, data, static_cast<int>(size), tag, mhandle, request),
                   "isend");
  }
}

ncclResult_t InnerNet::irecv(void* recv_comm, void* data, size_t size, int tag, void* mhandle,
                             void** request) {
  void* datas[1] = {data};
  int tags[1] = {tag};
  void* mhandles[1] = {mhandle};
  size_t sizes[1] = {size};
  switch (version_) {
    case 11: {
      void* ph[1] = {nullptr};
      return check(v11_->irecv(recv_comm, 1, datas, sizes, tags, mhandles, ph, request), "irecv");
    }
    case 10: {
      void* ph[1] = {nullptr};
      return check(v10_->irecv(recv_comm, 1, datas, sizes, tags, mhandles, ph, request), "irecv");
    }
    case 9:
      return check(v9_->irecv(recv_comm, 1, datas, sizes, tags, mhandles, request), "irecv");
    default: {
      if (size > static_cast<size_t>(INT_MAX)) {
        SQZ_WARN("inner net plugin %s (net v8): irecv of %zu bytes exceeds its int sizes",
                 name_.c_str(), size);
        return ncclInternalError;
      }
      int isizes[1] = {static_cast<int>(size)};
      return check(v8_->irecv(recv_comm, 1, datas, isizes, tags, mhandles, request), "irecv");
    }
  }
}

bool InnerNet::has_flush() const {
  return (version_ == 11   ? v11_->iflush
          : version_ == 10 ? v10_->iflush
          : version_ == 9  ? v9_->iflush
                           : v8_->iflush) != nullptr;
}

ncclResult_t InnerNet::iflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                              void** request) {
  return check(SQZ_INNER_CALL(iflush, recv_comm, n, data, sizes, mhandles, request), "iflush");
}

ncclResult_t InnerNet::test(void* request, int* done, int* size) {
  return check(SQZ_INNER_CALL(test, request, done, size), "test");
}

ncclResult_t InnerNet::close_send(void* send_comm) {
  return check(SQZ_INNER_CALL(closeSend, send_comm), "closeSend");
}

ncclResult_t InnerNet::close_recv(void* recv_comm) {
  return check(SQZ_INNER_CALL(closeRecv, recv_comm), "closeRecv");
}

ncclResult_t InnerNet::close_listen(void* listen_comm) {
  return check(SQZ_INNER_CALL(closeListen, listen_comm), "closeListen");
}

ncclResult_t InnerNet::set_net_attr(void* ctx, ncclNetAttr_v11_t* attr) {
  if (!has_set_net_attr()) return ncclSuccess;
  return check(v11_->setNetAttr(ctx, attr), "setNetAttr");
}

}  // namespace squeeze::plugin
