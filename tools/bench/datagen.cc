// Synthetic data for squeeze-bench.
//
// The `dlrm` model of a pooled-embedding all-to-all payload (what one rank sends TorchRec's
// all2all_pooled_sync: [batch, sum of its tables' dims], fp32, row-major, sample after sample):
//  - 26 tables (Criteo's 26 sparse features). Each table gets, from the seed:
//      dim          one of 16 / 32 / 64 / 128;
//      cardinality  log-uniform between 3 and 10^7 rows (Criteo's tables span 3 rows to tens of
//                   millions);
//      stddev       log-linear in the cardinality, from ~0.4 for a 3-row table down to ~0.01 for
//                   a 10^7-row one, times a random factor e^N(0, 0.2^2), clamped to [0.01, 0.4]
//                   (anchors.md section 4: per-table std 0.014-0.41; the SC'24 artifact's large
//                   tables have small ranges, its tiny tables large ones);
//      pooling      ~40% of the tables are multi-hot: each sample sums (SUM pooling, TorchRec's
//                   default) between 1 and max_pooling rows, max_pooling in 2..8; the rest are
//                   one-hot, so the pooled vector is the looked-up row itself.
//    The std above is that of the pooled output (what anchors.md measured on the all-to-all
//    payloads): a multi-hot table's rows have std / sqrt(mean pooling factor).
//  - Row r of table t is a fixed vector of i.i.d. N(0, stddev^2) values derived from
//    hash(seed, t, r), so a row looked up twice is bit-identical (the repeats that deduplication
//    and entropy coding exploit), without storing 10^7-row tables.
//  - Lookups are Zipf-popular with exponent ~1: rank = floor((C + 1)^u) - 1 for u uniform in
//    [0, 1), i.e. P(rank k) = ln((k + 2) / (k + 1)) / ln(C + 1). Small tables thus repeat a
//    handful of rows in every batch; big tables are mostly unique rows with a popular head.
//  - Everything is a function of (seed, size), with its own hash-based generator (splitmix64 +
//    Box-Muller), so the bytes do not depend on the standard library's distributions.
#include "tools/bench/datagen.h"

#include <algorithm>
#include <cmath>

namespace squeeze::bench {
namespace {

constexpr double kPi = 3.14159265358979323846;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Small deterministic generator: uniform doubles in [0, 1) and standard normals.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64(state_); }
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * kPi * u2);
    have_spare_ = true;
    return r * std::cos(2.0 * kPi * u2);
  }

 private:
  uint64_t state_;
  double spare_ = 0.0;
  bool have_spare_ = false;
};

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xd6e8feb86659fd93ull);
  return splitmix64(s);
}

}  // namespace

std::vector<float> generate_gaussian(size_t n_values, uint64_t seed) {
  std::vector<float> out(n_values);
  Rng rng(mix(seed, 0x6761757373ull));
  for (auto& v : out) v = (float)(0.1 * rng.normal());
  return out;
}

std::vector<DlrmTable> dlrm_tables(uint64_t seed) {
  constexpr int kTables = 26;
  constexpr uint32_t kDims[4] = {16, 32, 64, 128};
  constexpr double kLogMinCard = 0.4771212547196624;  // log10(3)
  constexpr double kLogMaxCard = 7.0;
  Rng rng(mix(seed, 0x7461626c6573ull));
  std::vector<DlrmTable> tables(kTables);
  for (auto& t : tables) {
    t.dim = kDims[rng.next() % 4];
    const double log_card = kLogMinCard + (kLogMaxCard - kLogMinCard) * rng.uniform();
    t.cardinality = std::max<uint64_t>(3, (uint64_t)std::llround(std::pow(10.0, log_card)));
    // log-linear: 0.4 at the smallest cardinality, 0.01 at the largest
    const double frac = (log_card - kLogMinCard) / (kLogMaxCard - kLogMinCard);
    const double log_std = std::log(0.4) + frac * (std::log(0.01) - std::log(0.4));
    t.stddev = (float)std::clamp(std::exp(log_std + 0.2 * rng.normal()), 0.01, 0.4);
    t.max_pooling = rng.uniform() < 0.4 ? 2 + (uint32_t)(rng.next() % 7) : 1;
  }
  return tables;
}

std::vector<float> generate_dlrm(size_t max_values, uint64_t seed, DlrmLayout* layout) {
  DlrmLayout lay;
  lay.tables = dlrm_tables(seed);
  for (const auto& t : lay.tables) lay.sum_dims += t.dim;
  lay.batch = std::max<size_t>(1, max_values / lay.sum_dims);
  std::vector<float> out(lay.batch * lay.sum_dims, 0.0f);

  Rng lookups(mix(seed, 0x6c6f6f6b757073ull));
  for (size_t b = 0; b < lay.batch; ++b) {
    float* sample = out.data() + b * lay.sum_dims;
    for (size_t ti = 0; ti < lay.tables.size(); ++ti) {
      const DlrmTable& t = lay.tables[ti];
      const uint32_t pooling =
          t.max_pooling == 1 ? 1 : 1 + (uint32_t)(lookups.next() % t.max_pooling);
      const double log_card1 = std::log((double)t.cardinality + 1.0);
      const double row_std = t.stddev / std::sqrt(0.5 * (1.0 + (double)t.max_pooling));
      for (uint32_t p = 0; p < pooling; ++p) {
        uint64_t rank = (uint64_t)std::floor(std::exp(log_card1 * lookups.uniform())) - 1;
        rank = std::min<uint64_t>(rank, t.cardinality - 1);
        Rng row_values(mix(mix(seed, ti + 1), rank));
        for (uint32_t d = 0; d < t.dim; ++d) sample[d] += (float)(row_std * row_values.normal());
      }
      sample += t.dim;
    }
  }
  if (layout) *layout = lay;
  return out;
}

std::vector<float> generate_init(size_t max_values, uint64_t seed, DlrmLayout* layout) {
  DlrmLayout lay;
  for (uint64_t rows : {1000000ull, 1000000ull, 100000ull, 30000ull, 1000ull, 100ull, 10ull})
    lay.tables.push_back(DlrmTable{64, rows, (float)(1.0 / std::sqrt(3.0 * (double)rows)), 1});
  for (const auto& t : lay.tables) lay.sum_dims += t.dim;
  lay.batch = std::max<size_t>(1, max_values / lay.sum_dims);
  std::vector<float> out(lay.batch * lay.sum_dims, 0.0f);
  Rng lookups(mix(seed, 0x696e6974ull));
  for (size_t b = 0; b < lay.batch; ++b) {
    float* sample = out.data() + b * lay.sum_dims;
    for (size_t ti = 0; ti < lay.tables.size(); ++ti) {
      const DlrmTable& t = lay.tables[ti];
      const double limit = 1.0 / std::sqrt((double)t.cardinality);
      uint64_t rank = (uint64_t)std::floor(
                          std::exp(std::log((double)t.cardinality + 1.0) * lookups.uniform())) -
                      1;
      rank = std::min<uint64_t>(rank, t.cardinality - 1);
      Rng row_values(mix(mix(seed, ti + 101), rank));
      for (uint32_t d = 0; d < t.dim; ++d)
        sample[d] = (float)(limit * (2.0 * row_values.uniform() - 1.0));
      sample += t.dim;
    }
  }
  if (layout) *layout = lay;
  return out;
}

}  // namespace squeeze::bench
