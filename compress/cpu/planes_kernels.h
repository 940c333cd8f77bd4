// The byte-plane split and join of the lossless method on the CPU, one set per instruction-set
// level, reached through the active Backend. The scalar set (planes.cc) is the reference; every
// other set writes the same bytes (tests/unit/test_lossless.cc compares them).
#pragma once

#include <cstdint>

#include "compress/methods/planes.h"

namespace squeeze::cpu {

struct PlanesKernels {
  // Element i of src (n elements of es bytes) through planes::forward(t), its byte p to
  // out[p * n + i].
  void (*split)(const uint8_t* src, uint64_t n, uint32_t es, planes::Transform t, uint8_t* out);
  // The inverse: element i from byte i of every plane through planes::inverse(t), to dst.
  void (*join)(const uint8_t* pl, uint64_t n, uint32_t es, planes::Transform t, uint8_t* dst);
};

extern const PlanesKernels kPlanesScalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
extern const PlanesKernels kPlanesAvx2;
#endif

}  // namespace squeeze::cpu
