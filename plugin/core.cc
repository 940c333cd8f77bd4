#include "plugin/core.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "plugin/config.h"
#include "plugin/log.h"
#include "plugin/pipeline/codec_engine.h"
#include "plugin/pipeline/comm.h"
#include "plugin/pipeline/cuda_device.h"
#include "plugin/transport/interfaces.h"
#include "plugin/transport/tcp.h"

#ifndef SQUEEZE_VERSION_STRING
#define SQUEEZE_VERSION_STRING "unknown"
#endif

namespace squeeze::plugin {
namespace {

struct ListenComm {
  static constexpr uint32_t kMagic = 0x4c435153;  // "SQCL"
  uint32_t magic = kMagic;
  Context* ctx = nullptr;
  std::unique_ptr<Listener> listener;
};

struct ProcessState {
  std::mutex mu;
  int refcount = 0;  // live v11 contexts, plus one for the v8-v10 process context
  bool legacy = false;
  Context legacy_ctx;
  Settings settings;
  int helper_threads = 0;  // THREADS resolved at init ("auto" follows the CPU count)
  std::vector<NetDevice> devices;
  // Device lists of earlier init cycles: NCCL may still hold name/pciPath pointers into them.
  std::vector<std::vector<NetDevice>> retired_devices;
  std::unique_ptr<HostCodecEngine> engine;
  // GPU buffers: the CUDA device API (checked once per process), or a test's; NULL = host only.
  std::unique_ptr<DeviceApi> cuda_api;
  std::string cuda_why;
  bool cuda_checked = false;
  DeviceApi* test_device_api = nullptr;
  DeviceApi* device_api = nullptr;
  // What this process's decoders understand (sent in every Ack). The CUDA decoder keeps no
  // stream history, so a process that may be handed GPU buffers does not declare one.
  uint32_t decoder_caps = kCapsAll;
  std::atomic<uint64_t> next_comm_id{1};
  std::mutex live_mu;
  std::vector<Comm*> live;

  ~ProcessState() {
    // Library unload (v8-v10 have no finalize): never leave codec threads running unmapped code.
    if (engine) engine->stop();
  }
};

ProcessState& state() {
  static ProcessState s;
  return s;
}

// First init of a cycle: configuration, devices, codec engine. Called with state().mu held.
ncclResult_t start_process_locked() {
  ProcessState& s = state();
  Settings settings;
  std::string error;
  if (!load_settings_from_environment(&settings, &error)) {
    SQZ_WARN("invalid configuration: %s", error.c_str());
    return ncclInvalidUsage;
  }
  std::vector<NetDevice> devs = find_net_devices(settings.ifname());
  if (devs.empty()) {
    SQZ_WARN("no network interface is up%s%s",
             settings.ifname().empty() ? "" : " matching NCCL_SQUEEZE_IFNAME=",
             settings.ifname().c_str());
    return ncclSystemError;
  }
  if (!s.devices.empty()) s.retired_devices.push_back(std::move(s.devices));
  s.devices = std::move(devs);
  s.settings = settings;
  const int cpus = usable_cpu_count();
  const int codec_threads = resolve_thread_count(settings.codec_threads(), cpus);
  s.engine = std::make_unique<HostCodecEngine>(codec_threads);
  if (!s.cuda_checked) {
    s.cuda_api = make_cuda_device_api(&s.cuda_why);
    s.cuda_checked = true;
  }
  s.device_api = s.test_device_api != nullptr ? s.test_device_api : s.cuda_api.get();
  SQZ_INFO(NCCL_INIT | NCCL_NET, "GPU buffers %s (%s): ptrSupport %s",
           s.device_api != nullptr ? "on" : "off",
           s.test_device_api != nullptr ? "test device API" : s.cuda_why.c_str(),
           s.device_api != nullptr ? "HOST|CUDA" : "HOST");
  // The CUDA decoder decodes every frame but those that refer to a stream history (it keeps
  // none): a process that may receive into GPU buffers does not declare one.
  s.decoder_caps = s.device_api != nullptr ? (kCapsAll & ~kCapHistory) : kCapsAll;
  SQZ_INFO(NCCL_INIT | NCCL_NET, "decoder: %s",
           s.decoder_caps == kCapsAll
               ? "version 2 frames (local and global bounds, rANS, deduplication, stream "
                 "history) and version 1"
               : "version 2 frames (local and global bounds, rANS, deduplication within a "
                 "frame) and version 1; no stream history (GPU buffers are decoded on the GPU)");
  PolicyTable rules;
  std::string rule_error;
  if (parse_policy_rules(settings.policy(), &rules, &rule_error)) {  // validated at load
    install_configured_policy(rules, settings.policy(), settings.mode(), settings.bound());
  }
  reset_traffic_path_log();

  SQZ_INFO(NCCL_INIT | NCCL_NET,
           "Squeeze %s (wire protocol %u, codec backend %s), %zu device(s), codec engine %s x%d%s",
           SQUEEZE_VERSION_STRING, wire::kProtocolVersion, cpu_backend_name(), s.devices.size(),
           s.engine->name(), codec_threads,
           codec_threads == 0 ? " (the codec runs on NCCL's proxy thread)" : "");
  for (size_t d = 0; d < s.devices.size(); ++d) {
    const NetDevice& dev = s.devices[d];
    SQZ_INFO(NCCL_INIT | NCCL_NET, "device %zu: %s %s speed %d Mb/s pci %s", d, dev.name.c_str(),
             sockaddr_to_string(dev.addr).c_str(), dev.speed_mbps,
             dev.pci_path.empty() ? "(none)" : dev.pci_path.c_str());
  }
  const int helpers = resolve_thread_count(settings.threads(), cpus);
  s.helper_threads = helpers;
  if (helpers == 0) {
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "transport: inline progress, NCCL's proxy thread moves the bytes (THREADS=%s, %d "
             "usable CPUs), %d data sockets per connection",
             settings.get(ParamId::kThreads).text.c_str(), cpus, settings.sockets());
  } else {
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "transport: %d helper threads per connection (THREADS=%s, %d usable CPUs), %d data "
             "sockets per connection",
             helpers, settings.get(ParamId::kThreads).text.c_str(), cpus, settings.sockets());
  }
  SQZ_INFO(NCCL_INIT | NCCL_ENV, "policy: %s", describe_current_policy().c_str());
  std::string desc = describe_settings(settings);
  size_t start = 0;
  while (start < desc.size()) {
    size_t nl = desc.find('\n', start);
    if (nl == std::string::npos) nl = desc.size();
    SQZ_INFO(NCCL_INIT | NCCL_ENV, "%s", desc.substr(start, nl - start).c_str());
    start = nl + 1;
  }
  return ncclSuccess;
}

