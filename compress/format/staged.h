// The version 2 ("staged") frame: header, section directory and the geometry both derive, read
// and written by one set of SQZ_HD functions that the CPU backend, the CUDA kernels and the CPU
// runner of those kernels all call. docs/FORMAT.md ("Version 2") is the normative description,
// include/squeeze/format.h holds the numbers.
//
// parse() is the first line of defence: it validates every header field and that the section
// lengths tile the frame exactly; each section's contents are validated by its stage (dedup.h,
// local.h, rans.h, the fixed coder) before anything is written.
#pragma once

#include <cstdint>

#include "compress/block.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"
#include "squeeze/hd.h"

namespace squeeze::staged {

// Most elements a staged frame may hold: element indices are stored as u32.
constexpr uint64_t kMaxElems = 0xffffffffull;

struct Header {
  uint8_t dtype = 0;
  uint8_t flags = 0;
  uint64_t original_bytes = 0;
  uint64_t frame_bytes = 0;
  uint8_t quant = 0;  // StagedQuant
  uint8_t coder = 0;  // StagedCoder
  uint8_t dedup = 0;  // StagedDedup
  float step = 0.0f;  // StagedQuant::kGlobal only
  double applied_bound = 0.0;
  uint32_t stream_unit = 0;  // StagedDedup::kHistory only
  uint32_t section[kStagedSections] = {};
};

// What the header implies about the data: element, unit and block counts.
struct Geometry {
  uint64_t es = 0;            // element size
  uint64_t n = 0;             // elements
  uint64_t tail = 0;          // bytes after the last whole element
  uint64_t n_units = 0;       // ceil(n / kUnitElems)
  uint64_t n_full_units = 0;  // n / kUnitElems: only these may be deduplicated
  uint64_t n_blocks = 0;      // ceil(n / kBlockElems)
};

SQZ_HD Geometry geometry(uint8_t dtype, uint64_t original_bytes) {
  Geometry g;
  g.es = block::dtype_bytes(dtype);
  g.n = original_bytes / g.es;
  g.tail = original_bytes % g.es;
  g.n_units = (g.n + kUnitElems - 1) / kUnitElems;
  g.n_full_units = g.n / kUnitElems;
  g.n_blocks = (g.n + kBlockElems - 1) / kBlockElems;
  return g;
}

constexpr uint64_t kPayloadOffset = kFrameHeaderBytes + kStagedDirectoryBytes;

// Offset of section s from the frame start.
SQZ_HD uint64_t section_offset(const Header& h, StagedSection s) {
  uint64_t off = kPayloadOffset;
  for (uint32_t k = 0; k < (uint32_t)s; ++k) off += h.section[k];
  return off;
}

SQZ_HD uint64_t frame_size(const Header& h) {
  return section_offset(h, (StagedSection)kStagedSections);
}

// Writes the 48 header bytes (check included) and the section directory.
SQZ_HD void write(const Header& h, uint8_t* out) {
  out[hdr::kMagic + 0] = block::kMagic0;
  out[hdr::kMagic + 1] = block::kMagic1;
  out[hdr::kMagic + 2] = block::kMagic2;
  out[hdr::kMagic + 3] = block::kMagic3;
  out[hdr::kVersion] = kFrameVersion2;
  out[hdr::kMethod] = (uint8_t)FrameMethod::kStaged;
  out[hdr::kDType] = h.dtype;
  out[hdr::kFlags] = h.flags;
  block::store_le64(out + hdr::kOriginalBytes, h.original_bytes);
  block::store_le64(out + hdr::kFrameBytes, h.frame_bytes);
  out[hdr2::kQuant] = h.quant;
  out[hdr2::kCoder] = h.coder;
  out[hdr2::kDedup] = h.dedup;
  out[hdr2::kReserved] = 0;
  block::store_le32(out + hdr2::kStep, quant::float_to_bits(h.step));
  block::store_le64(out + hdr2::kAppliedBound, block::double_to_bits(h.applied_bound));
  block::store_le32(out + hdr2::kStreamUnit, h.stream_unit);
  block::store_le32(out + hdr::kHeaderCheck, block::fnv1a32(out, (uint32_t)hdr::kHeaderCheck));
  for (uint32_t k = 0; k < kStagedSections; ++k)
    block::store_le32(out + kFrameHeaderBytes + 4 * k, h.section[k]);
}

// Version 2 raw frame header (method 0): the original bytes follow. Same validation rules as
// version 1's raw frame; bytes 24..43 are zero.
SQZ_HD void write_raw_header(uint8_t dtype, uint8_t flags, uint64_t original_bytes, uint8_t* out) {
  for (uint32_t k = 0; k < kFrameHeaderBytes; ++k) out[k] = 0;
  out[hdr::kMagic + 0] = block::kMagic0;
  out[hdr::kMagic + 1] = block::kMagic1;
  out[hdr::kMagic + 2] = block::kMagic2;
  out[hdr::kMagic + 3] = block::kMagic3;
  out[hdr::kVersion] = kFrameVersion2;
  out[hdr::kMethod] = (uint8_t)FrameMethod::kRaw;
  out[hdr::kDType] = dtype;
  out[hdr::kFlags] = flags;
  block::store_le64(out + hdr::kOriginalBytes, original_bytes);
  block::store_le64(out + hdr::kFrameBytes, kFrameHeaderBytes + original_bytes);
  block::store_le32(out + hdr::kHeaderCheck, block::fnv1a32(out, (uint32_t)hdr::kHeaderCheck));
}

// The dtype a raw frame carries: integer dtypes exist in version 2 frames to decoders that
// declare kCapPlanes only; every other receiver (a version 1 frame included, whatever the caps
// say about planes) gets kBytes (the bytes are the same).
SQZ_HD uint8_t raw_dtype(uint8_t dtype, uint32_t caps) {
  const bool knows_integers = (caps & kCapPlanes) != 0 && (caps & kCapStaged) != 0;
  return !knows_integers && dtype >= (uint8_t)DType::kI8 ? (uint8_t)DType::kBytes : dtype;
}

// The flags of a raw frame: the relative-bound flag for the modes whose bound is relative (a
// version 1 frame knows only kRel).
SQZ_HD uint8_t raw_flags(BoundMode mode, bool version2) {
  const bool rel = mode == BoundMode::kRel || (version2 && mode == BoundMode::kLocal);
  return rel ? kFlagRelBound : 0;
}

// Which check rejected a frame: every failure of parse() and of the stage validators names one,
// so that a rejected frame says why (last_reject_reason()).
enum class Reject : uint8_t {
  kNone = 0,
  kTooShort,
  kMagic,
  kVersion,
  kHeaderCheck,
  kMethod,
  kDType,
  kFlags,
  kReservedBits,
  kSizeMismatch,
  kRawFields,
  kStageIds,
  kStep,
  kBound,
  kElementCount,
  kDirectory,
  kDedupRuns,
  kDedupSource,
  kHistory,
  kQuantParams,
  kCodes,
  kRansTable,
  kRansStream,
  kOutliers,
  kTail,
  kOutputTooSmall,
  kPlaneFields,
  kPlaneDirectory,
  kCount
};

SQZ_HD const char* reject_name(Reject r) {
  switch (r) {
    case Reject::kNone:
      return "none";
    case Reject::kTooShort:
      return "truncated (shorter than a header, or than its frame_bytes)";
    case Reject::kMagic:
      return "magic";
    case Reject::kVersion:
      return "version";
    case Reject::kHeaderCheck:
      return "header check";
    case Reject::kMethod:
      return "method";
    case Reject::kDType:
      return "dtype";
    case Reject::kFlags:
      return "flag bits";
    case Reject::kReservedBits:
      return "reserved bytes";
    case Reject::kSizeMismatch:
      return "frame_bytes against the buffer size";
    case Reject::kRawFields:
      return "raw frame fields";
    case Reject::kStageIds:
      return "stage ids (quant, coder, dedup)";
    case Reject::kStep:
      return "step";
    case Reject::kBound:
      return "applied bound";
    case Reject::kElementCount:
      return "element count";
    case Reject::kDirectory:
      return "section directory";
    case Reject::kDedupRuns:
      return "dedup runs";
    case Reject::kDedupSource:
      return "dedup source units";
    case Reject::kHistory:
      return "history (stream position or window)";
    case Reject::kQuantParams:
      return "quantizer parameters";
    case Reject::kCodes:
      return "codes section";
    case Reject::kRansTable:
      return "rANS frequency table";
    case Reject::kRansStream:
      return "rANS stream";
    case Reject::kOutliers:
      return "outliers";
    case Reject::kTail:
      return "tail";
    case Reject::kOutputTooSmall:
      return "destination capacity";
    case Reject::kPlaneFields:
      return "planes header fields (transform, plane count, reserved bytes)";
    case Reject::kPlaneDirectory:
      return "plane directory";
    default:
      return "?";
  }
}

// Status a rejection maps to (the codec API's error codes).
SQZ_HD Status reject_status(Reject r) {
  switch (r) {
    case Reject::kNone:
      return Status::kOk;
    case Reject::kTooShort:
      return Status::kTruncatedFrame;
    case Reject::kMagic:
    case Reject::kVersion:
    case Reject::kMethod:
      return Status::kUnsupportedFrame;
    case Reject::kOutputTooSmall:
      return Status::kOutputTooSmall;
    default:
      return Status::kCorruptFrame;
  }
}

// The checks every version shares: size, magic, a known version, the header check.
SQZ_HD Reject check_envelope(const uint8_t* frame, uint64_t frame_bytes) {
  if (frame_bytes < kFrameHeaderBytes) return Reject::kTooShort;
  if (frame[0] != block::kMagic0 || frame[1] != block::kMagic1 || frame[2] != block::kMagic2 ||
      frame[3] != block::kMagic3)
    return Reject::kMagic;
  if (frame[hdr::kVersion] != kFrameVersion && frame[hdr::kVersion] != kFrameVersion2)
    return Reject::kVersion;
  if (block::load_le32(frame + hdr::kHeaderCheck) !=
      block::fnv1a32(frame, (uint32_t)hdr::kHeaderCheck))
    return Reject::kHeaderCheck;
  return Reject::kNone;
}

// Parses and validates the header and directory of a version 2 frame of exactly frame_bytes
// bytes (version and magic already known to be right, the header check too). Sets h.
SQZ_HD Reject parse(const uint8_t* frame, uint64_t frame_bytes, Header* h) {
  if (frame_bytes < kFrameHeaderBytes) return Reject::kTooShort;
  const uint8_t method = frame[hdr::kMethod];
  h->dtype = frame[hdr::kDType];
  h->flags = frame[hdr::kFlags];
  h->original_bytes = block::load_le64(frame + hdr::kOriginalBytes);
  h->frame_bytes = block::load_le64(frame + hdr::kFrameBytes);
  if (h->dtype > (uint8_t)DType::kU64) return Reject::kDType;
  if ((h->flags & ~kFlagRelBound) != 0) return Reject::kFlags;
  if (h->frame_bytes > frame_bytes) return Reject::kTooShort;
  if (h->frame_bytes < frame_bytes) return Reject::kSizeMismatch;
  if (method == (uint8_t)FrameMethod::kRaw) {
    for (uint32_t k = 24; k < hdr::kHeaderCheck; ++k)
      if (frame[k] != 0) return Reject::kRawFields;
    if (h->original_bytes != frame_bytes - kFrameHeaderBytes) return Reject::kRawFields;
    return Reject::kNone;
  }
  if (method != (uint8_t)FrameMethod::kStaged) return Reject::kMethod;
  if (frame_bytes < kPayloadOffset) return Reject::kTooShort;
  h->quant = frame[hdr2::kQuant];
  h->coder = frame[hdr2::kCoder];
  h->dedup = frame[hdr2::kDedup];
  if (frame[hdr2::kReserved] != 0) return Reject::kReservedBits;
  const uint32_t step_bits = block::load_le32(frame + hdr2::kStep);
  h->step = quant::bits_to_float(step_bits);
  const uint64_t bound_bits = block::load_le64(frame + hdr2::kAppliedBound);
  h->applied_bound = block::bits_to_double(bound_bits);
  h->stream_unit = block::load_le32(frame + hdr2::kStreamUnit);
  if (!block::is_float_dtype(h->dtype)) return Reject::kDType;
  if (h->quant < (uint8_t)StagedQuant::kGlobal || h->quant > (uint8_t)StagedQuant::kTable ||
      h->coder > (uint8_t)StagedCoder::kRans || h->dedup > (uint8_t)StagedDedup::kHistory)
    return Reject::kStageIds;
  if (h->quant == (uint8_t)StagedQuant::kGlobal) {
    if (!(h->step >= 1.17549435e-38f) || !(h->step <= 3.40282347e38f)) return Reject::kStep;
  } else if (step_bits != 0) {
    return Reject::kStep;
  }
  if (!(h->applied_bound > 0.0) || !(h->applied_bound <= 1.7976931348623157e308))
    return Reject::kBound;
  if (h->dedup != (uint8_t)StagedDedup::kHistory && h->stream_unit != 0) return Reject::kHistory;
  const Geometry g = geometry(h->dtype, h->original_bytes);
  if (g.n == 0 || g.n > kMaxElems) return Reject::kElementCount;
  // The sections tile the payload exactly (sum in 64 bits: five u32 values cannot wrap it).
  uint64_t sum = kPayloadOffset;
  for (uint32_t k = 0; k < kStagedSections; ++k) {
    h->section[k] = block::load_le32(frame + kFrameHeaderBytes + 4 * k);
    sum += h->section[k];
  }
  if (sum != frame_bytes) return Reject::kDirectory;
  if (h->dedup == (uint8_t)StagedDedup::kNone && h->section[(int)StagedSection::kDedup] != 0)
    return Reject::kDirectory;
  if (h->section[(int)StagedSection::kTail] != g.tail) return Reject::kTail;
  return Reject::kNone;
}

}  // namespace squeeze::staged
