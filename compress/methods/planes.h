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
// log2_of: rans::estimated_bytes' logarithm (rans::Log2Q8, or a CPU encoder's table of it; the
// decisions below take it through).
template <class Log2 = rans::Log2Q8>
SQZ_HD uint64_t plane_estimate(const uint32_t* hist, uint64_t n, PlaneMode* mode,
                               const Log2& log2_of = Log2{}) {
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
  const uint64_t est = rans::estimated_bytes(hist, n_sym, n, n, 0, rans::kSegmentSymbols, log2_of);
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

// ---- the encoder's decisions (the CPU encoder and the CUDA kernels call these) ----

// The transform a dtype starts from: floats rotate their sign out of the exponent byte; integers
// keep their values unless prefer_delta() says their differences code smaller.
SQZ_HD Transform base_transform(uint8_t dtype) {
  return block::is_float_dtype(dtype) ? Transform::kRotl1 : Transform::kNone;
}

// The estimated bytes of every plane in its best mode.
template <class Log2 = rans::Log2Q8>
SQZ_HD uint64_t estimate_total(const uint32_t (*hist)[rans::kMaxSymbols], uint64_t n, uint32_t es,
                               const Log2& log2_of = Log2{}) {
  uint64_t total = 0;
  for (uint32_t p = 0; p < es; ++p) {
    PlaneMode m;
    total += plane_estimate(hist[p], n, &m, log2_of);
  }
  return total;
}

// Whether an integer frame codes its differences (kDeltaZigzag) rather than its values (kNone):
// only when the planes' estimate is strictly smaller (a tie keeps the values).
template <class Log2 = rans::Log2Q8>
SQZ_HD bool prefer_delta(const uint32_t (*none)[rans::kMaxSymbols],
                         const uint32_t (*delta)[rans::kMaxSymbols], uint64_t n, uint32_t es,
                         const Log2& log2_of = Log2{}) {
  return estimate_total(delta, n, es, log2_of) < estimate_total(none, n, es, log2_of);
}

// Every plane's mode from the chosen transform's histograms; false when even the estimate is
// not below the raw frame (the encoder then skips the planes pass and writes the raw frame).
template <class Log2 = rans::Log2Q8>
SQZ_HD bool choose_modes(const uint32_t (*hist)[rans::kMaxSymbols], uint64_t n, uint32_t es,
                         uint64_t tail, uint64_t src_bytes, PlaneMode* mode,
                         const Log2& log2_of = Log2{}) {
  uint64_t estimate = (uint64_t)kDirEntryBytes * es + tail;
  for (uint32_t p = 0; p < es; ++p) estimate += plane_estimate(hist[p], n, &mode[p], log2_of);
  return kFrameHeaderBytes + estimate < src_bytes;
}

// A rANS plane's table from its histogram: freq and cum of its n_sym symbols (returned).
SQZ_HD uint32_t rans_plane_table(const uint32_t* hist, uint32_t* freq, uint32_t* cum) {
  uint32_t n_sym = 0;
  for (uint32_t s = 0; s < rans::kMaxSymbols; ++s)
    if (hist[s] != 0) n_sym = s + 1;
  rans::make_table(hist, n_sym, freq, cum);
  return n_sym;
}

// Bytes of a rANS section before its first segment: the table, then a word count per segment.
SQZ_HD uint64_t rans_section_head(const uint32_t* freq, uint32_t n_sym, uint64_t n) {
  return rans::table_bytes(freq, n_sym) + 4ull * rans::segments_for(n);
}

// A plane's section bytes once its code is known (coded_bytes, for a rANS plane): a code that is
// not smaller than the plane itself is dropped and the plane goes raw.
SQZ_HD uint64_t settle_plane(PlaneMode* mode, uint64_t coded_bytes, uint64_t n) {
  if (*mode == PlaneMode::kRans && coded_bytes >= n) *mode = PlaneMode::kRaw;
  if (*mode == PlaneMode::kRans) return coded_bytes;
  return *mode == PlaneMode::kRaw ? n : 0;
}

// Where the directory ends and the first section begins.
SQZ_HD uint64_t directory_end(uint32_t es) {
  return kFrameHeaderBytes + (uint64_t)kDirEntryBytes * es;
}

// Whether a planes frame of frame_bytes beats the raw frame of src_bytes (it must be smaller).
SQZ_HD bool beats_raw(uint64_t frame_bytes, uint64_t src_bytes) {
  return frame_bytes < kFrameHeaderBytes + src_bytes;
}

SQZ_HD void write_dir_entry(uint8_t* e, PlaneMode mode, uint8_t value, uint64_t bytes) {
  e[0] = (uint8_t)mode;
  e[1] = mode == PlaneMode::kConst ? value : 0;
  e[2] = 0;
  e[3] = 0;
  block::store_le32(e + 4, (uint32_t)bytes);
}

// The header of a planes frame: the version 2 envelope as for a raw frame, then what differs
// (and the check again).
SQZ_HD void write_header(uint8_t dtype, uint64_t src_bytes, uint64_t frame_bytes, Transform t,
                         uint32_t es, uint8_t* dst) {
  staged::write_raw_header(dtype, 0, src_bytes, dst);
  dst[hdr::kMethod] = (uint8_t)FrameMethod::kPlanes;
  block::store_le64(dst + hdr::kFrameBytes, frame_bytes);
  dst[hdr3::kTransform] = (uint8_t)t;
  dst[hdr3::kPlanes] = (uint8_t)es;
  block::store_le32(dst + hdr::kHeaderCheck, block::fnv1a32(dst, (uint32_t)hdr::kHeaderCheck));
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

// Symbols of segment seg of a plane of n symbols.
SQZ_HD uint32_t segment_symbols(uint64_t n, uint32_t seg) {
  const uint64_t first = (uint64_t)seg * rans::kSegmentSymbols;
  return (uint32_t)(n - first < rans::kSegmentSymbols ? n - first : rans::kSegmentSymbols);
}

// A rANS plane section's head at *p (bounded by end): the table (into tables) and the word
// counts of its segments (*counts; *p then points at the first segment). The check that failed.
SQZ_HD staged::Reject rans_plane_head(const uint8_t** p, const uint8_t* end, uint64_t n,
                                      rans::Tables* tables, const uint8_t** counts) {
  if (!rans::read_table(p, end, tables)) return staged::Reject::kRansTable;
  const uint32_t n_seg = rans::segments_for(n);
  if ((uint64_t)(end - *p) < 4ull * n_seg) return staged::Reject::kRansStream;
  *counts = *p;
  *p += 4ull * n_seg;
  return staged::Reject::kNone;
}

// Whether segment seg (at p, its word count in counts) lies within [p, end); *n_words gets its
// word count.
SQZ_HD bool rans_segment_fits(const uint8_t* counts, uint32_t seg, const uint8_t* p,
                              const uint8_t* end, uint32_t* n_words) {
  *n_words = block::load_le32(counts + 4ull * seg);
  return (uint64_t)(end - p) >= rans::segment_bytes(*n_words);
}

// Decodes a rANS plane section into sym[0, n): table, word counts, segments; the check that failed
// when any part is malformed (reads stay within [sec, sec + bytes)). tables: scratch of the caller.
// decode_segment: rans::decode_segment's signature (a backend's SIMD version on the CPU). The
// CUDA decoder walks the same checks (planes_decode.h): a bad table is kRansTable, any other
// fault of the section kRansStream.
template <typename SegmentDecoder>
SQZ_HD staged::Reject decode_rans_plane(const uint8_t* sec, uint64_t bytes, uint64_t n,
                                        rans::Tables* tables, uint8_t* sym,
                                        SegmentDecoder decode_segment) {
  const uint8_t* p = sec;
  const uint8_t* end = sec + bytes;
  const uint8_t* counts = nullptr;
  const staged::Reject r = rans_plane_head(&p, end, n, tables, &counts);
  if (r != staged::Reject::kNone) return r;
  const uint32_t n_seg = rans::segments_for(n);
  for (uint32_t seg = 0; seg < n_seg; ++seg) {
    uint32_t n_words;
    if (!rans_segment_fits(counts, seg, p, end, &n_words)) return staged::Reject::kRansStream;
    if (!decode_segment(p, n_words, segment_symbols(n, seg), *tables,
                        sym + (uint64_t)seg * rans::kSegmentSymbols))
      return staged::Reject::kRansStream;
    p += rans::segment_bytes(n_words);
  }
  if (p != end) return staged::Reject::kRansStream;
  // A symbol outside the table cannot come out of decode_get (every slot maps to a table symbol).
  return staged::Reject::kNone;
}

}  // namespace squeeze::planes
