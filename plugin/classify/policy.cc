#include "plugin/classify/policy.h"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace squeeze::plugin {
namespace {

constexpr double kMaxBound = 1e6;  // as NCCL_SQUEEZE_BOUND

const char* const kOpNames[kPolicyOps] = {"p2p",       "broadcast",     "reduce",
                                          "allgather", "reducescatter", "allreduce"};
const char* const kDtypeNames[kPolicyDtypes] = {"f32", "f16", "bf16"};

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string format_bound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// Parses one "op.dtype=action" rule into *table. Returns an empty string or what is wrong.
std::string apply_rule(const std::string& rule, PolicyTable* table) {
  size_t eq = rule.find('=');
  if (eq == std::string::npos) return "expected op.dtype=action";
  std::string lhs = lower(trim(rule.substr(0, eq)));
  std::string action = lower(trim(rule.substr(eq + 1)));
  size_t dot = lhs.find('.');
  if (dot == std::string::npos) return "expected op.dtype before '=' (e.g. p2p.f32)";
  std::string op = trim(lhs.substr(0, dot));
  std::string dtype = trim(lhs.substr(dot + 1));

  bool ops[kPolicyOps] = {};
  if (op == "*") {
    for (bool& o : ops) o = true;
  } else if (op == "coll") {
    for (int k = 1; k < kPolicyOps; ++k) ops[k] = true;
  } else {
    int found = -1;
    for (int k = 0; k < kPolicyOps; ++k) {
      if (op == kOpNames[k]) found = k;
    }
    if (found < 0) {
      return "unknown operation '" + op +
             "' (allowed: p2p, broadcast, reduce, allgather, reducescatter, allreduce, coll, *)";
    }
    ops[found] = true;
  }

  bool dtypes[kPolicyDtypes] = {};
  if (dtype == "*") {
    for (bool& d : dtypes) d = true;
  } else {
    int found = -1;
    for (int k = 0; k < kPolicyDtypes; ++k) {
      if (dtype == kDtypeNames[k]) found = k;
    }
    if (found < 0) {
      return "unknown datatype '" + dtype +
             "' (allowed: f32, f16, bf16, *; integer, uint8, float64 and fp8 payloads are never "
             "compressed)";
    }
    dtypes[found] = true;
  }

  PolicyCell cell;
  cell.from_rule = true;
  if (action == "on") {
    cell.on = true;
  } else if (action == "off") {
    cell.on = false;
  } else if (action.rfind("rel:", 0) == 0 || action.rfind("abs:", 0) == 0 ||
             action.rfind("local:", 0) == 0) {
    const size_t colon = action.find(':');
    std::string num = trim(action.substr(colon + 1));
    errno = 0;
    char* end = nullptr;
    double v = num.empty() ? 0.0 : std::strtod(num.c_str(), &end);
    if (num.empty() || errno != 0 || end == num.c_str() || *end != '\0' || !std::isfinite(v) ||
        !(v > 0.0) || v > kMaxBound) {
      return "bound '" + num + "' is not a number in (0, 1e6]";
    }
    cell.on = true;
    cell.custom_bound = true;
    cell.mode = action[0] == 'r'   ? BoundMode::kRel
                : action[0] == 'a' ? BoundMode::kAbs
                                   : BoundMode::kLocal;
    cell.bound = v;
  } else {
    return "unknown action '" + action +
           "' (allowed: on, off, rel:<bound>, abs:<bound>, local:<bound>)";
  }
  for (int o = 0; o < kPolicyOps; ++o) {
    for (int d = 0; d < kPolicyDtypes; ++d) {
      if (ops[o] && dtypes[d]) table->cells[o][d] = cell;
    }
  }
  return "";
}

struct Store {
  std::mutex mu;
  PolicyTable configured;
  std::string configured_text;
  BoundMode mode = BoundMode::kLocal;
  double bound = kInt8MatchingLocalBound;
  bool has_override = false;
  PolicyTable override_table;
  std::string override_text;
  std::atomic<uint64_t> generation{1};
};

Store& store() {
  static Store s;
  return s;
}

}  // namespace

const char* policy_op_name(PolicyOp op) {
  int k = static_cast<int>(op);
  return k >= 0 && k < kPolicyOps ? kOpNames[k] : "?";
}

PolicyTable::PolicyTable() {
  for (int d = 0; d < kPolicyDtypes; ++d) cells[static_cast<int>(PolicyOp::kP2p)][d].on = true;
}

bool parse_policy_rules(const std::string& rules, PolicyTable* out, std::string* error) {
  PolicyTable table;
  if (!trim(rules).empty()) {
    size_t start = 0;
    for (int index = 1;; ++index) {
      size_t comma = rules.find(',', start);
      std::string rule =
          trim(rules.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      std::string why = rule.empty() ? "empty rule" : apply_rule(rule, &table);
      if (!why.empty()) {
        *error = "rule " + std::to_string(index) + " '" + rule + "': " + why;
        return false;
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  *out = table;
  return true;
}

std::string describe_policy(const PolicyTable& table, BoundMode mode, double bound) {
  std::string out;
  for (int o = 0; o < kPolicyOps; ++o) {
    for (int d = 0; d < kPolicyDtypes; ++d) {
      const PolicyCell& c = table.cells[o][d];
      if (!c.on) continue;
      BoundMode m = c.custom_bound ? c.mode : mode;
      double b = c.custom_bound ? c.bound : bound;
      if (!out.empty()) out += ", ";
      out += std::string(kOpNames[o]) + "." + kDtypeNames[d] + "=" +
             (m == BoundMode::kRel   ? "rel:"
              : m == BoundMode::kAbs ? "abs:"
                                     : "local:") +
             format_bound(b);
    }
  }
  if (out.empty()) return "nothing lossy: every message bit-exact";
  return "lossy " + out + "; everything else bit-exact";
}

void install_configured_policy(const PolicyTable& table, const std::string& text, BoundMode mode,
                               double bound) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  s.configured = table;
  s.configured_text = text;
  s.mode = mode;
  s.bound = bound;
  s.generation.fetch_add(1, std::memory_order_release);
}

bool set_policy_override(const char* rules, std::string* error) {
  Store& s = store();
  if (rules == nullptr) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.has_override = false;
    s.override_text.clear();
    s.generation.fetch_add(1, std::memory_order_release);
    return true;
  }
  PolicyTable table;
  if (!parse_policy_rules(rules, &table, error)) return false;
  std::lock_guard<std::mutex> lock(s.mu);
  s.has_override = true;
  s.override_table = table;
  s.override_text = rules;
  s.generation.fetch_add(1, std::memory_order_release);
  return true;
}

uint64_t policy_generation() {
  return store().generation.load(std::memory_order_acquire);
}

void policy_snapshot(PolicyTable* out, uint64_t* generation) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  *out = s.has_override ? s.override_table : s.configured;
  *generation = s.generation.load(std::memory_order_relaxed);
}

std::string policy_text(bool* is_override) {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  if (is_override != nullptr) *is_override = s.has_override;
  return s.has_override ? s.override_text : s.configured_text;
}

std::string describe_current_policy() {
  Store& s = store();
  std::lock_guard<std::mutex> lock(s.mu);
  return describe_policy(s.has_override ? s.override_table : s.configured, s.mode, s.bound);
}

}  // namespace squeeze::plugin
