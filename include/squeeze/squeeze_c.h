/* libsqueeze_c: the codec (include/squeeze/codec.h) behind a plain C API, built as a shared
 * library (compress/capi/) for bindings such as python/squeeze/codec.py (ctypes).
 *
 * Every function returns a status code (SQUEEZE_C_OK = 0) or a value, never aborts and never
 * throws; a null pointer where an object is required gives SQUEEZE_C_INVALID_ARGUMENT. The only
 * dynamic symbols of the library are the functions below (compress/capi/exports.map).
 *
 * The frames are the plugin's (docs/FORMAT.md): what squeeze_compress writes for a byte range is
 * byte for byte what the plugin sends for the same bytes and parameters, and squeeze_decompress
 * reads any frame the plugin sends (stream frames need the stream decoder, below).
 *
 * Thread safety: the stateless functions may be called from any number of threads at once; a
 * stream encoder or decoder is used by one thread at a time. */
#ifndef SQUEEZE_SQUEEZE_C_H_
#define SQUEEZE_SQUEEZE_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this C API; grows when functions, fields or capability bits are added (existing ones
 * never change). 2: the row layout in squeeze_c_params; 3: SQUEEZE_C_CAP_DEDUP_STEP (a library
 * refuses capability bits it does not know: SQUEEZE_C_CAPS_ALL of a newer header included);
 * 4: SQUEEZE_C_CAP_RANS_LONG_SEGMENTS; 5: SQUEEZE_C_CAP_DEDUP_GOLOMB;
 * 6: SQUEEZE_C_CAP_PACKED_RECORDS. */
#define SQUEEZE_C_API_VERSION 6

/* Status codes: the codec's (squeeze::Status) then the C API's own. */
enum squeeze_c_status {
  SQUEEZE_C_OK = 0,
  SQUEEZE_C_INVALID_ARGUMENT = 1,  /* bad parameters (negative bound, null pointer, ...) */
  SQUEEZE_C_OUTPUT_TOO_SMALL = 2,  /* destination capacity below what is needed */
  SQUEEZE_C_CORRUPT_FRAME = 3,     /* a field of the frame is inconsistent or out of range */
  SQUEEZE_C_TRUNCATED_FRAME = 4,   /* the frame is shorter than its header says */
  SQUEEZE_C_UNSUPPORTED_FRAME = 5, /* unknown magic, version or method */
  SQUEEZE_C_OUT_OF_MEMORY = 100,   /* an allocation failed */
  SQUEEZE_C_INTERNAL_ERROR = 101   /* anything else the codec reported by an exception */
};

/* Element types (squeeze::DType). Only F32, F16 and BF16 are ever lossy; the others are
 * bit-exact (compressed only in the LOSSLESS mode). */
enum squeeze_c_dtype {
  SQUEEZE_C_DTYPE_BYTES = 0,
  SQUEEZE_C_DTYPE_F32 = 1,
  SQUEEZE_C_DTYPE_F16 = 2,
  SQUEEZE_C_DTYPE_BF16 = 3,
  SQUEEZE_C_DTYPE_I8 = 4,
  SQUEEZE_C_DTYPE_U8 = 5,
  SQUEEZE_C_DTYPE_I32 = 6,
  SQUEEZE_C_DTYPE_U32 = 7,
  SQUEEZE_C_DTYPE_I64 = 8,
  SQUEEZE_C_DTYPE_U64 = 9
};

/* Bound modes (squeeze::BoundMode):
 *   ABS:      |x - x'| <= bound for every finite element;
 *   REL:      the absolute bound is bound * (max - min) over the finite elements of the frame;
 *   LOCAL:    each element within bound * (max - min) of its own block of 32 elements;
 *   LOSSLESS: every element bit for bit, any dtype (the bound is not used). */
enum squeeze_c_mode {
  SQUEEZE_C_MODE_ABS = 0,
  SQUEEZE_C_MODE_REL = 1,
  SQUEEZE_C_MODE_LOCAL = 2,
  SQUEEZE_C_MODE_LOSSLESS = 3
};

