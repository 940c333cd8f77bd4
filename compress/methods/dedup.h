// The deduplication stage: exact repeats of 16-element units (64 bytes of f32) become references
// to an earlier unit, in the same frame or (with a history) in earlier frames of the stream.
// Shared by both backends (SQZ_HD): the unit hash, the rule that decides a reference, and the run
// list's encoding and validation.
//
// The rule, which a GPU reproduces with an open-addressing table that keeps the smallest index
// per hash (atomicMin) and the CPU with an in-order scan: a unit first looks for its hash in the
// history (a stream's earlier frames, when there is one); failing that, its candidate is the
// frame's first unit with the same 64-bit hash, provided that one is not itself a reference. It
// becomes a reference when the candidate's bytes are equal and the candidate's decoded values are
// within this unit's own bound (max_error < eb_check of its block, or exact). Sources in the
// frame are therefore literal, so a decoder writes every literal first and then copies
// references, all in parallel.
//
// Section bytes: varint n_runs, then per run varint gap (units since the end of the previous
// run), varint dist (units back from the run's first unit to its source's first unit) and varint
// len (units). Within the frame a source run must lie entirely in literal units; with a history,
// a source before the frame's first unit lies entirely in the history.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/methods/varint.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::dedup {

// 64-bit hash of a unit's bytes (bytes a multiple of 4): a multiply-xorshift over u32 words.
SQZ_HD uint64_t unit_hash(const uint8_t* p, uint32_t bytes) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ bytes;
  for (uint32_t i = 0; i < bytes; i += 4) {
    h ^= block::load_le32(p + i);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  return h;
}

SQZ_HD bool same_bytes(const uint8_t* a, const uint8_t* b, uint32_t bytes) {
  for (uint32_t i = 0; i < bytes; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Whether a candidate's decoded values may stand for a unit whose block has bound eb_check:
// exact, or within it by the quantizer's own (strict) test.
SQZ_HD bool error_fits(float candidate_max_error, float eb_check) {
  return candidate_max_error == 0.0f || candidate_max_error < eb_check;
}

struct Run {
  uint64_t dst;   // first unit, in the frame
  uint64_t dist;  // units back to the source's first unit
  uint64_t len;
};

SQZ_HD uint32_t run_bytes(const Run& r, uint64_t prev_end) {
  return varint::size(r.dst - prev_end) + varint::size(r.dist) + varint::size(r.len);
}

SQZ_HD uint32_t put_run(uint8_t* p, const Run& r, uint64_t prev_end) {
  uint32_t n = varint::put(p, r.dst - prev_end);
  n += varint::put(p + n, r.dist);
  n += varint::put(p + n, r.len);
  return n;
}

// Reads the next run from [*p, end), validating it against the frame: it starts at or after
// prev_end, lies within the frame's full units, and its source is either inside the frame and
// before it or (history_units > 0) inside the history window of history_units units before the
// frame, never straddling the two. Does not check that in-frame sources are literal (the caller
// does once all runs are known).
SQZ_HD bool get_run(const uint8_t** p, const uint8_t* end, uint64_t prev_end, uint64_t n_full_units,
                    uint64_t history_units, Run* r) {
  uint64_t gap, dist, len;
  if (!varint::get(p, end, &gap, 40) || !varint::get(p, end, &dist, 40) ||
      !varint::get(p, end, &len, 40))
    return false;
  r->dst = prev_end + gap;
  r->dist = dist;
  r->len = len;
  if (len == 0 || dist == 0 || r->dst >= n_full_units || len > n_full_units - r->dst) return false;
  if (dist <= r->dst) {
    // In the frame: the source run starts before the run and must not reach into it.
    return r->dst - dist + len <= r->dst;
  }
  // In the history: entirely before the frame and within the window.
  const uint64_t back = dist - r->dst;  // units before the frame's first unit
  return history_units > 0 && back <= history_units && len <= back;
}

}  // namespace squeeze::dedup
