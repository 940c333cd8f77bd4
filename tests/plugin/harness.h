// Test harness that plays NCCL's proxy: loads libnccl-net-squeeze.so with dlopen (RTLD_NOW |
// RTLD_LOCAL, as NCCL does), takes the exported tables with dlsym and drives them. Also a raw
// TCP peer that speaks the wire protocol (plugin/transport/wire.h) to inject faults.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nccl_abi/net.h"
#include "plugin/transport/wire.h"

#ifndef SQUEEZE_PLUGIN_PATH
#error "SQUEEZE_PLUGIN_PATH must name the built plugin"
#endif

namespace sqtest {

using squeeze::plugin::wire::Handle;

struct Tables {
  void* lib = nullptr;
  ncclNet_v11_t* v11 = nullptr;
  ncclNet_v10_t* v10 = nullptr;
  ncclNet_v9_t* v9 = nullptr;
  ncclNet_v8_t* v8 = nullptr;
  size_t (*get_stats_json)(char*, size_t) = nullptr;
};

inline Tables& plugin() {
  static Tables t = [] {
    Tables x;
    x.lib = dlopen(SQUEEZE_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (x.lib == nullptr) {
      std::fprintf(stderr, "dlopen(%s): %s\n", SQUEEZE_PLUGIN_PATH, dlerror());
      std::abort();
    }
    x.v11 = static_cast<ncclNet_v11_t*>(dlsym(x.lib, "ncclNetPlugin_v11"));
    x.v10 = static_cast<ncclNet_v10_t*>(dlsym(x.lib, "ncclNetPlugin_v10"));
    x.v9 = static_cast<ncclNet_v9_t*>(dlsym(x.lib, "ncclNetPlugin_v9"));
    x.v8 = static_cast<ncclNet_v8_t*>(dlsym(x.lib, "ncclNetPlugin_v8"));
    x.get_stats_json =
        reinterpret_cast<size_t (*)(char*, size_t)>(dlsym(x.lib, "squeeze_get_stats_json"));
    return x;
  }();
  return t;
}

// Captures everything the plugin logs (NCCL's logger signature).
struct LogCapture {
  std::mutex mu;
  std::vector<std::string> lines;
};
inline LogCapture& log_capture() {
  static LogCapture c;
  return c;
}
inline void capture_logger(ncclDebugLogLevel level, unsigned long, const char* file, int line,
                           const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::lock_guard<std::mutex> lock(log_capture().mu);
  log_capture().lines.push_back(std::string(level == NCCL_LOG_WARN ? "WARN " : "INFO ") + buf);
  if (level == NCCL_LOG_WARN || std::getenv("SQUEEZE_TEST_VERBOSE")) {
    std::fprintf(stderr, "[plugin %s:%d] %s\n", file, line, buf);
  }
}
inline void clear_log() {
  std::lock_guard<std::mutex> lock(log_capture().mu);
  log_capture().lines.clear();
}
inline bool log_contains(const std::string& a, const std::string& b = "") {
  std::lock_guard<std::mutex> lock(log_capture().mu);
  for (const std::string& l : log_capture().lines) {
    if (l.find(a) != std::string::npos && (b.empty() || l.find(b) != std::string::npos))
      return true;
  }
  return false;
}

// Whether the suite runs over an inner net plugin (NCCL_SQUEEZE_TRANSPORT=inner), not the
// plugin's own TCP transport.
inline bool over_inner_plugin() {
  const char* transport = std::getenv("NCCL_SQUEEZE_TRANSPORT");
  return transport != nullptr && std::string(transport) == "inner";
}

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv& set(const char* name, const std::string& value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old != nullptr, old ? old : ""});
    setenv(name, value.c_str(), 1);
    return *this;
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) {
        setenv(it->name.c_str(), it->value.c_str(), 1);
      } else {
        unsetenv(it->name.c_str());
      }
    }
  }

 private:
  struct Saved {
    std::string name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

using Clock = std::chrono::steady_clock;

// A v11 context plus one connected send/recv comm pair on device 0, set up by retrying
// connect/accept the way NCCL's proxy does.
struct Pair {
  void* ctx = nullptr;
  void* listen = nullptr;
  void* send = nullptr;
  void* recv = nullptr;
  Handle handle{};
  int connect_calls = 0;

  ~Pair() { close(); }
  void close() {
    ncclNet_v11_t* n = plugin().v11;
    if (send) {
      EXPECT_EQ(n->closeSend(send), ncclSuccess);
    }
    if (recv) {
      EXPECT_EQ(n->closeRecv(recv), ncclSuccess);
    }
    if (listen) {
      EXPECT_EQ(n->closeListen(listen), ncclSuccess);
    }
    send = recv = listen = nullptr;
    if (ctx) {
      EXPECT_EQ(n->finalize(ctx), ncclSuccess);
    }
    ctx = nullptr;
  }
};

inline ::testing::AssertionResult init_ctx(void** ctx) {
  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  ncclResult_t r = plugin().v11->init(ctx, 0x1234, &cfg, capture_logger, nullptr);
  if (r != ncclSuccess) return ::testing::AssertionFailure() << "init returned " << r;
  return ::testing::AssertionSuccess();
}

// Connects pair->send to pair->recv. op: connect-time setNetAttr op (0 = no hint).
inline ::testing::AssertionResult connect_pair(Pair* p, uint32_t op = 0x7C0, bool make_ctx = true) {
  ncclNet_v11_t* n = plugin().v11;
  if (make_ctx) {
    auto r = init_ctx(&p->ctx);
    if (!r) return r;
  }
  if (op != 0) {
    ncclNetAttr_v11_t attr;
    std::memset(&attr, 0xff, sizeof(attr));
    attr.op = op;
    n->setNetAttr(p->ctx, &attr);
  }
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  if (n->listen(p->ctx, 0, handle, &p->listen) != ncclSuccess || p->listen == nullptr) {
    return ::testing::AssertionFailure() << "listen failed";
  }
  std::memcpy(&p->handle, handle, sizeof(Handle));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (p->send == nullptr || p->recv == nullptr) {
    if (p->send == nullptr) {
      ++p->connect_calls;
      ncclNetDeviceHandle_v11_t* dev = nullptr;
      if (n->connect(p->ctx, 0, handle, &p->send, &dev) != ncclSuccess) {
        return ::testing::AssertionFailure() << "connect failed";
      }
    }
    if (p->recv == nullptr) {
      ncclNetDeviceHandle_v11_t* dev = nullptr;
      if (n->accept(p->listen, &p->recv, &dev) != ncclSuccess) {
        return ::testing::AssertionFailure() << "accept failed";
      }
    }
    if (Clock::now() > deadline) return ::testing::AssertionFailure() << "connect timed out";
  }
  n->closeListen(p->listen);
  p->listen = nullptr;
  return ::testing::AssertionSuccess();
}

// Polls test() until done or error or timeout. Returns the result code; *size the reported size.
inline ncclResult_t wait_request(void* req, int* size, double timeout_s = 30.0) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int done = 0;
    int sz = -1;
    ncclResult_t r = plugin().v11->test(req, &done, &sz);
    if (r != ncclSuccess) return r;
    if (done) {
      if (size) *size = sz;
      return ncclSuccess;
    }
    if (Clock::now() > deadline) return ncclInProgress;
    std::this_thread::yield();
  }
}

