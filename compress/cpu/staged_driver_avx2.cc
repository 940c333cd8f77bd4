// The AVX2 backend's staged driver: staged_driver.inc built for AVX2, BMI1, BMI2, LZCNT and
// POPCNT (kernels_avx2.cc checks the CPU for all of them before it offers the backend).
//
// The target applies only to what this file defines after the pragma: the driver, in an anonymous
// namespace, and what the compiler inlines into it. Every header is included before the pragma,
// so a header's inline function or template that is emitted out of line here is built for any
// x86-64, like the copy other files emit, and the linker may keep either. The test
// staged_driver_isa (compress/cpu/check_driver_isa.sh) disassembles this file's object and fails
// if a symbol the linker may share holds an instruction of the target.
#include "compress/cpu/staged_driver_deps.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,f16c,bmi,bmi2,lzcnt,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,f16c,bmi,bmi2,lzcnt,popcnt")
#endif

namespace squeeze::cpu {

#include "compress/cpu/staged_driver.inc"

const StagedDriver kStagedDriverAvx2 = {&encode_frame, &decode_frame};

}  // namespace squeeze::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif
