// Frame-level helpers shared by the CPU and CUDA backends (SQZ_HD, no std:: containers):
// little-endian loads and stores, the header's FNV-1a check, header serialization and
// validation, the kBlockFixed payload layout, and the bit-plane packing of one 32-element block.
//
// Validation here is the decoder's first line of defence: every function that reads a frame is
// given the frame's true size and never reads outside it, and all size arithmetic is done in
// uint64_t with explicit bounds checks before any sum that could wrap.
#pragma once

#include <cstdint>

#include "compress/quant.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::block {

// ---- little-endian access (byte by byte: unaligned and endian-independent) ----

SQZ_HD uint16_t load_le16(const uint8_t* p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
SQZ_HD uint32_t load_le32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
SQZ_HD uint64_t load_le64(const uint8_t* p) {
  return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}
SQZ_HD void store_le16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
SQZ_HD void store_le32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
SQZ_HD void store_le64(uint8_t* p, uint64_t v) {
  store_le32(p, (uint32_t)v);
  store_le32(p + 4, (uint32_t)(v >> 32));
}

SQZ_HD double bits_to_double(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)u);
#else
  double d;
  __builtin_memcpy(&d, &u, 8);
  return d;
#endif
}
SQZ_HD uint64_t double_to_bits(double d) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)__double_as_longlong(d);
#else
  uint64_t u;
  __builtin_memcpy(&u, &d, 8);
  return u;
#endif
}

