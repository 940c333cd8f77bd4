// The structs and fields of NCCL's net (v8-v11) and profiler (v5) ABI whose layout
// include/nccl_abi/net.h and profiler.h must reproduce. The list names types and fields only; it
// is expanded once against our headers and once against NCCL's (nccl_abi_layout_*.cc), and
// nccl_abi_layout_main.cc compares the two field by field.
//
// SQZ_ABI_STRUCTS(X): X(type)                     sizeof(type)
// SQZ_ABI_FIELDS(X):  X(type, member-designator)  offsetof(type, member) and sizeof(member)
#pragma once

#include <stddef.h>

#define SQZ_ABI_NET_TABLE_COMMON(X, T) \
  X(T, name)                           \
  X(T, init)                           \
  X(T, devices)                        \
  X(T, getProperties)                  \
  X(T, listen)                         \
  X(T, connect)                        \
  X(T, accept)                         \
  X(T, regMr)                          \
  X(T, regMrDmaBuf)                    \
  X(T, deregMr)                        \
  X(T, isend)                          \
  X(T, irecv)                          \
  X(T, iflush)                         \
  X(T, test)                           \
  X(T, closeSend)                      \
  X(T, closeRecv)                      \
  X(T, closeListen)                    \
  X(T, getDeviceMr)                    \
  X(T, irecvConsumed)

#define SQZ_ABI_PROPS_COMMON_HEAD(X, T) \
  X(T, name)                            \
  X(T, pciPath)                         \
  X(T, guid)                            \
  X(T, ptrSupport)                      \
  X(T, regIsGlobal)

#define SQZ_ABI_PROPS_COMMON_TAIL(X, T) \
  X(T, speed)                           \
  X(T, port)                            \
  X(T, latency)                         \
  X(T, maxComms)                        \
  X(T, maxRecvs)                        \
  X(T, netDeviceType)                   \
  X(T, netDeviceVersion)

#define SQZ_ABI_PROPS_V9(X, T)    \
  SQZ_ABI_PROPS_COMMON_HEAD(X, T) \
  X(T, forceFlush)                \
  SQZ_ABI_PROPS_COMMON_TAIL(X, T) \
  X(T, vProps)                    \
  X(T, vProps.ndevs)              \
  X(T, vProps.devs)               \
  X(T, maxP2pBytes)               \
  X(T, maxCollBytes)

#define SQZ_ABI_HANDLE(X, T) \
  X(T, netDeviceType)        \
  X(T, netDeviceVersion)     \
  X(T, handle)               \
  X(T, size)                 \
  X(T, needsProxyProgress)

#define SQZ_ABI_STRUCTS(X)           \
  X(ncclNetDeviceHandle_v8_t)        \
  X(ncclNetDeviceHandle_v9_t)        \
  X(ncclNetDeviceHandle_v10_t)       \
  X(ncclNetDeviceHandle_v11_t)       \
  X(ncclNetVDeviceProps_v9_t)        \
  X(ncclNetVDeviceProps_v10_t)       \
  X(ncclNetVDeviceProps_v11_t)       \
  X(ncclNetCommConfig_v10_t)         \
  X(ncclNetCommConfig_v11_t)         \
  X(ncclNetCommAttr_v11_t)           \
  X(ncclNetAttr_v11_t)               \
  X(ncclNetProperties_v8_t)          \
  X(ncclNetProperties_v9_t)          \
  X(ncclNetProperties_v10_t)         \
  X(ncclNetProperties_v11_t)         \
  X(ncclNet_v8_t)                    \
  X(ncclNet_v9_t)                    \
  X(ncclNet_v10_t)                   \
  X(ncclNet_v11_t)                   \
  X(ncclProfilerEventDescr_v5_t)     \
  X(ncclProfilerEventStateArgs_v5_t) \
  X(ncclProfiler_v5_t)               \
  X(ncclProfilerEventState_v5_t)

