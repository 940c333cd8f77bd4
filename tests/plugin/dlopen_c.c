/* Loads the plugin from C exactly as NCCL does (dlopen RTLD_NOW | RTLD_LOCAL, then dlsym of each
 * table) and checks the tables' names. Compiled as C so that C++-only linkage would show up. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "nccl_abi/net.h"

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "libnccl-net-squeeze.so";
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen(%s): %s\n", path, dlerror());
    return 1;
  }
  const char* names[] = {"ncclNetPlugin_v11", "ncclNetPlugin_v10", "ncclNetPlugin_v9",
                         "ncclNetPlugin_v8"};
  for (int i = 0; i < 4; ++i) {
    /* Every table starts with its name. */
    const char** table = (const char**)dlsym(lib, names[i]);
    if (table == NULL || *table == NULL || strcmp(*table, "Squeeze") != 0) {
      fprintf(stderr, "%s: missing or wrong name\n", names[i]);
      return 1;
    }
  }
  ncclNet_v11_t* v11 = (ncclNet_v11_t*)dlsym(lib, "ncclNetPlugin_v11");
  if (v11->init == NULL || v11->finalize == NULL || v11->isend == NULL || v11->test == NULL) {
    fprintf(stderr, "ncclNetPlugin_v11: required member missing\n");
    return 1;
  }
  if (dlsym(lib, "_ZN7squeeze8compressERKNS_11CodecParamsEPKvmPvmPmPNS_10FrameStatsE") != NULL) {
    fprintf(stderr, "internal codec symbol is visible\n");
    return 1;
  }
  if (dlclose(lib) != 0) {
    fprintf(stderr, "dlclose: %s\n", dlerror());
    return 1;
  }
  printf("ok: %s\n", path);
  return 0;
}
