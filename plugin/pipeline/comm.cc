#include "plugin/pipeline/comm.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>

#include "plugin/log.h"
#include "squeeze/format.h"

namespace squeeze::plugin {
namespace {

constexpr auto kTick = std::chrono::milliseconds(50);

// The header that announces a send whose payload is ready.
wire::MsgHeader header_of(const Request& r) {
  wire::MsgHeader h{};
  h.magic = wire::kMsgMagic;
  h.kind = static_cast<uint8_t>(r.kind);
  h.seq = r.seq;
  h.tag = r.tag;  // wire.h, protocol 3 (a version 2 receiver reads the field as reserved)
  h.original_bytes = r.original_bytes;
  h.wire_bytes = r.wire_bytes;
  return h;
}

}  // namespace

Comm::Comm(Dir dir, std::unique_ptr<Connection> conn, const CommOptions& options)
    : NetComm(dir, options), conn_(std::move(conn)) {
  peer_ = sockaddr_to_string(conn_->peer);
  n_sockets_ = static_cast<int>(conn_->data.size());
  inline_ = conn_->n_threads == 0;
  n_threads_ = conn_->n_threads < n_sockets_ ? conn_->n_threads : n_sockets_;
  if (n_threads_ < 1 && !inline_) n_threads_ = 1;
  for (Request& r : slots_) {
    r.comm = this;
    r.owner = this;
  }
  // HISTORY=off: the sender's frames refer to nothing outside themselves.
  if (dir_ == Dir::kSend && options_.history == Settings::History::kOff)
    options_.caps &= ~kCapHistory;
  if ((options_.caps & kCapHistory) != 0) {
    if (dir_ == Dir::kSend) {
      encoder_ = std::make_unique<StreamEncoder>();
      if (options_.verify) verifier_ = std::make_unique<StreamDecoder>();
    } else {
      decoder_ = std::make_unique<StreamDecoder>();
    }
  }
}

Comm::~Comm() {
  close();
}

ncclResult_t Comm::start() {
  SQZ_REQUIRE(n_sockets_ >= 1, ncclInternalError, "connection to %s has no data sockets",
              peer_.c_str());
  SQZ_REQUIRE(staging_.init(options_.staging_bytes), ncclSystemError,
              "cannot allocate %llu bytes of staging memory for the connection to %s",
              static_cast<unsigned long long>(options_.staging_bytes), peer_.c_str());
  frame_limit_ = options_.staging_bytes;
  if (dir_ == Dir::kSend && conn_->peer_staging_bytes < frame_limit_) {
    frame_limit_ = conn_->peer_staging_bytes;
  }
  if (inline_) {
    cursors_.assign(static_cast<size_t>(n_sockets_), Cursor{});
    last_io_ns_ = monotonic_ns();
  }
  for (int t = 0; t < n_threads_; ++t) {
    helpers_.emplace_back([this, t] {
      char name[16];
      std::snprintf(name, sizeof(name), "Sqz%c%llu-%d", dir_ == Dir::kSend ? 'S' : 'R',
                    static_cast<unsigned long long>(options_.id % 1000), t);
      pthread_setname_np(pthread_self(), name);
      if (dir_ == Dir::kSend) {
        send_helper(t);
      } else {
        recv_helper(t);
      }
    });
  }
  return ncclSuccess;
}

int Comm::owed_sends_locked() const {
  int owed = 0;
  for (const Request& r : slots_)
    if (r.state != Request::State::kFree && r.tested && !r.transmitted) ++owed;
  return owed;
}

void Comm::close() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return;
    // With helper threads a compressed send is done once its frame is in staging, so NCCL may
    // close the connection before the frame reached the kernel: it would be lost to a receiver
    // that still waits for it. Such sends are flushed first, for as long as they keep moving; a
    // dead peer fails them at once, and a live one that stopped reading costs the stall timeout,
    // at most 10 s.
    if (dir_ == Dir::kSend && !inline_) {
      const auto linger_quiet = std::chrono::seconds(
          options_.stall_timeout_s > 0 && options_.stall_timeout_s < 10 ? options_.stall_timeout_s
                                                                        : 10);
      int owed = owed_sends_locked();
      auto last_progress = std::chrono::steady_clock::now();
      while (owed > 0 && error_code_ == ncclSuccess &&
             std::chrono::steady_clock::now() - last_progress < linger_quiet) {
        cv_.wait_for(lock, kTick);
        const int now_owed = owed_sends_locked();
        if (now_owed < owed) last_progress = std::chrono::steady_clock::now();
        owed = now_owed;
      }
      if (owed > 0 && error_code_ == ncclSuccess)
        SQZ_WARN("closeSend: %d completed send(s) to %s abandoned: no progress for %lld s", owed,
                 peer_desc().c_str(), static_cast<long long>(linger_quiet.count()));
    }
    closed_ = true;
    stop_io_.store(true, std::memory_order_release);
    cv_.notify_all();
  }
  for (std::thread& t : helpers_) {
    if (t.joinable()) t.join();
  }
  helpers_.clear();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return outstanding_tasks_ == 0; });
  }
  gpu_.reset();  // waits for the connection's own stream, then frees its GPU resources
  ConnLabel label{dir_ == Dir::kSend ? "send" : "recv", options_.id, peer_, last_tag_};
  report_closed(label, stats_, options_.log_stats, options_.stats_file);
}

std::string Comm::stats_json() const {
  int tag;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tag = last_tag_;
  }
  ConnLabel label{dir_ == Dir::kSend ? "send" : "recv", options_.id, peer_, tag};
  return plugin::stats_json(label, stats_);
}

std::string Comm::peer_desc() const {
  return "peer " + peer_ + " (rank " +
         (last_tag_ < 0 ? std::string("unknown") : std::to_string(last_tag_)) + ")";
}

void Comm::fail_locked(ncclResult_t code, const std::string& message, bool idle) {
  if (error_code_ != ncclSuccess) return;
  error_code_ = code;
  error_message_ = message;
  stop_io_.store(true, std::memory_order_release);
  cv_.notify_all();
  if (idle) {
    SQZ_INFO(NCCL_NET, "%s connection %llu: %s", dir_ == Dir::kSend ? "send" : "recv",
             static_cast<unsigned long long>(options_.id), message.c_str());
  } else {
    SQZ_WARN("%s connection %llu: %s", dir_ == Dir::kSend ? "send" : "recv",
             static_cast<unsigned long long>(options_.id), message.c_str());
  }
}

void Comm::io_failure(XferStatus status, int err, uint32_t seq, const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  io_failure_locked(status, err, seq, what);
}

