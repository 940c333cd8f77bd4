// Shared pieces of the soak programs (tools/soak/): loading the plugin the way NCCL does (dlopen,
// RTLD_NOW | RTLD_LOCAL, the exported v11 table), capturing what it logs, counting descriptors,
// resident memory and heap in use, forking ranks that talk over socketpairs, and writing one JSON
// line of results.
#pragma once

#include <dirent.h>
#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "nccl_abi/net.h"

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifdef SOAK_ASAN
// From the sanitizer runtime (sanitizer/allocator_interface.h and lsan_interface.h, which g++
// does not install).
extern "C" size_t __sanitizer_get_current_allocated_bytes(void);
extern "C" void __lsan_do_leak_check(void);
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SOAK_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define SOAK_ON_VALGRIND() false
#endif

#ifndef SQUEEZE_SOAK_DEFAULT_PLUGIN
#define SQUEEZE_SOAK_DEFAULT_PLUGIN "libnccl-net-squeeze.so"
#endif

namespace soak {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// CLOCK_MONOTONIC in seconds: comparable between the processes of one host.
inline double mono_now() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// ---- the plugin --------------------------------------------------------------------------------

inline std::string& plugin_path() {
  static std::string p = SQUEEZE_SOAK_DEFAULT_PLUGIN;
  return p;
}

// The plugin's v11 table, loaded once per process (each forked rank loads its own copy).
inline ncclNet_v11_t* net() {
  static ncclNet_v11_t* table = [] {
    void* lib = dlopen(plugin_path().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      std::fprintf(stderr, "dlopen(%s): %s\n", plugin_path().c_str(), dlerror());
      _exit(3);
    }
    auto* t = static_cast<ncclNet_v11_t*>(dlsym(lib, "ncclNetPlugin_v11"));
    if (t == nullptr) {
      std::fprintf(stderr, "%s does not export ncclNetPlugin_v11\n", plugin_path().c_str());
      _exit(3);
    }
    return t;
  }();
  return table;
}

// What the plugin logged (WARN lines always, INFO lines when asked), with the time of each.
struct LogLine {
  double t;  // mono_now()
  bool warn;
  std::string text;
};
struct Log {
  std::mutex mu;
  std::vector<LogLine> lines;
  bool keep_info = false;
  bool echo = false;
};
inline Log& plugin_log() {
  static Log l;
  return l;
}
inline void logger(ncclDebugLogLevel level, unsigned long, const char*, int, const char* fmt, ...) {
  Log& l = plugin_log();
  const bool warn = level == NCCL_LOG_WARN;
  if (!warn && !l.keep_info && !l.echo) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (l.echo) std::fprintf(stderr, "[%d plugin %s] %s\n", getpid(), warn ? "WARN" : "INFO", buf);
  std::lock_guard<std::mutex> lock(l.mu);
  if (warn || l.keep_info) l.lines.push_back({mono_now(), warn, buf});
}
inline size_t warnings_logged() {
  std::lock_guard<std::mutex> lock(plugin_log().mu);
  size_t n = 0;
  for (const LogLine& l : plugin_log().lines) n += l.warn;
  return n;
}

// ---- resources ---------------------------------------------------------------------------------

inline int open_descriptors() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

inline uint64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Bytes the program holds on the heap: the allocator's own count (ASan's under ASan, glibc's
// otherwise; under valgrind neither sees the heap and this reads 0).
inline uint64_t heap_bytes() {
#ifdef SOAK_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

// A forked rank ends with _exit, which skips LeakSanitizer's check at exit: run it first (a leak
// then ends the process with LeakSanitizer's exit code).
inline void leak_check_before_exit() {
#ifdef SOAK_ASAN
  __lsan_do_leak_check();
#endif
}

inline const char* instrumentation() {
#ifdef SOAK_ASAN
  return "asan";
#else
  return SOAK_ON_VALGRIND() ? "valgrind" : "none";
#endif
}

// ---- ranks -------------------------------------------------------------------------------------

// One end of a socketpair between two processes.
struct Channel {
  int fd = -1;
  bool send(const void* p, size_t n) const {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      c += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  bool recv(void* p, size_t n) const {
    char* c = static_cast<char*>(p);
    while (n > 0) {
      ssize_t k = ::recv(fd, c, n, 0);
      if (k <= 0) return false;
      c += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  bool exchange(const void* mine, void* theirs, size_t n) const {
    return send(mine, n) && recv(theirs, n);
  }
  bool barrier() const {
    char t = 'b', got = 0;
    return exchange(&t, &got, 1) && got == 'b';
  }
};

struct Child {
  pid_t pid = -1;
  int status = 0;
  bool reaped = false;
};

// Waits for the children until `timeout_s`; those still running then are killed (a hang).
// Returns the number that had to be killed.
inline int reap(std::vector<Child>* kids, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  int killed = 0;
  for (;;) {
    bool left = false;
    for (Child& k : *kids) {
      if (k.reaped) continue;
      if (waitpid(k.pid, &k.status, WNOHANG) == k.pid) {
        k.reaped = true;
      } else {
        left = true;
      }
    }
    if (!left) return killed;
    if (Clock::now() > deadline) {
      for (Child& k : *kids) {
        if (k.reaped) continue;
        kill(k.pid, SIGKILL);
        waitpid(k.pid, &k.status, 0);
        k.reaped = true;
        ++killed;
      }
      return killed;
    }
    usleep(2000);
  }
}

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Writes all of p to a pipe.
inline bool write_fd_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::write(fd, c, n);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Reads everything a child wrote on a pipe (until EOF).
inline std::string read_all_fd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t k = ::read(fd, buf, sizeof(buf));
    if (k <= 0) break;
    out.append(buf, static_cast<size_t>(k));
  }
  return out;
}

// ---- output ------------------------------------------------------------------------------------

inline std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          o += b;
        } else {
          o += c;
        }
    }
  }
  return o;
}

inline std::string json_str(const std::string& s) {
  return "\"" + json_escape(s) + "\"";
}

inline std::string fmt(const char* f, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

// The first line of `uname -n`-like facts about this machine, for the record.
inline std::string machine_json() {
  std::string model = "?";
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::strncmp(line, "model name", 10) == 0) {
        const char* c = std::strchr(line, ':');
        if (c) {
          model = c + 2;
          while (!model.empty() && (model.back() == '\n' || model.back() == ' ')) model.pop_back();
        }
        break;
      }
    }
    std::fclose(f);
  }
  return fmt("{\"cpus\":%ld,\"cpu\":%s}", sysconf(_SC_NPROCESSORS_ONLN), json_str(model).c_str());
}

}  // namespace soak
