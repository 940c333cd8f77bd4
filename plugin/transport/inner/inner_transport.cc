// The inner-plugin transport: Squeeze in front of another NCCL net plugin (InfiniBand through
// nccl-rdma-sharp-plugins, EFA through aws-ofi-nccl, ...). NCCL sees the inner plugin's devices
// and properties (names, PCI paths, speeds, GPUDirect support) and its connection handles; each
// connection is an InnerComm (pipeline/inner_comm.h) over the inner plugin's comm.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugin/classify/entropy.h"
#include "plugin/config.h"
#include "plugin/core.h"
#include "plugin/log.h"
#include "plugin/pipeline/inner_comm.h"
#include "plugin/transport/inner/inner_net.h"
#include "plugin/transport/transport.h"

namespace squeeze::plugin {
namespace {

// Loaded inner plugins, by NCCL_SQUEEZE_INNER value: loaded once per process, never unloaded.
InnerNet* load_inner(const std::string& spec, std::string* error) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<InnerNet>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(spec);
  if (it != loaded.end()) return it->second.get();
  std::unique_ptr<InnerNet> net = InnerNet::open(spec, error);
  if (!net) return nullptr;
  InnerNet* raw = net.get();
  loaded.emplace(spec, std::move(net));
  return raw;
}

const char* ptr_types_text(int types) {
  switch (types & (NCCL_PTR_HOST | NCCL_PTR_CUDA | NCCL_PTR_DMABUF)) {
    case NCCL_PTR_HOST:
      return "HOST";
    case NCCL_PTR_HOST | NCCL_PTR_CUDA:
      return "HOST|CUDA";
    case NCCL_PTR_HOST | NCCL_PTR_DMABUF:
      return "HOST|DMABUF";
    case NCCL_PTR_HOST | NCCL_PTR_CUDA | NCCL_PTR_DMABUF:
      return "HOST|CUDA|DMABUF";
    default:
      return "other";
  }
}

struct InnerListen {
  void* inner = nullptr;
  int dev = 0;
};

class InnerTransport final : public Transport {
 public:
  InnerTransport(const Settings& settings, InnerNet* net, ncclDebugLogger_t logger)
      : settings_(settings), net_(net), logger_(logger) {}

  // Initialises the inner plugin once for the transport (devices are asked before any context).
  ncclResult_t start(std::string* error) {
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    if (net_->init(&probe_ctx_, 0, &cfg, logger_) != ncclSuccess) {
      *error = "inner net plugin " + net_->describe() + ": init failed";
      probe_ctx_ = nullptr;
      return ncclInvalidUsage;
    }
    started_ = true;
    int n = 0;
    if (net_->devices(&n) != ncclSuccess || n <= 0) {
      *error = "inner net plugin " + net_->describe() +
               " has no device (devices() = " + std::to_string(n) + ")";
      return ncclSystemError;
    }
    ndev_ = n;
    for (int d = 0; d < ndev_; ++d) {
      ncclNetProperties_v11_t p;
      if (net_->get_properties(d, &p) != ncclSuccess) {
        *error = "inner net plugin " + net_->describe() + ": getProperties(" + std::to_string(d) +
                 ") failed";
        return ncclSystemError;
      }
      if (p.netDeviceType != NCCL_NET_DEVICE_HOST) {
        *error = "inner net plugin " + net_->describe() + " device " + std::to_string(d) +
                 " offloads to the GPU (netDeviceType " + std::to_string(p.netDeviceType) +
                 ", e.g. TCPX's unpack queue): Squeeze cannot sit in front of a device-offload "
                 "plugin";
        return ncclInvalidUsage;
      }
      inner_ptr_ = d == 0 ? p.ptrSupport : (inner_ptr_ & p.ptrSupport);
    }
    // What Squeeze offers NCCL: host buffers always; GPU buffers (GPUDirect RDMA) when the inner
    // plugin takes them and INNER_GDR is on. DMA-BUF registration is not forwarded.
    ptr_types_ = NCCL_PTR_HOST;
    if (settings_.inner_gdr() && (inner_ptr_ & NCCL_PTR_CUDA) != 0) ptr_types_ |= NCCL_PTR_CUDA;
    return ncclSuccess;
  }

