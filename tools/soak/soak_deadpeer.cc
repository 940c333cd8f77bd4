// squeeze-soak-deadpeer: how long the surviving side of a connection takes to get an error from
// the plugin once its peer is gone, in every threading mode, on the sending and on the receiving
// side, for four ways of going away and three moments.
//
// Each run forks two processes that dlopen the built plugin (as NCCL does) and connect one comm
// pair: the survivor and the victim, one sending float32 messages (lossy, abs 1e-3) to the other.
// After a few messages, the victim
//   kill:   sends SIGKILL to itself,
//   exit:   calls exit(0) (static destructors run, its comms are never closed),
//   close:  closes its comm (closeSend / closeRecv) and stays alive,
//   stop:   stops calling the plugin and stays alive (a hung proxy thread: sockets open; with
//           helper threads those still finish what was posted),
//   freeze: stops itself with SIGSTOP (every thread frozen, the kernel keeps the connections
//           open and acknowledges what fits in its buffers); killed once the survivor is done,
// and does so
//   mid:     in the middle of a transfer (messages streaming both ways' worth of work in flight),
//   between: right after a message completed on both sides, while the survivor posts the next,
//   idle:    right after a message completed; the survivor makes no call for --idle seconds and
//            then posts the next message.
// The victim tells the survivor the time (CLOCK_MONOTONIC) just before it goes. The survivor
// drives the plugin as NCCL's proxy does (at most 8 requests in flight, a NULL answer retried,
// the oldest tested) until a call returns an error or --window seconds pass. Reported per run:
// the time from the death to the error (idle: also from the survivor's first call after the idle
// spell), the call that returned it, and whether the plugin's warning after the death names the
// peer (an address "127.0.0.1:port"; everything runs on loopback). NCCL_SQUEEZE_TIMEOUT_S
// (--timeout-s, default 2) bounds what only a stall can reveal.
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>

#include <algorithm>
#include <random>
#include <thread>

#include "tools/soak/soak_common.h"

namespace {

using namespace soak;

const char* const kDeaths[] = {"kill", "exit", "close", "stop", "freeze"};
const char* const kWhens[] = {"mid", "between", "idle"};
const char* const kSides[] = {"sender", "receiver"};  // the survivor's side
constexpr int kWarmupMessages = 3;
constexpr int kInFlight = 8;

struct Options {
  std::vector<int> modes = {0, 2};
  std::vector<int> sides = {0, 1};
  std::vector<int> deaths = {0, 1, 2, 3, 4};
  std::vector<int> whens = {0, 1, 2};
  int reps = 5;
  double window_s = 10;
  double idle_s = 1;
  int timeout_s = 2;
  size_t message_bytes = 4 << 20;
  bool verbose = false;
};

struct RunResult {
  int mode = 0, side = 0, death = 0, when = 0, rep = 0;
  int error = 0;            // 1: the survivor got an error
  char call[16] = "";       // isend, irecv or test
  int code = 0;             // the ncclResult_t
  double from_death = -1;   // seconds
  double from_resume = -1;  // idle: from the survivor's first call after the idle spell
  int named_peer = 0;
  char warning[320] = "";
  int warmup_ok = 0;
  char problem[256] = "";
  uint64_t completed = 0;  // survivor's requests done before the error
  char victim_status[32] = "";
};

// ---- both processes -----------------------------------------------------------------------------

void configure(const Options& o, int threads) {
  setenv("NCCL_SQUEEZE_IFNAME", "lo", 0);
  const std::string t = std::to_string(threads);
  setenv("NCCL_SQUEEZE_THREADS", t.c_str(), 1);
  setenv("NCCL_SQUEEZE_CODEC_THREADS", t.c_str(), 1);
  setenv("NCCL_SQUEEZE_ASSUME_DTYPE", "f32", 1);
  setenv("NCCL_SQUEEZE_MODE", "abs", 1);
  setenv("NCCL_SQUEEZE_BOUND", "1e-3", 1);
  setenv("NCCL_SQUEEZE_STATS", "0", 1);
  setenv("NCCL_SQUEEZE_TIMEOUT_S", std::to_string(o.timeout_s).c_str(), 1);
  setenv("NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S", "10", 1);
}

// One endpoint: a context and one comm (send or receive), with a registered buffer.
struct Endpoint {
  void* ctx = nullptr;
  void* comm = nullptr;
  void* mh = nullptr;
  bool sending = false;
  std::vector<char> buf;
  // Requests in flight, oldest first.
  std::vector<void*> reqs;
  uint64_t completed = 0;
  std::string failed_call;
  int failed_code = 0;

