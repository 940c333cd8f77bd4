// SQZ_HD marks functions shared by the CPU and CUDA backends: __host__ __device__ under nvcc,
// plain inline functions under g++/clang so CPU-only builds and tests use the very same code.
#pragma once

// SQZ_HD_ALWAYS: inlined on the CPU too, for a small function a hot loop calls per record,
// which g++ would otherwise keep out of line.
#if defined(__CUDACC__)
#define SQZ_HD __host__ __device__ __forceinline__
#define SQZ_HD_ALWAYS __host__ __device__ __forceinline__
#define SQZ_HD_NOINLINE __host__ __device__
#else
#define SQZ_HD inline
#define SQZ_HD_ALWAYS inline __attribute__((always_inline))
#define SQZ_HD_NOINLINE
#endif
