// squeeze-plugin-gpu-bench: the plugin pipeline with device buffers between two processes on one
// GPU over loopback, against the same run with host buffers; lossy (abs bound) and passthrough.
// A program, not a test. Exits with a message (status 2) when no CUDA device is usable.
//
//   squeeze-plugin-gpu-bench [--plugin PATH] [--size BYTES] [--messages N] [--depth D]
//                            [--bound B]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/plugin/test_gpu_pipeline_procs.h"

#ifndef SQUEEZE_PLUGIN_PATH
#error "SQUEEZE_PLUGIN_PATH must name the built plugin"
#endif

int main(int argc, char** argv) {
  std::string plugin = SQUEEZE_PLUGIN_PATH;
  size_t size = 128 << 10;
  int messages = 4000;
  int depth = 16;
  std::string bound = "1e-3";
  for (int i = 1; i < argc; ++i) {
    auto value = [&](const char* name) -> const char* {
      if (std::strcmp(argv[i], name) != 0) return nullptr;
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        std::exit(1);
      }
      return argv[++i];
    };
    if (const char* v = value("--plugin")) {
      plugin = v;
    } else if (const char* v2 = value("--size")) {
      size = std::strtoull(v2, nullptr, 0);
    } else if (const char* v3 = value("--messages")) {
      messages = std::atoi(v3);
    } else if (const char* v4 = value("--depth")) {
      depth = std::atoi(v4);
    } else if (const char* v5 = value("--bound")) {
      bound = v5;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--plugin PATH] [--size BYTES] [--messages N] [--depth D] "
                   "[--bound B]\n",
                   argv[0]);
      return 1;
    }
  }
  std::string why;
  if (!sqgpu::cuda_device_present(&why)) {
    std::fprintf(stderr, "squeeze-plugin-gpu-bench: no usable CUDA device (%s); nothing measured\n",
                 why.c_str());
    return 2;
  }
  std::printf(
      "plugin %s\nmessages %d x %zu bytes, %d in flight, float32 uniform [-1,1), one GPU, "
      "two processes, loopback\n",
      plugin.c_str(), messages, size, depth);
  std::printf("%-12s %-8s %10s %12s %12s\n", "mode", "buffers", "seconds", "GB/s", "max error");
  for (bool lossy : {false, true}) {
    for (bool device : {false, true}) {
      sqgpu::RunConfig cfg;
      cfg.device_buffers = device;
      cfg.sizes = {size};
      cfg.messages = messages;
      cfg.depth = depth;
      cfg.refill = false;
      cfg.check_bound = -1.0;  // timing only; the check of the last pass below
      cfg.timeout_s = 600;
      cfg.env = {{"NCCL_SQUEEZE_STATS", "0"}};
      if (lossy) {
        cfg.env.push_back({"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"});
        cfg.env.push_back({"NCCL_SQUEEZE_MODE", "abs"});
        cfg.env.push_back({"NCCL_SQUEEZE_BOUND", bound});
      } else {
        cfg.env.push_back({"NCCL_SQUEEZE_ENABLE", "0"});
      }
      sqgpu::RunResult r = sqgpu::run_two_processes(plugin.c_str(), cfg);
      if (!r.ok) {
        std::fprintf(stderr, "%s %s run failed: %s\n", lossy ? "lossy" : "passthrough",
                     device ? "device" : "host", r.error.c_str());
        return 1;
      }
      // A short checked run with the same settings: the figure is only worth it if correct.
      cfg.messages = depth * 2;
      cfg.check_bound = lossy ? std::strtod(bound.c_str(), nullptr) : 0.0;
      sqgpu::RunResult check = sqgpu::run_two_processes(plugin.c_str(), cfg);
      if (!check.ok) {
        std::fprintf(stderr, "%s %s check failed: %s\n", lossy ? "lossy" : "passthrough",
                     device ? "device" : "host", check.error.c_str());
        return 1;
      }
      std::printf("%-12s %-8s %10.3f %12.3f %12.3g\n",
                  lossy ? ("abs " + bound).c_str() : "passthrough", device ? "device" : "host",
                  r.recv.seconds, static_cast<double>(r.recv.bytes) / r.recv.seconds / 1e9,
                  check.recv.max_error);
    }
  }
  return 0;
}
