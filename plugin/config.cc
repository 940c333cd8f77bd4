#include "plugin/config.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "compress/cpu/kernels.h"
#include "plugin/classify/layout.h"
#include "plugin/classify/policy.h"
#include "plugin/config_toml.h"
#include "plugin/log.h"

namespace squeeze::plugin {
namespace {

const ParamSpec kSpecs[kParamCount] = {
#define SQZ_PARAM_SPEC(id, name, type, def, lo, hi, values, doc) \
  {name, ParamType::type, def, static_cast<double>(lo), static_cast<double>(hi), values, doc},
    SQUEEZE_PARAMS(SQZ_PARAM_SPEC)
#undef SQZ_PARAM_SPEC
};

std::string env_name(const ParamSpec& spec) {
  return std::string("NCCL_SQUEEZE_") + spec.name;
}

std::string lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_enum(const char* values) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = values; *p; ++p) {
    if (*p == '|') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(*p);
    }
  }
  out.push_back(cur);
  return out;
}

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string allowed_text(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::kBool:
      return "0 or 1 (or true/false)";
    case ParamType::kInt:
      return "an integer in [" + format_number(spec.min) + ", " + format_number(spec.max) + "]" +
             (spec.enum_values[0] ? std::string(" or ") + spec.enum_values : std::string());
    case ParamType::kFloat:
      return "a number in (" + format_number(spec.min) + ", " + format_number(spec.max) + "]";
    case ParamType::kEnum: {
      std::string s = "one of ";
      std::vector<std::string> v = split_enum(spec.enum_values);
      for (size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + v[k];
      return s;
    }
    case ParamType::kString:
      return "a string";
  }
  return "";
}

bool set_int(const ParamSpec& spec, int64_t v, ParamValue* value) {
  if (static_cast<double>(v) < spec.min || static_cast<double>(v) > spec.max) return false;
  value->i = v;
  value->text = std::to_string(v);
  return true;
}

// The shortest decimal text that reads back as exactly v.
std::string shortest_text(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

bool set_float(const ParamSpec& spec, double v, ParamValue* value) {
  if (!std::isfinite(v) || !(v > spec.min) || v > spec.max) return false;
  value->f = v;
  value->text = shortest_text(v);
  return true;
}

// Parses `text` for `spec` into *value. Returns false when the text is not allowed.
bool parse_value(const ParamSpec& spec, const std::string& text, ParamValue* value) {
  switch (spec.type) {
    case ParamType::kBool: {
      std::string t = lower(text);
      if (t == "1" || t == "true") {
        value->i = 1;
        value->text = "1";
        return true;
      }
      if (t == "0" || t == "false") {
        value->i = 0;
        value->text = "0";
        return true;
      }
      return false;
    }
    case ParamType::kInt: {
      if (text.empty()) return false;
      if (spec.enum_values[0] != '\0' && lower(text) == spec.enum_values) {
        value->i = -1;
        value->text = spec.enum_values;
        return true;
      }
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno != 0 || end == text.c_str() || *end != '\0') return false;
      return set_int(spec, v, value);
    }
    case ParamType::kFloat: {
      if (text.empty()) return false;
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (errno != 0 || end == text.c_str() || *end != '\0') return false;
      if (!set_float(spec, v, value)) return false;
      value->text = text;
      return true;
    }
    case ParamType::kEnum: {
      std::vector<std::string> v = split_enum(spec.enum_values);
      std::string t = lower(text);
      for (size_t k = 0; k < v.size(); ++k) {
        if (v[k] == t) {
          value->i = static_cast<int64_t>(k);
          value->text = v[k];
          return true;
        }
      }
      return false;
    }
    case ParamType::kString:
      value->text = text;
      return true;
  }
  return false;
}

// Converts one key of the file, typed by TOML, for `spec`. Booleans also take the integers 0
// and 1, numbers also take integers, and an integer with a word (THREADS = "auto") that word.
bool file_value(const ParamSpec& spec, const TomlEntry& e, ParamValue* value) {
  using Kind = TomlEntry::Kind;
  switch (spec.type) {
    case ParamType::kBool:
      if (e.kind == Kind::kBool) return parse_value(spec, e.boolean ? "1" : "0", value);
      if (e.kind == Kind::kInteger && (e.integer == 0 || e.integer == 1)) {
        return parse_value(spec, e.integer != 0 ? "1" : "0", value);
      }
      return false;
    case ParamType::kInt:
      if (e.kind == Kind::kInteger) return set_int(spec, e.integer, value);
      if (e.kind == Kind::kString && spec.enum_values[0] != '\0' &&
          lower(e.str) == spec.enum_values) {
        return parse_value(spec, e.str, value);
      }
      return false;
    case ParamType::kFloat:
      if (e.kind == Kind::kFloat) return set_float(spec, e.number, value);
      if (e.kind == Kind::kInteger) return set_float(spec, static_cast<double>(e.integer), value);
      return false;
    case ParamType::kEnum:
    case ParamType::kString:
      return e.kind == Kind::kString && parse_value(spec, e.str, value);
  }
  return false;
}

