// The plugin as two processes see it, over loopback, for each traffic kind (lossy f32 and
// passthrough) - ctest runs the suite once per threading mode (inline progress, helper threads).
// The calling patterns are those NCCL's proxy and other plugins' functional suites use: a NULL
// request is retried before anything older is tested, requests are tested in any order, several
// threads each drive their own connections, a listen comm serves several connections, comms are
// closed with requests in flight, and a peer closes first.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "ranks.h"

namespace sqfunc {
namespace {

constexpr double kBound = 1e-3;      // abs bound of the lossy runs
constexpr size_t kMinBytes = 4096;   // smaller messages pass through bit-exact
constexpr double kRunTimeout = 120;  // per test: a rank still running then is a hang

// Traffic settings of one run, applied in each rank before the plugin initialises.
void configure(bool lossy) {
  if (lossy) {
    setenv("NCCL_SQUEEZE_ASSUME_DTYPE", "f32", 1);
    setenv("NCCL_SQUEEZE_MODE", "abs", 1);
    setenv("NCCL_SQUEEZE_BOUND", "1e-3", 1);
  } else {
    unsetenv("NCCL_SQUEEZE_ASSUME_DTYPE");
  }
  setenv("NCCL_SQUEEZE_MIN_BYTES", std::to_string(kMinBytes).c_str(), 1);
}

// Message `index` of stream `stream`: float32 values shaped like embeddings (a few repeated
// vectors, the rest Gaussian), then any tail bytes. Both ranks compute it.
void fill(uint32_t stream, uint32_t index, char* buf, size_t bytes) {
  if (bytes == 0) return;
  std::mt19937 rng(stream * 1000003u + index);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  size_t n = bytes / 4;
  for (size_t i = 0; i < n; ++i) {
    float v = (i / 16) % 5 == 0 ? 0.25f + 0.001f * static_cast<float>(i % 16) : normal(rng);
    std::memcpy(buf + 4 * i, &v, 4);
  }
  for (size_t i = 4 * n; i < bytes; ++i) buf[i] = static_cast<char>(rng());
}

// Checks a received message: bit-exact, or for a lossy run of at least kMinBytes every element
// within the bound. Returns how many elements the codec changed (callers check it was some).
size_t verify(bool lossy, uint32_t stream, uint32_t index, const char* got, size_t bytes) {
  if (bytes == 0) return 0;
  std::vector<char> want(bytes);
  fill(stream, index, want.data(), bytes);
  if (!lossy || bytes < kMinBytes) {
    RCHECK(std::memcmp(want.data(), got, bytes) == 0,
           "message %u of stream %u (%zu bytes) is not bit-exact", index, stream, bytes);
    return 0;
  }
  size_t changed = 0;
  for (size_t i = 0; i + 4 <= bytes; i += 4) {
    float a, b;
    std::memcpy(&a, want.data() + i, 4);
    std::memcpy(&b, got + i, 4);
    RCHECK(std::fabs(static_cast<double>(a) - static_cast<double>(b)) <= kBound,
           "message %u of stream %u: element %zu is %.9g, sent %.9g (bound %g)", index, stream,
           i / 4, b, a, kBound);
    changed += std::memcmp(&a, &b, 4) != 0;
  }
  RCHECK(std::memcmp(want.data() + bytes / 4 * 4, got + bytes / 4 * 4, bytes % 4) == 0,
         "message %u: tail bytes differ", index);
  return changed;
}

struct Registered {
  void* comm = nullptr;
  void* mh = nullptr;
  std::vector<char> buf;
  Registered(void* c, size_t bytes) : comm(c), buf(bytes) {
    RCHECK_NCCL(net()->regMr(comm, buf.data(), buf.size(), NCCL_PTR_HOST, &mh));
  }
  ~Registered() {
    if (mh != nullptr) net()->deregMr(comm, mh);
  }
};

// Posts a send, retrying while the plugin answers "not now" (NULL) without testing anything
// else: legal, and it must make progress (this was a livelock with inline progress).
void* send_retrying(void* comm, char* data, size_t bytes, void* mh, double timeout_s = 60) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    void* req = nullptr;
    RCHECK_NCCL(net()->isend(comm, data, bytes, my_rank(), mh, nullptr, &req));
    if (req != nullptr) return req;
    RCHECK(Clock::now() < deadline, "isend of %zu bytes answered NULL for %.0f s", bytes,
           timeout_s);
    std::this_thread::yield();  // as NCCL's proxy thread does when idle
  }
}

