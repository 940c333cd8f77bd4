// squeeze-soak-connect: connect / transfer / close cycles through the plugin between two
// processes, watching descriptors, resident memory and heap for growth.
//
// Two forked ranks dlopen the built plugin (as NCCL does) and, in every cycle, each listens,
// swaps handles with the other over a socketpair, connects to it and accepts from it (both loops
// non-blocking, as NCCL's proxy drives them), registers its buffers, sends a few messages each way
// (lossy float32 ones and passthrough ones, including an empty one), checks every received
// element (bit-exact, or within the abs bound), deregisters and closes both comms. Each threading
// mode runs in fresh processes. Each rank records its open descriptors (/proc/self/fd), resident
// set (/proc/self/statm) and heap in use before the first cycle, after the warm-up, every
// --every cycles, after the last cycle and after finalize, and fails on growth.
#include <fcntl.h>
#include <getopt.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "tools/soak/soak_common.h"

namespace {

using namespace soak;

constexpr double kBound = 1e-3;     // abs bound of the lossy messages
constexpr size_t kMinBytes = 4096;  // smaller messages pass through bit-exact
constexpr int kMaxSamples = 256;
// The messages each rank sends per cycle (and receives from its peer).
const size_t kSizes[] = {131072, 1000, 300000, 0, 4095};
constexpr int kMessages = sizeof(kSizes) / sizeof(kSizes[0]);

struct Options {
  long cycles = 10000;
  std::vector<int> modes = {0, 2};
  long every = 1000;
  long warmup = -1;  // -1: min(1000, cycles / 10)
  double heap_tolerance_kb = 1024;
  double rss_tolerance_mb = 16;
  double cycle_timeout_s = 30;
  bool verbose = false;
};

struct Sample {
  long cycle;  // cycles done when taken (-1: before init)
  int fds;
  uint64_t rss;
  uint64_t heap;
};

// What a rank reports to the parent (over a pipe, as bytes).
struct RankResult {
  int rank = -1;
  long cycles_done = 0;
  int failed = 0;  // 1: an error, 2: a hang (a cycle past its deadline)
  char first_error[512] = {};
  uint64_t messages = 0;
  uint64_t lossy_messages = 0;
  uint64_t bad_elements = 0;
  uint64_t changed_elements = 0;  // by the codec, within the bound
  double cycle_ms_median = 0, cycle_ms_p99 = 0, cycle_ms_max = 0;
  double seconds = 0;
  int n_samples = 0;
  Sample samples[kMaxSamples];
  // Indices into samples.
  int before = -1, baseline = -1, after = -1, final_ = -1;
  uint64_t warnings = 0;
};

// ---- inside a rank -----------------------------------------------------------------------------

class Rank {
 public:
  Rank(int rank, const Channel& ch, const Options& o) : rank_(rank), ch_(ch), o_(o) {
    // The result travels to the parent as bytes: its padding must be defined too (valgrind).
    std::memset(static_cast<void*>(&res_), 0, sizeof(res_));
    res_.rank = rank;
    res_.before = res_.baseline = res_.after = res_.final_ = -1;
  }

  RankResult run() {
    const auto t0 = Clock::now();
    size_t total = 0;
    for (size_t s : kSizes) total += s;
    sendbuf_.assign(total, 0);
    recvbuf_.assign(total + 64 * kMessages, 0);
    base_.assign(total, 0);
    // Both ranks compute the same payloads: float32 embeddings (a few repeated vectors, the rest
    // Gaussian) for the lossy messages, random bytes for the small ones.
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.0f, 0.3f);
    size_t off = 0;
    for (size_t s : kSizes) {
      if (s >= kMinBytes) {
        for (size_t i = 0; i + 4 <= s; i += 4) {
          float v = (i / 64) % 5 == 0 ? 0.125f * static_cast<float>((i / 4) % 16) : normal(rng);
          std::memcpy(&base_[off + i], &v, 4);
        }
      } else {
        for (size_t i = 0; i < s; ++i) base_[off + i] = static_cast<char>(rng());
      }
      off += s;
    }

