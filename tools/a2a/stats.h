// Reads the plugin's statistics (bytes handed to it, bytes it put on the wire, largest error) from
// the JSON lines it writes to NCCL_SQUEEZE_STATS_FILE. Tolerant on purpose: unknown keys are
// skipped, and a missing file just means "no statistics".
#pragma once

#include <cstdint>
#include <string>

namespace squeeze::a2a {

struct PluginStats {
  uint64_t bytes_in = 0;    // payload bytes the plugin's senders were given
  uint64_t bytes_wire = 0;  // bytes its senders put on the wire
  double max_err = -1;      // largest absolute error reported, -1 when none
  uint64_t messages = 0;    // sends the plugin saw
  uint64_t lossy = 0;       // of which it compressed (lossily or losslessly)
  int records = 0;          // sender records summed
};

// Finds the number after "key": in one JSON object line; false when absent.
bool json_number(const std::string& line, const char* key, double* out);

// Sums the sender-side records of a JSON-lines statistics file. False when the file is missing
// or holds no usable record.
bool read_plugin_stats(const std::string& path, PluginStats* out);

// Sums the sender-side records of squeeze_get_stats_json()'s array (one object per connection,
// each starting with "conn"). False when it holds no usable record.
bool sum_stats_array(const std::string& json, PluginStats* out);

// The plugin's optional control API: size_t squeeze_get_stats_json(char* buf, size_t len).
using GetStatsJsonFn = size_t (*)(char* buf, size_t len);
bool query_plugin_stats(GetStatsJsonFn fn, PluginStats* out);

}  // namespace squeeze::a2a
