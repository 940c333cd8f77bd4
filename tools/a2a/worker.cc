#include "tools/a2a/worker.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "nccl_abi/net.h"
#include "nccl_abi/profiler.h"
#include "tools/a2a/ctl.h"
#include "tools/a2a/netns.h"
#include "tools/a2a/stats.h"

namespace squeeze::a2a {

size_t nccl_p2p_chunk(size_t bytes, size_t chunk) {
  if (bytes < chunk) return chunk / 4;
  if (bytes < 8 * chunk) return chunk / 2;
  return chunk;
}

size_t nccl_part_bytes(size_t bytes, int channels) {
  size_t per = (bytes + (size_t)channels - 1) / (size_t)channels;
  return (per + 4095) / 4096 * 4096;
}

namespace {

constexpr int kSteps = 8;         // NCCL_STEPS: requests in flight per connection
constexpr int kSharedSlots = 16;  // NCCL_SHARED_STEPS: pool slots per channel
constexpr uint32_t kOpAlltoAll = 1u << NCCL_FUNC_ALLTOALL;
constexpr uint32_t kOpP2pConnect = (1u << NCCL_FUNC_SEND) | (1u << NCCL_FUNC_RECV) |
                                   (1u << NCCL_FUNC_ALLTOALL) | (1u << NCCL_FUNC_SCATTER) |
                                   (1u << NCCL_FUNC_GATHER);

int g_rank = -1;
int g_log_level = NCCL_LOG_WARN;

void plugin_logger(ncclDebugLogLevel level, unsigned long flags, const char* file, int line,
                   const char* fmt, ...) {
  if ((int)level > g_log_level || level == NCCL_LOG_NONE) return;
  char buf[1024];
  int n = std::snprintf(buf, sizeof(buf), "[rank %d] %s ", g_rank,
                        level == NCCL_LOG_WARN ? "WARN" : "INFO");
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = std::min(sizeof(buf) - 2, (size_t)n + (size_t)std::max(m, 0));
  buf[len++] = '\n';
  ssize_t ignored = write(2, buf, len);
  (void)ignored;
}

// NCCL's internal struct behind the phandle of isend / irecv (nccl-net-api.md 9.1).
struct ProxyEventHandle {
  void* stepEventHandle;
  void* subArgPtr;
};

ncclProfiler_v5_t* g_prof = nullptr;
void* g_prof_ctx = nullptr;
int g_prof_mask = 0;

// Plays ncclProfilerCallback: the net plugin starts NetPlugin events under a step's handle.
ncclResult_t profiler_callback(void** event, int type, void* phandle, int64_t plugin_id,
                               void* data) {
  if (g_prof == nullptr || g_prof_ctx == nullptr || !(g_prof_mask & ncclProfileNetPlugin)) {
    if (type == ncclProfilerNetEventStart && event != nullptr) *event = nullptr;
    return ncclSuccess;
  }
  switch (type) {
    case ncclProfilerNetEventStart: {
      if (event == nullptr) return ncclInvalidArgument;
      *event = nullptr;
      if (phandle == nullptr) return ncclSuccess;
      ncclProfilerEventDescr_v5_t d{};
      d.type = ncclProfileNetPlugin;
      d.parentObj = static_cast<ProxyEventHandle*>(phandle)->stepEventHandle;
      d.rank = g_rank;
      d.netPlugin.id = plugin_id;
      d.netPlugin.data = data;
      return g_prof->startEvent(g_prof_ctx, event, &d);
    }
    case ncclProfilerNetEventStop:
      return g_prof->stopEvent(*event);
    case ncclProfilerNetEventUpdate:
    case ncclProfilerNetEventUpdateAndStop: {
      ncclProfilerEventStateArgs_v5_t a{};
      a.netPlugin.data = data;
      ncclResult_t r = g_prof->recordEventState(*event, ncclProfilerNetPluginUpdate, &a);
      if (type == ncclProfilerNetEventUpdateAndStop) g_prof->stopEvent(*event);
      return r;
    }
    default:
      return ncclSuccess;
  }
}

struct Step {
  size_t offset;  // within the peer's message
  size_t bytes;
};

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, AlignedFree>;

Buffer alloc_buffer(size_t bytes) {
  size_t n = std::max<size_t>(4096, (bytes + 4095) / 4096 * 4096);
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(4096, n));
  if (p != nullptr) std::memset(p, 0, n);
  return Buffer(p);
}

// One direction of one (peer, channel) connection, with NCCL's per-sub progress state.
struct Conn {
  bool is_send = false;
  int peer = -1;
  int channel = 0;
  void* comm = nullptr;
  void* mhandle = nullptr;
  void* user_mhandle[2] = {};  // --userbuf: the peer's message buffer of each set on this comm
  uint8_t* slots = nullptr;    // this channel's kSharedSlots slots in the peer's pool
  std::vector<Step> steps;     // current operation
  size_t posted = 0, completed = 0;
  size_t depth = kSteps;
  size_t recv_capacity = 0;
  bool staged = false;  // send: the next step's bytes are already in its slot
  void* reqs[kSteps] = {};
  ProxyEventHandle phandles[kSteps] = {};
  void* op_event = nullptr;
  bool done() const { return completed == steps.size(); }
};

Conn make_conn(bool is_send, int peer, int channel) {
  Conn c;
  c.is_send = is_send;
  c.peer = peer;
  c.channel = channel;
  return c;
}

struct MessageSet {
  int index = 0;
  ElemType dtype;
  std::vector<Buffer> send, recv, expect;  // per peer rank
};

class Rank {
 public:
  explicit Rank(const WorkerTask& t) : t_(t), o_(*t.opt), n_(o_.ranks), r_(t.rank) {}
  ~Rank() { teardown(); }
  bool run();
  const std::string& error() const { return err_; }

