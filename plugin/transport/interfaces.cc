#include "plugin/transport/interfaces.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace squeeze::plugin {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    // NCCL allows "eth0:port"; the port part does not select anything here.
    size_t colon = item.find(':');
    if (colon != std::string::npos) item = item.substr(0, colon);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

// The interface's speed in Mbit/s, 0 when it reports none (loopback, many virtual NICs).
int read_speed(const std::string& ifname) {
  std::ifstream in("/sys/class/net/" + ifname + "/speed");
  long v = 0;
  if (in >> v && v > 0 && v < INT_MAX) return static_cast<int>(v);
  return 0;
}

std::string read_pci_path(const std::string& ifname) {
  std::string dev = "/sys/class/net/" + ifname + "/device";
  char resolved[PATH_MAX];
  if (realpath(dev.c_str(), resolved) == nullptr) return "";
  return resolved;
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

bool usable_address(const sockaddr* sa) {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET) return true;
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    // Link-local addresses need a scope; they are usable but ranked below global ones.
    return !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
  }
  return false;
}

int address_rank(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return 0;
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  return IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ? 2 : 1;
}

std::vector<NetDevice> collect(const std::string& spec, bool want_loopback_only) {
  std::vector<NetDevice> out;
  std::vector<int> ranks;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (!(ifa->ifa_flags & IFF_UP) || !usable_address(ifa->ifa_addr)) continue;
    std::string name = ifa->ifa_name;
    bool loopback = (ifa->ifa_flags & IFF_LOOPBACK) != 0;
    if (spec.empty()) {
      if (want_loopback_only != loopback) continue;
      if (!loopback && name.rfind("docker", 0) == 0) continue;
    } else if (!ifname_matches(spec, name)) {
      continue;
    }
    int rank = address_rank(ifa->ifa_addr);
    size_t k = 0;
    for (; k < out.size(); ++k) {
      if (out[k].name == name) break;
    }
    SockAddr addr{};
    std::memcpy(&addr, ifa->ifa_addr,
                ifa->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    if (addr.sa.sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&addr.in6.sin6_addr) &&
        addr.in6.sin6_scope_id == 0) {
      addr.in6.sin6_scope_id = if_nametoindex(name.c_str());
    }
    if (k < out.size()) {
      if (rank < ranks[k]) {
        out[k].addr = addr;
        ranks[k] = rank;
      }
      continue;
    }
    NetDevice d;
    d.name = name;
    d.addr = addr;
    d.pci_path = read_pci_path(name);
    const int speed = read_speed(name);
    d.speed_known = speed > 0;
    d.speed_mbps = d.speed_known ? speed : 10000;
    d.guid = 0;
    out.push_back(d);
    ranks.push_back(rank);
  }
  freeifaddrs(list);
  for (NetDevice& d : out) {
    d.guid = fnv1a64(d.name.data(), d.name.size());
    if (d.addr.sa.sa_family == AF_INET) {
      d.addr.in4.sin_port = 0;
    } else {
      d.addr.in6.sin6_port = 0;
    }
  }
  return out;
}

}  // namespace

bool ifname_matches(const std::string& spec_in, const std::string& name) {
  std::string spec = spec_in;
  bool exclude = false;
  bool exact = false;
  if (!spec.empty() && spec[0] == '^') {
    exclude = true;
    spec.erase(0, 1);
  }
  if (!spec.empty() && spec[0] == '=') {
    exact = true;
    spec.erase(0, 1);
  }
  bool found = false;
  for (const std::string& item : split_commas(spec)) {
    if (exact ? name == item : name.compare(0, item.size(), item) == 0) {
      found = true;
      break;
    }
  }
  return exclude ? !found : found;
}

std::vector<NetDevice> find_net_devices(const std::string& spec) {
  std::vector<NetDevice> devs = collect(spec, false);
  if (devs.empty() && spec.empty()) devs = collect(spec, true);
  return devs;
}

}  // namespace squeeze::plugin