void* recv_retrying(void* comm, char* data, size_t bytes, void* mh, double timeout_s = 60) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    void* req = nullptr;
    int tag = 1 - my_rank();
    void* ph = nullptr;
    RCHECK_NCCL(
        net()->irecv(comm, 1, reinterpret_cast<void**>(&data), &bytes, &tag, &mh, &ph, &req));
    if (req != nullptr) return req;
    RCHECK(Clock::now() < deadline, "irecv answered NULL for %.0f s", timeout_s);
    std::this_thread::yield();
  }
}

// Tests every request until all are done, in the order `order` (indices into reqs), never
// waiting on one before testing the others. sizes receives what test() reported.
void test_all(std::vector<void*>& reqs, std::vector<int>* sizes, std::vector<size_t> order,
              double timeout_s = 60) {
  if (order.empty())
    for (size_t i = 0; i < reqs.size(); ++i) order.push_back(i);
  if (sizes) sizes->assign(reqs.size(), -1);
  size_t left = reqs.size();
  std::vector<bool> done(reqs.size(), false);
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (left > 0) {
    for (size_t i : order) {
      if (done[i]) continue;
      int d = 0, sz = -1;
      RCHECK_NCCL(net()->test(reqs[i], &d, &sz));
      if (d) {
        done[i] = true;
        --left;
        if (sizes) (*sizes)[i] = sz;
      }
    }
    RCHECK(Clock::now() < deadline, "%zu of %zu requests not done after %.0f s", left, reqs.size(),
           timeout_s);
    if (left > 0) std::this_thread::yield();
  }
}

// Rank 0 sends `sizes` on link.send, rank 1 receives them on link.recv: posts of up to 32
// messages, each retried while NULL before anything is tested, then the batch is tested.
// Returns (receiver) the number of elements the codec changed.
size_t one_way(const Link& link, int rank, bool lossy, uint32_t stream,
               const std::vector<size_t>& sizes, std::vector<size_t> test_order = {}) {
  size_t total = 0, largest = 0;
  for (size_t s : sizes) {
    total += s;
    largest = std::max(largest, s);
  }
  size_t changed = 0;
  const size_t batch = NCCL_NET_MAX_REQUESTS;
  if (rank == 0) {
    Registered mem(link.send, total + 1);
    size_t offset = 0;
    for (size_t i = 0; i < sizes.size(); i += batch) {
      std::vector<void*> reqs;
      for (size_t k = i; k < sizes.size() && k < i + batch; ++k) {
        fill(stream, static_cast<uint32_t>(k), mem.buf.data() + offset, sizes[k]);
        reqs.push_back(send_retrying(link.send, mem.buf.data() + offset, sizes[k], mem.mh));
        offset += sizes[k];
      }
      test_all(reqs, nullptr,
               test_order.size() == reqs.size() ? test_order : std::vector<size_t>{});
    }
  } else {
    // Receives are posted with room to spare: a send may be smaller than its receive.
    const size_t slot = largest + 64;
    Registered mem(link.recv, slot * batch);
    for (size_t i = 0; i < sizes.size(); i += batch) {
      std::vector<void*> reqs;
      for (size_t k = i; k < sizes.size() && k < i + batch; ++k)
        reqs.push_back(recv_retrying(link.recv, mem.buf.data() + (k - i) * slot, slot, mem.mh));
      std::vector<int> got;
      test_all(reqs, &got, test_order.size() == reqs.size() ? test_order : std::vector<size_t>{});
      for (size_t k = i; k < sizes.size() && k < i + batch; ++k) {
        RCHECK(got[k - i] == static_cast<int>(sizes[k]),
               "message %zu: test() said %d bytes, %zu sent", k, got[k - i], sizes[k]);
        changed += verify(lossy, stream, static_cast<uint32_t>(k), mem.buf.data() + (k - i) * slot,
                          sizes[k]);
      }
    }
  }
  return changed;
}

