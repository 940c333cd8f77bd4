// squeeze-soak-bound: the codec's error bound checked element by element on a large number of
// values, through the public API (include/squeeze/codec.h): squeeze::compress / decompress for
// single frames and squeeze::StreamEncoder / StreamDecoder for streams whose frames refer to
// earlier ones.
//
// Data: random values of several distributions, slices of the trained-model payloads
// (tests/data/corpus/*.f32, data/corpus/**/*.f32), and adversarial data (NaN / Inf with every
// payload, subnormals, huge magnitudes whose range overflows float, constant blocks, mixed +0 and
// -0, values on the edges of the quantization cells, bounds far below an ulp or far above the
// data). Every frame picks its source, dtype (f32, f16, bf16), mode (abs, rel, local), bound,
// decoder capabilities and size from a generator seeded by (--seed, frame number), so any frame
// can be made again alone (--frame N).
//
// The check is independent of the codec's own code (its own half / bfloat16 conversions) and in
// double precision: an element must satisfy |x - x'| <= eb, with eb = bound (abs), bound x the
// range (max - min) of the frame's finite elements (rel), or bound x the range of the finite
// elements of its own block of 32 (local); a non-finite element, and one whose eb is 0, must come
// back bit-exact; tail bytes (beyond the last whole element) bit-exact; a frame is never larger
// than max_frame_bytes(input); compress and decompress succeed and decode the original size.
#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "squeeze/codec.h"

#ifndef SQUEEZE_SOURCE_DIR
#define SQUEEZE_SOURCE_DIR "."
#endif

namespace {

using squeeze::BoundMode;
using squeeze::DType;
using Clock = std::chrono::steady_clock;

// ---- element formats (written here, not taken from the codec) ----------------------------------

uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double half_value(uint16_t h) {
  const int sign = h >> 15;
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  double v;
  if (exp == 0x1f) {
    v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<double>(man), -24);
  } else {
    v = std::ldexp(static_cast<double>(man + 1024), exp - 25);
  }
  return sign ? -v : v;
}

// float -> half, round to nearest even (from the float's exact value), Inf on overflow.
uint16_t to_half(float f) {
  const uint32_t u = f2u(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00 | ((u >> 13) & 0x3ff));
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return static_cast<uint16_t>(sign | 0x7c00);  // rounds to Inf
  // Scale to units of the half's ulp at this magnitude, round to nearest even.
  int e;
  std::frexp(a, &e);                                         // a = m * 2^e, m in [0.5, 1)
  int ulp_exp = e - 11;                                      // 11 significant bits
  if (ulp_exp < -24) ulp_exp = -24;                          // subnormals
  const double q = std::nearbyint(std::ldexp(a, -ulp_exp));  // FE_TONEAREST: ties to even
  const double r = std::ldexp(q, ulp_exp);
  // Re-encode r (exact in half now).
  if (r == 0) return sign;
  int re;
  std::frexp(r, &re);
  if (re - 1 < -14) return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::ldexp(r, 24)));
  const int hexp = re - 1 + 15;
  if (hexp >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  const int man = static_cast<int>(std::ldexp(r, 10 - (re - 1))) - 1024;
  return static_cast<uint16_t>(sign | (hexp << 10) | man);
}

double bf16_value(uint16_t b) {
  return u2f(static_cast<uint32_t>(b) << 16);
}