  bool open(const Channel& ch, bool send_side, size_t bytes) {
    sending = send_side;
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    if (net()->init(&ctx, 0xdead, &cfg, logger, nullptr) != ncclSuccess) return false;
    ncclNetAttr_v11_t attr;
    std::memset(&attr, 0xff, sizeof(attr));
    attr.op = 0x7C0;
    net()->setNetAttr(ctx, &attr);
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
    void* listen = nullptr;
    if (!sending) {
      if (net()->listen(ctx, 0, handle, &listen) != ncclSuccess) return false;
      if (!ch.send(handle, sizeof(handle))) return false;
    } else if (!ch.recv(handle, sizeof(handle))) {
      return false;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (comm == nullptr) {
      const ncclResult_t r = sending ? net()->connect(ctx, 0, handle, &comm, nullptr)
                                     : net()->accept(listen, &comm, nullptr);
      if (r != ncclSuccess || Clock::now() > deadline) return false;
    }
    if (listen) net()->closeListen(listen);
    // Float32 embeddings-like payload.
    buf.resize(bytes);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.2f);
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      const float v = normal(rng);
      std::memcpy(&buf[i], &v, 4);
    }
    return net()->regMr(comm, buf.data(), buf.size(), NCCL_PTR_HOST, &mh) == ncclSuccess &&
           ch.barrier();
  }

  // Posts one more request when fewer than `depth` are in flight. False on an error.
  bool post(int depth) {
    if (static_cast<int>(reqs.size()) >= depth) return true;
    void* req = nullptr;
    ncclResult_t r;
    if (sending) {
      r = net()->isend(comm, buf.data(), buf.size(), 0, mh, nullptr, &req);
      if (r != ncclSuccess) return fail("isend", r);
    } else {
      void* data = buf.data();
      size_t size = buf.size();
      int tag = 0;
      r = net()->irecv(comm, 1, &data, &size, &tag, &mh, nullptr, &req);
      if (r != ncclSuccess) return fail("irecv", r);
    }
    if (req != nullptr) reqs.push_back(req);
    return true;
  }
  // Tests the oldest request. False on an error.
  bool test_oldest() {
    if (reqs.empty()) return true;
    int done = 0, size = 0;
    const ncclResult_t r = net()->test(reqs.front(), &done, &size);
    if (r != ncclSuccess) return fail("test", r);
    if (done) {
      reqs.erase(reqs.begin());
      ++completed;
    }
    return true;
  }
  bool fail(const char* call, ncclResult_t r) {
    failed_call = call;
    failed_code = static_cast<int>(r);
    return false;
  }
  // Completes exactly n more requests (posting as needed, at most n in flight). False on error.
  bool complete(uint64_t n, double timeout_s) {
    const uint64_t goal = completed + n;
    uint64_t posted = completed + reqs.size();
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (completed < goal) {
      if (posted < goal) {
        const size_t before = reqs.size();
        if (!post(kInFlight)) return false;
        posted += reqs.size() - before;
      }
      if (!test_oldest()) return false;
      if (Clock::now() > deadline) return fail("timeout", ncclSuccess);
    }
    return true;
  }
};

// ---- the victim
// ----------------------------------------------------------------------------------

