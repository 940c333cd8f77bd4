#include "tools/a2a/ctl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace squeeze::a2a {
namespace {

int ms_until(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left < 0) return 0;
  return left > 1000 ? 1000 : (int)left;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return std::string("killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

bool make_ctl_pair(int fds[2], std::string* err) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    *err = std::string("socketpair: ") + strerror(errno);
    return false;
  }
  return true;
}

bool ctl_send(int fd, const CtlMsg& m) {
  if (m.len > kMaxCtlPayload) {
    errno = EMSGSIZE;
    return false;
  }
  size_t n = kCtlHeaderBytes + m.len;
  for (;;) {
    ssize_t r = send(fd, &m, n, MSG_NOSIGNAL);
    if (r == (ssize_t)n) return true;
    if (r < 0 && errno == EINTR) continue;
    if (r >= 0) errno = EIO;  // a short datagram: not expected on SOCK_SEQPACKET
    return false;
  }
}

int ctl_recv(int fd, CtlMsg* m, Clock::time_point deadline, std::string* err) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int pr = poll(&p, 1, ms_until(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) {
      *err = std::string("poll: ") + strerror(errno);
      return -1;
    }
    if (pr == 0) {
      if (Clock::now() >= deadline) return 0;
      continue;
    }
    ssize_t r = recv(fd, m, sizeof(CtlMsg), 0);
    if (r < 0 && errno == EINTR) continue;
    // A rank that exits while a forwarded message sits unread in its queue makes Linux report
    // ECONNRESET once, ahead of the messages it sent before exiting (its kError among them).
    // The error is cleared by being reported: read on, so those messages and the EOF arrive.
    if (r < 0 && errno == ECONNRESET) continue;
    if (r == 0) {
      *err = "control channel closed";
      return -1;
    }
    if (r < (ssize_t)kCtlHeaderBytes || (size_t)r != kCtlHeaderBytes + m->len) {
      *err = r < 0 ? std::string("recv: ") + strerror(errno) : "malformed control message";
      return -1;
    }
    return 1;
  }
}

bool CtlClient::send_handle(int dst, int channel, const void* handle, size_t len) {
  CtlMsg m;
  m.type = (uint32_t)MsgType::kHandle;
  m.src = rank_;
  m.dst = dst;
  m.channel = channel;
  m.len = (uint32_t)len;
  std::memcpy(m.data, handle, len);
  return ctl_send(fd_, m);
}

bool CtlClient::send_blob(MsgType type, const void* data, size_t len) {
  if (len > kMaxCtlPayload) return false;
  CtlMsg m;
  m.type = (uint32_t)type;
  m.src = rank_;
  m.len = (uint32_t)len;
  if (len) std::memcpy(m.data, data, len);
  return ctl_send(fd_, m);
}

bool CtlClient::wait_for(MsgType type, int src, int channel, CtlMsg* out,
                         Clock::time_point deadline, std::string* err) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->type == (uint32_t)type && it->src == src && it->channel == channel) {
      *out = *it;
      pending_.erase(it);
      return true;
    }
  }
  for (;;) {
    CtlMsg m;
    int r = ctl_recv(fd_, &m, deadline, err);
    if (r == 0) {
      *err = "timed out waiting for the rendezvous";
      return false;
    }
    if (r < 0) return false;
    if (m.type == (uint32_t)type && m.src == src && m.channel == channel) {
      *out = m;
      return true;
    }
    pending_.push_back(m);  // a message for a later wait (handles arrive in any order)
  }
}

bool CtlClient::wait_handle(int src, int channel, void* handle, size_t len,
                            Clock::time_point deadline, std::string* err) {
  CtlMsg m;
  if (!wait_for(MsgType::kHandle, src, channel, &m, deadline, err)) {
    *err +=
        " (handle from rank " + std::to_string(src) + " channel " + std::to_string(channel) + ")";
    return false;
  }
  if (m.len != len) {
    *err = "handle of unexpected length " + std::to_string(m.len);
    return false;
  }
  std::memcpy(handle, m.data, len);
  return true;
}

bool CtlClient::barrier(int id, Clock::time_point deadline, std::string* err) {
  CtlMsg m;
  m.type = (uint32_t)MsgType::kBarrier;
  m.src = rank_;
  m.channel = id;
  if (!ctl_send(fd_, m)) {
    *err = "cannot reach the parent";
    return false;
  }
  if (!wait_for(MsgType::kGo, -1, id, &m, deadline, err)) {
    *err += " (barrier " + std::to_string(id) + ")";
    return false;
  }
  return true;
}

