// Everything the TCP transport puts on the wire or into NCCL's connection handle. All fields are
// in the host's byte order, which is little-endian on every platform NCCL supports (asserted).
//
// Connection setup: the listener's handle (<= 128 bytes) carries its address, a random nonce and
// the socket layout. The connector opens 1 control socket and n_sockets data sockets and sends a
// Hello on each (index 0 = control); the listener refuses (closes) any socket whose Hello has the
// wrong magic, protocol version or nonce, and answers the complete group with an Ack on the
// control socket carrying its staging capacity and (version 3) the frame capabilities its decoder
// has: a sender uses no other (a version 2 receiver decodes version 1 frames only).
//
// Messages: per NCCL send, wire_bytes of payload split into chunks of max(kMinChunkBytes,
// ceil(wire_bytes / n_sockets)) bytes; chunk j of message seq travels on data socket
// (seq + j) % n_sockets. The message's MsgHeader travels on the socket of chunk 0, right before
// it (so a message of one chunk is one write and one packet train, not two). A raw payload is
// the user's bytes; a framed one is one self-describing codec frame (docs/FORMAT.md) that
// decodes to original_bytes. After the handshake nothing is sent on the control socket: it
// stays open so that each side sees the other hang up even while no message is in flight.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nccl_abi/net.h"
#include "plugin/transport/socket.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "wire structs assume little-endian");

namespace squeeze::plugin::wire {

// 3: the Ack carries the receiver's decoder capabilities (squeeze::Capability bits) and every
//    message header the sender's tag (grouped receives match on it).
// 2: message headers on the data socket of chunk 0 (1: on the control socket).
constexpr uint16_t kProtocolVersion = 3;
// The oldest version this plugin still speaks. The handle carries the listener's version; the
// connector speaks min(that, its own) and says so in its Hellos; the Ack repeats it.
constexpr uint16_t kMinProtocolVersion = 2;
constexpr uint32_t kHandleMagic = 0x485a5153;  // "SQZH"
constexpr uint32_t kHelloMagic = 0x435a5153;   // "SQZC"
constexpr uint32_t kAckMagic = 0x415a5153;     // "SQZA"
constexpr uint32_t kMsgMagic = 0x4d5a5153;     // "SQZM"

struct Handle {
  uint32_t magic;
  uint16_t version;
  uint8_t n_sockets;  // data sockets, chosen by the listener
  uint8_t n_threads;  // helper threads per side, chosen by the listener (0: inline progress)
  uint64_t nonce;
  SockAddr addr;
  uint32_t reserved;
  // Connector state: NCCL passes the same handle bytes to every connect() retry (0 at first).
  uint64_t connector;
};
static_assert(sizeof(Handle) <= NCCL_NET_HANDLE_MAXSIZE, "handle must fit NCCL's 128 bytes");

struct Hello {
  uint32_t magic;
  uint16_t version;
  uint16_t index;  // 0 = control, 1..n_sockets = data socket index + 1
  uint64_t nonce;
  uint64_t token;  // random per connect attempt: groups the sockets of one connection
};
static_assert(sizeof(Hello) == 24, "");

struct Ack {
  uint32_t magic;
  uint16_t version;
  uint16_t status;         // 0 = accepted
  uint64_t staging_bytes;  // receiver's staging capacity: the largest frame it can take
  uint64_t caps;           // version >= 3: what the receiver decodes (Capability bits); 0 before
};
static_assert(sizeof(Ack) == 24, "");

enum class PayloadKind : uint8_t { kRaw = 0, kFramed = 1 };

struct MsgHeader {
  uint32_t magic;
  uint8_t kind;  // PayloadKind
  uint8_t reserved8[3];
  uint32_t seq;             // message number on this connection, from 0
  int32_t tag;              // version >= 3: the tag the sender posted the message with (0 before)
  uint64_t original_bytes;  // bytes delivered to the receiver's buffer
  uint64_t wire_bytes;      // payload bytes that follow on the data sockets
};
static_assert(sizeof(MsgHeader) == 32, "");

constexpr size_t kMinChunkBytes = size_t{64} << 10;

struct ChunkPlan {
  uint64_t chunk_bytes;
  uint32_t count;
};

inline ChunkPlan plan_chunks(uint64_t wire_bytes, int n_sockets) {
  if (wire_bytes == 0) return {0, 0};
  uint64_t per =
      (wire_bytes + static_cast<uint64_t>(n_sockets) - 1) / static_cast<uint64_t>(n_sockets);
  uint64_t chunk = per < kMinChunkBytes ? kMinChunkBytes : per;
  return {chunk, static_cast<uint32_t>((wire_bytes + chunk - 1) / chunk)};
}

inline int socket_of_chunk(uint32_t seq, uint32_t chunk, int n_sockets) {
  return static_cast<int>((static_cast<uint64_t>(seq) + chunk) % static_cast<uint64_t>(n_sockets));
}

// Chunk `index` of a message: bytes [offset, offset + len) of its payload.
struct ChunkSpan {
  uint32_t index;
  uint64_t offset;
  uint64_t len;
};

// The first chunk numbered `from` or later of message seq that travels on data socket s. False
// when there is none (every socket passes every message, with or without a chunk of it).
inline bool next_chunk_on_socket(const ChunkPlan& plan, uint64_t wire_bytes, uint32_t seq,
                                 uint32_t from, int s, int n_sockets, ChunkSpan* out) {
  for (uint32_t j = from; j < plan.count; ++j) {
    if (socket_of_chunk(seq, j, n_sockets) != s) continue;
    out->index = j;
    out->offset = static_cast<uint64_t>(j) * plan.chunk_bytes;
    out->len =
        wire_bytes - out->offset < plan.chunk_bytes ? wire_bytes - out->offset : plan.chunk_bytes;
    return true;
  }
  return false;
}

// The data socket that carries message seq's header (before its chunk 0, if any).
inline int header_socket(uint32_t seq, int n_sockets) {
  return socket_of_chunk(seq, 0, n_sockets);
}

}  // namespace squeeze::plugin::wire
