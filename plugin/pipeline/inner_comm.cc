#include "plugin/pipeline/inner_comm.h"

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <random>
#include <thread>

#include "compress/block.h"
#include "plugin/log.h"
#include "plugin/transport/inner/inner_net.h"

namespace squeeze::plugin {

InnerComm::InnerComm(Dir dir, InnerNet* net, void* inner_comm, int dev, int ptr_types,
                     const CommOptions& options)
    : NetComm(dir, options), net_(net), inner_(inner_comm), dev_(dev), ptr_types_(ptr_types) {
  peer_ = net_->name() + "/" + std::to_string(dev_);
  for (InnerRequest& r : slots_) r.owner = this;
  for (InnerFlush& f : flushes_) f.owner = this;
  if (dir_ == Dir::kSend) {
    // A random nonce per connection marks its compressed messages (never 0).
    std::random_device rd;
    uint64_t nonce = 0;
    while (nonce == 0) {
      nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
              static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              reinterpret_cast<uintptr_t>(this);
    }
    hello_.magic = inner_wire::kHelloMagic;
    hello_.version = inner_wire::kVersion;
    hello_.flags = options_.policy.enable ? inner_wire::kHelloFrames : 0;
    hello_.nonce = nonce;
  }
}

InnerComm::~InnerComm() {
  close();
}

ncclResult_t InnerComm::start() {
  SQZ_REQUIRE(staging_.init(options_.staging_bytes), ncclSystemError,
              "cannot allocate %llu bytes of staging memory for a connection over %s",
              static_cast<unsigned long long>(options_.staging_bytes), net_->name().c_str());
  // The plugin's own memory is registered with the inner plugin once, here (service thread).
  SQZ_CHECK(net_->reg_mr(inner_, &hello_, sizeof(hello_), NCCL_PTR_HOST, &hello_mr_));
  SQZ_CHECK(
      net_->reg_mr(inner_, staging_.base(), staging_.capacity(), NCCL_PTR_HOST, &staging_mr_));
  SQZ_INFO(NCCL_NET,
           "%s connection %llu established over inner net plugin %s device %d, %s traffic hint, "
           "%s",
           dir_ == Dir::kSend ? "send" : "recv", static_cast<unsigned long long>(options_.id),
           net_->name().c_str(), dev_, comm_kind_name(options_.connect_kind),
           options_.policy.enable ? "frames without stream history"
                                  : "passthrough only (GPU buffers forwarded to the inner plugin)");
  return ncclSuccess;
}

void InnerComm::close() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  // Codec tasks still running write into staging and this comm: wait for them (service thread).
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (outstanding_tasks_ == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // With inner requests still in flight (a close that abandons them) the registrations they use
  // cannot be released first: the inner plugin's close takes them along.
  if (inner_in_flight_ == 0) {
    if (hello_mr_ != nullptr) net_->dereg_mr(inner_, hello_mr_);
    if (staging_mr_ != nullptr) net_->dereg_mr(inner_, staging_mr_);
    for (auto* list : {&regions_, &abandoned_regions_}) {
      for (auto& mr : *list) {
        if (mr->inner != nullptr) net_->dereg_mr(inner_, mr->inner);
      }
    }
  }
  hello_mr_ = staging_mr_ = nullptr;
  regions_.clear();
  abandoned_regions_.clear();
  if (inner_ != nullptr) {
    if (dir_ == Dir::kSend) {
      net_->close_send(inner_);
    } else {
      net_->close_recv(inner_);
    }
    inner_ = nullptr;
  }
  ConnLabel label{dir_ == Dir::kSend ? "send" : "recv", options_.id, peer_, last_tag_};
  report_closed(label, stats_, options_.log_stats, options_.stats_file);
}

std::string InnerComm::stats_json() const {
  int tag;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tag = last_tag_;
  }
  ConnLabel label{dir_ == Dir::kSend ? "send" : "recv", options_.id, peer_, tag};
  return plugin::stats_json(label, stats_);
}

