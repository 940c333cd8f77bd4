// StrictNet: a reference NCCL net plugin for tests. It moves bytes in-process (a sender and a
// receiver of the same process, as the plugin tests drive them) and checks the net ABI contract
// on every call, failing loudly: a violation is printed to stderr ("STRICT-NET VIOLATION: ..."),
// logged at WARN through NCCL's logger, counted (strict_net_violations()) and answered with
// ncclInternalError. What it checks:
//   - init before use; v11 contexts are the ones init returned, finalized once;
//   - handles come from its own listen; comms are of the right kind and not closed;
//   - memory is registered (HOST only, the only type it advertises) on the same comm before use,
//     every transfer lies inside its registration, and no registration is released while a
//     request uses it or left behind at close;
//   - irecv: 1 <= n <= maxRecvs;
//   - matching in posting order: equal tags, the receive at least as large as the send;
//   - request lifetimes: test only on requests in flight, never again after it reported done;
//   - at most NCCL_NET_MAX_REQUESTS (32) requests in flight per comm (the 33rd gets no request).
// STRICT_NET_BUSY=N makes every Nth isend/irecv answer "no request now" (back-pressure);
// STRICT_NET_FAIL_ISEND=1 makes isend fail with ncclSystemError (a network error, no violation);
// STRICT_NET_FAIL_INIT=1 makes init fail with ncclSystemError.
// strict_net_bytes() counts the bytes of every matched send (what crossed the "wire").
// Build variants export the v11, v10, v9 and v8 tables (STRICT_NET_V11 ... STRICT_NET_V8).
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nccl_abi/net.h"

