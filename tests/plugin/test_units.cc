// Unit tests of the plugin's internal pieces (linked against squeeze_plugin_core): the
// configuration file (TOML, through toml++) and loading, interface selection, the staging ring,
// the registration order rule and the classification rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "compress/cpu/kernels.h"
#include "plugin/classify/classify.h"
#include "plugin/classify/entropy.h"
#include "plugin/classify/history.h"
#include "plugin/classify/layout.h"
#include "plugin/config.h"
#include "plugin/config_toml.h"
#include "plugin/log.h"
#include "plugin/pipeline/codec_engine.h"
#include "plugin/pipeline/net_comm.h"
#include "plugin/pipeline/staging.h"
#include "plugin/transport/interfaces.h"

namespace squeeze::plugin {
namespace {

EnvLookup fake_env(const std::map<std::string, std::string>& m) {
  return [m](const char* name) -> const char* {
    auto it = m.find(name);
    return it == m.end() ? nullptr : it->second.c_str();
  };
}

// A configuration file with `text`, removed when the object goes.
class TempToml {
 public:
  explicit TempToml(const std::string& text) {
    char p[] = "/tmp/squeeze_unit_cfg_XXXXXX";
    int fd = mkstemp(p);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    path_ = p;
  }
  ~TempToml() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// load_settings with NCCL_SQUEEZE_CONFIG naming a file with `text`, plus `env`.
bool load_file(const std::string& text, Settings* s, std::string* err,
               std::map<std::string, std::string> env = {}) {
  TempToml f(text);
  env["NCCL_SQUEEZE_CONFIG"] = f.path();
  return load_settings(fake_env(env), s, err);
}

TEST(Toml, ReaderKeepsTypesAndLines) {
  std::vector<TomlEntry> e;
  std::string err;
  ASSERT_TRUE(
      read_toml_config("# c\n\n[squeeze]  # t\nmode = 'abs'\nbound=1e-3\nmin_bytes = "
                       "4_096\nenable = false\nstats_file = \"a \\\"b\\\" c\" # x\r\n",
                       "x.toml", &e, &err))
      << err;
  ASSERT_EQ(e.size(), 5u);  // in file order
  EXPECT_EQ(e[0].key, "mode");
  EXPECT_EQ(e[0].kind, TomlEntry::Kind::kString);
  EXPECT_EQ(e[0].str, "abs");
  EXPECT_EQ(e[0].line, 4);
  EXPECT_EQ(e[1].kind, TomlEntry::Kind::kFloat);
  EXPECT_EQ(e[1].number, 1e-3);
  EXPECT_EQ(e[2].kind, TomlEntry::Kind::kInteger);
  EXPECT_EQ(e[2].integer, 4096);
  EXPECT_EQ(e[3].kind, TomlEntry::Kind::kBool);
  EXPECT_FALSE(e[3].boolean);
  EXPECT_EQ(e[4].str, "a \"b\" c");
  EXPECT_EQ(e[4].line, 8);
}

// Valid TOML that the hand-written subset parser refused now loads.
TEST(Toml, ValidTomlTheOldParserRejectedLoads) {
  Settings s;
  std::string err;
  ASSERT_TRUE(
      load_file("# a comment line\n"
                "[ squeeze ]   # spaced table header, trailing comment\n"
                "mode = 'abs'                  # literal string\n"
                "stats_file = 'C:\\tmp\\x y'   # literal: backslashes kept\n"
                "min_bytes = 1_048_576\n"
                "staging_mb = 1_024\n"
                "bound = 1e-3\n"
                "\"ifname\" = \"eth\"           # a quoted key\n",
                &s, &err))
      << err;
  EXPECT_EQ(s.mode(), BoundMode::kAbs);
  EXPECT_EQ(s.stats_file(), "C:\\tmp\\x y");
  EXPECT_EQ(s.min_bytes(), 1048576u);
  EXPECT_EQ(s.get<ParamId::kStagingMb>(), 1024);
  EXPECT_EQ(s.bound(), 0.001);
  EXPECT_EQ(s.ifname(), "eth");
  EXPECT_EQ(s.get(ParamId::kBound).source, ValueSource::kFile);
  EXPECT_EQ(s.get(ParamId::kBound).line, 7);
  EXPECT_EQ(s.get(ParamId::kBound).text, "0.001");
  // 0.001, 1e-3 and 1E-3 are the same number; an integer is a number too.
  for (const char* text : {"bound = 0.001\n", "bound = 1E-3\n", "bound = +1.0e-3\n"}) {
    ASSERT_TRUE(load_file(text, &s, &err)) << text << err;
    EXPECT_EQ(s.bound(), 0.001) << text;
  }
  ASSERT_TRUE(load_file("bound = 2\n", &s, &err)) << err;
  EXPECT_EQ(s.bound(), 2.0);
  // Other spellings of the [squeeze] table: dotted keys and an inline table.
  ASSERT_TRUE(load_file("squeeze.mode = \"abs\"\nsqueeze.sockets = 8\n", &s, &err)) << err;
  EXPECT_EQ(s.mode(), BoundMode::kAbs);
  EXPECT_EQ(s.sockets(), 8);
  ASSERT_TRUE(load_file("squeeze = { sockets = 2, enable = true }\n", &s, &err)) << err;
  EXPECT_EQ(s.sockets(), 2);
  // Multi-line literal strings, and booleans as 0/1.
  ASSERT_TRUE(load_file("policy = '''p2p.bf16=abs:1e-3'''\nstats = 0\n", &s, &err)) << err;
  EXPECT_EQ(s.policy(), "p2p.bf16=abs:1e-3");
  EXPECT_FALSE(s.stats());
  // THREADS takes its word "auto" as a string.
  ASSERT_TRUE(load_file("threads = \"auto\"\ncodec_threads = 3\n", &s, &err)) << err;
  EXPECT_EQ(s.threads(), -1);
  EXPECT_EQ(s.codec_threads(), 3);
}

// Invalid TOML is refused with the file and the line.
TEST(Toml, InvalidTomlRejectedWithFileAndLine) {
  const std::pair<const char*, const char*> bad[] = {
      {"bound = .5\n", "line 1"},
      {"\nmin_bytes = 007\n", "line 2"},
      {"mode = \"abs\"\nmode = \"rel\"\n", "line 2"},  // duplicate key
      {"[squeeze]\nsockets = 4\n\nsockets = 8\n", "line 4"},
      {"[squeeze]\n[squeeze]\n", "line 2"},
      {"stats_file = \"open\n", "line 1"},  // unterminated strings
      {"\n\nstats_file = 'open\n", "line 3"},
      {"sockets = 4 8\n", "line 1"},
      {"\n\nbound =\n", "line 3"},
      {"mode = \"\\q\"\n", "line 1"},  // unknown escape
      {"min_bytes = 1__0\n", "line 1"},
      {"min_bytes = 4_\n", "line 1"},
      {"bound = 1.\n", "line 1"},
      {"mode = abs\n", "line 1"},  // a bare word is no value
  };
  for (const auto& [text, line] : bad) {
    Settings s;
    std::string err;
    TempToml f(text);
    EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_CONFIG", f.path()}}), &s, &err)) << text;
    EXPECT_NE(err.find("NCCL_SQUEEZE_CONFIG=" + f.path() + ": " + line), std::string::npos)
        << text << " -> " << err;
  }
}

TEST(Toml, UnknownKeysAndWrongTypesRejected) {
  const std::pair<const char*, const char*> bad[] = {
      {"[squeeze]\nmode = \"abs\"\nno_such = 1\n", "line 3: unknown key 'no_such'"},
      {"bound = 0.5\n[other]\n", "line 2: unknown table [other]"},
      {"[squeeze.extra]\nx = 1\n", "line 1: unknown table [extra]"},
      {"MODE = \"abs\"\n", "line 1: unknown key 'MODE'"},
      {"config = \"/etc/x.toml\"\n", "line 1: unknown key 'config'"},
      {"mode = \"abs\"\n[squeeze]\nbound = 1\n", "line 1: key 'mode' is outside the [squeeze]"},
      {"mode = 1\n", "line 1: mode = 1 is invalid; allowed: one of"},
      {"mode = \"lossy\"\n", "line 1: mode = \"lossy\" is invalid"},
      {"sockets = \"4\"\n", "line 1: sockets = \"4\" is invalid; allowed: an integer in [1, 64]"},
      {"sockets = 4.0\n", "line 1: sockets = 4.0 is invalid"},
      {"sockets = 65\n", "line 1: sockets = 65 is invalid"},
      {"min_bytes = -1\n", "line 1: min_bytes = -1 is invalid"},
      {"enable = \"true\"\n", "line 1: enable = \"true\" is invalid"},
      {"enable = 2\n", "line 1: enable = 2 is invalid"},
      {"bound = \"0.1\"\n", "line 1: bound = \"0.1\" is invalid"},
      {"bound = 0\n", "line 1: bound = 0 is invalid"},
      {"bound = inf\n", "line 1: bound = inf is invalid"},
      {"bound = nan\n", "line 1: bound = nan is invalid"},
      {"threads = \"many\"\n", "line 1: threads = \"many\" is invalid; allowed: an integer in"},
      {"ifname = [\"eth0\"]\n", "line 1: ifname = an array is invalid"},
      {"stats_file = 1\n", "line 1: stats_file = 1 is invalid; allowed: a string"},
      {"timeout_s = 1979-05-27\n", "line 1: timeout_s = a date or time is invalid"},
      {"\n[squeeze]\nsockets = { n = 1 }\n", "line 3: sockets = a table is invalid"},
  };
  for (const auto& [text, what] : bad) {
    Settings s;
    std::string err;
    EXPECT_FALSE(load_file(text, &s, &err)) << text;
    EXPECT_NE(err.find(what), std::string::npos) << text << " -> " << err;
  }
}

TEST(Toml, EnvironmentOverridesFile) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_file("[squeeze]\nbound = 0.25\nmode = \"abs\"\nmin_bytes = 8192 # small\n", &s,
                        &err, {{"NCCL_SQUEEZE_MIN_BYTES", "1024"}, {"NCCL_SQUEEZE_MODE", "REL"}}))
      << err;
  EXPECT_EQ(s.bound(), 0.25);
  EXPECT_EQ(s.get(ParamId::kBound).source, ValueSource::kFile);
  EXPECT_EQ(s.min_bytes(), 1024u);
  EXPECT_EQ(s.get(ParamId::kMinBytes).source, ValueSource::kEnv);
  EXPECT_EQ(s.mode(), BoundMode::kRel);
  EXPECT_EQ(s.get(ParamId::kMode).source, ValueSource::kEnv);
  EXPECT_EQ(s.get(ParamId::kSockets).source, ValueSource::kDefault);
  EXPECT_EQ(s.get(ParamId::kConfig).source, ValueSource::kEnv);
  // A bad environment value still fails over a good file value.
  EXPECT_FALSE(load_file("sockets = 8\n", &s, &err, {{"NCCL_SQUEEZE_SOCKETS", "0"}}));
  EXPECT_NE(err.find("NCCL_SQUEEZE_SOCKETS=0 is invalid"), std::string::npos) << err;
  // A rule error from the file names the file and the line.
  EXPECT_FALSE(load_file("\npolicy = \"allreduce.f32=bogus\"\n", &s, &err));
  EXPECT_NE(err.find(": line 2: policy = \"allreduce.f32=bogus\": rule 1"), std::string::npos)
      << err;
}

// Every parameter's typed value comes from the one declaration (SQUEEZE_PARAMS).
TEST(Config, TypedGetFollowsTheDeclaration) {
  static_assert(std::is_same_v<ParamCppType<ParamId::kEnable>, bool>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kMinBytes>, int64_t>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kBound>, double>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kMode>, const std::string&>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kIfname>, const std::string&>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kCpuBackend>, const std::string&>);
  static_assert(std::is_same_v<ParamCppType<ParamId::kLogStderr>, bool>);
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_THREADS", "auto"},
                                      {"NCCL_SQUEEZE_STAGING_MB", "3"},
                                      {"NCCL_SQUEEZE_ASSUME_DTYPE", "F16"}}),
                            &s, &err))
      << err;
  EXPECT_EQ(s.get<ParamId::kThreads>(), -1);
  EXPECT_EQ(s.get<ParamId::kStagingMb>(), 3);
  EXPECT_EQ(s.staging_bytes(), 3u << 20);
  EXPECT_EQ(s.get<ParamId::kAssumeDtype>(), "f16");
  EXPECT_EQ(s.assume_dtype(), DType::kF16);
  EXPECT_TRUE(s.get<ParamId::kEnable>());
  EXPECT_EQ(s.get<ParamId::kCpuBackend>(), "auto");
  EXPECT_FALSE(s.get<ParamId::kLogStderr>());
}