/* Capability bits (squeeze::Capability): what the receiver decodes. */
#define SQUEEZE_C_CAP_V1 (1u << 0)
#define SQUEEZE_C_CAP_STAGED (1u << 1)
#define SQUEEZE_C_CAP_RANS (1u << 2)
#define SQUEEZE_C_CAP_DEDUP (1u << 3)
#define SQUEEZE_C_CAP_HISTORY (1u << 4)
#define SQUEEZE_C_CAP_PLANES (1u << 5)
#define SQUEEZE_C_CAP_TABLE (1u << 6)
#define SQUEEZE_C_CAP_ROW_RECORDS (1u << 7)
#define SQUEEZE_C_CAP_DEDUP_STEP (1u << 8)
#define SQUEEZE_C_CAP_RANS_LONG_SEGMENTS (1u << 9)
#define SQUEEZE_C_CAP_DEDUP_GOLOMB (1u << 10)
#define SQUEEZE_C_CAP_PACKED_RECORDS (1u << 11)
#define SQUEEZE_C_CAPS_ALL 0xfffu

/* The default bound of the local mode (squeeze::kInt8MatchingLocalBound). */
#define SQUEEZE_C_DEFAULT_LOCAL_BOUND 1.96e-3

/* Bytes of a frame's fixed header. */
#define SQUEEZE_C_FRAME_HEADER_BYTES 48

/* Compression parameters. Fill with squeeze_params_default() and change what differs;
 * `size` must be sizeof(squeeze_c_params) (lets later versions append fields). */
typedef struct squeeze_c_params {
  uint32_t size;
  uint32_t dtype; /* enum squeeze_c_dtype */
  uint32_t mode;  /* enum squeeze_c_mode */
  uint32_t caps;  /* SQUEEZE_C_CAP_* bits */
  double bound;
  /* API version 2: an optional row layout (squeeze::RowLayout in include/squeeze/codec.h): rows
   * of row_elems elements made of n_tables tables (table_cols[k] columns each, in row order), the
   * data's first element at column start_col; table_bounds (null: `bound` for every table) gives
   * each table its bound in `mode`. n_tables = 0: no layout. The arrays are read during the call
   * only. */
  uint32_t row_elems;
  uint32_t start_col;
  uint32_t n_tables;
  uint32_t reserved; /* 0 */
  const uint32_t* table_cols;
  const double* table_bounds;
} squeeze_c_params;

/* What one compression did (squeeze::FrameStats). */
typedef struct squeeze_c_frame_stats {
  uint64_t input_bytes;
  uint64_t frame_bytes;
  uint64_t outliers;          /* elements stored exactly */
  double applied_bound;       /* global quantizer: the absolute bound; local: the relative one */
  uint32_t method;            /* frame method used */
  uint32_t version;           /* frame format version */
  uint32_t coder;             /* staged frames: entropy coder */
  uint32_t quant;             /* staged frames: quantizer */
  uint64_t units;             /* units of the frame (16 elements) */
  uint64_t ref_units;         /* units sent as references (deduplication) */
  uint64_t history_ref_units; /* of which into earlier frames of the stream */
  uint64_t code_bytes;
  uint64_t quant_bytes;
  uint64_t dedup_bytes;
  uint64_t outlier_bytes;
} squeeze_c_frame_stats;

/* A frame's header (squeeze::FrameInfo). */
typedef struct squeeze_c_frame_info {
  uint64_t original_bytes;
  uint64_t frame_bytes;
  double applied_bound;
  uint32_t method;
  uint32_t version;
  uint32_t dtype;    /* enum squeeze_c_dtype */
  uint32_t outliers; /* version 1 frames only */
  uint32_t quant;    /* version 2 staged frames */
  uint32_t coder;
  uint32_t dedup;
  uint32_t reserved;
} squeeze_c_frame_info;

/* SQUEEZE_C_API_VERSION of the library (compare with the header's). */
int squeeze_api_version(void);

/* A static, never-null English name of a status code ("ok", "corrupt frame", ...). */
const char* squeeze_status_string(int status);

/* Why the last decompression or frame-info call on this thread rejected a frame, or "none". */
const char* squeeze_last_reject_reason(void);

