// The CPU backend's encoder and decoder of lossless byte-plane frames (compress/methods/planes.h
// decides the bytes; this file runs it in loops).
#pragma once

#include <cstddef>
#include <cstdint>

#include "compress/format/staged.h"
#include "squeeze/codec.h"

namespace squeeze::cpu {

// Encodes a planes frame of src into dst (capacity max_frame_bytes(src_bytes), parameters already
// validated). Returns its size, or 0 when it would not be smaller than the raw frame (or there is
// no whole element): the caller then writes the raw frame.
size_t encode_planes(const CodecParams& params, const uint8_t* src, size_t src_bytes, uint8_t* dst,
                     FrameStats* stats);

// Decodes a planes frame of exactly frame_bytes bytes (envelope already checked). Validates every
// section before it writes past the element it decodes; returns the check that failed, if any.
staged::Reject decode_planes(const uint8_t* frame, size_t frame_bytes, uint8_t* dst,
                             size_t dst_capacity, size_t* out_bytes);

}  // namespace squeeze::cpu