// Restores an environment variable of this process when the scope ends.
class ScopedSetenv {
 public:
  ScopedSetenv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedSetenv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

std::string best_cpu_backend() {
  if (cpu::avx2_backend() != nullptr) return "avx2";
  return "scalar";
}

TEST(Config, CpuBackendIsAParameter) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_CPU_BACKEND", "SCALAR"}}), &s, &err)) << err;
  EXPECT_EQ(s.get<ParamId::kCpuBackend>(), "scalar");
  EXPECT_EQ(s.get(ParamId::kCpuBackend).source, ValueSource::kEnv);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_CPU_BACKEND", "sse"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_CPU_BACKEND=sse is invalid; allowed: one of auto, scalar, "
                     "avx2"),
            std::string::npos)
      << err;
  ASSERT_TRUE(load_file("cpu_backend = \"scalar\"\n", &s, &err)) << err;
  EXPECT_EQ(s.get<ParamId::kCpuBackend>(), "scalar");
  // A backend this CPU cannot run fails naming where it was set and what can run.
  for (const char* name : {"avx2"}) {
    SCOPED_TRACE(name);
    const bool runs = cpu_backend_if_available(name) != nullptr;
    EXPECT_EQ(runs, load_settings(fake_env({{"NCCL_SQUEEZE_CPU_BACKEND", name}}), &s, &err));
    EXPECT_EQ(runs, load_file(std::string("\ncpu_backend = \"") + name + "\"\n", &s, &err));
    if (!runs) {
      EXPECT_NE(err.find(std::string(": line 2: cpu_backend = \"") + name + "\": the " + name +
                         " codec kernels cannot run"),
                std::string::npos)
          << err;
      EXPECT_NE(err.find("available here: " + available_cpu_backends()), std::string::npos) << err;
    }
  }
  EXPECT_EQ(available_cpu_backends().rfind("scalar", 0), 0u);
  // There is no AVX-512 kernel set (docs/CONFIG.md, future work): avx512 is not a value at all.
  EXPECT_EQ(cpu_backend_if_available("avx512"), nullptr);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_CPU_BACKEND", "avx512"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_CPU_BACKEND=avx512 is invalid; allowed: one of auto, scalar, "
                     "avx2"),
            std::string::npos)
      << err;
}

// Inside the plugin NCCL_SQUEEZE_CPU_BACKEND is applied at init (load_settings_from_environment)
// and wins over libsqueeze's own SQUEEZE_CPU_BACKEND, which standalone programs use.
TEST(Config, CpuBackendAppliedAtInitOverLibraryVariable) {
  const std::string best = best_cpu_backend();
  {
    ScopedSetenv lib("SQUEEZE_CPU_BACKEND", best.c_str());
    ScopedSetenv plug("NCCL_SQUEEZE_CPU_BACKEND", "scalar");
    Settings s;
    std::string err;
    ASSERT_TRUE(load_settings_from_environment(&s, &err)) << err;
    EXPECT_STREQ(cpu_backend_name(), "scalar");
  }
  {
    ScopedSetenv lib("SQUEEZE_CPU_BACKEND", "scalar");
    ScopedSetenv plug("NCCL_SQUEEZE_CPU_BACKEND", nullptr);  // default auto
    Settings s;
    std::string err;
    ASSERT_TRUE(load_settings_from_environment(&s, &err)) << err;
    EXPECT_EQ(cpu_backend_name(), best);
  }
  {
    ScopedSetenv plug("NCCL_SQUEEZE_CPU_BACKEND", "avx512");
    Settings s;
    std::string err;
    EXPECT_FALSE(load_settings_from_environment(&s, &err));
    EXPECT_NE(err.find("NCCL_SQUEEZE_CPU_BACKEND=avx512"), std::string::npos) << err;
    EXPECT_EQ(cpu_backend_name(), best);  // unchanged
  }
}