namespace {

constexpr uint64_t kHandleMagic = 0x5354524943544e45ull;  // "STRICTNE"
constexpr int kMaxInFlight = NCCL_NET_MAX_REQUESTS;
constexpr int kMaxRecvs = 1;

std::mutex g_mu;  // one lock for everything: simple and strict
ncclDebugLogger_t g_logger = nullptr;
int g_violations = 0;
int g_inits = 0;
uint64_t g_posts = 0;
uint64_t g_bytes = 0;            // bytes of matched sends
uint64_t g_max_recvs_ahead = 0;  // most receives a link held unmatched at once

struct Ctx {
  uint64_t magic = 0x4354585354524943ull;
  bool finalized = false;
};

struct Comm;
struct Region {
  Comm* comm;
  char* data;
  size_t size;
  int users = 0;  // requests in flight that use it
};

struct Request {
  Comm* comm = nullptr;
  enum State { kFree, kInFlight, kDone } state = kFree;
  bool send = false;
  char* data = nullptr;
  size_t size = 0;
  int tag = 0;
  Region* region = nullptr;
  size_t got = 0;
  bool failed = false;
};

struct Link;
struct Comm {
  bool send = false;
  bool closed = false;
  Link* link = nullptr;
  std::vector<Region*> regions;
  Request reqs[kMaxInFlight];
  int in_flight = 0;
};

struct Link {
  std::deque<Request*> sends;
  std::deque<Request*> recvs;
  Comm* sender = nullptr;
  Comm* receiver = nullptr;
};

struct Listen {
  uint64_t id = 0;
  bool closed = false;
  std::deque<Link*> pending;  // connected, not yet accepted
};

struct Handle {
  uint64_t magic;
  uint64_t id;
  uint64_t connected;  // connect state in the handle (NCCL passes the same bytes on retries)
};
static_assert(sizeof(Handle) <= NCCL_NET_HANDLE_MAXSIZE, "");

// Everything StrictNet hands out stays allocated for the life of the process (a use after close
// or finalize is then a reported violation, never a crash), reachable from these registries,
// which are never destroyed (so that LeakSanitizer does not report them at exit).
std::map<uint64_t, Listen*>& listens() {
  static auto* m = new std::map<uint64_t, Listen*>();
  return *m;
}
template <class T>
T* kept(T* p) {
  static auto* all = new std::vector<void*>();
  all->push_back(p);
  return p;
}
uint64_t g_next_listen = 1;

ncclResult_t violation(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
ncclResult_t violation(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  ++g_violations;
  std::fprintf(stderr, "STRICT-NET VIOLATION: %s\n", buf);
  if (g_logger != nullptr) {
    g_logger(NCCL_LOG_WARN, NCCL_NET, __FILE__, __LINE__, "NET/StrictNet : VIOLATION: %s", buf);
  }
  return ncclInternalError;
}

bool busy_now() {
  static const long every = [] {
    const char* e = std::getenv("STRICT_NET_BUSY");
    return e != nullptr ? std::atol(e) : 0L;
  }();
  return every > 0 && (++g_posts % static_cast<uint64_t>(every)) == 0;
}

ncclResult_t check_comm(void* p, bool send, const char* call, Comm** out) {
  if (g_inits == 0) return violation("%s before init", call);
  auto* c = static_cast<Comm*>(p);
  if (c == nullptr) return violation("%s on a NULL comm", call);
  if (c->closed) return violation("%s on a closed comm %p", call, p);
  if (c->send != send) {
    return violation("%s on a %s comm", call, c->send ? "send" : "receive");
  }
  *out = c;
  return ncclSuccess;
}

ncclResult_t check_region(Comm* c, void* mhandle, const void* data, size_t size, const char* call,
                          Region** out) {
  auto* r = static_cast<Region*>(mhandle);
  bool known = false;
  for (Region* x : c->regions) known = known || x == r;
  if (!known) {
    return violation(
        "%s: memory handle %p is not registered on this comm (registration before "
        "use)",
        call, mhandle);
  }
  const char* d = static_cast<const char*>(data);
  if (size > 0 && (d < r->data || d + size > r->data + r->size)) {
    return violation("%s: [%p, +%zu) lies outside its registration [%p, +%zu)", call, data, size,
                     static_cast<void*>(r->data), r->size);
  }
  *out = r;
  return ncclSuccess;
}

Request* take_request(Comm* c) {
  if (c->in_flight >= kMaxInFlight) return nullptr;
  for (Request& r : c->reqs) {
    if (r.state == Request::kFree) {
      ++c->in_flight;
      r = Request{};
      r.comm = c;
      r.state = Request::kInFlight;
      return &r;
    }
  }
  return nullptr;
}

// Matches sends and receives in posting order.
void match(Link* l) {
  while (!l->sends.empty() && !l->recvs.empty()) {
    Request* s = l->sends.front();
    Request* r = l->recvs.front();
    l->sends.pop_front();
    l->recvs.pop_front();
    if (s->tag != r->tag) {
      violation("tag mismatch: send tag %d matched with receive tag %d (posting order)", s->tag,
                r->tag);
      s->failed = r->failed = true;
    } else if (s->size > r->size) {
      violation("message truncated: %zu bytes sent, receive posted for %zu", s->size, r->size);
      s->failed = r->failed = true;
    } else if (s->size > 0) {
      std::memcpy(r->data, s->data, s->size);
      g_bytes += s->size;
    }
    s->got = s->size;
    r->got = s->size;
    s->state = Request::kDone;
    r->state = Request::kDone;
  }
}

// ---- The table functions (v11 signatures) ----------------------------------------------------

ncclResult_t s_init(void** ctx, uint64_t, ncclNetCommConfig_v11_t*, ncclDebugLogger_t logger,
                    ncclProfilerCallback_t) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (logger != nullptr) g_logger = logger;
  if (const char* f = std::getenv("STRICT_NET_FAIL_INIT"); f != nullptr && std::atoi(f) != 0) {
    if (ctx != nullptr) *ctx = nullptr;
    return ncclSystemError;
  }
  ++g_inits;
  if (ctx != nullptr) *ctx = kept(new Ctx());
  return ncclSuccess;
}

ncclResult_t check_ctx(void* ctx, const char* call) {
  auto* c = static_cast<Ctx*>(ctx);
  if (c == nullptr || c->magic != Ctx{}.magic)
    return violation("%s: invalid context %p", call, ctx);
  if (c->finalized) return violation("%s: context %p used after finalize", call, ctx);
  return ncclSuccess;
}

[[maybe_unused]] ncclResult_t s_finalize(void* ctx) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (check_ctx(ctx, "finalize") != ncclSuccess) return ncclInternalError;
  static_cast<Ctx*>(ctx)->finalized = true;
  return ncclSuccess;
}

ncclResult_t s_devices(int* ndev) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_inits == 0) return violation("devices before init");
  const char* e = std::getenv("STRICT_NET_NDEV");
  *ndev = e != nullptr ? std::atoi(e) : 1;
  return ncclSuccess;
}

