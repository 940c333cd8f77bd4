// Optional control API: extern "C" functions a training script can reach with ctypes on the
// already-loaded library. Everything works without them.
#include <cstring>
#include <string>

#include "plugin/classify/layout.h"
#include "plugin/classify/policy.h"
#include "plugin/core.h"
#include "plugin/log.h"

#ifndef SQUEEZE_VERSION_STRING
#define SQUEEZE_VERSION_STRING "unknown"
#endif

extern "C" {

// The plugin's version, e.g. "0.1.0".
__attribute__((visibility("default"))) const char* squeeze_version(void) {
  return SQUEEZE_VERSION_STRING;
}

// Writes the statistics of the live connections as a JSON array (NUL-terminated, truncated to
// len - 1 bytes) and returns the full length without the NUL, like snprintf.
__attribute__((visibility("default"))) size_t squeeze_get_stats_json(char* buf, size_t len) {
  std::string json = squeeze::plugin::core::stats_json();
  if (buf != nullptr && len > 0) {
    size_t n = json.size() < len - 1 ? json.size() : len - 1;
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  }
  return json.size();
}

// Replaces the traffic policy's rules (NCCL_SQUEEZE_POLICY syntax, docs/CONFIG.md) for every
// connection, from their next send on; NULL goes back to the configured rules, "" to the
// built-in default. Thread-safe. Returns 0, or -1 with a WARN naming the bad rule (the rules in
// force are then unchanged). E.g. from Python:
//   ctypes.CDLL("libnccl-net-squeeze.so").squeeze_set_policy(b"p2p.bf16=abs:1e-3")
__attribute__((visibility("default"))) int squeeze_set_policy(const char* rules) {
  std::string error;
  if (!squeeze::plugin::set_policy_override(rules, &error)) {
    SQZ_WARN("squeeze_set_policy(\"%s\") rejected, rules unchanged: %s", rules, error.c_str());
    return -1;
  }
  SQZ_INFO(NCCL_NET, "squeeze_set_policy(%s%s%s): %s", rules != nullptr ? "\"" : "",
           rules != nullptr ? rules : "NULL: back to the configured rules",
           rules != nullptr ? "\"" : "", squeeze::plugin::describe_current_policy().c_str());
  return 0;
}

// Replaces the row layout of the lossy sends (NCCL_SQUEEZE_LAYOUT syntax, docs/CONFIG.md) for
// every connection, from their next send on; NULL goes back to the configured layout, "" to
// none. Thread-safe. Returns 0, or -1 with a WARN naming the bad entry (the layout in force is
// then unchanged). squeeze.torchrec.register_layout calls it from a sharding plan.
__attribute__((visibility("default"))) int squeeze_set_layout(const char* layout) {
  std::string error;
  if (!squeeze::plugin::set_layout_override(layout, &error)) {
    SQZ_WARN("squeeze_set_layout(\"%s\") rejected, layout unchanged: %s", layout, error.c_str());
    return -1;
  }
  SQZ_INFO(NCCL_NET, "squeeze_set_layout(%s%s%s): %s", layout != nullptr ? "\"" : "",
           layout != nullptr ? layout : "NULL: back to the configured layout",
           layout != nullptr ? "\"" : "", squeeze::plugin::describe_current_layout().c_str());
  return 0;
}

// The training iteration the bound's schedule (NCCL_SQUEEZE_SCHEDULE) is at, from the next send
// on; once called, it alone counts iterations (SCHEDULE_BYTES no longer does). Thread-safe.
__attribute__((visibility("default"))) void squeeze_set_iteration(uint64_t iteration) {
  squeeze::plugin::set_iteration(iteration);
}

// The schedule's iteration in force and its factor (either pointer may be NULL).
__attribute__((visibility("default"))) void squeeze_get_iteration(uint64_t* iteration,
                                                                  double* factor) {
  if (iteration != nullptr) *iteration = squeeze::plugin::current_iteration();
  if (factor != nullptr) *factor = squeeze::plugin::current_schedule_factor();
}

// Writes the rule list in force (the last squeeze_set_policy's, else NCCL_SQUEEZE_POLICY) like
// squeeze_get_stats_json.
__attribute__((visibility("default"))) size_t squeeze_get_policy(char* buf, size_t len) {
  std::string text = squeeze::plugin::policy_text(nullptr);
  if (buf != nullptr && len > 0) {
    size_t n = text.size() < len - 1 ? text.size() : len - 1;
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return text.size();
}
}
