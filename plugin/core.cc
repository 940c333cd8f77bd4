#include "plugin/core.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "plugin/classify/entropy.h"
#include "plugin/classify/layout.h"
#include "plugin/config.h"
#include "plugin/log.h"
#include "plugin/pipeline/codec_engine.h"
#include "plugin/pipeline/cuda_device.h"
#include "plugin/pipeline/net_comm.h"
#include "plugin/transport/transport.h"
#include "plugin/transport/wire.h"

#ifndef SQUEEZE_VERSION_STRING
#define SQUEEZE_VERSION_STRING "unknown"
#endif

namespace squeeze::plugin {
namespace {

struct ListenComm {
  static constexpr uint32_t kMagic = 0x4c435153;  // "SQCL"
  uint32_t magic = kMagic;
  Context* ctx = nullptr;
  Transport* transport = nullptr;  // the one that made listener (closes it, even once retired)
  void* listener = nullptr;        // the transport's
};

struct ProcessState {
  std::mutex mu;
  int refcount = 0;  // live v11 contexts, plus one for the v8-v10 process context
  bool legacy = false;
  Context legacy_ctx;
  Settings settings;
  int helper_threads = 0;  // THREADS resolved at init ("auto" follows the CPU count)
  std::unique_ptr<Transport> transport;
  // Transports of earlier init cycles: NCCL may still hold name/pciPath pointers into their
  // device lists, and an inner plugin stays loaded for the life of the process.
  std::vector<std::unique_ptr<Transport>> retired_transports;
  std::unique_ptr<HostCodecEngine> engine;
  std::vector<std::unique_ptr<HostCodecEngine>> retired_engines;  // stopped (stop_process_locked)
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
  std::vector<NetComm*> live;

  ~ProcessState() {
    // Library unload (v8-v10 have no finalize): never leave codec threads running unmapped code.
    if (engine) engine->stop();
  }
};

ProcessState& state() {
  static ProcessState s;
  return s;
}

// Set by the standalone TCP plugin's library at load (force_standalone_tcp): its table name.
const char* g_standalone_tcp = nullptr;

// First init of a cycle: configuration, devices, codec engine. Called with state().mu held.
ncclResult_t start_process_locked() {
  ProcessState& s = state();
  Settings settings;
  std::string error;
  if (!load_settings_from_environment(&settings, &error)) {
    SQZ_WARN("invalid configuration: %s", error.c_str());
    return ncclInvalidUsage;
  }
  if (g_standalone_tcp != nullptr) {
    auto force = [&](ParamId id, const char* text, int64_t i) {
      ParamValue& v = settings.values[static_cast<size_t>(id)];
      v.text = text;
      v.i = i;
      v.source = ValueSource::kForced;
    };
    force(ParamId::kEnable, "0", 0);
    force(ParamId::kTransport, "tcp", 0);
    // Its statistics would mix with those of a Squeeze in front of it (same variables).
    force(ParamId::kStats, "0", 0);
    force(ParamId::kStatsFile, "", 0);
    SQZ_INFO(NCCL_INIT | NCCL_NET,
             "%s: the standalone TCP plugin (compression and statistics off, TCP transport)",
             g_standalone_tcp);
  }
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
  // none): a process that may receive into GPU buffers does not declare kCapHistory. It does
  // decode lossless planes frames and table quantizers.
  s.decoder_caps = s.device_api != nullptr ? (kCapsAll & ~kCapsCpuOnly) : kCapsAll;
  SQZ_INFO(NCCL_INIT | NCCL_NET, "decoder: %s",
           s.decoder_caps == kCapsAll
               ? "version 2 frames (local and global bounds, rANS, deduplication, stream "
                 "history, lossless planes, table quantizer, row records) and version 1"
               : "version 2 frames (local and global bounds, rANS, deduplication within a "
                 "frame, lossless planes, table quantizer, row records) and version 1; no stream "
                 "history (GPU buffers are decoded on the GPU)");
  if (settings.enable() && settings.entropy() == Settings::Entropy::kAuto) {
    // Measured here, once, rather than at the first connection (a few milliseconds of codec).
    const EntropyCost& cost = entropy_cost();
    if (cost.measured) {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "entropy stage (ENTROPY=auto): rANS costs %.2f ns a value here (encode plus "
               "decode); a connection uses it where it saves that time's worth of its link's bits",
               cost.ns_per_value);
    } else {
      SQZ_INFO(NCCL_INIT | NCCL_NET,
               "entropy stage (ENTROPY=auto): not measured (the calibration frame did not take "
               "rANS); rANS whenever smaller");
    }
  }
  const int helpers = resolve_thread_count(settings.threads(), cpus);
  s.helper_threads = helpers;
  std::string transport_error;
  std::unique_ptr<Transport> transport =
      settings.inner_transport()
          ? make_inner_transport(settings, logger(), s.device_api != nullptr, &transport_error)
          : make_tcp_transport(settings, helpers, s.decoder_caps, s.device_api != nullptr,
                               &transport_error);
  if (!transport) {
    SQZ_WARN("%s", transport_error.c_str());
    s.engine->stop();
    s.engine.reset();
    return settings.inner_transport() ? ncclInvalidUsage : ncclSystemError;
  }
  if (s.transport) s.retired_transports.push_back(std::move(s.transport));
  s.transport = std::move(transport);
  PolicyTable rules;
  std::string rule_error;
  if (parse_policy_rules(settings.policy(), &rules, &rule_error)) {  // validated at load
    install_configured_policy(rules, settings.policy(), settings.mode(), settings.bound());
  }
  {
    std::shared_ptr<LayoutSpec> spec;
    std::string layout_error;
    if (!settings.layout().empty()) {
      spec = std::make_shared<LayoutSpec>();
      if (!parse_layout(settings.layout(), spec.get(), &layout_error)) spec.reset();  // validated
    }
    ScheduleSettings sc;
    sc.kind = settings.schedule();
    sc.iters = settings.schedule_iters();
    sc.start = settings.schedule_start();
    sc.bytes_per_iteration = settings.schedule_bytes();
    install_configured_layout(std::move(spec), settings.table_classes(), sc);
  }
  reset_traffic_path_log();

