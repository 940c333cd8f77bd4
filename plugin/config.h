// Every NCCL_SQUEEZE_* parameter, declared once (SQUEEZE_PARAMS below): name, type, default,
// allowed range or values, and the text docs/CONFIG.md shows. Values come from, in increasing
// precedence, the default, the TOML file named by NCCL_SQUEEZE_CONFIG, and the environment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "squeeze/codec.h"

namespace squeeze::plugin {

enum class ParamType : uint8_t { kBool, kInt, kFloat, kEnum, kString };

// X(id, NAME, type, default, min, max, enum values, doc)
// min/max apply to kInt and kFloat (a kFloat min of 0 is exclusive: the value must be > 0). A kInt
// with a word in "enum values" also accepts that word (e.g. "auto"), stored as -1.
#define SQUEEZE_PARAMS(X)                                                                          \
  X(kEnable, "ENABLE", kBool, "1", 0, 1, "",                                                       \
    "Master switch. 0: every message passes through bit-exact (a plain TCP transport).")           \
  X(kMode, "MODE", kEnum, "local", 0, 0, "abs|rel|local",                                          \
    "Error-bound mode: abs bounds every element by BOUND; rel by BOUND x (max - min) of its "      \
    "frame (a 128 KiB step, or a message sent in one piece); local by BOUND x (max - min) of the " \
    "element's own block of 32 values (a table of "                                                \
    "small values keeps its precision beside one of large values).")                               \
  X(kBound, "BOUND", kFloat, "1e-2", 0, 1e6, "",                                                   \
    "Error bound (absolute, or relative to a range with MODE=rel or local). Must be > 0. The "     \
    "default, local 1e-2, is each value within 1/100 of its block's range, the fidelity study's "  \
    "choice (docs/FIDELITY.md); local 1.96e-3 (1/510) is at least as precise as TorchRec's INT8 "  \
    "row-wise quantized comms per vector.")                                                        \
  X(kMinBytes, "MIN_BYTES", kInt, "4096", 0, (int64_t{1} << 40), "",                               \
    "Messages smaller than this pass through.")                                                    \
  X(kAssumeDtype, "ASSUME_DTYPE", kEnum, "none", 0, 0, "none|f32|f16|bf16",                        \
    "Fallback only (NCCL's profiler chain not in use, see README 'Traffic classification'): "      \
    "datatype assumed for every p2p/all-to-all SIMPLE payload, integers included. Ignored when "   \
    "the profiler tells the datatype.")                                                            \
  X(kPolicy, "POLICY", kString, "", 0, 0, "",                                                      \
    "Rules op.dtype=action, comma-separated, later ones win. op: p2p, broadcast, reduce, "         \
    "allgather, reducescatter, allreduce, coll, *; dtype: f32, f16, bf16, i8, u8, i32, u32, i64, " \
    "u64, *; action: on, off, lossless, auto (lossless while the coder outruns the link, see "     \
    "LINK_MBPS), rel:BOUND, abs:BOUND, local:BOUND. Default: p2p f32/f16/bf16 on with "            \
    "MODE/BOUND, p2p integers auto, collectives off. E.g. "                                        \
    "p2p.bf16=abs:1e-3,allreduce.f32=rel:1e-4,p2p.i64=lossless.")                                  \
  X(kLinkMbps, "LINK_MBPS", kInt, "auto", 1, 100000000, "auto",                                    \
    "The link's rate (Mbit/s) that the measured rules compare the codec with: lossless 'auto' "    \
    "policy cells (compressed while the coder is at least as fast as the link and the ratio >= "   \
    "1.1; an unknown rate means never), LOSSY_GATE=link (the same rule; unknown: compress), "      \
    "ENTROPY=auto and HISTORY=auto. auto: the device's speed (the interface's, or the inner "      \
    "plugin's), which a virtual NIC may misreport; an interface that reports none (loopback, "     \
    "many virtual NICs) is unknown to the two coder rules and 10 Gbit/s (NCCL's default) to "      \
    "ENTROPY and HISTORY.")                                                                        \
  X(kEntropy, "ENTROPY", kEnum, "auto", 0, 0, "auto|on|off",                                       \
    "The rANS entropy stage of lossy frames. auto: used where the bytes it saves reach the peer "  \
    "sooner than it costs: it must save at least (link rate x its time a value) bits a value, "    \
    "its time (encode plus decode) measured once per process on this CPU; an unknown link "        \
    "rate means on. on: whenever it makes the frame smaller; off: never (the fixed-length coder "  \
    "only). The decoded values are the same in every case.")                                       \
  X(kHistory, "HISTORY", kEnum, "auto", 0, 0, "auto|on|off",                                       \
    "The stream history of lossy frames: a frame's units may refer to units of the last MiB the "  \
    "connection sent (when the receiver decodes such frames). auto: kept unless it makes the "     \
    "longer of the connection's CPU time (coding, and this process's receivers' decoding) and "    \
    "its wire time longer, measured on its own frames with and without it every 1024 frames; an "  \
    "unknown link rate means on. on: always; off: never (deduplication within a frame only). The " \
    "decoded values are the same in every case.")                                                  \
  X(kLossyGate, "LOSSY_GATE", kEnum, "off", 0, 0, "off|link",                                      \
    "Lossy compression on the CPU (host buffers) only where it makes the transfer faster. off: "   \
    "always compress. link: a send connection compresses the first 8 messages of a float "         \
    "datatype and times the codec; then it compresses while the codec's throughput (input bytes "  \
    "per second of codec time, times CODEC_THREADS when above 1) is at least the link's rate "     \
    "(LINK_MBPS, else the device's speed) and the ratio at least 1.1, and sends bit-exact "        \
    "otherwise (pass_codec_slow); measured again every 4096 messages; an unknown link rate means " \
    "always. Use link where the device reports its true rate (a VM's virtual NIC may not: set "    \
    "LINK_MBPS). GPU buffers, coded on the GPU, are not gated.")                                   \
  X(kLayout, "LAYOUT", kString, "", 0, 0, "",                                                      \
    "The tables of a row of the all-to-all payloads, in row order: comma-separated "               \
    "WIDTH[*COUNT][@ROWS][=BOUND] (e.g. 128*8, or 64@1460,64@10000000=5e-3,32). Applied to a "     \
    "lossy send when every NCCL step of it starts at a row (the row's bytes divide 4 KiB): rel "   \
    "and abs bound each table on its own, local shares records among a row vector's blocks; "      \
    "local with tables of one width whose bytes divide 4 KiB: records per vector. Otherwise "      \
    "the smallest table bound applies to the frame. Empty: none (squeeze_set_layout sets one).")   \
  X(kTableClasses, "TABLE_CLASSES", kBool, "0", 0, 1, "",                                          \
    "With LAYOUT: a table without =BOUND gets the SC'24 paper's class by its @ROWS: >= 10^5 "      \
    "rows the bound, <= 10^3 rows 5x it, others (and unknown) 3x.")                                \
  X(kSchedule, "SCHEDULE", kEnum, "constant", 0, 0, "constant|step|linear",                        \
    "The bound over training iterations: step and linear start at SCHEDULE_START x the bound "     \
    "and come down to 1x at SCHEDULE_ITERS (step: in 10 equal steps, the paper's); constant: "     \
    "1x. The iteration: squeeze_set_iteration, else lossy bytes sent / SCHEDULE_BYTES.")           \
  X(kScheduleIters, "SCHEDULE_ITERS", kInt, "65536", 1, (int64_t{1} << 40), "",                    \
    "Iterations over which SCHEDULE comes down to 1x (the paper's early stage: 65,536).")          \
  X(kScheduleStart, "SCHEDULE_START", kFloat, "2", 1, 100, "",                                     \
    "The factor SCHEDULE starts at (the paper's EB_CONSTANT: 2).")                                 \
  X(kScheduleBytes, "SCHEDULE_BYTES", kInt, "0", 0, (int64_t{1} << 50), "",                        \
    "Lossy payload bytes this process sends per training iteration (forward and backward "         \
    "all-to-all): the schedule's iteration counts them when squeeze_set_iteration is not "         \
    "called. 0: only squeeze_set_iteration advances it.")                                          \
  X(kThreads, "THREADS", kInt, "auto", 0, 16, "auto",                                              \
    "Helper threads per connection that stripe the data sockets (the listener's value wins). "     \
    "0: no helpers, NCCL's proxy thread moves the bytes itself in isend/irecv/test (best with "    \
    "few cores). auto: 0 with 4 or fewer usable CPUs, else 2.")                                    \
  X(kSockets, "SOCKETS", kInt, "4", 1, 64, "",                                                     \
    "Data sockets per connection, plus one control socket (the listener's value wins).")           \
  X(kCodecThreads, "CODEC_THREADS", kInt, "auto", 0, 64, "auto",                                   \
    "Threads of the process-wide pool that compresses and decompresses host buffers. 0: NCCL's "   \
    "proxy thread runs the codec itself, in isend (compress) and test (decompress). auto: 0 "      \
    "with 4 or fewer usable CPUs, else 2.")                                                        \
  X(kStagingMb, "STAGING_MB", kInt, "16", 1, 4096, "",                                             \
    "Staging memory per connection (MiB), allocated at connect. A message whose frame does not "   \
    "fit passes through; a full staging area makes isend return no request (back-pressure). GPU "  \
    "buffers: as much pinned memory and device scratch, at the first registration; passthrough "   \
    "messages above half of it stream through a window of it.")                                    \
  X(kStats, "STATS", kBool, "1", 0, 1, "",                                                         \
    "Log per-connection statistics at close (INFO, subsystem NET).")                               \
  X(kStatsFile, "STATS_FILE", kString, "", 0, 0, "",                                               \
    "Append per-connection statistics as JSON lines to this file at close (empty: off).")          \
  X(kVerify, "VERIFY", kBool, "0", 0, 1, "",                                                       \
    "Diagnosis: the sender decodes every compressed host-buffer message again and measures its "   \
    "largest error against the bound (statistics: verified, max_err_over_bound). One more "        \
    "decode per message; GPU buffers are not checked.")                                            \
  X(kTimeoutS, "TIMEOUT_S", kInt, "300", 0, 86400, "",                                             \
    "A transfer in flight with no progress for this many seconds fails with an error (0: "         \
    "never). Also bounds, at 10 s at most, how long closeSend waits without progress for "         \
    "completed compressed sends to reach the peer.")                                               \
  X(kHandshakeTimeoutS, "HANDSHAKE_TIMEOUT_S", kInt, "30", 1, 3600, "",                            \
    "A connection whose handshake is not complete within this many seconds is dropped by the "     \
    "listener (a connector that stalls, dies or never opens all its sockets) and fails on the "    \
    "connecting side with an error naming the listener.")                                          \
  X(kTransport, "TRANSPORT", kEnum, "tcp", 0, 0, "tcp|inner",                                      \
    "What carries the frames. tcp: the plugin's own TCP transport (IFNAME, SOCKETS, "              \
    "THREADS). inner: an inner NCCL net plugin named by INNER (InfiniBand, EFA, ...), loaded "     \
    "by the plugin itself; NCCL sees its devices and properties (docs/TRANSPORT.md).")             \
  X(kInner, "INNER", kString, "", 0, 0, "",                                                        \
    "TRANSPORT=inner: the inner net plugin as NCCL_NET_PLUGIN names one: a path (with /), a "      \
    "file name lib*.so, or a name X for libnccl-net-X.so. Loaded with RTLD_LOCAL; its highest "    \
    "net table of v11..v8 is used.")                                                               \
  X(kInnerGdr, "INNER_GDR", kBool, "1", 0, 1, "",                                                  \
    "TRANSPORT=inner: 1 reports the inner plugin's GPU buffer support (NCCL_PTR_CUDA, "            \
    "GPUDirect RDMA) to NCCL; GPU buffers then pass through uncompressed, straight to the "        \
    "inner plugin. 0 reports host buffers only: NCCL stages through host memory and the "          \
    "plugin compresses. Set it alike on every node.")                                              \
  X(kIfname, "IFNAME", kString, "", 0, 0, "",                                                      \
    "Interfaces to use, NCCL_SOCKET_IFNAME syntax: comma-separated prefixes, ^ excludes, = "       \
    "exact. Empty: every interface that is up except loopback and docker*, loopback only if "      \
    "nothing else is up.")                                                                         \
  X(kConfig, "CONFIG", kString, "", 0, 0, "",                                                      \
    "TOML file with the same keys in lower case (optionally under [squeeze]); the environment "    \
    "overrides it. Environment only.")                                                             \
  X(kCpuBackend, "CPU_BACKEND", kEnum, "auto", 0, 0, "auto|scalar|avx2",                           \
    "Kernels of the host-buffer codec, for the whole process, applied at init and logged "         \
    "(codec backend ...). auto: the best this CPU and build run (avx2, else scalar). A "           \
    "backend that cannot run here makes init fail naming the ones that can. Inside the plugin "    \
    "it overrides libsqueeze's own SQUEEZE_CPU_BACKEND.")                                          \
  X(kLogStderr, "LOG_STDERR", kBool, "0", 0, 1, "",                                                \
    "Also print INFO lines to stderr when no NCCL logger is installed (unit tests, tools that "    \
    "load the plugin themselves); WARN lines always go there then. NCCL's logger ignores it.")

enum class ParamId : uint8_t {
#define SQZ_PARAM_ID(id, name, type, def, lo, hi, values, doc) id,
  SQUEEZE_PARAMS(SQZ_PARAM_ID)
#undef SQZ_PARAM_ID
      kCount
};
constexpr size_t kParamCount = static_cast<size_t>(ParamId::kCount);

struct ParamSpec {
  const char* name;  // suffix after NCCL_SQUEEZE_
  ParamType type;
  const char* default_text;
  double min;
  double max;
  const char* enum_values;  // '|'-separated
  const char* doc;
};

const ParamSpec& param_spec(ParamId id);

// kForced: set by the library whatever the file or environment says (the standalone TCP plugin).
enum class ValueSource : uint8_t { kDefault, kFile, kEnv, kForced };
const char* source_name(ValueSource s);

struct ParamValue {
  std::string text;  // as given (normalised for enums and bools)
  int64_t i = 0;     // kBool, kInt, kEnum (index into enum_values)
  double f = 0.0;    // kFloat
  ValueSource source = ValueSource::kDefault;
  int line = 0;  // kFile: the line of the file that set it
};

namespace detail {

constexpr ParamType kParamTypes[kParamCount] = {
#define SQZ_PARAM_TYPE(id, name, type, def, lo, hi, values, doc) ParamType::type,
    SQUEEZE_PARAMS(SQZ_PARAM_TYPE)
#undef SQZ_PARAM_TYPE
};

// The C++ type of each ParamType and how a ParamValue holds it.
template <ParamType T>
struct ParamAccess;
template <>
struct ParamAccess<ParamType::kBool> {
  using type = bool;
  static type read(const ParamValue& v) { return v.i != 0; }
};
template <>
struct ParamAccess<ParamType::kInt> {
  using type = int64_t;  // -1 for the word of "enum values" (e.g. auto)
  static type read(const ParamValue& v) { return v.i; }
};
template <>
struct ParamAccess<ParamType::kFloat> {
  using type = double;
  static type read(const ParamValue& v) { return v.f; }
};
template <>
struct ParamAccess<ParamType::kEnum> {
  using type = const std::string&;  // the value's word, lower case, one of "enum values"
  static type read(const ParamValue& v) { return v.text; }
};
template <>
struct ParamAccess<ParamType::kString> {
  using type = const std::string&;
  static type read(const ParamValue& v) { return v.text; }
};

}  // namespace detail

// The C++ type get<id>() returns for a parameter: bool, int64_t, double, or const std::string&
// (enums and strings), from the parameter's type in SQUEEZE_PARAMS.
template <ParamId id>
using ParamCppType =
    typename detail::ParamAccess<detail::kParamTypes[static_cast<size_t>(id)]>::type;

// The effective configuration, typed.
struct Settings {
  std::array<ParamValue, kParamCount> values;

