// The CUDA backend's kernels run on the CPU through compress/cuda/cpu_runner.h: the batched
// pipeline must produce the CPU backend's frames byte for byte, and each side must decode the
// other's frames to identical output. Every batch test runs for each receiver profile: version 1
// frames only, and version 2 staged frames with each combination of the entropy coder and
// deduplication.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "compress/block.h"
#include "compress/cuda/cpu_runner.h"
#include "compress/format/staged.h"
#include "compress/methods/dedup.h"
#include "compress/methods/local_packed.h"
#include "compress/methods/rans.h"
#include "compress/methods/table.h"
#include "compress/quant.h"
#include "runner_test_util.h"
#include "squeeze/codec.h"
#include "squeeze/codec_cuda.h"
#include "squeeze/format.h"

namespace squeeze {
namespace {

using test::elem_value;
using test::make_chunk;
using test::same_bytes;
using test::TestChunk;
using test::to_bytes;

using test::kCanary;
using test::kGuard;

const char* mode_name(BoundMode m) {
  return m == BoundMode::kAbs ? "abs" : m == BoundMode::kRel ? "rel" : "local";
}

std::string describe(const TestChunk& c, size_t i) {
  return "chunk " + std::to_string(i) + " (" + dtype_name(c.params.dtype) + ", " +
         mode_name(c.params.mode) + " " + std::to_string(c.params.bound) + ", caps " +
         std::to_string(c.params.caps) + ", " + std::to_string(c.bytes.size()) + " bytes)";
}

// What the frames of a batch used (to check that a test reaches the stages it means to).
struct BatchUse {
  int staged = 0, rans = 0, dedup = 0, raw = 0;
  int long_segments = 0;  // rANS frames whose segments are long (rans::kLongSegmentFlag)
  int golomb = 0;         // frames whose dedup records are Exp-Golomb codes (dedup::kGolombFlag)
  int packed = 0;         // local frames whose records are packed (local::kRecordsPacked)
  int wider = 0;  // f16 / bf16 local frames one code wider than their bound's (frame_code_width)
};

// Whether a staged frame's dedup records are Exp-Golomb codes: its gap_bits byte's flag.
bool has_golomb_records(const std::vector<uint8_t>& frame) {
  staged::Header h;
  if (staged::parse(frame.data(), frame.size(), &h) != staged::Reject::kNone ||
      h.dedup == (uint8_t)StagedDedup::kNone)
    return false;
  const uint8_t* p = frame.data() + staged::section_offset(h, StagedSection::kDedup);
  dedup::Section sec;
  return dedup::parse_section(p, p + h.section[(int)StagedSection::kDedup],
                              staged::geometry(h.dtype, h.original_bytes).n_full_units, &sec) &&
         sec.layout.golomb;
}

// Whether a staged local frame's records are packed: its quant section's byte 3.
bool has_packed_records(const std::vector<uint8_t>& frame) {
  staged::Header h;
  if (staged::parse(frame.data(), frame.size(), &h) != staged::Reject::kNone ||
      h.quant != (uint8_t)StagedQuant::kLocal)
    return false;
  return frame[staged::section_offset(h, StagedSection::kQuant) + 3] == local::kRecordsPacked;
}

// Whether a staged rANS frame's segments are long: its shift byte's flag.
bool has_long_segments(const std::vector<uint8_t>& frame) {
  staged::Header h;
  if (staged::parse(frame.data(), frame.size(), &h) != staged::Reject::kNone ||
      h.coder != (uint8_t)StagedCoder::kRans)
    return false;
  return (frame[staged::section_offset(h, StagedSection::kCodes)] & rans::kLongSegmentFlag) != 0;
}

// Compresses the chunks as one batch through the runner and one by one through the CPU backend,
// checks byte equality, frame placement and stats; decodes each side's frames with the other
// side and checks identical output, the bound on every element and no write out of bounds.
void check_batch_into(const std::vector<TestChunk>& chunks, uint64_t max_chunk_bytes,
                      BatchUse& use) {
  const uint32_t n = (uint32_t)chunks.size();
  test::BothWays both;
  test::compress_both_ways(chunks, max_chunk_bytes, describe, &both);
  if (::testing::Test::HasFatalFailure()) return;
  const std::vector<std::vector<uint8_t>>& cpu_frames = both.cpu_frames;
  const std::vector<uint8_t>& out = both.out;
  const std::vector<gpu::FrameResult>& results = both.results;
  for (uint32_t i = 0; i < n; ++i) {
    FrameInfo info;
    ASSERT_EQ(read_frame_info(cpu_frames[i].data(), cpu_frames[i].size(), &info), Status::kOk);
    use.staged += info.method == (uint8_t)FrameMethod::kStaged;
    use.rans +=
        info.method == (uint8_t)FrameMethod::kStaged && info.coder == (uint8_t)StagedCoder::kRans;
    use.dedup +=
        info.method == (uint8_t)FrameMethod::kStaged && info.dedup != (uint8_t)StagedDedup::kNone;
    use.raw += info.method == (uint8_t)FrameMethod::kRaw;
    use.long_segments += info.method == (uint8_t)FrameMethod::kStaged &&
                         info.version == kFrameVersion2 && has_long_segments(cpu_frames[i]);
    use.golomb += info.method == (uint8_t)FrameMethod::kStaged && info.version == kFrameVersion2 &&
                  has_golomb_records(cpu_frames[i]);
    use.packed += info.method == (uint8_t)FrameMethod::kStaged && info.version == kFrameVersion2 &&
                  has_packed_records(cpu_frames[i]);
    // The width: the bound's, or one more for f16 and bf16 alone (local::frame_code_width).
    if (const uint32_t w = test::local_code_width(cpu_frames[i])) {
      const CodecParams& p = chunks[i].params;
      const uint32_t base = local::code_width(p.bound);
      if (p.dtype == DType::kF32) {
        EXPECT_EQ(w, base) << "chunk " << i;
      } else {
        EXPECT_TRUE(w == base || w == base + 1) << "chunk " << i << " width " << w;
      }
      use.wider += w == base + 1;
    }
  }

  // Decode the CPU backend's frames through the runner (dst misaligned like the input).
  std::vector<std::vector<uint8_t>> dsts(n);
  std::vector<gpu::FrameToDecompress> frames(n);
  for (uint32_t i = 0; i < n; ++i) {
    const size_t bytes = chunks[i].bytes.size();
    dsts[i].assign(chunks[i].misalign + bytes + kGuard, kCanary);
    frames[i].frame = cpu_frames[i].data();
    frames[i].frame_bytes = cpu_frames[i].size();
    frames[i].dst = dsts[i].data() + chunks[i].misalign;
    frames[i].dst_capacity = bytes;
  }
  std::vector<gpu::DecodeResult> decoded;
  ASSERT_EQ(kern::runner_decompress_batch(frames.data(), n, max_chunk_bytes, &decoded),
            gpu::GpuStatus::kOk);
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE(describe(chunks[i], i));
    const TestChunk& c = chunks[i];
    const size_t bytes = c.bytes.size();
    ASSERT_EQ(decoded[i].status, (int32_t)Status::kOk);
    ASSERT_EQ(decoded[i].out_bytes, bytes);
    for (size_t k = 0; k < c.misalign; ++k) ASSERT_EQ(dsts[i][k], kCanary);
    for (size_t k = c.misalign + bytes; k < dsts[i].size(); ++k)
      ASSERT_EQ(dsts[i][k], kCanary) << "runner decode wrote past dst_capacity";
    // The CPU decoder on the runner's frame must give the very same bytes.
    std::vector<uint8_t> cpu_out(bytes + 1);
    size_t out_bytes = 0;
    ASSERT_EQ(decompress(out.data() + results[i].offset, results[i].bytes, cpu_out.data(), bytes,
                         &out_bytes),
              Status::kOk);
    ASSERT_EQ(out_bytes, bytes);
    const uint8_t* runner_out = dsts[i].data() + c.misalign;
    ASSERT_TRUE(same_bytes(cpu_out.data(), runner_out, bytes)) << "decoders disagree";

    // The bound on every element, in double; non-finite and tail bytes exact.
    if (results[i].method == (uint8_t)FrameMethod::kRaw) {
      ASSERT_TRUE(same_bytes(c.bytes.data(), runner_out, bytes)) << "raw frame not exact";
      continue;
    }
    const size_t es = dtype_size(c.params.dtype);
    const size_t nel = bytes / es;
    // With a row layout, its records' spans (squeeze::element_bounds, rlog from the frame).
    std::vector<double> eb = test::element_bounds(c.params, c.bytes.data(), nel);
    if (c.params.layout != nullptr)
      element_bounds(c.params, c.bytes.data(), bytes,
                     frame_record_log2(out.data() + results[i].offset, results[i].bytes),
                     eb.data());
    EXPECT_EQ(results[i].applied_bound,
              c.params.mode == BoundMode::kLocal
                  ? c.params.bound
                  : test::requested_abs_bound(c.params, c.bytes.data(), nel));
    size_t failures = 0;
    for (size_t k = 0; k < nel && failures < 5; ++k) {
      const double x = elem_value(c.params.dtype, c.bytes.data(), k);
      const double y = elem_value(c.params.dtype, runner_out, k);
      const bool ok = std::isfinite(x) && eb[k] > 0.0
                          ? std::fabs(x - y) <= eb[k]
                          : same_bytes(c.bytes.data() + k * es, runner_out + k * es, es);
      if (!ok) {
        ++failures;
        ADD_FAILURE() << "element " << k << ": x=" << x << " y=" << y << " eb=" << eb[k];
      }
    }
    EXPECT_TRUE(same_bytes(c.bytes.data() + nel * es, runner_out + nel * es, bytes - nel * es));
  }
}

BatchUse check_batch(const std::vector<TestChunk>& chunks, uint64_t max_chunk_bytes = 1 << 20) {
  BatchUse use;
  check_batch_into(chunks, max_chunk_bytes, use);
  return use;
}

const DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

// The receiver profiles every batch test runs with.
const uint32_t kProfiles[] = {kCapV1, kCapV1 | kCapStaged, kCapStaged | kCapRans,
                              kCapStaged | kCapDedup, kCapsAll};

std::string profile_name(const ::testing::TestParamInfo<uint32_t>& info) {
  if (info.param == kCapV1) return "v1";
  std::string n = "staged";
  if (info.param & kCapRans) n += "_rans";
  if (info.param & kCapDedup) n += "_dedup";
  return n;
}

class KernelRunner : public ::testing::TestWithParam<uint32_t> {
 protected:
  uint32_t caps() const { return GetParam(); }
  bool staged() const { return (caps() & kCapStaged) != 0; }
  // The bound modes of the profile: local needs version 2 (for version 1 it is raw, also tested).
  std::vector<BoundMode> modes() const {
    return {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal};
  }
  TestChunk chunk(DType t, BoundMode m, double bound, const std::vector<float>& v, size_t tail = 0,
                  size_t misalign = 0) const {
    TestChunk c = make_chunk(t, m, bound, v, tail, misalign);
    c.params.caps = caps();
    return c;
  }
  std::vector<TestChunk> with_caps(std::vector<TestChunk> batch) const {
    for (TestChunk& c : batch) c.params.caps = caps();
    return batch;
  }
};

INSTANTIATE_TEST_SUITE_P(Profiles, KernelRunner, ::testing::ValuesIn(kProfiles), profile_name);

TEST_P(KernelRunner, RandomBatchesMatchCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  for (int round = 0; round < 6; ++round) {
    std::vector<TestChunk> batch;
    const int n = 1 + (int)(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const DType t = kFloatTypes[rng() % 3];
      const BoundMode m = modes()[rng() % 3];
      const double bound = m == BoundMode::kAbs ? std::ldexp(1.0, -(int)(rng() % 14) - 2)
                                                : std::ldexp(1.0, -(int)(rng() % 12) - 3);
      const size_t count = rng() % 3 == 0 ? rng() % 100 : rng() % 5000;
      std::vector<float> v(count);
      const int kind = (int)(rng() % 3);
      std::normal_distribution<float> gauss(0.0f, kind == 0 ? 1.0f : 0.05f);
      std::uniform_real_distribution<float> uni(-3.0f, 3.0f);
      for (float& x : v) x = kind == 1 ? uni(rng) : gauss(rng);
      if (kind == 2) {  // DLRM-like pooled rows: a few distinct rows of 64 repeated
        for (size_t k = 64; k < v.size(); ++k) v[k] = v[(k % 64) + 64 * (rng() % 4 == 0)];
      }
      batch.push_back(chunk(t, m, bound, v, rng() % 4 == 0 ? rng() % 4 : 0, rng() % 4));
    }
    check_batch(batch);
    if (HasFatalFailure()) return;
  }
}

TEST_P(KernelRunner, AdversarialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float denorm = std::numeric_limits<float>::denorm_min();
  const float fmax = std::numeric_limits<float>::max();
  std::vector<std::vector<float>> sets;
  sets.push_back({nan, 1.0f, -inf, inf, 2.0f, nan, 0.5f, -0.0f, 0.0f});
  std::vector<float> alt(200);
  for (size_t i = 0; i < alt.size(); ++i) alt[i] = i % 2 ? fmax : -fmax;
  sets.push_back(alt);
  std::vector<float> denorms(100);
  for (size_t i = 0; i < denorms.size(); ++i) denorms[i] = denorm * (float)(i % 7) - 1e-39f;
  sets.push_back(denorms);
  sets.push_back(std::vector<float>(777, 3.25f));  // constant
  sets.push_back(std::vector<float>(70, nan));     // nothing finite
  std::vector<float> huge(90);
  for (size_t i = 0; i < huge.size(); ++i) huge[i] = (i % 3 ? 1e30f : -3e37f) * (float)(i % 5);
  sets.push_back(huge);
  std::vector<float> mixed(300);
  for (size_t i = 0; i < mixed.size(); ++i)
    mixed[i] = i % 31 == 0 ? nan : i % 17 == 0 ? inf : (float)std::sin((double)i) * 100.0f;
  sets.push_back(mixed);
  std::vector<float> steps(129);  // values on and near quantization edges
  for (size_t i = 0; i < steps.size(); ++i) steps[i] = (float)i * 0.015625f + (i % 2 ? 1e-7f : 0);
  sets.push_back(steps);

  std::vector<TestChunk> batch;
  for (const auto& v : sets)
    for (DType t : kFloatTypes)
      for (BoundMode m : modes())
        for (double b : {1e-3, 0.0078125, 0.5})
          batch.push_back(chunk(t, m, b, v, batch.size() % 3, batch.size() % 2));
  check_batch(batch);
}

TEST_P(KernelRunner, ShortAndOddLengths) {
  std::vector<TestChunk> batch;
  for (size_t len = 0; len <= 17; ++len) {
    for (DType t : {DType::kBytes, DType::kF32, DType::kF16, DType::kBF16}) {
      TestChunk c;
      c.params.dtype = t;
      c.params.mode = modes()[len % 3];
      c.params.bound = 0.25;
      c.params.caps = caps();
      for (size_t k = 0; k < len; ++k) c.bytes.push_back((uint8_t)(0x3c + 13 * k));
      c.misalign = len % 3;
      batch.push_back(c);
    }
  }
  // Partial final blocks and odd byte counts around block boundaries.
  for (size_t count : {31, 32, 33, 63, 64, 65, 1023, 2049})
    for (DType t : kFloatTypes) {
      std::vector<float> v(count);
      for (size_t k = 0; k < count; ++k) v[k] = (float)std::cos(0.1 * (double)k);
      batch.push_back(chunk(t, modes()[count % 3], 1e-3, v, count % 4, count % 3));
    }
  check_batch(batch);
}

TEST_P(KernelRunner, RawFallbackMixedWithCompressed) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestChunk> batch;
  for (int i = 0; i < 16; ++i) {
    TestChunk c;
    if (i % 4 == 0) {  // random bytes: never shrinks, and kBytes is never lossy
      c.params.dtype = i % 8 == 0 ? DType::kBytes : DType::kF32;
      c.params.bound = 1e-30;
      c.params.mode = BoundMode::kAbs;
      c.bytes.resize(1000 + rng() % 3000);
      for (auto& b : c.bytes) b = (uint8_t)rng();
    } else {
      std::vector<float> v(3000 + rng() % 5000);
      std::normal_distribution<float> g(0.0f, 1.0f);
      for (float& x : v) x = g(rng);
      c = chunk(kFloatTypes[i % 3], modes()[i % 3], i % 2 ? 1e-2 : 1e-3, v, i % 3);
    }
    c.params.caps = caps();
    batch.push_back(c);
  }
  check_batch(batch);
}

