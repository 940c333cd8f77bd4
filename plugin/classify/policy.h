// Which traffic is compressed, and with which error bound: one cell per (operation, float
// datatype). Built-in default: the three float types of point-to-point / all-to-all traffic are
// compressed with MODE/BOUND, every collective is bit-exact. NCCL_SQUEEZE_POLICY (and, at run
// time, squeeze_set_policy) changes cells with a rule list:
//
//   rules  := rule ("," rule)*          (empty: no rules; spaces around tokens are ignored)
//   rule   := op "." dtype "=" action   (later rules override earlier ones)
//   op     := p2p | broadcast | reduce | allgather | reducescatter | allreduce | coll | "*"
//   dtype  := f32 | f16 | bf16 | "*"
//   action := on | off | rel:<bound> | abs:<bound> | local:<bound>   (bound in (0, 1e6])
//
// p2p covers Send, Recv, SendRecv and everything NCCL builds from them (AlltoAll, Scatter,
// Gather); coll is every collective; "*" every operation or every float type. Integer, uint8,
// float64 and fp8 payloads are never compressed, whatever the rules say.
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
constexpr int kPolicyDtypes = 3;  // f32, f16, bf16 (column = DType value - 1)

const char* policy_op_name(PolicyOp op);

struct PolicyCell {
  bool on = false;
  bool from_rule = false;     // set by a rule (an explicit "off" is reported as pass_policy_off)
  bool custom_bound = false;  // false: MODE/BOUND of the configuration
  BoundMode mode = BoundMode::kLocal;
  double bound = 0.0;
};

struct PolicyTable {
  PolicyCell cells[kPolicyOps][kPolicyDtypes];

  PolicyTable();  // the built-in default
  // dtype: kF32, kF16 or kBF16.
  const PolicyCell& at(PolicyOp op, DType dtype) const {
    return cells[static_cast<int>(op)][static_cast<int>(dtype) - 1];
  }
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
