// Logging through NCCL's logger (prefix "NET/Squeeze", or the name set_log_name gave), and error
// propagation that leaves a breadcrumb (file:line) on the way up. With no logger installed (unit
// tests, tools), WARN goes to stderr and INFO is dropped unless SQUEEZE_LOG_STDERR=1.
#pragma once

#include <cstdarg>

#include "nccl_abi/net.h"

namespace squeeze::plugin {

// Installs NCCL's logger (NULL is allowed and means "no NCCL logger").
void set_logger(ncclDebugLogger_t logger);
ncclDebugLogger_t logger();
// The name in the prefix of every line ("NET/<name> : "): "Squeeze" unless the library is the
// standalone TCP plugin ("SqueezeTcp"), whose lines must not pass for the outer plugin's.
void set_log_name(const char* name);

// Formats fmt and logs it with the "NET/<name> : " prefix.

void log_message(ncclDebugLogLevel level, unsigned long flags, const char* file, int line,
                 const char* fmt, ...) __attribute__((format(printf, 5, 6)));

}  // namespace squeeze::plugin

#define SQZ_WARN(fmt, ...) \
  ::squeeze::plugin::log_message(NCCL_LOG_WARN, NCCL_NET, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define SQZ_INFO(flags, fmt, ...) \
  ::squeeze::plugin::log_message(NCCL_LOG_INFO, (flags), __FILE__, __LINE__, fmt, ##__VA_ARGS__)

// Evaluates an expression returning ncclResult_t; on failure logs "file:line -> code" (the
// breadcrumb NCCL itself prints) and returns the code from the enclosing function.
#define SQZ_CHECK(call)                                                                          \
  do {                                                                                           \
    ncclResult_t sqz_res_ = (call);                                                              \
    if (sqz_res_ != ncclSuccess) {                                                               \
      ::squeeze::plugin::log_message(NCCL_LOG_INFO, NCCL_NET, __FILE__, __LINE__, "%s:%d -> %d", \
                                     __FILE__, __LINE__, static_cast<int>(sqz_res_));            \
      return sqz_res_;                                                                           \
    }                                                                                            \
  } while (0)

// Returns `code` after a WARN with the message when `cond` is false.
#define SQZ_REQUIRE(cond, code, fmt, ...) \
  do {                                    \
    if (!(cond)) {                        \
      SQZ_WARN(fmt, ##__VA_ARGS__);       \
      return (code);                      \
    }                                     \
  } while (0)