uint16_t to_bf16(float f) {
  const uint32_t u = f2u(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

size_t esize(DType t) {
  return squeeze::dtype_size(t);
}

double value_at(DType t, const uint8_t* p, size_t i) {
  if (t == DType::kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return t == DType::kF16 ? half_value(h) : bf16_value(h);
}

// Appends a float as an element of dtype t.
void put(DType t, std::vector<uint8_t>* out, float v) {
  if (t == DType::kF32) {
    const uint32_t u = f2u(v);
    for (int k = 0; k < 4; ++k) out->push_back(static_cast<uint8_t>(u >> (8 * k)));
    return;
  }
  const uint16_t h = t == DType::kF16 ? to_half(v) : to_bf16(v);
  out->push_back(static_cast<uint8_t>(h));
  out->push_back(static_cast<uint8_t>(h >> 8));
}
// Appends raw element bits (the low esize(t) bytes of bits).
void put_bits(DType t, std::vector<uint8_t>* out, uint32_t bits) {
  for (size_t k = 0; k < esize(t); ++k) out->push_back(static_cast<uint8_t>(bits >> (8 * k)));
}

// ---- data
// ----------------------------------------------------------------------------------------

const char* const kSourceNames[] = {
    // random
    "uniform", "normal", "embedding_rows", "block_scales", "heavy_tail", "sparse", "integers",
    "smooth",
    // trained-model payloads
    "corpus",
    // adversarial
    "nonfinite", "nonfinite_blocks", "subnormal", "huge", "constant", "signed_zeros", "cell_edges",
    "extreme_bounds", "overflowing_codes", "alternating"};
constexpr int kSources = sizeof(kSourceNames) / sizeof(kSourceNames[0]);
constexpr int kFirstCorpus = 8;
constexpr int kFirstAdversarial = 9;

const char* mode_name(BoundMode m) {
  return m == BoundMode::kAbs ? "abs" : m == BoundMode::kRel ? "rel" : "local";
}
int mode_index(BoundMode m) {
  return static_cast<int>(m);
}
int dtype_index(DType t) {
  return static_cast<int>(t) - 1;
}

struct Corpus {
  std::vector<float> values;
  std::vector<std::string> files;
  void load_dir(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return;
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      names.push_back(e->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      const std::string path = dir + "/" + n;
      struct stat st {};
      if (stat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        load_dir(path);
      } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".f32") == 0) {
        FILE* f = std::fopen(path.c_str(), "rb");
        if (f == nullptr) continue;
        const size_t count = static_cast<size_t>(st.st_size) / 4;
        const size_t at = values.size();
        values.resize(at + count);
        const size_t got = std::fread(values.data() + at, 4, count, f);
        values.resize(at + got);
        std::fclose(f);
        files.push_back(path);
      }
    }
  }
};

// A frame to check: the input bytes and the codec parameters.
struct Frame {
  int source = 0;
  squeeze::CodecParams params;
  std::vector<uint8_t> bytes;
  size_t n = 0;         // whole elements
  int stream_pos = -1;  // position in its stream (-1: a frame alone)
};

class Generator {
 public:
  Generator(uint64_t seed, const Corpus& corpus) : seed_(seed), corpus_(corpus) {}

  // Frame `index` of the run, or of a stream when stream_pos >= 0 (then shape, dtype and mode are
  // those of the stream's first frame, and rows repeat from frame to frame).
  void make(uint64_t index, Frame* f) {
    rng_.seed(mix(seed_ ^ mix(index + 0x9e37)));
    f->bytes.clear();
    // Source: a third random, a sixth trained-model payloads (when there are any), the rest
    // adversarial.
    const uint32_t pick = rng_() % 12;
    int src;
    if (pick < 4 || (pick < 6 && corpus_.values.empty())) {
      src = static_cast<int>(rng_() % kFirstCorpus);
    } else if (pick < 6) {
      src = kFirstCorpus;
    } else {
      src = kFirstAdversarial + static_cast<int>(rng_() % (kSources - kFirstAdversarial));
    }
    f->source = src;
    const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16};
    const BoundMode modes[] = {BoundMode::kAbs, BoundMode::kRel, BoundMode::kLocal};
    DType t = dtypes[rng_() % 3];
    BoundMode m = modes[rng_() % 3];
    const uint32_t caps_profiles[] = {
        squeeze::kCapsAll & ~squeeze::kCapHistory, squeeze::kCapV1 | squeeze::kCapStaged,
        squeeze::kCapV1 | squeeze::kCapStaged | squeeze::kCapDedup,
        squeeze::kCapV1 | squeeze::kCapStaged | squeeze::kCapRans, squeeze::kCapV1};
    f->params.caps = caps_profiles[rng_() % 5];
    f->params.dtype = t;
    f->params.mode = m;
    const size_t es = esize(t);
    // Size: NCCL's step sizes (32 KiB to 512 KiB) half the time, else anything up to 160 KB, or
    // a small frame; sometimes a tail of bytes beyond the last element.
    const uint32_t sz = rng_() % 10;
    size_t n;
    if (sz < 5) {
      n = (size_t{32} << 10 << (rng_() % 5)) / es;
    } else if (sz < 8) {
      n = 1 + rng_() % (160000 / es);
    } else {
      n = rng_() % 300;
    }
    const size_t tail = es > 1 && rng_() % 10 == 0 ? 1 + rng_() % (es - 1) : 0;
    f->n = n;
    double scale = 1.0;  // typical magnitude, for abs bounds
    fill(src, t, m, n, &f->bytes, &scale, &f->params.bound);
    for (size_t k = 0; k < tail; ++k) f->bytes.push_back(static_cast<uint8_t>(rng_()));
  }

  // The next frame of a stream: the same dtype and mode, a new bound, half of its rows taken from
  // the previous frame (so that they can be sent as references into it).
  void next_in_stream(const Frame& prev, uint64_t index, Frame* f) {
    rng_.seed(mix(seed_ ^ mix(index + 0x51ed)));
    f->source = prev.source;
    f->params = prev.params;
    const DType t = prev.params.dtype;
    const size_t es = esize(t);
    const size_t row = 64 * es;
    const size_t rows = prev.n * es / row;
    f->bytes.clear();
    f->n = 0;
    if (rows == 0) {
      f->bytes = prev.bytes;
      f->n = prev.n;
      return;
    }
    std::vector<uint8_t> fresh;
    double scale = 1, bound = 0;
    fill(prev.source < kFirstAdversarial ? prev.source : 1, t, prev.params.mode, rows * 64, &fresh,
         &scale, &bound);
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t* from =
          rng_() % 2 ? prev.bytes.data() + (rng_() % rows) * row : fresh.data() + r * row;
      f->bytes.insert(f->bytes.end(), from, from + row);
    }
    f->n = rows * 64;
    if (prev.params.mode == BoundMode::kAbs) {
      f->params.bound = prev.params.bound * (0.5 + (rng_() % 100) / 100.0);
    } else {
      f->params.bound =
          std::max(1e-7, std::min(0.3, prev.params.bound * (0.5 + (rng_() % 100) / 100.0)));
    }
  }

 private:
  static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  double uni() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  double gauss() { return normal_(rng_); }
  double log_uniform(double lo_exp, double hi_exp) {
    return std::pow(10.0, lo_exp + (hi_exp - lo_exp) * uni());
  }
  // A relative bound for rel and local modes, or an absolute one scaled to the data.
  double pick_bound(BoundMode m, double scale) {
    const double rel_bounds[] = {1e-1, 1e-2, 1.96e-3, 1e-3, 1e-4};
    if (m != BoundMode::kAbs) return rng_() % 2 ? rel_bounds[rng_() % 5] : log_uniform(-6, -0.5);
    return scale * (rng_() % 2 ? 1e-3 : log_uniform(-7, 0));
  }
  // Largest finite magnitude of the dtype, as a float.
  static float max_of(DType t) {
    return t == DType::kF16 ? 65504.0f : std::numeric_limits<float>::max();
  }

  void fill(int src, DType t, BoundMode m, size_t n, std::vector<uint8_t>* out, double* scale,
            double* bound) {
    out->reserve(n * esize(t) + 8);
    const float fmax = max_of(t);
    switch (src) {
      case 0: {  // uniform
        const double a = log_uniform(-3, 3);
        *scale = a;
        for (size_t i = 0; i < n; ++i) put(t, out, static_cast<float>(a * (2 * uni() - 1)));
        break;
      }
      case 1: {  // normal
        const double s = log_uniform(-3, 2);
        *scale = s;
        for (size_t i = 0; i < n; ++i) put(t, out, static_cast<float>(s * gauss()));
        break;
      }
      case 2: {  // embedding rows: per-row scale, a third of the rows repeat an earlier one
        const size_t dims[] = {16, 32, 64, 128};
        const size_t d = dims[rng_() % 4];
        *scale = 0.3;
        std::vector<float> row;
        std::vector<std::vector<float>> kept;
        for (size_t i = 0; i < n; i += d) {
          if (!kept.empty() && rng_() % 3 == 0) {
            row = kept[rng_() % kept.size()];
          } else {
            const double rs = 0.05 + 0.5 * uni();
            row.resize(d);
            for (float& v : row) v = static_cast<float>(rs * gauss());
            if (kept.size() < 64) kept.push_back(row);
          }
          for (size_t k = 0; k < d && i + k < n; ++k) put(t, out, row[k]);
        }
        break;
      }
      case 3: {  // each block of 32 at its own scale, 10^-4 .. 10^4 (local mode's case)
        double s = 1;
        *scale = 1;
        for (size_t i = 0; i < n; ++i) {
          if (i % 32 == 0) s = log_uniform(-4, 4);
          put(t, out, static_cast<float>(s * gauss()));
        }
        break;
      }
      case 4: {  // heavy tails: Cauchy, clipped to the dtype's range
        *scale = 1;
        std::cauchy_distribution<double> cauchy(0.0, 0.1);
        for (size_t i = 0; i < n; ++i) {
          double v = cauchy(rng_);
          v = std::max(-static_cast<double>(fmax), std::min(static_cast<double>(fmax), v));
          put(t, out, static_cast<float>(v));
        }
        break;
      }
      case 5: {  // mostly zeros
        *scale = 1;
        const double density = 0.01 + 0.2 * uni();
        for (size_t i = 0; i < n; ++i)
          put(t, out, uni() < density ? static_cast<float>(gauss()) : 0.0f);
        break;
      }
      case 6: {  // small integers
        *scale = 10;
        for (size_t i = 0; i < n; ++i)
          put(t, out, static_cast<float>(static_cast<int>(rng_() % 41) - 20));
        break;
      }
      case 7: {  // smooth
        *scale = 1;
        const double w = 0.001 + 0.1 * uni();
        for (size_t i = 0; i < n; ++i)
          put(t, out, static_cast<float>(std::sin(w * static_cast<double>(i))));
        break;
      }
      case kFirstCorpus: {  // trained-model payloads: a slice at a random place
        *scale = 1;
        const std::vector<float>& v = corpus_.values;
        const size_t at = n < v.size() ? rng_() % (v.size() - n) : 0;
        for (size_t i = 0; i < n; ++i) put(t, out, v[(at + i) % v.size()]);
        break;
      }
      default:
        adversarial(src, t, m, n, out, scale, bound);
        return;
    }
    *bound = pick_bound(m, *scale);
  }

  void adversarial(int src, DType t, BoundMode m, size_t n, std::vector<uint8_t>* out,
                   double* scale, double* bound) {
    const float fmax = max_of(t);
    *scale = 1;
    *bound = pick_bound(m, 1.0);
    const std::string name = kSourceNames[src];
    if (name == "nonfinite") {  // NaN (every kind of payload, both signs) and Inf sprinkled
      const double rate = rng_() % 2 ? 0.001 : 0.3 * uni();
      for (size_t i = 0; i < n; ++i) {
        if (uni() < rate) {
          put_bits(t, out, nonfinite_bits(t));
        } else {
          put(t, out, static_cast<float>(gauss()));
        }
      }
    } else if (name == "nonfinite_blocks") {  // whole blocks of NaN or Inf between normal ones
      for (size_t i = 0; i < n; i += 32) {
        const uint32_t kind = rng_() % 3;
        const uint32_t bits = nonfinite_bits(t);
        for (size_t k = 0; k < 32 && i + k < n; ++k) {
          if (kind == 0) {
            put_bits(t, out, bits);
          } else if (kind == 1) {
            put_bits(t, out, nonfinite_bits(t));
          } else {
            put(t, out, static_cast<float>(gauss()));
          }
        }
      }
    } else if (name == "subnormal") {  // subnormals of the dtype, alone or beside normal values
      const bool mixed = rng_() % 2;
      *scale = t == DType::kF16 ? 6e-5 : 1e-38;
      for (size_t i = 0; i < n; ++i) {
        if (mixed && rng_() % 4 == 0) {
          put(t, out, static_cast<float>(gauss()));
        } else {
          const uint32_t man = static_cast<uint32_t>(rng_()) & (t == DType::kF16    ? 0x3ff
                                                                : t == DType::kBF16 ? 0x7f
                                                                                    : 0x7fffff);
          const uint32_t sign = rng_() % 2 ? (t == DType::kF32 ? 0x80000000u : 0x8000u) : 0;
          put_bits(t, out, sign | man);
        }
      }
      if (m == BoundMode::kAbs) *bound = *scale * log_uniform(-4, 0);
    } else if (name == "huge") {  // near the largest finite value, both signs: ranges overflow
      *scale = fmax;
      for (size_t i = 0; i < n; ++i) {
        const double f = 1.0 - 1e-3 * uni();
        put(t, out, static_cast<float>((rng_() % 2 ? -1.0 : 1.0) * f * fmax));
      }
      if (m == BoundMode::kAbs) *bound = fmax * log_uniform(-6, -1);
    } else if (name == "constant") {  // constant blocks (and constant frames) of any value
      const bool whole = rng_() % 2;
      float c = static_cast<float>(gauss() * log_uniform(-3, 3));
      for (size_t i = 0; i < n; ++i) {
        if (!whole && i % 32 == 0) {
          const uint32_t k = rng_() % 4;
          c = k == 0   ? 0.0f
              : k == 1 ? static_cast<float>(gauss())
                       : static_cast<float>(fmax * uni());
        }
        put(t, out, c);
      }
    } else if (name == "signed_zeros") {  // +0 and -0 mixed, in zero blocks and among values
      for (size_t i = 0; i < n; ++i) {
        const bool block_of_zeros = (i / 32) % 2 == 0;
        if (block_of_zeros || rng_() % 3 == 0) {
          put(t, out, rng_() % 2 ? -0.0f : 0.0f);
        } else {
          put(t, out, static_cast<float>(gauss()));
        }
      }
    } else if (name == "cell_edges") {
      // Values on the edges of the quantization cells: (k + 1/2) x 2eb from the block's minimum
      // (0, with the range fixed to 1 by a 0 and a 1 in every block), give or take an ulp.
      double eb = *bound;
      if (m != BoundMode::kAbs) eb = *bound;  // range 1: eb = bound
      const double width = 2 * eb;
      const long cells = std::max(1L, std::min(100000L, static_cast<long>(1.0 / width)));
      for (size_t i = 0; i < n; ++i) {
        float v;
        if (m != BoundMode::kAbs && (i % 32 == 0 || i % 32 == 1)) {
          v = i % 32 == 0 ? 0.0f : 1.0f;
        } else {
          const long k = static_cast<long>(rng_() % static_cast<uint64_t>(cells));
          v = static_cast<float>((static_cast<double>(k) + 0.5) * width);
          const uint32_t nudge = rng_() % 3;
          if (nudge == 1) v = std::nextafter(v, 2.0f);
          if (nudge == 2) v = std::nextafter(v, -2.0f);
          if (m != BoundMode::kAbs) v = std::min(1.0f, std::max(0.0f, v));
        }
        put(t, out, v);
      }
    } else if (name == "extreme_bounds") {  // a bound far below an ulp, or far above the data
      for (size_t i = 0; i < n; ++i) put(t, out, static_cast<float>(gauss() * 100));
      const bool tiny = rng_() % 2;
      *bound = m == BoundMode::kAbs ? (tiny ? 1e-30 : 1e30) : (tiny ? 1e-15 : 1.0);
    } else if (name == "overflowing_codes") {
      // Large values with a small absolute bound: x / 2eb beyond any integer code.
      for (size_t i = 0; i < n; ++i) put(t, out, static_cast<float>(gauss() * log_uniform(3, 30)));
      *bound = m == BoundMode::kAbs ? log_uniform(-8, -2) : log_uniform(-12, -6);
    } else {  // alternating: the largest value and tiny ones within a block, signs flipping
      for (size_t i = 0; i < n; ++i) {
        const float big = static_cast<float>(fmax * (0.5 + 0.5 * uni()));
        const float tiny = static_cast<float>(1e-3 * gauss());
        put(t, out, (i % 2 ? -1.0f : 1.0f) * (rng_() % 8 == 0 ? big : tiny));
      }
    }
  }

  uint32_t nonfinite_bits(DType t) {
    const uint32_t k = rng_() % 6;
    if (t == DType::kF32) {
      const uint32_t man = 1 + static_cast<uint32_t>(rng_() % 0x7fffff);
      switch (k) {
        case 0:
          return 0x7f800000u;  // +Inf
        case 1:
          return 0xff800000u;  // -Inf
        case 2:
          return 0x7fc00000u;  // the canonical quiet NaN
        case 3:
          return 0x7f800000u | man;  // any NaN payload (signalling ones too)
        case 4:
          return 0xff800000u | man;  // negative NaN
        default:
          return 0x7f800001u;  // the smallest signalling NaN
      }
    }
    const bool half = t == DType::kF16;
    const uint32_t inf = half ? 0x7c00u : 0x7f80u;
    const uint32_t man = 1 + static_cast<uint32_t>(rng_() % (half ? 0x3ff : 0x7f));
    switch (k) {
      case 0:
        return inf;
      case 1:
        return inf | 0x8000u;
      case 2:
        return inf | (half ? 0x200u : 0x40u);
      case 3:
        return inf | man;
      case 4:
        return inf | 0x8000u | man;
      default:
        return inf | 1u;
    }
  }

  uint64_t seed_;
  const Corpus& corpus_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
};