TEST_P(KernelRunner, LargeSingleFrameUsesManyTiles) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<float> v((1 << 18) + 5);  // 1 MiB of f32: 129 tiles of one chunk
  std::normal_distribution<float> g(0.0f, 0.1f);
  for (float& x : v) x = g(rng);
  v[12345] = std::numeric_limits<float>::quiet_NaN();
  check_batch({chunk(DType::kF32, BoundMode::kRel, 1e-3, v, 2)}, 2 << 20);
  if (staged()) check_batch({chunk(DType::kF32, BoundMode::kLocal, 1.96e-3, v, 2)}, 2 << 20);
}

// Trained-model payloads cut as NCCL cuts a message: 128 KiB steps, plus one frame per file.
// Every .f32 file of the project's corpus (tests/data/corpus), or of the directory
// SQUEEZE_RUNNER_CORPUS names (payloads the project never saw: another seed's corpus, a user's
// dumps), so that "the GPU phases give the CPU backend's bytes" is checked on any data set
// without a GPU. Staged profiles must reach the stages they declare.
std::string corpus_dir() {
  const char* env = std::getenv("SQUEEZE_RUNNER_CORPUS");
  return env != nullptr && *env != '\0' ? env : SQUEEZE_TEST_CORPUS_DIR;
}

// The .f32 files below dir (sorted, so that a failure names the same file every run).
std::vector<std::string> corpus_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".f32") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<float> read_corpus(const char* name) {
  return test::read_f32_file(std::string(SQUEEZE_TEST_CORPUS_DIR) + "/" + name);
}

