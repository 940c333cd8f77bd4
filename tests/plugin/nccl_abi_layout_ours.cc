// Our half of the NCCL ABI layout tests: the layout of include/nccl_abi/'s types (compiled apart
// from NCCL's headers, which declare the same names).
#include "nccl_abi/net.h"
#include "nccl_abi/profiler.h"
#include "nccl_abi_fields.h"

namespace squeeze::abi_check {

const LayoutFact kOurLayout[] = {SQZ_ABI_ALL_FACTS};
const size_t kOurLayoutCount = sizeof(kOurLayout) / sizeof(kOurLayout[0]);

}  // namespace squeeze::abi_check
