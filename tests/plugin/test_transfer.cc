// Data transfers through the exported v11 table: 32 requests in flight (tested in any order),
// sizes from 0 to 64 MiB, back-pressure, close with requests in flight, and classification end to
// end (floats within the bound, integers and LL/LL128 buffers bit-exact).
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include <unistd.h>

#include "harness.h"
#include "stats_json.h"

namespace sqtest {
namespace {

struct Buffers {
  void* send_mh = nullptr;
  void* recv_mh = nullptr;
};

void reg(Pair& p, void* sbuf, size_t sbytes, void* rbuf, size_t rbytes, Buffers* b) {
  ncclNet_v11_t* n = plugin().v11;
  ASSERT_EQ(n->regMr(p.send, sbuf, sbytes, NCCL_PTR_HOST, &b->send_mh), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, rbuf, rbytes, NCCL_PTR_HOST, &b->recv_mh), ncclSuccess);
}

// Posts isend until it returns a request (back-pressure gives NULL).
void* post_send(Pair& p, void* data, size_t size, int tag, void* mh) {
  for (int tries = 0; tries < 1000000; ++tries) {
    void* req = reinterpret_cast<void*>(0x1);
    EXPECT_EQ(plugin().v11->isend(p.send, data, size, tag, mh, nullptr, &req), ncclSuccess);
    if (req != nullptr) return req;
    std::this_thread::yield();
  }
  return nullptr;
}

void* post_recv(Pair& p, void* data, size_t size, int tag, void* mh) {
  void* req = reinterpret_cast<void*>(0x1);  // NCCL_NET_OPTIONAL_RECV_COMPLETION
  void* phandle = nullptr;
  EXPECT_EQ(plugin().v11->irecv(p.recv, 1, &data, &size, &tag, &mh, &phandle, &req), ncclSuccess);
  return req;
}

// Posts a receive (the error may come from irecv itself or from test) and waits for its outcome:
// for a receive past a closed sender's last message, which must fail within bounded time.
ncclResult_t receive_outcome(Pair& p, void* data, size_t size, int tag, void* mh) {
  void* phandle = nullptr;
  void* req = nullptr;
  ncclResult_t res = plugin().v11->irecv(p.recv, 1, &data, &size, &tag, &mh, &phandle, &req);
  if (res == ncclSuccess && req != nullptr) res = wait_request(req, nullptr, 10.0);
  return res;
}

TEST(Transfer, ConnectRetriesAndOneMessage) {
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  EXPECT_GE(p.connect_calls, 1);
  std::vector<uint8_t> out(5000), in(8192, 0xAA);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i * 13 + 1);
  Buffers b;
  reg(p, out.data(), out.size(), in.data(), in.size(), &b);
  void* r = post_recv(p, in.data(), in.size(), 5, b.recv_mh);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r, reinterpret_cast<void*>(0x1));
  void* s = post_send(p, out.data(), out.size(), 5, b.send_mh);
  int size = -1;
  ASSERT_EQ(wait_pair(s, r, &size), ncclSuccess);
  EXPECT_EQ(size, 5000);  // the sender's size, not the posted one
  EXPECT_EQ(0, std::memcmp(in.data(), out.data(), out.size()));
  EXPECT_EQ(in[5000], 0xAA);  // nothing written past the message
  void* flush = reinterpret_cast<void*>(0x1);
  void* data = in.data();
  int isz = 5000;
  EXPECT_EQ(plugin().v11->iflush(p.recv, 1, &data, &isz, &b.recv_mh, &flush), ncclSuccess);
  EXPECT_EQ(flush, nullptr);
}

TEST(Transfer, ThirtyTwoInFlightTestedNewestFirst) {
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  constexpr int kN = NCCL_NET_MAX_REQUESTS;
  constexpr size_t kMax = 300000;
  std::vector<std::vector<uint8_t>> out(kN);
  // Every message is sent from and received into registered memory (an inner net plugin checks).
  std::vector<uint8_t> pool_s(kN * kMax), pool_r(kN * kMax);
  auto send_buf = [&](int i) { return pool_s.data() + static_cast<size_t>(i) * kMax; };
  auto recv_buf = [&](int i) { return pool_r.data() + static_cast<size_t>(i) * kMax; };
  Buffers b;
  reg(p, pool_s.data(), pool_s.size(), pool_r.data(), pool_r.size(), &b);
  std::mt19937_64 rng(test_seed());
  std::vector<void*> sreq(kN), rreq(kN);
  for (int i = 0; i < kN; ++i) {
    size_t n = (i % 4 == 0) ? 0 : (rng() % kMax);
    out[i].resize(n);
    for (auto& c : out[i]) c = static_cast<uint8_t>(rng());
    if (n > 0) std::memcpy(send_buf(i), out[i].data(), n);
    rreq[i] = post_recv(p, recv_buf(i), kMax, 9, b.recv_mh);
    ASSERT_NE(rreq[i], nullptr) << i;
  }
  for (int i = 0; i < kN; ++i) {
    void* req = nullptr;
    ASSERT_EQ(plugin().v11->isend(p.send, send_buf(i), out[i].size(), 9, b.send_mh, nullptr, &req),
              ncclSuccess);
    ASSERT_NE(req, nullptr) << "request " << i << " of 32 refused";
    sreq[i] = req;
  }
  // A 33rd request on either side is refused (NULL), not an error.
  void* extra = reinterpret_cast<void*>(0x1);
  ASSERT_EQ(plugin().v11->isend(p.send, send_buf(1), out[1].size(), 9, b.send_mh, nullptr, &extra),
            ncclSuccess);
  EXPECT_EQ(extra, nullptr);
  EXPECT_EQ(post_recv(p, recv_buf(0), kMax, 9, b.recv_mh), nullptr);

  // Poll newest first, never waiting for an older request before testing a newer one: requests
  // may report done in any order (NCCL tests the oldest first, other callers need not), so this
  // must finish, with each receive reporting its message's size.
  std::vector<bool> sdone(kN), rdone(kN);
  int s_next = 0, r_next = 0;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((s_next < kN || r_next < kN) && Clock::now() < deadline) {
    for (int i = kN - 1; i >= 0; --i) {
      int done = 0, size = -1;
      if (!sdone[i]) {
        ASSERT_EQ(plugin().v11->test(sreq[i], &done, &size), ncclSuccess);
        if (done) {
          sdone[i] = true;
          ++s_next;
        }
      }
      if (!rdone[i]) {
        done = 0;
        ASSERT_EQ(plugin().v11->test(rreq[i], &done, &size), ncclSuccess);
        if (done) {
          EXPECT_EQ(size, static_cast<int>(out[i].size()));
          rdone[i] = true;
          ++r_next;
        }
      }
    }
  }
  ASSERT_EQ(s_next, kN);
  ASSERT_EQ(r_next, kN);
  for (int i = 0; i < kN; ++i) {
    if (!out[i].empty()) {
      ASSERT_EQ(0, std::memcmp(recv_buf(i), out[i].data(), out[i].size())) << "message " << i;
    }
  }
}