    sample(-1);  // before the plugin is initialised
    void* ctx = nullptr;
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    if (net()->init(&ctx, 0x50a4, &cfg, logger, nullptr) != ncclSuccess) return fail("init");
    ncclNetAttr_v11_t attr;
    std::memset(&attr, 0xff, sizeof(attr));
    attr.op = 0x7C0;  // a p2p connection hint, as NCCL gives for all-to-all connections
    net()->setNetAttr(ctx, &attr);
    // The "before" sample is taken right after init: the plugin's process state exists, no
    // connection does.
    sample(0);
    res_.before = res_.n_samples - 1;

    const long warmup = o_.warmup >= 0 ? o_.warmup : std::min<long>(1000, o_.cycles / 10);
    std::vector<double> cycle_ms;
    cycle_ms.reserve(static_cast<size_t>(o_.cycles));
    for (long c = 0; c < o_.cycles; ++c) {
      const auto tc = Clock::now();
      if (!cycle(ctx, c)) break;
      cycle_ms.push_back(seconds_since(tc) * 1e3);
      res_.cycles_done = c + 1;
      if (res_.cycles_done == warmup) {
        sample(res_.cycles_done);
        res_.baseline = res_.n_samples - 1;
      } else if (res_.cycles_done % o_.every == 0 && res_.cycles_done != o_.cycles) {
        sample(res_.cycles_done);
      }
      if (o_.verbose && res_.cycles_done % o_.every == 0)
        std::fprintf(stderr, "rank %d: %ld cycles, %d fds, rss %.1f MiB, heap %.1f MiB\n", rank_,
                     res_.cycles_done, open_descriptors(), rss_bytes() / 1048576.0,
                     heap_bytes() / 1048576.0);
    }
    sample(res_.cycles_done);
    res_.after = res_.n_samples - 1;
    if (res_.baseline < 0) res_.baseline = res_.before;
    if (net()->finalize(ctx) != ncclSuccess && !res_.failed) fail("finalize");
    sample(res_.cycles_done);
    res_.final_ = res_.n_samples - 1;
    if (!cycle_ms.empty()) {
      std::sort(cycle_ms.begin(), cycle_ms.end());
      res_.cycle_ms_median = cycle_ms[cycle_ms.size() / 2];
      res_.cycle_ms_p99 = cycle_ms[cycle_ms.size() * 99 / 100];
      res_.cycle_ms_max = cycle_ms.back();
    }
    res_.seconds = seconds_since(t0);
    res_.warnings = warnings_logged();
    return res_;
  }

 private:
  RankResult fail(const char* what, int kind = 1) {
    if (!res_.failed) {
      res_.failed = kind;
      std::snprintf(res_.first_error, sizeof(res_.first_error), "rank %d, cycle %ld: %s", rank_,
                    res_.cycles_done, what);
    }
    return res_;
  }
  bool fail_cycle(const std::string& what, int kind = 1) {
    fail(what.c_str(), kind);
    return false;
  }
  void sample(long cycle) {
    if (res_.n_samples >= kMaxSamples) return;
    Sample& x = res_.samples[res_.n_samples++];  // member by member: the padding stays zero
    x.cycle = cycle;
    x.fds = open_descriptors();
    x.rss = rss_bytes();
    x.heap = heap_bytes();
  }
  bool late(Clock::time_point start) const { return seconds_since(start) > o_.cycle_timeout_s; }