ncclResult_t s_get_properties(int dev, ncclNetProperties_v11_t* p) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_inits == 0) return violation("getProperties before init");
  static char names[4][16] = {"strictnic0", "strictnic1", "strictnic2", "strictnic3"};
  static char pci[] = "/sys/devices/pci0000:00/0000:00:1f.0";
  if (dev < 0 || dev > 3) return violation("getProperties(%d): no such device", dev);
  *p = ncclNetProperties_v11_t{};
  p->name = names[dev];
  p->pciPath = pci;
  p->guid = 0x5354524943540000ull + static_cast<uint64_t>(dev);
  p->ptrSupport = NCCL_PTR_HOST;
  p->regIsGlobal = 0;
  p->forceFlush = 0;
  p->speed = 123456;
  p->port = 1;
  p->latency = 1.5f;
  p->maxComms = 4096;
  p->maxRecvs = kMaxRecvs;
  p->netDeviceType = NCCL_NET_DEVICE_HOST;
  p->netDeviceVersion = NCCL_NET_DEVICE_INVALID_VERSION;
  p->vProps.ndevs = 1;
  p->vProps.devs[0] = dev;
  p->maxP2pBytes = size_t{1} << 30;
  p->maxCollBytes = size_t{1} << 29;
  p->maxMultiRequestSize = 1;
  return ncclSuccess;
}

ncclResult_t s_listen(void* ctx, int dev, void* handle, void** listen_comm) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (ctx != nullptr && check_ctx(ctx, "listen") != ncclSuccess) return ncclInternalError;
  if (g_inits == 0) return violation("listen before init");
  if (dev != 0) return violation("listen on device %d (only device 0 carries data)", dev);
  auto* l = new Listen();
  l->id = g_next_listen++;
  listens()[l->id] = l;
  Handle h{kHandleMagic, l->id, 0};
  std::memset(handle, 0, NCCL_NET_HANDLE_MAXSIZE);
  std::memcpy(handle, &h, sizeof(h));
  *listen_comm = l;
  return ncclSuccess;
}

ncclResult_t s_connect(void* ctx, int, void* handle, void** send_comm,
                       ncclNetDeviceHandle_v11_t** dev_comm) {
  std::lock_guard<std::mutex> lock(g_mu);
  *send_comm = nullptr;
  if (ctx != nullptr && check_ctx(ctx, "connect") != ncclSuccess) return ncclInternalError;
  Handle h;
  std::memcpy(&h, handle, sizeof(h));
  if (h.magic != kHandleMagic) return violation("connect: the handle is not one listen made");
  auto it = listens().find(h.id);
  if (it == listens().end() || it->second->closed) {
    return violation("connect: listener %llu is gone (peer in another process?)",
                     static_cast<unsigned long long>(h.id));
  }
  // The first call only starts the connection, like a real network: NCCL must call again with
  // the same handle bytes.
  if (h.connected == 0) {
    h.connected = 1;
    std::memcpy(handle, &h, sizeof(h));
    return ncclSuccess;
  }
  auto* c = kept(new Comm());
  c->send = true;
  c->link = new Link();
  c->link->sender = c;
  it->second->pending.push_back(c->link);
  if (dev_comm != nullptr) *dev_comm = nullptr;
  *send_comm = c;
  return ncclSuccess;
}

ncclResult_t s_accept(void* listen_comm, void** recv_comm, ncclNetDeviceHandle_v11_t** dev_comm) {
  std::lock_guard<std::mutex> lock(g_mu);
  *recv_comm = nullptr;
  auto* l = static_cast<Listen*>(listen_comm);
  if (l == nullptr || l->closed) return violation("accept on a closed or NULL listen comm");
  if (l->pending.empty()) return ncclSuccess;
  Link* link = l->pending.front();
  l->pending.pop_front();
  auto* c = kept(new Comm());
  c->send = false;
  c->link = link;
  link->receiver = c;
  if (dev_comm != nullptr) *dev_comm = nullptr;
  *recv_comm = c;
  return ncclSuccess;
}

ncclResult_t s_reg_mr(void* comm, void* data, size_t size, int type, void** mhandle) {
  std::lock_guard<std::mutex> lock(g_mu);
  *mhandle = nullptr;
  auto* c = static_cast<Comm*>(comm);
  if (c == nullptr || c->closed) return violation("regMr on a closed or NULL comm");
  if (type != NCCL_PTR_HOST) {
    return violation("regMr of type %d: only NCCL_PTR_HOST is advertised", type);
  }
  if (data == nullptr || size == 0) return violation("regMr of %p, %zu bytes", data, size);
  auto* r = new Region{c, static_cast<char*>(data), size};
  c->regions.push_back(r);
  *mhandle = r;
  return ncclSuccess;
}