// Round trip of one size; float32 payload when `floats`, checking the bound, else random bytes.
void roundtrip_sizes(bool lossy) {
  ScopedEnv env;
  if (lossy) {
    env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
        .set("NCCL_SQUEEZE_MODE", "abs")
        .set("NCCL_SQUEEZE_BOUND", "0.001");
  }
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  const size_t sizes[] = {0, 1, 3, 4095, 4096, 65536 + 7, 1 << 20, (16 << 20) - 64, 64 << 20};
  size_t max = 64 << 20;
  std::vector<uint8_t> out(max), in(max);
  Buffers b;
  reg(p, out.data(), max, in.data(), max, &b);
  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t n : sizes) {
    SCOPED_TRACE("size " + std::to_string(n) + " seed " + std::to_string(seed));
    const Json before = find_conn("recv", 1);  // null before the first message
    if (lossy) {
      size_t nf = n / 4;
      auto* f = reinterpret_cast<float*>(out.data());
      for (size_t i = 0; i < nf; ++i) f[i] = normal(rng);
      for (size_t i = nf * 4; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
    } else {
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
    }
    std::memset(in.data(), 0xEE, n + 16 < max ? n + 16 : max);
    void* r = post_recv(p, in.data(), max, 1, b.recv_mh);
    void* s = post_send(p, out.data(), n, 1, b.send_mh);
    ASSERT_NE(r, nullptr);
    ASSERT_NE(s, nullptr);
    int size = -1;
    ASSERT_EQ(wait_pair(s, r, &size, 60), ncclSuccess);
    ASSERT_EQ(size, static_cast<int>(n));
    // The receiver's count of this message: compressed (a frame) or as it was.
    const Json after = conn_stats("recv", 1);
    const WireDelta d = wire_delta(before, after);
    EXPECT_EQ(d.bytes_in, n) << after;
    // A lossy message from MIN_BYTES (4096) to 1 MiB is always compressed; a larger one may pass
    // through when its frame would not fit the staging memory (pass_too_large).
    if (lossy && n >= 4096 && n <= (1u << 20)) {
      EXPECT_EQ(d.lossy, 1u) << after;
    }
    if (!lossy) {
      EXPECT_EQ(d.lossy, 0u) << after;
    }
    if (d.lossy == 0) {
      EXPECT_EQ(d.bytes_wire, n) << after;
      ASSERT_EQ(0, std::memcmp(in.data(), out.data(), n));
    } else {
      // Compressed: every float within the bound, some changed, the tail bytes exact, and the
      // wire carried fewer bytes than were sent.
      size_t nf = n / 4;
      ASSERT_TRUE(floats_changed_within(out.data(), in.data(), nf, 0.001));
      ASSERT_EQ(0, std::memcmp(in.data() + nf * 4, out.data() + nf * 4, n - nf * 4));
      EXPECT_LT(d.bytes_wire, d.bytes_in) << after;
    }
    if (n + 16 < max) {
      EXPECT_EQ(in[n], 0xEE) << "written past the message";
    }
  }
}

TEST(Transfer, SizesZeroTo64MiBPassthrough) {
  roundtrip_sizes(false);
}
TEST(Transfer, SizesZeroTo64MiBLossyF32) {
  roundtrip_sizes(true);
}