  bool cycle(void* ctx, long c) {
    ncclNet_v11_t* n = net();
    const auto start = Clock::now();
    // Connection setup: both listen, swap handles, connect and accept in one loop.
    char mine[NCCL_NET_HANDLE_MAXSIZE] = {}, theirs[NCCL_NET_HANDLE_MAXSIZE] = {};
    void* listen = nullptr;
    if (n->listen(ctx, 0, mine, &listen) != ncclSuccess || listen == nullptr)
      return fail_cycle("listen failed");
    if (!ch_.exchange(mine, theirs, sizeof(mine))) {
      n->closeListen(listen);
      return fail_cycle("bootstrap: the peer rank is gone");
    }
    void* send = nullptr;
    void* recv = nullptr;
    while (send == nullptr || recv == nullptr) {
      if (send == nullptr && n->connect(ctx, 0, theirs, &send, nullptr) != ncclSuccess)
        return fail_cycle("connect failed");
      if (recv == nullptr && n->accept(listen, &recv, nullptr) != ncclSuccess)
        return fail_cycle("accept failed");
      if (late(start)) return fail_cycle("connect/accept did not finish (hang)", 2);
    }
    if (n->closeListen(listen) != ncclSuccess) return fail_cycle("closeListen failed");

    void* smh = nullptr;
    void* rmh = nullptr;
    if (n->regMr(send, sendbuf_.data(), sendbuf_.size(), NCCL_PTR_HOST, &smh) != ncclSuccess ||
        n->regMr(recv, recvbuf_.data(), recvbuf_.size(), NCCL_PTR_HOST, &rmh) != ncclSuccess)
      return fail_cycle("regMr failed");
    // This cycle's payloads: the base ones with a per-cycle first element (stale data would show).
    std::memcpy(sendbuf_.data(), base_.data(), base_.size());
    size_t off = 0;
    for (size_t s : kSizes) {
      if (s >= kMinBytes) {
        const float v = 0.001f * static_cast<float>(c % 977) + 0.01f * static_cast<float>(rank_);
        std::memcpy(&sendbuf_[off], &v, 4);
      } else if (s > 0) {
        sendbuf_[off] = static_cast<char>(c + rank_);
      }
      off += s;
    }
    // Post everything (retrying a NULL answer), then test everything until done.
    void* sreq[kMessages] = {};
    void* rreq[kMessages] = {};
    int rsize[kMessages];
    bool sdone[kMessages] = {}, rdone[kMessages] = {};
    size_t soff = 0, roff = 0;
    int left = 2 * kMessages;
    int sposted = 0, rposted = 0;
    while (left > 0) {
      if (sposted < kMessages) {
        void* req = nullptr;
        if (n->isend(send, sendbuf_.data() + soff, kSizes[sposted], rank_, smh, nullptr, &req) !=
            ncclSuccess)
          return fail_cycle(fmt("isend of message %d failed", sposted));
        if (req != nullptr) {
          sreq[sposted] = req;
          soff += kSizes[sposted++];
        }
      }
      if (rposted < kMessages) {
        void* req = nullptr;
        void* data = recvbuf_.data() + roff;
        size_t size = kSizes[rposted] + 64;
        int tag = 1 - rank_;
        if (n->irecv(recv, 1, &data, &size, &tag, &rmh, nullptr, &req) != ncclSuccess)
          return fail_cycle(fmt("irecv of message %d failed", rposted));
        if (req != nullptr) {
          rreq[rposted] = req;
          roff += kSizes[rposted++] + 64;
        }
      }
      for (int k = 0; k < sposted; ++k) {
        if (sdone[k]) continue;
        int done = 0, sz = 0;
        if (n->test(sreq[k], &done, &sz) != ncclSuccess)
          return fail_cycle(fmt("test of send %d failed", k));
        if (done) {
          sdone[k] = true;
          --left;
        }
      }
      for (int k = 0; k < rposted; ++k) {
        if (rdone[k]) continue;
        int done = 0;
        if (n->test(rreq[k], &done, &rsize[k]) != ncclSuccess)
          return fail_cycle(fmt("test of receive %d failed", k));
        if (done) {
          rdone[k] = true;
          --left;
        }
      }
      if (late(start)) return fail_cycle("transfer did not finish (hang)", 2);
      if (left > 0) std::this_thread::yield();
    }
    // Check what arrived against what the peer sent.
    std::vector<char> want(base_);
    off = 0;
    roff = 0;
    const int peer = 1 - rank_;
    for (int k = 0; k < kMessages; ++k) {
      const size_t s = kSizes[k];
      if (rsize[k] != static_cast<int>(s))
        return fail_cycle(fmt("message %d: test() said %d bytes, %zu sent", k, rsize[k], s));
      if (s >= kMinBytes) {
        const float v = 0.001f * static_cast<float>(c % 977) + 0.01f * static_cast<float>(peer);
        std::memcpy(&want[off], &v, 4);
      } else if (s > 0) {
        want[off] = static_cast<char>(c + peer);
      }
      const char* got = recvbuf_.data() + roff;
      ++res_.messages;
      if (s < kMinBytes) {
        if (s > 0 && std::memcmp(got, &want[off], s) != 0) {
          ++res_.bad_elements;
          return fail_cycle(fmt("message %d (%zu bytes, passthrough) is not bit-exact", k, s));
        }
      } else {
        ++res_.lossy_messages;
        for (size_t i = 0; i + 4 <= s; i += 4) {
          float a, b;
          std::memcpy(&a, &want[off + i], 4);
          std::memcpy(&b, got + i, 4);
          if (!(std::fabs(static_cast<double>(a) - static_cast<double>(b)) <= kBound)) {
            ++res_.bad_elements;
          } else if (std::memcmp(&a, &b, 4) != 0) {
            ++res_.changed_elements;
          }
        }
        if (res_.bad_elements > 0)
          return fail_cycle(fmt("message %d: elements outside the bound %g", k, kBound));
      }
      off += s;
      roff += s + 64;
    }
    if (n->deregMr(send, smh) != ncclSuccess || n->deregMr(recv, rmh) != ncclSuccess)
      return fail_cycle("deregMr failed");
    if (n->closeSend(send) != ncclSuccess) return fail_cycle("closeSend failed");
    if (n->closeRecv(recv) != ncclSuccess) return fail_cycle("closeRecv failed");
    return true;
  }

