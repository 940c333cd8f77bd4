// HISTORY: whether a send connection's lossy frames may refer to its stream history (kCapHistory:
// units of the connection's last megabyte of frames sent as references). The history saves wire
// bytes where messages repeat what the connection sent a moment ago, and costs CPU time on both
// sides whether or not it finds anything: the sender looks every distinct unit up in a table of a
// megabyte and offers it back, the receiver copies every unit into its window. On a 2-core host
// over 1 Gbit/s links (squeeze-a2a, docs/PERFORMANCE.md) it took the coding from 0.8 to 1.4 ns
// and the decoding from 0.2 to 0.7 ns per input byte, and an all-to-all ran 1.4-1.7x faster
// without it, its frames up to 2.3x smaller notwithstanding. Whether it pays depends on the data
// and on the link, so HISTORY=auto measures it on the connection's own frames.
//
// Frames with and without the history are both valid at any point of a stream: a frame that does
// not refer to the history leaves both sides' windows as they were (include/squeeze/codec.h), so
// the sender may switch from one frame to the next and the receiver needs nothing.
#pragma once

#include <cstdint>
#include <mutex>

namespace squeeze::plugin {

// The receive side's part of the history's cost, over every receive connection of the process:
// decode time per output byte of the frames that referred to a stream history and of those that
// did not. In an all-to-all every rank decodes about as much as it encodes, on the same cores, so
// a sender counts the difference beside its own codec time (HistoryGauge).
//
// Each kind's figure is the lower quartile of its last kWindow frames' times per byte. A frame's
// time is wall time, and where a host runs more busy threads than it has cores a decode that
// loses its core mid-frame takes a time slice longer: on 2 cores with 4 ranks the sums of session
// 21's board read 1.4 ns a byte for frames without a history (0.13-0.2 alone) and 0.8 with one,
// and kept the history where it cost twice the coding. Waiting only ever adds time, so the
// quicker frames are the ones that measured the decoding. Thread-safe.
class HistoryDecodeBoard {
 public:
  static constexpr uint64_t kMinFrames = 8;  // of each kind, before the board answers
  static constexpr int kWindow = 64;         // the frames of each kind it keeps
  void note(bool history, uint64_t out_bytes, uint64_t ns);
  // Decode nanoseconds per output byte with the history and without; false until both kinds
  // have kMinFrames frames.
  bool per_byte(double* with_ns, double* without_ns) const;

 private:
  mutable std::mutex mu_;
  // [0]: without the history, [1]: with it. Frame seen_[k] - 1 is at rate_[k][(seen_[k] - 1) %
  // kWindow].
  double rate_[2][kWindow] = {};
  uint64_t seen_[2] = {0, 0};
};
HistoryDecodeBoard& history_decode_board();

// The rule of HISTORY=auto on one send connection over a link of known rate: kWarmFrames frames
// with the history, unmeasured (after a period without it the window holds old data: these
// frames fill it again), then kProbeFrames with it and kProbeFrames without it, measured (input
// bytes, wire bytes, codec time of each). The connection's time per input byte is taken as that
// of a pipeline, max(CPU, wire): its frames' codec time plus, where the process's receivers have
// measured it (HistoryDecodeBoard), the decode time of as many bytes, against its wire bytes at
// the link's rate; the codec overlaps the wire, since the kernel sends one frame while the next
// is coded. The history pays when it does not make that time longer:
//   max(codec_with + decode_with, wire_with / rate) <= max(codec_without + decode_without,
//                                                          wire_without / rate).
// (squeeze-a2a, 2 ranks on 2 cores over 1 Gbit/s links, frames 0.1 wire bytes per input byte
// smaller with the history: the CPU side goes from 1.1 to 2.0 ns a byte, the wire from 1.3 to
// 0.5, and the all-to-all ran 1.6x faster without the history, as the pipeline says; the sum of
// the two would call them even.) The verdict holds for kRecheckFrames frames; then the
// measurement starts again (data, load and the link's share change). Frames are decided in
// next() and measured in record(), which may come later (codec threads): frames sent before the
// measurements are all in keep the last probe's setting.
class HistoryGauge {
 public:
  static constexpr int kWarmFrames = 8;
  static constexpr int kProbeFrames = 8;
  static constexpr uint64_t kRecheckFrames = 1024;

  enum class Phase : uint8_t { kWarm, kWith, kWithout, kWaiting, kSettled };
  // What next() decided for a frame; handed back to record() with its measurements.
  struct Ticket {
    bool history = true;
    Phase phase = Phase::kSettled;
    uint32_t cycle = 0;  // which measurement a kWith / kWithout frame belongs to
  };
  // One state's measured frames.
  struct Sums {
    uint64_t in = 0, out = 0, ns = 0;
    int frames = 0;
  };
  // The receivers' decode time per byte, with the history and without (HistoryDecodeBoard);
  // known = false: not measured, counted as nothing.
  struct DecodeCost {
    bool known = false;
    double with_ns = 0, without_ns = 0;
  };
  // A finished measurement (for the log), per input byte.
  struct Verdict {
    bool pays = true;
    double ns_with = 0, ns_without = 0;      // the sender's codec nanoseconds
    double wire_with = 0, wire_without = 0;  // wire bytes
    DecodeCost decode;
    double cpu_with = 0, cpu_without = 0;    // codec + decode nanoseconds
    double link_with = 0, link_without = 0;  // wire nanoseconds at the link's rate
  };

  // The next lossy frame; link_bytes_per_s > 0 (an unknown rate keeps the history: the caller
  // does not ask). receivers: read for their decode costs only when a measurement is settled.
  // *decided_now (may be null): this call settled a measurement, last() has it.
  Ticket next(double link_bytes_per_s, const HistoryDecodeBoard& receivers,
              bool* decided_now = nullptr);
  // A frame next() decided, compressed: its input and frame bytes and codec time. Once a state's
  // kProbeFrames are in, its codec time is that of its median frame (per input byte) over all
  // its bytes: a frame whose thread lost its core mid-coding (a time slice of milliseconds, where
  // a host runs more busy threads than it has cores) does not decide the verdict.
  void record(const Ticket& t, uint64_t in_bytes, uint64_t out_bytes, uint64_t ns);
  const Verdict& last() const { return verdict_; }

  // The rule alone: whether the history pays given both states' sums over a link.
  static Verdict decide(const Sums& with, const Sums& without, double link_bytes_per_s,
                        const DecodeCost& decode);

 private:
  Phase phase_ = Phase::kWarm;
  uint32_t cycle_ = 0;    // measurements started
  int issued_ = 0;        // frames issued in the current phase
  uint64_t settled_ = 0;  // frames issued since the verdict
  Sums with_, without_;
  double with_rate_[kProbeFrames] = {}, without_rate_[kProbeFrames] = {};  // ns per input byte
  Verdict verdict_;
};

}  // namespace squeeze::plugin
