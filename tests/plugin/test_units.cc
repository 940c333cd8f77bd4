// Unit tests of the plugin's internal pieces (linked against squeeze_plugin_core): the TOML
// subset parser, configuration loading, interface selection, the staging ring, the registration
// order rule and the classification rules.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "plugin/classify/classify.h"
#include "plugin/config.h"
#include "plugin/pipeline/staging.h"
#include "plugin/toml_subset.h"
#include "plugin/transport/interfaces.h"

namespace squeeze::plugin {
namespace {

TEST(Toml, AcceptsTheSubset) {
  std::vector<TomlEntry> e;
  std::string err;
  ASSERT_TRUE(parse_toml_subset(
      "# c\n\n[squeeze]  # t\nmode = \"abs\"\nbound=1e-3\nmin_bytes = 4_096\nenable = false\n"
      "stats_file = \"a \\\"b\\\" c\" # x\r\n",
      &e, &err))
      << err;
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].key, "mode");
  EXPECT_EQ(e[0].value, "abs");
  EXPECT_EQ(e[0].kind, TomlEntry::Kind::kString);
  EXPECT_EQ(e[1].kind, TomlEntry::Kind::kFloat);
  EXPECT_EQ(e[2].value, "4096");
  EXPECT_EQ(e[2].kind, TomlEntry::Kind::kInteger);
  EXPECT_EQ(e[3].kind, TomlEntry::Kind::kBool);
  EXPECT_EQ(e[4].value, "a \"b\" c");
  EXPECT_EQ(e[4].line, 8);
}

TEST(Toml, RejectsEverythingElseWithLineNumber) {
  const std::pair<const char*, const char*> bad[] = {
      {"a = 1\n[other]\n", "line 2"},
      {"[squeeze]\n[squeeze]\n", "line 2"},
      {"a = 1\n[squeeze]\n", "line 2"},
      {"a = [1, 2]\n", "line 1"},
      {"a = {x = 1}\n", "line 1"},
      {"x.y = 1\n", "line 1"},
      {"A = 1\n", "line 1"},
      {"a = 1\na = 2\n", "line 2"},
      {"a = \"open\n", "line 1"},
      {"a = 1 2\n", "line 1"},
      {"\n\na =\n", "line 3"},
      {"a = 'lit'\n", "line 1"},
      {"a = \"\\q\"\n", "line 1"},
      {"a = 1__0\n", "line 1"},
  };
  for (const auto& [text, line] : bad) {
    std::vector<TomlEntry> e;
    std::string err;
    EXPECT_FALSE(parse_toml_subset(text, &e, &err)) << text;
    EXPECT_NE(err.find(line), std::string::npos) << text << " -> " << err;
  }
}

EnvLookup fake_env(const std::map<std::string, std::string>& m) {
  return [m](const char* name) -> const char* {
    auto it = m.find(name);
    return it == m.end() ? nullptr : it->second.c_str();
  };
}

TEST(Config, DefaultsAndTypedAccessors) {
  Settings s;
  std::string err;
  ASSERT_TRUE(load_settings(fake_env({}), &s, &err)) << err;
  EXPECT_TRUE(s.enable());
  EXPECT_EQ(s.mode(), BoundMode::kRel);
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
  EXPECT_EQ(lo[0].speed_mbps, 10000);
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
  TrafficRecord ints{OpKind::kP2p, 6, NcclDType::kInt64, -1};
  x = in;
  x.traffic = &ints;
  EXPECT_EQ(classify(pol, x).decision, Decision::kPassInteger);
  TrafficRecord halves{OpKind::kP2p, 6, NcclDType::kFloat16, -1};
  x.traffic = &halves;
  EXPECT_EQ(classify(none, x).params.dtype, DType::kF16);
  EXPECT_EQ(classify(none, x).decision, Decision::kLossy);
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

}  // namespace
}  // namespace squeeze::plugin
