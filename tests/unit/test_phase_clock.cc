// The staged codec's phase clock (compress/cpu/phase_clock.h, squeeze-bench --phases): off it
// records nothing; on it counts every frame, the encoder's and the decoder's apart, and gives each
// phase the frame passes some time, no more in all than the call took; the frame's bytes and the
// decoded values do not change.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/cpu/phase_clock.h"
#include "squeeze/codec.h"

namespace squeeze {
namespace {

using cpu::DecodePhase;
using cpu::EncodePhase;

// A 128 KiB frame of a trained forward payload: a third of its units repeat.
std::vector<float> trained_frame() {
  std::vector<float> v =
      test::read_f32_file(std::string(SQUEEZE_TEST_CORPUS_DIR) + "/d64_late_fwd_r3_to_r0.f32");
  if (v.size() > 32768) v.resize(32768);
  return v;
}

std::vector<uint8_t> compress_frame(const CodecParams& p, const std::vector<float>& v) {
  std::vector<uint8_t> frame(max_frame_bytes(v.size() * 4));
  size_t n = 0;
  EXPECT_EQ(compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &n), Status::kOk);
  frame.resize(n);
  return frame;
}

template <class Phase>
uint64_t ns_of(const cpu::PhaseTimes& t, Phase p) {
  return t.ns[(int)p];
}

uint64_t sum_of(const cpu::PhaseTimes& t) {
  uint64_t total = 0;
  for (uint64_t ns : t.ns) total += ns;
  return total;
}

// Turns the clock on for one scope and off again, whatever the test's outcome.
struct ClockOn {
  ClockOn() {
    cpu::reset_phase_times();
    cpu::set_phase_clock(true);
  }
  ~ClockOn() { cpu::set_phase_clock(false); }
};

// Runs call with the clock on; returns its wall time in ns.
template <class Call>
int64_t clocked_ns(Call call) {
  ClockOn clock;
  const auto t0 = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
      .count();
}

TEST(PhaseClock, OffRecordsNothing) {
  const std::vector<float> v = trained_frame();
  ASSERT_EQ(v.size(), 32768u);
  cpu::set_phase_clock(false);
  cpu::reset_phase_times();
  const std::vector<uint8_t> frame = compress_frame(CodecParams{}, v);
  std::vector<float> back(v.size());
  size_t n = 0;
  ASSERT_EQ(decompress(frame.data(), frame.size(), back.data(), back.size() * 4, &n), Status::kOk);
  for (const cpu::PhaseTimes& t : {cpu::phase_times(), cpu::decode_phase_times()}) {
    EXPECT_EQ(t.frames, 0u);
    for (uint64_t ns : t.ns) EXPECT_EQ(ns, 0u);
  }
}

TEST(PhaseClock, EveryPhaseOfADedupAndRansFrameTakesTimeAndTheFrameIsTheSame) {
  const std::vector<float> v = trained_frame();
  ASSERT_EQ(v.size(), 32768u);
  CodecParams p;
  p.bound = 1e-2;  // the plugin's default: rANS takes these frames
  const std::vector<uint8_t> off = compress_frame(p, v);
  FrameStats st;
  std::vector<uint8_t> on(max_frame_bytes(v.size() * 4));
  size_t n = 0;
  Status status = Status::kOk;
  const int64_t wall_ns = clocked_ns(
      [&] { status = compress(p, v.data(), v.size() * 4, on.data(), on.size(), &n, &st); });
  ASSERT_EQ(status, Status::kOk);
  const cpu::PhaseTimes t = cpu::phase_times();
  on.resize(n);
  EXPECT_EQ(on, off);
  ASSERT_GT(st.ref_units, 0u);                       // the frame has references
  ASSERT_EQ(st.coder, (uint8_t)StagedCoder::kRans);  // and takes rANS
  EXPECT_EQ(t.frames, 1u);
  for (EncodePhase ph :
       {EncodePhase::kStats, EncodePhase::kDecide, EncodePhase::kDedupFind, EncodePhase::kQuantize,
        EncodePhase::kRepeatChecks, EncodePhase::kScan, EncodePhase::kRansModel,
        EncodePhase::kRansSegments, EncodePhase::kSections, EncodePhase::kWrite})
    EXPECT_GT(ns_of(t, ph), 0u) << cpu::phase_name(ph);
  EXPECT_EQ(ns_of(t, EncodePhase::kHistory), 0u);  // no stream: no history
  EXPECT_LE(sum_of(t), (uint64_t)wall_ns);
  EXPECT_EQ(cpu::decode_phase_times().frames, 0u);  // the encoder's own
}

TEST(PhaseClock, EveryPhaseOfDecodingADedupAndRansFrameTakesTime) {
  const std::vector<float> v = trained_frame();
  ASSERT_EQ(v.size(), 32768u);
  CodecParams p;
  p.bound = 1e-2;
  const std::vector<uint8_t> frame = compress_frame(p, v);
  std::vector<float> off(v.size()), on(v.size());
  size_t n = 0;
  ASSERT_EQ(decompress(frame.data(), frame.size(), off.data(), off.size() * 4, &n), Status::kOk);
  Status status = Status::kOk;
  const int64_t wall_ns = clocked_ns(
      [&] { status = decompress(frame.data(), frame.size(), on.data(), on.size() * 4, &n); });
  ASSERT_EQ(status, Status::kOk);
  const cpu::PhaseTimes t = cpu::decode_phase_times();
  EXPECT_EQ(std::memcmp(on.data(), off.data(), on.size() * 4), 0);
  EXPECT_EQ(t.frames, 1u);
  EXPECT_EQ(cpu::phase_times().frames, 0u);  // the decoder's own
  for (DecodePhase ph : {DecodePhase::kSections, DecodePhase::kRecords, DecodePhase::kCodes,
                         DecodePhase::kWrite, DecodePhase::kReferences})
    EXPECT_GT(ns_of(t, ph), 0u) << cpu::phase_name(ph);
  EXPECT_LE(sum_of(t), (uint64_t)wall_ns);
  EXPECT_STREQ(cpu::phase_name(DecodePhase::kCodes), "codes");
}

TEST(PhaseClock, DeclinedRansCodesNoSegmentsAndAStreamUsesItsHistory) {
  const std::vector<float> v = trained_frame();
  ASSERT_EQ(v.size(), 32768u);
  CodecParams p;
  p.bound = 1e-2;
  p.rans_min_gain = 2048;  // never rANS
  StreamEncoder enc;
  std::vector<uint8_t> frame(max_frame_bytes(v.size() * 4));
  size_t n = 0;
  Status status[2] = {};
  clocked_ns([&] {
    for (Status& st : status)  // the second frame refers to the first
      st = enc.compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &n);
  });
  for (Status st : status) ASSERT_EQ(st, Status::kOk);
  const cpu::PhaseTimes t = cpu::phase_times();
  EXPECT_EQ(t.frames, 2u);
  EXPECT_EQ(ns_of(t, EncodePhase::kRansSegments), 0u);
  EXPECT_GT(ns_of(t, EncodePhase::kHistory), 0u);
  EXPECT_GT(ns_of(t, EncodePhase::kHistoryLearn), 0u);
  EXPECT_STREQ(cpu::phase_name(EncodePhase::kRansSegments), "rans segments");
  // Off again after the scope: nothing more is counted.
  enc.compress(p, v.data(), v.size() * 4, frame.data(), frame.size(), &n);
  EXPECT_EQ(cpu::phase_times().frames, 2u);
}

}  // namespace
}  // namespace squeeze