// A sender that closes right after its last send completed must not cost the receiver that
// message: its bytes are already in the data sockets. Only a receive posted afterwards fails.
TEST(Transfer, SenderClosingRightAfterLastSendLosesNothing) {
  for (int round = 0; round < 10; ++round) {
    Pair p;
    ASSERT_TRUE(connect_pair(&p));
    const size_t bytes = (1u << 20) + 4096 * round;
    std::vector<uint8_t> out(bytes), in(bytes, 0);
    for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(i * 7 + round);
    Buffers b;
    reg(p, out.data(), out.size(), in.data(), in.size(), &b);
    void* r = post_recv(p, in.data(), in.size(), 3, b.recv_mh);
    ASSERT_NE(r, nullptr);
    void* s = post_send(p, out.data(), out.size(), 3, b.send_mh);
    int size = -1;
    // Until the send is done, the receive is tested too, as NCCL's proxy does (with inline
    // progress the receiver's test() is what drains the sockets).
    int send_done = 0, recv_done = 0;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!send_done) {
      ASSERT_EQ(plugin().v11->test(s, &send_done, nullptr), ncclSuccess);
      if (!recv_done) {
        ASSERT_EQ(plugin().v11->test(r, &recv_done, &size), ncclSuccess);
      }
      ASSERT_LT(Clock::now(), deadline);
    }
    EXPECT_EQ(plugin().v11->deregMr(p.send, b.send_mh), ncclSuccess);
    EXPECT_EQ(plugin().v11->closeSend(p.send), ncclSuccess);
    p.send = nullptr;
    if (!recv_done) {
      ASSERT_EQ(wait_request(r, &size), ncclSuccess) << "round " << round;
    }
    EXPECT_EQ(size, static_cast<int>(bytes));
    ASSERT_EQ(std::memcmp(in.data(), out.data(), bytes), 0) << "round " << round;
    // The next receive has no sender: an error, at irecv or at test, within bounded time.
    EXPECT_NE(receive_outcome(p, in.data(), in.size(), 3, b.recv_mh), ncclSuccess)
        << "round " << round;
    EXPECT_EQ(plugin().v11->deregMr(p.recv, b.recv_mh), ncclSuccess);
  }
}

// The receiving side may notice the sender's hang-up before NCCL posts the receive for the
// sender's last message, whose bytes are all in the kernel by then: that message must still
// arrive, and only the receive after it fails.
TEST(Transfer, HangUpSeenBeforeTheLastReceiveIsPostedLosesNothing) {
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  const size_t bytes = 64 * 1024;  // fits the socket buffers: the send completes unreceived
  std::vector<uint8_t> out(bytes), in(bytes, 0);
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(i * 13 + 1);
  Buffers b;
  reg(p, out.data(), out.size(), in.data(), in.size(), &b);
  void* s = post_send(p, out.data(), bytes, 4, b.send_mh);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(wait_request(s, nullptr, 10.0), ncclSuccess);
  EXPECT_EQ(plugin().v11->deregMr(p.send, b.send_mh), ncclSuccess);
  EXPECT_EQ(plugin().v11->closeSend(p.send), ncclSuccess);
  p.send = nullptr;
  // Several of the receiving helpers' 50 ms ticks: the hang-up is seen before the receive.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  void* r = post_recv(p, in.data(), in.size(), 4, b.recv_mh);
  ASSERT_NE(r, nullptr);
  int size = -1;
  ASSERT_EQ(wait_request(r, &size, 10.0), ncclSuccess);
  EXPECT_EQ(size, static_cast<int>(bytes));
  EXPECT_EQ(std::memcmp(in.data(), out.data(), bytes), 0);
  EXPECT_NE(receive_outcome(p, in.data(), in.size(), 4, b.recv_mh), ncclSuccess);
  EXPECT_EQ(plugin().v11->deregMr(p.recv, b.recv_mh), ncclSuccess);
}

// Eight 8 MiB float messages compressed at abs 1e-3 (about 3 MiB frames) on one data socket, with
// staging for all of them: more than the kernel holds, so some frames wait in staging.
constexpr int kOwedMessages = 8;
constexpr size_t kOwedFloats = 2 << 20;

void set_owed_frames_env(ScopedEnv& env) {
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
      .set("NCCL_SQUEEZE_MODE", "abs")
      .set("NCCL_SQUEEZE_BOUND", "0.001")
      .set("NCCL_SQUEEZE_SOCKETS", "1")
      .set("NCCL_SQUEEZE_STAGING_MB", "64");
}

std::vector<float> owed_payload(uint64_t seed) {
  std::vector<float> out(kOwedMessages * kOwedFloats);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& f : out) f = normal(rng);
  return out;
}