std::string InnerComm::peer_desc() const {
  return "peer rank " + (last_tag_ < 0 ? std::string("unknown") : std::to_string(last_tag_)) +
         " over inner net plugin " + net_->name();
}

void InnerComm::fail_locked(ncclResult_t code, const std::string& message) {
  if (error_code_ != ncclSuccess) return;
  error_code_ = code;
  error_message_ = message;
  SQZ_WARN("%s connection %llu: %s", dir_ == Dir::kSend ? "send" : "recv",
           static_cast<unsigned long long>(options_.id), message.c_str());
}

ncclResult_t InnerComm::reg_mr(void* data, size_t size, int type, void** mhandle) {
  *mhandle = nullptr;
  SQZ_REQUIRE((type & ~ptr_types_) == 0 && type != 0, ncclInternalError,
              "regMr: buffer type %d is not supported over inner net plugin %s (types %d)", type,
              net_->name().c_str(), ptr_types_);
  auto mr = std::make_unique<InnerRegion>();
  mr->comm = this;
  mr->data = data;
  mr->size = size;
  mr->type = type;
  // Service thread; the inner plugin may take its time (pinning, NIC registration).
  SQZ_CHECK(net_->reg_mr(inner_, data, size, type, &mr->inner));
  std::lock_guard<std::mutex> lock(mu_);
  mr->position = classifier_.reg_order.on_register();
  *mhandle = mr.get();
  regions_.push_back(std::move(mr));
  return ncclSuccess;
}

ncclResult_t InnerComm::dereg_mr(void* mhandle) {
  std::unique_ptr<InnerRegion> mr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < regions_.size(); ++k) {
      if (regions_[k].get() == mhandle) {
        mr = std::move(regions_[k]);
        regions_.erase(regions_.begin() + static_cast<long>(k));
        break;
      }
    }
  }
  if (!mr) {
    SQZ_WARN("deregMr: unknown memory handle %p on connection %llu", mhandle,
             static_cast<unsigned long long>(options_.id));
    return ncclInternalError;
  }
  {
    // On a failed connection a payload receive posted ahead of its header (whose receive failed)
    // may still hold NCCL's buffer at the inner plugin. Tested once more it usually fails too;
    // if it stays in flight, the inner registration stays with it until close, where the inner
    // plugin's close takes both along.
    std::lock_guard<std::mutex> lock(mu_);
    bool in_use = false;
    for (InnerRequest& r : slots_) {
      if (r.state != InnerRequest::State::kPending || r.mr != mr.get() ||
          r.payload_req == nullptr || r.payload_done)
        continue;
      int done = 0;
      if (net_->test(r.payload_req, &done, nullptr) != ncclSuccess || done) {
        --inner_in_flight_;
        r.payload_req = nullptr;
        r.payload_done = true;
      } else {
        in_use = true;
      }
    }
    if (in_use) {
      SQZ_INFO(NCCL_NET,
               "deregMr on %s: a receive into this buffer is still in flight at the "
               "inner plugin; its registration is released at close",
               peer_desc().c_str());
      abandoned_regions_.push_back(std::move(mr));
      return ncclSuccess;
    }
  }
  return net_->dereg_mr(inner_, mr->inner);
}

