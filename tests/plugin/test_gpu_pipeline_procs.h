// Two processes on one machine (and one GPU) exchanging messages through the built plugin over
// loopback, with device (cudaMalloc) or host buffers: the receiver listens, the sender connects,
// both drive the exported v11 table as NCCL's proxy does (up to `depth` requests in flight, test()
// on the oldest, NULL requests retried). Used by the GPU test (test_gpu_pipeline_device.cc) and
// the benchmark (tests/gpu/plugin_gpu_bench.cc). No GoogleTest here.
//
// The parent never calls CUDA: each child initialises CUDA itself after fork().
#pragma once

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nccl_abi/net.h"

namespace sqgpu {

struct RunConfig {
  bool device_buffers = true;
  std::vector<size_t> sizes;  // message i has sizes[i % sizes.size()] bytes
  int messages = 0;
  int depth = 8;
  // true: every message carries its own data (the sender refills the slot before posting it);
  // false: slot s is filled once (benchmarks), message i carries slot i % depth's data.
  bool refill = true;
  // Check of every received message: < 0 none, 0 bit-exact, > 0 |sent - received| <= check_bound
  // on every float32 element (in double); trailing bytes exact.
  double check_bound = 0.0;
  uint64_t seed = 1;
  std::vector<std::pair<std::string, std::string>> env;  // NCCL_SQUEEZE_* for both processes
  int timeout_s = 120;
};

struct SideResult {
  int ok = 0;
  double seconds = 0.0;  // first post to last completion
  uint64_t bytes = 0;    // uncompressed bytes moved
  double max_error = 0.0;
  char message[512] = {};
};

struct RunResult {
  bool ok = false;
  std::string error;
  SideResult send, recv;
};

inline uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The bytes of message `id`: float32 values in [-1, 1), then pseudo-random tail bytes.
inline void fill_message(uint64_t seed, uint64_t id, char* p, size_t bytes) {
  const uint64_t base = splitmix(seed ^ (id * 0x2545f4914f6cdd1dull));
  size_t k = 0;
  for (; k + 4 <= bytes; k += 4) {
    const uint64_t r = splitmix(base + k);
    const float v = static_cast<float>(static_cast<double>(r >> 40) / 8388608.0 - 1.0);
    std::memcpy(p + k, &v, 4);
  }
  for (; k < bytes; ++k) p[k] = static_cast<char>(splitmix(base + k) & 0xff);
}

inline void child_logger(ncclDebugLogLevel level, unsigned long, const char*, int, const char* fmt,
                         ...) {
  if (level != NCCL_LOG_WARN && std::getenv("SQUEEZE_TEST_VERBOSE") == nullptr) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "[pid %d] %s\n", static_cast<int>(getpid()), buf);
}

namespace detail {

using Clock = std::chrono::steady_clock;

inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
inline bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// read_all with a deadline (a hung child must not hang the parent).
inline bool read_until(int fd, void* p, size_t n, Clock::time_point deadline) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

inline int fail(SideResult* r, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(r->message, sizeof(r->message), fmt, ap);
  va_end(ap);
  r->ok = 0;
  return 1;
}

struct Side {
  void* lib = nullptr;
  ncclNet_v11_t* net = nullptr;
  void* ctx = nullptr;
  char* buffer = nullptr;  // depth slots of slot_bytes
  size_t slot_bytes = 0;
  void* mhandle = nullptr;
};

inline int open_side(const char* plugin_path, const RunConfig& cfg, Side* s, SideResult* res) {
  for (const auto& [name, value] : cfg.env) setenv(name.c_str(), value.c_str(), 1);
  s->lib = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
  if (s->lib == nullptr) return fail(res, "dlopen(%s): %s", plugin_path, dlerror());
  s->net = static_cast<ncclNet_v11_t*>(dlsym(s->lib, "ncclNetPlugin_v11"));
  if (s->net == nullptr) return fail(res, "no ncclNetPlugin_v11");
  ncclNetCommConfig_v11_t nc{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  if (s->net->init(&s->ctx, 1, &nc, child_logger, nullptr) != ncclSuccess) {
    return fail(res, "init failed");
  }
  ncclNetProperties_v11_t props{};
  if (s->net->getProperties(0, &props) != ncclSuccess) return fail(res, "getProperties failed");
  if (cfg.device_buffers && !(props.ptrSupport & NCCL_PTR_CUDA)) {
    return fail(res, "the plugin does not report NCCL_PTR_CUDA (ptrSupport %d)", props.ptrSupport);
  }
  s->slot_bytes = 0;
  for (size_t b : cfg.sizes) s->slot_bytes = b > s->slot_bytes ? b : s->slot_bytes;
  if (s->slot_bytes == 0) s->slot_bytes = 1;
  const size_t total = s->slot_bytes * static_cast<size_t>(cfg.depth);
  if (cfg.device_buffers) {
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&s->buffer), total);
    if (e != cudaSuccess) return fail(res, "cudaMalloc: %s", cudaGetErrorString(e));
  } else {
    s->buffer = static_cast<char*>(std::malloc(total));
    if (s->buffer == nullptr) return fail(res, "malloc of %zu bytes", total);
  }
  return 0;
}