// Bytes on the wire and bytes NCCL handed over, summed over the live connections of this rank.
void wire_totals(uint64_t* in, uint64_t* wire) {
  const nlohmann::json conns = nlohmann::json::parse(stats_json());
  *in = *wire = 0;
  for (const auto& c : conns) {
    *in += c.at("bytes_in").get<uint64_t>();
    *wire += c.at("bytes_wire").get<uint64_t>();
  }
}

class Functional : public ::testing::TestWithParam<bool> {
 protected:
  bool lossy() const { return GetParam(); }
};

std::string traffic_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "lossy" : "passthrough";
}

TEST_P(Functional, ConnectionSetupAndTeardown) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    int ndev = 0;
    RCHECK_NCCL(net()->devices(&ndev));
    RCHECK(ndev >= 1, "no devices");
    for (int round = 0; round < 5; ++round) {
      Link l = connect_link(ctx, ch[0]);
      ch[0].barrier();
      l.close();
    }
    // Four threads, each connecting and closing on its own, at the same time.
    std::vector<std::thread> threads;
    std::atomic<size_t> changed{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < 3; ++round) {
          Link l = connect_link(ctx, ch[1 + t]);
          changed += one_way(l, rank, lossy, 10 + t, {8192, 100000});
          l.close();
        }
      });
    }
    for (auto& t : threads) t.join();
    if (lossy && rank == 1) RCHECK(changed > 0, "nothing was compressed");
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// Sends retried while NULL before anything is tested, from 0 bytes to 4 MiB. The first round is
// the livelock of issue 10: the receiver starts late, so the kernel's socket buffers fill, then
// the sender's staging; an isend that answered NULL without moving bytes left the staged frames
// where they were forever (inline progress).
TEST_P(Functional, RetryNullBeforeTestingManySizes) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    setenv("NCCL_SQUEEZE_STAGING_MB", "4", 1);  // back-pressure early
    void* ctx = init_context();
    Link l = connect_link(ctx, ch[0]);
    if (rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::vector<size_t> big(96, size_t{1} << 20);
    size_t changed = one_way(l, rank, lossy, 1, big);
    std::vector<size_t> sizes = {0,     1,      3,      4,       100,     4095,    4096,
                                 4097,  65536,  131072, 131075,  1 << 20, 2 << 20, (4 << 20) + 3,
                                 12345, 777777, 0,      1 << 16, 32768,   5,       262144};
    changed += one_way(l, rank, lossy, 2, sizes);
    if (lossy && rank == 1) RCHECK(changed > 0, "nothing was compressed");
    if (lossy && rank == 0) {
      uint64_t in, wire;
      wire_totals(&in, &wire);
      RCHECK(wire < in, "lossy run put %llu bytes on the wire for %llu bytes sent",
             static_cast<unsigned long long>(wire), static_cast<unsigned long long>(in));
    }
    ch[0].barrier();
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// Grouped receives: the plugin advertises maxRecvs = 1, so NCCL never groups; a grouped irecv
// anyway (n = 2) is refused with an error and no request, and the connection stays usable.
TEST_P(Functional, GroupedReceivesAreRefusedAndTheConnectionStaysUsable) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    ncclNetProperties_v11_t props;
    RCHECK_NCCL(net()->getProperties(0, &props));
    RCHECK(props.maxRecvs == 1, "maxRecvs is %d", props.maxRecvs);
    Link l = connect_link(ctx, ch[0]);
    if (rank == 1) {
      Registered mem(l.recv, 2 * 8192);
      void* data[2] = {mem.buf.data(), mem.buf.data() + 8192};
      size_t sizes[2] = {8192, 8192};
      int tags[2] = {0, 0};
      void* mhs[2] = {mem.mh, mem.mh};
      void* phs[2] = {nullptr, nullptr};
      void* req = reinterpret_cast<void*>(0x1);  // NCCL may leave 0x1 there (LL optional recv)
      const ncclResult_t r = net()->irecv(l.recv, 2, data, sizes, tags, mhs, phs, &req);
      RCHECK(r != ncclSuccess, "a grouped irecv (n = 2) was accepted with maxRecvs = 1");
      RCHECK(req == nullptr, "a refused irecv left a request");
    }
    ch[0].barrier();
    const size_t changed = one_way(l, rank, lossy, 7, {4096, 1 << 20, 100});
    if (lossy && rank == 1) RCHECK(changed > 0, "nothing was compressed");
    ch[0].barrier();
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

TEST_P(Functional, FourThreadsEachWithItsOwnConnections) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    setenv("NCCL_SQUEEZE_STAGING_MB", "2", 1);
    void* ctx = init_context();
    std::vector<std::thread> threads;
    std::atomic<size_t> changed{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        Link a = connect_link(ctx, ch[2 * t]);
        Link b = connect_link(ctx, ch[2 * t + 1]);
        std::vector<size_t> sizes(40, 300000);
        for (size_t k = 0; k < sizes.size(); k += 3) sizes[k] = 65536 + 4 * k + (k % 4);
        changed += one_way(a, rank, lossy, 100 + t, sizes);
        // The other direction on the second link.
        changed += one_way(b, 1 - rank, lossy, 200 + t, sizes);
        ch[2 * t].barrier();
        a.close();
        b.close();
      });
    }
    for (auto& t : threads) t.join();
    if (lossy) RCHECK(changed > 0, "nothing was compressed");  // both ranks receive
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// One listen comm, several connections: one after another and three at once.
TEST_P(Functional, ListenCommReusedForSeveralConnections) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
    void* listen = nullptr;
    if (rank == 1) {
      RCHECK_NCCL(net()->listen(ctx, 0, handle, &listen));
      ch[0].send(handle, sizeof(handle));
    } else {
      ch[0].recv(handle, sizeof(handle));
    }
    auto establish = [&](int count) {
      std::vector<Link> links(static_cast<size_t>(count));
      std::vector<std::vector<char>> handles(static_cast<size_t>(count),
                                             std::vector<char>(handle, handle + sizeof(handle)));
      auto deadline = Clock::now() + std::chrono::seconds(20);
      for (int done = 0; done < count;) {
        done = 0;
        for (int k = 0; k < count; ++k) {
          Link& l = links[static_cast<size_t>(k)];
          if (rank == 0 && l.send == nullptr) {
            RCHECK_NCCL(
                net()->connect(ctx, 0, handles[static_cast<size_t>(k)].data(), &l.send, nullptr));
            // One connect at a time: a listener accepts connections in the order they complete,
            // and the ABI gives no pairing between concurrent connects to one listen comm, so
            // link k is the k-th connection on both sides only if connection k completes first.
            if (l.send == nullptr) break;
          }
          if (rank == 1 && l.recv == nullptr) {
            RCHECK_NCCL(net()->accept(listen, &l.recv, nullptr));
            if (l.recv == nullptr) break;  // accepted in order: the next slot waits
          }
          done += (rank == 0 ? l.send : l.recv) != nullptr;
        }
        RCHECK(Clock::now() < deadline, "only %d of %d connections established", done, count);
      }
      return links;
    };
    size_t changed = 0;
    for (int round = 0; round < 3; ++round) {
      std::vector<Link> links = establish(1);
      changed += one_way(links[0], rank, lossy, 300 + round, {8 << 10, 1 << 20, 3});
      ch[0].barrier();
      links[0].close();
    }
    std::vector<Link> links = establish(3);
    for (size_t k = 0; k < links.size(); ++k)
      changed += one_way(links[k], rank, lossy, 400 + static_cast<uint32_t>(k), {1 << 20, 70000});
    if (lossy && rank == 1) RCHECK(changed > 0, "nothing was compressed");
    ch[0].barrier();
    for (Link& l : links) l.close();
    if (listen) RCHECK_NCCL(net()->closeListen(listen));
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// 32 in flight, tested in a random order on the receiver and newest first on the sender.
TEST_P(Functional, ManyInFlightTestedOutOfOrder) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    Link l = connect_link(ctx, ch[0]);
    std::vector<size_t> order(NCCL_NET_MAX_REQUESTS);
    for (size_t i = 0; i < order.size(); ++i) order[i] = order.size() - 1 - i;
    if (rank == 1) std::shuffle(order.begin(), order.end(), std::mt19937(7));
    std::vector<size_t> sizes(NCCL_NET_MAX_REQUESTS);
    for (size_t i = 0; i < sizes.size(); ++i) sizes[i] = 1000 + 37 * i * i * i;
    size_t changed = 0;
    for (int round = 0; round < 3; ++round)
      changed += one_way(l, rank, lossy, 500 + round, sizes, order);
    if (lossy && rank == 1) RCHECK(changed > 0, "nothing was compressed");
    ch[0].barrier();
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// Comms closed with sends and receives in flight, then a fresh connection works.
TEST_P(Functional, CloseWithRequestsInFlight) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    for (int round = 0; round < 6; ++round) {
      Link l = connect_link(ctx, ch[0]);
      {
        Registered s(l.send, 8 << 20), r(l.recv, 8 << 20);
        for (int k = 0; k < 8; ++k) {
          fill(600, k, s.buf.data() + (k << 20), 1 << 20);
          void* req = nullptr;
          RCHECK_NCCL(
              net()->isend(l.send, s.buf.data() + (k << 20), 1 << 20, rank, s.mh, nullptr, &req));
          char* data = r.buf.data() + (k << 20);
          size_t size = 1 << 20;
          int tag = 1 - rank;
          RCHECK_NCCL(net()->irecv(l.recv, 1, reinterpret_cast<void**>(&data), &size, &tag, &r.mh,
                                   nullptr, &req));
        }
        ch[0].barrier();  // both ranks have posted everything
        // Close one side right away, the other after its peer did: both orders.
        if (round % 2 == rank) ch[0].barrier();
        net()->deregMr(l.send, s.mh);
        net()->deregMr(l.recv, r.mh);
        s.mh = r.mh = nullptr;
        l.close();
        if (round % 2 != rank) ch[0].barrier();
      }
    }
    Link l = connect_link(ctx, ch[0]);
    std::vector<size_t> sizes(8, 1 << 20);
    one_way(l, rank, lossy, 601, sizes);
    ch[0].barrier();
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// The sender closes after 4 messages; the receiver gets those 4 and then an error for the next
// receive within a bounded time, not a hang.
TEST_P(Functional, PeerClosesEarly) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    void* ctx = init_context();
    Link l = connect_link(ctx, ch[0]);
    if (rank == 0) {
      std::vector<size_t> sizes(4, 200000);
      one_way(l, 0, lossy, 700, sizes);
      RCHECK_NCCL(net()->closeSend(l.send));
      l.send = nullptr;
      ch[0].barrier();
    } else {
      one_way(l, 1, lossy, 700, std::vector<size_t>(4, 200000));
      ch[0].barrier();  // the sender has closed
      Registered mem(l.recv, 1 << 20);
      void* req = nullptr;
      char* data = mem.buf.data();
      size_t size = mem.buf.size();
      int tag = 0;
      auto start = Clock::now();
      ncclResult_t res = net()->irecv(l.recv, 1, reinterpret_cast<void**>(&data), &size, &tag,
                                      &mem.mh, nullptr, &req);
      while (res == ncclSuccess && Clock::now() - start < std::chrono::seconds(30)) {
        int done = 0;
        if (req == nullptr) {
          res = net()->irecv(l.recv, 1, reinterpret_cast<void**>(&data), &size, &tag, &mem.mh,
                             nullptr, &req);
          continue;
        }
        res = net()->test(req, &done, nullptr);
        RCHECK(!done, "a receive past the closed sender's last message completed");
      }
      const double took = std::chrono::duration<double>(Clock::now() - start).count();
      RCHECK(res != ncclSuccess, "no error %.1f s after the peer closed", took);
      RCHECK(took < 15, "the error took %.1f s", took);
    }
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

