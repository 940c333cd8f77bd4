// The project's own declarations of NCCL's net plugin ABI, versions 8 to 11, written from the
// field lists of NCCL 2.28.9 (docs: ../shared/docs/nccl-net-api.md sections 2 and 3). Layouts must
// match NCCL's byte for byte: the static assertions at the end of this file hold the sizes and
// offsets measured on NCCL's own headers, and the nccl_abi_layout tests in tests/plugin compare
// every field against NCCL's headers when the build finds them.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
} ncclResult_t;

typedef enum {
  NCCL_LOG_NONE = 0,
  NCCL_LOG_VERSION = 1,
  NCCL_LOG_WARN = 2,
  NCCL_LOG_INFO = 3,
  NCCL_LOG_ABORT = 4,
  NCCL_LOG_TRACE = 5
} ncclDebugLogLevel;

typedef enum {
  NCCL_INIT = 0x1,
  NCCL_COLL = 0x2,
  NCCL_P2P = 0x4,
  NCCL_SHM = 0x8,
  NCCL_NET = 0x10,
  NCCL_GRAPH = 0x20,
  NCCL_TUNING = 0x40,
  NCCL_ENV = 0x80,
  NCCL_ALLOC = 0x100,
  NCCL_CALL = 0x200,
  NCCL_PROXY = 0x400,
  NCCL_NVLS = 0x800,
  NCCL_BOOTSTRAP = 0x1000,
  NCCL_REG = 0x2000,
  NCCL_PROFILE = 0x4000,
  NCCL_RAS = 0x8000,
  NCCL_ALL = ~0
} ncclDebugLogSubSys;

typedef void (*ncclDebugLogger_t)(ncclDebugLogLevel level, unsigned long flags, const char* file,
                                  int line, const char* fmt, ...);
typedef ncclResult_t (*ncclProfilerCallback_t)(void** eHandle, int type, void* pHandle,
                                               int64_t pluginId, void* extData);

#define NCCL_NET_HANDLE_MAXSIZE 128
#define NCCL_PTR_HOST 0x1
#define NCCL_PTR_CUDA 0x2
#define NCCL_PTR_DMABUF 0x4
#define NCCL_NET_MAX_REQUESTS 32
#define NCCL_NET_OPTIONAL_RECV_COMPLETION 0x1
#define NCCL_NET_MAX_DEVS_PER_NIC 4
#define NCCL_NET_TRAFFIC_CLASS_UNDEF -1
#define NCCL_NET_ATTR_UNDEF -1
#define NCCL_MAX_NET_SIZE_BYTES (1ULL * 1024 * 1024 * 1024 * 1024)
#define NCCL_MAX_NET_SIZE (1024LL * 1024 * 1024)
#define NCCL_PROXY_MAX_SUBS 64

// ncclFunc_t bit positions used by v11 setNetAttr's op mask.
#define NCCL_FUNC_BROADCAST 0
#define NCCL_FUNC_REDUCE 1
#define NCCL_FUNC_ALLGATHER 2
#define NCCL_FUNC_REDUCESCATTER 3
#define NCCL_FUNC_ALLREDUCE 4
#define NCCL_FUNC_SENDRECV 5
#define NCCL_FUNC_SEND 6
#define NCCL_FUNC_RECV 7
#define NCCL_FUNC_ALLTOALL 8
#define NCCL_FUNC_SCATTER 9
#define NCCL_FUNC_GATHER 10

#define NCCL_PROTO_LL 0
#define NCCL_PROTO_LL128 1
#define NCCL_PROTO_SIMPLE 2

typedef enum {
  NCCL_NET_DEVICE_HOST = 0,
  NCCL_NET_DEVICE_UNPACK = 1,
} ncclNetDeviceType;
#define NCCL_NET_DEVICE_INVALID_VERSION 0x0

typedef struct {
  ncclNetDeviceType netDeviceType;
  int netDeviceVersion;
  void* handle;
  size_t size;
  int needsProxyProgress;
} ncclNetDeviceHandle_v8_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v9_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v10_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v11_t;

