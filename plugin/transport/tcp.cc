#include "plugin/transport/tcp.h"

#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "plugin/log.h"
#include "squeeze/codec.h"

namespace squeeze::plugin {
namespace {

Fd make_socket(int family) {
  return Fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

}  // namespace

uint64_t random_u64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof(v), 0) == static_cast<ssize_t>(sizeof(v))) return v;
  return monotonic_ns() ^ (reinterpret_cast<uintptr_t>(&v) << 16) ^ static_cast<uint64_t>(getpid());
}

ncclResult_t Listener::create(const NetDevice& dev, int n_sockets, int n_threads,
                              uint64_t staging_bytes, int handshake_timeout_s, uint32_t caps,
                              wire::Handle* handle, std::unique_ptr<Listener>* out) {
  auto l = std::unique_ptr<Listener>(new Listener());
  l->fd_ = make_socket(dev.addr.sa.sa_family);
  SQZ_REQUIRE(l->fd_.valid(), ncclSystemError, "listen on %s: socket() failed: %s",
              dev.name.c_str(), std::strerror(errno));
  int one = 1;
  setsockopt(l->fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  SockAddr a = dev.addr;
  SQZ_REQUIRE(::bind(l->fd_.get(), &a.sa, sockaddr_len(a)) == 0, ncclSystemError,
              "listen on %s (%s): bind failed: %s", dev.name.c_str(), sockaddr_to_string(a).c_str(),
              std::strerror(errno));
  SQZ_REQUIRE(::listen(l->fd_.get(), 128) == 0, ncclSystemError, "listen on %s: %s",
              dev.name.c_str(), std::strerror(errno));
  socklen_t len = sizeof(l->addr_);
  SQZ_REQUIRE(getsockname(l->fd_.get(), &l->addr_.sa, &len) == 0, ncclSystemError,
              "getsockname: %s", std::strerror(errno));
  l->nonce_ = random_u64();
  l->n_sockets_ = n_sockets;
  l->n_threads_ = n_threads;
  l->staging_bytes_ = staging_bytes;
  l->handshake_timeout_ns_ = static_cast<uint64_t>(handshake_timeout_s) * 1000000000ull;
  l->caps_ = caps;

  std::memset(handle, 0, sizeof(*handle));
  handle->magic = wire::kHandleMagic;
  handle->version = wire::kProtocolVersion;
  handle->n_sockets = static_cast<uint8_t>(n_sockets);
  handle->n_threads = static_cast<uint8_t>(n_threads);
  handle->nonce = l->nonce_;
  handle->addr = l->addr_;
  handle->connector = 0;
  *out = std::move(l);
  return ncclSuccess;
}

bool Listener::may_warn() {
  // A flood of bad connections must not flood the log: the first few of each minute are named,
  // the rest counted in the next minute's first line.
  uint64_t held_back = 0;
  const bool allowed = warn_limit_.allow(monotonic_ns(), &held_back);
  if (held_back > 0)
    SQZ_WARN(
        "listener %s: %llu more connection(s) refused or dropped, or accepts failed, in the last "
        "minute",
        address().c_str(), static_cast<unsigned long long>(held_back));
  return allowed;
}

void Listener::refuse(Pending* p, const char* why) {
  if (may_warn())
    SQZ_WARN("refused connection from %s to listener %s: %s", sockaddr_to_string(p->peer).c_str(),
             address().c_str(), why);
  p->fd.reset();
}

void Listener::drop_group(size_t k, const char* why) {
  Group& g = groups_[k];
  if (may_warn())
    SQZ_WARN("listener %s: dropped the connection from %s (%d of %d sockets arrived): %s",
             address().c_str(), sockaddr_to_string(g.peer).c_str(), g.have, n_sockets_ + 1, why);
  groups_.erase(groups_.begin() + static_cast<long>(k));
}

bool Listener::shed_oldest(const char* why) {
  size_t oldest = pending_.size();
  for (size_t k = 0; k < pending_.size(); ++k) {
    if (pending_[k].fd.valid() &&
        (oldest == pending_.size() || pending_[k].since_ns < pending_[oldest].since_ns))
      oldest = k;
  }
  ++shed_in_episode_;
  if (oldest < pending_.size()) {
    // Quietly: under a flood this happens once per socket; the episode's warning counts them.
    pending_[oldest].fd.reset();
    pending_.erase(pending_.begin() + static_cast<long>(oldest));
    return true;
  }
  if (!groups_.empty()) {
    drop_group(0, why);
    return true;
  }
  --shed_in_episode_;
  return false;
}

void Listener::accept_waiting(uint64_t now) {
  for (size_t accepted = 0; accepted < kMaxAcceptsPerPoll; ++accepted) {
    if (pending_.size() >= kMaxPending) shed_oldest("too many handshakes in progress");
    Pending p;
    socklen_t len = sizeof(p.peer);
    int fd = ::accept4(fd_.get(), &p.peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      p.fd = Fd(fd);
      p.since_ns = now;
      // A real connector's Hello is usually there already: admitting it now keeps its socket out
      // of the pending list, which is what gets shed under a flood.
      if (!advance(&p, now)) pending_.push_back(std::move(p));
      continue;
    }
    const int e = errno;
    if (e == EINTR || e == ECONNABORTED) continue;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
      // Out of descriptors (or kernel memory): the connection stays in the kernel's backlog.
      // Make room by dropping the oldest incomplete handshake (an idle or half-open connection),
      // warn at the episode's start and end (the first episode of a minute: EpisodeLog),
      // and try again on the next call; a listener that has nothing to drop waits for
      // descriptors to come back.
      if (!fd_exhausted_) {
        fd_exhausted_ = true;
        shed_in_episode_ = 0;
        const EpisodeLog::Start st = exhaustion_log_.start(now);
        if (st.log) {
          char quiet[128] = "";
          if (st.quiet_episodes > 0)
            std::snprintf(quiet, sizeof(quiet),
                          "; %llu more such episode(s) since the last warning dropped %llu",
                          static_cast<unsigned long long>(st.quiet_episodes),
                          static_cast<unsigned long long>(st.quiet_shed));
          SQZ_WARN(
              "listener %s: accept failed: %s; dropping the oldest incomplete handshakes to "
              "make room (%zu pending sockets, %zu incomplete connections%s)",
              address().c_str(), std::strerror(e), pending_.size(), groups_.size(), quiet);
        }
      }
      if (shed_oldest("out of descriptors")) continue;
      return;
    }
    if (e != EAGAIN && e != EWOULDBLOCK) {
      // Rate-limited like refusals: an error that persists would otherwise be logged every poll.
      if (may_warn())
        SQZ_WARN("listener %s: accept failed: %s (will retry)", address().c_str(),
                 std::strerror(e));
    } else if (fd_exhausted_) {
      // The backlog is empty: the episode is over.
      if (exhaustion_log_.end(shed_in_episode_))
        SQZ_WARN(
            "listener %s: the backlog is drained after running out of descriptors (%llu "
            "incomplete handshake(s) dropped meanwhile)",
            address().c_str(), static_cast<unsigned long long>(shed_in_episode_));
      fd_exhausted_ = false;
    }
    return;
  }
}