 private:
  bool fail(const std::string& e) {
    if (err_.empty()) err_ = e;
    return false;
  }
  bool check(ncclResult_t res, const char* what) {
    if (res == ncclSuccess) return true;
    return fail(std::string(what) + " returned ncclResult " + std::to_string((int)res));
  }
  bool sends_to(int src, int dst) const {
    if (src == dst) return false;
    return o_.pattern == Pattern::kAllToAll || (src == 0 && dst == 1);
  }
  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::milliseconds((long)(o_.timeout_s * 1000));
  }
  bool load();
  bool connect_all();
  bool register_pools();
  bool make_messages();
  bool alltoall(MessageSet& ms);
  bool iteration();
  void poison();
  // Checks every received byte; *detail (optional) names the message sets and peers that failed.
  RunResult verify(std::string* detail = nullptr);
  void verify_peer(const MessageSet& ms, int p, const Tolerance& tol, size_t chunk, size_t part,
                   VerifyStats* vs);
  bool progress(Conn& c, MessageSet& ms, bool* moved);
  void start_op_events(Conn& c, const MessageSet& ms);
  void set_hint(bool send_side, int peers, int flows);
  void teardown();
  bool register_user_buffers();

  const WorkerTask& t_;
  const Options& o_;
  const int n_, r_;
  std::string err_;
  CtlClient* ctl_ = nullptr;
  void* dl_ = nullptr;
  ncclNet_v11_t* net_ = nullptr;
  void* ctx_ = nullptr;
  bool net_init_ = false;
  GetStatsJsonFn get_stats_ = nullptr;
  bool use_user_ = false;
  unsigned idle_passes_ = 0;
  int dev_ = 0;
  ncclNetAttr_v11_t last_attr_{};
  std::vector<Conn> conns_;  // sends then receives
  std::vector<Buffer> pools_;
  size_t pool_bytes_ = 0;
  std::vector<MessageSet> sets_;  // [0]: int64 indices when mixed; last: the main payload
};