// "NCCL_SQUEEZE_X=value" or "NCCL_SQUEEZE_CONFIG=path: line N: x = value", for messages about a
// value that parsed but does not work as a whole.
std::string where_set(const Settings& s, ParamId id) {
  const ParamValue& v = s.get(id);
  const ParamSpec& spec = kSpecs[static_cast<size_t>(id)];
  if (v.source == ValueSource::kFile) {
    return "NCCL_SQUEEZE_CONFIG=" + s.config_path() + ": line " + std::to_string(v.line) + ": " +
           lower(spec.name) + " = \"" + v.text + "\"";
  }
  return env_name(spec) + "=" + v.text;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

}  // namespace

const ParamSpec& param_spec(ParamId id) {
  return kSpecs[static_cast<size_t>(id)];
}

const char* source_name(ValueSource s) {
  switch (s) {
    case ValueSource::kDefault:
      return "default";
    case ValueSource::kFile:
      return "file";
    case ValueSource::kEnv:
      return "env";
    case ValueSource::kForced:
      return "forced";
  }
  return "?";
}

DType Settings::assume_dtype() const {
  switch (get(ParamId::kAssumeDtype).i) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kF16;
    case 3:
      return DType::kBF16;
    default:
      return DType::kBytes;
  }
}

bool load_settings(const EnvLookup& env, Settings* out, std::string* error) {
  Settings s;
  for (size_t k = 0; k < kParamCount; ++k) {
    const ParamSpec& spec = kSpecs[k];
    if (!parse_value(spec, spec.default_text, &s.values[k])) {
      *error = "internal: bad default for NCCL_SQUEEZE_" + std::string(spec.name);
      return false;
    }
    s.values[k].source = ValueSource::kDefault;
  }

  // The file first (the environment overrides it). Its path itself comes only from the env.
  const char* path = env("NCCL_SQUEEZE_CONFIG");
  if (path != nullptr && path[0] != '\0') {
    ParamValue& cfg = s.values[static_cast<size_t>(ParamId::kConfig)];
    cfg.text = path;
    cfg.source = ValueSource::kEnv;
    std::string text;
    if (!read_file(path, &text)) {
      *error = std::string("NCCL_SQUEEZE_CONFIG=") + path + ": cannot read the file (" +
               std::strerror(errno) + ")";
      return false;
    }
    std::vector<TomlEntry> entries;
    std::string parse_error;
    if (!read_toml_config(text, path, &entries, &parse_error)) {
      *error = std::string("NCCL_SQUEEZE_CONFIG=") + path + ": " + parse_error;
      return false;
    }
    for (const TomlEntry& e : entries) {
      size_t k = 0;
      for (; k < kParamCount; ++k) {
        if (lower(kSpecs[k].name) == e.key) break;
      }
      if (k == kParamCount || static_cast<ParamId>(k) == ParamId::kConfig) {
        *error = std::string("NCCL_SQUEEZE_CONFIG=") + path + ": line " + std::to_string(e.line) +
                 (e.kind == TomlEntry::Kind::kOther && e.shown == "a table"
                      ? ": unknown table [" + e.key + "] (only [squeeze] is allowed)"
                      : ": unknown key '" + e.key + "'");
        return false;
      }
      const ParamSpec& spec = kSpecs[k];
      ParamValue v;
      if (!file_value(spec, e, &v)) {
        *error =
            std::string("NCCL_SQUEEZE_CONFIG=") + path + ": line " + std::to_string(e.line) + ": " +
            e.key + " = " + e.shown + " is invalid; allowed: " + allowed_text(spec) +
            (spec.type == ParamType::kEnum || spec.type == ParamType::kString ? " (as a \"string\")"
                                                                              : "");
        return false;
      }
      v.source = ValueSource::kFile;
      v.line = e.line;
      s.values[k] = v;
    }
  }

  for (size_t k = 0; k < kParamCount; ++k) {
    const ParamSpec& spec = kSpecs[k];
    if (static_cast<ParamId>(k) == ParamId::kConfig) continue;
    std::string name = env_name(spec);
    const char* v = env(name.c_str());
    if (v == nullptr) continue;
    ParamValue pv;
    if (!parse_value(spec, v, &pv)) {
      *error = name + "=" + v + " is invalid; allowed: " + allowed_text(spec);
      return false;
    }
    pv.source = ValueSource::kEnv;
    s.values[k] = pv;
  }
  // The policy's rules are validated here, so that a bad rule fails init naming the rule.
  const ParamValue& pol = s.get(ParamId::kPolicy);
  PolicyTable rules;
  std::string rule_error;
  if (!parse_policy_rules(pol.text, &rules, &rule_error)) {
    *error = where_set(s, ParamId::kPolicy) + ": " + rule_error;
    return false;
  }
  // So is the row layout.
  const ParamValue& lay = s.get(ParamId::kLayout);
  if (!lay.text.empty()) {
    LayoutSpec spec;
    std::string layout_error;
    if (!parse_layout(lay.text, &spec, &layout_error)) {
      *error = where_set(s, ParamId::kLayout) + ": " + layout_error;
      return false;
    }
  }
  // A CPU backend this machine (or build) cannot run is refused here, naming where it was set.
  const std::string& backend = s.get<ParamId::kCpuBackend>();
  if (cpu_backend_if_available(backend) == nullptr) {
    *error = where_set(s, ParamId::kCpuBackend) + ": the " + backend +
             " codec kernels cannot run on this CPU or were not built; available here: " +
             available_cpu_backends() + " (auto picks the best of them)";
    return false;
  }
  // An inner transport needs the inner plugin's name.
  if (s.get<ParamId::kTransport>() == "inner" && s.get<ParamId::kInner>().empty()) {
    *error = where_set(s, ParamId::kTransport) +
             ": TRANSPORT=inner needs NCCL_SQUEEZE_INNER (the inner net plugin: a path, lib*.so, "
             "or a name X for libnccl-net-X.so)";
    return false;
  }
  *out = s;
  return true;
}