  int rank_;
  Channel ch_;
  const Options& o_;
  RankResult res_;
  std::vector<char> sendbuf_, recvbuf_, base_;
};

void configure_rank(int threads) {
  setenv("NCCL_SQUEEZE_IFNAME", "lo", 0);
  const std::string t = std::to_string(threads);
  setenv("NCCL_SQUEEZE_THREADS", t.c_str(), 1);
  setenv("NCCL_SQUEEZE_CODEC_THREADS", t.c_str(), 1);
  setenv("NCCL_SQUEEZE_ASSUME_DTYPE", "f32", 1);
  setenv("NCCL_SQUEEZE_MODE", "abs", 1);
  setenv("NCCL_SQUEEZE_BOUND", "1e-3", 1);
  setenv("NCCL_SQUEEZE_MIN_BYTES", std::to_string(kMinBytes).c_str(), 1);
  setenv("NCCL_SQUEEZE_STATS", "0", 1);
  setenv("NCCL_SQUEEZE_TIMEOUT_S", "20", 0);
}

// ---- the parent --------------------------------------------------------------------------------

struct ModeResult {
  int threads;
  RankResult ranks[2];
  std::string status[2];
  int killed = 0;
  bool ok = false;
  std::vector<std::string> problems;
};

ModeResult run_mode(int threads, const Options& o) {
  ModeResult m;
  m.threads = threads;
  int sv[2];
  int pipes[2][2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(pipes[0], O_CLOEXEC) ||
      pipe2(pipes[1], O_CLOEXEC)) {
    m.problems.push_back("socketpair/pipe failed");
    return m;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<Child> kids(2);
  for (int r = 0; r < 2; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      ::close(sv[1 - r]);
      ::close(pipes[r][0]);
      ::close(pipes[1 - r][0]);
      ::close(pipes[1 - r][1]);
      configure_rank(threads);
      Rank rank(r, Channel{sv[r]}, o);
      RankResult res = rank.run();
      write_fd_all(pipes[r][1], &res, sizeof(res));
      ::close(sv[r]);
      std::fflush(stdout);
      std::fflush(stderr);
      leak_check_before_exit();
      _exit(res.failed ? 1 : 0);
    }
    kids[static_cast<size_t>(r)].pid = pid;
  }
  ::close(sv[0]);
  ::close(sv[1]);
  ::close(pipes[0][1]);
  ::close(pipes[1][1]);
  std::string out[2];
  // Read both results while the ranks run (each writes once, at its end).
  std::thread reader([&] { out[1] = read_all_fd(pipes[1][0]); });
  out[0] = read_all_fd(pipes[0][0]);
  reader.join();
  m.killed = reap(&kids, 60);
  for (int r = 0; r < 2; ++r) {
    ::close(pipes[r][0]);
    m.status[r] = describe_status(kids[static_cast<size_t>(r)].status);
    if (out[r].size() == sizeof(RankResult)) {
      std::memcpy(&m.ranks[r], out[r].data(), sizeof(RankResult));
    } else {
      m.ranks[r].rank = r;
      m.ranks[r].failed = 1;
      std::snprintf(m.ranks[r].first_error, sizeof(m.ranks[r].first_error),
                    "rank %d ended without a result (%s)", r, m.status[r].c_str());
    }
  }
  // Verdict.
  const bool judge_rss = std::string(instrumentation()) == "none";
  const bool judge_heap = !SOAK_ON_VALGRIND();
  for (int r = 0; r < 2; ++r) {
    const RankResult& x = m.ranks[r];
    if (x.failed) m.problems.push_back(x.first_error);
    if (m.status[r] != "exit 0")
      m.problems.push_back(fmt("rank %d ended with %s", r, m.status[r].c_str()));
    if (x.failed || x.after < 0) continue;
    const Sample& b = x.samples[x.before];
    const Sample& base = x.samples[x.baseline];
    const Sample& a = x.samples[x.after];
    const Sample& f = x.samples[x.final_];
    if (a.fds != b.fds || f.fds != b.fds)
      m.problems.push_back(
          fmt("rank %d: %d descriptors before, %d after the last cycle, %d after "
              "finalize",
              r, b.fds, a.fds, f.fds));
    uint64_t heap_max = 0, rss_max = 0;
    for (int k = x.baseline; k <= x.after; ++k) {
      heap_max = std::max(heap_max, x.samples[k].heap);
      rss_max = std::max(rss_max, x.samples[k].rss);
    }
    const double heap_growth = (static_cast<double>(a.heap) - base.heap) / 1024.0;
    const double rss_growth = (static_cast<double>(a.rss) - base.rss) / 1048576.0;
    if (judge_heap && heap_growth > o.heap_tolerance_kb)
      m.problems.push_back(fmt("rank %d: heap grew by %.1f KiB from cycle %ld to %ld", r,
                               heap_growth, base.cycle, a.cycle));
    if (judge_rss && rss_growth > o.rss_tolerance_mb)
      m.problems.push_back(fmt("rank %d: resident set grew by %.1f MiB from cycle %ld to %ld", r,
                               rss_growth, base.cycle, a.cycle));
  }
  if (m.killed) m.problems.push_back(fmt("%d rank(s) did not end and were killed", m.killed));
  m.ok = m.problems.empty();
  return m;
}