void Listener::admit(Pending* p, uint64_t now) {
  const wire::Hello& h = p->hello;
  if (h.magic != wire::kHelloMagic) return refuse(p, "not a Squeeze connection (bad magic)");
  if (h.version < wire::kMinProtocolVersion || h.version > wire::kProtocolVersion)
    return refuse(p, "protocol version mismatch");
  if (h.nonce != nonce_) return refuse(p, "wrong nonce (stale or foreign handle)");
  if (h.index > n_sockets_) return refuse(p, "socket index out of range");
  size_t k = 0;
  while (k < groups_.size() && groups_[k].token != h.token) ++k;
  if (k == groups_.size()) {
    if (groups_.size() >= kMaxGroups) drop_group(0, "too many incomplete connections");
    Group g;
    g.token = h.token;
    g.peer = p->peer;
    g.since_ns = now;
    g.version = h.version;
    g.sockets.resize(static_cast<size_t>(n_sockets_) + 1);
    groups_.push_back(std::move(g));
    k = groups_.size() - 1;
  }
  Group& g = groups_[k];
  if (g.sockets[h.index].valid()) return refuse(p, "socket index given twice in one connection");
  if (h.version != g.version) return refuse(p, "protocol versions differ within one connection");
  set_nodelay(p->fd.get());
  g.sockets[h.index] = std::move(p->fd);
  ++g.have;
}