bool load_settings_from_environment(Settings* out, std::string* error) {
  Settings s;
  if (!load_settings([](const char* name) { return std::getenv(name); }, &s, error)) return false;
  if (!apply_process_settings(s, error)) return false;
  *out = s;
  return true;
}

const char* cpu_backend_if_available(const std::string& name) {
  if (name == "auto") {
    if (const cpu::Backend* b = cpu::avx2_backend()) return b->name;
    return cpu::scalar_backend().name;
  }
  if (name == "scalar") return cpu::scalar_backend().name;
  if (name == "avx2") return cpu::avx2_backend() != nullptr ? cpu::avx2_backend()->name : nullptr;
  return nullptr;
}

std::string available_cpu_backends() {
  std::string out;
  for (const std::string& name : split_enum(param_spec(ParamId::kCpuBackend).enum_values)) {
    if (name == "auto" || cpu_backend_if_available(name) == nullptr) continue;
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

bool apply_process_settings(const Settings& s, std::string* error) {
  const std::string& backend = s.get<ParamId::kCpuBackend>();
  if (cpu_backend_if_available(backend) == nullptr || !cpu::select_backend(backend.c_str())) {
    *error = where_set(s, ParamId::kCpuBackend) + ": the " + backend +
             " codec kernels cannot run here; available: " + available_cpu_backends();
    return false;
  }
  SQZ_INFO(NCCL_INIT | NCCL_ENV, "codec CPU backend %s (NCCL_SQUEEZE_CPU_BACKEND=%s, %s)",
           cpu_backend_name(), backend.c_str(), source_name(s.get(ParamId::kCpuBackend).source));
  set_log_stderr(s.get<ParamId::kLogStderr>());
  return true;
}

bool param_from_environment(ParamId id, ParamValue* out) {
  const ParamSpec& spec = param_spec(id);
  const char* v = std::getenv(env_name(spec).c_str());
  if (v == nullptr) return false;
  ParamValue pv;
  if (!parse_value(spec, v, &pv)) return false;
  pv.source = ValueSource::kEnv;
  *out = pv;
  return true;
}

int usable_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int resolve_thread_count(int configured, int usable_cpus) {
  if (configured >= 0) return configured;
  return usable_cpus <= 4 ? 0 : 2;
}

std::string describe_settings(const Settings& s) {
  std::string out;
  for (size_t k = 0; k < kParamCount; ++k) {
    const ParamValue& v = s.values[k];
    out += env_name(kSpecs[k]) + "=" + v.text + " (" + source_name(v.source) + ")";
    if (k + 1 < kParamCount) out += "\n";
  }
  return out;
}

std::string config_markdown_table() {
  std::string out =
      "| Variable | TOML key | Type | Default | Allowed | Meaning |\n"
      "|---|---|---|---|---|---|\n";
  for (size_t k = 0; k < kParamCount; ++k) {
    const ParamSpec& spec = kSpecs[k];
    const char* type = "";
    switch (spec.type) {
      case ParamType::kBool:
        type = "bool";
        break;
      case ParamType::kInt:
        type = "integer";
        break;
      case ParamType::kFloat:
        type = "number";
        break;
      case ParamType::kEnum:
        type = "enum";
        break;
      case ParamType::kString:
        type = "string";
        break;
    }
    std::string key = static_cast<ParamId>(k) == ParamId::kConfig ? "(none)" : lower(spec.name);
    std::string def = spec.default_text[0] ? spec.default_text : "(empty)";
    std::string allowed = spec.type == ParamType::kString ? "any" : allowed_text(spec);
    for (char& c : allowed) {
      if (c == '|') c = '/';
    }
    out += "| `" + env_name(spec) + "` | `" + key + "` | " + type + " | `" + def + "` | " +
           allowed + " | " + spec.doc + " |\n";
  }
  return out;
}

}  // namespace squeeze::plugin
