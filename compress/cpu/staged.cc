// Version 2 staged frames on the CPU: the streams' histories, the code observer, and
// encode_staged / decode_staged, which run the active backend's driver (staged_driver.inc: the
// frame-level loops; built here for any CPU, and for AVX2 in staged_driver_avx2.cc).
#include "compress/cpu/staged.h"

#include "compress/cpu/staged_driver_deps.h"

namespace squeeze::cpu {

// ---- UnitTable ----

void UnitTable::reset(size_t min_capacity) {
  size_t n = 16;
  while (n < min_capacity) n <<= 1;
  buckets_.assign(n, Bucket{{Slot{0, kNone}, Slot{0, kNone}, Slot{0, kNone}, Slot{0, kNone}}});
  mask_ = n - 1;
}

bool UnitTable::move_up(Slot& e, uint64_t pos, uint64_t window_start, Change* change) {
  if (e.val >= window_start) return false;
  *change = Change{&e, e};
  e.val = pos;
  return true;
}

bool UnitTable::offer(uint64_t hash, uint64_t pos, uint64_t window_start, Change* change) {
  if (buckets_.empty()) return false;
  Bucket& b = buckets_[mix_slot(hash) & mask_];
  for (Slot& e : b.slot)
    if (e.key == hash && e.val != kNone) return move_up(e, pos, window_start, change);
  // Absent: the first empty slot or one whose position left the window, else the oldest.
  Slot* victim = &b.slot[0];
  for (Slot& e : b.slot) {
    if (e.val == kNone || e.val < window_start) {
      victim = &e;
      break;
    }
    if (e.val < victim->val) victim = &e;
  }
  *change = Change{victim, *victim};
  *victim = Slot{hash, pos};
  return true;
}

bool UnitTable::offer_found(uint64_t hash, uint64_t pos, uint64_t window_start, int slot,
                            uint64_t found, Change* change) {
  if (slot >= 0 && !buckets_.empty()) {
    Slot& e = buckets_[mix_slot(hash) & mask_].slot[slot];
    if (e.key == hash && e.val == found) return move_up(e, pos, window_start, change);
  }
  return offer(hash, pos, window_start, change);
}

void UnitTable::undo(const Change* changes, size_t n) {
  while (n > 0) {
    --n;
    *changes[n].slot = changes[n].before;
  }
}

void EncoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  error.assign(window_units, 0.0f);
  window_start = stream_pos;
  table.reset(window_units);
}

void DecoderHistory::restart(uint8_t t) {
  dtype = t;
  has_dtype = true;
  unit_bytes = (uint32_t)(kUnitElems * block::dtype_bytes(t));
  window_units = window_bytes / unit_bytes;
  ring.assign(window_units * unit_bytes, 0);
  window_start = stream_pos;
}

namespace {
thread_local CodeObserver* t_observer = nullptr;
}  // namespace

void set_code_observer(CodeObserver* observer) {
  t_observer = observer;
}

CodeObserver* code_observer() {
  return t_observer;
}

#include "compress/cpu/staged_driver.inc"

const StagedDriver kStagedDriverGeneric = {&encode_frame, &decode_frame};

size_t encode_staged(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     EncoderHistory* hist, FrameStats* stats) {
  return active_backend().staged_driver->encode(params, src, src_bytes, dst, hist, stats);
}

staged::Reject decode_staged(const uint8_t* frame, size_t frame_bytes, uint8_t* dst,
                             size_t dst_capacity, DecoderHistory* hist, size_t* out_bytes) {
  return active_backend().staged_driver->decode(frame, frame_bytes, dst, dst_capacity, hist,
                                                out_bytes);
}

}  // namespace squeeze::cpu
