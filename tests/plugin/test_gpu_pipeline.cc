// The GPU-buffer pipeline's host-side logic (plugin/pipeline/cuda_pipeline.h) over real loopback
// connections, without a GPU: the plugin core runs with the CPU test device API
// (cuda_device_cpu.h), whose "device" memory is host memory and whose work runs only when a
// completion event is found done. Checks ordering, batching, back-pressure, error propagation and
// that a request is reported done only after its event completed.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "plugin/core.h"
#include "plugin/pipeline/cuda_device.h"
#include "plugin/pipeline/cuda_device_cpu.h"
#include "plugin/transport/wire.h"
#include "raw_peer.h"

namespace squeeze::plugin {
namespace {

using Clock = std::chrono::steady_clock;

std::mutex g_log_mu;
std::vector<std::string> g_log;

void capture_logger(ncclDebugLogLevel level, unsigned long, const char*, int, const char* fmt,
                    ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log.push_back(std::string(level == NCCL_LOG_WARN ? "WARN " : "INFO ") + buf);
  if (level == NCCL_LOG_WARN || std::getenv("SQUEEZE_TEST_VERBOSE")) {
    std::fprintf(stderr, "[plugin] %s\n", buf);
  }
}

bool log_contains(const std::string& a, const std::string& b = "") {
  std::lock_guard<std::mutex> lock(g_log_mu);
  for (const std::string& l : g_log) {
    if (l.find(a) != std::string::npos && (b.empty() || l.find(b) != std::string::npos))
      return true;
  }
  return false;
}

uint64_t test_seed() {
  const char* s = std::getenv("SQUEEZE_TEST_SEED");
  uint64_t seed = s ? std::strtoull(s, nullptr, 0)
                    : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  std::printf("random seed %llu (rerun with SQUEEZE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

constexpr int kTag = 7;  // the "sender's rank" NCCL passes as the tag

// One message of a run: size and which side's buffer is "device" memory.
struct Msg {
  size_t bytes = 0;
  bool send_gpu = true;
  bool recv_gpu = true;
};

class GpuPipeline : public ::testing::Test {
 public:
  void SetUp() override {
    env({{"NCCL_SQUEEZE_STATS", "0"}});
    core::set_test_device_api(&api_);
  }
  void TearDown() override {
    close();
    core::set_test_device_api(nullptr);
    for (auto it = saved_env_.rbegin(); it != saved_env_.rend(); ++it) {
      if (it->had) {
        setenv(it->name.c_str(), it->value.c_str(), 1);
      } else {
        unsetenv(it->name.c_str());
      }
    }
    EXPECT_EQ(api_.control().lanes_alive.load(), 0) << "a lane outlived its connection";
  }

  void env(std::initializer_list<std::pair<const char*, std::string>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_env_.push_back({name, old != nullptr, old ? old : ""});
      setenv(name, value.c_str(), 1);
    }
  }

  CpuDeviceControl& control() { return api_.control(); }

  // init + p2p connect-time hint + listen/connect/accept on device 0, then registrations:
  // a host region (only with `host_region`, registered first) and a "device" region.
  void open(size_t arena_bytes, bool host_region = false) {
    {
      std::lock_guard<std::mutex> lock(g_log_mu);
      g_log.clear();
    }
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    ASSERT_EQ(core::init(&ctx_, 0x77, &cfg, capture_logger, nullptr), ncclSuccess);
    ncclNetAttr_v11_t attr;
    std::memset(&attr, 0xff, sizeof(attr));
    attr.op = 0x7C0;  // NCCL's p2p connection hint
    ASSERT_EQ(core::set_net_attr(ctx_, &attr), ncclSuccess);
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
    ASSERT_EQ(core::listen(ctx_, 0, handle, &listen_), ncclSuccess);
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (send_ == nullptr || recv_ == nullptr) {
      if (send_ == nullptr) {
        ASSERT_EQ(core::connect(ctx_, 0, handle, &send_), ncclSuccess);
      }
      if (recv_ == nullptr) {
        ASSERT_EQ(core::accept(listen_, &recv_), ncclSuccess);
      }
      ASSERT_LT(Clock::now(), deadline) << "connect timed out";
    }
    ASSERT_EQ(core::close_listen(listen_), ncclSuccess);
    listen_ = nullptr;
    send_host_.assign(arena_bytes, 0);
    recv_host_.assign(arena_bytes, 0);
    send_dev_.assign(arena_bytes, 0);
    recv_dev_.assign(arena_bytes, 0);
    if (host_region) {
      ASSERT_EQ(core::reg_mr(send_, send_host_.data(), arena_bytes, NCCL_PTR_HOST, &send_host_mr_),
                ncclSuccess);
      ASSERT_EQ(core::reg_mr(recv_, recv_host_.data(), arena_bytes, NCCL_PTR_HOST, &recv_host_mr_),
                ncclSuccess);
    }
    ASSERT_EQ(core::reg_mr(send_, send_dev_.data(), arena_bytes, NCCL_PTR_CUDA, &send_dev_mr_),
              ncclSuccess);
    ASSERT_EQ(core::reg_mr(recv_, recv_dev_.data(), arena_bytes, NCCL_PTR_CUDA, &recv_dev_mr_),
              ncclSuccess);
  }

  void close() {
    if (send_ != nullptr) {
      if (send_dev_mr_) {
        EXPECT_EQ(core::dereg_mr(send_, send_dev_mr_), ncclSuccess);
      }
      if (send_host_mr_) {
        EXPECT_EQ(core::dereg_mr(send_, send_host_mr_), ncclSuccess);
      }
      EXPECT_EQ(core::close_send(send_), ncclSuccess);
    }
    if (recv_ != nullptr) {
      if (recv_dev_mr_) {
        EXPECT_EQ(core::dereg_mr(recv_, recv_dev_mr_), ncclSuccess);
      }
      if (recv_host_mr_) {
        EXPECT_EQ(core::dereg_mr(recv_, recv_host_mr_), ncclSuccess);
      }
      EXPECT_EQ(core::close_recv(recv_), ncclSuccess);
    }
    if (listen_ != nullptr) {
      EXPECT_EQ(core::close_listen(listen_), ncclSuccess);
    }
    send_ = recv_ = listen_ = nullptr;
    send_dev_mr_ = recv_dev_mr_ = send_host_mr_ = recv_host_mr_ = nullptr;
    if (ctx_ != nullptr) {
      EXPECT_EQ(core::finalize(ctx_), ncclSuccess);
    }
    ctx_ = nullptr;
  }

  // Message k's slice of the arenas: slot k % slots of `slot_bytes`.
  char* send_buf(const Msg& m, size_t offset) {
    return (m.send_gpu ? send_dev_ : send_host_).data() + offset;
  }
  char* recv_buf(const Msg& m, size_t offset) {
    return (m.recv_gpu ? recv_dev_ : recv_host_).data() + offset;
  }
  void* send_mr(const Msg& m) { return m.send_gpu ? send_dev_mr_ : send_host_mr_; }
  void* recv_mr(const Msg& m) { return m.recv_gpu ? recv_dev_mr_ : recv_host_mr_; }

  ncclResult_t isend(const Msg& m, size_t offset, void** req) {
    return core::isend(send_, send_buf(m, offset), m.bytes, kTag, send_mr(m), nullptr, req);
  }
  ncclResult_t irecv(const Msg& m, size_t offset, size_t capacity, void** req) {
    void* data = recv_buf(m, offset);
    void* mh = recv_mr(m);
    int tag = kTag;
    return core::irecv(recv_, 1, &data, &capacity, &tag, &mh, nullptr, req);
  }

  CpuDeviceApi api_;
  Context* ctx_ = nullptr;
  void* listen_ = nullptr;
  void* send_ = nullptr;
  void* recv_ = nullptr;
  void* send_dev_mr_ = nullptr;
  void* recv_dev_mr_ = nullptr;
  void* send_host_mr_ = nullptr;
  void* recv_host_mr_ = nullptr;
  std::vector<char> send_host_, recv_host_, send_dev_, recv_dev_;

 private:
  struct Saved {
    std::string name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_env_;
};

// Fills with float32 values in [-1, 1) (and the tail bytes of an odd size).
void fill_floats(char* p, size_t bytes, std::mt19937_64* rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  size_t k = 0;
  for (; k + 4 <= bytes; k += 4) {
    float v = dist(*rng);
    std::memcpy(p + k, &v, 4);
  }
  for (; k < bytes; ++k) p[k] = static_cast<char>((*rng)() & 0xff);
}

// Every float within `bound` (checked in double); trailing bytes exact. bound 0: bit-exact.
::testing::AssertionResult within(const char* sent, const char* got, size_t bytes, double bound) {
  if (bound == 0.0) {
    for (size_t k = 0; k < bytes; ++k) {
      if (sent[k] != got[k]) return ::testing::AssertionFailure() << "byte " << k << " differs";
    }
    return ::testing::AssertionSuccess();
  }
  size_t k = 0;
  for (; k + 4 <= bytes; k += 4) {
    float a, b;
    std::memcpy(&a, sent + k, 4);
    std::memcpy(&b, got + k, 4);
    double err = std::fabs(static_cast<double>(a) - static_cast<double>(b));
    if (!(err <= bound)) {
      return ::testing::AssertionFailure() << "element " << k / 4 << ": sent " << a << " got " << b
                                           << " error " << err << " > bound " << bound;
    }
  }
  for (; k < bytes; ++k) {
    if (sent[k] != got[k]) return ::testing::AssertionFailure() << "tail byte " << k << " differs";
  }
  return ::testing::AssertionSuccess();
}

// Tests a send and a receive, as NCCL's proxy does, until both are done (before the deadline);
// the receive's reported size into *recv_size when given. Call in ASSERT_NO_FATAL_FAILURE.
void test_until_both_done(void* sreq, void* rreq, Clock::time_point deadline,
                          int* recv_size = nullptr) {
  int sd = 0, rd = 0;
  while (!sd || !rd) {
    if (!sd) {
      ASSERT_EQ(core::test(sreq, &sd, nullptr), ncclSuccess);
    }
    if (!rd) {
      ASSERT_EQ(core::test(rreq, &rd, recv_size), ncclSuccess);
    }
    ASSERT_LT(Clock::now(), deadline);
  }
}

// Runs the messages through as NCCL's proxy does: up to `depth` posted on each side, test()
// only on the oldest, NULL requests retried. Checks every message against `bound` (0: exact) and
// the reported size. slot_bytes: the arena slice of one message.
void run_messages(GpuPipeline* t, const std::vector<Msg>& msgs, size_t slot_bytes, int depth,
                  double bound, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const size_t slots = t->send_dev_.size() / slot_bytes;
  ASSERT_GE(slots, static_cast<size_t>(depth));
  std::vector<std::vector<char>> sent(msgs.size());
  std::vector<void*> sreq(msgs.size(), nullptr), rreq(msgs.size(), nullptr);
  size_t posted_s = 0, posted_r = 0, done_s = 0, done_r = 0;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (done_r < msgs.size() || done_s < msgs.size()) {
    ASSERT_LT(Clock::now(), deadline) << "stuck: sent " << done_s << " received " << done_r;
    if (posted_r < msgs.size() && posted_r < done_r + static_cast<size_t>(depth)) {
      const Msg& m = msgs[posted_r];
      size_t off = (posted_r % slots) * slot_bytes;
      std::memset(t->recv_buf(m, off), 0x5a, slot_bytes);
      ASSERT_EQ(t->irecv(m, off, slot_bytes, &rreq[posted_r]), ncclSuccess);
      if (rreq[posted_r] != nullptr) ++posted_r;
    }
    if (posted_s < msgs.size() && posted_s < done_s + static_cast<size_t>(depth)) {
      const Msg& m = msgs[posted_s];
      size_t off = (posted_s % slots) * slot_bytes;
      if (sent[posted_s].empty()) {
        sent[posted_s].resize(m.bytes + 1);
        fill_floats(sent[posted_s].data(), m.bytes, &rng);
        std::memcpy(t->send_buf(m, off), sent[posted_s].data(), m.bytes);
      }
      ASSERT_EQ(t->isend(m, off, &sreq[posted_s]), ncclSuccess);
      if (sreq[posted_s] != nullptr) ++posted_s;
    }
    if (done_s < posted_s) {
      int done = 0, size = -1;
      ASSERT_EQ(core::test(sreq[done_s], &done, &size), ncclSuccess) << "send " << done_s;
      if (done) {
        // NCCL may overwrite the buffer now: the pipeline must not read it any more.
        const Msg& m = msgs[done_s];
        std::memset(t->send_buf(m, (done_s % slots) * slot_bytes), 0x33, m.bytes);
        ++done_s;
      }
    }
    if (done_r < posted_r) {
      int done = 0, size = -1;
      ASSERT_EQ(core::test(rreq[done_r], &done, &size), ncclSuccess) << "recv " << done_r;
      if (done) {
        const Msg& m = msgs[done_r];
        EXPECT_EQ(size, static_cast<int>(m.bytes)) << "message " << done_r;
        EXPECT_TRUE(within(sent[done_r].data(), t->recv_buf(m, (done_r % slots) * slot_bytes),
                           m.bytes, bound))
            << "message " << done_r << " of " << m.bytes << " bytes";
        ++done_r;
      }
    }
  }
}

TEST_F(GpuPipeline, PropertiesAdvertiseCudaAndFlushIsComplete) {
  open(1 << 20);
  ncclNetProperties_v11_t props{};
  ASSERT_EQ(core::get_properties(0, &props), ncclSuccess);
  EXPECT_EQ(props.ptrSupport, NCCL_PTR_HOST | NCCL_PTR_CUDA);
  EXPECT_TRUE(log_contains("GPU buffers on", "HOST|CUDA"));
  EXPECT_TRUE(log_contains("GPU buffers on device 0"));
  void* req = reinterpret_cast<void*>(0x1);
  void* data = recv_dev_.data();
  int size = 4096;
  EXPECT_EQ(core::iflush(recv_, 1, &data, &size, &recv_dev_mr_, &req), ncclSuccess);
  EXPECT_EQ(req, nullptr);
  // One lane per connection, created at the first device registration.
  EXPECT_EQ(control().lanes_created.load(), 2u);
}

TEST_F(GpuPipeline, WithoutDeviceApiOnlyHostBuffers) {
  core::set_test_device_api(nullptr);
  ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
  ASSERT_EQ(core::init(&ctx_, 0x78, &cfg, capture_logger, nullptr), ncclSuccess);
  ncclNetProperties_v11_t props{};
  ASSERT_EQ(core::get_properties(0, &props), ncclSuccess);
#ifndef SQUEEZE_PLUGIN_CUDA
  EXPECT_EQ(props.ptrSupport, NCCL_PTR_HOST);
  EXPECT_TRUE(log_contains("GPU buffers off", "built without CUDA"));
#else
  // Built with CUDA: depends on the machine, but the log says which and why.
  EXPECT_TRUE(log_contains("GPU buffers o"));
#endif
}

TEST_F(GpuPipeline, PassthroughIsBitExactAndInOrder) {
  env({{"NCCL_SQUEEZE_ENABLE", "0"}});
  open(8 << 20);
  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<Msg> msgs;
  for (size_t s : {size_t{0}, size_t{1}, size_t{3}, size_t{4096}, size_t{256 << 10}}) {
    msgs.push_back({s});
  }
  for (int k = 0; k < 60; ++k) msgs.push_back({static_cast<size_t>(rng() % (256 << 10))});
  run_messages(this, msgs, 256 << 10, 16, 0.0, seed);
  EXPECT_EQ(control().compress_batches.load(), 0u);
  EXPECT_GT(control().copies_to_host.load(), 0u);
  EXPECT_GT(control().copies_to_device.load(), 0u);
}

TEST_F(GpuPipeline, LossyWithinBoundAndBatched) {
  env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
       {"NCCL_SQUEEZE_MODE", "abs"},
       {"NCCL_SQUEEZE_BOUND", "1e-3"}});
  constexpr size_t kSlot = kGpuMaxChunkBytes + 4096;
  open(16 * kSlot);
  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<Msg> msgs;
  for (int k = 0; k < 96; ++k) msgs.push_back({4096 + static_cast<size_t>(rng() % (120 << 10))});
  msgs.push_back({kGpuMaxChunkBytes + 4});  // above the GPU codec's chunk: passes through
  // A GPU batch takes many proxy loop turns; sends posted meanwhile form the next batch.
  control().queries_per_event = 4;
  run_messages(this, msgs, kSlot, 16, 1e-3, seed);
  control().queries_per_event = 1;
  const uint64_t chunks = control().compressed_chunks.load();
  EXPECT_EQ(chunks, 96u) << "every message up to 1 MiB compressed on the device, no other";
  EXPECT_LT(control().compress_batches.load(), chunks) << "no batching happened";
  EXPECT_GE(control().largest_compress_batch.load(), 2u);
  EXPECT_EQ(control().decompressed_frames.load(), 96u);
}

// The `lossless` rule on GPU buffers: the CUDA encoder writes planes frames (or raw ones), the
// receiver's device decoder restores every byte. Under `auto` the rule's gauge has no device
// measurement, and GPU buffers pass through.
TEST_F(GpuPipeline, LosslessRuleCodesOnTheDeviceAutoPassesThrough) {
  for (const char* rule : {"lossless", "auto"}) {
    SCOPED_TRACE(rule);
    env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
         {"NCCL_SQUEEZE_POLICY", std::string("p2p.f32=") + rule}});
    constexpr size_t kSlot = (128 << 10) + 4096;
    open(16 * kSlot);
    const uint64_t chunks_before = control().compressed_chunks.load();
    const uint64_t frames_before = control().decompressed_frames.load();
    uint64_t seed = test_seed();
    std::mt19937_64 rng(seed);
    std::vector<Msg> msgs;
    // Floats in [-1, 1): their exponent plane codes smaller, so every frame is a planes frame
    // smaller than the message, sent and decoded as a frame.
    for (int k = 0; k < 40; ++k) msgs.push_back({4096 + static_cast<size_t>(rng() % (124 << 10))});
    run_messages(this, msgs, kSlot, 8, 0.0, seed);
    const bool coded = std::string(rule) == "lossless";
    EXPECT_EQ(control().compressed_chunks.load() - chunks_before, coded ? 40u : 0u);
    EXPECT_EQ(control().decompressed_frames.load() - frames_before, coded ? 40u : 0u);
    close();
  }
}