// Tests a send and a receive in turn until both are done, as NCCL's proxy does: with inline
// progress (NCCL_SQUEEZE_THREADS=0) the bytes only move inside test(), so waiting for a large send
// alone, without ever testing its receive, could never finish. *recv_size gets the receive's size.
inline ncclResult_t wait_pair(void* send_req, void* recv_req, int* recv_size,
                              double timeout_s = 30.0) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  bool send_done = false, recv_done = false;
  while (!send_done || !recv_done) {
    int done = 0;
    int sz = -1;
    if (!send_done) {
      ncclResult_t r = plugin().v11->test(send_req, &done, &sz);
      if (r != ncclSuccess) return r;
      send_done = done != 0;
    }
    if (!recv_done) {
      done = 0;
      ncclResult_t r = plugin().v11->test(recv_req, &done, &sz);
      if (r != ncclSuccess) return r;
      recv_done = done != 0;
      if (recv_done && recv_size) *recv_size = sz;
    }
    if (Clock::now() > deadline) return ncclInProgress;
    if (!send_done || !recv_done) std::this_thread::yield();
  }
  return ncclSuccess;
}

inline uint64_t test_seed() {
  const char* s = std::getenv("SQUEEZE_TEST_SEED");
  uint64_t seed = s ? std::strtoull(s, nullptr, 0)
                    : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  std::printf("random seed %llu (rerun with SQUEEZE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace sqtest