bool Listener::advance(Pending* p, uint64_t now) {
  int err = 0;
  IoStep st = IoStep::kProgress;
  while (p->got < sizeof(p->hello) && st == IoStep::kProgress) {
    st = recv_step(p->fd.get(), &p->hello, sizeof(p->hello), &p->got, &err);
  }
  if (p->got == sizeof(p->hello)) {
    admit(p, now);
  } else if (st == IoStep::kEof || st == IoStep::kError) {
    p->fd.reset();  // gone before its Hello: nothing to report
  } else if (now - p->since_ns > handshake_timeout_ns_) {
    refuse(p, "no handshake within NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S");
  }
  return !p->fd.valid();
}

void Listener::read_hellos(uint64_t now) {
  for (Pending& p : pending_) advance(&p, now);
  std::vector<Pending> still;
  for (Pending& p : pending_) {
    if (p.fd.valid()) still.push_back(std::move(p));
  }
  pending_ = std::move(still);
}

void Listener::check_groups(uint64_t now) {
  for (size_t k = 0; k < groups_.size();) {
    Group& g = groups_[k];
    const char* why = nullptr;
    // Before its Ack a connector sends nothing after its Hellos: a readable socket is a hang-up
    // (or garbage), so the whole connection is lost.
    for (Fd& s : g.sockets) {
      int err = 0;
      if (!s.valid()) continue;
      if (peer_hung_up(s.get(), &err)) {
        why = "the connector hung up during the handshake";
        break;
      }
      if (has_unread_bytes(s.get())) {
        why = "bytes arrived before the handshake finished";
        break;
      }
    }
    if (why == nullptr && g.have <= n_sockets_ && now - g.since_ns > handshake_timeout_ns_)
      why = "not all sockets arrived within NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S";
    if (why != nullptr) {
      drop_group(k, why);
    } else {
      ++k;
    }
  }
}

bool Listener::take_group() {
  for (size_t k = 0; k < groups_.size(); ++k) {
    Group& g = groups_[k];
    if (g.have != n_sockets_ + 1) continue;
    auto conn = std::make_unique<Connection>();
    conn->control = std::move(g.sockets[0]);
    conn->peer = g.peer;
    conn->n_threads = n_threads_;
    conn->protocol = g.version;
    for (int i = 1; i <= n_sockets_; ++i) conn->data.push_back(std::move(g.sockets[i]));
    groups_.erase(groups_.begin() + static_cast<long>(k));
    group_ = std::move(conn);
    // A version 2 connector reads no capabilities: the field stays 0 for it.
    ack_ = wire::Ack{wire::kAckMagic, group_->protocol, 0, staging_bytes_,
                     group_->protocol >= 3 ? static_cast<uint64_t>(caps_) : 0};
    ack_sent_ = 0;
    return true;
  }
  return false;
}

ncclResult_t Listener::poll(std::unique_ptr<Connection>* out) {
  out->reset();
  const uint64_t now = monotonic_ns();
  accept_waiting(now);
  read_hellos(now);
  check_groups(now);
  // Ack one complete group per call (a few bytes on a fresh socket: they never wait).
  while (group_ || take_group()) {
    int err = 0;
    IoStep st = IoStep::kProgress;
    while (ack_sent_ < sizeof(ack_) && st == IoStep::kProgress) {
      st = send_step(group_->control.get(), &ack_, sizeof(ack_), &ack_sent_, &err);
    }
    if (st == IoStep::kEof || st == IoStep::kError) {
      // Limited like refusals: a peer that knows the nonce could otherwise repeat this at will.
      if (may_warn())
        SQZ_WARN("connection from %s to %s lost during the handshake: %s",
                 sockaddr_to_string(group_->peer).c_str(), address().c_str(), std::strerror(err));
      group_.reset();
      continue;  // a later, valid connection may still come
    }
    if (ack_sent_ < sizeof(ack_)) return ncclSuccess;
    *out = std::move(group_);
    return ncclSuccess;
  }
  return ncclSuccess;
}

