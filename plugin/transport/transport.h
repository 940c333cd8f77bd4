// The transport seam: what the core (core.cc) asks of whatever carries a connection's bytes.
// Devices and their properties, per-communicator contexts, listen / connect / accept; each
// established connection is a NetComm (pipeline/net_comm.h) that registers memory, posts sends and
// receives and tests them. Two implementations:
//   tcp   (tcp_transport.cc)   the plugin's own TCP transport: interfaces, sockets, handshake;
//   inner (inner/inner_transport.cc)  an inner NCCL net plugin loaded with dlopen (InfiniBand,
//         EFA, ...): its devices, properties and handles, with the frames going through it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "nccl_abi/net.h"
#include "plugin/pipeline/net_comm.h"

namespace squeeze::plugin {

struct Context;
struct Settings;

// Builds the options of a connection that has just been established (called once per connection,
// never for a connect/accept call that is still in progress).
using CommOptionsFactory = std::function<CommOptions()>;

class Transport {
 public:
  virtual ~Transport() = default;

  // "tcp" or "inner".
  virtual const char* kind() const = 0;
  // Logs (INFO, at init) what the transport is and its devices.
  virtual void log_init() const = 0;
  virtual int device_count() const = 0;
  virtual ncclResult_t properties(int dev, ncclNetProperties_v11_t* props) const = 0;

  // Per NCCL communicator (v11 init / finalize), or once for the v8-v10 process context.
  virtual ncclResult_t open_context(Context* ctx, uint64_t comm_id,
                                    const ncclNetCommConfig_v11_t* config) = 0;
  virtual void close_context(Context* ctx) = 0;
  // v11 hints, after the core noted them for classification.
  virtual ncclResult_t set_net_attr(Context* ctx, const ncclNetAttr_v11_t* attr) = 0;

  // Fills NCCL's handle (NCCL_NET_HANDLE_MAXSIZE bytes); *listen_comm is the transport's own.
  virtual ncclResult_t listen(Context* ctx, int dev, void* handle, void** listen_comm) = 0;
  // Non-blocking: *out stays empty while the connection is in progress (NCCL calls again with
  // the same handle bytes). The returned comm has not been started.
  virtual ncclResult_t connect(Context* ctx, int dev, void* handle,
                               const CommOptionsFactory& options,
                               std::unique_ptr<NetComm>* out) = 0;
  virtual ncclResult_t accept(void* listen_comm, const CommOptionsFactory& options,
                              std::unique_ptr<NetComm>* out) = 0;
  virtual ncclResult_t close_listen(void* listen_comm) = 0;

  // The end of an init cycle (the last context finalized, or the first init failed): releases
  // what the transport holds for the whole cycle. Only device_count() and log output may follow.
  virtual void stop() {}
};

// The plugin's own TCP transport over the interfaces settings select. NULL (and *error) when no
// interface is up. decoder_caps: what this process's decoders understand (sent in every Ack);
// gpu_buffers: whether NCCL_PTR_CUDA is reported.
std::unique_ptr<Transport> make_tcp_transport(const Settings& settings, int helper_threads,
                                              uint32_t decoder_caps, bool gpu_buffers,
                                              std::string* error);

// An inner net plugin (settings.inner()), loaded and initialised. NULL (and *error naming it)
// when it cannot be loaded, exports no usable table or has no device. logger: NCCL's, handed on.
std::unique_ptr<Transport> make_inner_transport(const Settings& settings, ncclDebugLogger_t logger,
                                                bool have_cuda, std::string* error);

}  // namespace squeeze::plugin