// ---- the check
// -----------------------------------------------------------------------------------

enum Violation { kBound, kExact, kTail, kFrameSize, kCompressError, kDecodeError, kViolationKinds };
const char* const kViolationNames[] = {"bound",      "exact",          "tail",
                                       "frame_size", "compress_error", "decode_error"};

struct Totals {
  uint64_t values = 0;
  uint64_t frames = 0;
  uint64_t stream_frames = 0;
  uint64_t streams = 0;
  uint64_t exact_checked = 0;  // elements that had to come back bit-exact
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t outliers = 0;
  uint64_t violations[kViolationKinds] = {};
  uint64_t by_cell[3][3] = {};  // values by [mode][dtype]
  uint64_t by_source[kSources] = {};
  uint64_t frames_by_method[256] = {};
  double compress_s = 0, decompress_s = 0;
  uint64_t violating_frames = 0;
};

struct Checker {
  Totals* tot;
  std::string dump_dir;
  int dumped = 0;

  // Checks decoded `out` against frame `f`. Returns the number of violations found.
  uint64_t check(const Frame& f, const uint8_t* out, uint64_t index) {
    const DType t = f.params.dtype;
    const size_t es = esize(t);
    const size_t n = f.n;
    const uint8_t* src = f.bytes.data();
    std::vector<double> x(n), y(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = value_at(t, src, i);
      y[i] = value_at(t, out, i);
    }
    auto range = [&](size_t first, size_t last) {
      double mn = INFINITY, mx = -INFINITY;
      for (size_t i = first; i < last; ++i) {
        if (std::isfinite(x[i])) {
          mn = x[i] < mn ? x[i] : mn;
          mx = x[i] > mx ? x[i] : mx;
        }
      }
      return mn <= mx ? mx - mn : 0.0;
    };
    const double bound = f.params.bound;
    double eb = f.params.mode == BoundMode::kAbs   ? bound
                : f.params.mode == BoundMode::kRel ? bound * range(0, n)
                                                   : 0.0;
    uint64_t bad = 0;
    std::string detail;
    for (size_t b0 = 0; b0 < n; b0 += 32) {
      const size_t b1 = std::min(n, b0 + 32);
      if (f.params.mode == BoundMode::kLocal) eb = bound * range(b0, b1);
      for (size_t i = b0; i < b1; ++i) {
        if (!std::isfinite(x[i]) || eb == 0.0) {
          ++tot->exact_checked;
          if (std::memcmp(src + i * es, out + i * es, es) != 0) {
            ++bad;
            ++tot->violations[kExact];
            if (detail.size() < 2000)
              detail += note("exact", i, x[i], y[i], eb, src + i * es, out + i * es, es);
          }
        } else if (!(std::fabs(x[i] - y[i]) <= eb)) {
          ++bad;
          ++tot->violations[kBound];
          if (detail.size() < 2000)
            detail += note("bound", i, x[i], y[i], eb, src + i * es, out + i * es, es);
        }
      }
    }
    const size_t tail = f.bytes.size() - n * es;
    if (tail && std::memcmp(src + n * es, out + n * es, tail) != 0) {
      ++bad;
      ++tot->violations[kTail];
      detail += "tail bytes differ\n";
    }
    if (bad) report(f, index, detail);
    return bad;
  }

