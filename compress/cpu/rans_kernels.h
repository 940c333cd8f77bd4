// The rANS segment coder on the CPU, one set per instruction-set level, reached through the
// active Backend. The scalar set is rans.h's encode_segment / decode_segment, the reference every
// other set reproduces byte for byte and verdict for verdict (tests/unit/test_rans_kernels.cc).
#pragma once

#include <cstdint>

#include "compress/methods/rans.h"

namespace squeeze::cpu {

struct RansKernels {
  // rans::encode_segment: scratch holds count + rans::kScratchSlack words.
  uint32_t (*encode_segment)(const uint8_t* sym, uint32_t count, const uint32_t* freq,
                             const uint32_t* cum, uint16_t* scratch, uint8_t* out);
  // rans::decode_segment.
  bool (*decode_segment)(const uint8_t* seg, uint32_t n_words, uint32_t count,
                         const rans::Tables& t, uint8_t* sym);
};

extern const RansKernels kRansScalar;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
extern const RansKernels kRansAvx2;
#endif

}  // namespace squeeze::cpu
