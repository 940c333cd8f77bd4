// NCCL's half of the NCCL ABI layout tests: the same facts measured on NCCL's own headers. With
// SQZ_ABI_WITH_NCCL_PLUGIN_HEADERS, NCCL's plugin/nccl_net.h and plugin/nccl_profiler.h (every
// net v8-v11 and profiler v5 field); without, the installed nccl.h and nccl_device/net_device.h
// (the device handle types only).
#include <nccl.h>

#ifdef SQZ_ABI_WITH_NCCL_PLUGIN_HEADERS
#include <sys/types.h>

#include <cstdint>

#include "plugin/nccl_net.h"
#include "plugin/nccl_profiler.h"
#else
#include <nccl_device/net_device.h>
#endif

#include "nccl_abi_fields.h"

namespace squeeze::abi_check {

#ifdef SQZ_ABI_WITH_NCCL_PLUGIN_HEADERS
const LayoutFact kNcclLayout[] = {SQZ_ABI_ALL_FACTS};
#else
// clang-format off
const LayoutFact kNcclLayout[] = {
    SQZ_ABI_HANDLE_FACTS(ncclNetDeviceHandle_v8_t)
    SQZ_ABI_HANDLE_FACTS(ncclNetDeviceHandle_v9_t)
    SQZ_ABI_HANDLE_FACTS(ncclNetDeviceHandle_v10_t)
    SQZ_ABI_HANDLE_FACTS(ncclNetDeviceHandle_v11_t)
};
// clang-format on
#endif
const size_t kNcclLayoutCount = sizeof(kNcclLayout) / sizeof(kNcclLayout[0]);
const int kNcclVersionCode = NCCL_VERSION_CODE;
const bool kNcclFullAbi =
#ifdef SQZ_ABI_WITH_NCCL_PLUGIN_HEADERS
    true;
#else
    false;
#endif

}  // namespace squeeze::abi_check