// Goes away as `death` says, at the moment `when` says. survivor_side: 0 = the survivor sends.
[[noreturn]] void victim(const Options& o, const Channel& ch, int survivor_side, int death,
                         int when) {
  Endpoint e;
  if (!e.open(ch, /*send_side=*/survivor_side == 1, o.message_bytes)) _exit(20);
  if (!e.complete(kWarmupMessages, 30)) _exit(21);
  if (!ch.barrier()) _exit(22);
  if (when == 0) {
    // Mid-transfer: two more messages, then the next one posted and moved a little.
    if (!e.complete(2, 30)) _exit(23);
    for (int k = 0; k < 100 && e.reqs.empty(); ++k)
      if (!e.post(1)) _exit(24);
    for (int k = 0; k < 3; ++k)
      if (!e.test_oldest()) _exit(25);
  }
  const double t = mono_now();
  ch.send(&t, sizeof(t));
  char done = 0;
  switch (death) {
    case 0:
      kill(getpid(), SIGKILL);
      break;
    case 1:
      std::exit(0);
    case 2: {  // close the comm as NCCL would, then stay alive until the survivor is done
      net()->deregMr(e.comm, e.mh);
      const ncclResult_t r = e.sending ? net()->closeSend(e.comm) : net()->closeRecv(e.comm);
      ch.recv(&done, 1);
      net()->finalize(e.ctx);
      _exit(r == ncclSuccess ? 0 : 26);
    }
    case 3:  // stop: no more calls into the plugin; alive until the survivor is done
      ch.recv(&done, 1);
      _exit(0);
    default:  // freeze: the parent kills it once the survivor is done
      raise(SIGSTOP);
      ch.recv(&done, 1);
      _exit(0);
  }
  _exit(27);
}

// ---- the survivor ------------------------------------------------------------------------------

// A result with every byte defined (it travels to the parent as bytes; valgrind checks padding).
RunResult blank_result() {
  RunResult r;
  std::memset(static_cast<void*>(&r), 0, sizeof(r));
  r.from_death = r.from_resume = -1;
  return r;
}

RunResult survivor(const Options& o, const Channel& ch, int side, int death, int when) {
  RunResult res = blank_result();
  res.side = side;
  res.death = death;
  res.when = when;
  plugin_log().keep_info = true;
  Endpoint e;
  auto problem = [&](const std::string& what) {
    std::snprintf(res.problem, sizeof(res.problem), "%s", what.c_str());
    return res;
  };
  if (!e.open(ch, /*send_side=*/side == 0, o.message_bytes)) return problem("setup failed");
  if (!e.complete(kWarmupMessages, 30))
    return problem("warm-up failed: " + e.failed_call + " " + std::to_string(e.failed_code));
  if (!ch.barrier()) return problem("bootstrap failed after the warm-up");
  res.warmup_ok = 1;
  double t_resume = -1;
  if (when == 2) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
    t_resume = mono_now();
  }
  const double t_start = mono_now();
  double t_death = -1;
  double t_err = -1;
  size_t got = 0;
  auto poll_death = [&](int timeout_ms) {
    while (got < sizeof(t_death)) {
      pollfd p{ch.fd, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return;
      const ssize_t k =
          ::recv(ch.fd, reinterpret_cast<char*>(&t_death) + got, sizeof(t_death) - got, 0);
      if (k <= 0) return;
      got += static_cast<size_t>(k);
    }
  };
  for (;;) {
    poll_death(0);
    if (!e.post(kInFlight) || !e.test_oldest()) {
      t_err = mono_now();
      break;
    }
    const double now = mono_now();
    if (got == sizeof(t_death) && now - t_death > o.window_s) break;
    if (now - t_start > o.window_s + 60) return problem("the victim never said it went away");
    std::this_thread::yield();
  }
  poll_death(5000);
  res.completed = e.completed;
  if (got != sizeof(t_death)) return problem("no death time from the victim");
  if (t_err >= 0) {
    res.error = 1;
    std::snprintf(res.call, sizeof(res.call), "%s", e.failed_call.c_str());
    res.code = e.failed_code;
    res.from_death = t_err - t_death;
    if (t_resume >= 0) res.from_resume = t_err - t_resume;
  }
  // What the plugin logged after the death: the first warning, and whether a line names the
  // peer's address.
  {
    std::lock_guard<std::mutex> lock(plugin_log().mu);
    for (const LogLine& l : plugin_log().lines) {
      if (l.t < t_death) continue;
      const bool named = l.text.find("127.0.0.1:") != std::string::npos;
      if (l.warn && res.warning[0] == 0)
        std::snprintf(res.warning, sizeof(res.warning), "%s", l.text.c_str());
      if (named) res.named_peer = std::max(res.named_peer, l.warn ? 2 : 1);
    }
  }
  const char done = 'd';
  ch.send(&done, 1);
  // Close as NCCL does after an error (requests abandoned).
  if (e.mh) net()->deregMr(e.comm, e.mh);
  if (e.sending) {
    net()->closeSend(e.comm);
  } else {
    net()->closeRecv(e.comm);
  }
  net()->finalize(e.ctx);
  return res;
}

