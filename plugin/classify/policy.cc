#include "plugin/classify/policy.h"

#include <algorithm>
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
const char* const kDtypeNames[kPolicyDtypes] = {"f32", "f16", "bf16", "i8", "u8",
                                                "i32", "u32", "i64",  "u64"};
constexpr int kFloatColumns = 3;  // columns 0-2: the float types

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

// A cell of the lossless method: always, or while it pays (auto).
PolicyCell lossless_cell(bool automatic, bool from_rule) {
  PolicyCell c;
  c.on = true;
  c.from_rule = from_rule;
  c.custom_bound = true;
  c.mode = BoundMode::kLossless;
  c.auto_lossless = automatic;
  return c;
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
  const bool all_dtypes = dtype == "*";
  if (all_dtypes) {
    for (bool& d : dtypes) d = true;
  } else {
    int found = -1;
    for (int k = 0; k < kPolicyDtypes; ++k) {
      if (dtype == kDtypeNames[k]) found = k;
    }
    if (found < 0) {
      return "unknown datatype '" + dtype +
             "' (allowed: f32, f16, bf16, i8, u8, i32, u32, i64, u64, *; float64 and fp8 payloads "
             "are never compressed)";
    }
    dtypes[found] = true;
  }

  PolicyCell cell;
  cell.from_rule = true;
  bool lossy = false;  // applies to float types only
  if (action == "on") {
    cell.on = true;
    lossy = true;
  } else if (action == "off") {
    cell.on = false;
  } else if (action == "lossless" || action == "auto") {
    cell = lossless_cell(action == "auto", true);
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
    lossy = true;
  } else {
    return "unknown action '" + action +
           "' (allowed: on, off, lossless, auto, rel:<bound>, abs:<bound>, local:<bound>)";
  }
  // Integers are never lossy: "on" means auto for them, "*" with "on" or a lossy action covers
  // the float types only, and a lossy action naming an integer type is refused.
  const PolicyCell auto_cell = lossless_cell(true, true);
  for (int d = 0; d < kPolicyDtypes; ++d) {
    if (!dtypes[d]) continue;
    const PolicyCell* c = &cell;
    if (lossy && d >= kFloatColumns) {
      if (all_dtypes) continue;
      if (action != "on") {
        return "integers are compressed only losslessly (actions on, off, lossless, auto)";
      }
      c = &auto_cell;
    }
    for (int o = 0; o < kPolicyOps; ++o)
      if (ops[o]) table->cells[o][d] = *c;
  }
  return "";
}

struct Store {
  std::mutex mu;
  PolicyTable configured;
  std::string configured_text;
  BoundMode mode = BoundMode::kLocal;
  double bound = kPluginDefaultBound;
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
  PolicyCell* p2p = cells[static_cast<int>(PolicyOp::kP2p)];
  for (int d = 0; d < kFloatColumns; ++d) p2p[d].on = true;
  // Integers: lossless while it pays.
  for (int d = kFloatColumns; d < kPolicyDtypes; ++d) p2p[d] = lossless_cell(true, false);
}

CoderGauge::Verdict CoderGauge::next(int d, double link_bytes_per_s, bool unknown_pays,
                                     double parallel) {
  Column& c = cols_[d];
  Verdict v;
  if (c.decided && ++c.since >= kRecheckMessages) c = Column{};  // measure again
  if (!c.decided) {
    if (c.probes_sent < kProbeMessages) {
      ++c.probes_sent;
      v.compress = true;
      return v;
    }
    if (c.probes_done < kProbeMessages) {
      v.compress = true;  // the measurements are still running: keep compressing until a verdict
      return v;
    }
    std::sort(c.rate, c.rate + kProbeMessages);
    const double median = 0.5 * (c.rate[kProbeMessages / 2 - 1] + c.rate[kProbeMessages / 2]);
    c.last_rate = median * (parallel > 1.0 ? parallel : 1.0);
    c.last_ratio = c.out > 0 ? (double)c.in / (double)c.out : 0.0;
    c.pays = link_bytes_per_s > 0 ? c.last_rate >= link_bytes_per_s && c.last_ratio >= kMinRatio
                                  : unknown_pays;
    c.decided = true;
    c.since = 0;
    v.decided_now = true;
  }
  v.compress = c.pays;
  return v;
}

void CoderGauge::record(int d, uint64_t in, uint64_t out, uint64_t ns) {
  Column& c = cols_[d];
  if (c.decided || c.probes_done >= kProbeMessages) return;
  // A probe timed at 0 ns (a clock too coarse for it) counts as infinitely fast.
  c.rate[c.probes_done++] = ns > 0 ? (double)in / ((double)ns * 1e-9) : HUGE_VAL;
  c.in += in;
  c.out += out;
}

void CoderGauge::measured(int d, double* bytes_per_s, double* ratio) const {
  *bytes_per_s = cols_[d].last_rate;
  *ratio = cols_[d].last_ratio;
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
  std::string out, lossless;
  for (int o = 0; o < kPolicyOps; ++o) {
    for (int d = 0; d < kPolicyDtypes; ++d) {
      const PolicyCell& c = table.cells[o][d];
      if (!c.on) continue;
      BoundMode m = c.custom_bound ? c.mode : mode;
      double b = c.custom_bound ? c.bound : bound;
      std::string& list = m == BoundMode::kLossless ? lossless : out;
      if (!list.empty()) list += ", ";
      list += std::string(kOpNames[o]) + "." + kDtypeNames[d];
      if (m == BoundMode::kLossless) {
        list += c.auto_lossless ? "=auto" : "=lossless";
        continue;
      }
      list += std::string("=") +
              (m == BoundMode::kRel   ? "rel:"
               : m == BoundMode::kAbs ? "abs:"
                                      : "local:") +
              format_bound(b);
    }
  }
  std::string text = out.empty() ? "nothing lossy" : "lossy " + out;
  if (!lossless.empty()) text += "; lossless " + lossless;
  return text + "; everything else bit-exact";
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
