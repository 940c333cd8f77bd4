// Traffic classification end to end through the EXPORTED tables of the dlopen'ed plugin: the
// test plays NCCL, i.e. it initialises the library's ncclProfiler_v5 as NCCL does, passes a fake
// ncclProfilerCallback to the v11 init, runs the proxy's profiler events (task -> ProxyOp ->
// ProxyStep) around the net calls (setNetAttr, isend with the phandle, irecv, test) over real
// loopback connections, and checks which payloads come back lossy (within the bound, not
// bit-identical) and which bit-exact, plus the fallback paths, PXN, the policy rules and
// squeeze_set_policy.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "harness.h"
#include "nccl_abi/profiler.h"
#include "plugin/classify/policy.h"
#include "stats_json.h"

namespace sqtest {
namespace {

// NCCL's struct behind the phandle of isend (nccl-net-api.md 9.1).
struct ProxyEventHandle {
  void* stepEventHandle;
  void* subArgPtr;
};

struct Control {
  ncclProfiler_v5_t* profiler = nullptr;
  int (*set_policy)(const char*) = nullptr;
  size_t (*get_policy)(char*, size_t) = nullptr;
  int (*set_layout)(const char*) = nullptr;
  void (*set_iteration)(uint64_t) = nullptr;
  void (*get_iteration)(uint64_t*, double*) = nullptr;
};

Control& control() {
  static Control c = [] {
    Control x;
    x.profiler = static_cast<ncclProfiler_v5_t*>(dlsym(plugin().lib, "ncclProfiler_v5"));
    x.set_policy =
        reinterpret_cast<int (*)(const char*)>(dlsym(plugin().lib, "squeeze_set_policy"));
    x.get_policy =
        reinterpret_cast<size_t (*)(char*, size_t)>(dlsym(plugin().lib, "squeeze_get_policy"));
    x.set_layout =
        reinterpret_cast<int (*)(const char*)>(dlsym(plugin().lib, "squeeze_set_layout"));
    x.set_iteration =
        reinterpret_cast<void (*)(uint64_t)>(dlsym(plugin().lib, "squeeze_set_iteration"));
    x.get_iteration = reinterpret_cast<void (*)(uint64_t*, double*)>(
        dlsym(plugin().lib, "squeeze_get_iteration"));
    return x;
  }();
  return c;
}

// The profiler context NCCL would hold; NULL while the test plays "no profiler loaded".
void* g_profiler_ctx = nullptr;
std::atomic<int> g_callback_starts{0};

// Plays ncclProfilerCallback: builds the NetPlugin descriptor from the phandle and forwards to
// the loaded profiler; stop forwards without a NULL check, as NCCL does.
ncclResult_t fake_nccl_callback(void** event, int type, void* phandle, int64_t plugin_id,
                                void* data) {
  if (type == ncclProfilerNetEventStart) {
    ++g_callback_starts;
    *event = nullptr;
    if (g_profiler_ctx == nullptr) return ncclSuccess;  // no profiler loaded: NCCL does nothing
    ncclProfilerEventDescr_v5_t d{};
    d.type = ncclProfileNetPlugin;
    d.parentObj = static_cast<ProxyEventHandle*>(phandle)->stepEventHandle;
    d.netPlugin.id = plugin_id;
    d.netPlugin.data = data;
    return control().profiler->startEvent(g_profiler_ctx, event, &d);
  }
  if (type == ncclProfilerNetEventStop) return control().profiler->stopEvent(*event);
  return ncclSuccess;
}

// NCCL's profiler for one communicator: init at comm init (after the net init), finalize at
// destroy.
class ScopedProfiler {
 public:
  ScopedProfiler() {
    int mask = 0;
    EXPECT_EQ(control().profiler->init(&g_profiler_ctx, 0x77, &mask, "policy-test", 2, 4, 0,
                                       capture_logger),
              ncclSuccess);
    EXPECT_TRUE(mask & ncclProfileNetPlugin);
  }
  ~ScopedProfiler() {
    EXPECT_EQ(control().profiler->finalize(g_profiler_ctx), ncclSuccess);
    g_profiler_ctx = nullptr;
  }
};

ncclProfilerEventDescr_v5_t p2p_task(const char* func, const char* dtype, size_t count) {
  ncclProfilerEventDescr_v5_t d{};
  d.type = ncclProfileP2p;
  d.p2p.func = func;
  d.p2p.datatype = dtype;
  d.p2p.count = count;
  d.p2p.peer = 1;
  d.p2p.nChannels = 1;
  return d;
}

ncclProfilerEventDescr_v5_t coll_task(const char* func, const char* dtype, const char* proto,
                                      size_t count) {
  ncclProfilerEventDescr_v5_t d{};
  d.type = ncclProfileColl;
  d.coll.func = func;
  d.coll.datatype = dtype;
  d.coll.proto = proto;
  d.coll.algo = "RING";
  d.coll.count = count;
  d.coll.nChannels = 1;
  return d;
}

// One proxy op's events, as NCCL runs them: the task event starts and stops at upload, then the
// proxy thread starts ProxyOp (with the pid of the process that built the op) and ProxyStep.
struct Chain {
  ProxyEventHandle phandle{nullptr, nullptr};
  void* op = nullptr;

