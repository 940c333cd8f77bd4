// Rate-limited network namespaces for squeeze-a2a --netns: one namespace per rank, each joined by
// a veth pair to a bridge in a hub namespace, every veth end shaped with tc tbf (this kernel has
// no netem). Addresses 10.250.0.x/24 exist only inside the namespaces created here, so nothing
// leaves them. Root only.
#pragma once

#include <string>
#include <vector>

namespace squeeze::a2a {

struct NetnsTopology {
  std::string prefix;                // "sqza2a-<pid>-"
  std::string hub_ns;                // bridge namespace
  std::vector<std::string> rank_ns;  // one per rank
  std::vector<std::string> rank_addr;
  std::string ifname = "sqz0";  // the rank's veth end, same name in every rank namespace
  bool created_any = false;
};

constexpr const char* kNetnsBase = "sqza2a-";

// Parses a tc rate ("1gbit", "500mbit", "100kbit", "10mbps") into bytes per second; 0 on error.
double parse_tc_rate(const std::string& rate);

// Checks that we are root and that `ip netns add` works; on failure says exactly why.
bool netns_probe(std::string* why);

// Deletes namespaces left by a crashed earlier run (prefix kNetnsBase, owner pid not alive).
void netns_cleanup_stale(bool verbose);

// Builds the topology for `ranks` ranks with every veth end limited to `rate`. On failure
// everything already created is removed again.
bool netns_create(int ranks, const std::string& rate, NetnsTopology* topo, std::string* err);

// Removes every namespace of the topology (the veths and qdiscs go with them). Safe to call twice.
void netns_destroy(NetnsTopology* topo);

// In a forked child: moves into the rank's namespace and remounts /sys so that
// /sys/class/net shows the namespace's interfaces (as `ip netns exec` does).
bool netns_enter(const std::string& ns, std::string* err);

// Reads /sys/class/net/<ifname>/statistics/<counter>; -1 when unavailable.
long long read_if_counter(const std::string& ifname, const char* counter);

}  // namespace squeeze::a2a
