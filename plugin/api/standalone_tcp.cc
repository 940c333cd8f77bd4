// libnccl-net-sqztcp.so: the plugin's TCP transport as a net plugin of its own (tables named
// SqueezeTcp, compression off), e.g. as the inner plugin of Squeeze in tests and benchmarks.
#include "plugin/core.h"

namespace {

struct ForceStandaloneTcp {
  ForceStandaloneTcp() { squeeze::plugin::core::force_standalone_tcp(SQUEEZE_NET_NAME); }
};
const ForceStandaloneTcp force_standalone_tcp;

}  // namespace
