// The plugin ABI tests run on loopback: NCCL_SQUEEZE_IFNAME=lo unless the caller set it.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  setenv("NCCL_SQUEEZE_IFNAME", "lo", 0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
