// Socket helpers for the TCP transport: addresses, non-blocking descriptors, and exact-size
// transfers for the helper threads that poll with short ticks so that close, peer death and the
// stall timeout are noticed in bounded time.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace squeeze::plugin {

union SockAddr {
  sockaddr sa;
  sockaddr_in in4;
  sockaddr_in6 in6;
};
static_assert(sizeof(SockAddr) == 28, "SockAddr travels inside the 128-byte handle");

socklen_t sockaddr_len(const SockAddr& a);
// "1.2.3.4:5" or "[fe80::1%2]:5".
std::string sockaddr_to_string(const SockAddr& a);

// Owns a descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

bool set_nonblocking(int fd);
void set_nodelay(int fd);

// One non-blocking step: moves as many bytes as the kernel takes now.
enum class IoStep { kProgress, kAgain, kEof, kError };
IoStep send_step(int fd, const void* data, size_t len, size_t* done, int* err);
IoStep recv_step(int fd, void* data, size_t len, size_t* done, int* err);
// send_step over head (head_len bytes) then body, as one byte stream: *done counts both, so a
// header and the chunk after it leave in one system call.
IoStep send_step2(int fd, const void* head, size_t head_len, const void* body, size_t body_len,
                  size_t* done, int* err);

// Result of a transfer by a helper thread.
enum class XferStatus { kOk, kAborted, kEof, kError, kStalled };
const char* xfer_status_text(XferStatus s);

// Sends or receives exactly len bytes on a non-blocking socket, polling in short ticks. Returns
// kAborted as soon as *abort is set, kStalled when no byte moved for stall_timeout_s seconds
// (0: never). *err receives errno for kError.
XferStatus transfer_exact(int fd, bool sending, void* data, size_t len,
                          const std::atomic<bool>& abort, int stall_timeout_s, int* err);

// Waits up to timeout_ms for fd to become readable (or hung up). True when it is.
bool wait_readable(int fd, int timeout_ms);

// True when a socket on which the peer never sends shows EOF or an error (peer gone).
bool peer_hung_up(int fd, int* err);

// True when bytes the peer sent are waiting to be read on fd (even if the peer has since closed).
bool has_unread_bytes(int fd);

uint64_t monotonic_ns();

}  // namespace squeeze::plugin