  static std::string note(const char* what, size_t i, double x, double y, double eb,
                          const uint8_t* a, const uint8_t* b, size_t es) {
    uint32_t ua = 0, ub = 0;
    std::memcpy(&ua, a, es);
    std::memcpy(&ub, b, es);
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "  %s: element %zu sent %.17g (0x%x) got %.17g (0x%x), eb %.17g\n", what, i, x,
                  ua, y, ub, eb);
    return buf;
  }

  void report(const Frame& f, uint64_t index, const std::string& detail) {
    ++tot->violating_frames;
    if (dumped >= 20) return;
    ++dumped;
    std::fprintf(stderr,
                 "VIOLATION in frame %llu (source %s, %s, %s, bound %.17g, caps 0x%x, %zu "
                 "elements, %zu bytes%s):\n%s",
                 static_cast<unsigned long long>(index), kSourceNames[f.source],
                 dtype_name(f.params.dtype), mode_name(f.params.mode), f.params.bound,
                 f.params.caps, f.n, f.bytes.size(),
                 f.stream_pos >= 0 ? ", in a stream: --frame does not make it again alone" : "",
                 detail.c_str());
    if (dump_dir.empty()) return;
    const std::string base = dump_dir + "/soak-bound-frame-" + std::to_string(index);
    if (FILE* o = std::fopen((base + ".bin").c_str(), "wb")) {
      std::fwrite(f.bytes.data(), 1, f.bytes.size(), o);
      std::fclose(o);
    }
    if (FILE* o = std::fopen((base + ".txt").c_str(), "w")) {
      std::fprintf(o, "dtype %s mode %s bound %.17g caps 0x%x elements %zu bytes %zu source %s\n%s",
                   dtype_name(f.params.dtype), mode_name(f.params.mode), f.params.bound,
                   f.params.caps, f.n, f.bytes.size(), kSourceNames[f.source], detail.c_str());
      std::fclose(o);
    }
    std::fprintf(stderr, "  input written to %s.bin\n", base.c_str());
  }
};

