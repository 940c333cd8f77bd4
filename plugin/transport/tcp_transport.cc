// The plugin's own TCP transport behind the transport seam: the interfaces it offers NCCL, the
// non-blocking handshake (tcp.h), and Comm (pipeline/comm.h) for each established connection.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "plugin/classify/entropy.h"
#include "plugin/config.h"
#include "plugin/core.h"
#include "plugin/log.h"
#include "plugin/pipeline/comm.h"
#include "plugin/transport/interfaces.h"
#include "plugin/transport/tcp.h"
#include "plugin/transport/transport.h"

namespace squeeze::plugin {
namespace {

class TcpTransport final : public Transport {
 public:
  TcpTransport(const Settings& settings, std::vector<NetDevice> devices, int helper_threads,
               uint32_t decoder_caps, bool gpu_buffers)
      : settings_(settings),
        devices_(std::move(devices)),
        helper_threads_(helper_threads),
        decoder_caps_(decoder_caps),
        gpu_buffers_(gpu_buffers) {}

  const char* kind() const override { return "tcp"; }

  void log_init() const override {
    for (size_t d = 0; d < devices_.size(); ++d) {
      const NetDevice& dev = devices_[d];
      SQZ_INFO(NCCL_INIT | NCCL_NET, "device %zu: %s %s speed %d Mb/s pci %s", d, dev.name.c_str(),
               sockaddr_to_string(dev.addr).c_str(), dev.speed_mbps,
               dev.pci_path.empty() ? "(none)" : dev.pci_path.c_str());
    }
    const int cpus = usable_cpu_count();
    if (helper_threads_ == 0) {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "transport: inline progress, NCCL's proxy thread moves the bytes (THREADS=%s, %d "
               "usable CPUs), %d data sockets per connection",
               settings_.get(ParamId::kThreads).text.c_str(), cpus, settings_.sockets());
    } else {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "transport: %d helper threads per connection (THREADS=%s, %d usable CPUs), %d "
               "data sockets per connection",
               helper_threads_, settings_.get(ParamId::kThreads).text.c_str(), cpus,
               settings_.sockets());
    }
  }

  int device_count() const override { return static_cast<int>(devices_.size()); }

  ncclResult_t properties(int dev, ncclNetProperties_v11_t* props) const override {
    SQZ_REQUIRE(props != nullptr && dev >= 0 && dev < device_count(), ncclInvalidArgument,
                "getProperties: invalid device %d (%zu devices)", dev, devices_.size());
    const NetDevice& d = devices_[static_cast<size_t>(dev)];
    *props = ncclNetProperties_v11_t{};
    props->name = const_cast<char*>(d.name.c_str());
    props->pciPath = d.pci_path.empty() ? nullptr : const_cast<char*>(d.pci_path.c_str());
    props->guid = d.guid;
    props->ptrSupport = gpu_buffers_ ? NCCL_PTR_HOST | NCCL_PTR_CUDA : NCCL_PTR_HOST;
    props->regIsGlobal = 0;
    props->forceFlush = 0;
    props->speed = d.speed_mbps;
    props->port = 0;
    props->latency = 0.0f;
    props->maxComms = 65536;
    props->maxRecvs = 1;
    props->netDeviceType = NCCL_NET_DEVICE_HOST;
    props->netDeviceVersion = NCCL_NET_DEVICE_INVALID_VERSION;
    props->vProps.ndevs = 1;
    props->vProps.devs[0] = dev;
    props->maxP2pBytes = NCCL_MAX_NET_SIZE_BYTES;
    props->maxCollBytes = 512ull << 20;
    props->maxMultiRequestSize = 1;
    return ncclSuccess;
  }

  ncclResult_t open_context(Context*, uint64_t, const ncclNetCommConfig_v11_t*) override {
    return ncclSuccess;
  }
  void close_context(Context*) override {}
  ncclResult_t set_net_attr(Context*, const ncclNetAttr_v11_t*) override { return ncclSuccess; }

  ncclResult_t listen(Context*, int dev, void* handle, void** listen_comm) override {
    SQZ_REQUIRE(dev >= 0 && dev < device_count(), ncclInvalidArgument, "listen: invalid device %d",
                dev);
    std::unique_ptr<Listener> listener;
    SQZ_CHECK(Listener::create(devices_[static_cast<size_t>(dev)], settings_.sockets(),
                               helper_threads_, settings_.staging_bytes(),
                               settings_.handshake_timeout_s(), decoder_caps_,
                               static_cast<wire::Handle*>(handle), &listener));
    *listen_comm = listener.release();
    return ncclSuccess;
  }

