// Non-blocking connection setup for the TCP transport (wire.h describes the handshake). NCCL calls
// connect() and accept() again and again until they return a comm; each call advances these
// state machines without blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nccl_abi/net.h"
#include "plugin/transport/interfaces.h"
#include "plugin/transport/socket.h"
#include "plugin/transport/wire.h"

namespace squeeze::plugin {

// The sockets of one established connection.
struct Connection {
  Fd control;
  std::vector<Fd> data;
  int n_threads = 1;
  SockAddr peer{};  // the connector's (recv side) or the listener's (send side) address
  uint64_t peer_staging_bytes = 0;  // send side: the receiver's staging capacity
};

// Random 64-bit value from getrandom (falls back to time and address entropy).
uint64_t random_u64();

class Listener {
 public:
  // Binds to dev's address (port chosen by the kernel) and fills handle.
  static ncclResult_t create(const NetDevice& dev, int n_sockets, int n_threads,
                             uint64_t staging_bytes, wire::Handle* handle,
                             std::unique_ptr<Listener>* out);
  // Advances pending handshakes; *out is set once a complete, valid group has been accepted.
  ncclResult_t poll(std::unique_ptr<Connection>* out);
  std::string address() const { return sockaddr_to_string(addr_); }

 private:
  struct Pending {
    Fd fd;
    SockAddr peer{};
    wire::Hello hello{};
    size_t got = 0;
    uint64_t since_ns = 0;
  };
  struct Member {
    Fd fd;
    SockAddr peer{};
    uint16_t index = 0;
    uint64_t token = 0;
  };
  void refuse(Pending* p, const char* why);
  bool take_group();

  Fd fd_;
  SockAddr addr_{};
  uint64_t nonce_ = 0;
  int n_sockets_ = 0;
  int n_threads_ = 0;
  uint64_t staging_bytes_ = 0;
  std::vector<Pending> pending_;
  std::vector<Member> members_;
  // A complete group waiting for its Ack to be written.
  std::unique_ptr<Connection> group_;
  wire::Ack ack_{};
  size_t ack_sent_ = 0;
};

class Connector {
 public:
  static ncclResult_t create(const wire::Handle& handle, std::unique_ptr<Connector>* out);
  ncclResult_t poll(std::unique_ptr<Connection>* out);
  std::string peer() const { return sockaddr_to_string(addr_); }

 private:
  enum class Stage { kConnecting, kHello, kDone };
  struct Sock {
    Fd fd;
    Stage stage = Stage::kConnecting;
    wire::Hello hello{};
    size_t sent = 0;
  };
  SockAddr addr_{};
  int n_threads_ = 1;
  std::vector<Sock> socks_;  // [0] control, then data
  wire::Ack ack_{};
  size_t ack_got_ = 0;
};

}  // namespace squeeze::plugin