void stop_process_locked() {
  ProcessState& s = state();
  if (s.engine) {
    s.engine->stop();
    s.engine.reset();
  }
}

CommOptions comm_options(const Settings& st, Context* ctx, uint64_t id) {
  CommOptions o;
  o.staging_bytes = st.staging_bytes();
  o.stall_timeout_s = st.timeout_s();
  o.policy.enable = st.enable();
  o.policy.min_bytes = st.min_bytes();
  o.policy.assume_dtype = st.assume_dtype();
  o.policy.mode = st.mode();
  o.policy.bound = st.bound();
  o.log_stats = st.stats();
  o.stats_file = st.stats_file();
  o.verify = st.verify();
  o.engine = state().engine.get();
  o.device_api = state().device_api;
  o.hints = ctx != nullptr ? &ctx->hints : nullptr;
  o.connect_kind = ctx != nullptr ? ctx->hints.connect_kind() : CommKind::kUnknown;
  o.profiler = ctx != nullptr ? ctx->profiler : nullptr;
  o.id = id;
  return o;
}

// "the receiver decodes: ..." for the connection log.
std::string caps_description(uint32_t caps, bool send) {
  std::string d = send ? "the receiver decodes " : "this side decodes ";
  if ((caps & kCapStaged) == 0) return d + "version 1 frames only";
  d += "version 2 frames";
  if (caps & kCapRans) d += ", rANS";
  if (caps & kCapDedup) d += ", deduplication";
  if (caps & kCapHistory) d += ", stream history";
  return d;
}