ncclResult_t InnerComm::isend(void* data, size_t size, int tag, void* mhandle,
                              const SendTraffic& traffic, void** request) {
  *request = nullptr;
  const auto* mr = static_cast<const InnerRegion*>(mhandle);
  InnerRequest* r = nullptr;
  bool lossy = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const ncclResult_t bad = check_post_locked(true, tag, data, size, mr); bad != ncclSuccess)
      return bad;
    r = &slot(next_post_seq_);
    if (r->state != InnerRequest::State::kFree) {  // 32 in flight: retry later
      progress_locked(nullptr, nullptr);
      return ncclSuccess;
    }
    classifier_.reg_order.seal();
    ClassifyResult cr = classifier_.classify_send(
        options_, size, classifier_.reg_order.proto_of(mr->position), traffic);
    if (compresses(cr.decision) && mr->type != NCCL_PTR_HOST) {
      // GPU buffers go to the inner plugin as they are.
      cr.decision =
          cr.decision == Decision::kLossless ? Decision::kPassNoLossless : Decision::kPassDisabled;
    }
    classifier_.gate_lossy(options_, &cr);  // host buffers: the CPU codec, while it keeps up
    char* staging = nullptr;
    size_t capacity = 0;
    if (compresses(cr.decision)) {
      capacity = inner_wire::kPrefixBytes + max_frame_bytes(size);
      if (capacity > staging_.capacity()) {
        cr.decision = Decision::kPassTooLarge;
      } else {
        staging = staging_.alloc(capacity);
        if (staging == nullptr) {
          progress_locked(nullptr, nullptr);  // staging full: back-pressure
          return ncclSuccess;
        }
      }
    }
    lossy = compresses(cr.decision);
    if (!lossy && mr->type == NCCL_PTR_HOST && size >= 8 &&
        block::load_le64(static_cast<const uint8_t*>(data)) == hello_.nonce) {
      // The receiver would take this raw payload for a frame (a 2^-64 accident): refuse it.
      SQZ_WARN(
          "isend of %zu bytes to %s: the payload begins with this connection's random "
          "frame marker and cannot be told from a compressed message; not sent",
          size, peer_desc().c_str());
      return ncclInternalError;
    }
    r->state = InnerRequest::State::kPending;
    r->seq = next_post_seq_++;
    r->data = data;
    r->size = size;
    r->tag = tag;
    r->mr = mr;
    r->original_bytes = size;
    r->staging = staging;
    r->payload_req = nullptr;
    r->payload_done = false;
    last_tag_ = tag;
    stats_.messages.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_in.fetch_add(size, std::memory_order_relaxed);
    stats_.decisions[static_cast<int>(cr.decision)].fetch_add(1, std::memory_order_relaxed);
    stats_.dtypes[static_cast<int>(traffic.record.dtype) + 1].fetch_add(1,
                                                                        std::memory_order_relaxed);
    stats_.paths[traffic.path == TrafficPath::kProfiler ? 0 : 1].fetch_add(
        1, std::memory_order_relaxed);
    if (lossy) {
      r->stage = InnerRequest::Stage::kCompressing;
      ++outstanding_tasks_;
      CodecTask& t = r->task;
      t.op = CodecTask::Op::kCompress;
      t.params = cr.params;
      t.params.caps = options_.caps;
      if (t.params.mode != BoundMode::kLossless) {
        apply_layout(classifier_.layout, &t.params, &t.layout);
        note_lossy_bytes(size);
      }
      t.encoder = nullptr;
      t.decoder = nullptr;
      t.verify = options_.verify;  // frames without history: the plain decoder checks them
      t.verifier = nullptr;
      t.strand = nullptr;
      t.src = data;
      t.src_bytes = size;
      t.dst = staging + inner_wire::kPrefixBytes;
      t.dst_capacity = capacity - inner_wire::kPrefixBytes;
      t.on_complete = &InnerComm::on_compressed;
      t.owner = r;
    } else {
      r->kind = wire::PayloadKind::kRaw;
      r->wire_bytes = size;
      r->stage = InnerRequest::Stage::kReady;
      progress_locked(nullptr, nullptr);
    }
  }
  if (lossy) {
    options_.engine->submit(&r->task);
    std::lock_guard<std::mutex> lock(mu_);
    progress_locked(nullptr, nullptr);  // without codec threads the frame is ready now
  }
  *request = r;
  return ncclSuccess;
}