void Comm::io_failure_locked(XferStatus status, int err, uint32_t seq, const char* what) {
  if (status == XferStatus::kAborted || closed_) return;  // close or an earlier failure
  std::string msg = peer_desc() + ": " + xfer_status_text(status);
  if (status == XferStatus::kStalled) {
    msg += " (" + std::to_string(options_.stall_timeout_s) + " s)";
  } else if (err != 0) {
    msg += std::string(" (") + std::strerror(err) + ")";
  }
  msg += std::string(" while ") + what + " message " + std::to_string(seq);
  fail_locked(status == XferStatus::kEof ? ncclRemoteError : ncclSystemError, msg);
}

ncclResult_t Comm::reg_mr(void* data, size_t size, int type, void** mhandle) {
  *mhandle = nullptr;
  const bool cuda = type == NCCL_PTR_CUDA && options_.device_api != nullptr;
  SQZ_REQUIRE(type == NCCL_PTR_HOST || cuda, ncclInternalError,
              "regMr: buffer type %d is not supported (%s)", type,
              options_.device_api != nullptr ? "host or CUDA memory only"
                                             : "host memory only: GPU buffers are off");
  auto mr = std::make_unique<MemoryRegion>();
  mr->comm = this;
  mr->data = data;
  mr->size = size;
  mr->type = type;
  // Service thread: the connection's GPU resources are allocated here, never on the data path.
  if (cuda) SQZ_CHECK(GpuPipeline::attach(this, data, &mr->device));
  std::lock_guard<std::mutex> lock(mu_);
  mr->position = classifier_.reg_order.on_register();
  *mhandle = mr.get();
  regions_.push_back(std::move(mr));
  return ncclSuccess;
}

ncclResult_t Comm::dereg_mr(void* mhandle) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t k = 0; k < regions_.size(); ++k) {
    if (regions_[k].get() == mhandle) {
      regions_.erase(regions_.begin() + static_cast<long>(k));
      return ncclSuccess;
    }
  }
  SQZ_WARN("deregMr: unknown memory handle %p on connection %llu", mhandle,
           static_cast<unsigned long long>(options_.id));
  return ncclInternalError;
}

void Comm::maybe_free_locked(Request* r) {
  if (r->tested && (dir_ == Dir::kRecv || r->transmitted)) {
    r->state = Request::State::kFree;
    r->ready = false;
    r->staging = nullptr;
  }
}

ncclResult_t Comm::isend(void* data, size_t size, int tag, void* mhandle,
                         const SendTraffic& traffic, void** request) {
  *request = nullptr;
  const auto* mr = static_cast<const MemoryRegion*>(mhandle);
  Request* r = nullptr;
  bool lossy = false;
  bool gpu_send = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_code_ != ncclSuccess) {
      SQZ_WARN("isend to rank %d on a failed connection: %s", tag, error_message_.c_str());
      return error_code_;
    }
    SQZ_REQUIRE(data != nullptr || size == 0, ncclInternalError, "isend: NULL buffer of %zu bytes",
                size);
    r = &slot(next_post_seq_);
    if (r->state != Request::State::kFree) {  // 32 in flight: retry later
      progress_locked(nullptr, nullptr, /*pump_gpu=*/true);
      return ncclSuccess;
    }
    classifier_.reg_order.seal();
    const bool via_profiler = traffic.path == TrafficPath::kProfiler;
    ClassifyResult cr =
        classifier_.classify_send(options_, size,
                                  (mr != nullptr && mr->magic == kMrMagic && mr->comm == this)
                                      ? classifier_.reg_order.proto_of(mr->position)
                                      : BufferProto::kUnknown,
                                  traffic);
    char* staging = nullptr;
    size_t capacity = 0;
    bool streamed = false;
    gpu_send = on_gpu(mr) && size > 0;
    // GPU buffers of lossless traffic go to the CUDA encoder (planes frames) under the
    // `lossless` rule. The `auto` rule's gauge measures the host coder only, so under `auto`
    // they pass through.
    if (gpu_send && cr.decision == Decision::kLossless && cr.auto_lossless)
      cr.decision = Decision::kPassNoLossless;
    // The CPU codec's lossy sends, while it keeps up with the link (LOSSY_GATE); the GPU codec
    // is not gated.
    if (!gpu_send) classifier_.gate_lossy(options_, &cr);
    if (gpu_send) {
      gpu_->reserve_send(size, &cr, &staging, &streamed);
    } else if (compresses(cr.decision)) {
      capacity = max_frame_bytes(size);
      if (capacity > frame_limit_) {
        cr.decision = Decision::kPassTooLarge;
      } else {
        staging = staging_.alloc(capacity);
      }
    }
    if (staging == nullptr && (gpu_send || compresses(cr.decision))) {
      progress_locked(nullptr, nullptr, /*pump_gpu=*/true);  // staging full: back-pressure
      return ncclSuccess;
    }
    lossy = compresses(cr.decision);
    r->post(next_post_seq_++, data, size, tag, staging);
    r->original_bytes = size;
    last_tag_ = tag;
    stats_.messages.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_in.fetch_add(size, std::memory_order_relaxed);
    stats_.decisions[static_cast<int>(cr.decision)].fetch_add(1, std::memory_order_relaxed);
    stats_.dtypes[static_cast<int>(traffic.record.dtype) + 1].fetch_add(1,
                                                                        std::memory_order_relaxed);
    stats_.paths[via_profiler ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
    if (gpu_send) {
      r->gpu.on_gpu = true;
      r->gpu.lossy = lossy;
      r->gpu.streamed = streamed;
      r->gpu.params = cr.params;
      // What the receiver decodes, less the stream history: the CUDA encoder keeps none.
      r->gpu.params.caps = options_.caps & ~kCapHistory;
      // The layout as on the CPU path: rel and abs frames bound each table by its own range
      // (the table quantizer) for a receiver that declares kCapTable, else by one bound that
      // keeps every table's (the CPU backend's rule); local frames use its row records, each
      // block bounded by the smallest of its tables' bounds. The frames are the CPU's.
      if (lossy && r->gpu.params.mode != BoundMode::kLossless) {
        apply_layout(classifier_.layout, &r->gpu.params, &r->gpu.layout);
        note_lossy_bytes(size);
      }
      if (gpu_->queue_send(r)) gpu_->pump();  // a full batch: launch it now
    } else if (lossy) {
      ++outstanding_tasks_;
      CodecTask& t = r->task;
      t.op = CodecTask::Op::kCompress;
      t.params = cr.params;
      t.params.caps = options_.caps;  // nothing the receiver does not decode
      if (t.params.mode != BoundMode::kLossless) {
        apply_layout(classifier_.layout, &t.params, &t.layout);
        note_lossy_bytes(size);
        if (encoder_ != nullptr) choose_history_locked(r);
      }
      t.encoder = encoder_.get();
      t.decoder = nullptr;
      t.verify = options_.verify;
      t.verifier = verifier_.get();
      t.strand = encoder_ != nullptr ? this : nullptr;
      t.src = data;
      t.src_bytes = size;
      t.dst = staging;
      t.dst_capacity = capacity;
      t.on_complete = &Comm::on_compressed;
      t.owner = r;
    } else {
      r->kind = wire::PayloadKind::kRaw;
      r->payload = static_cast<char*>(data);
      r->wire_bytes = size;
      send_ready_locked(r, /*nccl_buffer_free=*/false);
    }
    // Queued GPU sends wait for test() (or a full batch): one launch then takes them all.
    progress_locked(nullptr, nullptr, /*pump_gpu=*/false);
  }
  if (lossy && !gpu_send) {
    options_.engine->submit(&r->task);
    // Without codec threads the frame is ready now: push it, as the next call would.
    if (inline_) {
      std::lock_guard<std::mutex> lock(mu_);
      progress_locked(nullptr, nullptr, /*pump_gpu=*/false);
    }
  }
  *request = r;
  return ncclSuccess;
}