typedef struct {
  int ndevs;
  int devs[NCCL_NET_MAX_DEVS_PER_NIC];
} ncclNetVDeviceProps_v9_t;
typedef ncclNetVDeviceProps_v9_t ncclNetVDeviceProps_v10_t;
typedef ncclNetVDeviceProps_v9_t ncclNetVDeviceProps_v11_t;

typedef struct {
  int trafficClass;
} ncclNetCommConfig_v10_t;
typedef ncclNetCommConfig_v10_t ncclNetCommConfig_v11_t;

typedef struct {
  int32_t maxConcurrentPeers;
  int32_t minConcurrentPeers;
  int32_t maxFlowsPerPeer;
  int32_t minFlowsPerPeer;
} ncclNetCommAttr_v11_t;

typedef struct {
  ncclNetCommAttr_v11_t sendCommAttr;
  ncclNetCommAttr_v11_t recvCommAttr;
  uint32_t op;
  uint32_t algo;
  uint32_t proto;
} ncclNetAttr_v11_t;

typedef struct {
  char* name;
  char* pciPath;
  uint64_t guid;
  int ptrSupport;
  int regIsGlobal;
  int speed;
  int port;
  float latency;
  int maxComms;
  int maxRecvs;
  ncclNetDeviceType netDeviceType;
  int netDeviceVersion;
} ncclNetProperties_v8_t;

typedef struct {
  char* name;
  char* pciPath;
  uint64_t guid;
  int ptrSupport;
  int regIsGlobal;
  int forceFlush;
  int speed;
  int port;
  float latency;
  int maxComms;
  int maxRecvs;
  ncclNetDeviceType netDeviceType;
  int netDeviceVersion;
  ncclNetVDeviceProps_v9_t vProps;
  size_t maxP2pBytes;
  size_t maxCollBytes;
} ncclNetProperties_v9_t;
typedef ncclNetProperties_v9_t ncclNetProperties_v10_t;

typedef struct {
  char* name;
  char* pciPath;
  uint64_t guid;
  int ptrSupport;
  int regIsGlobal;
  int forceFlush;
  int speed;
  int port;
  float latency;
  int maxComms;
  int maxRecvs;
  ncclNetDeviceType netDeviceType;
  int netDeviceVersion;
  ncclNetVDeviceProps_v11_t vProps;
  size_t maxP2pBytes;
  size_t maxCollBytes;
  int maxMultiRequestSize;
} ncclNetProperties_v11_t;

typedef struct {
  const char* name;
  ncclResult_t (*init)(ncclDebugLogger_t logFunction);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, ncclNetProperties_v8_t* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
  ncclResult_t (*connect)(int dev, void* handle, void** sendComm,
                          ncclNetDeviceHandle_v8_t** sendDevComm);
  ncclResult_t (*accept)(void* listenComm, void** recvComm, ncclNetDeviceHandle_v8_t** recvDevComm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* sendComm, void* data, int size, int tag, void* mhandle,
                        void** request);
  ncclResult_t (*irecv)(void* recvComm, int n, void** data, int* sizes, int* tags, void** mhandles,
                        void** request);
  ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* sendComm);
  ncclResult_t (*closeRecv)(void* recvComm);
  ncclResult_t (*closeListen)(void* listenComm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
} ncclNet_v8_t;

typedef struct {
  const char* name;
  ncclResult_t (*init)(ncclDebugLogger_t logFunction);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, ncclNetProperties_v9_t* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
  ncclResult_t (*connect)(int dev, void* handle, void** sendComm,
                          ncclNetDeviceHandle_v9_t** sendDevComm);
  ncclResult_t (*accept)(void* listenComm, void** recvComm, ncclNetDeviceHandle_v9_t** recvDevComm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle,
                        void** request);
  ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags,
                        void** mhandles, void** request);
  ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* sendComm);
  ncclResult_t (*closeRecv)(void* recvComm);
  ncclResult_t (*closeListen)(void* listenComm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
  ncclResult_t (*makeVDevice)(int* d, ncclNetVDeviceProps_v9_t* props);
} ncclNet_v9_t;

