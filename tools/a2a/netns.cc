#include "tools/a2a/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace squeeze::a2a {
namespace {

// Runs argv (no shell) and returns its exit status; its output goes to *out.
int run_cmd(const std::vector<std::string>& argv, std::string* out) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[512];
  ssize_t n;
  if (out) out->clear();
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && out) out->append(buf, (size_t)n);
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool run_ok(const std::vector<std::string>& argv, std::string* err) {
  std::string out;
  int rc = run_cmd(argv, &out);
  if (rc == 0) return true;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  *err = "`" + cmd + "` failed (" + (rc == 127 ? "not found" : "exit " + std::to_string(rc)) +
         (out.empty() ? ")" : "): " + out);
  return false;
}

std::vector<std::string> list_netns() {
  std::vector<std::string> names;
  for (const char* dir : {"/run/netns", "/var/run/netns"}) {
    DIR* d = opendir(dir);
    if (d == nullptr) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    closedir(d);
    if (!names.empty()) break;
  }
  return names;
}

// A zombie (killed, not yet reaped by its parent) counts as gone.
bool owner_alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return true;
  char state = 0;
  int n = std::fscanf(f, "%*d (%*[^)]) %c", &state);
  std::fclose(f);
  return !(n == 1 && state == 'Z');
}

}  // namespace

