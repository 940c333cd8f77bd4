// make_cuda_device_api for builds without CUDA (SQUEEZE_CUDA=OFF or no nvcc).
#include "plugin/pipeline/cuda_device.h"

namespace squeeze::plugin {

std::unique_ptr<DeviceApi> make_cuda_device_api(std::string* why) {
  *why = "built without CUDA (SQUEEZE_CUDA=OFF or no nvcc)";
  return nullptr;
}

}  // namespace squeeze::plugin
