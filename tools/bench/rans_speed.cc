// squeeze-rans-speed: the entropy stage alone. Encodes and decodes whole segments (16,384 symbols,
// 32 lanes) with every rANS kernel set this CPU runs, on symbol streams of three entropies, and
// prints millions of symbols per second (median of the repetitions) and each set's speed-up over
// the scalar reference, measured in the same run; then the staged decoder's forms of decoding
// (dec32: 32-bit symbols a segment at a time; pairs: two segments at once). Every set's segments
// are checked byte for byte against the scalar set's, and every decode against the input.
//
//   squeeze-rans-speed [--segments N] [--reps N]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compress/cpu/kernels.h"
#include "compress/cpu/rans_kernels.h"
#include "compress/methods/rans.h"
#include "tools/bench/timing.h"

namespace {

using namespace squeeze;

struct Stream {
  const char* name;
  std::vector<uint8_t> sym;
  uint32_t freq[rans::kMaxSymbols] = {};
  uint32_t cum[rans::kMaxSymbols] = {};
  rans::Tables tables;
  double bits = 0;  // order-0 entropy, bits per symbol
};

// Symbols from a geometric law of parameter p (small p: near 8 bits; large: a few).
Stream make_stream(const char* name, double p, uint64_t count, uint64_t seed) {
  Stream s;
  s.name = name;
  std::mt19937_64 rng(seed);
  std::geometric_distribution<int> geo(p);
  s.sym.resize(count);
  uint32_t hist[rans::kMaxSymbols] = {};
  uint32_t n_sym = 0;
  for (uint8_t& x : s.sym) {
    x = (uint8_t)std::min(geo(rng), 255);
    ++hist[x];
    n_sym = std::max<uint32_t>(n_sym, x + 1u);
  }
  for (uint32_t k = 0; k < n_sym; ++k)
    if (hist[k]) s.bits -= (double)hist[k] / count * std::log2((double)hist[k] / count);
  rans::normalize(hist, n_sym, s.freq);
  for (uint32_t k = 0, c = 0; k < n_sym; ++k) {
    s.cum[k] = c;
    c += s.freq[k];
  }
  std::vector<uint8_t> table(rans::table_bytes(s.freq, n_sym));
  rans::write_table(s.freq, n_sym, table.data());
  const uint8_t* q = table.data();
  if (!rans::read_table(&q, table.data() + table.size(), &s.tables)) std::abort();
  return s;
}

struct Result {
  double enc_msym, dec_msym, wide_msym, pair_msym;
};

// Encodes and decodes every segment of s with set k; false when a segment differs from ref_out
// (when given) or a decode from the input.
bool run_set(const cpu::RansKernels& k, const Stream& s, int reps, std::vector<uint8_t>* out,
             const std::vector<uint8_t>* ref_out, Result* r) {
  const uint64_t n_seg = s.sym.size() / rans::kSegmentSymbols;
  const size_t seg_cap = rans::kStateBytes + 2 * (size_t)rans::kSegmentSymbols;
  out->assign(n_seg * seg_cap, 0);
  std::vector<uint32_t> words(n_seg);
  std::vector<uint16_t> scratch(rans::kSegmentSymbols + rans::kScratchSlack);
  std::vector<uint8_t> back(s.sym.size());
  const double enc = bench::median_seconds(reps, [&] {
    for (uint64_t g = 0; g < n_seg; ++g)
      words[g] =
          k.encode_segment(s.sym.data() + g * rans::kSegmentSymbols, rans::kSegmentSymbols, s.freq,
                           s.cum, scratch.data(), out->data() + g * seg_cap, cpu::WarmLines{});
  });
  bool ok = true;
  const double dec = bench::median_seconds(reps, [&] {
    for (uint64_t g = 0; g < n_seg; ++g)
      ok &= k.decode_segment(out->data() + g * seg_cap, words[g], rans::kSegmentSymbols, s.tables,
                             back.data() + g * rans::kSegmentSymbols, cpu::WarmLines{});
  });
  ok = ok && back == s.sym && (ref_out == nullptr || *ref_out == *out);
  // The staged decoder's forms: 32-bit symbols, a segment at a time and two at once.
  std::vector<uint32_t> wide(s.sym.size());
  const double dec_wide = bench::median_seconds(reps, [&] {
    for (uint64_t g = 0; g < n_seg; ++g)
      ok &= k.decode_segment_wide(out->data() + g * seg_cap, words[g], rans::kSegmentSymbols,
                                  s.tables, wide.data() + g * rans::kSegmentSymbols,
                                  cpu::WarmLines{});
  });
  for (size_t i = 0; i < s.sym.size(); ++i) ok &= wide[i] == s.sym[i];
  std::fill(wide.begin(), wide.end(), 0u);
  const double dec_pair = bench::median_seconds(reps, [&] {
    uint64_t g = 0;
    for (; g + 1 < n_seg; g += 2) {
      bool a = false, b = false;
      k.decode_two_wide(out->data() + g * seg_cap, words[g], rans::kSegmentSymbols,
                        out->data() + (g + 1) * seg_cap, words[g + 1], rans::kSegmentSymbols,
                        s.tables, wide.data() + g * rans::kSegmentSymbols,
                        wide.data() + (g + 1) * rans::kSegmentSymbols, &a, &b, cpu::WarmLines{});
      ok &= a && b;
    }
    if (g < n_seg)
      ok &= k.decode_segment_wide(out->data() + g * seg_cap, words[g], rans::kSegmentSymbols,
                                  s.tables, wide.data() + g * rans::kSegmentSymbols,
                                  cpu::WarmLines{});
  });
  for (size_t i = 0; i < s.sym.size(); ++i) ok &= wide[i] == s.sym[i];
  r->wide_msym = (double)s.sym.size() / dec_wide / 1e6;
  r->pair_msym = (double)s.sym.size() / dec_pair / 1e6;
  r->enc_msym = (double)s.sym.size() / enc / 1e6;
  r->dec_msym = (double)s.sym.size() / dec / 1e6;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t segments = 64;
  int reps = 9;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--segments" && i + 1 < argc) {
      segments = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: squeeze-rans-speed [--segments N] [--reps N]\n");
      return 2;
    }
  }
  if (segments == 0 || reps < 1) {
    std::fprintf(stderr, "squeeze-rans-speed: --segments and --reps must be positive\n");
    return 2;
  }
  struct Set {
    const char* name;
    const cpu::RansKernels* k;
  };
  std::vector<Set> sets = {{"scalar", cpu::scalar_backend().rans}};
  if (const cpu::Backend* b = cpu::avx2_backend()) sets.push_back({"avx2", b->rans});
  const uint64_t count = segments * rans::kSegmentSymbols;
  const Stream streams[] = {make_stream("skewed", 0.5, count, 1),
                            make_stream("exponent-like", 0.25, count, 2),
                            make_stream("near-uniform", 0.01, count, 3)};
  std::printf("rANS segments of %u symbols, %llu segments, median of %d repetitions\n",
              rans::kSegmentSymbols, (unsigned long long)segments, reps);
  std::printf("%-14s %6s %-8s %12s %12s %10s %10s %12s %12s\n", "stream", "bits", "set",
              "enc Msym/s", "dec Msym/s", "enc x", "dec x", "dec32 Msym/s", "pairs Msym/s");
  int status = 0;
  for (const Stream& s : streams) {
    std::vector<uint8_t> ref_out, out;
    Result ref{};
    for (size_t i = 0; i < sets.size(); ++i) {
      Result r{};
      const bool ok =
          run_set(*sets[i].k, s, reps, i == 0 ? &ref_out : &out, i == 0 ? nullptr : &ref_out, &r);
      if (i == 0) ref = r;
      if (!ok) {
        std::fprintf(stderr, "squeeze-rans-speed: %s differs from the scalar set on %s\n",
                     sets[i].name, s.name);
        status = 1;
      }
      std::printf("%-14s %6.2f %-8s %12.0f %12.0f %10.2f %10.2f %12.0f %12.0f\n", s.name, s.bits,
                  sets[i].name, r.enc_msym, r.dec_msym, r.enc_msym / ref.enc_msym,
                  r.dec_msym / ref.dec_msym, r.wide_msym, r.pair_msym);
    }
  }
  return status;
}
