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
#include "plugin/transport/warn_limit.h"
#include "plugin/transport/wire.h"

namespace squeeze::plugin {

// The sockets of one established connection.
struct Connection {
  Fd control;
  std::vector<Fd> data;
  int n_threads = 1;
  SockAddr peer{};  // the connector's (recv side) or the listener's (send side) address
  uint64_t peer_staging_bytes = 0;  // send side: the receiver's staging capacity
  uint16_t protocol = 0;            // wire protocol version both sides speak (wire.h)
  uint32_t peer_caps = 0;           // send side: what the receiver decodes (Capability bits)
};

// Random 64-bit value from getrandom (falls back to time and address entropy).
uint64_t random_u64();

// The listening side of the handshake. A connection is a group of sockets (control + data) that
// share the connector's token. Groups complete in any order and never wait for one another: a
// connector that stalls, dies or floods the port costs only its own sockets, which are dropped
// when their group misses the handshake deadline, hangs up, or when the listener runs out of
// room (descriptor limit or its own caps): then the oldest incomplete work is shed first.
class Listener {
 public:
  // Binds to dev's address (port chosen by the kernel) and fills handle. A group that is not
  // complete within handshake_timeout_s is dropped.
  // caps: what this side's decoder understands (Capability bits), sent in the Ack.
  static ncclResult_t create(const NetDevice& dev, int n_sockets, int n_threads,
                             uint64_t staging_bytes, int handshake_timeout_s, uint32_t caps,
                             wire::Handle* handle, std::unique_ptr<Listener>* out);
  // Advances pending handshakes; *out is set once a complete, valid group has been accepted.
  ncclResult_t poll(std::unique_ptr<Connection>* out);
  std::string address() const { return sockaddr_to_string(addr_); }

  // Caps on what an incomplete handshake may hold (the oldest is dropped beyond them).
  static constexpr size_t kMaxPending = 64;          // sockets whose Hello has not arrived yet
  static constexpr size_t kMaxGroups = 16;           // groups waiting for some of their sockets
  static constexpr size_t kMaxAcceptsPerPoll = 256;  // bounds one call under a flood

 private:
  struct Pending {
    Fd fd;
    SockAddr peer{};
    wire::Hello hello{};
    size_t got = 0;
    uint64_t since_ns = 0;
  };
  struct Group {
    uint64_t token = 0;
    SockAddr peer{};  // of its first socket
    uint64_t since_ns = 0;
    std::vector<Fd> sockets;  // [0] control, [i] data socket i - 1; invalid until it arrives
    int have = 0;
    uint16_t version = 0;  // protocol version of the connector's Hello
  };
  void accept_waiting(uint64_t now);
  void read_hellos(uint64_t now);
  // Reads what has arrived of a pending socket's Hello and admits the socket to its group when
  // the Hello is complete (or refuses it). True when p is settled (its descriptor moved or gone).
  bool advance(Pending* p, uint64_t now);
  void admit(Pending* p, uint64_t now);
  void check_groups(uint64_t now);
  // Makes room for one more descriptor or pending socket: drops the oldest pending socket, else
  // the oldest incomplete group. False when there is nothing to drop.
  bool shed_oldest(const char* why);
  // True when one more refusal, drop or failed accept may be logged by name now (at most
  // kWarningsPerMinute).
  bool may_warn();
  void refuse(Pending* p, const char* why);
  void drop_group(size_t k, const char* why);
  bool take_group();

  Fd fd_;
  SockAddr addr_{};
  uint64_t nonce_ = 0;
  int n_sockets_ = 0;
  int n_threads_ = 0;
  uint64_t staging_bytes_ = 0;
  uint64_t handshake_timeout_ns_ = 0;
  uint32_t caps_ = 0;
  std::vector<Pending> pending_;
  std::vector<Group> groups_;  // in order of their first socket's arrival
  // A descriptor-exhaustion episode (accept failed with EMFILE / ENFILE): it ends once the
  // backlog is empty. Its warnings go through exhaustion_log_ (the first episode of a minute).
  bool fd_exhausted_ = false;
  uint64_t shed_in_episode_ = 0;
  EpisodeLog exhaustion_log_;
  // Warnings about refused and dropped connections and failed accepts, rate-limited (may_warn()).
  static constexpr int kWarningsPerMinute = 10;
  WarnLimiter warn_limit_{kWarningsPerMinute};
  // A complete group waiting for its Ack to be written.
  std::unique_ptr<Connection> group_;
  wire::Ack ack_{};
  size_t ack_sent_ = 0;
};

class Connector {
 public:
  // Fails, naming the listener, when the handshake is not complete within handshake_timeout_s.
  static ncclResult_t create(const wire::Handle& handle, int handshake_timeout_s,
                             std::unique_ptr<Connector>* out);
  ncclResult_t poll(std::unique_ptr<Connection>* out);
  std::string peer() const { return sockaddr_to_string(addr_); }
  uint64_t nonce() const { return nonce_; }  // the handle's: which listener it connects to

 private:
  enum class Stage { kConnecting, kHello, kDone };
  struct Sock {
    Fd fd;
    Stage stage = Stage::kConnecting;
    wire::Hello hello{};
    size_t sent = 0;
  };
  SockAddr addr_{};
  uint64_t nonce_ = 0;
  int n_threads_ = 1;
  uint16_t version_ = 0;
  uint64_t deadline_ns_ = 0;
  std::vector<Sock> socks_;  // [0] control, then data
  wire::Ack ack_{};
  size_t ack_got_ = 0;
};

}  // namespace squeeze::plugin
