// Per-connection statistics: what NCCL handed us, what went on the wire, what the codec did and
// why each message was or was not compressed. Updated with relaxed atomics on the data path;
// logged at close and, with NCCL_SQUEEZE_STATS_FILE, appended there as one JSON line.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace squeeze::plugin {

// Why a message went the way it did (one counter each).
enum class Decision : uint8_t {
  kLossy = 0,
  kPassDisabled,    // NCCL_SQUEEZE_ENABLE=0
  kPassNotSimple,   // LL / LL128 buffer, or a buffer whose protocol is unknown
  kPassTooSmall,    // below NCCL_SQUEEZE_MIN_BYTES
  kPassNotP2p,      // collective (or unknown) traffic that no policy rule opts in
  kPassNoDtype,     // no float datatype known or assumed (uint8 is "Unknown" to NCCL's profiler)
  kPassTooLarge,    // frame would not fit in the staging memory
  kPassBySender,    // receive side: the sender passed the message through
  kPassInteger,     // the profiler says int8/int32/uint32/int64/uint64
  kPassOtherDtype,  // the profiler says float64 or fp8
  kPassPolicyOff,   // a policy rule turned this operation/datatype off
  kPassPxn,         // the op was built by another process (PXN): its task is not visible here
  kPassUnresolved,  // profiler path, but the send's task could not be resolved
  kLossless,        // compressed bit for bit (the lossless method)
  kPassNotPaying,   // lossless "auto": the coder is slower than the link, or the ratio too low
  kPassNoLossless,  // lossless wanted, but the receiver does not decode it, or a GPU buffer
  kPassCodecSlow,   // LOSSY_GATE=link: the CPU codec is slower than the link
  kCount
};
const char* decision_name(Decision d);
// Whether a decision runs the codec on the message (lossy or lossless).
inline bool compresses(Decision d) {
  return d == Decision::kLossy || d == Decision::kLossless;
}

// Datatype slots of ConnStats::dtypes: NCCL's ncclDataType_t + 1, slot 0 = unknown.
constexpr int kDtypeSlots = 13;
const char* dtype_slot_name(int slot);
// How the sends' traffic was learnt (TrafficPath in classify.h): slot 0 = profiler chain,
// 1 = fallback (hints and NCCL_SQUEEZE_ASSUME_DTYPE).
constexpr int kPathSlots = 2;

struct ConnStats {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> bytes_in{0};    // uncompressed bytes (sent by NCCL / delivered to NCCL)
  std::atomic<uint64_t> bytes_wire{0};  // payload bytes on the data sockets
  std::atomic<uint64_t> codec_ns{0};    // time spent in compress / decompress
  std::atomic<uint64_t> outliers{0};
  std::atomic<uint64_t> decisions[static_cast<int>(Decision::kCount)] = {};
  std::atomic<uint64_t> dtypes[kDtypeSlots] = {};  // send side: datatype per message
  std::atomic<uint64_t> paths[kPathSlots] = {};    // send side: profiler / fallback
  std::atomic<uint64_t> max_bound_bits{0};  // bit pattern of the largest applied bound (double)
  // NCCL_SQUEEZE_VERIFY (send side, host buffers): messages whose frame was decoded again, and
  // the largest error found against its bound (bit pattern of a double).
  std::atomic<uint64_t> verified{0};
  std::atomic<uint64_t> max_err_over_bound_bits{0};
  // Send side, a connection with a stream history (HISTORY): its lossy frames that could refer
  // to it, and those sent without it.
  std::atomic<uint64_t> history_frames{0};
  std::atomic<uint64_t> history_off_frames{0};

  void note_bound(double bound);
  double max_bound() const;
  void note_err_over_bound(double r);  // counts one verified message
  double max_err_over_bound() const;
};

// Identity of a connection for the logs.
struct ConnLabel {
  const char* direction;  // "send" or "recv"
  uint64_t id;            // process-unique connection id
  std::string peer;       // ip:port
  int tag;                // last tag seen (NCCL: the sender's rank), -1 before any
};

// One JSON object (no newline).
std::string stats_json(const ConnLabel& label, const ConnStats& s);
// One human-readable line.
std::string stats_line(const ConnLabel& label, const ConnStats& s);

// Appends line + '\n' to path (O_APPEND, one write, so concurrent writers do not interleave).
bool append_json_line(const std::string& path, const std::string& line);

// What a closing connection reports, whatever its transport: its line in NCCL's INFO log (when
// log_stats) and its JSON object appended to stats_file (when not empty; a failure is a WARN).
void report_closed(const ConnLabel& label, const ConnStats& s, bool log_stats,
                   const std::string& stats_file);

}  // namespace squeeze::plugin
