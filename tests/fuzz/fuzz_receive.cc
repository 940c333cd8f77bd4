// libFuzzer target for the receiving side of the plugin: everything that arrives on a
// connection's sockets after the handshake (message headers, lengths, payloads, codec frames) is
// the fuzzer's input, written by a raw peer (the format is in receive_input.h), while the
// receiver drives the plugin's exported v11 table as NCCL's proxy does: irecv, test, closeRecv.
//
// The plugin is built into this program from its sources (the core, the v11 table and the codec,
// all instrumented for coverage and ASan + UBSan) rather than dlopened as the built .so: libFuzzer
// steers by the coverage of the code under test and ASan checks only instrumented accesses, and
// an uninstrumented .so would give neither. The table driven is the same ncclNetPlugin_v11 the .so
// exports (plugin/api/net_v11.cc).
//
// One process serves every input: one context and one listen comm (as NCCL reuses a listener for
// several connections); each input gets a fresh connection through accept() and closes it. Inline
// progress (NCCL_SQUEEZE_THREADS=0, CODEC_THREADS=0) keeps every byte on this thread, so nothing
// outlives an input. Checks per input: every receive settles (done or an error) in bounded time
// once the peer has gone; a done receive reports no more than its posted capacity; the descriptors
// the process holds afterwards are exactly those it held before (no leaked socket). ASan and UBSan
// catch out-of-bounds accesses, LSan leaks.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nccl_abi/net.h"
#include "plugin/transport/wire.h"
#include "tests/fuzz/receive_input.h"

extern "C" ncclNet_v11_t ncclNetPlugin_v11;

namespace {

namespace wire = squeeze::plugin::wire;
using Clock = std::chrono::steady_clock;
using sqfuzz::kSockets;

[[noreturn]] void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "fuzz_receive: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::abort();
}

bool g_verbose = false;

void logger(ncclDebugLogLevel level, unsigned long, const char*, int, const char* fmt, ...) {
  if (!g_verbose) return;
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "[plugin %s] ", level == NCCL_LOG_WARN ? "WARN" : "INFO");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
}

// Sockets this process holds (the fuzzing runtime opens pipes and files of its own now and then;
// the plugin opens nothing but sockets).
int open_sockets() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) fatal("cannot list /proc/self/fd");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (readlink(path.c_str(), link, sizeof(link) - 1) > 0 && std::strncmp(link, "socket:", 7) == 0)
      ++n;
  }
  closedir(d);
  return n;
}

// Prints what each open descriptor is (for a leak report).
void list_descriptors() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char link[256] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (readlink(path.c_str(), link, sizeof(link) - 1) < 0) continue;
    std::fprintf(stderr, "  fd %s -> %s\n", e->d_name, link);
  }
  closedir(d);
}

struct Global {
  ncclNet_v11_t* net = &ncclNetPlugin_v11;
  void* ctx = nullptr;
  void* listen = nullptr;
  wire::Handle handle{};
  int baseline_fds = 0;
  uint64_t inputs = 0;
};

Global& global() {
  static Global g = [] {
    Global x;
    g_verbose = std::getenv("SQUEEZE_FUZZ_VERBOSE") != nullptr;
    setenv("NCCL_SQUEEZE_IFNAME", "lo", 1);
    setenv("NCCL_SQUEEZE_THREADS", "0", 1);
    setenv("NCCL_SQUEEZE_CODEC_THREADS", "0", 1);
    setenv("NCCL_SQUEEZE_SOCKETS", std::to_string(kSockets).c_str(), 1);
    setenv("NCCL_SQUEEZE_STAGING_MB", "1", 1);
    setenv("NCCL_SQUEEZE_TIMEOUT_S", "1", 1);
    setenv("NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S", "5", 1);
    setenv("NCCL_SQUEEZE_STATS", "0", 1);
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    if (x.net->init(&x.ctx, 0xf022, &cfg, logger, nullptr) != ncclSuccess) fatal("init failed");
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
    if (x.net->listen(x.ctx, 0, handle, &x.listen) != ncclSuccess || x.listen == nullptr)
      fatal("listen failed");
    std::memcpy(&x.handle, handle, sizeof(x.handle));
    if (x.handle.n_sockets != kSockets) fatal("listener has %d data sockets", x.handle.n_sockets);
    x.baseline_fds = open_sockets();
    return x;
  }();
  return g;
}

