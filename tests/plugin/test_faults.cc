// Faults: stray connections with a wrong nonce, truncated and corrupt messages from a raw peer
// that passed the handshake, a peer process that dies mid-transfer (both directions), and the
// stall timeout. Every failure must be an error naming the peer, within a bounded time.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "harness.h"
#include "raw_peer.h"

namespace sqtest {
namespace {

// A v11 context with a listener; the raw peer plays the sender.
struct RecvSide {
  void* ctx = nullptr;
  void* listen = nullptr;
  void* recv = nullptr;
  void* mh = nullptr;
  Handle handle{};
  std::vector<uint8_t> buf;

  explicit RecvSide(size_t bytes) : buf(bytes, 0) {
    EXPECT_TRUE(init_ctx(&ctx));
    char h[NCCL_NET_HANDLE_MAXSIZE] = {};
    EXPECT_EQ(plugin().v11->listen(ctx, 0, h, &listen), ncclSuccess);
    std::memcpy(&handle, h, sizeof(handle));
  }
  // Polls accept until the raw sender's group is complete.
  bool accept_from(RawSender* raw) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (recv == nullptr && Clock::now() < deadline) {
      if (plugin().v11->accept(listen, &recv, nullptr) != ncclSuccess) return false;
    }
    if (recv == nullptr || (raw != nullptr && !raw->finish_handshake())) return false;
    return plugin().v11->regMr(recv, buf.data(), buf.size(), NCCL_PTR_HOST, &mh) == ncclSuccess;
  }
  void* post(size_t size, int tag) {
    void* req = nullptr;
    void* data = buf.data();
    void* ph = nullptr;
    EXPECT_EQ(plugin().v11->irecv(recv, 1, &data, &size, &tag, &mh, &ph, &req), ncclSuccess);
    return req;
  }
  ~RecvSide() {
    ncclNet_v11_t* n = plugin().v11;
    if (mh) n->deregMr(recv, mh);
    if (recv) n->closeRecv(recv);
    if (listen) n->closeListen(listen);
    n->finalize(ctx);
  }
};

// Waits for the request to fail; returns the error (ncclSuccess if it completed instead).
ncclResult_t wait_failure(void* req, double timeout_s, double* took_s) {
  auto start = Clock::now();
  ncclResult_t r = wait_request(req, nullptr, timeout_s);
  *took_s = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

TEST(Faults, WrongNonceRefusedListenerKeepsWorking) {
  RecvSide rs(4096);
  clear_log();
  int stray = raw_connect(rs.handle, rs.handle.nonce ^ 0x5a5a, 0, 1);
  ASSERT_GE(stray, 0);
  // The listener closes the stray socket and gives no comm.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  bool closed = false;
  while (!closed && Clock::now() < deadline) {
    ASSERT_EQ(plugin().v11->accept(rs.listen, &rs.recv, nullptr), ncclSuccess);
    EXPECT_EQ(rs.recv, nullptr);
    pollfd p{stray, POLLIN, 0};
    if (poll(&p, 1, 10) > 0) {
      char c;
      closed = recv(stray, &c, 1, 0) <= 0;
    }
  }
  close(stray);
  EXPECT_TRUE(closed) << "stray connection not refused";
  EXPECT_TRUE(log_contains("refused connection", "wrong nonce"));
  // A proper connection still works on the same listener.
  RawSender raw;
  ASSERT_TRUE(raw.open(rs.handle));
  ASSERT_TRUE(rs.accept_from(&raw));
  uint8_t msg[100];
  for (int i = 0; i < 100; ++i) msg[i] = static_cast<uint8_t>(i);
  void* r = rs.post(4096, 1);
  ASSERT_TRUE(raw.send_header(wire::PayloadKind::kRaw, 100, 100));
  ASSERT_TRUE(raw.send_payload(msg, 100));
  int size = -1;
  ASSERT_EQ(wait_request(r, &size), ncclSuccess);
  EXPECT_EQ(size, 100);
  EXPECT_EQ(0, std::memcmp(rs.buf.data(), msg, 100));
}

TEST(Faults, MessageLargerThanPostedReceiveIsTruncationError) {
  RecvSide rs(8192);
  RawSender raw;
  ASSERT_TRUE(raw.open(rs.handle));
  ASSERT_TRUE(rs.accept_from(&raw));
  clear_log();
  void* r = rs.post(4096, 7);
  ASSERT_TRUE(raw.send_header(wire::PayloadKind::kRaw, 8192, 8192));
  double took;
  EXPECT_EQ(wait_failure(r, 10, &took), ncclInvalidUsage);
  EXPECT_TRUE(log_contains("message truncated", "rank 7"));
  EXPECT_TRUE(log_contains("message truncated", "127.0.0.1:"));
  for (size_t i = 0; i < rs.buf.size(); ++i) ASSERT_EQ(rs.buf[i], 0) << "written at " << i;
}

TEST(Faults, CorruptFrameIsError) {
  RecvSide rs(1 << 20);
  RawSender raw;
  ASSERT_TRUE(raw.open(rs.handle));
  ASSERT_TRUE(rs.accept_from(&raw));
  clear_log();
  void* r = rs.post(1 << 20, 3);
  std::vector<uint8_t> junk(5000);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 31 + 7);
  ASSERT_TRUE(raw.send_header(wire::PayloadKind::kFramed, 400000, junk.size()));
  ASSERT_TRUE(raw.send_payload(junk.data(), junk.size()));
  double took;
  EXPECT_EQ(wait_failure(r, 10, &took), ncclSystemError);
  EXPECT_TRUE(log_contains("corrupt frame", "rank 3"));
}

TEST(Faults, InvalidHeadersAreErrors) {
  struct Case {
    const char* what;
    uint32_t magic;
    wire::PayloadKind kind;
    uint64_t original;
    uint64_t wire_bytes;
    const char* expect;
  };
  const Case cases[] = {
      {"bad magic", 0x12345678, wire::PayloadKind::kRaw, 10, 10, "magic"},
      {"raw size mismatch", wire::kMsgMagic, wire::PayloadKind::kRaw, 10, 11, "raw payload"},
      {"frame too large", wire::kMsgMagic, wire::PayloadKind::kFramed, 100, 100 + 49,
       "invalid frame size"},
      {"frame too small", wire::kMsgMagic, wire::PayloadKind::kFramed, 100, 10,
       "invalid frame size"},
      {"unknown kind", wire::kMsgMagic, static_cast<wire::PayloadKind>(9), 10, 10, "kind"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RecvSide rs(4096);
    RawSender raw;
    ASSERT_TRUE(raw.open(rs.handle));
    ASSERT_TRUE(rs.accept_from(&raw));
    clear_log();
    void* r = rs.post(4096, 1);
    ASSERT_TRUE(raw.send_header(c.kind, c.original, c.wire_bytes, c.magic));
    double took;
    EXPECT_NE(wait_failure(r, 10, &took), ncclSuccess);
    EXPECT_TRUE(log_contains(c.expect, "127.0.0.1:"));
    // Later operations on the failed comm report the error too.
    void* req = nullptr;
    void* data = rs.buf.data();
    size_t size = 10;
    int tag = 1;
    EXPECT_NE(plugin().v11->irecv(rs.recv, 1, &data, &size, &tag, &rs.mh, nullptr, &req),
              ncclSuccess);
  }
}

// The sending peer is a child process that passes the handshake, starts a 4 MiB message, then
// dies (_exit or SIGKILL). The receiver must fail with the peer named, in bounded time.
void sender_dies(bool sigkill) {
  RecvSide rs(4 << 20);
  clear_log();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RawSender raw;
    if (!raw.open(rs.handle) || !raw.finish_handshake()) _exit(2);
    static uint8_t payload[1 << 20];
    raw.send_header(wire::PayloadKind::kRaw, 4 << 20, 4 << 20);
    raw.send_payload(payload, sizeof(payload), 300000);
    if (sigkill) {
      for (;;) pause();  // killed by the parent
    }
    _exit(0);
  }
  ASSERT_TRUE(rs.accept_from(nullptr));
  void* r = rs.post(4 << 20, 11);
  if (sigkill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    kill(child, SIGKILL);
  }
  double took;
  EXPECT_EQ(wait_failure(r, 15, &took), ncclRemoteError);
  EXPECT_LT(took, 5.0);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(log_contains("127.0.0.1:", "rank 11"));
  EXPECT_TRUE(log_contains("closed by peer"));
}

TEST(Faults, SenderProcessExitsMidTransfer) {
  sender_dies(false);
}
TEST(Faults, SenderProcessKilledMidTransfer) {
  sender_dies(true);
}

// The receiving peer is a child that accepts the handshake, reads a little, then is killed. The
// sender's requests (or the next isend) fail with the peer named, in bounded time.
TEST(Faults, ReceiverProcessKilled) {
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  socklen_t len = sizeof(a);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  char hbuf[NCCL_NET_HANDLE_MAXSIZE] = {};
  Handle h{};
  h.magic = wire::kHandleMagic;
  h.version = wire::kProtocolVersion;
  h.n_sockets = 2;
  h.n_threads = 2;
  h.nonce = 42;
  std::memcpy(&h.addr, &a, sizeof(a));
  std::memcpy(hbuf, &h, sizeof(h));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fds[3];
    for (int i = 0; i < 3; ++i) {
      fds[i] = accept(lfd, nullptr, nullptr);
      wire::Hello hello;
      if (fds[i] < 0 || !read_all(fds[i], &hello, sizeof(hello))) _exit(2);
    }
    wire::Ack ack{wire::kAckMagic, wire::kProtocolVersion, 0, 64ull << 20, 0};
    for (int i = 0; i < 3; ++i) {
      // Hello order is not guaranteed; any socket may be the control one. Answer on all.
      write_all(fds[i], &ack, sizeof(ack));
    }
    static char sink[65536];
    if (read(fds[1], sink, sizeof(sink)) < 0) _exit(3);
    for (;;) pause();
  }
  close(lfd);
  void* send = nullptr;
  clear_log();
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (send == nullptr && Clock::now() < deadline) {
    ASSERT_EQ(plugin().v11->connect(ctx, 0, hbuf, &send, nullptr), ncclSuccess);
  }
  ASSERT_NE(send, nullptr);
  std::vector<uint8_t> buf(4 << 20, 5);
  void* mh = nullptr;
  ASSERT_EQ(plugin().v11->regMr(send, buf.data(), buf.size(), NCCL_PTR_HOST, &mh), ncclSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // Keep sending: within a bounded time an isend or a test must fail.
  auto start = Clock::now();
  ncclResult_t failure = ncclSuccess;
  std::vector<void*> reqs;
  while (failure == ncclSuccess && Clock::now() - start < std::chrono::seconds(10)) {
    void* req = nullptr;
    failure = plugin().v11->isend(send, buf.data(), buf.size(), 6, mh, nullptr, &req);
    if (req) reqs.push_back(req);
    for (size_t k = 0; k < reqs.size() && failure == ncclSuccess; ++k) {
      int done = 0;
      failure = plugin().v11->test(reqs[k], &done, nullptr);
      if (done) reqs.erase(reqs.begin() + static_cast<long>(k--));
    }
  }
  EXPECT_NE(failure, ncclSuccess);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(log_contains("127.0.0.1:", "rank 6"));
  EXPECT_EQ(plugin().v11->deregMr(send, mh), ncclSuccess);
  EXPECT_EQ(plugin().v11->closeSend(send), ncclSuccess);
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

TEST(Faults, StallTimeout) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_TIMEOUT_S", "1");
  RecvSide rs(1 << 20);
  RawSender raw;
  ASSERT_TRUE(raw.open(rs.handle));
  ASSERT_TRUE(rs.accept_from(&raw));
  clear_log();
  void* r = rs.post(1 << 20, 8);
  static uint8_t payload[1 << 20];
  ASSERT_TRUE(raw.send_header(wire::PayloadKind::kRaw, 1 << 20, 1 << 20));
  ASSERT_TRUE(raw.send_payload(payload, sizeof(payload), 1000));  // then silence, socket open
  double took;
  EXPECT_EQ(wait_failure(r, 10, &took), ncclSystemError);
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 4.0);
  EXPECT_TRUE(log_contains("no progress", "rank 8"));
}