TEST(Config, LogStderrIsAParameter) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_LOG_STDERR", "1"}}), &s, &err)) << err;
  EXPECT_TRUE(s.get<ParamId::kLogStderr>());
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_LOG_STDERR", "yes"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_LOG_STDERR=yes is invalid; allowed: 0 or 1"), std::string::npos)
      << err;
  ASSERT_TRUE(load_file("log_stderr = true\n", &s, &err)) << err;
  EXPECT_TRUE(s.get<ParamId::kLogStderr>());
  EXPECT_EQ(s.get(ParamId::kLogStderr).source, ValueSource::kFile);
  {
    ScopedSetenv v("NCCL_SQUEEZE_LOG_STDERR", "true");
    ParamValue pv;
    ASSERT_TRUE(param_from_environment(ParamId::kLogStderr, &pv));
    EXPECT_EQ(pv.i, 1);
  }
  {
    ScopedSetenv v("NCCL_SQUEEZE_LOG_STDERR", nullptr);
    ParamValue pv;
    EXPECT_FALSE(param_from_environment(ParamId::kLogStderr, &pv));
  }
}

// Without an NCCL logger, INFO lines reach stderr exactly when LOG_STDERR is on (WARN always).
TEST(Config, LogStderrAppliedAtInit) {
  set_logger(nullptr);
  auto info_on_stderr = [](const char* marker) {
    ::testing::internal::CaptureStderr();
    SQZ_INFO(NCCL_INIT, "unit test marker %s", marker);
    return ::testing::internal::GetCapturedStderr().find(marker) != std::string::npos;
  };
  std::string err;
  Settings on;
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_LOG_STDERR", "1"}}), &on, &err)) << err;
  ASSERT_TRUE(apply_process_settings(on, &err)) << err;
  EXPECT_TRUE(info_on_stderr("m-on"));
  Settings off;
  ASSERT_TRUE(load_settings(fake_env({}), &off, &err)) << err;
  ASSERT_TRUE(apply_process_settings(off, &err)) << err;
  EXPECT_FALSE(info_on_stderr("m-off"));
  ::testing::internal::CaptureStderr();
  SQZ_WARN("unit test warn marker");
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("unit test warn marker"),
            std::string::npos);
}

TEST(Config, DefaultsAndTypedAccessors) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({}), &s, &err)) << err;
  EXPECT_TRUE(s.enable());
  EXPECT_EQ(s.mode(), BoundMode::kLocal);
  EXPECT_EQ(s.bound(), kPluginDefaultBound);  // config.h's default text, as the constant
  EXPECT_EQ(s.assume_dtype(), DType::kBytes);
  EXPECT_EQ(s.sockets(), 4);
  EXPECT_EQ(s.min_bytes(), 4096u);
  for (size_t k = 0; k < kParamCount; ++k) EXPECT_EQ(s.values[k].source, ValueSource::kDefault);
}

TEST(Config, EnvValuesAndErrors) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "BF16"},
                                      {"NCCL_SQUEEZE_ENABLE", "false"},
                                      {"NCCL_SQUEEZE_BOUND", "2.5e-2"}}),
                            &s, &err));
  EXPECT_EQ(s.assume_dtype(), DType::kBF16);
  EXPECT_FALSE(s.enable());
  EXPECT_DOUBLE_EQ(s.bound(), 0.025);
  EXPECT_EQ(s.get(ParamId::kBound).source, ValueSource::kEnv);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_STAGING_MB", "0"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_STAGING_MB=0"), std::string::npos) << err;
  EXPECT_NE(err.find("[1, 4096]"), std::string::npos) << err;
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_BOUND", "0"}}), &s, &err));
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_BOUND", "nan"}}), &s, &err));
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_MIN_BYTES", "12abc"}}), &s, &err));
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_CONFIG", "/nonexistent/x.toml"}}), &s, &err));
  EXPECT_NE(err.find("cannot read"), std::string::npos) << err;
}

TEST(Config, AutoThreadCountsFollowTheCpuCount) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({}), &s, &err)) << err;
  EXPECT_EQ(s.get(ParamId::kThreads).text, "auto");
  EXPECT_EQ(s.threads(), -1);
  EXPECT_EQ(s.codec_threads(), -1);
  // auto: inline progress and the codec on the proxy thread up to 4 CPUs, else 2 threads each.
  EXPECT_EQ(resolve_thread_count(s.threads(), 1), 0);
  EXPECT_EQ(resolve_thread_count(s.threads(), 4), 0);
  EXPECT_EQ(resolve_thread_count(s.threads(), 5), 2);
  EXPECT_EQ(resolve_thread_count(s.codec_threads(), 2), 0);
  EXPECT_EQ(resolve_thread_count(s.codec_threads(), 64), 2);
  EXPECT_GE(usable_cpu_count(), 1);
  // An explicit value wins on any machine; "AUTO" is accepted in any case; other words are not.
  ASSERT_TRUE(load_settings(
      fake_env({{"NCCL_SQUEEZE_THREADS", "3"}, {"NCCL_SQUEEZE_CODEC_THREADS", "AUTO"}}), &s, &err))
      << err;
  EXPECT_EQ(resolve_thread_count(s.threads(), 2), 3);
  EXPECT_EQ(resolve_thread_count(s.codec_threads(), 2), 0);
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_THREADS", "0"}}), &s, &err)) << err;
  EXPECT_EQ(resolve_thread_count(s.threads(), 64), 0);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_THREADS", "many"}}), &s, &err));
  EXPECT_NE(err.find("or auto"), std::string::npos) << err;
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_THREADS", "-1"}}), &s, &err));
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_SOCKETS", "auto"}}), &s, &err));
}

TEST(Config, MarkdownTableListsEveryParameter) {
  std::string md = config_markdown_table();
  for (size_t k = 0; k < kParamCount; ++k) {
    EXPECT_NE(
        md.find(std::string("`NCCL_SQUEEZE_") + param_spec(static_cast<ParamId>(k)).name + "`"),
        std::string::npos);
  }
}

TEST(Interfaces, IfnameSyntax) {
  EXPECT_TRUE(ifname_matches("eth", "eth0"));
  EXPECT_TRUE(ifname_matches("ib,eth", "eth1"));
  EXPECT_FALSE(ifname_matches("ib", "eth0"));
  EXPECT_FALSE(ifname_matches("^eth", "eth0"));
  EXPECT_TRUE(ifname_matches("^eth", "ib0"));
  EXPECT_TRUE(ifname_matches("=eth0", "eth0"));
  EXPECT_FALSE(ifname_matches("=eth0", "eth01"));
  EXPECT_FALSE(ifname_matches("^=eth0", "eth0"));
  EXPECT_TRUE(ifname_matches("^=eth0", "eth01"));
  EXPECT_TRUE(ifname_matches("eth0:1234", "eth0"));
  auto lo = find_net_devices("lo");
  ASSERT_EQ(lo.size(), 1u);
  EXPECT_EQ(lo[0].name, "lo");
  EXPECT_EQ(lo[0].speed_mbps, 10000);  // NCCL's default: loopback reports no speed
  EXPECT_FALSE(lo[0].speed_known);
  EXPECT_TRUE(find_net_devices("=definitely_not_an_if").empty());
  EXPECT_FALSE(find_net_devices("").empty());  // something, loopback at worst
}

