// The plugin ABI tests run on loopback: NCCL_SQUEEZE_IFNAME=lo unless the caller set it.
// SQUEEZE_TEST_THREADING=inline|helpers forces one threading mode, whatever "auto" would pick on
// this machine: everything on the caller's (NCCL's proxy) thread, or helper threads per connection
// plus a codec pool. ctest runs the suite once in each.
// --setenv=NAME=VALUE (repeatable, before the gtest flags are parsed) sets a variable first: ctest
// passes the environment of the runs over an inner net plugin this way (CMake 3.25's
// gtest_discover_tests keeps only one ENVIRONMENT entry).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    constexpr char kFlag[] = "--setenv=";
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0) {
      const char* assignment = argv[i] + sizeof(kFlag) - 1;
      const char* eq = std::strchr(assignment, '=');
      if (eq == nullptr || eq == assignment) {
        std::fprintf(stderr, "%s: expected --setenv=NAME=VALUE\n", argv[i]);
        return 2;
      }
      setenv(std::string(assignment, eq).c_str(), eq + 1, 1);
      std::printf("environment: %s\n", assignment);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
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