std::string sample_json(const Sample& s) {
  return fmt("{\"cycle\":%ld,\"fds\":%d,\"rss\":%llu,\"heap\":%llu}", s.cycle, s.fds,
             static_cast<unsigned long long>(s.rss), static_cast<unsigned long long>(s.heap));
}

std::string mode_json(const ModeResult& m) {
  std::string j = fmt("{\"threads\":%d,\"ok\":%s,\"killed\":%d,\"problems\":[", m.threads,
                      m.ok ? "true" : "false", m.killed);
  for (size_t k = 0; k < m.problems.size(); ++k) j += (k ? "," : "") + json_str(m.problems[k]);
  j += "],\"ranks\":[";
  for (int r = 0; r < 2; ++r) {
    const RankResult& x = m.ranks[r];
    j +=
        fmt("%s{\"rank\":%d,\"status\":%s,\"cycles\":%ld,\"failed\":%d,\"error\":%s,"
            "\"messages\":%llu,\"lossy_messages\":%llu,\"bad_elements\":%llu,"
            "\"changed_elements\":%llu,\"warnings\":%llu,\"seconds\":%.2f,"
            "\"cycle_ms\":{\"median\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"samples\":[",
            r ? "," : "", r, json_str(m.status[r]).c_str(), x.cycles_done, x.failed,
            json_str(x.first_error).c_str(), static_cast<unsigned long long>(x.messages),
            static_cast<unsigned long long>(x.lossy_messages),
            static_cast<unsigned long long>(x.bad_elements),
            static_cast<unsigned long long>(x.changed_elements),
            static_cast<unsigned long long>(x.warnings), x.seconds, x.cycle_ms_median,
            x.cycle_ms_p99, x.cycle_ms_max);
    for (int k = 0; k < x.n_samples; ++k) j += (k ? "," : "") + sample_json(x.samples[k]);
    j += fmt("],\"before\":%d,\"baseline\":%d,\"after\":%d,\"final\":%d}", x.before, x.baseline,
             x.after, x.final_);
  }
  return j + "]}";
}