// A receiver that accepts and then never reads: the sender, retrying NULL sends without testing,
// gets an error naming the peer once NCCL_SQUEEZE_TIMEOUT_S passed without progress, in every
// threading mode (inline, this never fired: nothing made progress to notice the stall).
TEST_P(Functional, StalledReceiverIsReportedAfterTheTimeout) {
  const bool lossy = this->lossy();
  auto ranks = run_ranks(2, kRunTimeout, [lossy](int rank, const std::vector<Channel>& ch) {
    configure(lossy);
    setenv("NCCL_SQUEEZE_TIMEOUT_S", "2", 1);
    setenv("NCCL_SQUEEZE_STAGING_MB", "4", 1);
    void* ctx = init_context();
    Link l = connect_link(ctx, ch[0]);
    if (rank == 0) {
      // Sixteen distinct 1 MiB messages in turn: more than the stream history's window, so
      // that no message is sent as references to an earlier one (the socket must fill).
      constexpr size_t kMsg = 1 << 20, kDistinct = 16;
      Registered mem(l.send, kMsg * kDistinct);
      for (size_t k = 0; k < kDistinct; ++k)
        fill(800, (uint32_t)k, mem.buf.data() + k * kMsg, kMsg);
      std::vector<void*> reqs;
      auto start = Clock::now();
      ncclResult_t res = ncclSuccess;
      size_t sent = 0;
      while (res == ncclSuccess && Clock::now() - start < std::chrono::seconds(40)) {
        void* req = nullptr;
        res = net()->isend(l.send, mem.buf.data() + (sent % kDistinct) * kMsg, kMsg, 0, mem.mh,
                           nullptr, &req);
        if (res == ncclSuccess && req != nullptr) {
          reqs.push_back(req);
          ++sent;
        }
        if (reqs.size() == 8) {  // test the oldest now and then, as NCCL does
          int done = 0;
          res = net()->test(reqs.front(), &done, nullptr);
          if (res == ncclSuccess && done) reqs.erase(reqs.begin());
        }
        std::this_thread::yield();
      }
      const double took = std::chrono::duration<double>(Clock::now() - start).count();
      RCHECK(res != ncclSuccess,
             "no error after %.0f s (%zu messages) of a receiver that never reads", took, sent);
      RCHECK(took < 20, "the stall took %.1f s to be reported (TIMEOUT_S=2)", took);
      RCHECK(warned("no progress within NCCL_SQUEEZE_TIMEOUT_S", "127.0.0.1:"),
             "the stall warning does not name the peer");
      ch[0].barrier();
    } else {
      ch[0].barrier();  // never posted a receive
    }
    l.close();
    RCHECK_NCCL(net()->finalize(ctx));
  });
  ASSERT_TRUE(ranks);
}

INSTANTIATE_TEST_SUITE_P(Traffic, Functional, ::testing::Values(true, false), traffic_name);

}  // namespace
}  // namespace sqfunc
