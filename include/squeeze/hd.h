// SQZ_HD marks functions shared by the CPU and CUDA backends: __host__ __device__ under nvcc,
// plain inline functions under g++/clang so CPU-only builds and tests use the very same code.
#pragma once

#if defined(__CUDACC__)
#define SQZ_HD __host__ __device__ __forceinline__
#define SQZ_HD_NOINLINE __host__ __device__
#else
#define SQZ_HD inline
#define SQZ_HD_NOINLINE
#endif