TEST(Staging, RingAllocatesInOrderReleasesAnyOrder) {
  StagingRing r;
  ASSERT_TRUE(r.init(1000));
  char* a = r.alloc(400);
  char* b = r.alloc(400);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(r.alloc(300), nullptr);  // 200 left at the end, nothing free at the start
  r.release(b);                      // out of order: a still holds the head
  EXPECT_EQ(r.alloc(300), nullptr);
  r.release(a);
  EXPECT_TRUE(r.empty());
  char* c = r.alloc(1000);
  EXPECT_EQ(c, a);
  EXPECT_EQ(r.alloc(1), nullptr);
  r.release(c);
  // Wrap-around: [x 0..600) [y 600..900); free x; z must go to the start.
  char* x = r.alloc(600);
  char* y = r.alloc(300);
  ASSERT_NE(y, nullptr);
  r.release(x);
  char* z = r.alloc(500);
  EXPECT_EQ(z, x);
  EXPECT_EQ(r.alloc(200), nullptr);  // between z's end (500) and y (600) only 100
  EXPECT_NE(r.alloc(100), nullptr);
  EXPECT_EQ(r.alloc(0), nullptr);
  EXPECT_EQ(r.alloc(2000), nullptr);
}

TEST(RegistrationOrderRule, FifoBatchAndUserBuffers) {
  RegistrationOrder p2p;
  int pool = p2p.on_register();
  EXPECT_EQ(p2p.proto_of(pool), BufferProto::kUnknown);  // not sealed yet
  p2p.seal();
  EXPECT_EQ(p2p.proto_of(pool), BufferProto::kSimple);
  EXPECT_EQ(p2p.proto_of(p2p.on_register()), BufferProto::kSimple);  // user buffer
  EXPECT_EQ(p2p.fifo_batch_size(), 1);

  RegistrationOrder coll;
  int ll = coll.on_register(), ll128 = coll.on_register(), simple = coll.on_register();
  coll.seal();
  EXPECT_EQ(coll.proto_of(ll), BufferProto::kLL);
  EXPECT_EQ(coll.proto_of(ll128), BufferProto::kLL128);
  EXPECT_EQ(coll.proto_of(simple), BufferProto::kSimple);

  RegistrationOrder two;
  int a = two.on_register(), b = two.on_register();
  two.seal();
  EXPECT_EQ(two.proto_of(a), BufferProto::kLL);
  EXPECT_EQ(two.proto_of(b), BufferProto::kSimple);

  RegistrationOrder many;
  for (int i = 0; i < 4; ++i) many.on_register();
  many.seal();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(many.proto_of(i), BufferProto::kUnknown);
  EXPECT_EQ(many.proto_of(many.on_register()), BufferProto::kSimple);
}

TEST(ClassifyRules, EachConditionGates) {
  ClassifyPolicy pol;
  pol.assume_dtype = DType::kF32;
  ClassifyInput in;
  in.bytes = 65536;
  in.proto = BufferProto::kSimple;
  in.comm_kind = CommKind::kP2p;
  EXPECT_EQ(classify(pol, in).decision, Decision::kLossy);
  EXPECT_EQ(classify(pol, in).params.dtype, DType::kF32);
  ClassifyInput x = in;
  x.proto = BufferProto::kLL128;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassNotSimple);
  x = in;
  x.bytes = 100;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassTooSmall);
  x = in;
  x.comm_kind = CommKind::kCollective;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassNotP2p);
  x.transfer_op = 1u << NCCL_FUNC_ALLTOALL;  // a transfer hint wins over the connection kind
  EXPECT_EQ(classify(pol, x).decision, Decision::kLossy);
  x = in;
  x.transfer_op = 1u << NCCL_FUNC_ALLREDUCE;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassNotP2p);
  x = in;
  x.comm_kind = CommKind::kUnknown;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassNotP2p);
  ClassifyPolicy none = pol;
  none.assume_dtype = DType::kBytes;
  EXPECT_EQ(classify(none, in).decision, Decision::kPassNoDtype);
  ClassifyPolicy off = pol;
  off.enable = false;
  EXPECT_EQ(classify(off, in).decision, Decision::kPassDisabled);
  // A profiler record overrides the assumption both ways.
  // p2p integers: the lossless method, "auto" by default (never lossy, whatever is assumed).
  TrafficRecord ints{OpKind::kP2p, 6, NcclDType::kInt64, -1};
  x = in;
  x.traffic = &ints;
  EXPECT_EQ(classify(pol, x).decision, Decision::kLossless);
  EXPECT_EQ(classify(pol, x).params.mode, BoundMode::kLossless);
  EXPECT_EQ(classify(pol, x).params.dtype, DType::kI64);
  EXPECT_TRUE(classify(pol, x).auto_lossless);
  // Collective integers stay untouched by default.
  TrafficRecord coll_ints{OpKind::kCollective, NCCL_FUNC_ALLREDUCE, NcclDType::kInt32, 2};
  x.traffic = &coll_ints;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassInteger);
  x.traffic = &ints;
  TrafficRecord halves{OpKind::kP2p, 6, NcclDType::kFloat16, -1};
  x.traffic = &halves;
  EXPECT_EQ(classify(none, x).params.dtype, DType::kF16);
  EXPECT_EQ(classify(none, x).decision, Decision::kLossy);
}

// The lossless "auto" rule: probes, then a verdict from the coder's throughput against the link
// and the ratio, per datatype, measured again after kRecheckMessages.
TEST(CoderGauge, ProbesThenComparesTheCoderWithTheLink) {
  const int kI64 = static_cast<int>(DType::kI64) - 1, kI32 = static_cast<int>(DType::kI32) - 1;
  CoderGauge g;
  const double link = 125e6;  // 1 Gbit/s
  // 8 probes are compressed; until their measurements are in, later messages are too.
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) EXPECT_TRUE(g.next(kI64, link).compress);
  EXPECT_TRUE(g.next(kI64, link).compress);
  // Each probe: 1 MB in 2 ms (0.5 GB/s) to 0.25 MB (ratio 4): faster than the link, pays.
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) g.record(kI64, 1000000, 250000, 2000000);
  CoderGauge::Verdict v = g.next(kI64, link);
  EXPECT_TRUE(v.compress);
  EXPECT_TRUE(v.decided_now);
  double rate = 0, ratio = 0;
  g.measured(kI64, &rate, &ratio);
  EXPECT_NEAR(rate, 5e8, 1);
  EXPECT_NEAR(ratio, 4.0, 1e-9);
  EXPECT_FALSE(g.next(kI64, link).decided_now);
  // A 10 Gbit/s link outruns that coder: not worth it. Another column, its own measurement.
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    EXPECT_TRUE(g.next(kI32, 1.25e9).compress);
    g.record(kI32, 1000000, 250000, 2000000);
  }
  v = g.next(kI32, 1.25e9);
  EXPECT_FALSE(v.compress);
  EXPECT_TRUE(v.decided_now);
  // A fast coder with a ratio below 1.1 does not pay either; an unknown link never does.
  CoderGauge h;
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    h.next(kI64, link);
    h.record(kI64, 1000000, 950000, 1000);
  }
  EXPECT_FALSE(h.next(kI64, link).compress);
  CoderGauge u;
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    u.next(kI64, 0);
    u.record(kI64, 1000000, 100000, 1000);
  }
  EXPECT_FALSE(u.next(kI64, 0).compress);
  // After kRecheckMessages the verdict is measured again (probes compress).
  for (uint64_t k = 1; k < CoderGauge::kRecheckMessages; ++k)
    EXPECT_FALSE(u.next(kI64, 0).compress);
  EXPECT_TRUE(u.next(kI64, 0).compress);
}

// The lossy gate's use of the rule (LOSSY_GATE=link): an unknown link means compress, and the
// throughput counts the codec threads that share the work.
TEST(CoderGauge, LossyGateTakesUnknownLinksAndTheCodecThreads) {
  const int kF32 = static_cast<int>(DType::kF32) - 1;
  const auto measured = [&](double link, double parallel) {
    CoderGauge g;
    for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
      EXPECT_TRUE(g.next(kF32, link, /*unknown_pays=*/true, parallel).compress);
      g.record(kF32, 1000000, 100000, 1000000);  // 1 GB/s a thread, ratio 10
    }
    const CoderGauge::Verdict v = g.next(kF32, link, true, parallel);
    EXPECT_TRUE(v.decided_now);
    return v.compress;
  };
  EXPECT_TRUE(measured(0, 1));       // unknown link: compress
  EXPECT_TRUE(measured(0.9e9, 1));   // slower than the codec
  EXPECT_FALSE(measured(1.5e9, 1));  // faster than one thread
  EXPECT_TRUE(measured(1.5e9, 2));   // not than two
  EXPECT_FALSE(measured(2.5e9, 2));
  // The rate is the probes' median: a first compression 16x slower than the others (the codec's
  // buffers allocated) does not decide it.
  CoderGauge g;
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    EXPECT_TRUE(g.next(kF32, 1.5e9, true).compress);
    g.record(kF32, 1000000, 100000, k == 0 ? 8000000 : 500000);  // 0.125, then 2 GB/s
  }
  EXPECT_TRUE(g.next(kF32, 1.5e9, true).compress);
  double rate = 0, ratio = 0;
  g.measured(kF32, &rate, &ratio);
  EXPECT_NEAR(rate, 2e9, 1);
}

// The connection's side of the rule: a receiver that does not decode lossless frames gets the
// message raw (pass_no_lossless); otherwise the gauge decides "auto" cells.
TEST(CoderGauge, SendClassifierAppliesCapsAndTheGauge) {
  TrafficRecord ints{OpKind::kP2p, 6, NcclDType::kInt64, -1};
  SendTraffic traffic;
  traffic.path = TrafficPath::kProfiler;
  traffic.record = ints;
  CommOptions o;
  o.caps = kCapsAll & ~kCapPlanes;
  o.link_bytes_per_s = 1.0;  // a very slow link: lossless pays once measured
  o.link_rate_known = true;
  SendClassifier c;
  EXPECT_EQ(c.classify_send(o, 1 << 20, BufferProto::kSimple, traffic).decision,
            Decision::kPassNoLossless);
  o.caps = kCapsAll;
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    EXPECT_EQ(c.classify_send(o, 1 << 20, BufferProto::kSimple, traffic).decision,
              Decision::kLossless);
    c.gauge.record(static_cast<int>(DType::kI64) - 1, 1 << 20, 1 << 18, 1000000);
  }
  EXPECT_EQ(c.classify_send(o, 1 << 20, BufferProto::kSimple, traffic).decision,
            Decision::kLossless);
  SendClassifier fast_link;
  o.link_bytes_per_s = 1e15;
  for (int k = 0; k < CoderGauge::kProbeMessages; ++k) {
    fast_link.classify_send(o, 1 << 20, BufferProto::kSimple, traffic);
    fast_link.gauge.record(static_cast<int>(DType::kI64) - 1, 1 << 20, 1 << 18, 1000000);
  }
  EXPECT_EQ(fast_link.classify_send(o, 1 << 20, BufferProto::kSimple, traffic).decision,
            Decision::kPassNotPaying);
  // A rule that forces the lossless method skips the gauge.
  PolicyTable forced;
  std::string error;
  ASSERT_TRUE(parse_policy_rules("p2p.i64=lossless", &forced, &error)) << error;
  EXPECT_FALSE(forced.at(PolicyOp::kP2p, DType::kI64).auto_lossless);
  ASSERT_TRUE(parse_policy_rules("p2p.*=off,p2p.i32=on", &forced, &error)) << error;
  EXPECT_TRUE(forced.at(PolicyOp::kP2p, DType::kI32).auto_lossless);
  EXPECT_FALSE(forced.at(PolicyOp::kP2p, DType::kF32).on);
  EXPECT_FALSE(parse_policy_rules("p2p.u64=abs:1e-3", &forced, &error));
  EXPECT_NE(error.find("only losslessly"), std::string::npos) << error;
}

// HISTORY=auto's rule: a pipeline's time per input byte, max(CPU, wire), with and without.
TEST(HistoryGauge, ComparesThePipelinesTimeWithAndWithout) {
  using Gauge = HistoryGauge;
  const Gauge::DecodeCost none;
  // 1 MB each way. With the history: 100 KB on the wire, 2 ms of coding (2 ns a byte); without:
  // 150 KB, 1 ms.
  const Gauge::Sums with{1000000, 100000, 2000000, 8}, without{1000000, 150000, 1000000, 8};
  // 100 Mbit/s: the wire takes 8 and 12 ns a byte, more than the coding either way: kept.
  Gauge::Verdict v = Gauge::decide(with, without, 12.5e6, none);
  EXPECT_TRUE(v.pays);
  EXPECT_DOUBLE_EQ(v.ns_with, 2.0);
  EXPECT_DOUBLE_EQ(v.ns_without, 1.0);
  EXPECT_DOUBLE_EQ(v.wire_with, 0.1);
  EXPECT_DOUBLE_EQ(v.wire_without, 0.15);
  EXPECT_NEAR(v.link_with, 8.0, 1e-9);
  EXPECT_NEAR(v.link_without, 12.0, 1e-9);
  // 1 Gbit/s: 0.8 and 1.2 ns of wire; the coding's 2 ns with the history is the longer stage.
  EXPECT_FALSE(Gauge::decide(with, without, 125e6, none).pays);
  // Even where the wire without the history takes as long as the coding with it (75 MB/s).
  EXPECT_TRUE(Gauge::decide(with, without, 74e6, none).pays);
  EXPECT_FALSE(Gauge::decide(with, without, 76e6, none).pays);
  // The receivers' decoding counts beside the coding: 1 ns a byte with the history, 0.2
  // without, and 52 MB/s no longer pays (3 ns against 2.9 ns of wire without).
  const Gauge::DecodeCost decode{true, 1.0, 0.2};
  EXPECT_TRUE(Gauge::decide(with, without, 52e6, none).pays);
  v = Gauge::decide(with, without, 52e6, decode);
  EXPECT_FALSE(v.pays);
  EXPECT_DOUBLE_EQ(v.cpu_with, 3.0);
  EXPECT_DOUBLE_EQ(v.cpu_without, 1.2);
  EXPECT_TRUE(Gauge::decide(with, without, 48e6, decode).pays);
  // A history that also makes the coding faster pays on any link; one that saves no bytes and
  // costs time pays on none where the coding is the longer stage.
  EXPECT_TRUE(Gauge::decide({1000, 100, 500, 8}, {1000, 150, 1000, 8}, 1e15, none).pays);
  EXPECT_FALSE(Gauge::decide({1000, 150, 2000, 8}, {1000, 150, 1000, 8}, 1e15, none).pays);
  // Nothing measured (or no link): the history stays.
  EXPECT_TRUE(Gauge::decide({}, without, 125e6, none).pays);
  EXPECT_TRUE(Gauge::decide(with, without, 0.0, none).pays);
}