void Comm::progress_locked(Request** todo, int* n_todo, bool pump_gpu) {
  // The send side never decompresses: its callers pass no task list.
  Request* none[kSlots];
  int n_none = 0;
  if (todo == nullptr) {
    todo = none;
    n_todo = &n_none;
  }
  const bool send = dir_ == Dir::kSend;
  pump_gpu = pump_gpu && gpu_ != nullptr;
  // Launches queued GPU batches and polls their events. Inline progress goes between the pumps
  // that feed it: a send's payload becomes ready in a pump, a receive's lands before one.
  if (pump_gpu && send) gpu_->pump();
  if (inline_) progress_inline_locked(todo, n_todo);
  if (pump_gpu && !send) gpu_->pump();
}

void Comm::on_compressed(CodecTask* task) {
  auto* r = static_cast<Request*>(task->owner);
  Comm* c = r->comm;
  std::lock_guard<std::mutex> lock(c->mu_);
  --c->outstanding_tasks_;
  c->stats_.codec_ns.fetch_add(task->elapsed_ns, std::memory_order_relaxed);
  if (task->status != Status::kOk) {
    c->staging_.release(r->staging);
    r->staging = nullptr;
    c->fail_locked(ncclInternalError, std::string("compression of message ") +
                                          std::to_string(r->seq) + " for " + c->peer_desc() +
                                          " failed: " + status_string(task->status));
  } else {
    c->stats_.note_bound(task->stats.applied_bound);
    if (task->err_over_bound >= 0) c->stats_.note_err_over_bound(task->err_over_bound);
    c->stats_.outliers.fetch_add(task->stats.outliers, std::memory_order_relaxed);
    c->classifier_.record_compression(c->options_, task->params, task->src_bytes, task->out_bytes,
                                      task->elapsed_ns);
    if (task->params.mode != BoundMode::kLossless && c->encoder_ != nullptr)
      c->history_gauge_.record(r->history, task->src_bytes, task->out_bytes, task->elapsed_ns);
    r->kind = wire::PayloadKind::kFramed;
    r->payload = r->staging;
    r->wire_bytes = task->out_bytes;
    c->send_ready_locked(r, /*nccl_buffer_free=*/true);  // the frame is in staging
  }
  c->cv_.notify_all();
}

void Comm::choose_history_locked(Request* r) {
  CodecTask& t = r->task;
  r->history = HistoryGauge::Ticket{};  // on, measuring nothing
  if (options_.history == Settings::History::kAuto && options_.link_bytes_per_s > 0) {
    bool decided_now = false;
    r->history =
        history_gauge_.next(options_.link_bytes_per_s, history_decode_board(), &decided_now);
    if (decided_now) {
      const HistoryGauge::Verdict& v = history_gauge_.last();
      char receivers[96] = "not measured by this process's receivers";
      if (v.decode.known)
        std::snprintf(receivers, sizeof receivers, "%.3f and %.3f ns by this process's receivers",
                      v.decode.with_ns, v.decode.without_ns);
      SQZ_INFO(NCCL_NET,
               "send connection %llu to %s: the stream history %s: per input byte, with it and "
               "without it, %.3f and %.3f ns of coding, decoding %s, %.4f and %.4f wire bytes "
               "(%.3f and %.3f ns at %.3f GB/s): %.3f against %.3f ns (%d frames each); measured "
               "again in %llu frames",
               static_cast<unsigned long long>(options_.id), peer_.c_str(),
               v.pays ? "pays" : "does not pay", v.ns_with, v.ns_without, receivers, v.wire_with,
               v.wire_without, v.link_with, v.link_without, options_.link_bytes_per_s / 1e9,
               std::max(v.cpu_with, v.link_with), std::max(v.cpu_without, v.link_without),
               HistoryGauge::kProbeFrames,
               static_cast<unsigned long long>(HistoryGauge::kRecheckFrames));
    }
  }
  if (!r->history.history) t.params.caps &= ~kCapHistory;
  (r->history.history ? stats_.history_frames : stats_.history_off_frames)
      .fetch_add(1, std::memory_order_relaxed);
}

void Comm::send_ready_locked(Request* r, bool nccl_buffer_free) {
  r->parts_left = inline_ ? n_sockets_ : n_threads_;  // one part per socket cursor
  r->ready = true;
  if (nccl_buffer_free && !inline_) r->state = Request::State::kDone;
  cv_.notify_all();
}

void Comm::submit_all(Request* const* todo, int n_todo) {
  for (int k = 0; k < n_todo; ++k) options_.engine->submit(&todo[k]->task);
}

ncclResult_t Comm::irecv(void* data, size_t size, int tag, void* mhandle, void** request) {
  *request = nullptr;
  Request* todo[kSlots];
  int n_todo = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SQZ_CHECK(post_recv_locked(data, size, tag, mhandle, request));
    // Also when the receive was refused for now: a caller may retry it without testing anything.
    // GPU batches wait for test() unless nothing else would move them.
    progress_locked(todo, &n_todo, /*pump_gpu=*/*request == nullptr);
  }
  submit_all(todo, n_todo);
  return ncclSuccess;
}