// Handles come from NCCL as bytes. Bytes that are not a Squeeze handle, or a handle whose connector
// field (the attempt in progress, which connect() keeps there between NCCL's retries) names no
// attempt of this plugin, are errors, never a pointer followed: random bytes, and a copy taken
// while its connect was in progress, used after that connect ended and deleted the attempt.
TEST(Faults, ForeignOrStaleHandleIsAnErrorNotACrash) {
  ncclNet_v11_t* n = plugin().v11;
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  for (int k = 0; k < 8; ++k) {
    char bytes[NCCL_NET_HANDLE_MAXSIZE];
    for (char& b : bytes) b = static_cast<char>(rng());
    if (k == 0) std::memset(bytes, 0, sizeof(bytes));  // all zero: no connector, no magic
    clear_log();
    void* send = nullptr;
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    EXPECT_NE(n->connect(ctx, 0, bytes, &send, &dev), ncclSuccess) << "random handle " << k;
    EXPECT_EQ(send, nullptr);
    EXPECT_TRUE(log_contains(k == 0 ? "not a Squeeze handle" : "does not have")) << k;
  }
  // A copy of a handle taken while its connect was in progress.
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  void* listen = nullptr;
  ASSERT_EQ(n->listen(ctx, 0, handle, &listen), ncclSuccess);
  void* send = nullptr;
  void* recv = nullptr;
  ncclNetDeviceHandle_v11_t* dev = nullptr;
  ASSERT_EQ(n->connect(ctx, 0, handle, &send, &dev), ncclSuccess);
  ASSERT_EQ(send, nullptr) << "connected before the listener accepted";
  char copy[NCCL_NET_HANDLE_MAXSIZE];
  std::memcpy(copy, handle, sizeof(copy));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while ((send == nullptr || recv == nullptr) && Clock::now() < deadline) {
    if (send == nullptr) {
      ASSERT_EQ(n->connect(ctx, 0, handle, &send, &dev), ncclSuccess);
    }
    if (recv == nullptr) {
      ASSERT_EQ(n->accept(listen, &recv, &dev), ncclSuccess);
    }
  }
  ASSERT_NE(send, nullptr);
  ASSERT_NE(recv, nullptr);
  clear_log();
  void* again = nullptr;
  EXPECT_EQ(n->connect(ctx, 0, copy, &again, &dev), ncclInvalidUsage);
  EXPECT_EQ(again, nullptr);
  EXPECT_TRUE(log_contains("connect", "does not have"));
  // An out-of-range device, with a handle that would otherwise connect.
  char fresh[NCCL_NET_HANDLE_MAXSIZE] = {};
  void* listen2 = nullptr;
  ASSERT_EQ(n->listen(ctx, 0, fresh, &listen2), ncclSuccess);
  EXPECT_EQ(n->connect(ctx, 99, fresh, &again, &dev), ncclInvalidArgument);
  EXPECT_EQ(n->connect(ctx, -1, fresh, &again, &dev), ncclInvalidArgument);
  EXPECT_EQ(again, nullptr);
  EXPECT_EQ(n->closeListen(listen2), ncclSuccess);
  EXPECT_EQ(n->closeSend(send), ncclSuccess);
  EXPECT_EQ(n->closeRecv(recv), ncclSuccess);
  EXPECT_EQ(n->closeListen(listen), ncclSuccess);
  EXPECT_EQ(n->finalize(ctx), ncclSuccess);
}

}  // namespace

