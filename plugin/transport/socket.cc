#include "plugin/transport/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace squeeze::plugin {

socklen_t sockaddr_len(const SockAddr& a) {
  return a.sa.sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string sockaddr_to_string(const SockAddr& a) {
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "?";
  char out[sizeof(host) + 16];
  if (a.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a.in4.sin_addr, host, sizeof(host));
    std::snprintf(out, sizeof(out), "%s:%u", host, ntohs(a.in4.sin_port));
  } else if (a.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a.in6.sin6_addr, host, INET6_ADDRSTRLEN);
    if (a.in6.sin6_scope_id != 0) {
      size_t n = std::strlen(host);
      std::snprintf(host + n, sizeof(host) - n, "%%%u", a.in6.sin6_scope_id);
    }
    std::snprintf(out, sizeof(out), "[%s]:%u", host, ntohs(a.in6.sin6_port));
  } else {
    return "unknown-address";
  }
  return out;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

namespace {

// The outcome of one send/sendmsg call that returned n.
IoStep send_result(ssize_t n, size_t* done, int* err) {
  if (n > 0) {
    *done += static_cast<size_t>(n);
    return IoStep::kProgress;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return IoStep::kAgain;
  *err = n < 0 ? errno : EPIPE;
  return (n < 0 && (errno == EPIPE || errno == ECONNRESET)) ? IoStep::kEof : IoStep::kError;
}

}  // namespace

IoStep send_step(int fd, const void* data, size_t len, size_t* done, int* err) {
  if (*done >= len) return IoStep::kProgress;
  ssize_t n = ::send(fd, static_cast<const char*>(data) + *done, len - *done, MSG_NOSIGNAL);
  return send_result(n, done, err);
}

IoStep send_step2(int fd, const void* head, size_t head_len, const void* body, size_t body_len,
                  size_t* done, int* err) {
  if (*done >= head_len) {
    size_t body_done = *done - head_len;
    IoStep st = send_step(fd, body, body_len, &body_done, err);
    *done = head_len + body_done;
    return st;
  }
  iovec iov[2];
  iov[0].iov_base = const_cast<char*>(static_cast<const char*>(head) + *done);
  iov[0].iov_len = head_len - *done;
  iov[1].iov_base = const_cast<void*>(body);
  iov[1].iov_len = body_len;
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = body_len > 0 ? 2 : 1;
  ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  return send_result(n, done, err);
}

IoStep recv_step(int fd, void* data, size_t len, size_t* done, int* err) {
  if (*done >= len) return IoStep::kProgress;
  ssize_t n = ::recv(fd, static_cast<char*>(data) + *done, len - *done, 0);
  if (n > 0) {
    *done += static_cast<size_t>(n);
    return IoStep::kProgress;
  }
  if (n == 0) {
    *err = 0;
    return IoStep::kEof;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return IoStep::kAgain;
  *err = errno;
  return errno == ECONNRESET ? IoStep::kEof : IoStep::kError;
}

const char* xfer_status_text(XferStatus s) {
  switch (s) {
    case XferStatus::kOk:
      return "ok";
    case XferStatus::kAborted:
      return "aborted by close";
    case XferStatus::kEof:
      return "connection closed by peer";
    case XferStatus::kError:
      return "socket error";
    case XferStatus::kStalled:
      return "no progress within NCCL_SQUEEZE_TIMEOUT_S";
  }
  return "?";
}

uint64_t monotonic_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

XferStatus transfer_exact(int fd, bool sending, void* data, size_t len,
                          const std::atomic<bool>& abort, int stall_timeout_s, int* err) {
  constexpr int kTickMs = 50;
  size_t done = 0;
  uint64_t last_progress = monotonic_ns();
  while (done < len) {
    if (abort.load(std::memory_order_acquire)) return XferStatus::kAborted;
    IoStep step =
        sending ? send_step(fd, data, len, &done, err) : recv_step(fd, data, len, &done, err);
    if (step == IoStep::kProgress) {
      last_progress = monotonic_ns();
      continue;
    }
    if (step == IoStep::kEof) return XferStatus::kEof;
    if (step == IoStep::kError) return XferStatus::kError;
    if (stall_timeout_s > 0 &&
        monotonic_ns() - last_progress > static_cast<uint64_t>(stall_timeout_s) * 1000000000ull) {
      return XferStatus::kStalled;
    }
    pollfd p{fd, static_cast<short>(sending ? POLLOUT : POLLIN), 0};
    ::poll(&p, 1, kTickMs);
  }
  return XferStatus::kOk;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms);
  return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

bool peer_hung_up(int fd, int* err) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & POLLERR) {
    socklen_t len = sizeof(*err);
    *err = 0;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len);
    return true;
  }
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    *err = 0;
    return true;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    *err = errno;
    return true;
  }
  return false;
}

bool has_unread_bytes(int fd) {
  char byte;
  ssize_t n;
  do n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace squeeze::plugin
