// Frame format constants, versions 1 and 2. docs/FORMAT.md is the normative description; this
// header is the single place the numbers live.
//
// All integers little-endian. A frame is:
//
//   offset size field
//   0      4    magic            'S' 'Q' 'Z' 'F'
//   4      1    version          1
//   5      1    method           FrameMethod
//   6      1    dtype            squeeze::DType
//   7      1    flags            bit 0: bound given as rel (informative only)
//   8      8    original_bytes   bytes the decoder writes
//   16     8    frame_bytes      total bytes of this frame, header included
//   24     4    step             float32 quantization step (0 for raw)
//   28     4    outlier_count    elements stored exactly
//   32     8    applied_bound    float64 absolute error bound (informative; 0 for raw)
//   40     2    block_elems      elements per block (32)
//   42     2    reserved         0
//   44     4    header_check     FNV-1a 32 over bytes [0, 44)
//   48          payload (method specific)
//
// kRaw payload: the original bytes.
// kBlockFixed payload, with n = original_bytes / elem_size elements, nb = ceil(n / block_elems):
//   widths[nb]              one byte per block: low 5 bits = code width w (0..kMaxCodeWidth),
//                           high 3 bits = block coding, 0 = fixed-length bit planes
//                           (other values reserved for the entropy and dedup stages)
//   planes                  per block, in order: w little-endian uint32 words; word j holds bit j
//                           of the zigzag code of element i at bit i (bit planes); a final
//                           partial block still writes full 32-bit words (missing elements
//                           have code 0)
//   outlier_index[count]    uint32, strictly increasing, < n
//   outlier_value[count]    the element's original bytes (elem_size each)
//   tail                    original_bytes % elem_size raw bytes
// The payload ends exactly at frame_bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace squeeze {

enum class FrameMethod : uint8_t {
  kRaw = 0,         // versions 1 and 2
  kBlockFixed = 1,  // version 1 only
  kStaged = 2,      // version 2 only: the stage pipeline (docs/FORMAT.md, "Version 2")
  kPlanes = 3,      // version 2 only: lossless byte planes (compress/methods/planes.h)
};

constexpr uint8_t kFrameMagic[4] = {'S', 'Q', 'Z', 'F'};
constexpr uint8_t kFrameVersion = 1;   // raw and block-fixed frames
constexpr uint8_t kFrameVersion2 = 2;  // raw and staged frames
constexpr uint32_t kBlockElems = 32;
constexpr uint32_t kMaxCodeWidth = 24;
// |q| above this is not quantized (float32 holds q exactly and the zigzag code fits 24 bits).
constexpr int32_t kMaxQuant = (1 << 22);
constexpr uint8_t kFlagRelBound = 0x1;

// ---- version 2 (staged frames) ----
// The header keeps the version 1 offsets of magic, version, method, dtype, flags,
// original_bytes, frame_bytes and header_check; bytes 24..43 are:
//   24 quant u8 (StagedQuant)   25 coder u8 (StagedCoder)   26 dedup u8 (StagedDedup)
//   27 reserved u8 = 0          28 step f32 (global quantizer; 0 otherwise)
//   32 applied_bound f64 (informative)   40 stream_unit u32 (dedup with history: the stream
//   position of the frame's first unit, modulo 2^32; 0 otherwise)
// then, after the 48 header bytes, a directory of kStagedSections u32 section lengths, in the
// order of StagedSection, and the sections back to back.
enum class StagedQuant : uint8_t { kGlobal = 1, kLocal = 2, kTable = 3 };
enum class StagedCoder : uint8_t { kFixed = 0, kRans = 1 };
enum class StagedDedup : uint8_t { kNone = 0, kFrame = 1, kHistory = 2 };
enum class StagedSection : uint8_t { kDedup = 0, kQuant = 1, kCodes = 2, kOutliers = 3, kTail = 4 };
constexpr uint32_t kStagedSections = 5;
constexpr size_t kStagedDirectoryBytes = 4 * kStagedSections;
// Elements per deduplication unit (64 bytes of f32): embedding dims are multiples of 16.
constexpr uint32_t kUnitElems = 16;
// Codes per group of the fixed coder (one bit-plane word per bit of width).
constexpr uint32_t kGroupCodes = 32;

namespace hdr2 {
constexpr size_t kQuant = 24, kCoder = 25, kDedup = 26, kReserved = 27, kStep = 28,
                 kAppliedBound = 32, kStreamUnit = 40;
}  // namespace hdr2

namespace hdr {
constexpr size_t kMagic = 0, kVersion = 4, kMethod = 5, kDType = 6, kFlags = 7, kOriginalBytes = 8,
                 kFrameBytes = 16, kStep = 24, kOutlierCount = 28, kAppliedBound = 32,
                 kBlockElems = 40, kReserved = 42, kHeaderCheck = 44;
}  // namespace hdr

}  // namespace squeeze