// The receivers' decode costs: nothing until both kinds have kMinFrames frames, then the lower
// quartile of each kind's last kWindow frames' times per byte; frames that waited for a core (far
// slower) do not move it, and old frames leave the window.
TEST(HistoryGauge, DecodeBoardTakesTheQuickerFramesOfEachKind) {
  HistoryDecodeBoard b;
  double with = 0, without = 0;
  for (uint64_t k = 0; k < HistoryDecodeBoard::kMinFrames; ++k) b.note(true, 1000, 3000);
  EXPECT_FALSE(b.per_byte(&with, &without));
  for (uint64_t k = 1; k < HistoryDecodeBoard::kMinFrames; ++k) b.note(false, 1000, 1000);
  EXPECT_FALSE(b.per_byte(&with, &without));
  b.note(false, 1000, 1000);
  ASSERT_TRUE(b.per_byte(&with, &without));
  EXPECT_DOUBLE_EQ(with, 3.0);
  EXPECT_DOUBLE_EQ(without, 1.0);
  // Eight more frames without the history, 0.1 .. 0.8 ns a byte (16 in all): the lower quartile
  // is the fourth smallest, 0.4.
  for (int k = 1; k <= 8; ++k) b.note(false, 1000, 100 * (uint64_t)k);
  ASSERT_TRUE(b.per_byte(&with, &without));
  EXPECT_DOUBLE_EQ(without, 0.4);
  // A third of the frames waited for a core (100 ns a byte): the figure stays among the quick
  // frames (the sixth smallest of 24, 0.6), where the mean would read 33.8.
  for (int k = 0; k < 8; ++k) b.note(false, 1000, 100000);
  ASSERT_TRUE(b.per_byte(&with, &without));
  EXPECT_DOUBLE_EQ(without, 0.6);
  EXPECT_DOUBLE_EQ(with, 3.0);
  // A window of newer frames replaces the old ones: 64 at 2 ns a byte.
  for (int k = 0; k < HistoryDecodeBoard::kWindow; ++k) b.note(false, 1000, 2000);
  ASSERT_TRUE(b.per_byte(&with, &without));
  EXPECT_DOUBLE_EQ(without, 2.0);
  b.note(true, 0, 5);  // no output: nothing to weigh
  ASSERT_TRUE(b.per_byte(&with, &without));
  EXPECT_DOUBLE_EQ(with, 3.0);
  // The process's board is one object.
  EXPECT_EQ(&history_decode_board(), &history_decode_board());
}

// The sequence: warm-up and measured frames with the history, measured frames without it, a
// verdict once every measurement is in, which holds for kRecheckFrames frames; then again.
TEST(HistoryGauge, MeasuresWithThenWithoutThenHoldsItsVerdict) {
  using Phase = HistoryGauge::Phase;
  const double link = 1.25e9;  // 10 Gbit/s
  HistoryGauge g;
  const HistoryDecodeBoard none;  // no receiver has measured anything
  std::vector<HistoryGauge::Ticket> with, without;
  bool decided = true;
  for (int k = 0; k < HistoryGauge::kWarmFrames; ++k) {
    const HistoryGauge::Ticket t = g.next(link, none, &decided);
    EXPECT_TRUE(t.history);
    EXPECT_EQ(t.phase, Phase::kWarm);
    EXPECT_FALSE(decided);
    g.record(t, 1000, 10, 1000000);  // unmeasured: ignored
  }
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) with.push_back(g.next(link, none));
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) without.push_back(g.next(link, none));
  for (const auto& t : with) EXPECT_TRUE(t.history && t.phase == Phase::kWith);
  for (const auto& t : without) EXPECT_TRUE(!t.history && t.phase == Phase::kWithout);
  // The measurements come in late (codec threads): frames meanwhile go without the history.
  for (const auto& t : with) g.record(t, 1 << 17, 1 << 13, 200000);  // 1.53 ns a byte
  HistoryGauge::Ticket t = g.next(link, none, &decided);
  EXPECT_FALSE(t.history);
  EXPECT_EQ(t.phase, Phase::kWaiting);
  EXPECT_FALSE(decided);
  g.record(t, 1 << 17, 1, 1);                                           // not a probe: ignored
  for (const auto& w : without) g.record(w, 1 << 17, 1 << 14, 100000);  // 0.76 ns a byte
  // At 10 Gbit/s the coding is the longer stage: 1.53 ns a byte with the history, 0.76 without.
  t = g.next(link, none, &decided);
  EXPECT_TRUE(decided);
  EXPECT_FALSE(t.history);
  EXPECT_EQ(t.phase, Phase::kSettled);
  EXPECT_FALSE(g.last().pays);
  EXPECT_NEAR(g.last().wire_with, 1.0 / 16, 1e-12);
  EXPECT_NEAR(g.last().wire_without, 1.0 / 8, 1e-12);
  // The verdict holds (a probe's late record changes nothing) ...
  g.record(with[0], 1 << 17, 0, 0);
  for (uint64_t k = 1; k < HistoryGauge::kRecheckFrames; ++k) {
    t = g.next(link, none, &decided);
    ASSERT_FALSE(t.history) << k;
    ASSERT_FALSE(decided) << k;
  }
  // ... then the history is measured again from a warm-up, and the old measurement's records
  // do not count in the new one.
  t = g.next(link, none, &decided);
  EXPECT_TRUE(t.history);
  EXPECT_EQ(t.phase, Phase::kWarm);
  for (int k = 1; k < HistoryGauge::kWarmFrames; ++k) g.next(link, none);
  with.clear();
  without.clear();
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) with.push_back(g.next(link, none));
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) without.push_back(g.next(link, none));
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) {
    g.record(with[static_cast<size_t>(k)], 1 << 17, 1 << 13, 200000);
    g.record(without[static_cast<size_t>(k)], 1 << 17, 1 << 14, 100000);
  }
  // This time over a 100 Mbit/s link, the longer stage: 5 ns a byte with it, 10 without.
  t = g.next(12.5e6, none, &decided);
  EXPECT_TRUE(decided);
  EXPECT_TRUE(t.history);
  EXPECT_TRUE(g.last().pays);
  EXPECT_TRUE(g.next(12.5e6, none).history);
  EXPECT_FALSE(g.last().decode.known);

  // The same frames, where this process's receivers decode a history frame at 10 ns a byte and
  // the others at nothing: the CPU side with the history (11.5 ns) outlasts the wire without it.
  HistoryDecodeBoard slow_receivers;
  for (uint64_t k = 0; k < HistoryDecodeBoard::kMinFrames; ++k) {
    slow_receivers.note(true, 1000, 10000);
    slow_receivers.note(false, 1000, 0);
  }
  HistoryGauge h;
  for (int k = 0; k < HistoryGauge::kWarmFrames; ++k) h.next(12.5e6, slow_receivers);
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k)
    h.record(h.next(12.5e6, slow_receivers), 1 << 17, 1 << 13, 200000);
  for (int k = 0; k < HistoryGauge::kProbeFrames; ++k)
    h.record(h.next(12.5e6, slow_receivers), 1 << 17, 1 << 14, 100000);
  t = h.next(12.5e6, slow_receivers, &decided);
  EXPECT_TRUE(decided);
  EXPECT_FALSE(t.history);
  EXPECT_TRUE(h.last().decode.known);
  EXPECT_DOUBLE_EQ(h.last().decode.with_ns, 10.0);
  EXPECT_FALSE(h.last().pays);
}

// HISTORY: auto by default, on and off, anything else refused with the variable named.
// A probe frame whose thread lost its core mid-coding (4 ms for a 128 KiB frame that codes in
// 100 us) does not decide: each state counts its median frame. With the sums, the frames without
// the history would have averaged 4.5 ns a byte against 1.5 with it, and the history would have
// been kept at 10 Gbit/s where it costs twice the coding.
TEST(HistoryGauge, OneFrameThatLostItsCoreDoesNotDecide) {
  const double link = 1.25e9;
  const HistoryDecodeBoard none;
  // A gauge past its warm-up, and its probe frames with and without the history.
  struct Probed {
    HistoryGauge g;
    std::vector<HistoryGauge::Ticket> with, without;
  };
  auto probed = [&](Probed* p) {
    for (int k = 0; k < HistoryGauge::kWarmFrames; ++k) p->g.next(link, none);
    for (int k = 0; k < HistoryGauge::kProbeFrames; ++k) p->with.push_back(p->g.next(link, none));
    for (int k = 0; k < HistoryGauge::kProbeFrames; ++k)
      p->without.push_back(p->g.next(link, none));
  };
  for (int late : {0, 3, 7}) {  // where among the probes the slow frame falls
    Probed p;
    probed(&p);
    for (size_t k = 0; k < p.with.size(); ++k) {
      p.g.record(p.with[k], 1 << 17, 1 << 13, 200000);  // 1.53 ns a byte
      p.g.record(p.without[k], 1 << 17, 1 << 14, (int)k == late ? 4000000 : 100000);
    }
    bool decided = false;
    p.g.next(link, none, &decided);
    ASSERT_TRUE(decided);
    EXPECT_FALSE(p.g.last().pays) << "slow frame " << late;
    EXPECT_NEAR(p.g.last().ns_without, 100000.0 / (1 << 17), 1e-6) << "slow frame " << late;
    EXPECT_NEAR(p.g.last().ns_with, 200000.0 / (1 << 17), 1e-6);
  }
  // Frames that differ in earnest: the median of eight is the mean of the middle two.
  Probed p;
  probed(&p);
  for (size_t k = 0; k < p.with.size(); ++k) {
    p.g.record(p.with[k], 1000, 100, 1000 * (k + 1));  // 1 .. 8 ns a byte
    p.g.record(p.without[k], 1000, 100, 1000);
  }
  p.g.next(link, none);
  EXPECT_DOUBLE_EQ(p.g.last().ns_with, 4.5);
  EXPECT_DOUBLE_EQ(p.g.last().ns_without, 1.0);
}

