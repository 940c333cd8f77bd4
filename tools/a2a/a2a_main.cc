// squeeze-a2a: N ranks (processes) doing all-to-all through an NCCL net plugin loaded with
// dlopen, driven as NCCL's proxy drives it. Passthrough and compressed phases run in fresh
// processes (the plugin reads its environment at init); every received byte is verified.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tools/a2a/ctl.h"
#include "tools/a2a/netns.h"
#include "tools/a2a/payload.h"
#include "tools/a2a/worker.h"

#ifndef SQUEEZE_A2A_DEFAULT_PLUGIN
#define SQUEEZE_A2A_DEFAULT_PLUGIN "libnccl-net-squeeze.so"
#endif

using namespace squeeze::a2a;

namespace {

volatile sig_atomic_t g_interrupted = 0;
pid_t g_parent = 0;
NetnsTopology g_topo;
std::string g_tmpdir;

void on_signal(int sig) {
  g_interrupted = sig;
}

void cleanup() {
  if (getpid() != g_parent) return;  // forked ranks never tear down the parent's state
  netns_destroy(&g_topo);
  if (!g_tmpdir.empty()) {
    std::string cmd_dir = g_tmpdir;
    g_tmpdir.clear();
    // Only files we created: stats.*.jsonl
    if (DIR* d = opendir(cmd_dir.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') unlink((cmd_dir + "/" + e->d_name).c_str());
      closedir(d);
    }
    rmdir(cmd_dir.c_str());
  }
}

void usage() {
  std::printf(
      "usage: squeeze-a2a [options]\n"
      "  --ranks N            processes (default 2)\n"
      "  --channels C         connections per peer pair and direction (default 2)\n"
      "  --size BYTES         message per rank pair (K/M/G suffixes); or a sweep:\n"
      "  -b/--min, -e/--max, -f/--factor   like nccl-tests (default --size 1M)\n"
      "  --chunk BYTES        NCCL p2p chunk (default 128K; 32-128K used per NCCL's rule)\n"
      "  --iters N --warmup N --runs R   timed iterations, warm-up, repetitions (median)\n"
      "  --plugin PATH        plugin library (default: NCCL_NET_PLUGIN, else the build's)\n"
      "  --payload dlrm|gaussian|file [--input F]  --dtype f32|f16|bf16|int32|int64\n"
      "  --emb-dim D          dlrm row width (default 64)   --seed S\n"
      "  --mixed              an int64 index all-to-all before every payload all-to-all\n"
      "  --phases both|passthrough|compressed  (default both)\n"
      "  --mode rel|abs|local --bound B   error bound handed to the plugin (default rel 1e-2)\n"
      "  --layout L           NCCL_SQUEEZE_LAYOUT for the plugin (e.g. 128*20); the check applies\n"
      "                       the plugin's rule for it (docs/CONFIG.md, \"Row layouts\"); with\n"
      "                       --payload file, each message starts on a row of the layout\n"
      "  --file-row N         --payload file: each message starts at a multiple of N values\n"
      "  --classify auto|profiler|assume  how the plugin learns the datatype: the profiler\n"
      "                       chain (when exported) and/or NCCL_SQUEEZE_ASSUME_DTYPE; auto: both,\n"
      "                       but no ASSUME_DTYPE with --mixed (it would cover the int64 too)\n"
      "  --pattern alltoall|stream   stream: rank 0 -> rank 1 only (2 ranks)\n"
      "  --netns RATE         root only: one namespace per rank, links limited to RATE (tc tbf)\n"
      "  --check-all          verify every timed iteration (timing excludes the checks)\n"
      "  --idle-sleep-us U    sleep U us when a rank's progress loop is idle (default 0: spin\n"
      "                       and yield like NCCL's proxy; > 0 leaves few cores to the plugin)\n"
      "  --userbuf            after the first warm-up iteration, register the message buffers\n"
      "                       and send / receive in place (NCCL's user-buffer registration):\n"
      "                       no copies through the FIFO pool\n"
      "  --timeout S          limit of any single wait in a rank (default 60)  --json FILE\n"
      "  --expect-compression fail unless every compressed phase changed the data (within\n"
      "                       the bound) and put fewer bytes on the wire (ratio > 1)\n"
      "  --stats-dir DIR      keep each rank's plugin statistics (NCCL_SQUEEZE_STATS_FILE) as\n"
      "                       DIR/stats.{p,c}.SIZE.RANK.jsonl (python -m squeeze stats reads "
      "them)\n"
      "  --verbose\n");
}

bool parse_bytes(const char* s, size_t* out) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || v < 0) return false;
  double mul = 1;
  switch (*end) {
    case 'k':
    case 'K':
      mul = 1024;
      ++end;
      break;
    case 'm':
    case 'M':
      mul = 1024.0 * 1024;
      ++end;
      break;
    case 'g':
    case 'G':
      mul = 1024.0 * 1024 * 1024;
      ++end;
      break;
    default:
      break;
  }
  if (*end == 'B' || *end == 'b') ++end;
  if (*end != 0) return false;
  *out = (size_t)(v * mul);
  return true;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown";
}