ncclResult_t Comm::post_recv_locked(void* data, size_t size, int tag, void* mhandle,
                                    void** request) {
  if (error_code_ != ncclSuccess) {
    SQZ_WARN("irecv from rank %d on a failed connection: %s", tag, error_message_.c_str());
    return error_code_;
  }
  if (peer_closed_idle_) {
    SQZ_WARN("irecv from rank %d: %s", tag, peer_closed_message_.c_str());
    return ncclRemoteError;
  }
  SQZ_REQUIRE(data != nullptr || size == 0, ncclInternalError, "irecv: NULL buffer of %zu bytes",
              size);
  Request* r = &slot(next_post_seq_);
  if (r->state != Request::State::kFree) return ncclSuccess;
  classifier_.reg_order.seal();
  r->post(next_post_seq_++, data, size, tag, /*staging_block=*/nullptr);
  r->gpu.on_gpu = on_gpu(static_cast<const MemoryRegion*>(mhandle));
  last_tag_ = tag;
  cv_.notify_all();
  *request = r;
  return ncclSuccess;
}

ncclResult_t Comm::test(RequestBase* request, int* done, int* size) {
  auto* r = static_cast<Request*>(request);
  Comm* c = this;
  Request* todo[kSlots];
  int n_todo = 0;
  ncclResult_t rc;
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    *done = 0;
    c->progress_locked(todo, &n_todo, /*pump_gpu=*/true);
    rc = c->test_locked(r, done, size);
  }
  c->submit_all(todo, n_todo);
  return rc;
}

ncclResult_t Comm::test_locked(Request* r, int* done, int* size) {
  Comm* c = this;
  SQZ_REQUIRE(r->state != Request::State::kFree, ncclInternalError,
              "test on request %p that is not in flight", static_cast<void*>(r));
  if (r->state != Request::State::kDone && c->error_code_ != ncclSuccess) {
    SQZ_INFO(NCCL_NET, "test: request %u of %s failed: %s", r->seq, c->peer_desc().c_str(),
             c->error_message_.c_str());
    return c->error_code_;
  }
  // Requests may be tested in any order and each reports done as soon as it is: a caller that
  // waits on a newer request before testing older ones must not wait forever. Slots are reused in
  // posting order (next_post_seq_), whatever order they are freed in.
  if (r->state != Request::State::kDone) return ncclSuccess;
  *done = 1;
  if (size != nullptr) {
    uint64_t n = c->dir_ == Dir::kSend ? r->size : r->original_bytes;
    *size = n > static_cast<uint64_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
  }
  r->tested = true;
  c->maybe_free_locked(r);
  return ncclSuccess;
}

bool Comm::transfer_my_chunks(Request* r, int t, int* parts) {
  if (r->gpu.streamed) return transfer_my_pieces(r, t, parts);
  wire::ChunkPlan plan = wire::plan_chunks(r->wire_bytes, n_sockets_);
  bool sending = dir_ == Dir::kSend;
  for (uint32_t j = 0; j < plan.count; ++j) {
    int s = wire::socket_of_chunk(r->seq, j, n_sockets_);
    if (s % n_threads_ != t) continue;
    uint64_t offset = static_cast<uint64_t>(j) * plan.chunk_bytes;
    uint64_t len =
        r->wire_bytes - offset < plan.chunk_bytes ? r->wire_bytes - offset : plan.chunk_bytes;
    int err = 0;
    XferStatus st =
        transfer_exact(conn_->data[static_cast<size_t>(s)].get(), sending, r->payload + offset, len,
                       stop_io_, options_.stall_timeout_s, &err);
    if (st != XferStatus::kOk) {
      io_failure(st, err, r->seq, sending ? "sending" : "receiving");
      return false;
    }
    ++*parts;
  }
  return true;
}

bool Comm::transfer_my_pieces(Request* r, int t, int* parts) {
  const bool sending = dir_ == Dir::kSend;
  for (uint64_t k = 0;; ++k) {
    StreamPiece piece;
    char* at = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stop_io_.load(std::memory_order_acquire)) return false;
        const GpuPipeline::PieceState st = gpu_->stream_piece(t, k, &piece, &at);
        if (st == GpuPipeline::PieceState::kEnd) return true;
        if (st == GpuPipeline::PieceState::kReady) break;
        cv_.wait_for(lock, kTick);  // the piece's copy (or its slot's) is on the device
      }
    }
    int err = 0;
    XferStatus st = transfer_exact(conn_->data[static_cast<size_t>(piece.socket)].get(), sending,
                                   at, piece.len, stop_io_, options_.stall_timeout_s, &err);
    if (st != XferStatus::kOk) {
      io_failure(st, err, r->seq, sending ? "sending" : "receiving");
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    gpu_->stream_piece_moved(t);
    ++*parts;
  }
}

void Comm::finish_parts(Request* r, int parts) {
  Request* todo[kSlots];
  int n_todo = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finish_parts_locked(r, parts, todo, &n_todo);
  }
  submit_all(todo, n_todo);
}

Request* Comm::prepare_decode_locked(Request* r, void* dst, size_t capacity,
                                     StreamDecoder* decoder) {
  ++outstanding_tasks_;
  CodecTask& t = r->task;
  t.op = CodecTask::Op::kDecompress;
  t.encoder = nullptr;
  t.decoder = decoder;
  t.strand = decoder != nullptr ? this : nullptr;
  t.src = r->payload;
  t.src_bytes = r->wire_bytes;
  t.dst = dst;
  t.dst_capacity = capacity;
  t.on_complete = &Comm::on_decompressed;
  t.owner = r;
  return r;
}

void Comm::release_decodes_locked(Request** todo, int* n_todo) {
  // Only posted messages are looked at; one whose slot is free (or holds a newer message) was a
  // raw one, delivered, tested and freed already: a frame stays in its slot until decoded.
  while (static_cast<int32_t>(next_post_seq_ - next_decode_seq_) > 0) {
    Request& r = slot(next_decode_seq_);
    const bool mine = r.state != Request::State::kFree && r.seq == next_decode_seq_;
    if (mine && !r.transmitted) return;
    if (mine && r.kind == wire::PayloadKind::kFramed && !r.gpu.on_gpu && !r.decode_submitted) {
      r.decode_submitted = true;
      todo[(*n_todo)++] = prepare_decode_locked(&r, r.data, r.size, decoder_.get());
    }
    ++next_decode_seq_;
  }
}

