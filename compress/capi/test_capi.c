/* The C API from C: round trips in every mode (every finite element within its bound, computed in
 * double as tests/unit/codec_test_util.h does; non-finite and zero-bound elements bit-exact),
 * bytes bit-exact, streams, and every error path returning its code. Seed: argv[1] or the
 * default; printed. Returns 0 when every check passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "squeeze/squeeze_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static uint64_t rng_state;

static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform(void) { /* [-1, 1) */
  return (double)(next_u64() >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Rows of 4 tables of 16 columns at very different scales, with a few non-finite values. */
static void fill(float* x, size_t n) {
  static const double scales[4] = {1e-3, 3e-2, 0.5, 4.0};
  for (size_t i = 0; i < n; ++i) x[i] = (float)(scales[(i / 16) % 4] * uniform());
  for (size_t k = 0; k < n / 500; ++k) {
    const size_t i = (size_t)(next_u64() % n);
    x[i] = k % 2 ? INFINITY : NAN;
  }
}

/* Absolute bound of element i (abs, rel over the frame, local over its block of 32). */
static double element_bound(const squeeze_c_params* p, const float* x, size_t n, size_t i) {
  size_t first = 0, last = n;
  if (p->mode == SQUEEZE_C_MODE_ABS) return p->bound;
  if (p->mode == SQUEEZE_C_MODE_LOCAL) {
    first = i / 32 * 32;
    last = first + 32 < n ? first + 32 : n;
  }
  double mn = INFINITY, mx = -INFINITY;
  for (size_t j = first; j < last; ++j) {
    if (!isfinite(x[j])) continue;
    if (x[j] < mn) mn = x[j];
    if (x[j] > mx) mx = x[j];
  }
  return mn <= mx ? p->bound * (mx - mn) : 0.0;
}

static void check_bound(const squeeze_c_params* p, const float* x, const float* y, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double eb = element_bound(p, x, n, i);
    if (!isfinite(x[i]) || eb == 0.0) {
      if (memcmp(&x[i], &y[i], 4) != 0) ++bad;
    } else if (!(fabs((double)x[i] - (double)y[i]) <= eb)) {
      ++bad;
    }
  }
  if (bad) fprintf(stderr, "mode %u bound %g: %zu elements outside\n", p->mode, p->bound, bad);
  CHECK(bad == 0);
}

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 13;
  rng_state = seed;
  printf("squeeze_capi_test seed %llu, api %d, backend %s\n", (unsigned long long)seed,
         squeeze_api_version(), squeeze_codec_backend());
  CHECK(squeeze_api_version() == SQUEEZE_C_API_VERSION);

  enum { N = 32768 + 7 };
  const size_t bytes = N * sizeof(float);
  float* x = malloc(bytes);
  float* y = malloc(bytes);
  const size_t cap = squeeze_max_frame_bytes(bytes);
  unsigned char* frame = malloc(cap);
  CHECK(cap == bytes + SQUEEZE_C_FRAME_HEADER_BYTES);
  fill(x, N);

  squeeze_c_params p;
  CHECK(squeeze_params_default(&p) == SQUEEZE_C_OK);
  CHECK(p.size == sizeof p && p.dtype == SQUEEZE_C_DTYPE_F32 && p.mode == SQUEEZE_C_MODE_LOCAL);
  CHECK(p.bound == SQUEEZE_C_DEFAULT_LOCAL_BOUND && p.caps == SQUEEZE_C_CAPS_ALL);

  static const struct {
    unsigned mode;
    double bound;
  } cases[] = {{SQUEEZE_C_MODE_LOCAL, 1.96e-3},
               {SQUEEZE_C_MODE_LOCAL, 3e-2},
               {SQUEEZE_C_MODE_REL, 1e-2},
               {SQUEEZE_C_MODE_ABS, 1e-3}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    p.mode = cases[c].mode;
    p.bound = cases[c].bound;
    size_t fb = 0, out = 0;
    squeeze_c_frame_stats st;
    CHECK(squeeze_compress(&p, x, bytes, frame, cap, &fb, &st) == SQUEEZE_C_OK);
    CHECK(fb > 0 && fb <= cap && st.frame_bytes == fb && st.input_bytes == bytes);
    squeeze_c_frame_info fi;
    CHECK(squeeze_frame_info(frame, fb, &fi) == SQUEEZE_C_OK);
    CHECK(fi.original_bytes == bytes && fi.frame_bytes == fb && fi.method == st.method);
    CHECK(fi.dtype == SQUEEZE_C_DTYPE_F32);
    CHECK(squeeze_decompress(frame, fb, y, bytes, &out) == SQUEEZE_C_OK && out == bytes);
    check_bound(&p, x, y, N);
    printf("mode %u bound %g: %zu -> %zu bytes (%.2fx)\n", p.mode, p.bound, bytes, fb,
           (double)bytes / (double)fb);
  }

  /* Bytes: bit-exact, odd length. */
  {
    squeeze_c_params b = p;
    b.dtype = SQUEEZE_C_DTYPE_BYTES;
    size_t fb = 0, out = 0;
    CHECK(squeeze_compress(&b, x, bytes - 3, frame, cap, &fb, NULL) == SQUEEZE_C_OK);
    CHECK(squeeze_decompress(frame, fb, y, bytes, &out) == SQUEEZE_C_OK && out == bytes - 3);
    CHECK(memcmp(x, y, bytes - 3) == 0);
  }

  /* Errors return codes. */
  {
    size_t fb = 0, out = 0;
    squeeze_c_params bad = p;
    CHECK(squeeze_compress(NULL, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    bad.bound = -1.0;
    CHECK(squeeze_compress(&bad, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    bad = p;
    bad.bound = NAN;
    CHECK(squeeze_compress(&bad, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    bad = p;
    bad.mode = 7;
    CHECK(squeeze_compress(&bad, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    bad = p;
    bad.size = 4;
    CHECK(squeeze_compress(&bad, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    CHECK(squeeze_compress(&p, x, bytes, frame, 10, &fb, NULL) == SQUEEZE_C_OUTPUT_TOO_SMALL);
    CHECK(squeeze_compress(&p, x, bytes, frame, cap, &fb, NULL) == SQUEEZE_C_OK);
    CHECK(squeeze_decompress(frame, fb, y, bytes - 1, &out) == SQUEEZE_C_OUTPUT_TOO_SMALL);
    CHECK(squeeze_decompress(frame, fb - 1, y, bytes, &out) == SQUEEZE_C_TRUNCATED_FRAME);
    CHECK(squeeze_decompress(NULL, fb, y, bytes, &out) == SQUEEZE_C_INVALID_ARGUMENT);
    squeeze_c_frame_info fi;
    CHECK(squeeze_frame_info(frame, 8, &fi) != SQUEEZE_C_OK);
    frame[0] ^= 0xff; /* magic */
    CHECK(squeeze_frame_info(frame, fb, &fi) == SQUEEZE_C_UNSUPPORTED_FRAME);
    CHECK(squeeze_decompress(frame, fb, y, bytes, &out) == SQUEEZE_C_UNSUPPORTED_FRAME);
    CHECK(strcmp(squeeze_last_reject_reason(), "") != 0);
    CHECK(strcmp(squeeze_status_string(SQUEEZE_C_OK), "ok") == 0);
    CHECK(strcmp(squeeze_status_string(SQUEEZE_C_CORRUPT_FRAME), "corrupt frame") == 0);
    CHECK(strcmp(squeeze_status_string(SQUEEZE_C_OUT_OF_MEMORY), "out of memory") == 0);
    CHECK(strcmp(squeeze_status_string(-5), "unknown status") == 0);
    CHECK(squeeze_params_default(NULL) == SQUEEZE_C_INVALID_ARGUMENT);
  }

  /* A stream: three frames, the last a repeat of the first, decoded in order. */
  {
    squeeze_c_stream_encoder* enc = NULL;
    squeeze_c_stream_decoder* dec = NULL;
    CHECK(squeeze_stream_encoder_create(0, &enc) == SQUEEZE_C_OK && enc != NULL);
    CHECK(squeeze_stream_decoder_create(0, &dec) == SQUEEZE_C_OK && dec != NULL);
    CHECK(squeeze_stream_encoder_create(0, NULL) == SQUEEZE_C_INVALID_ARGUMENT);
    squeeze_params_default(&p);
    const size_t part = 8192 * sizeof(float);
    const size_t offsets[3] = {0, part, 0};
    for (int k = 0; k < 3; ++k) {
      size_t fb = 0, out = 0;
      squeeze_c_frame_stats st;
      const float* src = x + offsets[k] / sizeof(float);
      CHECK(squeeze_stream_compress(enc, &p, src, part, frame, cap, &fb, &st) == SQUEEZE_C_OK);
      if (k == 2) CHECK(st.history_ref_units > 0);
      CHECK(squeeze_stream_decompress(dec, frame, fb, y, part, &out) == SQUEEZE_C_OK);
      CHECK(out == part);
      check_bound(&p, src, y, part / sizeof(float));
    }
    CHECK(squeeze_stream_compress(NULL, &p, x, part, frame, cap, &(size_t){0}, NULL) ==
          SQUEEZE_C_INVALID_ARGUMENT);
    squeeze_stream_encoder_destroy(enc);
    squeeze_stream_decoder_destroy(dec);
    squeeze_stream_encoder_destroy(NULL);
    squeeze_stream_decoder_destroy(NULL);
  }

  free(x);
  free(y);
  free(frame);
  printf(failures ? "FAILED: %d checks\n" : "all checks passed\n", failures);
  return failures ? 1 : 0;
}