// Blocking calls here are interrupted by libFuzzer's timer signal (-timeout): EINTR is retried.
bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// The raw peer: control socket (index kSockets here) and data sockets 0..kSockets-1.
struct Peer {
  int fd[kSockets + 1];
  Peer() {
    for (int& f : fd) f = -1;
  }
  ~Peer() { close_all(false); }
  void close_one(int s, bool reset) {
    if (fd[s] < 0) return;
    if (reset) {
      linger l{1, 0};
      setsockopt(fd[s], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    ::close(fd[s]);
    fd[s] = -1;
  }
  void close_all(bool reset) {
    for (int s = 0; s <= kSockets; ++s) close_one(s, reset);
  }
};

// Opens the peer's sockets and sends the Hellos (Hello index 0 is the control socket).
void open_peer(const wire::Handle& h, Peer* peer) {
  static uint64_t token = 0x5eed0000;
  ++token;
  for (int i = 0; i <= kSockets; ++i) {
    int fd = ::socket(h.addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal("socket: %s", std::strerror(errno));
    if (::connect(fd, &h.addr.sa, squeeze::plugin::sockaddr_len(h.addr)) != 0) {
      // An interrupted connect goes on in the background: wait until the socket is writable.
      if (errno != EINTR) fatal("connect to the listener: %s", std::strerror(errno));
      pollfd p{fd, POLLOUT, 0};
      int r;
      do r = ::poll(&p, 1, 5000);
      while (r < 0 && errno == EINTR);
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (r <= 0 || err != 0) fatal("connect to the listener: %s", std::strerror(err));
    }
    wire::Hello hello{wire::kHelloMagic, h.version, static_cast<uint16_t>(i), h.nonce, token};
    if (!write_all(fd, &hello, sizeof(hello))) fatal("sending a Hello failed");
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    peer->fd[i == 0 ? kSockets : i - 1] = fd;
  }
}

void* accept_comm(const Global& g, Peer* peer) {
  void* comm = nullptr;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (comm == nullptr) {
    if (g.net->accept(g.listen, &comm, nullptr) != ncclSuccess) fatal("accept failed");
    if (Clock::now() > deadline) fatal("accept did not complete a valid handshake in 5 s");
  }
  // The Ack is in the kernel once accept returned the comm; read it, so that closing the control
  // socket later sends a FIN and not a reset for unread bytes.
  wire::Ack ack{};
  size_t got = 0;
  while (got < sizeof(ack)) {
    pollfd p{peer->fd[kSockets], POLLIN, 0};
    const int r = ::poll(&p, 1, 2000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fatal("no Ack");
    ssize_t k =
        ::recv(peer->fd[kSockets], reinterpret_cast<char*>(&ack) + got, sizeof(ack) - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) fatal("control socket closed before the Ack");
    got += static_cast<size_t>(k);
  }
  if (ack.magic != wire::kAckMagic || ack.status != 0) fatal("bad Ack");
  for (int& fd : peer->fd) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return comm;
}

struct Receive {
  enum class State { kUnposted, kPending, kDone } state = State::kUnposted;
  size_t capacity = 0;
  char* buf = nullptr;
  void* mh = nullptr;
  void* req = nullptr;
};

class Run {
 public:
  Run(Global& g, const uint8_t* data, size_t size)
      : g_(g), data_(data), size_(size), prefix_(sqfuzz::parse_prefix(data)) {}

  void go() {
    open_peer(g_.handle, &peer_);
    comm_ = accept_comm(g_, &peer_);
    recvs_.resize(static_cast<size_t>(prefix_.receives));
    size_t cap = prefix_.capacity;
    for (Receive& r : recvs_) {
      r.capacity = cap;
      // Exactly the posted capacity (ASan's redzones sit right after it), never NULL.
      r.buf = static_cast<char*>(std::malloc(cap > 0 ? cap : 1));
      if (g_.net->regMr(comm_, r.buf, cap, NCCL_PTR_HOST, &r.mh) != ncclSuccess)
        fatal("regMr failed");
      if (prefix_.halve) cap /= 2;
    }
    pos_ = sqfuzz::kPrefixBytes;
    const auto start = Clock::now();
    for (;;) {
      if (!records_done_) peer_step();
      if (records_done_) end_stream();
      receiver_step();
      if (settled()) break;
      const auto now = Clock::now();
      // Once the peer is gone, everything must settle quickly (no stall timeout is involved: the
      // receiver sees the end of the stream). The harness itself never waits longer than this.
      if (ended_ && now - ended_at_ > std::chrono::seconds(4))
        fatal("hang: %zu receive(s) still pending %.1f s after the peer closed its sockets",
              pending_count(), std::chrono::duration<double>(now - ended_at_).count());
      if (now - start > std::chrono::seconds(10)) fatal("hang: input not settled in 10 s");
    }
    finish();
  }

 private:
  size_t pending_count() const {
    size_t n = 0;
    for (const Receive& r : recvs_) n += r.state != Receive::State::kDone;
    return n;
  }
  bool settled() const {
    if (failed_ || comm_ == nullptr) return true;
    for (const Receive& r : recvs_)
      if (r.state != Receive::State::kDone) return false;
    return true;
  }

  // Moves the peer's bytes as far as the kernel takes them now; at the end of the records, the
  // end action.
  void peer_step() {
    if (drive_ > 0) {
      --drive_;
      return;
    }
    while (!records_done_) {
      if (rec_left_ == 0 && !next_record()) break;
      if (rec_left_ == 0) continue;
      int fd = peer_.fd[rec_socket_];
      if (fd < 0) {  // closed or shut down by an earlier record: the bytes are dropped
        rec_ptr_ += rec_left_;
        rec_left_ = 0;
        continue;
      }
      ssize_t k = ::send(fd, rec_ptr_, rec_left_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        rec_ptr_ += k;
        rec_left_ -= static_cast<size_t>(k);
        last_write_ = Clock::now();
        continue;
      }
      if (k < 0 && errno == EINTR) return;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // The receiver reads another socket first (or nothing): a real peer would block here
        // too. After a while the peer gives up and goes away, which the receiver must survive.
        if (Clock::now() - last_write_ > std::chrono::milliseconds(100)) records_done_ = true;
        return;
      }
      peer_.close_one(rec_socket_, false);  // reset by the receiver
    }
  }

  // Reads the next record. False when the input is exhausted.
  bool next_record() {
    if (pos_ >= size_) {
      records_done_ = true;
      return false;
    }
    const uint8_t op = data_[pos_++];
    if (op == sqfuzz::kOpShutdown || op == sqfuzz::kOpDrive) {
      if (pos_ >= size_) return true;
      const uint8_t arg = data_[pos_++];
      if (op == sqfuzz::kOpDrive) {
        drive_ = arg;
        records_done_ = false;
        return false;  // let the receiver run first
      }
      const int s = arg % (kSockets + 1);
      if (peer_.fd[s] >= 0) ::shutdown(peer_.fd[s], SHUT_WR);
      return true;
    }
    if (op > sqfuzz::kOpDrive) return true;
    rec_socket_ = op % (kSockets + 1);
    size_t len = 0;
    if (pos_ < size_) len = data_[pos_++];
    if (pos_ < size_) len |= static_cast<size_t>(data_[pos_++]) << 8;
    if (len > size_ - pos_) len = size_ - pos_;
    rec_ptr_ = data_ + pos_;
    rec_left_ = len;
    pos_ += len;
    last_write_ = Clock::now();
    return true;
  }

  void end_stream() {
    using sqfuzz::EndAction;
    if (end_phase_ == 0) {
      ended_ = true;
      ended_at_ = Clock::now();
      switch (prefix_.end) {
        case EndAction::kClose:
          peer_.close_all(false);
          break;
        case EndAction::kReset:
          peer_.close_all(true);
          break;
        case EndAction::kCloseControl:
          peer_.close_one(kSockets, false);
          break;
        case EndAction::kShutdownData:
          for (int s = 0; s < kSockets; ++s)
            if (peer_.fd[s] >= 0) ::shutdown(peer_.fd[s], SHUT_WR);
          break;
      }
    }
    // The half-way end actions close everything after the receiver ran a few times.
    if (end_phase_ < 20 && ++end_phase_ == 20) peer_.close_all(false);
  }

  void receiver_step() {
    if (comm_ == nullptr || failed_) return;
    ncclNet_v11_t* n = g_.net;
    bool any_pending = false;
    for (Receive& r : recvs_) any_pending |= r.state == Receive::State::kPending;
    for (Receive& r : recvs_) {
      if (r.state != Receive::State::kUnposted) continue;
      if (!prefix_.post_all && any_pending) break;
      void* data = r.buf;
      size_t sz = r.capacity;
      int tag = 1;
      void* ph = nullptr;
      void* req = reinterpret_cast<void*>(0x1);  // NCCL may leave this there: must be overwritten
      if (n->irecv(comm_, 1, &data, &sz, &tag, &r.mh, &ph, &req) != ncclSuccess) {
        failed_ = true;
        return;
      }
      if (req == reinterpret_cast<void*>(0x1)) fatal("irecv left *request unwritten");
      if (req == nullptr) break;  // not now: retried on the next step
      r.req = req;
      r.state = Receive::State::kPending;
      any_pending = true;
      if (!prefix_.post_all) break;
    }
    for (size_t k = 0; k < recvs_.size(); ++k) {
      Receive& r = recvs_[k];
      if (r.state != Receive::State::kPending) continue;
      int done = 0;
      int got = -1;
      if (n->test(r.req, &done, &got) != ncclSuccess) {
        failed_ = true;
        return;
      }
      if (!done) continue;
      if (got < 0 || static_cast<size_t>(got) > r.capacity)
        fatal("receive %zu done with %d bytes, posted for %zu", k, got, r.capacity);
      r.state = Receive::State::kDone;
      if (prefix_.close_early) {
        close_comm();
        return;
      }
    }
  }

  void close_comm() {
    if (comm_ == nullptr) return;
    for (Receive& r : recvs_) {
      if (r.mh != nullptr && g_.net->deregMr(comm_, r.mh) != ncclSuccess) fatal("deregMr failed");
      r.mh = nullptr;
    }
    if (g_.net->closeRecv(comm_) != ncclSuccess) fatal("closeRecv failed");
    comm_ = nullptr;
  }

  void finish() {
    if (g_verbose)
      std::fprintf(stderr, "fuzz_receive: %zu of %zu receive(s) done%s%s\n",
                   recvs_.size() - pending_count(), recvs_.size(), failed_ ? ", then an error" : "",
                   comm_ == nullptr ? ", closed early" : "");
    close_comm();
    peer_.close_all(false);
    for (Receive& r : recvs_) std::free(r.buf);
    recvs_.clear();
    const int fds = open_sockets();
    if (fds != g_.baseline_fds) {
      list_descriptors();
      fatal("descriptor leak: %d sockets open after the input, %d before", fds, g_.baseline_fds);
    }
  }

  Global& g_;
  const uint8_t* data_;
  size_t size_;
  sqfuzz::Prefix prefix_;
  Peer peer_;
  void* comm_ = nullptr;
  std::vector<Receive> recvs_;
  bool failed_ = false;
  // Peer state.
  size_t pos_ = 0;
  int rec_socket_ = 0;
  const uint8_t* rec_ptr_ = nullptr;
  size_t rec_left_ = 0;
  bool records_done_ = false;
  int drive_ = 0;
  bool ended_ = false;
  int end_phase_ = 0;
  Clock::time_point ended_at_{};
  Clock::time_point last_write_ = Clock::now();
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  global();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < sqfuzz::kPrefixBytes) return -1;  // not kept in the corpus
  Global& g = global();
  ++g.inputs;
  Run run(g, data, size);
  run.go();
  return 0;
}