void Comm::finish_parts_locked(Request* r, int parts, Request** todo, int* n_todo) {
  r->parts_left -= parts;
  if (r->parts_left > 0) return;
  r->transmitted = true;
  stats_.bytes_wire.fetch_add(r->wire_bytes, std::memory_order_relaxed);
  if (dir_ == Dir::kSend) {
    if (r->gpu.streamed) gpu_->end_send_stream(r);
    if (r->staging != nullptr && r->gpu.on_gpu) {
      gpu_->release_staging(r->staging);
    } else if (r->staging != nullptr) {
      staging_.release(r->staging);
    }
    r->staging = nullptr;
    r->state = Request::State::kDone;
    maybe_free_locked(r);
    cv_.notify_all();  // close() may be waiting for this send to reach the kernel
  } else {
    if (r->gpu.on_gpu && r->gpu.cpu_decode) {
      // No stream decoder: a receiver that may use GPU buffers declares no stream history.
      todo[(*n_todo)++] = prepare_decode_locked(r, r->gpu.decoded, r->original_bytes, nullptr);
    } else if (r->gpu.on_gpu) {
      gpu_->queue_recv(r);  // the next test() copies it to the device (and decodes it there)
    } else if (r->kind == wire::PayloadKind::kRaw) {
      r->state = Request::State::kDone;
    }
    release_decodes_locked(todo, n_todo);
  }
  cv_.notify_all();
}

void Comm::on_decompressed(CodecTask* task) {
  auto* r = static_cast<Request*>(task->owner);
  Comm* c = r->comm;
  std::lock_guard<std::mutex> lock(c->mu_);
  --c->outstanding_tasks_;
  c->stats_.codec_ns.fetch_add(task->elapsed_ns, std::memory_order_relaxed);
  // A frame for a GPU buffer (GpuRequestState::cpu_decode) decoded into pinned staging; its
  // block is released once the copy to the device completed.
  const bool for_gpu = r->gpu.on_gpu;
  // A history connection's lossy frames: what decoding costs with the history and without, for
  // this process's senders (HISTORY=auto).
  FrameInfo info;
  if (c->decoder_ != nullptr && task->status == Status::kOk &&
      read_frame_info(task->src, task->src_bytes, &info) == Status::kOk &&
      info.method == static_cast<uint8_t>(FrameMethod::kStaged)) {
    history_decode_board().note(info.dedup == static_cast<uint8_t>(StagedDedup::kHistory),
                                task->out_bytes, task->elapsed_ns);
  }
  if (!for_gpu) {
    c->staging_.release(r->staging);
    r->staging = nullptr;
  }
  if (task->status != Status::kOk || task->out_bytes != r->original_bytes) {
    c->fail_locked(ncclSystemError,
                   "corrupt frame in message " + std::to_string(r->seq) + " from " +
                       c->peer_desc() + (for_gpu ? " (decoded on the CPU for a GPU buffer)" : "") +
                       ": " +
                       (task->status != Status::kOk
                            ? std::string(status_string(task->status)) +
                                  " (check: " + (task->reject != nullptr ? task->reject : "?") + ")"
                            : "decoded " + std::to_string(task->out_bytes) +
                                  " bytes, header said " + std::to_string(r->original_bytes)));
  } else if (for_gpu) {
    r->payload = r->gpu.decoded;
    r->wire_bytes = r->original_bytes;
    c->gpu_->queue_decoded(r);
  } else {
    r->state = Request::State::kDone;
  }
  c->cv_.notify_all();
}

void Comm::send_helper(int t) {
  const int control = conn_->control.get();
  for (uint32_t seq = 0;; ++seq) {
    Request* r = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stop_io_.load(std::memory_order_acquire)) return;
        Request& s = slot(seq);
        if (s.state != Request::State::kFree && s.seq == seq && s.ready) {
          r = &s;
          break;
        }
        int err = 0;
        if (t == 0 && peer_hung_up(control, &err)) {
          // The receiver never writes on the control socket: readable means EOF or reset.
          fail_locked(ncclRemoteError,
                      peer_desc() + ": connection closed by peer" +
                          (err ? std::string(" (") + std::strerror(err) + ")" : std::string()) +
                          " while idle before message " + std::to_string(seq),
                      /*idle=*/s.state == Request::State::kFree);
          return;
        }
        cv_.wait_for(lock, kTick);
      }
    }
    int parts = 0;
    const int hs = wire::header_socket(seq, n_sockets_);
    if (hs % n_threads_ == t) {
      // The header goes right before chunk 0, on the same socket (wire.h).
      wire::MsgHeader h = header_of(*r);
      int err = 0;
      XferStatus st = transfer_exact(conn_->data[static_cast<size_t>(hs)].get(), true, &h,
                                     sizeof(h), stop_io_, options_.stall_timeout_s, &err);
      if (st != XferStatus::kOk) {
        io_failure(st, err, seq, "sending the header of");
        return;
      }
      ++parts;
    }
    if (!transfer_my_chunks(r, t, &parts)) return;
    // Every helper passes every message (even with no chunk of it), so a message cannot complete
    // and its slot be reused before each helper has seen it.
    finish_parts(r, 1);
  }
}

bool Comm::recv_header(uint32_t seq, Request** out) {
  const int control = conn_->control.get();
  Request* r = nullptr;
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (stop_io_.load(std::memory_order_acquire)) return false;
      Request& s = slot(seq);
      if (s.state != Request::State::kFree && s.seq == seq) {
        r = &s;
        break;
      }
      int err = 0;
      // A sender may send its last message and close before this side posts the receive: the
      // message then waits in the kernel and must still be delivered, so the hang-up counts only
      // once nothing of the next message is waiting on the socket that carries its header.
      if (peer_hung_up(control, &err) &&
          !has_unread_bytes(
              conn_->data[static_cast<size_t>(wire::header_socket(seq, n_sockets_))].get())) {
        // Not a failure of anything in flight: the other helpers may still be reading the last
        // announced message from the data sockets, so I/O is not stopped here.
        peer_closed_idle_ = true;
        peer_closed_message_ =
            peer_desc() + ": connection closed by peer" +
            (err ? std::string(" (") + std::strerror(err) + ")" : std::string()) +
            " before message " + std::to_string(seq);
        SQZ_INFO(NCCL_NET, "recv connection %llu: %s", static_cast<unsigned long long>(options_.id),
                 peer_closed_message_.c_str());
        cv_.notify_all();
        return false;
      }
      cv_.wait_for(lock, kTick);
    }
  }
  // The sender may legitimately be idle for a long time: waiting for the header is no stall.
  const int fd = conn_->data[static_cast<size_t>(wire::header_socket(seq, n_sockets_))].get();
  while (!wait_readable(fd, 50)) {
    if (stop_io_.load(std::memory_order_acquire)) return false;
  }
  wire::MsgHeader h{};
  int err = 0;
  XferStatus st =
      transfer_exact(fd, false, &h, sizeof(h), stop_io_, options_.stall_timeout_s, &err);
  if (st != XferStatus::kOk) {
    io_failure(st, err, seq, "receiving the header of");
    return false;
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    HeaderVerdict v = accept_header_locked(seq, h, r);
    if (v == HeaderVerdict::kAccepted) break;
    if (v == HeaderVerdict::kFailed || stop_io_.load(std::memory_order_acquire)) return false;
    cv_.wait_for(lock, kTick);  // staging full: a decompress frees it
  }
  *out = r;
  return true;
}

