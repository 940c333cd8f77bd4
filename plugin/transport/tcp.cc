#include "plugin/transport/tcp.h"

#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>

#include "plugin/log.h"

namespace squeeze::plugin {
namespace {

constexpr uint64_t kHandshakeTimeoutNs = 30ull * 1000000000ull;

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
                              uint64_t staging_bytes, wire::Handle* handle,
                              std::unique_ptr<Listener>* out) {
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

void Listener::refuse(Pending* p, const char* why) {
  SQZ_WARN("refused connection from %s to listener %s: %s", sockaddr_to_string(p->peer).c_str(),
           address().c_str(), why);
  p->fd.reset();
}

bool Listener::take_group() {
  // The control socket decides the group; data sockets must carry its token.
  const Member* control = nullptr;
  for (const Member& m : members_) {
    if (m.index == 0) {
      control = &m;
      break;
    }
  }
  if (control == nullptr) return false;
  uint64_t token = control->token;
  std::vector<int> slot(static_cast<size_t>(n_sockets_) + 1, -1);
  for (size_t k = 0; k < members_.size(); ++k) {
    if (members_[k].token == token && slot[members_[k].index] < 0)
      slot[members_[k].index] = static_cast<int>(k);
  }
  for (int s : slot) {
    if (s < 0) return false;
  }
  auto conn = std::make_unique<Connection>();
  conn->control = std::move(members_[static_cast<size_t>(slot[0])].fd);
  conn->peer = members_[static_cast<size_t>(slot[0])].peer;
  conn->n_threads = n_threads_;
  for (int i = 1; i <= n_sockets_; ++i) {
    conn->data.push_back(std::move(members_[static_cast<size_t>(slot[static_cast<size_t>(i)])].fd));
  }
  std::vector<Member> rest;
  for (Member& m : members_) {
    if (m.fd.valid()) rest.push_back(std::move(m));
  }
  members_ = std::move(rest);
  group_ = std::move(conn);
  ack_ = wire::Ack{wire::kAckMagic, wire::kProtocolVersion, 0, staging_bytes_, 0};
  ack_sent_ = 0;
  return true;
}

ncclResult_t Listener::poll(std::unique_ptr<Connection>* out) {
  out->reset();
  // Accept everything that is waiting.
  for (;;) {
    Pending p;
    socklen_t len = sizeof(p.peer);
    int fd = ::accept4(fd_.get(), &p.peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) break;
      SQZ_WARN("accept on %s failed: %s", address().c_str(), std::strerror(errno));
      return ncclSystemError;
    }
    p.fd = Fd(fd);
    p.since_ns = monotonic_ns();
    pending_.push_back(std::move(p));
  }
  // Read Hellos.
  uint64_t now = monotonic_ns();
  for (Pending& p : pending_) {
    int err = 0;
    IoStep st = IoStep::kProgress;
    while (p.got < sizeof(p.hello) && st == IoStep::kProgress) {
      st = recv_step(p.fd.get(), &p.hello, sizeof(p.hello), &p.got, &err);
    }
    if (p.got < sizeof(p.hello)) {
      if (st == IoStep::kEof || st == IoStep::kError) {
        p.fd.reset();
      } else if (now - p.since_ns > kHandshakeTimeoutNs) {
        refuse(&p, "no handshake within 30 s");
      }
      continue;
    }
    const wire::Hello& h = p.hello;
    if (h.magic != wire::kHelloMagic) {
      refuse(&p, "not a Squeeze connection (bad magic)");
    } else if (h.version != wire::kProtocolVersion) {
      refuse(&p, "protocol version mismatch");
    } else if (h.nonce != nonce_) {
      refuse(&p, "wrong nonce (stale or foreign handle)");
    } else if (h.index > n_sockets_) {
      refuse(&p, "socket index out of range");
    } else {
      set_nodelay(p.fd.get());
      members_.push_back(Member{std::move(p.fd), p.peer, h.index, h.token});
    }
  }
  std::vector<Pending> still;
  for (Pending& p : pending_) {
    if (p.fd.valid()) still.push_back(std::move(p));
  }
  pending_ = std::move(still);

  if (!group_ && !take_group()) return ncclSuccess;
  int err = 0;
  IoStep st = IoStep::kProgress;
  while (ack_sent_ < sizeof(ack_) && st == IoStep::kProgress) {
    st = send_step(group_->control.get(), &ack_, sizeof(ack_), &ack_sent_, &err);
  }
  if (st == IoStep::kEof || st == IoStep::kError) {
    SQZ_WARN("connection from %s to %s lost during the handshake: %s",
             sockaddr_to_string(group_->peer).c_str(), address().c_str(), std::strerror(err));
    group_.reset();
    return ncclSuccess;  // a later, valid connection may still come
  }
  if (ack_sent_ < sizeof(ack_)) return ncclSuccess;
  *out = std::move(group_);
  return ncclSuccess;
}

ncclResult_t Connector::create(const wire::Handle& handle, std::unique_ptr<Connector>* out) {
  SQZ_REQUIRE(handle.magic == wire::kHandleMagic, ncclInternalError,
              "connect: the handle is not a Squeeze handle (magic 0x%x)", handle.magic);
  SQZ_REQUIRE(handle.version == wire::kProtocolVersion, ncclInvalidUsage,
              "connect: handle protocol version %u, this plugin speaks %u", handle.version,
              wire::kProtocolVersion);
  SQZ_REQUIRE(handle.n_sockets >= 1 && handle.n_threads <= 16, ncclInternalError,
              "connect: bad socket layout in handle (%u sockets, %u threads)", handle.n_sockets,
              handle.n_threads);
  auto c = std::unique_ptr<Connector>(new Connector());
  c->addr_ = handle.addr;
  c->n_threads_ = handle.n_threads;
  uint64_t token = random_u64();
  for (int i = 0; i <= handle.n_sockets; ++i) {
    Sock s;
    s.fd = make_socket(handle.addr.sa.sa_family);
    SQZ_REQUIRE(s.fd.valid(), ncclSystemError, "connect to %s: socket() failed: %s",
                c->peer().c_str(), std::strerror(errno));
    int r = ::connect(s.fd.get(), &handle.addr.sa, sockaddr_len(handle.addr));
    SQZ_REQUIRE(r == 0 || errno == EINPROGRESS, ncclSystemError, "connect to %s failed: %s",
                c->peer().c_str(), std::strerror(errno));
    s.hello = wire::Hello{wire::kHelloMagic, wire::kProtocolVersion, static_cast<uint16_t>(i),
                          handle.nonce, token};
    c->socks_.push_back(std::move(s));
  }
  *out = std::move(c);
  return ncclSuccess;
}

ncclResult_t Connector::poll(std::unique_ptr<Connection>* out) {
  out->reset();
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
  SQZ_REQUIRE(
      ack_.magic == wire::kAckMagic && ack_.version == wire::kProtocolVersion && ack_.status == 0,
      ncclRemoteError, "connect to %s: bad handshake answer (magic 0x%x, status %u)",
      peer().c_str(), ack_.magic, ack_.status);
  auto conn = std::make_unique<Connection>();
  conn->control = std::move(socks_[0].fd);
  for (size_t i = 1; i < socks_.size(); ++i) conn->data.push_back(std::move(socks_[i].fd));
  conn->n_threads = n_threads_;
  conn->peer = addr_;
  conn->peer_staging_bytes = ack_.staging_bytes;
  *out = std::move(conn);
  return ncclSuccess;
}

}  // namespace squeeze::plugin