  void start(const ncclProfilerEventDescr_v5_t& task, pid_t pid) {
    ncclProfiler_v5_t* prof = control().profiler;
    ncclProfilerEventDescr_v5_t t = task;
    void* task_handle = nullptr;
    ASSERT_EQ(prof->startEvent(g_profiler_ctx, &task_handle, &t), ncclSuccess);
    ASSERT_EQ(prof->stopEvent(task_handle), ncclSuccess);
    ncclProfilerEventDescr_v5_t op_d{};
    op_d.type = ncclProfileProxyOp;
    op_d.parentObj = task_handle;
    op_d.proxyOp.pid = pid;
    op_d.proxyOp.peer = 1;
    op_d.proxyOp.nSteps = 1;
    op_d.proxyOp.isSend = 1;
    ASSERT_EQ(prof->startEvent(g_profiler_ctx, &op, &op_d), ncclSuccess);
    ncclProfilerEventDescr_v5_t step_d{};
    step_d.type = ncclProfileProxyStep;
    step_d.parentObj = op;
    step_d.proxyStep.step = 0;
    ASSERT_EQ(prof->startEvent(g_profiler_ctx, &phandle.stepEventHandle, &step_d), ncclSuccess);
  }
  void stop() {
    ncclProfiler_v5_t* prof = control().profiler;
    // NCCL stops its events whatever their handles are (ours accepts NULL).
    EXPECT_EQ(prof->stopEvent(phandle.stepEventHandle), ncclSuccess);
    EXPECT_EQ(prof->stopEvent(op), ncclSuccess);
  }
};

// A v11 context whose init got the fake profiler callback, then a connected pair.
::testing::AssertionResult connect_with_callback(Pair* p, uint32_t connect_op) {
  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  ncclResult_t r = plugin().v11->init(&p->ctx, 0x77, &cfg, capture_logger, fake_nccl_callback);
  if (r != ncclSuccess) return ::testing::AssertionFailure() << "init returned " << r;
  return connect_pair(p, connect_op, /*make_ctx=*/false);
}

void set_transfer_hint(void* ctx, uint32_t op) {
  ncclNetAttr_v11_t attr;
  std::memset(&attr, 0xff, sizeof(attr));
  attr.op = op;
  ASSERT_EQ(plugin().v11->setNetAttr(ctx, &attr), ncclSuccess);
}

void* isend_retry(void* send, void* data, size_t size, int tag, void* mh, void* phandle) {
  for (int tries = 0; tries < 1000000; ++tries) {
    void* req = reinterpret_cast<void*>(0x1);
    EXPECT_EQ(plugin().v11->isend(send, data, size, tag, mh, phandle, &req), ncclSuccess);
    if (req != nullptr) return req;
    std::this_thread::yield();
  }
  return nullptr;
}

void* irecv_one(void* recv, void* data, size_t size, int tag, void* mh) {
  void* req = reinterpret_cast<void*>(0x1);
  void* phandle = nullptr;
  EXPECT_EQ(plugin().v11->irecv(recv, 1, &data, &size, &tag, &mh, &phandle, &req), ncclSuccess);
  return req;
}

// Lines of Squeeze itself (not of an inner net plugin logging through the same logger, such as
// the standalone TCP plugin, "NET/SqueezeTcp : ...") that contain needle.
int count_log(const std::string& needle) {
  std::lock_guard<std::mutex> lock(log_capture().mu);
  int n = 0;
  for (const std::string& l : log_capture().lines) {
    n += l.find("NET/Squeeze : ") != std::string::npos && l.find(needle) != std::string::npos;
  }
  return n;
}

uint16_t to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

enum class Elem { kF32, kBF16 };

// Checks every element within the bound (in double) and that at least one changed.
// local_bound > 0: relative to the range of the element's block of 32 (MODE local); else
// rel_bound > 0: relative to the message's value range; else abs_bound.
::testing::AssertionResult lossy_within(const uint8_t* sent, const uint8_t* got, size_t bytes,
                                        Elem elem, double rel_bound, double abs_bound,
                                        double local_bound = 0) {
  size_t n = elem == Elem::kF32 ? bytes / 4 : bytes / 2;
  std::vector<double> a(n), b(n);
  for (size_t i = 0; i < n; ++i) {
    if (elem == Elem::kF32) {
      float x, y;
      std::memcpy(&x, sent + 4 * i, 4);
      std::memcpy(&y, got + 4 * i, 4);
      a[i] = x;
      b[i] = y;
    } else {
      uint16_t x, y;
      std::memcpy(&x, sent + 2 * i, 2);
      std::memcpy(&y, got + 2 * i, 2);
      a[i] = from_bf16(x);
      b[i] = from_bf16(y);
    }
  }
  double bound = abs_bound;
  if (rel_bound > 0) {
    double lo = a[0], hi = a[0];
    for (double v : a) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    bound = rel_bound * (hi - lo);
  }
  bool changed = false;
  for (size_t i = 0; i < n; ++i) {
    if (local_bound > 0) {
      const size_t b0 = i / 32 * 32, b1 = std::min(n, b0 + 32);
      double lo = a[b0], hi = a[b0];
      for (size_t k = b0; k < b1; ++k) {
        lo = std::min(lo, a[k]);
        hi = std::max(hi, a[k]);
      }
      bound = local_bound * (hi - lo);
    }
    double d = std::fabs(a[i] - b[i]);
    if (!(d <= bound)) {
      return ::testing::AssertionFailure() << "element " << i << ": sent " << a[i] << ", got "
                                           << b[i] << ", error " << d << " > bound " << bound;
    }
    changed |= d != 0.0;
  }
  if (!changed)
    return ::testing::AssertionFailure() << "bit-identical: the lossy path was not taken";
  return ::testing::AssertionSuccess();
}

// One message of the mix: what NCCL's task says, the payload, and what must come back.
struct Message {
  const char* what;
  ncclProfilerEventDescr_v5_t task;
  uint32_t transfer_op;  // v11 transfer hint before the send
  int fifo;              // which registered buffer carries it (index into the comm's FIFO list)
  std::vector<uint8_t> data;
  bool lossy;
  Elem elem = Elem::kF32;
  double rel_bound = 0;
  double abs_bound = 0;
  double local_bound = 0;
  bool lossless = false;  // compressed by the lossless method: bit-exact, fewer bytes
};

// A check of what arrived in place of a message's bounds (e.g. per table of a row layout).
using Check =
    std::function<::testing::AssertionResult(const uint8_t* sent, const uint8_t* got, size_t n)>;

// A connection with its FIFO buffers registered the way NCCL does (before any transfer).
struct Link {
  Pair pair;
  int tag = 0;
  std::vector<std::vector<uint8_t>> send_fifo, recv_fifo;
  std::vector<void*> send_mh, recv_mh;

  ::testing::AssertionResult open(uint32_t connect_op, int n_fifo, size_t fifo_bytes, int tag_) {
    tag = tag_;
    auto r = connect_with_callback(&pair, connect_op);
    if (!r) return r;
    send_fifo.assign(n_fifo, std::vector<uint8_t>(fifo_bytes));
    recv_fifo.assign(n_fifo, std::vector<uint8_t>(fifo_bytes));
    send_mh.assign(n_fifo, nullptr);
    recv_mh.assign(n_fifo, nullptr);
    for (int k = 0; k < n_fifo; ++k) {
      if (plugin().v11->regMr(pair.send, send_fifo[k].data(), fifo_bytes, NCCL_PTR_HOST,
                              &send_mh[k]) != ncclSuccess ||
          plugin().v11->regMr(pair.recv, recv_fifo[k].data(), fifo_bytes, NCCL_PTR_HOST,
                              &recv_mh[k]) != ncclSuccess) {
        return ::testing::AssertionFailure() << "regMr failed";
      }
    }
    return ::testing::AssertionSuccess();
  }

