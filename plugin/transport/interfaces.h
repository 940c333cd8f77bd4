// The network devices the plugin offers NCCL: one per selected interface (getifaddrs), with the
// facts getProperties reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugin/transport/socket.h"

namespace squeeze::plugin {

struct NetDevice {
  std::string name;      // interface name, unique
  SockAddr addr;         // first usable address (IPv4 preferred), port 0
  std::string pci_path;  // realpath(/sys/class/net/<if>/device), empty if none
  int speed_mbps;        // /sys/class/net/<if>/speed, 10000 (NCCL's default) if unreadable
  bool speed_known;      // speed_mbps was read from /sys, not defaulted
  uint64_t guid;
};

// True when interface `name` is selected by spec, which uses NCCL_SOCKET_IFNAME's syntax:
// comma-separated prefixes; a leading '^' turns the list into exclusions; a leading '=' (after
// the optional '^') makes the entries exact names.
bool ifname_matches(const std::string& spec, const std::string& name);

// Interfaces that are up and have an IPv4 or IPv6 address, filtered by spec. With an empty spec:
// all but loopback and docker*, and loopback only when nothing else is up.
std::vector<NetDevice> find_net_devices(const std::string& spec);

}  // namespace squeeze::plugin