TEST_F(GpuPipeline, BatchesEveryQueuedSend) {
  env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
       {"NCCL_SQUEEZE_MODE", "abs"},
       {"NCCL_SQUEEZE_BOUND", "1e-3"}});
  open(4 << 20);
  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  constexpr int kMsgs = 16;
  constexpr size_t kBytes = 64 << 10;
  std::vector<std::vector<char>> sent(kMsgs, std::vector<char>(kBytes));
  std::vector<void*> sreq(kMsgs), rreq(kMsgs);
  for (int k = 0; k < kMsgs; ++k) {
    fill_floats(sent[k].data(), kBytes, &rng);
    std::memcpy(send_dev_.data() + k * kBytes, sent[k].data(), kBytes);
    Msg m{kBytes};
    ASSERT_EQ(irecv(m, k * kBytes, kBytes, &rreq[k]), ncclSuccess);
    ASSERT_NE(rreq[k], nullptr);
    ASSERT_EQ(isend(m, k * kBytes, &sreq[k]), ncclSuccess);
    ASSERT_NE(sreq[k], nullptr);
  }
  // The first test() launches one batch over all 16 queued sends.
  for (int k = 0; k < kMsgs;) {
    int done = 0;
    ASSERT_EQ(core::test(sreq[k], &done, nullptr), ncclSuccess);
    if (done) ++k;
  }
  EXPECT_EQ(control().compress_batches.load(), 1u);
  EXPECT_EQ(control().largest_compress_batch.load(), static_cast<uint64_t>(kMsgs));
  // Let every frame land in pinned staging before the receive side is first tested: then one
  // decompress batch takes them all.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int k = 0; k < kMsgs;) {
    int done = 0, size = 0;
    ASSERT_EQ(core::test(rreq[k], &done, &size), ncclSuccess);
    if (!done) continue;
    EXPECT_EQ(size, static_cast<int>(kBytes));
    EXPECT_TRUE(within(sent[k].data(), recv_dev_.data() + k * kBytes, kBytes, 1e-3));
    ++k;
  }
  EXPECT_GE(control().largest_decompress_batch.load(), 2u);
  EXPECT_EQ(control().decompressed_frames.load(), static_cast<uint64_t>(kMsgs));
}