  // Sends every message with its own chain in flight at once (each at its own offset in its
  // FIFO buffer), then checks what arrived.
  // checks[i], when given and set, replaces message i's bound check.
  void run(std::vector<Message>& msgs, pid_t pid, const std::vector<Check>& checks = {}) {
    const Json before = find_conn("recv", tag);  // null before the connection's first message
    std::vector<Chain> chains(msgs.size());
    std::vector<void*> sreq(msgs.size()), rreq(msgs.size());
    std::vector<size_t> offset(msgs.size());
    std::vector<size_t> used(send_fifo.size(), 0);
    for (size_t i = 0; i < msgs.size(); ++i) {
      Message& m = msgs[i];
      int f = m.fifo;
      offset[i] = used[f];
      used[f] += m.data.size();
      ASSERT_LE(used[f], send_fifo[f].size());
      std::memcpy(send_fifo[f].data() + offset[i], m.data.data(), m.data.size());
      std::memset(recv_fifo[f].data() + offset[i], 0, m.data.size());
      rreq[i] =
          irecv_one(pair.recv, recv_fifo[f].data() + offset[i], m.data.size(), tag, recv_mh[f]);
      ASSERT_NE(rreq[i], nullptr);
    }
    for (size_t i = 0; i < msgs.size(); ++i) {
      Message& m = msgs[i];
      chains[i].start(m.task, pid);
      if (m.transfer_op != 0) set_transfer_hint(pair.ctx, m.transfer_op);
      sreq[i] = isend_retry(pair.send, send_fifo[m.fifo].data() + offset[i], m.data.size(), tag,
                            send_mh[m.fifo], &chains[i].phandle);
      ASSERT_NE(sreq[i], nullptr);
    }
    for (size_t i = 0; i < msgs.size(); ++i) {
      SCOPED_TRACE(msgs[i].what);
      int size = -1;
      ASSERT_EQ(wait_pair(sreq[i], rreq[i], &size), ncclSuccess);
      ASSERT_EQ(size, static_cast<int>(msgs[i].data.size()));
      chains[i].stop();
      const uint8_t* got = recv_fifo[msgs[i].fifo].data() + offset[i];
      if (i < checks.size() && checks[i]) {
        EXPECT_TRUE(checks[i](msgs[i].data.data(), got, msgs[i].data.size()));
      } else if (msgs[i].lossy) {
        EXPECT_TRUE(lossy_within(msgs[i].data.data(), got, msgs[i].data.size(), msgs[i].elem,
                                 msgs[i].rel_bound, msgs[i].abs_bound, msgs[i].local_bound));
      } else {
        EXPECT_EQ(0, std::memcmp(got, msgs[i].data.data(), msgs[i].data.size()))
            << "expected bit-exact";
      }
    }
    // The receiver's count: exactly the compressed (lossy or lossless) messages arrived as
    // frames, and their frames were smaller than their data (passthrough messages travel as
    // they are).
    uint64_t lossy = 0, lossy_bytes = 0, pass_bytes = 0;
    for (const Message& m : msgs) {
      const bool framed = m.lossy || m.lossless;
      lossy += framed;
      (framed ? lossy_bytes : pass_bytes) += m.data.size();
    }
    const Json after = conn_stats("recv", tag);
    const WireDelta d = wire_delta(before, after);
    EXPECT_EQ(d.lossy, lossy) << after;
    EXPECT_EQ(d.bytes_in, lossy_bytes + pass_bytes) << after;
    if (lossy > 0) {
      EXPECT_LT(d.bytes_wire - pass_bytes, lossy_bytes) << "lossy frames did not shrink: " << after;
    } else {
      EXPECT_EQ(d.bytes_wire, pass_bytes) << after;
    }
  }
};

struct Payloads {
  std::mt19937_64 rng;
  explicit Payloads(uint64_t seed) : rng(seed) {}
  std::vector<uint8_t> f32(size_t count) {
    std::uniform_real_distribution<float> uni(-3.0f, 3.0f);
    std::vector<uint8_t> v(count * 4);
    for (size_t i = 0; i < count; ++i) {
      float x = uni(rng);
      std::memcpy(v.data() + 4 * i, &x, 4);
    }
    return v;
  }
  std::vector<uint8_t> bf16(size_t count) {
    std::normal_distribution<float> g(0.0f, 0.02f);  // gradient-like
    std::vector<uint8_t> v(count * 2);
    for (size_t i = 0; i < count; ++i) {
      uint16_t h = to_bf16(g(rng));
      std::memcpy(v.data() + 2 * i, &h, 2);
    }
    return v;
  }
  template <typename T>
  std::vector<uint8_t> ints(size_t count, uint64_t modulo) {
    std::vector<uint8_t> v(count * sizeof(T));
    for (size_t i = 0; i < count; ++i) {
      T x = static_cast<T>(rng() % modulo);
      std::memcpy(v.data() + sizeof(T) * i, &x, sizeof(T));
    }
    return v;
  }
  std::vector<uint8_t> bytes(size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
  }
};

constexpr uint32_t kAlltoAllOp = 1u << NCCL_FUNC_ALLTOALL;
constexpr uint32_t kAllReduceOp = 1u << NCCL_FUNC_ALLREDUCE;
constexpr uint32_t kCollectiveConnect = 0xFFFFFFFFu;  // connect-time hint of a ring/tree comm
constexpr double kDefaultLocal =
    squeeze::kPluginDefaultBound;  // NCCL_SQUEEZE_BOUND's default, MODE local

class Policy : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(control().profiler, nullptr);
    ASSERT_NE(control().set_policy, nullptr);
    ASSERT_NE(control().get_policy, nullptr);
    g_callback_starts = 0;
    clear_log();
  }
  void TearDown() override { EXPECT_EQ(control().set_policy(nullptr), 0); }
};