// For --inject: changes decoded element (k mod n) so that the check must fail: a bit flip of a
// non-finite element (which must come back exact); for a finite one, a NaN, or with abs f32 the
// value just past the bound (x + 1.0001 eb) where float can tell them apart.
void corrupt(const Frame& f, uint8_t* out, uint64_t k) {
  const size_t i = k % f.n;
  const DType t = f.params.dtype;
  const size_t es = esize(t);
  const double x = value_at(t, f.bytes.data(), i);
  if (!std::isfinite(x)) {
    out[i * es] ^= 1;
    return;
  }
  const uint32_t nan = t == DType::kF32 ? 0x7fc00000u : t == DType::kF16 ? 0x7e00u : 0x7fc0u;
  std::memcpy(out + i * es, &nan, es);
  if (t != DType::kF32 || f.params.mode != BoundMode::kAbs) return;
  const float y = static_cast<float>(x + f.params.bound * 1.0001);
  if (std::isfinite(y) && std::fabs(static_cast<double>(y) - x) > f.params.bound)
    std::memcpy(out + 4 * i, &y, 4);
}

struct Options {
  double values = 1e9;
  uint64_t seed = 1;
  double stream_fraction = 0.2;
  std::vector<std::string> corpus_dirs;
  std::string dump_dir = ".";
  double progress_s = 60;
  long long only_frame = -1;
  long long inject_every = 0;  // checks the checker: corrupts one decoded element every N frames
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [options]\n"
      "Checks the codec's error bound on every element of many frames (one thread). Prints\n"
      "one JSON line, then a summary; exit status 1 on any violation.\n"
      "  --values N        elements to check (default 1e9)\n"
      "  --seed S          generator seed (default 1); frame k is the same for the same seed\n"
      "  --streams F       fraction of frames sent as streams with history (default 0.2)\n"
      "  --corpus DIR      trained-model payloads (*.f32, searched recursively); repeatable;\n"
      "                    default %s/tests/data/corpus and %s/data/corpus\n"
      "  --dump-dir DIR    where violating inputs are written (default .)\n"
      "  --progress S      a progress line on stderr every S seconds (default 60)\n"
      "  --frame K         check frame K alone (a reproduction), verbosely\n"
      "  --inject N        checks the checker: moves one decoded element of every Nth frame just\n"
      "                    outside its bound (or flips a bit of an exact one); the run must then\n"
      "                    report that many violations\n",
      argv0, SQUEEZE_SOURCE_DIR, SQUEEZE_SOURCE_DIR);
}

