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

#include "plugin/classify/layout.h"
#include "squeeze/codec.h"

namespace squeeze::plugin {

struct CodecTask {
  enum class Op : uint8_t { kCompress, kDecompress };
  // Inputs.
  Op op = Op::kCompress;
  CodecParams params;
  // The send's row layout (params.layout points into it; apply_layout fills it).
  TaskLayout layout;
  // A connection's stream codec (frames that refer to earlier frames of the connection), or
  // NULL for self-contained frames.
  StreamEncoder* encoder = nullptr;
  StreamDecoder* decoder = nullptr;
  // Tasks with the same non-NULL strand run one at a time, in the order they were submitted (a
  // stream codec's frames depend on the frames before them).
  const void* strand = nullptr;
  // Compress with NCCL_SQUEEZE_VERIFY: decode the frame again (through `verifier`, the
  // sender's shadow of the receiver's stream decoder, when frames refer to a history) and
  // measure the largest error against the bound (err_over_bound).
  bool verify = false;
  StreamDecoder* verifier = nullptr;
  const void* src = nullptr;
  size_t src_bytes = 0;
  void* dst = nullptr;
  size_t dst_capacity = 0;
  // Results, valid in on_complete.
  Status status = Status::kOk;
  size_t out_bytes = 0;          // frame bytes (compress) or decoded bytes (decompress)
  FrameStats stats;              // compress only
  double err_over_bound = -1;    // compress with verify: max |x' - x| / its bound; -1: unchecked
  const char* reject = nullptr;  // decompress: the check that rejected the frame
  uint64_t elapsed_ns = 0;
  // Called once, from an engine thread, when the task is finished.
  void (*on_complete)(CodecTask* task) = nullptr;
  void* owner = nullptr;
  CodecTask* next = nullptr;  // intrusive queue link (no allocation per task)
};

// Runs the codec call a task describes, synchronously, and fills its results.
void run_codec_task(CodecTask* task);

// The largest |y - x| over its element's bound, for x the bytes compressed with p and y what
// the frame decoded to: the bound is squeeze::element_bounds' (abs, rel over the message or
// each table of a layout, local over the element's block or row record; record_log2 from the
// frame). Non-finite elements and the bytes after the last whole element must come back bit for
// bit. 0 when every element is exact; kErrNotWithin (a large finite number, so that it prints
// as JSON) for an element that had to be exact and is not. The lossless mode and non-float
// dtypes: 0 or kErrNotWithin (bit for bit).
constexpr double kErrNotWithin = 1e9;
double max_error_over_bound(const CodecParams& p, const void* x, const void* y, size_t bytes,
                            uint32_t record_log2 = 0);

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
  // The worker threads it was started with (0: submitters run the codec themselves).
  int workers() const { return workers_; }

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
  const int workers_;
  std::vector<const void*> running_strands_;  // at most one entry per worker
};

}  // namespace squeeze::plugin