// NCCL may close a send connection as soon as its sends tested done, while the receiving rank has
// not even posted its receives. With helper threads a compressed send is done once its frame is in
// staging: close must still deliver it. The frames here exceed the socket buffers, so closeSend
// can only return once the late receiver has read them.
TEST(Transfer, ReceivesPostedAfterTheSenderClosedGetEveryMessage) {
  ScopedEnv env;
  set_owed_frames_env(env);
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  constexpr int kMessages = kOwedMessages;
  constexpr size_t kFloats = kOwedFloats;
  const uint64_t seed = test_seed();
  // One registration per side, like NCCL's SIMPLE FIFO (a batch of one is SIMPLE).
  std::vector<float> out = owed_payload(seed);
  std::vector<float> in(out.size(), 0.0f);
  ncclNet_v11_t* n = plugin().v11;
  void* send_mh = nullptr;
  void* recv_mh = nullptr;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size() * 4, NCCL_PTR_HOST, &send_mh), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, in.data(), in.size() * 4, NCCL_PTR_HOST, &recv_mh), ncclSuccess);
  // The sending rank: every send, then close once they all tested done.
  ncclResult_t send_result = ncclSuccess;
  std::atomic<int> sends_done{0};
  std::thread sender([&] {
    for (int m = 0; m < kMessages && send_result == ncclSuccess; ++m) {
      void* s = post_send(p, &out[m * kFloats], kFloats * 4, 5, send_mh);
      send_result = s == nullptr ? ncclInternalError : wait_request(s, nullptr, 60.0);
      ++sends_done;
    }
    n->deregMr(p.send, send_mh);
    if (n->closeSend(p.send) != ncclSuccess && send_result == ncclSuccess)
      send_result = ncclInternalError;
  });
  // The receiving rank is late: it starts once every send is done (helper threads: the frames
  // wait in staging and the sender is closing) or the sends stopped progressing (inline: a send is
  // done only once the kernel took its bytes, and the kernel is full).
  int seen = -1;
  auto last_change = Clock::now();
  while (sends_done.load() < kMessages && Clock::now() - last_change < std::chrono::seconds(1)) {
    if (sends_done.load() != seen) {
      seen = sends_done.load();
      last_change = Clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let closeSend begin
  bool received_all = true;
  for (int m = 0; m < kMessages && received_all; ++m) {
    SCOPED_TRACE("message " + std::to_string(m) + " seed " + std::to_string(seed));
    void* r = post_recv(p, &in[m * kFloats], kFloats * 4, 5, recv_mh);
    int size = -1;
    ncclResult_t res = r == nullptr ? ncclInternalError : wait_request(r, &size, 60.0);
    EXPECT_EQ(res, ncclSuccess);
    EXPECT_EQ(size, static_cast<int>(kFloats * 4));
    received_all = res == ncclSuccess && size == static_cast<int>(kFloats * 4);
  }
  sender.join();
  p.send = nullptr;
  ASSERT_TRUE(received_all);
  EXPECT_EQ(send_result, ncclSuccess);
  ASSERT_TRUE(floats_changed_within(out.data(), in.data(), out.size(), 0.001));
  // Every message arrived as a frame smaller than its data.
  const Json r = conn_stats("recv", 5);
  const WireDelta d = wire_delta(Json(), r);
  EXPECT_EQ(d.lossy, static_cast<uint64_t>(kMessages)) << r;
  EXPECT_EQ(d.bytes_in, out.size() * 4) << r;
  EXPECT_LT(d.bytes_wire, d.bytes_in) << r;
  // Past the last message the hang-up is the end of the stream: a new receive fails.
  EXPECT_NE(receive_outcome(p, in.data(), kFloats * 4, 5, recv_mh), ncclSuccess);
  EXPECT_EQ(n->deregMr(p.recv, recv_mh), ncclSuccess);
}

// The flush at close is bounded: a receiver that is alive but never reads costs closeSend about
// NCCL_SQUEEZE_TIMEOUT_S, with a warning that names the peer, not a hang.
TEST(Transfer, CloseSendToAReceiverThatNeverReadsIsBounded) {
  ScopedEnv env;
  set_owed_frames_env(env);
  env.set("NCCL_SQUEEZE_TIMEOUT_S", "1");
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  constexpr int kMessages = kOwedMessages;
  constexpr size_t kFloats = kOwedFloats;
  std::vector<float> out = owed_payload(test_seed());
  ncclNet_v11_t* n = plugin().v11;
  void* send_mh = nullptr;
  ASSERT_EQ(n->regMr(p.send, out.data(), out.size() * 4, NCCL_PTR_HOST, &send_mh), ncclSuccess);
  // Sends until one does not complete within a second (inline: the kernel is full) or all did.
  clear_log();
  int done_sends = 0;
  for (int m = 0; m < kMessages; ++m) {
    void* s = post_send(p, &out[m * kFloats], kFloats * 4, 5, send_mh);
    ASSERT_NE(s, nullptr);
    if (wait_request(s, nullptr, 1.0) != ncclSuccess) break;
    ++done_sends;
  }
  EXPECT_EQ(n->deregMr(p.send, send_mh), ncclSuccess);
  auto start = Clock::now();
  EXPECT_EQ(n->closeSend(p.send), ncclSuccess);
  p.send = nullptr;
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%d of %d sends done before close; closeSend took %.2f s\n", done_sends, kMessages,
              took);
  EXPECT_LT(took, 4.0);
  if (done_sends == kMessages) {
    // Helper threads: frames were owed to the receiver, and giving up on them is logged (by the
    // flush at close, or by the stall timeout if that came first).
    EXPECT_TRUE(log_contains("127.0.0.1:", "rank 5")) << "no warning names the peer";
  }
}

