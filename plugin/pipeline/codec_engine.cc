#include "plugin/pipeline/codec_engine.h"

#include <pthread.h>

#include <cstdio>

#include "plugin/transport/socket.h"

namespace squeeze::plugin {

void run_codec_task(CodecTask* t) {
  uint64_t start = monotonic_ns();
  if (t->op == CodecTask::Op::kCompress) {
    t->stats = FrameStats{};
    t->status = compress(t->params, t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes,
                         &t->stats);
  } else {
    t->status = decompress(t->src, t->src_bytes, t->dst, t->dst_capacity, &t->out_bytes);
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

void HostCodecEngine::worker() {
  for (;;) {
    CodecTask* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return head_ != nullptr || stopping_; });
      if (head_ == nullptr) return;  // stopping and drained
      task = head_;
      head_ = task->next;
      if (head_ == nullptr) tail_ = nullptr;
    }
    run_codec_task(task);
    task->on_complete(task);
  }
}

}  // namespace squeeze::plugin
