// The piece plan of a GPU message that streams through a staging window (stream_plan.h): every
// byte in exactly one piece, each socket's bytes in wire order, each consumer's pieces in the
// order it moves its chunks, and slots that stay inside the window and never overlap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "plugin/pipeline/stream_plan.h"
#include "plugin/transport/wire.h"

namespace squeeze::plugin {
namespace {

uint64_t seed_from_env() {
  const char* s = std::getenv("SQUEEZE_TEST_SEED");
  const uint64_t seed = s ? std::strtoull(s, nullptr, 0) : std::random_device{}();
  std::printf("random seed %llu (rerun with SQUEEZE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

void check_plan(uint32_t seq, uint64_t bytes, int n_sockets, int consumers, uint64_t window) {
  SCOPED_TRACE(::testing::Message()
               << "seq " << seq << " bytes " << bytes << " sockets " << n_sockets << " consumers "
               << consumers << " window " << window);
  const StreamPlan plan(seq, bytes, n_sockets, consumers, window);
  ASSERT_EQ(plan.piece_bytes() % kStreamPieceAlign, 0u);
  ASSERT_LE(plan.window_used(), window);
  // Where each socket's next byte must come from: its chunks, in chunk order (wire.h).
  const wire::ChunkPlan chunks = wire::plan_chunks(bytes, n_sockets);
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> socket_spans(n_sockets);
  for (uint32_t j = 0; j < chunks.count; ++j) {
    const uint64_t offset = uint64_t{j} * chunks.chunk_bytes;
    const uint64_t len = std::min<uint64_t>(chunks.chunk_bytes, bytes - offset);
    socket_spans[wire::socket_of_chunk(seq, j, n_sockets)].push_back({offset, offset + len});
  }
  std::vector<uint64_t> socket_next(n_sockets, 0);  // index into socket_spans, and its progress
  std::vector<uint64_t> socket_pos(n_sockets, 0);
  for (int s = 0; s < n_sockets; ++s) {
    if (!socket_spans[s].empty()) socket_pos[s] = socket_spans[s][0].first;
  }
  uint64_t covered = 0;
  for (int c = 0; c < consumers; ++c) {
    const uint64_t n = plan.pieces(c);
    int last_socket = -1;
    for (uint64_t k = 0; k < n; ++k) {
      StreamPiece p;
      ASSERT_TRUE(plan.piece(c, k, &p)) << "consumer " << c << " piece " << k;
      ASSERT_EQ(plan.consumer_of_socket(p.socket), c);
      ASSERT_GT(p.len, 0u);
      ASSERT_LE(p.len, plan.piece_bytes());
      // The consumer moves one socket's chunk to its end before the next (transfer order).
      if (p.socket != last_socket && last_socket >= 0) {
        ASSERT_EQ(socket_next[last_socket], socket_spans[last_socket].size())
            << "consumer " << c << " left socket " << last_socket << " part-way";
      }
      last_socket = p.socket;
      const size_t span = socket_next[p.socket];
      ASSERT_LT(span, socket_spans[p.socket].size());
      ASSERT_EQ(p.offset, socket_pos[p.socket]) << "socket " << p.socket << " out of wire order";
      socket_pos[p.socket] += p.len;
      ASSERT_LE(socket_pos[p.socket], socket_spans[p.socket][span].second);
      if (socket_pos[p.socket] == socket_spans[p.socket][span].second) {
        ++socket_next[p.socket];
        if (socket_next[p.socket] < socket_spans[p.socket].size())
          socket_pos[p.socket] = socket_spans[p.socket][socket_next[p.socket]].first;
      }
      covered += p.len;
      // Its slot lies in the window, in this consumer's own slots.
      const uint64_t slot = plan.slot_offset(c, k);
      ASSERT_EQ(slot % plan.piece_bytes(), 0u);
      ASSERT_LE(slot + plan.piece_bytes(), plan.window_used());
      ASSERT_EQ(slot / plan.piece_bytes() / kStreamSlots, static_cast<uint64_t>(c));
    }
    StreamPiece none;
    EXPECT_FALSE(plan.piece(c, n, &none));
  }
  EXPECT_EQ(covered, bytes);
  for (int s = 0; s < n_sockets; ++s) {
    EXPECT_EQ(socket_next[s], socket_spans[s].size()) << "socket " << s << " not finished";
  }
}

TEST(StreamPlan, EveryByteOnceInWireOrderWithinTheWindow) {
  // The plugin's extremes: 1 MiB staging (512 KiB window) with 64 socket cursors, the default
  // 16 MiB with the default 4 sockets and 2 helper threads, one socket.
  check_plan(0, (5 << 20) + 12, 64, 64, 512 << 10);
  check_plan(7, 1ull << 30, 4, 2, 8 << 20);
  check_plan(3, (9 << 20) + 3, 1, 1, 512 << 10);
  check_plan(5, (3 << 20) + 1, 3, 2, 512 << 10);  // a thread owns two of the three sockets
  std::mt19937_64 rng(seed_from_env());
  for (int k = 0; k < 400; ++k) {
    const int n_sockets = 1 + static_cast<int>(rng() % 64);
    const bool inline_progress = rng() % 2 == 0;
    const int consumers = inline_progress ? n_sockets : 1 + static_cast<int>(rng() % 16);
    const uint64_t window = uint64_t{512 << 10} << (rng() % 6);
    if (StreamPlan::min_window(consumers) > window) continue;
    const uint64_t bytes = window + 1 + rng() % (64ull << 20);
    check_plan(static_cast<uint32_t>(rng()), bytes, n_sockets, consumers, window);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace squeeze::plugin
