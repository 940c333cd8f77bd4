// Atomic operations of the kernel phases: device atomics under nvcc, plain operations in the CPU
// runner (which runs a phase's threads one after another, so nothing races there). A phase never
// reads what another thread's atomic wrote in the same phase: the result is read after a barrier.
#pragma once

#include <cstdint>

#include "squeeze/hd.h"

namespace squeeze::kern {

SQZ_HD uint64_t atomic_cas_u64(uint64_t* p, uint64_t expected, uint64_t desired) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)atomicCAS(reinterpret_cast<unsigned long long*>(p), (unsigned long long)expected,
                             (unsigned long long)desired);
#else
  const uint64_t old = *p;
  if (old == expected) *p = desired;
  return old;
#endif
}

SQZ_HD uint32_t atomic_min_u32(uint32_t* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  return atomicMin(p, v);
#else
  const uint32_t old = *p;
  if (v < old) *p = v;
  return old;
#endif
}

SQZ_HD uint32_t atomic_max_u32(uint32_t* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  return atomicMax(p, v);
#else
  const uint32_t old = *p;
  if (v > old) *p = v;
  return old;
#endif
}

SQZ_HD uint32_t atomic_or_u32(uint32_t* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  return atomicOr(p, v);
#else
  const uint32_t old = *p;
  *p = old | v;
  return old;
#endif
}

SQZ_HD uint32_t atomic_add_u32(uint32_t* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  return atomicAdd(p, v);
#else
  const uint32_t old = *p;
  *p = old + v;
  return old;
#endif
}

}  // namespace squeeze::kern