// The plugin's sender against the wire layout of wire.h, read by hand: each message's header on
// the data socket of its chunk 0, right before that chunk, chunk j on socket (seq + j) % n, and
// nothing on the control socket after the handshake, and the sender's tag in each header (protocol
// 3). Runs in both threading modes.
TEST(Wire, SenderLayoutMatchesTheSpec) {
  Pair p;
  ASSERT_TRUE(init_ctx(&p.ctx));
  ncclNet_v11_t* n = plugin().v11;
  const char* threads_env = std::getenv("NCCL_SQUEEZE_THREADS");
  const int threads =
      threads_env != nullptr && std::strcmp(threads_env, "auto") != 0 ? std::atoi(threads_env) : 2;
  constexpr int kSockets = 4;
  RawReceiver rx;
  ASSERT_TRUE(rx.listen_on_loopback(kSockets, threads, 0x5eedf00d));
  bool accepted = false;
  std::thread acceptor([&] { accepted = rx.accept_all(64u << 20); });
  // A failed assertion below must not leave a blocked thread behind: shutting the sockets down
  // wakes it, then it is joined.
  JoinOnExit acceptor_guard{acceptor, [&] { ::shutdown(rx.listen_fd, SHUT_RDWR); }};
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  std::memcpy(handle, &rx.handle, sizeof(rx.handle));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (p.send == nullptr && Clock::now() < deadline) {
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    ASSERT_EQ(n->connect(p.ctx, 0, handle, &p.send, &dev), ncclSuccess);
  }
  acceptor.join();
  ASSERT_TRUE(accepted);
  ASSERT_NE(p.send, nullptr);

  // Message 0: four chunks (64 KiB minimum chunk, 200000 bytes); 1: one chunk; 2: empty.
  const size_t sizes[] = {200000, 1000, 0};
  std::vector<uint8_t> out(200000);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i * 31 + 7);
  void* mh = nullptr;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size(), NCCL_PTR_HOST, &mh), ncclSuccess);
  std::vector<std::vector<uint8_t>> got(3);
  std::string reader_error;
  std::thread reader([&] {
    for (uint32_t seq = 0; seq < 3; ++seq) {
      wire::MsgHeader h{};
      // Written out from the spec, not from wire.h's helpers, so that both sides of the plugin
      // agreeing on a wrong layout still fails here.
      int hs = static_cast<int>(seq % kSockets);
      if (!read_all(rx.data[static_cast<size_t>(hs)], &h, sizeof(h))) {
        reader_error = "no header for message " + std::to_string(seq);
        return;
      }
      if (h.magic != wire::kMsgMagic || h.seq != seq || h.tag != 1 ||
          h.kind != static_cast<uint8_t>(wire::PayloadKind::kRaw) ||
          h.original_bytes != sizes[seq] || h.wire_bytes != sizes[seq]) {
        reader_error = "bad header for message " + std::to_string(seq);
        return;
      }
      got[seq].resize(sizes[seq]);
      const uint64_t chunk = std::max<uint64_t>(64 << 10, (h.wire_bytes + kSockets - 1) / kSockets);
      for (uint64_t j = 0; j * chunk < h.wire_bytes; ++j) {
        uint64_t off = j * chunk;
        uint64_t len = std::min<uint64_t>(chunk, h.wire_bytes - off);
        int s = static_cast<int>((seq + j) % kSockets);
        if (!read_all(rx.data[static_cast<size_t>(s)], got[seq].data() + off, len)) {
          reader_error = "chunk " + std::to_string(j) + " of message " + std::to_string(seq);
          return;
        }
      }
    }
  });
  JoinOnExit reader_guard{reader, [&] {
                            for (int fd : rx.data) ::shutdown(fd, SHUT_RDWR);
                          }};
  for (uint32_t seq = 0; seq < 3; ++seq) {
    void* req = nullptr;
    while (req == nullptr) {
      ASSERT_EQ(n->isend(p.send, out.data(), sizes[seq], 1, mh, nullptr, &req), ncclSuccess);
    }
    ASSERT_EQ(wait_request(req, nullptr), ncclSuccess) << "message " << seq;
  }
  reader.join();
  ASSERT_EQ(reader_error, "");
  for (uint32_t seq = 0; seq < 3; ++seq) {
    ASSERT_EQ(got[seq].size(), sizes[seq]);
    EXPECT_TRUE(std::equal(got[seq].begin(), got[seq].end(), out.begin())) << "message " << seq;
  }
  // Nothing but the handshake's Ack ever travels on the control socket (it only tells hang-ups).
  pollfd pc{rx.control, POLLIN, 0};
  EXPECT_EQ(poll(&pc, 1, 50), 0);
  EXPECT_EQ(n->deregMr(p.send, mh), ncclSuccess);
}

}  // namespace sqtest
