// The codec engine seam of the pipeline: a request hands a CodecTask to an engine and is told when
// it finished. HostCodecEngine runs tasks on a small process-wide thread pool (host buffers); a
// CUDA engine (batched kernels on the plugin's own stream, completion by polling events) plugs in
// behind the same interface for NCCL_PTR_CUDA buffers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "squeeze/codec.h"

namespace squeeze::plugin {

struct CodecTask {
  enum class Op : uint8_t { kCompress, kDecompress };
  // Inputs.
  Op op = Op::kCompress;
  CodecParams params;
  // A connection's stream codec (frames that refer to earlier frames of the connection), or
  // NULL for self-contained frames.
  StreamEncoder* encoder = nullptr;
  StreamDecoder* decoder = nullptr;
  // Tasks with the same non-NULL strand run one at a time, in the order they were submitted (a
  // stream codec's frames depend on the frames before them).
  const void* strand = nullptr;
  const void* src = nullptr;
  size_t src_bytes = 0;
  void* dst = nullptr;
  size_t dst_capacity = 0;
  // Results, valid in on_complete.
  Status status = Status::kOk;
  size_t out_bytes = 0;          // frame bytes (compress) or decoded bytes (decompress)
  FrameStats stats;              // compress only
  const char* reject = nullptr;  // decompress: the check that rejected the frame
  uint64_t elapsed_ns = 0;
  // Called once, from an engine thread, when the task is finished.
  void (*on_complete)(CodecTask* task) = nullptr;
  void* owner = nullptr;
  CodecTask* next = nullptr;  // intrusive queue link (no allocation per task)
};

// Runs the codec call a task describes, synchronously, and fills its results.
void run_codec_task(CodecTask* task);

class CodecEngine {
 public:
  virtual ~CodecEngine() = default;
  virtual const char* name() const = 0;
  // Never blocks on the codec; on_complete runs later (or inline when the engine is stopped, or
  // has no threads: then the submitting thread runs the codec itself).
  virtual void submit(CodecTask* task) = 0;
};

class HostCodecEngine final : public CodecEngine {
 public:
  explicit HostCodecEngine(int threads);
  ~HostCodecEngine() override;
  const char* name() const override { return "host"; }
  void submit(CodecTask* task) override;
  // Stops and joins the workers after draining the queue. Later submits run inline.
  void stop();

 private:
  void worker();
  // The first queued task whose strand is not running (unlinked from the queue), or NULL.
  CodecTask* take_runnable_locked();
  std::mutex mu_;
  std::condition_variable cv_;
  CodecTask* head_ = nullptr;
  CodecTask* tail_ = nullptr;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<const void*> running_strands_;  // at most one entry per worker
};

}  // namespace squeeze::plugin
