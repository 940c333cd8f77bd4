// The CPU backend's encoder and decoder of version 2 staged frames (compress/format/staged.h),
// and the stream histories behind StreamEncoder / StreamDecoder. The bytes are decided by the
// shared SQZ_HD stage code in compress/methods/; this file only orchestrates the stages in loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "compress/format/staged.h"
#include "squeeze/codec.h"

namespace squeeze::cpu {

// A hash's first slot in the encoders' open-addressing tables.
inline uint64_t mix_slot(uint64_t hash) {
  return hash ^ (hash >> 31);
}

// Open-addressing map (linear probing) from a unit's 64-bit hash to a stream position (the
// history's first unit with that hash still in the window). Stale entries (positions that left
// the window) stay as obstacles, keeping every probe chain whole, until a new key takes one's
// slot or the table is rebuilt; every live mapping is kept either way. (Erasing each position
// as it leaves the window, by backward shift, was tried: it cost more than the rebuilds.)
class UnitTable {
 public:
  void reset(size_t min_capacity);
  // Position stored for hash, or kNone (or a stale position: callers check the window).
  uint64_t find(uint64_t hash) const {
    if (slots_.empty()) return kNone;
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix_slot(hash) & mask;; i = (i + 1) & mask) {
      if (slots_[i].val == kNone) return kNone;
      if (slots_[i].key == hash) return slots_[i].val;
    }
  }
  // Starts loading hash's first slot (a frame's units are probed in order, their hashes known
  // ahead: without it every probe of a table larger than L1 waits for memory).
  void prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[mix_slot(hash) & (slots_.size() - 1)]);
  }
  // Sets hash -> pos when hash is absent or its position is below window_start.
  void offer(uint64_t hash, uint64_t pos, uint64_t window_start);
  static constexpr uint64_t kNone = ~0ull;

 private:
  // A key and its position side by side: one cache line per probe.
  struct Slot {
    uint64_t key;
    uint64_t val;
  };
  void rebuild(uint64_t window_start);
  std::vector<Slot> slots_;
  size_t used_ = 0;  // slots filled since the last rebuild (live or stale)
};

// The sender's history: the originals of its last window of units, each unit's largest
// reconstruction error, and the hash -> first position table.
struct EncoderHistory {
  size_t window_bytes = 0;
  uint8_t dtype = 0;
  bool has_dtype = false;
  uint32_t unit_bytes = 0;
  uint64_t window_units = 0;
  uint64_t stream_pos = 0;    // units appended so far (the next frame's first unit)
  uint64_t window_start = 0;  // oldest position still referable
  std::vector<uint8_t> ring;  // window_units units, position p at slot p % window_units
  std::vector<float> error;
  UnitTable table;
  // Starts a fresh window for frames of dtype t (positions keep counting).
  void restart(uint8_t t);
};

// The receiver's history: what it decoded of the last window of units.
struct DecoderHistory {
  size_t window_bytes = 0;
  uint8_t dtype = 0;
  bool has_dtype = false;
  uint32_t unit_bytes = 0;
  uint64_t window_units = 0;
  uint64_t stream_pos = 0;
  uint64_t window_start = 0;
  std::vector<uint8_t> ring;
  void restart(uint8_t t);
};

// Benchmark and test hook: while set (on this thread), the encoder reports the codes each staged
// frame codes (the literal elements' codes, in order) before its coder runs.
class CodeObserver {
 public:
  virtual ~CodeObserver() = default;
  virtual void codes(const uint32_t* codes, uint64_t n, bool local_mode, uint32_t width) = 0;
};
void set_code_observer(CodeObserver* observer);

// Encodes a staged frame (or a version 2 raw frame when that is not smaller). Parameters are
// already validated; dst holds max_frame_bytes(src_bytes). hist: the stream's history, used and
// updated when params.caps has kCapHistory; may be null.
size_t encode_staged(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     EncoderHistory* hist, FrameStats* stats);

// Decodes a version 2 frame (raw or staged) of exactly frame_bytes bytes; validates everything
// before writing. hist: the stream's history (frames with history references need one).
staged::Reject decode_staged(const uint8_t* frame, size_t frame_bytes, uint8_t* dst,
                             size_t dst_capacity, DecoderHistory* hist, size_t* out_bytes);

}  // namespace squeeze::cpu