// ---- the parent --------------------------------------------------------------------------------

RunResult run_once(const Options& o, int mode, int side, int death, int when, int rep) {
  RunResult res = blank_result();
  int sv[2], pp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(pp, O_CLOEXEC) != 0) {
    std::snprintf(res.problem, sizeof(res.problem), "socketpair/pipe failed");
    return res;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<Child> kids(2);
  kids[0].pid = fork();
  if (kids[0].pid == 0) {
    ::close(sv[1]);
    ::close(pp[0]);
    configure(o, mode);
    RunResult r = survivor(o, Channel{sv[0]}, side, death, when);
    write_fd_all(pp[1], &r, sizeof(r));
    std::fflush(stderr);
    _exit(0);
  }
  kids[1].pid = fork();
  if (kids[1].pid == 0) {
    ::close(sv[0]);
    ::close(pp[0]);
    ::close(pp[1]);
    configure(o, mode);
    victim(o, Channel{sv[1]}, side, death, when);
  }
  ::close(sv[0]);
  ::close(sv[1]);
  ::close(pp[1]);
  const std::string out = read_all_fd(pp[0]);
  ::close(pp[0]);
  if (death == 4) kill(kids[1].pid, SIGKILL);  // frozen: it would never end by itself
  const int killed = reap(&kids, o.window_s + 60);
  if (out.size() == sizeof(RunResult)) {
    std::memcpy(&res, out.data(), sizeof(res));
  } else {
    std::snprintf(res.problem, sizeof(res.problem), "the survivor ended without a result (%s)",
                  describe_status(kids[0].status).c_str());
  }
  std::snprintf(res.victim_status, sizeof(res.victim_status), "%s",
                describe_status(kids[1].status).c_str());
  if (killed && res.problem[0] == 0)
    std::snprintf(res.problem, sizeof(res.problem), "%d process(es) had to be killed", killed);
  res.mode = mode;
  res.side = side;
  res.death = death;
  res.when = when;
  res.rep = rep;
  return res;
}

struct Cell {
  int mode, side, death, when;
  std::vector<RunResult> runs;
};

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Detection times of a cell (seconds): from the death, or for idle from the first call after it.
std::vector<double> times(const Cell& c) {
  std::vector<double> t;
  for (const RunResult& r : c.runs)
    if (r.error) t.push_back(c.when == 2 ? r.from_resume : r.from_death);
  return t;
}

std::string expected_victim_status(int death) {
  return death == 0 || death == 4 ? "signal 9" : "exit 0";
}

std::string cell_json(const Cell& c) {
  std::vector<double> t = times(c);
  int errors = 0, named_warn = 0, problems = 0, bad_victim = 0;
  std::string calls, runs = "[";
  for (const RunResult& r : c.runs) {
    errors += r.error;
    named_warn += r.named_peer == 2;
    problems += r.problem[0] != 0;
    bad_victim += expected_victim_status(c.death) != r.victim_status;
    if (r.error && calls.find(r.call) == std::string::npos)
      calls += (calls.empty() ? "" : ",") + std::string(r.call);
    runs +=
        fmt("%s{\"rep\":%d,\"error\":%d,\"call\":%s,\"code\":%d,\"from_death_ms\":%.2f,"
            "\"from_resume_ms\":%.2f,\"named_peer\":%d,\"completed\":%llu,\"victim\":%s,"
            "\"warning\":%s,\"problem\":%s}",
            runs.size() > 1 ? "," : "", r.rep, r.error, json_str(r.call).c_str(), r.code,
            r.from_death * 1e3, r.from_resume * 1e3, r.named_peer,
            static_cast<unsigned long long>(r.completed), json_str(r.victim_status).c_str(),
            json_str(r.warning).c_str(), json_str(r.problem).c_str());
  }
  runs += "]";
  const double med = median(t);
  const double mx = t.empty() ? -1 : *std::max_element(t.begin(), t.end());
  return fmt(
      "{\"threads\":%d,\"survivor\":\"%s\",\"death\":\"%s\",\"when\":\"%s\",\"runs\":%zu,"
      "\"errors\":%d,\"median_ms\":%.2f,\"max_ms\":%.2f,\"calls\":%s,\"named_in_warning\":%d,"
      "\"problems\":%d,\"unexpected_victim_status\":%d,\"detail\":%s}",
      c.mode, kSides[c.side], kDeaths[c.death], kWhens[c.when], c.runs.size(), errors, med * 1e3,
      mx * 1e3, json_str(calls).c_str(), named_warn, problems, bad_victim, runs.c_str());
}