TEST(Transfer, CloseWithRequestsInFlight) {
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  // Receives as large as the sends: NCCL never sends more than the receiver posted (an inner
  // plugin such as StrictNet reports that as a violation at once).
  std::vector<uint8_t> out(8 << 20, 1), in(8 << 20);
  Buffers b;
  reg(p, out.data(), out.size(), in.data(), in.size(), &b);
  // Receives posted with no sender, and sends that the receiver never drains.
  for (int i = 0; i < 8; ++i) ASSERT_NE(post_recv(p, in.data(), in.size(), 0, b.recv_mh), nullptr);
  for (int i = 0; i < 8; ++i) {
    void* req = nullptr;
    ASSERT_EQ(plugin().v11->isend(p.send, out.data(), out.size(), 0, b.send_mh, nullptr, &req),
              ncclSuccess);
  }
  auto start = Clock::now();
  p.close();  // no crash, no hang, no leak (ASan)
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

// One connection from device `dev` made from a fresh copy of a listener's handle (connect keeps
// its attempt in the copy it is given), retried with accept until both sides have a comm, as a
// proxy does.
::testing::AssertionResult connect_from(void* ctx, void* listen, const char* handle, Pair* p,
                                        int dev_from = 0) {
  ncclNet_v11_t* n = plugin().v11;
  char copy[NCCL_NET_HANDLE_MAXSIZE];
  std::memcpy(copy, handle, sizeof(copy));
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (p->send == nullptr || p->recv == nullptr) {
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    if (p->send == nullptr && n->connect(ctx, dev_from, copy, &p->send, &dev) != ncclSuccess)
      return ::testing::AssertionFailure() << "connect failed";
    if (p->recv == nullptr && n->accept(listen, &p->recv, &dev) != ncclSuccess)
      return ::testing::AssertionFailure() << "accept failed";
    if (Clock::now() > deadline) return ::testing::AssertionFailure() << "connect timed out";
  }
  return ::testing::AssertionSuccess();
}

// One message of `bytes` random bytes (no dtype: bit for bit) from p.send to p.recv.
void one_message(Pair& p, size_t bytes, uint64_t seed, int tag) {
  std::vector<uint8_t> out(bytes), in(bytes, 0);
  std::mt19937_64 rng(seed);
  for (auto& c : out) c = static_cast<uint8_t>(rng());
  Buffers b;
  reg(p, out.data(), out.size(), in.data(), in.size(), &b);
  void* r = post_recv(p, in.data(), in.size(), tag, b.recv_mh);
  ASSERT_NE(r, nullptr);
  void* s = post_send(p, out.data(), out.size(), tag, b.send_mh);
  ASSERT_NE(s, nullptr);
  int size = -1;
  ASSERT_EQ(wait_pair(s, r, &size), ncclSuccess);
  EXPECT_EQ(size, static_cast<int>(bytes));
  EXPECT_EQ(0, std::memcmp(in.data(), out.data(), bytes)) << "tag " << tag;
  EXPECT_EQ(plugin().v11->deregMr(p.send, b.send_mh), ncclSuccess);
  EXPECT_EQ(plugin().v11->deregMr(p.recv, b.recv_mh), ncclSuccess);
}

// rounds(thread, count) on this thread (thread 0), then on threads 1-4 at once, all on one
// context, which is finalized afterwards.
void on_one_thread_then_four(void* ctx, const std::function<void(int, int)>& rounds, int count) {
  rounds(0, count);
  std::vector<std::thread> threads;
  for (int t = 1; t <= 4; ++t) threads.emplace_back(rounds, t, count);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(plugin().v11->finalize(ctx), ncclSuccess);
}

// A listen comm serves one connection after another (aws-ofi-nccl's reuse_listen_comm does
// this: 10 rounds, from one thread and from four), each from a fresh copy of the same handle,
// with the previous connection still open while the next one is made; and four threads do the
// same on listen comms of their own at once.
TEST(Transfer, OneListenCommServesConnectionsInTurnAndFromThreads) {
  const uint64_t seed = test_seed();
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  ncclNet_v11_t* n = plugin().v11;
  const auto rounds = [&](int thread, int count) {
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
    void* listen = nullptr;
    ASSERT_EQ(n->listen(ctx, 0, handle, &listen), ncclSuccess);
    ASSERT_NE(listen, nullptr);
    std::unique_ptr<Pair> previous;
    for (int round = 0; round < count; ++round) {
      auto p = std::make_unique<Pair>();
      ASSERT_TRUE(connect_from(ctx, listen, handle, p.get()))
          << "thread " << thread << " round " << round;
      one_message(*p, 1 << 20, seed + 1000 * thread + round, round);
      if (previous) one_message(*previous, 4096, seed + 1000 * thread + round + 500, round);
      previous = std::move(p);  // the pair before closes (sends, receives) only now
    }
    previous.reset();
    EXPECT_EQ(n->closeListen(listen), ncclSuccess);
  };
  on_one_thread_then_four(ctx, rounds, 10);
}

// A connection from each device to a listener on each other device (NCCL's ranks use the device
// near their GPU, so the two ends of a connection are often different devices; aws-ofi-nccl's
// tests walk the devices in reverse order on one side). Loopback plus the host's Ethernet
// interfaces: skipped where the host has only loopback.
TEST(Transfer, ConnectsFromEveryDeviceToListenersOnEveryOther) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_IFNAME", "lo,eth,en");
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  ncclNet_v11_t* n = plugin().v11;
  int ndev = 0;
  ASSERT_EQ(n->devices(&ndev), ncclSuccess);
  if (ndev < 2) {
    EXPECT_EQ(n->finalize(ctx), ncclSuccess);
    GTEST_SKIP() << "one device only (" << ndev << "): no second interface on this host";
  }
  const uint64_t seed = test_seed();
  for (int from = 0; from < ndev; ++from) {
    for (int to = 0; to < ndev; ++to) {
      if (from == to) continue;
      ncclNetProperties_v11_t pf{}, pt{};
      ASSERT_EQ(n->getProperties(from, &pf), ncclSuccess);
      ASSERT_EQ(n->getProperties(to, &pt), ncclSuccess);
      SCOPED_TRACE(std::string("from ") + pf.name + " to " + pt.name);
      char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
      void* listen = nullptr;
      ASSERT_EQ(n->listen(ctx, to, handle, &listen), ncclSuccess);
      Pair p;
      ASSERT_TRUE(connect_from(ctx, listen, handle, &p, from));
      one_message(p, 100000, seed + 16 * from + to, 3);
      p.close();
      EXPECT_EQ(n->closeListen(listen), ncclSuccess);
    }
  }
  EXPECT_EQ(n->finalize(ctx), ncclSuccess);
}

