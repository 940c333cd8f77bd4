// The lossless method (FrameMethod::kPlanes, BoundMode::kLossless): every element comes back bit
// for bit, for every dtype. An element (1, 2, 4 or 8 bytes, little-endian) is first transformed
// into an unsigned integer t of the same width, then split into byte planes (plane p holds byte p
// of every t), and each plane is stored as a constant, raw, or coded by the rANS stage (rans.h).
//   transform kNone         t = v
//   transform kDeltaZigzag  d = v - v_prev (mod 2^bits, v_prev of element 0 is 0), t = zigzag(d):
//                           offsets and sorted ids become small numbers, whose top planes are
//                           constant
//   transform kRotl1        t = rotate v left by one bit: a float's sign moves to bit 0, so that
//                           the exponent fills the top byte (bf16 and f32 exactly; f16's 5-bit
//                           exponent and its 3 top mantissa bits): the exponent plane is what the
//                           entropy stage shrinks, sign and mantissa planes are stored as they are.
// Integer dtypes (and kBytes) choose between kNone and kDeltaZigzag, float dtypes use kRotl1; the
// choice and every plane's mode are decided by integer arithmetic only (rans::estimated_bytes on
// the exact histograms), so every backend writes the same bytes.
//
// The frame (version 2, method kPlanes; docs/FORMAT.md "Lossless planes"): the 48-byte header
// with byte 24 = transform, 25 = planes (the element size), 26..43 zero; then planes x 8 bytes of
// directory (mode u8, value u8 for a constant plane else 0, 2 zero bytes, section bytes u32); then
// the plane sections in order; then original_bytes % element size raw tail bytes. A rANS section
// is the table (rans::write_table), a u32 word count per segment, then the segments.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "compress/format/staged.h"
#include "compress/methods/rans.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::planes {

enum class Transform : uint8_t { kNone = 0, kDeltaZigzag = 1, kRotl1 = 2 };
enum class PlaneMode : uint8_t { kConst = 0, kRaw = 1, kRans = 2 };

constexpr uint32_t kMaxPlanes = 8;
constexpr uint32_t kDirEntryBytes = 8;

namespace hdr3 {
constexpr size_t kTransform = 24, kPlanes = 25, kZeroFrom = 26;
}  // namespace hdr3

// Whether a frame may use transform t for dtype (the decoder's rule and the encoder's choice).
SQZ_HD bool transform_allowed(uint8_t dtype, uint8_t t) {
  if (block::is_float_dtype(dtype)) return t == (uint8_t)Transform::kRotl1;
  return t == (uint8_t)Transform::kNone || t == (uint8_t)Transform::kDeltaZigzag;
}

SQZ_HD uint64_t width_mask(uint32_t es) {
  return es >= 8 ? ~0ull : (1ull << (8 * es)) - 1;
}

SQZ_HD uint64_t zigzag(uint64_t d, uint32_t es) {
  const uint32_t bits = 8 * es;
  const uint64_t m = width_mask(es);
  const uint64_t sign = (d >> (bits - 1)) & 1u;
  return ((d << 1) ^ (sign ? m : 0)) & m;
}

SQZ_HD uint64_t unzigzag(uint64_t t, uint32_t es) {
  const uint64_t m = width_mask(es);
  return ((t >> 1) ^ ((t & 1u) ? m : 0)) & m;
}

SQZ_HD uint64_t rotl1(uint64_t v, uint32_t es) {
  const uint32_t bits = 8 * es;
  return ((v << 1) | (v >> (bits - 1))) & width_mask(es);
}

SQZ_HD uint64_t rotr1(uint64_t t, uint32_t es) {
  const uint32_t bits = 8 * es;
  return ((t >> 1) | ((t & 1u) << (bits - 1))) & width_mask(es);
}

// Element i's transformed value; prev is element i-1's original value (0 for i = 0).
SQZ_HD uint64_t forward(Transform t, uint64_t v, uint64_t prev, uint32_t es) {
  switch (t) {
    case Transform::kDeltaZigzag:
      return zigzag((v - prev) & width_mask(es), es);
    case Transform::kRotl1:
      return rotl1(v, es);
    default:
      return v;
  }
}

// The original value from the transformed one; prev as in forward().
SQZ_HD uint64_t inverse(Transform t, uint64_t x, uint64_t prev, uint32_t es) {
  switch (t) {
    case Transform::kDeltaZigzag:
      return (unzigzag(x, es) + prev) & width_mask(es);
    case Transform::kRotl1:
      return rotr1(x, es);
    default:
      return x;
  }
}

// The estimated bytes of a plane of n bytes with histogram hist in its best mode; *mode gets it.
SQZ_HD uint64_t plane_estimate(const uint32_t* hist, uint64_t n, PlaneMode* mode) {
  uint32_t n_sym = 0, used = 0;
  for (uint32_t s = 0; s < rans::kMaxSymbols; ++s) {
    if (hist[s] != 0) {
      n_sym = s + 1;
      ++used;
    }
  }
  if (used <= 1) {
    *mode = PlaneMode::kConst;
    return 0;
  }
  const uint64_t est = rans::estimated_bytes(hist, n_sym, n, n, 0);
  if (rans::worth_coding(est, n)) {
    *mode = PlaneMode::kRans;
    return est;
  }
  *mode = PlaneMode::kRaw;
  return n;
}