void InnerComm::on_compressed(CodecTask* task) {
  auto* r = static_cast<InnerRequest*>(task->owner);
  auto* c = static_cast<InnerComm*>(r->owner);
  std::lock_guard<std::mutex> lock(c->mu_);
  --c->outstanding_tasks_;
  c->stats_.codec_ns.fetch_add(task->elapsed_ns, std::memory_order_relaxed);
  if (task->status != Status::kOk) {
    c->fail_locked(ncclInternalError, "compression of message " + std::to_string(r->seq) + " for " +
                                          c->peer_desc() +
                                          " failed: " + status_string(task->status));
    return;
  }
  c->stats_.note_bound(task->stats.applied_bound);
  if (task->err_over_bound >= 0) c->stats_.note_err_over_bound(task->err_over_bound);
  c->stats_.outliers.fetch_add(task->stats.outliers, std::memory_order_relaxed);
  c->classifier_.record_compression(c->options_, task->params, task->src_bytes, task->out_bytes,
                                    task->elapsed_ns);
  if (inner_wire::kPrefixBytes + task->out_bytes >= r->size) {
    // The receiver's buffer is NCCL's, of the message's size: a frame that did not shrink the
    // message travels as the message itself.
    c->staging_.release(r->staging);
    r->staging = nullptr;
    r->kind = wire::PayloadKind::kRaw;
    r->wire_bytes = r->size;
  } else {
    inner_wire::Prefix prefix{c->hello_.nonce, r->size};
    std::memcpy(r->staging, &prefix, sizeof(prefix));
    r->kind = wire::PayloadKind::kFramed;
    r->wire_bytes = inner_wire::kPrefixBytes + task->out_bytes;
  }
  r->stage = InnerRequest::Stage::kReady;  // the next isend/test posts it (NCCL's thread)
}

ncclResult_t InnerComm::check_post_locked(bool send, int tag, const void* data, size_t size,
                                          const InnerRegion* mr) const {
  const char* what = send ? "isend" : "irecv";
  if (error_code_ != ncclSuccess) {
    SQZ_WARN("%s %s rank %d on a failed connection: %s", what, send ? "to" : "from", tag,
             error_message_.c_str());
    return error_code_;
  }
  SQZ_REQUIRE(data != nullptr || size == 0, ncclInternalError, "%s: NULL buffer of %zu bytes", what,
              size);
  SQZ_REQUIRE(mr != nullptr && mr->magic == kInnerMrMagic && mr->comm == this, ncclInternalError,
              "%s: buffer %p has no memory handle of this connection (%p): the inner net plugin "
              "%s needs one",
              what, data, static_cast<const void*>(mr), net_->name().c_str());
  return ncclSuccess;
}

ncclResult_t InnerComm::irecv(void* data, size_t size, int tag, void* mhandle, void** request) {
  *request = nullptr;
  const auto* mr = static_cast<const InnerRegion*>(mhandle);
  InnerRequest* todo[kSlots];
  int n_todo = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const ncclResult_t bad = check_post_locked(false, tag, data, size, mr); bad != ncclSuccess)
      return bad;
    InnerRequest* r = &slot(next_post_seq_);
    if (r->state == InnerRequest::State::kFree) {
      classifier_.reg_order.seal();
      r->state = InnerRequest::State::kPending;
      r->stage = InnerRequest::Stage::kReady;
      r->seq = next_post_seq_++;
      r->data = data;
      r->size = size;
      r->tag = tag;
      r->mr = mr;
      r->staging = nullptr;
      r->payload_req = nullptr;
      r->payload_done = false;
      r->payload_got = 0;
      last_tag_ = tag;
      *request = r;
    }
    progress_locked(todo, &n_todo);
  }
  submit_all(todo, n_todo);
  return ncclSuccess;
}

