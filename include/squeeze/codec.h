// libsqueeze: the error-bounded codec. No NCCL dependency; usable on its own.
//
// One call to compress() turns a byte range plus its datatype into one self-describing frame
// (docs/FORMAT.md). decompress() needs nothing but the frame: no policy, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>

#include "squeeze/hd.h"

namespace squeeze {

// Element type of the payload. Only the floats (kF32, kF16, kBF16) are ever compressed lossily;
// the integer types (NCCL's) and kBytes only losslessly (BoundMode::kLossless).
enum class DType : uint8_t {
  kBytes = 0,
  kF32 = 1,
  kF16 = 2,
  kBF16 = 3,
  kI8 = 4,
  kU8 = 5,
  kI32 = 6,
  kU32 = 7,
  kI64 = 8,
  kU64 = 9,
};

// kAbs: |x - x'| <= bound for every finite element.
// kRel: the absolute bound is bound * (max - min) over the finite elements of the frame.
// kLocal: each element within bound * (max - min) over the finite elements of its own block of 32
//   (elements [32k, 32k + 32) of the frame): a block of small values keeps its precision beside a
//   block of large ones. A constant block comes back exactly.
// kLossless: every element bit for bit, any dtype (byte planes and the entropy stage; the bound
//   is not used).
enum class BoundMode : uint8_t { kAbs = 0, kRel = 1, kLocal = 2, kLossless = 3 };

// What a decoder understands, as bits; the encoder uses nothing a receiver did not declare (the
// plugin negotiates them at connect). Version 1 decoders understand kCapV1 only.
enum Capability : uint32_t {
  kCapV1 = 1u << 0,          // version 1 frames: raw and block-fixed
  kCapStaged = 1u << 1,      // version 2 staged frames: global and local quantizers, fixed coder
  kCapRans = 1u << 2,        // the rANS entropy coder
  kCapDedup = 1u << 3,       // deduplication of repeated units within a frame
  kCapHistory = 1u << 4,     // references into earlier frames of a stream (StreamEncoder)
  kCapPlanes = 1u << 5,      // version 2 lossless byte-plane frames (BoundMode::kLossless)
  kCapTable = 1u << 6,       // the table quantizer: a bound per table of a row layout (RowLayout)
  kCapRowRecords = 1u << 7,  // local records shared by the blocks of a row's table vector
  kCapDedupStep = 1u << 8,   // dedup records counted in steps of several units (dedup.h)
  kCapRansLongSegments = 1u << 9,  // rANS segments of 32,768 symbols in staged frames (rans.h)
  kCapDedupGolomb = 1u << 10,      // dedup records' gap and length as Exp-Golomb codes (dedup.h)
  kCapPackedRecords = 1u << 11,    // local records at the frame's field widths (local_packed.h)
};
constexpr uint32_t kCapsAll = kCapV1 | kCapStaged | kCapRans | kCapDedup | kCapHistory |
                              kCapPlanes | kCapTable | kCapRowRecords | kCapDedupStep |
                              kCapRansLongSegments | kCapDedupGolomb | kCapPackedRecords;
// What only the CPU backend decodes: a GPU receiver declares kCapsAll & ~kCapsCpuOnly. (The
// CUDA backend decodes lossless planes frames and table quantizers too: compress/cuda/.)
constexpr uint32_t kCapsCpuOnly = kCapHistory;
// What a sender assumes of a receiver it cannot ask (Squeeze over an inner net plugin: no
// handshake): no stream history, and nothing a receiver of an earlier release would refuse
// (kCapDedupStep, kCapRansLongSegments, kCapDedupGolomb and kCapPackedRecords came after the
// inner transport).
constexpr uint32_t kCapsWithoutHandshake =
    kCapsAll &
    ~(kCapHistory | kCapDedupStep | kCapRansLongSegments | kCapDedupGolomb | kCapPackedRecords);

// The bound a TorchRec INT8 row-wise user has per value (range / 510 of the row), as a local
// bound: each value within 1/510 of its block's range, a block never wider than a row.
constexpr double kInt8MatchingLocalBound = 1.96e-3;
// The plugin's default bound (NCCL_SQUEEZE_BOUND, local mode): the fidelity study's rule at the
// issue's scale (docs/FIDELITY.md) picked local 1e-2 on both directions, each value within 1/100
// of its block's range. The library's CodecParams keep INT8 row-wise's precision by default.
constexpr double kPluginDefaultBound = 1e-2;

enum class Status : int {
  kOk = 0,
  kInvalidArgument,   // bad parameters (negative bound, null pointer with non-zero size, ...)
  kOutputTooSmall,    // destination capacity below what is needed
  kCorruptFrame,      // a field of the frame is inconsistent or out of range
  kTruncatedFrame,    // the frame is shorter than its header says
  kUnsupportedFrame,  // unknown magic, version or method
};

const char* status_string(Status s);
// "bytes", "f32", "f16", "bf16", "i8", "u8", "i32", "u32", "i64", "u64" ("?" for others).
const char* dtype_name(DType t);

// How the elements of a frame are laid out in rows: an all-to-all of pooled embeddings sends, to
// each peer, rows of row_elems values, each row the concatenation of n_tables tables' vectors
// (table k has table_cols[k] columns, in row order). start_col is the column of the frame's first
// element (a frame may begin anywhere in a row: NCCL cuts a message into steps).
//
// With a layout each table has its own bound (table_bounds[k], in the frame's mode; all equal to
// CodecParams::bound when table_bounds is null):
//   kRel    each element within bound_k x (max - min) of its own table's elements in the frame
//           (a table of small values keeps its precision beside one of large values);
//   kAbs    each element within bound_k;
//   kLocal  each element within bound_k x (max - min) of its block of 32, as without a layout; a
//           block that spans tables takes the smallest of their bounds. When every table's width
//           is a multiple of 32 r and the frame begins at a table boundary, r blocks of one row's
//           table vector share one record (r up to 8): with a vector of 128, one 3-byte record per
//           128 values, and each value within bound_k of its vector's range, INT8 row-wise's rule.
// Needs kCapTable (kRel, kAbs) or kCapRowRecords (kLocal, r > 1) in caps; without them the
// layout is ignored but for the bounds (the smallest applies to the whole frame).
struct RowLayout {
  uint32_t row_elems = 0;
  uint32_t start_col = 0;
  uint32_t n_tables = 0;
  const uint32_t* table_cols = nullptr;  // n_tables widths, summing to row_elems
  const double* table_bounds = nullptr;  // n_tables bounds (> 0), or null
};
// Limits of a layout (a frame carries it): columns per row and tables per row.
constexpr uint32_t kMaxRowElems = 1u << 20;
constexpr uint32_t kMaxTables = 4096;

struct CodecParams {
  DType dtype = DType::kF32;
  BoundMode mode = BoundMode::kLocal;
  double bound = kInt8MatchingLocalBound;
  uint32_t caps = kCapsAll;           // what the receiver decodes (Capability bits)
  const RowLayout* layout = nullptr;  // optional: the rows the data is made of
  // The rANS coder takes a lossy frame only when it saves at least rans_min_gain / 256 bits per
  // coded value over the fixed-length coder (besides 1/32 of its bytes): its time (encode plus
  // decode) costs about a nanosecond a value on a CPU core, which a link of a few Gbit/s sends
  // faster than the saving. 0: whenever it is smaller; >= 2048 (8 bits): never. The decoded
  // values are the same either way. The plugin sets it from the link's rate (ENTROPY).
  uint32_t rans_min_gain = 0;
};
// The rans_min_gain that asks for no rANS (gains above it mean the same).
constexpr uint32_t kRansGainNever = 4096;

// The SC'24 paper's table classes (its artifact's choice, which follows cardinality): a table of
// at least 10^5 rows keeps `bound` (tight), one of at most 10^3 rows gets 5x (loose), any other or
// one of unknown size (rows 0) 3x (base): the paper's 0.01 / 0.03 / 0.05 for a bound of 0.01.
double class_bound(uint64_t rows, double bound);

// The bound's factor at an iteration (the paper's iteration-wise bound, loose early): kConstant
// 1; kStep `start` at iteration 0, down by (start - 1) / 10 every early_iters / 10 iterations (the
// paper: 2.0, 1.9, ..., 1.1 over its first 65,536); kLinear from `start` down linearly; 1 from
// early_iters on.
enum class Schedule : uint8_t { kConstant = 0, kStep = 1, kLinear = 2 };
double schedule_factor(Schedule s, uint64_t iteration, uint64_t early_iters, double start);

// The bound every element of src[0, src_bytes) has under params when compressed into one frame:
// what its decoding must meet (0: bit for bit), one double per element. record_log2: the frame's
// local records (frame_record_log2), 0 when unknown or not local. For checks (NCCL_SQUEEZE_VERIFY,
// squeeze-bench); the encoder does not call it.
void element_bounds(const CodecParams& params, const void* src, size_t src_bytes,
                    uint32_t record_log2, double* out);
// Blocks per record (log2) of a local frame, 0 for any other frame or one that does not parse.
uint32_t frame_record_log2(const void* frame, size_t frame_bytes);

// Where a row layout can serve frames that start at unknown multiples of 4 KiB of a message whose
// first element begins a row (NCCL cuts a peer's message into parts at 4 KiB multiples and steps
// of multiples of 4 KiB): kTables when a row's bytes divide 4 KiB (every frame starts on a row;
// rel and abs need two tables or more to gain anything), kVectors in local mode when every table
// has one width whose bytes divide 4 KiB (every frame starts on a vector: that width as the
// layout), else kNone. The plugin's rule (NCCL_SQUEEZE_LAYOUT), and squeeze.frames'.
enum class LayoutPlacement : uint8_t { kNone = 0, kTables = 1, kVectors = 2 };
LayoutPlacement layout_placement(const uint32_t* table_cols, uint32_t n_tables, size_t elem_bytes,
                                 BoundMode mode);

// Whether a layout is usable: sizes within the limits, widths >= 1 summing to row_elems,
// start_col < row_elems, every bound > 0 and finite. compress() returns kInvalidArgument otherwise.
bool valid_layout(const RowLayout& layout);

// What one compress() call did; filled when a pointer is passed.
struct FrameStats {
  uint64_t input_bytes = 0;
  uint64_t frame_bytes = 0;
  uint64_t outliers = 0;           // elements stored exactly
  double applied_bound = 0.0;      // global quantizer: the absolute bound; local: the relative one;
                                   // 0 for raw frames
  uint8_t method = 0;              // FrameMethod actually used
  uint8_t version = 0;             // frame format version
  uint8_t coder = 0;               // staged frames: StagedCoder
  uint8_t quant = 0;               // staged frames: StagedQuant
  uint64_t ref_units = 0;          // units sent as references (dedup)
  uint64_t history_ref_units = 0;  // of which into earlier frames of the stream
  uint64_t units = 0;              // units of the frame (16 elements)
  uint64_t code_bytes = 0;         // size of the codes section
  uint64_t quant_bytes = 0;        // size of the quantizer section (local: block records)
  uint64_t dedup_bytes = 0;        // size of the dedup section (references)
  uint64_t outlier_bytes = 0;      // size of the outlier section
};

// Bytes of the fixed frame header; a frame is never larger than this plus the input.
constexpr size_t kFrameHeaderBytes = 48;

// Capacity that always suffices for compress() of input_bytes: a frame that would not be smaller
// than the data is stored raw.
constexpr size_t max_frame_bytes(size_t input_bytes) {
  return kFrameHeaderBytes + input_bytes;
}

// Compress src[0, src_bytes) into dst. dst_capacity must be at least max_frame_bytes(src_bytes).
// src needs no alignment and src_bytes need not be a multiple of the element size.
// Deterministic: the same input and parameters always give the same bytes (on every backend).
Status compress(const CodecParams& params, const void* src, size_t src_bytes, void* dst,
                size_t dst_capacity, size_t* frame_bytes, FrameStats* stats = nullptr);

// Decode one frame into dst. Validates every field; never reads past frame[frame_bytes) nor
// writes past dst[dst_capacity). *out_bytes receives the original byte count.
Status decompress(const void* frame, size_t frame_bytes, void* dst, size_t dst_capacity,
                  size_t* out_bytes);

// Reads and validates the header only (cheap): original size, method, dtype, bound.
struct FrameInfo {
  uint64_t original_bytes = 0;
  uint64_t frame_bytes = 0;
  uint8_t method = 0;
  uint8_t version = 0;
  DType dtype = DType::kBytes;
  double applied_bound = 0.0;
  uint32_t outliers = 0;  // version 1 only (version 2 keeps the count in its outlier section)
  uint8_t quant = 0;      // version 2 staged frames
  uint8_t coder = 0;
  uint8_t dedup = 0;
};
Status read_frame_info(const void* frame, size_t frame_bytes, FrameInfo* info);

// Why the last decompress()/read_frame_info() on this thread rejected a frame: the name of the
// check that failed ("rANS stream", "dedup runs", ...), or "none".
const char* last_reject_reason();

// Frames of one stream (one connection, in order) may refer to units of earlier frames of the
// same stream (kCapHistory). A StreamEncoder keeps the originals of its last window_bytes of
// compressed input and a StreamDecoder what it decoded; both must see the same frames in the
// same order (every frame compress() produced goes through the decoder's decompress()). Without
// kCapHistory in the parameters, a frame refers to nothing outside itself.
class StreamEncoder {
 public:
  explicit StreamEncoder(size_t window_bytes = kDefaultWindowBytes);
  ~StreamEncoder();
  StreamEncoder(const StreamEncoder&) = delete;
  StreamEncoder& operator=(const StreamEncoder&) = delete;
  Status compress(const CodecParams& params, const void* src, size_t src_bytes, void* dst,
                  size_t dst_capacity, size_t* frame_bytes, FrameStats* stats = nullptr);
  static constexpr size_t kDefaultWindowBytes = size_t{1} << 20;
  struct State;

 private:
  State* state_;
};

class StreamDecoder {
 public:
  explicit StreamDecoder(size_t window_bytes = StreamEncoder::kDefaultWindowBytes);
  ~StreamDecoder();
  StreamDecoder(const StreamDecoder&) = delete;
  StreamDecoder& operator=(const StreamDecoder&) = delete;
  Status decompress(const void* frame, size_t frame_bytes, void* dst, size_t dst_capacity,
                    size_t* out_bytes);
  struct State;

 private:
  State* state_;
};

// Size in bytes of one element of dtype (1 for kBytes).
SQZ_HD constexpr size_t dtype_size(DType t) {
  return (t == DType::kF32 || t == DType::kI32 || t == DType::kU32) ? 4
         : (t == DType::kI64 || t == DType::kU64)                   ? 8
         : (t == DType::kF16 || t == DType::kBF16)                  ? 2
                                                                    : 1;
}

// Which SIMD kernel set the CPU backend dispatched to at runtime ("avx2", "scalar").
const char* cpu_backend_name();

}  // namespace squeeze