Comm::HeaderVerdict Comm::accept_header_locked(uint32_t seq, const wire::MsgHeader& h, Request* r) {
  auto bad = [&](ncclResult_t code, const std::string& why) {
    fail_locked(code, "message " + std::to_string(seq) + " from " + peer_desc() + ": " + why);
    return HeaderVerdict::kFailed;
  };
  if (h.magic != wire::kMsgMagic) return bad(ncclSystemError, "bad message header magic");
  if (h.seq != seq) {
    return bad(ncclSystemError, "out of sequence (header says " + std::to_string(h.seq) + ")");
  }
  if (h.original_bytes > r->size) {
    return bad(ncclInvalidUsage, "message truncated: " + std::to_string(h.original_bytes) +
                                     " bytes sent, receive posted for " + std::to_string(r->size));
  }
  char* dest = nullptr;
  if (h.kind == static_cast<uint8_t>(wire::PayloadKind::kRaw)) {
    if (h.wire_bytes != h.original_bytes) {
      return bad(ncclSystemError, "raw payload of " + std::to_string(h.wire_bytes) +
                                      " bytes for a " + std::to_string(h.original_bytes) +
                                      "-byte message");
    }
    dest = static_cast<char*>(r->data);
  } else if (h.kind == static_cast<uint8_t>(wire::PayloadKind::kFramed)) {
    if (h.wire_bytes < kFrameHeaderBytes || h.wire_bytes > max_frame_bytes(h.original_bytes) ||
        h.wire_bytes > staging_.capacity()) {
      return bad(ncclSystemError, "invalid frame size " + std::to_string(h.wire_bytes) + " for a " +
                                      std::to_string(h.original_bytes) + "-byte message");
    }
    if (!r->gpu.on_gpu) {
      dest = staging_.alloc(h.wire_bytes);
      if (dest == nullptr) return HeaderVerdict::kRetry;
    }
  } else {
    return bad(ncclSystemError, "unknown payload kind " + std::to_string(h.kind));
  }
  if (r->gpu.on_gpu) {
    // A GPU buffer: every payload lands in the GPU pipeline's pinned staging first, a large
    // passthrough one piece by piece through a window of it (stream_plan.h).
    dest = nullptr;
    r->gpu.streamed = h.kind == static_cast<uint8_t>(wire::PayloadKind::kRaw) &&
                      h.wire_bytes > gpu_->stream_threshold();
    // A sender with host buffers frames messages of any size its staging takes; the GPU decoder
    // takes frames of up to kGpuMaxChunkBytes. A larger one is decoded on the CPU, into the same
    // staging block after the frame, and copied to the device.
    r->gpu.cpu_decode = h.kind == static_cast<uint8_t>(wire::PayloadKind::kFramed) &&
                        h.original_bytes > kGpuMaxChunkBytes;
    if (r->gpu.streamed) {
      r->wire_bytes = h.wire_bytes;  // the stream's plan
      if (!gpu_->begin_recv_stream(r)) return HeaderVerdict::kRetry;
    } else if (r->gpu.cpu_decode) {
      const uint64_t decoded_at = (h.wire_bytes + 63) / 64 * 64;  // aligned for the decoder
      if (decoded_at + h.original_bytes > gpu_->staging_capacity()) {
        return bad(ncclInvalidUsage,
                   "a frame of " + std::to_string(h.wire_bytes) + " bytes decoding to " +
                       std::to_string(h.original_bytes) + " (above the GPU decoder's " +
                       std::to_string(kGpuMaxChunkBytes) +
                       "-byte limit: decoded on the CPU) does not fit, with what it decodes to, "
                       "the GPU pipeline's staging (" +
                       std::to_string(gpu_->staging_capacity()) +
                       " bytes, NCCL_SQUEEZE_STAGING_MB; see README, GPU buffers)");
      }
      dest = gpu_->alloc_staging(decoded_at + h.original_bytes);
      if (dest == nullptr) return HeaderVerdict::kRetry;
      r->gpu.decoded = dest + decoded_at;
    } else if (h.wire_bytes > gpu_->staging_capacity()) {
      return bad(ncclInvalidUsage, std::to_string(h.wire_bytes) +
                                       " payload bytes do not fit the GPU pipeline's staging (" +
                                       std::to_string(gpu_->staging_capacity()) +
                                       " bytes, NCCL_SQUEEZE_STAGING_MB)");
    } else if (h.wire_bytes > 0) {
      dest = gpu_->alloc_staging(h.wire_bytes);
      if (dest == nullptr) return HeaderVerdict::kRetry;
    }
  }
  r->kind = static_cast<wire::PayloadKind>(h.kind);
  r->original_bytes = h.original_bytes;
  r->wire_bytes = h.wire_bytes;
  r->payload = dest;
  r->staging = r->kind == wire::PayloadKind::kFramed || r->gpu.on_gpu ? dest : nullptr;
  r->parts_left = inline_ ? n_sockets_ : n_threads_;
  r->ready = true;
  stats_.messages.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_in.fetch_add(h.original_bytes, std::memory_order_relaxed);
  stats_
      .decisions[static_cast<int>(r->kind == wire::PayloadKind::kFramed ? Decision::kLossy
                                                                        : Decision::kPassBySender)]
      .fetch_add(1, std::memory_order_relaxed);
  cv_.notify_all();
  return HeaderVerdict::kAccepted;
}