// test() must not report a request done before its event completed: with events held, the
// requests stay pending however often they are tested, and the receive buffer stays untouched.
TEST_F(GpuPipeline, DoneOnlyAfterTheEventCompleted) {
  for (bool lossy : {false, true}) {
    SCOPED_TRACE(lossy ? "lossy" : "passthrough");
    if (lossy) {
      env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
           {"NCCL_SQUEEZE_MODE", "abs"},
           {"NCCL_SQUEEZE_BOUND", "1e-3"}});
    }
    open(1 << 20);
    control().reset_counters();
    constexpr size_t kBytes = 32 << 10;
    std::mt19937_64 rng(lossy ? 2 : 1);
    std::vector<char> sent(kBytes);
    fill_floats(sent.data(), kBytes, &rng);
    std::memcpy(send_dev_.data(), sent.data(), kBytes);
    std::memset(recv_dev_.data(), 0x5a, kBytes);
    Msg m{kBytes};
    void* sreq = nullptr;
    void* rreq = nullptr;
    ASSERT_EQ(irecv(m, 0, kBytes, &rreq), ncclSuccess);
    control().hold = true;
    ASSERT_EQ(isend(m, 0, &sreq), ncclSuccess);
    ASSERT_NE(sreq, nullptr);
    int done = 0;
    for (int k = 0; k < 200; ++k) {
      ASSERT_EQ(core::test(sreq, &done, nullptr), ncclSuccess);
      ASSERT_EQ(done, 0) << "send done before the GPU read NCCL's buffer";
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    control().hold = false;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!done) {
      ASSERT_EQ(core::test(sreq, &done, nullptr), ncclSuccess);
      ASSERT_LT(Clock::now(), deadline);
    }
    // The bytes reach the receiver's pinned staging; its copy (and decode) waits for the event.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    control().hold = true;
    for (int k = 0; k < 200; ++k) {
      int size = 0;
      ASSERT_EQ(core::test(rreq, &done, &size), ncclSuccess);
      ASSERT_EQ(done, 0) << "receive done before its event completed";
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(static_cast<unsigned char>(recv_dev_[0]), 0x5a) << "written before the event";
    control().hold = false;
    control().queries_per_event = 3;  // several polls per event from here on
    int size = 0;
    while (!done) {
      ASSERT_EQ(core::test(rreq, &done, &size), ncclSuccess);
      ASSERT_LT(Clock::now(), deadline);
    }
    control().queries_per_event = 1;
    EXPECT_EQ(size, static_cast<int>(kBytes));
    EXPECT_TRUE(within(sent.data(), recv_dev_.data(), kBytes, lossy ? 1e-3 : 0.0));
    EXPECT_EQ(control().compressed_chunks.load(), lossy ? 1u : 0u);
    close();
  }
}

