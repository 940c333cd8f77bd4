// Hostile input against a listening plugin process: garbage, wrong nonces, absurd sizes,
// truncated frames, partial connection groups, connectors that die mid-handshake, 500 churned and
// 1,100 idle connections (past the process's descriptor limit). After each attack a legitimate
// connection through the same listen comm moves 8 messages bit-exact, and the victim's descriptors
// and heap are back where they were. Rank 0 is the victim (the plugin, receiving), rank 1 the
// attacker, which then connects legitimately through its own copy of the plugin.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/resource.h>

#include <dirent.h>

#include <random>
#include <string>

#include "../plugin/raw_peer.h"
#include "ranks.h"

namespace sqfunc {
namespace {

using sqtest::RawSender;
namespace wire = squeeze::plugin::wire;

constexpr int kHandshakeTimeoutS = 2;
constexpr int kVictimFdRoom = 40;  // descriptors left to the victim for the idle flood
constexpr size_t kLegitMessages = 8;
constexpr size_t kLegitBytes = 100000;
constexpr size_t kMaxWarningsPerRound = 2 * (10 + 1 + 2);

int open_descriptors() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  RCHECK(d != nullptr, "cannot list /proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory itself
}

size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

void legit_payload(uint32_t round, uint32_t k, std::vector<char>* out) {
  out->resize(kLegitBytes);
  std::mt19937 rng(round * 7919u + k);
  for (char& c : *out) c = static_cast<char>(rng());
}

// What the attacker tells the victim after an attack: how many of the connections the victim is
// about to accept are hostile ones that completed the handshake (their first message must fail).
struct AttackDone {
  uint32_t hostile_comms;
};

// ---- the attacker's side ----

int nonblocking_connect(const wire::Handle& h) {
  int fd = ::socket(h.addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ::connect(fd, &h.addr.sa, squeeze::plugin::sockaddr_len(h.addr));
  return fd;
}

void close_all(std::vector<int>* fds) {
  for (int fd : *fds) ::close(fd);
  fds->clear();
}

// Runs one attack against handle h. Returns the number of hostile connections it completed
// (their handshake was acknowledged), which the victim then sees as accepted comms.
uint32_t attack(int which, const wire::Handle& h) {
  std::mt19937_64 rng(static_cast<uint64_t>(which) * 31337);
  switch (which) {
    case 0: {  // garbage: random bytes, closed at once, and held open
      std::vector<int> held;
      for (int i = 0; i < 20; ++i) {
        int fd = sqtest::raw_connect(h, h.nonce, 0, 0);  // a valid Hello first does not matter
        ::close(fd);
        int g = nonblocking_connect(h);
        std::vector<char> junk(1000 + rng() % 5000);
        for (char& c : junk) c = static_cast<char>(rng());
        pollfd p{g, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        ::send(g, junk.data(), junk.size(), MSG_NOSIGNAL);
        if (i % 2) {
          held.push_back(g);
        } else {
          ::close(g);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      close_all(&held);
      return 0;
    }
    case 1: {  // wrong nonce and bad magic, version, index
      for (int i = 0; i < 10; ++i) {
        int fd = sqtest::raw_connect(h, h.nonce ^ (rng() | 1), static_cast<uint16_t>(i % 2), 5);
        RCHECK(fd >= 0, "connect failed");
        wire::Ack ack{};
        RCHECK(!sqtest::read_all(fd, &ack, sizeof(ack)), "a wrong nonce got an Ack");
        ::close(fd);
      }
      for (uint32_t bad : {0u, 1u, 2u}) {
        int fd = ::socket(h.addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        RCHECK(::connect(fd, &h.addr.sa, squeeze::plugin::sockaddr_len(h.addr)) == 0, "connect");
        wire::Hello hello{wire::kHelloMagic, h.version, 0, h.nonce, 9};
        if (bad == 0) hello.magic ^= 1;
        if (bad == 1) hello.version = 999;
        if (bad == 2) hello.index = 1000;
        sqtest::write_all(fd, &hello, sizeof(hello));
        wire::Ack ack{};
        RCHECK(!sqtest::read_all(fd, &ack, sizeof(ack)), "a bad Hello got an Ack");
        ::close(fd);
      }
      return 0;
    }
    case 2: {  // absurd sizes in message headers after a valid handshake
      const uint64_t absurd[][2] = {{~0ull, 16}, {1ull << 62, 1ull << 62}, {100, ~0ull}, {8, 4}};
      for (const auto& a : absurd) {
        RawSender raw;
        RCHECK(raw.open(h, rng()) && raw.finish_handshake(), "handshake refused");
        raw.send_header(a[1] == 4 ? wire::PayloadKind::kRaw : wire::PayloadKind::kFramed, a[0],
                        a[1]);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
      return 4;
    }
    case 3: {  // truncated frames: a header, part of its payload, then the sender goes away
      for (int i = 0; i < 3; ++i) {
        RawSender raw;
        RCHECK(raw.open(h, rng()) && raw.finish_handshake(), "handshake refused");
        std::vector<char> frame(60000, 'x');
        raw.send_header(wire::PayloadKind::kFramed, 90000, frame.size());
        raw.send_payload(frame.data(), frame.size(), 1000 + 20000 * static_cast<uint64_t>(i));
      }
      return 3;
    }
    case 4: {  // partial groups: control only, all but one data socket, and a death mid-Hello
      std::vector<int> held;
      held.push_back(sqtest::raw_connect(h, h.nonce, 0, 4001));
      for (int i = 0; i < h.n_sockets; ++i)
        held.push_back(sqtest::raw_connect(h, h.nonce, static_cast<uint16_t>(i), 4002));
      for (int i = 0; i < 5; ++i) {
        int fd = ::socket(h.addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ::connect(fd, &h.addr.sa, squeeze::plugin::sockaddr_len(h.addr));
        wire::Hello hello{wire::kHelloMagic, h.version, 0, h.nonce, 4003u + i};
        sqtest::write_all(fd, &hello, 7);  // part of a Hello, then gone
        ::close(fd);
      }
      // Held until after the legitimate connection (which must get past them), then closed with
      // everything else the attack opened.
      return 0;
    }
    case 5: {  // 500 churned connections: connect, maybe a partial Hello, close
      for (int i = 0; i < 500; ++i) {
        int fd = nonblocking_connect(h);
        if (i % 3 == 0) {
          pollfd p{fd, POLLOUT, 0};
          ::poll(&p, 1, 1000);
          wire::Hello hello{wire::kHelloMagic, h.version, 0, h.nonce, 5000u + i};
          ::send(fd, &hello, i % 2 ? sizeof(hello) : 10, MSG_NOSIGNAL);
        }
        ::close(fd);
      }
      return 0;
    }
    case 6: {  // 1,100 idle connections, held until after the legitimate one
      for (int i = 0; i < 1100; ++i)
        RCHECK(nonblocking_connect(h) >= 0, "attacker out of descriptors at %d", i);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      return 0;
    }
  }
  return 0;
}

constexpr int kAttacks = 7;
const char* const kAttackNames[kAttacks] = {
    "garbage",     "wrong nonce / bad Hello", "absurd sizes", "truncated frames", "partial groups",
    "500 churned", "1,100 idle (EMFILE)"};

TEST(Hostile, ListenerSurvivesAndLegitimateConnectionsStillWork) {
  auto ranks = run_ranks(
      2, 300,
      [](int rank, const std::vector<Channel>& ch) {
        setenv("NCCL_SQUEEZE_HANDSHAKE_TIMEOUT_S", std::to_string(kHandshakeTimeoutS).c_str(), 1);
        setenv("NCCL_SQUEEZE_TIMEOUT_S", "5", 1);
        void* ctx = init_context();
        if (rank == 0) {
          // ---- the victim ----
          char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
          void* listen = nullptr;
          RCHECK_NCCL(net()->listen(ctx, 0, handle, &listen));
          ch[0].send(handle, sizeof(handle));
          int baseline_fds = -1;
          size_t baseline_heap = 0;
          size_t warnings_before = 0;
          std::vector<char> want, buf(kLegitBytes);
          // Round 0 is a warm-up legitimate connection; rounds 1..kAttacks follow an attack each.
          for (int round = 0; round <= kAttacks; ++round) {
            if (round == kAttacks) {
              // The idle flood: the victim may open only a few more descriptors than it has now, so
              // accept fails with EMFILE long before the flood is over.
              rlimit lim{};
              getrlimit(RLIMIT_NOFILE, &lim);
              lim.rlim_cur = static_cast<rlim_t>(open_descriptors() + kVictimFdRoom);
              RCHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
            }
            ch[0].barrier();
            uint32_t hostile_total = 0, hostile_seen = 0;
            bool told = false;
            void* legit = nullptr;
            auto deadline = Clock::now() + std::chrono::seconds(60);
            while (legit == nullptr) {
              RCHECK(Clock::now() < deadline, "round %d: no legitimate connection within 60 s",
                     round);
              if (!told) {
                pollfd p{ch[0].fd, POLLIN, 0};
                if (::poll(&p, 1, 0) > 0) {
                  AttackDone d{};
                  ch[0].recv(&d, sizeof(d));
                  hostile_total = d.hostile_comms;
                  told = true;
                }
              }
              void* comm = nullptr;
              RCHECK_NCCL(net()->accept(listen, &comm, nullptr));
              if (comm == nullptr) continue;
              if (!told) {  // the count is sent before the legitimate connection starts
                pollfd p{ch[0].fd, POLLIN, 0};
                if (::poll(&p, 1, 0) > 0) {
                  AttackDone d{};
                  ch[0].recv(&d, sizeof(d));
                  hostile_total = d.hostile_comms;
                  told = true;
                }
              }
              if (!told || hostile_seen < hostile_total) {
                // A hostile sender: its first message must fail, in bounded time, and the comm
                // close cleanly.
                void* mh = nullptr;
                RCHECK_NCCL(net()->regMr(comm, buf.data(), buf.size(), NCCL_PTR_HOST, &mh));
                void* req = nullptr;
                char* data = buf.data();
                size_t size = buf.size();
                int tag = 1;
                ncclResult_t res = net()->irecv(comm, 1, reinterpret_cast<void**>(&data), &size,
                                                &tag, &mh, nullptr, &req);
                auto start = Clock::now();
                while (res == ncclSuccess && Clock::now() - start < std::chrono::seconds(15)) {
                  int done = 0;
                  res = net()->test(req, &done, nullptr);
                  RCHECK(!done, "round %d: a hostile message was delivered", round);
                }
                RCHECK(res != ncclSuccess, "round %d: a hostile message did not fail in 15 s",
                       round);
                net()->deregMr(comm, mh);
                RCHECK_NCCL(net()->closeRecv(comm));
                ++hostile_seen;
                continue;
              }
              legit = comm;
            }
            void* mh = nullptr;
            RCHECK_NCCL(net()->regMr(legit, buf.data(), buf.size(), NCCL_PTR_HOST, &mh));
            for (uint32_t k = 0; k < kLegitMessages; ++k) {
              void* req = nullptr;
              char* data = buf.data();
              size_t size = buf.size();
              int tag = 1;
              RCHECK_NCCL(net()->irecv(legit, 1, reinterpret_cast<void**>(&data), &size, &tag, &mh,
                                       nullptr, &req));
              RCHECK(req != nullptr, "irecv refused");
              int done = 0, got = 0;
              auto start = Clock::now();
              while (!done) {
                RCHECK_NCCL(net()->test(req, &done, &got));
                RCHECK(Clock::now() - start < std::chrono::seconds(30),
                       "round %d: message %u stuck", round, k);
              }
              legit_payload(static_cast<uint32_t>(round), k, &want);
              RCHECK(got == static_cast<int>(kLegitBytes) &&
                         std::memcmp(want.data(), buf.data(), kLegitBytes) == 0,
                     "round %d: message %u not bit-exact", round, k);
            }
            net()->deregMr(legit, mh);
            RCHECK_NCCL(net()->closeRecv(legit));
            ch[0].barrier();  // the messages are in
            ch[0].barrier();  // the attacker has closed everything it held
            // Let the listener drop what is left of the attack (handshake deadline), then compare.
            auto settle = Clock::now() + std::chrono::seconds(kHandshakeTimeoutS + 3);
            int fds = open_descriptors();
            while (Clock::now() < settle && (baseline_fds < 0 || fds > baseline_fds)) {
              void* comm = nullptr;
              RCHECK_NCCL(net()->accept(listen, &comm, nullptr));
              RCHECK(comm == nullptr, "round %d: an unexpected connection was accepted", round);
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              fds = open_descriptors();
            }
            const size_t heap = heap_in_use();
            const size_t warnings = rank_log().warnings.size();
            std::printf("round %d (%s): %d descriptors, %zu heap bytes in use, %zu warnings\n",
                        round, round ? kAttackNames[round - 1] : "warm-up", fds, heap, warnings);
            std::fflush(stdout);
            // A flood does not flood the log: refusals and drops are named at most
            // kWarningsPerMinute (10) a minute plus a line counting the rest, descriptor
            // exhaustion once a minute at its start and its end. A round may straddle a minute.
            RCHECK(warnings - warnings_before <= kMaxWarningsPerRound,
                   "round %d: %zu warnings logged (at most %zu)", round, warnings - warnings_before,
                   kMaxWarningsPerRound);
            warnings_before = warnings;
            if (round == 0) {
              baseline_fds = fds;
              baseline_heap = heap;
            } else {
              RCHECK(fds == baseline_fds, "after '%s': %d descriptors open, %d before",
                     kAttackNames[round - 1], fds, baseline_fds);
              RCHECK(heap <= baseline_heap + (256u << 10),
                     "after '%s': %zu bytes of heap in use, %zu before", kAttackNames[round - 1],
                     heap, baseline_heap);
            }
          }
          RCHECK_NCCL(net()->closeListen(listen));
        } else {
          // ---- the attacker, then a legitimate sender ----
          char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
          ch[0].recv(handle, sizeof(handle));
          wire::Handle h{};
          std::memcpy(&h, handle, sizeof(h));
          for (int round = 0; round <= kAttacks; ++round) {
            ch[0].barrier();
            AttackDone d{round > 0 ? attack(round - 1, h) : 0u};
            ch[0].send(&d, sizeof(d));
            // The legitimate connection, with a fresh copy of the handle (connect keeps its state
            // in the handle bytes).
            char copy[NCCL_NET_HANDLE_MAXSIZE];
            std::memcpy(copy, handle, sizeof(copy));
            void* send = nullptr;
            auto deadline = Clock::now() + std::chrono::seconds(60);
            while (send == nullptr) {
              RCHECK_NCCL(net()->connect(ctx, 0, copy, &send, nullptr));
              RCHECK(Clock::now() < deadline, "round %d: connect did not finish", round);
            }
            std::vector<char> msg(kLegitBytes * kLegitMessages);
            void* mh = nullptr;
            RCHECK_NCCL(net()->regMr(send, msg.data(), msg.size(), NCCL_PTR_HOST, &mh));
            std::vector<void*> reqs;
            for (uint32_t k = 0; k < kLegitMessages; ++k) {
              std::vector<char> payload;
              legit_payload(static_cast<uint32_t>(round), k, &payload);
              char* at = msg.data() + k * kLegitBytes;
              std::memcpy(at, payload.data(), kLegitBytes);
              void* req = nullptr;
              while (req == nullptr)
                RCHECK_NCCL(net()->isend(send, at, kLegitBytes, 1, mh, nullptr, &req));
              reqs.push_back(req);
            }
            for (void* req : reqs) {
              int done = 0;
              while (!done) RCHECK_NCCL(net()->test(req, &done, nullptr));
            }
            ch[0].barrier();  // wait: the victim has the messages before anything is closed
            net()->deregMr(send, mh);
            RCHECK_NCCL(net()->closeSend(send));
            // Close what the attack kept open.
            for (int fd = 3; fd < 65536; ++fd) {
              sockaddr_storage peer{};
              socklen_t len = sizeof(peer);
              if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
              if (peer.ss_family != h.addr.sa.sa_family ||
                  reinterpret_cast<sockaddr_in*>(&peer)->sin_port != h.addr.in4.sin_port)
                continue;
              ::close(fd);
            }
            ch[0].barrier();
          }
        }
        RCHECK_NCCL(net()->finalize(ctx));
      },
      1);
  ASSERT_TRUE(ranks);
}

}  // namespace
}  // namespace sqfunc
