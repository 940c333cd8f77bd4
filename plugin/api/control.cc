// Optional control API: extern "C" functions a training script can reach with ctypes on the
// already-loaded library. Everything works without them.
#include <cstring>
#include <string>

#include "plugin/core.h"

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
}