TEST_P(KernelRunner, CorpusChunksMatchCpuBackend) {
  const std::string dir = corpus_dir();
  const std::vector<std::string> files = corpus_files(dir);
  std::printf("corpus %s: %zu .f32 files\n", dir.c_str(), files.size());
  ASSERT_FALSE(files.empty()) << "no .f32 file below " << dir;
  BatchUse total;
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    const std::vector<float> v = test::read_f32_file(path);
    ASSERT_FALSE(v.empty()) << "empty corpus file: " << path;
    for (BoundMode m : modes()) {
      // The bounds users run: INT8's precision and the default (local), the paper's and a
      // tighter one (rel), and an absolute one near the payloads' step sizes.
      const std::vector<double> bounds = m == BoundMode::kLocal
                                             ? std::vector<double>{kInt8MatchingLocalBound, 1e-2}
                                         : m == BoundMode::kRel ? std::vector<double>{1e-2, 1e-3}
                                                                : std::vector<double>{1e-3};
      for (double bound : bounds) {
        SCOPED_TRACE(std::string(mode_name(m)) + " " + std::to_string(bound));
        std::vector<TestChunk> batch;
        for (size_t first = 0; first < v.size(); first += 32768) {  // 128 KiB of f32
          const size_t last = std::min(v.size(), first + 32768);
          batch.push_back(chunk(DType::kF32, m, bound,
                                std::vector<float>(v.begin() + first, v.begin() + last)));
        }
        // The 16-bit types, whose decoded values are rounded to the type (local::wanted_step).
        for (DType t : {DType::kF16, DType::kBF16})
          batch.push_back(
              chunk(t, m, bound,
                    std::vector<float>(v.begin(), v.begin() + std::min<size_t>(v.size(), 40000))));
        const BatchUse use = check_batch(batch);
        if (HasFatalFailure()) return;
        total.staged += use.staged;
        total.rans += use.rans;
        total.dedup += use.dedup;
        total.long_segments += use.long_segments;
        total.golomb += use.golomb;
        total.packed += use.packed;
        total.wider += use.wider;
      }
    }
    // The file as one frame (a message of registered buffers): rel 1e-2, and the default
    // local 1e-2 (a large frame, whose byte codes the CPU encoder keeps out of the L3).
    for (BoundMode m : {BoundMode::kRel, BoundMode::kLocal}) {
      const BatchUse one = check_batch({chunk(DType::kF32, m, 1e-2, v)},
                                       std::max<uint64_t>(4 << 20, 4 * (uint64_t)v.size()));
      if (HasFatalFailure()) return;
      total.rans += one.rans;
      total.dedup += one.dedup;
      total.long_segments += one.long_segments;
      total.golomb += one.golomb;
      total.packed += one.packed;
    }
  }
  if (staged()) {
    EXPECT_GT(total.staged, 0);
  }
  if (staged() && (caps() & kCapRans)) {
    EXPECT_GT(total.rans, 0) << "no frame used rANS";
  }
  if (staged() && (caps() & kCapDedup)) {
    EXPECT_GT(total.dedup, 0) << "no frame used dedup";
  }
  // Long rANS segments (kCapRansLongSegments) on both backends, and only where declared.
  if (staged() && (caps() & kCapRansLongSegments)) {
    EXPECT_GT(total.long_segments, 0) << "no frame used long rANS segments";
  } else {
    EXPECT_EQ(total.long_segments, 0);
  }
  // Exp-Golomb dedup records (kCapDedupGolomb) likewise.
  if (staged() && (caps() & kCapDedupGolomb) && (caps() & kCapDedup)) {
    EXPECT_GT(total.golomb, 0) << "no frame used Exp-Golomb dedup records";
  } else {
    EXPECT_EQ(total.golomb, 0);
  }
  // Packed local records (kCapPackedRecords) likewise.
  if (staged() && (caps() & kCapPackedRecords)) {
    EXPECT_GT(total.packed, 0) << "no frame used packed local records";
  } else {
    EXPECT_EQ(total.packed, 0);
  }
  // The trained payloads rounded to f16 and bf16 take the wider codes at INT8's precision
  // (local::frame_code_width) where the receiver decodes rANS, on both backends alike, and
  // never where it does not (local::samples_width).
  const std::vector<BoundMode> ms = modes();
  if (staged() && (caps() & kCapRans) &&
      std::find(ms.begin(), ms.end(), BoundMode::kLocal) != ms.end()) {
    EXPECT_GT(total.wider, 0) << "no f16 or bf16 frame took the wider codes";
  } else {
    EXPECT_EQ(total.wider, 0);
  }
}

// CodecParams::rans_min_gain reaches the kernels' decision (rans::gain_pays) as it reaches the
// CPU encoder's: the same frames at each gain, on the trained payloads at the bounds users run;
// rANS at gain 0 and never at 4096, the 16-bit types' wider codes below 256. At 1600 (6.25 bits a
// symbol) local 1e-2's 6-bit codes could not pay even if every byte went (rans::gain_can_pay: both
// encoders skip the estimate).
TEST_P(KernelRunner, RansMinGainMatchesCpuBackend) {
  if (!staged() || (caps() & kCapRans) == 0) GTEST_SKIP() << "no rANS in this profile";
  const std::vector<float> v = read_corpus("d64_late_fwd_r3_to_r0.f32");
  ASSERT_GT(v.size(), 65536u);
  for (uint32_t gain : {0u, 64u, 200u, 400u, 1600u, 4096u}) {
    SCOPED_TRACE("gain " + std::to_string(gain));
    std::vector<TestChunk> batch;
    for (BoundMode m : {BoundMode::kLocal, BoundMode::kRel})
      for (size_t first = 0; first + 32768 <= 65536; first += 32768) {
        TestChunk c = chunk(DType::kF32, m, 1e-2,
                            std::vector<float>(v.begin() + first, v.begin() + first + 32768));
        c.params.rans_min_gain = gain;
        batch.push_back(c);
      }
    // The 16-bit types at INT8's precision: wider codes below a gain of 256 alone
    // (local::samples_width), on both backends alike.
    for (DType t : {DType::kF16, DType::kBF16}) {
      TestChunk c = chunk(t, BoundMode::kLocal, kInt8MatchingLocalBound,
                          std::vector<float>(v.begin(), v.begin() + 65536));
      c.params.rans_min_gain = gain;
      batch.push_back(c);
    }
    const BatchUse use = check_batch(batch);
    if (HasFatalFailure()) return;
    if (gain == 0) {
      EXPECT_GT(use.rans, 0);
    }
    if (gain == 4096) {
      EXPECT_EQ(use.rans, 0);
    }
    EXPECT_EQ(use.wider, gain < 256 ? 2 : 0);
  }
}

// Repeats the deduplication stage must handle: runs, a source used many times, repeats of
// outlier-holding units, near-repeats (one bit apart), references across block boundaries, and a
// unit whose repeat is too coarse for a later block's tighter local bound, and signed zeros: a
// unit of zeros holding a -0 whose block has a range (so -0 may come back as +0) repeated in a
// block of zeros (bound 0: the -0 must come back as -0, so the first unit is no source for it;
// found by the decoder fuzzing campaign).
TEST_P(KernelRunner, DedupPatterns) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<TestChunk> batch;
  for (int pattern = 0; pattern < 9; ++pattern) {
    std::vector<float> v(16 * 600);
    for (float& x : v) x = g(rng);
    if (pattern >= 7) {
      // Whole vectors repeat (4 units, dim 64; 3 units, dim 48): runs and gaps in steps
      // (kCapDedupStep).
      const size_t w = 16 * (pattern == 7 ? 4 : 3);
      for (size_t j = 1; j < v.size() / w; ++j)
        if (rng() % 2 == 0) {
          const size_t i = rng() % j;
          std::copy(v.begin() + i * w, v.begin() + (i + 1) * w, v.begin() + j * w);
        }
    }
    for (size_t u = 1; u < 600 && pattern < 7; ++u) {
      size_t src = u;
      switch (pattern) {
        case 0:
          src = u >= 100 && u < 300 ? u - 100 : u;
          break;  // one long run
        case 1:
          src = u % 7 == 0 ? 3 : u;
          break;  // one source, many times
        case 2:
          src = rng() % 3 == 0 ? rng() % u : u;
          break;  // random earlier units
        case 3:
          src = u % 2 ? u - 1 : u;
          break;  // every other unit
        case 4:
          src = u >= 300 ? u - 300 : u;
          break;  // the second half repeats
        default:
          src = u % 5 == 0 ? u - 5 : u;
          break;
      }
      if (src != u) std::copy(v.begin() + 16 * src, v.begin() + 16 * src + 16, v.begin() + 16 * u);
    }
    if (pattern == 2) {
      v[16 * 3 + 5] = std::numeric_limits<float>::quiet_NaN();
      std::copy(v.begin() + 48, v.begin() + 64, v.begin() + 16 * 599);
      v[16 * 598] = std::nextafter(v[16 * 597], 10.0f);  // near-repeat
    }
    if (pattern == 5) {
      for (size_t k = 0; k < 16; ++k) v[16 * 20 + k] = 1000.0f * g(rng);  // a wide unit
      std::copy(v.begin() + 320, v.begin() + 336, v.begin() + 16 * 41);   // in a tight block
      for (size_t k = 0; k < 16; ++k) v[16 * 40 + k] = 1e-3f * g(rng);
    }
    if (pattern == 6) {
      std::fill(v.begin(), v.end(), 0.0f);
      v[5] = -0.0f;  // unit 0, block 0 (whose range is 1)
      v[20] = 1.0f;
      v[16 * 11 + 5] = -0.0f;  // unit 11, block 5: zeros only; the same bytes as unit 0
      v[16 * 31 + 9] = -0.0f;  // unit 31, block 15: a second source-less copy
      v[16 * 30 + 9] = -0.0f;  // ... after one with the same bytes in the same zero block
    }
    for (DType t : kFloatTypes)
      for (BoundMode m : modes())
        batch.push_back(
            chunk(t, m, m == BoundMode::kAbs ? 1e-2 : 1e-3, v, pattern % 3, pattern % 2));
  }
  const BatchUse use = check_batch(batch);
  if (staged() && (caps() & kCapDedup)) {
    EXPECT_GT(use.dedup, 0);
  }
}

