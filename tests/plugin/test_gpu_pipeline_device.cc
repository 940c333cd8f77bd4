// The plugin's GPU-buffer pipeline on a real GPU: two processes (forked before any CUDA call)
// exchange messages from cudaMalloc'd buffers through the built .so over loopback, NCCL-style.
// Lossy messages are checked against the bound on every element, passthrough bit for bit.
// Skips, saying why, when no CUDA device is usable.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "tests/plugin/test_gpu_pipeline_procs.h"

#ifndef SQUEEZE_PLUGIN_PATH
#error "SQUEEZE_PLUGIN_PATH must name the built plugin"
#endif

namespace {

// The built plugin; SQUEEZE_PLUGIN_SO overrides the build's path (scripts/gpu_check.sh runs a
// build carried to another machine, at another path).
const char* plugin_path() {
  const char* env = std::getenv("SQUEEZE_PLUGIN_SO");
  return env != nullptr && env[0] != '\0' ? env : SQUEEZE_PLUGIN_PATH;
}

uint64_t test_seed() {
  const char* s = std::getenv("SQUEEZE_TEST_SEED");
  uint64_t seed =
      s ? std::strtoull(s, nullptr, 0)
        : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::printf("random seed %llu (rerun with SQUEEZE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

class GpuPipelineDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!sqgpu::cuda_device_present(&why)) {
      GTEST_SKIP() << "no usable CUDA device (" << why << "): the GPU pipeline needs one";
    }
  }

  static std::vector<size_t> sizes() {
    // NCCL-like steps, sizes that are not a multiple of 4, an empty message, and one above the
    // GPU codec's 1 MiB chunk (passes through on the device path).
    return {0, 3, 4096, 32 << 10, (128 << 10) + 6, 512 << 10, (1 << 20) + 4, 77777};
  }
};

TEST_F(GpuPipelineDevice, LossyWithinBoundOnEveryElement) {
  sqgpu::RunConfig cfg;
  cfg.device_buffers = true;
  cfg.sizes = sizes();
  cfg.messages = 200;
  cfg.depth = 8;
  cfg.check_bound = 1e-3;
  cfg.seed = test_seed();
  cfg.env = {{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
             {"NCCL_SQUEEZE_MODE", "abs"},
             {"NCCL_SQUEEZE_BOUND", "1e-3"},
             {"NCCL_SQUEEZE_STATS", "1"}};
  sqgpu::RunResult r = sqgpu::run_two_processes(plugin_path(), cfg);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.recv.max_error, 0.0) << "nothing was compressed lossily";
  EXPECT_LE(r.recv.max_error, 1e-3);
}

TEST_F(GpuPipelineDevice, PassthroughIsBitExact) {
  sqgpu::RunConfig cfg;
  cfg.device_buffers = true;
  cfg.sizes = sizes();
  cfg.messages = 200;
  cfg.depth = 8;
  cfg.check_bound = 0.0;
  cfg.seed = test_seed();
  cfg.env = {{"NCCL_SQUEEZE_ENABLE", "0"}};
  sqgpu::RunResult r = sqgpu::run_two_processes(plugin_path(), cfg);
  ASSERT_TRUE(r.ok) << r.error;
}

TEST_F(GpuPipelineDevice, StepsAboveTheStagingStream) {
  // Registered user buffers: NCCL sends steps of up to 1 GiB. With 2 MiB of pinned staging,
  // everything above 1 MiB streams through it piece by piece on both sides.
  sqgpu::RunConfig cfg;
  cfg.device_buffers = true;
  cfg.sizes = {(24 << 20) + 4, 3 << 20, (1 << 20) + 4, 4096, (9 << 20) + 3};
  cfg.messages = 40;
  cfg.depth = 4;
  cfg.check_bound = 0.0;
  cfg.seed = test_seed();
  cfg.env = {{"NCCL_SQUEEZE_ENABLE", "0"}, {"NCCL_SQUEEZE_STAGING_MB", "2"}};
  sqgpu::RunResult r = sqgpu::run_two_processes(plugin_path(), cfg);
  ASSERT_TRUE(r.ok) << r.error;
}

TEST_F(GpuPipelineDevice, DeepQueueOfSmallLossyMessages) {
  // 32 requests in flight of NCCL-sized steps: batches of many chunks per launch.
  sqgpu::RunConfig cfg;
  cfg.device_buffers = true;
  cfg.sizes = {32 << 10, 64 << 10, 128 << 10};
  cfg.messages = 2000;
  cfg.depth = 32;
  cfg.check_bound = 1e-2;
  cfg.seed = test_seed();
  cfg.env = {{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
             {"NCCL_SQUEEZE_MODE", "abs"},
             {"NCCL_SQUEEZE_BOUND", "1e-2"}};
  sqgpu::RunResult r = sqgpu::run_two_processes(plugin_path(), cfg);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.recv.max_error, 0.0);
}

// The two-process driver itself, with host buffers (no CUDA call): runs on every machine, so the
// harness the GPU tests and the benchmark rely on is checked where there is no GPU too.
TEST(GpuPipelineHarness, HostBuffersLossyAndExact) {
  for (bool lossy : {false, true}) {
    sqgpu::RunConfig cfg;
    cfg.device_buffers = false;
    cfg.sizes = {0, 3, 4096, (128 << 10) + 6, 77777};
    cfg.messages = 60;
    cfg.depth = 8;
    cfg.check_bound = lossy ? 1e-3 : 0.0;
    cfg.seed = test_seed();
    if (lossy) {
      cfg.env = {{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
                 {"NCCL_SQUEEZE_MODE", "abs"},
                 {"NCCL_SQUEEZE_BOUND", "1e-3"}};
    } else {
      cfg.env = {{"NCCL_SQUEEZE_ENABLE", "0"}};
    }
    sqgpu::RunResult r = sqgpu::run_two_processes(plugin_path(), cfg);
    ASSERT_TRUE(r.ok) << r.error;
    if (lossy) {
      EXPECT_GT(r.recv.max_error, 0.0) << "nothing was compressed lossily";
    } else {
      EXPECT_EQ(r.recv.max_error, 0.0);
    }
    EXPECT_EQ(r.send.bytes, r.recv.bytes);
  }
}

}  // namespace