ncclResult_t InnerComm::iflush(int n, void** data, int* sizes, void** mhandles, void** request) {
  *request = nullptr;
  if (!net_->has_flush()) return ncclSuccess;
  SQZ_REQUIRE(n >= 1 && n <= kSlots && mhandles != nullptr, ncclInternalError,
              "iflush: bad receive count %d", n);
  void* inner_mh[kSlots];
  bool any_gpu = false;
  for (int i = 0; i < n; ++i) {
    const auto* mr = static_cast<const InnerRegion*>(mhandles[i]);
    SQZ_REQUIRE(mr != nullptr && mr->magic == kInnerMrMagic && mr->comm == this, ncclInternalError,
                "iflush: memory handle %p is not of this connection", mhandles[i]);
    inner_mh[i] = mr->inner;
    any_gpu = any_gpu || mr->type != NCCL_PTR_HOST;
  }
  // Host buffers were written by the inner plugin or by the codec on the host: nothing to flush.
  if (!any_gpu) return ncclSuccess;
  std::lock_guard<std::mutex> lock(mu_);
  InnerFlush* f = nullptr;
  for (InnerFlush& x : flushes_) {
    if (x.inner == nullptr) {
      f = &x;
      break;
    }
  }
  SQZ_REQUIRE(f != nullptr, ncclInternalError, "iflush: more than %d flushes in flight", kSlots);
  void* req = nullptr;
  SQZ_CHECK(net_->iflush(inner_, n, data, sizes, inner_mh, &req));
  if (req == nullptr) return ncclSuccess;  // complete already
  f->inner = req;
  *request = f;
  return ncclSuccess;
}

ncclResult_t InnerComm::test(RequestBase* request, int* done, int* size) {
  *done = 0;
  if (request >= static_cast<RequestBase*>(&flushes_[0]) &&
      request <= static_cast<RequestBase*>(&flushes_[kSlots - 1])) {
    auto* f = static_cast<InnerFlush*>(request);
    std::lock_guard<std::mutex> lock(mu_);
    SQZ_REQUIRE(f->inner != nullptr, ncclInternalError, "test on flush %p that is not in flight",
                static_cast<void*>(f));
    SQZ_CHECK(net_->test(f->inner, done, size));
    if (*done) f->inner = nullptr;
    return ncclSuccess;
  }
  auto* r = static_cast<InnerRequest*>(request);
  InnerRequest* todo[kSlots];
  int n_todo = 0;
  ncclResult_t rc = ncclSuccess;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SQZ_REQUIRE(r->state != InnerRequest::State::kFree, ncclInternalError,
                "test on request %p that is not in flight", static_cast<void*>(r));
    progress_locked(todo, &n_todo);
    if (r->state == InnerRequest::State::kDone) {
      *done = 1;
      if (size != nullptr) {
        uint64_t n = dir_ == Dir::kSend ? r->size : r->original_bytes;
        *size = n > static_cast<uint64_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
      }
      r->state = InnerRequest::State::kFree;
    } else if (error_code_ != ncclSuccess) {
      SQZ_INFO(NCCL_NET, "test: request %u of %s failed: %s", r->seq, peer_desc().c_str(),
               error_message_.c_str());
      rc = error_code_;
    }
  }
  submit_all(todo, n_todo);
  return rc;
}

void InnerComm::submit_all(InnerRequest* const* todo, int n_todo) {
  for (int k = 0; k < n_todo; ++k) options_.engine->submit(&todo[k]->task);
}

// ---- Posting and polling ------------------------------------------------------------------

