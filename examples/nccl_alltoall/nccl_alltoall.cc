// nccl_alltoall: an all-to-all of float32 embedding-like rows on NCCL's own API, one process per
// GPU, for trying Squeeze outside a training framework. Each rank times ncclAlltoAll (or grouped
// ncclSend/ncclRecv with --p2p) over a range of sizes, prints bandwidth the way nccl-tests does,
// and checks every received element against the error bound the plugin was configured with
// (NCCL_SQUEEZE_MODE / NCCL_SQUEEZE_BOUND), in double precision. Without the plugin the check
// demands bit-exact data.
//
// The NCCL unique id travels from rank 0 to the others through a small TCP exchange of our own
// (--root HOST:PORT, or MASTER_ADDR and MASTER_PORT+1 under `torchrun --no-python`) or through a
// file on a shared filesystem (--id-file). See README.md for launch recipes.
//
// Every rank can recompute what any peer sent it (the payload is a function of seed, sender,
// receiver and element index), so checking needs no extra communication.

#include <arpa/inet.h>
#include <cuda_runtime.h>
#include <fcntl.h>
#include <nccl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------------
// Error handling: every failure is reported where it happened and turned into a non-zero exit.

#define CUDA_OK(call)                                                                          \
  do {                                                                                         \
    cudaError_t err_ = (call);                                                                 \
    if (err_ != cudaSuccess) {                                                                 \
      std::fprintf(stderr, "nccl_alltoall: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorString(err_));                                                  \
      return false;                                                                            \
    }                                                                                          \
  } while (0)

#define NCCL_OK(call)                                                                          \
  do {                                                                                         \
    ncclResult_t res_ = (call);                                                                \
    if (res_ != ncclSuccess) {                                                                 \
      std::fprintf(stderr, "nccl_alltoall: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   ncclGetErrorString(res_));                                                  \
      return false;                                                                            \
    }                                                                                          \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  int rank = -1;
  int nranks = -1;
  int device = -1;             // default: LOCAL_RANK modulo the number of visible GPUs
  std::string root;            // HOST:PORT of rank 0's id server
  std::string id_file;         // alternative: shared-filesystem path for the id
  size_t min_bytes = 1 << 20;  // per rank, all peers together (nccl-tests' "size")
  size_t max_bytes = 64 << 20;
  int factor = 2;
  int warmup = 5;
  int iters = 20;
  int dim = 64;               // embedding row width, in floats
  double dup_fraction = 0.5;  // share of rows copied from a small pool of hot rows
  bool p2p = false;
  bool exact = false;
  bool specials = false;
  uint64_t seed = 1;
  int timeout_s = 300;
};

void usage() {
  std::printf(
      "usage: nccl_alltoall [options]\n"
      "  --rank R --nranks N     this process's rank and the number of ranks\n"
      "                          (default: RANK and WORLD_SIZE from the environment, as torchrun\n"
      "                          --no-python sets them)\n"
      "  --root HOST:PORT        rank 0 serves the NCCL unique id on PORT, the others connect\n"
      "                          (default: MASTER_ADDR:MASTER_PORT+1 when those are set)\n"
      "  --id-file PATH          exchange the id through a file on a shared filesystem instead;\n"
      "                          rank 0 creates it and refuses an existing one (use a fresh path)\n"
      "  --device D              CUDA device (default: LOCAL_RANK modulo the GPU count)\n"
      "  --min-bytes B --max-bytes B --factor F\n"
      "                          sizes swept, bytes each rank sends in total (default 1M..64M, "
      "x2;\n"
      "                          suffixes K, M, G)\n"
      "  --iters I --warmup W    timed and untimed iterations per size (default 20, 5)\n"
      "  --p2p                   grouped ncclSend/ncclRecv instead of ncclAlltoAll (what PyTorch\n"
      "                          does for TorchRec's unequal splits)\n"
      "  --dim D                 embedding row width in floats (default 64)\n"
      "  --dup-fraction X        share of rows repeated from a pool of hot rows (default 0.5)\n"
      "  --specials              put NaN and +-Inf into the payload (must arrive exactly)\n"
      "  --exact                 demand bit-exact results whatever NCCL_SQUEEZE_* says\n"
      "  --seed S                payload seed (default 1)\n"
      "  --timeout-s T           abort the communicator if one operation takes longer (default "
      "300)\n"
      "Error bound checked: NCCL_SQUEEZE_MODE (abs|rel, default rel) and NCCL_SQUEEZE_BOUND "
      "(default\n"
      "1e-3) when NCCL_NET_PLUGIN is set and NCCL_SQUEEZE_ENABLE is not 0; bit-exact otherwise.\n");
}

bool parse_size(const char* text, size_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text) return false;
  unsigned long long mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1ull << 10, ++end;
  else if (*end == 'M' || *end == 'm')
    mult = 1ull << 20, ++end;
  else if (*end == 'G' || *end == 'g')
    mult = 1ull << 30, ++end;
  if (*end != '\0' || v > std::numeric_limits<unsigned long long>::max() / mult) return false;
  *out = static_cast<size_t>(v * mult);
  return true;
}

bool parse_int(const char* text, long lo, long hi, int* out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int out = 0;
  return (v && parse_int(v, 0, 1 << 30, &out)) ? out : fallback;
}

bool parse_options(int argc, char** argv, Options* o) {
  o->rank = env_int("RANK", -1);
  o->nranks = env_int("WORLD_SIZE", -1);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char** out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "nccl_alltoall: %s needs a value\n", a.c_str());
        return false;
      }
      *out = argv[++i];
      return true;
    };
    const char* v = nullptr;
    bool ok = true;
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (a == "--p2p") {
      o->p2p = true;
    } else if (a == "--exact") {
      o->exact = true;
    } else if (a == "--specials") {
      o->specials = true;
    } else if (!value(&v)) {
      return false;
    } else if (a == "--rank") {
      ok = parse_int(v, 0, 1 << 20, &o->rank);
    } else if (a == "--nranks") {
      ok = parse_int(v, 1, 1 << 20, &o->nranks);
    } else if (a == "--device") {
      ok = parse_int(v, 0, 1024, &o->device);
    } else if (a == "--root") {
      o->root = v;
    } else if (a == "--id-file") {
      o->id_file = v;
    } else if (a == "--min-bytes") {
      ok = parse_size(v, &o->min_bytes);
    } else if (a == "--max-bytes") {
      ok = parse_size(v, &o->max_bytes);
    } else if (a == "--factor") {
      ok = parse_int(v, 2, 1024, &o->factor);
    } else if (a == "--iters") {
      ok = parse_int(v, 1, 1 << 20, &o->iters);
    } else if (a == "--warmup") {
      ok = parse_int(v, 0, 1 << 20, &o->warmup);
    } else if (a == "--dim") {
      ok = parse_int(v, 1, 1 << 16, &o->dim);
    } else if (a == "--dup-fraction") {
      char* end = nullptr;
      o->dup_fraction = std::strtod(v, &end);
      ok = end != v && *end == '\0' && o->dup_fraction >= 0 && o->dup_fraction <= 1;
    } else if (a == "--seed") {
      char* end = nullptr;
      o->seed = std::strtoull(v, &end, 10);
      ok = end != v && *end == '\0';
    } else if (a == "--timeout-s") {
      ok = parse_int(v, 1, 86400, &o->timeout_s);
    } else {
      std::fprintf(stderr, "nccl_alltoall: unknown option %s (see --help)\n", a.c_str());
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "nccl_alltoall: bad value '%s' for %s\n", v, a.c_str());
      return false;
    }
  }
  if (o->rank < 0 || o->nranks < 1 || o->rank >= o->nranks) {
    std::fprintf(stderr, "nccl_alltoall: need 0 <= --rank < --nranks (or RANK/WORLD_SIZE)\n");
    return false;
  }
  if (o->root.empty() && o->id_file.empty()) {
    const char* addr = std::getenv("MASTER_ADDR");
    int port = env_int("MASTER_PORT", -1);
    // torchrun's own rendezvous store already listens on MASTER_PORT.
    if (addr && port > 0 && port < 65535)
      o->root = std::string(addr) + ":" + std::to_string(port + 1);
  }
  if (o->root.empty() == o->id_file.empty()) {
    std::fprintf(stderr,
                 "nccl_alltoall: give exactly one of --root HOST:PORT and --id-file PATH\n");
    return false;
  }
  if (o->min_bytes == 0 || o->max_bytes < o->min_bytes) {
    std::fprintf(stderr, "nccl_alltoall: need 0 < --min-bytes <= --max-bytes\n");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Unique-id exchange

constexpr char kIdMagic[8] = {'S', 'Q', 'Z', 'A', '2', 'A', 'I', 'D'};
using Clock = std::chrono::steady_clock;

bool split_host_port(const std::string& root, std::string* host, std::string* port) {
  size_t colon = root.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == root.size()) {
    std::fprintf(stderr, "nccl_alltoall: --root must be HOST:PORT, got '%s'\n", root.c_str());
    return false;
  }
  *host = root.substr(0, colon);
  *port = root.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  return true;
}

