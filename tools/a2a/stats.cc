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

namespace {

void accumulate(const std::string& rec, PluginStats* out) {
  static const char* const kInKeys[] = {"bytes_in", "in_bytes", "raw_bytes", "payload_bytes"};
  static const char* const kWireKeys[] = {"bytes_wire", "wire_bytes", "bytes_on_wire", "bytes_out",
                                          "out_bytes"};
  // Only sender records count (a receiver sees the same bytes a second time).
  if (rec.find("\"recv\"") != std::string::npos && rec.find("\"send\"") == std::string::npos)
    return;
  double in = -1, wire = -1, err = -1, v = 0;
  for (const char* k : kInKeys)
    if (json_number(rec, k, &in)) break;
  for (const char* k : kWireKeys)
    if (json_number(rec, k, &wire)) break;
  if (in < 0 || wire < 0) return;
  if (json_number(rec, "max_err", &err) || json_number(rec, "max_error", &err)) {
    if (err > out->max_err) out->max_err = err;
  }
  if (json_number(rec, "messages", &v)) out->messages += (uint64_t)v;
  if (json_number(rec, "lossy", &v)) out->lossy += (uint64_t)v;
  if (json_number(rec, "lossless", &v)) out->lossy += (uint64_t)v;  // compressed too
  out->bytes_in += (uint64_t)in;
  out->bytes_wire += (uint64_t)wire;
  ++out->records;
}

}  // namespace

bool read_plugin_stats(const std::string& path, PluginStats* out) {
  *out = PluginStats{};
  if (path.empty()) return false;
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) accumulate(line, out);
  return out->records > 0;
}

bool sum_stats_array(const std::string& json, PluginStats* out) {
  *out = PluginStats{};
  const std::string start = "{\"conn\"";
  size_t pos = json.find(start);
  while (pos != std::string::npos) {
    size_t next = json.find(start, pos + 1);
    accumulate(json.substr(pos, next == std::string::npos ? std::string::npos : next - pos), out);
    pos = next;
  }
  return out->records > 0;
}

bool query_plugin_stats(GetStatsJsonFn fn, PluginStats* out) {
  *out = PluginStats{};
  if (fn == nullptr) return false;
  std::string buf(fn(nullptr, 0) + 4096, '\0');  // room for connections that appear meanwhile
  size_t n = fn(&buf[0], buf.size());
  if (n >= buf.size()) return false;
  buf.resize(n);
  return sum_stats_array(buf, out);
}

}  // namespace squeeze::a2a
