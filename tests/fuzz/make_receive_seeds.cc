// Writes the seed corpus of fuzz_receive into the directory given as argv[1]: valid streams of
// messages as a Squeeze sender puts them on the wire (plugin/transport/wire.h: a MsgHeader right
// before chunk 0 on the socket of chunk 0, chunks striped over the data sockets), raw and framed
// (codec frames of every dtype and bound mode), from empty messages to ones of several chunks,
// with the receiver's options (receives posted at once or one by one, capacities, early close) and
// the peer's ways of ending (receive_input.h).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "plugin/transport/wire.h"
#include "squeeze/codec.h"
#include "tests/fuzz/receive_input.h"

namespace {

namespace wire = squeeze::plugin::wire;
using sqfuzz::EndAction;
using sqfuzz::InputWriter;
using sqfuzz::kSockets;

// One message of the stream: header, then its payload striped as wire.h says.
struct Stream {
  InputWriter w;
  uint32_t seq = 0;

  void message(wire::PayloadKind kind, uint64_t original, const std::vector<uint8_t>& payload) {
    wire::MsgHeader h{};
    h.magic = wire::kMsgMagic;
    h.kind = static_cast<uint8_t>(kind);
    h.seq = seq;
    h.original_bytes = original;
    h.wire_bytes = payload.size();
    const int hs = wire::header_socket(seq, kSockets);
    const wire::ChunkPlan plan = wire::plan_chunks(payload.size(), kSockets);
    if (plan.count == 0) w.write(hs, &h, sizeof(h));
    for (uint32_t j = 0; j < plan.count; ++j) {
      const uint64_t off = j * plan.chunk_bytes;
      const uint64_t len =
          payload.size() - off < plan.chunk_bytes ? payload.size() - off : plan.chunk_bytes;
      std::vector<uint8_t> bytes;
      if (j == 0) {
        const auto* hp = reinterpret_cast<const uint8_t*>(&h);
        bytes.assign(hp, hp + sizeof(h));
      }
      bytes.insert(bytes.end(), payload.begin() + static_cast<long>(off),
                   payload.begin() + static_cast<long>(off + len));
      w.write(wire::socket_of_chunk(seq, j, kSockets), bytes.data(), bytes.size());
    }
    ++seq;
  }
  void raw(const std::vector<uint8_t>& bytes) {
    message(wire::PayloadKind::kRaw, bytes.size(), bytes);
  }
  // Compresses `bytes` (elements of dtype) and sends the frame.
  bool framed(const std::vector<uint8_t>& bytes, squeeze::DType dtype, squeeze::BoundMode mode,
              double bound, uint32_t caps = squeeze::kCapsAll & ~squeeze::kCapHistory) {
    squeeze::CodecParams p;
    p.dtype = dtype;
    p.mode = mode;
    p.bound = bound;
    p.caps = caps;
    std::vector<uint8_t> frame(squeeze::max_frame_bytes(bytes.size()));
    size_t fb = 0;
    if (squeeze::compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb) !=
        squeeze::Status::kOk)
      return false;
    frame.resize(fb);
    message(wire::PayloadKind::kFramed, bytes.size(), frame);
    return true;
  }
};

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Embedding-like floats (some repeated vectors), as dtype.
std::vector<uint8_t> floats(size_t n, squeeze::DType dtype, uint32_t seed, float scale = 0.1f,
                            bool constant = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < n; ++i) {
    float v = constant ? 0.75f : (i / 16) % 4 == 0 ? 0.5f + 0.01f * (i % 16) : normal(rng);
    if (i == 77) v = NAN;
    uint32_t u;
    std::memcpy(&u, &v, 4);
    if (dtype == squeeze::DType::kF32) {
      for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(u >> (8 * k)));
    } else {
      // bf16 by truncation; f16 by a plain conversion of normal-range values (enough for seeds)
      uint16_t h;
      if (dtype == squeeze::DType::kBF16) {
        h = static_cast<uint16_t>(u >> 16);
      } else if (std::isnan(v)) {
        h = 0x7e00;
      } else {
        const uint32_t sign = (u >> 16) & 0x8000;
        const int e = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
        h = e <= 0    ? static_cast<uint16_t>(sign)
            : e >= 31 ? static_cast<uint16_t>(sign | 0x7c00)
                      : static_cast<uint16_t>(sign | (e << 10) | ((u >> 13) & 0x3ff));
      }
      out.push_back(static_cast<uint8_t>(h));
      out.push_back(static_cast<uint8_t>(h >> 8));
    }
  }
  return out;
}