// 32 small sends posted at once complete before the receiver posts anything (their bytes fit the
// sockets' buffers), and the receives posted one at a time afterwards get them in order with
// their sizes (aws-ofi-nccl's eager_multirecv T13). Sizes straddle 4096 (MIN_BYTES); floats are
// assumed, so the larger ones travel as frames.
TEST(Transfer, SmallSendsCompleteBeforeAnyReceiveIsPosted) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
      .set("NCCL_SQUEEZE_MODE", "abs")
      .set("NCCL_SQUEEZE_BOUND", "0.001");
  Pair p;
  ASSERT_TRUE(connect_pair(&p));
  constexpr int kN = NCCL_NET_MAX_REQUESTS;
  constexpr size_t kMax = 8192;
  std::vector<float> pool_s(kN * kMax / 4), pool_r(kN * kMax / 4, -1.0f);
  Buffers b;
  reg(p, pool_s.data(), pool_s.size() * 4, pool_r.data(), pool_r.size() * 4, &b);
  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  size_t bytes[kN];
  void* sreq[kN];
  for (int i = 0; i < kN; ++i) {
    bytes[i] = 1024 + 4 * (rng() % ((kMax - 1024) / 4 + 1));
    float* f = pool_s.data() + i * kMax / 4;
    for (size_t k = 0; k < bytes[i] / 4; ++k) f[k] = normal(rng);
    sreq[i] = post_send(p, f, bytes[i], 1, b.send_mh);
    ASSERT_NE(sreq[i], nullptr) << i;
  }
  // Each send completes on its own: nothing is posted on the receiving side yet.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (int left = kN; left > 0;) {
    left = 0;
    for (int i = 0; i < kN; ++i) {
      if (sreq[i] == nullptr) continue;
      int done = 0;
      ASSERT_EQ(plugin().v11->test(sreq[i], &done, nullptr), ncclSuccess);
      if (done) {
        sreq[i] = nullptr;
      } else {
        ++left;
      }
    }
    ASSERT_LT(Clock::now(), deadline) << left << " sends waited for receives (seed " << seed << ")";
  }
  for (int i = 0; i < kN; ++i) {
    float* in = pool_r.data() + i * kMax / 4;
    void* r = post_recv(p, in, kMax, 1, b.recv_mh);
    ASSERT_NE(r, nullptr);
    int size = -1;
    ASSERT_EQ(wait_request(r, &size), ncclSuccess);
    ASSERT_EQ(size, static_cast<int>(bytes[i])) << "message " << i << " seed " << seed;
    const float* out = pool_s.data() + i * kMax / 4;
    for (size_t k = 0; k < bytes[i] / 4; ++k)
      ASSERT_LE(std::fabs(static_cast<double>(in[k]) - out[k]), 0.001)
          << "message " << i << " value " << k;
    EXPECT_EQ(in[bytes[i] / 4], -1.0f) << "written past message " << i;
  }
}

// Every buffer deregistered while its request is in flight, then the comms closed and the buffers
// freed, round after round, from one thread and from four at once (aws-ofi-nccl's inflight_close):
// 32 sends and 32 receives of 1 MiB of floats each, compressed (the codec may still be reading a
// buffer), so that ASan sees any touch of a freed buffer or region and no close hangs.
TEST(Transfer, DeregisterAndCloseWithEveryRequestInFlight) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32").set("NCCL_SQUEEZE_MODE", "rel");
  void* ctx = nullptr;
  ASSERT_TRUE(init_ctx(&ctx));
  ncclNet_v11_t* n = plugin().v11;
  constexpr int kN = NCCL_NET_MAX_REQUESTS;
  constexpr size_t kBytes = 1 << 20;
  const auto rounds = [&](int thread, int count) {
    for (int round = 0; round < count; ++round) {
      SCOPED_TRACE("thread " + std::to_string(thread) + " round " + std::to_string(round));
      char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
      void* listen = nullptr;
      ASSERT_EQ(n->listen(ctx, 0, handle, &listen), ncclSuccess);
      Pair p;
      ASSERT_TRUE(connect_from(ctx, listen, handle, &p));
      std::vector<std::vector<float>> out(kN), in(kN);
      void* send_mh[kN] = {};
      void* recv_mh[kN] = {};
      int sends = 0, recvs = 0;
      for (int i = 0; i < kN; ++i) {
        out[i].assign(kBytes / 4, 0.5f + static_cast<float>(i));
        for (size_t k = 0; k < out[i].size(); k += 7) out[i][k] = static_cast<float>(k % 1000);
        in[i].assign(kBytes / 4, 0.0f);
        ASSERT_EQ(n->regMr(p.send, out[i].data(), kBytes, NCCL_PTR_HOST, &send_mh[i]), ncclSuccess);
        ASSERT_EQ(n->regMr(p.recv, in[i].data(), kBytes, NCCL_PTR_HOST, &recv_mh[i]), ncclSuccess);
        recvs += post_recv(p, in[i].data(), kBytes, 1, recv_mh[i]) != nullptr;
        void* req = nullptr;  // one try each: a refused (NULL) request is legal too
        ASSERT_EQ(n->isend(p.send, out[i].data(), kBytes, 1, send_mh[i], nullptr, &req),
                  ncclSuccess);
        sends += req != nullptr;
      }
      EXPECT_EQ(recvs, kN);
      EXPECT_GE(sends, 1);
      for (int i = 0; i < kN; ++i) {
        EXPECT_EQ(n->deregMr(p.send, send_mh[i]), ncclSuccess);
        EXPECT_EQ(n->deregMr(p.recv, recv_mh[i]), ncclSuccess);
      }
      const auto start = Clock::now();
      p.close();
      EXPECT_EQ(n->closeListen(listen), ncclSuccess);
      EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
    }  // the buffers are freed here, after every close returned
  };
  on_one_thread_then_four(ctx, rounds, 10);
}