#define SQZ_ABI_FIELDS(X)                                        \
  SQZ_ABI_HANDLE(X, ncclNetDeviceHandle_v8_t)                    \
  SQZ_ABI_HANDLE(X, ncclNetDeviceHandle_v9_t)                    \
  SQZ_ABI_HANDLE(X, ncclNetDeviceHandle_v10_t)                   \
  SQZ_ABI_HANDLE(X, ncclNetDeviceHandle_v11_t)                   \
  X(ncclNetVDeviceProps_v9_t, ndevs)                             \
  X(ncclNetVDeviceProps_v9_t, devs)                              \
  X(ncclNetVDeviceProps_v10_t, ndevs)                            \
  X(ncclNetVDeviceProps_v10_t, devs)                             \
  X(ncclNetVDeviceProps_v11_t, ndevs)                            \
  X(ncclNetVDeviceProps_v11_t, devs)                             \
  X(ncclNetCommConfig_v10_t, trafficClass)                       \
  X(ncclNetCommConfig_v11_t, trafficClass)                       \
  X(ncclNetCommAttr_v11_t, maxConcurrentPeers)                   \
  X(ncclNetCommAttr_v11_t, minConcurrentPeers)                   \
  X(ncclNetCommAttr_v11_t, maxFlowsPerPeer)                      \
  X(ncclNetCommAttr_v11_t, minFlowsPerPeer)                      \
  X(ncclNetAttr_v11_t, sendCommAttr)                             \
  X(ncclNetAttr_v11_t, recvCommAttr)                             \
  X(ncclNetAttr_v11_t, op)                                       \
  X(ncclNetAttr_v11_t, algo)                                     \
  X(ncclNetAttr_v11_t, proto)                                    \
  SQZ_ABI_PROPS_COMMON_HEAD(X, ncclNetProperties_v8_t)           \
  SQZ_ABI_PROPS_COMMON_TAIL(X, ncclNetProperties_v8_t)           \
  SQZ_ABI_PROPS_V9(X, ncclNetProperties_v9_t)                    \
  SQZ_ABI_PROPS_V9(X, ncclNetProperties_v10_t)                   \
  SQZ_ABI_PROPS_V9(X, ncclNetProperties_v11_t)                   \
  X(ncclNetProperties_v11_t, maxMultiRequestSize)                \
  SQZ_ABI_NET_TABLE_COMMON(X, ncclNet_v8_t)                      \
  SQZ_ABI_NET_TABLE_COMMON(X, ncclNet_v9_t)                      \
  X(ncclNet_v9_t, makeVDevice)                                   \
  SQZ_ABI_NET_TABLE_COMMON(X, ncclNet_v10_t)                     \
  X(ncclNet_v10_t, makeVDevice)                                  \
  SQZ_ABI_NET_TABLE_COMMON(X, ncclNet_v11_t)                     \
  X(ncclNet_v11_t, makeVDevice)                                  \
  X(ncclNet_v11_t, finalize)                                     \
  X(ncclNet_v11_t, setNetAttr)                                   \
  X(ncclProfilerEventDescr_v5_t, type)                           \
  X(ncclProfilerEventDescr_v5_t, parentObj)                      \
  X(ncclProfilerEventDescr_v5_t, rank)                           \
  X(ncclProfilerEventDescr_v5_t, groupApi.graphCaptured)         \
  X(ncclProfilerEventDescr_v5_t, groupApi.groupDepth)            \
  X(ncclProfilerEventDescr_v5_t, collApi.func)                   \
  X(ncclProfilerEventDescr_v5_t, collApi.count)                  \
  X(ncclProfilerEventDescr_v5_t, collApi.datatype)               \
  X(ncclProfilerEventDescr_v5_t, collApi.root)                   \
  X(ncclProfilerEventDescr_v5_t, collApi.stream)                 \
  X(ncclProfilerEventDescr_v5_t, collApi.graphCaptured)          \
  X(ncclProfilerEventDescr_v5_t, p2pApi.func)                    \
  X(ncclProfilerEventDescr_v5_t, p2pApi.count)                   \
  X(ncclProfilerEventDescr_v5_t, p2pApi.datatype)                \
  X(ncclProfilerEventDescr_v5_t, p2pApi.stream)                  \
  X(ncclProfilerEventDescr_v5_t, p2pApi.graphCaptured)           \
  X(ncclProfilerEventDescr_v5_t, kernelLaunch.stream)            \
  X(ncclProfilerEventDescr_v5_t, coll.seqNumber)                 \
  X(ncclProfilerEventDescr_v5_t, coll.func)                      \
  X(ncclProfilerEventDescr_v5_t, coll.sendBuff)                  \
  X(ncclProfilerEventDescr_v5_t, coll.recvBuff)                  \
  X(ncclProfilerEventDescr_v5_t, coll.count)                     \
  X(ncclProfilerEventDescr_v5_t, coll.root)                      \
  X(ncclProfilerEventDescr_v5_t, coll.datatype)                  \
  X(ncclProfilerEventDescr_v5_t, coll.nChannels)                 \
  X(ncclProfilerEventDescr_v5_t, coll.nWarps)                    \
  X(ncclProfilerEventDescr_v5_t, coll.algo)                      \
  X(ncclProfilerEventDescr_v5_t, coll.proto)                     \
  X(ncclProfilerEventDescr_v5_t, coll.parentGroup)               \
  X(ncclProfilerEventDescr_v5_t, p2p.func)                       \
  X(ncclProfilerEventDescr_v5_t, p2p.buff)                       \
  X(ncclProfilerEventDescr_v5_t, p2p.datatype)                   \
  X(ncclProfilerEventDescr_v5_t, p2p.count)                      \
  X(ncclProfilerEventDescr_v5_t, p2p.peer)                       \
  X(ncclProfilerEventDescr_v5_t, p2p.nChannels)                  \
  X(ncclProfilerEventDescr_v5_t, p2p.parentGroup)                \
  X(ncclProfilerEventDescr_v5_t, proxyOp.pid)                    \
  X(ncclProfilerEventDescr_v5_t, proxyOp.channelId)              \
  X(ncclProfilerEventDescr_v5_t, proxyOp.peer)                   \
  X(ncclProfilerEventDescr_v5_t, proxyOp.nSteps)                 \
  X(ncclProfilerEventDescr_v5_t, proxyOp.chunkSize)              \
  X(ncclProfilerEventDescr_v5_t, proxyOp.isSend)                 \
  X(ncclProfilerEventDescr_v5_t, proxyStep.step)                 \
  X(ncclProfilerEventDescr_v5_t, kernelCh.channelId)             \
  X(ncclProfilerEventDescr_v5_t, kernelCh.pTimer)                \
  X(ncclProfilerEventDescr_v5_t, netPlugin.id)                   \
  X(ncclProfilerEventDescr_v5_t, netPlugin.data)                 \
  X(ncclProfilerEventStateArgs_v5_t, proxyStep.transSize)        \
  X(ncclProfilerEventStateArgs_v5_t, proxyCtrl.appendedProxyOps) \
  X(ncclProfilerEventStateArgs_v5_t, netPlugin.data)             \
  X(ncclProfilerEventStateArgs_v5_t, kernelCh.pTimer)            \
  X(ncclProfiler_v5_t, name)                                     \
  X(ncclProfiler_v5_t, init)                                     \
  X(ncclProfiler_v5_t, startEvent)                               \
  X(ncclProfiler_v5_t, stopEvent)                                \
  X(ncclProfiler_v5_t, recordEventState)                         \
  X(ncclProfiler_v5_t, finalize)