  SQZ_INFO(NCCL_INIT | NCCL_NET,
           "Squeeze %s (wire protocol %u, codec backend %s), transport %s, %d device(s), codec "
           "engine %s x%d%s",
           SQUEEZE_VERSION_STRING, wire::kProtocolVersion, cpu_backend_name(), s.transport->kind(),
           s.transport->device_count(), s.engine->name(), codec_threads,
           codec_threads == 0 ? " (the codec runs on NCCL's proxy thread)" : "");
  s.transport->log_init();
  SQZ_INFO(NCCL_INIT | NCCL_ENV, "policy: %s", describe_current_policy().c_str());
  SQZ_INFO(NCCL_INIT | NCCL_ENV, "layout: %s", describe_current_layout().c_str());
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

// The last finalize: the transport and the codec engine stop, and are retired rather than
// destroyed. Calls that need an initialised plugin then fail (getProperties, listen, connect,
// accept: "not initialised"), and a connection NCCL left open still points at live objects (a
// stopped engine runs its tasks inline).
void stop_process_locked() {
  ProcessState& s = state();
  if (s.transport) {
    s.transport->stop();
    s.retired_transports.push_back(std::move(s.transport));
  }
  if (s.engine) {
    s.engine->stop();
    s.retired_engines.push_back(std::move(s.engine));
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
  o.lossy_gate = st.lossy_gate();
  o.engine = state().engine.get();
  o.codec_threads = state().engine ? state().engine->workers() : 0;
  o.device_api = state().device_api;
  o.hints = ctx != nullptr ? &ctx->hints : nullptr;
  o.connect_kind = ctx != nullptr ? ctx->hints.connect_kind() : CommKind::kUnknown;
  o.profiler = ctx != nullptr ? ctx->profiler : nullptr;
  o.id = id;
  return o;
}

// Starts an established connection and hands it to NCCL.
ncclResult_t start_comm(std::unique_ptr<NetComm> comm, void** out) {
  SQZ_CHECK(comm->start());
  ProcessState& s = state();
  {
    std::lock_guard<std::mutex> lock(s.live_mu);
    s.live.push_back(comm.get());
  }
  *out = comm.release();
  return ncclSuccess;
}

// The options of a connection established now (ids are given out only to connections).
CommOptionsFactory options_factory(Context* ctx) {
  return [ctx] {
    ProcessState& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    return comm_options(s.settings, ctx, s.next_comm_id.fetch_add(1));
  };
}

NetComm* as_comm(void* p, const char* what) {
  auto* c = static_cast<NetComm*>(p);
  if (c == nullptr || !c->valid()) {
    SQZ_WARN("%s: invalid comm %p", what, p);
    return nullptr;
  }
  return c;
}

ncclResult_t close_comm(void* p, NetComm::Dir dir, const char* what) {
  if (p == nullptr) return ncclSuccess;
  NetComm* c = as_comm(p, what);
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

// The transport of the current init cycle (NULL outside one). Connections keep a raw pointer to
// what they need; transports are retired, never destroyed, while the process lives.
Transport* current_transport() {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.transport.get();
}

}  // namespace

std::string caps_description(uint32_t caps, bool send) {
  std::string d = send ? "the receiver decodes " : "this side decodes ";
  if ((caps & kCapStaged) == 0) return d + "version 1 frames only";
  d += "version 2 frames";
  if (caps & kCapRans) d += ", rANS";
  if (caps & kCapDedup) d += ", deduplication";
  if (caps & kCapHistory) d += ", stream history";
  if (caps & kCapPlanes) d += ", lossless planes";
  if (caps & kCapTable) d += ", table quantizer";
  if (caps & kCapRowRecords) d += ", row records";
  if (caps & kCapDedupStep) d += ", dedup steps";
  if (caps & kCapRansLongSegments) d += ", long rANS segments";
  if (caps & kCapDedupGolomb) d += ", Exp-Golomb dedup records";
  if (caps & kCapPackedRecords) d += ", packed local records";
  return d;
}

namespace core {

ncclResult_t init(Context** ctx, uint64_t comm_id, const ncclNetCommConfig_v11_t* config,
                  ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  SQZ_REQUIRE(ctx != nullptr, ncclInvalidArgument, "init: NULL context pointer");
  *ctx = nullptr;
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  set_logger(logger);
  if (s.refcount == 0) SQZ_CHECK(start_process_locked());
  auto c = std::make_unique<Context>();
  c->comm_id = comm_id;
  c->traffic_class = config != nullptr ? config->trafficClass : NCCL_NET_TRAFFIC_CLASS_UNDEF;
  c->profiler = profiler;
  ncclResult_t res = s.transport->open_context(c.get(), comm_id, config);
  if (res != ncclSuccess) {
    if (s.refcount == 0) stop_process_locked();
    return res;
  }
  ++s.refcount;
  *ctx = c.release();
  return ncclSuccess;
}

ncclResult_t init_legacy(ncclDebugLogger_t logger, ncclProfilerCallback_t profiler) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  set_logger(logger);
  if (s.legacy) return ncclSuccess;
  if (s.refcount == 0) SQZ_CHECK(start_process_locked());
  ncclResult_t res = s.transport->open_context(&s.legacy_ctx, 0, nullptr);
  if (res != ncclSuccess) {
    if (s.refcount == 0) stop_process_locked();
    return res;
  }
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
  if (s.transport) s.transport->close_context(ctx);
  ctx->magic = 0;
  delete ctx;
  if (--s.refcount == 0) stop_process_locked();
  return ncclSuccess;
}

ncclResult_t devices(int* ndev) {
  SQZ_REQUIRE(ndev != nullptr, ncclInvalidArgument, "devices: NULL pointer");
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *ndev = s.refcount > 0 && s.transport ? s.transport->device_count() : 0;
  return ncclSuccess;
}

ncclResult_t get_properties(int dev, ncclNetProperties_v11_t* props) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  SQZ_REQUIRE(props != nullptr && s.transport != nullptr, ncclInvalidArgument,
              "getProperties: device %d asked before init or after the last finalize", dev);
  return s.transport->properties(dev, props);
}

ncclResult_t listen(Context* ctx, int dev, void* handle, void** listen_comm) {
  SQZ_REQUIRE(handle != nullptr && listen_comm != nullptr, ncclInvalidArgument,
              "listen: NULL argument");
  *listen_comm = nullptr;
  Transport* t = current_transport();
  SQZ_REQUIRE(t != nullptr, ncclInternalError, "listen: the plugin is not initialised");
  if (ctx == nullptr) ctx = legacy_context();
  auto lc = std::make_unique<ListenComm>();
  lc->ctx = ctx;
  lc->transport = t;
  SQZ_CHECK(t->listen(ctx, dev, handle, &lc->listener));
  *listen_comm = lc.release();
  return ncclSuccess;
}

ncclResult_t connect(Context* ctx, int dev, void* handle, void** send_comm) {
  SQZ_REQUIRE(handle != nullptr && send_comm != nullptr, ncclInvalidArgument,
              "connect: NULL argument");
  *send_comm = nullptr;
  Transport* t = current_transport();
  SQZ_REQUIRE(t != nullptr, ncclInternalError, "connect: the plugin is not initialised");
  if (ctx == nullptr) ctx = legacy_context();
  std::unique_ptr<NetComm> comm;
  SQZ_CHECK(t->connect(ctx, dev, handle, options_factory(ctx), &comm));
  if (!comm) return ncclSuccess;  // in progress: NCCL calls again with the same handle
  SQZ_CHECK(start_comm(std::move(comm), send_comm));
  return ncclSuccess;
}

ncclResult_t accept(void* listen_comm, void** recv_comm) {
  SQZ_REQUIRE(recv_comm != nullptr, ncclInvalidArgument, "accept: NULL argument");
  *recv_comm = nullptr;
  auto* lc = static_cast<ListenComm*>(listen_comm);
  SQZ_REQUIRE(lc != nullptr && lc->magic == ListenComm::kMagic, ncclInternalError,
              "accept: invalid listen comm %p", listen_comm);
  Transport* t = current_transport();
  SQZ_REQUIRE(t != nullptr, ncclInternalError, "accept: the plugin is not initialised");
  std::unique_ptr<NetComm> comm;
  SQZ_CHECK(t->accept(lc->listener, options_factory(lc->ctx), &comm));
  if (!comm) return ncclSuccess;
  SQZ_CHECK(start_comm(std::move(comm), recv_comm));
  return ncclSuccess;
}

ncclResult_t reg_mr(void* comm, void* data, size_t size, int type, void** mhandle) {
  SQZ_REQUIRE(mhandle != nullptr, ncclInvalidArgument, "regMr: NULL mhandle pointer");
  *mhandle = nullptr;
  NetComm* c = as_comm(comm, "regMr");
  if (c == nullptr) return ncclInternalError;
  SQZ_CHECK(c->reg_mr(data, size, type, mhandle));
  return ncclSuccess;
}

ncclResult_t dereg_mr(void* comm, void* mhandle) {
  NetComm* c = as_comm(comm, "deregMr");
  if (c == nullptr) return ncclInternalError;
  if (mhandle == nullptr) return ncclSuccess;
  return c->dereg_mr(mhandle);
}

ncclResult_t isend(void* send_comm, void* data, size_t size, int tag, void* mhandle, void* phandle,
                   void** request) {
  SQZ_REQUIRE(request != nullptr, ncclInvalidArgument, "isend: NULL request pointer");
  *request = nullptr;
  NetComm* c = as_comm(send_comm, "isend");
  SQZ_REQUIRE(c != nullptr && c->dir() == NetComm::Dir::kSend, ncclInternalError,
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
  NetComm* c = as_comm(recv_comm, "irecv");
  SQZ_REQUIRE(c != nullptr && c->dir() == NetComm::Dir::kRecv, ncclInternalError,
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
  // TCP transport: nothing to flush. Host buffers: the plugin's own threads wrote the data,
  // visible once test() said done. GPU buffers: the plugin itself wrote them with copies and
  // kernels on its own stream, and test() said done only after that stream's completion event,
  // so the data is in device memory before NCCL's kernel reads it; no PCIe read-back is needed,
  // and nothing here may block. A NULL request tells NCCL the flush is already complete.
  // Inner transport: GPU buffers were written by the inner plugin's NIC (GPUDirect RDMA), so the
  // flush goes to the inner plugin.
  if (request != nullptr) *request = nullptr;
  SQZ_REQUIRE(request != nullptr, ncclInvalidArgument, "iflush: NULL request pointer");
  NetComm* c = as_comm(recv_comm, "iflush");
  SQZ_REQUIRE(c != nullptr && c->dir() == NetComm::Dir::kRecv, ncclInternalError,
              "iflush: not a recv comm");
  return c->iflush(n, data, sizes, mhandles, request);
}

ncclResult_t test(void* request, int* done, int* sizes) {
  SQZ_REQUIRE(request != nullptr && done != nullptr, ncclInvalidArgument, "test: NULL argument");
  auto* r = static_cast<RequestBase*>(request);
  SQZ_REQUIRE(r->owner != nullptr && r->owner->valid(), ncclInternalError,
              "test: invalid request %p", request);
  SQZ_CHECK(r->owner->test(r, done, sizes));
  return ncclSuccess;
}

ncclResult_t close_send(void* send_comm) {
  return close_comm(send_comm, NetComm::Dir::kSend, "closeSend");
}

ncclResult_t close_recv(void* recv_comm) {
  return close_comm(recv_comm, NetComm::Dir::kRecv, "closeRecv");
}

ncclResult_t close_listen(void* listen_comm) {
  if (listen_comm == nullptr) return ncclSuccess;
  auto* lc = static_cast<ListenComm*>(listen_comm);
  SQZ_REQUIRE(lc->magic == ListenComm::kMagic, ncclInternalError,
              "closeListen: invalid listen comm %p", listen_comm);
  ncclResult_t res = ncclSuccess;
  if (lc->listener != nullptr) res = lc->transport->close_listen(lc->listener);
  lc->magic = 0;
  delete lc;
  return res;
}

ncclResult_t set_net_attr(Context* ctx, const ncclNetAttr_v11_t* attr) {
  SQZ_REQUIRE(attr != nullptr, ncclInvalidArgument, "setNetAttr: NULL attributes");
  if (ctx == nullptr) ctx = legacy_context();
  ctx->hints.set(*attr);
  Transport* t = current_transport();
  if (t != nullptr) SQZ_CHECK(t->set_net_attr(ctx, attr));
  return ncclSuccess;
}

void set_test_device_api(DeviceApi* api) {
  ProcessState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.test_device_api = api;
}

void force_standalone_tcp(const char* name) {
  g_standalone_tcp = name;
  set_log_name(name);
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