double parse_tc_rate(const std::string& rate) {
  char* end = nullptr;
  double v = std::strtod(rate.c_str(), &end);
  if (end == rate.c_str() || !(v > 0) || !std::isfinite(v)) return 0;
  std::string unit(end);
  for (auto& c : unit) c = (char)std::tolower((unsigned char)c);
  struct {
    const char* name;
    double bytes_per_unit;
  } units[] = {{"bit", 1.0 / 8},   {"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8},
               {"tbit", 1e12 / 8}, {"bps", 1.0},      {"kbps", 1e3},     {"mbps", 1e6},
               {"gbps", 1e9},      {"", 1.0 / 8}};
  for (const auto& u : units)
    if (unit == u.name) return v * u.bytes_per_unit;
  return 0;
}

bool netns_probe(std::string* why) {
  if (geteuid() != 0) {
    *why =
        "--netns needs root (creating network namespaces and tc qdiscs); run as root or drop "
        "--netns to use loopback";
    return false;
  }
  std::string name = std::string(kNetnsBase) + std::to_string(getpid()) + "-probe";
  if (!run_ok({"ip", "netns", "add", name}, why)) {
    *why = "cannot create a network namespace: " + *why;
    return false;
  }
  std::string ignored;
  run_ok({"ip", "netns", "del", name}, &ignored);
  return true;
}

void netns_cleanup_stale(bool verbose) {
  const size_t base = std::strlen(kNetnsBase);
  for (const auto& name : list_netns()) {
    if (name.compare(0, base, kNetnsBase) != 0) continue;
    long pid = std::strtol(name.c_str() + base, nullptr, 10);
    if (pid <= 0 || owner_alive((pid_t)pid)) continue;
    std::string err;
    bool ok = run_ok({"ip", "netns", "del", name}, &err);
    if (verbose || !ok)
      std::fprintf(stderr, "squeeze-a2a: removed leftover namespace %s%s%s\n", name.c_str(),
                   ok ? "" : ": ", ok ? "" : err.c_str());
  }
}

bool netns_create(int ranks, const std::string& rate, NetnsTopology* topo, std::string* err) {
  const double bps = parse_tc_rate(rate);
  if (bps <= 0) {
    *err = "cannot parse rate '" + rate + "' (use tc syntax, e.g. 1gbit or 500mbit)";
    return false;
  }
  // The bucket must hold several max-size packets and a few ms of traffic at the rate.
  const long burst = std::max(64L * 1024, (long)(bps / 250));
  const std::string burst_s = std::to_string(burst);
  topo->prefix = std::string(kNetnsBase) + std::to_string(getpid()) + "-";
  topo->hub_ns = topo->prefix + "hub";
  topo->rank_ns.clear();
  topo->rank_addr.clear();
  auto fail = [&](const std::string& e) {
    *err = e;
    netns_destroy(topo);
    return false;
  };
  std::string e;
  topo->created_any = true;
  if (!run_ok({"ip", "netns", "add", topo->hub_ns}, &e)) return fail(e);
  if (!run_ok({"ip", "-n", topo->hub_ns, "link", "set", "lo", "up"}, &e) ||
      !run_ok({"ip", "-n", topo->hub_ns, "link", "add", "br0", "type", "bridge"}, &e) ||
      !run_ok({"ip", "-n", topo->hub_ns, "link", "set", "br0", "up"}, &e))
    return fail(e);
  // The bridge stands for a switch: no host firewall on it. With br_netfilter loaded, every
  // bridged packet would otherwise go through iptables on the same 2 cores the ranks use. Best
  // effort: the keys exist only when br_netfilter is loaded (per namespace since Linux 5.3).
  for (const char* key :
       {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
        "net.bridge.bridge-nf-call-arptables"}) {
    std::string ignored;
    run_ok({"ip", "netns", "exec", topo->hub_ns, "sysctl", "-q", "-w", std::string(key) + "=0"},
           &ignored);
  }
  for (int r = 0; r < ranks; ++r) {
    std::string ns = topo->prefix + "r" + std::to_string(r);
    std::string port = "p" + std::to_string(r);
    std::string addr = "10.250.0." + std::to_string(r + 1);
    if (!run_ok({"ip", "netns", "add", ns}, &e)) return fail(e);
    topo->rank_ns.push_back(ns);
    topo->rank_addr.push_back(addr);
    const std::vector<std::vector<std::string>> cmds = {
        {"ip", "-n", ns, "link", "set", "lo", "up"},
        {"ip", "link", "add", topo->ifname, "netns", ns, "type", "veth", "peer", "name", port,
         "netns", topo->hub_ns},
        {"ip", "-n", ns, "addr", "add", addr + "/24", "dev", topo->ifname},
        {"ip", "-n", ns, "link", "set", topo->ifname, "up"},
        {"ip", "-n", topo->hub_ns, "link", "set", port, "master", "br0"},
        {"ip", "-n", topo->hub_ns, "link", "set", port, "up"},
        {"tc", "-n", ns, "qdisc", "add", "dev", topo->ifname, "root", "tbf", "rate", rate, "burst",
         burst_s, "latency", "50ms"},
        {"tc", "-n", topo->hub_ns, "qdisc", "add", "dev", port, "root", "tbf", "rate", rate,
         "burst", burst_s, "latency", "50ms"},
    };
    for (const auto& c : cmds)
      if (!run_ok(c, &e)) return fail(e);
  }
  return true;
}

void netns_destroy(NetnsTopology* topo) {
  if (!topo->created_any) return;
  std::string ignored;
  for (const auto& ns : topo->rank_ns) run_ok({"ip", "netns", "del", ns}, &ignored);
  run_ok({"ip", "netns", "del", topo->hub_ns}, &ignored);
  // Anything else carrying our prefix (a rank namespace created before a failure was recorded).
  for (const auto& name : list_netns())
    if (!topo->prefix.empty() && name.compare(0, topo->prefix.size(), topo->prefix) == 0)
      run_ok({"ip", "netns", "del", name}, &ignored);
  topo->rank_ns.clear();
  topo->created_any = false;
}

bool netns_enter(const std::string& ns, std::string* err) {
  std::string path = "/run/netns/" + ns;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    path = "/var/run/netns/" + ns;
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    *err = "open " + path + ": " + strerror(errno);
    return false;
  }
  if (setns(fd, CLONE_NEWNET) != 0) {
    *err = std::string("setns: ") + strerror(errno);
    close(fd);
    return false;
  }
  close(fd);
  // A private mount namespace with a fresh sysfs, so /sys/class/net is this namespace's view.
  if (unshare(CLONE_NEWNS) == 0 && mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) == 0) {
    umount2("/sys", MNT_DETACH);
    mount("sysfs", "/sys", "sysfs", 0, nullptr);
  }
  return true;
}

long long read_if_counter(const std::string& ifname, const char* counter) {
  std::string path = "/sys/class/net/" + ifname + "/statistics/" + counter;
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  long long v = -1;
  if (std::fscanf(f, "%lld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

}  // namespace squeeze::a2a