#ifdef __cplusplus
namespace squeeze::abi_check {

// One measured layout fact: sizeof(type) (member NULL) or offsetof/sizeof of type.member.
struct LayoutFact {
  const char* type;
  const char* member;
  size_t offset;
  size_t size;
};

// Defined by nccl_abi_layout_ours.cc and nccl_abi_layout_nccl.cc, each from its own headers.
extern const LayoutFact kOurLayout[];
extern const size_t kOurLayoutCount;
extern const LayoutFact kNcclLayout[];
extern const size_t kNcclLayoutCount;
extern const int kNcclVersionCode;  // NCCL_VERSION_CODE of the NCCL headers measured
extern const bool kNcclFullAbi;     // NCCL's plugin headers (else the installed handles only)

}  // namespace squeeze::abi_check

// Expands to the LayoutFact initialisers of both lists, for whatever headers are included.
#define SQZ_ABI_FACT_STRUCT(T) {#T, nullptr, 0, sizeof(T)},
#define SQZ_ABI_FACT_FIELD(T, M) {#T, #M, offsetof(T, M), sizeof(((T*)nullptr)->M)},
#define SQZ_ABI_ALL_FACTS SQZ_ABI_STRUCTS(SQZ_ABI_FACT_STRUCT) SQZ_ABI_FIELDS(SQZ_ABI_FACT_FIELD)
// The part NCCL's packages install a header for (nccl_device/net_device.h): the device handles.
#define SQZ_ABI_HANDLE_FACTS(T) SQZ_ABI_FACT_STRUCT(T) SQZ_ABI_HANDLE(SQZ_ABI_FACT_FIELD, T)
#endif