bool Rank::load() {
  // NCCL_NET_PLUGIN semantics: the name itself, then libnccl-net-<name>.so for a bare name.
  dl_ = dlopen(o_.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (dl_ == nullptr) {
    std::string first = dlerror();
    const std::string& p = o_.plugin;
    bool bare = p.find('/') == std::string::npos &&
                !(p.rfind("lib", 0) == 0 && p.size() > 3 && p.compare(p.size() - 3, 3, ".so") == 0);
    if (bare) dl_ = dlopen(("libnccl-net-" + p + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl_ == nullptr) return fail("dlopen " + p + ": " + first);
  }
  net_ = static_cast<ncclNet_v11_t*>(dlsym(dl_, "ncclNetPlugin_v11"));
  if (net_ == nullptr) return fail("the library exports no ncclNetPlugin_v11");
  get_stats_ = reinterpret_cast<GetStatsJsonFn>(dlsym(dl_, "squeeze_get_stats_json"));
  auto* prof = static_cast<ncclProfiler_v5_t*>(dlsym(dl_, "ncclProfiler_v5"));
  bool use_prof = prof != nullptr && o_.classify != Classify::kAssume;
  if (o_.classify == Classify::kProfiler && prof == nullptr)
    return fail("--classify profiler, but the library exports no ncclProfiler_v5");
  // The plugin reads its configuration at init. The operator's opt-in (ASSUME_DTYPE) tells it the
  // datatype when the profiler chain does not; with --mixed it would also make the int64 index
  // messages lossy, so there only the chain may tell (auto), as in a real TorchRec job.
  // Integer payloads have nothing to opt in to: they must pass bit-exact whatever is assumed.
  bool assume = t_.compressed && is_float(o_.payload.dtype) &&
                (o_.classify == Classify::kAssume || (o_.classify == Classify::kAuto && !o_.mixed));
  if (assume)
    setenv("NCCL_SQUEEZE_ASSUME_DTYPE", elem_name(o_.payload.dtype), 1);
  else
    unsetenv("NCCL_SQUEEZE_ASSUME_DTYPE");

  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  ctx_ = nullptr;
  ncclResult_t res = net_->init(&ctx_, t_.comm_id, &cfg, plugin_logger, profiler_callback);
  net_init_ = true;  // NCCL 2.28.9 calls finalize even when init failed
  if (!check(res, "init")) return false;
  int ndev = 0;
  if (!check(net_->devices(&ndev), "devices")) return false;
  if (ndev <= 0) return fail("devices() reported " + std::to_string(ndev) + " devices");
  for (int d = 0; d < ndev; ++d) {
    ncclNetProperties_v11_t p{};
    if (!check(net_->getProperties(d, &p), "getProperties")) return false;
    if (o_.verbose && r_ == 0)
      std::fprintf(stderr, "squeeze-a2a: dev %d: %s speed %d Mbps ptrSupport 0x%x maxRecvs %d\n", d,
                   p.name ? p.name : "?", p.speed, p.ptrSupport, p.maxRecvs);
    if (d == o_.dev && !(p.ptrSupport & NCCL_PTR_HOST))
      return fail("device does not support host pointers");
    if (d == o_.dev && p.netDeviceType != NCCL_NET_DEVICE_HOST)
      return fail("device is not a host (proxy-driven) device");
  }
  if (o_.dev >= ndev) return fail("--dev " + std::to_string(o_.dev) + " out of range");
  dev_ = o_.dev;
  if (use_prof) {
    int mask = 0;
    if (!check(prof->init(&g_prof_ctx, t_.comm_id, &mask, "squeeze-a2a", n_, n_, r_, plugin_logger),
               "profiler init"))
      return false;
    g_prof = prof;
    g_prof_mask = mask;
  }
  return true;
}

void Rank::set_hint(bool send_side, int peers, int flows) {
  ncclNetAttr_v11_t a = last_attr_;
  ncclNetCommAttr_v11_t& c = send_side ? a.sendCommAttr : a.recvCommAttr;
  c.maxConcurrentPeers = c.minConcurrentPeers = peers;
  c.maxFlowsPerPeer = c.minFlowsPerPeer = flows;
  a.op = kOpAlltoAll;  // algo and proto stay stale for p2p, as in NCCL
  if (std::memcmp(&a, &last_attr_, sizeof(a)) == 0) return;
  last_attr_ = a;
  if (net_->setNetAttr != nullptr) net_->setNetAttr(ctx_, &a);
}

bool Rank::connect_all() {
  // Receivers listen first; handles travel through the parent; then connect/accept retries.
  struct Pending {
    Conn* conn;
    void* listen = nullptr;
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  };
  for (int p = 0; p < n_; ++p)
    for (int c = 0; c < o_.channels; ++c)
      if (sends_to(r_, p)) conns_.push_back(make_conn(true, p, c));
  for (int p = 0; p < n_; ++p)
    for (int c = 0; c < o_.channels; ++c)
      if (sends_to(p, r_)) conns_.push_back(make_conn(false, p, c));
  std::vector<Pending> pend(conns_.size());
  for (size_t i = 0; i < conns_.size(); ++i) {
    pend[i].conn = &conns_[i];
    if (conns_[i].is_send) continue;
    ncclNetProperties_v11_t props{};
    if (!check(net_->getProperties(dev_, &props), "getProperties")) return false;
    if (!check(net_->listen(ctx_, dev_, pend[i].handle, &pend[i].listen), "listen")) return false;
    if (pend[i].listen == nullptr) return fail("listen succeeded with a NULL listenComm");
    if (!ctl_->send_handle(conns_[i].peer, conns_[i].channel, pend[i].handle,
                           sizeof(pend[i].handle)))
      return fail("cannot send a handle to the parent");
  }
  auto until = deadline();
  for (auto& pd : pend) {
    if (!pd.conn->is_send) continue;
    if (!ctl_->wait_handle(pd.conn->peer, pd.conn->channel, pd.handle, sizeof(pd.handle), until,
                           &err_))
      return false;
  }
  ncclNetAttr_v11_t connect_attr;
  std::memset(&connect_attr, 0xff, sizeof(connect_attr));  // NCCL_NET_ATTR_INIT: all UNDEF
  for (ncclNetCommAttr_v11_t* c : {&connect_attr.sendCommAttr, &connect_attr.recvCommAttr}) {
    c->maxConcurrentPeers = std::min(n_, o_.channels * 8);
    c->minConcurrentPeers = 1;
    c->maxFlowsPerPeer = o_.channels;
    c->minFlowsPerPeer = 1;
  }
  connect_attr.op = kOpP2pConnect;
  size_t left = conns_.size();
  while (left > 0) {
    if (Clock::now() > until) return fail("timed out in connect/accept");
    bool moved = false;
    for (auto& pd : pend) {
      Conn& c = *pd.conn;
      if (c.comm != nullptr) continue;
      if (net_->setNetAttr != nullptr) net_->setNetAttr(ctx_, &connect_attr);
      ncclNetDeviceHandle_v11_t* dev_handle = nullptr;
      if (c.is_send) {
        // The same handle bytes on every retry: connect may keep its state in them.
        if (!check(net_->connect(ctx_, dev_, pd.handle, &c.comm, &dev_handle), "connect"))
          return false;
      } else {
        if (!check(net_->accept(pd.listen, &c.comm, &dev_handle), "accept")) return false;
        if (c.comm != nullptr) {
          if (!check(net_->closeListen(pd.listen), "closeListen")) return false;
          pd.listen = nullptr;
        }
      }
      if (c.comm != nullptr) {
        if (dev_handle != nullptr) return fail("plugin asked for device offload (devHandle set)");
        --left;
        moved = true;
      }
    }
    if (!moved) sched_yield();
  }
  last_attr_ = connect_attr;  // the service thread's hint is what the progress thread sees
  return true;
}

bool Rank::register_pools() {
  // One SIMPLE pool per (peer, direction): p2pnChannels * NCCL_SHARED_STEPS * chunk bytes, host
  // memory, registered on every channel's comm; channel c owns slots [16c, 16c + 16).
  pool_bytes_ = (size_t)o_.channels * kSharedSlots * o_.chunk;
  pools_.resize((size_t)n_ * 2);
  for (auto& c : conns_) {
    Buffer& pool = pools_[(size_t)c.peer * 2 + (c.is_send ? 0 : 1)];
    if (!pool) {
      pool = alloc_buffer(pool_bytes_);
      if (!pool) return fail("out of memory for the pools");
    }
    if (!check(net_->regMr(c.comm, pool.get(), pool_bytes_, NCCL_PTR_HOST, &c.mhandle), "regMr"))
      return false;
    c.slots = pool.get() + (size_t)c.channel * kSharedSlots * o_.chunk;
  }
  return true;
}

// As NCCL's user-buffer registration: after the FIFO pool (whose registration the first transfer
// sealed), each message buffer is registered on every comm that moves it.
bool Rank::register_user_buffers() {
  for (auto& c : conns_)
    for (auto& ms : sets_) {
      uint8_t* buf = c.is_send ? ms.send[c.peer].get() : ms.recv[c.peer].get();
      if (!check(net_->regMr(c.comm, buf, std::max<size_t>(t_.size, 1), NCCL_PTR_HOST,
                             &c.user_mhandle[ms.index]),
                 "regMr (user buffer)"))
        return false;
    }
  use_user_ = true;
  return true;
}

bool Rank::make_messages() {
  std::vector<ElemType> types;
  if (o_.mixed) types.push_back(ElemType::kI64);
  types.push_back(o_.payload.dtype);
  for (ElemType t : types) {
    MessageSet ms;
    ms.index = (int)sets_.size();
    ms.dtype = t;
    PayloadSpec spec = o_.payload;
    spec.dtype = t;
    if (t != o_.payload.dtype) spec.kind = PayloadKind::kDlrm;  // index messages: integers
    if (t != o_.payload.dtype) spec.seed ^= 0x1d1d1d1dull;
    for (int p = 0; p < n_; ++p) {
      bool out = sends_to(r_, p) || (p == r_ && o_.pattern == Pattern::kAllToAll);
      bool in = sends_to(p, r_) || (p == r_ && o_.pattern == Pattern::kAllToAll);
      ms.send.push_back(out ? alloc_buffer(t_.size) : Buffer());
      ms.recv.push_back(in ? alloc_buffer(t_.size) : Buffer());
      ms.expect.push_back(in ? alloc_buffer(t_.size) : Buffer());
      if ((out && !ms.send.back()) || (in && (!ms.recv.back() || !ms.expect.back())))
        return fail("out of memory for the messages");
      if (out) generate(spec, r_, p, ms.send.back().get(), t_.size);
      if (in) generate(spec, p, r_, ms.expect.back().get(), t_.size);
    }
    sets_.push_back(std::move(ms));
  }
  return true;
}

void Rank::start_op_events(Conn& c, const MessageSet& ms) {
  c.op_event = nullptr;
  if (g_prof == nullptr) return;
  // Task event (stopped right after "upload", as NCCL does), then the proxy's op event.
  ncclProfilerEventDescr_v5_t task{};
  task.type = ncclProfileP2p;
  task.rank = r_;
  task.p2p.func = c.is_send ? "Send" : "Recv";
  task.p2p.datatype = nccl_dtype_name(ms.dtype);
  task.p2p.count = t_.size / elem_size(ms.dtype);
  task.p2p.peer = c.peer;
  task.p2p.nChannels = (uint8_t)o_.channels;
  void* task_handle = nullptr;
  g_prof->startEvent(g_prof_ctx, &task_handle, &task);
  g_prof->stopEvent(task_handle);
  ncclProfilerEventDescr_v5_t op{};
  op.type = ncclProfileProxyOp;
  op.parentObj = task_handle;
  op.rank = r_;
  op.proxyOp.pid = getpid();
  op.proxyOp.channelId = (uint8_t)c.channel;
  op.proxyOp.peer = c.peer;
  op.proxyOp.nSteps = (int)c.steps.size();
  op.proxyOp.chunkSize = (int)nccl_p2p_chunk(t_.size, o_.chunk);
  op.proxyOp.isSend = c.is_send ? 1 : 0;
  g_prof->startEvent(g_prof_ctx, &c.op_event, &op);
}

// One pass of NCCL's sendProxyProgress / recvProxyProgress for one sub.
bool Rank::progress(Conn& c, MessageSet& ms, bool* moved) {
  const size_t nsteps = c.steps.size();
  while (c.posted < nsteps && c.posted - c.completed < c.depth) {
    const Step& s = c.steps[c.posted];
    const int k = (int)(c.posted % kSteps);
    // Registered user buffers: NCCL points isend / irecv straight into them (no FIFO copy).
    uint8_t* slot = use_user_
                        ? (c.is_send ? ms.send[c.peer].get() : ms.recv[c.peer].get()) + s.offset
                        : c.slots + (c.posted % kSharedSlots) * o_.chunk;
    void* mhandle = use_user_ ? c.user_mhandle[ms.index] : c.mhandle;
    if (!c.staged) {
      if (c.is_send && !use_user_)
        std::memcpy(slot, ms.send[c.peer].get() + s.offset, s.bytes);  // the GPU's copy
      c.phandles[k] = ProxyEventHandle{nullptr, nullptr};
      if (g_prof != nullptr) {
        ncclProfilerEventDescr_v5_t d{};
        d.type = ncclProfileProxyStep;
        d.parentObj = c.op_event;
        d.rank = r_;
        d.proxyStep.step = (int)c.posted;
        g_prof->startEvent(g_prof_ctx, &c.phandles[k].stepEventHandle, &d);
      }
      c.staged = true;
    }
    void* req = nullptr;
    if (c.is_send) {
      if (!check(net_->isend(c.comm, slot, s.bytes, r_, mhandle, &c.phandles[k], &req), "isend"))
        return false;
    } else {
      void* data = slot;
      size_t size = use_user_ ? std::min(c.recv_capacity, t_.size - s.offset) : c.recv_capacity;
      int tag = c.peer;
      void* mh = mhandle;
      void* ph = &c.phandles[k];
      if (!check(net_->irecv(c.comm, 1, &data, &size, &tag, &mh, &ph, &req), "irecv")) return false;
    }
    if (req == nullptr) break;  // back-pressure: NCCL retries the same step later
    c.reqs[k] = req;
    c.staged = false;
    ++c.posted;
    *moved = true;
  }
  while (c.completed < c.posted) {
    const int k = (int)(c.completed % kSteps);
    int done = 0;
    int sizes[NCCL_PROXY_MAX_SUBS] = {};
    if (!check(net_->test(c.reqs[k], &done, sizes), "test")) return false;
    if (!done) break;
    const Step& s = c.steps[c.completed];
    if (!c.is_send) {
      if (sizes[0] < 0 || (size_t)sizes[0] != s.bytes)
        return fail("test() on a receive from rank " + std::to_string(c.peer) + " channel " +
                    std::to_string(c.channel) + " reported " + std::to_string(sizes[0]) +
                    " bytes, expected " + std::to_string(s.bytes));
      if (!use_user_) {
        const uint8_t* slot = c.slots + (c.completed % kSharedSlots) * o_.chunk;
        std::memcpy(ms.recv[c.peer].get() + s.offset, slot, s.bytes);  // the GPU consumes it
      }
      if (net_->irecvConsumed != nullptr &&
          !check(net_->irecvConsumed(c.comm, 1, c.reqs[k]), "irecvConsumed"))
        return false;
    }
    if (g_prof != nullptr && c.phandles[k].stepEventHandle != nullptr)
      g_prof->stopEvent(c.phandles[k].stepEventHandle);
    c.reqs[k] = nullptr;
    ++c.completed;
    *moved = true;
  }
  return true;
}

bool Rank::alltoall(MessageSet& ms) {
  const size_t bytes = t_.size;
  const size_t chunk = nccl_p2p_chunk(bytes, o_.chunk);
  const size_t part = nccl_part_bytes(bytes, o_.channels);
  int used_channels = 0;
  for (int c = 0; c < o_.channels; ++c)
    if ((size_t)c * part < bytes || (bytes == 0 && c == 0)) ++used_channels;
  for (auto& c : conns_) {
    c.steps.clear();
    c.posted = c.completed = 0;
    c.staged = false;
    size_t begin = std::min(bytes, (size_t)c.channel * part);
    size_t end = std::min(bytes, begin + part);
    if (bytes == 0 && c.channel == 0) c.steps.push_back(Step{0, 0});  // one empty step
    for (size_t off = begin; off < end; off += chunk)
      c.steps.push_back(Step{off, std::min(chunk, end - off)});
    c.depth = std::min<size_t>(kSteps, kSharedSlots / (size_t)used_channels);
    c.recv_capacity = std::min(o_.chunk, std::max<size_t>(end - begin, 0));
    if (!c.steps.empty()) start_op_events(c, ms);
  }
  if (o_.pattern == Pattern::kAllToAll)
    std::memcpy(ms.recv[r_].get(), ms.send[r_].get(), bytes);  // to self: a local copy
  const int peers = o_.pattern == Pattern::kAllToAll ? n_ - 1 : 1;
  bool any_send = false, any_recv = false;
  for (auto& c : conns_) (c.is_send ? any_send : any_recv) |= !c.steps.empty();
  if (any_send) set_hint(true, peers, used_channels);
  if (any_recv) set_hint(false, peers, used_channels);
  auto until = deadline();
  size_t pass = 0;
  for (;;) {
    bool moved = false, all = true;
    for (auto& c : conns_) {
      if (c.done()) continue;
      if (!progress(c, ms, &moved)) return false;
      all = all && c.done();
    }
    if (all) break;
    if (moved) idle_passes_ = 0;
    if (!moved) {
      // The proxy yields when idle. With few cores, an optional short sleep leaves them to the
      // plugin's helper threads (--idle-sleep-us; 0 = spin like NCCL).
      if (o_.idle_sleep_us > 0 && ++idle_passes_ > 16)
        usleep((useconds_t)o_.idle_sleep_us);
      else
        sched_yield();
      if ((++pass & 1023) == 0 && Clock::now() > until) {
        for (auto& c : conns_)
          if (!c.done())
            return fail(std::string("timed out in the all-to-all: ") +
                        (c.is_send ? "send to" : "receive from") + " rank " +
                        std::to_string(c.peer) + " channel " + std::to_string(c.channel) +
                        " stuck at step " + std::to_string(c.completed) + " of " +
                        std::to_string(c.steps.size()) + " (" + std::to_string(c.posted) +
                        " posted)");
      }
    }
  }
  for (auto& c : conns_)
    if (c.op_event != nullptr) {
      g_prof->stopEvent(c.op_event);
      c.op_event = nullptr;
    }
  return true;
}

bool Rank::iteration() {
  for (auto& ms : sets_)
    if (!alltoall(ms)) return false;
  return true;
}

void Rank::poison() {
  // All ones: NaN for every float type and -1 for integers, which the generators never produce.
  for (auto& ms : sets_)
    for (auto& b : ms.recv)
      if (b) std::memset(b.get(), 0xff, t_.size);
}

RunResult Rank::verify(std::string* detail) {
  RunResult rr;
  VerifyStats vs;
  const size_t chunk = nccl_p2p_chunk(t_.size, o_.chunk);
  const size_t part = nccl_part_bytes(t_.size, o_.channels);
  for (auto& ms : sets_) {
    Tolerance tol;
    tol.lossy = t_.compressed && is_float(ms.dtype);
    tol.rel = o_.rel;
    tol.local = o_.local;
    tol.bound = o_.bound;
    tol.layout = o_.layout.get();
    for (int p = 0; p < n_; ++p) {
      if (!ms.recv[p]) continue;
      const uint64_t bad_before = vs.bad_elements;
      verify_peer(ms, p, tol, chunk, part, &vs);
      if (detail != nullptr && vs.bad_elements > bad_before)
        *detail += std::string(detail->empty() ? "" : "; ") + elem_name(ms.dtype) +
                   " message from rank " + std::to_string(p) + ": " +
                   std::to_string(vs.bad_elements - bad_before) + " bad";
    }
  }
  rr.checked_bytes = vs.checked_bytes;
  rr.bad_elements = vs.bad_elements;
  rr.first_bad_offset = vs.first_bad_offset;
  rr.max_abs_err = vs.max_abs_err;
  rr.max_err_over_bound = vs.max_err_over_bound;
  return rr;
}

void Rank::verify_peer(const MessageSet& ms, int p, const Tolerance& tol, size_t chunk, size_t part,
                       VerifyStats* vs) {
  const uint8_t* e = ms.expect[p].get();
  const uint8_t* g = ms.recv[p].get();
  if (p == r_) {
    verify_frame(e, g, t_.size, ms.dtype, Tolerance{}, 0, vs);  // the local copy: exact
    return;
  }
  // Each isend is one frame: the rel bound follows each frame's own value range.
  for (size_t begin = 0; begin < t_.size; begin += part) {
    size_t end = std::min(t_.size, begin + part);
    for (size_t off = begin; off < end; off += chunk)
      verify_frame(e + off, g + off, std::min(chunk, end - off), ms.dtype, tol, off, vs);
  }
}

bool Rank::run() {
  CtlClient ctl(t_.ctl_fd, r_);
  ctl_ = &ctl;
  if (!load() || !connect_all() || !register_pools() || !make_messages()) return false;
  uint64_t net_bytes = 0;
  for (int p = 0; p < n_; ++p)
    if (sends_to(r_, p)) net_bytes += t_.size * sets_.size();
  int barrier = 0;
  // Warm-up, verified.
  poison();
  for (int w = 0; w < std::max(1, o_.warmup); ++w) {
    if (!iteration()) return false;
    if (w == 0 && o_.userbuf && !register_user_buffers()) return false;
  }
  std::string detail;
  RunResult warm = verify(&detail);
  if (warm.bad_elements)
    return fail("verification failed after warm-up: " + std::to_string(warm.bad_elements) +
                " bad elements (" + detail + "), first at byte " +
                std::to_string(warm.first_bad_offset));
  for (int run = 0; run < o_.runs; ++run) {
    poison();
    if (!ctl.barrier(barrier++, deadline(), &err_)) return false;
    long long tx0 = t_.netns.empty() ? -1 : read_if_counter(t_.ifname, "tx_bytes");
    PluginStats ps0, ps1;
    bool have_ps = query_plugin_stats(get_stats_, &ps0);
    double us = 0;
    RunResult rr;
    VerifyStats all;
    auto t0 = Clock::now();
    for (int it = 0; it < o_.iters; ++it) {
      if (o_.check_all) {
        poison();
        t0 = Clock::now();
      }
      if (!iteration()) return false;
      if (o_.check_all) {
        us += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        RunResult v = verify();
        if (v.bad_elements && !rr.bad_elements) rr = v;
        rr.checked_bytes += v.checked_bytes;
        rr.max_abs_err = std::max(rr.max_abs_err, v.max_abs_err);
        rr.max_err_over_bound = std::max(rr.max_err_over_bound, v.max_err_over_bound);
      }
    }
    if (!o_.check_all) {
      us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      // Every rank stops its clock before any verifies: on a host with fewer cores than ranks, a
      // rank that finished first would otherwise check its buffers on the cores the others'
      // last iteration still runs on.
      if (!ctl.barrier(barrier++, deadline(), &err_)) return false;
      rr = verify();
    }
    long long tx1 = tx0 < 0 ? -1 : read_if_counter(t_.ifname, "tx_bytes");
    if (have_ps && query_plugin_stats(get_stats_, &ps1)) {
      rr.plugin_in = (int64_t)(ps1.bytes_in - ps0.bytes_in);
      rr.plugin_wire = (int64_t)(ps1.bytes_wire - ps0.bytes_wire);
      rr.plugin_messages = (int64_t)(ps1.messages - ps0.messages);
      rr.plugin_lossy = (int64_t)(ps1.lossy - ps0.lossy);
    }
    rr.run = (uint32_t)run;
    rr.time_us = us;
    rr.net_bytes = net_bytes;
    rr.if_tx_bytes = (tx0 >= 0 && tx1 >= tx0) ? tx1 - tx0 : -1;
    if (!ctl.send_blob(MsgType::kResult, &rr, sizeof(rr))) return fail("cannot report a result");
  }
  if (!ctl.barrier(barrier++, deadline(), &err_)) return false;  // nobody closes while others run
  FinalResult fr;
  fr.profiler_used = g_prof != nullptr ? 1 : 0;
  teardown();
  PluginStats ps;
  if (read_plugin_stats(t_.stats_file, &ps)) {
    fr.stats_source = 2;
    fr.plugin_bytes_in = ps.bytes_in;
    fr.plugin_bytes_wire = ps.bytes_wire;
    fr.plugin_max_err = ps.max_err;
    fr.plugin_messages = ps.messages;
    fr.plugin_lossy = ps.lossy;
  }
  if (!ctl.send_blob(MsgType::kResult, &fr, sizeof(fr))) return fail("cannot report a result");
  return true;
}

void Rank::teardown() {
  if (net_ != nullptr) {
    for (auto& c : conns_) {
      if (c.comm == nullptr) continue;
      for (void*& umh : c.user_mhandle)
        if (umh != nullptr) net_->deregMr(c.comm, umh), umh = nullptr;
      if (c.mhandle != nullptr) net_->deregMr(c.comm, c.mhandle);
      c.mhandle = nullptr;
      if (c.is_send)
        net_->closeSend(c.comm);
      else
        net_->closeRecv(c.comm);
      c.comm = nullptr;
    }
    if (g_prof != nullptr) {
      g_prof->finalize(g_prof_ctx);
      g_prof = nullptr;
      g_prof_ctx = nullptr;
    }
    if (net_init_) net_->finalize(ctx_);
    net_init_ = false;
    net_ = nullptr;
  }
  conns_.clear();
  pools_.clear();
  if (dl_ != nullptr) dlclose(dl_);
  dl_ = nullptr;
}

}  // namespace

int run_worker(const WorkerTask& task) {
  g_rank = task.rank;
  const char* dbg = std::getenv("NCCL_DEBUG");
  g_log_level =
      task.opt->verbose || (dbg && strcasecmp(dbg, "INFO") == 0) ? NCCL_LOG_INFO : NCCL_LOG_WARN;
  std::string err;
  if (!task.netns.empty() && !netns_enter(task.netns, &err)) {
    CtlClient(task.ctl_fd, task.rank).send_blob(MsgType::kError, err.data(), err.size());
    return 1;
  }
  auto rank = std::make_unique<Rank>(task);
  bool ok = rank->run();
  if (!ok) {
    err = rank->error();
    // Tell the parent first: it stops the other ranks instead of waiting for a timeout.
    CtlClient(task.ctl_fd, task.rank)
        .send_blob(MsgType::kError, err.data(), std::min(err.size(), kMaxCtlPayload));
    return 1;
  }
  rank.reset();
  CtlClient(task.ctl_fd, task.rank).send_blob(MsgType::kDone, nullptr, 0);
  return 0;
}

}  // namespace squeeze::a2a