inline int register_buffer(const RunConfig& cfg, Side* s, void* comm, SideResult* res) {
  const size_t total = s->slot_bytes * static_cast<size_t>(cfg.depth);
  if (s->net->regMr(comm, s->buffer, total, cfg.device_buffers ? NCCL_PTR_CUDA : NCCL_PTR_HOST,
                    &s->mhandle) != ncclSuccess) {
    return fail(res, "regMr(%s) failed", cfg.device_buffers ? "NCCL_PTR_CUDA" : "NCCL_PTR_HOST");
  }
  return 0;
}

inline size_t size_of(const RunConfig& cfg, int i) {
  return cfg.sizes[static_cast<size_t>(i) % cfg.sizes.size()];
}
inline uint64_t data_id(const RunConfig& cfg, int i) {
  return cfg.refill ? static_cast<uint64_t>(i) : static_cast<uint64_t>(i % cfg.depth);
}

// Fills slot s with message i's data.
inline int fill_slot(const RunConfig& cfg, Side* s, int i, std::vector<char>* host,
                     SideResult* res) {
  const size_t n = size_of(cfg, i);
  char* slot = s->buffer + static_cast<size_t>(i % cfg.depth) * s->slot_bytes;
  if (cfg.device_buffers) {
    fill_message(cfg.seed, data_id(cfg, i), host->data(), n);
    cudaError_t e = cudaMemcpy(slot, host->data(), n, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) return fail(res, "cudaMemcpy to device: %s", cudaGetErrorString(e));
    // From pageable memory cudaMemcpy may return before its DMA has reached the device, and the
    // plugin copies on a stream of its own that does not wait for the default one: without this
    // the plugin could send bytes the fill had not written yet (seen on an H200 as zeros). NCCL
    // posts a send only once the data is in the buffer; so does this harness.
    e = cudaDeviceSynchronize();
    if (e != cudaSuccess) return fail(res, "cudaDeviceSynchronize: %s", cudaGetErrorString(e));
  } else {
    fill_message(cfg.seed, data_id(cfg, i), slot, n);
  }
  return 0;
}

inline int check_slot(const RunConfig& cfg, Side* s, int i, std::vector<char>* got,
                      std::vector<char>* want, SideResult* res) {
  const size_t n = size_of(cfg, i);
  const char* slot = s->buffer + static_cast<size_t>(i % cfg.depth) * s->slot_bytes;
  if (cfg.device_buffers) {
    const cudaError_t e = cudaMemcpy(got->data(), slot, n, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) return fail(res, "cudaMemcpy to host: %s", cudaGetErrorString(e));
    slot = got->data();
  }
  fill_message(cfg.seed, data_id(cfg, i), want->data(), n);
  size_t k = 0;
  if (cfg.check_bound > 0.0) {
    for (; k + 4 <= n; k += 4) {
      float a, b;
      std::memcpy(&a, want->data() + k, 4);
      std::memcpy(&b, slot + k, 4);
      const double err = std::fabs(static_cast<double>(a) - static_cast<double>(b));
      if (!(err <= cfg.check_bound)) {
        return fail(res, "message %d element %zu: sent %.9g received %.9g, error %.3g > %.3g", i,
                    k / 4, a, b, err, cfg.check_bound);
      }
      if (err > res->max_error) res->max_error = err;
    }
  }
  for (; k < n; ++k) {
    if (want->data()[k] == slot[k]) continue;
    // What differs, to tell a stale region from a shifted or a truncated one.
    size_t n_diff = 0, last = k;
    for (size_t j = k; j < n; ++j) {
      if (want->data()[j] != slot[j]) {
        ++n_diff;
        last = j;
      }
    }
    return fail(res,
                "message %d (%zu bytes) byte %zu differs: sent 0x%02x received 0x%02x; %zu bytes "
                "differ, the last at %zu",
                i, n, k, static_cast<unsigned>(static_cast<unsigned char>(want->data()[k])),
                static_cast<unsigned>(static_cast<unsigned char>(slot[k])), n_diff, last);
  }
  return 0;
}