void summary(const ModeResult& m) {
  std::printf("threads=%d (%s): %s\n", m.threads, m.threads == 0 ? "inline" : "helpers",
              m.ok ? "PASS" : "FAIL");
  for (int r = 0; r < 2; ++r) {
    const RankResult& x = m.ranks[r];
    std::printf(
        "  rank %d: %ld cycles in %.1f s (cycle median %.2f ms, p99 %.2f, max %.1f), %llu "
        "messages (%llu lossy, %llu elements changed within the bound, %llu outside), "
        "%llu plugin warnings, %s\n",
        r, x.cycles_done, x.seconds, x.cycle_ms_median, x.cycle_ms_p99, x.cycle_ms_max,
        static_cast<unsigned long long>(x.messages),
        static_cast<unsigned long long>(x.lossy_messages),
        static_cast<unsigned long long>(x.changed_elements),
        static_cast<unsigned long long>(x.bad_elements),
        static_cast<unsigned long long>(x.warnings), m.status[r].c_str());
    for (int k = 0; k < x.n_samples; ++k) {
      const Sample& s = x.samples[k];
      const char* label = k == 0 && x.before == 1 ? "init"
                          : k == x.before         ? "before"
                          : k == x.baseline       ? "warm"
                          : k == x.after          ? "after"
                          : k == x.final_         ? "final"
                                                  : "";
      std::printf("    %-6s cycle %6ld: %3d fds, rss %8.2f MiB, heap %9.1f KiB\n", label, s.cycle,
                  s.fds, s.rss / 1048576.0, s.heap / 1024.0);
    }
  }
  for (const std::string& p : m.problems) std::printf("  problem: %s\n", p.c_str());
}