// The TorchRec-like mix with NO settings: the float p2p payloads come back lossy, the integer
// ones (indices, lengths) compressed losslessly (the "auto" rule's first messages measure the
// coder), everything else bit-exact as sent.
TEST_F(Policy, TorchRecMixDefaultPolicy) {
  uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Payloads gen(seed);
  ScopedProfiler profiler;
  Link a2a, dense;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 4 << 20, 3));                 // p2p: one SIMPLE pool
  ASSERT_TRUE(dense.open(kCollectiveConnect, 3, 1 << 20, 5));  // ring: LL, LL128, SIMPLE

  const size_t kN = 32768;
  std::vector<Message> mix;
  mix.push_back({"int64 indices all-to-all", p2p_task("Send", "ncclInt64", kN), kAlltoAllOp, 0,
                 gen.ints<int64_t>(kN, 1u << 20), false});
  mix.push_back({"int32 lengths all-to-all", p2p_task("Send", "ncclInt32", kN), kAlltoAllOp, 0,
                 gen.ints<int32_t>(kN, 64), false});
  mix[0].lossless = mix[1].lossless = true;
  mix.push_back({"f32 pooled embeddings all-to-all", p2p_task("Send", "ncclFloat32", kN),
                 kAlltoAllOp, 0, gen.f32(kN), true, Elem::kF32, 0, 0, kDefaultLocal});
  mix.push_back({"bf16 gradients all-to-all", p2p_task("Send", "ncclBfloat16", kN), kAlltoAllOp, 0,
                 gen.bf16(kN), true, Elem::kBF16, 0, 0, kDefaultLocal});
  mix.push_back({"uint8 (profiler: Unknown)", p2p_task("Send", "Unknown", kN), kAlltoAllOp, 0,
                 gen.bytes(kN), false});
  mix.push_back({"f64", p2p_task("Send", "ncclFloat64", kN), 1u << NCCL_FUNC_SEND, 0,
                 gen.bytes(kN * 8), false});
  mix.push_back({"f32 below MIN_BYTES", p2p_task("Send", "ncclFloat32", 1000), kAlltoAllOp, 0,
                 gen.f32(1000), false});
  a2a.run(mix, getpid());

  std::vector<Message> coll;
  coll.push_back({"f32 all-reduce, SIMPLE", coll_task("AllReduce", "ncclFloat32", "SIMPLE", kN),
                  kAllReduceOp, 2, gen.f32(kN), false});
  coll.push_back({"f32 all-reduce, LL", coll_task("AllReduce", "ncclFloat32", "LL", kN / 4),
                  kAllReduceOp, 0, gen.f32(kN / 4), false});
  dense.run(coll, getpid());

  EXPECT_EQ(g_callback_starts.load(), 9) << "one profiler callback per isend";

  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", 2},
                                           {"lossless", 2},
                                           {"pass_no_dtype", 1},
                                           {"pass_other_dtype", 1},
                                           {"pass_too_small", 1}}))
      << s;
  EXPECT_EQ(s["dtypes"],
            Json({{"int64", 1}, {"int32", 1}, {"f32", 2}, {"bf16", 1}, {"f64", 1}, {"unknown", 1}}))
      << s;
  EXPECT_EQ(s["traffic_info"], Json({{"profiler", 7}, {"fallback", 0}})) << s;
  Json r = conn_stats("recv", 3);
  EXPECT_EQ(nonzero(r["decisions"]), Json({{"lossy", 4}, {"pass_by_sender", 3}})) << r;
  Json c = conn_stats("send", 5);
  EXPECT_EQ(nonzero(c["decisions"]), Json({{"pass_not_p2p", 1}, {"pass_not_simple", 1}})) << c;
  EXPECT_TRUE(log_contains("traffic classification: NCCL profiler chain"));
  EXPECT_EQ(count_log("traffic classification: fallback"), 0);
  EXPECT_TRUE(
      log_contains("policy: lossy p2p.f32=local:0.01, p2p.f16=local:0.01, "
                   "p2p.bf16=local:0.01; lossless p2p.i8=auto, p2p.u8=auto, p2p.i32=auto, "
                   "p2p.u32=auto, p2p.i64=auto, p2p.u64=auto; everything else bit-exact"));

  a2a.pair.close();
  dense.pair.close();
  // The close log names the reasons and the datatypes.
  EXPECT_TRUE(log_contains("send conn", "/ 2 lossless")) << "close log";
  EXPECT_TRUE(log_contains("send conn", "lossless 2")) << "close log";
  EXPECT_TRUE(log_contains("send conn",
                           "datatypes: unknown 1, int32 1, int64 1, f32 2, f64 1, "
                           "bf16 1, traffic from the profiler 7 / fallback 0"));
}

// Profiler knowledge wins over the assumption: with ASSUME_DTYPE=f32, profiler-known integers
// come back bit-exact (the lossless method) and uint8 ("Unknown" to the profiler) passes.
TEST_F(Policy, ProfilerIntegersNeverCompressedEvenWithAssumeDtype) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32");
  uint64_t seed = test_seed();
  Payloads gen(seed);
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 2 << 20, 3));
  const size_t kN = 65536;
  std::vector<Message> mix;
  mix.push_back({"int64", p2p_task("Send", "ncclInt64", kN), kAlltoAllOp, 0,
                 gen.ints<int64_t>(kN, 1u << 30), false});
  mix.push_back({"uint32", p2p_task("Send", "ncclUint32", kN), kAlltoAllOp, 0,
                 gen.ints<uint32_t>(kN, 1000), false});
  mix[0].lossless = mix[1].lossless = true;
  mix.push_back({"uint8", p2p_task("Send", "Unknown", kN), kAlltoAllOp, 0, gen.bytes(kN), false});
  mix.push_back({"f32", p2p_task("Send", "ncclFloat32", kN), kAlltoAllOp, 0, gen.f32(kN), true,
                 Elem::kF32, 0, 0, kDefaultLocal});
  a2a.run(mix, getpid());
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", 1}, {"lossless", 2}, {"pass_no_dtype", 1}}))
      << s;
  EXPECT_TRUE(log_contains("NCCL_SQUEEZE_ASSUME_DTYPE is not used"));
}

// The lossless "auto" rule through the plugin: the first 8 int64 messages are compressed and
// measured; then, on a 1 Mbit/s link, the coder is faster and every message stays lossless, while
// on a 100 Tbit/s link it is not and the rest pass through (pass_not_paying). Loopback reports no
// speed: NCCL is told 10 Gbit/s, but the rule takes the rate as unknown and passes the rest
// through too (loopback moves a few GB/s, as fast as the coder or faster). Every message comes
// back bit-exact; the verdict is logged with its reason.
TEST_F(Policy, LosslessAutoFollowsTheLinkRate) {
  uint64_t seed = test_seed();
  Payloads gen(seed);
  const size_t kN = 16384;
  const int kMessages = 12;
  struct Case {
    const char* link_mbps;
    bool slow_link;
    int tag;
  };
  for (const Case& c : {Case{"1", true, 7}, Case{"100000000", false, 8}, Case{"auto", false, 9}}) {
    const bool slow_link = c.slow_link;
    // An inner plugin's speed is what it reports, never a default of this plugin's.
    if (std::string(c.link_mbps) == "auto" && over_inner_plugin()) continue;
    SCOPED_TRACE(std::string("LINK_MBPS ") + c.link_mbps);
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_CODEC_THREADS", "0")  // verdicts in posting order
        .set("NCCL_SQUEEZE_LINK_MBPS", c.link_mbps);
    clear_log();
    ScopedProfiler profiler;
    Link a2a;
    const int tag = c.tag;
    ASSERT_TRUE(a2a.open(0x7C0, 1, 4 << 20, tag));
    std::vector<Message> msgs;
    for (int k = 0; k < kMessages; ++k) {
      msgs.push_back({"int64 ids", p2p_task("Send", "ncclInt64", kN), kAlltoAllOp, 0,
                      gen.ints<int64_t>(kN, 1u << 20), false});
      msgs.back().lossless = slow_link || k < squeeze::plugin::CoderGauge::kProbeMessages;
    }
    a2a.run(msgs, getpid());
    Json s = conn_stats("send", tag);
    if (slow_link) {
      EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossless", kMessages}})) << s;
      EXPECT_TRUE(log_contains("lossless coding of i64 pays"));
    } else {
      EXPECT_EQ(
          nonzero(s["decisions"]),
          Json({{"lossless", squeeze::plugin::CoderGauge::kProbeMessages},
                {"pass_not_paying", kMessages - squeeze::plugin::CoderGauge::kProbeMessages}}))
          << s;
      EXPECT_TRUE(log_contains("lossless coding of i64 does not pay"));
      EXPECT_EQ(log_contains("not compressing; set NCCL_SQUEEZE_LINK_MBPS"),
                std::string(c.link_mbps) == "auto");
    }
    a2a.pair.close();
  }
}

