// The codec's phase clock (phase_clock.h): per-thread sums, steady_clock time.
#include "compress/cpu/phase_clock.h"

#include <chrono>

namespace squeeze::cpu {

namespace {

thread_local bool t_on = false;
thread_local PhaseTimes t_times[2];  // the encoder's, the decoder's (PhaseClock::Side)

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* phase_name(EncodePhase p) {
  switch (p) {
    case EncodePhase::kStats:
      return "stats";
    case EncodePhase::kDecide:
      return "decide";
    case EncodePhase::kDedupFind:
      return "dedup find";
    case EncodePhase::kHistory:
      return "history";
    case EncodePhase::kQuantize:
      return "quantize";
    case EncodePhase::kRepeatChecks:
      return "repeat checks";
    case EncodePhase::kScan:
      return "scan";
    case EncodePhase::kRansModel:
      return "rans model";
    case EncodePhase::kRansSegments:
      return "rans segments";
    case EncodePhase::kSections:
      return "sections";
    case EncodePhase::kWrite:
      return "write";
    case EncodePhase::kHistoryLearn:
      return "history learn";
    case EncodePhase::kCount:
      break;
  }
  return "?";
}

const char* phase_name(DecodePhase p) {
  switch (p) {
    case DecodePhase::kSections:
      return "sections";
    case DecodePhase::kRecords:
      return "records";
    case DecodePhase::kCodes:
      return "codes";
    case DecodePhase::kOutliers:
      return "outliers";
    case DecodePhase::kWrite:
      return "write";
    case DecodePhase::kReferences:
      return "references";
    case DecodePhase::kCount:
      break;
  }
  return "?";
}

void set_phase_clock(bool on) {
  t_on = on;
}
bool phase_clock_on() {
  return t_on;
}
PhaseTimes phase_times() {
  return t_times[0];
}
PhaseTimes decode_phase_times() {
  return t_times[1];
}
void reset_phase_times() {
  t_times[0] = t_times[1] = PhaseTimes{};
}

void PhaseClock::start() {
  last_ns_ = now_ns();
}

void PhaseClock::record(int phase) {
  const int64_t t = now_ns();
  t_times[(int)side_].ns[phase] += (uint64_t)(t - last_ns_);
  last_ns_ = t;
}

void PhaseClock::finish() {
  ++t_times[(int)side_].frames;
}

}  // namespace squeeze::cpu