/* The SIMD kernel set of the CPU backend ("avx512", "avx2", "scalar"). */
const char* squeeze_codec_backend(void);

/* API version 2: the bound a table of `rows` rows gets from its class (squeeze::class_bound: the
 * SC'24 paper's tight / base / loose from cardinality; rows 0 = unknown), and the bound's factor
 * at an iteration of the schedule (squeeze::schedule_factor; kind 0 constant, 1 step, 2 linear;
 * NaN for another kind). */
double squeeze_class_bound(uint64_t rows, double bound);
double squeeze_schedule_factor(uint32_t kind, uint64_t iteration, uint64_t early_iters,
                               double start);

/* API version 2: where a row layout of n_tables widths can serve frames of elem_bytes elements
 * in `mode` when frames start at unknown 4 KiB multiples of a row-aligned message
 * (squeeze::layout_placement): 0 nowhere, 1 per table, 2 as vectors of the one width (local);
 * -1 for invalid arguments. */
int squeeze_layout_placement(const uint32_t* table_cols, uint32_t n_tables, uint32_t elem_bytes,
                             uint32_t mode);

/* Sets *params to the codec's defaults: f32, local mode, SQUEEZE_C_DEFAULT_LOCAL_BOUND, all
 * capabilities. Returns SQUEEZE_C_INVALID_ARGUMENT for a null pointer. */
int squeeze_params_default(squeeze_c_params* params);

/* A destination capacity that always suffices to compress input_bytes (header + input). */
size_t squeeze_max_frame_bytes(size_t input_bytes);

/* Compresses src[0, src_bytes) into one frame in dst; *frame_bytes receives its size. stats may
 * be null. dst_capacity must be at least squeeze_max_frame_bytes(src_bytes). Without
 * SQUEEZE_C_CAP_HISTORY the frame refers to nothing outside itself (history is for streams, and
 * is ignored here). Deterministic. */
int squeeze_compress(const squeeze_c_params* params, const void* src, size_t src_bytes, void* dst,
                     size_t dst_capacity, size_t* frame_bytes, squeeze_c_frame_stats* stats);

/* Decodes one self-contained frame into dst; *out_bytes receives the original size. Validates
 * every field; never reads past frame[frame_bytes) nor writes past dst[dst_capacity). */
int squeeze_decompress(const void* frame, size_t frame_bytes, void* dst, size_t dst_capacity,
                       size_t* out_bytes);

/* Reads and validates a frame's header only. */
int squeeze_frame_info(const void* frame, size_t frame_bytes, squeeze_c_frame_info* info);

/* Streams: the frames of one connection, in order, as the plugin's host path sends them
 * (squeeze::StreamEncoder / StreamDecoder). With SQUEEZE_C_CAP_HISTORY in the parameters a frame
 * may refer to units of the last window_bytes (0: the plugin's default, 1 MiB) of earlier input;
 * the decoder must see every frame of the encoder, in order, with the same window. */
typedef struct squeeze_c_stream_encoder squeeze_c_stream_encoder;
typedef struct squeeze_c_stream_decoder squeeze_c_stream_decoder;

/* *out receives a new encoder (decoder), or null with an error status. */
int squeeze_stream_encoder_create(size_t window_bytes, squeeze_c_stream_encoder** out);
/* Frees an encoder; null is fine. */
void squeeze_stream_encoder_destroy(squeeze_c_stream_encoder* encoder);
int squeeze_stream_compress(squeeze_c_stream_encoder* encoder, const squeeze_c_params* params,
                            const void* src, size_t src_bytes, void* dst, size_t dst_capacity,
                            size_t* frame_bytes, squeeze_c_frame_stats* stats);

int squeeze_stream_decoder_create(size_t window_bytes, squeeze_c_stream_decoder** out);
void squeeze_stream_decoder_destroy(squeeze_c_stream_decoder* decoder);
int squeeze_stream_decompress(squeeze_c_stream_decoder* decoder, const void* frame,
                              size_t frame_bytes, void* dst, size_t dst_capacity,
                              size_t* out_bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SQUEEZE_SQUEEZE_C_H_ */