ncclResult_t s_dereg_mr(void* comm, void* mhandle) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto* c = static_cast<Comm*>(comm);
  if (c == nullptr || c->closed) return violation("deregMr on a closed or NULL comm");
  for (size_t k = 0; k < c->regions.size(); ++k) {
    if (c->regions[k] == mhandle) {
      if (c->regions[k]->users > 0) {
        return violation("deregMr of a registration %d request(s) in flight still use",
                         c->regions[k]->users);
      }
      delete c->regions[k];
      c->regions.erase(c->regions.begin() + static_cast<long>(k));
      return ncclSuccess;
    }
  }
  return violation("deregMr of %p, which is not registered on this comm", mhandle);
}

ncclResult_t s_isend(void* send_comm, void* data, size_t size, int tag, void* mhandle, void*,
                     void** request) {
  std::lock_guard<std::mutex> lock(g_mu);
  *request = nullptr;
  Comm* c = nullptr;
  if (check_comm(send_comm, true, "isend", &c) != ncclSuccess) return ncclInternalError;
  Region* region = nullptr;
  if (check_region(c, mhandle, data, size, "isend", &region) != ncclSuccess) {
    return ncclInternalError;
  }
  if (size > (size_t{1} << 30)) return violation("isend of %zu bytes > maxP2pBytes", size);
  if (const char* f = std::getenv("STRICT_NET_FAIL_ISEND"); f != nullptr && std::atoi(f) != 0) {
    return ncclSystemError;
  }
  if (busy_now()) return ncclSuccess;
  Request* r = take_request(c);
  if (r == nullptr) return ncclSuccess;  // 32 in flight
  r->send = true;
  r->data = static_cast<char*>(data);
  r->size = size;
  r->tag = tag;
  r->region = region;
  ++region->users;
  c->link->sends.push_back(r);
  match(c->link);
  *request = r;
  return ncclSuccess;
}

ncclResult_t s_irecv(void* recv_comm, int n, void** data, size_t* sizes, int* tags, void** mhandles,
                     void**, void** request) {
  std::lock_guard<std::mutex> lock(g_mu);
  *request = nullptr;  // may hold NCCL_NET_OPTIONAL_RECV_COMPLETION: always overwritten
  Comm* c = nullptr;
  if (check_comm(recv_comm, false, "irecv", &c) != ncclSuccess) return ncclInternalError;
  if (n < 1 || n > kMaxRecvs) return violation("irecv with n=%d (maxRecvs %d)", n, kMaxRecvs);
  Region* region = nullptr;
  if (check_region(c, mhandles[0], data[0], sizes[0], "irecv", &region) != ncclSuccess) {
    return ncclInternalError;
  }
  if (busy_now()) return ncclSuccess;
  Request* r = take_request(c);
  if (r == nullptr) return ncclSuccess;
  r->send = false;
  r->data = static_cast<char*>(data[0]);
  r->size = sizes[0];
  r->tag = tags[0];
  r->region = region;
  ++region->users;
  c->link->recvs.push_back(r);
  if (c->link->recvs.size() > g_max_recvs_ahead) g_max_recvs_ahead = c->link->recvs.size();
  match(c->link);
  *request = r;
  return ncclSuccess;
}

ncclResult_t s_iflush(void* recv_comm, int, void**, int*, void**, void** request) {
  std::lock_guard<std::mutex> lock(g_mu);
  *request = nullptr;
  Comm* c = nullptr;
  if (check_comm(recv_comm, false, "iflush", &c) != ncclSuccess) return ncclInternalError;
  return violation("iflush: only host memory is advertised, nothing is ever to be flushed");
}