ncclResult_t start_comm(Comm::Dir dir, Context* ctx, std::unique_ptr<Connection> conn, void** out) {
  ProcessState& s = state();
  Settings st;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    SQZ_REQUIRE(s.engine != nullptr, ncclInternalError,
                "connection established while the plugin is not initialised");
    st = s.settings;
  }
  uint64_t id = s.next_comm_id.fetch_add(1);
  CommOptions opts;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    opts = comm_options(st, ctx, id);
    opts.caps = dir == Comm::Dir::kSend ? conn->peer_caps : s.decoder_caps;
  }
  const unsigned conn_protocol = conn->protocol;
  auto comm = std::make_unique<Comm>(dir, std::move(conn), opts);
  SQZ_CHECK(comm->start());
  SQZ_INFO(NCCL_NET, "%s connection %llu established with %s, %s traffic hint, protocol %u, %s",
           dir == Comm::Dir::kSend ? "send" : "recv", static_cast<unsigned long long>(id),
           comm->peer().c_str(), comm_kind_name(opts.connect_kind), conn_protocol,
           caps_description(opts.caps, dir == Comm::Dir::kSend).c_str());
  {
    std::lock_guard<std::mutex> lock(s.live_mu);
    s.live.push_back(comm.get());
  }
  *out = comm.release();
  return ncclSuccess;
}

Comm* as_comm(void* p, const char* what) {
  auto* c = static_cast<Comm*>(p);
  if (c == nullptr || !c->valid()) {
    SQZ_WARN("%s: invalid comm %p", what, p);
    return nullptr;
  }
  return c;
}

ncclResult_t close_comm(void* p, Comm::Dir dir, const char* what) {
  if (p == nullptr) return ncclSuccess;
  Comm* c = as_comm(p, what);
  SQZ_REQUIRE(c != nullptr && c->dir() == dir, ncclInternalError, "%s: wrong comm kind", what);
  {
    ProcessState& s = state();
    std::lock_guard<std::mutex> lock(s.live_mu);
    for (size_t k = 0; k < s.live.size(); ++k) {
      if (s.live[k] == c) {
        s.live.erase(s.live.begin() + static_cast<long>(k));
        break;
      }
    }
  }
  c->close();
  delete c;
  return ncclSuccess;
}

}  // namespace

namespace core {

ncclResult_t init(Context** ctx, uint64_t comm_id, const ncclNetCommConfig_v11_t* config,
                  ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  SQZ_REQUIRE(ctx != nullptr, ncclInvalidArgument, "init: NULL context pointer");
  *ctx = nullptr;
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  set_logger(logger);
  if (s.refcount == 0) SQZ_CHECK(start_process_locked());
  auto* c = new Context();
  c->comm_id = comm_id;
  c->traffic_class = config != nullptr ? config->trafficClass : NCCL_NET_TRAFFIC_CLASS_UNDEF;
  c->profiler = profiler;
  ++s.refcount;
  *ctx = c;
  return ncclSuccess;
}

ncclResult_t init_legacy(ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  set_logger(logger);
  if (s.legacy) return ncclSuccess;
  if (s.refcount == 0) SQZ_CHECK(start_process_locked());
  s.legacy_ctx.profiler = profiler;
  s.legacy = true;
  ++s.refcount;  // never released: v8-v10 have no finalize
  return ncclSuccess;
}

Context* legacy_context() {
  return &state().legacy_ctx;
}

ncclResult_t finalize(Context* ctx) {
  // NCCL 2.28.9 calls finalize even after a failed init: a NULL context is fine.
  if (ctx == nullptr) return ncclSuccess;
  SQZ_REQUIRE(ctx->magic == Context::kMagic && ctx != legacy_context(), ncclInternalError,
              "finalize: invalid context %p", static_cast<void*>(ctx));
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  ctx->magic = 0;
  delete ctx;
  if (--s.refcount == 0) stop_process_locked();
  return ncclSuccess;
}

ncclResult_t devices(int* ndev) {
  SQZ_REQUIRE(ndev != nullptr, ncclInvalidArgument, "devices: NULL pointer");
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *ndev = s.refcount > 0 ? static_cast<int>(s.devices.size()) : 0;
  return ncclSuccess;
}

ncclResult_t get_properties(int dev, ncclNetProperties_v11_t* props) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  SQZ_REQUIRE(props != nullptr && dev >= 0 && dev < static_cast<int>(s.devices.size()),
              ncclInvalidArgument, "getProperties: invalid device %d (%zu devices)", dev,
              s.devices.size());
  const NetDevice& d = s.devices[static_cast<size_t>(dev)];
  *props = ncclNetProperties_v11_t{};
  props->name = const_cast<char*>(d.name.c_str());
  props->pciPath = d.pci_path.empty() ? nullptr : const_cast<char*>(d.pci_path.c_str());
  props->guid = d.guid;
  props->ptrSupport = s.device_api != nullptr ? NCCL_PTR_HOST | NCCL_PTR_CUDA : NCCL_PTR_HOST;
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

ncclResult_t listen(Context* ctx, int dev, void* handle, void** listen_comm) {
  SQZ_REQUIRE(handle != nullptr && listen_comm != nullptr, ncclInvalidArgument,
              "listen: NULL argument");
  *listen_comm = nullptr;
  ProcessState& s = state();
  NetDevice d;
  Settings st;
  int helper_threads;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    SQZ_REQUIRE(dev >= 0 && dev < static_cast<int>(s.devices.size()), ncclInvalidArgument,
                "listen: invalid device %d", dev);
    d = s.devices[static_cast<size_t>(dev)];
    st = s.settings;
    helper_threads = s.helper_threads;
  }
  auto lc = std::make_unique<ListenComm>();
  lc->ctx = ctx;
  uint32_t caps;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    caps = s.decoder_caps;
  }
  SQZ_CHECK(Listener::create(d, st.sockets(), helper_threads, st.staging_bytes(),
                             st.handshake_timeout_s(), caps, static_cast<wire::Handle*>(handle),
                             &lc->listener));
  *listen_comm = lc.release();
  return ncclSuccess;
}