// Repeats across the CPU encoder's tiles (staged.cc's kTileBlocks: in a large frame it
// quantizes, checks the repeats and scans the literal blocks 2,048 blocks at a time, 256 KiB of
// f32): sources in earlier tiles and in the same tile, at and across tile edges, and repeats
// whose source's error does not fit their own block (a wide block's unit copied into a tight
// block), one unit of a block or both. The runner's frames, whose phases know no such tiles,
// must be the CPU encoder's.
TEST_P(KernelRunner, DedupAcrossEncoderTiles) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr size_t kTileUnits = 4096;          // 2,048 blocks of two units
  const size_t n_units = 5 * kTileUnits + 77;  // the last edge's copies (up to edge + 41) inside
  std::vector<float> v(16 * n_units);
  for (float& x : v) x = g(rng);
  const auto copy_unit = [&](size_t from, size_t to) {
    std::copy(v.begin() + 16 * from, v.begin() + 16 * from + 16, v.begin() + 16 * to);
  };
  // Vectors of dim 64 (4 units) repeating one from anywhere before.
  for (size_t j = 1; j < n_units / 4; ++j)
    if (rng() % 3 == 0) {
      const size_t i = rng() % j;
      for (size_t k = 0; k < 4; ++k) copy_unit(4 * i + k, 4 * j + k);
    }
  for (size_t t = 1; t <= 5; ++t) {
    const size_t edge = t * kTileUnits;
    // Units just after the edge repeat units just before it and units of the first tile.
    for (size_t k = 0; k < 8; ++k) {
      copy_unit(edge - 1 - k, edge + k);
      copy_unit(k + 64 * t, edge + 16 + k);
    }
    // A wide block (unit w, and 1000x values beside it) whose unit is copied into a tight block
    // on each side of the edge: one unit of block edge / 2 - 3, both units of block edge / 2 + 20
    // (the two units copies of wide blocks' units; their own range is theirs, not the wide one).
    const size_t w = 2 * (rng() % (edge / 2 - 64));
    for (size_t k = 0; k < 16; ++k) v[16 * (w + 1) + k] = 1000.0f * g(rng);
    for (size_t k = 0; k < 16; ++k) v[16 * (edge - 5) + k] = 1e-3f * g(rng);
    copy_unit(w, edge - 6);
    copy_unit(w, edge + 40);
    copy_unit(w, edge + 41);
  }
  std::vector<TestChunk> batch;
  for (BoundMode m : modes())
    batch.push_back(chunk(DType::kF32, m, m == BoundMode::kAbs ? 1e-2 : 1e-3, v, 3));
  if (staged()) batch.push_back(chunk(DType::kBF16, BoundMode::kLocal, 1e-2, v, 1));
  const BatchUse use = check_batch(batch, 2 << 20);
  if (staged() && (caps() & kCapDedup)) {
    EXPECT_GT(use.dedup, 0);
  }
}

// Local records shared by a row vector's blocks (a RowLayout, kCapRowRecords): the runner's
// frames are the CPU backend's, record spans of 2, 4 and 8 blocks, repeats across vectors, and
// frames that begin mid-row (one record per block).
TEST_P(KernelRunner, RowRecordsMatchCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> g(0.0f, 1.0f);
  static const uint32_t kDims[] = {64, 128, 256};
  static uint32_t cols[3][3];
  static RowLayout layouts[3][2];
  std::vector<TestChunk> batch;
  for (int d = 0; d < 3; ++d) {
    const uint32_t dim = kDims[d];
    for (int k = 0; k < 3; ++k) cols[d][k] = dim;
    for (int at = 0; at < 2; ++at) {
      RowLayout& l = layouts[d][at];
      l.row_elems = 3 * dim;
      l.start_col = at == 0 ? dim : dim + 16;  // a table boundary, or mid-vector
      l.n_tables = 3;
      l.table_cols = cols[d];
    }
    std::vector<float> v(3 * dim * 40 + 7);
    for (size_t i = 0; i < v.size(); ++i) {
      const float scale = std::pow(10.0f, (float)((i / dim) % 5) - 3.0f);  // per vector
      v[i] = g(rng) * scale;
    }
    for (size_t i = 0; i + 4 * dim <= v.size(); i += 7 * dim)  // repeated vectors
      std::copy(v.begin() + i, v.begin() + i + dim, v.begin() + i + 3 * dim);
    std::fill(v.begin() + 5 * dim, v.begin() + 6 * dim, 0.0f);  // a zero vector
    for (DType t : kFloatTypes) {
      for (int at = 0; at < 2; ++at) {
        TestChunk c = chunk(t, BoundMode::kLocal, 1.96e-3, v, at, 0);
        c.params.caps |= kCapRowRecords;
        c.params.layout = &layouts[d][at];
        batch.push_back(c);
      }
    }
  }
  check_batch(batch);
  // The frames (the runner's are the CPU's, checked above) do share records where they may.
  if (!staged()) return;
  for (size_t i = 0; i < batch.size(); ++i) {
    const TestChunk& c = batch[i];
    std::vector<uint8_t> frame(max_frame_bytes(c.bytes.size()));
    size_t fb = 0;
    ASSERT_EQ(compress(c.params, c.bytes.data(), c.bytes.size(), frame.data(), frame.size(), &fb),
              Status::kOk);
    const uint32_t dim = c.params.layout->table_cols[0];
    const uint32_t want = c.params.layout->start_col % dim != 0 ? 0
                          : dim == 64                           ? 1
                          : dim == 128                          ? 2
                                                                : 3;
    EXPECT_EQ(frame_record_log2(frame.data(), fb), want) << describe(c, i);
  }
}

// ---- the table quantizer (a RowLayout in rel or abs mode) ----

// A layout with its own storage.
struct TestLayout {
  std::vector<uint32_t> cols;
  std::vector<double> bounds;  // empty: none
  RowLayout row;
  std::string name;
  void set(uint32_t start_col, bool with_bounds) {
    row.row_elems = 0;
    for (uint32_t c : cols) row.row_elems += c;
    row.start_col = start_col;
    row.n_tables = (uint32_t)cols.size();
    row.table_cols = cols.data();
    row.table_bounds = with_bounds ? bounds.data() : nullptr;
  }
};

// The layouts the table tests use: one table; many narrow tables; tables of different dims; a row
// longer than most frames; each with per-table bounds or without, from column 0 or mid-row.
std::vector<TestLayout> table_layouts(std::mt19937_64& rng) {
  std::vector<std::vector<uint32_t>> shapes = {{48}, {}, {16, 64, 128, 8, 32}, {300, 1000, 5}};
  for (int k = 0; k < 40; ++k) shapes[1].push_back(1 + (uint32_t)(rng() % 9));
  std::vector<TestLayout> out;
  for (size_t s = 0; s < shapes.size(); ++s) {
    for (int variant = 0; variant < 2; ++variant) {
      TestLayout l;
      l.cols = shapes[s];
      for (size_t t = 0; t < l.cols.size(); ++t)
        l.bounds.push_back(std::ldexp(1.0, -(int)(rng() % 12) - 2));  // 2^-2 .. 2^-13
      l.name = "layout " + std::to_string(s) + (variant ? " bounds" : " no bounds");
      out.push_back(std::move(l));
    }
  }
  // Every layout's RowLayout points into its own vectors once they stop moving.
  for (size_t k = 0; k < out.size(); ++k) {
    const uint32_t row = [&] {
      uint32_t r = 0;
      for (uint32_t c : out[k].cols) r += c;
      return r;
    }();
    out[k].set(k % 4 == 1 ? 0 : (uint32_t)(rng() % row), k % 2 == 1);
  }
  return out;
}

// Rows of tables whose scales differ by orders of magnitude; some tables constant, some with no
// finite element, some of a range too small for any step (exact), some repeated rows (dedup).
std::vector<float> table_values(const RowLayout& l, size_t count, std::mt19937_64& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<uint32_t> col_table;
  for (uint32_t t = 0; t < l.n_tables; ++t) col_table.insert(col_table.end(), l.table_cols[t], t);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) {
    const uint32_t t = col_table[(l.start_col + i) % l.row_elems];
    switch (t % 7) {
      case 3:  // constant in the frame
        v[i] = 0.75f;
        break;
      case 5:  // nothing finite
        v[i] = i % 3 == 0 ? nan : (i % 3 == 1 ? inf : -inf);
        break;
      case 6:  // a range too small for a normal step (rel): exact
        v[i] = 1.0f + (float)(i % 2) * 1.1920929e-7f;
        break;
      default:
        v[i] = g(rng) * std::pow(10.0f, (float)(t % 5) * 1.5f - 4.0f);
        if (i % 97 == 0) v[i] = nan;
        break;
    }
  }
  // Repeated rows (the units of a row again, as a DLRM batch repeats ids).
  if (count > 4 * (size_t)l.row_elems && l.row_elems % 16 == 0)
    std::copy(v.begin(), v.begin() + l.row_elems, v.begin() + 2 * l.row_elems);
  return v;
}

// Each element within its table's bound (rel: bound_k x the table's finite range in the frame;
// abs: bound_k); exact where that is 0 or the element is not finite. What the table quantizer
// promises, and what a frame-wide bound (a receiver without kCapTable) keeps too.
void expect_table_bounds(const CodecParams& p, const uint8_t* src, const uint8_t* out, size_t n) {
  const RowLayout& l = *p.layout;
  std::vector<uint32_t> col_table;
  for (uint32_t t = 0; t < l.n_tables; ++t) col_table.insert(col_table.end(), l.table_cols[t], t);
  std::vector<double> mn(l.n_tables, INFINITY), mx(l.n_tables, -INFINITY);
  for (size_t i = 0; i < n; ++i) {
    const double x = elem_value(p.dtype, src, i);
    const uint32_t t = col_table[(l.start_col + i) % l.row_elems];
    if (!std::isfinite(x)) continue;
    mn[t] = std::min(mn[t], x);
    mx[t] = std::max(mx[t], x);
  }
  const size_t es = dtype_size(p.dtype);
  size_t failures = 0;
  for (size_t i = 0; i < n && failures < 5; ++i) {
    const uint32_t t = col_table[(l.start_col + i) % l.row_elems];
    const double b = l.table_bounds != nullptr ? l.table_bounds[t] : p.bound;
    const double eb = p.mode == BoundMode::kAbs ? b : mn[t] <= mx[t] ? b * (mx[t] - mn[t]) : 0.0;
    const double x = elem_value(p.dtype, src, i), y = elem_value(p.dtype, out, i);
    const bool ok = std::isfinite(x) && eb > 0.0 ? std::fabs(x - y) <= eb
                                                 : same_bytes(src + i * es, out + i * es, es);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << "element " << i << " (table " << t << "): x=" << x << " y=" << y
                    << " eb=" << eb;
    }
  }
}

