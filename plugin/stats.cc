#include "plugin/stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "plugin/log.h"

namespace squeeze::plugin {

const char* decision_name(Decision d) {
  switch (d) {
    case Decision::kLossy:
      return "lossy";
    case Decision::kPassDisabled:
      return "pass_disabled";
    case Decision::kPassNotSimple:
      return "pass_not_simple";
    case Decision::kPassTooSmall:
      return "pass_too_small";
    case Decision::kPassNotP2p:
      return "pass_not_p2p";
    case Decision::kPassNoDtype:
      return "pass_no_dtype";
    case Decision::kPassTooLarge:
      return "pass_too_large";
    case Decision::kPassBySender:
      return "pass_by_sender";
    case Decision::kPassInteger:
      return "pass_integer";
    case Decision::kPassOtherDtype:
      return "pass_other_dtype";
    case Decision::kPassPolicyOff:
      return "pass_policy_off";
    case Decision::kPassPxn:
      return "pass_pxn";
    case Decision::kPassUnresolved:
      return "pass_unresolved";
    case Decision::kLossless:
      return "lossless";
    case Decision::kPassNotPaying:
      return "pass_not_paying";
    case Decision::kPassNoLossless:
      return "pass_no_lossless";
    case Decision::kPassCodecSlow:
      return "pass_codec_slow";
    case Decision::kCount:
      break;
  }
  return "?";
}

const char* dtype_slot_name(int slot) {
  static const char* const kNames[kDtypeSlots] = {"unknown", "int8",   "uint8", "int32", "uint32",
                                                  "int64",   "uint64", "f16",   "f32",   "f64",
                                                  "bf16",    "f8e4m3", "f8e5m2"};
  return slot >= 0 && slot < kDtypeSlots ? kNames[slot] : "?";
}

namespace {

// Raises *slot (the bit pattern of a non-negative double) to v; non-negative doubles order like
// their bit patterns.
void raise_max(std::atomic<uint64_t>* slot, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  uint64_t cur = slot->load(std::memory_order_relaxed);
  while (v >= 0 && bits > cur &&
         !slot->compare_exchange_weak(cur, bits, std::memory_order_relaxed)) {
  }
}

double load_double(const std::atomic<uint64_t>& slot) {
  uint64_t bits = slot.load(std::memory_order_relaxed);
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

}  // namespace

void ConnStats::note_bound(double bound) {
  raise_max(&max_bound_bits, bound);
}

double ConnStats::max_bound() const {
  return load_double(max_bound_bits);
}

void ConnStats::note_err_over_bound(double r) {
  verified.fetch_add(1, std::memory_order_relaxed);
  raise_max(&max_err_over_bound_bits, r);
}

double ConnStats::max_err_over_bound() const {
  return load_double(max_err_over_bound_bits);
}

namespace {

double ratio(const ConnStats& s) {
  uint64_t wire = s.bytes_wire.load(std::memory_order_relaxed);
  uint64_t in = s.bytes_in.load(std::memory_order_relaxed);
  return wire == 0 ? 1.0 : static_cast<double>(in) / static_cast<double>(wire);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string stats_json(const ConnLabel& label, const ConnStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"conn\":%llu,\"dir\":\"%s\",\"peer\":\"%s\",\"tag\":%d,\"messages\":%llu,"
                "\"bytes_in\":%llu,\"bytes_wire\":%llu,\"ratio\":%.4f,\"max_bound\":%.6g,"
                "\"codec_ms\":%.3f,\"outliers\":%llu,\"decisions\":{",
                static_cast<unsigned long long>(label.id), label.direction,
                json_escape(label.peer).c_str(), label.tag,
                static_cast<unsigned long long>(s.messages.load()),
                static_cast<unsigned long long>(s.bytes_in.load()),
                static_cast<unsigned long long>(s.bytes_wire.load()), ratio(s), s.max_bound(),
                static_cast<double>(s.codec_ns.load()) / 1e6,
                static_cast<unsigned long long>(s.outliers.load()));
  std::string out = buf;
  for (int d = 0; d < static_cast<int>(Decision::kCount); ++d) {
    std::snprintf(buf, sizeof(buf), "%s\"%s\":%llu", d ? "," : "",
                  decision_name(static_cast<Decision>(d)),
                  static_cast<unsigned long long>(s.decisions[d].load()));
    out += buf;
  }
  // Datatypes seen (non-zero only) and how the traffic was learnt; the receive side learns
  // nothing of either (the sender decides).
  out += "},\"dtypes\":{";
  bool first = true;
  for (int k = 0; k < kDtypeSlots; ++k) {
    uint64_t n = s.dtypes[k].load();
    if (n == 0) continue;
    std::snprintf(buf, sizeof(buf), "%s\"%s\":%llu", first ? "" : ",", dtype_slot_name(k),
                  static_cast<unsigned long long>(n));
    out += buf;
    first = false;
  }
  std::snprintf(buf, sizeof(buf), "},\"traffic_info\":{\"profiler\":%llu,\"fallback\":%llu}",
                static_cast<unsigned long long>(s.paths[0].load()),
                static_cast<unsigned long long>(s.paths[1].load()));
  out += buf;
  // NCCL_SQUEEZE_VERIFY: the error measured against the bound (only when something was checked).
  if (const uint64_t v = s.verified.load()) {
    std::snprintf(buf, sizeof(buf), ",\"verified\":%llu,\"max_err_over_bound\":%.6g",
                  static_cast<unsigned long long>(v), s.max_err_over_bound());
    out += buf;
  }
  // HISTORY: the frames of a connection with a stream history, with it and without it.
  const uint64_t with = s.history_frames.load(), without = s.history_off_frames.load();
  if (with + without > 0) {
    std::snprintf(buf, sizeof(buf), ",\"history\":{\"with\":%llu,\"without\":%llu}",
                  static_cast<unsigned long long>(with), static_cast<unsigned long long>(without));
    out += buf;
  }
  out += "}";
  return out;
}

std::string stats_line(const ConnLabel& label, const ConnStats& s) {
  char buf[512];
  uint64_t lossy = s.decisions[static_cast<int>(Decision::kLossy)].load();
  const uint64_t lossless = s.decisions[static_cast<int>(Decision::kLossless)].load();
  uint64_t pass = 0;
  for (int d = 1; d < static_cast<int>(Decision::kCount); ++d) pass += s.decisions[d].load();
  pass -= lossless;
  std::snprintf(buf, sizeof(buf),
                "%s conn %llu peer %s rank %d: %llu messages, %llu bytes in, %llu on the wire "
                "(ratio %.3f), max bound %.3g, codec %.3f ms, %llu lossy / %llu passthrough",
                label.direction, static_cast<unsigned long long>(label.id), label.peer.c_str(),
                label.tag, static_cast<unsigned long long>(s.messages.load()),
                static_cast<unsigned long long>(s.bytes_in.load()),
                static_cast<unsigned long long>(s.bytes_wire.load()), ratio(s), s.max_bound(),
                static_cast<double>(s.codec_ns.load()) / 1e6,
                static_cast<unsigned long long>(lossy), static_cast<unsigned long long>(pass));
  std::string out = buf;
  if (lossless > 0) out += " / " + std::to_string(lossless) + " lossless";
  // Why (non-zero reasons), what (datatypes) and how it was learnt, for the close log.
  std::string why;
  for (int d = 0; d < static_cast<int>(Decision::kCount); ++d) {
    uint64_t n = s.decisions[d].load();
    if (n == 0) continue;
    std::snprintf(buf, sizeof(buf), "%s%s %llu", why.empty() ? "" : ", ",
                  decision_name(static_cast<Decision>(d)), static_cast<unsigned long long>(n));
    why += buf;
  }
  if (!why.empty()) out += " (" + why + ")";
  std::string what;
  for (int k = 0; k < kDtypeSlots; ++k) {
    uint64_t n = s.dtypes[k].load();
    if (n == 0) continue;
    std::snprintf(buf, sizeof(buf), "%s%s %llu", what.empty() ? "" : ", ", dtype_slot_name(k),
                  static_cast<unsigned long long>(n));
    what += buf;
  }
  if (!what.empty()) out += ", datatypes: " + what;
  if (const uint64_t v = s.verified.load()) {
    std::snprintf(buf, sizeof(buf), ", max error / bound %.3g (%llu verified)",
                  s.max_err_over_bound(), static_cast<unsigned long long>(v));
    out += buf;
  }
  uint64_t prof = s.paths[0].load(), fb = s.paths[1].load();
  if (prof + fb > 0) {
    std::snprintf(buf, sizeof(buf), ", traffic from the profiler %llu / fallback %llu",
                  static_cast<unsigned long long>(prof), static_cast<unsigned long long>(fb));
    out += buf;
  }
  return out;
}

bool append_json_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::string data = line + "\n";
  ssize_t n = ::write(fd, data.data(), data.size());
  ::close(fd);
  return n == static_cast<ssize_t>(data.size());
}

void report_closed(const ConnLabel& label, const ConnStats& s, bool log_stats,
                   const std::string& stats_file) {
  if (log_stats) SQZ_INFO(NCCL_NET, "%s", stats_line(label, s).c_str());
  if (!stats_file.empty() && !append_json_line(stats_file, stats_json(label, s))) {
    SQZ_WARN("cannot append statistics to NCCL_SQUEEZE_STATS_FILE=%s: %s", stats_file.c_str(),
             std::strerror(errno));
  }
}

}  // namespace squeeze::plugin
