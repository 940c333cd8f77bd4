#include "plugin/classify/history.h"

#include <algorithm>

namespace squeeze::plugin {

void HistoryDecodeBoard::note(bool history, uint64_t out_bytes, uint64_t ns) {
  if (out_bytes == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  const int k = history ? 1 : 0;
  rate_[k][seen_[k] % kWindow] = static_cast<double>(ns) / static_cast<double>(out_bytes);
  ++seen_[k];
}

bool HistoryDecodeBoard::per_byte(double* with_ns, double* without_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (seen_[0] < kMinFrames || seen_[1] < kMinFrames) return false;
  // The lower quartile of the frames kept: the element a quarter of the way up, rounded down.
  auto quartile = [this](int k) {
    const int n = static_cast<int>(std::min<uint64_t>(seen_[k], kWindow));
    double sorted[kWindow];
    std::copy(rate_[k], rate_[k] + n, sorted);
    std::sort(sorted, sorted + n);
    return sorted[(n - 1) / 4];
  };
  *with_ns = quartile(1);
  *without_ns = quartile(0);
  return true;
}

HistoryDecodeBoard& history_decode_board() {
  static HistoryDecodeBoard board;
  return board;
}

HistoryGauge::Verdict HistoryGauge::decide(const Sums& with, const Sums& without,
                                           double link_bytes_per_s, const DecodeCost& decode) {
  Verdict v;
  if (with.in == 0 || without.in == 0 || !(link_bytes_per_s > 0)) return v;  // nothing to weigh
  v.ns_with = static_cast<double>(with.ns) / static_cast<double>(with.in);
  v.ns_without = static_cast<double>(without.ns) / static_cast<double>(without.in);
  v.wire_with = static_cast<double>(with.out) / static_cast<double>(with.in);
  v.wire_without = static_cast<double>(without.out) / static_cast<double>(without.in);
  v.decode = decode;
  v.cpu_with = v.ns_with + (decode.known ? decode.with_ns : 0.0);
  v.cpu_without = v.ns_without + (decode.known ? decode.without_ns : 0.0);
  v.link_with = v.wire_with / link_bytes_per_s * 1e9;
  v.link_without = v.wire_without / link_bytes_per_s * 1e9;
  v.pays = std::max(v.cpu_with, v.link_with) <= std::max(v.cpu_without, v.link_without);
  return v;
}

HistoryGauge::Ticket HistoryGauge::next(double link_bytes_per_s,
                                        const HistoryDecodeBoard& receivers, bool* decided_now) {
  if (decided_now != nullptr) *decided_now = false;
  switch (phase_) {
    case Phase::kSettled:
      if (++settled_ <= kRecheckFrames) return Ticket{verdict_.pays, Phase::kSettled, cycle_};
      phase_ = Phase::kWarm;  // measure again
      issued_ = 0;
      [[fallthrough]];
    case Phase::kWarm:
      if (issued_ < kWarmFrames) {
        ++issued_;
        return Ticket{true, Phase::kWarm, cycle_};
      }
      phase_ = Phase::kWith;
      issued_ = 0;
      ++cycle_;
      with_ = Sums{};
      without_ = Sums{};
      [[fallthrough]];
    case Phase::kWith:
      if (issued_ < kProbeFrames) {
        ++issued_;
        return Ticket{true, Phase::kWith, cycle_};
      }
      phase_ = Phase::kWithout;
      issued_ = 0;
      [[fallthrough]];
    case Phase::kWithout:
      if (issued_ < kProbeFrames) {
        ++issued_;
        return Ticket{false, Phase::kWithout, cycle_};
      }
      phase_ = Phase::kWaiting;
      [[fallthrough]];
    case Phase::kWaiting:
      break;
  }
  if (with_.frames < kProbeFrames || without_.frames < kProbeFrames)
    return Ticket{false, Phase::kWaiting, cycle_};
  DecodeCost decode;
  decode.known = receivers.per_byte(&decode.with_ns, &decode.without_ns);
  verdict_ = decide(with_, without_, link_bytes_per_s, decode);
  phase_ = Phase::kSettled;
  settled_ = 1;
  if (decided_now != nullptr) *decided_now = true;
  return Ticket{verdict_.pays, Phase::kSettled, cycle_};
}

void HistoryGauge::record(const Ticket& t, uint64_t in_bytes, uint64_t out_bytes, uint64_t ns) {
  if (t.cycle != cycle_ || (t.phase != Phase::kWith && t.phase != Phase::kWithout)) return;
  const bool with = t.phase == Phase::kWith;
  Sums& s = with ? with_ : without_;
  double* rate = with ? with_rate_ : without_rate_;
  if (s.frames >= kProbeFrames) return;
  s.in += in_bytes;
  s.out += out_bytes;
  s.ns += ns;
  rate[s.frames] = in_bytes > 0 ? static_cast<double>(ns) / static_cast<double>(in_bytes) : 0.0;
  if (++s.frames < kProbeFrames) return;
  // The median frame's rate (the mean of the middle two) over the state's bytes.
  double sorted[kProbeFrames];
  std::copy(rate, rate + kProbeFrames, sorted);
  std::sort(sorted, sorted + kProbeFrames);
  const double median = (sorted[kProbeFrames / 2 - 1] + sorted[kProbeFrames / 2]) / 2;
  s.ns = static_cast<uint64_t>(median * static_cast<double>(s.in) + 0.5);
}

}  // namespace squeeze::plugin