TEST(HistoryGauge, SettingParses) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({}), &s, &err)) << err;
  EXPECT_EQ(s.history(), Settings::History::kAuto);
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_HISTORY", "off"}}), &s, &err)) << err;
  EXPECT_EQ(s.history(), Settings::History::kOff);
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_HISTORY", "ON"}}), &s, &err)) << err;
  EXPECT_EQ(s.history(), Settings::History::kOn);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_HISTORY", "sometimes"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_HISTORY"), std::string::npos) << err;
}

// ENTROPY: the gain is the link's bits in the stage's time a value, in 1/256 bit, rounded up;
// 0 (whenever smaller) for an unknown link or a free stage; 4096 (never) at most. on and off do
// not depend on the link; the classifier hands the connection's gain to every lossy send.
TEST(Entropy, MinGainIsTheLinksBitsInTheStagesTime) {
  EXPECT_EQ(rans_min_gain_for(1.0, 125e6), 256u);   // 1 Gbit/s x 1 ns = 1 bit
  EXPECT_EQ(rans_min_gain_for(2.0, 12.5e6), 52u);   // 100 Mbit/s x 2 ns = 0.2 bit: 51.2 up
  EXPECT_EQ(rans_min_gain_for(1.0, 125e9), 4096u);  // 1 Tbit/s: 1000 bits, capped (never)
  EXPECT_EQ(rans_min_gain_for(1.0, 0.0), 0u);       // unknown link
  EXPECT_EQ(rans_min_gain_for(0.0, 125e6), 0u);     // a free stage
  EXPECT_EQ(rans_min_gain_for(1e-9, 1.0), 1u);      // any cost at all: at least 1/256 bit
  EXPECT_EQ(rans_min_gain(Settings::Entropy::kOn, 125e9), 0u);
  EXPECT_EQ(rans_min_gain(Settings::Entropy::kOff, 0.0), 4096u);
  EXPECT_EQ(rans_min_gain(Settings::Entropy::kAuto, 0.0), 0u);  // unknown link: whenever smaller
  // auto on a known link: the measured cost's gain (the calibration runs the codec here).
  const EntropyCost& cost = entropy_cost();
  EXPECT_TRUE(cost.measured) << "the calibration frame should take rANS";
  EXPECT_GE(cost.ns_per_value, 0.0);
  EXPECT_EQ(rans_min_gain(Settings::Entropy::kAuto, 125e6),
            rans_min_gain_for(cost.ns_per_value, 125e6));
  EXPECT_EQ(rans_gain_description(0), "rANS whenever smaller");
  EXPECT_EQ(rans_gain_description(4096), "no rANS");
  EXPECT_EQ(rans_gain_description(384), "rANS where it saves >= 1.50 bits a value");

  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({}), &s, &err)) << err;
  EXPECT_EQ(s.entropy(), Settings::Entropy::kAuto);
  ASSERT_TRUE(load_settings(fake_env({{"NCCL_SQUEEZE_ENTROPY", "off"}}), &s, &err)) << err;
  EXPECT_EQ(s.entropy(), Settings::Entropy::kOff);
  EXPECT_FALSE(load_settings(fake_env({{"NCCL_SQUEEZE_ENTROPY", "sometimes"}}), &s, &err));
  EXPECT_NE(err.find("NCCL_SQUEEZE_ENTROPY"), std::string::npos) << err;

  TrafficRecord floats{OpKind::kP2p, 6, NcclDType::kFloat32, -1};
  SendTraffic traffic;
  traffic.path = TrafficPath::kProfiler;
  traffic.record = floats;
  CommOptions o;
  o.caps = kCapsAll;
  o.rans_min_gain = 300;
  SendClassifier c;
  const ClassifyResult r = c.classify_send(o, 1 << 20, BufferProto::kSimple, traffic);
  EXPECT_EQ(r.decision, Decision::kLossy);
  EXPECT_EQ(r.params.rans_min_gain, 300u);
}

TEST(Hints, PerThreadConnectAndTransfer) {
  HintBoard board;
  ncclNetAttr_v11_t attr;
  std::memset(&attr, 0xff, sizeof(attr));
  EXPECT_EQ(board.connect_kind(), CommKind::kUnknown);
  attr.op = 0x7C0;
  board.set(attr);
  EXPECT_EQ(board.connect_kind(), CommKind::kP2p);
  EXPECT_EQ(board.transfer_op(), 0u);
  attr.op = 1u << NCCL_FUNC_ALLTOALL;
  board.set(attr);
  EXPECT_EQ(board.transfer_op(), 1u << NCCL_FUNC_ALLTOALL);
  EXPECT_EQ(board.connect_kind(), CommKind::kP2p);
  std::thread([&] {
    EXPECT_EQ(board.connect_kind(), CommKind::kUnknown);  // hints are per thread
    ncclNetAttr_v11_t c;
    std::memset(&c, 0xff, sizeof(c));
    board.set(c);
    EXPECT_EQ(board.connect_kind(), CommKind::kCollective);
  }).join();
  EXPECT_EQ(board.connect_kind(), CommKind::kP2p);
}

// NCCL_SQUEEZE_VERIFY's measure: the largest error over each element's bound, per mode.
TEST(Verify, ErrorOverBoundPerMode) {
  CodecParams p;
  p.dtype = DType::kF32;
  // 64 values: block 0 spans [0, 1], block 1 spans [0, 100].
  std::vector<float> x(64), y;
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i) / 31.0f;
  for (int i = 32; i < 64; ++i) x[i] = 100.0f * static_cast<float>(i - 32) / 31.0f;
  const size_t bytes = x.size() * 4;
  EXPECT_EQ(max_error_over_bound(p, x.data(), x.data(), bytes), 0.0);
  y = x;
  y[3] += 0.002f;  // block 0: error 0.002, twice its local bound
  y[40] += 0.05f;  // block 1: error 0.05
  const double e3 = std::fabs(static_cast<double>(y[3]) - x[3]);
  const double e40 = std::fabs(static_cast<double>(y[40]) - x[40]);
  p.mode = BoundMode::kAbs;
  p.bound = 0.1;
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, x.data(), y.data(), bytes), e40 / 0.1);
  p.mode = BoundMode::kRel;  // range of the message: 100
  p.bound = 1e-3;
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, x.data(), y.data(), bytes), e40 / 0.1);
  p.mode = BoundMode::kLocal;  // block 0's range is 1: its error counts 100x more
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, x.data(), y.data(), bytes),
                   std::max(e3 / 1e-3, e40 / 0.1));
  EXPECT_GT(max_error_over_bound(p, x.data(), y.data(), bytes), 1.0);
  // What must be exact: a non-finite value, the bytes after the last whole element.
  std::vector<float> xn = x, yn = x;
  xn[5] = yn[5] = INFINITY;
  EXPECT_EQ(max_error_over_bound(p, xn.data(), yn.data(), bytes), 0.0);
  yn[5] = NAN;
  EXPECT_EQ(max_error_over_bound(p, xn.data(), yn.data(), bytes), kErrNotWithin);
  std::vector<uint8_t> xb(bytes + 3, 7), yb(bytes + 3, 7);
  EXPECT_EQ(max_error_over_bound(p, xb.data(), yb.data(), xb.size()), 0.0);
  yb.back() = 8;
  EXPECT_EQ(max_error_over_bound(p, xb.data(), yb.data(), xb.size()), kErrNotWithin);
  // bf16: the values widen exactly.
  p.dtype = DType::kBF16;
  p.mode = BoundMode::kAbs;
  p.bound = 1.0 / 128;
  const uint16_t one = 0x3f80, one_plus = 0x3f81;  // 1 and 1 + 2^-7
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, &one, &one_plus, 2), 1.0);
  // The lossless mode and integer data: bit for bit, whatever the bound says.
  p.mode = BoundMode::kLossless;
  EXPECT_EQ(max_error_over_bound(p, &one, &one, 2), 0.0);
  EXPECT_EQ(max_error_over_bound(p, &one, &one_plus, 2), kErrNotWithin);
  p.dtype = DType::kI64;
  p.mode = BoundMode::kAbs;
  p.bound = 1e6;
  const int64_t a[2] = {5, 1 << 20}, b[2] = {5, (1 << 20) + 1};
  EXPECT_EQ(max_error_over_bound(p, a, a, sizeof(a)), 0.0);
  EXPECT_EQ(max_error_over_bound(p, a, b, sizeof(a)), kErrNotWithin);
}