TEST_F(GpuPipeline, PinnedStagingFullIsBackPressure) {
  env({{"NCCL_SQUEEZE_ENABLE", "0"}, {"NCCL_SQUEEZE_STAGING_MB", "1"}});
  open(8 << 20);
  constexpr size_t kBytes = 300 << 10;  // three fit in 1 MiB of staging, the fourth does not
  Msg m{kBytes};
  std::vector<void*> reqs;
  control().hold = true;
  for (int k = 0; k < 4; ++k) {
    void* req = nullptr;
    ASSERT_EQ(isend(m, k * kBytes, &req), ncclSuccess);
    if (req == nullptr) break;
    reqs.push_back(req);
  }
  EXPECT_EQ(reqs.size(), 3u) << "isend must return no request while the staging is full";
  control().hold = false;
  // Everything flows once the copies complete; the run below checks the bytes.
  std::vector<void*> rreqs(reqs.size());
  for (size_t k = 0; k < reqs.size(); ++k) {
    ASSERT_EQ(irecv(m, k * kBytes, kBytes, &rreqs[k]), ncclSuccess);
    ASSERT_NE(rreqs[k], nullptr);
  }
  auto deadline = Clock::now() + std::chrono::seconds(20);
  for (size_t k = 0; k < reqs.size(); ++k) {
    ASSERT_NO_FATAL_FAILURE(test_until_both_done(reqs[k], rreqs[k], deadline));
    EXPECT_EQ(std::memcmp(send_dev_.data() + k * kBytes, recv_dev_.data() + k * kBytes, kBytes), 0);
  }
  void* req = nullptr;
  ASSERT_EQ(isend(m, 0, &req), ncclSuccess);
  EXPECT_NE(req, nullptr) << "staging must be free again";
  void* rreq = nullptr;
  ASSERT_EQ(irecv(m, 0, kBytes, &rreq), ncclSuccess);
  ASSERT_NO_FATAL_FAILURE(test_until_both_done(req, rreq, deadline));
}