  ncclResult_t connect(Context*, int dev, void* handle, const CommOptionsFactory& options,
                       std::unique_ptr<NetComm>* out) override {
    SQZ_REQUIRE(dev >= 0 && dev < device_count(), ncclInvalidArgument,
                "connect: invalid device %d (%zu devices)", dev, devices_.size());
    auto* h = static_cast<wire::Handle*>(handle);
    Connector* connector = nullptr;
    if (h->connector == 0) {
      std::unique_ptr<Connector> created;
      SQZ_CHECK(Connector::create(*h, settings_.handshake_timeout_s(), &created));
      connector = created.release();
      {
        std::lock_guard<std::mutex> lock(connectors_mu_);
        connectors_.insert(connector);
      }
      h->connector = reinterpret_cast<uintptr_t>(connector);
    } else {
      connector = live_connector(h->connector, h->nonce);
      SQZ_REQUIRE(connector != nullptr, ncclInvalidUsage,
                  "connect: the handle names a connection attempt this plugin does not have (a "
                  "handle copied while its connect was in progress, used again after it ended, "
                  "or not a Squeeze handle)");
    }
    std::unique_ptr<Connection> conn;
    ncclResult_t res = connector->poll(&conn);
    if (res != ncclSuccess || conn) {
      {
        std::lock_guard<std::mutex> lock(connectors_mu_);
        connectors_.erase(connector);
      }
      delete connector;
      h->connector = 0;
    }
    SQZ_CHECK(res);
    if (!conn) return ncclSuccess;  // in progress: NCCL calls again with the same handle
    CommOptions opts = options();
    opts.caps = conn->peer_caps;
    const NetDevice& device = devices_[static_cast<size_t>(dev)];
    set_link_rate(settings_, device.speed_mbps, device.speed_known, &opts);
    opts.rans_min_gain = rans_min_gain(settings_.entropy(), opts.link_bytes_per_s);
    opts.history = settings_.history();
    log_established(NetComm::Dir::kSend, opts, *conn);
    *out = std::make_unique<Comm>(NetComm::Dir::kSend, std::move(conn), opts);
    return ncclSuccess;
  }

  ncclResult_t accept(void* listen_comm, const CommOptionsFactory& options,
                      std::unique_ptr<NetComm>* out) override {
    auto* listener = static_cast<Listener*>(listen_comm);
    std::unique_ptr<Connection> conn;
    SQZ_CHECK(listener->poll(&conn));
    if (!conn) return ncclSuccess;
    CommOptions opts = options();
    opts.caps = decoder_caps_;
    log_established(NetComm::Dir::kRecv, opts, *conn);
    *out = std::make_unique<Comm>(NetComm::Dir::kRecv, std::move(conn), opts);
    return ncclSuccess;
  }

  ncclResult_t close_listen(void* listen_comm) override {
    delete static_cast<Listener*>(listen_comm);
    return ncclSuccess;
  }

 private:
  static void log_established(NetComm::Dir dir, const CommOptions& opts, const Connection& conn) {
    const bool send = dir == NetComm::Dir::kSend;
    const bool history = send && (opts.caps & kCapHistory) != 0;
    SQZ_INFO(NCCL_NET,
             "%s connection %llu established with %s, %s traffic hint, protocol %u, %s%s%s%s",
             send ? "send" : "recv", static_cast<unsigned long long>(opts.id),
             sockaddr_to_string(conn.peer).c_str(), comm_kind_name(opts.connect_kind),
             static_cast<unsigned>(conn.protocol), caps_description(opts.caps, send).c_str(),
             send && (opts.caps & kCapRans) != 0 ? ", " : "",
             send && (opts.caps & kCapRans) != 0 ? rans_gain_description(opts.rans_min_gain).c_str()
                                                 : "",
             !history                                  ? ""
             : opts.history == Settings::History::kOn  ? ", stream history always"
             : opts.history == Settings::History::kOff ? ", no stream history (HISTORY=off)"
             : opts.link_bytes_per_s > 0               ? ", stream history while it pays"
                                         : ", stream history always (link rate unknown)");
  }

  // The connection attempt a handle's connector field names, if this transport has it and it is
  // for that handle's listener (its nonce); NULL otherwise. The field is only ever a pointer
  // this transport wrote, but the bytes come from NCCL: a copy of a handle taken during a
  // connect, or one used again, would otherwise name an attempt that has been deleted.
  Connector* live_connector(uint64_t field, uint64_t nonce) {
    auto* c = reinterpret_cast<Connector*>(static_cast<uintptr_t>(field));
    std::lock_guard<std::mutex> lock(connectors_mu_);
    return connectors_.count(c) != 0 && c->nonce() == nonce ? c : nullptr;
  }

  Settings settings_;
  std::vector<NetDevice> devices_;
  int helper_threads_;
  uint32_t decoder_caps_;
  bool gpu_buffers_;
  std::mutex connectors_mu_;
  std::unordered_set<Connector*> connectors_;  // the connection attempts in progress
};

}  // namespace

std::unique_ptr<Transport> make_tcp_transport(const Settings& settings, int helper_threads,
                                              uint32_t decoder_caps, bool gpu_buffers,
                                              std::string* error) {
  std::vector<NetDevice> devs = find_net_devices(settings.ifname());
  if (devs.empty()) {
    *error = std::string("no network interface is up") +
             (settings.ifname().empty() ? "" : " matching NCCL_SQUEEZE_IFNAME=") +
             settings.ifname();
    return nullptr;
  }
  return std::make_unique<TcpTransport>(settings, std::move(devs), helper_threads, decoder_caps,
                                        gpu_buffers);
}

}  // namespace squeeze::plugin
