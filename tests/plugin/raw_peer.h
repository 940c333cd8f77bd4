// A raw TCP peer that speaks the plugin's wire protocol by hand (blocking sockets), to inject
// stray connections, bad headers and corrupt frames, or to die mid-transfer. Uses only system
// calls after setup, so a forked child may use it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "plugin/transport/wire.h"
#include "squeeze/codec.h"

namespace sqtest {

namespace wire = squeeze::plugin::wire;

inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

inline bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::recv(fd, c, n, 0);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Opens a blocking socket to the handle's address and sends a Hello.
inline int raw_connect(const wire::Handle& h, uint64_t nonce, uint16_t index, uint64_t token) {
  int fd = ::socket(h.addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, &h.addr.sa, squeeze::plugin::sockaddr_len(h.addr)) != 0) {
    ::close(fd);
    return -1;
  }
  wire::Hello hello{wire::kHelloMagic, wire::kProtocolVersion, index, nonce, token};
  if (!write_all(fd, &hello, sizeof(hello))) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The sender side of one connection, made by hand.
struct RawSender {
  int control = -1;
  std::vector<int> data;
  uint32_t seq = 0;

  // Connects all sockets and sends the Hellos (the Ack is read by finish_handshake()).
  bool open(const wire::Handle& h, uint64_t token = 77) {
    control = raw_connect(h, h.nonce, 0, token);
    if (control < 0) return false;
    for (int i = 1; i <= h.n_sockets; ++i) {
      int fd = raw_connect(h, h.nonce, static_cast<uint16_t>(i), token);
      if (fd < 0) return false;
      data.push_back(fd);
    }
    return true;
  }
  bool finish_handshake() {
    wire::Ack ack{};
    return read_all(control, &ack, sizeof(ack)) && ack.magic == wire::kAckMagic && ack.status == 0;
  }
  bool send_header(wire::PayloadKind kind, uint64_t original, uint64_t wire_bytes,
                   uint32_t magic = wire::kMsgMagic) {
    wire::MsgHeader m{};
    m.magic = magic;
    m.kind = static_cast<uint8_t>(kind);
    m.seq = seq;
    m.original_bytes = original;
    m.wire_bytes = wire_bytes;
    // On the data socket of chunk 0, right before it (wire.h).
    return write_all(
        data[static_cast<size_t>(wire::header_socket(seq, static_cast<int>(data.size())))], &m,
        sizeof(m));
  }
  // Sends the payload striped as the plugin expects; stops after `limit` bytes.
  bool send_payload(const void* p, uint64_t n, uint64_t limit = ~0ull) {
    wire::ChunkPlan plan = wire::plan_chunks(n, static_cast<int>(data.size()));
    uint64_t sent = 0;
    for (uint32_t j = 0; j < plan.count; ++j) {
      uint64_t off = j * plan.chunk_bytes;
      uint64_t len = n - off < plan.chunk_bytes ? n - off : plan.chunk_bytes;
      if (sent + len > limit) len = limit - sent;
      int s = wire::socket_of_chunk(seq, j, static_cast<int>(data.size()));
      if (!write_all(data[static_cast<size_t>(s)], static_cast<const char*>(p) + off, len))
        return false;
      sent += len;
      if (sent >= limit) return true;
    }
    ++seq;
    return true;
  }
  void close_all() {
    if (control >= 0) ::close(control);
    for (int fd : data) ::close(fd);
    control = -1;
    data.clear();
  }
  ~RawSender() { close_all(); }
};

// The receiver side of one connection, made by hand: listens on 127.0.0.1, takes the plugin's
// connect (blocking, so run it on its own thread while the test calls connect()), answers with an
// Ack, then reads messages laid out exactly as wire.h says.
struct RawReceiver {
  int listen_fd = -1;
  int control = -1;
  std::vector<int> data;
  wire::Handle handle{};
  // The protocol version this receiver speaks (its handle and Ack) and, from version 3, the frame
  // capabilities its Ack declares.
  uint16_t version = wire::kProtocolVersion;
  uint64_t caps = squeeze::kCapsAll;

  bool listen_on_loopback(int n_sockets, int n_threads, uint64_t nonce) {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listen_fd, 64) != 0 ||
        ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return false;
    handle.magic = wire::kHandleMagic;
    handle.version = version;
    handle.n_sockets = static_cast<uint8_t>(n_sockets);
    handle.n_threads = static_cast<uint8_t>(n_threads);
    handle.nonce = nonce;
    std::memcpy(&handle.addr.in4, &a, sizeof(a));
    data.assign(static_cast<size_t>(n_sockets), -1);
    return true;
  }
  // Accepts 1 + n_sockets connections, checks each Hello and sends the Ack.
  bool accept_all(uint64_t staging_bytes) {
    for (int k = 0; k <= handle.n_sockets; ++k) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return false;
      wire::Hello h{};
      if (!read_all(fd, &h, sizeof(h)) || h.magic != wire::kHelloMagic || h.version != version ||
          h.nonce != handle.nonce || h.index > handle.n_sockets) {
        ::close(fd);
        return false;
      }
      int& slot = h.index == 0 ? control : data[static_cast<size_t>(h.index - 1)];
      if (slot >= 0) return false;  // the same index twice
      slot = fd;
    }
    wire::Ack ack{wire::kAckMagic, version, 0, staging_bytes, version >= 3 ? caps : 0};
    return write_all(control, &ack, sizeof(ack));
  }
  void close_all() {
    for (int* fd : {&listen_fd, &control}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    for (int& fd : data) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  ~RawReceiver() { close_all(); }
};

// Joins a helper thread when the scope ends, first unblocking it (e.g. shutting its socket down),
// so that a failed assertion never leaves a blocked thread behind.
struct JoinOnExit {
  std::thread& thread;
  std::function<void()> unblock;
  ~JoinOnExit() {
    if (!thread.joinable()) return;
    unblock();
    thread.join();
  }
};

}  // namespace sqtest