TEST_F(GpuPipeline, HostAndDeviceBuffersMixInOrder) {
  env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
       {"NCCL_SQUEEZE_MODE", "abs"},
       {"NCCL_SQUEEZE_BOUND", "1e-3"}});
  // Registration order: host first (LL position: passes through), device last (SIMPLE: lossy).
  open(4 << 20, /*host_region=*/true);
  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::vector<Msg> msgs;
  for (int k = 0; k < 48; ++k) {
    Msg m{8192 + static_cast<size_t>(rng() % (100 << 10)), (rng() & 1) != 0, (rng() & 1) != 0};
    msgs.push_back(m);
  }
  // Host-side sends are LL-position buffers (exact), device ones lossy: check against the bound.
  run_messages(this, msgs, 128 << 10, 8, 1e-3, seed);
  uint64_t device_sends = 0;
  for (const Msg& m : msgs) device_sends += m.send_gpu ? 1 : 0;
  EXPECT_EQ(control().compressed_chunks.load(), device_sends);
}

TEST_F(GpuPipeline, DeviceDecodeErrorNamesThePeer) {
  env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
       {"NCCL_SQUEEZE_MODE", "abs"},
       {"NCCL_SQUEEZE_BOUND", "1e-3"}});
  open(1 << 20);
  Msg m{64 << 10};
  std::mt19937_64 rng(3);
  fill_floats(send_dev_.data(), m.bytes, &rng);
  void* sreq = nullptr;
  void* rreq = nullptr;
  ASSERT_EQ(irecv(m, 0, m.bytes, &rreq), ncclSuccess);
  ASSERT_EQ(isend(m, 0, &sreq), ncclSuccess);
  control().corrupt_next_decode = static_cast<int>(Status::kCorruptFrame);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  int sd = 0;
  ncclResult_t res = ncclSuccess;
  for (;;) {
    if (!sd) {
      ASSERT_EQ(core::test(sreq, &sd, nullptr), ncclSuccess);
    }
    int rd = 0;
    res = core::test(rreq, &rd, nullptr);
    ASSERT_EQ(rd, 0) << "a corrupt frame must not complete";
    if (res != ncclSuccess) break;
    ASSERT_LT(Clock::now(), deadline);
  }
  EXPECT_EQ(res, ncclSystemError);
  EXPECT_TRUE(log_contains("corrupt frame in message 0", "rank 7"));
  EXPECT_TRUE(log_contains("decoded on GPU 0", status_string(Status::kCorruptFrame)));
  // Later posts fail with the same error.
  void* again = nullptr;
  EXPECT_EQ(irecv(m, 0, m.bytes, &again), ncclSystemError);
}