void Comm::recv_helper(int t) {
  for (uint32_t seq = 0;; ++seq) {
    Request* r = nullptr;
    int parts = 0;
    if (wire::header_socket(seq, n_sockets_) % n_threads_ == t) {
      if (!recv_header(seq, &r)) return;
      ++parts;
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stop_io_.load(std::memory_order_acquire)) return;
        Request& s = slot(seq);
        if (s.state != Request::State::kFree && s.seq == seq && s.ready) {
          r = &s;
          break;
        }
        cv_.wait_for(lock, kTick);
      }
    }
    if (!transfer_my_chunks(r, t, &parts)) return;
    // Every helper passes every message (even with no chunk of it), so a message cannot complete
    // and its slot be reused before each helper has seen it.
    finish_parts(r, 1);
  }
}

// ---- Inline progress ----------------------------------------------------------------------

void Comm::progress_inline_locked(Request** todo, int* n_todo) {
  if (stop_io_.load(std::memory_order_acquire)) return;
  bool moved = false;
  bool waiting = false;  // bytes are due but the socket took or gave none
  for (int s = 0; s < n_sockets_; ++s) {
    bool ok = dir_ == Dir::kSend ? inline_send_locked(s, &moved, &waiting)
                                 : inline_recv_locked(s, todo, n_todo, &moved, &waiting);
    if (!ok) return;
  }
  if (moved || !waiting) {
    last_io_ns_ = monotonic_ns();
    return;
  }
  const uint64_t limit_ns = static_cast<uint64_t>(options_.stall_timeout_s) * 1000000000ull;
  if (limit_ns > 0 && monotonic_ns() - last_io_ns_ > limit_ns) {
    uint32_t seq = cursors_[0].seq;
    for (const Cursor& c : cursors_) seq = c.seq < seq ? c.seq : seq;  // the oldest message
    io_failure_locked(XferStatus::kStalled, 0, seq, dir_ == Dir::kSend ? "sending" : "receiving");
  }
}

bool Comm::peer_gone_locked(uint32_t seq) {
  // The receiver never writes on the control socket: readable means EOF or reset. Looked at when
  // a message starts after a quiet spell (not per message: a poll per message costs more than it
  // is worth while messages stream, and a peer that dies mid-stream fails the sends anyway), so
  // that a send to a peer that hung up while idle fails instead of vanishing into the kernel.
  constexpr uint64_t kQuietNs = 10 * 1000 * 1000;
  const uint64_t now = monotonic_ns();
  const bool quiet = now - last_hangup_check_ns_ > kQuietNs;
  last_hangup_check_ns_ = now;
  if (!quiet) return false;
  int err = 0;
  if (!peer_hung_up(conn_->control.get(), &err)) return false;
  fail_locked(ncclRemoteError,
              peer_desc() + ": connection closed by peer" +
                  (err ? std::string(" (") + std::strerror(err) + ")" : std::string()) +
                  " before message " + std::to_string(seq));
  return true;
}

Comm::SpanStep Comm::next_span_locked(Cursor* c, const Request& r, int s) {
  c->on_piece = false;
  if (r.gpu.streamed) {
    StreamPiece piece;
    char* at = nullptr;
    const GpuPipeline::PieceState ps = gpu_->stream_piece(s, c->piece, &piece, &at);
    if (ps != GpuPipeline::PieceState::kReady)
      return ps == GpuPipeline::PieceState::kWait ? SpanStep::kWait : SpanStep::kNone;
    c->bytes = at;
    c->len = piece.len;
    c->on_piece = true;
    return SpanStep::kBytes;
  }
  const wire::ChunkPlan plan = wire::plan_chunks(r.wire_bytes, n_sockets_);
  wire::ChunkSpan chunk{};
  if (!wire::next_chunk_on_socket(plan, r.wire_bytes, r.seq, c->chunk, s, n_sockets_, &chunk))
    return SpanStep::kNone;
  c->bytes = r.payload + chunk.offset;
  c->len = chunk.len;
  c->chunk = chunk.index + 1;
  return SpanStep::kBytes;
}

void Comm::span_done_locked(Cursor* c, int s) {
  if (!c->on_piece) return;
  gpu_->stream_piece_moved(s);  // its slot is free again (send) or its copy may go (recv)
  ++c->piece;
}

bool Comm::inline_send_locked(int s, bool* moved, bool* waiting) {
  Cursor& c = cursors_[static_cast<size_t>(s)];
  const int fd = conn_->data[static_cast<size_t>(s)].get();
  for (;;) {
    Request& r = slot(c.seq);
    if (r.state == Request::State::kFree || r.seq != c.seq || !r.ready) return true;
    if (!c.busy) {
      const bool header_due = !c.header_done && wire::header_socket(r.seq, n_sockets_) == s;
      // A streamed message's header goes alone, then this socket's pieces.
      const SpanStep step =
          header_due && r.gpu.streamed ? SpanStep::kNone : next_span_locked(&c, r, s);
      if (step == SpanStep::kWait) return true;  // its copy is on the device: no stall
      const bool has_bytes = step == SpanStep::kBytes;
      if (!has_bytes && !header_due) {
        // Every socket passes every message (even with no chunk of it), so a message cannot
        // complete and its slot be reused before each cursor has moved past it.
        ++c.seq;
        c.chunk = 0;
        c.piece = 0;
        c.header_done = false;
        finish_parts_locked(&r, 1, nullptr, nullptr);  // a send never needs a decompress
        continue;
      }
      if (!has_bytes) {
        c.bytes = nullptr;
        c.len = 0;
      }
      c.hdr_len = 0;
      if (header_due) {
        if (peer_gone_locked(r.seq)) return false;
        c.header = header_of(r);
        c.hdr_len = sizeof(c.header);
        c.header_done = true;
      }
      c.done = 0;
      c.busy = true;
    }
    int err = 0;
    IoStep st = send_step2(fd, &c.header, c.hdr_len, c.bytes, c.len, &c.done, &err);
    if (st == IoStep::kAgain) {
      *waiting = true;
      return true;
    }
    if (st != IoStep::kProgress) {
      io_failure_locked(st == IoStep::kEof ? XferStatus::kEof : XferStatus::kError, err, r.seq,
                        c.done < c.hdr_len ? "sending the header of" : "sending");
      return false;
    }
    *moved = true;
    if (c.done == c.hdr_len + c.len) {
      c.busy = false;
      span_done_locked(&c, s);
    }
  }
}

