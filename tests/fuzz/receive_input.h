// The input format of fuzz_receive (and of its seed writer, make_receive_seeds): what a raw peer
// writes on the sockets of one connection after a valid handshake, and how the receiving side
// drives the plugin meanwhile.
//
//   byte 0      flags: bits 0-2 receives to post - 1 (1..8); bit 3 post them all at once (else
//               one after the other, each once the previous one is done); bits 4-5 how the peer
//               ends (EndAction); bit 6 the receiver closes its comm early (after its first
//               completed receive); bit 7 each receive gets half the capacity of the one before
//   bytes 1-3   posted capacity of the first receive, little-endian, capped at kMaxCapacity
//   records     until the input ends:
//     op < kOpShutdown: write to socket op % (kSockets + 1) (kSockets: the control socket,
//                       0..kSockets-1: data socket i) the next len bytes, len = 2 bytes
//                       little-endian (clipped to what is left of the input)
//     kOpShutdown, s:   shutdown(SHUT_WR) of socket s % (kSockets + 1)
//     kOpDrive, n:      the receiver calls test() n more times before the peer writes on
//     other ops:        ignored (one byte)
//
// Every stream ends with the peer's sockets closed (EndAction), so the receiver must settle every
// receive (done or error) in bounded time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sqfuzz {

constexpr int kSockets = 2;                       // NCCL_SQUEEZE_SOCKETS of the listener
constexpr size_t kMaxCapacity = size_t{1} << 20;  // largest posted receive
constexpr size_t kPrefixBytes = 4;
constexpr uint8_t kOpShutdown = 0xf0;
constexpr uint8_t kOpDrive = 0xf1;

enum class EndAction : uint8_t {
  kClose = 0,         // close every socket (FIN)
  kReset = 1,         // close every socket with SO_LINGER 0 (RST)
  kCloseControl = 2,  // close the control socket, let the receiver run, then the data sockets
  kShutdownData = 3,  // shutdown(SHUT_WR) the data sockets, let the receiver run, then close all
};

struct Prefix {
  int receives = 1;
  bool post_all = true;
  EndAction end = EndAction::kClose;
  bool close_early = false;
  bool halve = false;
  size_t capacity = 0;
};

inline Prefix parse_prefix(const uint8_t* p) {
  Prefix x;
  x.receives = 1 + (p[0] & 7);
  x.post_all = (p[0] & 8) != 0;
  x.end = static_cast<EndAction>((p[0] >> 4) & 3);
  x.close_early = (p[0] & 0x40) != 0;
  x.halve = (p[0] & 0x80) != 0;
  x.capacity =
      static_cast<size_t>(p[1]) | static_cast<size_t>(p[2]) << 8 | static_cast<size_t>(p[3]) << 16;
  if (x.capacity > kMaxCapacity) x.capacity = kMaxCapacity;
  return x;
}

// Writer side (seed generator).
struct InputWriter {
  std::vector<uint8_t> bytes;

  void prefix(int receives, bool post_all, EndAction end, size_t capacity, bool close_early = false,
              bool halve = false) {
    bytes.clear();
    uint8_t f = static_cast<uint8_t>((receives - 1) & 7);
    if (post_all) f |= 8;
    f |= static_cast<uint8_t>(static_cast<uint8_t>(end) << 4);
    if (close_early) f |= 0x40;
    if (halve) f |= 0x80;
    bytes.push_back(f);
    for (int k = 0; k < 3; ++k) bytes.push_back(static_cast<uint8_t>(capacity >> (8 * k)));
  }
  // Writes n bytes to socket s (kSockets = the control socket), in records of at most 65535.
  void write(int s, const void* data, size_t n) {
    const uint8_t* c = static_cast<const uint8_t*>(data);
    do {
      size_t len = n < 65535 ? n : 65535;
      bytes.push_back(static_cast<uint8_t>(s));
      bytes.push_back(static_cast<uint8_t>(len));
      bytes.push_back(static_cast<uint8_t>(len >> 8));
      bytes.insert(bytes.end(), c, c + len);
      c += len;
      n -= len;
    } while (n > 0);
  }
  void shutdown(int s) {
    bytes.push_back(kOpShutdown);
    bytes.push_back(static_cast<uint8_t>(s));
  }
  void drive(uint8_t n) {
    bytes.push_back(kOpDrive);
    bytes.push_back(n);
  }
};

}  // namespace sqfuzz