ncclResult_t connect(Context* ctx, int dev, void* handle, void** send_comm) {
  SQZ_REQUIRE(handle != nullptr && send_comm != nullptr, ncclInvalidArgument,
              "connect: NULL argument");
  *send_comm = nullptr;
  auto* h = static_cast<wire::Handle*>(handle);
  auto* connector = reinterpret_cast<Connector*>(static_cast<uintptr_t>(h->connector));
  if (connector == nullptr) {
    int handshake_timeout_s;
    {
      ProcessState& s = state();
      std::lock_guard<std::mutex> lock(s.mu);
      handshake_timeout_s = s.settings.handshake_timeout_s();
    }
    std::unique_ptr<Connector> created;
    SQZ_CHECK(Connector::create(*h, handshake_timeout_s, &created));
    connector = created.release();
    h->connector = reinterpret_cast<uintptr_t>(connector);
  }
  std::unique_ptr<Connection> conn;
  ncclResult_t res = connector->poll(&conn);
  if (res != ncclSuccess || conn) {
    delete connector;
    h->connector = 0;
  }
  SQZ_CHECK(res);
  if (!conn) return ncclSuccess;  // in progress: NCCL calls again with the same handle
  SQZ_CHECK(start_comm(Comm::Dir::kSend, ctx, std::move(conn), send_comm));
  return ncclSuccess;
}

ncclResult_t accept(void* listen_comm, void** recv_comm) {
  SQZ_REQUIRE(recv_comm != nullptr, ncclInvalidArgument, "accept: NULL argument");
  *recv_comm = nullptr;
  auto* lc = static_cast<ListenComm*>(listen_comm);
  SQZ_REQUIRE(lc != nullptr && lc->magic == ListenComm::kMagic, ncclInternalError,
              "accept: invalid listen comm %p", listen_comm);
  std::unique_ptr<Connection> conn;
  SQZ_CHECK(lc->listener->poll(&conn));
  if (!conn) return ncclSuccess;
  SQZ_CHECK(start_comm(Comm::Dir::kRecv, lc->ctx, std::move(conn), recv_comm));
  return ncclSuccess;
}

ncclResult_t reg_mr(void* comm, void* data, size_t size, int type, void** mhandle) {
  SQZ_REQUIRE(mhandle != nullptr, ncclInvalidArgument, "regMr: NULL mhandle pointer");
  *mhandle = nullptr;
  Comm* c = as_comm(comm, "regMr");
  if (c == nullptr) return ncclInternalError;
  SQZ_CHECK(c->reg_mr(data, size, type, mhandle));
  return ncclSuccess;
}

ncclResult_t dereg_mr(void* comm, void* mhandle) {
  Comm* c = as_comm(comm, "deregMr");
  if (c == nullptr) return ncclInternalError;
  if (mhandle == nullptr) return ncclSuccess;
  return c->dereg_mr(mhandle);
}

