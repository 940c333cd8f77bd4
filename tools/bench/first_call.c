/* squeeze-first-call: how much longer a process's first compression takes than the next ones
 * (the codec's buffers allocated, its kernels chosen): the reason CoderGauge takes the median of
 * its probes' rates rather than their sum (plugin/classify/policy.h). A program, not a test.
 *
 *   squeeze-first-call FILE BYTES [CALLS]   (f32 values, rel 1e-2, one frame of BYTES each call)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "squeeze/squeeze_c.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE BYTES [CALLS]\n", argv[0]);
    return 2;
  }
  const size_t bytes = (size_t)strtoull(argv[2], NULL, 0);
  const int calls = argc > 3 ? atoi(argv[3]) : 10;
  char* src = malloc(bytes);
  FILE* f = fopen(argv[1], "rb");
  if (src == NULL || f == NULL || fread(src, 1, bytes, f) != bytes) {
    fprintf(stderr, "cannot read %zu bytes of %s\n", bytes, argv[1]);
    return 1;
  }
  fclose(f);
  const size_t cap = squeeze_max_frame_bytes(bytes);
  char* dst = malloc(cap);
  squeeze_c_params p;
  squeeze_params_default(&p);
  p.mode = SQUEEZE_C_MODE_REL;
  p.bound = 1e-2;
  for (int k = 0; k < calls; ++k) {
    size_t frame = 0;
    const double t0 = now_s();
    const int st = squeeze_compress(&p, src, bytes, dst, cap, &frame, NULL);
    const double us = (now_s() - t0) * 1e6;
    if (st != 0) {
      fprintf(stderr, "call %d: %s\n", k + 1, squeeze_status_string(st));
      return 1;
    }
    printf("call %d: %.1f us, ratio %.2f\n", k + 1, us, (double)bytes / (double)frame);
  }
  free(src);
  free(dst);
  return 0;
}