std::string describe_table(const TestChunk& c, size_t i) {
  return describe(c, i) + " row " + std::to_string(c.params.layout->row_elems) + " start " +
         std::to_string(c.params.layout->start_col) + " tables " +
         std::to_string(c.params.layout->n_tables) +
         (c.params.layout->table_bounds ? " (bounds)" : "");
}

// Compresses a batch of table chunks both ways (byte for byte, checked by compress_both_ways),
// decodes each side's frames with the other, checks equal bytes and each table's bound. Counts
// the frames of the table quantizer (with the rANS coder, with references) in use.
BatchUse check_table_batch(const std::vector<TestChunk>& chunks) {
  test::BothWays both;
  test::compress_both_ways(chunks, 1 << 20, describe_table, &both);
  BatchUse use;
  if (::testing::Test::HasFatalFailure()) return use;
  const uint32_t n = (uint32_t)chunks.size();
  std::vector<std::vector<uint8_t>> dsts(n);
  std::vector<gpu::FrameToDecompress> frames(n);
  for (uint32_t i = 0; i < n; ++i) {
    dsts[i].assign(chunks[i].bytes.size() + kGuard, kCanary);
    frames[i] = {both.cpu_frames[i].data(), both.cpu_frames[i].size(), dsts[i].data(),
                 chunks[i].bytes.size()};
  }
  std::vector<gpu::DecodeResult> decoded;
  EXPECT_EQ(kern::runner_decompress_batch(frames.data(), n, 1 << 20, &decoded),
            gpu::GpuStatus::kOk);
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE(describe_table(chunks[i], i));
    const TestChunk& c = chunks[i];
    const size_t bytes = c.bytes.size();
    FrameInfo info;
    EXPECT_EQ(read_frame_info(both.cpu_frames[i].data(), both.cpu_frames[i].size(), &info),
              Status::kOk);
    if (info.method == (uint8_t)FrameMethod::kStaged &&
        info.quant == (uint8_t)StagedQuant::kTable) {
      ++use.staged;
      use.rans += info.coder == (uint8_t)StagedCoder::kRans;
      use.dedup += info.dedup != (uint8_t)StagedDedup::kNone;
    }
    if (info.quant == (uint8_t)StagedQuant::kTable) {
      EXPECT_NE(c.params.caps & kCapTable, 0u);
    }
    EXPECT_EQ(decoded[i].status, (int32_t)Status::kOk);
    EXPECT_EQ(decoded[i].out_bytes, bytes);
    for (size_t k = bytes; k < dsts[i].size(); ++k)
      EXPECT_EQ(dsts[i][k], kCanary) << "runner decode wrote past dst_capacity";
    std::vector<uint8_t> cpu_out(bytes + 1);
    size_t out_bytes = 0;
    EXPECT_EQ(decompress(both.out.data() + both.results[i].offset, both.results[i].bytes,
                         cpu_out.data(), bytes, &out_bytes),
              Status::kOk);
    EXPECT_EQ(out_bytes, bytes);
    EXPECT_TRUE(same_bytes(cpu_out.data(), dsts[i].data(), bytes)) << "decoders disagree";
    const size_t es = dtype_size(c.params.dtype);
    // A version 1 receiver that declares kCapTable gets a frame-wide bound (the CPU backend uses
    // the layout only in version 2 frames); the bytes are still the CPU's (checked above).
    if ((c.params.caps & kCapTable) == 0 || (c.params.caps & kCapStaged) != 0)
      expect_table_bounds(c.params, c.bytes.data(), dsts[i].data(), bytes / es);
    EXPECT_TRUE(
        same_bytes(c.bytes.data() + bytes / es * es, dsts[i].data() + bytes / es * es, bytes % es));
  }
  return use;
}

// The table quantizer (kCapTable) and, for a receiver without it, one absolute bound from the
// tables' ranges (the CPU's resolve_layout): the runner's frames are the CPU backend's byte for
// byte for every dtype, rel and abs, every layout, frame lengths that are and are not whole rows
// (shorter than a row too), tails and misaligned sources; each side decodes the other's frames to
// the same bytes, every element within its table's bound.
TEST_P(KernelRunner, TableQuantizerMatchesCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestLayout> layouts = table_layouts(rng);
  BatchUse tables;
  for (bool table_cap : {true, false}) {
    std::vector<TestChunk> batch;
    for (size_t li = 0; li < layouts.size(); ++li) {
      const RowLayout& l = layouts[li].row;
      for (DType t : kFloatTypes) {
        for (BoundMode m : {BoundMode::kRel, BoundMode::kAbs}) {
          const size_t rows = 1 + rng() % 6;
          const size_t count = rng() % 4 == 0 ? 1 + rng() % l.row_elems
                               : rng() % 2    ? rows * l.row_elems
                                              : rows * l.row_elems + 1 + rng() % 40;
          const double bound = m == BoundMode::kAbs ? std::ldexp(1.0, -(int)(rng() % 12) - 4)
                                                    : std::ldexp(1.0, -(int)(rng() % 10) - 3);
          TestChunk c =
              chunk(t, m, bound, table_values(l, count, rng), rng() % 3 == 0 ? 1 : 0, rng() % 3);
          c.params.caps = table_cap ? caps() | kCapTable : caps() & ~kCapTable;
          c.params.layout = &l;
          batch.push_back(c);
        }
      }
    }
    // A frame with repeated rows whatever the draws above gave (their counts may have none):
    // six rows of the 48-wide layout, row 0 again as row 2.
    {
      TestChunk c =
          chunk(DType::kF32, BoundMode::kRel, 1.0 / 64, table_values(layouts[0].row, 6 * 48, rng));
      c.params.caps = table_cap ? caps() | kCapTable : caps() & ~kCapTable;
      c.params.layout = &layouts[0].row;
      batch.push_back(c);
    }
    // A frame that takes the rANS coder whatever the draws above gave (their frames, of at most
    // six rows, may all decline it: seed 7441605679903884676): 256 rows of the 48-wide layout's
    // one table at rel 1/64, whose codes' entropy is well below their widths. It took the coder
    // with every seed of 1-150 under the table quantizer (not without it, where the frame's one
    // bound comes from the tables' ranges).
    if (table_cap) {
      TestChunk c = chunk(DType::kF32, BoundMode::kRel, 1.0 / 64,
                          table_values(layouts[0].row, 256 * 48, rng));
      c.params.caps = caps() | kCapTable;
      c.params.layout = &layouts[0].row;
      batch.push_back(c);
    }
    // Abs bounds too small for a step: exact tables (or a raw frame without kCapTable).
    for (DType t : kFloatTypes) {
      TestChunk c = chunk(t, BoundMode::kAbs, 1e-45, table_values(layouts[4].row, 2000, rng));
      c.params.caps = table_cap ? caps() | kCapTable : caps() & ~kCapTable;
      c.params.layout = &layouts[4].row;
      batch.push_back(c);
    }
    const BatchUse use = check_table_batch(batch);
    tables.staged += use.staged;
    tables.rans += use.rans;
    tables.dedup += use.dedup;
    if (HasFatalFailure()) return;
  }
  if (staged()) {
    EXPECT_GT(tables.staged, 20) << "the table quantizer was not exercised";
  }
  if (caps() & kCapRans) {
    EXPECT_GT(tables.rans, 0) << "no table frame took the rANS coder";
  }
  if (caps() & kCapDedup) {
    EXPECT_GT(tables.dedup, 0) << "no table frame has references";
  }
}

// Local mode with a layout: with the tables' own bounds each block is bounded by the smallest of
// its tables' (and a row record by the smallest of its blocks'), the frame's width by the
// smallest of all; without them (or with one bound for all) by the frame's. The runner's frames
// are the CPU backend's byte for byte, with and without row records, and each decoder writes the
// other's bytes.
TEST_P(KernelRunner, LocalTableBoundsMatchCpuBackend) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestLayout> layouts = table_layouts(rng);
  std::vector<TestChunk> batch;
  for (bool row_records : {true, false}) {
    for (size_t li = 0; li < layouts.size(); ++li) {
      const RowLayout& l = layouts[li].row;
      for (DType t : kFloatTypes) {
        const size_t rows = 1 + rng() % 6;
        const size_t count = rng() % 4 == 0 ? 1 + rng() % l.row_elems
                             : rng() % 2    ? rows * l.row_elems
                                            : rows * l.row_elems + 1 + rng() % 40;
        TestChunk c = chunk(t, BoundMode::kLocal, std::ldexp(1.0, -(int)(rng() % 8) - 4),
                            table_values(l, count, rng), rng() % 3 == 0 ? 1 : 0, rng() % 3);
        c.params.caps = row_records ? caps() | kCapRowRecords : caps() & ~kCapRowRecords;
        c.params.layout = &l;
        batch.push_back(c);
      }
    }
  }
  test::BothWays both;
  test::compress_both_ways(batch, 1 << 20, describe_table, &both);
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE(describe_table(batch[i], i));
    test::DecodedBothWays d;
    test::decode_both_ways(both.cpu_frames[i], batch[i].bytes.size(), &d);
    EXPECT_EQ(d.runner.status, (int32_t)Status::kOk);
    EXPECT_EQ(d.cpu, Status::kOk);
    EXPECT_TRUE(std::equal(d.cpu_dst.begin(), d.cpu_dst.end(), d.runner_dst.begin()))
        << "decoders disagree";
  }
}

