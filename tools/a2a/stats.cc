#include "tools/a2a/stats.h"

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace squeeze::a2a {

bool json_number(const std::string& line, const char* key, double* out) {
  std::string pat = std::string("\"") + key + "\"";
  size_t pos = 0;
  while ((pos = line.find(pat, pos)) != std::string::npos) {
    size_t p = pos + pat.size();
    while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    if (p < line.size() && line[p] == ':') {
      ++p;
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
      const char* begin = line.c_str() + p;
      char* end = nullptr;
      double v = std::strtod(begin, &end);
      if (end != begin) {
        *out = v;
        return true;
      }
    }
    pos += pat.size();
  }
  return false;
}

bool read_plugin_stats(const std::string& path, PluginStats* out) {
  *out = PluginStats{};
  if (path.empty()) return false;
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  static const char* const kInKeys[] = {"bytes_in", "in_bytes", "raw_bytes", "payload_bytes"};
  static const char* const kWireKeys[] = {"bytes_wire", "wire_bytes", "bytes_on_wire", "bytes_out",
                                          "out_bytes"};
  while (std::getline(f, line)) {
    // Only sender records count (a receiver sees the same bytes a second time).
    if (line.find("\"recv\"") != std::string::npos && line.find("\"send\"") == std::string::npos)
      continue;
    double in = -1, wire = -1, err = -1;
    for (const char* k : kInKeys)
      if (json_number(line, k, &in)) break;
    for (const char* k : kWireKeys)
      if (json_number(line, k, &wire)) break;
    if (in < 0 || wire < 0) continue;
    if (json_number(line, "max_err", &err) || json_number(line, "max_error", &err)) {
      if (err > out->max_err) out->max_err = err;
    }
    out->bytes_in += (uint64_t)in;
    out->bytes_wire += (uint64_t)wire;
    ++out->records;
  }
  return out->records > 0;
}

}  // namespace squeeze::a2a