ncclResult_t s_test(void* request, int* done, int* sizes) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto* r = static_cast<Request*>(request);
  *done = 0;
  if (r == nullptr || r->comm == nullptr)
    return violation("test on an unknown request %p", request);
  if (r->comm->closed) return violation("test on request %p of a closed comm", request);
  if (r->state == Request::kFree) {
    return violation("test on request %p after it reported done (request lifetime)", request);
  }
  if (r->state != Request::kDone) {
    // A receive that no send can match any more: its sender closed (a network reports the peer
    // gone; not a violation).
    Link* l = r->comm->link;
    if (!r->send && l->sender != nullptr && l->sender->closed && l->sends.empty()) {
      for (size_t k = 0; k < l->recvs.size(); ++k) {
        if (l->recvs[k] == r) l->recvs.erase(l->recvs.begin() + static_cast<long>(k));
      }
      --r->region->users;
      --r->comm->in_flight;
      r->state = Request::kFree;
      return ncclRemoteError;
    }
    return ncclSuccess;
  }
  *done = 1;
  if (sizes != nullptr) sizes[0] = static_cast<int>(r->got);
  --r->region->users;
  --r->comm->in_flight;
  r->state = Request::kFree;
  return r->failed ? ncclInternalError : ncclSuccess;
}

ncclResult_t close_comm(void* comm, bool send) {
  std::lock_guard<std::mutex> lock(g_mu);
  Comm* c = nullptr;
  if (check_comm(comm, send, send ? "closeSend" : "closeRecv", &c) != ncclSuccess) {
    return ncclInternalError;
  }
  // Registrations left behind are a violation, except when requests are still in flight: then
  // the close is an abort (NCCL never does it otherwise) and the comm goes with everything on it.
  if (!c->regions.empty() && c->in_flight == 0) {
    return violation("%s with %zu registration(s) still in place (deregMr first)",
                     send ? "closeSend" : "closeRecv", c->regions.size());
  }
  c->closed = true;  // kept: later use is a violation, not a crash
  return ncclSuccess;
}

ncclResult_t s_close_send(void* c) {
  return close_comm(c, true);
}
ncclResult_t s_close_recv(void* c) {
  return close_comm(c, false);
}

ncclResult_t s_close_listen(void* listen_comm) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto* l = static_cast<Listen*>(listen_comm);
  if (l == nullptr || l->closed) return violation("closeListen twice or on NULL");
  l->closed = true;
  return ncclSuccess;
}

[[maybe_unused]] ncclResult_t s_set_net_attr(void* ctx, ncclNetAttr_v11_t* attr) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (check_ctx(ctx, "setNetAttr") != ncclSuccess) return ncclInternalError;
  if (attr == nullptr) return violation("setNetAttr with NULL attributes");
  return ncclSuccess;
}

// ---- Older tables: adapters -----------------------------------------------------------------

[[maybe_unused]] ncclResult_t init_legacy(ncclDebugLogger_t logger) {
  return s_init(nullptr, 0, nullptr, logger, nullptr);
}
[[maybe_unused]] ncclResult_t init_v10(ncclDebugLogger_t logger, ncclProfilerCallback_t p) {
  return s_init(nullptr, 0, nullptr, logger, p);
}
[[maybe_unused]] ncclResult_t props_v9(int dev, ncclNetProperties_v9_t* p) {
  ncclNetProperties_v11_t q{};
  ncclResult_t r = s_get_properties(dev, &q);
  std::memcpy(p, &q, sizeof(*p));
  return r;
}
[[maybe_unused]] ncclResult_t props_v8(int dev, ncclNetProperties_v8_t* p) {
  ncclNetProperties_v11_t q{};
  ncclResult_t r = s_get_properties(dev, &q);
  p->name = q.name;
  p->pciPath = q.pciPath;
  p->guid = q.guid;
  p->ptrSupport = q.ptrSupport;
  p->regIsGlobal = q.regIsGlobal;
  p->speed = q.speed;
  p->port = q.port;
  p->latency = q.latency;
  p->maxComms = q.maxComms;
  p->maxRecvs = q.maxRecvs;
  p->netDeviceType = q.netDeviceType;
  p->netDeviceVersion = q.netDeviceVersion;
  return r;
}
[[maybe_unused]] ncclResult_t listen_legacy(int dev, void* handle, void** l) {
  return s_listen(nullptr, dev, handle, l);
}
[[maybe_unused]] ncclResult_t connect_legacy(int dev, void* handle, void** s,
                                             ncclNetDeviceHandle_v8_t** d) {
  return s_connect(nullptr, dev, handle, s, d);
}
[[maybe_unused]] ncclResult_t connect_v10(int dev, ncclNetCommConfig_v10_t*, void* handle, void** s,
                                          ncclNetDeviceHandle_v10_t** d) {
  return s_connect(nullptr, dev, handle, s, d);
}
[[maybe_unused]] ncclResult_t isend_v9(void* c, void* data, size_t size, int tag, void* mh,
                                       void** req) {
  return s_isend(c, data, size, tag, mh, nullptr, req);
}
[[maybe_unused]] ncclResult_t isend_v8(void* c, void* data, int size, int tag, void* mh,
                                       void** req) {
  if (size < 0) return violation("isend (v8) of %d bytes", size);
  return s_isend(c, data, static_cast<size_t>(size), tag, mh, nullptr, req);
}
[[maybe_unused]] ncclResult_t irecv_v9(void* c, int n, void** data, size_t* sizes, int* tags,
                                       void** mh, void** req) {
  return s_irecv(c, n, data, sizes, tags, mh, nullptr, req);
}
[[maybe_unused]] ncclResult_t irecv_v8(void* c, int n, void** data, int* sizes, int* tags,
                                       void** mh, void** req) {
  if (n < 1 || n > kMaxRecvs) return violation("irecv (v8) with n=%d (maxRecvs %d)", n, kMaxRecvs);
  size_t wide[kMaxRecvs];
  for (int i = 0; i < n; ++i) {
    if (sizes[i] < 0) return violation("irecv (v8) of %d bytes", sizes[i]);
    wide[i] = static_cast<size_t>(sizes[i]);
  }
  return s_irecv(c, n, data, wide, tags, mh, nullptr, req);
}

}  // namespace