// LOSSY_GATE=link through the plugin: the first 8 f32 messages of a connection are compressed
// and timed; then, on a 1 Mbit/s link, the CPU codec is faster and every message stays lossy,
// while on a 100 Tbit/s link it is not and the rest go bit-exact (pass_codec_slow). bf16 is
// measured on its own (its probes are lossy either way), and LOSSY_GATE=off compresses every
// message on the fast link too.
TEST_F(Policy, LossyGateFollowsTheLinkRate) {
  uint64_t seed = test_seed();
  Payloads gen(seed);
  const size_t kN = 16384;
  const int kMessages = 12, kProbes = squeeze::plugin::CoderGauge::kProbeMessages;
  struct Case {
    const char* what;
    const char* gate;
    const char* link_mbps;
    bool gated;  // the messages after the probes pass through
    int tag;
  };
  for (const Case& c : {Case{"link, 1 Mbit/s", "link", "1", false, 17},
                        Case{"link, 100 Tbit/s", "link", "100000000", true, 18},
                        // Loopback reports no speed: unknown, and the gate compresses.
                        Case{"link, loopback's unreported rate", "link", "auto", false, 20},
                        Case{"off, 100 Tbit/s", "off", "100000000", false, 19}}) {
    if (std::string(c.link_mbps) == "auto" && over_inner_plugin()) continue;  // as above
    SCOPED_TRACE(c.what);
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_CODEC_THREADS", "0")  // verdicts in posting order
        .set("NCCL_SQUEEZE_LOSSY_GATE", c.gate)
        .set("NCCL_SQUEEZE_LINK_MBPS", c.link_mbps);
    clear_log();
    ScopedProfiler profiler;
    Link a2a;
    ASSERT_TRUE(a2a.open(0x7C0, 1, 4 << 20, c.tag));
    std::vector<Message> msgs;
    for (int k = 0; k < kMessages; ++k) {
      const bool lossy = !c.gated || k < kProbes;
      msgs.push_back({"f32 embeddings", p2p_task("Send", "ncclFloat32", kN), kAlltoAllOp, 0,
                      gen.f32(kN), lossy, Elem::kF32, 0, 0, lossy ? kDefaultLocal : 0});
    }
    for (int k = 0; k < 2; ++k)
      msgs.push_back({"bf16 gradients", p2p_task("Send", "ncclBfloat16", kN), kAlltoAllOp, 0,
                      gen.bf16(kN), true, Elem::kBF16, 0, 0, kDefaultLocal});
    a2a.run(msgs, getpid());
    Json s = conn_stats("send", c.tag);
    if (c.gated) {
      EXPECT_EQ(nonzero(s["decisions"]),
                Json({{"lossy", kProbes + 2}, {"pass_codec_slow", kMessages - kProbes}}))
          << s;
      EXPECT_TRUE(log_contains("lossy compression of f32 does not pay (sent bit-exact)"));
    } else {
      EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", kMessages + 2}})) << s;
      EXPECT_EQ(log_contains("lossy compression of f32 pays"), std::string(c.gate) == "link");
    }
    a2a.pair.close();
  }
}

// PXN: the ProxyOp was built by another process, so its task cannot be read: passthrough.
TEST_F(Policy, PxnProxyOpOfAnotherProcessPassesThrough) {
  Payloads gen(test_seed());
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  std::vector<Message> mix;
  mix.push_back({"f32 op from another process", p2p_task("Send", "ncclFloat32", 65536), kAlltoAllOp,
                 0, gen.f32(65536), false});
  a2a.run(mix, getpid() + 1);
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"pass_pxn", 1}})) << s;
}

// Profiler never initialised (another profiler, none, old NCCL): the hints plus ASSUME_DTYPE
// decide, NCCL's callback is never called, and the log says so once.
TEST_F(Policy, FallbackWithoutProfilerUsesAssumeDtype) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32");
  Payloads gen(test_seed());
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  std::vector<Message> mix;
  mix.push_back({"f32 #1", p2p_task("Send", "ncclFloat32", 65536), kAlltoAllOp, 0, gen.f32(65536),
                 true, Elem::kF32, 0, 0, kDefaultLocal});
  mix.push_back({"f32 #2", p2p_task("Send", "ncclFloat32", 65536), kAlltoAllOp, 0, gen.f32(65536),
                 true, Elem::kF32, 0, 0, kDefaultLocal});
  mix.push_back({"f32 all-reduce hint", p2p_task("Send", "ncclFloat32", 65536), kAllReduceOp, 0,
                 gen.f32(65536), false});
  // No profiler is initialised: NCCL's phandle then has no step event behind it.
  for (size_t i = 0; i < mix.size(); ++i) {
    SCOPED_TRACE(mix[i].what);
    std::vector<uint8_t>& out = mix[i].data;
    std::memcpy(a2a.send_fifo[0].data(), out.data(), out.size());
    void* r = irecv_one(a2a.pair.recv, a2a.recv_fifo[0].data(), out.size(), 3, a2a.recv_mh[0]);
    set_transfer_hint(a2a.pair.ctx, mix[i].transfer_op);
    ProxyEventHandle ph{nullptr, nullptr};
    void* s =
        isend_retry(a2a.pair.send, a2a.send_fifo[0].data(), out.size(), 3, a2a.send_mh[0], &ph);
    ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
    if (mix[i].lossy) {
      EXPECT_TRUE(lossy_within(out.data(), a2a.recv_fifo[0].data(), out.size(), Elem::kF32, 0, 0,
                               kDefaultLocal));
    } else {
      EXPECT_EQ(0, std::memcmp(out.data(), a2a.recv_fifo[0].data(), out.size()));
    }
  }
  EXPECT_EQ(g_callback_starts.load(), 0) << "NCCL's callback called while our profiler is inactive";
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", 2}, {"pass_not_p2p", 1}})) << s;
  EXPECT_EQ(s["traffic_info"], Json({{"profiler", 0}, {"fallback", 3}})) << s;
  // The two lossy messages' frames were smaller than their data; the third went as it was.
  const WireDelta d = wire_delta(Json(), conn_stats("recv", 3));
  EXPECT_EQ(d.lossy, 2u);
  EXPECT_EQ(d.bytes_in, 3u * 65536 * 4);
  EXPECT_LT(d.bytes_wire - 65536 * 4, 2u * 65536 * 4);
  EXPECT_EQ(count_log("traffic classification: fallback to setNetAttr hints and "
                      "NCCL_SQUEEZE_ASSUME_DTYPE=f32 because this library's profiler"),
            1);
  EXPECT_TRUE(log_contains("traffic classification: fallback", "unset NCCL_PROFILER_PLUGIN"));
}