// Upper bound of a rANS plane section of n symbols with n_sym symbols in the table.
SQZ_HD uint64_t rans_section_capacity(uint64_t n, uint32_t n_sym) {
  const uint64_t n_seg = rans::segments_for(n);
  return 1 + 3ull * n_sym + 4 * n_seg + n_seg * rans::kStateBytes + 2 * n;
}

// ---- the decoder's checks ----

struct Layout {
  uint32_t es = 0;
  uint64_t n = 0;
  uint64_t tail = 0;
  Transform transform = Transform::kNone;
  PlaneMode mode[kMaxPlanes] = {};
  uint8_t value[kMaxPlanes] = {};
  uint64_t offset[kMaxPlanes] = {};  // of each plane's section, from the frame start
  uint64_t bytes[kMaxPlanes] = {};
  uint64_t tail_offset = 0;
};

// Header fields and directory of a planes frame of exactly frame_bytes (envelope already checked:
// magic, version 2, header check). Section contents are checked by the decoder of each plane.
SQZ_HD staged::Reject parse(const uint8_t* frame, uint64_t frame_bytes, Layout* l) {
  if (frame_bytes < kFrameHeaderBytes) return staged::Reject::kTooShort;
  const uint8_t dtype = frame[hdr::kDType];
  if (dtype > (uint8_t)DType::kU64) return staged::Reject::kDType;
  if (frame[hdr::kFlags] != 0) return staged::Reject::kFlags;
  const uint64_t original = block::load_le64(frame + hdr::kOriginalBytes);
  const uint64_t declared = block::load_le64(frame + hdr::kFrameBytes);
  if (declared > frame_bytes) return staged::Reject::kTooShort;
  if (declared < frame_bytes) return staged::Reject::kSizeMismatch;
  l->es = (uint32_t)block::dtype_bytes(dtype);
  const uint8_t t = frame[hdr3::kTransform];
  if (!transform_allowed(dtype, t) || frame[hdr3::kPlanes] != l->es)
    return staged::Reject::kPlaneFields;
  for (size_t k = hdr3::kZeroFrom; k < hdr::kHeaderCheck; ++k)
    if (frame[k] != 0) return staged::Reject::kPlaneFields;
  l->transform = (Transform)t;
  l->n = original / l->es;
  l->tail = original % l->es;
  if (l->n == 0 || l->n > staged::kMaxElems) return staged::Reject::kElementCount;
  const uint64_t dir = kFrameHeaderBytes;
  const uint64_t dir_end = dir + (uint64_t)kDirEntryBytes * l->es;
  if (frame_bytes < dir_end) return staged::Reject::kTooShort;
  uint64_t off = dir_end;
  for (uint32_t p = 0; p < l->es; ++p) {
    const uint8_t* e = frame + dir + (uint64_t)kDirEntryBytes * p;
    const uint8_t mode = e[0];
    const uint64_t bytes = block::load_le32(e + 4);
    if (e[2] != 0 || e[3] != 0 || mode > (uint8_t)PlaneMode::kRans)
      return staged::Reject::kPlaneDirectory;
    if (mode == (uint8_t)PlaneMode::kConst && bytes != 0) return staged::Reject::kPlaneDirectory;
    if (mode != (uint8_t)PlaneMode::kConst && e[1] != 0) return staged::Reject::kPlaneDirectory;
    if (mode == (uint8_t)PlaneMode::kRaw && bytes != l->n) return staged::Reject::kPlaneDirectory;
    if (mode == (uint8_t)PlaneMode::kRans && bytes == 0) return staged::Reject::kPlaneDirectory;
    l->mode[p] = (PlaneMode)mode;
    l->value[p] = e[1];
    l->offset[p] = off;
    l->bytes[p] = bytes;
    off += bytes;
    if (off > frame_bytes) return staged::Reject::kPlaneDirectory;
  }
  l->tail_offset = off;
  if (frame_bytes - off != l->tail) return staged::Reject::kTail;
  return staged::Reject::kNone;
}

// Decodes a rANS plane section into sym[0, n): table, word counts, segments; the check that failed
// when any part is malformed (reads stay within [sec, sec + bytes)). tables: scratch of the caller.
// decode_segment: rans::decode_segment's signature (a backend's SIMD version on the CPU).
template <typename SegmentDecoder>
SQZ_HD staged::Reject decode_rans_plane(const uint8_t* sec, uint64_t bytes, uint64_t n,
                                        rans::Tables* tables, uint8_t* sym,
                                        SegmentDecoder decode_segment) {
  const uint8_t* p = sec;
  const uint8_t* end = sec + bytes;
  if (!rans::read_table(&p, end, tables)) return staged::Reject::kRansTable;
  const uint32_t n_seg = rans::segments_for(n);
  if ((uint64_t)(end - p) < 4ull * n_seg) return staged::Reject::kRansStream;
  const uint8_t* counts = p;
  p += 4ull * n_seg;
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
    const uint32_t count =
        (uint32_t)(n - first < rans::kSegmentSymbols ? n - first : rans::kSegmentSymbols);
    const uint32_t n_words = block::load_le32(counts + 4ull * seg);
    const uint64_t seg_bytes = rans::kStateBytes + 2ull * n_words;
    if ((uint64_t)(end - p) < seg_bytes) return staged::Reject::kRansStream;
    if (!decode_segment(p, n_words, count, *tables, sym + first))
      return staged::Reject::kRansStream;
    p += seg_bytes;
  }
  if (p != end) return staged::Reject::kRansStream;
  // A symbol outside the table cannot come out of decode_get (every slot maps to a table symbol).
  return staged::Reject::kNone;
}

}  // namespace squeeze::planes
