// A raw TCP peer that speaks the plugin's wire protocol by hand (blocking sockets), to inject
// stray connections, bad headers and corrupt frames, or to die mid-transfer. Uses only system
// calls after setup, so a forked child may use it.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "plugin/transport/wire.h"

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

}  // namespace sqtest