  // A cycle that never ended (NCCL loaded Squeeze's v8-v10 tables, which have no finalize) is
  // torn down only at process exit, when the inner plugin may be gone already: its context is
  // not finalized then, only kept where the process can still see it (never destroyed).
  ~InnerTransport() override {
    if (!started_ || probe_ctx_ == nullptr) return;
    static auto* unfinalized = new std::vector<void*>();
    unfinalized->push_back(probe_ctx_);
  }

  // The probe context is the inner plugin's for the whole init cycle: finalized (v11) when the
  // cycle ends, so that the inner plugin stops its threads with Squeeze's.
  void stop() override {
    if (!started_) return;
    started_ = false;
    if (net_->version() >= 11 && probe_ctx_ != nullptr) net_->finalize(probe_ctx_);
    probe_ctx_ = nullptr;
  }

  const char* kind() const override { return "inner"; }

  void log_init() const override {
    SQZ_INFO(NCCL_INIT | NCCL_NET, "transport: inner net plugin %s, %d device(s)",
             net_->describe().c_str(), ndev_);
    for (int d = 0; d < ndev_; ++d) {
      ncclNetProperties_v11_t p;
      if (properties(d, &p) != ncclSuccess) continue;
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "device %d: %s speed %d Mb/s pci %s ptrSupport %s (inner plugin: %s), maxRecvs 1", d,
               p.name != nullptr ? p.name : "(none)", p.speed,
               p.pciPath != nullptr ? p.pciPath : "(none)", ptr_types_text(p.ptrSupport),
               ptr_types_text(inner_ptr_));
    }
    if ((ptr_types_ & NCCL_PTR_CUDA) != 0) {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "inner transport: GPU buffers forwarded to %s (GPUDirect RDMA): messages pass "
               "through uncompressed; NCCL_SQUEEZE_INNER_GDR=0 on every node makes NCCL stage "
               "through host memory, where the plugin compresses",
               net_->name().c_str());
    } else {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "inner transport: host buffers (%s), compressed frames go from staging registered "
               "with %s",
               (inner_ptr_ & NCCL_PTR_CUDA) != 0 ? "NCCL_SQUEEZE_INNER_GDR=0"
                                                 : "the inner plugin takes no GPU buffers",
               net_->name().c_str());
    }
  }

  int device_count() const override { return ndev_; }

  ncclResult_t properties(int dev, ncclNetProperties_v11_t* props) const override {
    SQZ_REQUIRE(started_, ncclInternalError,
                "getProperties outside an init cycle (inner net plugin %s finalized)",
                net_->name().c_str());
    SQZ_REQUIRE(props != nullptr && dev >= 0 && dev < ndev_, ncclInvalidArgument,
                "getProperties: invalid device %d (%d devices of %s)", dev, ndev_,
                net_->name().c_str());
    SQZ_CHECK(net_->get_properties(dev, props));
    props->ptrSupport = ptr_types_;
    props->regIsGlobal = 0;  // registrations are per connection (Squeeze wraps each)
    props->maxRecvs = 1;     // grouped receives are not forwarded
    props->netDeviceType = NCCL_NET_DEVICE_HOST;
    props->netDeviceVersion = NCCL_NET_DEVICE_INVALID_VERSION;
    props->vProps.ndevs = 1;  // no virtual NIC fusion (makeVDevice is not offered)
    props->vProps.devs[0] = dev;
    props->maxMultiRequestSize = 1;
    return ncclSuccess;
  }

  ncclResult_t open_context(Context* ctx, uint64_t comm_id,
                            const ncclNetCommConfig_v11_t* config) override {
    ncclNetCommConfig_v11_t cfg{config != nullptr ? config->trafficClass
                                                  : NCCL_NET_TRAFFIC_CLASS_UNDEF};
    if (net_->version() < 11) {
      ctx->inner_ctx = nullptr;  // one process-wide init (start)
      return ncclSuccess;
    }
    return net_->init(&ctx->inner_ctx, comm_id, &cfg, logger_);
  }

  void close_context(Context* ctx) override {
    if (net_->version() >= 11 && ctx->inner_ctx != nullptr) net_->finalize(ctx->inner_ctx);
    ctx->inner_ctx = nullptr;
  }

  ncclResult_t set_net_attr(Context* ctx, const ncclNetAttr_v11_t* attr) override {
    if (!net_->has_set_net_attr()) return ncclSuccess;
    ncclNetAttr_v11_t copy = *attr;
    return net_->set_net_attr(ctx->inner_ctx, &copy);
  }

  ncclResult_t listen(Context* ctx, int dev, void* handle, void** listen_comm) override {
    SQZ_REQUIRE(dev >= 0 && dev < ndev_, ncclInvalidArgument, "listen: invalid device %d", dev);
    auto l = std::make_unique<InnerListen>();
    l->dev = dev;
    SQZ_CHECK(net_->listen(ctx->inner_ctx, dev, handle, &l->inner));
    SQZ_REQUIRE(l->inner != nullptr, ncclInternalError,
                "inner net plugin %s: listen returned no listen comm", net_->name().c_str());
    *listen_comm = l.release();
    return ncclSuccess;
  }

  ncclResult_t connect(Context* ctx, int dev, void* handle, const CommOptionsFactory& options,
                       std::unique_ptr<NetComm>* out) override {
    ncclNetCommConfig_v11_t cfg{ctx->traffic_class};
    void* send = nullptr;
    ncclNetDeviceHandle_v11_t* dev_handle = nullptr;
    SQZ_CHECK(net_->connect(ctx->inner_ctx, &cfg, dev, handle, &send, &dev_handle));
    if (send == nullptr) return ncclSuccess;  // in progress
    if (dev_handle != nullptr) {
      net_->close_send(send);
      SQZ_WARN(
          "inner net plugin %s returned a device handle at connect (device offload): not "
          "supported",
          net_->name().c_str());
      return ncclInternalError;
    }
    CommOptions opts = comm_options(options());
    ncclNetProperties_v11_t props{};
    const int speed = net_->get_properties(dev, &props) == ncclSuccess ? props.speed : 0;
    set_link_rate(settings_, speed, /*speed_known=*/speed > 0, &opts);
    opts.rans_min_gain = rans_min_gain(settings_.entropy(), opts.link_bytes_per_s);
    *out = std::make_unique<InnerComm>(NetComm::Dir::kSend, net_, send, dev, ptr_types_, opts);
    return ncclSuccess;
  }

  ncclResult_t accept(void* listen_comm, const CommOptionsFactory& options,
                      std::unique_ptr<NetComm>* out) override {
    auto* l = static_cast<InnerListen*>(listen_comm);
    void* recv = nullptr;
    ncclNetDeviceHandle_v11_t* dev_handle = nullptr;
    SQZ_CHECK(net_->accept(l->inner, &recv, &dev_handle));
    if (recv == nullptr) return ncclSuccess;
    if (dev_handle != nullptr) {
      net_->close_recv(recv);
      SQZ_WARN(
          "inner net plugin %s returned a device handle at accept (device offload): not "
          "supported",
          net_->name().c_str());
      return ncclInternalError;
    }
    *out = std::make_unique<InnerComm>(NetComm::Dir::kRecv, net_, recv, l->dev, ptr_types_,
                                       comm_options(options()));
    return ncclSuccess;
  }

  ncclResult_t close_listen(void* listen_comm) override {
    auto* l = static_cast<InnerListen*>(listen_comm);
    ncclResult_t res = l->inner != nullptr ? net_->close_listen(l->inner) : ncclSuccess;
    delete l;
    return res;
  }

 private:
  CommOptions comm_options(CommOptions o) const {
    // No handshake over an inner plugin: frames use what every Squeeze receiver decodes
    // (kCapsWithoutHandshake).
    o.caps = kCapsWithoutHandshake;
    // GPU buffers forwarded: everything passes through (frames are decoded on the host only).
    if ((ptr_types_ & NCCL_PTR_CUDA) != 0) o.policy.enable = false;
    return o;
  }

  Settings settings_;
  InnerNet* net_;
  ncclDebugLogger_t logger_;
  void* probe_ctx_ = nullptr;
  bool started_ = false;  // the inner plugin initialised for this cycle (start, until stop)
  int ndev_ = 0;
  int inner_ptr_ = 0;
  int ptr_types_ = NCCL_PTR_HOST;
};

}  // namespace

std::unique_ptr<Transport> make_inner_transport(const Settings& settings, ncclDebugLogger_t logger,
                                                bool have_cuda, std::string* error) {
  (void)have_cuda;
  InnerNet* net = load_inner(settings.inner(), error);
  if (net == nullptr) return nullptr;
  auto t = std::make_unique<InnerTransport>(settings, net, logger);
  if (t->start(error) != ncclSuccess) {
    t->stop();
    return nullptr;
  }
  return t;
}

}  // namespace squeeze::plugin