void print_table(const std::vector<Cell>& cells, const Options& o) {
  std::printf("%-8s %-9s %-6s %-8s %7s %12s %12s %-12s %-8s %s\n", "threads", "survivor", "death",
              "when", "errors", "median ms", "max ms", "call", "named", "victim / problems");
  for (const Cell& c : cells) {
    std::vector<double> t = times(c);
    int errors = 0, named = 0;
    std::string calls, victims, problems;
    for (const RunResult& r : c.runs) {
      errors += r.error;
      named += r.named_peer == 2;
      if (r.error && calls.find(r.call) == std::string::npos)
        calls += (calls.empty() ? "" : ",") + std::string(r.call);
      if (expected_victim_status(c.death) != r.victim_status &&
          victims.find(r.victim_status) == std::string::npos)
        victims += std::string(victims.empty() ? "victim " : ", ") + r.victim_status;
      if (r.problem[0] && problems.empty()) problems = r.problem;
    }
    const std::string med = t.empty() ? "-" : fmt("%.1f", median(t) * 1e3);
    const std::string mx =
        t.empty() ? "-" : fmt("%.1f", *std::max_element(t.begin(), t.end()) * 1e3);
    std::printf("%-8s %-9s %-6s %-8s %3d/%-3zu %12s %12s %-12s %3d/%-4zu %s%s%s\n",
                c.mode == 0 ? "0 inline" : "2 helper", kSides[c.side], kDeaths[c.death],
                kWhens[c.when], errors, c.runs.size(), med.c_str(), mx.c_str(),
                calls.empty() ? "-" : calls.c_str(), named, c.runs.size(), victims.c_str(),
                victims.empty() || problems.empty() ? "" : "; ", problems.c_str());
  }
  std::printf(
      "(times: from the victim's death to the survivor's error; idle: from the survivor's "
      "first call after %.1f s without calls. no error within %.0f s: '-'. "
      "NCCL_SQUEEZE_TIMEOUT_S=%d)\n",
      o.idle_s, o.window_s, o.timeout_s);
}

std::vector<int> parse_list(const char* arg, const char* const* names, int count) {
  std::vector<int> out;
  std::string s = arg;
  for (size_t p = 0; p <= s.size();) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    const std::string item = s.substr(p, q - p);
    for (int k = 0; k < count; ++k)
      if (item == names[k] || item == std::to_string(k)) out.push_back(k);
    p = q + 1;
  }
  return out;
}

