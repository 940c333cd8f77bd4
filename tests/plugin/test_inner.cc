// Squeeze over an inner net plugin (NCCL_SQUEEZE_TRANSPORT=inner): the StrictNet reference plugin
// (strict_net/strict_net.cc) in each of its table versions, through Squeeze's exported v11 table.
// Checks the init log (the inner plugin's name and version), the forwarded properties, transfers
// (passthrough bit-exact, lossy within the bound) with no ABI violation seen by the inner plugin,
// and that the inner plugin's errors are reported with its name.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "harness.h"
#include "stats_json.h"

#ifndef STRICT_NET_DIR
#error "STRICT_NET_DIR must name the directory of the StrictNet libraries"
#endif

namespace sqtest {
namespace {

std::string strict_path(const std::string& variant) {
  return std::string(STRICT_NET_DIR) + "/libnccl-net-strict" +
         (variant.empty() ? "" : "-" + variant) + ".so";
}

// A counter of the StrictNet library Squeeze loaded (the same instance: RTLD_NOLOAD); -1 when
// that library is not loaded, -2 without the symbol.
long long strict_counter(const std::string& path, const char* symbol) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (lib == nullptr) return -1;
  long long v = -2;
  if (std::strcmp(symbol, "strict_net_violations") == 0) {
    auto fn = reinterpret_cast<int (*)()>(dlsym(lib, symbol));
    if (fn != nullptr) v = fn();
  } else {
    auto fn = reinterpret_cast<unsigned long long (*)()>(dlsym(lib, symbol));
    if (fn != nullptr) v = static_cast<long long>(fn());
  }
  dlclose(lib);
  return v;
}
int violations(const std::string& path) {
  return static_cast<int>(strict_counter(path, "strict_net_violations"));
}
// Bytes of every send StrictNet matched: Squeeze's headers and payloads.
long long inner_wire_bytes(const std::string& path) {
  return strict_counter(path, "strict_net_bytes");
}

struct Variant {
  const char* suffix;  // library variant ("sqztcp": the standalone TCP plugin)
  int version;         // the table Squeeze must pick
};
const Variant kVariants[] = {{"", 11},  {"v11", 11}, {"v10", 10},
                             {"v9", 9}, {"v8", 8},   {"sqztcp", 11}};

bool is_sqztcp(const Variant& v) {
  return std::strcmp(v.suffix, "sqztcp") == 0;
}

class Inner : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    path_ =
        is_sqztcp(GetParam()) ? std::string(SQZTCP_PLUGIN_PATH) : strict_path(GetParam().suffix);
    env_.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", path_);
  }
  std::string path_;
  ScopedEnv env_;
};

