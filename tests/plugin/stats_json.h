// The plugin's statistics JSON (squeeze_get_stats_json, NCCL_SQUEEZE_STATS_FILE lines) parsed with
// nlohmann::json, so that tests compare exact numbers (a text search for "\"lossy\":2" would also
// match 20 to 29), and the checks that a lossy transfer really was compressed.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace sqtest {

using Json = nlohmann::json;

// Parses `text`; invalid JSON fails the current test and gives null.
inline Json parse_json(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << text;
    return Json();
  }
  return j;
}

// Every live connection's statistics (squeeze_get_stats_json): an array of objects.
inline Json live_stats() {
  std::vector<char> buf(1 << 16);
  for (;;) {
    size_t len = plugin().get_stats_json(buf.data(), buf.size());
    if (len < buf.size()) break;
    buf.resize(len + 4096);  // connections came meanwhile: once more with room for all
  }
  Json all = parse_json(buf.data());
  EXPECT_TRUE(all.is_array()) << all;
  return all;
}

// The live connection with this direction ("send", "recv") and tag; null when there is none.
inline Json find_conn(const std::string& dir, int tag) {
  Json found;
  for (const Json& c : live_stats()) {
    if (c.is_object() && c.value("dir", "") == dir && c.value("tag", -1) == tag) found = c;
  }
  return found;
}

// The same, failing the current test unless exactly one such connection is live.
inline Json conn_stats(const std::string& dir, int tag) {
  Json all = live_stats();
  Json found;
  int n = 0;
  for (const Json& c : all) {
    if (c.is_object() && c.value("dir", "") == dir && c.value("tag", -1) == tag) {
      found = c;
      ++n;
    }
  }
  if (n != 1) {
    ADD_FAILURE() << n << " live " << dir << " connections with tag " << tag << " in "
                  << all.dump();
  }
  return found;
}

// The non-zero entries of a counts object ("decisions", "dtypes", "traffic_info").
inline Json nonzero(const Json& counts) {
  Json out = Json::object();
  if (!counts.is_object()) return out;
  for (auto it = counts.begin(); it != counts.end(); ++it) {
    if (!it->is_number() || *it != 0) out[it.key()] = *it;
  }
  return out;
}

// A counter of a connection's statistics, 0 for a null connection (not live yet, nothing
// counted): top-level (`group` NULL, e.g. "bytes_wire") or in a group ("decisions", "lossy").
inline uint64_t counter(const Json& conn, const char* group, const char* key) {
  if (conn.is_null()) return 0;
  const Json& obj = group != nullptr ? conn.at(group) : conn;
  return obj.at(key).get<uint64_t>();
}

// What a connection counted between two snapshots.
struct WireDelta {
  uint64_t lossy = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_wire = 0;
};
inline WireDelta wire_delta(const Json& before, const Json& after) {
  WireDelta d;
  d.lossy = counter(after, "decisions", "lossy") - counter(before, "decisions", "lossy");
  d.bytes_in = counter(after, nullptr, "bytes_in") - counter(before, nullptr, "bytes_in");
  d.bytes_wire = counter(after, nullptr, "bytes_wire") - counter(before, nullptr, "bytes_wire");
  return d;
}

// A compressed message: every float within `bound` of what was sent, and at least one changed
// (a transfer that compressed nothing would pass a bound check alone).
inline ::testing::AssertionResult floats_changed_within(const void* sent, const void* got,
                                                        size_t count, double bound) {
  const auto* a = static_cast<const float*>(sent);
  const auto* b = static_cast<const float*>(got);
  size_t changed = 0;
  for (size_t i = 0; i < count; ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (!(d <= bound)) {
      return ::testing::AssertionFailure() << "element " << i << ": sent " << a[i] << ", got "
                                           << b[i] << ", error " << d << " > bound " << bound;
    }
    changed += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  }
  if (changed == 0) {
    return ::testing::AssertionFailure()
           << "all " << count << " elements arrived bit-identical: nothing was compressed";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sqtest