Router::Router(std::vector<int> fds, std::vector<pid_t> pids)
    : fds_(std::move(fds)),
      pids_(std::move(pids)),
      done_(fds_.size(), false),
      exited_(fds_.size(), false),
      results_(fds_.size()) {}

bool Router::handle(int rank, const CtlMsg& m) {
  const int n = (int)fds_.size();
  switch ((MsgType)m.type) {
    case MsgType::kHandle:
      if (m.src != rank || m.dst < 0 || m.dst >= n) {
        error_ = "rank " + std::to_string(rank) + " sent a handle with bad addressing";
        return false;
      }
      if (!ctl_send(fds_[m.dst], m)) {
        // A destination that already exited is judged by its own channel (its last messages,
        // then its exit status), which poll() reports next: that is the error worth naming.
        if (errno == EPIPE || errno == ECONNRESET) return true;
        error_ =
            "cannot forward a handle to rank " + std::to_string(m.dst) + ": " + strerror(errno);
        return false;
      }
      return true;
    case MsgType::kBarrier:
      if (barrier_count_ == 0) barrier_id_ = m.channel;
      if (m.channel != barrier_id_) {
        error_ = "rank " + std::to_string(rank) + " is at barrier " + std::to_string(m.channel) +
                 " while others are at " + std::to_string(barrier_id_);
        return false;
      }
      if (++barrier_count_ == n) {
        CtlMsg go;
        go.type = (uint32_t)MsgType::kGo;
        go.channel = barrier_id_;
        for (int fd : fds_) ctl_send(fd, go);
        barrier_count_ = 0;
      }
      return true;
    case MsgType::kResult:
      results_[rank].emplace_back(m.data, m.data + m.len);
      return true;
    case MsgType::kError:
      error_ = "rank " + std::to_string(rank) + ": " + std::string((const char*)m.data, m.len);
      return false;
    case MsgType::kDone:
      done_[rank] = true;
      return true;
    default:
      error_ = "rank " + std::to_string(rank) + " sent an unknown message";
      return false;
  }
}

Router::Outcome Router::run(Clock::time_point deadline, const volatile int* interrupted) {
  const size_t n = fds_.size();
  std::vector<pollfd> pfds(n);
  for (;;) {
    if (interrupted != nullptr && *interrupted) return Outcome::kInterrupted;
    bool all = true;
    for (size_t i = 0; i < n; ++i) all = all && done_[i] && exited_[i];
    if (all) return Outcome::kAllDone;
    if (Clock::now() >= deadline) {
      error_ = "timed out: ranks not finished:";
      for (size_t i = 0; i < n; ++i)
        if (!done_[i]) error_ += " " + std::to_string(i);
      return Outcome::kTimeout;
    }
    for (size_t i = 0; i < n; ++i) pfds[i] = {exited_[i] ? -1 : fds_[i], POLLIN, 0};
    int pr = poll(pfds.data(), n, ms_until(deadline) > 200 ? 200 : ms_until(deadline));
    if (pr < 0 && errno != EINTR) {
      error_ = std::string("poll: ") + strerror(errno);
      return Outcome::kFailed;
    }
    for (size_t i = 0; i < n && pr > 0; ++i) {
      if (pfds[i].revents == 0) continue;
      CtlMsg m;
      std::string err;
      int r = ctl_recv(fds_[i], &m, Clock::now(), &err);
      if (r == 1) {
        if (!handle((int)i, m)) return Outcome::kFailed;
        continue;
      }
      if (r == 0) continue;
      // The rank closed its end: it exited (or is exiting). Reap it and judge how it ended.
      int status = 0;
      pid_t w;
      do w = waitpid(pids_[i], &status, 0);
      while (w < 0 && errno == EINTR);
      exited_[i] = true;
      pids_[i] = -1;
      if (w > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (error_.empty()) error_ = "rank " + std::to_string(i) + " " + describe_exit(status);
        return Outcome::kFailed;
      }
      if (!done_[i]) {
        error_ = "rank " + std::to_string(i) + " exited before finishing";
        return Outcome::kFailed;
      }
    }
  }
}

}  // namespace squeeze::a2a