  // The typed value of any parameter, e.g. get<ParamId::kBound>() (double),
  // get<ParamId::kCpuBackend>() ("auto", "scalar", ...). Its type comes from SQUEEZE_PARAMS, so a
  // new parameter is declared there and nowhere else.
  template <ParamId id>
  ParamCppType<id> get() const {
    return detail::ParamAccess<detail::kParamTypes[static_cast<size_t>(id)]>::read(
        values[static_cast<size_t>(id)]);
  }
  // The raw value: text as given, source, file line.
  const ParamValue& get(ParamId id) const { return values[static_cast<size_t>(id)]; }

  // Views in the plugin's own units and types (existing callers use these names); each reads
  // get<...>() above and adds nothing to the declaration of a parameter.
  bool enable() const { return get<ParamId::kEnable>(); }
  BoundMode mode() const {
    const std::string& m = get<ParamId::kMode>();
    return m == "abs" ? BoundMode::kAbs : m == "local" ? BoundMode::kLocal : BoundMode::kRel;
  }
  double bound() const { return get<ParamId::kBound>(); }
  const std::string& layout() const { return get<ParamId::kLayout>(); }
  bool table_classes() const { return get<ParamId::kTableClasses>(); }
  Schedule schedule() const {
    const std::string& v = get<ParamId::kSchedule>();
    return v == "step" ? Schedule::kStep : v == "linear" ? Schedule::kLinear : Schedule::kConstant;
  }
  uint64_t schedule_iters() const { return static_cast<uint64_t>(get<ParamId::kScheduleIters>()); }
  double schedule_start() const { return get<ParamId::kScheduleStart>(); }
  uint64_t schedule_bytes() const { return static_cast<uint64_t>(get<ParamId::kScheduleBytes>()); }
  uint64_t min_bytes() const { return static_cast<uint64_t>(get<ParamId::kMinBytes>()); }
  // DType::kBytes when no datatype is assumed.
  DType assume_dtype() const;
  enum class Entropy : uint8_t { kAuto, kOn, kOff };
  Entropy entropy() const {
    const std::string& v = get<ParamId::kEntropy>();
    return v == "on" ? Entropy::kOn : v == "off" ? Entropy::kOff : Entropy::kAuto;
  }
  enum class History : uint8_t { kAuto, kOn, kOff };
  History history() const {
    const std::string& v = get<ParamId::kHistory>();
    return v == "on" ? History::kOn : v == "off" ? History::kOff : History::kAuto;
  }
  // LOSSY_GATE=link: host-buffer lossy sends compress only while the CPU codec keeps up.
  bool lossy_gate() const { return get<ParamId::kLossyGate>() == "link"; }
  // LINK_MBPS as configured: -1 for "auto" (the device's speed).
  int64_t link_mbps() const { return get<ParamId::kLinkMbps>(); }
  // THREADS as configured: -1 for "auto" (resolve_thread_count gives the effective value).
  int threads() const { return static_cast<int>(get<ParamId::kThreads>()); }
  int sockets() const { return static_cast<int>(get<ParamId::kSockets>()); }
  // CODEC_THREADS as configured: -1 for "auto" (resolve_thread_count gives the effective value).
  int codec_threads() const { return static_cast<int>(get<ParamId::kCodecThreads>()); }
  uint64_t staging_bytes() const { return static_cast<uint64_t>(get<ParamId::kStagingMb>()) << 20; }
  bool stats() const { return get<ParamId::kStats>(); }
  const std::string& stats_file() const { return get<ParamId::kStatsFile>(); }
  bool verify() const { return get<ParamId::kVerify>(); }
  int timeout_s() const { return static_cast<int>(get<ParamId::kTimeoutS>()); }
  int handshake_timeout_s() const { return static_cast<int>(get<ParamId::kHandshakeTimeoutS>()); }
  const std::string& ifname() const { return get<ParamId::kIfname>(); }
  const std::string& policy() const { return get<ParamId::kPolicy>(); }
  const std::string& config_path() const { return get<ParamId::kConfig>(); }
  bool inner_transport() const { return get<ParamId::kTransport>() == "inner"; }
  const std::string& inner() const { return get<ParamId::kInner>(); }
  bool inner_gdr() const { return get<ParamId::kInnerGdr>(); }
};

// Returns the value of an environment variable, or NULL.
using EnvLookup = std::function<const char*(const char* name)>;

// Builds the settings from the environment (and the TOML file it names). On a bad value returns
// false and sets *error to a message naming the variable (or file:line) and what is allowed.
bool load_settings(const EnvLookup& env, Settings* out, std::string* error);

// The plugin's init: load_settings() from the process environment, then
// apply_process_settings() (the CPU backend and stderr logging are process-wide).
bool load_settings_from_environment(Settings* out, std::string* error);

// Applies the parameters that act on the whole process, not on one connection: CPU_BACKEND
// through libsqueeze's cpu::select_backend() (so that inside the plugin it wins over
// SQUEEZE_CPU_BACKEND), logged at INFO, and LOG_STDERR. Returns false with *error when the
// backend cannot run here (load_settings() already refuses such a value).
bool apply_process_settings(const Settings& s, std::string* error);

// The value of one parameter from the process environment alone (no file), for code that runs
// before init (log.cc's LOG_STDERR). False when the variable is unset or invalid.
bool param_from_environment(ParamId id, ParamValue* out);

// Whether INFO lines go to stderr when no NCCL logger is installed (defined in log.cc; before the
// first call, log.cc reads NCCL_SQUEEZE_LOG_STDERR through param_from_environment).
void set_log_stderr(bool on);

// The name of the CPU backend `name` ("auto", "scalar", "avx2") resolves to on this
// machine and build, or NULL when that backend cannot run here.
const char* cpu_backend_if_available(const std::string& name);
// The backends that can run here, e.g. "scalar, avx2".
std::string available_cpu_backends();

// The effective value of THREADS or CODEC_THREADS: as configured, or for "auto" (-1) 0 when the
// process may use 4 or fewer CPUs (NCCL's proxy thread moves the bytes and runs the codec), else
// 2. With few cores, hand-offs to helper and codec threads cost more than those threads gain
// (docs/PERFORMANCE.md).
int resolve_thread_count(int configured, int usable_cpus);
int usable_cpu_count();

// One line per parameter, "NCCL_SQUEEZE_X=value (source)", for the init log.
std::string describe_settings(const Settings& s);

// The Markdown table of docs/CONFIG.md, generated from SQUEEZE_PARAMS.
std::string config_markdown_table();

}  // namespace squeeze::plugin
