// The CPU backend's encoder and decoder of version 2 staged frames (compress/format/staged.h),
// and the stream histories behind StreamEncoder / StreamDecoder. The bytes are decided by the
// shared SQZ_HD stage code in compress/methods/; this file only orchestrates the stages in loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "compress/cpu/prefetch.h"
#include "compress/format/staged.h"
#include "squeeze/codec.h"

namespace squeeze::cpu {

// A hash's first slot in the encoders' open-addressing tables.
inline uint64_t mix_slot(uint64_t hash) {
  return hash ^ (hash >> 31);
}

// The stream history's map from a unit's 64-bit hash to a stream position: the first unit with
// that hash still in the window, as far as the table holds it. Buckets of four (hash, position)
// slots, one cache line each: a lookup or an insert touches one line, prefetched ahead, and
// positions that left the window are simply overwritten, so the table is never swept or
// rebuilt. A full bucket gives up its oldest position to a new hash (a bucket holds more than
// four live hashes rarely at the sizes used: about one in 250 with as many buckets as the window
// has units); the encoder then misses a reference, never makes a wrong one (it compares bytes).
class UnitTable {
 public:
  static constexpr uint64_t kNone = ~0ull;
  // Empty, with a bucket per min_capacity units (rounded up to a power of two).
  void reset(size_t min_capacity);
  // Position stored for hash (possibly one outside the window: callers check), or kNone.
  uint64_t find(uint64_t hash) const {
    int slot;
    return find(hash, &slot);
  }
  // The same, and the slot that holds it (-1 with kNone).
  uint64_t find(uint64_t hash, int* slot) const {
    *slot = -1;
    if (buckets_.empty()) return kNone;
    const Bucket& b = buckets_[mix_slot(hash) & mask_];
    for (int i = 0; i < 4; ++i)
      if (b.slot[i].key == hash && b.slot[i].val != kNone) {
        *slot = i;
        return b.slot[i].val;
      }
    return kNone;
  }
  // Starts loading hash's bucket (a frame's units are probed in order, their hashes known ahead:
  // without it every probe of a table larger than L1 waits for memory).
  void prefetch(uint64_t hash) const {
    if (buckets_.empty()) return;
    prefetch_line(&buckets_[mix_slot(hash) & mask_]);
  }
  struct Slot {
    uint64_t key;
    uint64_t val;  // kNone: empty
  };
  // A slot as it was before an offer changed it (undo puts it back).
  struct Change {
    Slot* slot;
    Slot before;
  };
  // Sets hash -> pos when hash is absent or its position is below window_start. Returns whether
  // a slot changed, and then what it held in *change.
  bool offer(uint64_t hash, uint64_t pos, uint64_t window_start, Change* change);
  // offer(), for a hash that find(hash, &slot) gave position found (not kNone) before this
  // frame's offers of other hashes: while that slot still holds it, the offer is decided there,
  // without searching the bucket again (which slot holds a hash has no pattern: the search's
  // branches were mispredicted); otherwise (another hash's offer took the slot) offer().
  bool offer_found(uint64_t hash, uint64_t pos, uint64_t window_start, int slot, uint64_t found,
                   Change* change);
  // Takes back the changes [0, n) of offers, the last one first.
  static void undo(const Change* changes, size_t n);

 private:
  // Moves the position of e (which holds the offered hash) up to pos once it left the window.
  static bool move_up(Slot& e, uint64_t pos, uint64_t window_start, Change* change);
  struct alignas(64) Bucket {
    Slot slot[4];
  };
  std::vector<Bucket> buckets_;
  uint64_t mask_ = 0;
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

// The encoder's CodeObserver on this thread (null when none is set).
CodeObserver* code_observer();

// The frame-level loops of the staged codec (staged_driver.inc), as built for one CPU level:
// encode_staged and decode_staged call the active backend's (Backend::staged_driver).
struct StagedDriver {
  size_t (*encode)(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                   EncoderHistory* hist, FrameStats* stats);
  staged::Reject (*decode)(const uint8_t* frame, size_t frame_bytes, uint8_t* dst,
                           size_t dst_capacity, DecoderHistory* hist, size_t* out_bytes);
};
extern const StagedDriver kStagedDriverGeneric;  // staged.cc: any CPU
extern const StagedDriver kStagedDriverAvx2;     // staged_driver_avx2.cc: the AVX2 backend's

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