typedef struct {
  const char* name;
  ncclResult_t (*init)(ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, ncclNetProperties_v10_t* props);
  ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
  ncclResult_t (*connect)(int dev, ncclNetCommConfig_v10_t* config, void* handle, void** sendComm,
                          ncclNetDeviceHandle_v10_t** sendDevComm);
  ncclResult_t (*accept)(void* listenComm, void** recvComm,
                         ncclNetDeviceHandle_v10_t** recvDevComm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle,
                        void* phandle, void** request);
  ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags,
                        void** mhandles, void** phandles, void** request);
  ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* sendComm);
  ncclResult_t (*closeRecv)(void* recvComm);
  ncclResult_t (*closeListen)(void* listenComm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
  ncclResult_t (*makeVDevice)(int* d, ncclNetVDeviceProps_v10_t* props);
} ncclNet_v10_t;

typedef struct {
  const char* name;
  ncclResult_t (*init)(void** ctx, uint64_t commId, ncclNetCommConfig_v11_t* config,
                       ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction);
  ncclResult_t (*devices)(int* ndev);
  ncclResult_t (*getProperties)(int dev, ncclNetProperties_v11_t* props);
  ncclResult_t (*listen)(void* ctx, int dev, void* handle, void** listenComm);
  ncclResult_t (*connect)(void* ctx, int dev, void* handle, void** sendComm,
                          ncclNetDeviceHandle_v11_t** sendDevComm);
  ncclResult_t (*accept)(void* listenComm, void** recvComm,
                         ncclNetDeviceHandle_v11_t** recvDevComm);
  ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
  ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset,
                              int fd, void** mhandle);
  ncclResult_t (*deregMr)(void* comm, void* mhandle);
  ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle,
                        void* phandle, void** request);
  ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags,
                        void** mhandles, void** phandles, void** request);
  ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                         void** request);
  ncclResult_t (*test)(void* request, int* done, int* sizes);
  ncclResult_t (*closeSend)(void* sendComm);
  ncclResult_t (*closeRecv)(void* recvComm);
  ncclResult_t (*closeListen)(void* listenComm);
  ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
  ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
  ncclResult_t (*makeVDevice)(int* d, ncclNetVDeviceProps_v11_t* props);
  ncclResult_t (*finalize)(void* ctx);
  ncclResult_t (*setNetAttr)(void* ctx, ncclNetAttr_v11_t* netAttr);
} ncclNet_v11_t;

#ifdef __cplusplus
}
#endif

