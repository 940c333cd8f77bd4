// The project's own declarations of NCCL's profiler plugin ABI, version 5 (NCCL 2.26 and later,
// native in 2.28.9), written from ../shared/docs/nccl-net-api.md section 9. Squeeze exports
// ncclProfiler_v5 from the net plugin library so that NCCL, when no other profiler is configured,
// routes the proxy's event chain through it and the net plugin learns each send's datatype.
// Layouts are checked at the end of this file against numbers measured on NCCL's headers (see
// net.h).
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nccl_abi/net.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  ncclProfileGroup = (1 << 0),
  ncclProfileColl = (1 << 1),
  ncclProfileP2p = (1 << 2),
  ncclProfileProxyOp = (1 << 3),
  ncclProfileProxyStep = (1 << 4),
  ncclProfileProxyCtrl = (1 << 5),
  ncclProfileKernelCh = (1 << 6),
  ncclProfileNetPlugin = (1 << 7),
  ncclProfileGroupApi = (1 << 8),
  ncclProfileCollApi = (1 << 9),
  ncclProfileP2pApi = (1 << 10),
  ncclProfileKernelLaunch = (1 << 11),
};

// Callback `type` values of ncclProfilerCallback_t (net plugin -> NCCL core).
enum {
  ncclProfilerNetEventStart = 0,
  ncclProfilerNetEventStop = 1,
  ncclProfilerNetEventUpdate = 2,
  ncclProfilerNetEventUpdateAndStop = 3,
};

typedef struct {
  uint64_t type;
  void* parentObj;
  int rank;
  union {
    struct {
      bool graphCaptured;
      int groupDepth;
    } groupApi;
    struct {
      const char* func;
      size_t count;
      const char* datatype;
      int root;
      void* stream;
      bool graphCaptured;
    } collApi;
    struct {
      const char* func;
      size_t count;
      const char* datatype;
      void* stream;
      bool graphCaptured;
    } p2pApi;
    struct {
      void* stream;
    } kernelLaunch;
    struct {
      uint64_t seqNumber;
      const char* func;
      void const* sendBuff;
      void* recvBuff;
      size_t count;
      int root;
      const char* datatype;
      uint8_t nChannels;
      uint8_t nWarps;
      const char* algo;
      const char* proto;
      void* parentGroup;
    } coll;
    struct {
      const char* func;
      void* buff;
      const char* datatype;
      size_t count;
      int peer;
      uint8_t nChannels;
      void* parentGroup;
    } p2p;
    struct {
      pid_t pid;
      uint8_t channelId;
      int peer;
      int nSteps;
      int chunkSize;
      int isSend;
    } proxyOp;
    struct {
      int step;
    } proxyStep;
    struct {
      uint8_t channelId;
      uint64_t pTimer;
    } kernelCh;
    struct {
      int64_t id;
      void* data;
    } netPlugin;
  };
} ncclProfilerEventDescr_v5_t;

typedef enum {
  ncclProfilerProxyStepSendGPUWait = 8,
  ncclProfilerProxyStepSendWait = 9,
  ncclProfilerProxyStepRecvWait = 10,
  ncclProfilerProxyStepRecvFlushWait = 11,
  ncclProfilerProxyStepRecvGPUWait = 12,
  ncclProfilerProxyOpInProgress_v4 = 19,
  ncclProfilerProxyStepSendPeerWait_v4 = 20,
  ncclProfilerNetPluginUpdate = 21,
  ncclProfilerKernelChStop = 22,
  ncclProfilerGroupStartApiStop = 23,
  ncclProfilerGroupEndApiStart = 24,
} ncclProfilerEventState_v5_t;

typedef union {
  struct {
    size_t transSize;
  } proxyStep;
  struct {
    int appendedProxyOps;
  } proxyCtrl;
  struct {
    void* data;
  } netPlugin;
  struct {
    uint64_t pTimer;
  } kernelCh;
} ncclProfilerEventStateArgs_v5_t;

typedef struct {
  const char* name;
  ncclResult_t (*init)(void** context, uint64_t commId, int* eActivationMask, const char* commName,
                       int nNodes, int nranks, int rank, ncclDebugLogger_t logfn);
  ncclResult_t (*startEvent)(void* context, void** eHandle, ncclProfilerEventDescr_v5_t* eDescr);
  ncclResult_t (*stopEvent)(void* eHandle);
  ncclResult_t (*recordEventState)(void* eHandle, ncclProfilerEventState_v5_t eState,
                                   ncclProfilerEventStateArgs_v5_t* eStateArgs);
  ncclResult_t (*finalize)(void* context);
} ncclProfiler_v5_t;

#ifdef __cplusplus
}
#endif

// Layout of the v5 types as NCCL 2.28.9 has it (LP64), measured by the same probe as in net.h,
// compiled against NVIDIA/nccl's src/include/plugin/nccl_profiler.h and profiler/profiler_v5.h of
// the 2.28 series (where proxyOp.pid is a pid_t).
#if defined(__LP64__)
SQZ_ABI_SIZE(ncclProfilerEventDescr_v5_t, 112);
SQZ_ABI_SIZE(ncclProfilerEventStateArgs_v5_t, 8);
SQZ_ABI_SIZE(ncclProfiler_v5_t, 48);
SQZ_ABI_SIZE(ncclProfilerEventState_v5_t, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, type, 0, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, parentObj, 8, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, rank, 16, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, groupApi.graphCaptured, 24, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, groupApi.groupDepth, 28, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.func, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.count, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.datatype, 40, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.root, 48, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.stream, 56, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, collApi.graphCaptured, 64, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2pApi.func, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2pApi.count, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2pApi.datatype, 40, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2pApi.stream, 48, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2pApi.graphCaptured, 56, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, kernelLaunch.stream, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.seqNumber, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.func, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.sendBuff, 40, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.recvBuff, 48, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.count, 56, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.root, 64, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.datatype, 72, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.nChannels, 80, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.nWarps, 81, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.algo, 88, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.proto, 96, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, coll.parentGroup, 104, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.func, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.buff, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.datatype, 40, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.count, 48, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.peer, 56, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.nChannels, 60, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, p2p.parentGroup, 64, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.pid, 24, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.channelId, 28, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.peer, 32, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.nSteps, 36, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.chunkSize, 40, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyOp.isSend, 44, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, proxyStep.step, 24, 4);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, kernelCh.channelId, 24, 1);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, kernelCh.pTimer, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, netPlugin.id, 24, 8);
SQZ_ABI_FIELD(ncclProfilerEventDescr_v5_t, netPlugin.data, 32, 8);
SQZ_ABI_FIELD(ncclProfilerEventStateArgs_v5_t, proxyStep.transSize, 0, 8);
SQZ_ABI_FIELD(ncclProfilerEventStateArgs_v5_t, proxyCtrl.appendedProxyOps, 0, 4);
SQZ_ABI_FIELD(ncclProfilerEventStateArgs_v5_t, netPlugin.data, 0, 8);
SQZ_ABI_FIELD(ncclProfilerEventStateArgs_v5_t, kernelCh.pTimer, 0, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, name, 0, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, init, 8, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, startEvent, 16, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, stopEvent, 24, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, recordEventState, 32, 8);
SQZ_ABI_FIELD(ncclProfiler_v5_t, finalize, 40, 8);
#endif  // __LP64__