ncclResult_t Connector::create(const wire::Handle& handle, int handshake_timeout_s,
                               std::unique_ptr<Connector>* out) {
  SQZ_REQUIRE(handle.magic == wire::kHandleMagic, ncclInternalError,
              "connect: the handle is not a Squeeze handle (magic 0x%x)", handle.magic);
  SQZ_REQUIRE(handle.version >= wire::kMinProtocolVersion, ncclInvalidUsage,
              "connect: handle protocol version %u, this plugin speaks %u to %u", handle.version,
              wire::kMinProtocolVersion, wire::kProtocolVersion);
  SQZ_REQUIRE(handle.n_sockets >= 1 && handle.n_threads <= 16, ncclInternalError,
              "connect: bad socket layout in handle (%u sockets, %u threads)", handle.n_sockets,
              handle.n_threads);
  auto c = std::unique_ptr<Connector>(new Connector());
  c->addr_ = handle.addr;
  c->nonce_ = handle.nonce;
  c->n_threads_ = handle.n_threads;
  c->version_ = handle.version < wire::kProtocolVersion ? handle.version : wire::kProtocolVersion;
  c->deadline_ns_ = monotonic_ns() + static_cast<uint64_t>(handshake_timeout_s) * 1000000000ull;
  uint64_t token = random_u64();
  for (int i = 0; i <= handle.n_sockets; ++i) {
    Sock s;
    s.fd = make_socket(handle.addr.sa.sa_family);
    SQZ_REQUIRE(s.fd.valid(), ncclSystemError, "connect to %s: socket() failed: %s",
                c->peer().c_str(), std::strerror(errno));
    int r = ::connect(s.fd.get(), &handle.addr.sa, sockaddr_len(handle.addr));
    SQZ_REQUIRE(r == 0 || errno == EINPROGRESS, ncclSystemError, "connect to %s failed: %s",
                c->peer().c_str(), std::strerror(errno));
    s.hello =
        wire::Hello{wire::kHelloMagic, c->version_, static_cast<uint16_t>(i), handle.nonce, token};
    c->socks_.push_back(std::move(s));
  }
  *out = std::move(c);
  return ncclSuccess;
}

ncclResult_t Connector::poll(std::unique_ptr<Connection>* out) {
  out->reset();
  SQZ_REQUIRE(monotonic_ns() < deadline_ns_, ncclRemoteError,
              "connect to %s: no answer to the handshake within NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S "
              "(listener gone or overloaded?)",
              peer().c_str());
  bool all_done = true;
  for (Sock& s : socks_) {
    if (s.stage == Stage::kConnecting) {
      pollfd p{s.fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, 0) <= 0) {
        all_done = false;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      SQZ_REQUIRE(err == 0, ncclRemoteError, "connect to %s failed: %s", peer().c_str(),
                  std::strerror(err));
      set_nodelay(s.fd.get());
      s.stage = Stage::kHello;
    }
    if (s.stage == Stage::kHello) {
      int err = 0;
      IoStep st = IoStep::kProgress;
      while (s.sent < sizeof(s.hello) && st == IoStep::kProgress) {
        st = send_step(s.fd.get(), &s.hello, sizeof(s.hello), &s.sent, &err);
      }
      SQZ_REQUIRE(st != IoStep::kEof && st != IoStep::kError, ncclRemoteError,
                  "connect to %s: handshake failed: %s", peer().c_str(), std::strerror(err));
      if (s.sent == sizeof(s.hello)) s.stage = Stage::kDone;
    }
    if (s.stage != Stage::kDone) all_done = false;
  }
  if (!all_done) return ncclSuccess;
  int err = 0;
  IoStep st = IoStep::kProgress;
  while (ack_got_ < sizeof(ack_) && st == IoStep::kProgress) {
    st = recv_step(socks_[0].fd.get(), &ack_, sizeof(ack_), &ack_got_, &err);
  }
  SQZ_REQUIRE(st != IoStep::kEof && st != IoStep::kError, ncclRemoteError,
              "connect to %s: the listener closed the connection during the handshake (%s); "
              "stale handle or nonce mismatch?",
              peer().c_str(), err ? std::strerror(err) : "EOF");
  if (ack_got_ < sizeof(ack_)) return ncclSuccess;
  SQZ_REQUIRE(ack_.magic == wire::kAckMagic && ack_.version == version_ && ack_.status == 0,
              ncclRemoteError,
              "connect to %s: bad handshake answer (magic 0x%x, version %u, status %u)",
              peer().c_str(), ack_.magic, ack_.version, ack_.status);
  auto conn = std::make_unique<Connection>();
  conn->control = std::move(socks_[0].fd);
  for (size_t i = 1; i < socks_.size(); ++i) conn->data.push_back(std::move(socks_[i].fd));
  conn->n_threads = n_threads_;
  conn->peer = addr_;
  conn->peer_staging_bytes = ack_.staging_bytes;
  conn->protocol = version_;
  // A version 2 receiver decodes version 1 frames only.
  conn->peer_caps = version_ >= 3 ? static_cast<uint32_t>(ack_.caps) : kCapV1;
  *out = std::move(conn);
  return ncclSuccess;
}

}  // namespace squeeze::plugin