bool write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, size_t len, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (len > 0) {
    int left_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left_ms <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, left_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = ::recv(fd, p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Rank 0: listen on the port, hand the id to each of the other ranks, then close.
bool serve_id(const Options& o, const ncclUniqueId& id) {
  std::string host, port;
  if (!split_host_port(o.root, &host, &port)) return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  // Listen on every interface: HOST is the name the others use to reach rank 0.
  int gai = ::getaddrinfo(nullptr, port.c_str(), &hints, &res);
  if (gai != 0) {
    std::fprintf(stderr, "nccl_alltoall: port '%s': %s\n", port.c_str(), gai_strerror(gai));
    return false;
  }
  int listen_fd = -1;
  for (addrinfo* ai = res; ai && listen_fd < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
      int zero = 0;  // accept IPv4 peers on the IPv6 socket as well
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      listen_fd = fd;
    } else {
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (listen_fd < 0) {
    std::fprintf(stderr, "nccl_alltoall: cannot listen on port %s: %s\n", port.c_str(),
                 std::strerror(errno));
    return false;
  }
  std::printf("nccl_alltoall: rank 0 serving the NCCL id on port %s for %d ranks\n", port.c_str(),
              o.nranks - 1);
  std::fflush(stdout);
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  bool ok = true;
  for (int served = 0; served < o.nranks - 1 && ok;) {
    int left_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd pfd{listen_fd, POLLIN, 0};
    int r = left_ms > 0 ? ::poll(&pfd, 1, left_ms) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      std::fprintf(stderr, "nccl_alltoall: only %d of %d ranks fetched the id within %d s\n",
                   served, o.nranks - 1, o.timeout_s);
      ok = false;
      break;
    }
    int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    // The peer first says who it is, so a stray connection cannot take a slot.
    char hello[sizeof(kIdMagic)];
    if (read_all(fd, hello, sizeof(hello), Clock::now() + std::chrono::seconds(10)) &&
        std::memcmp(hello, kIdMagic, sizeof(kIdMagic)) == 0) {
      if (write_all(fd, kIdMagic, sizeof(kIdMagic)) && write_all(fd, &id, sizeof(id))) ++served;
    } else {
      std::fprintf(stderr, "nccl_alltoall: ignored a connection that did not say hello\n");
    }
    ::close(fd);
  }
  ::close(listen_fd);
  return ok;
}

bool fetch_id(const Options& o, ncclUniqueId* id) {
  std::string host, port;
  if (!split_host_port(o.root, &host, &port)) return false;
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (Clock::now() < deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) == 0) {
      for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
          char magic[sizeof(kIdMagic)];
          bool ok = write_all(fd, kIdMagic, sizeof(kIdMagic)) &&
                    read_all(fd, magic, sizeof(magic), deadline) &&
                    std::memcmp(magic, kIdMagic, sizeof(kIdMagic)) == 0 &&
                    read_all(fd, id, sizeof(*id), deadline);
          ::close(fd);
          if (ok) {
            ::freeaddrinfo(res);
            return true;
          }
        } else {
          ::close(fd);
        }
      }
      ::freeaddrinfo(res);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // rank 0 may not be up yet
  }
  std::fprintf(stderr, "nccl_alltoall: could not get the NCCL id from %s within %d s\n",
               o.root.c_str(), o.timeout_s);
  return false;
}