TEST_F(GpuPipeline, CudaErrorBecomesAnNcclError) {
  struct Case {
    CpuDeviceControl::Fail fail;
    bool lossy;
    const char* call;
  };
  for (const Case& c :
       {Case{CpuDeviceControl::Fail::kCopyToHost, false, "cudaMemcpyAsync(device to host)"},
        Case{CpuDeviceControl::Fail::kCompress, true, "compress_batch"},
        Case{CpuDeviceControl::Fail::kRecord, false, "cudaEventRecord"}}) {
    SCOPED_TRACE(c.call);
    if (c.lossy) {
      env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
           {"NCCL_SQUEEZE_MODE", "abs"},
           {"NCCL_SQUEEZE_BOUND", "1e-3"}});
    }
    open(1 << 20);
    Msg m{64 << 10};
    void* sreq = nullptr;
    control().fail_next = static_cast<int>(c.fail);
    ASSERT_EQ(isend(m, 0, &sreq), ncclSuccess);
    ASSERT_NE(sreq, nullptr);
    int done = 0;
    EXPECT_EQ(core::test(sreq, &done, nullptr), ncclUnhandledCudaError);
    EXPECT_EQ(done, 0);
    EXPECT_TRUE(log_contains(c.call, "injected failure"));
    EXPECT_TRUE(log_contains("GPU pipeline", "rank 7"));
    close();
  }
}

TEST_F(GpuPipeline, PassthroughAboveTheCodecChunkLimit) {
  // The device test's sizes: one message above the GPU codec's 1 MiB chunk, 8 in flight.
  env({{"NCCL_SQUEEZE_ENABLE", "0"}});
  open(32 << 20);
  uint64_t seed = test_seed();
  std::vector<Msg> msgs;
  const size_t sizes[] = {0, 3, 4096, 32 << 10, (128 << 10) + 6, 512 << 10, (1 << 20) + 4, 77777};
  for (int k = 0; k < 200; ++k) msgs.push_back({sizes[k % 8]});
  run_messages(this, msgs, (1 << 20) + 4, 8, 0.0, seed);
}

