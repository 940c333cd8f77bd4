// Capability negotiation: a sender uses only the frame features its receiver declared in the
// Ack. A raw receiver (raw_peer.h) plays a protocol 2 plugin (version 1 frames only), a protocol
// 3 one that decodes staged frames but neither rANS nor deduplication, and a full one; the frames
// the plugin sends are read off the wire, checked for what they use, and decoded.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "compress/format/staged.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "harness.h"
#include "plugin/classify/history.h"
#include "raw_peer.h"
#include "squeeze/codec.h"
#include "squeeze/format.h"

namespace sqtest {
namespace {

using squeeze::FrameInfo;
using squeeze::plugin::HistoryGauge;

struct Profile {
  const char* name;
  uint16_t version;
  uint64_t caps;
  // ENTROPY and LINK_MBPS for the sender (null: the defaults), and whether its frames must use
  // rANS (some of them), must not, or either.
  const char* entropy = nullptr;
  const char* link_mbps = nullptr;
  enum class Rans { kEither, kSome, kNone } rans = Rans::kEither;
  // HISTORY for the sender (null: the default), how many messages, and which frames must refer
  // to the stream history: some, none, or (HISTORY=auto) some before HistoryGauge's frames
  // measured without it, and none of those.
  const char* history = nullptr;
  int messages = 6;
  enum class History { kEither, kSome, kNone, kProbes } uses_history = History::kEither;
};

// Float messages with repeated 64-value vectors, so deduplication would pay if allowed.
std::vector<uint8_t> payload(uint32_t seed, size_t floats) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.2f);
  std::vector<float> pool(8 * 64);
  for (float& v : pool) v = g(rng);
  std::vector<float> v(floats);
  for (size_t i = 0; i < floats; i += 64) {
    const size_t row = (i / 64) % 3 == 0 ? (rng() % 8) : 8;  // a third repeat pool vectors
    for (size_t k = 0; k < 64 && i + k < floats; ++k)
      v[i + k] = row < 8 ? pool[row * 64 + k] : g(rng);
  }
  std::vector<uint8_t> out(floats * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

void run_profile(const Profile& prof) {
  SCOPED_TRACE(prof.name);
  ScopedEnv env;
  env.set("NCCL_SQUEEZE_ASSUME_DTYPE", "f32");
  if (prof.entropy != nullptr) env.set("NCCL_SQUEEZE_ENTROPY", prof.entropy);
  if (prof.link_mbps != nullptr) env.set("NCCL_SQUEEZE_LINK_MBPS", prof.link_mbps);
  if (prof.history != nullptr) env.set("NCCL_SQUEEZE_HISTORY", prof.history);
  Pair p;
  ASSERT_TRUE(init_ctx(&p.ctx));
  ncclNet_v11_t* n = plugin().v11;
  ncclNetAttr_v11_t attr;
  std::memset(&attr, 0xff, sizeof(attr));
  attr.op = 0x7C0;  // p2p
  n->setNetAttr(p.ctx, &attr);
  const char* threads_env = std::getenv("NCCL_SQUEEZE_THREADS");
  const int threads =
      threads_env != nullptr && std::strcmp(threads_env, "auto") != 0 ? std::atoi(threads_env) : 2;
  constexpr int kSockets = 2;
  RawReceiver rx;
  rx.version = prof.version;
  rx.caps = prof.caps;
  ASSERT_TRUE(rx.listen_on_loopback(kSockets, threads, 0xcab5));
  bool accepted = false;
  std::thread acceptor([&] { accepted = rx.accept_all(64u << 20); });
  JoinOnExit acceptor_guard{acceptor, [&] { ::shutdown(rx.listen_fd, SHUT_RDWR); }};
  char handle[NCCL_NET_HANDLE_MAXSIZE] = {};
  std::memcpy(handle, &rx.handle, sizeof(rx.handle));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (p.send == nullptr && Clock::now() < deadline) {
    ncclNetDeviceHandle_v11_t* dev = nullptr;
    ASSERT_EQ(n->connect(p.ctx, 0, handle, &p.send, &dev), ncclSuccess);
  }
  acceptor.join();
  ASSERT_TRUE(accepted);
  ASSERT_NE(p.send, nullptr);

  const int kMessages = prof.messages;
  constexpr size_t kFloats = 32768;  // 128 KiB, NCCL's step
  std::vector<std::vector<uint8_t>> sent(kMessages);
  for (int k = 0; k < kMessages; ++k) sent[k] = payload(100 + k % 2, kFloats);  // repeats too
  std::vector<uint8_t> flat(kMessages * kFloats * 4);
  for (int k = 0; k < kMessages; ++k)
    std::memcpy(flat.data() + k * kFloats * 4, sent[k].data(), kFloats * 4);
  void* mh = nullptr;
  ASSERT_EQ(n->regMr(p.send, flat.data(), flat.size(), NCCL_PTR_HOST, &mh), ncclSuccess);

  std::vector<std::vector<uint8_t>> frames(kMessages);
  std::string reader_error;
  std::thread reader([&] {
    for (uint32_t seq = 0; seq < static_cast<uint32_t>(kMessages); ++seq) {
      wire::MsgHeader h{};
      const int hs = static_cast<int>(seq % kSockets);
      if (!read_all(rx.data[static_cast<size_t>(hs)], &h, sizeof(h)) ||
          h.magic != wire::kMsgMagic ||
          h.kind != static_cast<uint8_t>(wire::PayloadKind::kFramed) || h.seq != seq) {
        reader_error = "no framed header for message " + std::to_string(seq);
        return;
      }
      frames[seq].resize(h.wire_bytes);
      const uint64_t chunk = std::max<uint64_t>(64 << 10, (h.wire_bytes + kSockets - 1) / kSockets);
      for (uint64_t j = 0; j * chunk < h.wire_bytes; ++j) {
        const uint64_t off = j * chunk, len = std::min<uint64_t>(chunk, h.wire_bytes - off);
        if (!read_all(rx.data[(seq + j) % kSockets], frames[seq].data() + off, len)) {
          reader_error = "payload of message " + std::to_string(seq);
          return;
        }
      }
    }
  });
  JoinOnExit reader_guard{reader, [&] {
                            for (int fd : rx.data) ::shutdown(fd, SHUT_RDWR);
                          }};
  std::vector<void*> reqs;
  for (int k = 0; k < kMessages; ++k) {
    void* req = nullptr;
    while (req == nullptr)
      ASSERT_EQ(n->isend(p.send, flat.data() + k * kFloats * 4, kFloats * 4, 1, mh, nullptr, &req),
                ncclSuccess);
    reqs.push_back(req);
  }
  for (void* r : reqs) ASSERT_EQ(wait_request(r, nullptr), ncclSuccess);
  reader.join();
  ASSERT_EQ(reader_error, "");

  squeeze::StreamDecoder dec;
  bool any_dedup = false;
  int stepped_frames = 0;
  int rans_frames = 0;
  int packed_frames = 0;
  int long_segment_frames = 0;
  std::vector<bool> history_frame(static_cast<size_t>(kMessages));
  for (int k = 0; k < kMessages; ++k) {
    FrameInfo info;
    ASSERT_EQ(squeeze::read_frame_info(frames[k].data(), frames[k].size(), &info),
              squeeze::Status::kOk)
        << k;
    if ((prof.caps & squeeze::kCapStaged) == 0) {
      EXPECT_EQ(info.version, squeeze::kFrameVersion) << "message " << k;
    } else {
      EXPECT_EQ(info.version, squeeze::kFrameVersion2) << "message " << k;
    }
    if ((prof.caps & squeeze::kCapRans) == 0) {
      EXPECT_NE(info.coder, (uint8_t)squeeze::StagedCoder::kRans) << "message " << k;
    }
    if ((prof.caps & (squeeze::kCapDedup | squeeze::kCapHistory)) == 0) {
      EXPECT_EQ(info.dedup, (uint8_t)squeeze::StagedDedup::kNone) << "message " << k;
    }
    any_dedup |= info.dedup != (uint8_t)squeeze::StagedDedup::kNone;
    if (info.version == squeeze::kFrameVersion2 && info.dedup != 0 &&
        info.method == (uint8_t)squeeze::FrameMethod::kStaged) {
      // The dedup section's step (dedup.h): more than 1 only for a receiver with kCapDedupStep.
      squeeze::staged::Header h;
      ASSERT_EQ(squeeze::staged::parse(frames[k].data(), frames[k].size(), &h),
                squeeze::staged::Reject::kNone);
      const uint8_t* sec =
          frames[k].data() + squeeze::staged::section_offset(h, squeeze::StagedSection::kDedup);
      squeeze::dedup::Section ds;
      ASSERT_TRUE(squeeze::dedup::parse_section(
          sec, sec + h.section[(int)squeeze::StagedSection::kDedup],
          squeeze::staged::geometry(h.dtype, h.original_bytes).n_full_units, &ds))
          << "message " << k;
      if ((prof.caps & squeeze::kCapDedupStep) == 0) {
        EXPECT_EQ(ds.layout.step, 1u) << "message " << k;
      }
      // Exp-Golomb records (dedup.h) only for a receiver with kCapDedupGolomb.
      if ((prof.caps & squeeze::kCapDedupGolomb) == 0) {
        EXPECT_FALSE(ds.layout.golomb) << "message " << k;
      }
      stepped_frames += ds.layout.step > 1;
    }
    if (info.version == squeeze::kFrameVersion2 &&
        info.method == (uint8_t)squeeze::FrameMethod::kStaged &&
        info.quant == (uint8_t)squeeze::StagedQuant::kLocal) {
      // Packed local records (local_packed.h) only for a receiver with kCapPackedRecords.
      squeeze::staged::Header h;
      ASSERT_EQ(squeeze::staged::parse(frames[k].data(), frames[k].size(), &h),
                squeeze::staged::Reject::kNone);
      const uint8_t records =
          frames[k][squeeze::staged::section_offset(h, squeeze::StagedSection::kQuant) + 3];
      if ((prof.caps & squeeze::kCapPackedRecords) == 0) {
        EXPECT_EQ(records, squeeze::local::kRecordsFixed) << "message " << k;
      }
      packed_frames += records == squeeze::local::kRecordsPacked;
    }
    history_frame[static_cast<size_t>(k)] = info.version == squeeze::kFrameVersion2 &&
                                            info.dedup == (uint8_t)squeeze::StagedDedup::kHistory;
    if (info.version == squeeze::kFrameVersion2 &&
        info.coder == (uint8_t)squeeze::StagedCoder::kRans) {
      ++rans_frames;
      // The segment size (rans.h): long only for a receiver with kCapRansLongSegments.
      squeeze::staged::Header h;
      ASSERT_EQ(squeeze::staged::parse(frames[k].data(), frames[k].size(), &h),
                squeeze::staged::Reject::kNone);
      uint32_t shift = 0, seg_symbols = 0;
      ASSERT_TRUE(squeeze::rans::parse_shift_byte(
          frames[k][squeeze::staged::section_offset(h, squeeze::StagedSection::kCodes)], &shift,
          &seg_symbols))
          << "message " << k;
      if ((prof.caps & squeeze::kCapRansLongSegments) == 0) {
        EXPECT_EQ(seg_symbols, squeeze::rans::kSegmentSymbols) << "message " << k;
      }
      long_segment_frames += seg_symbols == squeeze::rans::kLongSegmentSymbols;
    }
    std::vector<uint8_t> out(kFloats * 4);
    size_t out_bytes = 0;
    ASSERT_EQ(
        dec.decompress(frames[k].data(), frames[k].size(), out.data(), out.size(), &out_bytes),
        squeeze::Status::kOk)
        << "message " << k << ": " << squeeze::last_reject_reason();
    ASSERT_EQ(out_bytes, out.size());
    // The configured default bound (local kPluginDefaultBound) on every element; global frames
    // (version 1) carry the receiver-side bound the sender fell back to: never beyond the local
    // bound's loosest block (checked per block below for staged frames).
    for (size_t b = 0; b < kFloats; b += 32) {
      float mn = INFINITY, mx = -INFINITY;
      for (size_t i = b; i < b + 32; ++i) {
        float x;
        std::memcpy(&x, sent[k].data() + 4 * i, 4);
        mn = std::min(mn, x);
        mx = std::max(mx, x);
      }
      for (size_t i = b; i < b + 32; ++i) {
        float x, y;
        std::memcpy(&x, sent[k].data() + 4 * i, 4);
        std::memcpy(&y, out.data() + 4 * i, 4);
        ASSERT_LE(std::fabs((double)x - (double)y), squeeze::kPluginDefaultBound * (mx - mn))
            << "message " << k << " element " << i;
      }
    }
  }
  if (prof.caps & (squeeze::kCapDedup | squeeze::kCapHistory)) {
    EXPECT_TRUE(any_dedup) << "repeated vectors, deduplication allowed, none used";
  }
  if ((prof.caps & squeeze::kCapDedupStep) != 0 && any_dedup) {
    // Every repeat is a whole 64-value vector: 4 units a step.
    EXPECT_GT(stepped_frames, 0) << "vector repeats, steps allowed, none used";
  }
  if ((prof.caps & squeeze::kCapPackedRecords) != 0) {
    EXPECT_GT(packed_frames, 0) << "packed local records allowed, none used";
  }
  if (prof.rans == Profile::Rans::kSome) {
    EXPECT_GT(rans_frames, 0) << "no frame took rANS";
    if ((prof.caps & squeeze::kCapRansLongSegments) != 0) {
      // A message codes about 2/3 of its 32,768 values: more than one short segment.
      EXPECT_GT(long_segment_frames, 0) << "long rANS segments allowed, none used";
    }
  }
  if (prof.rans == Profile::Rans::kNone) {
    EXPECT_EQ(rans_frames, 0) << "rANS frames with ENTROPY=" << prof.entropy;
  }
  // Every frame went through one stream decoder above, in order, whichever way it went.
  const auto history_frames = std::count(history_frame.begin(), history_frame.end(), true);
  switch (prof.uses_history) {
    case Profile::History::kEither:
      break;
    case Profile::History::kSome:
      EXPECT_GT(history_frames, 0) << "messages repeat earlier ones, no frame used the history";
      break;
    case Profile::History::kNone:
      EXPECT_EQ(history_frames, 0)
          << "frames referred to the history with HISTORY=" << prof.history;
      break;
    case Profile::History::kProbes: {
      constexpr int kWithout = HistoryGauge::kWarmFrames + HistoryGauge::kProbeFrames;
      ASSERT_GE(kMessages, kWithout + HistoryGauge::kProbeFrames);
      EXPECT_GT(std::count(history_frame.begin(), history_frame.begin() + kWithout, true), 0)
          << "no warm-up or measured frame used the history";
      for (int k = kWithout; k < kWithout + HistoryGauge::kProbeFrames; ++k)
        EXPECT_FALSE(history_frame[static_cast<size_t>(k)])
            << "message " << k << " is measured without the history";
      break;
    }
  }
}

TEST(Caps, SenderUsesOnlyWhatTheReceiverDecodes) {
  for (const Profile& prof :
       {Profile{"protocol 2 receiver: version 1 frames", 2, 0},
        Profile{"staged frames, no rANS, no dedup", 3, squeeze::kCapV1 | squeeze::kCapStaged},
        Profile{"everything", 3, squeeze::kCapsAll},
        Profile{"everything but dedup steps", 3, squeeze::kCapsAll & ~squeeze::kCapDedupStep},
        Profile{"everything but Exp-Golomb dedup records", 3,
                squeeze::kCapsAll & ~squeeze::kCapDedupGolomb},
        Profile{"everything but packed local records", 3,
                squeeze::kCapsAll & ~squeeze::kCapPackedRecords},
        // ENTROPY: the receiver decodes rANS; the sender uses it as configured.
        Profile{"everything, ENTROPY=on", 3, squeeze::kCapsAll, "on", nullptr,
                Profile::Rans::kSome},
        Profile{"everything, ENTROPY=off", 3, squeeze::kCapsAll, "off", nullptr,
                Profile::Rans::kNone},
        Profile{"everything but long rANS segments, ENTROPY=on", 3,
                squeeze::kCapsAll & ~squeeze::kCapRansLongSegments, "on", nullptr,
                Profile::Rans::kSome},
        Profile{"everything, ENTROPY=auto on a 1 Mbit/s link", 3, squeeze::kCapsAll, "auto", "1",
                Profile::Rans::kSome},
        // HISTORY: the receiver decodes history frames; the sender refers to it as configured
        // (messages 2, 4, ... repeat message 0, 3, 5, ... message 1).
        Profile{"everything, HISTORY=on", 3, squeeze::kCapsAll, nullptr, nullptr,
                Profile::Rans::kEither, "on", 6, Profile::History::kSome},
        Profile{"everything, HISTORY=off", 3, squeeze::kCapsAll, nullptr, nullptr,
                Profile::Rans::kEither, "off", 6, Profile::History::kNone},
        Profile{"everything, HISTORY=auto, measuring", 3, squeeze::kCapsAll, nullptr, "1000",
                Profile::Rans::kEither, "auto",
                HistoryGauge::kWarmFrames + 2 * HistoryGauge::kProbeFrames + 4,
                Profile::History::kProbes}}) {
    run_profile(prof);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace sqtest
