#include "plugin/log.h"

#include <atomic>
#include <cstdio>

#include "plugin/config.h"

namespace squeeze::plugin {
namespace {

std::atomic<ncclDebugLogger_t> g_logger{nullptr};
std::atomic<const char*> g_log_name{"Squeeze"};

// NCCL_SQUEEZE_LOG_STDERR: -1 until known. Init sets it from the settings (file or environment,
// set_log_stderr); a message logged before that reads the environment through the parameter
// table, so that the variable is declared in one place (plugin/config.h) like every other.
std::atomic<int> g_stderr_info{-1};

bool stderr_info_enabled() {
  int on = g_stderr_info.load(std::memory_order_acquire);
  if (on < 0) {
    ParamValue v;
    int from_env = param_from_environment(ParamId::kLogStderr, &v) && v.i != 0 ? 1 : 0;
    int expected = -1;
    g_stderr_info.compare_exchange_strong(expected, from_env, std::memory_order_acq_rel);
    on = g_stderr_info.load(std::memory_order_acquire);
  }
  return on == 1;
}

}  // namespace

void set_log_stderr(bool on) {
  g_stderr_info.store(on ? 1 : 0, std::memory_order_release);
}

void set_logger(ncclDebugLogger_t logger) {
  g_logger.store(logger, std::memory_order_release);
}

ncclDebugLogger_t logger() {
  return g_logger.load(std::memory_order_acquire);
}

void set_log_name(const char* name) {
  g_log_name.store(name, std::memory_order_release);
}

void log_message(ncclDebugLogLevel level, unsigned long flags, const char* file, int line,
                 const char* fmt, ...) {
  char buf[1024];
  int prefix =
      std::snprintf(buf, sizeof(buf), "NET/%s : ", g_log_name.load(std::memory_order_acquire));
  if (prefix < 0 || static_cast<size_t>(prefix) >= sizeof(buf)) prefix = 0;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf + prefix, sizeof(buf) - static_cast<size_t>(prefix), fmt, ap);
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