TEST_F(Policy, FallbackWithoutAssumeDtypePassesThrough) {
  Payloads gen(test_seed());
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  std::vector<uint8_t> out = gen.f32(65536);
  for (int k = 0; k < 2; ++k) {
    std::memcpy(a2a.send_fifo[0].data(), out.data(), out.size());
    void* r = irecv_one(a2a.pair.recv, a2a.recv_fifo[0].data(), out.size(), 3, a2a.recv_mh[0]);
    ProxyEventHandle ph{nullptr, nullptr};
    void* s =
        isend_retry(a2a.pair.send, a2a.send_fifo[0].data(), out.size(), 3, a2a.send_mh[0], &ph);
    ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
    EXPECT_EQ(0, std::memcmp(out.data(), a2a.recv_fifo[0].data(), out.size()));
  }
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"pass_no_dtype", 2}})) << s;
  EXPECT_EQ(s["traffic_info"], Json({{"profiler", 0}, {"fallback", 2}})) << s;
  EXPECT_EQ(count_log("every message passes through bit-exact"), 1);
}

// Opt-ins and overrides through NCCL_SQUEEZE_POLICY: the bf16 gradients get their own absolute
// bound, f16 is turned off, the f32 all-reduce is opted in (SIMPLE only).
TEST_F(Policy, PerOperationRulesFromEnvironment) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_POLICY", " p2p.bf16 = abs:1e-3 , allreduce.f32=rel:1e-2,p2p.f16=off");
  uint64_t seed = test_seed();
  Payloads gen(seed);
  ScopedProfiler profiler;
  Link a2a, dense;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 2 << 20, 3));
  ASSERT_TRUE(dense.open(kCollectiveConnect, 3, 1 << 20, 5));
  const size_t kN = 65536;
  std::vector<Message> mix;
  mix.push_back({"bf16 gradients", p2p_task("Send", "ncclBfloat16", kN), kAlltoAllOp, 0,
                 gen.bf16(kN), true, Elem::kBF16, 0, 1e-3});
  mix.push_back(
      {"f16 (off)", p2p_task("Send", "ncclFloat16", kN), kAlltoAllOp, 0, gen.bytes(kN * 2), false});
  mix.push_back({"f32 (default)", p2p_task("Send", "ncclFloat32", kN), kAlltoAllOp, 0, gen.f32(kN),
                 true, Elem::kF32, 0, 0, kDefaultLocal});
  a2a.run(mix, getpid());
  std::vector<Message> coll;
  coll.push_back({"f32 all-reduce, SIMPLE", coll_task("AllReduce", "ncclFloat32", "SIMPLE", kN / 2),
                  kAllReduceOp, 2, gen.f32(kN / 2), true, Elem::kF32, 1e-2});
  coll.push_back({"f32 all-reduce, LL128", coll_task("AllReduce", "ncclFloat32", "LL128", kN / 2),
                  kAllReduceOp, 1, gen.f32(kN / 2), false});
  coll.push_back({"f32 all-gather (not opted in)",
                  coll_task("AllGather", "ncclFloat32", "SIMPLE", kN / 4),
                  1u << NCCL_FUNC_ALLGATHER, 2, gen.f32(kN / 4), false});
  dense.run(coll, getpid());
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", 2}, {"pass_policy_off", 1}})) << s;
  Json c = conn_stats("send", 5);
  EXPECT_EQ(nonzero(c["decisions"]),
            Json({{"lossy", 1}, {"pass_not_simple", 1}, {"pass_not_p2p", 1}}))
      << c;
  EXPECT_TRUE(
      log_contains("policy: lossy p2p.f32=local:0.01, p2p.bf16=abs:0.001, "
                   "allreduce.f32=rel:0.01; lossless p2p.i8=auto"));
}

TEST_F(Policy, BadRulesFailInitNamingTheRule) {
  const struct {
    const char* rules;
    const char* message;
  } cases[] = {
      {"p2p.f32=rel:1e-2,p2p.f64=on", "rule 2 'p2p.f64=on': unknown datatype 'f64'"},
      {"p2p.int64=on", "unknown datatype 'int64' (allowed: f32, f16, bf16, i8, u8, i32, u32, i64"},
      {"p2p.i64=rel:1e-2", "integers are compressed only losslessly"},
      {"alltoall.f32=on", "rule 1 'alltoall.f32=on': unknown operation 'alltoall'"},
      {"p2p.f32", "rule 1 'p2p.f32': expected op.dtype=action"},
      {"p2p=on", "expected op.dtype before '='"},
      {"p2p.f32=rel:0", "bound '0' is not a number in (0, 1e6]"},
      {"p2p.f32=abs:1e-3x", "bound '1e-3x' is not a number"},
      {"p2p.f32=maybe", "unknown action 'maybe'"},
      {"p2p.f32=on,,p2p.f16=on", "rule 2 '': empty rule"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.rules);
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_POLICY", c.rules);
    clear_log();
    void* ctx = reinterpret_cast<void*>(0x1);
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    EXPECT_EQ(plugin().v11->init(&ctx, 1, &cfg, capture_logger, fake_nccl_callback),
              ncclInvalidUsage);
    EXPECT_EQ(ctx, nullptr);
    EXPECT_TRUE(log_contains("NCCL_SQUEEZE_POLICY=", c.message));
    EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
  }
  // The same from the TOML file names the file.
  char path[] = "/tmp/squeeze_policy_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string toml = "policy = \"allreduce.f32=bogus\"\n";
  ASSERT_EQ(write(fd, toml.data(), toml.size()), static_cast<ssize_t>(toml.size()));
  close(fd);
  {
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_CONFIG", path);
    clear_log();
    void* ctx = nullptr;
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    EXPECT_EQ(plugin().v11->init(&ctx, 1, &cfg, capture_logger, nullptr), ncclInvalidUsage);
    EXPECT_TRUE(log_contains(std::string("NCCL_SQUEEZE_CONFIG=") + path,
                             "rule 1 'allreduce.f32=bogus': unknown action 'bogus'"));
    EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
  }
  unlink(path);
}