// A batch of one layout shared by many chunks (staged once) beside chunks of other layouts and
// none, and a version 1 receiver: same frames as the CPU backend.
TEST_P(KernelRunner, TableLayoutsSharedAcrossChunks) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestLayout> layouts = table_layouts(rng);
  std::vector<TestChunk> batch;
  for (int i = 0; i < 24; ++i) {
    const RowLayout& l = layouts[i % 3 == 0 ? 2 : 5].row;
    TestChunk c = chunk(kFloatTypes[i % 3], i % 2 ? BoundMode::kRel : BoundMode::kAbs, 1e-2,
                        table_values(l, 500 + rng() % 3000, rng));
    c.params.caps = i % 4 == 3 ? caps() & ~kCapTable : caps() | kCapTable;
    c.params.layout = &l;
    batch.push_back(c);
  }
  check_table_batch(batch);
  std::vector<TestChunk> plain;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(1000);
    for (size_t k = 0; k < v.size(); ++k) v[k] = (float)std::sin(0.01 * (double)k);
    plain.push_back(chunk(kFloatTypes[i], BoundMode::kRel, 1e-3, v));
  }
  check_batch(plain);
}

// A layout the CPU compress() refuses (widths that do not sum to the row, a table of no column,
// start_col past the row, a bound that is not positive and finite) is refused by the runner's
// batch too; a valid one is taken.
TEST(KernelRunnerArgs, InvalidLayoutsRefusedLikeTheCpu) {
  std::vector<uint8_t> src(4000), dst(8000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = (uint8_t)(i * 7);
  uint32_t cols[3] = {4, 8, 4};
  double bounds[3] = {1e-2, 1e-3, 1e-2};
  for (int k = 0; k < 7; ++k) {
    RowLayout l;
    l.row_elems = 16;
    l.n_tables = 3;
    l.table_cols = cols;
    l.table_bounds = bounds;
    cols[1] = 8;
    bounds[1] = 1e-3;
    bool valid = false;
    switch (k) {
      case 0:
        l.row_elems = 17;
        break;
      case 1:
        cols[1] = 0;
        break;
      case 2:
        l.start_col = 16;
        break;
      case 3:
        bounds[1] = std::nan("");
        break;
      case 4:
        bounds[1] = -1.0;
        break;
      case 5:
        bounds[1] = std::numeric_limits<double>::infinity();
        break;
      default:
        valid = true;
        break;
    }
    for (BoundMode m : {BoundMode::kRel, BoundMode::kAbs, BoundMode::kLocal}) {
      gpu::ChunkToCompress c;
      c.params = test::gpu_params();
      c.params.mode = m;
      c.params.layout = &l;
      c.src = src.data();
      c.src_bytes = src.size();
      std::vector<gpu::FrameResult> r;
      size_t fb = 0;
      const Status cpu = compress(c.params, src.data(), src.size(), dst.data(), dst.size(), &fb);
      EXPECT_EQ(cpu, valid ? Status::kOk : Status::kInvalidArgument) << "case " << k;
      EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1 << 20, dst.data(), dst.size(), &r),
                valid ? gpu::GpuStatus::kOk : gpu::GpuStatus::kInvalidArgument)
          << "case " << k;
    }
  }
}

// Damaged table sections: the runner's decoder gives the CPU decoder's verdict (status and
// rejecting check) and, when both accept, the same bytes; a rejected frame is never written.
TEST(KernelRunnerHostile, TableSectionsGiveCpuVerdict) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<TestLayout> layouts = table_layouts(rng);
  std::vector<std::vector<uint8_t>> frames;
  for (size_t li = 0; li < layouts.size(); ++li) {
    for (DType t : kFloatTypes) {
      CodecParams p;
      p.dtype = t;
      p.mode = li % 2 ? BoundMode::kAbs : BoundMode::kRel;
      p.bound = 1e-2;
      p.caps = li % 3 == 0 ? kCapStaged | kCapTable : kCapsAll;
      p.layout = &layouts[li].row;
      const auto bytes = to_bytes(t, table_values(layouts[li].row, 1500, rng), li % 2);
      std::vector<uint8_t> frame(max_frame_bytes(bytes.size()));
      size_t fb = 0;
      ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb),
                Status::kOk);
      frame.resize(fb);
      FrameInfo info;
      ASSERT_EQ(read_frame_info(frame.data(), fb, &info), Status::kOk);
      if (info.method == (uint8_t)FrameMethod::kStaged &&
          info.quant == (uint8_t)StagedQuant::kTable)
        frames.push_back(frame);
    }
  }
  ASSERT_GT(frames.size(), 12u);
  const uint32_t kNaN = 0x7fc00000u, kInf = 0x7f800000u, kSubnormal = 0x00000001u;
  int compared = 0, rejected = 0, accepted = 0;
  for (int iter = 0; iter < 1200; ++iter) {
    std::vector<uint8_t> f = frames[iter % frames.size()];
    staged::Header h;
    ASSERT_EQ(staged::parse(f.data(), f.size(), &h), staged::Reject::kNone);
    const uint64_t q = staged::section_offset(h, StagedSection::kQuant);
    const uint32_t n_tables = block::load_le32(f.data() + q + 8);
    const uint32_t row = block::load_le32(f.data() + q);
    uint8_t* e = f.data() + q + table::kHeaderBytes + table::kEntryBytes * (rng() % n_tables);
    const int kind = iter % 16;
    switch (kind) {
      case 0:
        block::store_le32(f.data() + q, 0);  // row_elems 0
        break;
      case 1:
        block::store_le32(f.data() + q, rng() % 2 ? kMaxRowElems + 1 : row + 1);  // too big
        break;
      case 2:
        block::store_le32(f.data() + q + 4, row + (uint32_t)(rng() % 3));  // start_col >= row
        break;
      case 3:
        block::store_le32(f.data() + q + 8, rng() % 2 ? 0 : n_tables + 1);  // n_tables
        break;
      case 4:
        block::store_le32(e, block::load_le32(e) + 1 + (uint32_t)(rng() % 3));  // cols sum
        break;
      case 5:
        block::store_le32(e, 0);  // a table of no column
        break;
      case 6:  // step subnormal, inf, NaN
        block::store_le32(e + 4, kind == 6 && rng() % 3 == 0 ? kSubnormal
                                 : rng() % 2                 ? kInf
                                                             : kNaN);
        break;
      case 7:  // a value beside a step, or a step beside a value
        if (block::load_le32(e + 4) != 0) {
          block::store_le32(e + 8, quant::float_to_bits(1.5f));
        } else {
          block::store_le32(e + 4, quant::float_to_bits(0.25f));
        }
        break;
      case 8:  // a non-finite exact value
        block::store_le32(e + 4, 0);
        block::store_le32(e + 8, rng() % 2 ? kInf : kNaN);
        break;
      case 9:  // a valid but different step or value: both decoders accept, same bytes
        if (block::load_le32(e + 4) != 0) {
          block::store_le32(
              e + 4, quant::float_to_bits(0.5f * quant::bits_to_float(block::load_le32(e + 4))));
        } else {
          block::store_le32(e + 8, quant::float_to_bits(-2.5f));
        }
        break;
      case 10:  // another valid start column: same bytes
        block::store_le32(f.data() + q + 4, (uint32_t)(rng() % row));
        break;
      case 11: {  // two tables' widths exchanged (the sum stays): valid
        if (n_tables < 2) break;
        uint8_t* e2 = f.data() + q + table::kHeaderBytes + table::kEntryBytes * (rng() % n_tables);
        const uint32_t a = block::load_le32(e), b = block::load_le32(e2);
        block::store_le32(e, b);
        block::store_le32(e2, a);
        break;
      }
      case 12: {  // the section one byte shorter or longer (the codes section pays)
        uint8_t* dq = f.data() + kFrameHeaderBytes + 4 * (int)StagedSection::kQuant;
        uint8_t* dc = f.data() + kFrameHeaderBytes + 4 * (int)StagedSection::kCodes;
        const uint32_t d = rng() % 2 ? 1u : 0xffffffffu;
        block::store_le32(dq, block::load_le32(dq) + d);
        block::store_le32(dc, block::load_le32(dc) - d);
        break;
      }
      default:  // random byte flips in the section
        for (int k = 0; k < 1 + (int)(rng() % 3); ++k)
          f[q + rng() % (table::section_bytes(n_tables))] ^= (uint8_t)(1 + rng() % 255);
        break;
    }
    const uint64_t cap = 1500 * 4 + 8;
    test::DecodedBothWays both;
    test::decode_both_ways(f, cap, &both);
    if (HasFatalFailure()) return;
    ASSERT_EQ((Status)both.runner.status, both.cpu)
        << "iter " << iter << " kind " << kind << " (CPU: " << both.cpu_reason << ")";
    ++compared;
    if (both.cpu == Status::kOk) {
      ++accepted;
      ASSERT_EQ(both.runner.out_bytes, both.cpu_bytes);
      ASSERT_TRUE(same_bytes(both.runner_dst.data(), both.cpu_dst.data(), both.cpu_bytes))
          << "iter " << iter << " kind " << kind;
      continue;
    }
    ++rejected;
    EXPECT_EQ(staged::reject_name((staged::Reject)both.runner.reject), both.cpu_reason)
        << "iter " << iter << " kind " << kind;
    for (size_t k = 0; k < cap; ++k)
      ASSERT_EQ(both.runner_dst[k], kCanary) << "a rejected frame was written, iter " << iter;
  }
  EXPECT_EQ(compared, 1200);
  EXPECT_GT(rejected, 500);
  EXPECT_GT(accepted, 100);
}