// NCCL sends registered user buffers in steps of up to 1 GiB. A passthrough message above half
// the pinned staging streams through it piece by piece, on both sides, with any socket and thread
// layout (a helper thread that owns several sockets takes several chunks of one message), with
// slow device events, and between a GPU and a host buffer in either direction (the wire does not
// change). Every byte arrives; the copies went piecewise.
TEST_F(GpuPipeline, PassthroughAboveTheStagingStreamsThroughIt) {
  const uint64_t seed = test_seed();
  constexpr size_t kSlot = (5 << 20) + 64;
  const size_t sizes[] = {(5 << 20) + 12, 600 << 10, 4096,      3 << 20,      0,
                          (1 << 20) + 4,  513 << 10, 100 << 10, (5 << 19) + 3};
  struct Layout {
    const char* sockets;
    int queries_per_event;
  };
  for (const Layout& layout : {Layout{"4", 1}, Layout{"3", 3}, Layout{"1", 1}, Layout{"5", 2}}) {
    SCOPED_TRACE(std::string("sockets ") + layout.sockets);
    env({{"NCCL_SQUEEZE_ENABLE", "0"},
         {"NCCL_SQUEEZE_STAGING_MB", "1"},
         {"NCCL_SQUEEZE_SOCKETS", layout.sockets}});
    open(4 * kSlot, /*host_region=*/true);
    control().reset_counters();
    control().queries_per_event = layout.queries_per_event;
    std::vector<Msg> msgs;
    size_t streamed_bytes = 0;
    for (int k = 0; k < 27; ++k) {
      Msg m{sizes[k % 9]};
      // Every third round one side's buffer is host memory.
      m.send_gpu = k / 9 != 1;
      m.recv_gpu = k / 9 != 2;
      if (m.bytes > (512 << 10) && m.send_gpu) streamed_bytes += m.bytes;
      msgs.push_back(m);
    }
    run_messages(this, msgs, kSlot, 4, 0.0, seed);
    control().queries_per_event = 1;
    // Pieces of at most half the 512 KiB window (two slots a consumer): far more copies than
    // messages.
    EXPECT_GE(control().copies_to_host.load(), streamed_bytes / (256 << 10));
    EXPECT_GE(control().copies_to_device.load(), 20u);
    close();
  }
}

