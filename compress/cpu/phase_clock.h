// Where the staged encoder and decoder spend a frame's time, phase by phase: what squeeze-bench
// --phases prints. Off unless a thread turns it on (set_phase_clock); then each frame's PhaseClock
// adds the time since its previous mark to the phase a mark names, on this thread, the encoder's
// and the decoder's apart. Off, a frame costs one call (the constructor's check) and a predictable
// branch a mark, so the driver keeps its marks in every build and the figures come from the code
// that ships.
#pragma once

#include <cstdint>

namespace squeeze::cpu {

// The encoder's phases in the order a frame passes them (a frame's tiles repeat kQuantize,
// kRepeatChecks and kScan). A mark names the phase that ends there.
enum class EncodePhase : uint8_t {
  kStats,         // block statistics and unit keys: the frame's first read
  kDecide,        // code width, records and block parameters
  kDedupFind,     // the frame table's clearing and its probes (pass 1)
  kHistory,       // the stream history's lookups, offers and byte checks
  kQuantize,      // the quantizer, on the blocks with a literal unit
  kRepeatChecks,  // the frame's repeats: their bytes and their sources' errors
  kScan,          // literal blocks: coded units, outliers, records with a literal block
  kRansModel,     // rANS: the sample's histogram and estimate, the symbols, the table
  kRansSegments,  // rANS: the segments and the raw low bits
  kSections,      // the fixed coder's sizes, dedup runs and sources, the header
  kWrite,         // the sections' bytes: dedup records, local records, codes, outliers
  kHistoryLearn,  // the stream history learns the frame
  kCount
};

// The decoder's phases (staged frames), in the order a frame passes them.
enum class DecodePhase : uint8_t {
  kSections,    // the history's check, the dedup section's runs and sources
  kRecords,     // literal blocks, the quantizer section's records, the coded units
  kCodes,       // the fixed coder's check, or the rANS stream decoded
  kOutliers,    // the outlier section's check
  kWrite,       // the literal units' values (codes dequantized, zero and constant units, outliers)
  kReferences,  // the references' copies (and the tail)
  kCount
};

// A short name for tables ("stats", "decide", ..., "sections", "records", ...).
const char* phase_name(EncodePhase p);
const char* phase_name(DecodePhase p);

constexpr int kMostPhases = (int)EncodePhase::kCount > (int)DecodePhase::kCount
                                ? (int)EncodePhase::kCount
                                : (int)DecodePhase::kCount;

// What this thread's frames spent on one side, since the last reset_phase_times(): ns[p] for
// phase p of that side's enum.
struct PhaseTimes {
  uint64_t frames = 0;  // calls while the clock was on
  uint64_t ns[kMostPhases] = {};
};

void set_phase_clock(bool on);  // this thread's clock
bool phase_clock_on();
PhaseTimes phase_times();         // the encoder's
PhaseTimes decode_phase_times();  // the decoder's
void reset_phase_times();         // both

// One frame's clock: constructed at the encoder's or decoder's start; mark(p) ends phase p.
class PhaseClock {
 public:
  enum class Side : uint8_t { kEncode, kDecode };
  explicit PhaseClock(Side side) : on_(phase_clock_on()), side_(side) {
    if (on_) start();
  }
  ~PhaseClock() {
    if (on_) finish();
  }
  PhaseClock(const PhaseClock&) = delete;
  PhaseClock& operator=(const PhaseClock&) = delete;
  void mark(EncodePhase p) {
    if (on_) record((int)p);
  }
  void mark(DecodePhase p) {
    if (on_) record((int)p);
  }

 private:
  void start();
  void record(int phase);
  void finish();
  bool on_;
  Side side_;
  int64_t last_ns_ = 0;
};

}  // namespace squeeze::cpu