bool save(const std::string& dir, const std::string& name, const InputWriter& w) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(w.bytes.data(), 1, w.bytes.size(), f) == w.bytes.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  using squeeze::BoundMode;
  using squeeze::DType;
  int count = 0;
  bool ok = true;
  auto emit = [&](const std::string& name, Stream& s) {
    ok = ok && save(dir, name, s.w);
    ++count;
  };

  {  // one raw message
    Stream s;
    s.w.prefix(1, true, EndAction::kClose, 4096);
    s.raw(random_bytes(1000, 1));
    emit("raw_one", s);
  }
  {  // raw messages of odd sizes, empty ones included, all posted at once
    Stream s;
    s.w.prefix(5, true, EndAction::kClose, 8192);
    for (size_t n : {0, 1, 3000, 17, 0}) s.raw(random_bytes(n, static_cast<uint32_t>(n)));
    emit("raw_sizes", s);
  }
  {  // posted one after the other, with the receiver driven in between
    Stream s;
    s.w.prefix(3, false, EndAction::kClose, 2048);
    s.raw(random_bytes(2048, 2));
    s.w.drive(4);
    s.raw(random_bytes(100, 3));
    s.w.drive(4);
    s.raw(random_bytes(2047, 4));
    emit("raw_one_by_one", s);
  }
  {  // a raw message of two chunks (over both data sockets)
    Stream s;
    s.w.prefix(1, true, EndAction::kClose, 100000);
    s.raw(random_bytes(100000, 5));
    emit("raw_two_chunks", s);
  }
  // One frame of each dtype and bound mode.
  const struct {
    const char* name;
    DType dtype;
    BoundMode mode;
    double bound;
  } frames[] = {
      {"f32_abs", DType::kF32, BoundMode::kAbs, 1e-3},
      {"f32_rel", DType::kF32, BoundMode::kRel, 1e-2},
      {"f32_local", DType::kF32, BoundMode::kLocal, 1.96e-3},
      {"f16_local", DType::kF16, BoundMode::kLocal, 1e-2},
      {"f16_abs", DType::kF16, BoundMode::kAbs, 1e-3},
      {"bf16_rel", DType::kBF16, BoundMode::kRel, 1e-2},
      {"bf16_local", DType::kBF16, BoundMode::kLocal, 1.96e-3},
      {"bytes", DType::kBytes, BoundMode::kAbs, 1e-3},
  };
  for (const auto& f : frames) {
    Stream s;
    const size_t n = 4096;
    s.w.prefix(1, true, EndAction::kClose, n * 4);
    ok = ok && s.framed(floats(n, f.dtype, 7), f.dtype, f.mode, f.bound);
    emit(std::string("framed_") + f.name, s);
  }
  {  // version 1 frames only (a version 1 receiver's capabilities)
    Stream s;
    s.w.prefix(2, true, EndAction::kClose, 8192);
    ok = ok && s.framed(floats(2000, DType::kF32, 8), DType::kF32, BoundMode::kAbs, 1e-3,
                        squeeze::kCapV1);
    ok = ok && s.framed(floats(1000, DType::kF16, 9), DType::kF16, BoundMode::kRel, 1e-2,
                        squeeze::kCapV1);
    emit("framed_v1", s);
  }
  {  // a constant frame that decodes to 256 KiB
    Stream s;
    s.w.prefix(1, true, EndAction::kClose, 256 << 10);
    ok = ok && s.framed(floats(64 << 10, DType::kF32, 10, 0.1f, true), DType::kF32,
                        BoundMode::kLocal, 1e-3);
    emit("framed_constant_256k", s);
  }
  {  // a frame of more than one chunk (tight bound: little compression)
    Stream s;
    s.w.prefix(1, true, EndAction::kClose, 100 << 10);
    ok =
        ok && s.framed(floats(25 << 10, DType::kF32, 11, 1.0f), DType::kF32, BoundMode::kAbs, 1e-7);
    emit("framed_two_chunks", s);
  }
  {  // raw and framed mixed, the peer resets at the end
    Stream s;
    s.w.prefix(6, true, EndAction::kReset, 16384);
    for (uint32_t k = 0; k < 6; ++k) {
      if (k % 2) {
        s.raw(random_bytes(1000 + 500 * k, 20 + k));
      } else {
        ok = ok && s.framed(floats(2048 + 100 * k, DType::kF32, 20 + k), DType::kF32,
                            BoundMode::kLocal, 1.96e-3);
      }
    }
    emit("mixed_reset", s);
  }
  {  // the receiver closes its comm after its first receive, more in flight
    Stream s;
    s.w.prefix(4, true, EndAction::kClose, 8192, /*close_early=*/true);
    for (uint32_t k = 0; k < 4; ++k)
      ok = ok && s.framed(floats(2048, DType::kF32, 30 + k), DType::kF32, BoundMode::kRel, 1e-2);
    emit("close_early", s);
  }
  {  // halving capacities: the second message fits, the third is truncated (an error)
    Stream s;
    s.w.prefix(3, true, EndAction::kClose, 8192, false, /*halve=*/true);
    s.raw(random_bytes(8000, 40));
    s.raw(random_bytes(4000, 41));
    s.raw(random_bytes(4000, 42));
    emit("halve_truncated", s);
  }
  {  // more receives than messages; the peer closes its control socket first
    Stream s;
    s.w.prefix(4, false, EndAction::kCloseControl, 8192);
    s.raw(random_bytes(500, 50));
    ok = ok && s.framed(floats(1500, DType::kBF16, 51), DType::kBF16, BoundMode::kLocal, 1e-2);
    emit("close_control_first", s);
  }
  {  // the last message cut short; the peer shuts its data sockets down
    Stream s;
    s.w.prefix(2, true, EndAction::kShutdownData, 8192);
    s.raw(random_bytes(3000, 60));
    Stream t;  // the second message alone, then cut
    t.seq = 1;
    t.w.prefix(1, true, EndAction::kClose, 0);
    ok = ok && t.framed(floats(1800, DType::kF32, 61), DType::kF32, BoundMode::kAbs, 1e-3);
    s.w.bytes.insert(s.w.bytes.end(), t.w.bytes.begin() + sqfuzz::kPrefixBytes,
                     t.w.bytes.begin() + static_cast<long>(t.w.bytes.size() / 2));
    emit("truncated_shutdown", s);
  }
  {  // a data socket shut down mid-stream
    Stream s;
    s.w.prefix(3, true, EndAction::kClose, 4096);
    s.raw(random_bytes(1000, 70));
    s.w.shutdown(1);
    s.raw(random_bytes(1000, 71));
    s.raw(random_bytes(1000, 72));
    emit("shutdown_socket", s);
  }
  if (!ok) {
    std::fprintf(stderr, "failed to write the seeds\n");
    return 1;
  }
  std::printf("wrote %d seeds to %s\n", count, dir.c_str());
  return 0;
}
