// Rate limits for the listener's warnings: a flood of hostile or idle connections must not flood
// the log of the training job the plugin lives in. Pure bookkeeping on the times the caller
// passes (so that tests can move the clock); the caller logs.
#pragma once

#include <cstdint>

namespace squeeze::plugin {

// The window of both limits.
constexpr uint64_t kWarnWindowNs = 60ull * 1000000000ull;

// At most per_window named warnings a window; the rest are counted, and the count is handed back
// with the first warning asked for in a later window (the caller logs it as one line).
class WarnLimiter {
 public:
  explicit WarnLimiter(int per_window) : per_window_(per_window) {}

  // True when one more warning may be logged at now_ns. *held_back: how many were counted instead
  // of logged in the window that has just ended (0 but once per window).
  bool allow(uint64_t now_ns, uint64_t* held_back) {
    *held_back = 0;
    if (!started_ || now_ns - since_ns_ >= kWarnWindowNs) {
      *held_back = quiet_;
      started_ = true;
      since_ns_ = now_ns;
      logged_ = 0;
      quiet_ = 0;
    }
    if (logged_ < per_window_) {
      ++logged_;
      return true;
    }
    ++quiet_;
    return false;
  }

 private:
  int per_window_;
  bool started_ = false;
  uint64_t since_ns_ = 0;
  int logged_ = 0;
  uint64_t quiet_ = 0;
};

// Descriptor-exhaustion episodes (accept failing with EMFILE / ENFILE until the backlog drains).
// Under a connection flood they come one per poll, as the backlog refills as soon as it drains:
// the first episode of a window is logged at its start and its end; the others are counted, with
// the handshakes they dropped, and reported at the start of the next one logged.
class EpisodeLog {
 public:
  struct Start {
    bool log;                 // log this episode (its start now, its end later)
    uint64_t quiet_episodes;  // episodes not logged since the last one logged
    uint64_t quiet_shed;      // handshakes those episodes dropped
  };

  // An episode starts at now_ns.
  Start start(uint64_t now_ns) {
    logged_ = !started_ || now_ns - logged_ns_ >= kWarnWindowNs;
    if (!logged_) {
      ++quiet_episodes_;
      return Start{false, 0, 0};
    }
    const Start s{true, quiet_episodes_, quiet_shed_};
    started_ = true;
    logged_ns_ = now_ns;
    quiet_episodes_ = 0;
    quiet_shed_ = 0;
    return s;
  }

  // The episode is over, having dropped shed handshakes: true when its end is to be logged.
  bool end(uint64_t shed) {
    if (!logged_) quiet_shed_ += shed;
    return logged_;
  }

 private:
  bool started_ = false;  // an episode has been logged (logged_ns_ holds its start)
  bool logged_ = false;   // the current (or last) episode is logged
  uint64_t logged_ns_ = 0;
  uint64_t quiet_episodes_ = 0;
  uint64_t quiet_shed_ = 0;
};

}  // namespace squeeze::plugin
