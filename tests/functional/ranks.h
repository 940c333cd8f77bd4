// Multi-process functional tests of the plugin, in the style of aws-ofi-nccl's functional suite
// (two MPI ranks driving the exported v11 table), without MPI: each rank is a forked child that
// dlopens the built plugin itself (fresh process, fresh plugin state) and drives it as NCCL's proxy
// does. Ranks exchange connection handles and meet at barriers over socketpairs made before the
// fork (the "bootstrap"). A rank that fails, crashes or does not finish in time fails the test,
// and the report says which rank and why (a rank past its deadline is a hang).
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nccl_abi/net.h"

#ifndef SQUEEZE_PLUGIN_PATH
#error "SQUEEZE_PLUGIN_PATH must name the built plugin"
#endif

namespace sqfunc {

using Clock = std::chrono::steady_clock;

// ---- inside a rank ----------------------------------------------------------------------------

inline int& my_rank() {
  static int r = -1;
  return r;
}

// A failed check inside a rank: prints where and why, then ends the rank's process with status 1.
[[noreturn]] inline void rank_fail(const char* file, int line, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "rank %d: %s:%d: %s\n", my_rank(), file, line, buf);
  std::fflush(stderr);
  _exit(1);
}

#define RCHECK(cond, ...)                                                 \
  do {                                                                    \
    if (!(cond)) ::sqfunc::rank_fail(__FILE__, __LINE__, "" __VA_ARGS__); \
  } while (0)
#define RCHECK_NCCL(call)                                                         \
  do {                                                                            \
    ncclResult_t rc_ = (call);                                                    \
    if (rc_ != ncclSuccess)                                                       \
      ::sqfunc::rank_fail(__FILE__, __LINE__, "%s returned %d", #call, (int)rc_); \
  } while (0)

// One end of a socketpair between two ranks: exact-size messages and barriers.
struct Channel {
  int fd = -1;
  void send(const void* p, size_t n) const {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
      RCHECK(k > 0, "bootstrap send failed: %s", std::strerror(errno));
      c += k;
      n -= static_cast<size_t>(k);
    }
  }
  void recv(void* p, size_t n) const {
    char* c = static_cast<char*>(p);
    while (n > 0) {
      ssize_t k = ::recv(fd, c, n, 0);
      RCHECK(k > 0, "bootstrap recv failed (peer rank gone?)");
      c += k;
      n -= static_cast<size_t>(k);
    }
  }
  // Exchanges n bytes with the peer (both send first: a socketpair buffers them).
  void exchange(const void* mine, void* theirs, size_t n) const {
    send(mine, n);
    recv(theirs, n);
  }
  void barrier() const {
    char token = 'b', got = 0;
    exchange(&token, &got, 1);
    RCHECK(got == 'b', "bootstrap out of step");
  }
};