struct GroupResult {
  bool ok = false;
  std::string error;
  std::vector<double> run_time_us;  // per run: slowest rank's time per iteration
  uint64_t net_bytes_per_rank = 0;
  uint64_t checked_bytes = 0, bad_elements = 0;
  double max_abs_err = 0, max_err_over_bound = 0;
  std::vector<double> run_if_tx;  // per run: interface bytes per iteration summed over ranks
  bool api_known = true;          // every rank reported squeeze_get_stats_json deltas for every run
  uint64_t api_in = 0, api_wire = 0, api_messages = 0, api_lossy = 0;
  int stats_ranks = 0;
  uint64_t plugin_in = 0, plugin_wire = 0, plugin_messages = 0, plugin_lossy = 0;
  double plugin_max_err = -1;
  int profiler_ranks = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void set_env_phase(const Options& o, bool compressed, const std::string& ifname,
                   const std::string& stats) {
  setenv("NCCL_SQUEEZE_ENABLE", compressed ? "1" : "0", 1);
  setenv("NCCL_SQUEEZE_MODE", o.local ? "local" : o.rel ? "rel" : "abs", 1);
  char b[64];
  std::snprintf(b, sizeof(b), "%.17g", o.bound);
  setenv("NCCL_SQUEEZE_BOUND", b, 1);
  if (!o.layout_text.empty()) setenv("NCCL_SQUEEZE_LAYOUT", o.layout_text.c_str(), 1);
  if (!ifname.empty()) setenv("NCCL_SQUEEZE_IFNAME", ifname.c_str(), 1);
  setenv("NCCL_SQUEEZE_STATS_FILE", stats.c_str(), 1);
  unlink(stats.c_str());
}

GroupResult run_group(const Options& o, size_t size, bool compressed, uint64_t comm_id) {
  GroupResult gr;
  const int n = o.ranks;
  std::vector<int> parent_fds, child_fds;
  std::vector<pid_t> pids;
  std::vector<std::string> stats_files;
  for (int r = 0; r < n; ++r) {
    int fds[2];
    if (!make_ctl_pair(fds, &gr.error)) {
      for (int fd : parent_fds) close(fd);
      for (int fd : child_fds) close(fd);
      return gr;
    }
    parent_fds.push_back(fds[0]);
    child_fds.push_back(fds[1]);
    stats_files.push_back((o.stats_dir.empty() ? g_tmpdir : o.stats_dir) + "/stats." +
                          (compressed ? "c" : "p") + "." + std::to_string(size) + "." +
                          std::to_string(r) + ".jsonl");
  }
  std::fflush(nullptr);
  for (int r = 0; r < n; ++r) {
    pid_t pid = fork();
    if (pid < 0) {
      gr.error = std::string("fork: ") + strerror(errno);
      break;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
      if (getppid() != g_parent) _exit(1);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      for (int i = 0; i < n; ++i) {
        close(parent_fds[i]);
        if (i != r) close(child_fds[i]);
      }
      std::string ifname;
      if (!o.netns_rate.empty())
        ifname = g_topo.ifname;
      else if (const char* u = getenv("NCCL_SQUEEZE_IFNAME"))
        ifname = u;
      else
        ifname = "lo";
      set_env_phase(o, compressed, ifname, stats_files[r]);
      WorkerTask t;
      t.opt = &o;
      t.size = size;
      t.compressed = compressed;
      t.rank = r;
      t.ctl_fd = child_fds[r];
      t.comm_id = comm_id;
      t.netns = o.netns_rate.empty() ? "" : g_topo.rank_ns[r];
      t.ifname = ifname;
      t.stats_file = stats_files[r];
      int rc = run_worker(t);
      std::fflush(nullptr);
      // exit, not _exit: LeakSanitizer checks the rank at exit; the parent's atexit cleanup
      // returns at once in a child (it checks the pid).
      std::exit(rc);
    }
    pids.push_back(pid);
  }
  for (int fd : child_fds) close(fd);
  if ((int)pids.size() != n) {
    for (pid_t p : pids) kill(p, SIGKILL);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
    for (int fd : parent_fds) close(fd);
    return gr;
  }
  Router router(parent_fds, pids);
  // Every wait inside a rank is bounded by --timeout and reported by the rank itself; the
  // parent's limit for the whole phase is looser, for a rank that hangs outside those waits.
  auto deadline = Clock::now() + std::chrono::milliseconds((long)(o.timeout_s * 4000) + 10000);
  Router::Outcome out = router.run(deadline, (const volatile int*)&g_interrupted);
  for (pid_t p : router.unreaped_pids())
    if (p > 0) kill(p, SIGKILL);
  for (pid_t p : router.unreaped_pids())
    if (p > 0) waitpid(p, nullptr, 0);
  for (int fd : parent_fds) close(fd);
  if (out != Router::Outcome::kAllDone) {
    gr.error = out == Router::Outcome::kInterrupted ? "interrupted" : router.error();
    return gr;
  }
  gr.run_time_us.assign(o.runs, 0.0);
  gr.run_if_tx.assign(o.runs, 0.0);
  bool if_known = true;
  for (int r = 0; r < n; ++r) {
    for (const auto& blob : router.results()[r]) {
      if (blob.size() == sizeof(FinalResult)) {
        FinalResult fr;
        std::memcpy(&fr, blob.data(), sizeof(fr));
        if (fr.run != kFinalRun) continue;
        gr.profiler_ranks += fr.profiler_used;
        if (fr.stats_source != 0) {
          ++gr.stats_ranks;
          gr.plugin_in += fr.plugin_bytes_in;
          gr.plugin_wire += fr.plugin_bytes_wire;
          gr.plugin_max_err = std::max(gr.plugin_max_err, fr.plugin_max_err);
          gr.plugin_messages += fr.plugin_messages;
          gr.plugin_lossy += fr.plugin_lossy;
        }
        continue;
      }
      if (blob.size() != sizeof(RunResult)) continue;
      RunResult rr;
      std::memcpy(&rr, blob.data(), sizeof(rr));
      if ((int)rr.run >= o.runs) continue;
      double per_iter = rr.time_us / o.iters;
      gr.run_time_us[rr.run] = std::max(gr.run_time_us[rr.run], per_iter);
      gr.net_bytes_per_rank = std::max<uint64_t>(gr.net_bytes_per_rank, rr.net_bytes);
      gr.checked_bytes += rr.checked_bytes;
      gr.bad_elements += rr.bad_elements;
      gr.max_abs_err = std::max(gr.max_abs_err, rr.max_abs_err);
      gr.max_err_over_bound = std::max(gr.max_err_over_bound, rr.max_err_over_bound);
      if (rr.if_tx_bytes < 0)
        if_known = false;
      else
        gr.run_if_tx[rr.run] += (double)rr.if_tx_bytes / o.iters;
    }
  }
  if (!if_known) gr.run_if_tx.clear();
  if (gr.bad_elements) {
    gr.error = "verification failed: " + std::to_string(gr.bad_elements) + " bad elements";
    return gr;
  }
  gr.ok = true;
  return gr;
}

struct Row {
  std::string phase;
  size_t per_peer = 0, size = 0, count = 0;
  double time_us = 0, algbw = 0, busbw = 0;
  std::vector<double> runs_us;
  double wire_per_rank_iter = -1, ratio = -1;
  std::string ratio_source = "none";
  double if_tx_per_rank_iter = -1;
  double max_abs_err = 0, max_err_over_bound = 0;
  uint64_t checked_bytes = 0;
  double speedup = -1;
  int profiler_ranks = 0;
  double lossy_fraction = -1;  // of the plugin's sends, the share it compressed lossily
};

Row make_row(const Options& o, const char* phase, size_t size, const GroupResult& g) {
  Row row;
  row.phase = phase;
  row.per_peer = size;
  const int n = o.ranks;
  const bool a2a = o.pattern == Pattern::kAllToAll;
  const size_t sets = o.mixed ? 2 : 1;
  row.size = a2a ? size * (size_t)n : size;
  row.count = row.size / elem_size(o.payload.dtype);
  row.runs_us = g.run_time_us;
  row.time_us = median(g.run_time_us);
  double moved = (double)row.size * (double)sets;
  row.algbw = row.time_us > 0 ? moved / (row.time_us * 1e3) : 0;  // GB/s
  row.busbw = a2a ? row.algbw * (n - 1) / n : row.algbw;
  const double iters_total = (double)(std::max(1, o.warmup) + o.runs * o.iters);
  if (g.api_known && g.api_wire > 0) {
    row.wire_per_rank_iter = (double)g.api_wire / ((double)o.runs * o.iters * n);
    row.ratio = (double)g.api_in / (double)g.api_wire;
    row.ratio_source = "plugin-api";
    if (g.api_messages) row.lossy_fraction = (double)g.api_lossy / (double)g.api_messages;
  } else if (g.stats_ranks > 0 && g.plugin_wire > 0) {
    row.wire_per_rank_iter = (double)g.plugin_wire / iters_total / g.stats_ranks;
    row.ratio = (double)g.plugin_in / (double)g.plugin_wire;
    row.ratio_source = "plugin-file";
    if (g.plugin_messages) row.lossy_fraction = (double)g.plugin_lossy / (double)g.plugin_messages;
  }
  if (!g.run_if_tx.empty()) {
    row.if_tx_per_rank_iter = median(g.run_if_tx) / n;
    if (row.ratio < 0 && row.if_tx_per_rank_iter > 0) {
      row.wire_per_rank_iter = row.if_tx_per_rank_iter;
      row.ratio = (double)g.net_bytes_per_rank / row.if_tx_per_rank_iter;
      row.ratio_source = "interface";
    }
  }
  row.max_abs_err = g.max_abs_err;
  row.max_err_over_bound = g.max_err_over_bound;
  row.checked_bytes = g.checked_bytes;
  row.profiler_ranks = g.profiler_ranks;
  return row;
}

void print_row(const Options& o, const Row& r) {
  char wire[32] = "-", ratio[32] = "-", sp[32] = "", err[32] = "0", lossy[32] = "-";
  if (r.lossy_fraction >= 0) std::snprintf(lossy, sizeof(lossy), "%.0f%%", 100 * r.lossy_fraction);
  if (r.wire_per_rank_iter >= 0) std::snprintf(wire, sizeof(wire), "%.0f", r.wire_per_rank_iter);
  if (r.ratio > 0) std::snprintf(ratio, sizeof(ratio), "%.2f", r.ratio);
  if (r.speedup > 0) std::snprintf(sp, sizeof(sp), "%.2fx", r.speedup);
  if (r.max_err_over_bound > 0) std::snprintf(err, sizeof(err), "%.3f", r.max_err_over_bound);
  std::string type = elem_name(o.payload.dtype);
  if (o.mixed) type += "+i64";
  std::printf("%12s %12zu %12zu %11zu %9s %11.1f %8.3f %8.3f %14s %7s %6s %9s %6s %8s\n",
              r.phase.c_str(), r.per_peer, r.size, r.count, type.c_str(), r.time_us, r.algbw,
              r.busbw, wire, ratio, lossy, err, "OK", sp);
  std::fflush(stdout);
}

void json_escape(std::string* out, const std::string& s) {
  for (char c : s) {
    if (c == '"' || c == '\\') *out += '\\';
    if ((unsigned char)c < 0x20) continue;
    *out += c;
  }
}

bool write_json(const Options& o, const std::vector<Row>& rows, const std::string& cmdline) {
  std::string s = "{\n  \"tool\": \"squeeze-a2a\",\n  \"command\": \"";
  json_escape(&s, cmdline);
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "\",\n  \"nproc\": %ld,\n  \"cpu\": \"%s\",\n  \"ranks\": %d,\n  \"channels\": %d,"
                "\n  \"pattern\": \"%s\",\n  \"payload\": \"%s\",\n  \"dtype\": \"%s\",\n"
                "  \"mixed\": %s,\n  \"mode\": \"%s\",\n  \"bound\": %.17g,\n  \"netns_rate\": "
                "\"%s\",\n  \"iters\": %d,\n  \"runs\": %d,\n  \"rows\": [\n",
                sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(), o.ranks, o.channels,
                o.pattern == Pattern::kStream ? "stream" : "alltoall", payload_name(o.payload.kind),
                elem_name(o.payload.dtype), o.mixed ? "true" : "false",
                o.local ? "local"
                : o.rel ? "rel"
                        : "abs",
                o.bound, o.netns_rate.c_str(), o.iters, o.runs);
  s += buf;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::string runs;
    for (double t : r.runs_us) {
      std::snprintf(buf, sizeof(buf), "%s%.3f", runs.empty() ? "" : ", ", t);
      runs += buf;
    }
    std::snprintf(buf, sizeof(buf),
                  "    {\"phase\": \"%s\", \"bytes_per_peer\": %zu, \"size\": %zu, \"count\": %zu, "
                  "\"time_us\": %.3f, \"time_us_runs\": [",
                  r.phase.c_str(), r.per_peer, r.size, r.count, r.time_us);
    s += buf;
    s += runs;
    std::snprintf(buf, sizeof(buf),
                  "], \"algbw_GBps\": %.6f, \"busbw_GBps\": %.6f, \"wire_bytes_per_rank_iter\": "
                  "%.1f, \"ratio\": %.6f, \"ratio_source\": \"%s\", \"if_tx_bytes_per_rank_iter\": "
                  "%.1f, \"max_abs_err\": %.9g, \"max_err_over_bound\": %.6f, \"checked_bytes\": "
                  "%llu, \"profiler_ranks\": %d, \"lossy_fraction\": %.4f, "
                  "\"speedup_vs_passthrough\": %.4f}%s\n",
                  r.algbw, r.busbw, r.wire_per_rank_iter, r.ratio, r.ratio_source.c_str(),
                  r.if_tx_per_rank_iter, r.max_abs_err, r.max_err_over_bound,
                  (unsigned long long)r.checked_bytes, r.profiler_ranks, r.lossy_fraction,
                  r.speedup, i + 1 < rows.size() ? "," : "");
    s += buf;
  }
  s += "  ]\n}\n";
  FILE* f = std::fopen(o.json.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  size_t size = 1 << 20, min_size = 0, max_size = 0;
  double factor = 2;
  bool sweep = false;
  std::string phases = "both", cmdline;
  for (int i = 0; i < argc; ++i) cmdline += (i ? " " : "") + std::string(argv[i]);
  auto need = [&](int& i) -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "squeeze-a2a: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    return argv[++i];
  };
  auto bad = [&](const char* what, const char* v) {
    std::fprintf(stderr, "squeeze-a2a: bad value for %s: %s\n", what, v);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (a == "--ranks") {
      o.ranks = std::atoi(need(i));
    } else if (a == "--channels") {
      o.channels = std::atoi(need(i));
    } else if (a == "--size") {
      if (!parse_bytes(need(i), &size)) bad("--size", argv[i]);
    } else if (a == "-b" || a == "--min") {
      if (!parse_bytes(need(i), &min_size)) bad("--min", argv[i]);
      sweep = true;
    } else if (a == "-e" || a == "--max") {
      if (!parse_bytes(need(i), &max_size)) bad("--max", argv[i]);
      sweep = true;
    } else if (a == "-f" || a == "--factor") {
      factor = std::atof(need(i));
    } else if (a == "--chunk") {
      if (!parse_bytes(need(i), &o.chunk)) bad("--chunk", argv[i]);
    } else if (a == "--iters" || a == "-n") {
      o.iters = std::atoi(need(i));
    } else if (a == "--warmup" || a == "-w") {
      o.warmup = std::atoi(need(i));
    } else if (a == "--runs") {
      o.runs = std::atoi(need(i));
    } else if (a == "--plugin") {
      o.plugin = need(i);
    } else if (a == "--payload") {
      if (!parse_payload_kind(need(i), &o.payload.kind)) bad("--payload", argv[i]);
    } else if (a == "--input") {
      o.input = need(i);
    } else if (a == "--dtype") {
      if (!parse_elem_type(need(i), &o.payload.dtype)) bad("--dtype", argv[i]);
    } else if (a == "--emb-dim") {
      o.payload.emb_dim = std::atoi(need(i));
    } else if (a == "--seed") {
      o.payload.seed = std::strtoull(need(i), nullptr, 0);
    } else if (a == "--mixed") {
      o.mixed = true;
    } else if (a == "--phases") {
      phases = need(i);
    } else if (a == "--mode") {
      std::string m = need(i);
      if (m != "rel" && m != "abs" && m != "local") bad("--mode", argv[i]);
      o.rel = m == "rel";
      o.local = m == "local";
    } else if (a == "--bound") {
      o.bound = std::atof(need(i));
    } else if (a == "--file-row") {
      o.payload.row_elems = std::strtoull(need(i), nullptr, 0);
      if (o.payload.row_elems == 0) bad("--file-row", argv[i]);
    } else if (a == "--layout") {
      o.layout_text = need(i);
      auto spec = std::make_shared<squeeze::plugin::LayoutSpec>();
      std::string error;
      if (!squeeze::plugin::parse_layout(o.layout_text, spec.get(), &error))
        bad("--layout", error.c_str());
      o.payload.row_elems = spec->row_elems;  // --payload file: messages start on a row
      o.layout = std::move(spec);
    } else if (a == "--classify") {
      std::string c = need(i);
      if (c == "auto")
        o.classify = Classify::kAuto;
      else if (c == "profiler")
        o.classify = Classify::kProfiler;
      else if (c == "assume")
        o.classify = Classify::kAssume;
      else
        bad("--classify", argv[i]);
    } else if (a == "--pattern") {
      std::string p = need(i);
      if (p == "alltoall")
        o.pattern = Pattern::kAllToAll;
      else if (p == "stream")
        o.pattern = Pattern::kStream;
      else
        bad("--pattern", argv[i]);
    } else if (a == "--netns") {
      o.netns_rate = need(i);
    } else if (a == "--json") {
      o.json = need(i);
    } else if (a == "--expect-compression") {
      o.expect_compression = true;
    } else if (a == "--stats-dir") {
      o.stats_dir = need(i);
    } else if (a == "--timeout") {
      o.timeout_s = std::atof(need(i));
    } else if (a == "--dev") {
      o.dev = std::atoi(need(i));
    } else if (a == "--idle-sleep-us") {
      o.idle_sleep_us = std::atoi(need(i));
    } else if (a == "--userbuf") {
      o.userbuf = true;
    } else if (a == "--check-all") {
      o.check_all = true;
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else {
      std::fprintf(stderr, "squeeze-a2a: unknown option %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (o.ranks < 2 || o.ranks > 64) bad("--ranks", std::to_string(o.ranks).c_str());
  if (o.channels < 1 || o.channels > 16) bad("--channels", std::to_string(o.channels).c_str());
  if (o.chunk < 4096 || o.chunk % 4096) bad("--chunk (a multiple of 4 KiB)", "");
  if (o.iters < 1 || o.runs < 1 || o.warmup < 0) bad("--iters/--runs/--warmup", "");
  if (!(o.bound >= 0)) bad("--bound", "");
  if (o.payload.emb_dim < 1) bad("--emb-dim", "");
  if (o.pattern == Pattern::kStream && o.ranks != 2) {
    std::fprintf(stderr, "squeeze-a2a: --pattern stream uses exactly 2 ranks\n");
    return 2;
  }
  if (phases == "both") {
  } else if (phases == "passthrough") {
    o.run_compressed = false;
  } else if (phases == "compressed") {
    o.run_passthrough = false;
  } else {
    bad("--phases", phases.c_str());
  }
  if (sweep) {
    if (max_size == 0) max_size = min_size;
    if (min_size == 0 || max_size < min_size || !(factor > 1)) bad("-b/-e/-f", "");
    for (double s = (double)min_size; s <= (double)max_size * 1.0000001; s *= factor)
      o.sizes.push_back((size_t)s);
  } else {
    o.sizes.push_back(size);
  }
  std::vector<uint8_t> file_bytes;
  if (o.payload.kind == PayloadKind::kFile) {
    std::string err;
    if (o.input.empty() || !read_file(o.input, &file_bytes, &err)) {
      std::fprintf(stderr, "squeeze-a2a: --payload file needs --input: %s\n",
                   o.input.empty() ? "missing" : err.c_str());
      return 2;
    }
    o.payload.file = &file_bytes;
  }
  if (o.plugin.empty()) {
    const char* env = getenv("NCCL_NET_PLUGIN");
    o.plugin = env && *env ? env : SQUEEZE_A2A_DEFAULT_PLUGIN;
  }

  g_parent = getpid();
  atexit(cleanup);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  char tmpl[] = "/tmp/squeeze-a2a-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("squeeze-a2a: mkdtemp");
    return 1;
  }
  g_tmpdir = tmpl;
  if (!o.stats_dir.empty() && mkdir(o.stats_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "squeeze-a2a: --stats-dir %s: %s\n", o.stats_dir.c_str(), strerror(errno));
    return 2;
  }

  if (!o.netns_rate.empty()) {
    std::string why;
    if (!netns_probe(&why)) {
      std::fprintf(stderr, "squeeze-a2a: %s\n", why.c_str());
      return 2;
    }
    netns_cleanup_stale(o.verbose);
    if (!netns_create(o.ranks, o.netns_rate, &g_topo, &why)) {
      std::fprintf(stderr, "squeeze-a2a: namespace setup failed: %s\n", why.c_str());
      return 1;
    }
  }

  std::printf(
      "# squeeze-a2a: %d ranks, %d channels, pattern %s, payload %s %s%s, %s bound %g, "
      "plugin %s\n",
      o.ranks, o.channels, o.pattern == Pattern::kStream ? "stream" : "alltoall",
      payload_name(o.payload.kind), elem_name(o.payload.dtype), o.mixed ? " + int64" : "",
      o.local ? "local"
      : o.rel ? "rel"
              : "abs",
      o.bound, o.plugin.c_str());
  std::printf("# link: %s; buffers: %s; nproc %ld; cpu %s; iters %d, warmup %d, runs %d (median)\n",
              o.netns_rate.empty() ? "loopback" : ("netns, tbf " + o.netns_rate).c_str(),
              o.userbuf ? "registered user buffers" : "FIFO pool + copies",
              sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(), o.iters, o.warmup, o.runs);
  std::printf("# %10s %12s %12s %11s %9s %11s %8s %8s %14s %7s %6s %9s %6s %8s\n", "phase",
              "per-peer(B)", "size(B)", "count", "type", "time(us)", "algbw", "busbw",
              "wire(B/rk/it)", "ratio", "lossy", "err/bound", "check", "speedup");
  std::printf(
      "# algbw, busbw in GB/s (busbw = algbw * (N-1)/N for all-to-all); wire and ratio from "
      "the plugin's statistics; lossy: share of the plugin's sends it compressed\n");

  std::vector<Row> rows;
  int status = 0;
  uint64_t comm_id = ((uint64_t)getpid() << 20) ^ 0x5a5a0000ull;
  for (size_t s : o.sizes) {
    double pass_time = 0;
    for (int phase = 0; phase < 2 && status == 0; ++phase) {
      bool compressed = phase == 1;
      if ((compressed && !o.run_compressed) || (!compressed && !o.run_passthrough)) continue;
      GroupResult g = run_group(o, s, compressed, ++comm_id);
      if (!g.ok) {
        std::fprintf(stderr, "squeeze-a2a: %s phase, %zu bytes per peer: %s\n",
                     compressed ? "compressed" : "passthrough", s, g.error.c_str());
        status = g_interrupted ? 130 : 1;
        break;
      }
      Row row = make_row(o, compressed ? "compressed" : "passthrough", s, g);
      if (!compressed) pass_time = row.time_us;
      if (compressed && pass_time > 0 && row.time_us > 0) row.speedup = pass_time / row.time_us;
      print_row(o, row);
      rows.push_back(row);
      // A compressed phase that would pass with the plugin compressing nothing proves little:
      // with --expect-compression the data must have changed (within the bound, which the
      // verification above enforces) and the wire must have carried fewer bytes.
      if (compressed && o.expect_compression &&
          !(row.ratio > 1.0 && row.max_err_over_bound > 0 && row.lossy_fraction > 0)) {
        std::fprintf(stderr,
                     "squeeze-a2a: --expect-compression: %zu bytes per peer: ratio %.3f (%s), "
                     "max error / bound %.3f, lossy share %.3f: not compressed\n",
                     s, row.ratio, row.ratio_source.c_str(), row.max_err_over_bound,
                     row.lossy_fraction);
        status = 1;
      }
    }
    if (status) break;
  }
  if (!o.json.empty() && !write_json(o, rows, cmdline)) {
    std::fprintf(stderr, "squeeze-a2a: cannot write %s\n", o.json.c_str());
    if (status == 0) status = 1;
  }
  cleanup();
  return status;
}