TEST_P(Inner, InitLogNamesTheInnerPluginAndItsVersion) {
  clear_log();
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  const std::string name = is_sqztcp(GetParam()) ? "SqueezeTcp" : "StrictNet";
  const std::string expected = "transport: inner net plugin " + name + " (net v" +
                               std::to_string(GetParam().version) + ", " + path_ + "), 1 device(s)";
  EXPECT_TRUE(log_contains(expected)) << expected;
  EXPECT_TRUE(log_contains("transport inner, 1 device(s)"));
  EXPECT_TRUE(log_contains("NCCL_SQUEEZE_INNER=" + path_ + " (env)"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// The standalone TCP plugin's properties depend on the machine's interfaces: they are compared
// with what the same library instance (RTLD_NOLOAD) answers itself.
void expect_forwarded_from_sqztcp(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr) << "Squeeze did not load " << path;
  auto* inner = static_cast<const ncclNet_v11_t*>(dlsym(lib, "ncclNetPlugin_v11"));
  ASSERT_NE(inner, nullptr);
  int inner_ndev = 0, ndev = 0;
  ASSERT_EQ(inner->devices(&inner_ndev), ncclSuccess);
  ASSERT_EQ(plugin().v11->devices(&ndev), ncclSuccess);
  EXPECT_EQ(ndev, inner_ndev);
  for (int d = 0; d < ndev; ++d) {
    ncclNetProperties_v11_t q{}, p{};
    ASSERT_EQ(inner->getProperties(d, &q), ncclSuccess);
    ASSERT_EQ(plugin().v11->getProperties(d, &p), ncclSuccess);
    EXPECT_STREQ(p.name, q.name);
    EXPECT_STREQ(p.pciPath, q.pciPath);
    EXPECT_EQ(p.guid, q.guid);
    EXPECT_EQ(p.speed, q.speed);
    EXPECT_EQ(p.port, q.port);
    EXPECT_FLOAT_EQ(p.latency, q.latency);
    EXPECT_EQ(p.maxComms, q.maxComms);
    EXPECT_EQ(p.maxP2pBytes, q.maxP2pBytes);
    EXPECT_EQ(p.maxCollBytes, q.maxCollBytes);
    // What Squeeze changes (inner_transport.cc): host staging, per-connection registration,
    // no grouped receives, no virtual NICs.
    EXPECT_EQ(p.ptrSupport, NCCL_PTR_HOST);
    EXPECT_EQ(p.regIsGlobal, 0);
    EXPECT_EQ(p.maxRecvs, 1);
    EXPECT_EQ(p.vProps.ndevs, 1);
    EXPECT_EQ(p.vProps.devs[0], d);
  }
  dlclose(lib);
}

TEST_P(Inner, PropertiesAreTheInnerPluginsExceptWhatSqueezeChanges) {
  if (is_sqztcp(GetParam())) {
    void* ctx = nullptr;
    ASSERT_TRUE(init_ctx(&ctx));
    expect_forwarded_from_sqztcp(path_);
    EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
    return;
  }
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  int ndev = 0;
  ASSERT_EQ(plugin().v11->devices(&ndev), ncclSuccess);
  EXPECT_EQ(ndev, 1);
  ncclNetProperties_v11_t p{};
  ASSERT_EQ(plugin().v11->getProperties(0, &p), ncclSuccess);
  EXPECT_STREQ(p.name, "strictnic0");
  EXPECT_STREQ(p.pciPath, "/sys/devices/pci0000:00/0000:00:1f.0");
  EXPECT_EQ(p.guid, 0x5354524943540000ull);
  EXPECT_EQ(p.ptrSupport, NCCL_PTR_HOST);
  EXPECT_EQ(p.regIsGlobal, 0);
  EXPECT_EQ(p.forceFlush, 0);
  EXPECT_EQ(p.speed, 123456);
  EXPECT_EQ(p.port, 1);
  EXPECT_FLOAT_EQ(p.latency, 1.5f);
  EXPECT_EQ(p.maxComms, 4096);
  EXPECT_EQ(p.maxRecvs, 1);
  EXPECT_EQ(p.netDeviceType, NCCL_NET_DEVICE_HOST);
  EXPECT_EQ(p.netDeviceVersion, NCCL_NET_DEVICE_INVALID_VERSION);
  EXPECT_EQ(p.vProps.ndevs, 1);
  EXPECT_EQ(p.vProps.devs[0], 0);
  EXPECT_EQ(p.maxMultiRequestSize, 1);
  if (GetParam().version == 8) {
    // What NCCL's own v8 shim assumes for a v8 plugin (nccl-net-api.md 1.4).
    EXPECT_EQ(p.maxP2pBytes, static_cast<size_t>(NCCL_MAX_NET_SIZE));
    EXPECT_EQ(p.maxCollBytes, size_t{512} << 20);
  } else {
    EXPECT_EQ(p.maxP2pBytes, size_t{1} << 30);
    EXPECT_EQ(p.maxCollBytes, size_t{1} << 29);
  }
  EXPECT_NE(plugin().v11->getProperties(1, &p), ncclSuccess);
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// Messages of every size class in flight eight at a time, each receive posted larger than its
// message; every byte (passthrough) or element (lossy, abs 1e-3) checked. One connection per mode
// (the configuration is read at init).
// strict_path: the StrictNet library in use (its wire byte counter is checked), or empty.
void transfer_rounds(bool lossy, const std::string& strict_path) {
  ScopedEnv env;
  if (lossy) {
    env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
        .set("NCCL_SQUEEZE_MODE", "abs")
        .set("NCCL_SQUEEZE_BOUND", "0.001");
  }
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  if (!strict_path.empty()) {
    EXPECT_GE(p.connect_calls, 2);  // StrictNet needs a second connect call
  }
  const long long inner_before = strict_path.empty() ? 0 : inner_wire_bytes(strict_path);
  ncclNet_v11_t* n = plugin().v11;
  constexpr int kDepth = 8;
  constexpr size_t kSlot = (2 << 20) + 4096;
  std::vector<uint8_t> out(kDepth * kSlot), in(kDepth * kSlot);
  void *smh = nullptr, *rmh = nullptr;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size(), NCCL_PTR_HOST, &smh), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, in.data(), in.size(), NCCL_PTR_HOST, &rmh), ncclSuccess);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t sizes[] = {0, 4, 4096, 65536, 131072, 1 << 20, 2 << 20};
  uint64_t lossy_expected = 0;
  uint64_t bytes_expected = 0;
  for (int round = 0; round < 4; ++round) {
    void* sreq[kDepth];
    void* rreq[kDepth];
    size_t len[kDepth];
    for (int k = 0; k < kDepth; ++k) {
      len[k] = sizes[rng() % (sizeof(sizes) / sizeof(sizes[0]))];
      bytes_expected += len[k];
      if (lossy && len[k] >= 4096) ++lossy_expected;  // MIN_BYTES
      uint8_t* s = out.data() + k * kSlot;
      if (lossy) {
        auto* f = reinterpret_cast<float*>(s);
        for (size_t i = 0; i < len[k] / 4; ++i) f[i] = normal(rng);
      } else {
        for (size_t i = 0; i < len[k]; ++i) s[i] = static_cast<uint8_t>(rng());
      }
      std::memset(in.data() + k * kSlot, 0, kSlot);
      void* data = in.data() + k * kSlot;
      size_t cap = kSlot;
      int tag = 7;
      void* ph = nullptr;
      rreq[k] = reinterpret_cast<void*>(0x1);
      ASSERT_EQ(n->irecv(p.recv, 1, &data, &cap, &tag, &rmh, &ph, &rreq[k]), ncclSuccess);
      ASSERT_NE(rreq[k], nullptr);
      sreq[k] = nullptr;
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (sreq[k] == nullptr) {
        ASSERT_EQ(n->isend(p.send, s, len[k], 7, smh, nullptr, &sreq[k]), ncclSuccess);
        ASSERT_LT(Clock::now(), deadline);
      }
    }
    for (int k = 0; k < kDepth; ++k) {
      int size = -1;
      ASSERT_EQ(wait_pair(sreq[k], rreq[k], &size), ncclSuccess) << "message " << k;
      ASSERT_EQ(size, static_cast<int>(len[k]));
      const uint8_t* s = out.data() + k * kSlot;
      const uint8_t* r = in.data() + k * kSlot;
      if (!lossy) {
        ASSERT_EQ(std::memcmp(s, r, len[k]), 0) << "message " << k;
      } else {
        auto* fs = reinterpret_cast<const float*>(s);
        auto* fr = reinterpret_cast<const float*>(r);
        for (size_t i = 0; i < len[k] / 4; ++i) {
          ASSERT_LE(std::fabs(static_cast<double>(fs[i]) - fr[i]), 0.001) << "element " << i;
        }
      }
      ASSERT_EQ(r[len[k]], 0) << "nothing written past the message";
    }
  }
  // Lossy: every float message of at least MIN_BYTES went as a frame from staging, both sides.
  const Json send = conn_stats("send", 7);
  const Json recv = conn_stats("recv", 7);
  EXPECT_EQ(counter(send, "decisions", "lossy"), lossy_expected);
  EXPECT_EQ(counter(recv, "decisions", "lossy"), lossy_expected);
  EXPECT_EQ(counter(send, nullptr, "bytes_in"), bytes_expected);
  EXPECT_EQ(counter(recv, nullptr, "bytes_in"), bytes_expected);
  const uint64_t wire = counter(send, nullptr, "bytes_wire");
  EXPECT_EQ(counter(recv, nullptr, "bytes_wire"), wire);
  if (lossy) {
    EXPECT_LT(wire, bytes_expected);
  } else {
    EXPECT_EQ(wire, bytes_expected);
  }
  if (!strict_path.empty()) {
    // What the inner plugin carried: the connection's 16-byte hello and, per message, exactly
    // the payload Squeeze counted (a frame's 16-byte prefix included), and with compression
    // fewer bytes than the messages.
    const long long carried = inner_wire_bytes(strict_path) - inner_before;
    EXPECT_EQ(static_cast<uint64_t>(carried), wire + 16);
    if (!lossy) {
      EXPECT_EQ(static_cast<uint64_t>(carried), bytes_expected + 16) << "passthrough costs nothing";
    }
    if (lossy) {
      EXPECT_LT(static_cast<uint64_t>(carried), bytes_expected);
    }
  }
  EXPECT_EQ(n->deregMr(p.send, smh), ncclSuccess);
  EXPECT_EQ(n->deregMr(p.recv, rmh), ncclSuccess);
}

