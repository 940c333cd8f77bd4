// Software prefetch for the CPU backend's loops whose addresses come in no order a hardware
// prefetcher follows (hash tables, units scattered by references).
#pragma once

namespace squeeze::cpu {

// Starts loading the cache line that holds p (for_write: to be written, PREFETCHW, a no-op on
// CPUs without it). An asm statement on x86-64: GCC 12 compiles a __builtin_prefetch (or
// _mm_prefetch) under a condition to nothing at -O1 and above (its dead-code elimination drops
// the prefetch and the test; -fno-tree-dce keeps them, clang keeps them, GCC keeps an
// unconditional one). The encoder had no prefetch of its history table until this: the lookups
// cost 47K ticks a 128 KiB frame of the trained payload repeated, 35K with it.
inline void prefetch_line(const void* p, bool for_write = false) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (for_write)
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
  else
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  if (for_write)
    __builtin_prefetch(p, 1);
  else
    __builtin_prefetch(p);
#endif
}

}  // namespace squeeze::cpu
