// One rank of squeeze-a2a: loads the plugin with dlopen and drives it the way NCCL 2.28's proxy
// does for p2p / all-to-all traffic (nccl-net-api.md sections 5 and 7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plugin/classify/layout.h"
#include "tools/a2a/payload.h"

namespace squeeze::a2a {

enum class Pattern { kAllToAll, kStream };
enum class Classify { kAuto, kProfiler, kAssume };

struct Options {
  int ranks = 2;
  int channels = 2;
  std::vector<size_t> sizes;  // bytes per rank pair
  size_t chunk = 128 * 1024;  // NCCL's p2p chunk (p2pChunkSize)
  int iters = 20;
  int warmup = 3;
  int runs = 1;  // timed repetitions per size and phase (median reported)
  std::string plugin;
  PayloadSpec payload;
  std::string input;
  bool mixed = false;  // an int64 index all-to-all before every float all-to-all
  bool run_passthrough = true;
  bool run_compressed = true;
  bool rel = true;
  bool local = false;  // each value within bound x (max - min) of its block of 32 (rel unused)
  double bound = 1e-2;
  std::string layout_text;  // --layout: NCCL_SQUEEZE_LAYOUT for the ranks, and the check's
  std::shared_ptr<const plugin::LayoutSpec> layout;  // layout_text parsed (null: none)
  std::string netns_rate;                            // empty: loopback
  std::string json;
  bool expect_compression = false;  // fail when a compressed phase compressed nothing
  std::string stats_dir;  // empty: the plugin's statistics go to a temporary folder, removed
  Pattern pattern = Pattern::kAllToAll;
  Classify classify = Classify::kAuto;
  double timeout_s = 60;
  int dev = 0;
  bool verbose = false;
  bool check_all = false;
  int idle_sleep_us = 0;  // > 0: sleep this long when the progress loop is idle (few cores)
  bool userbuf = false;  // registered user buffers after warm-up: no FIFO copies (nccl-tests -R) //
                         // verify every timed iteration (timing excludes the checks)
};

// What one rank reports for one timed run (type kResult). Plain data, sent as bytes.
struct RunResult {
  uint32_t run = 0;
  uint32_t reserved = 0;
  double time_us = 0;          // the timed iterations, this rank's clock
  uint64_t net_bytes = 0;      // payload bytes this rank sent through the plugin per iteration
  uint64_t checked_bytes = 0;  // bytes verified after this run
  uint64_t bad_elements = 0;
  uint64_t first_bad_offset = 0;
  double max_abs_err = 0;
  double max_err_over_bound = 0;
  int64_t if_tx_bytes = -1;  // interface tx counter over the timed iterations (netns only)
  // From the plugin's squeeze_get_stats_json over the timed iterations (-1: not available).
  int64_t plugin_in = -1;
  int64_t plugin_wire = -1;
  int64_t plugin_messages = -1;
  int64_t plugin_lossy = -1;
};

// Sent once at the end (type kResult with run == kFinalRun).
constexpr uint32_t kFinalRun = 0xffffffffu;
struct FinalResult {
  uint32_t run = kFinalRun;
  int32_t stats_source = 0;      // 0 none, 1 squeeze_get_stats_json, 2 NCCL_SQUEEZE_STATS_FILE
  uint64_t plugin_bytes_in = 0;  // payload bytes the plugin sent (all iterations)
  uint64_t plugin_bytes_wire = 0;
  int32_t profiler_used = 0;
  int32_t reserved = 0;
  double plugin_max_err = -1;
  uint64_t plugin_messages = 0;
  uint64_t plugin_lossy = 0;
};

struct WorkerTask {
  const Options* opt = nullptr;
  size_t size = 0;
  bool compressed = false;
  int rank = 0;
  int ctl_fd = -1;
  uint64_t comm_id = 0;
  std::string netns;       // empty: stay in the current namespace
  std::string ifname;      // interface the plugin should use
  std::string stats_file;  // NCCL_SQUEEZE_STATS_FILE for this rank
};

// Runs in the forked child; returns the process exit status.
int run_worker(const WorkerTask& task);

// NCCL's p2p chunk for a message of `bytes` to a network peer (section 7).
size_t nccl_p2p_chunk(size_t bytes, size_t chunk);
// Bytes of each channel's part: alignUp(ceil(bytes / channels), 4 KiB).
size_t nccl_part_bytes(size_t bytes, int channels);

}  // namespace squeeze::a2a