void InnerComm::progress_locked(InnerRequest** todo, int* n_todo) {
  if (error_code_ != ncclSuccess || closed_) return;
  InnerRequest* none[kSlots];
  int n_none = 0;
  if (todo == nullptr) {
    todo = none;
    n_todo = &n_none;
  }
  // The hello is the connection's first inner message, before any message is posted.
  if (!hello_locked()) return;
  // Post in message order: the inner plugin matches sends and receives in posting order.
  while (static_cast<int32_t>(next_post_seq_ - next_wire_seq_) > 0) {
    InnerRequest& r = slot(next_wire_seq_);
    const bool posted = dir_ == Dir::kSend ? post_send_locked(&r) : post_recv_locked(&r);
    if (error_code_ != ncclSuccess) return;
    if (!posted) break;
    ++next_wire_seq_;
  }
  // Poll what is in flight, oldest first.
  for (uint32_t seq = oldest_seq_; static_cast<int32_t>(next_wire_seq_ - seq) > 0; ++seq) {
    InnerRequest& r = slot(seq);
    if (r.state != InnerRequest::State::kPending || r.seq != seq) continue;
    if (!poll_locked(&r, todo, n_todo)) return;
  }
  while (static_cast<int32_t>(next_wire_seq_ - oldest_seq_) > 0) {
    InnerRequest& r = slot(oldest_seq_);
    if (r.seq == oldest_seq_ && r.state == InnerRequest::State::kPending) break;
    ++oldest_seq_;
  }
}

bool InnerComm::hello_locked() {
  if (hello_done_) return true;
  if (!hello_posted_) {
    // Posted with the tag of the first message, when there is one.
    if (static_cast<int32_t>(next_post_seq_ - next_wire_seq_) <= 0) return false;
    if (inner_in_flight_ + 1 > kInnerMaxRequests) return false;
    const int tag = slot(next_wire_seq_).tag;
    void* req = nullptr;
    const ncclResult_t res =
        dir_ == Dir::kSend ? net_->isend(inner_, &hello_, sizeof(hello_), tag, hello_mr_, &req)
                           : net_->irecv(inner_, &hello_, sizeof(hello_), tag, hello_mr_, &req);
    if (res != ncclSuccess) {
      fail_locked(res, "inner net plugin " + net_->name() + " refused the hello " +
                           (dir_ == Dir::kSend ? "to " : "from ") + peer_desc());
      return false;
    }
    if (req == nullptr) return false;  // busy: later
    ++inner_in_flight_;
    hello_req_ = req;
    hello_posted_ = true;
  }
  int done = 0;
  int got = 0;
  const ncclResult_t res = net_->test(hello_req_, &done, &got);
  if (res != ncclSuccess) {
    --inner_in_flight_;
    hello_req_ = nullptr;
    fail_locked(res, "inner net plugin " + net_->name() + " failed the hello " +
                         (dir_ == Dir::kSend ? "to " : "from ") + peer_desc());
    return false;
  }
  if (!done) return true;  // posted: messages may follow it
  --inner_in_flight_;
  hello_req_ = nullptr;
  hello_done_ = true;
  if (dir_ == Dir::kRecv) {
    if (got != static_cast<int>(sizeof(hello_)) || hello_.magic != inner_wire::kHelloMagic ||
        hello_.version != inner_wire::kVersion || hello_.nonce == 0 ||
        (hello_.flags & ~inner_wire::kHelloFrames) != 0) {
      fail_locked(ncclSystemError, "bad hello from " + peer_desc() + " (" + std::to_string(got) +
                                       " bytes): is the peer Squeeze of the same version over "
                                       "the same inner plugin?");
      return false;
    }
    if ((hello_.flags & inner_wire::kHelloFrames) != 0 && (ptr_types_ & NCCL_PTR_CUDA) != 0) {
      fail_locked(ncclInvalidUsage,
                  "the sender " + peer_desc() +
                      " may send compressed frames, but this side receives into GPU buffers, "
                      "which frames are never decoded into: set NCCL_SQUEEZE_INNER_GDR alike on "
                      "every node");
      return false;
    }
  }
  return true;
}

