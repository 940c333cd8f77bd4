#include "plugin/pipeline/codec_engine.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>

#include "plugin/transport/socket.h"

namespace squeeze::plugin {

void run_codec_task(CodecTask* t) {
  uint64_t start = monotonic_ns();
  if (t->op == CodecTask::Op::kCompress) {
    t->stats = FrameStats{};
    t->status = t->encoder != nullptr
                    ? t->encoder->compress(t->params, t->src, t->src_bytes, t->dst, t->dst_capacity,
                                           &t->out_bytes, &t->stats)
                    : compress(t->params, t->src, t->src_bytes, t->dst, t->dst_capacity,
                               &t->out_bytes, &t->stats);
  } else {
    t->status =
        t->decoder != nullptr
            ? t->decoder->decompress(t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes)
            : decompress(t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes);
    if (t->status != Status::kOk) t->reject = last_reject_reason();
  }
  t->elapsed_ns = monotonic_ns() - start;
}

HostCodecEngine::HostCodecEngine(int threads) {
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