// A training script switches rules between phases on the already-loaded library.
TEST_F(Policy, SetPolicyAtRunTime) {
  Payloads gen(test_seed());
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  const size_t kN = 65536;
  auto send_f32 = [&](bool lossy, double rel, double abs, double local = 0) {
    std::vector<Message> m;
    m.push_back({"f32", p2p_task("Send", "ncclFloat32", kN), kAlltoAllOp, 0, gen.f32(kN), lossy,
                 Elem::kF32, rel, abs, local});
    a2a.run(m, getpid());
  };
  send_f32(true, 0, 0, kDefaultLocal);
  EXPECT_EQ(control().set_policy("p2p.f32=off"), 0);
  send_f32(false, 0, 0);
  // A bad list is refused with a WARN naming the rule and changes nothing.
  EXPECT_EQ(control().set_policy("p2p.f32=abs:1e-5,bogus"), -1);
  EXPECT_TRUE(log_contains("WARN", "rule 2 'bogus'"));
  send_f32(false, 0, 0);
  EXPECT_EQ(control().set_policy("p2p.*=abs:0.05"), 0);
  EXPECT_TRUE(log_contains("squeeze_set_policy(\"p2p.*=abs:0.05\")", "p2p.f32=abs:0.05"));
  char buf[64];
  EXPECT_EQ(control().get_policy(buf, sizeof(buf)), std::strlen("p2p.*=abs:0.05"));
  EXPECT_STREQ(buf, "p2p.*=abs:0.05");
  send_f32(true, 0, 0.05);
  EXPECT_EQ(control().set_policy(nullptr), 0);  // back to the configured rules
  send_f32(true, 0, 0, kDefaultLocal);
  Json s = conn_stats("send", 3);
  EXPECT_EQ(nonzero(s["decisions"]), Json({{"lossy", 3}, {"pass_policy_off", 2}})) << s;
}

// Rules switched from another thread while sends run: every message is either bit-exact or
// within the loosest bound in force, and nothing races (ASan/UBSan build).
TEST_F(Policy, SetPolicyConcurrentWithSends) {
  Payloads gen(test_seed());
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  std::atomic<bool> stop{false};
  std::atomic<int> switches{0};
  std::thread toggler([&] {
    const char* lists[] = {"p2p.f32=off", "p2p.f32=abs:0.01", "", "p2p.*=rel:1e-3"};
    for (int k = 0; !stop.load(); ++k) {
      EXPECT_EQ(control().set_policy(lists[k % 4]), 0);
      ++switches;
      std::this_thread::yield();
    }
  });
  const size_t kN = 16384;
  for (int i = 0; i < 20; ++i) {
    // Values in [-3, 3]: rel 1e-3 is at most 0.006, abs 0.01, the default local bound at most
    // kDefaultLocal x 6 (a block's range): the loosest bound in force is the largest of them.
    std::vector<uint8_t> out = gen.f32(kN);
    std::memcpy(a2a.send_fifo[0].data(), out.data(), out.size());
    void* r = irecv_one(a2a.pair.recv, a2a.recv_fifo[0].data(), out.size(), 3, a2a.recv_mh[0]);
    Chain chain;
    chain.start(p2p_task("Send", "ncclFloat32", kN), getpid());
    void* s = isend_retry(a2a.pair.send, a2a.send_fifo[0].data(), out.size(), 3, a2a.send_mh[0],
                          &chain.phandle);
    ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
    chain.stop();
    for (size_t k = 0; k < kN; ++k) {
      float a, b;
      std::memcpy(&a, out.data() + 4 * k, 4);
      std::memcpy(&b, a2a.recv_fifo[0].data() + 4 * k, 4);
      ASSERT_LE(std::fabs(static_cast<double>(a) - static_cast<double>(b)),
                std::max({0.006, 0.01, kDefaultLocal * 6.0}))
          << k;
    }
  }
  stop = true;
  toggler.join();
  EXPECT_GT(switches.load(), 0);
}

void v9_fallback_child() {
  setenv("NCCL_SQUEEZE_ASSUME_DTYPE", "f32", 1);
  clear_log();
  ncclNet_v9_t* n = plugin().v9;
  if (n->init(capture_logger) != ncclSuccess) std::exit(2);
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  void *listen = nullptr, *send = nullptr, *recv = nullptr;
  if (n->listen(0, handle, &listen) != ncclSuccess) std::exit(3);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while ((send == nullptr || recv == nullptr) && Clock::now() < deadline) {
    ncclNetDeviceHandle_v9_t* dev = nullptr;
    if (send == nullptr && n->connect(0, handle, &send, &dev) != ncclSuccess) std::exit(4);
    if (recv == nullptr && n->accept(listen, &recv, &dev) != ncclSuccess) std::exit(5);
  }
  if (send == nullptr || recv == nullptr) std::exit(6);
  Payloads gen(1);
  std::vector<uint8_t> out = gen.f32(65536), in(out.size());
  void *smh = nullptr, *rmh = nullptr;
  if (n->regMr(send, out.data(), out.size(), NCCL_PTR_HOST, &smh) != ncclSuccess ||
      n->regMr(recv, in.data(), in.size(), NCCL_PTR_HOST, &rmh) != ncclSuccess)
    std::exit(7);
  for (int k = 0; k < 2; ++k) {
    void *sreq = nullptr, *rreq = nullptr;
    void* data = in.data();
    size_t size = in.size();
    int tag = 1;
    if (n->irecv(recv, 1, &data, &size, &tag, &rmh, &rreq) != ncclSuccess) std::exit(8);
    if (n->isend(send, out.data(), out.size(), tag, smh, &sreq) != ncclSuccess) std::exit(9);
    if (sreq == nullptr || rreq == nullptr) std::exit(10);
    if (wait_pair(sreq, rreq, nullptr) != ncclSuccess) std::exit(11);
    if (!lossy_within(out.data(), in.data(), out.size(), Elem::kF32, 0, 0, kDefaultLocal))
      std::exit(12);
  }
  if (count_log("traffic classification: fallback to setNetAttr hints and "
                "NCCL_SQUEEZE_ASSUME_DTYPE=f32 because the net API table NCCL loaded (v8/v9)") != 1)
    std::exit(13);
  n->closeSend(send);
  n->closeRecv(recv);
  n->closeListen(listen);
  std::exit(0);
}

