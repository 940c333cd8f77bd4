// Property conversions shared by the v8-v10 adapters.
#pragma once

#include "nccl_abi/net.h"

namespace squeeze::plugin::legacy {

ncclResult_t get_properties_v9(int dev, ncclNetProperties_v9_t* props);
ncclResult_t get_properties_v8(int dev, ncclNetProperties_v8_t* props);

}  // namespace squeeze::plugin::legacy