// A device error in the middle of a stream fails the connection with the call's name and the
// peer, on either side, and nothing waits for the pieces that will never come.
TEST_F(GpuPipeline, DeviceErrorInAStreamFailsTheConnection) {
  for (bool on_send : {true, false}) {
    SCOPED_TRACE(on_send ? "send side" : "receive side");
    env({{"NCCL_SQUEEZE_ENABLE", "0"}, {"NCCL_SQUEEZE_STAGING_MB", "1"}});
    open(16 << 20);
    Msg m{(12 << 20) + 8};
    std::mt19937_64 rng(9);
    fill_floats(send_dev_.data(), m.bytes, &rng);
    void* sreq = nullptr;
    void* rreq = nullptr;
    ASSERT_EQ(irecv(m, 0, m.bytes, &rreq), ncclSuccess);
    ASSERT_NE(rreq, nullptr);
    ASSERT_EQ(isend(m, 0, &sreq), ncclSuccess);
    ASSERT_NE(sreq, nullptr);
    // Let a few pieces through, then fail the next copy on the chosen side.
    int sd = 0, rd = 0;
    for (int k = 0; k < 5; ++k) {
      ASSERT_EQ(core::test(sreq, &sd, nullptr), ncclSuccess);
      ASSERT_EQ(core::test(rreq, &rd, nullptr), ncclSuccess);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(rd, 0) << "the message must still be streaming";
    const auto fail =
        on_send ? CpuDeviceControl::Fail::kCopyToHost : CpuDeviceControl::Fail::kCopyToDevice;
    control().fail_next = static_cast<int>(fail);
    void* failing = on_send ? sreq : rreq;
    void* other = on_send ? rreq : sreq;
    ncclResult_t res = ncclSuccess;
    auto deadline = Clock::now() + std::chrono::seconds(20);
    int done = 0;
    while (res == ncclSuccess) {
      res = core::test(failing, &done, nullptr);
      int other_done = 0;
      // The other side is tested too, as NCCL's proxy does (inline progress moves its bytes).
      (void)core::test(other, &other_done, nullptr);
      ASSERT_LT(Clock::now(), deadline) << "the injected failure never surfaced";
    }
    EXPECT_EQ(res, ncclUnhandledCudaError);
    EXPECT_EQ(done, 0);
    EXPECT_TRUE(log_contains("streamed message", "injected failure"));
    EXPECT_TRUE(log_contains("GPU pipeline", "rank 7"));
    control().fail_next = 0;
    close();
  }
}

// A sender with host buffers (NCCL_NET_GDR_READ=0, or large NCCL_BUFFSIZE steps) frames messages
// above the GPU decoder's 1 MiB chunk; a GPU receiver decodes those on the CPU into pinned
// staging and copies them to the device: every element within the bound, the GPU decoder unused.
TEST_F(GpuPipeline, HostSenderFramesAboveTheGpuChunkAreDecodedOnTheCpu) {
  env({{"NCCL_SQUEEZE_ASSUME_DTYPE", "f32"},
       {"NCCL_SQUEEZE_MODE", "abs"},
       {"NCCL_SQUEEZE_BOUND", "1e-3"}});
  open(4 << 20, /*host_region=*/false);
  // The host region is registered after a first transfer: a "user buffer" (SIMPLE, lossy), as
  // opposed to NCCL's FIFO registrations at connect.
  Msg warm{4096};
  void* s0 = nullptr;
  void* r0 = nullptr;
  ASSERT_EQ(irecv(warm, 0, 4096, &r0), ncclSuccess);
  ASSERT_EQ(isend(warm, 0, &s0), ncclSuccess);
  auto deadline = Clock::now() + std::chrono::seconds(20);
  ASSERT_NO_FATAL_FAILURE(test_until_both_done(s0, r0, deadline));
  ASSERT_EQ(
      core::reg_mr(send_, send_host_.data(), send_host_.size(), NCCL_PTR_HOST, &send_host_mr_),
      ncclSuccess);
  std::mt19937_64 rng(test_seed());
  for (const size_t bytes : {kGpuMaxChunkBytes + (64 << 10) + 4, size_t{3} << 20}) {
    SCOPED_TRACE(bytes);
    Msg m{bytes, /*send_gpu=*/false, /*recv_gpu=*/true};
    fill_floats(send_host_.data(), m.bytes, &rng);
    std::vector<char> sent(send_host_.begin(), send_host_.begin() + static_cast<long>(m.bytes));
    std::memset(recv_dev_.data(), 0x5a, m.bytes);
    control().reset_counters();
    void* sreq = nullptr;
    void* rreq = nullptr;
    ASSERT_EQ(irecv(m, 0, m.bytes, &rreq), ncclSuccess);
    ASSERT_EQ(isend(m, 0, &sreq), ncclSuccess);
    ASSERT_NE(sreq, nullptr);
    ASSERT_NE(rreq, nullptr);
    int size = -1;
    ASSERT_NO_FATAL_FAILURE(test_until_both_done(sreq, rreq, deadline, &size));
    EXPECT_EQ(size, static_cast<int>(m.bytes));
    EXPECT_TRUE(within(sent.data(), recv_dev_.data(), m.bytes, 1e-3));
    EXPECT_FALSE(within(sent.data(), recv_dev_.data(), m.bytes, 0.0)) << "not compressed";
    EXPECT_EQ(control().decompress_batches.load(), 0u) << "the GPU decoder took a large frame";
    EXPECT_EQ(control().copies_to_device.load(), 1u);
  }
}

// What a GPU receiver refuses, with a message and nothing written: a frame whose CPU decode fails
// (a hostile or broken sender), and one that cannot fit the staging with what it decodes to.
TEST_F(GpuPipeline, ReceiverRefusesFramesItCannotDecodeForTheGpu) {
  struct Case {
    const char* what;
    uint64_t original;
    uint64_t frame;
    ncclResult_t error;
    const char* log;
  };
  for (const Case& c :
       {Case{"corrupt", 3 << 19, 64 << 10, ncclSystemError, "decoded on the CPU for a GPU buffer"},
        Case{"too large for the staging", (2 << 20) - 4096, 200 << 10, ncclInvalidUsage,
             "does not fit, with what it decodes to"}}) {
    SCOPED_TRACE(c.what);
    env({{"NCCL_SQUEEZE_STAGING_MB", "2"}});
    {
      std::lock_guard<std::mutex> lock(g_log_mu);
      g_log.clear();
    }
    ncclNetCommConfig_v11_t cfg{NCCL_NET_TRAFFIC_CLASS_UNDEF};
    ASSERT_EQ(core::init(&ctx_, 0x77, &cfg, capture_logger, nullptr), ncclSuccess);
    char handle_bytes[NCCL_NET_HANDLE_MAXSIZE] = {};
    ASSERT_EQ(core::listen(ctx_, 0, handle_bytes, &listen_), ncclSuccess);
    wire::Handle handle{};
    std::memcpy(&handle, handle_bytes, sizeof(handle));
    sqtest::RawSender raw;
    ASSERT_TRUE(raw.open(handle));
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (recv_ == nullptr) {
      ASSERT_EQ(core::accept(listen_, &recv_), ncclSuccess);
      ASSERT_LT(Clock::now(), deadline) << "accept timed out";
    }
    ASSERT_TRUE(raw.finish_handshake());
    recv_dev_.assign(4 << 20, 0);
    ASSERT_EQ(core::reg_mr(recv_, recv_dev_.data(), recv_dev_.size(), NCCL_PTR_CUDA, &recv_dev_mr_),
              ncclSuccess);
    Msg big{c.original, /*send_gpu=*/true, /*recv_gpu=*/true};
    void* rreq = nullptr;
    ASSERT_EQ(irecv(big, 0, big.bytes, &rreq), ncclSuccess);
    ASSERT_NE(rreq, nullptr);
    std::vector<char> frame(c.frame);
    for (size_t k = 0; k < frame.size(); ++k) frame[k] = static_cast<char>(k * 31 + 7);
    ASSERT_TRUE(raw.send_header(wire::PayloadKind::kFramed, c.original, frame.size()));
    ASSERT_TRUE(raw.send_payload(frame.data(), frame.size()));
    ncclResult_t res = ncclSuccess;
    int done = 0;
    while (res == ncclSuccess) {
      res = core::test(rreq, &done, nullptr);
      ASSERT_EQ(done, 0);
      ASSERT_LT(Clock::now(), deadline);
    }
    EXPECT_EQ(res, c.error);
    EXPECT_TRUE(log_contains(c.log, "rank 7")) << "the check, and the peer";
    EXPECT_EQ(control().decompress_batches.load(), 0u);
    EXPECT_EQ(control().copies_to_device.load(), 0u);
    for (size_t k = 0; k < big.bytes; ++k) ASSERT_EQ(recv_dev_[k], 0) << "written at " << k;
    raw.close_all();
    close();
  }
}

}  // namespace
}  // namespace squeeze::plugin