// done_fd: one byte to the sender once every message arrived. The sender closes only then, as
// NCCL's ranks close after the collective completed everywhere (a close while the peer's helper
// threads still finish the last message would fail that message).
inline int receiver(const char* plugin_path, const RunConfig& cfg, int handle_fd, int done_fd,
                    SideResult* res) {
  Side s;
  if (open_side(plugin_path, cfg, &s, res)) return 1;
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  void* listen = nullptr;
  if (s.net->listen(s.ctx, 0, handle, &listen) != ncclSuccess) return fail(res, "listen failed");
  if (!write_all(handle_fd, handle, sizeof(handle))) return fail(res, "handle pipe");
  void* comm = nullptr;
  const auto deadline = Clock::now() + std::chrono::seconds(cfg.timeout_s);
  while (comm == nullptr) {
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    if (s.net->accept(listen, &comm, &dev) != ncclSuccess) return fail(res, "accept failed");
    if (Clock::now() > deadline) return fail(res, "accept timed out");
  }
  s.net->closeListen(listen);
  if (register_buffer(cfg, &s, comm, res)) return 1;
  std::vector<char> got(s.slot_bytes), want(s.slot_bytes);
  std::vector<void*> reqs(static_cast<size_t>(cfg.messages), nullptr);
  int posted = 0, done = 0;
  const auto start = Clock::now();
  while (done < cfg.messages) {
    if (Clock::now() > deadline)
      return fail(res, "stuck after %d of %d messages", done, cfg.messages);
    if (posted < cfg.messages && posted < done + cfg.depth) {
      void* data = s.buffer + static_cast<size_t>(posted % cfg.depth) * s.slot_bytes;
      size_t capacity = s.slot_bytes;
      int tag = 1;
      ncclResult_t r = s.net->irecv(comm, 1, &data, &capacity, &tag, &s.mhandle, nullptr,
                                    &reqs[static_cast<size_t>(posted)]);
      if (r != ncclSuccess) return fail(res, "irecv %d returned %d", posted, r);
      if (reqs[static_cast<size_t>(posted)] != nullptr) ++posted;
    }
    if (done < posted) {
      int finished = 0, size = -1;
      ncclResult_t r = s.net->test(reqs[static_cast<size_t>(done)], &finished, &size);
      if (r != ncclSuccess) return fail(res, "test of receive %d returned %d", done, r);
      if (finished) {
        if (static_cast<size_t>(size) != size_of(cfg, done)) {
          return fail(res, "receive %d: size %d, sent %zu", done, size, size_of(cfg, done));
        }
        res->bytes += size_of(cfg, done);
        if (cfg.check_bound >= 0.0 && check_slot(cfg, &s, done, &got, &want, res)) return 1;
        ++done;
      }
    }
  }
  res->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const char byte = 1;
  write_all(done_fd, &byte, 1);
  s.net->deregMr(comm, s.mhandle);
  s.net->closeRecv(comm);
  s.net->finalize(s.ctx);
  res->ok = 1;
  return 0;
}

inline int sender(const char* plugin_path, const RunConfig& cfg, int handle_fd, int done_fd,
                  SideResult* res) {
  Side s;
  if (open_side(plugin_path, cfg, &s, res)) return 1;
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  if (!read_all(handle_fd, handle, sizeof(handle))) return fail(res, "handle pipe");
  ncclNetAttr_v11_t attr;
  std::memset(&attr, 0xff, sizeof(attr));
  attr.op = 0x7C0;  // NCCL's p2p connection hint
  s.net->setNetAttr(s.ctx, &attr);
  void* comm = nullptr;
  const auto deadline = Clock::now() + std::chrono::seconds(cfg.timeout_s);
  while (comm == nullptr) {
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    if (s.net->connect(s.ctx, 0, handle, &comm, &dev) != ncclSuccess) {
      return fail(res, "connect failed");
    }
    if (Clock::now() > deadline) return fail(res, "connect timed out");
  }
  if (register_buffer(cfg, &s, comm, res)) return 1;
  std::vector<char> host(s.slot_bytes);
  if (!cfg.refill) {
    for (int i = 0; i < cfg.depth && i < cfg.messages; ++i) {
      if (fill_slot(cfg, &s, i, &host, res)) return 1;
    }
  }
  std::vector<void*> reqs(static_cast<size_t>(cfg.messages), nullptr);
  int posted = 0, done = 0;
  bool filled = !cfg.refill;
  const auto start = Clock::now();
  while (done < cfg.messages) {
    if (Clock::now() > deadline)
      return fail(res, "stuck after %d of %d messages", done, cfg.messages);
    if (posted < cfg.messages && posted < done + cfg.depth) {
      if (!filled && fill_slot(cfg, &s, posted, &host, res)) return 1;
      filled = true;
      void* data = s.buffer + static_cast<size_t>(posted % cfg.depth) * s.slot_bytes;
      ncclResult_t r = s.net->isend(comm, data, size_of(cfg, posted), 1, s.mhandle, nullptr,
                                    &reqs[static_cast<size_t>(posted)]);
      if (r != ncclSuccess) return fail(res, "isend %d returned %d", posted, r);
      if (reqs[static_cast<size_t>(posted)] != nullptr) {
        ++posted;
        filled = !cfg.refill;
      }
    }
    if (done < posted) {
      int finished = 0;
      ncclResult_t r = s.net->test(reqs[static_cast<size_t>(done)], &finished, nullptr);
      if (r != ncclSuccess) return fail(res, "test of send %d returned %d", done, r);
      if (finished) {
        res->bytes += size_of(cfg, done);
        ++done;
      }
    }
  }
  res->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  char byte = 0;
  if (!read_until(done_fd, &byte, 1, deadline)) return fail(res, "the receiver never finished");
  s.net->deregMr(comm, s.mhandle);
  s.net->closeSend(comm);
  s.net->finalize(s.ctx);
  res->ok = 1;
  return 0;
}

