// squeeze-bench --mode lossless: the lossless method on any dtype against memcpy (the speed
// ceiling), zstd -1 and lz4 (Debian's libzstd / liblz4, when built with them) on the same bytes in
// the same run, every round trip checked bit for bit, and the order-0 entropy of the byte planes
// (and of a float's exponent field): what an order-0 coder of each plane could reach.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "squeeze/codec.h"

namespace squeeze::bench {

struct LosslessRequest {
  std::string source;  // what the data is (printed and in the JSON)
  DType dtype = DType::kBytes;
  int reps = 5;
  size_t chunk_bytes = 0;  // frames of this many bytes (0: one frame)
  std::string json;        // path of the JSON report ("" = none)
  std::string cpu;         // the machine's CPU model
};

// Runs and reports; 0 on success, 1 when a round trip is not exact, 2 on a usage error.
int run_lossless(const LosslessRequest& req, const std::vector<uint8_t>& raw);

}  // namespace squeeze::bench