bool InnerComm::post_send_locked(InnerRequest* r) {
  if (r->state != InnerRequest::State::kPending || r->seq != next_wire_seq_) return false;
  if (r->stage != InnerRequest::Stage::kReady) return false;
  if (inner_in_flight_ + 1 > kInnerMaxRequests) return false;
  void* payload = r->kind == wire::PayloadKind::kFramed ? static_cast<void*>(r->staging) : r->data;
  void* mh = r->kind == wire::PayloadKind::kFramed ? staging_mr_ : r->mr->inner;
  void* req = nullptr;
  ncclResult_t res = net_->isend(inner_, payload, r->wire_bytes, r->tag, mh, &req);
  if (res != ncclSuccess) {
    fail_locked(res, "inner net plugin " + net_->name() + " refused message " +
                         std::to_string(r->seq) + " (" + std::to_string(r->wire_bytes) +
                         " bytes) to " + peer_desc());
    return false;
  }
  if (req == nullptr) return false;
  ++inner_in_flight_;
  r->payload_req = req;
  r->stage = InnerRequest::Stage::kPosted;
  return true;
}

bool InnerComm::post_recv_locked(InnerRequest* r) {
  if (r->state != InnerRequest::State::kPending || r->seq != next_wire_seq_) return false;
  if (r->stage != InnerRequest::Stage::kReady) return false;
  if (inner_in_flight_ + 1 > kInnerMaxRequests) return false;
  // Straight into NCCL's buffer, whatever comes: a raw payload is then in place, a frame is
  // recognised by its prefix.
  void* req = nullptr;
  ncclResult_t res = net_->irecv(inner_, r->data, r->size, r->tag, r->mr->inner, &req);
  if (res != ncclSuccess) {
    fail_locked(res, "inner net plugin " + net_->name() + " refused the receive of message " +
                         std::to_string(r->seq) + " from " + peer_desc());
    return false;
  }
  if (req == nullptr) return false;
  ++inner_in_flight_;
  r->payload_req = req;
  r->stage = InnerRequest::Stage::kPosted;
  return true;
}

bool InnerComm::accept_arrival_locked(InnerRequest* r) {
  auto bad = [&](ncclResult_t code, const std::string& why) {
    fail_locked(code, "message " + std::to_string(r->seq) + " from " + peer_desc() + ": " + why);
    return false;
  };
  const uint64_t got = r->payload_got;
  if (got > r->size) return bad(ncclSystemError, std::to_string(got) + " bytes arrived");
  inner_wire::Prefix prefix{0, 0};
  const bool host = r->mr->type == NCCL_PTR_HOST;
  if (host && (hello_.flags & inner_wire::kHelloFrames) != 0 &&
      got >= inner_wire::kPrefixBytes + kFrameHeaderBytes) {
    std::memcpy(&prefix, r->data, sizeof(prefix));
  }
  if (prefix.nonce == hello_.nonce) {
    if (prefix.original_bytes > r->size) {
      return bad(ncclInvalidUsage, "message truncated: " + std::to_string(prefix.original_bytes) +
                                       " bytes sent, receive posted for " +
                                       std::to_string(r->size));
    }
    if (got >= prefix.original_bytes || got - inner_wire::kPrefixBytes > staging_.capacity()) {
      return bad(ncclSystemError, "invalid frame size " + std::to_string(got) + " for a " +
                                      std::to_string(prefix.original_bytes) + "-byte message");
    }
    r->kind = wire::PayloadKind::kFramed;
    r->original_bytes = prefix.original_bytes;
  } else {
    r->kind = wire::PayloadKind::kRaw;
    r->original_bytes = got;
  }
  r->wire_bytes = got;
  stats_.messages.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_in.fetch_add(r->original_bytes, std::memory_order_relaxed);
  stats_
      .decisions[static_cast<int>(r->kind == wire::PayloadKind::kFramed ? Decision::kLossy
                                                                        : Decision::kPassBySender)]
      .fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_wire.fetch_add(got, std::memory_order_relaxed);
  return true;
}

