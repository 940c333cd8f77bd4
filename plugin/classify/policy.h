// Which traffic is compressed, and how: one cell per (operation, datatype). Built-in default: the
// three float types of point-to-point / all-to-all traffic are compressed with MODE/BOUND, their
// integer types losslessly when that pays (auto, below), every collective is bit-exact.
// NCCL_SQUEEZE_POLICY (and, at run time, squeeze_set_policy) changes cells with a rule list:
//
//   rules  := rule ("," rule)*          (empty: no rules; spaces around tokens are ignored)
//   rule   := op "." dtype "=" action   (later rules override earlier ones)
//   op     := p2p | broadcast | reduce | allgather | reducescatter | allreduce | coll | "*"
//   dtype  := f32 | f16 | bf16 | i8 | u8 | i32 | u32 | i64 | u64 | "*"
//   action := on | off | lossless | auto | rel:<bound> | abs:<bound> | local:<bound>
//             (bound in (0, 1e6])
//
// p2p covers Send, Recv, SendRecv and everything NCCL builds from them (AlltoAll, Scatter,
// Gather); coll is every collective; "*" every operation, or every datatype (lossy actions and
// "on" apply to its float types only). lossless: every message bit for bit through the lossless
// method; auto: lossless while it pays on this connection (the rule of CoderGauge); "on" for
// an integer type means auto. Integers are never compressed lossily; float64 and fp8 never at
// all.
#pragma once

#include <cstdint>
#include <string>

#include "squeeze/codec.h"

namespace squeeze::plugin {

enum class PolicyOp : uint8_t {
  kP2p = 0,
  kBroadcast,
  kReduce,
  kAllGather,
  kReduceScatter,
  kAllReduce,
  kCount
};
constexpr int kPolicyOps = static_cast<int>(PolicyOp::kCount);
constexpr int kPolicyDtypes = 9;  // f32, f16, bf16, i8, u8, i32, u32, i64, u64 (DType value - 1)

const char* policy_op_name(PolicyOp op);

struct PolicyCell {
  bool on = false;
  bool from_rule = false;     // set by a rule (an explicit "off" is reported as pass_policy_off)
  bool custom_bound = false;  // false: MODE/BOUND of the configuration
  BoundMode mode = BoundMode::kLocal;
  double bound = 0.0;
  bool auto_lossless = false;  // mode kLossless only while it pays (CoderGauge)
};

struct PolicyTable {
  PolicyCell cells[kPolicyOps][kPolicyDtypes];

  PolicyTable();  // the built-in default
  // dtype: any but kBytes.
  const PolicyCell& at(PolicyOp op, DType dtype) const {
    return cells[static_cast<int>(op)][static_cast<int>(dtype) - 1];
  }
};

// Whether a CPU coder pays on a connection, per datatype: the rule of lossless "auto" cells and
// of LOSSY_GATE=link. The first kProbeMessages messages are compressed, measuring the coder's
// throughput (the median of their input bytes per second of codec time: a process's first
// compression, which allocates the codec's buffers, took 8-11x the time of the next ones on 512
// KiB and 6-7x on 2 MiB, squeeze-first-call; in a sum over 8 probes it halved the rate) and ratio
// (messages sent before those measurements are in are compressed too); then a message is
// compressed while the rate, times the coder's parallelism, is at least the link's rate
// (NCCL_SQUEEZE_LINK_MBPS, else the device's speed) and the ratio at least kMinRatio, since a
// pipelined coder slower than the link is what limits the transfer. An unknown link rate means
// never for the lossless rule (bit-exact passthrough costs nothing) and always for the lossy one
// (its cells asked for compression). The measurement starts again every kRecheckMessages messages
// (data and load change).
class CoderGauge {
 public:
  static constexpr int kProbeMessages = 8;
  static constexpr uint64_t kRecheckMessages = 4096;
  static constexpr double kMinRatio = 1.1;
  struct Verdict {
    bool compress = false;
    bool decided_now = false;  // the verdict of a measurement just completed (worth a log line)
  };
  // Whether to compress the next message of column d; link_bytes_per_s <= 0: unknown, which
  // pays when unknown_pays. parallel: coder threads that share the work (>= 1).
  Verdict next(int d, double link_bytes_per_s, bool unknown_pays = false, double parallel = 1.0);
  // A compressed message of column d: its sizes and codec time.
  void record(int d, uint64_t in, uint64_t out, uint64_t ns);
  // The last measurement of column d (for the log): input bytes per second and ratio.
  void measured(int d, double* bytes_per_s, double* ratio) const;

 private:
  struct Column {
    int probes_sent = 0;
    int probes_done = 0;
    uint64_t in = 0, out = 0;
    double rate[kProbeMessages] = {};  // each probe's input bytes per second
    bool decided = false;
    bool pays = false;
    uint64_t since = 0;
    double last_rate = 0, last_ratio = 0;
  };
  Column cols_[kPolicyDtypes];
};

// Applies `rules` on top of the built-in default. On a bad rule returns false and sets *error to
// a message naming the rule (position and text) and what is allowed.
bool parse_policy_rules(const std::string& rules, PolicyTable* out, std::string* error);

// "p2p.f32=rel:0.001, ...; everything else bit-exact", with the configuration's MODE/BOUND
// filled in where a cell has no bound of its own.
std::string describe_policy(const PolicyTable& table, BoundMode mode, double bound);

// The process-wide rules every connection classifies with. The configured rules
// (NCCL_SQUEEZE_POLICY) are installed at the start of each init cycle; a run-time override
// (squeeze_set_policy) wins over them until cleared. Thread-safe.
// mode/bound: the configuration's MODE/BOUND, for describe_current_policy.
void install_configured_policy(const PolicyTable& table, const std::string& text, BoundMode mode,
                               double bound);
// rules == NULL clears the override (back to the configured rules). Returns false (and *error)
// on a bad rule list, leaving the rules in force unchanged.
bool set_policy_override(const char* rules, std::string* error);
// Changes whenever the effective rules change; a connection re-reads them when it differs.
uint64_t policy_generation();
void policy_snapshot(PolicyTable* out, uint64_t* generation);
// The effective rule list as text (the override's, else the configured one), and its source.
std::string policy_text(bool* is_override);
// describe_policy of the rules in force.
std::string describe_current_policy();

}  // namespace squeeze::plugin
