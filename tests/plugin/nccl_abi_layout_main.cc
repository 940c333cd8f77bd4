// Compares the layout of include/nccl_abi/'s types with NCCL's own, field by field: for every
// fact measured on NCCL's headers, our type must have the same member at the same offset with the
// same size (and the same sizeof for the type). With the full set of NCCL's plugin headers, every
// fact of our list must also have been measured on NCCL's side.
#include <cstdio>
#include <cstring>

#include "nccl_abi_fields.h"

namespace {

using squeeze::abi_check::LayoutFact;

bool same_name(const char* a, const char* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return std::strcmp(a, b) == 0;
}

const LayoutFact* find(const LayoutFact* list, size_t n, const LayoutFact& f) {
  for (size_t k = 0; k < n; ++k) {
    if (same_name(list[k].type, f.type) && same_name(list[k].member, f.member)) return &list[k];
  }
  return nullptr;
}

const char* name_of(const LayoutFact& f, char* buf, size_t len) {
  std::snprintf(buf, len, "%s%s%s", f.type, f.member ? "." : "", f.member ? f.member : "");
  return buf;
}

}  // namespace

int main() {
  using namespace squeeze::abi_check;
  std::printf("NCCL %d headers (%s) against include/nccl_abi/\n", kNcclVersionCode,
              kNcclFullAbi ? "net v8-v11 and profiler v5" : "installed: device handles only");
  int bad = 0;
  char name[256];
  for (size_t k = 0; k < kNcclLayoutCount; ++k) {
    const LayoutFact& theirs = kNcclLayout[k];
    name_of(theirs, name, sizeof(name));
    const LayoutFact* ours = find(kOurLayout, kOurLayoutCount, theirs);
    if (ours == nullptr) {
      std::printf("MISSING %s: not measured on our side\n", name);
      ++bad;
    } else if (ours->offset != theirs.offset || ours->size != theirs.size) {
      std::printf("MISMATCH %s: ours offset %zu size %zu, NCCL offset %zu size %zu\n", name,
                  ours->offset, ours->size, theirs.offset, theirs.size);
      ++bad;
    }
  }
  if (kNcclFullAbi) {
    for (size_t k = 0; k < kOurLayoutCount; ++k) {
      if (find(kNcclLayout, kNcclLayoutCount, kOurLayout[k]) == nullptr) {
        std::printf("MISSING %s: not measured on NCCL's side\n",
                    name_of(kOurLayout[k], name, sizeof(name)));
        ++bad;
      }
    }
  }
  std::printf("%zu layout facts compared, %d differ\n", kNcclLayoutCount, bad);
  return bad == 0 ? 0 : 1;
}
