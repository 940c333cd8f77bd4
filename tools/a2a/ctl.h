// Local rendezvous for squeeze-a2a: the parent holds one SOCK_SEQPACKET socketpair per rank and
// routes messages between ranks (listen handles), runs barriers and collects results. It plays
// the role NCCL's bootstrap plays, with every wait bounded by a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace squeeze::a2a {

enum class MsgType : uint32_t {
  kHandle = 1,   // rank src -> rank dst: listen handle of dst's receive comm from src, on channel
  kBarrier = 2,  // rank -> parent: reached barrier number `channel`
  kGo = 3,       // parent -> every rank: barrier `channel` complete
  kResult = 4,   // rank -> parent: a RankResult
  kError = 5,    // rank -> parent: text of a fatal error
  kDone = 6,     // rank -> parent: finished cleanly
};

constexpr size_t kMaxCtlPayload = 4096;

struct CtlMsg {
  uint32_t type = 0;
  int32_t src = -1;
  int32_t dst = -1;
  int32_t channel = 0;
  uint32_t len = 0;
  uint8_t data[kMaxCtlPayload];
};
constexpr size_t kCtlHeaderBytes = offsetof(CtlMsg, data);

using Clock = std::chrono::steady_clock;

// Creates a SEQPACKET socketpair; fds[0] for the parent, fds[1] for the child. Both CLOEXEC.
bool make_ctl_pair(int fds[2], std::string* err);

// Sends one message (header plus len bytes). Returns false on error.
bool ctl_send(int fd, const CtlMsg& m);
// Receives one message, waiting until deadline. 1: got one, 0: timeout, -1: peer closed or error
// (err says which).
int ctl_recv(int fd, CtlMsg* m, Clock::time_point deadline, std::string* err);

// Child side.
class CtlClient {
 public:
  CtlClient(int fd, int rank) : fd_(fd), rank_(rank) {}
  bool send_handle(int dst, int channel, const void* handle, size_t len);
  // Waits for the handle that rank src sent to us for `channel`.
  bool wait_handle(int src, int channel, void* handle, size_t len, Clock::time_point deadline,
                   std::string* err);
  bool barrier(int id, Clock::time_point deadline, std::string* err);
  bool send_blob(MsgType type, const void* data, size_t len);
  int fd() const { return fd_; }

 private:
  bool wait_for(MsgType type, int src, int channel, CtlMsg* out, Clock::time_point deadline,
                std::string* err);
  int fd_;
  int rank_;
  std::deque<CtlMsg> pending_;
};

// Parent side: routes handles, completes barriers, gathers results and errors.
class Router {
 public:
  // fds[i] is the parent end for rank i; pids[i] the child's pid (for crash detection).
  Router(std::vector<int> fds, std::vector<pid_t> pids);
  enum class Outcome { kAllDone, kFailed, kTimeout, kInterrupted };
  // Runs until every rank sent kDone and exited 0, or a rank failed/exited early, or deadline, or
  // *interrupted becomes non-zero.
  Outcome run(Clock::time_point deadline, const volatile int* interrupted);
  // Every kResult blob each rank sent, in order.
  const std::vector<std::vector<std::vector<uint8_t>>>& results() const { return results_; }
  const std::string& error() const { return error_; }
  // Pids not reaped yet (-1 for ranks already reaped by run()).
  const std::vector<pid_t>& unreaped_pids() const { return pids_; }

 private:
  bool handle(int rank, const CtlMsg& m);
  std::vector<int> fds_;
  std::vector<pid_t> pids_;
  std::vector<bool> done_, exited_;
  int barrier_id_ = -1;
  int barrier_count_ = 0;
  std::vector<std::vector<std::vector<uint8_t>>> results_;
  std::string error_;
};

}  // namespace squeeze::a2a
