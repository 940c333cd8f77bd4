// One established connection as the core (core.cc) sees it, whatever transport carries it: memory
// registration, posting sends and receives, testing requests, flushing, closing, statistics. Two
// implementations: Comm (comm.h, the plugin's own TCP transport) and InnerComm (inner_comm.h, an
// inner NCCL net plugin). Both share classification (classify/), the codec engine and staging.
#pragma once

#include <cstdint>
#include <string>

#include "nccl_abi/net.h"
#include "plugin/classify/classify.h"
#include "plugin/config.h"
#include "plugin/pipeline/codec_engine.h"
#include "squeeze/codec.h"

namespace squeeze::plugin {

class DeviceApi;
class NetComm;

struct CommOptions {
  uint64_t staging_bytes = 0;
  int stall_timeout_s = 0;
  ClassifyPolicy policy;
  bool log_stats = true;
  std::string stats_file;
  bool verify = false;  // NCCL_SQUEEZE_VERIFY: decode host frames again, measure the error
  CodecEngine* engine = nullptr;
  const HintBoard* hints = nullptr;  // the comm's context's hints (send side)
  CommKind connect_kind = CommKind::kUnknown;
  DeviceApi* device_api = nullptr;  // NULL: host buffers only
  // NCCL's profiler callback (v10/v11 tables), else NULL: classification of sends.
  ncclProfilerCallback_t profiler = nullptr;
  uint64_t id = 0;
  // Send side: what the receiver decodes (Capability bits, negotiated at connect). Receive side:
  // what this side declared it decodes.
  uint32_t caps = kCapV1;
  // The link's rate in bytes per second (NCCL_SQUEEZE_LINK_MBPS, else the device's speed, which
  // is 10 Gbit/s, NCCL's default, for an interface that reports none); 0: unknown. ENTROPY and
  // HISTORY compare their costs with it.
  double link_bytes_per_s = 0;
  // Whether that rate was given (LINK_MBPS) or reported by the device, not defaulted. The measured
  // coder rules (the lossless "auto" rule, LOSSY_GATE) take a defaulted rate as unknown: an
  // unreported link may be far faster than 10 Gbit/s (loopback, a cloud VM's virtual NIC).
  bool link_rate_known = false;
  // Send side: CodecParams::rans_min_gain of this connection's lossy frames (ENTROPY).
  uint32_t rans_min_gain = 0;
  // Send side: whether its lossy frames refer to the stream history, when the receiver decodes
  // such frames (HISTORY; auto: HistoryGauge over link_bytes_per_s).
  Settings::History history = Settings::History::kAuto;
  // Send side: LOSSY_GATE=link (host-buffer lossy sends compress while the CPU codec keeps up
  // with link_bytes_per_s), and the codec threads that share that work (0: NCCL's proxy thread).
  bool lossy_gate = false;
  int codec_threads = 0;
};

// CommOptions::link_bytes_per_s and link_rate_known: LINK_MBPS, else the device's speed (Mbit/s,
// <= 0: unknown; speed_known: reported by the device rather than defaulted).
void set_link_rate(const Settings& settings, int device_speed_mbps, bool speed_known,
                   CommOptions* options);

// The first member of every request a NetComm hands to NCCL: test() finds its comm through it.
struct RequestBase {
  NetComm* owner = nullptr;
};

class NetComm {
 public:
  enum class Dir : uint8_t { kSend, kRecv };
  static constexpr uint32_t kMagic = 0x4d435153;  // "SQCM"

  NetComm(Dir dir, const CommOptions& options) : dir_(dir), options_(options) {}
  virtual ~NetComm() { magic_ = 0; }
  NetComm(const NetComm&) = delete;
  NetComm& operator=(const NetComm&) = delete;

  // Allocates staging (and starts helper threads, registers memory with an inner plugin).
  virtual ncclResult_t start() = 0;
  // Stops the connection's I/O and logs its statistics; requests still in flight are abandoned.
  virtual void close() = 0;
  virtual ncclResult_t reg_mr(void* data, size_t size, int type, void** mhandle) = 0;
  virtual ncclResult_t dereg_mr(void* mhandle) = 0;
  // traffic: what the profiler chain (or the fallback) says about this send.
  virtual ncclResult_t isend(void* data, size_t size, int tag, void* mhandle,
                             const SendTraffic& traffic, void** request) = 0;
  virtual ncclResult_t irecv(void* data, size_t size, int tag, void* mhandle, void** request) = 0;
  // NULL *request: nothing to flush (already complete).
  virtual ncclResult_t iflush(int n, void** data, int* sizes, void** mhandles, void** request) {
    (void)n;
    (void)data;
    (void)sizes;
    (void)mhandles;
    *request = nullptr;
    return ncclSuccess;
  }
  virtual ncclResult_t test(RequestBase* request, int* done, int* size) = 0;
  virtual std::string stats_json() const = 0;

  bool valid() const { return magic_ == kMagic; }
  Dir dir() const { return dir_; }
  uint64_t id() const { return options_.id; }
  ncclProfilerCallback_t profiler() const { return options_.profiler; }
  DType assume_dtype() const { return options_.policy.assume_dtype; }
  const std::string& peer() const { return peer_; }

 protected:
  uint32_t magic_ = kMagic;
  Dir dir_;
  CommOptions options_;
  std::string peer_;
};

// Everything a send's classification needs from its connection (Comm and InnerComm alike).
struct SendClassifier {
  RegistrationOrder reg_order;
  // The policy's rules as of rules_generation (re-read when squeeze_set_policy changed them).
  PolicyTable rules;
  uint64_t rules_generation = 0;
  // The row layout in force as of layout_gen (re-read when squeeze_set_layout changed it).
  std::shared_ptr<const LayoutSpec> layout;
  uint64_t layout_gen = 0;
  // Whether lossless coding pays, per datatype ("auto" cells); fed by the compressions.
  CoderGauge gauge;
  // Whether lossy coding on the CPU pays, per datatype (LOSSY_GATE=link); fed likewise.
  CoderGauge lossy_gauge;

  // The connection's kind: the connect-time hint, else the FIFO registration pattern.
  CommKind comm_kind(CommKind connect_kind) const;
  // Classifies one send. proto: the protocol of its buffer (reg_order.proto_of), or kUnknown.
  ClassifyResult classify_send(const CommOptions& options, size_t bytes, BufferProto proto,
                               const SendTraffic& traffic);
  // LOSSY_GATE=link, for a lossy send the CPU codec would compress: kPassCodecSlow while the
  // codec is measured slower than the link (lossy_gauge). A post refused for back-pressure and
  // retried counts twice: harmless while probing (the verdict waits for 8 timed compressions),
  // and after the verdict the next measurement comes a message early.
  void gate_lossy(const CommOptions& options, ClassifyResult* r);
  // g's verdict for the next message of dtype (CoderGauge::next), logged when just measured
  // (`what`: the coding it judges).
  bool coder_pays(CoderGauge& g, const CommOptions& options, DType dtype, const char* what,
                  bool unknown_pays, int threads);
  // A compression finished: feeds the gauge of its kind (lossless or lossy).
  void record_compression(const CommOptions& options, const CodecParams& params, uint64_t in,
                          uint64_t out, uint64_t ns);
};

}  // namespace squeeze::plugin
