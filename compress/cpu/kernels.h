// Block kernels of the CPU backend, one set per instruction-set level, chosen at runtime.
// Every set must produce exactly the bytes of the scalar set (which calls the shared SQZ_HD
// math in compress/quant.h and compress/block.h); the unit tests compare them on the same data.
#pragma once

#include <cstdint>

#include "compress/quant.h"

namespace squeeze::cpu {

struct BlockKernels {
  // Quantizes n_blocks full blocks of 32 elements starting at src (no alignment needed).
  // Writes one width byte per block to widths, the blocks' bit planes back to back to planes
  // (at most 96 bytes per block) and, per block, a mask of the elements that are outliers.
  // Returns the number of plane bytes written.
  uint64_t (*encode)(const uint8_t* src, uint64_t n_blocks, const quant::QuantParams& p,
                     uint8_t* widths, uint8_t* planes, uint32_t* outlier_masks);
  // Decodes n_blocks full blocks (widths already validated) into dst (no alignment needed).
  void (*decode)(const uint8_t* widths, const uint8_t* planes, uint64_t n_blocks, float step,
                 uint8_t* dst);
  // Smallest and largest finite element of src[0, n); +Inf / -Inf when there is none.
  void (*minmax)(const uint8_t* src, uint64_t n, float* min_out, float* max_out);
};

struct StagedKernels;
struct UnitKernels;
struct TableKernels;
struct RansKernels;
struct PlanesKernels;
struct StagedDriver;

struct Backend {
  const char* name;
  BlockKernels kernels[4];      // indexed by DType; the kBytes entry is unused
  const StagedKernels* staged;  // [4], by DType: the staged codec's loops (staged_kernels.h)
  const UnitKernels* units;
  const TableKernels* table;    // [4], by DType: the table quantizer's loops (staged_table.h)
  const RansKernels* rans;      // the rANS segment coder (rans_kernels.h)
  const PlanesKernels* planes;  // the lossless byte-plane split and join (planes_kernels.h)
  // The staged codec's frame-level loops, built for this backend's CPU (staged.h).
  const StagedDriver* staged_driver;
};

const Backend& scalar_backend();
// nullptr when the CPU lacks the instructions (or the compiler could not build the set).
const Backend* avx2_backend();
// There is no AVX-512 kernel set. An AVX-512 rANS segment decoder (16 lanes a vector, words handed
// out by vpexpandd) was built and tested byte for byte on a CPU that reports AVX-512 (2026-12-04)
// and decoded frames only 1.02-1.08x faster than AVX2's (docs/PERFORMANCE.md): not kept; nor an
// AVX-512 segment encoder (tables in registers, vpcompressw), 1.08-1.12x AVX2's (session 30).

// The backend compress() and decompress() use: the best the CPU supports, unless the
// environment variable SQUEEZE_CPU_BACKEND=scalar|avx2 names another one.
const Backend& active_backend();

// For tests and benchmarks: switch the backend of this process ("scalar", "avx2" or "auto").
// Returns false, changing nothing, when that backend is not available here.
bool select_backend(const char* name);

}  // namespace squeeze::cpu
