// ENTROPY: whether a connection's lossy frames take the rANS stage (CodecParams::rans_min_gain).
// The stage saves a few percent of a frame's bytes at the bounds users run (5.6% at the default
// local 1e-2 on trained payloads) and costs about a nanosecond a value of CPU time, encode plus
// decode: the saving reaches the peer sooner than that time only on slow links. Codec time on
// NCCL's proxy thread adds to a step's time rather than hiding behind the wire (measured:
// squeeze-a2a over 1 Gbit/s links is faster without the stage, docs/PERFORMANCE.md), so the rule
// compares the two as a sum: the stage must save at least (link bits per second) x (its seconds
// a value) bits a value.
#pragma once

#include <cstdint>
#include <string>

#include "plugin/config.h"

namespace squeeze::plugin {

// The rANS stage's extra time per value on this CPU (encode plus decode, with the process's CPU
// backend), measured once per process on the first call (a few milliseconds: frames of 128 KiB
// of embedding-like values at the default bound, with and without the stage).
struct EntropyCost {
  bool measured = false;    // false: the calibration frame did not take the stage
  double ns_per_value = 0;  // >= 0
};
const EntropyCost& entropy_cost();

// CodecParams::rans_min_gain (1/256 bits per value) for a stage of cost ns_per_value over a link
// of link_bytes_per_s: 0 for an unknown link (<= 0), else the bits the link sends in that time,
// rounded up, at most kRansGainNever (never: a value saves at most 8 bits).
uint32_t rans_min_gain_for(double ns_per_value, double link_bytes_per_s);

// A connection's CodecParams::rans_min_gain: on 0, off kRansGainNever, auto rans_min_gain_for
// with entropy_cost() (0 when the calibration did not measure it).
uint32_t rans_min_gain(Settings::Entropy setting, double link_bytes_per_s);

// For the connection log: "rANS whenever smaller", "no rANS", or "rANS where it saves >= X bits
// a value".
std::string rans_gain_description(uint32_t min_gain_q8);

}  // namespace squeeze::plugin