extern "C" {
__attribute__((visibility("default"))) int strict_net_violations() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_violations;
}

__attribute__((visibility("default"))) unsigned long long strict_net_bytes() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_bytes;
}

// The most receives one link held posted and unmatched at once (since load): how far a client
// posts ahead of the data.
__attribute__((visibility("default"))) unsigned long long strict_net_max_recvs_ahead() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_max_recvs_ahead;
}

#ifdef STRICT_NET_V11
__attribute__((visibility("default"))) ncclNet_v11_t ncclNetPlugin_v11 = {
    "StrictNet", s_init,   s_devices,    s_get_properties, s_listen,       s_connect,
    s_accept,    s_reg_mr, nullptr,      s_dereg_mr,       s_isend,        s_irecv,
    s_iflush,    s_test,   s_close_send, s_close_recv,     s_close_listen, nullptr,
    nullptr,     nullptr,  s_finalize,   s_set_net_attr};
#endif
#ifdef STRICT_NET_V10
__attribute__((visibility("default"))) ncclNet_v10_t ncclNetPlugin_v10 = {
    "StrictNet",  init_v10,     s_devices,      props_v9, listen_legacy, connect_v10, s_accept,
    s_reg_mr,     nullptr,      s_dereg_mr,     s_isend,  s_irecv,       s_iflush,    s_test,
    s_close_send, s_close_recv, s_close_listen, nullptr,  nullptr,       nullptr};
#endif
#ifdef STRICT_NET_V9
__attribute__((visibility("default"))) ncclNet_v9_t ncclNetPlugin_v9 = {
    "StrictNet",  init_legacy,  s_devices,      props_v9, listen_legacy, connect_legacy, s_accept,
    s_reg_mr,     nullptr,      s_dereg_mr,     isend_v9, irecv_v9,      s_iflush,       s_test,
    s_close_send, s_close_recv, s_close_listen, nullptr,  nullptr,       nullptr};
#endif
#ifdef STRICT_NET_NONE
// A plugin too old for Squeeze: only a table name it does not load (the v8 layout, for the
// functions' sake).
__attribute__((visibility("default"))) ncclNet_v8_t ncclNetPlugin_v7 = {
    "StrictNet",  init_legacy,  s_devices,      props_v8, listen_legacy, connect_legacy, s_accept,
    s_reg_mr,     nullptr,      s_dereg_mr,     isend_v8, irecv_v8,      s_iflush,       s_test,
    s_close_send, s_close_recv, s_close_listen, nullptr,  nullptr};
#endif
#ifdef STRICT_NET_V8
__attribute__((visibility("default"))) ncclNet_v8_t ncclNetPlugin_v8 = {
    "StrictNet",  init_legacy,  s_devices,      props_v8, listen_legacy, connect_legacy, s_accept,
    s_reg_mr,     nullptr,      s_dereg_mr,     isend_v8, irecv_v8,      s_iflush,       s_test,
    s_close_send, s_close_recv, s_close_listen, nullptr,  nullptr};
#endif
}