// Layout of every struct above, as NCCL 2.28.9 has it (LP64: x86-64 and aarch64). The numbers were
// measured, not derived from this file: a probe program compiled against NCCL's own headers printed
// sizeof, offsetof and member size of every field listed in tests/plugin/nccl_abi_fields.h. The
// headers: nccl.h and nccl_device/net_device.h as installed with the CUDA 13 toolkit
// (NCCL_VERSION_CODE 22809), and, since NCCL's packages do not install the plugin headers, the
// declarations (comments stripped) of src/include/nccl_common.h, plugin/nccl_net.h and
// plugin/net/net_v8.h .. net_v11.h of the NVIDIA/nccl sources (2.28 series; a released vN struct
// does not change afterwards). The nccl_abi_layout tests repeat the comparison field by field
// whenever the build finds NCCL's headers. SQZ_ABI_FIELD(type, member, offset, size).
#ifdef __cplusplus
#define SQZ_ABI_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define SQZ_ABI_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#define SQZ_ABI_SIZE(T, n) \
  SQZ_ABI_STATIC_ASSERT(sizeof(T) == (n), "sizeof(" #T ") differs from NCCL 2.28.9")
#define SQZ_ABI_FIELD(T, M, off, sz)                                           \
  SQZ_ABI_STATIC_ASSERT(offsetof(T, M) == (off) && sizeof(((T*)0)->M) == (sz), \
                        #T "." #M ": offset or size differs from NCCL 2.28.9")

#if defined(__LP64__)
SQZ_ABI_SIZE(ncclNetDeviceHandle_v8_t, 32);
SQZ_ABI_SIZE(ncclNetDeviceHandle_v9_t, 32);
SQZ_ABI_SIZE(ncclNetDeviceHandle_v10_t, 32);
SQZ_ABI_SIZE(ncclNetDeviceHandle_v11_t, 32);
SQZ_ABI_SIZE(ncclNetVDeviceProps_v9_t, 20);
SQZ_ABI_SIZE(ncclNetVDeviceProps_v10_t, 20);
SQZ_ABI_SIZE(ncclNetVDeviceProps_v11_t, 20);
SQZ_ABI_SIZE(ncclNetCommConfig_v10_t, 4);
SQZ_ABI_SIZE(ncclNetCommConfig_v11_t, 4);
SQZ_ABI_SIZE(ncclNetCommAttr_v11_t, 16);
SQZ_ABI_SIZE(ncclNetAttr_v11_t, 44);
SQZ_ABI_SIZE(ncclNetProperties_v8_t, 64);
SQZ_ABI_SIZE(ncclNetProperties_v9_t, 104);
SQZ_ABI_SIZE(ncclNetProperties_v10_t, 104);
SQZ_ABI_SIZE(ncclNetProperties_v11_t, 112);
SQZ_ABI_SIZE(ncclNet_v8_t, 152);
SQZ_ABI_SIZE(ncclNet_v9_t, 160);
SQZ_ABI_SIZE(ncclNet_v10_t, 160);
SQZ_ABI_SIZE(ncclNet_v11_t, 176);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v8_t, netDeviceType, 0, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v8_t, netDeviceVersion, 4, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v8_t, handle, 8, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v8_t, size, 16, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v8_t, needsProxyProgress, 24, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v9_t, netDeviceType, 0, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v9_t, netDeviceVersion, 4, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v9_t, handle, 8, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v9_t, size, 16, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v9_t, needsProxyProgress, 24, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v10_t, netDeviceType, 0, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v10_t, netDeviceVersion, 4, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v10_t, handle, 8, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v10_t, size, 16, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v10_t, needsProxyProgress, 24, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v11_t, netDeviceType, 0, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v11_t, netDeviceVersion, 4, 4);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v11_t, handle, 8, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v11_t, size, 16, 8);
SQZ_ABI_FIELD(ncclNetDeviceHandle_v11_t, needsProxyProgress, 24, 4);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v9_t, ndevs, 0, 4);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v9_t, devs, 4, 16);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v10_t, ndevs, 0, 4);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v10_t, devs, 4, 16);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v11_t, ndevs, 0, 4);
SQZ_ABI_FIELD(ncclNetVDeviceProps_v11_t, devs, 4, 16);
SQZ_ABI_FIELD(ncclNetCommConfig_v10_t, trafficClass, 0, 4);
SQZ_ABI_FIELD(ncclNetCommConfig_v11_t, trafficClass, 0, 4);
SQZ_ABI_FIELD(ncclNetCommAttr_v11_t, maxConcurrentPeers, 0, 4);
SQZ_ABI_FIELD(ncclNetCommAttr_v11_t, minConcurrentPeers, 4, 4);
SQZ_ABI_FIELD(ncclNetCommAttr_v11_t, maxFlowsPerPeer, 8, 4);
SQZ_ABI_FIELD(ncclNetCommAttr_v11_t, minFlowsPerPeer, 12, 4);
SQZ_ABI_FIELD(ncclNetAttr_v11_t, sendCommAttr, 0, 16);
SQZ_ABI_FIELD(ncclNetAttr_v11_t, recvCommAttr, 16, 16);
SQZ_ABI_FIELD(ncclNetAttr_v11_t, op, 32, 4);
SQZ_ABI_FIELD(ncclNetAttr_v11_t, algo, 36, 4);
SQZ_ABI_FIELD(ncclNetAttr_v11_t, proto, 40, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, pciPath, 8, 8);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, guid, 16, 8);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, ptrSupport, 24, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, regIsGlobal, 28, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, speed, 32, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, port, 36, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, latency, 40, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, maxComms, 44, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, maxRecvs, 48, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, netDeviceType, 52, 4);
SQZ_ABI_FIELD(ncclNetProperties_v8_t, netDeviceVersion, 56, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, pciPath, 8, 8);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, guid, 16, 8);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, ptrSupport, 24, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, regIsGlobal, 28, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, forceFlush, 32, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, speed, 36, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, port, 40, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, latency, 44, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, maxComms, 48, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, maxRecvs, 52, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, netDeviceType, 56, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, netDeviceVersion, 60, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, vProps, 64, 20);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, vProps.ndevs, 64, 4);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, vProps.devs, 68, 16);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, maxP2pBytes, 88, 8);
SQZ_ABI_FIELD(ncclNetProperties_v9_t, maxCollBytes, 96, 8);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, pciPath, 8, 8);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, guid, 16, 8);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, ptrSupport, 24, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, regIsGlobal, 28, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, forceFlush, 32, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, speed, 36, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, port, 40, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, latency, 44, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, maxComms, 48, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, maxRecvs, 52, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, netDeviceType, 56, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, netDeviceVersion, 60, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, vProps, 64, 20);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, vProps.ndevs, 64, 4);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, vProps.devs, 68, 16);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, maxP2pBytes, 88, 8);
SQZ_ABI_FIELD(ncclNetProperties_v10_t, maxCollBytes, 96, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, pciPath, 8, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, guid, 16, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, ptrSupport, 24, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, regIsGlobal, 28, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, forceFlush, 32, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, speed, 36, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, port, 40, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, latency, 44, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, maxComms, 48, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, maxRecvs, 52, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, netDeviceType, 56, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, netDeviceVersion, 60, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, vProps, 64, 20);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, vProps.ndevs, 64, 4);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, vProps.devs, 68, 16);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, maxP2pBytes, 88, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, maxCollBytes, 96, 8);
SQZ_ABI_FIELD(ncclNetProperties_v11_t, maxMultiRequestSize, 104, 4);
SQZ_ABI_FIELD(ncclNet_v8_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, init, 8, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, devices, 16, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, getProperties, 24, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, listen, 32, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, connect, 40, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, accept, 48, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, regMr, 56, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, regMrDmaBuf, 64, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, deregMr, 72, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, isend, 80, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, irecv, 88, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, iflush, 96, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, test, 104, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, closeSend, 112, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, closeRecv, 120, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, closeListen, 128, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, getDeviceMr, 136, 8);
SQZ_ABI_FIELD(ncclNet_v8_t, irecvConsumed, 144, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, init, 8, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, devices, 16, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, getProperties, 24, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, listen, 32, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, connect, 40, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, accept, 48, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, regMr, 56, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, regMrDmaBuf, 64, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, deregMr, 72, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, isend, 80, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, irecv, 88, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, iflush, 96, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, test, 104, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, closeSend, 112, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, closeRecv, 120, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, closeListen, 128, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, getDeviceMr, 136, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, irecvConsumed, 144, 8);
SQZ_ABI_FIELD(ncclNet_v9_t, makeVDevice, 152, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, init, 8, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, devices, 16, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, getProperties, 24, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, listen, 32, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, connect, 40, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, accept, 48, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, regMr, 56, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, regMrDmaBuf, 64, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, deregMr, 72, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, isend, 80, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, irecv, 88, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, iflush, 96, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, test, 104, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, closeSend, 112, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, closeRecv, 120, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, closeListen, 128, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, getDeviceMr, 136, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, irecvConsumed, 144, 8);
SQZ_ABI_FIELD(ncclNet_v10_t, makeVDevice, 152, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, name, 0, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, init, 8, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, devices, 16, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, getProperties, 24, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, listen, 32, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, connect, 40, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, accept, 48, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, regMr, 56, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, regMrDmaBuf, 64, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, deregMr, 72, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, isend, 80, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, irecv, 88, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, iflush, 96, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, test, 104, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, closeSend, 112, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, closeRecv, 120, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, closeListen, 128, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, getDeviceMr, 136, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, irecvConsumed, 144, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, makeVDevice, 152, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, finalize, 160, 8);
SQZ_ABI_FIELD(ncclNet_v11_t, setNetAttr, 168, 8);
#endif  // __LP64__
