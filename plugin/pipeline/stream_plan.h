// How a passthrough message between GPU memory and the sockets moves through a staging window
// smaller than itself (the GPU pipeline's "stream", cuda_pipeline.h).
//
// NCCL sends registered user buffers in steps of up to NCCL_MAX_NET_SIZE (1 GiB), far above the
// pinned staging a connection has. Such a message is sent raw (the GPU codec takes chunks of at
// most kGpuMaxChunkBytes), and its bytes go between the device and the sockets piece by piece.
//
// The wire does not change: each data socket still carries its chunks (wire.h) whole and in
// order. Only each side's own staging is piecewise, so a sender and a receiver decide to stream
// on their own, and a streamed message reaches a host receiver as any raw message does.
//
// The pieces of a message are split among its consumers: the helper threads (a thread moves the
// chunks of the sockets s with s % threads == t, in chunk order) or, with inline progress, the
// socket cursors. Each consumer takes its chunks in chunk order, each cut into pieces of at most
// piece_bytes, and owns kStreamSlots slots of the window: its piece k uses slot k % kStreamSlots.
// A consumer's pieces are staged in the order it moves them, so no consumer ever waits for a
// slot held by a piece another consumer has not reached yet.
#pragma once

#include <cstdint>

#include "plugin/transport/wire.h"

namespace squeeze::plugin {

// Pieces in flight per consumer: one on the socket while the next is being copied.
constexpr int kStreamSlots = 2;
// Helper threads (THREADS <= 16) or data sockets (SOCKETS <= 64).
constexpr int kMaxStreamConsumers = 64;
// A piece is a whole number of these bytes (except a chunk's last).
constexpr uint64_t kStreamPieceAlign = 4096;

struct StreamPiece {
  int socket = 0;
  uint64_t offset = 0;  // in the message
  uint64_t len = 0;
};

class StreamPlan {
 public:
  StreamPlan() = default;
  // window_bytes: the staging the stream owns; consumers: helper threads, or sockets when inline.
  StreamPlan(uint32_t seq, uint64_t bytes, int n_sockets, int consumers, uint64_t window_bytes)
      : seq_(seq),
        bytes_(bytes),
        n_sockets_(n_sockets),
        consumers_(consumers),
        chunks_(wire::plan_chunks(bytes, n_sockets)) {
    uint64_t per = window_bytes / (static_cast<uint64_t>(consumers) * kStreamSlots);
    per -= per % kStreamPieceAlign;
    piece_bytes_ = per < kStreamPieceAlign ? kStreamPieceAlign : per;
  }

  // The window a plan needs at the least (a piece of kStreamPieceAlign per slot).
  static constexpr uint64_t min_window(int consumers) {
    return static_cast<uint64_t>(consumers) * kStreamSlots * kStreamPieceAlign;
  }

  uint64_t piece_bytes() const { return piece_bytes_; }
  int consumers() const { return consumers_; }
  int consumer_of_socket(int s) const { return s % consumers_; }
  // Bytes of the window the plan uses.
  uint64_t window_used() const {
    return static_cast<uint64_t>(consumers_) * kStreamSlots * piece_bytes_;
  }
  // Where consumer c's piece k lies in the window.
  uint64_t slot_offset(int c, uint64_t k) const {
    return (static_cast<uint64_t>(c) * kStreamSlots + k % kStreamSlots) * piece_bytes_;
  }

  uint64_t pieces(int c) const {
    uint64_t n = 0;
    for (uint32_t j = 0; j < chunks_.count; ++j) {
      if (consumer_of_socket(socket(j)) == c) n += (chunk_len(j) + piece_bytes_ - 1) / piece_bytes_;
    }
    return n;
  }

  // Consumer c's piece k; false when it has no more.
  bool piece(int c, uint64_t k, StreamPiece* out) const {
    for (uint32_t j = 0; j < chunks_.count; ++j) {
      if (consumer_of_socket(socket(j)) != c) continue;
      const uint64_t len = chunk_len(j);
      const uint64_t n = (len + piece_bytes_ - 1) / piece_bytes_;
      if (k >= n) {
        k -= n;
        continue;
      }
      out->socket = socket(j);
      out->offset = static_cast<uint64_t>(j) * chunks_.chunk_bytes + k * piece_bytes_;
      const uint64_t left = len - k * piece_bytes_;
      out->len = left < piece_bytes_ ? left : piece_bytes_;
      return true;
    }
    return false;
  }

 private:
  int socket(uint32_t j) const { return wire::socket_of_chunk(seq_, j, n_sockets_); }
  uint64_t chunk_len(uint32_t j) const {
    const uint64_t offset = static_cast<uint64_t>(j) * chunks_.chunk_bytes;
    return bytes_ - offset < chunks_.chunk_bytes ? bytes_ - offset : chunks_.chunk_bytes;
  }

  uint32_t seq_ = 0;
  uint64_t bytes_ = 0;
  int n_sockets_ = 1;
  int consumers_ = 1;
  wire::ChunkPlan chunks_{0, 0};
  uint64_t piece_bytes_ = kStreamPieceAlign;
};

}  // namespace squeeze::plugin
