#include "plugin/pipeline/codec_engine.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "compress/block.h"
#include "plugin/transport/socket.h"

namespace squeeze::plugin {

double max_error_over_bound(const CodecParams& p, const void* xv, const void* yv, size_t bytes,
                            uint32_t record_log2) {
  const auto* x = static_cast<const uint8_t*>(xv);
  const auto* y = static_cast<const uint8_t*>(yv);
  // Lossless frames and non-float data must come back bit for bit.
  if (p.mode == BoundMode::kLossless || !block::is_float_dtype(static_cast<uint8_t>(p.dtype)))
    return std::memcmp(x, y, bytes) == 0 ? 0.0 : kErrNotWithin;
  const size_t es = dtype_size(p.dtype);
  const size_t n = bytes / es;
  if (std::memcmp(x + n * es, y + n * es, bytes - n * es) != 0) return kErrNotWithin;
  std::vector<double> bound(n);  // a debugging mode: the check allocates
  element_bounds(p, x, bytes, record_log2, bound.data());
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = block::element_at(p.dtype, x, i), b = block::element_at(p.dtype, y, i);
    const double eb = bound[i];
    double r;
    if (!std::isfinite(a)) {
      r = std::memcmp(x + i * es, y + i * es, es) == 0 ? 0.0 : kErrNotWithin;
    } else {
      const double d = std::fabs(b - a);  // NaN when b is not finite: not within
      r = d == 0 ? 0.0 : (eb > 0 && d <= eb * kErrNotWithin ? d / eb : kErrNotWithin);
    }
    worst = std::max(worst, r);
  }
  return worst;
}

void run_codec_task(CodecTask* t) {
  uint64_t start = monotonic_ns();
  if (t->op == CodecTask::Op::kCompress) {
    t->stats = FrameStats{};
    t->err_over_bound = -1;
    t->status = t->encoder != nullptr
                    ? t->encoder->compress(t->params, t->src, t->src_bytes, t->dst, t->dst_capacity,
                                           &t->out_bytes, &t->stats)
                    : compress(t->params, t->src, t->src_bytes, t->dst, t->dst_capacity,
                               &t->out_bytes, &t->stats);
    if (t->verify && t->status == Status::kOk) {
      // Not codec time: measured before the check.
      t->elapsed_ns = monotonic_ns() - start;
      std::vector<uint8_t> y(t->src_bytes);
      size_t out = 0;
      const Status s = t->verifier != nullptr
                           ? t->verifier->decompress(t->dst, t->out_bytes, y.data(), y.size(), &out)
                           : decompress(t->dst, t->out_bytes, y.data(), y.size(), &out);
      t->err_over_bound = s == Status::kOk && out == t->src_bytes
                              ? max_error_over_bound(t->params, t->src, y.data(), y.size(),
                                                     frame_record_log2(t->dst, t->out_bytes))
                              : kErrNotWithin;
      return;
    }
  } else {
    t->status =
        t->decoder != nullptr
            ? t->decoder->decompress(t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes)
            : decompress(t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes);
    if (t->status != Status::kOk) t->reject = last_reject_reason();
  }
  t->elapsed_ns = monotonic_ns() - start;
}

HostCodecEngine::HostCodecEngine(int threads) : workers_(threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      char name[16];
      std::snprintf(name, sizeof(name), "SqzCodec%d", i);
      pthread_setname_np(pthread_self(), name);
      worker();
    });
  }
}

HostCodecEngine::~HostCodecEngine() {
  stop();
}

void HostCodecEngine::submit(CodecTask* task) {
  task->next = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // No workers (NCCL_SQUEEZE_CODEC_THREADS=0): the caller's thread runs the task below.
    if (!stopping_ && !threads_.empty()) {
      if (tail_) {
        tail_->next = task;
      } else {
        head_ = task;
      }
      tail_ = task;
      cv_.notify_one();
      return;
    }
  }
  run_codec_task(task);
  task->on_complete(task);
}

void HostCodecEngine::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

CodecTask* HostCodecEngine::take_runnable_locked() {
  CodecTask* prev = nullptr;
  for (CodecTask* t = head_; t != nullptr; prev = t, t = t->next) {
    if (t->strand != nullptr && std::find(running_strands_.begin(), running_strands_.end(),
                                          t->strand) != running_strands_.end())
      continue;
    // A later task of a strand must not overtake an earlier one still queued.
    bool earlier_queued = false;
    for (CodecTask* e = head_; e != t && t->strand != nullptr; e = e->next)
      earlier_queued |= e->strand == t->strand;
    if (earlier_queued) continue;
    if (prev != nullptr) {
      prev->next = t->next;
    } else {
      head_ = t->next;
    }
    if (tail_ == t) tail_ = prev;
    t->next = nullptr;
    if (t->strand != nullptr) running_strands_.push_back(t->strand);
    return t;
  }
  return nullptr;
}

void HostCodecEngine::worker() {
  for (;;) {
    CodecTask* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this, &task] {
        task = take_runnable_locked();
        return task != nullptr || (stopping_ && head_ == nullptr);
      });
      if (task == nullptr) return;  // stopping and drained
    }
    const void* strand = task->strand;
    run_codec_task(task);
    // The strand is released before on_complete: the completion may submit the strand's next
    // task (and the task object may be reused by then).
    if (strand != nullptr) {
      std::lock_guard<std::mutex> lock(mu_);
      running_strands_.erase(std::find(running_strands_.begin(), running_strands_.end(), strand));
      cv_.notify_all();
    }
    task->on_complete(task);
  }
}

}  // namespace squeeze::plugin