// Forks a child that runs f(result) and sends the result back through a pipe.
template <class F>
pid_t spawn(F f, int* result_fd) {
  int p[2];
  if (pipe(p) != 0) return -1;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    SideResult r;
    f(&r);
    write_all(p[1], &r, sizeof(r));
    close(p[1]);
    _exit(r.ok ? 0 : 1);
  }
  close(p[1]);
  *result_fd = p[0];
  return pid;
}

inline bool wait_child(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return true;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace detail

// Whether a child process finds a CUDA device (the caller has not touched CUDA). *why on false.
inline bool cuda_device_present(std::string* why) {
  int fd = -1;
  pid_t pid = detail::spawn(
      [](SideResult* r) {
        int n = 0;
        const cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess) {
          std::snprintf(r->message, sizeof(r->message), "cudaGetDeviceCount: %s",
                        cudaGetErrorString(e));
        } else if (n == 0) {
          std::snprintf(r->message, sizeof(r->message), "no CUDA device");
        } else {
          r->ok = 1;
        }
      },
      &fd);
  if (pid < 0) {
    *why = "fork failed";
    return false;
  }
  SideResult r;
  const auto deadline = detail::Clock::now() + std::chrono::seconds(60);
  const bool got = detail::read_until(fd, &r, sizeof(r), deadline);
  close(fd);
  detail::wait_child(pid, deadline);
  if (!got) {
    *why = "the CUDA probe process died";
    return false;
  }
  if (!r.ok) *why = r.message;
  return r.ok != 0;
}

inline RunResult run_two_processes(const char* plugin_path, const RunConfig& cfg) {
  RunResult out;
  int handle_pipe[2], done_pipe[2];
  if (pipe(handle_pipe) != 0 || pipe(done_pipe) != 0) {
    out.error = "pipe failed";
    return out;
  }
  int recv_fd = -1, send_fd = -1;
  pid_t receiver_pid = detail::spawn(
      [&](SideResult* r) {
        close(handle_pipe[0]);
        close(done_pipe[0]);
        detail::receiver(plugin_path, cfg, handle_pipe[1], done_pipe[1], r);
      },
      &recv_fd);
  pid_t sender_pid = detail::spawn(
      [&](SideResult* r) {
        close(handle_pipe[1]);
        close(done_pipe[1]);
        detail::sender(plugin_path, cfg, handle_pipe[0], done_pipe[0], r);
      },
      &send_fd);
  close(handle_pipe[0]);
  close(handle_pipe[1]);
  close(done_pipe[0]);
  close(done_pipe[1]);
  const auto deadline = detail::Clock::now() + std::chrono::seconds(cfg.timeout_s + 30);
  const bool got_recv = detail::read_until(recv_fd, &out.recv, sizeof(out.recv), deadline);
  const bool got_send = detail::read_until(send_fd, &out.send, sizeof(out.send), deadline);
  close(recv_fd);
  close(send_fd);
  const bool recv_exited = detail::wait_child(receiver_pid, deadline);
  const bool send_exited = detail::wait_child(sender_pid, deadline);
  if (!got_recv || !recv_exited) {
    out.error = "the receiver process died or hung";
  } else if (!got_send || !send_exited) {
    out.error = "the sender process died or hung";
  } else if (!out.recv.ok) {
    out.error = std::string("receiver: ") + out.recv.message;
  } else if (!out.send.ok) {
    out.error = std::string("sender: ") + out.send.message;
  }
  out.ok = out.error.empty();
  return out;
}

}  // namespace sqgpu
