// The plugin ABI tests run on loopback: NCCL_SQUEEZE_IFNAME=lo unless the caller set it.
// SQUEEZE_TEST_THREADING=inline|helpers forces one threading mode, whatever "auto" would pick on
// this machine: everything on the caller's (NCCL's proxy) thread, or helper threads per connection
// plus a codec pool. ctest runs the suite once in each.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  setenv("NCCL_SQUEEZE_IFNAME", "lo", 0);
  if (const char* mode = std::getenv("SQUEEZE_TEST_THREADING")) {
    if (std::strcmp(mode, "inline") == 0) {
      setenv("NCCL_SQUEEZE_THREADS", "0", 1);
      setenv("NCCL_SQUEEZE_CODEC_THREADS", "0", 1);
    } else if (std::strcmp(mode, "helpers") == 0) {
      setenv("NCCL_SQUEEZE_THREADS", "2", 1);
      setenv("NCCL_SQUEEZE_CODEC_THREADS", "2", 1);
    } else {
      std::fprintf(stderr, "SQUEEZE_TEST_THREADING=%s: expected inline or helpers\n", mode);
      return 2;
    }
    std::printf("threading mode: %s\n", mode);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