TEST(Classify, FloatsWithinBoundIntegersAndLLBitExact) {
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
      .set("NCCL_SQUEEZE_MODE", "abs")
      .set("NCCL_SQUEEZE_BOUND", "0.01");
  Pair p;
  ASSERT_TRUE(connect_pair(&p, 0x7C0));
  ncclNet_v11_t* n = plugin().v11;
  constexpr size_t kBytes = 256 << 10;
  // NCCL's FIFO registration order on a comm: LL, LL128, SIMPLE.
  std::vector<uint8_t> ll(kBytes), ll128(kBytes), simple(kBytes), rbuf(kBytes);
  void *mh_ll, *mh_ll128, *mh_simple, *mh_r;
  ASSERT_EQ(n->regMr(p.send, ll.data(), kBytes, NCCL_PTR_HOST, &mh_ll), ncclSuccess);
  ASSERT_EQ(n->regMr(p.send, ll128.data(), kBytes, NCCL_PTR_HOST, &mh_ll128), ncclSuccess);
  ASSERT_EQ(n->regMr(p.send, simple.data(), kBytes, NCCL_PTR_HOST, &mh_simple), ncclSuccess);
  ASSERT_EQ(n->regMr(p.recv, rbuf.data(), kBytes, NCCL_PTR_HOST, &mh_r), ncclSuccess);

  uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::uniform_real_distribution<float> uni(-3.0f, 3.0f);
  size_t nf = kBytes / 4;
  auto fill_floats = [&](std::vector<uint8_t>& v) {
    auto* f = reinterpret_cast<float*>(v.data());
    for (size_t i = 0; i < nf; ++i) f[i] = uni(rng);
  };
  auto fill_ints = [&](std::vector<uint8_t>& v) {
    auto* q = reinterpret_cast<int32_t*>(v.data());
    for (size_t i = 0; i < nf; ++i) q[i] = static_cast<int32_t>(rng() % 100000);
  };
  struct Case {
    const char* what;
    std::vector<uint8_t>* buf;
    void* mh;
    bool floats;
    uint32_t xfer_op;  // transfer hint before the send (0: none)
    bool expect_exact;
  };
  const Case cases[] = {
      {"floats on SIMPLE, p2p", &simple, mh_simple, true, 0, false},
      {"floats on SIMPLE, AlltoAll hint", &simple, mh_simple, true, 1u << NCCL_FUNC_ALLTOALL,
       false},
      {"floats on LL", &ll, mh_ll, true, 1u << NCCL_FUNC_SEND, true},
      {"floats on LL128", &ll128, mh_ll128, true, 1u << NCCL_FUNC_SEND, true},
      {"integers on LL", &ll, mh_ll, false, 1u << NCCL_FUNC_SEND, true},
      {"integers on SIMPLE, AllReduce hint", &simple, mh_simple, false, 1u << NCCL_FUNC_ALLREDUCE,
       true},
      {"floats on SIMPLE, AllReduce hint", &simple, mh_simple, true, 1u << NCCL_FUNC_ALLREDUCE,
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    if (c.floats) {
      fill_floats(*c.buf);
    } else {
      fill_ints(*c.buf);
    }
    if (c.xfer_op != 0) {
      ncclNetAttr_v11_t attr;
      std::memset(&attr, 0xff, sizeof(attr));
      attr.op = c.xfer_op;
      ASSERT_EQ(n->setNetAttr(p.ctx, &attr), ncclSuccess);
    }
    std::fill(rbuf.begin(), rbuf.end(), 0);
    const Json before = find_conn("recv", 2);  // null before the first message
    void* r = post_recv(p, rbuf.data(), kBytes, 2, mh_r);
    void* s = post_send(p, c.buf->data(), kBytes, 2, c.mh);
    int size = -1;
    ASSERT_EQ(wait_pair(s, r, &size), ncclSuccess);
    ASSERT_EQ(size, static_cast<int>(kBytes));
    const Json after = conn_stats("recv", 2);
    const WireDelta d = wire_delta(before, after);
    EXPECT_EQ(d.bytes_in, kBytes) << after;
    if (c.expect_exact) {
      ASSERT_EQ(0, std::memcmp(rbuf.data(), c.buf->data(), kBytes));
      EXPECT_EQ(d.lossy, 0u) << after;
      EXPECT_EQ(d.bytes_wire, kBytes) << after;
    } else {
      ASSERT_TRUE(floats_changed_within(c.buf->data(), rbuf.data(), nf, 0.01));
      EXPECT_EQ(d.lossy, 1u) << after;
      EXPECT_LT(d.bytes_wire, kBytes) << after;
    }
  }
  // The decisions show in the statistics of the live connections.
  const Json s = conn_stats("send", 2);
  EXPECT_EQ(nonzero(s.at("decisions")),
            Json({{"lossy", 2}, {"pass_not_simple", 3}, {"pass_not_p2p", 2}}))
      << s;
  EXPECT_EQ(s.at("messages"), 7) << s;
}

TEST(Classify, NoDtypeMeansBitExact) {
  Pair p;  // ASSUME_DTYPE unset: everything passes through
  ASSERT_TRUE(connect_pair(&p, 0x7C0));
  std::vector<float> out(65536), in(65536);
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::sin(static_cast<float>(i));
  Buffers b;
  reg(p, out.data(), out.size() * 4, in.data(), in.size() * 4, &b);
  void* r = post_recv(p, in.data(), in.size() * 4, 0, b.recv_mh);
  void* s = post_send(p, out.data(), out.size() * 4, 0, b.send_mh);
  ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
  EXPECT_EQ(0, std::memcmp(in.data(), out.data(), out.size() * 4));
}

TEST(Stats, JsonLinesAtClose) {
  char path[] = "/tmp/squeeze_stats_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_STATS_FILE", path).set("NCCL_SQUEEZE_ASSUME_DTYPE", "bf16");
    Pair p;
    ASSERT_TRUE(connect_pair(&p, 0x7C0));
    std::vector<uint16_t> out(50000, 0x3f80), in(50000);  // bf16 ones
    Buffers b;
    reg(p, out.data(), out.size() * 2, in.data(), in.size() * 2, &b);
    void* r = post_recv(p, in.data(), in.size() * 2, 4, b.recv_mh);
    void* s = post_send(p, out.data(), out.size() * 2, 4, b.send_mh);
    ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
    EXPECT_EQ(in, out);  // constant data round-trips exactly
  }
  // One JSON object per line and connection; both sides counted one compressed message.
  std::ifstream f(path);
  std::string line;
  std::vector<Json> conns;
  while (std::getline(f, line)) conns.push_back(parse_json(line));
  ASSERT_EQ(conns.size(), 2u);
  int sends = 0;
  for (const Json& c : conns) {
    ASSERT_TRUE(c.is_object()) << c;
    sends += c.at("dir") == "send";
    EXPECT_EQ(c.at("tag"), 4) << c;
    EXPECT_EQ(c.at("messages"), 1) << c;
    EXPECT_EQ(c.at("bytes_in"), 100000) << c;
    EXPECT_EQ(nonzero(c.at("decisions")), Json({{"lossy", 1}})) << c;
    EXPECT_LT(c.at("bytes_wire").get<uint64_t>(), 100000u) << "constant data should compress";
    EXPECT_GT(c.at("ratio").get<double>(), 1.0) << c;
    EXPECT_FALSE(c.contains("verified")) << "no NCCL_SQUEEZE_VERIFY, no measured error: " << c;
  }
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(conns[0].at("bytes_wire"), conns[1].at("bytes_wire"));
  unlink(path);
}