TEST(Verify, ErrorOverBoundPerTableOfALayout) {
  // Two tables of 4 columns: table 0 spans [0, 3], table 1 [0, 0.03]; rel 1e-2 per table.
  std::vector<float> x(64), y;
  for (int i = 0; i < 64; ++i) x[i] = (i % 8 < 4 ? 1.0f : 0.01f) * static_cast<float>(i % 4);
  const uint32_t cols[2] = {4, 4};
  RowLayout lay;
  lay.row_elems = 8;
  lay.n_tables = 2;
  lay.table_cols = cols;
  CodecParams p;
  p.mode = BoundMode::kRel;
  p.bound = 1e-2;
  p.layout = &lay;
  y = x;
  y[5] += 2e-4f;  // table 1: 2e-4 against 1e-2 x 0.03
  const double e5 = std::fabs(static_cast<double>(y[5]) - x[5]);
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, x.data(), y.data(), 256), e5 / (1e-2 * x[7]));
  EXPECT_GT(max_error_over_bound(p, x.data(), y.data(), 256), 0.5);
  p.layout = nullptr;  // the frame's range (3): the same error is well within
  EXPECT_DOUBLE_EQ(max_error_over_bound(p, x.data(), y.data(), 256), e5 / (1e-2 * x[3]));
}

TEST(Layout, ParseWidthsCountsRowsAndBounds) {
  LayoutSpec s;
  std::string error;
  ASSERT_TRUE(parse_layout("64*2@1460, 32@10000000=5e-3,128", &s, &error)) << error;
  EXPECT_EQ(s.cols, (std::vector<uint32_t>{64, 64, 32, 128}));
  EXPECT_EQ(s.rows, (std::vector<uint64_t>{1460, 1460, 10000000, 0}));
  EXPECT_EQ(s.bounds, (std::vector<double>{0, 0, 5e-3, 0}));
  EXPECT_EQ(s.row_elems, 288u);
  const struct {
    const char* text;
    const char* message;
  } bad[] = {{"", "no table"},
             {"64,", "table entry 2 \"\": the width"},
             {"0", "the width must be a whole number >= 1"},
             {"64*0", "*COUNT must be a whole number >= 1"},
             {"64=0", "the bound must be a number > 0"},
             {"64=-1e-3", "the bound must be a number > 0"},
             {"64@x", "@ROWS must be a whole number"},
             {"64*5000", "more than 4096 tables"},
             {"1048576,1", "a row wider than 1048576"}};
  for (const auto& b : bad) {
    EXPECT_FALSE(parse_layout(b.text, &s, &error)) << b.text;
    EXPECT_NE(error.find(b.message), std::string::npos) << b.text << ": " << error;
  }
}

TEST(Layout, WhereALayoutApplies) {
  LayoutSpec s;
  std::string error;
  ASSERT_TRUE(parse_layout("64*3,64", &s, &error));  // 256 f32 = 1 KiB rows
  EXPECT_EQ(layout_use(s, 4, BoundMode::kRel), LayoutUse::kTables);
  EXPECT_EQ(layout_use(s, 2, BoundMode::kLocal), LayoutUse::kTables);
  ASSERT_TRUE(parse_layout("64*26", &s, &error));  // 6.5 KiB rows: steps start mid-row
  EXPECT_EQ(layout_use(s, 4, BoundMode::kRel), LayoutUse::kNone);
  EXPECT_EQ(layout_use(s, 4, BoundMode::kLocal), LayoutUse::kVectors);
  ASSERT_TRUE(parse_layout("64*25,32", &s, &error));  // mixed widths, rows that do not divide
  EXPECT_EQ(layout_use(s, 4, BoundMode::kLocal), LayoutUse::kNone);
  ASSERT_TRUE(parse_layout("1024", &s, &error));  // one table: rel gains nothing
  EXPECT_EQ(layout_use(s, 4, BoundMode::kRel), LayoutUse::kNone);
  EXPECT_EQ(layout_use(s, 4, BoundMode::kLocal), LayoutUse::kTables);
  ASSERT_TRUE(parse_layout("96", &s, &error));  // 384 bytes do not divide 4 KiB
  EXPECT_EQ(layout_use(s, 4, BoundMode::kLocal), LayoutUse::kNone);
}

TEST(Layout, ApplyGivesEachTableItsBoundAndTheSmallestToTheFrame) {
  auto spec = std::make_shared<LayoutSpec>();
  std::string error;
  ASSERT_TRUE(parse_layout("64@10,64@5000,64@1000000,64=4e-3", spec.get(), &error));
  install_configured_layout(nullptr, /*classes=*/true, ScheduleSettings{});
  CodecParams p;
  p.dtype = DType::kF32;
  p.mode = BoundMode::kRel;
  p.bound = 1e-2;
  TaskLayout storage;
  apply_layout(spec, &p, &storage);
  ASSERT_NE(p.layout, nullptr);
  EXPECT_EQ(p.layout->row_elems, 256u);
  EXPECT_EQ(p.layout->start_col, 0u);
  EXPECT_EQ(std::vector<double>(p.layout->table_bounds, p.layout->table_bounds + 4),
            (std::vector<double>{5e-2, 3e-2, 1e-2, 4e-3}));
  EXPECT_EQ(p.bound, 4e-3);
  // Without storage (the CUDA encoder): the smallest bound, no layout.
  CodecParams g;
  g.mode = BoundMode::kRel;
  g.bound = 1e-2;
  apply_layout(spec, &g, nullptr);
  EXPECT_EQ(g.layout, nullptr);
  EXPECT_EQ(g.bound, 4e-3);
  // Local, tables of one width in rows that do not divide 4 KiB: one record per vector.
  ASSERT_TRUE(parse_layout("64*26@100", spec.get(), &error));
  CodecParams l;
  l.mode = BoundMode::kLocal;
  l.bound = 2e-3;
  apply_layout(spec, &l, &storage);
  ASSERT_NE(l.layout, nullptr);
  EXPECT_EQ(l.layout->row_elems, 64u);
  EXPECT_EQ(l.layout->n_tables, 1u);
  EXPECT_EQ(l.layout->table_bounds[0], 1e-2);  // class loose: 5x
  install_configured_layout(nullptr, false, ScheduleSettings{});
}

}  // namespace
}  // namespace squeeze::plugin