// FNV-1a, 32 bit, over p[0, n).
SQZ_HD uint32_t fnv1a32(const uint8_t* p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

// ---- header ----

struct FrameHeader {
  uint8_t method = 0;
  uint8_t dtype = 0;
  uint8_t flags = 0;
  uint64_t original_bytes = 0;
  uint64_t frame_bytes = 0;
  float step = 0.0f;
  uint32_t outlier_count = 0;
  double applied_bound = 0.0;
  uint16_t block_elems = (uint16_t)kBlockElems;
};

// Largest element count a kBlockFixed frame may hold: outlier indices are uint32.
constexpr uint64_t kMaxBlockFixedElems = 0xffffffffull;

// Scalar copies of the magic: CUDA device code cannot index a host constexpr array.
constexpr uint8_t kMagic0 = kFrameMagic[0], kMagic1 = kFrameMagic[1], kMagic2 = kFrameMagic[2],
                  kMagic3 = kFrameMagic[3];

// Writes the 48 header bytes, reserved field 0 and the FNV-1a check included.
SQZ_HD void write_header(const FrameHeader& h, uint8_t* out) {
  out[hdr::kMagic + 0] = kMagic0;
  out[hdr::kMagic + 1] = kMagic1;
  out[hdr::kMagic + 2] = kMagic2;
  out[hdr::kMagic + 3] = kMagic3;
  out[hdr::kVersion] = kFrameVersion;
  out[hdr::kMethod] = h.method;
  out[hdr::kDType] = h.dtype;
  out[hdr::kFlags] = h.flags;
  store_le64(out + hdr::kOriginalBytes, h.original_bytes);
  store_le64(out + hdr::kFrameBytes, h.frame_bytes);
  store_le32(out + hdr::kStep, quant::float_to_bits(h.step));
  store_le32(out + hdr::kOutlierCount, h.outlier_count);
  store_le64(out + hdr::kAppliedBound, double_to_bits(h.applied_bound));
  store_le16(out + hdr::kBlockElems, h.block_elems);
  store_le16(out + hdr::kReserved, 0);
  store_le32(out + hdr::kHeaderCheck, fnv1a32(out, (uint32_t)hdr::kHeaderCheck));
}

SQZ_HD uint64_t dtype_bytes(uint8_t dtype) {
  return dtype_size((DType)dtype);
}

SQZ_HD bool is_float_dtype(uint8_t dtype) {
  return dtype == (uint8_t)DType::kF32 || dtype == (uint8_t)DType::kF16 ||
         dtype == (uint8_t)DType::kBF16;
}

// Parses and validates everything the header alone can tell, for a frame buffer of exactly
// frame_bytes bytes. On success *h holds the fields. Payload checks that need the block widths
// are done by block_fixed_layout().
SQZ_HD Status parse_header(const uint8_t* frame, uint64_t frame_bytes, FrameHeader* h) {
  if (frame_bytes < kFrameHeaderBytes) return Status::kTruncatedFrame;
  if (frame[0] != kMagic0 || frame[1] != kMagic1 || frame[2] != kMagic2 || frame[3] != kMagic3)
    return Status::kUnsupportedFrame;
  if (frame[hdr::kVersion] != kFrameVersion) return Status::kUnsupportedFrame;
  if (load_le32(frame + hdr::kHeaderCheck) != fnv1a32(frame, (uint32_t)hdr::kHeaderCheck))
    return Status::kCorruptFrame;
  h->method = frame[hdr::kMethod];
  h->dtype = frame[hdr::kDType];
  h->flags = frame[hdr::kFlags];
  h->original_bytes = load_le64(frame + hdr::kOriginalBytes);
  h->frame_bytes = load_le64(frame + hdr::kFrameBytes);
  uint32_t step_bits = load_le32(frame + hdr::kStep);
  h->step = quant::bits_to_float(step_bits);
  h->outlier_count = load_le32(frame + hdr::kOutlierCount);
  uint64_t bound_bits = load_le64(frame + hdr::kAppliedBound);
  h->applied_bound = bits_to_double(bound_bits);
  h->block_elems = load_le16(frame + hdr::kBlockElems);

  if (h->method != (uint8_t)FrameMethod::kRaw && h->method != (uint8_t)FrameMethod::kBlockFixed)
    return Status::kUnsupportedFrame;
  if (h->dtype > (uint8_t)DType::kBF16) return Status::kCorruptFrame;
  if ((h->flags & ~kFlagRelBound) != 0) return Status::kCorruptFrame;
  if (load_le16(frame + hdr::kReserved) != 0) return Status::kCorruptFrame;
  if (h->block_elems != kBlockElems) return Status::kCorruptFrame;
  // The size in the header must equal the buffer handed in: one frame, nothing around it.
  if (h->frame_bytes > frame_bytes) return Status::kTruncatedFrame;
  if (h->frame_bytes < frame_bytes) return Status::kCorruptFrame;

  const uint64_t payload = frame_bytes - kFrameHeaderBytes;
  if (h->method == (uint8_t)FrameMethod::kRaw) {
    if (step_bits != 0 || h->outlier_count != 0 || bound_bits != 0) return Status::kCorruptFrame;
    if (h->original_bytes != payload) return Status::kCorruptFrame;
    return Status::kOk;
  }

  // kBlockFixed
  if (!is_float_dtype(h->dtype)) return Status::kCorruptFrame;
  // step: a positive, normal, finite float (what make_quant_params produces)
  if (!(h->step >= 1.17549435e-38f) || !(h->step <= 3.40282347e38f)) return Status::kCorruptFrame;
  if (!(h->applied_bound > 0.0) || !(h->applied_bound <= 1.7976931348623157e308))
    return Status::kCorruptFrame;
  const uint64_t es = dtype_bytes(h->dtype);
  const uint64_t n = h->original_bytes / es;
  const uint64_t tail = h->original_bytes % es;
  if (n == 0 || n > kMaxBlockFixedElems) return Status::kCorruptFrame;
  if (h->outlier_count > n) return Status::kCorruptFrame;
  // Everything but the planes must fit: n_blocks + outliers * (4 + es) + tail <= payload.
  // n <= 2^32 and outlier_count < 2^32, so none of these sums can wrap in 64 bits.
  const uint64_t n_blocks = (n + kBlockElems - 1) / kBlockElems;
  const uint64_t fixed = n_blocks + (uint64_t)h->outlier_count * (4 + es) + tail;
  if (fixed > payload) return Status::kCorruptFrame;
  const uint64_t plane_bytes = payload - fixed;
  if (plane_bytes % 4 != 0 || plane_bytes / 4 > n_blocks * kMaxCodeWidth)
    return Status::kCorruptFrame;
  return Status::kOk;
}

// ---- kBlockFixed payload layout ----

struct BlockFixedLayout {
  uint64_t n_elems = 0;
  uint64_t n_blocks = 0;
  uint64_t elem_size = 0;
  uint64_t tail_bytes = 0;
  uint64_t widths_offset = 0;  // from the frame start
  uint64_t planes_offset = 0;
  uint64_t outlier_index_offset = 0;
  uint64_t outlier_value_offset = 0;
  uint64_t tail_offset = 0;
  uint64_t sum_widths = 0;
};

// Width byte of a block: low 5 bits code width, high 3 bits block coding (0 = bit planes).
constexpr uint8_t kWidthMask = 0x1f;
constexpr uint8_t kBlockCodingMask = 0xe0;

// Validates every width byte of a kBlockFixed frame (whose header passed parse_header) and
// computes the offsets of the payload sections. The payload must end exactly at frame_bytes.
SQZ_HD Status block_fixed_layout(const FrameHeader& h, const uint8_t* frame, BlockFixedLayout* l) {
  l->elem_size = dtype_bytes(h.dtype);
  l->n_elems = h.original_bytes / l->elem_size;
  l->tail_bytes = h.original_bytes % l->elem_size;
  l->n_blocks = (l->n_elems + kBlockElems - 1) / kBlockElems;
  l->widths_offset = kFrameHeaderBytes;
  uint64_t sum = 0;
  const uint8_t* widths = frame + l->widths_offset;
  for (uint64_t b = 0; b < l->n_blocks; ++b) {
    const uint8_t w = widths[b];
    if ((w & kBlockCodingMask) != 0 || w > kMaxCodeWidth) return Status::kCorruptFrame;
    sum += w;
  }
  l->sum_widths = sum;
  l->planes_offset = l->widths_offset + l->n_blocks;
  l->outlier_index_offset = l->planes_offset + 4 * sum;
  l->outlier_value_offset = l->outlier_index_offset + 4 * (uint64_t)h.outlier_count;
  l->tail_offset = l->outlier_value_offset + l->elem_size * (uint64_t)h.outlier_count;
  // parse_header bounded n_blocks, the outliers and the tail by the frame size, and sum is at
  // most 24 * n_blocks, so these offsets cannot have wrapped.
  if (l->tail_offset + l->tail_bytes != h.frame_bytes) return Status::kCorruptFrame;
  return Status::kOk;
}

// Outlier indices: uint32 little-endian, strictly increasing, each < n.
SQZ_HD Status check_outlier_indices(const uint8_t* idx, uint32_t count, uint64_t n) {
  uint64_t prev = 0;
  for (uint32_t k = 0; k < count; ++k) {
    const uint64_t i = load_le32(idx + 4 * (uint64_t)k);
    if (i >= n || (k > 0 && i <= prev)) return Status::kCorruptFrame;
    prev = i;
  }
  return Status::kOk;
}

// ---- one block of 32 codes <-> bit planes ----

// Width of a block: bits needed for the OR of its zigzag codes.
SQZ_HD uint32_t block_width(const uint32_t* codes) {
  uint32_t acc = 0;
  for (uint32_t i = 0; i < kBlockElems; ++i) acc |= codes[i];
  return quant::code_width(acc);
}

// Writes `width` little-endian words; word j holds bit j of codes[i] at bit i.
SQZ_HD void pack_planes(const uint32_t* codes, uint32_t width, uint8_t* out) {
  for (uint32_t j = 0; j < width; ++j) {
    uint32_t word = 0;
    for (uint32_t i = 0; i < kBlockElems; ++i) word |= ((codes[i] >> j) & 1u) << i;
    store_le32(out + 4 * j, word);
  }
}

// Inverse of pack_planes: codes[0..31] from `width` words (codes are 0 above the width).
SQZ_HD void unpack_planes(const uint8_t* in, uint32_t width, uint32_t* codes) {
  for (uint32_t i = 0; i < kBlockElems; ++i) codes[i] = 0;
  for (uint32_t j = 0; j < width; ++j) {
    const uint32_t word = load_le32(in + 4 * j);
    for (uint32_t i = 0; i < kBlockElems; ++i) codes[i] |= ((word >> i) & 1u) << j;
  }
}

// ---- element values ----

// v rounded to the element type (nearest even), as the element's little-endian bytes.
template <DType kType>
SQZ_HD void store_element(uint8_t* out, float v) {
  if (kType == DType::kF32) {
    store_le32(out, quant::float_to_bits(v));
  } else if (kType == DType::kF16) {
    store_le16(out, quant::float_to_half_rn(v));
  } else {
    store_le16(out, quant::float_to_bf16_rn(v));
  }
}

// The value the decoder writes for code q, as the element's little-endian bytes.
template <DType kType>
SQZ_HD void store_decoded(int32_t q, float step, uint8_t* out) {
  store_element<kType>(out, quant::reconstruct_f32(q, step));
}

// The element at p widened to float (exact for f16 and bf16).
template <DType kType>
SQZ_HD float load_element(const uint8_t* p) {
  if (kType == DType::kF32) return quant::bits_to_float(load_le32(p));
  if (kType == DType::kF16) return quant::half_to_float(load_le16(p));
  return quant::bf16_to_float(load_le16(p));
}

// Element i of a buffer of float dtype t (f32, f16, bf16) widened to float (exact), for callers
// that know the dtype only at run time (checkers of the bound).
SQZ_HD float element_at(DType t, const uint8_t* base, uint64_t i) {
  if (t == DType::kF32) return load_element<DType::kF32>(base + 4 * i);
  if (t == DType::kF16) return load_element<DType::kF16>(base + 2 * i);
  return load_element<DType::kBF16>(base + 2 * i);
}

}  // namespace squeeze::block