void usage(const char* argv0) {
  std::printf(
      "usage: %s [options]\n"
      "Connect / transfer / close cycles through the plugin between two processes; fails when\n"
      "descriptors, heap or resident memory grow. Prints one JSON line, then a summary.\n"
      "  --cycles N          cycles per threading mode (default 10000)\n"
      "  --threads LIST      threading modes: 0 (inline), 2 (helper threads), or both (default\n"
      "                      0,2); sets NCCL_SQUEEZE_THREADS and NCCL_SQUEEZE_CODEC_THREADS\n"
      "  --every N           sample every N cycles (default 1000)\n"
      "  --warmup N          cycles before the baseline sample (default min(1000, cycles/10))\n"
      "  --heap-tolerance-kb X  allowed heap growth from the baseline (default 1024)\n"
      "  --rss-tolerance-mb X   allowed resident growth from the baseline (default 16; not\n"
      "                      judged under ASan or valgrind, whose allocators keep freed memory)\n"
      "  --cycle-timeout S   a cycle longer than this is a hang (default 30)\n"
      "  --plugin PATH       the plugin library (default %s)\n"
      "  --verbose           progress on stderr; -v twice also echoes the plugin's log\n"
      "Each message is checked: passthrough ones bit-exact, lossy ones (float32, abs 1e-3)\n"
      "within the bound. Exit status 0 when every mode passed.\n",
      argv0, SQUEEZE_SOAK_DEFAULT_PLUGIN);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int verbose = 0;
  static const option opts[] = {{"cycles", required_argument, nullptr, 'c'},
                                {"threads", required_argument, nullptr, 't'},
                                {"every", required_argument, nullptr, 'e'},
                                {"warmup", required_argument, nullptr, 'w'},
                                {"heap-tolerance-kb", required_argument, nullptr, 'H'},
                                {"rss-tolerance-mb", required_argument, nullptr, 'R'},
                                {"cycle-timeout", required_argument, nullptr, 'T'},
                                {"plugin", required_argument, nullptr, 'p'},
                                {"verbose", no_argument, nullptr, 'v'},
                                {"help", no_argument, nullptr, 'h'},
                                {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "c:t:e:w:H:R:T:p:vh", opts, nullptr)) != -1;) {
    switch (c) {
      case 'c':
        o.cycles = std::atol(optarg);
        break;
      case 't': {
        o.modes.clear();
        std::string s = optarg;
        if (s == "both") s = "0,2";
        for (size_t p = 0; p < s.size();) {
          size_t q = s.find(',', p);
          if (q == std::string::npos) q = s.size();
          o.modes.push_back(std::atoi(s.substr(p, q - p).c_str()));
          p = q + 1;
        }
        break;
      }
      case 'e':
        o.every = std::max(1L, std::atol(optarg));
        break;
      case 'w':
        o.warmup = std::atol(optarg);
        break;
      case 'H':
        o.heap_tolerance_kb = std::atof(optarg);
        break;
      case 'R':
        o.rss_tolerance_mb = std::atof(optarg);
        break;
      case 'T':
        o.cycle_timeout_s = std::atof(optarg);
        break;
      case 'p':
        plugin_path() = optarg;
        break;
      case 'v':
        ++verbose;
        break;
      case 'h':
        usage(argv[0]);
        return 0;
      default:
        usage(argv[0]);
        return 2;
    }
  }
  if (o.cycles < 1 || o.modes.empty()) {
    usage(argv[0]);
    return 2;
  }
  o.verbose = verbose > 0;
  plugin_log().echo = verbose > 1;
  std::vector<ModeResult> results;
  for (int t : o.modes) results.push_back(run_mode(t, o));
  bool ok = true;
  std::string j =
      fmt("{\"program\":\"squeeze-soak-connect\",\"machine\":%s,"
          "\"instrumentation\":%s,\"plugin\":%s,\"cycles\":%ld,\"messages_per_cycle\":"
          "%d,\"modes\":[",
          machine_json().c_str(), json_str(instrumentation()).c_str(),
          json_str(plugin_path()).c_str(), o.cycles, kMessages);
  for (size_t k = 0; k < results.size(); ++k) {
    ok = ok && results[k].ok;
    j += (k ? "," : "") + mode_json(results[k]);
  }
  j += fmt("],\"ok\":%s}", ok ? "true" : "false");
  std::printf("%s\n", j.c_str());
  for (const ModeResult& m : results) summary(m);
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
