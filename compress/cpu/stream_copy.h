// Copies that bypass the caches, for the decoder's reference runs into outputs far larger than
// the caches: an ordinary store first reads its destination's line from memory (a reference's
// destination was not written before), a non-temporal store does not.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace squeeze::cpu {

// Outputs from this size on take their references' copies around the caches. On this project's
// machine (2 cores, AMD EPYC), decoding frames of 16 and 64 MiB ran 1.12-1.42x faster with it
// (and without the destinations' prefetch), frames of 1 and 4 MiB 0.90-1.0x: a smaller output
// is still in cache when it is read next.
constexpr uint64_t kBypassCacheBytes = uint64_t{16} << 20;

// dst[0, n) = src[0, n): the 16-byte aligned pieces of dst with non-temporal stores, the bytes
// before the first and after the last with memcpy. The ranges do not overlap. A piece may share
// its cache line with ordinary stores (a neighbouring literal unit): correct, and on misaligned
// outputs faster than leaving every partial line to memcpy (1.13x against 1.01x on a 64 MiB frame
// at local 1.96e-3). Call store_fence() before another thread may read dst.
inline void copy_bypassing_cache(uint8_t* dst, const uint8_t* src, size_t n) {
#if defined(__SSE2__)
  const size_t head = std::min<size_t>(n, (size_t)(-(uintptr_t)dst & 15u));
  std::memcpy(dst, src, head);
  size_t i = head;
  for (; i + 16 <= n; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  std::memcpy(dst + i, src + i, n - i);
#else
  std::memcpy(dst, src, n);
#endif
}

// Orders this thread's non-temporal stores before its later stores (what a reader on another
// thread synchronizes with).
inline void store_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace squeeze::cpu
