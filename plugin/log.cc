#include "plugin/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace squeeze::plugin {
namespace {

std::atomic<ncclDebugLogger_t> g_logger{nullptr};

bool stderr_info_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("SQUEEZE_LOG_STDERR");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return enabled;
}

}  // namespace

void set_logger(ncclDebugLogger_t logger) {
  g_logger.store(logger, std::memory_order_release);
}

ncclDebugLogger_t logger() {
  return g_logger.load(std::memory_order_acquire);
}

void log_message(ncclDebugLogLevel level, unsigned long flags, const char* file, int line,
                 const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  ncclDebugLogger_t log = logger();
  if (log != nullptr) {
    // NCCL's logger is printf-like: pass the formatted text through "%s" so that a '%' in a
    // peer address or file name is never interpreted again.
    log(level, flags, file, line, "%s", buf);
    return;
  }
  if (level == NCCL_LOG_WARN || stderr_info_enabled()) {
    std::fprintf(stderr, "%s %s:%d %s\n", level == NCCL_LOG_WARN ? "WARN" : "INFO", file, line,
                 buf);
  }
}

}  // namespace squeeze::plugin