std::string fmt_json_counts(const uint64_t* v, const char* const* names, int count) {
  std::string j = "{";
  for (int k = 0; k < count; ++k) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "%s\"%s\":%llu", k ? "," : "", names[k],
                  static_cast<unsigned long long>(v[k]));
    j += buf;
  }
  return j + "}";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  static const option opts[] = {
      {"values", required_argument, nullptr, 'n'},   {"seed", required_argument, nullptr, 's'},
      {"streams", required_argument, nullptr, 'S'},  {"corpus", required_argument, nullptr, 'c'},
      {"dump-dir", required_argument, nullptr, 'd'}, {"progress", required_argument, nullptr, 'p'},
      {"frame", required_argument, nullptr, 'f'},    {"inject", required_argument, nullptr, 'j'},
      {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "n:s:S:c:d:p:f:j:h", opts, nullptr)) != -1;) {
    switch (c) {
      case 'n':
        o.values = std::atof(optarg);
        break;
      case 's':
        o.seed = std::strtoull(optarg, nullptr, 0);
        break;
      case 'S':
        o.stream_fraction = std::atof(optarg);
        break;
      case 'c':
        o.corpus_dirs.push_back(optarg);
        break;
      case 'd':
        o.dump_dir = optarg;
        break;
      case 'p':
        o.progress_s = std::atof(optarg);
        break;
      case 'f':
        o.only_frame = std::atoll(optarg);
        break;
      case 'j':
        o.inject_every = std::atoll(optarg);
        break;
      case 'h':
        usage(argv[0]);
        return 0;
      default:
        usage(argv[0]);
        return 2;
    }
  }
  if (o.corpus_dirs.empty()) {
    o.corpus_dirs = {std::string(SQUEEZE_SOURCE_DIR) + "/tests/data/corpus",
                     std::string(SQUEEZE_SOURCE_DIR) + "/data/corpus"};
  }
  Corpus corpus;
  for (const std::string& d : o.corpus_dirs) corpus.load_dir(d);
  std::fprintf(stderr,
               "squeeze-soak-bound: %zu trained-model payload files, %zu values; backend %s\n",
               corpus.files.size(), corpus.values.size(), squeeze::cpu_backend_name());

  Totals tot;
  Checker checker{&tot, o.dump_dir};
  Generator gen(o.seed, corpus);
  const auto t0 = Clock::now();
  auto last_progress = t0;
  std::vector<uint8_t> frame_buf, out_buf;
  Frame f, prev;

  // Compresses and decompresses one frame (through the stream's coder when given) and checks it.
  auto run_frame = [&](const Frame& fr, uint64_t idx, squeeze::StreamEncoder* enc,
                       squeeze::StreamDecoder* dec) {
    const size_t in = fr.bytes.size();
    frame_buf.resize(squeeze::max_frame_bytes(in));
    out_buf.assign(in + 64, 0xa5);
    size_t fb = 0, ob = 0;
    squeeze::FrameStats st;
    const auto c0 = Clock::now();
    const squeeze::Status cs =
        enc ? enc->compress(fr.params, fr.bytes.data(), in, frame_buf.data(), frame_buf.size(), &fb,
                            &st)
            : squeeze::compress(fr.params, fr.bytes.data(), in, frame_buf.data(), frame_buf.size(),
                                &fb, &st);
    const auto c1 = Clock::now();
    tot.compress_s += std::chrono::duration<double>(c1 - c0).count();
    ++tot.frames;
    tot.values += fr.n;
    tot.by_cell[mode_index(fr.params.mode)][dtype_index(fr.params.dtype)] += fr.n;
    tot.by_source[fr.source] += fr.n;
    tot.bytes_in += in;
    if (cs != squeeze::Status::kOk) {
      ++tot.violations[kCompressError];
      checker.report(fr, idx, std::string("compress: ") + squeeze::status_string(cs) + "\n");
      return;
    }
    tot.bytes_out += fb;
    tot.outliers += st.outliers;
    ++tot.frames_by_method[st.method];
    if (fb > squeeze::max_frame_bytes(in)) {
      ++tot.violations[kFrameSize];
      checker.report(fr, idx, "frame larger than max_frame_bytes\n");
    }
    const auto d0 = Clock::now();
    const squeeze::Status ds =
        dec ? dec->decompress(frame_buf.data(), fb, out_buf.data(), in, &ob)
            : squeeze::decompress(frame_buf.data(), fb, out_buf.data(), in, &ob);
    tot.decompress_s += std::chrono::duration<double>(Clock::now() - d0).count();
    if (ds != squeeze::Status::kOk || ob != in) {
      ++tot.violations[kDecodeError];
      checker.report(fr, idx,
                     std::string("decompress: ") + squeeze::status_string(ds) + " (" +
                         squeeze::last_reject_reason() + "), " + std::to_string(ob) + " bytes\n");
      return;
    }
    if (o.inject_every > 0 && tot.frames % static_cast<uint64_t>(o.inject_every) == 0 && fr.n > 0)
      corrupt(fr, out_buf.data(), tot.frames);
    checker.check(fr, out_buf.data(), idx);
  };

  uint64_t index = o.only_frame >= 0 ? static_cast<uint64_t>(o.only_frame) : 0;
  std::mt19937_64 stream_rng(o.seed * 7 + 3);
  while (tot.values < o.values) {
    gen.make(index, &f);
    const bool stream = o.only_frame < 0 && std::uniform_real_distribution<double>(
                                                0, 1)(stream_rng) < o.stream_fraction;
    if (!stream) {
      f.stream_pos = -1;
      run_frame(f, index, nullptr, nullptr);
      ++index;
    } else {
      // A stream of 2-8 frames through one encoder / decoder pair, history on.
      squeeze::StreamEncoder enc;
      squeeze::StreamDecoder dec;
      const int len = 2 + static_cast<int>(stream_rng() % 7);
      f.params.caps = squeeze::kCapsAll;
      ++tot.streams;
      for (int k = 0; k < len; ++k) {
        if (k > 0) {
          prev = f;
          gen.next_in_stream(prev, index, &f);
        }
        f.stream_pos = k;
        run_frame(f, index, &enc, &dec);
        ++tot.stream_frames;
        ++index;
      }
    }
    if (o.only_frame >= 0) break;
    if (std::chrono::duration<double>(Clock::now() - last_progress).count() > o.progress_s) {
      last_progress = Clock::now();
      uint64_t v = 0;
      for (uint64_t x : tot.violations) v += x;
      const double s = std::chrono::duration<double>(last_progress - t0).count();
      std::fprintf(stderr, "  %.0f s: %.3g values, %llu frames, %llu violations, %.2f Mvalues/s\n",
                   s, static_cast<double>(tot.values), static_cast<unsigned long long>(tot.frames),
                   static_cast<unsigned long long>(v), tot.values / s / 1e6);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  uint64_t violations = 0;
  for (uint64_t x : tot.violations) violations += x;

  // One JSON line.
  std::string j = "{\"program\":\"squeeze-soak-bound\"";
  char buf[1024];
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::snprintf(
      buf, sizeof(buf),
      ",\"cpus\":%ld,\"backend\":\"%s\",\"threads\":1,\"seed\":%llu,\"values\":%llu,"
      "\"frames\":%llu,\"streams\":%llu,\"stream_frames\":%llu,\"exact_checked\":%llu,"
      "\"violations\":%llu,\"violating_frames\":%llu,\"seconds\":%.1f,"
      "\"values_per_s\":%.0f,\"compress_MBps\":%.1f,\"decompress_MBps\":%.1f,"
      "\"ratio\":%.3f,\"outliers\":%llu,\"corpus_files\":%zu,\"corpus_values\":%zu",
      cpus, squeeze::cpu_backend_name(), static_cast<unsigned long long>(o.seed),
      static_cast<unsigned long long>(tot.values), static_cast<unsigned long long>(tot.frames),
      static_cast<unsigned long long>(tot.streams),
      static_cast<unsigned long long>(tot.stream_frames),
      static_cast<unsigned long long>(tot.exact_checked),
      static_cast<unsigned long long>(violations),
      static_cast<unsigned long long>(tot.violating_frames), secs, tot.values / secs,
      tot.bytes_in / std::max(tot.compress_s, 1e-9) / 1e6,
      tot.bytes_in / std::max(tot.decompress_s, 1e-9) / 1e6,
      static_cast<double>(tot.bytes_in) / static_cast<double>(std::max<uint64_t>(1, tot.bytes_out)),
      static_cast<unsigned long long>(tot.outliers), corpus.files.size(), corpus.values.size());
  j += buf;
  j += ",\"violations_by_kind\":" +
       fmt_json_counts(tot.violations, kViolationNames, kViolationKinds);
  j += ",\"values_by_source\":" + fmt_json_counts(tot.by_source, kSourceNames, kSources);
  j += ",\"values_by_mode_dtype\":{";
  for (int m = 0; m < 3; ++m)
    for (int t = 0; t < 3; ++t) {
      std::snprintf(buf, sizeof(buf), "%s\"%s.%s\":%llu", m || t ? "," : "",
                    mode_name(static_cast<BoundMode>(m)), dtype_name(static_cast<DType>(t + 1)),
                    static_cast<unsigned long long>(tot.by_cell[m][t]));
      j += buf;
    }
  j += "},\"frames_by_method\":{";
  bool first = true;
  for (int k = 0; k < 256; ++k) {
    if (!tot.frames_by_method[k]) continue;
    std::snprintf(buf, sizeof(buf), "%s\"%d\":%llu", first ? "" : ",", k,
                  static_cast<unsigned long long>(tot.frames_by_method[k]));
    j += buf;
    first = false;
  }
  j += "}}";
  std::printf("%s\n", j.c_str());

  std::printf("values checked: %llu in %llu frames (%llu in %llu streams), %llu bit-exact checks\n",
              static_cast<unsigned long long>(tot.values),
              static_cast<unsigned long long>(tot.frames),
              static_cast<unsigned long long>(tot.stream_frames),
              static_cast<unsigned long long>(tot.streams),
              static_cast<unsigned long long>(tot.exact_checked));
  std::printf("violations: %llu", static_cast<unsigned long long>(violations));
  for (int k = 0; k < kViolationKinds; ++k)
    if (tot.violations[k])
      std::printf(" (%s %llu)", kViolationNames[k],
                  static_cast<unsigned long long>(tot.violations[k]));
  std::printf(
      "\nthroughput: %.2f Mvalues/s overall (generation and checks included), codec %.0f MB/s "
      "compress, %.0f MB/s decompress, ratio %.2f, %.0f s, 1 thread, backend %s\n",
      tot.values / secs / 1e6, tot.bytes_in / std::max(tot.compress_s, 1e-9) / 1e6,
      tot.bytes_in / std::max(tot.decompress_s, 1e-9) / 1e6,
      static_cast<double>(tot.bytes_in) / static_cast<double>(std::max<uint64_t>(1, tot.bytes_out)),
      secs, squeeze::cpu_backend_name());
  std::printf("values by mode.dtype:");
  for (int m = 0; m < 3; ++m)
    for (int t = 0; t < 3; ++t)
      std::printf(" %s.%s %.3g", mode_name(static_cast<BoundMode>(m)),
                  dtype_name(static_cast<DType>(t + 1)), static_cast<double>(tot.by_cell[m][t]));
  std::printf("\n%s\n", violations == 0 ? "PASS" : "FAIL");
  return violations == 0 ? 0 : 1;
}