// NCCL_SQUEEZE_VERIFY: the sender decodes each frame again (through a shadow of the receiver's
// stream decoder: a repeated message is sent as references into the history) and the
// statistics carry the largest error against the bound, which must be within it and not zero.
TEST(Stats, VerifyMeasuresTheErrorAgainstTheBound) {
  char path[] = "/tmp/squeeze_stats_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  const size_t n = 32768;
  {
    ScopedEnv env;
    env.set("NCCL_SQUEEZE_STATS_FILE", path)
        .set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32")
        .set("NCCL_SQUEEZE_VERIFY", "1");
    Pair p;
    ASSERT_TRUE(connect_pair(&p));
    std::vector<float> out(n), in(n);
    Buffers b;
    reg(p, out.data(), n * 4, in.data(), n * 4, &b);
    std::mt19937_64 rng(test_seed());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> first;
    for (int m = 0; m < 4; ++m) {
      if (m == 3) {
        out = first;  // the same bytes again: references into the stream history
      } else {
        for (float& v : out) v = normal(rng);
      }
      if (m == 0) first = out;
      void* r = post_recv(p, in.data(), n * 4, 2, b.recv_mh);
      void* s = post_send(p, out.data(), n * 4, 2, b.send_mh);
      ASSERT_EQ(wait_pair(s, r, nullptr), ncclSuccess);
      ASSERT_NE(0, std::memcmp(in.data(), out.data(), n * 4)) << "message " << m;
    }
  }
  std::ifstream f(path);
  std::string line;
  int sends = 0;
  while (std::getline(f, line)) {
    const Json c = parse_json(line);
    if (c.at("dir") == "recv") {
      EXPECT_FALSE(c.contains("verified")) << "the receiver has nothing to compare with: " << c;
      EXPECT_FALSE(c.contains("history")) << "the sender decides: " << c;
      continue;
    }
    ++sends;
    EXPECT_EQ(nonzero(c.at("decisions")), Json({{"lossy", 4}})) << c;
    EXPECT_EQ(c.at("verified"), 4) << c;
    // HISTORY=auto: a connection's first frames always may refer to the history, which the
    // plugin's TCP transport negotiates (an inner plugin's connections have none).
    if (over_inner_plugin()) {
      EXPECT_FALSE(c.contains("history")) << c;
    } else {
      EXPECT_EQ(c.at("history"), Json({{"with", 4}, {"without", 0}})) << c;
    }
    const double r = c.at("max_err_over_bound").get<double>();
    EXPECT_GT(r, 0.0) << c;
    EXPECT_LE(r, 1.0) << c;
  }
  EXPECT_EQ(sends, 1);
  unlink(path);
}

}  // namespace
}  // namespace sqtest