// The v9 table has no profiler callback or phandle; it initialises once per process and never
// finalizes, so this runs in a child process.
// Rows of three tables of very different scales (64 + 64 + 128 f32 columns: 1 KiB rows, so every
// NCCL step starts at a row), and the largest error of each table over its own relative bound
// (rel: bound x the table's range in the message, a looser bound than in each frame).
std::vector<uint8_t> three_table_rows(std::mt19937_64& rng, size_t rows) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  const float scale[3] = {100.0f, 0.001f, 1.0f};
  std::vector<uint8_t> v(rows * 256 * 4);
  for (size_t i = 0; i < rows * 256; ++i) {
    const size_t c = i % 256;
    const float x = g(rng) * scale[c < 64 ? 0 : c < 128 ? 1 : 2];
    std::memcpy(v.data() + 4 * i, &x, 4);
  }
  return v;
}
std::array<double, 3> table_error_over_bound(const uint8_t* sent, const uint8_t* got, size_t bytes,
                                             double rel) {
  std::array<double, 3> lo{INFINITY, INFINITY, INFINITY}, hi{-INFINITY, -INFINITY, -INFINITY},
      err{0, 0, 0};
  const size_t n = bytes / 4;
  auto table = [](size_t i) { return i % 256 < 64 ? 0 : i % 256 < 128 ? 1 : 2; };
  for (size_t i = 0; i < n; ++i) {
    float x;
    std::memcpy(&x, sent + 4 * i, 4);
    lo[table(i)] = std::min(lo[table(i)], (double)x);
    hi[table(i)] = std::max(hi[table(i)], (double)x);
  }
  for (size_t i = 0; i < n; ++i) {
    float x, y;
    std::memcpy(&x, sent + 4 * i, 4);
    std::memcpy(&y, got + 4 * i, 4);
    const size_t t = table(i);
    err[t] = std::max(err[t], std::fabs((double)x - (double)y) / (rel * (hi[t] - lo[t])));
  }
  return err;
}

// Sends one message of three_table_rows over the link; each table's largest error over rel 1e-2
// of its range.
std::array<double, 3> send_three_tables(Link& a2a, std::mt19937_64& rng) {
  std::array<double, 3> worst{};
  std::vector<Message> m;
  m.push_back({"three tables", p2p_task("Send", "ncclFloat32", 65536), kAlltoAllOp, 0,
               three_table_rows(rng, 256), true, Elem::kF32, 0, 0, 0, false});
  const Check check = [&](const uint8_t* sent, const uint8_t* got, size_t bytes) {
    worst = table_error_over_bound(sent, got, bytes, 1e-2);
    return ::testing::AssertionSuccess();
  };
  a2a.run(m, getpid(), {check});
  return worst;
}

// NCCL_SQUEEZE_LAYOUT with MODE=rel: each table within the bound of its own range, through the
// exported tables; squeeze_set_layout switches it at run time ("" = none: the frame-wide bound
// rounds the small table away).
TEST_F(Policy, LayoutBoundsEachTableOnItsOwn) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_MODE", "rel").set("NCCL_SQUEEZE_BOUND", "1e-2");
  env.set("NCCL_SQUEEZE_LAYOUT", "64*2,128");
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  EXPECT_TRUE(
      log_contains("layout: row layout \"64*2,128\": 3 tables, 256 columns; f32 "
                   "rel/abs: per table"));
  std::array<double, 3> worst{};
  auto send = [&]() { worst = send_three_tables(a2a, rng); };
  send();
  for (int t = 0; t < 3; ++t) EXPECT_LE(worst[t], 1.0) << "table " << t;
  EXPECT_GT(worst[1], 0.0) << "the small table came back exact: not compressed";
  ASSERT_EQ(control().set_layout(""), 0);  // no layout: one bound for the frame
  send();
  EXPECT_GT(worst[1], 10.0) << "the frame-wide bound should round the small table away";
  EXPECT_EQ(control().set_layout("64,0"), -1);
  EXPECT_TRUE(log_contains("WARN", "table entry 2 \"0\": the width must be a whole number >= 1"));
  ASSERT_EQ(control().set_layout(nullptr), 0);  // back to NCCL_SQUEEZE_LAYOUT
  send();
  for (int t = 0; t < 3; ++t) EXPECT_LE(worst[t], 1.0) << "table " << t;
}

// The paper's schedule: twice the bound at iteration 0, the bound itself from SCHEDULE_ITERS on;
// squeeze_set_iteration moves it, squeeze_get_iteration reports it.
TEST_F(Policy, ScheduleLoosensTheBoundEarly) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_MODE", "rel").set("NCCL_SQUEEZE_BOUND", "1e-2");
  env.set("NCCL_SQUEEZE_LAYOUT", "64*2,128").set("NCCL_SQUEEZE_SCHEDULE", "step");
  env.set("NCCL_SQUEEZE_SCHEDULE_ITERS", "100").set("NCCL_SQUEEZE_SCHEDULE_START", "2");
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  ScopedProfiler profiler;
  Link a2a;
  ASSERT_TRUE(a2a.open(0x7C0, 1, 1 << 20, 3));
  std::array<double, 3> worst{};
  auto send = [&]() { worst = send_three_tables(a2a, rng); };
  control().set_iteration(0);
  uint64_t it = 1;
  double factor = 0;
  control().get_iteration(&it, &factor);
  EXPECT_EQ(it, 0u);
  EXPECT_EQ(factor, 2.0);
  send();
  for (int t = 0; t < 3; ++t) {
    EXPECT_LE(worst[t], 2.0) << "table " << t;
    EXPECT_GT(worst[t], 1.05) << "table " << t << ": the early bound was not used";
  }
  control().set_iteration(55);
  control().get_iteration(&it, &factor);
  EXPECT_NEAR(factor, 1.5, 1e-12);
  control().set_iteration(100);
  control().get_iteration(&it, &factor);
  EXPECT_EQ(factor, 1.0);
  send();
  for (int t = 0; t < 3; ++t) EXPECT_LE(worst[t], 1.0) << "table " << t;
  EXPECT_TRUE(log_contains("schedule step from 2"));
}

TEST_F(Policy, BadLayoutFailsInitNamingTheEntry) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_LAYOUT", "64*4,32@big");
  clear_log();
  void* ctx = reinterpret_cast<void*>(0x1);
  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  EXPECT_EQ(plugin().v11->init(&ctx, 1, &cfg, capture_logger, fake_nccl_callback),
            ncclInvalidUsage);
  EXPECT_TRUE(log_contains("NCCL_SQUEEZE_LAYOUT=", "table entry 2 \"32@big\": @ROWS"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

TEST(PolicyLegacy, V9TableFallsBackToAssumeDtype) {
  EXPECT_EXIT(v9_fallback_child(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace sqtest