bool publish_id_file(const Options& o, const ncclUniqueId& id) {
  std::string tmp = o.id_file + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "nccl_alltoall: cannot create %s: %s\n", tmp.c_str(),
                 std::strerror(errno));
    return false;
  }
  bool ok = ::write(fd, kIdMagic, sizeof(kIdMagic)) == static_cast<ssize_t>(sizeof(kIdMagic)) &&
            ::write(fd, &id, sizeof(id)) == static_cast<ssize_t>(sizeof(id)) && ::fsync(fd) == 0;
  ::close(fd);
  // link() fails if the path exists: an id left over from an earlier run is never reused.
  if (ok && ::link(tmp.c_str(), o.id_file.c_str()) != 0) {
    std::fprintf(stderr, "nccl_alltoall: cannot publish %s: %s (remove it or use a fresh path)\n",
                 o.id_file.c_str(), std::strerror(errno));
    ok = false;
  }
  ::unlink(tmp.c_str());
  return ok;
}

bool read_id_file(const Options& o, ncclUniqueId* id) {
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (Clock::now() < deadline) {
    int fd = ::open(o.id_file.c_str(), O_RDONLY);
    if (fd >= 0) {
      char magic[sizeof(kIdMagic)];
      bool ok = ::read(fd, magic, sizeof(magic)) == static_cast<ssize_t>(sizeof(magic)) &&
                std::memcmp(magic, kIdMagic, sizeof(kIdMagic)) == 0 &&
                ::read(fd, id, sizeof(*id)) == static_cast<ssize_t>(sizeof(*id));
      ::close(fd);
      if (ok) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::fprintf(stderr, "nccl_alltoall: no valid id in %s within %d s\n", o.id_file.c_str(),
               o.timeout_s);
  return false;
}

bool exchange_id(const Options& o, ncclUniqueId* id) {
  if (o.rank == 0) {
    NCCL_OK(ncclGetUniqueId(id));
    if (o.nranks == 1) return true;
    return o.id_file.empty() ? serve_id(o, *id) : publish_id_file(o, *id);
  }
  return o.id_file.empty() ? fetch_id(o, id) : read_id_file(o, id);
}

// ---------------------------------------------------------------------------------------------
// Payload: pooled-embedding-like rows. A block is what one sender sends one receiver; each element
// is a pure function of (seed, sender, receiver, index), so the receiver can recompute it.

uint64_t mix64(uint64_t x) {  // SplitMix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double unit(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

void fill_block(const Options& o, int sender, int receiver, float* out, size_t count) {
  const uint64_t block_key = mix64(
      o.seed ^ mix64((static_cast<uint64_t>(sender) << 32) | static_cast<uint32_t>(receiver)));
  constexpr uint64_t kHotRows = 16;
  const size_t dim = static_cast<size_t>(o.dim);
  for (size_t row_start = 0; row_start < count; row_start += dim) {
    const uint64_t row = row_start / dim;
    const uint64_t row_key = mix64(block_key + row);
    // A duplicated row takes its values from one of a few hot rows, as small tables do.
    const bool hot = unit(row_key) < o.dup_fraction;
    const uint64_t source_key =
        hot ? mix64(block_key ^ (0xD1B54A32D192ED03ull + row_key % kHotRows))
            : mix64(row_key ^ 0x5851F42D4C957F2Dull);
    const size_t n = std::min(dim, count - row_start);
    for (size_t j = 0; j < n; ++j) {
      // Box-Muller from two hashed uniforms: values around N(0, 0.05^2), as trained embeddings.
      const uint64_t h = mix64(source_key + j);
      const double u1 = std::max(unit(h), 0x1.0p-53);
      const double u2 = unit(mix64(h));
      out[row_start + j] = static_cast<float>(0.05 * std::sqrt(-2.0 * std::log(u1)) *
                                              std::cos(6.283185307179586 * u2));
    }
  }
  if (o.specials && count >= 3) {
    out[block_key % count] = std::numeric_limits<float>::quiet_NaN();
    out[(block_key >> 17) % count] = std::numeric_limits<float>::infinity();
    out[(block_key >> 34) % count] = -std::numeric_limits<float>::infinity();
  }
}

struct Bound {
  bool exact = true;
  bool relative = true;
  double value = 0;
  std::string text;
};

Bound bound_from_env(const Options& o) {
  Bound b;
  const char* plugin = std::getenv("NCCL_NET_PLUGIN");
  const char* enable = std::getenv("NCCL_SQUEEZE_ENABLE");
  const bool plugin_on =
      plugin && *plugin && strcasecmp(plugin, "none") != 0 &&
      !(enable && (std::strcmp(enable, "0") == 0 || strcasecmp(enable, "false") == 0));
  if (o.exact || !plugin_on) {
    b.text =
        o.exact ? "bit-exact (--exact)" : "bit-exact (no NCCL_NET_PLUGIN, or Squeeze disabled)";
    return b;
  }
  const char* mode = std::getenv("NCCL_SQUEEZE_MODE");
  const char* bound = std::getenv("NCCL_SQUEEZE_BOUND");
  b.exact = false;
  b.relative = !(mode && strcasecmp(mode, "abs") == 0);
  b.value = bound ? std::strtod(bound, nullptr) : 1e-3;  // the plugin's defaults: rel, 1e-3
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s %g%s (from NCCL_SQUEEZE_MODE/BOUND)",
                b.relative ? "rel" : "abs", b.value,
                b.relative ? " x value range of the block" : "");
  b.text = buf;
  return b;
}

struct CheckResult {
  uint64_t violations = 0;
  double max_error = 0;    // largest |received - sent| over finite values
  double max_allowed = 0;  // the bound it was checked against (largest over blocks)
};

// A frame covers at most one NCCL send of one block, so the value range of the whole block bounds
// every frame's range from above: rel x block range is the loosest bound the plugin may use.
void check_block(const float* expected, const float* got, size_t count, const Bound& bound,
                 CheckResult* r) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t i = 0; i < count; ++i) {
    if (std::isfinite(expected[i])) {
      lo = std::min(lo, static_cast<double>(expected[i]));
      hi = std::max(hi, static_cast<double>(expected[i]));
    }
  }
  double allowed = 0;
  if (!bound.exact) allowed = bound.relative ? bound.value * (hi > lo ? hi - lo : 0) : bound.value;
  r->max_allowed = std::max(r->max_allowed, allowed);
  for (size_t i = 0; i < count; ++i) {
    const float e = expected[i], g = got[i];
    bool bad;
    if (bound.exact) {
      bad = std::memcmp(&e, &g, sizeof(float)) != 0;
      if (std::isfinite(e) && std::isfinite(g))
        r->max_error = std::max(r->max_error, std::fabs(static_cast<double>(g) - e));
    } else if (std::isnan(e)) {
      bad = !std::isnan(g);
    } else if (std::isinf(e)) {
      bad = g != e;
    } else {
      const double err = std::fabs(static_cast<double>(g) - static_cast<double>(e));
      bad = !(err <= allowed);  // also catches NaN received for a finite value
      if (std::isfinite(err)) r->max_error = std::max(r->max_error, err);
    }
    if (bad && r->violations++ < 5) {
      std::fprintf(stderr, "nccl_alltoall: element %zu: sent %.9g received %.9g (allowed %.3g)\n",
                   i, static_cast<double>(e), static_cast<double>(g), allowed);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running the collective

// Polls instead of blocking so that a hung transfer (a plugin bug, a dead peer) ends in an error
// after --timeout-s. After an abort the communicator is gone and *comm is set to null.
bool wait_stream(cudaStream_t stream, ncclComm_t* comm, int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    cudaError_t q = cudaStreamQuery(stream);
    if (q == cudaSuccess) return true;
    if (q != cudaErrorNotReady) {
      std::fprintf(stderr, "nccl_alltoall: stream error: %s\n", cudaGetErrorString(q));
      return false;
    }
    ncclResult_t async_err = ncclSuccess;
    NCCL_OK(ncclCommGetAsyncError(*comm, &async_err));
    if (async_err != ncclSuccess && async_err != ncclInProgress) {
      std::fprintf(stderr, "nccl_alltoall: NCCL reported %s: %s\n", ncclGetErrorString(async_err),
                   ncclGetLastError(*comm));
      ncclCommAbort(*comm);
      *comm = nullptr;
      return false;
    }
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "nccl_alltoall: no completion within %d s; aborting the communicator\n",
                   timeout_s);
      ncclCommAbort(*comm);
      *comm = nullptr;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

bool alltoall(const Options& o, const float* send, float* recv, size_t count, ncclComm_t comm,
              cudaStream_t stream) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  if (!o.p2p) {
    NCCL_OK(ncclAlltoAll(send, recv, count, ncclFloat32, comm, stream));
    return true;
  }
#endif
  NCCL_OK(ncclGroupStart());
  for (int peer = 0; peer < o.nranks; ++peer) {
    NCCL_OK(ncclSend(send + peer * count, count, ncclFloat32, peer, comm, stream));
    NCCL_OK(ncclRecv(recv + peer * count, count, ncclFloat32, peer, comm, stream));
  }
  NCCL_OK(ncclGroupEnd());
  return true;
}

struct Resources {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  float* send = nullptr;
  float* recv = nullptr;
  int* flag = nullptr;  // device scratch for the global verdict
  bool clean = false;   // all work completed: destroy politely; otherwise abort (may be in flight)
  ~Resources() {
    // Destroying closes the plugin's connections, which is when it prints their statistics.
    if (comm) clean ? ncclCommDestroy(comm) : ncclCommAbort(comm);
    if (send) cudaFree(send);
    if (recv) cudaFree(recv);
    if (flag) cudaFree(flag);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
  }
};

bool run(const Options& o, bool* all_passed) {
  ncclUniqueId id;
  if (!exchange_id(o, &id)) return false;

  int ngpus = 0;
  CUDA_OK(cudaGetDeviceCount(&ngpus));
  const int device = o.device >= 0 ? o.device : env_int("LOCAL_RANK", o.rank) % std::max(ngpus, 1);
  CUDA_OK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, device));
  int nccl_version = 0;
  NCCL_OK(ncclGetVersion(&nccl_version));
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::printf("nccl_alltoall: rank %d/%d on %s, GPU %d (%s, bus %02x:%02x), NCCL %d, %s\n", o.rank,
              o.nranks, host, device, prop.name, prop.pciBusID, prop.pciDeviceID, nccl_version,
              o.p2p ? "grouped ncclSend/ncclRecv" : "ncclAlltoAll");
  std::fflush(stdout);

  Resources res;
  NCCL_OK(ncclCommInitRank(&res.comm, o.nranks, id, o.rank));
  CUDA_OK(cudaStreamCreateWithFlags(&res.stream, cudaStreamNonBlocking));
  CUDA_OK(cudaEventCreate(&res.start));
  CUDA_OK(cudaEventCreate(&res.stop));

  const size_t nranks = static_cast<size_t>(o.nranks);
  const size_t max_count = std::max<size_t>(o.max_bytes / sizeof(float) / nranks, 1);
  CUDA_OK(cudaMalloc(&res.send, max_count * nranks * sizeof(float)));
  CUDA_OK(cudaMalloc(&res.recv, max_count * nranks * sizeof(float)));
  CUDA_OK(cudaMalloc(&res.flag, sizeof(int)));

  const Bound bound = bound_from_env(o);
  if (o.rank == 0) {
    std::printf("nccl_alltoall: float32 rows of %d, %.0f%% duplicated, check: %s\n", o.dim,
                100 * o.dup_fraction, bound.text.c_str());
    std::printf("%14s %12s %10s %10s %10s %12s %12s %6s\n", "size(B)", "count/peer", "time(us)",
                "algbw(GB/s)", "busbw(GB/s)", "max_err", "allowed", "check");
  }
  std::vector<float> host_send(max_count * nranks), host_recv(max_count * nranks),
      expected(max_count);
  *all_passed = true;
  for (size_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= static_cast<size_t>(o.factor)) {
    const size_t count = std::max<size_t>(bytes / sizeof(float) / nranks, 1);
    for (int peer = 0; peer < o.nranks; ++peer)
      fill_block(o, o.rank, peer, host_send.data() + peer * count, count);
    CUDA_OK(cudaMemcpyAsync(res.send, host_send.data(), count * nranks * sizeof(float),
                            cudaMemcpyHostToDevice, res.stream));
    CUDA_OK(cudaMemsetAsync(res.recv, 0xff, count * nranks * sizeof(float), res.stream));
    for (int i = 0; i < o.warmup; ++i)
      if (!alltoall(o, res.send, res.recv, count, res.comm, res.stream)) return false;
    CUDA_OK(cudaEventRecord(res.start, res.stream));
    for (int i = 0; i < o.iters; ++i)
      if (!alltoall(o, res.send, res.recv, count, res.comm, res.stream)) return false;
    CUDA_OK(cudaEventRecord(res.stop, res.stream));
    if (!wait_stream(res.stream, &res.comm, o.timeout_s)) return false;
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, res.start, res.stop));
    const double seconds = ms / 1e3 / o.iters;
    const double size = static_cast<double>(count * nranks * sizeof(float));
    const double algbw = size / seconds / 1e9;
    const double busbw = algbw * static_cast<double>(o.nranks - 1) / o.nranks;

    CUDA_OK(cudaMemcpyAsync(host_recv.data(), res.recv, count * nranks * sizeof(float),
                            cudaMemcpyDeviceToHost, res.stream));
    CUDA_OK(cudaStreamSynchronize(res.stream));
    CheckResult check;
    for (int peer = 0; peer < o.nranks; ++peer) {
      fill_block(o, peer, o.rank, expected.data(), count);
      check_block(expected.data(), host_recv.data() + peer * count, count, bound, &check);
    }
    // The global verdict travels through NCCL itself: an integer all-reduce, never compressed.
    int verdict = check.violations > 0 ? 1 : 0;
    CUDA_OK(
        cudaMemcpyAsync(res.flag, &verdict, sizeof(verdict), cudaMemcpyHostToDevice, res.stream));
    NCCL_OK(ncclAllReduce(res.flag, res.flag, 1, ncclInt32, ncclMax, res.comm, res.stream));
    CUDA_OK(
        cudaMemcpyAsync(&verdict, res.flag, sizeof(verdict), cudaMemcpyDeviceToHost, res.stream));
    if (!wait_stream(res.stream, &res.comm, o.timeout_s)) return false;
    const bool passed = verdict == 0;
    *all_passed = *all_passed && passed;
    if (check.violations > 0) {
      std::fprintf(stderr,
                   "nccl_alltoall: rank %d: %" PRIu64 " elements outside the bound at %zu B\n",
                   o.rank, check.violations, bytes);
    }
    if (o.rank == 0) {
      std::printf("%14zu %12zu %10.1f %10.2f %10.2f %12.3g %12.3g %6s\n",
                  count * nranks * sizeof(float), count, seconds * 1e6, algbw, busbw,
                  check.max_error, check.max_allowed, passed ? "ok" : "FAIL");
      std::fflush(stdout);
    }
    if (bytes > o.max_bytes / static_cast<size_t>(o.factor)) break;  // no overflow past max
  }
  if (o.rank == 0) {
    std::printf("nccl_alltoall: %s (max_err and allowed are rank 0's; check covers all ranks)\n",
                *all_passed ? "all sizes within the bound" : "SOME SIZES FAILED THE CHECK");
  }
  res.clean = true;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, &o)) return 2;
  bool passed = false;
  if (!run(o, &passed)) return 1;
  return passed ? 0 : 3;
}