TEST(KernelRunnerArgs, BatchArgumentsChecked) {
  std::vector<uint8_t> src(100), dst(1000);
  gpu::ChunkToCompress c;
  c.params = test::gpu_params();
  c.src = src.data();
  c.src_bytes = src.size();
  std::vector<gpu::FrameResult> r;
  c.params.bound = -1.0;
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1024, dst.data(), dst.size(), &r),
            gpu::GpuStatus::kInvalidArgument);
  c.params.bound = std::nan("");
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1024, dst.data(), dst.size(), &r),
            gpu::GpuStatus::kInvalidArgument);
  c.params.bound = 0.1;
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 64, dst.data(), dst.size(), &r),
            gpu::GpuStatus::kInvalidArgument)
      << "chunk above max_chunk_bytes";
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1024, dst.data(), 147, &r),
            gpu::GpuStatus::kOutputTooSmall);
  c.src = nullptr;
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1024, dst.data(), dst.size(), &r),
            gpu::GpuStatus::kInvalidArgument);
  c.params.dtype = DType::kBytes;  // the bound is ignored for bytes, the null pointer is not
  c.src = src.data();
  c.params.bound = -1.0;
  EXPECT_EQ(kern::runner_compress_batch(&c, 1, 1024, dst.data(), dst.size(), &r),
            gpu::GpuStatus::kOk);
}

// Mutated frames of both versions: the runner's decoder gives the CPU decoder's status (except
// the documented version 1 case of a frame that is too large for dst and also corrupt), rejects a
// version 2 frame by the CPU decoder's check, writes nothing for a rejected frame and never
// writes out of bounds.
TEST(KernelRunnerHostile, FramesGiveCpuStatusAndReason) {
  std::mt19937_64 rng(test::test_seed());
  std::vector<float> v(1000);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& x : v) x = g(rng);
  v[10] = std::numeric_limits<float>::infinity();
  v[500] = 1e30f;
  for (size_t u = 20; u < 40; ++u)
    std::copy(v.begin() + 16 * (u - 10), v.begin() + 16 * (u - 9), v.begin() + 16 * u);
  struct Original {
    std::vector<uint8_t> frame;
    bool v2;
  };
  std::vector<Original> originals;
  const uint32_t caps_list[] = {kCapV1, kCapV1 | kCapStaged, kCapStaged | kCapRans, kCapsAll};
  for (DType t : kFloatTypes)
    for (uint32_t caps : caps_list)
      for (BoundMode m : {BoundMode::kRel, BoundMode::kLocal}) {
        if (m == BoundMode::kLocal && !(caps & kCapStaged)) continue;
        const auto bytes = to_bytes(t, v, 1);
        std::vector<uint8_t> frame(max_frame_bytes(bytes.size()));
        size_t fb = 0;
        CodecParams p;
        p.dtype = t;
        p.mode = m;
        p.bound = m == BoundMode::kLocal ? 1e-2 : 1e-2;
        p.caps = caps;
        ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb),
                  Status::kOk);
        frame.resize(fb);
        originals.push_back({frame, (caps & kCapStaged) != 0});
      }
  const uint64_t cap = 4096 + 64;
  int compared = 0, rejected_v2 = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    const Original& o = originals[iter % originals.size()];
    std::vector<uint8_t> f = o.frame;
    const int kind = iter % 5;
    if (kind == 0) {  // payload byte flips
      for (int k = 0; k < 1 + (int)(rng() % 4); ++k)
        f[kFrameHeaderBytes + rng() % (f.size() - kFrameHeaderBytes)] ^= (uint8_t)(1 + rng() % 255);
    } else if (kind == 1) {  // truncation or extension
      f.resize(rng() % 2 ? rng() % f.size() : f.size() + 1 + rng() % 8, 0);
    } else if (kind == 2 && o.v2) {  // a section length moved to its neighbour
      const size_t a = rng() % kStagedSections, b = (a + 1) % kStagedSections;
      const uint32_t d = 1 + (uint32_t)(rng() % 3);
      uint8_t* da = f.data() + kFrameHeaderBytes + 4 * a;
      uint8_t* db = f.data() + kFrameHeaderBytes + 4 * b;
      if (block::load_le32(da) >= d) {
        block::store_le32(da, block::load_le32(da) - d);
        block::store_le32(db, block::load_le32(db) + d);
      }
    } else {  // a header field changed, check recomputed so the field itself is tested
      const size_t v1_fields[] = {hdr::kMethod,        hdr::kDType,      hdr::kFlags,
                                  hdr::kOriginalBytes, hdr::kFrameBytes, hdr::kStep,
                                  hdr::kOutlierCount,  hdr::kBlockElems, hdr::kReserved};
      const size_t v2_fields[] = {hdr::kMethod,     hdr::kDType,
                                  hdr::kFlags,      hdr::kOriginalBytes,
                                  hdr2::kQuant,     hdr2::kCoder,
                                  hdr2::kDedup,     hdr2::kReserved,
                                  hdr2::kStep,      hdr2::kAppliedBound + 6,
                                  hdr2::kStreamUnit};
      const size_t off = o.v2 ? v2_fields[rng() % 11] : v1_fields[rng() % 9];
      f[off + (o.v2 ? 0 : rng() % 2)] ^= (uint8_t)(1u << (rng() % 8));
      block::store_le32(f.data() + hdr::kHeaderCheck, block::fnv1a32(f.data(), hdr::kHeaderCheck));
    }
    test::DecodedBothWays both;
    test::decode_both_ways(f, cap, &both);
    if (HasFatalFailure()) return;
    const Status got = (Status)both.runner.status;
    FrameInfo info;
    if (!o.v2 && got == Status::kOutputTooSmall &&
        read_frame_info(f.data(), f.size(), &info) == Status::kOk && info.original_bytes > cap &&
        both.cpu == Status::kCorruptFrame)
      continue;
    ASSERT_EQ(got, both.cpu) << "iter " << iter << " kind " << kind << " (CPU: " << both.cpu_reason
                             << ")";
    ++compared;
    const bool is_v2 = f.size() >= kFrameHeaderBytes && f[hdr::kVersion] == kFrameVersion2;
    if (both.cpu == Status::kOk) {
      ASSERT_EQ(both.runner.out_bytes, both.cpu_bytes);
      ASSERT_TRUE(same_bytes(both.runner_dst.data(), both.cpu_dst.data(), both.cpu_bytes))
          << "iter " << iter;
      continue;
    }
    if (is_v2) {
      ++rejected_v2;
      EXPECT_EQ(staged::reject_name((staged::Reject)both.runner.reject), both.cpu_reason)
          << "iter " << iter << " kind " << kind;
      for (size_t k = 0; k < cap; ++k)
        ASSERT_EQ(both.runner_dst[k], kCanary)
            << "a rejected frame wrote its destination, iter " << iter;
      for (size_t k = 0; k < cap; ++k)
        ASSERT_EQ(both.cpu_dst[k], kCanary)
            << "the CPU decoder wrote before rejecting, iter " << iter;
    }
  }
  EXPECT_GT(compared, 1200);
  EXPECT_GT(rejected_v2, 300);
}

// The runner's decoder against the CPU decoder on one (perhaps damaged) frame: the same status;
// the same bytes when both accept; the same reason, and nothing written, when both reject.
// Returns whether the frame was accepted.
bool expect_cpu_verdict(const test::DecodedBothWays& both, uint64_t cap) {
  EXPECT_EQ((Status)both.runner.status, both.cpu) << both.cpu_reason;
  if (both.cpu == Status::kOk) {
    EXPECT_EQ(both.runner.out_bytes, both.cpu_bytes);
    EXPECT_TRUE(same_bytes(both.runner_dst.data(), both.cpu_dst.data(), both.cpu_bytes));
    return true;
  }
  EXPECT_EQ(staged::reject_name((staged::Reject)both.runner.reject), both.cpu_reason);
  for (size_t k = 0; k < cap; ++k)
    if (both.runner_dst[k] != kCanary) {
      ADD_FAILURE() << "a rejected frame wrote its destination at " << k;
      break;
    }
  return false;
}

// The CPU backend's frame of the f32 values v with parameters p.
void cpu_frame(const CodecParams& p, const std::vector<float>& v, std::vector<uint8_t>* frame) {
  const auto bytes = to_bytes(DType::kF32, v);
  frame->resize(max_frame_bytes(bytes.size()));
  size_t fb = 0;
  ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame->data(), frame->size(), &fb),
            Status::kOk);
  frame->resize(fb);
}

struct Verdicts {
  int accepted = 0, rejected = 0;
};

