// Plays NCCL 2.28's side of the profiler chain (nccl-net-api.md 9.2): task events (P2p / Coll)
// start and stop before the proxy starts ProxyOp and ProxyStep events under them; the net plugin
// then asks NCCL's callback to start a NetPlugin event whose parent is the step's handle.
#include <gtest/gtest.h>
#include <unistd.h>

#include "plugin/classify/profiler_v5.h"

namespace squeeze::plugin {
namespace {

// NCCL's internal struct behind the phandle passed to isend (first field is what matters).
struct FakeProxyEventHandle {
  void* stepEventHandle;
  void* subArgPtr;
};

void* g_profiler_ctx = nullptr;
bool g_stop_called_with_null = false;

// Mimics ncclProfilerCallback: builds the NetPlugin descriptor from the phandle and forwards
// to the loaded profiler; stop forwards without a NULL check, as NCCL does.
ncclResult_t fake_nccl_callback(void** event, int type, void* phandle, int64_t plugin_id,
                                void* data) {
  if (type == ncclProfilerNetEventStart) {
    ncclProfilerEventDescr_v5_t d{};
    d.type = ncclProfileNetPlugin;
    d.parentObj = static_cast<FakeProxyEventHandle*>(phandle)->stepEventHandle;
    d.netPlugin.id = plugin_id;
    d.netPlugin.data = data;
    return ncclProfiler_v5.startEvent(g_profiler_ctx, event, &d);
  }
  if (type == ncclProfilerNetEventStop) {
    if (*event == nullptr) g_stop_called_with_null = true;
    return ncclProfiler_v5.stopEvent(*event);
  }
  return ncclSuccess;
}

class ProfilerChain : public ::testing::Test {
 protected:
  void SetUp() override {
    int mask = 0;
    ASSERT_EQ(ncclProfiler_v5.init(&g_profiler_ctx, 42, &mask, "test", 2, 4, 0, nullptr),
              ncclSuccess);
    EXPECT_TRUE(mask & ncclProfileNetPlugin);
    ASSERT_TRUE(profiler_active());
  }
  void TearDown() override {
    EXPECT_EQ(ncclProfiler_v5.finalize(g_profiler_ctx), ncclSuccess);
    g_profiler_ctx = nullptr;
  }

  // Runs task -> ProxyOp -> ProxyStep as NCCL does and returns the step handle.
  void* start_chain(const ncclProfilerEventDescr_v5_t& task, pid_t pid) {
    void* task_handle = nullptr;
    ncclProfilerEventDescr_v5_t t = task;
    EXPECT_EQ(ncclProfiler_v5.startEvent(g_profiler_ctx, &task_handle, &t), ncclSuccess);
    // Task events stop right after upload, before the proxy starts the op (9.2).
    EXPECT_EQ(ncclProfiler_v5.stopEvent(task_handle), ncclSuccess);
    ncclProfilerEventDescr_v5_t op{};
    op.type = ncclProfileProxyOp;
    op.parentObj = task_handle;
    op.proxyOp.pid = pid;
    op.proxyOp.isSend = 1;
    void* op_handle = nullptr;
    EXPECT_EQ(ncclProfiler_v5.startEvent(g_profiler_ctx, &op_handle, &op), ncclSuccess);
    ncclProfilerEventDescr_v5_t step{};
    step.type = ncclProfileProxyStep;
    step.parentObj = op_handle;
    void* step_handle = nullptr;
    EXPECT_EQ(ncclProfiler_v5.startEvent(g_profiler_ctx, &step_handle, &step), ncclSuccess);
    return step_handle;
  }
};

ncclProfilerEventDescr_v5_t p2p_task(const char* func, const char* dtype) {
  ncclProfilerEventDescr_v5_t d{};
  d.type = ncclProfileP2p;
  d.p2p.func = func;
  d.p2p.datatype = dtype;
  d.p2p.count = 1024;
  return d;
}

ncclProfilerEventDescr_v5_t coll_task(const char* func, const char* dtype, const char* proto) {
  ncclProfilerEventDescr_v5_t d{};
  d.type = ncclProfileColl;
  d.coll.func = func;
  d.coll.datatype = dtype;
  d.coll.proto = proto;
  d.coll.algo = "RING";
  return d;
}

TEST_F(ProfilerChain, P2pFloatSendResolves) {
  FakeProxyEventHandle ph{start_chain(p2p_task("Send", "ncclFloat32"), getpid()), nullptr};
  TrafficRecord r = resolve_traffic(fake_nccl_callback, &ph);
  EXPECT_EQ(r.kind, OpKind::kP2p);
  EXPECT_EQ(r.func, NCCL_FUNC_SEND);
  EXPECT_EQ(r.dtype, NcclDType::kFloat32);
  EXPECT_FALSE(g_stop_called_with_null);
}

TEST_F(ProfilerChain, TorchRecMixResolvesEachDatatype) {
  struct Case {
    ncclProfilerEventDescr_v5_t task;
    OpKind kind;
    NcclDType dtype;
    int8_t proto;
  } cases[] = {
      {p2p_task("Send", "ncclInt64"), OpKind::kP2p, NcclDType::kInt64, -1},
      {p2p_task("Send", "ncclInt32"), OpKind::kP2p, NcclDType::kInt32, -1},
      {p2p_task("Send", "ncclFloat32"), OpKind::kP2p, NcclDType::kFloat32, -1},
      {p2p_task("Recv", "ncclBfloat16"), OpKind::kP2p, NcclDType::kBfloat16, -1},
      {p2p_task("Send", "Unknown"), OpKind::kP2p, NcclDType::kUnknown, -1},
      {coll_task("AllReduce", "ncclFloat32", "SIMPLE"), OpKind::kCollective, NcclDType::kFloat32,
       NCCL_PROTO_SIMPLE},
      {coll_task("AllReduce", "ncclFloat32", "LL128"), OpKind::kCollective, NcclDType::kFloat32,
       NCCL_PROTO_LL128},
  };
  // Start all chains first, then resolve: handles must stay valid after their events stopped.
  FakeProxyEventHandle handles[sizeof(cases) / sizeof(cases[0])];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i)
    handles[i] = {start_chain(cases[i].task, getpid()), nullptr};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
    TrafficRecord r = resolve_traffic(fake_nccl_callback, &handles[i]);
    EXPECT_EQ(r.kind, cases[i].kind) << i;
    EXPECT_EQ(r.dtype, cases[i].dtype) << i;
    EXPECT_EQ(r.proto, cases[i].proto) << i;
  }
}