void usage(const char* argv0) {
  std::printf(
      "usage: %s [options]\n"
      "Dead-peer detection: a victim process goes away (kill, exit, close, stop, freeze) in the\n"
      "middle of a transfer, between messages or at idle; the survivor measures how long\n"
      "until the plugin's isend / irecv / test returns an error, and whether the log names\n"
      "the peer.\n"
      "Prints one JSON line, then a table.\n"
      "  --threads LIST    0 (inline), 2 (helper threads) or both (default 0,2)\n"
      "  --survivor LIST   sender,receiver (default both)\n"
      "  --death LIST      kill,exit,close,stop,freeze (default all)\n"
      "  --when LIST       mid,between,idle (default all)\n"
      "  --reps N          repetitions per case (default 5)\n"
      "  --window S        how long the survivor waits for an error after the death (default 10)\n"
      "  --idle S          the survivor's idle spell for 'idle' (default 1)\n"
      "  --timeout-s N     NCCL_SQUEEZE_TIMEOUT_S (default 2)\n"
      "  --bytes N         message size (default 4194304, float32, lossy abs 1e-3)\n"
      "  --plugin PATH     the plugin library (default %s)\n"
      "  --verbose         one line per run on stderr\n",
      argv0, SQUEEZE_SOAK_DEFAULT_PLUGIN);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  static const option opts[] = {{"threads", required_argument, nullptr, 't'},
                                {"survivor", required_argument, nullptr, 's'},
                                {"death", required_argument, nullptr, 'd'},
                                {"when", required_argument, nullptr, 'w'},
                                {"reps", required_argument, nullptr, 'r'},
                                {"window", required_argument, nullptr, 'W'},
                                {"idle", required_argument, nullptr, 'i'},
                                {"timeout-s", required_argument, nullptr, 'T'},
                                {"bytes", required_argument, nullptr, 'b'},
                                {"plugin", required_argument, nullptr, 'p'},
                                {"verbose", no_argument, nullptr, 'v'},
                                {"help", no_argument, nullptr, 'h'},
                                {nullptr, 0, nullptr, 0}};
  const char* const mode_names[] = {"0", "1", "2"};
  for (int c; (c = getopt_long(argc, argv, "t:s:d:w:r:W:i:T:b:p:vh", opts, nullptr)) != -1;) {
    switch (c) {
      case 't': {
        const std::string a = optarg;
        o.modes = a == "both" ? std::vector<int>{0, 2} : parse_list(optarg, mode_names, 3);
        break;
      }
      case 's':
        o.sides = parse_list(optarg, kSides, 2);
        break;
      case 'd':
        o.deaths = parse_list(optarg, kDeaths, 5);
        break;
      case 'w':
        o.whens = parse_list(optarg, kWhens, 3);
        break;
      case 'r':
        o.reps = std::max(1, std::atoi(optarg));
        break;
      case 'W':
        o.window_s = std::atof(optarg);
        break;
      case 'i':
        o.idle_s = std::atof(optarg);
        break;
      case 'T':
        o.timeout_s = std::atoi(optarg);
        break;
      case 'b':
        o.message_bytes = static_cast<size_t>(std::atoll(optarg));
        break;
      case 'p':
        plugin_path() = optarg;
        break;
      case 'v':
        o.verbose = true;
        break;
      case 'h':
        usage(argv[0]);
        return 0;
      default:
        usage(argv[0]);
        return 2;
    }
  }
  if (o.modes.empty() || o.sides.empty() || o.deaths.empty() || o.whens.empty()) {
    usage(argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<Cell> cells;
  for (int mode : o.modes)
    for (int side : o.sides)
      for (int death : o.deaths)
        for (int when : o.whens) {
          Cell c{mode, side, death, when, {}};
          for (int rep = 0; rep < o.reps; ++rep) {
            RunResult r = run_once(o, mode, side, death, when, rep);
            if (o.verbose)
              std::fprintf(stderr,
                           "threads=%d survivor=%s death=%s when=%s rep=%d: %s %s %.1f ms "
                           "(resume %.1f ms) named=%d victim %s %s | %s\n",
                           mode, kSides[side], kDeaths[death], kWhens[when], rep,
                           r.error ? "error from" : "no error", r.call, r.from_death * 1e3,
                           r.from_resume * 1e3, r.named_peer, r.victim_status, r.problem,
                           r.warning);
            c.runs.push_back(r);
          }
          cells.push_back(std::move(c));
        }
  int problems = 0;
  std::string j =
      fmt("{\"program\":\"squeeze-soak-deadpeer\",\"machine\":%s,\"plugin\":%s,"
          "\"timeout_s\":%d,\"window_s\":%.1f,\"idle_s\":%.1f,\"reps\":%d,"
          "\"message_bytes\":%zu,\"cells\":[",
          machine_json().c_str(), json_str(plugin_path()).c_str(), o.timeout_s, o.window_s,
          o.idle_s, o.reps, o.message_bytes);
  for (size_t k = 0; k < cells.size(); ++k) {
    j += (k ? "," : "") + cell_json(cells[k]);
    for (const RunResult& r : cells[k].runs) problems += r.problem[0] != 0;
  }
  j += fmt("],\"problems\":%d}", problems);
  std::printf("%s\n", j.c_str());
  print_table(cells, o);
  return problems == 0 ? 0 : 1;
}