// iters damaged frames, frames in turn, each with 1-3 bits flipped in its section `section`
// (every other one within the section's first head_bytes only, when head_bytes > 0): the runner's
// decoder gives the CPU decoder's verdict on each (expect_cpu_verdict), counted in *v.
void flip_section_bits(const std::vector<std::vector<uint8_t>>& frames, StagedSection section,
                       uint32_t head_bytes, int iters, uint64_t cap, uint64_t seed,
                       std::mt19937_64& rng, Verdicts* v) {
  for (int iter = 0; iter < iters; ++iter) {
    std::vector<uint8_t> f = frames[iter % frames.size()];
    staged::Header h;
    ASSERT_EQ(staged::parse(f.data(), f.size(), &h), staged::Reject::kNone);
    const uint64_t at = staged::section_offset(h, section);
    const uint32_t len = head_bytes > 0 && iter % 2 == 0 ? head_bytes : h.section[(int)section];
    for (int k = 0; k < 1 + (int)(rng() % 3); ++k)
      f[at + rng() % len] ^= (uint8_t)(1u << (rng() % 8));
    test::DecodedBothWays both;
    test::decode_both_ways(f, cap, &both);
    if (::testing::Test::HasFatalFailure()) return;
    SCOPED_TRACE("seed " + std::to_string(seed) + ", iter " + std::to_string(iter));
    if (expect_cpu_verdict(both, cap)) {
      ++v->accepted;
    } else {
      ++v->rejected;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

// Frames of long and short rANS segments with the segment size flag flipped or beside an
// invalid shift: the runner's decoder gives the CPU decoder's verdict (accepting a flag that
// describes the same single segment, with the same bytes) and writes nothing when it rejects.
TEST(KernelRunnerHostile, SegmentSizeFlagGivesCpuVerdict) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  int long_frames = 0, accepted = 0, rejected = 0;
  for (uint32_t n : {12000u, 16384u, 24000u, 40000u}) {
    std::vector<float> v(n);
    for (float& x : v) x = 0.2f * g(rng);
    const auto bytes = to_bytes(DType::kF32, v);
    CodecParams p;
    p.mode = BoundMode::kRel;
    p.bound = 1e-2;
    p.rans_min_gain = 0;
    p.caps = kCapsAll & ~kCapHistory;
    std::vector<uint8_t> frame(max_frame_bytes(bytes.size()));
    size_t fb = 0;
    ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb),
              Status::kOk);
    frame.resize(fb);
    staged::Header h;
    ASSERT_EQ(staged::parse(frame.data(), frame.size(), &h), staged::Reject::kNone);
    ASSERT_EQ(h.coder, (uint8_t)StagedCoder::kRans) << "seed " << seed;
    long_frames += has_long_segments(frame);
    const size_t at = staged::section_offset(h, StagedSection::kCodes);
    for (int kind = 0; kind < 3; ++kind) {
      std::vector<uint8_t> f = frame;
      if (kind == 1) f[at] ^= rans::kLongSegmentFlag;
      if (kind == 2) f[at] = (uint8_t)(f[at] | 17u);
      const uint64_t cap = bytes.size();
      test::DecodedBothWays both;
      test::decode_both_ways(f, cap, &both);
      if (HasFatalFailure()) return;
      SCOPED_TRACE("seed " + std::to_string(seed) + ", n " + std::to_string(n) + ", kind " +
                   std::to_string(kind));
      if (expect_cpu_verdict(both, cap)) {
        ++accepted;
      } else {
        ++rejected;
        EXPECT_STREQ(both.cpu_reason.c_str(), "rANS stream");
      }
      if (HasFailure()) return;
    }
  }
  // Accepted: the 4 frames as encoded, and the 2 short ones flagged long. Rejected: the 2 long
  // ones flagged short, and all 4 with a shift of 17.
  EXPECT_EQ(long_frames, 2);
  EXPECT_EQ(accepted, 4 + 2);
  EXPECT_EQ(rejected, 2 + 4);
}

// rANS frames (short and long segments, partial last rounds, rel and local, codes with and
// without raw low bits) with bits of their codes section flipped, mostly in the segments' states
// and words: the runner's lock-step segment decoder (a warp per segment) gives the CPU decoder's
// verdict and reason, the same bytes when both accept, and writes nothing when it rejects.
TEST(KernelRunnerHostile, RansSegmentsGiveCpuVerdict) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<std::vector<uint8_t>> frames;
  int long_frames = 0;
  for (uint32_t n : {1000u, 12007u, 40000u}) {
    for (BoundMode m : {BoundMode::kRel, BoundMode::kLocal}) {
      for (double bound : {1e-2, 1e-4}) {  // 1e-4 in rel mode: codes wider than a byte
        std::vector<float> v(n);
        for (float& x : v) x = 0.2f * g(rng);
        CodecParams p;
        p.mode = m;
        p.bound = bound;
        p.rans_min_gain = 0;
        p.caps = kCapsAll & ~kCapHistory;
        std::vector<uint8_t> frame;
        ASSERT_NO_FATAL_FAILURE(cpu_frame(p, v, &frame));
        staged::Header h;
        ASSERT_EQ(staged::parse(frame.data(), frame.size(), &h), staged::Reject::kNone);
        if (h.coder != (uint8_t)StagedCoder::kRans) continue;
        long_frames += has_long_segments(frame);
        frames.push_back(frame);
      }
    }
  }
  ASSERT_GE(frames.size(), 8u) << "seed " << seed;
  EXPECT_GT(long_frames, 0) << "seed " << seed;
  Verdicts verdicts;
  flip_section_bits(frames, StagedSection::kCodes, 0, 600, 40000 * 4, seed, rng, &verdicts);
  if (HasFailure()) return;
  EXPECT_GT(verdicts.rejected, 300) << "seed " << seed;
  EXPECT_GT(verdicts.accepted, 0) << "seed " << seed;
}

// Frames with Exp-Golomb dedup records (repeats of 64-value vectors, close together but for the
// first) with bits of their dedup section flipped: the runner's decoder gives the CPU decoder's
// verdict and reason, the same bytes when both accept, and writes nothing when it rejects.
TEST(KernelRunnerHostile, GolombRecordsGiveCpuVerdict) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<std::vector<uint8_t>> frames;
  for (BoundMode m : {BoundMode::kLocal, BoundMode::kRel}) {
    for (int f = 0; f < 3; ++f) {
      // The first 40 vectors distinct (the first run's gap needs 6 bits in a fixed record), then
      // half the vectors repeat an earlier one.
      std::vector<float> v(64 * 128);
      for (float& x : v) x = g(rng);
      for (size_t j = 40; j < 128; ++j)
        if (rng() % 2 == 0) {
          const size_t i = rng() % j;
          std::copy(v.begin() + 64 * i, v.begin() + 64 * (i + 1), v.begin() + 64 * j);
        }
      CodecParams p;
      p.mode = m;
      p.bound = 1e-2;
      p.caps = kCapsAll & ~kCapHistory;
      std::vector<uint8_t> frame;
      ASSERT_NO_FATAL_FAILURE(cpu_frame(p, v, &frame));
      ASSERT_TRUE(has_golomb_records(frame)) << "seed " << seed;
      frames.push_back(frame);
    }
  }
  Verdicts verdicts;
  flip_section_bits(frames, StagedSection::kDedup, 0, 600, 64 * 128 * 4, seed, rng, &verdicts);
  if (HasFailure()) return;
  EXPECT_GT(verdicts.rejected, 300) << "seed " << seed;
  EXPECT_GT(verdicts.accepted, 0) << "seed " << seed;
}

// Local frames with packed records (Gaussian blocks of several scales, a zero block now and then,
// at the default bound and INT8's) with bits of their quant section flipped: the runner's decoder
// gives the CPU decoder's verdict and reason, the same bytes when both accept, and writes nothing
// when it rejects.
TEST(KernelRunnerHostile, PackedRecordsGiveCpuVerdict) {
  const uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<std::vector<uint8_t>> frames;
  for (double bound : {1e-2, kInt8MatchingLocalBound}) {
    for (int f = 0; f < 3; ++f) {
      std::vector<float> v(32 * 300);
      for (size_t b = 0; b < 300; ++b) {
        const float scale = b % 37 == 5 ? 0.0f : std::ldexp(1.0f, (int)(rng() % 6));
        for (size_t i = 0; i < 32; ++i) v[32 * b + i] = scale * g(rng);
      }
      CodecParams p;
      p.mode = BoundMode::kLocal;
      p.bound = bound;
      p.caps = kCapsAll & ~kCapHistory;
      std::vector<uint8_t> frame;
      ASSERT_NO_FATAL_FAILURE(cpu_frame(p, v, &frame));
      ASSERT_TRUE(has_packed_records(frame)) << "seed " << seed;
      frames.push_back(frame);
    }
  }
  // The head and the packed head half the time (their few bytes decide every record).
  Verdicts verdicts;
  flip_section_bits(frames, StagedSection::kQuant,
                    local::kQuantHeaderBytes + local::kPackedHeadBytes, 600, 32 * 300 * 4, seed,
                    rng, &verdicts);
  if (HasFailure()) return;
  EXPECT_GT(verdicts.rejected, 100) << "seed " << seed;
  EXPECT_GT(verdicts.accepted, 0) << "seed " << seed;
}

TEST(KernelRunnerArgs, DecodeArgumentsAndCapacity) {
  std::vector<float> v(100, 1.5f);
  v[3] = 2.0f;
  const auto bytes = to_bytes(DType::kF32, v);
  std::vector<uint8_t> frame(max_frame_bytes(bytes.size()));
  size_t fb = 0;
  CodecParams p;
  p.mode = BoundMode::kAbs;
  p.bound = 0.01;
  p.caps = kCapV1;
  ASSERT_EQ(compress(p, bytes.data(), bytes.size(), frame.data(), frame.size(), &fb), Status::kOk);
  std::vector<uint8_t> dst(bytes.size());
  gpu::FrameToDecompress d[3];
  d[0] = {frame.data(), fb, dst.data(), bytes.size() - 1};  // too small
  d[1] = {nullptr, fb, dst.data(), dst.size()};             // null frame
  d[2] = {frame.data(), fb, dst.data(), dst.size()};        // context limit below the frame
  std::vector<gpu::DecodeResult> res;
  ASSERT_EQ(kern::runner_decompress_batch(d, 3, 256, &res), gpu::GpuStatus::kOk);
  EXPECT_EQ(res[0].status, (int32_t)Status::kOutputTooSmall);
  EXPECT_EQ(res[1].status, (int32_t)Status::kInvalidArgument);
  EXPECT_EQ(res[2].status, (int32_t)Status::kInvalidArgument);
  ASSERT_EQ(kern::runner_decompress_batch(d + 2, 1, 1 << 20, &res), gpu::GpuStatus::kOk);
  EXPECT_EQ(res[0].status, (int32_t)Status::kOk);
  EXPECT_EQ(res[0].out_bytes, bytes.size());
  for (size_t k = 0; k < v.size(); ++k)
    EXPECT_LE(std::fabs(elem_value(DType::kF32, dst.data(), k) - v[k]), 0.01) << k;
}

}  // namespace
}  // namespace squeeze