bool InnerComm::poll_locked(InnerRequest* r, InnerRequest** todo, int* n_todo) {
  const bool recv = dir_ == Dir::kRecv;
  const char* what = recv ? "receive" : "send";
  if (r->stage != InnerRequest::Stage::kPosted && r->stage != InnerRequest::Stage::kCopyDue)
    return true;
  if (r->payload_req != nullptr && !r->payload_done) {
    int done = 0;
    int got = 0;
    ncclResult_t res = net_->test(r->payload_req, &done, &got);
    if (res != ncclSuccess) {
      --inner_in_flight_;
      r->payload_req = nullptr;
      fail_locked(res, "inner net plugin " + net_->name() + " failed the " + what + " of message " +
                           std::to_string(r->seq) + " with " + peer_desc());
      return false;
    }
    if (!done) return true;
    --inner_in_flight_;
    r->payload_done = true;
    r->payload_req = nullptr;
    r->payload_got = static_cast<uint64_t>(got < 0 ? 0 : got);
  }
  if (!r->payload_done) return true;
  if (!recv) {
    stats_.bytes_wire.fetch_add(r->wire_bytes, std::memory_order_relaxed);
    finish_send_locked(r);
    return true;
  }
  if (r->stage == InnerRequest::Stage::kPosted) {
    if (!hello_done_) return true;  // what arrived is read with the sender's nonce
    if (!accept_arrival_locked(r)) return false;
    if (r->kind != wire::PayloadKind::kFramed) {
      r->state = InnerRequest::State::kDone;
      return true;
    }
    r->stage = InnerRequest::Stage::kCopyDue;
  }
  // The frame arrived in NCCL's buffer; the decoder writes there, so the frame moves to staging.
  const uint64_t frame_bytes = r->wire_bytes - inner_wire::kPrefixBytes;
  r->staging = staging_.alloc(frame_bytes);
  if (r->staging == nullptr) return true;  // staging full: a decode frees it
  std::memcpy(r->staging, static_cast<char*>(r->data) + inner_wire::kPrefixBytes, frame_bytes);
  r->stage = InnerRequest::Stage::kDecoding;
  ++outstanding_tasks_;
  CodecTask& t = r->task;
  t.op = CodecTask::Op::kDecompress;
  t.encoder = nullptr;
  t.decoder = nullptr;
  t.strand = nullptr;
  t.src = r->staging;
  t.src_bytes = frame_bytes;
  t.dst = r->data;
  t.dst_capacity = r->size;
  t.on_complete = &InnerComm::on_decompressed;
  t.owner = r;
  todo[(*n_todo)++] = r;
  return true;
}

void InnerComm::finish_send_locked(InnerRequest* r) {
  if (r->staging != nullptr) staging_.release(r->staging);
  r->staging = nullptr;
  r->state = InnerRequest::State::kDone;
}

void InnerComm::on_decompressed(CodecTask* task) {
  auto* r = static_cast<InnerRequest*>(task->owner);
  auto* c = static_cast<InnerComm*>(r->owner);
  std::lock_guard<std::mutex> lock(c->mu_);
  --c->outstanding_tasks_;
  c->stats_.codec_ns.fetch_add(task->elapsed_ns, std::memory_order_relaxed);
  c->staging_.release(r->staging);
  r->staging = nullptr;
  if (task->status != Status::kOk || task->out_bytes != r->original_bytes) {
    c->fail_locked(ncclSystemError,
                   "corrupt frame in message " + std::to_string(r->seq) + " from " +
                       c->peer_desc() + ": " +
                       (task->status != Status::kOk
                            ? std::string(status_string(task->status)) +
                                  " (check: " + (task->reject != nullptr ? task->reject : "?") + ")"
                            : "decoded " + std::to_string(task->out_bytes) +
                                  " bytes, header said " + std::to_string(r->original_bytes)));
    return;
  }
  r->state = InnerRequest::State::kDone;
}

}  // namespace squeeze::plugin