ncclResult_t isend(void* send_comm, void* data, size_t size, int tag, void* mhandle, void* phandle,
                   void** request) {
  SQZ_REQUIRE(request != nullptr, ncclInvalidArgument, "isend: NULL request pointer");
  *request = nullptr;
  Comm* c = as_comm(send_comm, "isend");
  SQZ_REQUIRE(c != nullptr && c->dir() == Comm::Dir::kSend, ncclInternalError,
              "isend: not a send comm");
  // One profiler callback on the profiler path (operation and datatype of the send's task),
  // nothing when our profiler is not NCCL's; outside the comm's lock (NCCL takes its own).
  SendTraffic traffic = resolve_send_traffic(c->profiler(), phandle);
  log_traffic_path_once(traffic.path, c->assume_dtype());
  SQZ_CHECK(c->isend(data, size, tag, mhandle, traffic, request));
  return ncclSuccess;
}

ncclResult_t irecv(void* recv_comm, int n, void** data, const size_t* sizes, const int* tags,
                   void** mhandles, void** phandles, void** request) {
  SQZ_REQUIRE(request != nullptr, ncclInvalidArgument, "irecv: NULL request pointer");
  // NCCL may have written NCCL_NET_OPTIONAL_RECV_COMPLETION here: always overwrite it.
  *request = nullptr;
  Comm* c = as_comm(recv_comm, "irecv");
  SQZ_REQUIRE(c != nullptr && c->dir() == Comm::Dir::kRecv, ncclInternalError,
              "irecv: not a recv comm");
  SQZ_REQUIRE(n == 1, ncclInternalError,
              "irecv: grouped receives (n=%d) are not supported (maxRecvs=1)", n);
  SQZ_REQUIRE(data != nullptr && sizes != nullptr, ncclInvalidArgument, "irecv: NULL arrays");
  (void)phandles;
  SQZ_CHECK(c->irecv(data[0], sizes[0], tags != nullptr ? tags[0] : -1,
                     mhandles != nullptr ? mhandles[0] : nullptr, request));
  return ncclSuccess;
}

ncclResult_t iflush(void* recv_comm, int n, void** data, int* sizes, void** mhandles,
                    void** request) {
  // Nothing to flush. Host buffers: the plugin's own threads wrote the data, visible once test()
  // said done. GPU buffers: the plugin itself wrote them with copies and kernels on its own
  // stream, and test() said done only after that stream's completion event, so the data is in
  // device memory before NCCL's kernel reads it; no PCIe read-back is needed, and nothing here
  // may block. A NULL request tells NCCL the flush is already complete.
  (void)recv_comm;
  (void)n;
  (void)data;
  (void)sizes;
  (void)mhandles;
  if (request != nullptr) *request = nullptr;
  return ncclSuccess;
}

ncclResult_t test(void* request, int* done, int* sizes) {
  SQZ_REQUIRE(request != nullptr && done != nullptr, ncclInvalidArgument, "test: NULL argument");
  auto* r = static_cast<Request*>(request);
  SQZ_REQUIRE(r->comm != nullptr && r->comm->valid(), ncclInternalError, "test: invalid request %p",
              request);
  SQZ_CHECK(Comm::test(r, done, sizes));
  return ncclSuccess;
}

ncclResult_t close_send(void* send_comm) {
  return close_comm(send_comm, Comm::Dir::kSend, "closeSend");
}

ncclResult_t close_recv(void* recv_comm) {
  return close_comm(recv_comm, Comm::Dir::kRecv, "closeRecv");
}

ncclResult_t close_listen(void* listen_comm) {
  if (listen_comm == nullptr) return ncclSuccess;
  auto* lc = static_cast<ListenComm*>(listen_comm);
  SQZ_REQUIRE(lc->magic == ListenComm::kMagic, ncclInternalError,
              "closeListen: invalid listen comm %p", listen_comm);
  lc->magic = 0;
  delete lc;
  return ncclSuccess;
}

ncclResult_t set_net_attr(Context* ctx, const ncclNetAttr_v11_t* attr) {
  SQZ_REQUIRE(attr != nullptr, ncclInvalidArgument, "setNetAttr: NULL attributes");
  if (ctx == nullptr) ctx = legacy_context();
  ctx->hints.set(*attr);
  return ncclSuccess;
}

void set_test_device_api(DeviceApi* api) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.test_device_api = api;
}

std::string stats_json() {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.live_mu);
  std::string out = "[";
  for (size_t k = 0; k < s.live.size(); ++k) {
    if (k) out += ",";
    out += s.live[k]->stats_json();
  }
  out += "]";
  return out;
}

}  // namespace core
}  // namespace squeeze::plugin