bool Comm::inline_recv_locked(int s, Request** todo, int* n_todo, bool* moved, bool* waiting) {
  Cursor& c = cursors_[static_cast<size_t>(s)];
  const int fd = conn_->data[static_cast<size_t>(s)].get();
  for (;;) {
    Request& r = slot(c.seq);
    if (r.state == Request::State::kFree || r.seq != c.seq) return true;  // not posted yet
    int err = 0;
    if (!r.ready) {
      // The header comes on its own socket; the other sockets wait until it was accepted.
      if (wire::header_socket(r.seq, n_sockets_) != s) return true;
      if (c.done < sizeof(c.header)) {
        IoStep st = recv_step(fd, &c.header, sizeof(c.header), &c.done, &err);
        if (st == IoStep::kAgain) {
          // Waiting for the next header is idle, not stalled: the sender may be.
          if (c.done > 0) *waiting = true;
          return true;
        }
        if (st != IoStep::kProgress) {
          io_failure_locked(st == IoStep::kEof ? XferStatus::kEof : XferStatus::kError, err, r.seq,
                            "receiving the header of");
          return false;
        }
        *moved = true;
        continue;
      }
      HeaderVerdict v = accept_header_locked(r.seq, c.header, &r);
      if (v == HeaderVerdict::kRetry) return true;  // staging full: a decompress frees it
      if (v == HeaderVerdict::kFailed) return false;
      c.done = 0;
      *moved = true;
    }
    if (!c.busy) {
      const SpanStep step = next_span_locked(&c, r, s);
      if (step == SpanStep::kWait) return true;  // its slot is still in use
      const bool has_bytes = step == SpanStep::kBytes;
      if (!has_bytes) {
        ++c.seq;
        c.chunk = 0;
        c.piece = 0;
        finish_parts_locked(&r, 1, todo, n_todo);
        continue;
      }
      c.done = 0;
      c.busy = true;
    }
    IoStep st = recv_step(fd, c.bytes, c.len, &c.done, &err);
    if (st == IoStep::kAgain) {
      *waiting = true;
      return true;
    }
    if (st != IoStep::kProgress) {
      io_failure_locked(st == IoStep::kEof ? XferStatus::kEof : XferStatus::kError, err, r.seq,
                        "receiving");
      return false;
    }
    *moved = true;
    if (c.done == c.len) {
      c.busy = false;
      c.done = 0;  // the next header on this socket counts from 0
      span_done_locked(&c, s);
    }
  }
}

// ---- Classification of a send (shared with InnerComm) ----------------------------------------

CommKind SendClassifier::comm_kind(CommKind connect_kind) const {
  if (connect_kind != CommKind::kUnknown) return connect_kind;
  // No connect-time hint (net v8-v10): a single FIFO registration is NCCL's p2p pool.
  if (reg_order.sealed() && reg_order.fifo_batch_size() == 1) return CommKind::kP2p;
  return CommKind::kUnknown;
}

void set_link_rate(const Settings& settings, int device_speed_mbps, bool speed_known,
                   CommOptions* options) {
  const bool given = settings.link_mbps() > 0;
  const int64_t mbps = given ? settings.link_mbps() : device_speed_mbps;
  options->link_bytes_per_s = mbps > 0 ? static_cast<double>(mbps) * 1e6 / 8.0 : 0.0;
  options->link_rate_known = options->link_bytes_per_s > 0 && (given || speed_known);
}

ClassifyResult SendClassifier::classify_send(const CommOptions& options, size_t bytes,
                                             BufferProto proto, const SendTraffic& traffic) {
  ClassifyInput in;
  in.bytes = bytes;
  in.proto = proto;
  in.comm_kind = comm_kind(options.connect_kind);
  in.transfer_op = options.hints != nullptr ? options.hints->transfer_op() : 0;
  in.traffic = traffic.path == TrafficPath::kProfiler ? &traffic.record : nullptr;
  // squeeze_set_policy may change the rules at any time: re-read them when they did.
  if (policy_generation() != rules_generation) policy_snapshot(&rules, &rules_generation);
  if (layout_generation() != layout_gen) layout = layout_snapshot(&layout_gen);
  ClassifyResult r = classify(options.policy, rules, in);
  r.params.rans_min_gain = options.rans_min_gain;
  if (r.decision != Decision::kLossless) return r;
  if ((options.caps & kCapPlanes) == 0) {
    r.decision = Decision::kPassNoLossless;  // the receiver does not decode planes frames
    return r;
  }
  if (!r.auto_lossless) return r;
  if (!coder_pays(gauge, options, r.params.dtype, "lossless coding", /*unknown_pays=*/false, 1))
    r.decision = Decision::kPassNotPaying;
  return r;
}

void SendClassifier::gate_lossy(const CommOptions& options, ClassifyResult* r) {
  if (!options.lossy_gate || r->decision != Decision::kLossy) return;
  const int threads = options.codec_threads > 1 ? options.codec_threads : 1;
  if (!coder_pays(lossy_gauge, options, r->params.dtype, "lossy compression",
                  /*unknown_pays=*/true, threads))
    r->decision = Decision::kPassCodecSlow;
}

bool SendClassifier::coder_pays(CoderGauge& g, const CommOptions& options, DType dtype,
                                const char* what, bool unknown_pays, int threads) {
  const int col = static_cast<int>(dtype) - 1;
  // A defaulted device speed is no measurement of the link: unknown here (net_comm.h).
  const double link = options.link_rate_known ? options.link_bytes_per_s : 0.0;
  const CoderGauge::Verdict v = g.next(col, link, unknown_pays, threads);
  if (v.decided_now) {
    double rate = 0, ratio = 0;
    g.measured(col, &rate, &ratio);
    char link_text[48] = "unknown (the device reports no speed)";
    if (link > 0) std::snprintf(link_text, sizeof link_text, "at %.4g GB/s", link / 1e9);
    SQZ_INFO(NCCL_NET,
             "send connection %llu: %s of %s %s: the CPU codec runs at %.3f GB/s (%d thread%s) "
             "with ratio %.2f over %d messages, the link %s%s",
             static_cast<unsigned long long>(options.id), what, dtype_name(dtype),
             v.compress ? "pays" : "does not pay (sent bit-exact)", rate / 1e9, threads,
             threads > 1 ? "s" : "", ratio, CoderGauge::kProbeMessages, link_text,
             link > 0       ? ""
             : unknown_pays ? ": compressing"
                            : ": not compressing; set NCCL_SQUEEZE_LINK_MBPS");
  }
  return v.compress;
}

void SendClassifier::record_compression(const CommOptions& options, const CodecParams& params,
                                        uint64_t in, uint64_t out, uint64_t ns) {
  const int col = static_cast<int>(params.dtype) - 1;
  if (params.mode == BoundMode::kLossless) {
    gauge.record(col, in, out, ns);
  } else if (options.lossy_gate) {
    lossy_gauge.record(col, in, out, ns);
  }
}

}  // namespace squeeze::plugin