// The plugin's exported table, loaded the way NCCL loads it.
inline ncclNet_v11_t* net() {
  static ncclNet_v11_t* table = [] {
    void* lib = dlopen(SQUEEZE_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    RCHECK(lib != nullptr, "dlopen(%s): %s", SQUEEZE_PLUGIN_PATH, dlerror());
    auto* t = static_cast<ncclNet_v11_t*>(dlsym(lib, "ncclNetPlugin_v11"));
    RCHECK(t != nullptr, "ncclNetPlugin_v11 not exported");
    return t;
  }();
  return table;
}

inline std::string stats_json() {
  static auto fn = reinterpret_cast<size_t (*)(char*, size_t)>(
      dlsym(dlopen(SQUEEZE_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL), "squeeze_get_stats_json"));
  RCHECK(fn != nullptr, "squeeze_get_stats_json not exported");
  std::string s(fn(nullptr, 0) + 1, '\0');
  fn(&s[0], s.size());
  s.resize(s.size() - 1);
  return s;
}

// The plugin's WARN lines in this rank, for checks of what a failure says.
struct RankLog {
  std::mutex mu;
  std::vector<std::string> warnings;
};
inline RankLog& rank_log() {
  static RankLog log;
  return log;
}
inline bool warned(const std::string& a, const std::string& b = "") {
  std::lock_guard<std::mutex> lock(rank_log().mu);
  for (const std::string& l : rank_log().warnings)
    if (l.find(a) != std::string::npos && (b.empty() || l.find(b) != std::string::npos))
      return true;
  return false;
}

inline void rank_logger(ncclDebugLogLevel level, unsigned long, const char* file, int line,
                        const char* fmt, ...) {
  if (level != NCCL_LOG_WARN && std::getenv("SQUEEZE_TEST_VERBOSE") == nullptr) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (level == NCCL_LOG_WARN) {
    std::lock_guard<std::mutex> lock(rank_log().mu);
    rank_log().warnings.push_back(buf);
  }
  std::fprintf(stderr, "rank %d [plugin %s:%d] %s\n", my_rank(), file, line, buf);
}

inline void* init_context() {
  void* ctx = nullptr;
  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  RCHECK_NCCL(net()->init(&ctx, 0x5157, &cfg, rank_logger, nullptr));
  // A p2p connection hint, as NCCL gives for all-to-all connections.
  ncclNetAttr_v11_t attr;
  std::memset(&attr, 0xff, sizeof(attr));
  attr.op = 0x7C0;
  RCHECK_NCCL(net()->setNetAttr(ctx, &attr));
  return ctx;
}

inline ncclNetProperties_v11_t properties(int dev = 0) {
  ncclNetProperties_v11_t p{};
  RCHECK_NCCL(net()->getProperties(dev, &p));
  return p;
}

// A connected send comm to the peer and receive comm from it. Both ranks listen, swap handles,
// then drive connect and accept in one loop (neither may block, as in NCCL's proxy).
struct Link {
  void* send = nullptr;
  void* recv = nullptr;
  void close() {
    if (send) RCHECK_NCCL(net()->closeSend(send));
    if (recv) RCHECK_NCCL(net()->closeRecv(recv));
    send = recv = nullptr;
  }
};

inline Link connect_link(void* ctx, const Channel& ch, double timeout_s = 20.0) {
  char mine[NCCL_NET_HANDLE_MAXSIZE] = {}, theirs[NCCL_NET_HANDLE_MAXSIZE] = {};
  void* listen = nullptr;
  RCHECK_NCCL(net()->listen(ctx, 0, mine, &listen));
  RCHECK(listen != nullptr, "listen returned no comm");
  ch.exchange(mine, theirs, sizeof(mine));
  Link l;
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (l.send == nullptr || l.recv == nullptr) {
    if (l.send == nullptr) {
      ncclNetDeviceHandle_v11_t* dev = nullptr;
      RCHECK_NCCL(net()->connect(ctx, 0, theirs, &l.send, &dev));
    }
    if (l.recv == nullptr) {
      ncclNetDeviceHandle_v11_t* dev = nullptr;
      RCHECK_NCCL(net()->accept(listen, &l.recv, &dev));
    }
    RCHECK(Clock::now() < deadline, "connect/accept did not finish in %.0f s", timeout_s);
  }
  RCHECK_NCCL(net()->closeListen(listen));
  return l;
}

// ---- in the test process -----------------------------------------------------------------------

// Runs body(rank, channels) in n_ranks forked processes. channels[k] connects this rank to its
// peer (ranks 0 and 1; with more ranks, rank r's channels go to r ^ 1) - several channels so that
// threads of a rank can each have their own. Fails when a rank fails, dies on a signal or is
// still running after timeout_s (killed, reported as a hang).
inline ::testing::AssertionResult run_ranks(
    int n_ranks, double timeout_s,
    const std::function<void(int rank, const std::vector<Channel>& channels)>& body,
    int channels_per_pair = 8) {
  std::vector<std::vector<Channel>> chans(static_cast<size_t>(n_ranks));
  for (int r = 0; r + 1 < n_ranks; r += 2) {
    for (int c = 0; c < channels_per_pair; ++c) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return ::testing::AssertionFailure() << "socketpair: " << std::strerror(errno);
      chans[static_cast<size_t>(r)].push_back(Channel{sv[0]});
      chans[static_cast<size_t>(r + 1)].push_back(Channel{sv[1]});
    }
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids;
  for (int r = 0; r < n_ranks; ++r) {
    pid_t pid = fork();
    if (pid < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
    if (pid == 0) {
      my_rank() = r;
      for (int o = 0; o < n_ranks; ++o)
        if (o != r)
          for (Channel& c : chans[static_cast<size_t>(o)]) ::close(c.fd);
      body(r, chans[static_cast<size_t>(r)]);
      std::fflush(stdout);
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (auto& v : chans)
    for (Channel& c : v) ::close(c.fd);
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  std::vector<bool> reaped(pids.size(), false);
  size_t left = pids.size();
  while (left > 0) {
    for (size_t k = 0; k < pids.size(); ++k) {
      if (reaped[k]) continue;
      int status = 0;
      pid_t w = waitpid(pids[k], &status, WNOHANG);
      if (w == 0) continue;
      reaped[k] = true;
      --left;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
      if (result) result = ::testing::AssertionFailure();
      if (WIFSIGNALED(status)) {
        result << "rank " << k << " died on signal " << WTERMSIG(status) << "; ";
      } else {
        result << "rank " << k << " failed (exit " << WEXITSTATUS(status) << "); ";
      }
    }
    if (left == 0) break;
    if (Clock::now() > deadline) {
      for (size_t k = 0; k < pids.size(); ++k) {
        if (reaped[k]) continue;
        kill(pids[k], SIGKILL);
        waitpid(pids[k], nullptr, 0);
        if (result) result = ::testing::AssertionFailure();
        result << "rank " << k << " HUNG (still running after " << timeout_s << " s, killed); ";
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return result;
}

}  // namespace sqfunc