TEST_P(Inner, TransfersPassthroughAndLossyWithoutViolations) {
  // StrictNet is loaded at the first init (not yet loaded: none seen so far).
  if (is_sqztcp(GetParam())) {
    transfer_rounds(false, "");
    transfer_rounds(true, "");
    return;
  }
  const int before = std::max(0, violations(path_));
  transfer_rounds(false, path_);
  transfer_rounds(true, path_);
  const int after = violations(path_);
  ASSERT_GE(after, 0) << "StrictNet at " << path_ << " is not the loaded inner plugin";
  EXPECT_EQ(after, before) << "StrictNet saw ABI violations (stderr has them)";
}

INSTANTIATE_TEST_SUITE_P(Versions, Inner, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& param) {
                           return std::string(param.param.suffix[0] ? param.param.suffix : "all");
                         });

TEST(InnerErrors, MissingInnerPluginFailsInitNamingIt) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", "/nonexistent/libnone.so");
  clear_log();
  void* ctx = nullptr;
  ncclNetCommConfig_v11_t cfg{-1};
  EXPECT_EQ(plugin().v11->init(&ctx, 1, &cfg, capture_logger, nullptr), ncclInvalidUsage);
  EXPECT_TRUE(log_contains("WARN", "NCCL_SQUEEZE_INNER=/nonexistent/libnone.so cannot be loaded"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

TEST(InnerErrors, InnerTransportWithoutInnerFailsInit) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", "");
  clear_log();
  void* ctx = nullptr;
  ncclNetCommConfig_v11_t cfg{-1};
  EXPECT_EQ(plugin().v11->init(&ctx, 1, &cfg, capture_logger, nullptr), ncclInvalidUsage);
  EXPECT_TRUE(log_contains("WARN", "TRANSPORT=inner needs NCCL_SQUEEZE_INNER"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// A library that is no net plugin Squeeze can load (only an old table name), Squeeze itself, and
// an inner plugin whose init fails: init fails with the reason, nothing crashes.
ncclResult_t init_expecting_failure(void** ctx) {
  clear_log();
  *ctx = nullptr;
  ncclNetCommConfig_v11_t cfg{-1};
  return plugin().v11->init(ctx, 1, &cfg, capture_logger, nullptr);
}

TEST(InnerErrors, LibraryWithoutNetTableFailsInit) {
  ScopedEnv env;
  const std::string path = strict_path("none");
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", path);
  void* ctx = nullptr;
  EXPECT_EQ(init_expecting_failure(&ctx), ncclInvalidUsage);
  EXPECT_TRUE(log_contains(
      "WARN", "inner net plugin " + path + " exports none of ncclNetPlugin_v11, _v10, _v9, _v8"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
  // The next init with a valid inner plugin works.
  env.set("NCCL_SQUEEZE_INNER", strict_path(""));
  ASSERT_TRUE(init_ctx(&ctx));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

TEST(InnerErrors, SqueezeAsItsOwnInnerFailsInit) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", SQUEEZE_PLUGIN_PATH);
  void* ctx = nullptr;
  EXPECT_EQ(init_expecting_failure(&ctx), ncclInvalidUsage);
  EXPECT_TRUE(log_contains("WARN", "is Squeeze itself"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

TEST(InnerErrors, InnerInitFailureFailsInitNamingIt) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner")
      .set("NCCL_SQUEEZE_INNER", strict_path("v9"))
      .set("STRICT_NET_FAIL_INIT", "1");
  void* ctx = nullptr;
  EXPECT_EQ(init_expecting_failure(&ctx), ncclInvalidUsage);
  EXPECT_TRUE(log_contains("WARN", "inner net plugin StrictNet: init failed with error 2"));
  EXPECT_TRUE(log_contains(
      "WARN", "inner net plugin StrictNet (net v9, " + strict_path("v9") + "): init failed"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// A bare name resolves as NCCL resolves NCCL_NET_PLUGIN: libnccl-net-<name>.so on the library
// path (ctest puts StrictNet's directory on LD_LIBRARY_PATH).
TEST(InnerErrors, BareNameResolvesLikeNcclNetPlugin) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", "strict-v9");
  clear_log();
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  EXPECT_TRUE(log_contains("inner net plugin StrictNet (net v9, libnccl-net-strict-v9.so)"));
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// The receiver posts a message's receive straight into NCCL's buffer (behind the connection's
// hello receive) before anything was sent: a fabric whose sender waits for the receiver's buffer
// never waits on Squeeze. Then the message arrives bit-exact.
TEST(InnerReceive, PayloadReceiveIsPostedBeforeTheHeaderArrives) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner").set("NCCL_SQUEEZE_INNER", strict_path(""));
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  constexpr size_t kBytes = 64 << 10;
  std::vector<uint8_t> out(kBytes), in(kBytes, 0);
  for (size_t i = 0; i < kBytes; ++i) out[i] = static_cast<uint8_t>(i * 29 + 3);
  void *smh = nullptr, *rmh = nullptr;
  ncclNet_v11_t* n = plugin().v11;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size(), NCCL_PTR_HOST, &smh), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, in.data(), in.size(), NCCL_PTR_HOST, &rmh), ncclSuccess);
  void* data = in.data();
  size_t size_posted = in.size();
  int tag = 2;
  void* r = nullptr;
  ASSERT_EQ(n->irecv(p.recv, 1, &data, &size_posted, &tag, &rmh, nullptr, &r), ncclSuccess);
  ASSERT_NE(r, nullptr);
  int done = 0;
  ASSERT_EQ(n->test(r, &done, nullptr), ncclSuccess);
  EXPECT_EQ(done, 0);
  // Two receives wait on the link (the hello and the message) before any send was posted.
  EXPECT_GE(strict_counter(strict_path(""), "strict_net_max_recvs_ahead"), 2);
  void* s = nullptr;
  ASSERT_EQ(n->isend(p.send, out.data(), out.size(), 2, smh, nullptr, &s), ncclSuccess);
  ASSERT_NE(s, nullptr);
  int size = -1;
  ASSERT_EQ(wait_request(s, nullptr, 5.0), ncclSuccess);
  ASSERT_EQ(wait_request(r, &size, 5.0), ncclSuccess);
  EXPECT_EQ(size, static_cast<int>(kBytes));
  EXPECT_EQ(std::memcmp(in.data(), out.data(), kBytes), 0);
  EXPECT_EQ(n->deregMr(p.send, smh), ncclSuccess);
  EXPECT_EQ(n->deregMr(p.recv, rmh), ncclSuccess);
}

TEST(InnerErrors, InnerFailureIsReportedWithItsName) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TRANSPORT", "inner")
      .set("NCCL_SQUEEZE_INNER", strict_path(""))
      .set("STRICT_NET_FAIL_ISEND", "1");
  clear_log();
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  std::vector<uint8_t> out(1000), in(1000);
  void *smh = nullptr, *rmh = nullptr;
  ncclNet_v11_t* n = plugin().v11;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size(), NCCL_PTR_HOST, &smh), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, in.data(), in.size(), NCCL_PTR_HOST, &rmh), ncclSuccess);
  void* req = nullptr;
  ncclResult_t res = n->isend(p.send, out.data(), out.size(), 1, smh, nullptr, &req);
  if (res == ncclSuccess && req != nullptr) res = wait_request(req, nullptr, 5.0);
  EXPECT_EQ(res, ncclSystemError);
  EXPECT_TRUE(log_contains("WARN", "inner net plugin StrictNet: isend failed with error 2"));
  EXPECT_TRUE(log_contains("WARN", "inner net plugin StrictNet refused the hello to"));
  EXPECT_EQ(n->deregMr(p.send, smh), ncclSuccess);
  EXPECT_EQ(n->deregMr(p.recv, rmh), ncclSuccess);
}

}  // namespace
}  // namespace sqtest
