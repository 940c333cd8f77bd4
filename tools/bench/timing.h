// Timing helpers of squeeze-bench: the median of several repetitions (these machines are shared
// and noisy), and a sink that keeps the optimizer from dropping work whose result is unread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace squeeze::bench {

// The median of reps timings of f; *total_s (when given) their sum.
template <typename F>
double median_seconds(int reps, F&& f, double* total_s = nullptr) {
  std::vector<double> t;
  double total = 0.0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    total += t.back();
  }
  if (total_s != nullptr) *total_s = total;
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace squeeze::bench