TEST_F(ProfilerChain, ProxyOpFromAnotherProcessIsForeign) {
  FakeProxyEventHandle ph{start_chain(p2p_task("Send", "ncclFloat32"), getpid() + 1), nullptr};
  TrafficRecord r = resolve_traffic(fake_nccl_callback, &ph);
  EXPECT_EQ(r.kind, OpKind::kForeign);
  EXPECT_EQ(r.dtype, NcclDType::kUnknown);
}

TEST_F(ProfilerChain, ForeignNetPluginIdIsIgnored) {
  FakeProxyEventHandle ph{start_chain(p2p_task("Send", "ncclFloat32"), getpid()), nullptr};
  ncclProfilerEventDescr_v5_t d{};
  d.type = ncclProfileNetPlugin;
  d.parentObj = ph.stepEventHandle;
  d.netPlugin.id = (2 << 16) | 1;  // NCCL's socket transport events
  TrafficRecord out{OpKind::kUnknown, -1, NcclDType::kUnknown, -1};
  d.netPlugin.data = &out;
  void* h = nullptr;
  ASSERT_EQ(ncclProfiler_v5.startEvent(g_profiler_ctx, &h, &d), ncclSuccess);
  EXPECT_EQ(h, nullptr);
  EXPECT_EQ(out.kind, OpKind::kUnknown);
}

TEST_F(ProfilerChain, NullAndGarbageInputsAreSafe) {
  EXPECT_EQ(resolve_traffic(nullptr, nullptr).kind, OpKind::kUnknown);
  FakeProxyEventHandle bogus{reinterpret_cast<void*>(0x1234), nullptr};
  EXPECT_EQ(resolve_traffic(fake_nccl_callback, &bogus).kind, OpKind::kUnknown);
  EXPECT_EQ(ncclProfiler_v5.stopEvent(nullptr), ncclSuccess);
  EXPECT_EQ(ncclProfiler_v5.recordEventState(nullptr, ncclProfilerProxyStepSendWait, nullptr),
            ncclSuccess);
  void* h = reinterpret_cast<void*>(1);
  EXPECT_EQ(ncclProfiler_v5.startEvent(g_profiler_ctx, &h, nullptr), ncclSuccess);
  EXPECT_EQ(h, nullptr);
}

TEST(ProfilerInactive, ResolveFallsBackWithoutCallingNccl) {
  ASSERT_FALSE(profiler_active());
  static bool called = false;
  auto cb = [](void**, int, void*, int64_t, void*) -> ncclResult_t {
    called = true;
    return ncclSuccess;
  };
  int dummy = 0;
  EXPECT_EQ(resolve_traffic(cb, &dummy).kind, OpKind::kUnknown);
  EXPECT_FALSE(called);
  EXPECT_EQ(ncclProfiler_v5.finalize(nullptr), ncclSuccess);
}

TEST(ProfilerNames, ParsersCoverNcclStrings) {
  EXPECT_EQ(func_from_name("AlltoAll"), NCCL_FUNC_ALLTOALL);
  EXPECT_EQ(func_from_name("AllReduce"), NCCL_FUNC_ALLREDUCE);
  EXPECT_EQ(func_from_name("Bogus"), -1);
  EXPECT_EQ(dtype_from_name("ncclFloat16"), NcclDType::kFloat16);
  EXPECT_EQ(dtype_from_name("ncclBfloat16"), NcclDType::kBfloat16);
  EXPECT_EQ(dtype_from_name("Unknown"), NcclDType::kUnknown);
  EXPECT_EQ(proto_from_name("LL"), NCCL_PROTO_LL);
  EXPECT_EQ(proto_from_name(nullptr), -1);
}

}  // namespace
}  // namespace squeeze::plugin
